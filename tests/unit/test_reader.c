/* Unit tests of the chunk layer: mrz_chunk_encode through a temporary file
 * into mrz_reader, duplicate chunks, damage and truncation, open errors,
 * the indexed (parallel) path, and mrz_salvage from a hand-made spill file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "check.h"
#include "mrz.h"

static char dir[] = "/tmp/mrz-unit-XXXXXX";
static char path[512];

struct file { uint8_t *b; size_t n, cap; size_t off[16]; int nchunks; };

static void put(struct file *f, const void *p, size_t n)
{
    if (f->n + n > f->cap) {
        f->cap = (f->n + n) * 2;
        f->b = realloc(f->b, f->cap);
    }
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

/* A payload of `count` hot records (allocs and frees) whose values derive
 * from `tag`, so each chunk's content is recognisable after decoding. */
static size_t make_payload(uint8_t *out, uint64_t base, unsigned tag, int count)
{
    struct mrz_delta d;
    mrz_delta_reset(&d, base);
    uint8_t *p = out;
    for (int i = 0; i < count; i++) {
        uint64_t ptr = 0x10000 + (uint64_t)tag * 0x100000 + (uint64_t)i * 32;
        p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, base + 10 * (uint64_t)i + 1, ptr, (uint64_t)tag * 1000 + (uint64_t)i,
                          0, 0);
        p = mrz_enc_free(p, &d, MRZ_T_FREE, base + 10 * (uint64_t)i + 2, ptr);
    }
    return (size_t)(p - out);
}

static void add_chunk(struct file *f, ZSTD_CCtx *cctx, uint32_t stream, uint32_t seq, unsigned tag, int count)
{
    static uint8_t raw[1 << 16], out[1 << 17];
    uint64_t base = 1000000ull * (tag + 1);
    size_t n = make_payload(raw, base, tag, count);
    struct mrz_chunk_info ci = {.stream = stream, .seq = seq, .base_ticks = base, .base_ns = base / 2,
                                .flags = (uint8_t)(tag == 7 ? MRZ_CHUNK_SALVAGED : 0)};
    long len = mrz_chunk_encode(out, cctx, 3, &ci, raw, n);
    CHECK(len > MRZ_CHUNK_HEADER_SIZE);
    if (len <= 0)
        return;
    f->off[f->nchunks++] = f->n;
    put(f, out, (size_t)len);
}

/* Replaces the file at path with n bytes.  A new file each time: rewriting
 * one with O_TRUNC makes ext4 flush it on close, which is slow. */
static void write_bytes(const void *p, size_t n)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static void save(const struct file *f, size_t n) { write_bytes(f->b, n); }

/* Checks a decoded chunk against add_chunk's content for tag. */
static int chunk_is(const struct mrz_chunk *c, unsigned tag, int count)
{
    struct mrz_delta d;
    mrz_delta_reset(&d, c->info.base_ticks);
    const uint8_t *p = c->raw, *end = c->raw + c->raw_len;
    struct mrz_rec r;
    uint64_t base = 1000000ull * (tag + 1);
    if (c->info.base_ticks != base || c->info.base_ns != base / 2)
        return 0;
    for (int i = 0; i < count; i++) {
        uint64_t ptr = 0x10000 + (uint64_t)tag * 0x100000 + (uint64_t)i * 32;
        if (mrz_decode(&p, end, &d, &r) != 1 || r.type != MRZ_K_MALLOC || r.ptr != ptr ||
            r.size != (uint64_t)tag * 1000 + (uint64_t)i || r.time != base + 10 * (uint64_t)i + 1)
            return 0;
        if (mrz_decode(&p, end, &d, &r) != 1 || r.type != MRZ_T_FREE || r.ptr != ptr)
            return 0;
    }
    return mrz_decode(&p, end, &d, &r) == 0;
}

