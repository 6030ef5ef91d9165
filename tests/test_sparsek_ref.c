/* test_sparsek_ref.c — the float64 SparseK reference (sk_sparsek_ref.c): the threshold tau by the
 * sorted-breakpoint method against bisection and against its defining equation, the selection
 * (exactly k keys, order, ties, |C| <= k, windows longer than the sequence, the monotone
 * structure across positions), and the attention rows in the three weight modes against a
 * brute-force softmax written here and against the dense reference; argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "sparsek.h"

static sparsek_runtime *g_rt;

static int group_setup(void **state) {
    (void)state;
    char msg[256];
    return sparsek_runtime_create(&g_rt, NULL, msg, sizeof msg) == SPARSEK_OK ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    sparsek_runtime_destroy(g_rt);
    return 0;
}

/* ---- deterministic random numbers ---- */
static uint64_t g_seed = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 7;
    g_seed ^= g_seed << 17;
    return g_seed;
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); } /* [lo, hi] */
static double rnd_unit(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); } /* [0, 1) */

/* Fills u[0..n) with one of several score distributions (kind 0..7). */
static void fill_scores(float *u, int n, int kind) {
    static const double spreads[] = {1e-6, 1e-3, 0.3, 1.0, 3.0, 50.0, 1e4};
    const double a = spreads[rnd_int(0, 6)];
    const int pool = rnd_int(1, 4);
    float vals[4];
    for (int i = 0; i < 4; i++) vals[i] = (float)(rnd_unit() * 4 - 2);
    for (int j = 0; j < n; j++) {
        switch (kind) {
        case 0: u[j] = (float)((rnd_unit() * 2 - 1) * a); break;               /* uniform, spread a */
        case 1: u[j] = (float)rnd_int(-4, 4); break;                           /* integers: u and u-1 coincide */
        case 2: u[j] = (float)(rnd_int(-8, 8) * 0.25); break;                  /* quarter grid: many ties */
        case 3: u[j] = vals[rnd_int(0, pool - 1)]; break;                      /* a few distinct values */
        case 4: u[j] = (float)(1e4 + (rnd_unit() * 2 - 1) * 3); break;         /* large offset, small spread */
        case 5: u[j] = (float)(rnd_unit() < 0.1 ? 5 + rnd_unit() : rnd_unit()); break; /* two clusters */
        case 6: u[j] = (float)(exp(rnd_unit() * 10) * (rnd_unit() < .5 ? -1 : 1)); break; /* heavy tails */
        default: u[j] = (float)(rnd_unit() * 2 - 1) * 1e-30f; break;          /* tiny magnitudes */
        }
    }
}

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }
static double clamp_sum(const float *u, int n, double tau) {
    double f = 0;
    for (int j = 0; j < n; j++) f += clamp01((double)u[j] - tau);
    return f;
}
/* The k-th largest of u[0..n), by counting (independent of the library's sort). */
static double kth_largest(const float *u, int n, int k) {
    for (int j = 0; j < n; j++) {
        int above = 0, atleast = 0;
        for (int l = 0; l < n; l++) {
            above += u[l] > u[j];
            atleast += u[l] >= u[j];
        }
        if (above < k && atleast >= k) return u[j];
    }
    return NAN;
}
/* Rank of candidate j among u[0..n) in selection order (score desc, larger index first on ties). */
static int sel_rank(const float *u, int n, int j) {
    int r = 0;
    for (int l = 0; l < n; l++) r += u[l] > u[j] || (u[l] == u[j] && l > j);
    return r;
}

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            print_error("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                  \
            print_error(__VA_ARGS__);                                                             \
            print_error("\n");                                                                    \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* ---- tau ---- */

static void test_tau_known_values(void **state) {
    (void)state;
    double t1, t2;
    const float a[] = {0, 0};                       /* k=1: each counts 1/2 */
    assert_int_equal(sparsek_reference_sparsek_tau_sorted(g_rt, a, 2, 1, &t1), SPARSEK_OK);
    assert_true(fabs(t1 + 0.5) < 1e-15);
    const float b[] = {1, 0.5f, 0};                 /* k=1: (1-t) + (0.5-t) = 1 at t = 0.25 */
    assert_int_equal(sparsek_reference_sparsek_tau_sorted(g_rt, b, 3, 1, &t1), SPARSEK_OK);
    assert_true(fabs(t1 - 0.25) < 1e-15);
    const float c[] = {5, 0, 2, -7};                /* k=2, flat: {5, 2} count 1 for t in [0, 1] */
    assert_int_equal(sparsek_reference_sparsek_tau_sorted(g_rt, c, 4, 2, &t1), SPARSEK_OK);
    assert_int_equal(sparsek_reference_sparsek_tau_bisect(g_rt, c, 4, 2, &t2), SPARSEK_OK);
    assert_true(t1 == 1.0);                         /* the largest solution: theta - 1 */
    assert_true(fabs(t2 - 1.0) < 1e-12);
    const float e[] = {3, 1, 2};                    /* n <= k: every weight 1 */
    assert_int_equal(sparsek_reference_sparsek_tau_sorted(g_rt, e, 3, 3, &t1), SPARSEK_OK);
    assert_int_equal(sparsek_reference_sparsek_tau_bisect(g_rt, e, 3, 5, &t2), SPARSEK_OK);
    assert_true(isinf(t1) && t1 < 0 && isinf(t2) && t2 < 0);
}

static void test_tau_sorted_vs_bisect(void **state) {
    (void)state;
    enum { NMAX = 2100 };
    float *u = malloc(sizeof *u * NMAX);
    int cases = 0, flat = 0;
    for (int it = 0; it < 6000; it++) {
        const int big = it % 50 == 0;
        const int n = big ? rnd_int(500, NMAX) : rnd_int(2, 200);
        int k;
        switch (it % 5) {
        case 0: k = 1; break;
        case 1: k = n - 1; break;
        case 2: k = rnd_int(1, n / 2 > 1 ? n / 2 : 1); break;
        default: k = rnd_int(1, n - 1); break;
        }
        const int kind = it % 8;
        fill_scores(u, n, kind);
        double ts, tb;
        assert_int_equal(sparsek_reference_sparsek_tau_sorted(g_rt, u, n, k, &ts), SPARSEK_OK);
        assert_int_equal(sparsek_reference_sparsek_tau_bisect(g_rt, u, n, k, &tb), SPARSEK_OK);
        const double theta = kth_largest(u, n, k);
        const double tol = 1e-9; /* scores up to ~2e4 in magnitude (kinds 4, 6) */
        CHECK(fabs(ts - tb) < tol, "it %d kind %d n %d k %d: sorted %.17g bisect %.17g", it, kind, n, k, ts, tb);
        CHECK(fabs(clamp_sum(u, n, ts) - k) < tol, "it %d kind %d n %d k %d: f(tau) = %.17g", it, kind, n, k,
              clamp_sum(u, n, ts));
        CHECK(ts >= theta - 1 && ts < theta, "it %d: tau %.17g theta %.17g", it, ts, theta);
        /* Flat stretch: the largest solution is exactly theta - 1. */
        int above = 0;
        for (int j = 0; j < n; j++) above += u[j] > theta - 1;
        if (above == k) {
            flat++;
            CHECK(ts == theta - 1, "it %d flat: tau %.17g theta %.17g", it, ts, theta);
        }
        cases++;
    }
    assert_int_equal(cases, 6000);
    assert_true(flat > 100); /* the flat case was exercised */
    free(u);
}

/* ---- selection ---- */

static void check_selection(const float *u, int sk, int pos, int k, int w) {
    int *sel = malloc(sizeof *sel * (size_t)k);
    double *wt = malloc(sizeof *wt * (size_t)k);
    int ns = -1;
    double tau = 0, theta = 0;
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, u, sk, pos, k, w, sel, wt, &ns, &tau, &theta),
                     SPARSEK_OK);
    const int nc = pos - w + 1 > 0 ? pos - w + 1 : 0;
    if (nc <= k) {
        CHECK(ns == nc, "pos %d: %d selected, %d candidates", pos, ns, nc);
        CHECK(isinf(tau) && tau < 0 && isinf(theta) && theta < 0, "pos %d: tau %g theta %g", pos, tau, theta);
        for (int s = 0; s < ns; s++) {
            CHECK(wt[s] == 1.0, "weight %g", wt[s]);
            CHECK(sel[s] >= 0 && sel[s] < nc && sel_rank(u, nc, sel[s]) == s, "pos %d s %d sel %d", pos, s, sel[s]);
        }
    } else {
        CHECK(ns == k, "pos %d: %d selected, k %d", pos, ns, k);
        CHECK(theta == kth_largest(u, nc, k), "theta %.9g", theta);
        CHECK(fabs(clamp_sum(u, nc, tau) - k) < 1e-9, "f(tau) %.17g k %d", clamp_sum(u, nc, tau), k);
        double tb;
        assert_int_equal(sparsek_reference_sparsek_tau_bisect(g_rt, u, nc, k, &tb), SPARSEK_OK);
        CHECK(fabs(tb - tau) < 1e-9, "tau %.17g bisect %.17g", tau, tb);
        for (int s = 0; s < ns; s++) {
            CHECK(sel[s] >= 0 && sel[s] < nc, "sel %d outside C", sel[s]);
            CHECK(sel_rank(u, nc, sel[s]) == s, "pos %d: sel[%d] = %d has rank %d", pos, s, sel[s],
                  sel_rank(u, nc, sel[s]));
            CHECK(wt[s] > 0 && wt[s] <= 1, "weight %g", wt[s]);
            CHECK(fabs(wt[s] - clamp01((double)u[sel[s]] - tau)) < 1e-12, "weight %g", wt[s]);
        }
    }
    free(sel);
    free(wt);
}

