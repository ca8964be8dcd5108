/* rec_cuda.h — what the recorder's CUDA layer needs: the few CUDA runtime and
 * driver types it wraps (declared here, so the recorder builds without the
 * CUDA toolkit; tests/cuda/abi_check.c compares them with the toolkit's
 * headers where those exist), and the ELF symbol reader that finds CUDA
 * functions symbol interposition cannot reach. */
#ifndef REC_CUDA_H
#define REC_CUDA_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ CUDA ABI */

typedef unsigned int rc_result;          /* CUresult, cudaError_t (enums) */
typedef unsigned long long rc_devptr;    /* CUdeviceptr (the _v2 API's) */
typedef unsigned long long rc_memhandle; /* CUmemGenericAllocationHandle */
struct CUstream_st;
struct CUmemPoolHandle_st;
typedef struct CUstream_st *rc_stream;        /* CUstream, cudaStream_t */
typedef struct CUmemPoolHandle_st *rc_pool;   /* CUmemoryPool, cudaMemPool_t */

struct rc_extent { size_t width, height, depth; };                 /* cudaExtent */
struct rc_pitched_ptr { void *ptr; size_t pitch, xsize, ysize; };  /* cudaPitchedPtr */
struct rc_mem_prop {                                               /* CUmemAllocationProp */
    int type, requested_handle_types;
    struct { int type, id; } location;
    void *win32_handle_meta_data;
    unsigned char alloc_flags[8];
};
#define RC_LOCATION_DEVICE 1       /* CU_MEM_LOCATION_TYPE_DEVICE */
#define RC_PROC_FOUND 0            /* CU_GET_PROC_ADDRESS_SUCCESS */
#define RC_NOT_INITIALIZED 3       /* CUDA_ERROR_NOT_INITIALIZED = cudaErrorInitializationError */

/* ------------------------------------------------------------ ELF symbols */

struct rec_elf_want {
    const char *name;     /* in: a function name */
    uintptr_t addr;       /* out: its run-time address, 0 when absent */
    uint64_t size;        /* out: st_size (0 when unknown) */
    uint8_t exported;     /* out: defined in .dynsym with default visibility */
};

/** Looks the wanted function symbols up in a loaded object: its dynamic
 * symbol table in memory (exported definitions), then the .symtab of its
 * file at path (static ones), where a symbol counts only when its first
 * bytes in memory equal the file's: a file replaced since it was loaded, or
 * a function another tool has already patched, is never reported.
 * @param info  the object, from dl_iterate_phdr (load bias, segments)
 * @param path  its file, or NULL for none
 * @return the number found. */
__attribute__((visibility("hidden"))) int rec_elf_lookup(const char *path, const struct dl_phdr_info *info,
                                                         struct rec_elf_want *w, int nw);

#endif
