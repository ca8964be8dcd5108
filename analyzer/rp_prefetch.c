/* Chunk decompression ahead of the replay (contract in rp_prefetch.h). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "rp_prefetch.h"

enum { IDLE, BUSY, READY };

struct slot {
    int state;
    int err;
    uint8_t *buf;
    size_t cap;
    struct rp_hot *recs;
    uint32_t n, rcap;
    int bad;
    struct mrz_chunk c;
};

struct rp_prefetch {
    const struct mrz_reader *r;
    uint64_t *offsets;
    uint32_t *order;
    struct slot *slot;
    uint32_t n, window, consumed;
    int stop;
    pthread_mutex_t m;
    pthread_cond_t cv;
    pthread_t th;
};

/* Decodes every record of s's payload into s->recs.  @return 0, or -1 when
 * out of memory. */
static int predecode(struct slot *s, struct mrz_delta *d)
{
    const uint8_t *base = s->c.raw, *p = base, *end = base + s->c.raw_len;
    struct mrz_rec r;
    int k;
    mrz_delta_reset(d, s->c.info.base_ticks);
    s->n = 0;
    s->bad = 0;
    int need_raw = 0;
    for (;;) {
        const uint8_t *at = p;
        k = mrz_decode(&p, end, d, &r);
        if (k <= 0)
            break;
        if (s->n == s->rcap) {
            /* most records take 6 to 9 bytes: start near the chunk's count */
            uint32_t ncap = s->rcap ? s->rcap + s->rcap / 2 : (uint32_t)(s->c.raw_len / 7) + 64;
            struct rp_hot *nr = realloc(s->recs, ncap * sizeof *nr);
            if (!nr)
                return -1;
            s->recs = nr;
            s->rcap = ncap;
        }
        struct rp_hot *h = &s->recs[s->n++];
        h->type = r.type;
        if (r.type >= MRZ_T_FRAMED_MIN) {
            /* strings need the payload; everything else fits here */
            h->time = r.time;
            if (r.type == MRZ_T_STRING || r.type == MRZ_T_THREAD_NAME) {
                h->flags = 0;
                h->size = (uint64_t)(at - base);
                need_raw = 1;
            } else {
                h->flags = RP_HOT_INLINE;
                h->ptr = r.a;
                h->size = r.b;
            }
            continue;
        }
        h->time = r.time;
        h->ptr = r.type == MRZ_T_STACK ? r.ip : r.ptr;
        h->size = r.size;
        h->stack = (uint32_t)(r.stack < UINT32_MAX ? r.stack : UINT32_MAX);
        h->space = (uint8_t)(r.space < 255 ? r.space : 255);
        h->device = (uint8_t)(r.device < 255 ? r.device : 255);
        h->flags = r.result != 0 ? RP_HOT_FAILED : 0;
    }
    s->bad = k < 0;
    if (!need_raw && s->c.raw == s->buf) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
        s->c.raw = NULL;
    }
    return 0;
}

static void decode(struct rp_prefetch *p, uint32_t g, void *dctx, struct mrz_delta *d)
{
    struct slot *s = &p->slot[g];
    int k = mrz_reader_chunk_at(p->r, p->offsets[g], dctx, &s->c, &s->buf, &s->cap);
    if (k > 0 && predecode(s, d))
        k = MRZ_ENOMEM;
    pthread_mutex_lock(&p->m);
    s->err = k < 0 ? k : 0;
    s->state = READY;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->m);
}

static void *worker(void *arg)
{
    struct rp_prefetch *p = arg;
    void *dctx = mrz_dctx_new();
    struct mrz_delta *d = malloc(sizeof *d); /* its pointer rings are large */
    for (uint32_t k = 0; dctx && d && k < p->n; k++) {
        uint32_t g = p->order[k];
        pthread_mutex_lock(&p->m);
        while (!p->stop && k >= p->consumed + p->window)
            pthread_cond_wait(&p->cv, &p->m);
        int mine = !p->stop && p->slot[g].state == IDLE;
        if (mine)
            p->slot[g].state = BUSY;
        int stop = p->stop;
        pthread_mutex_unlock(&p->m);
        if (stop)
            break;
        if (mine)
            decode(p, g, dctx, d);
    }
    free(d);
    mrz_dctx_free(dctx);
    return NULL;
}

struct rp_prefetch *rp_prefetch_start(const struct mrz_reader *r, const uint64_t *offsets, const uint32_t *order,
                                      uint32_t n, uint32_t window)
{
    if (n < 8 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return NULL;
    struct rp_prefetch *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->r = r;
    p->n = n;
    p->window = window ? window : 1;
    p->offsets = malloc(n * sizeof *p->offsets);
    p->order = malloc(n * sizeof *p->order);
    p->slot = calloc(n, sizeof *p->slot);
    pthread_mutex_init(&p->m, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!p->offsets || !p->order || !p->slot) {
        rp_prefetch_stop(p);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        p->offsets[i] = offsets[i];
        p->order[i] = order[i];
    }
    if (pthread_create(&p->th, NULL, worker, p)) {
        free(p->offsets);
        free(p->order);
        free(p->slot);
        free(p);
        return NULL;
    }
    return p;
}

int rp_prefetch_get(struct rp_prefetch *p, uint32_t g, void *dctx, struct rp_decoded *out)
{
    struct slot *s = &p->slot[g];
    pthread_mutex_lock(&p->m);
    int mine = s->state == IDLE;
    if (mine)
        s->state = BUSY;
    p->consumed++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->m);
    if (mine) {
        struct mrz_delta *d = malloc(sizeof *d);
        if (d)
            decode(p, g, dctx, d);
        free(d);
        if (!d) {
            pthread_mutex_lock(&p->m);
            s->err = MRZ_ENOMEM;
            s->state = READY;
            pthread_mutex_unlock(&p->m);
        }
    }
    pthread_mutex_lock(&p->m);
    while (s->state != READY)
        pthread_cond_wait(&p->cv, &p->m);
    pthread_mutex_unlock(&p->m);
    if (s->err)
        return s->err;
    out->c = s->c;
    out->recs = s->recs;
    out->n = s->n;
    out->bad = s->bad;
    return 1;
}

void rp_prefetch_release(struct rp_prefetch *p, uint32_t g)
{
    /* READY and consumed: the worker never touches it again */
    free(p->slot[g].buf);
    free(p->slot[g].recs);
    p->slot[g].buf = NULL;
    p->slot[g].recs = NULL;
    p->slot[g].cap = 0;
    p->slot[g].rcap = p->slot[g].n = 0;
}

void rp_prefetch_stop(struct rp_prefetch *p)
{
    if (!p)
        return;
    if (p->th) {
        pthread_mutex_lock(&p->m);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->m);
        pthread_join(p->th, NULL);
    }
    for (uint32_t i = 0; p->slot && i < p->n; i++) {
        free(p->slot[i].buf);
        free(p->slot[i].recs);
    }
    pthread_mutex_destroy(&p->m);
    pthread_cond_destroy(&p->cv);
    free(p->offsets);
    free(p->order);
    free(p->slot);
    free(p);
}
