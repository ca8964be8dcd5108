/* The command table: each subcommand file exports one struct an_cmd. */
#ifndef AN_COMMANDS_H
#define AN_COMMANDS_H

extern const struct an_cmd an_cmd_info, an_cmd_dump;

#define AN_COMMANDS &an_cmd_info, &an_cmd_dump

#endif
