/* Pointer references of hot records and the column codec of chunks
 * (format/mrz_codec.h, format/columns.c, format/colcode.c): every record
 * comes back exactly, references are used where they should be, chunks
 * stay independent, each coding of a column (byte planes, packed fields,
 * tags as indices) gives its bytes back, and bad column payloads are
 * refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "../unit/check.h"
#include "colcode.h"
#include "mrz.h"

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

struct want { uint8_t type; uint64_t time, ptr, size, stack, align, ip; };

/* A window of live blocks, as a program keeps: most frees release a recent
 * block, most allocations reuse a recently released address.  Time goes
 * up by 0 .. tstep - 1 per record; wide: some sizes and pointers take
 * 10-byte varints, and framed records come in 20 types. */
static int wide;
static size_t make_payload(uint8_t *buf, struct mrz_delta *d, struct want *w, int n, uint64_t t0, int *nw,
                           unsigned tstep)
{
    uint64_t live[512] = {0}, gone[64] = {0}, t = t0, next_id = 1;
    uint8_t *p = buf;
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct want *x = &w[k];
        memset(x, 0, sizeof *x);
        t += rnd() % tstep;
        unsigned pick = (unsigned)(rnd() % 16);
        uint64_t slot = rnd() % 512;
        if (pick < 7 || !live[slot]) {
            x->type = (uint8_t)(pick == 0 ? 1 + rnd() % 9 : 1);
            x->ptr = rnd() % 3 ? (gone[rnd() % 64] ? gone[rnd() % 64] : 0x7f0000001000ull + (rnd() % 4096) * 16)
                               : 0x7f0000001000ull + (rnd() % 100000) * 16;
            if (rnd() % 200 == 0)
                x->ptr = 0; /* a failed call */
            if (wide && rnd() % 50 == 0)
                x->ptr = 0x8000000000000000ull + (rnd() % 64) * 16; /* a Δptr of 10 bytes */
            x->size = wide && rnd() % 50 == 0 ? UINT64_MAX - rnd() % 3 : rnd() % 5000;
            x->stack = rnd() % 40;
            x->align = mrz_kind_has_align(x->type) ? 16u << (rnd() % 8) : 0;
            p = mrz_enc_alloc(p, d, x->type, t, x->ptr, x->size, x->stack, x->align);
            live[slot] = x->ptr;
        } else if (pick < 13) {
            x->type = pick == 12 ? MRZ_T_REALLOC_FREE : MRZ_T_FREE;
            x->ptr = live[slot];
            p = mrz_enc_free(p, d, x->type, t, x->ptr);
            gone[rnd() % 64] = x->ptr;
            live[slot] = 0;
        } else if (pick == 13) {
            x->type = MRZ_T_STACK;
            uint64_t id = next_id++, parent = rnd() % id;
            x->stack = id - parent;
            x->ip = 0x555555554000ull + rnd() % 0x100000;
            p = mrz_enc_stack(p, d, id, parent, x->ip);
        } else if (pick == 14) {
            x->type = MRZ_T_CUDA_ALLOC;
            x->ptr = 0x7f5000000000ull + rnd() % 1000000;
            x->size = rnd();
            p = mrz_enc_cuda_alloc(p, d, t, 1, 0, x->ptr, x->size, 7, 0, 3);
        } else {
            /* framed: a known one, one of an unknown type, one >= 0x80 */
            static const uint8_t types[] = {MRZ_T_THREAD, 0x7e, 0xc5};
            x->type = wide ? (uint8_t)(0x60 + rnd() % 20) : types[rnd() % 3];
            x->time = rnd();
            struct mrz_framed f;
            uint8_t *q = mrz_framed_begin(&f, p, x->type);
            q = mrz_put_uvar(q, x->time);
            q = mrz_put_uvar(q, 4242);
            p = mrz_framed_end(&f, q);
        }
        if (x->type < MRZ_T_STACK || x->type == MRZ_T_CUDA_ALLOC)
            x->time = t;
        k++;
    }
    *nw = k;
    return (size_t)(p - buf);
}

