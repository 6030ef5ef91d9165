/*
 * sparsek.h — the public API of SparseK: generated, compiled, cached and launched
 * attention kernels for NVIDIA GPUs.
 *
 * Conventions
 *  - Every call takes the runtime handle first and returns a sparsek_status.
 *  - On failure, sparsek_last_error(rt) describes what and why (CUDA error name, NVRTC log,
 *    Lua traceback, which argument). The library never prints and never exits.
 *  - The caller owns every struct it passes in; objects returned through `**out` are owned by
 *    the caller and released with the matching *_free / *_destroy call.
 *  - A runtime handle may be used from several threads at once.
 */
#ifndef SPARSEK_H
#define SPARSEK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SPARSEK_API __attribute__((visibility("default")))
#else
#define SPARSEK_API
#endif

#define SPARSEK_VERSION_MAJOR 0
#define SPARSEK_VERSION_MINOR 1
#define SPARSEK_VERSION_PATCH 0

/* Status codes: defined once here, name and message generated from the same table. */
#define SPARSEK_ERRMAP(XX)                                                                   \
    XX(OK, "success")                                                                        \
    XX(INVALID_ARGUMENT, "invalid argument")                                                 \
    XX(NOT_SUPPORTED, "not supported on this device or configuration")                       \
    XX(OUT_OF_MEMORY, "out of host memory")                                                  \
    XX(NO_DEVICE, "no CUDA device or driver available")                                      \
    XX(CUDA, "CUDA driver error")                                                            \
    XX(NVRTC_UNAVAILABLE, "NVRTC could not be opened")                                       \
    XX(COMPILE, "kernel compilation failed")                                                 \
    XX(COMPILE_CRASHED, "kernel compiler crashed")                                           \
    XX(COMPILE_TIMEOUT, "kernel compiler timed out")                                         \
    XX(GENERATOR, "kernel generator error")                                                  \
    XX(CACHE_MISS, "no cache entry for this key")                                            \
    XX(CACHE_CORRUPT, "cache entry is corrupt, truncated, stale or for another target")      \
    XX(IO, "file system error")                                                              \
    XX(INTERNAL, "internal error")

typedef enum {
#define SPARSEK_XX_ENUM(name, msg) SPARSEK_##name,
    SPARSEK_ERRMAP(SPARSEK_XX_ENUM)
#undef SPARSEK_XX_ENUM
    SPARSEK_STATUS_COUNT
} sparsek_status;

/* "SPARSEK_INVALID_ARGUMENT", ...; "SPARSEK_UNKNOWN_STATUS" for values outside the enum. */
SPARSEK_API const char *sparsek_status_name(sparsek_status s);
/* "invalid argument", ... */
SPARSEK_API const char *sparsek_status_string(sparsek_status s);

typedef struct sparsek_runtime sparsek_runtime;

typedef struct sparsek_runtime_options {
    int device;                  /* CUDA device ordinal (default 0) */
    const char *cache_dir;       /* NULL: $SPARSEK_CACHE_DIR, $XDG_CACHE_HOME/sparsek, ~/.cache/sparsek
                                    (none of them: no disk cache); "" is an error */
    int disable_disk_cache;      /* 1: compile in memory only, never touch the disk cache */
    int isolate_compiles;        /* 1: compile in a child process (crash/hang safe) */
    unsigned compile_timeout_ms; /* child compile time limit; 0: 120000 */
    const char *gen_path;        /* NULL: $SPARSEK_GEN_PATH, else the scripts built into the library */
    /* First-run tuning. When the device has no tuned kernels in the cache folder and
     * `autotune` is 1 (or $SPARSEK_AUTOTUNE is 1), sparsek_runtime_create tunes the standard
     * shape set (README, "Tuning") for at most `autotune_budget_s` seconds (0: 300; or
     * $SPARSEK_AUTOTUNE_BUDGET) and stores the winners there; -1: never, whatever the
     * variable says. Otherwise calls use the heuristic tile choice and the runtime says so once
     * through `log`. Tuning never makes the create fail. */
    int autotune;
    double autotune_budget_s;
    /* Informational messages (which kernels are used, tuning progress): called with a
     * NUL-terminated line, on the thread whose call it is about. NULL: stderr when
     * $SPARSEK_VERBOSE is set and not "0", else silent. Errors never go here: they are statuses
     * with sparsek_last_error. */
    void (*log)(void *user, const char *message);
    void *log_user;
} sparsek_runtime_options;

