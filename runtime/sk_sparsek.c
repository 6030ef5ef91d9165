/* sk_sparsek.c — SparseK sparse attention on the GPU: argument checks, the scratch layout,
 * kernel choice and the launches (selection, then prefill or decode + combine). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sk_attn_check.h"
#include "sk_runtime.h"

/* Must match struct SelectParams in templates/sparsek_select_params.cut. */
typedef struct sk_sparsek_select_params {
    const float *u;
    long long u_batch_stride, u_head_stride;
    void *rows;
    int *tile_idx;
    float *tile_u;
    int *tile_count;
    int seqlen_q, seqlen_k, heads_kv, topk, window, ntiles, tile_cap;
    int nchunk;         /* the split selection (phases hist, compact, finish) from here on */
    int *hist;
    int *chunk_count;
    unsigned long long *top_key;
    float *tau_u;
    unsigned char *state; /* phase=state (sparsek_sparse_attention_decode) from here on */
    long long state_stride;
    int state_topk, state_window, state_cap;
    unsigned char *anchor; /* phases anchor and anchored from here on */
    int *anchor_ready;
    long long anchor_stride;
    int anchor_tiles, anchor_pad;
} sk_sparsek_select_params;

/* Must match struct SparseAttnParams in templates/sparsek_params.cut. */
typedef struct sk_sparsek_attn_params {
    const void *q, *k, *v;
    void *o;
    float *lse;
    long long q_batch_stride, q_row_stride, q_head_stride;
    long long k_batch_stride, k_row_stride, k_head_stride;
    long long v_batch_stride, v_row_stride, v_head_stride;
    long long o_batch_stride, o_row_stride, o_head_stride;
    const void *rows;
    const int *tile_idx;
    const float *tile_u;
    const int *tile_count;
    float *part_o, *part_lse;
    int seqlen_q, seqlen_k, heads_q, heads_kv, group, window;
    int ntiles, tile_cap, sel_rows, nsplit, row_tiles, batch;
    float scale_log2;
} sk_sparsek_attn_params;

_Static_assert(sizeof(sk_sparsek_select_params) == 184, "select params layout changed: update the template too");
_Static_assert(sizeof(sk_sparsek_attn_params) == 240, "attention params layout changed: update the template too");
_Static_assert(sizeof(sparsek_sparse_row) == 16, "sparsek_sparse_row must match SelRow in sparsek_common.cut");

enum {
    SK_SEL_ROWS = 128,      /* query rows per selection tile (sparsek_select rows=) */
    SK_SEL_ROWS_LONG = 256, /* ... when Sk > SK_LONG: halves the selection's O(Sq * Sk / rows) scans for
                               at most rows / (k + w) more attention work (docs/BENCHMARKS.md: S=32768
                               k=2048, selection share 17.3% in run 16 with 128 rows, 14.4% in run 17) */
    SK_LONG = 16384,
    SK_SUBS = 8,            /* gathered counts per selection tile: one per 32-row sub-tile of the
                               tallest (SUBS and SUB_ROWS of templates/sparsek_common.cut) */
    SK_SUB_ROWS = 32,
    SK_DECODE_MAX_SQ = 16,  /* Sq up to this takes the decode path */
    SK_SPLIT_MIN_CTAS = 264, /* ... and Sq <= SK_SEL_ROWS when prefill would launch fewer CTAs (2 per
                               H100 SM): a short chunk against a long cache fills the GPU by splitting keys */
    SK_DECODE_N = 32,       /* decode: keys per pipeline step */
    SK_DECODE_CTAS = 512,   /* decode: aim for about this many CTAs (4 per SM on a 132-SM H100) */
    /* The split selection (templates/sparsek_select.lua, phases hist, compact, finish): */
    SK_SPLIT_SEL_TILES = 132,       /* taken when B * Hkv * ntiles is below this (one CTA per tile
                                       would leave SMs idle) ... */
    SK_SPLIT_SEL_MIN_PREFIX = 16384, /* ... and the longest tile prefix has this many keys or more */
    SK_SPLIT_SEL_CHUNK = 4096,      /* chunk keys at most: compact keeps its chunk in registers, and
                                       8192 (32 a thread) cost occupancy (docs/BENCHMARKS.md, run 52) ... */
    SK_SPLIT_SEL_CTAS = 512,        /* ... as small as it takes for this many CTAs per pass ... */
    SK_SPLIT_SEL_MIN_CHUNK = 1024,  /* ... down to this (the family's chunk values: 1024 .. 8192) */
    SK_SPLIT_SEL_MAX_CHUNK = 8192,  /* longer than SK_SPLIT_SEL_CHUNK only past MAX_CHUNKS chunks */
    SK_SPLIT_SEL_MAX_CHUNKS = 256,  /* MAX_CHUNKS of templates/sparsek_select.lua */
    SK_SEL_HIST_STRIDE = 2080,      /* HIST_STRIDE of templates/sparsek_select_params.cut */
    SK_STATE_HEAD = 64,             /* sizeof(DecodeState) of templates/sparsek_select_params.cut */
    /* The anchored selection (templates/sparsek_select.lua, phases anchor and anchored): */
    SK_ANCHOR_MIN_PREFIX = 16384,   /* taken when the longest tile prefix has this many keys or more ... */
    SK_ANCHORS = 16,                /* ... with at most this many anchors per (batch, KV head) ... */
    SK_ANCHOR_MIN_TILES = 2,        /* ... of at least this many tiles each (and two anchors or more) */
    SK_ANCHOR_HEAD = 32,            /* sizeof(AnchorHead) of templates/sparsek_select_params.cut */
};
_Static_assert(SK_SEL_ROWS_LONG <= SK_SUBS * SK_SUB_ROWS, "a selection tile has at most SK_SUBS sub-tiles");


