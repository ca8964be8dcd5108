/* The reading half of the format: file and chunk framing, damage recovery,
 * and the record decoder shared by every mallocan subcommand. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "mrz.h"

/* A set of nonzero 64-bit keys, open addressing: the chunks a reader has
 * taken (so a chunk written twice counts once) and a census's thread ids. */
struct u64_set { uint64_t *v; size_t n, cap; };

/* @return 1 when key (nonzero) was added, 0 when it was there, MRZ_ENOMEM. */
static int u64_set_add(struct u64_set *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 64;
        uint64_t *v = calloc(ncap, sizeof *v);
        if (!v)
            return MRZ_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i])
                continue;
            size_t h = (s->v[i] * 0x9e3779b97f4a7c15ull) >> 20 & (ncap - 1);
            while (v[h])
                h = (h + 1) & (ncap - 1);
            v[h] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = ncap;
    }
    size_t h = (key * 0x9e3779b97f4a7c15ull) >> 20 & (s->cap - 1);
    for (; s->v[h]; h = (h + 1) & (s->cap - 1))
        if (s->v[h] == key)
            return 0;
    s->v[h] = key;
    s->n++;
    return 1;
}

struct mrz_reader {
    int fd;
    const uint8_t *map;
    uint64_t size, pos;
    uint32_t pid;
    uint16_t major, minor;
    ZSTD_DCtx *dctx;
    uint8_t *buf;
    size_t cap;
    struct u64_set seen;     /* (stream << 32 | seq) + 1 of the chunks taken */
    uint64_t damage_at, skipped;
};

int mrz_reader_open(const char *path, struct mrz_reader **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MRZ_EIO;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return MRZ_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return MRZ_EIO;
    }
    if (st.st_size == 0) {
        close(fd);
        return MRZ_EEMPTY;
    }
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    ssize_t n = pread(fd, h, sizeof h, 0);
    int err = 0;
    if (n < 0)
        err = MRZ_EIO;
    else if ((size_t)n < MRZ_MAGIC_LEN || memcmp(h, MRZ_MAGIC, MRZ_MAGIC_LEN))
        err = MRZ_ENOTMRZ;
    else if ((size_t)n < sizeof h)
        err = MRZ_ETRUNC;
    else if (mrz_get_le16(h + 8) > MRZ_VERSION_MAJOR)
        err = MRZ_EVERSION;
    else if (mrz_get_le32(h + 28) != mrz_crc32c(0, h, 28) || mrz_get_le32(h + 12) < MRZ_FILE_HEADER_SIZE ||
             mrz_get_le32(h + 12) > (uint64_t)st.st_size)
        err = MRZ_ECORRUPT;
    if (err) {
        close(fd);
        return err;
    }
    struct mrz_reader *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return MRZ_ENOMEM;
    }
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    r->map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (r->map == MAP_FAILED) {
        close(fd);
        free(r);
        return MRZ_EIO;
    }
    madvise((void *)r->map, r->size, MADV_SEQUENTIAL);
    r->pid = mrz_get_le32(h + 16);
    r->major = mrz_get_le16(h + 8);
    r->minor = mrz_get_le16(h + 10);
    r->pos = mrz_get_le32(h + 12);
    r->damage_at = UINT64_MAX;
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) {
        mrz_reader_close(r);
        return MRZ_ENOMEM;
    }
    *out = r;
    return 0;
}

void mrz_reader_close(struct mrz_reader *r)
{
    if (!r)
        return;
    if (r->map && r->map != MAP_FAILED)
        munmap((void *)r->map, r->size);
    close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    free(r->buf);
    free(r->seen.v);
    free(r);
}

uint32_t mrz_reader_pid(const struct mrz_reader *r) { return r->pid; }
uint64_t mrz_reader_file_size(const struct mrz_reader *r) { return r->size; }
void mrz_reader_version(const struct mrz_reader *r, unsigned *major, unsigned *minor)
{
    *major = r->major;
    *minor = r->minor;
}

uint64_t mrz_reader_damage(const struct mrz_reader *r, uint64_t *skipped)
{
    if (skipped)
        *skipped = r->skipped;
    return r->damage_at;
}

