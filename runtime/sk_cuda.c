/* sk_cuda.c — the CUDA Driver API opened at run time. Only cuGetProcAddress is looked up with
 * dlsym; every other entry point comes from cuGetProcAddress, asked for the CUDA version whose
 * ABI matches the prototype in sk_cuda (the version in the name of the matching PFN_ typedef
 * of cudaTypedefs.h). Asking for CUDA_VERSION (13000) everywhere would be wrong:
 * "cuCtxSynchronize" at 13000 is cuCtxSynchronize_v2(CUcontext), not cuCtxSynchronize(void). */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sk_cuda.h"

typedef CUresult (*pfn_getproc_v2)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
typedef CUresult (*pfn_getproc_v1)(const char *, void **, int, cuuint64_t);

typedef struct entry {
    const char *name;
    size_t offset;
    int version;
} entry;

#define E(fn, ver) {#fn, offsetof(sk_cuda, fn), ver}
static const entry g_entries[] = {
    E(cuInit, 2000),
    E(cuDriverGetVersion, 2020),
    E(cuGetErrorName, 6000),
    E(cuGetErrorString, 6000),
    E(cuDeviceGetCount, 2000),
    E(cuDeviceGet, 2000),
    E(cuDeviceGetName, 2000),
    E(cuDeviceGetAttribute, 2000),
    E(cuDevicePrimaryCtxRetain, 7000),
    E(cuDevicePrimaryCtxRelease, 11000),   /* _v2 */
    E(cuCtxSetCurrent, 4000),
    E(cuCtxGetCurrent, 4000),
    E(cuLibraryLoadData, 12000),
    E(cuLibraryUnload, 12000),
    E(cuLibraryGetKernel, 12000),
    E(cuKernelGetFunction, 12000),
    E(cuFuncGetAttribute, 2020),
    E(cuFuncSetAttribute, 9000),
    E(cuLaunchKernelEx, 11060),
    E(cuMemAlloc, 3020),                   /* _v2 */
    E(cuMemFree, 3020),                    /* _v2 */
    E(cuMemcpyHtoD, 3020),                 /* _v2 */
    E(cuMemcpyDtoH, 3020),                 /* _v2 */
    E(cuMemsetD8, 3020),                   /* _v2 */
    E(cuMemsetD32Async, 3020),
    E(cuCtxSynchronize, 2000),             /* not 13000: that one takes a CUcontext */
    E(cuStreamSynchronize, 2000),
    E(cuEventCreate, 2000),
    E(cuEventDestroy, 4000),               /* _v2 */
    E(cuEventRecord, 2000),
    E(cuEventSynchronize, 2000),
    E(cuEventElapsedTime, 12080),          /* _v2, what cuda.h 13.0 maps the name to */
    E(cuEventQuery, 2000),
};
#undef E

static void names_of(const sk_cuda *cu, CUresult r, const char **name, const char **desc) {
    *name = NULL;
    *desc = NULL;
    if (cu && cu->cuGetErrorName && cu->cuGetErrorName(r, name) != CUDA_SUCCESS) *name = NULL;
    if (cu && cu->cuGetErrorString && cu->cuGetErrorString(r, desc) != CUDA_SUCCESS) *desc = NULL;
}

sparsek_status sk_cuda_check(const sk_cuda *cu, CUresult r, const char *what, sk_err *err) {
    if (r == CUDA_SUCCESS) return SPARSEK_OK;
    const char *name, *desc;
    names_of(cu, r, &name, &desc);
    char num[48];
    if (!name) {
        snprintf(num, sizeof num, "CUresult %d", (int)r);
        name = num;
    }
    return sk_fail(err, SPARSEK_CUDA, "%s: %s (%s)", what ? what : "CUDA call", name,
                   desc ? desc : "no description");
}

void sk_cuda_close(sk_cuda *cu) {
    if (!cu) return;
    if (cu->lib) dlclose(cu->lib);
    memset(cu, 0, sizeof *cu);
}

static sparsek_status fail_close(sk_cuda *cu) {
    sk_cuda_close(cu);
    return SPARSEK_NO_DEVICE;
}

sparsek_status sk_cuda_open(sk_cuda *cu, sk_err *err) {
    if (!cu) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cuda_open: cu is NULL");
    memset(cu, 0, sizeof *cu);

    const char *env = getenv("SPARSEK_CUDA_LIBRARY");
    const char *path = (env && *env) ? env : "libcuda.so.1";
    cu->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!cu->lib) {
        const char *e = dlerror();
        if (path == env)
            sk_fail(err, SPARSEK_NO_DEVICE, "%s (from $SPARSEK_CUDA_LIBRARY) not found: %s", path,
                    e ? e : "dlopen failed");
        else
            sk_fail(err, SPARSEK_NO_DEVICE, "libcuda.so.1 not found: no NVIDIA driver on this machine (%s)",
                    e ? e : "dlopen failed");
        return fail_close(cu);
    }

    dlerror();
    pfn_getproc_v2 gp2 = (pfn_getproc_v2)dlsym(cu->lib, "cuGetProcAddress_v2");
    pfn_getproc_v1 gp1 = NULL;
    if (!gp2) {
        dlerror();
        gp1 = (pfn_getproc_v1)dlsym(cu->lib, "cuGetProcAddress");
    }
    if (!gp2 && !gp1) {
        const char *e = dlerror();
        sk_fail(err, SPARSEK_NO_DEVICE,
                "%s is not a usable CUDA driver: it has neither cuGetProcAddress_v2 nor "
                "cuGetProcAddress (%s)",
                path, e ? e : "symbol missing");
        return fail_close(cu);
    }

    for (size_t i = 0; i < sizeof g_entries / sizeof g_entries[0]; i++) {
        const entry *en = &g_entries[i];
        void *fn = NULL;
        CUdriverProcAddressQueryResult qs = CU_GET_PROC_ADDRESS_SUCCESS;
        CUresult r = gp2 ? gp2(en->name, &fn, en->version, CU_GET_PROC_ADDRESS_DEFAULT, &qs)
                         : gp1(en->name, &fn, en->version, CU_GET_PROC_ADDRESS_DEFAULT);
        if (r != CUDA_SUCCESS || !fn || qs != CU_GET_PROC_ADDRESS_SUCCESS) {
            const char *why = qs == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? "version not sufficient"
                              : qs == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND     ? "symbol not found"
                                                                               : "lookup failed";
            sk_fail(err, SPARSEK_NO_DEVICE,
                    "the CUDA driver in %s is too old or incomplete: cuGetProcAddress(\"%s\", "
                    "version %d) failed (%s, CUresult %d); SparseK needs a CUDA %d.%d driver",
                    path, en->name, en->version, why, (int)r, CUDA_VERSION / 1000, (CUDA_VERSION % 1000) / 10);
            return fail_close(cu);
        }
        memcpy((char *)cu + en->offset, &fn, sizeof fn);
    }

    CUresult r = cu->cuInit(0);
    if (r != CUDA_SUCCESS) {
        const char *name, *desc;
        names_of(cu, r, &name, &desc);
        sk_fail(err, SPARSEK_NO_DEVICE, "cuInit failed: %s (%s)", name ? name : "unknown CUresult",
                desc ? desc : "no description");
        return fail_close(cu);
    }
    int v = 0;
    r = cu->cuDriverGetVersion(&v);
    if (r != CUDA_SUCCESS) {
        sk_cuda_check(cu, r, "cuDriverGetVersion", err);
        if (err) err->status = SPARSEK_NO_DEVICE;
        return fail_close(cu);
    }
    cu->driver_version = v;
    return SPARSEK_OK;
}
