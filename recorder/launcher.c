/* mallocrec: runs a program with libmallocrec.so preloaded, waits for it,
 * completes the traces its process tree could not finish, and says what
 * was written. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../format/common/options.h"
#include "../format/mrz.h"

#ifndef MALLOCREC_VERSION
#define MALLOCREC_VERSION "0"
#endif
#ifndef MALLOCREC_LIBDIR
#define MALLOCREC_LIBDIR "/usr/local/lib"
#endif

static const char *prog = "mallocrec";

static void usage(FILE *f)
{
    fprintf(f, "usage: %s run [options] [--] PROGRAM [ARGS...]\n"
               "       %s --help | --version\n\n"
               "Records every malloc-family call of PROGRAM (and of the processes it\n"
               "forks and execs) into one .mrz trace per process; see mallocan(1).\n\n"
               "options:\n",
            prog, prog);
    for (int i = 0; i < mr_noptions; i++) {
        const struct mr_option *o = &mr_options[i];
        char left[64];
        if (o->short_flag)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_flag, o->flag, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        mr_help_line(f, 26, left, o->help, NULL);
    }
    mr_help_line(f, 26, "-q, --quiet", "print nothing at the end", NULL);
    mr_help_line(f, 26, "-h, --help", "show this help", NULL);
    fprintf(f, "\nThe exit status is PROGRAM's (128+N when it died of signal N, 127 when it\n"
               "cannot be found).\n");
}

/* The preload library: next to this executable (build tree), or installed. */
static int find_library(char *out, size_t cap)
{
    const char *env = getenv("MALLOCREC_LIB");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK);
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, cap, "%s/libmallocrec.so", self);
            if (!access(out, R_OK))
                return 0;
        }
    }
    snprintf(out, cap, "%s/libmallocrec.so", MALLOCREC_LIBDIR);
    return access(out, R_OK);
}

/* The recorder cannot report a failed open: check the template's folder
 * here, so a typo in -o is one clear line instead of a missing trace. */
static int check_output_dir(const char *tpl)
{
    if (!tpl || !*tpl)
        return 0;
    const char *slash = strrchr(tpl, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == tpl ? 1 : (int)(slash - tpl), tpl);
    if (strchr(dir, '%'))
        return 0; /* expanded per process */
    struct stat st;
    int e = 0;
    if (stat(dir, &st) < 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) < 0)
        e = errno;
    if (e)
        fprintf(stderr, "%s: %s: cannot write traces there: %s\n", prog, dir, strerror(e));
    return e ? -1 : 0;
}

struct tally { uint64_t allocs, frees, events, threads, bytes; int salvaged; };

static int tally_trace(const char *path, struct tally *t)
{
    memset(t, 0, sizeof *t);
    struct mrz_reader *r;
    int e = mrz_reader_open(path, &r);
    if (e)
        return e;
    struct mrz_census c;
    e = mrz_reader_census(r, &c);
    t->allocs = c.allocs;
    t->frees = c.frees;
    t->events = c.allocs + c.frees + c.realloc_frees + c.cuda_allocs + c.cuda_frees;
    t->threads = c.threads;
    t->salvaged = c.salvaged;
    t->bytes = mrz_reader_file_size(r);
    mrz_reader_close(r);
    return e < 0 ? e : 0;
}

/* ------------------------------------------------------------ the session */

/* How a process of the tree ended, when we were the one to reap it. */
struct ended { pid_t pid; int status; };

/* The program, and the orphans of its tree that were handed to us (we are
 * their subreaper) and have ended by now.  Running ones are not waited for:
 * their traces are completed by whoever reads them once they end. */
static size_t reap_orphans(pid_t child, int child_status, struct ended **out)
{
    size_t n = 1, cap = 16;
    struct ended *e = malloc(cap * sizeof *e);
    if (!e)
        return 0;
    e[0] = (struct ended){child, child_status};
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (n == cap) {
            struct ended *ne = realloc(e, (cap *= 2) * sizeof *e);
            if (!ne)
                break;
            e = ne;
        }
        e[n++] = (struct ended){pid, st};
    }
    *out = e;
    return n;
}

struct trace_line { unsigned pid; char *path; };

