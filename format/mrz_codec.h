/* mrz_codec.h — the byte-level codec of the .mrz format: LEB128 varints,
 * zigzag, and the inline encoders of the hot records.
 *
 * Everything here is static inline and allocation-free so the recorder's hot
 * path can use it directly; the reader decodes with the same delta state
 * (struct mrz_delta), which is what keeps writer and reader in agreement.
 * See format/SPEC.md for the grammar. */
#ifndef MRZ_CODEC_H
#define MRZ_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest LEB128 encoding of a 64-bit value. */
#define MRZ_VARINT_MAX 10

/** Writes v as LEB128 at p.  Precondition: MRZ_VARINT_MAX bytes writable.
 * @return the byte after the encoding. */
static inline uint8_t *mrz_put_uvar(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t mrz_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t mrz_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline uint8_t *mrz_put_svar(uint8_t *p, int64_t v) { return mrz_put_uvar(p, mrz_zigzag(v)); }

/** Reads a LEB128 value from [*pp, end).
 * @return 0 on success (advancing *pp), -1 if the input ends first or the
 *         value does not fit in 64 bits. */
static inline int mrz_get_uvar(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

static inline int mrz_get_svar(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t u;
    if (mrz_get_uvar(pp, end, &u))
        return -1;
    *out = mrz_unzigzag(u);
    return 0;
}

static inline void mrz_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void mrz_put_le64(uint8_t *p, uint64_t v)
{
    mrz_put_le32(p, (uint32_t)v);
    mrz_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t mrz_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mrz_get_le64(const uint8_t *p)
{
    return (uint64_t)mrz_get_le32(p) | (uint64_t)mrz_get_le32(p + 4) << 32;
}
static inline uint16_t mrz_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline void mrz_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* Pointer references.  A hot ALLOC, FREE or REALLOC_FREE names its pointer
 * with a `ref`: k >= 1 means "the pointer of the k-th most recent record of
 * the other side in this chunk" (for a release: the k-th latest ALLOC; for an
 * ALLOC: the k-th latest FREE or REALLOC_FREE), at most MRZ_RING back; 0
 * means an explicit svar Δptr follows.  Blocks are mostly released soon
 * after they were made and made again where one was just released, so a
 * small k replaces a pointer delta of 3 bytes or more.  Readers keep the
 * chunk's last MRZ_RING pointers of each side (struct mrz_delta); a writer
 * finds k through a pointer-indexed cache (struct mrz_ref_cache). */
#define MRZ_RING_BITS 12
#define MRZ_RING (1u << MRZ_RING_BITS)
#define MRZ_REF_CACHE_BITS 14

/* Chunk codec 2 (format/columns.c) stores a chunk's records as columns:
 * one tag byte per record, then each kind of field in a column of its own.
 * In memory each varint column, TIME to STACK, is kept as two: the first
 * byte of every varint, and the rest of each (its tail, itself a varint's
 * bytes) in the column MRZ_TAIL(c): the byte planes that codec 2 stores
 * then need no pass of their own. */
enum mrz_col {
    MRZ_C_TAG,    /* a tag per record (below) */
    MRZ_C_TIME,   /* Δtime of ALLOC, FREE, REALLOC_FREE */
    MRZ_C_FREF,   /* ref k >= 1 of FREE, REALLOC_FREE */
    MRZ_C_AREF,   /* ref k >= 1 of ALLOC */
    MRZ_C_FPTR,   /* explicit Δptr of FREE, REALLOC_FREE */
    MRZ_C_APTR,   /* explicit Δptr of ALLOC */
    MRZ_C_SIZE,   /* size of ALLOC */
    MRZ_C_STACK,  /* stack of ALLOC */
    MRZ_C_TIME_TAIL, /* the tails of TIME .. STACK, in that order */
    MRZ_C_REST = MRZ_C_TIME_TAIL + 7, /* everything else, in record order */
    MRZ_NCOLS
};
#define MRZ_TAIL(c) ((c) - MRZ_C_TIME + MRZ_C_TIME_TAIL)
/* Tags: the record's type byte, except that an ALLOC, FREE or REALLOC_FREE
 * with an explicit pointer (ref 0) is 0x80 | type; a framed record of type
 * >= 0x80 is MRZ_TAG_ESCAPE with its type byte in REST; MRZ_TAG_ROWS is a
 * run of records kept as they are: uvar length, then the bytes, in REST. */
#define MRZ_TAG_EXPLICIT 0x80
#define MRZ_TAG_ESCAPE 0x80
#define MRZ_TAG_ROWS 0xff

/* The writer's memory of its chunk: slot[hash(ptr)] holds
 * (ptr >> 4) << 21 | is_alloc << 20 | the record's number on its side, to
 * find refs (8-byte slots keep the table small: cache misses are its cost;
 * pointers it cannot hold, not 16-aligned or above 2^47, are written out).
 * When col[0] is set, the hot encoders also append each record's fields to
 * the columns of codec 2 while they write the record itself at `rows`, so a
 * chunk is compressed without splitting its payload first
 * (mrz_chunk_encode_cols); records written at `rows` by other means are
 * taken in as MRZ_TAG_ROWS runs.  col[i] holds col_cap bytes plus 32 of
 * slack. */
struct mrz_ref_cache {
    uint64_t slot[1u << MRZ_REF_CACHE_BITS];
    uint8_t *col[MRZ_NCOLS], *cur[MRZ_NCOLS];
    size_t col_cap;
    const uint8_t *rows;        /* where the chunk's records start */
    size_t rows_done;           /* bytes of them in the columns */
    int broken;                 /* the columns do not hold this chunk */
};

/* Per-chunk delta state.  Reset at every chunk start (time to the chunk's
 * base, pointer and ip to 0, no recent pointers) so each chunk decodes on
 * its own.  The rings are a reader's; a writer leaves them alone. */
struct mrz_delta {
    uint64_t time;    /* ticks of the previous hot record */
    uint64_t ptr;     /* pointer of the previous alloc/free */
    uint64_t ip;      /* ip of the previous stack node */
    uint64_t nalloc, nfree;             /* ALLOC / FREE+REALLOC_FREE records of the chunk */
    struct mrz_ref_cache *cache;        /* writer: NULL writes every pointer explicitly */
    uint64_t ring_alloc[MRZ_RING];      /* reader: pointer of ALLOC number n at [n % MRZ_RING] */
    uint64_t ring_free[MRZ_RING];
};

/** Starts a chunk for a reader, or for a writer without a cache. */
static inline void mrz_delta_reset(struct mrz_delta *d, uint64_t base_ticks)
{
    d->time = base_ticks;
    d->ptr = 0;
    d->ip = 0;
    d->nalloc = d->nfree = 0;
    d->cache = NULL;
}

/** Starts a writer's next chunk, keeping its cache (may be NULL) but
 * forgetting the pointers and columns it holds: they are not in the new
 * chunk. */
static inline void mrz_delta_rebase(struct mrz_delta *d, uint64_t base_ticks)
{
    struct mrz_ref_cache *c = d->cache;
    mrz_delta_reset(d, base_ticks);
    d->cache = c;
    if (c) {
        memset(c->slot, 0, sizeof c->slot);
        for (int i = 0; i < MRZ_NCOLS; i++)
            c->cur[i] = c->col[i];
        c->rows_done = 0;
        c->broken = 0;
    }
}

/* Largest encoding of one hot record: type + 7 varints. */
#define MRZ_HOT_MAX (1 + 8 * MRZ_VARINT_MAX)

static inline uint64_t *mrz_ref_slot(const struct mrz_ref_cache *c, uint64_t ptr)
{
    return (uint64_t *)&c->slot[(ptr * 0x9e3779b97f4a7c15ull) >> (64 - MRZ_REF_CACHE_BITS)];
}

/* @return ptr's ref (0: explicit) and remembers ptr; d->ptr is the caller's
 * to update.  is_alloc: the record is an ALLOC (it refers back to releases). */
static inline uint64_t mrz_ref_of(struct mrz_delta *d, uint64_t ptr, unsigned is_alloc)
{
    struct mrz_ref_cache *c = d->cache;
    uint64_t mine = is_alloc ? d->nalloc : d->nfree, theirs = is_alloc ? d->nfree : d->nalloc;
    if (c && !(ptr & 15) && ptr && ptr < (1ull << 47) && mine < (1u << 20)) {
        uint64_t *sl = mrz_ref_slot(c, ptr), e = *sl;
        *sl = (ptr >> 4) << 21 | (uint64_t)is_alloc << 20 | mine;
        /* a release of the other side, of this pointer, at most MRZ_RING back */
        uint64_t k = theirs - (e & 0xfffff);
        if ((e >> 20) == ((ptr >> 4) << 1 | !is_alloc) && k - 1 < MRZ_RING)
            return k;
    }
    return 0;
}

/** Starts loading the cache slot of ptr, for a record to be encoded a
 * little later (the slot is a cache miss more often than not). */
static inline void mrz_ref_prefetch(const struct mrz_delta *d, uint64_t ptr)
{
    if (d->cache)
        __builtin_prefetch(mrz_ref_slot(d->cache, ptr), 1);
}

/* Takes the records written at c->rows since the columns last took one, up
 * to `upto`, into the columns as a MRZ_TAG_ROWS run (format/columns.c). */
void mrz_cols_take_rows(struct mrz_ref_cache *c, const uint8_t *upto);

/* Column writing: a varint is built in a register and stored, 8 bytes at a
 * time, into its column and into the record (writing bytes and reading them
 * back would stall on store forwarding).  The record's buffer has
 * MRZ_HOT_MAX bytes of room and the columns 32 bytes of slack.
 * mrz_col_var: into column col (TIME .. STACK) of cur, split: the first
 * byte there, the rest in its tail column. */
static inline uint8_t *mrz_col_var(uint8_t *p, uint8_t **cur, int col, uint64_t v)
{
    uint64_t w;
    size_t n;
    if (v < 0x80) {
        *cur[col]++ = (uint8_t)v;
        *p = (uint8_t)v;
        return p + 1;
    } else if (v < 0x4000) {
        w = (v & 0x7f) | 0x80 | (v >> 7) << 8, n = 2;
    } else if (v < (1ull << 56)) {
        w = 0, n = 0;
        do {
            w |= ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)) << (8 * n);
            v >>= 7;
            n++;
        } while (v);
    } else {
        uint8_t e[MRZ_VARINT_MAX] = {0};
        n = (size_t)(mrz_put_uvar(e, v) - e);
        *cur[col]++ = e[0];
        memcpy(cur[MRZ_TAIL(col)], e + 1, MRZ_VARINT_MAX - 1);
        cur[MRZ_TAIL(col)] += n - 1;
        memcpy(p, e, MRZ_VARINT_MAX);
        return p + n;
    }
    uint64_t tail = w >> 8;
    *cur[col]++ = (uint8_t)w;
    memcpy(cur[MRZ_TAIL(col)], &tail, 8);
    cur[MRZ_TAIL(col)] += n - 1;
    memcpy(p, &w, 8);
    return p + n;
}

