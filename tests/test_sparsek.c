/* test_sparsek.c — the SparseK GPU path without a GPU:
 *   - the lists of the split selection (phases hist and compact: the top list holds the prefix's
 *     top k, the tau list every score that can matter to a row's tau) against the reference;
 *   - the selection algorithm of templates/sparsek_select.cut (pivot a0, the sorted short list
 *     each row's theta is read from, the bucketed Newton for tau with its warm start from the
 *     previous row) run as a C model against
 *     the float64 reference, tile by tile, with the attention kernels' per-key rule (selected iff
 *     j < ncand and (u, j) >= (theta, theta_index), weight from tau - theta);
 *   - the decode state's one-key step (decode_step) as a C model, against the reference over
 *     long loops;
 *   - every argument check of sparsek_sparse_attention_{scratch_size,scratch_layout,forward,select},
 *     and of the decode state (sparsek_sparse_decode_state_{size,reset}, _attention_decode);
 *   - the scratch layout arithmetic;
 *   - generation of the three families (defaults alone, deterministic, banner; the selection's
 *     phases) and NVRTC compiles for sm_80, sm_90a and sm_100a with no spills. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sparsek.h"
#include "sk_test_util.h"

static uint64_t rng_s = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_s ^= rng_s << 13;
    rng_s ^= rng_s >> 7;
    rng_s ^= rng_s << 17;
    return rng_s;
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); }
static double rnd_unit(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }

/* Score distributions: spreads, ties, integer grids (u and u - 1 coincide), large offsets. */
static void fill_scores(float *u, int n, int kind) {
    for (int j = 0; j < n; j++) {
        switch (kind) {
        case 0: u[j] = (float)(rnd_unit() * 2 - 1); break;
        case 1: u[j] = (float)rnd_int(-4, 4); break;
        case 2: u[j] = (float)(rnd_int(-8, 8) * 0.25); break;
        case 3: u[j] = (float)(1e4 + (rnd_unit() * 2 - 1) * 3); break;
        case 4: u[j] = (float)(rnd_unit() < 0.1 ? 5 + rnd_unit() : rnd_unit()); break;
        case 5: { /* normal, as the benchmarks use */
            const double a = rnd_unit() + 1e-300, b = rnd_unit();
            u[j] = (float)(sqrt(-2 * log(a)) * cos(6.283185307179586 * b));
            break;
        }
        case 6: u[j] = (float)(rnd_unit() * 1e-3); break;
        default: u[j] = 0.5f; break; /* all tied */
        }
    }
}

/* ---- the selection kernel's algorithm, in C ---------------------------------------------- */

