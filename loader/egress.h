/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The egress policies of a sector (sectors[].egress, SPEC 3.10) compiled
 * into what a longest-prefix lookup can answer: an ordered list of
 * policies with `except` holes and proto/port narrowing becomes a set of
 * prefixes, each with the short ordered list of rules that may apply to
 * an address whose longest match it is. The datapath takes the first
 * rule whose protocol and port match; none, or no prefix, means no
 * policy (the uplink's masquerade). The compiler keeps exactly the
 * meaning of "first match in the file wins", which sg_egress_eval()
 * states directly and a property test holds the two to.

 * compile.c writes the table into sg_egress_nets; bpf/sg_egress.h looks
 * it up.
 */
#ifndef SG_EGRESS_H
#define SG_EGRESS_H

#include <stdint.h>

#include "model.h"

/* A policy applies to this protocol (0: any) and destination ports. */
struct sg_egress_rule {
	uint8_t policy;		/* index into the sector's egress list */
	uint8_t proto;
	uint16_t port_lo;	/* host order, inclusive; 0-65535: any port */
	uint16_t port_hi;
};

struct sg_egress_prefix {
	uint32_t addr;		/* host order, host bits clear */
	uint8_t plen;
	int nrules;		/* 0: no policy for these addresses */
	struct sg_egress_rule rules[SG_MAX_EGRESS_RULES];
};

/*
 * Compile sector s's egress list into *out (n of them, to be freed).
 * Returns 0, or -1 when an address would have more than
 * SG_MAX_EGRESS_RULES rules to try (*pos then names the policy).
 */
int sg_egress_compile(const struct sg_sector_def *s,
		      struct sg_egress_prefix **out, int *n,
		      const struct sg_pos **pos);

/* The policy (index) that a packet to daddr, proto, dport meets first in
 * s's list, or -1: the meaning the compiled table must keep. */
int sg_egress_eval(const struct sg_sector_def *s, uint32_t daddr,
		   uint8_t proto, uint16_t dport);

/* What the datapath will do with the compiled table: the longest prefix
 * holding daddr, then its first matching rule. -1: no policy. */
int sg_egress_lookup(const struct sg_egress_prefix *t, int n, uint32_t daddr,
		     uint8_t proto, uint16_t dport);

#endif /* SG_EGRESS_H */
