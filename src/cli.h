/* One function per subcommand, listed in one table in main.c (tmux's
 * cmd_entry style). Each returns the process exit code. */
#ifndef DL_SRC_CLI_H
#define DL_SRC_CLI_H

struct cmd_entry {
    const char *name;
    const char *usage;   /* one line of arguments; NULL: not in this version */
    const char *summary; /* one line */
    const char *help;    /* the rest of --help, may be NULL */
    int (*exec)(int argc, char **argv);
};

int cmd_status(int argc, char **argv);
int cmd_pid(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_terminate(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_partition(int argc, char **argv);
int cmd_heal(int argc, char **argv);
int cmd_net(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_client(int argc, char **argv);

/* Print a command's usage and help (for --help and usage errors). */
void cli_usage(const char *name, FILE *f);

#endif
