/* emu_driver.cc — a fake libcuda.so.1 that runs SparseK's generated kernels on the CPU, for
 * checking kernel code on a machine without a GPU (tests/emu/run.sh). Loaded through
 * $SPARSEK_CUDA_LIBRARY: cuGetProcAddress_v2 hands out the entry points below. The runtime still
 * compiles every kernel with NVRTC (the cubin is ignored); "loading" looks the kernel up by name
 * among the kernels compiled into this library from the same generated source
 * (tests/emu/prepare.py), and a launch runs every CTA in turn, each CUDA thread a cooperative
 * fiber (ucontext) so that __syncthreads and warp collectives are barriers. A barrier some
 * thread of the CTA or warp never reaches (divergent __syncthreads or a collective under a
 * lane-dependent branch) is reported as a deadlock and aborts. Device memory is host memory.
 * The device claims to be an H100 (cc 9.0, 132 SMs or $EMU_SMS, 227 KB of shared memory per block). */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <map>
#include <string>
#include <vector>

#include "emu_kernel.h"

/* ---- registry of emulated kernels ---- */
struct emu_func {
    std::string name;
    void (*run)(const void *params);
};
static std::map<std::string, emu_func> &registry() {
    static std::map<std::string, emu_func> r;
    return r;
}
extern "C" void emu_register(const char *name, void (*run)(const void *)) { registry()[name] = emu_func{name, run}; }

/* ---- fibers ---- */
struct fiber {
    ucontext_t ctx;
    emu_thread th;
    bool done;
    char *stack;
};
/* Fibers run in a fresh random order every round, so that a missing barrier between a write by
 * one thread and a read by another shows (a fixed order would hide it one way round). */
static unsigned long long g_rng = 0x2545f4914f6cdd1dull;
static unsigned rnd32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng >> 16);
}
enum { STACK = 256 * 1024 };
static ucontext_t g_sched;
static fiber *g_cur;
static std::vector<fiber> g_fibers;
static emu_dim3 g_block, g_bdim, g_gdim;
static unsigned char *g_smem;
static const emu_func *g_func;
static const void *g_params;
static int g_nthreads;
static int g_bar_count, g_bar_gen;
static long long g_progress;
struct warp_state {
    int count, gen;
    unsigned char slots[32][64];
};
static std::vector<warp_state> g_warps;

extern "C" emu_thread *emu_current(void) { return &g_cur->th; }
extern "C" const emu_dim3 *emu_block_idx(void) { return &g_block; }
extern "C" const emu_dim3 *emu_block_dim(void) { return &g_bdim; }
extern "C" const emu_dim3 *emu_grid_dim(void) { return &g_gdim; }
extern "C" unsigned char *emu_dyn_smem(void) { return g_smem; }

static void yield_fiber(void) { swapcontext(&g_cur->ctx, &g_sched); }

extern "C" void emu_syncthreads(void) {
    const int gen = g_bar_gen;
    if (++g_bar_count == g_nthreads) {
        g_bar_count = 0;
        g_bar_gen++;
        g_progress++;
        return;
    }
    while (g_bar_gen == gen) yield_fiber();
}

static void warp_barrier(warp_state &w) {
    const int gen = w.gen;
    if (++w.count == 32) {
        w.count = 0;
        w.gen++;
        g_progress++;
        return;
    }
    while (w.gen == gen) yield_fiber();
}

static void exchange(const void *mine, void *all, size_t bytes) {
    warp_state &w = g_warps[(size_t)(g_cur->th.linear / 32)];
    const int lane = g_cur->th.linear & 31;
    memcpy(w.slots[lane], mine, bytes);
    warp_barrier(w);
    for (int l = 0; l < 32; l++) memcpy((unsigned char *)all + (size_t)l * bytes, w.slots[l], bytes);
    warp_barrier(w); /* nobody overwrites a slot before every lane has read it */
}
extern "C" void emu_warp_exchange(const void *mine, void *all32) { exchange(mine, all32, 8); }
extern "C" void emu_warp_exchange64(const void *mine, void *all32x64) { exchange(mine, all32x64, 64); }

static void fiber_entry(void) {
    g_func->run(g_params);
    g_cur->done = true;
    g_progress++;
}

