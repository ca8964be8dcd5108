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

#define REC_EXPORT __attribute__((visibility("default")))
#define REC_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ volatile("" ::: "memory")

#define REC_SLOT_SIZE (256u << 10)   /* bytes of records per chunk */
#define REC_MAX_SLOTS 4096           /* streams alive at once */
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
    /* the previous stack, innermost first, with its node ids */
    uint32_t prev_n;
    uintptr_t prev_ip[REC_MAX_DEPTH];
    uint32_t prev_id[REC_MAX_DEPTH];
    uint32_t region_depth;
    struct rec_stream *next_free;
};

struct rec_node { uintptr_t ip; uint32_t parent, id; };

/* Per-thread state: one initial-exec TLS block, zero at thread start. */
struct rec_tls {
    struct rec_stream *s;
    volatile int busy;          /* inside the recorder: pass calls through */
    int dead;                   /* stream released at thread exit */
    int paused;                 /* per-thread pause depth (API) */
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
    uint32_t nslots;
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
REC_HIDDEN void rec_reserve(struct rec_stream *s, size_t n);
REC_HIDDEN uint32_t rec_stack_intern(struct rec_stream *s, const uintptr_t *ip, int n);
REC_HIDDEN int rec_stack_table_init(struct rec_stream *s, uint32_t cap);
REC_HIDDEN void rec_commit(struct rec_stream *s);
REC_HIDDEN void *rec_mmap(size_t n);
REC_HIDDEN void rec_munmap(void *p, size_t n);
REC_HIDDEN uint64_t rec_now_ns(void);
REC_HIDDEN void rec_write_end(int how, int value);
REC_HIDDEN void rec_thread_record(struct rec_stream *s, unsigned type);
REC_HIDDEN void rec_after_fork_child(void);
REC_HIDDEN void rec_pool_lock_all(void);
REC_HIDDEN void rec_pool_unlock_all(int reinit);

/* modules.c */
REC_HIDDEN void rec_modules_scan(void);
REC_HIDDEN void rec_modules_reset(void);
REC_HIDDEN void rec_self_range(void);

/* lifecycle.c */
REC_HIDDEN void rec_process_record(void);
REC_HIDDEN void rec_init(void);
REC_HIDDEN void rec_thread_dtor(void *arg);

static inline uint64_t rec_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
#else
    return rec_now_ns();
#endif
}

/* Lowest-level write: loops over partial writes and EINTR. */
REC_HIDDEN int rec_write_all(int fd, const void *p, size_t n);

#endif
