/* The program-facing API of include/mallocrec.h, as the recorder implements
 * it: recording windows and pause, regions, marks and labels, each written
 * into the calling thread's stream.
 *
 * None of this is on the allocation path; it still follows the recorder's
 * rules (no stdio, no malloc) and enters like the malloc family does
 * (rec_enter), because a program may call it from anywhere. */
#include <string.h>

#include "../include/mallocrec.h"
#include "rec.h"

/* Longest name kept; longer ones are cut (a name is a label, not data). */
#define NAME_MAX_LEN 1024

/* ------------------------------------------------------------ strings */

/* STRING ids are scoped to a stream: each stream remembers the names it has
 * defined, so a name used in a loop costs one STRING record per stream.  A
 * stream only ever runs on one thread at a time, which owns its cache. */
#define NAME_SLOTS 1024u               /* power of two */
#define NAME_BYTES (64u << 10)

struct name_slot { uint64_t hash; uint32_t id, off, len; };

struct name_cache {
    uint32_t pid;          /* a cache from before a fork is not this trace's */
    uint32_t used, bytes;
    struct name_slot slot[NAME_SLOTS];
    char text[NAME_BYTES];
};

/* Indexed by stream id; next_id outlives a cache that is cleared when full,
 * so an id is never defined twice in a stream. */
static struct name_cache *caches[REC_MAX_STREAMS];
static uint32_t next_ids[REC_MAX_STREAMS];
static uint32_t next_ids_pid[REC_MAX_STREAMS];

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h | 1; /* 0 marks an empty slot */
}

static uint32_t new_id(uint32_t stream)
{
    if (next_ids_pid[stream] != rec_g.pid) {
        next_ids_pid[stream] = rec_g.pid;
        next_ids[stream] = 0;
    }
    return ++next_ids[stream];
}

static void write_string(struct rec_stream *s, uint32_t id, const char *name, size_t n)
{
    rec_reserve(s, 1 + 3 * MRZ_VARINT_MAX + n);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, s->pos, MRZ_T_STRING);
    p = mrz_put_uvar(p, id);
    p = mrz_put_str(p, name, n);
    s->pos = mrz_framed_end(&f, p);
    rec_commit(s);
}

uint32_t rec_string_id(struct rec_stream *s, const char *name, size_t n)
{
    uint32_t sid = s->id < REC_MAX_STREAMS ? s->id : 0;
    struct name_cache *c = caches[sid];
    if (!c || c->pid != rec_g.pid) {
        c = rec_mmap(sizeof *c); /* a pre-fork cache is the parent's memory: left as is */
        if (c)
            c->pid = rec_g.pid;
        caches[sid] = c;
    }
    if (!c) {
        uint32_t id = new_id(sid);
        write_string(s, id, name, n);
        return id;
    }
    uint64_t h = name_hash(name, n);
    uint32_t j = (uint32_t)(h >> 20) & (NAME_SLOTS - 1);
    for (; c->slot[j].hash; j = (j + 1) & (NAME_SLOTS - 1)) {
        struct name_slot *e = &c->slot[j];
        if (e->hash == h && e->len == n && !memcmp(c->text + e->off, name, n))
            return e->id;
    }
    if (c->used * 4 >= NAME_SLOTS * 3 || c->bytes + n > NAME_BYTES) {
        /* full: forget every name (they are defined again on next use) */
        memset(c->slot, 0, sizeof c->slot);
        c->used = c->bytes = 0;
        j = (uint32_t)(h >> 20) & (NAME_SLOTS - 1);
    }
    uint32_t id = new_id(sid);
    memcpy(c->text + c->bytes, name, n);
    c->slot[j] = (struct name_slot){h, id, c->bytes, (uint32_t)n};
    c->bytes += (uint32_t)n;
    c->used++;
    write_string(s, id, name, n);
    return id;
}

static size_t name_len(const char *name)
{
    return name ? strnlen(name, NAME_MAX_LEN) : 0;
}

/* A framed record of type with [time,] string id. */
static void named_record(unsigned type, int timed, const char *name)
{
    struct rec_stream *s = rec_enter();
    if (!s)
        return;
    size_t n = name_len(name);
    uint32_t id = rec_string_id(s, name ? name : "", n);
    rec_reserve(s, 1 + 3 * MRZ_VARINT_MAX);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, s->pos, type);
    if (timed)
        p = mrz_put_uvar(p, rec_ticks());
    p = mrz_put_uvar(p, id);
    s->pos = mrz_framed_end(&f, p);
    rec_commit(s);
    if (type == MRZ_T_REGION_BEGIN)
        s->region_depth++;
    rec_leave();
}

