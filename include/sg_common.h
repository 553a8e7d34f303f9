/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structures and constants shared by the BPF programs and the loader.
 *
 * This is the only definition of every map key and value: the BPF side
 * includes it after vmlinux.h, the loader after <linux/types.h>. Sizes are
 * asserted and padding is explicit so both compilers agree byte for byte
 * and `bpftool map dump` shows every field by name.
 */
#ifndef SG_COMMON_H
#define SG_COMMON_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Capacity of the definition maps; each holds two slots (see sg_state). */
#define SG_MAX_SECTORS		1024
#define SG_MAX_DEVICES		4096
#define SG_MAX_NETS		16384
#define SG_MAX_ALLOW_PAIRS	8192
#define SG_MAX_ALLOW_RULES	16
#define SG_MAX_FORWARDS		4096	/* forwards times uplinks */
#define SG_MAX_EGRESS_RULES	16	/* rules after one egress prefix hit */
#define SG_MAX_EGRESS_POLICIES	64	/* per sector */
#define SG_MAX_EGRESS_DEVS	4	/* devices of one policy */
#define SG_DEFAULT_MAX_FLOWS	262144
#define SG_NAME_LEN		16

/* tc filters are installed with this handle and priority in clsact. */
#define SG_TC_HANDLE		0x5347
#define SG_TC_PRIORITY		1

/*
 * Drop reasons: the names are the user-visible contract (SPEC section 3),
 * the numbers are internal and index sg_counters.drops[].
 */
#define SG_DROP_REASONS(R)				\
	R(INTER_SECTOR,		"inter-sector")		\
	R(SPOOFED_SOURCE,	"spoofed-source")	\
	R(PROTECTED_DEST,	"protected-destination") \
	R(NO_INTERNET,		"no-internet")		\
	R(UNSOLICITED,		"unsolicited")		\
	R(IMDS_DENIED,		"imds-denied")		\
	R(EGRESS_DOWN,		"egress-down")		\
	R(NAT_PORTS_EXHAUSTED,	"nat-ports-exhausted")	\
	R(CONNTRACK_FULL,	"conntrack-full")	\
	R(MALFORMED,		"malformed")		\
	R(FRAGMENT,		"fragment")		\
	R(IPV6,			"ipv6")			\
	R(UNSUPPORTED_L2,	"unsupported-l2")	\
	R(UNTRANSLATABLE,	"untranslatable")		\
	R(HAIRPIN,		"hairpin")			\
	R(TOO_BIG,		"too-big")

enum sg_drop_reason {
	SG_PASS = 0,
#define SG_REASON_ENUM(id, name) SG_DROP_##id,
	SG_DROP_REASONS(SG_REASON_ENUM)
#undef SG_REASON_ENUM
	SG_DROP_MAX,
};

/* What a device is to this instance. */
enum sg_role {
	SG_ROLE_SECTOR = 1,
	SG_ROLE_UPLINK = 2,
	SG_ROLE_TRUSTED = 3,
};

/* sg_sector.flags */
#define SG_SECTOR_INTERNET	(1U << 0)
#define SG_SECTOR_IMDS		(1U << 1)
/* Forwards or allow-from lead into it: its VMs' packets may be answers to
 * connections let in from outside. */
#define SG_SECTOR_INBOUND	(1U << 2)
/* It has egress policies (sg_egress_nets): what matches one never leaves
 * by an uplink. */
#define SG_SECTOR_EGRESS	(1U << 3)

/* sg_dest.kind */
enum sg_dest_kind {
	SG_DEST_SECTOR = 1,	/* owned by exactly one sector: sg_dest.sector */
	SG_DEST_SHARED = 2,	/* CIDR of several (overlapping) sectors */
	SG_DEST_PROTECTED = 3,	/* host.protected: no sector may reach it */
	SG_DEST_IMDS = 4,	/* host.imds.address and .target (/32): the
				 * metadata service, reached only as
				 * address:port from `imds: true` sectors */
	SG_DEST_UPLINK = 5,	/* an uplink's snat-address (/32): the host's,
				 * where forwards are published */
	SG_DEST_HOST = 6,	/* the host's address on an egress device
				 * (/32): never steered, the host answers */
};

/* sg_flow.dir */
enum sg_flow_dir {
	SG_FLOW_ORIG = 0,	/* primary entry: holds state and expiry */
	SG_FLOW_REPLY = 1,	/* index entry: points back at the primary */
};

