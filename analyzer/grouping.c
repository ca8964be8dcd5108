/* Allocations grouped by size, site or label (contract in grouping.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grouping.h"

/* ------------------------------------------------------------ keys */

int gr_parse_by(const char *s, unsigned allowed, unsigned *out)
{
    unsigned by = 0;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        unsigned bit = n == 4 && !strncmp(s, "size", 4)    ? GR_SIZE
                       : n == 4 && !strncmp(s, "site", 4)  ? GR_SITE
                       : n == 5 && !strncmp(s, "label", 5) ? GR_LABEL
                                                           : 0;
        if (!bit || (by & bit))
            return -1;
        by |= bit;
        s = comma ? comma + 1 : NULL;
        if (comma && !*s)
            return -1;
    }
    /* one key, or a site/label with size; never site and label together */
    if (!by || (by & ~allowed) || (by & (GR_SITE | GR_LABEL)) == (GR_SITE | GR_LABEL))
        return -1;
    *out = by;
    return 0;
}

const char *gr_by_name(unsigned by)
{
    switch (by) {
    case GR_SIZE: return "size";
    case GR_SITE: return "site";
    case GR_LABEL: return "label";
    case GR_SITE | GR_SIZE: return "site,size";
    case GR_LABEL | GR_SIZE: return "label,size";
    default: return "?";
    }
}

/* ------------------------------------------------------------ lifetimes */

uint64_t gr_life_lo(unsigned b)
{
    if (b < 4)
        return b;
    if (b >= GR_LIFE_BUCKETS)
        return UINT64_MAX;
    unsigned msb = b / 4 + 1;
    return (uint64_t)(4 + b % 4) << (msb - 2);
}

double gr_life_quantile(const uint64_t *hist, uint64_t n, double q)
{
    if (!hist || !n)
        return 0;
    double want = q * (double)n, seen = 0;
    for (unsigned b = 0; b < GR_LIFE_BUCKETS; b++) {
        if (!hist[b])
            continue;
        if (seen + (double)hist[b] >= want) {
            double lo = (double)gr_life_lo(b), hi = (double)gr_life_lo(b + 1);
            if (b < 4)
                return lo; /* exact */
            return lo + (hi - lo) * ((want - seen) / (double)hist[b]);
        }
        seen += (double)hist[b];
    }
    return (double)gr_life_lo(GR_LIFE_BUCKETS - 1);
}

/* ------------------------------------------------------------ (group, value) sets */

struct gr_pairs {
    struct { uint64_t v; uint32_t g; uint32_t used; } *slot;
    size_t cap, n;
};

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* @return 1 when (g, v) is new, 0 when seen, -1 when out of memory. */
static int pairs_add(struct gr_pairs **pp, uint32_t g, uint64_t v)
{
    struct gr_pairs *p = *pp;
    if (!p && !(p = *pp = calloc(1, sizeof *p)))
        return -1;
    if ((p->n + 1) * 4 > p->cap * 3) {
        size_t ncap = p->cap ? p->cap * 2 : 256;
        __typeof__(p->slot) ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < p->cap; i++) {
            if (!p->slot[i].used)
                continue;
            size_t j = mix(p->slot[i].v ^ (uint64_t)p->slot[i].g << 40) & (ncap - 1);
            while (ns[j].used)
                j = (j + 1) & (ncap - 1);
            ns[j] = p->slot[i];
        }
        free(p->slot);
        p->slot = ns;
        p->cap = ncap;
    }
    size_t j = mix(v ^ (uint64_t)g << 40) & (p->cap - 1);
    for (; p->slot[j].used; j = (j + 1) & (p->cap - 1))
        if (p->slot[j].v == v && p->slot[j].g == g)
            return 0;
    p->slot[j].v = v;
    p->slot[j].g = g;
    p->slot[j].used = 1;
    p->n++;
    return 1;
}

static void pairs_free(struct gr_pairs *p)
{
    if (p)
        free(p->slot);
    free(p);
}

/* ------------------------------------------------------------ groups */

int gr_init(struct gr_table *t, unsigned by)
{
    memset(t, 0, sizeof *t);
    t->by = by;
    t->icap = 1024;
    t->index = calloc(t->icap, sizeof *t->index);
    return t->index ? 0 : -1;
}

void gr_free(struct gr_table *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->g[i].life);
    free(t->g);
    free(t->index);
    pairs_free(t->sizes);
    pairs_free(t->threads);
    memset(t, 0, sizeof *t);
}

