/* test_cuda_loader.c — the Driver API loader. Without libcuda.so.1: SPARSEK_NO_DEVICE naming
 * it. With a driver (a GPU machine): open succeeds (or fails in cuInit with NO_DEVICE) and every
 * entry point is resolved. A library that is not a driver fails cleanly. A fake driver built at
 * test time (skipped where no C compiler is found) checks that every entry point is asked of
 * cuGetProcAddress with the version matching its prototype, and the cuInit failure path.
 * sk_cuda_check's message format, NULL arguments. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sk_cuda.h"
#include "sk_test_util.h"

static int have_driver(void) {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    dlclose(h);
    return 1;
}

static void assert_all_null(const sk_cuda *cu) {
    static const sk_cuda zero;
    assert_memory_equal(cu, &zero, sizeof zero);
}

/* Every function pointer of sk_cuda, by walking the struct (all members after driver_version
 * are function pointers). */
static int count_resolved(const sk_cuda *cu, int *total) {
    size_t first = offsetof(sk_cuda, cuInit);
    int n = 0, t = 0;
    for (size_t off = first; off + sizeof(void *) <= sizeof *cu; off += sizeof(void *)) {
        void *p;
        memcpy(&p, (const char *)cu + off, sizeof p);
        n += p != NULL;
        t++;
    }
    *total = t;
    return n;
}

static void test_open_default(void **state) {
    (void)state;
    unsetenv("SPARSEK_CUDA_LIBRARY");
    sk_cuda cu;
    sk_err err;
    sk_err_clear(&err);
    sparsek_status st = sk_cuda_open(&cu, &err);
    if (!have_driver()) {
        assert_int_equal(st, SPARSEK_NO_DEVICE);
        assert_int_equal(err.status, SPARSEK_NO_DEVICE);
        assert_non_null(strstr(err.msg, "libcuda.so.1 not found: no NVIDIA driver on this machine ("));
        assert_all_null(&cu);
        return;
    }
    if (st == SPARSEK_NO_DEVICE) {
        /* A driver without a usable device (or container without /dev/nvidia*). */
        assert_non_null(strstr(err.msg, "cuInit failed: CUDA_ERROR_"));
        assert_all_null(&cu);
        return;
    }
    assert_int_equal(st, SPARSEK_OK);
    assert_true(cu.driver_version >= 12000);
    int total = 0;
    int resolved = count_resolved(&cu, &total);
    assert_int_equal(resolved, total);
    assert_int_equal(total, 31);
    int count = 0;
    assert_int_equal(cu.cuDeviceGetCount(&count), CUDA_SUCCESS);
    assert_true(count >= 0);
    const char *name = NULL;
    assert_int_equal(cu.cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &name), CUDA_SUCCESS);
    assert_string_equal(name, "CUDA_ERROR_OUT_OF_MEMORY");
    sk_cuda_close(&cu);
    assert_all_null(&cu);
}

