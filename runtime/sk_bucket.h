/* sk_bucket.h — shape buckets: how an attention call maps to a tuned entry.
 *
 * A bucket is (arch, dtype, head dim, causal, GQA group, Sq class, Sk class), written
 *   "sm_90a/bf16/d128/causal/g4/q4096/k4096"
 * where the q/k classes are the smallest power of two >= the length, capped at 65536 (longer
 * sequences share the last class). A call whose bucket has no tuned entry uses the nearest tuned
 * bucket of the same arch, dtype, head dim and mask (they share a kernel family instance), by
 * distance |dq| + |dk| in powers of two plus 1/2 for a different GQA group; with none, the
 * heuristic default. Pure functions: no device, no files. */
#ifndef SK_BUCKET_H
#define SK_BUCKET_H

#include "sk_internal.h"

typedef struct sk_bucket {
    char arch[16];
    sparsek_dtype dtype;
    int head_dim, causal, group;
    int q_log2, k_log2; /* class = 2^q_log2 */
} sk_bucket;

#define SK_BUCKET_MAX_LOG2 16

SK_HIDDEN void sk_bucket_of(const char *arch, const sparsek_attention_params *p, sk_bucket *b);
/* Writes the text form; returns 0, or -1 if it does not fit. */
SK_HIDDEN int sk_bucket_format(const sk_bucket *b, char *out, size_t n);
SK_HIDDEN sparsek_status sk_bucket_parse(const char *s, sk_bucket *b, sk_err *err);
/* Cost of serving `want` with `have` in half steps (0: the same bucket), or -1 when they are not
 * compatible (another arch, dtype, head dim or mask). */
SK_HIDDEN int sk_bucket_distance(const sk_bucket *want, const sk_bucket *have);
/* Index in have[0..n) of the bucket to use for `want` (exact, else nearest compatible), or -1. */
SK_HIDDEN int sk_bucket_nearest(const sk_bucket *want, const sk_bucket *have, int n);

#endif