/* The same into a column kept whole (REST).  Both build the varint inline:
 * a shared helper measured 5% more recorder instructions on alloc_storm. */
static inline uint8_t *mrz_col_uvar(uint8_t *p, uint8_t **col, uint64_t v)
{
    uint64_t w;
    size_t n;
    if (v < 0x80) {
        w = v, n = 1;
    } else if (v < 0x4000) {
        w = (v & 0x7f) | 0x80 | (v >> 7) << 8, n = 2;
    } else if (v < (1ull << 56)) {
        w = 0, n = 0;
        do {
            w |= ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)) << (8 * n);
            v >>= 7;
            n++;
        } while (v);
    } else {
        uint8_t *c = *col, *e = mrz_put_uvar(c, v);
        memcpy(p, c, MRZ_VARINT_MAX);
        *col = e;
        return p + (e - c);
    }
    memcpy(*col, &w, 8);
    memcpy(p, &w, 8);
    *col += n;
    return p + n;
}

static inline int mrz_cols_on(const struct mrz_ref_cache *c, const uint8_t *p)
{
    if (!c || !c->col[0] || c->broken)
        return 0;
    if ((size_t)(p - c->rows) != c->rows_done)
        mrz_cols_take_rows((struct mrz_ref_cache *)c, p);
    return !c->broken;
}

