/* A mock CUDA driver, built as libcuda.so.1: enough of the driver API for
 * the recorder's tests, with host memory (mmap) standing in for the device.
 *
 * Like the real driver it exports the versioned entry points (cuMemAlloc_v2
 * ...) and hands out its own internal functions through cuGetProcAddress,
 * which are not the exported ones: a tool that only interposes exports does
 * not see what a runtime obtains that way. */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "mock_cuda.h"

#define EXPORT __attribute__((visibility("default")))
#define INTERNAL static __attribute__((noinline))

/* ------------------------------------------------------------ memory */

#define MAX_BLOCKS 256
static struct { uintptr_t p; size_t n; } blocks[MAX_BLOCKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int cur_dev = -1; /* current context's device; -1 none */
static uint64_t next_handle = 0x5000;

static CUresult get(uintptr_t *out, size_t n)
{
    if (!n)
        return CUDA_ERROR_INVALID_VALUE;
    if (n > MOCK_MAX_BYTES)
        return CUDA_ERROR_OUT_OF_MEMORY;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (!blocks[i].p) {
            blocks[i].p = (uintptr_t)p;
            blocks[i].n = n;
            pthread_mutex_unlock(&lock);
            *out = (uintptr_t)p;
            return CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&lock);
    munmap(p, n);
    return CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult put(uintptr_t p)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (p && blocks[i].p == p) {
            munmap((void *)p, blocks[i].n);
            blocks[i].p = 0;
            pthread_mutex_unlock(&lock);
            return CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&lock);
    return CUDA_ERROR_INVALID_VALUE;
}

/* ------------------------------------------------------------ internal implementations */

INTERNAL CUresult init_(unsigned flags) { return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }
INTERNAL CUresult ctx_set(CUcontext ctx)
{
    cur_dev = (int)(uintptr_t)ctx - 1;
    return CUDA_SUCCESS;
}
INTERNAL CUresult ctx_dev(CUdevice *dev)
{
    if (cur_dev < 0)
        return CUDA_ERROR_NOT_INITIALIZED;
    *dev = cur_dev;
    return CUDA_SUCCESS;
}
INTERNAL CUresult alloc_(CUdeviceptr *d, size_t n)
{
    uintptr_t p;
    CUresult r = get(&p, n);
    if (!r)
        *d = p;
    return r;
}
/* the 32-bit API of CUDA before 3.2: a 32-bit address */
INTERNAL CUresult alloc_v1(unsigned *d, unsigned n)
{
    if (!n)
        return CUDA_ERROR_INVALID_VALUE;
    *d = 0x1000u + n;
    return CUDA_SUCCESS;
}
INTERNAL CUresult alloc_pitch(CUdeviceptr *d, size_t *pitch, size_t w, size_t h, unsigned elem)
{
    (void)elem;
    size_t p = (w + MOCK_PITCH - 1) / MOCK_PITCH * MOCK_PITCH;
    CUresult r = alloc_(d, p * h);
    if (!r)
        *pitch = p;
    return r;
}
INTERNAL CUresult host_alloc(void **pp, size_t n, unsigned flags)
{
    (void)flags;
    uintptr_t p;
    CUresult r = get(&p, n);
    if (!r)
        *pp = (void *)p;
    return r;
}
INTERNAL CUresult alloc_host(void **pp, size_t n) { return host_alloc(pp, n, 0); }
INTERNAL CUresult alloc_managed(CUdeviceptr *d, size_t n, unsigned flags)
{
    return flags ? alloc_(d, n) : CUDA_ERROR_INVALID_VALUE;
}
INTERNAL CUresult alloc_async(CUdeviceptr *d, size_t n, CUstream s)
{
    (void)s;
    return alloc_(d, n);
}
INTERNAL CUresult alloc_async_ptsz(CUdeviceptr *d, size_t n, CUstream s) { return alloc_async(d, n, s); }
INTERNAL CUresult alloc_pool(CUdeviceptr *d, size_t n, CUmemoryPool pool, CUstream s)
{
    return pool ? alloc_async(d, n, s) : CUDA_ERROR_INVALID_VALUE;
}
INTERNAL CUresult alloc_pool_ptsz(CUdeviceptr *d, size_t n, CUmemoryPool pool, CUstream s)
{
    return alloc_pool(d, n, pool, s);
}
INTERNAL CUresult free_(CUdeviceptr d) { return put((uintptr_t)d); }
INTERNAL CUresult free_host(void *p) { return put((uintptr_t)p); }
INTERNAL CUresult free_async(CUdeviceptr d, CUstream s)
{
    (void)s;
    return put((uintptr_t)d);
}
INTERNAL CUresult free_async_ptsz(CUdeviceptr d, CUstream s) { return free_async(d, s); }
INTERNAL CUresult create(CUmemGenericAllocationHandle *h, size_t n, const CUmemAllocationProp *prop,
                         unsigned long long flags)
{
    if (!prop || flags || !n)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&lock);
    *h = next_handle++;
    pthread_mutex_unlock(&lock);
    return CUDA_SUCCESS;
}
INTERNAL CUresult release(CUmemGenericAllocationHandle h) { return h >= 0x5000 && h < next_handle ? 0 : 1; }
INTERNAL CUresult map_(CUdeviceptr p, size_t n, size_t off, CUmemGenericAllocationHandle h, unsigned long long f)
{
    return p && n && !off && h && !f ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
INTERNAL CUresult unmap_(CUdeviceptr p, size_t n) { return p && n ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }

/* ------------------------------------------------------------ exports */

EXPORT CUresult cuInit(unsigned flags) { return init_(flags); }
EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) { return ctx_set(ctx); }
EXPORT CUresult cuCtxGetDevice(CUdevice *dev) { return ctx_dev(dev); }
EXPORT CUresult cuMemAlloc(unsigned *d, unsigned n) { return alloc_v1(d, n); }
EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *d, size_t n) { return alloc_(d, n); }
EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *d, size_t *pitch, size_t w, size_t h, unsigned e)
{
    return alloc_pitch(d, pitch, w, h, e);
}
EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t n) { return alloc_host(pp, n); }
EXPORT CUresult cuMemHostAlloc(void **pp, size_t n, unsigned f) { return host_alloc(pp, n, f); }
EXPORT CUresult cuMemAllocManaged(CUdeviceptr *d, size_t n, unsigned f) { return alloc_managed(d, n, f); }
EXPORT CUresult cuMemAllocAsync(CUdeviceptr *d, size_t n, CUstream s) { return alloc_async(d, n, s); }
EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *d, size_t n, CUstream s) { return alloc_async_ptsz(d, n, s); }
EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *d, size_t n, CUmemoryPool pool, CUstream s)
{
    return alloc_pool(d, n, pool, s);
}
EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *d, size_t n, CUmemoryPool pool, CUstream s)
{
    return alloc_pool_ptsz(d, n, pool, s);
}
EXPORT CUresult cuMemFree_v2(CUdeviceptr d) { return free_(d); }
EXPORT CUresult cuMemFreeHost(void *p) { return free_host(p); }
EXPORT CUresult cuMemFreeAsync(CUdeviceptr d, CUstream s) { return free_async(d, s); }
EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr d, CUstream s) { return free_async_ptsz(d, s); }
EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t n, const CUmemAllocationProp *prop,
                            unsigned long long f)
{
    return create(h, n, prop, f);
}
EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h) { return release(h); }
EXPORT CUresult cuMemMap(CUdeviceptr p, size_t n, size_t off, CUmemGenericAllocationHandle h, unsigned long long f)
{
    return map_(p, n, off, h, f);
}
EXPORT CUresult cuMemUnmap(CUdeviceptr p, size_t n) { return unmap_(p, n); }

