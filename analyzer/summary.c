/* Traces reduced to totals and rebuild-proof site tables, per program
 * (contract in summary.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replay.h"
#include "summary.h"
#include "symbols.h"

/* ------------------------------------------------------------ string pool */

struct pool_blk { struct pool_blk *next; size_t used, cap; char data[]; };
struct sm_string_pool { struct pool_blk *head; };

static char *pool_dup(struct sm_string_pool *p, const char *s, size_t n)
{
    struct pool_blk *b = p->head;
    if (!b || b->used + n + 1 > b->cap) {
        size_t cap = n + 1 > 32768 ? n + 1 : 32768;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, n);
    d[n] = 0;
    b->used += n + 1;
    return d;
}

static const char *pool_str(struct sm_string_pool *p, const char *s)
{
    return s ? pool_dup(p, s, strlen(s)) : NULL;
}

/* A growable text buffer; on allocation failure it keeps what it had and
 * remembers the failure. */
struct sbuf { char *s; size_t n, cap; int oom; };

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ------------------------------------------------------------ trace paths */

/* Natural order: digit runs compare as numbers (rank2 < rank10). */
static int natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t na = 0, nb = 0;
            while (isdigit((unsigned char)a[na]))
                na++;
            while (isdigit((unsigned char)b[nb]))
                nb++;
            if (na != nb)
                return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c)
                return c;
            a += na;
            b += nb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int path_cmp(const void *x, const void *y)
{
    const char *a = *(char *const *)x, *b = *(char *const *)y;
    int c = natcmp(an_base_name(a), an_base_name(b));
    return c ? c : natcmp(a, b);
}

static int add_path(struct sm_side *s, const char *p, size_t n)
{
    char **np = realloc(s->paths, (size_t)(s->npaths + 1) * sizeof *np);
    char *d = malloc(n + 1);
    if (np)
        s->paths = np;
    if (!np || !d) {
        free(d);
        return an_error(NULL, "out of memory");
    }
    memcpy(d, p, n);
    d[n] = 0;
    s->paths[s->npaths++] = d;
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int add_dir(struct sm_side *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return an_error(dir, "%s", strerror(errno));
    int before = s->npaths, rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!ends_with(de->d_name, ".mrz"))
            continue;
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = an_error(NULL, "out of memory");
            break;
        }
        snprintf(p, n, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_path(s, p, strlen(p));
        free(p);
    }
    closedir(d);
    if (!rc && s->npaths == before)
        rc = an_error(dir, "no .mrz traces in this folder");
    return rc;
}

int sm_expand(char *const *args, int nargs, struct sm_side *side)
{
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        struct stat st;
        int rc;
        if (stat(a, &st) == 0) {
            rc = S_ISDIR(st.st_mode) ? add_dir(side, a) : add_path(side, a, strlen(a));
        } else if (strchr(a, ',')) {
            rc = 0;
            for (const char *p = a; !rc && p;) {
                const char *c = strchr(p, ',');
                size_t n = c ? (size_t)(c - p) : strlen(p);
                if (n)
                    rc = add_path(side, p, n);
                p = c ? c + 1 : NULL;
            }
        } else {
            rc = an_error(a, "%s", strerror(errno));
        }
        if (rc)
            return rc;
    }
    qsort(side->paths, (size_t)side->npaths, sizeof *side->paths, path_cmp);
    return 0;
}

/* ------------------------------------------------------------ site tables */

/* Sites merge when key and lines are equal: one stack through different
 * return addresses of one line, or the same code in several processes. */
struct site_index { uint32_t *slot; size_t nslots; };

static uint64_t site_hash(const struct sm_site *s)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = s->key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (int i = 0; i < s->nlines; i++)
        h = (h ^ (uint64_t)(unsigned)s->lines[i]) * 1099511628211ull;
    return h;
}

static int site_same(const struct sm_site *a, const struct sm_site *b)
{
    return a->nlines == b->nlines && !strcmp(a->key, b->key) &&
           !memcmp(a->lines, b->lines, (size_t)a->nlines * sizeof *a->lines);
}

static void fig_add(struct sm_fig *d, const struct sm_fig *s)
{
    for (int m = 0; m < SM_NMETRICS; m++)
        d->v[m] += s->v[m];
}

static void site_free(struct sm_site *s)
{
    free(s->key);
    free(s->lines);
    free(s->frames);
    free(s->display);
}

