/* mallocan timeline: live bytes over time for each space, as an SVG with the
 * peak and the program's markers, or as CSV / JSON series.
 *
 * Memory stays bounded whatever the trace's length: the pass keeps a fixed
 * number of internal buckets per space and, when time outgrows them, merges
 * neighbours pairwise (doubling their width).  A bucket keeps its maximum
 * and the time of that maximum, so the final downsampling to the picture's
 * width puts every maximum, the peak included, in the column of its time. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "svg.h"

struct bucket { uint64_t max, min, last, t_max; };

struct series {
    struct bucket *b;
    uint32_t n;       /* buckets filled; the current one is n - 1 */
    uint64_t live;    /* the space's live bytes after its latest event */
    int used;
};

struct mark { uint64_t t; uint32_t tid; const char *name; };

#define MAX_MARKS 100000

struct tl {
    uint64_t w;       /* internal bucket width, ns (shared by all spaces) */
    uint32_t cap;     /* internal buckets per space */
    struct series s[MRZ_S_COUNT];
    struct mark *marks;
    uint32_t nmarks, marks_cap;
    uint64_t marks_dropped;
    int err;
};

/* Output series after downsampling to nb columns. */
struct column { uint64_t max, min; };

static void merge_pairs(struct tl *t)
{
    for (int k = 0; k < MRZ_S_COUNT; k++) {
        struct series *s = &t->s[k];
        if (!s->used)
            continue;
        uint32_t n = 0;
        for (uint32_t i = 0; i < s->n; i += 2, n++) {
            struct bucket a = s->b[i];
            if (i + 1 < s->n) {
                const struct bucket *c = &s->b[i + 1];
                if (c->max > a.max) {
                    a.max = c->max;
                    a.t_max = c->t_max;
                }
                if (c->min < a.min)
                    a.min = c->min;
                a.last = c->last;
            }
            s->b[n] = a;
        }
        s->n = n;
    }
    t->w *= 2;
}

/* Extends s with constant buckets up to and including index idx. */
static void fill_to(struct tl *t, struct series *s, uint64_t idx)
{
    while (s->n <= idx && s->n < t->cap) {
        s->b[s->n] = (struct bucket){s->live, s->live, s->live, (uint64_t)s->n * t->w};
        s->n++;
    }
}

static void sample(struct tl *t, unsigned space, uint64_t when, uint64_t live)
{
    if (space >= MRZ_S_COUNT || t->err)
        return;
    while (when >= (uint64_t)t->cap * t->w)
        merge_pairs(t);
    struct series *s = &t->s[space];
    if (!s->used) {
        s->b = malloc((size_t)t->cap * sizeof *s->b);
        if (!s->b) {
            t->err = 1;
            return;
        }
        s->used = 1;
    }
    uint64_t idx = when / t->w;
    fill_to(t, s, idx);
    struct bucket *b = &s->b[idx];
    if (live > b->max) {
        b->max = live;
        b->t_max = when;
    }
    if (live < b->min)
        b->min = live;
    b->last = live;
    s->live = live;
}

static void on_alloc(void *u, struct rp_engine *e, const struct rp_block *b)
{
    sample(u, b->space, b->t_alloc, rp_totals(e)->space[b->space].live_bytes);
}

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t_ns, int temporary,
                    int by_realloc)
{
    sample(u, b->space, t_ns, rp_totals(e)->space[b->space].live_bytes);
}

static void on_mark(void *u, struct rp_engine *e, uint64_t t_ns, uint32_t thread, const char *name)
{
    struct tl *t = u;
    if (t->nmarks == MAX_MARKS) {
        t->marks_dropped++;
        return;
    }
    if (t->nmarks == t->marks_cap) {
        uint32_t ncap = t->marks_cap ? t->marks_cap * 2 : 64;
        struct mark *nm = realloc(t->marks, ncap * sizeof *nm);
        if (!nm) {
            t->marks_dropped++;
            return;
        }
        t->marks = nm;
        t->marks_cap = ncap;
    }
    /* the engine's interned strings live as long as the engine */
    t->marks[t->nmarks++] = (struct mark){t_ns, rp_thread_tid(e, thread), name ? name : ""};
}