/* The session file: one "pid<TAB>path" line per trace, in creation order. */
static size_t read_session(const char *session, struct trace_line **out)
{
    FILE *f = fopen(session, "r");
    size_t n = 0, cap = 0;
    struct trace_line *t = NULL;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (f && (len = getline(&line, &lcap, f)) > 0) {
        char *tab = strchr(line, '\t');
        if (!tab || line[len - 1] != '\n')
            continue; /* a line cut short by a death */
        line[len - 1] = 0;
        if (n == cap) {
            struct trace_line *nt = realloc(t, (cap = cap ? cap * 2 : 64) * sizeof *t);
            if (!nt)
                break;
            t = nt;
        }
        t[n].pid = (unsigned)strtoul(line, NULL, 10);
        if ((t[n].path = strdup(tab + 1)))
            n++;
    }
    free(line);
    if (f)
        fclose(f);
    *out = t;
    return n;
}

/* Completes every trace of the tree whose process has ended and lists them.
 * @return the number of traces. */
static size_t finish_session(const char *session, const struct ended *ended, size_t nended, int quiet)
{
    struct trace_line *t;
    size_t n = read_session(session, &t);
    for (size_t i = 0; i < n; i++) {
        /* a wait status belongs to the last image its pid ran */
        int last = 1;
        for (size_t j = i + 1; j < n && last; j++)
            last = t[j].pid != t[i].pid;
        int how = MRZ_END_UNKNOWN, val = 0;
        for (size_t k = 0; last && k < nended; k++) {
            if ((unsigned)ended[k].pid != t[i].pid)
                continue;
            if (WIFSIGNALED(ended[k].status))
                how = MRZ_END_SIGNAL, val = WTERMSIG(ended[k].status);
            else if (WIFEXITED(ended[k].status))
                how = MRZ_END_EXIT, val = WEXITSTATUS(ended[k].status);
        }
        int e = mrz_salvage(t[i].path, how, val);
        if (e == MRZ_EBUSY) {
            if (!quiet)
                fprintf(stderr, "%s: %s: process %u is still running; reading the trace once it has ended "
                                "completes it\n", prog, t[i].path, t[i].pid);
            continue;
        }
        if (e < 0)
            fprintf(stderr, "%s: %s: cannot complete the trace: %s\n", prog, t[i].path,
                    e == MRZ_EIO ? strerror(errno) : mrz_strerror(e));
        if (quiet)
            continue;
        struct tally ty;
        e = tally_trace(t[i].path, &ty);
        if (e) {
            fprintf(stderr, "%s: %s: %s\n", prog, t[i].path, mrz_strerror(e));
            continue;
        }
        fprintf(stderr, "%s: %s: %llu allocations, %llu frees, %llu threads, %llu bytes (%.2f bytes/event)%s\n",
                prog, t[i].path, (unsigned long long)ty.allocs, (unsigned long long)ty.frees,
                (unsigned long long)ty.threads, (unsigned long long)ty.bytes,
                ty.events ? (double)ty.bytes / (double)ty.events : 0.0,
                ty.salvaged ? ", completed after the process ended" : "");
    }
    for (size_t i = 0; i < n; i++)
        free(t[i].path);
    free(t);
    return n;
}

