/* sk_reference.c — the float64 host reference of dense attention (sparsek.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sk_halfs.h"
#include "sk_runtime.h"

static double element(const sparsek_attention_params *p, const void *base, int64_t off) {
    return sk_half_element(p->dtype, base, off);
}

sparsek_status sparsek_reference_attention_rows(sparsek_runtime *rt, const sparsek_attention_params *p, int b, int h,
                                                const int *rows, int nrows, double *out, double *lse) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p || !p->q || !p->k || !p->v || (nrows > 0 && (!rows || !out)) || nrows < 0)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_reference_attention_rows: NULL argument");
    if (p->dtype != SPARSEK_FP16 && p->dtype != SPARSEK_BF16)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "dtype %d is not SPARSEK_FP16 or SPARSEK_BF16", (int)p->dtype);
    if (p->batch < 1 || p->seqlen_q < 1 || p->seqlen_k < 1 || p->heads_q < 1 || p->heads_kv < 1 || p->head_dim < 1 ||
        p->heads_q % p->heads_kv != 0)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "bad dims (heads_q must be a multiple of heads_kv, all >= 1)");
    if (b < 0 || b >= p->batch || h < 0 || h >= p->heads_q)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "batch %d / head %d out of range", b, h);
    const int d = p->head_dim, hk = h / (p->heads_q / p->heads_kv);
    const double scale = p->scale > 0.f ? p->scale : 1.0 / sqrt((double)d);
    double *s = malloc(sizeof(double) * (size_t)p->seqlen_k);
    if (!s) return sk_rt_failf(rt, SPARSEK_OUT_OF_MEMORY, "out of memory");
    for (int r = 0; r < nrows; r++) {
        const int i = rows[r];
        if (i < 0 || i >= p->seqlen_q) {
            free(s);
            return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "row %d outside [0, %d)", i, p->seqlen_q);
        }
        const int64_t qo = b * p->q_stride[0] + (int64_t)i * p->q_stride[1] + h * p->q_stride[2];
        /* Bottom-right alignment: row i sees keys 0 .. i + Sk - Sq. */
        int last = p->causal ? i + p->seqlen_k - p->seqlen_q : p->seqlen_k - 1;
        if (last > p->seqlen_k - 1) last = p->seqlen_k - 1;
        double mx = -INFINITY;
        for (int t = 0; t <= last; t++) {
            const int64_t ko = b * p->k_stride[0] + (int64_t)t * p->k_stride[1] + hk * p->k_stride[2];
            double dot = 0;
            for (int x = 0; x < d; x++) dot += element(p, p->q, qo + x) * element(p, p->k, ko + x);
            s[t] = dot * scale;
            if (s[t] > mx) mx = s[t];
        }
        double *o = out + (size_t)r * d, sum = 0;
        for (int x = 0; x < d; x++) o[x] = 0;
        for (int t = 0; t <= last; t++) {
            const double w = exp(s[t] - mx);
            const int64_t vo = b * p->v_stride[0] + (int64_t)t * p->v_stride[1] + hk * p->v_stride[2];
            sum += w;
            for (int x = 0; x < d; x++) o[x] += w * element(p, p->v, vo + x);
        }
        for (int x = 0; x < d; x++) o[x] = sum > 0 ? o[x] / sum : 0.0;
        if (lse) lse[r] = sum > 0 ? mx + log(sum) : -INFINITY;
    }
    free(s);
    return SPARSEK_OK;
}