/* Downsamples series s (extended to the end) into nb columns over [0, dur). */
static void columns(const struct tl *t, const struct series *s, uint32_t nb, double dur, struct column *out)
{
    double dt = dur / nb;
    int64_t last_k = -1;
    uint64_t carry = 0;
    for (uint32_t j = 0; j < s->n; j++) {
        const struct bucket *b = &s->b[j];
        int64_t k = (int64_t)((double)b->t_max / dt);
        if (k >= (int64_t)nb)
            k = nb - 1;
        if (k < last_k) /* rounding at a column edge: stay monotone */
            k = last_k;
        for (int64_t g = last_k + 1; g < k; g++) /* columns no bucket reached: the level held */
            out[g] = (struct column){carry, carry};
        if (k != last_k) {
            out[k] = (struct column){b->max, b->min};
        } else {
            if (b->max > out[k].max)
                out[k].max = b->max;
            if (b->min < out[k].min)
                out[k].min = b->min;
        }
        last_k = k;
        carry = b->last;
    }
    for (int64_t g = last_k + 1; g < (int64_t)nb; g++)
        out[g] = (struct column){carry, carry};
}

/* ------------------------------------------------------------------ output */

struct view {
    const char *path;
    const struct an_meta *m;
    const struct rp_totals *tot;
    const struct tl *t;
    uint32_t nb;
    double dur;
    int spaces[MRZ_S_COUNT], nspaces;
    struct column *col[MRZ_S_COUNT];
};

static const char *space_title(int sp)
{
    switch (sp) {
    case MRZ_S_HOST: return "host heap";
    case MRZ_S_CUDA_DEVICE: return "CUDA device memory";
    case MRZ_S_CUDA_PINNED: return "CUDA pinned host memory";
    case MRZ_S_CUDA_MANAGED: return "CUDA managed memory";
    case MRZ_S_CUDA_ASYNC: return "CUDA stream-ordered pools";
    case MRZ_S_CUDA_VMM: return "CUDA virtual memory";
    default: return "?";
    }
}

static void write_csv(FILE *f, const struct view *v)
{
    fputs("start_ns,end_ns", f);
    for (int i = 0; i < v->nspaces; i++)
        fprintf(f, ",%s_max_bytes,%s_min_bytes", mrz_space_name((unsigned)v->spaces[i]),
                mrz_space_name((unsigned)v->spaces[i]));
    fputc('\n', f);
    double dt = v->dur / v->nb;
    for (uint32_t k = 0; k < v->nb; k++) {
        fprintf(f, "%.0f,%.0f", k * dt, (k + 1) * dt);
        for (int i = 0; i < v->nspaces; i++)
            fprintf(f, ",%" PRIu64 ",%" PRIu64, v->col[v->spaces[i]][k].max, v->col[v->spaces[i]][k].min);
        fputc('\n', f);
    }
}