static pid_t child_pid;
static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static int opt_index(const char *name)
{
    for (int i = 0; i < mr_noptions; i++)
        if (!strcmp(mr_options[i].flag, name))
            return i;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("mallocrec %s (trace format %d.%d)\n", MALLOCREC_VERSION, MRZ_VERSION_MAJOR, MRZ_VERSION_MINOR);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "run")) {
        if (argc < 2)
            fprintf(stderr, "%s: missing command; try '%s run -- PROGRAM' or '%s --help'\n", prog, prog, prog);
        else
            fprintf(stderr, "%s: unknown command '%s'; try '%s --help'\n", prog, argv[1], prog);
        return 2;
    }
    argc--;
    argv++;

    struct option longopts[32];
    int nl = 0;
    for (int i = 0; i < mr_noptions && nl < 28; i++)
        longopts[nl++] = (struct option){mr_options[i].flag, mr_options[i].arg ? required_argument : no_argument,
                                         NULL, 1000 + i};
    longopts[nl++] = (struct option){"quiet", no_argument, NULL, 'q'};
    longopts[nl++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[nl] = (struct option){0};
    int quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:qh", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'q') {
            quiet = 1;
            continue;
        }
        if (c == '?') {
            const char *bad = argv[optind - 1];
            if (!strncmp(bad, "--", 2) && optopt && strchr(bad, '='))
                fprintf(stderr, "%s: option '%.*s' takes no argument\n", prog, (int)(strchr(bad, '=') - bad), bad);
            else if (!strncmp(bad, "--", 2))
                fprintf(stderr, "%s: unknown option '%s'; try '%s --help'\n", prog, bad, prog);
            else
                fprintf(stderr, "%s: unknown option '-%c'; try '%s --help'\n", prog, optopt, prog);
            return 2;
        }
        if (c == ':') {
            fprintf(stderr, "%s: option '%s' needs an argument\n", prog, argv[optind - 1]);
            return 2;
        }
        int i = c == 'o' ? opt_index("output") : c - 1000;
        const struct mr_option *o = &mr_options[i];
        const char *val = o->arg ? optarg : "1";
        char buf[PATH_MAX + 64];
        if (o->type == MR_OPT_INT) {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || end == val || v < 0 || v > 1 << 30) {
                fprintf(stderr, "%s: --%s: '%s' is not a number\n", prog, o->flag, val);
                return 2;
            }
        } else if (o->type == MR_OPT_SIZE) {
            uint64_t v;
            if (mr_parse_size(val, &v) || v == 0) {
                fprintf(stderr, "%s: --%s: '%s' is not a size (e.g. 512k, 1MiB)\n", prog, o->flag, val);
                return 2;
            }
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
            val = buf;
        } else if (!strcmp(o->flag, "output") && val[0] != '/') {
            /* absolute, so children that chdir write next to their parent */
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) {
                fprintf(stderr, "%s: cannot read the current directory: %s\n", prog, strerror(errno));
                return 2;
            }
            snprintf(buf, sizeof buf, "%s/%s", cwd, val);
            val = buf;
        }
        setenv(o->env, val, 1);
    }
    if (optind >= argc) {
        fprintf(stderr, "%s: no program to run; usage: %s run [options] -- PROGRAM [ARGS...]\n", prog, prog);
        return 2;
    }
    char **cmd = argv + optind;

    char lib[PATH_MAX];
    if (find_library(lib, sizeof lib)) {
        fprintf(stderr, "%s: cannot find libmallocrec.so (looked next to %s and in %s); set MALLOCREC_LIB\n",
                prog, "this program", MALLOCREC_LIBDIR);
        return 2;
    }
    if (!getenv("MALLOCREC_OUTPUT")) {
        char cwd[PATH_MAX], tpl[PATH_MAX + 16];
        if (getcwd(cwd, sizeof cwd)) {
            snprintf(tpl, sizeof tpl, "%s/%%n.%%p.mrz", cwd);
            setenv("MALLOCREC_OUTPUT", tpl, 1);
        }
    }
    if (check_output_dir(getenv("MALLOCREC_OUTPUT")))
        return 2;
    const char *old = getenv("LD_PRELOAD");
    setenv("MALLOCREC_PRELOAD_ORIG", old ? old : "", 1);
    char *preload;
    if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "") < 0)
        return 2;
    setenv("LD_PRELOAD", preload, 1);

    char session[] = "/tmp/mallocrec-session-XXXXXX";
    int sfd = mkstemp(session);
    if (sfd < 0) {
        fprintf(stderr, "%s: cannot create a session file in /tmp: %s\n", prog, strerror(errno));
        return 2;
    }
    close(sfd);
    setenv(MR_ENV_SESSION, session, 1);

    /* A shell-like foreground: ^C reaches the program, we survive to finish. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction sa = {.sa_handler = forward};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* Orphaned descendants become our children: we learn how they ended. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    child_pid = fork();
    if (child_pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
        unlink(session);
        return 2;
    }
    if (child_pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        execvp(cmd[0], cmd);
        int e = errno;
        fprintf(stderr, "%s: %s: %s\n", prog, cmd[0],
                e == ENOENT && !strchr(cmd[0], '/') ? "command not found" : strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    int status = 0;
    while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    struct ended *ended = NULL;
    size_t nended = reap_orphans(child_pid, status, &ended);
    size_t n = finish_session(session, ended, nended, quiet);
    unlink(session);
    free(ended);
    if (!n && !quiet && code != 127 && code != 126)
        fprintf(stderr, "%s: no trace was written (is %s a static program, or was the library refused?)\n",
                prog, cmd[0]);
    return code;
}
