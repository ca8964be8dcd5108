/* Option lookup and error reporting shared by every subcommand. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mallocan.h"

int an_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mallocan: %s%s", what ? what : "", what ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

void an_warn(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mallocan: warning: %s%s", what ? what : "", what ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int an_opt_find(const struct an_cmd *cmd, const char *name)
{
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        if (!strcmp(cmd->opts[i].name, name))
            return i;
    return -1;
}

const char *an_get(const struct an_ctx *ctx, const char *name)
{
    int i = an_opt_find(ctx->cmd, name);
    if (i < 0)
        return NULL;
    return ctx->val[i] ? ctx->val[i] : ctx->cmd->opts[i].dflt;
}

int an_get_long(const struct an_ctx *ctx, const char *name, long *out)
{
    const char *v = an_get(ctx, name);
    if (!v)
        return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 0) {
        an_error(NULL, "--%s: '%s' is not a non-negative number", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

const char *an_get_format(const struct an_ctx *ctx, const char *allowed)
{
    const char *v = an_get(ctx, "format");
    if (!v)
        v = "text";
    size_t n = strlen(v);
    for (const char *p = allowed; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return v;
        p = bar ? bar + 1 : NULL;
    }
    an_error(NULL, "--format: '%s' is not one of %s", v, allowed);
    return NULL;
}