typedef unsigned long long key64;
static unsigned score_key(float f) {
    union { float f; unsigned u; } c = {f == 0.f ? 0.f : f};
    return (c.u & 0x80000000u) ? ~c.u : (c.u | 0x80000000u);
}
static key64 sel_key(float f, int j) { return ((key64)score_key(f) << 32) | (unsigned)j; }
static float key_score(key64 key) {
    const unsigned k = (unsigned)(key >> 32);
    union { unsigned u; float f; } c = {(k & 0x80000000u) ? (k & 0x7fffffffu) : ~k};
    return c.f;
}
static int key_desc(const void *a, const void *b) {
    const key64 x = *(const key64 *)a, y = *(const key64 *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

enum { BINS = 2048 };
static int tau_bucket(double v, double lo, double inv) {
    const int b = (int)((v - lo) * inv);
    return b < 0 ? 0 : (b > BINS - 1 ? BINS - 1 : b);
}

static long newton_rows, newton_evals; /* how many evaluations tau takes per row, on average */

typedef struct model_row {
    float theta, tau_offset;
    int theta_index, ncand;
} model_row;

/* One tile of `rows` query rows from query row i0, as sparsek_select computes it. Writes the
 * gathered keys (ascending) and the rows; returns the number of gathered keys. */
static int model_tile(const float *u, int sk, int sq, int i0, int rows, int k, int w, int *gidx, model_row *out) {
    const int nrows = rows < sq - i0 ? rows : sq - i0;
    const int pos0 = sk - sq + i0;
#define NCAND(r) ((pos0 + (r) - w + 1) > 0 ? (pos0 + (r) - w + 1) : 0)
    const int n0 = NCAND(0), nB = NCAND(nrows - 1) - n0;
    const int nA = n0 < k ? n0 : k;
    int a0 = k - 1 - nB;
    if (a0 > nA) a0 = nA;
    if (a0 < 0) a0 = 0;
    key64 *pre = malloc(sizeof *pre * (size_t)(n0 + 1));
    for (int j = 0; j < n0; j++) pre[j] = sel_key(u[j], j);
    qsort(pre, (size_t)n0, sizeof *pre, key_desc); /* the radix select's answers, by sorting */
    const key64 th0 = n0 > k ? pre[k - 1] : 0ull, piv = a0 >= 1 ? pre[a0 - 1] : ~0ull;
    free(pre);
    key64 x[2 * 256];
    int nx = 0, ng = 0;
    for (int j = 0; j < n0; j++) {
        const key64 key = sel_key(u[j], j);
        if (key >= th0) {
            gidx[ng++] = j;
            if (key < piv) x[nx++] = key;
        }
    }
    for (int r = 0; r < nB; r++) {
        gidx[ng++] = n0 + r;
        x[nx++] = sel_key(u[n0 + r], n0 + r);
    }
    assert_true(nx <= 2 * rows - 1); /* the kernel's XCAP = 2 * rows holds it */
    qsort(x, (size_t)nx, sizeof *x, key_desc);
    key64 rowkey[256];
    const int need = k - a0;
    for (int r = 0; r < nrows; r++) {
        const int nr = NCAND(r);
        rowkey[r] = 0;
        if (nr <= k) continue;
        int seen = 0;
        for (int i = 0; i < nx; i++)
            if ((int)(x[i] & 0xffffffffu) < nr && ++seen == need) {
                rowkey[r] = x[i];
                break;
            }
        assert_true(rowkey[r] != 0);
    }
    int r1 = nrows;
    for (int r = 0; r < nrows; r++)
        if (NCAND(r) > k) { r1 = r; break; }
    for (int r = 0; r < nrows; r++) {
        out[r].ncand = NCAND(r);
        out[r].theta = rowkey[r] ? key_score(rowkey[r]) : -INFINITY;
        out[r].theta_index = rowkey[r] ? (int)(rowkey[r] & 0xffffffffu) : 0;
        out[r].tau_offset = 0.f;
    }
    if (r1 < nrows) {
        const double lo = (double)key_score(rowkey[r1]) - 1.0, hi = (double)key_score(rowkey[nrows - 1]) + 1.0;
        const double inv = (double)((float)BINS * (1.0f / (float)(hi - lo)));
        static int cnt[BINS], off[BINS + 1], cur[BINS];
        static double sum[BINS], suf[BINS + 1];
        memset(cnt, 0, sizeof cnt);
        memset(sum, 0, sizeof sum);
        int full = 0;
        for (int j = 0; j < n0; j++) {
            const double v = u[j];
            if (v >= hi) full++;
            else if (v > lo) {
                cnt[tau_bucket(v, lo, inv)]++;
                sum[tau_bucket(v, lo, inv)] += v - lo;
            }
        }
        off[0] = 0;
        for (int b = 0; b < BINS; b++) off[b + 1] = off[b] + cnt[b];
        suf[BINS] = 0;
        for (int b = BINS - 1; b >= 0; b--) suf[b] = suf[b + 1] + sum[b];
        const int nh = off[BINS];
        float *hb = malloc(sizeof *hb * (size_t)(nh + 1));
        memcpy(cur, off, sizeof cur);
        for (int j = 0; j < n0; j++) {
            const double v = u[j];
            if (v > lo && v < hi) hb[cur[tau_bucket(v, lo, inv)]++] = u[j];
        }
        /* The kernel's warm start (each warp chains a run of rows; here one run): at the previous
         * row's tau, this row's f and slope are the previous row's plus its one added key. */
        int warm = 0;
        double wt = 0, wf = 0, wc = 0;
        for (int r = r1; r < nrows; r++) {
            const int nnew = NCAND(r) - n0;
            const double theta = key_score(rowkey[r]);
            double tl = theta - 1.0, th = theta, t = theta - 0.5, tau = t, f = 0, c = 0;
            int have = warm && wt >= tl && wt <= th;
            if (have) {
                const double dx = (double)u[n0 + nnew - 1] - wt;
                t = wt;
                f = wf + (dx < 0 ? 0 : (dx > 1 ? 1 : dx));
                c = wc + ((dx > 0 && dx <= 1) ? 1 : 0);
            }
            warm = 0;
            for (int it = 0; it < 64; it++) { /* safeguarded Newton, as the kernel */
                if (!have) {
                    const double t1 = t + 1.0;
                    const int b0 = tau_bucket(t, lo, inv), b1 = tau_bucket(t1, lo, inv);
                    double part = 0, np = 0;
                    for (int i = off[b0]; i < off[b0 + 1]; i++)
                        if (hb[i] > t) { part += hb[i] - t; np += 1; }
                    for (int i = off[b1]; i < off[b1 + 1]; i++)
                        if (hb[i] > t1) { part -= hb[i] - t1; np -= 1; }
                    for (int q = 0; q < nnew; q++) {
                        const double d = (double)u[n0 + q] - t;
                        part += d < 0 ? 0 : (d > 1 ? 1 : d);
                        np += (d > 0 && d <= 1) ? 1 : 0;
                    }
                    f = full + (suf[b0 + 1] - (t - lo) * (nh - off[b0 + 1])) -
                        (suf[b1 + 1] - (t1 - lo) * (nh - off[b1 + 1])) + part;
                    c = (off[b1 + 1] - off[b0 + 1]) + np;
                    newton_evals++;
                }
                have = 0;
                const int ge = f >= k - 1e-8;
                if (ge) tl = t;
                else th = t;
                if ((ge && f <= k + 1e-8 && c > 0) || th - tl < 1e-10) {
                    tau = ge ? t : 0.5 * (tl + th);
                    warm = ge && f <= k + 1e-8 && c > 0;
                    wt = t; wf = f; wc = c;
                    break;
                }
                double tn = tl;
                if (c > 0) {
                    double rc = (double)(1.0f / (float)c);
                    rc = rc * (2.0 - c * rc);
                    tn = t + (f - k) * rc;
                }
                t = (c > 0 && tn > tl && tn < th) ? tn : 0.5 * (tl + th);
                tau = 0.5 * (tl + th);
            }
            newton_rows++;
            out[r].tau_offset = (float)(tau - theta);
        }
        free(hb);
    }
#undef NCAND
    return ng;
}

/* The gathered keys g[0, ng) of a tile by level, as sparsek_select's step 3b writes them where a
 * tile has more than one 32-row sub-tile: an entry's level is the last sub-tile whose first row's
 * key (theta, theta_index; 0 where that row keeps every candidate) it reaches, -1 (left out)
 * below the first row's; the highest level first, each level in index order. Writes out[] and
 * counts[s] (entries of levels >= s: what sub-tile s walks); returns counts[0]. */
static int model_by_level(const float *u, const int *g, int ng, const model_row *mr, int nrows, int *out,
                          int counts[8]) {
    const int nsub = (nrows + 31) / 32;
    key64 t[8];
    for (int s = 0; s < nsub; s++)
        t[s] = isinf(mr[32 * s].theta) ? 0ull : sel_key(mr[32 * s].theta, mr[32 * s].theta_index);
    int n = 0;
    for (int l = 7; l >= 0; l--) {
        for (int i = 0; i < ng; i++) {
            const key64 key = sel_key(u[g[i]], g[i]);
            int lev = -1;
            for (int s = 0; s < nsub; s++) lev += key >= t[s];
            if (lev == l) out[n++] = g[i];
        }
        counts[l] = n;
    }
    return n;
}

/* Every tile of a random problem: the gathered set equals the reference's tile keys, and each
 * row's selection and weights, recovered from the gathered set by the attention kernels' rule,
 * equal the reference's; so does each row's selection from the first counts[s] entries of the
 * list by level (model_by_level), s the row's sub-tile. */
static void check_problem(sparsek_runtime *rt, int sk, int sq, int k, int w, int kind, int rows) {
    float *u = malloc(sizeof *u * (size_t)sk);
    fill_scores(u, sk, kind);
    int *g = malloc(sizeof *g * (size_t)(k + rows + sk));
    int *rk = malloc(sizeof *rk * (size_t)(k + rows + sk));
    int *sel = malloc(sizeof *sel * (size_t)(k + sk)), *mine = malloc(sizeof *mine * (size_t)(k + sk));
    double *wt = malloc(sizeof *wt * (size_t)(k + sk)), *mw = malloc(sizeof *mw * (size_t)(k + sk));
    int *byl = malloc(sizeof *byl * (size_t)(k + rows + sk));
    model_row mr[256];
    for (int i0 = 0; i0 < sq; i0 += rows) {
        const int ng = model_tile(u, sk, sq, i0, rows, k, w, g, mr);
        const int nrows = rows < sq - i0 ? rows : sq - i0;
        int counts[8];
        const int nbyl = model_by_level(u, g, ng, mr, nrows, byl, counts);
        assert_true(nbyl <= ng);
        const int pos0 = sk - sq + i0, last = pos0 + nrows - 1;
        if (last >= 0) {
            int nref = 0;
            assert_int_equal(sparsek_reference_sparsek_tile_keys(rt, u, sk, pos0, nrows, k, w, rk, &nref), SPARSEK_OK);
            if (ng != nref) fail_msg("sk=%d sq=%d k=%d w=%d kind=%d tile %d: %d keys, reference %d", sk, sq, k, w, kind, i0, ng, nref);
            for (int i = 0; i < ng; i++) assert_int_equal(g[i], rk[i]);
        }
        assert_true(ng <= (k < sk ? k : sk) + rows - 1);
        for (int r = 0; r < nrows; r++) {
            const int pos = pos0 + r;
            if (pos < 0) {
                assert_int_equal(mr[r].ncand, 0);
                continue;
            }
            int ns = 0;
            double tau, theta;
            assert_int_equal(sparsek_reference_sparsek_select(rt, u, sk, pos, k, w, sel, wt, &ns, &tau, &theta), SPARSEK_OK);
            assert_int_equal(mr[r].ncand, pos - w + 1 > 0 ? pos - w + 1 : 0);
            if (isinf(theta)) {
                assert_true(isinf(mr[r].theta) && mr[r].theta < 0);
            } else {
                assert_true((double)mr[r].theta == theta);
                const double t = (double)mr[r].theta + (double)mr[r].tau_offset;
                if (!(fabs(t - tau) <= 1e-6 * (1 + fabs(tau))))
                    fail_msg("sk=%d sq=%d k=%d w=%d kind=%d row %d: tau %.9g, reference %.9g", sk, sq, k, w, kind,
                             i0 + r, t, tau);
            }
            /* The attention kernels' rule over the gathered keys. */
            int nm = 0;
            for (int i = 0; i < ng; i++) {
                const int j = g[i];
                const float uj = u[j];
                if (j < mr[r].ncand && (uj > mr[r].theta || (uj == mr[r].theta && j >= mr[r].theta_index))) {
                    mine[nm] = j;
                    const float m = (uj - mr[r].theta) - mr[r].tau_offset;
                    mw[nm++] = m < 0.f ? 0.f : (m > 1.f ? 1.f : m);
                }
            }
            assert_int_equal(nm, ns);
            /* The same rule over the row's sub-tile's part of the list by level finds them all. */
            int nl = 0;
            for (int i = 0; i < counts[r / 32]; i++) {
                const int j = byl[i];
                nl += j < mr[r].ncand && (u[j] > mr[r].theta || (u[j] == mr[r].theta && j >= mr[r].theta_index));
            }
            if (nl != ns)
                fail_msg("sk=%d sq=%d k=%d w=%d kind=%d row %d: %d keys of sub-tile %d's %d entries by level, "
                         "reference %d", sk, sq, k, w, kind, i0 + r, nl, r / 32, counts[r / 32], ns);
            /* Reference order is by score; compare as sets with their weights. */
            for (int a = 0; a < ns; a++) {
                int found = -1;
                for (int b = 0; b < nm; b++)
                    if (mine[b] == sel[a]) found = b;
                if (found < 0) fail_msg("row %d: key %d selected by the reference, not by the rule", i0 + r, sel[a]);
                if (!(fabs(mw[found] - wt[a]) <= 2e-6 * (1 + fabs((double)u[sel[a]]) * 1e-3)))
                    fail_msg("sk=%d k=%d w=%d kind=%d row %d key %d: weight %.9g, reference %.9g", sk, k, w, kind,
                             i0 + r, sel[a], mw[found], wt[a]);
            }
        }
    }
    free(u); free(g); free(rk); free(sel); free(mine); free(wt); free(mw); free(byl);
}

/* ---- the split selection's lists, in C (templates/sparsek_select_split.cut) ------------------ */

/* What the compact phase writes for a prefix [0, n0): the indices whose top digit reaches the bin
 * d holding the prefix's min(k, n0)-th key (ascending), and how many scores are above L = (lowest
 * score of bin d) - 1 (the tau list's length). Returns L. */
static double split_lists(const float *u, int n0, int k, int *top, int *ntop, int *ntau) {
    static int hist[BINS];
    memset(hist, 0, sizeof hist);
    for (int j = 0; j < n0; j++) hist[score_key(u[j]) >> 21]++;
    const int kk = k < n0 ? k : n0;
    int d = BINS - 1, above = 0;
    while (d > 0 && above + hist[d] < kk) above += hist[d--];
    const unsigned dlo = (unsigned)d << 21;
    const float lowest = key_score((key64)dlo << 32);
    const double L = isfinite(lowest) ? (double)lowest - 1.0 : -1e300;
    *ntop = *ntau = 0;
    for (int j = 0; j < n0; j++) {
        if (score_key(u[j]) >= dlo) top[(*ntop)++] = j;
        *ntau += (double)u[j] > L;
    }
    return L;
}

/* Every tile of a problem: the top list holds the prefix's top min(k, n0) keys, and every prefix
 * score left out of the tau list is <= theta - 1 for every row with more than k candidates (so it
 * adds 0 to the row's sum of clamps on [theta - 1, theta]). */
static void check_split_problem(sparsek_runtime *rt, int sk, int sq, int k, int w, int kind, int rows,
                                long *tau_kept, long *prefix_keys) {
    float *u = malloc(sizeof *u * (size_t)sk);
    fill_scores(u, sk, kind);
    int *top = malloc(sizeof *top * (size_t)sk);
    int *sel = malloc(sizeof *sel * (size_t)(k + sk));
    key64 *keys = malloc(sizeof *keys * (size_t)sk);
    for (int i0 = 0; i0 < sq; i0 += rows) {
        const int pos0 = sk - sq + i0, n0 = pos0 - w + 1 > 0 ? pos0 - w + 1 : 0;
        const int nrows = rows < sq - i0 ? rows : sq - i0;
        int ntop, ntau;
        const double L = split_lists(u, n0, k, top, &ntop, &ntau);
        *tau_kept += ntau;
        *prefix_keys += n0;
        for (int j = 0; j < n0; j++) keys[j] = sel_key(u[j], j);
        qsort(keys, (size_t)n0, sizeof *keys, key_desc);
        const int kk = k < n0 ? k : n0;
        const key64 th0 = kk > 0 ? keys[kk - 1] : ~0ull;
        int in_top = 0;
        for (int i = 0; i < ntop; i++) {
            if (i > 0) assert_true(top[i] > top[i - 1]);
            in_top += sel_key(u[top[i]], top[i]) >= th0;
        }
        if (in_top != kk) fail_msg("sk=%d k=%d w=%d kind=%d tile %d: %d of the top %d in the top list", sk, k, w, kind, i0, in_top, kk);
        for (int r = 0; r < nrows; r++) {
            const int pos = pos0 + r;
            if (pos < 0 || pos - w + 1 <= k) continue;
            int ns = 0;
            double tau_r, theta;
            assert_int_equal(sparsek_reference_sparsek_select(rt, u, sk, pos, k, w, sel, NULL, &ns, &tau_r, &theta), SPARSEK_OK);
            if (!(L <= theta - 1.0))
                fail_msg("sk=%d k=%d w=%d kind=%d row %d: L %.9g above theta - 1 = %.9g", sk, k, w, kind, i0 + r, L, theta - 1.0);
        }
    }
    free(u); free(top); free(sel); free(keys);
}

/* ---- the decode state's one-key step, in C (decode_step in templates/sparsek_select.cut) ------ */

/* A decode state for the prefix [0, n) (one row, as sparsek_sparse_attention_decode keeps it). */
typedef struct model_state {
    int n, ns, ntau, slope;
    key64 theta0; /* 0 while n <= k */
    double tau;
    key64 *top;   /* ns keys, ascending index */
    float *list;  /* ntau scores: a superset of the prefix's scores above theta0 - 1 */
} model_state;

/* tau and theta of the prefix [0, n) by the reference (window 1 at position n: candidates [0, n)). */
static void ref_tau(sparsek_runtime *rt, const float *u, int sk, int n, int k, int *sel, double *tau, double *theta,
                    int *ns) {
    assert_int_equal(sparsek_reference_sparsek_select(rt, u, sk, n, k, 1, sel, NULL, ns, tau, theta), SPARSEK_OK);
}

/* What the kernel's general path (or a rebuild) leaves: the state from the whole prefix. */
static void model_state_build(sparsek_runtime *rt, const float *u, int sk, int n, int k, model_state *s, int *sel) {
    key64 *keys = malloc(sizeof *keys * (size_t)(n + 1));
    for (int j = 0; j < n; j++) keys[j] = sel_key(u[j], j);
    qsort(keys, (size_t)n, sizeof *keys, key_desc);
    s->n = n;
    s->theta0 = n > k ? keys[k - 1] : 0ull;
    s->ns = s->ntau = 0;
    const float lf = s->theta0 ? nextafterf((float)((double)key_score(s->theta0) - 1.0), -INFINITY) : -INFINITY;
    for (int j = 0; j < n; j++) {
        if (sel_key(u[j], j) >= s->theta0) s->top[s->ns++] = sel_key(u[j], j);
        if (u[j] > lf) s->list[s->ntau++] = u[j];
    }
    s->tau = 0.0;
    s->slope = 0;
    if (s->theta0) {
        double theta;
        int ns;
        ref_tau(rt, u, sk, n, k, sel, &s->tau, &theta, &ns);
        for (int i = 0; i < s->ntau; i++) s->slope += (double)s->list[i] > s->tau && (double)s->list[i] <= s->tau + 1.0;
    }
    free(keys);
}

static long step_kept, step_beat, step_walk, step_fallback;

/* decode_step for the key x = n (the state has a theta0): 1 with the state moved to [0, n + 1),
 * 0 when the kernel would take its general path (the state unchanged). */
static int model_decode_step(const float *u, int k, model_state *s) {
    enum { STEP_CAP = 1024 };
    static float g[2 * STEP_CAP];
    const float ux = u[s->n];
    const key64 kx = sel_key(ux, s->n);
    const int beat = kx > s->theta0;
    double tau = s->tau;
    int slope = s->slope;
    if ((double)ux > s->tau) {
        const double kk = (double)k, t0 = s->tau, t1 = t0 + 3.0 / (double)(s->slope > 1 ? s->slope : 1);
        double f0 = 0.0, f1 = 0.0;
        int c0 = 0, ng = 0;
        for (int i = 0; i <= s->ntau; i++) {
            const double v = (double)(i < s->ntau ? s->list[i] : ux);
            f0 += v <= t0 ? 0.0 : (v >= t0 + 1.0 ? 1.0 : v - t0);
            f1 += v <= t1 ? 0.0 : (v >= t1 + 1.0 ? 1.0 : v - t1);
            c0 += v > t0 && v <= t0 + 1.0;
            if (((v > t0 && v <= t1) || (v - 1.0 > t0 && v - 1.0 <= t1)) && ng++ < STEP_CAP) g[ng - 1] = (float)v;
        }
        if (!(f1 < kk) || ng > STEP_CAP) return 0;
        double a = t0, fa = f0, c = (double)c0;
        int found = 0;
        for (int it = 0; it < 2 * STEP_CAP + 1 && !found; ++it) {
            double b = t1;
            for (int i = 0; i < ng; i++) {
                const double v = (double)g[i];
                if (v > a && v < b) b = v;
                if (v - 1.0 > a && v - 1.0 < b) b = v - 1.0;
            }
            if (c > 0.0 && fa - c * (b - a) < kk) {
                tau = a + (fa - kk) / c;
                found = 1;
                break;
            }
            if (b >= t1) break;
            fa -= c * (b - a);
            for (int i = 0; i < ng; i++) {
                const double v = (double)g[i];
                c += (v - 1.0 == b) - (v == b);
            }
            a = b;
        }
        if (!found) return 0;
        slope = (int)c;
        step_walk++;
    }
    key64 th = s->theta0;
    if (beat) { /* the old theta0 leaves; the smallest of x and the other top keys is the new one */
        int drop = -1;
        th = kx;
        for (int i = 0; i < s->ns; i++) {
            if (s->top[i] == s->theta0) drop = i;
            else if (s->top[i] < th) th = s->top[i];
        }
        assert_true(drop >= 0);
        memmove(s->top + drop, s->top + drop + 1, sizeof *s->top * (size_t)(s->ns - 1 - drop));
        s->top[s->ns - 1] = kx;
        step_beat++;
    }
    const float lf = nextafterf((float)((double)key_score(s->theta0) - 1.0), -INFINITY);
    if (ux > lf) s->list[s->ntau++] = ux;
    s->n++;
    s->theta0 = th;
    s->tau = tau;
    s->slope = slope;
    step_kept += !beat;
    return 1;
}

/* One generation loop over a score row: a state from [0, n_start), then one key a step to sk - 1;
 * after each step theta0 (score and index) and tau against the reference. */
static void check_decode_steps(sparsek_runtime *rt, int sk, int k, int n_start, int kind) {
    float *u = malloc(sizeof *u * (size_t)sk);
    fill_scores(u, sk, kind);
    model_state s;
    s.top = malloc(sizeof *s.top * (size_t)(k + 1));
    s.list = malloc(sizeof *s.list * (size_t)sk);
    int *sel = malloc(sizeof *sel * (size_t)(k + sk));
    model_state_build(rt, u, sk, n_start, k, &s, sel);
    for (int n = n_start; n + 1 < sk; n++) {
        if (!s.theta0 || !model_decode_step(u, k, &s)) { /* no theta0 yet, or the general path */
            step_fallback += s.theta0 != 0;
            model_state_build(rt, u, sk, n + 1, k, &s, sel);
            continue;
        }
        double tau, theta;
        int ns;
        ref_tau(rt, u, sk, s.n, k, sel, &tau, &theta, &ns);
        const float th = key_score(s.theta0);
        if ((double)th != theta || (int)(unsigned)(s.theta0 & 0xffffffffu) != sel[ns - 1] || !(fabs(s.tau - tau) <= 1e-9))
            fail_msg("kind %d k %d n %d: theta %.9g/%d tau %.12g, reference %.9g/%d %.12g", kind, k, s.n, (double)th,
                     (int)(unsigned)(s.theta0 & 0xffffffffu), s.tau, theta, sel[ns - 1], tau);
        for (int i = 1; i < s.ns; i++) assert_true((unsigned)s.top[i] > (unsigned)s.top[i - 1]);
    }
    free(u); free(s.top); free(s.list); free(sel);
}

static sparsek_runtime *new_rt(void) {
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.disable_disk_cache = 1;
    sparsek_runtime *rt = NULL;
    assert_int_equal(sparsek_runtime_create(&rt, &o, NULL, 0), SPARSEK_OK);
    return rt;
}

static void test_split_lists(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    long kept = 0, total = 0;
    /* decode-like rows over long prefixes, every score kind (7: all equal), k near n0 and above */
    const int fixed[][6] = {
        {20000, 1, 1024, 256, 5, 128}, {20000, 16, 1024, 256, 7, 128}, {9000, 3, 500, 50, 1, 128},
        {9000, 130, 8600, 200, 0, 128}, {5000, 1, 4990, 5, 3, 128}, {5000, 2, 100, 10, 6, 128},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_split_problem(rt, fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3], fixed[i][4], fixed[i][5], &kept, &total);
    for (int c = 0; c < 80; c++) {
        const int sk = rnd_int(1, 4000);
        const int sq = rnd_int(0, 1) ? rnd_int(1, 16) : rnd_int(1, 300);
        const int k = rnd_int(0, 3) == 0 ? rnd_int(sk / 2 + 1, 2 * sk + 1) : rnd_int(1, 1 + sk / 4);
        const int w = rnd_int(0, 4) == 0 ? rnd_int(sk, 2 * sk) : rnd_int(1, 1 + sk / 8);
        check_split_problem(rt, sk, sq, k, w, rnd_int(0, 7), 128, &kept, &total);
    }
    print_message("split lists: the tau list kept %.1f%% of the prefix keys\n", 100.0 * (double)kept / (double)(total ? total : 1));
    sparsek_runtime_destroy(rt);
}

/* decode_step's algorithm: exact against the reference over long loops of one key a step, on
 * every score kind (ties and grids put breakpoints on top of each other; all-equal scores make
 * every new key the new theta0), and the general path rare. */
static void test_decode_step_model(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    for (int kind = 0; kind <= 7; kind++) {
        check_decode_steps(rt, 1500, 100, 400, kind);
        check_decode_steps(rt, 900, 700, 20, kind);   /* n crosses k on the way */
        check_decode_steps(rt, 700, 1, 30, kind);
    }
    const long steps = step_kept + step_beat + step_fallback;
    print_message("decode_step: %ld steps: %ld kept theta0, %ld moved it, %ld walked tau, %ld took the general path\n",
                  steps, step_kept, step_beat, step_walk, step_fallback);
    assert_true(step_walk > 0 && step_beat > 0);
    assert_true(step_fallback * 20 < steps);
    sparsek_runtime_destroy(rt);
}

static void test_select_model(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    /* Fixed edges: k >= |C|, w > Sk, Sq > Sk, Sq != Sk, ties, k = 1, one key. */
    const int fixed[][6] = {
        /* sk sq k w kind rows */
        {1, 1, 1, 1, 0, 128},      {200, 200, 1, 1, 0, 128},   {200, 200, 500, 3, 1, 128},
        {300, 300, 20, 500, 2, 64}, {257, 100, 7, 5, 7, 32},    {50, 90, 3, 2, 0, 16},
        {1000, 1000, 64, 16, 2, 128}, {1000, 1, 64, 16, 5, 128}, {1000, 16, 999, 1, 3, 128},
        {700, 700, 130, 1, 1, 128}, {700, 700, 126, 1, 4, 128}, {700, 700, 127, 2, 6, 128},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_problem(rt, fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3], fixed[i][4], fixed[i][5]);
    static const int R[] = {16, 32, 64, 128, 256};
    for (int c = 0; c < 120; c++) {
        const int sk = rnd_int(1, 1500);
        const int sq = rnd_int(0, 2) == 0 ? sk : rnd_int(1, sk + 20);
        const int k = rnd_int(0, 3) == 0 ? rnd_int(sk / 2 + 1, 2 * sk + 1) : rnd_int(1, 1 + sk / 4);
        const int w = rnd_int(0, 4) == 0 ? rnd_int(sk, 2 * sk) : rnd_int(1, 1 + sk / 8);
        check_problem(rt, sk, sq, k, w, rnd_int(0, 7), R[rnd_int(0, 4)]);
    }
    print_message("tau: %.1f evaluations per row on average (%ld rows)\n", (double)newton_evals / (double)newton_rows,
                  newton_rows);
    assert_true(newton_evals < 12 * newton_rows);
    sparsek_runtime_destroy(rt);
}

/* ---- argument checks --------------------------------------------------------------------- */

/* A valid prefill problem on fake (aligned, never dereferenced) device pointers. */
static void valid_params(sparsek_sparse_attention_params *p) {
    memset(p, 0, sizeof *p);
    sparsek_attention_params *b = &p->base;
    b->q = (void *)0x10000; b->k = (void *)0x20000; b->v = (void *)0x30000; b->o = (void *)0x40000;
    b->dtype = SPARSEK_BF16;
    b->batch = 2; b->seqlen_q = 300; b->seqlen_k = 300; b->heads_q = 8; b->heads_kv = 2; b->head_dim = 128;
    assert_int_equal(sparsek_attention_params_set_layout(b, 0), SPARSEK_OK);
    p->scores = (const float *)0x50000;
    p->score_stride[0] = 2 * 300; p->score_stride[1] = 300;
    p->topk = 64; p->window = 32;
}

typedef void (*mutate_fn)(sparsek_sparse_attention_params *p);
#define MUT(name, body) static void name(sparsek_sparse_attention_params *p) { body; }
MUT(m_k0, p->topk = 0)
MUT(m_kneg, p->topk = -5)
MUT(m_w0, p->window = 0)
MUT(m_heads, p->base.heads_q = 6; p->base.heads_kv = 4)
MUT(m_dtype, p->base.dtype = (sparsek_dtype)7)
MUT(m_dim, p->base.head_dim = 80)
MUT(m_qnull, p->base.q = NULL)
MUT(m_onull, p->base.o = NULL)
MUT(m_unull, p->scores = NULL)
MUT(m_qalign, p->base.q = (void *)0x10008)
MUT(m_ualign, p->scores = (const float *)0x50002)
MUT(m_lsealign, p->base.lse = (float *)0x60002)
MUT(m_weight, p->weight = (sparsek_weight_mode)3)
MUT(m_sstride, p->score_stride[1] = -1)
MUT(m_kstride, p->base.k_stride[1] = 12)
MUT(m_scale, p->base.scale = -1.f)
MUT(m_batch0, p->base.batch = 0)
MUT(m_sk0, p->base.seqlen_k = 0)
MUT(m_bigb, p->base.batch = 70000)

static void test_argument_checks(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    sparsek_sparse_attention_params p;
    valid_params(&p);
    size_t bytes = 0;
    assert_int_equal(sparsek_sparse_attention_scratch_size(rt, &p, &bytes), SPARSEK_OK);
    assert_true(bytes > 0);
    const struct { mutate_fn f; sparsek_status st; const char *msg; int shape; } cases[] = {
        {m_k0, SPARSEK_INVALID_ARGUMENT, "topk = 0", 1},
        {m_kneg, SPARSEK_INVALID_ARGUMENT, "topk = -5", 1},
        {m_w0, SPARSEK_INVALID_ARGUMENT, "window = 0", 1},
        {m_heads, SPARSEK_INVALID_ARGUMENT, "multiple of heads_kv", 1},
        {m_dtype, SPARSEK_INVALID_ARGUMENT, "dtype 7", 1},
        {m_dim, SPARSEK_NOT_SUPPORTED, "head_dim 80", 1},
        {m_qnull, SPARSEK_INVALID_ARGUMENT, "q, k, v and o", 0},
        {m_onull, SPARSEK_INVALID_ARGUMENT, "q, k, v and o", 0},
        {m_unull, SPARSEK_INVALID_ARGUMENT, "scores", 0},
        {m_qalign, SPARSEK_INVALID_ARGUMENT, "16-byte aligned", 0},
        {m_ualign, SPARSEK_INVALID_ARGUMENT, "scores must be 4-byte aligned", 0},
        {m_lsealign, SPARSEK_INVALID_ARGUMENT, "lse must be 4-byte aligned", 0},
        {m_weight, SPARSEK_INVALID_ARGUMENT, "weight mode 3", 1},
        {m_sstride, SPARSEK_INVALID_ARGUMENT, "score strides", 0},
        {m_kstride, SPARSEK_INVALID_ARGUMENT, "k sequence stride 12", 0},
        {m_scale, SPARSEK_INVALID_ARGUMENT, "scale", 0},
        {m_batch0, SPARSEK_INVALID_ARGUMENT, "dims must be >= 1", 1},
        {m_sk0, SPARSEK_INVALID_ARGUMENT, "dims must be >= 1", 1},
        {m_bigb, SPARSEK_NOT_SUPPORTED, "65535", 1},
    };
    char scratch_buf[64];
    void *scratch = (void *)(((uintptr_t)scratch_buf + 15) & ~(uintptr_t)15); /* aligned; never used */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sparsek_sparse_attention_params q = p;
        cases[i].f(&q);
        sparsek_status st = sparsek_sparse_attention_forward(rt, &q, scratch, (size_t)1 << 40, NULL);
        if (st != cases[i].st || !strstr(sparsek_last_error(rt), cases[i].msg))
            fail_msg("case %zu: %s '%s', expected %s '%s'", i, sparsek_status_name(st), sparsek_last_error(rt),
                     sparsek_status_name(cases[i].st), cases[i].msg);
        assert_non_null(strstr(sparsek_last_error(rt), "sparsek_sparse_attention_forward"));
        /* Shape problems are caught by the size query too; pointers and strides are not its business. */
        size_t b2 = 0;
        st = sparsek_sparse_attention_scratch_size(rt, &q, &b2);
        if (cases[i].shape) assert_int_equal(st, cases[i].st);
        else assert_int_equal(st, SPARSEK_OK);
    }
    /* Scratch: NULL, too small, misaligned. */
    assert_int_equal(sparsek_sparse_attention_forward(rt, &p, NULL, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "scratch is NULL"));
    assert_int_equal(sparsek_sparse_attention_forward(rt, &p, scratch, bytes - 1, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "this call needs"));
    assert_int_equal(sparsek_sparse_attention_forward(rt, &p, (char *)scratch + 4, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "scratch must be 16-byte aligned"));
    assert_int_equal(sparsek_sparse_attention_select(rt, &p, NULL, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    /* The selection alone does not need q, k, v, o. */
    sparsek_sparse_attention_params s = p;
    s.base.q = s.base.k = s.base.v = NULL;
    s.base.o = NULL;
    sparsek_status st = sparsek_sparse_attention_select(rt, &s, scratch, bytes, NULL);
    assert_true(st != SPARSEK_INVALID_ARGUMENT); /* OK on a GPU (never here: fake pointers), else NO_DEVICE */
    /* NULLs. */
    assert_int_equal(sparsek_sparse_attention_forward(NULL, &p, scratch, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_forward(rt, NULL, scratch, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_select(rt, NULL, scratch, bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    /* _forward_with checks the same arguments, before any device work, and names itself. */
    assert_int_equal(sparsek_sparse_attention_forward_with(NULL, &p, scratch, bytes, "path=mma", NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, NULL, scratch, bytes, "path=mma", NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, &p, NULL, bytes, "path=mma", NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "sparsek_sparse_attention_forward_with"));
    assert_non_null(strstr(sparsek_last_error(rt), "scratch is NULL"));
    st = sparsek_sparse_attention_forward_with(rt, &p, scratch, bytes, "path=mma", NULL);
    assert_true(st != SPARSEK_INVALID_ARGUMENT); /* the arguments are fine: NO_DEVICE here */
    assert_int_equal(sparsek_sparse_attention_scratch_size(rt, &p, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_scratch_size(rt, NULL, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_scratch_size(NULL, &p, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, NULL), SPARSEK_INVALID_ARGUMENT);
    sparsek_runtime_destroy(rt);
}

static size_t a256(size_t x) { return (x + 255) & ~(size_t)255; }

/* The decode state: its size, and every argument check of _decode_state_reset and
 * _attention_decode (the rest of the params are checked as for _forward, by the same code). */
static void test_decode_state_checks(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    sparsek_sparse_attention_params p;
    valid_params(&p);
    p.base.seqlen_q = 1;
    size_t bytes = 0, scratch_bytes = 0;
    assert_int_equal(sparsek_sparse_attention_scratch_size(rt, &p, &scratch_bytes), SPARSEK_OK);
    /* per (batch, KV head): 64-byte head, min(topk, max) keys of 8 bytes, max scores of 4 */
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &p, 1000, &bytes), SPARSEK_OK);
    assert_int_equal(bytes, 2 * 2 * a256(64 + 64 * 8 + 1000 * 4));
    p.topk = 5000; /* k above the longest sequence: every candidate, so it is kept as max_seqlen_k */
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &p, 1000, &bytes), SPARSEK_OK);
    assert_int_equal(bytes, 2 * 2 * a256(64 + 1000 * 8 + 1000 * 4));
    p.topk = 64;
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &p, 0, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "max_seqlen_k = 0"));
    assert_non_null(strstr(sparsek_last_error(rt), "sparsek_sparse_decode_state_size"));
    sparsek_sparse_attention_params q = p;
    q.topk = 0;
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &q, 1000, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "topk = 0"));
    q = p;
    q.base.heads_kv = 0;
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &q, 1000, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "heads_kv (0)"));
    q = p;
    q.base.batch = 1 << 30; q.base.heads_kv = 1 << 30;   /* 2^60 heads of 8 kB */
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &q, 1000, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "overflows"));
    assert_int_equal(sparsek_sparse_decode_state_size(rt, &p, 1000, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_decode_state_size(rt, NULL, 1000, &bytes), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_decode_state_size(NULL, &p, 1000, &bytes), SPARSEK_INVALID_ARGUMENT);

    assert_int_equal(sparsek_sparse_decode_state_size(rt, &p, 1000, &bytes), SPARSEK_OK);
    char scratch_buf[64];
    void *scratch = (void *)(((uintptr_t)scratch_buf + 15) & ~(uintptr_t)15); /* aligned; never used */
    const sparsek_sparse_decode_state ok = {(void *)0x70000, bytes, 1000, 0};
    const struct { sparsek_sparse_decode_state s; int sq; sparsek_status st; const char *msg; } cases[] = {
        {{NULL, bytes, 1000, 0}, 1, SPARSEK_INVALID_ARGUMENT, "state->data is NULL"},
        {{(void *)0x70008, bytes, 1000, 0}, 1, SPARSEK_INVALID_ARGUMENT, "state->data must be 16-byte aligned"},
        {{(void *)0x70000, bytes - 1, 1000, 1}, 1, SPARSEK_INVALID_ARGUMENT, "max_seqlen_k = 1000 needs"},
        {{(void *)0x70000, bytes, 299, 0}, 1, SPARSEK_INVALID_ARGUMENT, "seqlen_k (300) exceeds state->max_seqlen_k (299)"},
        {ok, 17, SPARSEK_NOT_SUPPORTED, "seqlen_q (17) must be at most 16"},
        {ok, 16, SPARSEK_NO_DEVICE, ""},
        {ok, 1, SPARSEK_NO_DEVICE, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        q = p;
        q.base.seqlen_q = cases[i].sq;
        sparsek_status st = sparsek_sparse_attention_decode(rt, &q, &cases[i].s, scratch, (size_t)1 << 40, NULL);
        if (st != cases[i].st || !strstr(sparsek_last_error(rt), cases[i].msg))
            fail_msg("case %zu: %s '%s', expected %s '%s'", i, sparsek_status_name(st), sparsek_last_error(rt),
                     sparsek_status_name(cases[i].st), cases[i].msg);
        if (st != SPARSEK_NO_DEVICE) assert_non_null(strstr(sparsek_last_error(rt), "sparsek_sparse_attention_decode"));
    }
    /* The params are checked as for _forward; a NULL state, params or runtime is refused. */
    q = p;
    q.topk = 0;
    assert_int_equal(sparsek_sparse_attention_decode(rt, &q, &ok, scratch, scratch_bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "topk = 0"));
    assert_int_equal(sparsek_sparse_attention_decode(rt, &p, &ok, scratch, scratch_bytes - 1, NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "this call needs"));
    assert_int_equal(sparsek_sparse_attention_decode(rt, &p, NULL, scratch, scratch_bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "state is NULL"));
    assert_int_equal(sparsek_sparse_attention_decode(rt, NULL, &ok, scratch, scratch_bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_sparse_attention_decode(NULL, &p, &ok, scratch, scratch_bytes, NULL), SPARSEK_INVALID_ARGUMENT);
    /* reset: NULLs and alignment; a valid one needs the device */
    assert_int_equal(sparsek_sparse_decode_state_reset(rt, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "state is NULL"));
    const sparsek_sparse_decode_state nul = {NULL, bytes, 1000, 0}, odd = {(void *)0x70004, bytes, 1000, 0};
    assert_int_equal(sparsek_sparse_decode_state_reset(rt, &nul, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "state->data is NULL"));
    assert_int_equal(sparsek_sparse_decode_state_reset(rt, &odd, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "16-byte aligned"));
    assert_int_equal(sparsek_sparse_decode_state_reset(rt, &ok, NULL), SPARSEK_NO_DEVICE);
    assert_int_equal(sparsek_sparse_decode_state_reset(NULL, &ok, NULL), SPARSEK_INVALID_ARGUMENT);
    sparsek_runtime_destroy(rt);
}

/* ---- scratch layout ---------------------------------------------------------------------- */


/* The anchored selection's tiles per anchor and anchor count for Sq = Sk = s (0, 0: none). */
static void expect_anchors(sparsek_runtime *rt, sparsek_sparse_attention_params *p, int s, int per, int nanchor) {
    sparsek_sparse_scratch_layout L;
    p->base.seqlen_q = p->base.seqlen_k = s;
    assert_int_equal(sparsek_attention_params_set_layout(&p->base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, p, &L), SPARSEK_OK);
    assert_int_equal(L.select_anchor_tiles, per);
    assert_int_equal(L.select_nanchor, nanchor);
    if (!per)
        assert_true(L.select_anchor_stride == 0 && L.bytes == L.select_anchor_offset &&
                    L.select_anchor_offset == L.select_anchor_ready_offset);
}

/* The split selection's chunk length and count for Sk = sk (0, 0: the one-kernel selection). */
static void expect_split(sparsek_runtime *rt, sparsek_sparse_attention_params *p, int sk, int chunk, int nchunk) {
    sparsek_sparse_scratch_layout L;
    p->base.seqlen_k = sk;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, p, &L), SPARSEK_OK);
    assert_int_equal(L.select_chunk, chunk);
    assert_int_equal(L.select_nchunk, nchunk);
}

