/* colcode.h — the coded varint columns of chunk codec 2 (format/SPEC.md,
 * 4.4.2), for format/columns.c.
 *
 * The writer keeps a varint column as two arrays: the first byte of each
 * varint, and the rest of each (its tail) one after the other.  Coded, it
 * is a small header and one zstd frame of its streams: byte planes (the
 * first bytes, the second bytes, ...) or packed fields and an overflow,
 * each stream in blocks of its own, so that each gets its own Huffman
 * table.  The reader gets the varints back as they were. */
#ifndef MRZ_COLCODE_H
#define MRZ_COLCODE_H

#include <stddef.h>
#include <stdint.h>

/** Bytes of working memory mrz_colcode_put needs for a column of n bytes. */
size_t mrz_colcode_put_work(size_t n);

/** Writes the varint column with first bytes f[0..nf) and tails t[0..nt)
 * coded at q, which has room for cap bytes.  16 bytes past t + nt are
 * readable.
 * @param cctx  a ZSTD_CCtx; level its compression level
 * @param pack  whether the packed modes may be chosen (a column of time
 *              deltas); planes otherwise
 * @param work  mrz_colcode_put_work(nf + nt) bytes
 * @return the bytes written, or 0 when they do not fit in cap. */
size_t mrz_colcode_put(void *cctx, int level, const uint8_t *f, size_t nf, const uint8_t *t, size_t nt, int pack,
                       uint8_t *work, uint8_t *q, size_t cap);

/** Bytes of working memory mrz_colcode_get needs for a column of len bytes. */
size_t mrz_colcode_get_work(size_t len);

/** Decodes the coded column p[0..n) into its len bytes of varints at out,
 * which may be written up to 16 bytes past len.
 * @param work  room for wn >= mrz_colcode_get_work(len) bytes
 * @return 0, or -1 when the column is malformed (every length checked). */
int mrz_colcode_get(void *dctx, const uint8_t *p, size_t n, uint8_t *out, size_t len, uint8_t *work, size_t wn);

/** Writes a column of bytes v[0..n) (TAG) coded at q, which has room for
 * cap bytes: when it holds at most 16 distinct values, as 4-bit indices
 * into their list, two a byte.  work: n / 2 + 16 bytes.
 * @return the bytes written, or 0 when they do not fit in cap. */
size_t mrz_colcode_put_bytes(void *cctx, int level, const uint8_t *v, size_t n, uint8_t *work, uint8_t *q,
                             size_t cap);

/** Decodes the coded byte column p[0..n) into out[0..len), writing nowhere
 * else.  @return 0, or -1 when it is malformed. */
int mrz_colcode_get_bytes(void *dctx, const uint8_t *p, size_t n, uint8_t *out, size_t len);

#endif
