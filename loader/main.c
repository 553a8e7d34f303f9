// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sectorgate(8): global options, then one subcommand with its own. One
 * table of options drives the parsing (getopt_long's arrays are built
 * from it) and every --help, so the two never disagree.
 */
#include <bpf/libbpf.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "util.h"

#define SG_VERSION "0.1.0"

enum {
	OPT_CONFIG = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_PROMETHEUS = 1 << 2,
	OPT_KEEP_MAPS = 1 << 3,
	OPT_DRY_RUN = 1 << 4,
	OPT_METRICS = 1 << 5,
	OPT_PIN_DIR = 1 << 6,	/* global */
	OPT_VERBOSE = 1 << 7,	/* global */
	OPT_HELP = 1 << 8,	/* global */
	OPT_VERSION = 1 << 9,	/* global */
	OPT_GLOBAL = OPT_PIN_DIR | OPT_VERBOSE | OPT_HELP | OPT_VERSION,
};

static const struct sg_option {
	unsigned int id;
	const char *name;
	char short_name;	/* 0: none */
	const char *arg;	/* NULL: a flag */
	const char *help;
} options[] = {
	{ OPT_CONFIG, "config", 'c', "FILE",
	  "the sector definitions (default " SG_DEFAULT_CONFIG ")" },
	{ OPT_DRY_RUN, "dry-run", 'n', NULL,
	  "print what would change, and change nothing" },
	{ OPT_METRICS, "metrics-listen", 0, "ADDR:PORT",
	  "serve /metrics (Prometheus text format) there" },
	{ OPT_JSON, "json", 0, NULL,
	  "JSON on stdout: one document (monitor: one object per line)" },
	{ OPT_PROMETHEUS, "prometheus", 0, NULL,
	  "the Prometheus text format, as /metrics serves it" },
	{ OPT_KEEP_MAPS, "keep-maps", 0, NULL,
	  "keep the maps pinned (flows and counters survive)" },
	{ OPT_PIN_DIR, "pin-dir", 0, "DIR",
	  "the instance's bpffs directory (default " SG_DEFAULT_PIN_DIR ")" },
	{ OPT_VERBOSE, "verbose", 'v', NULL,
	  "say more (twice: libbpf's messages too)" },
	{ OPT_HELP, "help", 'h', NULL, "this help" },
	{ OPT_VERSION, "version", 0, NULL, "the version, and libbpf's" },
};

static const struct sg_command {
	const char *name;
	int (*run)(const struct sg_opts *o);
	unsigned int opts;
	const char *args;	/* a positional argument, or NULL */
	const char *help;
} commands[] = {
	{ "check", cmd_check, OPT_CONFIG, NULL,
	  "validate only; prints a one-screen summary" },
	{ "apply", cmd_apply, OPT_CONFIG | OPT_DRY_RUN, NULL,
	  "load, attach, fill maps; idempotent; keeps live flows" },
	{ "run", cmd_run, OPT_CONFIG | OPT_METRICS, NULL,
	  "apply, then attach new devices, reload on SIGHUP, expire flows" },
	{ "status", cmd_status, OPT_JSON, NULL,
	  "what is attached where, sectors, map fill levels" },
	{ "stats", cmd_stats, OPT_JSON | OPT_PROMETHEUS, NULL,
	  "counters per sector and per drop reason" },
	{ "dump", cmd_dump, OPT_JSON, "sectors|conntrack|nat|policy",
	  "the maps, decoded" },
	{ "monitor", cmd_monitor, OPT_JSON, NULL,
	  "stream drop events as they happen" },
	{ "unload", cmd_unload, OPT_KEEP_MAPS, NULL,
	  "detach everything; remove pins unless --keep-maps" },
};

/* getopt's value for an option: its short name, or 256 + its index. */
static int opt_val(size_t i)
{
	return options[i].short_name ? options[i].short_name : 256 + (int)i;
}

/* The synopsis of the options in mask: "[-c FILE] [--json]". */
static void synopsis(FILE *out, unsigned int mask)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct sg_option *op = &options[i];

		if (!(mask & op->id) || (op->id & OPT_GLOBAL))
			continue;
		/* -c FILE as SPEC writes it; flags by their long names. */
		if (op->short_name && op->arg)
			fprintf(out, " [-%c%s%s]", op->short_name,
				op->arg ? " " : "", op->arg ? op->arg : "");
		else
			fprintf(out, " [--%s%s%s]", op->name,
				op->arg ? " " : "", op->arg ? op->arg : "");
	}
}

static void option_lines(FILE *out, unsigned int mask)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct sg_option *op = &options[i];
		char left[48];

		if (!(mask & op->id))
			continue;
		snprintf(left, sizeof(left), "%s%c%s--%s%s%s",
			 op->short_name ? "-" : "",
			 op->short_name ? op->short_name : ' ',
			 op->short_name ? ", " : "  ", op->name,
			 op->arg ? " " : "", op->arg ? op->arg : "");
		fprintf(out, "  %-28s %s\n", left + !op->short_name, op->help);
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: sectorgate [global options] COMMAND [options]\n\n"
		"commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	}
	fprintf(out, "\nglobal options:\n");
	option_lines(out, OPT_GLOBAL);
	fprintf(out, "\n`sectorgate COMMAND --help` lists its options.\n");
}

