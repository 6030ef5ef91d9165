/* sk_nvrtc.h — NVRTC opened lazily with dlopen, and compilation to CUBIN. No GPU needed. */
#ifndef SK_NVRTC_H
#define SK_NVRTC_H

#include "sk_internal.h"

typedef struct sk_nvrtc sk_nvrtc;

/* Opens libnvrtc.so.13 (then libnvrtc.so) with dlopen, or the path in $SPARSEK_NVRTC_LIBRARY
 * if set (tests use a bad path there to prove a process runs without NVRTC).
 * SPARSEK_NVRTC_UNAVAILABLE if it cannot be opened. */
SK_HIDDEN sparsek_status sk_nvrtc_open(sk_nvrtc **out, sk_err *err);
SK_HIDDEN void sk_nvrtc_close(sk_nvrtc *n);
/* "nvrtc-13.0" — part of the cache key. */
SK_HIDDEN const char *sk_nvrtc_version_string(const sk_nvrtc *n);

/* Result of one compile. All pointers malloc'd. */
typedef struct sk_compile_result {
    void *cubin;
    size_t cubin_size;
    char *log;           /* NVRTC program log (ptxas -v report included) */
    int registers;       /* parsed from the ptxas report; -1 if absent */
    int spill_stores, spill_loads, stack_frame, static_smem;
} sk_compile_result;

SK_HIDDEN void sk_compile_result_clear(sk_compile_result *r);

/* Parses "Used N registers", "N bytes stack frame, N bytes spill stores, N bytes spill loads"
 * and "N bytes smem" lines of a ptxas -v report into r. */
SK_HIDDEN void sk_parse_ptxas_report(const char *log, sk_compile_result *r);

/* The fixed compile options for `arch` ("sm_80", "sm_90a", "sm_100a"): arch flag, -std=c++17,
 * -default-device, include of the toolkit headers, ptxas -v ... One string, space-separated;
 * part of the cache key. */
SK_HIDDEN const char *sk_nvrtc_options_string(void);

/* Compiles `source` to a CUBIN for `arch`. On a compile error: SPARSEK_COMPILE with the log
 * in err->msg (and in r->log). */
SK_HIDDEN sparsek_status sk_nvrtc_compile(sk_nvrtc *n, const char *source, const char *name,
                                          const char *arch, sk_compile_result *r, sk_err *err);

/* Is `arch` one we compile for ("sm_80", "sm_86", "sm_89", "sm_90", "sm_90a", "sm_100a", "sm_120", ...)? */
SK_HIDDEN int sk_arch_valid(const char *arch);

#endif
