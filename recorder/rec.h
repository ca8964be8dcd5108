/* rec.h — internals of libmallocrec.so shared by its files.
 *
 * Rules that hold everywhere in the recorder: no stdio, no allocation through
 * the public malloc (memory comes from rec_mmap), no lock on the per-event
 * path, and every entry point sets the thread's busy flag so that whatever
 * libc, libunwind or zstd allocate on our behalf is passed straight through. */
#ifndef REC_H
#define REC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../format/common/options.h"
#include "../format/mrz.h"
#include "unwind.h"

#define REC_EXPORT __attribute__((visibility("default")))
#define REC_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ volatile("" ::: "memory")

#define REC_SLOT_SIZE (256u << 10)   /* bytes of records per chunk */
#define REC_MAX_STREAMS 4096         /* streams alive at once */
#define REC_MAX_SLOTS (2 * REC_MAX_STREAMS) /* a stream fills one while the other is compressed */
#define REC_MAX_DEPTH 256

/* One stream: a slot of the spill file plus the private state that encodes
 * into it.  A stream outlives the thread that used it: when a thread exits
 * its stream goes back to a free list and the next new thread continues it
 * (a THREAD record marks the change), so stack nodes are defined once. */
struct rec_stream {
    struct mrz_slot *slot;
    uint8_t *pos, *end;         /* write cursor; end leaves room for one hot record */
    struct mrz_delta delta;
    uint32_t id;
    uint32_t tid;
    /* stack table: (parent, ip) -> id, open addressing */
    struct rec_node *nodes;
    uint32_t node_cap, node_n;  /* node_n = ids defined so far */
    struct rec_node *node_memo; /* recent lookups (stacks.c) */
    /* the previous stack, outermost first, with its node ids */
    uint32_t prev_n;
    uintptr_t prev_ip[REC_MAX_DEPTH];
    uint32_t prev_id[REC_MAX_DEPTH];
    uint32_t region_depth;
    uint32_t state_len;         /* bytes of the STREAM_STATE opening the slot */
    struct rec_stream *next_free;
    /* hot-path state of preload.c: recent pointers for the encoder, the
     * stack walker, the --sample countdown */
    struct mrz_ref_cache *refs;
    /* the second slot and its columns, filled while the compressor thread
     * takes the first (stream.c); NULL until a chunk is handed over */
    struct mrz_slot *spare;
    struct mrz_ref_cache *spare_refs;
    volatile int handed;        /* the spare holds a chunk the compressor has not written yet */
    int64_t sample_left;
    uint64_t sample_rng;
    int sample_armed;
    struct rec_unw unw;
};

struct rec_node { uintptr_t ip; uint32_t parent, id; };

/* Per-thread state: one initial-exec TLS block, zero at thread start. */
struct rec_tls {
    struct rec_stream *s;
    volatile int busy;          /* inside the recorder: pass calls through */
    int dead;                   /* stream released at thread exit */
};
extern __thread struct rec_tls rec_tls __attribute__((tls_model("initial-exec")));

enum rec_state { REC_UNINIT = 0, REC_INITIALIZING, REC_READY, REC_DISABLED };

struct rec_global {
    volatile int state;
    int stack_depth, no_stacks, follow, level;
    volatile int paused;        /* global pause (API and --start-paused) */
    uint32_t pid, ppid;
    int fd;                     /* trace, O_APPEND */
    char path[4096];
    uint8_t *wip;               /* the spill file mapping (REC_MAX_SLOTS reserved) */
    int wip_fd;
    uint32_t nslots, nstreams;
    int ncpu;                   /* CPUs this process may run on */
    int nactive;                /* streams held by live threads */
    struct rec_stream *free_streams;
    pthread_mutex_t lock;       /* slots, free list, stream 0, modules */
    struct rec_stream *meta;    /* stream 0 */
    uintptr_t self_lo, self_hi; /* our own text, skipped in stacks */
    pthread_key_t key;
    int exit_status, have_exit_status;
    uint64_t tick_hz;
};
extern struct rec_global rec_g;

/* stream.c (stacks.c for the stack table) */
REC_HIDDEN int rec_open_trace(void);
REC_HIDDEN struct rec_stream *rec_stream_acquire(void);
REC_HIDDEN void rec_stream_release(struct rec_stream *s);
REC_HIDDEN void rec_flush(struct rec_stream *s);
/** Waits (a few seconds at most) until the compressor thread has written
 * every chunk handed to it. */
REC_HIDDEN void rec_flush_wait(void);
/** The columns a stream's encoder fills beside the records at rows. */
REC_HIDDEN struct mrz_ref_cache *rec_refs_new(uint8_t *rows);
/* ip: the stack outermost frame first; the first `same` frames are known
 * to equal the previous call's.  @return the innermost node's id. */
