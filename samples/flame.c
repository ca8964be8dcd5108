/* Known call chains and byte counts for the pictures (mallocan flamegraph,
 * mallocan timeline); the tests check these figures exactly.
 *
 *   main > load > read_record > xalloc           100 x 32 B, each freed at once
 *                                                (100 temporaries, 3200 B)
 *   main > load > read_record > parse_field > xalloc   100 x 256 B = 25600 B
 *   main > build_index                           1 x 1 MiB = 1048576 B
 *   main > build_index > new_node (inlined)      50 x 4096 B = 204800 B
 *   main > query > xalloc                        10 x 128 B = 1280 B, leaked
 *
 * The peak is right after query: 25600 + 1048576 + 204800 + 1280 =
 * 1280256 bytes in 161 blocks.  Then the index is freed, then the records;
 * query's 10 blocks stay.  Markers "start", "loaded", "indexed", "queried"
 * and "end" separate the phases, 20 ms apart, so the timeline is a
 * staircase.  No stdio: the C library allocates nothing of its own. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mallocrec.h"

#define NOINLINE __attribute__((noinline))

static void *records[100], *nodes[50], *results[10];
static char *table;

NOINLINE void *xalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    memset(p, 0, n);
    return p;
}

static volatile int fields;

NOINLINE void *parse_field(void)
{
    void *p = xalloc(256);
    fields++; /* work after the call: never a tail call, so parse_field stays on the stack */
    return p;
}

NOINLINE void read_record(int i)
{
    void *scratch = xalloc(32); /* freed before the next allocation: a temporary */
    free(scratch);
    records[i] = parse_field();
}

NOINLINE void load(void)
{
    for (int i = 0; i < 100; i++)
        read_record(i);
}

static inline __attribute__((always_inline)) void *new_node(void) { return malloc(4096); }

NOINLINE void build_index(void)
{
    table = malloc(1 << 20);
    for (int i = 0; i < 50; i++)
        nodes[i] = new_node();
}

NOINLINE void query(void)
{
    for (int i = 0; i < 10; i++)
        results[i] = xalloc(128);
}

NOINLINE void release_index(void)
{
    free(table);
    for (int i = 0; i < 50; i++)
        free(nodes[i]);
}

NOINLINE void release_records(void)
{
    for (int i = 0; i < 100; i++)
        free(records[i]);
}

int main(void)
{
    mallocrec_mark("start");
    load();
    usleep(20000);
    mallocrec_mark("loaded");
    build_index();
    usleep(20000);
    mallocrec_mark("indexed");
    query();
    usleep(20000);
    mallocrec_mark("queried");
    release_index();
    usleep(20000);
    release_records();
    mallocrec_mark("end");
    usleep(10000);
    return results[9] == NULL;
}
