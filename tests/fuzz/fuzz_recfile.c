// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_recfile.c - libFuzzer target for the whole replay path: parse a record file, analyse
 * it, and produce every output. `make fuzz` runs it; crashers it finds go to
 * tests/fuzz/crashers/ and stay there as regression inputs (tests/unit runs them).
 */
#include <stdio.h>
#include <stdlib.h>
#include "recfile.h"
#include "analysis.h"
#include "report.h"
#include "json.h"
#include "folded.h"
#include "svg.h"
#include "pprof.h"
#include "perfetto.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct record_buf rb = {0};
	struct symdata sd = {0};
	struct rec_info info;
	struct report_opts ro = {.top_locks = 10, .top_stacks = 3, .max_frames = 12};
	struct analysis an;
	char why[256];
	FILE *null = fopen("/dev/null", "w");

	if (!recfile_parse(data, len, &info, &rb, &sd, why, sizeof(why)) &&
	    !analysis_run(&rb, &sd, &an)) {
		struct folded f;

		report_text(null, &an, &ro);
		json_summary(null, &an);
		pprof_write(null, &an, false);
		perfetto_write(null, &an);
		folded_build(&f, &an, false, true, false);
		folded_write(null, &f);
		svg_write(null, &f, "fuzz", "us");
		folded_free(&f);
		analysis_free(&an);
	}
	records_free(&rb);
	symdata_free(&sd);
	fclose(null);
	return 0;
}
