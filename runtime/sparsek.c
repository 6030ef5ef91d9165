/* sparsek.c — the runtime handle: errors, device, generation, compilation through the disk
 * cache, loading pretuned entries, and launching. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sk_autotune.h"
#include "sk_isolate.h"
#include "sk_runtime.h"
#include "sk_tuned.h"

/* ---- status names ------------------------------------------------------------------------ */

const char *sparsek_status_name(sparsek_status s) {
    switch (s) {
#define XX(name, msg) case SPARSEK_##name: return "SPARSEK_" #name;
        SPARSEK_ERRMAP(XX)
#undef XX
    default: return "SPARSEK_UNKNOWN_STATUS";
    }
}

const char *sparsek_status_string(sparsek_status s) {
    switch (s) {
#define XX(name, msg) case SPARSEK_##name: return msg;
        SPARSEK_ERRMAP(XX)
#undef XX
    default: return "unknown status";
    }
}

/* ---- per-thread error slots -------------------------------------------------------------- */

static sk_err *thread_slot(const sparsek_runtime *crt) {
    sparsek_runtime *rt = (sparsek_runtime *)crt;
    sk_err_slot *s = pthread_getspecific(rt->err_key);
    if (s) return &s->err;
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_lock(&rt->lock);
    s->next = rt->slots;
    rt->slots = s;
    pthread_mutex_unlock(&rt->lock);
    pthread_setspecific(rt->err_key, s);
    return &s->err;
}

sparsek_status sk_rt_fail(sparsek_runtime *rt, const sk_err *err) {
    sk_err *slot = thread_slot(rt);
    if (slot && err != slot) *slot = *err;
    return err->status;
}

sparsek_status sk_rt_failf(sparsek_runtime *rt, sparsek_status st, const char *fmt, ...) {
    sk_err *slot = thread_slot(rt);
    if (slot) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(slot->msg, sizeof slot->msg, fmt, ap);
        va_end(ap);
        slot->status = st;
    }
    return st;
}

const char *sparsek_last_error(const sparsek_runtime *rt) {
    if (!rt) return "sparsek_runtime handle is NULL";
    const sk_err_slot *s = pthread_getspecific(rt->err_key);
    return s ? s->err.msg : "";
}

/* ---- create / destroy -------------------------------------------------------------------- */

void sparsek_runtime_options_init(sparsek_runtime_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->compile_timeout_ms = 120000;
}

static void errbuf_set(char *buf, size_t n, const char *msg) {
    if (buf && n) snprintf(buf, n, "%s", msg);
}

sparsek_status sparsek_runtime_create(sparsek_runtime **out, const sparsek_runtime_options *opts,
                                      char *errbuf, size_t errbuf_size) {
    if (!out) {
        errbuf_set(errbuf, errbuf_size, "sparsek_runtime_create: out is NULL");
        return SPARSEK_INVALID_ARGUMENT;
    }
    *out = NULL;
    if (opts && opts->device < 0) {
        errbuf_set(errbuf, errbuf_size, "sparsek_runtime_create: device ordinal is negative");
        return SPARSEK_INVALID_ARGUMENT;
    }
    sparsek_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        errbuf_set(errbuf, errbuf_size, "sparsek_runtime_create: out of memory");
        return SPARSEK_OUT_OF_MEMORY;
    }
    sparsek_runtime_options_init(&rt->opts);
    if (opts) rt->opts = *opts;
    if (!rt->opts.compile_timeout_ms) rt->opts.compile_timeout_ms = 120000;
    rt->gen_path = sk_strdup(opts ? opts->gen_path : NULL);
    rt->opts.gen_path = rt->gen_path;
    if (!rt->opts.disable_disk_cache) {
        sk_err e;
        const char *asked = opts ? opts->cache_dir : NULL;
        if (sk_cache_dir_resolve(asked, &rt->cache_dir, &e) != SPARSEK_OK) {
            if (asked) { /* the caller named a folder we cannot use: say so */
                errbuf_set(errbuf, errbuf_size, e.msg);
                free(rt->gen_path);
                free(rt);
                return SPARSEK_INVALID_ARGUMENT;
            }
            /* No home folder and no variables: run without a disk cache rather than fail. */
            rt->cache_dir = NULL;
        }
    }
    rt->opts.cache_dir = rt->cache_dir;
    if (pthread_key_create(&rt->err_key, NULL) != 0) {
        free(rt->gen_path);
        free(rt->cache_dir);
        free(rt);
        errbuf_set(errbuf, errbuf_size, "sparsek_runtime_create: pthread_key_create failed");
        return SPARSEK_INTERNAL;
    }
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->gen_lock, NULL);
    pthread_mutex_init(&rt->tuned_lock, NULL);
    *out = rt;
    sk_autotune_first_run(rt); /* opt-in; never fails the create */
    return SPARSEK_OK;
}

