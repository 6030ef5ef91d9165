/* test_autotune.c — the tuning driver without a GPU (a fake measurement; real candidates and
 * real compiles), tuned entries in the cache (several buckets per entry), the runtime's choice
 * by bucket with nearest fallback, shape sets, the `tune`/`show`/`load` command lines, and the
 * GPU paths end to end (inputs, reference check, event timing, loading without NVRTC, first-run
 * tuning) on a pretend driver that computes attention on the host (tests/fake_gpu.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk_autotune.h"
#include "sk_cache.h"
#include "sk_test_util.h"
#include "sk_tuned.h"

static const char *bin(void) {
    const char *b = getenv("SPARSEK_TEST_BIN");
    return b && *b ? b : "build";
}

/* Fake GPU: stages=3 is fastest but wrong; m=64 beats m=128 (the heuristic at d=64). */
typedef struct fake {
    int calls;
    int exit_after; /* > 0: the process dies at that measurement (a kill mid-run) */
} fake;

static void fake_measure(void *ctx, const char *config, sk_tune_result *r) {
    fake *f = ctx;
    if (f->exit_after && f->calls == f->exit_after) _exit(0);
    f->calls++;
    if (strstr(config, "stages=3")) {
        r->status = SK_TUNE_WRONG;
        r->median_us = 10;
        r->rel_err = 0.7;
        snprintf(r->note, sizeof r->note, "relative error 0.7");
    } else {
        r->status = SK_TUNE_OK;
        r->median_us = strstr(config, "m=64 ") ? 50 : 60;
        r->rel_err = 1e-3;
    }
}

static const char *shapes_text = "# two lengths of one problem, tiles fixed but stages\n"
                                 "b=1 h=4 s=512 d=64 dtype=bf16 causal=1 path=mma m=64 n=64 warps=4 qregs=0 sunroll=2\n"
                                 "\n"
                                 "b=1 h=4 sq=2048 sk=2048 d=64 dtype=bf16 causal=1 path=mma m=64 n=64 warps=4 qregs=0 sunroll=2  # same\n";

