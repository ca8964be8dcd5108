/* The recorder's life cycle: start, fork, exec, exit, thread exit and
 * dlopen — everything that is not the per-allocation path. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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
    pthread_mutex_unlock(&rec_g.lock);
    rec_munmap(cmd, cap);
}

static void on_exit_cb(int status, void *arg)
{
    (void)arg;
    rec_g.exit_status = status;
    rec_g.have_exit_status = 1;
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
    rec_g.tick_hz = calibrate_tick_hz();
    rec_self_range();
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    if (pthread_key_create(&rec_g.key, rec_thread_dtor) || rec_open_trace() < 0) {
        rec_g.state = REC_DISABLED;
        return;
    }
    rec_process_record();
    rec_modules_scan();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    on_exit(on_exit_cb, NULL);
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
    if (rec_tls.s)
        rec_flush(rec_tls.s);
    rec_write_end(how, value);
    rec_tls.busy--;
}

__attribute__((destructor)) static void rec_dtor(void)
{
    finish(MRZ_END_EXIT, rec_g.have_exit_status ? rec_g.exit_status : 0);
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

#define REAL(name) ((__typeof__(&name))real_sym(#name))
static void *real_sym(const char *name)
{
    rec_tls.busy++;
    void *p = dlsym(RTLD_NEXT, name);
    rec_tls.busy--;
    return p;
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

static void before_exec(void) { finish(MRZ_END_EXEC, 0); }

REC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return REAL(execve)(path, argv, envp);
}

REC_EXPORT int execv(const char *path, char *const argv[])
{
    before_exec();
    return REAL(execv)(path, argv);
}

REC_EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec();
    return REAL(execvp)(file, argv);
}

REC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    return REAL(execvpe)(file, argv, envp);
}

REC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    return REAL(fexecve)(fd, argv, envp);
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
    return execvp(file, argv);
}

REC_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    GATHER_ARGS(arg, ap, argv, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

REC_EXPORT void *dlopen(const char *file, int mode)
{
    void *h = REAL(dlopen)(file, mode);
    if (h && rec_g.state == REC_READY) {
        rec_tls.busy++;
        rec_modules_scan();
        rec_tls.busy--;
    }
    return h;
}

REC_EXPORT int dlclose(void *h)
{
    int r = REAL(dlclose)(h);
    if (rec_g.state == REC_READY) {
        rec_tls.busy++;
        rec_modules_scan();
        unw_flush_cache(unw_local_addr_space, 0, 0);
        rec_tls.busy--;
    }
    return r;
}
