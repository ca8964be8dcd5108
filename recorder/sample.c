/* --sample BYTES: Poisson sampling by bytes, as tcmalloc and heapprofd do.
 *
 * Sample points fall on the line of allocated bytes with exponential gaps of
 * mean BYTES; an allocation is recorded when at least one point falls in its
 * bytes, so an allocation of n bytes is recorded with probability
 * 1 - exp(-n / BYTES), independently of every other (the gaps are
 * memoryless).  A reader weighs each recorded allocation by the inverse of
 * that probability for unbiased totals (format/SPEC.md, SAMPLING).
 *
 * Frees are recorded only for blocks that were recorded: a process-wide,
 * lock-free set holds the sampled live pointers.  Each bucket is one cache
 * line of 8 slots and a pointer may sit in either of two buckets, so lookups
 * read at most two lines and never wait; a full set (far more sampled live
 * blocks than a profile needs) switches to recording every free, which a
 * reader tolerates (unknown frees). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rec.h"

#define BUCKET_BITS 15 /* 2 MiB, 256 Ki sampled live blocks */
#define NBUCKETS (1u << BUCKET_BITS)
#define WAYS 8

struct bucket { uintptr_t p[WAYS]; } __attribute__((aligned(64)));

static struct bucket *set;       /* mapped at start when sampling */
/* Sampled live pointers per hint slot, saturating at 255 (then sticky): a
 * free of an unsampled block mostly reads this alone, 16 KiB that stay in
 * cache, instead of two lines of the set. */
static uint8_t hint[1u << 14];
#define HINT_BITS 14

static void hint_add(uint8_t *h, int d)
{
    uint8_t c = __atomic_load_n(h, __ATOMIC_RELAXED);
    while (c != 255 && !__atomic_compare_exchange_n(h, &c, (uint8_t)(c + d), 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}
static volatile int set_full;    /* a block could not be remembered */
uint64_t rec_sample_bytes;       /* 0: no sampling */

static inline uint32_t b1(uintptr_t p) { return (uint32_t)(((uint64_t)p * 0x9e3779b97f4a7c15ull) >> (64 - BUCKET_BITS)); }
static inline uint32_t b2(uintptr_t p) { return (uint32_t)(((uint64_t)p * 0xc2b2ae3d27d4eb4full) >> (64 - BUCKET_BITS)); }
static inline uint32_t h0(uintptr_t p) { return (uint32_t)(((uint64_t)p * 0xff51afd7ed558ccdull) >> (64 - HINT_BITS)); }

void rec_sample_init(void)
{
    const char *v = getenv("MALLOCREC_SAMPLE");
    uint64_t n;
    rec_sample_bytes = 0;
    if (!v || !*v || mr_parse_size(v, &n) || n <= 1)
        return;
    void *m = mmap(NULL, NBUCKETS * sizeof *set, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return; /* without the set, record everything rather than guess */
    set = m;
    rec_sample_bytes = n;
}

/* Uniform in (0, 1] from the stream's xorshift state. */
static double uniform(struct rec_stream *s)
{
    uint64_t x = s->sample_rng;
    if (!x)
        x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)s->tid << 32) ^ rec_ticks();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->sample_rng = x;
    return ((double)(x >> 11) + 1.0) / 9007199254740992.0;
}

static int64_t next_gap(struct rec_stream *s)
{
    double g = -log(uniform(s)) * (double)rec_sample_bytes;
    return g >= 9e18 ? INT64_MAX : (int64_t)g + 1;
}

int rec_sample_take_slow(struct rec_stream *s, size_t n)
{
    /* first use of the stream, or a point fell in this block */
    if (!s->sample_armed) {
        s->sample_armed = 1;
        s->sample_left = next_gap(s) - (int64_t)(n ? n : 1);
        if (s->sample_left > 0)
            return 0;
    }
    s->sample_left = next_gap(s);
    return 1;
}

void rec_sample_add(uintptr_t p)
{
    if (!p)
        return;
    uint32_t h[2] = {b1(p), b2(p)};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < WAYS; i++) {
            uintptr_t zero = 0;
            if (set[h[k]].p[i] == 0 &&
                __atomic_compare_exchange_n(&set[h[k]].p[i], &zero, p, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
                hint_add(&hint[h0(p)], 1);
                return;
            }
        }
    set_full = 1;
}

int rec_sample_remove(uintptr_t p)
{
    /* the block was added before the program could hand it to a free (that
     * hand-off orders the two), so a zero hint is final */
    if (!__atomic_load_n(&hint[h0(p)], __ATOMIC_ACQUIRE))
        return set_full;
    uint32_t h[2] = {b1(p), b2(p)};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < WAYS; i++) {
            uintptr_t want = p;
            if (__atomic_load_n(&set[h[k]].p[i], __ATOMIC_ACQUIRE) == p &&
                __atomic_compare_exchange_n(&set[h[k]].p[i], &want, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                hint_add(&hint[h0(p)], -1);
                return 1;
            }
        }
    }
    return set_full;
}

void rec_options_record(struct rec_stream *m)
{
    rec_reserve(m, 4 * MRZ_VARINT_MAX + 1);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, m->pos, MRZ_T_OPTIONS);
    p = mrz_put_uvar(p, rec_ticks());
    p = mrz_put_uvar(p, rec_sample_bytes);
    p = mrz_put_uvar(p, rec_g.no_stacks ? 0 : (uint64_t)rec_g.stack_depth);
    m->pos = mrz_framed_end(&f, p);
    rec_commit(m);
}
