/* test_nvrtc.c — NVRTC through dlopen, no GPU: real compiles to CUBIN for sm_80 / sm_90a /
 * sm_100a (mma.sync bf16 inline PTX, fp16/bf16 headers), wgmma for sm_90a and its rejection on
 * sm_80, syntax errors with the log, the ptxas report parser on captured NVRTC 13.0 output,
 * a process without NVRTC, NULL arguments, and concurrent compiles. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sk_nvrtc.h"
#include "sk_test_util.h"

/* An mma.sync m16n8k16 bf16 kernel in inline PTX, and an fp16/bf16 kernel through the headers. */
static const char *k_mma_src =
    "#include <cuda_fp16.h>\n"
    "#include <cuda_bf16.h>\n"
    "extern \"C\" __global__ void mma_bf16(const unsigned *a, const unsigned *b, float *c) {\n"
    "    unsigned t = threadIdx.x;\n"
    "    unsigned a0 = a[t * 4 + 0], a1 = a[t * 4 + 1], a2 = a[t * 4 + 2], a3 = a[t * 4 + 3];\n"
    "    unsigned b0 = b[t * 2 + 0], b1 = b[t * 2 + 1];\n"
    "    float d0 = 0.f, d1 = 0.f, d2 = 0.f, d3 = 0.f;\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 \"\n"
    "                 \"{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n\"\n"
    "                 : \"+f\"(d0), \"+f\"(d1), \"+f\"(d2), \"+f\"(d3)\n"
    "                 : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), \"r\"(b1));\n"
    "    c[t * 4 + 0] = d0; c[t * 4 + 1] = d1; c[t * 4 + 2] = d2; c[t * 4 + 3] = d3;\n"
    "}\n"
    "extern \"C\" __global__ void halves(const __half *x, __nv_bfloat16 *y, float *z, int n) {\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) {\n"
    "        float v = __half2float(x[i]);\n"
    "        __half2 h2 = __halves2half2(x[i], x[i]);\n"
    "        y[i] = __float2bfloat16(v * 2.0f + __low2float(h2));\n"
    "        z[i] = __bfloat162float(y[i]);\n"
    "    }\n"
    "}\n";

/* wgmma m64n8k16 bf16 with a real predicate for scale-d: sm_90a only. */
static const char *k_wgmma_src =
    "extern \"C\" __global__ void wg(float *out, unsigned long long da, unsigned long long db, int scale) {\n"
    "  float d0 = 0.f, d1 = 0.f, d2 = 0.f, d3 = 0.f;\n"
    "  asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %6, 0;\\n\"\n"
    "    \"wgmma.fence.sync.aligned;\\n\"\n"
    "    \"wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, %4, %5, p, 1, 1, 0, 0;\\n\"\n"
    "    \"wgmma.commit_group.sync.aligned;\\nwgmma.wait_group.sync.aligned 0;\\n}\\n\"\n"
    "    : \"+f\"(d0), \"+f\"(d1), \"+f\"(d2), \"+f\"(d3) : \"l\"(da), \"l\"(db), \"r\"(scale));\n"
    "  out[threadIdx.x * 4 + 0] = d0; out[threadIdx.x * 4 + 1] = d1;\n"
    "  out[threadIdx.x * 4 + 2] = d2; out[threadIdx.x * 4 + 3] = d3;\n"
    "}\n";

static const char *k_syntax_src =
    "extern \"C\" __global__ void broken(float *x) {\n"
    "    int i = threadIdx.x;\n"
    "    x[i] = 1.0f +;\n"
    "}\n";

/* ptxas -v output of NVRTC 13.0 (captured on this toolkit): a kernel forced to 32 registers by
 * __launch_bounds__(1024, 2) that spills, and a small one, in one program for sm_90a. */
static const char *k_sample_spills =
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Compiling entry function 'sp' for 'sm_90a'\n"
    "ptxas info    : Function properties for sp\n"
    "ptxas         .     9888 bytes stack frame, 10440 bytes spill stores, 21392 bytes spill loads\n"
    "ptxas info    : Used 32 registers, used 0 barriers, 9888 bytes cumulative stack size\n"
    "ptxas info    : Compile time = 993.178 ms\n"
    "ptxas info    : Compiling entry function 'k' for 'sm_90a'\n"
    "ptxas info    : Function properties for k\n"
    "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 14 registers, used 0 barriers\n"
    "ptxas info    : Compile time = 2.264 ms\n";

/* Captured for sm_80: static shared memory and cmem in the "Used" line. */
static const char *k_sample_smem =
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Compiling entry function 'big' for 'sm_80'\n"
    "ptxas info    : Function properties for big\n"
    "ptxas         .     2048 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 40 registers, used 1 barriers, 2048 bytes cumulative stack size, "
    "4096 bytes smem, 360 bytes cmem[0]\n"
    "ptxas info    : Compile time = 11.372 ms\n";