/* sg_flow.nat */
enum sg_flow_nat {
	SG_NAT_NONE = 0,	/* addresses stay: between sectors, and what
				 * allow-from lets in */
	SG_NAT_SNAT = 1,	/* masquerade behind an uplink */
	SG_NAT_IMDS = 2,	/* to the metadata service: destination to
				 * host.imds.target, source to the host's
				 * address on the device toward it */
	SG_NAT_DNAT = 3,	/* a port forward, opened from outside:
				 * destination to the forward's `to` */
	SG_NAT_HOST = 4,	/* the host's own connection, its source port
				 * moved off one a sector's flow holds */
	SG_NAT_EGRESS = 5,	/* steered by an egress policy out of
				 * out_ifindex: source to the policy's
				 * snat-address and a port, or kept as it is
				 * (snat-address: none) */
};

/* sg_flow.state */
enum sg_flow_state {
	SG_FLOW_NEW = 0,	/* TCP: SYN seen; others: no reply yet */
	SG_FLOW_ESTABLISHED = 1,
	SG_FLOW_CLOSING = 2,	/* TCP FIN or RST seen */
};

/*
 * sg_state[0]: which of the two definition slots packets use. The loader
 * fills the inactive slot completely, then flips `slot` with one map
 * update, so a packet sees the old definitions or the new, never a mix.
 * slot is always generation & 1: the datapath reads generation alone (one
 * aligned load), so it cannot see one apply's slot with another's
 * generation.
 */
struct sg_state {
	__u32 slot;		/* 0 or 1: generation & 1 */
	__u32 generation;	/* count of applies that changed something */
	__u64 digest;		/* hash of the compiled definitions in `slot` */
};

/*
 * sg_build[0]: which build of the programs is pinned, so that an apply
 * of the same build reuses them instead of loading and verifying them
 * again. layout is SG_LAYOUT, raised whenever a pinned map changes the
 * meaning of its bytes (a size change alone is seen without it).
 */
#define SG_LAYOUT	2	/* 1: before sg_build; its sg_flow differed */

struct sg_build {
	__u64 object_digest;	/* FNV-1a of the BPF object */
	__u32 layout;		/* SG_LAYOUT of the build that pinned it */
	__u32 pad;
};

/* sg_config[slot]: settings that are not per sector. */
struct sg_config {
	__u32 timeout_tcp_established;	/* seconds */
	__u32 timeout_tcp_transitory;
	__u32 timeout_udp;
	__u32 timeout_icmp;
	__u16 nat_port_lo;		/* host.nat-ports, inclusive */
	__u16 nat_port_hi;
	__u32 max_flows_per_sector;	/* conntrack.max-flows-per-sector */
};

/*
 * sg_imds[slot]: host.imds, the metadata service: what sectors call
 * (addr:port) and where the rewrite sends it (target_addr:target_port),
 * from the host's address on the device toward it.
 */
struct sg_imds {
	__u8 addr[4];		/* bytes, so bpftool shows [169,254,169,254] */
	__u8 target_addr[4];
	__be16 port;
	__be16 target_port;
	__u32 pad;
};

/* sg_devices: which sector (or role) an interface belongs to. */
struct sg_device_key {
	__u32 ifindex;
	__u32 slot;
};

struct sg_device {
	__u16 sector;		/* sector id; 0 for uplinks and trusted devices */
	__u8 role;		/* enum sg_role */
	__u8 flags;		/* SG_DEV_* */
	__u8 snat_addr[4];	/* uplinks: the masquerade address */
	__u16 counters;		/* the sector's sg_sector.counters; 0 for none */
	__u16 pad;
};

/*
 * sg_device.flags. XDP_XMIT: the device takes frames that XDP redirects to
 * it (the kernel's NETDEV_XDP_ACT_NDO_XMIT: a tap, a veth whose peer has
 * GRO or an XDP program, most NIC drivers). Without it the fast path hands
 * the packet to the stack instead, where nothing is lost.
 */
#define SG_DEV_XDP_XMIT		(1U << 0)
/* No link-layer header: packets start at the IP header (tun, WireGuard). */
#define SG_DEV_L3		(1U << 1)
/* Named by an egress policy: steered flows leave by it, their replies
 * come back by it (role SG_ROLE_TRUSTED: its programs are the trusted
 * devices'). */
