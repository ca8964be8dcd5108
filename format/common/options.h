/* options.h — the recorder's options: one table shared by the launcher
 * (which turns command-line flags into MALLOCREC_* variables and prints its
 * help from it) and the preloaded library (which reads them once). */
#ifndef MRZ_OPTIONS_H
#define MRZ_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

enum mr_opt_type { MR_OPT_FLAG, MR_OPT_INT, MR_OPT_SIZE, MR_OPT_STR };

struct mr_option {
    const char *flag;      /* launcher's long option, without "--" */
    char short_flag;       /* or 0 */
    const char *env;       /* MALLOCREC_* variable */
    enum mr_opt_type type;
    const char *arg;       /* argument name in the help, NULL for flags */
    const char *help;
};

extern const struct mr_option mr_options[];
extern const int mr_noptions;

/* Environment variables the launcher sets besides the table's. */
#define MR_ENV_SESSION "MALLOCREC_SESSION"  /* file listing every trace written */

/** Prints one option of a --help: "  LEFT HELP (default DFLT)", LEFT padded
 * to `width` columns and HELP wrapped at spaces to fit 79 columns, its
 * continuation lines aligned under its start; dflt may be NULL.  For the
 * command lines only. */
void mr_help_line(FILE *f, int width, const char *left, const char *help, const char *dflt);

/** Parses a size such as 4096, 64k, 64KiB, 1.5M, 2GiB (powers of 1024):
 * digits with at most one '.', then an optional unit.
 * @return 0 on success, -1 on a malformed or overflowing value. */
int mr_parse_size(const char *s, uint64_t *out);

#endif
