/* mallocan report: totals, the exact peak and what holds it, leaks,
 * temporaries, lifetimes and the top allocation sites, symbolized.
 *
 * One replay: the engine keeps the per-site figures (including each site's
 * bytes at its space's peak); this file adds the lifetime histogram and the
 * short-lived counts in on_free, then merges the sites that read the same
 * once symbolized (make_groups), sorts and prints.  The frames a report
 * hides (C library, loader) are never symbolized. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grouping.h"
#include "regions.h"
#include "replay.h"
#include "symbols.h"

static const struct an_opt opts[] = {
    {"top", 'n', "N", "sites per list; 0: all", "10"},
    {"sort", 's', "KEY", "top sites by bytes, count, peak, leaked or temporary", "peak"},
    {"full-stacks", 0, NULL, "every frame, libc/libstdc++/ld.so included (default: the program's frames)", NULL},
    {"depth", 0, "N", "frames per stack in text; 0: all", "8"},
    {"short-lived", 0, "TIME", "lifetime below which a block counts as short-lived (ns, us, ms, s)", "1ms"},
    {"by", 0, "KEY", "region: the region tree (mallocrec_region_begin) instead of sites", NULL},
    {"format", 0, "FMT", "text or json", "text"},
    {0},
};

enum sort_key { BY_BYTES, BY_COUNT, BY_PEAK, BY_LEAKED, BY_TEMPORARY, BY_SHORT };
static const char *const sort_names[] = {"bytes", "count", "peak", "leaked", "temporary"};

#define LIFE_BUCKETS 64
#define MAX_IPS 256
#define MAX_FRAMES 512

/* The engine's sites are distinct stacks; a report shows sites by their
 * symbolized frames, so stacks that read the same (an unrolled loop's
 * calls, or paths that differ only inside libc when its frames are hidden)
 * are one site, their figures summed. */
struct group {
    uint32_t site;               /* a representative engine site (its frames) */
    uint32_t stacks;             /* engine sites merged */
    uint8_t space;
    uint64_t allocs, frees, reallocs, failed, bytes, peak_bytes, peak_count, live_bytes, live_count, temporaries,
        short_lived, min_size, max_size;
    uint64_t hash;
};

struct rep {
    const char *path;
    FILE *f;
    int json, full;
    long top, depth;
    enum sort_key sort;
    uint64_t short_ns;
    struct rp_engine *e;
    const struct an_meta *m;
    struct sym_ctx *sym;
    uint64_t life[LIFE_BUCKETS]; /* bucket k: lifetimes in [2^k, 2^(k+1)) ns; 0 also holds 0 */
    uint64_t freed, short_lived;
    uint64_t *site_short;        /* short-lived count per site */
    size_t site_short_cap;
    struct group *groups;        /* sites as shown: see make_groups */
    uint32_t ngroups;
    uint32_t *order;             /* scratch: group indices */
    enum sort_key cur_key;       /* for cmp_groups */
};

/* ------------------------------------------------------------ replay */

static void on_free(void *user, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary,
                    int by_realloc)
{
    (void)e;
    (void)temporary;
    struct rep *r = user;
    if (by_realloc) /* the block lives on as realloc's new block */
        return;
    uint64_t life = t > b->t_alloc ? t - b->t_alloc : 0;
    r->life[life ? 63 - __builtin_clzll(life) : 0]++;
    r->freed++;
    if (life >= r->short_ns)
        return;
    r->short_lived++;
    if (b->site >= r->site_short_cap) {
        size_t ncap = r->site_short_cap ? r->site_short_cap : 1024;
        while (ncap <= b->site)
            ncap *= 2;
        uint64_t *n = realloc(r->site_short, ncap * sizeof *n);
        if (!n)
            return;
        memset(n + r->site_short_cap, 0, (ncap - r->site_short_cap) * sizeof *n);
        r->site_short = n;
        r->site_short_cap = ncap;
    }
    r->site_short[b->site]++;
}

static uint64_t site_short(const struct rep *r, uint32_t s) { return s < r->site_short_cap ? r->site_short[s] : 0; }

/* ------------------------------------------------------------ formatting */

static const char *fmt_rate(char *buf, size_t n, double v)
{
    if (v < 1e3)
        snprintf(buf, n, "%.0f", v);
    else if (v < 1e6)
        snprintf(buf, n, "%.3g k", v / 1e3);
    else
        snprintf(buf, n, "%.3g M", v / 1e6);
    return buf;
}