void sparsek_runtime_destroy(sparsek_runtime *rt) {
    if (!rt) return;
    for (int i = 0; i < rt->nkernels; i++) {
        sk_kernel *k = rt->kernels[i];
        if (rt->cuda_state == 1 && k->lib) rt->cu.cuLibraryUnload(k->lib);
        free(k->family); free(k->config); free(k->kernel_name); free(k->grid_rule);
        free(k);
    }
    free(rt->kernels);
    for (int i = 0; i < rt->nmemo; i++) {
        free(rt->memo[i].family); free(rt->memo[i].asked); free(rt->memo[i].canonical);
    }
    free(rt->memo);
    sk_rt_tuned_free(rt);
    if (rt->cuda_state == 1) rt->cu.cuDevicePrimaryCtxRelease(rt->dev);
    if (rt->cuda_state != 0) sk_cuda_close(&rt->cu);
    sk_gen_close(rt->gen);
    sk_nvrtc_close(rt->nvrtc);
    for (sk_err_slot *s = rt->slots, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    pthread_key_delete(rt->err_key);
    pthread_mutex_destroy(&rt->lock);
    pthread_mutex_destroy(&rt->gen_lock);
    pthread_mutex_destroy(&rt->tuned_lock);
    free(rt->cache_dir);
    free(rt->gen_path);
    free(rt);
}

/* ---- device ------------------------------------------------------------------------------ */

void sk_arch_for_cc(int major, int minor, char out[16]) {
    /* The "a" targets unlock wgmma/setmaxnreg (9.0) and tcgen05 (10.0): only valid on exactly
     * that chip, which is the one we compile for. */
    if ((major == 9 && minor == 0) || (major == 10 && minor == 0))
        snprintf(out, 16, "sm_%d%da", major, minor);
    else
        snprintf(out, 16, "sm_%d%d", major, minor);
}

static sparsek_status device_init_locked(sparsek_runtime *rt) {
    sk_err *e = &rt->cuda_err;
    sparsek_status st = sk_cuda_open(&rt->cu, e);
    if (st != SPARSEK_OK) return st;
    sk_cuda *cu = &rt->cu;
    int count = 0;
    if ((st = sk_cuda_check(cu, cu->cuDeviceGetCount(&count), "cuDeviceGetCount", e))) return st;
    if (rt->opts.device >= count)
        return sk_fail(e, SPARSEK_NO_DEVICE, "device %d requested, %d CUDA device(s) present", rt->opts.device, count);
    if ((st = sk_cuda_check(cu, cu->cuDeviceGet(&rt->dev, rt->opts.device), "cuDeviceGet", e))) return st;
    sparsek_device_info *info = &rt->info;
    cu->cuDeviceGetName(info->name, sizeof info->name, rt->dev);
    cu->cuDeviceGetAttribute(&info->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, rt->dev);
    cu->cuDeviceGetAttribute(&info->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, rt->dev);
    cu->cuDeviceGetAttribute(&info->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, rt->dev);
    cu->cuDeviceGetAttribute(&info->max_smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, rt->dev);
    info->driver_version = cu->driver_version;
    sk_arch_for_cc(info->cc_major, info->cc_minor, info->arch);
    if ((st = sk_cuda_check(cu, cu->cuDevicePrimaryCtxRetain(&rt->ctx, rt->dev), "cuDevicePrimaryCtxRetain", e)))
        return st;
    info->has_device = 1;
    return SPARSEK_OK;
}

sparsek_status sk_rt_device(sparsek_runtime *rt, sk_err *err) {
    pthread_mutex_lock(&rt->lock);
    if (rt->cuda_state == 0) rt->cuda_state = device_init_locked(rt) == SPARSEK_OK ? 1 : -1;
    int ok = rt->cuda_state == 1;
    pthread_mutex_unlock(&rt->lock);
    if (!ok) {
        if (err) *err = rt->cuda_err;
        return rt->cuda_err.status ? rt->cuda_err.status : SPARSEK_NO_DEVICE;
    }
    /* Launches and loads happen in the device's primary context, the one the CUDA runtime
     * (and so PyTorch) uses too. */
    return sk_cuda_check(&rt->cu, rt->cu.cuCtxSetCurrent(rt->ctx), "cuCtxSetCurrent", err);
}

sparsek_status sparsek_runtime_device_info(sparsek_runtime *rt, sparsek_device_info *out) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!out) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_runtime_device_info: out is NULL");
    memset(out, 0, sizeof *out);
    sk_err e;
    sparsek_status st = sk_rt_device(rt, &e);
    if (st == SPARSEK_NO_DEVICE) return SPARSEK_OK; /* no GPU is a fact, not a failure here */
    if (st != SPARSEK_OK) return sk_rt_fail(rt, &e);
    *out = rt->info;
    return SPARSEK_OK;
}

