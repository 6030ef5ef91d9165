/* test_runtime.c — the public API on a machine without a GPU: argument checks, status names,
 * generation and compilation of the dense family for sm_80 / sm_90a / sm_100a through the
 * disk cache, corrupted cache entries rebuilt, grid rules, attention parameter validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "sk_runtime.h"
#include "sk_test_util.h"

typedef struct fixture {
    char *dir;
    sparsek_runtime *rt;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = skt_tmpdir("rt");
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.cache_dir = f->dir;
    char msg[256];
    assert_int_equal(sparsek_runtime_create(&f->rt, &o, msg, sizeof msg), SPARSEK_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sparsek_runtime_destroy(f->rt);
    skt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(sparsek_status_name(SPARSEK_OK), "SPARSEK_OK");
    assert_string_equal(sparsek_status_name(SPARSEK_CACHE_CORRUPT), "SPARSEK_CACHE_CORRUPT");
    assert_string_equal(sparsek_status_name((sparsek_status)999), "SPARSEK_UNKNOWN_STATUS");
    for (int s = 0; s < SPARSEK_STATUS_COUNT; s++) {
        assert_non_null(strstr(sparsek_status_name((sparsek_status)s), "SPARSEK_"));
        assert_true(strlen(sparsek_status_string((sparsek_status)s)) > 3);
    }
}

static void test_null_arguments(void **state) {
    fixture *f = *state;
    sparsek_runtime *rt = f->rt;
    char buf[64];
    assert_int_equal(sparsek_runtime_create(NULL, NULL, buf, sizeof buf), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(buf, "NULL"));
    sparsek_runtime *bad = (sparsek_runtime *)0x1;
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.device = -1;
    assert_int_equal(sparsek_runtime_create(&bad, &o, buf, sizeof buf), SPARSEK_INVALID_ARGUMENT);
    assert_null(bad);
    sparsek_runtime_options_init(&o);
    o.cache_dir = "";
    char msg[256] = "";
    assert_int_equal(sparsek_runtime_create(&bad, &o, msg, sizeof msg), SPARSEK_INVALID_ARGUMENT);
    assert_null(bad);
    assert_true(strlen(msg) > 5);
    sparsek_runtime_destroy(NULL);
    assert_non_null(strstr(sparsek_last_error(NULL), "NULL"));

    sparsek_kernel_source *src = NULL;
    sparsek_compiled *c = NULL;
    sparsek_device_info info;
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    assert_int_equal(sparsek_generate(NULL, "fmha_fwd", "", NULL, &src), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_generate(rt, NULL, "", NULL, &src), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "family"));
    assert_int_equal(sparsek_generate(rt, "fmha_fwd", "", NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_compile(NULL, "fmha_fwd", "", NULL, &c), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_compile(rt, NULL, "", NULL, &c), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_compile(rt, "fmha_fwd", "", NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_runtime_device_info(NULL, &info), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_runtime_device_info(rt, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_true(strlen(sparsek_last_error(rt)) > 0);
    assert_int_equal(sparsek_runtime_load(NULL, f->dir), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_runtime_load(rt, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_runtime_load_stats(NULL, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_attention_forward(NULL, &p, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_attention_forward(rt, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "NULL"));
    assert_int_equal(sparsek_attention_forward_config(NULL, &p, buf, sizeof buf), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_attention_forward_config(rt, &p, NULL, 0), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_attention_params_set_layout(NULL, 0), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_attention_params_set_layout(&p, 0), SPARSEK_INVALID_ARGUMENT); /* dims are 0 */
    sparsek_kernel_source_free(NULL);
    sparsek_compiled_free(NULL);
}

static void test_no_device(void **state) {
    fixture *f = *state;
    sparsek_device_info info;
    assert_int_equal(sparsek_runtime_device_info(f->rt, &info), SPARSEK_OK);
    if (info.has_device) skip(); /* this test is about machines without a GPU */
    assert_int_equal(sparsek_runtime_load(f->rt, f->dir), SPARSEK_NO_DEVICE);
    assert_true(strlen(sparsek_last_error(f->rt)) > 10);
}

/* A valid problem with fake (aligned, never dereferenced) device pointers. */
static sparsek_attention_params valid_params(void) {
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.q = p.k = p.v = (void *)0x10000;
    p.o = (void *)0x20000;
    p.dtype = SPARSEK_BF16;
    p.batch = 2; p.seqlen_q = 100; p.seqlen_k = 300; p.heads_q = 8; p.heads_kv = 2; p.head_dim = 128;
    p.causal = 1;
    assert_int_equal(sparsek_attention_params_set_layout(&p, 0), SPARSEK_OK);
    return p;
}