static void write_json(FILE *f, const struct view *v)
{
    fputs("{\"trace\":", f);
    an_json_str(f, v->path, strlen(v->path));
    fprintf(f, ",\"pid\":%u,\"exe\":", v->m->pid);
    an_json_str(f, v->m->exe ? v->m->exe : "", v->m->exe ? strlen(v->m->exe) : 0);
    fprintf(f, ",\"duration_ns\":%.0f,\"buckets\":%u,\"bucket_ns\":%.3f,\"spaces\":[", v->dur, v->nb, v->dur / v->nb);
    for (int i = 0; i < v->nspaces; i++) {
        int sp = v->spaces[i];
        const struct rp_space_stats *st = &v->tot->space[sp];
        fprintf(f,
                "%s{\"space\":\"%s\",\"peak_bytes\":%" PRIu64 ",\"peak_count\":%" PRIu64 ",\"peak_time_ns\":%" PRIu64
                ",\"end_live_bytes\":%" PRIu64 ",\"allocations\":%" PRIu64 ",\"max\":[",
                i ? "," : "", mrz_space_name((unsigned)sp), st->peak_bytes, st->peak_count, st->peak_time_ns,
                st->live_bytes, st->allocs);
        for (uint32_t k = 0; k < v->nb; k++)
            fprintf(f, "%s%" PRIu64, k ? "," : "", v->col[sp][k].max);
        fputs("],\"min\":[", f);
        for (uint32_t k = 0; k < v->nb; k++)
            fprintf(f, "%s%" PRIu64, k ? "," : "", v->col[sp][k].min);
        fputs("]}", f);
    }
    fputs("],\"marks\":[", f);
    for (uint32_t i = 0; i < v->t->nmarks; i++) {
        const struct mark *mk = &v->t->marks[i];
        fprintf(f, "%s{\"time_ns\":%" PRIu64 ",\"tid\":%u,\"name\":", i ? "," : "", mk->t, mk->tid);
        an_json_str(f, mk->name, strlen(mk->name));
        fputc('}', f);
    }
    fprintf(f, "],\"marks_dropped\":%" PRIu64 "}\n", v->t->marks_dropped);
}

/* SVG geometry */
#define ML 84   /* left margin: the byte axis */
#define MR 36
#define PANEL_H 200
#define PANEL_GAP 46
#define ROW_H 14
#define LABEL_ROWS 4
#define LABEL_Y 64 /* the first row of marker labels */

static double ymax_for(uint64_t peak, double *step)
{
    double top = peak ? (double)peak * 1.12 : 1024;
    *step = svg_nice_step(top, 5, 1);
    return ceil(top / *step) * *step;
}

/* The markers' labels, greedily placed in rows above the panels; a marker
 * whose label fits no row keeps its line and its hover text. */
static int place_labels(const struct view *v, int *row, double x0)
{
    double end[LABEL_ROWS];
    int rows = 0;
    for (int r = 0; r < LABEL_ROWS; r++)
        end[r] = -1e9;
    for (uint32_t i = 0; i < v->t->nmarks; i++) {
        double x = x0 + (double)v->t->marks[i].t / v->dur * v->nb;
        size_t len = strlen(v->t->marks[i].name);
        double wpx = 6.6 * (double)(len > 28 ? 28 : len) + 8;
        row[i] = -1;
        for (int r = 0; r < LABEL_ROWS; r++)
            if (x - 2 > end[r]) {
                row[i] = r;
                end[r] = x + wpx;
                if (r + 1 > rows)
                    rows = r + 1;
                break;
            }
    }
    return rows;
}

static void svg_mark_label(FILE *f, const char *name)
{
    size_t len = strlen(name);
    svg_text(f, name, 28);
    if (len > 28)
        fputs("..", f);
}

