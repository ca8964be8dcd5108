/* rp_tables.h — the replay engine's data structures: growable arrays and
 * open-addressing tables that never allocate per event once warm. */
#ifndef RP_TABLES_H
#define RP_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

/* A growable uint32 array read as 0 past its end. */
struct rp_vec32 { uint32_t *v; uint32_t n, cap; };
static inline uint32_t rp_vec32_get(const struct rp_vec32 *a, uint32_t i) { return i < a->n ? a->v[i] : 0; }
/** Sets a[i] = x, growing (zero-filled) as needed.  @return 0 or -1 (ENOMEM). */
int rp_vec32_set(struct rp_vec32 *a, uint32_t i, uint32_t x);
void rp_vec32_free(struct rp_vec32 *a);

/* Live blocks by (pointer, class): class 0 host heap, 1 CUDA spaces.  Keys
 * live apart from the blocks so probing touches one small dense array. */
struct rp_live { uint64_t *key; struct rp_block *slot; size_t cap, n; };
int rp_live_init(struct rp_live *t);
void rp_live_free(struct rp_live *t);
/** @return 0, or -1 on allocation failure. */
int rp_live_insert(struct rp_live *t, const struct rp_block *b);
/** Removes the block at ptr in class cuda (0/1) into *out.  @return 0, or -1 if absent. */
int rp_live_remove(struct rp_live *t, uint64_t ptr, int cuda, struct rp_block *out);
/** Starts loading the slot of ptr into the cache (a free decoded ahead of
 * its turn in the merge). */
void rp_live_prefetch(const struct rp_live *t, uint64_t ptr, int cuda);
void rp_live_each(struct rp_live *t, void (*fn)(void *user, const struct rp_block *b), void *user);

/* The global stack trie: (parent, ip) -> node, node 0 the root. */
struct rp_nodes {
    uint32_t *parent;
    uint64_t *ip;
    uint32_t n, cap;
    uint32_t *hash;      /* node ids, 0 empty */
    uint32_t hcap;
};
int rp_nodes_init(struct rp_nodes *t);
void rp_nodes_free(struct rp_nodes *t);
int rp_nodes_intern(struct rp_nodes *t, uint32_t parent, uint64_t ip, uint32_t *out);
static inline uint32_t rp_nodes_parent(const struct rp_nodes *t, uint32_t n) { return n < t->n ? t->parent[n] : 0; }
static inline uint64_t rp_nodes_ip(const struct rp_nodes *t, uint32_t n) { return n < t->n ? t->ip[n] : 0; }

/* Interned strings, id 0 = "". */
struct rp_strings {
    char **s;
    uint32_t n, cap;
    uint32_t *hash;
    uint32_t hcap;
};
int rp_strings_init(struct rp_strings *t);
void rp_strings_free(struct rp_strings *t);
int rp_strings_intern(struct rp_strings *t, const char *s, size_t len, uint32_t *out);
static inline const char *rp_strings_get(const struct rp_strings *t, uint32_t id) { return id < t->n ? t->s[id] : ""; }

/* Region tree: (parent, name) -> region, region 0 the root. */
struct rp_regions { uint32_t *parent, *name; uint32_t n, cap; };
int rp_regions_init(struct rp_regions *t);
void rp_regions_free(struct rp_regions *t);
int rp_regions_intern(struct rp_regions *t, uint32_t parent, uint32_t name, uint32_t *out);

/* Threads by tid, in order of first appearance. */
struct rp_threads {
    uint32_t *tid;
    char **name;
    uint32_t n, cap;
    uint32_t *hash;       /* index + 1 */
    uint32_t hcap;
};
/** Finds or adds tid.  @return 0, or -1 on allocation failure (*out = 0). */
int rp_threads_get(struct rp_threads *t, uint32_t tid, uint32_t *out);
void rp_threads_set_name(struct rp_threads *t, uint32_t idx, const char *s, size_t n);
void rp_threads_free(struct rp_threads *t);

#endif