/* Reads the file at `path`; stores the tags (stream * 100 + seq) seen. */
static int read_all(int *tags, int max, uint64_t *damage, uint64_t *skipped)
{
    struct mrz_reader *r;
    int e = mrz_reader_open(path, &r);
    if (e)
        return e;
    struct mrz_chunk c;
    int n = 0;
    while ((e = mrz_reader_next(r, &c)) > 0 && n < max)
        tags[n++] = (int)(c.info.stream * 100 + c.info.seq);
    *damage = mrz_reader_damage(r, skipped);
    mrz_reader_close(r);
    return e < 0 ? e : n;
}

static struct file base_file(ZSTD_CCtx *cctx)
{
    struct file f = {0};
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(h, 4242);
    put(&f, h, sizeof h);
    add_chunk(&f, cctx, 1, 0, 1, 50);
    add_chunk(&f, NULL, 0, 0, 2, 3);   /* stored raw */
    add_chunk(&f, cctx, 1, 1, 3, 400);
    add_chunk(&f, cctx, 2, 0, 7, 20);  /* flagged salvaged */
    return f;
}

static void test_roundtrip(ZSTD_CCtx *cctx)
{
    struct file f = base_file(cctx);
    save(&f, f.n);
    struct mrz_reader *r;
    CHECK(mrz_reader_open(path, &r) == 0);
    CHECK_EQ(mrz_reader_pid(r), 4242);
    CHECK_EQ(mrz_reader_file_size(r), f.n);
    unsigned ma = 99, mi = 99;
    mrz_reader_version(r, &ma, &mi);
    CHECK(ma == MRZ_VERSION_MAJOR && mi == MRZ_VERSION_MINOR);
    static const unsigned tags[] = {1, 2, 3, 7}, counts[] = {50, 3, 400, 20};
    static const uint32_t streams[] = {1, 0, 1, 2}, seqs[] = {0, 0, 1, 0};
    for (int pass = 0; pass < 2; pass++) {
        struct mrz_chunk c;
        for (int i = 0; i < 4; i++) {
            CHECK(mrz_reader_next(r, &c) == 1);
            CHECK(c.offset == f.off[i] && c.info.stream == streams[i] && c.info.seq == seqs[i]);
            CHECK(c.info.codec == (i == 1 ? MRZ_CODEC_RAW : MRZ_CODEC_ZSTD));
            CHECK(c.info.flags == (i == 3 ? MRZ_CHUNK_SALVAGED : 0));
            CHECK(chunk_is(&c, tags[i], (int)counts[i]));
        }
        CHECK(mrz_reader_next(r, &c) == 0);
        CHECK(mrz_reader_damage(r, NULL) == UINT64_MAX);
        mrz_reader_rewind(r); /* the second pass sees the same chunks */
    }
    /* the indexing pass and random access give the same chunks */
    void *dctx = mrz_dctx_new();
    uint8_t *scratch = NULL;
    size_t cap = 0;
    struct mrz_chunk c, full;
    int i = 0;
    while (mrz_reader_next_header(r, &c) > 0) {
        CHECK(c.raw == NULL && c.offset == f.off[i]);
        CHECK(mrz_reader_chunk_at(r, c.offset, dctx, &full, &scratch, &cap) == 1);
        CHECK(chunk_is(&full, tags[i], (int)counts[i]));
        i++;
    }
    CHECK_EQ(i, 4);
    CHECK(mrz_reader_chunk_at(r, f.off[1] + 1, dctx, &full, &scratch, &cap) == MRZ_ECORRUPT);
    free(scratch);
    mrz_dctx_free(dctx);
    mrz_reader_close(r);
    free(f.b);
}

