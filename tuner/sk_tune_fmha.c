/* sk_tune_fmha.c — check and time dense attention configs on the GPU (see sk_tune_fmha.h). */
#include "sk_tune_fmha.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sk_halfs.h"

#define MAX_SETS 64
#define NROWS 16

struct sk_fmha_bench {
    sparsek_runtime *rt;
    sparsek_attention_params host; /* q, k, v: host copies */
    sparsek_attention_params *sets;
    CUdeviceptr *mem;              /* 4 per set: q, k, v, o */
    int nsets, iters, warmup;
    size_t nq, nk;
    uint16_t *hq, *hk, *hv, *ho;
    int rows[NROWS], nrows;
    int bh[2][2];                  /* the (batch, head) pairs checked */
    double *ref;                   /* [2][nrows][d] */
    CUevent *ev;
    float *ms;
    double min_us;
    int fatal;
};

void sk_tune_shape_params(const sk_tune_shape *s, sparsek_attention_params *p) {
    memset(p, 0, sizeof *p);
    p->dtype = s->dtype;
    p->batch = s->b; p->seqlen_q = s->sq; p->seqlen_k = s->sk;
    p->heads_q = s->h; p->heads_kv = s->hkv ? s->hkv : s->h; p->head_dim = s->d;
    p->causal = s->causal;
    (void)sparsek_attention_params_set_layout(p, 0);
}

