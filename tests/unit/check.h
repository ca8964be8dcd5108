/* check.h — the unit tests' minimal harness: CHECK records a failure with
 * its line and goes on, so one run shows every broken expectation. */
#ifndef CHECK_H
#define CHECK_H

#include <inttypes.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        check_count++;                                                                      \
        if (!(cond)) {                                                                      \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                                   \
    } while (0)

/* Equality of two unsigned 64-bit values, printing both on failure. */
#define CHECK_EQ(a, b)                                                                      \
    do {                                                                                    \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                    \
        check_count++;                                                                      \
        if (a_ != b_) {                                                                     \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: 0x%" PRIx64 " != 0x%" PRIx64 "\n",     \
                    __FILE__, __LINE__, #a, #b, a_, b_);                                    \
        }                                                                                   \
    } while (0)

/* @return the process exit status: 0 when every check passed. */
static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
