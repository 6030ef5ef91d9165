/* cli_tune.h — `sparsek-tune tune`, `show` and `load`. */
#ifndef CLI_TUNE_H
#define CLI_TUNE_H

/* argv: the arguments after the command name; each returns the exit status. */
int sk_cli_tune(int argc, char **argv, const char *prog);
int sk_cli_show(int argc, char **argv, const char *prog);
int sk_cli_load(int argc, char **argv, const char *prog);

#endif
