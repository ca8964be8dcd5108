/* replay.h — the replay engine every mallocan subcommand is built on.
 *
 * The engine reads a trace's chunks, merges the per-thread streams by time,
 * matches each free to its allocation (across threads too), keeps the live
 * set and per-site aggregates, and calls the subcommand's handlers.  Its
 * memory grows with the live allocations and the distinct stacks, never with
 * the number of events.
 *
 * A "site" is an allocation's call stack (a node of the global stack trie,
 * deduplicated across threads); sites carry the aggregates most subcommands
 * need, including their live bytes at each space's peak (exact, computed in
 * the same pass with lazily versioned snapshots). */
#ifndef REPLAY_H
#define REPLAY_H

#include <stdint.h>

#include "mallocan.h"

struct rp_engine;

/* A live (or just freed) allocation. */
struct rp_block {
    uint64_t ptr, size;
    uint64_t t_alloc;      /* ns since process start */
    uint32_t site;         /* index into the site table (rp_site); 0 = no stack */
    uint32_t thread;       /* engine thread index (rp_thread) */
    uint32_t region;       /* region node (rp_region), 0 = none */
    uint32_t label;        /* interned string id (rp_string), 0 = none */
    uint8_t kind;          /* enum mrz_kind, or 0 for CUDA */
    uint8_t space;         /* enum mrz_space */
    uint16_t device;
};

/* Per-site aggregates, maintained by the engine. */
struct rp_site {
    uint32_t node;         /* innermost stack node (rp_node_*) */
    uint8_t space;         /* space of the site's first allocation */
    uint64_t allocs, frees, reallocs, failed;
    uint64_t bytes;        /* bytes allocated, total */
    uint64_t live_bytes, live_count;   /* now (at the end: leaked) */
    uint64_t max_live_bytes;           /* the site's own maximum */
    uint64_t peak_bytes, peak_count;   /* live at its space's peak (valid in on_end) */
    uint64_t temporaries;  /* freed before any other allocation on their thread */
    uint64_t min_size, max_size;
    /* engine-private */
    uint64_t snap_ver;
};

struct rp_space_stats {
    uint64_t live_bytes, live_count;
    uint64_t peak_bytes, peak_count;
    uint64_t peak_time_ns;
    uint64_t allocs, frees, bytes, failed;
};

struct rp_totals {
    uint64_t allocations, frees, reallocs, failed;  /* host + CUDA */
    uint64_t bytes_allocated;
    uint64_t kind[MRZ_K_MAX + 1];
    uint64_t temporaries;
    uint64_t unknown_frees;     /* a free of a pointer not live (tolerated) */
    uint64_t overwritten;       /* an allocation at a still-live address (tolerated) */
    uint64_t reordered;         /* releases and allocations put after their partner on another
                                 * thread, stamped within a tick of it (format/SPEC.md, 9.3) */
    uint64_t events;            /* alloc + free records seen */
    uint64_t first_ns, last_ns; /* event times, ns since start */
    uint64_t lost;              /* events the recorder reported lost */
    uint64_t bad_chunks;        /* chunks whose records stopped decoding (rest skipped) */
    uint64_t paused;            /* times recording was switched off (mallocrec_pause, windows):
                                 * frees of blocks allocated while off are unknown_frees */
    struct rp_space_stats space[MRZ_S_COUNT];
    /* A sampled trace (an_meta.sample_bytes = R > 0): each recorded block of
     * n bytes stands for 1/p(n) blocks, p(n) = 1 - exp(-max(n,1)/R) (SPEC.md,
     * OPTIONS), which makes these unbiased estimates of the program's own. */
    struct rp_estimate {
        double allocations, bytes;
        double live_bytes[MRZ_S_COUNT], peak_bytes[MRZ_S_COUNT];
    } est;
};

struct rp_handlers {
    void *user;
    /** An allocation became live (b is the engine's copy, valid for the call). */
    void (*on_alloc)(void *user, struct rp_engine *e, const struct rp_block *b);
    /** A block was freed at t_ns; by_realloc when realloc released it. */
    void (*on_free)(void *user, struct rp_engine *e, const struct rp_block *b, uint64_t t_ns, int temporary,
                    int by_realloc);
    /** A phase marker (mallocrec_mark). */
    void (*on_mark)(void *user, struct rp_engine *e, uint64_t t_ns, uint32_t thread, const char *name);
    /** End of the trace: the live set is what leaked (rp_live_foreach). */
    void (*on_end)(void *user, struct rp_engine *e);
};

/** Creates an engine on an open trace (from an_open).  The engine does not
 * own r or m.  @return NULL on allocation failure. */
struct rp_engine *rp_new(struct mrz_reader *r, const struct an_meta *m);
void rp_free(struct rp_engine *e);

/** Replays the whole trace, calling h's handlers (any may be NULL).
 * Precondition: called once per engine (a second replay needs rp_new again).
 * @return 0, or a negative MRZ_E* code when the trace cannot be read
 *         (damage that can be skipped is not an error: see an_report_damage). */
int rp_run(struct rp_engine *e, const struct rp_handlers *h);

const struct rp_totals *rp_totals(const struct rp_engine *e);

/* Sites: index 1..rp_site_count()-1 (0 is the "no stack" site). */
uint32_t rp_site_count(const struct rp_engine *e);
const struct rp_site *rp_site(const struct rp_engine *e, uint32_t site);

/* The global stack trie: node 0 is the root (empty stack). */
uint32_t rp_node_parent(const struct rp_engine *e, uint32_t node);
uint64_t rp_node_ip(const struct rp_engine *e, uint32_t node);   /* a return address */
uint32_t rp_node_count(const struct rp_engine *e);
/** Fills ips (innermost first) with the stack of node; @return its depth
 * (which may exceed max: only max are stored). */
int rp_stack(const struct rp_engine *e, uint32_t node, uint64_t *ips, int max);

/* Threads: index 0..rp_thread_count()-1, in order of first appearance. */
uint32_t rp_thread_count(const struct rp_engine *e);
uint32_t rp_thread_tid(const struct rp_engine *e, uint32_t thread);
const char *rp_thread_name(const struct rp_engine *e, uint32_t thread); /* or NULL */

/* Regions (mallocrec_region_begin/end), a tree: node 0 is the root. */
uint32_t rp_region_count(const struct rp_engine *e);
uint32_t rp_region_parent(const struct rp_engine *e, uint32_t region);
const char *rp_region_name(const struct rp_engine *e, uint32_t region);

/** Interned strings (labels, marks, regions); id 0 is "". */
const char *rp_string(const struct rp_engine *e, uint32_t id);

/** Calls fn for every live block (in no particular order). */
void rp_live_foreach(struct rp_engine *e, void (*fn)(void *user, const struct rp_block *b), void *user);

/** The trace's metadata. */
const struct an_meta *rp_meta(const struct rp_engine *e);

#endif
