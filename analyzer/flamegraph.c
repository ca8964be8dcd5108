/* mallocan flamegraph: the allocation sites' call paths merged into one
 * tree, written as folded stacks, speedscope JSON, or a self-contained
 * interactive SVG (flame.c draws it).
 *
 * A frame is a symbolized function (each inlined function its own frame),
 * or module+0xOFFSET where the symbolizer knows no name; frames go from the
 * outermost (the thread's start) to the leaf, the function that called the
 * allocator.  The recorder's own frames never show. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "symbols.h"
#include "svg.h"

/* ------------------------------------------------------------------ names */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* @return the id of name (copied), or UINT32_MAX when out of memory. */
static uint32_t name_intern(struct fg *g, const char *name, const char *file, int line, int family)
{
    uint64_t h = hash_str(name);
    uint32_t mask = g->name_hcap - 1;
    for (uint32_t i = (uint32_t)h & mask, id; (id = g->name_hash[i]); i = (i + 1) & mask) {
        struct fg_name *n = &g->names[id - 1];
        if (!strcmp(n->name, name)) {
            if (n->line != line || (file && n->file && strcmp(file, n->file)))
                n->line_varies = 1;
            return id - 1;
        }
    }
    if (g->nnames == g->names_cap) {
        uint32_t ncap = g->names_cap ? g->names_cap * 2 : 256;
        struct fg_name *nn = realloc(g->names, ncap * sizeof *nn);
        if (!nn)
            return UINT32_MAX;
        g->names = nn;
        g->names_cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return UINT32_MAX;
    uint32_t id = g->nnames++;
    g->names[id] = (struct fg_name){copy, file, line, family, 0};
    /* keep the table at most half full */
    if (g->nnames * 2 > g->name_hcap) {
        uint32_t ncap = g->name_hcap * 2;
        uint32_t *nh = calloc(ncap, sizeof *nh);
        if (!nh)
            return UINT32_MAX;
        for (uint32_t k = 0; k < g->nnames; k++) {
            uint32_t j = (uint32_t)hash_str(g->names[k].name) & (ncap - 1);
            while (nh[j])
                j = (j + 1) & (ncap - 1);
            nh[j] = k + 1;
        }
        free(g->name_hash);
        g->name_hash = nh;
        g->name_hcap = ncap;
    } else {
        uint32_t j = (uint32_t)h & mask;
        while (g->name_hash[j])
            j = (j + 1) & mask;
        g->name_hash[j] = id + 1;
    }
    return id;
}

/* ------------------------------------------------------------------ tree */

static uint64_t child_key(uint32_t parent, uint32_t name) { return ((uint64_t)parent << 32 | name) * 0x9e3779b97f4a7c15ull; }

static int node_rehash(struct fg *g, uint32_t ncap)
{
    uint32_t *nh = calloc(ncap, sizeof *nh);
    if (!nh)
        return -1;
    for (uint32_t k = 1; k < g->nnodes; k++) {
        uint32_t j = (uint32_t)(child_key(g->nodes[k].parent, g->nodes[k].name) >> 32) & (ncap - 1);
        while (nh[j])
            j = (j + 1) & (ncap - 1);
        nh[j] = k;
    }
    free(g->node_hash);
    g->node_hash = nh;
    g->node_hcap = ncap;
    return 0;
}

/* A frame of a path: its name, where it was, whether it was inlined. */
struct fent { uint32_t name; int line; const char *file; int inlined; };

/* @return the child of parent for frame fe, created if new; 0 when out of memory. */
static uint32_t child(struct fg *g, uint32_t parent, const struct fent *fe)
{
    uint32_t name = fe->name;
    uint32_t mask = g->node_hcap - 1;
    uint32_t i = (uint32_t)(child_key(parent, name) >> 32) & mask;
    for (uint32_t id; (id = g->node_hash[i]); i = (i + 1) & mask)
        if (g->nodes[id].parent == parent && g->nodes[id].name == name) {
            struct fg_node *n = &g->nodes[id];
            if (n->line != fe->line || (n->file != fe->file && (!n->file || !fe->file || strcmp(n->file, fe->file))))
                n->line = -1;
            n->inlined |= fe->inlined ? 1 : 2;
            return id;
        }
    if (g->nnodes == g->nodes_cap) {
        uint32_t ncap = g->nodes_cap * 2;
        struct fg_node *nn = realloc(g->nodes, ncap * sizeof *nn);
        if (!nn)
            return 0;
        g->nodes = nn;
        g->nodes_cap = ncap;
    }
    uint32_t id = g->nnodes++;
    g->nodes[id] = (struct fg_node){
        .parent = parent, .name = name, .depth = g->nodes[parent].depth + 1, .file = fe->file, .line = fe->line,
        .inlined = fe->inlined ? 1 : 2};
    g->node_hash[i] = id;
    if (g->nnodes * 2 > g->node_hcap && node_rehash(g, g->node_hcap * 2))
        return 0;
    return id;
}

/* ------------------------------------------------------------------ frames of a stack node */

/* A stack node's frames (root-first within its return address), cached in
 * a pool: the engine's trie shares prefixes, so each node is named once. */
struct frames_cache {
    uint32_t *off;    /* per engine node: offset + 1 into pool, 0 = not yet */
    uint16_t *cnt;
    struct fent *pool;
    size_t npool, pool_cap;
};

static int frames_of(struct fg *g, struct frames_cache *fc, uint32_t node, const struct fent **out)
{
    if (fc->off[node]) {
        *out = fc->pool + fc->off[node] - 1;
        return fc->cnt[node];
    }
    const struct sym_ip *si = sym_lookup(g->sym, rp_node_ip(g->e, node), 0);
    struct fent tmp[64];
    int n = 0;
    int drop = (si->flags & SYM_RECORDER) || (g->hide_system && (si->flags & SYM_SYSTEM));
    for (int k = si->nframes - 1; k >= 0 && !drop && n < 64; k--) {
        const struct sym_frame *fr = &si->frames[k];
        char buf[512];
        const char *name = fr->function;
        int family = si->flags & SYM_SYSTEM ? 1 : 0;
        if (!name) {
            if (k != si->nframes - 1)
                continue; /* an inlined frame without a name adds nothing */
            if (si->module_name)
                snprintf(buf, sizeof buf, "%s+0x%" PRIx64, si->module_name, si->offset);
            else
                snprintf(buf, sizeof buf, "0x%" PRIx64, si->ip);
            name = buf;
            family = 2;
        }
        uint32_t id = name_intern(g, name, fr->file, fr->line, family);
        if (id == UINT32_MAX)
            return -1;
        tmp[n++] = (struct fent){id, fr->line, fr->file, fr->inlined};
    }
    if (fc->npool + (size_t)n + 1 > fc->pool_cap) {
        size_t ncap = fc->pool_cap ? fc->pool_cap * 2 : 4096;
        while (ncap < fc->npool + (size_t)n + 1)
            ncap *= 2;
        struct fent *np = realloc(fc->pool, ncap * sizeof *np);
        if (!np)
            return -1;
        fc->pool = np;
        fc->pool_cap = ncap;
    }
    memcpy(fc->pool + fc->npool, tmp, (size_t)n * sizeof *tmp);
    fc->off[node] = (uint32_t)fc->npool + 1;
    fc->cnt[node] = (uint16_t)n;
    fc->npool += (size_t)n;
    *out = fc->pool + fc->off[node] - 1;
    return n;
}

/* ------------------------------------------------------------------ building */

/* The figures of a site that the chosen weight reads. */
static void site_figures(const struct fg *g, uint32_t s, const struct rp_site *st, uint64_t *bytes, uint64_t *count)
{
    switch (g->weight) {
    default: *bytes = st->bytes; *count = st->allocs; break;
    case FG_PEAK: *bytes = st->peak_bytes; *count = st->peak_count; break;
    case FG_LEAKED: *bytes = st->live_bytes; *count = st->live_count; break;
    case FG_TEMPORARY:
        *bytes = s < g->ntemp ? g->temp_bytes[s] : 0;
        *count = st->temporaries;
        break;
    }
}

int fg_build(struct fg *g)
{
    struct rp_engine *e = g->e;
    uint32_t nn = rp_node_count(e), ns = rp_site_count(e);
    struct frames_cache fc = {0};
    fc.off = calloc(nn ? nn : 1, sizeof *fc.off);
    fc.cnt = calloc(nn ? nn : 1, sizeof *fc.cnt);
    struct fent *path = NULL;
    uint32_t *chain = NULL;
    size_t path_cap = 0;
    int rc = -1;
    g->nodes_cap = 1024;
    g->nodes = malloc(g->nodes_cap * sizeof *g->nodes);
    g->node_hcap = 2048;
    g->node_hash = calloc(g->node_hcap, sizeof *g->node_hash);
    g->name_hcap = 512;
    g->name_hash = calloc(g->name_hcap, sizeof *g->name_hash);
    chain = malloc((nn ? nn : 1) * sizeof *chain);
    path_cap = 256;
    path = malloc(path_cap * sizeof *path);
    if (!path || !fc.off || !fc.cnt || !g->nodes || !g->node_hash || !g->name_hash || !chain)
        goto out;
    g->nodes[0] = (struct fg_node){0};
    g->nnodes = 1;

    /* with more than one space in play, each space is its own root frame */
    int spaces = 0;
    for (int sp = 0; sp < MRZ_S_COUNT; sp++)
        spaces += rp_totals(e)->space[sp].allocs > 0;
    for (uint32_t s = 0; s < ns; s++) {
        const struct rp_site *st = rp_site(e, s);
        if (g->space >= 0 && st->space != g->space)
            continue;
        uint64_t bytes, count;
        site_figures(g, s, st, &bytes, &count);
        uint64_t w = g->weight == FG_COUNT || g->weight == FG_TEMPORARY ? count : bytes;
        if (!w)
            continue;
        /* the site's path, root first */
        size_t np = 0;
        uint32_t depth = 0;
        for (uint32_t n = st->node; n && depth < nn; n = rp_node_parent(e, n))
            chain[depth++] = n;
        for (uint32_t d = depth; d-- > 0;) {
            const struct fent *fr;
            int k = frames_of(g, &fc, chain[d], &fr);
            if (k < 0)
                goto out;
            if (np + (size_t)k + 2 > path_cap) {
                size_t ncap = path_cap ? path_cap * 2 : 256;
                while (ncap < np + (size_t)k + 2)
                    ncap *= 2;
                struct fent *npth = realloc(path, ncap * sizeof *npth);
                if (!npth)
                    goto out;
                path = npth;
                path_cap = ncap;
            }
            memcpy(path + np, fr, (size_t)k * sizeof *fr);
            np += (size_t)k;
        }
        if (np == 0) {
            /* every frame was dropped, or the recorder saw no stack */
            const char *what = !st->node ? "[no stack]" : g->hide_system ? "[system]" : "[recorder]";
            uint32_t id = name_intern(g, what, NULL, 0, 2);
            if (id == UINT32_MAX)
                goto out;
            path[np++] = (struct fent){id, 0, NULL, 0};
        }
        if (g->inverted)
            for (size_t a = 0, b = np - 1; a < b; a++, b--) {
                struct fent t = path[a];
                path[a] = path[b];
                path[b] = t;
            }
        uint32_t cur = 0;
        if (spaces > 1 && g->space < 0) {
            char buf[64];
            snprintf(buf, sizeof buf, "[%s]", mrz_space_name(st->space));
            uint32_t id = name_intern(g, buf, NULL, 0, 2);
            struct fent fe = {id, 0, NULL, 0};
            if (id == UINT32_MAX || !(cur = child(g, 0, &fe)))
                goto out;
        }
        for (size_t i = 0; i < np; i++)
            if (!(cur = child(g, cur, &path[i])))
                goto out;
        g->nodes[cur].self_w += w;
        g->nodes[cur].self_b += bytes;
        g->nodes[cur].self_c += count;
        g->total_w += w;
    }
    /* totals: children come after their parents, so a reverse sweep adds up */
    for (uint32_t i = 0; i < g->nnodes; i++) {
        g->nodes[i].w = g->nodes[i].self_w;
        g->nodes[i].b = g->nodes[i].self_b;
        g->nodes[i].c = g->nodes[i].self_c;
    }
    for (uint32_t i = g->nnodes; i-- > 1;) {
        struct fg_node *n = &g->nodes[i], *p = &g->nodes[n->parent];
        p->w += n->w;
        p->b += n->b;
        p->c += n->c;
        if (n->depth > g->max_depth)
            g->max_depth = n->depth;
    }
    rc = fg_sort_children(g);
out:
    free(fc.off);
    free(fc.cnt);
    free(fc.pool);
    free(path);
    free(chain);
    return rc;
}

static const struct fg *sort_g;
static int by_name(const void *a, const void *b)
{
    const struct fg_node *x = &sort_g->nodes[*(const uint32_t *)a], *y = &sort_g->nodes[*(const uint32_t *)b];
    return strcmp(sort_g->names[x->name].name, sort_g->names[y->name].name);
}

int fg_sort_children(struct fg *g)
{
    /* children by name, the order flamegraph.pl uses: stable output */
    uint32_t *order = malloc((g->nnodes ? g->nnodes : 1) * sizeof *order);
    if (!order)
        return -1;
    for (uint32_t i = 0; i < g->nnodes; i++)
        order[i] = i;
    sort_g = g;
    if (g->nnodes > 1)
        qsort(order + 1, g->nnodes - 1, sizeof *order, by_name);
    for (uint32_t i = 0; i < g->nnodes; i++)
        g->nodes[i].first = g->nodes[i].last = 0;
    for (uint32_t k = 1; k < g->nnodes; k++) {
        uint32_t i = order[k];
        struct fg_node *p = &g->nodes[g->nodes[i].parent];
        g->nodes[i].next = 0;
        if (p->last)
            g->nodes[p->last].next = i;
        else
            p->first = i;
        p->last = i;
    }
    free(order);
    return 0;
}

void fg_free(struct fg *g)
{
    for (uint32_t i = 0; i < g->nnames; i++)
        free(g->names[i].name);
    free(g->names);
    free(g->name_hash);
    free(g->nodes);
    free(g->node_hash);
    free(g->temp_bytes);
}

/* ------------------------------------------------------------------ folded, speedscope */

/* Calls fn(node, path, depth) for every node with a weight of its own, in
 * tree order; path holds the names from the first frame to node. */
static int walk(const struct fg *g, void (*fn)(const struct fg *, void *, uint32_t, const uint32_t *, uint32_t),
                void *user)
{
    uint32_t cap = g->max_depth + 2;
    uint32_t *path = malloc(cap * sizeof *path), *stack = malloc(cap * sizeof *stack);
    if (!path || !stack) {
        free(path);
        free(stack);
        return -1;
    }
    /* iterative depth-first walk: stack[d] is the node at depth d */
    uint32_t d = 0, n = g->nodes[0].first;
    while (n) {
        stack[d] = n;
        path[d] = g->nodes[n].name;
        if (g->nodes[n].self_w)
            fn(g, user, n, path, d + 1);
        if (g->nodes[n].first) {
            n = g->nodes[n].first;
            d++;
            continue;
        }
        while (n && !g->nodes[n].next) {
            if (d == 0) {
                n = 0;
                break;
            }
            n = stack[--d];
        }
        if (n)
            n = g->nodes[n].next;
    }
    free(path);
    free(stack);
    return 0;
}

static void folded_line(const struct fg *g, void *user, uint32_t node, const uint32_t *path, uint32_t depth)
{
    FILE *f = user;
    for (uint32_t i = 0; i < depth; i++) {
        if (i)
            fputc(';', f);
        /* ';' separates frames and the last space the count: keep names clean */
        for (const char *p = g->names[path[i]].name; *p; p++)
            fputc(*p == ';' || *p == '\n' || *p == '\r' ? '_' : *p, f);
    }
    fprintf(f, " %" PRIu64 "\n", g->nodes[node].self_w);
}

int fg_write_folded(const struct fg *g, FILE *f) { return walk(g, folded_line, f); }

struct ss { FILE *f; int first; };

static void ss_sample(const struct fg *g, void *user, uint32_t node, const uint32_t *path, uint32_t depth)
{
    struct ss *s = user;
    fputs(s->first ? "[" : ",[", s->f);
    for (uint32_t i = 0; i < depth; i++)
        fprintf(s->f, "%s%u", i ? "," : "", path[i]);
    fputc(']', s->f);
    s->first = 0;
}

static void ss_weight(const struct fg *g, void *user, uint32_t node, const uint32_t *path, uint32_t depth)
{
    struct ss *s = user;
    fprintf(s->f, "%s%" PRIu64, s->first ? "" : ",", g->nodes[node].self_w);
    s->first = 0;
}

int fg_write_speedscope(const struct fg *g, FILE *f, const char *title)
{
    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"exporter\":\"mallocan\",\"name\":", f);
    an_json_str(f, title, strlen(title));
    fputs(",\"activeProfileIndex\":0,\"shared\":{\"frames\":[", f);
    for (uint32_t i = 0; i < g->nnames; i++) {
        const struct fg_name *n = &g->names[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        an_json_str(f, n->name, strlen(n->name));
        if (n->file) {
            fputs(",\"file\":", f);
            an_json_str(f, n->file, strlen(n->file));
            if (n->line > 0 && !n->line_varies)
                fprintf(f, ",\"line\":%d", n->line);
        }
        fputc('}', f);
    }
    fputs("]},\"profiles\":[{\"type\":\"sampled\",\"name\":", f);
    an_json_str(f, title, strlen(title));
    fprintf(f, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRIu64 ",\"samples\":[",
            g->weight == FG_COUNT || g->weight == FG_TEMPORARY ? "none" : "bytes", g->total_w);
    struct ss s = {f, 1};
    if (walk(g, ss_sample, &s))
        return -1;
    fputs("],\"weights\":[", f);
    s.first = 1;
    if (walk(g, ss_weight, &s))
        return -1;
    fputs("]}]}\n", f);
    return 0;
}

/* ------------------------------------------------------------------ command */

static const char *const weight_names[] = {"bytes", "count", "peak", "leaked", "temporary"};

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary, int by_realloc)
{
    struct fg *g = u;
    if (!temporary)
        return;
    if (b->site >= g->ntemp) {
        uint32_t n = g->ntemp ? g->ntemp : 1024;
        while (n <= b->site)
            n *= 2;
        uint64_t *nt = realloc(g->temp_bytes, n * sizeof *nt);
        if (!nt)
            return; /* the count stays exact; only this block's bytes are lost */
        memset(nt + g->ntemp, 0, (n - g->ntemp) * sizeof *nt);
        g->temp_bytes = nt;
        g->ntemp = n;
    }
    g->temp_bytes[b->site] += b->size;
}

