/* gpu_common.h — what the GPU test programs share: the Driver API table with a checking macro,
 * and a seeded xorshift generator (uniform and normal draws) so every case is reproducible
 * from --seed. Header-only: each test is one translation unit. */
#ifndef GPU_COMMON_H
#define GPU_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sk_runtime.h"

static sk_cuda cu;

/* Runs a Driver API call; on failure prints where and the error's name, and exits 1. */
#define CHECK_CU(call)                                                                          \
    do {                                                                                        \
        CUresult r_ = (call);                                                                   \
        if (r_ != CUDA_SUCCESS) {                                                               \
            const char *n_ = "?";                                                               \
            cu.cuGetErrorName(r_, &n_);                                                         \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, n_);          \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static uint64_t rng_state; /* seeded by main from --seed */
static inline uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static inline double urand(void) { return (double)(rng() >> 11) / 9007199254740992.0; }
static inline double nrand(void) {
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static inline int pick(const int *v, int n) { return v[rng() % (uint64_t)n]; }

/* A kernel's output against the float64 reference over sampled rows: squared error and squared
 * reference norm of the outputs, the LSE rows that disagree and the largest LSE difference. */
typedef struct row_errors {
    double err2, ref2, lse_err;
    int lse_bad;
} row_errors;

/* Adds rows[0 .. nrows) of (batch bi, query head h): ref [nrows][head_dim] and lref [nrows] from
 * the reference, o the kernel output as float in p's strides, lse [B, Hq, Sq]. A NaN output is
 * an infinite error; an LSE matches within 2e-3 (1 + |lse|), or both are -inf. */
static void row_errors_add(row_errors *e, const sparsek_attention_params *p, const float *o, const float *lse, int bi,
                           int h, const int *rows, int nrows, const double *ref, const double *lref) {
    for (int ri = 0; ri < nrows; ri++) {
        const int i = rows[ri];
        const float *oi = o + bi * p->o_stride[0] + (int64_t)i * p->o_stride[1] + h * p->o_stride[2];
        for (int x = 0; x < p->head_dim; x++) {
            const double r = ref[(size_t)ri * p->head_dim + x], dlt = (double)oi[x] - r;
            e->err2 += isnan(oi[x]) ? INFINITY : dlt * dlt;
            e->ref2 += r * r;
        }
        const double lr = lref[ri], lgot = lse[((int64_t)bi * p->heads_q + h) * p->seqlen_q + i];
        if (isinf(lr) || isinf(lgot)) {
            if (!(isinf(lr) && isinf(lgot) && lr < 0 && lgot < 0)) e->lse_bad++;
        } else {
            const double d = fabs(lgot - lr);
            if (!(d <= 2e-3 * (1 + fabs(lr)))) e->lse_bad++;
            if (d > e->lse_err) e->lse_err = d;
        }
    }
}

/* Folds b (one worker's errors) into a. */
static inline void row_errors_merge(row_errors *a, const row_errors *b) {
    a->err2 += b->err2;
    a->ref2 += b->ref2;
    a->lse_bad += b->lse_bad;
    if (b->lse_err > a->lse_err) a->lse_err = b->lse_err;
}

/* ||out - ref|| / ||ref|| (the absolute norm when the reference is all zeros). */
static inline double row_errors_rel(const row_errors *e) {
    return e->ref2 > 0 ? sqrt(e->err2 / e->ref2) : sqrt(e->err2);
}

#endif