/* The arch to generate for: the caller's, else the device's, else sm_90a. */
static sparsek_status pick_arch(sparsek_runtime *rt, const char *arch, char out[16], sk_err *err) {
    if (arch && *arch) {
        if (!sk_arch_valid(arch))
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                           "unknown arch '%s' (expected sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120, ...)", arch);
        snprintf(out, 16, "%s", arch);
        return SPARSEK_OK;
    }
    sk_err ignore;
    if (sk_rt_device(rt, &ignore) == SPARSEK_OK) snprintf(out, 16, "%s", rt->info.arch);
    else snprintf(out, 16, "sm_90a");
    return SPARSEK_OK;
}

/* ---- generation -------------------------------------------------------------------------- */

static sparsek_status gen_open_locked(sparsek_runtime *rt, sk_err *err) {
    if (rt->gen) return SPARSEK_OK;
    return sk_gen_open(&rt->gen, rt->gen_path, err);
}

/* Canonical config for (family, config), remembered so the hot path skips Lua. */
static sparsek_status normalize(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                                char **canonical, sk_err *err) {
    /* Memo key: family, the config as asked and the arch (limits differ per arch). */
    const char *asked = config ? config : "";
    pthread_mutex_lock(&rt->lock);
    for (int i = 0; i < rt->nmemo; i++) {
        const sk_norm_memo *m = &rt->memo[i];
        if (!strcmp(m->family, family) && !strcmp(m->asked, asked) && !strcmp(m->arch, arch)) {
            *canonical = sk_strdup(m->canonical);
            pthread_mutex_unlock(&rt->lock);
            return *canonical ? SPARSEK_OK : sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
        }
    }
    pthread_mutex_unlock(&rt->lock);

    pthread_mutex_lock(&rt->gen_lock);
    sparsek_status st = gen_open_locked(rt, err);
    if (st == SPARSEK_OK) st = sk_gen_normalize(rt->gen, family, config, arch, canonical, err);
    pthread_mutex_unlock(&rt->gen_lock);
    if (st != SPARSEK_OK) return st;
    pthread_mutex_lock(&rt->lock);
    if (rt->nmemo == rt->memo_cap) {
        int cap = rt->memo_cap ? rt->memo_cap * 2 : 16;
        sk_norm_memo *m = realloc(rt->memo, (size_t)cap * sizeof *m);
        if (m) { rt->memo = m; rt->memo_cap = cap; }
    }
    if (rt->nmemo < rt->memo_cap) {
        sk_norm_memo *m = &rt->memo[rt->nmemo];
        m->family = sk_strdup(family);
        m->asked = sk_strdup(asked);
        m->canonical = sk_strdup(*canonical);
        snprintf(m->arch, sizeof m->arch, "%s", arch);
        if (m->family && m->asked && m->canonical) rt->nmemo++;
        else { free(m->family); free(m->asked); free(m->canonical); }
    }
    pthread_mutex_unlock(&rt->lock);
    return SPARSEK_OK;
}

void sparsek_kernel_source_free(sparsek_kernel_source *src) {
    if (!src) return;
    sk_kernel_source_clear(src);
    free(src);
}

/* Everything a compile depends on, resolved: canonical config, key, toolchain. */
typedef struct build_plan {
    char arch[16];
    char *canonical;
    char key[65];
    const char *toolchain;
} build_plan;

