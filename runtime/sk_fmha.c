/* sk_fmha.c — sparsek_attention_forward: argument checks, kernel choice, launch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sk_attn_check.h"
#include "sk_runtime.h"
#include "sk_tuned.h"

/* Must match struct FmhaFwdParams in templates/fmha_fwd_sm80.cut (same order, same types). */
typedef struct sk_fmha_kernel_params {
    const void *q, *k, *v;
    void *o;
    float *lse;
    long long q_batch_stride, q_row_stride, q_head_stride;
    long long k_batch_stride, k_row_stride, k_head_stride;
    long long v_batch_stride, v_row_stride, v_head_stride;
    long long o_batch_stride, o_row_stride, o_head_stride;
    int seqlen_q, seqlen_k, heads_q, group;
    float scale_log2;
} sk_fmha_kernel_params;

_Static_assert(sizeof(sk_fmha_kernel_params) == 160, "kernel params layout changed: update the template too");

sparsek_status sparsek_attention_params_set_layout(sparsek_attention_params *p, int layout) {
    if (!p) return SPARSEK_INVALID_ARGUMENT;
    if (layout != 0 && layout != 1) return SPARSEK_INVALID_ARGUMENT;
    if (p->batch < 1 || p->seqlen_q < 1 || p->seqlen_k < 1 || p->heads_q < 1 || p->heads_kv < 1 || p->head_dim < 1)
        return SPARSEK_INVALID_ARGUMENT;
    const int64_t d = p->head_dim;
    struct { int64_t *st; int64_t s, h; } t[4] = {
        {p->q_stride, p->seqlen_q, p->heads_q}, {p->k_stride, p->seqlen_k, p->heads_kv},
        {p->v_stride, p->seqlen_k, p->heads_kv}, {p->o_stride, p->seqlen_q, p->heads_q}};
    for (int i = 0; i < 4; i++) {
        int64_t *st = t[i].st;
        if (layout == 0) { /* [B, S, H, D] */
            st[2] = d; st[1] = t[i].h * d; st[0] = t[i].s * t[i].h * d;
        } else {           /* [B, H, S, D] */
            st[1] = d; st[2] = t[i].s * d; st[0] = t[i].h * t[i].s * d;
        }
    }
    return SPARSEK_OK;
}

/* Checks everything that can be checked without the device. */
static sparsek_status check_params(const sparsek_attention_params *p, sk_err *err) {
    if (!p->q || !p->k || !p->v || !p->o)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "q, k, v and o must be device pointers, not NULL");
    sparsek_status st = sk_attn_check_shape(p, err);
    return st ? st : sk_attn_check_tensors(p, err);
}

/* What a tile config asks of the path when it names no tile key; SK_ASK_TILES: it has tile keys. */
enum { SK_ASK_AUTO, SK_ASK_MMA, SK_ASK_WGMMA, SK_ASK_TILES };

static int path_asked(const char *tiles) {
    if (!tiles || !*tiles || !strcmp(tiles, "path=auto")) return SK_ASK_AUTO;
    if (!strcmp(tiles, "path=mma")) return SK_ASK_MMA;
    if (!strcmp(tiles, "path=wgmma")) return SK_ASK_WGMMA;
    return SK_ASK_TILES;
}

/* The shape-aware part of the default choice; the per-(d, dtype, causal) part is the family's
 * "auto" heuristic in templates/fmha_fwd.lua, which also picks the path (wgmma on sm_90a for
 * d = 64 and 128, else the portable mma path). Measured on H100 (docs/BENCHMARKS.md): on the
 * mma path, when 128-row tiles would give fewer than 4 CTAs per SM, 64-row tiles fill the GPU
 * better (runs 2-3). The wgmma path keeps its 128-row tiles (one 64-row warpgroup per CTA was
 * slower on every row of run 5), but at d=64 a grid of fewer 128-row tiles than SMs runs the
 * mma path's 64-row tiles instead (run 18, B=1 H=8 S=512: 11.7 us vs 14.3 us full, 12.4 vs
 * 13.8 causal). `sms` is 0 without a device; `ask` is path_asked() of the caller's tiles. */
static const char *tile_hint(const sparsek_attention_params *p, int sms, const char *arch, int ask) {
    if (sms <= 0 || ask == SK_ASK_WGMMA || ask == SK_ASK_TILES) return "";
    const long long ctas = (long long)p->batch * p->heads_q * ((p->seqlen_q + 127) / 128);
    const int small = ctas < 4LL * sms;
    const int wgmma = ask == SK_ASK_AUTO && !strcmp(arch, "sm_90a") && (p->head_dim == 64 || p->head_dim == 128);
    if (wgmma) return p->head_dim == 64 && ctas < sms ? "path=mma m=64 n=128 warps=4 qregs=1" : "";
    if (!small) return "";
    if (p->head_dim == 64) return "m=64 n=128 warps=4 qregs=1";
    if (p->head_dim == 128) return "m=64 n=64 warps=4 qregs=1";
    return "";
}

/* The config string for a call: the problem keys, then the caller's tile keys if given, then
 * the shape hint when the caller named no tile key ("path=mma" alone asks for that path's
 * default for the shape, the hint included); keys left out take the family's "auto" heuristic
 * (tuned buckets replace both). */
