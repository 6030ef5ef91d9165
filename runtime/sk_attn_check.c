/* sk_attn_check.c — argument checks shared by the attention entry points (sk_attn_check.h). */
#include <math.h>

#include "sk_attn_check.h"

sparsek_status sk_attn_check_shape(const sparsek_attention_params *p, sk_err *err) {
    if (p->dtype != SPARSEK_FP16 && p->dtype != SPARSEK_BF16)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "dtype %d is not SPARSEK_FP16 or SPARSEK_BF16", (int)p->dtype);
    if (p->batch < 1 || p->seqlen_q < 1 || p->seqlen_k < 1 || p->heads_q < 1 || p->heads_kv < 1)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                       "dims must be >= 1 (batch=%d seqlen_q=%d seqlen_k=%d heads_q=%d heads_kv=%d)", p->batch,
                       p->seqlen_q, p->seqlen_k, p->heads_q, p->heads_kv);
    if (p->batch > 65535 || p->heads_q > 65535)
        return sk_fail(err, SPARSEK_NOT_SUPPORTED, "batch (%d) and heads_q (%d) must be at most 65535", p->batch,
                       p->heads_q);
    if (p->heads_q % p->heads_kv != 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "heads_q (%d) must be a multiple of heads_kv (%d)", p->heads_q,
                       p->heads_kv);
    if (p->head_dim != 64 && p->head_dim != 96 && p->head_dim != 128 && p->head_dim != 256)
        return sk_fail(err, SPARSEK_NOT_SUPPORTED, "head_dim %d not supported (64, 96, 128, 256)", p->head_dim);
    return SPARSEK_OK;
}

sparsek_status sk_attn_check_tensors(const sparsek_attention_params *p, sk_err *err) {
    if (sk_misaligned(p->q, 16) || sk_misaligned(p->k, 16) || sk_misaligned(p->v, 16) || sk_misaligned(p->o, 16))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "q, k, v and o must be 16-byte aligned");
    if (p->lse && sk_misaligned(p->lse, 4)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "lse must be 4-byte aligned");
    if (!(p->scale >= 0.f) || isinf(p->scale))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scale must be finite and > 0 (0 selects 1/sqrt(head_dim)), got %g",
                       (double)p->scale);
    const struct { const char *name; const int64_t *st; int rows; } s[4] = {
        {"q", p->q_stride, p->seqlen_q}, {"k", p->k_stride, p->seqlen_k},
        {"v", p->v_stride, p->seqlen_k}, {"o", p->o_stride, p->seqlen_q}};
    const char *dim[3] = {"batch", "sequence", "head"};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            /* 16-byte rows: every row start must stay aligned, so strides are multiples of 8. */
            if (s[i].st[j] < 0 || s[i].st[j] % 8 != 0)
                return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                               "%s %s stride %lld must be a non-negative multiple of 8 elements", s[i].name, dim[j],
                               (long long)s[i].st[j]);
    /* Rows of one head must not overlap the head dim: a stride below D would alias elements. */
    for (int i = 0; i < 4; i++)
        if (s[i].st[1] < p->head_dim && s[i].rows > 1)
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "%s sequence stride %lld is smaller than head_dim %d",
                           s[i].name, (long long)s[i].st[1], p->head_dim);
    return SPARSEK_OK;
}