static int check_records(const uint8_t *raw, size_t n, uint64_t base, const struct want *w, int nw)
{
    static struct mrz_delta d;
    mrz_delta_reset(&d, base);
    const uint8_t *p = raw;
    for (int i = 0; i < nw; i++) {
        struct mrz_rec r;
        const struct want *x = &w[i];
        if (mrz_decode(&p, raw + n, &d, &r) != 1 || r.type != x->type)
            return i + 1;
        if (x->type <= MRZ_T_REALLOC_FREE &&
            (r.time != x->time || r.ptr != x->ptr || (x->type <= MRZ_K_MAX && (r.size != x->size || r.stack != x->stack ||
                                                                                r.align != x->align))))
            return i + 1;
        if (x->type == MRZ_T_STACK && (r.stack != x->stack || r.ip != x->ip))
            return i + 1;
        if (x->type == MRZ_T_CUDA_ALLOC && (r.ptr != x->ptr || r.size != x->size))
            return i + 1;
        if (x->type == MRZ_T_THREAD && (r.time != x->time || r.a != 4242))
            return i + 1;
    }
    return p == raw + n ? 0 : -1;
}

/* References: a free of the block just made is "1", an allocation at the
 * address just released is "1", a block older than the ring is explicit. */
static void test_refs(void)
{
    static struct mrz_ref_cache cache;
    static struct mrz_delta d;
    uint8_t buf[64 * MRZ_HOT_MAX], *p;
    mrz_delta_reset(&d, 1000);
    d.cache = &cache;
    p = mrz_enc_alloc(buf, &d, MRZ_K_MALLOC, 1001, 0x5000, 16, 1, 0);
    CHECK(buf[2] == 0); /* the first pointer is explicit */
    uint8_t *f = p;
    p = mrz_enc_free(p, &d, MRZ_T_FREE, 1002, 0x5000);
    CHECK(p - f == 3 && f[0] == MRZ_T_FREE && f[1] == 1 && f[2] == 1);
    uint8_t *a = p;
    p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, 1003, 0x5000, 32, 1, 0);
    CHECK(a[2] == 1); /* the address released just before */
    a = p;
    p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, 1004, 0x6000, 32, 1, 0);
    p = mrz_enc_free(p, &d, MRZ_T_FREE, 1005, 0x5000);
    CHECK(p[-1] == 2); /* the second latest allocation */

    /* a chunk boundary: nothing of the old chunk is referred to */
    mrz_delta_rebase(&d, 2000);
    CHECK(d.cache == &cache && d.nalloc == 0 && d.nfree == 0);
    f = p;
    p = mrz_enc_free(p, &d, MRZ_T_FREE, 2001, 0x6000);
    CHECK(f[2] == 0);

    /* beyond the ring: explicit */
    static uint8_t big[(MRZ_RING + 8) * MRZ_HOT_MAX];
    mrz_delta_rebase(&d, 3000);
    uint8_t *q = mrz_enc_alloc(big, &d, MRZ_K_MALLOC, 3001, 0x9000, 16, 1, 0);
    for (unsigned i = 0; i < MRZ_RING; i++)
        q = mrz_enc_alloc(q, &d, MRZ_K_MALLOC, 3002, 0x100000 + 16 * (uint64_t)i, 16, 1, 0);
    f = q;
    q = mrz_enc_free(q, &d, MRZ_T_FREE, 3003, 0x9000);
    CHECK(f[2] == 0);
    /* a reference exactly MRZ_RING back reaches the second allocation (the
     * first release above does not count: it is on the other side) */
    uint8_t *g = q;
    *q++ = MRZ_T_FREE;
    *q++ = 1;
    q = mrz_put_uvar(q, MRZ_RING);
    static struct mrz_delta r;
    mrz_delta_reset(&r, 3000);
    const uint8_t *c = big;
    struct mrz_rec rec;
    int ok = 1;
    while (c < q && ok)
        ok = mrz_decode(&c, q, &r, &rec) == 1;
    CHECK(ok && rec.ptr == 0x100000 && rec.type == MRZ_T_FREE);
    /* one further is refused */
    q = g;
    *q++ = MRZ_T_FREE;
    *q++ = 1;
    q = mrz_put_uvar(q, MRZ_RING + 1);
    mrz_delta_reset(&r, 3000);
    c = big;
    int e = 1;
    while (c < q && e == 1)
        e = mrz_decode(&c, q, &r, &rec);
    CHECK_EQ(e, (uint64_t)(int64_t)MRZ_ECORRUPT);

    /* a reference further back than the chunk holds is corrupt */
    uint8_t bad[] = {MRZ_T_FREE, 1, 1};
    mrz_delta_reset(&r, 0);
    c = bad;
    CHECK_EQ(mrz_decode(&c, bad + 3, &r, &rec), (uint64_t)(int64_t)MRZ_ECORRUPT);
}

