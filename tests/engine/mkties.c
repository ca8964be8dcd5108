/* Writes small traces of two threads whose events are stamped with a coarse
 * clock (100 ns ticks), with the format library only: blocks handed from one
 * thread to the other and freed within the same tick, stamps a few ticks out
 * of order, a realloc in place handed over, CUDA memory, a free of a block
 * never seen.  Each scenario lists its events in the order they happened;
 * the traces hold them per thread, stamped, and this program replays that
 * true order itself to print the figures a reader must find (one JSON line
 * per trace), for tests/engine/ties.py to compare with the engine's.
 * usage: mkties OUTDIR */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrz.h"
#include "../tracegen.h"

#define T0 1000000ull       /* ticks at process start */
#define TICK_HZ 10000000ull /* 100 ns ticks */
#define NS_PER_TICK 100ull

enum op { END, MALLOC, FREE, RFREE, REALLOC, CALLOC_CUDA, FREE_CUDA };

/* One event: on thread s (1 or 2), stamped t ticks after T0. */
struct ev { int s; enum op op; uint64_t ptr, size; uint64_t t; };

struct scenario { const char *name; struct ev ev[16]; };

#define P 0x5000100ull
#define Q 0x5000200ull
#define A 0x5000300ull
#define B 0x5000400ull
#define D 0x7f0000000000ull /* a device address; also a host one in "cuda" */

static const struct scenario scenarios[] = {
    /* thread 1 allocates p, thread 2 frees it in the same tick; then thread
     * 1 allocates q: the peak is a + p, never a + p + q */
    {"handoff", {{1, MALLOC, A, 10, 0}, {2, MALLOC, B, 1, 50}, {2, FREE, B, 0, 90},
                 {1, MALLOC, P, 100, 100}, {2, FREE, P, 0, 100}, {1, MALLOC, Q, 100, 101},
                 {1, FREE, Q, 0, 200}}},
    /* the same, the free stamped 3 ticks before the allocation */
    {"handoff_inverted", {{1, MALLOC, A, 10, 0}, {1, MALLOC, P, 100, 100}, {2, FREE, P, 0, 97},
                          {1, MALLOC, Q, 100, 101}, {1, FREE, Q, 0, 200}}},
    /* thread 1 frees p, thread 2 gets the address back in the same tick */
    {"reuse", {{1, MALLOC, P, 100, 0}, {1, FREE, P, 0, 100}, {2, MALLOC, P, 200, 100},
               {1, MALLOC, A, 10, 120}, {2, FREE, P, 0, 150}}},
    /* the same, the allocation stamped 2 ticks before the free */
    {"reuse_inverted", {{1, MALLOC, P, 100, 0}, {1, FREE, P, 0, 100}, {2, MALLOC, P, 200, 98},
                        {2, FREE, P, 0, 150}}},
    /* thread 1 grows p in place with realloc and hands it over; thread 2
     * frees it, all in one tick */
    {"realloc_handoff", {{1, MALLOC, P, 50, 0}, {1, RFREE, P, 0, 100}, {1, REALLOC, P, 80, 100},
                         {2, FREE, P, 0, 100}}},
    /* allocated, grown in place, handed over and shrunk in place by the
     * other thread, within one tick (the receiver's first stamp 1 tick early) */
    {"realloc_both", {{1, MALLOC, P, 50, 100}, {1, RFREE, P, 0, 100}, {1, REALLOC, P, 80, 100},
                      {2, RFREE, P, 0, 99}, {2, REALLOC, P, 8, 100}, {2, FREE, P, 0, 101}}},
    /* the same, thread 1's malloc in the same tick too */
    {"realloc_both_tick", {{1, MALLOC, P, 50, 100}, {1, RFREE, P, 0, 100}, {1, REALLOC, P, 80, 100},
                           {2, RFREE, P, 0, 100}, {2, REALLOC, P, 8, 100}, {2, FREE, P, 0, 101}}},
    /* thread 2 receives p and moves it with realloc in the tick it was made */
    {"receiver_realloc", {{1, MALLOC, P, 64, 100}, {2, RFREE, P, 0, 100}, {2, REALLOC, Q, 128, 100},
                          {2, FREE, Q, 0, 103}}},
    /* device memory handed over within a tick; a host block at the same
     * numeric address lives on meanwhile (host and CUDA are matched apart) */
    {"cuda", {{2, MALLOC, D, 16, 50}, {1, CALLOC_CUDA, D, 4096, 100}, {2, FREE_CUDA, D, 0, 100},
              {2, FREE, D, 0, 200}}},
    /* a free of a block never seen while the other thread works: unknown;
     * the address handed out later (beyond the window) is a new block */
    {"unknown", {{2, FREE, P, 0, 100}, {1, MALLOC, A, 10, 100}, {1, FREE, A, 0, 101},
                 {1, MALLOC, B, 20, 104}, {1, FREE, B, 0, 106}, {1, MALLOC, P, 30, 150}}},
};

