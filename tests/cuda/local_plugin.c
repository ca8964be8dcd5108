/* The plugin of local_main.c. */
#include <stdio.h>
#include <stdlib.h>

#include "mock_cuda.h"

const char *expect_tag = "";

__attribute__((visibility("default"))) int plugin_run(void)
{
    void *p;
    cudaError_t r = cudaMalloc(&p, 2000);
    CHECK(r == cudaSuccess);
    EXPECT_ALLOC("cuda-device", 0, 2000, r, p, 0);
    r = cudaFree(p);
    CHECK(r == cudaSuccess);
    EXPECT_FREE("cuda-device", 0, p, r);
    return 0;
}
