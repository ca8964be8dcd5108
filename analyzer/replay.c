/* The replay engine (contract in replay.h).  ENGINE READY.
 *
 * One pass over the trace: an index of every stream's chunks, then a k-way
 * merge of the streams by time.  Records that only matter to their own
 * stream (stack nodes, strings, labels, regions, thread switches) are applied
 * as they are decoded, which is stream order; allocations, frees and marks
 * wait for their turn in the merge, because a free may come from another
 * thread than its allocation.  Where two threads' stamps are too close to
 * tell their order, a release that finds nothing live (or an allocation
 * that finds its address taken) waits for its partner: rp_order.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_engine.h"

struct rp_engine *rp_new(struct mrz_reader *r, const struct an_meta *m)
{
    struct rp_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->r = r;
    e->m = m;
    e->hold_limit = UINT64_MAX;
    e->dctx = mrz_dctx_new();
    if (!e->dctx || rp_live_init(&e->live) || rp_nodes_init(&e->nodes) || rp_strings_init(&e->strings) ||
        rp_regions_init(&e->regions)) {
        rp_free(e);
        return NULL;
    }
    return e;
}

static void reset_tables(struct rp_engine *e)
{
    rp_prefetch_stop(e->pf);
    e->pf = NULL;
    for (uint32_t i = 0; i < e->ncur; i++) {
        free(e->cur[i].chunks);
        free(e->cur[i].buf);
        rp_vec32_free(&e->cur[i].stack_map);
        rp_vec32_free(&e->cur[i].string_map);
    }
    free(e->cur);
    free(e->heap);
    e->cur = NULL;
    e->heap = NULL;
    e->ncur = e->nheap = 0;
}

void rp_free(struct rp_engine *e)
{
    if (!e)
        return;
    reset_tables(e);
    rp_order_free(e);
    mrz_dctx_free(e->dctx);
    rp_live_free(&e->live);
    rp_nodes_free(&e->nodes);
    rp_strings_free(&e->strings);
    rp_regions_free(&e->regions);
    rp_threads_free(&e->threads);
    rp_vec32_free(&e->site_of_node);
    rp_vec32_free(&e->thread_cur);
    free(e->sites);
    free(e);
}

/* ------------------------------------------------------------------ sites */

static uint32_t site_for_node(struct rp_engine *e, uint32_t node, uint8_t space)
{
    uint32_t s = rp_vec32_get(&e->site_of_node, node);
    if (s)
        return s;
    if (e->nsites == e->sites_cap) {
        uint32_t ncap = e->sites_cap ? e->sites_cap * 2 : 1024;
        struct rp_site *ns = realloc(e->sites, ncap * sizeof *ns);
        if (!ns)
            return 0;
        e->sites = ns;
        e->sites_cap = ncap;
    }
    if (e->nsites == 0) { /* site 0: allocations without a stack */
        memset(&e->sites[0], 0, sizeof e->sites[0]);
        e->sites[0].min_size = UINT64_MAX;
        e->nsites = 1;
        if (node == 0)
            return 0;
    }
    s = e->nsites++;
    struct rp_site *st = &e->sites[s];
    memset(st, 0, sizeof *st);
    st->node = node;
    st->space = space;
    st->min_size = UINT64_MAX;
    st->snap_ver = e->peak_ver[space];
    if (rp_vec32_set(&e->site_of_node, node, s))
        return 0;
    return s;
}

/* Before a site's live figures change: if it has not changed since its
 * space's latest peak, its current figures are its figures at that peak. */
static inline void site_touch(struct rp_engine *e, struct rp_site *s)
{
    uint64_t v = e->peak_ver[s->space];
    if (s->snap_ver != v) {
        s->peak_bytes = s->live_bytes;
        s->peak_count = s->live_count;
        s->snap_ver = v;
    }
}

