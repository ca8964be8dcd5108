/* mallocan arenas: allocations grouped by size, site or label, with what a
 * pool or an arena needs to know — how many at once, how often reused, how
 * long they live — and a ranked verdict of the groups that would save the
 * most malloc calls as a fixed-size pool or a per-phase arena.
 *
 * The verdict (also in mallocan(1)): a group of `count` blocks of which at
 * most `max_alive` were alive at once needs only `max_alive` slots; served
 * from them, it saves count - max_alive malloc calls (and as many frees).
 * Groups rank by those savings.  A group of one size (or sizes within 1/8
 * of the largest) is a fixed-size pool of max_alive slots of its largest
 * size; a group of mixed sizes is an arena that holds the group's most live
 * bytes at once, reset when its blocks are gone (a phase). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grouping.h"

static const struct an_opt opts[] = {
    {"group-by", 'g', "KEY", "size, site, label, site,size or label,size", "size"},
    {"min-count", 0, "N", "only groups of at least N allocations", "2"},
    {"top", 'n', "N", "groups in the table and the verdict; 0: all", "20"},
    {"format", 0, "FMT", "text or json", "text"},
    {0},
};

struct arenas {
    struct gr_table t;
    struct rp_engine *e;
    struct sym_ctx *sym;
    FILE *f;
    const char *path;
    uint64_t min_count;
    long top;
    uint32_t *order, n;       /* groups shown, sorted */
    uint32_t *rank, nrank;    /* candidates, ranked */
};

static void on_alloc(void *u, struct rp_engine *e, const struct rp_block *b)
{
    (void)e;
    gr_on_alloc(&((struct arenas *)u)->t, b);
}

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary, int by_realloc)
{
    (void)e;
    (void)temporary;
    gr_on_free(&((struct arenas *)u)->t, b, t, by_realloc);
}

/* ------------------------------------------------------------ verdict */

static uint64_t saved(const struct gr_group *g) { return g->count - g->max_live; }

/* Sizes close enough to share slots of the largest. */
static int is_pool(const struct gr_group *g) { return g->max_size - g->min_size <= g->max_size / 8; }

/* Bytes the pool (max_alive slots of the largest size) or arena holds. */
static uint64_t holds(const struct gr_group *g)
{
    return is_pool(g) ? g->max_live * g->max_size : g->max_live_bytes;
}

static double reuse(const struct gr_group *g) { return g->max_live ? (double)g->count / (double)g->max_live : 0; }

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? 1 : a > b ? -1 : 0; } /* descending */

