/* mrz.h — the .mrz trace format: constants, the chunk writer, the reader,
 * and the spill file that lets a trace outlive its process.
 *
 * The normative description is format/SPEC.md; this header is its C face.
 * Functions return 0 or a positive count on success and a negative
 * MRZ_E* code on failure; none of them prints or exits. */
#ifndef MRZ_H
#define MRZ_H

#include <stddef.h>
#include <stdint.h>

#include "mrz_codec.h"

#define MRZ_VERSION_MAJOR 1
#define MRZ_VERSION_MINOR 0

/* File header: 8-byte magic, then fields (all little endian). */
#define MRZ_MAGIC "\x89MRZ\r\n\x1a\n"
#define MRZ_MAGIC_LEN 8
#define MRZ_FILE_HEADER_SIZE 32

/* Chunk header: 48 bytes, see SPEC.md "Chunk". */
#define MRZ_CHUNK_MAGIC 0x435a524du /* "MRZC" */
#define MRZ_CHUNK_HEADER_SIZE 48
#define MRZ_CODEC_RAW 0
#define MRZ_CODEC_ZSTD 1
#define MRZ_CODEC_COLS 2   /* columns, each a zstd frame (format/columns.c) */
#define MRZ_CHUNK_SALVAGED 0x01 /* written after the process died */
/* A chunk's raw payload never exceeds this (bounds the reader's memory). */
#define MRZ_CHUNK_RAW_MAX (16u << 20)

/* Stream 0 carries process metadata; thread streams are 1..  Stream numbers
 * stay below MRZ_STREAM_MAX (readers index tables by them; the recorder
 * uses at most one per thread alive at once); a header with a larger one
 * is invalid. */
#define MRZ_STREAM_META 0
#define MRZ_STREAM_MAX (1u << 16)

/* Record types (first byte of every record). */
enum mrz_type {
    /* 0x01..0x0f: ALLOC, the type is the kind (enum mrz_kind) */
    MRZ_T_FREE = 0x10,
    MRZ_T_REALLOC_FREE = 0x11,
    MRZ_T_STACK = 0x12,
    MRZ_T_CUDA_ALLOC = 0x13,
    MRZ_T_CUDA_FREE = 0x14,
    /* 0x15..0x1f reserved hot types; >= 0x20 framed (length-prefixed) */
    MRZ_T_FRAMED_MIN = 0x20,
    MRZ_T_PROCESS = 0x20,
    MRZ_T_MODULE = 0x21,
    MRZ_T_MODULE_UNLOAD = 0x22,
    MRZ_T_THREAD = 0x23,
    MRZ_T_THREAD_NAME = 0x24,
    MRZ_T_THREAD_EXIT = 0x25,
    MRZ_T_STRING = 0x26,
    MRZ_T_MARK = 0x27,
    MRZ_T_REGION_BEGIN = 0x28,
    MRZ_T_REGION_END = 0x29,
    MRZ_T_LABEL_NEXT = 0x2a,
    MRZ_T_LOST = 0x2b,
    MRZ_T_END = 0x2c,
    MRZ_T_RECORDING = 0x2d,
    MRZ_T_OPTIONS = 0x2e,
    MRZ_T_STREAM_STATE = 0x2f,
};

/* Allocation kinds: the call the program made. */
enum mrz_kind {
    MRZ_K_MALLOC = 1,
    MRZ_K_CALLOC = 2,
    MRZ_K_REALLOC = 3,
    MRZ_K_REALLOCARRAY = 4,
    MRZ_K_MEMALIGN = 5,
    MRZ_K_POSIX_MEMALIGN = 6,
    MRZ_K_ALIGNED_ALLOC = 7,
    MRZ_K_VALLOC = 8,
    MRZ_K_PVALLOC = 9,
    MRZ_K_MAX = 15,
};

/* Allocation spaces. */
enum mrz_space {
    MRZ_S_HOST = 0,
    MRZ_S_CUDA_DEVICE = 1,
    MRZ_S_CUDA_PINNED = 2,
    MRZ_S_CUDA_MANAGED = 3,
    MRZ_S_CUDA_ASYNC = 4,
    MRZ_S_CUDA_VMM = 5,
    MRZ_S_COUNT = 6,
};

/* Clocks of the PROCESS record. */
enum mrz_clock { MRZ_CLOCK_MONOTONIC = 0, MRZ_CLOCK_TSC = 1 };

/* How a process ended (END record). */
enum mrz_end_how { MRZ_END_UNKNOWN = 0, MRZ_END_EXIT = 1, MRZ_END_SIGNAL = 2, MRZ_END_EXEC = 3 };

