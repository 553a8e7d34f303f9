// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where a loaded BPF program's time goes, line by line: reads sample
 * addresses (hex, one a line: `perf script -G -F ip`, the call graph
 * left out) on stdin and counts
 * them by the source line of the program's JIT line info that holds them.
 * Needed where bpftool was built without a disassembler (no `dump jited`)
 * and perf cannot annotate BPF.
 *
 *	bpf_lines PINNED_PROG < addresses
 *
 * Prints "samples  percent  function  file:line  source", the most first,
 * the percent of the samples that fell inside the program.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct line {
	uint64_t addr;		/* first JIT address of the line's code */
	uint64_t end;		/* the next line's, or its function's end */
	const char *func;
	const char *file;
	const char *src;
	unsigned int nr;	/* source line number */
	unsigned long hits;
};

static int by_addr(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_hits(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	return x->hits < y->hits ? 1 : x->hits > y->hits ? -1 : 0;
}

/* The index of the function whose code holds addr, or -1. */
static int func_at(const uint64_t *ksyms, const __u32 *lens, unsigned int nr,
		   uint64_t addr)
{
	for (unsigned int i = 0; i < nr; i++)
		if (addr >= ksyms[i] && addr < ksyms[i] + lens[i])
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	unsigned int i, n, nfunc;
	unsigned long inside = 0, total = 0;
	struct bpf_line_info *li;
	struct bpf_func_info *fi;
	uint64_t *jli, *ksyms;
	__u32 *flens;
	struct line *lines;
	struct btf *btf;
	char buf[64];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PINNED_PROG < addresses\n", argv[0]);
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	n = info.nr_jited_line_info;
	nfunc = info.nr_jited_ksyms;
	if (!n || n != info.nr_line_info || !nfunc ||
	    info.nr_func_info != nfunc) {
		fprintf(stderr, "%s: no JIT line info\n", argv[1]);
		return 1;
	}
	li = calloc(n, sizeof(*li));
	jli = calloc(n, sizeof(*jli));
	ksyms = calloc(nfunc, sizeof(*ksyms));
	flens = calloc(nfunc, sizeof(*flens));
	fi = calloc(nfunc, sizeof(*fi));
	lines = calloc(n, sizeof(*lines));
	if (!li || !jli || !ksyms || !flens || !fi || !lines)
		return 1;
	memset(&info, 0, sizeof(info));
	info.nr_line_info = n;
	info.line_info_rec_size = sizeof(*li);
	info.line_info = (uintptr_t)li;
	info.nr_jited_line_info = n;
	info.jited_line_info_rec_size = sizeof(*jli);
	info.jited_line_info = (uintptr_t)jli;
	info.nr_jited_ksyms = nfunc;
	info.jited_ksyms = (uintptr_t)ksyms;
	info.nr_jited_func_lens = nfunc;
	info.jited_func_lens = (uintptr_t)flens;
	info.nr_func_info = nfunc;
	info.func_info_rec_size = sizeof(*fi);
	info.func_info = (uintptr_t)fi;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	btf = btf__load_from_kernel_by_id(info.btf_id);
	if (!btf) {
		fprintf(stderr, "%s: no BTF\n", argv[1]);
		return 1;
	}
	if (!jli[0])
		fprintf(stderr, "%s: the kernel hides its addresses "
			"(kernel.kptr_restrict): nothing can be counted\n",
			argv[1]);
	for (i = 0; i < n; i++) {
		int f = func_at(ksyms, flens, nfunc, jli[i]);
		const struct btf_type *t =
			f < 0 ? NULL : btf__type_by_id(btf, fi[f].type_id);

		lines[i].addr = jli[i];
		/* At most to its function's end: the last line of each. */
		lines[i].end = f < 0 ? jli[i] : ksyms[f] + flens[f];
		lines[i].file = btf__name_by_offset(btf, li[i].file_name_off);
		lines[i].src = btf__name_by_offset(btf, li[i].line_off);
		lines[i].nr = BPF_LINE_INFO_LINE_NUM(li[i].line_col);
		lines[i].func = t ? btf__name_by_offset(btf, t->name_off) : "?";
	}
	qsort(lines, n, sizeof(*lines), by_addr);
	for (i = 0; i + 1 < n; i++)
		if (lines[i + 1].addr < lines[i].end)
			lines[i].end = lines[i + 1].addr;
	while (fgets(buf, sizeof(buf), stdin)) {
		char *end;
		uint64_t ip = strtoull(buf, &end, 16);
		unsigned int lo = 0, hi = n;

		if (end == buf)
			continue;	/* not an address */
		total++;
		/* The last line that starts at or before ip. */
		while (lo < hi) {
			unsigned int mid = (lo + hi) / 2;

			if (lines[mid].addr <= ip)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo && ip < lines[lo - 1].end) {
			lines[lo - 1].hits++;
			inside++;
		}
	}
	qsort(lines, n, sizeof(*lines), by_hits);
	printf("%lu of %lu samples inside the program\n", inside, total);
	for (i = 0; i < n && lines[i].hits; i++) {
		const char *file = strrchr(lines[i].file, '/');
		const char *src = lines[i].src;

		while (*src == ' ' || *src == '\t')
			src++;
		printf("%7lu %5.1f%%  %-24s %s:%u  %.70s\n", lines[i].hits,
		       100.0 * lines[i].hits / inside, lines[i].func,
		       file ? file + 1 : lines[i].file, lines[i].nr, src);
	}
	btf__free(btf);
	close(fd);
	return 0;
}
