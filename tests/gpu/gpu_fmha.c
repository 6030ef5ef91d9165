/* gpu_fmha.c — GPU test of dense attention forward through the whole pipeline.
 *
 *   gpu_fmha [--shapes N] [--seed S] [--cache DIR] [--max-s N] [--no-fixed] [--tiles CFG]
 *                                                    random shapes vs a float64 reference
 *   gpu_fmha --reload DIR [--tiles CFG] [--case ...] second-process check: load DIR with
 *                                                    sparsek_runtime_load, NVRTC disabled
 * --tiles passes CFG (e.g. "path=mma") as the tile config of every launch, so each kernel path
 * can be checked on a device whose default is another one.
 * Exits 77 when no GPU is present (the build system reads that as "skipped").
 *
 * Each case: random inputs rounded to fp16/bf16, outputs poisoned with NaN first, the kernel
 * launched through sparsek_attention_forward, then every output element checked for poison
 * and the relative error ||out - ref|| / ||ref|| taken over sampled rows against a float64
 * reference computed from the same rounded inputs. LSE is checked on the same rows. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk_halfs.h"
#include "gpu_common.h"

static const char *tiles; /* --tiles: the tile config of every launch (NULL: the default choice) */

/* ---- one case ---------------------------------------------------------------------------- */

typedef struct tcase {
    int b, sq, sk, hq, hkv, d, causal, layout;
    sparsek_dtype dtype;
} tcase;

typedef struct ref_job {
    sparsek_runtime *rt;
    const tcase *c;
    sparsek_attention_params host; /* q, k, v: host copies of the rounded inputs */
    const float *o;                /* kernel output, device layout */
    const float *lse;              /* kernel LSE [B,Hq,Sq] */
    int *rows;                     /* sampled query rows */
    int nrows;
    int first_bh, step_bh;         /* (batch, head) pairs this worker checks */
    row_errors errs;
    int ref_failed;
} ref_job;

/* Compares the sampled rows of this worker's (batch, head) pairs with the library's float64
 * reference (sparsek_reference_attention_rows). */
static void *ref_worker(void *arg) {
    ref_job *j = arg;
    const tcase *c = j->c;
    const sparsek_attention_params *p = &j->host;
    double *ref = malloc(sizeof(double) * (size_t)j->nrows * c->d), *lref = malloc(sizeof(double) * (size_t)j->nrows);
    for (int bh = j->first_bh; bh < c->b * c->hq; bh += j->step_bh) {
        const int bi = bh / c->hq, h = bh % c->hq;
        if (sparsek_reference_attention_rows(j->rt, p, bi, h, j->rows, j->nrows, ref, lref) != SPARSEK_OK) {
            j->ref_failed++;
            continue;
        }
        row_errors_add(&j->errs, p, j->o, j->lse, bi, h, j->rows, j->nrows, ref, lref);
    }
    free(ref);
    free(lref);
    return NULL;
}


static double worst_rel[2]; /* per dtype, over every case run */

