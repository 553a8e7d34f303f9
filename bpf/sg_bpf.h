/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Common includes and the constants vmlinux.h does not carry. */
#ifndef SG_BPF_H
#define SG_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sg_common.h"
#include "sg_maps.h"

#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8

#define IPPROTO_ICMPV6	58
#define AF_INET		2

#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF

#define ICMP_ECHOREPLY	0
#define ICMP_ECHO	8

#define TCP_FLAG_FIN	0x01
#define TCP_FLAG_SYN	0x02
#define TCP_FLAG_RST	0x04
#define TCP_FLAG_ACK	0x10

/*
 * Header field offsets, fixed by the wire formats. (offsetof() on the
 * CO-RE structs of vmlinux.h turns into relocated loads with clang 14 in
 * some expressions, which the verifier rightly refuses.)
 */
#define IP_TTL_OFF	8
#define IP_CSUM_OFF	10
#define IP_SADDR_OFF	12
#define IP_DADDR_OFF	16
#define TCP_CSUM_OFF	16
#define UDP_CSUM_OFF	6
#define ICMP_CSUM_OFF	2
#define ICMP_ID_OFF	4

#define TC_ACT_OK	0
#define TC_ACT_SHOT	2
#define TC_ACT_REDIRECT	7

#define NSEC_PER_SEC	1000000000ULL

#ifndef READ_ONCE
#define READ_ONCE(x)	(*(volatile typeof(x) *)&(x))
#endif

#endif /* SG_BPF_H */
