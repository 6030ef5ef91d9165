/* sk_nvrtc.c — NVRTC opened with dlopen (never linked), compilation to CUBIN, and the ptxas
 * resource report parser.
 *
 * The handle is immutable after sk_nvrtc_open, so one handle may be used by several threads at
 * once: NVRTC is thread-safe for separate programs, and every compile creates its own program. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <nvrtc.h>
#include "sk_nvrtc.h"

/* Function pointer types over the nvrtc.h types (the header declares functions, not typedefs). */
typedef nvrtcResult (*pfn_nvrtcVersion)(int *, int *);
typedef nvrtcResult (*pfn_nvrtcCreateProgram)(nvrtcProgram *, const char *, const char *, int,
                                              const char *const *, const char *const *);
typedef nvrtcResult (*pfn_nvrtcCompileProgram)(nvrtcProgram, int, const char *const *);
typedef nvrtcResult (*pfn_nvrtcGetProgramLogSize)(nvrtcProgram, size_t *);
typedef nvrtcResult (*pfn_nvrtcGetProgramLog)(nvrtcProgram, char *);
typedef nvrtcResult (*pfn_nvrtcGetCUBINSize)(nvrtcProgram, size_t *);
typedef nvrtcResult (*pfn_nvrtcGetCUBIN)(nvrtcProgram, char *);
typedef nvrtcResult (*pfn_nvrtcDestroyProgram)(nvrtcProgram *);
typedef const char *(*pfn_nvrtcGetErrorString)(nvrtcResult);

struct sk_nvrtc {
    void *lib;
    char path[PATH_MAX];
    char version[32];
    pfn_nvrtcVersion Version;
    pfn_nvrtcCreateProgram CreateProgram;
    pfn_nvrtcCompileProgram CompileProgram;
    pfn_nvrtcGetProgramLogSize GetProgramLogSize;
    pfn_nvrtcGetProgramLog GetProgramLog;
    pfn_nvrtcGetCUBINSize GetCUBINSize;
    pfn_nvrtcGetCUBIN GetCUBIN;
    pfn_nvrtcDestroyProgram DestroyProgram;
    pfn_nvrtcGetErrorString GetErrorString;
};

/* ---------------------------------------------------------------------------------------
 * Opening
 * --------------------------------------------------------------------------------------- */

static sparsek_status resolve(sk_nvrtc *n, void **slot, const char *name, sk_err *err) {
    dlerror();
    *slot = dlsym(n->lib, name);
    if (!*slot) {
        const char *e = dlerror();
        return sk_fail(err, SPARSEK_NVRTC_UNAVAILABLE, "NVRTC library %s lacks %s: %s", n->path,
                       name, e ? e : "symbol is NULL");
    }
    return SPARSEK_OK;
}

sparsek_status sk_nvrtc_open(sk_nvrtc **out, sk_err *err) {
    if (!out) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_nvrtc_open: out is NULL");
    *out = NULL;
    sk_nvrtc *n = calloc(1, sizeof *n);
    if (!n) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory opening NVRTC");

    const char *env = getenv("SPARSEK_NVRTC_LIBRARY");
    if (env && *env) {
        n->lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!n->lib) {
            const char *e = dlerror();
            sk_fail(err, SPARSEK_NVRTC_UNAVAILABLE,
                    "cannot open NVRTC from $SPARSEK_NVRTC_LIBRARY=%s: %s", env, e ? e : "dlopen failed");
            free(n);
            return SPARSEK_NVRTC_UNAVAILABLE;
        }
        snprintf(n->path, sizeof n->path, "%s", env);
    } else {
        static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so"};
        char why[2][1024] = {"", ""};
        for (int i = 0; i < 2 && !n->lib; i++) {
            n->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (n->lib) {
                snprintf(n->path, sizeof n->path, "%s", names[i]);
            } else {
                const char *e = dlerror();
                snprintf(why[i], sizeof why[i], "%s", e ? e : "dlopen failed");
            }
        }
        if (!n->lib) {
            sk_fail(err, SPARSEK_NVRTC_UNAVAILABLE,
                    "cannot open NVRTC (libnvrtc.so.13: %s; libnvrtc.so: %s); install the CUDA 13 "
                    "NVRTC library or set $SPARSEK_NVRTC_LIBRARY",
                    why[0], why[1]);
            free(n);
            return SPARSEK_NVRTC_UNAVAILABLE;
        }
    }

    struct { void **slot; const char *name; } syms[] = {
        {(void **)&n->Version, "nvrtcVersion"},
        {(void **)&n->CreateProgram, "nvrtcCreateProgram"},
        {(void **)&n->CompileProgram, "nvrtcCompileProgram"},
        {(void **)&n->GetProgramLogSize, "nvrtcGetProgramLogSize"},
        {(void **)&n->GetProgramLog, "nvrtcGetProgramLog"},
        {(void **)&n->GetCUBINSize, "nvrtcGetCUBINSize"},
        {(void **)&n->GetCUBIN, "nvrtcGetCUBIN"},
        {(void **)&n->DestroyProgram, "nvrtcDestroyProgram"},
        {(void **)&n->GetErrorString, "nvrtcGetErrorString"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        if (resolve(n, syms[i].slot, syms[i].name, err) != SPARSEK_OK) {
            dlclose(n->lib);
            free(n);
            return SPARSEK_NVRTC_UNAVAILABLE;
        }
    }
    int major = 0, minor = 0;
    nvrtcResult vr = n->Version(&major, &minor);
    if (vr != NVRTC_SUCCESS) {
        sk_fail(err, SPARSEK_NVRTC_UNAVAILABLE, "nvrtcVersion failed in %s: %s", n->path,
                n->GetErrorString(vr));
        dlclose(n->lib);
        free(n);
        return SPARSEK_NVRTC_UNAVAILABLE;
    }
    snprintf(n->version, sizeof n->version, "nvrtc-%d.%d", major, minor);
    *out = n;
    return SPARSEK_OK;
}

