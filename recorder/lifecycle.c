/* The recorder's life cycle: start, fork, exec, exit, thread exit and
 * dlopen — everything that is not the per-allocation path. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "rec.h"

extern char **environ;

/* ------------------------------------------------------------ process */

static uint64_t calibrate_tick_hz(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint64_t n0 = rec_now_ns(), t0 = rec_ticks(), n1, t1;
    do {
        n1 = rec_now_ns();
        t1 = rec_ticks();
    } while (n1 - n0 < 200000);
    return (t1 - t0) * 1000000000ull / (n1 - n0);
#else
    return 1000000000ull;
#endif
}

void rec_process_record(void)
{
    /* argv from /proc/self/cmdline: valid before and after main. */
    size_t cap = 1 << 16;
    char *cmd = rec_mmap(cap);
    ssize_t len = 0;
    if (cmd) {
        int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r;
            while (len < (ssize_t)cap && (r = read(fd, cmd + len, cap - (size_t)len)) > 0)
                len += r;
            close(fd);
        }
    }
    char exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[el > 0 ? el : 0] = 0;
    uint32_t argc = 0;
    for (ssize_t i = 0; i < len; i++)
        argc += cmd[i] == 0;

    pthread_mutex_lock(&rec_g.lock);
    struct rec_stream *m = rec_g.meta;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    rec_reserve(m, 1 + MRZ_VARINT_MAX * (10 + argc) + strlen(exe) + (size_t)len);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, m->pos, MRZ_T_PROCESS);
    p = mrz_put_uvar(p, rec_g.pid);
    p = mrz_put_uvar(p, rec_g.ppid);
    p = mrz_put_uvar(p, MRZ_CLOCK_TSC);
    p = mrz_put_uvar(p, rec_g.tick_hz);
    p = mrz_put_uvar(p, (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec);
    p = mrz_put_uvar(p, rec_ticks());
    p = mrz_put_str(p, exe, strlen(exe));
    p = mrz_put_uvar(p, argc);
    for (ssize_t i = 0; i < len;) {
        size_t n = strnlen(cmd + i, (size_t)(len - i));
        p = mrz_put_str(p, cmd + i, n);
        i += (ssize_t)n + 1;
    }
    m->pos = mrz_framed_end(&f, p);
    rec_commit(m);
    rec_options_record(m);
    pthread_mutex_unlock(&rec_g.lock);
    rec_munmap(cmd, cap);
}

static void on_exit_cb(int status, void *arg)
{
    (void)arg;
    rec_g.exit_status = status;
    rec_g.have_exit_status = 1;
}

/* The exit status.  Exit handlers run in reverse order of registration and
 * our destructor runs from the dynamic linker's, which __libc_start_main
 * registers after every library constructor: a handler registered from our
 * constructor would run too late.  So __libc_start_main is interposed and
 * the handler registered just before main, where it runs before ours. */
typedef int (*rec_main_fn)(int, char **, char **);
static rec_main_fn real_main;

REC_HIDDEN rec_main_fn rec_main_enter(void);
rec_main_fn rec_main_enter(void)
{
    rec_tls.busy++;
    on_exit(on_exit_cb, NULL);
    rec_tls.busy--;
    return real_main;
}

#if defined(__x86_64__)
/* main's stand-in jumps to main, so no frame of ours sits under it. */
__asm__(".text\n"
        ".type rec_main, @function\n"
        ".p2align 4\n"
        "rec_main:\n"
        "\t.cfi_startproc\n"
        "\tendbr64\n"
        "\tpush %rdi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rsi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rdx\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tcall rec_main_enter\n"
        "\tpop %rdx\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rsi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rdi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tjmp *%rax\n"
        "\t.cfi_endproc\n"
        ".size rec_main, .-rec_main\n");
int rec_main(int argc, char **argv, char **envp) __attribute__((visibility("hidden")));
#else
static int rec_main(int argc, char **argv, char **envp) { return rec_main_enter()(argc, argv, envp); }
#endif