static double pct(uint64_t a, uint64_t b) { return b ? 100.0 * (double)a / (double)b : 0; }

/* "5ms", "200us", "1s", "750" (ns) */
static int parse_time(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = 1;
    if (!*end || !strcmp(end, "ns"))
        mul = 1;
    else if (!strcmp(end, "us"))
        mul = 1e3;
    else if (!strcmp(end, "ms"))
        mul = 1e6;
    else if (!strcmp(end, "s"))
        mul = 1e9;
    else
        return -1;
    *out = (uint64_t)(v * mul + 0.5);
    return 0;
}

/* ------------------------------------------------------------ stacks */

struct shown { const struct sym_ip *ip; const struct sym_frame *fr; };

/* The frames of site s to show, innermost first: never the recorder's;
 * by default not the C/C++ runtime's or the loader's either, unless the
 * stack has nothing else.  @return the count, *depth the recorded depth. */
static int site_frames(struct rep *r, uint32_t s, struct shown *out, int max, int *depth)
{
    uint64_t ips[MAX_IPS];
    const struct rp_site *st = rp_site(r->e, s);
    int n = st && s ? rp_stack(r->e, st->node, ips, MAX_IPS) : 0;
    *depth = n;
    if (n > MAX_IPS)
        n = MAX_IPS;
    for (int pass = r->full ? 1 : 0; pass < 2; pass++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (pass == 0 && (sym_flags(r->sym, ips[i], 0) & (SYM_SYSTEM | SYM_RECORDER)))
                continue; /* hidden: not worth symbolizing */
            const struct sym_ip *ip = sym_lookup(r->sym, ips[i], 0);
            if ((ip->flags & SYM_RECORDER) || (pass == 0 && (ip->flags & SYM_SYSTEM)))
                continue;
            for (int j = 0; j < ip->nframes && k < max; j++)
                out[k++] = (struct shown){ip, &ip->frames[j]};
        }
        if (k || pass == 1)
            return k;
    }
    return 0;
}

static void text_frame(FILE *f, const struct shown *sh)
{
    const struct sym_frame *fr = sh->fr;
    const struct sym_ip *ip = sh->ip;
    if (fr->function) {
        size_t len = strlen(fr->function);
        if (len > 100)
            fprintf(f, "%.97s...", fr->function);
        else
            fputs(fr->function, f);
        if (fr->file)
            fprintf(f, " (%s:%d)", an_base_name(fr->file), fr->line);
        else if (ip->module_name)
            fprintf(f, " [%s]", ip->module_name);
    } else if (fr->file) { /* a nameless (inlined) function with a line */
        fprintf(f, "?? (%s:%d)", an_base_name(fr->file), fr->line);
    } else if (ip->module_name) {
        fprintf(f, "%s+0x%" PRIx64, ip->module_name, ip->offset);
    } else {
        fprintf(f, "0x%" PRIx64, ip->ip);
    }
    if (fr->inlined)
        fputs(" (inlined)", f);
}

