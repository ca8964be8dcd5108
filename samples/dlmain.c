/* Loads samples/dlib twice — first by path, then by bare name, found
 * through this program's RUNPATH ($ORIGIN) as dlopen does for its caller —
 * and each time allocates 50 blocks of 4247 bytes through it and unloads
 * it.  The blocks stay allocated: they must still symbolize after the
 * library is gone.  With "kill", it SIGKILLs itself after the second round
 * of allocations instead of unloading: the trace must still know the
 * library (the recorder writes a bare-name dlopen's objects when it sees a
 * dlsym, not at the dlopen, which it lets through untouched).
 *
 *   dlmain DIR [kill]     (DIR: where libdlib.so is) */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int round_trip(const char *name, int die)
{
    void *h = dlopen(name, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlmain: %s\n", dlerror());
        return 1;
    }
    void *(*alloc)(void) = (void *(*)(void))dlsym(h, "dlib_alloc");
    if (!alloc) {
        fprintf(stderr, "dlmain: %s\n", dlerror());
        return 1;
    }
    for (int i = 0; i < 50; i++)
        alloc();
    if (die)
        kill(getpid(), SIGKILL);
    if (dlclose(h)) {
        fprintf(stderr, "dlmain: %s\n", dlerror());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: dlmain DIR [kill]\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/libdlib.so", argv[1]);
    int die = argc > 2 && !strcmp(argv[2], "kill");
    if (round_trip(path, 0) || round_trip("libdlib.so", die))
        return 1;
    printf("dlmain: loaded and unloaded libdlib.so twice\n");
    return 0;
}
