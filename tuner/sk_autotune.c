/* sk_autotune.c — the tuning driver (see sk_autotune.h). */
#include "sk_autotune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sk_cache.h"
#include "sk_tuned.h"


void sk_autotune_options_init(sk_autotune_options *o) {
    memset(o, 0, sizeof *o);
}

void sk_autotune_report_free(sk_autotune_report *r) {
    if (!r) return;
    free(r->buckets);
    r->buckets = NULL;
    r->nbuckets = 0;
}

/* ---- shape sets --------------------------------------------------------------------------- */

static sparsek_status push_shape(sk_tune_shape **v, int *n, int *cap, const sk_tune_shape *s, sk_err *err) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 32;
        sk_tune_shape *m = realloc(*v, (size_t)c * sizeof *m);
        if (!m) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
        *v = m;
        *cap = c;
    }
    (*v)[(*n)++] = *s;
    return SPARSEK_OK;
}

sparsek_status sk_autotune_preset(const char *name, sk_tune_shape **out, int *n, sk_err *err) {
    if (!name || !out || !n) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_autotune_preset: NULL argument");
    *out = NULL;
    *n = 0;
    if (strcmp(name, "standard") != 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "unknown preset '%s' (known: standard)", name);
    /* Grouped by problem (d, dtype, mask): a group's candidates compile once. */
    static const int D[] = {64, 128}, S[][2] = {{512, 8}, {2048, 2}, {8192, 1}};
    int cap = 0;
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 2; t++)
            for (int c = 0; c < 2; c++)
                for (int l = 0; l < 3; l++) {
                    sk_tune_shape s;
                    memset(&s, 0, sizeof s);
                    s.d = D[d];
                    s.dtype = t ? SPARSEK_BF16 : SPARSEK_FP16;
                    s.causal = c;
                    s.sq = s.sk = S[l][0];
                    s.b = S[l][1];
                    s.h = s.hkv = 16;
                    sparsek_status st = push_shape(out, n, &cap, &s, err);
                    if (st) {
                        free(*out);
                        *out = NULL;
                        *n = 0;
                        return st;
                    }
                }
    return SPARSEK_OK;
}

static int parse_pos(const char *v, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 1 || x > (1L << 30)) return -1;
    *out = (int)x;
    return 0;
}

/* One line of a shapes file into s; 0, or -1 with err set. */
static int parse_shape_line(char *line, int lineno, sk_tune_shape *s, sk_err *err) {
    memset(s, 0, sizeof s[0]);
    s->b = 1; s->h = 16; s->d = 128; s->dtype = SPARSEK_BF16;
    int have_len = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            sk_fail(err, SPARSEK_INVALID_ARGUMENT, "shapes line %d: expected key=value, got '%s'", lineno, tok);
            return -1;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        int *ip = !strcmp(k, "b") ? &s->b : !strcmp(k, "h") ? &s->h : !strcmp(k, "hkv") ? &s->hkv
                : !strcmp(k, "sq") ? &s->sq : !strcmp(k, "sk") ? &s->sk : !strcmp(k, "d") ? &s->d : NULL;
        int bad = 0;
        if (ip) {
            bad = parse_pos(v, ip);
            have_len |= ip == &s->sq ? 1 : ip == &s->sk ? 2 : 0;
        } else if (!strcmp(k, "s")) {
            bad = parse_pos(v, &s->sq);
            s->sk = s->sq;
            have_len = 3;
        } else if (!strcmp(k, "dtype")) {
            if (!strcmp(v, "bf16")) s->dtype = SPARSEK_BF16;
            else if (!strcmp(v, "fp16")) s->dtype = SPARSEK_FP16;
            else bad = 1;
        } else if (!strcmp(k, "causal")) {
            bad = strcmp(v, "0") && strcmp(v, "1");
            s->causal = !strcmp(v, "1");
        } else {
            const size_t used = strlen(s->tiles);
            if (used + strlen(k) + strlen(v) + 3 > sizeof s->tiles) {
                sk_fail(err, SPARSEK_INVALID_ARGUMENT, "shapes line %d: too many tile keys", lineno);
                return -1;
            }
            snprintf(s->tiles + used, sizeof s->tiles - used, "%s%s=%s", used ? " " : "", k, v);
        }
        if (bad) {
            sk_fail(err, SPARSEK_INVALID_ARGUMENT, "shapes line %d: bad value '%s' for %s", lineno, v, k);
            return -1;
        }
    }
    if (have_len != 3) {
        sk_fail(err, SPARSEK_INVALID_ARGUMENT, "shapes line %d: give the sequence lengths (s=, or sq= and sk=)", lineno);
        return -1;
    }
    if (!s->hkv) s->hkv = s->h;
    if (s->h % s->hkv) {
        sk_fail(err, SPARSEK_INVALID_ARGUMENT, "shapes line %d: h=%d is not a multiple of hkv=%d", lineno, s->h, s->hkv);
        return -1;
    }
    return 0;
}

