/* rp_prefetch.h — decompressing a trace's chunks on a second thread, ahead
 * of the replay that consumes them.
 *
 * The replay needs chunks in (nearly) the order of their base times, since a
 * stream's next chunk starts after its previous one ends; the worker decodes
 * in that order, at most `window` chunks ahead of the consumer, so memory
 * stays bounded.  Whatever order the consumer really asks in, it is served:
 * a chunk the worker has not reached is decoded by the caller itself. */
#ifndef RP_PREFETCH_H
#define RP_PREFETCH_H

#include <stdint.h>

#include "mrz.h"

struct rp_prefetch;

/* A record decoded ahead, in the compact form the replay needs.  A framed
 * record whose fields are all integers carries time, a and b here (inline);
 * the others (strings) are left in the payload at off. */
struct rp_hot {
    uint64_t time, ptr, size;  /* STACK: ptr is the ip; framed inline: a, b;
                                * framed with strings: size is its offset */
    uint32_t stack;            /* ALLOC, CUDA_ALLOC: node id; STACK: id - parent */
    uint8_t type, space, flags;
    uint8_t device;            /* CUDA device ordinal, saturated at 255 */
};
#define RP_HOT_FAILED 1        /* a CUDA call whose result was not 0 */
#define RP_HOT_INLINE 2        /* framed: time, a, b are here */

/* A chunk decoded ahead: its payload and its records, in order. */
struct rp_decoded {
    struct mrz_chunk c;
    const struct rp_hot *recs;
    uint32_t n;
    int bad;                   /* decoding stopped at a malformed record */
};
/* c.raw is NULL when every record is in recs (the payload was freed early,
 * which keeps the memory of chunks decoded ahead small). */

/** Starts the worker.  offsets[g] is chunk g's file offset; order lists the
 * chunk numbers in the order to decode.  Both arrays are copied.
 * @return NULL when it would not pay (one CPU, few chunks) or on failure:
 *         the caller then loads chunks itself. */
struct rp_prefetch *rp_prefetch_start(const struct mrz_reader *r, const uint64_t *offsets, const uint32_t *order,
                                      uint32_t n, uint32_t window);

/** Chunk g, decompressed and its records decoded (valid until
 * rp_prefetch_release(p, g)).  dctx is the caller's, used when it decodes
 * the chunk itself.
 * @return 1, or a negative MRZ_E* code for a chunk that cannot be read. */
int rp_prefetch_get(struct rp_prefetch *p, uint32_t g, void *dctx, struct rp_decoded *out);

/** Frees chunk g's buffer: the consumer is done with it. */
void rp_prefetch_release(struct rp_prefetch *p, uint32_t g);

/** Stops the worker and frees everything. */
void rp_prefetch_stop(struct rp_prefetch *p);

#endif