/* ------------------------------------------------------------ cuGetProcAddress */

struct proc { const char *name; int min_ver, max_ver, ptds; void *fn; };

static CUresult lookup(const char *sym, void **pfn, int ver, uint64_t flags, int *status);

EXPORT CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, uint64_t flags, int *status)
{
    return lookup(sym, pfn, ver, flags, status);
}

EXPORT CUresult cuGetProcAddress(const char *sym, void **pfn, int ver, uint64_t flags)
{
    return lookup(sym, pfn, ver, flags, NULL);
}

/* Names without ABI suffix; the version picks the ABI, the per-thread
 * default stream flag the _ptsz variants. */
static const struct proc procs[] = {
    {"cuInit", 2000, 0, 0, (void *)init_},
    {"cuCtxSetCurrent", 4000, 0, 0, (void *)ctx_set},
    {"cuCtxGetDevice", 2000, 0, 0, (void *)ctx_dev},
    {"cuMemAlloc", 2000, 3019, 0, (void *)alloc_v1},
    {"cuMemAlloc", 3020, 0, 0, (void *)alloc_},
    {"cuMemAllocPitch", 3020, 0, 0, (void *)alloc_pitch},
    {"cuMemAllocHost", 3020, 0, 0, (void *)alloc_host},
    {"cuMemHostAlloc", 2020, 0, 0, (void *)host_alloc},
    {"cuMemAllocManaged", 6000, 0, 0, (void *)alloc_managed},
    {"cuMemAllocAsync", 11020, 0, 0, (void *)alloc_async},
    {"cuMemAllocAsync", 11020, 0, 1, (void *)alloc_async_ptsz},
    {"cuMemAllocFromPoolAsync", 11020, 0, 0, (void *)alloc_pool},
    {"cuMemAllocFromPoolAsync", 11020, 0, 1, (void *)alloc_pool_ptsz},
    {"cuMemFree", 3020, 0, 0, (void *)free_},
    {"cuMemFreeHost", 2000, 0, 0, (void *)free_host},
    {"cuMemFreeAsync", 11020, 0, 0, (void *)free_async},
    {"cuMemFreeAsync", 11020, 0, 1, (void *)free_async_ptsz},
    {"cuMemCreate", 10020, 0, 0, (void *)create},
    {"cuMemRelease", 10020, 0, 0, (void *)release},
    {"cuMemMap", 10020, 0, 0, (void *)map_},
    {"cuMemUnmap", 10020, 0, 0, (void *)unmap_},
    {"cuGetProcAddress", 11030, 11999, 0, (void *)cuGetProcAddress},
    {"cuGetProcAddress", 12000, 0, 0, (void *)cuGetProcAddress_v2},
};

static CUresult lookup(const char *sym, void **pfn, int ver, uint64_t flags, int *status)
{
    int ptds = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    int has_ptds = 0;
    for (size_t i = 0; i < sizeof procs / sizeof *procs; i++)
        has_ptds |= sym && !strcmp(sym, procs[i].name) && procs[i].ptds;
    for (size_t i = 0; sym && i < sizeof procs / sizeof *procs; i++) {
        const struct proc *p = &procs[i];
        if (strcmp(sym, p->name) || ver < p->min_ver || (p->max_ver && ver > p->max_ver) ||
            (has_ptds && p->ptds != ptds))
            continue;
        *pfn = p->fn;
        if (status)
            *status = CU_GET_PROC_ADDRESS_SUCCESS;
        return CUDA_SUCCESS;
    }
    *pfn = NULL;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_ERROR_NOT_FOUND;
}