sparsek_status sk_autotune_parse_shapes(const char *text, sk_tune_shape **out, int *n, sk_err *err) {
    if (!text || !out || !n) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_autotune_parse_shapes: NULL argument");
    *out = NULL;
    *n = 0;
    char *copy = sk_strdup(text);
    if (!copy) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    int cap = 0, lineno = 0;
    sparsek_status st = SPARSEK_OK;
    for (char *p = copy; p && !st;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        if (strspn(p, " \t\r") != strlen(p)) {
            sk_tune_shape s;
            if (parse_shape_line(p, lineno, &s, err)) st = SPARSEK_INVALID_ARGUMENT;
            else st = push_shape(out, n, &cap, &s, err);
        }
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
    if (!st && *n == 0) st = sk_fail(err, SPARSEK_INVALID_ARGUMENT, "no shapes given (one 'key=value ...' line per shape)");
    if (st) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

sparsek_status sk_autotune_load_shapes(const char *preset, const char *file, sk_tune_shape **out, int *n,
                                       sk_err *err) {
    if (!file) return sk_autotune_preset(preset ? preset : "standard", out, n, err);
    char *text = NULL;
    size_t size;
    sparsek_status st = sk_read_file(file, &text, &size, err);
    if (!st) st = sk_autotune_parse_shapes(text, out, n, err);
    free(text);
    return st;
}

/* ---- winners into the cache --------------------------------------------------------------- */

/* Replaces e's bucket field by w[0..n), with gpu. */
static sparsek_status set_buckets(sk_cache_entry *e, const sk_tuned_win *w, int n, const char *gpu, sk_err *err) {
    double t;
    char *field = sk_tuned_format(w, n, &t);
    char *g = sk_strdup(n ? gpu : "");
    if (!field || !g) {
        free(field);
        free(g);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    free(e->bucket);
    free(e->gpu);
    e->bucket = field;
    e->gpu = g;
    e->time_us = t;
    return SPARSEK_OK;
}

sparsek_status sk_autotune_write_winner(const char *from_dir, const char *to_dir, const char *key, const char *arch,
                                        const char *bucket, double us, const char *gpu, sk_err *err) {
    if (!from_dir || !to_dir || !key || !arch || !bucket || !gpu || !(us > 0) || !isfinite(us))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_autotune_write_winner: NULL or invalid argument");
    sk_tuned_win *w = malloc(SK_TUNED_MAX * sizeof *w);
    if (!w) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    sk_cache_entry e;
    sparsek_status st = sk_cache_lookup(from_dir, key, arch, &e, err);
    if (st) {
        free(w);
        sk_err_prefix(err, "the winner of %s", bucket);
        return st;
    }
    int n;
    /* The bucket has one winner: take it off every other entry; keep what this one won. */
    char **paths = NULL;
    int np = 0;
    st = sk_cache_list(to_dir, &paths, &np, err);
    for (int i = 0; i < np && !st; i++) {
        sk_cache_entry o;
        sk_err ignore;
        if (sk_cache_read(paths[i], &o, &ignore) == SPARSEK_OK && o.bucket && o.bucket[0]) {
            const int k = sk_tuned_parse(o.bucket, o.time_us, w, SK_TUNED_MAX);
            if (strcmp(o.key, key) != 0 && k > 0) {
                const int left = sk_tuned_remove(w, k, bucket);
                if (left != k && !(st = set_buckets(&o, w, left, o.gpu, err))) st = sk_cache_store(to_dir, &o, err);
            }
        }
        sk_cache_entry_clear(&o);
    }
    for (int i = 0; i < np; i++) free(paths[i]);
    free(paths);
    if (!st) {
        /* Re-read this entry's own list (w was reused above). */
        char *name = sk_asprintf("%s/%s.skc", to_dir, key);
        sk_cache_entry mine;
        memset(&mine, 0, sizeof mine);
        sk_err ignore;
        n = 0;
        if (name && sk_cache_read(name, &mine, &ignore) == SPARSEK_OK) {
            const int k = sk_tuned_parse(mine.bucket, mine.time_us, w, SK_TUNED_MAX);
            n = k > 0 ? k : 0;
        }
        sk_cache_entry_clear(&mine);
        free(name);
        if (n >= SK_TUNED_MAX) n = SK_TUNED_MAX - 1;
        n = sk_tuned_set(w, n, bucket, us);
        st = set_buckets(&e, w, n, gpu, err);
        if (!st) st = sk_cache_store(to_dir, &e, err);
    }
    sk_cache_entry_clear(&e);
    free(w);
    return st;
}

sparsek_status sk_autotune_store_winner_entry(const sk_cache_entry *e, const char *to_dir, sk_err *err) {
    if (!e || !to_dir) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_autotune_store_winner_entry: NULL argument");
    sk_tuned_win *w = malloc(SK_TUNED_MAX * sizeof *w);
    if (!w) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    const int n = sk_tuned_parse(e->bucket, e->time_us, w, SK_TUNED_MAX);
    int timed = n > 0;
    for (int i = 0; i < n; i++) timed &= w[i].us > 0;
    sparsek_status st = timed ? SPARSEK_OK
                              : sk_fail(err, SPARSEK_CACHE_CORRUPT, "entry %.16s lists no valid tuned bucket and time",
                                        e->key);
    /* Stored as it is first (what it already won in to_dir is merged back by write_winner
     * below, which reads the stored copy: so read that list before overwriting it). */
    sk_tuned_win *old = st ? NULL : malloc(SK_TUNED_MAX * sizeof *old);
    int nold = 0;
    if (!st && !old) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    if (!st) {
        char *path = sk_asprintf("%s/%s.skc", to_dir, e->key);
        sk_cache_entry mine;
        memset(&mine, 0, sizeof mine);
        sk_err ignore;
        if (path && sk_cache_read(path, &mine, &ignore) == SPARSEK_OK) {
            const int k = sk_tuned_parse(mine.bucket, mine.time_us, old, SK_TUNED_MAX);
            nold = k > 0 ? k : 0;
        }
        sk_cache_entry_clear(&mine);
        free(path);
        st = sk_cache_store(to_dir, e, err);
    }
    for (int i = 0; i < nold && !st; i++) {
        int listed = 0;
        for (int j = 0; j < n && !listed; j++) listed = !strcmp(w[j].bucket, old[i].bucket);
        if (!listed) st = sk_autotune_write_winner(to_dir, to_dir, e->key, e->arch, old[i].bucket, old[i].us, e->gpu, err);
    }
    for (int i = 0; i < n && !st; i++)
        st = sk_autotune_write_winner(to_dir, to_dir, e->key, e->arch, w[i].bucket, w[i].us, e->gpu, err);
    free(old);
    free(w);
    return st;
}

/* ---- families ---------------------------------------------------------------------------- */

/* What the driver needs of a family: the bucket, problem and heuristic configs of a shape, the
 * kernel paths to search, and how to check and time a config on the GPU. Tuning another family
 * (the SparseK ones) is one more row here and its measurement module (like sk_tune_fmha.c). */
typedef struct family_ops {
    const char *name;
    const char *path_key;      /* a shape fixing this key searches its own path only */
    const char *const *paths;  /* config suffixes searched beside the family's `auto` path */
    int npaths;
    void (*bucket)(const char *arch, const sk_tune_shape *s, char *out, size_t n);
    void (*problem)(const sk_tune_shape *s, int with_tiles, char *out, size_t n);
    sparsek_status (*heuristic)(sparsek_runtime *rt, const sk_tune_shape *s, char *out, size_t n, sk_err *err);
    sparsek_status (*open)(sparsek_runtime *rt, const sk_tune_shape *s, int iters, int warmup, void **bench,
                           sk_err *err);
    void (*measure)(void *bench, const char *config, sk_tune_result *r);
    int (*fatal)(const void *bench);
    void (*close)(void *bench);
} family_ops;

static void fmha_bucket(const char *arch, const sk_tune_shape *s, char *out, size_t n) {
    sparsek_attention_params p;
    sk_tune_shape_params(s, &p);
    sk_bucket b;
    sk_bucket_of(arch, &p, &b);
    if (sk_bucket_format(&b, out, n)) out[0] = 0;
}

static void fmha_problem(const sk_tune_shape *s, int with_tiles, char *out, size_t n) {
    snprintf(out, n, "d=%d dtype=%s causal=%d%s%s", s->d, s->dtype == SPARSEK_BF16 ? "bf16" : "fp16",
             s->causal, with_tiles && s->tiles[0] ? " " : "", with_tiles ? s->tiles : "");
}

/* What an untuned call of this shape would run (the shape hint needs the device). */
static sparsek_status fmha_heuristic(sparsek_runtime *rt, const sk_tune_shape *s, char *out, size_t n, sk_err *err) {
    sparsek_attention_params p;
    sk_tune_shape_params(s, &p);
    p.q = p.k = p.v = p.o = (void *)(uintptr_t)256; /* checked for alignment only */
    return sk_fmha_heuristic_config(rt, &p, out, n, err);
}

static sparsek_status fmha_open(sparsek_runtime *rt, const sk_tune_shape *s, int iters, int warmup, void **bench,
                                sk_err *err) {
    sk_fmha_bench *b = NULL;
    sparsek_status st = sk_fmha_bench_open(rt, s, iters, warmup, &b, err);
    *bench = b;
    return st;
}

const char *sk_config_tiles(const char *config, char *out, size_t n) {
    out[0] = 0;
    size_t used = 0;
    char *copy = sk_strdup(config);
    if (!copy) return out;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!strncmp(t, "d=", 2) || !strncmp(t, "dtype=", 6) || !strncmp(t, "causal=", 7)) continue;
        int w = snprintf(out + used, n - used, "%s%s", used ? " " : "", t);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
    free(copy);
    return out;
}

static void fmha_measure(void *bench, const char *config, sk_tune_result *r) {
    char tiles[512];
    sk_config_tiles(config, tiles, sizeof tiles);
    sk_fmha_bench_measure(bench, tiles, r);
}

static int fmha_fatal(const void *bench) { return sk_fmha_bench_fatal(bench); }
static void fmha_close(void *bench) { sk_fmha_bench_close(bench); }

/* fmha_fwd's kernel paths: a shape that does not fix `path` is searched on each of them, not
 * only on the one the family's `auto` picks for the arch (a path the arch or head dim cannot
 * run gives no candidates: the family prunes all of them). */
static const char *const fmha_paths[] = {" path=mma", " path=wgmma"};

static const family_ops families[] = {
    {"fmha_fwd", "path=", fmha_paths, 2, fmha_bucket, fmha_problem, fmha_heuristic, fmha_open, fmha_measure,
     fmha_fatal, fmha_close},
};

static const family_ops *family_of(const char *name) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcmp(families[i].name, name)) return &families[i];
    return NULL;
}

