/* Threads that allocate, and free each other's blocks: each of 4 threads
 * mallocs 1000 blocks of 48 bytes, hands them to the next thread, which
 * frees them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define BLOCKS 1000

static void *blocks[THREADS][BLOCKS];
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < BLOCKS; i++)
        blocks[id][i] = malloc(48);
    pthread_barrier_wait(&barrier);
    long prev = (id + THREADS - 1) % THREADS;
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[prev][i]);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("threads: %d threads x %d blocks of 48 bytes, freed across threads\n", THREADS, BLOCKS);
    return 0;
}
