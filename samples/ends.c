/* Allocates N blocks of 4242 bytes from one function, then ends one way:
 *
 *   ends MODE N [PIDFILE]
 *
 * MODE: return, exit, _exit, _Exit, abort, segv, exec, kill (SIGKILL to
 * itself), wait (writes its pid to PIDFILE and sleeps until killed from
 * outside).  Every block stays allocated, so a trace that lost nothing
 * holds exactly N allocations of 4242 bytes.
 *
 * Two more modes start 4 threads that allocate blocks of 4242 bytes without
 * end, each publishing in PIDFILE.count how many of its allocations have
 * returned (int64 0..3) and its thread id (int64 4..7): threads (writes PIDFILE once each thread has
 * allocated, then sleeps until killed from outside) and running (returns
 * from main, threads still allocating, once each has 1,000 blocks).  A
 * trace that lost nothing holds at least the published count for each
 * thread, and at most one more (the allocation under way at the end).
 * churn allocates and frees blocks on the main thread alone (count 0), and
 * is killed from outside once it has made N allocations: dozens of chunks,
 * some of them on their way to the trace when the process dies. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BLOCK 4242
#define THREADS 4

__attribute__((noinline)) static void *keep(void)
{
    void *p = malloc(BLOCK);
    if (p)
        memset(p, 7, 64);
    return p;
}

static void write_pid(const char *path)
{
    char tmp[4096], buf[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) || rename(tmp, path)) {
        perror(path);
        exit(1);
    }
}

/* Per-thread counts in a shared file mapping: they survive the SIGKILL. */
static volatile long *counts;

static void *spin(void *arg)
{
    long id = (long)arg;
    __atomic_store_n(&counts[THREADS + id], (long)gettid(), __ATOMIC_RELEASE);
    for (;;) {
        keep();
        __atomic_store_n(&counts[id], counts[id] + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ends MODE N [PIDFILE]\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    if (!strcmp(mode, "threads") || !strcmp(mode, "running") || !strcmp(mode, "churn")) {
        if (argc < 4)
            return 2;
        char path[4096];
        snprintf(path, sizeof path, "%s.count", argv[3]);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, 4096))
            return 1;
        counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (counts == MAP_FAILED)
            return 1;
        if (mode[0] == 'c') {
            /* alone on its thread, so that full chunks go to the compressor */
            __atomic_store_n(&counts[THREADS], (long)gettid(), __ATOMIC_RELEASE);
            for (;;) {
                void *p = keep();
                __atomic_store_n(&counts[0], counts[0] + 1, __ATOMIC_RELEASE);
                free(p);
                if (counts[0] == n)
                    write_pid(argv[3]);
            }
        }
        pthread_t t;
        for (long i = 0; i < THREADS; i++)
            pthread_create(&t, NULL, spin, (void *)i);
        long enough = mode[0] == 'r' ? 1000 : 1;
        for (long i = 0; i < THREADS; i++)
            while (__atomic_load_n(&counts[i], __ATOMIC_ACQUIRE) < enough)
                usleep(1000);
        if (mode[0] == 'r')
            return 0;
        write_pid(argv[3]);
        for (;;)
            pause();
    }
    for (long i = 0; i < n; i++)
        keep();
    if (!strcmp(mode, "return"))
        return 0;
    if (!strcmp(mode, "exit"))
        exit(3);
    if (!strcmp(mode, "_exit"))
        _exit(4);
    if (!strcmp(mode, "_Exit"))
        _Exit(5);
    if (!strcmp(mode, "abort"))
        abort();
    if (!strcmp(mode, "segv")) {
        *(volatile int *)(uintptr_t)argc = 0; /* address 3: not mapped */
        return 1;
    }
    if (!strcmp(mode, "exec")) {
        execl("/proc/self/exe", "ends", "return", "0", (char *)NULL);
        perror("exec");
        return 1;
    }
    if (!strcmp(mode, "kill")) {
        kill(getpid(), SIGKILL);
        return 1;
    }
    if (!strcmp(mode, "wait") && argc > 3) {
        write_pid(argv[3]);
        for (;;)
            pause();
    }
    fprintf(stderr, "ends: unknown mode '%s'\n", mode);
    return 2;
}
