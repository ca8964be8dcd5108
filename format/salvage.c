/* Completing a trace after its process died: the spill file's slots hold
 * every record that was not yet written as a chunk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "mrz.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return MRZ_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int append_chunk(int fd, ZSTD_CCtx *cctx, const struct mrz_chunk_info *ci, const uint8_t *raw, size_t n)
{
    uint8_t *out = malloc(mrz_chunk_bound(n));
    if (!out)
        return MRZ_ENOMEM;
    long len = mrz_chunk_encode(out, cctx, 3, ci, raw, n);
    int e = len < 0 ? (int)len : write_all(fd, out, (size_t)len);
    free(out);
    return e;
}

int mrz_salvage(const char *path, int end_how, int end_value)
{
    char wip[4096];
    if (snprintf(wip, sizeof wip, "%s.wip", path) >= (int)sizeof wip)
        return MRZ_EIO;
    int wfd = open(wip, O_RDONLY | O_CLOEXEC);
    if (wfd < 0)
        return errno == ENOENT ? 0 : MRZ_EIO;
    struct stat st;
    if (fstat(wfd, &st) < 0 || st.st_size < MRZ_WIP_HEADER) {
        close(wfd);
        unlink(wip); /* died before its spill file was set up: nothing in it */
        return 0;
    }
    uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, wfd, 0);
    close(wfd);
    if (map == MAP_FAILED)
        return MRZ_EIO;
    const struct mrz_wip_header *wh = (const void *)map;
    int ret = 0;
    if (wh->magic != MRZ_WIP_MAGIC || wh->slot_size == 0 || wh->slot_size > MRZ_CHUNK_RAW_MAX) {
        ret = MRZ_ECORRUPT;
        goto out;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ret = MRZ_EIO;
        goto out;
    }
    struct stat ts;
    if (fstat(fd, &ts) == 0 && ts.st_size == 0) {
        uint8_t h[MRZ_FILE_HEADER_SIZE];
        mrz_file_header(h, wh->pid);
        if (write_all(fd, h, sizeof h))
            ret = MRZ_EIO;
    }
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t stride = MRZ_SLOT_HEADER + (size_t)wh->slot_size;
    uint32_t meta_seq = 0;
    for (uint32_t i = 0; ret >= 0 && i < wh->nslots; i++) {
        size_t off = MRZ_WIP_HEADER + i * stride;
        if (off + stride > (size_t)st.st_size)
            break;
        const struct mrz_slot *s = (const void *)(map + off);
        if (s->magic != MRZ_WIP_MAGIC)
            continue;
        uint64_t used = s->used;
        if (s->stream == MRZ_STREAM_META)
            meta_seq = s->seq + (used ? 1 : 0);
        if (!used || used > wh->slot_size)
            continue;
        struct mrz_chunk_info ci = {.stream = s->stream, .seq = s->seq, .flags = MRZ_CHUNK_SALVAGED,
                                    .base_ticks = s->base_ticks, .base_ns = s->base_ns};
        int e = append_chunk(fd, cctx, &ci, s->data, used);
        if (e < 0)
            ret = e;
        else
            ret++;
    }
    if (ret >= 0 && end_how != MRZ_END_UNKNOWN) {
        /* END with time 0: the moment of death is not known. */
        uint8_t rec[64];
        struct mrz_framed f;
        uint8_t *p = mrz_framed_begin(&f, rec, MRZ_T_END);
        p = mrz_put_uvar(p, 0);
        p = mrz_put_uvar(p, (uint64_t)end_how);
        p = mrz_put_uvar(p, (uint64_t)(uint32_t)end_value);
        p = mrz_put_uvar(p, 1); /* flags: salvaged */
        p = mrz_put_uvar(p, 0);
        p = mrz_framed_end(&f, p);
        struct mrz_chunk_info ci = {.stream = MRZ_STREAM_META, .seq = meta_seq};
        int e = append_chunk(fd, NULL, &ci, rec, (size_t)(p - rec));
        if (e < 0)
            ret = e;
    }
    ZSTD_freeCCtx(cctx);
    if (close(fd) < 0 && ret >= 0)
        ret = MRZ_EIO;
out:
    munmap(map, (size_t)st.st_size);
    if (ret >= 0)
        unlink(wip);
    return ret;
}
