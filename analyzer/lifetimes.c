/* mallocan lifetimes: how long blocks live, as histograms with power-of-two
 * buckets — for the whole trace, then per site (or size, or label), the
 * shortest-lived first: those are the allocations a stack buffer, a reused
 * buffer or an arena would remove.
 *
 * A lifetime runs from the allocation to its free; a block realloc moved is
 * not freed (its memory lives on), and blocks still live at the end have no
 * lifetime: they are counted apart. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grouping.h"

static const struct an_opt opts[] = {
    {"by", 0, "KEY", "site, size or label", "site"},
    {"top", 'n', "N", "groups shown; 0: all", "10"},
    {"format", 0, "FMT", "text or json", "text"},
    {0},
};

/* Display buckets: 0 holds 0 and 1 ns, k >= 1 holds [2^k, 2^(k+1)); a text
 * row reads "2^k to 2^(k+1)", the upper bound excluded. */
#define OCTAVES 64
#define BAR 40

static void octaves(const uint64_t *hist, uint64_t out[OCTAVES])
{
    memset(out, 0, OCTAVES * sizeof *out);
    if (!hist)
        return;
    for (unsigned b = 0; b < GR_LIFE_BUCKETS; b++) {
        uint64_t lo = gr_life_lo(b);
        out[lo < 2 ? 0 : 63 - __builtin_clzll(lo)] += hist[b];
    }
}

struct lt {
    struct gr_table t;
    struct rp_engine *e;
    struct sym_ctx *sym;
    FILE *f;
    const char *path;
    long top;
    uint64_t all[GR_LIFE_BUCKETS], freed, live;
    uint32_t *order, n;
};

static void on_alloc(void *u, struct rp_engine *e, const struct rp_block *b)
{
    (void)e;
    gr_on_alloc(&((struct lt *)u)->t, b);
}

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary, int by_realloc)
{
    (void)e;
    (void)temporary;
    gr_on_free(&((struct lt *)u)->t, b, t, by_realloc);
}

static int cmp(const void *a, const void *b, void *arg)
{
    const struct gr_group *g = ((struct lt *)arg)->t.g;
    const struct gr_group *x = &g[*(const uint32_t *)a], *y = &g[*(const uint32_t *)b];
    double mx = gr_life_quantile(x->life, x->freed, 0.5), my = gr_life_quantile(y->life, y->freed, 0.5);
    if (mx != my)
        return mx < my ? -1 : 1;
    if (x->freed != y->freed)
        return x->freed > y->freed ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->site != y->site ? (x->site < y->site ? -1 : 1) : (x->label > y->label) - (x->label < y->label);
}

/* ------------------------------------------------------------ text */

static void text_hist(FILE *f, const uint64_t *hist, const char *indent)
{
    uint64_t o[OCTAVES], max = 0;
    int lo = -1, hi = -1;
    octaves(hist, o);
    for (int k = 0; k < OCTAVES; k++)
        if (o[k]) {
            if (lo < 0)
                lo = k;
            hi = k;
            if (o[k] > max)
                max = o[k];
        }
    char a[32], b[32], bar[BAR + 1];
    for (int k = lo; k >= 0 && k <= hi; k++) {
        int w = (int)((o[k] * BAR + max - 1) / max);
        memset(bar, '#', (size_t)w);
        bar[w] = 0;
        fprintf(f, "%s%9s to %-9s %-*s %" PRIu64 "\n", indent, gr_fmt_ns(a, sizeof a, k ? (double)(1ull << k) : 0),
                gr_fmt_ns(b, sizeof b, (double)(2ull << k)), BAR, bar, o[k]);
    }
}

static void text_summary(struct lt *l, const struct gr_group *g, const uint64_t *hist, uint64_t freed, uint64_t live)
{
    char m[32], p[32];
    (void)g;
    fprintf(l->f, "%" PRIu64 " freed, median %s, 90%% under %s", freed,
            gr_fmt_ns(m, sizeof m, gr_life_quantile(hist, freed, 0.5)),
            gr_fmt_ns(p, sizeof p, gr_life_quantile(hist, freed, 0.9)));
    if (live)
        fprintf(l->f, "; %" PRIu64 " still live at the end", live);
    fputc('\n', l->f);
}