REC_HIDDEN uint32_t rec_stack_intern(struct rec_stream *s, const uintptr_t *ip, int n, int same);
REC_HIDDEN int rec_stack_table_init(struct rec_stream *s, uint32_t cap);
REC_HIDDEN void *rec_mmap(size_t n);
REC_HIDDEN void rec_munmap(void *p, size_t n);
REC_HIDDEN uint64_t rec_now_ns(void);
REC_HIDDEN void rec_write_end(int how, int value);
REC_HIDDEN void rec_thread_record(struct rec_stream *s, unsigned type);
REC_HIDDEN void rec_after_fork_child(void);
REC_HIDDEN void rec_pool_lock_all(void);
REC_HIDDEN void rec_pool_unlock_all(int reinit);

/* Inline: both run once per event. */
/** Makes room for n bytes of records at s->pos, flushing the chunk if needed. */
static inline void rec_reserve(struct rec_stream *s, size_t n)
{
    if (unlikely((size_t)(s->end - s->pos) < n))
        rec_flush(s);
}

/** Publishes the records written up to s->pos.  The record's bytes must be
 * in the slot before `used` covers them: a SIGKILL between the two then
 * loses only the record being written. */
static inline void rec_commit(struct rec_stream *s)
{
    barrier();
    s->slot->used = (uint64_t)(s->pos - s->slot->data);
}

/* modules.c */
REC_HIDDEN void rec_modules_scan(void);
REC_HIDDEN void rec_modules_reset(void);
/* Rescans when an object was loaded or unloaded since the last scan.  With
 * wait 0 it gives up when rec_g.lock is taken: the chunk flushes that call
 * it may run inside the loader (a dl_iterate_phdr callback that allocates),
 * where waiting for a thread that scans could deadlock. */
REC_HIDDEN void rec_modules_check(int wait);
/* a dlopen began at tick t: what the next scan finds was loaded from then */
REC_HIDDEN void rec_modules_note_load(uint64_t t);
/* Scans if a dlopen let through untouched may have loaded something: called
 * by dlsym on a library handle, which follows most dlopens. */
REC_HIDDEN void rec_modules_after_dlopen(void);
REC_HIDDEN void rec_self_range(void);

/* sample.c: --sample BYTES (rec_sample_bytes = 0 when off) */
REC_HIDDEN extern uint64_t rec_sample_bytes;
REC_HIDDEN void rec_sample_init(void);
REC_HIDDEN int rec_sample_take_slow(struct rec_stream *s, size_t n);
REC_HIDDEN void rec_sample_add(uintptr_t p);
/* @return 1 if p was recorded (and forgets it) */
REC_HIDDEN int rec_sample_remove(uintptr_t p);
/* the OPTIONS record (sampling, stack depth) into m; caller holds the lock */
REC_HIDDEN void rec_options_record(struct rec_stream *m);
/* @return 1 when an allocation of n bytes is to be recorded */
static inline int rec_sample_take(struct rec_stream *s, size_t n)
{
    if (__builtin_expect((s->sample_left -= (int64_t)(n ? n : 1)) > 0, 1))
        return 0;
    return rec_sample_take_slow(s, n);
}

/* lifecycle.c */
REC_HIDDEN void rec_process_record(void);
REC_HIDDEN void rec_init(void);
REC_HIDDEN void rec_thread_dtor(void *arg);

/* api.c: the stream's id for a name, writing its STRING record on first use
 * (stream-scoped ids; every STRING of the recorder goes through here).
 * Precondition: s is the calling thread's stream, busy set. */
REC_HIDDEN uint32_t rec_string_id(struct rec_stream *s, const char *name, size_t n);

/* preload.c: entry, exit and the stack for events recorded in other files
 * (cuda.c), with the malloc family's discipline.  rec_enter returns the
 * stream with busy set, or NULL to pass through; rec_leave ends it. */
REC_HIDDEN struct rec_stream *rec_enter(void);
REC_HIDDEN void rec_leave(void);
/* the caller's stack (outside the recorder) as a node id; 0 without stacks */
REC_HIDDEN uint32_t rec_stack_id(struct rec_stream *s);

/* cuda.c: CUDA allocations.  rec_cuda_init runs from rec_init (before the
 * program's threads); rec_cuda_scan after a dlopen (finds and patches what
 * new objects define; cheap when nothing changed). */
REC_HIDDEN void rec_cuda_init(void);
REC_HIDDEN void rec_cuda_scan(void);

/* The trace's clock: the TSC in units of 2^REC_TICK_SHIFT cycles (64 to
 * 256 ns on 1 to 4 GHz counters, about 100 ns on common ones).  Lifetimes
 * and timelines need no finer time, and the dropped bits are bytes: 3.21
 * bytes per event on alloc_storm against 3.56 in units of 16 cycles (py_work
 * 0.61 against 0.88), where units of 1024 would save only 0.1 more while
 * putting more events of one address on two threads into one unit.  Such
 * events (a block freed by another thread within the unit of its
 * allocation) are ordered by the reader by what is live (format/SPEC.md,
 * 9.3).  tick_hz (calibrated with this function) is in the same units. */
#define REC_TICK_SHIFT 8

static inline uint64_t rec_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32 | lo) >> REC_TICK_SHIFT;
#else
    return rec_now_ns();
#endif
}

/* Lowest-level write: loops over partial writes and EINTR. */
REC_HIDDEN int rec_write_all(int fd, const void *p, size_t n);

#endif
