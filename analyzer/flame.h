/* flame.h — the merged call tree behind `mallocan flamegraph` and its three
 * writers (folded stacks, speedscope JSON, interactive SVG). */
#ifndef FLAME_H
#define FLAME_H

#include <stdint.h>
#include <stdio.h>

#include "replay.h"

enum fg_weight { FG_BYTES, FG_COUNT, FG_PEAK, FG_LEAKED, FG_TEMPORARY };

/* A distinct frame name.  file/line: where the first frame of that name
 * was (line_varies once frames of the name disagree). */
struct fg_name {
    char *name;
    const char *file;   /* owned by the symbolizer */
    int line;
    int family;         /* 0 the program, 1 system libraries, 2 no name known */
    int line_varies;
};

/* A node of the merged tree: node 0 is the root ("all"). */
struct fg_node {
    uint32_t parent, name, depth;
    uint32_t first, last, next;   /* children, sorted by name */
    const char *file;             /* where this frame was, owned by the symbolizer */
    int line;                     /* 0 unknown, -1 when the frames merged here disagree */
    int inlined;                  /* 1 inlined, 2 a real call, 3 both (merged) */
    uint64_t w, b, c;             /* weight, bytes, count: the subtree */
    uint64_t self_w, self_b, self_c;
};

struct fg {
    /* inputs */
    struct rp_engine *e;
    struct sym_ctx *sym;
    int weight;          /* enum fg_weight */
    int space;           /* enum mrz_space, or -1 for all */
    int inverted;        /* leaf first: allocating functions at the root */
    int hide_system;
    uint64_t *temp_bytes; /* per site, for FG_TEMPORARY */
    uint32_t ntemp;
    /* the tree */
    struct fg_node *nodes;
    uint32_t nnodes, nodes_cap;
    uint32_t *node_hash, node_hcap;
    struct fg_name *names;
    uint32_t nnames, names_cap;
    uint32_t *name_hash, name_hcap;
    uint64_t total_w;
    uint32_t max_depth;
};

/** Builds the tree from a replayed engine (g->e after rp_run) and the
 * symbolizer.  @return 0, or -1 when out of memory. */
int fg_build(struct fg *g);
/** Links each node's children in name order.  @return 0 or -1. */
int fg_sort_children(struct fg *g);
void fg_free(struct fg *g);

/** One line per call path with a weight of its own: "a;b;c 1234", in
 * tree order.  @return 0 or -1 (out of memory). */
int fg_write_folded(const struct fg *g, FILE *f);
/** speedscope's file format: one sampled profile.  @return 0 or -1. */
int fg_write_speedscope(const struct fg *g, FILE *f, const char *title);
/** The interactive SVG, width pixels wide.  @return 0 or -1. */
int fg_write_svg(const struct fg *g, FILE *f, const char *title, int width);

/** What the weight measures, for titles ("bytes allocated"). */
const char *fg_weight_title(int weight);

#endif
