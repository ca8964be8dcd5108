/* The coded varint columns of chunk codec 2 (format/SPEC.md, 4.4.2).
 *
 * zstd codes literals with one order-0 Huffman table per block, and a
 * varint's first byte and its later bytes are distributed quite unlike (a
 * size of 16..4095 is its low seven bits | 0x80, then its high bits), so
 * one table for all of them costs about 2 bits a value.  Stored as byte
 * planes, each in blocks of its own, each plane gets its own table.  A
 * column of mostly tiny values (the time deltas of a coarse clock) packs
 * 2, 4 or 8 of them in a byte instead, since Huffman spends at least a bit
 * on every byte.  The loops move words, not bytes, where the common values
 * allow: this runs on the recorder's threads for every chunk, and in the
 * reader for every chunk again. */
#include <string.h>
#include <zstd.h>

#include "colcode.h"
#include "mrz_codec.h"

#define M_PLANES 0     /* modes 1, 2, 4: packed fields of that many bits */
#define M_STORED 0x80  /* flag: the streams are stored as they are */
#define NSTREAMS 4     /* the most streams of a coded column */
#define SLACK 16       /* bytes past a buffer's end that the loops may touch */

static const uint64_t ONES = 0x0101010101010101ull, HIGHS = 0x8080808080808080ull;

/* One step of counting bytes of k or more (1 <= k <= 0x80) in a word:
 * a 1 in each lane whose byte is, without carries between lanes. */
#define GE(w, k) (((((w) & ~HIGHS) + (0x80 - (k)) * ONES) | (w)) >> 7 & ONES)

/* The sum of the eight lanes of a word of counts up to 255 each. */
static inline size_t lanes(uint64_t a)
{
    a = (a & 0x00ff00ff00ff00ffull) + ((a >> 8) & 0x00ff00ff00ff00ffull);
    return (size_t)((a * 0x0001000100010001ull) >> 48);
}

/* Bytes of p[0..n) that are 0x80 or more: eight at a time, 255 words
 * between sums. */
static size_t count_high(const uint8_t *p, size_t n)
{
    size_t c = 0, i = 0;
    while (n - i >= 8) {
        uint64_t acc = 0, w;
        for (size_t e = n - i >= 8 * 255 ? i + 8 * 255 : n - 7; i < e; i += 8) {
            memcpy(&w, p + i, 8);
            acc += (w >> 7) & ONES;
        }
        c += lanes(acc);
    }
    for (; i < n; i++)
        c += p[i] >> 7;
    return c;
}

/* --------------------------------------------------------------- planes */

/* Splits tails t[0..n) into planes at work: pl[0] gets the first byte of
 * each tail, pl[1] the second, pl[2] the third and later ones (room: n,
 * n / 2 and n bytes, SLACK after each).  16 bytes past t + n are readable.
 * The tails' last bytes (no high bit) are found 64 at a time, and each
 * tail is then moved with two loads and three stores, none of which waits
 * on a byte loaded before.  @return the number of planes up to the last
 * that is not empty, or -1 when the last tail is cut. */
