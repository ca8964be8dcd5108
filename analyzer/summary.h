/* summary.h — what the CI gates (diff, check) compare: traces reduced to
 * totals and a site table whose keys survive a rebuild, grouped per
 * program, and the limit grammar both commands share.
 *
 * Site identity.  A site's key is its chain of symbolized function names
 * (inlined frames included, the recorder's own frames dropped), each with its
 * source file's base name when known; frames without a name count as
 * module+0xOFFSET.  Lines are not part of the key (they shift when code is
 * edited), they only order the sites that share a key: when both builds have
 * the same number of such sites they pair in line order, otherwise the
 * group is compared as one merged site.
 *
 * Units.  Every trace is a unit named by its program (the executable's base
 * name); the n-th trace of a program (traces ordered by file name, so rank
 * numbers in file names order MPI ranks) matches the n-th of the other side.
 * With one trace per side the two always match.  Aggregating sums every
 * trace of a side into one unit (the peak then is the sum of the processes'
 * peaks, an upper bound of what was live at once). */
#ifndef SUMMARY_H
#define SUMMARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mallocan.h"

/* Metrics a limit can name. */
enum sm_metric {
    SM_ALLOCATIONS,   /* allocation calls */
    SM_BYTES,         /* bytes allocated, total */
    SM_PEAK,          /* live bytes at the space's peak */
    SM_LEAKED,        /* bytes still live at the end */
    SM_LEAKED_BLOCKS, /* blocks still live at the end */
    SM_TEMPORARIES,   /* blocks freed before their thread allocated again */
    SM_NMETRICS
};

/** @return the metric's name as a SPEC writes it ("peak", "leaked_blocks"). */
const char *sm_metric_name(int metric);
/** @return 1 for a metric in bytes, 0 for a count. */
int sm_metric_is_size(int metric);
/** @return 1 for a metric kept per space (peak, leaked). */
int sm_metric_per_space(int metric);

/* A site's figures; also what a unit's totals are made of. */
struct sm_fig {
    uint64_t v[SM_NMETRICS]; /* indexed by enum sm_metric */
};

struct sm_frame {
    const char *function; /* NULL when unknown */
    const char *file;     /* as the debug info names it, or NULL */
    const char *module;   /* base name, or NULL */
    int line;
    int inlined;          /* inlined into the next frame */
    int system;           /* libc, ld.so, libstdc++ ... */
    uint64_t offset;      /* in the module */
};

struct sm_site {
    char *key;            /* the identity across builds */
    int *lines;           /* per key frame, outermost first */
    int nlines;
    struct sm_frame *frames; /* innermost first */
    int nframes;
    char *display;        /* short label for tables */
    uint8_t space;
    struct sm_fig f;
};

struct sm_totals {
    struct sm_fig all;                 /* peak: the host space's */
    struct sm_fig space[MRZ_S_COUNT];  /* allocations, bytes, peak, leaked, leaked_blocks */
    uint64_t frees, failed;
};

struct sm_unit {
    char *name;           /* program name, or "all" when aggregated */
    int ordinal;          /* among this side's units of the same program */
    char **traces;        /* borrowed from the side's path list */
    int ntraces;
    struct sm_totals t;
    struct sm_site *sites;
    size_t nsites;
};

struct sm_side {
    char **paths;
    int npaths;
    struct sm_unit *units;
    int nunits;
    struct sm_string_pool *pool; /* strings of frames */
};

/** Expands trace arguments: a file is a trace; a directory stands for
 * every *.mrz in it; anything else is split at commas.  Paths come out in
 * natural order (rank2 before rank10) within each argument.  Prints one
 * error line and @return 2 when an argument names nothing. */
int sm_expand(char *const *args, int nargs, struct sm_side *side);

/** Replays and symbolizes side->paths into units (one per trace, or one in
 * all when aggregate).  Symbolization warnings are printed once per module
 * unless quiet.  @return 0, or 2 after printing an error line. */
int sm_load(struct sm_side *side, int aggregate, int quiet);
void sm_side_free(struct sm_side *side);

/* Sites of two units paired for a diff. */
struct sm_pair {
    const struct sm_site *base, *new; /* representative, NULL when absent */
    struct sm_fig b, n;               /* figures (merged when nb/nn > 1) */
    int nb, nn;                       /* sites merged on each side */
};

/** Pairs the sites of b and n (either may be NULL: all new / all gone).
 * @return the number of pairs in *out (free() it), or -1 when out of memory. */
long sm_match(const struct sm_unit *b, const struct sm_unit *n, struct sm_pair **out);

