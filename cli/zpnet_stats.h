/*
 * zpnet stats (zpnet_stats.c): argv after "stats"; the exit status.
 */
#ifndef ZPNET_CLI_STATS_H
#define ZPNET_CLI_STATS_H

int zpnet_cmd_stats(int argc, char **argv);

#endif