static void expect_bad(sparsek_runtime *rt, const sparsek_attention_params *p, sparsek_status want, const char *needle) {
    char buf[128];
    sparsek_status st = sparsek_attention_forward_config(rt, p, buf, sizeof buf);
    assert_int_equal(st, want);
    if (!strstr(sparsek_last_error(rt), needle)) fail_msg("message '%s' lacks '%s'", sparsek_last_error(rt), needle);
    /* The launch path checks the same way before touching the device. */
    assert_int_equal(sparsek_attention_forward(rt, p, NULL), want);
}

static void test_attention_params(void **state) {
    fixture *f = *state;
    sparsek_runtime *rt = f->rt;
    sparsek_attention_params p = valid_params();
    char buf[128];
    assert_int_equal(sparsek_attention_forward_config(rt, &p, buf, sizeof buf), SPARSEK_OK);
    assert_string_equal(buf, "d=128 dtype=bf16 causal=1");
    assert_int_equal(p.q_stride[2], 128);
    assert_int_equal(p.q_stride[1], 8 * 128);
    assert_int_equal(p.k_stride[0], 300 * 2 * 128);
    sparsek_attention_params h = p;
    assert_int_equal(sparsek_attention_params_set_layout(&h, 1), SPARSEK_OK);
    assert_int_equal(h.q_stride[1], 128);
    assert_int_equal(h.q_stride[2], 100 * 128);
    assert_int_equal(sparsek_attention_params_set_layout(&h, 2), SPARSEK_INVALID_ARGUMENT);

    p = valid_params(); p.q = NULL; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "NULL");
    p = valid_params(); p.k = (void *)0x10008; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "16-byte");
    p = valid_params(); p.lse = (float *)0x10002; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "lse");
    p = valid_params(); p.head_dim = 80; expect_bad(rt, &p, SPARSEK_NOT_SUPPORTED, "head_dim 80");
    p = valid_params(); p.heads_kv = 3; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "multiple of heads_kv");
    p = valid_params(); p.seqlen_k = 0; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "seqlen_k=0");
    p = valid_params(); p.batch = -1; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "batch=-1");
    p = valid_params(); p.dtype = (sparsek_dtype)7; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "dtype 7");
    p = valid_params(); p.scale = -1.f; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "scale");
    p = valid_params(); p.scale = 1.f / 0.f; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "scale");
    p = valid_params(); p.v_stride[1] = 12; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "v sequence stride 12");
    p = valid_params(); p.o_stride[1] = 64; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "smaller than head_dim");
    p = valid_params(); p.q_stride[0] = -1024; expect_bad(rt, &p, SPARSEK_INVALID_ARGUMENT, "q batch stride");
    p = valid_params(); p.heads_q = 70000; p.heads_kv = 1; expect_bad(rt, &p, SPARSEK_NOT_SUPPORTED, "65535");
    p = valid_params();
    assert_int_equal(sparsek_attention_forward_config(rt, &p, buf, 4), SPARSEK_INVALID_ARGUMENT);
}