/* Adds s to u (taking its memory), merging with an equal site. */
static int unit_add_site(struct sm_unit *u, struct site_index *ix, struct sm_site *s)
{
    if ((u->nsites + 1) * 2 > ix->nslots) {
        size_t n = ix->nslots ? ix->nslots * 2 : 256;
        uint32_t *ns = calloc(n, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < u->nsites; i++) {
            size_t j = (size_t)site_hash(&u->sites[i]) & (n - 1);
            while (ns[j])
                j = (j + 1) & (n - 1);
            ns[j] = (uint32_t)i + 1;
        }
        free(ix->slot);
        ix->slot = ns;
        ix->nslots = n;
        struct sm_site *nsites = realloc(u->sites, n / 2 * sizeof *nsites);
        if (!nsites)
            return -1;
        u->sites = nsites;
    }
    size_t mask = ix->nslots - 1, j = (size_t)site_hash(s) & mask;
    for (; ix->slot[j]; j = (j + 1) & mask) {
        struct sm_site *o = &u->sites[ix->slot[j] - 1];
        if (site_same(o, s)) {
            fig_add(&o->f, &s->f);
            site_free(s);
            return 0;
        }
    }
    u->sites[u->nsites] = *s;
    ix->slot[j] = (uint32_t)++u->nsites;
    return 0;
}

static void frame_token(struct sbuf *b, const struct sm_frame *f)
{
    if (f->function) {
        sb_str(b, f->function);
        if (f->file) {
            sb_str(b, "@");
            sb_str(b, an_base_name(f->file));
        }
    } else if (f->module) {
        sb_fmt(b, "%s+0x%" PRIx64, f->module, f->offset);
    } else {
        sb_fmt(b, "0x%" PRIx64, f->offset);
    }
}

static void frame_label(struct sbuf *b, const struct sm_frame *f)
{
    if (f->function)
        sb_str(b, f->function);
    else if (f->module)
        sb_fmt(b, "%s+0x%" PRIx64, f->module, f->offset);
    else
        sb_fmt(b, "0x%" PRIx64, f->offset);
    if (f->file && !f->system) {
        sb_fmt(b, " (%s", an_base_name(f->file));
        if (f->line)
            sb_fmt(b, ":%d", f->line);
        sb_str(b, ")");
    }
}

static int frame_eq(const struct sm_frame *a, const struct sm_frame *b)
{
    if (!a->function || !b->function)
        return 0;
    return !strcmp(a->function, b->function) && a->line == b->line &&
           (a->file ? b->file && !strcmp(a->file, b->file) : !b->file);
}

/* Innermost-first label: from the program's first own frame (with the
 * library call it made, e.g. strdup), up to four frames, stopping where
 * system frames start again (the C runtime's start-up).  Recursion shows
 * once, with its depth: "walk (tree.c:12) x7". */
static char *make_display(const struct sm_frame *fr, int n)
{
    struct sbuf b = {0};
    if (!n) {
        sb_str(&b, "(no stack)");
        return b.s;
    }
    int u = 0;
    while (u < n && fr[u].system)
        u++;
    int start = u == n ? 0 : u > 0 ? u - 1 : 0, shown = 0;
    for (int i = start; i < n && shown < 4;) {
        if (u < n && i > u && fr[i].system)
            break;
        if (u == n && shown == 2)
            break;
        if (shown++)
            sb_str(&b, " <- ");
        frame_label(&b, &fr[i]);
        int run = 1;
        while (i + run < n && frame_eq(&fr[i], &fr[i + run]))
            run++;
        if (run > 1)
            sb_fmt(&b, " x%d", run);
        i += run;
    }
    return b.s;
}

struct sym_warn_state { const char *path; int quiet; };

/* Both sides of a diff often hold the same modules: one warning each. */
static void on_sym_warn(void *user, const char *msg)
{
    struct sym_warn_state *w = user;
    static uint64_t seen[64];
    static unsigned nseen;
    uint64_t h = 1469598103934665603ull;
    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (unsigned i = 0; i < nseen; i++)
        if (seen[i] == h)
            return;
    if (nseen < 64)
        seen[nseen++] = h;
    if (!w->quiet)
        an_warn(w->path, "%s", msg);
}

