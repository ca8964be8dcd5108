#include "options.h"

#include <stdlib.h>
#include <string.h>

const struct mr_option mr_options[] = {
    {"output", 'o', "MALLOCREC_OUTPUT", MR_OPT_STR, "TEMPLATE",
     "trace file name; %p is the pid, %n the program name (default %n.%p.mrz)"},
    {"no-follow", 0, "MALLOCREC_NO_FOLLOW", MR_OPT_FLAG, NULL,
     "record the first process only, not its forked or exec'd children"},
    {"stack-depth", 0, "MALLOCREC_STACK_DEPTH", MR_OPT_INT, "N", "frames kept per stack (default 128)"},
    {"no-stacks", 0, "MALLOCREC_NO_STACKS", MR_OPT_FLAG, NULL, "record no stacks (fastest)"},
    {"start-paused", 0, "MALLOCREC_START_PAUSED", MR_OPT_FLAG, NULL,
     "record nothing until the program calls mallocrec_resume() or mallocrec_start()"},
    {"sample", 0, "MALLOCREC_SAMPLE", MR_OPT_SIZE, "BYTES",
     "sample allocations by bytes: one sample point per BYTES allocated on average (Poisson)"},
    {"level", 0, "MALLOCREC_LEVEL", MR_OPT_INT, "N", "zstd level of the trace's chunks (default 1)"},
};
const int mr_noptions = (int)(sizeof mr_options / sizeof *mr_options);

int mr_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib")))
        end += strlen(end);
    else if (mul == 1 && (!strcmp(end, "B")))
        end++;
    if (*end)
        return -1;
    v *= mul;
    if (v >= 18446744073709551615.0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}
