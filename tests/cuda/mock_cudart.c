/* A mock CUDA runtime.  Built as a shared libcudart.so, and compiled into
 * test programs with MOCK_RT_HIDDEN, where — like nvcc's default static
 * cudart — its functions are neither exported nor reachable by symbol
 * interposition.
 *
 * It reaches the driver the way the real runtime does: dlopen of
 * libcuda.so.1, dlsym of cuGetProcAddress_v2 on that handle, then every
 * entry point through cuGetProcAddress (the per-thread-default-stream
 * variants with their flag).  It asks the driver for whole MOCK_ROUND
 * units, so a test can tell a runtime-level record (the size asked of the
 * runtime) from a driver-level one, and on first use it allocates
 * MOCK_RT_STATE bytes of host heap, which the recorder must see. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "mock_cuda.h"

#ifdef MOCK_RT_HIDDEN
#define RT_API __attribute__((visibility("hidden")))
#else
#define RT_API __attribute__((visibility("default")))
#endif

#define ROUND(n) (((n) + MOCK_ROUND - 1) / MOCK_ROUND * MOCK_ROUND)

static struct {
    CUresult (*ctx_set)(CUcontext);
    CUresult (*alloc)(CUdeviceptr *, size_t);
    CUresult (*alloc_pitch)(CUdeviceptr *, size_t *, size_t, size_t, unsigned);
    CUresult (*host_alloc)(void **, size_t, unsigned);
    CUresult (*alloc_managed)(CUdeviceptr *, size_t, unsigned);
    CUresult (*alloc_async[2])(CUdeviceptr *, size_t, CUstream);
    CUresult (*alloc_pool[2])(CUdeviceptr *, size_t, CUmemoryPool, CUstream);
    CUresult (*free)(CUdeviceptr);
    CUresult (*free_host)(void *);
    CUresult (*free_async[2])(CUdeviceptr, CUstream);
} drv;
static cudaError_t init_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;
void *mock_rt_state; /* kept, so the allocation is made */

static void load(void)
{
    mock_rt_state = malloc(MOCK_RT_STATE);
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    CUresult (*gpa)(const char *, void **, int, uint64_t, int *) = NULL;
    if (h)
        *(void **)&gpa = dlsym(h, "cuGetProcAddress_v2");
    int st;
    /* the runtime keeps using the cuGetProcAddress the driver hands it */
    if (!gpa || gpa("cuGetProcAddress", (void **)&gpa, 12000, 0, &st)) {
        init_error = cudaErrorInsufficientDriver;
        return;
    }
#define GET(field, name, ver, flags) init_error |= gpa(name, (void **)&drv.field, ver, flags, &st)
    GET(ctx_set, "cuCtxSetCurrent", 4000, 0);
    GET(alloc, "cuMemAlloc", 3020, 0);
    GET(alloc_pitch, "cuMemAllocPitch", 3020, 0);
    GET(host_alloc, "cuMemHostAlloc", 2020, 0);
    GET(alloc_managed, "cuMemAllocManaged", 6000, 0);
    GET(alloc_async[0], "cuMemAllocAsync", 11020, 0);
    GET(alloc_async[1], "cuMemAllocAsync", 11020, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(alloc_pool[0], "cuMemAllocFromPoolAsync", 11020, 0);
    GET(alloc_pool[1], "cuMemAllocFromPoolAsync", 11020, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    GET(free, "cuMemFree", 3020, 0);
    GET(free_host, "cuMemFreeHost", 2000, 0);
    GET(free_async[0], "cuMemFreeAsync", 11020, 0);
    GET(free_async[1], "cuMemFreeAsync", 11020, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    if (init_error)
        init_error = cudaErrorInsufficientDriver;
    else
        drv.ctx_set((CUcontext)1); /* device 0 */
}

#define READY()                                                                                                \
    do {                                                                                                       \
        pthread_once(&once, load);                                                                             \
        if (init_error)                                                                                        \
            return init_error;                                                                                 \
    } while (0)

RT_API cudaError_t cudaSetDevice(int dev)
{
    READY();
    return dev < 0 ? cudaErrorInvalidValue : drv.ctx_set((CUcontext)(uintptr_t)(dev + 1));
}

RT_API cudaError_t cudaMalloc(void **p, size_t n)
{
    READY();
    return drv.alloc((CUdeviceptr *)p, ROUND(n));
}

RT_API cudaError_t cudaMallocHost(void **p, size_t n)
{
    READY();
    return drv.host_alloc(p, ROUND(n), 0);
}

RT_API cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags)
{
    READY();
    return drv.host_alloc(p, ROUND(n), flags);
}

RT_API cudaError_t cudaMallocManaged(void **p, size_t n, unsigned flags)
{
    READY();
    return drv.alloc_managed((CUdeviceptr *)p, ROUND(n), flags);
}

RT_API cudaError_t cudaMallocPitch(void **p, size_t *pitch, size_t width, size_t height)
{
    READY();
    return drv.alloc_pitch((CUdeviceptr *)p, pitch, width, height, 4);
}

RT_API cudaError_t cudaMalloc3D(struct cudaPitchedPtr *pp, struct cudaExtent e)
{
    READY();
    size_t pitch;
    CUdeviceptr d;
    cudaError_t r = drv.alloc_pitch(&d, &pitch, e.width, e.height * e.depth, 4);
    if (!r)
        *pp = (struct cudaPitchedPtr){(void *)(uintptr_t)d, pitch, e.width, e.height};
    return r;
}

RT_API cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s)
{
    READY();
    return drv.alloc_async[0]((CUdeviceptr *)p, ROUND(n), s);
}

RT_API cudaError_t cudaMallocAsync_ptsz(void **p, size_t n, cudaStream_t s)
{
    READY();
    return drv.alloc_async[1]((CUdeviceptr *)p, ROUND(n), s);
}

RT_API cudaError_t cudaMallocFromPoolAsync(void **p, size_t n, cudaMemPool_t pool, cudaStream_t s)
{
    READY();
    return drv.alloc_pool[0]((CUdeviceptr *)p, ROUND(n), pool, s);
}

/* cudaFree(0) only starts the runtime. */
RT_API cudaError_t cudaFree(void *p)
{
    READY();
    return p ? drv.free((CUdeviceptr)(uintptr_t)p) : cudaSuccess;
}

RT_API cudaError_t cudaFreeHost(void *p)
{
    READY();
    return drv.free_host(p);
}

RT_API cudaError_t cudaFreeAsync(void *p, cudaStream_t s)
{
    READY();
    return drv.free_async[0]((CUdeviceptr)(uintptr_t)p, s);
}

RT_API cudaError_t cudaFreeAsync_ptsz(void *p, cudaStream_t s)
{
    READY();
    return drv.free_async[1]((CUdeviceptr)(uintptr_t)p, s);
}