/* an_ns inlined: it runs once per event. */
static inline uint64_t ns_of(const struct rp_engine *e, uint64_t ticks)
{
    double ns = e->m->fit_ns0 + ((double)ticks - e->m->fit_t0) * e->m->fit_slope;
    return ns > 0 ? (uint64_t)ns : 0;
}

/* ------------------------------------------------------------------ events */

/* How many of the program's blocks a recorded one stands for (sampled traces). */
static inline double sample_weight(const struct rp_engine *e, uint64_t size)
{
    double n = size ? (double)size : 1.0;
    return 1.0 / -expm1(-n / (double)e->m->sample_bytes);
}

static void block_gone(struct rp_engine *e, const struct rp_block *b, uint64_t t_ns, int temporary, int by_realloc)
{
    if (e->m->sample_bytes)
        e->tot.est.live_bytes[b->space] -= (double)b->size * sample_weight(e, b->size);
    struct rp_space_stats *sp = &e->tot.space[b->space];
    sp->live_bytes -= b->size;
    sp->live_count--;
    sp->frees++;
    if (b->site < e->nsites) {
        struct rp_site *s = &e->sites[b->site];
        site_touch(e, s);
        s->live_bytes -= b->size;
        s->live_count--;
        s->frees++;
        s->temporaries += (uint64_t)temporary;
    }
    e->tot.temporaries += (uint64_t)temporary;
    if (e->h->on_free)
        e->h->on_free(e->h->user, e, b, t_ns, temporary, by_realloc);
}

/* may_hold: c is the heap's top and may be parked (rp_order.c).  Inlined,
 * like release, so that may_hold costs nothing on the merge's own path.
 * @return RP_GO, RP_PARKED or RP_RESUMED. */
static inline __attribute__((always_inline)) int block_new(struct rp_engine *e, struct cursor *c, struct rp_block *b,
                                                          uint64_t t_ns, int may_hold)
{
    /* an allocation at a still-live address: the old block's release may be
     * stamped on another thread a little later (then it waits for it: the
     * window of rp_order.c); else the old block's free was lost or raced:
     * retire it here rather than count it as a leak */
    struct rp_block old;
    int cuda = b->space != MRZ_S_HOST;
    if (rp_live_remove(&e->live, b->ptr, cuda, &old) == 0) {
        if (may_hold && rp_order_hold(e, c, b->ptr, cuda, b) == RP_PARKED) {
            if (rp_live_insert(&e->live, &old))
                e->err = MRZ_ENOMEM;
            return RP_PARKED;
        }
        e->tot.overwritten++;
        block_gone(e, &old, t_ns, 0, 0);
    }
    if (rp_live_insert(&e->live, b)) {
        e->err = MRZ_ENOMEM;
        return RP_GO;
    }
    struct rp_space_stats *sp = &e->tot.space[b->space];
    sp->live_bytes += b->size;
    sp->live_count++;
    sp->allocs++;
    sp->bytes += b->size;
    if (b->site < e->nsites) {
        struct rp_site *s = &e->sites[b->site];
        site_touch(e, s);
        s->allocs++;
        s->bytes += b->size;
        s->live_bytes += b->size;
        s->live_count++;
        if (s->live_bytes > s->max_live_bytes)
            s->max_live_bytes = s->live_bytes;
        if (b->size < s->min_size)
            s->min_size = b->size;
        if (b->size > s->max_size)
            s->max_size = b->size;
        s->reallocs += b->kind == MRZ_K_REALLOC || b->kind == MRZ_K_REALLOCARRAY;
    }
    if (sp->live_bytes > sp->peak_bytes) {
        sp->peak_bytes = sp->live_bytes;
        sp->peak_count = sp->live_count;
        sp->peak_time_ns = t_ns;
        e->peak_ver[b->space]++;
    }
    e->tot.allocations++;
    e->tot.bytes_allocated += b->size;
    if (e->m->sample_bytes) {
        struct rp_estimate *est = &e->tot.est;
        double w = sample_weight(e, b->size);
        est->allocations += w;
        est->bytes += (double)b->size * w;
        est->live_bytes[b->space] += (double)b->size * w;
        if (est->live_bytes[b->space] > est->peak_bytes[b->space])
            est->peak_bytes[b->space] = est->live_bytes[b->space];
    }
    c->last_alloc_ptr = b->ptr;
    if (e->h->on_alloc)
        e->h->on_alloc(e->h->user, e, b);
    return e->nheld ? rp_order_settle(e, c, b->ptr, cuda, 1, c->key) : RP_GO;
}

