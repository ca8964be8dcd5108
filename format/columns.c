/* Chunk codec 2: the payload's records split into columns (record tags,
 * times, pointer references, sizes, stack ids, the rest), each stored on
 * its own.  zstd then sees homogeneous bytes: a column of small time
 * deltas or of sizes compresses far better than the same bytes
 * interleaved.  The seven varint columns are kept as first bytes and tails
 * and stored coded (format/colcode.c); TAG and REST are one zstd frame
 * each.  The split is exact: joining the columns gives back the payload
 * byte for byte, so everything above the chunk layer only ever sees
 * records.  See format/SPEC.md, "Codec 2". */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "colcode.h"
#include "mrz.h"

/* Column and tag names of mrz_codec.h, short.  The file stores NCOLS
 * columns (TAG, the seven varint columns, REST); in memory each varint
 * column c is two: first bytes at c, tails at TAIL(c); REST is M_REST. */
enum {
    C_TAG = MRZ_C_TAG, C_TIME = MRZ_C_TIME, C_FREF = MRZ_C_FREF, C_AREF = MRZ_C_AREF, C_FPTR = MRZ_C_FPTR,
    C_APTR = MRZ_C_APTR, C_SIZE = MRZ_C_SIZE, C_STACK = MRZ_C_STACK, C_REST = C_STACK + 1, NCOLS = C_REST + 1,
    M_REST = MRZ_C_REST, MCOLS = MRZ_NCOLS
};
#define TAIL(c) MRZ_TAIL(c)
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

/* Copies one varint from *pp to varint column f: its first byte to c[f],
 * the rest to c[TAIL(f)].  @return 0, or -1 as cpvar. */
static inline int cpvar_split(const uint8_t **pp, const uint8_t *end, struct col *c, int f)
{
    const uint8_t *p = *pp;
    if (p >= end || c[f].p == c[f].end)
        return -1;
    *c[f].p++ = *p;
    *pp = p + 1;
    if (!(*p & 0x80))
        return 0;
    uint8_t *t = c[TAIL(f)].p;
    return cpvar(pp, end, &c[TAIL(f)]) || c[TAIL(f)].p - t > MRZ_VARINT_MAX - 1 ? -1 : 0;
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
static inline int split_ref(const uint8_t **pp, const uint8_t *end, struct col *c, uint8_t t, int refcol, int ptrcol)
{
    if (*pp >= end)
        return -1;
    if (**pp == 0) {
        (*pp)++;
        return put1(&c[C_TAG], (uint8_t)(TAG_EXPLICIT | t)) || cpvar_split(pp, end, c, ptrcol);
    }
    return put1(&c[C_TAG], t) || cpvar_split(pp, end, c, refcol);
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
        if (t >= 0x80 ? put1(&c[C_TAG], TAG_ESCAPE) || put1(&c[M_REST], t) : put1(&c[C_TAG], t))
            return -1;
        if (mrz_get_uvar(&q, end, &len) || cpvar(&p, end, &c[M_REST]) || cpbytes(&p, end, &c[M_REST], len))
            return -1;
    } else if (t >= 1 && t <= MRZ_K_MAX) {
        if (cpvar_split(&p, end, c, C_TIME) || split_ref(&p, end, c, t, C_AREF, C_APTR) ||
            cpvar_split(&p, end, c, C_SIZE) || cpvar_split(&p, end, c, C_STACK))
            return -1;
        if (mrz_kind_has_align(t) && cpvar(&p, end, &c[M_REST]))
            return -1;
    } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
        if (cpvar_split(&p, end, c, C_TIME) || split_ref(&p, end, c, t, C_FREF, C_FPTR))
            return -1;
    } else if (t == MRZ_T_STACK || t == MRZ_T_CUDA_ALLOC || t == MRZ_T_CUDA_FREE) {
        int nv = t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : 5;
        if (put1(&c[C_TAG], t))
            return -1;
        for (int i = 0; i < nv; i++)
            if (cpvar(&p, end, &c[M_REST]))
                return -1;
    } else {
        return -1;
    }
    *pp = p;
    return 0;
}

/* Moves one varint of at most 8 bytes from *p, its first byte to *f and
 * the rest to *t; 0 when it is longer. */
