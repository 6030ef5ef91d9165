/* sk_bench.h — the `sparsek-tune bench` subcommand. */
#ifndef SK_BENCH_H
#define SK_BENCH_H
#include <stdio.h>

void sk_bench_usage(FILE *f, const char *prog);
/* argv: "fmha_fwd" then key=value and options; returns the exit status. */
int sk_bench_main(int argc, char **argv, const char *prog);
#endif