static sparsek_status plan_build(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                                 int need_nvrtc, build_plan *plan, sk_err *err) {
    memset(plan, 0, sizeof *plan);
    sparsek_status st = pick_arch(rt, arch, plan->arch, err);
    if (st) return st;
    st = normalize(rt, family, config, plan->arch, &plan->canonical, err);
    if (st) return st;
    plan->toolchain = "nvrtc-unavailable";
    if (need_nvrtc) {
        pthread_mutex_lock(&rt->lock);
        if (!rt->nvrtc) st = sk_nvrtc_open(&rt->nvrtc, err);
        pthread_mutex_unlock(&rt->lock);
        if (st) {
            free(plan->canonical);
            plan->canonical = NULL;
            return st;
        }
        plan->toolchain = sk_nvrtc_version_string(rt->nvrtc);
    } else if (rt->nvrtc) {
        plan->toolchain = sk_nvrtc_version_string(rt->nvrtc);
    }
    pthread_mutex_lock(&rt->gen_lock);
    const char *digest = sk_gen_digest(rt->gen);
    sk_cache_key(digest, family, plan->canonical, sk_nvrtc_options_string(), plan->toolchain, plan->arch, plan->key);
    pthread_mutex_unlock(&rt->gen_lock);
    return SPARSEK_OK;
}

static sparsek_status generate_planned(sparsek_runtime *rt, const char *family, const build_plan *plan,
                                       sparsek_kernel_source **out, sk_err *err) {
    sparsek_kernel_source *src = calloc(1, sizeof *src);
    if (!src) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    pthread_mutex_lock(&rt->gen_lock);
    sparsek_status st = gen_open_locked(rt, err);
    if (st == SPARSEK_OK) st = sk_gen_generate(rt->gen, family, plan->canonical, plan->arch, plan->key, src, err);
    pthread_mutex_unlock(&rt->gen_lock);
    if (st) {
        sparsek_kernel_source_free(src);
        return st;
    }
    *out = src;
    return SPARSEK_OK;
}

sparsek_status sparsek_generate(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                                sparsek_kernel_source **out) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!family || !out) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_generate: family and out must not be NULL");
    *out = NULL;
    sk_err e;
    build_plan plan;
    /* The key (printed in the banner) names the toolchain: open NVRTC if it is there, but
     * generating source must work without it. */
    pthread_mutex_lock(&rt->lock);
    if (!rt->nvrtc) {
        sk_err ignore;
        (void)sk_nvrtc_open(&rt->nvrtc, &ignore);
    }
    pthread_mutex_unlock(&rt->lock);
    sparsek_status st = plan_build(rt, family, config, arch, 0, &plan, &e);
    if (st) return sk_rt_fail(rt, &e);
    st = generate_planned(rt, family, &plan, out, &e);
    free(plan.canonical);
    return st ? sk_rt_fail(rt, &e) : SPARSEK_OK;
}

/* ---- compilation through the disk cache -------------------------------------------------- */

void sparsek_compiled_free(sparsek_compiled *c) {
    if (!c) return;
    sparsek_kernel_source_free(c->src);
    free(c->cubin);
    free(c->log);
    free(c);
}

static void entry_from_compile(sk_cache_entry *e, const sparsek_kernel_source *src, const sk_compile_result *r,
                               const char *digest, const char *toolchain) {
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", src->cache_key);
    e->family = src->family; e->arch = src->arch; e->template_name = src->template_name;
    e->config = src->config; e->kernel_name = src->kernel_name; e->grid_rule = src->grid_rule;
    e->gen_digest = (char *)digest; e->toolchain = (char *)toolchain;
    e->options = (char *)sk_nvrtc_options_string();
    memcpy(e->block, src->block, sizeof e->block);
    memcpy(e->cluster, src->cluster, sizeof e->cluster);
    e->dynamic_smem = src->dynamic_smem;
    e->registers = r->registers; e->spill_stores = r->spill_stores; e->spill_loads = r->spill_loads;
    e->stack_frame = r->stack_frame; e->static_smem = r->static_smem;
    e->bucket = ""; e->gpu = "";
    e->created = (long long)time(NULL);
    e->cubin = r->cubin;
    e->cubin_size = r->cubin_size;
}

