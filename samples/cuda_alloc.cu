// cuda_alloc: one allocation in each CUDA memory space, as a CUDA program
// makes them.  nvcc links the CUDA runtime into the program (statically) by
// default, where LD_PRELOAD cannot see it; mallocrec patches it in place.
//
//   nvcc -o cuda_alloc cuda_alloc.cu
//   mallocrec run -o cuda.mrz -- ./cuda_alloc
//   mallocan report cuda.mrz          # each CUDA space on its own
//
// Without a GPU (or a driver) every call fails, and each failure is still
// in the trace with its error code.  The table it prints lists every call:
// what mallocrec records for it.
#include <cstdio>
#include <cuda_runtime.h>

static int device()
{
    int d = 0;
    return cudaGetDevice(&d) == cudaSuccess ? d : 0;
}

static void row(const char *call, const char *space, size_t bytes, cudaError_t r, const void *p)
{
    std::printf("%-18s %-13s %-11zu %-4d %-4d %-18p %s\n", call, space, bytes, (int)r, device(),
                r == cudaSuccess ? p : nullptr, cudaGetErrorName(r));
}

int main()
{
    std::printf("%-18s %-13s %-11s %-4s %-4s %-18s %s\n", "call", "space", "bytes", "rc", "dev", "pointer", "error");
    void *dev = nullptr, *host = nullptr, *portable = nullptr, *managed = nullptr, *pitched = nullptr, *async = nullptr;
    size_t pitch = 0;
    cudaError_t r;

    r = cudaMalloc(&dev, 1 << 20);
    row("cudaMalloc", "cuda-device", 1 << 20, r, dev);
    if (r == cudaSuccess)
        cudaMemset(dev, 0, 1 << 20);
    r = cudaMallocHost(&host, 64 << 10);
    row("cudaMallocHost", "cuda-pinned", 64 << 10, r, host);
    r = cudaHostAlloc(&portable, 32 << 10, cudaHostAllocPortable);
    row("cudaHostAlloc", "cuda-pinned", 32 << 10, r, portable);
    r = cudaMallocManaged(&managed, 256 << 10);
    row("cudaMallocManaged", "cuda-managed", 256 << 10, r, managed);
    r = cudaMallocPitch(&pitched, &pitch, 1000, 100);
    row("cudaMallocPitch", "cuda-device", r == cudaSuccess ? pitch * 100 : 1000 * 100, r, pitched);
    r = cudaMallocAsync(&async, 512 << 10, 0);
    row("cudaMallocAsync", "cuda-async", 512 << 10, r, async);
    if (r == cudaSuccess)
        cudaStreamSynchronize(0);

    // Free what was allocated (nothing, without a driver).
    if (async) {
        r = cudaFreeAsync(async, 0);
        row("cudaFreeAsync", "cuda-async", 0, r, async);
        cudaStreamSynchronize(0);
    }
    void *device_blocks[] = {dev, managed, pitched};
    for (void *p : device_blocks)
        if (p) {
            r = cudaFree(p);
            row("cudaFree", "cuda-device", 0, r, p);
        }
    void *host_blocks[] = {host, portable};
    for (void *p : host_blocks)
        if (p) {
            r = cudaFreeHost(p);
            row("cudaFreeHost", "cuda-pinned", 0, r, p);
        }
    return 0;
}