/* What check_params looks at: the shape only (the scratch size), plus the scores (the selection),
 * plus the attention tensors (the whole forward). */
enum { SK_CHECK_SHAPE, SK_CHECK_SELECT, SK_CHECK_ALL };

/* Everything that can be checked without the device, up to `level`. */
static sparsek_status check_params(const sparsek_sparse_attention_params *sp, int level, sk_err *err) {
    const sparsek_attention_params *p = &sp->base;
    if (level >= SK_CHECK_ALL && (!p->q || !p->k || !p->v || !p->o))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "q, k, v and o must be device pointers, not NULL");
    if (level >= SK_CHECK_SELECT && !sp->scores)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scores must be a device pointer, not NULL");
    sparsek_status st = sk_attn_check_shape(p, err);
    if (st) return st;
    if (p->seqlen_q > 65535 * 64)   /* query tiles are the grid's y dimension */
        return sk_fail(err, SPARSEK_NOT_SUPPORTED, "seqlen_q (%d) must be at most %d", p->seqlen_q, 65535 * 64);
    if (sp->topk < 1) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "topk = %d, must be >= 1", sp->topk);
    if (sp->window < 1) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "window = %d, must be >= 1", sp->window);
    if (sp->weight != SPARSEK_WEIGHT_GATE && sp->weight != SPARSEK_WEIGHT_HARD && sp->weight != SPARSEK_WEIGHT_KV)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "weight mode %d is not GATE (0), HARD (1) or KV (2)",
                       (int)sp->weight);
    if (level < SK_CHECK_SELECT) return SPARSEK_OK;
    if (sk_misaligned(sp->scores, 4)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scores must be 4-byte aligned");
    if (sp->score_stride[0] < 0 || sp->score_stride[1] < 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "score strides (%lld, %lld) must be non-negative",
                       (long long)sp->score_stride[0], (long long)sp->score_stride[1]);
    if (level < SK_CHECK_ALL) return SPARSEK_OK;
    return sk_attn_check_tensors(p, err);
}

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }
static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* One (batch, KV head)'s decode state (DecodeState of templates/sparsek_select_params.cut, then
 * topk selection keys, then cap scores): a function of topk and max_seqlen_k alone, so that every
 * call of a sequence finds it in the same place. k and w are kept clamped to max_seqlen_k: any
 * larger value selects the same (every candidate; every window from key 0). */
typedef struct sk_state_geom {
    int topk, window, cap;
    size_t stride;
} sk_state_geom;

static sk_state_geom state_geom(const sparsek_sparse_attention_params *sp, int cap) {
    sk_state_geom g;
    g.cap = cap;
    g.topk = sp->topk < cap ? sp->topk : cap;
    g.window = sp->window < cap ? sp->window : cap;
    g.stride = align256(SK_STATE_HEAD + (size_t)g.topk * 8 + (size_t)cap * 4);
    return g;
}

/* Bytes of a decode state: batch * heads_kv of state_geom's stride. */
static sparsek_status state_bytes(const sparsek_sparse_attention_params *sp, int max_seqlen_k, size_t *bytes,
                                  sk_err *err) {
    const sparsek_attention_params *p = &sp->base;
    if (p->batch < 1 || p->heads_kv < 1)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "batch (%d) and heads_kv (%d) must be >= 1", p->batch,
                       p->heads_kv);
    if (sp->topk < 1) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "topk = %d, must be >= 1", sp->topk);
    if (sp->window < 1) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "window = %d, must be >= 1", sp->window);
    if (max_seqlen_k < 1)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "max_seqlen_k = %d, must be >= 1", max_seqlen_k);
    const size_t heads = (size_t)p->batch * (size_t)p->heads_kv, stride = state_geom(sp, max_seqlen_k).stride;
    if (stride > SIZE_MAX / heads)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "the decode state of %zu heads of %zu bytes overflows size_t",
                       heads, stride);
    *bytes = heads * stride;
    return SPARSEK_OK;
}

/* The decode kernel's rows per CTA (16, 32 or 64) for a shape; its keys per block are
 * SK_DECODE_N (32: the fastest at D=128 on H100, docs/BENCHMARKS.md run 16, 3% ahead of 64). */
static int decode_m(const sparsek_attention_params *p) {
    const int rows = p->seqlen_q * (p->heads_q / p->heads_kv);
    return rows <= 16 ? 16 : (rows <= 32 ? 32 : 64);
}

/* A prefix length the environment may override (a positive integer), else `dflt`: test knobs
 * ($SPARSEK_SELECT_SPLIT_MIN, $SPARSEK_SELECT_ANCHOR_MIN: tests/emu/run.sh lowers them so that
 * the CPU emulator reaches the split and anchored selections with small shapes); production
 * leaves them unset. */
