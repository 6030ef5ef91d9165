/* gpu_sparsek.c — GPU test of SparseK sparse attention (sparsek_sparse_attention_forward)
 * against the float64 reference, and of the selection it computes on the way.
 *
 *   gpu_sparsek [--shapes N] [--seed S] [--cache DIR] [--max-s N] [--max-sq N] [--d D] [--no-fixed] [--state] [-v]
 *
 * Exits 77 when no GPU is present. --d restricts the head dim (tests/emu/run.sh runs this binary
 * on the CPU emulator, which has the d=64 kernels). Each case: random q, k, v rounded to fp16/bf16, float32
 * scores of one of several distributions (normal, a quarter grid with many ties, all equal),
 * outputs and the scratch poisoned with NaN/0xff first, then one call on a stream. Checked:
 *   - every output element and LSE for leftover poison;
 *   - the relative error ||o - ref|| / ||ref|| over sampled rows (all rows of small cases; the
 *     edges and a random sample of big ones) against sparsek_reference_sparse_attention_rows,
 *     with fp16 <= 2e-3 and bf16 <= 1.5e-2, and LSE within 2e-3 (1 + |lse|);
 *   - the selection record of those rows in the scratch (theta exactly, the index of the k-th
 *     key, tau - theta within 2e-6) against sparsek_reference_sparsek_select, and the gathered
 *     keys of their tiles against sparsek_reference_sparsek_tile_keys.
 * --state runs decode-state sequences instead (sparsek_sparse_attention_decode, tcase.nseq): each
 * call of a sequence is checked as above against the reference for its own seqlen_k.
 * Prints one line per failing case (every case with -v) and a summary line. */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sk_halfs.h"
#include "gpu_common.h"

typedef struct tcase {
    int b, sq, sk, hq, hkv, d, topk, window;
    sparsek_weight_mode weight;
    sparsek_dtype dtype;
    int scores; /* 0 normal, 1 quarter grid (ties), 2 all equal, 3 normal * 3 */
    int layout; /* 0 [B,S,H,D], 1 [B,H,S,D] */
    /* A decode-state sequence (nseq > 0): sparsek_sparse_attention_decode calls with seqlen_k
     * seq[0], seq[1], ... (sk is the largest, what the tensors hold) on one state, zeroed by
     * sparsek_sparse_decode_state_reset first (unless the first call asks for a rebuild), or
     * filled with 0xff garbage when state_garbage. */
    int nseq, seq[12], state_garbage;
    int rebuild_first; /* the first call asks for a rebuild (sparsek_sparse_decode_state.rebuild) */
} tcase;

static const char *WNAME[] = {"gate", "hard", "kv"};

/* Totals over every case. */
static double worst_rel[2], worst_tau;
static long rows_checked, sel_bad, tiles_checked, tiles_by_level, tiles_bad, split_cases, anchored_cases, state_calls;

typedef struct ref_job {
    sparsek_runtime *rt;
    const tcase *c;
    sparsek_sparse_attention_params host; /* host copies of q, k, v, scores */
    const float *o, *lse;                 /* kernel output (as float) and LSE */
    const sparsek_sparse_row *srow;       /* the scratch's selection records [B, Hkv, Sq] */
    const int *tcount, *tidx;             /* the scratch's tiles */
    int tile_cap, ntiles, tile_rows;
    const int *rows;
    int nrows, first_bh, step_bh;
    row_errors errs;
    double tau_err;
    int ref_failed, sel_bad, tiles, tiles_by_level, tiles_bad;
} ref_job;

enum { TILE_SUBS = 8, SUB_ROWS = 32 }; /* gathered counts per selection tile (sparsek.h, tile_count_offset) */

/* The tile's reference list keys[0, nk) (ascending) by level, as sparsek.h describes the scratch's
 * tile_index_offset: an entry's level is the last 32-row sub-tile whose first row's (theta,
 * theta_index) it reaches; the highest level first, each level ascending; -1 (below the first
 * row's) left out. out[0, *nk) and the per-sub-tile counts; nonzero when the reference fails. */
static int level_order(ref_job *j, const float *u, int pos0, int nr, const int *keys, int *nk, int *out, int *counts) {
    const tcase *c = j->c;
    const int nsub = (nr + SUB_ROWS - 1) / SUB_ROWS;
    double th[TILE_SUBS];
    int thi[TILE_SUBS];
    int *sel = malloc(sizeof(int) * (size_t)c->sk), *lev = malloc(sizeof(int) * (size_t)(*nk > 0 ? *nk : 1));
    for (int s = 0; s < nsub; s++) {
        int ns = 0;
        double tau;
        th[s] = -INFINITY;   /* a row before every key: no candidates */
        thi[s] = 0;
        if (pos0 + s * SUB_ROWS < 0) continue;
        if (sparsek_reference_sparsek_select(j->rt, u, c->sk, pos0 + s * SUB_ROWS, c->topk, c->window, sel, NULL, &ns,
                                             &tau, &th[s]) != SPARSEK_OK) {
            free(sel); free(lev);
            return 1;
        }
        thi[s] = isinf(th[s]) ? 0 : sel[ns - 1];
    }
    for (int q = 0; q < *nk; q++) {
        const int key = keys[q];
        const double uk = u[key];
        lev[q] = -1;
        for (int s = 0; s < nsub; s++)
            if (isinf(th[s]) || uk > th[s] || (uk == th[s] && key >= thi[s])) lev[q] = s;
    }
    int n = 0;
    for (int l = TILE_SUBS - 1; l >= 0; l--) {
        for (int q = 0; q < *nk; q++)
            if (lev[q] == l) out[n++] = keys[q];
        counts[l] = n;
    }
    *nk = n;
    free(sel); free(lev);
    return 0;
}

