/* mallocan check: a gate on one run — its totals against fixed limits;
 * exit 1 when one is crossed, naming the sites that weigh most in it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"

/* The --max-* options: each is one cap on one metric. */
static const struct { const char *opt; int metric; } caps[] = {
    {"max-peak", SM_PEAK},           {"max-leaked", SM_LEAKED},   {"max-leaked-blocks", SM_LEAKED_BLOCKS},
    {"max-allocations", SM_ALLOCATIONS}, {"max-bytes", SM_BYTES}, {"max-temporaries", SM_TEMPORARIES},
};
#define NCAPS (int)(sizeof caps / sizeof *caps)

static const struct an_opt opts[] = {
    {"max-peak", 0, "SIZE", "most live bytes at the peak, in every space used", NULL},
    {"max-leaked", 0, "SIZE", "most bytes still live at the end, in every space used", NULL},
    {"max-leaked-blocks", 0, "N", "most blocks still live at the end", NULL},
    {"max-allocations", 0, "N", "most allocation calls", NULL},
    {"max-bytes", 0, "SIZE", "most bytes allocated in all", NULL},
    {"max-temporaries", 0, "N", "most blocks freed before their thread allocated again", NULL},
    {"limit", 0, "SPEC", "more caps, e.g. peak.cuda-device:1GiB,leaked.host:0", NULL},
    {"format", 0, "FMT", "text, json or markdown (a pull-request comment)", "text"},
    {"top", 0, "N", "sites listed under a crossed limit; 0: all", "5"},
    {"aggregate", 0, NULL, "sum the traces instead of checking each process", NULL},
    {"quiet", 'q', NULL, "no warnings about modules that cannot be symbolized", NULL},
    {0},
};

static const struct sm_unit *unit_of(const struct sm_side *side, const struct sm_verdict *v)
{
    for (int i = 0; i < side->nunits; i++) {
        char label[128];
        sm_unit_label(&side->units[i], label, sizeof label);
        if (!strcmp(label, v->unit))
            return &side->units[i];
    }
    return NULL;
}

/* The sites that weigh most in a crossed verdict v's metric (and space),
 * at most top of them (all when top is 0).  @return their number in *out
 * (free() it), or -1 when v was not crossed. */
static long culprits(const struct sm_side *side, const struct sm_verdict *v, long top, const struct sm_site ***out)
{
    const struct sm_unit *u = v->crossed ? unit_of(side, v) : NULL;
    *out = NULL;
    if (!u)
        return -1;
    const struct sm_site **s = malloc((u->nsites + 1) * sizeof *s);
    size_t n = 0;
    if (!s)
        return 0;
    int m = v->lim->metric;
    for (size_t i = 0; i < u->nsites; i++)
        if (u->sites[i].f.v[m] && (v->space < 0 || u->sites[i].space == v->space))
            s[n++] = &u->sites[i];
    /* selection of the top entries: n is the number of sites, top is small */
    size_t k = top > 0 && (size_t)top < n ? (size_t)top : n;
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < n; j++)
            if (s[j]->f.v[m] > s[i]->f.v[m] ||
                (s[j]->f.v[m] == s[i]->f.v[m] && strcmp(s[j]->key, s[i]->key) < 0)) {
                const struct sm_site *t = s[i];
                s[i] = s[j];
                s[j] = t;
            }
    *out = s;
    return (long)k;
}

static void text_totals(FILE *f, const struct sm_unit *u, int many)
{
    char label[128];
    sm_unit_label(u, label, sizeof label);
    if (many)
        fprintf(f, "== %s\n", label);
    fprintf(f, "%-20s %s\n%-20s ", "program", label, u->ntraces > 1 ? "traces" : "trace");
    for (int i = 0; i < u->ntraces; i++)
        fprintf(f, "%s%s", i ? ", " : "", u->traces[i]);
    fputc('\n', f);
    for (int m = 0; m < SM_NMETRICS; m++) {
        for (int s = sm_metric_per_space(m) ? 0 : -1; s < (sm_metric_per_space(m) ? MRZ_S_COUNT : 0); s++) {
            if (s > 0 && !u->t.space[s].v[SM_ALLOCATIONS])
                continue;
            char name[48], val[32];
            if (s >= 0)
                snprintf(name, sizeof name, "%s.%s", sm_metric_name(m), mrz_space_name((unsigned)s));
            else
                snprintf(name, sizeof name, "%s", sm_metric_name(m));
            sm_fmt(val, sizeof val, m, sm_total(&u->t, m, s));
            fprintf(f, "%-20s %s\n", name, val);
        }
    }
}

