/* sk_attn_check.h — the argument checks every attention entry point shares (dense and SparseK):
 * the problem's shape, and the tensors (alignment, scale, strides). Each fails with a status and
 * a message naming the argument; neither needs the device. */
#ifndef SK_ATTN_CHECK_H
#define SK_ATTN_CHECK_H

#include <stdint.h>

#include "sk_internal.h"

/* 1 when p is not a multiple of `align` (a power of two). */
static inline int sk_misaligned(const void *p, uintptr_t align) { return ((uintptr_t)p & (align - 1)) != 0; }

/* dtype, dims >= 1, the grid limits (batch, heads_q <= 65535), heads_q a multiple of heads_kv,
 * head_dim in {64, 96, 128, 256}. */
SK_HIDDEN sparsek_status sk_attn_check_shape(const sparsek_attention_params *p, sk_err *err);

/* q, k, v, o 16-byte aligned, lse 4-byte aligned, scale finite and >= 0, every stride a
 * non-negative multiple of 8 elements and sequence strides not below head_dim (where more than
 * one row exists). The pointers must already be known non-NULL. */
SK_HIDDEN sparsek_status sk_attn_check_tensors(const sparsek_attention_params *p, sk_err *err);

#endif
