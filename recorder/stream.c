/* Streams: the trace file, the spill file's slots, chunk flushing through a
 * small pool of zstd contexts, and the per-stream stack table. */
#define ZSTD_STATIC_LINKING_ONLY
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename(2) only */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "rec.h"

void *rec_mmap(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rec_munmap(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}

uint64_t rec_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rec_write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------ zstd pool */

/* zstd's memory comes from mmap, never from the malloc we interpose. */
static void *z_alloc(void *opaque, size_t n)
{
    (void)opaque;
    size_t *p = rec_mmap(n + 16);
    if (!p)
        return NULL;
    p[0] = n + 16;
    return (uint8_t *)p + 16;
}

static void z_free(void *opaque, void *q)
{
    (void)opaque;
    if (!q)
        return;
    size_t *p = (size_t *)((uint8_t *)q - 16);
    rec_munmap(p, p[0]);
}

#define POOL 4
static struct {
    pthread_mutex_t m;
    ZSTD_CCtx *c;
    uint8_t *out;
    uint8_t *cols;     /* working memory of the column codec */
} pool[POOL] = {[0 ... POOL - 1] = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL}};

static int pool_take(uint32_t hint)
{
    for (int i = 0; i < POOL; i++)
        if (pthread_mutex_trylock(&pool[i].m) == 0)
            return i;
    int i = (int)(hint % POOL);
    pthread_mutex_lock(&pool[i].m);
    return i;
}

/* Called around fork: no context may be mid-compression in the child. */
void rec_pool_lock_all(void)
{
    for (int i = 0; i < POOL; i++)
        pthread_mutex_lock(&pool[i].m);
}

void rec_pool_unlock_all(int reinit)
{
    for (int i = 0; i < POOL; i++) {
        if (reinit)
            pthread_mutex_init(&pool[i].m, NULL);
        else
            pthread_mutex_unlock(&pool[i].m);
    }
}

/* ------------------------------------------------------------ compressor */

/* Full chunks are compressed and written by one background thread, so the
 * threads that allocate only swap buffers: a stream owns a second slot of
 * the spill file and fills it while the first waits for the compressor.
 * Both slots stay in the spill file until their chunk is written, so a
 * death loses nothing (salvage takes every slot).  When the spare is still
 * waiting, or no thread could be started, the chunk is compressed on the
 * spot as before: nothing ever waits for the compressor but exit. */
struct zjob { struct rec_stream *s; struct mrz_slot *slot; struct mrz_ref_cache *refs; size_t used; };

static struct {
    pthread_mutex_t m;
    pthread_cond_t work, idle;
    int started, failed, active;
    uint32_t head, n;
    struct zjob q[REC_MAX_STREAMS]; /* a stream has at most one chunk handed over */
} zq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, {{0}}};

static long encode_slot(const struct mrz_slot *sl, size_t used, struct mrz_ref_cache *refs, uint32_t hint);

static void *compressor(void *arg)
{
    (void)arg;
    rec_tls.busy = 1; /* nothing this thread does is the program's */
    pthread_mutex_lock(&zq.m);
    for (;;) {
        while (!zq.n)
            pthread_cond_wait(&zq.work, &zq.m);
        struct zjob j = zq.q[zq.head];
        zq.head = (zq.head + 1) % REC_MAX_STREAMS;
        zq.n--;
        zq.active = 1;
        pthread_mutex_unlock(&zq.m);
        encode_slot(j.slot, j.used, j.refs, j.s->id);
        j.slot->used = 0; /* written: empty to salvage (a repeat would be dropped anyway) */
        __atomic_store_n(&j.s->handed, 0, __ATOMIC_RELEASE);
        pthread_mutex_lock(&zq.m);
        zq.active = 0;
        if (!zq.n)
            pthread_cond_broadcast(&zq.idle);
    }
    return NULL;
}

static int zq_start(void)
{
    /* not from a vfork child: the thread would die with its exec or _exit
     * while the parent counted on it */
    if (zq.failed || (uint32_t)getpid() != rec_g.pid)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    /* the program's signals go to the program's threads */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256u << 10);
    int e = pthread_create(&t, &a, compressor, NULL);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        zq.failed = 1;
        return -1;
    }
    pthread_setname_np(t, "mallocrec-z");
    zq.started = 1;
    return 0;
}