/* Fills a source struct from a cache entry's metadata (the source text itself is not kept). */
static sparsek_status source_from_entry(const sk_cache_entry *e, sparsek_kernel_source **out, sk_err *err) {
    sparsek_kernel_source *s = calloc(1, sizeof *s);
    if (!s) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    s->family = sk_strdup(e->family); s->arch = sk_strdup(e->arch);
    s->template_name = sk_strdup(e->template_name); s->config = sk_strdup(e->config);
    s->kernel_name = sk_strdup(e->kernel_name); s->grid_rule = sk_strdup(e->grid_rule);
    s->cache_key = sk_strdup(e->key);
    s->source = sk_strdup("");
    memcpy(s->block, e->block, sizeof s->block);
    memcpy(s->cluster, e->cluster, sizeof s->cluster);
    s->dynamic_smem = e->dynamic_smem;
    if (!s->family || !s->arch || !s->template_name || !s->config || !s->kernel_name || !s->grid_rule ||
        !s->cache_key || !s->source) {
        sparsek_kernel_source_free(s);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    *out = s;
    return SPARSEK_OK;
}

static sparsek_status compile_impl(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                                   sparsek_compiled **out, sk_err *err) {
    build_plan plan;
    sparsek_status st = plan_build(rt, family, config, arch, 1, &plan, err);
    if (st) return st;
    sparsek_compiled *c = calloc(1, sizeof *c);
    if (!c) {
        free(plan.canonical);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }

    if (rt->cache_dir) {
        sk_cache_entry e;
        sk_err cerr;
        sparsek_status cst = sk_cache_lookup(rt->cache_dir, plan.key, plan.arch, &e, &cerr);
        if (cst == SPARSEK_OK) {
            st = source_from_entry(&e, &c->src, err);
            if (st == SPARSEK_OK) {
                c->cubin = e.cubin; c->cubin_size = e.cubin_size; e.cubin = NULL;
                c->log = sk_strdup("(from the disk cache)");
                c->registers = e.registers; c->spill_stores = e.spill_stores; c->spill_loads = e.spill_loads;
                c->stack_frame = e.stack_frame; c->static_smem = e.static_smem;
                c->from_cache = 1;
            }
            sk_cache_entry_clear(&e);
            free(plan.canonical);
            if (st) { sparsek_compiled_free(c); return st; }
            *out = c;
            return SPARSEK_OK;
        }
        /* A corrupt entry was removed by the lookup; it is rebuilt below. */
    }

    st = generate_planned(rt, family, &plan, &c->src, err);
    free(plan.canonical);
    if (st) { sparsek_compiled_free(c); return st; }
    sk_compile_result r;
    memset(&r, 0, sizeof r);
    if (rt->opts.isolate_compiles)
        st = sk_nvrtc_compile_isolated(rt->nvrtc, c->src->source, c->src->kernel_name, c->src->arch,
                                       rt->opts.compile_timeout_ms, &r, err);
    else
        st = sk_nvrtc_compile(rt->nvrtc, c->src->source, c->src->kernel_name, c->src->arch, &r, err);
    if (st) {
        sk_compile_result_clear(&r);
        sk_err_prefix(err, "compiling %s (%s %s)", c->src->kernel_name, family, c->src->config);
        sparsek_compiled_free(c);
        return st;
    }
    if (rt->cache_dir) {
        sk_cache_entry e;
        pthread_mutex_lock(&rt->gen_lock);
        const char *digest = sk_gen_digest(rt->gen);
        entry_from_compile(&e, c->src, &r, digest, sk_nvrtc_version_string(rt->nvrtc));
        sk_err serr;
        /* A cache that cannot be written costs a recompile next time, not this call. */
        (void)sk_cache_store(rt->cache_dir, &e, &serr);
        pthread_mutex_unlock(&rt->gen_lock);
    }
    c->cubin = r.cubin; c->cubin_size = r.cubin_size; c->log = r.log;
    c->registers = r.registers; c->spill_stores = r.spill_stores; c->spill_loads = r.spill_loads;
    c->stack_frame = r.stack_frame; c->static_smem = r.static_smem;
    *out = c;
    return SPARSEK_OK;
}

sparsek_status sparsek_compile(sparsek_runtime *rt, const char *family, const char *config, const char *arch,
                               sparsek_compiled **out) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!family || !out) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_compile: family and out must not be NULL");
    *out = NULL;
    sk_err e;
    sparsek_status st = compile_impl(rt, family, config, arch, out, &e);
    return st ? sk_rt_fail(rt, &e) : SPARSEK_OK;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* Loads a cubin into the device and records it under (family, config). Takes rt->lock. */