REC_EXPORT int __libc_start_main(rec_main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                 void (*rtld_fini)(void), void *stack_end)
{
    int (*next)(rec_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
    rec_tls.busy++;
    *(void **)&next = dlsym(RTLD_NEXT, "__libc_start_main");
    rec_tls.busy--;
    real_main = main;
    return next(rec_main, argc, argv, init, fini, rtld_fini, stack_end);
}

static void atfork_prepare(void)
{
    rec_tls.busy++;
    pthread_mutex_lock(&rec_g.lock);
    rec_pool_lock_all();
}

static void atfork_parent(void)
{
    rec_pool_unlock_all(0);
    pthread_mutex_unlock(&rec_g.lock);
    rec_tls.busy--;
}

static void atfork_child(void)
{
    if (rec_g.state == REC_READY)
        rec_after_fork_child();
    else
        rec_pool_unlock_all(1), pthread_mutex_init(&rec_g.lock, NULL);
    rec_tls.busy--;
}

static void rec_resolve_next(void);
static void follow_capture(void);

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

void rec_init(void)
{
    if (!__sync_bool_compare_and_swap(&rec_g.state, REC_UNINIT, REC_INITIALIZING))
        return;
    rec_g.pid = (uint32_t)getpid();
    rec_g.ppid = (uint32_t)getppid();
    rec_g.stack_depth = env_int("MALLOCREC_STACK_DEPTH", 128);
    if (rec_g.stack_depth < 1 || rec_g.stack_depth > REC_MAX_DEPTH)
        rec_g.stack_depth = rec_g.stack_depth < 1 ? 1 : REC_MAX_DEPTH;
    rec_g.no_stacks = env_int("MALLOCREC_NO_STACKS", 0);
    rec_sample_init();
    rec_g.follow = !env_int("MALLOCREC_NO_FOLLOW", 0);
    rec_g.level = env_int("MALLOCREC_LEVEL", 1);
    rec_g.paused = env_int("MALLOCREC_START_PAUSED", 0);
    if (!rec_g.follow) {
        /* children of this process run without us: restore the preload
         * list the launcher found */
        const char *orig = getenv("MALLOCREC_PRELOAD_ORIG");
        if (orig && *orig)
            setenv("LD_PRELOAD", orig, 1);
        else
            unsetenv("LD_PRELOAD");
    }
    rec_resolve_next();
    if (rec_g.follow)
        follow_capture();
    rec_g.tick_hz = calibrate_tick_hz();
    cpu_set_t cpus;
    rec_g.ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    rec_self_range();
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    if (pthread_key_create(&rec_g.key, rec_thread_dtor) || rec_open_trace() < 0) {
        rec_g.state = REC_DISABLED;
        return;
    }
    rec_process_record();
    rec_modules_scan();
    rec_cuda_init();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    rec_tls.s = rec_stream_acquire();
    if (rec_tls.s)
        pthread_setspecific(rec_g.key, rec_tls.s);
    barrier();
    rec_g.state = REC_READY;
}

__attribute__((constructor)) static void rec_ctor(void)
{
    if (rec_g.state == REC_UNINIT) {
        rec_tls.busy = 1;
        rec_init();
        rec_tls.busy = 0;
    }
}

/* Flushes the calling thread and writes END.  Other threads' records stay
 * in the spill file for mrz_salvage; records made after this (later
 * destructors) still land in the slots. */
static void finish(int how, int value)
{
    if (rec_g.state != REC_READY || (uint32_t)getpid() != rec_g.pid)
        return; /* a vfork child must not write its parent's trace */
    rec_tls.busy++;
    rec_modules_check(1);
    if (rec_tls.s)
        rec_flush(rec_tls.s);
    rec_flush_wait();
    rec_write_end(how, value);
    rec_tls.busy--;
}

/* Without the status (exit before main, or a program that does not start
 * through __libc_start_main) the END says so, and the launcher's wait
 * status, appended by salvage, completes it. */
__attribute__((destructor)) static void rec_dtor(void)
{
    if (rec_g.have_exit_status)
        finish(MRZ_END_EXIT, rec_g.exit_status);
    else
        finish(MRZ_END_UNKNOWN, 0);
}

void rec_thread_dtor(void *arg)
{
    struct rec_stream *s = arg;
    rec_tls.busy++;
    if (s && s == rec_tls.s) {
        rec_tls.s = NULL;
        rec_tls.dead = 1;
        rec_stream_release(s);
    }
    rec_tls.busy--;
}

/* ------------------------------------------------------------ exec, exit, dlopen */

/* The next definitions of what we interpose, resolved once at start: a vfork
 * child calls them on its parent's memory, where dlsym must not run. */
#define REAL_DECL(name) static __typeof__(&name) real_##name
REAL_DECL(_exit);
REAL_DECL(_Exit);
REAL_DECL(execve);
REAL_DECL(execvpe);
REAL_DECL(fexecve);
REAL_DECL(posix_spawn);
REAL_DECL(posix_spawnp);
REAL_DECL(dlopen);
REAL_DECL(dlclose);
#define REAL(name)                                                              \
    (*({                                                                        \
        if (!real_##name)                                                       \
            real_##name = (__typeof__(&name))real_sym(#name);                   \
        real_##name;                                                            \
    }))

static void *real_sym(const char *name)
{
    rec_tls.busy++;
    void *p = dlsym(RTLD_NEXT, name);
    rec_tls.busy--;
    return p;
}

static void rec_resolve_next(void)
{
    (void)REAL(_exit), (void)REAL(_Exit), (void)REAL(execve), (void)REAL(execvpe), (void)REAL(fexecve);
    (void)REAL(posix_spawn), (void)REAL(posix_spawnp), (void)REAL(dlopen), (void)REAL(dlclose);
}

REC_EXPORT void _exit(int code)
{
    finish(MRZ_END_EXIT, code);
    REAL(_exit)(code);
    __builtin_unreachable();
}

REC_EXPORT void _Exit(int code)
{
    finish(MRZ_END_EXIT, code);
    REAL(_Exit)(code);
    __builtin_unreachable();
}

/* ------------------------------------------------------------ following */

/* What a new image needs to be recorded: our library in LD_PRELOAD and the
 * MALLOCREC_* settings.  A program that execs with an environment of its
 * own (env -i, a build tool) would otherwise drop them. */
#define FOLLOW_VARS 32
static struct {
    int n;
    const char *var[FOLLOW_VARS];  /* "MALLOCREC_X=value" */
    size_t name_len[FOLLOW_VARS];  /* up to and with '=' */
    char lib[1024];
    size_t lib_len;
    char store[16384];
} follow;

static void follow_capture(void)
{
    Dl_info di;
    if (!dladdr((void *)&follow_capture, &di) || !di.dli_fname || di.dli_fname[0] != '/' ||
        strlen(di.dli_fname) >= sizeof follow.lib)
        return;
    follow.lib_len = strlen(di.dli_fname);
    memcpy(follow.lib, di.dli_fname, follow.lib_len + 1);
    size_t used = 0;
    for (char **e = environ; e && *e && follow.n < FOLLOW_VARS; e++) {
        size_t len = strlen(*e) + 1;
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "MALLOCREC_", 10) || !eq || used + len > sizeof follow.store)
            continue;
        memcpy(follow.store + used, *e, len);
        follow.var[follow.n] = follow.store + used;
        follow.name_len[follow.n++] = (size_t)(eq - *e) + 1;
        used += len;
    }
}

