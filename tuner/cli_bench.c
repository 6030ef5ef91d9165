/* cli_bench.c — `sparsek-tune bench`: time dense attention on this GPU, for one tile config
 * against the default choice, after checking both against the float64 reference.
 *
 * Timing: warm-up launches, then one CUDA event pair around each launch, median and minimum
 * over the runs; inputs rotate over enough buffer sets to exceed twice the L2 cache, so
 * repeated runs do not measure the cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_bench.h"
#include "sk_autotune.h"
#include "sk_halfs.h"
#include "sk_runtime.h"
#include "sk_tune_fmha.h"
#include "sk_tuned.h"

void sk_bench_usage(FILE *f, const char *prog) {
    fprintf(f,
            "usage: %s bench fmha_fwd [b=1] [h=16] [hkv=H] [s=4096 | sq=.. sk=..] [d=128] [dtype=bf16]\n"
            "                          [causal=0] [layout=bshd|bhsd] [TILE KEYS ...] [--iters N] [--warmup N]\n"
            "                          [--load DIR] [--json]\n"
            "\n"
            "Times dense attention on the local GPU: the heuristic choice, the cached tuned winner of the\n"
            "shape's bucket (or the nearest tuned bucket) when the cache (or DIR, loaded first with\n"
            "sparsek_runtime_load) has one, and the tile config given by the tile keys (m, n, warps,\n"
            "stages, layout, minblocks, qregs, sunroll; see '%s families'), each checked first against the\n"
            "float64 reference on sampled rows (random N(0,1) inputs).\n"
            "Prints the median and minimum over --iters runs (default 50, after --warmup 10), TFLOP/s\n"
            "(4*B*H*Sq*Sk*D, halved for causal) and the speed-up over the heuristic. Needs a GPU.\n",
            prog, prog);
}

typedef struct bench_shape {
    int b, h, hkv, sq, sk, d, causal, layout;
    sparsek_dtype dtype;
    char tiles[1024];
} bench_shape;

static int parse_int(const char *v, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end != 0 || x < 0 || x > 1 << 30) return -1;
    *out = (int)x;
    return 0;
}

/* Problem keys go to the shape; anything else is a tile key for the kernel config. */
static int parse_shape(int argc, char **argv, bench_shape *s, int *iters, int *warmup, int *json, const char **load,
                       const char *prog) {
    memset(s, 0, sizeof *s);
    s->b = 1; s->h = 16; s->hkv = 0; s->sq = s->sk = 4096; s->d = 128; s->dtype = SPARSEK_BF16;
    *iters = 50; *warmup = 10; *json = 0;
    if (argc < 1 || strcmp(argv[0], "fmha_fwd") != 0) {
        fprintf(stderr, "%s bench: the family must be fmha_fwd\n", prog);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { *json = 1; continue; }
        if (!strcmp(a, "--load") && i + 1 < argc) { *load = argv[++i]; continue; }
        if ((!strcmp(a, "--iters") || !strcmp(a, "--warmup")) && i + 1 < argc) {
            int *dst = a[2] == 'i' ? iters : warmup;
            if (parse_int(argv[++i], dst) || (dst == iters && *dst < 1)) {
                fprintf(stderr, "%s bench: bad %s value '%s'\n", prog, a, argv[i]);
                return 2;
            }
            continue;
        }
        const char *eq = strchr(a, '=');
        if (a[0] == '-' || !eq) {
            fprintf(stderr, "%s bench: unexpected argument '%s'\n", prog, a);
            return 2;
        }
        size_t kl = (size_t)(eq - a);
        const char *v = eq + 1;
        int *ip = NULL;
        if (kl == 1 && a[0] == 'b') ip = &s->b;
        else if (kl == 1 && a[0] == 'h') ip = &s->h;
        else if (kl == 3 && !strncmp(a, "hkv", 3)) ip = &s->hkv;
        else if (kl == 2 && !strncmp(a, "sq", 2)) ip = &s->sq;
        else if (kl == 2 && !strncmp(a, "sk", 2)) ip = &s->sk;
        else if (kl == 1 && a[0] == 'd') ip = &s->d;
        else if (kl == 6 && !strncmp(a, "causal", 6)) ip = &s->causal;
        if (ip) {
            if (parse_int(v, ip)) {
                fprintf(stderr, "%s bench: bad value in '%s'\n", prog, a);
                return 2;
            }
        } else if (kl == 1 && a[0] == 's') {
            if (parse_int(v, &s->sq)) { fprintf(stderr, "%s bench: bad value in '%s'\n", prog, a); return 2; }
            s->sk = s->sq;
        } else if (kl == 5 && !strncmp(a, "dtype", 5)) {
            if (!strcmp(v, "bf16")) s->dtype = SPARSEK_BF16;
            else if (!strcmp(v, "fp16")) s->dtype = SPARSEK_FP16;
            else { fprintf(stderr, "%s bench: dtype must be fp16 or bf16\n", prog); return 2; }
        } else if (kl == 6 && !strncmp(a, "layout", 6) && (!strcmp(v, "bshd") || !strcmp(v, "bhsd"))) {
            s->layout = !strcmp(v, "bhsd");
        } else {
            size_t used = strlen(s->tiles);
            if (used + strlen(a) + 2 > sizeof s->tiles) { fprintf(stderr, "%s bench: too many keys\n", prog); return 2; }
            snprintf(s->tiles + used, sizeof s->tiles - used, "%s%s", used ? " " : "", a);
        }
    }
    if (!s->hkv) s->hkv = s->h;
    return 0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct bench_result {
    double median_us, min_us, rel_err;
    char config[512];
} bench_result;

#define CU_TRY(call, what)                                                                    \
    do {                                                                                      \
        sk_err e_;                                                                            \
        if (sk_cuda_check(cu, (call), what, &e_)) {                                           \
            fprintf(stderr, "%s bench: %s\n", prog, e_.msg);                                  \
            goto fail;                                                                        \
        }                                                                                     \
    } while (0)

/* Checks then times one tile config ("" = default) over the rotating buffer sets. */
static int run_one(sparsek_runtime *rt, sparsek_attention_params *sets, int nsets, const sparsek_attention_params *host,
                   size_t o_elems, const char *tiles, int iters, int warmup, bench_result *res, const char *prog) {
    sk_cuda *cu = &rt->cu;
    CUevent *ev = calloc((size_t)iters * 2, sizeof *ev);
    float *ms = calloc((size_t)iters, sizeof *ms);
    uint16_t *o = malloc(o_elems * 2);
    double *ref = NULL, *lse = NULL;
    int rc = 1;
    if (!ev || !ms || !o) { fprintf(stderr, "%s bench: out of memory\n", prog); goto fail; }
    sparsek_status st = sparsek_attention_forward_config(rt, &sets[0], res->config, sizeof res->config);
    if (!st && *tiles) {
        /* The config asked for: the problem keys with the caller's tile keys. */
        char problem[128];
        snprintf(problem, sizeof problem, "d=%d dtype=%s causal=%d", sets[0].head_dim,
                 sets[0].dtype == SPARSEK_BF16 ? "bf16" : "fp16", sets[0].causal ? 1 : 0);
        snprintf(res->config, sizeof res->config, "%s %s", problem, tiles);
    }
    /* Correctness first: poison, run, compare sampled rows with the float64 reference. */
    CU_TRY(cu->cuMemsetD8((CUdeviceptr)sets[0].o, 0xff, o_elems * 2), "cuMemsetD8");
    st = sparsek_attention_forward_with(rt, &sets[0], tiles, NULL);
    if (st) {
        fprintf(stderr, "%s bench: %s: %s\n", prog, sparsek_status_name(st), sparsek_last_error(rt));
        goto fail;
    }
    CU_TRY(cu->cuCtxSynchronize(), "kernel");
    CU_TRY(cu->cuMemcpyDtoH(o, (CUdeviceptr)sets[0].o, o_elems * 2), "cuMemcpyDtoH");
    {
        int rows[16], nrows = 0;
        const int sq = host->seqlen_q;
        const int cand[16] = {0, 1, sq / 7, sq / 3, sq / 2, sq - 65, sq - 2, sq - 1};
        for (int i = 0; i < 8; i++)
            if (cand[i] >= 0 && cand[i] < sq) rows[nrows++] = cand[i];
        const int d = host->head_dim;
        ref = malloc(sizeof(double) * (size_t)nrows * d);
        lse = malloc(sizeof(double) * (size_t)nrows);
        if (!ref || !lse) { fprintf(stderr, "%s bench: out of memory\n", prog); goto fail; }
        double err2 = 0, ref2 = 0;
        const int heads[2][2] = {{0, 0}, {host->batch - 1, host->heads_q - 1}};
        for (int t = 0; t < 2; t++) {
            const int b = heads[t][0], h = heads[t][1];
            if (sparsek_reference_attention_rows(rt, host, b, h, rows, nrows, ref, lse)) {
                fprintf(stderr, "%s bench: reference: %s\n", prog, sparsek_last_error(rt));
                goto fail;
            }
            for (int r = 0; r < nrows; r++)
                for (int x = 0; x < d; x++) {
                    const int64_t off = b * host->o_stride[0] + (int64_t)rows[r] * host->o_stride[1] + h * host->o_stride[2] + x;
                    const double got = sk_half_value(host->dtype, o[off]), want = ref[(size_t)r * d + x];
                    err2 += isnan(got) ? INFINITY : (got - want) * (got - want);
                    ref2 += want * want;
                }
        }
        res->rel_err = sqrt(err2 / (ref2 > 0 ? ref2 : 1));
        const double tol = host->dtype == SPARSEK_BF16 ? 1.5e-2 : 2e-3;
        if (!(res->rel_err <= tol)) {
            fprintf(stderr, "%s bench: WRONG result for '%s': relative error %.3g (limit %.1g); not timed\n", prog,
                    res->config, res->rel_err, tol);
            goto fail;
        }
    }
    for (int i = 0; i < warmup; i++) sparsek_attention_forward_with(rt, &sets[i % nsets], tiles, NULL);
    for (int i = 0; i < 2 * iters; i++) CU_TRY(cu->cuEventCreate(&ev[i], 0), "cuEventCreate");
    for (int i = 0; i < iters; i++) {
        CU_TRY(cu->cuEventRecord(ev[2 * i], NULL), "cuEventRecord");
        st = sparsek_attention_forward_with(rt, &sets[i % nsets], tiles, NULL);
        if (st) { fprintf(stderr, "%s bench: %s\n", prog, sparsek_last_error(rt)); goto fail; }
        CU_TRY(cu->cuEventRecord(ev[2 * i + 1], NULL), "cuEventRecord");
    }
    CU_TRY(cu->cuEventSynchronize(ev[2 * iters - 1]), "cuEventSynchronize");
    for (int i = 0; i < iters; i++) CU_TRY(cu->cuEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]), "cuEventElapsedTime");
    qsort(ms, (size_t)iters, sizeof *ms, cmp_float);
    res->median_us = 1e3 * (iters % 2 ? ms[iters / 2] : 0.5 * (ms[iters / 2 - 1] + ms[iters / 2]));
    res->min_us = 1e3 * ms[0];
    rc = 0;
