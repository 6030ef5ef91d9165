/* sk_sparsek_ref.c — the float64 host reference of SparseK selection and attention (sparsek.h).
 *
 * This is the oracle the GPU kernels are checked against, so it follows the definition step by
 * step rather than being fast:
 *   1. window W = [max(0, p-w+1), p], weight 1;
 *   2. candidates C = [0, p-w];
 *   3. |C| <= k: S = C, weights 1;
 *   4. otherwise S = the first k of C ordered by score descending (ties: larger index first),
 *      weights m_j = clamp(u_j - tau, 0, 1) with sum_{j in C} clamp(u_j - tau, 0, 1) = k;
 *   5. softmax over W and S with the weight applied by mode (HARD, GATE, KV).
 * Memory is O(Sk) per call (a few arrays of Sk entries, allocated once per call and reused for
 * every row) and there is no global state, so calls from several threads are independent.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sk_halfs.h"
#include "sk_runtime.h"

/* A candidate: its score exactly as given (float32: no rounding, no widening before the
 * comparison) and its key index. */
typedef struct sk_cand {
    float u;
    int j;
} sk_cand;

/* Selection order: score descending, ties broken by the larger index first. A total order
 * (indices are distinct), so qsort's lack of stability cannot change the result. */
static int cand_cmp(const void *pa, const void *pb) {
    const sk_cand *a = pa, *b = pb;
    if (a->u != b->u) return a->u > b->u ? -1 : 1;
    return a->j > b->j ? -1 : (a->j < b->j ? 1 : 0);
}

static int float_desc_cmp(const void *pa, const void *pb) {
    const float a = *(const float *)pa, b = *(const float *)pb;
    return a > b ? -1 : (a < b ? 1 : 0);
}

/* Sorts u[0 .. n) into c[0 .. n) in selection order. */
static void sort_candidates(const float *u, int n, sk_cand *c) {
    for (int j = 0; j < n; j++) c[j] = (sk_cand){u[j], j};
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
}

/*
 * The fast threshold, in coordinates shifted by theta (t = tau - theta), from candidates
 * c[0 .. n) sorted in selection order with n > k. Work space d: n doubles.
 *
 * f(t) = sum_j clamp(d_j - t, 0, 1), d_j = u_j - theta, is continuous, piecewise linear and
 * non-increasing, with breakpoints at d_j and d_j - 1. f(0) <= k - 1 (fewer than k scores are
 * above theta, each counts at most 1) and f(-1) >= k (the top k all count 1), so the answer is
 * in [-1, 0): only d_j > -1 take part, and d_j >= 1 count 1 on the whole interval. The rest,
 * d in (-1, 1), are swept from the top: on a segment between consecutive breakpoints the keys
 * with d_j - 1 >= t count 1 and the "partial" ones (t < d_j < t + 1) count d_j - t, so
 * f(t) = full + s - c t (c partial keys, s the sum of their d). The first segment whose lower
 * end reaches f >= k holds the crossing, solved linearly. Shifting by theta keeps every sum small
 * (|d| < 1), so nothing cancels even for scores of large magnitude.
 *
 * The result is the LARGEST t with f(t) = k. f is strictly decreasing wherever it is above 0
 * with a partial key, so the solution is unique except on a flat stretch (f = k with no partial
 * key: exactly k scores >= theta and the next <= theta - 1); the largest solution there is
 * t = -1, and every solution gives the same mask (top k weight 1, the rest 0).
 */