static int env_min_prefix(const char *name, int dflt) {
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        const long v = strtol(e, &end, 10);
        if (*end == 0 && v >= 1 && v <= INT_MAX) return (int)v;
    }
    return dflt;
}
/* The shortest longest-tile-prefix that takes the split selection. */
static int split_min_prefix(void) { return env_min_prefix("SPARSEK_SELECT_SPLIT_MIN", SK_SPLIT_SEL_MIN_PREFIX); }
/* Prefill takes 256-row selection tiles when Sk is above this ($SPARSEK_SELECT_LONG: a knob for
 * measuring the tile height at shorter S, e.g. S=8192, where the selection is 19% of a k=1024
 * call; and for reaching 256-row tiles with small shapes). */
static int long_sk(void) { return env_min_prefix("SPARSEK_SELECT_LONG", SK_LONG); }

/* The candidate prefix of selection tile `tile`'s first row, [0, n) (tile_prefix of
 * templates/sparsek_select_params.cut). */
static int tile_prefix(const sparsek_attention_params *p, int window, const sparsek_sparse_scratch_layout *L,
                       int tile) {
    const int pos0 = p->seqlen_k - p->seqlen_q + tile * L->tile_rows;
    return pos0 - window + 1 > 0 ? pos0 - window + 1 : 0;
}

/* Chooses the split selection for few tiles with long prefixes (decode: one tile per batch and
 * KV head) and its chunk length: select_chunk stays 0 for the one-kernel selection. */
static void plan_select_split(const sparsek_attention_params *p, int topk, int window,
                              sparsek_sparse_scratch_layout *L) {
    const long long tiles = (long long)p->batch * p->heads_kv * L->ntiles;
    const int n0 = tile_prefix(p, window, L, L->ntiles - 1);   /* the last tile's: the longest */
    if (tiles >= SK_SPLIT_SEL_TILES || n0 < split_min_prefix() || n0 <= topk) return;
    int chunk = SK_SPLIT_SEL_CHUNK;
    while (chunk > SK_SPLIT_SEL_MIN_CHUNK && tiles * cdiv(n0, chunk) < SK_SPLIT_SEL_CTAS) chunk /= 2;
    while (chunk < SK_SPLIT_SEL_MAX_CHUNK && cdiv(n0, chunk) > SK_SPLIT_SEL_MAX_CHUNKS) chunk *= 2;
    if (cdiv(n0, chunk) > SK_SPLIT_SEL_MAX_CHUNKS) return;   /* beyond 2M keys: one kernel */
    L->select_chunk = chunk;
    L->select_nchunk = cdiv(n0, chunk);
}

/* Chooses the anchored selection for prefill tiles with long prefixes (templates/sparsek_select.lua,
 * phases anchor and anchored; not with the split selection): every anchor_tiles-th tile's prefix
 * is summarised once, so a tile's passes cover its anchor's lists and at most anchor_tiles *
 * tile_rows further keys instead of its whole prefix, O(Sq * (k + list + rows * anchor_tiles) /
 * rows) against O(Sq * Sk / rows). An anchor record holds min(k, Sk) keys and room for the
 * scores of the longest anchor prefix. */
static void plan_select_anchors(const sparsek_attention_params *p, int topk, int window,
                                sparsek_sparse_scratch_layout *L) {
    const int n0 = tile_prefix(p, window, L, L->ntiles - 1);   /* the longest */
    int per = cdiv(L->ntiles, SK_ANCHORS);
    if (per < SK_ANCHOR_MIN_TILES) per = SK_ANCHOR_MIN_TILES;
    if (L->decode || L->select_chunk || n0 <= topk || L->ntiles <= per ||
        n0 < env_min_prefix("SPARSEK_SELECT_ANCHOR_MIN", SK_ANCHOR_MIN_PREFIX))
        return;
    L->select_anchor_tiles = per;
    L->select_nanchor = cdiv(L->ntiles, per);
    const int cap = tile_prefix(p, window, L, (L->select_nanchor - 1) * per);   /* the last anchor's: the longest */
    L->select_anchor_stride = align256(SK_ANCHOR_HEAD + (size_t)topk * 8 + (size_t)cap * 4);
}

/* The whole plan of a call, from the shape alone (the scratch size must not depend on the device). */
typedef struct sk_sparse_plan {
    sparsek_sparse_scratch_layout lay;
    int topk, window;       /* clamped to Sk: the same selection, and no int overflow in the kernels */
} sk_sparse_plan;

