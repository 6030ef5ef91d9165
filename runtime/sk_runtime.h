/* sk_runtime.h — the runtime handle's internals, shared by runtime/ modules and the CLI. */
#ifndef SK_RUNTIME_H
#define SK_RUNTIME_H

#include <pthread.h>
#include "sk_cache.h"
#include "sk_cuda.h"
#include "sk_gen.h"
#include "sk_gridrule.h"
#include "sk_nvrtc.h"

/* A kernel loaded on the runtime's device, ready to launch. */
typedef struct sk_kernel {
    char *family, *config;   /* canonical config: the lookup key within a family */
    char *kernel_name, *grid_rule;
    unsigned block[3], cluster[3], dynamic_smem;
    CUlibrary lib;
    CUfunction fn;
    int from_pretuned;       /* loaded by sparsek_runtime_load */
    int stale;               /* pretuned, built by another generator version: sk_rt_kernel compiles
                                the config afresh when NVRTC is at hand and runs this one only
                                when it is not (rt->lock) */
    int superseded;          /* replaced by a fresh compile; kept until the runtime goes (callers
                                may hold the pointer) but never found again (rt->lock) */
} sk_kernel;

/* A remembered normalisation: (family, config as asked) -> canonical config. */
typedef struct sk_norm_memo {
    char *family, *asked, *canonical;
    char arch[16];
} sk_norm_memo;

typedef struct sk_err_slot {
    struct sk_err_slot *next;
    sk_err err;
} sk_err_slot;

struct sparsek_runtime {
    sparsek_runtime_options opts;
    char *cache_dir;          /* resolved; NULL if disabled or unresolvable */
    char *gen_path;

    pthread_mutex_t lock;     /* guards everything below except what says otherwise */
    pthread_mutex_t gen_lock; /* the Lua state is single-threaded */
    pthread_key_t err_key;    /* per-thread sk_err_slot */
    sk_err_slot *slots;       /* every slot, freed on destroy */

    sk_gen *gen;              /* opened on first use (under gen_lock) */
    sk_nvrtc *nvrtc;          /* opened on first compile */

    int cuda_state;           /* 0: not tried, 1: ready, -1: unavailable (cuda_err says why) */
    sk_err cuda_err;
    sk_cuda cu;
    CUdevice dev;
    CUcontext ctx;
    sparsek_device_info info;

    sk_kernel **kernels;      /* each kernel its own allocation: pointers stay valid */
    int nkernels, kernels_cap;
    sk_norm_memo *memo;
    int nmemo, memo_cap;
    int loaded, rejected;     /* sparsek_runtime_load statistics */

    /* Tuned winners per shape bucket (sk_tuned.c), guarded by tuned_lock. */
    pthread_mutex_t tuned_lock;
    struct sk_tuned_item *tuned;
    int ntuned, tuned_cap;
    int tuned_scanned;        /* the cache folder was scanned for tuned entries */
};

/* Records err in the calling thread's slot for rt and returns its status. */
SK_HIDDEN sparsek_status sk_rt_fail(sparsek_runtime *rt, const sk_err *err);
/* printf-style variant. */
SK_HIDDEN sparsek_status sk_rt_failf(sparsek_runtime *rt, sparsek_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Initialises the driver and the device once; SPARSEK_NO_DEVICE with the reason otherwise. */
SK_HIDDEN sparsek_status sk_rt_device(sparsek_runtime *rt, sk_err *err);

/* Finds or builds (cache, else compile) and loads the kernel for (family, config). The caller
 * has made the device ready (sk_rt_device) in this call. The returned pointer stays valid for
 * the runtime's life. */
SK_HIDDEN sparsek_status sk_rt_kernel(sparsek_runtime *rt, const char *family, const char *config,
                                      const sk_kernel **out, sk_err *err);

/* Launches k with grid from its rule over vars, one by-value params struct, on stream. */
SK_HIDDEN sparsek_status sk_rt_launch(sparsek_runtime *rt, const sk_kernel *k, const sk_gridvar *vars,
                                      int nvars, void *params, CUstream stream, sk_err *err);
/* The same for a kernel that reads what the kernel launched just before it on the stream (by this
 * library, in the same call) wrote: on sm_90 and newer it is launched as that kernel's
 * programmatic dependent, so its launch overlaps that kernel's tail; the kernel must begin with
 * pdl_begin() (templates/sparsek_common.cut), which waits for that kernel's completion. */
SK_HIDDEN sparsek_status sk_rt_launch_dependent(sparsek_runtime *rt, const sk_kernel *k, const sk_gridvar *vars,
                                                int nvars, void *params, CUstream stream, sk_err *err);

/* The arch this device compiles for: cc 9.0 -> "sm_90a", 10.0 -> "sm_100a", 8.6 -> "sm_86". */
SK_HIDDEN void sk_arch_for_cc(int major, int minor, char out[16]);

#endif
