/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624: HC' = ~(~HC + ~m + m')).
 * Values are 16-bit words as they sit in the packet; the one's complement
 * sum does not care about byte order as long as everything is read alike.
 */
#ifndef SG_CSUM_H
#define SG_CSUM_H

/* Self-contained: the benchmark's helper programs use it too. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

static __always_inline __u16 sg_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 sg_csum_replace2(__u16 check, __u16 from, __u16 to)
{
	return sg_csum_fold((__u16)~check + (__u16)~from + to);
}

static __always_inline __u16 sg_csum_replace4(__u16 check, __u32 from, __u32 to)
{
	return sg_csum_fold((__u16)~check + (__u16)~(from & 0xffff) +
			    (__u16)~(from >> 16) + (to & 0xffff) + (to >> 16));
}

#endif /* SG_CSUM_H */