/* What ALLOC, FREE and REALLOC_FREE start with: the type, Δtime and the
 * pointer (ref k, or 0 and an explicit Δptr), into the record and, when
 * cols (a constant at each call), into the columns too: ref_col / ptr_col
 * are the columns of the record's side. */
static inline __attribute__((always_inline)) uint8_t *mrz_enc_head(uint8_t *p, const struct mrz_delta *d,
                                                                   struct mrz_ref_cache *c, int cols, unsigned type,
                                                                   uint64_t t, uint64_t ptr, uint64_t k, int ref_col,
                                                                   int ptr_col)
{
    *p++ = (uint8_t)type;
    if (cols) {
        p = mrz_col_var(p, c->cur, MRZ_C_TIME, t - d->time);
        if (k) {
            p = mrz_col_var(p, c->cur, ref_col, k);
            *c->cur[MRZ_C_TAG]++ = (uint8_t)type;
        } else {
            *p++ = 0;
            p = mrz_col_var(p, c->cur, ptr_col, mrz_zigzag((int64_t)(ptr - d->ptr)));
            *c->cur[MRZ_C_TAG]++ = (uint8_t)(MRZ_TAG_EXPLICIT | type);
        }
    } else {
        p = mrz_put_uvar(p, t - d->time);
        if (k) {
            p = mrz_put_uvar(p, k);
        } else {
            *p++ = 0;
            p = mrz_put_svar(p, (int64_t)(ptr - d->ptr));
        }
    }
    return p;
}

