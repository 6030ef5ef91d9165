/* sk_tune.h — the autotuner's decision logic, independent of how candidates are measured.
 *
 * For one shape bucket the tuner measures each candidate config through a callback (on a GPU:
 * compile, check against the reference, time; in tests: a fake), appends every result to a
 * log as it arrives (so a killed run resumes where it stopped), and ranks: the fastest
 * candidate whose output was correct wins; a wrong or failed candidate is never ranked.
 *
 * Log format: one line per measured candidate, tab-separated
 *   bucket  config  status(ok|wrong|failed)  median_us  rel_err  note
 * appended with O_APPEND and fsync'ed; a torn last line (no newline) is ignored on reading. */
#ifndef SK_TUNE_H
#define SK_TUNE_H

#include "sk_internal.h"

/* SKIPPED (from a measure callback): not measured and not logged; the bucket stops there (a
 * time budget ran out) and has no winner. */
typedef enum { SK_TUNE_OK = 0, SK_TUNE_WRONG = 1, SK_TUNE_FAILED = 2, SK_TUNE_SKIPPED = 3 } sk_tune_status;

typedef struct sk_tune_result {
    char config[512];
    sk_tune_status status;
    double median_us;   /* meaningful when status is OK */
    double rel_err;     /* against the reference; NaN if not checked */
    char note[256];     /* why it failed or was wrong */
} sk_tune_result;

/* Measures one candidate: fills r->status, median_us, rel_err, note. */
typedef void (*sk_tune_measure_fn)(void *ctx, const char *config, sk_tune_result *r);

/* Tunes one bucket over candidates[0..n): measures those the log at log_path does not already
 * hold for this bucket, logging each, then ranks everything logged for the bucket among the
 * candidates. *winner gets the fastest correct one (SPARSEK_NOT_SUPPORTED if none is correct).
 * measured_now (may be NULL) counts the measurements made by this call. */
SK_HIDDEN sparsek_status sk_tune_bucket(const char *log_path, const char *bucket, char *const *candidates, int n,
                                        sk_tune_measure_fn fn, void *ctx, sk_tune_result *winner,
                                        int *measured_now, sk_err *err);

/* Appends one result line for `bucket` (a measure callback may log a "failed" placeholder
 * before a risky measurement: if the process dies, a resumed run finds the candidate failed
 * instead of measuring it again; a later line for the same config supersedes it). */
SK_HIDDEN sparsek_status sk_tune_log_append(const char *log_path, const char *bucket, const sk_tune_result *r,
                                            sk_err *err);

/* Reads every complete log line for `bucket` (NULL: all buckets) into a malloc'd array. */
SK_HIDDEN sparsek_status sk_tune_log_read(const char *log_path, const char *bucket, sk_tune_result **out,
                                          int *count, sk_err *err);

/* Copies the tuned entries (bucket set) of cache_dir made on `gpu` (NULL: any) to out_dir,
 * re-validating each; *copied counts them. Import is the same operation in the other direction:
 * sk_tune_copy_winners(in_dir, NULL, cache_dir, ...). */
SK_HIDDEN sparsek_status sk_tune_copy_winners(const char *from_dir, const char *gpu, const char *to_dir,
                                              int *copied, sk_err *err);

/* What compiling one candidate gave. */
typedef struct sk_compile_outcome {
    sparsek_status status;
    int registers, spill_stores, spill_loads;
    size_t cubin_size;
    int from_cache;
    char message[512]; /* the failure, from sparsek_last_error */
} sk_compile_outcome;

/* Compiles configs[0..n) of `family` for `arch` on `jobs` threads (<= 0: the number of online
 * CPUs) through rt, which should isolate compiles (sparsek_runtime_options.isolate_compiles):
 * then each compile runs in its own child process with the runtime's time limit, so a crash or
 * hang fails only that candidate. Results land in the disk cache as usual; out[i] says what
 * happened to configs[i]. Fails only on bad arguments. */
SK_HIDDEN sparsek_status sk_tune_compile_all(sparsek_runtime *rt, const char *family, char *const *configs, int n,
                                             const char *arch, int jobs, sk_compile_outcome *out, sk_err *err);

#endif