static const char *env_find(char *const envp[], const char *name, size_t name_len)
{
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, name_len))
            return *e;
    return NULL;
}

/* Bytes follow_env needs for envp, or 0 when envp already has everything.
 * Separate from follow_env so callers can keep the new array on their own
 * stack: a vfork child must not allocate. */
static size_t follow_need(char *const envp[])
{
    if (!rec_g.follow || rec_g.state != REC_READY || !follow.lib_len)
        return 0;
    size_t n = 0, missing = 0;
    for (char *const *e = envp; e && *e; e++)
        n++;
    for (int i = 0; i < follow.n; i++)
        missing += !env_find(envp, follow.var[i], follow.name_len[i]);
    const char *pre = env_find(envp, "LD_PRELOAD=", 11);
    int has_lib = pre && strstr(pre, follow.lib);
    if (!missing && has_lib)
        return 0;
    return (n + (size_t)follow.n + 2) * sizeof(char *) + 12 + follow.lib_len + (pre ? strlen(pre) : 0) + 16;
}

static char *const *follow_env(char *const envp[], void *buf)
{
    const char *pre = env_find(envp, "LD_PRELOAD=", 11);
    size_t n = 0;
    for (char *const *e = envp; e && *e; e++)
        n++;
    char **out = buf;
    char *str = (char *)(out + n + (size_t)follow.n + 2);
    size_t k = 0;
    /* LD_PRELOAD first, our library first in it */
    char *p = str;
    memcpy(p, "LD_PRELOAD=", 11);
    p += 11;
    memcpy(p, follow.lib, follow.lib_len);
    p += follow.lib_len;
    if (pre && pre[11] && !strstr(pre, follow.lib)) {
        *p++ = ':';
        size_t l = strlen(pre + 11);
        memcpy(p, pre + 11, l);
        p += l;
    } else if (pre && pre[11]) {
        p = str + 11; /* it has us already: keep it as it is */
        size_t l = strlen(pre + 11);
        memcpy(p, pre + 11, l);
        p += l;
    }
    *p = 0;
    out[k++] = str;
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11))
            out[k++] = *e;
    for (int i = 0; i < follow.n; i++)
        if (!env_find(envp, follow.var[i], follow.name_len[i]))
            out[k++] = (char *)follow.var[i];
    out[k] = NULL;
    return out;
}

/* Declares `name` as envp, or as a copy completed for following on the
 * caller's stack. */
#define FOLLOW_ENV(name, envp)                                                  \
    size_t need_##name = follow_need(envp);                                     \
    char buf_##name[need_##name ? need_##name : 1] __attribute__((aligned(16))); \
    char *const *name = need_##name ? follow_env(envp, buf_##name) : (envp)