/* Runs one case; returns 0 on pass. */
static int run_case(sparsek_runtime *rt, const tcase *c, int verbose) {
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.dtype = c->dtype;
    p.batch = c->b; p.seqlen_q = c->sq; p.seqlen_k = c->sk;
    p.heads_q = c->hq; p.heads_kv = c->hkv; p.head_dim = c->d;
    p.causal = c->causal;
    if (sparsek_attention_params_set_layout(&p, c->layout) != SPARSEK_OK) {
        fprintf(stderr, "set_layout failed\n");
        return 1;
    }
    const size_t nq = (size_t)c->b * c->sq * c->hq * c->d, nk = (size_t)c->b * c->sk * c->hkv * c->d;
    uint16_t *hq = malloc(nq * 2), *hk = malloc(nk * 2), *hv = malloc(nk * 2), *ho = malloc(nq * 2);
    float *fo = malloc(nq * 4);
    const size_t nl = (size_t)c->b * c->hq * c->sq;
    float *lse = malloc(nl * 4);
    for (size_t i = 0; i < nq; i++) hq[i] = sk_half_from_float(c->dtype, (float)nrand());
    for (size_t i = 0; i < nk; i++) hk[i] = sk_half_from_float(c->dtype, (float)nrand());
    for (size_t i = 0; i < nk; i++) hv[i] = sk_half_from_float(c->dtype, (float)nrand());
    CUdeviceptr dq, dk, dv, dout, dl;
    CHECK_CU(cu.cuMemAlloc(&dq, nq * 2));
    CHECK_CU(cu.cuMemAlloc(&dk, nk * 2));
    CHECK_CU(cu.cuMemAlloc(&dv, nk * 2));
    CHECK_CU(cu.cuMemAlloc(&dout, nq * 2));
    CHECK_CU(cu.cuMemAlloc(&dl, nl * 4));
    CHECK_CU(cu.cuMemcpyHtoD(dq, hq, nq * 2));
    CHECK_CU(cu.cuMemcpyHtoD(dk, hk, nk * 2));
    CHECK_CU(cu.cuMemcpyHtoD(dv, hv, nk * 2));
    CHECK_CU(cu.cuMemsetD8(dout, 0xff, nq * 2)); /* 0xffff: NaN in fp16 and bf16 */
    CHECK_CU(cu.cuMemsetD8(dl, 0xff, nl * 4));   /* NaN in float32 */
    p.q = (void *)dq; p.k = (void *)dk; p.v = (void *)dv; p.o = (void *)dout; p.lse = (float *)dl;
    int fail = 0;
    sparsek_status st = sparsek_attention_forward_with(rt, &p, tiles, NULL);
    if (st != SPARSEK_OK) {
        fprintf(stderr, "sparsek_attention_forward: %s: %s\n", sparsek_status_name(st), sparsek_last_error(rt));
        fail = 1;
    }
    CHECK_CU(cu.cuCtxSynchronize());
    CHECK_CU(cu.cuMemcpyDtoH(ho, dout, nq * 2));
    CHECK_CU(cu.cuMemcpyDtoH(lse, dl, nl * 4));
    size_t poisoned = 0;
    for (size_t i = 0; i < nq; i++) {
        fo[i] = (float)sk_half_value(c->dtype, ho[i]);
        if (isnan(fo[i]) || isinf(fo[i])) poisoned++;
    }
    for (size_t i = 0; i < nl; i++)
        if (isnan(lse[i])) poisoned++;

    /* Rows to check: all of them for small cases, else the edges plus a random sample. */
    int maxrows = 96;
    int *rows = malloc(sizeof(int) * (size_t)(c->sq < maxrows ? c->sq : maxrows));
    int nrows = 0;
    if (c->sq <= maxrows) {
        for (int i = 0; i < c->sq; i++) rows[nrows++] = i;
    } else {
        const int edge[] = {0, 1, 15, 16, 63, 64, 127, 128, c->sq - 1, c->sq - 2, c->sq - 65};
        for (size_t e = 0; e < sizeof edge / sizeof edge[0]; e++)
            if (edge[e] >= 0 && edge[e] < c->sq) rows[nrows++] = edge[e];
        while (nrows < maxrows) rows[nrows++] = (int)(rng() % (uint64_t)c->sq);
    }
    enum { NT = 16 };
    pthread_t th[NT];
    ref_job jobs[NT];
    for (int t = 0; t < NT; t++) {
        jobs[t] = (ref_job){.rt = rt, .c = c, .host = p, .o = fo, .lse = lse, .rows = rows, .nrows = nrows, .first_bh = t, .step_bh = NT};
        jobs[t].host.q = hq; jobs[t].host.k = hk; jobs[t].host.v = hv;
        pthread_create(&th[t], NULL, ref_worker, &jobs[t]);
    }
    row_errors errs = {0};
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        row_errors_merge(&errs, &jobs[t].errs);
        if (jobs[t].ref_failed) {
            fprintf(stderr, "reference failed: %s\n", sparsek_last_error(rt));
            fail = 1;
        }
    }
    const double rel = row_errors_rel(&errs);
    const double tol = c->dtype == SPARSEK_BF16 ? 1.5e-2 : 2e-3;
    if (!(rel <= worst_rel[c->dtype])) worst_rel[c->dtype] = rel;
    if (!(rel <= tol) || poisoned || errs.lse_bad) fail = 1;
    if (verbose || fail)
        printf("%-4s b=%d sq=%-5d sk=%-5d hq=%-2d hkv=%-2d d=%-3d %s %-6s %s rel=%.2e lse_err=%.1e%s%s\n",
               fail ? "FAIL" : "ok", c->b, c->sq, c->sk, c->hq, c->hkv, c->d, c->dtype == SPARSEK_BF16 ? "bf16" : "fp16",
               c->causal ? "causal" : "full", c->layout ? "BHSD" : "BSHD", rel, errs.lse_err,
               poisoned ? " POISON-LEFT" : "", errs.lse_bad ? " LSE-MISMATCH" : "");
    cu.cuMemFree(dq); cu.cuMemFree(dk); cu.cuMemFree(dv); cu.cuMemFree(dout); cu.cuMemFree(dl);
    free(hq); free(hk); free(hv); free(ho); free(fo); free(lse); free(rows);
    return fail;
}