/* c's pending FREE, REALLOC_FREE or CUDA_FREE (a successful one).  may_hold
 * as for block_new.  @return RP_GO, RP_PARKED or RP_RESUMED. */
static inline __attribute__((always_inline)) int release(struct rp_engine *e, struct cursor *c, uint64_t t_ns,
                                                        int may_hold)
{
    const struct mrz_rec *r = &c->rec;
    int cuda = r->type == MRZ_T_CUDA_FREE;
    struct rp_block b;
    if (rp_live_remove(&e->live, r->ptr, cuda, &b)) {
        if (may_hold && rp_order_hold(e, c, r->ptr, cuda, NULL) == RP_PARKED)
            return RP_PARKED;
        e->tot.unknown_frees++;
        return RP_GO;
    }
    /* a block from another thread: that thread may still have to release
     * it (and reuse the address) first (rp_order.c) */
    if (b.thread != c->thread && may_hold && rp_order_owner_first(e, c, &b)) {
        if (rp_live_insert(&e->live, &b))
            e->err = MRZ_ENOMEM;
        return RP_PARKED;
    }
    if (t_ns < b.t_alloc) /* placed after an allocation stamped up to the window later */
        t_ns = b.t_alloc;
    if (r->type == MRZ_T_REALLOC_FREE) {
        c->released = b;
        c->has_released = 1;
        block_gone(e, &b, t_ns, 0, 1);
    } else if (r->type == MRZ_T_FREE) {
        int temporary = b.thread == c->thread && c->last_alloc_ptr == r->ptr;
        if (temporary)
            c->last_alloc_ptr = 0;
        block_gone(e, &b, t_ns, temporary, 0);
    } else {
        block_gone(e, &b, t_ns, 0, 0);
    }
    return e->nheld ? rp_order_settle(e, c, r->ptr, cuda, 0, c->key) : RP_GO;
}

static void fill_block(struct rp_engine *e, struct cursor *c, struct rp_block *b, const struct mrz_rec *r,
                       uint8_t space, uint64_t t_ns)
{
    uint32_t node = rp_vec32_get(&c->stack_map, (uint32_t)r->stack);
    memset(b, 0, sizeof *b);
    b->ptr = r->ptr;
    b->size = r->size;
    b->t_alloc = t_ns;
    b->site = site_for_node(e, node, space);
    b->thread = c->thread;
    b->region = c->region_depth ? c->region_stack[c->region_depth - 1] : 0;
    b->label = c->label_next;
    c->label_next = 0;
    b->space = space;
}

static void failed_alloc(struct rp_engine *e, struct cursor *c, const struct mrz_rec *r, uint8_t space)
{
    e->tot.failed++;
    e->tot.space[space].failed++;
    uint32_t node = rp_vec32_get(&c->stack_map, (uint32_t)r->stack);
    uint32_t s = site_for_node(e, node, space);
    if (s < e->nsites)
        e->sites[s].failed++;
    c->label_next = 0;
}

/* @return RP_GO, RP_PARKED (c waits: rp_order.c) or RP_RESUMED (another
 * stream came back to the heap). */
