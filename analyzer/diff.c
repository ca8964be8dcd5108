/* mallocan diff: compares a baseline's traces with a candidate's — totals,
 * then sites matched by symbolized stack — and fails (exit 1) when a
 * --fail-on limit is crossed. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"

static const struct an_opt opts[] = {
    {"fail-on", 0, "SPEC", "limits, e.g. peak:+5%,leaked:0,allocations:+10%,bytes:+20MiB", NULL},
    {"format", 0, "FMT", "text, json or markdown (a pull-request comment)", "text"},
    {"top", 0, "N", "sites listed per group (grown, shrunk, new, gone); 0: all", "10"},
    {"aggregate", 0, NULL, "sum each side's traces instead of matching them by program", NULL},
    {"quiet", 'q', NULL, "no warnings about modules that cannot be symbolized", NULL},
    {0},
};

enum { G_GROWN, G_SHRUNK, G_NEW, G_GONE, G_COUNT };
static const char *const group_names[G_COUNT] = {"grown", "shrunk", "new", "gone"};
static const char *const group_titles[G_COUNT] = {"Grown sites", "Shrunk sites", "New sites", "Gone sites"};

/* The metrics shown per site, in order. */
static const int site_metrics[] = {SM_ALLOCATIONS, SM_BYTES, SM_PEAK, SM_LEAKED, SM_LEAKED_BLOCKS, SM_TEMPORARIES};
#define NSM (int)(sizeof site_metrics / sizeof *site_metrics)

struct unit_diff {
    const struct sm_unit *b, *n;
    char label[128];
    struct sm_pair *pairs;
    long npairs;
    struct sm_pair **group[G_COUNT];
    size_t ngroup[G_COUNT];
    size_t unchanged;
};

static int classify(const struct sm_pair *p)
{
    if (!p->base)
        return G_NEW;
    if (!p->new)
        return G_GONE;
    int up = 0, down = 0;
    for (int m = 0; m < SM_NMETRICS; m++) {
        up |= p->n.v[m] > p->b.v[m];
        down |= p->n.v[m] < p->b.v[m];
    }
    return up ? G_GROWN : down ? G_SHRUNK : -1;
}

/* How much a site moved, in bytes first, then in calls. */
static double weight(const struct sm_pair *p)
{
    double w = 0;
    const int bytes_m[] = {SM_BYTES, SM_PEAK, SM_LEAKED};
    for (int i = 0; i < 3; i++) {
        double d = (double)p->n.v[bytes_m[i]] - (double)p->b.v[bytes_m[i]];
        if (d < 0)
            d = -d;
        if (d > w)
            w = d;
    }
    double c = (double)p->n.v[SM_ALLOCATIONS] - (double)p->b.v[SM_ALLOCATIONS];
    return w * 1e6 + (c < 0 ? -c : c);
}

static int pair_cmp(const void *x, const void *y)
{
    const struct sm_pair *a = *(struct sm_pair *const *)x, *b = *(struct sm_pair *const *)y;
    double wa = weight(a), wb = weight(b);
    if (wa != wb)
        return wa > wb ? -1 : 1;
    const struct sm_site *sa = a->new ? a->new : a->base, *sb = b->new ? b->new : b->base;
    return strcmp(sa->key, sb->key);
}

static int unit_diff_build(struct unit_diff *d)
{
    d->npairs = sm_match(d->b, d->n, &d->pairs);
    if (d->npairs < 0)
        return -1;
    for (int g = 0; g < G_COUNT; g++)
        if (!(d->group[g] = malloc(((size_t)d->npairs + 1) * sizeof *d->group[g])))
            return -1;
    for (long i = 0; i < d->npairs; i++) {
        int g = classify(&d->pairs[i]);
        if (g < 0)
            d->unchanged++;
        else
            d->group[g][d->ngroup[g]++] = &d->pairs[i];
    }
    for (int g = 0; g < G_COUNT; g++)
        qsort(d->group[g], d->ngroup[g], sizeof *d->group[g], pair_cmp);
    return 0;
}

