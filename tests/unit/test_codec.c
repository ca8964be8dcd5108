/* Unit tests of the byte-level codec: varints, zigzag, the hot-record
 * encoders against mrz_decode, framed records, CRC-32C and the file header.
 * Hot records are checked by round trip only, so a change of their encoding
 * keeps these tests valid as long as writer and reader agree. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mrz.h"

/* ------------------------------------------------------------ varints */

static void test_uvar(void)
{
    /* Each boundary 2^(7k) - 1 / 2^(7k) changes the encoded length. */
    for (int k = 1; k <= 9; k++) {
        uint64_t below = (1ull << (7 * k)) - 1, at = 1ull << (7 * k);
        uint8_t buf[MRZ_VARINT_MAX + 1];
        CHECK_EQ(mrz_put_uvar(buf, below) - buf, k);
        CHECK_EQ(mrz_put_uvar(buf, at) - buf, k + 1);
        const uint8_t *p = buf;
        uint64_t v = 0;
        uint8_t *e = mrz_put_uvar(buf, at);
        CHECK(mrz_get_uvar(&p, e, &v) == 0 && v == at && p == e);
    }
    uint8_t buf[16];
    CHECK_EQ(mrz_put_uvar(buf, 0) - buf, 1);
    CHECK_EQ(buf[0], 0);
    /* 300 = 0b10_0101100: low group first, continuation bit set */
    CHECK_EQ(mrz_put_uvar(buf, 300) - buf, 2);
    CHECK(buf[0] == 0xac && buf[1] == 0x02);
    /* the largest value takes the 10-byte maximum: nine 0xff then 0x01 */
    CHECK_EQ(mrz_put_uvar(buf, UINT64_MAX) - buf, MRZ_VARINT_MAX);
    for (int i = 0; i < 9; i++)
        CHECK_EQ(buf[i], 0xff);
    CHECK_EQ(buf[9], 0x01);
    const uint8_t *p = buf;
    uint64_t v = 0;
    CHECK(mrz_get_uvar(&p, buf + 10, &v) == 0 && v == UINT64_MAX && p == buf + 10);

    /* round trip of values around every power of two */
    for (int b = 0; b < 64; b++)
        for (int64_t d = -1; d <= 1; d++) {
            uint64_t x = (1ull << b) + (uint64_t)d;
            uint8_t *e = mrz_put_uvar(buf, x);
            p = buf;
            CHECK(mrz_get_uvar(&p, e, &v) == 0 && v == x && p == e);
        }
}

static int get(const uint8_t *b, size_t n, uint64_t *v, size_t *used)
{
    const uint8_t *p = b;
    int e = mrz_get_uvar(&p, b + n, v);
    *used = (size_t)(p - b);
    return e;
}