static int tail_planes(const uint8_t *t, size_t n, uint8_t *work, const uint8_t **pl, size_t *pn)
{
    uint8_t *o0 = work, *o1 = o0 + n + SLACK, *o2 = o1 + n / 2 + SLACK;
    pl[0] = o0, pl[1] = o1, pl[2] = o2;
    size_t s = 0; /* where the next tail starts */
    for (size_t blk = 0; blk < n; blk += 64) {
        size_t m = n - blk < 64 ? n - blk : 64;
        uint64_t ends = 0, w;
        for (size_t j = 0; j < m; j += 8) {
            if (m - j >= 8) {
                memcpy(&w, t + blk + j, 8);
            } else {
                w = ~0ull; /* past the end: no ends */
                memcpy(&w, t + blk + j, m - j);
            }
            ends |= ((((~w & HIGHS) >> 7) * 0x0102040810204080ull) >> 56) << j;
        }
        if (s == blk && m == 64 && ends == 0xaaaaaaaaaaaaaaaaull) {
            /* 32 tails of two bytes, as sizes and stack ids of three-byte
             * varints come: the even bytes and the odd ones */
            for (size_t j = 0; j < 64; j += 8, o0 += 4, o1 += 4) {
                memcpy(&w, t + blk + j, 8);
                uint64_t e = w & 0x00ff00ff00ff00ffull, o = (w >> 8) & 0x00ff00ff00ff00ffull;
                e = (e | e >> 8) & 0x0000ffff0000ffffull;
                o = (o | o >> 8) & 0x0000ffff0000ffffull;
                uint32_t e4 = (uint32_t)(e | e >> 16), o4 = (uint32_t)(o | o >> 16);
                memcpy(o0, &e4, 4);
                memcpy(o1, &o4, 4);
            }
            s = blk + 64;
            continue;
        }
        while (ends) {
            size_t e = blk + (size_t)__builtin_ctzll(ends), l = e - s + 1;
            ends &= ends - 1;
            memcpy(&w, t + s, 8);
            *o0++ = (uint8_t)w;
            *o1 = (uint8_t)(w >> 8);
            o1 += l >= 2;
            memcpy(o2, t + s + 2, 8); /* a tail has at most 9 bytes */
            o2 += l > 2 ? l - 2 : 0;
            s = e + 1;
        }
    }
    pn[0] = (size_t)(o0 - pl[0]), pn[1] = (size_t)(o1 - pl[1]), pn[2] = (size_t)(o2 - pl[2]);
    return s != n ? -1 : pn[2] ? 3 : pn[1] ? 2 : 1;
}

/* Spreads the four bytes of x to the even bytes of a word. */
static inline uint64_t spread4(uint64_t x)
{
    x = (x | x << 16) & 0x0000ffff0000ffffull;
    return (x | x << 8) & 0x00ff00ff00ff00ffull;
}

/* Joins planes into count varints at o (room for them and 16 bytes more):
 * a holds their first bytes, y their second ones, z their third ones, and
 * t[0..n3) their fourth and later ones.  y and z must hold exactly one
 * byte per byte of the plane before of 0x80 or more (the caller checks),
 * and y, z and t be followed by 8 readable bytes.  Eight values of one,
 * two or three bytes each take a few word operations; others one step
 * each, with no branch for values of one to three bytes.  @return the end of the output,
 * or NULL when t does not hold the fourth and later bytes exactly. */
static uint8_t *from_planes(const uint8_t *a, size_t count, const uint8_t *y, const uint8_t *z, const uint8_t *t,
                            size_t n3, uint8_t *o)
{
    const uint8_t *te = t + n3;
    for (size_t i = 0; i < count;) {
        if (count - i >= 8) {
            uint64_t w, v;
            memcpy(&w, a + i, 8);
            if ((w & HIGHS) == 0) {
                memcpy(o, &w, 8);
                o += 8, i += 8;
                continue;
            }
            memcpy(&v, y, 8);
            if ((w & HIGHS) == HIGHS && (v & HIGHS) == 0) {
                uint64_t lo = spread4(w & 0xffffffff) | spread4(v & 0xffffffff) << 8;
                uint64_t hi = spread4(w >> 32) | spread4(v >> 32) << 8;
                memcpy(o, &lo, 8);
                memcpy(o + 8, &hi, 8);
                o += 16, y += 8, i += 8;
                continue;
            }
            uint64_t u;
            memcpy(&u, z, 8);
            if ((w & HIGHS) == HIGHS && (v & HIGHS) == HIGHS && (u & HIGHS) == 0) {
                for (int k = 0; k < 8; k++) { /* eight of three bytes */
                    uint32_t x = (uint32_t)(w >> 8 * k & 0xff) | (uint32_t)(v >> 8 * k & 0xff) << 8 |
                                 (uint32_t)(u >> 8 * k & 0xff) << 16;
                    memcpy(o + 3 * k, &x, 4);
                }
                o += 24, y += 8, z += 8, i += 8;
                continue;
            }
        }
        for (size_t e = count - i < 8 ? count : i + 8; i < e; i++) {
            uint32_t x = a[i], b1 = *y, b2 = *z;
            uint32_t c1 = x >> 7, c2 = c1 & (b1 >> 7), w = x | b1 << 8 | b2 << 16;
            memcpy(o, &w, 4);
            o += 1 + c1 + c2;
            y += c1;
            z += c2;
            if (__builtin_expect(c2 & (b2 >> 7), 0)) {
                /* the rest of a varint of four bytes or more, at most 7 */
                uint64_t r, stop;
                memcpy(&r, t, 8);
                if (!(stop = ~r & HIGHS))
                    return NULL;
                size_t l = ((size_t)__builtin_ctzll(stop) >> 3) + 1;
                if (l > (size_t)(te - t))
                    return NULL;
                memcpy(o, &r, 8);
                o += l, t += l;
            }
        }
    }
    return t == te ? o : NULL;
}