static void unit_diff_free(struct unit_diff *d)
{
    free(d->pairs);
    for (int g = 0; g < G_COUNT; g++)
        free(d->group[g]);
}

static const struct sm_site *rep(const struct sm_pair *p) { return p->new ? p->new : p->base; }

static size_t shown(size_t n, long top) { return top > 0 && (size_t)top < n ? (size_t)top : n; }

/* Rows of the totals table: scalar metrics, then peak and leaked per space. */
struct row { int metric, space; };

static int total_rows(const struct sm_totals *b, const struct sm_totals *n, struct row *rows)
{
    int k = 0;
    rows[k++] = (struct row){SM_ALLOCATIONS, -1};
    rows[k++] = (struct row){SM_BYTES, -1};
    for (int s = 0; s < MRZ_S_COUNT; s++) {
        if (s && !(b && b->space[s].v[SM_ALLOCATIONS]) && !(n && n->space[s].v[SM_ALLOCATIONS]))
            continue;
        rows[k++] = (struct row){SM_PEAK, s};
        rows[k++] = (struct row){SM_LEAKED, s};
    }
    rows[k++] = (struct row){SM_LEAKED_BLOCKS, -1};
    rows[k++] = (struct row){SM_TEMPORARIES, -1};
    return k;
}

/* A totals row's cells: its name, the base and new figures ("-" for a side
 * without the process) and the change.  @return 1 when the figures differ. */
static int row_cells(const struct unit_diff *d, const struct row *r, char name[48], char a[32], char b[32],
                     char c[48])
{
    if (r->space >= 0)
        snprintf(name, 48, "%s.%s", sm_metric_name(r->metric), mrz_space_name((unsigned)r->space));
    else
        snprintf(name, 48, "%s", sm_metric_name(r->metric));
    uint64_t bv = d->b ? sm_total(&d->b->t, r->metric, r->space) : 0;
    uint64_t nv = d->n ? sm_total(&d->n->t, r->metric, r->space) : 0;
    if (d->b)
        sm_fmt(a, 32, r->metric, bv);
    else
        snprintf(a, 32, "-");
    if (d->n)
        sm_fmt(b, 32, r->metric, nv);
    else
        snprintf(b, 32, "-");
    sm_fmt_change(c, 48, r->metric, bv, nv);
    return bv != nv;
}

/* ------------------------------------------------------------ text */

static void text_site(FILE *f, const struct sm_pair *p, int g)
{
    const struct sm_site *s = rep(p);
    fprintf(f, "  %s", s->display);
    if (p->nb > 1 || p->nn > 1)
        fprintf(f, "  [%d -> %d call sites of this stack, compared as one]", p->nb, p->nn);
    fputs("\n     ", f);
    int first = 1;
    for (int i = 0; i < NSM; i++) {
        int m = site_metrics[i];
        uint64_t bv = p->b.v[m], nv = p->n.v[m];
        char a[32], b[32];
        if (g == G_NEW || g == G_GONE) {
            uint64_t v = g == G_NEW ? nv : bv;
            if (!v)
                continue;
            sm_fmt(a, sizeof a, m, v);
            fprintf(f, "%s %s %s", first ? "" : ",", sm_metric_name(m), a);
        } else {
            if (bv == nv)
                continue;
            sm_fmt(a, sizeof a, m, bv);
            sm_fmt(b, sizeof b, m, nv);
            fprintf(f, "%s %s %s -> %s", first ? "" : ",", sm_metric_name(m), a, b);
        }
        first = 0;
    }
    fputc('\n', f);
}