static int on_event(struct rp_engine *e, struct cursor *c)
{
    const struct mrz_rec *r = &c->rec;
    uint64_t t_ns = ns_of(e, c->key);
    if (e->tot.events == 0 || t_ns < e->tot.first_ns)
        e->tot.first_ns = t_ns;
    if (t_ns > e->tot.last_ns)
        e->tot.last_ns = t_ns;
    uint8_t t = r->type;
    struct rp_block b;
    if (t >= 1 && t <= MRZ_K_MAX) {
        e->tot.events++;
        e->tot.kind[t]++;
        int is_realloc = t == MRZ_K_REALLOC || t == MRZ_K_REALLOCARRAY;
        e->tot.reallocs += (uint64_t)is_realloc;
        if (!r->ptr) {
            if (is_realloc && r->size == 0) { /* realloc(p, 0) freed p */
                c->has_released = 0;
                return RP_GO;
            }
            if (is_realloc && c->has_released) { /* failed: the old block lives on */
                if (rp_live_insert(&e->live, &c->released))
                    e->err = MRZ_ENOMEM;
                struct rp_space_stats *sp = &e->tot.space[c->released.space];
                sp->live_bytes += c->released.size;
                sp->live_count++;
                sp->frees--;
                if (c->released.site < e->nsites) {
                    struct rp_site *s = &e->sites[c->released.site];
                    site_touch(e, s);
                    s->live_bytes += c->released.size;
                    s->live_count++;
                    s->frees--;
                }
            }
            c->has_released = 0;
            failed_alloc(e, c, r, MRZ_S_HOST);
            return RP_GO;
        }
        c->has_released = 0;
        fill_block(e, c, &b, r, MRZ_S_HOST, t_ns);
        b.kind = t;
        return block_new(e, c, &b, t_ns, 1);
    } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
        e->tot.events++;
        e->tot.frees += t == MRZ_T_FREE;
        return release(e, c, t_ns, 1);
    } else if (t == MRZ_T_CUDA_ALLOC) {
        e->tot.events++;
        uint8_t space = r->space < MRZ_S_COUNT ? (uint8_t)r->space : MRZ_S_CUDA_DEVICE;
        if (!r->ptr || r->result) {
            failed_alloc(e, c, r, space);
            return RP_GO;
        }
        fill_block(e, c, &b, r, space, t_ns);
        b.device = (uint16_t)r->device;
        return block_new(e, c, &b, t_ns, 1);
    } else if (t == MRZ_T_CUDA_FREE) {
        e->tot.events++;
        e->tot.frees++;
        if (r->result)
            return RP_GO; /* the free failed: the memory is still held */
        return release(e, c, t_ns, 1);
    } else if (t == MRZ_T_MARK) {
        if (e->h->on_mark)
            e->h->on_mark(e->h->user, e, t_ns, c->thread, rp_strings_get(&e->strings,
                                                                          rp_vec32_get(&c->string_map, (uint32_t)r->a)));
    }
    return RP_GO;
}

/* For rp_order.c: held events applied once their partner came. */
int rp_release(struct rp_engine *e, struct cursor *c, uint64_t t_ns) { return release(e, c, t_ns, 0); }
int rp_alloc(struct rp_engine *e, struct cursor *c, struct rp_block *b, uint64_t t_ns)
{
    return block_new(e, c, b, t_ns, 0);
}
uint64_t rp_ns(const struct rp_engine *e, uint64_t ticks) { return ns_of(e, ticks); }

/* ------------------------------------------------------------------ decoding */

static int load_chunk(struct rp_engine *e, struct cursor *c)
{
    while (c->next_chunk < c->nchunks) {
        struct mrz_chunk ch;
        const struct chunk_ref *ref = &c->chunks[c->next_chunk++];
        int k;
        if (e->pf) {
            if (c->cur_g)
                rp_prefetch_release(e->pf, c->cur_g - 1);
            c->cur_g = ref->g + 1;
            struct rp_decoded dec;
            k = rp_prefetch_get(e->pf, ref->g, e->dctx, &dec);
            if (k > 0 && dec.n == 0) {
                e->tot.bad_chunks += (uint64_t)dec.bad; /* nothing decodable in it */
                continue;
            }
            if (k > 0) {
                c->p = dec.c.raw;
                c->end = dec.c.raw ? dec.c.raw + dec.c.raw_len : NULL;
                c->hot = dec.recs;
                c->hot_end = dec.recs + dec.n;
                c->hot_bad = dec.bad;
                return 1;
            }
        } else {
            k = mrz_reader_chunk_at(e->r, ref->offset, e->dctx, &ch, &c->buf, &c->buf_cap);
        }
        if (k == MRZ_ENOMEM)
            return k;
        if (k < 0)
            continue; /* verified in the index pass; unreadable now means damaged */
        c->p = ch.raw;
        c->end = ch.raw + ch.raw_len;
        mrz_delta_reset(&c->delta, ch.info.base_ticks);
        return 1;
    }
    return 0;
}