/* ------------------------------------------------------------- packing */

/* Picks the mode of a column from its first bytes f[0..count): packed
 * fields of the fewest bits that most values fit (1 bit: at most 55% are
 * not 0; 2 bits: at most 20% are 3 or more; 4 bits: at most 25% are 15 or
 * more), else planes.  The thresholds come from compressing the time
 * deltas of alloc_storm and py_work at clocks 1 to 32 times coarser in
 * every mode (order-0 estimates miss what decides: the likeness of
 * neighbouring deltas, which packing puts in one byte); the one for 4 bits
 * is lower than the best split, which gains little over planes and costs
 * a step for every saturated field. */
static unsigned pick_mode(const uint8_t *f, size_t count)
{
    size_t c1 = 0, c3 = 0, c15 = 0, i = 0; /* values of 1, 3, 15 or more */
    if (count < 64)
        return M_PLANES;
    while (count - i >= 8) {
        uint64_t a1 = 0, a3 = 0, a15 = 0, w;
        for (size_t e = count - i >= 8 * 255 ? i + 8 * 255 : count - 7; i < e; i += 8) {
            memcpy(&w, f + i, 8);
            a1 += GE(w, 1);
            a3 += GE(w, 3);
            a15 += GE(w, 15);
        }
        c1 += lanes(a1), c3 += lanes(a3), c15 += lanes(a15);
    }
    for (; i < count; i++)
        c1 += f[i] >= 1, c3 += f[i] >= 3, c15 += f[i] >= 15;
    return c1 * 20 <= count * 11 ? 1 : c3 * 5 <= count ? 2 : c15 * 4 <= count ? 4 : M_PLANES;
}

/* The value of the varint whose first byte is x and whose tail, if it has
 * one, is at *tp.  @return 0, or -1 when the tail runs out or the varint
 * is not in its shortest form (encoding the value would not give it). */
static inline int take_val(uint8_t x, const uint8_t **tp, const uint8_t *te, uint64_t *v)
{
    *v = x & 0x7f;
    if (!(x & 0x80))
        return 0;
    const uint8_t *t = *tp;
    unsigned sh = 7;
    uint8_t u;
    do {
        if (t == te || sh > 63)
            return -1;
        u = *t++;
        *v |= (uint64_t)(u & 0x7f) << sh;
        sh += 7;
    } while (u & 0x80);
    if (u == 0 || (sh == 70 && u > 1))
        return -1;
    *tp = t;
    return 0;
}

/* Packs count values, first bytes f and tails t[0..nt), in fields of b
 * bits at pk: the value, or 2^b - 1 for one that large or larger, whose
 * excess over 2^b - 1 then goes as a varint to *ovp.  Eight values make b
 * bytes, packed with word operations; only the saturated ones take a step
 * each.  pk gets up to b bytes more.  @return 0, or -1 for a varint not
 * in its shortest form. */
