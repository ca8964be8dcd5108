/* arena: a time-step loop in the style of LULESH, which allocates the same
 * arrays, of the same sizes, at every step — the pattern that should be a
 * pool or an arena.  Every allocation is labelled (mallocrec_label_next) and
 * the phases are regions, so `mallocan arenas --group-by label` and
 * `mallocan report --by region` can name them.
 *
 * usage: arena [STEPS [NODES]]   (default 40 steps, 1000 nodes)
 *
 * Prints, per label, what it allocated: the number of blocks, their size
 * and the most alive at once — the figures mallocan must find. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocrec.h"

#define SCRATCH_PER_STEP 8
#define SCRATCH_BYTES 512

struct node { double x, y, z, mass; };

/* What the program itself counts, per label. */
struct tally { const char *label; size_t size; long count, live, max_live; };
static struct tally tallies[8];
static int ntallies;

static struct tally *tally_of(const char *label, size_t size)
{
    for (int i = 0; i < ntallies; i++)
        if (!strcmp(tallies[i].label, label))
            return &tallies[i];
    tallies[ntallies] = (struct tally){label, size, 0, 0, 0};
    return &tallies[ntallies++];
}

/* Inlined into each caller, so every array keeps its own call stack. */
static inline __attribute__((always_inline)) double *alloc(const char *label, size_t n)
{
    struct tally *t = tally_of(label, n * sizeof(double));
    mallocrec_label_next(label);
    double *p = malloc(n * sizeof(double));
    if (!p) {
        perror("malloc");
        exit(1);
    }
    memset(p, 0, n * sizeof(double));
    t->count++;
    if (++t->live > t->max_live)
        t->max_live = t->live;
    return p;
}

static inline __attribute__((always_inline)) void release(const char *label, double *p)
{
    free(p);
    tally_of(label, 0)->live--;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 40;
    long nodes = argc > 2 ? atol(argv[2]) : 1000;
    if (steps < 1 || nodes < 8) {
        fprintf(stderr, "usage: arena [STEPS >= 1 [NODES >= 8]]\n");
        return 2;
    }
    long elems = nodes - 1;

    mallocrec_region_begin("setup");
    double *mesh = alloc("mesh", (size_t)nodes * sizeof(struct node) / sizeof(double));
    double *energy = alloc("energy", (size_t)elems);
    mallocrec_region_end();

    double total = 0;
    for (long s = 0; s < steps; s++) {
        mallocrec_region_begin("timestep");

        mallocrec_region_begin("nodal");
        double *forces = alloc("forces", (size_t)nodes * 3);
        for (int b = 0; b < SCRATCH_PER_STEP; b++) {
            double *scratch = alloc("scratch", SCRATCH_BYTES / sizeof(double));
            scratch[b] = (double)s;
            forces[b] += scratch[b];
            release("scratch", scratch);
        }
        mallocrec_region_end();

        mallocrec_region_begin("elements");
        double *stress = alloc("stress", (size_t)elems * 6);
        double *gradient = alloc("gradient", (size_t)elems * 8);
        /* the new energy is computed from the previous step's: both alive */
        double *next = alloc("energy", (size_t)elems);
        for (long e = 0; e < elems; e++) {
            stress[e * 6] = energy[e] + forces[e % nodes];
            gradient[e * 8] = stress[e * 6] * 0.5;
            next[e] = energy[e] + gradient[e * 8] + mesh[e];
        }
        release("energy", energy);
        energy = next;
        release("gradient", gradient);
        release("stress", stress);
        mallocrec_region_end();

        release("forces", forces);
        mallocrec_region_end();
        if ((s + 1) % 10 == 0)
            mallocrec_mark("checkpoint");
        total += energy[0];
    }
    release("energy", energy);
    release("mesh", mesh);

    /* stdout's buffer is allocated here, after every labelled allocation */
    printf("arena: %ld steps, %ld nodes, checksum %g\n", steps, nodes, total);
    for (int i = 0; i < ntallies; i++)
        printf("label=%s size=%zu count=%ld max_alive=%ld\n", tallies[i].label, tallies[i].size, tallies[i].count,
               tallies[i].max_live);
    return 0;
}