static void run_block(void) {
    g_bar_count = 0;
    g_warps.assign((size_t)(g_nthreads + 31) / 32, warp_state{});
    for (int i = 0; i < g_nthreads; i++) {
        fiber &f = g_fibers[(size_t)i];
        f.done = false;
        f.th.linear = i;
        f.th.npending = 0;
        f.th.committed = 0;
        f.th.tid.x = (unsigned)i % g_bdim.x;
        f.th.tid.y = ((unsigned)i / g_bdim.x) % g_bdim.y;
        f.th.tid.z = (unsigned)i / (g_bdim.x * g_bdim.y);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &g_sched;
        makecontext(&f.ctx, fiber_entry, 0);
    }
    std::vector<int> order((size_t)g_nthreads);
    for (int i = 0; i < g_nthreads; i++) order[(size_t)i] = i;
    for (;;) {
        bool all_done = true;
        const long long before = g_progress;
        for (int i = g_nthreads - 1; i > 0; i--) std::swap(order[(size_t)i], order[rnd32() % (unsigned)(i + 1)]);
        for (int oi = 0; oi < g_nthreads; oi++) {
            fiber &f = g_fibers[(size_t)order[(size_t)oi]];
            if (f.done) continue;
            all_done = false;
            g_cur = &f;
            swapcontext(&g_sched, &f.ctx);
        }
        if (all_done) break;
        if (g_progress == before) {
            int waiting = 0;
            for (int i = 0; i < g_nthreads; i++) waiting += !g_fibers[(size_t)i].done;
            fprintf(stderr, "emu: deadlock in %s block (%u,%u,%u): %d of %d threads wait at a barrier others never reach\n",
                    g_func->name.c_str(), g_block.x, g_block.y, g_block.z, waiting, g_nthreads);
            abort();
        }
    }
}

/* ---- the driver API ---- */
static CUresult e_init(unsigned) { return CUDA_SUCCESS; }
static CUresult e_version(int *v) { *v = 13000; return CUDA_SUCCESS; }
static CUresult e_errname(CUresult r, const char **s) { *s = r ? "CUDA_ERROR_EMULATOR" : "CUDA_SUCCESS"; return CUDA_SUCCESS; }
static CUresult e_errstring(CUresult r, const char **s) { *s = r ? "emulator error" : "no error"; return CUDA_SUCCESS; }
static CUresult e_count(int *n) { *n = 1; return CUDA_SUCCESS; }
static CUresult e_get(CUdevice *d, int i) { *d = i; return i == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }
static CUresult e_name(char *s, int n, CUdevice) { snprintf(s, (size_t)n, "SparseK CPU emulator (as H100)"); return CUDA_SUCCESS; }
static CUresult e_attr(int *v, CUdevice_attribute a, CUdevice) {
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = getenv("EMU_SMS") ? atoi(getenv("EMU_SMS")) : 132; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 232448; break;
    default: *v = 0;
    }
    return CUDA_SUCCESS;
}
static int g_ctx_dummy;
static CUresult e_retain(CUcontext *c, CUdevice) { *c = (CUcontext)&g_ctx_dummy; return CUDA_SUCCESS; }
static CUresult e_release(CUdevice) { return CUDA_SUCCESS; }
static CUresult e_setcur(CUcontext) { return CUDA_SUCCESS; }
static CUresult e_getcur(CUcontext *c) { *c = (CUcontext)&g_ctx_dummy; return CUDA_SUCCESS; }
static int g_lib_dummy;
static CUresult e_libload(CUlibrary *l, const void *, CUjit_option *, void **, unsigned, CUlibraryOption *, void **,
                          unsigned) {
    *l = (CUlibrary)&g_lib_dummy;
    return CUDA_SUCCESS;
}
static CUresult e_libunload(CUlibrary) { return CUDA_SUCCESS; }
static CUresult e_getkernel(CUkernel *k, CUlibrary, const char *name) {
    auto it = registry().find(name);
    if (it == registry().end()) {
        fprintf(stderr, "emu: kernel %s is not compiled into the emulator (tests/emu/run.sh lists them)\n", name);
        return CUDA_ERROR_NOT_FOUND;
    }
    *k = (CUkernel)&it->second;
    return CUDA_SUCCESS;
}
static CUresult e_kfunc(CUfunction *f, CUkernel k) { *f = (CUfunction)k; return CUDA_SUCCESS; }
static CUresult e_fattr(int *v, CUfunction_attribute, CUfunction) { *v = 0; return CUDA_SUCCESS; }
static CUresult e_fsetattr(CUfunction, CUfunction_attribute, int) { return CUDA_SUCCESS; }
static CUresult e_launch(const CUlaunchConfig *cfg, CUfunction f, void **params, void **) {
    g_func = (const emu_func *)f;
    g_params = params[0];
    g_gdim = emu_dim3{cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ};
    g_bdim = emu_dim3{cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ};
    g_nthreads = (int)(cfg->blockDimX * cfg->blockDimY * cfg->blockDimZ);
    if (g_fibers.size() < (size_t)g_nthreads) {
        size_t old = g_fibers.size();
        g_fibers.resize((size_t)g_nthreads);
        for (size_t i = old; i < g_fibers.size(); i++) g_fibers[i].stack = (char *)malloc(STACK);
    }
    const size_t smem = cfg->sharedMemBytes ? cfg->sharedMemBytes : 16;
    g_smem = (unsigned char *)aligned_alloc(128, (smem + 127) / 128 * 128);
    for (unsigned z = 0; z < g_gdim.z; z++)
        for (unsigned y = 0; y < g_gdim.y; y++)
            for (unsigned x = 0; x < g_gdim.x; x++) {
                g_block = emu_dim3{x, y, z};
                memset(g_smem, 0xff, smem); /* what a previous CTA left: never read before written */
                run_block();
            }
    free(g_smem);
    g_smem = NULL;
    return CUDA_SUCCESS;
}
static CUresult e_alloc(CUdeviceptr *p, size_t n) {
    void *m = aligned_alloc(256, (n + 255) / 256 * 256);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    *p = (CUdeviceptr)m;
    return CUDA_SUCCESS;
}
static CUresult e_free(CUdeviceptr p) { free((void *)p); return CUDA_SUCCESS; }
static CUresult e_htod(CUdeviceptr d, const void *s, size_t n) { memcpy((void *)d, s, n); return CUDA_SUCCESS; }
static CUresult e_dtoh(void *d, CUdeviceptr s, size_t n) { memcpy(d, (const void *)s, n); return CUDA_SUCCESS; }
static CUresult e_memset(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)d, v, n); return CUDA_SUCCESS; }
static CUresult e_memset32(CUdeviceptr d, unsigned v, size_t n, CUstream) {   // launches are synchronous too
    for (size_t i = 0; i < n; i++) ((unsigned *)d)[i] = v;
    return CUDA_SUCCESS;
}
static CUresult e_sync(void) { return CUDA_SUCCESS; }
static CUresult e_ssync(CUstream) { return CUDA_SUCCESS; }
static int g_ev_dummy;
static CUresult e_evcreate(CUevent *e, unsigned) { *e = (CUevent)&g_ev_dummy; return CUDA_SUCCESS; }
static CUresult e_evdestroy(CUevent) { return CUDA_SUCCESS; }
static CUresult e_evrecord(CUevent, CUstream) { return CUDA_SUCCESS; }
static CUresult e_evsync(CUevent) { return CUDA_SUCCESS; }   // also cuEventQuery: launches run synchronously
static CUresult e_evtime(float *ms, CUevent, CUevent) { *ms = 1.0f; return CUDA_SUCCESS; }

