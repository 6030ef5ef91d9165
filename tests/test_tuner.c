/* test_tuner.c — the tuner's CPU pieces: search-space enumeration with pruning reasons
 * (sk_gen_candidates, `sparsek-tune list`) and shape buckets (sk_bucket_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk_bucket.h"
#include "sk_cache.h"
#include "sk_tune.h"
#include "sk_gen.h"
#include "sk_test_util.h"

static int count_lines(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, prefix, strlen(prefix))) n++;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

/* On sm_90a the wgmma path has its own space: m, n, stages, with warps following m. */
static void test_candidates_wgmma(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_OK);
    char *a = NULL, *def = NULL;
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=128", "sm_90a", &a, &e), SPARSEK_OK);
    assert_int_equal(sk_gen_normalize(g, "fmha_fwd", "d=128", "sm_90a", &def, &e), SPARSEK_OK);
    assert_non_null(strstr(def, "path=wgmma"));
    char want[600];
    snprintf(want, sizeof want, "ok\t%s\n", def);
    assert_non_null(strstr(a, want));                                   /* the heuristic is a candidate */
    /* 3 x 2 x 2 combinations; those past 227 KB of shared memory are pruned with the reason. */
    assert_non_null(strstr(a, "pruned\tcausal=0 d=128 dtype=bf16 layout=swizzle m=128 minblocks=1 n=128 path=wgmma "
                              "qregs=0 stages=4 sunroll=full warps=8\tneeds 295936 bytes of shared memory"));
    assert_int_equal(count_lines(a, "ok\t"), 8);
    assert_int_equal(count_lines(a, "pruned\t"), 4);
    assert_null(strstr(a, "path=mma"));
    free(a); free(def);
    sk_gen_close(g);
}

static void test_candidates(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_OK);
    char *a = NULL, *b = NULL;
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=128 dtype=bf16 causal=1 path=mma", "sm_90a", &a, &e), SPARSEK_OK);
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "path=mma causal=1 d=128", "sm_90a", &b, &e), SPARSEK_OK);
    assert_string_equal(a, b); /* stable order, defaults fill in */
    const int ok = count_lines(a, "ok\t"), pruned = count_lines(a, "pruned\t");
    assert_true(ok >= 10);
    assert_true(pruned >= 10);
    /* Every candidate is canonical and valid; every pruned one carries a reason; the
     * heuristic default is in the space. */
    char *def = NULL;
    assert_int_equal(sk_gen_normalize(g, "fmha_fwd", "d=128 causal=1 path=mma", "sm_90a", &def, &e), SPARSEK_OK);
    int saw_default = 0;
    char *copy = strdup(a);
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cfg = strchr(line, '\t');
        assert_non_null(cfg);
        *cfg++ = 0;
        char *reason = strchr(cfg, '\t');
        if (!strcmp(line, "ok")) {
            assert_null(reason);
            char *canon = NULL;
            if (sk_gen_normalize(g, "fmha_fwd", cfg, "sm_90a", &canon, &e)) fail_msg("%s: %s", cfg, e.msg);
            assert_string_equal(canon, cfg);
            if (!strcmp(cfg, def)) saw_default = 1;
            free(canon);
        } else {
            assert_string_equal(line, "pruned");
            assert_non_null(reason);
            assert_true(strlen(reason + 1) > 5);
            char *canon = NULL;
            assert_int_equal(sk_gen_normalize(g, "fmha_fwd", cfg, "sm_90a", &canon, &e), SPARSEK_INVALID_ARGUMENT);
        }
    }
    assert_true(saw_default);
    free(copy); free(def); free(a); free(b);

    /* Fixed tile keys stay fixed. */
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=64 m=64 warps=4", "sm_80", &a, &e), SPARSEK_OK);
    assert_true(count_lines(a, "ok\t") > 0);
    assert_null(strstr(a, "m=128"));
    assert_null(strstr(a, "warps=8"));
    free(a);
    /* Small shared memory prunes with the reason. */
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=256", "sm_86", &a, &e), SPARSEK_OK);
    assert_non_null(strstr(a, "shared memory"));
    assert_non_null(strstr(a, "registers per thread"));
    free(a);
    /* Errors. */
    assert_int_equal(sk_gen_candidates(g, "vec_add", "", "sm_90a", &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "no search space"));
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=65", "sm_90a", &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "", "sm_42", &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_candidates(NULL, "fmha_fwd", "", "sm_90a", &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_candidates(g, NULL, "", "sm_90a", &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "", NULL, &a, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "", "sm_90a", NULL, &e), SPARSEK_INVALID_ARGUMENT);
    sk_gen_close(g);
}