static int write_file(const char *path, const uint8_t *chunks, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(h, 77);
    fwrite(h, 1, sizeof h, f);
    fwrite(chunks, 1, n, f);
    return fclose(f);
}

/* Codec 2 round trip through a file and the reader, with the columns kept
 * by the writer (cols = 1; framed, STACK and CUDA records go in as runs of
 * rows) and split from the payload at the end (cols = 0). */
static size_t codec2_pass(int cols, uint8_t *out, size_t *total_raw, unsigned tstep)
{
    enum { N = 30000, CH = 3 };
    static struct want w[CH][N];
    static uint8_t raw[CH][N * 24];
    static struct mrz_ref_cache cache;
    static struct mrz_delta d;
    size_t len[CH];
    int nw[CH];
    size_t cap = 0;
    uint8_t *scratch = malloc(mrz_cols_scratch_size(N * 24));
    uint8_t *colmem = calloc(MRZ_NCOLS + 1, N * 24 + 32);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    memset(&cache, 0, sizeof cache);
    if (cols) {
        for (int i = 0; i < MRZ_NCOLS; i++)
            cache.col[i] = colmem + (size_t)i * (N * 24 + 32);
        cache.col_cap = N * 24;
    }
    mrz_delta_reset(&d, 0);
    d.cache = &cache;
    *total_raw = 0;
    for (int c = 0; c < CH; c++) {
        cache.rows = raw[c];
        mrz_delta_rebase(&d, 100000u * (unsigned)c);
        len[c] = make_payload(raw[c], &d, w[c], N, 100000u * (unsigned)c, &nw[c], tstep);
        CHECK(len[c] <= N * 24);
        CHECK(!cache.broken);
        struct mrz_chunk_info ci = {.stream = 1, .seq = (uint32_t)c, .base_ticks = 100000u * (unsigned)c};
        long k = mrz_chunk_encode_cols(out + cap, cc, 1, &ci, raw[c], len[c], scratch, cols ? &cache : NULL);
        CHECK(k > 0 && out[cap + 4] == MRZ_CODEC_COLS);
        CHECK((size_t)k < len[c]); /* and smaller */
        cap += (size_t)k;
        *total_raw += len[c];
    }
    char path[] = "/tmp/test_columns_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(write_file(path, out, cap) == 0);
    struct mrz_reader *r;
    CHECK(mrz_reader_open(path, &r) == 0);
    struct mrz_chunk ch;
    for (int c = 0; c < CH; c++) {
        CHECK(mrz_reader_next(r, &ch) == 1);
        CHECK(ch.raw_len == len[c] && !memcmp(ch.raw, raw[c], len[c]));
        CHECK_EQ(check_records(ch.raw, ch.raw_len, ch.info.base_ticks, w[c], nw[c]), 0);
    }
    CHECK(mrz_reader_next(r, &ch) == 0);
    uint64_t skipped;
    CHECK(mrz_reader_damage(r, &skipped) == UINT64_MAX);
    mrz_reader_close(r);
    unlink(path);
    ZSTD_freeCCtx(cc);
    free(scratch);
    free(colmem);
    return cap;
}