static int setup(void **state) {
    sk_nvrtc *n = NULL;
    sk_err err;
    sk_err_clear(&err);
    sparsek_status st = sk_nvrtc_open(&n, &err);
    if (st != SPARSEK_OK) {
        fprintf(stderr, "cannot open NVRTC: %s\n", err.msg);
        return -1;
    }
    *state = n;
    return 0;
}

static int teardown(void **state) {
    sk_nvrtc_close(*state);
    return 0;
}

static int is_elf(const sk_compile_result *r) {
    return r->cubin && r->cubin_size > 64 && memcmp(r->cubin, "\x7f" "ELF", 4) == 0;
}

static void test_version_and_options(void **state) {
    sk_nvrtc *n = *state;
    const char *v = sk_nvrtc_version_string(n);
    assert_non_null(strstr(v, "nvrtc-13."));
    const char *o = sk_nvrtc_options_string();
    assert_non_null(o);
    assert_ptr_equal(o, sk_nvrtc_options_string());
    assert_non_null(strstr(o, "-std=c++17"));
    assert_non_null(strstr(o, "-default-device"));
    assert_non_null(strstr(o, "-lineinfo"));
    assert_non_null(strstr(o, "--ptxas-options=-v"));
    assert_non_null(strstr(o, "-I/"));
    assert_non_null(strstr(o, "--no-cache"));
    assert_null(strstr(o, "fast_math"));
    assert_null(strstr(o, "--gpu-architecture"));
    assert_null(strstr(o, "sm_"));
}

static void test_arch_valid(void **state) {
    (void)state;
    const char *good[] = {"sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_90a",
                          "sm_100", "sm_100a", "sm_103a", "sm_120", "sm_120a"};
    const char *bad[] = {"sm_75", "sm_70", "compute_90", "compute_90a", "sm_90a ", "", "sm90a",
                         "SM_90A", "sm_9", "sm_1000a", "--gpu-architecture=sm_90a"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) assert_true(sk_arch_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(sk_arch_valid(bad[i]));
    assert_false(sk_arch_valid(NULL));

    /* Every arch we accept is one NVRTC itself lists. */
    void *lib = dlopen("libnvrtc.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    int (*num)(int *) = (int (*)(int *))dlsym(lib, "nvrtcGetNumSupportedArchs");
    int (*get)(int *) = (int (*)(int *))dlsym(lib, "nvrtcGetSupportedArchs");
    if (num && get) {
        int count = 0;
        assert_int_equal(num(&count), 0);
        assert_true(count > 0 && count < 64);
        int archs[64];
        assert_int_equal(get(archs), 0);
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            int cc = atoi(good[i] + 3), found = 0;
            for (int j = 0; j < count; j++) found |= archs[j] == cc;
            assert_true(found);
        }
    }
    dlclose(lib);
}

static void compile_for(sk_nvrtc *n, const char *arch) {
    sk_compile_result r;
    sk_err err;
    sk_err_clear(&err);
    sparsek_status st = sk_nvrtc_compile(n, k_mma_src, "mma.cu", arch, &r, &err);
    if (st != SPARSEK_OK) fprintf(stderr, "%s: %s\n", arch, err.msg);
    assert_int_equal(st, SPARSEK_OK);
    assert_true(is_elf(&r));
    if (r.registers <= 0) fprintf(stderr, "no registers parsed from the log:\n%s\n", r.log ? r.log : "(null)");
    assert_true(r.registers > 0 && r.registers <= 255);
    assert_int_equal(r.spill_stores, 0);
    assert_int_equal(r.spill_loads, 0);
    assert_non_null(r.log);
    assert_non_null(strstr(r.log, "Used"));
    assert_non_null(strstr(r.log, "mma_bf16"));
    assert_non_null(strstr(r.log, "halves"));
    assert_non_null(strstr(r.log, arch));
    sk_compile_result_clear(&r);
    assert_null(r.cubin);
    assert_null(r.log);
    assert_int_equal(r.registers, -1);
}

static void test_compile_sm80(void **state) { compile_for(*state, "sm_80"); }
static void test_compile_sm90a(void **state) { compile_for(*state, "sm_90a"); }
static void test_compile_sm100a(void **state) { compile_for(*state, "sm_100a"); }

static void test_wgmma(void **state) {
    sk_nvrtc *n = *state;
    sk_compile_result r;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(n, k_wgmma_src, "wgmma.cu", "sm_90a", &r, &err), SPARSEK_OK);
    assert_true(is_elf(&r));
    assert_true(r.registers > 0);
    sk_compile_result_clear(&r);

    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(n, k_wgmma_src, "wgmma.cu", "sm_80", &r, &err), SPARSEK_COMPILE);
    assert_int_equal(err.status, SPARSEK_COMPILE);
    assert_non_null(strstr(err.msg, "wgmma"));
    assert_non_null(strstr(err.msg, "not supported on .target 'sm_80'"));
    assert_non_null(strstr(err.msg, "sm_80"));
    assert_null(r.cubin);
    assert_int_equal(r.cubin_size, 0);
    assert_non_null(r.log);
    assert_non_null(strstr(r.log, "wgmma"));
    sk_compile_result_clear(&r);
}