static void test_select_random(void **state) {
    (void)state;
    enum { SK = 400 };
    float u[SK];
    for (int it = 0; it < 60; it++) {
        const int sk = rnd_int(1, SK);
        fill_scores(u, sk, it % 8 == 7 ? 0 : it % 8);
        const int k = rnd_int(1, it % 3 == 0 ? 4 : 40), w = rnd_int(1, it % 4 == 0 ? 2 * SK : 30);
        for (int pos = 0; pos < sk; pos += 1 + (it % 3)) check_selection(u, sk, pos, k, w);
    }
}

static void test_select_cases(void **state) {
    (void)state;
    int sel[8], ns = -1;
    double wt[8], tau = 0, theta = 0;
    /* All scores equal: ties go to the larger index first. C = [0, 9 - 3] = 0..6. */
    float eq[10];
    for (int j = 0; j < 10; j++) eq[j] = 0.5f;
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, eq, 10, 9, 3, 3, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
    assert_int_equal(ns, 3);
    assert_int_equal(sel[0], 6);
    assert_int_equal(sel[1], 5);
    assert_int_equal(sel[2], 4);
    assert_true(theta == 0.5f);
    assert_true(fabs(tau - (0.5 - 3.0 / 7.0)) < 1e-15); /* 7 (0.5 - tau) = 3 */
    for (int s = 0; s < 3; s++) assert_true(fabs(wt[s] - 3.0 / 7.0) < 1e-15);
    /* Order by score, then index. */
    const float o[] = {1, 3, 2, 3, 0, 9, 9};
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, o, 7, 6, 4, 2, sel, NULL, &ns, NULL, NULL), SPARSEK_OK);
    assert_int_equal(ns, 4); /* C = 0..4 */
    assert_int_equal(sel[0], 3);
    assert_int_equal(sel[1], 1);
    assert_int_equal(sel[2], 2);
    assert_int_equal(sel[3], 0);
    /* |C| <= k: every candidate, weights 1, tau = theta = -inf; in selection order. */
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, o, 7, 6, 5, 2, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
    assert_int_equal(ns, 5);
    assert_true(isinf(tau) && tau < 0 && isinf(theta) && theta < 0);
    for (int s = 0; s < 5; s++) assert_true(wt[s] == 1.0);
    assert_int_equal(sel[0], 3);
    assert_int_equal(sel[4], 4);
    /* pos < w: no candidate. */
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, o, 7, 1, 2, 2, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
    assert_int_equal(ns, 0);
    assert_true(isinf(theta) && theta < 0);
    /* pos == w: C = {0}. */
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, o, 7, 2, 1, 2, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
    assert_int_equal(ns, 1);
    assert_int_equal(sel[0], 0);
    assert_true(wt[0] == 1.0);
    /* w > Sk: the window holds everything at every position. */
    for (int pos = 0; pos < 7; pos++) {
        assert_int_equal(sparsek_reference_sparsek_select(g_rt, o, 7, pos, 1, 100, sel, wt, &ns, &tau, &theta),
                         SPARSEK_OK);
        assert_int_equal(ns, 0);
    }
    /* Flat: top k far above the rest: weights exactly 1 though |C| > k. */
    const float f[] = {10, 0, 12, 1, 8, 0, 0};
    assert_int_equal(sparsek_reference_sparsek_select(g_rt, f, 7, 6, 3, 1, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
    assert_int_equal(ns, 3);
    assert_int_equal(sel[0], 2);
    assert_int_equal(sel[1], 0);
    assert_int_equal(sel[2], 4);
    assert_true(theta == 8 && tau == 7);
    for (int s = 0; s < 3; s++) assert_true(wt[s] == 1.0);
}

/* As pos grows theta never decreases, S_{pos+1} is inside S_pos plus the one key that became a
 * candidate, so a key that leaves the top-k never returns. */
static void test_structure(void **state) {
    (void)state;
    enum { SK = 300 };
    float u[SK];
    int sel[64], prev[64], left[SK];
    double theta, tau, wt[64];
    for (int it = 0; it < 40; it++) {
        const int sk = rnd_int(2, SK), k = rnd_int(1, 64), w = rnd_int(1, 20);
        fill_scores(u, sk, it % 8);
        memset(left, 0, sizeof left);
        double prev_theta = -INFINITY;
        int nprev = 0;
        for (int pos = 0; pos < sk; pos++) {
            int ns;
            assert_int_equal(sparsek_reference_sparsek_select(g_rt, u, sk, pos, k, w, sel, wt, &ns, &tau, &theta),
                             SPARSEK_OK);
            CHECK(theta >= prev_theta, "it %d pos %d: theta %.9g < %.9g", it, pos, theta, prev_theta);
            const int newest = pos - w; /* the candidate that joined at this position, if any */
            for (int s = 0; s < ns; s++) {
                CHECK(!left[sel[s]], "it %d pos %d: key %d came back", it, pos, sel[s]);
                int was = sel[s] == newest;
                for (int t = 0; t < nprev; t++) was |= prev[t] == sel[s];
                CHECK(was, "it %d pos %d: key %d neither kept nor new", it, pos, sel[s]);
            }
            for (int t = 0; t < nprev; t++) {
                int kept = 0;
                for (int s = 0; s < ns; s++) kept |= sel[s] == prev[t];
                if (!kept) left[prev[t]] = 1;
            }
            memcpy(prev, sel, sizeof *sel * (size_t)ns);
            nprev = ns;
            prev_theta = theta;
        }
    }
}

/* ---- attention ---- */

/* value -> fp16/bf16 bits, for values exactly representable in both (multiples of 1/64 in
 * [-2, 2]); the brute force below uses the same values as doubles. */
static uint16_t to_bits(double x, sparsek_dtype dt) {
    if (dt == SPARSEK_BF16) {
        const float f = (float)x;
        uint32_t b;
        memcpy(&b, &f, 4);
        assert_int_equal(b & 0xffffu, 0);
        return (uint16_t)(b >> 16);
    }
    if (x == 0) return 0;
    const uint16_t s = x < 0 ? 0x8000 : 0;
    int e;
    const double m = frexp(fabs(x), &e); /* |x| = m 2^e, m in [0.5, 1) */
    const double frac = (2 * m - 1) * 1024;
    assert_true(frac == floor(frac) && e + 14 > 0 && e + 14 < 31);
    return (uint16_t)(s | (uint16_t)((e + 14) << 10) | (uint16_t)frac);
}

typedef struct prob {
    int B, Sq, Sk, Hq, Hkv, D;
    sparsek_dtype dt;
    double *qd, *kd, *vd; /* [B, S, H, D] */
    uint16_t *q, *k, *v;
    float *u;
    int64_t us0, us1;     /* score strides (padded rows) */
    sparsek_sparse_attention_params p;
} prob;

static void prob_make(prob *P, int B, int Sq, int Sk, int Hq, int Hkv, int D, sparsek_dtype dt, int score_kind) {
    memset(P, 0, sizeof *P);
    P->B = B, P->Sq = Sq, P->Sk = Sk, P->Hq = Hq, P->Hkv = Hkv, P->D = D, P->dt = dt;
    const size_t nq = (size_t)B * Sq * Hq * D, nk = (size_t)B * Sk * Hkv * D;
    P->qd = malloc(sizeof(double) * nq);
    P->q = malloc(sizeof(uint16_t) * nq);
    P->kd = malloc(sizeof(double) * nk);
    P->vd = malloc(sizeof(double) * nk);
    P->k = malloc(sizeof(uint16_t) * nk);
    P->v = malloc(sizeof(uint16_t) * nk);
    for (size_t i = 0; i < nq; i++) P->q[i] = to_bits(P->qd[i] = rnd_int(-128, 128) / 64.0, dt);
    for (size_t i = 0; i < nk; i++) P->k[i] = to_bits(P->kd[i] = rnd_int(-128, 128) / 64.0, dt);
    for (size_t i = 0; i < nk; i++) P->v[i] = to_bits(P->vd[i] = rnd_int(-128, 128) / 64.0, dt);
    P->us1 = Sk + rnd_int(0, 3);
    P->us0 = P->us1 * Hkv + rnd_int(0, 2);
    const size_t nu = (size_t)P->us0 * B;
    P->u = malloc(sizeof(float) * nu);
    for (size_t i = 0; i < nu; i++) P->u[i] = NAN; /* padding: never read */
    for (int b = 0; b < B; b++)
        for (int hk = 0; hk < Hkv; hk++) {
            float *row = P->u + b * P->us0 + hk * P->us1;
            if (score_kind < 0) { /* distinct even integers: the flat case, every weight exactly 1 */
                for (int j = 0; j < Sk; j++) row[j] = (float)(2 * j);
                for (int j = Sk - 1; j > 0; j--) {
                    const int r = rnd_int(0, j);
                    const float t = row[j];
                    row[j] = row[r];
                    row[r] = t;
                }
            } else {
                fill_scores(row, Sk, score_kind);
            }
        }
    sparsek_attention_params *bp = &P->p.base;
    bp->q = P->q, bp->k = P->k, bp->v = P->v, bp->dtype = dt;
    bp->batch = B, bp->seqlen_q = Sq, bp->seqlen_k = Sk, bp->heads_q = Hq, bp->heads_kv = Hkv, bp->head_dim = D;
    assert_int_equal(sparsek_attention_params_set_layout(bp, 0), SPARSEK_OK);
    P->p.scores = P->u;
    P->p.score_stride[0] = P->us0;
    P->p.score_stride[1] = P->us1;
    P->p.weight = SPARSEK_WEIGHT_GATE;
}

static void prob_free(prob *P) {
    free(P->qd), free(P->kd), free(P->vd), free(P->q), free(P->k), free(P->v), free(P->u);
}

/* The definition, written out: window, brute-force top-k by rank, weights from the bisection
 * tau, then the mode's softmax. */
static void brute_row(const prob *P, int b, int h, int i, int k, int w, sparsek_weight_mode mode, double *o,
                      double *lse) {
    const int D = P->D, hk = h / (P->Hq / P->Hkv), pos = P->Sk - P->Sq + i;
    for (int x = 0; x < D; x++) o[x] = 0;
    *lse = -INFINITY;
    if (pos < 0) return;
    const float *u = P->u + b * P->us0 + hk * P->us1;
    const int lo = pos - w + 1 > 0 ? pos - w + 1 : 0;
    double tau = -INFINITY;
    if (lo > k) assert_int_equal(sparsek_reference_sparsek_tau_bisect(g_rt, u, lo, k, &tau), SPARSEK_OK);
    double *lg = malloc(sizeof(double) * (size_t)(pos + 1)), *mw = malloc(sizeof(double) * (size_t)(pos + 1));
    double mx = -INFINITY;
    for (int j = 0; j <= pos; j++) {
        double m;
        if (j >= lo) m = 1; /* window */
        else if (sel_rank(u, lo, j) < k) m = lo > k ? clamp01((double)u[j] - tau) : 1;
        else { lg[j] = -INFINITY; mw[j] = 0; continue; }
        const double *qq = P->qd + (((size_t)b * P->Sq + i) * P->Hq + h) * D;
        const double *kk = P->kd + (((size_t)b * P->Sk + j) * P->Hkv + hk) * D;
        double dot = 0;
        for (int x = 0; x < D; x++) dot += qq[x] * kk[x];
        const double sc = 1 / sqrt((double)D);
        if (mode == SPARSEK_WEIGHT_HARD) lg[j] = sc * dot, mw[j] = 1;
        else if (mode == SPARSEK_WEIGHT_GATE) lg[j] = m > 0 ? sc * dot + log(m) : -INFINITY, mw[j] = 1;
        else lg[j] = sc * m * dot, mw[j] = m;
        if (lg[j] > mx) mx = lg[j];
    }
    double sum = 0;
    for (int j = 0; j <= pos; j++) {
        if (lg[j] == -INFINITY) continue;
        const double a = exp(lg[j] - mx);
        const double *vv = P->vd + (((size_t)b * P->Sk + j) * P->Hkv + hk) * D;
        sum += a;
        for (int x = 0; x < D; x++) o[x] += a * mw[j] * vv[x];
    }
    for (int x = 0; x < D; x++) o[x] /= sum;
    *lse = mx + log(sum);
    free(lg);
    free(mw);
}

/* Every row of (b, h) for the problem's p against brute_row; returns the largest difference. */
static double check_rows(prob *P, int b, int h) {
    const int n = P->Sq, D = P->D;
    int *rows = calloc((size_t)n, sizeof(int));
    double *out = malloc(sizeof(double) * (size_t)n * D), *lse = malloc(sizeof(double) * (size_t)n);
    double *ref = malloc(sizeof(double) * D), rl;
    for (int r = 0; r < n; r++) rows[r] = n - 1 - r; /* any order */
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P->p, b, h, rows, n, out, lse), SPARSEK_OK);
    double worst = 0;
    for (int r = 0; r < n; r++) {
        brute_row(P, b, h, rows[r], P->p.topk, P->p.window, P->p.weight, ref, &rl);
        for (int x = 0; x < D; x++) {
            const double e = fabs(out[(size_t)r * D + x] - ref[x]);
            if (e > worst) worst = e;
        }
        if (isinf(rl)) CHECK(isinf(lse[r]) && lse[r] < 0, "row %d lse %g", rows[r], lse[r]);
        else if (fabs(lse[r] - rl) > worst) worst = fabs(lse[r] - rl);
    }
    free(rows), free(out), free(lse), free(ref);
    return worst;
}

