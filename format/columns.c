/* Chunk codec 2: the payload's records split into columns (record tags,
 * times, pointer references, sizes, stack ids, the rest), each column one
 * zstd frame.  zstd then sees homogeneous bytes: a column of small time
 * deltas or of sizes compresses far better than the same bytes interleaved.
 * The split is exact: joining the columns gives back the payload byte for
 * byte, so everything above the chunk layer only ever sees records.
 * See format/SPEC.md, "Codec 2". */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "mrz.h"

/* Column and tag names of mrz_codec.h, short. */
enum {
    C_TAG = MRZ_C_TAG, C_TIME = MRZ_C_TIME, C_FREF = MRZ_C_FREF, C_AREF = MRZ_C_AREF, C_FPTR = MRZ_C_FPTR,
    C_APTR = MRZ_C_APTR, C_SIZE = MRZ_C_SIZE, C_STACK = MRZ_C_STACK, C_REST = MRZ_C_REST, NCOLS = MRZ_NCOLS
};
#define TAG_EXPLICIT MRZ_TAG_EXPLICIT
#define TAG_ESCAPE MRZ_TAG_ESCAPE
#define TAG_ROWS MRZ_TAG_ROWS

/* Where a column lives while it is being built or read. */
struct col { uint8_t *p, *end; };

/* Copies one varint from *pp to c.  @return 0, or -1 if the input ends or
 * the varint is longer than 10 bytes. */
static int cpvar_slow(const uint8_t **pp, const uint8_t *end, struct col *c)
{
    const uint8_t *p = *pp;
    size_t n = 0;
    do {
        if (p + n >= end || n == MRZ_VARINT_MAX)
            return -1;
    } while (p[n++] & 0x80);
    if ((size_t)(c->end - c->p) < n)
        return -1;
    memcpy(c->p, p, n);
    c->p += n;
    *pp = p + n;
    return 0;
}

static inline int cpvar(const uint8_t **pp, const uint8_t *end, struct col *c)
{
    /* the common case: 8 bytes to read and room for 8 to write; the
     * varint's length from its first byte without the continuation bit */
    const uint8_t *p = *pp;
    if (__builtin_expect(end - p >= 8 && c->end - c->p >= 8, 1)) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t stop = ~w & 0x8080808080808080ull;
        if (__builtin_expect(stop != 0, 1)) {
            size_t n = ((size_t)__builtin_ctzll(stop) >> 3) + 1;
            memcpy(c->p, &w, 8);
            c->p += n;
            *pp = p + n;
            return 0;
        }
    }
    return cpvar_slow(pp, end, c);
}

static inline int cpbytes(const uint8_t **pp, const uint8_t *end, struct col *c, uint64_t n)
{
    if (n > (uint64_t)(end - *pp) || n > (uint64_t)(c->end - c->p))
        return -1;
    memcpy(c->p, *pp, n);
    c->p += n;
    *pp += n;
    return 0;
}

static inline int put1(struct col *c, uint8_t b)
{
    if (c->p == c->end)
        return -1;
    *c->p++ = b;
    return 0;
}

/* A ref: 0x00 (explicit: the svar Δptr goes to ptrcol) or a varint k. */
static inline int split_ref(const uint8_t **pp, const uint8_t *end, struct col *tag, uint8_t t, struct col *refcol,
                            struct col *ptrcol)
{
    if (*pp >= end)
        return -1;
    if (**pp == 0) {
        (*pp)++;
        return put1(tag, (uint8_t)(TAG_EXPLICIT | t)) || cpvar(pp, end, ptrcol);
    }
    return put1(tag, t) || cpvar(pp, end, refcol);
}

/* Splits one record of any type at *pp.  @return 0, or -1 when it cannot be
 * split (an unknown hot type, a cut record) or a column runs out of room. */
static int split_one(const uint8_t **pp, const uint8_t *end, struct col *c)
{
    const uint8_t *p = *pp;
    uint8_t t = *p++;
    if (t >= MRZ_T_FRAMED_MIN) {
        uint64_t len;
        const uint8_t *q = p;
        if (t >= 0x80 ? put1(&c[C_TAG], TAG_ESCAPE) || put1(&c[C_REST], t) : put1(&c[C_TAG], t))
            return -1;
        if (mrz_get_uvar(&q, end, &len) || cpvar(&p, end, &c[C_REST]) || cpbytes(&p, end, &c[C_REST], len))
            return -1;
    } else if (t >= 1 && t <= MRZ_K_MAX) {
        if (cpvar(&p, end, &c[C_TIME]) || split_ref(&p, end, &c[C_TAG], t, &c[C_AREF], &c[C_APTR]) ||
            cpvar(&p, end, &c[C_SIZE]) || cpvar(&p, end, &c[C_STACK]))
            return -1;
        if (mrz_kind_has_align(t) && cpvar(&p, end, &c[C_REST]))
            return -1;
    } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
        if (cpvar(&p, end, &c[C_TIME]) || split_ref(&p, end, &c[C_TAG], t, &c[C_FREF], &c[C_FPTR]))
            return -1;
    } else if (t == MRZ_T_STACK || t == MRZ_T_CUDA_ALLOC || t == MRZ_T_CUDA_FREE) {
        int nv = t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : 5;
        if (put1(&c[C_TAG], t))
            return -1;
        for (int i = 0; i < nv; i++)
            if (cpvar(&p, end, &c[C_REST]))
                return -1;
    } else {
        return -1;
    }
    *pp = p;
    return 0;
}

