/* The replay engine's tables. */
#include <stdlib.h>
#include <string.h>

#include "rp_tables.h"

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

int rp_vec32_set(struct rp_vec32 *a, uint32_t i, uint32_t x)
{
    if (i >= a->cap) {
        uint32_t ncap = a->cap ? a->cap : 64;
        while (ncap <= i)
            ncap *= 2;
        uint32_t *nv = realloc(a->v, (size_t)ncap * sizeof *nv);
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = ncap;
    }
    if (i >= a->n) {
        memset(a->v + a->n, 0, (size_t)(i + 1 - a->n) * sizeof *a->v);
        a->n = i + 1;
    }
    a->v[i] = x;
    return 0;
}

void rp_vec32_free(struct rp_vec32 *a)
{
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Rebuilds an open-addressing index of ids [first, n) at twice its size (64
 * slots at first); slots hold id + bias, 0 meaning empty; home(t, id, mask)
 * is an id's first slot.  @return 0, or -1 on allocation failure. */
static int index_grow(uint32_t **hash, uint32_t *hcap, uint32_t first, uint32_t n, uint32_t bias,
                      uint32_t (*home)(const void *t, uint32_t id, uint32_t mask), const void *t)
{
    uint32_t ncap = *hcap ? *hcap * 2 : 64;
    uint32_t *nh = calloc(ncap, sizeof *nh);
    if (!nh)
        return -1;
    for (uint32_t k = first; k < n; k++) {
        uint32_t j = home(t, k, ncap - 1);
        while (nh[j])
            j = (j + 1) & (ncap - 1);
        nh[j] = k + bias;
    }
    free(*hash);
    *hash = nh;
    *hcap = ncap;
    return 0;
}

/* ------------------------------------------------------------ live table */

static inline uint64_t live_key(uint64_t ptr, int cuda) { return ptr ^ ((uint64_t)(cuda != 0) << 63); }
static inline uint64_t block_key(const struct rp_block *b) { return live_key(b->ptr, b->space != MRZ_S_HOST); }

int rp_live_init(struct rp_live *t)
{
    /* small enough to stay in cache for the common few-thousand live blocks */
    t->cap = 1 << 12;
    t->n = 0;
    t->key = calloc(t->cap, sizeof *t->key);
    t->slot = calloc(t->cap, sizeof *t->slot);
    return t->key && t->slot ? 0 : -1;
}

void rp_live_free(struct rp_live *t)
{
    free(t->key);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static void live_put(uint64_t *keys, struct rp_block *slot, size_t cap, uint64_t key, const struct rp_block *b)
{
    size_t mask = cap - 1, i = mix(key) & mask;
    while (keys[i])
        i = (i + 1) & mask;
    keys[i] = key;
    slot[i] = *b;
}

int rp_live_insert(struct rp_live *t, const struct rp_block *b)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap * 2;
        uint64_t *nk = calloc(ncap, sizeof *nk);
        struct rp_block *ns = malloc(ncap * sizeof *ns);
        if (!nk || !ns) {
            free(nk);
            free(ns);
            return -1;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->key[i])
                live_put(nk, ns, ncap, t->key[i], &t->slot[i]);
        free(t->key);
        free(t->slot);
        t->key = nk;
        t->slot = ns;
        t->cap = ncap;
    }
    live_put(t->key, t->slot, t->cap, block_key(b), b);
    t->n++;
    return 0;
}

int rp_live_remove(struct rp_live *t, uint64_t ptr, int cuda, struct rp_block *out)
{
    if (!ptr)
        return -1;
    uint64_t key = live_key(ptr, cuda);
    size_t mask = t->cap - 1, i = mix(key) & mask;
    for (;;) {
        if (!t->key[i])
            return -1;
        if (t->key[i] == key)
            break;
        i = (i + 1) & mask;
    }
    *out = t->slot[i];
    /* backward-shift deletion keeps probe chains whole without tombstones */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->key[j])
            break;
        size_t home = mix(t->key[j]) & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->key[i] = t->key[j];
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->key[i] = 0;
    t->n--;
    return 0;
}

void rp_live_prefetch(const struct rp_live *t, uint64_t ptr, int cuda)
{
    size_t i = mix(live_key(ptr, cuda)) & (t->cap - 1);
    __builtin_prefetch(&t->key[i]);
    __builtin_prefetch(&t->slot[i]);
}

void rp_live_each(struct rp_live *t, void (*fn)(void *user, const struct rp_block *b), void *user)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->key[i])
            fn(user, &t->slot[i]);
}

/* ------------------------------------------------------------ stack nodes */

int rp_nodes_init(struct rp_nodes *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 1024;
    t->parent = malloc(t->cap * sizeof *t->parent);
    t->ip = malloc(t->cap * sizeof *t->ip);
    t->hcap = 2048;
    t->hash = calloc(t->hcap, sizeof *t->hash);
    if (!t->parent || !t->ip || !t->hash)
        return -1;
    t->parent[0] = 0;
    t->ip[0] = 0;
    t->n = 1;
    return 0;
}

