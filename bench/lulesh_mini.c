/* A LULESH-style workload: a Lagrangian hydro time-step loop on a 3-D mesh
 * whose force and volume kernels allocate their per-element scratch arrays
 * every step and free them at its end, as LULESH 2.0's
 * CalcVolumeForceForElems and CalcHourglassControlForElems do.  Compute
 * dominates; allocations are few and large, plus a small block per region
 * and step.  usage: lulesh_mini [edge] [steps]  (default 48 60) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double *alloc_d(size_t n) { return malloc(n * sizeof(double)); }

int main(int argc, char **argv)
{
    int e = argc > 1 ? atoi(argv[1]) : 48, steps = argc > 2 ? atoi(argv[2]) : 60;
    size_t nel = (size_t)e * e * e, nnode = (size_t)(e + 1) * (e + 1) * (e + 1);
    double *x = alloc_d(nnode), *v = alloc_d(nnode), *p = alloc_d(nel), *vol = alloc_d(nel);
    for (size_t i = 0; i < nnode; i++)
        x[i] = (double)(i % (size_t)(e + 1)), v[i] = 0;
    for (size_t i = 0; i < nel; i++)
        p[i] = i == 0 ? 1e3 : 1e-6, vol[i] = 1;
    double dt = 1e-4, energy = 0;
    for (int s = 0; s < steps; s++) {
        /* per-step scratch, as LULESH allocates it */
        double *sigxx = alloc_d(nel), *sigyy = alloc_d(nel), *sigzz = alloc_d(nel);
        double *determ = alloc_d(nel), *dvdx = alloc_d(nel * 8), *dvdy = alloc_d(nel * 8), *dvdz = alloc_d(nel * 8);
        for (size_t i = 0; i < nel; i++) {
            sigxx[i] = sigyy[i] = sigzz[i] = -p[i];
            determ[i] = vol[i];
        }
        for (size_t i = 0; i < nel * 8; i++) {
            double a = x[i % nnode], b = x[(i * 7) % nnode];
            dvdx[i] = sin(a - b) * 0.125;
            dvdy[i] = cos(a + b) * 0.125;
            dvdz[i] = dvdx[i] * dvdy[i];
        }
        for (size_t i = 0; i < nnode; i++) {
            size_t k = i % nel;
            v[i] += dt * (sigxx[k] * dvdx[(k * 8) % (nel * 8)] + sigyy[k] * dvdy[(k * 8 + 1) % (nel * 8)] +
                          sigzz[k] * dvdz[(k * 8 + 2) % (nel * 8)]) / determ[k];
            x[i] += dt * v[i];
        }
        /* a small block per region, as the region index lists are */
        for (int r = 0; r < 11; r++) {
            int *reg = malloc(((size_t)r * 64 + 16) * sizeof(int));
            reg[0] = r;
            energy += reg[0];
            free(reg);
        }
        for (size_t i = 0; i < nel; i++) {
            p[i] = fabs(p[i] * 0.999 + 1e-3 * determ[i]);
            energy += p[i] * 1e-9;
        }
        free(sigxx), free(sigyy), free(sigzz), free(determ), free(dvdx), free(dvdy), free(dvdz);
    }
    printf("edge=%d steps=%d energy=%.6e x0=%.6f\n", e, steps, energy, x[nnode / 2]);
    free(x), free(v), free(p), free(vol);
    return 0;
}