static sparsek_status plan(const sparsek_sparse_attention_params *sp, sk_sparse_plan *pl, sk_err *err) {
    const sparsek_attention_params *p = &sp->base;
    memset(pl, 0, sizeof *pl);
    sparsek_sparse_scratch_layout *L = &pl->lay;
    const int sk = p->seqlen_k, sq = p->seqlen_q;
    pl->topk = sp->topk < sk ? sp->topk : sk;        /* |C| <= Sk - 1 < Sk: every k >= Sk keeps all of C */
    pl->window = sp->window < sk ? sp->window : sk;  /* w >= Sk: every window starts at key 0 */
    const long long prefill_ctas = (long long)p->batch * p->heads_q * cdiv(sq, SK_SEL_ROWS);
    L->decode = sq <= SK_DECODE_MAX_SQ || (sq <= SK_SEL_ROWS && prefill_ctas < SK_SPLIT_MIN_CTAS);
    L->tile_rows = !L->decode && sk > long_sk() ? SK_SEL_ROWS_LONG : SK_SEL_ROWS;
    L->ntiles = cdiv(sq, L->tile_rows);
    L->tile_cap = (pl->topk + L->tile_rows + 127) / 128 * 128;
    plan_select_split(p, pl->topk, pl->window, L);
    plan_select_anchors(p, pl->topk, pl->window, L);
    const size_t bh = (size_t)p->batch * p->heads_kv, bhq = (size_t)p->batch * p->heads_q;
    const size_t tiles = bh * (size_t)L->ntiles;
    if (L->decode) {
        const int g = p->heads_q / p->heads_kv, m = decode_m(p), n = SK_DECODE_N;
        const int row_tiles = cdiv(sq * g, m);
        /* Blocks of the group's tile: gathered |A| + |B| keys, then the window band (as the kernel
         * counts them for its first row tile, the longest). */
        const int n0 = sk - sq - pl->window + 1 > 0 ? sk - sq - pl->window + 1 : 0;
        const int nlast = sk - pl->window > 0 ? sk - pl->window : 0;
        const int gathered = (n0 < pl->topk ? n0 : pl->topk) + (nlast - n0);
        const int pf = sk - sq, band_lo = pf - pl->window + 1 > 0 ? pf - pl->window + 1 : 0;
        const int total = cdiv(gathered, n) + cdiv(sk - 1 - band_lo + 1, n);
        /* Splits per group so that about SK_DECODE_CTAS CTAs run, at most one per key block of
         * the default tiles (the kernel divides each row tile's blocks into nsplit runs; other
         * tiles asked through forward_with keep this nsplit, so the scratch size stays a
         * function of the shape). */
        const size_t groups = bh * (size_t)row_tiles;
        int want = groups >= SK_DECODE_CTAS ? 1 : cdiv(SK_DECODE_CTAS, (int)groups);
        if (want > total) want = total;
        L->nsplit = cdiv(total, cdiv(total, want));
    }
    /* Sizes: the largest is B*Hkv*ntiles*tile_cap*4, well inside size_t for any int dims. */
    size_t off = 0;
    L->rows_offset = off;
    off = align256(off + bh * (size_t)sq * sizeof(sparsek_sparse_row));
    L->tile_count_offset = off;
    off = align256(off + tiles * SK_SUBS * 4);
    L->tile_index_offset = off;
    off = align256(off + tiles * (size_t)L->tile_cap * 4);
    L->tile_score_offset = off;
    off = align256(off + tiles * (size_t)L->tile_cap * 4);
    L->partial_o_offset = off;
    if (L->decode) off = align256(off + bhq * (size_t)sq * L->nsplit * p->head_dim * 4);
    L->partial_lse_offset = off;
    if (L->decode) off = align256(off + bhq * (size_t)sq * L->nsplit * 4);
    const size_t list = tiles * (size_t)L->select_nchunk * (size_t)L->select_chunk; /* 0 without the split */
    L->select_hist_offset = off;
    if (L->select_chunk) off = align256(off + tiles * SK_SEL_HIST_STRIDE * 4);
    L->select_count_offset = off;
    off = align256(off + tiles * (size_t)L->select_nchunk * 4);
    L->select_top_offset = off;
    off = align256(off + list * 8);
    L->select_tau_offset = off;
    off = align256(off + list * 4);
    L->select_anchor_ready_offset = off;
    if (L->select_nanchor) off = align256(off + bh * (size_t)L->select_nanchor * 4);
    L->select_anchor_offset = off;
    off += bh * (size_t)L->select_nanchor * L->select_anchor_stride;   /* strides are 256-byte multiples */
    L->bytes = off;
    (void)err;
    return SPARSEK_OK;
}

sparsek_status sparsek_sparse_attention_scratch_layout(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                                       sparsek_sparse_scratch_layout *out) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p || !out)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_sparse_attention_scratch_layout: NULL argument");
    sk_err e;
    sk_sparse_plan pl;
    sparsek_status st = check_params(p, SK_CHECK_SHAPE, &e);
    if (!st) st = plan(p, &pl, &e);
    if (st) {
        sk_err_prefix(&e, "sparsek_sparse_attention_scratch_layout");
        return sk_rt_fail(rt, &e);
    }
    *out = pl.lay;
    return SPARSEK_OK;
}

sparsek_status sparsek_sparse_attention_scratch_size(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                                     size_t *bytes) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p || !bytes)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_sparse_attention_scratch_size: NULL argument");
    sparsek_sparse_scratch_layout L;
    sparsek_status st = sparsek_sparse_attention_scratch_layout(rt, p, &L);
    if (st) return st;
    *bytes = L.bytes;
    return SPARSEK_OK;
}

static sparsek_status check_scratch(const sk_sparse_plan *pl, const void *scratch, size_t bytes, sk_err *err) {
    if (!scratch)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scratch is NULL; %zu bytes of device memory are needed",
                       pl->lay.bytes);
    if (sk_misaligned(scratch, 16)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scratch must be 16-byte aligned");
    if (bytes < pl->lay.bytes)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "scratch has %zu bytes; this call needs %zu", bytes,
                       pl->lay.bytes);
    return SPARSEK_OK;
}

