/* The CI gates' limit grammar and arithmetic, checked directly: what each
 * SPEC item means, where exactly a limit starts failing, and which items
 * are refused (with which reason); then how sites of two builds pair. */
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "summary.h"

static struct sm_limit *lims;
static int nlims;
static char err[256];

static int parse(const char *spec, int allow_growth)
{
    free(lims);
    lims = NULL;
    nlims = 0;
    err[0] = 0;
    return sm_parse_spec(spec, allow_growth, &lims, &nlims, err, sizeof err);
}

/* Crossed or not, for one scalar limit, base and value. */
static int crossed(const char *spec, uint64_t base, uint64_t value, uint64_t *allowed)
{
    if (parse(spec, 1) || nlims != 1)
        return -1;
    struct sm_totals b = {0}, n = {0};
    int m = lims[0].metric;
    b.all.v[m] = base;
    n.all.v[m] = value;
    b.space[MRZ_S_HOST].v[m] = base;
    n.space[MRZ_S_HOST].v[m] = value;
    struct sm_verdict *v = NULL;
    int nv = 0;
    int k = sm_evaluate(lims, nlims, &b, &n, "u", &v, &nv);
    if (allowed && nv)
        *allowed = v[0].allowed;
    free(v);
    return nv == 1 ? k : -1;
}

static int refused(const char *spec, int allow_growth, const char *reason)
{
    return parse(spec, allow_growth) == -1 && strstr(err, reason) != NULL;
}

static struct sm_site mk(const char *key, int line, uint64_t allocs)
{
    struct sm_site s = {.key = (char *)key, .nlines = 2, .display = (char *)key};
    s.lines = malloc(2 * sizeof *s.lines);
    s.lines[0] = 1;
    s.lines[1] = line;
    s.f.v[SM_ALLOCATIONS] = allocs;
    return s;
}

static void check_matching(void)
{
    /* f: two call sites on each side, lines shifted: they pair in line order.
     * g: two against three: compared as one merged site.  h new, k gone. */
    struct sm_site bs[] = {mk("main;f", 30, 2), mk("main;f", 20, 1), mk("main;g", 5, 10), mk("main;g", 6, 20),
                           mk("main;k", 9, 7)};
    struct sm_site ns[] = {mk("main;g", 105, 1), mk("main;f", 125, 4), mk("main;g", 106, 2), mk("main;f", 135, 3),
                           mk("main;g", 107, 3), mk("main;h", 1, 8)};
    struct sm_unit b = {.sites = bs, .nsites = 5}, n = {.sites = ns, .nsites = 6};
    struct sm_pair *p;
    long np = sm_match(&b, &n, &p);
    CHECK(np == 5);
    int seen = 0;
    for (long i = 0; i < np; i++) {
        const char *key = (p[i].base ? p[i].base : p[i].new)->key;
        if (!strcmp(key, "main;f") && p[i].base->lines[1] == 20) {
            CHECK(p[i].new && p[i].new->lines[1] == 125 && p[i].b.v[SM_ALLOCATIONS] == 1 && p[i].n.v[SM_ALLOCATIONS] == 4);
            seen |= 1;
        } else if (!strcmp(key, "main;f")) {
            CHECK(p[i].new && p[i].new->lines[1] == 135 && p[i].b.v[SM_ALLOCATIONS] == 2 && p[i].n.v[SM_ALLOCATIONS] == 3);
            seen |= 2;
        } else if (!strcmp(key, "main;g")) {
            CHECK(p[i].nb == 2 && p[i].nn == 3 && p[i].b.v[SM_ALLOCATIONS] == 30 && p[i].n.v[SM_ALLOCATIONS] == 6);
            seen |= 4;
        } else if (!strcmp(key, "main;h")) {
            CHECK(!p[i].base && p[i].nn == 1 && p[i].n.v[SM_ALLOCATIONS] == 8);
            seen |= 8;
        } else if (!strcmp(key, "main;k")) {
            CHECK(!p[i].new && p[i].nb == 1 && p[i].b.v[SM_ALLOCATIONS] == 7);
            seen |= 16;
        }
    }
    CHECK(seen == 31);
    free(p);
    for (int i = 0; i < 5; i++)
        free(bs[i].lines);
    for (int i = 0; i < 6; i++)
        free(ns[i].lines);
}

