/* sk_tune_fmha.h — measuring dense attention on the GPU for the tuner: one problem shape,
 * inputs made once, every config checked against the float64 reference before it is timed.
 *
 * Check: outputs poisoned (NaN), one launch, sampled rows of two (batch, head) pairs compared
 * with sparsek_reference_attention_rows (relative L2 error; bf16 1.5e-2, fp16 2e-3).
 * Timing: `warmup` launches, then `iters` launches each between a pair of CUDA events on the
 * default stream, median (and minimum); inputs rotate over enough buffer sets that together
 * they exceed twice the L2 cache (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE), so no run reads the
 * previous run's data from L2. */
#ifndef SK_TUNE_FMHA_H
#define SK_TUNE_FMHA_H

#include "sk_runtime.h"
#include "sk_tune.h"

/* A dense attention problem to tune or time. `tiles` (may be "") fixes tile keys for the whole
 * search (e.g. "warps=4"). */
typedef struct sk_tune_shape {
    int b, h, hkv, sq, sk, d, causal;
    sparsek_dtype dtype;
    char tiles[128];
} sk_tune_shape;

typedef struct sk_fmha_bench sk_fmha_bench;

/* Makes the inputs on rt's device (which must be ready). SPARSEK_NO_DEVICE without a GPU. */
SK_HIDDEN sparsek_status sk_fmha_bench_open(sparsek_runtime *rt, const sk_tune_shape *s, int iters, int warmup,
                                            sk_fmha_bench **out, sk_err *err);
/* Checks, then times `tiles` (fmha_fwd tile keys; NULL: what sparsek_attention_forward picks).
 * r: OK with median_us, WRONG (not timed) with rel_err, or FAILED with the note. */
SK_HIDDEN void sk_fmha_bench_measure(sk_fmha_bench *b, const char *tiles, sk_tune_result *r);
/* 1 once a CUDA error after a launch (a kernel fault) made the context unusable: nothing more
 * can be measured in this process. */
SK_HIDDEN int sk_fmha_bench_fatal(const sk_fmha_bench *b);
SK_HIDDEN void sk_fmha_bench_close(sk_fmha_bench *b);

/* n fp16/bf16 values drawn from N(0, 1) (Box-Muller on a xorshift state x, advanced). */
SK_HIDDEN void sk_fill_normal(uint16_t *dst, size_t n, sparsek_dtype dt, uint64_t *x);
/* The host params of a shape (dims, [B,S,H,D] strides; no pointers). */
SK_HIDDEN void sk_tune_shape_params(const sk_tune_shape *s, sparsek_attention_params *p);

#endif