/* One (batch, KV head)'s selection for the sampled rows and their tiles. */
static void check_selection(ref_job *j, int bi, int kh) {
    const tcase *c = j->c;
    const float *u = j->host.scores + bi * j->host.score_stride[0] + kh * j->host.score_stride[1];
    int *sel = malloc(sizeof(int) * (size_t)c->sk), *keys = malloc(sizeof(int) * (size_t)(c->sk + 256));
    int *bylevel = malloc(sizeof(int) * (size_t)(c->sk + 256)), counts[TILE_SUBS];
    int last_tile = -1;
    for (int ri = 0; ri < j->nrows; ri++) {
        const int i = j->rows[ri], pos = c->sk - c->sq + i;
        const sparsek_sparse_row *r = j->srow + ((int64_t)bi * c->hkv + kh) * c->sq + i;
        const int ncand = pos - c->window + 1 > 0 ? pos - c->window + 1 : 0;
        int bad = r->ncand != ncand;
        if (pos >= 0) {
            int ns = 0;
            double tau, theta;
            if (sparsek_reference_sparsek_select(j->rt, u, c->sk, pos, c->topk, c->window, sel, NULL, &ns, &tau,
                                                 &theta) != SPARSEK_OK) {
                j->ref_failed++;
                continue;
            }
            if (isinf(theta)) {
                bad |= !(isinf(r->theta) && r->theta < 0);
            } else {
                bad |= (double)r->theta != theta || r->theta_index != sel[ns - 1];
                const double e = fabs((double)r->tau_offset - (tau - theta));
                if (!(e <= 2e-6)) bad = 1;
                if (e > j->tau_err) j->tau_err = e;
            }
        }
        if (bad) {
            if (j->sel_bad < 3)
                fprintf(stderr, "  selection b=%d kvh=%d row %d: theta %.9g idx %d tau-theta %.9g ncand %d\n", bi, kh, i,
                        (double)r->theta, r->theta_index, (double)r->tau_offset, r->ncand);
            j->sel_bad++;
        }
        /* The gathered keys of this row's tile. */
        const int tile = i / j->tile_rows;
        if (tile != last_tile) {
            last_tile = tile;
            const int i0 = tile * j->tile_rows, nr = c->sq - i0 < j->tile_rows ? c->sq - i0 : j->tile_rows;
            const int pos0 = c->sk - c->sq + i0;
            const int64_t t = ((int64_t)bi * c->hkv + kh) * j->ntiles + tile;
            int nk = 0;
            if (pos0 + nr - 1 >= 0 &&
                sparsek_reference_sparsek_tile_keys(j->rt, u, c->sk, pos0, nr, c->topk, c->window, keys, &nk) ==
                    SPARSEK_OK) {
                const int *cnt = j->tcount + t * TILE_SUBS, *got = j->tidx + t * j->tile_cap;
                const int nsub = (nr + SUB_ROWS - 1) / SUB_ROWS;
                /* The list in index order, every sub-tile walking all of it; */
                int tb = 0;
                for (int s = 0; s < nsub; s++) tb |= cnt[s] != nk;
                for (int q = 0; !tb && q < nk; q++) tb = got[q] != keys[q];
                /* or by level (tile_index_offset in sparsek.h). */
                if (tb && nsub > 1 && level_order(j, u, pos0, nr, keys, &nk, bylevel, counts) == 0) {
                    tb = 0;
                    for (int s = 0; s < nsub; s++) tb |= cnt[s] != counts[s];
                    for (int q = 0; !tb && q < nk; q++) tb = got[q] != bylevel[q];
                    j->tiles_by_level += !tb;
                }
                j->tiles++;
                if (tb) {
                    if (j->tiles_bad < 3)
                        fprintf(stderr, "  tile b=%d kvh=%d tile %d: %d keys, reference %d\n", bi, kh, tile,
                                cnt[0], nk);
                    j->tiles_bad++;
                }
            }
        }
    }
    free(sel);
    free(keys);
    free(bylevel);
}

static void *ref_worker(void *arg) {
    ref_job *j = arg;
    const tcase *c = j->c;
    const sparsek_attention_params *p = &j->host.base;
    double *ref = malloc(sizeof(double) * (size_t)j->nrows * c->d), *lref = malloc(sizeof(double) * (size_t)j->nrows);
    const int g = c->hq / c->hkv;
    for (int bh = j->first_bh; bh < c->b * c->hq; bh += j->step_bh) {
        const int bi = bh / c->hq, h = bh % c->hq;
        if (h % g == 0) check_selection(j, bi, h / g);
        if (sparsek_reference_sparse_attention_rows(j->rt, &j->host, bi, h, j->rows, j->nrows, ref, lref) !=
            SPARSEK_OK) {
            j->ref_failed++;
            continue;
        }
        row_errors_add(&j->errs, p, j->o, j->lse, bi, h, j->rows, j->nrows, ref, lref);
    }
    free(ref);
    free(lref);
    return NULL;
}