static void run_fake(const char *dir, fake *f, double budget, sk_autotune_report *r) {
    sk_tune_shape *shapes = NULL;
    int n = 0;
    sk_err e;
    assert_int_equal(sk_autotune_parse_shapes(shapes_text, &shapes, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 2);
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.disable_disk_cache = 1;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    sk_autotune_options o;
    sk_autotune_options_init(&o);
    o.shapes = shapes;
    o.nshapes = n;
    o.cache_dir = dir;
    o.budget_s = budget;
    o.jobs = 2;
    o.fake_measure = fake_measure;
    o.fake_ctx = f;
    o.fake_arch = "sm_90a";
    o.fake_gpu = "Fake H100";
    if (sk_autotune_run(rt, &o, r, &e)) fail_msg("%s", e.msg);
    sparsek_runtime_destroy(rt);
    free(shapes);
}

static void test_driver(void **state) {
    (void)state;
    char *dir = skt_tmpdir("atune");
    fake f = {0, 0};
    sk_autotune_report r;
    run_fake(dir, &f, 0, &r);
    assert_int_equal(r.nbuckets, 2);
    if (r.finished != 2) fail_msg("finished %d: %s / %s", r.finished, r.buckets[0].note, r.buckets[1].note);
    assert_int_equal(r.skipped, 0);
    const sk_autotune_bucket *b = &r.buckets[0];
    assert_string_equal(b->bucket, "sm_90a/bf16/d64/causal/g1/q512/k512");
    assert_string_equal(r.buckets[1].bucket, "sm_90a/bf16/d64/causal/g1/q2048/k2048");
    assert_int_equal(b->candidates, 3); /* stages 2 and 3, and the heuristic (m=128) */
    assert_int_equal(b->wrong, 1);
    assert_non_null(strstr(b->wrong_list, "stages=3"));
    assert_non_null(strstr(b->winner, "m=64 "));
    assert_null(strstr(b->winner, "stages=3")); /* fastest, but wrong: never wins */
    assert_float_equal(b->winner_us, 50, 0);
    assert_non_null(strstr(b->heuristic, "m=128"));
    assert_float_equal(b->heuristic_us, 60, 0);
    assert_int_equal(f.calls, 6);
    sk_autotune_report_free(&r);

    /* The winners are in the cache: one entry (the same config won both buckets), with both
     * buckets and their times; the candidates' cubins stay in tuning/. */
    char **paths = NULL;
    int n = 0;
    sk_err e;
    assert_int_equal(sk_cache_list(dir, &paths, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 1);
    sk_cache_entry ent;
    assert_int_equal(sk_cache_read(paths[0], &ent, &e), SPARSEK_OK);
    sk_tuned_win w[4];
    assert_int_equal(sk_tuned_parse(ent.bucket, ent.time_us, w, 4), 2);
    assert_string_equal(ent.gpu, "Fake H100");
    assert_float_equal(w[0].us, 50, 0);
    sk_cache_entry_clear(&ent);
    free(paths[0]);
    free(paths);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/tuning", dir);
    assert_int_equal(sk_cache_list(sub, &paths, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);

    /* Resume: a second run measures nothing and gives the same winners. */
    f.calls = 0;
    run_fake(dir, &f, 0, &r);
    assert_int_equal(f.calls, 0);
    assert_int_equal(r.finished, 2);
    assert_int_equal(r.measured_now, 0);
    assert_float_equal(r.buckets[1].winner_us, 50, 0);
    sk_autotune_report_free(&r);

    /* show, through the CLI. */
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune show '%s'", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "2 buckets in 1 entry"));
    assert_non_null(strstr(out, "sm_90a/bf16/d64/causal/g1/q2048/k2048"));
    assert_non_null(strstr(out, "Fake H100"));
    assert_non_null(strstr(out, "path=mma")); /* the tiles column names the kernel path */
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune show '%s' --json", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"time_us\": 50.000"));
    assert_non_null(strstr(out, "\"buckets\": 2, \"entries\": 1, \"bad\": 0"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune cache ls --dir '%s'", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "tuned winner of sm_90a/bf16/d64/causal/g1/q512/k512: 50.0 us on Fake H100"));
    assert_non_null(strstr(out, "tuned winner of sm_90a/bf16/d64/causal/g1/q2048/k2048: 50.0 us on Fake H100"));
    free(out);
    skt_rmtree(dir);
    free(dir);
}

/* A shape that does not fix `path` is searched on every path the problem allows: on sm_90a
 * d=64 both wgmma (the `auto` choice) and the portable mma path; fixing path=mma keeps one. */
static void test_every_path(void **state) {
    (void)state;
    char *dir = skt_tmpdir("apaths");
    for (int fixed = 0; fixed < 2; fixed++) {
        sk_tune_shape *shapes = NULL;
        int n = 0;
        sk_err e;
        char text[256];
        snprintf(text, sizeof text, "b=1 h=4 s=128 d=64 causal=1 m=64 n=64 stages=4 warps=4 qregs=0 sunroll=full%s\n",
                 fixed ? " path=mma" : "");
        assert_int_equal(sk_autotune_parse_shapes(text, &shapes, &n, &e), SPARSEK_OK);
        sparsek_runtime *rt;
        sparsek_runtime_options ro;
        sparsek_runtime_options_init(&ro);
        ro.disable_disk_cache = 1;
        assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
        char sub[1024], log[1100];
        snprintf(sub, sizeof sub, "%s/c%d", dir, fixed);
        snprintf(log, sizeof log, "%s/tuning/tune.log", sub);
        fake f = {0, 0};
        sk_autotune_options o;
        sk_autotune_options_init(&o);
        o.shapes = shapes;
        o.nshapes = n;
        o.cache_dir = sub;
        o.jobs = 2;
        o.fake_measure = fake_measure;
        o.fake_ctx = &f;
        o.fake_arch = "sm_90a";
        o.fake_gpu = "Fake H100";
        sk_autotune_report r;
        if (sk_autotune_run(rt, &o, &r, &e)) fail_msg("%s", e.msg);
        assert_int_equal(r.finished, 1);
        sk_tune_result *rs = NULL;
        int nr = 0;
        assert_int_equal(sk_tune_log_read(log, NULL, &rs, &nr, &e), SPARSEK_OK);
        int mma = 0, wgmma = 0;
        for (int i = 0; i < nr; i++) {
            mma += strstr(rs[i].config, "path=mma") != NULL;
            wgmma += strstr(rs[i].config, "path=wgmma") != NULL;
        }
        /* the heuristic (wgmma, the auto choice: m=128) and the wgmma and mma candidates */
        assert_int_equal(r.buckets[0].candidates, fixed ? 2 : 3);
        assert_int_equal(mma, 1);
        assert_int_equal(wgmma, fixed ? 1 : 2);
        free(rs);
        sk_autotune_report_free(&r);
        sparsek_runtime_destroy(rt);
        free(shapes);
    }
    skt_rmtree(dir);
    free(dir);
}

/* A run killed after 4 of the 6 measurements: the rerun measures the other 2 and finishes. */
static void test_killed_run_resumes(void **state) {
    (void)state;
    char *dir = skt_tmpdir("akill");
    pid_t pid = fork();
    if (pid == 0) {
        fake f = {0, 4};
        sk_autotune_report r;
        run_fake(dir, &f, 0, &r);
        _exit(1); /* not reached */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char **paths = NULL;
    int n = -1;
    sk_err e;
    assert_int_equal(sk_cache_list(dir, &paths, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 1); /* the first bucket's winner was written before the kill */
    free(paths[0]);
    free(paths);
    fake f = {0, 0};
    sk_autotune_report r;
    run_fake(dir, &f, 0, &r);
    assert_int_equal(f.calls, 2);
    assert_int_equal(r.measured_now, 2);
    assert_int_equal(r.finished, 2);
    assert_int_equal(r.tried, 6);
    assert_int_equal(r.buckets[1].wrong, 1);
    assert_float_equal(r.buckets[1].heuristic_us, 60, 0);
    sk_autotune_report_free(&r);
    skt_rmtree(dir);
    free(dir);
}

/* A budget already spent: nothing is measured, every bucket is reported skipped, no winner. */
static void test_budget(void **state) {
    (void)state;
    char *dir = skt_tmpdir("abudget");
    fake f = {0, 0};
    sk_autotune_report r;
    run_fake(dir, &f, 1e-9, &r);
    assert_int_equal(f.calls, 0);
    assert_int_equal(r.finished, 0);
    assert_int_equal(r.skipped, 2);
    assert_true(r.budget_hit);
    assert_non_null(strstr(r.stop_reason, "budget"));
    assert_non_null(strstr(r.buckets[1].note, "budget"));
    sk_autotune_report_free(&r);
    char **paths = NULL;
    int n = -1;
    sk_err e;
    assert_int_equal(sk_cache_list(dir, &paths, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 0);
    skt_rmtree(dir);
    free(dir);
}

static void test_bucket_field(void **state) {
    (void)state;
    sk_tuned_win w[4];
    assert_int_equal(sk_tuned_parse("", 0, w, 4), 0);
    assert_int_equal(sk_tuned_parse(NULL, 0, w, 4), 0);
    assert_int_equal(sk_tuned_parse("sm_90a/bf16/d128/causal/g1/q4096/k4096", 12.5, w, 4), 1);
    assert_float_equal(w[0].us, 12.5, 0);
    assert_int_equal(sk_tuned_parse("sm_90a/bf16/d128/full/g1/q512/k512@3.5  sm_90a/bf16/d128/full/g1/q1024/k1024@7", 1, w, 4),
                     2);
    assert_string_equal(w[1].bucket, "sm_90a/bf16/d128/full/g1/q1024/k1024");
    assert_float_equal(w[1].us, 7, 0);
    const char *bad[] = {"sm_90a/bf16/d128/full/g1/q1000/k512", "sm_90a/bf16/d128/full/g1/q512/k512@",
                         "sm_90a/bf16/d128/full/g1/q512/k512@x", "sm_90a/bf16/d128/full/g1/q512/k512@inf", "@5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(sk_tuned_parse(bad[i], 1, w, 4), -1);
    assert_int_equal(sk_tuned_parse("sm_80/fp16/d64/full/g1/q1/k1 sm_80/fp16/d64/full/g1/q2/k2", 1, w, 1), -1);
    /* Format round trip, set and remove. */
    double t;
    int n = sk_tuned_parse("sm_80/fp16/d64/full/g1/q1/k1", 4, w, 4);
    n = sk_tuned_set(w, n, "sm_80/fp16/d64/full/g1/q2/k2", 9);
    n = sk_tuned_set(w, n, "sm_80/fp16/d64/full/g1/q1/k1", 5);
    assert_int_equal(n, 2);
    char *s = sk_tuned_format(w, n, &t);
    assert_string_equal(s, "sm_80/fp16/d64/full/g1/q1/k1@5 sm_80/fp16/d64/full/g1/q2/k2@9");
    assert_float_equal(t, 5, 0);
    sk_tuned_win back[4];
    assert_int_equal(sk_tuned_parse(s, 0, back, 4), 2);
    assert_float_equal(back[1].us, 9, 0);
    free(s);
    n = sk_tuned_remove(w, n, "sm_80/fp16/d64/full/g1/q1/k1");
    assert_int_equal(n, 1);
    s = sk_tuned_format(w, n, &t);
    assert_string_equal(s, "sm_80/fp16/d64/full/g1/q2/k2"); /* one bucket: the plain form */
    assert_float_equal(t, 9, 0);
    free(s);
}

/* A valid entry with fake cubin bytes. */
static void make_entry(sk_cache_entry *e, const char *config, const char *bucket, double us) {
    memset(e, 0, sizeof *e);
    e->family = "fmha_fwd"; e->arch = "sm_90a"; e->template_name = "t";
    e->config = (char *)config; e->kernel_name = "k"; e->grid_rule = "1 1 1";
    e->gen_digest = "digest"; e->toolchain = "nvrtc-13.0"; e->options = "-O3";
    e->block[0] = e->block[1] = e->block[2] = 1;
    e->cluster[0] = e->cluster[1] = e->cluster[2] = 1;
    e->bucket = (char *)bucket; e->gpu = (char *)(bucket[0] ? "G" : ""); e->time_us = us;
    e->cubin = (void *)"\177ELF fake cubin";
    e->cubin_size = 16;
    sk_cache_key(e->gen_digest, e->family, e->config, e->options, e->toolchain, e->arch, e->key);
}

/* A bucket has one winner: writing a new winner takes the bucket off the old one. */
static void test_write_winner(void **state) {
    (void)state;
    char *work = skt_tmpdir("wwork"), *dir = skt_tmpdir("wdir");
    sk_cache_entry a, b;
    sk_err e;
    make_entry(&a, "d=64 m=64", "", 0);
    make_entry(&b, "d=64 m=128", "", 0);
    assert_int_equal(sk_cache_store(work, &a, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(work, &b, &e), SPARSEK_OK);
    const char *b1 = "sm_90a/bf16/d64/full/g1/q512/k512", *b2 = "sm_90a/bf16/d64/full/g1/q2048/k2048";
    assert_int_equal(sk_autotune_write_winner(work, dir, a.key, "sm_90a", b1, 10, "G", &e), SPARSEK_OK);
    assert_int_equal(sk_autotune_write_winner(work, dir, a.key, "sm_90a", b2, 20, "G", &e), SPARSEK_OK);
    assert_int_equal(sk_autotune_write_winner(work, dir, b.key, "sm_90a", b1, 8, "G", &e), SPARSEK_OK);
    char path[1024];
    sk_cache_entry x;
    sk_tuned_win w[4];
    snprintf(path, sizeof path, "%s/%s.skc", dir, a.key);
    assert_int_equal(sk_cache_read(path, &x, &e), SPARSEK_OK);
    assert_int_equal(sk_tuned_parse(x.bucket, x.time_us, w, 4), 1);
    assert_string_equal(w[0].bucket, b2);
    assert_float_equal(w[0].us, 20, 0);
    sk_cache_entry_clear(&x);
    snprintf(path, sizeof path, "%s/%s.skc", dir, b.key);
    assert_int_equal(sk_cache_read(path, &x, &e), SPARSEK_OK);
    assert_string_equal(x.bucket, b1);
    assert_float_equal(x.time_us, 8, 0);
    sk_cache_entry_clear(&x);
    /* Missing entry, bad time. */
    char nokey[65];
    memset(nokey, 'a', 64);
    nokey[64] = 0;
    assert_int_equal(sk_autotune_write_winner(work, dir, nokey, "sm_90a", b1, 8, "G", &e), SPARSEK_CACHE_MISS);
    assert_int_equal(sk_autotune_write_winner(work, dir, a.key, "sm_90a", b1, NAN, "G", &e), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_autotune_write_winner(work, dir, a.key, "sm_90a", b1, 0, "G", &e), SPARSEK_INVALID_ARGUMENT);
    skt_rmtree(work); skt_rmtree(dir);
    free(work); free(dir);
}

/* `show` counts the tuned entries another generator version wrote (make_entry's digest is not
 * this generator's). */
static void test_show_flags_stale(void **state) {
    (void)state;
    char *dir = skt_tmpdir("sshow");
    sk_cache_entry a;
    sk_err e;
    make_entry(&a, "d=64 m=64", "sm_90a/bf16/d64/full/g1/q512/k512", 12);
    assert_int_equal(sk_cache_store(dir, &a, &e), SPARSEK_OK);
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune show '%s'", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "1 of 1 entries were built by another generator version"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune show '%s' --json", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"entries\": 1, \"bad\": 0, \"stale\": 1}"));
    free(out);
    skt_rmtree(dir);
    free(dir);
}

/* Import (sk_tune_copy_winners): the imported entry becomes the winner of its buckets in the
 * destination (taking them off others), keeping what it already won there. */
static void test_import_claims_buckets(void **state) {
    (void)state;
    char *src = skt_tmpdir("isrc"), *dst = skt_tmpdir("idst");
    const char *b1 = "sm_90a/bf16/d64/full/g1/q512/k512", *b2 = "sm_90a/bf16/d64/full/g1/q2048/k2048";
    sk_cache_entry x, y, y_old;
    sk_err e;
    make_entry(&x, "d=64 m=64", b1, 5);         /* destination: x won b1 */
    make_entry(&y_old, "d=64 m=128", b2, 7);    /* destination: y won b2 */
    make_entry(&y, "d=64 m=128", b1, 4);        /* source: y won b1 */
    assert_int_equal(sk_cache_store(dst, &x, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(dst, &y_old, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(src, &y, &e), SPARSEK_OK);
    int copied = 0;
    assert_int_equal(sk_tune_copy_winners(src, NULL, dst, &copied, &e), SPARSEK_OK);
    assert_int_equal(copied, 1);
    char path[1024];
    sk_cache_entry r;
    sk_tuned_win w[4];
    snprintf(path, sizeof path, "%s/%s.skc", dst, y.key);
    assert_int_equal(sk_cache_read(path, &r, &e), SPARSEK_OK);
    assert_int_equal(sk_tuned_parse(r.bucket, r.time_us, w, 4), 2);
    assert_true((!strcmp(w[0].bucket, b1) && w[0].us == 4 && !strcmp(w[1].bucket, b2) && w[1].us == 7) ||
                (!strcmp(w[1].bucket, b1) && w[1].us == 4 && !strcmp(w[0].bucket, b2) && w[0].us == 7));
    sk_cache_entry_clear(&r);
    snprintf(path, sizeof path, "%s/%s.skc", dst, x.key);
    assert_int_equal(sk_cache_read(path, &r, &e), SPARSEK_OK);
    assert_string_equal(r.bucket, ""); /* lost b1 to y */
    sk_cache_entry_clear(&r);
    /* An entry whose bucket list is unreadable is not imported, and not an error. */
    sk_cache_entry z;
    make_entry(&z, "d=64 m=32", "not/a/bucket", 3);
    assert_int_equal(sk_cache_store(src, &z, &e), SPARSEK_OK);
    assert_int_equal(sk_tune_copy_winners(src, NULL, dst, &copied, &e), SPARSEK_OK);
    assert_int_equal(copied, 1);
    skt_rmtree(src); skt_rmtree(dst);
    free(src); free(dst);
}

/* The runtime's choice: exact bucket, nearest tuned bucket, heuristic (no tuned bucket for the
 * head dim); a pretend device, since the table only needs the arch. */
static void test_runtime_choice(void **state) {
    (void)state;
    char *dir = skt_tmpdir("rchoice");
    sk_cache_entry a, b, c;
    sk_err e;
    make_entry(&a, "causal=0 d=64 dtype=bf16 m=64", "sm_90a/bf16/d64/full/g1/q512/k512@10 sm_90a/bf16/d64/full/g1/q8192/k8192@30", 10);
    make_entry(&b, "causal=0 d=64 dtype=bf16 m=128", "sm_90a/bf16/d64/full/g1/q2048/k2048", 20);
    make_entry(&c, "causal=0 d=64 dtype=bf16 m=32", "sm_80/bf16/d64/full/g1/q2048/k2048", 5); /* other arch */
    c.arch = "sm_80";
    sk_cache_key(c.gen_digest, c.family, c.config, c.options, c.toolchain, c.arch, c.key);
    assert_int_equal(sk_cache_store(dir, &a, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(dir, &b, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(dir, &c, &e), SPARSEK_OK);
    /* Tuned on another GPU of the arch: closer for 3000 (q4096), but this GPU's own q2048
     * winner comes first; the only d=256 winner is used as it is. */
    sk_cache_entry o1, o2;
    make_entry(&o1, "causal=0 d=64 dtype=bf16 m=256", "sm_90a/bf16/d64/full/g1/q4096/k4096", 1);
    make_entry(&o2, "causal=0 d=256 dtype=bf16 m=64", "sm_90a/bf16/d256/full/g1/q512/k512", 2);
    o1.gpu = o2.gpu = "Other";
    assert_int_equal(sk_cache_store(dir, &o1, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(dir, &o2, &e), SPARSEK_OK);
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.cache_dir = dir;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    snprintf(rt->info.arch, sizeof rt->info.arch, "sm_90a");
    sk_rt_tuned_scan(rt, 1, 0);
    assert_int_equal(sk_rt_tuned_count(rt, 0), 5);
    assert_int_equal(sk_rt_tuned_count(rt, 1), 0); /* the device's name is "" */
    snprintf(rt->info.name, sizeof rt->info.name, "G");
    assert_int_equal(sk_rt_tuned_count(rt, 1), 3);
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SPARSEK_BF16; p.batch = 1; p.heads_q = p.heads_kv = 8; p.head_dim = 64;
    char cfg[512], used[96];
    double us = 0;
    const struct { int sq, sk; const char *cfg, *used; double us; } want[] = {
        {512, 512, "causal=0 d=64 dtype=bf16 m=64", "sm_90a/bf16/d64/full/g1/q512/k512", 10},
        {2000, 2000, "causal=0 d=64 dtype=bf16 m=128", "sm_90a/bf16/d64/full/g1/q2048/k2048", 20},
        {3000, 3000, "causal=0 d=64 dtype=bf16 m=128", "sm_90a/bf16/d64/full/g1/q2048/k2048", 20}, /* nearest */
        {100000, 70000, "causal=0 d=64 dtype=bf16 m=64", "sm_90a/bf16/d64/full/g1/q8192/k8192", 30},
        {1, 1, "causal=0 d=64 dtype=bf16 m=64", "sm_90a/bf16/d64/full/g1/q512/k512", 10},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        p.seqlen_q = want[i].sq;
        p.seqlen_k = want[i].sk;
        assert_int_equal(sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, used, sizeof used, &us), 1);
        assert_string_equal(cfg, want[i].cfg);
        assert_string_equal(used, want[i].used);
        assert_float_equal(us, want[i].us, 0);
    }
    p.causal = 1; /* nothing tuned for causal: the heuristic */
    assert_int_equal(sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, used, sizeof used, &us), 0);
    p.causal = 0;
    p.head_dim = 128;
    assert_int_equal(sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, NULL, 0, NULL), 0);
    p.head_dim = 256;
    assert_int_equal(sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, used, sizeof used, &us), 1);
    assert_string_equal(cfg, "causal=0 d=256 dtype=bf16 m=64");
    assert_float_equal(us, 2, 0);
    sparsek_runtime_destroy(rt);
    skt_rmtree(dir);
    free(dir);
}

/* Threads racing the first lookup all see the tuned table (the scan holds it). */
typedef struct race_arg {
    sparsek_runtime *rt;
    int found;
} race_arg;

static void *race_lookup(void *arg) {
    race_arg *a = arg;
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SPARSEK_BF16; p.batch = 1; p.heads_q = p.heads_kv = 8; p.head_dim = 64; p.seqlen_q = p.seqlen_k = 512;
    char cfg[512];
    for (int i = 0; i < 20; i++) a->found += sk_rt_tuned_config(a->rt, "fmha_fwd", &p, cfg, sizeof cfg, NULL, 0, NULL);
    return NULL;
}

static void test_first_lookup_race(void **state) {
    (void)state;
    char *dir = skt_tmpdir("race");
    sk_err e;
    for (int i = 0; i < 40; i++) { /* enough entries that the scan takes a while */
        sk_cache_entry x;
        char cfg[64];
        snprintf(cfg, sizeof cfg, "causal=0 d=64 dtype=bf16 m=%d", i);
        make_entry(&x, cfg, i ? "" : "sm_90a/bf16/d64/full/g1/q512/k512", 10);
        assert_int_equal(sk_cache_store(dir, &x, &e), SPARSEK_OK);
    }
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.cache_dir = dir;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    snprintf(rt->info.arch, sizeof rt->info.arch, "sm_90a");
    pthread_t th[4];
    race_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (race_arg){rt, 0};
        assert_int_equal(pthread_create(&th[t], NULL, race_lookup, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].found, 20);
    }
    sparsek_runtime_destroy(rt);
    skt_rmtree(dir);
    free(dir);
}

static int messages;
static char last_message[1024];
static void on_log(void *user, const char *msg) {
    (void)user;
    messages++;
    snprintf(last_message, sizeof last_message, "%s", msg);
}

/* No tuned entry for the device: said once, through the log callback. */
static void test_heuristic_said_once(void **state) {
    (void)state;
    char *dir = skt_tmpdir("once");
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.cache_dir = dir;
    ro.log = on_log;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    snprintf(rt->info.arch, sizeof rt->info.arch, "sm_90a");
    snprintf(rt->info.name, sizeof rt->info.name, "Pretend GPU");
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SPARSEK_BF16; p.batch = 1; p.heads_q = p.heads_kv = 8; p.head_dim = 64; p.seqlen_q = p.seqlen_k = 64;
    char cfg[512];
    messages = 0;
    for (int i = 0; i < 3; i++) assert_int_equal(sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, NULL, 0, NULL), 0);
    assert_int_equal(messages, 1);
    assert_non_null(strstr(last_message, "heuristic"));
    assert_non_null(strstr(last_message, "Pretend GPU"));
    sparsek_runtime_destroy(rt);
    /* Opted in to first-run tuning without a GPU: it says so and create still succeeds. */
    messages = 0;
    ro.autotune = 1;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    sparsek_device_info info;
    assert_int_equal(sparsek_runtime_device_info(rt, &info), SPARSEK_OK);
    if (!info.has_device) {
        assert_int_equal(messages, 1);
        assert_non_null(strstr(last_message, "autotune: no GPU"));
    }
    sparsek_runtime_destroy(rt);
    skt_rmtree(dir);
    free(dir);
}

static void test_shapes(void **state) {
    (void)state;
    sk_tune_shape *s = NULL;
    int n = 0;
    sk_err e;
    assert_int_equal(sk_autotune_preset("standard", &s, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 24);
    /* Every shape its own bucket; d, dtype and mask all covered. */
    char seen[24][96];
    int d64 = 0, fp16 = 0, causal = 0;
    for (int i = 0; i < n; i++) {
        sparsek_attention_params p;
        sk_tune_shape_params(&s[i], &p);
        sk_bucket b;
        sk_bucket_of("sm_90a", &p, &b);
        sk_bucket_format(&b, seen[i], sizeof seen[i]);
        for (int j = 0; j < i; j++) assert_string_not_equal(seen[i], seen[j]);
        d64 += s[i].d == 64;
        fp16 += s[i].dtype == SPARSEK_FP16;
        causal += s[i].causal;
    }
    assert_int_equal(d64, 12);
    assert_int_equal(fp16, 12);
    assert_int_equal(causal, 12);
    free(s);
    assert_int_equal(sk_autotune_preset("huge", &s, &n, &e), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "unknown preset 'huge'"));
    assert_int_equal(sk_autotune_parse_shapes("b=2 h=32 hkv=8 s=4096 d=128 causal=1 warps=4\n", &s, &n, &e), SPARSEK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].hkv, 8);
    assert_int_equal(s[0].sk, 4096);
    assert_string_equal(s[0].tiles, "warps=4");
    free(s);
    const struct { const char *text, *msg; } bad[] = {
        {"b=1 h=4 d=64\n", "line 1: give the sequence lengths"},
        {"s=64\nb=x s=64\n", "line 2: bad value 'x' for b"},
        {"s=64 dtype=fp8\n", "bad value 'fp8' for dtype"},
        {"s=64 h=6 hkv=4\n", "not a multiple"},
        {"s=64 causal=2\n", "bad value '2' for causal"},
        {"s=64 nonsense\n", "expected key=value"},
        {"# nothing\n\n", "no shapes given"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sk_autotune_parse_shapes(bad[i].text, &s, &n, &e), SPARSEK_INVALID_ARGUMENT);
        if (!strstr(e.msg, bad[i].msg)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, e.msg, bad[i].msg);
        assert_null(s);
    }
}

static void expect(const char *args, int want_rc, const char *needle) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune %s", bin(), args);
    const int rc = skt_run(cmd, &out);
    if (rc != want_rc) fail_msg("'%s' exited %d (want %d):\n%s", args, rc, want_rc, out);
    if (needle && !strstr(out, needle)) fail_msg("'%s' output lacks '%s':\n%s", args, needle, out);
    free(out);
}

static void test_cli(void **state) {
    (void)state;
    expect("tune --help", 0, "usage: sparsek-tune tune");
    expect("show --help", 0, "usage: sparsek-tune show");
    expect("load --help", 0, "usage: sparsek-tune load DIR");
    expect("--help", 0, "tune [FAMILY]");
    expect("tune --budget 0", 2, "--budget wants a number of seconds > 0");
    expect("tune --budget abc", 2, "--budget wants");
    expect("tune --iters 5", 2, "--iters wants an integer >= 10");
    expect("tune --jobs 0", 2, "--jobs wants");
    expect("tune vec_add", 2, "no tuner for family 'vec_add'");
    expect("tune --preset standard --shapes x", 2, "not both");
    expect("tune --preset tiny", 2, "unknown preset 'tiny'");
    expect("tune --shapes /nonexistent/shapes.txt", 2, "/nonexistent/shapes.txt");
    expect("tune --frob", 2, "unknown or incomplete argument '--frob'");
    expect("show --frob", 2, "unknown argument");
    expect("load", 2, "missing DIR");
    /* Without a GPU, tune and load fail with the reason, not a crash. */
    char *out = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune info", bin());
    skt_run(cmd, &out);
    const int gpu = strstr(out, "device        none") == NULL;
    free(out);
    if (!gpu) {
        char *dir = skt_tmpdir("tcli"), args[1024];
        snprintf(args, sizeof args, "tune --preset standard --dir '%s'", dir);
        expect(args, 1, "SPARSEK_NO_DEVICE: tuning needs a GPU");
        snprintf(args, sizeof args, "load '%s' --check", dir);
        expect(args, 1, "no GPU");
        skt_rmtree(dir);
        free(dir);
    }
}

/* ---- the GPU paths on a pretend driver (tests/fake_gpu.c) ---------------------------------- */

static char *fake_dir, *fake_lib;

/* Builds the pretend driver; NULL (and the tests using it skip) where no compiler works. */
static const char *fake_gpu(void) {
    if (fake_lib) return fake_lib[0] ? fake_lib : NULL;
    fake_dir = skt_tmpdir("fakegpu");
    fake_lib = malloc(2048);
    snprintf(fake_lib, 2048, "%s/libfakecuda.so", fake_dir);
    if (skt_build_cuda_lib("tests/fake_gpu.c", fake_lib, "-O2 -Iruntime -lm", "pretend driver") != 0) fake_lib[0] = 0;
    return fake_lib[0] ? fake_lib : NULL;
}

static const char *fake_shapes =
    "b=1 h=2 s=64 d=64 dtype=bf16 causal=1 path=mma m=64 n=64 warps=4 qregs=0 sunroll=2\n"
    "b=2 h=4 hkv=2 sq=100 sk=300 d=64 dtype=fp16 causal=0 path=mma m=64 n=64 warps=4 qregs=0 sunroll=2\n";

/* tune -> show -> load --check without NVRTC -> bench, as on the device, through the CLI. */
static void test_cli_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("fakecli"), shapes[1024], cmd[8192], *out = NULL;
    snprintf(shapes, sizeof shapes, "%s/shapes.txt", dir);
    assert_int_equal(skt_write_file(shapes, fake_shapes, strlen(fake_shapes)), 0);
    snprintf(cmd, sizeof cmd, "SPARSEK_CUDA_LIBRARY='%s' %s/sparsek-tune tune --shapes '%s' --dir '%s/c' --jobs 2 --json",
             lib, bin(), shapes, dir);
    if (skt_run(cmd, &out) != 0) fail_msg("%s\n%s", cmd, out);
    /* Both buckets tuned; the stages=3 kernels compute a wrong result: reported, never winners. */
    assert_non_null(strstr(out, "\"gpu\": \"Fake GPU\""));
    assert_non_null(strstr(out, "\"finished\": 2, \"skipped\": 0"));
    assert_non_null(strstr(out, "\"bucket\": \"sm_90a/bf16/d64/causal/g1/q64/k64\""));
    assert_non_null(strstr(out, "\"bucket\": \"sm_90a/fp16/d64/full/g2/q128/k512\""));
    assert_non_null(strstr(out, "\"wrong\": 1"));
    for (const char *p = out; (p = strstr(p, "\"winner\": ")) != NULL; p++) {
        const char *end = strchr(p + 11, ',');
        assert_non_null(end);
        if (memmem(p, (size_t)(end - p), "stages=3", 8)) fail_msg("a wrong candidate won:\n%s", out);
    }
    free(out);
    snprintf(cmd, sizeof cmd, "%s/sparsek-tune show '%s/c'", bin(), dir);
    assert_int_equal(skt_run(cmd, &out), 0);
    assert_non_null(strstr(out, "2 buckets"));
    free(out);
    /* The winners load and run without NVRTC; the re-times match the pretend clock exactly. */
    snprintf(cmd, sizeof cmd,
             "SPARSEK_CUDA_LIBRARY='%s' SPARSEK_NVRTC_LIBRARY=/nonexistent %s/sparsek-tune load '%s/c' --check --shapes '%s'",
             lib, bin(), dir, shapes);
    if (skt_run(cmd, &out) != 0) fail_msg("%s\n%s", cmd, out);
    assert_non_null(strstr(out, "2 loaded, 0 rejected, 2 tuned buckets"));
    assert_non_null(strstr(out, "checked 2 shape(s): 0 failed; worst re-time spread vs the tuned time 0.0%"));
    free(out);
    /* A shape of no tuned bucket runs the nearest bucket's winner (still no NVRTC). */
    snprintf(shapes, sizeof shapes, "%s/other.txt", dir);
    assert_int_equal(skt_write_file(shapes, "b=1 h=2 s=200 d=64 dtype=bf16 causal=1\n", 39), 0);
    snprintf(cmd, sizeof cmd,
             "SPARSEK_CUDA_LIBRARY='%s' SPARSEK_NVRTC_LIBRARY=/nonexistent %s/sparsek-tune load '%s/c' --check --shapes '%s'",
             lib, bin(), dir, shapes);
    if (skt_run(cmd, &out) != 0) fail_msg("%s\n%s", cmd, out);
    const char *line = strstr(out, "\nsm_90a/bf16/d64/causal/g1/q256/k256 ");
    assert_non_null(line);
    const char *eol = strchr(line + 1, '\n');
    assert_non_null(eol);
    if (!memmem(line, (size_t)(eol - line), " sm_90a/bf16/d64/causal/g1/q64/k64 ", 35) ||
        !memmem(line, (size_t)(eol - line), "  ok", 4))
        fail_msg("want the q64/k64 winner, checked ok:\n%s", out);
    free(out);
    /* A kernel fault (any fp16 kernel: the second shape's first candidate) stops the run:
     * the first bucket's winner is kept, the rest reported; the rerun skips the faulting
     * candidate (logged failed) and finishes. */
    snprintf(shapes, sizeof shapes, "%s/shapes.txt", dir);
    snprintf(cmd, sizeof cmd,
             "SPARSEK_CUDA_LIBRARY='%s' FAKE_FAULT=fp16 %s/sparsek-tune tune --shapes '%s' --dir '%s/f' --jobs 2",
             lib, bin(), shapes, dir);
    assert_int_equal(skt_run(cmd, &out), 4);
    assert_non_null(strstr(out, "tuned 1 of 2 buckets"));
    assert_non_null(strstr(out, "the GPU failed while measuring"));
    assert_non_null(strstr(out, "CUDA_ERROR_ILLEGAL_ADDRESS"));
    free(out);
    snprintf(cmd, sizeof cmd, "SPARSEK_CUDA_LIBRARY='%s' %s/sparsek-tune tune --shapes '%s' --dir '%s/f' --jobs 2 --json",
             lib, bin(), shapes, dir);
    if (skt_run(cmd, &out) != 0) fail_msg("%s\n%s", cmd, out);
    assert_non_null(strstr(out, "\"finished\": 2, \"skipped\": 0"));
    assert_non_null(strstr(out, "\"failed\": 1")); /* the faulting candidate, not measured again */
    free(out);
    /* bench: the heuristic against the loaded winner. */
    snprintf(cmd, sizeof cmd, "SPARSEK_CUDA_LIBRARY='%s' SPARSEK_CACHE_DIR='%s/bc' %s/sparsek-tune bench fmha_fwd b=1 h=2 s=64 "
             "d=64 causal=1 --iters 10 --load '%s/c'", lib, dir, bin(), dir);
    if (skt_run(cmd, &out) != 0) fail_msg("%s\n%s", cmd, out);
    assert_non_null(strstr(out, "heuristic "));
    assert_non_null(strstr(out, "winner of sm_90a/bf16/d64/causal/g1/q64/k64"));
    free(out);
    skt_rmtree(dir);
    free(dir);
}

/* First-run tuning: opted in, a GPU with nothing tuned: the runtime tunes (here a small shapes
 * file), keeps the winners and uses them; the next runtime finds them and does not tune. */
static void test_first_run_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("firstrun"), shapes[1024];
    snprintf(shapes, sizeof shapes, "%s/shapes.txt", dir);
    const char *one = "b=1 h=2 s=64 d=64 dtype=bf16 causal=1 path=mma m=64 n=64 warps=4 qregs=0 sunroll=2\n";
    assert_int_equal(skt_write_file(shapes, one, strlen(one)), 0);
    setenv("SPARSEK_CUDA_LIBRARY", lib, 1);
    setenv("SPARSEK_AUTOTUNE_SHAPES", shapes, 1);
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.cache_dir = dir;
    ro.log = on_log;
    ro.autotune = 1;
    messages = 0;
    sparsek_runtime *rt;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    assert_true(messages >= 3); /* starting, the bucket, the summary */
    assert_non_null(strstr(last_message, "autotune: 1 of 1 buckets tuned"));
    assert_int_equal(sk_rt_tuned_count(rt, 1), 1);
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.q = p.k = p.v = p.o = (void *)(uintptr_t)256;
    p.dtype = SPARSEK_BF16; p.batch = 1; p.heads_q = p.heads_kv = 2; p.head_dim = 64; p.seqlen_q = p.seqlen_k = 64;
    p.causal = 1;
    sparsek_attention_params_set_layout(&p, 0);
    char cfg[512], heur[512];
    sk_err e;
    assert_int_equal(sparsek_attention_forward_config(rt, &p, cfg, sizeof cfg), SPARSEK_OK);
    assert_int_equal(sk_fmha_heuristic_config(rt, &p, heur, sizeof heur, &e), SPARSEK_OK);
    assert_non_null(strstr(cfg, "sunroll=")); /* a full tuned config, not the heuristic's short form */
    assert_string_not_equal(cfg, heur);
    sparsek_runtime_destroy(rt);
    messages = 0;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    assert_int_equal(messages, 0); /* tuned already: nothing to do, nothing said */
    assert_int_equal(sparsek_attention_forward_config(rt, &p, cfg, sizeof cfg), SPARSEK_OK);
    assert_non_null(strstr(cfg, "sunroll="));
    sparsek_runtime_destroy(rt);
    unsetenv("SPARSEK_CUDA_LIBRARY");
    unsetenv("SPARSEK_AUTOTUNE_SHAPES");
    skt_rmtree(dir);
    free(dir);
}

/* A runtime on the pretend GPU with its own cache folder; NVRTC off when no_nvrtc. */
static sparsek_runtime *pretend_runtime(const char *lib, const char *cache_dir, int no_nvrtc) {
    setenv("SPARSEK_CUDA_LIBRARY", lib, 1);
    if (no_nvrtc) setenv("SPARSEK_NVRTC_LIBRARY", "/nonexistent/libnvrtc.so.13", 1);
    else unsetenv("SPARSEK_NVRTC_LIBRARY");
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.cache_dir = cache_dir;
    sparsek_runtime *rt = NULL;
    assert_int_equal(sparsek_runtime_create(&rt, &ro, NULL, 0), SPARSEK_OK);
    return rt;
}

/* Pretuned entries of another generator version: with NVRTC at hand their configs are compiled
 * afresh (the tuned choice stays, the cubin goes); without it the loaded cubin runs. Entries of
 * this generator run as loaded either way. */
static void test_stale_pretuned_recompiled(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *work = skt_tmpdir("stwork"), *pre = skt_tmpdir("stpre"), *cur = skt_tmpdir("stcur");
    char *c1 = skt_tmpdir("stc1"), *c2 = skt_tmpdir("stc2"), *c3 = skt_tmpdir("stc3");
    sparsek_runtime *rt = pretend_runtime(lib, work, 0);
    sparsek_compiled *c = NULL;
    assert_int_equal(sparsek_compile(rt, "fmha_fwd", "d=64 dtype=bf16 causal=0 path=mma", "sm_90a", &c), SPARSEK_OK);
    char *config = strdup(c->src->config), path[1024];
    snprintf(path, sizeof path, "%s/%s.skc", work, c->src->cache_key);
    sparsek_compiled_free(c);
    sparsek_runtime_destroy(rt);
    sk_cache_entry ent;
    sk_err e;
    assert_int_equal(sk_cache_read(path, &ent, &e), SPARSEK_OK);
    assert_int_equal(sk_cache_store(cur, &ent, &e), SPARSEK_OK);   /* this generator's entry */
    char *digest = ent.gen_digest;
    ent.gen_digest = "an-older-generator";
    sk_cache_key(ent.gen_digest, ent.family, ent.config, ent.options, ent.toolchain, ent.arch, ent.key);
    assert_int_equal(sk_cache_store(pre, &ent, &e), SPARSEK_OK);
    ent.gen_digest = digest;
    sk_cache_entry_clear(&ent);

    const struct { const char *dir, *cache; int no_nvrtc, want_pretuned; } cases[] = {
        {pre, c1, 0, 0},   /* stale, NVRTC: compiled afresh */
        {pre, c2, 1, 1},   /* stale, no NVRTC: the loaded cubin */
        {cur, c3, 0, 1},   /* current: the loaded cubin */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt = pretend_runtime(lib, cases[i].cache, cases[i].no_nvrtc);
        assert_int_equal(sparsek_runtime_load(rt, cases[i].dir), SPARSEK_OK);
        const sk_kernel *k = NULL, *again = NULL;
        if (sk_rt_kernel(rt, "fmha_fwd", config, &k, &e)) fail_msg("case %zu: %s", i, e.msg);
        if (k->from_pretuned != cases[i].want_pretuned) fail_msg("case %zu: from_pretuned %d", i, k->from_pretuned);
        assert_int_equal(sk_rt_kernel(rt, "fmha_fwd", config, &again, &e), SPARSEK_OK);
        assert_ptr_equal(again, k);   /* settled: the same kernel on every later call */
        sparsek_runtime_destroy(rt);
    }
    unsetenv("SPARSEK_CUDA_LIBRARY");
    unsetenv("SPARSEK_NVRTC_LIBRARY");
    free(config);
    char *dirs[] = {work, pre, cur, c1, c2, c3};
    for (int i = 0; i < 6; i++) {
        skt_rmtree(dirs[i]);
        free(dirs[i]);
    }
}

/* Runs one SparseK call on the pretend GPU with its launch log and returns the log (a line per
 * launch: kernel, "grid=x,y,z", then " pdl" if it was a programmatic dependent; free it). */
static char *launch_log(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp, void *scratch, size_t bytes,
                        const char *tiles, const char *dir) {
    char log[4096];
    snprintf(log, sizeof log, "%s/launches.txt", dir);
    remove(log);
    setenv("FAKE_LAUNCH_LOG", log, 1);
    const sparsek_status st = sparsek_sparse_attention_forward_with(rt, sp, scratch, bytes, tiles, NULL);
    unsetenv("FAKE_LAUNCH_LOG");
    if (st) fail_msg("%s: %s", tiles ? tiles : "(default tiles)", sparsek_last_error(rt));
    char *text = skt_read_file(log, NULL);
    assert_non_null(text);
    return text;
}

/* The kernels one call launched, in order, as short names ("select", "hist", "compact",
 * "finish", "decode", "combine"), each with "+" if it was launched as a programmatic dependent. */
static void launch_sequence(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp, void *scratch,
                            size_t bytes, const char *tiles, const char *dir, char *seq, size_t cap) {
    char *text = launch_log(rt, sp, scratch, bytes, tiles, dir);
    static const char *const kinds[] = {"_hist_", "_compact_", "_finish_", "sparsek_decode_combine", "sparsek_decode",
                                        "sparsek_select"};
    static const char *const names[] = {"hist", "compact", "finish", "combine", "decode", "select"};
    seq[0] = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        const char *name = "?";
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strstr(l, kinds[i])) { name = names[i]; break; }
        const size_t at = strlen(seq);
        snprintf(seq + at, cap - at, "%s%s%s", at ? " " : "", name, strstr(l, " pdl") ? "+" : "");
    }
    free(text);
}

