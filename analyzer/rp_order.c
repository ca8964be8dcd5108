/* Events of different streams stamped close together, put in the order
 * liveness demands (format/SPEC.md, 9.3).
 *
 * A block can go from one thread to another and be freed there within one
 * tick of the recorder's clock, and the stamps of two threads can even be
 * in the wrong order (a thread's counter read may run ahead of the load
 * that brought it the block): by up to a few hundred ns, so the engine
 * allows RP_ORDER_NS, its "window".  Ordering by time alone would release
 * such a block before it exists (an unknown free, then a block that never
 * dies).  So when the merge meets a release of an address that is not live,
 * or an allocation at an address that is, while another stream may still
 * bring the partner event within the window, the stream is parked: its
 * event waits, out of the heap, until the partner (an allocation, or a
 * release, of that address on another stream) is applied; then the held
 * event is applied right after it, which is the order they happened in,
 * and the stream goes back into the merge.  When no partner comes within
 * the window, the event is handled as unmatched, as it would have been at
 * once.
 *
 * The partner is the last event on the address of its stream within the
 * window: a thread may allocate a block, realloc it in place and only then
 * hand it over, so before pairing a held release with an allocation the
 * stream that allocated is looked ahead in, and if it releases the address
 * itself next, the held release waits for the allocation after that (and
 * likewise for a held allocation).
 *
 * The common path pays nothing: this runs only for an event that finds its
 * address in the wrong state, and the merge checks e->nheld. */
#include <stdlib.h>

#include "rp_engine.h"

static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* e->hold_limit: the first merge key past the oldest held event's window. */
static void update_limit(struct rp_engine *e)
{
    uint64_t lo = UINT64_MAX;
    for (uint32_t i = 0; i < e->nheld; i++)
        if (e->held[i].time < lo)
            lo = e->held[i].time;
    uint64_t t = sat_add(lo, e->window + 1);
    e->hold_limit = t > (UINT64_MAX >> 2) ? UINT64_MAX : t << 2;
}

static struct rp_held take(struct rp_engine *e, uint32_t i)
{
    struct rp_held h = e->held[i];
    e->held[i] = e->held[--e->nheld];
    update_limit(e);
    return h;
}

/* The held event is done: its stream goes on with its next one. */
static void resume(struct rp_engine *e, uint32_t cur)
{
    if (rp_advance(e, &e->cur[cur]))
        e->resumed[e->nresumed++] = cur;
}

/* Looking ahead at most this many events of a stream (a trace whose clock
 * stands still must not make the look quadratic). */
#define PEEK_MAX 64

/* Decodes [p, end) with d, for peek; *n counts the events looked at.
 * @return as peek (0 too once PEEK_MAX events were looked at), or -1 when
 * the records end before telling. */
static int peek_raw(const uint8_t *p, const uint8_t *end, struct mrz_delta *d, uint64_t *key, uint64_t ptr,
                    int cuda, uint64_t until, int *n)
{
    struct mrz_rec r;
    while (p < end && *n < PEEK_MAX && mrz_decode(&p, end, d, &r) > 0) {
        if (r.type >= MRZ_T_FRAMED_MIN || r.type == MRZ_T_STACK)
            continue;
        ++*n;
        if (r.time > *key)
            *key = r.time;
        if (*key > until)
            return 0;
        int k = rp_on_addr(r.type, r.ptr, r.result != 0, ptr, cuda);
        if (k)
            return k;
    }
    return *n < PEEK_MAX ? -1 : 0;
}

/* What c does next to (ptr, cuda), among its events stamped at most until:
 * 1 releases it, 2 allocates it, 0 nothing (or not within PEEK_MAX events). */
static int peek(struct rp_engine *e, struct cursor *c, uint64_t ptr, int cuda, uint64_t until)
{
    uint64_t key = c->key;
    int n = 0, k = -1;
    if (c->hot) { /* decoded ahead */
        for (const struct rp_hot *h = c->hot; h < c->hot_end && n < PEEK_MAX; h++) {
            if (h->type >= MRZ_T_FRAMED_MIN || h->type == MRZ_T_STACK)
                continue;
            n++;
            if (h->time > key)
                key = h->time;
            if (key > until)
                return 0;
            if ((k = rp_on_addr(h->type, h->ptr, h->flags & RP_HOT_FAILED, ptr, cuda)))
                return k;
        }
        k = n < PEEK_MAX ? -1 : 0;
    }
    if (!c->hot && !e->pf && c->p && c->p < c->end) {
        /* decoded from the payload: with the stream's own delta state, then
         * put back what that changed, its scalars and the ring entries it
         * appended (at most one per event looked at) */
        struct mrz_delta *d = &c->delta;
        const uint64_t m = MRZ_RING - 1, na = d->nalloc, nf = d->nfree;
        uint64_t time = d->time, last = d->ptr, ip = d->ip, ra[PEEK_MAX], rf[PEEK_MAX];
        for (uint64_t i = 0; i < PEEK_MAX; i++) {
            ra[i] = d->ring_alloc[(na + i) & m];
            rf[i] = d->ring_free[(nf + i) & m];
        }
        k = peek_raw(c->p, c->end, d, &key, ptr, cuda, until, &n);
        for (uint64_t i = na; i < d->nalloc && i - na < PEEK_MAX; i++)
            d->ring_alloc[i & m] = ra[i - na];
        for (uint64_t i = nf; i < d->nfree && i - nf < PEEK_MAX; i++)
            d->ring_free[i & m] = rf[i - nf];
        d->time = time;
        d->ptr = last;
        d->ip = ip;
        d->nalloc = na;
        d->nfree = nf;
    }
    if (k < 0 && !e->peek_delta && !(e->peek_delta = malloc(sizeof *e->peek_delta)))
        return 0;
    /* the window goes on in the stream's next chunks (rare) */
    for (uint32_t j = c->next_chunk; k < 0 && j < c->nchunks; j++) {
        struct mrz_chunk ch;
        if (mrz_reader_chunk_at(e->r, c->chunks[j].offset, e->dctx, &ch, &e->peek_buf, &e->peek_cap) < 0)
            continue;
        mrz_delta_reset(e->peek_delta, ch.info.base_ticks);
        k = peek_raw(ch.raw, ch.raw + ch.raw_len, e->peek_delta, &key, ptr, cuda, until, &n);
    }
    return k < 0 ? 0 : k;
}

