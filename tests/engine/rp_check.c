/* Replays a trace with the engine and prints its figures as JSON, so the
 * tests can check the engine itself, independent of any subcommand's
 * presentation.  usage: rp_check TRACE */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay.h"

struct tally { uint64_t allocs, frees, temporaries, by_realloc, mark; uint64_t lifetime_sum; };

static void on_alloc(void *u, struct rp_engine *e, const struct rp_block *b)
{
    (void)e; (void)b;
    ((struct tally *)u)->allocs++;
}

static void on_free(void *u, struct rp_engine *e, const struct rp_block *b, uint64_t t, int temporary, int by_realloc)
{
    (void)e;
    struct tally *x = u;
    x->frees++;
    x->temporaries += (uint64_t)temporary;
    x->by_realloc += (uint64_t)by_realloc;
    x->lifetime_sum += t - b->t_alloc;
}

static void on_mark(void *u, struct rp_engine *e, uint64_t t, uint32_t th, const char *name)
{
    (void)e; (void)t; (void)th; (void)name;
    ((struct tally *)u)->mark++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rp_check TRACE\n");
        return 2;
    }
    struct mrz_reader *r;
    struct an_meta m;
    int rc = an_open(argv[1], &r, &m);
    if (rc)
        return rc;
    struct rp_engine *e = rp_new(r, &m);
    struct tally t = {0};
    struct rp_handlers h = {.user = &t, .on_alloc = on_alloc, .on_free = on_free, .on_mark = on_mark};
    int k = rp_run(e, &h);
    if (k) {
        fprintf(stderr, "rp_check: %s: %s\n", argv[1], mrz_strerror(k));
        return 2;
    }
    const struct rp_totals *tot = rp_totals(e);
    const struct rp_space_stats *h0 = &tot->space[MRZ_S_HOST];
    printf("{\"allocations\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"reallocs\":%" PRIu64 ",\"failed\":%" PRIu64
           ",\"bytes_allocated\":%" PRIu64 ",\"temporaries\":%" PRIu64 ",\"unknown_frees\":%" PRIu64
           ",\"overwritten\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"events\":%" PRIu64 ",\"threads\":%u,\"sites\":%u,\"nodes\":%u",
           tot->allocations, tot->frees, tot->reallocs, tot->failed, tot->bytes_allocated, tot->temporaries,
           tot->unknown_frees, tot->overwritten, tot->reordered, tot->events, rp_thread_count(e), rp_site_count(e), rp_node_count(e));
    printf(",\"host\":{\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64
           ",\"peak_count\":%" PRIu64 ",\"peak_time_ns\":%" PRIu64 "}",
           h0->live_bytes, h0->live_count, h0->peak_bytes, h0->peak_count, h0->peak_time_ns);
    printf(",\"spaces\":[");
    for (int sp = 0; sp < MRZ_S_COUNT; sp++)
        printf("%s{\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64 ",\"peak_bytes\":%" PRIu64 "}", sp ? "," : "",
               tot->space[sp].live_bytes, tot->space[sp].live_count, tot->space[sp].peak_bytes);
    printf("]");
    printf(",\"handlers\":{\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64 ",\"temporaries\":%" PRIu64
           ",\"by_realloc\":%" PRIu64 ",\"marks\":%" PRIu64 "}",
           t.allocs, t.frees, t.temporaries, t.by_realloc, t.mark);
    /* per-site figures with the site's innermost ip, for the tests to match */
    printf(",\"site_list\":[");
    uint64_t sum_peak = 0, sum_live = 0;
    for (uint32_t s = 0; s < rp_site_count(e); s++) {
        const struct rp_site *st = rp_site(e, s);
        sum_peak += st->peak_bytes;
        sum_live += st->live_bytes;
        uint64_t ips[64];
        int n = rp_stack(e, st->node, ips, 64);
        printf("%s{\"site\":%u,\"depth\":%d,\"ip\":%" PRIu64 ",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"live_bytes\":%" PRIu64 ",\"peak_bytes\":%" PRIu64
               ",\"max_live_bytes\":%" PRIu64 ",\"temporaries\":%" PRIu64,
               s ? "," : "", s, n, n ? ips[0] : 0, st->allocs, st->frees, st->bytes, st->live_bytes,
               st->peak_bytes, st->max_live_bytes, st->temporaries);
        printf(",\"stack\":[");
        for (int i = 0; i < n && i < 64; i++)
            printf("%s%" PRIu64, i ? "," : "", ips[i]);
        printf("]}");
    }
    printf("],\"sum_site_peak_bytes\":%" PRIu64 ",\"sum_site_live_bytes\":%" PRIu64 "}\n", sum_peak, sum_live);
    rp_free(e);
    an_report_damage(argv[1], r);
    mrz_reader_close(r);
    an_meta_free(&m);
    return 0;
}
