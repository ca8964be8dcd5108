/* mock_cuda.h — the slice of the CUDA runtime and driver APIs that the mock
 * libraries (mock_cudart.c, mock_cuda.c) implement and the test programs
 * call, with the real ABI (names, argument types, error numbers), declared
 * here so the tests build without the CUDA toolkit. */
#ifndef MOCK_CUDA_H
#define MOCK_CUDA_H

#include <stddef.h>
#include <stdint.h>

typedef int CUresult;
typedef int cudaError_t;
typedef unsigned long long CUdeviceptr;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream, *cudaStream_t;
typedef struct CUmemPoolHandle_st *CUmemoryPool, *cudaMemPool_t;
typedef unsigned long long CUmemGenericAllocationHandle;
typedef struct CUmemAllocationProp_st {
    int type, requestedHandleTypes;
    struct { int type, id; } location;
    void *win32HandleMetaData;
    struct { unsigned char compressionType, gpuDirectRDMACapable; unsigned short usage; unsigned char reserved[4]; } allocFlags;
} CUmemAllocationProp;
struct cudaExtent { size_t width, height, depth; };
struct cudaPitchedPtr { void *ptr; size_t pitch, xsize, ysize; };

enum {
    CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2, CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NOT_FOUND = 500,
    cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorInsufficientDriver = 35,
};
enum { CU_GET_PROC_ADDRESS_DEFAULT = 0, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM = 2 };
enum { CU_GET_PROC_ADDRESS_SUCCESS = 0, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1 };
enum { CU_MEM_ALLOCATION_TYPE_PINNED = 1, CU_MEM_LOCATION_TYPE_DEVICE = 1 };

/* The mock driver's rules: allocations over MOCK_MAX_BYTES fail with
 * CUDA_ERROR_OUT_OF_MEMORY, freeing an unknown pointer fails with
 * CUDA_ERROR_INVALID_VALUE, pitches are multiples of MOCK_PITCH. */
#define MOCK_MAX_BYTES (1ull << 40)
#define MOCK_PITCH 512
/* The mock runtime's rules: it asks the driver for multiples of MOCK_ROUND
 * bytes, and allocates MOCK_RT_STATE bytes of host heap when it starts. */
#define MOCK_ROUND 256
#define MOCK_RT_STATE 4321

/* driver */
CUresult cuInit(unsigned flags);
CUresult cuCtxSetCurrent(CUcontext ctx);
CUresult cuCtxGetDevice(CUdevice *dev);
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, uint64_t flags);
CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, uint64_t flags, int *status);
CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize);
CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned elem);
CUresult cuMemAllocHost_v2(void **pp, size_t bytesize);
CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned flags);
CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned flags);
CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream stream);
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream);
CUresult cuMemFree_v2(CUdeviceptr dptr);
CUresult cuMemFreeHost(void *p);
CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream);
CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                     unsigned long long flags);
CUresult cuMemRelease(CUmemGenericAllocationHandle handle);
CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags);
CUresult cuMemUnmap(CUdeviceptr ptr, size_t size);

/* runtime */
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaMallocHost(void **p, size_t n);
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags);
cudaError_t cudaMallocManaged(void **p, size_t n, unsigned flags);
cudaError_t cudaMallocPitch(void **p, size_t *pitch, size_t width, size_t height);
cudaError_t cudaMalloc3D(struct cudaPitchedPtr *pp, struct cudaExtent extent);
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t stream);
cudaError_t cudaMallocAsync_ptsz(void **p, size_t n, cudaStream_t stream);
cudaError_t cudaMallocFromPoolAsync(void **p, size_t n, cudaMemPool_t pool, cudaStream_t stream);
cudaError_t cudaFree(void *p);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaFreeAsync(void *p, cudaStream_t stream);
cudaError_t cudaFreeAsync_ptsz(void *p, cudaStream_t stream);

/* What the test programs print for each call the recorder must record, in
 * the order made: the test compares these lines with `mallocan dump`.
 * expect_tag (defined by each program) names the layer a line is for when
 * a program prints two views. */
extern const char *expect_tag;
#define EXPECT_ALLOC(space, dev, size, res, ptr, stream)                                                      \
    printf("expect%s cuda_alloc space=%s device=%d ptr=0x%llx size=%llu result=%d stream=%llu\n", expect_tag,    \
           space, dev, (unsigned long long)((res) ? 0 : (uintptr_t)(ptr)), (unsigned long long)(size), (int)(res), \
           (unsigned long long)(uintptr_t)(stream))
#define EXPECT_FREE(space, dev, ptr, res)                                                                       \
    printf("expect%s cuda_free space=%s device=%d ptr=0x%llx result=%d\n", expect_tag, space, dev,               \
           (unsigned long long)(uintptr_t)(ptr), (int)(res))
#define CHECK(cond)                                                                                             \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "%s:%d: %s is false\n", __FILE__, __LINE__, #cond);                                 \
            exit(1);                                                                                            \
        }                                                                                                       \
    } while (0)

#endif
