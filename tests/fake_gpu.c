/* fake_gpu.c — a pretend CUDA driver for CPU tests of the GPU paths (tuning, timing, loading,
 * checking): built by tests/test_autotune.c into a shared library and opened through
 * $SPARSEK_CUDA_LIBRARY. Device memory is host memory; a "launch" of an fmha_fwd kernel
 * computes attention on the host from the kernel's params (dtype, head dim and mask read from
 * the kernel name) and advances a pretend clock that the events read. Each kernel's pretend
 * time comes from a hash of its name; kernels with "_s3_" in the name (stages=3) compute a wrong
 * result, so the tuner's check must reject them. A kernel whose name contains $FAKE_FAULT
 * "faults": from then on every event query fails with CUDA_ERROR_ILLEGAL_ADDRESS, as a real
 * context does after a kernel fault. A launch of any other family's kernel computes nothing
 * (those tests check the arguments and configs the runtime launches with). Not thread-safe;
 * enough for one process. */
#include <cuda.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sk_halfs.h"

/* Must match sk_fmha_kernel_params in runtime/sk_fmha.c. */
typedef struct fmha_params {
    const void *q, *k, *v;
    void *o;
    float *lse;
    long long qs[3], ks[3], vs[3], os[3];
    int seqlen_q, seqlen_k, heads_q, group;
    float scale_log2;
} fmha_params;

static double clock_us;
static int faulted;

static CUresult ok0(void) { return CUDA_SUCCESS; }
static CUresult f_version(int *v) { *v = 13000; return CUDA_SUCCESS; }
static CUresult f_name(CUresult r, const char **s) {
    *s = r == CUDA_ERROR_ILLEGAL_ADDRESS ? "CUDA_ERROR_ILLEGAL_ADDRESS" : r ? "CUDA_ERROR_FAKE" : "CUDA_SUCCESS";
    return CUDA_SUCCESS;
}
static CUresult f_string(CUresult r, const char **s) { *s = "fake driver"; return CUDA_SUCCESS; }
static CUresult f_count(int *n) { *n = 1; return CUDA_SUCCESS; }
static CUresult f_get(CUdevice *d, int i) { *d = i; return CUDA_SUCCESS; }
static CUresult f_devname(char *s, int n, CUdevice d) { snprintf(s, (size_t)n, "Fake GPU"); return CUDA_SUCCESS; }
static CUresult f_attr(int *v, CUdevice_attribute a, CUdevice d) {
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 232448; break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *v = 1 << 20; break;
    default: *v = 0;
    }
    return CUDA_SUCCESS;
}
static CUresult f_retain(CUcontext *c, CUdevice d) { *c = (CUcontext)(uintptr_t)0x100; return CUDA_SUCCESS; }
static CUresult f_getcur(CUcontext *c) { *c = (CUcontext)(uintptr_t)0x100; return CUDA_SUCCESS; }
static CUresult f_libload(CUlibrary *l, const void *code, CUjit_option *o, void **ov, unsigned n, CUlibraryOption *lo,
                          void **lov, unsigned ln) {
    *l = (CUlibrary)malloc(1);
    return CUDA_SUCCESS;
}
static CUresult f_libunload(CUlibrary l) { free(l); return CUDA_SUCCESS; }
static CUresult f_getkernel(CUkernel *k, CUlibrary l, const char *name) { *k = (CUkernel)strdup(name); return CUDA_SUCCESS; }
static CUresult f_getfunc(CUfunction *f, CUkernel k) { *f = (CUfunction)k; return CUDA_SUCCESS; }
/* Every kernel's static shared memory is $FAKE_STATIC_SMEM bytes (default 0). */
static CUresult f_fattr(int *v, CUfunction_attribute a, CUfunction f) {
    const char *e = getenv("FAKE_STATIC_SMEM");
    *v = a == CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES && e ? atoi(e) : 0;
    return CUDA_SUCCESS;
}
/* Appends "maxdyn N" to $FAKE_ATTR_LOG for each dynamic shared memory opt-in. */
static CUresult f_fsetattr(CUfunction f, CUfunction_attribute a, int v) {
    const char *log = getenv("FAKE_ATTR_LOG");
    FILE *lf = log && *log && a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES ? fopen(log, "a") : NULL;
    if (lf) {
        fprintf(lf, "maxdyn %d\n", v);
        fclose(lf);
    }
    return CUDA_SUCCESS;
}
static CUresult f_alloc(CUdeviceptr *p, size_t n) {
    void *m = aligned_alloc(256, (n + 255) / 256 * 256);
    *p = (CUdeviceptr)m;
    return m ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
static CUresult f_free(CUdeviceptr p) { free((void *)p); return CUDA_SUCCESS; }
static CUresult f_htod(CUdeviceptr d, const void *s, size_t n) { memcpy((void *)d, s, n); return CUDA_SUCCESS; }
static CUresult f_dtoh(void *d, CUdeviceptr s, size_t n) { memcpy(d, (const void *)s, n); return CUDA_SUCCESS; }
static CUresult f_memset(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)d, v, n); return CUDA_SUCCESS; }
static CUresult f_memset32(CUdeviceptr d, unsigned v, size_t n, CUstream s) {
    (void)s;
    for (size_t i = 0; i < n; i++) ((unsigned *)d)[i] = v;
    return CUDA_SUCCESS;
}
static CUresult f_evcreate(CUevent *e, unsigned f) { *e = (CUevent)calloc(1, sizeof(double)); return CUDA_SUCCESS; }
static CUresult f_evdestroy(CUevent e) { free(e); return CUDA_SUCCESS; }
static CUresult f_evrecord(CUevent e, CUstream s) { *(double *)e = clock_us; return CUDA_SUCCESS; }
static CUresult f_evquery(CUevent e) { return faulted ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_SUCCESS; }
static CUresult f_elapsed(float *ms, CUevent a, CUevent b) {
    *ms = (float)((*(double *)b - *(double *)a) / 1000.0);
    return CUDA_SUCCESS;
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Host attention for one launch of the kernel called `name`. */
static CUresult f_launch(const CUlaunchConfig *cfg, CUfunction f, void **args, void **extra) {
    const char *name = (const char *)f;
    const fmha_params *p = (const fmha_params *)args[0];
    const char *fault = getenv("FAKE_FAULT");
    if (fault && *fault && strstr(name, fault)) faulted = 1;
    const char *log = getenv("FAKE_LAUNCH_LOG");   /* one line per launch: kernel, grid, then "pdl" if dependent */
    if (log && *log) {
        FILE *lf = fopen(log, "a");
        if (lf) {
            int pdl = 0;
            for (unsigned i = 0; i < cfg->numAttrs; i++)
                pdl |= cfg->attrs[i].id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION &&
                       cfg->attrs[i].value.programmaticStreamSerializationAllowed;
            fprintf(lf, "%s grid=%u,%u,%u%s\n", name, cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ, pdl ? " pdl" : "");
            fclose(lf);
        }
    }
    if (!strstr(name, "fmha_fwd")) return CUDA_SUCCESS;
    const char *dp = strstr(name, "_d");
    const int d = dp ? atoi(dp + 2) : 0;
    const sparsek_dtype dt = strstr(name, "_bf16") ? SPARSEK_BF16 : SPARSEK_FP16;
    const int causal = strstr(name, "_causal") != NULL, wrong = strstr(name, "_s3_") != NULL;
    if (d <= 0 || d > 256) return CUDA_ERROR_INVALID_VALUE;
    const int batch = (int)cfg->gridDimZ;
    const uint16_t *q = p->q, *k = p->k, *v = p->v;
    uint16_t *o = p->o;
    double s[8192], acc[256];
    if (p->seqlen_k > 8192) return CUDA_ERROR_INVALID_VALUE;
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < p->heads_q; h++)
            for (int i = 0; i < p->seqlen_q; i++) {
                const int kh = h / p->group;
                const int last = causal ? p->seqlen_k - p->seqlen_q + i : p->seqlen_k - 1;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= last; j++) {
                    double dot = 0;
                    for (int x = 0; x < d; x++)
                        dot += sk_half_value(dt, q[b * p->qs[0] + i * p->qs[1] + h * p->qs[2] + x]) *
                               sk_half_value(dt, k[b * p->ks[0] + j * p->ks[1] + kh * p->ks[2] + x]);
                    s[j] = dot * p->scale_log2;
                    if (s[j] > mx) mx = s[j];
                }
                for (int x = 0; x < d; x++) acc[x] = 0;
                for (int j = 0; j <= last; j++) {
                    const double w = exp2(s[j] - mx);
                    sum += w;
                    for (int x = 0; x < d; x++) acc[x] += w * sk_half_value(dt, v[b * p->vs[0] + j * p->vs[1] + kh * p->vs[2] + x]);
                }
                for (int x = 0; x < d; x++) {
                    const double r = last >= 0 ? acc[x] / sum : 0;
                    o[b * p->os[0] + i * p->os[1] + h * p->os[2] + x] = sk_half_from_float(dt, (float)(wrong ? r + 0.5 : r));
                }
            }
    clock_us += 10.0 + (double)(fnv(name) % 97); /* the pretend duration of this kernel */
    return CUDA_SUCCESS;
}

CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, cuuint64_t flags, CUdriverProcAddressQueryResult *qs) {
    static const struct { const char *name; void *fn; } table[] = {
        {"cuDriverGetVersion", (void *)f_version}, {"cuGetErrorName", (void *)f_name},
        {"cuGetErrorString", (void *)f_string},    {"cuDeviceGetCount", (void *)f_count},
        {"cuDeviceGet", (void *)f_get},            {"cuDeviceGetName", (void *)f_devname},
        {"cuDeviceGetAttribute", (void *)f_attr},  {"cuDevicePrimaryCtxRetain", (void *)f_retain},
        {"cuCtxGetCurrent", (void *)f_getcur},     {"cuLibraryLoadData", (void *)f_libload},
        {"cuLibraryUnload", (void *)f_libunload},  {"cuLibraryGetKernel", (void *)f_getkernel},
        {"cuKernelGetFunction", (void *)f_getfunc}, {"cuLaunchKernelEx", (void *)f_launch},
        {"cuFuncGetAttribute", (void *)f_fattr},   {"cuFuncSetAttribute", (void *)f_fsetattr},
        {"cuMemAlloc", (void *)f_alloc},           {"cuMemFree", (void *)f_free},
        {"cuMemcpyHtoD", (void *)f_htod},          {"cuMemcpyDtoH", (void *)f_dtoh},
        {"cuMemsetD8", (void *)f_memset},          {"cuMemsetD32Async", (void *)f_memset32},
        {"cuEventCreate", (void *)f_evcreate},
        {"cuEventDestroy", (void *)f_evdestroy},   {"cuEventRecord", (void *)f_evrecord},
        {"cuEventElapsedTime", (void *)f_elapsed}, {"cuEventQuery", (void *)f_evquery},
    };
    *pfn = (void *)ok0; /* cuInit, context calls, synchronisation, attributes: nothing to do */
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(sym, table[i].name)) *pfn = table[i].fn;
    if (qs) *qs = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}
