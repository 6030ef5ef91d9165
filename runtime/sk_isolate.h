/* sk_isolate.h — run a compile in a child process with a time limit, so that a compiler crash
 * or hang fails only that compile. */
#ifndef SK_ISOLATE_H
#define SK_ISOLATE_H

#include "sk_nvrtc.h"

/* The work done in the child. Must fill r or err and return a status. */
typedef sparsek_status (*sk_isolated_fn)(void *ctx, sk_compile_result *r, sk_err *err);

/* Forks; the child runs fn(ctx, ...) and sends the result back over a pipe; the parent waits
 * at most timeout_ms (0: 120000). A child killed by a signal gives SPARSEK_COMPILE_CRASHED
 * (the message names the signal), a child past the limit is killed and gives
 * SPARSEK_COMPILE_TIMEOUT; otherwise the child's status, result and message come back as if
 * fn had run here. */
SK_HIDDEN sparsek_status sk_isolated_run(sk_isolated_fn fn, void *ctx, unsigned timeout_ms,
                                         sk_compile_result *r, sk_err *err);

/* Convenience: sk_nvrtc_compile in a child. */
SK_HIDDEN sparsek_status sk_nvrtc_compile_isolated(sk_nvrtc *n, const char *source,
                                                   const char *name, const char *arch,
                                                   unsigned timeout_ms, sk_compile_result *r,
                                                   sk_err *err);
#endif