void mrz_reader_rewind(struct mrz_reader *r)
{
    r->pos = mrz_get_le32(r->map + 12);
    r->seen.n = 0;
    if (r->seen.v)
        memset(r->seen.v, 0, r->seen.cap * sizeof *r->seen.v);
    r->damage_at = UINT64_MAX;
    r->skipped = 0;
}

/* @return 1 if (stream, seq) was already seen, 0 after inserting it (or
 * when out of memory: without the set duplicates are merely not dropped). */
static int seen_insert(struct mrz_reader *r, uint32_t stream, uint32_t seq)
{
    return u64_set_add(&r->seen, ((uint64_t)stream << 32 | seq) + 1) == 0;
}

/* Validates the chunk header at off.  @return 1 good, 0 bad, -1 a good header
 * whose payload runs past the end of the file (a truncated tail). */
static int header_ok(const uint8_t *map, uint64_t size, uint64_t off, struct mrz_chunk_info *ci)
{
    if (size - off < MRZ_CHUNK_HEADER_SIZE)
        return 0;
    const uint8_t *h = map + off;
    if (mrz_get_le32(h) != MRZ_CHUNK_MAGIC || mrz_get_le32(h + 40) != mrz_crc32c(0, h, 40))
        return 0;
    ci->codec = h[4];
    ci->flags = h[5];
    ci->stream = mrz_get_le32(h + 8);
    ci->seq = mrz_get_le32(h + 12);
    ci->payload_len = mrz_get_le32(h + 16);
    ci->raw_len = mrz_get_le32(h + 20);
    ci->base_ticks = mrz_get_le64(h + 24);
    ci->base_ns = mrz_get_le64(h + 32);
    if (ci->codec > MRZ_CODEC_COLS || ci->raw_len > MRZ_CHUNK_RAW_MAX || mrz_get_le16(h + 6) ||
        ci->stream >= MRZ_STREAM_MAX)
        return 0;
    if (ci->payload_len > size - off - MRZ_CHUNK_HEADER_SIZE)
        return -1;
    return 1;
}

/* Drops the whole pages of a compressed payload once read, so the reader's
 * resident memory stays near one chunk instead of the whole mapped file. */