/* Builds the limit list from --max-* and --limit.  @return 0 or 2. */
static int gather_limits(struct an_ctx *ctx, struct sm_limit **lims, int *n)
{
    for (int i = 0; i < NCAPS; i++) {
        const char *val = an_get(ctx, caps[i].opt);
        if (!val)
            continue;
        uint64_t x;
        int m = caps[i].metric;
        if (sm_metric_is_size(m) ? sm_parse_size(val, &x) : sm_parse_count(val, &x))
            return an_error("check", sm_metric_is_size(m) ? "--%s: '%s' is not a size (e.g. 4096, 64KiB, 1.5GiB)"
                                                          : "--%s: '%s' is not a whole number",
                            caps[i].opt, val);
        struct sm_limit *nl = realloc(*lims, (size_t)(*n + 1) * sizeof *nl);
        if (!nl)
            return an_error(NULL, "out of memory");
        *lims = nl;
        nl[*n] = (struct sm_limit){.metric = m, .space = -1, .kind = SM_CAP, .amount = x};
        snprintf(nl[*n].text, sizeof nl[*n].text, "--%s %s", caps[i].opt, val);
        (*n)++;
    }
    const char *spec = an_get(ctx, "limit");
    char err[256];
    if (spec && sm_parse_spec(spec, 0, lims, n, err, sizeof err))
        return an_error("check", "--limit: %s", err);
    if (!*n)
        return an_error("check", "no limits given (--max-peak, --max-leaked, ..., --limit SPEC)");
    return 0;
}

