/* cli_bench.h — the `sparsek-tune bench` subcommand. */
#ifndef CLI_BENCH_H
#define CLI_BENCH_H
#include <stdio.h>

void sk_bench_usage(FILE *f, const char *prog);
/* argv: "fmha_fwd" then key=value and options; returns the exit status. */
int sk_bench_main(int argc, char **argv, const char *prog);
#endif