static void test_generate_fmha(void **state) {
    fixture *f = *state;
    sparsek_kernel_source *a = NULL, *b = NULL;
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", NULL, "sm_90a", &a), SPARSEK_OK);
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "", "sm_90a", &b), SPARSEK_OK);
    assert_string_equal(a->source, b->source); /* deterministic, defaults fill in */
    assert_string_equal(a->cache_key, b->cache_key);
    assert_int_equal(strlen(a->cache_key), 64);
    assert_non_null(strstr(a->source, a->cache_key));
    assert_non_null(strstr(a->source, "templates/fmha_fwd_sm90.cut")); /* sm_90a, d=128: the wgmma path */
    assert_non_null(strstr(a->source, "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16")); /* n = d = 128 */
    assert_non_null(strstr(a->source, a->kernel_name));
    assert_string_equal(a->family, "fmha_fwd");
    assert_string_equal(a->arch, "sm_90a");
    assert_true(a->block[0] >= 64 && a->dynamic_smem > 0);
    assert_non_null(strstr(a->config, "dtype=bf16"));
    sparsek_kernel_source_free(b);
    /* A different config changes the key and the kernel name. */
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=64 causal=1", "sm_90a", &b), SPARSEK_OK);
    assert_string_not_equal(a->cache_key, b->cache_key);
    assert_non_null(strstr(b->kernel_name, "d64"));
    assert_non_null(strstr(b->kernel_name, "causal"));
    sparsek_kernel_source_free(b);
    sparsek_kernel_source_free(a);

    /* path=auto: the portable kernel where wgmma does not apply (other archs, d=96/256). */
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "", "sm_80", &b), SPARSEK_OK);
    assert_non_null(strstr(b->source, "templates/fmha_fwd_sm80.cut"));
    assert_non_null(strstr(b->config, "path=mma"));
    sparsek_kernel_source_free(b);
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=96", "sm_90a", &b), SPARSEK_OK);
    assert_non_null(strstr(b->source, "templates/fmha_fwd_sm80.cut"));
    sparsek_kernel_source_free(b);
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=mma", "sm_90a", &b), SPARSEK_OK);
    assert_non_null(strstr(b->source, "templates/fmha_fwd_sm80.cut"));
    sparsek_kernel_source_free(b);
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=64", "sm_90a", &b), SPARSEK_OK);
    assert_non_null(strstr(b->source, "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16")); /* N = d = n = 64 */
    assert_null(strstr(b->source, "m64n128k16"));
    sparsek_kernel_source_free(b);

    /* Bad requests name the reason. */
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=wgmma", "sm_80", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "needs sm_90a"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=wgmma d=96", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "use path=mma"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=wgmma stages=2", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "stages >= 3"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=wgmma m=128 warps=4", "sm_90a", &a),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "warps=8"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "path=wgmma n=128 stages=4", "sm_90a", &a),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "shared memory"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=80", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "d"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "colour=red", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "colour"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=96 layout=swizzle", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "swizzle"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=256 m=128 warps=4", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "registers"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "d=256 stages=4 n=128 m=64 warps=4", "sm_86", &a),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "shared memory"));
    assert_int_equal(sparsek_generate(f->rt, "fmha_fwd", "", "sm_75", &a), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_generate(f->rt, "no_such_family", "", "sm_90a", &a), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "no_such_family"));
}

/* The wgmma kernels as the heuristic generates them: no spills, and ptxas keeps the wgmma
 * pipeline asynchronous (it reports "wgmma.mma_async instructions are serialized" when the code
 * lets an accumulator be touched between issue and wait, or wgmma sit in divergent paths). */
static void test_wgmma_kernels_stay_async(void **state) {
    fixture *f = *state;
    static const char *configs[] = {"d=128 dtype=bf16 causal=0", "d=128 dtype=fp16 causal=1",
                                    "d=64 dtype=bf16 causal=1", "d=64 dtype=fp16 causal=0 m=192 n=128"};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        sparsek_compiled *c = NULL;
        sparsek_status st = sparsek_compile(f->rt, "fmha_fwd", configs[i], "sm_90a", &c);
        if (st != SPARSEK_OK) fail_msg("%s: %s", configs[i], sparsek_last_error(f->rt));
        assert_non_null(strstr(c->src->config, "path=wgmma"));
        assert_int_equal(c->from_cache, 0);
        assert_int_equal(c->spill_stores, 0);
        assert_int_equal(c->spill_loads, 0);
        assert_non_null(c->log);
        if (strstr(c->log, "serialized")) fail_msg("%s: ptxas serialized wgmma:\n%s", configs[i], c->log);
        sparsek_compiled_free(c);
    }
}

/* Compiles the dense family for three arches; the second request for each comes from disk. */
static void test_compile_arches_and_cache(void **state) {
    fixture *f = *state;
    const char *arches[] = {"sm_80", "sm_90a", "sm_100a"};
    for (int i = 0; i < 3; i++) {
        sparsek_compiled *c = NULL;
        sparsek_status st = sparsek_compile(f->rt, "fmha_fwd", "d=64 dtype=fp16 causal=1", arches[i], &c);
        if (st) fail_msg("%s: %s", arches[i], sparsek_last_error(f->rt));
        assert_false(c->from_cache);
        assert_true(c->cubin_size > 1000);
        assert_memory_equal(c->cubin, "\177ELF", 4);
        assert_true(c->registers > 0);
        assert_int_equal(c->spill_stores, 0);
        assert_string_equal(c->src->arch, arches[i]);
        char *key = strdup(c->src->cache_key);
        size_t size = c->cubin_size;
        sparsek_compiled_free(c);
        assert_int_equal(sparsek_compile(f->rt, "fmha_fwd", "causal=1 dtype=fp16 d=64", arches[i], &c), SPARSEK_OK);
        assert_true(c->from_cache);
        assert_string_equal(c->src->cache_key, key);
        assert_int_equal(c->cubin_size, size);
        sparsek_compiled_free(c);

        /* Corrupt the entry on disk: it is detected, removed and rebuilt. */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.skc", f->dir, key);
        size_t n;
        char *bytes = skt_read_file(path, &n);
        assert_non_null(bytes);
        bytes[n / 2] ^= 0x5a;
        assert_int_equal(skt_write_file(path, bytes, n), 0);
        free(bytes);
        assert_int_equal(sparsek_compile(f->rt, "fmha_fwd", "d=64 dtype=fp16 causal=1", arches[i], &c), SPARSEK_OK);
        assert_false(c->from_cache);
        sparsek_compiled_free(c);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0); /* rebuilt entry written back */
        free(key);
    }
}