static void text_unit(FILE *f, const struct unit_diff *d, long top, int many)
{
    if (many)
        fprintf(f, "== %s\n", d->label);
    for (int side = 0; side < 2; side++) {
        const struct sm_unit *u = side ? d->n : d->b;
        fprintf(f, "%-5s ", side ? "new" : "base");
        if (!u) {
            fputs("(no such process)\n", f);
            continue;
        }
        for (int i = 0; i < u->ntraces; i++)
            fprintf(f, "%s%s", i ? ", " : "", u->traces[i]);
        fputc('\n', f);
    }
    struct row rows[4 + 2 * MRZ_S_COUNT];
    int nr = total_rows(d->b ? &d->b->t : NULL, d->n ? &d->n->t : NULL, rows);
    fprintf(f, "\n%-20s %14s %14s  %s\n", "", "base", "new", "change");
    for (int i = 0; i < nr; i++) {
        char name[48], a[32], b[32], c[48];
        row_cells(d, &rows[i], name, a, b, c);
        fprintf(f, "%-20s %14s %14s  %s\n", name, a, b, c);
    }
    for (int g = 0; g < G_COUNT; g++) {
        if (!d->ngroup[g])
            continue;
        size_t k = shown(d->ngroup[g], top);
        fprintf(f, "\n%s sites: %zu", group_names[g], d->ngroup[g]);
        if (k < d->ngroup[g])
            fprintf(f, " (the top %zu shown)", k);
        fputs("\n", f);
        for (size_t i = 0; i < k; i++)
            text_site(f, d->group[g][i], g);
    }
    fprintf(f, "\nsites: %zu grown, %zu shrunk, %zu new, %zu gone, %zu unchanged\n", d->ngroup[G_GROWN],
            d->ngroup[G_SHRUNK], d->ngroup[G_NEW], d->ngroup[G_GONE], d->unchanged);
}

static void text_limits(FILE *f, const struct sm_verdict *v, int nv, int crossed, int many)
{
    if (!nv) {
        fputs("\nno limits given (--fail-on)\n", f);
        return;
    }
    fputs("\nlimits:\n", f);
    for (int i = 0; i < nv; i++) {
        char line[512];
        sm_verdict_text(&v[i], many, line, sizeof line);
        fprintf(f, "  %-4s  %s\n", v[i].crossed ? "FAIL" : "ok", line);
    }
    sm_text_result(f, crossed, nv);
}

/* ------------------------------------------------------------ markdown */

static void md_unit(FILE *f, const struct unit_diff *d, long top, int many)
{
    if (many)
        fprintf(f, "\n#### %s\n", d->label);
    fputc('\n', f);
    for (int side = 0; side < 2; side++) {
        const struct sm_unit *u = side ? d->n : d->b;
        fputs(side ? " &rarr; new " : "base ", f);
        for (int i = 0; u && i < u->ntraces; i++) {
            fputs(i ? ", " : "", f);
            sm_md_code(f, an_base_name(u->traces[i]));
        }
        if (!u)
            fputs("(no such process)", f);
    }
    fputs("\n\n| | base | new | change |\n|:--|--:|--:|--:|\n", f);
    struct row rows[4 + 2 * MRZ_S_COUNT];
    int nr = total_rows(d->b ? &d->b->t : NULL, d->n ? &d->n->t : NULL, rows);
    for (int i = 0; i < nr; i++) {
        char name[48], a[32], b[32], c[48];
        int changed = row_cells(d, &rows[i], name, a, b, c);
        fprintf(f, "| %s | %s | %s | %s |\n", name, a, b, changed ? c : "");
    }
    for (int g = 0; g < G_COUNT; g++) {
        if (!d->ngroup[g])
            continue;
        size_t k = shown(d->ngroup[g], top);
        fprintf(f, "\n<details%s><summary>%s: %zu%s</summary>\n\n", g == G_GROWN || g == G_NEW ? " open" : "",
                group_titles[g], d->ngroup[g], k < d->ngroup[g] ? " (top shown)" : "");
        fputs("| site | allocations | bytes | peak | leaked |\n|:--|--:|--:|--:|--:|\n", f);
        for (size_t i = 0; i < k; i++) {
            const struct sm_pair *p = d->group[g][i];
            fputs("| ", f);
            sm_md_code(f, rep(p)->display);
            const int cols[] = {SM_ALLOCATIONS, SM_BYTES, SM_PEAK, SM_LEAKED};
            for (int c = 0; c < 4; c++) {
                char a[32], b[32];
                sm_fmt(a, sizeof a, cols[c], p->b.v[cols[c]]);
                sm_fmt(b, sizeof b, cols[c], p->n.v[cols[c]]);
                if (g == G_NEW)
                    fprintf(f, " | %s", b);
                else if (g == G_GONE)
                    fprintf(f, " | %s", a);
                else if (p->b.v[cols[c]] == p->n.v[cols[c]])
                    fprintf(f, " | %s", b);
                else
                    fprintf(f, " | %s &rarr; %s", a, b);
            }
            fputs(" |\n", f);
        }
        fputs("\n</details>\n", f);
    }
}