#define SG_DEV_EGRESS		(1U << 2)
/* A sector device whose sector is in an `allow` either way (sg_allow):
 * without it, a packet to another sector's address is dropped with no
 * lookup of the pair. */
#define SG_DEV_ALLOWS		(1U << 3)
/* A sector device whose sector has egress policies: its tc ingress first
 * tries the decision kept in a steered flow (sg_steer_again). */
#define SG_DEV_STEERED		(1U << 4)

/*
 * sg_forwards: sectors[].forwards, one entry per uplink address it is
 * published on. A connection to addr:port (proto) arriving on an uplink
 * goes to to_addr:to_port in `sector`, through its device `ifindex` (0
 * when the sector has several: then the route to to_addr, which must be
 * one of the sector's devices). The SNAT allocator never hands these
 * ports out on that address.
 */
struct sg_forward_key {
	__u32 slot;
	__u8 addr[4];		/* the uplink's snat-address */
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct sg_forward {
	__u16 sector;
	__u16 pad;
	__u8 to_addr[4];
	__be16 to_port;
	__u16 pad2;
	__u32 ifindex;
};

/*
 * sg_admit_devs (LPM): sectors[].allow-from naming a trusted device. A
 * connection from device `ifindex` to an address in the CIDR may be
 * opened into the sector (the value: its id). prefixlen = 64 + CIDR
 * length. Two sectors that one device reaches never overlap (validation),
 * so this names the sector even where CIDRs are shared.
 */
struct sg_admit_dev_key {
	__u32 prefixlen;
	__u32 slot;
	__u32 ifindex;
	__u8 addr[4];
};

/*
 * sg_admit_nets (LPM, keys as sg_sector_nets): sectors[].allow-from naming
 * a source CIDR (a management LAN behind an uplink): `sector` admits
 * connections from addresses in it.
 */

/* sg_sectors: per-sector settings, with the name for stats and status. */
struct sg_sector_key {
	__u16 slot;
	__u16 id;
};

struct sg_sector {
	char name[SG_NAME_LEN];
	__u32 flags;		/* SG_SECTOR_* */
	__u32 counters;		/* its index in sg_counters (1..SG_MAX_SECTORS),
				 * the same for as long as the sector exists */
};

/*
 * sg_sector_nets (LPM): the CIDRs of one sector. prefixlen counts the
 * 32 bits of slot and sector before the address: 32 + CIDR length.
 */
struct sg_net_key {
	__u32 prefixlen;
	__u16 slot;
	__u16 sector;
	__u8 addr[4];		/* bytes, so bpftool shows [10,1,0,0] */
};

/* sg_dest_nets (LPM): what a destination is. prefixlen = 32 + CIDR length. */
struct sg_dest_key {
	__u32 prefixlen;
	__u32 slot;
	__u8 addr[4];
};

struct sg_dest {
	__u16 sector;		/* owner when kind == SG_DEST_SECTOR */
	__u8 kind;		/* enum sg_dest_kind, 0 = none (the internet) */
	__u8 pad;
};

/*
 * sg_dest_nets compiled into fixed strides of arrays (DIR-16-8-8), so
 * that what an address is takes the same three array reads at 5 sectors
 * as at 1,000 (an LPM trie walks deeper the more prefixes it holds):
 *
 *   sg_dest_top     index slot * 65536 + the address's top 16 bits
 *   sg_dest_chunks  index (slot * SG_MAX_DEST_CHUNKS + chunk) * 256 + the
 *                   address's next byte: a /16 split into its /24s, or a
 *                   /24 split into its addresses
 *
 * Each entry holds the answer of the longest prefix holding all of its
 * block, or, where a longer prefix lies inside, the chunk that splits it.
 */
#define SG_DEST_TOP_BITS	16
#define SG_DEST_TOP_ENTRIES	(1U << SG_DEST_TOP_BITS)
#define SG_MAX_DEST_CHUNKS	2048	/* per slot; chunk 0 is none */
#define SG_DEST_HOST_CHUNKS	64	/* kept for the hosts' /32s */

struct sg_dest_stride {
	struct sg_dest dest;	/* the answer, when chunk is 0 */
	__u32 chunk;		/* else where the block is split */
};

/* sg_allow: the `allow` exceptions from sector `from` to sector `to`. */
struct sg_allow_key {
	__u16 slot;
	__u16 from;
	__u16 to;
	__u16 pad;
};

struct sg_allow_rule {
	__u8 proto;		/* IPPROTO_TCP/UDP/ICMP, 0 = any */
	__u8 pad[3];
	__u16 port_lo;		/* destination ports, host order, inclusive; */
	__u16 port_hi;		/* 0-65535 when the rule names no ports */
};

struct sg_allow {
	__u32 count;
	__u32 pad;
	struct sg_allow_rule rules[SG_MAX_ALLOW_RULES];
};

/*
 * sg_egress_nets (LPM, keys as sg_sector_nets): sectors[].egress compiled
 * (loader/egress.h). The longest prefix holding a packet's destination
 * lists, in file order, the rules that may apply to it; the first whose
 * protocol and port match names the policy (sg_egress_policies). count 0
 * (an `except` hole, or no entry at all): no policy, the uplink's
 * masquerade.
 */
struct sg_egress_match {
	__u32 count;
	__u8 policy[SG_MAX_EGRESS_RULES];	/* index in the sector's list */
	__u32 pad;
	struct sg_allow_rule rules[SG_MAX_EGRESS_RULES];
};

/* sg_egress_policies: one policy of a sector's egress list. */
struct sg_egress_policy_key {
	__u16 slot;
	__u16 sector;
	__u8 policy;		/* its index in the sector's list */
	__u8 pad[3];
};

/*
 * The devices a policy's flows may leave by, in the order new flows try
 * them: `usable` has bit i where devs[i] was up (IFF_UP and carrier) with
 * an address when the definitions were compiled, which `run` does again
 * at each link or address notification. snat holds the source each
 * leaves with: the policy's snat-address, or the device's own address;
 * all 0 with SG_EGRESS_ROUTED.
 */
#define SG_EGRESS_ROUTED	(1U << 0)	/* snat-address: none */

struct sg_egress_dev {
	__u32 ifindex;		/* 0: not present */
	__u8 snat[4];
};

struct sg_egress_policy {
	__u8 flags;		/* SG_EGRESS_* */
	__u8 ndevs;
	__u8 usable;		/* bit i: devs[i] can take new flows */
	__u8 pad;
	struct sg_egress_dev devs[SG_MAX_EGRESS_DEVS];
};

/*
 * sg_flows: connection tracking. The zone is the sector id (as conntrack
 * zones), which keeps identical tuples of overlapping sectors apart; zone 0
 * is the outside (what arrives on an uplink). For ICMP echo, sport carries
 * the id of a request and dport that of a reply, so a reply's tuple is the
 * exact reverse of its request's.
 */
struct sg_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad;
	__u16 zone;
};