/* One line naming a site: its first frame, then its caller's function. */
static int str_eq(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static int same_frame(const struct shown *a, const struct shown *b)
{
    const struct sym_frame *x = a->fr, *y = b->fr;
    if (!str_eq(x->function, y->function) || !str_eq(x->file, y->file) || x->line != y->line ||
        x->inlined != y->inlined)
        return 0;
    return x->function || (str_eq(a->ip->module, b->ip->module) && a->ip->offset == b->ip->offset);
}

/* Frames i.. that read the same (recursion): @return how many. */
static int run_len(const struct shown *sh, int n, int i)
{
    int k = 1;
    while (i + k < n && same_frame(&sh[i], &sh[i + k]))
        k++;
    return k;
}

/* One line naming a site: its first frame, then its caller's function. */
static void text_site_line(struct rep *r, uint32_t s)
{
    struct shown sh[MAX_FRAMES];
    int depth, n = site_frames(r, s, sh, MAX_FRAMES, &depth);
    if (!n) {
        fputs("(no stack)", r->f);
        return;
    }
    int k = run_len(sh, n, 0);
    text_frame(r->f, &sh[0]);
    if (k > 1)
        fprintf(r->f, " x%d", k);
    if (k < n) {
        fputs(" <- ", r->f);
        const char *fn = sh[k].fr->function;
        if (fn)
            fprintf(r->f, "%.60s%s", fn, strlen(fn) > 60 ? "..." : "");
        else
            text_frame(r->f, &sh[k]);
    }
}

/* The site's frames, one per line; a recursion's repeated frames once. */
static void text_stack(struct rep *r, uint32_t s, const char *indent)
{
    struct shown sh[MAX_FRAMES];
    int depth, n = site_frames(r, s, sh, MAX_FRAMES, &depth);
    if (!n) {
        fprintf(r->f, "%s(no stack)\n", indent);
        return;
    }
    int lines = 0, i = 0;
    while (i < n && (r->depth <= 0 || lines < r->depth)) {
        int k = run_len(sh, n, i);
        fputs(indent, r->f);
        text_frame(r->f, &sh[i]);
        if (k > 1)
            fprintf(r->f, " x%d (recursion)", k);
        fputc('\n', r->f);
        lines++;
        i += k;
    }
    if (i < n)
        fprintf(r->f, "%s... %d more frame%s\n", indent, n - i, n - i == 1 ? "" : "s");
}

static void json_site(struct rep *r, uint32_t gi)
{
    const struct group *g = &r->groups[gi];
    FILE *f = r->f;
    fprintf(f, "{\"id\":%u,\"space\":\"%s\",\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"reallocs\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"peak_bytes\":%" PRIu64 ",\"peak_allocations\":%" PRIu64
               ",\"leaked_bytes\":%" PRIu64 ",\"leaked_allocations\":%" PRIu64 ",\"temporaries\":%" PRIu64
               ",\"short_lived\":%" PRIu64 ",\"min_size\":%" PRIu64 ",\"max_size\":%" PRIu64 ",\"stacks\":%u",
            gi, mrz_space_name(g->space), g->allocs, g->frees, g->reallocs, g->failed, g->bytes, g->peak_bytes,
            g->peak_count, g->live_bytes, g->live_count, g->temporaries, g->short_lived, g->allocs ? g->min_size : 0,
            g->max_size, g->stacks);
    struct shown sh[MAX_FRAMES];
    int depth, n = site_frames(r, g->site, sh, MAX_FRAMES, &depth);
    fprintf(f, ",\"depth\":%d,\"frames\":[", depth);
    for (int i = 0; i < n; i++) {
        const struct sym_frame *fr = sh[i].fr;
        const struct sym_ip *ip = sh[i].ip;
        fputs(i ? ",{\"function\":" : "{\"function\":", f);
        an_json_cstr(f, fr->function);
        fputs(",\"file\":", f);
        an_json_cstr(f, fr->file);
        fprintf(f, ",\"line\":%d,\"module\":", fr->line);
        an_json_cstr(f, ip->module);
        fprintf(f, ",\"offset\":%" PRIu64 ",\"address\":%" PRIu64 ",\"inlined\":%s,\"system\":%s}", ip->offset, ip->ip,
                fr->inlined ? "true" : "false", ip->flags & SYM_SYSTEM ? "true" : "false");
    }
    fputs("]}", f);
}

/* ------------------------------------------------------------ sites as shown */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "\xff", 1); }

static uint64_t frames_hash(const struct shown *sh, int n, uint8_t space)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, &space, 1);
    for (int i = 0; i < n; i++) {
        const struct sym_frame *fr = sh[i].fr;
        h = fnv_str(fnv_str(h, fr->function), fr->file);
        int li[2] = {fr->line, fr->inlined};
        h = fnv(h, li, sizeof li);
        if (!fr->function) { /* unsymbolized: module+offset is its name */
            h = fnv_str(h, sh[i].ip->module);
            h = fnv(h, &sh[i].ip->offset, sizeof sh[i].ip->offset);
        }
    }
    return h;
}

static int frames_equal(const struct shown *a, int na, const struct shown *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (!same_frame(&a[i], &b[i]))
            return 0;
    return 1;
}

