/* rp_engine.h — the replay engine's private state, shared by replay.c (the
 * merge and the per-event work) and rp_order.c (events of different streams
 * within a tick of each other, put in the order liveness demands).  Nothing
 * outside the engine includes it: the contract is replay.h. */
#ifndef RP_ENGINE_H
#define RP_ENGINE_H

#include "replay.h"
#include "rp_prefetch.h"
#include "rp_tables.h"

struct chunk_ref { uint32_t seq, g; uint64_t offset, base_ticks; }; /* g: the chunk's number in the file */

struct cursor {
    uint32_t stream;
    struct chunk_ref *chunks;
    uint32_t nchunks, cap, next_chunk;
    uint8_t *buf;                 /* decoded payload of the current chunk (no prefetcher) */
    size_t buf_cap;
    uint32_t cur_g;               /* the current chunk's number + 1 (prefetcher), 0 none */
    const struct rp_hot *hot, *hot_end; /* with the prefetcher: records decoded ahead */
    int hot_bad;                  /* and whether their decoding stopped early */
    const uint8_t *p, *end;
    struct mrz_delta delta;
    struct mrz_rec rec;           /* the pending event */
    uint64_t key;                 /* its time (ticks, monotone per stream) */
    int has_rec;
    /* stream-scoped state */
    struct rp_vec32 stack_map;    /* local stack id -> global node */
    struct rp_vec32 string_map;   /* local string id -> global string */
    uint32_t thread;              /* current engine thread */
    uint32_t region_stack[64];
    uint32_t region_depth;
    uint32_t label_next;          /* pending label for the next allocation */
    uint64_t last_alloc_ptr;      /* temporaries: the thread's latest allocation */
    struct rp_block released;     /* realloc's released block, until the realloc returns */
    int has_released;
};

/* A merge heap entry: the key is the time, then, at equal times, realloc's
 * releases, other releases, then everything else (so a reused address is
 * released before it is handed out again, and a block realloc resized in
 * place is released by the realloc before another thread frees the new
 * one), packed in one integer so ordering never touches the cursors. */
struct hent { uint64_t k; uint32_t cur; };

static inline uint64_t merge_key(const struct cursor *c)
{
    uint8_t t = c->rec.type;
    uint64_t cls = t == MRZ_T_REALLOC_FREE ? 0 : t == MRZ_T_FREE || t == MRZ_T_CUDA_FREE ? 1 : 2;
    return c->key << 2 | cls;
}

/* An event of a parked stream that waits for its partner on another stream
 * (rp_order.c): a release of an address not live (waiting for the
 * allocation), or an allocation at a live address (waiting for the release). */
struct rp_held {
    uint64_t ptr;
    uint64_t time;                /* the event's merge time (ticks) */
    uint32_t cur;                 /* the parked cursor; its pending record is the event */
    uint8_t cuda;                 /* address class: 0 host, 1 CUDA */
    uint8_t is_alloc;
    struct rp_block b;            /* an allocation: its block, filled when it was held */
};

struct rp_engine {
    struct mrz_reader *r;
    const struct an_meta *m;
    void *dctx;
    struct cursor *cur;
    uint32_t ncur;
    struct hent *heap;            /* cursors ordered by merge key; parked ones are out */
    struct rp_prefetch *pf;       /* chunks decoded ahead on another thread, or NULL */
    uint32_t nchunks;
    uint32_t nheap;
    struct rp_totals tot;
    struct rp_live live;
    struct rp_nodes nodes;
    struct rp_strings strings;
    struct rp_regions regions;
    struct rp_threads threads;
    struct rp_site *sites;
    uint32_t nsites, sites_cap;
    struct rp_vec32 site_of_node; /* node -> site index (0 none) */
    struct rp_vec32 thread_cur;   /* engine thread -> the cursor it last ran on + 1 */
    uint64_t peak_ver[MRZ_S_COUNT];
    const struct rp_handlers *h;
    int err;
    /* rp_order.c */
    struct rp_held *held;         /* one per parked stream */
    uint32_t nheld, held_cap;
    uint64_t hold_limit;          /* merge key from which the oldest held event is overdue; UINT64_MAX: none */
    uint64_t window;              /* RP_ORDER_NS in ticks */
    uint32_t *resumed;            /* cursors to put back into the heap */
    uint32_t nresumed;
    struct mrz_delta *peek_delta; /* looking ahead in a stream (its rings are large) */
    uint8_t *peek_buf;            /* and in its next chunk */
    size_t peek_cap;
};