/*
 * What the packets of one direction of a flow become: the addresses and
 * ports they leave with. A field the flow does not translate holds the
 * packet's own, so that with its entry's key it always gives the other
 * entry's key (sg_flow_primary_key).
 */
struct sg_flow_xlate {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;		/* ICMP echo: the id */
	__be16 dport;
};

/*
 * The XDP fast path's decision for the packets of one direction, reused
 * while the definitions stay at `generation` (sg_state) and for at most
 * SG_FWD_RECHECK_MS after `checked`: out of `ifindex` (0: no decision),
 * to dmac from smac, frames of up to mtu bytes. A primary's is the route
 * out (the uplink, its next hop); a reply entry's the delivery to the VM
 * (the sector device, the VM's MAC and the gateway's it sent to: learnt
 * from its frames, SG_FLOW_L2_KNOWN, before a delivery is kept). A
 * steered flow's primary keeps tc's decision instead: out of its egress
 * device `ifindex`, through `next_hop` (an Ethernet device's IPv4 next
 * hop; 0 for an L3 device), packets of up to `mtu` bytes (IP), with no
 * MACs.
 */
struct sg_flow_kept {
	__u32 ifindex;
	__u32 generation;
	__u32 checked;		/* sg_now() >> 20 (~1 ms) */
	__u16 mtu;
	union {
		struct {
			__u8 dmac[6];
			__u8 smac[6];
		};
		__u8 next_hop[4];	/* network order */
	};
	__u16 key_tag;		/* of the whole entry, not the decision:
				 * sg_flow_tag() of the key it was written
				 * under; 0 in an entry written before tags */
};

/*
 * One entry for each direction of a flow: the primary (dir ORIG), keyed
 * by the originator's zone and tuple, holds the connection's state and
 * expiry; the reply entry, keyed by the responder's zone and the tuple
 * its packets arrive with, points back at it through its translation.
 * Layout 2 (SG_LAYOUT); loader/flows_v1.h has layout 1 and its
 * migration.
 */