/* The tile gather set: every row's selection inside it, ascending, at most k + rows - 1 keys,
 * and nothing at or above the tile's last candidate bound. */
static void test_tile_keys(void **state) {
    (void)state;
    enum { SK = 400, KMAX = 48, BQ = 64 };
    float u[SK];
    int keys[KMAX + BQ], sel[KMAX];
    for (int it = 0; it < 300; it++) {
        const int sk = rnd_int(1, SK), k = rnd_int(1, KMAX), w = rnd_int(1, 40), rows = rnd_int(1, BQ);
        const int pos0 = rnd_int(-rows + 1, sk - rows); /* last row inside [0, sk) */
        if (pos0 + rows - 1 < 0 || pos0 + rows - 1 >= sk) continue;
        fill_scores(u, sk, it % 8);
        int nk = -1;
        assert_int_equal(sparsek_reference_sparsek_tile_keys(g_rt, u, sk, pos0, rows, k, w, keys, &nk), SPARSEK_OK);
        assert_true(nk >= 0 && nk <= k + rows - 1);
        for (int i = 1; i < nk; i++) CHECK(keys[i - 1] < keys[i], "it %d: keys not ascending at %d", it, i);
        if (nk > 0) CHECK(keys[nk - 1] <= pos0 + rows - 1 - w, "it %d: key %d is no candidate", it, keys[nk - 1]);
        for (int pos = pos0 < 0 ? 0 : pos0; pos < pos0 + rows; pos++) {
            int ns;
            assert_int_equal(sparsek_reference_sparsek_select(g_rt, u, sk, pos, k, w, sel, NULL, &ns, NULL, NULL), SPARSEK_OK);
            for (int s = 0; s < ns; s++) {
                int found = 0;
                for (int i = 0; i < nk && !found; i++) found = keys[i] == sel[s];
                CHECK(found, "it %d pos %d: selected key %d not gathered", it, pos, sel[s]);
            }
        }
    }
    /* Bad arguments. */
    int nk;
    assert_int_equal(sparsek_reference_sparsek_tile_keys(g_rt, u, 10, 5, 6, 4, 2, keys, &nk), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparsek_tile_keys(g_rt, u, 10, -8, 2, 4, 2, keys, &nk), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparsek_tile_keys(g_rt, u, 10, 0, 0, 4, 2, keys, &nk), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparsek_tile_keys(g_rt, NULL, 10, 0, 2, 4, 2, keys, &nk), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(g_rt), "NULL"));
    assert_int_equal(sparsek_reference_sparsek_tile_keys(NULL, u, 10, 0, 2, 4, 2, keys, &nk), SPARSEK_INVALID_ARGUMENT);
}

