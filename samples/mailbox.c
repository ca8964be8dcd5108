/* Blocks handed from one thread to another as fast as they can go, through
 * a lock-free one-slot mailbox: the producer allocates a block (every third
 * one it then grows with realloc) and posts it; the consumer takes it
 * (shrinks every fifth one with realloc) and frees it.  A block is often
 * freed within a fraction of a microsecond of its allocation, on another
 * core, and the consumer's frees come back to the producer's next mallocs:
 * the trace has cross-thread events closer together than the recorder's
 * clock unit (format/SPEC.md, 9.3).
 * usage: mailbox [blocks]
 * Prints the exact number of malloc, realloc and free calls the two threads
 * made (main's own allocations excluded). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define pause() __builtin_ia32_pause()
#else
#define pause() ((void)0)
#endif

/* Waiting for the other thread: spin, but let it run when it has no CPU of
 * its own (a busy machine). */
static void spin(unsigned *n)
{
    if (++*n % 1024)
        pause();
    else
        sched_yield();
}

static _Atomic(char *) slot;
static long blocks = 200000;
static long consumer_reallocs;

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < blocks; i++) {
        char *p;
        unsigned n = 0;
        while (!(p = atomic_exchange_explicit(&slot, NULL, memory_order_acquire)))
            spin(&n);
        if (i % 5 == 2) {
            char *q = realloc(p, 8);
            if (q)
                p = q;
            consumer_reallocs++;
        }
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        blocks = atol(argv[1]);
    long mallocs = 0, reallocs = 0;
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    for (long i = 0; i < blocks; i++) {
        size_t n = 16 + (size_t)(i % 7) * 24;
        char *p = malloc(n);
        mallocs++;
        if (i % 3 == 1) {
            char *q = realloc(p, n + 8);
            if (q)
                p = q;
            reallocs++;
        }
        p[0] = (char)i;
        unsigned w = 0;
        while (atomic_load_explicit(&slot, memory_order_relaxed))
            spin(&w);
        atomic_store_explicit(&slot, p, memory_order_release);
    }
    pthread_join(t, NULL);
    printf("mailbox: blocks=%ld malloc=%ld realloc=%ld free=%ld\n", blocks, mallocs, reallocs + consumer_reallocs,
           blocks);
    return 0;
}