static void release_pages(const uint8_t *p, size_t n)
{
    uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, hi = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Checks and decodes the payload of a validated header into *buf. */
static int load_payload(ZSTD_DCtx *dctx, const uint8_t *map, uint64_t off, const struct mrz_chunk_info *ci,
                        uint8_t **buf, size_t *cap, const uint8_t **raw, int verify)
{
    const uint8_t *payload = map + off + MRZ_CHUNK_HEADER_SIZE;
    if (verify && mrz_get_le32(map + off + 44) != mrz_crc32c(0, payload, ci->payload_len))
        return MRZ_ECORRUPT;
    if (ci->codec == MRZ_CODEC_RAW) {
        if (ci->payload_len != ci->raw_len)
            return MRZ_ECORRUPT;
        *raw = payload;
        return 0;
    }
    if (ci->codec == MRZ_CODEC_COLS) {
        int e = mrz_cols_load(dctx, payload, ci->payload_len, ci->raw_len, buf, cap, raw);
        release_pages(payload, ci->payload_len);
        return e;
    }
    if (*cap < ci->raw_len || !*buf) {
        size_t ncap = ci->raw_len > 65536 ? ci->raw_len : 65536;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return MRZ_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    size_t n = ZSTD_decompressDCtx(dctx, *buf, ci->raw_len, payload, ci->payload_len);
    release_pages(payload, ci->payload_len);
    if (ZSTD_isError(n) || n != ci->raw_len)
        return MRZ_ECORRUPT;
    *raw = *buf;
    return 0;
}

static void note_damage(struct mrz_reader *r, uint64_t at)
{
    if (r->damage_at == UINT64_MAX)
        r->damage_at = at;
}

static int next_impl(struct mrz_reader *r, struct mrz_chunk *c, int load)
{
    while (r->pos < r->size) {
        uint64_t off = r->pos;
        int ok = header_ok(r->map, r->size, off, &c->info);
        if (ok == 0 && r->size - off < MRZ_CHUNK_HEADER_SIZE) {
            note_damage(r, off); /* truncated tail */
            r->skipped += r->size - off;
            r->pos = r->size;
            return 0;
        }
        if (ok == 1) {
            const uint8_t *raw = NULL;
            int crc_ok = mrz_get_le32(r->map + off + 44) ==
                         mrz_crc32c(0, r->map + off + MRZ_CHUNK_HEADER_SIZE, c->info.payload_len);
            if (!load && c->info.codec != MRZ_CODEC_RAW)
                release_pages(r->map + off + MRZ_CHUNK_HEADER_SIZE, c->info.payload_len);
            int e = crc_ok ? 0 : MRZ_ECORRUPT;
            if (crc_ok && load)
                e = load_payload(r->dctx, r->map, off, &c->info, &r->buf, &r->cap, &raw, 0);
            if (e == MRZ_ENOMEM)
                return e;
            if (e != 0 && crc_ok) {
                /* Whole and checksummed but its content does not decode:
                 * skip exactly this chunk, as the indexing pass (which does
                 * not decode) does, so both passes see the same chunks. */
                note_damage(r, off);
                r->skipped += MRZ_CHUNK_HEADER_SIZE + c->info.payload_len;
                r->pos = off + MRZ_CHUNK_HEADER_SIZE + c->info.payload_len;
                continue;
            }
            if (e == 0) {
                r->pos = off + MRZ_CHUNK_HEADER_SIZE + c->info.payload_len;
                if (seen_insert(r, c->info.stream, c->info.seq))
                    continue;
                c->offset = off;
                c->raw = raw;
                c->raw_len = c->info.raw_len;
                return 1;
            }
        }
        /* Damage: resynchronise on the next valid chunk header whose payload
         * fits.  A header whose payload runs past the end (ok == -1) is not
         * necessarily the tail: a chunk cut short by a killed process may be
         * followed by the chunks salvage appended after it. */
        note_damage(r, off);
        uint64_t p = off + 1;
        struct mrz_chunk_info tmp;
        for (; p + MRZ_CHUNK_HEADER_SIZE <= r->size; p++) {
            const uint8_t *m = memchr(r->map + p, 'M', r->size - p);
            if (!m)
                break;
            p = (uint64_t)(m - r->map);
            if (header_ok(r->map, r->size, p, &tmp) == 1)
                break;
        }
        if (p + MRZ_CHUNK_HEADER_SIZE > r->size)
            p = r->size;
        r->skipped += p - off;
        r->pos = p;
    }
    return 0;
}

int mrz_reader_next(struct mrz_reader *r, struct mrz_chunk *c) { return next_impl(r, c, 1); }
int mrz_reader_next_header(struct mrz_reader *r, struct mrz_chunk *c) { return next_impl(r, c, 0); }

void *mrz_dctx_new(void) { return ZSTD_createDCtx(); }
void mrz_dctx_free(void *dctx) { ZSTD_freeDCtx(dctx); }

int mrz_reader_chunk_at(const struct mrz_reader *r, uint64_t offset, void *dctx, struct mrz_chunk *c,
                        uint8_t **scratch, size_t *scratch_cap)
{
    if (offset >= r->size || header_ok(r->map, r->size, offset, &c->info) != 1)
        return MRZ_ECORRUPT;
    const uint8_t *raw;
    int e = load_payload(dctx, r->map, offset, &c->info, scratch, scratch_cap, &raw, 1);
    if (e)
        return e;
    c->offset = offset;
    c->raw = raw;
    c->raw_len = c->info.raw_len;
    return 1;
}

/* ------------------------------------------------------------------ records */

#define GETU(x) do { if (mrz_get_uvar(&p, end, &(x))) return MRZ_ETRUNC; } while (0)
#define GETS(x) do { int64_t s_; if (mrz_get_svar(&p, end, &s_)) return MRZ_ETRUNC; (x) = (uint64_t)s_; } while (0)
/* A pointer reference (format/mrz_codec.h): the k-th latest pointer of the
 * other side's ring, or an explicit Δptr. */
#define GETREF(ring, n)                                                         \
    do {                                                                        \
        uint64_t k_;                                                            \
        GETU(k_);                                                               \
        if (k_ == 0) {                                                          \
            GETS(k_);                                                           \
            d->ptr += k_;                                                       \
        } else {                                                                \
            if (k_ > (n) || k_ > MRZ_RING)                                      \
                return MRZ_ECORRUPT;                                            \
            d->ptr = (ring)[((n) - k_) & (MRZ_RING - 1)];                       \
        }                                                                       \
        r->ptr = d->ptr;                                                        \
    } while (0)

static int get_str(const uint8_t **pp, const uint8_t *end, struct mrz_str *s)
{
    uint64_t n;
    if (mrz_get_uvar(pp, end, &n) || n > (uint64_t)(end - *pp))
        return -1;
    s->s = (const char *)*pp;
    s->n = (uint32_t)n;
    *pp += n;
    return 0;
}

/* Decodes the fixed fields of a known framed body; extra bytes are allowed
 * (a later minor version may append fields). */
static int decode_framed(const uint8_t *p, const uint8_t *end, struct mrz_rec *r)
{
#define U(x) do { if (mrz_get_uvar(&p, end, &(x))) return MRZ_ECORRUPT; } while (0)
#define S(x) do { if (get_str(&p, end, &(x))) return MRZ_ECORRUPT; } while (0)
    switch (r->type) {
    case MRZ_T_PROCESS: U(r->a); U(r->b); U(r->c); U(r->d); U(r->e); U(r->time); S(r->str); break;
    case MRZ_T_MODULE: U(r->time); U(r->a); U(r->b); S(r->str); S(r->str2); break;
    case MRZ_T_MODULE_UNLOAD: case MRZ_T_THREAD: case MRZ_T_THREAD_EXIT: case MRZ_T_MARK:
    case MRZ_T_REGION_BEGIN: case MRZ_T_RECORDING:
        U(r->time); U(r->a); break;
    case MRZ_T_THREAD_NAME: case MRZ_T_STRING: U(r->a); S(r->str); break;
    case MRZ_T_REGION_END: U(r->time); break;
    case MRZ_T_LABEL_NEXT: U(r->a); break;
    case MRZ_T_OPTIONS: U(r->time); U(r->a); U(r->b); break;
    case MRZ_T_STREAM_STATE: U(r->a); break;
    case MRZ_T_LOST: U(r->time); U(r->a); U(r->b); break;
    case MRZ_T_END: U(r->time); U(r->a); U(r->b); U(r->c); U(r->d); break;
    default: break; /* unknown: the caller skips it */
    }
    r->tail = p;
    return 1;
#undef U
#undef S
}

int mrz_decode(const uint8_t **pp, const uint8_t *end, struct mrz_delta *d, struct mrz_rec *r)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    uint8_t t = *p++;
    r->type = t;
    uint64_t u;
    if (t >= MRZ_T_FRAMED_MIN) {
        uint64_t n;
        if (mrz_get_uvar(&p, end, &n))
            return MRZ_ETRUNC;
        if (n > (uint64_t)(end - p))
            return MRZ_ETRUNC;
        r->body = p;
        r->body_len = (uint32_t)n;
        /* no stale values from an earlier record in fields this type lacks */
        r->time = r->a = r->b = r->c = r->d = r->e = r->f = 0;
        r->str = r->str2 = (struct mrz_str){"", 0};
        int e = decode_framed(p, p + n, r);
        if (e < 0)
            return e;
        *pp = p + n;
        return 1;
    }
    if (t >= 1 && t <= MRZ_K_MAX) {
        GETU(u); d->time += u; r->time = d->time;
        GETREF(d->ring_free, d->nfree);
        GETU(r->size);
        GETU(r->stack);
        r->align = 0;
        if (mrz_kind_has_align(t))
            GETU(r->align);
        r->space = MRZ_S_HOST;
        d->ring_alloc[d->nalloc++ & (MRZ_RING - 1)] = d->ptr;
    } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
        GETU(u); d->time += u; r->time = d->time;
        GETREF(d->ring_alloc, d->nalloc);
        r->space = MRZ_S_HOST;
        d->ring_free[d->nfree++ & (MRZ_RING - 1)] = d->ptr;
    } else if (t == MRZ_T_STACK) {
        GETU(u);
        if (u == 0)
            return MRZ_ECORRUPT;
        r->stack = u; /* id - parent: the caller knows the id */
        GETS(u); d->ip += u; r->ip = d->ip;
    } else if (t == MRZ_T_CUDA_ALLOC) {
        uint64_t sp, dev;
        GETU(u); d->time += u; r->time = d->time;
        GETU(sp); GETU(dev);
        GETS(u); d->ptr += u; r->ptr = d->ptr;
        GETU(r->size); GETU(r->stack); GETU(r->result); GETU(r->cuda_stream);
        r->space = (uint32_t)sp;
        r->device = (uint32_t)dev;
    } else if (t == MRZ_T_CUDA_FREE) {
        uint64_t sp, dev;
        GETU(u); d->time += u; r->time = d->time;
        GETU(sp); GETU(dev);
        GETS(u); d->ptr += u; r->ptr = d->ptr;
        GETU(r->result);
        r->space = (uint32_t)sp;
        r->device = (uint32_t)dev;
    } else {
        return MRZ_ECORRUPT; /* 0x00 or a reserved hot type */
    }
    *pp = p;
    return 1;
}