void sk_nvrtc_close(sk_nvrtc *n) {
    if (!n) return;
    if (n->lib) dlclose(n->lib);
    free(n);
}

const char *sk_nvrtc_version_string(const sk_nvrtc *n) { return n ? n->version : ""; }

/* ---------------------------------------------------------------------------------------
 * Options
 * --------------------------------------------------------------------------------------- */

/* NVRTC 13 does not find cuda_fp16.h / cuda_bf16.h on its own ("no directories in search
 * list"), so the toolkit include folder is passed: $CUDA_HOME/include when it holds
 * cuda_fp16.h, else /usr/local/cuda/include. */
#define SK_NOPT 6
static char g_include_opt[PATH_MAX + 8];
static const char *g_opts[SK_NOPT];
static char g_opts_string[PATH_MAX + 256];
static pthread_once_t g_opts_once = PTHREAD_ONCE_INIT;

static int has_fp16_header(const char *home) {
    char p[PATH_MAX];
    struct stat st;
    int w = snprintf(p, sizeof p, "%s/include/cuda_fp16.h", home);
    return w > 0 && (size_t)w < sizeof p && stat(p, &st) == 0;
}

static void init_opts(void) {
    const char *home = getenv("CUDA_HOME");
    if (!home || !*home || !has_fp16_header(home)) home = "/usr/local/cuda";
    snprintf(g_include_opt, sizeof g_include_opt, "-I%s/include", home);
    g_opts[0] = "-std=c++17";
    g_opts[1] = "-default-device";
    g_opts[2] = "-lineinfo";
    g_opts[3] = "--ptxas-options=-v";
    /* NVRTC 12.9+ keeps its own cache of compiled programs in the driver's compute cache where
     * a driver is installed; a hit returns the CUBIN with an EMPTY log, i.e. no ptxas report
     * (seen on an H100 with driver 580). SparseK caches CUBINs itself and needs the report on
     * every compile, so NVRTC's cache is off. */
    g_opts[4] = "--no-cache";
    g_opts[5] = g_include_opt;
    size_t off = 0;
    g_opts_string[0] = 0;
    for (int i = 0; i < SK_NOPT; i++) {
        int w = snprintf(g_opts_string + off, sizeof g_opts_string - off, "%s%s", i ? " " : "", g_opts[i]);
        if (w < 0 || (size_t)w >= sizeof g_opts_string - off) break;
        off += (size_t)w;
    }
}

const char *sk_nvrtc_options_string(void) {
    pthread_once(&g_opts_once, init_opts);
    return g_opts_string;
}

/* Real architectures we compile for; every one is in NVRTC 13.0's nvrtcGetSupportedArchs
 * (75 80 86 87 88 89 90 100 103 110 120 121). */
static const char *const g_archs[] = {
    "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_90a", "sm_100", "sm_100a", "sm_103a",
    "sm_120", "sm_120a",
};