/* Fills `opts` with the defaults. */
SPARSEK_API void sparsek_runtime_options_init(sparsek_runtime_options *opts);

/*
 * Creates a runtime. Succeeds on a machine without a GPU: generation and compilation for a
 * named arch still work, and calls that need the device return SPARSEK_NO_DEVICE.
 * `opts` may be NULL (defaults). On failure *out is NULL and, where possible, `errbuf`
 * (may be NULL) receives the message.
 */
SPARSEK_API sparsek_status sparsek_runtime_create(sparsek_runtime **out,
                                                  const sparsek_runtime_options *opts,
                                                  char *errbuf, size_t errbuf_size);
SPARSEK_API void sparsek_runtime_destroy(sparsek_runtime *rt);

/* The message of the latest failed call made by this thread on `rt` ("" if none).
 * Valid until this thread's next call on `rt`. With rt == NULL: a note that the handle is NULL. */
SPARSEK_API const char *sparsek_last_error(const sparsek_runtime *rt);

/* Device facts. Without a GPU, has_device is 0 and arch is "" . */
typedef struct sparsek_device_info {
    int has_device;
    char name[128];
    char arch[16];        /* "sm_90a" on H100: the compile target picked for this device */
    int cc_major, cc_minor;
    int sm_count;
    int max_smem_optin;   /* bytes of shared memory a block may opt into */
    int driver_version;   /* e.g. 13000 */
} sparsek_device_info;

SPARSEK_API sparsek_status sparsek_runtime_device_info(sparsek_runtime *rt, sparsek_device_info *out);

/* ---------------------------------------------------------------------------------------
 * Generation and compilation (CPU only: usable with no GPU).
 * A config is a space-separated list of key=value pairs; keys the family does not know are
 * errors; missing keys take the family's defaults.
 * --------------------------------------------------------------------------------------- */

typedef struct sparsek_kernel_source {
    char *family;          /* "fmha_fwd" */
    char *arch;            /* "sm_90a" */
    char *template_name;   /* "templates/fmha_fwd_sm80.cut" */
    char *config;          /* canonical config: every key, sorted, "k=v k=v" */
    char *kernel_name;     /* the __global__ symbol */
    char *source;          /* CUDA C text, banner first */
    char *grid_rule;       /* "cdiv(sq,64) hq b": x, y, z over the launch variables */
    char *cache_key;       /* 64 hex chars */
    unsigned block[3];
    unsigned cluster[3];
    unsigned dynamic_smem; /* bytes */
} sparsek_kernel_source;

/* Generates the kernel of `family` for `config` and `arch` ("sm_80", "sm_90a", "sm_100a";
 * NULL: the device's arch, or sm_90a without a device). Pure: the same inputs give the same
 * bytes. Free the result with sparsek_kernel_source_free. */
SPARSEK_API sparsek_status sparsek_generate(sparsek_runtime *rt, const char *family,
                                            const char *config, const char *arch,
                                            sparsek_kernel_source **out);
SPARSEK_API void sparsek_kernel_source_free(sparsek_kernel_source *src);

typedef struct sparsek_compiled {
    sparsek_kernel_source *src; /* owned by this struct */
    void *cubin;
    size_t cubin_size;
    char *log;               /* NVRTC log including the ptxas resource report */
    int registers;           /* per thread */
    int spill_stores;        /* bytes */
    int spill_loads;         /* bytes */
    int stack_frame;         /* bytes */
    int static_smem;         /* bytes */
    int from_cache;          /* 1 if the cubin came from the disk cache */
} sparsek_compiled;

/* Generates and compiles to a cubin (using the disk cache unless disabled). No GPU needed.
 * Free with sparsek_compiled_free. */
SPARSEK_API sparsek_status sparsek_compile(sparsek_runtime *rt, const char *family,
                                           const char *config, const char *arch,
                                           sparsek_compiled **out);
SPARSEK_API void sparsek_compiled_free(sparsek_compiled *c);

/* Loads every valid cache entry of `dir` for this device's arch into the runtime (the
 * production path: only the Driver API, never NVRTC). Bad entries are skipped and counted;
 * the call fails only if `dir` cannot be read or nothing could be loaded while something was
 * there. sparsek_runtime_load_stats tells how many entries loaded and how many were rejected
 * (either pointer may be NULL). An entry built by another version of the generator (its
 * generator digest differs) keeps its tuned buckets, but where NVRTC is available its config
 * is compiled afresh at first use and the loaded cubin runs only where NVRTC is not (the
 * runtime says so through its log once per load). */