static void random_case(tcase *c, int i) {
    static const int S[] = {1, 7, 63, 65, 127, 128, 1000, 4097};
    static const int D[] = {64, 96, 128, 256};
    static const int G[] = {1, 4, 8};
    c->d = D[i % 4];
    c->dtype = (i / 4) % 2 ? SPARSEK_BF16 : SPARSEK_FP16;
    c->causal = (i / 8) % 2;
    c->layout = (int)(rng() % 2);
    c->hkv = 1 + (int)(rng() % 2);
    c->hq = c->hkv * pick(G, 3);
    c->b = 1 + (int)(rng() % 2);
    c->sq = (rng() % 3 == 0) ? 1 + (int)(rng() % 700) : pick(S, 8);
    c->sk = (rng() % 3 == 0) ? c->sq : ((rng() % 2) ? 1 + (int)(rng() % 2100) : pick(S, 8));
    /* Keep the float64 reference affordable: long sequences get one batch and few heads. */
    if ((double)c->sq * c->sk > 4e6) { c->b = 1; c->hkv = 1; c->hq = pick(G, 3); }
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
    int nshapes = 120;
    unsigned long long seed = 0x5eed;
    const char *cache = NULL, *reload = NULL, *case_arg = NULL;
    int max_s = 1 << 30, no_fixed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shapes") && i + 1 < argc) nshapes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
        else if (!strcmp(argv[i], "--reload") && i + 1 < argc) reload = argv[++i];
        else if (!strcmp(argv[i], "--max-s") && i + 1 < argc) max_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-fixed")) no_fixed = 1;
        else if (!strcmp(argv[i], "--tiles") && i + 1 < argc) tiles = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc) case_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--shapes N] [--seed S] [--cache DIR] [--max-s N] [--no-fixed] [--tiles CFG] "
                            "[--case B,SQ,SK,HQ,HKV,D,CAUSAL,LAYOUT,BF16] | --reload DIR [--tiles CFG] [--case ...]\n", argv[0]);
            return 2;
        }
    }
    /* --case: one shape, B,SQ,SK,HQ,HKV,D,CAUSAL,LAYOUT,BF16 */
    tcase one = {0};
    if (case_arg) {
        int bf16 = 1;
        if (sscanf(case_arg, "%d,%d,%d,%d,%d,%d,%d,%d,%d", &one.b, &one.sq, &one.sk, &one.hq, &one.hkv, &one.d,
                   &one.causal, &one.layout, &bf16) != 9) {
            fprintf(stderr, "--case wants B,SQ,SK,HQ,HKV,D,CAUSAL,LAYOUT,BF16\n");
            return 2;
        }
        one.dtype = bf16 ? SPARSEK_BF16 : SPARSEK_FP16;
    }
    rng_state = seed * 2654435761ULL + 1;
    sparsek_runtime *rt;

    if (reload) {
        /* Second process: NVRTC must not be needed. */
        setenv("SPARSEK_NVRTC_LIBRARY", "/nonexistent/libnvrtc.so", 1);
        if (open_runtime(&rt, "/nonexistent-cache-dir")) return 1;
        sparsek_status st = sparsek_runtime_load(rt, reload);
        int loaded = 0, rejected = 0;
        sparsek_runtime_load_stats(rt, &loaded, &rejected);
        printf("reload: sparsek_runtime_load(%s) = %s, %d loaded, %d rejected\n", reload, sparsek_status_name(st),
               loaded, rejected);
        if (st != SPARSEK_OK || loaded == 0) {
            fprintf(stderr, "%s\n", sparsek_last_error(rt));
            return 1;
        }
        /* Default: a shape no first-process case had, served by the kernel the first fixed case
         * compiled (or, on a pretuned folder, by the nearest tuned bucket's). */
        const tcase dflt = {2, 333, 517, 8, 2, 128, 1, 0, SPARSEK_BF16};
        int fail = run_case(rt, case_arg ? &one : &dflt, 1);
        sparsek_runtime_destroy(rt);
        printf("reload from cache without NVRTC: %s\n", fail ? "FAILED" : "passed");
        return fail;
    }

    char tmp[] = "/tmp/sparsek-gpu-cache-XXXXXX";
    if (!cache) cache = mkdtemp(tmp);
    if (open_runtime(&rt, cache)) return 1;
    sparsek_device_info info;
    sparsek_runtime_device_info(rt, &info);
    printf("device: %s (%s, %d SMs, driver %d), cache %s, seed %llu, tiles '%s'\n", info.name, info.arch,
           info.sm_count, info.driver_version, cache, seed, tiles ? tiles : "");

    /* --case without --reload: that one case only (verbose), e.g. to re-run a failure. */
    if (case_arg) {
        const int fail = run_case(rt, &one, 1);
        sparsek_runtime_destroy(rt);
        return fail;
    }
    int fails = 0, n = 0;
    /* Fixed edge cases first: decode, Sq > Sk causal (rows with no keys), tiny and odd sizes. */
    const tcase fixed[] = {
        {1, 1, 4097, 8, 1, 128, 1, 0, SPARSEK_BF16},  {1, 65, 7, 4, 4, 64, 1, 1, SPARSEK_FP16},
        {2, 127, 63, 8, 2, 96, 1, 0, SPARSEK_BF16},   {1, 4097, 4097, 1, 1, 256, 1, 1, SPARSEK_FP16},
        {1, 1000, 1000, 4, 1, 128, 0, 0, SPARSEK_FP16}, {3, 7, 1, 2, 2, 64, 0, 1, SPARSEK_BF16},
        {1, 512, 512, 8, 8, 64, 0, 0, SPARSEK_BF16},
    };
    for (size_t i = 0; !no_fixed && i < sizeof fixed / sizeof fixed[0]; i++, n++) fails += run_case(rt, &fixed[i], 1);
    tcase last = {0};
    for (int i = 0; i < nshapes; i++, n++) {
        tcase c;
        random_case(&c, i);
        if (c.sq > max_s) c.sq = max_s;
        if (c.sk > max_s) c.sk = max_s;
        fails += run_case(rt, &c, 0);
        last = c;
    }
    printf("correctness: %d/%d cases passed; worst relative error fp16 %.2e (limit 2e-3), bf16 %.2e (limit 1.5e-2)\n",
           n - fails, n, worst_rel[SPARSEK_FP16], worst_rel[SPARSEK_BF16]);

    /* Pipeline: the kernels above were compiled at run time and stored in the cache; a second
     * process must load them with sparsek_runtime_load and no NVRTC, and compute correctly. */
    sparsek_runtime_destroy(rt);
    char cmd[1024], reload_arg[128] = "";
    if (no_fixed && nshapes > 0) /* the default reload case needs the first fixed case's kernel */
        snprintf(reload_arg, sizeof reload_arg, " --case %d,%d,%d,%d,%d,%d,%d,%d,%d", last.b, last.sq, last.sk, last.hq,
                 last.hkv, last.d, last.causal, last.layout, last.dtype == SPARSEK_BF16);
    snprintf(cmd, sizeof cmd, "'%s' --reload '%s'%s%s%s%s", argv[0], cache, tiles ? " --tiles '" : "", tiles ? tiles : "",
             tiles ? "'" : "", reload_arg);
    int rc = system(cmd);
    int reload_ok = WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
    printf("second process reload: %s\n", reload_ok ? "passed" : "FAILED");
    return (fails || !reload_ok) ? 1 : 0;
}