static const char *dtype_name(sparsek_dtype d) { return d == SPARSEK_BF16 ? "bf16" : "fp16"; }
static const char *weight_name(sparsek_weight_mode w) {
    return w == SPARSEK_WEIGHT_HARD ? "hard" : (w == SPARSEK_WEIGHT_KV ? "kv" : "gate");
}

/* Gets the kernel of one sparsek_select config and launches it; `dependent`: it reads what the
 * selection kernel launched just before it wrote (sk_rt_launch_dependent). */
static sparsek_status launch_select_kernel(sparsek_runtime *rt, const char *config, const sk_gridvar *vars, int nvars,
                                           sk_sparsek_select_params *kp, CUstream stream, int dependent,
                                           sk_err *err) {
    const sk_kernel *k = NULL;
    sparsek_status st = sk_rt_kernel(rt, "sparsek_select", config, &k, err);
    if (!st)
        st = dependent ? sk_rt_launch_dependent(rt, k, vars, nvars, kp, stream, err)
                       : sk_rt_launch(rt, k, vars, nvars, kp, stream, err);
    return st;
}

/* The split selection's first two phases: zero the tile histograms, count the top digits of the
 * prefixes (hist), write the top and tau lists (compact); the finish phase follows. */
static sparsek_status launch_select_lists(sparsek_runtime *rt, const sparsek_attention_params *p,
                                          const sparsek_sparse_scratch_layout *L, sk_sparsek_select_params *kp,
                                          CUstream stream, sk_err *err) {
    const size_t tiles = (size_t)p->batch * p->heads_kv * L->ntiles;
    sparsek_status st = sk_cuda_check(&rt->cu, rt->cu.cuMemsetD32Async((CUdeviceptr)kp->hist, 0,
                                                                       tiles * SK_SEL_HIST_STRIDE, stream),
                                      "cuMemsetD32Async (selection histograms)", err);
    if (st) return st;
    const sk_gridvar vars[] = {{"nchunk", L->select_nchunk}, {"sq", p->seqlen_q}, {"hkv", p->heads_kv}, {"b", p->batch}};
    char config[128];
    snprintf(config, sizeof config, "phase=hist rows=%d threads=256 chunk=%d", L->tile_rows, L->select_chunk);
    st = launch_select_kernel(rt, config, vars, 4, kp, stream, 0, err);   /* after the memset */
    if (st) return st;
    snprintf(config, sizeof config, "phase=compact rows=%d threads=256 chunk=%d", L->tile_rows, L->select_chunk);
    return launch_select_kernel(rt, config, vars, 4, kp, stream, 1, err);
}

/* Prefix scores a selection tile's tau solve keeps in its buffer (hcap): those within 1 of the
 * tile rows' thresholds theta, estimated for N(0,1) scores over a prefix of sk keys, where the
 * top-k threshold is theta = Phi^-1(1 - k/sk) and the keys kept sk * (Phi(theta + 1) - Phi(theta - 1)):
 * 29% of the prefix at k/sk = 1/16, 12% at 1/64, 7.8% at 1/128. Only a size hint: scores of any
 * other distribution are served exactly, by a slower path when they overflow the buffer. */
static double near_theta_keys(long long sk, long long k) {
    if (k >= sk) return 0.0;   /* every key selected: no tau solve */
    const double tail = (double)k / (double)sk;
    double lo = -10.0, hi = 10.0;   /* bisection for theta: Q(theta) = 0.5 erfc(theta / sqrt 2) = tail */
    for (int i = 0; i < 60; i++) {
        const double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid * M_SQRT1_2) > tail) lo = mid; else hi = mid;
    }
    const double theta = 0.5 * (lo + hi);
    return (double)sk * 0.5 * (erfc((theta - 1.0) * M_SQRT1_2) - erfc((theta + 1.0) * M_SQRT1_2));
}

/* The selection launches (the device is ready): one kernel (phase=full), or for few tiles with
 * long prefixes the split selection (hist, compact, then finish: templates/sparsek_select.lua).
 * The score buffer for tau (hcap) must hold the prefix scores within 1 of the tile's thetas
 * (near_theta_keys) or a slow exact path re-reads them from global memory: few tiles (decode,
 * short prefill) get the largest buffer (the SMs have room); many tiles a 16384-score buffer at
 * two CTAs per SM (minblocks=2: run 77, 3-11% faster prefill at S = 32768 and at S = 131072,
 * k = 1024) when the estimate fits it with 15% to spare, else a 32768-score one at one CTA per SM
 * (S = 131072, k = 2048: 24.3 ms against 32.5 ms with the small buffer). */
