/* Checksums, names and chunk encoding: the writing half of the format. */
#include <string.h>
#include <zstd.h>

#include "mrz.h"

static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes CRC-32C: about ten times the table
 * method's speed, which matters because the reader checks every chunk. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t mrz_crc32c(uint32_t crc, const void *buf, size_t n)
{
#if defined(__x86_64__)
    static int hw = -1;
    if (hw < 0)
        hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (hw)
        return crc32c_hw(crc, buf, n);
#endif
    /* Racing initialisers write identical tables, so no lock is needed. */
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        crc_init();
    const uint8_t *p = buf;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ mrz_get_le32(p), hi = mrz_get_le32(p + 4);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
              crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

const char *mrz_strerror(int err)
{
    switch (err) {
    case MRZ_OK: return "success";
    case MRZ_EIO: return "I/O error";
    case MRZ_ENOTMRZ: return "not a .mrz trace (bad magic)";
    case MRZ_EVERSION: return "written by a newer version of the format";
    case MRZ_EEMPTY: return "empty file";
    case MRZ_ECORRUPT: return "corrupt data";
    case MRZ_ETRUNC: return "truncated";
    case MRZ_ENOMEM: return "out of memory";
    case MRZ_EZSTD: return "zstd error";
    case MRZ_EBUSY: return "the recording process is still running";
    default: return "unknown error";
    }
}

const char *mrz_kind_name(unsigned kind)
{
    static const char *const names[] = {
        [MRZ_K_MALLOC] = "malloc", [MRZ_K_CALLOC] = "calloc", [MRZ_K_REALLOC] = "realloc",
        [MRZ_K_REALLOCARRAY] = "reallocarray", [MRZ_K_MEMALIGN] = "memalign",
        [MRZ_K_POSIX_MEMALIGN] = "posix_memalign", [MRZ_K_ALIGNED_ALLOC] = "aligned_alloc",
        [MRZ_K_VALLOC] = "valloc", [MRZ_K_PVALLOC] = "pvalloc",
    };
    return kind < sizeof names / sizeof *names ? names[kind] : NULL;
}

const char *mrz_space_name(unsigned space)
{
    static const char *const names[] = {"host", "cuda-device", "cuda-pinned", "cuda-managed", "cuda-async",
                                        "cuda-vmm"};
    return space < MRZ_S_COUNT ? names[space] : NULL;
}

void mrz_file_header(uint8_t out[MRZ_FILE_HEADER_SIZE], uint32_t pid)
{
    memset(out, 0, MRZ_FILE_HEADER_SIZE);
    memcpy(out, MRZ_MAGIC, MRZ_MAGIC_LEN);
    mrz_put_le16(out + 8, MRZ_VERSION_MAJOR);
    mrz_put_le16(out + 10, MRZ_VERSION_MINOR);
    mrz_put_le32(out + 12, MRZ_FILE_HEADER_SIZE);
    mrz_put_le32(out + 16, pid);
    /* 20..27 reserved (zero); 28..31 CRC-32C of bytes 0..27 */
    mrz_put_le32(out + 28, mrz_crc32c(0, out, 28));
}

size_t mrz_chunk_bound(size_t raw_len) { return MRZ_CHUNK_HEADER_SIZE + ZSTD_compressBound(raw_len); }

void mrz_chunk_header(uint8_t *h, const struct mrz_chunk_info *info, uint8_t codec, const uint8_t *payload,
                      size_t n, size_t raw_len)
{
    mrz_put_le32(h, MRZ_CHUNK_MAGIC);
    h[4] = codec;
    h[5] = info->flags;
    mrz_put_le16(h + 6, 0);
    mrz_put_le32(h + 8, info->stream);
    mrz_put_le32(h + 12, info->seq);
    mrz_put_le32(h + 16, (uint32_t)n);
    mrz_put_le32(h + 20, (uint32_t)raw_len);
    mrz_put_le64(h + 24, info->base_ticks);
    mrz_put_le64(h + 32, info->base_ns);
    mrz_put_le32(h + 40, mrz_crc32c(0, h, 40));
    mrz_put_le32(h + 44, mrz_crc32c(0, payload, n));
}

long mrz_chunk_encode(uint8_t *out, void *cctx, int level, const struct mrz_chunk_info *info,
                      const uint8_t *raw, size_t raw_len)
{
    if (raw_len > MRZ_CHUNK_RAW_MAX)
        return MRZ_ECORRUPT;
    uint8_t *payload = out + MRZ_CHUNK_HEADER_SIZE;
    size_t n;
    uint8_t codec = MRZ_CODEC_RAW;
    if (cctx) {
        n = ZSTD_compressCCtx(cctx, payload, ZSTD_compressBound(raw_len), raw, raw_len, level);
        if (ZSTD_isError(n))
            return MRZ_EZSTD;
        codec = MRZ_CODEC_ZSTD;
    } else {
        memcpy(payload, raw, raw_len);
        n = raw_len;
    }
    mrz_chunk_header(out, info, codec, payload, n, raw_len);
    return (long)(MRZ_CHUNK_HEADER_SIZE + n);
}
