/* New call stacks keep appearing as the program runs: every 2,000 steps the
 * recursion takes a new path (a new depth and a new mix of two functions),
 * so each chunk of the trace defines stack nodes that later chunks use.
 * Losing a chunk must not shift them. */
#include <stdlib.h>

static volatile int sink;

__attribute__((noinline)) static void *leaf(size_t n)
{
    void *p = malloc(n);
    sink += (int)n;
    return p;
}

static void *down(int depth, unsigned path, size_t n);

__attribute__((noinline)) static void *left(int depth, unsigned path, size_t n)
{
    void *p = down(depth, path, n);
    sink++; /* keeps the call from becoming a tail call */
    return p;
}

__attribute__((noinline)) static void *right(int depth, unsigned path, size_t n)
{
    void *p = down(depth, path, n);
    sink--;
    return p;
}

__attribute__((noinline)) static void *down(int depth, unsigned path, size_t n)
{
    if (!depth)
        return leaf(n);
    return path & 1 ? left(depth - 1, path >> 1, n) : right(depth - 1, path >> 1, n);
}

int main(void)
{
    for (int i = 0; i < 200000; i++) {
        unsigned phase = (unsigned)i / 2000;
        free(down((int)(phase % 24) + 1, phase * 2654435761u, 16 + (size_t)(i % 64)));
    }
    return 0;
}
