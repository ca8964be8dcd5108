/* Call chains of several shapes for the unwinder test; built twice, with and
 * without frame pointers (NAME() gives each build its own symbols). */
#include <stdint.h>
#include <string.h>

typedef void (*probe_fn)(void *ctx);

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(x) CAT(x, VARIANT)

__attribute__((noinline)) static int NAME(leaf)(int depth, uint64_t seed, probe_fn probe, void *ctx);

/* Plain recursion, rsp-based frames when built without frame pointers. */
__attribute__((noinline)) static int NAME(plain)(int depth, uint64_t seed, probe_fn probe, void *ctx)
{
    int r = NAME(leaf)(depth - 1, seed * 6364136223846793005ull + 1, probe, ctx);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

/* A variable-length array: the frame keeps rbp as its CFA base. */
__attribute__((noinline)) static int NAME(vla)(int depth, uint64_t seed, probe_fn probe, void *ctx)
{
    size_t n = 16 + (seed >> 60);
    volatile char buf[n];
    buf[0] = (char)depth;
    int r = NAME(leaf)(depth - 1, seed * 6364136223846793005ull + 3, probe, ctx);
    __asm__ volatile("" ::: "memory");
    return r + buf[0];
}

/* Many callee-saved registers live across the call. */
__attribute__((noinline)) static int NAME(busy)(int depth, uint64_t seed, probe_fn probe, void *ctx)
{
    volatile uint64_t a = seed, b = seed ^ 1, c = seed ^ 2, d = seed ^ 3;
    uint64_t x = a * 3, y = b * 5, z = c * 7, w = d * 11;
    int r = NAME(leaf)(depth - 1, seed * 6364136223846793005ull + 5, probe, ctx);
    __asm__ volatile("" ::: "memory");
    return r + (int)((x ^ y ^ z ^ w) & 1);
}

static int NAME(leaf)(int depth, uint64_t seed, probe_fn probe, void *ctx)
{
    if (depth <= 0) {
        probe(ctx);
        return 0;
    }
    switch ((seed >> 33) % 3) {
    case 0: return NAME(plain)(depth, seed, probe, ctx);
    case 1: return NAME(vla)(depth, seed, probe, ctx);
    default: return NAME(busy)(depth, seed, probe, ctx);
    }
}

int NAME(work)(int depth, uint64_t seed, probe_fn probe, void *ctx)
{
    return NAME(leaf)(depth, seed, probe, ctx);
}