static uint64_t key_hash(const struct gr_table *t, const struct rp_block *b)
{
    uint64_t h = 0;
    if (t->by & GR_SIZE)
        h = mix(b->size);
    if (t->by & GR_SITE)
        h = mix(h ^ b->site ^ 0x5173ull << 32);
    if (t->by & GR_LABEL)
        h = mix(h ^ b->label ^ 0x1abeull << 32);
    return h;
}

static int key_eq(const struct gr_table *t, const struct gr_group *g, const struct rp_block *b)
{
    return (!(t->by & GR_SIZE) || g->size == b->size) && (!(t->by & GR_SITE) || g->site == b->site) &&
           (!(t->by & GR_LABEL) || g->label == b->label);
}

static int index_grow(struct gr_table *t)
{
    uint32_t ncap = t->icap * 2;
    uint32_t *ni = calloc(ncap, sizeof *ni);
    if (!ni)
        return -1;
    for (uint32_t i = 0; i < t->n; i++) {
        struct rp_block k = {.size = t->g[i].size, .site = t->g[i].site, .label = t->g[i].label};
        uint32_t j = (uint32_t)key_hash(t, &k) & (ncap - 1);
        while (ni[j])
            j = (j + 1) & (ncap - 1);
        ni[j] = i + 1;
    }
    free(t->index);
    t->index = ni;
    t->icap = ncap;
    return 0;
}

/* The block's group, added when new.  @return its index, or -1 (ENOMEM). */
static int64_t group_of(struct gr_table *t, const struct rp_block *b, int add)
{
    uint32_t j = (uint32_t)key_hash(t, b) & (t->icap - 1);
    for (; t->index[j]; j = (j + 1) & (t->icap - 1))
        if (key_eq(t, &t->g[t->index[j] - 1], b))
            return t->index[j] - 1;
    if (!add)
        return -1;
    if ((t->n + 1) * 2 > t->icap) {
        if (index_grow(t))
            return -1;
        return group_of(t, b, add);
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 256;
        struct gr_group *ng = realloc(t->g, ncap * sizeof *ng);
        if (!ng)
            return -1;
        t->g = ng;
        t->cap = ncap;
    }
    struct gr_group *g = &t->g[t->n];
    memset(g, 0, sizeof *g);
    g->size = b->size;
    g->site = b->site;
    g->label = b->label;
    g->min_size = UINT64_MAX;
    t->index[j] = t->n + 1;
    return t->n++;
}

void gr_on_alloc(struct gr_table *t, const struct rp_block *b)
{
    int64_t i = group_of(t, b, 1);
    if (i < 0) {
        t->err = 1;
        return;
    }
    struct gr_group *g = &t->g[i];
    g->count++;
    g->bytes += b->size;
    if (++g->live > g->max_live)
        g->max_live = g->live;
    g->live_bytes += b->size;
    if (g->live_bytes > g->max_live_bytes)
        g->max_live_bytes = g->live_bytes;
    if (b->size < g->min_size)
        g->min_size = b->size;
    if (b->size > g->max_size)
        g->max_size = b->size;
    int k = t->by & GR_SIZE ? (g->sizes == 0) : pairs_add(&t->sizes, (uint32_t)i, b->size);
    int h = pairs_add(&t->threads, (uint32_t)i, b->thread);
    if (k < 0 || h < 0)
        t->err = 1;
    g->sizes += k > 0;
    g->threads += h > 0;
}

void gr_on_free(struct gr_table *t, const struct rp_block *b, uint64_t t_ns, int by_realloc)
{
    int64_t i = group_of(t, b, 0);
    if (i < 0)
        return;
    struct gr_group *g = &t->g[i];
    g->live--;
    g->live_bytes -= b->size;
    if (by_realloc)
        return; /* the memory lives on in realloc's new block */
    if (!g->life && !(g->life = calloc(GR_LIFE_BUCKETS, sizeof *g->life))) {
        t->err = 1;
        return;
    }
    g->life[gr_life_bucket(t_ns > b->t_alloc ? t_ns - b->t_alloc : 0)]++;
    g->freed++;
}

/* ------------------------------------------------------------ names */

#define MAX_IPS 64

/* "function (file:line)", "function [module]" or "module+0xOFF".  @return
 * the length written (at most n - 1). */
