/* Allocates inside a dl_iterate_phdr callback (which holds the loader's
 * lock) while another thread dlopens LIB (a path) that main has loaded
 * already: the recorder then scans modules under its own lock, waiting for
 * the loader's.  The callback makes N allocations of 4249 bytes, enough to
 * fill the thread's first chunks, and frees each at once; prints N. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N 200000

static const char *lib;
static volatile int go;

static void *opener(void *arg)
{
    (void)arg;
    while (!go)
        ;
    dlopen(lib, RTLD_NOW); /* loaded already: the recorder scans at once */
    return NULL;
}

static int cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info, (void)size;
    if (*(int *)arg)
        return 1;
    *(int *)arg = 1;
    go = 1;
    usleep(300000); /* the opener is waiting for the loader by now */
    for (int i = 0; i < N; i++) {
        void *volatile p = malloc(4249);
        free(p);
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !dlopen(argv[1], RTLD_NOW))
        return 1;
    lib = argv[1];
    pthread_t t;
    if (pthread_create(&t, NULL, opener, NULL))
        return 1;
    int done = 0;
    dl_iterate_phdr(cb, &done);
    pthread_join(t, NULL);
    printf("%d\n", N);
    return 0;
}
