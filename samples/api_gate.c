/* api_gate: recording windows (mallocrec_start/stop, register/deregister)
 * and mallocrec_pause/resume.  Run it as `mallocrec run --start-paused`:
 * each allocation has its own size, and the program prints which sizes it
 * allocated with recording on ("inside") and which with it off ("outside"),
 * and how many of the recorded blocks it never frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocrec.h"

#define MAXB 32
static void *blocks[MAXB];
static size_t sizes[MAXB];
static int inside[MAXB];
static int nblocks;

/* recording is on exactly when `on` says; the program keeps its own books */
static void *take(size_t size, int on)
{
    void *p = malloc(size);
    memset(p, 1, size);
    blocks[nblocks] = p;
    sizes[nblocks] = size;
    inside[nblocks] = on;
    nblocks++;
    return p;
}

static void drop(void *p)
{
    for (int i = 0; i < nblocks; i++)
        if (blocks[i] == p)
            blocks[i] = NULL;
    free(p);
}

int main(void)
{
    take(1000, 0);                      /* before any window */
    uint64_t a = mallocrec_start();
    void *first = take(1001, 1);
    take(1001, 1);
    take(1001, 1);
    uint64_t b = mallocrec_start();     /* nested */
    take(1002, 1);
    uint64_t open_after_b = mallocrec_stop(b);
    take(1003, 1);                      /* a is still open */
    uint64_t open_after_a = mallocrec_stop(a);
    take(1004, 0);
    drop(first);                        /* a recorded block, freed while paused */
    mallocrec_stop(a);                  /* already closed: ignored */
    mallocrec_register();
    take(1005, 1);
    mallocrec_deregister();
    take(1006, 0);
    mallocrec_resume();
    take(1007, 1);
    void *kept = take(1007, 1);
    mallocrec_pause();
    take(1008, 0);
    mallocrec_resume();
    for (int i = 0; i < nblocks; i++)
        if (blocks[i] && blocks[i] != kept)
            drop(blocks[i]);

    printf("api_gate: windows open after stop(b)=%llu, after stop(a)=%llu, attached=%d\n",
           (unsigned long long)open_after_b, (unsigned long long)open_after_a, mallocrec_attached());
    for (size_t size = 1000; size <= 1008; size++) {
        int n = 0, on = 0, live = 0;
        for (int i = 0; i < nblocks; i++)
            if (sizes[i] == size) {
                n++;
                on = inside[i];
                live += blocks[i] != NULL;
            }
        printf("%s size=%zu count=%d live=%d\n", on ? "inside" : "outside", size, n, live);
    }
    return 0;
}