/* A decode call on the pretend GPU (pointers it never reads): B 1, Sq 1, Sk 300, Hq 8, Hkv 2,
 * D 64, bf16, k 16, w 8. */
static void decode_params(sparsek_sparse_attention_params *sp) {
    memset(sp, 0, sizeof *sp);
    sparsek_attention_params *p = &sp->base;
    p->q = p->k = p->v = p->o = (void *)(uintptr_t)256;
    p->dtype = SPARSEK_BF16; p->batch = 1; p->seqlen_q = 1; p->seqlen_k = 300;
    p->heads_q = 8; p->heads_kv = 2; p->head_dim = 64;
    sparsek_attention_params_set_layout(p, 0);
    sp->scores = (const float *)(uintptr_t)256;
    sp->score_stride[0] = 2 * 300; sp->score_stride[1] = 300;
    sp->topk = 16; sp->window = 8;
}

/* sparsek_sparse_attention_forward_with on a decode call takes sparsek_decode tile keys: valid
 * ones run (the pretend GPU launches nothing), others are refused naming the family; the
 * launches' order and programmatic-dependent flags, with the one-kernel and the split selection. */
static void test_decode_tiles_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("dtiles");
    sparsek_runtime *rt = pretend_runtime(lib, dir, 0);
    sparsek_sparse_attention_params sp;
    decode_params(&sp);
    sparsek_sparse_scratch_layout L;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 1);
    void *scratch = (void *)(uintptr_t)4096;
    /* The pretend GPU is sm_90a: the call's first kernel is launched plainly (after the memset,
     * for the split selection's hist), every later one as the programmatic dependent of the
     * kernel before it. */
    char seq[256];
    launch_sequence(rt, &sp, scratch, L.bytes, "m=64 n=32 stages=3", dir, seq, sizeof seq);
    assert_string_equal(seq, "select decode+ combine+");
    setenv("SPARSEK_SELECT_SPLIT_MIN", "64", 1);   /* the 292-key prefix takes the split selection */
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    assert_true(L.select_chunk > 0);
    void *host = aligned_alloc(256, (L.bytes + 255) / 256 * 256);   /* the pretend driver's memset writes it */
    assert_non_null(host);
    launch_sequence(rt, &sp, host, L.bytes, NULL, dir, seq, sizeof seq);
    free(host);
    unsetenv("SPARSEK_SELECT_SPLIT_MIN");
    assert_string_equal(seq, "hist compact+ finish+ decode+ combine+");
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, &sp, scratch, L.bytes, "warps=8", NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "sparsek_decode"));
    sparsek_runtime_destroy(rt);
    unsetenv("SPARSEK_CUDA_LIBRARY");
    skt_rmtree(dir);
    free(dir);
}

