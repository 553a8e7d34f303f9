/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small helpers: growing arrays, IPv4 text, logging. */
#ifndef SG_UTIL_H
#define SG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern int sg_verbose;

__attribute__((format(printf, 1, 2))) void pr_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void pr_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void pr_debug(const char *fmt, ...);

__attribute__((noreturn)) void sg_oom(void);

/* Room for element n of an array of n elements of size sz (doubling). */
void *sg_grow(void *arr, int n, size_t sz);
char *sg_strdup(const char *s);

/*
 * FNV-1a of len bytes, going on from h (SG_FNV_START for a new one): the
 * digests here only have to notice that something changed.
 */
#define SG_FNV_START	0xcbf29ce484222325ULL
uint64_t sg_fnv1a(uint64_t h, const void *data, size_t len);

/* Dotted quad <-> host-order address. */
bool sg_parse_ipv4(const char *s, uint32_t *addr);
const char *sg_ipv4_str(uint32_t addr, char buf[16]);

#endif /* SG_UTIL_H */