static inline __attribute__((always_inline)) int to_packed_b(const uint8_t *f, size_t count, const uint8_t *t,
                                                             size_t nt, uint8_t *pk, uint8_t **ovp, const unsigned b)
{
    const uint64_t lim = (1u << b) - 1;
    const uint8_t *te = t + nt;
    uint8_t *ov = *ovp;
    for (size_t i = 0; i < count; i += 8, pk += b) {
        unsigned m = count - i < 8 ? (unsigned)(count - i) : 8;
        uint64_t w = 0;
        if (m == 8)
            memcpy(&w, f + i, 8);
        else
            for (unsigned j = 0; j < m; j++)
                w |= (uint64_t)f[i + j] << (8 * j);
        /* the bytes of lim or more, without carries between lanes */
        uint64_t sat = (((w & ~HIGHS) + (0x80 - lim) * ONES) | w) & HIGHS, fill = (sat >> 7) * 0xff;
        uint64_t x = (w & ~fill) | (lim * ONES & fill);
        if (b == 4) {
            x = (x | x >> 4) & 0x00ff00ff00ff00ffull;
            x = (x | x >> 8) & 0x0000ffff0000ffffull;
            x = x | x >> 16;
        } else if (b == 2) {
            x = (x | x >> 6) & 0x000f000f000f000full;
            x = (x | x >> 12) & 0x000000ff000000ffull;
            x = x | x >> 24;
        } else {
            x = (x * 0x0102040810204080ull) >> 56; /* the lanes' low bits */
        }
        for (unsigned j = 0; j < b; j++)
            pk[j] = (uint8_t)(x >> (8 * j));
        while (sat) {
            uint8_t y = f[i + ((unsigned)__builtin_ctzll(sat) >> 3)];
            sat &= sat - 1;
            if (__builtin_expect(y & 0x80, 0)) {
                uint64_t v;
                if (take_val(y, &t, te, &v))
                    return -1;
                ov = mrz_put_uvar(ov, v - lim);
            } else {
                *ov++ = (uint8_t)(y - lim);
            }
        }
    }
    *ovp = ov;
    return t == te ? 0 : -1;
}

static int to_packed(const uint8_t *f, size_t count, const uint8_t *t, size_t nt, unsigned b, uint8_t *pk,
                     uint8_t **ovp)
{
    return b == 1   ? to_packed_b(f, count, t, nt, pk, ovp, 1)
           : b == 2 ? to_packed_b(f, count, t, nt, pk, ovp, 2)
                    : to_packed_b(f, count, t, nt, pk, ovp, 4);
}

/* Unpacks count fields of b bits at pk into varints at o[0..on), taking
 * the excess of saturated fields from the varints ov[0..ovn), which are
 * followed by SLACK readable bytes.  o may be written 16 bytes past on.
 * Eight fields are spread with word operations; the saturated ones take a
 * step each.  @return 0, or -1 when the overflow runs out or is not used
 * up, a value does not fit in 64 bits, or the varints do not take on
 * bytes. */
