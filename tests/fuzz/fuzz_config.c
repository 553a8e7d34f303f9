// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target for the definitions parser (loader/config.c, with
 * libyaml underneath): any bytes as a definitions file, parsed and
 * validated, the model and the messages freed. Built by `make fuzz` with
 * AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer; a
 * crash, a leak, undefined behaviour or a unit slower than the timeout is
 * a finding. The seed corpus is tests/fuzz/corpus.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_diags d = {};
	struct sg_model m;

	sg_config_parse("f.yaml", (const char *)data, size, &m, &d);
	sg_model_free(&m);
	sg_diags_free(&d);
	return 0;
}
