/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The /metrics endpoint of `run --metrics-listen` (libmicrohttpd). */
#ifndef SG_HTTP_H
#define SG_HTTP_H

struct MHD_Daemon;

/*
 * Serve GET /metrics on listen ("ADDR:PORT", "[ADDR6]:PORT") for the
 * instance at pin_dir, from a thread of its own. NULL on failure, said.
 */
struct MHD_Daemon *sg_http_start(const char *listen, const char *pin_dir);
void sg_http_stop(struct MHD_Daemon *d);

/* Does listen parse as ADDR:PORT? (the command line checks early) */
int sg_http_parse_listen(const char *listen, void *sockaddr, unsigned int *len);

#endif /* SG_HTTP_H */