SPARSEK_API sparsek_status sparsek_runtime_load(sparsek_runtime *rt, const char *dir);
SPARSEK_API sparsek_status sparsek_runtime_load_stats(sparsek_runtime *rt, int *loaded,
                                                      int *rejected);

/* ---------------------------------------------------------------------------------------
 * Dense attention forward.
 *   q: [B, Sq, Hq, D]  k, v: [B, Sk, Hkv, D]  o: [B, Sq, Hq, D]  (any element strides,
 *   head dim contiguous; [B,H,S,D] works through the strides)   lse: [B, Hq, Sq] float32.
 * --------------------------------------------------------------------------------------- */

typedef enum { SPARSEK_FP16 = 0, SPARSEK_BF16 = 1 } sparsek_dtype;

typedef struct sparsek_attention_params {
    const void *q, *k, *v; /* device pointers, 16-byte aligned */
    void *o;               /* device pointer, 16-byte aligned */
    float *lse;            /* optional device pointer [B, Hq, Sq] contiguous, or NULL */
    sparsek_dtype dtype;
    int batch, seqlen_q, seqlen_k, heads_q, heads_kv, head_dim;
    /* Element strides (not bytes) for batch, sequence, head. Multiples of 8. */
    int64_t q_stride[3], k_stride[3], v_stride[3], o_stride[3];
    float scale;           /* softmax scale; 0 means 1/sqrt(head_dim) */
    int causal;            /* bottom-right aligned: row i sees keys <= Sk - Sq + i */
} sparsek_attention_params;

/* Fills strides for the contiguous [B, S, H, D] layout (layout 0) or [B, H, S, D] (layout 1)
 * from the dims already set in `p`. SPARSEK_INVALID_ARGUMENT (no runtime, so no message) when
 * p is NULL, a dim is < 1 or the layout is neither 0 nor 1. */
SPARSEK_API sparsek_status sparsek_attention_params_set_layout(sparsek_attention_params *p,
                                                               int layout);

/* Launches on `stream` (a CUstream; NULL is the legacy default stream). No host synchronisation
 * and no device allocation. The first call for a configuration may compile (then caches).
 * The kernel is the tuned winner of p's shape bucket, else of the nearest tuned bucket, else the
 * heuristic choice: a missing tuning never makes a call fail. */
SPARSEK_API sparsek_status sparsek_attention_forward(sparsek_runtime *rt,
                                                     const sparsek_attention_params *p,
                                                     void *stream);

/* As sparsek_attention_forward, with tile keys chosen by the caller (the tuner, benchmarks):
 * `tile_config` is "key=value ..." over the fmha_fwd tile keys (m, n, warps, stages, layout,
 * minblocks; see README); NULL or "" is the default choice. Problem keys (d, dtype, causal)
 * come from `p` and may not appear in it. */
SPARSEK_API sparsek_status sparsek_attention_forward_with(sparsek_runtime *rt,
                                                          const sparsek_attention_params *p,
                                                          const char *tile_config, void *stream);

/* Float64 reference of dense attention on the host, to check an integration (and our tests'
 * oracle). `p` describes host copies: q, k, v point to host memory of p->dtype with p's dims and
 * strides (p->o and p->lse are ignored). For batch b and query head h, the output rows
 * rows[0..nrows) are written to out[nrows * head_dim] and their natural-log LSE to lse[nrows]
 * (lse may be NULL). A row that sees no key (causal, Sq > Sk) gives zeros and -inf. */
SPARSEK_API sparsek_status sparsek_reference_attention_rows(sparsek_runtime *rt,
                                                            const sparsek_attention_params *p,
                                                            int b, int h, const int *rows, int nrows,
                                                            double *out, double *lse);

/* The config string sparsek_attention_forward would use for `p` (for tooling and tests): the
 * tuned winner of p's shape bucket or of the nearest tuned bucket (README, "Shape buckets"),
 * else the heuristic choice. */
SPARSEK_API sparsek_status sparsek_attention_forward_config(sparsek_runtime *rt,
                                                            const sparsek_attention_params *p,
                                                            char *buf, size_t buf_size);