static void test_uvar_rejects(void)
{
    uint64_t v = 7;
    size_t used;
    /* input ends inside the value */
    CHECK(get((const uint8_t[]){0x80}, 1, &v, &used) == -1 && used == 0);
    CHECK(get((const uint8_t[]){0xff, 0xff}, 2, &v, &used) == -1);
    CHECK(get((const uint8_t[]){0}, 0, &v, &used) == -1);
    /* a 10th byte above 1 would need bit 64 and beyond */
    CHECK(get((const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 10, &v, &used) == -1);
    /* a 10th byte that continues: 11 bytes or more are never valid */
    CHECK(get((const uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00}, 11, &v, &used) ==
          -1);
    CHECK(get((const uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 11, &v, &used) ==
          -1);
    CHECK_EQ(v, 7); /* failures leave the output alone */
    /* padded (non-minimal) encodings of up to 10 bytes are accepted */
    CHECK(get((const uint8_t[]){0x80, 0x00}, 2, &v, &used) == 0 && v == 0 && used == 2);
    CHECK(get((const uint8_t[]){0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 10, &v, &used) == 0 &&
          v == 1 && used == 10);
    /* decoding stops at the first byte without the continuation bit */
    CHECK(get((const uint8_t[]){0x05, 0x80}, 2, &v, &used) == 0 && v == 5 && used == 1);
}

static void test_zigzag(void)
{
    CHECK_EQ(mrz_zigzag(0), 0);
    CHECK_EQ(mrz_zigzag(-1), 1);
    CHECK_EQ(mrz_zigzag(1), 2);
    CHECK_EQ(mrz_zigzag(-2), 3);
    CHECK_EQ(mrz_zigzag(2), 4);
    CHECK_EQ(mrz_zigzag(INT64_MAX), UINT64_MAX - 1);
    CHECK_EQ(mrz_zigzag(INT64_MIN), UINT64_MAX);
    int64_t vals[] = {0, 1, -1, 63, -64, 64, -65, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 0x123456789abcll};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        CHECK(mrz_unzigzag(mrz_zigzag(vals[i])) == vals[i]);
        uint8_t buf[16];
        uint8_t *e = mrz_put_svar(buf, vals[i]);
        const uint8_t *p = buf;
        int64_t s;
        CHECK(mrz_get_svar(&p, e, &s) == 0 && s == vals[i] && p == e);
    }
    /* small magnitudes of either sign take one byte */
    uint8_t buf[16];
    CHECK_EQ(mrz_put_svar(buf, -64) - buf, 1);
    CHECK_EQ(mrz_put_svar(buf, 63) - buf, 1);
    CHECK_EQ(mrz_put_svar(buf, 64) - buf, 2);
}

static void test_le(void)
{
    uint8_t b[8];
    mrz_put_le64(b, 0x0807060504030201ull);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(b[i], i + 1);
    CHECK_EQ(mrz_get_le64(b), 0x0807060504030201ull);
    CHECK_EQ(mrz_get_le32(b), 0x04030201u);
    CHECK_EQ(mrz_get_le16(b), 0x0201u);
    mrz_put_le16(b, 0xbeef);
    CHECK(b[0] == 0xef && b[1] == 0xbe);
}

/* ------------------------------------------------------------ hot records */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A value of random magnitude: small ones are common, extremes occur. */
static uint64_t rnd_mag(void)
{
    unsigned bits = (unsigned)(rnd() % 65);
    return bits == 64 ? rnd() : rnd() & ((1ull << bits) - 1);
}

struct want {
    uint8_t type;
    uint64_t time, ptr, size, stack, align, ip, result, stream;
    unsigned space, device;
};

static void test_hot_roundtrip(void)
{
    enum { N = 20000 };
    static struct want w[N];
    static uint8_t buf[N * MRZ_HOT_MAX];
    static struct mrz_delta enc, dec;
    /* rounds 0-3: a writer without pointer cache; 4-7: the recorder's way,
     * one cache kept across the chunks (one round is one chunk) */
    struct mrz_ref_cache *cache = calloc(1, sizeof *cache);
    enum { RECENT = 64 };
    uint64_t recent_alloc[RECENT] = {0}, recent_free[RECENT] = {0};
    for (int round = 0; round < 8; round++) {
        uint64_t base = round % 4 == 3 ? UINT64_MAX - 1000 : rnd(); /* rounds 3, 7: ticks wrap */
        if (round < 4) {
            mrz_delta_reset(&enc, base);
        } else {
            enc.cache = cache;
            mrz_delta_rebase(&enc, base);
        }
        uint8_t *p = buf;
        uint64_t t = base, ptr = 0x7f0000000000ull, next_id = 1;
        for (int i = 0; i < N; i++) {
            struct want *x = &w[i];
            memset(x, 0, sizeof *x);
            /* time mostly advances; now and then it steps back (another CPU) */
            t += rnd() % 16 == 0 ? (uint64_t)-(int64_t)(rnd() % 5000) : rnd_mag() >> (rnd() % 40);
            ptr += rnd() % 4 == 0 ? rnd_mag() : (uint64_t)((int64_t)(rnd() % 8192) - 4096) * 16;
            unsigned pick = (unsigned)(rnd() % 6);
            /* frees mostly release recent blocks; allocations often reuse
             * recently released addresses (so a writer may refer back) */
            uint64_t fptr = rnd() % 4 ? recent_alloc[rnd() % RECENT] : ptr;
            uint64_t aptr = rnd() % 2 ? recent_free[rnd() % RECENT] : ptr;
            if (pick == 0) {
                x->type = (uint8_t)(1 + rnd() % MRZ_K_MAX);
                x->time = t;
                x->ptr = rnd() % 50 == 0 ? 0 : aptr;
                recent_alloc[rnd() % RECENT] = x->ptr;
                x->size = rnd_mag();
                x->stack = rnd() % 10 == 0 ? 0 : rnd_mag() >> 32;
                x->align = mrz_kind_has_align(x->type) ? 1ull << (rnd() % 20) : 0;
                /* kinds without an alignment field drop whatever is passed */
                p = mrz_enc_alloc(p, &enc, x->type, t, x->ptr, x->size, x->stack, x->align ? x->align : 4096);
            } else if (pick == 1) {
                x->type = rnd() & 1 ? MRZ_T_FREE : MRZ_T_REALLOC_FREE;
                x->time = t;
                x->ptr = fptr;
                recent_free[rnd() % RECENT] = fptr;
                p = mrz_enc_free(p, &enc, x->type, t, fptr);
            } else if (pick == 2) {
                x->type = MRZ_T_STACK;
                uint64_t id = next_id++;
                uint64_t parent = rnd() % 3 == 0 ? 0 : rnd() % id;
                x->stack = id - parent;
                x->ip = rnd() % 8 == 0 ? rnd() : 0x555555554000ull + rnd() % 0x100000;
                p = mrz_enc_stack(p, &enc, id, parent, x->ip);
            } else if (pick == 3) {
                x->type = MRZ_T_CUDA_ALLOC;
                x->time = t;
                x->space = (unsigned)(rnd() % MRZ_S_COUNT);
                x->device = (unsigned)(rnd() % 8);
                x->ptr = ptr;
                x->size = rnd_mag();
                x->stack = rnd_mag() >> 40;
                x->result = rnd() % 4 ? 0 : rnd() % 1000;
                x->stream = rnd() % 2 ? 0 : rnd();
                p = mrz_enc_cuda_alloc(p, &enc, t, x->space, x->device, x->ptr, x->size, x->stack, x->result,
                                       x->stream);
            } else if (pick == 4) {
                x->type = MRZ_T_CUDA_FREE;
                x->time = t;
                x->space = (unsigned)(rnd() % MRZ_S_COUNT);
                x->device = (unsigned)(rnd() % 8);
                x->ptr = ptr;
                x->result = rnd() % 4 ? 0 : rnd() % 1000;
                p = mrz_enc_cuda_free(p, &enc, t, x->space, x->device, x->ptr, x->result);
            } else {
                /* a framed record between hot ones leaves the deltas alone */
                x->type = MRZ_T_THREAD;
                x->time = rnd();
                x->size = rnd() & 0xffffffff; /* the tid */
                struct mrz_framed f;
                uint8_t *q = mrz_framed_begin(&f, p, MRZ_T_THREAD);
                q = mrz_put_uvar(q, x->time);
                q = mrz_put_uvar(q, x->size);
                p = mrz_framed_end(&f, q);
            }
        }
        mrz_delta_reset(&dec, base);
        const uint8_t *q = buf;
        int bad = 0;
        for (int i = 0; i < N && !bad; i++) {
            struct mrz_rec r;
            const struct want *x = &w[i];
            if (mrz_decode(&q, p, &dec, &r) != 1 || r.type != x->type) {
                bad = 1;
                break;
            }
            if (x->type >= 1 && x->type <= MRZ_K_MAX)
                bad = r.time != x->time || r.ptr != x->ptr || r.size != x->size || r.stack != x->stack ||
                      r.align != x->align || r.space != MRZ_S_HOST;
            else if (x->type == MRZ_T_FREE || x->type == MRZ_T_REALLOC_FREE)
                bad = r.time != x->time || r.ptr != x->ptr;
            else if (x->type == MRZ_T_STACK)
                bad = r.stack != x->stack || r.ip != x->ip;
            else if (x->type == MRZ_T_CUDA_ALLOC)
                bad = r.time != x->time || r.space != x->space || r.device != x->device || r.ptr != x->ptr ||
                      r.size != x->size || r.stack != x->stack || r.result != x->result ||
                      r.cuda_stream != x->stream;
            else if (x->type == MRZ_T_CUDA_FREE)
                bad = r.time != x->time || r.space != x->space || r.device != x->device || r.ptr != x->ptr ||
                      r.result != x->result;
            else
                bad = r.time != x->time || r.a != x->size;
            if (bad)
                fprintf(stderr, "round %d: record %d (type 0x%02x) decodes differently\n", round, i, x->type);
        }
        CHECK(!bad);
        struct mrz_rec r;
        CHECK(!bad && q == p && mrz_decode(&q, p, &dec, &r) == 0);
    }
    free(cache);
}

/* Every hot type cut short anywhere is MRZ_ETRUNC, never a read past the end. */
static void test_hot_truncated(void)
{
    uint8_t buf[8 * MRZ_HOT_MAX];
    struct mrz_delta enc;
    mrz_delta_reset(&enc, 1000);
    uint8_t *ends[7], *p = buf;
    p = ends[0] = mrz_enc_alloc(p, &enc, MRZ_K_MALLOC, 5000, 0x7fff12345678, 1u << 30, 123456, 0);
    p = ends[1] = mrz_enc_alloc(p, &enc, MRZ_K_POSIX_MEMALIGN, 6000, 0x7fff12340000, 4096, 9, 1u << 20);
    p = ends[2] = mrz_enc_free(p, &enc, MRZ_T_FREE, 7000, 0x7fff12345678);
    p = ends[3] = mrz_enc_free(p, &enc, MRZ_T_REALLOC_FREE, 8000, 0x7fff12340000);
    p = ends[4] = mrz_enc_stack(p, &enc, 300, 2, 0x7fffffff1234);
    p = ends[5] = mrz_enc_cuda_alloc(p, &enc, 9000, MRZ_S_CUDA_DEVICE, 3, 0x7f00000000, 1u << 28, 77, 2, 5);
    p = ends[6] = mrz_enc_cuda_free(p, &enc, 9500, MRZ_S_CUDA_DEVICE, 3, 0x7f00000000, 0);
    uint8_t *start = buf;
    for (int k = 0; k < 7; k++) {
        for (uint8_t *cut = start + 1; cut < ends[k]; cut++) {
            /* decode from a fresh copy that really ends at cut */
            size_t n = (size_t)(cut - buf);
            uint8_t *copy = malloc(n);
            memcpy(copy, buf, n);
            struct mrz_delta dec;
            mrz_delta_reset(&dec, 1000);
            const uint8_t *q = copy;
            struct mrz_rec r;
            int e = 0;
            for (int i = 0; i <= k && e >= 0; i++)
                e = mrz_decode(&q, copy + n, &dec, &r);
            CHECK_EQ(e, (uint64_t)(int64_t)MRZ_ETRUNC);
            free(copy);
        }
        start = ends[k];
    }
}

static void test_hot_rejects(void)
{
    struct mrz_delta d;
    struct mrz_rec r;
    const uint8_t *p;
    /* 0x00 and the reserved hot types 0x15..0x1f have no grammar */
    uint8_t b[4] = {0, 0, 0, 0};
    for (unsigned t = 0; t < 0x20; t++) {
        if (t >= 1 && t <= 0x14)
            continue;
        b[0] = (uint8_t)t;
        p = b;
        mrz_delta_reset(&d, 0);
        CHECK_EQ(mrz_decode(&p, b + 4, &d, &r), (uint64_t)(int64_t)MRZ_ECORRUPT);
        CHECK(p == b);
    }
    /* a STACK node must differ from its parent: id - parent = 0 is invalid */
    uint8_t s[] = {MRZ_T_STACK, 0x00, 0x02};
    p = s;
    CHECK_EQ(mrz_decode(&p, s + 3, &d, &r), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* end of input is 0, not an error */
    p = s;
    CHECK_EQ(mrz_decode(&p, s, &d, &r), 0);
}

/* Delta state is what makes chunks independent: a reset to the chunk's
 * base reproduces the writer's values. */
static void test_delta_reset(void)
{
    uint8_t buf[4 * MRZ_HOT_MAX];
    struct mrz_delta enc;
    mrz_delta_reset(&enc, 500);
    CHECK(enc.time == 500 && enc.ptr == 0 && enc.ip == 0);
    uint8_t *p = mrz_enc_alloc(buf, &enc, MRZ_K_MALLOC, 510, 0x1000, 16, 1, 0);
    CHECK(enc.time == 510 && enc.ptr == 0x1000);
    uint8_t *first_end = p;
    mrz_delta_reset(&enc, 900);
    p = mrz_enc_alloc(p, &enc, MRZ_K_MALLOC, 910, 0x1000, 16, 1, 0);
    /* the same offsets from a reset base: the same bytes */
    CHECK((size_t)(p - first_end) == (size_t)(first_end - buf) && !memcmp(buf, first_end, (size_t)(p - first_end)));
    struct mrz_delta dec;
    mrz_delta_reset(&dec, 900);
    const uint8_t *q = first_end;
    struct mrz_rec r;
    CHECK(mrz_decode(&q, p, &dec, &r) == 1 && r.time == 910 && r.ptr == 0x1000);
}

/* ------------------------------------------------------------ framed records */

static void test_framed(void)
{
    uint8_t buf[512];
    struct mrz_framed f;
    /* THREAD t=5 tid=7: type, body length 2, body */
    uint8_t *p = mrz_framed_begin(&f, buf, MRZ_T_THREAD);
    p = mrz_put_uvar(p, 5);
    p = mrz_put_uvar(p, 7);
    p = mrz_framed_end(&f, p);
    CHECK_EQ(p - buf, 4);
    CHECK(buf[0] == 0x23 && buf[1] == 2 && buf[2] == 5 && buf[3] == 7);

    /* MODULE with segments, then an unknown framed type, then a known type
     * with extra trailing bytes (a later minor version), then END */
    p = buf;
    p = mrz_framed_begin(&f, p, MRZ_T_MODULE);
    p = mrz_put_uvar(p, 123);            /* time */
    p = mrz_put_uvar(p, 4);              /* id */
    p = mrz_put_uvar(p, 0x7f0000001000); /* base */
    p = mrz_put_str(p, "/lib/libx.so", 12);
    p = mrz_put_str(p, "\x01\x02\x03", 3);
    p = mrz_put_uvar(p, 2);
    p = mrz_put_uvar(p, 0);
    p = mrz_put_uvar(p, 0x1000);
    p = mrz_put_uvar(p, 0);
    p = mrz_put_uvar(p, 5);
    p = mrz_put_uvar(p, 0x2000);
    p = mrz_put_uvar(p, 0x300);
    p = mrz_put_uvar(p, 0x1000);
    p = mrz_put_uvar(p, 6);
    p = mrz_framed_end(&f, p);
    uint8_t *unknown = p;
    p = mrz_framed_begin(&f, p, 0x7e);
    for (int i = 0; i < 200; i++) /* a body long enough for a 2-byte length */
        *p++ = (uint8_t)i;
    p = mrz_framed_end(&f, p);
    CHECK(unknown[0] == 0x7e && unknown[1] == (200 | 0x80) && unknown[2] == 1);
    p = mrz_framed_begin(&f, p, MRZ_T_MODULE_UNLOAD);
    p = mrz_put_uvar(p, 124);
    p = mrz_put_uvar(p, 4);
    p = mrz_put_uvar(p, 99); /* a field this reader does not know */
    p = mrz_framed_end(&f, p);
    p = mrz_framed_begin(&f, p, MRZ_T_END);
    p = mrz_put_uvar(p, 125);
    p = mrz_put_uvar(p, MRZ_END_SIGNAL);
    p = mrz_put_uvar(p, 9);
    p = mrz_put_uvar(p, 1);
    p = mrz_put_uvar(p, 4242);
    p = mrz_framed_end(&f, p);
    uint8_t *end = p;

    struct mrz_delta d;
    mrz_delta_reset(&d, 0);
    struct mrz_rec r;
    const uint8_t *q = buf;
    CHECK(mrz_decode(&q, end, &d, &r) == 1);
    CHECK(r.type == MRZ_T_MODULE && r.time == 123 && r.a == 4 && r.b == 0x7f0000001000);
    CHECK(r.str.n == 12 && !memcmp(r.str.s, "/lib/libx.so", 12));
    CHECK(r.str2.n == 3 && !memcmp(r.str2.s, "\x01\x02\x03", 3));
    struct mrz_segment seg[4];
    CHECK_EQ(mrz_module_segments(&r, seg, 4), 2);
    CHECK(seg[0].vaddr == 0 && seg[0].memsz == 0x1000 && seg[0].offset == 0 && seg[0].flags == 5);
    CHECK(seg[1].vaddr == 0x2000 && seg[1].memsz == 0x300 && seg[1].offset == 0x1000 && seg[1].flags == 6);
    CHECK_EQ(mrz_module_segments(&r, seg, 1), 1); /* max respected */
    CHECK(q == unknown);
    CHECK(mrz_decode(&q, end, &d, &r) == 1);
    CHECK(r.type == 0x7e && r.body_len == 200 && r.body == unknown + 3 && r.body[199] == 199);
    CHECK(mrz_decode(&q, end, &d, &r) == 1);
    CHECK(r.type == MRZ_T_MODULE_UNLOAD && r.time == 124 && r.a == 4 && r.body_len == 3);
    CHECK(mrz_decode(&q, end, &d, &r) == 1);
    CHECK(r.type == MRZ_T_END && r.time == 125 && r.a == MRZ_END_SIGNAL && r.b == 9 && r.c == 1 && r.d == 4242);
    CHECK(mrz_decode(&q, end, &d, &r) == 0 && q == end);
    /* framed records leave the delta state alone */
    CHECK(d.time == 0 && d.ptr == 0 && d.ip == 0);

    /* a body length past the end: truncated */
    q = buf;
    CHECK_EQ(mrz_decode(&q, unknown + 100, &d, &r), 0x1); /* the MODULE is whole */
    CHECK_EQ(mrz_decode(&q, unknown + 100, &d, &r), (uint64_t)(int64_t)MRZ_ETRUNC);
    /* a known type whose body lacks a field: corrupt */
    uint8_t shortend[] = {MRZ_T_END, 2, 1, 1};
    q = shortend;
    CHECK_EQ(mrz_decode(&q, shortend + 4, &d, &r), (uint64_t)(int64_t)MRZ_ECORRUPT);
}

struct args { int n; char s[64]; };
static void collect(void *ctx, struct mrz_str a)
{
    struct args *x = ctx;
    size_t l = strlen(x->s);
    snprintf(x->s + l, sizeof x->s - l, "%s%.*s", x->n++ ? "|" : "", (int)a.n, a.s);
}

static void test_process(void)
{
    uint8_t buf[256];
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, buf, MRZ_T_PROCESS);
    p = mrz_put_uvar(p, 4321);      /* pid */
    p = mrz_put_uvar(p, 4320);      /* ppid */
    p = mrz_put_uvar(p, MRZ_CLOCK_TSC);
    p = mrz_put_uvar(p, 2400000000u);
    p = mrz_put_uvar(p, 1700000000000000000ull);
    p = mrz_put_uvar(p, 987654321);
    p = mrz_put_str(p, "/bin/app", 8);
    p = mrz_put_uvar(p, 3);
    p = mrz_put_str(p, "app", 3);
    p = mrz_put_str(p, "-v", 2);
    p = mrz_put_str(p, "", 0);
    p = mrz_framed_end(&f, p);
    struct mrz_delta d;
    mrz_delta_reset(&d, 0);
    struct mrz_rec r;
    const uint8_t *q = buf;
    CHECK(mrz_decode(&q, p, &d, &r) == 1 && q == p);
    CHECK(r.type == MRZ_T_PROCESS && r.a == 4321 && r.b == 4320 && r.c == MRZ_CLOCK_TSC && r.d == 2400000000u &&
          r.e == 1700000000000000000ull && r.time == 987654321);
    CHECK(r.str.n == 8 && !memcmp(r.str.s, "/bin/app", 8));
    struct args a = {0, ""};
    CHECK_EQ(mrz_process_argv(&r, collect, &a), 3);
    CHECK(a.n == 3 && !strcmp(a.s, "app|-v|"));
}

/* ------------------------------------------------------------ checksums, header, names */

static void test_crc(void)
{
    CHECK_EQ(mrz_crc32c(0, "123456789", 9), 0xe3069283u);
    CHECK_EQ(mrz_crc32c(0, "", 0), 0);
    uint8_t z[32], ff[32], inc[32];
    memset(z, 0, 32);
    memset(ff, 0xff, 32);
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    /* RFC 3720 (iSCSI) B.4 vectors */
    CHECK_EQ(mrz_crc32c(0, z, 32), 0x8a9136aau);
    CHECK_EQ(mrz_crc32c(0, ff, 32), 0x62a8ab43u);
    CHECK_EQ(mrz_crc32c(0, inc, 32), 0x46dd794eu);
    /* continuing a CRC over pieces gives the CRC of the whole */
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = mrz_crc32c(0, s, n);
    CHECK_EQ(whole, 0x22620404u);
    for (size_t cut = 0; cut <= n; cut++)
        CHECK_EQ(mrz_crc32c(mrz_crc32c(0, s, cut), s + cut, n - cut), whole);
    /* unaligned starts take the same path as aligned ones */
    char buf[64];
    memcpy(buf + 3, "123456789", 9);
    CHECK_EQ(mrz_crc32c(0, buf + 3, 9), 0xe3069283u);
}

static void test_file_header(void)
{
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    memset(h, 0xee, sizeof h);
    mrz_file_header(h, 0x01020304);
    static const uint8_t magic[8] = {0x89, 'M', 'R', 'Z', '\r', '\n', 0x1a, '\n'};
    CHECK(!memcmp(h, magic, 8));
    CHECK_EQ(mrz_get_le16(h + 8), MRZ_VERSION_MAJOR);
    CHECK_EQ(mrz_get_le16(h + 10), MRZ_VERSION_MINOR);
    CHECK_EQ(mrz_get_le32(h + 12), 32);
    CHECK_EQ(mrz_get_le32(h + 16), 0x01020304);
    for (int i = 20; i < 28; i++)
        CHECK_EQ(h[i], 0);
    CHECK_EQ(mrz_get_le32(h + 28), mrz_crc32c(0, h, 28));
}

static void test_names(void)
{
    CHECK(!strcmp(mrz_kind_name(MRZ_K_MALLOC), "malloc"));
    CHECK(!strcmp(mrz_kind_name(MRZ_K_PVALLOC), "pvalloc"));
    CHECK(mrz_kind_name(0) == NULL && mrz_kind_name(10) == NULL && mrz_kind_name(1000) == NULL);
    CHECK(!strcmp(mrz_space_name(MRZ_S_HOST), "host"));
    CHECK(!strcmp(mrz_space_name(MRZ_S_CUDA_ASYNC), "cuda-async"));
    CHECK(mrz_space_name(MRZ_S_COUNT) == NULL);
    for (unsigned k = 0; k <= MRZ_K_MAX; k++)
        CHECK(mrz_kind_has_align(k) == (k == MRZ_K_MEMALIGN || k == MRZ_K_POSIX_MEMALIGN || k == MRZ_K_ALIGNED_ALLOC));
    CHECK(strcmp(mrz_strerror(MRZ_ECORRUPT), mrz_strerror(MRZ_ETRUNC)) != 0);
}

int main(void)
{
    test_uvar();
    test_uvar_rejects();
    test_zigzag();
    test_le();
    test_hot_roundtrip();
    test_hot_truncated();
    test_hot_rejects();
    test_delta_reset();
    test_framed();
    test_process();
    test_crc();
    test_file_header();
    test_names();
    return check_report("test_codec");
}