int main(void)
{
    uint64_t x;
    /* sizes: powers of 1024 */
    CHECK(sm_parse_size("4096", &x) == 0 && x == 4096);
    CHECK(sm_parse_size("64MiB", &x) == 0 && x == 64ull << 20);
    CHECK(sm_parse_size("20MiB", &x) == 0 && x == 20ull << 20);
    CHECK(sm_parse_size("1.5G", &x) == 0 && x == 3ull << 29);
    CHECK(sm_parse_size("64k", &x) == 0 && x == 65536);
    CHECK(sm_parse_size("10B", &x) == 0 && x == 10);
    const char *bad_sizes[] = {"", "-1", "+5", "1e3", "0x10", "nan", "inf", "64XB", "1..2", "MiB", "5 MiB", "64iB"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++)
        CHECK(sm_parse_size(bad_sizes[i], &x) == -1);

    /* the example: four items, relative and absolute */
    CHECK(parse("peak:+5%,leaked:0,allocations:+10%,bytes:+20MiB", 1) == 0 && nlims == 4);
    CHECK(lims[0].metric == SM_PEAK && lims[0].space == -1 && lims[0].kind == SM_GROW_PCT && lims[0].pct_milli == 5000);
    CHECK(lims[1].metric == SM_LEAKED && lims[1].kind == SM_CAP && lims[1].amount == 0);
    CHECK(lims[2].metric == SM_ALLOCATIONS && lims[2].kind == SM_GROW_PCT && lims[2].pct_milli == 10000);
    CHECK(lims[3].metric == SM_BYTES && lims[3].kind == SM_GROW_ABS && lims[3].amount == 20ull << 20);
    CHECK(parse(" peak.cuda-device : 1GiB , leaked_blocks:3", 0) == 0 && nlims == 2);
    CHECK(lims[0].space == MRZ_S_CUDA_DEVICE && lims[0].amount == 1ull << 30 && lims[1].amount == 3);

    /* where limits start failing: the allowed value itself passes */
    uint64_t allowed = 0;
    CHECK(crossed("allocations:+10%", 1000, 1100, &allowed) == 0 && allowed == 1100);
    CHECK(crossed("allocations:+10%", 1000, 1101, NULL) == 1);
    CHECK(crossed("bytes:+2.5%", 1000, 1025, &allowed) == 0 && allowed == 1025);
    CHECK(crossed("bytes:+2.5%", 1000, 1026, NULL) == 1);
    CHECK(crossed("peak:+0%", 4096, 4096, NULL) == 0);
    CHECK(crossed("peak:+0%", 4096, 4097, NULL) == 1);
    CHECK(crossed("peak:+5%", 0, 1, &allowed) == 1 && allowed == 0); /* nothing to grow from */
    CHECK(crossed("bytes:+20MiB", 1000, 1000 + (20ull << 20), NULL) == 0);
    CHECK(crossed("bytes:+20MiB", 1000, 1001 + (20ull << 20), NULL) == 1);
    CHECK(crossed("leaked:0", 0, 0, NULL) == 0);
    CHECK(crossed("leaked:0", 5, 1, NULL) == 1); /* a cap ignores the base */
    CHECK(crossed("temporaries:7", 100, 7, NULL) == 0);
    CHECK(crossed("temporaries:7", 0, 8, NULL) == 1);
    /* a shrink always passes a growth limit */
    CHECK(crossed("peak:+0%", 4096, 100, NULL) == 0);
    CHECK(crossed("bytes:+1TiB", UINT64_MAX - 10, UINT64_MAX, &allowed) == 0 && allowed == UINT64_MAX); /* saturates */

    /* per-space metrics without a space: host always, other spaces when used */
    CHECK(parse("peak:+0%", 1) == 0);
    struct sm_totals b = {0}, n = {0};
    b.space[MRZ_S_HOST].v[SM_PEAK] = n.space[MRZ_S_HOST].v[SM_PEAK] = 100;
    n.space[MRZ_S_CUDA_DEVICE].v[SM_ALLOCATIONS] = 1;
    n.space[MRZ_S_CUDA_DEVICE].v[SM_PEAK] = 1 << 20;
    struct sm_verdict *v = NULL;
    int nv = 0;
    CHECK(sm_evaluate(lims, nlims, &b, &n, "u", &v, &nv) == 1);
    CHECK(nv == 2 && v[0].space == MRZ_S_HOST && !v[0].crossed && v[1].space == MRZ_S_CUDA_DEVICE && v[1].crossed);
    free(v);

    /* refused, each with its reason */
    CHECK(refused("", 1, "empty"));
    CHECK(refused("peak", 1, "expected METRIC:LIMIT"));
    CHECK(refused("peak:", 1, "missing"));
    CHECK(refused("foo:1", 1, "unknown metric 'foo'"));
    CHECK(refused("peak.gpu:1", 1, "unknown space 'gpu'"));
    CHECK(refused("allocations.host:1", 1, "not kept per space"));
    CHECK(refused("peak:5%", 1, "write '+5%'"));
    CHECK(refused("peak:-5%", 1, "cannot be negative"));
    CHECK(refused("peak:+x%", 1, "not a percentage"));
    CHECK(refused("peak:+5", 1, "") == 0); /* +5 bytes is a valid growth */
    CHECK(refused("peak:12parsecs", 1, "not a size"));
    CHECK(refused("allocations:1k", 1, "not a whole number"));
    CHECK(refused("peak:+5%,,leaked:0", 1, "empty item"));
    CHECK(refused("peak:+5%", 0, "need a base"));
    free(lims);
    check_matching();
    return check_report("test_limits");
}