/* --tiles: tile keys of the prefill kernel for every prefill call (e.g. "path=mma"); --decode-tiles:
 * of the decode kernel for every decode call (e.g. "m=64 n=32"); NULL: the default. */
static const char *tiles, *decode_tiles;

/* One call (forward, or decode on `state`) for c->sk keys, its outputs and selection checked. */
static int call_and_check(sparsek_runtime *rt, const tcase *c, sparsek_sparse_attention_params sp,
                          const sparsek_sparse_decode_state *state, const uint16_t *hq, const uint16_t *hk,
                          const uint16_t *hv, const float *hu, int call, int verbose);

static int run_case(sparsek_runtime *rt, const tcase *c, int verbose) {
    sparsek_sparse_attention_params sp;
    memset(&sp, 0, sizeof sp);
    sparsek_attention_params *p = &sp.base;
    p->dtype = c->dtype;
    p->batch = c->b; p->seqlen_q = c->sq; p->seqlen_k = c->sk;
    p->heads_q = c->hq; p->heads_kv = c->hkv; p->head_dim = c->d;
    if (sparsek_attention_params_set_layout(p, c->layout) != SPARSEK_OK) {
        fprintf(stderr, "set_layout failed\n");
        return 1;
    }
    sp.topk = c->topk; sp.window = c->window; sp.weight = c->weight;
    sp.score_stride[0] = (int64_t)c->hkv * c->sk; sp.score_stride[1] = c->sk;
    const size_t nq = (size_t)c->b * c->sq * c->hq * c->d, nk = (size_t)c->b * c->sk * c->hkv * c->d;
    const size_t nu = (size_t)c->b * c->hkv * c->sk, nl = (size_t)c->b * c->hq * c->sq;
    uint16_t *hq = malloc(nq * 2), *hk = malloc(nk * 2), *hv = malloc(nk * 2);
    float *hu = malloc(nu * 4);
    for (size_t i = 0; i < nq; i++) hq[i] = sk_half_from_float(c->dtype, (float)nrand());
    for (size_t i = 0; i < nk; i++) hk[i] = sk_half_from_float(c->dtype, (float)nrand());
    for (size_t i = 0; i < nk; i++) hv[i] = sk_half_from_float(c->dtype, (float)nrand());
    for (size_t i = 0; i < nu; i++)
        hu[i] = c->scores == 0 ? (float)nrand()
              : c->scores == 1 ? (float)((int)(rng() % 17) - 8) * 0.25f
              : c->scores == 2 ? 0.5f : (float)(3 * nrand());
    CUdeviceptr dq, dk, dv, dout, dl, du, dstate = 0;
    CHECK_CU(cu.cuMemAlloc(&dq, nq * 2));
    CHECK_CU(cu.cuMemAlloc(&dk, nk * 2));
    CHECK_CU(cu.cuMemAlloc(&dv, nk * 2));
    CHECK_CU(cu.cuMemAlloc(&dout, nq * 2));
    CHECK_CU(cu.cuMemAlloc(&dl, nl * 4));
    CHECK_CU(cu.cuMemAlloc(&du, nu * 4));
    CHECK_CU(cu.cuMemcpyHtoD(dq, hq, nq * 2));
    CHECK_CU(cu.cuMemcpyHtoD(dk, hk, nk * 2));
    CHECK_CU(cu.cuMemcpyHtoD(dv, hv, nk * 2));
    CHECK_CU(cu.cuMemcpyHtoD(du, hu, nu * 4));
    p->q = (void *)dq; p->k = (void *)dk; p->v = (void *)dv; p->o = (void *)dout; p->lse = (float *)dl;
    sp.scores = (const float *)du;
    int fail = 0;
    sparsek_sparse_decode_state state = {0};
    if (c->nseq) {
        state.max_seqlen_k = c->sk;
        if (sparsek_sparse_decode_state_size(rt, &sp, c->sk, &state.bytes) != SPARSEK_OK) {
            fprintf(stderr, "decode_state_size: %s\n", sparsek_last_error(rt));
            return 1;
        }
        CHECK_CU(cu.cuMemAlloc(&dstate, state.bytes));
        state.data = (void *)dstate;
        if (c->state_garbage) {
            CHECK_CU(cu.cuMemsetD8(dstate, 0xff, state.bytes));
        } else if (!c->rebuild_first && sparsek_sparse_decode_state_reset(rt, &state, NULL) != SPARSEK_OK) {
            fprintf(stderr, "decode_state_reset: %s\n", sparsek_last_error(rt));
            fail = 1;
        }
    }
    for (int call = 0; call < (c->nseq ? c->nseq : 1); call++) {
        tcase cc = *c;
        state.rebuild = call == 0 && c->rebuild_first;
        if (c->nseq) cc.sk = c->seq[call];
        sp.base.seqlen_k = cc.sk;   /* the strides stay those of the longest */
        fail |= call_and_check(rt, &cc, sp, c->nseq ? &state : NULL, hq, hk, hv, hu, call, verbose);
    }
    cu.cuMemFree(dq); cu.cuMemFree(dk); cu.cuMemFree(dv); cu.cuMemFree(dout); cu.cuMemFree(dl);
    cu.cuMemFree(du);
    if (dstate) cu.cuMemFree(dstate);
    free(hq); free(hk); free(hv); free(hu);
    return fail;
}