static uint32_t thread_for(struct rp_engine *e, uint64_t tid)
{
    uint32_t t;
    if (rp_threads_get(&e->threads, (uint32_t)tid, &t))
        e->err = MRZ_ENOMEM;
    return t;
}

/* Applies a stream-local record.  @return 1 if it is an event for the merge. */
static int stream_local(struct rp_engine *e, struct cursor *c, struct mrz_rec *r)
{
    switch (r->type) {
    case MRZ_T_STACK: {
        uint32_t id = c->stack_map.n; /* entry 0 is the root: ids start at 1 */
        uint64_t parent_local = (uint64_t)id - r->stack;
        uint32_t parent = parent_local < id ? rp_vec32_get(&c->stack_map, (uint32_t)parent_local) : 0;
        uint32_t node;
        if (rp_nodes_intern(&e->nodes, parent, r->ip, &node) || rp_vec32_set(&c->stack_map, id, node))
            e->err = MRZ_ENOMEM;
        return 0;
    }
    case MRZ_T_STRING: {
        uint32_t g;
        if (rp_strings_intern(&e->strings, r->str.s, r->str.n, &g) ||
            rp_vec32_set(&c->string_map, (uint32_t)r->a, g))
            e->err = MRZ_ENOMEM;
        return 0;
    }
    case MRZ_T_THREAD:
        c->thread = thread_for(e, r->a);
        if (rp_vec32_set(&e->thread_cur, c->thread, (uint32_t)(c - e->cur) + 1))
            e->err = MRZ_ENOMEM;
        c->region_depth = 0;
        c->label_next = 0;
        c->last_alloc_ptr = 0;
        return 0;
    case MRZ_T_THREAD_NAME: {
        uint32_t t = thread_for(e, r->a);
        rp_threads_set_name(&e->threads, t, r->str.s, r->str.n);
        return 0;
    }
    case MRZ_T_LABEL_NEXT:
        c->label_next = rp_vec32_get(&c->string_map, (uint32_t)r->a);
        return 0;
    case MRZ_T_REGION_BEGIN: {
        uint32_t parent = c->region_depth ? c->region_stack[c->region_depth - 1] : 0;
        uint32_t reg;
        if (rp_regions_intern(&e->regions, parent, rp_vec32_get(&c->string_map, (uint32_t)r->a), &reg))
            e->err = MRZ_ENOMEM;
        if (c->region_depth < 64)
            c->region_stack[c->region_depth] = reg;
        c->region_depth++;
        return 0;
    }
    case MRZ_T_REGION_END:
        if (c->region_depth)
            c->region_depth--;
        return 0;
    case MRZ_T_STREAM_STATE:
        /* ids defined in a lost chunk: unknown (the root), later ones align */
        if (r->a > c->stack_map.n && r->a <= UINT32_MAX && rp_vec32_set(&c->stack_map, (uint32_t)r->a - 1, 0))
            e->err = MRZ_ENOMEM;
        return 0;
    case MRZ_T_RECORDING:
        e->tot.paused += r->a == 0;
        return 0;
    case MRZ_T_LOST:
        e->tot.lost += r->a;
        return 0;
    case MRZ_T_MARK:
        return 1;
    default:
        return r->type < MRZ_T_FRAMED_MIN; /* hot records are events; other framed ones are metadata */
    }
}