static void test_attention_vs_brute_force(void **state) {
    (void)state;
    static const struct {
        int B, Sq, Sk, Hkv, G, D, k, w, kind;
        sparsek_dtype dt;
    } cases[] = {
        {2, 97, 97, 2, 1, 64, 8, 16, 0, SPARSEK_BF16},   /* prefill, MHA */
        {1, 1, 300, 2, 4, 32, 16, 32, 1, SPARSEK_FP16},  /* decode, GQA 4, integer scores */
        {1, 40, 200, 1, 8, 16, 5, 7, 2, SPARSEK_BF16},   /* chunked prefill, MQA group 8, ties */
        {1, 50, 30, 2, 4, 8, 3, 4, 3, SPARSEK_FP16},     /* Sq > Sk: 20 rows see no key */
        {1, 60, 60, 1, 1, 8, 4, 100, 0, SPARSEK_BF16},   /* w > Sk */
        {1, 70, 70, 1, 1, 8, 1, 1, 5, SPARSEK_FP16},     /* k = 1, w = 1 */
        {2, 33, 65, 2, 2, 24, 64, 2, 6, SPARSEK_BF16},   /* k >= |C| everywhere */
        {1, 129, 129, 1, 1, 8, 12, 9, 4, SPARSEK_FP16},  /* large score offset */
    };
    static const sparsek_weight_mode modes[] = {SPARSEK_WEIGHT_HARD, SPARSEK_WEIGHT_GATE, SPARSEK_WEIGHT_KV};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        prob P;
        prob_make(&P, cases[c].B, cases[c].Sq, cases[c].Sk, cases[c].Hkv * cases[c].G, cases[c].Hkv, cases[c].D,
                  cases[c].dt, cases[c].kind);
        P.p.topk = cases[c].k;
        P.p.window = cases[c].w;
        for (int m = 0; m < 3; m++) {
            P.p.weight = modes[m];
            for (int b = 0; b < P.B; b++)
                for (int h = 0; h < P.Hq; h += (P.Hq > 4 ? 3 : 1)) {
                    const double e = check_rows(&P, b, h);
                    CHECK(e < 1e-9, "case %zu mode %d b %d h %d: max diff %g", c, m, b, h, e);
                }
        }
        prob_free(&P);
    }
}

