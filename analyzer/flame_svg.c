/* The flamegraph as a self-contained SVG: one rect and label per frame,
 * the root at the bottom, and a small script for zoom (click), search
 * (Ctrl-F or the Search button) and a details line (hover); every frame
 * also carries a <title>, the browser's own tooltip.  Frames narrower than
 * a tenth of a pixel are left out, with their callees. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "svg.h"

#define FH 16          /* frame height */
#define CHAR_W 6.6     /* label glyph width at 11px, monospace */
#define TOP 64         /* title, subtitle, buttons */
#define BOTTOM 36      /* details line */
#define XPAD 10
#define MIN_PX 0.1

const char *fg_weight_title(int weight)
{
    switch (weight) {
    case FG_COUNT: return "allocations";
    case FG_PEAK: return "bytes live at the peak";
    case FG_LEAKED: return "bytes leaked (live at the end)";
    case FG_TEMPORARY: return "temporary allocations";
    default: return "bytes allocated";
    }
}

static const char *count_noun(int weight)
{
    switch (weight) {
    case FG_PEAK: return "blocks live at the peak";
    case FG_LEAKED: return "blocks leaked";
    case FG_TEMPORARY: return "temporary allocations";
    default: return "allocations";
    }
}

/* The label that fits wpx pixels: the name, cut with "..", or nothing. */
static void label(FILE *f, const char *name, double wpx)
{
    long n = (long)((wpx - 6) / CHAR_W);
    if (n < 3)
        return;
    long len = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        len += (*p & 0xc0) != 0x80;
    if (len <= n) {
        svg_text(f, name, -1);
    } else {
        svg_text(f, name, n - 2);
        fputs("..", f);
    }
}

struct emit {
    FILE *f;
    const struct fg *g;
    double pw;        /* plot width, px */
    double base_y;    /* y of the root frame */
    long count;       /* frames emitted */
};

static void frame(struct emit *s, uint32_t node, double x, long parent_idx)
{
    const struct fg *g = s->g;
    const struct fg_node *n = &g->nodes[node];
    const struct fg_name *nm = node ? &g->names[n->name] : NULL;
    const char *name = nm ? nm->name : "all";
    double fx = x / (double)g->total_w, fw = (double)n->w / (double)g->total_w;
    double px = XPAD + fx * s->pw, wpx = fw * s->pw, y = s->base_y - (double)n->depth * FH;
    char fill[32], b1[64], b2[32];
    if (!nm)
        strcpy(fill, "rgb(200,200,205)");
    else
        svg_color(fill, sizeof fill, name, nm->family);
    FILE *f = s->f;
    fprintf(f, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-p=\"%ld\"><title>", fx, fw, parent_idx);
    svg_text(f, name, 2000);
    fputc('\n', f);
    if (n->file) {
        svg_text(f, n->file, 1000);
        if (n->line > 0)
            fprintf(f, ":%d", n->line);
        fputc('\n', f);
    }
    if (n->inlined == 1)
        fputs("(inlined)\n", f);
    else if (n->inlined == 3)
        fputs("(inlined at some of its calls)\n", f);
    fprintf(f, "%s in %s %s, %.2f%% of %s</title>", svg_bytes(b1, sizeof b1, (double)n->b), svg_count(b2, sizeof b2, n->c),
            count_noun(g->weight), 100.0 * fw, fg_weight_title(g->weight));
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>", px, y,
            wpx > 0.6 ? wpx - 0.5 : wpx, FH - 1, fill);
    fprintf(f, "<text x=\"%.2f\" y=\"%.1f\">", px + 3, y + FH - 4.5);
    label(f, name, wpx);
    fputs("</text></g>\n", f);
}

/* Pre-order, so that a frame's parent always comes before it (the script
 * relies on it). */
static int emit_tree(struct emit *s)
{
    const struct fg *g = s->g;
    uint32_t cap = g->max_depth + 2;
    uint32_t *stack = malloc(cap * sizeof *stack);
    long *idx = malloc(cap * sizeof *idx);
    double *xs = malloc(cap * sizeof *xs);
    if (!stack || !idx || !xs) {
        free(stack);
        free(idx);
        free(xs);
        return -1;
    }
    frame(s, 0, 0, -1);
    idx[0] = s->count++;
    stack[0] = 0;
    xs[0] = 0;
    /* per depth: the node, its emitted index and the x of its next child */
    uint32_t d = 0;
    uint32_t n = g->nodes[0].first;
    while (d != UINT32_MAX) {
        if (n && (double)g->nodes[n].w / (double)g->total_w * s->pw >= MIN_PX) {
            frame(s, n, xs[d], idx[d]);
            uint64_t w = g->nodes[n].w;
            double x = xs[d];
            xs[d] += (double)w;
            d++;
            stack[d] = n;
            idx[d] = s->count++;
            xs[d] = x;
            n = g->nodes[n].first;
            continue;
        }
        if (n) { /* too narrow: skip it, and its callees with it */
            xs[d] += (double)g->nodes[n].w;
            n = g->nodes[n].next;
            continue;
        }
        /* no more children at this depth: back to the parent's next sibling */
        if (d == 0)
            break;
        n = g->nodes[stack[d]].next;
        d--;
    }
    free(stack);
    free(idx);
    free(xs);
    return 0;
}