/* Decodes this stream's next event into c->rec.  @return 1, 0 at its end. */
/* The next record of a chunk decoded ahead.  @return 1, 0 at its end. */
static int next_hot(struct rp_engine *e, struct cursor *c)
{
    if (c->hot == c->hot_end) {
        e->tot.bad_chunks += (uint64_t)c->hot_bad;
        c->hot = c->hot_end = NULL;
        c->p = c->end;
        return 0;
    }
    const struct rp_hot *h = c->hot++;
    struct mrz_rec *r = &c->rec;
    if (h->type >= MRZ_T_FRAMED_MIN) {
        if (h->flags & RP_HOT_INLINE) {
            r->type = h->type;
            r->time = h->time;
            r->a = h->ptr;
            r->b = h->size;
            return 1;
        }
        /* framed records do not touch the delta state */
        const uint8_t *p = c->p + h->size;
        return mrz_decode(&p, c->end, &c->delta, r) > 0;
    }
    r->type = h->type;
    r->time = h->time;
    r->ptr = r->ip = h->ptr;
    r->size = h->size;
    r->stack = h->stack;
    r->space = h->space;
    r->device = h->device;
    r->result = h->flags & RP_HOT_FAILED;
    return 1;
}

static int advance(struct rp_engine *e, struct cursor *c)
{
    for (;;) {
        if (c->hot) {
            if (!next_hot(e, c))
                continue;
        } else if (c->p >= c->end) {
            int k = load_chunk(e, c);
            if (k <= 0) {
                if (k < 0)
                    e->err = k;
                c->has_rec = 0;
                return 0;
            }
            continue;
        } else {
            int k = mrz_decode(&c->p, c->end, &c->delta, &c->rec);
            if (k <= 0) {
                if (k < 0)
                    e->tot.bad_chunks++;
                c->p = c->end; /* a bad record: skip the rest of this chunk */
                continue;
            }
        }
        if (!stream_local(e, c, &c->rec))
            continue;
        /* its live-table slot is needed when its turn comes: load it now */
        if (c->rec.type < MRZ_T_FRAMED_MIN && c->rec.type != MRZ_T_STACK)
            rp_live_prefetch(&e->live, c->rec.ptr, c->rec.type == MRZ_T_CUDA_ALLOC || c->rec.type == MRZ_T_CUDA_FREE);
        uint64_t t = c->rec.time;
        if (t > c->key || !c->has_rec)
            c->key = t;
        c->has_rec = 1;
        return 1;
    }
}

int rp_advance(struct rp_engine *e, struct cursor *c) { return advance(e, c); }

/* ------------------------------------------------------------------ merge */