/* Builds the sm_site of engine site si (figures included). */
static int build_site(struct sm_side *side, struct rp_engine *e, struct sym_ctx *sym, uint32_t si,
                      uint64_t **ips, int *cap, struct sm_site *out)
{
    const struct rp_site *st = rp_site(e, si);
    memset(out, 0, sizeof *out);
    int depth = si ? rp_stack(e, st->node, *ips, *cap) : 0;
    if (depth > *cap) {
        uint64_t *n = realloc(*ips, (size_t)depth * sizeof *n);
        if (!n)
            return -1;
        *ips = n;
        *cap = depth;
        depth = rp_stack(e, st->node, *ips, *cap);
    }
    int fcap = depth + 8;
    out->frames = malloc((size_t)fcap * sizeof *out->frames);
    if (!out->frames)
        return -1;
    for (int i = 0; i < depth; i++) {
        const struct sym_ip *r = sym_lookup(sym, (*ips)[i], 0);
        if (r->flags & SYM_RECORDER)
            continue;
        for (int k = 0; k < r->nframes; k++) {
            if (out->nframes == fcap) {
                fcap *= 2;
                struct sm_frame *nf = realloc(out->frames, (size_t)fcap * sizeof *nf);
                if (!nf)
                    return -1;
                out->frames = nf;
            }
            const struct sym_frame *sf = &r->frames[k];
            out->frames[out->nframes++] = (struct sm_frame){
                .function = pool_str(side->pool, sf->function),
                .file = pool_str(side->pool, sf->file),
                .module = pool_str(side->pool, r->module_name),
                .line = sf->line,
                .inlined = sf->inlined,
                .system = (r->flags & SYM_SYSTEM) != 0,
                .offset = r->offset,
            };
        }
    }
    struct sbuf key = {0};
    out->lines = malloc(((size_t)out->nframes + 1) * sizeof *out->lines);
    if (!out->lines)
        return -1;
    for (int i = out->nframes - 1; i >= 0; i--) {
        frame_token(&key, &out->frames[i]);
        if (i)
            sb_str(&key, ";");
        out->lines[out->nlines++] = out->frames[i].line;
    }
    if (!out->nframes)
        sb_str(&key, "(no stack)");
    out->key = key.s;
    out->display = make_display(out->frames, out->nframes);
    if (key.oom || !out->key || !out->display)
        return -1;
    out->space = st->space;
    out->f.v[SM_ALLOCATIONS] = st->allocs;
    out->f.v[SM_BYTES] = st->bytes;
    out->f.v[SM_PEAK] = st->peak_bytes;
    out->f.v[SM_LEAKED] = st->live_bytes;
    out->f.v[SM_LEAKED_BLOCKS] = st->live_count;
    out->f.v[SM_TEMPORARIES] = st->temporaries;
    return 0;
}

static void totals_add(struct sm_totals *t, const struct rp_totals *r)
{
    t->all.v[SM_ALLOCATIONS] += r->allocations;
    t->all.v[SM_BYTES] += r->bytes_allocated;
    t->all.v[SM_TEMPORARIES] += r->temporaries;
    t->all.v[SM_PEAK] += r->space[MRZ_S_HOST].peak_bytes;
    t->frees += r->frees;
    t->failed += r->failed;
    for (int s = 0; s < MRZ_S_COUNT; s++) {
        const struct rp_space_stats *p = &r->space[s];
        struct sm_fig *f = &t->space[s];
        f->v[SM_ALLOCATIONS] += p->allocs;
        f->v[SM_BYTES] += p->bytes;
        f->v[SM_PEAK] += p->peak_bytes;
        f->v[SM_LEAKED] += p->live_bytes;
        f->v[SM_LEAKED_BLOCKS] += p->live_count;
        t->all.v[SM_LEAKED] += p->live_bytes;
        t->all.v[SM_LEAKED_BLOCKS] += p->live_count;
    }
}

