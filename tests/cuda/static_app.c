/* A program with the CUDA runtime inside it, as nvcc links cudart by
 * default: the runtime (mock_cudart.c, compiled in with MOCK_RT_HIDDEN) is
 * neither exported nor reachable by symbol interposition.  Run as built,
 * its cudaMalloc is found in .symtab and patched (runtime-level records);
 * run stripped, only the driver it reaches through cuGetProcAddress sees
 * the calls (driver-level records: the sizes the runtime asked the driver
 * for).  Both views are printed. */
#include <stdio.h>
#include <stdlib.h>

#include "mock_cuda.h"

const char *expect_tag = "";

#define ROUND(n) (((n) + MOCK_ROUND - 1) / MOCK_ROUND * MOCK_ROUND)
#define BOTH_ALLOC(space, size, r, p, s)                                                                        \
    do {                                                                                                        \
        expect_tag = "[runtime]";                                                                               \
        EXPECT_ALLOC(space, 0, size, r, p, s);                                                                  \
        expect_tag = "[driver]";                                                                                \
        EXPECT_ALLOC(space, 0, ROUND(size), r, p, s);                                                           \
    } while (0)
#define BOTH_FREE(space, p, r)                                                                                  \
    do {                                                                                                        \
        expect_tag = "[runtime]";                                                                               \
        EXPECT_FREE(space, 0, p, r);                                                                            \
        expect_tag = "[driver]";                                                                                \
        EXPECT_FREE(space, 0, p, r);                                                                            \
    } while (0)

int main(void)
{
    void *d, *h, *m, *a, *bad = NULL;
    cudaError_t r = cudaMalloc(&d, 1000);
    BOTH_ALLOC("cuda-device", 1000, r, d, 0);
    r = cudaMallocHost(&h, 2000);
    BOTH_ALLOC("cuda-pinned", 2000, r, h, 0);
    r = cudaMallocManaged(&m, 3000, 1);
    BOTH_ALLOC("cuda-managed", 3000, r, m, 0);
    r = cudaMallocAsync(&a, 4000, (cudaStream_t)3);
    BOTH_ALLOC("cuda-async", 4000, r, a, 3);
    r = cudaMalloc(&bad, 1ull << 41);
    CHECK(r == cudaErrorMemoryAllocation);
    BOTH_ALLOC("cuda-device", 1ull << 41, r, bad, 0);
    r = cudaFree(d);
    BOTH_FREE("cuda-device", d, r);
    r = cudaFreeHost(h);
    BOTH_FREE("cuda-pinned", h, r);
    r = cudaFreeAsync(a, (cudaStream_t)3);
    BOTH_FREE("cuda-async", a, r);
    /* m leaks */
    return 0;
}
