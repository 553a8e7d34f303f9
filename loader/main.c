// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sectorgate(8): global options, then one subcommand with its own. */
#include <bpf/libbpf.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "util.h"

#define SG_VERSION "0.1.0"

/* Per-subcommand flags; each command lists the ones it takes. */
enum {
	OPT_CONFIG = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_PROMETHEUS = 1 << 2,
	OPT_KEEP_MAPS = 1 << 3,
	OPT_WHAT = 1 << 4,	/* one positional argument */
};

static const struct sg_command {
	const char *name;
	int (*run)(const struct sg_opts *o);
	unsigned int opts;
	const char *usage;
	const char *help;
} commands[] = {
	{ "check", cmd_check, OPT_CONFIG, "[-c FILE]",
	  "validate only; prints a one-screen summary" },
	{ "apply", cmd_apply, OPT_CONFIG, "[-c FILE]",
	  "load, attach, fill maps; idempotent; keeps live flows" },
	{ "run", cmd_run, OPT_CONFIG, "[-c FILE]",
	  "apply, then attach new devices, reload on SIGHUP, expire flows" },
	{ "status", cmd_status, OPT_JSON, "[--json]",
	  "what is attached where, sectors, map fill levels" },
	{ "stats", cmd_stats, OPT_JSON | OPT_PROMETHEUS,
	  "[--json | --prometheus]", "counters per sector and per drop reason" },
	{ "dump", cmd_dump, OPT_JSON | OPT_WHAT,
	  "sectors|conntrack|nat|policy [--json]", "the maps, decoded" },
	{ "monitor", cmd_monitor, OPT_JSON, "[--json]",
	  "stream drop events as they happen" },
	{ "unload", cmd_unload, OPT_KEEP_MAPS, "[--keep-maps]",
	  "detach everything; remove pins unless --keep-maps" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sectorgate [global options] COMMAND [options]\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  sectorgate %-7s %-38s %s\n", commands[i].name,
			commands[i].usage, commands[i].help);
	fprintf(out, "\nglobal options: --pin-dir DIR (default %s), -v, "
		"--help, --version\n", SG_DEFAULT_PIN_DIR);
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
	return vfprintf(stderr, fmt, ap);
}

/* The options valid before and after the command: 1 when c was one. */
static int global_option(int c, struct sg_opts *o)
{
	switch (c) {
	case 'p':
		o->pin_dir = optarg;
		return 1;
	case 'v':
		sg_verbose++;
		return 1;
	default:
		return 0;
	}
}

int main(int argc, char **argv)
{
	static const struct option global[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL },
	};
	static const struct option local[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "keep-maps", no_argument, NULL, 'k' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL },
	};
	struct sg_opts o = {
		.pin_dir = SG_DEFAULT_PIN_DIR,
		.config = SG_DEFAULT_CONFIG,
	};
	const struct sg_command *cmd = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+vh", global, NULL)) != -1) {
		if (global_option(c, &o))
			continue;
		switch (c) {
		case 'h':
			usage(stdout);
			return SG_EXIT_OK;
		case 'V':
			printf("sectorgate %s (libbpf %s)\n", SG_VERSION,
			       libbpf_version_string());
			return SG_EXIT_OK;
		default:
			usage(stderr);
			return SG_EXIT_USAGE;
		}
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
	while ((c = getopt_long(argc, argv, "c:v", local, NULL)) != -1) {
		unsigned int need = c == 'c' ? OPT_CONFIG : c == 'j' ? OPT_JSON :
				    c == 'P' ? OPT_PROMETHEUS :
				    c == 'k' ? OPT_KEEP_MAPS : 0;

		if (need && !(cmd->opts & need))
			c = '?';
		if (global_option(c, &o))
			continue;
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'P':
			o.prometheus = true;
			break;
		case 'k':
			o.keep_maps = true;
			break;
		case 'h':
			printf("usage: sectorgate %s %s\n  %s\n\nglobal "
			       "options: --pin-dir DIR (default %s), -v, "
			       "--help\n", cmd->name, cmd->usage, cmd->help,
			       SG_DEFAULT_PIN_DIR);
			return SG_EXIT_OK;
		default:
			fprintf(stderr, "usage: sectorgate %s %s\n", cmd->name,
				cmd->usage);
			return SG_EXIT_USAGE;
		}
	}
	if ((cmd->opts & OPT_WHAT) && optind < argc)
		o.what = argv[optind++];
	if (optind < argc || (o.json && o.prometheus) ||
	    ((cmd->opts & OPT_WHAT) && !o.what)) {
		fprintf(stderr, "usage: sectorgate %s %s\n", cmd->name,
			cmd->usage);
		return SG_EXIT_USAGE;
	}
	libbpf_set_print(libbpf_print);
	return cmd->run(&o);
}
