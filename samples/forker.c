/* A process tree with known counts per process:
 *
 *   forker MODE ENDS
 *
 * The parent allocates 100 blocks of 4242 bytes, then:
 *   fork     forks; the child allocates 200 blocks and execs ENDS, which
 *            allocates 300 ("ends return 300")
 *   vfork    vforks; the child execs ENDS (300)
 *   spawn    posix_spawn of ENDS (300)
 *   bareenv  posix_spawn of ENDS (300) with an environment of its own that
 *            lacks LD_PRELOAD and every MALLOCREC_ variable
 *   exec     execs ENDS (300) in place: same pid, second trace
 * and waits for its child.  ENDS is samples/ends. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

__attribute__((noinline)) static void *keep(void)
{
    void *p = malloc(4242);
    if (p)
        memset(p, 7, 64);
    return p;
}

static void allocate(int n)
{
    for (int i = 0; i < n; i++)
        keep();
}

static int wait_for(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) < 0) {
        perror("waitpid");
        return 1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "forker: child %d failed (status %#x)\n", (int)pid, st);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: forker fork|vfork|spawn|bareenv|exec ENDS\n");
        return 2;
    }
    const char *mode = argv[1], *ends = argv[2];
    char *child_argv[] = {(char *)"ends", (char *)"return", (char *)"300", NULL};
    allocate(100);
    pid_t pid;
    if (!strcmp(mode, "fork")) {
        pid = fork();
        if (pid == 0) {
            allocate(200);
            execv(ends, child_argv);
            _exit(127);
        }
    } else if (!strcmp(mode, "vfork")) {
        pid = vfork();
        if (pid == 0) {
            execv(ends, child_argv);
            _exit(127);
        }
    } else if (!strcmp(mode, "spawn") || !strcmp(mode, "bareenv")) {
        char *bare[] = {(char *)"PATH=/usr/bin:/bin", NULL};
        int e = posix_spawn(&pid, ends, NULL, NULL, child_argv, mode[0] == 'b' ? bare : environ);
        if (e) {
            fprintf(stderr, "forker: posix_spawn: %s\n", strerror(e));
            return 1;
        }
    } else if (!strcmp(mode, "exec")) {
        execv(ends, child_argv);
        perror("execv");
        return 1;
    } else {
        fprintf(stderr, "forker: unknown mode '%s'\n", mode);
        return 2;
    }
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    return wait_for(pid);
}