struct sg_flow {
	__u64 expires_ns;	/* primary: sg_now() deadline of the flow;
				 * reply: not to be reclaimed before */
	__u8 dir;		/* enum sg_flow_dir */
	__u8 state;		/* primary: enum sg_flow_state */
	__u8 nat;		/* enum sg_flow_nat */
	__u8 flags;		/* SG_FLOW_* */
	__u16 counters;		/* the sector's sg_counters index */
	__u16 peer_zone;	/* zone of the other direction's entry */
	__u32 in_ifindex;	/* primary: the sector device the flow came
				 * in on, where its replies are delivered */
	__u32 out_ifindex;	/* primary: the device it leaves by (an
				 * uplink, or the egress device a steered
				 * flow stays on); 0 where the kernel
				 * routes it */
	struct sg_flow_xlate xlate;
	struct sg_flow_kept kept;
};

/* sg_flow.flags */
#define SG_FLOW_ANSWERED	(1U << 2)	/* primary: a packet of the
						 * other direction was seen;
						 * never evicted for room */
#define SG_FLOW_L2_KNOWN	(1U << 0)	/* reply entry: kept.dmac and
						 * kept.smac are the VM's and
						 * its gateway's MACs */
/*
 * Primary of a steered flow (SG_NAT_EGRESS): the device of its policy it
 * stays on, as an index into sg_egress_policy.devs (bits 3-4), whatever
 * ifindex that device has now (a tunnel re-created gets another).
 */
#define SG_FLOW_EGRESS_SLOT_SHIFT	3
#define SG_FLOW_EGRESS_SLOT_MASK	(3U << SG_FLOW_EGRESS_SLOT_SHIFT)
#define SG_FLOW_REV_XDP		(1U << 1)	/* primary: at kept.generation,
						 * in_ifindex was this sector's
						 * and took XDP frames */
#define SG_FLOW_EVICTING	(1U << 5)	/* primary: being evicted for
						 * room, never answered: an
						 * answer now is too late */

/* How long (in units of 2^20 ns, ~1 ms) a flow's cached route holds. */
#define SG_FWD_RECHECK_MS	1000

/*
 * A 16-bit hash of a flow key, never 0, kept in the entry written under
 * it (kept.key_tag). The kernel hands a deleted hash entry to the next
 * insert on that CPU at once, so a program on another CPU that looked an
 * entry up just before it was deleted (evicted for room, collected,
 * replaced) may read another flow's in its place: before it uses what it
 * read, and before it writes into the entry, it checks the tag against
 * the key it looked it up by (sg_flow_is): a flow of another sector's is
 * not taken for its own but for 65,535 in 65,536 of such races.
 */
static inline __attribute__((always_inline)) __u16
sg_flow_tag(const struct sg_flow_key *k)
{
	__u32 h = k->saddr * 0x9e3779b1U;

	h = (h ^ k->daddr) * 0x85ebca6bU;
	h = (h ^ (((__u32)k->sport << 16) | k->dport)) * 0xc2b2ae35U;
	h = (h ^ (((__u32)k->proto << 16) | k->zone)) * 0x27d4eb2fU;
	h ^= h >> 16;
	return (__u16)h ? (__u16)h : 1;
}

/*
 * The key of the primary entry that a reply entry (r, found under rkey)
 * points back at. Used by the datapath and by the loader's garbage
 * collection alike.
 */
static inline __attribute__((always_inline)) void
sg_flow_primary_key(struct sg_flow_key *okey, const struct sg_flow_key *rkey,
		    const struct sg_flow *r)
{
	okey->saddr = r->xlate.daddr;
	okey->daddr = r->xlate.saddr;
	okey->sport = r->xlate.dport;
	okey->dport = r->xlate.sport;
	okey->proto = rkey->proto;
	okey->pad = 0;
	okey->zone = r->peer_zone;
}

/*
 * The key of the reply entry of a masqueraded flow (primary key okey),
 * leaving as nat_addr:nat_port: the remote's replies, in zone 0. The
 * inverse of sg_flow_primary_key().
 */