static double tau_shift_sorted(const sk_cand *c, int n, int k, double theta, double *d) {
    int full = 0, m = 0;
    for (int i = 0; i < n; i++) {
        const double x = (double)c[i].u - theta;
        if (x <= -1.0) break; /* sorted: every later one is below too */
        if (x >= 1.0) full++;
        else d[m++] = x;      /* descending, in (-1, 1) */
    }
    /* p1: keys whose breakpoint d_j has been passed (partial or full); p2: keys whose d_j - 1
     * has been passed (full). Both move down the same sorted array; partial = [p2, p1). */
    int p1 = 0, p2 = 0;
    double s = 0.0, cur = 1.0; /* above every d: nothing partial yet, f(1) = full <= k - 1 */
    for (;;) {
        double nb = -1.0;      /* the interval ends at -1 */
        if (p1 < m && d[p1] > nb) nb = d[p1];
        if (p2 < p1 && d[p2] - 1.0 > nb) nb = d[p2] - 1.0;
        const int cnt = p1 - p2;
        const double base = (double)(full + p2) + s; /* f(t) = base - cnt t on (nb, cur) */
        if (nb <= -1.0 || base - cnt * nb >= (double)k) {
            double t = cnt > 0 ? (base - (double)k) / cnt : nb; /* cnt == 0 only by rounding */
            if (t < nb) t = nb;
            if (t > cur) t = cur;
            return t;
        }
        while (p1 < m && d[p1] == nb) s += d[p1++];
        while (p2 < p1 && d[p2] - 1.0 == nb) s -= d[p2++];
        cur = nb;
    }
}

/*
 * Selection for one row with candidates u[0 .. n), n >= 0: writes S in selection order to sel
 * and its weights to wt (min(n, k) entries each, wt may be NULL), returns |S|. c: n candidates
 * of work space, d: n doubles.
 */
static int select_row(const float *u, int n, int k, sk_cand *c, double *d, int *sel, double *wt, double *tau,
                      double *theta) {
    sort_candidates(u, n, c);
    if (n <= k) {
        for (int i = 0; i < n; i++) {
            sel[i] = c[i].j;
            if (wt) wt[i] = 1.0;
        }
        *tau = *theta = -INFINITY;
        return n;
    }
    const double th = c[k - 1].u;
    const double t = tau_shift_sorted(c, n, k, th, d);
    for (int i = 0; i < k; i++) {
        sel[i] = c[i].j;
        if (wt) {
            /* (u - theta) - t: the same shifted coordinates the threshold was solved in. */
            double m = ((double)c[i].u - th) - t;
            wt[i] = m < 0.0 ? 0.0 : (m > 1.0 ? 1.0 : m);
        }
    }
    *theta = th;
    *tau = th + t;
    return k;
}

static sparsek_status check_scores(sparsek_runtime *rt, const char *fn, const float *u, int n) {
    for (int j = 0; j < n; j++)
        if (!isfinite(u[j]))
            return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: score %d is not finite (%g)", fn, j, (double)u[j]);
    return SPARSEK_OK;
}

