/* Loads a plugin RTLD_LOCAL; the plugin links the (mock) shared libcudart,
 * which is therefore outside the global scope: the recorder's cudaMalloc
 * must find it from the caller rather than through RTLD_NEXT. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    int (*run)(void) = h ? (int (*)(void))dlsym(h, "plugin_run") : NULL;
    if (!run) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    return run();
}