static uint8_t raw[1 << 16], out[1 << 17];

static int put_chunk(FILE *f, uint32_t stream, uint32_t seq, uint64_t base, size_t n)
{
    struct mrz_chunk_info ci = {.stream = stream, .seq = seq, .base_ticks = base, .base_ns = base * NS_PER_TICK};
    return tg_put_chunk(f, &ci, raw, n, out);
}

/* split: every event in a chunk of its own (a look ahead in a stream must
 * then go on in its next chunks; and enough chunks to decode ahead). */
static int write_trace(const char *path, const struct scenario *sc, int split)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint8_t hdr[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(hdr, 4242);
    fwrite(hdr, 1, sizeof hdr, f);
    struct mrz_framed fr;
    uint8_t *p = raw, *q = mrz_framed_begin(&fr, p, MRZ_T_PROCESS);
    q = mrz_put_uvar(q, 4242);
    q = mrz_put_uvar(q, 1);
    q = mrz_put_uvar(q, MRZ_CLOCK_TSC);
    q = mrz_put_uvar(q, TICK_HZ);
    q = mrz_put_uvar(q, 1700000000ull * 1000000000ull);
    q = mrz_put_uvar(q, T0);
    q = mrz_put_str(q, "/opt/ties/app", 13);
    q = mrz_put_uvar(q, 1);
    q = mrz_put_str(q, "app", 3);
    p = mrz_framed_end(&fr, q);
    q = mrz_framed_begin(&fr, p, MRZ_T_END);
    q = mrz_put_uvar(q, T0 + 1000);
    q = mrz_put_uvar(q, MRZ_END_EXIT);
    q = mrz_put_uvar(q, 0);
    q = mrz_put_uvar(q, 0);
    q = mrz_put_uvar(q, (T0 + 1000) * NS_PER_TICK);
    p = mrz_framed_end(&fr, q);
    int bad = put_chunk(f, MRZ_STREAM_META, 0, T0, (size_t)(p - raw));
    for (int s = 1; s <= 2 && !bad; s++) {
        struct mrz_delta d;
        uint32_t seq = 0;
        uint64_t base = T0;
        mrz_delta_reset(&d, base);
        p = tg_framed_ta(raw, MRZ_T_THREAD, T0, 4242 + (unsigned)s - 1);
        p = mrz_enc_stack(p, &d, 1, 0, 0x400000ull + 0x100ull * (unsigned)s); /* one site per thread */
        for (const struct ev *e = sc->ev; e->op != END && !bad; e++) {
            if (e->s != s)
                continue;
            uint64_t t = T0 + e->t;
            if (split) {
                bad = put_chunk(f, (uint32_t)s, seq++, base, (size_t)(p - raw));
                mrz_delta_reset(&d, base = t);
                p = raw;
            }
            switch (e->op) {
            case MALLOC: p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, t, e->ptr, e->size, 1, 0); break;
            case REALLOC: p = mrz_enc_alloc(p, &d, MRZ_K_REALLOC, t, e->ptr, e->size, 1, 0); break;
            case FREE: p = mrz_enc_free(p, &d, MRZ_T_FREE, t, e->ptr); break;
            case RFREE: p = mrz_enc_free(p, &d, MRZ_T_REALLOC_FREE, t, e->ptr); break;
            case CALLOC_CUDA:
                p = mrz_enc_cuda_alloc(p, &d, t, MRZ_S_CUDA_DEVICE, 0, e->ptr, e->size, 1, 0, 0);
                break;
            case FREE_CUDA: p = mrz_enc_cuda_free(p, &d, t, MRZ_S_CUDA_DEVICE, 0, e->ptr, 0); break;
            case END: break;
            }
        }
        bad = bad || put_chunk(f, (uint32_t)s, seq, base, (size_t)(p - raw));
    }
    return fclose(f) || bad ? -1 : 0;
}