static void test_scratch_layout(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    sparsek_sparse_attention_params p;
    valid_params(&p); /* B 2, Sq = Sk = 300, Hq 8, Hkv 2, D 128, k 64, w 32 */
    sparsek_sparse_scratch_layout L;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.tile_rows, 128);
    assert_int_equal(L.ntiles, 3);
    assert_int_equal(L.tile_cap, 256); /* k + 128 rounded up to 128 */
    /* $SPARSEK_SELECT_LONG: 256-row selection tiles above that Sk (16384 when unset; not a
     * number or below 1: unset) */
    setenv("SPARSEK_SELECT_LONG", "299", 1);
    sparsek_sparse_scratch_layout L2;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L2), SPARSEK_OK);
    assert_int_equal(L2.tile_rows, 256);
    assert_int_equal(L2.ntiles, 2);
    assert_int_equal(L2.tile_cap, 384);   /* k + 256 rounded up to 128 */
    setenv("SPARSEK_SELECT_LONG", "300", 1);   /* Sk = 300 is not above it */
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L2), SPARSEK_OK);
    assert_int_equal(L2.tile_rows, 128);
    setenv("SPARSEK_SELECT_LONG", "abc", 1);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L2), SPARSEK_OK);
    assert_int_equal(L2.tile_rows, 128);
    unsetenv("SPARSEK_SELECT_LONG");
    assert_int_equal(L.decode, 0);
    assert_int_equal(L.nsplit, 0);
    assert_true(L.rows_offset == 0);
    assert_true(L.tile_count_offset == a256(2 * 2 * 300 * 16));
    assert_true(L.tile_index_offset == L.tile_count_offset + a256(2 * 2 * 3 * 8 * 4)); /* 8 counts a tile */
    assert_true(L.tile_score_offset == L.tile_index_offset + a256(2 * 2 * 3 * 256 * 4));
    assert_true(L.partial_o_offset == L.tile_score_offset + a256(2 * 2 * 3 * 256 * 4));
    assert_true(L.bytes == L.partial_o_offset && L.partial_lse_offset == L.bytes);
    assert_int_equal(L.select_chunk, 0); /* 12 tiles with 300-key prefixes: one kernel, no lists */
    assert_true(L.select_hist_offset == L.bytes && L.select_tau_offset == L.bytes);
    size_t bytes;
    assert_int_equal(sparsek_sparse_attention_scratch_size(rt, &p, &bytes), SPARSEK_OK);
    assert_true(bytes == L.bytes);

    /* k beyond Sk is clamped (same selection): the tiles do not grow with k. */
    p.topk = 1 << 30;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.tile_cap, 512); /* min(k, Sk) = 300, + 128, rounded up */

    /* Decode: B 8, Hq 32, Hkv 8, D 128, Sq 1, Sk 32768, k 2048, w 512. The group's tile gathers
     * 2048 + 0 keys (32 blocks of 64) plus a band of 512 keys (8 blocks): 40 blocks; 64 groups
     * want 8 splits each for 512 CTAs: 5 blocks per split. */
    valid_params(&p);
    p.base.batch = 8; p.base.seqlen_q = 1; p.base.seqlen_k = 32768; p.base.heads_q = 32; p.base.heads_kv = 8;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    p.topk = 2048; p.window = 512;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 1);
    assert_int_equal(L.ntiles, 1);
    assert_int_equal(L.tile_cap, 2176);
    assert_int_equal(L.nsplit, 8);
    const size_t parts = (size_t)8 * 32 * 1 * 8;
    assert_true(L.partial_lse_offset == L.partial_o_offset + a256(parts * 128 * 4));
    /* 64 tiles with 32256-key prefixes: the split selection; chunks of 4096 give 8 x 64 = 512 CTAs. */
    assert_int_equal(L.select_chunk, 4096);
    assert_int_equal(L.select_nchunk, 8);
    assert_true(L.select_hist_offset == L.partial_lse_offset + a256(parts * 4));
    assert_true(L.select_count_offset == L.select_hist_offset + a256(64 * 2080 * 4));
    assert_true(L.select_top_offset == L.select_count_offset + a256(64 * 8 * 4));
    assert_true(L.select_tau_offset == L.select_top_offset + a256((size_t)64 * 8 * 4096 * 8));
    assert_true(L.bytes == L.select_tau_offset + a256((size_t)64 * 8 * 4096 * 4));
    /* Sk 131072: 32 chunks of 4096 (2048 CTAs: chunks stay at 4096 keys). */
    expect_split(rt, &p, 131072, 4096, 32);
    /* B 1: 8 tiles, chunks of 2048 (64 x 8 = 512 CTAs). */
    p.base.batch = 1;
    expect_split(rt, &p, 131072, 2048, 64);
    /* Past 256 chunks of 4096 keys (1M), chunks of 8192; past 2M keys, one kernel. */
    expect_split(rt, &p, 1500000, 8192, 184);
    expect_split(rt, &p, 2200000, 0, 0);
    /* Prefixes shorter than 16384 keys: one kernel, unless SPARSEK_SELECT_SPLIT_MIN (a test knob)
     * lowers the threshold; never when k covers the prefix. */
    p.base.seqlen_k = 16000;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.select_chunk, 0);
    setenv("SPARSEK_SELECT_SPLIT_MIN", "1000", 1);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.select_chunk, 1024);
    assert_int_equal(L.select_nchunk, 16); /* 15488 keys */
    p.topk = 15488;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.select_chunk, 0);
    unsetenv("SPARSEK_SELECT_SPLIT_MIN");
    p.topk = 2048; p.base.seqlen_k = 32768; p.base.batch = 8;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    /* Sq = 16 with G = 4: 64 rows, one 64-row tile per group. Sq = 17 is prefill when that fills
     * the GPU (B 9: 288 CTAs of 128 rows), else (B 8: 256 CTAs) the split path too; Sq > 128 is
     * always prefill. */
    p.base.seqlen_q = 16;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 1);
    p.base.seqlen_q = 17;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 1);
    p.base.batch = 9;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 0);
    p.base.batch = 1; p.base.seqlen_q = 129;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 0);
    p.base.batch = 8;
    /* A short decode: few blocks cap the splits at one per block. */
    p.base.seqlen_q = 1; p.base.seqlen_k = 10; p.base.batch = 1; p.base.heads_kv = 1; p.base.heads_q = 1;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.nsplit, 1); /* k, w clamp to 10: gathered 0 keys, band 10 keys: 1 block */
    sparsek_runtime_destroy(rt);
}