int mrz_module_segments(const struct mrz_rec *r, struct mrz_segment *out, int max)
{
    const uint8_t *p = r->tail, *end = r->body + r->body_len;
    uint64_t n, f;
    if (mrz_get_uvar(&p, end, &n) || n > 4096)
        return MRZ_ECORRUPT;
    int k = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct mrz_segment s;
        if (mrz_get_uvar(&p, end, &s.vaddr) || mrz_get_uvar(&p, end, &s.memsz) ||
            mrz_get_uvar(&p, end, &s.offset) || mrz_get_uvar(&p, end, &f))
            return MRZ_ECORRUPT;
        s.flags = (uint32_t)f;
        if (k < max)
            out[k++] = s;
    }
    return k;
}

int mrz_process_argv(const struct mrz_rec *r, void (*fn)(void *ctx, struct mrz_str arg), void *ctx)
{
    const uint8_t *p = r->tail, *end = r->body + r->body_len;
    uint64_t n;
    if (mrz_get_uvar(&p, end, &n) || n > r->body_len)
        return MRZ_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        struct mrz_str s;
        if (get_str(&p, end, &s))
            return MRZ_ECORRUPT;
        fn(ctx, s);
    }
    return (int)n;
}

int mrz_chunk_each(const struct mrz_chunk *c, void (*fn)(void *ctx, const struct mrz_rec *r), void *ctx)
{
    struct mrz_delta *d = malloc(sizeof *d); /* its reference rings are large for a stack */
    if (!d)
        return MRZ_ENOMEM;
    mrz_delta_reset(d, c->info.base_ticks);
    const uint8_t *p = c->raw, *end = c->raw + c->raw_len;
    struct mrz_rec rec;
    int k, n = 0;
    while ((k = mrz_decode(&p, end, d, &rec)) > 0) {
        fn(ctx, &rec);
        n++;
    }
    free(d);
    return k < 0 ? k : n;
}

