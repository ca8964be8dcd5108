/* Completing a trace after its process ended: the spill file's slots hold
 * every record that was not yet written as a chunk.  See mrz.h, "spill
 * file", for the protocol this relies on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* A chunk header at off whose checksum holds and whose payload fits. */
static int chunk_at(const uint8_t *map, uint64_t size, uint64_t off, uint64_t *next)
{
    if (size - off < MRZ_CHUNK_HEADER_SIZE)
        return 0;
    const uint8_t *h = map + off;
    if (mrz_get_le32(h) != MRZ_CHUNK_MAGIC || mrz_get_le32(h + 40) != mrz_crc32c(0, h, 40))
        return 0;
    uint64_t len = mrz_get_le32(h + 16);
    if (len > size - off - MRZ_CHUNK_HEADER_SIZE)
        return 0;
    *next = off + MRZ_CHUNK_HEADER_SIZE + len;
    return 1;
}

/* A process killed inside write(2) leaves part of a chunk at the end of its
 * trace; that chunk's records are still in its slot.  Cut the torn part off
 * so the completed trace reads without damage.  Damage followed by a valid
 * chunk is not a torn tail and is left for the reader to report. */
static void cut_torn_tail(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= MRZ_FILE_HEADER_SIZE)
        return;
    uint64_t size = (uint64_t)st.st_size;
    const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return;
    uint64_t off = MRZ_FILE_HEADER_SIZE, next;
    if (memcmp(map, MRZ_MAGIC, MRZ_MAGIC_LEN))
        goto out;
    while (off < size && chunk_at(map, size, off, &next))
        off = next;
    if (off < size) {
        for (uint64_t p = off + 1; p + MRZ_CHUNK_HEADER_SIZE <= size; p++) {
            const uint8_t *m = memchr(map + p, 'M', size - p);
            if (!m)
                break;
            p = (uint64_t)(m - map);
            if (chunk_at(map, size, p, &next))
                goto out;
        }
        if (ftruncate(fd, (off_t)off) < 0) {
            /* left as it is: the reader skips the torn part */
        }
    }
out:
    munmap((void *)map, size);
}

/* @return 2 if the trace has an END record in stream 0 that says how the
 * process ended, 1 if its only ENDs do not know, 0 if it has none, < 0. */
/* found: 1 an END that does not know how the process ended, 2 one that does */
static void end_seen(void *ctx, const struct mrz_rec *rec)
{
    int *found = ctx, how = rec->a != MRZ_END_UNKNOWN ? 2 : 1;
    if (rec->type == MRZ_T_END && *found < how)
        *found = how;
}

static int has_end(const char *path)
{
    struct mrz_reader *r;
    int e = mrz_reader_open(path, &r);
    if (e)
        return e == MRZ_EEMPTY ? 0 : e;
    void *dctx = mrz_dctx_new();
    uint8_t *scratch = NULL;
    size_t cap = 0;
    struct mrz_chunk c;
    int found = 0;
    while (found < 2 && (e = mrz_reader_next_header(r, &c)) > 0) {
        if (c.info.stream != MRZ_STREAM_META)
            continue;
        struct mrz_chunk full;
        if (mrz_reader_chunk_at(r, c.offset, dctx, &full, &scratch, &cap) < 0)
            continue;
        mrz_chunk_each(&full, end_seen, &found);
    }
    free(scratch);
    mrz_dctx_free(dctx);
    mrz_reader_close(r);
    return found ? found : e < 0 ? e : 0;
}

static int append_end(int fd, uint32_t seq, int end_how, int end_value)
{
    /* time 0: the moment of death is not known; flags bit 0: after the fact */
    uint8_t rec[64];
    struct mrz_framed f;
    uint8_t *p = mrz_framed_begin(&f, rec, MRZ_T_END);
    p = mrz_put_uvar(p, 0);
    p = mrz_put_uvar(p, (uint64_t)end_how);
    p = mrz_put_uvar(p, (uint64_t)(uint32_t)end_value);
    p = mrz_put_uvar(p, 1);
    p = mrz_put_uvar(p, 0);
    p = mrz_framed_end(&f, p);
    struct mrz_chunk_info ci = {.stream = MRZ_STREAM_META, .seq = seq, .flags = MRZ_CHUNK_SALVAGED};
    return append_chunk(fd, NULL, &ci, rec, (size_t)(p - rec));
}

/* Writes the committed bytes of every slot as chunks.  @return the number
 * of chunks or a negative code; *meta_seq gets a seq stream 0 never used. */