static sparsek_status register_kernel(sparsek_runtime *rt, const char *family, const char *config,
                                      const char *kernel_name, const char *grid_rule, const unsigned block[3],
                                      const unsigned cluster[3], unsigned smem, const void *cubin,
                                      int pretuned, const sk_kernel **out, sk_err *err) {
    sk_cuda *cu = &rt->cu;
    CUlibrary lib;
    sparsek_status st = sk_cuda_check(cu, cu->cuLibraryLoadData(&lib, cubin, NULL, NULL, 0, NULL, NULL, 0),
                                      "cuLibraryLoadData", err);
    if (st) return st;
    CUkernel kern;
    CUfunction fn;
    st = sk_cuda_check(cu, cu->cuLibraryGetKernel(&kern, lib, kernel_name), "cuLibraryGetKernel", err);
    if (!st) st = sk_cuda_check(cu, cu->cuKernelGetFunction(&fn, kern), "cuKernelGetFunction", err);
    /* The CTA's shared memory is its static part plus the dynamic one: more than the device
     * allows is refused; beyond 48 KB the kernel must opt in to its dynamic size (a launch fails
     * with CUDA_ERROR_INVALID_VALUE otherwise). */
    int static_smem = 0;
    if (!st) st = sk_cuda_check(cu, cu->cuFuncGetAttribute(&static_smem, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn),
                                "cuFuncGetAttribute(SHARED_SIZE_BYTES)", err);
    if (!st && (long long)static_smem + smem > rt->info.max_smem_optin)
        st = sk_fail(err, SPARSEK_NOT_SUPPORTED, "%s needs %d + %u bytes of shared memory; %s allows %d", kernel_name,
                     static_smem, smem, rt->info.name, rt->info.max_smem_optin);
    if (!st && (long long)static_smem + smem > 48 * 1024)
        st = sk_cuda_check(cu, cu->cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem),
                           "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)", err);
    if (st) {
        cu->cuLibraryUnload(lib);
        return st;
    }
    pthread_mutex_lock(&rt->lock);
    for (int i = 0; i < rt->nkernels; i++) {
        sk_kernel *old = rt->kernels[i];
        if (old->superseded || strcmp(old->family, family) || strcmp(old->config, config)) continue;
        if (old->stale && !pretuned) {   /* a fresh compile replaces a stale pretuned kernel */
            old->superseded = 1;
            continue;
        }
        /* Another thread loaded it first: keep theirs. */
        *out = old;
        pthread_mutex_unlock(&rt->lock);
        cu->cuLibraryUnload(lib);
        return SPARSEK_OK;
    }
    /* Kernels are handed out by pointer, so each lives in its own allocation. */
    sk_kernel *k = calloc(1, sizeof *k);
    if (k && rt->nkernels == rt->kernels_cap) {
        int cap = rt->kernels_cap ? 2 * rt->kernels_cap : 32;
        sk_kernel **t = realloc(rt->kernels, (size_t)cap * sizeof *t);
        if (t) { rt->kernels = t; rt->kernels_cap = cap; }
    }
    if (!k || rt->nkernels == rt->kernels_cap) {
        free(k);
        pthread_mutex_unlock(&rt->lock);
        cu->cuLibraryUnload(lib);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    k->family = sk_strdup(family); k->config = sk_strdup(config);
    k->kernel_name = sk_strdup(kernel_name); k->grid_rule = sk_strdup(grid_rule);
    if (!k->family || !k->config || !k->kernel_name || !k->grid_rule) {
        free(k->family); free(k->config); free(k->kernel_name); free(k->grid_rule);
        free(k);
        pthread_mutex_unlock(&rt->lock);
        cu->cuLibraryUnload(lib);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(k->block, block, sizeof k->block);
    memcpy(k->cluster, cluster, sizeof k->cluster);
    k->dynamic_smem = smem;
    k->lib = lib;
    k->fn = fn;
    k->from_pretuned = pretuned;
    rt->kernels[rt->nkernels++] = k;
    *out = k;
    pthread_mutex_unlock(&rt->lock);
    return SPARSEK_OK;
}

/* The kernel registered for (family, config), or NULL; *stale says whether it is a pretuned
 * kernel of another generator version that a compile should replace. */
static const sk_kernel *find_kernel(sparsek_runtime *rt, const char *family, const char *config, int *stale) {
    const sk_kernel *found = NULL;
    pthread_mutex_lock(&rt->lock);
    for (int i = 0; i < rt->nkernels && !found; i++)
        if (!rt->kernels[i]->superseded && !strcmp(rt->kernels[i]->family, family) &&
            !strcmp(rt->kernels[i]->config, config))
            found = rt->kernels[i];
    *stale = found && found->stale;
    pthread_mutex_unlock(&rt->lock);
    return found;
}

/* Keeps a stale pretuned kernel for good (NVRTC cannot rebuild it): no further compile attempts. */
static void keep_stale(sparsek_runtime *rt, const sk_kernel *k) {
    pthread_mutex_lock(&rt->lock);
    ((sk_kernel *)k)->stale = 0;   /* registered kernels are the runtime's own allocations */
    pthread_mutex_unlock(&rt->lock);
}

sparsek_status sk_rt_kernel(sparsek_runtime *rt, const char *family, const char *config, const sk_kernel **out,
                            sk_err *err) {
    char *canonical = NULL;
    /* Normalisation runs Lua only the first time a (family, config) is asked for. */
    sparsek_status st = normalize(rt, family, config, rt->info.arch, &canonical, err);
    if (st) return st;
    int stale;
    const sk_kernel *k = find_kernel(rt, family, canonical, &stale);
    if (k && !stale) {
        free(canonical);
        *out = k;
        return SPARSEK_OK;
    }
    /* Not loaded yet, or loaded from a pretuned entry that another generator version built:
     * compile the config as this generator writes it (the tuned choice stays). */
    sparsek_compiled *c = NULL;
    st = compile_impl(rt, family, canonical, rt->info.arch, &c, err);
    if (st && k) {   /* no compiler, or the compile failed: the pretuned cubin it is */
        if (st != SPARSEK_NVRTC_UNAVAILABLE)
            sk_rt_note(rt, "%s '%s': the pretuned kernel of another generator version runs: recompiling it failed: %s",
                       family, canonical, err->msg);
        keep_stale(rt, k);
        free(canonical);
        *out = k;
        return SPARSEK_OK;
    }
    if (st == SPARSEK_NVRTC_UNAVAILABLE)
        sk_err_prefix(err, "no pretuned kernel loaded for %s '%s' and it cannot be compiled", family, canonical);
    if (st == SPARSEK_OK)
        st = register_kernel(rt, family, canonical, c->src->kernel_name, c->src->grid_rule, c->src->block,
                             c->src->cluster, c->src->dynamic_smem, c->cubin, 0, out, err);
    sparsek_compiled_free(c);
    free(canonical);
    return st;
}

sparsek_status sparsek_runtime_load(sparsek_runtime *rt, const char *dir) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    if (!dir) return sk_rt_failf(rt, SPARSEK_INVALID_ARGUMENT, "sparsek_runtime_load: dir is NULL");
    sk_err e;
    sparsek_status st = sk_rt_device(rt, &e);
    if (st) return sk_rt_fail(rt, &e);
    DIR *d = opendir(dir);
    if (!d) return sk_rt_failf(rt, SPARSEK_IO, "sparsek_runtime_load: cannot open %s: %s", dir, strerror(errno));
    closedir(d);
    char **paths = NULL;
    int n = 0;
    if ((st = sk_cache_list(dir, &paths, &n, &e))) return sk_rt_fail(rt, &e);
    /* This generator's digest: entries built by another version are marked stale. */
    char digest[80] = "";
    pthread_mutex_lock(&rt->gen_lock);
    if (gen_open_locked(rt, &e) == SPARSEK_OK) snprintf(digest, sizeof digest, "%s", sk_gen_digest(rt->gen));
    pthread_mutex_unlock(&rt->gen_lock);
    int loaded = 0, rejected = 0, stale = 0;
    sk_err last = {SPARSEK_OK, ""};
    for (int i = 0; i < n; i++) {
        sk_cache_entry ent;
        memset(&ent, 0, sizeof ent);
        sk_err ee;
        st = sk_cache_read(paths[i], &ent, &ee);
        if (st == SPARSEK_OK && strcmp(ent.arch, rt->info.arch) != 0)
            st = sk_fail(&ee, SPARSEK_CACHE_CORRUPT, "built for %s, this device is %s", ent.arch, rt->info.arch);
        const sk_kernel *k;
        if (st == SPARSEK_OK)
            st = register_kernel(rt, ent.family, ent.config, ent.kernel_name, ent.grid_rule, ent.block, ent.cluster,
                                 ent.dynamic_smem, ent.cubin, 1, &k, &ee);
        if (st == SPARSEK_OK) {
            loaded++;
            if (k->from_pretuned && digest[0] && strcmp(ent.gen_digest, digest)) {
                pthread_mutex_lock(&rt->lock);
                ((sk_kernel *)k)->stale = 1;
                pthread_mutex_unlock(&rt->lock);
                stale++;
            }
            sk_rt_tuned_add_entry(rt, &ent, 1); /* its buckets, if it is a tuned winner */
        } else {
            rejected++;
            last = ee;
            sk_err_prefix(&last, "%s", paths[i]);
        }
        sk_cache_entry_clear(&ent);
        free(paths[i]);
    }
    free(paths);
    pthread_mutex_lock(&rt->lock);
    rt->loaded += loaded;
    rt->rejected += rejected;
    pthread_mutex_unlock(&rt->lock);
    if (n > 0 && loaded == 0) {
        sk_err_prefix(&last, "sparsek_runtime_load: none of %d entries in %s could be loaded; last", n, dir);
        return sk_rt_fail(rt, &last);
    }
    if (stale)
        sk_rt_note(rt, "sparsek_runtime_load: %d of %d kernels in %s were built by another generator version: their "
                       "tuned configs are compiled afresh where NVRTC is available, the cubins run only where it is not",
                   stale, loaded, dir);
    return SPARSEK_OK;
}