static inline __attribute__((always_inline)) void
sg_flow_snat_reply_key(struct sg_flow_key *rkey,
		       const struct sg_flow_key *okey, __be32 nat_addr,
		       __be16 nat_port)
{
	rkey->saddr = okey->daddr;
	rkey->daddr = nat_addr;
	rkey->sport = okey->dport;
	rkey->dport = nat_port;
	rkey->proto = okey->proto;
	rkey->pad = 0;
	rkey->zone = 0;
}

/*
 * Is primary o (found from reply entry r under rkey) still the flow r
 * belongs to? A translated flow that was reopened with another mapping
 * has left its old reply entry behind: that one maps nothing any more.
 * The translated side of the primary must be the reply entry's key: the
 * source it took (masquerade, the metadata rewrite, a host connection
 * moved to another port), or the destination it went to (a forward).
 */
static inline __attribute__((always_inline)) int
sg_flow_reply_belongs(const struct sg_flow_key *rkey, const struct sg_flow *r,
		      const struct sg_flow *o)
{
	if (o->dir != SG_FLOW_ORIG || o->peer_zone != rkey->zone ||
	    o->nat != r->nat)
		return 0;
	switch (r->nat) {
	case SG_NAT_SNAT:
	case SG_NAT_IMDS:
	case SG_NAT_HOST:
	case SG_NAT_EGRESS:
		return o->xlate.saddr == rkey->daddr &&
		       o->xlate.sport == rkey->dport;
	case SG_NAT_DNAT:
		return o->xlate.daddr == rkey->saddr &&
		       o->xlate.dport == rkey->sport;
	default:
		return 1;
	}
}

/*
 * sg_sector_flows (array, indexed as sg_counters): how many flows each
 * sector holds (primaries, counted by the datapath as it opens and evicts
 * them, set to the exact number by `run`'s garbage collection) and the
 * ones it opened last, of which the oldest that were never answered make
 * room when the sector is at conntrack.max-flows-per-sector, or the table
 * is full and it holds the most. A bounded search, never a walk: from
 * `tail`, the oldest of recent[] that may still be one, at most
 * SG_EVICT_SCAN looked at, and `tail` moved past those that no longer
 * are (gone, or answered), so that each is passed over once.
 */
#define SG_RECENT_FLOWS		256	/* a power of two */
#define SG_EVICT_SCAN		64	/* of recent[] looked at, from tail */

struct sg_sector_flows {
	__u32 count;
	__u32 next;		/* where recent[] is written next (modulo
				 * SG_RECENT_FLOWS): a count of the flows
				 * it opened */
	__u32 tail;		/* where the search for room starts: before
				 * it, none is to be evicted (a hint) */
	__u32 unanswered;	/* of count, the flows never answered: who
				 * can make room in a full table (kept as
				 * count is) */
	struct sg_flow_key recent[SG_RECENT_FLOWS];
};

/*
 * sg_unanswered (array) and sg_unanswered_spans (array, indexed as
 * sg_counters): the keys of the flows each sector holds that were never
 * answered, oldest first, as `run`'s garbage collection found them on its
 * last walk of the table (every few seconds). Room is made from here when
 * a sector's recent[] has none left: what it opened before its last
 * SG_RECENT_FLOWS stays within reach. A sector's keys are
 * sg_unanswered[start, start + len); the search goes on from `next`, and
 * moves it past what it looked at, as recent[]'s tail. The sectors that
 * hold the most unanswered flows come first, as many as
 * SG_UNANSWERED_KEYS holds, chained in that order from entry 0 (`after`):
 * a full table whose hint (sg_heaviest) has no room left takes it from
 * the first of them that has. A key is a hint: the entry it finds is
 * evicted only if it is still the sector's, unanswered (or over).
 */
#define SG_UNANSWERED_KEYS	262144	/* 4 MB: the default max-flows */

struct sg_unanswered_span {
	__u32 start;
	__u32 len;
	__u32 next;		/* where the next search starts, from 0.
				 * Entry 0's: the searches that found no
				 * room since the list was written, which
				 * makes `run` list again at once */
	__u32 after;		/* the sector listed after this one (its
				 * sg_counters index; 0: none). Entry 0,
				 * no sector's, holds the first in after:
				 * the sector with the most unanswered */
};

/*
 * sg_frags (LRU hash): the datagrams whose first fragment a hook let
 * through on a flow's account, so that the fragments after it, which
 * carry no ports, follow it (bpf/sg_frag.h). The key is RFC 791's
 * reassembly key (addresses, id, protocol) as the fragments arrive, in
 * the zone of their side (a sector's id; 0 for what comes from outside)
 * and for one hook; the value the key of the flow entry whose decision
 * and translation the first fragment took, and until when the rest may
 * follow it: SG_FRAG_TIMEOUT_NS, and SG_FRAG_LAST_NS once the last has
 * passed (one before it may come late).
 */
