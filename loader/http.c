// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One page, /metrics, rendered afresh for every scrape by the generator
 * `stats --prometheus` uses. libmicrohttpd's own thread serves it, so a
 * slow scraper never delays `run` attaching a device; a scrape that
 * comes while an apply runs waits for the pin directory's lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "util.h"

static const char *pin_dir_of;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code,
			     const char *type, char *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	static char not_found[] = "sectorgate: only /metrics is here\n";
	static char failed[] = "sectorgate: nothing is applied\n";
	char *text;
	size_t len;

	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     not_found, strlen(not_found),
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			     strlen(not_found), MHD_RESPMEM_PERSISTENT);
	if (sg_metrics_text(pin_dir_of, &text, &len))
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
			     failed, strlen(failed), MHD_RESPMEM_PERSISTENT);
	return reply(conn, MHD_HTTP_OK, SG_METRICS_CONTENT_TYPE, text, len,
		     MHD_RESPMEM_MUST_FREE);
}

int sg_http_parse_listen(const char *listen, void *sockaddr, unsigned int *len)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	struct sockaddr_in *in4 = sockaddr;
	struct sockaddr_in6 *in6 = sockaddr;
	char *end;
	long port;

	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, listen, colon - listen);
	host[colon - listen] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memset(in6, 0, sizeof(*in6));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ?
		       0 : -EINVAL;
	}
	memset(in4, 0, sizeof(*in4));
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*len = sizeof(*in4);
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

struct MHD_Daemon *sg_http_start(const char *listen, const char *pin_dir)
{
	struct sockaddr_in6 sa;
	struct MHD_Daemon *d;
	unsigned int len;

	if (sg_http_parse_listen(listen, &sa, &len)) {
		pr_warn("--metrics-listen %s: not ADDR:PORT\n", listen);
		return NULL;
	}
	pin_dir_of = pin_dir;
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_ERROR_LOG |
			     (sa.sin6_family == AF_INET6 ? MHD_USE_IPv6 : 0),
			     ntohs(sa.sin6_port), NULL, NULL, handle, NULL,
			     MHD_OPTION_SOCK_ADDR, &sa,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10U,
			     MHD_OPTION_END);
	if (!d)
		pr_warn("cannot serve /metrics on %s: %s\n", listen,
			strerror(errno));
	else
		pr_info("serving /metrics on %s\n", listen);
	return d;
}

void sg_http_stop(struct MHD_Daemon *d)
{
	if (d)
		MHD_stop_daemon(d);
}