/* Replays one trace into unit u. */
static int load_trace(struct sm_side *side, const char *path, struct sm_unit *u, struct site_index *ix, int quiet,
                      char **program)
{
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    struct rp_engine *e = rp_new(r, &m);
    struct sym_warn_state ws = {path, quiet};
    struct sym_ctx *sym = e ? sym_new(&m, on_sym_warn, &ws) : NULL;
    uint64_t *ips = NULL;
    int cap = 0;
    if (!e || !sym) {
        rc = an_error(path, "out of memory");
        goto out;
    }
    int k = rp_run(e, NULL);
    if (k) {
        rc = an_error(path, "%s", mrz_strerror(k));
        goto out;
    }
    an_report_damage(path, r);
    totals_add(&u->t, rp_totals(e));
    for (uint32_t si = 0; si < rp_site_count(e); si++) {
        const struct rp_site *st = rp_site(e, si);
        if (!st->allocs && !st->failed)
            continue;
        struct sm_site s = {0};
        if (build_site(side, e, sym, si, &ips, &cap, &s) || unit_add_site(u, ix, &s)) {
            site_free(&s);
            rc = an_error(path, "out of memory");
            goto out;
        }
    }
    const char *prog = m.exe && *m.exe ? an_base_name(m.exe) : NULL;
    size_t n = prog ? strlen(prog) : strcspn(an_base_name(path), ".");
    *program = pool_dup(side->pool, prog ? prog : an_base_name(path), n);
out:
    free(ips);
    sym_free(sym);
    rp_free(e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}

int sm_load(struct sm_side *side, int aggregate, int quiet)
{
    if (!side->pool && !(side->pool = calloc(1, sizeof *side->pool)))
        return an_error(NULL, "out of memory");
    int nunits = aggregate ? 1 : side->npaths;
    side->units = calloc((size_t)nunits, sizeof *side->units);
    if (!side->units)
        return an_error(NULL, "out of memory");
    side->nunits = nunits;
    struct site_index ix = {0};
    int rc = 0;
    for (int i = 0; i < side->npaths && !rc; i++) {
        struct sm_unit *u = &side->units[aggregate ? 0 : i];
        if (!aggregate || i == 0) {
            free(ix.slot);
            ix = (struct site_index){0};
            u->traces = &side->paths[i];
        }
        u->ntraces++;
        char *prog = NULL;
        rc = load_trace(side, side->paths[i], u, &ix, quiet, &prog);
        if (!rc && !aggregate) {
            u->name = prog;
            for (int j = 0; j < i; j++)
                if (side->units[j].name && !strcmp(side->units[j].name, prog))
                    u->ordinal++;
        }
    }
    free(ix.slot);
    if (!rc && aggregate)
        side->units[0].name = "all";
    return rc;
}

void sm_side_free(struct sm_side *side)
{
    for (int i = 0; i < side->nunits; i++) {
        for (size_t k = 0; k < side->units[i].nsites; k++)
            site_free(&side->units[i].sites[k]);
        free(side->units[i].sites);
    }
    free(side->units);
    for (int i = 0; i < side->npaths; i++)
        free(side->paths[i]);
    free(side->paths);
    if (side->pool) {
        while (side->pool->head) {
            struct pool_blk *n = side->pool->head->next;
            free(side->pool->head);
            side->pool->head = n;
        }
        free(side->pool);
    }
    memset(side, 0, sizeof *side);
}

void sm_unit_label(const struct sm_unit *u, char *buf, size_t n)
{
    if (u->ordinal)
        snprintf(buf, n, "%s#%d", u->name, u->ordinal);
    else
        snprintf(buf, n, "%s", u->name);
}

/* ------------------------------------------------------------ matching */

struct ref { const struct sm_site *s; int side; };

static int lines_cmp(const struct sm_site *a, const struct sm_site *b)
{
    for (int i = 0; i < a->nlines && i < b->nlines; i++)
        if (a->lines[i] != b->lines[i])
            return a->lines[i] < b->lines[i] ? -1 : 1;
    return a->nlines < b->nlines ? -1 : a->nlines > b->nlines;
}

static int ref_cmp(const void *x, const void *y)
{
    const struct ref *a = x, *b = y;
    int c = strcmp(a->s->key, b->s->key);
    if (c)
        return c;
    if (a->side != b->side)
        return a->side - b->side;
    return lines_cmp(a->s, b->s);
}

long sm_match(const struct sm_unit *b, const struct sm_unit *n, struct sm_pair **out)
{
    size_t nb = b ? b->nsites : 0, nn = n ? n->nsites : 0, total = nb + nn;
    struct ref *refs = malloc((total + 1) * sizeof *refs);
    struct sm_pair *pairs = calloc(total + 1, sizeof *pairs);
    if (!refs || !pairs) {
        free(refs);
        free(pairs);
        return -1;
    }
    for (size_t i = 0; i < nb; i++)
        refs[i] = (struct ref){&b->sites[i], 0};
    for (size_t i = 0; i < nn; i++)
        refs[nb + i] = (struct ref){&n->sites[i], 1};
    qsort(refs, total, sizeof *refs, ref_cmp);
    long np = 0;
    for (size_t i = 0; i < total;) {
        size_t j = i, cb = 0;
        while (j < total && !strcmp(refs[j].s->key, refs[i].s->key)) {
            cb += refs[j].side == 0;
            j++;
        }
        size_t cn = j - i - cb;
        if (cb == cn || !cb || !cn) {
            /* pair in line order; a side without the key leaves the others alone */
            size_t k = cb > cn ? cb : cn;
            for (size_t q = 0; q < k; q++) {
                struct sm_pair *p = &pairs[np++];
                if (q < cb) {
                    p->base = refs[i + q].s;
                    p->b = p->base->f;
                    p->nb = 1;
                }
                if (q < cn) {
                    p->new = refs[i + cb + q].s;
                    p->n = p->new->f;
                    p->nn = 1;
                }
            }
        } else {
            struct sm_pair *p = &pairs[np++];
            p->base = refs[i].s;
            p->new = refs[i + cb].s;
            p->nb = (int)cb;
            p->nn = (int)cn;
            for (size_t q = i; q < j; q++)
                fig_add(q < i + cb ? &p->b : &p->n, &refs[q].s->f);
        }
        i = j;
    }
    free(refs);
    *out = pairs;
    return np;
}

int sm_match_units(const struct sm_side *b, const struct sm_side *n, const struct sm_unit *(**out)[2])
{
    const struct sm_unit *(*p)[2] = calloc((size_t)(b->nunits + n->nunits + 1), sizeof *p);
    if (!p)
        return -1;
    int np = 0;
    if (b->nunits == 1 && n->nunits == 1) {
        p[0][0] = &b->units[0];
        p[0][1] = &n->units[0];
        *out = p;
        return 1;
    }
    char *used = calloc((size_t)n->nunits + 1, 1);
    if (!used) {
        free(p);
        return -1;
    }
    for (int i = 0; i < b->nunits; i++) {
        const struct sm_unit *u = &b->units[i];
        p[np][0] = u;
        for (int j = 0; j < n->nunits; j++)
            if (!used[j] && n->units[j].ordinal == u->ordinal && !strcmp(n->units[j].name, u->name)) {
                used[j] = 1;
                p[np][1] = &n->units[j];
                break;
            }
        np++;
    }
    for (int j = 0; j < n->nunits; j++)
        if (!used[j])
            p[np++][1] = &n->units[j];
    free(used);
    *out = p;
    return np;
}

/* ------------------------------------------------------------ JSON */

void sm_json_site(FILE *f, const struct sm_site *s)
{
    fputs("\"key\":", f);
    an_json_cstr(f, s->key);
    fputs(",\"display\":", f);
    an_json_cstr(f, s->display);
    fprintf(f, ",\"space\":\"%s\",\"frames\":[", mrz_space_name(s->space) ? mrz_space_name(s->space) : "?");
    for (int i = 0; i < s->nframes; i++) {
        const struct sm_frame *fr = &s->frames[i];
        fprintf(f, "%s{\"function\":", i ? "," : "");
        an_json_cstr(f, fr->function);
        fputs(",\"file\":", f);
        an_json_cstr(f, fr->file);
        fprintf(f, ",\"line\":%d,\"module\":", fr->line);
        an_json_cstr(f, fr->module);
        fprintf(f, ",\"offset\":%" PRIu64 ",\"inlined\":%s,\"system\":%s}", fr->offset, fr->inlined ? "true" : "false",
                fr->system ? "true" : "false");
    }
    fputc(']', f);
}

void sm_json_fig(FILE *f, const struct sm_fig *g)
{
    fputc('{', f);
    for (int m = 0; m < SM_NMETRICS; m++)
        fprintf(f, "%s\"%s\":%" PRIu64, m ? "," : "", sm_metric_name(m), g->v[m]);
    fputc('}', f);
}

void sm_json_totals(FILE *f, const struct sm_totals *t)
{
    fputc('{', f);
    for (int m = 0; m < SM_NMETRICS; m++)
        fprintf(f, "\"%s\":%" PRIu64 ",", sm_metric_name(m), t->all.v[m]);
    fprintf(f, "\"frees\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"spaces\":{", t->frees, t->failed);
    int first = 1;
    for (int s = 0; s < MRZ_S_COUNT; s++) {
        const struct sm_fig *g = &t->space[s];
        if (s != MRZ_S_HOST && !g->v[SM_ALLOCATIONS] && !g->v[SM_LEAKED])
            continue;
        fprintf(f, "%s\"%s\":{", first ? "" : ",", mrz_space_name((unsigned)s));
        first = 0;
        int m1 = 1;
        for (int m = 0; m < SM_NMETRICS; m++)
            if (m != SM_TEMPORARIES) {
                fprintf(f, "%s\"%s\":%" PRIu64, m1 ? "" : ",", sm_metric_name(m), g->v[m]);
                m1 = 0;
            }
        fputc('}', f);
    }
    fputs("}}", f);
}