static int call_and_check(sparsek_runtime *rt, const tcase *c, sparsek_sparse_attention_params sp,
                          const sparsek_sparse_decode_state *state, const uint16_t *hq, const uint16_t *hk,
                          const uint16_t *hv, const float *hu, int call, int verbose) {
    const sparsek_attention_params *p = &sp.base;
    const size_t nq = (size_t)c->b * c->sq * c->hq * c->d, nl = (size_t)c->b * c->hq * c->sq;
    const CUdeviceptr dout = (CUdeviceptr)p->o, dl = (CUdeviceptr)p->lse;
    sparsek_sparse_scratch_layout L;
    if (sparsek_sparse_attention_scratch_layout(rt, &sp, &L) != SPARSEK_OK) {
        fprintf(stderr, "scratch_layout: %s\n", sparsek_last_error(rt));
        return 1;
    }
    uint16_t *ho = malloc(nq * 2);
    float *fo = malloc(nq * 4), *lse = malloc(nl * 4);
    if (L.select_chunk && !state) split_cases++;
    if (L.select_anchor_tiles && !state) anchored_cases++;
    if (state) state_calls++;
    CUdeviceptr ds;
    CHECK_CU(cu.cuMemAlloc(&ds, L.bytes));
    CHECK_CU(cu.cuMemsetD8(dout, 0xff, nq * 2)); /* 0xffff: NaN in fp16 and bf16 */
    CHECK_CU(cu.cuMemsetD8(dl, 0xff, nl * 4));   /* NaN in float32 */
    CHECK_CU(cu.cuMemsetD8(ds, 0xff, L.bytes));  /* scratch garbage: NaN scores, index -1 */
    int fail = 0;
    sparsek_status st =
        state ? sparsek_sparse_attention_decode(rt, &sp, state, (void *)ds, L.bytes, NULL)
              : sparsek_sparse_attention_forward_with(rt, &sp, (void *)ds, L.bytes, L.decode ? decode_tiles : tiles, NULL);
    if (st != SPARSEK_OK) {
        fprintf(stderr, "%s: %s: %s\n", state ? "sparsek_sparse_attention_decode" : "sparsek_sparse_attention_forward",
                sparsek_status_name(st), sparsek_last_error(rt));
        fail = 1;
    }
    CHECK_CU(cu.cuCtxSynchronize());
    CHECK_CU(cu.cuMemcpyDtoH(ho, dout, nq * 2));
    CHECK_CU(cu.cuMemcpyDtoH(lse, dl, nl * 4));
    const size_t nrow_rec = (size_t)c->b * c->hkv * c->sq, ntile = (size_t)c->b * c->hkv * L.ntiles;
    sparsek_sparse_row *srow = malloc(nrow_rec * sizeof *srow);
    int *tcount = malloc(ntile * TILE_SUBS * 4), *tidx = malloc(ntile * (size_t)L.tile_cap * 4);
    CHECK_CU(cu.cuMemcpyDtoH(srow, ds + L.rows_offset, nrow_rec * sizeof *srow));
    CHECK_CU(cu.cuMemcpyDtoH(tcount, ds + L.tile_count_offset, ntile * TILE_SUBS * 4));
    CHECK_CU(cu.cuMemcpyDtoH(tidx, ds + L.tile_index_offset, ntile * (size_t)L.tile_cap * 4));
    size_t poisoned = 0;
    for (size_t i = 0; i < nq; i++) {
        fo[i] = (float)sk_half_value(c->dtype, ho[i]);
        if (isnan(fo[i]) || isinf(fo[i])) poisoned++;
    }
    for (size_t i = 0; i < nl; i++)
        if (isnan(lse[i])) poisoned++;

    const int maxrows = 64;
    int *rows = malloc(sizeof(int) * (size_t)maxrows);
    int nrows = 0;
    if (c->sq <= maxrows) {
        for (int i = 0; i < c->sq; i++) rows[nrows++] = i;
    } else {
        const int edge[] = {0, 1, 15, 16, 63, 64, 127, 128, 129, 255, 256, c->sq - 1, c->sq - 2, c->sq - 129,
                            c->window, c->window + c->topk, c->sq - c->sk + c->window + c->topk};
        for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++)
            if (edge[e] >= 0 && edge[e] < c->sq) rows[nrows++] = edge[e];
        while (nrows < maxrows) rows[nrows++] = (int)(rng() % (uint64_t)c->sq);
    }
    enum { NT = 16 };
    pthread_t th[NT];
    ref_job jobs[NT];
    sparsek_sparse_attention_params host = sp;
    host.base.q = hq; host.base.k = hk; host.base.v = hv; host.scores = hu;
    host.base.o = NULL; host.base.lse = NULL;
    for (int t = 0; t < NT; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].rt = rt; jobs[t].c = c; jobs[t].host = host; jobs[t].o = fo; jobs[t].lse = lse;
        jobs[t].srow = srow; jobs[t].tcount = tcount; jobs[t].tidx = tidx;
        jobs[t].tile_cap = L.tile_cap; jobs[t].ntiles = L.ntiles; jobs[t].tile_rows = L.tile_rows;
        jobs[t].rows = rows; jobs[t].nrows = nrows; jobs[t].first_bh = t; jobs[t].step_bh = NT;
        pthread_create(&th[t], NULL, ref_worker, &jobs[t]);
    }
    row_errors errs = {0};
    double tau_err = 0;
    int sbad = 0, tbad = 0, ntl = 0;
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        row_errors_merge(&errs, &jobs[t].errs);
        sbad += jobs[t].sel_bad; tbad += jobs[t].tiles_bad; ntl += jobs[t].tiles; tiles_by_level += jobs[t].tiles_by_level;
        if (jobs[t].ref_failed) {
            fprintf(stderr, "reference failed: %s\n", sparsek_last_error(rt));
            fail = 1;
        }
        if (jobs[t].tau_err > tau_err) tau_err = jobs[t].tau_err;
    }
    rows_checked += (long)nrows * c->b * c->hkv;
    sel_bad += sbad; tiles_checked += ntl; tiles_bad += tbad;
    if (tau_err > worst_tau) worst_tau = tau_err;
    const double rel = row_errors_rel(&errs);
    const double tol = c->dtype == SPARSEK_BF16 ? 1.5e-2 : 2e-3;
    if (!(rel <= worst_rel[c->dtype])) worst_rel[c->dtype] = rel;
    if (!(rel <= tol) || poisoned || errs.lse_bad || sbad || tbad) fail = 1;
    char how[48] = "";
    if (state)
        snprintf(how, sizeof how, " state call %d/%d%s%s", call + 1, c->nseq, c->state_garbage ? " (garbage)" : "",
                 state->rebuild ? " rebuild" : "");
    else if (L.select_chunk) snprintf(how, sizeof how, " split-select");
    else if (L.select_anchor_tiles)
        snprintf(how, sizeof how, " anchored (%d anchors of %d tiles)", L.select_nanchor, L.select_anchor_tiles);
    if (verbose || fail)
        printf("%-4s b=%d sq=%-5d sk=%-5d hq=%-2d hkv=%-2d d=%-3d k=%-4d w=%-4d %s %-4s scores=%d %s %s rel=%.2e "
               "lse_err=%.1e tau_err=%.1e%s%s%s%s%s\n",
               fail ? "FAIL" : "ok", c->b, c->sq, c->sk, c->hq, c->hkv, c->d, c->topk, c->window,
               c->dtype == SPARSEK_BF16 ? "bf16" : "fp16", WNAME[c->weight], c->scores, c->layout ? "BHSD" : "BSHD",
               L.decode ? "decode" : "prefill", rel, errs.lse_err, tau_err, how, poisoned ? " POISON-LEFT" : "",
               errs.lse_bad ? " LSE-MISMATCH" : "", sbad ? " SELECTION-MISMATCH" : "", tbad ? " TILE-MISMATCH" : "");
    cu.cuMemFree(ds);
    free(ho); free(fo); free(lse); free(rows);
    free(srow); free(tcount); free(tidx);
    return fail;
}

