/* The per-stream stack table: a trie of return addresses, each node defined
 * once in its stream by a STACK record, so an event carries one node id. */
#include <string.h>

#include "rec.h"

#define MEMO_BITS 10 /* node_get's memo: 1024 entries, 16 KiB */

int rec_stack_table_init(struct rec_stream *s, uint32_t cap)
{
    s->nodes = rec_mmap(cap * sizeof *s->nodes);
    if (!s->nodes)
        return -1;
    s->node_cap = cap;
    /* a table past L2's reach gets a memo in front (may stay NULL) */
    if (!s->node_memo && cap >= 32768)
        s->node_memo = rec_mmap((1u << MEMO_BITS) * sizeof *s->node_memo);
    return 0;
}

/* ------------------------------------------------------------ stack table */

static inline uint32_t node_hash(uint32_t parent, uintptr_t ip, uint32_t mask)
{
    uint64_t h = ((uint64_t)ip ^ ((uint64_t)parent << 40) ^ parent) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32) & mask;
}

static void node_grow(struct rec_stream *s)
{
    struct rec_node *old = s->nodes;
    uint32_t ocap = s->node_cap;
    if (rec_stack_table_init(s, ocap * 2)) {
        s->nodes = old; /* keep probing the full table: correct, only slower */
        return;
    }
    uint32_t mask = s->node_cap - 1;
    for (uint32_t i = 0; i < ocap; i++) {
        if (!old[i].id)
            continue;
        uint32_t j = node_hash(old[i].parent, old[i].ip, mask);
        while (s->nodes[j].id)
            j = (j + 1) & mask;
        s->nodes[j] = old[i];
    }
    rec_munmap(old, ocap * sizeof *old);
}

/* A small direct-mapped memo of recent (parent, ip) -> id in front of the
 * table: the table of a program with many stacks is megabytes, and its
 * hot nodes fit here. */
static inline uint32_t memo_slot(uint32_t parent, uintptr_t ip)
{
    return (uint32_t)((((uint64_t)ip ^ parent) * 0x9e3779b97f4a7c15ull) >> (64 - MEMO_BITS));
}

static uint32_t node_find(struct rec_stream *s, uint32_t parent, uintptr_t ip)
{
    uint32_t mask = s->node_cap - 1;
    uint32_t j = node_hash(parent, ip, mask);
    for (;;) {
        struct rec_node *e = &s->nodes[j];
        if (!e->id)
            break;
        if (e->ip == ip && e->parent == parent)
            return e->id;
        j = (j + 1) & mask;
    }
    /* a table that could not grow (no memory) keeps an empty slot, so that
     * probes end: the frame is left out of the stack */
    if (s->node_n + 2 > s->node_cap)
        return parent;
    uint32_t id = ++s->node_n;
    s->nodes[j] = (struct rec_node){ip, parent, id};
    rec_reserve(s, 1 + 2 * MRZ_VARINT_MAX);
    s->pos = mrz_enc_stack(s->pos, &s->delta, id, parent, ip);
    if (s->node_n * 2 > s->node_cap)
        node_grow(s);
    return id;
}

static inline uint32_t node_get(struct rec_stream *s, uint32_t parent, uintptr_t ip)
{
    struct rec_node *m = s->node_memo ? &s->node_memo[memo_slot(parent, ip)] : NULL;
    if (m && m->ip == ip && m->parent == parent && m->id)
        return m->id;
    uint32_t id = node_find(s, parent, ip);
    if (m)
        *m = (struct rec_node){ip, parent, id};
    return id;
}

uint32_t rec_stack_intern(struct rec_stream *s, const uintptr_t *ip, int n, int same)
{
    /* Outer frames shared with the previous stack keep their ids (the
     * walker vouches for the first `same`); only the frames that changed are
     * looked up. */
    uint32_t pn = s->prev_n, c = (uint32_t)same;
    while (c < (uint32_t)n && c < pn && ip[c] == s->prev_ip[c])
        c++;
    uint32_t parent = c ? s->prev_id[c - 1] : 0;
    for (uint32_t k = c; k < (uint32_t)n; k++) {
        parent = node_get(s, parent, ip[k]);
        s->prev_id[k] = parent;
        s->prev_ip[k] = ip[k];
    }
    s->prev_n = (uint32_t)n;
    return n ? s->prev_id[n - 1] : 0;
}