/* out/lse for all rows of (b, h) under the problem's current params. */
static void all_rows(prob *P, int b, int h, double *out, double *lse) {
    int *rows = malloc(sizeof(int) * (size_t)P->Sq);
    for (int r = 0; r < P->Sq; r++) rows[r] = r;
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P->p, b, h, rows, P->Sq, out, lse), SPARSEK_OK);
    free(rows);
}

static double max_diff(const double *a, const double *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && isinf(b[i]) && (a[i] < 0) == (b[i] < 0)) continue;
        const double d = fabs(a[i] - b[i]);
        if (!(d <= e)) e = d; /* NaN counts */
    }
    return e;
}

/* When every selected weight is 1 (|C| <= k, or scores that leave the top k at least 1 above
 * the rest) the three modes agree; when W ∪ S is every key up to the row, they agree with the
 * dense causal reference. */
static void test_attention_modes_agree(void **state) {
    (void)state;
    static const struct {
        int Sq, Sk, Hkv, G, D, k, w, kind;
    } cases[] = {
        {80, 80, 2, 4, 16, 6, 5, -1},  /* flat: distinct even scores, |C| > k, weights 1 */
        {1, 200, 1, 8, 32, 10, 3, -1}, /* decode, flat */
        {50, 90, 2, 1, 16, 100, 4, 0}, /* k >= Sk: S = C, weights 1 */
        {45, 45, 1, 4, 8, 2, 64, 1},   /* w > Sk */
        {60, 40, 2, 2, 8, 3, 50, 0},   /* Sq > Sk and w > Sk */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        prob P;
        prob_make(&P, 1, cases[c].Sq, cases[c].Sk, cases[c].Hkv * cases[c].G, cases[c].Hkv, cases[c].D,
                  c % 2 ? SPARSEK_FP16 : SPARSEK_BF16, cases[c].kind);
        P.p.topk = cases[c].k;
        P.p.window = cases[c].w;
        const size_t n = (size_t)P.Sq * P.D;
        double *oh = malloc(sizeof(double) * n), *og = malloc(sizeof(double) * n), *ok = malloc(sizeof(double) * n);
        double *od = malloc(sizeof(double) * n), *lh = malloc(sizeof(double) * P.Sq), *lg = malloc(sizeof(double) * P.Sq);
        double *lk = malloc(sizeof(double) * P.Sq), *ld = malloc(sizeof(double) * P.Sq);
        for (int h = 0; h < P.Hq; h++) {
            P.p.weight = SPARSEK_WEIGHT_HARD;
            all_rows(&P, 0, h, oh, lh);
            P.p.weight = SPARSEK_WEIGHT_GATE;
            all_rows(&P, 0, h, og, lg);
            P.p.weight = SPARSEK_WEIGHT_KV;
            all_rows(&P, 0, h, ok, lk);
            CHECK(max_diff(oh, og, n) == 0 && max_diff(lh, lg, P.Sq) == 0, "case %zu h %d: GATE != HARD", c, h);
            CHECK(max_diff(oh, ok, n) == 0 && max_diff(lh, lk, P.Sq) == 0, "case %zu h %d: KV != HARD", c, h);
            if (cases[c].k >= cases[c].Sk || cases[c].w >= cases[c].Sk) {
                sparsek_attention_params dp = P.p.base;
                dp.causal = 1;
                int *rows = malloc(sizeof(int) * (size_t)P.Sq);
                for (int r = 0; r < P.Sq; r++) rows[r] = r;
                assert_int_equal(sparsek_reference_attention_rows(g_rt, &dp, 0, h, rows, P.Sq, od, ld), SPARSEK_OK);
                free(rows);
                CHECK(max_diff(oh, od, n) < 1e-12 && max_diff(lh, ld, P.Sq) < 1e-12, "case %zu h %d: HARD != dense %g",
                      c, h, max_diff(oh, od, n));
            }
        }
        free(oh), free(og), free(ok), free(od), free(lh), free(lg), free(lk), free(ld);
        prob_free(&P);
    }
}