extern "C" CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int, cuuint64_t,
                                        CUdriverProcAddressQueryResult *status) {
    static const struct { const char *name; void *fn; } table[] = {
        {"cuInit", (void *)e_init}, {"cuDriverGetVersion", (void *)e_version},
        {"cuGetErrorName", (void *)e_errname}, {"cuGetErrorString", (void *)e_errstring},
        {"cuDeviceGetCount", (void *)e_count}, {"cuDeviceGet", (void *)e_get},
        {"cuDeviceGetName", (void *)e_name}, {"cuDeviceGetAttribute", (void *)e_attr},
        {"cuDevicePrimaryCtxRetain", (void *)e_retain}, {"cuDevicePrimaryCtxRelease", (void *)e_release},
        {"cuCtxSetCurrent", (void *)e_setcur}, {"cuCtxGetCurrent", (void *)e_getcur},
        {"cuLibraryLoadData", (void *)e_libload}, {"cuLibraryUnload", (void *)e_libunload},
        {"cuLibraryGetKernel", (void *)e_getkernel}, {"cuKernelGetFunction", (void *)e_kfunc},
        {"cuFuncGetAttribute", (void *)e_fattr}, {"cuFuncSetAttribute", (void *)e_fsetattr},
        {"cuLaunchKernelEx", (void *)e_launch}, {"cuMemAlloc", (void *)e_alloc}, {"cuMemFree", (void *)e_free},
        {"cuMemcpyHtoD", (void *)e_htod}, {"cuMemcpyDtoH", (void *)e_dtoh}, {"cuMemsetD8", (void *)e_memset},
        {"cuMemsetD32Async", (void *)e_memset32},
        {"cuCtxSynchronize", (void *)e_sync}, {"cuStreamSynchronize", (void *)e_ssync},
        {"cuEventCreate", (void *)e_evcreate}, {"cuEventDestroy", (void *)e_evdestroy},
        {"cuEventRecord", (void *)e_evrecord}, {"cuEventSynchronize", (void *)e_evsync},
        {"cuEventElapsedTime", (void *)e_evtime}, {"cuEventQuery", (void *)e_evsync},
    };
    for (const auto &t : table)
        if (!strcmp(t.name, sym)) {
            *pfn = t.fn;
            if (status) *status = CU_GET_PROC_ADDRESS_SUCCESS;
            return CUDA_SUCCESS;
        }
    *pfn = NULL;
    if (status) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_ERROR_NOT_FOUND;
}
