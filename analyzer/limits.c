/* The limit grammar of the CI gates and its evaluation (contract in
 * summary.h).
 *
 *   SPEC  := ITEM ("," ITEM)*
 *   ITEM  := METRIC ["." SPACE] ":" LIMIT
 *   LIMIT := VALUE          the value itself must not exceed VALUE
 *          | "+" VALUE      growth over the base must not exceed VALUE
 *          | "+" NUMBER "%" growth relative to the base
 * VALUE is a size (64MiB) for byte metrics, a whole number for counts. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "summary.h"

static const char *const metric_names[SM_NMETRICS] = {
    [SM_ALLOCATIONS] = "allocations", [SM_BYTES] = "bytes",
    [SM_PEAK] = "peak",               [SM_LEAKED] = "leaked",
    [SM_LEAKED_BLOCKS] = "leaked_blocks", [SM_TEMPORARIES] = "temporaries",
};

const char *sm_metric_name(int metric)
{
    return metric >= 0 && metric < SM_NMETRICS ? metric_names[metric] : "?";
}

int sm_metric_is_size(int metric) { return metric == SM_BYTES || metric == SM_PEAK || metric == SM_LEAKED; }

int sm_metric_per_space(int metric) { return metric == SM_PEAK || metric == SM_LEAKED; }

/* the recorder's grammar (--sample), so both halves read sizes alike */
int sm_parse_size(const char *s, uint64_t *out) { return mr_parse_size(s, out); }