static void test_codec2(void)
{
    static uint8_t out[3 * (30000 * 24 + 4096)];
    /* time steps that make the time column planes and each packed width;
     * then wide values and many tags */
    static const unsigned steps[] = {300, 2, 3, 6, 300};
    for (int k = 0; k < 5; k++) {
        size_t raw_kept, raw_split;
        wide = k == 4;
        rs = 12345;
        size_t kept = codec2_pass(1, out, &raw_kept, steps[k]);
        rs = 12345;
        size_t split = codec2_pass(0, out, &raw_split, steps[k]);
        /* the same records either way, and much the same size (the
         * writer's columns take framed and STACK records in as runs) */
        CHECK(raw_kept == raw_split);
        CHECK(kept < split * 11 / 10 && split < kept * 11 / 10);
    }
    wide = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    uint8_t *scratch = malloc(mrz_cols_scratch_size(64));

    /* a payload that does not split (a reserved hot type) falls back to
     * codec 1 and still reads back */
    uint8_t odd[] = {MRZ_T_THREAD, 2, 5, 7, 0x15, 1, 2, 3};
    struct mrz_chunk_info ci = {.stream = 2};
    long k = mrz_chunk_encode_cols(out, cc, 1, &ci, odd, sizeof odd, scratch, NULL);
    CHECK(k > 0 && out[4] == MRZ_CODEC_ZSTD);

    /* bad column payloads with good checksums: refused, never read past */
    void *dctx = mrz_dctx_new();
    uint8_t *buf = NULL;
    size_t bcap = 0;
    const uint8_t *rawp;
    uint8_t cols[64];
    memset(cols, 0, sizeof cols);
    cols[0] = 9; /* nine empty columns but a record expected */
    CHECK_EQ(mrz_cols_load(dctx, cols, 19, 5, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* by hand (SPEC 4.4): TAG stored as it is (mode 0x80), TIME and FREF
     * as one plane stored as it is (0x80, count 1, 1 stream of 1 byte) */
    uint8_t two[] = {9, 1, 2, 1, 5, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                     0x80, MRZ_T_FREE, 0x80, 1, 1, 1, 5, 0x80, 1, 1, 1, 1};
    CHECK_EQ(mrz_cols_load(dctx, two, sizeof two, 3, &buf, &bcap, &rawp), 0);
    CHECK(rawp[0] == MRZ_T_FREE && rawp[1] == 5 && rawp[2] == 1);
    /* a tag for a FREE whose time column is empty */
    uint8_t one[] = {9, 1, 2, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, MRZ_T_FREE, 0x80, 1, 1, 1, 1};
    CHECK_EQ(mrz_cols_load(dctx, one, sizeof one, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* a TAG or varint column stored without its coding */
    uint8_t bare[] = {9, 1, 0, 1, 5, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                      MRZ_T_FREE, 0x80, 1, 1, 1, 5, 0x80, 1, 1, 1, 1};
    CHECK_EQ(mrz_cols_load(dctx, bare, sizeof bare, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    uint8_t bare2[] = {9, 1, 2, 1, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0x80, MRZ_T_FREE, 5, 0x80, 1, 1, 1, 1};
    CHECK_EQ(mrz_cols_load(dctx, bare2, sizeof bare2, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* every shorter column table or data is refused */
    for (size_t cut = 0; cut < sizeof two; cut++)
        CHECK_EQ(mrz_cols_load(dctx, two, cut, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* an explicit tag on a type without a pointer */
    uint8_t three[] = {9, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80 | MRZ_T_STACK};
    CHECK_EQ(mrz_cols_load(dctx, three, sizeof three, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    free(buf);
    mrz_dctx_free(dctx);
    ZSTD_freeCCtx(cc);
    free(scratch);
}

/* ------------------------------------------------ coded columns alone */

/* A varint column as the writer keeps it, first bytes and tails, and as
 * the reader gets it back, whole. */
struct vcol { uint8_t f[70000], t[70000 * 9 + 32], v[70000 * 10]; size_t nf, nt, nv; };

static void vcol_add(struct vcol *c, uint64_t v)
{
    uint8_t *e = c->v + c->nv;
    size_t n = (size_t)(mrz_put_uvar(e, v) - e);
    c->f[c->nf++] = e[0];
    memcpy(c->t + c->nt, e + 1, n - 1);
    c->nt += n - 1;
    c->nv += n;
}

static uint8_t coded[1 << 20], work[1 << 21], back[70000 * 10 + 64];

/* Codes c (pack: as a time column), decodes it, and checks the bytes come
 * back.  @return the mode byte written (0x80: streams stored as they are). */
static int colcode_round(ZSTD_CCtx *cc, void *dctx, const struct vcol *c, int pack, size_t *csize)
{
    size_t n = mrz_colcode_put(cc, 1, c->f, c->nf, c->t, c->nt, pack, work, coded, sizeof coded);
    CHECK(n > 0);
    CHECK_EQ(c->nv, c->nf + c->nt);
    memset(back, 0xaa, sizeof back);
    CHECK_EQ(mrz_colcode_get(dctx, coded, n, back, c->nv, work, mrz_colcode_get_work(c->nv)), 0);
    CHECK(!memcmp(back, c->v, c->nv));
    if (csize)
        *csize = n;
    return coded[0];
}

static void test_colcode(void)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    void *dctx = mrz_dctx_new();
    static struct vcol c;
    size_t n;
    rs = 777;

    /* one value; then values of one byte: one plane */
    memset(&c, 0, sizeof c);
    vcol_add(&c, 0);
    CHECK_EQ(colcode_round(cc, dctx, &c, 0, NULL), 0x80); /* planes, as it is */
    CHECK_EQ(coded[2], 1);
    for (int i = 0; i < 50000; i++)
        vcol_add(&c, rnd() % 100);
    CHECK_EQ(colcode_round(cc, dctx, &c, 0, &n), 0);
    CHECK_EQ(coded[4], 1); /* mode, count (3 bytes), one stream */
    CHECK(n < c.nf * 7 / 8);

    /* sizes of 16..4095: two planes, about 12 bits a value (a varint
     * column in one Huffman table takes about 14) */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 50000; i++)
        vcol_add(&c, 16 + rnd() % 4080);
    CHECK_EQ(colcode_round(cc, dctx, &c, 0, &n), 0);
    CHECK_EQ(coded[4], 2);
    CHECK(n * 8 < 50000 * 125 / 10);

    /* pointer deltas of 3 to 7 bytes and 10-byte varints: four planes */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 50000; i++)
        vcol_add(&c, i % 97 == 0 ? UINT64_MAX - rnd() % 5 : rnd() % (1ull << (14 + rnd() % 35)));
    CHECK_EQ(colcode_round(cc, dctx, &c, 0, NULL), 0);
    CHECK_EQ(coded[4], 4);

    /* values of three bytes (tails of two), now and then another length */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 50000; i++)
        vcol_add(&c, i % 1000 == 999 ? rnd() % (1ull << (7 * (rnd() % 6))) : 16384 + rnd() % ((1u << 21) - 16384));
    CHECK_EQ(colcode_round(cc, dctx, &c, 0, NULL), 0);
    CHECK_EQ(coded[4], 4);

    /* time deltas: the packed width follows how many values are small */
    static const struct { unsigned mod, big; int mode; } tc[] = {
        {2, 0, 1},      /* 0 or 1: a bit each */
        {3, 0, 2},      /* 0 .. 2 */
        {6, 0, 4},      /* 3 .. 5 are 50%: not 2 bits */
        {15, 0, 4},     /* 0 .. 14 */
        {15, 10, 4},    /* and one in 10 large, some of 10 bytes */
        {15, 3, 0},     /* one in 3 large: planes */
        {300, 0, 0},
    };
    for (int k = 0; k < 7; k++) {
        memset(&c, 0, sizeof c);
        for (int i = 0; i < 40000 + k; i++) {
            uint64_t v = rnd() % tc[k].mod;
            if (k == 2)
                v = rnd() % 2 ? v % 3 : 3 + v % 3;
            if (tc[k].big && rnd() % tc[k].big == 0)
                v = rnd() % 7 == 0 ? UINT64_MAX - rnd() % 20 : 15 + rnd() % 100000;
            vcol_add(&c, v);
        }
        CHECK_EQ(colcode_round(cc, dctx, &c, 1, NULL) & 0x7f, tc[k].mode);
        CHECK_EQ(colcode_round(cc, dctx, &c, 0, NULL) & 0x7f, 0); /* not a time column */
    }
    /* a varint longer than it needs to be (80 00 is 0) is kept as it is:
     * planes, not packed */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 1000; i++)
        vcol_add(&c, rnd() % 2);
    memmove(c.v + 501, c.v + 500, c.nv - 500);
    c.v[500] = 0x80, c.v[501] = 0, c.nv++;
    c.f[500] = 0x80;
    c.t[c.nt++] = 0;
    CHECK_EQ(colcode_round(cc, dctx, &c, 1, NULL) & 0x7f, 0);

    /* malformed: every shorter column, a wrong length, and hand-made bad
     * headers are refused */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 3000; i++)
        vcol_add(&c, rnd() % 10 ? rnd() % 3 : rnd() % 100000);
    size_t len = c.nv, wn = mrz_colcode_get_work(len);
    for (int pack = 0; pack < 2; pack++) {
        n = mrz_colcode_put(cc, 1, c.f, c.nf, c.t, c.nt, pack, work, coded, sizeof coded);
        CHECK_EQ(coded[0], pack ? 2 : 0); /* packed in 2 bits, or 3 planes; compressed */
        int bad = 0;
        for (size_t cut = 0; cut < n; cut++)
            bad += mrz_colcode_get(dctx, coded, cut, back, len, work, wn) == -1;
        CHECK_EQ(bad, n);
        CHECK_EQ(mrz_colcode_get(dctx, coded, n, back, len + 1, work, wn), -1);
        CHECK_EQ(mrz_colcode_get(dctx, coded, n, back, len - 1, work, wn), -1);
        CHECK_EQ(mrz_colcode_get(dctx, coded, n, back, len, work, len / 4), -1);
        CHECK_EQ(mrz_colcode_get(dctx, coded, n, back, len, work, wn), 0);
    }
    static const struct { uint8_t b[20]; size_t n, len; } bad[] = {
        {{0x80, 1, 0}, 3, 1},                      /* no stream */
        {{0x80, 1, 5, 1, 0, 0, 0, 0, 7}, 9, 1},    /* five streams */
        {{0x83, 1, 2, 1, 1, 3, 0}, 7, 1},          /* mode 3 */
        {{0x84, 1, 1, 1, 3}, 5, 1},                /* packed with one stream */
        {{0x80, 2, 1, 1, 5}, 5, 1},                /* count above len */
        {{0x80, 1, 2, 1, 1, 0x85, 0x81}, 7, 2},    /* the tail says it goes on */
        {{0x80, 1, 2, 1, 1, 5, 1}, 7, 2},          /* a tail for a value of one byte */
        {{0x80, 1, 1, 1, 0x85}, 5, 1},             /* a first byte with no tail */
        {{0x84, 1, 2, 1, 0, 15}, 6, 1},            /* saturated, no overflow */
        {{0x84, 1, 2, 1, 1, 0, 3}, 7, 1},          /* overflow not used up */
        {{0x84, 1, 2, 1, 0, 0x15}, 6, 1},          /* an unused field not zero is fine, */
        {{0x84, 2, 2, 1, 10, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 16, 11},
        /* ... a value past 2^64 - 1 is not */
    };
    for (int k = 0; k < 12; k++) {
        int want = k == 10 ? 0 : -1;
        CHECK_EQ(mrz_colcode_get(dctx, bad[k].b, bad[k].n, back, bad[k].len, work, 64), (uint64_t)(int64_t)want);
    }

    /* by hand: every field saturated, so the streams are longer than the
     * column (4-bit fields of 15, excesses 0 .. 99: values 15 .. 114) */
    static uint8_t all[8 + 150];
    memcpy(all, (uint8_t[]){0x84, 100, 2, 50, 100}, 5);
    memset(all + 5, 0xff, 50);
    for (int i = 0; i < 100; i++)
        all[55 + i] = (uint8_t)i;
    CHECK_EQ(mrz_colcode_get(dctx, all, 155, back, 100, work, mrz_colcode_get_work(100)), 0);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= back[i] == 15 + i;
    CHECK(same);

    /* tags: at most 16 values as 4-bit indices, else bytes; odd lengths */
    static uint8_t tags[60001], tback[60001 + 16];
    static const uint8_t kinds[] = {1, 2, 3, 0x10, 0x11, 0x81, 0x82, 0x90, 0x91, 0x12, 0x2f, 0xff, 0x21, 0x80, 5, 6};
    for (int k = 0; k < 3; k++) {
        size_t tn = k == 0 ? 1 : 60000 + (size_t)k;
        for (size_t i = 0; i < tn; i++)
            tags[i] = k < 2 ? kinds[rnd() % 16] : (uint8_t)(0x20 + rnd() % 17);
        n = mrz_colcode_put_bytes(cc, 1, tags, tn, work, coded, sizeof coded);
        CHECK(n > 0);
        CHECK_EQ(coded[0] & 0x7f, k < 2 ? 4 : 0);
        memset(tback, 0xaa, sizeof tback);
        CHECK_EQ(mrz_colcode_get_bytes(dctx, coded, n, tback, tn), 0);
        CHECK(!memcmp(tback, tags, tn) && tback[tn] == 0xaa);
        if (k == 1)
            CHECK(n * 4 < tn * 3); /* under 6 bits a tag: 16 kinds at random take 4 */
        CHECK_EQ(mrz_colcode_get_bytes(dctx, coded, n - 1, tback, tn), -1);
        CHECK_EQ(mrz_colcode_get_bytes(dctx, coded, n, tback, tn + 2), -1);
    }
    static const struct { uint8_t b[8]; size_t n, len; } badtags[] = {
        {{0x84, 0}, 2, 1},                 /* no values listed */
        {{0x84, 17}, 2, 1},                /* seventeen */
        {{0x84, 2, 7, 9, 0x02}, 5, 1},     /* index 2 of 2 */
        {{0x84, 2, 7, 9, 0x21}, 5, 2},     /* index 2 of 2, high nibble */
        {{0x84, 2, 7, 9, 0x11}, 5, 1},     /* an odd length's unused nibble */
        {{0x83, 2, 7, 9, 0x10}, 5, 2},     /* mode 3 */
    };
    for (int k = 0; k < 6; k++)
        CHECK_EQ(mrz_colcode_get_bytes(dctx, badtags[k].b, badtags[k].n, tback, badtags[k].len), -1);
    uint8_t good[] = {0x84, 2, 7, 9, 0x10};
    CHECK_EQ(mrz_colcode_get_bytes(dctx, good, sizeof good, tback, 2), 0);
    CHECK(tback[0] == 7 && tback[1] == 9);
    mrz_dctx_free(dctx);
    ZSTD_freeCCtx(cc);
}

int main(void)
{
    test_refs();
    test_codec2();
    test_colcode();
    return check_report("test_columns");
}