static void test_isolated_compile(void **state) {
    (void)state;
    char *dir = skt_tmpdir("iso");
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.cache_dir = dir;
    o.isolate_compiles = 1;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &o, NULL, 0), SPARSEK_OK);
    sparsek_compiled *c = NULL;
    sparsek_status st = sparsek_compile(rt, "fmha_fwd", "d=96 dtype=bf16", "sm_90a", &c);
    if (st) fail_msg("%s", sparsek_last_error(rt));
    assert_true(c->cubin_size > 1000 && c->registers > 0);
    assert_non_null(strstr(c->src->kernel_name, "d96"));
    sparsek_compiled_free(c);
    sparsek_runtime_destroy(rt);
    skt_rmtree(dir);
    free(dir);
}

static void test_no_disk_cache(void **state) {
    (void)state;
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.disable_disk_cache = 1;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &o, NULL, 0), SPARSEK_OK);
    sparsek_compiled *c = NULL;
    assert_int_equal(sparsek_compile(rt, "fmha_fwd", "d=64", "sm_80", &c), SPARSEK_OK);
    assert_false(c->from_cache);
    sparsek_compiled_free(c);
    assert_int_equal(sparsek_compile(rt, "fmha_fwd", "d=64", "sm_80", &c), SPARSEK_OK);
    assert_false(c->from_cache); /* nothing was written */
    sparsek_compiled_free(c);
    sparsek_runtime_destroy(rt);
}

static void test_gridrule(void **state) {
    (void)state;
    sk_gridvar v[] = {{"sq", 1000}, {"hq", 8}, {"b", 3}};
    unsigned g[3];
    sk_err e;
    assert_int_equal(sk_gridrule_eval("cdiv(sq,128) hq b", v, 3, g, &e), SPARSEK_OK);
    assert_int_equal(g[0], 8); assert_int_equal(g[1], 8); assert_int_equal(g[2], 3);
    assert_int_equal(sk_gridrule_eval("min(sq,7)*2+1 (hq-4)/2 max(b,5)", v, 3, g, &e), SPARSEK_OK);
    assert_int_equal(g[0], 15); assert_int_equal(g[1], 2); assert_int_equal(g[2], 5);
    assert_int_equal(sk_gridrule_eval("cdiv(sq,0) 1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("nope 1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "unknown variable"));
    assert_int_equal(sk_gridrule_eval("1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("1 1 1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("sq-1000 1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("1 70000 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("1 1 sq/0", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval("foo(1,2) 1 1", v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gridrule_eval(NULL, v, 3, g, &e), SPARSEK_INVALID_ARGUMENT);
}

/* The float64 reference on cases with closed forms. */
static void test_reference(void **state) {
    fixture *f = *state;
    enum { D = 64, SQ = 5, SK = 3 };
    static uint16_t q[SQ * D], k[SK * D], v[SK * D];
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.q = q; p.k = k; p.v = v; p.o = q;
    p.dtype = SPARSEK_FP16;
    p.batch = 1; p.seqlen_q = SQ; p.seqlen_k = SK; p.heads_q = 1; p.heads_kv = 1; p.head_dim = D;
    assert_int_equal(sparsek_attention_params_set_layout(&p, 0), SPARSEK_OK);
    /* q = 0: every visible key has the same logit, so out = mean of the visible V rows and
     * LSE = log(count). V row t holds t+1 (fp16 1.0 = 0x3c00, 2.0 = 0x4000, 3.0 = 0x4200). */
    const uint16_t vals[3] = {0x3c00, 0x4000, 0x4200};
    for (int t = 0; t < SK; t++)
        for (int x = 0; x < D; x++) { v[t * D + x] = vals[t]; k[t * D + x] = (uint16_t)(0x3c00 + x); }
    int rows[SQ] = {0, 1, 2, 3, 4};
    double out[SQ * D], lse[SQ];
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 0, 0, rows, SQ, out, lse), SPARSEK_OK);
    for (int r = 0; r < SQ; r++) {
        assert_float_equal(out[r * D], 2.0, 1e-12);
        assert_float_equal(lse[r], log(3.0), 1e-12);
    }
    /* Causal, Sq > Sk, bottom-right: row i sees keys 0 .. i - 2; rows 0 and 1 see none. */
    p.causal = 1;
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 0, 0, rows, SQ, out, lse), SPARSEK_OK);
    assert_float_equal(out[0], 0.0, 0); assert_true(isinf(lse[0]) && lse[0] < 0);
    assert_float_equal(out[D], 0.0, 0); assert_true(isinf(lse[1]) && lse[1] < 0);
    assert_float_equal(out[2 * D], 1.0, 1e-12); assert_float_equal(lse[2], 0.0, 1e-12);
    assert_float_equal(out[3 * D], 1.5, 1e-12);
    assert_float_equal(out[4 * D + 7], 2.0, 1e-12);
    /* One key with a non-zero q: out is that V row, LSE is the scaled logit. */
    p.causal = 0; p.seqlen_k = 1; p.scale = 0.5f;
    assert_int_equal(sparsek_attention_params_set_layout(&p, 0), SPARSEK_OK);
    for (int x = 0; x < D; x++) q[x] = 0x3c00; /* 1.0 */
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 0, 0, rows, 1, out, lse), SPARSEK_OK);
    double dot = 0;
    for (int x = 0; x < D; x++) dot += 1.0 + x / 1024.0; /* k = 0x3c00 + x: 1 + x/1024 */
    assert_float_equal(out[5], 1.0, 1e-12);
    assert_float_equal(lse[0], 0.5 * dot, 1e-9);
    /* Bad arguments. */
    assert_int_equal(sparsek_reference_attention_rows(NULL, &p, 0, 0, rows, 1, out, lse), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_attention_rows(f->rt, NULL, 0, 0, rows, 1, out, lse), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 1, 0, rows, 1, out, lse), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(f->rt), "out of range"));
    int bad_row = SQ;
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 0, 0, &bad_row, 1, out, lse), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sparsek_reference_attention_rows(f->rt, &p, 0, 0, rows, 1, NULL, lse), SPARSEK_INVALID_ARGUMENT);
}