static int salvage_slots(int fd, const uint8_t *map, size_t map_len, uint32_t *meta_seq)
{
    const struct mrz_wip_header *wh = (const void *)map;
    size_t stride = MRZ_SLOT_HEADER + (size_t)wh->slot_size;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx)
        return MRZ_ENOMEM;
    int ret = 0;
    for (uint32_t i = 0; ret >= 0 && i < wh->nslots; i++) {
        size_t off = MRZ_WIP_HEADER + (size_t)i * stride;
        if (off + stride > map_len)
            break;
        const struct mrz_slot *s = (const void *)(map + off);
        if (s->magic != MRZ_WIP_MAGIC)
            continue;
        uint64_t used = s->used;
        /* seq is written once used is 0 again, and never reused: whether
         * or not chunk seq reached the trace, seq + 1 is unused. */
        if (s->stream == MRZ_STREAM_META)
            *meta_seq = s->seq + 1;
        if (!used || used > wh->slot_size)
            continue;
        struct mrz_chunk_info ci = {.stream = s->stream, .seq = s->seq, .flags = MRZ_CHUNK_SALVAGED,
                                    .base_ticks = s->base_ticks, .base_ns = s->base_ns};
        int e = append_chunk(fd, cctx, &ci, s->data, used);
        ret = e < 0 ? e : ret + 1;
    }
    ZSTD_freeCCtx(cctx);
    return ret;
}

/* Opens and locks "<path>.wip".  @return the fd, or a negative code (0 when
 * there is none, or another salvager finished it while we waited). */
static int open_wip(const char *path, char *wip, size_t cap, struct stat *st)
{
    if (snprintf(wip, cap, "%s.wip", path) >= (int)cap) {
        errno = ENAMETOOLONG;
        return MRZ_EIO;
    }
    int wfd = open(wip, O_RDONLY | O_CLOEXEC);
    if (wfd < 0)
        return errno == ENOENT ? 0 : MRZ_EIO;
    /* The recorder holds a shared lock for as long as it may write; this
     * also keeps two salvagers apart. */
    if (flock(wfd, LOCK_EX | LOCK_NB) < 0) {
        int busy = errno == EWOULDBLOCK;
        close(wfd);
        return busy ? MRZ_EBUSY : MRZ_EIO;
    }
    struct stat now;
    if (fstat(wfd, st) < 0 || stat(wip, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
        close(wfd);
        return 0;
    }
    if (st->st_size < MRZ_WIP_HEADER) {
        /* renamed into place only once set up, so never by our recorder */
        close(wfd);
        return MRZ_ECORRUPT;
    }
    return wfd;
}

/* Appends what the spill file holds to the trace open as fd (readable again
 * as fd_path), and an END if it has none.  @return chunks, or < 0. */
static int complete(int wfd, size_t wip_len, int fd, const char *fd_path, int end_how, int end_value)
{
    uint8_t *map = mmap(NULL, wip_len, PROT_READ, MAP_SHARED, wfd, 0);
    if (map == MAP_FAILED)
        return MRZ_EIO;
    const struct mrz_wip_header *wh = (const void *)map;
    int ret = 0;
    if (wh->magic != MRZ_WIP_MAGIC || wh->slot_size == 0 || wh->slot_size > MRZ_CHUNK_RAW_MAX) {
        ret = MRZ_ECORRUPT;
        goto out;
    }
    struct stat ts;
    if (fstat(fd, &ts) == 0 && ts.st_size == 0) {
        uint8_t h[MRZ_FILE_HEADER_SIZE];
        mrz_file_header(h, wh->pid);
        ret = write_all(fd, h, sizeof h);
    } else {
        cut_torn_tail(fd);
    }
    if (ret >= 0 && lseek(fd, 0, SEEK_END) < 0)
        ret = MRZ_EIO;
    uint32_t meta_seq = 0;
    if (ret >= 0)
        ret = salvage_slots(fd, map, wip_len, &meta_seq);
    /* an unreadable trace gets no END: the reader reports it anyway */
    int ends = ret >= 0 ? has_end(fd_path) : -1;
    if (ends == 0 || (ends == 1 && end_how != MRZ_END_UNKNOWN)) {
        int e = append_end(fd, meta_seq, end_how, end_value);
        if (e < 0)
            ret = e;
    }
out:
    munmap(map, wip_len);
    return ret;
}

int mrz_salvage(const char *path, int end_how, int end_value)
{
    char wip[4096];
    struct stat st;
    int wfd = open_wip(path, wip, sizeof wip, &st);
    if (wfd <= 0)
        return wfd;
    int ret = MRZ_EIO;
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ret = complete(wfd, (size_t)st.st_size, fd, path, end_how, end_value);
        int saved = errno;
        if (close(fd) < 0 && ret >= 0)
            ret = MRZ_EIO;
        else
            errno = saved;
    }
    if (ret >= 0)
        unlink(wip);
    int saved = errno;
    close(wfd);
    errno = saved;
    return ret;
}

int mrz_salvage_copy(const char *path, int out_fd, int end_how, int end_value)
{
    char wip[4096];
    struct stat st;
    int wfd = open_wip(path, wip, sizeof wip, &st);
    if (wfd <= 0)
        return wfd;
    int ret = 0;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in >= 0) {
        uint8_t buf[1 << 16];
        ssize_t n;
        while (ret == 0 && (n = read(in, buf, sizeof buf)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            ret = n < 0 ? MRZ_EIO : write_all(out_fd, buf, (size_t)n);
        }
        close(in);
    } else if (errno != ENOENT) {
        ret = MRZ_EIO;
    }
    char fd_path[64];
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", out_fd);
    if (ret == 0)
        ret = complete(wfd, (size_t)st.st_size, out_fd, fd_path, end_how, end_value);
    int saved = errno;
    close(wfd);
    errno = saved;
    return ret;
}