static void test_list_cli(void **state) {
    (void)state;
    const char *bin = getenv("SPARSEK_TEST_BIN");
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune list fmha_fwd d=96 --arch sm_90a --all", bin && *bin ? bin : "build");
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "ok      "));
    assert_non_null(strstr(out, "pruned  "));
    assert_non_null(strstr(out, "        -> ")); /* each pruned line is followed by its reason */
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune list fmha_fwd --json --arch sm_80", bin && *bin ? bin : "build");
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"count\": "));
    assert_null(strstr(out, "\"ok\": false")); /* pruned ones only with --all */
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune list --help", bin && *bin ? bin : "build");
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "usage: sparsek-tune list FAMILY"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune list vec_add", bin && *bin ? bin : "build");
    assert_int_equal(skt_run(cmd, &out), 1);
    assert_non_null(strstr(out, "no search space"));
    free(out);
}

/* list --compile: candidates compile in parallel; a candidate whose compile fails (here: an
 * override template that breaks only stages=3) fails alone and the others still report. */
static void test_list_compile(void **state) {
    (void)state;
    const char *bin = getenv("SPARSEK_TEST_BIN");
    char *dir = skt_tmpdir("lcomp"), path[1024], cmd[4096], *out = NULL;
    snprintf(path, sizeof path, "%s/templates", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    size_t n;
    char *cut = skt_read_file("templates/fmha_fwd_sm80.cut", &n);
    assert_non_null(cut);
    snprintf(path, sizeof path, "%s/templates/fmha_fwd_sm80.cut", dir);
    FILE *f = fopen(path, "w");
    fputs(cut, f);
    fputs("$ if stages == 3 then\nthis is not CUDA;\n$ end\n", f);
    fclose(f);
    free(cut);
    snprintf(cmd, sizeof cmd,
             "SPARSEK_CACHE_DIR='%s/cache' SPARSEK_GEN_PATH='%s' %s/sparsek-tune list fmha_fwd d=64 m=64 n=32 qregs=0 "
             "--arch sm_80 --compile --jobs 2 --timeout 60000",
             dir, dir, bin && *bin ? bin : "build");
    assert_int_equal(skt_run(cmd, &out), 1);
    int ok = 0, failed = 0;
    for (char *p = out; (p = strstr(p, "\nok      regs")) != NULL; p++) ok++;
    if (!strncmp(out, "ok      regs", 12)) ok++;
    for (char *p = out; (p = strstr(p, "FAILED  ")) != NULL; p++) failed++;
    if (ok != 2 || failed != 2) fail_msg("want 2 ok (stages=2) and 2 failed (stages=3):\n%s", out);
    assert_non_null(strstr(out, "SPARSEK_COMPILE"));
    assert_non_null(strstr(out, "some failed to compile"));
    free(out);
    skt_rmtree(dir);
    free(dir);
}

static sparsek_attention_params shape(int sq, int sk, int hq, int hkv, int d, int causal) {
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SPARSEK_BF16;
    p.batch = 1; p.seqlen_q = sq; p.seqlen_k = sk; p.heads_q = hq; p.heads_kv = hkv; p.head_dim = d;
    p.causal = causal;
    return p;
}

static void test_buckets(void **state) {
    (void)state;
    sk_bucket b, c;
    char s[128];
    sparsek_attention_params p = shape(1000, 4097, 32, 8, 128, 1);
    sk_bucket_of("sm_90a", &p, &b);
    assert_int_equal(sk_bucket_format(&b, s, sizeof s), 0);
    assert_string_equal(s, "sm_90a/bf16/d128/causal/g4/q1024/k8192");
    sk_err e;
    assert_int_equal(sk_bucket_parse(s, &c, &e), SPARSEK_OK);
    assert_memory_equal(&b, &c, sizeof b);
    p = shape(1, 1, 8, 8, 64, 0);
    p.dtype = SPARSEK_FP16;
    sk_bucket_of("sm_80", &p, &b);
    sk_bucket_format(&b, s, sizeof s);
    assert_string_equal(s, "sm_80/fp16/d64/full/g1/q1/k1");
    p = shape(1 << 20, 70000, 8, 8, 64, 0);
    sk_bucket_of("sm_80", &p, &b);
    sk_bucket_format(&b, s, sizeof s);
    assert_string_equal(s, "sm_80/bf16/d64/full/g1/q65536/k65536"); /* capped */
    assert_int_equal(sk_bucket_format(&b, s, 8), -1);
    const char *bad[] = {"", "sm_90a/bf16/d128/causal/g4/q1000/k4096", "sm_90a/bf8/d128/full/g1/q1/k1",
                         "sm_90a/bf16/d128/sliding/g1/q1/k1", "sm_90a/bf16/d128/full/g0/q1/k1",
                         "sm_90a/bf16/d128/full/g1/q1/k1/extra", "sm_90a/bf16/d128/full/g1/q131072/k1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sk_bucket_parse(bad[i], &c, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_bucket_parse(NULL, &c, &e), SPARSEK_INVALID_ARGUMENT);

    /* Nearest: same arch/dtype/d/mask only; closest length classes; group breaks ties. */
    const char *tuned[] = {"sm_90a/bf16/d128/causal/g1/q512/k512", "sm_90a/bf16/d128/causal/g4/q4096/k4096",
                           "sm_90a/bf16/d128/full/g4/q1024/k8192", "sm_90a/bf16/d64/causal/g4/q1024/k8192",
                           "sm_80/bf16/d128/causal/g4/q1024/k8192", "sm_90a/bf16/d128/causal/g1/q4096/k4096"};
    sk_bucket have[6];
    for (int i = 0; i < 6; i++) assert_int_equal(sk_bucket_parse(tuned[i], &have[i], &e), SPARSEK_OK);
    p = shape(1000, 4097, 32, 8, 128, 1); /* q1024/k8192 causal g4 on sm_90a */
    sk_bucket_of("sm_90a", &p, &b);
    assert_int_equal(sk_bucket_nearest(&b, have, 6), 1); /* g4 q4096/k4096: 2+1 steps */
    p = shape(4096, 4096, 8, 8, 128, 1);                  /* exact match with g1 entry 5 */
    sk_bucket_of("sm_90a", &p, &b);
    assert_int_equal(sk_bucket_nearest(&b, have, 6), 5);
    p = shape(100, 100, 8, 8, 256, 1);                    /* no d256 tuned: heuristic */
    sk_bucket_of("sm_90a", &p, &b);
    assert_int_equal(sk_bucket_nearest(&b, have, 6), -1);
    assert_int_equal(sk_bucket_nearest(&b, have, 0), -1);
}

/* A fake GPU: each config's time and correctness come from a table; counts its calls. */
typedef struct fake_gpu {
    int calls, exit_after; /* exit_after > 0: the process dies when that many were measured */
} fake_gpu;

static void fake_measure(void *ctx, const char *config, sk_tune_result *r) {
    fake_gpu *g = ctx;
    if (g->exit_after && g->calls == g->exit_after) _exit(0); /* killed mid-run */
    g->calls++;
    static const struct { const char *cfg; double us; int status; } table[] = {
        {"m=64", 50.0, SK_TUNE_OK}, {"m=128", 30.0, SK_TUNE_OK}, {"m=128 n=32", 40.0, SK_TUNE_OK},
        {"m=256", 20.0, SK_TUNE_WRONG}, {"m=32", 0.0, SK_TUNE_FAILED}, {"m=16", 10.0, SK_TUNE_WRONG}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(config, table[i].cfg)) {
            r->status = (sk_tune_status)table[i].status;
            r->median_us = table[i].us;
            r->rel_err = table[i].status == SK_TUNE_WRONG ? 0.5 : 1e-3;
            snprintf(r->note, sizeof r->note, "%s", table[i].status == SK_TUNE_WRONG ? "rel err 0.5\twith a tab" : "");
            return;
        }
    r->status = SK_TUNE_FAILED;
    snprintf(r->note, sizeof r->note, "unknown config");
}

static char *const candidates[] = {"m=64", "m=128", "m=128 n=32", "m=256", "m=32", "m=16"};

static void test_tune_ranking_and_resume(void **state) {
    (void)state;
    char *dir = skt_tmpdir("tune");
    char log[1024];
    snprintf(log, sizeof log, "%s/tune.log", dir);
    const char *bucket = "sm_90a/bf16/d128/full/g1/q4096/k4096";

    /* A run killed after measuring 3 candidates, then a torn line from the kill. */
    pid_t pid = fork();
    if (pid == 0) {
        fake_gpu g = {0, 3};
        sk_tune_result w;
        sk_err e;
        sk_tune_bucket(log, bucket, candidates, 6, fake_measure, &g, &w, NULL, &e);
        _exit(1); /* not reached: the fake GPU "kills" the process first */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(log, "a");
    fputs(bucket, f);
    fputs("\tm=32\tok\t1.0", f); /* no newline: torn */
    fclose(f);
    sk_tune_result *rs = NULL;
    int n = 0;
    sk_err e;
    assert_int_equal(sk_tune_log_read(log, bucket, &rs, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 3);
    free(rs);

    /* The resumed run measures only the rest and ranks everything. */
    fake_gpu g = {0, 0};
    sk_tune_result w;
    int now = -1;
    assert_int_equal(sk_tune_bucket(log, bucket, candidates, 6, fake_measure, &g, &w, &now, &e), SPARSEK_OK);
    assert_int_equal(now, 3);
    assert_int_equal(g.calls, 3);
    assert_string_equal(w.config, "m=128"); /* m=256 and m=16 are faster but wrong */
    assert_float_equal(w.median_us, 30.0, 1e-12);
    /* A third run measures nothing. */
    assert_int_equal(sk_tune_bucket(log, bucket, candidates, 6, fake_measure, &g, &w, &now, &e), SPARSEK_OK);
    assert_int_equal(now, 0);
    /* Each bucket is its own: another bucket measures from scratch. */
    assert_int_equal(sk_tune_bucket(log, "other", candidates, 2, fake_measure, &g, &w, &now, &e), SPARSEK_OK);
    assert_int_equal(now, 2);
    assert_string_equal(w.config, "m=128");
    /* All wrong: no winner. */
    char *const wrong[] = {"m=256", "m=16", "m=32"};
    assert_int_equal(sk_tune_bucket(log, "b3", wrong, 3, fake_measure, &g, &w, &now, &e), SPARSEK_NOT_SUPPORTED);
    assert_non_null(strstr(e.msg, "none of 3"));
    /* The log keeps every result, tabs in notes flattened. */
    assert_int_equal(sk_tune_log_read(log, NULL, &rs, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 6 + 2 + 3);
    int wrong_seen = 0;
    for (int i = 0; i < n; i++)
        if (rs[i].status == SK_TUNE_WRONG) {
            wrong_seen++;
            assert_null(strchr(rs[i].note, '\t'));
        }
    assert_int_equal(wrong_seen, 2 + 0 + 2); /* m=256 and m=16 in the first and third buckets */
    free(rs);
    /* Bad arguments. */
    assert_int_equal(sk_tune_bucket(NULL, bucket, candidates, 1, fake_measure, &g, &w, &now, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_tune_bucket(log, bucket, NULL, 1, fake_measure, &g, &w, &now, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_tune_bucket(log, bucket, candidates, 1, NULL, &g, &w, &now, &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_tune_log_read(NULL, NULL, &rs, &n, &e), SPARSEK_INVALID_ARGUMENT);
    skt_rmtree(dir);
    free(dir);
}

/* A valid tuned cache entry with fake cubin bytes. */
static void make_entry(sk_cache_entry *e, const char *config, const char *bucket, const char *gpu, double us) {
    memset(e, 0, sizeof *e);
    e->family = "fmha_fwd"; e->arch = "sm_90a"; e->template_name = "templates/fmha_fwd_sm80.cut";
    e->config = (char *)config; e->kernel_name = "k"; e->grid_rule = "1 1 1";
    e->gen_digest = "digest"; e->toolchain = "nvrtc-13.0"; e->options = "-O3";
    e->block[0] = e->block[1] = e->block[2] = 1;
    e->cluster[0] = e->cluster[1] = e->cluster[2] = 1;
    e->bucket = (char *)bucket; e->gpu = (char *)gpu; e->time_us = us;
    e->created = 1;
    e->cubin = (void *)"\177ELF fake cubin";
    e->cubin_size = 16;
    sk_cache_key(e->gen_digest, e->family, e->config, e->options, e->toolchain, e->arch, e->key);
}

static void test_export_import(void **state) {
    (void)state;
    char *a = skt_tmpdir("exa"), *b = skt_tmpdir("exb"), *c = skt_tmpdir("exc");
    sk_err e;
    sk_cache_entry x, y, z;
    make_entry(&x, "d=128 m=128", "sm_90a/bf16/d128/full/g1/q4096/k4096", "NVIDIA H100 80GB HBM3", 1712.5);
    make_entry(&y, "d=64 m=64", "sm_90a/bf16/d64/full/g1/q512/k512", "NVIDIA H100 80GB HBM3", 11.25);
    make_entry(&z, "d=64 m=128", "", "", 0); /* compiled, not tuned: not a winner */
    assert_int_equal(sk_cache_store(a, &x, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(a, &y, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(a, &z, &e), SPARSEK_OK);
    int copied = -1;
    assert_int_equal(sk_tune_copy_winners(a, "NVIDIA B200", b, &copied, &e), SPARSEK_OK);
    assert_int_equal(copied, 0);
    assert_int_equal(sk_tune_copy_winners(a, "NVIDIA H100 80GB HBM3", b, &copied, &e), SPARSEK_OK); /* export */
    assert_int_equal(copied, 2);
    assert_int_equal(sk_tune_copy_winners(b, NULL, c, &copied, &e), SPARSEK_OK); /* import */
    assert_int_equal(copied, 2);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.skc", c, x.key);
    sk_cache_entry back;
    memset(&back, 0, sizeof back);
    assert_int_equal(sk_cache_read(path, &back, &e), SPARSEK_OK);
    assert_string_equal(back.bucket, x.bucket);
    assert_string_equal(back.gpu, x.gpu);
    assert_string_equal(back.config, x.config);
    assert_float_equal(back.time_us, 1712.5, 0);
    assert_int_equal(back.cubin_size, 16);
    assert_memory_equal(back.cubin, x.cubin, 16);
    sk_cache_entry_clear(&back);
    snprintf(path, sizeof path, "%s/%s.skc", c, z.key);
    assert_int_not_equal(access(path, F_OK), 0); /* the untuned entry stayed behind */
    /* The same through the CLI. */
    {
        const char *bin = getenv("SPARSEK_TEST_BIN");
        char *f2 = skt_tmpdir("exf"), *g2 = skt_tmpdir("exg"), cmd[4096], *out = NULL;
        snprintf(cmd, sizeof cmd, "%s/sparsek-tune cache export '%s' --gpu 'NVIDIA H100 80GB HBM3' --dir '%s'",
                 bin && *bin ? bin : "build", f2, a);
        assert_int_equal(skt_run(cmd, &out), 0);
        assert_non_null(strstr(out, "exported 2 tuned entries"));
        free(out);
        snprintf(cmd, sizeof cmd, "%s/sparsek-tune cache import '%s' --dir '%s' && %s/sparsek-tune cache ls --dir '%s'",
                 bin && *bin ? bin : "build", f2, g2, bin && *bin ? bin : "build", g2);
        assert_int_equal(skt_run(cmd, &out), 0);
        assert_non_null(strstr(out, "imported 2 tuned entries"));
        assert_non_null(strstr(out, "tuned winner of sm_90a/bf16/d128/full/g1/q4096/k4096: 1712.5 us on NVIDIA H100"));
        free(out);
        skt_rmtree(f2); skt_rmtree(g2);
        free(f2); free(g2);
    }
    /* A corrupt entry is never exported. */
    snprintf(path, sizeof path, "%s/%s.skc", a, y.key);
    size_t nb;
    char *bytes = skt_read_file(path, &nb);
    bytes[nb / 2] ^= 1;
    skt_write_file(path, bytes, nb);
    free(bytes);
    char *d = skt_tmpdir("exd");
    assert_int_equal(sk_tune_copy_winners(a, NULL, d, &copied, &e), SPARSEK_OK);
    assert_int_equal(copied, 1);
    assert_int_equal(sk_tune_copy_winners(NULL, NULL, d, &copied, &e), SPARSEK_INVALID_ARGUMENT);
    skt_rmtree(a); skt_rmtree(b); skt_rmtree(c); skt_rmtree(d);
    free(a); free(b); free(c); free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_candidates_wgmma),
        cmocka_unit_test(test_list_cli),
        cmocka_unit_test(test_list_compile),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_tune_ranking_and_resume),
        cmocka_unit_test(test_export_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