/* ---------------------------------------------------------------------------------------
 * SparseK sparse attention (Lou et al., arXiv 2406.16747): parameters and the float64 host
 * reference (CPU only).
 * Per query row at key position p: a local window W = [max(0, p-w+1), p] (weight 1) plus the
 * top-k candidates S of C = [0, p-w] by a per-key score u (float32, independent of the query),
 * weighted by the SparseK mask m_j = clamp(u_j - tau, 0, 1), where tau solves
 * sum_{j in C} clamp(u_j - tau, 0, 1) = k. When |C| <= k, S = C with every weight 1.
 * --------------------------------------------------------------------------------------- */

/* Where the mask weight m_j of a selected key goes (window keys always have weight 1). */
typedef enum {
    SPARSEK_WEIGHT_GATE = 0, /* the default (a zeroed struct): log m_j added to the logit */
    SPARSEK_WEIGHT_HARD = 1, /* plain softmax over W and S; m ignored */
    SPARSEK_WEIGHT_KV = 2    /* logit scale * m_j * <q, k_j>, value m_j * v_j */
} sparsek_weight_mode;

typedef struct sparsek_sparse_attention_params {
    /* q, k, v, o, lse, dtype, dims, strides and scale as for dense attention. base.causal is
     * ignored: SparseK is always causal, bottom-right aligned (query row i sits at key
     * position Sk - Sq + i). */
    sparsek_attention_params base;
    /* u: [B, Hkv, Sk] float32, element strides score_stride[0] (batch), score_stride[1]
     * (kv head), the Sk axis contiguous. The G = Hq / Hkv query heads of a group share their
     * KV head's score row, hence its selection. */
    const float *scores;
    int64_t score_stride[2];
    int topk;                   /* k >= 1: candidates kept per query row */
    int window;                 /* w >= 1: local window length (the diagonal included) */
    sparsek_weight_mode weight; /* SPARSEK_WEIGHT_GATE (0) unless you set another */
} sparsek_sparse_attention_params;

/* Float64 host reference of the SparseK selection for one query row at key position `pos`
 * (0 <= pos < seqlen_k) over the score row u[0 .. seqlen_k) (finite float32; only
 * u[0 .. pos-window] are candidates, but every value must be finite).
 * Writes S in selection order (score descending, ties: the larger index first) to
 * selected[0 .. *nselected) (capacity topk) and, when not NULL, the weights m_j to
 * weights[0 .. *nselected), the threshold to *tau and the k-th largest candidate score to *theta.
 *  - |C| > topk: exactly topk keys, weights clamp(u_j - tau, 0, 1) (all in (0, 1]),
 *    theta - 1 <= tau < theta (the largest tau solving the equation: unique where f is not
 *    flat; on a flat stretch the mask is the same for every solution).
 *  - 0 <= |C| <= topk: S = C (possibly empty), every weight 1, *tau = *theta = -INFINITY (the
 *    values for which the formulas give that: every candidate passes u_j >= theta and gets
 *    clamp(u_j - tau, 0, 1) = 1; theta stays non-decreasing in pos). */
SPARSEK_API sparsek_status sparsek_reference_sparsek_select(sparsek_runtime *rt, const float *u, int seqlen_k,
                                                            int pos, int topk, int window, int *selected,
                                                            double *weights, int *nselected, double *tau,
                                                            double *theta);

/* The key set one query tile must gather (the oracle of the selection kernel): for the rows at
 * key positions pos0 .. pos0 + rows - 1 (pos0 may be negative: rows before the first key),
 * every row's selected set S lies inside S(first row with candidates) plus the keys that become
 * candidates within the tile, because scores do not depend on the query (a key that leaves the
 * top-k never returns). keys[] (capacity topk + rows) gets that set in ascending order, at most
 * topk + rows - 1 keys; the window band [pos - window + 1, pos] of each row is not included. */
SPARSEK_API sparsek_status sparsek_reference_sparsek_tile_keys(sparsek_runtime *rt, const float *u, int seqlen_k,
                                                               int pos0, int rows, int topk, int window,
                                                               int *keys, int *nkeys);

/* The SparseK threshold over n candidate scores u[0 .. n) (finite), two ways, for checking
 * one against the other: _sorted is the exact method the reference uses (sort the
 * breakpoints u_j and u_j - 1 of the piecewise-linear f(tau) = sum clamp(u_j - tau, 0, 1) and
 * solve f = topk on the segment where it crosses), _bisect bisects f on [theta - 1, theta] to
 * an interval below 1e-13 (or 200 steps). Both give the largest solution; n <= topk gives
 * -INFINITY (every weight 1), as sparsek_reference_sparsek_select does. */