static void write_svg(FILE *f, const struct view *v)
{
    char b1[64], b2[64];
    int *row = calloc(v->t->nmarks + 1, sizeof *row);
    int rows = row ? place_labels(v, row, ML) : 0;
    const double x0 = ML, top = LABEL_Y + rows * ROW_H + 20;
    const int W = ML + (int)v->nb + MR;
    const int np = v->nspaces ? v->nspaces : 1;
    const double H = top + np * PANEL_H + (np - 1) * PANEL_GAP + 62;
    fprintf(f,
            "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
            "viewBox=\"0 0 %d %.0f\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">\n"
            "<style>.grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#555;stroke-width:1}"
            ".tick{fill:#444;font-size:11px}.mark{stroke:#7a3db8;stroke-width:1;stroke-dasharray:4,3}"
            ".mlabel{fill:#5a2a8c;font-size:11px}.peak{fill:#c0182a}.title{font-size:16px;font-weight:bold}"
            ".sub{fill:#555}#hover{pointer-events:none}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            W, H, W, H);
    fputs("<text class=\"title\" x=\"12\" y=\"22\">Live memory over time: ", f);
    svg_text(f, an_base_name(v->m->exe ? v->m->exe : v->path), 90);
    fprintf(f, " (pid %u)</text>\n<text class=\"sub\" x=\"12\" y=\"40\">", v->m->pid);
    char b3[32];
    fprintf(f, "%s allocations in %s; each column shows the maximum of its %s",
            svg_count(b3, sizeof b3, v->tot->allocations), svg_duration(b1, sizeof b1, v->dur),
            svg_duration(b2, sizeof b2, v->dur / v->nb));
    if (v->t->nmarks)
        fprintf(f, "; %u marker%s", v->t->nmarks, v->t->nmarks == 1 ? "" : "s");
    fputs("</text>\n", f);
    if (!v->nspaces)
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"sub\">no allocations in this trace</text>\n", x0 + 10,
                top + PANEL_H / 2);

    double ystep[MRZ_S_COUNT], ymax[MRZ_S_COUNT];
    for (int i = 0; i < v->nspaces; i++) {
        int sp = v->spaces[i];
        const struct rp_space_stats *st = &v->tot->space[sp];
        double py = top + i * (PANEL_H + PANEL_GAP), pb = py + PANEL_H;
        ymax[i] = ymax_for(st->peak_bytes, &ystep[i]);
        double unit = svg_byte_unit(ymax[i]);
        double sy = PANEL_H / ymax[i];
        fprintf(f, "<g class=\"panel\" id=\"panel-%s\">\n", mrz_space_name((unsigned)sp));
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">%s</text>", x0, py - 8, space_title(sp));
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" class=\"sub\">%s"
                   " allocation%s, %s live at the end</text>\n",
                x0 + v->nb, py - 8, svg_count(b3, sizeof b3, st->allocs), st->allocs == 1 ? "" : "s",
                svg_bytes(b1, sizeof b1, (double)st->live_bytes));
        for (double y = 0; y <= ymax[i] + 0.5; y += ystep[i]) {
            double yy = pb - y * sy;
            fprintf(f, "<line class=\"grid\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>", x0, yy, x0 + v->nb,
                    yy);
            fprintf(f, "<text class=\"tick\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 6, yy + 4,
                    y ? svg_bytes_in(b1, sizeof b1, y, unit) : "0");
        }
        /* the curve: a step line over the columns' maxima, filled below */
        const struct column *c = v->col[sp];
        fprintf(f, "<path fill=\"#9ecae1\" fill-opacity=\"0.55\" stroke=\"#1f5f99\" stroke-width=\"1\" d=\"M%.0f %.1f",
                x0, pb);
        for (uint32_t k = 0; k < v->nb; k++)
            fprintf(f, "V%.1fh1", pb - (double)c[k].max * sy);
        fprintf(f, "V%.1fZ\"><title>live bytes, %s (maximum per column)</title></path>\n", pb, space_title(sp));
        fprintf(f, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>", x0, py, x0, pb);
        fprintf(f, "<line class=\"axis\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>\n", x0, pb, x0 + v->nb, pb);
        /* the peak, exactly where the engine saw it */
        double px = x0 + (double)st->peak_time_ns / v->dur * v->nb, pyk = pb - (double)st->peak_bytes * sy;
        int right = px > x0 + v->nb * 0.6;
        fprintf(f, "<g class=\"peak\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", px, pyk);
        char b4[32];
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-weight=\"bold\">peak %s at %s (%s"
                   " bytes in %s block%s)</text></g>\n</g>\n",
                px + (right ? -8 : 8), pyk - 6, right ? "end" : "start",
                svg_bytes(b1, sizeof b1, (double)st->peak_bytes), svg_duration(b2, sizeof b2, (double)st->peak_time_ns),
                svg_count(b3, sizeof b3, st->peak_bytes), svg_count(b4, sizeof b4, st->peak_count),
                st->peak_count == 1 ? "" : "s");
    }

    /* time axis under the last panel */
    double ab = top + np * PANEL_H + (np - 1) * PANEL_GAP;
    double tstep = svg_nice_step(v->dur, 8, 0), tunit = svg_time_unit(v->dur);
    for (double t = 0; t <= v->dur * 1.0001; t += tstep) {
        double x = x0 + t / v->dur * v->nb;
        fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, ab, x, ab + 5);
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, ab + 18,
                t ? svg_duration_in(b1, sizeof b1, t, tunit) : "0");
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"middle\" class=\"sub\">time since the process started</text>\n",
            x0 + v->nb / 2.0, ab + 38);

    /* markers: a line through every panel, a label when one fits */
    for (uint32_t i = 0; i < v->t->nmarks; i++) {
        const struct mark *mk = &v->t->marks[i];
        double x = x0 + (double)mk->t / v->dur * v->nb;
        double ly = LABEL_Y + (row && row[i] >= 0 ? row[i] : 0) * ROW_H;
        fprintf(f, "<g class=\"marker\"><title>");
        svg_text(f, mk->name, 200);
        fprintf(f, " at %s (thread %u)</title>", svg_duration(b1, sizeof b1, (double)mk->t), mk->tid);
        fprintf(f, "<line class=\"mark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, ly - 10, x, ab);
        if (row && row[i] >= 0) {
            fprintf(f, "<text class=\"mlabel\" x=\"%.1f\" y=\"%.1f\">", x + 3, ly);
            svg_mark_label(f, mk->name);
            fputs("</text>", f);
        }
        fputs("</g>\n", f);
    }

    /* hover read-out: the column's time and each space's maximum */
    fprintf(f, "<g id=\"hover\" visibility=\"hidden\"><line id=\"hline\" stroke=\"#333\" stroke-width=\"0.5\" "
               "y1=\"%.0f\" y2=\"%.1f\"/><text id=\"htext\" y=\"%.0f\" font-size=\"11\"> </text></g>\n",
            top, ab, H - 8);
    fprintf(f, "<rect id=\"catcher\" x=\"%.0f\" y=\"%.0f\" width=\"%u\" height=\"%.1f\" fill-opacity=\"0\"/>\n", x0, top,
            v->nb, ab - top);
    fprintf(f, "<script type=\"text/ecmascript\"><![CDATA[\nvar X0=%.0f,NB=%u,DUR=%.0f,S=[", x0, v->nb, v->dur);
    for (int i = 0; i < v->nspaces; i++) {
        fprintf(f, "%s[\"%s\",[", i ? "," : "", space_title(v->spaces[i]));
        for (uint32_t k = 0; k < v->nb; k++)
            fprintf(f, "%s%" PRIu64, k ? "," : "", v->col[v->spaces[i]][k].max);
        fputs("]]", f);
    }
    fputs("];\n"
          "function fb(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++;}"
          "return (i?b.toFixed(b>=100?0:b>=10?1:2):b)+' '+u[i];}\n"
          "function fd(n){var u=['ns','us','ms','s'],i=0;while(n>=1000&&i<3){n/=1000;i++;}"
          "return n.toFixed(i?2:0)+' '+u[i];}\n"
          "var c=document.getElementById('catcher'),h=document.getElementById('hover'),"
          "hl=document.getElementById('hline'),ht=document.getElementById('htext');\n"
          "c.addEventListener('mousemove',function(e){var p=c.ownerSVGElement.createSVGPoint();p.x=e.clientX;"
          "p.y=e.clientY;p=p.matrixTransform(c.getScreenCTM().inverse());var k=Math.floor(p.x-X0);"
          "if(k<0||k>=NB)return;hl.setAttribute('x1',X0+k+0.5);hl.setAttribute('x2',X0+k+0.5);"
          "var s=fd(k*DUR/NB)+' to '+fd((k+1)*DUR/NB)+':';for(var i=0;i<S.length;i++)s+='   '+S[i][0]+' '+"
          "fb(S[i][1][k]);ht.setAttribute('x',X0);ht.textContent=s;h.setAttribute('visibility','visible');});\n"
          "c.addEventListener('mouseout',function(){h.setAttribute('visibility','hidden');});\n"
          "]]></script>\n</svg>\n",
          f);
    free(row);
}

