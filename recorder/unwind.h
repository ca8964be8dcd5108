/* unwind.h — the recorder's own stack walker for x86-64.
 *
 * A walk reads each frame's return address with a rule taken from the
 * object's .eh_frame (DWARF CFI): CFA = rsp or rbp + offset, return address
 * at CFA - 8, rbp restored from CFA + offset or unchanged.  Rules are cached
 * per thread by return address, so a walk costs a hash probe and two loads
 * per frame.  Any frame whose rule is not of that shape (signal frames,
 * CFA expressions, code without unwind info) makes the walk give up, and the
 * caller falls back to libunwind's unw_backtrace; tests/unit/unwind_equal
 * checks that both give the same frames.
 *
 * No allocation, no locks, no syscalls on a cache hit. */
#ifndef REC_UNWIND_H
#define REC_UNWIND_H

#include <stdint.h>

#define REC_UNW_CACHE_BITS 12

struct rec_unw_rule {
    uintptr_t ip;       /* return address this rule is for; 0 = empty slot */
    int32_t cfa_off;    /* CFA = (rbp or rsp) + cfa_off */
    int16_t rbp_off;    /* rbp saved at CFA + rbp_off (when REC_UNW_RBP_SAVED) */
    uint8_t kind;       /* enum rec_unw_kind */
    uint8_t flags;
};

enum rec_unw_kind {
    REC_UNW_RSP = 0,    /* CFA = rsp + off */
    REC_UNW_RBP = 1,    /* CFA = rbp + off */
    REC_UNW_END = 2,    /* outermost frame: return address undefined */
    REC_UNW_GIVEUP = 3, /* rule we do not handle: use the fallback */
};
#define REC_UNW_RBP_SAVED 1

#define REC_UNW_MAX 256

/* Where a walk starts: a return address and the registers of its frame. */
struct rec_unw_start { uintptr_t ip, sp, rbp; };

/* Fills st with the frame of the function it is written in: its return
 * address, the caller's stack pointer after the return, the caller's rbp.
 * Forces a frame pointer in that function; use it in the interposed entry
 * point itself, never in something inlined into it. */
#define REC_UNW_HERE(st)                                                       \
    do {                                                                       \
        uintptr_t *fa_ = __builtin_frame_address(0);                           \
        (st).ip = fa_[1];                                                      \
        (st).sp = (uintptr_t)(fa_ + 2);                                        \
        (st).rbp = fa_[0];                                                     \
    } while (0)

/* Per-thread walker state.  Zero-initialised is valid (no cache yet). */
struct rec_unw {
    struct rec_unw_rule *cache;   /* 1 << REC_UNW_CACHE_BITS entries */
    uintptr_t stack_lo, stack_hi; /* this thread's stack, for bounds checks */
    uint32_t tid;                 /* thread the bounds belong to */
    uint32_t gen;                 /* rec_unw_gen when the cache was filled */
    uint64_t reused;              /* walks that kept the last one's outer frames */
    /* The last walk, outermost frame first: frame k was found at stack
     * pointer sp[k] (its return address read from sp[k] - 8) with rbp[k];
     * stepping out of it read the next outer rbp from rbp_slot[k] (where it
     * read none: &rbp[k - 1], so that a check of the slot always passes);
     * needs_rbp[k]: the walk from k outward used that rbp. */
    uint32_t n;
    uint32_t complete;            /* it reached the outermost frame */
    uint32_t same;                /* frames [0, same) are the walk before's */
    uintptr_t ip[REC_UNW_MAX], sp[REC_UNW_MAX], rbp[REC_UNW_MAX], rbp_slot[REC_UNW_MAX];
    uint8_t needs_rbp[REC_UNW_MAX];
    /* frames of the walk in progress, innermost first */
    struct { uintptr_t ip, sp, rbp, rbp_slot; uint32_t flags; } t[REC_UNW_MAX];
};

/** Walks the stack from st outward into u->ip (outermost first), at most
 * max (<= REC_UNW_MAX) frames: the innermost ones when the stack is deeper.
 * Frames whose return address lies in [skip_lo, skip_hi) before the first
 * frame outside it are dropped (the recorder's own frames).  Where a frame
 * has the stack pointer, return address and rbp that the last walk saw, and
 * every stack slot that walk read further out still holds what it read, the
 * last walk's outer part is kept as it is (u->same says how much).
 * @return the number of frames, or -1 when a frame cannot be walked with a
 *         cached rule (the caller then uses unw_backtrace).
 * Precondition: rec_unw_init ran for u on this thread. */
int rec_unwind(struct rec_unw *u, const struct rec_unw_start *st, int max, uintptr_t skip_lo, uintptr_t skip_hi);

/** Prepares u for the calling thread: maps the rule cache (once) and reads
 * the thread's stack bounds.  Call on the thread that will walk.
 * @return 0, or -1 when no cache could be mapped (walks then fail). */
int rec_unw_init(struct rec_unw *u, uint32_t tid);

/** Forgets every cached rule in every thread (after dlclose: code may have
 * gone, and another object may load at its address). */
void rec_unw_invalidate(void);

extern volatile uint32_t rec_unw_gen;

#endif
