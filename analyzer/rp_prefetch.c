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

static void decode(struct rp_prefetch *p, uint32_t g, void *dctx)
{
    struct slot *s = &p->slot[g];
    int k = mrz_reader_chunk_at(p->r, p->offsets[g], dctx, &s->c, &s->buf, &s->cap);
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
    for (uint32_t k = 0; dctx && k < p->n; k++) {
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
            decode(p, g, dctx);
    }
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

int rp_prefetch_get(struct rp_prefetch *p, uint32_t g, void *dctx, struct mrz_chunk *c)
{
    struct slot *s = &p->slot[g];
    pthread_mutex_lock(&p->m);
    int mine = s->state == IDLE;
    if (mine)
        s->state = BUSY;
    p->consumed++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->m);
    if (mine)
        decode(p, g, dctx);
    pthread_mutex_lock(&p->m);
    while (s->state != READY)
        pthread_cond_wait(&p->cv, &p->m);
    pthread_mutex_unlock(&p->m);
    if (s->err)
        return s->err;
    *c = s->c;
    return 1;
}

void rp_prefetch_release(struct rp_prefetch *p, uint32_t g)
{
    /* READY and consumed: the worker never touches it again */
    free(p->slot[g].buf);
    p->slot[g].buf = NULL;
    p->slot[g].cap = 0;
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
    for (uint32_t i = 0; p->slot && i < p->n; i++)
        free(p->slot[i].buf);
    pthread_mutex_destroy(&p->m);
    pthread_cond_destroy(&p->cv);
    free(p->offsets);
    free(p->order);
    free(p->slot);
    free(p);
}