/* Several threads share one runtime: generation, normalisation memo, compile and the disk
 * cache must give every thread the right kernel and a consistent cache. */
typedef struct thread_arg {
    sparsek_runtime *rt;
    int id;
    int failures;
} thread_arg;

static void *compile_worker(void *p) {
    thread_arg *a = p;
    const char *cfgs[] = {"d=64", "d=64 causal=1", "d=128 dtype=fp16", "d=96"};
    for (int i = 0; i < 8; i++) {
        const char *cfg = cfgs[(a->id + i) % 4];
        sparsek_kernel_source *src = NULL;
        if (sparsek_generate(a->rt, "fmha_fwd", cfg, "sm_80", &src) != SPARSEK_OK) a->failures++;
        else if (!strstr(src->kernel_name, strstr(cfg, "d=96") ? "d96" : strstr(cfg, "d=128") ? "d128" : "d64"))
            a->failures++;
        sparsek_kernel_source_free(src);
        sparsek_compiled *c = NULL;
        if (i < 2) { /* a few real compiles, all threads racing on the same keys */
            if (sparsek_compile(a->rt, "fmha_fwd", cfg, "sm_80", &c) != SPARSEK_OK || c->cubin_size < 1000) a->failures++;
            sparsek_compiled_free(c);
        }
        if (sparsek_generate(a->rt, "fmha_fwd", "d=77", "sm_80", &src) != SPARSEK_INVALID_ARGUMENT) a->failures++;
        if (!strstr(sparsek_last_error(a->rt), "d")) a->failures++; /* this thread's own message */
    }
    return NULL;
}

static void test_threads_share_runtime(void **state) {
    fixture *f = *state;
    enum { N = 4 };
    pthread_t th[N];
    thread_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (thread_arg){f->rt, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, compile_worker, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    char out[4096];
    snprintf(out, sizeof out, "SPARSEK_CACHE_DIR='%s' %s/sparsek-tune cache verify >/dev/null",
             f->dir, getenv("SPARSEK_TEST_BIN") ? getenv("SPARSEK_TEST_BIN") : "build");
    assert_int_equal(skt_run(out, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test_setup_teardown(test_null_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attention_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_fmha, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compile_arches_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wgmma_kernels_stay_async, setup, teardown),
        cmocka_unit_test(test_isolated_compile),
        cmocka_unit_test(test_no_disk_cache),
        cmocka_unit_test(test_gridrule),
        cmocka_unit_test_setup_teardown(test_threads_share_runtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