/* Moves one varint of at most 8 bytes from *p to *o; 0 when it is longer. */
#define MOVE8(p, o)                                                             \
    ({                                                                          \
        uint64_t w_, stop_;                                                     \
        memcpy(&w_, (p), 8);                                                    \
        stop_ = ~w_ & 0x8080808080808080ull;                                    \
        size_t n_ = stop_ ? ((size_t)__builtin_ctzll(stop_) >> 3) + 1 : 0;     \
        memcpy((o), &w_, 8);                                                    \
        (p) += n_;                                                              \
        (o) += n_;                                                              \
        n_;                                                                     \
    })

/* Splits raw into the columns.  Each column holds at most as many bytes as
 * the records it came from (one record's escape byte aside), so with room
 * for raw_len + 16 bytes in each, the fast path may store 8 bytes at a
 * time without checks; it runs while a whole record plus 8 bytes of
 * look-ahead is left, for ALLOC and FREE records, and split_one does the
 * rest.  @return 0, or -1 when a record cannot be split. */
static int split(const uint8_t *raw, size_t n, struct col *c)
{
    const uint8_t *p = raw, *end = raw + n;
    while (p < end) {
        if (end - p >= MRZ_HOT_MAX + 8) {
            uint8_t t = *p;
            const uint8_t *q = p + 1;
            uint8_t *ti = c[C_TIME].p;
            if (t >= 1 && t <= MRZ_K_MAX && !mrz_kind_has_align(t)) {
                uint8_t *ap = c[C_APTR].p, *ar = c[C_AREF].p, *sz = c[C_SIZE].p, *st = c[C_STACK].p;
                int ok = MOVE8(q, ti) != 0;
                if (*q == 0) {
                    q++;
                    ok &= MOVE8(q, ap) != 0;
                    t |= TAG_EXPLICIT;
                } else {
                    ok &= MOVE8(q, ar) != 0;
                }
                ok &= MOVE8(q, sz) != 0;
                ok &= MOVE8(q, st) != 0;
                if (ok) {
                    *c[C_TAG].p++ = t;
                    c[C_TIME].p = ti, c[C_APTR].p = ap, c[C_AREF].p = ar, c[C_SIZE].p = sz, c[C_STACK].p = st;
                    p = q;
                    continue;
                }
            } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
                uint8_t *fp = c[C_FPTR].p, *fr = c[C_FREF].p;
                int ok = MOVE8(q, ti) != 0;
                if (*q == 0) {
                    q++;
                    ok &= MOVE8(q, fp) != 0;
                    t |= TAG_EXPLICIT;
                } else {
                    ok &= MOVE8(q, fr) != 0;
                }
                if (ok) {
                    *c[C_TAG].p++ = t;
                    c[C_TIME].p = ti, c[C_FPTR].p = fp, c[C_FREF].p = fr;
                    p = q;
                    continue;
                }
            }
        }
        if (split_one(&p, end, c))
            return -1;
    }
    return 0;
}

size_t mrz_cols_scratch_size(size_t raw_len) { return NCOLS * (raw_len + 16); }

void mrz_cols_take_rows(struct mrz_ref_cache *w, const uint8_t *upto)
{
    size_t from = w->rows_done, to = (size_t)(upto - w->rows);
    if (to < from || w->broken) {
        w->broken = 1;
        return;
    }
    if (to == from)
        return;
    uint8_t *r = w->cur[C_REST];
    if ((size_t)(w->col[C_REST] + 2 * w->col_cap - r) < to - from + MRZ_VARINT_MAX ||
        (size_t)(w->col[C_TAG] + w->col_cap - w->cur[C_TAG]) < 1) {
        w->broken = 1;
        return;
    }
    *w->cur[C_TAG]++ = TAG_ROWS;
    r = mrz_put_uvar(r, to - from);
    memcpy(r, w->rows + from, to - from);
    w->cur[C_REST] = r + (to - from);
    w->rows_done = to;
}

