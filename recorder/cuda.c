/* CUDA allocations, recorded in the calling thread's stream next to the host
 * heap, from every layer a program reaches them through:
 *  - the runtime API (cudaMalloc...), interposed when libcudart is shared;
 *  - the driver API (cuMemAlloc_v2...), interposed, and the entry points
 *    that cuGetProcAddress and dlsym on a library handle hand out (how
 *    cudart reaches the driver): those come back wrapped;
 *  - with inline hooks (REC_INLINE_HOOKS, capstone): the definitions symbol
 *    interposition cannot reach, patched in place (hook.c) — cudart linked
 *    into the executable or hidden in a library, and libcuda's own exports.
 *
 * One wrapper per function serves every route: the exported interposer
 * calls the next definition, and NCOPY "copy" entries each call one other
 * original (a trampoline, or a pointer the driver handed out).  Only the
 * outermost hooked call of a thread records, so cudaMalloc reaching
 * cuMemAlloc_v2 is one event; host allocations made inside a CUDA call are
 * recorded as usual. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "rec_cuda.h"
#include "rec.h"
#ifdef REC_INLINE_HOOKS
#include "hook.h"
#endif

#define NCOPY 4
#define CUDA_REC_MAX (1 + 8 * MRZ_VARINT_MAX)
#define CLAIMED ((void *)1)

enum { L_RT, L_DRV, L_PROC };

/* layer, exported name, implementation, parameters, arguments */
#define CUDA_HOOKS(X)                                                                                         \
    X(RT, cudaMalloc, rt_malloc, (void **p, size_t n), (p, n))                                                \
    X(RT, cudaMallocHost, rt_malloc_host, (void **p, size_t n), (p, n))                                       \
    X(RT, cudaHostAlloc, rt_host_alloc, (void **p, size_t n, unsigned f), (p, n, f))                          \
    X(RT, cudaMallocManaged, rt_malloc_managed, (void **p, size_t n, unsigned f), (p, n, f))                  \
    X(RT, cudaMallocPitch, rt_malloc_pitch, (void **p, size_t *pitch, size_t w, size_t h), (p, pitch, w, h))  \
    X(RT, cudaMalloc3D, rt_malloc_3d, (struct rc_pitched_ptr * pp, struct rc_extent e), (pp, e))              \
    X(RT, cudaMallocAsync, rt_malloc_async, (void **p, size_t n, rc_stream s), (p, n, s))                     \
    X(RT, cudaMallocAsync_ptsz, rt_malloc_async, (void **p, size_t n, rc_stream s), (p, n, s))                \
    X(RT, cudaMallocFromPoolAsync, rt_malloc_pool, (void **p, size_t n, rc_pool pl, rc_stream s),             \
      (p, n, pl, s))                                                                                          \
    X(RT, cudaMallocFromPoolAsync_ptsz, rt_malloc_pool, (void **p, size_t n, rc_pool pl, rc_stream s),        \
      (p, n, pl, s))                                                                                          \
    X(RT, cudaFree, rt_free, (void *p), (p))                                                                  \
    X(RT, cudaFreeHost, rt_free_host, (void *p), (p))                                                         \
    X(RT, cudaFreeAsync, rt_free_async, (void *p, rc_stream s), (p, s))                                       \
    X(RT, cudaFreeAsync_ptsz, rt_free_async, (void *p, rc_stream s), (p, s))                                  \
    X(DRV, cuMemAlloc_v2, drv_alloc, (rc_devptr * p, size_t n), (p, n))                                       \
    X(DRV, cuMemAllocPitch_v2, drv_alloc_pitch, (rc_devptr * p, size_t *pitch, size_t w, size_t h, unsigned e), \
      (p, pitch, w, h, e))                                                                                    \
    X(DRV, cuMemAllocHost_v2, drv_alloc_host, (void **p, size_t n), (p, n))                                   \
    X(DRV, cuMemHostAlloc, drv_host_alloc, (void **p, size_t n, unsigned f), (p, n, f))                       \
    X(DRV, cuMemAllocManaged, drv_alloc_managed, (rc_devptr * p, size_t n, unsigned f), (p, n, f))            \
    X(DRV, cuMemAllocAsync, drv_alloc_async, (rc_devptr * p, size_t n, rc_stream s), (p, n, s))               \
    X(DRV, cuMemAllocAsync_ptsz, drv_alloc_async, (rc_devptr * p, size_t n, rc_stream s), (p, n, s))          \
    X(DRV, cuMemAllocFromPoolAsync, drv_alloc_pool, (rc_devptr * p, size_t n, rc_pool pl, rc_stream s),       \
      (p, n, pl, s))                                                                                          \
    X(DRV, cuMemAllocFromPoolAsync_ptsz, drv_alloc_pool, (rc_devptr * p, size_t n, rc_pool pl, rc_stream s),  \
      (p, n, pl, s))                                                                                          \
    X(DRV, cuMemFree_v2, drv_free, (rc_devptr p), (p))                                                        \
    X(DRV, cuMemFreeHost, drv_free_host, (void *p), (p))                                                      \
    X(DRV, cuMemFreeAsync, drv_free_async, (rc_devptr p, rc_stream s), (p, s))                                \
    X(DRV, cuMemFreeAsync_ptsz, drv_free_async, (rc_devptr p, rc_stream s), (p, s))                           \
    X(DRV, cuMemCreate, drv_create, (rc_memhandle * h, size_t n, const struct rc_mem_prop *pr, unsigned long long f), \
      (h, n, pr, f))                                                                                          \
    X(DRV, cuMemRelease, drv_release, (rc_memhandle h), (h))                                                  \
    X(PROC, cuGetProcAddress, drv_procaddr_v1, (const char *sym, void **pfn, int ver, uint64_t fl),           \
      (sym, pfn, ver, fl))                                                                                    \
    X(PROC, cuGetProcAddress_v2, drv_procaddr_v2, (const char *sym, void **pfn, int ver, uint64_t fl, unsigned *st), \
      (sym, pfn, ver, fl, st))

