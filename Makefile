# sectorgate build. `make` builds the BPF object, its skeleton and the
# loader; `make test-bins` the unit-test programs. CLANG=clang-19 works too.

CLANG		?= clang
BPFTOOL		?= bpftool
CC		?= gcc
VMLINUX_BTF	?= /sys/kernel/btf/vmlinux
ARCH		:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BUILD		:= build
BPF_CFLAGS	:= -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
		   -Wall -Werror -Wno-unused-function \
		   -Ivmlinux -Iinclude -Imaps -Ibpf
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
		   -Iinclude -Iloader -I$(BUILD)
LDLIBS		:= -lbpf -lxdp -lelf -lz -lyaml -lmnl -lmicrohttpd -lmd

BPF_SRC		:= bpf/sectorgate.bpf.c
BPF_DEPS	:= $(wildcard bpf/*.h include/*.h maps/*.h) vmlinux/vmlinux.h
BPF_OBJ		:= $(BUILD)/sectorgate.bpf.o
SKEL		:= $(BUILD)/sectorgate.skel.h

# The loader is a library (config, model, compiler, maps, attach) plus main.
LIB_SRC		:= $(filter-out loader/main.c,$(wildcard loader/*.c))
LIB_OBJ		:= $(LIB_SRC:loader/%.c=$(BUILD)/loader/%.o)
TEST_BINS	:= $(BUILD)/test_config $(BUILD)/test_compile \
		   $(BUILD)/test_dataplane $(BUILD)/test_nat $(BUILD)/test_fast \
		   $(BUILD)/test_hooks $(BUILD)/test_dnat $(BUILD)/test_egress \
		   $(BUILD)/test_fuzz_frames

.PHONY: all clean test-bins bench fuzz fuzz-deps install

PREFIX		?= /usr/local
DESTDIR		?=
all: sectorgate

vmlinux/vmlinux.h:
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BPF_OBJ): $(BPF_SRC) $(BPF_DEPS)
	@mkdir -p $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $(BUILD)/sectorgate.tmp.o
	$(BPFTOOL) gen object $@ $(BUILD)/sectorgate.tmp.o

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name sectorgate_bpf > $@

$(BUILD)/loader/%.o: loader/%.c $(wildcard loader/*.h include/*.h) $(SKEL)
	@mkdir -p $(BUILD)/loader
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsectorgate.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

sectorgate: $(BUILD)/loader/main.o $(BUILD)/libsectorgate.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

TEST_CFLAGS	:= $(CFLAGS) -Wno-missing-field-initializers -Itests/unit
TEST_DEPS	:= tests/unit/sg_test.h tests/unit/dp_lib.h $(BUILD)/libsectorgate.a

$(BUILD)/dp_lib.o: tests/unit/dp_lib.c tests/unit/dp_lib.h \
		  $(wildcard loader/*.h include/*.h) $(SKEL)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

# The BPF_PROG_TEST_RUN tests share the packet harness.
$(BUILD)/test_dataplane $(BUILD)/test_nat $(BUILD)/test_fast \
$(BUILD)/test_hooks $(BUILD)/test_dnat $(BUILD)/test_egress \
$(BUILD)/test_fuzz_frames: $(BUILD)/dp_lib.o

$(BUILD)/test_%: tests/unit/test_%.c $(TEST_DEPS)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(filter %.o,$^) \
		$(BUILD)/libsectorgate.a $(LDLIBS)

test-bins: sectorgate $(TEST_BINS)

# Measurements, apart from the tests: nothing here asserts a time.
$(BUILD)/bench_paths: tests/bench/bench_paths.c $(BUILD)/dp_lib.o $(TEST_DEPS)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(BUILD)/dp_lib.o \
		$(BUILD)/libsectorgate.a $(LDLIBS)

$(BUILD)/bench_xdp.bpf.o: tests/bench/bench_xdp.bpf.c bpf/sg_csum.h vmlinux/vmlinux.h
	@mkdir -p $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench_xdp.skel.h: $(BUILD)/bench_xdp.bpf.o
	$(BPFTOOL) gen skeleton $< name bench_xdp_bpf > $@

$(BUILD)/bench_xdp: tests/bench/bench_xdp.c $(BUILD)/bench_xdp.skel.h
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

# Samples of a loaded program by its source lines (tests/bench/bpf_lines.c).
$(BUILD)/bpf_lines: tests/bench/bpf_lines.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

bench: sectorgate $(BUILD)/bench_paths $(BUILD)/bench_xdp $(BUILD)/bpf_lines
	$(BUILD)/bench_paths
	tests/bench/masquerade.sh
	tests/bench/isolation.sh
	tests/bench/newflows.sh
	tests/bench/tcp.sh
	tests/bench/dnat.sh
	tests/bench/egress.sh

# libFuzzer on the definitions parser, apart from the tests: the parser's
# sources compiled into the target with ASan (leaks too) and UBSan, run
# for FUZZ_TIME seconds on tests/fuzz/corpus. New inputs go to
# build/fuzz-corpus, a crash, leak or slow unit to build/fuzz-crash-*.
FUZZ_TIME	?= 60
FUZZ_SRC	:= tests/fuzz/fuzz_config.c $(wildcard loader/config*.c) loader/model.c \
		   loader/util.c loader/diag.c loader/egress.c loader/dest_strides.c
FUZZ_CFLAGS	:= -g -O1 -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=undefined -std=gnu11 -D_GNU_SOURCE \
		   -Iinclude -Iloader

fuzz-deps:
	CLANG=$(CLANG) scripts/deps.sh fuzz

$(BUILD)/fuzz_config: $(FUZZ_SRC) $(wildcard loader/*.h include/*.h) | fuzz-deps
	@mkdir -p $(BUILD)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRC) -lyaml

fuzz: $(BUILD)/fuzz_config
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz_config -max_total_time=$(FUZZ_TIME) -max_len=65536 \
		-timeout=10 -artifact_prefix=$(BUILD)/fuzz-crash- \
		-print_final_stats=1 $(BUILD)/fuzz-corpus tests/fuzz/corpus

# The unit names the binary where it is installed: PREFIX (/usr/local by
# hand, /usr for the Debian package, whose unit goes to /lib/systemd).
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
install: sectorgate
	install -D -m 0755 sectorgate $(DESTDIR)$(PREFIX)/sbin/sectorgate
	install -D -m 0644 man/sectorgate.8 $(DESTDIR)$(PREFIX)/share/man/man8/sectorgate.8
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' scripts/sectorgate.service \
		>$(DESTDIR)$(SYSTEMD_UNIT_DIR)/sectorgate.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/sectorgate.service
	install -D -m 0644 scripts/sectorgate.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/sectorgate

clean:
	rm -rf $(BUILD) sectorgate vmlinux/vmlinux.h