static void sym_warning(void *user, const char *msg) { an_warn(NULL, "%s", msg); }

static const struct an_opt opts[] = {
    {"weight", 0, "W", "bytes (allocated), count (allocations), peak (bytes live at the peak), leaked "
                       "(live at the end) or temporary (allocations freed before the next one)", "bytes"},
    {"format", 0, "FMT", "svg (interactive picture), folded (flamegraph.pl, speedscope) or speedscope (JSON)", "svg"},
    {"output", 'o', "FILE", "write to FILE instead of the standard output", NULL},
    {"inverted", 0, NULL, "put the allocating functions at the root and their callers above them", NULL},
    {"hide-system", 0, NULL, "drop the frames of the C library, the C++ runtime and the loader", NULL},
    {"space", 0, "SPACE", "only this space: host, cuda-device, cuda-pinned, cuda-managed, cuda-async, cuda-vmm",
     NULL},
    {"width", 0, "PX", "the SVG's width in pixels", "1200"},
    {0},
};

static int run(struct an_ctx *ctx)
{
    const char *fmt = an_get_format(ctx, "svg|folded|speedscope");
    if (!fmt)
        return 2;
    struct fg g = {.space = -1, .inverted = an_get(ctx, "inverted") != NULL,
                   .hide_system = an_get(ctx, "hide-system") != NULL};
    const char *w = an_get(ctx, "weight");
    int wi = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(w, weight_names[i]))
            wi = i;
    if (wi < 0)
        return an_error(NULL, "--weight: '%s' is not one of bytes|count|peak|leaked|temporary", w);
    g.weight = wi;
    const char *sp = an_get(ctx, "space");
    if (sp) {
        for (int i = 0; i < MRZ_S_COUNT; i++)
            if (!strcmp(sp, mrz_space_name((unsigned)i)))
                g.space = i;
        if (g.space < 0)
            return an_error(NULL, "--space: '%s' is not a space (host, cuda-device, cuda-pinned, cuda-managed, "
                                  "cuda-async, cuda-vmm)", sp);
    }
    long width;
    if (an_get_long(ctx, "width", &width))
        return 2;
    if (width < 200 || width > 100000)
        return an_error(NULL, "--width: %ld is out of range (200 to 100000)", width);

    const char *path = ctx->traces[0];
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    g.e = rp_new(r, &m);
    struct rp_handlers h = {.user = &g, .on_free = g.weight == FG_TEMPORARY ? on_free : NULL};
    int k = g.e ? rp_run(g.e, &h) : MRZ_ENOMEM;
    FILE *out = NULL;
    if (k < 0) {
        rc = an_error(path, "%s", mrz_strerror(k));
        goto done;
    }
    g.sym = sym_new(&m, sym_warning, NULL);
    if (!g.sym || fg_build(&g)) {
        rc = an_error(path, "%s", mrz_strerror(MRZ_ENOMEM));
        goto done;
    }
    if ((out = svg_open_out(an_get(ctx, "output"))) == NULL) {
        rc = 2;
        goto done;
    }
    char title[600];
    snprintf(title, sizeof title, "%s (pid %u): %s", an_base_name(m.exe ? m.exe : path), m.pid,
             fg_weight_title(g.weight));
    if (!strcmp(fmt, "folded"))
        k = fg_write_folded(&g, out);
    else if (!strcmp(fmt, "speedscope"))
        k = fg_write_speedscope(&g, out, title);
    else
        k = fg_write_svg(&g, out, title, (int)width);
    rc = svg_close_out(out, an_get(ctx, "output"));
    if (k && !rc)
        rc = an_error(path, "%s", mrz_strerror(MRZ_ENOMEM));
    an_report_damage(path, r);
done:
    fg_free(&g);
    sym_free(g.sym);
    rp_free(g.e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}

const struct an_cmd an_cmd_flamegraph = {
    .name = "flamegraph",
    .args = "TRACE",
    .summary = "call paths as a flame graph: interactive SVG, folded stacks, speedscope",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