long mrz_chunk_encode_cols(uint8_t *out, void *cctx, int level, const struct mrz_chunk_info *info,
                           const uint8_t *raw, size_t raw_len, uint8_t *scratch, struct mrz_ref_cache *w)
{
    if (raw_len > MRZ_CHUNK_RAW_MAX || !cctx)
        return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
    struct col c[NCOLS];
    uint8_t *start[NCOLS];
    if (w && w->col[0] && !w->broken && w->rows == raw && w->rows_done <= raw_len) {
        /* the writer kept the columns: only the records after its last
         * hot one are still to take in */
        mrz_cols_take_rows(w, raw + raw_len);
    }
    if (w && w->col[0] && !w->broken && w->rows == raw && w->rows_done == raw_len) {
        for (int i = 0; i < NCOLS; i++) {
            start[i] = w->col[i];
            c[i].p = w->cur[i];
        }
    } else {
        for (int i = 0; i < NCOLS; i++) {
            start[i] = c[i].p = scratch + (size_t)i * (raw_len + 16);
            c[i].end = c[i].p + raw_len + 16;
        }
        if (split(raw, raw_len, c))
            return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
    }
    /* column table, then the frames */
    uint8_t *payload = out + MRZ_CHUNK_HEADER_SIZE, *q = payload;
    *q++ = NCOLS;
    uint8_t *table = q;
    q += NCOLS * 2 * MRZ_VARINT_MAX; /* room for the table; moved down after */
    uint8_t *data = q;
    size_t stored[NCOLS];
    size_t cap = mrz_chunk_bound(raw_len) - MRZ_CHUNK_HEADER_SIZE - (size_t)(data - payload);
    for (int i = 0; i < NCOLS; i++) {
        size_t n = (size_t)(c[i].p - start[i]);
        if (n == 0) {
            stored[i] = 0;
            continue;
        }
        size_t z = ZSTD_compressCCtx(cctx, q, cap, start[i], n, level);
        if (ZSTD_isError(z) || z >= n) {
            /* incompressible: stored as is (stored length 0) */
            if (n > cap)
                return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
            memcpy(q, start[i], n);
            z = n;
            stored[i] = 0;
        } else {
            stored[i] = z;
        }
        q += z;
        cap -= z;
    }
    uint8_t *t = table;
    for (int i = 0; i < NCOLS; i++) {
        t = mrz_put_uvar(t, (uint64_t)(c[i].p - start[i]));
        t = mrz_put_uvar(t, stored[i]);
    }
    memmove(t, data, (size_t)(q - data));
    size_t n = (size_t)(t - payload) + (size_t)(q - data);
    mrz_chunk_header(out, info, MRZ_CODEC_COLS, payload, n, raw_len);
    return (long)(MRZ_CHUNK_HEADER_SIZE + n);
}

/* ------------------------------------------------------------ decoding */

static inline int cpvar_in(struct col *from, struct col *to)
{
    return cpvar((const uint8_t **)&from->p, from->end, to);
}

static inline int join_ref(struct col *c, struct col *o, int explicit, int refcol, int ptrcol)
{
    if (explicit)
        return put1(o, 0) || cpvar_in(&c[ptrcol], o);
    /* a ref of 0 here would not come back out of split() the same */
    if (c[refcol].p < c[refcol].end && *c[refcol].p == 0)
        return -1;
    return cpvar_in(&c[refcol], o);
}

static int join(struct col *c, uint8_t *out, size_t raw_len)
{
    struct col o = {out, out + raw_len};
    while (c[C_TAG].p < c[C_TAG].end) {
        uint8_t tag = *c[C_TAG].p++;
        if (tag == TAG_ROWS) {
            uint64_t len;
            if (mrz_get_uvar((const uint8_t **)&c[C_REST].p, c[C_REST].end, &len) ||
                cpbytes((const uint8_t **)&c[C_REST].p, c[C_REST].end, &o, len))
                return -1;
            continue;
        }
        uint8_t t = tag == TAG_ESCAPE ? 0 : tag >= TAG_EXPLICIT ? (uint8_t)(tag & 0x7f) : tag;
        int explicit = tag > TAG_EXPLICIT;
        if (tag == TAG_ESCAPE) {
            if (c[C_REST].p == c[C_REST].end || (t = *c[C_REST].p++) < 0x80)
                return -1;
        }
        if (explicit && !(t >= 1 && t <= MRZ_T_REALLOC_FREE))
            return -1;
        if (put1(&o, t))
            return -1;
        if (t >= MRZ_T_FRAMED_MIN) {
            uint64_t len;
            const uint8_t *q = c[C_REST].p;
            if (mrz_get_uvar(&q, c[C_REST].end, &len) || cpvar_in(&c[C_REST], &o) ||
                cpbytes((const uint8_t **)&c[C_REST].p, c[C_REST].end, &o, len))
                return -1;
        } else if (t >= 1 && t <= MRZ_K_MAX) {
            if (cpvar_in(&c[C_TIME], &o) || join_ref(c, &o, explicit, C_AREF, C_APTR) ||
                cpvar_in(&c[C_SIZE], &o) || cpvar_in(&c[C_STACK], &o))
                return -1;
            if (mrz_kind_has_align(t) && cpvar_in(&c[C_REST], &o))
                return -1;
        } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
            if (cpvar_in(&c[C_TIME], &o) || join_ref(c, &o, explicit, C_FREF, C_FPTR))
                return -1;
        } else if (t == MRZ_T_STACK || t == MRZ_T_CUDA_ALLOC || t == MRZ_T_CUDA_FREE) {
            int nv = t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : 5;
            for (int i = 0; i < nv; i++)
                if (cpvar_in(&c[C_REST], &o))
                    return -1;
        } else {
            return -1;
        }
    }
    for (int i = 0; i < NCOLS; i++)
        if (c[i].p != c[i].end)
            return -1;
    return o.p == o.end ? 0 : -1;
}