static size_t frame_text(char *buf, size_t n, const struct sym_ip *ip, const struct sym_frame *fr)
{
    int len;
    if (fr->function && fr->file) {
        len = snprintf(buf, n, "%s (%s:%d)", fr->function, an_base_name(fr->file), fr->line);
    } else if (fr->function) {
        len = snprintf(buf, n, "%s [%s]", fr->function, ip->module_name ? ip->module_name : "?");
    } else if (ip->module_name) {
        len = snprintf(buf, n, "%s+0x%" PRIx64, ip->module_name, ip->offset);
    } else {
        len = snprintf(buf, n, "0x%" PRIx64, ip->ip);
    }
    return len < 0 ? 0 : (size_t)len < n ? (size_t)len : n - 1;
}

void gr_site_name(struct sym_ctx *sym, struct rp_engine *e, uint32_t site, char *buf, size_t n)
{
    const struct rp_site *st = rp_site(e, site);
    uint64_t ips[MAX_IPS];
    int depth = st && site ? rp_stack(e, st->node, ips, MAX_IPS) : 0;
    if (depth > MAX_IPS)
        depth = MAX_IPS;
    if (!depth) {
        snprintf(buf, n, "(no stack)");
        return;
    }
    /* the program's own frames; libc's only when there is nothing else */
    const struct sym_ip *first = NULL, *caller = NULL;
    for (int pass = 0; pass < 2 && !first; pass++)
        for (int i = 0; i < depth && !caller; i++) {
            const struct sym_ip *ip = sym_lookup(sym, ips[i], 0);
            if ((ip->flags & SYM_RECORDER) || (pass == 0 && (ip->flags & SYM_SYSTEM)))
                continue;
            if (!first)
                first = ip;
            else
                caller = ip;
        }
    if (!first) {
        snprintf(buf, n, "0x%" PRIx64, ips[0]);
        return;
    }
    const struct sym_frame *fr = &first->frames[0];
    size_t len = frame_text(buf, n, first, fr);
    /* the caller: the function the first frame was inlined into, else the
     * next address's (its line tells apart the calls of one helper) */
    const struct sym_frame *up = NULL;
    const struct sym_ip *up_ip = first;
    if (first->nframes > 1)
        up = &first->frames[1];
    else if (caller)
        up = &caller->frames[0], up_ip = caller;
    if (up && len + 5 < n) {
        memcpy(buf + len, " <- ", 5);
        frame_text(buf + len + 4, n - len - 4, up_ip, up);
    }
}

void gr_key_text(const struct gr_table *t, const struct gr_group *g, struct sym_ctx *sym, struct rp_engine *e,
                 char *buf, size_t n)
{
    size_t k = 0;
    if (t->by & GR_LABEL) {
        const char *l = rp_string(e, g->label);
        k += (size_t)snprintf(buf + k, n - k, "label %s", *l ? l : "(none)");
    }
    if ((t->by & GR_SIZE) && k < n)
        k += (size_t)snprintf(buf + k, n - k, "%ssize %" PRIu64, k ? ", " : "", g->size);
    if ((t->by & GR_SITE) && k < n) {
        char site[512];
        gr_site_name(sym, e, g->site, site, sizeof site);
        snprintf(buf + k, n - k, "%s%s", k ? ", " : "", site);
    }
}

void gr_key_json(FILE *f, const struct gr_table *t, const struct gr_group *g, struct sym_ctx *sym,
                 struct rp_engine *e)
{
    const char *sep = "";
    if (t->by & GR_SIZE) {
        fprintf(f, "\"size\":%" PRIu64, g->size);
        sep = ",";
    }
    if (t->by & GR_LABEL) {
        const char *l = rp_string(e, g->label);
        fprintf(f, "%s\"label\":", sep);
        an_json_cstr(f, *l ? l : NULL);
        sep = ",";
    }
    if (t->by & GR_SITE) {
        char site[512];
        gr_site_name(sym, e, g->site, site, sizeof site);
        fprintf(f, "%s\"site\":%u,\"site_name\":", sep, g->site);
        an_json_str(f, site, strlen(site));
    }
}

/* ------------------------------------------------------------ numbers */

const char *gr_fmt_bytes(char *buf, size_t n, double v)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (v < 1024) {
        snprintf(buf, n, "%.0f B", v);
        return buf;
    }
    double x = v / 1024;
    int u = 0;
    while (x >= 1024 && u < 4) {
        x /= 1024;
        u++;
    }
    snprintf(buf, n, "%.*f %s", x < 10 ? 2 : 1, x, unit[u]);
    return buf;
}

const char *gr_fmt_ns(char *buf, size_t n, double ns)
{
    if (ns < 1e3)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, n, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, n, "%.3f s", ns / 1e9);
    return buf;
}