/* ------------------------------------------------------------------ census */

/* A chunk's counts, and the thread ids of its THREAD records: a thread may
 * have THREAD records in two streams (its own, and stream 0 once its stream
 * was released at its exit), so threads are counted by distinct id, as
 * mallocan info counts them. */
struct census_chunk {
    struct mrz_census n;
    uint64_t *tids;
    size_t ntids, cap;
};

static int census_tid(struct census_chunk *c, uint64_t tid)
{
    if (c->ntids == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 16;
        uint64_t *v = realloc(c->tids, ncap * sizeof *v);
        if (!v)
            return MRZ_ENOMEM;
        c->tids = v;
        c->cap = ncap;
    }
    c->tids[c->ntids++] = tid;
    return 0;
}

/* Counts n records of type t (THREAD records by their tids, elsewhere). */
static void census_add(struct mrz_census *c, unsigned t, uint64_t n)
{
    if (t >= 1 && t <= MRZ_K_MAX)
        c->allocs += n;
    else if (t == MRZ_T_FREE)
        c->frees += n;
    else if (t == MRZ_T_REALLOC_FREE)
        c->realloc_frees += n;
    else if (t == MRZ_T_CUDA_ALLOC)
        c->cuda_allocs += n;
    else if (t == MRZ_T_CUDA_FREE)
        c->cuda_frees += n;
}

