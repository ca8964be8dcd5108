/* The region table (contract in regions.h).
 *
 * Each allocation counts in its region and every enclosing one, so a
 * region's figures include its subregions'; "self" is what was allocated
 * directly inside it.  The peak is the most bytes allocated inside the
 * region that were alive at one time (wherever the program was when they
 * were alive), sizes are summarised with Welford's running variance. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "regions.h"
#include "grouping.h"

struct rg_row {
    uint64_t count, bytes, self_count, self_bytes;
    uint64_t live_bytes, peak_bytes;
    uint64_t min_size, max_size;
    double mean, m2;
};

struct rg_table {
    struct rg_row *r;
    uint32_t n;
    int err;
};

struct rg_table *rg_new(void) { return calloc(1, sizeof(struct rg_table)); }

void rg_free(struct rg_table *t)
{
    if (t)
        free(t->r);
    free(t);
}

int rg_failed(const struct rg_table *t) { return t->err; }

static struct rg_row *row(struct rg_table *t, uint32_t region)
{
    if (region >= t->n) {
        uint32_t n = t->n ? t->n : 16;
        while (n <= region)
            n *= 2;
        struct rg_row *nr = realloc(t->r, n * sizeof *nr);
        if (!nr) {
            t->err = 1;
            return NULL;
        }
        memset(nr + t->n, 0, (n - t->n) * sizeof *nr);
        for (uint32_t i = t->n; i < n; i++)
            nr[i].min_size = UINT64_MAX;
        t->r = nr;
        t->n = n;
    }
    return &t->r[region];
}

void rg_on_alloc(struct rg_table *t, struct rp_engine *e, const struct rp_block *b)
{
    uint32_t reg = b->region;
    struct rg_row *own = row(t, reg);
    if (!own)
        return;
    own->self_count++;
    own->self_bytes += b->size;
    for (uint32_t guard = 0; guard < 100000; guard++) {
        struct rg_row *x = row(t, reg);
        if (!x)
            return;
        x->count++;
        x->bytes += b->size;
        double d = (double)b->size - x->mean;
        x->mean += d / (double)x->count;
        x->m2 += d * ((double)b->size - x->mean);
        if (b->size < x->min_size)
            x->min_size = b->size;
        if (b->size > x->max_size)
            x->max_size = b->size;
        x->live_bytes += b->size;
        if (x->live_bytes > x->peak_bytes)
            x->peak_bytes = x->live_bytes;
        if (!reg)
            break;
        reg = rp_region_parent(e, reg);
    }
}

void rg_on_free(struct rg_table *t, struct rp_engine *e, const struct rp_block *b)
{
    uint32_t reg = b->region;
    for (uint32_t guard = 0; guard < 100000 && reg < t->n; guard++) {
        t->r[reg].live_bytes -= b->size;
        if (!reg)
            break;
        reg = rp_region_parent(e, reg);
    }
}

/* ------------------------------------------------------------ output */

static double stddev(const struct rg_row *x) { return x->count ? sqrt(x->m2 / (double)x->count) : 0; }

struct walk {
    const struct rg_table *t;
    struct rp_engine *e;
    FILE *f;
    uint32_t *first_child, *next_sibling;
    int json, first;
};