static inline __attribute__((always_inline)) int from_packed_b(const uint8_t *pk, size_t count, const uint8_t *ov,
                                                               size_t ovn, uint8_t *o, size_t on, const unsigned b)
{
    const uint64_t lim = (1u << b) - 1;
    const uint8_t *ove = ov + ovn;
    uint8_t *oe = o + on;
    for (size_t i = 0; i < count; i += 8, pk += b) {
        unsigned m = count - i < 8 ? (unsigned)(count - i) : 8;
        uint64_t y = 0, w;
        if (m == 8) /* loads of a constant size, into a register */
            y = b == 4 ? mrz_get_le32(pk) : b == 2 ? mrz_get_le16(pk) : pk[0];
        else
            for (unsigned j = 0; j < (m * b + 7) / 8; j++)
                y |= (uint64_t)pk[j] << (8 * j);
        if (b == 4) {
            w = (y | y << 16) & 0x0000ffff0000ffffull;
            w = (w | w << 8) & 0x00ff00ff00ff00ffull;
            w = (w | w << 4) & 0x0f0f0f0f0f0f0f0full;
        } else if (b == 2) {
            w = (y | y << 24) & 0x000000ff000000ffull;
            w = (w | w << 12) & 0x000f000f000f000full;
            w = (w | w << 6) & 0x0303030303030303ull;
        } else {
            w = ((((y * ONES) & 0x8040201008040201ull) + 0x7f * ONES) >> 7) & ONES;
        }
        if (m == 8 && ((w + ONES) & ((lim + 1) * ONES)) == 0) { /* none saturated */
            memcpy(o, &w, 8);
            o += 8;
        } else {
            for (unsigned k = 0; k < m; k++, w >>= 8) {
                unsigned x = (unsigned)w & 0xff, u = *ov;
                if (x < lim) {
                    *o++ = (uint8_t)x;
                } else if (__builtin_expect(u < 0x80, 1)) {
                    unsigned v = (unsigned)lim + u; /* below 2^8 */
                    ov++;
                    o[0] = (uint8_t)(v | (v >> 7) << 7);
                    o[1] = 1;
                    o += 1 + (v >> 7);
                } else {
                    uint64_t v;
                    if (mrz_get_uvar(&ov, ove, &v) || v > UINT64_MAX - lim)
                        return -1;
                    uint8_t e[MRZ_VARINT_MAX];
                    size_t n = (size_t)(mrz_put_uvar(e, v + lim) - e);
                    if (n > (size_t)(oe - o))
                        return -1;
                    memcpy(o, e, n);
                    o += n;
                }
                if (o > oe)
                    return -1;
            }
        }
        if (o > oe || ov > ove)
            return -1;
    }
    return ov == ove && o == oe ? 0 : -1;
}

static int from_packed(const uint8_t *pk, size_t count, unsigned b, const uint8_t *ov, size_t ovn, uint8_t *o,
                       size_t on)
{
    return b == 1   ? from_packed_b(pk, count, ov, ovn, o, on, 1)
           : b == 2 ? from_packed_b(pk, count, ov, ovn, o, on, 2)
                    : from_packed_b(pk, count, ov, ovn, o, on, 4);
}

/* ------------------------------------------------------------- columns */

/* Compresses the streams st[0..ns) as one zstd frame at q (room cap), each
 * stream ending a block, so that it gets literal tables of its own.
 * @return the frame's size, or 0 when it does not fit. */
static size_t compress_streams(ZSTD_CCtx *cc, int level, const uint8_t *const *st, const size_t *sn, int ns,
                               size_t total, uint8_t *q, size_t cap)
{
    ZSTD_outBuffer out = {q, cap, 0};
    if (ZSTD_isError(ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total)))
        return 0;
    for (int j = 0; j < ns; j++) {
        if (sn[j] == 0 && j < ns - 1)
            continue;
        ZSTD_inBuffer in = {st[j], sn[j], 0};
        size_t r;
        do {
            r = ZSTD_compressStream2(cc, &out, &in, j == ns - 1 ? ZSTD_e_end : ZSTD_e_flush);
            if (ZSTD_isError(r) || (r && out.pos == out.size))
                return 0;
        } while (r || in.pos < in.size);
    }
    return out.pos;
}

size_t mrz_colcode_put_work(size_t n) { return 3 * n + 4 * SLACK; }

