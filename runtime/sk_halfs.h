/* sk_halfs.h — fp16 / bf16 bit patterns to double, for the host references (sk_reference.c,
 * sk_sparsek_ref.c). Internal; exact conversions (every half and bfloat16 value is a double). */
#ifndef SK_HALFS_H
#define SK_HALFS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sparsek.h"

static inline double sk_bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline double sk_fp16_value(uint16_t h) {
    const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0) v = ldexp(mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexp(mant | 0x400, exp - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element `off` (in elements) of a host array of 16-bit values of `dtype`. */
static inline double sk_half_element(sparsek_dtype dtype, const void *base, int64_t off) {
    const uint16_t h = ((const uint16_t *)base)[off];
    return dtype == SPARSEK_BF16 ? sk_bf16_value(h) : sk_fp16_value(h);
}

#endif