/* The leading fields of tcase: one forward call (the fixed cases' table). */
typedef struct fixed_case {
    int b, sq, sk, hq, hkv, d, topk, window;
    sparsek_weight_mode weight;
    sparsek_dtype dtype;
    int scores, layout;
} fixed_case;
_Static_assert(offsetof(fixed_case, layout) == offsetof(tcase, layout), "fixed_case is tcase's first fields");

/* A fixed case as a tcase (one forward call). */
static tcase from_fixed(const fixed_case *f) {
    tcase c;
    memset(&c, 0, sizeof c);
    memcpy(&c, f, sizeof *f);
    return c;
}

/* The random cases' layout, batch and heads: Hkv 1 or 2, groups of 1, 4 or 8. */
static void random_heads(tcase *c) {
    static const int G[] = {1, 4, 8};
    c->layout = (int)(rng() % 2);
    c->hkv = 1 + (int)(rng() % 2);
    c->hq = c->hkv * pick(G, 3);
    c->b = 1 + (int)(rng() % 2);
}

/* Mostly normal scores; now and then ties, all equal or wide (tcase.scores 1, 2, 3). */
static int random_scores(void) {
    const int s = (int)(rng() % 8);
    return s < 5 ? 0 : s - 4;
}

/* A random case with Sq, Sk <= max_s (k and w drawn against the Sk actually used). */
static void random_case(tcase *c, int i, int max_s) {
    static const int D[] = {64, 96, 128, 256};
    static const int SQ[] = {1, 4, 16, 100, 0};
    c->d = D[i % 4];
    c->dtype = (i / 4) % 2 ? SPARSEK_BF16 : SPARSEK_FP16;
    c->weight = (sparsek_weight_mode)((i / 8) % 3);
    random_heads(c);
    const int smax = max_s < 3000 ? max_s : 3000;
    c->sk = (rng() % 4 == 0) ? 1 + (int)(rng() % (uint64_t)(smax < 64 ? smax : 64)) : 1 + (int)(rng() % (uint64_t)smax);
    const int sq = pick(SQ, 5);
    c->sq = sq == 0 ? c->sk : (sq > c->sk + 5 ? c->sk : sq);
    if (rng() % 8 == 0) c->sq = c->sk + 1 + (int)(rng() % 40); /* rows before the first key */
    if (c->sq > max_s) c->sq = max_s;
    c->topk = (rng() % 4 == 0) ? c->sk + (int)(rng() % 100) : 1 + (int)(rng() % (1 + c->sk / 3));
    c->window = (rng() % 5 == 0) ? c->sk + (int)(rng() % 50) : 1 + (int)(rng() % (1 + c->sk / 4));
    c->scores = random_scores();
}