static sparsek_status check_tau_args(sparsek_runtime *rt, const char *fn, const float *u, int n, int topk,
                                     const double *tau) {
    if (!u || !tau) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: u and tau must not be NULL", fn);
    if (n < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: n = %d, must be >= 1", fn, n);
    if (topk < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: topk = %d, must be >= 1", fn, topk);
    return check_scores(rt, fn, u, n);
}

sparsek_status sparsek_reference_sparsek_tau_sorted(sparsek_runtime *rt, const float *u, int n, int topk,
                                                    double *tau) {
    static const char fn[] = "sparsek_reference_sparsek_tau_sorted";
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    sparsek_status st = check_tau_args(rt, fn, u, n, topk, tau);
    if (st != SPARSEK_OK) return st;
    if (n <= topk) {
        *tau = -INFINITY;
        return SPARSEK_OK;
    }
    sk_cand *c = malloc(sizeof *c * (size_t)n);
    double *d = malloc(sizeof *d * (size_t)n);
    if (!c || !d) {
        free(c);
        free(d);
        return sk_rt_failf(rt, SPARSEK_OUT_OF_MEMORY, "%s: out of memory (n = %d)", fn, n);
    }
    sort_candidates(u, n, c);
    const double theta = c[topk - 1].u;
    *tau = theta + tau_shift_sorted(c, n, topk, theta, d);
    free(c);
    free(d);
    return SPARSEK_OK;
}

/* f(tau) = sum_j clamp(u_j - tau, 0, 1), straight from the definition. */
static double clamp_sum(const float *u, int n, double tau) {
    double f = 0.0;
    for (int j = 0; j < n; j++) {
        const double x = (double)u[j] - tau;
        f += x <= 0.0 ? 0.0 : (x >= 1.0 ? 1.0 : x);
    }
    return f;
}

sparsek_status sparsek_reference_sparsek_tau_bisect(sparsek_runtime *rt, const float *u, int n, int topk,
                                                    double *tau) {
    static const char fn[] = "sparsek_reference_sparsek_tau_bisect";
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    sparsek_status st = check_tau_args(rt, fn, u, n, topk, tau);
    if (st != SPARSEK_OK) return st;
    if (n <= topk) {
        *tau = -INFINITY;
        return SPARSEK_OK;
    }
    /* theta, the k-th largest score, by a plain sort of a copy (independent of the sorted
     * method's code path). */
    float *v = malloc(sizeof *v * (size_t)n);
    if (!v) return sk_rt_failf(rt, SPARSEK_OUT_OF_MEMORY, "%s: out of memory (n = %d)", fn, n);
    memcpy(v, u, sizeof *v * (size_t)n);
    qsort(v, (size_t)n, sizeof *v, float_desc_cmp);
    const double theta = v[topk - 1];
    free(v);
    /* Invariant f(lo) >= k > f(hi): f(theta - 1) >= k and f(theta) <= k - 1. Converges to the
     * largest solution, as the sorted method does. */
    double lo = theta - 1.0, hi = theta;
    for (int step = 0; step < 200 && hi - lo >= 1e-13; step++) {
        const double mid = lo + 0.5 * (hi - lo);
        if (mid <= lo || mid >= hi) break; /* no double in between (large |theta|) */
        if (clamp_sum(u, n, mid) >= (double)topk) lo = mid;
        else hi = mid;
    }
    *tau = lo + 0.5 * (hi - lo);
    return SPARSEK_OK;
}

sparsek_status sparsek_reference_sparsek_select(sparsek_runtime *rt, const float *u, int seqlen_k, int pos, int topk,
                                                int window, int *selected, double *weights, int *nselected,
                                                double *tau, double *theta) {
    static const char fn[] = "sparsek_reference_sparsek_select";
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!u || !selected || !nselected)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: u, selected and nselected must not be NULL", fn);
    if (seqlen_k < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: seqlen_k = %d, must be >= 1", fn, seqlen_k);
    if (pos < 0 || pos >= seqlen_k)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: pos = %d outside [0, %d)", fn, pos, seqlen_k);
    if (topk < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: topk = %d, must be >= 1", fn, topk);
    if (window < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: window = %d, must be >= 1", fn, window);
    sparsek_status st = check_scores(rt, fn, u, seqlen_k);
    if (st != SPARSEK_OK) return st;
    const int n = pos - window + 1 > 0 ? pos - window + 1 : 0; /* |C| = |[0, pos - window]| */
    sk_cand *c = malloc(sizeof *c * (size_t)(n > 0 ? n : 1));
    double *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1));
    if (!c || !d) {
        free(c);
        free(d);
        return sk_rt_failf(rt, SPARSEK_OUT_OF_MEMORY, "%s: out of memory (seqlen_k = %d)", fn, seqlen_k);
    }
    double ta, th;
    *nselected = select_row(u, n, topk, c, d, selected, weights, &ta, &th);
    if (tau) *tau = ta;
    if (theta) *theta = th;
    free(c);
    free(d);
    return SPARSEK_OK;
}

static int int_cmp(const void *a, const void *b) {
    const int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

sparsek_status sparsek_reference_sparsek_tile_keys(sparsek_runtime *rt, const float *u, int seqlen_k, int pos0,
                                                   int rows, int topk, int window, int *keys, int *nkeys) {
    static const char fn[] = "sparsek_reference_sparsek_tile_keys";
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!u || !keys || !nkeys)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: u, keys and nkeys must not be NULL", fn);
    if (seqlen_k < 1 || rows < 1 || topk < 1 || window < 1)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT,
                           "%s: seqlen_k = %d, rows = %d, topk = %d, window = %d must all be >= 1", fn, seqlen_k, rows,
                           topk, window);
    const int last = pos0 + rows - 1;
    if (last < 0 || last >= seqlen_k)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: the tile's last position %d is outside [0, %d)", fn, last,
                           seqlen_k);
    *nkeys = 0;
    /* The first row that has candidates: its selection, then every key that becomes a
     * candidate for a later row of the tile. */
    int first = pos0 < window ? window : pos0; /* C = [0, pos - window] is empty below pos = window */
    if (first > last) return SPARSEK_OK;
    int n = 0;
    sparsek_status st = sparsek_reference_sparsek_select(rt, u, seqlen_k, first, topk, window, keys, NULL, &n, NULL, NULL);
    if (st != SPARSEK_OK) return st;
    qsort(keys, (size_t)n, sizeof *keys, int_cmp);
    for (int j = first - window + 1; j <= last - window; j++) keys[n++] = j; /* all above S's keys */
    *nkeys = n;
    return SPARSEK_OK;
}