static void sift_down(struct rp_engine *e, uint32_t i)
{
    struct hent *h = e->heap;
    uint32_t n = e->nheap;
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < n && h[l].k < h[m].k)
            m = l;
        if (l + 1 < n && h[l + 1].k < h[m].k)
            m = l + 1;
        if (m == i)
            return;
        struct hent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void rp_heap_push(struct rp_engine *e, uint32_t cur)
{
    struct hent *h = e->heap, x = {merge_key(&e->cur[cur]), cur};
    uint32_t i = e->nheap++;
    while (i && h[(i - 1) / 2].k > x.k) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static int by_seq(const void *a, const void *b)
{
    uint32_t x = ((const struct chunk_ref *)a)->seq, y = ((const struct chunk_ref *)b)->seq;
    return x < y ? -1 : x > y;
}

/* One cursor per stream present in the file (stream numbers may be sparse). */
static int index_chunks(struct rp_engine *e)
{
    struct mrz_chunk ch;
    struct rp_vec32 slot = {0}; /* stream -> cursor index + 1 */
    int k;
    mrz_reader_rewind(e->r);
    while ((k = mrz_reader_next_header(e->r, &ch)) > 0) {
        uint32_t s = ch.info.stream, i = rp_vec32_get(&slot, s);
        if (!i) {
            struct cursor *nc = realloc(e->cur, (e->ncur + 1) * sizeof *nc);
            if (!nc || rp_vec32_set(&slot, s, e->ncur + 1)) {
                if (nc)
                    e->cur = nc;
                rp_vec32_free(&slot);
                return MRZ_ENOMEM;
            }
            e->cur = nc;
            memset(&nc[e->ncur], 0, sizeof *nc);
            nc[e->ncur].stream = s;
            i = ++e->ncur;
        }
        struct cursor *c = &e->cur[i - 1];
        if (c->nchunks == c->cap) {
            uint32_t ncap = c->cap ? c->cap * 2 : 16;
            struct chunk_ref *nr = realloc(c->chunks, ncap * sizeof *nr);
            if (!nr) {
                rp_vec32_free(&slot);
                return MRZ_ENOMEM;
            }
            c->chunks = nr;
            c->cap = ncap;
        }
        c->chunks[c->nchunks++] = (struct chunk_ref){ch.info.seq, e->nchunks++, ch.offset, ch.info.base_ticks};
    }
    rp_vec32_free(&slot);
    if (k < 0)
        return k;
    /* a stream's chunks in seq order (salvaged ones are appended late) */
    for (uint32_t i = 0; i < e->ncur; i++)
        qsort(e->cur[i].chunks, e->cur[i].nchunks, sizeof *e->cur[i].chunks, by_seq);
    return 0;
}

static int by_base(const void *a, const void *b, void *refs)
{
    const struct chunk_ref *r = refs;
    uint64_t x = r[*(const uint32_t *)a].base_ticks, y = r[*(const uint32_t *)b].base_ticks;
    return x < y ? -1 : x > y;
}

/* Decoding on a second thread pays on big traces: chunks go in base-time
 * order, the order the merge will want them. */
static void start_prefetch(struct rp_engine *e)
{
    const char *threads = getenv("MALLOCAN_THREADS");
    if (threads && atoi(threads) == 1)
        return;
    uint32_t n = e->nchunks;
    struct chunk_ref *all = malloc((size_t)n * sizeof *all);
    uint64_t *offsets = malloc((size_t)n * sizeof *offsets);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    if (all && offsets && order) {
        for (uint32_t i = 0; i < e->ncur; i++)
            for (uint32_t j = 0; j < e->cur[i].nchunks; j++)
                all[e->cur[i].chunks[j].g] = e->cur[i].chunks[j];
        for (uint32_t g = 0; g < n; g++) {
            offsets[g] = all[g].offset;
            order[g] = g;
        }
        qsort_r(order, n, sizeof *order, by_base, all);
        e->pf = rp_prefetch_start(e->r, offsets, order, n, 2);
    }
    free(all);
    free(offsets);
    free(order);
}

int rp_run(struct rp_engine *e, const struct rp_handlers *h)
{
    static const struct rp_handlers none = {0};
    e->h = h ? h : &none;
    int k = index_chunks(e);
    if (k < 0)
        return k;
    start_prefetch(e);
    /* the liveness window (rp_order.c) in ticks: at least one */
    double w = e->m->fit_slope > 0 ? ceil(RP_ORDER_NS / e->m->fit_slope) : 1;
    e->window = !(w >= 1) ? 1 : w < 1e6 ? (uint64_t)w : 1000000;
    e->heap = malloc((e->ncur + 1) * sizeof *e->heap);
    e->resumed = malloc((e->ncur + 1) * sizeof *e->resumed);
    if (!e->heap || !e->resumed)
        return MRZ_ENOMEM;
    for (uint32_t i = 0; i < e->ncur; i++) {
        if (rp_vec32_set(&e->cur[i].stack_map, 0, 0))
            return MRZ_ENOMEM;
        if (advance(e, &e->cur[i]))
            e->heap[e->nheap++] = (struct hent){merge_key(&e->cur[i]), i};
    }
    for (int32_t i = (int32_t)e->nheap / 2 - 1; i >= 0; i--)
        sift_down(e, (uint32_t)i);
    while ((e->nheap || e->nheld) && !e->err) {
        if (e->nheld && (!e->nheap || e->heap[0].k >= e->hold_limit)) {
            rp_order_expire(e); /* a held event's partner is overdue */
            rp_order_push(e);
            continue;
        }
        struct cursor *c = &e->cur[e->heap[0].cur];
        /* Runs: while the top stream's events come strictly before every
         * other stream's next one (and no held event falls due), no heap
         * work is needed. */
        uint64_t limit = e->hold_limit;
        if (e->nheap > 1 && e->heap[1].k < limit)
            limit = e->heap[1].k;
        if (e->nheap > 2 && e->heap[2].k < limit)
            limit = e->heap[2].k;
        int more = 0, st;
        do {
            st = on_event(e, c);
            if (st == RP_PARKED) {
                more = 0;
                break;
            }
            more = advance(e, c);
        } while (st == RP_GO && more && merge_key(c) < limit && !e->err);
        if (more) {
            e->heap[0].k = merge_key(c);
            sift_down(e, 0);
        } else { /* the stream ended, or waits for a partner (rp_order.c) */
            e->heap[0] = e->heap[--e->nheap];
            if (e->nheap)
                sift_down(e, 0);
        }
        if (e->nresumed)
            rp_order_push(e);
    }
    if (e->err)
        return e->err;
    /* sites untouched since their space's last peak hold their live figures */
    for (uint32_t i = 0; i < e->nsites; i++)
        site_touch(e, &e->sites[i]);
    if (e->h->on_end)
        e->h->on_end(e->h->user, e);
    return 0;
}

/* ------------------------------------------------------------------ accessors */

const struct rp_totals *rp_totals(const struct rp_engine *e) { return &e->tot; }
uint32_t rp_site_count(const struct rp_engine *e) { return e->nsites; }
const struct rp_site *rp_site(const struct rp_engine *e, uint32_t site)
{
    return site < e->nsites ? &e->sites[site] : NULL;
}
uint32_t rp_node_parent(const struct rp_engine *e, uint32_t node) { return rp_nodes_parent(&e->nodes, node); }
uint64_t rp_node_ip(const struct rp_engine *e, uint32_t node) { return rp_nodes_ip(&e->nodes, node); }
uint32_t rp_node_count(const struct rp_engine *e) { return e->nodes.n; }

int rp_stack(const struct rp_engine *e, uint32_t node, uint64_t *ips, int max)
{
    int n = 0;
    while (node && n < 100000) {
        if (n < max)
            ips[n] = rp_nodes_ip(&e->nodes, node);
        n++;
        node = rp_nodes_parent(&e->nodes, node);
    }
    return n;
}

uint32_t rp_thread_count(const struct rp_engine *e) { return e->threads.n; }
uint32_t rp_thread_tid(const struct rp_engine *e, uint32_t t) { return t < e->threads.n ? e->threads.tid[t] : 0; }
const char *rp_thread_name(const struct rp_engine *e, uint32_t t)
{
    return t < e->threads.n ? e->threads.name[t] : NULL;
}
uint32_t rp_region_count(const struct rp_engine *e) { return e->regions.n; }
uint32_t rp_region_parent(const struct rp_engine *e, uint32_t r)
{
    return r < e->regions.n ? e->regions.parent[r] : 0;
}
const char *rp_region_name(const struct rp_engine *e, uint32_t r)
{
    return r < e->regions.n ? rp_strings_get(&e->strings, e->regions.name[r]) : "";
}
const char *rp_string(const struct rp_engine *e, uint32_t id) { return rp_strings_get(&e->strings, id); }
const struct an_meta *rp_meta(const struct rp_engine *e) { return e->m; }

void rp_live_foreach(struct rp_engine *e, void (*fn)(void *user, const struct rp_block *b), void *user)
{
    rp_live_each(&e->live, fn, user);
}