/* Error codes. */
enum mrz_err {
    MRZ_OK = 0,
    MRZ_EIO = -1,        /* open/read/write failed (errno kept) */
    MRZ_ENOTMRZ = -2,    /* not a trace (bad magic) */
    MRZ_EVERSION = -3,   /* a newer major version */
    MRZ_EEMPTY = -4,     /* empty file */
    MRZ_ECORRUPT = -5,   /* checksum or grammar error */
    MRZ_ETRUNC = -6,     /* input ends inside a record or chunk */
    MRZ_ENOMEM = -7,
    MRZ_EZSTD = -8,
    MRZ_EBUSY = -9,      /* the recording process still holds the spill file */
};

/** @return a static English phrase for an MRZ_E* code. */
const char *mrz_strerror(int err);

/** @return the name of a kind ("malloc", ...) or NULL for an unknown one. */
const char *mrz_kind_name(unsigned kind);
/** @return the name of a space ("host", "cuda-device", ...) or NULL. */
const char *mrz_space_name(unsigned space);
/** @return 1 when kind records an alignment field. */
static inline int mrz_kind_has_align(unsigned kind) { return kind >= MRZ_K_MEMALIGN && kind <= MRZ_K_ALIGNED_ALLOC; }

/** CRC-32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t mrz_crc32c(uint32_t crc, const void *buf, size_t n);

/* ---------------------------------------------------------------- writing */

/** Fills the 32-byte file header. */
void mrz_file_header(uint8_t out[MRZ_FILE_HEADER_SIZE], uint32_t pid);

struct mrz_chunk_info {
    uint32_t stream;
    uint32_t seq;          /* per-stream sequence number, from 0 */
    uint8_t codec;         /* MRZ_CODEC_* */
    uint8_t flags;         /* MRZ_CHUNK_* */
    uint32_t payload_len;  /* bytes after the header */
    uint32_t raw_len;      /* decoded payload bytes */
    uint64_t base_ticks;   /* time base of the chunk's first hot record */
    uint64_t base_ns;      /* CLOCK_MONOTONIC ns read with base_ticks */
};

/** Bytes a chunk of raw_len payload bytes may take once encoded. */
size_t mrz_chunk_bound(size_t raw_len);

/** Encodes one chunk (header + zstd frame of raw) into out.
 * @param cctx  a ZSTD_CCtx (void * so zstd.h stays private); NULL stores raw.
 * Preconditions: out holds mrz_chunk_bound(raw_len); raw_len <= MRZ_CHUNK_RAW_MAX.
 * @return bytes written, or a negative MRZ_E* code. */
long mrz_chunk_encode(uint8_t *out, void *cctx, int level, const struct mrz_chunk_info *info,
                      const uint8_t *raw, size_t raw_len);

/** Writes the 48-byte chunk header for a payload of n stored bytes. */
void mrz_chunk_header(uint8_t *h, const struct mrz_chunk_info *info, uint8_t codec, const uint8_t *payload,
                      size_t n, size_t raw_len);

/** Like mrz_chunk_encode, with codec 2: the records split into columns,
 * each compressed on its own (smaller traces).  Falls back to codec 1 for a
 * payload it cannot split.  cctx must not be NULL.
 * @param scratch  mrz_cols_scratch_size(raw_len) bytes of working memory
 * @param w        the writer's cache when it kept raw's columns (struct
 *                 mrz_ref_cache), so no split is needed; or NULL
 * @return bytes written, or a negative MRZ_E* code. */
long mrz_chunk_encode_cols(uint8_t *out, void *cctx, int level, const struct mrz_chunk_info *info,
                           const uint8_t *raw, size_t raw_len, uint8_t *scratch, struct mrz_ref_cache *w);
size_t mrz_cols_scratch_size(size_t raw_len);
/** Decodes a codec 2 payload of n bytes into raw_len bytes at *buf (grown
 * with realloc; also holds the columns).  @return 0, MRZ_ECORRUPT or
 * MRZ_ENOMEM; *raw points to the records. */
int mrz_cols_load(void *dctx, const uint8_t *payload, size_t n, size_t raw_len, uint8_t **buf, size_t *cap,
                  const uint8_t **raw);

/* Bytes somewhere in memory. */
struct mrz_span { const uint8_t *p; size_t n; };
/** Decompresses only the TAG and REST columns of a codec 2 payload of n
 * bytes, into *buf (grown with realloc): enough to count its records
 * (mrz_reader_census) without rebuilding them.
 * @return 0, MRZ_ECORRUPT or MRZ_ENOMEM. */