static sparsek_status launch_select(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp,
                                    const sk_sparse_plan *pl, char *scratch, const sparsek_sparse_decode_state *state,
                                    CUstream stream, sk_err *err) {
    const sparsek_attention_params *p = &sp->base;
    const sparsek_sparse_scratch_layout *L = &pl->lay;
    const long long tiles = (long long)p->batch * p->heads_kv * L->ntiles;
    const int big_smem = rt->info.max_smem_optin >= 200 * 1024, mid_smem = rt->info.max_smem_optin >= 120 * 1024;
    const int few = tiles < rt->info.sm_count;   /* decode, short prefill: one CTA scans a whole prefix */
    const int two_ctas = !few && big_smem && 1.15 * near_theta_keys(p->seqlen_k, pl->topk) <= 16384.0;
    const char *hcap = !mid_smem ? "8192"
                     : (few && big_smem) ? "40960"
                     : two_ctas || !big_smem ? "16384" : "32768";
    const int rows = L->tile_rows;
    sk_sparsek_select_params kp = {
        .u = sp->scores, .u_batch_stride = sp->score_stride[0], .u_head_stride = sp->score_stride[1],
        .rows = scratch + L->rows_offset,
        .tile_idx = (int *)(scratch + L->tile_index_offset),
        .tile_u = (float *)(scratch + L->tile_score_offset),
        .tile_count = (int *)(scratch + L->tile_count_offset),
        .seqlen_q = p->seqlen_q, .seqlen_k = p->seqlen_k, .heads_kv = p->heads_kv,
        .topk = pl->topk, .window = pl->window, .ntiles = L->ntiles, .tile_cap = L->tile_cap,
        .nchunk = L->select_nchunk,
        .hist = (int *)(scratch + L->select_hist_offset),
        .chunk_count = (int *)(scratch + L->select_count_offset),
        .top_key = (unsigned long long *)(scratch + L->select_top_offset),
        .tau_u = (float *)(scratch + L->select_tau_offset),
        .anchor = (unsigned char *)(scratch + L->select_anchor_offset),
        .anchor_ready = (int *)(scratch + L->select_anchor_ready_offset),
        .anchor_stride = (long long)L->select_anchor_stride,
        .anchor_tiles = L->select_anchor_tiles,
    };
    char config[128];
    const int threads = few || rows > 128 ? 512 : 256;
    if (state) {   /* one kernel from the decode state (it rebuilds a state that does not match) */
        const sk_state_geom g = state_geom(sp, state->max_seqlen_k);
        kp.state = state->data;
        kp.state_stride = (long long)g.stride;
        kp.state_topk = g.topk;
        kp.state_window = g.window;
        kp.state_cap = g.cap;
        /* A rebuild asked for on a long prefix: the split selection's hist and compact first, and
         * the state kernel builds the state from their lists (nchunk > 0 tells it so); on a
         * short one from the prefix itself (nchunk = -1); else it continues the state (0). */
        const int lists = state->rebuild && L->select_chunk;
        if (lists) {
            sparsek_status st = launch_select_lists(rt, p, L, &kp, stream, err);
            if (st) return st;
        } else {
            kp.nchunk = state->rebuild ? -1 : 0;
        }
        /* chunk: the lists' (a kernel that reads none takes the family's default, SK_SPLIT_SEL_CHUNK) */
        snprintf(config, sizeof config, "phase=state rows=%d hcap=%s threads=%d chunk=%d", rows, hcap, threads,
                 L->select_chunk ? L->select_chunk : SK_SPLIT_SEL_CHUNK);
        const sk_gridvar vars[] = {{"sq", p->seqlen_q}, {"hkv", p->heads_kv}, {"b", p->batch}};
        return launch_select_kernel(rt, config, vars, 3, &kp, stream, lists, err);
    }
    if (L->select_chunk) {
        sparsek_status st = launch_select_lists(rt, p, L, &kp, stream, err);
        if (st) return st;
        snprintf(config, sizeof config, "phase=finish rows=%d hcap=%s threads=%d chunk=%d", rows, hcap, threads,
                 L->select_chunk);
    } else if (L->select_anchor_tiles) {
        /* The anchor records first: few CTAs (one per anchor), each over a long prefix, so the
         * largest buffer the SMs hold (its prefilter takes k up to (PRE_CAP - 1024) / 2). Each
         * sets its ready flag when its record is written; anchored CTAs wait for their own
         * anchor's flag, so the flags are zeroed first. */
        const size_t nanchors = (size_t)p->batch * p->heads_kv * L->select_nanchor;
        sparsek_status st = sk_cuda_check(&rt->cu, rt->cu.cuMemsetD32Async((CUdeviceptr)kp.anchor_ready, 0, nanchors,
                                                                           stream),
                                          "cuMemsetD32Async (anchor ready flags)", err);
        if (st) return st;
        snprintf(config, sizeof config, "phase=anchor rows=%d hcap=%s threads=512", rows,
                 big_smem ? "40960" : (mid_smem ? "16384" : "8192"));
        const sk_gridvar avars[] = {{"nanchor", L->select_nanchor}, {"hkv", p->heads_kv}, {"b", p->batch}};
        st = launch_select_kernel(rt, config, avars, 3, &kp, stream, 0, err);   /* after the memset */
        if (st) return st;
        snprintf(config, sizeof config, "phase=anchored rows=%d hcap=%s threads=%d minblocks=%d", rows, hcap, threads,
                 two_ctas ? 2 : 1);
    } else {
        snprintf(config, sizeof config, "rows=%d hcap=%s threads=%d minblocks=%d", rows, hcap, threads,
                 two_ctas ? 2 : 1);
    }
    const sk_gridvar vars[] = {{"sq", p->seqlen_q}, {"hkv", p->heads_kv}, {"b", p->batch}};
    /* finish follows compact, anchored follows anchor; the one-kernel selection is the call's first kernel */
    return launch_select_kernel(rt, config, vars, 3, &kp, stream, L->select_chunk != 0 || L->select_anchor_tiles != 0,
                                err);
}