/* Status of handling one event. */
enum { RP_GO = 0, RP_PARKED = 1, RP_RESUMED = 2 };

/* How far apart (ns) the stamps of two threads' events can be in the wrong
 * order (format/SPEC.md, 9.3); the engine uses at least one tick. */
#define RP_ORDER_NS 1000

/* rp_order.c */
/** c (the heap's top) met a release of an address not live, or an allocation
 * at a live one (b: its block, NULL for a release): parks c if a partner may
 * still come.  @return RP_PARKED, or RP_GO (handle it as unmatched now). */
int rp_order_hold(struct rp_engine *e, struct cursor *c, uint64_t ptr, int cuda, const struct rp_block *b);
/** What an event does to (ptr, cuda): 1 releases it, 2 allocates it, 0
 * neither.  failed: a CUDA call's result was not 0 (meaningless for others). */
static inline int rp_on_addr(uint8_t type, uint64_t rptr, int failed, uint64_t ptr, int cuda)
{
    if (rptr != ptr)
        return 0;
    if (type >= 1 && type <= MRZ_K_MAX)
        return cuda ? 0 : 2;
    if (type == MRZ_T_FREE || type == MRZ_T_REALLOC_FREE)
        return cuda ? 0 : 1;
    if (type == MRZ_T_CUDA_ALLOC)
        return cuda && !failed ? 2 : 0;
    if (type == MRZ_T_CUDA_FREE)
        return cuda && !failed ? 1 : 0;
    return 0;
}
/** The rest of rp_order_owner_first, once the owner's next event names b. */
int rp_order_owner_hold(struct rp_engine *e, struct cursor *c, const struct cursor *a, const struct rp_block *b);
/** c releases b, a block another thread allocated.  Two releases of one
 * block within the window, on its own thread's stream and on c: its own
 * thread releases it first (a realloc in place, then the new block handed
 * over), so c's release is of the block allocated after that.  Only the
 * owner's next event is looked at: that is where it is when the stamps are
 * this close.  @return 1 if c was parked for that (the caller puts b back). */
static inline int rp_order_owner_first(struct rp_engine *e, struct cursor *c, const struct rp_block *b)
{
    uint32_t k = rp_vec32_get(&e->thread_cur, b->thread);
    if (!k)
        return 0;
    const struct cursor *a = &e->cur[k - 1];
    if (a->rec.ptr != b->ptr || a == c || a->thread != b->thread)
        return 0; /* the common case: the owner is busy with another address */
    return rp_order_owner_hold(e, c, a, b);
}
/** c's event made the address (ptr, cuda) live (live = 1) or not live at
 * time t (ticks): applies the held events this lets happen.  Call only when
 * e->nheld.  @return RP_RESUMED if a stream was resumed, else RP_GO. */
int rp_order_settle(struct rp_engine *e, struct cursor *c, uint64_t ptr, int cuda, int live, uint64_t t);
/** Handles the oldest held event as unmatched (its partner is overdue). */
void rp_order_expire(struct rp_engine *e);
/** Puts resumed cursors back into the heap. */
void rp_order_push(struct rp_engine *e);
void rp_order_free(struct rp_engine *e);

/* replay.c, for rp_order.c */
/** Applies the pending release of c (never holds).  @return RP_GO or RP_RESUMED. */
int rp_release(struct rp_engine *e, struct cursor *c, uint64_t t_ns);
/** Makes b live for c (never holds).  @return RP_GO or RP_RESUMED. */
int rp_alloc(struct rp_engine *e, struct cursor *c, struct rp_block *b, uint64_t t_ns);
/** Moves c to its next event.  @return 1, 0 at its end. */
int rp_advance(struct rp_engine *e, struct cursor *c);
uint64_t rp_ns(const struct rp_engine *e, uint64_t ticks);
void rp_heap_push(struct rp_engine *e, uint32_t cur);

#endif