/* A selected key always has a weight > 0 (tau < theta), so GATE's "m = 0 vanishes" is checked
 * as a limit: with k = 1, one candidate at score 0 and N candidates at -delta, the selected key
 * gets m = (1 + N delta) / (N + 1), and the GATE output differs from the window alone (the key
 * dropped) by at most m e^{s_j} / Z * 2 max|v| (LSE by log(1 + m e^{s_j} / Z)). The rows are
 * also checked against brute_row. */
static void test_gate_small_weight_vanishes(void **state) {
    (void)state;
    double prev_wt = INFINITY;
    for (int N = 63; N <= 4095; N = 4 * N + 3) {
        prob P;
        prob_make(&P, 1, 1, N + 3, 1, 1, 16, SPARSEK_BF16, 0);
        const int Sk = N + 3, j0 = N / 2;
        const float delta = 1e-7f;
        for (int j = 0; j < Sk; j++) P.u[j] = -delta;
        P.u[j0] = 0;
        P.p.topk = 1;
        P.p.window = 2; /* the decode row at Sk - 1: window {Sk-2, Sk-1}, C = 0 .. N */
        int sel, ns, row = 0;
        double wt, tau, theta;
        assert_int_equal(sparsek_reference_sparsek_select(g_rt, P.u, Sk, Sk - 1, 1, 2, &sel, &wt, &ns, &tau, &theta),
                         SPARSEK_OK);
        assert_int_equal(ns, 1);
        assert_int_equal(sel, j0);
        const double expect = (1 + N * (double)delta) / (N + 1);
        CHECK(fabs(wt - expect) < 1e-12, "N %d: weight %.17g, expected %.17g", N, wt, expect);
        CHECK(wt < prev_wt, "N %d: weight did not shrink", N);
        prev_wt = wt;
        double og[16], lg, od[16], ld;
        P.p.weight = SPARSEK_WEIGHT_GATE;
        assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P.p, 0, 0, &row, 1, og, &lg), SPARSEK_OK);
        /* The key dropped: softmax over the two window keys, by hand. */
        double s[2], mx = -INFINITY, z = 0;
        for (int t = 0; t < 2; t++) {
            double dot = 0;
            for (int x = 0; x < 16; x++) dot += P.qd[x] * P.kd[(size_t)(Sk - 2 + t) * 16 + x];
            s[t] = dot / 4.0;
            if (s[t] > mx) mx = s[t];
        }
        for (int x = 0; x < 16; x++) od[x] = 0;
        for (int t = 0; t < 2; t++) {
            const double a = exp(s[t] - mx);
            z += a;
            for (int x = 0; x < 16; x++) od[x] += a * P.vd[(size_t)(Sk - 2 + t) * 16 + x];
        }
        for (int x = 0; x < 16; x++) od[x] /= z;
        ld = mx + log(z);
        double dot0 = 0;
        for (int x = 0; x < 16; x++) dot0 += P.qd[x] * P.kd[(size_t)j0 * 16 + x];
        const double share = wt * exp(dot0 / 4.0 - mx) / z; /* m e^{s_j0} / Z */
        const double diff = max_diff(og, od, 16);
        CHECK(diff <= share * 4.0 + 1e-15, "N %d: diff %g share %g", N, diff, share);
        CHECK(lg - ld >= 0 && lg - ld <= share * (1 + 1e-9), "N %d: lse %.17g vs %.17g", N, lg, ld);
        double ref[16], rl;
        brute_row(&P, 0, 0, 0, 1, 2, SPARSEK_WEIGHT_GATE, ref, &rl);
        CHECK(max_diff(og, ref, 16) < 1e-12 && fabs(lg - rl) < 1e-12, "N %d: GATE != brute force", N);
        prob_free(&P);
    }
}