int mrz_cols_tags(void *dctx, const uint8_t *payload, size_t n, uint8_t **buf, size_t *cap, struct mrz_span *tags,
                  struct mrz_span *rest);

/* ---------------------------------------------------------------- reading */

/* A decoded record.  Which fields are meaningful depends on type; strings
 * point into the chunk's payload and live as long as it does. */
struct mrz_str { const char *s; uint32_t n; };

struct mrz_rec {
    uint8_t type;          /* enum mrz_type, or the kind for an ALLOC */
    uint64_t time;         /* ticks (hot records and framed ones that carry time) */
    uint64_t ptr;
    uint64_t size;
    uint64_t stack;        /* ALLOC/CUDA_ALLOC: node id; STACK: id - parent (>= 1) */
    uint64_t align;
    uint64_t ip;           /* STACK */
    uint32_t space, device;
    uint64_t result, cuda_stream;
    /* framed records */
    uint64_t a, b, c, d, e, f; /* integer fields in spec order (see SPEC.md) */
    struct mrz_str str, str2;
    const uint8_t *body;   /* framed: the body */
    uint32_t body_len;
    const uint8_t *tail;   /* framed: first byte after the fields decoded above */
};

/** Decodes the next record of a chunk payload.
 * @param pp   in/out cursor into [*pp, end)
 * @param d    the chunk's delta state (mrz_delta_reset at chunk start)
 * @return 1 for a record, 0 at the end, MRZ_ECORRUPT/MRZ_ETRUNC on bad input.
 *         An unknown framed type is returned as is (type set, body/len set)
 *         so the caller can skip it; an unknown hot type is MRZ_ECORRUPT. */
int mrz_decode(const uint8_t **pp, const uint8_t *end, struct mrz_delta *d, struct mrz_rec *r);

/** Calls fn for every record of a loaded chunk, in order.
 * @return the number of records, or a negative code when one does not
 *         decode (the records before it were passed to fn). */
struct mrz_chunk;
int mrz_chunk_each(const struct mrz_chunk *c, void (*fn)(void *ctx, const struct mrz_rec *r), void *ctx);

/* Iterating over a module's segments and a process's argv in framed bodies. */
struct mrz_segment { uint64_t vaddr, memsz, offset; uint32_t flags; };
/** Parses MODULE's tail (after id, time, base, path, build-id): the segments.
 * @return the number of segments stored (<= max), or a negative code. */
int mrz_module_segments(const struct mrz_rec *r, struct mrz_segment *out, int max);
/** Parses PROCESS's argv: calls fn for each argument. @return argc or < 0. */
int mrz_process_argv(const struct mrz_rec *r, void (*fn)(void *ctx, struct mrz_str arg), void *ctx);

struct mrz_reader;

struct mrz_chunk {
    struct mrz_chunk_info info;
    uint64_t offset;         /* file offset of the chunk header */
    const uint8_t *raw;      /* decoded payload (valid until the next call) */
    size_t raw_len;
};

/** Opens a trace.  Fails with MRZ_EEMPTY, MRZ_ENOTMRZ, MRZ_EVERSION, MRZ_EIO. */
int mrz_reader_open(const char *path, struct mrz_reader **out);
void mrz_reader_close(struct mrz_reader *r);
/** Process id from the file header. */
uint32_t mrz_reader_pid(const struct mrz_reader *r);
uint64_t mrz_reader_file_size(const struct mrz_reader *r);
/** Format version from the file header (major <= MRZ_VERSION_MAJOR). */
void mrz_reader_version(const struct mrz_reader *r, unsigned *major, unsigned *minor);

/** Returns the next good chunk, decompressed.  Chunks already seen (same
 * stream and seq, as salvage may append twice) are skipped silently.
 * @return 1 with *c filled, 0 at the end of the file, or a negative code
 *         when the rest of the file cannot be read.  A damaged region is
 *         skipped by scanning for the next valid chunk header; see
 *         mrz_reader_damage(). */
int mrz_reader_next(struct mrz_reader *r, struct mrz_chunk *c);

/** Damage found so far: the first bad offset (or UINT64_MAX when none)
 * and the number of bytes skipped.  A truncated tail counts as damage. */
uint64_t mrz_reader_damage(const struct mrz_reader *r, uint64_t *skipped_bytes);

/** Rewinds to the first chunk. */
void mrz_reader_rewind(struct mrz_reader *r);