void sk_fill_normal(uint16_t *dst, size_t n, sparsek_dtype dt, uint64_t *x) {
    for (size_t i = 0; i < n; i += 2) { /* Box-Muller on xorshift: N(0,1) pairs */
        *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17;
        const double u1 = ((*x >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(*x & 0xffffffff) / 4294967296.0;
        const double r = sqrt(-2 * log(u1));
        dst[i] = sk_half_from_float(dt, (float)(r * cos(6.283185307179586 * u2)));
        if (i + 1 < n) dst[i + 1] = sk_half_from_float(dt, (float)(r * sin(6.283185307179586 * u2)));
    }
}

void sk_fmha_bench_close(sk_fmha_bench *b) {
    if (!b) return;
    sk_cuda *cu = &b->rt->cu;
    for (int i = 0; b->mem && i < 4 * b->nsets; i++)
        if (b->mem[i]) cu->cuMemFree(b->mem[i]);
    for (int i = 0; b->ev && i < 2 * b->iters; i++)
        if (b->ev[i]) cu->cuEventDestroy(b->ev[i]);
    free(b->mem); free(b->sets); free(b->hq); free(b->hk); free(b->hv); free(b->ho); free(b->ref);
    free(b->ev); free(b->ms);
    free(b);
}

sparsek_status sk_fmha_bench_open(sparsek_runtime *rt, const sk_tune_shape *s, int iters, int warmup,
                                  sk_fmha_bench **out, sk_err *err) {
    *out = NULL;
    if (iters < 1 || warmup < 0) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "iters must be >= 1, warmup >= 0");
    sparsek_status st = sk_rt_device(rt, err);
    if (st) return st;
    sk_fmha_bench *b = calloc(1, sizeof *b);
    if (!b) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    b->rt = rt;
    b->iters = iters;
    b->warmup = warmup;
    sk_tune_shape_params(s, &b->host);
    const sparsek_attention_params *h = &b->host;
    if (h->batch < 1 || h->seqlen_q < 1 || h->seqlen_k < 1 || h->heads_q < 1 || h->head_dim < 1 ||
        h->heads_q % h->heads_kv) {
        free(b);
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "bad shape b=%d h=%d hkv=%d sq=%d sk=%d d=%d", s->b, s->h, s->hkv,
                       s->sq, s->sk, s->d);
    }
    sk_cuda *cu = &rt->cu;
    b->nq = (size_t)h->batch * h->seqlen_q * h->heads_q * h->head_dim;
    b->nk = (size_t)h->batch * h->seqlen_k * h->heads_kv * h->head_dim;
    const double set_bytes = 2.0 * (2 * b->nq + 2 * b->nk);
    int l2 = 0;
    cu->cuDeviceGetAttribute(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, rt->dev);
    b->nsets = (int)(2.0 * l2 / set_bytes) + 1; /* together more than twice the L2 */
    if (b->nsets > MAX_SETS) b->nsets = MAX_SETS;
    b->hq = malloc(b->nq * 2); b->hk = malloc(b->nk * 2); b->hv = malloc(b->nk * 2); b->ho = malloc(b->nq * 2);
    b->sets = calloc((size_t)b->nsets, sizeof *b->sets);
    b->mem = calloc((size_t)b->nsets * 4, sizeof *b->mem);
    b->ev = calloc((size_t)iters * 2, sizeof *b->ev);
    b->ms = calloc((size_t)iters, sizeof *b->ms);
    if (!b->hq || !b->hk || !b->hv || !b->ho || !b->sets || !b->mem || !b->ev || !b->ms) {
        sk_fmha_bench_close(b);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of host memory for the inputs");
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)s->sq << 20) ^ (uint64_t)s->d;
    sk_fill_normal(b->hq, b->nq, h->dtype, &x);
    sk_fill_normal(b->hk, b->nk, h->dtype, &x);
    sk_fill_normal(b->hv, b->nk, h->dtype, &x);
    b->host.q = b->hq; b->host.k = b->hk; b->host.v = b->hv; b->host.o = b->ho;
    for (int i = 0; i < b->nsets && !st; i++) {
        CUdeviceptr *m = &b->mem[4 * i];
        const size_t bytes[4] = {b->nq * 2, b->nk * 2, b->nk * 2, b->nq * 2};
        const void *src[4] = {b->hq, b->hk, b->hv, NULL};
        for (int t = 0; t < 4 && !st; t++) {
            st = sk_cuda_check(cu, cu->cuMemAlloc(&m[t], bytes[t]), "cuMemAlloc", err);
            if (!st && src[t]) st = sk_cuda_check(cu, cu->cuMemcpyHtoD(m[t], src[t], bytes[t]), "cuMemcpyHtoD", err);
        }
        b->sets[i] = b->host;
        b->sets[i].q = (void *)m[0]; b->sets[i].k = (void *)m[1]; b->sets[i].v = (void *)m[2];
        b->sets[i].o = (void *)m[3];
    }
    for (int i = 0; i < 2 * iters && !st; i++) st = sk_cuda_check(cu, cu->cuEventCreate(&b->ev[i], 0), "cuEventCreate", err);
    if (st) {
        sk_fmha_bench_close(b);
        return st;
    }
    /* Rows at both ends, tile edges and inside; two (batch, head) pairs far apart. */
    const int sq = h->seqlen_q;
    const int cand[NROWS] = {0, 1, 15, 16, 63, 64, 127, 128, sq / 7, sq / 3, sq / 2, sq - 129, sq - 65, sq - 64, sq - 2, sq - 1};
    for (int i = 0; i < NROWS; i++) {
        int dup = cand[i] < 0 || cand[i] >= sq;
        for (int j = 0; j < b->nrows && !dup; j++) dup = b->rows[j] == cand[i];
        if (!dup) b->rows[b->nrows++] = cand[i];
    }
    b->bh[0][0] = 0; b->bh[0][1] = 0;
    b->bh[1][0] = h->batch - 1; b->bh[1][1] = h->heads_q - 1;
    b->ref = malloc(sizeof(double) * 2 * (size_t)b->nrows * h->head_dim);
    if (!b->ref) {
        sk_fmha_bench_close(b);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    for (int t = 0; t < 2; t++) {
        st = sparsek_reference_attention_rows(rt, &b->host, b->bh[t][0], b->bh[t][1], b->rows, b->nrows,
                                              b->ref + (size_t)t * b->nrows * h->head_dim, NULL);
        if (st) {
            sk_fail(err, st, "reference: %s", sparsek_last_error(rt));
            sk_fmha_bench_close(b);
            return st;
        }
    }
    *out = b;
    return SPARSEK_OK;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static sparsek_status launch(sk_fmha_bench *b, int set, const char *tiles) {
    return tiles ? sparsek_attention_forward_with(b->rt, &b->sets[set], tiles, NULL)
                 : sparsek_attention_forward(b->rt, &b->sets[set], NULL);
}

/* note = a, then ": " and c when c is not empty (both cut to fit). */
static int failed(sk_tune_result *r, const char *a, const char *c) {
    r->status = SK_TUNE_FAILED;
    if (*c) snprintf(r->note, sizeof r->note, "%.60s: %.190s", a, c);
    else snprintf(r->note, sizeof r->note, "%.250s", a);
    return -1;
}

/* A CUDA error after a launch (a fault) leaves the context unusable: every later call fails. */
static int fatal(sk_fmha_bench *b, sk_tune_result *r, const char *msg) {
    b->fatal = 1;
    return failed(r, "the GPU context is unusable now", msg);
}

/* Waits for `ev` at most `limit_s` seconds. A kernel that never finishes (a hang) cannot be
 * stopped in this process: the caller gives up on the GPU and the process must end. */
static sparsek_status wait_event(sk_cuda *cu, CUevent ev, double limit_s, sk_err *err) {
    const struct timespec nap = {0, 100000};
    const double t0 = sk_now_s();
    for (;;) {
        CUresult r = cu->cuEventQuery(ev);
        if (r != CUDA_ERROR_NOT_READY) return sk_cuda_check(cu, r, "kernel", err);
        if (sk_now_s() - t0 > limit_s)
            return sk_fail(err, SPARSEK_CUDA, "kernel did not finish within %.0f s (hung?)", limit_s);
        nanosleep(&nap, NULL);
    }
}

static int measure(sk_fmha_bench *b, const char *tiles, sk_tune_result *r) {
    sk_cuda *cu = &b->rt->cu;
    const sparsek_attention_params *h = &b->host;
    sk_err e;
    r->median_us = 0;
    r->rel_err = NAN;
    /* Correctness first: poison, run, compare the sampled rows with the reference. */
    if (sk_cuda_check(cu, cu->cuMemsetD8((CUdeviceptr)b->sets[0].o, 0xff, b->nq * 2), "cuMemsetD8", &e))
        return failed(r, e.msg, "");
    sparsek_status st = launch(b, 0, tiles);
    if (st) return failed(r, sparsek_status_name(st), sparsek_last_error(b->rt));
    if (sk_cuda_check(cu, cu->cuEventRecord(b->ev[0], NULL), "cuEventRecord", &e) ||
        wait_event(cu, b->ev[0], 20.0, &e) ||
        sk_cuda_check(cu, cu->cuMemcpyDtoH(b->ho, (CUdeviceptr)b->sets[0].o, b->nq * 2), "cuMemcpyDtoH", &e))
        return fatal(b, r, e.msg);
    double err2 = 0, ref2 = 0;
    const int d = h->head_dim;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < b->nrows; i++)
            for (int x = 0; x < d; x++) {
                const int64_t off = b->bh[t][0] * h->o_stride[0] + (int64_t)b->rows[i] * h->o_stride[1] +
                                    b->bh[t][1] * h->o_stride[2] + x;
                const double got = sk_half_value(h->dtype, b->ho[off]);
                const double want = b->ref[((size_t)t * b->nrows + i) * d + x];
                err2 += isnan(got) || isinf(got) ? INFINITY : (got - want) * (got - want);
                ref2 += want * want;
            }
    r->rel_err = sqrt(err2 / (ref2 > 0 ? ref2 : 1));
    const double tol = h->dtype == SPARSEK_BF16 ? 1.5e-2 : 2e-3;
    if (!(r->rel_err <= tol)) {
        r->status = SK_TUNE_WRONG;
        snprintf(r->note, sizeof r->note, "relative error %.3g over sampled rows (limit %.1g)", r->rel_err, tol);
        return -1;
    }
    for (int i = 0; i < b->warmup; i++)
        if ((st = launch(b, i % b->nsets, tiles))) return failed(r, sparsek_status_name(st), sparsek_last_error(b->rt));
    for (int i = 0; i < b->iters; i++) {
        if (sk_cuda_check(cu, cu->cuEventRecord(b->ev[2 * i], NULL), "cuEventRecord", &e)) return failed(r, e.msg, "");
        if ((st = launch(b, i % b->nsets, tiles))) return failed(r, sparsek_status_name(st), sparsek_last_error(b->rt));
        if (sk_cuda_check(cu, cu->cuEventRecord(b->ev[2 * i + 1], NULL), "cuEventRecord", &e)) return failed(r, e.msg, "");
    }
    if (wait_event(cu, b->ev[2 * b->iters - 1], 30.0 + 2.0 * (b->iters + b->warmup), &e)) return fatal(b, r, e.msg);
    for (int i = 0; i < b->iters; i++)
        if (sk_cuda_check(cu, cu->cuEventElapsedTime(&b->ms[i], b->ev[2 * i], b->ev[2 * i + 1]), "cuEventElapsedTime", &e))
            return failed(r, e.msg, "");
    qsort(b->ms, (size_t)b->iters, sizeof *b->ms, cmp_float);
    const int n = b->iters;
    r->median_us = 1e3 * (n % 2 ? b->ms[n / 2] : 0.5 * (b->ms[n / 2 - 1] + b->ms[n / 2]));
    b->min_us = 1e3 * b->ms[0];
    r->status = SK_TUNE_OK;
    snprintf(r->note, sizeof r->note, "min %.2f us, %d runs over %d buffer sets", b->min_us, n, b->nsets);
    return 0;
}

void sk_fmha_bench_measure(sk_fmha_bench *b, const char *tiles, sk_tune_result *r) {
    if (b->fatal) {
        failed(r, "not measured: the GPU context failed earlier", "");
        return;
    }
    (void)measure(b, tiles, r);
}

int sk_fmha_bench_fatal(const sk_fmha_bench *b) { return b->fatal; }