static int make_groups(struct rep *r)
{
    uint32_t ns = rp_site_count(r->e), cap = 16;
    while (cap < 2 * ns)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot); /* group index + 1 */
    r->groups = calloc((size_t)ns + 1, sizeof *r->groups);
    r->order = malloc(((size_t)ns + 1) * sizeof *r->order);
    static struct shown a[MAX_FRAMES], b[MAX_FRAMES];
    if (!slot || !r->groups || !r->order) {
        free(slot);
        return -1;
    }
    for (uint32_t s = 0; s < ns; s++) {
        const struct rp_site *st = rp_site(r->e, s);
        if (!st->allocs && !st->failed)
            continue;
        int depth, na = site_frames(r, s, a, MAX_FRAMES, &depth);
        uint64_t h = frames_hash(a, na, st->space);
        uint32_t j = (uint32_t)(h >> 32) & (cap - 1);
        struct group *g = NULL;
        for (; slot[j]; j = (j + 1) & (cap - 1)) {
            struct group *c = &r->groups[slot[j] - 1];
            if (c->hash != h || c->space != st->space)
                continue;
            int nb = site_frames(r, c->site, b, MAX_FRAMES, &depth);
            if (frames_equal(a, na, b, nb)) {
                g = c;
                break;
            }
        }
        if (!g) {
            g = &r->groups[r->ngroups++];
            slot[j] = r->ngroups;
            *g = (struct group){.site = s, .space = st->space, .hash = h, .min_size = UINT64_MAX};
        }
        g->stacks++;
        g->allocs += st->allocs;
        g->frees += st->frees;
        g->reallocs += st->reallocs;
        g->failed += st->failed;
        g->bytes += st->bytes;
        g->peak_bytes += st->peak_bytes;
        g->peak_count += st->peak_count;
        g->live_bytes += st->live_bytes;
        g->live_count += st->live_count;
        g->temporaries += st->temporaries;
        g->short_lived += site_short(r, s);
        if (st->allocs && st->min_size < g->min_size)
            g->min_size = st->min_size;
        if (st->max_size > g->max_size)
            g->max_size = st->max_size;
    }
    free(slot);
    return 0;
}

/* ------------------------------------------------------------ sorting */

static uint64_t key_of(const struct group *g, enum sort_key k)
{
    switch (k) {
    case BY_BYTES: return g->bytes;
    case BY_COUNT: return g->allocs;
    case BY_PEAK: return g->peak_bytes;
    case BY_LEAKED: return g->live_bytes;
    case BY_TEMPORARY: return g->temporaries;
    case BY_SHORT: return g->short_lived;
    }
    return 0;
}

static int cmp_groups(const void *a, const void *b, void *arg)
{
    const struct rep *r = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const struct group *gx = &r->groups[x], *gy = &r->groups[y];
    uint64_t kx = key_of(gx, r->cur_key), ky = key_of(gy, r->cur_key);
    if (kx != ky)
        return kx < ky ? 1 : -1;
    if (gx->bytes != gy->bytes)
        return gx->bytes < gy->bytes ? 1 : -1;
    return x < y ? -1 : x > y;
}

/* Sites of space (or any, -1), sorted by key; with only_nonzero, those
 * whose key is not 0.  At most --top.  @return the count, in r->order. */
static uint32_t select_sites(struct rep *r, enum sort_key key, int space, int only_nonzero)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->ngroups; i++) {
        const struct group *g = &r->groups[i];
        if ((space >= 0 && g->space != space) || (only_nonzero && !key_of(g, key)))
            continue;
        r->order[n++] = i;
    }
    r->cur_key = key;
    qsort_r(r->order, n, sizeof *r->order, cmp_groups, r);
    if (r->top > 0 && n > (uint32_t)r->top)
        n = (uint32_t)r->top;
    return n;
}

/* ------------------------------------------------------------ figures */

struct figures {
    uint64_t duration_ns, leaked, leaked_bytes;
    double rate;
};

static void compute(struct rep *r, struct figures *g)
{
    const struct rp_totals *t = rp_totals(r->e);
    double end = r->m->end_ticks ? an_ns(r->m, r->m->end_ticks) : 0;
    g->duration_ns = t->last_ns;
    if (end > (double)g->duration_ns)
        g->duration_ns = (uint64_t)end;
    g->leaked = g->leaked_bytes = 0;
    for (int s = 0; s < MRZ_S_COUNT; s++) {
        g->leaked += t->space[s].live_count;
        g->leaked_bytes += t->space[s].live_bytes;
    }
    g->rate = g->duration_ns ? (double)t->allocations * 1e9 / (double)g->duration_ns : 0;
}

static const char *end_text(const struct an_meta *m, char *buf, size_t n)
{
    if (!m->have_end)
        snprintf(buf, n, "end unknown");
    else if (m->end_how == MRZ_END_EXIT)
        snprintf(buf, n, "exited %d", m->end_value);
    else if (m->end_how == MRZ_END_SIGNAL)
        snprintf(buf, n, "killed by signal %d", m->end_value);
    else if (m->end_how == MRZ_END_EXEC)
        snprintf(buf, n, "replaced by exec");
    else
        snprintf(buf, n, "end unknown");
    return buf;
}