static void test_layouts_and_heads(void **state) {
    (void)state;
    /* [B, H, S, D] through the strides gives the same rows as [B, S, H, D]. */
    prob P;
    prob_make(&P, 2, 20, 50, 4, 2, 8, SPARSEK_BF16, 0);
    P.p.topk = 5;
    P.p.window = 6;
    const size_t nq = (size_t)P.B * P.Sq * P.Hq * P.D, nk = (size_t)P.B * P.Sk * P.Hkv * P.D;
    uint16_t *q2 = malloc(2 * nq), *k2 = malloc(2 * nk), *v2 = malloc(2 * nk);
    for (int b = 0; b < P.B; b++)
        for (int h = 0; h < P.Hq; h++)
            for (int s = 0; s < P.Sq; s++)
                memcpy(q2 + (((size_t)b * P.Hq + h) * P.Sq + s) * P.D, P.q + (((size_t)b * P.Sq + s) * P.Hq + h) * P.D,
                       2 * (size_t)P.D);
    for (int b = 0; b < P.B; b++)
        for (int h = 0; h < P.Hkv; h++)
            for (int s = 0; s < P.Sk; s++) {
                const size_t dst = (((size_t)b * P.Hkv + h) * P.Sk + s) * P.D, src = (((size_t)b * P.Sk + s) * P.Hkv + h) * P.D;
                memcpy(k2 + dst, P.k + src, 2 * (size_t)P.D);
                memcpy(v2 + dst, P.v + src, 2 * (size_t)P.D);
            }
    sparsek_sparse_attention_params p2 = P.p;
    p2.base.q = q2, p2.base.k = k2, p2.base.v = v2;
    assert_int_equal(sparsek_attention_params_set_layout(&p2.base, 1), SPARSEK_OK);
    const size_t n = (size_t)P.Sq * P.D;
    double *o1 = malloc(sizeof(double) * n), *o2 = malloc(sizeof(double) * n), l1[20];
    int rows[20];
    for (int r = 0; r < 20; r++) rows[r] = r;
    for (int b = 0; b < P.B; b++)
        for (int h = 0; h < P.Hq; h++) {
            assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P.p, b, h, rows, 20, o1, l1), SPARSEK_OK);
            assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &p2, b, h, rows, 20, o2, NULL), SPARSEK_OK);
            assert_true(max_diff(o1, o2, n) == 0);
        }
    /* Each query head uses its group's KV head and score row (the rows differ per KV head). */
    for (int b = 0; b < P.B; b++)
        for (int h = 0; h < P.Hq; h++) CHECK(check_rows(&P, b, h) < 1e-9, "b %d h %d", b, h);
    free(q2), free(k2), free(v2), free(o1), free(o2);
    prob_free(&P);
}

/* Sq > Sk: rows before Sq - Sk see no key; zeros and -inf. nrows = 0 writes nothing. */
static void test_rows_without_keys(void **state) {
    (void)state;
    prob P;
    prob_make(&P, 1, 12, 5, 1, 1, 8, SPARSEK_FP16, 0);
    P.p.topk = 2;
    P.p.window = 1;
    double out[12 * 8], lse[12];
    for (int i = 0; i < 12 * 8; i++) out[i] = NAN;
    int rows[12];
    for (int r = 0; r < 12; r++) rows[r] = r;
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P.p, 0, 0, rows, 12, out, lse), SPARSEK_OK);
    for (int r = 0; r < 12; r++) {
        if (r < 7) {
            assert_true(isinf(lse[r]) && lse[r] < 0);
            for (int x = 0; x < 8; x++) assert_true(out[r * 8 + x] == 0.0);
        } else {
            assert_true(isfinite(lse[r]));
        }
    }
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &P.p, 0, 0, NULL, 0, NULL, NULL), SPARSEK_OK);
    prob_free(&P);
}

/* ---- argument checks ---- */

