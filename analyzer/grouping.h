/* grouping.h — allocations grouped by a key (size, call site, label, or a
 * pair of them) with the figures `mallocan arenas` and `mallocan lifetimes`
 * show: counts, the most alive at once, sizes, threads and a lifetime
 * histogram.  Fed from the replay engine's on_alloc/on_free; memory grows
 * with the number of groups, never with the number of events. */
#ifndef GROUPING_H
#define GROUPING_H

#include <stdint.h>
#include <stdio.h>

#include "replay.h"
#include "symbols.h"

/* What a group is keyed by: a set of these bits. */
enum { GR_SIZE = 1, GR_SITE = 2, GR_LABEL = 4 };

/** Parses "size", "site", "label", "site,size" or "label,size" (either
 * order) into GR_* bits, accepting only keys within allowed.
 * @return 0, or -1 for anything else. */
int gr_parse_by(const char *s, unsigned allowed, unsigned *out);
/** "size", "site,size", ... */
const char *gr_by_name(unsigned by);

/* Lifetimes: four buckets per power of two (bucket b < 4 holds b ns). */
#define GR_LIFE_BUCKETS 252
static inline unsigned gr_life_bucket(uint64_t ns)
{
    if (ns < 4)
        return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    return (msb - 1) * 4 + (unsigned)((ns >> (msb - 2)) & 3);
}
/** Lowest lifetime of bucket b (its highest is gr_life_lo(b + 1) - 1). */
uint64_t gr_life_lo(unsigned b);
/** The q-quantile (0..1) of a histogram of n values, interpolated inside
 * its bucket.  @return 0 when n is 0. */
double gr_life_quantile(const uint64_t *hist, uint64_t n, double q);

struct gr_group {
    /* the key: the fields grouped by; the others hold the first block's */
    uint64_t size;
    uint32_t site, label;
    uint64_t count, bytes;
    uint64_t live, max_live;               /* blocks alive now / at most at once */
    uint64_t live_bytes, max_live_bytes;
    uint64_t min_size, max_size;
    uint64_t sizes, threads;               /* distinct */
    uint64_t freed;                        /* by free (a realloc's old block is not freed) */
    uint64_t *life;                        /* GR_LIFE_BUCKETS counts, NULL until a free */
};

struct gr_table {
    unsigned by;
    struct gr_group *g;
    uint32_t n, cap;
    uint32_t *index;                       /* open addressing: group + 1, 0 empty */
    uint32_t icap;
    struct gr_pairs *sizes, *threads;      /* (group, value) seen */
    int err;                               /* set once an allocation failed */
};

/** @return 0, or -1 when out of memory. */
int gr_init(struct gr_table *t, unsigned by);
void gr_free(struct gr_table *t);
/** Handlers' bodies: count an allocation, a free (t_ns: when). */
void gr_on_alloc(struct gr_table *t, const struct rp_block *b);
void gr_on_free(struct gr_table *t, const struct rp_block *b, uint64_t t_ns, int by_realloc);

/** A short name for a site: its first frame of the program's own code
 * (function and file:line, or module+0xOFFSET) and its caller's function. */
void gr_site_name(struct sym_ctx *sym, struct rp_engine *e, uint32_t site, char *buf, size_t n);
/** The group's key as text ("size 512", "label forces", ...). */
void gr_key_text(const struct gr_table *t, const struct gr_group *g, struct sym_ctx *sym, struct rp_engine *e,
                 char *buf, size_t n);
/** Writes the key's JSON members (no braces): "size", "site", "site_name", "label". */
void gr_key_json(FILE *f, const struct gr_table *t, const struct gr_group *g, struct sym_ctx *sym,
                 struct rp_engine *e);

/** "512 B", "1.50 KiB", ... */
const char *gr_fmt_bytes(char *buf, size_t n, double v);
/** "80 ns", "1.5 us", "3.2 ms", "1.250 s" */
const char *gr_fmt_ns(char *buf, size_t n, double ns);

#endif