size_t mrz_colcode_put(void *cctx, int level, const uint8_t *f, size_t nf, const uint8_t *t, size_t nt, int pack,
                       uint8_t *work, uint8_t *q, size_t cap)
{
    const uint8_t *st[NSTREAMS] = {f};
    size_t sn[NSTREAMS] = {nf};
    int ns = 1;
    unsigned mode = pack ? pick_mode(f, nf) : M_PLANES;
    if (mode != M_PLANES) {
        uint8_t *pk = work, *ov0 = pk + nf / 2 + 1 + SLACK, *ov = ov0;
        if (to_packed(f, nf, t, nt, mode, pk, &ov) == 0) {
            st[0] = pk, sn[0] = (nf * mode + 7) / 8;
            st[1] = ov0, sn[1] = (size_t)(ov - ov0);
            ns = 2;
        } else {
            mode = M_PLANES; /* a varint not in its shortest form */
        }
    }
    if (mode == M_PLANES && nt) {
        if (count_high(t, nt) == 0) /* tails of one byte: the second plane */
            st[1] = t, sn[1] = nt, ns = 2;
        else if ((ns = 1 + tail_planes(t, nt, work, st + 1, sn + 1)) < 1)
            return 0;
    }
    size_t total = 0;
    if (cap < 2 + MRZ_VARINT_MAX * (1 + NSTREAMS))
        return 0;
    uint8_t *h = q;
    *h++ = (uint8_t)mode;
    h = mrz_put_uvar(h, nf);
    *h++ = (uint8_t)ns;
    for (int j = 0; j < ns; j++) {
        h = mrz_put_uvar(h, sn[j]);
        total += sn[j];
    }
    size_t room = cap - (size_t)(h - q), z = compress_streams(cctx, level, st, sn, ns, total, h, room);
    if (z == 0 || z >= total) {
        /* as they are */
        if (total > room)
            return 0;
        *q |= M_STORED;
        for (int j = 0; j < ns; j++) {
            memcpy(h, st[j], sn[j]);
            h += sn[j];
        }
        return (size_t)(h - q);
    }
    return (size_t)(h - q) + z;
}

/* Packed streams take up to 1.5 times the column: half a byte of fields
 * and a whole overflow for every value. */
size_t mrz_colcode_get_work(size_t len) { return 2 * len + 2 * SLACK; }

int mrz_colcode_get(void *dctx, const uint8_t *p, size_t n, uint8_t *out, size_t len, uint8_t *work, size_t wn)
{
    const uint8_t *end = p + n;
    uint64_t count, sl[NSTREAMS] = {0}, sum = 0;
    if (n < 3)
        return -1;
    unsigned mode = *p & ~M_STORED, stored = *p++ & M_STORED;
    if (mrz_get_uvar(&p, end, &count) || count > len || p >= end)
        return -1;
    unsigned ns = *p++;
    if (mode == M_PLANES ? ns < 1 || ns > NSTREAMS : (mode != 1 && mode != 2 && mode != 4) || ns != 2)
        return -1;
    for (unsigned j = 0; j < ns; j++) {
        if (mrz_get_uvar(&p, end, &sl[j]) || sl[j] > len)
            return -1;
        sum += sl[j];
    }
    /* planes must add up to the column; one plane is the column itself,
     * the others are joined from work */
    int direct = mode == M_PLANES && ns == 1;
    uint8_t *dst = direct ? out : work;
    if (mode == M_PLANES ? sum != len || sl[0] != count : sl[0] != (count * mode + 7) / 8)
        return -1;
    if (!direct && sum + SLACK > wn)
        return -1;
    if (stored) {
        if ((uint64_t)(end - p) != sum)
            return -1;
        memcpy(dst, p, (size_t)sum);
    } else {
        size_t z = ZSTD_decompressDCtx(dctx, dst, (size_t)sum, p, (size_t)(end - p));
        if (ZSTD_isError(z) || z != sum)
            return -1;
    }
    if (direct)
        return count_high(out, len) == 0 ? 0 : -1; /* values of one byte */
    memset(work + sum, 0, SLACK);
    if (mode != M_PLANES)
        return from_packed(work, (size_t)count, mode, work + sl[0], (size_t)sl[1], out, len);
    const uint8_t *p1 = work + count, *p2 = p1 + sl[1], *p3 = p2 + sl[2];
    if (count_high(work, (size_t)count) != sl[1] || count_high(p1, (size_t)sl[1]) != sl[2])
        return -1;
    return from_planes(work, (size_t)count, p1, p2, p3, (size_t)sl[3], out) == out + len ? 0 : -1;
}

/* ---------------------------------------------------------- byte columns */

