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

#endif
