/* 1,000 short-lived threads, at most 8 alive at once.  Each allocates 10
 * blocks of 4243 bytes and hands them to main, which frees them after the
 * thread has exited; each also sets a thread-specific value whose
 * destructor, run as the thread exits (after the recorder's own), allocates
 * and frees one block of 4244 bytes.  Nothing of either size is left
 * allocated at the end. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 1000
#define BATCH 8
#define BLOCKS 10

static pthread_key_t key;

__attribute__((noinline)) static void *block(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 1, 16);
    return p;
}

static void at_thread_exit(void *arg)
{
    (void)arg;
    free(block(4244));
}

static void *worker(void *arg)
{
    void **out = arg;
    for (int i = 0; i < BLOCKS; i++)
        out[i] = block(4243);
    pthread_setspecific(key, out);
    return NULL;
}

int main(void)
{
    static void *blocks[BATCH][BLOCKS];
    pthread_key_create(&key, at_thread_exit);
    for (int done = 0; done < THREADS; done += BATCH) {
        pthread_t t[BATCH];
        for (int i = 0; i < BATCH; i++)
            if (pthread_create(&t[i], NULL, worker, blocks[i])) {
                perror("pthread_create");
                return 1;
            }
        for (int i = 0; i < BATCH; i++) {
            pthread_join(t[i], NULL);
            for (int k = 0; k < BLOCKS; k++)
                free(blocks[i][k]);
        }
    }
    printf("churn: %d threads\n", THREADS);
    return 0;
}