static void test_syntax_error(void **state) {
    sk_nvrtc *n = *state;
    sk_compile_result r;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(n, k_syntax_src, "broken.cu", "sm_80", &r, &err), SPARSEK_COMPILE);
    assert_int_equal(err.status, SPARSEK_COMPILE);
    assert_non_null(strstr(err.msg, "broken.cu(3)"));
    assert_non_null(strstr(err.msg, "error"));
    assert_non_null(strstr(err.msg, "NVRTC_ERROR_COMPILATION"));
    assert_non_null(r.log);
    assert_non_null(strstr(r.log, "broken.cu(3)"));
    assert_null(r.cubin);
    sk_compile_result_clear(&r);

    /* A NULL name gets a default one, which appears in the log. */
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(n, k_syntax_src, NULL, "sm_80", &r, &err), SPARSEK_COMPILE);
    assert_non_null(strstr(err.msg, "(3)"));
    sk_compile_result_clear(&r);
}

static void test_invalid_arch(void **state) {
    sk_nvrtc *n = *state;
    sk_compile_result r;
    sk_err err;
    const char *bad[] = {"sm_75", "compute_90a", "sm_90a;rm -rf", "", "--use_fast_math"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sk_err_clear(&err);
        assert_int_equal(sk_nvrtc_compile(n, k_mma_src, "x.cu", bad[i], &r, &err), SPARSEK_INVALID_ARGUMENT);
        assert_non_null(strstr(err.msg, "unsupported compile target"));
        assert_null(r.cubin);
        assert_null(r.log);
    }
}

static void test_parse_report(void **state) {
    (void)state;
    sk_compile_result r;
    memset(&r, 0, sizeof r);
    sk_parse_ptxas_report(k_sample_spills, &r);
    assert_int_equal(r.registers, 32);
    assert_int_equal(r.spill_stores, 10440);
    assert_int_equal(r.spill_loads, 21392);
    assert_int_equal(r.stack_frame, 9888);
    assert_int_equal(r.static_smem, 0);

    sk_parse_ptxas_report(k_sample_smem, &r);
    assert_int_equal(r.registers, 40);
    assert_int_equal(r.spill_stores, 0);
    assert_int_equal(r.spill_loads, 0);
    assert_int_equal(r.stack_frame, 2048);
    assert_int_equal(r.static_smem, 4096);

    /* Older ptxas layout, and a report without a trailing newline. */
    sk_parse_ptxas_report("ptxas info    : Used 168 registers, 49152 bytes smem, 400 bytes cmem[0]", &r);
    assert_int_equal(r.registers, 168);
    assert_int_equal(r.static_smem, 49152);

    /* Nothing to parse. */
    sk_parse_ptxas_report("", &r);
    assert_int_equal(r.registers, -1);
    assert_int_equal(r.spill_stores, 0);
    sk_parse_ptxas_report(NULL, &r);
    assert_int_equal(r.registers, -1);
    sk_parse_ptxas_report("t.cu(1): error: registers are nice\nUsed registers\n", &r);
    assert_int_equal(r.registers, -1);
    sk_parse_ptxas_report(k_sample_spills, NULL); /* no crash */
}

static void test_real_spills(void **state) {
    /* A kernel forced to 32 registers that must spill: the parsed numbers match the log. */
    static const char *src =
        "extern \"C\" __global__ void __launch_bounds__(1024, 2) sp(const float *in, float *o) {\n"
        "  float a[64];\n"
        "#pragma unroll\n"
        "  for (int i = 0; i < 64; i++) a[i] = in[i * blockDim.x + threadIdx.x];\n"
        "  float s = 0;\n"
        "#pragma unroll\n"
        "  for (int j = 0; j < 8; j++) {\n"
        "#pragma unroll\n"
        "    for (int i = 0; i < 64; i++) s += a[i] * a[(i + j) & 63];\n"
        "  }\n"
        "#pragma unroll\n"
        "  for (int i = 0; i < 64; i++) o[i * blockDim.x + threadIdx.x] = a[i] * s;\n"
        "}\n";
    sk_compile_result r;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(*state, src, "spill.cu", "sm_90a", &r, &err), SPARSEK_OK);
    assert_true(is_elf(&r));
    assert_true(r.registers > 0 && r.registers <= 32);
    assert_true(r.spill_stores > 0);
    assert_true(r.spill_loads > 0);
    assert_true(r.stack_frame > 0);
    sk_compile_result_clear(&r);
}