/* Takes the tid of the THREAD record whose body is [p, end). */
static int census_thread(struct census_chunk *c, const uint8_t *p, const uint8_t *end)
{
    uint64_t time, tid;
    if (mrz_get_uvar(&p, end, &time) || mrz_get_uvar(&p, end, &tid))
        return -1;
    return census_tid(c, tid) ? -1 : 0;
}

static int skip_vars(const uint8_t **pp, const uint8_t *end, int n)
{
    uint64_t v;
    while (n-- > 0)
        if (mrz_get_uvar(pp, end, &v))
            return -1;
    return 0;
}

/* Skips a pointer reference: k, then an explicit Δptr when k is 0. */
static int skip_ref(const uint8_t **pp, const uint8_t *end)
{
    uint64_t k;
    if (mrz_get_uvar(pp, end, &k))
        return -1;
    return k ? 0 : skip_vars(pp, end, 1);
}

/* Counts records kept as rows: their boundaries follow from the grammar
 * alone (section 6), no delta state needed. */
static int census_rows(struct census_chunk *c, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        unsigned t = *p++;
        int e = 0;
        if (t >= MRZ_T_FRAMED_MIN) {
            uint64_t len;
            e = mrz_get_uvar(&p, end, &len) || len > (uint64_t)(end - p) ||
                (t == MRZ_T_THREAD && census_thread(c, p, p + len));
            if (!e)
                p += len;
        } else if (t >= 1 && t <= MRZ_K_MAX) {
            e = skip_vars(&p, end, 1) || skip_ref(&p, end) || skip_vars(&p, end, 2 + mrz_kind_has_align(t));
        } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
            e = skip_vars(&p, end, 1) || skip_ref(&p, end);
        } else if (t == MRZ_T_STACK || t == MRZ_T_CUDA_ALLOC || t == MRZ_T_CUDA_FREE) {
            e = skip_vars(&p, end, t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : 5);
        } else {
            return -1;
        }
        if (e)
            return -1;
        census_add(&c->n, t, 1);
    }
    return 0;
}

/* Counts a codec 2 chunk from its tags, taking from REST what each tag
 * owns there, in the order format/columns.c's join does.  Most tags own
 * nothing there and are only tallied. */
