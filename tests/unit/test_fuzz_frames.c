// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A frame fuzzer for every entry program, through BPF_PROG_TEST_RUN
 * (repeat = 1) on the harness of test_nat and test_fast.
 *
 * Its definitions are the fixture's (tests/fixtures/dataplane.yaml) with
 * the DNAT paths added (definitions_fmt): vm1 calls the metadata service
 * (imds: true), is reached by a TCP and a UDP port forward and lets in
 * the trusted t0 and the protected LAN by allow-from; vm2 has a forward
 * delivered by tc only. The metadata target changes every IMDS_BLOCK
 * episodes: another address and port, another port, the address itself.
 * And egress steering (SPEC 3.10), in a sector of its own, vm7 on s7:
 * TCP to 203.0.113.0/24 on 6333 and 7000-7010 leaves by e1 untranslated
 * (snat-address: none), the rest of 203.0.113.0/24 and 198.51.100.0/24
 * by e0 with e0's address, but for the except 203.0.113.128/25 (the
 * uplink's masquerade). e0 and e1 are veths in the harness's namespace,
 * as test_egress has them: an address, a permanent neighbour as next
 * hop, a default route through each that loses to up0's.
 *
 * Each episode empties the flow table, opens a fixed set of flows (fast
 * path and tc path, masqueraded and between sectors, the metadata
 * service's at XDP and at tc, forwards, allow-from from t0 and from
 * behind up0, steered out of e0 and e1 by s7's tc ingress; some answered
 * already, a forward's by the VM at XDP, which lets the fast path
 * deliver the client's next packets, or at tc, a steered flow's by the
 * far end on its egress device) and then sends one to seven frames, each
 * through all eight programs and the trusted devices' two on an egress
 * device (tc_egress_in, tc_egress_out) in a random order (the uplink's
 * and the egress devices' tc egress after the sector's tc ingress, and
 * on what that passed on or redirected: the metadata request with its
 * destination rewritten, a steered packet a hop on, to the device its
 * policy names), with the device (and, for tc egress, the ingress
 * device) a frame of its kind would have, now and then a wrong one;
 * between frames the flows' clock may jump (stale fast-path decisions,
 * expired flows). The frames start from well-formed seeds (TCP, UDP,
 * ICMP echo and other types, ICMP errors embedding each, IP and TCP
 * options, fragments, padding, payload, unfinished checksums, VLAN, ARP,
 * IPv6) about those flows (the VM's packets and the remote's: a metadata
 * request and the service's reply, a client's packet to the published
 * port and the VM's reply, a steered packet and the far end's reply on
 * the egress device, to e0's address and port or, routed, to the VM's,
 * ICMP errors about each either way) and others (a client's new
 * connection to a published port or next to one, a sector calling the
 * metadata address or target on any port and protocol, hairpin, vm7
 * calling either side of its policies' edges: the except, the routed
 * ports and their neighbours, another protocol; the far end's packets on
 * an egress device, the uplink or t0 to e0's address or a VM of vm7),
 * and are then left alone, changed as a strange but honest sender or
 * router might (options, padding, shorter tot_len or UDP length, TTL),
 * or mutated: bits and bytes flipped, cut, padded, lengths and header
 * fields changed, embedded headers corrupted, other flows' addresses and
 * ports (published, metadata, e0's) written in, checksums mostly made
 * right again so that what is odd is the structure.
 *
 * What comes out is judged by a checker of this file's own, independent of
 * the BPF parser and strict: Ethernet, IPv4 version 4, IHL >= 5, tot_len
 * within the frame and >= IHL * 4, header checksum right, the L4 header
 * whole within tot_len (TCP doff >= 5 and within, UDP length >= 8 and
 * within, 8 bytes of ICMP) and an ICMP error's embedded IP header and 8
 * bytes within tot_len. Properties:
 *
 *  (a) a frame the checker calls malformed or not IPv4 is never
 *      rewritten and let through (pass or redirect), on every path; nor
 *      is a fragment, but by the NAT at the uplink (tc egress and
 *      ingress) and by steering (the steered sector's tc ingress, the
 *      egress devices' tc egress and ingress), which follow a datagram's
 *      first fragment with the rest:
 *      there a fragment keeps its length and changes only the fields a
 *      NAT changes (a later one: its IP header's), with its IP header
 *      checksum right, and a first fragment's L4 checksum changes by
 *      exactly what the rewrite changed of what it covers;
 *  (b) a rewritten frame has its IPv4 header checksum right, and every
 *      checksum that was right in the input is right in the output: TCP,
 *      UDP (over the pseudo header; zero stays zero, and only zero),
 *      ICMP over the IP payload (tot_len: padding is not packet), and for
 *      ICMP errors the embedded IP header checksum and, where the error
 *      carries it, the embedded TCP/UDP/ICMP checksum, updated with what
 *      it covers. A checksum the sender left unfinished is finished by
 *      what the XDP fast path redirects, and stays unfinished (for the
 *      rewritten header) in a metadata request the sector's XDP passes on
 *      to the stack. (A checksum that was wrong stays wrong: NAT updates
 *      incrementally, as Linux does.)
 *  (c) a rewrite keeps the frame's length and changes only the fields a
 *      NAT changes (MACs, TTL, addresses, ports, ICMP id, checksums, the
 *      embedded header's), never the payload or the padding after tot_len;
 *      the TTL loses one hop at most, and none in the metadata service's
 *      replies (to the host's address, from the target) that the uplink's
 *      XDP or tc ingress delivers. Steering is held to the side it
 *      translates: what the sector's tc ingress redirects (steers) only
 *      loses a hop of TTL, its IP checksum following; an egress device's
 *      tc egress changes the source only (address, port or echo id,
 *      checksums), the TTL not at all (the sector's ingress lowered it);
 *      its tc ingress the destination only, and an ICMP error's embedded
 *      source, as a NAT reverses them, with one hop less of TTL in what
 *      it redirects to the VM and none in what it passes on translated
 *      to the kernel (too big for the sector device: the kernel forwards
 *      it, a hop on);
 *  (d) every run succeeds (bpf_prog_test_run_opts returns 0; the kernel's
 *      own refusal of skb runs of IPv4 frames shorter than 34 bytes and
 *      IPv6 shorter than 54 aside) with a verdict the program may return;
 *  (e) a frame a program declines is untouched: XDP_PASS of the uplink,
 *      and every verdict of the programs that never translate (sector tc
 *      egress; the trusted devices' programs on a trusted device, t0: on
 *      an egress device they translate the steered flows, (c) and (g)).
 *      What a sector's ingress passes on (tc, or XDP to the stack) it
 *      changes in one way only: a TCP/UDP request from the imds sector's
 *      device to address:port gets the target's address and port as
 *      destination, the checksums following; nothing else, and nothing at
 *      all when the target is the address. What its tc ingress redirects
 *      (TC_ACT_REDIRECT: a steered packet) only loses a hop, (c);
 *  (f) what the XDP fast path redirects, tc translates alike (MACs, TTL
 *      aside): a sector's frame the sector device's XDP sends out
 *      (masquerade, the metadata request, a forward's reply), the
 *      uplink's tc egress passes with the same translation, for the
 *      metadata request on what the sector's tc ingress rewrote; a frame
 *      the uplink's XDP sends to a VM (a masquerade or metadata reply, a
 *      forward client's packet), its tc ingress translates alike;
 *  (g) steered traffic leaves and returns by its device only, as this
 *      file's own model of vm7's policies (steered_to(), not the compiled
 *      maps) says: the sector's XDP redirects nothing of vm7 (it passes
 *      it up to tc); the sector's tc ingress redirects only a well-formed
 *      TCP, UDP or echo request (or a first fragment of one) from s7 and
 *      vm7's CIDR that a policy claims, or a later fragment to a
 *      destination a policy has (it follows its first: the checker keeps
 *      no state), with a hop to spare (or an ICMP error about a steered
 *      flow, its source side translated: from e0's address, or as sent,
 *      and passed as it is by the device's tc egress), and leaves none
 *      of those to the
 *      kernel's routes (they lead to the uplink); the uplink's tc egress
 *      passes nothing from s7 that a policy claims (no fallback); what
 *      the sector's tc ingress redirected, the device its policy names
 *      passes out at tc egress, with e0's address out of e0 and untouched
 *      out of e1; an egress device's tc egress passes nothing from s7
 *      that its policy does not claim, and nothing from another sector;
 *      its tc ingress delivers only what is for e0's address (on e0) or a
 *      VM of vm7 (on e1, untranslated), and to a VM of vm7; nothing from
 *      the uplink (XDP or tc) or t0 reaches a VM of vm7 (a routed flow's
 *      replies come back by e1 only) or is delivered for an egress
 *      device's address;
 *  (h) nothing the kernel forwarded leaves the uplink with a sector's
 *      address (untranslatable, SPEC 3.4): a frame the uplink's tc
 *      egress passes from another device, to an address off the
 *      sectors and with its IP header checksum right (as the kernel
 *      forwards it), has no sector address as its source (whatever device it
 *      came from: a trusted device's or an uplink's would speak for a
 *      VM), nor, in a VM's ICMP error, as the embedded destination (the
 *      VM the error is about); but what vm1 answers to its management
 *      LAN (allow-from 192.168.1.0/24, behind the uplink), which leaves
 *      untranslated from s1. The same at the trusted device t0's tc
 *      egress for what came from any device but a sector's.
 *
 * tc egress only ever sees what the kernel received and forwarded, whose
 * IPv4 header checksum ip_rcv() has verified: there a wrong one is no
 * malformation, and it may stay wrong.
 *
 * Deterministic: an xorshift PRNG seeded per episode from --seed, so
 * `--seed S --episode E --verbose` replays one episode exactly. Every
 * violation is printed with the seed, episode, program, device and the
 * frame in hex (and the output frame), the first few of each kind in
 * full. Coverage of the DNAT paths (rewrites per program, comparisons of
 * (f)) and of the egress paths (steered to e0 and e1, translated and
 * passed untranslated at their tc egress, which ran on the redirected
 * frame, replies and ICMP errors delivered back, what the uplink's tc
 * egress kept off or masqueraded for vm7) is printed and must not be
 * zero. Options: --frames N
 * (FUZZ_FRAMES), --seed S (FUZZ_SEED), --time SECONDS (stop earlier),
 * --episode E, --verbose.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_lib.h"
#include "sectorgate.skel.h"
#include "sg_test.h"

#define MAX_FLOWS	1024
#define MAX_FRAME	1600
#define OUT_SIZE	4096
#define DEFAULT_FRAMES	100000	/* 7 s on 2 cores, 9.5 s in all */
#define DEFAULT_SEED	0x5ec70f22ULL
#define SNAT		"192.0.2.1"
#define REPORT_FULL	3	/* reproducers printed in full per kind */

#define XDP_DROP	1
#define XDP_PASS	2
#define XDP_TX		3
#define XDP_REDIRECT	4
#define TC_ACT_OK	0
#define TC_ACT_SHOT	2
#define TC_ACT_REDIRECT	7

/* ---- PRNG ---------------------------------------------------------- */

static uint64_t rs;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static uint32_t rn(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return rn(100) < pct;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* ---- Devices and programs ------------------------------------------ */

/*
 * s1..s5 are the definitions' sector devices, s7 the steered sector's;
 * s6 is a sector device of no sector (nobody's: left alone). e0 and e1
 * are the egress devices, which run the trusted devices' programs.
 */
enum { D_S1, D_S2, D_S3, D_S4, D_S5, D_S6, D_S7, D_UP0, D_T0, D_E0, D_E1,
       D_NONE, ND };
#define NSECT	(D_S7 + 1)	/* the sector devices, ours or not */
static const char *const dev_names[ND] = {
	"s1", "s2", "s3", "s4", "s5", "s6", "s7", "up0", "t0", "e0", "e1", "-",
};
static int dev_if[ND];

static bool is_sector_dev(int dev)
{
	return dev < NSECT;
}

static bool is_egress_dev(int dev)
{
	return dev == D_E0 || dev == D_E1;
}

static bool is_xdp(int prog)
{
	return prog == SG_PROG_XDP_SECTOR || prog == SG_PROG_XDP_UPLINK;
}

struct run {
	int prog, dev, ingress;
};

/*
 * What a run is, for its results and statistics: the program, or the
 * trusted devices' programs on an egress device, which translate there
 * (steered flows) and are told apart. A program's own slot is its
 * number, so slot_names names the programs too.
 */
enum { R_EGRESS_IN = SG_NPROGS, R_EGRESS_OUT, NSLOTS };
static const char *const slot_names[NSLOTS] = {
	[SG_PROG_XDP_SECTOR] = "xdp_sector",
	[SG_PROG_TC_SECTOR_IN] = "tc_sector_in",
	[SG_PROG_TC_SECTOR_OUT] = "tc_sector_out",
	[SG_PROG_TC_UPLINK_IN] = "tc_uplink_in",
	[SG_PROG_TC_UPLINK_OUT] = "tc_uplink_out",
	[SG_PROG_XDP_UPLINK] = "xdp_uplink",
	[SG_PROG_TC_TRUSTED_IN] = "tc_trusted_in",
	[SG_PROG_TC_TRUSTED_OUT] = "tc_trusted_out",
	[R_EGRESS_IN] = "tc_egress_in",
	[R_EGRESS_OUT] = "tc_egress_out",
};

static int slot_prog(int slot)
{
	return slot == R_EGRESS_IN ? SG_PROG_TC_TRUSTED_IN :
	       slot == R_EGRESS_OUT ? SG_PROG_TC_TRUSTED_OUT : slot;
}

static int slot_of(const struct run *r)
{
	if (is_egress_dev(r->dev) && r->prog == SG_PROG_TC_TRUSTED_IN)
		return R_EGRESS_IN;
	if (is_egress_dev(r->dev) && r->prog == SG_PROG_TC_TRUSTED_OUT)
		return R_EGRESS_OUT;
	return r->prog;
}

static int run_prog(const struct run *r, const uint8_t *in, int len,
		    uint8_t *out, uint32_t *out_len, uint32_t *verdict)
{
	struct xdp_md x = { .data_end = len };
	struct __sk_buff s = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len,
		    .data_out = out, .data_size_out = OUT_SIZE, .repeat = 1);
	int ret;

	if (is_xdp(r->prog)) {
		x.ingress_ifindex = dev_if[r->dev];
		o.ctx_in = &x;
		o.ctx_size_in = sizeof(x);
	} else {
		s.ifindex = dev_if[r->dev];
		s.ingress_ifindex = dev_if[r->ingress];
		o.ctx_in = &s;
		o.ctx_size_in = sizeof(s);
	}
	ret = bpf_prog_test_run_opts(dp_in.prog_fd[r->prog], &o);
	*out_len = o.data_size_out;
	*verdict = o.retval;
	return ret ? -errno : 0;
}

/* ---- Checksums (this file's own) ----------------------------------- */

static int rd16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static void wr16(uint8_t *p, int v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint32_t add_bytes(uint32_t s, const uint8_t *p, int n)
{
	int i;

	for (i = 0; i + 1 < n; i += 2)
		s += p[i] << 8 | p[i + 1];
	if (i < n)
		s += p[i] << 8;
	return s;
}

/* The one's complement sum, folded, not inverted. */
static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

static uint16_t csum(const uint8_t *p, int n)
{
	return ~fold(add_bytes(0, p, n));
}

/* Pseudo header of the IPv4 header at ip. */
static uint32_t pseudo(const uint8_t *ip, uint8_t proto, int len)
{
	return add_bytes(0, ip + 12, 8) + proto + len;
}

/* ---- The checker --------------------------------------------------- */

enum wf_kind { WF_OK, WF_FRAGMENT, WF_NOT_IPV4, WF_MALFORMED };

struct wf {
	enum wf_kind kind;
	const char *why;
	int hlen, tot, end;	/* end: 14 + tot, the IP packet's end */
	int l4, l4len;		/* offset in the frame; tot - hlen */
	uint8_t proto;
	bool later, first;	/* fragments */
	bool err;		/* an ICMP error with its embedded header */
	int emb, ehlen, el4;	/* embedded IP header, its L4 */
	uint8_t eproto;
};

static bool icmp_error_type(uint8_t t)
{
	return t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
}

static enum wf_kind bad(struct wf *w, const char *why)
{
	w->kind = WF_MALFORMED;
	w->why = why;
	return w->kind;
}

static enum wf_kind wf_l4(const uint8_t *f, struct wf *w)
{
	const uint8_t *l4 = f + w->l4, *e;

	switch (w->proto) {
	case 6:
		if (w->l4len < 20)
			return bad(w, "TCP header beyond tot_len");
		if (l4[12] >> 4 < 5)
			return bad(w, "TCP doff below 5");
		if ((l4[12] >> 4) * 4 > w->l4len)
			return bad(w, "TCP options beyond tot_len");
		break;
	case 17:
		if (w->l4len < 8)
			return bad(w, "UDP header beyond tot_len");
		if (rd16(l4 + 4) < 8)
			return bad(w, "UDP length below 8");
		/* A first fragment carries part of the datagram only. */
		if (!w->first && rd16(l4 + 4) > w->l4len)
			return bad(w, "UDP length beyond tot_len");
		break;
	case 1:
		if (w->l4len < 8)
			return bad(w, "ICMP header beyond tot_len");
		if (!icmp_error_type(l4[0]))
			break;
		if (w->l4len < 8 + 20)
			return bad(w, "ICMP error: embedded IP header beyond "
				      "tot_len");
		e = l4 + 8;
		if (e[0] >> 4 != 4)
			return bad(w, "ICMP error: embedded IP version not 4");
		if ((e[0] & 15) < 5)
			return bad(w, "ICMP error: embedded IHL below 5");
		w->ehlen = (e[0] & 15) * 4;
		if (8 + w->ehlen + 8 > w->l4len)
			return bad(w, "ICMP error: embedded header + 8 bytes "
				      "beyond tot_len");
		w->err = true;
		w->emb = w->l4 + 8;
		w->el4 = w->emb + w->ehlen;
		w->eproto = e[9];
		break;
	}
	return WF_OK;
}

/* ip_csum false: the header checksum is not judged (tc egress: the
 * kernel's ip_rcv() dropped a wrong one before it forwarded the packet). */
static enum wf_kind wf_check_as(const uint8_t *f, int len, struct wf *w,
				bool ip_csum)
{
	const uint8_t *ip = f + 14;
	int frag;

	memset(w, 0, sizeof(*w));
	if (len < 14)
		return bad(w, "shorter than an Ethernet header");
	if (rd16(f + 12) != 0x0800) {
		w->kind = WF_NOT_IPV4;
		w->why = "not IPv4";
		return w->kind;
	}
	if (len < 14 + 20)
		return bad(w, "IPv4 header beyond the frame");
	if (ip[0] >> 4 != 4)
		return bad(w, "IP version not 4");
	if ((ip[0] & 15) < 5)
		return bad(w, "IHL below 5");
	w->hlen = (ip[0] & 15) * 4;
	if (14 + w->hlen > len)
		return bad(w, "IP options beyond the frame");
	w->tot = rd16(ip + 2);
	if (w->tot < w->hlen)
		return bad(w, "tot_len below the header length");
	if (14 + w->tot > len)
		return bad(w, "tot_len beyond the frame");
	if (ip_csum && csum(ip, w->hlen))
		return bad(w, "IPv4 header checksum wrong");
	w->end = 14 + w->tot;
	w->proto = ip[9];
	w->l4 = 14 + w->hlen;
	w->l4len = w->tot - w->hlen;
	frag = rd16(ip + 6);
	w->later = frag & 0x1fff;
	w->first = !w->later && (frag & 0x2000);
	if (!w->later && wf_l4(f, w) != WF_OK)
		return w->kind;
	if (w->later || w->first) {
		w->kind = WF_FRAGMENT;
		w->why = w->later ? "a later fragment" : "a first fragment";
		return w->kind;
	}
	w->kind = WF_OK;
	return w->kind;
}

static enum wf_kind wf_check(const uint8_t *f, int len, struct wf *w)
{
	return wf_check_as(f, len, w, true);
}

/* TCP, UDP or ICMP checksum of a well-formed frame: 1 right, 0 wrong,
 * -1 none (UDP 0, other protocols). UDP covers its own length. */
static int l4_sum_ok(const uint8_t *f, const struct wf *w)
{
	const uint8_t *ip = f + 14, *l4 = f + w->l4;
	int n;

	switch (w->proto) {
	case 6:
		return fold(pseudo(ip, 6, w->l4len) +
			    add_bytes(0, l4, w->l4len)) == 0xffff;
	case 17:
		if (!l4[6] && !l4[7])
			return -1;
		n = rd16(l4 + 4);
		return fold(pseudo(ip, 17, n) + add_bytes(0, l4, n)) == 0xffff;
	case 1:
		return fold(add_bytes(0, l4, w->l4len)) == 0xffff;
	}
	return -1;
}

/* A TCP/UDP checksum the sender left for the device to finish: the
 * pseudo-header sum. (Only where the UDP datagram fills the IP payload,
 * as every sender's does: otherwise whether the device sums to the UDP
 * length or to the end of the packet is anyone's guess.) */
static bool l4_unfinished(const uint8_t *f, const struct wf *w)
{
	int off = w->proto == 6 ? 16 : w->proto == 17 ? 6 : -1;

	if (w->proto == 17 && rd16(f + w->l4 + 4) != w->l4len)
		return false;
	return off >= 0 && rd16(f + w->l4 + off) ==
			   fold(pseudo(f + 14, w->proto, w->l4len));
}

static bool emb_ip_ok(const uint8_t *f, const struct wf *w)
{
	return !csum(f + w->emb, w->ehlen);
}

static int emb_csum_off(const struct wf *w)
{
	return w->eproto == 6 ? 16 : w->eproto == 17 ? 6 :
	       w->eproto == 1 ? 2 : -1;
}

/*
 * The sum, modulo 65535, of what the embedded L4 checksum covers and the
 * error carries: its pseudo header (TCP/UDP, length left out: it does not
 * change) and the L4 bytes up to the end of the outer packet. A rewrite
 * that updates the checksum with the fields it changes keeps it. false:
 * the checksum is not there (or is UDP's "none").
 */
static bool emb_l4_sum(const uint8_t *f, const struct wf *w, uint16_t *sum)
{
	int off = emb_csum_off(w);
	uint32_t s = 0;
	uint16_t v;

	if (off < 0 || w->el4 + off + 2 > w->end)
		return false;
	if (w->eproto == 17 && !rd16(f + w->el4 + off))
		return false;
	if (w->eproto != 1)
		s = add_bytes(0, f + w->emb + 12, 8) + w->eproto;
	v = fold(add_bytes(s, f + w->el4, w->end - w->el4));
	*sum = v == 0xffff ? 0 : v;
	return true;
}

/* May a NAT change the byte at off of this well-formed frame? */
static const char *nat_field(const struct wf *w, int off)
{
	int rel;

	if (off < 12)
		return "MAC";
	if (off >= w->end)
		return NULL;
	rel = off - 14;
	if (rel == 8 || rel == 10 || rel == 11 || (rel >= 12 && rel < 20))
		return "IP";
	if (w->later)
		return NULL;	/* payload: the L4 header is in the first */
	rel = off - w->l4;
	if (rel < 0)
		return NULL;
	switch (w->proto) {
	case 6:
		if (rel < 4 || rel == 16 || rel == 17)
			return "TCP";
		return NULL;
	case 17:
		if (rel < 4 || rel == 6 || rel == 7)
			return "UDP";
		return NULL;
	case 1:
		if (rel == 2 || rel == 3 || (!w->err && (rel == 4 || rel == 5)))
			return "ICMP";
		break;
	default:
		return NULL;
	}
	if (!w->err)
		return NULL;
	rel = off - w->emb;
	if (rel >= 10 && rel < 20)
		return "embedded IP";
	rel = off - w->el4;
	if (rel < 0)
		return NULL;
	switch (w->eproto) {
	case 6:
		return rel < 4 || rel == 16 || rel == 17 ? "embedded TCP" : NULL;
	case 17:
		return rel < 4 || rel == 6 || rel == 7 ? "embedded UDP" : NULL;
	case 1:
		return rel >= 2 && rel < 6 ? "embedded ICMP" : NULL;
	}
	return NULL;
}

/* ---- Building and fixing frames ------------------------------------ */

/* Make every checksum of the frame right again for what it now says,
 * where the headers are there to say it. */
static void fix_sums(uint8_t *f, int len)
{
	uint8_t *ip = f + 14, *l4, *e;
	int hlen, tot, end, l4len, n, ehlen, s;

	if (len < 34 || rd16(f + 12) != 0x0800)
		return;
	hlen = (ip[0] & 15) * 4;
	if (hlen < 20 || 14 + hlen > len)
		return;
	tot = rd16(ip + 2);
	end = tot >= hlen && 14 + tot <= len ? 14 + tot : len;
	l4 = f + 14 + hlen;
	l4len = end - 14 - hlen;
	if (!(rd16(ip + 6) & 0x3fff)) {
		switch (ip[9]) {
		case 6:
			if (l4len < 20)
				break;
			wr16(l4 + 16, 0);
			wr16(l4 + 16, ~fold(pseudo(ip, 6, l4len) +
					    add_bytes(0, l4, l4len)));
			break;
		case 17:
			if (l4len < 8 || !rd16(l4 + 6))
				break;
			n = rd16(l4 + 4);
			if (n < 8 || n > l4len)
				n = l4len;
			wr16(l4 + 6, 0);
			s = (uint16_t)~fold(pseudo(ip, 17, n) +
					    add_bytes(0, l4, n));
			wr16(l4 + 6, s ? s : 0xffff);
			break;
		case 1:
			if (l4len < 4)
				break;
			e = l4 + 8;
			ehlen = l4len >= 28 ? (e[0] & 15) * 4 : 0;
			if (icmp_error_type(l4[0]) && ehlen >= 20 &&
			    8 + ehlen <= l4len) {
				wr16(e + 10, 0);
				wr16(e + 10, csum(e, ehlen));
			}
			wr16(l4 + 2, 0);
			wr16(l4 + 2, csum(l4, l4len));
			break;
		}
	}
	wr16(ip + 10, 0);
	wr16(ip + 10, csum(ip, hlen));
}

/* Insert n bytes (random, or zero) at off, moving the rest; tot_len (and
 * the UDP length, when the bytes land in the datagram) grow with them
 * when inside the IP packet. Returns the new length. */
static int insert_bytes(uint8_t *f, int len, int off, int n, bool zero,
			bool in_packet)
{
	if (off > len || len + n > MAX_FRAME)
		return len;
	memmove(f + off + n, f + off, len - off);
	for (int i = 0; i < n; i++)
		f[off + i] = zero ? 0 : rnd();
	if (in_packet && len >= 34 && rd16(f + 12) == 0x0800) {
		int hlen = (f[14] & 15) * 4;

		wr16(f + 16, rd16(f + 16) + n);
		if (f[23] == 17 && hlen >= 20 && off >= 14 + hlen + 8 &&
		    14 + hlen + 8 <= len)
			wr16(f + 14 + hlen + 4, rd16(f + 14 + hlen + 4) + n);
	}
	return len + n;
}

/* Leave the TCP/UDP checksum as a sender that offloads it does. */
static void unfinish(uint8_t *f, int len)
{
	struct wf w;
	int off;

	if (wf_check(f, len, &w) != WF_OK)
		return;
	off = w.proto == 6 ? 16 : w.proto == 17 ? 6 : -1;
	if (off >= 0)
		wr16(f + w.l4 + off, fold(pseudo(f + 14, w.proto, w.l4len)));
}

/*
 * The fuzzer's definitions: tests/fixtures/dataplane.yaml (which
 * test_dataplane, test_nat and test_fast depend on as it is) with the DNAT
 * paths added: vm1 calls the metadata service (imds: true) and is reached
 * by port forwards (TCP and UDP) and allow-from (the trusted t0, the
 * protected LAN behind up0); vm2, without imds, by a forward inside
 * nat-ports, delivered by tc only (s2 takes no XDP frames). The target
 * changes with the episode (imds_variant()): another address and port,
 * another port, the address itself (nothing to rewrite).
 *
 * And egress steering, in a sector of its own (a steered sector's XDP
 * passes everything up to tc: steering vm1 would lose its fast path):
 * vm7 on s7 sends TCP to 203.0.113.0/24 on 6333 and 7000-7010 out of e1
 * untranslated (snat-address: none), and everything else for
 * 203.0.113.0/24 and 198.51.100.0/24 out of e0 with e0's address, but
 * for 203.0.113.128/25 (except: the uplink's masquerade). e0 and e1 are
 * veths with a route through each that loses to up0's default route
 * (add_egress_devices(), as test_egress has them).
 */
#define IMDS		"169.254.169.254"
#define IMDS_PORT	80
#define CLIENT		"203.0.113.7"	/* a forward's client */
#define PEER		"100.64.0.2"	/* behind the trusted t0 */
#define MGMT		"192.168.1.5"	/* the protected LAN, into vm1 */
#define IMDS_BLOCK	256		/* episodes per metadata target */
#define E0_ADDR		"10.201.0.1"	/* e0's address: its SNAT */
#define E0_GW		"10.201.0.2"	/* the next hop beyond e0 */
#define E1_ADDR		"10.202.0.1"
#define E1_GW		"10.202.0.2"

static const char *const definitions_fmt =
	"version: 1\n"
	"host:\n"
	"  uplinks: [{interface: up0}]\n"
	"  protected: [192.168.1.0/24]\n"
	"  nat-ports: 32768-60999\n"
	"  trusted: [{interface: t0}]\n"
	"  imds: {target: \"%s:%u\"}\n"
	"sectors:\n"
	"  - name: vm1\n"
	"    cidrs: [10.1.0.0/24]\n"
	"    interfaces: [s1]\n"
	"    imds: true\n"
	"    allow-from: [t0, 192.168.1.0/24]\n"
	"    forwards:\n"
	"      - {proto: tcp, port: 2201, to: \"10.1.0.2:22\"}\n"
	"      - {proto: udp, port: 5301, to: \"10.1.0.2:53\"}\n"
	"    allow:\n"
	"      - {sector: vm2, proto: tcp, ports: [5432, \"8000-8100\"]}\n"
	"      - {sector: vm3, proto: icmp}\n"
	"      - {sector: vm3, proto: udp}\n"
	"  - name: vm2\n"
	"    cidrs: [10.2.0.0/24]\n"
	"    interfaces: [s2]\n"
	"    forwards: [{proto: tcp, port: 45100, to: \"10.2.0.2:80\"}]\n"
	"  - name: vm3\n"
	"    cidrs: [10.3.0.0/24]\n"
	"    interfaces: [s3]\n"
	"    internet: false\n"
	"  - name: vm4\n"
	"    cidrs: [10.4.0.0/24]\n"
	"    interfaces: [s4]\n"
	"  - name: vm5\n"
	"    cidrs: [10.4.0.0/24]\n"
	"    interfaces: [s5]\n"
	"  - name: vm7\n"
	"    cidrs: [10.7.0.0/24]\n"
	"    interfaces: [s7]\n"
	"    egress:\n"
	"      - {destinations: [203.0.113.0/24], proto: tcp,\n"
	"         ports: [6333, \"7000-7010\"], interface: e1,\n"
	"         snat-address: none}\n"
	"      - {destinations: [203.0.113.0/24, 198.51.100.0/24],\n"
	"         except: [203.0.113.128/25], interface: e0}\n";

static const struct {
	const char *addr;
	uint16_t port;
} imds_targets[] = {
	{ "198.18.0.9", 8080 },		/* another address and port */
	{ IMDS, 8080 },			/* another port */
	{ IMDS, IMDS_PORT },		/* the address itself: no rewrite */
};

/* The current target, and whether a request is rewritten at all. */
static const char *target = "198.18.0.9";
static uint16_t target_port = 8080;
static int imds_loaded = -1;

static int imds_variant(unsigned long e)
{
	return e / IMDS_BLOCK % (sizeof(imds_targets) /
				 sizeof(imds_targets[0]));
}

static int load_definitions(int variant)
{
	char text[4096];

	if (variant == imds_loaded)
		return 0;
	target = imds_targets[variant].addr;
	target_port = imds_targets[variant].port;
	snprintf(text, sizeof(text), definitions_fmt, target, target_port);
	imds_loaded = variant;
	return dp_load_definitions(text);
}

static bool imds_rewrites(void)
{
	return strcmp(target, IMDS) || target_port != IMDS_PORT;
}

/* The published ports and what they forward. */
static const struct {
	uint8_t proto;
	uint16_t port;
} published[] = { { 6, 2201 }, { 17, 5301 }, { 6, 45100 } };

static bool is_published(uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < sizeof(published) / sizeof(published[0]); i++)
		if (published[i].proto == proto && published[i].port == port)
			return true;
	return false;
}

/* What a flow is: between sectors, masqueraded, the metadata rewrite, a
 * port forward, let in by allow-from, steered out of e0 with its address
 * or out of e1 untranslated. */
enum flow_kind { K_SECTOR, K_SNAT, K_IMDS, K_FWD, K_ADMIT, K_STEER,
		 K_ROUTED };

struct flow_def {
	int dev;		/* the VM's sector device */
	const char *vm;
	uint16_t vport;		/* ICMP: the echo id */
	const char *remote;	/* as the VM sees it */
	uint16_t rport;
	uint8_t proto;
	int via;		/* program that opens it */
	enum flow_kind kind;
	int far;		/* where the remote's packets come in */
	uint16_t pub;		/* K_FWD: the published port */
};

/*
 * Opened at the start of every episode. Ports lie in the fixture's
 * nat-ports and differ, so each keeps its port: episodes replay. Forwards
 * and allow-from are opened by the remote (via tc ingress of its device),
 * the rest by the VM.
 */
static const struct flow_def flows[] = {
	{ D_S1, "10.1.0.2", 40000, "203.0.113.5", 443, 6,
	  SG_PROG_XDP_SECTOR, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.2", 40001, "203.0.113.5", 53, 17,
	  SG_PROG_XDP_SECTOR, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.2", 40002, "203.0.113.5", 0, 1,
	  SG_PROG_XDP_SECTOR, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.3", 40010, "198.51.100.7", 80, 6,
	  SG_PROG_TC_UPLINK_OUT, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.3", 40011, "198.51.100.7", 53, 17,
	  SG_PROG_TC_UPLINK_OUT, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.3", 40012, "198.51.100.7", 0, 1,
	  SG_PROG_TC_UPLINK_OUT, K_SNAT, D_UP0 },
	{ D_S2, "10.2.0.2", 40020, "203.0.113.6", 443, 6,
	  SG_PROG_XDP_SECTOR, K_SNAT, D_UP0 },
	{ D_S2, "10.2.0.2", 40021, "203.0.113.6", 53, 17,
	  SG_PROG_TC_UPLINK_OUT, K_SNAT, D_UP0 },
	{ D_S4, "10.4.0.2", 45000, "203.0.113.5", 443, 6,
	  SG_PROG_TC_UPLINK_OUT, K_SNAT, D_UP0 },
	{ D_S5, "10.4.0.2", 45001, "203.0.113.5", 443, 6,
	  SG_PROG_XDP_SECTOR, K_SNAT, D_UP0 },
	{ D_S1, "10.1.0.2", 40030, "10.2.0.2", 5432, 6,
	  SG_PROG_XDP_SECTOR, K_SECTOR, D_S2 },
	{ D_S1, "10.1.0.2", 40031, "10.3.0.2", 9999, 17,
	  SG_PROG_XDP_SECTOR, K_SECTOR, D_S3 },
	{ D_S1, "10.1.0.2", 40032, "10.3.0.2", 0, 1,
	  SG_PROG_XDP_SECTOR, K_SECTOR, D_S3 },
	/* The metadata service: the fast path's, and tc's (sector ingress
	 * rewrites the destination, uplink egress the source). */
	{ D_S1, "10.1.0.2", 40040, IMDS, IMDS_PORT, 6,
	  SG_PROG_XDP_SECTOR, K_IMDS, D_UP0 },
	{ D_S1, "10.1.0.3", 40041, IMDS, IMDS_PORT, 17,
	  SG_PROG_TC_UPLINK_OUT, K_IMDS, D_UP0 },
	/* Forwards; vm2's is delivered by tc only. */
	{ D_S1, "10.1.0.2", 22, CLIENT, 6000, 6,
	  SG_PROG_TC_UPLINK_IN, K_FWD, D_UP0, 2201 },
	{ D_S1, "10.1.0.2", 53, CLIENT, 6001, 17,
	  SG_PROG_TC_UPLINK_IN, K_FWD, D_UP0, 5301 },
	{ D_S2, "10.2.0.2", 80, CLIENT, 6002, 6,
	  SG_PROG_TC_UPLINK_IN, K_FWD, D_UP0, 45100 },
	/* allow-from: the trusted device, the management LAN. */
	{ D_S1, "10.1.0.2", 8080, PEER, 7000, 6,
	  SG_PROG_TC_TRUSTED_IN, K_ADMIT, D_T0 },
	{ D_S1, "10.1.0.3", 8081, MGMT, 7001, 17,
	  SG_PROG_TC_UPLINK_IN, K_ADMIT, D_UP0 },
	/* Steered by the sector's tc ingress (translated at the egress
	 * device's tc egress): with e0's address; routed untranslated by
	 * e1, the first policy, where the second's except would leave the
	 * destination to the uplink. */
	{ D_S7, "10.7.0.2", 41000, "203.0.113.5", 443, 6,
	  SG_PROG_TC_SECTOR_IN, K_STEER, D_E0 },
	{ D_S7, "10.7.0.2", 41001, "203.0.113.5", 53, 17,
	  SG_PROG_TC_SECTOR_IN, K_STEER, D_E0 },
	{ D_S7, "10.7.0.3", 41002, "198.51.100.7", 0, 1,
	  SG_PROG_TC_SECTOR_IN, K_STEER, D_E0 },
	{ D_S7, "10.7.0.2", 41003, "203.0.113.200", 7005, 6,
	  SG_PROG_TC_SECTOR_IN, K_ROUTED, D_E1 },
};
#define NFLOWS (int)(sizeof(flows) / sizeof(flows[0]))

/* Does the flow's remote open it? */
static bool inbound(const struct flow_def *fl)
{
	return fl->kind == K_FWD || fl->kind == K_ADMIT;
}

/* Does the flow carry another address than the VM's on the uplink? */
static bool translated(const struct flow_def *fl)
{
	return fl->kind == K_SNAT || fl->kind == K_IMDS || fl->kind == K_FWD;
}

static bool steered(const struct flow_def *fl)
{
	return fl->kind == K_STEER || fl->kind == K_ROUTED;
}

/* Are the remote's packets delivered to the VM by a redirect? */
static bool delivered(const struct flow_def *fl)
{
	return translated(fl) || steered(fl);
}

/* The VM's address as the remote sees it. */
static const char *wire_vm(const struct flow_def *fl)
{
	return translated(fl) ? SNAT : fl->kind == K_STEER ? E0_ADDR : fl->vm;
}

static const uint8_t tcp_flag_sets[] = {
	SYN, ACK, SYN | ACK, ACK | 0x08, ACK | 0x01, 0x04, ACK | 0x04, 0,
	0xff,
};

/* The packet of flow fl from its VM (out) or to it (back), as the VM
 * sends or receives it (wire false) or as the uplink carries it. */
static struct pkt flow_pkt(const struct flow_def *fl, bool back, bool wire)
{
	const char *vm = fl->vm, *remote = fl->remote;
	uint16_t vport = fl->vport, rport = fl->rport;
	struct pkt p = { .proto = fl->proto };

	if (wire)
		vm = wire_vm(fl); /* the host's address toward the target too */
	if (wire && fl->kind == K_FWD)
		vport = fl->pub;
	if (wire && fl->kind == K_IMDS) {
		remote = target;
		rport = target_port;
	}
	p.src = back ? remote : vm;
	p.dst = back ? vm : remote;
	p.sport = back ? rport : vport;
	p.dport = back ? vport : rport;
	if (fl->proto == 6) {
		p.tcp_flags = tcp_flag_sets[rn(sizeof(tcp_flag_sets))];
	} else if (fl->proto == 1) {
		p.icmp_type = back ? 0 : 8;
		p.sport = fl->vport;	/* dp_build's echo id */
	}
	return p;
}

static const char *const inet_addrs[] = {
	"203.0.113.5", "203.0.113.6", "198.51.100.7", "198.51.100.1",
	"8.8.8.8", "169.254.169.253", "203.0.113.200",
};
static const char *const routers[] = {
	"198.51.100.1", "203.0.113.254", "203.0.113.5",
};
static const char *const vm_addrs[] = {
	"10.1.0.2", "10.1.0.3", "10.2.0.2", "10.3.0.2", "10.4.0.2",
	"10.4.0.2", "10.9.0.2", "10.7.0.2",
};
static const char *const odd_dsts[] = {
	"10.1.0.1", "255.255.255.255", "224.0.0.251", "192.168.1.5",
	"169.254.169.254", "10.2.0.2", "10.3.0.2", "10.4.0.2", "10.1.0.9",
	SNAT, "10.7.0.1", "10.7.0.2", E0_ADDR,
};
static const uint8_t err_types[][2] = {
	{ 3, 4 }, { 3, 3 }, { 3, 1 }, { 3, 13 }, { 11, 0 }, { 12, 0 },
	{ 4, 0 }, { 5, 1 },
};

#define PICK(a) (a)[rn(sizeof(a) / sizeof((a)[0]))]

/* A port or echo id: mostly in the fixture's nat-ports, often at an
 * edge. */
static uint16_t some_port(void)
{
	static const uint16_t edges[] = {
		0, 1, 32767, 32768, 60999, 61000, 65535, 40000, 40002,
	};

	return chance(20) ? PICK(edges) : chance(80) ? 32768 + rn(28232) :
	       rn(65536);
}

static const uint8_t other_icmp[] = { 0, 4, 5, 10, 13, 14, 15, 17, 9, 30 };

/* An address a VM behind sector device dev may send from. */
static const char *vm_of(int dev)
{
	switch (dev) {
	case D_S1:
		return chance(50) ? "10.1.0.2" : "10.1.0.3";
	case D_S2:
		return "10.2.0.2";
	case D_S3:
		return "10.3.0.2";
	case D_S4:
	case D_S5:
		return "10.4.0.2";
	case D_S7:
		return chance(50) ? "10.7.0.2" : "10.7.0.3";
	default:
		return "10.9.0.2";
	}
}

/*
 * The edges of the DNAT paths: a client's new connection to a published
 * port (or the next port, another protocol, the VM's own address), a
 * sector calling the metadata address or its target on any port and
 * protocol, a sector calling a published port (hairpin).
 */
static void seed_dnat(struct pkt *p, int *origin)
{
	static const uint8_t protos[] = { 6, 17, 1 };
	int pub = rn(sizeof(published) / sizeof(published[0]));

	p->proto = chance(80) ? published[pub].proto : PICK(protos);
	p->sport = some_port();
	p->tcp_flags = PICK(((const uint8_t[]){ SYN, SYN, ACK, SYN | ACK }));
	p->icmp_type = 8;
	switch (rn(3)) {
	case 0:
		*origin = chance(90) ? D_UP0 : D_T0;
		p->src = chance(50) ? CLIENT : PICK(inet_addrs);
		p->dst = chance(90) ? SNAT : "10.1.0.2";
		p->dport = published[pub].port +
			   (chance(80) ? 0 : (int)rn(3) - 1);
		break;
	case 1:
		*origin = PICK(((const int[]){ D_S1, D_S1, D_S2, D_S4, D_S7 }));
		p->src = vm_of(*origin);
		p->dst = chance(70) ? IMDS : target;
		p->proto = PICK(((const uint8_t[]){ 6, 17, 6, 17, 1, 47 }));
		p->dport = chance(50) ? IMDS_PORT : chance(50) ? target_port :
			   some_port();
		break;
	default:
		*origin = rn(NSECT);
		p->src = vm_of(*origin);
		p->dst = SNAT;
		p->dport = published[pub].port;
		break;
	}
}

/*
 * The edges of the egress policies: vm7 calling either side of the
 * except's and the destinations' edges, the routed ports and their
 * neighbours, another protocol on them; and the far end's packets on an
 * egress device (or where they do not belong): to e0's address on any
 * port (a reply, a new connection), to a VM of vm7 (a routed flow's
 * reply, or nothing's).
 */
static void seed_steer(struct pkt *p, int *origin)
{
	static const char *const far[] = {
		"203.0.113.127", "203.0.113.128", "203.0.113.0",
		"203.0.113.255", "198.51.100.200", "198.51.99.255",
		"203.0.114.1", "203.0.113.5", "203.0.113.200", "203.0.113.9",
	};
	static const uint16_t ports[] = {
		6332, 6333, 6334, 6999, 7000, 7005, 7010, 7011, 443, 53,
	};

	p->proto = PICK(((const uint8_t[]){ 6, 6, 17, 1 }));
	p->tcp_flags = PICK(((const uint8_t[]){ SYN, SYN, ACK, SYN | ACK }));
	if (chance(60)) {
		*origin = chance(90) ? D_S7 : (int)rn(NSECT);
		p->src = vm_of(D_S7);
		p->dst = PICK(far);
		p->sport = some_port();
		p->dport = PICK(ports);
		p->icmp_type = 8;
		return;
	}
	*origin = PICK(((const int[]){ D_E0, D_E0, D_E1, D_E1, D_UP0,
				       D_T0 }));
	p->src = PICK(far);
	p->dst = chance(50) ? E0_ADDR : chance(70) ? vm_of(D_S7) : E1_ADDR;
	p->sport = PICK(ports);
	p->dport = chance(50) ? 41000 + rn(6) : some_port();
	p->icmp_type = PICK(((const uint8_t[]){ 0, 0, 8 }));
}

/*
 * A well-formed seed frame (modulo the few knobs that make it odd on
 * purpose: TTL, fragments); *origin is the device it comes in from.
 */
static int seed_frame(uint8_t *f, int *origin)
{
	const struct flow_def *fl = &flows[rn(NFLOWS)];
	struct pkt p = {}, inner = {};
	const uint8_t *et;
	int len, kind = rn(124);

	*origin = fl->dev;
	if (kind >= 112) {		/* steering's edges */
		seed_steer(&p, origin);
	} else if (kind >= 100) {	/* DNAT's edges */
		seed_dnat(&p, origin);
	} else if (kind < 20) {		/* a flow's packet from its VM */
		p = flow_pkt(fl, false, false);
		if (p.proto == 1 && chance(25))	/* not an echo, same tuple */
			p.icmp_type = PICK(other_icmp);
	} else if (kind < 38) {		/* its reply */
		p = flow_pkt(fl, true, true);
		if (p.proto == 1 && chance(25))
			p.icmp_type = PICK(other_icmp);
		*origin = fl->far;
	} else if (kind < 55) {		/* an ICMP error about what we sent */
		inner = flow_pkt(fl, false, true);
		if (inner.proto == 6)
			inner.tcp_flags = ACK;
		et = PICK(err_types);
		p = (struct pkt){ .src = fl->far == D_UP0 ? PICK(routers) :
					 fl->far == D_T0 || chance(50) ?
					 fl->remote : fl->far == D_E0 ?
					 E0_GW : E1_GW,
				  .dst = wire_vm(fl),
				  .proto = 1, .icmp_type = et[0],
				  .icmp_code = et[1], .inner = &inner,
				  .inner_l4 = chance(50) ? 8 : 28 };
		if (chance(10))
			p.inner_l4 = rn(40);
		if (chance(10))
			inner.ihl = 6 + rn(3);
		*origin = fl->far;
	} else if (kind < 68) {		/* a VM's error about a reply */
		inner = flow_pkt(fl, true, false);
		et = PICK(err_types);
		p = (struct pkt){ .src = fl->vm, .dst = fl->remote,
				  .proto = 1, .icmp_type = et[0],
				  .icmp_code = et[1], .inner = &inner,
				  .inner_l4 = chance(50) ? 8 : 28 };
		if (chance(10))
			inner.ihl = 6 + rn(3);
	} else if (kind < 76) {		/* a new flow to the internet */
		*origin = rn(NSECT);
		p.src = PICK(vm_addrs);
		p.dst = PICK(inet_addrs);
		p.proto = PICK(((const uint8_t[]){ 6, 17, 1, 1, 47 }));
		p.sport = some_port();
		p.dport = chance(80) ? PICK(((const uint16_t[]){ 53, 80, 443,
								22, 6333,
								7005 })) :
			  some_port();
		p.tcp_flags = tcp_flag_sets[rn(sizeof(tcp_flag_sets))];
		p.icmp_type = chance(70) ? 8 : PICK(other_icmp);
		if (chance(30)) {	/* towards a flow's remote */
			p.src = fl->vm;
			p.dst = fl->remote;
			*origin = fl->dev;
		}
	} else if (kind < 84) {		/* the gateway, policy */
		*origin = rn(NSECT);
		p.src = chance(90) ? PICK(vm_addrs) : "0.0.0.0";
		p.dst = PICK(odd_dsts);
		p.proto = PICK(((const uint8_t[]){ 6, 17, 1 }));
		p.sport = rn(65536);
		p.dport = PICK(((const uint16_t[]){ 53, 67, 80, 5432, 8050 }));
		p.tcp_flags = SYN;
		p.icmp_type = 8;
	} else if (kind < 90) {		/* unsolicited, the host's, trusted */
		*origin = chance(60) ? D_UP0 :
			  PICK(((const int[]){ D_T0, D_T0, D_E0, D_E1 }));
		p.src = chance(50) ? PICK(inet_addrs) :
			chance(50) ? "100.64.0.5" : "192.168.1.9";
		p.dst = PICK(((const char *const[]){ SNAT, "10.1.0.2",
						     "10.4.0.2", "10.2.0.9",
						     "192.168.1.5", "10.7.0.2",
						     E0_ADDR }));
		p.proto = PICK(((const uint8_t[]){ 6, 17, 1 }));
		p.sport = PICK(((const uint16_t[]){ 443, 53, 80 }));
		p.dport = chance(50) ? 40000 + rn(40) : rn(65536);
		p.tcp_flags = PICK(((const uint8_t[]){ SYN, SYN | ACK, ACK }));
		p.icmp_type = PICK(((const uint8_t[]){ 0, 8 }));
	} else {			/* not IPv4 */
		*origin = rn(D_NONE);
		p.kind = PICK(((const enum frame_kind[]){
			F_ARP, F_IPV6_TCP, F_IPV6_NS, F_VLAN, F_LLDP }));
		return dp_build(&p, f);
	}
	if (chance(15))
		p.ihl = 6 + rn(10);
	if (chance(10))
		p.ttl = PICK(((const uint8_t[]){ 1, 2, 255 }));
	if (chance(4))
		p.frag = PICK(((const uint16_t[]){ 0x2000, 100, 0x2000 | 7,
						   0x4000 }));
	if (p.proto == 17 && chance(15))
		p.no_udp_csum = true;
	if (chance(15))
		p.pad = 1 + rn(40);
	len = dp_build(&p, f);
	for (int i = len - p.pad; i < len; i++)
		f[i] = chance(50) ? 0 : rnd();
	return len;
}

/* Grow the frame in ways a well-formed packet may: payload, TCP options,
 * a checksum left for the device. Checksums are made right again. */
static int seed_grow(uint8_t *f, int len)
{
	struct wf w;
	int n;

	if (wf_check(f, len, &w) != WF_OK && w.kind != WF_FRAGMENT)
		return len;
	if (chance(25)) {
		n = chance(90) ? 1 + rn(200) : rn(MAX_FRAME - len - 64);
		len = insert_bytes(f, len, w.end, n, chance(20), true);
	}
	if (w.kind == WF_OK && w.proto == 6 && chance(10)) {
		n = 1 + rn(10);
		len = insert_bytes(f, len, w.l4 + 20, n * 4, false, true);
		f[w.l4 + 12] = (5 + n) << 4 | (f[w.l4 + 12] & 15);
	}
	fix_sums(f, len);
	if (chance(10))
		unfinish(f, len);
	return len;
}

static const uint16_t ether_types[] = {
	0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x88cc, 0x0000, 0xffff,
};

static void mutate(uint8_t *f, int *lenp)
{
	int len = *lenp, hlen = (f[14] & 15) * 4, l4 = 14 + hlen, e = l4 + 8;
	int off, n, v;

	switch (rn(17)) {
	case 0:		/* a bit anywhere */
		f[rn(len)] ^= 1 << rn(8);
		break;
	case 1:		/* a byte in the headers */
		f[rn(len < 14 + 60 + 60 ? len : 14 + 60 + 60)] = rnd();
		break;
	case 2:		/* cut */
		*lenp = 14 + rn(len - 14 + 1);
		break;
	case 3:		/* Ethernet padding */
		*lenp = insert_bytes(f, len, len, 1 + rn(64), chance(50),
				     false);
		break;
	case 4:		/* tot_len */
		v = rd16(f + 16);
		v = chance(30) ? (int)rn(65536) : chance(30) ? len - 14 :
		    v + (int)rn(17) - 8;
		wr16(f + 16, v);
		break;
	case 5:		/* IHL */
		f[14] = (f[14] & 0xf0) | rn(16);
		break;
	case 6:		/* version */
		f[14] = rn(16) << 4 | (f[14] & 15);
		break;
	case 7:		/* fragment fields */
		v = PICK(((const uint16_t[]){ 0x2000, 0x4000, 0x0001, 0x1fff,
					      0x2001, 0 }));
		wr16(f + 20, chance(20) ? (int)rn(65536) : v);
		break;
	case 8:		/* TCP doff */
		if (l4 + 13 <= len)
			f[l4 + 12] = rn(16) << 4 | (f[l4 + 12] & 15);
		break;
	case 9:		/* UDP length */
		if (l4 + 6 <= len) {
			v = rd16(f + l4 + 4);
			wr16(f + l4 + 4, chance(30) ? (int)rn(65536) :
					 v + (int)rn(17) - 8);
		}
		break;
	case 10:	/* protocol */
		if (len > 23)
			f[23] = PICK(((const uint8_t[]){ 1, 6, 17, 47, 58,
							 0 }));
		break;
	case 11:	/* ICMP type and code */
		if (l4 + 2 <= len) {
			f[l4] = PICK(((const uint8_t[]){ 0, 3, 4, 5, 8, 11,
							 12, 13 }));
			f[l4 + 1] = rn(16);
		}
		break;
	case 12:	/* the embedded header */
		off = e + PICK(((const uint8_t[]){ 0, 0, 2, 3, 6, 9, 12, 16,
						   20, 22, 24, 26, 28 }));
		if (off < len)
			f[off] = chance(50) ? (uint8_t)rnd() :
				 (uint8_t)(f[off] ^ (1 << rn(8)));
		if (off == e && chance(50))
			f[off] = 0x40 | rn(16);
		break;
	case 13:	/* TTL */
		if (len > 22)
			f[22] = PICK(((const uint8_t[]){ 0, 1, 2, 255 }));
		break;
	case 14:	/* EtherType */
		wr16(f + 12, PICK(ether_types));
		break;
	case 15:	/* bytes inserted or removed in the middle */
		off = 14 + rn(len - 14 + 1);
		n = 1 + rn(8);
		if (chance(50)) {
			*lenp = insert_bytes(f, len, off, n, false, false);
		} else if (off + n <= len && len - n >= 14) {
			memmove(f + off, f + off + n, len - off - n);
			*lenp = len - n;
		}
		break;
	case 16:	/* another flow's addresses or ports */
		if (l4 + 4 <= len) {
			const struct flow_def *fl = &flows[rn(NFLOWS)];

			if (chance(50))
				wr16(f + l4 + rn(2) * 2, fl->kind == K_FWD &&
					 chance(50) ? fl->pub : fl->vport);
			else
				inet_pton(AF_INET, chance(40) ? fl->vm :
					  chance(50) ? SNAT :
					  chance(30) ? E0_ADDR :
					  chance(50) ? IMDS : target,
					  f + 26 + rn(2) * 4);
		}
		break;
	}
}

/* ---- Violations ---------------------------------------------------- */

enum prop { P_A, P_B, P_C, P_D, P_E, P_F, P_G, P_H, NPROPS };
static const char *const prop_names[NPROPS] = {
	"(a) malformed, not IPv4 or a fragment: rewritten and let through "
	"(fragments: but as the uplink's NAT or steering follows them)",
	"(b) checksums of a rewritten frame",
	"(c) length and fields of a rewritten frame",
	"(d) the run itself",
	"(e) declined frames untouched",
	"(f) the XDP fast path and tc agree",
	"(g) steered traffic leaves and returns by its device only",
	"(h) no sector address leaves the uplink or t0",
};

#define MAX_KINDS 256
static struct kind {
	enum prop prop;
	int prog;
	char what[96];
	unsigned long count;
} kinds[MAX_KINDS];
static int nkinds;
static unsigned long prop_count[NPROPS];

/* What the current episode did so far, for the reproducer. */
static uint64_t seed;
static unsigned long episode;
/* Seven: opening an episode's flows costs more than its frames. */
#define EPISODE_MAX 7
static int frame_no, episode_frames;
static uint8_t episode_frame[EPISODE_MAX][MAX_FRAME];
static int episode_len[EPISODE_MAX], episode_origin[EPISODE_MAX];
static bool seeding;		/* opening the episode's flows */
static bool verbose;

static void hex(const char *label, const uint8_t *b, int len)
{
	printf("      %s (%d bytes): ", label, len);
	for (int i = 0; i < len; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static bool violation(enum prop pr, const struct run *r, uint32_t verdict,
		      const uint8_t *in, int len, const uint8_t *out,
		      uint32_t out_len, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* Counts it; prints it (and returns true) for the first few of a kind. */
static bool violation(enum prop pr, const struct run *r, uint32_t verdict,
		      const uint8_t *in, int len, const uint8_t *out,
		      uint32_t out_len, const char *fmt, ...)
{
	struct kind *k = NULL;
	char what[96];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	prop_count[pr]++;
	for (i = 0; i < nkinds; i++)
		if (kinds[i].prop == pr && kinds[i].prog == r->prog &&
		    !strcmp(kinds[i].what, what))
			k = &kinds[i];
	if (!k && nkinds < MAX_KINDS) {
		k = &kinds[nkinds++];
		k->prop = pr;
		k->prog = r->prog;
		snprintf(k->what, sizeof(k->what), "%s", what);
	}
	if (k && k->count++ >= REPORT_FULL && !verbose)
		return false;
	printf("    %s: %s\n", prop_names[pr], what);
	printf("      seed 0x%" PRIx64 " episode %lu frame %d%s: %s dev %s "
	       "ingress %s, verdict %u (replay: --seed 0x%" PRIx64
	       " --episode %lu --verbose)\n", seed, episode, frame_no,
	       seeding ? " (opening the flows)" : "",
	       slot_names[r->prog], dev_names[r->dev],
	       is_xdp(r->prog) ? "-" : dev_names[r->ingress], verdict, seed,
	       episode);
	for (i = 0; i < frame_no; i++)
		hex("after frame", episode_frame[i], episode_len[i]);
	hex("in", in, len);
	if (out)
		hex("out", out, out_len);
	return true;
}

/* ---- Judging one run ----------------------------------------------- */

static struct {
	unsigned long runs, drop, pass, redirect, rewritten, refused;
	/* Rewrites of well-formed frames: TCP, UDP, ICMP echo, ICMP
	 * errors; with IP options, Ethernet padding, an unfinished
	 * checksum, an embedded L4 checksum. */
	unsigned long tcp, udp, echo, errors, options, padded, unfinished,
		      emb_sum;
	/* Fragments the NAT rewrote (the uplink's, steering's): first
	 * ones, later ones. */
	unsigned long frag_first, frag_later;
} stats[NSLOTS];
static unsigned long total_runs;

/* Rewrites of the DNAT paths, and (f)'s comparisons of them. */
enum dnat_path { DN_IMDS_OUT, DN_IMDS_BACK, DN_FWD_IN, DN_FWD_OUT,
		 DN_FWD_ICMP, NDN };
static const char *const dnat_names[NDN] = {
	"metadata requests", "metadata replies", "forwards' client packets",
	"forwards' replies", "ICMP errors about forwards",
};
static unsigned long dnat_stats[NSLOTS][NDN], dnat_compared[NDN];
/* Passed on to the stack by the sector's XDP, rewritten. */
static unsigned long dnat_passed[NDN];

/* The egress paths, on fuzzed frames (the openings aside). */
enum eg_path { EG_STEER_SNAT, EG_STEER_ROUTED, EG_OUT_SNAT, EG_OUT_ROUTED,
	       EG_FED, EG_BACK_SNAT, EG_BACK_ROUTED, EG_BACK_ICMP,
	       EG_KEPT_OFF, EG_EXCEPT, EG_STEER_ICMP, EG_OUT_ICMP, NEG };
static const char *const eg_names[NEG] = {
	[EG_STEER_SNAT] = "tc_sector_in steered to e0",
	[EG_STEER_ROUTED] = "tc_sector_in steered to e1 (routed)",
	[EG_OUT_SNAT] = "e0's tc egress translated",
	[EG_OUT_ROUTED] = "e1's tc egress passed untranslated",
	[EG_FED] = "the device's tc egress on the redirected frame",
	[EG_BACK_SNAT] = "e0's tc ingress translated back",
	[EG_BACK_ROUTED] = "e1's tc ingress delivered untranslated",
	[EG_BACK_ICMP] = "ICMP errors about steered flows delivered",
	[EG_KEPT_OFF] = "the uplink's tc egress dropped what is steered",
	[EG_EXCEPT] = "the uplink's tc egress masqueraded vm7's others",
	[EG_STEER_ICMP] = "tc_sector_in steered a VM's ICMP error",
	[EG_OUT_ICMP] = "the device's tc egress passed a VM's ICMP error",
};
static unsigned long eg_stats[NEG];
/* Steered packets answered "fragmentation needed" (rare in fuzzing:
 * over a device's MTU with DF). */
static unsigned long eg_too_big;

static bool kernel_refuses(const struct run *r, const uint8_t *in, int len,
			   int ret)
{
	int type = len >= 14 ? rd16(in + 12) : -1;

	if (ret != -EINVAL)
		return false;
	if (len < 14)
		return true;
	return !is_xdp(r->prog) && ((type == 0x0800 && len < 34) ||
				    (type == 0x86dd && len < 54));
}

/* Does this program, on this device, with this verdict, ever translate?
 * The trusted devices' programs do on an egress device only: steered
 * flows; a sector's tc ingress redirects a steered packet a hop on. */
static bool may_rewrite(const struct run *r, uint32_t verdict)
{
	switch (r->prog) {
	case SG_PROG_XDP_SECTOR:
	case SG_PROG_XDP_UPLINK:
		return verdict == XDP_REDIRECT;
	case SG_PROG_TC_UPLINK_OUT:
		return verdict == TC_ACT_OK;
	case SG_PROG_TC_UPLINK_IN:
		return verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT;
	case SG_PROG_TC_SECTOR_IN:
		return verdict == TC_ACT_REDIRECT;
	case SG_PROG_TC_TRUSTED_OUT:
		return is_egress_dev(r->dev) && verdict == TC_ACT_OK;
	case SG_PROG_TC_TRUSTED_IN:
		return is_egress_dev(r->dev) &&
		       (verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT);
	default:
		return false;
	}
}

/* A sector's ingress passing a frame on to the stack (tc, or XDP when
 * the fast path declines): it may carry the metadata rewrite. */
static bool sector_pass(int prog, uint32_t verdict)
{
	return (prog == SG_PROG_TC_SECTOR_IN && verdict == TC_ACT_OK) ||
	       (prog == SG_PROG_XDP_SECTOR && verdict == XDP_PASS);
}

static bool addr_is(const uint8_t *p, const char *a)
{
	struct in_addr b;

	inet_pton(AF_INET, a, &b);
	return !memcmp(p, &b, 4);
}

static bool tcp_udp(const struct wf *w)
{
	return w->proto == 6 || w->proto == 17;
}

/* A VM's request to the metadata service, as it sends it. */
static bool imds_request(const uint8_t *f, const struct wf *w)
{
	return tcp_udp(w) && addr_is(f + 30, IMDS) &&
	       rd16(f + w->l4 + 2) == IMDS_PORT;
}

/* The service's reply to the host's address, as it arrives. */
static bool imds_reply(const uint8_t *f, const struct wf *w)
{
	return tcp_udp(w) && addr_is(f + 26, target) &&
	       rd16(f + w->l4) == target_port && addr_is(f + 30, SNAT) &&
	       !is_published(w->proto, rd16(f + w->l4 + 2));
}

/* Does the TCP/UDP packet at f carry a published port on the uplink's
 * address, as its source (src) or destination? */
static bool published_at(const uint8_t *f, const struct wf *w, bool src)
{
	return tcp_udp(w) && addr_is(f + (src ? 26 : 30), SNAT) &&
	       is_published(w->proto, rd16(f + w->l4 + (src ? 0 : 2)));
}

/* ... or, in an ICMP error, its embedded packet, either way. */
static bool published_inside(const uint8_t *f, const struct wf *w)
{
	struct wf e = { .proto = w->eproto, .l4 = w->el4 - w->emb + 14 };

	return w->err && w->el4 + 4 <= w->end &&
	       (published_at(f + w->emb - 14, &e, true) ||
		published_at(f + w->emb - 14, &e, false));
}

/*
 * (e) for a sector's ingress: what it passes on it changes in one way
 * only, the metadata rewrite of a TCP/UDP request from the imds sector
 * (vm1, on s1) to address:port: the destination address and port become
 * the target's, the IP and L4 checksums follow (judged by (b)). Nothing
 * at all when the target is the address.
 */
static void judge_imds_rewrite(const struct run *r, uint32_t verdict,
			       const uint8_t *in, int len,
			       const uint8_t *out, const struct wf *w)
{
	int csum = w->l4 + (w->proto == 6 ? 16 : 6);
	uint8_t want[OUT_SIZE];

#define V(...) violation(P_E, r, verdict, in, len, out, len, __VA_ARGS__)
	if (!imds_rewrites()) {
		V("changed, and the metadata target is its address");
		return;
	}
	if (r->dev != D_S1 || !imds_request(in, w)) {
		V("changed, and it is no metadata request of an imds sector");
		return;
	}
	memcpy(want, in, len);
	inet_pton(AF_INET, target, want + 30);
	wr16(want + w->l4 + 2, target_port);
	for (int i = 0; i < len; i++) {
		if (i == 24 || i == 25 || i == csum || i == csum + 1)
			continue;
		if (want[i] != out[i]) {
			V("changed other than the metadata rewrite (byte %d)",
			  i);
			return;
		}
	}
	/* What XDP hands the stack unfinished, the stack finishes: for the
	 * header it now has. (A tc test run's skb is no CHECKSUM_PARTIAL
	 * one: there such a checksum is a complete one.) */
	if (r->prog == SG_PROG_XDP_SECTOR && l4_sum_ok(in, w) == 0 &&
	    l4_unfinished(in, w) && !l4_unfinished(out, w))
		V("an unfinished checksum passed on no longer unfinished");
#undef V
}

/*
 * (c) the TTL: a rewrite takes one hop off at most; the metadata
 * service's replies, addressed to the host and delivered to the VM as
 * the host would receive them, keep theirs.
 */
static void judge_ttl(const struct run *r, uint32_t verdict,
		      const uint8_t *in, int len, const uint8_t *out,
		      const struct wf *w)
{
	bool uplink_in = r->prog == SG_PROG_XDP_UPLINK ||
			 r->prog == SG_PROG_TC_UPLINK_IN;

	if (in[22] == out[22])
		return;
	if (uplink_in && imds_reply(in, w))
		violation(P_C, r, verdict, in, len, out, len, "the metadata "
			  "service's reply delivered with another TTL");
	else if (!in[22] || out[22] != in[22] - 1)
		violation(P_C, r, verdict, in, len, out, len,
			  "the TTL changed by more than a hop");
}

static void judge_sums(const struct run *r, uint32_t verdict,
		       const uint8_t *in, int len, const uint8_t *out,
		       uint32_t out_len, const struct wf *wi)
{
	bool ip_in_ok = !csum(in + 14, wi->hlen);
	static const char *const l4_names[18] = {
		[1] = "ICMP", [6] = "TCP", [17] = "UDP" };
	struct wf wo;
	int si, so, uoff;
	uint16_t a, b;

#define V(...) violation(P_B, r, verdict, in, len, out, out_len, __VA_ARGS__)
	if (wf_check_as(out, out_len, &wo, ip_in_ok) != WF_OK) {
		V("output is no longer well-formed: %s", wo.why);
		return;
	}
	si = l4_sum_ok(in, wi);
	so = l4_sum_ok(out, &wo);
	if (wi->proto == 17) {
		uoff = wi->l4 + 6;
		if (!rd16(in + uoff) && rd16(out + uoff))
			V("a zero (no) UDP checksum became non-zero");
		if (rd16(in + uoff) && !rd16(out + uoff))
			V("a UDP checksum became zero (none)");
	}
	if (si == 1 && so != 1)
		V("%s checksum broken by the rewrite", l4_names[wi->proto]);
	if (si == 0 && so != 1 && verdict == XDP_REDIRECT &&
	    is_xdp(r->prog) && l4_unfinished(in, wi))
		V("unfinished %s checksum redirected unfinished",
		  l4_names[wi->proto]);
	if (!wi->err)
		return;
	if (emb_ip_ok(in, wi) && !emb_ip_ok(out, &wo))
		V("embedded IP header checksum broken by the rewrite");
	if (wi->eproto == 17 && emb_csum_off(wi) + wi->el4 + 2 <= wi->end &&
	    !rd16(in + wi->el4 + 6) != !rd16(out + wi->el4 + 6))
		V("embedded UDP checksum zero changed to non-zero or back");
	if (emb_l4_sum(in, wi, &a) && emb_l4_sum(out, &wo, &b) && a != b)
		V("embedded %s checksum not updated with the fields it covers",
		  wi->eproto < 18 && l4_names[wi->eproto] ?
		  l4_names[wi->eproto] : "L4");
#undef V
}

/* ---- Judging the egress paths -------------------------------------- */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Is the address at p in net/plen? */
static bool in_net(const uint8_t *p, const char *net, int plen)
{
	struct in_addr n;

	inet_pton(AF_INET, net, &n);
	return !((rd32(p) ^ ntohl(n.s_addr)) & (~0U << (32 - plen)));
}

/* A VM of the steered sector (its gateway's address aside). */
static bool vm7_addr(const uint8_t *p)
{
	return in_net(p, "10.7.0.0", 24) && !addr_is(p, "10.7.0.1");
}

/*
 * Where vm7's egress policies send the packet at f (well-formed, or a
 * fragment: a later one has no ports), first match wins: e1 for TCP to
 * 203.0.113.0/24 on 6333 and 7000-7010, e0 for the rest of
 * 203.0.113.0/24 but 203.0.113.128/25 and for 198.51.100.0/24; -1 for
 * none (the uplink).
 */
static int steered_to(const uint8_t *f, const struct wf *w)
{
	const uint8_t *dst = f + 30;
	int dport = !w->later && tcp_udp(w) ? rd16(f + w->l4 + 2) : 0;

	if (in_net(dst, "203.0.113.0", 24) && w->proto == 6 &&
	    (dport == 6333 || (dport >= 7000 && dport <= 7010)))
		return D_E1;
	if ((in_net(dst, "203.0.113.0", 24) &&
	     !in_net(dst, "203.0.113.128", 25)) ||
	    in_net(dst, "198.51.100.0", 24))
		return D_E0;
	return -1;
}

/* The device a policy sends the frame to, or -1. */
static int steered_frame(const uint8_t *f, int len)
{
	struct wf w;

	wf_check_as(f, len, &w, false);
	return w.kind == WF_OK || w.kind == WF_FRAGMENT ? steered_to(f, &w) :
							  -1;
}

/* What the NAT maps: whole TCP, UDP, ICMP echo requests. */
static bool mappable(const uint8_t *f, const struct wf *w)
{
	return w->kind == WF_OK &&
	       (tcp_udp(w) || (w->proto == 1 && f[w->l4] == 8));
}

/*
 * May steering take the packet at f: what the NAT maps, a first fragment
 * of it (its ports are in it), or a later fragment, which follows its
 * first (the checker keeps no state: whichever first that was)?
 */
static bool steerable(const uint8_t *f, const struct wf *w)
{
	if (w->kind != WF_FRAGMENT)
		return mappable(f, w);
	return w->later ||
	       tcp_udp(w) || (w->proto == 1 && f[w->l4] == 8);
}

/* May a later fragment at f follow a first that a policy steered to dev
 * (D_E0, D_E1, or -1 for either)? Its ports are the first's. */
static bool later_may_go(const uint8_t *f, const struct wf *w, int dev)
{
	return (dev != D_E0 && w->proto == 6 && in_net(f + 30, "203.0.113.0",
						       24)) ||
	       (dev != D_E1 && steered_to(f, w) == D_E0);
}

/*
 * May the translation of one side of a flow change the byte at off of
 * this well-formed frame: the source side (dst false: address, port or
 * echo id), as what leaves an egress device is translated, or the
 * destination side, as its replies are, and for an ICMP error about
 * what left the embedded packet's source side? Checksums either way;
 * the TTL is judged apart.
 */
static bool side_field(const struct wf *w, int off, bool dst)
{
	int rel = off - 14, port = dst ? 2 : 0;

	if (rel == 10 || rel == 11)
		return true;
	if (rel >= (dst ? 16 : 12) && rel < (dst ? 20 : 16))
		return true;
	rel = off - w->l4;
	if (rel < 0 || off >= w->end)
		return false;
	switch (w->proto) {
	case 6:
		return rel == port || rel == port + 1 || rel == 16 || rel == 17;
	case 17:
		return rel == port || rel == port + 1 || rel == 6 || rel == 7;
	case 1:
		if (rel == 2 || rel == 3)
			return true;
		if (!w->err)
			return rel == 4 || rel == 5;
		break;
	default:
		return false;
	}
	/* The embedded packet went the other way: its source side for an
	 * error coming in, its destination side for one going out. */
	if (off < w->el4) {
		rel = off - w->emb;
		return rel == 10 || rel == 11 ||
		       (rel >= (dst ? 12 : 16) && rel < (dst ? 16 : 20));
	}
	rel = off - w->el4;
	port = dst ? 0 : 2;
	switch (w->eproto) {
	case 6:
		return rel == port || rel == port + 1 || rel == 16 || rel == 17;
	case 17:
		return rel == port || rel == port + 1 || rel == 6 || rel == 7;
	case 1:
		return rel >= 2 && rel < 6;
	}
	return false;
}

/* The first byte a side's translation may not change, or -1. */
static int off_side(const uint8_t *in, int len, const uint8_t *out,
		    const struct wf *w, bool dst)
{
	for (int i = 0; i < len; i++)
		if (in[i] != out[i] && i != 14 + 8 && !side_field(w, i, dst))
			return i;
	return -1;
}

static const char *where(const struct wf *w, int off)
{
	return off < 14 ? "Ethernet header" : off >= w->end ?
	       "Ethernet padding" : off < w->l4 ? "IP header" :
	       w->err && off >= w->emb ? "embedded packet" : "L4 or payload";
}

/* A violation of property pr by the run being judged: r, verdict, in,
 * len, out and out_len are the judge's arguments, down to judge_steering. */
#define V(pr, ...) violation(pr, r, verdict, in, len, out, out_len, \
			     __VA_ARGS__)

/*
 * Is out the "fragmentation needed" that sg_steer_too_big makes of in, a
 * steered packet over its device's MTU with DF: to in's source, the MACs
 * swapped, embedding in's IP header and 8 bytes (a TCP header's 20: a
 * checksum left to the device stays in the frame), naming an MTU below
 * in's length, its checksums right?
 */
static bool too_big_answer(const uint8_t *in, int len, const uint8_t *out,
			   uint32_t out_len)
{
	int hlen = (in[14] & 15) * 4, tot = in[16] << 8 | in[17];
	int mtu = out[40] << 8 | out[41], l4 = in[23] == 6 ? 20 : 8;

	return (in[20] & 0x40) && len >= 14 + hlen + l4 &&
	       out_len == (uint32_t)(42 + hlen + l4) &&
	       !memcmp(out, in + 6, 6) && !memcmp(out + 6, in, 6) &&
	       out[14] == 0x45 && out[23] == 1 && !memcmp(out + 30, in + 26, 4) &&
	       out[34] == 3 && out[35] == 4 && mtu >= 68 && mtu < tot &&
	       !memcmp(out + 42, in + 14, hlen + l4) &&
	       dp_checksums_ok(out, out_len);
}

/*
 * The sector's tc ingress: it redirects only what a policy of the sector
 * claims, from s7 (vm7's device, the one steered sector), from vm7's
 * CIDR, that the NAT maps and whose TTL has a hop to spare, and changes
 * nothing of it but the TTL (one hop) and the IP header checksum; what
 * a policy claims it never leaves to the kernel's routes, which lead to
 * the uplink, but to let the kernel answer one that expires.
 */
static void judge_steer(const struct run *r, uint32_t verdict,
			const uint8_t *in, int len, const uint8_t *out,
			uint32_t out_len)
{
	bool ours, claimed;
	struct wf w;
	int to;

	wf_check(in, len, &w);
	ours = r->dev == D_S7 && (w.kind == WF_OK || w.kind == WF_FRAGMENT) &&
	       in_net(in + 26, "10.7.0.0", 24);
	to = ours ? steered_to(in, &w) : -1;
	claimed = to >= 0 && steerable(in, &w);
	if (verdict == TC_ACT_OK && claimed && in[22] > 1)
		V(P_G, "left what a policy claims to the kernel's routes");
	if (verdict != TC_ACT_REDIRECT)
		return;
	if (w.kind != WF_OK && w.kind != WF_FRAGMENT) {
		V(P_G, "redirected, and it is %s", w.why);
		return;
	}
	if (r->dev != D_S7 || !ours) {
		V(P_G, "redirected from a device or source no policy steers");
		return;
	}
	/* An ICMP error about a steered flow leaves by the flow's device,
	 * translated as its packets are: the outer source and the embedded
	 * destination (e0's address), or not at all (e1's routed flows). */
	if (w.err) {
		int off = off_side(in, len, out, &w, false);

		if (out_len != (uint32_t)len || in[22] <= 1 ||
		    out[22] != in[22] - 1)
			V(P_C, "a steered ICMP error redirected with a TTL not "
			  "one hop less");
		else if (off >= 0)
			V(P_C, "a steered ICMP error redirected with more than "
			  "the source side changed (%s)", where(&w, off));
		else if (!addr_is(out + 26, E0_ADDR) &&
			 memcmp(in + 26, out + 26, 4))
			V(P_G, "a steered ICMP error left with a source of no "
			  "device");
		else if (!seeding)
			eg_stats[EG_STEER_ICMP]++;
		return;
	}
	if (w.later ? !later_may_go(in, &w, -1) || in[22] <= 1 :
		      !claimed || in[22] <= 1) {
		V(P_G, "redirected what %s", w.later ? "follows no steered "
		  "flow's first fragment" : to < 0 ? "no policy claims" :
		  !steerable(in, &w) ? "the NAT does not map" :
		  "expires on the way");
		return;
	}
	if (too_big_answer(in, len, out, out_len)) {
		if (!seeding)
			eg_too_big++;
		return;
	}
	if (out_len != (uint32_t)len || out[22] != in[22] - 1) {
		V(P_C, "a steered packet redirected with a TTL not one hop "
		  "less");
		return;
	}
	for (int i = 0; i < len; i++) {
		if (in[i] != out[i] && i != 22 && i != 24 && i != 25) {
			V(P_C, "a steered packet redirected with more than its "
			  "TTL changed (%s)", where(&w, i));
			return;
		}
	}
	if (!seeding)
		eg_stats[to == D_E0 ? EG_STEER_SNAT : EG_STEER_ROUTED]++;
}

/*
 * An egress device's tc egress: what it passes from the steered sector
 * is a well-formed packet its policy claims; it leaves e0 with e0's
 * address, e1 as the VM sent it (snat-address: none); a translation
 * changes the source side only (address, port or echo id, checksums):
 * the TTL was the sector's tc ingress's to lower. It passes nothing of
 * another sector of ours.
 */
static void judge_steered_out(const struct run *r, uint32_t verdict,
			      const uint8_t *in, int len, const uint8_t *out,
			      uint32_t out_len)
{
	bool changed = out_len != (uint32_t)len || memcmp(in, out, len);
	struct wf w;
	int off;

	if (verdict != TC_ACT_OK)
		return;
	wf_check_as(in, len, &w, false);
	if (r->ingress != D_S7) {
		if (is_sector_dev(r->ingress) && r->ingress != D_S6)
			V(P_G, "an egress device passed what %s sent, which "
			  "steers nothing there", dev_names[r->ingress]);
		return;
	}
	if (w.kind != WF_OK && !(w.kind == WF_FRAGMENT && steerable(in, &w))) {
		V(P_G, "passed from the steered sector, and it is %s", w.why);
		return;
	}
	/* ICMP errors were translated by the sector's tc ingress (for the
	 * flow they are about): they pass as they are, from the device's
	 * address (e0) or the VM's (e1). */
	if (w.err) {
		if (changed)
			V(P_C, "the egress device's tc egress changed a steered "
			  "ICMP error");
		else if (r->dev == D_E0 ? !addr_is(in + 26, E0_ADDR) :
			 !vm7_addr(in + 26))
			V(P_G, "%s passed an ICMP error from a source not its "
			  "flows'", dev_names[r->dev]);
		else if (!seeding)
			eg_stats[EG_OUT_ICMP]++;
		return;
	}
	if (w.later ? !later_may_go(in, &w, r->dev) :
		      steered_to(in, &w) != r->dev)
		V(P_G, "left %s, and no policy of it claims it",
		  dev_names[r->dev]);
	else if (r->dev == D_E0 && !addr_is(out + 26, E0_ADDR))
		V(P_G, "left e0 without e0's address");
	else if (r->dev == D_E1 && changed)
		V(P_G, "translated at e1, whose policy routes untranslated");
	else if (!seeding)
		eg_stats[r->dev == D_E0 ? EG_OUT_SNAT : EG_OUT_ROUTED]++;
	if (!changed || out_len != (uint32_t)len)
		return;
	if (in[22] != out[22])
		V(P_C, "the egress device's tc egress changed the TTL");
	off = off_side(in, len, out, &w, false);
	if (off >= 0)
		V(P_C, "the egress device's tc egress changed more than the "
		  "source (%s)", where(&w, off));
}

/*
 * An egress device's tc ingress: what it delivers (redirects) is a
 * steered flow's reply or an ICMP error about one, for a VM of the
 * steered sector: on e0 one to e0's address, translated back as a NAT
 * reverses (the destination side, an ICMP error's embedded source
 * side), on e1 one to the VM, untranslated; its TTL one hop less. What
 * it passes on to the kernel translated (too big for the sector device:
 * the kernel forwards it, a hop on) keeps its TTL.
 */
static void judge_steered_in(const struct run *r, uint32_t verdict,
			     const uint8_t *in, int len, const uint8_t *out,
			     uint32_t out_len)
{
	bool changed = out_len != (uint32_t)len || memcmp(in, out, len);
	bool redirect = verdict == TC_ACT_REDIRECT;
	struct wf w;
	int off;

	if (!redirect && (verdict != TC_ACT_OK || !changed))
		return;
	wf_check(in, len, &w);
	if (w.kind != WF_OK && w.kind != WF_FRAGMENT) {
		if (!changed)	/* (a) judges the rewritten ones */
			V(P_G, "redirected, and it is %s", w.why);
		return;
	}
	if (out_len != (uint32_t)len)
		return;		/* (c) */
	if (r->dev == D_E0 ? !addr_is(in + 30, E0_ADDR) : !vm7_addr(in + 30))
		V(P_G, "%s delivered what is for no flow steered out of it",
		  dev_names[r->dev]);
	else if (!vm7_addr(out + 30))
		V(P_G, "delivered to no VM of the steered sector");
	if (redirect && (in[22] <= 1 || out[22] != in[22] - 1))
		V(P_C, "a steered flow's packet delivered with a TTL not one "
		  "hop less");
	if (!redirect && out[22] != in[22])
		V(P_C, "passed on to the kernel translated with another TTL");
	off = off_side(in, len, out, &w, true);
	if (off >= 0)
		V(P_C, "the egress device's tc ingress changed more than the "
		  "destination (%s)", where(&w, off));
	if (r->dev == D_E1) {
		for (int i = 0; i < len; i++) {
			if (in[i] != out[i] && i != 22 && i != 24 && i != 25) {
				V(P_G, "translated at e1, whose policy "
				  "routes untranslated (%s)", where(&w, i));
				break;
			}
		}
	}
	if (seeding || !redirect)
		return;
	eg_stats[r->dev == D_E0 ? EG_BACK_SNAT : EG_BACK_ROUTED]++;
	eg_stats[EG_BACK_ICMP] += w.err;
}

/*
 * (g) for every run: the sector's XDP takes no steered sector's packet
 * (it passes them up to tc); its tc ingress, the egress devices' tc
 * egress and ingress as above; the uplink's tc egress passes nothing a
 * policy of the sector it came from claims (no fallback); nothing from
 * the uplink or the trusted t0 reaches a VM of the steered sector, whose
 * routed flows' replies come back by e1 only.
 */
static void judge_steering(const struct run *r, uint32_t verdict,
			   const uint8_t *in, int len, const uint8_t *out,
			   uint32_t out_len)
{
	bool pass = verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT;
	struct wf w;

	switch (r->prog) {
	case SG_PROG_XDP_SECTOR:
		if (r->dev == D_S7 && verdict == XDP_REDIRECT)
			V(P_G, "the fast path took a steered sector's packet");
		return;
	case SG_PROG_TC_SECTOR_IN:
		judge_steer(r, verdict, in, len, out, out_len);
		return;
	case SG_PROG_TC_UPLINK_OUT:
		if (r->dev != D_UP0 || r->ingress != D_S7 ||
		    steered_frame(in, len) < 0)
			return;
		wf_check_as(in, len, &w, false);
		if (pass)
			V(P_G, "the uplink's tc egress passed what a policy "
			  "claims");
		else if (!seeding && mappable(in, &w))
			eg_stats[EG_KEPT_OFF]++;
		return;
	case SG_PROG_TC_TRUSTED_OUT:
		if (is_egress_dev(r->dev))
			judge_steered_out(r, verdict, in, len, out, out_len);
		return;
	case SG_PROG_TC_TRUSTED_IN:
		if (is_egress_dev(r->dev)) {
			judge_steered_in(r, verdict, in, len, out, out_len);
			return;
		}
		if (r->dev != D_T0)
			return;
		break;
	case SG_PROG_TC_UPLINK_IN:
	case SG_PROG_XDP_UPLINK:
		if (r->dev != D_UP0)
			return;
		if (r->prog == SG_PROG_XDP_UPLINK)
			pass = verdict == XDP_REDIRECT;
		break;
	default:
		return;
	}
	wf_check(in, len, &w);
	if (!pass || (w.kind != WF_OK && w.kind != WF_FRAGMENT))
		return;
	if (vm7_addr(in + 30))
		V(P_G, "let in for the steered sector from %s",
		  dev_names[r->dev]);
	else if ((addr_is(in + 30, E0_ADDR) || addr_is(in + 30, E1_ADDR)) &&
		 (verdict != TC_ACT_OK || memcmp(in, out, len)))
		V(P_G, "delivered from %s what is for an egress device",
		  dev_names[r->dev]);
#undef V
}

/*
 * What a first fragment's TCP/UDP/ICMP checksum covers of it (the pseudo
 * header's addresses, the L4 bytes it carries) summed with the checksum:
 * an update made for the whole datagram keeps it, 0 and 0xffff alike.
 */
static uint16_t frag_l4_sum(const uint8_t *f, const struct wf *w)
{
	uint32_t s = w->proto == 1 ? 0 : add_bytes(0, f + 14 + 12, 8);
	uint16_t v = fold(add_bytes(s, f + w->l4, w->end - w->l4));

	return v == 0xffff ? 0 : v;
}

/* Does the path of run r follow a datagram's fragments: the uplink's
 * NAT, and steering (the steered sector's tc ingress, where it sends one
 * to an egress device; the egress devices' tc egress and ingress)? */
static bool follows_fragments(const struct run *r, uint32_t verdict)
{
	switch (r->prog) {
	case SG_PROG_TC_UPLINK_OUT:
	case SG_PROG_TC_UPLINK_IN:
		return true;
	case SG_PROG_TC_SECTOR_IN:
		return r->dev == D_S7 && verdict == TC_ACT_REDIRECT;
	case SG_PROG_TC_TRUSTED_OUT:
	case SG_PROG_TC_TRUSTED_IN:
		return is_egress_dev(r->dev);
	default:
		return false;
	}
}

/* (a): a fragment the NAT rewrote (the uplink's or steering's), as it
 * followed its first. */
static void judge_fragment(const struct run *r, uint32_t verdict,
			   const uint8_t *in, int len, const uint8_t *out,
			   uint32_t out_len, const struct wf *wi)
{
	int uoff = wi->l4 + 6;

	stats[slot_of(r)].frag_first += wi->first;
	stats[slot_of(r)].frag_later += wi->later;
#define V(...) violation(P_A, r, verdict, in, len, out, out_len, __VA_ARGS__)
	if (out_len != (uint32_t)len) {
		V("a fragment's length changed");
		return;
	}
	for (int i = 0; i < len; i++)
		if (in[i] != out[i] && !nat_field(wi, i)) {
			V("a fragment's byte no NAT changes was changed (%s)",
			  i >= wi->end ? "Ethernet padding" :
			  i < wi->l4 ? "IP header" : "L4 or payload");
			break;
		}
	if (!csum(in + 14, wi->hlen) && csum(out + 14, wi->hlen))
		V("a fragment's IP header checksum broken by the rewrite");
	if (wi->first && wi->proto == 17 && !rd16(in + uoff) != !rd16(out + uoff))
		V("a first fragment's zero (no) UDP checksum changed, or "
		  "became zero");
	else if (wi->first && (wi->proto == 6 || wi->proto == 17 ||
			       wi->proto == 1) &&
		 !(wi->proto == 17 && !rd16(in + uoff)) &&
		 frag_l4_sum(in, wi) != frag_l4_sum(out, wi))
		V("a first fragment's L4 checksum not updated with what it "
		  "covers");
	judge_ttl(r, verdict, in, len, out, wi);
#undef V
}

/* An address of one of the definitions' sectors (their CIDRs). */
static bool sector_addr(const uint8_t *p)
{
	static const char *const nets[] = {
		"10.1.0.0", "10.2.0.0", "10.3.0.0", "10.4.0.0", "10.7.0.0",
	};

	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (in_net(p, nets[i], 24))
			return true;
	return false;
}

/* A sector device of the definitions' (s6 is nobody's). */
static bool ours_sector_dev(int d)
{
	return d < D_S6 || d == D_S7;
}

/* Of (h): forwarded frames the uplink's tc egress passed (and t0's, of
 * what no sector device sent), and of the uplink's vm1's answers to its
 * management LAN. */
static unsigned long leak_judged[2], leak_mgmt;

/*
 * (h): what the uplink's tc egress passes of what the kernel forwarded
 * (an ingress device) to an address off the sectors, IPv4 as the kernel
 * forwards it (its header checksum right), has no sector's address as
 * its source, nor (from a VM) as the embedded destination of an ICMP
 * error: the VM it is about; what vm1 sends its management LAN leaves
 * untranslated. The same at t0's tc egress for what came from any device
 * but a sector's (what a VM sends t0 is allow-from's, and (g)'s).
 */
static void judge_leak(const struct run *r, uint32_t verdict,
		       const uint8_t *in, int len, const uint8_t *out,
		       uint32_t out_len)
{
	bool uplink = r->prog == SG_PROG_TC_UPLINK_OUT && r->dev == D_UP0;
	bool trusted = r->prog == SG_PROG_TC_TRUSTED_OUT && r->dev == D_T0;
	bool mgmt;
	struct wf w;

	if (!(uplink || (trusted && !ours_sector_dev(r->ingress))) ||
	    r->ingress == D_NONE ||
	    (verdict != TC_ACT_OK && verdict != TC_ACT_REDIRECT))
		return;
	/* As the kernel forwards it: its IP header checksum verified, and
	 * not for a sector's address (routed to a sector device). */
	wf_check_as(in, len, &w, true);
	if ((w.kind != WF_OK && w.kind != WF_FRAGMENT) || sector_addr(in + 30))
		return;
	wf_check_as(out, out_len, &w, false);
	mgmt = uplink && r->ingress == D_S1 &&
	       in_net(out + 30, "192.168.1.0", 24);
	if (!seeding) {
		leak_judged[trusted]++;
		leak_mgmt += mgmt;
	}
	if (mgmt)
		return;
	if (sector_addr(out + 26))
		violation(P_H, r, verdict, in, len, out, out_len,
			  "left %s from a sector's address", dev_names[r->dev]);
	else if (uplink && w.err && ours_sector_dev(r->ingress) &&
		 sector_addr(out + w.emb + 16))
		violation(P_H, r, verdict, in, len, out, out_len,
			  "a VM's ICMP error left the uplink about its own "
			  "address");
}

static void judge(const struct run *r, const uint8_t *in, int len,
		  const uint8_t *out, uint32_t out_len, uint32_t verdict,
		  int ret)
{
	bool xdp = is_xdp(r->prog), pass, known, changed;
	/* What tc egress sees, the kernel has received and forwarded. */
	bool egress = r->prog == SG_PROG_TC_UPLINK_OUT ||
		      r->prog == SG_PROG_TC_TRUSTED_OUT ||
		      r->prog == SG_PROG_TC_SECTOR_OUT;
	int slot = slot_of(r);
	const char *field;
	struct wf wi;

	stats[slot].runs++;
	total_runs++;
	if (ret) {
		if (kernel_refuses(r, in, len, ret)) {
			stats[slot].refused++;
			return;
		}
		violation(P_D, r, verdict, in, len, NULL, 0,
			  "test run failed: %s", strerror(-ret));
		return;
	}
	if (xdp) {
		known = verdict == XDP_DROP || verdict == XDP_PASS ||
			verdict == XDP_REDIRECT;
		pass = verdict == XDP_PASS || verdict == XDP_TX ||
		       verdict == XDP_REDIRECT;
	} else {
		known = verdict == TC_ACT_OK || verdict == TC_ACT_SHOT ||
			verdict == TC_ACT_REDIRECT;
		pass = verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT;
	}
	if (!known)
		violation(P_D, r, verdict, in, len, out, out_len,
			  "unexpected verdict %u", verdict);
	if (!pass)
		stats[slot].drop++;
	else if (verdict == XDP_REDIRECT || verdict == TC_ACT_REDIRECT)
		stats[slot].redirect++;
	else
		stats[slot].pass++;
	judge_steering(r, verdict, in, len, out, out_len);
	judge_leak(r, verdict, in, len, out, out_len);
	changed = out_len != (uint32_t)len || memcmp(in, out, len);
	if (!pass || !changed)
		return;
	stats[slot].rewritten++;
	wf_check_as(in, len, &wi, !egress);
	if (wi.kind == WF_FRAGMENT && follows_fragments(r, verdict)) {
		judge_fragment(r, verdict, in, len, out, out_len, &wi);
		return;
	}
	if (wi.kind != WF_OK) {
		violation(P_A, r, verdict, in, len, out, out_len,
			  "%s frame changed, verdict %s", wi.why,
			  verdict == XDP_PASS && xdp ? "pass" :
			  verdict == TC_ACT_OK && !xdp ? "ok" : "redirect");
		return;
	}
	if (!may_rewrite(r, verdict) && !sector_pass(r->prog, verdict))
		violation(P_E, r, verdict, in, len, out, out_len,
			  "frame changed although the verdict is %u", verdict);
	/* A new frame, not a rewrite of this one (judge_steer judged it). */
	if (r->prog == SG_PROG_TC_SECTOR_IN && verdict == TC_ACT_REDIRECT &&
	    too_big_answer(in, len, out, out_len))
		return;
	if (out_len != (uint32_t)len) {
		violation(P_C, r, verdict, in, len, out, out_len,
			  "rewrite changed the length");
		return;
	}
	if (sector_pass(r->prog, verdict))
		judge_imds_rewrite(r, verdict, in, len, out, &wi);
	for (int i = 0; i < len; i++) {
		if (in[i] == out[i] || nat_field(&wi, i))
			continue;
		field = i >= wi.end ? "Ethernet padding" :
			i < wi.l4 ? "IP header" : "L4 or payload";
		violation(P_C, r, verdict, in, len, out, out_len,
			  "a byte no NAT changes was changed (%s)", field);
		break;
	}
	judge_ttl(r, verdict, in, len, out, &wi);
	judge_sums(r, verdict, in, len, out, out_len, &wi);
	if (seeding)
		return;
	dnat_stats[slot][DN_IMDS_OUT] += imds_request(in, &wi) ||
		(r->prog == SG_PROG_TC_UPLINK_OUT && addr_is(in + 30, target) &&
		 tcp_udp(&wi) && rd16(in + wi.l4 + 2) == target_port);
	dnat_stats[slot][DN_IMDS_BACK] += imds_reply(in, &wi);
	dnat_passed[DN_IMDS_OUT] += r->prog == SG_PROG_XDP_SECTOR &&
				    verdict == XDP_PASS;
	dnat_stats[slot][DN_FWD_IN] += published_at(in, &wi, false);
	dnat_stats[slot][DN_FWD_OUT] += published_at(out, &wi, true);
	dnat_stats[slot][DN_FWD_ICMP] += published_inside(in, &wi) ||
					 published_inside(out, &wi);
	eg_stats[EG_EXCEPT] += r->prog == SG_PROG_TC_UPLINK_OUT &&
			       r->ingress == D_S7;
	stats[slot].tcp += wi.proto == 6;
	stats[slot].udp += wi.proto == 17;
	stats[slot].echo += wi.proto == 1 && !wi.err;
	stats[slot].errors += wi.err;
	stats[slot].options += wi.hlen > 20;
	stats[slot].padded += wi.end < len;
	stats[slot].unfinished += l4_unfinished(in, &wi) &&
				  l4_sum_ok(in, &wi) != 1;
	stats[slot].emb_sum += wi.err && emb_csum_off(&wi) >= 0 &&
			       wi.el4 + emb_csum_off(&wi) + 2 <= wi.end;
}

/* ---- Episodes ------------------------------------------------------ */

static uint8_t out_buf[OUT_SIZE];

/* What each program made of the current frame. */
static struct result {
	struct run r;
	uint32_t verdict, len;
	uint8_t out[OUT_SIZE];
} res[NSLOTS];

/* This frame's uplink egress ran on the sector's tc ingress's rewrite. */
static bool egress_fed;

/* Run one frame through one program, judge it, tell if verbose. */
static uint32_t run_judged(const struct run *r, const uint8_t *in, int len)
{
	uint32_t out_len = 0, verdict = 0;
	int ret = run_prog(r, in, len, out_buf, &out_len, &verdict);

	if (verbose) {
		printf("    %s dev %s ingress %s: ret %d verdict %u%s\n",
		       slot_names[r->prog], dev_names[r->dev],
		       is_xdp(r->prog) ? "-" : dev_names[r->ingress], ret,
		       verdict, !ret && (out_len != (uint32_t)len ||
					 memcmp(in, out_buf, len)) ?
		       ", changed" : "");
		hex("in", in, len);
		if (!ret && (out_len != (uint32_t)len ||
			     memcmp(in, out_buf, len)))
			hex("out", out_buf, out_len);
	}
	judge(r, in, len, out_buf, out_len, verdict, ret);
	res[slot_of(r)].r = *r;
	res[slot_of(r)].verdict = ret ? (uint32_t)-1 : verdict;
	res[slot_of(r)].len = ret ? 0 : out_len;
	memcpy(res[slot_of(r)].out, out_buf, ret ? 0 : out_len);
	return ret ? (uint32_t)-1 : verdict;
}

/* Do two translations of frame `in` agree, but for what only one of
 * them does (MACs, TTL and so the IP checksum) and a TCP/UDP checksum
 * that was not right (the fast path finishes one left unfinished)? */
static bool same_nat(const uint8_t *in, int len, const struct result *a,
		     const struct result *b)
{
	struct wf w;
	int csum_at = -1;

	if (a->len != b->len || a->len != (uint32_t)len)
		return false;
	if (wf_check_as(in, len, &w, false) == WF_OK && l4_sum_ok(in, &w) == 0)
		csum_at = w.l4 + (w.proto == 6 ? 16 : 6);
	for (int i = 12; i < len; i++) {
		if (i == 14 + 8 || i == 14 + 10 || i == 14 + 11 ||
		    i == csum_at || i == csum_at + 1)
			continue;
		if (a->out[i] != b->out[i])
			return false;
	}
	return true;
}

/*
 * (f): a frame the XDP fast path redirects out of the uplink, tc egress
 * of the uplink (for the same sector device) passes translated alike; a
 * reply the uplink's XDP redirects, its tc ingress translates alike. The
 * fast path only ever saves work.
 */
static void judge_paths(const uint8_t *in, int len)
{
	static const int pairs[2][2] = {
		{ SG_PROG_XDP_SECTOR, SG_PROG_TC_UPLINK_OUT },
		{ SG_PROG_XDP_UPLINK, SG_PROG_TC_UPLINK_IN },
	};

	for (int i = 0; i < 2; i++) {
		const struct result *x = &res[pairs[i][0]];
		const struct result *t = &res[pairs[i][1]];
		bool out = !i, printed;
		struct wf w;

		if (x->verdict != XDP_REDIRECT || t->r.dev != D_UP0 ||
		    (out ? !is_sector_dev(x->r.dev) ||
			   t->r.ingress != x->r.dev :
			   x->r.dev != D_UP0))
			continue;
		wf_check_as(in, len, &w, false);
		/* The metadata request tc egress saw as the VM sent it: the
		 * sector's ingress that rewrites it ran elsewhere. */
		if (out && imds_request(in, &w) && imds_rewrites() &&
		    !egress_fed)
			continue;
		if (t->verdict != TC_ACT_OK &&
		    !(!out && t->verdict == TC_ACT_REDIRECT)) {
			violation(P_F, &x->r, x->verdict, in, len, x->out,
				  x->len, "the fast path redirects what %s "
				  "drops (verdict %d)", slot_names[t->r.prog],
				  (int)t->verdict);
			continue;
		}
		if (w.kind == WF_OK) {
			dnat_compared[DN_IMDS_OUT] += out &&
						      imds_request(in, &w);
			dnat_compared[DN_IMDS_BACK] += !out &&
						       imds_reply(in, &w);
			dnat_compared[DN_FWD_IN] += !out &&
						    published_at(in, &w, false);
			dnat_compared[DN_FWD_OUT] +=
				out && x->len == (uint32_t)len &&
				published_at(x->out, &w, true);
		}
		if (same_nat(in, len, x, t))
			continue;
		printed = violation(P_F, &x->r, x->verdict, in, len, x->out,
				    x->len, "the fast path and %s translate "
				    "differently", slot_names[t->r.prog]);
		if (printed)
			hex("tc out", t->out, t->len);
	}
}

static void flows_clear(void)
{
	dp_flush_flows();
}

static unsigned long seed_bad;	/* seeding runs that did not go as meant */

/* Run one opening (or answering) frame; count it if it does not go as
 * meant: verdict want, rewritten or not. */
static void seed_run(const struct run *r, const uint8_t *f, int len,
		     uint32_t want, bool rewrite)
{
	uint32_t v = run_judged(r, f, len);

	if (v == want && rewrite == !!memcmp(f, out_buf, len))
		return;
	seed_bad++;
	if (verbose || seed_bad <= REPORT_FULL)
		printf("# opening the flows: %s dev %s ingress %s: verdict %d, "
		       "want %d%s\n", slot_names[r->prog], dev_names[r->dev],
		       is_xdp(r->prog) ? "-" : dev_names[r->ingress], (int)v,
		       (int)want, rewrite ? ", rewritten" : ", untouched");
}

/*
 * The VM's packet of flow fl (its first, or its answer), through what
 * carries it out: the sector's XDP (fast path), or tc (the sector's
 * ingress, which rewrites a metadata request's destination, then the
 * uplink's egress; or steers it, a hop on, to the egress device, whose
 * egress translates it unless it is routed).
 */
static void seed_from_vm(const struct flow_def *fl, struct pkt *p, bool xdp)
{
	struct run r = { SG_PROG_XDP_SECTOR, fl->dev, D_NONE };
	uint8_t f[MAX_FRAME];
	int len = dp_build(p, f);
	bool imds = fl->kind == K_IMDS;

	/* The sector's tc ingress opens the flow; the device's tc egress
	 * only translates it, which the fuzzed frames see to (judge_fed()):
	 * seeding is most of the fuzzer's time. */
	if (steered(fl)) {
		r.prog = SG_PROG_TC_SECTOR_IN;
		seed_run(&r, f, len, TC_ACT_REDIRECT, true);
		return;
	}
	if (xdp) {
		/* allow-from's answers are the stack's: nothing to do. */
		seed_run(&r, f, len, translated(fl) ? XDP_REDIRECT : XDP_PASS,
			 translated(fl));
		return;
	}
	/* A masquerade flow's packet the sector's tc ingress only judges
	 * (nothing to open, answer or rewrite), as it does every fuzzed
	 * frame: seeding is most of the fuzzer's time. */
	r.prog = SG_PROG_TC_SECTOR_IN;
	if (fl->kind != K_SNAT)
		seed_run(&r, f, len, TC_ACT_OK, imds && imds_rewrites());
	if (!translated(fl))
		return;
	if (imds)	/* on from the rewrite */
		memcpy(f, out_buf, len);
	r = (struct run){ SG_PROG_TC_UPLINK_OUT, D_UP0, fl->dev };
	seed_run(&r, f, len, TC_ACT_OK, true);
}

/* The remote's packet of flow fl (its first, or its answer), through the
 * uplink's XDP (a flow the fast path took out) or tc ingress. */
static void seed_from_remote(const struct flow_def *fl, struct pkt *p,
			     bool xdp)
{
	struct run r = { xdp ? SG_PROG_XDP_UPLINK : SG_PROG_TC_UPLINK_IN,
			 fl->far, D_NONE };
	uint8_t f[MAX_FRAME];
	int len = dp_build(p, f);

	if (fl->far == D_T0 || is_egress_dev(fl->far))
		r.prog = SG_PROG_TC_TRUSTED_IN;
	/* Only s1's peer takes XDP frames (GRO on): the uplink's XDP leaves
	 * the others' to tc. */
	if (xdp && fl->dev != D_S1)
		seed_run(&r, f, len, XDP_PASS, false);
	else	/* a steered flow's reply: a hop on, if nothing else */
		seed_run(&r, f, len, xdp ? XDP_REDIRECT : !delivered(fl) ?
				     TC_ACT_OK : TC_ACT_REDIRECT,
			 delivered(fl));
}

/*
 * Open the episode's flows; answer some of them already: a masquerade or
 * metadata flow on the path it was opened on, a forward by the VM at XDP
 * (which learns its MAC: the fast path delivers the client's next
 * packets) or at tc (which does not), allow-from's by the VM.
 */
static void episode_flows(void)
{
	flows_clear();
	seeding = true;
	for (int i = 0; i < NFLOWS; i++) {
		const struct flow_def *fl = &flows[i];
		bool xdp = fl->via == SG_PROG_XDP_SECTOR;
		struct pkt p = flow_pkt(fl, inbound(fl), inbound(fl));

		if (p.proto == 6)
			p.tcp_flags = SYN;
		if (inbound(fl))
			seed_from_remote(fl, &p, false);
		else
			seed_from_vm(fl, &p, xdp);
		if (fl->kind == K_SECTOR || chance(50))
			continue;
		/* The first answer: keeps the delivery for the next ones. */
		p = flow_pkt(fl, !inbound(fl), !inbound(fl));
		if (p.proto == 6)
			p.tcp_flags = SYN | ACK;
		if (inbound(fl))
			seed_from_vm(fl, &p, chance(50));
		else
			seed_from_remote(fl, &p, xdp);
	}
	seeding = false;
}

/*
 * The devices a frame from `origin` meets, program by program, in a
 * random order: the egress device's tc egress is mostly the one a policy
 * sends the frame to, fed by the sector's tc ingress (run_episode()),
 * its tc ingress mostly the one the frame arrives on.
 */
static void plan(int origin, const uint8_t *f, int len, struct run *runs)
{
	int sector = is_sector_dev(origin) ? origin : (int)rn(NSECT);
	int to = steered_frame(f, len);

	for (int p = 0; p < NSLOTS; p++) {
		struct run *r = &runs[p];

		r->prog = slot_prog(p);
		r->ingress = D_NONE;
		switch (p) {
		case SG_PROG_XDP_SECTOR:
		case SG_PROG_TC_SECTOR_IN:
			r->dev = sector;
			break;
		case SG_PROG_TC_SECTOR_OUT:
			r->dev = rn(NSECT);
			break;
		case SG_PROG_TC_UPLINK_OUT:
			r->dev = D_UP0;
			r->ingress = chance(90) ? sector :
				     PICK(((const int[]){ D_NONE, D_UP0, D_T0,
							  D_S6 }));
			break;
		case SG_PROG_TC_TRUSTED_OUT:
			r->dev = D_T0;
			r->ingress = chance(90) ? sector : (int)rn(ND);
			break;
		case SG_PROG_TC_TRUSTED_IN:
			r->dev = D_T0;
			break;
		case R_EGRESS_IN:
			r->dev = is_egress_dev(origin) && chance(90) ? origin :
				 chance(50) ? D_E0 : D_E1;
			break;
		case R_EGRESS_OUT:
			r->dev = to >= 0 && chance(90) ? to :
				 chance(50) ? D_E0 : D_E1;
			r->ingress = chance(90) ? sector : (int)rn(ND);
			break;
		default:
			r->dev = D_UP0;
		}
		if (chance(3)) {	/* the program on a device not its own */
			r->dev = rn(ND - 1);
			r->ingress = rn(ND);
		}
	}
	for (int i = NSLOTS - 1; i > 0; i--) {
		int j = rn(i + 1);
		struct run t = runs[i];

		runs[i] = runs[j];
		runs[j] = t;
	}
	/* The uplink's and the egress devices' tc egress see what the
	 * sector's ingress passed on or redirected: it goes first. */
	for (int i = 0, out = -1; i < NSLOTS; i++) {
		if (out < 0 && (runs[i].prog == SG_PROG_TC_UPLINK_OUT ||
				runs[i].prog == SG_PROG_TC_TRUSTED_OUT))
			out = i;
		if (runs[i].prog == SG_PROG_TC_SECTOR_IN && out >= 0) {
			struct run t = runs[i];

			runs[i] = runs[out];
			runs[out] = t;
			break;
		}
	}
}

/*
 * Changes that keep a frame well-formed, or nearly: what a strange but
 * honest sender, or a router on the way, may do. The sums are made right
 * afterwards.
 */
static void mutate_benign(uint8_t *f, int *lenp)
{
	int len = *lenp, hlen, tot, l4, n, v;
	struct wf w;

	if (wf_check(f, len, &w) != WF_OK && w.kind != WF_FRAGMENT)
		return;
	hlen = w.hlen;
	tot = w.tot;
	l4 = w.l4;
	switch (rn(10)) {
	case 0:		/* Ethernet padding */
		*lenp = insert_bytes(f, len, len, 1 + rn(48), chance(50),
				     false);
		break;
	case 1:		/* the IP packet ends earlier: the rest is padding */
		n = 1 + (chance(50) ? rn(8) : rn(tot - hlen + 1));
		if (n <= tot - hlen)
			wr16(f + 16, tot - n);
		break;
	case 2:		/* IP options */
		n = 1 + rn((60 - hlen) / 4 + 1);
		if (hlen + 4 * n <= 60) {
			*lenp = insert_bytes(f, len, l4, 4 * n, false, true);
			if (chance(50))
				memset(f + l4, chance(50) ? 1 : 0, 4 * n);
			f[14] = 0x40 | (hlen / 4 + n);
		}
		break;
	case 3:		/* TCP options */
		v = w.proto == 6 ? f[l4 + 12] >> 4 : 15;
		n = 1 + rn(4);
		if (v + n <= 15 && !w.later) {
			*lenp = insert_bytes(f, len, l4 + v * 4, 4 * n,
					     chance(30), true);
			f[l4 + 12] = (v + n) << 4 | (f[l4 + 12] & 15);
		}
		break;
	case 4:		/* a UDP datagram shorter than its IP payload */
		if (w.proto == 17 && !w.later && w.l4len > 8)
			wr16(f + l4 + 4, 8 + rn(w.l4len - 8));
		break;
	case 5:		/* payload */
		*lenp = insert_bytes(f, len, w.end, 1 + rn(300), chance(20),
				     true);
		break;
	case 6:		/* TTL */
		f[22] = PICK(((const uint8_t[]){ 0, 1, 2, 255 }));
		break;
	case 7:		/* TOS, id, DF */
		f[15] = rnd();
		wr16(f + 18, rnd());
		f[20] ^= chance(50) ? 0x40 : 0;
		break;
	case 8:		/* no UDP checksum; no ICMP error but the header */
		if (w.proto == 17 && !w.later)
			wr16(f + l4 + 6, 0);
		break;
	case 9:		/* an ICMP error's embedded packet as routers cut it */
		if (w.err)
			wr16(f + 16, hlen + 8 + w.ehlen +
				     PICK(((const int[]){ 0, 4, 8, 12, 20,
							  28 })));
		if (rd16(f + 16) > len - 14)
			wr16(f + 16, tot);
		break;
	}
}

/* One frame: seed, grow, mutate, fix the sums mostly. */
static int make_frame(uint8_t *f, int *origin)
{
	int len = seed_frame(f, origin), n, kind = rn(100);

	len = seed_grow(f, len);
	if (kind < 25)
		return len;
	if (kind < 60) {
		n = 1 + rn(3);
		for (int i = 0; i < n; i++)
			mutate_benign(f, &len);
		fix_sums(f, len);
		if (chance(10))
			unfinish(f, len);
		return len;
	}
	n = 1 + rn(4);
	for (int i = 0; i < n; i++)
		mutate(f, &len);
	if (chance(70))
		fix_sums(f, len);
	return len;
}

/*
 * (g): what the sector's tc ingress steered to a device, that device's
 * tc egress passes (translating it): were it to drop it, the packet
 * would be lost between the two. Not judged for a later fragment: it
 * went where its first did, which this checker does not keep.
 */
static void judge_fed(const struct run *r, uint32_t verdict,
		      const uint8_t *in, int len)
{
	struct wf w;

	wf_check_as(in, len, &w, false);
	if (w.later || r->dev != steered_frame(in, len) ||
	    verdict == (uint32_t)-1)
		return;
	if (!seeding)
		eg_stats[EG_FED]++;
	if (verdict != TC_ACT_OK)
		violation(P_G, r, verdict, in, len, NULL, 0, "%s's tc egress "
			  "drops what the sector's tc ingress steered to it",
			  dev_names[r->dev]);
}

/*
 * Make f the rest of the episode's latest first fragment, from the same
 * device: its headers at an offset, the last fragment or not, so that
 * the NAT's following of a datagram is fuzzed too. Returns the length,
 * 0 when the episode has sent no first fragment yet.
 */
static int later_fragment(uint8_t *f, int *origin)
{
	struct wf w;
	int len;

	for (int i = frame_no - 1; i >= 0; i--) {
		if (wf_check(episode_frame[i], episode_len[i], &w) !=
		    WF_FRAGMENT || !w.first)
			continue;
		len = episode_len[i];
		memcpy(f, episode_frame[i], len);
		wr16(f + 14 + 6, (chance(50) ? 0x2000 : 0) | (1 + rn(180)));
		if (chance(30))
			f[w.l4 + rn(w.end - w.l4 > 0 ? w.end - w.l4 : 1)] ^=
				1 << rn(8);
		fix_sums(f, len);
		*origin = episode_origin[i];
		return len;
	}
	return 0;
}

static int run_episode(unsigned long e, int max_frames)
{
	struct run runs[NSLOTS];
	uint8_t f[MAX_FRAME];
	int origin, len;

	episode = e;
	if (load_definitions(imds_variant(e)))
		seed_bad++;
	rs = splitmix(seed ^ splitmix(e + 1)) | 1;
	episode_frames = 1 + rn(EPISODE_MAX);
	if (episode_frames > max_frames)
		episode_frames = max_frames;
	frame_no = 0;
	if (verbose)
		printf("# episode %lu: opening the flows\n", e);
	episode_flows();
	for (frame_no = 0; frame_no < episode_frames; frame_no++) {
		memset(f, 0, sizeof(f));
		len = chance(25) ? later_fragment(f, &origin) : 0;
		if (!len)
			len = make_frame(f, &origin);
		/* Time passes: kept decisions go stale (1 s), flows expire
		 * (icmp 60 s, tcp-transitory 240 s, udp 300 s). */
		if (frame_no && chance(10)) {
			uint64_t ms = PICK(((const uint32_t[]){
				1100, 2500, 61000, 241000, 301000 }));

			dp_in.skel->bss->sg_clock_offset_ns += ms * 1000000;
			if (verbose)
				printf("# %" PRIu64 " ms later\n", ms);
		}
		if (verbose)
			printf("# episode %lu frame %d\n", e, frame_no);
		plan(origin, f, len, runs);
		egress_fed = false;
		/* No earlier frame's result feeds this one's. */
		res[SG_PROG_TC_SECTOR_IN].verdict = (uint32_t)-1;
		for (int i = 0; i < NSLOTS; i++) {
			const struct result *si = &res[SG_PROG_TC_SECTOR_IN];
			const uint8_t *in = f;
			bool steer_fed = false;
			uint32_t v;

			/* What the sector's tc ingress rewrote (the metadata
			 * request's destination), the kernel forwards so. */
			if (runs[i].prog == SG_PROG_TC_UPLINK_OUT &&
			    si->verdict == TC_ACT_OK &&
			    si->r.dev == runs[i].ingress &&
			    si->len == (uint32_t)len &&
			    memcmp(si->out, f, len)) {
				in = si->out;
				egress_fed = true;
			}
			/* What it redirected (steered) reaches the egress
			 * device as it left, a hop on. */
			if (runs[i].prog == SG_PROG_TC_TRUSTED_OUT &&
			    is_egress_dev(runs[i].dev) &&
			    si->verdict == TC_ACT_REDIRECT &&
			    si->r.dev == runs[i].ingress &&
			    si->len == (uint32_t)len) {
				in = si->out;
				steer_fed = true;
			}
			v = run_judged(&runs[i], in, len);
			if (steer_fed)
				judge_fed(&runs[i], v, in, len);
		}
		judge_paths(f, len);
		memcpy(episode_frame[frame_no], f, len);
		episode_len[frame_no] = len;
		episode_origin[frame_no] = origin;
	}
	return episode_frames;
}

/* ---- Tests --------------------------------------------------------- */

/* The checker itself: the seeds pass it, known bad frames do not. */
static void test_checker(void)
{
	struct pkt ok[] = {
		TCP("10.1.0.2", 1000, "203.0.113.5", 443, SYN),
		UDP("10.1.0.2", 1000, "203.0.113.5", 53),
		PING("10.1.0.2", "203.0.113.5", 7),
		{ .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
		  .ihl = 15, .pad = 20 },
	};
	struct pkt inner = TCP(SNAT, 40000, "203.0.113.5", 443, ACK);
	struct pkt err = { .src = "198.51.100.1", .dst = SNAT, .proto = 1,
			   .icmp_type = 3, .icmp_code = 4, .inner = &inner,
			   .inner_l4 = 8 };
	struct { struct pkt p; const char *why; } nok[] = {
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
		    .ihl = 4 }, "IHL below 5" },
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
		    .version = 6 }, "IP version not 4" },
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
		    .tot_len_adj = 1 }, "tot_len beyond the frame" },
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 6,
		    .l4_len = 19 }, "TCP header beyond tot_len" },
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 17,
		    .l4_len = 7 }, "UDP header beyond tot_len" },
		{ { .src = "10.1.0.2", .dst = "10.1.0.1", .proto = 1,
		    .icmp_type = 8, .l4_len = 7 },
		  "ICMP header beyond tot_len" },
		{ { .src = "198.51.100.1", .dst = SNAT, .proto = 1,
		    .icmp_type = 3, .inner = &inner, .inner_l4 = 7 },
		  "ICMP error: embedded header + 8 bytes beyond tot_len" },
	};
	uint8_t f[MAX_FRAME];
	struct wf w;
	int len;

	test_begin();
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		len = dp_build(&ok[i], f);
		CHECK(wf_check(f, len, &w) == WF_OK, "seed %zu: %s", i, w.why);
		CHECK(l4_sum_ok(f, &w) == 1, "seed %zu: L4 checksum", i);
	}
	len = dp_build(&err, f);
	CHECK(wf_check(f, len, &w) == WF_OK && w.err && w.eproto == 6,
	      "ICMP error: %s", w.why);
	CHECK(l4_sum_ok(f, &w) == 1 && emb_ip_ok(f, &w), "its checksums");
	for (size_t i = 0; i < sizeof(nok) / sizeof(nok[0]); i++) {
		len = dp_build(&nok[i].p, f);
		CHECK(wf_check(f, len, &w) == WF_MALFORMED &&
		      !strcmp(w.why, nok[i].why), "case %zu: %s, want %s", i,
		      w.why ? w.why : "well-formed", nok[i].why);
	}
	len = dp_build(&ok[0], f);
	f[24]++;
	CHECK(wf_check(f, len, &w) == WF_MALFORMED, "bad header checksum");
	len = dp_build(&ok[0], f);
	unfinish(f, len);
	CHECK(wf_check(f, len, &w) == WF_OK && l4_sum_ok(f, &w) == 0 &&
	      l4_unfinished(f, &w), "an unfinished checksum");
	test_end("fuzz: the checker takes well-formed seeds and refuses "
		 "malformed ones");
}