/* ---- the driver --------------------------------------------------------------------------- */

/* Everything one bucket's measure callback needs. */
typedef struct bucket_ctx {
    const sk_autotune_options *o;
    sk_autotune_report *r;
    sk_autotune_bucket *b;
    int index;
    char *const *cands;
    const sk_compile_outcome *outcomes;
    int n, done;
    const family_ops *ops;
    void *bench;
    const char *log_path, *log_key;
    double deadline;
} bucket_ctx;

static void event(bucket_ctx *c, sk_autotune_event_kind kind, const sk_tune_result *res) {
    if (!c->o->progress) return;
    sk_autotune_event ev = {kind, c->index, c->r->nbuckets, c->b, c->done, c->n, res};
    c->o->progress(c->o->user, &ev);
}

static void measure_cb(void *ctx, const char *config, sk_tune_result *res) {
    bucket_ctx *c = ctx;
    int i = 0;
    while (i < c->n && strcmp(c->cands[i], config)) i++;
    if (i < c->n && c->outcomes[i].status != SPARSEK_OK) {
        res->status = SK_TUNE_FAILED;
        snprintf(res->note, sizeof res->note, "compile: %s: %.200s", sparsek_status_name(c->outcomes[i].status),
                 c->outcomes[i].message);
    } else if (c->deadline > 0 && sk_now_s() > c->deadline) {
        res->status = SK_TUNE_SKIPPED;
        c->r->budget_hit = 1;
        return;
    } else if (c->bench && c->ops->fatal(c->bench)) {
        res->status = SK_TUNE_SKIPPED;
        return;
    } else if (c->o->fake_measure) {
        c->o->fake_measure(c->o->fake_ctx, config, res);
    } else {
        /* If this measurement kills the process (a kernel fault can), the resumed run must not
         * measure the candidate again: log it failed first; the real result supersedes it. */
        sk_tune_result pending;
        memset(&pending, 0, sizeof pending);
        snprintf(pending.config, sizeof pending.config, "%s", config);
        pending.status = SK_TUNE_FAILED;
        pending.rel_err = NAN;
        snprintf(pending.note, sizeof pending.note, "the tuning process died while measuring it");
        sk_err ignore;
        (void)sk_tune_log_append(c->log_path, c->log_key, &pending, &ignore);
        c->ops->measure(c->bench, config, res);
        if (c->ops->fatal(c->bench)) {
            c->r->gpu_failed = 1;
            snprintf(c->r->stop_reason, sizeof c->r->stop_reason, "the GPU failed while measuring %s: %s", config,
                     res->note);
        }
    }
    c->b->measured_now++;
    c->done++;
    snprintf(res->config, sizeof res->config, "%s", config);
    event(c, SK_AUTOTUNE_MEASURED, res);
}