static int run(struct an_ctx *ctx)
{
    const char *fmt = an_get_format(ctx, "text|json|markdown");
    long top = 5;
    if (!fmt || an_get_long(ctx, "top", &top))
        return 2;
    struct sm_limit *lims = NULL;
    int nlims = 0;
    struct sm_side side = {0};
    struct sm_verdict *v = NULL;
    int nv = 0, crossed = 0;
    int rc = gather_limits(ctx, &lims, &nlims);
    if (!rc)
        rc = sm_expand(ctx->traces, ctx->ntraces, &side);
    if (!rc)
        rc = sm_load(&side, an_get(ctx, "aggregate") != NULL, an_get(ctx, "quiet") != NULL);
    if (rc)
        goto out;
    int many = side.nunits > 1;
    for (int i = 0; i < side.nunits; i++) {
        char label[128];
        sm_unit_label(&side.units[i], label, sizeof label);
        int k = sm_evaluate(lims, nlims, NULL, &side.units[i].t, label, &v, &nv);
        if (k < 0) {
            rc = an_error(NULL, "out of memory");
            goto out;
        }
        crossed += k;
    }
    FILE *f = ctx->out;
    if (!strcmp(fmt, "json")) {
        fprintf(f, "{\"command\":\"check\",\"version\":1,\"result\":\"%s\",\"crossed\":%d,\"aggregate\":%s,\"units\":[",
                crossed ? "fail" : "pass", crossed, an_get(ctx, "aggregate") ? "true" : "false");
        for (int i = 0; i < side.nunits; i++) {
            const struct sm_unit *u = &side.units[i];
            char label[128];
            sm_unit_label(u, label, sizeof label);
            fprintf(f, "%s{\"name\":", i ? "," : "");
            an_json_str(f, u->name, strlen(u->name));
            fprintf(f, ",\"ordinal\":%d,\"label\":", u->ordinal);
            an_json_str(f, label, strlen(label));
            fputs(",\"traces\":", f);
            sm_json_paths(f, u->traces, u->ntraces);
            fputs(",\"totals\":", f);
            sm_json_totals(f, &u->t);
            fputc('}', f);
        }
        fputs("],", f);
        sm_json_verdicts(f, v, nv);
        /* the sites behind each crossed limit, in the order of "limits" */
        fputs(",\"culprits\":[", f);
        int first = 1;
        for (int i = 0; i < nv; i++) {
            const struct sm_site **s;
            long k = culprits(&side, &v[i], top, &s);
            if (k < 0)
                continue;
            fprintf(f, "%s{\"limit\":%d,\"sites\":[", first ? "" : ",", i);
            first = 0;
            for (long j = 0; j < k; j++) {
                fputs(j ? ",{" : "{", f);
                sm_json_site(f, s[j]);
                fprintf(f, ",\"value\":%" PRIu64 ",\"figures\":", s[j]->f.v[v[i].lim->metric]);
                sm_json_fig(f, &s[j]->f);
                fputc('}', f);
            }
            fputs("]}", f);
            free(s);
        }
        fputs("]}\n", f);
    } else if (!strcmp(fmt, "markdown")) {
        if (crossed)
            fprintf(f, "### mallocan check: :x: %d of %d limits crossed\n", crossed, nv);
        else
            fprintf(f, "### mallocan check: :white_check_mark: within all %d limits\n", nv);
        fputs("\n| | limit | metric | value | max |\n|:-:|:--|:--|--:|--:|\n", f);
        for (int i = 0; i < nv; i++) {
            char name[64], a[32], b[32];
            sm_verdict_name(&v[i], name, sizeof name);
            sm_fmt(a, sizeof a, v[i].lim->metric, v[i].value);
            sm_fmt(b, sizeof b, v[i].lim->metric, v[i].allowed);
            fprintf(f, "| %s | ", v[i].crossed ? ":x:" : ":white_check_mark:");
            sm_md_code(f, v[i].lim->text);
            fprintf(f, " | %s%s%s | %s | %s |\n", many ? v[i].unit : "", many ? " " : "", name, a, b);
        }
        for (int i = 0; i < nv; i++) {
            const struct sm_site **s;
            long k = culprits(&side, &v[i], top, &s);
            if (k < 0)
                continue;
            char name[64];
            sm_verdict_name(&v[i], name, sizeof name);
            fprintf(f, "\n<details open><summary>%s%s%s: the sites that weigh most</summary>\n\n| %s | site |\n|--:|:--|\n",
                    many ? v[i].unit : "", many ? " " : "", name, name);
            for (long j = 0; j < k; j++) {
                char val[32];
                sm_fmt(val, sizeof val, v[i].lim->metric, s[j]->f.v[v[i].lim->metric]);
                fprintf(f, "| %s | ", val);
                sm_md_code(f, s[j]->display);
                fputs(" |\n", f);
            }
            fputs("\n</details>\n", f);
            free(s);
        }
    } else {
        for (int i = 0; i < side.nunits; i++)
            text_totals(f, &side.units[i], many);
        fputs("\nlimits:\n", f);
        for (int i = 0; i < nv; i++) {
            char line[512];
            sm_verdict_text(&v[i], many, line, sizeof line);
            fprintf(f, "  %-4s  %s\n", v[i].crossed ? "FAIL" : "ok", line);
            const struct sm_site **s;
            long k = culprits(&side, &v[i], top, &s);
            if (k < 0)
                continue;
            for (long j = 0; j < k; j++) {
                char val[32];
                sm_fmt(val, sizeof val, v[i].lim->metric, s[j]->f.v[v[i].lim->metric]);
                fprintf(f, "        %12s  %s\n", val, s[j]->display);
            }
            free(s);
        }
        sm_text_result(f, crossed, nv);
    }
    sm_warn_crossed("check", v, nv, many);
    rc = crossed ? 1 : 0;
out:
    free(v);
    free(lims);
    sm_side_free(&side);
    return rc;
}

const struct an_cmd an_cmd_check = {
    .name = "check",
    .args = "TRACE...",
    .summary = "a gate on one run: exit 1 when its peak, leaks or counts cross a limit",
    .opts = opts,
    .min_traces = 1,
    .max_traces = -1,
    .run = run,
};