static const char script[] =
    "<script type=\"text/ecmascript\"><![CDATA[\n"
    "(function(){\n"
    "var X0=XPAD_,PW=PW_,CW=CW_,FH=FH_;\n"
    "var gs=document.querySelectorAll('g.f'),F=[],i;\n"
    "for(i=0;i<gs.length;i++){var g=gs[i],t=g.getElementsByTagName('title')[0].textContent.split('\\n');\n"
    "  F.push({g:g,r:g.getElementsByTagName('rect')[0],t:g.getElementsByTagName('text')[0],\n"
    "    x:+g.getAttribute('data-x'),w:+g.getAttribute('data-w'),p:+g.getAttribute('data-p'),\n"
    "    name:t[0],tip:t.join('  \\u00b7  '),fill:g.getElementsByTagName('rect')[0].getAttribute('fill')});\n"
    "  g.setAttribute('data-i',i);}\n"
    "var det=document.getElementById('details'),unz=document.getElementById('unzoom'),\n"
    "  mat=document.getElementById('matched'),sb=document.getElementById('search'),term=null;\n"
    "function lab(f,w){var n=Math.floor((w-6)/CW),s=f.name;\n"
    "  f.t.textContent=n<3?'':(s.length<=n?s:s.substr(0,n-2)+'..');}\n"
    "function place(f,x,w){var px=w*PW;f.g.style.display='';f.r.setAttribute('x',(X0+x*PW).toFixed(2));\n"
    "  f.r.setAttribute('width',(px>0.6?px-0.5:px).toFixed(2));f.t.setAttribute('x',(X0+x*PW+3).toFixed(2));lab(f,px);}\n"
    "function hide(f){f.g.style.display='none';}\n"
    "function zoom(z){var Z=F[z],inside=[],anc={},k;\n"
    "  for(k=Z.p;k>=0;k=F[k].p)anc[k]=1;\n"
    "  for(k=0;k<F.length;k++){var f=F[k];inside[k]=k==z||(f.p>=0&&inside[f.p]);\n"
    "    if(anc[k]){place(f,0,1);f.g.setAttribute('opacity','0.6');}\n"
    "    else if(inside[k]&&f.w/Z.w*PW>=0.1){place(f,(f.x-Z.x)/Z.w,f.w/Z.w);f.g.removeAttribute('opacity');}\n"
    "    else hide(f);}\n"
    "  unz.setAttribute('opacity',z?'1':'0');}\n"
    "function search(re){var ranges=[],k;\n"
    "  for(k=0;k<F.length;k++){var f=F[k];\n"
    "    if(re&&k&&re.test(f.name)){f.r.setAttribute('fill','rgb(230,0,230)');ranges.push([f.x,f.x+f.w]);}\n"
    "    else f.r.setAttribute('fill',f.fill);}\n"
    "  ranges.sort(function(a,b){return a[0]-b[0];});var tot=0,end=-1;\n"
    "  for(k=0;k<ranges.length;k++){var r=ranges[k];if(r[0]>=end){tot+=r[1]-r[0];end=r[1];}\n"
    "    else if(r[1]>end){tot+=r[1]-end;end=r[1];}}\n"
    "  mat.textContent=re?'Matched: '+(100*tot).toFixed(1)+'%':'';\n"
    "  sb.textContent=re?'Reset Search':'Search';}\n"
    "function ask(){if(term!==null){term=null;search(null);return;}\n"
    "  var s=prompt('Search frames (regular expression):','');if(!s)return;\n"
    "  try{term=new RegExp(s);}catch(e){alert('Not a regular expression: '+s);return;}search(term);}\n"
    "function frameOf(e){var n=e.target;while(n&&n.getAttribute&&!n.hasAttribute('data-i'))n=n.parentNode;\n"
    "  return n&&n.getAttribute?+n.getAttribute('data-i'):-1;}\n"
    "document.documentElement.addEventListener('click',function(e){\n"
    "  if(e.target===unz){zoom(0);return;}if(e.target===sb){ask();return;}\n"
    "  var k=frameOf(e);if(k>=0)zoom(k);});\n"
    "document.documentElement.addEventListener('mouseover',function(e){var k=frameOf(e);\n"
    "  det.textContent=k>=0?F[k].tip:' ';});\n"
    "window.addEventListener('keydown',function(e){\n"
    "  if(e.keyCode===114||(e.ctrlKey&&e.keyCode===70)){e.preventDefault();ask();}\n"
    "  else if(e.keyCode===27&&term!==null){term=null;search(null);}});\n"
    "})();\n"
    "]]></script>\n";