/* The anchored selection: prefill whose longest tile prefix reaches 16384 keys, at most 16 anchors
 * of at least 2 tiles; records of a 32-byte head, k keys and the last anchor's prefix scores. */
static void test_scratch_layout_anchored(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    sparsek_sparse_attention_params p;
    valid_params(&p);
    p.base.batch = 1; p.base.heads_q = 32; p.base.heads_kv = 8;
    p.topk = 2048; p.window = 512;
    /* S = 131072: 512 tiles of 256 rows, 16 anchors of 32; the last anchor's prefix is tile 480's,
     * 480 * 256 - 511 = 122369 keys. */
    p.base.seqlen_q = p.base.seqlen_k = 131072;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    sparsek_sparse_scratch_layout L;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.tile_rows, 256);
    assert_int_equal(L.select_chunk, 0);
    assert_int_equal(L.select_anchor_tiles, 32);
    assert_int_equal(L.select_nanchor, 16);
    assert_true(L.select_anchor_stride == a256(32 + 2048 * 8 + (size_t)122369 * 4));
    /* no split lists; 8 * 16 ready flags before the records */
    assert_true(L.select_anchor_ready_offset == L.select_tau_offset);
    assert_true(L.select_anchor_offset == L.select_anchor_ready_offset + a256(8 * 16 * 4));
    assert_true(L.bytes == L.select_anchor_offset + (size_t)8 * 16 * L.select_anchor_stride);
    /* S = 32768: 128 tiles, 16 anchors of 8 (the last one's prefix 120 * 256 - 511 keys). */
    expect_anchors(rt, &p, 32768, 8, 16);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_true(L.select_anchor_stride == a256(32 + 2048 * 8 + (size_t)(120 * 256 - 511) * 4));
    /* S = 8192 (prefixes below 16384 keys): none, unless SPARSEK_SELECT_ANCHOR_MIN (a test knob)
     * lowers the threshold: 64 tiles of 128 rows, 16 anchors of 4. With k 100, w 20: 11 tiles,
     * anchors of 2; a longest prefix below the threshold (3 tiles: 256 - 19 keys), 2 tiles (one
     * anchor would be every tile's) or k covering the prefix: none. */
    expect_anchors(rt, &p, 8192, 0, 0);
    setenv("SPARSEK_SELECT_ANCHOR_MIN", "1000", 1);
    expect_anchors(rt, &p, 8192, 4, 16);
    p.topk = 100; p.window = 20;
    expect_anchors(rt, &p, 1300, 2, 6);
    expect_anchors(rt, &p, 1200, 2, 5);
    expect_anchors(rt, &p, 300, 0, 0);
    setenv("SPARSEK_SELECT_ANCHOR_MIN", "200", 1);
    expect_anchors(rt, &p, 300, 2, 2);
    expect_anchors(rt, &p, 256, 0, 0);
    p.topk = 5000;
    expect_anchors(rt, &p, 2000, 0, 0);
    unsetenv("SPARSEK_SELECT_ANCHOR_MIN");
    /* The split selection (few tiles) and decode take no anchors. */
    p.topk = 2048; p.window = 512;
    p.base.seqlen_q = 1; p.base.seqlen_k = 131072;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 1);
    assert_int_equal(L.select_anchor_tiles, 0);
    p.base.seqlen_q = 700; p.base.heads_kv = 1; p.base.heads_q = 4;
    assert_int_equal(sparsek_attention_params_set_layout(&p.base, 0), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &p, &L), SPARSEK_OK);
    assert_true(L.select_chunk > 0);
    assert_int_equal(L.select_anchor_tiles, 0);
    sparsek_runtime_destroy(rt);
}