static void test_duplicates(ZSTD_CCtx *cctx)
{
    struct file f = base_file(cctx);
    /* salvage may append a chunk that was already written: same stream, seq */
    add_chunk(&f, cctx, 1, 1, 3, 400);
    add_chunk(&f, cctx, 1, 2, 4, 5);
    add_chunk(&f, cctx, 0, 0, 2, 3);
    save(&f, f.n);
    int tags[16];
    uint64_t dmg, skipped;
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 5);
    CHECK(tags[0] == 100 && tags[1] == 0 && tags[2] == 101 && tags[3] == 200 && tags[4] == 102);
    CHECK(dmg == UINT64_MAX && skipped == 0); /* duplicates are not damage */
    free(f.b);
}

static void test_damage(ZSTD_CCtx *cctx)
{
    struct file f = base_file(cctx);
    int tags[16];
    uint64_t dmg, skipped;
    size_t len2 = f.off[3] - f.off[2];

    /* one flipped payload byte: that chunk is skipped, the next one read */
    f.b[f.off[2] + MRZ_CHUNK_HEADER_SIZE + 10] ^= 0x40;
    save(&f, f.n);
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 3);
    CHECK(tags[0] == 100 && tags[1] == 0 && tags[2] == 200);
    CHECK_EQ(dmg, f.off[2]);
    CHECK_EQ(skipped, len2);
    f.b[f.off[2] + MRZ_CHUNK_HEADER_SIZE + 10] ^= 0x40;

    /* a flipped header byte: the same */
    f.b[f.off[2] + 9] ^= 1;
    save(&f, f.n);
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 3);
    CHECK(dmg == f.off[2] && skipped == len2);
    f.b[f.off[2] + 9] ^= 1;

    /* an unknown codec with a valid header checksum is not readable */
    uint8_t *h = f.b + f.off[1];
    h[4] = 9;
    mrz_put_le32(h + 40, mrz_crc32c(0, h, 40));
    save(&f, f.n);
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 3);
    CHECK(tags[0] == 100 && tags[1] == 101 && dmg == f.off[1]);
    h[4] = MRZ_CODEC_RAW;
    mrz_put_le32(h + 40, mrz_crc32c(0, h, 40));

    /* garbage between chunks is skipped up to the next header */
    struct file g = {0};
    put(&g, f.b, f.off[2]);
    put(&g, "MRZC garbage MMMM", 17);
    put(&g, f.b + f.off[2], f.n - f.off[2]);
    write_bytes(g.b, g.n);
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 4);
    CHECK(dmg == f.off[2] && skipped == 17);
    free(g.b);

    /* a chunk cut short by a killed writer, followed by whole chunks (what
     * salvage appends): its claimed payload runs past the end of the file,
     * yet the chunks after it are still found */
    g = (struct file){0};
    put(&g, f.b, f.off[2]);
    put(&g, f.b + f.off[2], 60); /* header and 12 payload bytes of stream 1 seq 1 */
    uint8_t sal[512];
    struct mrz_chunk_info ci = {.stream = 2, .seq = 0, .base_ticks = 8000000, .base_ns = 4000000};
    size_t n = make_payload(sal + 256, 8000000, 7, 2);
    long len = mrz_chunk_encode(sal, NULL, 0, &ci, sal + 256, n);
    put(&g, sal, (size_t)len);
    CHECK(mrz_get_le32(f.b + f.off[2] + 16) > 12 + (uint64_t)len); /* the case meant */
    write_bytes(g.b, g.n);
    CHECK_EQ(read_all(tags, 16, &dmg, &skipped), 3);
    CHECK(tags[0] == 100 && tags[1] == 0 && tags[2] == 200 && dmg == f.off[2] && skipped == 60);
    free(g.b);

    /* a truncated tail at every length: whole chunks only, damage at the
     * cut chunk's offset, the rest counted as skipped */
    for (size_t cut = MRZ_FILE_HEADER_SIZE; cut <= f.n; cut++) {
        save(&f, cut);
        int whole = 0;
        size_t last = MRZ_FILE_HEADER_SIZE;
        for (int i = 0; i < f.nchunks; i++) {
            size_t end = i + 1 < f.nchunks ? f.off[i + 1] : f.n;
            if (end <= cut) {
                whole++;
                last = end;
            }
        }
        int got = read_all(tags, 16, &dmg, &skipped);
        int ok = got == whole && (cut == last ? dmg == UINT64_MAX && skipped == 0
                                              : dmg == last && skipped == cut - last);
        if (!ok)
            fprintf(stderr, "cut at %zu: %d chunks, damage %llu, skipped %llu\n", cut, got,
                    (unsigned long long)dmg, (unsigned long long)skipped);
        CHECK(ok);
    }
    free(f.b);
}