/* Writes the script with its constants filled in. */
static void write_script(FILE *f, double pw)
{
    const char *p = script;
    static const char *const keys[] = {"XPAD_", "PW_", "CW_", "FH_"};
    for (;;) {
        const char *best = NULL;
        int which = -1;
        for (int k = 0; k < 4; k++) {
            const char *q = strstr(p, keys[k]);
            if (q && (!best || q < best)) {
                best = q;
                which = k;
            }
        }
        if (!best) {
            fputs(p, f);
            return;
        }
        fwrite(p, 1, (size_t)(best - p), f);
        switch (which) {
        case 0: fprintf(f, "%d", XPAD); break;
        case 1: fprintf(f, "%.2f", pw); break;
        case 2: fprintf(f, "%.1f", CHAR_W); break;
        default: fprintf(f, "%d", FH); break;
        }
        p = best + strlen(keys[which]);
    }
}

/* The depth of the deepest frame wide enough to be drawn: parents come
 * before their children in the node array, so one pass settles it. */
static uint32_t drawn_depth(const struct fg *g, double pw)
{
    uint8_t *vis = calloc(g->nnodes ? g->nnodes : 1, 1);
    uint32_t depth = 0;
    if (!vis)
        return g->max_depth;
    vis[0] = 1;
    for (uint32_t i = 1; i < g->nnodes; i++) {
        const struct fg_node *n = &g->nodes[i];
        vis[i] = vis[n->parent] && (double)n->w / (double)g->total_w * pw >= MIN_PX;
        if (vis[i] && n->depth > depth)
            depth = n->depth;
    }
    free(vis);
    return depth;
}

int fg_write_svg(const struct fg *g, FILE *f, const char *title, int width)
{
    char b1[64];
    double pw = width - 2 * XPAD;
    uint32_t depth = g->total_w ? drawn_depth(g, pw) : 0;
    int height = TOP + (int)(depth + 1) * FH + BOTTOM;
    fprintf(f,
            "<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n"
            "<style>text{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px;fill:#000}"
            "g.f text{pointer-events:none}g.f:hover rect{stroke:#000;stroke-width:0.5}"
            ".title{font-family:'DejaVu Sans',Verdana,sans-serif;font-size:17px;font-weight:bold}"
            ".sub{font-family:'DejaVu Sans',Verdana,sans-serif;font-size:12px;fill:#555}"
            ".btn{font-size:12px;fill:#1f5f99;cursor:pointer;text-decoration:underline}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f4\"/>\n",
            width, height, width, height);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", width / 2);
    svg_text(f, title, 300);
    fprintf(f, "</text>\n<text class=\"sub\" x=\"%d\" y=\"44\" text-anchor=\"middle\">", width / 2);
    if (g->weight == FG_COUNT || g->weight == FG_TEMPORARY)
        fprintf(f, "%s in all", svg_count(b1, sizeof b1, g->total_w));
    else
        fputs(svg_bytes(b1, sizeof b1, (double)g->total_w), f);
    fprintf(f, "; a frame's width is its share, callers below callees%s; click to zoom, Ctrl-F to search</text>\n",
            g->inverted ? " (inverted: allocating functions at the bottom)" : "");
    fprintf(f, "<text id=\"unzoom\" class=\"btn\" x=\"%d\" y=\"44\" opacity=\"0\">Reset Zoom</text>\n", XPAD);
    fprintf(f, "<text id=\"search\" class=\"btn\" x=\"%d\" y=\"44\" text-anchor=\"end\">Search</text>\n",
            width - XPAD);
    fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 14);
    fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n", width - XPAD, height - 14);
    int rc = 0;
    if (g->total_w) {
        struct emit s = {f, g, pw, TOP + (double)depth * FH, 0};
        rc = emit_tree(&s);
    } else {
        fprintf(f, "<text class=\"sub\" x=\"%d\" y=\"%d\">nothing to show: no allocation has this weight</text>\n",
                XPAD, TOP + 12);
    }
    write_script(f, pw);
    fputs("</svg>\n", f);
    return rc;
}
