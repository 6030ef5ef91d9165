/* sk_halfs.h — fp16 / bf16 bit patterns on the host: to double (exact: every half and bfloat16
 * value is a double) for the host references, and from float (round to nearest even) for the
 * programs that make inputs (the GPU test, `sparsek-tune bench`). Internal. */
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

static inline uint16_t sk_bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* Round to nearest even, subnormals included; overflow gives infinity. */
static inline uint16_t sk_fp16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000;
    const int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t mant = u & 0x7fffff;
    if (((u >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        const int shift = 14 - exp;
        uint32_t h = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (uint32_t)exp << 10 | mant >> 13;
    const uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline uint16_t sk_half_from_float(sparsek_dtype dtype, float f) {
    return dtype == SPARSEK_BF16 ? sk_bf16_from_float(f) : sk_fp16_from_float(f);
}

static inline double sk_half_value(sparsek_dtype dtype, uint16_t h) {
    return dtype == SPARSEK_BF16 ? sk_bf16_value(h) : sk_fp16_value(h);
}

/* Element `off` (in elements) of a host array of 16-bit values of `dtype`. */
static inline double sk_half_element(sparsek_dtype dtype, const void *base, int64_t off) {
    return sk_half_value(dtype, ((const uint16_t *)base)[off]);
}

#endif