#define EXPECT_INVALID(call, word)                                                                \
    do {                                                                                          \
        assert_int_equal((call), SPARSEK_INVALID_ARGUMENT);                                       \
        const char *m_ = sparsek_last_error(g_rt);                                                \
        CHECK(strstr(m_, word) != NULL, "message '%s' lacks '%s'", m_, word);                     \
    } while (0)

static void test_invalid_arguments(void **state) {
    (void)state;
    const float u[] = {1, 2, 3, 4, 5, 6};
    float bad[] = {1, 2, NAN, 4, 5, 6};
    int sel[4], ns;
    double wt[4], tau, theta;
    /* NULL runtime: an error, no message to give. */
    assert_int_equal(sparsek_reference_sparsek_tau_sorted(NULL, u, 6, 2, &tau), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparsek_tau_bisect(NULL, u, 6, 2, &tau), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparsek_select(NULL, u, 6, 5, 2, 1, sel, wt, &ns, &tau, &theta),
                     SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_sparse_attention_rows(NULL, NULL, 0, 0, NULL, 0, NULL, NULL),
                     SPARSEK_INVALID_ARGUMENT);

    sparsek_status (*taus[2])(sparsek_runtime *, const float *, int, int, double *) = {
        sparsek_reference_sparsek_tau_sorted, sparsek_reference_sparsek_tau_bisect};
    for (int t = 0; t < 2; t++) {
        EXPECT_INVALID(taus[t](g_rt, NULL, 6, 2, &tau), "NULL");
        EXPECT_INVALID(taus[t](g_rt, u, 6, 2, NULL), "NULL");
        EXPECT_INVALID(taus[t](g_rt, u, 0, 2, &tau), "n = 0");
        EXPECT_INVALID(taus[t](g_rt, u, 6, 0, &tau), "topk = 0");
        EXPECT_INVALID(taus[t](g_rt, u, 6, -3, &tau), "topk");
        EXPECT_INVALID(taus[t](g_rt, bad, 6, 2, &tau), "not finite");
        bad[2] = INFINITY;
        EXPECT_INVALID(taus[t](g_rt, bad, 6, 2, &tau), "score 2");
        bad[2] = NAN;
    }
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, NULL, 6, 5, 2, 1, sel, wt, &ns, &tau, &theta), "NULL");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, 5, 2, 1, NULL, wt, &ns, &tau, &theta), "NULL");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, 5, 2, 1, sel, wt, NULL, &tau, &theta), "NULL");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 0, 0, 2, 1, sel, wt, &ns, &tau, &theta), "seqlen_k");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, 6, 2, 1, sel, wt, &ns, &tau, &theta), "pos = 6");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, -1, 2, 1, sel, wt, &ns, &tau, &theta), "pos = -1");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, 5, 0, 1, sel, wt, &ns, &tau, &theta), "topk");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, u, 6, 5, 2, 0, sel, wt, &ns, &tau, &theta), "window");
    EXPECT_INVALID(sparsek_reference_sparsek_select(g_rt, bad, 6, 5, 2, 1, sel, wt, &ns, &tau, &theta), "finite");

    prob P;
    prob_make(&P, 2, 6, 6, 4, 2, 8, SPARSEK_BF16, 0);
    P.p.topk = 2;
    P.p.window = 2;
    int rows[2] = {0, 5};
    double out[16], lse[2];
    sparsek_sparse_attention_params p;
#define RESET() (p = P.p)
    RESET();
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, NULL, 0, 0, rows, 2, out, lse), "NULL");
    p.base.q = NULL;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "NULL");
    RESET(), p.base.v = NULL;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "NULL");
    RESET(), p.scores = NULL;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "scores");
    RESET();
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, NULL, 2, out, lse), "rows");
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, NULL, lse), "out");
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, -1, out, lse), "nrows");
    p.base.dtype = (sparsek_dtype)7;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "dtype");
    RESET(), p.base.heads_q = 3;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "multiple");
    RESET(), p.base.seqlen_k = 0;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "dims");
    RESET(), p.base.head_dim = 0;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "dims");
    RESET(), p.topk = 0;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "topk");
    RESET(), p.window = -2;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "window");
    RESET(), p.weight = (sparsek_weight_mode)3;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "weight mode");
    RESET(), p.score_stride[1] = -1;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "stride");
    RESET();
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 2, 0, rows, 2, out, lse), "out of range");
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 4, rows, 2, out, lse), "out of range");
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, -1, 0, rows, 2, out, lse), "out of range");
    rows[1] = 6;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "rows[1] = 6");
    rows[1] = -1;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 0, rows, 2, out, lse), "rows[1] = -1");
    rows[1] = 5;
    /* A non-finite score in the row used (b 1, KV head 1 = query heads 2, 3) fails; other rows
     * are not read. */
    P.u[1 * P.us0 + 1 * P.us1 + 3] = NAN;
    EXPECT_INVALID(sparsek_reference_sparse_attention_rows(g_rt, &p, 1, 3, rows, 2, out, lse), "score 3");
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &p, 1, 1, rows, 2, out, lse), SPARSEK_OK);
    assert_int_equal(sparsek_reference_sparse_attention_rows(g_rt, &p, 0, 3, rows, 2, out, lse), SPARSEK_OK);
#undef RESET
    prob_free(&P);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tau_known_values),
        cmocka_unit_test(test_tau_sorted_vs_bisect),
        cmocka_unit_test(test_select_cases),
        cmocka_unit_test(test_select_random),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_tile_keys),
        cmocka_unit_test(test_attention_vs_brute_force),
        cmocka_unit_test(test_attention_modes_agree),
        cmocka_unit_test(test_gate_small_weight_vanishes),
        cmocka_unit_test(test_layouts_and_heads),
        cmocka_unit_test(test_rows_without_keys),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