/* A random decode-state sequence ending at Sk <= max_s: 3 to 10 calls, each adding Sq keys
 * (a generation step) or 0, 1, 7 or 300 keys; now and then one goes back (a shorter prefix than
 * the state's: the state is rebuilt). */
static void random_state_case(tcase *c, int i, int max_s) {
    static const int D[] = {64, 128};
    static const int SQ[] = {1, 1, 4, 16};
    memset(c, 0, sizeof *c);
    c->d = D[i % 2];
    c->dtype = (i / 2) % 2 ? SPARSEK_BF16 : SPARSEK_FP16;
    c->weight = (sparsek_weight_mode)((i / 4) % 3);
    random_heads(c);
    c->sq = pick(SQ, 4);
    const int smax = max_s < 6000 ? max_s : 6000;
    c->sk = c->sq + 1 + (int)(rng() % (uint64_t)smax);
    if (c->sk > max_s) c->sk = max_s;
    c->topk = (rng() % 6 == 0) ? c->sk + (int)(rng() % 100) : 1 + (int)(rng() % (1 + c->sk / 3));
    c->window = (rng() % 6 == 0) ? c->sk + (int)(rng() % 50) : 1 + (int)(rng() % (1 + c->sk / 4));
    c->scores = random_scores();
    c->nseq = 3 + (int)(rng() % 8);
    c->state_garbage = (int)(rng() % 2);
    c->rebuild_first = (int)(rng() % 2);
    static const int ADV[] = {0, 1, 7, 300};
    int sk = c->sk;
    for (int j = c->nseq - 1; j >= 0; j--) {
        c->seq[j] = sk;
        const int adv = rng() % 2 ? c->sq : pick(ADV, 4);
        sk = sk - adv >= 1 ? sk - adv : 1;
    }
    if (c->nseq > 3 && rng() % 4 == 0) { /* one call goes back: a state from a longer prefix */
        const int j = 1 + (int)(rng() % (uint64_t)(c->nseq - 2));
        const int t = c->seq[j];
        c->seq[j] = c->seq[j + 1];
        c->seq[j + 1] = t;
    }
}

static int open_runtime(sparsek_runtime **rt, const char *cache_dir) {
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.cache_dir = cache_dir;
    char msg[512];
    if (sparsek_runtime_create(rt, &o, msg, sizeof msg) != SPARSEK_OK) {
        fprintf(stderr, "runtime: %s\n", msg);
        return 1;
    }
    sparsek_device_info info;
    if (sparsek_runtime_device_info(*rt, &info) != SPARSEK_OK || !info.has_device) {
        printf("no GPU: skipped\n");
        sparsek_runtime_destroy(*rt);
        exit(77);
    }
    sk_err e;
    if (sk_cuda_open(&cu, &e) != SPARSEK_OK) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return 0;
}