struct mrz_ref_cache *rec_refs_new(uint8_t *rows)
{
    struct mrz_ref_cache *c = rec_mmap(sizeof *c);
    if (!c)
        return NULL;
    size_t cap = REC_SLOT_SIZE, each = cap + 32, all = (MRZ_NCOLS + 1) * each;
    uint8_t *m = rec_mmap(all);
    if (m) {
        for (int i = 0; i < MRZ_NCOLS; i++)
            c->cur[i] = c->col[i] = m + (size_t)i * each; /* REST, the last, gets two shares */
        c->col_cap = cap;
        c->rows = rows;
        c->rows_done = 0;
    }
    return c;
}

static struct mrz_slot *slot_new(uint32_t stream);

/* Hands the stream's full chunk to the compressor and moves the stream to
 * its other slot.  @return 0, or -1 to compress it here instead. */
static int hand_over(struct rec_stream *s, size_t used)
{
    if (s == rec_g.meta || !s->delta.cache || __atomic_load_n(&s->handed, __ATOMIC_ACQUIRE))
        return -1;
    /* With a thread recording on every CPU there is no idle one to take
     * the work, only switches to pay: compress here then. */
    if (__atomic_load_n(&rec_g.nactive, __ATOMIC_RELAXED) >= rec_g.ncpu)
        return -1;
    if (!s->spare) {
        /* Never wait for the lock here: this flush may run inside the
         * loader (a dl_iterate_phdr callback that allocates) while the
         * lock's holder scans modules and waits for the loader. */
        if (pthread_mutex_trylock(&rec_g.lock))
            return -1; /* a later chunk sets the spare up */
        struct mrz_slot *sl = slot_new(s->id);
        pthread_mutex_unlock(&rec_g.lock);
        struct mrz_ref_cache *c = sl ? rec_refs_new(sl->data) : NULL;
        if (!c || !c->col[0])
            return -1; /* (a slot left unused is empty to salvage) */
        s->spare = sl;
        s->spare_refs = c;
    }
    pthread_mutex_lock(&zq.m);
    if (!zq.started && zq_start() < 0) {
        pthread_mutex_unlock(&zq.m);
        return -1;
    }
    s->handed = 1;
    zq.q[(zq.head + zq.n) % REC_MAX_STREAMS] = (struct zjob){s, s->slot, s->delta.cache, used};
    zq.n++;
    pthread_cond_signal(&zq.work);
    pthread_mutex_unlock(&zq.m);
    struct mrz_slot *next = s->spare;
    struct mrz_ref_cache *nc = s->spare_refs;
    next->used = 0;
    barrier();
    next->seq = s->slot->seq + 1;
    s->spare = s->slot;
    s->spare_refs = s->refs;
    s->slot = next;
    s->refs = s->delta.cache = nc;
    return 0;
}

void rec_flush_wait(void)
{
    if (!zq.started)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    /* A signal handler that exits may have interrupted this very thread
     * inside the queue's lock: never wait on it for more than the limit
     * (whatever is not written by then is in the spill file). */
    if (pthread_mutex_timedlock(&zq.m, &until))
        return;
    while ((zq.n || zq.active) && pthread_cond_timedwait(&zq.idle, &zq.m, &until) == 0)
        ;
    pthread_mutex_unlock(&zq.m);
}

/* In a forked child: the parent's compressor did not come along. */
static void zq_reset(void)
{
    pthread_mutex_init(&zq.m, NULL);
    pthread_cond_init(&zq.work, NULL);
    pthread_cond_init(&zq.idle, NULL);
    zq.started = zq.failed = zq.active = 0;
    zq.head = zq.n = 0;
}

/* ------------------------------------------------------------ streams */

_Static_assert(REC_MAX_STREAMS <= MRZ_STREAM_MAX, "readers refuse larger stream numbers");

static size_t slot_stride(void) { return MRZ_SLOT_HEADER + REC_SLOT_SIZE; }

