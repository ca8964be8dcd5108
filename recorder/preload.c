/* libmallocrec.so's hot path: the malloc family, each call interposed to
 * record one event and reach glibc's allocator directly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "rec.h"

/* glibc's own entry points: no dlsym, so no bootstrap recursion. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern char **environ;

__thread struct rec_tls rec_tls __attribute__((tls_model("initial-exec")));
struct rec_global rec_g = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .wip_fd = -1};

/* ------------------------------------------------------------ entry / exit */

/* Dead threads (past their key destructor) record into stream 0 under the
 * lock; this tells leave() to unlock. */
static __thread int tls_locked __attribute__((tls_model("initial-exec")));

static __attribute__((noinline)) struct rec_stream *enter_slow(void)
{
    if (rec_g.state != REC_READY) {
        if (rec_g.state != REC_UNINIT || !environ)
            return NULL;
        rec_tls.busy = 1;
        rec_init();
        rec_tls.busy = 0;
        if (rec_g.state != REC_READY)
            return NULL;
    }
    rec_tls.busy = 1;
    barrier();
    if (rec_tls.s)
        return rec_tls.s; /* init() just made this thread's stream */
    if (rec_tls.dead) {
        pthread_mutex_lock(&rec_g.lock);
        tls_locked = 1;
        struct rec_stream *m = rec_g.meta;
        uint32_t tid = (uint32_t)gettid();
        if (m->tid != tid) {
            m->tid = tid;
            rec_thread_record(m, MRZ_T_THREAD);
        }
        return m;
    }
    struct rec_stream *s = rec_stream_acquire();
    if (!s) {
        rec_tls.busy = 0;
        return NULL;
    }
    rec_tls.s = s;
    pthread_setspecific(rec_g.key, s);
    return s;
}

/* @return the stream to record into with busy set, or NULL to pass through. */
static inline struct rec_stream *enter(void)
{
    if (unlikely(rec_tls.busy))
        return NULL;
    struct rec_stream *s = rec_tls.s;
    if (likely(s != NULL)) {
        rec_tls.busy = 1;
        barrier();
        return s;
    }
    return enter_slow();
}

static inline void leave(void)
{
    barrier();
    if (unlikely(tls_locked)) {
        tls_locked = 0;
        pthread_mutex_unlock(&rec_g.lock);
    }
    rec_tls.busy = 0;
}

/* ------------------------------------------------------------ recording */

/* libunwind, for the stacks our own walker does not take (rare).
 * @return the stack's node id. */
static __attribute__((noinline)) uint32_t stack_slow(struct rec_stream *s)
{
    uintptr_t buf[REC_MAX_DEPTH + 16], out[REC_MAX_DEPTH];
    /* the walker's last stack is no longer the stack table's last one */
    s->unw.n = s->unw.complete = s->unw.same = 0;
    int n = unw_backtrace((void **)buf, rec_g.stack_depth + 16);
    int skip = 0;
    while (skip < n && buf[skip] >= rec_g.self_lo && buf[skip] < rec_g.self_hi)
        skip++;
    n -= skip;
    if (n > rec_g.stack_depth)
        n = rec_g.stack_depth;
    for (int i = 0; i < n; i++)
        out[i] = buf[skip + n - 1 - i];
    return rec_stack_intern(s, out, n, 0);
}

static __attribute__((noinline)) void stream_setup(struct rec_stream *s)
{
    if (!s->delta.cache)
        s->delta.cache = s->refs ? s->refs : (s->refs = rec_refs_new(s->slot->data));
    if (s->unw.tid != s->tid || !s->unw.cache)
        rec_unw_init(&s->unw, s->tid);
}

/* Records an allocation that just returned p, stamped first (a block handed
 * to another thread is then stamped well before that thread can free it:
 * format/SPEC.md, 9.3); st is the frame of the interposed call (its return
 * address is the stack's innermost frame). */
static inline void record_alloc(struct rec_stream *s, const struct rec_unw_start *st, unsigned kind, void *p,
                                size_t size, size_t align)
{
    if (unlikely(rec_g.paused))
        return;
    if (unlikely(rec_sample_bytes) && !rec_sample_take(s, size))
        return;
    mrz_ref_prefetch(&s->delta, (uintptr_t)p);
    uint64_t t = rec_ticks();
    if (unlikely(s->unw.tid != s->tid || !s->delta.cache))
        stream_setup(s);
    uint32_t sid = 0;
    if (!rec_g.no_stacks) {
        int n = rec_unwind(&s->unw, st, rec_g.stack_depth, rec_g.self_lo, rec_g.self_hi);
        if (likely(n >= 0))
            sid = rec_stack_intern(s, s->unw.ip, n, (int)s->unw.same);
        else
            sid = stack_slow(s);
    }
    if (unlikely(rec_sample_bytes))
        rec_sample_add((uintptr_t)p);
    rec_reserve(s, MRZ_HOT_MAX);
    s->pos = mrz_enc_alloc(s->pos, &s->delta, kind, t, (uintptr_t)p, size, sid, align);
    rec_commit(s);
}