SPARSEK_API sparsek_status sparsek_reference_sparsek_tau_sorted(sparsek_runtime *rt, const float *u, int n,
                                                                int topk, double *tau);
SPARSEK_API sparsek_status sparsek_reference_sparsek_tau_bisect(sparsek_runtime *rt, const float *u, int n,
                                                                int topk, double *tau);

/* Float64 host reference of SparseK attention, as sparsek_reference_attention_rows is for dense:
 * p->base.q, k, v are host copies of p->base.dtype (fp16/bf16 bit patterns) with p's dims and
 * strides, p->scores a host array (p->base.o, lse and causal are ignored). For batch b and
 * query head h (KV head h / (Hq / Hkv) and its score row), the rows rows[0 .. nrows) give
 * out[nrows * head_dim] and, when lse is not NULL, the natural-log LSE lse[nrows] of the
 * (weighted) logits. A row at position Sk - Sq + i < 0 (Sq > Sk) sees no key: zeros and
 * -INFINITY, as in the dense path. Every argument is checked before anything is written. */
SPARSEK_API sparsek_status sparsek_reference_sparse_attention_rows(sparsek_runtime *rt,
                                                                   const sparsek_sparse_attention_params *p,
                                                                   int b, int h, const int *rows, int nrows,
                                                                   double *out, double *lse);

/* ---------------------------------------------------------------------------------------
 * SparseK sparse attention on the GPU (templates/sparsek_select.lua, sparsek_fwd.lua,
 * sparsek_decode.lua). Three steps on the caller's stream, no host synchronisation and no device
 * allocation: selection (per query row theta, tau; per tile of query rows the gathered key set),
 * then attention over each tile's gathered keys plus its window band (prefill and chunked
 * prefill), or for Sq <= 16 (and short chunks that would not fill the GPU) the decode kernel
 * split across CTAs and an LSE combine.
 * The caller provides device scratch memory of sparsek_sparse_attention_scratch_size bytes.
 * --------------------------------------------------------------------------------------- */

/* The selection record of one query row, as the scratch holds it (rows_offset below). Key j is
 * selected for the row iff j < ncand and (u_j > theta or (u_j == theta and j >= theta_index));
 * its weight is clamp((u_j - theta) - tau_offset, 0, 1): the threshold is tau = theta +
 * tau_offset, kept relative to theta so that float32 holds it precisely for scores of any
 * magnitude. A row with ncand <= topk has theta = -INFINITY and tau_offset = 0 (all weights 1). */
typedef struct sparsek_sparse_row {
    float theta;         /* the k-th largest candidate score */
    float tau_offset;    /* tau - theta, in [-1, 0] */
    int32_t theta_index; /* the index of that k-th key (ties: larger indices first) */
    int32_t ncand;       /* |C| = max(0, pos - window + 1) */
} sparsek_sparse_row;

