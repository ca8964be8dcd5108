/* The recorder's own stack walker (recorder/unwind.c) against libunwind's
 * unw_backtrace: the same frames, exactly, for call chains of several shapes
 * (rsp- and rbp-based frames, code with and without frame pointers, deep and
 * shallow, repeated so that walks reuse the previous one), on the main
 * thread and on others; truncation to a depth; and the fallback on another
 * stack. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../unit/check.h"
#include "unwind.h"

typedef void (*probe_fn)(void *ctx);
int work_nofp(int depth, uint64_t seed, probe_fn probe, void *ctx);
int work_fp(int depth, uint64_t seed, probe_fn probe, void *ctx);

struct ctx {
    struct rec_unw u;
    int max;                  /* depth limit passed to the walker */
    long equal, differ, fallbacks;
    long walks;               /* probes run_chains made (thread_main) */
};

static pthread_mutex_t report = PTHREAD_MUTEX_INITIALIZER;

/* Called at the bottom of a chain: the walker's frames (from this
 * function's return address out) must be unw_backtrace's after its first
 * (which is the return address into this function). */
static __attribute__((noinline)) void probe(void *arg)
{
    struct ctx *c = arg;
    struct rec_unw_start st;
    REC_UNW_HERE(st);
    int n = rec_unwind(&c->u, &st, c->max, 0, 0);
    uintptr_t b[REC_UNW_MAX + 2];
    int nb = unw_backtrace((void **)b, REC_UNW_MAX + 1) - 1;
    if (n < 0) {
        c->fallbacks++;
        return;
    }
    if (nb > c->max)
        nb = c->max; /* the walker keeps the innermost max frames */
    int same = n == nb && n > 3;
    for (int i = 0; same && i < n; i++)
        same = c->u.ip[n - 1 - i] == b[1 + i];
    if (same) {
        c->equal++;
        return;
    }
    if (c->differ++ < 3) {
        pthread_mutex_lock(&report);
        fprintf(stderr, "walk differs: %d frames, unw_backtrace %d\n", n, nb);
        for (int i = 0; i < (n > nb ? n : nb) && i < 40; i++)
            fprintf(stderr, "  %2d %#18lx %#18lx\n", i, i < n ? (unsigned long)c->u.ip[n - 1 - i] : 0ul,
                    i < nb ? (unsigned long)b[1 + i] : 0ul);
        pthread_mutex_unlock(&report);
    }
}

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 17;
}

/* Random chains, then runs of one chain (every walk after the first reuses
 * the one before), then chains of alternating depth (partial reuse).
 * @return the number of walks (probes) it made. */
static long run_chains(struct ctx *c, uint64_t seed, int rounds)
{
    long walks = 0;
    for (int i = 0; i < rounds; i++) {
        uint64_t r = next(&seed);
        int depth = (int)(r % 60), mode = (int)(r >> 40) % 3;
        uint64_t shape = next(&seed);
        for (int k = 0; k < (mode ? 8 : 1); k++) {
            int d = mode == 2 ? depth - (k & 1) * (depth / 2) : depth;
            if (r & (1ull << 30))
                work_nofp(d, shape, probe, c);
            else
                work_fp(d, shape, probe, c);
            walks++;
        }
    }
    return walks;
}

static void *thread_main(void *arg)
{
    struct ctx *c = arg;
    rec_unw_init(&c->u, (uint32_t)syscall(SYS_gettid));
    c->walks = run_chains(c, (uint64_t)(uintptr_t)arg, 3000);
    return NULL;
}

/* A walk that starts on a signal stack is not ours to take. */
static struct ctx *alt_ctx;
static void on_signal(int sig)
{
    (void)sig;
    probe(alt_ctx);
}

int main(void)
{
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    static struct ctx main_ctx, depth_ctx, th[3];

    /* the main thread, full depth */
    main_ctx.max = REC_UNW_MAX;
    CHECK(rec_unw_init(&main_ctx.u, (uint32_t)getpid()) == 0);
    long walks = run_chains(&main_ctx, 1, 3000);
    CHECK(walks > 10000); /* the seed gives enough runs of one chain */
    CHECK_EQ(main_ctx.equal, walks);
    CHECK_EQ(main_ctx.differ, 0);
    CHECK_EQ(main_ctx.fallbacks, 0);
    CHECK(main_ctx.u.reused > 5000); /* the repeated chains did reuse */
    int rbp_rules = 0, rsp_rules = 0;
    for (unsigned i = 0; i < 1u << REC_UNW_CACHE_BITS; i++) {
        rbp_rules += main_ctx.u.cache[i].ip && main_ctx.u.cache[i].kind == REC_UNW_RBP;
        rsp_rules += main_ctx.u.cache[i].ip && main_ctx.u.cache[i].kind == REC_UNW_RSP;
    }
    CHECK(rbp_rules >= 3 && rsp_rules >= 3); /* both kinds of frames were walked */

    /* a depth limit: the innermost frames only */
    depth_ctx.max = 7;
    rec_unw_init(&depth_ctx.u, (uint32_t)getpid());
    walks = run_chains(&depth_ctx, 2, 1000);
    CHECK_EQ(depth_ctx.equal, walks);
    CHECK_EQ(depth_ctx.differ, 0);

    /* other threads, at once */
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        th[i].max = REC_UNW_MAX;
        pthread_create(&t[i], NULL, thread_main, &th[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(th[i].equal, th[i].walks);
        CHECK_EQ(th[i].differ, 0);
        CHECK_EQ(th[i].fallbacks, 0);
    }

    /* a signal handler on an alternate stack: the walker declines */
    static struct ctx alt;
    alt.max = REC_UNW_MAX;
    rec_unw_init(&alt.u, (uint32_t)getpid());
    alt_ctx = &alt;
    stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    CHECK_EQ(alt.fallbacks, 1);
    CHECK_EQ(alt.differ, 0);

    /* after an invalidation (dlclose), walks start afresh and still agree */
    rec_unw_invalidate();
    long before = main_ctx.equal;
    walks = run_chains(&main_ctx, 3, 200);
    CHECK_EQ(main_ctx.equal - before, walks);
    CHECK_EQ(main_ctx.differ, 0);
    return check_report("test_unwind");
}
