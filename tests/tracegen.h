/* tracegen.h — helpers of the test programs that write traces by hand with
 * the format library (tests/pictures/mkpic.c, tests/engine/mkties.c). */
#ifndef TRACEGEN_H
#define TRACEGEN_H

#include <stdio.h>

#include "mrz.h"

/** Writes raw[0, n) to f as one chunk described by ci, stored raw.
 * @param out  mrz_chunk_bound(n) bytes of room.  @return 0, or -1. */
static inline int tg_put_chunk(FILE *f, const struct mrz_chunk_info *ci, const uint8_t *raw, size_t n, uint8_t *out)
{
    long len = mrz_chunk_encode(out, NULL, 0, ci, raw, n);
    return len > 0 && fwrite(out, 1, (size_t)len, f) == (size_t)len ? 0 : -1;
}

/** A framed record of two uvar fields (THREAD: time, tid; MARK: time, string
 * id) at p.  @return the byte after it. */
static inline uint8_t *tg_framed_ta(uint8_t *p, unsigned type, uint64_t t, uint64_t a)
{
    struct mrz_framed fr;
    uint8_t *q = mrz_framed_begin(&fr, p, type);
    q = mrz_put_uvar(q, t);
    q = mrz_put_uvar(q, a);
    return mrz_framed_end(&fr, q);
}

#endif