/* ------------------------------------------------------------ recording on/off */

/* RECORDING marks each change of the process-wide switch, in the stream of
 * the thread that flipped it. */
static void recording_record(int on)
{
    struct rec_stream *s = rec_enter();
    if (!s)
        return;
    rec_reserve(s, 1 + 3 * MRZ_VARINT_MAX);
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, s->pos, MRZ_T_RECORDING);
    p = mrz_put_uvar(p, rec_ticks());
    p = mrz_put_uvar(p, (uint64_t)on);
    s->pos = mrz_framed_end(&f, p);
    rec_commit(s);
    rec_leave();
}

static void set_recording(int on)
{
    int was_paused = __atomic_exchange_n(&rec_g.paused, !on, __ATOMIC_SEQ_CST);
    if ((was_paused != 0) == on)
        recording_record(on);
}

/* Open windows: their indices (0 = free slot) and how many are open. */
#define MAX_WINDOWS 1024
static uint64_t windows[MAX_WINDOWS];
static uint64_t windows_open, window_next;

static void window_opened(void)
{
    if (__atomic_fetch_add(&windows_open, 1, __ATOMIC_SEQ_CST) == 0)
        set_recording(1);
}

static uint64_t window_closed(void)
{
    uint64_t left = __atomic_sub_fetch(&windows_open, 1, __ATOMIC_SEQ_CST);
    if (left == 0)
        set_recording(0);
    return left;
}

REC_EXPORT int mallocrec_attached(void) { return rec_g.state == REC_READY; }

REC_EXPORT void mallocrec_pause(void) { set_recording(0); }

REC_EXPORT void mallocrec_resume(void) { set_recording(1); }

REC_EXPORT uint64_t mallocrec_start(void)
{
    uint64_t idx = __atomic_add_fetch(&window_next, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < MAX_WINDOWS; i++) {
        uint64_t zero = 0;
        if (__atomic_compare_exchange_n(&windows[i], &zero, idx, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            window_opened();
            return idx;
        }
    }
    return 0; /* too many open windows: none opened */
}

REC_EXPORT uint64_t mallocrec_stop(uint64_t idx)
{
    for (int i = 0; idx && i < MAX_WINDOWS; i++) {
        uint64_t want = idx;
        if (__atomic_compare_exchange_n(&windows[i], &want, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return window_closed();
    }
    return __atomic_load_n(&windows_open, __ATOMIC_SEQ_CST);
}

REC_EXPORT void mallocrec_register(void) { window_opened(); }

REC_EXPORT void mallocrec_deregister(void)
{
    uint64_t n = __atomic_load_n(&windows_open, __ATOMIC_SEQ_CST);
    while (n && !__atomic_compare_exchange_n(&windows_open, &n, n - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    if (n == 1)
        set_recording(0);
}

/* ------------------------------------------------------------ regions, marks, labels */

REC_EXPORT void mallocrec_region_begin(const char *name) { named_record(MRZ_T_REGION_BEGIN, 1, name); }

REC_EXPORT void mallocrec_region_end(void)
{
    struct rec_stream *s = rec_enter();
    if (!s)
        return;
    if (s->region_depth) {
        s->region_depth--;
        rec_reserve(s, 1 + 2 * MRZ_VARINT_MAX);
        struct mrz_framed f;
        uint8_t *p = mrz_framed_begin(&f, s->pos, MRZ_T_REGION_END);
        p = mrz_put_uvar(p, rec_ticks());
        s->pos = mrz_framed_end(&f, p);
        rec_commit(s);
    }
    rec_leave();
}

REC_EXPORT void mallocrec_mark(const char *name) { named_record(MRZ_T_MARK, 1, name); }

REC_EXPORT void mallocrec_label_next(const char *name)
{
    /* while paused, or when sampling, the thread's next allocation may not
     * be recorded: a label written now would tag a later one */
    if (!rec_g.paused && !rec_sample_bytes)
        named_record(MRZ_T_LABEL_NEXT, 0, name);
}