#define X_ENUM(l, name, impl, params, args) H_##name,
enum { CUDA_HOOKS(X_ENUM) H_COUNT };

struct hook {
    const char *name;
    uint8_t layer;
    void *next;            /* the definition after ours, for the interposer */
    void *found;           /* a definition the scan found (exported preferred) */
    void *copy[NCOPY];     /* the originals the copy entries run */
    void *entry[NCOPY];    /* the copy entries */
};
static struct hook hooks[H_COUNT];

/* Inside a hooked CUDA call: inner hooked calls only pass through. */
static __thread volatile int depth __attribute__((tls_model("initial-exec")));

static rc_result (*ctx_get_device)(int *); /* the driver's cuCtxGetDevice */

/* The real dlsym (ours is in the dlsym entry below). */
REC_HIDDEN void *(*rec_cuda_next_dlsym)(void *, const char *) __attribute__((used));
REC_HIDDEN void *rec_cuda_resolve_dlsym(void);
#define real_dlsym ((void *(*)(void *, const char *))rec_cuda_resolve_dlsym())

/* ------------------------------------------------------------ recording */

static uint64_t smul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* The current context's device.  What the driver allocates for asking
 * (a thread's first use of its TLS) is the recorder's, not the program's. */
static int cur_device(void)
{
    rc_result (*f)(int *) = __atomic_load_n(&ctx_get_device, __ATOMIC_ACQUIRE);
    int d = 0;
    if (!f)
        return 0;
    depth++;
    rec_tls.busy++;
    if (f(&d) || d < 0)
        d = 0;
    rec_tls.busy--;
    depth--;
    return d;
}

/* A call that returned r: ptr is meaningful only when r is 0.  A success
 * without memory (cudaMalloc of 0 bytes) holds nothing and is not an
 * allocation.  device < 0: the current context's. */
static void emit_alloc(unsigned space, rc_result r, uint64_t ptr, uint64_t size, uint64_t stream, int device)
{
    if (!r && !ptr)
        return;
    if (device < 0)
        device = cur_device();
    struct rec_stream *s = rec_enter();
    if (!s)
        return;
    if (!rec_g.paused) {
        uint32_t sid = rec_stack_id(s);
        rec_reserve(s, CUDA_REC_MAX);
        s->pos = mrz_enc_cuda_alloc(s->pos, &s->delta, rec_ticks(), space, (unsigned)device, r ? 0 : ptr, size, sid, r,
                                    stream);
        rec_commit(s);
    }
    rec_leave();
}

/* A free is recorded after the call (its result is part of the record) but
 * stamped with the time it began, so an allocation another thread makes at
 * the address it released sorts after it.  Within the stream, time never
 * goes back. */
static void emit_free(uint64_t t0, unsigned space, rc_result r, uint64_t ptr)
{
    int device = cur_device();
    struct rec_stream *s = rec_enter();
    if (!s)
        return;
    rec_reserve(s, CUDA_REC_MAX);
    uint64_t t = t0 > s->delta.time ? t0 : s->delta.time;
    s->pos = mrz_enc_cuda_free(s->pos, &s->delta, t, space, (unsigned)device, ptr, r);
    rec_commit(s);
    rec_leave();
}

/* The bodies of the wrappers.  real is the original to call (NULL when none
 * was found); sig and args its signature and arguments. */
#define ALLOC_BODY(sig, args, space, ptr_expr, size_expr, stream, device)                                        \
    rc_result(*f_) sig = (rc_result(*) sig)real;                                                                \
    if (!f_)                                                                                                     \
        return RC_NOT_INITIALIZED;                                                                               \
    if (depth)                                                                                                   \
        return f_ args;                                                                                          \
    depth++;                                                                                                     \
    rc_result r = f_ args;                                                                                       \
    depth--;                                                                                                     \
    emit_alloc(space, r, r ? 0 : (uint64_t)(ptr_expr), size_expr, (uint64_t)(uintptr_t)(stream), device);      \
    return r

/* Freeing nothing (cudaFree(0) starts the runtime) passes through. */
#define FREE_BODY(sig, args, space, ptr)                                                                         \
    rc_result(*f_) sig = (rc_result(*) sig)real;                                                                \
    if (!f_)                                                                                                     \
        return RC_NOT_INITIALIZED;                                                                               \
    if (depth || !(ptr))                                                                                         \
        return f_ args;                                                                                          \
    uint64_t t0 = rec_ticks();                                                                                   \
    depth++;                                                                                                     \
    rc_result r = f_ args;                                                                                       \
    depth--;                                                                                                     \
    emit_free(t0, space, r, (uint64_t)(ptr));                                                                    \
    return r

/* runtime API */
static rc_result rt_malloc(void *real, void **p, size_t n)
{
    ALLOC_BODY((void **, size_t), (p, n), MRZ_S_CUDA_DEVICE, (uintptr_t)*p, n, 0, -1);
}
static rc_result rt_malloc_host(void *real, void **p, size_t n)
{
    ALLOC_BODY((void **, size_t), (p, n), MRZ_S_CUDA_PINNED, (uintptr_t)*p, n, 0, -1);
}
static rc_result rt_host_alloc(void *real, void **p, size_t n, unsigned f)
{
    ALLOC_BODY((void **, size_t, unsigned), (p, n, f), MRZ_S_CUDA_PINNED, (uintptr_t)*p, n, 0, -1);
}
static rc_result rt_malloc_managed(void *real, void **p, size_t n, unsigned f)
{
    ALLOC_BODY((void **, size_t, unsigned), (p, n, f), MRZ_S_CUDA_MANAGED, (uintptr_t)*p, n, 0, -1);
}
static rc_result rt_malloc_pitch(void *real, void **p, size_t *pitch, size_t w, size_t h)
{
    ALLOC_BODY((void **, size_t *, size_t, size_t), (p, pitch, w, h), MRZ_S_CUDA_DEVICE, (uintptr_t)*p,
               r ? smul(w, h) : smul(*pitch, h), 0, -1);
}
static rc_result rt_malloc_3d(void *real, struct rc_pitched_ptr *pp, struct rc_extent e)
{
    ALLOC_BODY((struct rc_pitched_ptr *, struct rc_extent), (pp, e), MRZ_S_CUDA_DEVICE, (uintptr_t)pp->ptr,
               smul(smul(r ? e.width : pp->pitch, e.height), e.depth), 0, -1);
}
static rc_result rt_malloc_async(void *real, void **p, size_t n, rc_stream s)
{
    ALLOC_BODY((void **, size_t, rc_stream), (p, n, s), MRZ_S_CUDA_ASYNC, (uintptr_t)*p, n, s, -1);
}
static rc_result rt_malloc_pool(void *real, void **p, size_t n, rc_pool pl, rc_stream s)
{
    ALLOC_BODY((void **, size_t, rc_pool, rc_stream), (p, n, pl, s), MRZ_S_CUDA_ASYNC, (uintptr_t)*p, n, s, -1);
}
static rc_result rt_free(void *real, void *p) { FREE_BODY((void *), (p), MRZ_S_CUDA_DEVICE, (uintptr_t)p); }
static rc_result rt_free_host(void *real, void *p) { FREE_BODY((void *), (p), MRZ_S_CUDA_PINNED, (uintptr_t)p); }
static rc_result rt_free_async(void *real, void *p, rc_stream s)
{
    FREE_BODY((void *, rc_stream), (p, s), MRZ_S_CUDA_ASYNC, (uintptr_t)p);
}

/* driver API */
static rc_result drv_alloc(void *real, rc_devptr *p, size_t n)
{
    ALLOC_BODY((rc_devptr *, size_t), (p, n), MRZ_S_CUDA_DEVICE, *p, n, 0, -1);
}
static rc_result drv_alloc_pitch(void *real, rc_devptr *p, size_t *pitch, size_t w, size_t h, unsigned e)
{
    ALLOC_BODY((rc_devptr *, size_t *, size_t, size_t, unsigned), (p, pitch, w, h, e), MRZ_S_CUDA_DEVICE, *p,
               r ? smul(w, h) : smul(*pitch, h), 0, -1);
}
static rc_result drv_alloc_host(void *real, void **p, size_t n)
{
    ALLOC_BODY((void **, size_t), (p, n), MRZ_S_CUDA_PINNED, (uintptr_t)*p, n, 0, -1);
}
static rc_result drv_host_alloc(void *real, void **p, size_t n, unsigned f)
{
    ALLOC_BODY((void **, size_t, unsigned), (p, n, f), MRZ_S_CUDA_PINNED, (uintptr_t)*p, n, 0, -1);
}
static rc_result drv_alloc_managed(void *real, rc_devptr *p, size_t n, unsigned f)
{
    ALLOC_BODY((rc_devptr *, size_t, unsigned), (p, n, f), MRZ_S_CUDA_MANAGED, *p, n, 0, -1);
}
static rc_result drv_alloc_async(void *real, rc_devptr *p, size_t n, rc_stream s)
{
    ALLOC_BODY((rc_devptr *, size_t, rc_stream), (p, n, s), MRZ_S_CUDA_ASYNC, *p, n, s, -1);
}
static rc_result drv_alloc_pool(void *real, rc_devptr *p, size_t n, rc_pool pl, rc_stream s)
{
    ALLOC_BODY((rc_devptr *, size_t, rc_pool, rc_stream), (p, n, pl, s), MRZ_S_CUDA_ASYNC, *p, n, s, -1);
}
static rc_result drv_free(void *real, rc_devptr p) { FREE_BODY((rc_devptr), (p), MRZ_S_CUDA_DEVICE, p); }
static rc_result drv_free_host(void *real, void *p) { FREE_BODY((void *), (p), MRZ_S_CUDA_PINNED, (uintptr_t)p); }
static rc_result drv_free_async(void *real, rc_devptr p, rc_stream s)
{
    FREE_BODY((rc_devptr, rc_stream), (p, s), MRZ_S_CUDA_ASYNC, p);
}
/* Virtual memory management: the physical allocation is the memory used,
 * from cuMemCreate to cuMemRelease; the handle stands for its address.
 * Mapping it (cuMemMap) allocates nothing, so it is not an event. */
static rc_result drv_create(void *real, rc_memhandle *h, size_t n, const struct rc_mem_prop *pr, unsigned long long f)
{
    int dev = pr && pr->location.type == RC_LOCATION_DEVICE ? pr->location.id : -1;
    ALLOC_BODY((rc_memhandle *, size_t, const struct rc_mem_prop *, unsigned long long), (h, n, pr, f),
               MRZ_S_CUDA_VMM, *h, n, 0, dev);
}
static rc_result drv_release(void *real, rc_memhandle h) { FREE_BODY((rc_memhandle), (h), MRZ_S_CUDA_VMM, h); }

static void wrap_proc(const char *sym, void **pfn, int ver);

static rc_result drv_procaddr_v1(void *real, const char *sym, void **pfn, int ver, uint64_t fl)
{
    rc_result (*f)(const char *, void **, int, uint64_t) = (rc_result(*)(const char *, void **, int, uint64_t))real;
    if (!f)
        return RC_NOT_INITIALIZED;
    rc_result r = f(sym, pfn, ver, fl);
    if (!r)
        wrap_proc(sym, pfn, ver);
    return r;
}

static rc_result drv_procaddr_v2(void *real, const char *sym, void **pfn, int ver, uint64_t fl, unsigned *st)
{
    rc_result (*f)(const char *, void **, int, uint64_t, unsigned *) =
        (rc_result(*)(const char *, void **, int, uint64_t, unsigned *))real;
    if (!f)
        return RC_NOT_INITIALIZED;
    rc_result r = f(sym, pfn, ver, fl, st);
    if (!r && (!st || *st == RC_PROC_FOUND))
        wrap_proc(sym, pfn, ver);
    return r;
}

/* ------------------------------------------------------------ entries */

static void *next_of(int id, void *caller);

#define ESC(...) __VA_ARGS__
#define COPY(name, i) __atomic_load_n(&hooks[H_##name].copy[i], __ATOMIC_ACQUIRE)
#define X_DEFS(l, name, impl, params, args)                                                                     \
    REC_EXPORT rc_result name params { return impl(next_of(H_##name, __builtin_return_address(0)), ESC args); } \
    static rc_result name##_c0 params { return impl(COPY(name, 0), ESC args); }                                  \
    static rc_result name##_c1 params { return impl(COPY(name, 1), ESC args); }                                  \
    static rc_result name##_c2 params { return impl(COPY(name, 2), ESC args); }                                  \
    static rc_result name##_c3 params { return impl(COPY(name, 3), ESC args); }
CUDA_HOOKS(X_DEFS)

#define X_TABLE(l, name, impl, params, args)                                                                    \
    [H_##name] = {#name, L_##l, NULL, NULL, {NULL}, {(void *)name##_c0, (void *)name##_c1, (void *)name##_c2, (void *)name##_c3}},
static struct hook hooks[H_COUNT] = {CUDA_HOOKS(X_TABLE)};

static int ours(const void *p) { return (uintptr_t)p >= rec_g.self_lo && (uintptr_t)p < rec_g.self_hi; }

/* The definition the caller would have reached without us, when it is not
 * in the global scope (a cudart that a library dlopen'ed RTLD_LOCAL brought
 * in): looked up in the caller's own object and its dependencies.  Failing
 * that (a driver loaded RTLD_LOCAL whose own code took the address of its
 * export, which resolved to ours), the definition the scan found. */
static void *by_caller(const char *name, void *caller)
{
    static void *(*open_)(const char *, int);
    static int (*close_)(void *);
    Dl_info di;
    if (!open_) {
        open_ = (void *(*)(const char *, int))real_dlsym(RTLD_NEXT, "dlopen");
        close_ = (int (*)(void *))real_dlsym(RTLD_NEXT, "dlclose");
    }
    if (!open_ || !close_ || !dladdr(caller, &di) || !di.dli_fname || !*di.dli_fname)
        return NULL;
    void *h = open_(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    void *p = h ? real_dlsym(h, name) : NULL;
    if (h)
        close_(h);
    return p && !ours(p) ? p : NULL;
}

static void *next_of(int id, void *caller)
{
    struct hook *h = &hooks[id];
    void *p = __atomic_load_n(&h->next, __ATOMIC_ACQUIRE);
    if (p)
        return p;
    if (!rec_cuda_resolve_dlsym())
        return NULL;
    rec_tls.busy++;
    p = real_dlsym(RTLD_NEXT, h->name);
    if (p)
        __atomic_store_n(&h->next, p, __ATOMIC_RELEASE);
    else
        p = by_caller(h->name, caller);
    rec_tls.busy--;
    return p ? p : __atomic_load_n(&h->found, __ATOMIC_ACQUIRE);
}

/* @return the copy entry that runs orig (taking a free copy), or NULL. */
static void *front(int id, void *orig)
{
    struct hook *h = &hooks[id];
    for (int i = 0; i < NCOPY; i++)
        if (__atomic_load_n(&h->copy[i], __ATOMIC_ACQUIRE) == orig)
            return h->entry[i];
    for (int i = 0; i < NCOPY; i++) {
        void *seen = NULL;
        if (__atomic_compare_exchange_n(&h->copy[i], &seen, orig, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
            seen == orig)
            return h->entry[i];
    }
    return NULL;
}

static int hook_by_name(const char *name)
{
    if (!name || name[0] != 'c' || name[1] != 'u')
        return -1;
    for (int i = 0; i < H_COUNT; i++)
        if (!strcmp(name, hooks[i].name))
            return i;
    return -1;
}

/* cuGetProcAddress takes names without their ABI suffix and a version:
 * "cuMemAlloc" at 3020 and later is cuMemAlloc_v2 (before, the 32-bit
 * cuMemAlloc, which is not ours to wrap). */
static int proc_id(const char *sym, int ver)
{
    static const struct { const char *name; int min_ver, id; } versioned[] = {
        {"cuMemAlloc", 3020, H_cuMemAlloc_v2},
        {"cuMemAllocPitch", 3020, H_cuMemAllocPitch_v2},
        {"cuMemFree", 3020, H_cuMemFree_v2},
        {"cuMemAllocHost", 3020, H_cuMemAllocHost_v2},
        {"cuGetProcAddress", 12000, H_cuGetProcAddress_v2},
        {"cuGetProcAddress", 0, H_cuGetProcAddress},
    };
    for (size_t i = 0; i < sizeof versioned / sizeof *versioned; i++)
        if (!strcmp(sym, versioned[i].name) && ver >= versioned[i].min_ver)
            return versioned[i].id;
    int id = hook_by_name(sym);
    return id >= 0 && hooks[id].layer != L_RT ? id : -1;
}

/* Replaces a pointer the driver handed out by the wrapper that runs it;
 * a function we patched in place is already caught and stays as is. */
static void wrap_ptr(int id, void **pfn)
{
    void *p = *pfn;
    if (!p || ours(p))
        return;
#ifdef REC_INLINE_HOOKS
    if (rec_hook_is_patched(p))
        return;
#endif
    void *e = front(id, p);
    if (e)
        *pfn = e;
}

static void wrap_proc(const char *sym, void **pfn, int ver)
{
    if (!sym || !pfn)
        return;
    int id = proc_id(sym, ver);
    if (id >= 0)
        wrap_ptr(id, pfn);
}

/* ------------------------------------------------------------ dlsym */

void *rec_cuda_resolve_dlsym(void)
{
    void *p = __atomic_load_n((void **)&rec_cuda_next_dlsym, __ATOMIC_ACQUIRE);
    if (p)
        return p;
    rec_tls.busy++;
    p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!p)
        p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    rec_tls.busy--;
    __atomic_store_n((void **)&rec_cuda_next_dlsym, p, __ATOMIC_RELEASE);
    return p;
}

/* dlsym on a library's own handle is how cudart finds cuGetProcAddress in
 * libcuda (and how some programs find cudaMalloc in a cudart they loaded):
 * what it returns for a CUDA function comes back wrapped, after a scan
 * that patches what the new objects define (a bare-name dlopen is not
 * followed by one). */
REC_HIDDEN void *rec_cuda_dlsym(void *handle, const char *name);
void *rec_cuda_dlsym(void *handle, const char *name)
{
    void *p = rec_cuda_next_dlsym(handle, name);
    if (!p || rec_tls.busy || rec_g.state != REC_READY)
        return p;
    rec_modules_after_dlopen(); /* write what a bare-name dlopen loaded */
    int id = hook_by_name(name);
    if (id < 0)
        return p;
    rec_cuda_scan();
    wrap_ptr(id, &p);
    return p;
}

#if defined(__x86_64__)
/* dlsym(RTLD_NEXT or RTLD_DEFAULT, ...) depends on its caller, found from
 * its return address: those jump to the real dlsym with the caller's
 * return address in place.  Other handles go through rec_cuda_dlsym. */
__asm__(".text\n"
        ".globl dlsym\n"
        ".type dlsym, @function\n"
        ".p2align 4\n"
        "dlsym:\n"
        "\t.cfi_startproc\n"
        "\tendbr64\n"
        "\tmov rec_cuda_next_dlsym(%rip), %rax\n"
        "\ttest %rax, %rax\n"
        "\tjnz 1f\n"
        "\tpush %rdi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rsi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tsub $8, %rsp\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tcall rec_cuda_resolve_dlsym\n"
        "\tadd $8, %rsp\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rsi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rdi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\ttest %rax, %rax\n"
        "\tjz 3f\n"
        "1:\tcmp $-1, %rdi\n"
        "\tje 2f\n"
        "\ttest %rdi, %rdi\n"
        "\tje 2f\n"
        "\tjmp rec_cuda_dlsym\n"
        "2:\tjmp *%rax\n"
        "3:\tret\n"
        "\t.cfi_endproc\n"
        ".size dlsym, .-dlsym\n");
#endif

/* ------------------------------------------------------------ finding definitions */

#define MAX_OBJS 1024
#define MAX_PATCHED 256

/* Objects examined, by load address and name; gen marks those still loaded. */
static struct obj { uintptr_t base, lo, hi; uint64_t name_hash; uint32_t gen; } objs[MAX_OBJS];
static int nobjs;
static uint32_t gen;
static unsigned long last_adds, last_subs;
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* One line on stderr: a CUDA function we found but cannot patch. */
static void complain(int id, const char *path, const char *why)
{
    const char *parts[] = {"mallocrec: cannot hook ", hooks[id].name, " in ", path, " (", why, "): ",
                           hooks[id].layer == L_RT ? "its allocations are seen only as the driver calls they make\n"
                                                   : "calls that reach it through dlsym are not recorded\n"};
    char buf[1024];
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        size_t l = strlen(parts[i]);
        if (l > sizeof buf - n)
            l = sizeof buf - n;
        memcpy(buf + n, parts[i], l);
        n += l;
    }
    rec_write_all(2, buf, n);
}

#ifdef REC_INLINE_HOOKS
static struct { uintptr_t fn; uint16_t id, copy; } patched[MAX_PATCHED];
static int npatched;

static void patch(int id, const struct rec_elf_want *w, const char *path)
{
    struct hook *h = &hooks[id];
    int c = -1;
    for (int i = 0; i < NCOPY && c < 0; i++) {
        void *seen = NULL;
        if (__atomic_compare_exchange_n(&h->copy[i], &seen, CLAIMED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            c = i;
    }
    int e = c < 0 || npatched == MAX_PATCHED ? REC_HOOK_EFULL
                                             : rec_hook_install((void *)w->addr, w->size, h->entry[c], &h->copy[c]);
    if (e) {
        if (c >= 0)
            __atomic_store_n(&h->copy[c], NULL, __ATOMIC_RELEASE);
        if (e != REC_HOOK_EEXIST)
            complain(id, path, rec_hook_strerror(e));
        return;
    }
    patched[npatched].fn = w->addr;
    patched[npatched].id = (uint16_t)id;
    patched[npatched].copy = (uint16_t)c;
    npatched++;
}
#endif

/* Looks the object's file up for CUDA functions: the driver's
 * cuCtxGetDevice (for the device of an event), and with inline hooks the
 * definitions to patch — every runtime function that interposition cannot
 * reach (in the executable, or not exported), every driver function. */
static void examine(const struct dl_phdr_info *info, int is_exe, uintptr_t lo, uintptr_t hi)
{
    const char *path = is_exe ? "/proc/self/exe" : info->dlpi_name;
    if (!path || !*path || (rec_g.self_lo >= lo && rec_g.self_lo < hi))
        return;
    char exe[4096]; /* the program's name for messages */
    ssize_t n = is_exe ? readlink(path, exe, sizeof exe - 1) : -1;
    if (n > 0) {
        exe[n] = 0;
        path = exe;
    }
    struct rec_elf_want w[H_COUNT + 1];
    for (int i = 0; i < H_COUNT; i++)
        w[i].name = hooks[i].name;
    w[H_COUNT].name = "cuCtxGetDevice";
    if (rec_elf_lookup(is_exe ? "/proc/self/exe" : path, info, w, H_COUNT + 1) <= 0)
        return;
    if (w[H_COUNT].addr && w[H_COUNT].exported && (w[H_cuGetProcAddress].addr || w[H_cuGetProcAddress_v2].addr))
        __atomic_store_n(&ctx_get_device, (rc_result(*)(int *))w[H_COUNT].addr, __ATOMIC_RELEASE);
    for (int i = 0; i < H_COUNT; i++)
        if (w[i].addr && (w[i].exported || !hooks[i].found))
            __atomic_store_n(&hooks[i].found, (void *)w[i].addr, __ATOMIC_RELEASE);
    int open = 0;
    for (int i = 0; i < H_COUNT; i++) {
        if (!w[i].addr || (hooks[i].layer == L_RT && !is_exe && w[i].exported))
            continue;
#ifdef REC_INLINE_HOOKS
        if (!open && rec_hook_begin(real_dlsym)) {
            complain(i, path, rec_hook_strerror(REC_HOOK_ECAPSTONE));
            return;
        }
        open = 1;
        patch(i, &w[i], path);
#else
        if (hooks[i].layer == L_RT) { /* one line per object */
            complain(i, path, "mallocrec was built without inline hooks");
            break;
        }
#endif
    }
#ifdef REC_INLINE_HOOKS
    if (open)
        rec_hook_end();
#else
    (void)open;
#endif
}

/* An object went: drop what pointed into it. */
static void forget(uintptr_t lo, uintptr_t hi)
{
#define IN(p) ((uintptr_t)(p) >= lo && (uintptr_t)(p) < hi)
#ifdef REC_INLINE_HOOKS
    for (int k = 0; k < npatched; k++)
        if (IN(patched[k].fn)) {
            __atomic_store_n(&hooks[patched[k].id].copy[patched[k].copy], NULL, __ATOMIC_RELEASE);
            patched[k--] = patched[--npatched];
        }
    rec_hook_forget(lo, hi);
#endif
    for (int i = 0; i < H_COUNT; i++) {
        for (int c = 0; c < NCOPY; c++)
            if (IN(hooks[i].copy[c]))
                __atomic_store_n(&hooks[i].copy[c], NULL, __ATOMIC_RELEASE);
        if (IN(hooks[i].next))
            __atomic_store_n(&hooks[i].next, NULL, __ATOMIC_RELEASE);
        if (IN(hooks[i].found))
            __atomic_store_n(&hooks[i].found, NULL, __ATOMIC_RELEASE);
    }
    if (IN(ctx_get_device))
        __atomic_store_n(&ctx_get_device, NULL, __ATOMIC_RELEASE);
#undef IN
}

struct scan { int index, changed; };

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct scan *sc = arg;
    int is_exe = sc->index++ == 0;
    if (is_exe && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        if (nobjs && info->dlpi_adds == last_adds && info->dlpi_subs == last_subs)
            return 1; /* nothing loaded or unloaded since the last scan */
        last_adds = info->dlpi_adds;
        last_subs = info->dlpi_subs;
    }
    sc->changed = 1;
    uint64_t nh = hash_str(info->dlpi_name);
    for (int i = 0; i < nobjs; i++)
        if (objs[i].base == info->dlpi_addr && objs[i].name_hash == nh) {
            objs[i].gen = gen;
            return 0;
        }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        lo = a < lo ? a : lo;
        hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
    }
    if (nobjs < MAX_OBJS)
        objs[nobjs++] = (struct obj){info->dlpi_addr, lo, hi, nh, gen};
    examine(info, is_exe, lo, hi);
    return 0;
}

void rec_cuda_scan(void)
{
    rec_tls.busy++;
    pthread_mutex_lock(&scan_lock);
    gen++;
    struct scan sc = {0, 0};
    dl_iterate_phdr(scan_cb, &sc);
    if (sc.changed) {
        int k = 0;
        for (int i = 0; i < nobjs; i++) {
            if (objs[i].gen == gen)
                objs[k++] = objs[i];
            else
                forget(objs[i].lo, objs[i].hi);
        }
        nobjs = k;
    }
    pthread_mutex_unlock(&scan_lock);
    rec_tls.busy--;
}

/* A fork while another thread scanned leaves the child's lock taken. */
static void atfork_child(void) { pthread_mutex_init(&scan_lock, NULL); }

void rec_cuda_init(void)
{
    rec_cuda_resolve_dlsym();
    pthread_atfork(NULL, NULL, atfork_child);
    rec_cuda_scan();
}