/* ---- generation and compilation ---------------------------------------------------------- */

/* family generates nothing for cfg on arch: SPARSEK_INVALID_ARGUMENT, with msg (unless NULL) in the
 * runtime's last error. */
static void expect_refused(sparsek_runtime *rt, const char *family, const char *cfg, const char *arch,
                           const char *msg) {
    sparsek_kernel_source *s = NULL;
    assert_int_equal(sparsek_generate(rt, family, cfg, arch, &s), SPARSEK_INVALID_ARGUMENT);
    if (msg) assert_non_null(strstr(sparsek_last_error(rt), msg));
}

static void test_generate_defaults(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    const char *fam[] = {"sparsek_select", "sparsek_fwd", "sparsek_decode"};
    const char *name[] = {"sparsek_select_r128_t256_h16384", "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist",
                          "sparsek_decode_d128_m16_n64_s2_gate_bf16"};
    for (int i = 0; i < 3; i++) {
        sparsek_kernel_source *a = NULL, *b = NULL;
        assert_int_equal(sparsek_generate(rt, fam[i], NULL, "sm_90a", &a), SPARSEK_OK);
        assert_int_equal(sparsek_generate(rt, fam[i], "", "sm_90a", &b), SPARSEK_OK);
        assert_string_equal(a->source, b->source); /* deterministic */
        assert_string_equal(a->kernel_name, name[i]);
        assert_non_null(strstr(a->source, "// Generated by SparseK from templates/"));
        char fl[64];
        snprintf(fl, sizeof fl, "// family: %s\n", fam[i]);
        assert_non_null(strstr(a->source, fl));
        assert_non_null(strstr(a->source, "// cache key: "));
        assert_non_null(strstr(a->source, "struct SelRow"));
        sparsek_kernel_source_free(a);
        sparsek_kernel_source_free(b);
    }
    /* The combine phase and the weight modes show in the names; bad keys are refused. */
    sparsek_kernel_source *s = NULL;
    assert_int_equal(sparsek_generate(rt, "sparsek_decode", "phase=combine d=64 dtype=fp16", "sm_80", &s), SPARSEK_OK);
    assert_string_equal(s->kernel_name, "sparsek_decode_combine_d64_fp16");
    assert_string_equal(s->grid_rule, "sq hq b");
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "weight=kv d=64", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->kernel_name, "_kv_"));
    assert_non_null(strstr(s->source, "KV: the value row scaled by m"));
    assert_string_equal(s->grid_rule, "hq cdiv(sq,128) b");
    sparsek_kernel_source_free(s);
    /* The path: wgmma on sm_90a for d 64/128 (its own template), else the portable kernel. */
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "d=64 weight=hard", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "templates/sparsek_attn_sm90.cut"));
    assert_non_null(strstr(s->source, "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"));
    assert_string_equal(s->grid_rule, "hq cdiv(sq,128) b");
    assert_int_equal(s->block[0], 256);   /* sched=auto: sync at d=64 */
    assert_non_null(strstr(s->config, "sched=sync"));
    sparsek_kernel_source_free(s);
    /* sched=auto: pingpong at d=128 with m=128, sync with m=64. */
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "sched=pingpong"));
    assert_int_equal(s->block[0], 384);
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "m=64", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "sched=sync"));
    assert_string_equal(s->kernel_name, "sparsek_fwd_wgmma_d128_m64_n64_w4_s4_gate_bf16");
    sparsek_kernel_source_free(s);
    /* sched=pingpong: a producer warpgroup beside the consumers, an mbarrier ring, named-barrier
     * turns (two consumers only), setmaxnreg; its own kernel name. persist=0: a CTA per tile. */
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "sched=pingpong persist=0", "sm_90a", &s), SPARSEK_OK);
    assert_string_equal(s->kernel_name, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp");
    assert_string_equal(s->grid_rule, "hq cdiv(sq,128) b");
    assert_int_equal(s->block[0], 384);
    assert_non_null(strstr(s->source, "mbarrier.try_wait.parity"));
    assert_non_null(strstr(s->source, "named_barrier_sync(PP_BAR + cwg, 256)"));
    assert_non_null(strstr(s->source, "setmaxnreg.inc.sync.aligned.u32 208"));
    /* the producer publishes a block without waiting for its own copies */
    assert_non_null(strstr(s->source, "cp.async.mbarrier.arrive.noinc.shared::cta.b64"));
    assert_non_null(strstr(s->source, "mbarrier_init(s_bar + 8 * s, 2 * LOAD_THREADS)"));
    sparsek_kernel_source *sync = NULL;
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "sched=sync", "sm_90a", &sync), SPARSEK_OK);
    assert_int_equal(sync->block[0], 256);
    assert_null(strstr(sync->source, "mbarrier"));
    /* a TileInfo (48 bytes) and the mbarriers: the ring's and the Q tile's full and empty */
    assert_true(s->dynamic_smem == sync->dynamic_smem + 48 + 8 * (2 * 4 + 2));
    /* persist=1 (the default with pingpong): a CTA per SM at most walks the tiles, with two Q
     * tiles (32 KB each at m=128 d=128), their row keys and thresholds (16 bytes a row), TileInfo
     * and Q mbarriers */
    sparsek_kernel_source *pers = NULL;
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "sched=pingpong", "sm_90a", &pers), SPARSEK_OK);
    assert_string_equal(pers->kernel_name, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist");
    assert_non_null(strstr(pers->config, "persist=1"));
    assert_string_equal(pers->grid_rule, "min(hq*cdiv(sq,128)*b,sms) 1 1");
    assert_int_equal(pers->block[0], 384);
    assert_true(pers->dynamic_smem == s->dynamic_smem + 128 * 128 * 2 + 128 * 16 + 48 + 8 * 2);
    assert_non_null(strstr(pers->source, "t += t_step"));
    sparsek_kernel_source_free(pers);
    sparsek_kernel_source_free(sync);
    sparsek_kernel_source_free(s);
    /* pack=auto with the runtime's group: the largest of 8, 4, 2 dividing it, the tiles' positions
     * m / pack (the grid: Hq / pack head groups); the sync schedule and the mma path take 1 */
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "group=4", "sm_90a", &s), SPARSEK_OK);
    assert_string_equal(s->kernel_name, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist_pk4");
    assert_string_equal(s->grid_rule, "min(hq/4*cdiv(sq,32)*b,sms) 1 1");
    assert_non_null(strstr(s->source, "constexpr int PACK       = 4;"));
    sparsek_kernel_source_free(s);
    const char *packs[][2] = {{"group=8 persist=0", "hq/8 cdiv(sq,16) b"}, {"group=6", "min(hq/2*cdiv(sq,64)*b,sms) 1 1"},
                              {"group=3", "min(hq*cdiv(sq,128)*b,sms) 1 1"}, {"group=4 pack=1 persist=0", "hq cdiv(sq,128) b"},
                              {"group=16 sched=pingpong m=64", "min(hq/4*cdiv(sq,16)*b,sms) 1 1"},
                              {"group=4 sched=sync", "hq cdiv(sq,128) b"}};
    for (size_t i = 0; i < sizeof packs / sizeof packs[0]; i++) {
        assert_int_equal(sparsek_generate(rt, "sparsek_fwd", packs[i][0], "sm_90a", &s), SPARSEK_OK);
        if (strcmp(s->grid_rule, packs[i][1])) fail_msg("'%s': grid %s, not %s", packs[i][0], s->grid_rule, packs[i][1]);
        sparsek_kernel_source_free(s);
    }
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "group=4", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "pack=1"));
    assert_non_null(strstr(s->config, "join=0"));   /* the mma path keeps the band in blocks of its own */
    sparsek_kernel_source_free(s);
    /* join: the wgmma pingpong default join=1 (its kernel name unchanged), join=0 says so in the
     * name; the producer and consumers split the 3 x 168 registers the CTA holds as 88 + 2 x 208 */
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "group=4", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "join=1"));
    assert_non_null(strstr(s->source, "constexpr bool JOIN_BAND = true;"));
    assert_non_null(strstr(s->source, "setmaxnreg.dec.sync.aligned.u32 88;"));
    assert_non_null(strstr(s->source, "setmaxnreg.inc.sync.aligned.u32 208;"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "group=4 join=0", "sm_90a", &s), SPARSEK_OK);
    assert_string_equal(s->kernel_name, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist_pk4_bandapart");
    assert_non_null(strstr(s->source, "constexpr bool JOIN_BAND = false;"));
    sparsek_kernel_source_free(s);
    expect_refused(rt, "sparsek_fwd", "join=1 path=mma", "sm_90a", "join=1 needs path=wgmma");
    /* session 14's producer experiments, measured slower and removed in session 16 */
    expect_refused(rt, "sparsek_fwd", "prune=1", "sm_90a", "prune");
    expect_refused(rt, "sparsek_fwd", "ahead=2", "sm_90a", "ahead");
    expect_refused(rt, "sparsek_fwd", "group=4 pack=8", "sm_90a",
                   "pack=8 needs a group (Hq / Hkv) that it divides, not 4");
    expect_refused(rt, "sparsek_fwd", "group=4 pack=2 sched=sync", "sm_90a", "pack=2 needs sched=pingpong");
    expect_refused(rt, "sparsek_fwd", "group=8 pack=8 sched=pingpong m=64", "sm_90a", "fewer than 16 positions");
    expect_refused(rt, "sparsek_fwd", "group=0", "sm_90a", NULL);
    expect_refused(rt, "sparsek_fwd", "group=2.5", "sm_90a", NULL);
    /* persist=1 is the pingpong schedule's; 5 stages do not fit beside two Q tiles at d=128 */
    expect_refused(rt, "sparsek_fwd", "sched=sync persist=1", "sm_90a", "persist=1 needs sched=pingpong");
    expect_refused(rt, "sparsek_fwd", "persist=1 path=mma", "sm_90a", NULL);
    expect_refused(rt, "sparsek_fwd", "stages=5", "sm_90a", "shared memory");
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "stages=5 persist=0", "sm_90a", &s), SPARSEK_OK);
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_fwd", "sched=pingpong m=64 d=64", "sm_90a", &s), SPARSEK_OK);
    assert_int_equal(s->block[0], 256);
    assert_null(strstr(s->source, "named_barrier_sync(PP_BAR"));
    assert_null(strstr(s->source, "setmaxnreg"));
    sparsek_kernel_source_free(s);
    expect_refused(rt, "sparsek_fwd", "sched=pingpong path=mma", "sm_90a", "sched=pingpong needs path=wgmma");
    expect_refused(rt, "sparsek_fwd", "sched=pingpong d=96", "sm_90a", NULL);
    expect_refused(rt, "sparsek_fwd", "sched=fast", "sm_90a", NULL);
    const char *mma_cases[][2] = {{"d=128", "sm_80"}, {"d=96", "sm_90a"}, {"d=128 path=mma", "sm_90a"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sparsek_generate(rt, "sparsek_fwd", mma_cases[i][0], mma_cases[i][1], &s), SPARSEK_OK);
        assert_non_null(strstr(s->source, "templates/sparsek_attn_sm80.cut"));
        assert_non_null(strstr(s->kernel_name, "sparsek_fwd_mma_"));
        sparsek_kernel_source_free(s);
    }
    expect_refused(rt, "sparsek_fwd", "path=wgmma", "sm_80", "needs sm_90a");
    expect_refused(rt, "sparsek_fwd", "path=wgmma stages=2", "sm_90a", "stages >= 3");
    expect_refused(rt, "sparsek_fwd", "path=wgmma n=128 stages=4", "sm_90a", "shared memory");
    expect_refused(rt, "sparsek_fwd", "path=mma stages=4", "sm_90a", NULL);
    expect_refused(rt, "sparsek_fwd", "weight=soft", "sm_90a", "weight=soft");
    expect_refused(rt, "sparsek_select", "rows=128 threads=128", "sm_90a", "2*rows");
    expect_refused(rt, "sparsek_fwd", "m=128 warps=4 n=128 d=256", "sm_90a", NULL);
    sparsek_runtime_destroy(rt);
}