static void stream_rebase(struct rec_stream *s)
{
    struct mrz_slot *sl = s->slot;
    sl->base_ns = rec_now_ns();
    sl->base_ticks = rec_ticks();
    mrz_delta_rebase(&s->delta, sl->base_ticks);
    s->pos = sl->data;
    s->end = sl->data + REC_SLOT_SIZE;
    /* Stack node ids are implicit: saying the next one at every chunk start
     * lets a reader that lost a chunk resynchronise. */
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, s->pos, MRZ_T_STREAM_STATE);
    p = mrz_put_uvar(p, (uint64_t)s->node_n + 1);
    s->pos = mrz_framed_end(&f, p);
    s->state_len = (uint32_t)(s->pos - sl->data);
    /* not committed: a slot holding only this is empty to salvage */
}

/* Compresses and writes one slot's records as a chunk.  @return the
 * chunk's bytes, or < 0 when it could not be encoded. */
static long encode_slot(const struct mrz_slot *sl, size_t used, struct mrz_ref_cache *refs, uint32_t hint)
{
    int i = pool_take(hint);
    if (!pool[i].c) {
        ZSTD_customMem mem = {z_alloc, z_free, NULL};
        pool[i].c = ZSTD_createCCtx_advanced(mem);
        pool[i].out = rec_mmap(mrz_chunk_bound(REC_SLOT_SIZE));
        pool[i].cols = rec_mmap(mrz_cols_scratch_size(REC_SLOT_SIZE));
    }
    struct mrz_chunk_info ci = {.stream = sl->stream, .seq = sl->seq, .base_ticks = sl->base_ticks,
                                .base_ns = sl->base_ns};
    long n = !pool[i].out ? -1
             : pool[i].cols && pool[i].c ? mrz_chunk_encode_cols(pool[i].out, pool[i].c, rec_g.level, &ci, sl->data,
                                                                 used, pool[i].cols, refs)
                                         : mrz_chunk_encode(pool[i].out, pool[i].c, rec_g.level, &ci, sl->data, used);
    if (n > 0)
        rec_write_all(rec_g.fd, pool[i].out, (size_t)n);
    pthread_mutex_unlock(&pool[i].m);
    return n;
}

void rec_flush(struct rec_stream *s)
{
    struct mrz_slot *sl = s->slot;
    size_t used = (size_t)(s->pos - sl->data);
    if (used > s->state_len && hand_over(s, used) < 0) {
        encode_slot(sl, used, s->delta.cache, s->id);
        /* used before seq: a death between the two loses nothing and
         * duplicates nothing (the reader drops a repeated stream/seq). */
        sl->used = 0;
        barrier();
        sl->seq++;
    }
    stream_rebase(s);
    /* Objects loaded behind our back (a dlopen we let through untouched so
     * it sees its caller, libc's own dlopen) show up here.  Never for
     * stream 0: its flushes happen under rec_g.lock, which a scan takes. */
    if (s != rec_g.meta)
        rec_modules_check(0);
}

/* A new slot of the spill file for stream `stream`.  Under rec_g.lock. */
static struct mrz_slot *slot_new(uint32_t stream)
{
    if (rec_g.nslots >= REC_MAX_SLOTS)
        return NULL;
    off_t off = MRZ_WIP_HEADER + (off_t)rec_g.nslots * (off_t)slot_stride();
    if (ftruncate(rec_g.wip_fd, off + (off_t)slot_stride()) < 0)
        return NULL;
    /* Reserve the blocks now: a full disk must fail here, not fault later. */
    if (fallocate(rec_g.wip_fd, 0, off, (off_t)slot_stride()) < 0 && errno == ENOSPC)
        return NULL;
    struct mrz_slot *sl = (struct mrz_slot *)(rec_g.wip + off);
    sl->stream = stream;
    sl->seq = 0;
    sl->used = 0;
    sl->state = 1;
    barrier();
    sl->magic = MRZ_WIP_MAGIC;
    rec_g.nslots++;
    ((struct mrz_wip_header *)rec_g.wip)->nslots = rec_g.nslots;
    return sl;
}

/* Under rec_g.lock. */
static struct rec_stream *stream_new(void)
{
    if (rec_g.nstreams >= REC_MAX_STREAMS)
        return NULL;
    struct rec_stream *s = rec_mmap(sizeof *s);
    if (!s)
        return NULL;
    if (rec_stack_table_init(s, 256) || !(s->slot = slot_new(rec_g.nstreams))) { /* grows; small stays in L1 */
        rec_munmap(s, sizeof *s);
        return NULL;
    }
    s->id = rec_g.nstreams++;
    stream_rebase(s);
    return s;
}