static const sk_tune_result *latest(const sk_tune_result *rs, int n, const char *config) {
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(rs[i].config, config)) return &rs[i];
    return NULL;
}

/* Counts what the log holds for the bucket's candidates; finds the heuristic's time. */
static void summarize(bucket_ctx *c) {
    sk_tune_result *rs = NULL;
    int nr = 0;
    sk_err ignore;
    if (sk_tune_log_read(c->log_path, c->log_key, &rs, &nr, &ignore)) return;
    sk_autotune_bucket *b = c->b;
    b->ok = b->wrong = b->failed = 0;
    size_t wl = 0;
    for (int i = 0; i < c->n; i++) {
        const sk_tune_result *x = latest(rs, nr, c->cands[i]);
        if (!x) continue;
        c->r->tried++;
        if (x->status == SK_TUNE_OK) b->ok++;
        else if (x->status == SK_TUNE_WRONG) {
            b->wrong++;
            if (wl < sizeof b->wrong_list - 1) {
                int w = snprintf(b->wrong_list + wl, sizeof b->wrong_list - wl, "%s%s (rel err %.3g)", wl ? "; " : "",
                                 x->config, x->rel_err);
                wl = w > 0 ? wl + (size_t)w : wl;
                if (wl >= sizeof b->wrong_list) wl = sizeof b->wrong_list - 1;
            }
        } else b->failed++;
        if (!strcmp(x->config, b->heuristic) && x->status == SK_TUNE_OK) b->heuristic_us = x->median_us;
    }
    free(rs);
}

