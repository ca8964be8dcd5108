/* A few known allocations: 3 mallocs (16, 32, 64 bytes), one calloc of
 * 10 x 100, one realloc growing the 64-byte block to 256, one 32-byte block
 * leaked, everything else freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void *make(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}

int main(void)
{
    void *a = make(16);
    void *leak = make(32);
    void *c = make(64);
    void *z = calloc(10, 100);
    c = realloc(c, 256);
    free(a);
    free(c);
    free(z);
    printf("basic: leaked one block at %p\n", leak);
    return 0;
}
