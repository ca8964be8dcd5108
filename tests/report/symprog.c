/* The symbolizer's C test program: each capture() call below is marked
 * with its tag, and sym_test expects that tag's return address to resolve
 * to the marked line (see symprog.h for what it prints). */
#include "symprog.h"

static inline __attribute__((always_inline)) int inner_inline(int x)
{
    return capture("inlined", x) + 2; /* @inlined */
}

static inline __attribute__((always_inline)) int helper_inline(int x)
{
    int r = inner_inline(x); /* @inline_mid */
    return r + 1;
}

__attribute__((noinline)) int outer_fn(int x)
{
    int r = helper_inline(x) * 2; /* @inline_site */
    return r;
}

/* A C function under a C++ (Itanium) name, so demangling is tested with a
 * C compiler alone. */
__attribute__((noinline)) int scale(int x) __asm__("_ZN5shape5scaleEi");
__attribute__((noinline)) int scale(int x)
{
    return capture("mangled", x) * 3; /* @mangled */
}

int main(void)
{
    int v = capture("direct", 1); /* @direct */
    v += outer_fn(v);
    v += scale(v);
    print_report();
    return v == 12345;
}