static void test_open_errors(void)
{
    struct mrz_reader *r = NULL;
    uint8_t h[64];
    mrz_file_header(h, 1);
    write_bytes(h, 0);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_EEMPTY);
    write_bytes("hello, world, this is not a trace at all", 40);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_ENOTMRZ);
    write_bytes(h, 5);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_ENOTMRZ);
    for (size_t n = 8; n < MRZ_FILE_HEADER_SIZE; n++) {
        write_bytes(h, n);
        CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_ETRUNC);
    }
    write_bytes(h, MRZ_FILE_HEADER_SIZE);
    CHECK(mrz_reader_open(path, &r) == 0);
    struct mrz_chunk c;
    CHECK(mrz_reader_next(r, &c) == 0 && mrz_reader_damage(r, NULL) == UINT64_MAX);
    mrz_reader_close(r);
    /* a newer minor version is read; a newer major is refused */
    mrz_put_le16(h + 10, MRZ_VERSION_MINOR + 1);
    mrz_put_le32(h + 28, mrz_crc32c(0, h, 28));
    write_bytes(h, MRZ_FILE_HEADER_SIZE);
    CHECK(mrz_reader_open(path, &r) == 0);
    mrz_reader_close(r);
    mrz_put_le16(h + 8, MRZ_VERSION_MAJOR + 1);
    mrz_put_le32(h + 28, mrz_crc32c(0, h, 28));
    write_bytes(h, MRZ_FILE_HEADER_SIZE);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_EVERSION);
    /* a longer header (a later minor version) is skipped by its length */
    mrz_file_header(h, 1);
    mrz_put_le32(h + 12, 40);
    mrz_put_le32(h + 28, mrz_crc32c(0, h, 28));
    memset(h + 32, 0xab, 8);
    write_bytes(h, 40);
    CHECK(mrz_reader_open(path, &r) == 0);
    CHECK(mrz_reader_next(r, &c) == 0 && mrz_reader_damage(r, NULL) == UINT64_MAX);
    mrz_reader_close(r);
    /* a header length beyond the file, or a bad checksum: corrupt */
    mrz_put_le32(h + 12, 41);
    mrz_put_le32(h + 28, mrz_crc32c(0, h, 28));
    write_bytes(h, 40);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_ECORRUPT);
    mrz_file_header(h, 1);
    h[17] ^= 1;
    write_bytes(h, MRZ_FILE_HEADER_SIZE);
    CHECK_EQ(mrz_reader_open(path, &r), (uint64_t)(int64_t)MRZ_ECORRUPT);
    /* a directory, a missing file */
    CHECK(mrz_reader_open(dir, &r) == MRZ_EIO && errno == EISDIR);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.mrz", dir);
    CHECK(mrz_reader_open(missing, &r) == MRZ_EIO && errno == ENOENT);
}