/* Ties in the same order for a given trace: then by key. */
static int cmp_keys(const struct gr_group *x, const struct gr_group *y)
{
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

static int cmp_table(const void *a, const void *b, void *arg)
{
    const struct gr_group *g = ((struct arenas *)arg)->t.g;
    const struct gr_group *x = &g[*(const uint32_t *)a], *y = &g[*(const uint32_t *)b];
    int c = cmp_u64(x->count, y->count);
    if (!c)
        c = cmp_u64(x->bytes, y->bytes);
    return c ? c : cmp_keys(x, y);
}

static int cmp_rank(const void *a, const void *b, void *arg)
{
    const struct gr_group *g = ((struct arenas *)arg)->t.g;
    const struct gr_group *x = &g[*(const uint32_t *)a], *y = &g[*(const uint32_t *)b];
    int c = cmp_u64(saved(x), saved(y));
    if (!c)
        c = cmp_u64(x->bytes, y->bytes);
    return c ? c : cmp_keys(x, y);
}

static int select_groups(struct arenas *a)
{
    a->order = malloc((a->t.n + 1) * sizeof *a->order);
    a->rank = malloc((a->t.n + 1) * sizeof *a->rank);
    if (!a->order || !a->rank)
        return -1;
    for (uint32_t i = 0; i < a->t.n; i++) {
        const struct gr_group *g = &a->t.g[i];
        if (g->count < a->min_count)
            continue;
        a->order[a->n++] = i;
        if (saved(g) > 0)
            a->rank[a->nrank++] = i;
    }
    qsort_r(a->order, a->n, sizeof *a->order, cmp_table, a);
    qsort_r(a->rank, a->nrank, sizeof *a->rank, cmp_rank, a);
    return 0;
}

/* ------------------------------------------------------------ output */

static double median_ns(const struct gr_group *g) { return gr_life_quantile(g->life, g->freed, 0.5); }

static void text(struct arenas *a)
{
    FILE *f = a->f;
    const struct rp_totals *tot = rp_totals(a->e);
    char b1[32], b2[32], key[640];
    fprintf(f, "%s: %" PRIu64 " allocations in %u groups by %s; %u with at least %" PRIu64 " allocation%s\n",
            a->path, tot->allocations, a->t.n, gr_by_name(a->t.by), a->n, a->min_count, a->min_count == 1 ? "" : "s");
    if (!a->n)
        return;
    uint32_t shown = a->top > 0 && a->n > (uint32_t)a->top ? (uint32_t)a->top : a->n;
    fprintf(f, "\n%9s %11s %6s %9s %7s %11s %7s  %s\n", "count", "bytes", "sizes", "max alive", "reuse", "median life",
            "threads", "group");
    for (uint32_t i = 0; i < shown; i++) {
        const struct gr_group *g = &a->t.g[a->order[i]];
        gr_key_text(&a->t, g, a->sym, a->e, key, sizeof key);
        fprintf(f, "%9" PRIu64 " %11s %6" PRIu64 " %9" PRIu64 " %7.1f %11s %7" PRIu64 "  %s\n", g->count,
                gr_fmt_bytes(b1, sizeof b1, (double)g->bytes), g->sizes, g->max_live, reuse(g),
                g->freed ? gr_fmt_ns(b2, sizeof b2, median_ns(g)) : "-", g->threads, key);
    }
    if (shown < a->n)
        fprintf(f, "%9s ... %u more groups (--top 0 shows all)\n", "", a->n - shown);

    fputs("\nVERDICT: malloc calls a pool or an arena would save\n", f);
    if (!a->nrank) {
        fputs("  none: no group had fewer blocks alive at once than it allocated\n", f);
        return;
    }
    uint32_t nr = a->top > 0 && a->nrank > (uint32_t)a->top ? (uint32_t)a->top : a->nrank;
    for (uint32_t i = 0; i < nr; i++) {
        const struct gr_group *g = &a->t.g[a->rank[i]];
        gr_key_text(&a->t, g, a->sym, a->e, key, sizeof key);
        fprintf(f, "%3u. %s\n     saves %" PRIu64 " of %" PRIu64 " malloc calls: ", i + 1, key, saved(g), g->count);
        if (is_pool(g))
            fprintf(f, "a pool of %" PRIu64 " slot%s x %" PRIu64 " B = %s\n", g->max_live, g->max_live == 1 ? "" : "s",
                    g->max_size, gr_fmt_bytes(b1, sizeof b1, (double)holds(g)));
        else
            fprintf(f, "a per-phase arena of %s (sizes %" PRIu64 " to %" PRIu64 " B)\n",
                    gr_fmt_bytes(b1, sizeof b1, (double)holds(g)), g->min_size, g->max_size);
    }
    if (tot->paused)
        fprintf(f, "\nnote: recording was paused %" PRIu64 " time%s; allocations made while paused are not counted\n",
                tot->paused, tot->paused == 1 ? "" : "s");
}

static void json_group(struct arenas *a, const struct gr_group *g)
{
    FILE *f = a->f;
    fputc('{', f);
    gr_key_json(f, &a->t, g, a->sym, a->e);
    fprintf(f, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"distinct_sizes\":%" PRIu64 ",\"min_size\":%" PRIu64
               ",\"max_size\":%" PRIu64 ",\"max_alive\":%" PRIu64 ",\"max_alive_bytes\":%" PRIu64
               ",\"reuse\":%.3f,\"freed\":%" PRIu64 ",\"live_at_end\":%" PRIu64 ",\"median_lifetime_ns\":",
            g->count, g->bytes, g->sizes, g->min_size, g->max_size, g->max_live, g->max_live_bytes, reuse(g), g->freed,
            g->live);
    if (g->freed)
        fprintf(f, "%.0f", median_ns(g));
    else
        fputs("null", f);
    fprintf(f, ",\"threads\":%" PRIu64 "}", g->threads);
}

static void json(struct arenas *a)
{
    FILE *f = a->f;
    const struct rp_totals *tot = rp_totals(a->e);
    fputs("{\"trace\":", f);
    an_json_str(f, a->path, strlen(a->path));
    fprintf(f, ",\"group_by\":\"%s\",\"min_count\":%" PRIu64 ",\"allocations\":%" PRIu64 ",\"groups_total\":%u"
               ",\"paused\":%" PRIu64 ",\"groups\":[",
            gr_by_name(a->t.by), a->min_count, tot->allocations, a->t.n, tot->paused);
    uint32_t shown = a->top > 0 && a->n > (uint32_t)a->top ? (uint32_t)a->top : a->n;
    for (uint32_t i = 0; i < shown; i++) {
        if (i)
            fputc(',', f);
        json_group(a, &a->t.g[a->order[i]]);
    }
    fputs("],\"verdict\":[", f);
    uint32_t nr = a->top > 0 && a->nrank > (uint32_t)a->top ? (uint32_t)a->top : a->nrank;
    for (uint32_t i = 0; i < nr; i++) {
        const struct gr_group *g = &a->t.g[a->rank[i]];
        fprintf(f, "%s{\"rank\":%u,", i ? "," : "", i + 1);
        gr_key_json(f, &a->t, g, a->sym, a->e);
        fprintf(f, ",\"kind\":\"%s\",\"saved_calls\":%" PRIu64 ",\"count\":%" PRIu64 ",\"slots\":%" PRIu64
                   ",\"slot_size\":%" PRIu64 ",\"holds_bytes\":%" PRIu64 "}",
                is_pool(g) ? "pool" : "arena", saved(g), g->count, g->max_live, is_pool(g) ? g->max_size : 0,
                holds(g));
    }
    fputs("]}\n", f);
}

/* ------------------------------------------------------------ command */

static void on_sym_warn(void *user, const char *msg)
{
    (void)user;
    an_warn(NULL, "%s", msg);
}

static int run(struct an_ctx *ctx)
{
    struct arenas a = {.path = ctx->traces[0], .f = ctx->out};
    const char *fmt = an_get_format(ctx, "text|json");
    if (!fmt)
        return 2;
    long min_count;
    if (an_get_long(ctx, "min-count", &min_count) || an_get_long(ctx, "top", &a.top))
        return 2;
    a.min_count = (uint64_t)min_count;
    unsigned by;
    const char *bys = an_get(ctx, "group-by");
    if (gr_parse_by(bys, GR_SIZE | GR_SITE | GR_LABEL, &by))
        return an_error(NULL, "arenas: --group-by: '%s' is not one of size, site, label, site,size, label,size", bys);
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(a.path, &r, &m);
    if (rc)
        return rc;
    a.e = rp_new(r, &m);
    if (!a.e || gr_init(&a.t, by)) {
        rc = an_error(a.path, "out of memory");
        goto out;
    }
    struct rp_handlers h = {.user = &a, .on_alloc = on_alloc, .on_free = on_free};
    int k = rp_run(a.e, &h);
    an_report_damage(a.path, r);
    if (k || a.t.err) {
        rc = an_error(a.path, "%s", k ? mrz_strerror(k) : "out of memory");
        goto out;
    }
    a.sym = (by & GR_SITE) ? sym_new(&m, on_sym_warn, NULL) : NULL;
    if (((by & GR_SITE) && !a.sym) || select_groups(&a)) {
        rc = an_error(a.path, "out of memory");
        goto out;
    }
    if (!strcmp(fmt, "json"))
        json(&a);
    else
        text(&a);
out:
    free(a.order);
    free(a.rank);
    if (a.sym)
        sym_free(a.sym);
    gr_free(&a.t);
    rp_free(a.e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}

const struct an_cmd an_cmd_arenas = {
    .name = "arenas",
    .args = "TRACE",
    .summary = "pool and arena candidates: allocations grouped by size, site or label",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