/** Pairs units of two sides (by program name and ordinal; a lone unit on
 * each side always pairs).  out[i][0] / out[i][1] may be NULL.
 * @return the number of pairs, or -1 when out of memory. */
int sm_match_units(const struct sm_side *b, const struct sm_side *n, const struct sm_unit *(**out)[2]);

/** Display name of a unit: "prog", or "prog#2" for the third of its name. */
void sm_unit_label(const struct sm_unit *u, char *buf, size_t n);

/* ------------------------------------------------------------ limits */

enum sm_limit_kind {
    SM_CAP,      /* "64MiB", "0": the value itself */
    SM_GROW_ABS, /* "+20MiB": growth over the base */
    SM_GROW_PCT, /* "+5%": growth relative to the base */
};

struct sm_limit {
    char text[96];   /* as written, for messages */
    int metric;
    int space;       /* enum mrz_space, or -1: every space (peak, leaked) */
    int kind;
    uint64_t amount; /* bytes or count (SM_CAP, SM_GROW_ABS) */
    uint64_t pct_milli; /* percent x 1000 (SM_GROW_PCT) */
};

/** Parses a SPEC such as "peak:+5%,leaked:0,peak.cuda-device:1GiB".
 * Growth limits are refused unless allow_growth.  Appends to *lims / *n.
 * @return 0, or -1 with a one-line reason in err. */
int sm_parse_spec(const char *spec, int allow_growth, struct sm_limit **lims, int *n, char *err, size_t errn);

/** A whole number (no sign, no suffix). @return 0 or -1. */
int sm_parse_count(const char *s, uint64_t *out);
/** Sizes like 4096, 64k, 64MiB, 1.5G (powers of 1024). @return 0 or -1. */
int sm_parse_size(const char *s, uint64_t *out);

/* One limit applied to one unit (and one space). */
struct sm_verdict {
    const struct sm_limit *lim;
    char unit[128];     /* the unit's label */
    int space;          /* -1 for metrics not kept per space */
    uint64_t base, value;
    int have_base;
    uint64_t allowed;   /* the largest value that passes */
    int crossed;
};

/** Applies lims to one unit's totals (base NULL for check, or for a unit
 * new in the candidate: its base counts as zero).  Appends to *out.
 * @return the number crossed, or -1 when out of memory. */
int sm_evaluate(const struct sm_limit *lims, int nlims, const struct sm_totals *base, const struct sm_totals *value,
                const char *unit, struct sm_verdict **out, int *nout);

/** The figure a metric names in totals, for space (-1: the scalar / host). */
uint64_t sm_total(const struct sm_totals *t, int metric, int space);

/** "1.5 MiB", "512 B" for sizes, plain numbers for counts. */
void sm_fmt(char *buf, size_t n, int metric, uint64_t v);
/** A signed change the same way, with its percentage of base when base is
 * not 0: "+20.0 KiB (+100.0%)", "-3 (-25.0%)", "=" for none. */
void sm_fmt_change(char *buf, size_t n, int metric, uint64_t base, uint64_t value);
/** The metric's name with its space: "peak.host", "allocations". */
void sm_verdict_name(const struct sm_verdict *v, char *buf, size_t n);
/** One line explaining a verdict: "peak.host 20.0 KiB -> 40.0 KiB > 21.0 KiB
 * allowed (peak:+5%)", prefixed with the unit's label when with_unit. */
void sm_verdict_text(const struct sm_verdict *v, int with_unit, char *buf, size_t n);

/** Writes a site's members (no braces): "key", "display", "space", "frames". */
void sm_json_site(FILE *f, const struct sm_site *s);
/** Writes figures as a JSON object keyed by metric name. */
void sm_json_fig(FILE *f, const struct sm_fig *g);
/** Writes "limits":[...] (the verdicts) as a JSON member. */
void sm_json_verdicts(FILE *f, const struct sm_verdict *v, int nv);
/** Writes a unit's totals as a JSON object. */
void sm_json_totals(FILE *f, const struct sm_totals *t);
/** Writes a list of trace paths as a JSON array. */
void sm_json_paths(FILE *f, char *const *p, int n);

/** Writes s as a Markdown code span that is safe inside a table cell ('|'
 * escaped, backquotes as apostrophes, newlines dropped). */
void sm_md_code(FILE *f, const char *s);
/** The text format's last line: "result: FAIL, 2 of 3 limits crossed" or
 * "result: ok, within all 3 limits". */
void sm_text_result(FILE *f, int crossed, int nv);
/** One "mallocan: CMD: limit crossed: ..." line on stderr per crossed verdict. */
void sm_warn_crossed(const char *cmd, const struct sm_verdict *v, int nv, int with_unit);

#endif