#define SG_FRAG_ENTRIES		16384
/* A datagram's fragments arrive within milliseconds of each other; what
 * is later is more likely another datagram's with its id come round. */
#define SG_FRAG_TIMEOUT_NS	(5ULL * 1000000000)
#define SG_FRAG_LAST_NS		(1ULL * 1000000000)	/* after the last */

enum sg_frag_hook {
	SG_FRAG_AT_UPLINK_OUT = 1,	/* masquerade, a forward's and
					 * allow-from's answers */
	SG_FRAG_AT_UPLINK_IN,		/* their replies, a forward's clients,
					 * allow-from's connections */
	SG_FRAG_AT_SECTOR,		/* a sector's ingress: allowed between
					 * sectors, a forward's and allow-from's
					 * answers (read again at a trusted
					 * device's tc egress) */
	SG_FRAG_AT_STEER,		/* a steered sector's tc ingress, read
					 * again at the egress device's tc
					 * egress: steered flows */
	SG_FRAG_AT_EGRESS_IN,		/* an egress device's tc ingress: the
					 * replies of steered flows */
	SG_FRAG_AT_TRUSTED_IN,		/* a trusted device's tc ingress:
					 * allow-from's connections */
};

struct sg_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 hook;		/* enum sg_frag_hook */
	__u16 zone;
	__u16 dev;		/* where fragments come in from outside
				 * (the _IN hooks): the device's ifindex,
				 * its low 16 bits; else 0 */
};

struct sg_frag {
	struct sg_flow_key flow;
	__u64 expires_ns;	/* sg_now() after which none follows */
};

/*
 * sg_counters (per-CPU array): one entry per sector, at the index the
 * loader gave it (sg_sector.counters), and entry 0 for what belongs to no
 * sector. An array, not a hash keyed by sector id: the fast path counts
 * every packet, and an array lookup costs next to nothing.
 */
#define SG_COUNTER_ENTRIES	(SG_MAX_SECTORS + 1)
struct sg_counters {
	__u64 rx_packets;	/* received from the sector's devices */
	__u64 rx_bytes;
	__u64 tx_packets;	/* sent into the sector's devices */
	__u64 tx_bytes;
	__u64 fast_out_packets;	/* sent to an uplink by the XDP fast path */
	__u64 fast_in_packets;	/* replies delivered by the XDP fast path */
	union {
		__u64 drops[SG_DROP_MAX];	/* by reason, from 1 */
		/* drops[0], which no reason uses (SG_PASS): its flows
		 * evicted never answered, to make room for a new flow
		 * (its quota reached, or the table full and it held
		 * the most unanswered) */
		__u64 flows_evicted;
	};
};

/* What a frame was parsed as (the datapath's sg_pkt.kind, sg_event.kind). */
enum sg_pkt_kind {
	SG_PKT_OTHER = 0,	/* an EtherType the host does not route */
	SG_PKT_IPV4,
	SG_PKT_ARP,
	SG_PKT_VLAN,		/* 802.1Q / 802.1ad tagged */
	SG_PKT_IPV6,
	SG_PKT_IPV6_ND,		/* ICMPv6 router/neighbour discovery */
};

/*
 * sg_events (ring buffer): one record per drop, for `sectorgate monitor`.
 * Rate-limited per CPU (sg_event_budget); what the limit or a full ring
 * keeps out is counted there, never lost silently.
 */
struct sg_event {
	__u64 time_ns;		/* bpf_ktime_get_coarse_ns() */
	__u32 ifindex;		/* where the packet came in; 0: the host
				 * sent it */
	__u32 len;		/* frame length */
	__u16 counters;		/* the sector's sg_counters index; 0: none */
	__u16 to_sector;	/* the sector it was addressed to; 0: none */
	__u8 reason;		/* enum sg_drop_reason */
	__u8 proto;		/* IPv4 protocol; 0 when not IPv4 */
	__u8 kind;		/* what the frame was parsed as (enum
				 * sg_pkt_kind); 0: not parsed, or not even
				 * its IPv4 header trusted */
	__u8 later_fragment;	/* 1: a fragment after the first, which
				 * has no ports */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;		/* ICMP echo: the id */
	__be16 dport;
	__u32 out_ifindex;	/* dropped on its way out of this device
				 * (tc egress); 0: where it came in */
};

