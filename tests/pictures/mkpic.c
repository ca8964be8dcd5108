/* Writes a small trace by hand, with the format library only, so that the
 * pictures can be tested on things no sample records here: CUDA spaces,
 * frames without a module, and figures known to the nanosecond.
 * usage: mkpic OUT.mrz
 *
 * The program "/opt/pic/app" (pid 4242, a file that does not exist, so its
 * frames read app+0xOFFSET) runs 10 ms on one thread:
 *   1.5 ms  malloc 1000 B   stack app+0x1000 > app+0x2000
 *   2.2 ms  mark "phase one"
 *   2.5 ms  malloc 3000 B   stack app+0x1000 > app+0x3000      host peak 4000 B
 *   3.5 ms  cudaMalloc 1 MiB (cuda-device) app+0x1000 > app+0x2000 > 0x7000000
 *   4.5 ms  cudaMallocManaged 64 KiB (cuda-managed) app+0x1000 > app+0x4000
 *   5.5 ms  free the 1000 B block
 *   6.5 ms  cudaFree the 1 MiB block
 *   6.8 ms  mark "phase <two> & \"quotes\"" (markup characters on purpose)
 *   7.5 ms  free the 3000 B block
 *  10 ms    exit; the 64 KiB managed block is leaked.
 * Every event is in the middle of a millisecond, so a 10-column timeline
 * has known values in every column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrz.h"
#include "../tracegen.h"

#define T0 1000000ull /* ticks at process start; the clock is ns */
#define MS 1000000ull
#define US 1000ull
#define BASE 0x400000ull

static uint8_t raw[1 << 16], out[1 << 17];

static int put_chunk(FILE *f, uint32_t stream, uint64_t base, size_t n)
{
    return tg_put_chunk(f, &(struct mrz_chunk_info){.stream = stream, .base_ticks = base, .base_ns = base}, raw, n, out);
}

static uint8_t *framed_str(uint8_t *p, unsigned type, uint64_t a, const char *s)
{
    struct mrz_framed fr;
    uint8_t *q = mrz_framed_begin(&fr, p, type);
    q = mrz_put_uvar(q, a);
    q = mrz_put_str(q, s, strlen(s));
    return mrz_framed_end(&fr, q);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkpic OUT.mrz\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    uint8_t hdr[MRZ_FILE_HEADER_SIZE];
    mrz_file_header(hdr, 4242);
    fwrite(hdr, 1, sizeof hdr, f);

    /* stream 0: the process, its one module, its end */
    struct mrz_framed fr;
    uint8_t *p = raw, *q;
    q = mrz_framed_begin(&fr, p, MRZ_T_PROCESS);
    q = mrz_put_uvar(q, 4242);
    q = mrz_put_uvar(q, 1);
    q = mrz_put_uvar(q, MRZ_CLOCK_MONOTONIC);
    q = mrz_put_uvar(q, 1000000000);
    q = mrz_put_uvar(q, 1700000000ull * 1000000000ull);
    q = mrz_put_uvar(q, T0);
    q = mrz_put_str(q, "/opt/pic/app", 12);
    q = mrz_put_uvar(q, 1);
    q = mrz_put_str(q, "app", 3);
    p = mrz_framed_end(&fr, q);
    q = mrz_framed_begin(&fr, p, MRZ_T_MODULE);
    q = mrz_put_uvar(q, T0);
    q = mrz_put_uvar(q, 0);
    q = mrz_put_uvar(q, BASE);
    q = mrz_put_str(q, "/opt/pic/app", 12);
    q = mrz_put_str(q, "\x01\x02\x03\x04", 4);
    q = mrz_put_uvar(q, 1);                      /* one segment: */
    q = mrz_put_uvar(q, 0);                      /*   vaddr */
    q = mrz_put_uvar(q, 0x10000);                /*   memsz */
    q = mrz_put_uvar(q, 0);                      /*   offset */
    q = mrz_put_uvar(q, 5);                      /*   r-x */
    p = mrz_framed_end(&fr, q);
    q = mrz_framed_begin(&fr, p, MRZ_T_END);
    q = mrz_put_uvar(q, T0 + 10 * MS);
    q = mrz_put_uvar(q, MRZ_END_EXIT);
    q = mrz_put_uvar(q, 0);
    q = mrz_put_uvar(q, 0);
    q = mrz_put_uvar(q, T0 + 10 * MS);
    p = mrz_framed_end(&fr, q);
    if (put_chunk(f, MRZ_STREAM_META, T0, (size_t)(p - raw)))
        return 1;

    /* stream 1: the thread's stacks, strings, marks and events */
    struct mrz_delta d;
    mrz_delta_reset(&d, T0);
    p = tg_framed_ta(raw, MRZ_T_THREAD, T0, 4242);
    p = mrz_enc_stack(p, &d, 1, 0, BASE + 0x1000);
    p = mrz_enc_stack(p, &d, 2, 1, BASE + 0x2000);
    p = mrz_enc_stack(p, &d, 3, 1, BASE + 0x3000);
    p = mrz_enc_stack(p, &d, 4, 2, 0x7000000);
    p = mrz_enc_stack(p, &d, 5, 1, BASE + 0x4000);
    p = framed_str(p, MRZ_T_STRING, 1, "phase one");
    p = framed_str(p, MRZ_T_STRING, 2, "phase <two> & \"quotes\"");
    p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, T0 + 1500 * US, 0x10000, 1000, 2, 0);
    p = tg_framed_ta(p, MRZ_T_MARK, T0 + 2200 * US, 1);
    p = mrz_enc_alloc(p, &d, MRZ_K_MALLOC, T0 + 2500 * US, 0x20000, 3000, 3, 0);
    p = mrz_enc_cuda_alloc(p, &d, T0 + 3500 * US, MRZ_S_CUDA_DEVICE, 0, 0x7f0000000000ull, 1 << 20, 4, 0, 0);
    p = mrz_enc_cuda_alloc(p, &d, T0 + 4500 * US, MRZ_S_CUDA_MANAGED, 0, 0x7f1000000000ull, 65536, 5, 0, 0);
    p = mrz_enc_free(p, &d, MRZ_T_FREE, T0 + 5500 * US, 0x10000);
    p = mrz_enc_cuda_free(p, &d, T0 + 6500 * US, MRZ_S_CUDA_DEVICE, 0, 0x7f0000000000ull, 0);
    p = tg_framed_ta(p, MRZ_T_MARK, T0 + 6800 * US, 2);
    p = mrz_enc_free(p, &d, MRZ_T_FREE, T0 + 7500 * US, 0x20000);
    if (put_chunk(f, 1, T0, (size_t)(p - raw)))
        return 1;
    return fclose(f) ? 1 : 0;
}
