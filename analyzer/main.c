/* mallocan: the command table, option parsing and help. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mallocan.h"
#include "options.h"

#ifndef MALLOCAN_VERSION
#define MALLOCAN_VERSION "0"
#endif

#include "commands.h"

static const struct an_cmd *const commands[] = {AN_COMMANDS};
#define NCOMMANDS (int)(sizeof commands / sizeof *commands)

static void cmd_help(FILE *f, const struct an_cmd *c)
{
    fprintf(f, "usage: mallocan %s [options] %s\n\n%s\n", c->name, c->args, c->summary);
    if (c->opts && c->opts[0].name)
        fprintf(f, "\noptions:\n");
    for (int i = 0; c->opts && c->opts[i].name; i++) {
        const struct an_opt *o = &c->opts[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        mr_help_line(f, 28, left, o->help, o->dflt);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mallocan COMMAND [options] TRACE...\n\n"
               "Reads .mrz traces written by mallocrec(1).\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'mallocan COMMAND --help' shows a command's options.\n"
               "Exit status: 0 fine, 1 a gate failed (diff, check), 2 bad usage or bad input.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mallocan %s (trace format %d.%d)\n", MALLOCAN_VERSION, MRZ_VERSION_MAJOR, MRZ_VERSION_MINOR);
        return 0;
    }
    const struct an_cmd *cmd = NULL;
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i]->name, argv[1]))
            cmd = commands[i];
    if (!cmd)
        return an_error(NULL, "unknown command '%s'; try 'mallocan --help'", argv[1]);

    struct an_ctx ctx = {.cmd = cmd, .out = stdout};
    char **traces = calloc((size_t)argc, sizeof *traces);
    int only_args = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || !a[1]) {
            traces[ctx.ntraces++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cmd_help(stdout, cmd);
            free(traces);
            return 0;
        }
        int k = -1;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            char name[64];
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (n >= sizeof name)
                n = sizeof name - 1;
            memcpy(name, a + 2, n);
            name[n] = 0;
            k = an_opt_find(cmd, name);
            if (eq)
                val = eq + 1;
        } else if (!a[2]) {
            for (int j = 0; cmd->opts && cmd->opts[j].name; j++)
                if (cmd->opts[j].short_name == a[1])
                    k = j;
        }
        if (k < 0) {
            free(traces);
            return an_error(NULL, "%s: unknown option '%s'; try 'mallocan %s --help'", cmd->name, a, cmd->name);
        }
        if (cmd->opts[k].arg) {
            if (!val) {
                if (i + 1 >= argc) {
                    free(traces);
                    return an_error(NULL, "%s: option '%s' needs an argument (%s)", cmd->name, a,
                                    cmd->opts[k].arg);
                }
                val = argv[++i];
            }
        } else if (val) {
            free(traces);
            return an_error(NULL, "%s: option '--%s' takes no argument", cmd->name, cmd->opts[k].name);
        } else {
            val = "1";
        }
        ctx.val[k] = val;
    }
    ctx.traces = traces;
    if (ctx.ntraces < cmd->min_traces || (cmd->max_traces >= 0 && ctx.ntraces > cmd->max_traces)) {
        an_error(NULL, "%s: expected %s; try 'mallocan %s --help'", cmd->name, cmd->args, cmd->name);
        free(traces);
        return 2;
    }
    int rc = cmd->run(&ctx);
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0)
        rc = an_error(NULL, "cannot write the output");
    free(traces);
    return rc;
}
