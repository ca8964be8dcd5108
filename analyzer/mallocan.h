/* mallocan.h — the analyzer's command table, option parsing and the trace
 * metadata every subcommand starts from.
 *
 * Each subcommand lives in its own file and exports one `struct an_cmd`; the
 * option table of each command is also its help text. */
#ifndef MALLOCAN_H
#define MALLOCAN_H

#include <stdint.h>
#include <stdio.h>

#include "mrz.h"

#define AN_MAX_OPTS 32

struct an_opt {
    const char *name;      /* long name without "--" */
    char short_name;       /* or 0 */
    const char *arg;       /* argument name, NULL for a flag */
    const char *help;
    const char *dflt;      /* default value shown in the help, or NULL */
};

struct an_ctx;

struct an_cmd {
    const char *name;
    const char *args;      /* e.g. "TRACE" or "BASE NEW" */
    const char *summary;
    const struct an_opt *opts; /* terminated by {0} */
    int min_traces, max_traces; /* max < 0: unlimited */
    /** @return the process exit status: 0 fine, 1 a gate failed, 2 bad input. */
    int (*run)(struct an_ctx *ctx);
};

struct an_ctx {
    const struct an_cmd *cmd;
    int ntraces;
    char **traces;
    const char *val[AN_MAX_OPTS]; /* parsed values, by index in cmd->opts */
    FILE *out;
};

/** @return the index of option `name` in cmd's table, or -1. */
int an_opt_find(const struct an_cmd *cmd, const char *name);
/** @return the option's value, "1" for a set flag, its default, or NULL. */
const char *an_get(const struct an_ctx *ctx, const char *name);
/** Integer option; prints and returns -1 on a malformed value. */
int an_get_long(const struct an_ctx *ctx, const char *name, long *out);
/** --format's value checked against a |-separated list ("text|json").
 * @return the value, or NULL after printing an error. */
const char *an_get_format(const struct an_ctx *ctx, const char *allowed);

/** Prints "mallocan: WHAT: message" on stderr.  @return 2. */
int an_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Prints a warning line, same shape. */
void an_warn(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ trace metadata */

struct an_module {
    uint32_t id;
    uint64_t base;
    uint64_t t_load, t_unload;  /* ticks; t_unload UINT64_MAX while loaded */
    char *path;
    uint8_t build_id[64];
    int build_id_len;
    struct mrz_segment seg[16];
    int nseg;
};

struct an_meta {
    uint32_t pid, ppid;
    char *exe, *cmdline;
    unsigned clock;
    uint64_t tick_hz, realtime_ns, start_ticks;
    uint64_t sample_bytes;   /* OPTIONS: 0 every allocation recorded, else the sampling rate R */
    struct an_module *mods;
    int nmods;
    int have_end, end_how, end_value, end_after_death;
    uint64_t end_ticks;
    double fit_t0, fit_ns0, fit_slope; /* ns = fit_ns0 + (t - fit_t0) * fit_slope */
    uint64_t chunks, salvaged_chunks, raw_bytes, payload_bytes, file_bytes;
    uint32_t max_stream;
    uint64_t damage_at, damage_skipped; /* damage_at UINT64_MAX when none */
};

/** Opens a trace and reads its metadata (process, modules, end, clock);
 * leaves the reader rewound.  Prints one error line naming the file on
 * failure.  @return 0, or 2 (the exit status to use). */
int an_open(const char *path, struct mrz_reader **r, struct an_meta *m);
void an_meta_free(struct an_meta *m);
/** Prints the damage warning once, if the reader met any. */
void an_report_damage(const char *path, struct mrz_reader *r);

/** Nanoseconds since the process started, for a tick value. */
double an_ns(const struct an_meta *m, uint64_t ticks);
/** The module mapping ip at time t (ticks), or NULL. */
const struct an_module *an_module_at(const struct an_meta *m, uint64_t ip, uint64_t t);

/** JSON string output with escaping. */
void an_json_str(FILE *f, const char *s, size_t n);
/** A C string as a JSON string, or null for NULL. */
void an_json_cstr(FILE *f, const char *s);
/** The part of path after its last '/' (path itself when it has none). */
const char *an_base_name(const char *path);

#endif