/* The grid of the call's sparsek_fwd launch (the last one in the launch log), as "name x,y,z". */
static void prefill_launch(sparsek_runtime *rt, const sparsek_sparse_attention_params *sp, void *scratch, size_t bytes,
                           const char *tiles, const char *dir, char *out, size_t cap) {
    char *text = launch_log(rt, sp, scratch, bytes, tiles, dir);
    out[0] = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        char name[160];
        unsigned x, y, z;
        if (strstr(l, "sparsek_fwd") && sscanf(l, "%159s grid=%u,%u,%u", name, &x, &y, &z) == 4)
            snprintf(out, cap, "%s %u,%u,%u", name, x, y, z);
    }
    free(text);
}

/* Prefill on the pretend GPU (sm_90a, 132 SMs): at d=128 the persistent pingpong kernel, one CTA
 * per SM at most, one per tile where there are fewer tiles, with a KV group's heads packed in a
 * tile (pack=auto); persist=0 and the sync schedule (d=64) launch a CTA per tile: (head or head
 * group, query tile, batch). */
static void test_prefill_grid_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("pgrid");
    sparsek_runtime *rt = pretend_runtime(lib, dir, 0);
    sparsek_sparse_attention_params sp;
    decode_params(&sp);
    sparsek_attention_params *p = &sp.base;
    /* Hq 8, Hkv 2: pack=4 puts a group's 4 heads in a tile of 32 positions, 2 x 94 x 2 tiles */
    p->batch = 2; p->seqlen_q = p->seqlen_k = 3000; p->head_dim = 128;
    sparsek_attention_params_set_layout(p, 0);
    sp.score_stride[0] = 2 * 3000; sp.score_stride[1] = 3000;
    sparsek_sparse_scratch_layout L;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    assert_int_equal(L.decode, 0);
    void *host = aligned_alloc(256, (L.bytes + 255) / 256 * 256);   /* the pretend driver's memsets write it */
    assert_non_null(host);
    char got[256];
    prefill_launch(rt, &sp, host, L.bytes, NULL, dir, got, sizeof got);
    assert_string_equal(got, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist_pk4 132,1,1");
    prefill_launch(rt, &sp, host, L.bytes, "persist=0", dir, got, sizeof got);
    assert_string_equal(got, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_pk4 2,94,2");
    prefill_launch(rt, &sp, host, L.bytes, "persist=0 pack=1", dir, got, sizeof got);   /* 8 heads x 24 x 2 */
    assert_string_equal(got, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp 8,24,2");
    prefill_launch(rt, &sp, host, L.bytes, "pack=2", dir, got, sizeof got);   /* 4 x 47 x 2 tiles */
    assert_string_equal(got, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist_pk2 132,1,1");
    /* the runtime names the group itself: a tile key naming it too is refused */
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, &sp, host, L.bytes, "group=4", NULL),
                     SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(sparsek_last_error(rt), "duplicate key 'group'"));
    p->seqlen_q = 1000;   /* a chunk of 1000 rows: 2 x 32 x 2 = 128 tiles, fewer than the SMs */
    sparsek_attention_params_set_layout(p, 0);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    prefill_launch(rt, &sp, host, L.bytes, NULL, dir, got, sizeof got);
    assert_string_equal(got, "sparsek_fwd_wgmma_d128_m128_n64_w8_s4_gate_bf16_pp_persist_pk4 128,1,1");
    p->head_dim = 64;
    sparsek_attention_params_set_layout(p, 0);
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    prefill_launch(rt, &sp, host, L.bytes, NULL, dir, got, sizeof got);
    assert_string_equal(got, "sparsek_fwd_wgmma_d64_m128_n64_w8_s4_gate_bf16 8,8,2");
    free(host);
    sparsek_runtime_destroy(rt);
    unsetenv("SPARSEK_CUDA_LIBRARY");
    skt_rmtree(dir);
    free(dir);
}

/* Shared memory beyond 48 KB per CTA, static and dynamic together, needs the kernel's opt-in to
 * its dynamic size even where the dynamic part alone is below 48 KB (the decode kernel here:
 * 25088 dynamic bytes, plus 30000 static on the pretend GPU); more than the device allows is
 * refused with both sizes named, before any launch. */
static void test_static_smem_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("ssmem");
    sparsek_sparse_attention_params sp;
    decode_params(&sp);
    char log[4096];
    snprintf(log, sizeof log, "%s/attr.log", dir);
    setenv("FAKE_ATTR_LOG", log, 1);
    setenv("FAKE_STATIC_SMEM", "30000", 1);
    sparsek_runtime *rt = pretend_runtime(lib, dir, 0);
    sparsek_sparse_scratch_layout L;
    assert_int_equal(sparsek_sparse_attention_scratch_layout(rt, &sp, &L), SPARSEK_OK);
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, &sp, (void *)(uintptr_t)4096, L.bytes, "m=64 n=32", NULL),
                     SPARSEK_OK);
    sparsek_runtime_destroy(rt);
    size_t n = 0;
    char *text = skt_read_file(log, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "maxdyn 25088\n"));
    free(text);
    setenv("FAKE_STATIC_SMEM", "230000", 1);   /* the pretend GPU allows 232448 */
    rt = pretend_runtime(lib, dir, 0);
    assert_int_equal(sparsek_sparse_attention_forward_with(rt, &sp, (void *)(uintptr_t)4096, L.bytes, "m=64 n=32", NULL),
                     SPARSEK_NOT_SUPPORTED);
    assert_non_null(strstr(sparsek_last_error(rt), "needs 230000 + "));
    sparsek_runtime_destroy(rt);
    unsetenv("FAKE_STATIC_SMEM");
    unsetenv("FAKE_ATTR_LOG");
    unsetenv("SPARSEK_CUDA_LIBRARY");
    skt_rmtree(dir);
    free(dir);
}

