/* Pointer references of hot records and the column codec of chunks
 * (format/mrz_codec.h, format/columns.c): every record comes back exactly,
 * references are used where they should be, chunks stay independent, and
 * bad column payloads are refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "../unit/check.h"
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
 * block, most allocations reuse a recently released address. */
static size_t make_payload(uint8_t *buf, struct mrz_delta *d, struct want *w, int n, uint64_t t0, int *nw)
{
    uint64_t live[512] = {0}, gone[64] = {0}, t = t0, next_id = 1;
    uint8_t *p = buf;
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct want *x = &w[k];
        memset(x, 0, sizeof *x);
        t += rnd() % 300;
        unsigned pick = (unsigned)(rnd() % 16);
        uint64_t slot = rnd() % 512;
        if (pick < 7 || !live[slot]) {
            x->type = (uint8_t)(pick == 0 ? 1 + rnd() % 9 : 1);
            x->ptr = rnd() % 3 ? (gone[rnd() % 64] ? gone[rnd() % 64] : 0x7f0000001000ull + (rnd() % 4096) * 16)
                               : 0x7f0000001000ull + (rnd() % 100000) * 16;
            if (rnd() % 200 == 0)
                x->ptr = 0; /* a failed call */
            x->size = rnd() % 5000;
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
            x->type = types[rnd() % 3];
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
static size_t codec2_pass(int cols, uint8_t *out, size_t *total_raw)
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
        len[c] = make_payload(raw[c], &d, w[c], N, 100000u * (unsigned)c, &nw[c]);
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
    size_t raw_kept, raw_split;
    rs = 12345;
    size_t kept = codec2_pass(1, out, &raw_kept);
    rs = 12345;
    size_t split = codec2_pass(0, out, &raw_split);
    /* the same records either way, and much the same size */
    CHECK(raw_kept == raw_split);
    CHECK(kept < split * 11 / 10 && split < kept * 11 / 10);
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
    /* a tag for a FREE whose time column is empty */
    uint8_t one[] = {9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, MRZ_T_FREE};
    CHECK_EQ(mrz_cols_load(dctx, one, sizeof one, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* the same with its fields: decodes */
    uint8_t two[] = {9, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, MRZ_T_FREE, 5, 1};
    CHECK_EQ(mrz_cols_load(dctx, two, sizeof two, 3, &buf, &bcap, &rawp), 0);
    CHECK(rawp[0] == MRZ_T_FREE && rawp[1] == 5 && rawp[2] == 1);
    /* an explicit tag on a type without a pointer */
    uint8_t three[] = {9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80 | MRZ_T_STACK};
    CHECK_EQ(mrz_cols_load(dctx, three, sizeof three, 3, &buf, &bcap, &rawp), (uint64_t)(int64_t)MRZ_ECORRUPT);
    free(buf);
    mrz_dctx_free(dctx);
    ZSTD_freeCCtx(cc);
    free(scratch);
}

int main(void)
{
    test_refs();
    test_codec2();
    return check_report("test_columns");
}
