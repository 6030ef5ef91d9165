/* test_ptx.c — the PTX emitters of gen/lua/sparsek/ptx.lua: the Hopper helpers (wgmma from
 * shared memory and from registers, mbarrier, TMA, fence.proxy.async, setmaxnreg) assemble with
 * NVRTC for sm_90a in one smoke kernel, and every emitter refuses shapes and arches it does not
 * support with a reason. (Compile-only: the sm90 attention path that runs them is not built.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sk_gen.h"
#include "sk_nvrtc.h"

static const char *SMOKE =
    "local ptx = require(\"sparsek.ptx\")\n"
    "local A = \"sm_90a\"\n"
    "local out = { \"typedef unsigned int uint32_t;\\n\" }\n"
    "for _, s in ipairs({ ptx.smem_desc(), ptx.wgmma_sync(), ptx.wgmma_ss(64, \"bf16\", A, true),\n"
    "  ptx.wgmma_rs(64, \"bf16\", A, false), ptx.mbarrier(), ptx.tma_load_2d(), ptx.fence_proxy_async() }) do out[#out + 1] = s end\n"
    "out[#out + 1] = [[\n"
    "struct __align__(64) TensorMap { unsigned long long v[16]; };\n"
    "extern \"C\" __global__ void __launch_bounds__(256, 1) hopper_smoke(float *out, const __grid_constant__ TensorMap tmap) {\n"
    "    __shared__ __align__(1024) unsigned short tile_a[64 * 64], tile_b[64 * 64];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const uint32_t s_a = (uint32_t)__cvta_generic_to_shared(tile_a), s_b = (uint32_t)__cvta_generic_to_shared(tile_b);\n"
    "    const uint32_t s_bar = (uint32_t)__cvta_generic_to_shared(&bar);\n"
    "    if (threadIdx.x == 0) { mbarrier_init(s_bar, 1); }\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) { mbarrier_arrive_expect_tx(s_bar, 8192); tma_load_2d(s_a, &tmap, 0, 0, s_bar); }\n"
    "    mbarrier_wait(s_bar, 0);\n"
    "    fence_proxy_async();\n"
    "    if (threadIdx.x >= 128) {\n"
    "        ]] .. ptx.setmaxnreg(\"dec\", 40, A) .. [[\n"
    "\n"
    "        return;\n"
    "    }\n"
    "    ]] .. ptx.setmaxnreg(\"inc\", 232, A) .. [[\n"
    "\n"
    "    float d[8][4];\n"
    "    for (int i = 0; i < 32; ++i) d[i / 4][i % 4] = 0.f;\n"
    "    uint32_t a[4] = {threadIdx.x, 1u, 2u, 3u};\n"
    "    wgmma_fence();\n"
    "    wgmma_m64n64k16_ss_bf16_tb1(d, smem_desc(s_a, 16, 1024, 1), smem_desc(s_b, 16, 1024, 1), 0);\n"
    "    wgmma_m64n64k16_rs_bf16_tb0(d, a, smem_desc(s_b, 16, 1024, 1), 1);\n"
    "    wgmma_commit();\n"
    "    wgmma_wait<0>();\n"
    "    for (int i = 0; i < 32; ++i) out[threadIdx.x * 32 + i] = d[i / 4][i % 4];\n"
    "}\n"
    "]]\n"
    "return table.concat(out)\n"
    "\n";

static void test_hopper_helpers_compile(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_OK);
    char *src = NULL;
    if (sk_gen_eval(g, "=smoke", SMOKE, &src, &e)) fail_msg("%s", e.msg);
    assert_non_null(strstr(src, "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1,"));
    sk_nvrtc *n;
    assert_int_equal(sk_nvrtc_open(&n, &e), SPARSEK_OK);
    sk_compile_result r;
    memset(&r, 0, sizeof r);
    if (sk_nvrtc_compile(n, src, "hopper_smoke", "sm_90a", &r, &e)) fail_msg("%s", e.msg);
    assert_memory_equal(r.cubin, "\177ELF", 4);
    assert_true(r.registers >= 200); /* setmaxnreg.inc 232 shows in the report */
    assert_int_equal(r.spill_stores, 0);
    sk_compile_result_clear(&r);
    /* The same source is not valid for sm_80: NVRTC/ptxas refuse wgmma there. */
    memset(&r, 0, sizeof r);
    assert_int_not_equal(sk_nvrtc_compile(n, src, "hopper_smoke", "sm_80", &r, &e), SPARSEK_OK);
    sk_compile_result_clear(&r);
    free(src);
    sk_nvrtc_close(n);
    sk_gen_close(g);
}

static void expect_refusal(sk_gen *g, const char *code, const char *needle) {
    char *out = NULL;
    sk_err e;
    sparsek_status st = sk_gen_eval(g, "=refusal", code, &out, &e);
    if (st == SPARSEK_OK) fail_msg("'%s' was accepted", code);
    if (!strstr(e.msg, needle)) fail_msg("'%s': message '%s' lacks '%s'", code, e.msg, needle);
    free(out);
}

static void test_emitters_refuse(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_OK);
    const char *p = "local ptx = require('sparsek.ptx'); return ";
    char code[512];
#define REFUSE(expr, needle) snprintf(code, sizeof code, "%s%s", p, expr), expect_refusal(g, code, needle)
    REFUSE("ptx.wgmma_ss(64, 'bf16', 'sm_80')", "need sm_90a");
    REFUSE("ptx.wgmma_ss(64, 'bf16', 'sm_100a')", "need sm_90a");
    REFUSE("ptx.wgmma_ss(12, 'bf16', 'sm_90a')", "multiple of 8");
    REFUSE("ptx.wgmma_rs(264, 'fp16', 'sm_90a')", "multiple of 8");
    REFUSE("ptx.wgmma_ss(64, 'e4m3', 'sm_90a')", "unsupported dtype");
    REFUSE("ptx.setmaxnreg('inc', 250, 'sm_90a')", "multiple of 8");
    REFUSE("ptx.setmaxnreg('up', 240, 'sm_90a')", "inc or dec");
    REFUSE("ptx.setmaxnreg('dec', 40, 'sm_89')", "need sm_90a");
    REFUSE("ptx.mma_m16n8k16('fp32')", "unsupported dtype");
    REFUSE("ptx.require_sm80('sm_75')", "sm_80 or newer");
#undef REFUSE
    char *out = NULL;
    assert_int_equal(sk_gen_eval(g, "=ok", "local ptx = require('sparsek.ptx'); return #ptx.wgmma_ss(256, 'fp16', 'sm_90a', true)", &out, &e), SPARSEK_OK);
    assert_true(atoi(out) > 1000);
    free(out);
    sk_gen_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hopper_helpers_compile),
        cmocka_unit_test(test_emitters_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