static int census_cols(struct census_chunk *c, struct mrz_span tags, struct mrz_span rest)
{
    const uint8_t *q = rest.p, *qe = rest.p + rest.n;
    uint64_t hist[256] = {0};
    uint8_t plain[256]; /* tags that own nothing in REST */
    for (unsigned tag = 0; tag < 256; tag++) {
        unsigned t = tag > 0x80 && tag < 0xff ? tag & 0x7f : tag;
        plain[tag] = (t >= 1 && t <= MRZ_K_MAX && !mrz_kind_has_align(t)) || t == MRZ_T_FREE ||
                     t == MRZ_T_REALLOC_FREE;
    }
    for (size_t i = 0; i < tags.n; i++) {
        unsigned tag = tags.p[i], t = tag > 0x80 && tag < 0xff ? tag & 0x7f : tag;
        hist[tag]++;
        if (plain[tag])
            continue;
        if (tag > 0x80 && tag < 0xff && t > MRZ_T_REALLOC_FREE)
            return -1;
        uint64_t len;
        if (tag == MRZ_TAG_ROWS || tag == MRZ_TAG_ESCAPE || t >= MRZ_T_FRAMED_MIN) {
            if (tag == MRZ_TAG_ESCAPE && (q == qe || *q++ < 0x80))
                return -1;
            if (mrz_get_uvar(&q, qe, &len) || len > (uint64_t)(qe - q))
                return -1;
            if (tag == MRZ_TAG_ROWS && census_rows(c, q, q + len))
                return -1;
            if (tag == MRZ_T_THREAD && census_thread(c, q, q + len))
                return -1;
            q += len;
            continue;
        }
        if (t > MRZ_T_CUDA_FREE && t < MRZ_T_FRAMED_MIN)
            return -1; /* reserved: the full decoder says what to do */
        int nv = t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : t == MRZ_T_CUDA_FREE ? 5 : t <= MRZ_K_MAX;
        if (t == 0 || skip_vars(&q, qe, nv))
            return -1;
    }
    for (unsigned tag = 1; tag < 0xff; tag++)
        if (hist[tag] && tag != MRZ_TAG_ESCAPE)
            census_add(&c->n, tag > 0x80 ? tag & 0x7f : tag, hist[tag]);
    return q == qe ? 0 : -1;
}

static void census_rec(void *ctx, const struct mrz_rec *rec)
{
    struct census_chunk *c = ctx;
    census_add(&c->n, rec->type, 1);
    if (rec->type == MRZ_T_THREAD && census_tid(c, rec->a))
        c->n.salvaged = -1; /* out of memory */
}

/* Adds a chunk's counts to out and its threads to the ones seen. */
static int census_take(struct mrz_census *out, struct u64_set *seen, struct census_chunk *one)
{
    out->allocs += one->n.allocs, out->frees += one->n.frees, out->realloc_frees += one->n.realloc_frees;
    out->cuda_allocs += one->n.cuda_allocs, out->cuda_frees += one->n.cuda_frees;
    for (size_t i = 0; i < one->ntids; i++) {
        int e = u64_set_add(seen, one->tids[i] + 1);
        if (e < 0)
            return e;
        out->threads += (uint64_t)e;
    }
    return 0;
}

int mrz_reader_census(struct mrz_reader *r, struct mrz_census *out)
{
    memset(out, 0, sizeof *out);
    struct u64_set seen = {0};
    struct census_chunk one = {0};
    struct mrz_chunk c;
    int e;
    while ((e = next_impl(r, &c, 0)) > 0) {
        if (c.info.flags & MRZ_CHUNK_SALVAGED)
            out->salvaged = 1;
        if (c.info.codec == MRZ_CODEC_COLS) {
            one.n = (struct mrz_census){0};
            one.ntids = 0;
            struct mrz_span tags, rest;
            const uint8_t *payload = r->map + c.offset + MRZ_CHUNK_HEADER_SIZE;
            e = mrz_cols_tags(r->dctx, payload, c.info.payload_len, &r->buf, &r->cap, &tags, &rest);
            release_pages(payload, c.info.payload_len);
            if (e == MRZ_ENOMEM)
                break;
            if (e == 0 && census_cols(&one, tags, rest) == 0) {
                if ((e = census_take(out, &seen, &one)) < 0)
                    break;
                continue;
            }
        }
        /* Other codecs, and anything the shortcut cannot parse: decode in
         * full; a chunk that does not decode counts the records before the
         * bad one, as a replay would. */
        const uint8_t *raw;
        e = load_payload(r->dctx, r->map, c.offset, &c.info, &r->buf, &r->cap, &raw, 0);
        if (e == MRZ_ENOMEM)
            break;
        if (e == 0) {
            c.raw = raw;
            c.raw_len = c.info.raw_len;
            one.n = (struct mrz_census){0};
            one.ntids = 0;
            e = mrz_chunk_each(&c, census_rec, &one);
            if (e == MRZ_ENOMEM || one.n.salvaged < 0 || (e = census_take(out, &seen, &one)) < 0) {
                e = MRZ_ENOMEM;
                break;
            }
        }
    }
    free(seen.v);
    free(one.tids);
    return e;
}