static sparsek_status config_for(const sparsek_attention_params *p, const char *tile_config, int sms,
                                 const char *arch, char *buf, size_t n, sk_err *err) {
    const char *asked = tile_config ? tile_config : "";
    const int ask = path_asked(asked);
    const char *hint = tile_hint(p, sms, arch, ask);
    /* path=auto plus a hint that names the path: the hint's path replaces it */
    if (ask == SK_ASK_AUTO && !strncmp(hint, "path=", 5)) asked = "";
    int w = snprintf(buf, n, "d=%d dtype=%s causal=%d%s%s%s%s", p->head_dim,
                     p->dtype == SPARSEK_BF16 ? "bf16" : "fp16", p->causal ? 1 : 0, *asked ? " " : "", asked,
                     *hint ? " " : "", hint);
    if (w < 0 || (size_t)w >= n)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "config does not fit in %zu bytes (tile_config too long?)", n);
    return SPARSEK_OK;
}

/* SM count of the runtime's device, 0 without one (then the arch is ""). */
static int device_sms(sparsek_runtime *rt) {
    sk_err ignore;
    return sk_rt_device(rt, &ignore) == SPARSEK_OK ? rt->info.sm_count : 0;
}

/* The config a call runs: the asked tile keys; else the tuned winner of its bucket or the
 * nearest tuned one (sk_tuned.h); else the heuristic. sms = 0: no device, the heuristic alone. */
static sparsek_status choose_config(sparsek_runtime *rt, const sparsek_attention_params *p, const char *tile_config,
                                    int sms, char *buf, size_t n, sk_err *err) {
    const int asked = tile_config && *tile_config;
    if (!asked && sms > 0 && sk_rt_tuned_config(rt, "fmha_fwd", p, buf, n, NULL, 0, NULL)) return SPARSEK_OK;
    return config_for(p, tile_config, sms, sms > 0 ? rt->info.arch : "", buf, n, err);
}

sparsek_status sparsek_attention_forward_config(sparsek_runtime *rt, const sparsek_attention_params *p, char *buf,
                                                size_t buf_size) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p || !buf || !buf_size)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_attention_forward_config: NULL argument");
    sk_err e;
    sparsek_status st = check_params(p, &e);
    if (!st) st = choose_config(rt, p, NULL, device_sms(rt), buf, buf_size, &e);
    return st ? sk_rt_fail(rt, &e) : SPARSEK_OK;
}

sparsek_status sk_fmha_heuristic_config(sparsek_runtime *rt, const sparsek_attention_params *p, char *buf, size_t n,
                                        sk_err *err) {
    sparsek_status st = check_params(p, err);
    if (st) return st;
    const int sms = device_sms(rt);
    return config_for(p, NULL, sms, sms > 0 ? rt->info.arch : "", buf, n, err);
}

sparsek_status sparsek_attention_forward(sparsek_runtime *rt, const sparsek_attention_params *p, void *stream) {
    return sparsek_attention_forward_with(rt, p, NULL, stream);
}

sparsek_status sparsek_attention_forward_with(sparsek_runtime *rt, const sparsek_attention_params *p,
                                              const char *tile_config, void *stream) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_attention_forward: params is NULL");
    sk_err e;
    char config[512];
    sparsek_status st = check_params(p, &e);
    if (!st) st = sk_rt_device(rt, &e); /* once per launch: also makes the context current */
    if (!st) st = choose_config(rt, p, tile_config, rt->info.sm_count, config, sizeof config, &e);
    const sk_kernel *k = NULL;
    if (!st) st = sk_rt_kernel(rt, "fmha_fwd", config, &k, &e);
    if (st) return sk_rt_fail(rt, &e);

    const float scale = p->scale > 0.f ? p->scale : 1.0f / sqrtf((float)p->head_dim);
    sk_fmha_kernel_params kp = {
        .q = p->q, .k = p->k, .v = p->v, .o = p->o, .lse = p->lse,
        .q_batch_stride = p->q_stride[0], .q_row_stride = p->q_stride[1], .q_head_stride = p->q_stride[2],
        .k_batch_stride = p->k_stride[0], .k_row_stride = p->k_stride[1], .k_head_stride = p->k_stride[2],
        .v_batch_stride = p->v_stride[0], .v_row_stride = p->v_stride[1], .v_head_stride = p->v_stride[2],
        .o_batch_stride = p->o_stride[0], .o_row_stride = p->o_stride[1], .o_head_stride = p->o_stride[2],
        .seqlen_q = p->seqlen_q, .seqlen_k = p->seqlen_k, .heads_q = p->heads_q,
        .group = p->heads_q / p->heads_kv,
        .scale_log2 = scale * 1.4426950408889634f,
    };
    const sk_gridvar vars[] = {{"sq", p->seqlen_q}, {"sk", p->seqlen_k}, {"hq", p->heads_q},
                               {"hkv", p->heads_kv}, {"b", p->batch}};
    st = sk_rt_launch(rt, k, vars, (int)(sizeof vars / sizeof vars[0]), &kp, (CUstream)stream, &e);
    return st ? sk_rt_fail(rt, &e) : SPARSEK_OK;
}