int sk_arch_valid(const char *arch) {
    if (!arch) return 0;
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (strcmp(arch, g_archs[i]) == 0) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * ptxas report
 * --------------------------------------------------------------------------------------- */

void sk_compile_result_clear(sk_compile_result *r) {
    if (!r) return;
    free(r->cubin);
    free(r->log);
    memset(r, 0, sizeof *r);
    r->registers = -1;
}

/* Finds "<number> <label>" in [s, end): the number right before `label`. -1 if absent. */
static long number_before(const char *s, const char *end, const char *label) {
    size_t ll = strlen(label);
    for (const char *p = s; p + ll <= end; p++) {
        if (memcmp(p, label, ll) != 0) continue;
        const char *q = p;
        while (q > s && q[-1] == ' ') q--;
        const char *d = q;
        while (d > s && d[-1] >= '0' && d[-1] <= '9') d--;
        if (d == q) continue;
        return strtol(d, NULL, 10);
    }
    return -1;
}

static void keep_max(int *slot, long v) {
    if (v >= 0 && v <= INT_MAX && v > *slot) *slot = (int)v;
}

/* NVRTC 13.0 report, one block per entry function:
 *   ptxas info    : Compiling entry function 'k' for 'sm_90a'
 *   ptxas info    : Function properties for k
 *   ptxas         .     9888 bytes stack frame, 10440 bytes spill stores, 21392 bytes spill loads
 *   ptxas info    : Used 32 registers, used 1 barriers, 2048 bytes cumulative stack size, 4096 bytes smem
 * With several entry functions the maximum of each field is kept. */
void sk_parse_ptxas_report(const char *log, sk_compile_result *r) {
    if (!r) return;
    int regs = -1, st = -1, ld = -1, stack = -1, smem = -1;
    if (log) {
        for (const char *line = log; *line;) {
            const char *end = strchr(line, '\n');
            if (!end) end = line + strlen(line);
            /* "Used N registers" (the number right before "registers") */
            if (number_before(line, end, "registers") >= 0) {
                for (const char *p = line; p + 5 <= end; p++)
                    if (memcmp(p, "Used ", 5) == 0) {
                        keep_max(&regs, number_before(line, end, "registers"));
                        break;
                    }
            }
            keep_max(&st, number_before(line, end, "bytes spill stores"));
            keep_max(&ld, number_before(line, end, "bytes spill loads"));
            keep_max(&stack, number_before(line, end, "bytes stack frame"));
            keep_max(&smem, number_before(line, end, "bytes smem"));
            line = *end ? end + 1 : end;
        }
    }
    r->registers = regs;
    r->spill_stores = st < 0 ? 0 : st;
    r->spill_loads = ld < 0 ? 0 : ld;
    r->stack_frame = stack < 0 ? 0 : stack;
    r->static_smem = smem < 0 ? 0 : smem;
}

/* ---------------------------------------------------------------------------------------
 * Compile
 * --------------------------------------------------------------------------------------- */

sparsek_status sk_nvrtc_compile(sk_nvrtc *n, const char *source, const char *name,
                                const char *arch, sk_compile_result *r, sk_err *err) {
    if (r) {
        memset(r, 0, sizeof *r);
        r->registers = -1;
    }
    if (!n || !source || !arch || !r)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_nvrtc_compile: %s is NULL",
                       !n ? "nvrtc handle" : !source ? "source" : !arch ? "arch" : "result");
    if (!sk_arch_valid(arch))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                       "unsupported compile target '%s' (expected one of sm_80 sm_86 sm_87 sm_89 "
                       "sm_90 sm_90a sm_100 sm_100a sm_103a sm_120 sm_120a)",
                       arch);
    if (!name || !*name) name = "sparsek_kernel.cu";
    pthread_once(&g_opts_once, init_opts);

    char arch_opt[64];
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=%s", arch);
    const char *opts[SK_NOPT + 1];
    opts[0] = arch_opt;
    for (int i = 0; i < SK_NOPT; i++) opts[i + 1] = g_opts[i];

    nvrtcProgram prog = NULL;
    nvrtcResult cr = n->CreateProgram(&prog, source, name, 0, NULL, NULL);
    if (cr != NVRTC_SUCCESS)
        return sk_fail(err, cr == NVRTC_ERROR_OUT_OF_MEMORY ? SPARSEK_OUT_OF_MEMORY : SPARSEK_COMPILE,
                       "nvrtcCreateProgram(%s) failed: %s", name, n->GetErrorString(cr));

    sparsek_status st = SPARSEK_OK;
    nvrtcResult rr = n->CompileProgram(prog, SK_NOPT + 1, opts);

    size_t log_size = 0;
    if (n->GetProgramLogSize(prog, &log_size) == NVRTC_SUCCESS && log_size > 0) {
        r->log = malloc(log_size + 1);
        if (r->log) {
            if (n->GetProgramLog(prog, r->log) != NVRTC_SUCCESS) r->log[0] = 0;
            r->log[log_size] = 0;
        }
    }
    if (!r->log) r->log = sk_strdup("");

    if (rr != NVRTC_SUCCESS) {
        st = sk_fail(err, SPARSEK_COMPILE, "NVRTC compile of %s for %s failed (%s):\n%s", name, arch,
                     n->GetErrorString(rr), r->log ? r->log : "");
        goto done;
    }
    size_t cubin_size = 0;
    nvrtcResult sr = n->GetCUBINSize(prog, &cubin_size);
    if (sr != NVRTC_SUCCESS || cubin_size == 0) {
        st = sk_fail(err, SPARSEK_INTERNAL, "NVRTC produced no CUBIN for %s (%s): %s", arch, name,
                     sr != NVRTC_SUCCESS ? n->GetErrorString(sr) : "size 0");
        goto done;
    }
    r->cubin = malloc(cubin_size);
    if (!r->cubin) {
        st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory for a %zu-byte CUBIN", cubin_size);
        goto done;
    }
    sr = n->GetCUBIN(prog, r->cubin);
    if (sr != NVRTC_SUCCESS) {
        free(r->cubin);
        r->cubin = NULL;
        st = sk_fail(err, SPARSEK_INTERNAL, "nvrtcGetCUBIN failed: %s", n->GetErrorString(sr));
        goto done;
    }
    r->cubin_size = cubin_size;
    sk_parse_ptxas_report(r->log, r);

done:
    n->DestroyProgram(&prog);
    return st;
}