static void print_row(struct walk *w, uint32_t reg, int depth)
{
    const struct rg_row *x = reg < w->t->n ? &w->t->r[reg] : NULL;
    static const struct rg_row empty = {.min_size = UINT64_MAX};
    if (!x)
        x = &empty;
    const char *name = reg ? rp_region_name(w->e, reg) : NULL;
    FILE *f = w->f;
    if (w->json) {
        fprintf(f, "%s{\"region\":%u,\"parent\":", w->first ? "" : ",", reg);
        if (reg)
            fprintf(f, "%u", rp_region_parent(w->e, reg));
        else
            fputs("null", f);
        fputs(",\"name\":", f);
        an_json_cstr(f, name);
        fprintf(f, ",\"depth\":%d,\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"self_count\":%" PRIu64
                   ",\"self_bytes\":%" PRIu64 ",\"peak_bytes\":%" PRIu64 ",\"sum_size\":%" PRIu64
                   ",\"mean_size\":%.3f,\"min_size\":%" PRIu64 ",\"max_size\":%" PRIu64 ",\"stddev_size\":%.3f}",
                depth, x->count, x->bytes, x->self_count, x->self_bytes, x->peak_bytes, x->bytes, x->mean,
                x->count ? x->min_size : 0, x->max_size, stddev(x));
        w->first = 0;
    } else {
        char label[256], b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
        snprintf(label, sizeof label, "%*s%s", 2 * depth, "", name ? name : "(program)");
        fprintf(f, "%-28s %9" PRIu64 " %11s %11s %10s %10s %10s %10s %9" PRIu64 "\n", label, x->count,
                gr_fmt_bytes(b1, sizeof b1, (double)x->bytes), gr_fmt_bytes(b2, sizeof b2, (double)x->peak_bytes),
                gr_fmt_bytes(b3, sizeof b3, x->mean), gr_fmt_bytes(b4, sizeof b4, x->count ? (double)x->min_size : 0),
                gr_fmt_bytes(b5, sizeof b5, (double)x->max_size), gr_fmt_bytes(b6, sizeof b6, stddev(x)),
                x->self_count);
    }
    for (uint32_t c = w->first_child[reg]; c; c = w->next_sibling[c])
        print_row(w, c, depth + 1);
}

static void print_tree(const struct rg_table *t, struct rp_engine *e, FILE *f, int json)
{
    uint32_t n = rp_region_count(e);
    if (n == 0)
        n = 1;
    struct walk w = {t, e, f, calloc(n, sizeof(uint32_t)), calloc(n, sizeof(uint32_t)), json, 1};
    if (!w.first_child || !w.next_sibling) {
        free(w.first_child);
        free(w.next_sibling);
        return;
    }
    /* children in order of first appearance: link from the last */
    for (uint32_t r = n - 1; r >= 1; r--) {
        uint32_t p = rp_region_parent(e, r);
        if (p >= r)
            continue; /* a parent always comes first; anything else is damage */
        w.next_sibling[r] = w.first_child[p];
        w.first_child[p] = r;
    }
    if (json)
        fputc('[', f);
    else
        fprintf(f, "%-28s %9s %11s %11s %10s %10s %10s %10s %9s\n", "region", "count", "bytes", "peak", "mean", "min",
                "max", "stddev", "self");
    print_row(&w, 0, 0);
    if (json)
        fputc(']', f);
    free(w.first_child);
    free(w.next_sibling);
}

void rg_print_text(const struct rg_table *t, struct rp_engine *e, FILE *f) { print_tree(t, e, f, 0); }
void rg_print_json(const struct rg_table *t, struct rp_engine *e, FILE *f) { print_tree(t, e, f, 1); }

/* ------------------------------------------------------------ standalone */

static void on_alloc(void *u, struct rp_engine *e, const struct rp_block *b) { rg_on_alloc(u, e, b); }

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary, int by_realloc)
{
    (void)t;
    (void)temporary;
    (void)by_realloc;
    rg_on_free(u, e, b);
}

int rg_report(const char *path, FILE *out, int json)
{
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    struct rp_engine *e = rp_new(r, &m);
    struct rg_table *t = rg_new();
    if (!e || !t) {
        rc = an_error(path, "out of memory");
        goto out;
    }
    struct rp_handlers h = {.user = t, .on_alloc = on_alloc, .on_free = on_free};
    int k = rp_run(e, &h);
    an_report_damage(path, r);
    if (k || t->err) {
        rc = an_error(path, "%s", k ? mrz_strerror(k) : "out of memory");
        goto out;
    }
    const struct rp_totals *tot = rp_totals(e);
    if (json) {
        fputs("{\"trace\":", out);
        an_json_str(out, path, strlen(path));
        fprintf(out, ",\"allocations\":%" PRIu64 ",\"paused\":%" PRIu64 ",\"regions\":", tot->allocations,
                tot->paused);
        rg_print_json(t, e, out);
        fputs("}\n", out);
    } else {
        fprintf(out, "%s: %" PRIu64 " allocations, %u region%s\n\n", path, tot->allocations,
                rp_region_count(e) ? rp_region_count(e) - 1 : 0, rp_region_count(e) == 2 ? "" : "s");
        rg_print_text(t, e, out);
        fputs("\n(figures include subregions; peak: most of the region's bytes alive at once; "
              "self: allocations outside any subregion)\n",
              out);
    }
out:
    rg_free(t);
    rp_free(e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}