/** Like mrz_reader_next but leaves the payload compressed (c->raw is NULL):
 * the indexing pass of a parallel reader, which then loads each chunk with
 * mrz_reader_chunk_at.  Checksums are verified here. */
int mrz_reader_next_header(struct mrz_reader *r, struct mrz_chunk *c);

/** Loads the chunk at a known offset, decompressing with dctx (a
 * ZSTD_DCtx from mrz_dctx_new) into *scratch (grown with realloc).
 * Thread-safe for distinct dctx/scratch.  @return 1, or a negative code. */
int mrz_reader_chunk_at(const struct mrz_reader *r, uint64_t offset, void *dctx, struct mrz_chunk *c,
                        uint8_t **scratch, size_t *scratch_cap);
void *mrz_dctx_new(void);
void mrz_dctx_free(void *dctx);

/* How many records of each sort a trace holds. */
struct mrz_census {
    uint64_t allocs;        /* ALLOC records (every kind) */
    uint64_t frees;         /* FREE */
    uint64_t realloc_frees; /* REALLOC_FREE */
    uint64_t cuda_allocs, cuda_frees;
    uint64_t threads;       /* distinct tids of THREAD records, as mallocan info counts */
    int salvaged;           /* some chunk was written by salvage */
};

/** Counts the records of the good chunks from r's current position to the
 * end (the same chunks mrz_reader_next returns).  Fast: of a codec 2 chunk
 * only the TAG and REST columns are decompressed and nothing is decoded.
 * @return 0, or a negative code when the rest of the file cannot be read
 *         (*out then holds the counts so far). */
int mrz_reader_census(struct mrz_reader *r, struct mrz_census *out);

/* ---------------------------------------------------------------- spill file */

/* A process's unflushed buffers live in "<trace>.wip", a shared file mapping:
 * a page-sized header, then slots of MRZ_SLOT_HEADER + slot_size bytes.  The
 * process appends records to a slot and bumps `used` after each one; when it
 * dies, whatever was in the slots is still in the file, and mrz_salvage turns
 * it into chunks.
 *
 * Protocol between the recorder and mrz_salvage:
 * - the recorder builds the spill file under another name, takes a shared
 *   flock(2) on it and only then renames it to "<trace>.wip", so a spill file
 *   under that name is either complete or held; the lock lives as long as
 *   the process keeps the file mapped (it goes at exit, death and exec);
 * - a slot's bytes [0, used) are whole records; flushing writes them as
 *   chunk (stream, seq), then sets used = 0, then increments seq, so a death
 *   at any point either loses nothing or makes salvage write a chunk the
 *   trace already has (the reader drops the repeat). */
#define MRZ_WIP_MAGIC 0x5049574du  /* "MWIP" */
#define MRZ_WIP_HEADER 4096
#define MRZ_SLOT_HEADER 64

struct mrz_wip_header {
    uint32_t magic, version;
    uint32_t pid, slot_size;
    uint32_t nslots;         /* slots in use so far (file grows) */
    uint32_t pad;
    char trace_path[4000];
};

struct mrz_slot {
    uint32_t magic;          /* MRZ_WIP_MAGIC once initialised */
    uint32_t stream;
    uint32_t seq;            /* seq of the chunk now being filled */
    uint32_t state;          /* 0 free, 1 owned */
    uint64_t base_ticks, base_ns;
    volatile uint64_t used;  /* committed bytes of data[] */
    uint64_t reserved[3];
    uint8_t data[];
};

/** Completes a trace from its spill file "<path>.wip", once the process that
 * wrote it has ended (exit, death or exec): cuts a chunk torn by the death
 * off the end of the trace, writes every slot with committed bytes as a chunk
 * flagged MRZ_CHUNK_SALVAGED, and, if the trace has no END record that
 * knows how the process ended, appends one (end_how/end_value, or
 * MRZ_END_UNKNOWN) flagged as written after the fact.  Removes the spill file when done.  Safe to call at any time and
 * from several processes at once: it never touches a spill file that its
 * process still holds.
 * @return the number of salvaged chunks (0 also when there is no spill
 *         file), MRZ_EBUSY while the recording process is alive, MRZ_EIO
 *         (errno kept) when the trace cannot be written, e.g. in a read-only
 *         location, or another negative code. */
int mrz_salvage(const char *path, int end_how, int end_value);

/** mrz_salvage for a trace that cannot be written where it is: copies the
 * trace into out_fd (an empty file open for reading and writing) and
 * completes the copy, leaving the trace and its spill file as they are.
 * @return as mrz_salvage. */
int mrz_salvage_copy(const char *path, int out_fd, int end_how, int end_value);

#endif