/* A decode state for a call with params sp: present, aligned, large enough, and the call a decode
 * step it can serve. */
static sparsek_status check_state(const sparsek_sparse_attention_params *sp, const sparsek_sparse_decode_state *s,
                                  sk_err *err) {
    const sparsek_attention_params *p = &sp->base;
    if (!s) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "state is NULL");
    if (!s->data) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "state->data is NULL");
    if (sk_misaligned(s->data, 16)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "state->data must be 16-byte aligned");
    if (p->seqlen_q > SK_DECODE_MAX_SQ)
        return sk_fail(err, SPARSEK_NOT_SUPPORTED, "a decode state serves decode steps: seqlen_q (%d) must be at most %d",
                       p->seqlen_q, SK_DECODE_MAX_SQ);
    if (s->max_seqlen_k < p->seqlen_k)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "seqlen_k (%d) exceeds state->max_seqlen_k (%d)", p->seqlen_k,
                       s->max_seqlen_k);
    size_t need = 0;
    sparsek_status st = state_bytes(sp, s->max_seqlen_k, &need, err);
    if (st) return st;
    if (s->bytes < need)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "state has %zu bytes; max_seqlen_k = %d needs %zu", s->bytes,
                       s->max_seqlen_k, need);
    return SPARSEK_OK;
}

/* How a call selects: from the scores alone, or through a decode state. */
enum { SK_SELECT_SCORES, SK_SELECT_STATE };

/* Common entry: checks, plan, device, selection; then the attention kernels unless select_only.
 * With SK_SELECT_STATE the selection reads and writes `state`. */
static sparsek_status run(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp, int how,
                          const sparsek_sparse_decode_state *state, void *scratch, size_t scratch_bytes,
                          const char *tile_config, void *stream, int select_only, sk_err *err) {
    sk_sparse_plan pl;
    sparsek_status st = check_params(sp, select_only ? SK_CHECK_SELECT : SK_CHECK_ALL, err);
    if (!st && how == SK_SELECT_STATE) st = check_state(sp, state, err);
    if (!st) st = plan(sp, &pl, err);
    if (!st) st = check_scratch(&pl, scratch, scratch_bytes, err);
    if (!st) st = sk_rt_device(rt, err); /* once per launch: also makes the context current */
    if (!st) st = launch_select(rt, sp, &pl, scratch, how == SK_SELECT_STATE ? state : NULL, (CUstream)stream, err);
    if (st || select_only) return st;

    const sparsek_attention_params *p = &sp->base;
    const sparsek_sparse_scratch_layout *L = &pl.lay;
    char *s = scratch;
    const float scale = p->scale > 0.f ? p->scale : 1.0f / sqrtf((float)p->head_dim);
    sk_sparsek_attn_params kp = {
        .q = p->q, .k = p->k, .v = p->v, .o = p->o, .lse = p->lse,
        .q_batch_stride = p->q_stride[0], .q_row_stride = p->q_stride[1], .q_head_stride = p->q_stride[2],
        .k_batch_stride = p->k_stride[0], .k_row_stride = p->k_stride[1], .k_head_stride = p->k_stride[2],
        .v_batch_stride = p->v_stride[0], .v_row_stride = p->v_stride[1], .v_head_stride = p->v_stride[2],
        .o_batch_stride = p->o_stride[0], .o_row_stride = p->o_stride[1], .o_head_stride = p->o_stride[2],
        .rows = s + L->rows_offset, .tile_idx = (const int *)(s + L->tile_index_offset),
        .tile_u = (const float *)(s + L->tile_score_offset), .tile_count = (const int *)(s + L->tile_count_offset),
        .part_o = (float *)(s + L->partial_o_offset), .part_lse = (float *)(s + L->partial_lse_offset),
        .seqlen_q = p->seqlen_q, .seqlen_k = p->seqlen_k, .heads_q = p->heads_q, .heads_kv = p->heads_kv,
        .group = p->heads_q / p->heads_kv, .window = pl.window, .batch = p->batch,
        .ntiles = L->ntiles, .tile_cap = L->tile_cap, .sel_rows = L->tile_rows, .nsplit = L->nsplit,
        .scale_log2 = scale * 1.4426950408889634f,
    };
    /* The kernel's config: the problem keys, then the caller's tile keys (prefill: sparsek_fwd;
     * decode: sparsek_decode), else decode's rows and keys per block for the shape. */
    char config[256], tiles[64] = "";
    if (L->decode) snprintf(tiles, sizeof tiles, "m=%d n=%d", decode_m(p), SK_DECODE_N);
    const char *keys = tile_config && *tile_config ? tile_config : tiles;
    /* prefill: the group too (sparsek_fwd pack=auto puts a KV group's query heads in one tile) */
    char group[24] = "";
    if (!L->decode) snprintf(group, sizeof group, " group=%d", kp.group);
    const int w = snprintf(config, sizeof config, "d=%d dtype=%s weight=%s%s%s%s", p->head_dim, dtype_name(p->dtype),
                           weight_name(sp->weight), group, *keys ? " " : "", keys);
    if (w < 0 || (size_t)w >= sizeof config)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "tile_config does not fit in %zu bytes", sizeof config);
    const sk_kernel *k = NULL;
    if (!L->decode) {
        st = sk_rt_kernel(rt, "sparsek_fwd", config, &k, err);
        /* sms: the persistent kernel (persist=1) runs at most one CTA per SM */
        const sk_gridvar vars[] = {{"sq", p->seqlen_q}, {"hq", p->heads_q}, {"b", p->batch}, {"sms", rt->info.sm_count}};
        if (!st) st = sk_rt_launch_dependent(rt, k, vars, 4, &kp, (CUstream)stream, err);
        return st;
    }
    st = sk_rt_kernel(rt, "sparsek_decode", config, &k, err);
    if (st) return st;
    /* The decode kernel runs one warp per 16 (position, head) rows: its block gives its rows. */
    kp.row_tiles = cdiv(p->seqlen_q * kp.group, (int)k->block[0] / 2);
    const sk_gridvar dvars[] = {{"nsplit", L->nsplit}, {"hkv", p->heads_kv}, {"rt", kp.row_tiles}, {"b", p->batch}};
    st = sk_rt_launch_dependent(rt, k, dvars, 4, &kp, (CUstream)stream, err);
    if (st) return st;
    snprintf(config, sizeof config, "d=%d dtype=%s phase=combine", p->head_dim, dtype_name(p->dtype));
    st = sk_rt_kernel(rt, "sparsek_decode", config, &k, err);
    const sk_gridvar cvars[] = {{"sq", p->seqlen_q}, {"hq", p->heads_q}, {"b", p->batch}};
    if (!st) st = sk_rt_launch_dependent(rt, k, cvars, 3, &kp, (CUstream)stream, err);
    return st;
}

