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
    if (!s)
        return -1;
    /* digits with at most one '.': no sign, space, exponent, hex, "inf" or
     * "nan" reaches strtod */
    size_t i = 0, digits = 0, dots = 0;
    for (; (s[i] >= '0' && s[i] <= '9') || s[i] == '.'; i++) {
        if (s[i] == '.')
            dots++;
        else
            digits++;
    }
    if (!digits || dots > 1)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end != s + i)
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

void mr_help_line(FILE *f, int width, const char *left, const char *help, const char *dflt)
{
    int indent = 2 + width + 1, room = 79 - indent;
    if (room < 20)
        room = 20;
    fprintf(f, "  %-*s ", width, left);
    if ((int)strlen(left) > width) /* too long to share the line */
        fprintf(f, "\n%*s", indent, "");
    const char *p = help;
    int used = 0; /* columns of the line being written */
    while (*p) {
        /* the longest run of whole words that fits (a longer word alone) */
        int n = 0, cut = 0;
        while (p[n] && n <= room) {
            if (p[n] == ' ')
                cut = n;
            n++;
        }
        if (!p[n] && n <= room)
            cut = n;
        else if (!cut)
            while (p[cut] && p[cut] != ' ')
                cut++;
        fprintf(f, "%.*s", cut, p);
        used = cut;
        p += cut;
        while (*p == ' ')
            p++;
        if (*p)
            fprintf(f, "\n%*s", indent, "");
    }
    if (dflt) {
        /* "(default X)" is never split */
        int n = (int)strlen(dflt) + 10;
        if (used && used + 1 + n > room)
            fprintf(f, "\n%*s(default %s)", indent, "", dflt);
        else
            fprintf(f, "%s(default %s)", used ? " " : "", dflt);
    }
    fputc('\n', f);
}