fail:
    if (ev)
        for (int i = 0; i < 2 * iters; i++)
            if (ev[i]) cu->cuEventDestroy(ev[i]);
    free(ev); free(ms); free(o); free(ref); free(lse);
    return rc;
}

int sk_bench_main(int argc, char **argv, const char *prog) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { sk_bench_usage(stdout, prog); return 0; }
    bench_shape s;
    int iters, warmup, json;
    const char *load = NULL;
    int rc = parse_shape(argc, argv, &s, &iters, &warmup, &json, &load, prog);
    if (rc) { sk_bench_usage(stderr, prog); return rc; }

    sparsek_runtime *rt = NULL;
    char msg[512];
    if (sparsek_runtime_create(&rt, NULL, msg, sizeof msg)) { fprintf(stderr, "%s bench: %s\n", prog, msg); return 1; }
    sparsek_device_info info;
    if (sparsek_runtime_device_info(rt, &info) || !info.has_device) {
        fprintf(stderr, "%s bench: no GPU: %s\n", prog, rt->cuda_err.msg[0] ? rt->cuda_err.msg : sparsek_last_error(rt));
        sparsek_runtime_destroy(rt);
        return 1;
    }
    if (load && sparsek_runtime_load(rt, load)) {
        fprintf(stderr, "%s bench: %s\n", prog, sparsek_last_error(rt));
        sparsek_runtime_destroy(rt);
        return 1;
    }
    sk_cuda *cu = &rt->cu;
    sparsek_attention_params host;
    memset(&host, 0, sizeof host);
    host.dtype = s.dtype; host.batch = s.b; host.seqlen_q = s.sq; host.seqlen_k = s.sk;
    host.heads_q = s.h; host.heads_kv = s.hkv; host.head_dim = s.d; host.causal = s.causal;
    if (sparsek_attention_params_set_layout(&host, s.layout)) {
        fprintf(stderr, "%s bench: invalid shape (all dims >= 1)\n", prog);
        sparsek_runtime_destroy(rt);
        return 2;
    }
    const size_t nq = (size_t)s.b * s.sq * s.h * s.d, nk = (size_t)s.b * s.sk * s.hkv * s.d;
    const size_t set_bytes = 2 * (2 * nq + 2 * nk);
    int l2 = 0;
    cu->cuDeviceGetAttribute(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, rt->dev);
    int nsets = (int)((2.0 * l2) / (double)set_bytes) + 1;
    if (nsets > 16) nsets = 16;
    uint16_t *hq = malloc(nq * 2), *hk = malloc(nk * 2), *hv = malloc(nk * 2);
    sparsek_attention_params *sets = calloc((size_t)nsets, sizeof *sets);
    CUdeviceptr *mem = calloc((size_t)nsets * 4, sizeof *mem);
    bench_result tuned, dflt, heur;
    memset(&tuned, 0, sizeof tuned);
    memset(&dflt, 0, sizeof dflt);
    memset(&heur, 0, sizeof heur);
    char heur_tiles[512] = "path=auto", tuned_cfg[512] = "", tuned_bucket[96] = "";
    double tuned_us = 0;
    int have_tuned = 0;
    rc = 1;
    if (!hq || !hk || !hv || !sets || !mem) { fprintf(stderr, "%s bench: out of memory\n", prog); goto fail; }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    sk_fill_normal(hq, nq, s.dtype, &x);
    sk_fill_normal(hk, nk, s.dtype, &x);
    sk_fill_normal(hv, nk, s.dtype, &x);
    host.q = hq; host.k = hk; host.v = hv; host.o = hq;
    for (int i = 0; i < nsets; i++) {
        sets[i] = host;
        CUdeviceptr *m = &mem[4 * i];
        CU_TRY(cu->cuMemAlloc(&m[0], nq * 2), "cuMemAlloc");
        CU_TRY(cu->cuMemAlloc(&m[1], nk * 2), "cuMemAlloc");
        CU_TRY(cu->cuMemAlloc(&m[2], nk * 2), "cuMemAlloc");
        CU_TRY(cu->cuMemAlloc(&m[3], nq * 2), "cuMemAlloc");
        CU_TRY(cu->cuMemcpyHtoD(m[0], hq, nq * 2), "cuMemcpyHtoD");
        CU_TRY(cu->cuMemcpyHtoD(m[1], hk, nk * 2), "cuMemcpyHtoD");
        CU_TRY(cu->cuMemcpyHtoD(m[2], hv, nk * 2), "cuMemcpyHtoD");
        sets[i].q = (void *)m[0]; sets[i].k = (void *)m[1]; sets[i].v = (void *)m[2]; sets[i].o = (void *)m[3];
    }
    {
        /* The heuristic with its tile keys spelled out (so the tuned winner cannot stand in for
         * it; "path=auto" alone leaves every key to the family's auto choice). */
        char hcfg[512];
        sk_err e;
        if (sk_fmha_heuristic_config(rt, &sets[0], hcfg, sizeof hcfg, &e)) {
            fprintf(stderr, "%s bench: %s\n", prog, e.msg);
            goto fail;
        }
        /* the shape hint may name the path itself (small d=64 grids on sm_90a run path=mma) */
        char t[sizeof heur_tiles - 16];   /* room for "path=auto " */
        sk_config_tiles(hcfg, t, sizeof t);
        if (strstr(hcfg, "path=")) snprintf(heur_tiles, sizeof heur_tiles, "%s", t);
        else snprintf(heur_tiles, sizeof heur_tiles, "path=auto%s%s", *t ? " " : "", t);
        have_tuned = sk_rt_tuned_config(rt, "fmha_fwd", &sets[0], tuned_cfg, sizeof tuned_cfg, tuned_bucket,
                                        sizeof tuned_bucket, &tuned_us);
    }
    if (run_one(rt, sets, nsets, &host, nq, heur_tiles, iters, warmup, &heur, prog)) goto fail;
    /* What sparsek_attention_forward runs: the tuned winner, else the heuristic again. */
    if (have_tuned && run_one(rt, sets, nsets, &host, nq, "", iters, warmup, &dflt, prog)) goto fail;
    if (!have_tuned) dflt = heur;
    if (*s.tiles && run_one(rt, sets, nsets, &host, nq, s.tiles, iters, warmup, &tuned, prog)) goto fail;
    const double flops = 4.0 * s.b * s.h * (double)s.sq * s.sk * s.d / (s.causal ? 2 : 1);
    const bench_result *best = *s.tiles ? &tuned : &dflt;
    if (json) {
        printf("{\"device\": \"%s\", \"b\": %d, \"h\": %d, \"hkv\": %d, \"sq\": %d, \"sk\": %d, \"d\": %d, \"dtype\": \"%s\", "
               "\"causal\": %d, \"buffer_sets\": %d, \"iters\": %d, \"config\": \"%s\", \"median_us\": %.3f, "
               "\"min_us\": %.3f, \"tflops\": %.1f, \"rel_err\": %.3g, \"default_config\": \"%s\", \"default_median_us\": %.3f, "
               "\"heuristic_config\": \"%s\", \"heuristic_median_us\": %.3f, \"tuned_bucket\": \"%s\", \"tuned_us\": %.3f}\n",
               info.name, s.b, s.h, s.hkv, s.sq, s.sk, s.d, s.dtype == SPARSEK_BF16 ? "bf16" : "fp16", s.causal, nsets, iters,
               best->config, best->median_us, best->min_us, flops / best->median_us / 1e6, best->rel_err, dflt.config,
               dflt.median_us, heur.config, heur.median_us, have_tuned ? tuned_bucket : "", tuned_us);
    } else {
        printf("device   %s (%s)\n", info.name, info.arch);
        printf("shape    b=%d h=%d hkv=%d sq=%d sk=%d d=%d %s %s, %d buffer set(s), %d runs\n", s.b, s.h, s.hkv, s.sq, s.sk,
               s.d, s.dtype == SPARSEK_BF16 ? "bf16" : "fp16", s.causal ? "causal" : "full", nsets, iters);
        printf("heuristic %-60s median %9.1f us  min %9.1f us  %6.1f TFLOP/s  rel err %.2e\n", heur.config,
               heur.median_us, heur.min_us, flops / heur.median_us / 1e6, heur.rel_err);
        if (have_tuned)
            printf("tuned     %-60s median %9.1f us  min %9.1f us  %6.1f TFLOP/s  rel err %.2e  (%.2fx the heuristic; "
                   "winner of %s, tuned at %.1f us)\n",
                   dflt.config, dflt.median_us, dflt.min_us, flops / dflt.median_us / 1e6, dflt.rel_err,
                   heur.median_us / dflt.median_us, tuned_bucket, tuned_us);
        else
            printf("tuned     none for this shape's bucket (sparsek_attention_forward runs the heuristic)\n");
        if (*s.tiles)
            printf("asked     %-60s median %9.1f us  min %9.1f us  %6.1f TFLOP/s  rel err %.2e  (%.2fx the heuristic)\n",
                   tuned.config, tuned.median_us, tuned.min_us, flops / tuned.median_us / 1e6, tuned.rel_err,
                   heur.median_us / tuned.median_us);
    }
    rc = 0;
fail:
    for (int i = 0; mem && i < 4 * nsets; i++)
        if (mem[i]) cu->cuMemFree(mem[i]);
    free(mem); free(sets); free(hq); free(hk); free(hv);
    sparsek_runtime_destroy(rt);
    return rc;
}