/* Tags are few distinct bytes (a chunk's kinds of record, with or without
 * an explicit pointer): as 4-bit indices two share a byte, whose Huffman
 * code then also catches which tag tends to follow which. */

size_t mrz_colcode_put_bytes(void *cctx, int level, const uint8_t *v, size_t n, uint8_t *work, uint8_t *q,
                             size_t cap)
{
    /* indices in order of first appearance, given out while packing */
    uint8_t idx[256], alpha[16];
    unsigned k = 0;
    memset(idx, 0xff, sizeof idx);
    size_t i = 0;
    for (; i < n; i += 2) {
        uint8_t a = v[i], b = i + 1 < n ? v[i + 1] : v[i];
        if (__builtin_expect((idx[a] | idx[b]) & 0x80, 0)) {
            if (idx[a] & 0x80 && k < 16)
                alpha[k] = a, idx[a] = (uint8_t)k++;
            if (idx[b] & 0x80 && k < 16)
                alpha[k] = b, idx[b] = (uint8_t)k++;
            if ((idx[a] | idx[b]) & 0x80)
                break; /* a 17th value */
        }
        work[i / 2] = (uint8_t)(idx[a] | (i + 1 < n ? idx[b] << 4 : 0));
    }
    const uint8_t *src = v;
    size_t sn = n;
    uint8_t *h = q;
    if (cap < 2 + 16)
        return 0;
    if (i >= n && n) {
        src = work, sn = (n + 1) / 2;
        *h++ = 4;
        *h++ = (uint8_t)k;
        memcpy(h, alpha, k);
        h += k;
    } else {
        *h++ = 0;
    }
    size_t room = cap - (size_t)(h - q), z = ZSTD_compressCCtx(cctx, h, room, src, sn, level);
    if (ZSTD_isError(z) || z >= sn) {
        if (sn > room)
            return 0;
        *q |= M_STORED;
        memcpy(h, src, sn);
        z = sn;
    }
    return (size_t)(h - q) + z;
}

int mrz_colcode_get_bytes(void *dctx, const uint8_t *p, size_t n, uint8_t *out, size_t len)
{
    const uint8_t *end = p + n;
    if (n < 1)
        return -1;
    unsigned mode = *p & ~M_STORED, stored = *p++ & M_STORED, k = 0;
    uint8_t alpha[16] = {0};
    if (mode == 4) {
        if (p == end || (k = *p++) < 1 || k > 16 || (size_t)(end - p) < k)
            return -1;
        memcpy(alpha, p, k);
        p += k;
    } else if (mode != 0) {
        return -1;
    }
    /* nibbles are unpacked in place: packed at the end, pairs written from
     * the start never reach a packed byte not read yet */
    size_t sn = mode ? (len + 1) / 2 : len;
    uint8_t *dst = out + (len - sn);
    if (stored) {
        if ((size_t)(end - p) != sn)
            return -1;
        memcpy(dst, p, sn);
    } else {
        size_t z = ZSTD_decompressDCtx(dctx, dst, sn, p, (size_t)(end - p));
        if (ZSTD_isError(z) || z != sn)
            return -1;
    }
    if (!mode)
        return 0;
    uint16_t pair[256];
    uint8_t bad[256], any = 0;
    for (unsigned b = 0; b < 256; b++) {
        unsigned lo = b & 15, hi = b >> 4;
        bad[b] = lo >= k || hi >= k;
        pair[b] = (uint16_t)(lo < k && hi < k ? alpha[lo] | alpha[hi] << 8 : 0);
    }
    size_t i = 0;
    for (; i < len / 2; i++) {
        uint8_t b = dst[i];
        any |= bad[b];
        out[2 * i] = (uint8_t)pair[b];
        out[2 * i + 1] = (uint8_t)(pair[b] >> 8);
    }
    if (len & 1) {
        uint8_t b = dst[i];
        any |= b >= k; /* the unused high nibble is 0 */
        out[2 * i] = alpha[b & 15];
    }
    return any ? -1 : 0;
}