static void test_not_a_driver(void **state) {
    (void)state;
    sk_cuda cu;
    sk_err err;
    sk_err_clear(&err);
    setenv("SPARSEK_CUDA_LIBRARY", "libm.so.6", 1);
    assert_int_equal(sk_cuda_open(&cu, &err), SPARSEK_NO_DEVICE);
    assert_non_null(strstr(err.msg, "libm.so.6"));
    assert_non_null(strstr(err.msg, "cuGetProcAddress"));
    assert_all_null(&cu);

    sk_err_clear(&err);
    setenv("SPARSEK_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
    assert_int_equal(sk_cuda_open(&cu, &err), SPARSEK_NO_DEVICE);
    assert_non_null(strstr(err.msg, "/nonexistent/libcuda.so.1"));
    assert_non_null(strstr(err.msg, "SPARSEK_CUDA_LIBRARY"));
    assert_all_null(&cu);
    unsetenv("SPARSEK_CUDA_LIBRARY");
}

/* ---- sk_cuda_check ---- */

static CUresult fake_name(CUresult r, const char **s) {
    switch (r) {
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return CUDA_SUCCESS;
    case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return CUDA_SUCCESS;
    default: *s = NULL; return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult fake_string(CUresult r, const char **s) {
    switch (r) {
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; return CUDA_SUCCESS;
    case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; return CUDA_SUCCESS;
    default: *s = NULL; return CUDA_ERROR_INVALID_VALUE;
    }
}

static void test_check_format(void **state) {
    (void)state;
    sk_cuda cu;
    memset(&cu, 0, sizeof cu);
    cu.cuGetErrorName = fake_name;
    cu.cuGetErrorString = fake_string;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_cuda_check(&cu, CUDA_SUCCESS, "cuMemAlloc", &err), SPARSEK_OK);
    assert_int_equal(err.status, SPARSEK_OK);
    assert_string_equal(err.msg, "");

    assert_int_equal(sk_cuda_check(&cu, CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(64 MiB)", &err), SPARSEK_CUDA);
    assert_int_equal(err.status, SPARSEK_CUDA);
    assert_string_equal(err.msg, "cuMemAlloc(64 MiB): CUDA_ERROR_OUT_OF_MEMORY (out of memory)");

    assert_int_equal(sk_cuda_check(&cu, CUDA_ERROR_ILLEGAL_ADDRESS, "cuStreamSynchronize", &err), SPARSEK_CUDA);
    assert_string_equal(err.msg,
                        "cuStreamSynchronize: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)");

    /* Codes the driver cannot name, a cu without the name functions, no cu, no what, no err. */
    assert_int_equal(sk_cuda_check(&cu, (CUresult)12345, "cuX", &err), SPARSEK_CUDA);
    assert_string_equal(err.msg, "cuX: CUresult 12345 (no description)");
    sk_cuda bare;
    memset(&bare, 0, sizeof bare);
    assert_int_equal(sk_cuda_check(&bare, CUDA_ERROR_OUT_OF_MEMORY, "cuY", &err), SPARSEK_CUDA);
    assert_string_equal(err.msg, "cuY: CUresult 2 (no description)");
    assert_int_equal(sk_cuda_check(NULL, CUDA_ERROR_OUT_OF_MEMORY, "cuZ", &err), SPARSEK_CUDA);
    assert_string_equal(err.msg, "cuZ: CUresult 2 (no description)");
    assert_int_equal(sk_cuda_check(&cu, CUDA_ERROR_OUT_OF_MEMORY, NULL, &err), SPARSEK_CUDA);
    assert_string_equal(err.msg, "CUDA call: CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
    assert_int_equal(sk_cuda_check(&cu, CUDA_ERROR_OUT_OF_MEMORY, "cuW", NULL), SPARSEK_CUDA);
}

static void test_null_args(void **state) {
    (void)state;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_cuda_open(NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "NULL"));
    assert_int_equal(sk_cuda_open(NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    sk_cuda_close(NULL);
    sk_cuda cu;
    memset(&cu, 0, sizeof cu);
    sk_cuda_close(&cu); /* closing a never-opened (zeroed) one is fine */
    /* A failed open with a NULL err. */
    setenv("SPARSEK_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
    assert_int_equal(sk_cuda_open(&cu, NULL), SPARSEK_NO_DEVICE);
    unsetenv("SPARSEK_CUDA_LIBRARY");
}

/* ---- a fake driver ---- */

static const char *k_fake_driver =
    "#include <cuda.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "char fake_requests[8192];\n"
    "static CUresult ok0(void) { return CUDA_SUCCESS; }\n"
    "static CUresult fake_init(unsigned f) { const char *e = getenv(\"FAKE_CUINIT\");\n"
    "  return e ? (CUresult)atoi(e) : CUDA_SUCCESS; }\n"
    "static CUresult fake_version(int *v) { *v = 13000; return CUDA_SUCCESS; }\n"
    "static CUresult fake_name(CUresult r, const char **s) {\n"
    "  *s = r == CUDA_ERROR_NO_DEVICE ? \"CUDA_ERROR_NO_DEVICE\" : \"CUDA_ERROR_UNKNOWN\"; return CUDA_SUCCESS; }\n"
    "static CUresult fake_string(CUresult r, const char **s) {\n"
    "  *s = r == CUDA_ERROR_NO_DEVICE ? \"no CUDA-capable device is detected\" : \"unknown error\"; return CUDA_SUCCESS; }\n"
    "CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, cuuint64_t flags,\n"
    "                             CUdriverProcAddressQueryResult *qs) {\n"
    "  size_t n = strlen(fake_requests);\n"
    "  snprintf(fake_requests + n, sizeof fake_requests - n, \"%s:%d:%llu \", sym, ver, (unsigned long long)flags);\n"
    "  const char *miss = getenv(\"FAKE_MISSING\");\n"
    "  if (miss && strcmp(miss, sym) == 0) { *pfn = NULL; if (qs) *qs = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;\n"
    "    return CUDA_ERROR_NOT_FOUND; }\n"
    "  if (!strcmp(sym, \"cuInit\")) *pfn = (void *)fake_init;\n"
    "  else if (!strcmp(sym, \"cuDriverGetVersion\")) *pfn = (void *)fake_version;\n"
    "  else if (!strcmp(sym, \"cuGetErrorName\")) *pfn = (void *)fake_name;\n"
    "  else if (!strcmp(sym, \"cuGetErrorString\")) *pfn = (void *)fake_string;\n"
    "  else *pfn = (void *)ok0;\n"
    "  if (qs) *qs = CU_GET_PROC_ADDRESS_SUCCESS;\n"
    "  return CUDA_SUCCESS;\n"
    "}\n";

typedef struct fake {
    char *dir;
    char *lib;
} fake;

static int fake_setup(void **state) {
    fake *f = calloc(1, sizeof *f);
    f->dir = skt_tmpdir("cudaload");
    char src[4096];
    snprintf(src, sizeof src, "%s/fake.c", f->dir);
    if (skt_write_file(src, k_fake_driver, strlen(k_fake_driver)) != 0) return -1;
    f->lib = malloc(4096);
    snprintf(f->lib, 4096, "%s/libfakecuda.so", f->dir);
    if (skt_build_cuda_lib(src, f->lib, "", "fake driver") != 0) {
        free(f->lib);
        f->lib = NULL;
    }
    *state = f;
    return 0;
}

static int fake_teardown(void **state) {
    fake *f = *state;
    skt_rmtree(f->dir);
    free(f->dir);
    free(f->lib);
    free(f);
    return 0;
}

static void test_fake_driver(void **state) {
    fake *f = *state;
    if (!f->lib) skip();
    void *h = dlopen(f->lib, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    char *requests = dlsym(h, "fake_requests");
    assert_non_null(requests);
    requests[0] = 0;

    setenv("SPARSEK_CUDA_LIBRARY", f->lib, 1);
    unsetenv("FAKE_CUINIT");
    unsetenv("FAKE_MISSING");
    sk_cuda cu;
    sk_err err;
    sk_err_clear(&err);
    assert_int_equal(sk_cuda_open(&cu, &err), SPARSEK_OK);
    assert_int_equal(cu.driver_version, 13000);
    int total = 0;
    int resolved = count_resolved(&cu, &total);
    assert_int_equal(resolved, total);
    /* Every entry point asked for by its plain name, at the version of its prototype. */
    const char *expect[] = {
        "cuInit:2000:0 ", "cuDriverGetVersion:2020:0 ", "cuGetErrorName:6000:0 ",
        "cuDevicePrimaryCtxRelease:11000:0 ", "cuLibraryLoadData:12000:0 ", "cuKernelGetFunction:12000:0 ",
        "cuLaunchKernelEx:11060:0 ", "cuMemAlloc:3020:0 ", "cuMemcpyHtoD:3020:0 ", "cuMemcpyDtoH:3020:0 ",
        "cuCtxSynchronize:2000:0 ", "cuEventDestroy:4000:0 ", "cuEventElapsedTime:12080:0 ",
        "cuEventQuery:2000:0 ", "cuMemsetD32Async:3020:0 ",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (!strstr(requests, expect[i])) fprintf(stderr, "missing %s in %s\n", expect[i], requests);
        assert_non_null(strstr(requests, expect[i]));
    }
    int asked = 0;
    for (const char *p = requests; (p = strchr(p, ' ')) != NULL; p++) asked++;
    assert_int_equal(asked, total);
    assert_null(strstr(requests, "_v2"));
    /* sk_cuda_check uses the driver's names. */
    assert_int_equal(sk_cuda_check(&cu, CUDA_ERROR_NO_DEVICE, "cuDeviceGet", &err), SPARSEK_CUDA);
    assert_string_equal(err.msg, "cuDeviceGet: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
    sk_cuda_close(&cu);
    assert_all_null(&cu);

    /* cuInit fails: NO_DEVICE with the error's name. */
    setenv("FAKE_CUINIT", "100", 1);
    sk_err_clear(&err);
    assert_int_equal(sk_cuda_open(&cu, &err), SPARSEK_NO_DEVICE);
    assert_string_equal(err.msg, "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
    assert_all_null(&cu);
    unsetenv("FAKE_CUINIT");

    /* A driver too old for an entry point. */
    setenv("FAKE_MISSING", "cuLibraryLoadData", 1);
    sk_err_clear(&err);
    assert_int_equal(sk_cuda_open(&cu, &err), SPARSEK_NO_DEVICE);
    assert_non_null(strstr(err.msg, "cuLibraryLoadData"));
    assert_non_null(strstr(err.msg, "symbol not found"));
    assert_all_null(&cu);
    unsetenv("FAKE_MISSING");
    unsetenv("SPARSEK_CUDA_LIBRARY");
    dlclose(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_default),
        cmocka_unit_test(test_not_a_driver),
        cmocka_unit_test(test_check_format),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_fake_driver),
    };
    return cmocka_run_group_tests(tests, fake_setup, fake_teardown);
}