int main(int argc, char **argv) {
    int nshapes = 60, max_s = 1 << 30, max_sq = 1 << 30, no_fixed = 0, verbose = 0, only_d = 0, state_only = 0;
    unsigned long long seed = 0x5eed;
    const char *cache = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shapes") && i + 1 < argc) nshapes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
        else if (!strcmp(argv[i], "--max-s") && i + 1 < argc) max_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-fixed")) no_fixed = 1;
        else if (!strcmp(argv[i], "--state")) state_only = 1;
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) only_d = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tiles") && i + 1 < argc) tiles = argv[++i];
        else if (!strcmp(argv[i], "--decode-tiles") && i + 1 < argc) decode_tiles = argv[++i];
        else if (!strcmp(argv[i], "--max-sq") && i + 1 < argc) max_sq = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--shapes N] [--seed S] [--cache DIR] [--max-s N] [--max-sq N] [--d D] "
                            "[--no-fixed] [--state] [--tiles CFG] [--decode-tiles CFG] [-v]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line at a time through tee and pipes */
    rng_state = seed * 2654435761ULL + 1;
    char tmp[] = "/tmp/sparsek-gpu-cache-XXXXXX";
    if (!cache) cache = mkdtemp(tmp);
    sparsek_runtime *rt;
    if (open_runtime(&rt, cache)) return 1;
    sparsek_device_info info;
    sparsek_runtime_device_info(rt, &info);
    printf("device: %s (%s, %d SMs), cache %s, seed %llu\n", info.name, info.arch, info.sm_count, cache, seed);

    int fails = 0, n = 0;
    /* b sq sk hq hkv d k w weight dtype scores layout */
    const fixed_case fixed[] = {
        /* decode: Sq 1, 4, 16 with G 1, 4, 8; k < |C| and k >= |C| */
        {2, 1, 4097, 8, 2, 128, 256, 64, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 4, 3000, 4, 1, 64, 100, 30, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 1},
        {2, 16, 2500, 16, 2, 128, 300, 17, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 1, 0},
        {1, 16, 2500, 8, 8, 96, 5000, 100, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 1, 7, 4, 1, 256, 2, 3, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        /* prefill: Sq == Sk, k < |C| and k >= |C|, ties, all equal, w > Sk */
        {1, 1000, 1000, 4, 1, 128, 64, 32, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        {2, 700, 700, 8, 2, 64, 50, 20, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 1},
        {1, 513, 513, 2, 2, 96, 40, 600, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 0, 0},
        {1, 400, 400, 4, 4, 256, 30, 10, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 2, 0},
        {1, 300, 300, 8, 1, 128, 1000, 5, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 3, 0},
        {1, 300, 300, 4, 1, 64, 40, 16, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {2, 260, 260, 8, 2, 64, 20, 8, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 1, 1},
        /* chunked prefill (Sq < Sk) and Sq > Sk */
        {1, 300, 2000, 8, 2, 128, 128, 64, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 90, 50, 4, 2, 64, 8, 4, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 0, 1},
        /* Sq - Sk >= 128 at d=128: whole 128-row tiles before the first key (no key block at all),
         * which the persistent pingpong kernel walks like the others */
        {1, 400, 100, 4, 1, 128, 16, 8, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {2, 333, 64, 8, 2, 128, 8, 40, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 1},
        /* d=128 groups the random cases do not draw: 2 (pack=2), 6 (pack=2, three head pairs a
         * group), 16 (pack=8, two head groups of 8 per KV head) */
        {1, 777, 777, 6, 3, 128, 100, 50, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 1500, 1500, 12, 2, 128, 200, 64, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 1, 1},
        {2, 523, 600, 16, 1, 128, 64, 33, SPARSEK_WEIGHT_HARD, SPARSEK_BF16, 0, 0},
        /* long: the benchmark's shape family at S = 8k and 32k (sampled rows) */
        {1, 8192, 8192, 4, 1, 128, 1024, 256, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        {1, 32768, 32768, 4, 1, 128, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 32768, 32768, 2, 1, 64, 2048, 512, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 1, 0},
        {1, 1, 32768, 8, 1, 128, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 4096, 32768, 4, 1, 128, 2048, 512, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 0, 0},
        /* ... the anchored selection (enough tiles not to take the split one): Hkv 2, and a
         * chunk of 8192 rows against 40000 keys with ties */
        {1, 32768, 32768, 4, 2, 128, 1024, 256, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 8192, 40000, 16, 8, 64, 2048, 512, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 1, 0},
        /* Sk > 65536: 256-row selection tiles, the larger tau buffer */
        {1, 700, 70000, 2, 1, 128, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 3, 70001, 4, 1, 128, 1024, 256, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 0},
        {1, 300, 70000, 2, 1, 64, 1024, 256, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 0, 0},
        /* the split selection (hist, compact, finish) at the library's threshold: decode over a
         * long cache, B 8 x Hkv 8 tiles */
        {8, 1, 20000, 32, 8, 128, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {2, 16, 40000, 16, 4, 128, 1024, 256, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 1, 0},
        /* ... with tied scores over four rows, and 131072 and 139744 prefix keys (16 and 18 chunks) */
        {2, 4, 30000, 8, 2, 64, 1000, 100, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 0},
        {1, 1, 131584, 8, 2, 64, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        {1, 1, 140000, 4, 1, 64, 1024, 256, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 3, 0},
        /* ... and below it, for the CPU emulator (tests/emu/run.sh lowers the threshold with
         * SPARSEK_SELECT_SPLIT_MIN): all equal (the top and tau lists are the whole prefix), a
         * tied grid, normal; several tiles; k near the prefix; a first tile with n0 <= k */
        {2, 1, 2600, 8, 2, 64, 64, 16, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 2, 0},
        {1, 3, 2900, 4, 1, 64, 100, 20, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 0},
        {1, 16, 3000, 8, 2, 64, 40, 8, SPARSEK_WEIGHT_HARD, SPARSEK_BF16, 0, 1},
        {1, 200, 2500, 2, 1, 64, 30, 10, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 3, 0},
        {1, 1, 2500, 4, 1, 64, 2400, 5, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0},
        {1, 130, 2600, 4, 1, 64, 2300, 200, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 0},
        {1, 2, 2600, 4, 1, 64, 50, 30, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 2, 0},
        /* the anchored selection below its threshold, for the CPU emulator and the device's
         * knob pass (SPARSEK_SELECT_ANCHOR_MIN lowers it): normal, ties on a grid, all equal;
         * first anchors with n <= k; chunked prefill; 17 tiles (anchors of 2 tiles, the last
         * one short) */
        {1, 1100, 1100, 4, 1, 64, 100, 30, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        {1, 900, 900, 8, 2, 64, 60, 20, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 1},
        {1, 800, 800, 4, 1, 64, 50, 10, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 2, 0},
        {1, 1000, 1000, 4, 1, 64, 400, 16, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 3, 0},
        {1, 600, 2600, 8, 2, 64, 300, 100, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0},
        {1, 2100, 2100, 2, 1, 64, 200, 40, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 1},
        /* all scores equal over a long prefix: more tau candidates than the selection keeps in
         * shared memory, so its exact slow path runs (ties broken by index) */
        {1, 1, 50000, 4, 1, 64, 100, 10, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 2, 0},
        {1, 2, 50000, 4, 1, 64, 3000, 10, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 0},
    };
    for (size_t i = 0; !no_fixed && !state_only && i < sizeof fixed / sizeof fixed[0]; i++) {
        tcase c = from_fixed(&fixed[i]);
        if (c.sq > max_s || c.sk > max_s || c.sq > max_sq || (only_d && c.d != only_d)) continue;
        fails += run_case(rt, &c, 1);
        n++;
    }
    /* Decode-state sequences (--state): b sq sk hq hkv d k w weight dtype scores layout, then the
     * calls' seqlen_k and whether the state starts as garbage. The first call rebuilds the state
     * from the whole row; the later ones read it. */
    const struct { fixed_case f; int nseq, seq[12], garbage, rebuild; } fixed_state[] = {
        /* the benchmark's kind: k=2048, w=512; first a prefix longer than the tau buffer (the
         * rebuild's bucketed tau), then one key a call, a repeat, a jump */
        {{2, 1, 70000, 8, 2, 128, 2048, 512, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 0, 0}, 6,
         {69990, 69991, 69992, 69992, 69993, 70000}, 1, 0},
        /* ... the first call asking for a rebuild: on the split selection's lists */
        {{2, 1, 70000, 8, 2, 128, 2048, 512, SPARSEK_WEIGHT_KV, SPARSEK_FP16, 0, 1}, 4, {69000, 69001, 69002, 70000}, 1, 1},
        /* all scores equal: every key a tau candidate (the list outgrows shared memory) and each
         * new key the new k-th (ties go to the larger index) */
        {{1, 1, 50000, 4, 1, 64, 100, 10, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 2, 0}, 4, {49990, 49991, 49995, 50000}, 0, 1},
        /* ties on a grid, 16 rows a call */
        {{2, 16, 3000, 16, 2, 64, 300, 17, SPARSEK_WEIGHT_HARD, SPARSEK_FP16, 1, 0}, 8,
         {2888, 2904, 2920, 2936, 2952, 2968, 2984, 3000}, 0, 1},
        /* the prefix crosses k: every candidate, then the top k */
        {{1, 4, 700, 8, 1, 64, 500, 20, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 0, 1}, 6, {100, 300, 510, 520, 524, 700}, 1, 0},
        /* one key a call (decode_step: theta0 moves in about a third of the calls, tau's window
         * walk), on normal scores and on a tied grid */
        {{2, 1, 3000, 8, 2, 64, 1000, 16, SPARSEK_WEIGHT_GATE, SPARSEK_FP16, 0, 0}, 12,
         {2989, 2990, 2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999, 3000}, 0, 0},
        {{1, 1, 3000, 4, 1, 64, 700, 16, SPARSEK_WEIGHT_KV, SPARSEK_BF16, 1, 1}, 12,
         {2989, 2990, 2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999, 3000}, 1, 1},
        /* normal * 3, G=8, a step back (the state is from a longer prefix: rebuilt) */
        {{1, 1, 5000, 8, 1, 64, 200, 64, SPARSEK_WEIGHT_GATE, SPARSEK_BF16, 3, 0}, 5, {4000, 4001, 4900, 4002, 5000}, 0, 0},
    };
    for (size_t i = 0; !no_fixed && state_only && i < sizeof fixed_state / sizeof fixed_state[0]; i++) {
        tcase c = from_fixed(&fixed_state[i].f);
        c.nseq = fixed_state[i].nseq;
        memcpy(c.seq, fixed_state[i].seq, sizeof c.seq);
        c.state_garbage = fixed_state[i].garbage;
        c.rebuild_first = fixed_state[i].rebuild;
        if (c.sk > max_s || c.sq > max_sq || (only_d && c.d != only_d)) continue;
        fails += run_case(rt, &c, 1);
        n++;
    }
    for (int i = 0; i < nshapes; i++, n++) {
        tcase c;
        if (state_only) random_state_case(&c, i, max_s);
        else random_case(&c, i, max_s);
        if (only_d) c.d = only_d;
        fails += run_case(rt, &c, verbose);
    }
    printf("sparse correctness%s: %d/%d cases passed (%ld took the split selection, %ld the anchored one, %ld "
           "decode-state calls); worst relative error fp16 %.2e (limit 2e-3), bf16 %.2e (limit 1.5e-2); selection %ld "
           "rows checked, %ld mismatched, worst |tau err| %.1e; tiles %ld checked (%ld by level), %ld mismatched\n",
           state_only ? " (decode state)" : "", n - fails, n, split_cases, anchored_cases, state_calls,
           worst_rel[SPARSEK_FP16],
           worst_rel[SPARSEK_BF16], rows_checked, sel_bad, worst_tau, tiles_checked, tiles_by_level, tiles_bad);
    sparsek_runtime_destroy(rt);
    return fails ? 1 : 0;
}