#define MOVE8(p, f, t)                                                          \
    ({                                                                          \
        uint64_t w_, stop_, tl_;                                                \
        memcpy(&w_, (p), 8);                                                    \
        stop_ = ~w_ & 0x8080808080808080ull;                                    \
        size_t n_ = stop_ ? ((size_t)__builtin_ctzll(stop_) >> 3) + 1 : 0;     \
        tl_ = w_ >> 8;                                                          \
        *(f) = (uint8_t)w_;                                                     \
        memcpy((t), &tl_, 8);                                                   \
        (p) += n_;                                                              \
        (f) += n_ != 0;                                                         \
        (t) += n_ - (n_ != 0);                                                  \
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
            uint8_t *ti = c[C_TIME].p, *tt = c[TAIL(C_TIME)].p;
            if (t >= 1 && t <= MRZ_K_MAX && !mrz_kind_has_align(t)) {
                int ok = MOVE8(q, ti, tt) != 0;
                int pc = *q == 0 ? C_APTR : C_AREF;
                uint8_t *pf = c[pc].p, *pt = c[TAIL(pc)].p, *sz = c[C_SIZE].p, *szt = c[TAIL(C_SIZE)].p,
                        *st = c[C_STACK].p, *stt = c[TAIL(C_STACK)].p;
                if (pc == C_APTR) {
                    q++;
                    t |= TAG_EXPLICIT;
                }
                ok &= MOVE8(q, pf, pt) != 0;
                ok &= MOVE8(q, sz, szt) != 0;
                ok &= MOVE8(q, st, stt) != 0;
                if (ok) {
                    *c[C_TAG].p++ = t;
                    c[C_TIME].p = ti, c[TAIL(C_TIME)].p = tt, c[pc].p = pf, c[TAIL(pc)].p = pt;
                    c[C_SIZE].p = sz, c[TAIL(C_SIZE)].p = szt, c[C_STACK].p = st, c[TAIL(C_STACK)].p = stt;
                    p = q;
                    continue;
                }
            } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
                int ok = MOVE8(q, ti, tt) != 0;
                int pc = *q == 0 ? C_FPTR : C_FREF;
                uint8_t *pf = c[pc].p, *pt = c[TAIL(pc)].p;
                if (pc == C_FPTR) {
                    q++;
                    t |= TAG_EXPLICIT;
                }
                ok &= MOVE8(q, pf, pt) != 0;
                if (ok) {
                    *c[C_TAG].p++ = t;
                    c[C_TIME].p = ti, c[TAIL(C_TIME)].p = tt, c[pc].p = pf, c[TAIL(pc)].p = pt;
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

void mrz_cols_take_rows(struct mrz_ref_cache *w, const uint8_t *upto)
{
    size_t from = w->rows_done, to = (size_t)(upto - w->rows);
    if (to < from || w->broken) {
        w->broken = 1;
        return;
    }
    if (to == from)
        return;
    uint8_t *r = w->cur[M_REST];
    if ((size_t)(w->col[M_REST] + 2 * w->col_cap - r) < to - from + MRZ_VARINT_MAX ||
        (size_t)(w->col[C_TAG] + w->col_cap - w->cur[C_TAG]) < 1) {
        w->broken = 1;
        return;
    }
    *w->cur[C_TAG]++ = TAG_ROWS;
    r = mrz_put_uvar(r, to - from);
    memcpy(r, w->rows + from, to - from);
    w->cur[M_REST] = r + (to - from);
    w->rows_done = to;
}

size_t mrz_cols_scratch_size(size_t raw_len) { return MCOLS * (raw_len + 16) + mrz_colcode_put_work(raw_len); }

long mrz_chunk_encode_cols(uint8_t *out, void *cctx, int level, const struct mrz_chunk_info *info,
                           const uint8_t *raw, size_t raw_len, uint8_t *scratch, struct mrz_ref_cache *w)
{
    if (raw_len > MRZ_CHUNK_RAW_MAX || !cctx)
        return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
    struct col c[MCOLS];
    uint8_t *start[MCOLS];
    if (w && w->col[0] && !w->broken && w->rows == raw && w->rows_done <= raw_len) {
        /* the writer kept the columns: only the records after its last
         * hot one are still to take in */
        mrz_cols_take_rows(w, raw + raw_len);
    }
    if (w && w->col[0] && !w->broken && w->rows == raw && w->rows_done == raw_len) {
        for (int i = 0; i < MCOLS; i++) {
            start[i] = w->col[i];
            c[i].p = w->cur[i];
        }
    } else {
        for (int i = 0; i < MCOLS; i++) {
            start[i] = c[i].p = scratch + (size_t)i * (raw_len + 16);
            c[i].end = c[i].p + raw_len + 16;
        }
        if (split(raw, raw_len, c))
            return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
    }
    /* column table, then the columns */
    uint8_t *payload = out + MRZ_CHUNK_HEADER_SIZE, *q = payload;
    *q++ = NCOLS;
    uint8_t *table = q;
    q += NCOLS * 2 * MRZ_VARINT_MAX; /* room for the table; moved down after */
    uint8_t *data = q;
    size_t len[NCOLS], stored[NCOLS];
    size_t cap = mrz_chunk_bound(raw_len) - MRZ_CHUNK_HEADER_SIZE - (size_t)(data - payload);
    uint8_t *work = scratch + (size_t)MCOLS * (raw_len + 16);
    for (int i = 0; i < NCOLS; i++) {
        int m = i == C_REST ? M_REST : i; /* in memory */
        size_t n = (size_t)(c[m].p - start[m]), z;
        if (i == C_TAG) {
            len[i] = n;
            z = n ? mrz_colcode_put_bytes(cctx, level, start[m], n, work, q, cap) : 0;
            if (n && !z)
                return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
            stored[i] = z;
        } else if (i != C_REST) {
            /* coded, from its first bytes and tails */
            size_t nt = (size_t)(c[TAIL(i)].p - start[TAIL(i)]);
            len[i] = n + nt;
            if (len[i] > raw_len)
                return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
            z = len[i] ? mrz_colcode_put(cctx, level, start[i], n, start[TAIL(i)], nt, i == C_TIME, work, q, cap) : 0;
            if (len[i] && !z)
                return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
            stored[i] = z;
        } else {
            /* REST: one zstd frame, or as it is (stored length 0) */
            len[i] = n;
            if (n == 0) {
                stored[i] = 0;
                continue;
            }
            z = ZSTD_compressCCtx(cctx, q, cap, start[m], n, level);
            if (ZSTD_isError(z) || z >= n) {
                if (n > cap)
                    return mrz_chunk_encode(out, cctx, level, info, raw, raw_len);
                memcpy(q, start[m], n);
                z = n;
                stored[i] = 0;
            } else {
                stored[i] = z;
            }
        }
        q += z;
        cap -= z;
    }
    uint8_t *t = table;
    for (int i = 0; i < NCOLS; i++) {
        t = mrz_put_uvar(t, len[i]);
        t = mrz_put_uvar(t, stored[i]);
    }
    memmove(t, data, (size_t)(q - data));
    size_t n = (size_t)(t - payload) + (size_t)(q - data);
    mrz_chunk_header(out, info, MRZ_CODEC_COLS, payload, n, raw_len);
    return (long)(MRZ_CHUNK_HEADER_SIZE + n);
}

/* ------------------------------------------------------------ decoding */

/* Puts file column i, TAG or REST, of len bytes, stored in p[0..stored)
 * (REST: 0 for the bytes as they are), at w.  @return 0, or -1 when it is
 * malformed. */
static int get_bytes_col(ZSTD_DCtx *dctx, int i, const uint8_t *p, uint64_t len, uint64_t stored, uint8_t *w)
{
    if (i == C_TAG)
        return len && (!stored || mrz_colcode_get_bytes(dctx, p, (size_t)stored, w, (size_t)len)) ? -1 : 0;
    if (!stored) {
        memcpy(w, p, (size_t)len);
        return 0;
    }
    size_t z = ZSTD_decompressDCtx(dctx, w, (size_t)len, p, (size_t)stored);
    return ZSTD_isError(z) || z != len ? -1 : 0;
}

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

/* Joins the columns c (the varint columns whole: the reader's) into the
 * raw_len bytes of records at out.  @return 0, or -1 when they do not
 * join into exactly that. */
static int join(struct col *c, uint8_t *out, size_t raw_len)
{
    struct col o = {out, out + raw_len};
    while (c[C_TAG].p < c[C_TAG].end) {
        uint8_t tag = *c[C_TAG].p++;
        if (tag == TAG_ROWS) {
            uint64_t len;
            if (mrz_get_uvar((const uint8_t **)&c[M_REST].p, c[M_REST].end, &len) ||
                cpbytes((const uint8_t **)&c[M_REST].p, c[M_REST].end, &o, len))
                return -1;
            continue;
        }
        uint8_t t = tag == TAG_ESCAPE ? 0 : tag >= TAG_EXPLICIT ? (uint8_t)(tag & 0x7f) : tag;
        int explicit = tag > TAG_EXPLICIT;
        if (tag == TAG_ESCAPE) {
            if (c[M_REST].p == c[M_REST].end || (t = *c[M_REST].p++) < 0x80)
                return -1;
        }
        if (explicit && !(t >= 1 && t <= MRZ_T_REALLOC_FREE))
            return -1;
        if (put1(&o, t))
            return -1;
        if (t >= MRZ_T_FRAMED_MIN) {
            uint64_t len;
            const uint8_t *q = c[M_REST].p;
            if (mrz_get_uvar(&q, c[M_REST].end, &len) || cpvar_in(&c[M_REST], &o) ||
                cpbytes((const uint8_t **)&c[M_REST].p, c[M_REST].end, &o, len))
                return -1;
        } else if (t >= 1 && t <= MRZ_K_MAX) {
            if (cpvar_in(&c[C_TIME], &o) || join_ref(c, &o, explicit, C_AREF, C_APTR) ||
                cpvar_in(&c[C_SIZE], &o) || cpvar_in(&c[C_STACK], &o))
                return -1;
            if (mrz_kind_has_align(t) && cpvar_in(&c[M_REST], &o))
                return -1;
        } else if (t == MRZ_T_FREE || t == MRZ_T_REALLOC_FREE) {
            if (cpvar_in(&c[C_TIME], &o) || join_ref(c, &o, explicit, C_FREF, C_FPTR))
                return -1;
        } else if (t == MRZ_T_STACK || t == MRZ_T_CUDA_ALLOC || t == MRZ_T_CUDA_FREE) {
            int nv = t == MRZ_T_STACK ? 2 : t == MRZ_T_CUDA_ALLOC ? 8 : 5;
            for (int i = 0; i < nv; i++)
                if (cpvar_in(&c[M_REST], &o))
                    return -1;
        } else {
            return -1;
        }
    }
    for (int i = 0; i < MCOLS; i++)
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
    uint64_t len[NCOLS], stored[NCOLS], total = 0, data = 0, wn = 0;
    for (int i = 0; i < NCOLS; i++) {
        /* each size within the payload, so that their sum cannot wrap */
        if (mrz_get_uvar(&p, end, &len[i]) || mrz_get_uvar(&p, end, &stored[i]) || len[i] > MRZ_CHUNK_RAW_MAX ||
            stored[i] > n)
            return MRZ_ECORRUPT;
        total += len[i];
        data += stored[i] ? stored[i] : len[i];
        if (i != C_TAG && i != C_REST) {
            if (len[i] && !stored[i]) /* a varint column is always coded */
                return MRZ_ECORRUPT;
            if (mrz_colcode_get_work((size_t)len[i]) > wn)
                wn = mrz_colcode_get_work((size_t)len[i]);
        }
    }
    if (total > 2 * (uint64_t)raw_len + 64 || data != (uint64_t)(end - p))
        return MRZ_ECORRUPT;
    /* the records, the columns, 16 bytes of slack, room for streams */
    size_t need = raw_len + (size_t)total + 16 + (size_t)wn;
    if (*cap < need || !*buf) {
        size_t ncap = need > 65536 ? need : 65536;
        uint8_t *nb = realloc(*buf, ncap);
        if (!nb)
            return MRZ_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    uint8_t *w = *buf + raw_len, *work = w + total + 16;
    struct col c[MCOLS];
    for (int i = 0; i < NCOLS; i++) {
        if (i == C_TAG || i == C_REST) {
            c[i == C_REST ? M_REST : i] = (struct col){w, w + len[i]};
            if (get_bytes_col(dctx, i, p, len[i], stored[i], w))
                return MRZ_ECORRUPT;
            p += stored[i] ? stored[i] : len[i];
        } else {
            /* filled in order: where it may write past its end is the next
             * column's, or the 16 bytes of slack.  The reader's varint
             * columns are whole: their tail columns stay empty. */
            if (stored[i] && mrz_colcode_get(dctx, p, (size_t)stored[i], w, (size_t)len[i], work, (size_t)wn))
                return MRZ_ECORRUPT;
            c[i] = (struct col){w, w + len[i]};
            c[TAIL(i)] = (struct col){w + len[i], w + len[i]};
            p += stored[i];
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
        /* each size within the payload, so that their sum cannot wrap */
        if (mrz_get_uvar(&p, end, &len[i]) || mrz_get_uvar(&p, end, &stored[i]) || len[i] > MRZ_CHUNK_RAW_MAX ||
            stored[i] > n)
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
            if (get_bytes_col(dctx, i, p, len[i], stored[i], w))
                return MRZ_ECORRUPT;
            struct mrz_span *s = i == C_TAG ? tags : rest;
            s->p = w;
            s->n = (size_t)len[i];
            w += len[i];
        }
        p += sz;
    }
    return 0;
}