static unsigned long until_frames(unsigned long frames, double max_secs,
				  unsigned long *episodes)
{
	struct timespec t0, t;
	unsigned long done = 0, e = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < frames) {
		done += run_episode(e++, frames - done);
		if (max_secs > 0 && !(e % 64)) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec +
			    (t.tv_nsec - t0.tv_nsec) / 1e9 > max_secs)
				break;
		}
	}
	*episodes = e;
	return done;
}

static void report(void)
{
	static const char *const tests[NPROPS] = {
		"fuzz (a): malformed and non-IPv4 frames are never rewritten "
		"and let through, nor fragments but as the uplink's NAT or "
		"steering follows a datagram's first (fields, lengths, "
		"checksums)",
		"fuzz (b): rewritten frames carry right checksums (IP, TCP/UDP, "
		"ICMP, embedded)",
		"fuzz (c): rewrites keep the length and change only what NAT "
		"changes (TTL: a hop at most, none in metadata replies; "
		"steering: one side only)",
		"fuzz (d): every run succeeds with a verdict the program may "
		"return",
		"fuzz (e): frames a program declines are untouched; a "
		"sector's ingress makes the metadata rewrite only, and "
		"lowers the TTL of what it steers",
		"fuzz (f): what the XDP fast path translates, tc translates "
		"alike",
		"fuzz (g): steered traffic leaves by its policy's device, "
		"translated as the policy says, never by the uplink, and its "
		"replies come back by that device only",
		"fuzz (h): nothing forwarded leaves the uplink or a trusted "
		"device with a sector's address but allow-from's answers to "
		"the management LAN",
	};

	for (int i = 0; i < nkinds; i++)
		printf("#   %lu x %s [%s]: %s\n", kinds[i].count,
		       prop_names[kinds[i].prop], slot_names[kinds[i].prog],
		       kinds[i].what);
	for (int p = 0; p < NPROPS; p++) {
		test_begin();
		if (prop_count[p]) {
			printf("    %lu violations\n", prop_count[p]);
			sg_t_bad = 1;
		}
		test_end(tests[p]);
	}
}