/* Candidates of one bucket: the heuristic (first), then the space's valid configs on the
 * `auto` path and every other path of the family (unless the shape fixes it), canonical and
 * distinct. *pruned counts the configs the family's constraints rejected. */
static sparsek_status candidates_for(sk_gen *g, const family_ops *ops, const char *problem, int path_fixed,
                                     const char *heuristic, const char *arch, char ***out, int *n, int *pruned,
                                     sk_err *err) {
    *out = NULL;
    *n = 0;
    *pruned = 0;
    int k = 0, cap = 16;
    char **v = calloc((size_t)cap, sizeof *v);
    sparsek_status st = v ? SPARSEK_OK : sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    if (!st && !(v[k++] = sk_strdup(heuristic))) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    const int npaths = 1 + (path_fixed ? 0 : ops->npaths);
    sk_buf seen_pruned = {0};
    for (int pi = 0; pi < npaths && !st; pi++) {
        char *asked = sk_asprintf("%s%s", problem, pi ? ops->paths[pi - 1] : ""), *text = NULL;
        if (!asked) {
            st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
            break;
        }
        st = sk_gen_candidates(g, ops->name, asked, arch, &text, err);
        free(asked);
        if (st && pi > 0) { /* an extra path the problem does not allow: nothing to add */
            st = SPARSEK_OK;
            continue;
        }
        for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line && !st;
             line = strtok_r(NULL, "\n", &save)) {
            char *cfg = strchr(line, '\t');
            if (!cfg) continue;
            *cfg++ = 0;
            char *tab = strchr(cfg, '\t');
            if (tab) *tab = 0;
            int dup = 0;
            for (int j = 0; j < k && !dup; j++) dup = !strcmp(v[j], cfg);
            if (dup) continue;
            if (strcmp(line, "ok")) {
                /* The same pruned config can come from two paths: count it once. */
                const size_t need = strlen(cfg) + 2;
                if (!seen_pruned.oom && !memmem(seen_pruned.data ? seen_pruned.data : "", seen_pruned.len, cfg, need - 1)) {
                    (*pruned)++;
                    sk_buf_put(&seen_pruned, cfg, need - 1); /* with its NUL as a separator */
                }
                continue;
            }
            if (k == cap) {
                char **m = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                if (!m) {
                    st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
                    break;
                }
                v = m;
            }
            if (!(v[k++] = sk_strdup(cfg))) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
        }
        free(text);
    }
    sk_buf_free(&seen_pruned);
    if (st) {
        for (int i = 0; i < k; i++) free(v[i]);
        free(v);
        return st;
    }
    *out = v;
    *n = k;
    return SPARSEK_OK;
}