sparsek_status sparsek_reference_sparse_attention_rows(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp,
                                                       int b, int h, const int *rows, int nrows, double *out,
                                                       double *lse) {
    static const char fn[] = "sparsek_reference_sparse_attention_rows";
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!sp || !sp->base.q || !sp->base.k || !sp->base.v || !sp->scores || nrows < 0 ||
        (nrows > 0 && (!rows || !out)))
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT,
                           "%s: NULL argument (params, q, k, v, scores, rows, out) or nrows < 0", fn);
    const sparsek_attention_params *p = &sp->base;
    if (p->dtype != SPARSEK_FP16 && p->dtype != SPARSEK_BF16)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: dtype %d is not SPARSEK_FP16 or SPARSEK_BF16", fn,
                           (int)p->dtype);
    if (p->batch < 1 || p->seqlen_q < 1 || p->seqlen_k < 1 || p->heads_q < 1 || p->heads_kv < 1 || p->head_dim < 1 ||
        p->heads_q % p->heads_kv != 0)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT,
                           "%s: bad dims (all >= 1, heads_q a multiple of heads_kv): B %d Sq %d Sk %d Hq %d Hkv %d D %d",
                           fn, p->batch, p->seqlen_q, p->seqlen_k, p->heads_q, p->heads_kv, p->head_dim);
    if (sp->topk < 1) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: topk = %d, must be >= 1", fn, sp->topk);
    if (sp->window < 1)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: window = %d, must be >= 1", fn, sp->window);
    if (sp->weight != SPARSEK_WEIGHT_HARD && sp->weight != SPARSEK_WEIGHT_GATE && sp->weight != SPARSEK_WEIGHT_KV)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: weight mode %d is not GATE (0), HARD (1) or KV (2)", fn,
                           (int)sp->weight);
    if (sp->score_stride[0] < 0 || sp->score_stride[1] < 0)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: negative score stride (%lld, %lld)", fn,
                           (long long)sp->score_stride[0], (long long)sp->score_stride[1]);
    if (b < 0 || b >= p->batch || h < 0 || h >= p->heads_q)
        return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: batch %d / head %d out of range (B %d, Hq %d)", fn, b, h,
                           p->batch, p->heads_q);
    for (int r = 0; r < nrows; r++)
        if (rows[r] < 0 || rows[r] >= p->seqlen_q)
            return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "%s: rows[%d] = %d outside [0, %d)", fn, r, rows[r],
                               p->seqlen_q);
    const int d = p->head_dim, sk = p->seqlen_k, hk = h / (p->heads_q / p->heads_kv);
    const float *u = sp->scores + b * sp->score_stride[0] + hk * sp->score_stride[1];
    sparsek_status st = check_scores(rt, fn, u, sk);
    if (st != SPARSEK_OK) return st;

    const double scale = p->scale > 0.f ? p->scale : 1.0 / sqrt((double)d);
    const sparsek_dtype dt = p->dtype;
    /* O(Sk) work space, reused by every row: candidates, shifted scores, S and its weights,
     * and the attended keys (|W| + |S| <= p + 1 <= Sk) with their logits and weights. */
    const size_t nsk = (size_t)sk;
    sk_cand *cand = malloc(sizeof *cand * nsk);
    double *dsh = malloc(sizeof *dsh * nsk), *wsel = malloc(sizeof *wsel * nsk);
    double *logit = malloc(sizeof *logit * nsk), *kw = malloc(sizeof *kw * nsk);
    int *sel = malloc(sizeof *sel * nsk), *key = malloc(sizeof *key * nsk);
    if (!cand || !dsh || !wsel || !logit || !kw || !sel || !key) {
        st = sk_rt_failf(rt, SPARSEK_OUT_OF_MEMORY, "%s: out of memory (seqlen_k = %d)", fn, sk);
        goto done;
    }
    for (int r = 0; r < nrows; r++) {
        const int i = rows[r];
        const int pos = sk - p->seqlen_q + i; /* bottom-right alignment */
        double *o = out + (size_t)r * d;
        for (int x = 0; x < d; x++) o[x] = 0.0;
        if (pos < 0) { /* Sq > Sk: this row sees no key (empty window), as in the dense path */
            if (lse) lse[r] = -INFINITY;
            continue;
        }
        const int lo = pos - sp->window + 1 > 0 ? pos - sp->window + 1 : 0;
        /* Candidates C = [0, pos - w] = [0, lo): the keys left of the window. */
        double tau, theta;
        const int ns = select_row(u, lo, sp->topk, cand, dsh, sel, wsel, &tau, &theta);
        int nk = 0;
        for (int j = lo; j <= pos; j++) {
            key[nk] = j;
            kw[nk++] = 1.0;
        }
        for (int s = 0; s < ns; s++) {
            key[nk] = sel[s];
            kw[nk++] = sp->weight == SPARSEK_WEIGHT_HARD ? 1.0 : wsel[s];
        }
        const int64_t qo = b * p->q_stride[0] + (int64_t)i * p->q_stride[1] + h * p->q_stride[2];
        double mx = -INFINITY;
        for (int t = 0; t < nk; t++) {
            const int64_t ko = b * p->k_stride[0] + (int64_t)key[t] * p->k_stride[1] + hk * p->k_stride[2];
            double dot = 0.0;
            for (int x = 0; x < d; x++) dot += sk_half_element(dt, p->q, qo + x) * sk_half_element(dt, p->k, ko + x);
            double s;
            if (sp->weight == SPARSEK_WEIGHT_KV) s = scale * kw[t] * dot;          /* key scaled by m */
            else if (kw[t] > 0.0) s = scale * dot + log(kw[t]);                    /* HARD: log 1 = 0 */
            else s = -INFINITY;                                                    /* GATE, m = 0: vanishes */
            logit[t] = s;
            if (s > mx) mx = s;
        }
        double sum = 0.0;
        for (int t = 0; t < nk; t++) {
            if (logit[t] == -INFINITY) continue;
            const double a = exp(logit[t] - mx);
            const double vs = sp->weight == SPARSEK_WEIGHT_KV ? kw[t] : 1.0; /* value scaled by m in KV */
            const int64_t vo = b * p->v_stride[0] + (int64_t)key[t] * p->v_stride[1] + hk * p->v_stride[2];
            sum += a;
            for (int x = 0; x < d; x++) o[x] += a * vs * sk_half_element(dt, p->v, vo + x);
        }
        for (int x = 0; x < d; x++) o[x] = sum > 0.0 ? o[x] / sum : 0.0;
        if (lse) lse[r] = sum > 0.0 ? mx + log(sum) : -INFINITY;
    }
    st = SPARSEK_OK;
done:
    free(cand);
    free(dsh);
    free(wsel);
    free(logit);
    free(kw);
    free(sel);
    free(key);
    return st;
}
