/* The command table: each subcommand file exports one struct an_cmd. */
#ifndef AN_COMMANDS_H
#define AN_COMMANDS_H

extern const struct an_cmd an_cmd_info, an_cmd_dump;
extern const struct an_cmd an_cmd_report;
extern const struct an_cmd an_cmd_flamegraph, an_cmd_timeline;
extern const struct an_cmd an_cmd_arenas, an_cmd_lifetimes;
extern const struct an_cmd an_cmd_diff, an_cmd_check;

#define AN_COMMANDS &an_cmd_report, &an_cmd_flamegraph, &an_cmd_timeline, &an_cmd_arenas, &an_cmd_lifetimes, &an_cmd_diff, &an_cmd_check, &an_cmd_info, &an_cmd_dump

#endif