static void test_coverage(unsigned long frames)
{
	static const int translating[] = {
		SG_PROG_XDP_SECTOR, SG_PROG_XDP_UPLINK, SG_PROG_TC_UPLINK_IN,
		SG_PROG_TC_UPLINK_OUT, R_EGRESS_IN, R_EGRESS_OUT,
	};

	test_begin();
	for (int p = 0; p < NSLOTS; p++)
		printf("# %-14s %8lu runs: %lu drop, %lu pass, %lu redirect, "
		       "%lu rewritten, %lu refused by the kernel\n",
		       slot_names[p], stats[p].runs, stats[p].drop,
		       stats[p].pass, stats[p].redirect, stats[p].rewritten,
		       stats[p].refused);
	for (size_t i = 0; i < sizeof(translating) / sizeof(int); i++) {
		int p = translating[i];

		printf("# %-14s fuzzed frames rewritten: %lu TCP, %lu UDP, %lu echo, %lu ICMP "
		       "errors (%lu with the embedded checksum); %lu with IP "
		       "options, %lu padded, %lu unfinished\n", slot_names[p],
		       stats[p].tcp, stats[p].udp, stats[p].echo,
		       stats[p].errors, stats[p].emb_sum, stats[p].options,
		       stats[p].padded, stats[p].unfinished);
	}
	printf("# fragments rewritten: %lu first and %lu later ones at "
	       "tc_uplink_out, %lu and %lu at tc_uplink_in; steered: %lu and "
	       "%lu at tc_sector_in, %lu and %lu at tc_egress_out, %lu and "
	       "%lu at tc_egress_in\n",
	       stats[SG_PROG_TC_UPLINK_OUT].frag_first,
	       stats[SG_PROG_TC_UPLINK_OUT].frag_later,
	       stats[SG_PROG_TC_UPLINK_IN].frag_first,
	       stats[SG_PROG_TC_UPLINK_IN].frag_later,
	       stats[SG_PROG_TC_SECTOR_IN].frag_first,
	       stats[SG_PROG_TC_SECTOR_IN].frag_later,
	       stats[R_EGRESS_OUT].frag_first, stats[R_EGRESS_OUT].frag_later,
	       stats[R_EGRESS_IN].frag_first, stats[R_EGRESS_IN].frag_later);
	for (int d = 0; d < NDN; d++)
		printf("# %-27s rewritten: %lu xdp_sector (%lu passed on), "
		       "%lu tc_sector_in, %lu tc_uplink_out, %lu xdp_uplink, "
		       "%lu tc_uplink_in; %lu compared XDP with tc\n",
		       dnat_names[d], dnat_stats[SG_PROG_XDP_SECTOR][d],
		       dnat_passed[d], dnat_stats[SG_PROG_TC_SECTOR_IN][d],
		       dnat_stats[SG_PROG_TC_UPLINK_OUT][d],
		       dnat_stats[SG_PROG_XDP_UPLINK][d],
		       dnat_stats[SG_PROG_TC_UPLINK_IN][d], dnat_compared[d]);
	for (int g = 0; g < NEG; g++)
		printf("# egress: %-48s %lu\n", eg_names[g], eg_stats[g]);
	printf("# egress: %-48s %lu\n",
	       "steered packets answered fragmentation needed", eg_too_big);
	printf("# (h) forwarded frames tc_uplink_out passed: %lu, %lu of "
	       "them vm1's answers to its management LAN; t0's tc egress "
	       "from no sector device: %lu\n", leak_judged[0], leak_mgmt,
	       leak_judged[1]);
	CHECK(leak_judged[0] && leak_judged[1], "(h) judged no frame an "
	      "uplink's or a trusted device's tc egress passed");
	CHECK(!seed_bad, "%lu runs that open the flows went otherwise",
	      seed_bad);
	if (frames >= 10000) {
		static const struct { int prog, path; } want[] = {
			{ SG_PROG_XDP_SECTOR, DN_IMDS_OUT },
			{ SG_PROG_TC_SECTOR_IN, DN_IMDS_OUT },
			{ SG_PROG_TC_UPLINK_OUT, DN_IMDS_OUT },
			{ SG_PROG_XDP_UPLINK, DN_IMDS_BACK },
			{ SG_PROG_TC_UPLINK_IN, DN_IMDS_BACK },
			{ SG_PROG_XDP_UPLINK, DN_FWD_IN },
			{ SG_PROG_TC_UPLINK_IN, DN_FWD_IN },
			{ SG_PROG_XDP_SECTOR, DN_FWD_OUT },
			{ SG_PROG_TC_UPLINK_OUT, DN_FWD_OUT },
			{ SG_PROG_TC_UPLINK_OUT, DN_FWD_ICMP },
			{ SG_PROG_TC_UPLINK_IN, DN_FWD_ICMP },
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			CHECK(dnat_stats[want[i].prog][want[i].path],
			      "%s: no %s rewritten", slot_names[want[i].prog],
			      dnat_names[want[i].path]);
		for (int d = DN_IMDS_OUT; d <= DN_FWD_OUT; d++)
			CHECK(dnat_compared[d], "(f) never compared XDP and tc "
			      "on %s", dnat_names[d]);
		CHECK(dnat_passed[DN_IMDS_OUT], "the sector's XDP passed no "
		      "metadata request on rewritten");
		for (int g = 0; g < NEG; g++)
			CHECK(eg_stats[g], "egress: never %s", eg_names[g]);
		CHECK(stats[SG_PROG_TC_UPLINK_OUT].frag_first &&
		      stats[SG_PROG_TC_UPLINK_OUT].frag_later &&
		      stats[SG_PROG_TC_UPLINK_IN].frag_first &&
		      stats[SG_PROG_TC_UPLINK_IN].frag_later,
		      "the uplink's NAT never followed a datagram's fragments");
		CHECK(stats[R_EGRESS_OUT].frag_later &&
		      stats[R_EGRESS_IN].frag_later,
		      "steering never followed a datagram's fragments");
	}
	for (size_t i = 0; i < sizeof(translating) / sizeof(int); i++) {
		int p = translating[i];

		CHECK(stats[p].rewritten > 0, "%s translated nothing",
		      slot_names[p]);
		/* Enough frames to expect every kind of them. */
		if (frames < 10000)
			continue;
		CHECK(stats[p].tcp && stats[p].udp && stats[p].echo &&
		      stats[p].options && stats[p].padded &&
		      stats[p].unfinished, "%s: some kinds of fuzzed frames "
		      "never translated", slot_names[p]);
		if (p == SG_PROG_TC_UPLINK_IN || p == SG_PROG_TC_UPLINK_OUT ||
		    p == R_EGRESS_IN)
			CHECK(stats[p].emb_sum, "%s: no ICMP error translated "
			      "with its embedded checksum", slot_names[p]);
	}
	test_end("fuzz: the episodes' flows open as meant and every "
		 "translating program translates");
}

/*
 * The steered sector's device s7 (with the gateway's address, so that
 * what is too big for it has a route to it) and the egress devices e0
 * and e1 as test_egress has them: veths with an address, a permanent
 * neighbour as next hop and a default route through it that loses to
 * up0's (metric 1000, 1001): sg_steer's FIB lookup through the device
 * finds it, the kernel's own routing never takes it.
 */
static int add_egress_devices(void)
{
	if (system("set -e; ip link add s7 type veth peer name p-s7; "
		   "ip link set s7 up; ip link set p-s7 up; "
		   "ip addr add 10.7.0.1/24 dev s7"))
		return -1;
	return dp_add_egress_device("e0", E0_ADDR, E0_GW,
				    "02:00:00:00:fe:02", 1000) ||
	       dp_add_egress_device("e1", E1_ADDR, E1_GW,
				    "02:00:00:00:fe:03", 1001);
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

int main(int argc, char **argv)
{
	unsigned long frames = DEFAULT_FRAMES, done, episodes = 0;
	long replay = -1;
	double max_secs = 0;
	uint8_t up0_mac[6];
	struct timespec t0, t1;
	int ret;

	seed = DEFAULT_SEED;
	if (getenv("FUZZ_FRAMES"))
		frames = num(getenv("FUZZ_FRAMES"));
	if (getenv("FUZZ_SEED"))
		seed = num(getenv("FUZZ_SEED"));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--frames") && i + 1 < argc)
			frames = num(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = num(argv[++i]);
		else if (!strcmp(argv[i], "--time") && i + 1 < argc)
			max_secs = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--episode") && i + 1 < argc)
			replay = num(argv[++i]);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else {
			fprintf(stderr, "usage: %s [--frames N] [--seed S] "
				"[--time SECONDS] [--episode E] [--verbose]\n",
				argv[0]);
			return 2;
		}
	}

	ret = dp_setup(MAX_FLOWS);
	if (ret) {
		if (ret > 0)
			test_skip("fuzz", "needs root to create a network "
				  "namespace and load BPF");
		return ret > 0 ? test_summary("test_fuzz_frames") : 1;
	}
	if (dp_setup_gateway(up0_mac) || add_egress_devices()) {
		printf("FAIL fuzz: cannot set up the gateway\n");
		return 1;
	}
	for (int d = 0; d < D_NONE; d++)
		dev_if[d] = if_nametoindex(dev_names[d]);

	test_checker();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (replay >= 0) {
		done = run_episode(replay, EPISODE_MAX);
		episodes = 1;
	} else {
		done = until_frames(frames, max_secs, &episodes);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# seed 0x%" PRIx64 ": %lu frames in %lu episodes, %lu runs, "
	       "%.1f s\n", seed, done, episodes, total_runs,
	       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (replay < 0)
		test_coverage(done);
	report();
	sg_instance_close(&dp_in);
	return test_summary("test_fuzz_frames");
}