sparsek_status sparsek_runtime_load_stats(sparsek_runtime *rt, int *loaded, int *rejected) {
    if (!rt) return SPARSEK_INVALID_ARGUMENT;
    pthread_mutex_lock(&rt->lock);
    if (loaded) *loaded = rt->loaded;
    if (rejected) *rejected = rt->rejected;
    pthread_mutex_unlock(&rt->lock);
    return SPARSEK_OK;
}

/* ---- launch ------------------------------------------------------------------------------ */

static sparsek_status launch(sparsek_runtime *rt, const sk_kernel *k, const sk_gridvar *vars, int nvars,
                             void *params, CUstream stream, int dependent, sk_err *err) {
    unsigned grid[3];
    sparsek_status st = sk_gridrule_eval(k->grid_rule, vars, nvars, grid, err);
    if (st) return st;
    CUlaunchAttribute attr[2];
    memset(attr, 0, sizeof attr);
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = grid[0]; cfg.gridDimY = grid[1]; cfg.gridDimZ = grid[2];
    cfg.blockDimX = k->block[0]; cfg.blockDimY = k->block[1]; cfg.blockDimZ = k->block[2];
    cfg.sharedMemBytes = k->dynamic_smem;
    cfg.hStream = stream;
    cfg.attrs = attr;
    if (k->cluster[0] * k->cluster[1] * k->cluster[2] > 1) {
        CUlaunchAttribute *a = &attr[cfg.numAttrs++];
        a->id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
        a->value.clusterDim.x = k->cluster[0];
        a->value.clusterDim.y = k->cluster[1];
        a->value.clusterDim.z = k->cluster[2];
    }
    if (dependent && rt->info.cc_major >= 9) {   /* programmatic dependent launch: sm_90 and newer */
        CUlaunchAttribute *a = &attr[cfg.numAttrs++];
        a->id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
        a->value.programmaticStreamSerializationAllowed = 1;
    }
    void *args[] = {params};
    return sk_cuda_check(&rt->cu, rt->cu.cuLaunchKernelEx(&cfg, k->fn, args, NULL), k->kernel_name, err);
}

sparsek_status sk_rt_launch(sparsek_runtime *rt, const sk_kernel *k, const sk_gridvar *vars, int nvars, void *params,
                            CUstream stream, sk_err *err) {
    return launch(rt, k, vars, nvars, params, stream, 0, err);
}

sparsek_status sk_rt_launch_dependent(sparsek_runtime *rt, const sk_kernel *k, const sk_gridvar *vars, int nvars,
                                      void *params, CUstream stream, sk_err *err) {
    return launch(rt, k, vars, nvars, params, stream, 1, err);
}
