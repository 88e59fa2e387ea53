/* SPDX-License-Identifier: GPL-2.0 */
/*
 * svg.h - a self-contained interactive flamegraph SVG (click to zoom, search, tooltips) drawn
 * from folded lines, written by threadtrace itself: it opens in a browser with no network.
 */
#ifndef TT_SVG_H
#define TT_SVG_H

#include <stdio.h>
#include "folded.h"

/* title: the heading; unit: "us" or "contentions" for the tooltips. 0 or -EIO. */
int svg_write(FILE *out, const struct folded *f, const char *title, const char *unit);

#endif
