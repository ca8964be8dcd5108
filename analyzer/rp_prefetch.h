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

/** Starts the worker.  offsets[g] is chunk g's file offset; order lists the
 * chunk numbers in the order to decode.  Both arrays are copied.
 * @return NULL when it would not pay (one CPU, few chunks) or on failure:
 *         the caller then loads chunks itself. */
struct rp_prefetch *rp_prefetch_start(const struct mrz_reader *r, const uint64_t *offsets, const uint32_t *order,
                                      uint32_t n, uint32_t window);

/** Chunk g, decoded (c->raw valid until rp_prefetch_release(p, g)).
 * dctx is the caller's, used when it decodes the chunk itself.
 * @return 1, or a negative MRZ_E* code for a chunk that cannot be read. */
int rp_prefetch_get(struct rp_prefetch *p, uint32_t g, void *dctx, struct mrz_chunk *c);

/** Frees chunk g's buffer: the consumer is done with it. */
void rp_prefetch_release(struct rp_prefetch *p, uint32_t g);

/** Stops the worker and frees everything. */
void rp_prefetch_stop(struct rp_prefetch *p);

#endif