/* One bucket: candidates, compiles, measurements, the winner. Returns non-zero to stop. */
static int tune_one(sparsek_runtime *mrt, sk_gen *g, const family_ops *ops, const sk_autotune_options *o,
                    sk_autotune_report *r, int i, const char *work, const char *log_path, double deadline) {
    sk_autotune_bucket *b = &r->buckets[i];
    const char *family = ops->name;
    sk_err e;
    ops->bucket(r->arch, &b->shape, b->bucket, sizeof b->bucket);
    if (deadline > 0 && sk_now_s() > deadline) {
        r->budget_hit = 1;
        return 1;
    }
    /* The heuristic: what an untuned call would run (without a device: the family's `auto`). */
    char hcfg[512], problem[512];
    char *hcanon = NULL;
    sparsek_status st = SPARSEK_OK;
    if (o->fake_measure) ops->problem(&b->shape, 0, hcfg, sizeof hcfg);
    else st = ops->heuristic(mrt, &b->shape, hcfg, sizeof hcfg, &e);
    if (!st) st = sk_gen_normalize(g, family, hcfg, r->arch, &hcanon, &e);
    if (st) {
        snprintf(b->note, sizeof b->note, "heuristic config: %.400s", e.msg);
        return 0;
    }
    snprintf(b->heuristic, sizeof b->heuristic, "%s", hcanon);
    free(hcanon);
    ops->problem(&b->shape, 1, problem, sizeof problem);
    char **cands = NULL;
    int n = 0;
    const int path_fixed = ops->path_key && strstr(b->shape.tiles, ops->path_key) != NULL;
    if ((st = candidates_for(g, ops, problem, path_fixed, b->heuristic, r->arch, &cands, &n, &b->pruned, &e))) {
        snprintf(b->note, sizeof b->note, "candidates: %.400s", e.msg);
        return 0;
    }
    b->candidates = n;
    sk_compile_outcome *oc = calloc((size_t)n, sizeof *oc);
    bucket_ctx c = {o, r, b, i, cands, oc, n, 0, ops, NULL, log_path, NULL, deadline};
    char log_key[256];
    snprintf(log_key, sizeof log_key, "%s on %s gen=%.12s", b->bucket, r->gpu, sk_gen_digest(g));
    c.log_key = log_key;
    int stop = 0;
    if (!oc || sk_tune_compile_all(mrt, family, cands, n, r->arch, o->jobs, oc, &e)) {
        snprintf(b->note, sizeof b->note, "compile: %.400s", oc ? e.msg : "out of memory");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        r->compiled++;
        if (oc[k].status) {
            b->compile_failed++;
            r->compile_failed++;
        }
    }
    event(&c, SK_AUTOTUNE_COMPILED, NULL);
    if (!o->fake_measure &&
        (st = ops->open(mrt, &b->shape, o->iters > 0 ? o->iters : 20, o->warmup > 0 ? o->warmup : 5, &c.bench, &e))) {
        snprintf(b->note, sizeof b->note, "inputs: %.400s", e.msg);
        goto done;
    }
    sk_tune_result w;
    st = sk_tune_bucket(log_path, log_key, cands, n, measure_cb, &c, &w, NULL, &e);
    summarize(&c);
    r->measured_now += b->measured_now;
    if (st == SPARSEK_OK) {
        sparsek_compiled *cc = NULL;
        st = sparsek_compile(mrt, family, w.config, r->arch, &cc);
        if (st) snprintf(e.msg, sizeof e.msg, "%s", sparsek_last_error(mrt));
        else st = sk_autotune_write_winner(work, o->cache_dir, cc->src->cache_key, r->arch, b->bucket, w.median_us,
                                           r->gpu, &e);
        if (!st && !r->toolchain[0]) {
            sk_cache_entry ent;
            memset(&ent, 0, sizeof ent);
            char key[65];
            snprintf(key, sizeof key, "%s", cc->src->cache_key);
            if (sk_cache_lookup(o->cache_dir, key, r->arch, &ent, &e) == SPARSEK_OK)
                snprintf(r->toolchain, sizeof r->toolchain, "%s", ent.toolchain);
            sk_cache_entry_clear(&ent);
        }
        sparsek_compiled_free(cc);
        if (st) snprintf(b->note, sizeof b->note, "writing the winner: %.400s", e.msg);
        else {
            b->finished = 1;
            snprintf(b->winner, sizeof b->winner, "%s", w.config);
            b->winner_us = w.median_us;
        }
    } else if (r->budget_hit || r->gpu_failed) {
        b->skipped = 1;
        snprintf(b->note, sizeof b->note, "%s", r->gpu_failed ? "stopped: the GPU failed" : "stopped: time budget spent");
        stop = 1;
    } else {
        snprintf(b->note, sizeof b->note, "%.500s", e.msg);
    }
done:
    if (r->gpu_failed) stop = 1;
    event(&c, SK_AUTOTUNE_BUCKET_DONE, NULL);
    if (c.bench) ops->close(c.bench);
    for (int k = 0; k < n; k++) free(cands[k]);
    free(cands);
    free(oc);
    return stop;
}