/* ------------------------------------------------------------ text */

/* The top sites by their temporaries or short-lived blocks (key), with
 * their allocations. */
static void text_count_sites(struct rep *r, enum sort_key key, const char *title)
{
    uint32_t n = select_sites(r, key, -1, 1);
    if (n)
        fprintf(r->f, "  %12s %7s  site\n", title, "allocs");
    for (uint32_t i = 0; i < n; i++) {
        const struct group *s = &r->groups[r->order[i]];
        fprintf(r->f, "  %12" PRIu64 " %7" PRIu64 "  ", key == BY_SHORT ? s->short_lived : s->temporaries, s->allocs);
        text_site_line(r, s->site);
        fputc('\n', r->f);
    }
}

static void text_report(struct rep *r)
{
    FILE *f = r->f;
    const struct rp_totals *t = rp_totals(r->e);
    struct figures g;
    compute(r, &g);
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    fprintf(f, "%s: %s (pid %u, %s)\n", r->path, r->m->cmdline && *r->m->cmdline ? r->m->cmdline : "?", r->m->pid,
            end_text(r->m, b1, sizeof b1));

    fprintf(f, "\nTOTALS\n  allocations      %" PRIu64 "\n", t->allocations);
    /* calls per function, wrapped to fit 80 columns */
    int col = 0;
    char item[64];
    uint64_t cuda = 0;
    for (int sp = 1; sp < MRZ_S_COUNT; sp++)
        cuda += t->space[sp].allocs;
    for (int k = 1; k <= MRZ_K_MAX + 1; k++) {
        if (k <= MRZ_K_MAX && t->kind[k] && mrz_kind_name((unsigned)k))
            snprintf(item, sizeof item, "%s %" PRIu64, mrz_kind_name((unsigned)k), t->kind[k]);
        else if (k == MRZ_K_MAX + 1 && cuda)
            snprintf(item, sizeof item, "CUDA %" PRIu64, cuda);
        else
            continue;
        if (col && col + 2 + (int)strlen(item) > 78) {
            fputs(",\n", f);
            col = 0;
        }
        col += fprintf(f, "%s%s", col ? ", " : "    ", item);
    }
    if (col)
        fputc('\n', f);
    fprintf(f, "  frees            %" PRIu64 "\n  reallocs         %" PRIu64 "\n", t->frees, t->reallocs);
    fprintf(f, "  bytes allocated  %s\n", gr_fmt_bytes(b1, sizeof b1, t->bytes_allocated));
    fprintf(f, "  duration         %s, %u thread%s, %s allocations/s\n",
            gr_fmt_ns(b1, sizeof b1, (double)g.duration_ns), rp_thread_count(r->e),
            rp_thread_count(r->e) == 1 ? "" : "s", fmt_rate(b2, sizeof b2, g.rate));
    if (r->m->sample_bytes)
        fprintf(f, "  sampled          1 allocation per %s on average; the program made about %.0f\n"
                   "                   allocations of %s in all (the figures below count recorded ones)\n",
                gr_fmt_bytes(b1, sizeof b1, r->m->sample_bytes), t->est.allocations,
                gr_fmt_bytes(b2, sizeof b2, (uint64_t)t->est.bytes));
    if (t->failed)
        fprintf(f, "  failed           %" PRIu64 " (returned NULL or an error)\n", t->failed);
    if (t->lost)
        fprintf(f, "  lost             %" PRIu64 " events the recorder could not write: figures are lower bounds\n",
                t->lost);
    /* the program switched recording off: what it allocated meanwhile is
     * unknown, and freeing it later is expected */
    if (t->unknown_frees || t->overwritten)
        fprintf(f, "  unmatched        %" PRIu64 " frees of %s, %" PRIu64 " blocks replaced while live\n",
                t->unknown_frees,
                t->paused ? "blocks allocated while recording was paused (expected)" : "unknown blocks",
                t->overwritten);

    for (int sp = 0; sp < MRZ_S_COUNT; sp++) {
        const struct rp_space_stats *ss = &t->space[sp];
        if (!ss->allocs && sp != MRZ_S_HOST)
            continue;
        fprintf(f, "\nPEAK %s: %s (%" PRIu64 " bytes) in %" PRIu64 " blocks at %s", sp ? mrz_space_name((unsigned)sp) : "host heap",
                gr_fmt_bytes(b1, sizeof b1, ss->peak_bytes), ss->peak_bytes, ss->peak_count,
                gr_fmt_ns(b2, sizeof b2, (double)ss->peak_time_ns));
        if (g.duration_ns)
            fprintf(f, " (%.0f%% into the run)", pct(ss->peak_time_ns, g.duration_ns));
        if (r->m->sample_bytes)
            fprintf(f, ";\n  estimated from the sample: %s",
                    gr_fmt_bytes(b1, sizeof b1, (uint64_t)t->est.peak_bytes[sp]));
        fputc('\n', f);
        uint32_t n = select_sites(r, BY_PEAK, sp, 1);
        if (n)
            fprintf(f, "  %12s %7s  site\n", "at peak", "blocks");
        for (uint32_t i = 0; i < n; i++) {
            const struct group *s = &r->groups[r->order[i]];
            fprintf(f, "  %12s %7" PRIu64 "  ", gr_fmt_bytes(b1, sizeof b1, s->peak_bytes), s->peak_count);
            text_site_line(r, s->site);
            fputc('\n', f);
        }
    }

    fprintf(f, "\nLEAKS: %" PRIu64 " allocation%s, %s still live at the end of the trace\n", g.leaked,
            g.leaked == 1 ? "" : "s", gr_fmt_bytes(b1, sizeof b1, g.leaked_bytes));
    uint32_t n = select_sites(r, BY_LEAKED, -1, 1);
    if (n)
        fprintf(f, "  %12s %7s  site\n", "leaked", "blocks");
    for (uint32_t i = 0; i < n; i++) {
        const struct group *s = &r->groups[r->order[i]];
        fprintf(f, "  %12s %7" PRIu64 "  ", gr_fmt_bytes(b1, sizeof b1, s->live_bytes), s->live_count);
        text_site_line(r, s->site);
        fputc('\n', f);
    }

    fprintf(f,
            "\nTEMPORARIES: %" PRIu64 " (%.1f%% of allocations) freed before their thread allocated again\n"
            "  short-lived: %" PRIu64 " (%.1f%%) freed within %s\n",
            t->temporaries, pct(t->temporaries, t->allocations), r->short_lived, pct(r->short_lived, t->allocations),
            gr_fmt_ns(b1, sizeof b1, (double)r->short_ns));
    text_count_sites(r, BY_TEMPORARY, "temporaries");
    text_count_sites(r, BY_SHORT, "short-lived");

    fprintf(f, "\nLIFETIMES of %" PRIu64 " freed blocks (log2 buckets)\n", r->freed);
    uint64_t most = 0;
    int lo = -1, hi = -1;
    for (int k = 0; k < LIFE_BUCKETS; k++)
        if (r->life[k]) {
            most = r->life[k] > most ? r->life[k] : most;
            lo = lo < 0 ? k : lo;
            hi = k;
        }
    for (int k = lo; lo >= 0 && k <= hi; k++) {
        int bar = most ? (int)((r->life[k] * 40 + most - 1) / most) : 0;
        fprintf(f, "  %9s - %-9s %10" PRIu64 " %5.1f%%%s", gr_fmt_ns(b1, sizeof b1, k ? (double)(1ull << k) : 0),
                gr_fmt_ns(b2, sizeof b2, (double)(2ull << k)), r->life[k], pct(r->life[k], r->freed), bar ? " " : "");
        for (int i = 0; i < bar; i++)
            fputc('#', f);
        fputc('\n', f);
    }
    if (g.leaked)
        fprintf(f, "  %21s %10" PRIu64 " still live at the end\n", "", g.leaked);

    n = select_sites(r, r->sort, -1, 0);
    fprintf(f, "\nTOP SITES by %s\n", sort_names[r->sort]);
    for (uint32_t i = 0; i < n; i++) {
        const struct group *s = &r->groups[r->order[i]];
        fprintf(f, "#%-3u %s in %" PRIu64 " allocation%s", i + 1, gr_fmt_bytes(b1, sizeof b1, s->bytes), s->allocs,
                s->allocs == 1 ? "" : "s");
        if (s->allocs && s->min_size == s->max_size)
            fprintf(f, " of %s", gr_fmt_bytes(b2, sizeof b2, s->max_size));
        else if (s->allocs)
            fprintf(f, " (%s..%s)", gr_fmt_bytes(b2, sizeof b2, s->min_size), gr_fmt_bytes(b3, sizeof b3, s->max_size));
        fprintf(f, ", %s at peak", gr_fmt_bytes(b4, sizeof b4, s->peak_bytes));
        if (s->live_bytes)
            fprintf(f, ", %s leaked", gr_fmt_bytes(b5, sizeof b5, s->live_bytes));
        if (s->temporaries)
            fprintf(f, ", %" PRIu64 " temporar%s", s->temporaries, s->temporaries == 1 ? "y" : "ies");
        if (s->failed)
            fprintf(f, ", %" PRIu64 " failed", s->failed);
        if (s->space)
            fprintf(f, ", %s", mrz_space_name(s->space));
        fputc('\n', f);
        text_stack(r, s->site, "     ");
    }
}

