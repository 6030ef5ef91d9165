/* sk_autotune.h — the tuning driver, shared by `sparsek-tune tune` and first-run tuning.
 *
 * For each shape: its bucket (sk_bucket), the family's candidates for the problem (the Lua
 * `space`, pruned by the family's constraints) plus the heuristic choice, all compiled in
 * parallel isolated workers (sk_tune_compile_all), then each checked against the float64
 * reference and timed on the GPU (sk_tune_fmha), every result appended to the log as it
 * arrives (sk_tune_bucket: a killed run resumes), and the fastest correct one written into
 * the cache folder as a tuned entry (sk_tuned.h) with its median time.
 *
 * Folders: winners go to `cache_dir`; candidates' cubins and the log to `work_dir`
 * (<cache_dir>/tuning by default), so the cache folder holds only what the runtime loads. */
#ifndef SK_AUTOTUNE_H
#define SK_AUTOTUNE_H

#include "sk_tune.h"
#include "sk_tune_fmha.h"

/* Families the driver can tune, space-separated: the rows of the family table in sk_autotune.c
 * (bucket, problem and heuristic configs of a shape, paths to search, GPU measurement). */
#define SK_AUTOTUNE_FAMILIES "fmha_fwd"

typedef struct sk_autotune_bucket {
    char bucket[96];
    sk_tune_shape shape;
    int candidates, pruned;   /* in the search (space plus the heuristic); pruned by constraints */
    int compile_failed;
    int measured_now;         /* by this run; the others came from the log */
    int ok, wrong, failed;    /* over all candidates (the log's latest result of each) */
    int finished;             /* a winner was chosen and written to the cache */
    int skipped;              /* not finished: the budget ran out or the GPU failed */
    char winner[512];
    double winner_us;
    char heuristic[512];
    double heuristic_us;      /* 0 when the heuristic was not measured correct */
    char wrong_list[1024];    /* "config (rel err x); ..." of the wrong candidates, cut short */
    char note[512];           /* why there is no winner */
} sk_autotune_bucket;

typedef enum {
    SK_AUTOTUNE_COMPILED,     /* a bucket's candidates are compiled */
    SK_AUTOTUNE_MEASURED,     /* one candidate measured (result set) */
    SK_AUTOTUNE_BUCKET_DONE   /* a bucket finished or was skipped */
} sk_autotune_event_kind;

typedef struct sk_autotune_event {
    sk_autotune_event_kind kind;
    int index, count;         /* bucket index of count */
    const sk_autotune_bucket *b;
    int done, total;          /* candidates of this bucket measured so far (log included) / all */
    const sk_tune_result *result;
} sk_autotune_event;

typedef struct sk_autotune_options {
    const char *family;       /* NULL: "fmha_fwd" */
    const sk_tune_shape *shapes;
    int nshapes;
    const char *cache_dir;    /* where the winners go; required */
    const char *work_dir;     /* NULL: <cache_dir>/tuning */
    const char *log_path;     /* NULL: <work_dir>/tune.log */
    double budget_s;          /* <= 0: no limit */
    int jobs;                 /* compile workers; 0: all cores */
    int iters, warmup;        /* 0: 20 timed runs (at least 10), 5 warm-up */
    void (*progress)(void *user, const sk_autotune_event *ev);
    void *user;
    /* Tests: measure with this callback instead of a GPU, for a pretend device. */
    sk_tune_measure_fn fake_measure;
    void *fake_ctx;
    const char *fake_arch, *fake_gpu;
} sk_autotune_options;

typedef struct sk_autotune_report {
    char gpu[128], arch[16], toolchain[64];
    sk_autotune_bucket *buckets;
    int nbuckets;
    int finished, skipped;
    int compiled, compile_failed; /* candidate compiles (cache hits included) */
    int measured_now, tried;      /* measurements made now; candidates with a result in all */
    double seconds;
    int budget_hit, gpu_failed;
    char stop_reason[512];
} sk_autotune_report;

SK_HIDDEN void sk_autotune_options_init(sk_autotune_options *o);
/* Runs the tuning. Fails (with the reason) on bad options, without a GPU (unless fake), or when
 * the folders cannot be used; a bucket without a correct candidate, or cut by the budget, is
 * reported in r, not an error. Free r with sk_autotune_report_free, also after a failure. */
SK_HIDDEN sparsek_status sk_autotune_run(sparsek_runtime *rt, const sk_autotune_options *o, sk_autotune_report *r,
                                         sk_err *err);
SK_HIDDEN void sk_autotune_report_free(sk_autotune_report *r);

/* Shape sets. "standard": d {64, 128} x {fp16, bf16} x {full, causal} x
 * (S=512 b=8, S=2048 b=2, S=8192 b=1) with 16 heads (GQA group 1): 24 buckets. */
SK_HIDDEN sparsek_status sk_autotune_preset(const char *name, sk_tune_shape **out, int *n, sk_err *err);
/* One shape per line: key=value over b, h, hkv, s (sq = sk), sq, sk, d, dtype, causal; other
 * keys are tile keys fixed for the search; '#' starts a comment. */
SK_HIDDEN sparsek_status sk_autotune_parse_shapes(const char *text, sk_tune_shape **out, int *n, sk_err *err);
/* The shapes of `file` (sk_autotune_parse_shapes), else of the preset `preset` (NULL: "standard"). */
SK_HIDDEN sparsek_status sk_autotune_load_shapes(const char *preset, const char *file, sk_tune_shape **out, int *n,
                                                 sk_err *err);

/* The tile part of a canonical fmha_fwd config: every key but the problem keys d, dtype and
 * causal (the path included), into out; returns out. */
SK_HIDDEN const char *sk_config_tiles(const char *config, char *out, size_t n);

/* Marks the cache entry `key` (read from from_dir) as the winner of `bucket` with time `us` on
 * `gpu` and stores it in to_dir, merging with the buckets that entry already won there and
 * taking `bucket` off any other entry of to_dir. */
SK_HIDDEN sparsek_status sk_autotune_write_winner(const char *from_dir, const char *to_dir, const char *key,
                                                  const char *arch, const char *bucket, double us, const char *gpu,
                                                  sk_err *err);

/* Stores the tuned entry e in to_dir as the winner of every bucket it lists (with their times):
 * merged with the buckets the same entry already won there, and those buckets taken off any
 * other entry of to_dir (a bucket has one winner). SPARSEK_CACHE_CORRUPT if e lists no valid
 * bucket, or one without a positive time. Used by cache import/export. */
SK_HIDDEN sparsek_status sk_autotune_store_winner_entry(const sk_cache_entry *e, const char *to_dir, sk_err *err);

/* First-run tuning at sparsek_runtime_create (opts.autotune or $SPARSEK_AUTOTUNE=1): tunes the
 * standard set ($SPARSEK_AUTOTUNE_SHAPES: a shapes file instead) when the device has no tuned
 * entry of its own in the cache folder. Never fails; says what it did through sk_rt_note. */
SK_HIDDEN void sk_autotune_first_run(sparsek_runtime *rt);

#endif