static void text(struct lt *l)
{
    FILE *f = l->f;
    fprintf(f, "%s: %" PRIu64 " allocations, %" PRIu64 " freed, %" PRIu64 " still live at the end\n", l->path,
            rp_totals(l->e)->allocations, l->freed, l->live);
    if (!l->freed)
        return;
    fputs("\nALL: ", f);
    text_summary(l, NULL, l->all, l->freed, l->live);
    text_hist(f, l->all, "  ");
    uint32_t shown = l->top > 0 && l->n > (uint32_t)l->top ? (uint32_t)l->top : l->n;
    const char *by = gr_by_name(l->t.by);
    fprintf(f, "\nBY %s, shortest-lived first (%u of %u %s%s with frees)\n", l->t.by == GR_SIZE ? "SIZE"
            : l->t.by == GR_SITE ? "SITE" : "LABEL", shown, l->n, by, l->n == 1 ? "" : "s");
    char key[640];
    for (uint32_t i = 0; i < shown; i++) {
        const struct gr_group *g = &l->t.g[l->order[i]];
        gr_key_text(&l->t, g, l->sym, l->e, key, sizeof key);
        fprintf(f, "\n%3u. %s\n     ", i + 1, key);
        text_summary(l, g, g->life, g->freed, g->live);
        text_hist(f, g->life, "     ");
    }
}

/* ------------------------------------------------------------ json */

static void json_hist(FILE *f, const uint64_t *hist, uint64_t freed, uint64_t live)
{
    uint64_t o[OCTAVES];
    octaves(hist, o);
    fprintf(f, "\"freed\":%" PRIu64 ",\"live_at_end\":%" PRIu64 ",\"median_ns\":%.0f,\"p90_ns\":%.0f,\"buckets\":[",
            freed, live, gr_life_quantile(hist, freed, 0.5), gr_life_quantile(hist, freed, 0.9));
    int first = 1;
    for (int k = 0; k < OCTAVES; k++)
        if (o[k]) {
            fprintf(f, "%s{\"min_ns\":%llu,\"max_ns\":%llu,\"count\":%" PRIu64 "}", first ? "" : ",",
                    k ? 1ull << k : 0ull, (2ull << k) - 1, o[k]);
            first = 0;
        }
    fputc(']', f);
}

static void json(struct lt *l)
{
    FILE *f = l->f;
    fputs("{\"trace\":", f);
    an_json_str(f, l->path, strlen(l->path));
    fprintf(f, ",\"by\":\"%s\",\"allocations\":%" PRIu64 ",\"all\":{", gr_by_name(l->t.by),
            rp_totals(l->e)->allocations);
    json_hist(f, l->all, l->freed, l->live);
    fputs("},\"groups\":[", f);
    uint32_t shown = l->top > 0 && l->n > (uint32_t)l->top ? (uint32_t)l->top : l->n;
    for (uint32_t i = 0; i < shown; i++) {
        const struct gr_group *g = &l->t.g[l->order[i]];
        fputs(i ? ",{" : "{", f);
        gr_key_json(f, &l->t, g, l->sym, l->e);
        fprintf(f, ",\"count\":%" PRIu64 ",", g->count);
        json_hist(f, g->life, g->freed, g->live);
        fputc('}', f);
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
    struct lt l = {.path = ctx->traces[0], .f = ctx->out};
    const char *fmt = an_get_format(ctx, "text|json");
    if (!fmt)
        return 2;
    if (an_get_long(ctx, "top", &l.top))
        return 2;
    unsigned by;
    const char *bys = an_get(ctx, "by");
    if (gr_parse_by(bys, GR_SIZE | GR_SITE | GR_LABEL, &by) || (by & (by - 1)))
        return an_error(NULL, "lifetimes: --by: '%s' is not one of site, size, label", bys);
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(l.path, &r, &m);
    if (rc)
        return rc;
    l.e = rp_new(r, &m);
    if (!l.e || gr_init(&l.t, by)) {
        rc = an_error(l.path, "out of memory");
        goto out;
    }
    struct rp_handlers h = {.user = &l, .on_alloc = on_alloc, .on_free = on_free};
    int k = rp_run(l.e, &h);
    an_report_damage(l.path, r);
    if (k || l.t.err) {
        rc = an_error(l.path, "%s", k ? mrz_strerror(k) : "out of memory");
        goto out;
    }
    l.order = malloc((l.t.n + 1) * sizeof *l.order);
    l.sym = by & GR_SITE ? sym_new(&m, on_sym_warn, NULL) : NULL;
    if (!l.order || ((by & GR_SITE) && !l.sym)) {
        rc = an_error(l.path, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < l.t.n; i++) {
        const struct gr_group *g = &l.t.g[i];
        l.freed += g->freed;
        l.live += g->live;
        for (unsigned b = 0; g->life && b < GR_LIFE_BUCKETS; b++)
            l.all[b] += g->life[b];
        if (g->freed)
            l.order[l.n++] = i;
    }
    qsort_r(l.order, l.n, sizeof *l.order, cmp, &l);
    if (!strcmp(fmt, "json"))
        json(&l);
    else
        text(&l);
out:
    free(l.order);
    if (l.sym)
        sym_free(l.sym);
    gr_free(&l.t);
    rp_free(l.e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}

const struct an_cmd an_cmd_lifetimes = {
    .name = "lifetimes",
    .args = "TRACE",
    .summary = "lifetime histograms, overall and per site or size, shortest-lived first",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