int rp_order_hold(struct rp_engine *e, struct cursor *c, uint64_t ptr, int cuda, const struct rp_block *b)
{
    uint32_t me = (uint32_t)(c - e->cur);
    uint64_t last = sat_add(c->key, e->window);
    /* Could a partner still come: a stream in the merge whose next event is
     * at most a window later (with c on top, heap[1] and heap[2] are the
     * least of the others), or a parked one that may resume by then? */
    uint32_t n = e->nheap && e->heap[0].cur == me ? (e->nheap < 3 ? e->nheap : 3) : e->nheap;
    int chance = 0;
    for (uint32_t i = 0; i < n && !chance; i++)
        chance = e->heap[i].cur != me && e->heap[i].k >> 2 <= last;
    for (uint32_t i = 0; i < e->nheld && !chance; i++)
        chance = e->held[i].time <= last;
    if (!chance)
        return RP_GO;
    if (e->nheld == e->held_cap) {
        uint32_t ncap = e->held_cap ? 2 * e->held_cap : 8;
        struct rp_held *nh = realloc(e->held, ncap * sizeof *nh);
        if (!nh) {
            e->err = MRZ_ENOMEM;
            return RP_GO;
        }
        e->held = nh;
        e->held_cap = ncap;
    }
    struct rp_held *h = &e->held[e->nheld++];
    h->ptr = ptr;
    h->time = c->key;
    h->cur = me;
    h->cuda = (uint8_t)cuda;
    h->is_alloc = b != NULL;
    if (b)
        h->b = *b;
    update_limit(e);
    return RP_PARKED;
}

int rp_order_owner_hold(struct rp_engine *e, struct cursor *c, const struct cursor *a, const struct rp_block *b)
{
    int cuda = b->space != MRZ_S_HOST;
    if (rp_on_addr(a->rec.type, a->rec.ptr, a->rec.result != 0, b->ptr, cuda) != 1 || !a->has_rec ||
        a->key > sat_add(c->key, e->window) || e->nheap < 2)
        return 0;
    for (uint32_t i = 0; i < e->nheld; i++)
        if (&e->cur[e->held[i].cur] == a)
            return 0; /* parked: its next event is waiting for something else */
    return rp_order_hold(e, c, b->ptr, cuda, NULL) == RP_PARKED;
}

int rp_order_settle(struct rp_engine *e, struct cursor *c, uint64_t ptr, int cuda, int live, uint64_t t)
{
    /* now live: a held release of it can happen; now free: a held
     * allocation at it.  The oldest first. */
    int best = -1;
    for (uint32_t i = 0; i < e->nheld; i++) {
        const struct rp_held *h = &e->held[i];
        if (h->ptr != ptr || h->cuda != cuda || h->is_alloc == live)
            continue;
        if (h->time > sat_add(t, e->window) || t > sat_add(h->time, e->window))
            continue;
        if (best < 0 || h->time < e->held[best].time)
            best = (int)i;
    }
    if (best < 0)
        return RP_GO;
    /* not if c itself releases (allocates) the address again first */
    if (peek(e, c, ptr, cuda, sat_add(e->held[best].time, e->window)) == (live ? 1 : 2))
        return RP_GO;
    struct rp_held h = take(e, (uint32_t)best);
    struct cursor *pc = &e->cur[h.cur];
    e->tot.reordered++;
    if (h.is_alloc) {
        /* it follows the release that made room for it, which may be
         * stamped up to the window later */
        uint64_t now = rp_ns(e, t);
        if (h.b.t_alloc < now)
            h.b.t_alloc = now;
        rp_alloc(e, pc, &h.b, h.b.t_alloc);
    } else {
        rp_release(e, pc, rp_ns(e, h.time)); /* no earlier than the block's allocation */
    }
    resume(e, h.cur);
    return RP_RESUMED;
}

void rp_order_expire(struct rp_engine *e)
{
    uint32_t oldest = 0;
    for (uint32_t i = 1; i < e->nheld; i++)
        if (e->held[i].time < e->held[oldest].time)
            oldest = i;
    struct rp_held h = take(e, oldest);
    if (h.is_alloc)
        rp_alloc(e, &e->cur[h.cur], &h.b, h.b.t_alloc); /* retires the block still live there */
    else
        e->tot.unknown_frees++;
    resume(e, h.cur);
}

void rp_order_push(struct rp_engine *e)
{
    for (uint32_t i = 0; i < e->nresumed; i++)
        rp_heap_push(e, e->resumed[i]);
    e->nresumed = 0;
}

void rp_order_free(struct rp_engine *e)
{
    free(e->held);
    free(e->resumed);
    free(e->peek_delta);
    free(e->peek_buf);
}