static void test_unavailable(void **state) {
    (void)state;
    sk_nvrtc *n = (sk_nvrtc *)0x1;
    sk_err err;
    sk_err_clear(&err);
    setenv("SPARSEK_NVRTC_LIBRARY", "/nonexistent/libnvrtc.so.13", 1);
    assert_int_equal(sk_nvrtc_open(&n, &err), SPARSEK_NVRTC_UNAVAILABLE);
    assert_null(n);
    assert_int_equal(err.status, SPARSEK_NVRTC_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "/nonexistent/libnvrtc.so.13"));
    assert_non_null(strstr(err.msg, "SPARSEK_NVRTC_LIBRARY"));

    /* A library that is not NVRTC. */
    sk_err_clear(&err);
    setenv("SPARSEK_NVRTC_LIBRARY", "libm.so.6", 1);
    assert_int_equal(sk_nvrtc_open(&n, &err), SPARSEK_NVRTC_UNAVAILABLE);
    assert_null(n);
    assert_non_null(strstr(err.msg, "lacks nvrtcVersion"));
    unsetenv("SPARSEK_NVRTC_LIBRARY");

    /* And the default search works again. */
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_open(&n, &err), SPARSEK_OK);
    sk_nvrtc_close(n);
}

static void test_null_args(void **state) {
    sk_nvrtc *n = *state;
    sk_compile_result r;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_open(NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_nvrtc_open(NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_nvrtc_compile(NULL, k_mma_src, "a.cu", "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "NULL"));
    assert_int_equal(sk_nvrtc_compile(n, NULL, "a.cu", "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "source"));
    assert_int_equal(sk_nvrtc_compile(n, k_mma_src, "a.cu", NULL, &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "arch"));
    assert_int_equal(sk_nvrtc_compile(n, k_mma_src, "a.cu", "sm_80", NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_nvrtc_compile(n, k_mma_src, "a.cu", "sm_80", NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_nvrtc_compile(n, k_syntax_src, "a.cu", "sm_80", &r, NULL), SPARSEK_COMPILE);
    sk_compile_result_clear(&r);
    sk_nvrtc_close(NULL);
    assert_string_equal(sk_nvrtc_version_string(NULL), "");
    sk_compile_result_clear(NULL);
    /* An empty source compiles to an (almost) empty module. */
    sk_err_clear(&err);
    assert_int_equal(sk_nvrtc_compile(n, "", "empty.cu", "sm_80", &r, &err), SPARSEK_OK);
    assert_true(is_elf(&r));
    assert_int_equal(r.registers, -1);
    sk_compile_result_clear(&r);
}

typedef struct job {
    sk_nvrtc *n;
    const char *arch;
    const char *src;
    sparsek_status st;
    int elf, regs;
    char msg[256];
} job;

static void *compile_thread(void *p) {
    job *j = p;
    for (int i = 0; i < 2; i++) {
        sk_compile_result r;
        sk_err err;
        sk_err_clear(&err);
        j->st = sk_nvrtc_compile(j->n, j->src, "thread.cu", j->arch, &r, &err);
        j->elf = is_elf(&r);
        j->regs = r.registers;
        snprintf(j->msg, sizeof j->msg, "%.200s", err.msg);
        sk_compile_result_clear(&r);
        if (j->st != SPARSEK_OK) break;
    }
    return NULL;
}

static void test_threads(void **state) {
    job jobs[3] = {
        {.n = *state, .arch = "sm_80", .src = k_mma_src},
        {.n = *state, .arch = "sm_90a", .src = k_wgmma_src},
        {.n = *state, .arch = "sm_100a", .src = k_mma_src},
    };
    pthread_t t[3];
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, compile_thread, &jobs[i]), 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        if (jobs[i].st != SPARSEK_OK) fprintf(stderr, "%s: %s\n", jobs[i].arch, jobs[i].msg);
        assert_int_equal(jobs[i].st, SPARSEK_OK);
        assert_true(jobs[i].elf);
        assert_true(jobs[i].regs > 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_options),
        cmocka_unit_test(test_arch_valid),
        cmocka_unit_test(test_compile_sm80),
        cmocka_unit_test(test_compile_sm90a),
        cmocka_unit_test(test_compile_sm100a),
        cmocka_unit_test(test_wgmma),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_invalid_arch),
        cmocka_unit_test(test_parse_report),
        cmocka_unit_test(test_real_spills),
        cmocka_unit_test(test_unavailable),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