/* The shape hint on an sm_90a device without tuned winners: a d=64 grid of fewer 128-row tiles
 * than SMs runs the mma path's 64-row tiles, a larger one (and d=128) the wgmma default. */
static void test_shape_hint_on_pretend_gpu(void **state) {
    (void)state;
    const char *lib = fake_gpu();
    if (!lib) skip();
    char *dir = skt_tmpdir("hint");
    sparsek_runtime *rt = pretend_runtime(lib, dir, 0);
    sparsek_attention_params p;
    memset(&p, 0, sizeof p);
    p.q = p.k = p.v = p.o = (void *)(uintptr_t)256;
    p.dtype = SPARSEK_BF16; p.batch = 1; p.heads_q = p.heads_kv = 8; p.head_dim = 64; p.seqlen_q = p.seqlen_k = 512;
    sparsek_attention_params_set_layout(&p, 0);
    char cfg[512];
    assert_int_equal(sparsek_attention_forward_config(rt, &p, cfg, sizeof cfg), SPARSEK_OK);
    if (!strstr(cfg, "path=mma") || !strstr(cfg, "m=64")) fail_msg("B=1 H=8 S=512 d=64: %s", cfg);
    p.heads_q = p.heads_kv = 96; /* 384 tiles of 128 rows >= 132 SMs */
    assert_int_equal(sparsek_attention_forward_config(rt, &p, cfg, sizeof cfg), SPARSEK_OK);
    if (strstr(cfg, "path=mma")) fail_msg("B=1 H=96 S=512 d=64: %s", cfg);
    p.heads_q = p.heads_kv = 8;
    p.head_dim = 128;
    assert_int_equal(sparsek_attention_forward_config(rt, &p, cfg, sizeof cfg), SPARSEK_OK);
    if (strstr(cfg, "path=mma")) fail_msg("B=1 H=8 S=512 d=128: %s", cfg);
    sparsek_runtime_destroy(rt);
    unsetenv("SPARSEK_CUDA_LIBRARY");
    skt_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_field),  cmocka_unit_test(test_write_winner),
        cmocka_unit_test(test_import_claims_buckets), cmocka_unit_test(test_show_flags_stale),
        cmocka_unit_test(test_runtime_choice), cmocka_unit_test(test_first_lookup_race),
        cmocka_unit_test(test_heuristic_said_once),
        cmocka_unit_test(test_shapes),        cmocka_unit_test(test_driver),
        cmocka_unit_test(test_every_path),    cmocka_unit_test(test_killed_run_resumes), cmocka_unit_test(test_budget),
        cmocka_unit_test(test_cli),           cmocka_unit_test(test_cli_on_pretend_gpu),
        cmocka_unit_test(test_first_run_on_pretend_gpu), cmocka_unit_test(test_shape_hint_on_pretend_gpu),
        cmocka_unit_test(test_stale_pretuned_recompiled), cmocka_unit_test(test_decode_tiles_on_pretend_gpu),
        cmocka_unit_test(test_prefill_grid_on_pretend_gpu),
        cmocka_unit_test(test_static_smem_on_pretend_gpu),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (fake_dir) skt_rmtree(fake_dir);
    free(fake_dir);
    free(fake_lib);
    return rc;
}
