/* Compiled (never run) against the CUDA toolkit's headers: the types and
 * prototypes recorder/rec_cuda.h declares for itself must be the toolkit's. */
#include <stddef.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "rec_cuda.h"

#define SAME(a, b) _Static_assert(__builtin_types_compatible_p(a, b), #a " is not " #b)
#define SAME_FN(fn, ...) SAME(__typeof__(&fn), rc_result (*)(__VA_ARGS__))

SAME(CUresult, rc_result);
SAME(cudaError_t, rc_result);
SAME(CUdeviceptr, rc_devptr);
SAME(CUmemGenericAllocationHandle, rc_memhandle);
SAME(CUstream, rc_stream);
SAME(cudaStream_t, rc_stream);
SAME(CUmemoryPool, rc_pool);
SAME(cudaMemPool_t, rc_pool);
_Static_assert(sizeof(struct rc_extent) == sizeof(struct cudaExtent) &&
                   offsetof(struct rc_extent, height) == offsetof(struct cudaExtent, height) &&
                   offsetof(struct rc_extent, depth) == offsetof(struct cudaExtent, depth),
               "cudaExtent");
_Static_assert(sizeof(struct rc_pitched_ptr) == sizeof(struct cudaPitchedPtr) &&
                   offsetof(struct rc_pitched_ptr, pitch) == offsetof(struct cudaPitchedPtr, pitch),
               "cudaPitchedPtr");
_Static_assert(sizeof(struct rc_mem_prop) == sizeof(CUmemAllocationProp) &&
                   offsetof(struct rc_mem_prop, location.type) == offsetof(CUmemAllocationProp, location.type) &&
                   offsetof(struct rc_mem_prop, location.id) == offsetof(CUmemAllocationProp, location.id),
               "CUmemAllocationProp");
_Static_assert(RC_LOCATION_DEVICE == CU_MEM_LOCATION_TYPE_DEVICE, "location type");
_Static_assert(RC_PROC_FOUND == CU_GET_PROC_ADDRESS_SUCCESS, "proc status");
_Static_assert(RC_NOT_INITIALIZED == CUDA_ERROR_NOT_INITIALIZED &&
                   RC_NOT_INITIALIZED == cudaErrorInitializationError, "not initialized");

SAME_FN(cudaMalloc, void **, size_t);
SAME_FN(cudaMallocHost, void **, size_t);
SAME_FN(cudaHostAlloc, void **, size_t, unsigned);
SAME_FN(cudaMallocManaged, void **, size_t, unsigned);
SAME_FN(cudaMallocPitch, void **, size_t *, size_t, size_t);
SAME_FN(cudaMallocAsync, void **, size_t, rc_stream);
SAME_FN(cudaMallocFromPoolAsync, void **, size_t, rc_pool, rc_stream);
SAME_FN(cudaFree, void *);
SAME_FN(cudaFreeHost, void *);
SAME_FN(cudaFreeAsync, void *, rc_stream);
SAME_FN(cuMemAlloc_v2, rc_devptr *, size_t);
SAME_FN(cuMemAllocPitch_v2, rc_devptr *, size_t *, size_t, size_t, unsigned);
SAME_FN(cuMemAllocHost_v2, void **, size_t);
SAME_FN(cuMemHostAlloc, void **, size_t, unsigned);
SAME_FN(cuMemAllocManaged, rc_devptr *, size_t, unsigned);
SAME_FN(cuMemAllocAsync, rc_devptr *, size_t, rc_stream);
SAME_FN(cuMemAllocFromPoolAsync, rc_devptr *, size_t, rc_pool, rc_stream);
SAME_FN(cuMemFree_v2, rc_devptr);
SAME_FN(cuMemFreeHost, void *);
SAME_FN(cuMemFreeAsync, rc_devptr, rc_stream);
SAME_FN(cuMemRelease, rc_memhandle);
SAME_FN(cuGetProcAddress_v2, const char *, void **, int, uint64_t, unsigned *);
SAME_FN(cuCtxGetDevice, int *);
/* by-value and pointer-to-struct parameters: the layouts are checked above */
SAME(__typeof__(&cudaMalloc3D), cudaError_t (*)(struct cudaPitchedPtr *, struct cudaExtent));
SAME(__typeof__(&cuMemCreate), CUresult (*)(rc_memhandle *, size_t, const CUmemAllocationProp *, unsigned long long));