/* A spill file made by hand, laid out as SPEC.md says, completed by salvage. */
static void test_salvage(ZSTD_CCtx *cctx)
{
    enum { SLOT = 4096 };
    char wip[600];
    snprintf(wip, sizeof wip, "%s.wip", path);
    /* the trace so far: header and stream 1's chunk 0 */
    struct file f = {0};
    uint8_t h[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(h, 777);
    put(&f, h, sizeof h);
    add_chunk(&f, cctx, 1, 0, 1, 10);
    save(&f, f.n);

    size_t stride = MRZ_SLOT_HEADER + SLOT, size = MRZ_WIP_HEADER + 4 * stride;
    uint8_t *w = calloc(1, size);
    struct mrz_wip_header *wh = (void *)w;
    wh->magic = MRZ_WIP_MAGIC;
    wh->version = 1;
    wh->pid = 777;
    wh->slot_size = SLOT;
    wh->nslots = 4;
    snprintf(wh->trace_path, sizeof wh->trace_path, "%s", path);
    static const uint32_t stream[4] = {0, 1, 2, 3}, seq[4] = {5, 0, 3, 0};
    static const unsigned tag[4] = {10, 1, 12, 13};
    static const int count[4] = {4, 10, 6, 0};
    for (int i = 0; i < 4; i++) {
        struct mrz_slot *s = (void *)(w + MRZ_WIP_HEADER + (size_t)i * stride);
        s->magic = MRZ_WIP_MAGIC;
        s->stream = stream[i];
        s->seq = seq[i];
        s->state = 1;
        s->base_ticks = 1000000ull * (tag[i] + 1);
        s->base_ns = s->base_ticks / 2;
        /* slot 1 still holds the chunk already written (died between the
         * write and the reset of `used`); slot 3 is empty */
        s->used = make_payload(s->data, s->base_ticks, tag[i], count[i]);
    }
    int fd = open(wip, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(write(fd, w, size) == (ssize_t)size);
    close(fd);
    free(w);

    CHECK_EQ(mrz_salvage(path, MRZ_END_SIGNAL, 9), 3);
    CHECK(access(wip, F_OK) < 0 && errno == ENOENT);

    struct mrz_reader *r;
    CHECK(mrz_reader_open(path, &r) == 0);
    struct mrz_chunk c;
    int n = 0, ends = 0;
    while (mrz_reader_next(r, &c) > 0) {
        n++;
        if (c.info.stream == 0 && c.info.seq == 6) {
            /* the END salvage adds: stream 0, after the slot's chunk */
            struct mrz_delta d;
            mrz_delta_reset(&d, c.info.base_ticks);
            const uint8_t *p = c.raw;
            struct mrz_rec rec;
            CHECK(mrz_decode(&p, c.raw + c.raw_len, &d, &rec) == 1);
            CHECK(rec.type == MRZ_T_END && rec.a == MRZ_END_SIGNAL && rec.b == 9 && (rec.c & 1) && rec.time == 0);
            ends++;
            continue;
        }
        unsigned t = c.info.stream == 0 ? 10 : c.info.stream == 1 ? 1 : 12;
        int k = c.info.stream == 0 ? 4 : c.info.stream == 1 ? 10 : 6;
        CHECK(chunk_is(&c, t, k));
        CHECK((c.info.flags & MRZ_CHUNK_SALVAGED) == (c.info.stream == 1 && c.offset == f.off[0] ? 0 : 1));
        CHECK(c.info.seq == (c.info.stream == 0 ? 5u : c.info.stream == 2 ? 3u : 0u));
    }
    /* stream 1 seq 0 once (the duplicate dropped), streams 0 and 2, END */
    CHECK_EQ(n, 4);
    CHECK_EQ(ends, 1);
    CHECK(mrz_reader_damage(r, NULL) == UINT64_MAX);
    mrz_reader_close(r);
    /* no spill file: nothing to do */
    CHECK_EQ(mrz_salvage(path, MRZ_END_EXIT, 0), 0);
    free(f.b);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/t.mrz", dir);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    test_roundtrip(cctx);
    test_duplicates(cctx);
    test_damage(cctx);
    test_open_errors();
    test_salvage(cctx);
    ZSTD_freeCCtx(cctx);
    char wip[600];
    snprintf(wip, sizeof wip, "%s.wip", path);
    unlink(wip);
    unlink(path);
    rmdir(dir);
    return check_report("test_reader");
}