int sm_parse_count(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_percent(const char *s, uint64_t *milli)
{
    size_t n = strlen(s), digits = 0, dots = 0;
    if (n < 2 || s[n - 1] != '%')
        return -1;
    for (size_t i = 0; i + 1 < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == '.')
            dots++;
        else
            return -1;
    }
    if (!digits || dots > 1)
        return -1;
    double p = strtod(s, NULL);
    if (p > 1e12)
        return -1;
    *milli = (uint64_t)llround(p * 1000.0);
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static const char *space_list(void)
{
    static char buf[128];
    if (!buf[0])
        for (unsigned s = 0; s < MRZ_S_COUNT; s++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", s ? ", " : "", mrz_space_name(s));
    return buf;
}

/* One ITEM (not NUL-terminated in spec) into l. */
static int parse_item(const char *item, size_t n, int allow_growth, struct sm_limit *l, char *err, size_t errn)
{
    char buf[96];
    if (n >= sizeof buf) {
        snprintf(err, errn, "'%.40s...': too long", item);
        return -1;
    }
    memcpy(buf, item, n);
    buf[n] = 0;
    memset(l, 0, sizeof *l);
    snprintf(l->text, sizeof l->text, "%s", buf);
    char *colon = strchr(buf, ':');
    if (!colon) {
        snprintf(err, errn, "'%s': expected METRIC:LIMIT, e.g. peak:+5%% or leaked:0", buf);
        return -1;
    }
    *colon = 0;
    for (char *e = colon; e > buf && isspace((unsigned char)e[-1]); e--)
        e[-1] = 0;
    char *name = buf, *val = colon + 1, *dot = strchr(name, '.');
    if (dot)
        *dot = 0;
    l->metric = -1;
    for (int m = 0; m < SM_NMETRICS; m++)
        if (!strcmp(name, metric_names[m]))
            l->metric = m;
    if (l->metric < 0) {
        snprintf(err, errn, "'%s': unknown metric '%s' (allocations, bytes, peak, leaked, leaked_blocks, temporaries)",
                 l->text, name);
        return -1;
    }
    l->space = -1;
    if (dot) {
        if (!sm_metric_per_space(l->metric)) {
            snprintf(err, errn, "'%s': %s is not kept per space (only peak and leaked are)", l->text, name);
            return -1;
        }
        for (unsigned s = 0; s < MRZ_S_COUNT; s++)
            if (!strcmp(dot + 1, mrz_space_name(s)))
                l->space = (int)s;
        if (l->space < 0) {
            snprintf(err, errn, "'%s': unknown space '%s' (%s)", l->text, dot + 1, space_list());
            return -1;
        }
    }
    size_t vn = strlen(val);
    const char *v = val;
    trim(&v, &vn);
    memmove(val, v, vn);
    val[vn] = 0;
    v = val;
    if (!*v) {
        snprintf(err, errn, "'%s': the limit is missing after ':'", l->text);
        return -1;
    }
    if (*v == '-') {
        snprintf(err, errn, "'%s': a limit cannot be negative", l->text);
        return -1;
    }
    int growth = *v == '+';
    if (growth && !allow_growth) {
        snprintf(err, errn, "'%s': growth limits ('+...') need a base to compare with; use mallocan diff", l->text);
        return -1;
    }
    if (growth)
        v++;
    if (v[0] && v[strlen(v) - 1] == '%') {
        if (!growth) {
            snprintf(err, errn, "'%s': a percentage is growth over the base: write '+%s'", l->text, v);
            return -1;
        }
        if (parse_percent(v, &l->pct_milli)) {
            snprintf(err, errn, "'%s': '%s' is not a percentage", l->text, v);
            return -1;
        }
        l->kind = SM_GROW_PCT;
        return 0;
    }
    uint64_t x;
    if (sm_metric_is_size(l->metric) ? sm_parse_size(v, &x) : sm_parse_count(v, &x)) {
        snprintf(err, errn, sm_metric_is_size(l->metric) ? "'%s': '%s' is not a size (e.g. 4096, 64KiB, 1.5GiB)"
                                                         : "'%s': '%s' is not a whole number",
                 l->text, v);
        return -1;
    }
    l->amount = x;
    l->kind = growth ? SM_GROW_ABS : SM_CAP;
    return 0;
}

int sm_parse_spec(const char *spec, int allow_growth, struct sm_limit **lims, int *n, char *err, size_t errn)
{
    if (!spec || !*spec) {
        snprintf(err, errn, "empty limit list");
        return -1;
    }
    for (const char *p = spec; p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        const char *item = p;
        trim(&item, &len);
        p = c ? c + 1 : NULL;
        if (!len) {
            snprintf(err, errn, "'%s': empty item between commas", spec);
            return -1;
        }
        struct sm_limit *nl = realloc(*lims, (size_t)(*n + 1) * sizeof *nl);
        if (!nl) {
            snprintf(err, errn, "out of memory");
            return -1;
        }
        *lims = nl;
        if (parse_item(item, len, allow_growth, &nl[*n], err, errn))
            return -1;
        (*n)++;
    }
    return 0;
}

uint64_t sm_total(const struct sm_totals *t, int metric, int space)
{
    if (space < 0 || !sm_metric_per_space(metric))
        return t->all.v[metric];
    return t->space[space].v[metric];
}

static int push_verdict(struct sm_verdict **out, int *nout, const struct sm_verdict *v)
{
    struct sm_verdict *n = realloc(*out, (size_t)(*nout + 1) * sizeof *n);
    if (!n)
        return -1;
    n[*nout] = *v;
    *out = n;
    (*nout)++;
    return 0;
}

int sm_evaluate(const struct sm_limit *lims, int nlims, const struct sm_totals *base, const struct sm_totals *value,
                const char *unit, struct sm_verdict **out, int *nout)
{
    static const struct sm_totals zero;
    int crossed = 0;
    for (int i = 0; i < nlims; i++) {
        const struct sm_limit *l = &lims[i];
        int s0 = -1, s1 = -1;
        if (sm_metric_per_space(l->metric)) {
            s0 = l->space < 0 ? 0 : l->space;
            s1 = l->space < 0 ? MRZ_S_COUNT - 1 : l->space;
        }
        for (int s = s0; s <= s1; s++) {
            const struct sm_totals *b = base ? base : &zero;
            uint64_t bv = sm_total(b, l->metric, s), nv = sm_total(value, l->metric, s);
            /* "every space": the ones either side used, and always host */
            if (l->space < 0 && s > 0 && !bv && !nv && !b->space[s].v[SM_ALLOCATIONS] &&
                !value->space[s].v[SM_ALLOCATIONS])
                continue;
            struct sm_verdict v = {.lim = l, .space = s, .base = bv, .value = nv, .have_base = base != NULL};
            snprintf(v.unit, sizeof v.unit, "%s", unit ? unit : "");
            /* integer arithmetic: "+10%" of 1000 allows exactly 1100 */
            unsigned __int128 a = bv;
            if (l->kind == SM_CAP)
                a = l->amount;
            else if (l->kind == SM_GROW_ABS)
                a += l->amount;
            else
                a += (unsigned __int128)bv * l->pct_milli / 100000;
            v.allowed = a > UINT64_MAX ? UINT64_MAX : (uint64_t)a;
            v.crossed = nv > v.allowed;
            crossed += v.crossed;
            if (push_verdict(out, nout, &v))
                return -1;
        }
    }
    return crossed;
}

static void fmt_mag(char *buf, size_t n, int metric, const char *sign, uint64_t v)
{
    if (!sm_metric_is_size(metric)) {
        snprintf(buf, n, "%s%" PRIu64, sign, v);
        return;
    }
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    double x = (double)v;
    while (x >= 1024 && u < 6) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%s%" PRIu64 " B", sign, v);
    else
        snprintf(buf, n, "%s%.1f %s", sign, x, units[u]);
}

void sm_fmt(char *buf, size_t n, int metric, uint64_t v) { fmt_mag(buf, n, metric, "", v); }

void sm_fmt_change(char *buf, size_t n, int metric, uint64_t base, uint64_t value)
{
    if (base == value) {
        snprintf(buf, n, "=");
        return;
    }
    int up = value > base;
    char mag[48];
    fmt_mag(mag, sizeof mag, metric, up ? "+" : "-", up ? value - base : base - value);
    if (base)
        snprintf(buf, n, "%s (%s%.1f%%)", mag, up ? "+" : "-",
                 100.0 * (double)(up ? value - base : base - value) / (double)base);
    else
        snprintf(buf, n, "%s", mag);
}

void sm_verdict_name(const struct sm_verdict *v, char *buf, size_t n)
{
    if (v->space >= 0)
        snprintf(buf, n, "%s.%s", sm_metric_name(v->lim->metric), mrz_space_name((unsigned)v->space));
    else
        snprintf(buf, n, "%s", sm_metric_name(v->lim->metric));
}

void sm_verdict_text(const struct sm_verdict *v, int with_unit, char *buf, size_t n)
{
    char name[64], val[32], allowed[32], base[32];
    int m = v->lim->metric;
    sm_verdict_name(v, name, sizeof name);
    sm_fmt(val, sizeof val, m, v->value);
    sm_fmt(allowed, sizeof allowed, m, v->allowed);
    sm_fmt(base, sizeof base, m, v->base);
    const char *unit = with_unit && v->unit[0] ? v->unit : NULL;
    if (v->lim->kind == SM_CAP)
        snprintf(buf, n, "%s%s%s %s %s %s limit (%s)", unit ? unit : "", unit ? ": " : "", name, val,
                 v->crossed ? ">" : "<=", allowed, v->lim->text);
    else
        snprintf(buf, n, "%s%s%s %s -> %s %s %s allowed (%s)", unit ? unit : "", unit ? ": " : "", name, base, val,
                 v->crossed ? ">" : "<=", allowed, v->lim->text);
}

static const char *kind_name(int kind)
{
    return kind == SM_CAP ? "cap" : kind == SM_GROW_ABS ? "growth" : "growth_percent";
}

void sm_json_verdicts(FILE *f, const struct sm_verdict *v, int nv)
{
    fputs("\"limits\":[", f);
    for (int i = 0; i < nv; i++) {
        const struct sm_limit *l = v[i].lim;
        fprintf(f, "%s{\"unit\":", i ? "," : "");
        an_json_str(f, v[i].unit, strlen(v[i].unit));
        fputs(",\"limit\":", f);
        an_json_str(f, l->text, strlen(l->text));
        fprintf(f, ",\"metric\":\"%s\",\"space\":", sm_metric_name(l->metric));
        if (v[i].space >= 0)
            fprintf(f, "\"%s\"", mrz_space_name((unsigned)v[i].space));
        else
            fputs("null", f);
        fprintf(f, ",\"kind\":\"%s\",", kind_name(l->kind));
        if (l->kind == SM_GROW_PCT)
            fprintf(f, "\"percent\":%.3f", (double)l->pct_milli / 1000.0);
        else
            fprintf(f, "\"amount\":%" PRIu64, l->amount);
        fputs(",\"base\":", f);
        if (v[i].have_base)
            fprintf(f, "%" PRIu64, v[i].base);
        else
            fputs("null", f);
        fprintf(f, ",\"value\":%" PRIu64 ",\"allowed\":%" PRIu64 ",\"crossed\":%s}", v[i].value, v[i].allowed,
                v[i].crossed ? "true" : "false");
    }
    fputc(']', f);
}

void sm_json_paths(FILE *f, char *const *p, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        an_json_str(f, p[i], strlen(p[i]));
    }
    fputc(']', f);
}

void sm_md_code(FILE *f, const char *s)
{
    fputc('`', f);
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '`')
            fputc('\'', f);
        else if (*s != '\n')
            fputc(*s, f);
    }
    fputc('`', f);
}

void sm_text_result(FILE *f, int crossed, int nv)
{
    if (crossed)
        fprintf(f, "result: FAIL, %d of %d limits crossed\n", crossed, nv);
    else
        fprintf(f, "result: ok, within all %d limits\n", nv);
}

void sm_warn_crossed(const char *cmd, const struct sm_verdict *v, int nv, int with_unit)
{
    for (int i = 0; i < nv; i++)
        if (v[i].crossed) {
            char line[512];
            sm_verdict_text(&v[i], with_unit, line, sizeof line);
            an_error(cmd, "limit crossed: %s", line);
        }
}
