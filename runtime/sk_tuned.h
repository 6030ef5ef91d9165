/* sk_tuned.h — tuned winners: how a cache entry says which shape buckets it won, and the
 * runtime's table that picks the winner for a call's bucket.
 *
 * A tuned entry is an ordinary cache entry (one cubin, keyed by its config) whose `bucket`
 * field lists the buckets it won, separated by blanks:
 *   "sm_90a/bf16/d128/causal/g1/q4096/k4096"              one bucket, its time in time_us
 *   "sm_90a/bf16/d128/causal/g1/q1024/k1024@812.5 sm_90a/bf16/d128/causal/g1/q4096/k4096@3011"
 *                                                        several: each with its own time (us)
 * One config can win several buckets (they differ only in Sq, Sk or the GQA group), and a
 * cache key names a config, so the list lives in the one entry. Older readers see one bucket.
 *
 * The runtime's table fills from sparsek_runtime_load (those entries win) and, once, from the
 * runtime's own cache folder (what `sparsek-tune tune` wrote there). A call without a tile
 * config takes the winner of its bucket, else of the nearest tuned bucket (sk_bucket), else
 * the heuristic. */
#ifndef SK_TUNED_H
#define SK_TUNED_H

#include "sk_bucket.h"
#include "sk_runtime.h"

#define SK_TUNED_MAX 256 /* buckets one entry may list */

typedef struct sk_tuned_win {
    char bucket[96];
    double us;
} sk_tuned_win;

/* Parses a bucket field into out[0..cap); a plain item takes `time_us`. Returns the number of
 * items (0 for "" or NULL), or -1 when an item is not a valid bucket or time, or past cap. */
SK_HIDDEN int sk_tuned_parse(const char *field, double time_us, sk_tuned_win *out, int cap);
/* The field for w[0..n) (malloc'd; NULL when out of memory): one item plainly with *time_us its
 * time; several as "bucket@us" with *time_us the first one's. n == 0 gives "" and 0. */
SK_HIDDEN char *sk_tuned_format(const sk_tuned_win *w, int n, double *time_us);
/* Sets bucket's time in w (adding it when absent; n must leave room); returns the new count. */
SK_HIDDEN int sk_tuned_set(sk_tuned_win *w, int n, const char *bucket, double us);
/* Removes bucket from w; returns the new count. */
SK_HIDDEN int sk_tuned_remove(sk_tuned_win *w, int n, const char *bucket);

/* One row of the runtime's table. */
typedef struct sk_tuned_item {
    sk_bucket b;
    char *family, *config;
    char *gpu;  /* the GPU it was tuned on */
    double us;
    int pinned; /* from sparsek_runtime_load: a folder scan does not replace it */
} sk_tuned_item;

/* Adds every bucket of a tuned entry (for the device's arch) to rt's table. */
SK_HIDDEN void sk_rt_tuned_add_entry(sparsek_runtime *rt, const sk_cache_entry *e, int pinned);
/* Scans rt's own cache folder for tuned entries, the first time only (again after `force`);
 * with `say`, says (sk_rt_note) when the device has no tuned entry at all. The device must be
 * ready. */
SK_HIDDEN void sk_rt_tuned_scan(sparsek_runtime *rt, int force, int say);
/* Tuned buckets the table holds for the device's arch (with same_gpu: tuned on a GPU of the
 * device's name). */
SK_HIDDEN int sk_rt_tuned_count(sparsek_runtime *rt, int same_gpu);
/* The tuned config for a call of `family` with p's shape: 1 and cfg filled (with the bucket
 * used in `used` and its tuned time in *us, both may be NULL), else 0. Winners tuned on a GPU of
 * the device's name come first (nearest bucket among them), then those of other GPUs of the
 * same arch. */
SK_HIDDEN int sk_rt_tuned_config(sparsek_runtime *rt, const char *family, const sparsek_attention_params *p,
                                 char *cfg, size_t n, char *used, size_t used_n, double *us);
SK_HIDDEN void sk_rt_tuned_free(sparsek_runtime *rt);

/* An informational message for the user: to opts.log when set, else to stderr when
 * $SPARSEK_VERBOSE is set and not "0", else nowhere. The library's only output. */
SK_HIDDEN void sk_rt_note(sparsek_runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The heuristic config of a dense attention call ("d=.. dtype=.. causal=.. [tile hint]"), as if
 * nothing were tuned (runtime/sk_fmha.c). */
SK_HIDDEN sparsek_status sk_fmha_heuristic_config(sparsek_runtime *rt, const sparsek_attention_params *p,
                                                  char *buf, size_t n, sk_err *err);

#endif
