/* sk_cuda.h — the CUDA Driver API, opened at run time: libcuda.so.1 with dlopen, every symbol
 * through cuGetProcAddress. Nothing links the stub. Only runtime/ includes cuda.h. */
#ifndef SK_CUDA_H
#define SK_CUDA_H

#include <cuda.h>
#include "sk_internal.h"

typedef struct sk_cuda {
    void *lib;
    int driver_version;
    CUresult (*cuInit)(unsigned);
    CUresult (*cuDriverGetVersion)(int *);
    CUresult (*cuGetErrorName)(CUresult, const char **);
    CUresult (*cuGetErrorString)(CUresult, const char **);
    CUresult (*cuDeviceGetCount)(int *);
    CUresult (*cuDeviceGet)(CUdevice *, int);
    CUresult (*cuDeviceGetName)(char *, int, CUdevice);
    CUresult (*cuDeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuCtxGetCurrent)(CUcontext *);
    CUresult (*cuLibraryLoadData)(CUlibrary *, const void *, CUjit_option *, void **, unsigned,
                                  CUlibraryOption *, void **, unsigned);
    CUresult (*cuLibraryUnload)(CUlibrary);
    CUresult (*cuLibraryGetKernel)(CUkernel *, CUlibrary, const char *);
    CUresult (*cuKernelGetFunction)(CUfunction *, CUkernel);
    CUresult (*cuFuncGetAttribute)(int *, CUfunction_attribute, CUfunction);
    CUresult (*cuFuncSetAttribute)(CUfunction, CUfunction_attribute, int);
    CUresult (*cuLaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **, void **);
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree)(CUdeviceptr);
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
    CUresult (*cuCtxSynchronize)(void);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuEventCreate)(CUevent *, unsigned);
    CUresult (*cuEventDestroy)(CUevent);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventSynchronize)(CUevent);
    CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*cuEventQuery)(CUevent);
} sk_cuda;

/* Opens libcuda.so.1 (or $SPARSEK_CUDA_LIBRARY) and resolves every entry point above.
 * SPARSEK_NO_DEVICE when the driver library is absent or cuInit fails. */
SK_HIDDEN sparsek_status sk_cuda_open(sk_cuda *cu, sk_err *err);
SK_HIDDEN void sk_cuda_close(sk_cuda *cu);
/* Fails with SPARSEK_CUDA and "what: CUDA_ERROR_X (description)" when r != CUDA_SUCCESS. */
SK_HIDDEN sparsek_status sk_cuda_check(const sk_cuda *cu, CUresult r, const char *what, sk_err *err);

#endif