/** Encodes an ALLOC record (type = its kind, 1..15).
 * @param align  written only for kinds that take an alignment (mrz_kind_has_align).
 * Precondition: MRZ_HOT_MAX bytes writable. @return the byte after it. */
static inline __attribute__((always_inline)) uint8_t *mrz_enc_alloc(uint8_t *p, struct mrz_delta *d, unsigned kind, uint64_t t,
                                     uint64_t ptr, uint64_t size, uint64_t stack, uint64_t align)
{
    uint64_t k = mrz_ref_of(d, ptr, 1);
    struct mrz_ref_cache *c = d->cache;
    if (mrz_cols_on(c, p)) {
        p = mrz_enc_head(p, d, c, 1, kind, t, ptr, k, MRZ_C_AREF, MRZ_C_APTR);
        p = mrz_col_var(p, c->cur, MRZ_C_SIZE, size);
        p = mrz_col_var(p, c->cur, MRZ_C_STACK, stack);
        if (kind >= 5 && kind <= 7)
            p = mrz_col_uvar(p, &c->cur[MRZ_C_REST], align);
        c->rows_done = (size_t)(p - c->rows);
    } else {
        p = mrz_enc_head(p, d, c, 0, kind, t, ptr, k, MRZ_C_AREF, MRZ_C_APTR);
        p = mrz_put_uvar(p, size);
        p = mrz_put_uvar(p, stack);
        if (kind >= 5 && kind <= 7)
            p = mrz_put_uvar(p, align);
    }
    d->ptr = ptr;
    d->time = t;
    d->nalloc++;
    return p;
}