/* Where things live in the scratch (byte offsets from its start, each 256-byte aligned). */
typedef struct sparsek_sparse_scratch_layout {
    size_t bytes;              /* total size the caller must provide */
    size_t rows_offset;        /* sparsek_sparse_row [B, Hkv, Sq] */
    size_t tile_count_offset;  /* int32 [B, Hkv, ntiles, 8]: entry s is how many of the tile's list
                                  its sub-tile s (query rows [32 s, 32 s + 32) of the tile) walks;
                                  entry 0 is the list's length. Decode (one sub-tile) reads entry 0 only. */
    size_t tile_index_offset;  /* int32 [B, Hkv, ntiles, tile_cap]: the gathered key indices: the
                                  first row's top k and the keys that become candidates later in
                                  the tile, ascending; or where the tile has more than one
                                  sub-tile, by level: the entries sub-tile s needs (those whose
                                  (score, index) reaches its first row's (theta, theta_index);
                                  later rows select among them) are the first count[s], each
                                  level (the last sub-tile that needs an entry) ascending, the
                                  highest level first; a key no row selects is left out */
    size_t tile_score_offset;  /* float [B, Hkv, ntiles, tile_cap]: their scores */
    size_t partial_o_offset;   /* decode: float [B, Hq, Sq, nsplit, D] (0 bytes for prefill) */
    size_t partial_lse_offset; /* decode: float [B, Hq, Sq, nsplit] */
    int tile_rows;             /* query rows per selection tile */
    int ntiles;                /* ceil(Sq / tile_rows) */
    int tile_cap;              /* capacity of one tile's key list (>= min(k, Sk) + tile_rows - 1) */
    int decode;                /* 1: the split-KV decode path (Sq <= 16, or Sq <= 128 when the
                                  prefill kernel would launch fewer than 264 CTAs) */
    int nsplit;                /* decode: CTAs splitting each group's keys */
    /* The split selection (few tiles, long prefixes: select_chunk > 0): the tile prefixes' passes
     * run over select_nchunk chunks of select_chunk keys each, on many CTAs; 0 bytes otherwise.
     * Per tile (index [B, Hkv, ntiles]): */
    size_t select_hist_offset;  /* int32 [.., 2080]: top-digit counts of the prefix's scores (2048),
                                   then the tau list's length, the bin of the prefix's k-th key and
                                   the keys in bins above it; zeroed by each call */
    size_t select_count_offset; /* int32 [.., select_nchunk]: top-list keys per chunk */
    size_t select_top_offset;   /* uint64 [.., select_nchunk * select_chunk]: the top list (keys
                                   that may be in the top k, as score and index), chunk c's ascending
                                   from c * select_chunk */
    size_t select_tau_offset;   /* float [.., select_nchunk * select_chunk]: the tau list (scores
                                   within reach of tau), packed */
    int select_chunk;           /* keys per chunk; 0: the one-kernel selection */
    int select_nchunk;          /* chunks covering the longest tile prefix */
    /* The anchored selection (prefill with long prefixes: select_anchor_tiles > 0): the prefix of
     * every select_anchor_tiles-th tile is summarised once (its top k keys and the scores within
     * reach of tau), and each tile reads its anchor's summary plus the keys after it instead of
     * its whole prefix; 0 bytes otherwise. */
    size_t select_anchor_ready_offset; /* int32 [B, Hkv, select_nanchor]: 1 once a record is
                                          written (zeroed by each call) */
    size_t select_anchor_offset; /* [B, Hkv, select_nanchor] records of select_anchor_stride bytes */
    size_t select_anchor_stride; /* a 32-byte head, min(k, Sk) uint64 keys, then the scores */
    int select_anchor_tiles;     /* selection tiles per anchor; 0: no anchors */
    int select_nanchor;          /* ceil(ntiles / select_anchor_tiles) */
} sparsek_sparse_scratch_layout;

/* Scratch bytes (and the full layout) sparsek_sparse_attention_forward needs for `p`. They depend
 * on the shape only (dims, topk, window), not on pointers. */
SPARSEK_API sparsek_status sparsek_sparse_attention_scratch_size(sparsek_runtime *rt,
                                                                 const sparsek_sparse_attention_params *p,
                                                                 size_t *bytes);
SPARSEK_API sparsek_status sparsek_sparse_attention_scratch_layout(sparsek_runtime *rt,
                                                                   const sparsek_sparse_attention_params *p,
                                                                   sparsek_sparse_scratch_layout *out);

/* SparseK attention forward: p->base.o (and lse when set) from q, k, v and the scores, on
 * `stream` (a CUstream; NULL is the legacy default stream). `scratch` is device memory of at
 * least sparsek_sparse_attention_scratch_size bytes, 16-byte aligned, owned by the caller and
 * not used by anything else until the launches finish (it may be reused by the next call on the
 * same stream). Scores must be finite (not checked on the device). The first call for a
 * configuration may compile (then caches). */
SPARSEK_API sparsek_status sparsek_sparse_attention_forward(sparsek_runtime *rt,
                                                            const sparsek_sparse_attention_params *p,
                                                            void *scratch, size_t scratch_bytes, void *stream);
/* As sparsek_sparse_attention_forward, with tile keys of your choice for the attention kernel
 * the call runs: prefill calls take keys of the sparsek_fwd family (e.g. "path=mma" or
 * "n=128 stages=3"), decode calls (sparsek_sparse_scratch_layout.decode) keys of the
 * sparsek_decode family ("m=64 n=32 stages=4"); NULL or "": the default choice. Prefill passes
 * the problem's group (heads_q / heads_kv) as the sparsek_fwd key `group` itself, so tile keys
 * must not name it (a duplicate key is SPARSEK_INVALID_ARGUMENT); "pack=1" keeps one query head
 * per tile. For benchmarks,
 * the tuner and checking one kernel path on a device whose default is another. */
