/* Two builds of one program, for the CI gates (mallocan diff / check).
 *
 * Build A (the baseline) frees everything.  Build B (-DVARIANT_B) differs in
 * exactly four sites:
 *   grow_some()   allocates 40 blocks of 1 KiB instead of 20 (grown)
 *   leak_some()   frees 6 of its 10 blocks of 512 bytes (grown: 2 KiB leaked)
 *   new_cache()   one 8 KiB block, B only (new)
 *   old_scratch() three 128-byte blocks, A only (gone)
 * steady() (called twice from main) is the same in both.  B's lines are
 * shifted (#line) as an edit above them would do: sites must still match.
 * No stdio: its buffer would be a block live at the end. */
#include <stdlib.h>
#include <string.h>

#ifdef VARIANT_B
#line 1000
#define GROW_BLOCKS 40
#define LEAK_FREED 6
#else
#define GROW_BLOCKS 20
#define LEAK_FREED 10
#endif

#define NOINLINE __attribute__((noinline, noclone))

static void *volatile sink;

static NOINLINE void touch(void **p, int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        memset(p[i], i, size);
        sink = p[i];
    }
}

/* 50 blocks of 256 bytes, all live at once, then freed. */
static NOINLINE void steady(void)
{
    void *p[50];
    for (int i = 0; i < 50; i++)
        p[i] = malloc(256);
    touch(p, 50, 256);
    for (int i = 0; i < 50; i++)
        free(p[i]);
}

static NOINLINE void grow_some(void)
{
    void *p[GROW_BLOCKS];
    for (int i = 0; i < GROW_BLOCKS; i++)
        p[i] = malloc(1024);
    touch(p, GROW_BLOCKS, 1024);
    for (int i = 0; i < GROW_BLOCKS; i++)
        free(p[i]);
}

static NOINLINE void leak_some(void)
{
    void *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = malloc(512);
    touch(p, 10, 512);
    for (int i = 0; i < LEAK_FREED; i++)
        free(p[i]);
}

#ifdef VARIANT_B
static NOINLINE void new_cache(void)
{
    void *p = malloc(8192);
    touch(&p, 1, 8192);
    free(p);
}
#else
static NOINLINE void old_scratch(void)
{
    void *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = malloc(128);
    touch(p, 3, 128);
    for (int i = 0; i < 3; i++)
        free(p[i]);
}
#endif

int main(void)
{
    steady();
    grow_some();
    steady();
    leak_some();
#ifdef VARIANT_B
    new_cache();
#else
    old_scratch();
#endif
    sink = NULL;
    return 0;
}