struct rec_stream *rec_stream_acquire(void)
{
    pthread_mutex_lock(&rec_g.lock);
    struct rec_stream *s = rec_g.free_streams;
    if (s)
        rec_g.free_streams = s->next_free;
    else
        s = stream_new();
    pthread_mutex_unlock(&rec_g.lock);
    if (s) {
        __atomic_add_fetch(&rec_g.nactive, 1, __ATOMIC_RELAXED);
        s->next_free = NULL;
        s->tid = (uint32_t)syscall(SYS_gettid);
        rec_thread_record(s, MRZ_T_THREAD);
    }
    return s;
}

void rec_stream_release(struct rec_stream *s)
{
    __atomic_sub_fetch(&rec_g.nactive, 1, __ATOMIC_RELAXED);
    rec_thread_record(s, MRZ_T_THREAD_EXIT);
    rec_flush(s);
    s->region_depth = 0;
    pthread_mutex_lock(&rec_g.lock);
    s->next_free = rec_g.free_streams;
    rec_g.free_streams = s;
    pthread_mutex_unlock(&rec_g.lock);
}

void rec_thread_record(struct rec_stream *s, unsigned type)
{
    rec_reserve(s, 3 * MRZ_VARINT_MAX + 1);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, s->pos, type);
    p = mrz_put_uvar(p, rec_ticks());
    p = mrz_put_uvar(p, s->tid);
    s->pos = mrz_framed_end(&f, p);
    rec_commit(s);
}

/* ------------------------------------------------------------ trace files */

static size_t append(char *dst, size_t at, size_t cap, const char *src, size_t n)
{
    if (at + n >= cap)
        n = at < cap - 1 ? cap - 1 - at : 0;
    memcpy(dst + at, src, n);
    return at + n;
}

static size_t fmt_u(char *buf, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return (size_t)n;
}

extern char *program_invocation_short_name;

/* Expands %p, %n and %% of the output template into rec_g.path. */
static void expand_template(const char *tpl, int attempt)
{
    char *out = rec_g.path;
    size_t cap = sizeof rec_g.path, n = 0;
    char num[24];
    for (const char *t = tpl; *t; t++) {
        if (*t == '%' && t[1] == 'p') {
            n = append(out, n, cap, num, fmt_u(num, rec_g.pid));
            t++;
        } else if (*t == '%' && t[1] == 'n') {
            const char *pn = program_invocation_short_name ? program_invocation_short_name : "program";
            n = append(out, n, cap, pn, strlen(pn));
            t++;
        } else if (*t == '%' && t[1] == '%') {
            n = append(out, n, cap, "%", 1);
            t++;
        } else {
            n = append(out, n, cap, t, 1);
        }
    }
    out[n] = 0;
    if (attempt) {
        /* a second image of one pid (exec): name.pid.N.mrz */
        size_t len = n;
        int ext = len > 4 && !strcmp(out + len - 4, ".mrz");
        size_t stem = ext ? len - 4 : len;
        char suffix[32];
        suffix[0] = '.';
        size_t sl = 1 + fmt_u(suffix + 1, (uint64_t)attempt);
        if (ext)
            memcpy(suffix + sl, ".mrz", 4), sl += 4;
        n = append(out, stem, cap, suffix, sl);
        out[n] = 0;
    }
}