SPARSEK_API sparsek_status sparsek_sparse_attention_forward_with(sparsek_runtime *rt,
                                                                 const sparsek_sparse_attention_params *p,
                                                                 void *scratch, size_t scratch_bytes,
                                                                 const char *tile_config, void *stream);

/* Only the selection step of sparsek_sparse_attention_forward (q, k, v, o are not needed and may
 * be NULL): fills the rows and tiles of the scratch layout. For checking and for timing. */
SPARSEK_API sparsek_status sparsek_sparse_attention_select(sparsek_runtime *rt,
                                                           const sparsek_sparse_attention_params *p,
                                                           void *scratch, size_t scratch_bytes, void *stream);

/* ---- Decode with a decode state ----
 * A generation loop calls decode once per step, each call seeing the same score row with a few
 * keys more. Scores do not depend on the query, so theta never decreases as the row grows and a
 * key that leaves the top k never returns (../shared/design/SPARSEK.md). A decode state keeps,
 * per batch and KV head, what the next call's selection needs: the top min(k, n) keys of the
 * prefix [0, n) the last call selected from, and its scores above theta - 1 (those that can take
 * part in a later tau). A call then reads the state and the new keys, not the whole score row.
 * The selection is that of sparsek_sparse_attention_forward for the same params: the same keys
 * and theta, tau up to rounding (its sums run over another list in another order).
 *
 * The state is device memory owned by the caller, one per sequence (batch of sequences). Set
 * rebuild = 1 on the first call of a sequence, and whenever the scores of keys it has seen change
 * (a new sequence in the same memory); or zero it (sparsek_sparse_decode_state_reset, or any
 * memset to 0) before such a call. A call whose state does not match (zeroed, another topk,
 * window or max_seqlen_k, or a seqlen_k shorter than the state's) rebuilds it from the whole
 * score row: exact, at the cost of a full selection with one CTA per batch and KV head. */
typedef struct sparsek_sparse_decode_state {
    void *data;       /* device memory, 16-byte aligned, of sparsek_sparse_decode_state_size bytes */
    size_t bytes;     /* its size */
    int max_seqlen_k; /* the longest seqlen_k any call of the sequence will have: with topk, it
                         fixes the layout (the same value on every call) */
    int rebuild;      /* 1 on a sequence's first call: build the state from the whole score row,
                         whatever the memory holds, with the many-CTA selection
                         (sparsek_sparse_attention_forward's for long rows); 0 after it. A 0 on
                         a state that does not match still rebuilds, with one CTA per batch and
                         KV head. */
} sparsek_sparse_decode_state;

/* Bytes of a decode state for p's batch, heads_kv and topk and sequences of at most max_seqlen_k
 * keys: per batch and KV head 64 + 8 * min(topk, max_seqlen_k) + 4 * max_seqlen_k, rounded up to
 * 256. Only those fields of p and its window (>= 1) are read. */
SPARSEK_API sparsek_status sparsek_sparse_decode_state_size(sparsek_runtime *rt,
                                                            const sparsek_sparse_attention_params *p,
                                                            int max_seqlen_k, size_t *bytes);
/* Zeroes a decode state on `stream` (cuMemsetD32Async over state->bytes / 4 words): the next
 * call rebuilds it. */
SPARSEK_API sparsek_status sparsek_sparse_decode_state_reset(sparsek_runtime *rt,
                                                             const sparsek_sparse_decode_state *state,
                                                             void *stream);
/* As sparsek_sparse_attention_forward for a decode step (seqlen_q <= 16), with the selection
 * read from and written back to `state` (above). seqlen_k must not exceed state->max_seqlen_k.
 * Calls on one state must be ordered (one stream, or synchronised). The scratch is the same as
 * sparsek_sparse_attention_forward's for p. */
SPARSEK_API sparsek_status sparsek_sparse_attention_decode(sparsek_runtime *rt,
                                                           const sparsek_sparse_attention_params *p,
                                                           const sparsek_sparse_decode_state *state,
                                                           void *scratch, size_t scratch_bytes, void *stream);

#ifdef __cplusplus
}
#endif
#endif /* SPARSEK_H */
