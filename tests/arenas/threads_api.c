/* The API from several threads at once: each thread opens region "worker",
 * labels and allocates ROUNDS blocks of one size, one of them alive at a
 * time, and marks its end; the main thread forks a child that does the
 * same once, so strings are defined again in the child's own trace.
 * usage: threads_api   (prints its figures) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mallocrec.h"

#define THREADS 4
#define ROUNDS 100
#define SIZE 777

static void *worker(void *arg)
{
    (void)arg;
    mallocrec_region_begin("worker");
    for (int i = 0; i < ROUNDS; i++) {
        mallocrec_label_next("w");
        free(malloc(SIZE));
    }
    mallocrec_region_end();
    mallocrec_mark("worker done");
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        worker(NULL);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("threads=%d rounds=%d size=%d child_rounds=%d\n", THREADS, ROUNDS, SIZE, ROUNDS);
    return 0;
}