/* Encodes a release of p stamped t. */
static inline void record_free_at(struct rec_stream *s, unsigned type, void *p, uint64_t t)
{
    mrz_ref_prefetch(&s->delta, (uintptr_t)p);
    if (unlikely(!s->delta.cache))
        stream_setup(s);
    rec_reserve(s, MRZ_HOT_MAX);
    s->pos = mrz_enc_free(s->pos, &s->delta, type, t, (uintptr_t)p);
    rec_commit(s);
}

/* @return 1 if the release was recorded. */
static inline int record_free(struct rec_stream *s, unsigned type, void *p)
{
    if (unlikely(rec_sample_bytes) && !rec_sample_remove((uintptr_t)p))
        return 0;
    record_free_at(s, type, p, rec_ticks());
    return 1;
}

/* ------------------------------------------------------------ malloc family */

/* Every entry point records right after the allocator returns (before it
 * for a release), with its own frame for the stack walk. */

REC_EXPORT void *malloc(size_t n)
{
    struct rec_stream *s = enter();
    void *p = __libc_malloc(n);
    if (s) {
        struct rec_unw_start st;
        REC_UNW_HERE(st);
        record_alloc(s, &st, MRZ_K_MALLOC, p, n, 0);
        leave();
    }
    return p;
}

REC_EXPORT void *calloc(size_t n, size_t m)
{
    struct rec_stream *s = enter();
    void *p = __libc_calloc(n, m);
    if (s) {
        struct rec_unw_start st;
        REC_UNW_HERE(st);
        size_t total;
        if (__builtin_mul_overflow(n, m, &total))
            total = SIZE_MAX;
        record_alloc(s, &st, MRZ_K_CALLOC, p, total, 0);
        leave();
    }
    return p;
}

/* With sampling, a realloc of a recorded block always records its outcome
 * when it failed (the block lives on); otherwise the new block is sampled
 * like any allocation. */
static inline void *do_realloc(const struct rec_unw_start *st, unsigned kind, void *old, size_t n)
{
    struct rec_stream *s = enter();
    int released = 0;
    if (s && old)
        released = record_free(s, MRZ_T_REALLOC_FREE, old);
    void *p = __libc_realloc(old, n);
    if (s) {
        if (unlikely(rec_sample_bytes) && released && !p) {
            rec_reserve(s, MRZ_HOT_MAX);
            s->pos = mrz_enc_alloc(s->pos, &s->delta, kind, rec_ticks(), 0, n, 0, 0);
            rec_commit(s);
        } else {
            record_alloc(s, st, kind, p, n, 0);
        }
        leave();
    }
    return p;
}

REC_EXPORT void *realloc(void *old, size_t n)
{
    struct rec_unw_start st;
    REC_UNW_HERE(st);
    return do_realloc(&st, MRZ_K_REALLOC, old, n);
}

REC_EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    struct rec_unw_start st;
    REC_UNW_HERE(st);
    return do_realloc(&st, MRZ_K_REALLOCARRAY, old, total);
}

REC_EXPORT void free(void *p)
{
    if (!p)
        return;
    struct rec_stream *s = enter();
    if (s && likely(!rec_sample_bytes)) {
        /* Stamped before the block is released (SPEC 9.3), encoded after:
         * rdtsc stalls dispatch for tens of cycles, and glibc's free then
         * runs in its shadow (alloc_storm: about 4% fewer cycles). */
        uint64_t t = rec_ticks();
        __libc_free(p);
        record_free_at(s, MRZ_T_FREE, p, t);
        leave();
        return;
    }
    if (s) {
        /* sampled: forget p before another thread can be given it */
        record_free(s, MRZ_T_FREE, p);
        leave();
    }
    __libc_free(p);
}

static inline void *aligned(const struct rec_unw_start *st, unsigned kind, size_t align, size_t n)
{
    struct rec_stream *s = enter();
    void *p;
    if (kind == MRZ_K_VALLOC)
        p = __libc_valloc(n);
    else if (kind == MRZ_K_PVALLOC)
        p = __libc_pvalloc(n);
    else
        p = __libc_memalign(align, n);
    if (s) {
        record_alloc(s, st, kind, p, n, align);
        leave();
    }
    return p;
}

#define ALIGNED_ENTRY(kind, align, n)                                           \
    struct rec_unw_start st;                                                    \
    REC_UNW_HERE(st);                                                           \
    return aligned(&st, kind, align, n)

REC_EXPORT void *memalign(size_t align, size_t n) { ALIGNED_ENTRY(MRZ_K_MEMALIGN, align, n); }
REC_EXPORT void *valloc(size_t n) { ALIGNED_ENTRY(MRZ_K_VALLOC, 0, n); }
REC_EXPORT void *pvalloc(size_t n) { ALIGNED_ENTRY(MRZ_K_PVALLOC, 0, n); }

REC_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    ALIGNED_ENTRY(MRZ_K_ALIGNED_ALLOC, align, n);
}

REC_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    struct rec_unw_start st;
    REC_UNW_HERE(st);
    void *p = aligned(&st, MRZ_K_POSIX_MEMALIGN, align, n);
    if (!p && n)
        return ENOMEM;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ other events */

/* For events recorded outside this file (cuda.c).  Their stacks come from
 * libunwind: such events are rare next to the heap's. */
struct rec_stream *rec_enter(void) { return enter(); }
void rec_leave(void) { leave(); }

uint32_t rec_stack_id(struct rec_stream *s)
{
    if (rec_g.no_stacks)
        return 0;
    return stack_slow(s);
}
