/* test_tuner.c — the tuner's CPU pieces: search-space enumeration with pruning reasons
 * (sk_gen_candidates, `sparsek-tune list`) and shape buckets (sk_bucket_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sk_bucket.h"
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

static void test_candidates(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_OK);
    char *a = NULL, *b = NULL;
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "d=128 dtype=bf16 causal=1", "sm_90a", &a, &e), SPARSEK_OK);
    assert_int_equal(sk_gen_candidates(g, "fmha_fwd", "causal=1 d=128", "sm_90a", &b, &e), SPARSEK_OK);
    assert_string_equal(a, b); /* stable order, defaults fill in */
    const int ok = count_lines(a, "ok\t"), pruned = count_lines(a, "pruned\t");
    assert_true(ok >= 10);
    assert_true(pruned >= 10);
    /* Every candidate is canonical and valid; every pruned one carries a reason; the
     * heuristic default is in the space. */
    char *def = NULL;
    assert_int_equal(sk_gen_normalize(g, "fmha_fwd", "d=128 causal=1", "sm_90a", &def, &e), SPARSEK_OK);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_list_cli),
        cmocka_unit_test(test_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