int mrz_cols_load(void *dctx, const uint8_t *payload, size_t n, size_t raw_len, uint8_t **buf, size_t *cap,
                  const uint8_t **raw)
{
    const uint8_t *p = payload, *end = payload + n;
    if (n < 1 || *p++ != NCOLS)
        return MRZ_ECORRUPT;
    uint64_t len[NCOLS], stored[NCOLS], total = 0, data = 0;
    for (int i = 0; i < NCOLS; i++) {
        if (mrz_get_uvar(&p, end, &len[i]) || mrz_get_uvar(&p, end, &stored[i]) || len[i] > MRZ_CHUNK_RAW_MAX)
            return MRZ_ECORRUPT;
        total += len[i];
        data += stored[i] ? stored[i] : len[i];
    }
    if (total > 2 * (uint64_t)raw_len + 64 || data != (uint64_t)(end - p))
        return MRZ_ECORRUPT;
    size_t need = raw_len + (size_t)total;
    if (*cap < need || !*buf) {
        size_t ncap = need > 65536 ? need : 65536;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return MRZ_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    uint8_t *w = *buf + raw_len;
    struct col c[NCOLS];
    for (int i = 0; i < NCOLS; i++) {
        c[i].p = w;
        c[i].end = w + len[i];
        if (stored[i]) {
            size_t z = ZSTD_decompressDCtx(dctx, w, (size_t)len[i], p, (size_t)stored[i]);
            if (ZSTD_isError(z) || z != len[i])
                return MRZ_ECORRUPT;
            p += stored[i];
        } else {
            memcpy(w, p, (size_t)len[i]);
            p += len[i];
        }
        w += len[i];
    }
    if (join(c, *buf, raw_len))
        return MRZ_ECORRUPT;
    *raw = *buf;
    return 0;
}

int mrz_cols_tags(void *dctx, const uint8_t *payload, size_t n, uint8_t **buf, size_t *cap, struct mrz_span *tags,
                  struct mrz_span *rest)
{
    const uint8_t *p = payload, *end = payload + n;
    if (n < 1 || *p++ != NCOLS)
        return MRZ_ECORRUPT;
    uint64_t len[NCOLS], stored[NCOLS], data = 0;
    for (int i = 0; i < NCOLS; i++) {
        if (mrz_get_uvar(&p, end, &len[i]) || mrz_get_uvar(&p, end, &stored[i]) || len[i] > MRZ_CHUNK_RAW_MAX)
            return MRZ_ECORRUPT;
        data += stored[i] ? stored[i] : len[i];
    }
    if (data != (uint64_t)(end - p))
        return MRZ_ECORRUPT;
    size_t need = (size_t)(len[C_TAG] + len[C_REST]);
    if (*cap < need || !*buf) {
        size_t ncap = need > 65536 ? need : 65536;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return MRZ_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    uint8_t *w = *buf;
    for (int i = 0; i < NCOLS; i++) {
        size_t sz = (size_t)(stored[i] ? stored[i] : len[i]);
        if (i == C_TAG || i == C_REST) {
            if (stored[i]) {
                size_t z = ZSTD_decompressDCtx(dctx, w, (size_t)len[i], p, sz);
                if (ZSTD_isError(z) || z != len[i])
                    return MRZ_ECORRUPT;
            } else {
                memcpy(w, p, sz);
            }
            struct mrz_span *s = i == C_TAG ? tags : rest;
            s->p = w;
            s->n = (size_t)len[i];
            w += len[i];
        }
        p += sz;
    }
    return 0;
}
