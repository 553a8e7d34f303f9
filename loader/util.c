// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int sg_verbose;

static void sg_log(int level, const char *fmt, va_list ap)
{
	if (level > sg_verbose)
		return;
	vfprintf(stderr, fmt, ap);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sectorgate: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_log(0, fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_log(1, fmt, ap);
	va_end(ap);
}

void sg_oom(void)
{
	fputs("sectorgate: out of memory\n", stderr);
	abort();
}

void *sg_grow(void *arr, int n, size_t sz)
{
	size_t cap;

	/* Arrays hold 4, 8, 16, ... elements: reallocate when n reaches one. */
	if (n != 0 && (n < 4 || (n & (n - 1))))
		return arr;
	cap = n ? 2 * (size_t)n : 4;
	arr = realloc(arr, cap * sz);
	if (!arr)
		sg_oom();
	memset((char *)arr + n * sz, 0, (cap - n) * sz);
	return arr;
}

char *sg_strdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		sg_oom();
	return d;
}

bool sg_parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr in;

	/* inet_pton accepts only the strict dotted-quad form. */
	if (inet_pton(AF_INET, s, &in) != 1)
		return false;
	*addr = ntohl(in.s_addr);
	return true;
}

const char *sg_ipv4_str(uint32_t addr, char buf[16])
{
	struct in_addr in = { .s_addr = htonl(addr) };

	inet_ntop(AF_INET, &in, buf, 16);
	return buf;
}

uint64_t sg_fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
