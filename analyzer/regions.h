/* regions.h — the region table of `mallocan report --by region`: the tree
 * of regions a program opened with mallocrec_region_begin(), each with the
 * allocations made inside it (its subregions included): count, bytes, the
 * most of those bytes alive at once, and the sum, mean, min, max and
 * standard deviation of their sizes.  Allocations outside every region are
 * the root's own. */
#ifndef REGIONS_H
#define REGIONS_H

#include <stdio.h>

#include "replay.h"

struct rg_table;

/** @return an empty table, or NULL when out of memory. */
struct rg_table *rg_new(void);
void rg_free(struct rg_table *t);

/** Handler bodies, for a command that replays with its own handlers.
 * Precondition: the same engine for every call. */
void rg_on_alloc(struct rg_table *t, struct rp_engine *e, const struct rp_block *b);
void rg_on_free(struct rg_table *t, struct rp_engine *e, const struct rp_block *b);
/** @return nonzero when an allocation failed during the replay. */
int rg_failed(const struct rg_table *t);

/** Prints the tree as a text table / as one JSON array value (no newline). */
void rg_print_text(const struct rg_table *t, struct rp_engine *e, FILE *f);
void rg_print_json(const struct rg_table *t, struct rp_engine *e, FILE *f);

/** Replays the trace at path and prints its region table (text, or a JSON
 * object with "trace" and "regions").  Prints one error line on failure.
 * @return the exit status: 0, or 2. */
int rg_report(const char *path, FILE *out, int json);

#endif