/* ------------------------------------------------------------ json */

static void json_list(struct rep *r, uint32_t n)
{
    fputc('[', r->f);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            fputc(',', r->f);
        json_site(r, r->order[i]);
    }
    fputc(']', r->f);
}

static void json_report(struct rep *r)
{
    FILE *f = r->f;
    const struct rp_totals *t = rp_totals(r->e);
    struct figures g;
    compute(r, &g);
    fputs("{\"trace\":", f);
    an_json_cstr(f, r->path);
    fprintf(f, ",\"pid\":%u,\"exe\":", r->m->pid);
    an_json_cstr(f, r->m->exe);
    fputs(",\"command\":", f);
    an_json_cstr(f, r->m->cmdline);
    fprintf(f, ",\"totals\":{\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"reallocs\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"bytes_allocated\":%" PRIu64 ",\"events\":%" PRIu64
               ",\"duration_ns\":%" PRIu64 ",\"threads\":%u,\"allocations_per_second\":%.1f,\"lost\":%" PRIu64
               ",\"unknown_frees\":%" PRIu64 ",\"overwritten\":%" PRIu64 ",\"paused\":%" PRIu64 ",\"kinds\":{",
            t->allocations, t->frees, t->reallocs, t->failed, t->bytes_allocated, t->events, g.duration_ns,
            rp_thread_count(r->e), g.rate, t->lost, t->unknown_frees, t->overwritten, t->paused);
    int first = 1;
    for (int k = 1; k <= MRZ_K_MAX; k++)
        if (mrz_kind_name((unsigned)k)) {
            fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", mrz_kind_name((unsigned)k), t->kind[k]);
            first = 0;
        }
    fputs("}}", f);
    if (r->m->sample_bytes) {
        double leaked = 0;
        for (int sp = 0; sp < MRZ_S_COUNT; sp++)
            leaked += t->est.live_bytes[sp];
        fprintf(f, ",\"sampling\":{\"bytes\":%" PRIu64 ",\"estimated_allocations\":%.0f,\"estimated_bytes\":%.0f"
                   ",\"estimated_peak_bytes\":%.0f,\"estimated_leaked_bytes\":%.0f}",
                r->m->sample_bytes, t->est.allocations, t->est.bytes, t->est.peak_bytes[MRZ_S_HOST], leaked);
    } else {
        fputs(",\"sampling\":null", f);
    }

    const struct rp_space_stats *h = &t->space[MRZ_S_HOST];
    fprintf(f, ",\"peak\":{\"bytes\":%" PRIu64 ",\"allocations\":%" PRIu64 ",\"time_ns\":%" PRIu64 ",\"sites\":",
            h->peak_bytes, h->peak_count, h->peak_time_ns);
    json_list(r, select_sites(r, BY_PEAK, MRZ_S_HOST, 1));
    fputs(",\"spaces\":[", f);
    first = 1;
    for (int sp = 0; sp < MRZ_S_COUNT; sp++) {
        const struct rp_space_stats *ss = &t->space[sp];
        if (!ss->allocs && sp != MRZ_S_HOST)
            continue;
        fprintf(f, "%s{\"space\":\"%s\",\"bytes\":%" PRIu64 ",\"allocations\":%" PRIu64 ",\"time_ns\":%" PRIu64
                   ",\"allocated\":%" PRIu64 ",\"bytes_allocated\":%" PRIu64 ",\"leaked_bytes\":%" PRIu64 ",\"sites\":",
                first ? "" : ",", mrz_space_name((unsigned)sp), ss->peak_bytes, ss->peak_count, ss->peak_time_ns,
                ss->allocs, ss->bytes, ss->live_bytes);
        json_list(r, select_sites(r, BY_PEAK, sp, 1));
        fputc('}', f);
        first = 0;
    }
    fputs("]}", f);

    fprintf(f, ",\"leaks\":{\"allocations\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"sites\":", g.leaked, g.leaked_bytes);
    json_list(r, select_sites(r, BY_LEAKED, -1, 1));
    fprintf(f, "},\"temporaries\":{\"allocations\":%" PRIu64 ",\"short_lived\":{\"threshold_ns\":%" PRIu64
               ",\"allocations\":%" PRIu64 ",\"sites\":",
            t->temporaries, r->short_ns, r->short_lived);
    json_list(r, select_sites(r, BY_SHORT, -1, 1));
    fputs("},\"sites\":", f);
    json_list(r, select_sites(r, BY_TEMPORARY, -1, 1));
    fprintf(f, "},\"lifetimes\":{\"freed\":%" PRIu64 ",\"still_live\":%" PRIu64 ",\"buckets\":[", r->freed, g.leaked);
    first = 1;
    for (int k = 0; k < LIFE_BUCKETS; k++)
        if (r->life[k]) {
            fprintf(f, "%s{\"min_ns\":%llu,\"max_ns\":%llu,\"count\":%" PRIu64 "}", first ? "" : ",",
                    k ? 1ull << k : 0ull, (2ull << k) - 1, r->life[k]);
            first = 0;
        }
    fprintf(f, "]},\"sort\":\"%s\",\"sites\":", sort_names[r->sort]);
    json_list(r, select_sites(r, r->sort, -1, 0));
    fputs("}\n", f);
}