void rp_nodes_free(struct rp_nodes *t)
{
    free(t->parent);
    free(t->ip);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

static inline uint32_t node_slot(uint32_t parent, uint64_t ip, uint32_t mask)
{
    return (uint32_t)mix(ip * 31 + parent) & mask;
}

static uint32_t node_home(const void *tv, uint32_t id, uint32_t mask)
{
    const struct rp_nodes *t = tv;
    return node_slot(t->parent[id], t->ip[id], mask);
}

int rp_nodes_intern(struct rp_nodes *t, uint32_t parent, uint64_t ip, uint32_t *out)
{
    uint32_t mask = t->hcap - 1, i = node_slot(parent, ip, mask);
    for (uint32_t id; (id = t->hash[i]); i = (i + 1) & mask) {
        if (t->ip[id] == ip && t->parent[id] == parent) {
            *out = id;
            return 0;
        }
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap * 2;
        uint32_t *np = realloc(t->parent, ncap * sizeof *np);
        if (!np)
            return -1;
        t->parent = np;
        uint64_t *ni = realloc(t->ip, ncap * sizeof *ni);
        if (!ni)
            return -1;
        t->ip = ni;
        t->cap = ncap;
    }
    uint32_t id = t->n++;
    t->parent[id] = parent;
    t->ip[id] = ip;
    t->hash[i] = id;
    if (t->n * 2 > t->hcap && index_grow(&t->hash, &t->hcap, 1, t->n, 0, node_home, t))
        return -1;
    *out = id;
    return 0;
}

/* ------------------------------------------------------------ strings */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t string_home(const void *tv, uint32_t id, uint32_t mask)
{
    const struct rp_strings *t = tv;
    return (uint32_t)hash_bytes(t->s[id], strlen(t->s[id])) & mask;
}

int rp_strings_init(struct rp_strings *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 64;
    t->s = malloc(t->cap * sizeof *t->s);
    t->hcap = 128;
    t->hash = calloc(t->hcap, sizeof *t->hash);
    if (!t->s || !t->hash)
        return -1;
    t->s[0] = strdup("");
    t->n = 1;
    return t->s[0] ? 0 : -1;
}

void rp_strings_free(struct rp_strings *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

int rp_strings_intern(struct rp_strings *t, const char *s, size_t len, uint32_t *out)
{
    if (!len) {
        *out = 0;
        return 0;
    }
    uint32_t mask = t->hcap - 1, i = (uint32_t)hash_bytes(s, len) & mask;
    for (uint32_t id; (id = t->hash[i]); i = (i + 1) & mask) {
        if (strlen(t->s[id]) == len && !memcmp(t->s[id], s, len)) {
            *out = id;
            return 0;
        }
    }
    if (t->n == t->cap) {
        char **ns = realloc(t->s, t->cap * 2 * sizeof *ns);
        if (!ns)
            return -1;
        t->s = ns;
        t->cap *= 2;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    uint32_t id = t->n++;
    t->s[id] = copy;
    t->hash[i] = id;
    if (t->n * 2 > t->hcap && index_grow(&t->hash, &t->hcap, 1, t->n, 0, string_home, t))
        return -1;
    *out = id;
    return 0;
}

/* ------------------------------------------------------------ regions */

int rp_regions_init(struct rp_regions *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 16;
    t->parent = calloc(t->cap, sizeof *t->parent);
    t->name = calloc(t->cap, sizeof *t->name);
    t->n = 1;
    return t->parent && t->name ? 0 : -1;
}

void rp_regions_free(struct rp_regions *t)
{
    free(t->parent);
    free(t->name);
    memset(t, 0, sizeof *t);
}

int rp_regions_intern(struct rp_regions *t, uint32_t parent, uint32_t name, uint32_t *out)
{
    /* regions are few: a linear search is enough */
    for (uint32_t i = 1; i < t->n; i++)
        if (t->parent[i] == parent && t->name[i] == name) {
            *out = i;
            return 0;
        }
    if (t->n == t->cap) {
        uint32_t *np = realloc(t->parent, t->cap * 2 * sizeof *np);
        if (!np)
            return -1;
        t->parent = np;
        uint32_t *nn = realloc(t->name, t->cap * 2 * sizeof *nn);
        if (!nn)
            return -1;
        t->name = nn;
        t->cap *= 2;
    }
    *out = t->n;
    t->parent[t->n] = parent;
    t->name[t->n] = name;
    t->n++;
    return 0;
}

/* ------------------------------------------------------------ threads */

static uint32_t thread_home(const void *tv, uint32_t id, uint32_t mask)
{
    return (uint32_t)mix(((const struct rp_threads *)tv)->tid[id]) & mask;
}

int rp_threads_get(struct rp_threads *t, uint32_t tid, uint32_t *out)
{
    *out = 0;
    if (t->hcap) {
        uint32_t mask = t->hcap - 1;
        for (uint32_t i = (uint32_t)mix(tid) & mask, k; (k = t->hash[i]); i = (i + 1) & mask)
            if (t->tid[k - 1] == tid) {
                *out = k - 1;
                return 0;
            }
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 16;
        uint32_t *nt = realloc(t->tid, ncap * sizeof *nt);
        if (!nt)
            return -1;
        t->tid = nt;
        char **nn = realloc(t->name, ncap * sizeof *nn);
        if (!nn)
            return -1;
        t->name = nn;
        t->cap = ncap;
    }
    uint32_t idx = t->n++;
    t->tid[idx] = tid;
    t->name[idx] = NULL;
    if (t->n * 2 > t->hcap) {
        if (index_grow(&t->hash, &t->hcap, 0, t->n, 1, thread_home, t))
            return -1;
    } else {
        uint32_t j = (uint32_t)mix(tid) & (t->hcap - 1);
        while (t->hash[j])
            j = (j + 1) & (t->hcap - 1);
        t->hash[j] = idx + 1;
    }
    *out = idx;
    return 0;
}

void rp_threads_set_name(struct rp_threads *t, uint32_t idx, const char *s, size_t n)
{
    if (idx >= t->n)
        return;
    char *c = malloc(n + 1);
    if (!c)
        return;
    memcpy(c, s, n);
    c[n] = 0;
    free(t->name[idx]);
    t->name[idx] = c;
}

void rp_threads_free(struct rp_threads *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->name[i]);
    free(t->tid);
    free(t->name);
    free(t->hash);
    memset(t, 0, sizeof *t);
}
