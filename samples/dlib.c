/* A library that samples/dlmain loads, uses and unloads twice.  Its
 * constructor allocates one block of 4248 bytes (kept: a leak inside a
 * library that is gone by the end); dlib_alloc allocates blocks of 4247. */
#include <stdlib.h>
#include <string.h>

static void *from_ctor;

__attribute__((constructor)) static void dlib_init(void)
{
    from_ctor = malloc(4248);
}

__attribute__((noinline)) void *dlib_alloc(void)
{
    void *p = malloc(4247);
    if (p)
        memset(p, 3, 16);
    return p;
}
