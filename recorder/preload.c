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

static inline int capture(uintptr_t *buf)
{
    int n = unw_backtrace((void **)buf, rec_g.stack_depth + 4);
    int skip = 0;
    while (skip < n && buf[skip] >= rec_g.self_lo && buf[skip] < rec_g.self_hi)
        skip++;
    n -= skip;
    if (n > rec_g.stack_depth)
        n = rec_g.stack_depth;
    if (skip)
        memmove(buf, buf + skip, (size_t)n * sizeof *buf);
    return n;
}

static void record_alloc(struct rec_stream *s, unsigned kind, void *p, size_t size, size_t align)
{
    if (unlikely(rec_g.paused))
        return;
    uint32_t sid = 0;
    if (!rec_g.no_stacks) {
        uintptr_t ips[REC_MAX_DEPTH + 8];
        sid = rec_stack_intern(s, ips, capture(ips));
    }
    rec_reserve(s, MRZ_HOT_MAX);
    s->pos = mrz_enc_alloc(s->pos, &s->delta, kind, rec_ticks(), (uintptr_t)p, size, sid, align);
    rec_commit(s);
}

static inline void record_free(struct rec_stream *s, unsigned type, void *p)
{
    rec_reserve(s, MRZ_HOT_MAX);
    s->pos = mrz_enc_free(s->pos, &s->delta, type, rec_ticks(), (uintptr_t)p);
    rec_commit(s);
}

/* ------------------------------------------------------------ malloc family */

REC_EXPORT void *malloc(size_t n)
{
    struct rec_stream *s = enter();
    void *p = __libc_malloc(n);
    if (s) {
        record_alloc(s, MRZ_K_MALLOC, p, n, 0);
        leave();
    }
    return p;
}

REC_EXPORT void *calloc(size_t n, size_t m)
{
    struct rec_stream *s = enter();
    void *p = __libc_calloc(n, m);
    if (s) {
        size_t total;
        if (__builtin_mul_overflow(n, m, &total))
            total = SIZE_MAX;
        record_alloc(s, MRZ_K_CALLOC, p, total, 0);
        leave();
    }
    return p;
}

static void *do_realloc(unsigned kind, void *old, size_t n)
{
    struct rec_stream *s = enter();
    if (s && old)
        record_free(s, MRZ_T_REALLOC_FREE, old);
    void *p = __libc_realloc(old, n);
    if (s) {
        record_alloc(s, kind, p, n, 0);
        leave();
    }
    return p;
}

REC_EXPORT void *realloc(void *old, size_t n) { return do_realloc(MRZ_K_REALLOC, old, n); }

REC_EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(MRZ_K_REALLOCARRAY, old, total);
}

REC_EXPORT void free(void *p)
{
    if (!p)
        return;
    struct rec_stream *s = enter();
    if (s) {
        record_free(s, MRZ_T_FREE, p);
        leave();
    }
    __libc_free(p);
}

static void *aligned(unsigned kind, size_t align, size_t n)
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
        record_alloc(s, kind, p, n, align);
        leave();
    }
    return p;
}

REC_EXPORT void *memalign(size_t align, size_t n) { return aligned(MRZ_K_MEMALIGN, align, n); }
REC_EXPORT void *valloc(size_t n) { return aligned(MRZ_K_VALLOC, 0, n); }
REC_EXPORT void *pvalloc(size_t n) { return aligned(MRZ_K_PVALLOC, 0, n); }

REC_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(MRZ_K_ALIGNED_ALLOC, align, n);
}

REC_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = aligned(MRZ_K_POSIX_MEMALIGN, align, n);
    if (!p && n)
        return ENOMEM;
    *out = p;
    return 0;
}