/* ------------------------------------------------------------ command */

static void on_sym_warn(void *user, const char *msg)
{
    (void)user;
    an_warn(NULL, "%s", msg);
}

static int run(struct an_ctx *ctx)
{
    struct rep r = {.path = ctx->traces[0], .f = ctx->out};
    const char *fmt = an_get_format(ctx, "text|json");
    if (!fmt)
        return 2;
    r.json = !strcmp(fmt, "json");
    const char *by = an_get(ctx, "by");
    if (by && strcmp(by, "region"))
        return an_error(NULL, "report: --by: '%s' is not 'region'", by);
    if (by)
        return rg_report(r.path, ctx->out, r.json);
    r.full = an_get(ctx, "full-stacks") != NULL;
    if (an_get_long(ctx, "top", &r.top) || an_get_long(ctx, "depth", &r.depth))
        return 2;
    const char *sort = an_get(ctx, "sort");
    int k;
    for (k = 0; k < 5 && strcmp(sort, sort_names[k]); k++)
        ;
    if (k == 5)
        return an_error(NULL, "report: --sort: '%s' is not one of bytes, count, peak, leaked, temporary", sort);
    r.sort = (enum sort_key)k;
    if (parse_time(an_get(ctx, "short-lived"), &r.short_ns))
        return an_error(NULL, "report: --short-lived: '%s' is not a time such as 500us or 2ms",
                        an_get(ctx, "short-lived"));

    struct mrz_reader *rd;
    struct an_meta m;
    int rc = an_open(r.path, &rd, &m);
    if (rc)
        return rc;
    r.m = &m;
    r.e = rp_new(rd, &m);
    struct rp_handlers h = {.user = &r, .on_free = on_free};
    int e = r.e ? rp_run(r.e, &h) : MRZ_ENOMEM;
    if (e == 0) {
        an_report_damage(r.path, rd);
        if (!m.nmods && rp_totals(r.e)->allocations)
            an_warn(r.path, "no module records (the trace lost its metadata): frames show as addresses");
        r.sym = sym_new(&m, on_sym_warn, NULL);
        if (!r.sym || make_groups(&r))
            e = MRZ_ENOMEM;
    }
    if (e)
        rc = an_error(r.path, "%s", mrz_strerror(e));
    else if (r.json)
        json_report(&r);
    else
        text_report(&r);
    sym_free(r.sym);
    free(r.order);
    free(r.groups);
    free(r.site_short);
    rp_free(r.e);
    mrz_reader_close(rd);
    an_meta_free(&m);
    return rc;
}

const struct an_cmd an_cmd_report = {
    .name = "report",
    .args = "TRACE",
    .summary = "peak and what holds it, leaks, temporaries, lifetimes, top sites",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