/** Encodes a FREE or REALLOC_FREE record.  @return the byte after it. */
static inline __attribute__((always_inline)) uint8_t *mrz_enc_free(uint8_t *p, struct mrz_delta *d, unsigned type, uint64_t t, uint64_t ptr)
{
    uint64_t k = mrz_ref_of(d, ptr, 0);
    struct mrz_ref_cache *c = d->cache;
    if (mrz_cols_on(c, p)) {
        p = mrz_enc_head(p, d, c, 1, type, t, ptr, k, MRZ_C_FREF, MRZ_C_FPTR);
        c->rows_done = (size_t)(p - c->rows);
    } else {
        p = mrz_enc_head(p, d, c, 0, type, t, ptr, k, MRZ_C_FREF, MRZ_C_FPTR);
    }
    d->ptr = ptr;
    d->time = t;
    d->nfree++;
    return p;
}

/** Encodes a STACK record defining node `id` (implicitly: the stream's next
 * id) as child of `parent` (< id) with return address ip. */
static inline uint8_t *mrz_enc_stack(uint8_t *p, struct mrz_delta *d, uint64_t id, uint64_t parent, uint64_t ip)
{
    *p++ = 0x12;
    p = mrz_put_uvar(p, id - parent);
    p = mrz_put_svar(p, (int64_t)(ip - d->ip));
    d->ip = ip;
    return p;
}

/** Encodes a CUDA_ALLOC record. */
static inline uint8_t *mrz_enc_cuda_alloc(uint8_t *p, struct mrz_delta *d, uint64_t t, unsigned space,
                                          unsigned device, uint64_t ptr, uint64_t size, uint64_t stack,
                                          uint64_t result, uint64_t stream)
{
    *p++ = 0x13;
    p = mrz_put_uvar(p, t - d->time);
    p = mrz_put_uvar(p, space);
    p = mrz_put_uvar(p, device);
    p = mrz_put_svar(p, (int64_t)(ptr - d->ptr));
    p = mrz_put_uvar(p, size);
    p = mrz_put_uvar(p, stack);
    p = mrz_put_uvar(p, result);
    p = mrz_put_uvar(p, stream);
    d->time = t;
    d->ptr = ptr;
    return p;
}

/** Encodes a CUDA_FREE record. */
static inline uint8_t *mrz_enc_cuda_free(uint8_t *p, struct mrz_delta *d, uint64_t t, unsigned space,
                                         unsigned device, uint64_t ptr, uint64_t result)
{
    *p++ = 0x14;
    p = mrz_put_uvar(p, t - d->time);
    p = mrz_put_uvar(p, space);
    p = mrz_put_uvar(p, device);
    p = mrz_put_svar(p, (int64_t)(ptr - d->ptr));
    p = mrz_put_uvar(p, result);
    d->time = t;
    d->ptr = ptr;
    return p;
}

/* Length-prefixed ("framed") records: type, uvar body length, body.  The
 * builder writes the body first and the prefix after, so callers reserve
 * MRZ_VARINT_MAX bytes for it and move the body once. */
struct mrz_framed {
    uint8_t *start;   /* where the type byte goes */
    uint8_t *body;    /* where the body begins */
};

static inline uint8_t *mrz_framed_begin(struct mrz_framed *f, uint8_t *p, unsigned type)
{
    f->start = p;
    *p = (uint8_t)type;
    f->body = p + 1 + MRZ_VARINT_MAX;
    return f->body;
}

/** Closes a framed record whose body ends at `end`.  @return the byte after it. */
static inline uint8_t *mrz_framed_end(struct mrz_framed *f, uint8_t *end)
{
    size_t n = (size_t)(end - f->body);
    uint8_t *q = mrz_put_uvar(f->start + 1, n);
    memmove(q, f->body, n);
    return q + n;
}

/** A string inside a framed body: uvar length then bytes. */
static inline uint8_t *mrz_put_str(uint8_t *p, const char *s, size_t n)
{
    p = mrz_put_uvar(p, n);
    memcpy(p, s, n);
    return p + n;
}

#endif