/* The selection's phases: names, grids, templates, the keys each one uses. */
static void test_generate_select_phases(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    const struct { const char *config, *name, *grid, *tmpl; unsigned block, smem; } cases[] = {
        {"phase=full", "sparsek_select_r128_t256_h16384", "cdiv(sq,128) hkv b", "templates/sparsek_select.cut", 256, 65536},
        {"rows=256 threads=512 minblocks=2", "sparsek_select_r256_t512_h16384_b2", "cdiv(sq,256) hkv b",
         "templates/sparsek_select.cut", 512, 65536},
        {"phase=hist chunk=8192", "sparsek_select_hist_r128_t256_c8192", "nchunk hkv*cdiv(sq,128) b",
         "templates/sparsek_select_split.cut", 256, 0},
        {"phase=compact rows=256 chunk=1024", "sparsek_select_compact_r256_t256_c1024", "nchunk hkv*cdiv(sq,256) b",
         "templates/sparsek_select_split.cut", 256, 0},
        {"phase=finish hcap=40960 threads=512", "sparsek_select_finish_r128_t512_h40960_c4096", "cdiv(sq,128) hkv b",
         "templates/sparsek_select.cut", 512, 163840},
        {"phase=state hcap=40960 threads=512 chunk=1024", "sparsek_select_state_r128_t512_h40960_c1024", "cdiv(sq,128) hkv b",
         "templates/sparsek_select.cut", 512, 163840},
        {"phase=anchor rows=256 hcap=40960 threads=512", "sparsek_select_anchor_r256_t512_h40960", "nanchor hkv b",
         "templates/sparsek_select.cut", 512, 163840},
        {"phase=anchored rows=256 hcap=16384 threads=512 minblocks=2", "sparsek_select_anchored_r256_t512_h16384_b2",
         "cdiv(sq,256) hkv b", "templates/sparsek_select.cut", 512, 65536},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sparsek_kernel_source *s = NULL;
        assert_int_equal(sparsek_generate(rt, "sparsek_select", cases[i].config, "sm_90a", &s), SPARSEK_OK);
        assert_string_equal(s->kernel_name, cases[i].name);
        assert_string_equal(s->grid_rule, cases[i].grid);
        assert_string_equal(s->template_name, cases[i].tmpl);
        assert_int_equal(s->block[0], cases[i].block);
        assert_int_equal(s->dynamic_smem, cases[i].smem);
        assert_non_null(strstr(s->source, "struct SelectParams"));
        assert_non_null(strstr(s->source, "int *chunk_count;"));
        sparsek_kernel_source_free(s);
    }
    /* Each phase's own code: the histogram's atomics, the lists, the finish phase's sources. */
    sparsek_kernel_source *s = NULL;
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=hist", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "atomicAdd(&g[i], sh.hist[i])"));
    assert_null(strstr(s->source, "select_rank"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=compact", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "find_digit(sh, BINS, min(p.topk, n0) - 1"));
    assert_non_null(strstr(s->source, "atomicAdd(&g[BINS], a)"));
    /* the chunk's scores in registers, loaded before the histogram; one ballot per row and list */
    assert_non_null(strstr(s->source, "float v[PER];"));
    assert_non_null(strstr(s->source, "__ballot_sync(0xffffffffu, in_top(q))"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=hist", "sm_80", &s), SPARSEK_OK);
    assert_null(strstr(s->source, "in_top"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=finish", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "struct TopKeys"));
    assert_non_null(strstr(s->source, "const TopSource top{stage ? staged : nullptr, gtop};"));
    sparsek_kernel_source_free(s);
    /* The decode state's phase: its source, the header it checks, the loads of what it writes. */
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=state", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "struct DecodeState"));
    assert_non_null(strstr(s->source, "const StateTop top{stage ? staged : nullptr, skey, ns, u, nold, gtop};"));
    assert_non_null(strstr(s->source, "return __ldcg(p);"));
    assert_non_null(strstr(s->source, "struct TopKeys"));   /* a rebuild on compact's lists */
    assert_null(strstr(s->source, "struct TopSource"));
    assert_non_null(strstr(s->config, "chunk=4096"));
    sparsek_kernel_source_free(s);
    /* The anchored selection: the anchor kernel writes the records (its prefilter, then two
     * ordered passes); the tiles read their anchor's lists and the keys after its prefix. */
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=anchor", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "struct AnchorHead"));
    assert_non_null(strstr(s->source, "prefilter_theta0(src, n, k, sh, list)"));
    assert_non_null(strstr(s->source, "const int n = tile_prefix(p, a * p.anchor_tiles);"));
    assert_null(strstr(s->source, "tau_block(sh, hbuf"));   /* no rows, no tau solve */
    assert_null(strstr(s->source, "SelRow *rows = p.rows"));
    assert_non_null(strstr(s->config, "minblocks=1"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=anchored minblocks=2", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "const AnchorTop top{stage ? staged : nullptr, akeys_g, ns, u, na0};"));
    assert_non_null(strstr(s->source, "const ScoreSeq2 tsc{alist, ah->ntau, u + na0};"));
    assert_non_null(strstr(s->source, "th0 = select_rank(top, ntop, k - 1, sh, list);"));
    assert_non_null(strstr(s->source, "__launch_bounds__(THREADS, 2)"));
    assert_null(strstr(s->source, "struct DecodeState"));
    assert_non_null(strstr(s->config, "chunk=4096"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=anchored rows=256 threads=256", "sm_90a", &s),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "2*rows"));
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "", "sm_80", &s), SPARSEK_OK);
    assert_null(strstr(s->source, "TopKeys"));
    assert_null(strstr(s->source, "AnchorHead"));
    assert_non_null(strstr(s->source, "const ScoreSeq tsc{tsrc};"));
    assert_null(strstr(s->source, "struct DecodeState"));
    assert_non_null(strstr(s->source, "return __ldg(p);"));
    assert_non_null(strstr(s->source, "const PrefixKeys top{u};"));
    /* Keys a phase does not use take their defaults: one canonical config per kernel. */
    assert_non_null(strstr(s->config, "chunk=4096"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "chunk=1024", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "chunk=4096"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=hist hcap=40960", "sm_80", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "hcap=16384"));
    sparsek_kernel_source_free(s);
    /* minblocks caps the one-kernel selection's registers for two CTAs per SM; the other phases
     * keep one (their config says so, and their launch bounds). */
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "minblocks=2", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "__launch_bounds__(THREADS, 2)"));
    assert_non_null(strstr(s->config, "minblocks=2"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->source, "__launch_bounds__(THREADS, 1)"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=finish minblocks=2", "sm_90a", &s), SPARSEK_OK);
    assert_non_null(strstr(s->config, "minblocks=1"));
    assert_string_equal(s->kernel_name, "sparsek_select_finish_r128_t256_h16384_c4096");
    assert_non_null(strstr(s->source, "__launch_bounds__(THREADS, 1)"));
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "minblocks=3", "sm_90a", &s), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "minblocks=3"));
    /* The 2*rows rule is the sorting phases' own; bad values are refused with the reason. */
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=compact rows=256 threads=256", "sm_90a", &s), SPARSEK_OK);
    sparsek_kernel_source_free(s);
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=finish rows=256 threads=256", "sm_90a", &s),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "2*rows"));
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=split", "sm_90a", &s), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "phase=split"));
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=hist chunk=512", "sm_90a", &s), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "chunk=512"));
    assert_int_equal(sparsek_generate(rt, "sparsek_select", "phase=hist", "sm_75", &s), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "sm_80"));
    sparsek_runtime_destroy(rt);
}

/* Compiles, and spills at most max_spill bytes each way (stores, loads). */
static void compile_spills_at_most(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                                   int max_spill) {
    sparsek_compiled *c = NULL;
    sparsek_status st = sparsek_compile(rt, family, config, arch, &c);
    if (st != SPARSEK_OK) fail_msg("%s '%s' %s: %s: %s", family, config, arch, sparsek_status_name(st), sparsek_last_error(rt));
    if (c->spill_stores > max_spill || c->spill_loads > max_spill)
        fail_msg("%s '%s' %s spills (%d/%d bytes, at most %d allowed)", family, config, arch, c->spill_stores,
                 c->spill_loads, max_spill);
    assert_memory_equal(c->cubin, "\177ELF", 4);
    sparsek_compiled_free(c);
}

static void compile_ok(sparsek_runtime *rt, const char *family, const char *config, const char *arch) {
    compile_spills_at_most(rt, family, config, arch, 0);
}

/* A wgmma kernel the runtime launches compiles without ptxas serializing its wgmma (as
 * test_wgmma_kernels_stay_async checks the dense family): "wgmma.mma_async instructions are
 * serialized" (C7514, C7515, C7520) means every matrix product waits for the one before it, a
 * large loss that nothing else reports; a consumer's trip count or branch that ptxas takes for
 * divergent is enough (C7520, docs/PLAN-sparsek.md). */
static void compile_wgmma_unserialized(sparsek_runtime *rt, const char *family, const char *config) {
    sparsek_compiled *c = NULL;
    sparsek_status st = sparsek_compile(rt, family, config, "sm_90a", &c);
    if (st != SPARSEK_OK) fail_msg("%s '%s': %s: %s", family, config, sparsek_status_name(st), sparsek_last_error(rt));
    assert_int_equal(c->from_cache, 0);   /* the log is this compile's */
    assert_non_null(c->log);
    if (strstr(c->log, "serialized")) fail_msg("%s '%s': ptxas serializes its wgmma:\n%s", family, config, c->log);
    assert_non_null(strstr(c->src->source, "wgmma.mma_async"));
    sparsek_compiled_free(c);
}

static void test_nvrtc_compile(void **state) {
    (void)state;
    sparsek_runtime *rt = new_rt();
    const char *archs[] = {"sm_80", "sm_90a", "sm_100a"};
    for (int a = 0; a < 3; a++) {
        compile_ok(rt, "sparsek_select", "", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=hist", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=compact", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=finish", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=state", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=anchor", archs[a]);
        compile_ok(rt, "sparsek_select", "phase=anchored", archs[a]);
        compile_ok(rt, "sparsek_fwd", "", archs[a]);
        compile_ok(rt, "sparsek_decode", "", archs[a]);
        compile_ok(rt, "sparsek_decode", "phase=combine", archs[a]);
    }
    /* What the runtime asks for on an H100: every weight mode, both dtypes, each head dim. */
    compile_ok(rt, "sparsek_select", "hcap=40960 threads=512", "sm_90a");
    compile_ok(rt, "sparsek_select", "hcap=32768 rows=256 threads=512", "sm_90a");
    compile_ok(rt, "sparsek_select", "minblocks=2", "sm_90a");
    /* Two CTAs of 512 threads cap the registers at 64: ptxas spills a few words of the per-row tau
     * loops (72/56 bytes with NVRTC 13.0), net faster all the same (docs/BENCHMARKS.md, run 77);
     * the bound catches a change that makes the capped kernel spill for real. */
    compile_spills_at_most(rt, "sparsek_select", "rows=256 threads=512 minblocks=2", "sm_90a", 128);
    compile_ok(rt, "sparsek_select", "phase=hist chunk=8192", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=compact chunk=8192", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=finish hcap=40960 threads=512 chunk=8192", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=finish rows=256 hcap=32768 threads=512 chunk=1024", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=state hcap=40960 threads=512", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=state hcap=40960 threads=512 chunk=8192", "sm_90a");
    /* The anchored selection as the runtime asks for it at S = 32768 and 131072 (256-row tiles). */
    compile_ok(rt, "sparsek_select", "phase=anchor rows=256 hcap=40960 threads=512", "sm_90a");
    compile_ok(rt, "sparsek_select", "phase=anchored rows=256 hcap=32768 threads=512", "sm_90a");
    compile_spills_at_most(rt, "sparsek_select", "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2", "sm_90a",
                           128);
    compile_ok(rt, "sparsek_fwd", "weight=hard dtype=fp16", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "weight=kv", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "d=64 dtype=fp16", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "sched=pingpong", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "sched=pingpong persist=0", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "sched=sync", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "sched=sync d=128 weight=hard dtype=fp16", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "sched=pingpong m=64 d=64 weight=kv dtype=fp16", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "d=96 weight=kv", "sm_90a");
    compile_ok(rt, "sparsek_fwd", "d=256 weight=hard", "sm_90a");
    compile_ok(rt, "sparsek_decode", "m=64 weight=kv dtype=fp16", "sm_90a");
    compile_ok(rt, "sparsek_decode", "d=256 n=32 m=32 weight=hard", "sm_90a");
    /* The prefill kernels the runtime picks on sm_90a (a KV group's heads packed: group 2, 4, 8),
     * both schedules and persist values, and pingpong with one consumer (m=64). */
    const char *prefill[] = {"", "weight=hard dtype=fp16", "weight=kv", "d=64 dtype=fp16", "d=64 weight=kv",
                             "sched=pingpong persist=0", "sched=sync", "sched=sync weight=hard dtype=fp16",
                             "group=4", "group=8 weight=kv dtype=fp16", "group=2 weight=hard", "group=4 persist=0",
                             "sched=pingpong m=64", "group=4 join=0"};
    for (size_t i = 0; i < sizeof prefill / sizeof prefill[0]; i++) compile_wgmma_unserialized(rt, "sparsek_fwd", prefill[i]);
    sparsek_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_lists),
        cmocka_unit_test(test_select_model),
        cmocka_unit_test(test_decode_step_model),
        cmocka_unit_test(test_argument_checks),
        cmocka_unit_test(test_decode_state_checks),
        cmocka_unit_test(test_scratch_layout),
        cmocka_unit_test(test_scratch_layout_anchored),
        cmocka_unit_test(test_generate_defaults),
        cmocka_unit_test(test_generate_select_phases),
        cmocka_unit_test(test_nvrtc_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
