/* sk_bucket.c — shape buckets (see sk_bucket.h). */
#include "sk_bucket.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int class_log2(int len) {
    int l = 0;
    while (l < SK_BUCKET_MAX_LOG2 && (1 << l) < len) l++;
    return l;
}

void sk_bucket_of(const char *arch, const sparsek_attention_params *p, sk_bucket *b) {
    memset(b, 0, sizeof *b);
    snprintf(b->arch, sizeof b->arch, "%s", arch ? arch : "");
    b->dtype = p->dtype;
    b->head_dim = p->head_dim;
    b->causal = p->causal ? 1 : 0;
    b->group = p->heads_kv > 0 ? p->heads_q / p->heads_kv : 1;
    b->q_log2 = class_log2(p->seqlen_q);
    b->k_log2 = class_log2(p->seqlen_k);
}

int sk_bucket_format(const sk_bucket *b, char *out, size_t n) {
    int w = snprintf(out, n, "%s/%s/d%d/%s/g%d/q%d/k%d", b->arch, b->dtype == SPARSEK_BF16 ? "bf16" : "fp16",
                     b->head_dim, b->causal ? "causal" : "full", b->group, 1 << b->q_log2, 1 << b->k_log2);
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

/* Exact power of two in [1, 2^16] -> its log2, else -1. */
static int pow2_log2(long v) {
    for (int l = 0; l <= SK_BUCKET_MAX_LOG2; l++)
        if (v == 1L << l) return l;
    return -1;
}

sparsek_status sk_bucket_parse(const char *s, sk_bucket *b, sk_err *err) {
    if (!s || !b) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_bucket_parse: NULL argument");
    memset(b, 0, sizeof *b);
    char dtype[8], mask[8];
    long q, k;
    int d, g, used = 0;
    char arch[16];
    if (sscanf(s, "%15[^/]/%7[^/]/d%d/%7[^/]/g%d/q%ld/k%ld%n", arch, dtype, &d, mask, &g, &q, &k, &used) != 7 ||
        s[used] != 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "bucket '%s' is not arch/dtype/dD/mask/gG/qN/kN", s);
    snprintf(b->arch, sizeof b->arch, "%s", arch);
    if (!strcmp(dtype, "bf16")) b->dtype = SPARSEK_BF16;
    else if (!strcmp(dtype, "fp16")) b->dtype = SPARSEK_FP16;
    else return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "bucket '%s': dtype '%s'", s, dtype);
    if (!strcmp(mask, "causal")) b->causal = 1;
    else if (strcmp(mask, "full") != 0) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "bucket '%s': mask '%s'", s, mask);
    b->q_log2 = pow2_log2(q);
    b->k_log2 = pow2_log2(k);
    if (d < 1 || g < 1 || b->q_log2 < 0 || b->k_log2 < 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "bucket '%s': bad head dim, group or length class", s);
    b->head_dim = d;
    b->group = g;
    return SPARSEK_OK;
}

int sk_bucket_distance(const sk_bucket *want, const sk_bucket *h) {
    if (strcmp(h->arch, want->arch) || h->dtype != want->dtype || h->head_dim != want->head_dim ||
        h->causal != want->causal)
        return -1;
    return 2 * (abs(h->q_log2 - want->q_log2) + abs(h->k_log2 - want->k_log2)) + (h->group != want->group);
}

int sk_bucket_nearest(const sk_bucket *want, const sk_bucket *have, int n) {
    int best = -1;
    int best_cost = 0; /* in half steps */
    for (int i = 0; i < n; i++) {
        const int cost = sk_bucket_distance(want, &have[i]);
        if (cost >= 0 && (best < 0 || cost < best_cost)) {
            best = i;
            best_cost = cost;
        }
    }
    return best;
}