/* A public entry point: its own name on every message, then run(). */
static sparsek_status entry(const char *name, sparsek_runtime *rt, const sparsek_sparse_attention_params *p, int how,
                            const sparsek_sparse_decode_state *state, void *scratch, size_t scratch_bytes,
                            const char *tile_config, void *stream, int select_only) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: params is NULL", name);
    sk_err e;
    sparsek_status st = run(rt, p, how, state, scratch, scratch_bytes, tile_config, stream, select_only, &e);
    if (st) {
        sk_err_prefix(&e, "%s", name);
        return sk_rt_fail(rt, &e);
    }
    return SPARSEK_OK;
}

sparsek_status sparsek_sparse_attention_forward(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                                void *scratch, size_t scratch_bytes, void *stream) {
    return entry("sparsek_sparse_attention_forward", rt, p, SK_SELECT_SCORES, NULL, scratch, scratch_bytes, NULL, stream,
                 0);
}

sparsek_status sparsek_sparse_attention_forward_with(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                                     void *scratch, size_t scratch_bytes, const char *tile_config,
                                                     void *stream) {
    return entry("sparsek_sparse_attention_forward_with", rt, p, SK_SELECT_SCORES, NULL, scratch, scratch_bytes,
                 tile_config, stream, 0);
}

sparsek_status sparsek_sparse_attention_select(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                               void *scratch, size_t scratch_bytes, void *stream) {
    return entry("sparsek_sparse_attention_select", rt, p, SK_SELECT_SCORES, NULL, scratch, scratch_bytes, NULL, stream,
                 1);
}

sparsek_status sparsek_sparse_attention_decode(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                               const sparsek_sparse_decode_state *state, void *scratch,
                                               size_t scratch_bytes, void *stream) {
    return entry("sparsek_sparse_attention_decode", rt, p, SK_SELECT_STATE, state, scratch, scratch_bytes, NULL, stream,
                 0);
}

sparsek_status sparsek_sparse_decode_state_size(sparsek_runtime *rt, const sparsek_sparse_attention_params *p,
                                                int max_seqlen_k, size_t *bytes) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!p || !bytes)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_sparse_decode_state_size: NULL argument");
    sk_err e;
    sparsek_status st = state_bytes(p, max_seqlen_k, bytes, &e);
    if (st) {
        sk_err_prefix(&e, "sparsek_sparse_decode_state_size");
        return sk_rt_fail(rt, &e);
    }
    return SPARSEK_OK;
}

sparsek_status sparsek_sparse_decode_state_reset(sparsek_runtime *rt, const sparsek_sparse_decode_state *state,
                                                 void *stream) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!state || !state->data)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_sparse_decode_state_reset: %s is NULL",
                           state ? "state->data" : "state");
    if (sk_misaligned(state->data, 16))
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_sparse_decode_state_reset: state->data must be "
                                                         "16-byte aligned");
    /* 32-bit words: a state's size is a multiple of 256 bytes, and only its headers must read 0 */
    sk_err e;
    sparsek_status st = sk_rt_device(rt, &e);
    if (!st)
        st = sk_cuda_check(&rt->cu,
                           rt->cu.cuMemsetD32Async((CUdeviceptr)state->data, 0, state->bytes / 4, (CUstream)stream),
                           "cuMemsetD32Async (decode state)", &e);
    if (st) {
        sk_err_prefix(&e, "sparsek_sparse_decode_state_reset");
        return sk_rt_fail(rt, &e);
    }
    return SPARSEK_OK;
}