static void before_exec(void) { finish(MRZ_END_EXEC, 0); }

REC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    FOLLOW_ENV(env, envp);
    return REAL(execve)(path, argv, env);
}

REC_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

REC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    FOLLOW_ENV(env, envp);
    return REAL(execvpe)(file, argv, env);
}

REC_EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

REC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    FOLLOW_ENV(env, envp);
    return REAL(fexecve)(fd, argv, env);
}

/* posix_spawn runs no atfork handler and execs in a child that shares our
 * memory: there is nothing to flush, only the environment to complete. */
REC_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    FOLLOW_ENV(env, envp);
    return REAL(posix_spawn)(pid, path, fa, attr, argv, env);
}

REC_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    FOLLOW_ENV(env, envp);
    return REAL(posix_spawnp)(pid, file, fa, attr, argv, env);
}

/* execl and friends gather their arguments and reach execve/execvpe. */
#define GATHER_ARGS(first, ap, argv, envp_out)                                   \
    size_t n_ = 1;                                                              \
    va_start(ap, first);                                                        \
    while (va_arg(ap, char *))                                                  \
        n_++;                                                                   \
    va_end(ap);                                                                 \
    char **argv = __builtin_alloca((n_ + 1) * sizeof *argv);                    \
    va_start(ap, first);                                                        \
    argv[0] = (char *)first;                                                    \
    for (size_t i_ = 1; i_ <= n_; i_++)                                         \
        argv[i_] = va_arg(ap, char *);                                          \
    envp_out;                                                                   \
    va_end(ap)

REC_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    GATHER_ARGS(arg, ap, argv, (void)0);
    return execve(path, argv, environ);
}

REC_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    GATHER_ARGS(arg, ap, argv, (void)0);
    return execvpe(file, argv, environ);
}

REC_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    GATHER_ARGS(arg, ap, argv, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

/* ------------------------------------------------------------ dlopen */

/* dlopen looks a bare name up in its caller's RPATH/RUNPATH (and opens in
 * its caller's namespace), finding the caller from its return address.  A
 * wrapper that calls it would make that us; so for a bare name the x86-64
 * entry below notes the time and jumps to the real dlopen with the caller's
 * return address in place, and the new object is written at the next module
 * check (next chunk, thread exit, dlclose, exit or exec) with that time.  A
 * path with a '/' needs no search: it goes through rec_dlopen_path, which
 * records the new objects at once. */
static void *rec_dlopen_path(const char *file, int mode)
{
    if (rec_g.state == REC_READY)
        rec_modules_note_load(rec_ticks());
    void *h = REAL(dlopen)(file, mode);
    if (h && rec_g.state == REC_READY) {
        rec_tls.busy++;
        rec_modules_scan();
        rec_cuda_scan();
        rec_tls.busy--;
    }
    return h;
}

#if defined(__x86_64__)
REC_HIDDEN void *rec_dlopen_route(const char *file);
void *rec_dlopen_route(const char *file)
{
    if (!file || strchr(file, '/'))
        return (void *)rec_dlopen_path;
    if (rec_g.state == REC_READY)
        rec_modules_note_load(rec_ticks());
    return (void *)REAL(dlopen);
}

/* dlopen: keep rdi/rsi, ask rec_dlopen_route where to go, tail-jump there. */
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        ".p2align 4\n"
        "dlopen:\n"
        "\t.cfi_startproc\n"
        "\tendbr64\n"
        "\tpush %rdi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tpush %rsi\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tsub $8, %rsp\n"
        "\t.cfi_adjust_cfa_offset 8\n"
        "\tcall rec_dlopen_route\n"
        "\tadd $8, %rsp\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rsi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tpop %rdi\n"
        "\t.cfi_adjust_cfa_offset -8\n"
        "\tjmp *%rax\n"
        "\t.cfi_endproc\n"
        ".size dlopen, .-dlopen\n");
#else
REC_EXPORT void *dlopen(const char *file, int mode) { return rec_dlopen_path(file, mode); }
#endif

/* Scans before (objects a bare-name dlopen brought in get their entry
 * before they can go) and after (what went). */
REC_EXPORT int dlclose(void *h)
{
    if (rec_g.state == REC_READY) {
        rec_tls.busy++;
        rec_modules_check(1);
        rec_tls.busy--;
    }
    int r = REAL(dlclose)(h);
    if (rec_g.state == REC_READY) {
        rec_tls.busy++;
        rec_modules_check(1);
        unw_flush_cache(unw_local_addr_space, 0, 0);
        rec_unw_invalidate();
        rec_tls.busy--;
    }
    return r;
}