static void md_limits(FILE *f, const struct sm_verdict *v, int nv, int many)
{
    if (!nv)
        return;
    fputs("\n| | limit | metric | base | new | allowed |\n|:-:|:--|:--|--:|--:|--:|\n", f);
    for (int i = 0; i < nv; i++) {
        char name[64], a[32], b[32], c[32];
        int m = v[i].lim->metric;
        sm_verdict_name(&v[i], name, sizeof name);
        sm_fmt(a, sizeof a, m, v[i].base);
        sm_fmt(b, sizeof b, m, v[i].value);
        sm_fmt(c, sizeof c, m, v[i].allowed);
        fprintf(f, "| %s | ", v[i].crossed ? ":x:" : ":white_check_mark:");
        sm_md_code(f, v[i].lim->text);
        fprintf(f, " | %s%s%s | %s | %s | %s |\n", many ? v[i].unit : "", many ? " " : "", name,
                v[i].have_base ? a : "-", b, c);
    }
}

/* ------------------------------------------------------------ JSON */

static void json_side(FILE *f, const struct sm_unit *u)
{
    if (!u) {
        fputs("null", f);
        return;
    }
    fputs("{\"traces\":", f);
    sm_json_paths(f, u->traces, u->ntraces);
    fputs(",\"totals\":", f);
    sm_json_totals(f, &u->t);
    fputc('}', f);
}

static void json_unit(FILE *f, const struct unit_diff *d, long top)
{
    const struct sm_unit *u = d->n ? d->n : d->b;
    fputs("{\"name\":", f);
    an_json_str(f, u->name, strlen(u->name));
    fprintf(f, ",\"ordinal\":%d,\"label\":", u->ordinal);
    an_json_str(f, d->label, strlen(d->label));
    fputs(",\"base\":", f);
    json_side(f, d->b);
    fputs(",\"new\":", f);
    json_side(f, d->n);
    fprintf(f, ",\"counts\":{\"grown\":%zu,\"shrunk\":%zu,\"new\":%zu,\"gone\":%zu,\"unchanged\":%zu},\"sites\":{",
            d->ngroup[G_GROWN], d->ngroup[G_SHRUNK], d->ngroup[G_NEW], d->ngroup[G_GONE], d->unchanged);
    for (int g = 0; g < G_COUNT; g++) {
        fprintf(f, "%s\"%s\":[", g ? "," : "", group_names[g]);
        size_t k = shown(d->ngroup[g], top);
        for (size_t i = 0; i < k; i++) {
            const struct sm_pair *p = d->group[g][i];
            fputs(i ? ",{" : "{", f);
            sm_json_site(f, rep(p));
            fputs(",\"base\":", f);
            if (p->base)
                sm_json_fig(f, &p->b);
            else
                fputs("null", f);
            fputs(",\"new\":", f);
            if (p->new)
                sm_json_fig(f, &p->n);
            else
                fputs("null", f);
            fprintf(f, ",\"merged\":{\"base\":%d,\"new\":%d}}", p->nb, p->nn);
        }
        fputc(']', f);
    }
    fputs("}}", f);
}

/* ------------------------------------------------------------ run */