static void command_usage(FILE *out, const struct sg_command *cmd)
{
	fprintf(out, "usage: sectorgate %s", cmd->name);
	synopsis(out, cmd->opts);
	fprintf(out, "%s%s\n", cmd->args ? " " : "", cmd->args ? cmd->args : "");
}

static void command_help(const struct sg_command *cmd)
{
	command_usage(stdout, cmd);
	printf("  %s\n", cmd->help);
	if (cmd->opts) {
		printf("\noptions:\n");
		option_lines(stdout, cmd->opts);
	}
	printf("\nglobal options:\n");
	option_lines(stdout, OPT_GLOBAL);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG && sg_verbose < 2)
		return 0;
	if (level == LIBBPF_INFO && sg_verbose < 1)
		return 0;
	/* Warnings too only with -v: the loader says what failed itself. */
	if (sg_verbose < 1)
		return 0;
	/* And the kernel's words on netlink errors only with -vv: most are
	 * answers the loader expects and handles ("Exclusivity flag on",
	 * a tc hook that exists; "Parent Qdisc doesn't exists", a device
	 * without one yet), and would read as failures at every apply. */
	if (sg_verbose < 2 && strstr(fmt, "Kernel error message"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* getopt_long's arrays for the options in mask. */
static void build_getopt(unsigned int mask, struct option *longs,
			 char *shorts)
{
	int nl = 0, ns = 0;

	shorts[ns++] = '+';	/* stop at the command */
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct sg_option *op = &options[i];

		if (!(mask & op->id))
			continue;
		longs[nl++] = (struct option){ op->name,
			op->arg ? required_argument : no_argument, NULL,
			opt_val(i) };
		if (op->short_name) {
			shorts[ns++] = op->short_name;
			if (op->arg)
				shorts[ns++] = ':';
		}
	}
	longs[nl] = (struct option){ NULL };
	shorts[ns] = '\0';
}

/* The option getopt returned: its table entry, or NULL. */
static const struct sg_option *option_of(int c)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (opt_val(i) == c)
			return &options[i];
	return NULL;
}

static void set_option(const struct sg_option *op, struct sg_opts *o)
{
	switch (op->id) {
	case OPT_CONFIG:
		o->config = optarg;
		break;
	case OPT_DRY_RUN:
		o->dry_run = true;
		break;
	case OPT_METRICS:
		o->metrics_listen = optarg;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_PROMETHEUS:
		o->prometheus = true;
		break;
	case OPT_KEEP_MAPS:
		o->keep_maps = true;
		break;
	case OPT_PIN_DIR:
		o->pin_dir = optarg;
		break;
	case OPT_VERBOSE:
		sg_verbose++;
		break;
	}
}

static int print_version(void)
{
	printf("sectorgate %s (libbpf %s)\n", SG_VERSION,
	       libbpf_version_string());
	return SG_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct option longs[ARRAY_SIZE(options) + 1];
	char shorts[2 * ARRAY_SIZE(options) + 2];
	struct sg_opts o = {
		.pin_dir = SG_DEFAULT_PIN_DIR,
		.config = SG_DEFAULT_CONFIG,
	};
	const struct sg_command *cmd = NULL;
	const struct sg_option *op;
	int c;

	build_getopt(OPT_GLOBAL, longs, shorts);
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		op = option_of(c);
		if (op && op->id == OPT_HELP) {
			usage(stdout);
			return SG_EXIT_OK;
		}
		if (op && op->id == OPT_VERSION)
			return print_version();
		if (!op) {
			usage(stderr);
			return SG_EXIT_USAGE;
		}
		set_option(op, &o);
	}
	if (optind >= argc) {
		usage(stderr);
		return SG_EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "sectorgate: unknown command \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return SG_EXIT_USAGE;
	}

	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: 0 restarts the scan, permutation state included */
	build_getopt(cmd->opts | OPT_GLOBAL, longs, shorts);
	/* Options may follow the positional argument (dump nat --json). */
	shorts[0] = '-';
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == 1 && cmd->args && !o.what) {
			o.what = optarg;
			continue;
		}
		op = option_of(c);
		if (op && op->id == OPT_HELP) {
			command_help(cmd);
			return SG_EXIT_OK;
		}
		if (op && op->id == OPT_VERSION)
			return print_version();
		if (!op) {
			command_usage(stderr, cmd);
			return SG_EXIT_USAGE;
		}
		set_option(op, &o);
	}
	if (optind < argc || (o.json && o.prometheus) ||
	    (cmd->args && !o.what)) {
		command_usage(stderr, cmd);
		return SG_EXIT_USAGE;
	}
	libbpf_set_print(libbpf_print);
	return cmd->run(&o);
}