int rec_open_trace(void)
{
    const char *tpl = getenv("MALLOCREC_OUTPUT");
    if (!tpl || !*tpl)
        tpl = "%n.%p.mrz";
    int fd = -1;
    for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
        expand_template(tpl, attempt);
        fd = open(rec_g.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return -1;
    }
    if (fd < 0)
        return -1;
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(h, rec_g.pid);
    rec_write_all(fd, h, sizeof h);

    /* The spill file is set up under a temporary name, locked, and renamed
     * into place: mrz_salvage never sees one half made, and leaves alone
     * one whose process holds the lock (mrz.h, "spill file"). */
    char wip[sizeof rec_g.path + 8], tmp[sizeof rec_g.path + 16];
    size_t pl = strlen(rec_g.path);
    memcpy(wip, rec_g.path, pl);
    memcpy(wip + pl, ".wip", 5);
    memcpy(tmp, wip, pl + 4);
    memcpy(tmp + pl + 4, ".new", 5);
    int wfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    void *m = MAP_FAILED;
    size_t reserve = MRZ_WIP_HEADER + (size_t)REC_MAX_SLOTS * slot_stride();
    if (wfd >= 0 && flock(wfd, LOCK_SH) == 0 && ftruncate(wfd, MRZ_WIP_HEADER) == 0)
        m = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, wfd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        if (wfd >= 0) {
            close(wfd);
            unlink(tmp);
        }
        return -1;
    }
    rec_g.fd = fd;
    rec_g.wip_fd = wfd;
    rec_g.wip = m;
    rec_g.nslots = rec_g.nstreams = 0;
    rec_g.nactive = 0;
    rec_g.free_streams = NULL;
    struct mrz_wip_header *wh = m;
    wh->version = 1;
    wh->pid = rec_g.pid;
    wh->slot_size = REC_SLOT_SIZE;
    memcpy(wh->trace_path, rec_g.path, pl < sizeof wh->trace_path ? pl + 1 : sizeof wh->trace_path - 1);
    barrier();
    wh->magic = MRZ_WIP_MAGIC;
    if (rename(tmp, wip) < 0) {
        munmap(m, reserve);
        close(fd);
        close(wfd);
        unlink(tmp);
        rec_g.wip = NULL;
        return -1;
    }

    /* Tell the launcher where this process writes, so it can complete the
     * trace if the process cannot. */
    const char *session = getenv(MR_ENV_SESSION);
    if (session && *session) {
        int sfd = open(session, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (sfd >= 0) {
            char line[sizeof rec_g.path + 32];
            size_t n = fmt_u(line, rec_g.pid);
            line[n++] = '\t';
            memcpy(line + n, rec_g.path, pl);
            n += pl;
            line[n++] = '\n';
            rec_write_all(sfd, line, n);
            close(sfd);
        }
    }

    pthread_mutex_lock(&rec_g.lock);
    rec_g.meta = stream_new();
    pthread_mutex_unlock(&rec_g.lock);
    return rec_g.meta ? 0 : -1;
}

/* END goes to stream 0; the caller holds no lock. */
void rec_write_end(int how, int value)
{
    pthread_mutex_lock(&rec_g.lock);
    struct rec_stream *m = rec_g.meta;
    if (m) {
        rec_reserve(m, 6 * MRZ_VARINT_MAX + 1);
        struct mrz_framed f;
        uint8_t *p = mrz_framed_begin(&f, m->pos, MRZ_T_END);
        p = mrz_put_uvar(p, rec_ticks());
        p = mrz_put_uvar(p, (uint64_t)how);
        p = mrz_put_uvar(p, (uint64_t)(uint32_t)value);
        p = mrz_put_uvar(p, 0);
        p = mrz_put_uvar(p, rec_now_ns());
        m->pos = mrz_framed_end(&f, p);
        rec_commit(m);
        rec_flush(m);
    }
    pthread_mutex_unlock(&rec_g.lock);
}

void rec_after_fork_child(void)
{
    /* The parent's slots are shared with the parent: drop the mapping and
     * start this process's own trace.  Other threads' streams are copies of
     * the parent's and are simply forgotten. */
    rec_pool_unlock_all(1);
    zq_reset();
    pthread_mutex_init(&rec_g.lock, NULL);
    munmap(rec_g.wip, MRZ_WIP_HEADER + (size_t)REC_MAX_SLOTS * slot_stride());
    close(rec_g.fd);
    close(rec_g.wip_fd);
    rec_g.wip = NULL;
    rec_g.meta = NULL;
    rec_tls.s = NULL;
    rec_g.ppid = rec_g.pid;
    rec_g.pid = (uint32_t)getpid();
    if (!rec_g.follow || rec_open_trace() < 0) {
        rec_g.state = REC_DISABLED;
        return;
    }
    rec_process_record();
    rec_modules_reset();
    rec_modules_scan();
}