sparsek_status sk_autotune_run(sparsek_runtime *rt, const sk_autotune_options *o, sk_autotune_report *r,
                               sk_err *err) {
    if (r) memset(r, 0, sizeof *r);
    if (!rt || !o || !r || !o->cache_dir || !*o->cache_dir || !o->shapes || o->nshapes < 1)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_autotune_run: runtime, options, report, cache_dir and shapes are required");
    const family_ops *ops = family_of(o->family ? o->family : "fmha_fwd");
    if (!ops)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "no tuner for family '%s' (tunable: %s)", o->family,
                       SK_AUTOTUNE_FAMILIES);
    if (o->iters && o->iters < 10) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "at least 10 timed runs (iters) per candidate");
    const double t0 = sk_now_s();
    sparsek_status st;
    if (o->fake_measure) {
        if (!o->fake_arch || !o->fake_gpu) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "fake_measure needs fake_arch and fake_gpu");
        snprintf(r->arch, sizeof r->arch, "%s", o->fake_arch);
        snprintf(r->gpu, sizeof r->gpu, "%s", o->fake_gpu);
    } else {
        if ((st = sk_rt_device(rt, err))) {
            sk_err_prefix(err, "tuning needs a GPU");
            return st;
        }
        snprintf(r->arch, sizeof r->arch, "%s", rt->info.arch);
        snprintf(r->gpu, sizeof r->gpu, "%s", rt->info.name);
    }
    char *work = o->work_dir ? sk_strdup(o->work_dir) : sk_asprintf("%s/tuning", o->cache_dir);
    char *log = work ? (o->log_path ? sk_strdup(o->log_path) : sk_asprintf("%s/tune.log", work)) : NULL;
    r->buckets = calloc((size_t)o->nshapes, sizeof *r->buckets);
    if (!work || !log || !r->buckets) {
        free(work);
        free(log);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    r->nbuckets = o->nshapes;
    for (int i = 0; i < o->nshapes; i++) r->buckets[i].shape = o->shapes[i];
    st = sk_mkdirs(o->cache_dir, err);
    if (!st) st = sk_mkdirs(work, err);
    if (!st && o->log_path) {
        char *slash = strrchr(log, '/');
        if (slash && slash != log) {
            *slash = 0;
            st = sk_mkdirs(log, err);
            *slash = '/';
        }
    }
    /* Compiles and measurements go through a runtime of their own whose cache is the work
     * folder: isolated compiles, and never a recursive first-run tuning. */
    sparsek_runtime *mrt = NULL;
    sk_gen *g = NULL;
    if (!st) {
        sparsek_runtime_options mo;
        sparsek_runtime_options_init(&mo);
        mo.device = rt->opts.device;
        mo.cache_dir = work;
        mo.isolate_compiles = 1;
        mo.compile_timeout_ms = rt->opts.compile_timeout_ms;
        mo.gen_path = rt->gen_path;
        mo.autotune = -1;
        char msg[512];
        if ((st = sparsek_runtime_create(&mrt, &mo, msg, sizeof msg))) sk_fail(err, st, "%s", msg);
    }
    if (!st) st = sk_gen_open(&g, rt->gen_path, err);
    const double deadline = o->budget_s > 0 ? t0 + o->budget_s : 0;
    int stop = 0;
    for (int i = 0; !st && i < o->nshapes; i++) {
        if (stop) {
            r->buckets[i].skipped = 1;
            ops->bucket(r->arch, &r->buckets[i].shape, r->buckets[i].bucket, sizeof r->buckets[i].bucket);
            snprintf(r->buckets[i].note, sizeof r->buckets[i].note, "%s",
                     r->gpu_failed ? "not tuned: the GPU failed earlier" : "not tuned: time budget spent");
            continue;
        }
        stop = tune_one(mrt, g, ops, o, r, i, work, log, deadline);
        if (stop && !r->buckets[i].finished && !r->buckets[i].skipped) {
            r->buckets[i].skipped = 1;
            snprintf(r->buckets[i].note, sizeof r->buckets[i].note, "not tuned: time budget spent");
        }
    }
    for (int i = 0; i < r->nbuckets; i++) {
        r->finished += r->buckets[i].finished;
        r->skipped += r->buckets[i].skipped;
    }
    if (r->budget_hit && !r->stop_reason[0])
        snprintf(r->stop_reason, sizeof r->stop_reason, "time budget of %g s spent", o->budget_s);
    sk_gen_close(g);
    sparsek_runtime_destroy(mrt);
    free(work);
    free(log);
    r->seconds = sk_now_s() - t0;
    return st;
}

