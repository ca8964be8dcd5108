/* The runtime API through a shared libcudart (the mock): every allocating
 * call of the issue once, on two devices, with two failures of each kind,
 * each printed as the record the recorder must write. */
#include <stdio.h>
#include <stdlib.h>

#include "mock_cuda.h"

const char *expect_tag = "";

int main(void)
{
    void *d1, *h1, *h2, *m1, *pp, *a1, *a2, *a3, *d2, *bad = NULL;
    size_t pitch;
    struct cudaPitchedPtr p3;
    cudaError_t r;

    CHECK(cudaFree(NULL) == cudaSuccess); /* starts the runtime: no event */
    r = cudaMalloc(&d1, 1000);
    EXPECT_ALLOC("cuda-device", 0, 1000, r, d1, 0);
    r = cudaMallocHost(&h1, 2000);
    EXPECT_ALLOC("cuda-pinned", 0, 2000, r, h1, 0);
    r = cudaHostAlloc(&h2, 3000, 0);
    EXPECT_ALLOC("cuda-pinned", 0, 3000, r, h2, 0);
    r = cudaMallocManaged(&m1, 4000, 1);
    EXPECT_ALLOC("cuda-managed", 0, 4000, r, m1, 0);
    r = cudaMallocPitch(&pp, &pitch, 100, 10);
    CHECK(r == cudaSuccess && pitch == MOCK_PITCH);
    EXPECT_ALLOC("cuda-device", 0, pitch * 10, r, pp, 0);
    r = cudaMalloc3D(&p3, (struct cudaExtent){100, 4, 3});
    CHECK(r == cudaSuccess && p3.pitch == MOCK_PITCH && p3.xsize == 100 && p3.ysize == 4);
    EXPECT_ALLOC("cuda-device", 0, p3.pitch * 4 * 3, r, p3.ptr, 0);
    r = cudaMallocAsync(&a1, 7000, (cudaStream_t)5);
    EXPECT_ALLOC("cuda-async", 0, 7000, r, a1, 5);
    r = cudaMallocAsync_ptsz(&a3, 7500, (cudaStream_t)2);
    EXPECT_ALLOC("cuda-async", 0, 7500, r, a3, 2);
    r = cudaMallocFromPoolAsync(&a2, 8000, (cudaMemPool_t)0x77, (cudaStream_t)6);
    EXPECT_ALLOC("cuda-async", 0, 8000, r, a2, 6);
    CHECK(cudaSetDevice(1) == cudaSuccess);
    r = cudaMalloc(&d2, 9000);
    EXPECT_ALLOC("cuda-device", 1, 9000, r, d2, 0);
    r = cudaMalloc(&bad, 1ull << 41);
    CHECK(r == cudaErrorMemoryAllocation);
    EXPECT_ALLOC("cuda-device", 1, 1ull << 41, r, bad, 0);
    r = cudaMallocManaged(&bad, 100, 0); /* no attach flag: invalid */
    CHECK(r == cudaErrorInvalidValue);
    EXPECT_ALLOC("cuda-managed", 1, 100, r, bad, 0);

    void *ptrs[] = {d1, h1, h2, m1, pp, p3.ptr};
    const char *spaces[] = {"cuda-device", "cuda-pinned", "cuda-pinned", "cuda-device", "cuda-device", "cuda-device"};
    for (int i = 0; i < 6; i++) {
        r = spaces[i][5] == 'p' ? cudaFreeHost(ptrs[i]) : cudaFree(ptrs[i]);
        CHECK(r == cudaSuccess);
        EXPECT_FREE(spaces[i], 1, ptrs[i], r);
    }
    r = cudaFreeAsync(a1, (cudaStream_t)5);
    EXPECT_FREE("cuda-async", 1, a1, r);
    r = cudaFreeAsync_ptsz(a3, (cudaStream_t)2);
    EXPECT_FREE("cuda-async", 1, a3, r);
    r = cudaFreeAsync(a2, (cudaStream_t)6);
    EXPECT_FREE("cuda-async", 1, a2, r);
    r = cudaFree((void *)0xdead000);
    CHECK(r == cudaErrorInvalidValue);
    EXPECT_FREE("cuda-device", 1, 0xdead000, r);
    CHECK(cudaFree(NULL) == cudaSuccess);
    /* d2 stays allocated: a leak on device 1 */
    return 0;
}