static int run(struct an_ctx *ctx)
{
    const char *fmt = an_get_format(ctx, "text|json|markdown");
    long top = 10;
    if (!fmt || an_get_long(ctx, "top", &top))
        return 2;
    struct sm_limit *lims = NULL;
    int nlims = 0;
    const char *spec = an_get(ctx, "fail-on");
    char err[256];
    if (spec && sm_parse_spec(spec, 1, &lims, &nlims, err, sizeof err)) {
        free(lims);
        return an_error("diff", "--fail-on: %s", err);
    }
    int aggregate = an_get(ctx, "aggregate") != NULL, quiet = an_get(ctx, "quiet") != NULL;
    struct sm_side side[2] = {{0}, {0}};
    const struct sm_unit *(*up)[2] = NULL;
    struct unit_diff *d = NULL;
    struct sm_verdict *v = NULL;
    int nv = 0, nu = 0, crossed = 0, rc = 0;
    for (int s = 0; s < 2 && !rc; s++)
        rc = sm_expand(&ctx->traces[s], 1, &side[s]);
    for (int s = 0; s < 2 && !rc; s++)
        rc = sm_load(&side[s], aggregate, quiet);
    if (rc)
        goto out;
    nu = sm_match_units(&side[0], &side[1], &up);
    d = nu >= 0 ? calloc((size_t)nu + 1, sizeof *d) : NULL;
    if (!d) {
        rc = an_error(NULL, "out of memory");
        goto out;
    }
    for (int i = 0; i < nu; i++) {
        d[i].b = up[i][0];
        d[i].n = up[i][1];
        sm_unit_label(d[i].n ? d[i].n : d[i].b, d[i].label, sizeof d[i].label);
        if (unit_diff_build(&d[i])) {
            rc = an_error(NULL, "out of memory");
            goto out;
        }
        /* a process gone from the candidate has nothing left to limit */
        if (d[i].n) {
            int k = sm_evaluate(lims, nlims, d[i].b ? &d[i].b->t : NULL, &d[i].n->t, d[i].label, &v,
                                &nv);
            if (k < 0) {
                rc = an_error(NULL, "out of memory");
                goto out;
            }
            crossed += k;
        }
    }
    FILE *f = ctx->out;
    if (!strcmp(fmt, "json")) {
        fprintf(f, "{\"command\":\"diff\",\"version\":1,\"result\":\"%s\",\"crossed\":%d,\"base\":",
                crossed ? "fail" : "pass", crossed);
        sm_json_paths(f, side[0].paths, side[0].npaths);
        fputs(",\"new\":", f);
        sm_json_paths(f, side[1].paths, side[1].npaths);
        fprintf(f, ",\"aggregate\":%s,\"units\":[", aggregate ? "true" : "false");
        for (int i = 0; i < nu; i++) {
            if (i)
                fputc(',', f);
            json_unit(f, &d[i], top);
        }
        fputs("],", f);
        sm_json_verdicts(f, v, nv);
        fputs("}\n", f);
    } else if (!strcmp(fmt, "markdown")) {
        if (!nlims)
            fputs("### mallocan diff\n", f);
        else if (crossed)
            fprintf(f, "### mallocan diff: :x: %d of %d limits crossed\n", crossed, nv);
        else
            fprintf(f, "### mallocan diff: :white_check_mark: within all %d limits\n", nv);
        md_limits(f, v, nv, nu > 1);
        for (int i = 0; i < nu; i++)
            md_unit(f, &d[i], top, nu > 1);
    } else {
        for (int i = 0; i < nu; i++) {
            if (i)
                fputc('\n', f);
            text_unit(f, &d[i], top, nu > 1);
        }
        text_limits(f, v, nv, crossed, nu > 1);
    }
    sm_warn_crossed("diff", v, nv, nu > 1);
    rc = crossed ? 1 : 0;
out:
    for (int i = 0; d && i < nu; i++)
        unit_diff_free(&d[i]);
    free(d);
    free(up);
    free(v);
    free(lims);
    sm_side_free(&side[0]);
    sm_side_free(&side[1]);
    return rc;
}

const struct an_cmd an_cmd_diff = {
    .name = "diff",
    .args = "BASE NEW",
    .summary = "compare two runs (totals and sites); exit 1 when a --fail-on limit is crossed",
    .opts = opts,
    .min_traces = 2,
    .max_traces = 2,
    .run = run,
};