/* ------------------------------------------------------------------ command */

static const struct an_opt opts[] = {
    {"format", 0, "FMT", "svg (an interactive picture), csv or json (the series)", "svg"},
    {"output", 'o', "FILE", "write to FILE instead of the standard output", NULL},
    {"buckets", 0, "N", "time columns: the plot's width in pixels, the rows of csv/json", "1000"},
    {0},
};

static int run(struct an_ctx *ctx)
{
    const char *fmt = an_get_format(ctx, "svg|csv|json");
    long nb;
    if (!fmt || an_get_long(ctx, "buckets", &nb))
        return 2;
    if (nb < 10 || nb > 20000)
        return an_error(NULL, "--buckets: %ld is out of range (10 to 20000)", nb);
    const char *path = ctx->traces[0];
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(path, &r, &m);
    if (rc)
        return rc;
    struct tl t = {.w = 1, .cap = nb * 8 > 8192 ? (uint32_t)nb * 8 : 8192};
    struct rp_engine *e = rp_new(r, &m);
    struct rp_handlers h = {.user = &t, .on_alloc = on_alloc, .on_free = on_free, .on_mark = on_mark};
    int k = e ? rp_run(e, &h) : MRZ_ENOMEM;
    struct view v = {.path = path, .m = &m, .t = &t, .nb = (uint32_t)nb};
    FILE *out = NULL;
    if (k < 0 || t.err) {
        rc = an_error(path, "%s", mrz_strerror(k < 0 ? k : MRZ_ENOMEM));
        goto done;
    }
    v.tot = rp_totals(e);
    double end = (double)v.tot->last_ns;
    if (m.have_end && m.end_ticks) {
        double ens = an_ns(&m, m.end_ticks);
        if (ens > end)
            end = ens;
    }
    for (uint32_t i = 0; i < t.nmarks; i++)
        if ((double)t.marks[i].t > end)
            end = (double)t.marks[i].t;
    /* whole nanoseconds, so that the JSON's duration gives the columns exactly;
     * events at the very end fall in the last column */
    v.dur = end >= 1 ? ceil(end) : 1000;
    for (int sp = 0; sp < MRZ_S_COUNT; sp++) {
        struct series *s = &t.s[sp];
        if (!s->used)
            continue;
        v.col[sp] = malloc((size_t)nb * sizeof *v.col[sp]);
        if (!v.col[sp]) {
            rc = an_error(path, "%s", mrz_strerror(MRZ_ENOMEM));
            goto done;
        }
        columns(&t, s, (uint32_t)nb, v.dur, v.col[sp]);
        v.spaces[v.nspaces++] = sp;
    }
    if ((out = svg_open_out(an_get(ctx, "output"))) == NULL) {
        rc = 2;
        goto done;
    }
    if (!strcmp(fmt, "csv"))
        write_csv(out, &v);
    else if (!strcmp(fmt, "json"))
        write_json(out, &v);
    else
        write_svg(out, &v);
    rc = svg_close_out(out, an_get(ctx, "output"));
    an_report_damage(path, r);
done:
    for (int sp = 0; sp < MRZ_S_COUNT; sp++) {
        free(t.s[sp].b);
        free(v.col[sp]);
    }
    free(t.marks);
    rp_free(e);
    mrz_reader_close(r);
    an_meta_free(&m);
    return rc;
}

const struct an_cmd an_cmd_timeline = {
    .name = "timeline",
    .args = "TRACE",
    .summary = "live bytes over time per space, with the peak and markers: SVG, CSV, JSON",
    .opts = opts,
    .min_traces = 1,
    .max_traces = 1,
    .run = run,
};