/* Per CPU: the token bucket of drop events, and what it kept out. */
#define SG_EVENTS_PER_SEC	1000	/* refill, per CPU */
#define SG_EVENTS_BURST		200
#define SG_EVENTS_RING		(256 * 1024)

struct sg_event_budget {
	__u64 refilled_ns;	/* when tokens were last added */
	__u64 tokens;
	__u64 lost;		/* over the limit, or the ring was full */
};

#ifndef __cplusplus
_Static_assert(sizeof(struct sg_event) == 40, "sg_event layout");
_Static_assert(sizeof(struct sg_dest) == 4, "sg_dest_find returns it as a __u32");
_Static_assert(sizeof(struct sg_sector_flows) == 16 + 16 * SG_RECENT_FLOWS,
	       "sg_sector_flows layout");
_Static_assert(sizeof(struct sg_unanswered_span) == 16,
	       "sg_unanswered_span layout");
_Static_assert(sizeof(struct sg_event_budget) == 24, "sg_event_budget layout");
/* The datapath changes flags atomically in the word they share with dir,
 * state and nat (bpf/sg_flow_flags.h). */
_Static_assert(__builtin_offsetof(struct sg_flow, dir) % 4 == 0 &&
	       __builtin_offsetof(struct sg_flow, flags) ==
	       __builtin_offsetof(struct sg_flow, dir) + 3,
	       "sg_flow.flags' word");
_Static_assert(sizeof(struct sg_state) == 16, "sg_state layout");
_Static_assert(sizeof(struct sg_config) == 24, "sg_config layout");
_Static_assert(sizeof(struct sg_build) == 16, "sg_build layout");
_Static_assert(sizeof(struct sg_imds) == 16, "sg_imds layout");
_Static_assert(sizeof(struct sg_device_key) == 8, "sg_device_key layout");
_Static_assert(sizeof(struct sg_device) == 12, "sg_device layout");
_Static_assert(sizeof(struct sg_sector_key) == 4, "sg_sector_key layout");
_Static_assert(sizeof(struct sg_sector) == 24, "sg_sector layout");
_Static_assert(sizeof(struct sg_net_key) == 12, "sg_net_key layout");
_Static_assert(sizeof(struct sg_dest_key) == 12, "sg_dest_key layout");
_Static_assert(sizeof(struct sg_dest) == 4, "sg_dest layout");
_Static_assert(sizeof(struct sg_allow_key) == 8, "sg_allow_key layout");
_Static_assert(sizeof(struct sg_forward_key) == 12, "sg_forward_key layout");
_Static_assert(sizeof(struct sg_forward) == 16, "sg_forward layout");
_Static_assert(sizeof(struct sg_admit_dev_key) == 16, "sg_admit_dev_key layout");
_Static_assert(sizeof(struct sg_allow_rule) == 8, "sg_allow_rule layout");
_Static_assert(sizeof(struct sg_egress_match) == 24 + 8 * SG_MAX_EGRESS_RULES,
	       "sg_egress_match layout");
_Static_assert(sizeof(struct sg_egress_policy_key) == 8,
	       "sg_egress_policy_key layout");
_Static_assert(sizeof(struct sg_egress_policy) == 4 + 8 * SG_MAX_EGRESS_DEVS,
	       "sg_egress_policy layout");
_Static_assert(SG_MAX_EGRESS_DEVS <= 4, "SG_FLOW_EGRESS_SLOT_MASK holds it");
_Static_assert(sizeof(struct sg_allow) == 8 + 8 * SG_MAX_ALLOW_RULES,
	       "sg_allow layout");
_Static_assert(sizeof(struct sg_flow_key) == 16, "sg_flow_key layout");
_Static_assert(sizeof(struct sg_flow_xlate) == 12, "sg_flow_xlate layout");
_Static_assert(sizeof(struct sg_flow_kept) == 28, "sg_flow_kept layout");
_Static_assert(sizeof(struct sg_flow) == 64, "sg_flow layout");
_Static_assert(sizeof(struct sg_frag_key) == 16, "sg_frag_key layout");
_Static_assert(sizeof(struct sg_frag) == 24, "sg_frag layout");
#endif

#endif /* SG_COMMON_H */
