/* Fuzz target for the .mrz reader: file framing, damage recovery, chunk
 * loading (both the sequential and the indexed path), the record decoder,
 * the census of a codec 2 chunk's tags and the MODULE/PROCESS field parsers.
 *
 * The first input byte picks how the rest is read:
 *   bit 0 clear  as a trace file, byte for byte;
 *   bit 0 set    as a trace file whose chunk checksums are first made right
 *                wherever a chunk header's magic is, so that mutations get
 *                past the CRCs into zstd and the record decoder;
 *   bit 1 set    (with bit 0 clear) as one chunk payload, straight to the
 *                record decoder.
 * mrz_fuzz_prepare gives the bytes a reader sees, so the corpus replay can
 * hand the same file to mallocan. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mrz.h"
#include "fuzz_reader.h"

static void fix_checksums(uint8_t *b, size_t n)
{
    if (n >= MRZ_FILE_HEADER_SIZE && !memcmp(b, MRZ_MAGIC, MRZ_MAGIC_LEN))
        mrz_put_le32(b + 28, mrz_crc32c(0, b, 28));
    for (size_t off = MRZ_FILE_HEADER_SIZE; off + MRZ_CHUNK_HEADER_SIZE <= n; off++) {
        if (mrz_get_le32(b + off) != MRZ_CHUNK_MAGIC)
            continue;
        uint8_t *h = b + off;
        uint32_t len = mrz_get_le32(h + 16);
        mrz_put_le32(h + 40, mrz_crc32c(0, h, 40));
        if (len <= n - off - MRZ_CHUNK_HEADER_SIZE) {
            mrz_put_le32(h + 44, mrz_crc32c(0, h + MRZ_CHUNK_HEADER_SIZE, len));
            off += MRZ_CHUNK_HEADER_SIZE + len - 1;
        }
    }
}

int mrz_fuzz_prepare(const uint8_t *data, size_t size, uint8_t **out, size_t *out_len)
{
    if (!size)
        return -1;
    uint8_t mode = data[0];
    *out_len = size - 1;
    *out = malloc(size);
    if (!*out)
        return -1;
    memcpy(*out, data + 1, size - 1);
    if (mode & 1)
        fix_checksums(*out, *out_len);
    return (mode & 3) == 2 ? 1 : 0;
}

struct sink { size_t n; };
static void on_arg(void *ctx, struct mrz_str a)
{
    struct sink *s = ctx;
    s->n += a.n;
    if (a.n)
        s->n += (unsigned char)a.s[a.n - 1]; /* touch the last byte */
}

static void decode_all(const uint8_t *raw, size_t len, uint64_t base)
{
    struct mrz_delta d;
    mrz_delta_reset(&d, base);
    const uint8_t *p = raw, *end = raw + len;
    struct mrz_rec rec;
    struct sink s = {0};
    while (mrz_decode(&p, end, &d, &rec) > 0) {
        if (rec.type == MRZ_T_MODULE) {
            struct mrz_segment seg[8];
            mrz_module_segments(&rec, seg, 8);
        } else if (rec.type == MRZ_T_PROCESS) {
            mrz_process_argv(&rec, on_arg, &s);
        }
        if (rec.type >= MRZ_T_FRAMED_MIN && rec.str.n)
            s.n += (unsigned char)rec.str.s[rec.str.n - 1];
    }
}

static void read_file(const char *path)
{
    struct mrz_reader *r;
    if (mrz_reader_open(path, &r))
        return;
    struct mrz_chunk c;
    while (mrz_reader_next(r, &c) > 0)
        decode_all(c.raw, c.raw_len, c.info.base_ticks);
    uint64_t skipped;
    mrz_reader_damage(r, &skipped);
    /* the indexing pass and random access, as a parallel reader does */
    mrz_reader_rewind(r);
    void *dctx = mrz_dctx_new();
    uint8_t *scratch = NULL;
    size_t cap = 0;
    while (mrz_reader_next_header(r, &c) > 0) {
        struct mrz_chunk full;
        if (mrz_reader_chunk_at(r, c.offset, dctx, &full, &scratch, &cap) > 0)
            decode_all(full.raw, full.raw_len, full.info.base_ticks);
    }
    mrz_reader_chunk_at(r, mrz_reader_file_size(r) / 2, dctx, &c, &scratch, &cap);
    /* the launcher's count, from the tag columns alone */
    mrz_reader_rewind(r);
    struct mrz_census census;
    mrz_reader_census(r, &census);
    free(scratch);
    mrz_dctx_free(dctx);
    mrz_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t len;
    int raw = mrz_fuzz_prepare(data, size, &buf, &len);
    if (raw < 0)
        return 0;
    if (raw) {
        decode_all(buf, len, 0);
        free(buf);
        return 0;
    }
    int fd = memfd_create("mrz-fuzz", MFD_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, buf, len) == (ssize_t)len) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            read_file(path);
        }
        close(fd);
    }
    free(buf);
    return 0;
}