/* ---- first-run tuning --------------------------------------------------------------------- */

static void first_run_progress(void *user, const sk_autotune_event *ev) {
    if (ev->kind != SK_AUTOTUNE_BUCKET_DONE) return;
    sparsek_runtime *rt = user;
    const sk_autotune_bucket *b = ev->b;
    if (b->finished)
        sk_rt_note(rt, "autotune [%d/%d] %s: %.1f us (heuristic %.1f us)", ev->index + 1, ev->count, b->bucket,
                   b->winner_us, b->heuristic_us);
    else
        sk_rt_note(rt, "autotune [%d/%d] %s: no winner (%s)", ev->index + 1, ev->count, b->bucket, b->note);
}

void sk_autotune_first_run(sparsek_runtime *rt) {
    const char *env = getenv("SPARSEK_AUTOTUNE");
    const int asked = rt->opts.autotune > 0 || (rt->opts.autotune == 0 && env && !strcmp(env, "1"));
    if (!asked) return;
    sk_err e;
    if (!rt->cache_dir) {
        sk_rt_note(rt, "autotune: no cache folder to keep the results in; using the heuristic tile choice");
        return;
    }
    if (sk_rt_device(rt, &e) != SPARSEK_OK) {
        sk_rt_note(rt, "autotune: no GPU (%s); nothing to tune", e.msg);
        return;
    }
    sk_rt_tuned_scan(rt, 0, 0);
    if (sk_rt_tuned_count(rt, 1) > 0) return; /* this GPU was tuned before: nothing to do */
    double budget = rt->opts.autotune_budget_s;
    const char *b = getenv("SPARSEK_AUTOTUNE_BUDGET");
    if (!(budget > 0) && b && *b) budget = strtod(b, NULL);
    if (!(budget > 0)) budget = 300;
    sk_tune_shape *shapes = NULL;
    int n = 0;
    const char *file = getenv("SPARSEK_AUTOTUNE_SHAPES");
    sparsek_status st = sk_autotune_load_shapes(NULL, file && *file ? file : NULL, &shapes, &n, &e);
    if (st) {
        sk_rt_note(rt, "autotune: %s; using the heuristic tile choice", e.msg);
        return;
    }
    sk_rt_note(rt, "autotune: no tuned kernels for %s (%s) in %s; tuning %s (%d buckets) within %.0f s", rt->info.name,
               rt->info.arch, rt->cache_dir, file && *file ? file : "the standard shape set", n, budget);
    sk_autotune_options o;
    sk_autotune_options_init(&o);
    o.shapes = shapes;
    o.nshapes = n;
    o.cache_dir = rt->cache_dir;
    o.budget_s = budget;
    o.progress = first_run_progress;
    o.user = rt;
    sk_autotune_report r;
    st = sk_autotune_run(rt, &o, &r, &e);
    if (st) sk_rt_note(rt, "autotune failed: %s; using the heuristic tile choice", e.msg);
    else
        sk_rt_note(rt, "autotune: %d of %d buckets tuned in %.0f s (%d skipped%s%s)", r.finished, r.nbuckets,
                   r.seconds, r.skipped, r.stop_reason[0] ? ": " : "", r.stop_reason);
    sk_autotune_report_free(&r);
    free(shapes);
    sk_rt_tuned_scan(rt, 1, 1);
}
