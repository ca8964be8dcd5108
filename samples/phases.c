/* A heap history known to the byte: two threads, A and B, in four phases
 * separated by barriers, so the order of events across threads is fixed
 * where it matters.  The end-to-end test of `mallocan report` checks these
 * figures exactly; each allocating line carries a "@tag" the test finds.
 *
 * phase 1  A: 64 x malloc(4096)                 fill_a   64 allocs, 262144 B
 *          B: 32 x calloc(10, 100)              fill_b   32 allocs,  32000 B
 * phase 2  A frees B's 32 blocks, B frees A's 64 (cross-thread frees).
 *          A: malloc(16), then 12 x realloc doubling it up to 65536:
 *                                               chain_start  1 alloc,      16 B
 *                                               chain       12 reallocs, 131040 B
 *             (32 + 64 + ... + 65536 = 131040; 65536 stays live)
 *          A: 3 x malloc(777), never freed      leak_a    3 allocs,   2331 B
 *          B: posix_memalign(64, 256)           posix     1 alloc,     256 B
 *             aligned_alloc(128, 512)           aligned   1 alloc,     512 B
 *             memalign(256, 1024), never freed  memalign  1 alloc,    1024 B
 *             valloc(2048)                      valloc    1 alloc,    2048 B
 *             10 x (malloc(48); free)           temp_b   10 allocs,    480 B,
 *                                               10 temporaries
 * phase 3  A: malloc(1 MiB)                     big_a     1 alloc, 1048576 B
 *          B: 2 x malloc(300000)                big_b     2 allocs, 600000 B
 * phase 4  everything still live is freed, except leak_a's and memalign's.
 *
 * The peak of the program's own blocks is at the end of phase 3 (phases 1
 * and 2 never hold more than 294144 + 65536 + 2331 + 3840 + 48 bytes):
 *   chain 65536 + leak_a 2331 + posix 256 + aligned 512 + memalign 1024
 *   + valloc 2048 + big_a 1048576 + big_b 600000 = 1720283 bytes, 11 blocks,
 * and big_a holds the most of it.  Own bytes live at the peak per site:
 *   chain 65536, leak_a 2331, posix 256, aligned 512, memalign 1024,
 *   valloc 2048, big_a 1048576, big_b 600000; the others 0.
 * Leaks: 4 allocations, 3355 bytes: leak_a (3, 2331), memalign (1, 1024).
 * Temporaries (freed before the thread allocates again): temp_b's 10, and
 * in phase 4 each thread's last allocation: big_a 1, big_b 1 (the second
 * block).  Everything else is freed after a later allocation, by realloc,
 * or by the other thread.
 * The C library adds a few small blocks of its own (thread creation); the
 * program prints without stdio so that it adds none. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static pthread_barrier_t barrier;
static void *a_blocks[64], *b_blocks[32];

/* Each phase is its own function, so that each site has one stack. */
static NOINLINE void phase1_a(void)
{
    for (int i = 0; i < 64; i++)
        a_blocks[i] = malloc(4096); /* @fill_a */
}

static NOINLINE void phase1_b(void)
{
    for (int i = 0; i < 32; i++)
        b_blocks[i] = calloc(10, 100); /* @fill_b */
}

static NOINLINE void *phase2_chain(void)
{
    char *p = malloc(16); /* @chain_start */
    for (size_t n = 32; n <= 65536; n *= 2) {
        p = realloc(p, n); /* @chain */
        p[n - 1] = 1;
    }
    return p;
}

static void *leaked[3];
static NOINLINE void phase2_leak(void)
{
    for (int i = 0; i < 3; i++)
        leaked[i] = malloc(777); /* @leak_a */
}

struct aligned_set { void *posix, *aligned, *memalign, *valloc; };

static NOINLINE void phase2_aligned(struct aligned_set *s)
{
    if (posix_memalign(&s->posix, 64, 256)) /* @posix */
        s->posix = NULL;
    s->aligned = aligned_alloc(128, 512); /* @aligned */
    s->memalign = memalign(256, 1024); /* @memalign */
    s->valloc = valloc(2048); /* @valloc */
}

static NOINLINE void phase2_temporaries(void)
{
    for (int i = 0; i < 10; i++) {
        volatile char *p = malloc(48); /* @temp_b */
        p[0] = (char)i;
        free((void *)p);
    }
}

static NOINLINE void *phase3_a(void)
{
    char *p = malloc(1 << 20); /* @big_a */
    memset(p, 1, 1 << 20);
    return p;
}

static NOINLINE void phase3_b(void **out)
{
    for (int i = 0; i < 2; i++) {
        out[i] = malloc(300000); /* @big_b */
        memset(out[i], 2, 300000);
    }
}

static void *worker_a(void *arg)
{
    (void)arg;
    phase1_a();
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 32; i++)
        free(b_blocks[i]);
    void *chain = phase2_chain();
    phase2_leak();
    pthread_barrier_wait(&barrier);
    void *big = phase3_a();
    pthread_barrier_wait(&barrier);
    free(chain);
    free(big);
    return NULL;
}

static void *worker_b(void *arg)
{
    (void)arg;
    phase1_b();
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 64; i++)
        free(a_blocks[i]);
    struct aligned_set s;
    phase2_aligned(&s);
    phase2_temporaries();
    pthread_barrier_wait(&barrier);
    void *big[2];
    phase3_b(big);
    pthread_barrier_wait(&barrier);
    free(big[0]);
    free(big[1]);
    free(s.posix);
    free(s.aligned);
    free(s.valloc);
    return NULL;
}

int main(void)
{
    pthread_t a, b;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&a, NULL, worker_a, NULL);
    pthread_create(&b, NULL, worker_b, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&barrier);
    char line[160];
    int n = snprintf(line, sizeof line, "phases: own peak 1720283 bytes in 11 blocks; leaked 4 blocks, 3355 bytes\n");
    if (write(1, line, (size_t)n) < 0)
        return 1;
    return 0;
}