struct figures { uint64_t allocs, frees, reallocs, by_realloc, unknown, live[2], count[2], peak[2]; };

/* Replays the events in the order given (indices into sc->ev). */
static void replay(const struct scenario *sc, const int *order, int n, struct figures *f)
{
    struct { uint64_t ptr, size; int cuda, live; } blk[32];
    int nb = 0;
    memset(f, 0, sizeof *f);
    for (int k = 0; k < n; k++) {
        const struct ev *e = &sc->ev[order[k]];
        int cuda = e->op == CALLOC_CUDA || e->op == FREE_CUDA;
        if (e->op == MALLOC || e->op == REALLOC || e->op == CALLOC_CUDA) {
            for (int i = 0; i < nb; i++) /* an address still taken: the old block is gone */
                if (blk[i].live && blk[i].ptr == e->ptr && blk[i].cuda == cuda) {
                    blk[i].live = 0;
                    f->live[cuda] -= blk[i].size;
                    f->count[cuda]--;
                }
            blk[nb].ptr = e->ptr;
            blk[nb].size = e->size;
            blk[nb].cuda = cuda;
            blk[nb++].live = 1;
            f->allocs++;
            f->reallocs += e->op == REALLOC;
            f->live[cuda] += e->size;
            f->count[cuda]++;
            if (f->live[cuda] > f->peak[cuda])
                f->peak[cuda] = f->live[cuda];
            continue;
        }
        f->frees += e->op != RFREE;
        int i = nb - 1;
        while (i >= 0 && !(blk[i].live && blk[i].ptr == e->ptr && blk[i].cuda == cuda))
            i--;
        if (i < 0) {
            f->unknown++;
            continue;
        }
        blk[i].live = 0;
        f->live[cuda] -= blk[i].size;
        f->count[cuda]--;
        f->by_realloc += e->op == RFREE;
    }
}

/* Merge order by stamps alone: time, then realloc's releases, releases,
 * allocations, then thread (what a reader without the liveness rule does). */
static int cls(const struct ev *e) { return e->op == RFREE ? 0 : e->op == FREE || e->op == FREE_CUDA ? 1 : 2; }
static const struct scenario *cur_sc;
static int by_stamp(const void *a, const void *b)
{
    const struct ev *x = &cur_sc->ev[*(const int *)a], *y = &cur_sc->ev[*(const int *)b];
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (cls(x) != cls(y))
        return cls(x) - cls(y);
    if (x->s != y->s)
        return x->s - y->s;
    return *(const int *)a - *(const int *)b;
}

/* Prints the figures of the true order (the events one after the other as
 * listed), and whether ordering by stamps alone gets them wrong. */
static void print_truth(const char *path, const struct scenario *sc)
{
    int order[16], n = 0;
    while (sc->ev[n].op != END)
        order[n] = n, n++;
    struct figures t, s;
    replay(sc, order, n, &t);
    cur_sc = sc;
    qsort(order, (size_t)n, sizeof *order, by_stamp);
    replay(sc, order, n, &s);
    int differs = memcmp(&t, &s, sizeof t) != 0;
    printf("{\"name\":\"%s\",\"trace\":\"%s\",\"split\":\"%.*s.split.mrz\",\"stamps_alone_wrong\":%s,\"allocations\":%" PRIu64
           ",\"frees\":%" PRIu64 ",\"reallocs\":%" PRIu64 ",\"by_realloc\":%" PRIu64 ",\"unknown_frees\":%" PRIu64
           ",\"host\":{\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64 "}"
           ",\"cuda\":{\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64 "}}\n",
           sc->name, path, (int)strlen(path) - 4, path, differs ? "true" : "false", t.allocs, t.frees, t.reallocs, t.by_realloc, t.unknown,
           t.live[0], t.count[0], t.peak[0], t.live[1], t.count[1], t.peak[1]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkties OUTDIR\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char path[4096], split[4096];
        snprintf(path, sizeof path, "%s/%s.mrz", argv[1], scenarios[i].name);
        snprintf(split, sizeof split, "%s/%s.split.mrz", argv[1], scenarios[i].name);
        if (write_trace(path, &scenarios[i], 0) || write_trace(split, &scenarios[i], 1)) {
            fprintf(stderr, "mkties: %s: cannot write\n", argv[1]);
            return 1;
        }
        print_truth(path, &scenarios[i]);
    }
    return 0;
}
