/* The driver API, linked against libcuda (the mock), reached four ways:
 * its exports by symbol, the entry points cuGetProcAddress and
 * cuGetProcAddress_v2 hand out, and dlsym on a handle of libcuda (which
 * symbol interposition never sees).  Each call the recorder must record is
 * printed as its record; the 32-bit cuMemAlloc of CUDA < 3.2, which it must
 * leave alone, is called too. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "mock_cuda.h"

const char *expect_tag = "";

typedef CUresult (*alloc_fn)(CUdeviceptr *, size_t);
typedef CUresult (*free_fn)(CUdeviceptr);

int main(void)
{
    CUdeviceptr d1, d2, m1, a1, a2, bad = 0;
    void *h1, *h2;
    size_t pitch;
    CUresult r;

    CHECK(cuInit(0) == CUDA_SUCCESS);
    CHECK(cuCtxSetCurrent((CUcontext)1) == CUDA_SUCCESS); /* device 0 */
    r = cuMemAlloc_v2(&d1, 1000);
    EXPECT_ALLOC("cuda-device", 0, 1000, r, d1, 0);
    r = cuMemAllocPitch_v2(&d2, &pitch, 100, 10, 4);
    CHECK(r == CUDA_SUCCESS && pitch == MOCK_PITCH);
    EXPECT_ALLOC("cuda-device", 0, pitch * 10, r, d2, 0);
    r = cuMemAllocHost_v2(&h1, 2000);
    EXPECT_ALLOC("cuda-pinned", 0, 2000, r, h1, 0);
    r = cuMemHostAlloc(&h2, 3000, 0);
    EXPECT_ALLOC("cuda-pinned", 0, 3000, r, h2, 0);
    r = cuMemAllocManaged(&m1, 4000, 1);
    EXPECT_ALLOC("cuda-managed", 0, 4000, r, m1, 0);
    r = cuMemAllocAsync(&a1, 5000, (CUstream)7);
    EXPECT_ALLOC("cuda-async", 0, 5000, r, a1, 7);
    r = cuMemAllocFromPoolAsync(&a2, 6000, (CUmemoryPool)0x99, (CUstream)8);
    EXPECT_ALLOC("cuda-async", 0, 6000, r, a2, 8);

    /* virtual memory: physical memory on device 1, mapped and unmapped
     * (which allocates nothing), released */
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {CU_MEM_LOCATION_TYPE_DEVICE, 1}};
    CUmemGenericAllocationHandle vh;
    r = cuMemCreate(&vh, 2u << 20, &prop, 0);
    EXPECT_ALLOC("cuda-vmm", 1, 2u << 20, r, vh, 0);
    CHECK(cuMemMap(0x7f0000000000ull, 2u << 20, 0, vh, 0) == CUDA_SUCCESS);
    CHECK(cuMemUnmap(0x7f0000000000ull, 2u << 20) == CUDA_SUCCESS);
    r = cuMemRelease(vh);
    EXPECT_FREE("cuda-vmm", 0, vh, r);

    r = cuMemAlloc_v2(&bad, 1ull << 41);
    CHECK(r == CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_ALLOC("cuda-device", 0, 1ull << 41, r, bad, 0);
    CUdeviceptr dptrs[] = {d1, d2, m1};
    for (int i = 0; i < 3; i++) {
        r = cuMemFree_v2(dptrs[i]);
        EXPECT_FREE("cuda-device", 0, dptrs[i], r);
    }
    r = cuMemFreeHost(h1);
    EXPECT_FREE("cuda-pinned", 0, h1, r);
    r = cuMemFreeHost(h2);
    EXPECT_FREE("cuda-pinned", 0, h2, r);
    r = cuMemFreeAsync(a1, (CUstream)7);
    EXPECT_FREE("cuda-async", 0, a1, r);
    r = cuMemFreeAsync(a2, (CUstream)8);
    EXPECT_FREE("cuda-async", 0, a2, r);
    r = cuMemFree_v2(0xdead0000);
    CHECK(r == CUDA_ERROR_INVALID_VALUE);
    EXPECT_FREE("cuda-device", 0, 0xdead0000, r);

    /* cuGetProcAddress (the 4-argument entry of CUDA 11.3) */
    alloc_fn alloc;
    free_fn dfree;
    CUdeviceptr p;
    CHECK(cuGetProcAddress("cuMemAlloc", (void **)&alloc, 3020, 0) == CUDA_SUCCESS);
    r = alloc(&p, 7000);
    EXPECT_ALLOC("cuda-device", 0, 7000, r, p, 0);
    /* cuGetProcAddress_v2, asked for itself, then for a per-thread-stream variant */
    CUresult (*gpa)(const char *, void **, int, uint64_t, int *);
    int st;
    CHECK(cuGetProcAddress_v2("cuGetProcAddress", (void **)&gpa, 12000, 0, &st) == CUDA_SUCCESS);
    CHECK(gpa("cuMemFree", (void **)&dfree, 12000, 0, &st) == CUDA_SUCCESS && st == 0);
    r = dfree(p);
    EXPECT_FREE("cuda-device", 0, p, r);
    CUresult (*alloc_async)(CUdeviceptr *, size_t, CUstream);
    CUresult (*free_async)(CUdeviceptr, CUstream);
    CHECK(gpa("cuMemAllocAsync", (void **)&alloc_async, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st) == 0);
    CHECK(gpa("cuMemFreeAsync", (void **)&free_async, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st) == 0);
    r = alloc_async(&p, 8000, (CUstream)2);
    EXPECT_ALLOC("cuda-async", 0, 8000, r, p, 2);
    r = free_async(p, (CUstream)2);
    EXPECT_FREE("cuda-async", 0, p, r);
    /* the 32-bit API: not a cuMemAlloc_v2, not recorded */
    CUresult (*alloc_v1)(unsigned *, unsigned);
    unsigned p32;
    CHECK(cuGetProcAddress("cuMemAlloc", (void **)&alloc_v1, 2000, 0) == CUDA_SUCCESS);
    CHECK(alloc_v1(&p32, 64) == CUDA_SUCCESS && p32 == 0x1000 + 64);

    /* dlsym on libcuda's own handle */
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL);
    *(void **)&alloc = dlsym(lib, "cuMemAlloc_v2");
    *(void **)&dfree = dlsym(lib, "cuMemFree_v2");
    CHECK(alloc && dfree);
    CHECK(cuCtxSetCurrent((CUcontext)2) == CUDA_SUCCESS); /* device 1 */
    r = alloc(&p, 9000);
    EXPECT_ALLOC("cuda-device", 1, 9000, r, p, 0);
    r = dfree(p);
    EXPECT_FREE("cuda-device", 1, p, r);
    *(void **)&gpa = dlsym(lib, "cuGetProcAddress_v2");
    CUresult (*host_alloc)(void **, size_t, unsigned);
    CHECK(gpa && gpa("cuMemHostAlloc", (void **)&host_alloc, 12000, 0, &st) == CUDA_SUCCESS);
    r = host_alloc(&h1, 10000, 0);
    EXPECT_ALLOC("cuda-pinned", 1, 10000, r, h1, 0);
    /* left allocated: a pinned leak */
    return 0;
}
