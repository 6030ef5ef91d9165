/* cli_tune.c — `sparsek-tune tune` (the tuning driver, sk_autotune), `show` (the tuned winners
 * of a cache folder) and `load` (time sparsek_runtime_load of a folder; with --check, run each
 * shape through the runtime's own choice, check it and time it against the tuned time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_tune.h"
#include "sk_autotune.h"
#include "sk_cache.h"
#include "sk_gen.h"
#include "sk_tuned.h"

static void usage_tune(FILE *f, const char *prog) {
    fprintf(f,
            "usage: %s tune [FAMILY ...] [--preset NAME | --shapes FILE] [--budget SECONDS] [--jobs N]\n"
            "                  [--iters N] [--dir CACHE_DIR] [--log PATH] [--json]\n"
            "\n"
            "Tune kernels for the local GPU. For each shape (default: --preset standard, 24 buckets:\n"
            "d 64/128 x fp16/bf16 x full/causal x S 512/2048/8192, 16 heads) the family's candidates\n"
            "(see '%s list') and the heuristic choice are compiled on N parallel workers (default: all\n"
            "cores), each in its own process; then each is checked against the float64 reference (a wrong\n"
            "one never wins and is reported) and timed: median of --iters runs (default 20, at least 10)\n"
            "after warm-up, CUDA events, inputs rotating over buffers larger than twice the L2.\n"
            "Every result is appended to the log as it arrives (default CACHE_DIR/tuning/tune.log), so a\n"
            "killed run resumes where it stopped. The winner of each shape bucket goes into CACHE_DIR\n"
            "(default: the kernel cache) with its median time; candidates' cubins stay in\n"
            "CACHE_DIR/tuning. --budget stops measuring after SECONDS and still writes the winners of the\n"
            "finished buckets. FILE: one shape per line, e.g. 'b=2 h=32 hkv=8 s=4096 d=128 dtype=bf16\n"
            "causal=1' (other keys fix tile keys). Families: %s.\n"
            "Exit status: 0 every bucket tuned, 4 some bucket not tuned (budget, no correct candidate),\n"
            "1 failure (no GPU, unusable folder), 2 bad arguments.\n",
            prog, prog, SK_AUTOTUNE_FAMILIES);
}

static void usage_show(FILE *f, const char *prog) {
    fprintf(f,
            "usage: %s show [CACHE_DIR] [--json]\n"
            "\n"
            "List the tuned winners of CACHE_DIR (default: the kernel cache) per shape bucket: time,\n"
            "config, GPU, toolchain and kernel.\n",
            prog);
}

static void usage_load(FILE *f, const char *prog) {
    fprintf(f,
            "usage: %s load DIR [--check [--preset NAME | --shapes FILE] [--iters N]] [--json]\n"
            "\n"
            "Time sparsek_runtime_load(DIR) in this process (device initialisation timed apart), with\n"
            "the disk cache off. --check then runs every shape of the set through\n"
            "sparsek_attention_forward's own choice (the tuned winner of its bucket, else the nearest,\n"
            "else the heuristic), checks it against the float64 reference and times it, and compares with\n"
            "the tuned time. With SPARSEK_NVRTC_LIBRARY=/nonexistent it proves DIR runs without NVRTC.\n"
            "Exits 1 if the load fails or a check fails.\n",
            prog);
}

static int has_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

static void jstr(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* The text before a JSON value (e.g. `, "gpu": `), then v as a JSON string. */
static void jkv(const char *key, const char *v) {
    printf("%s", key);
    jstr(stdout, v);
}

/* --preset / --shapes into a shape list. */
static int load_shapes(const char *preset, const char *file, sk_tune_shape **shapes, int *n, const char *prog,
                       const char *cmd) {
    sk_err e;
    if (sk_autotune_load_shapes(preset, file, shapes, n, &e)) {
        fprintf(stderr, "%s %s: %s\n", prog, cmd, e.msg);
        return 2;
    }
    return 0;
}

static const char *shape_text(const sk_tune_shape *s, char *buf, size_t n) {
    snprintf(buf, n, "b=%d h=%d hkv=%d sq=%d sk=%d d=%d dtype=%s causal=%d%s%s", s->b, s->h, s->hkv ? s->hkv : s->h,
             s->sq, s->sk, s->d, s->dtype == SPARSEK_BF16 ? "bf16" : "fp16", s->causal, s->tiles[0] ? " " : "",
             s->tiles);
    return buf;
}

/* ---- tune --------------------------------------------------------------------------------- */

typedef struct progress_state {
    int tty;
    const char *prog;
} progress_state;

static void progress(void *user, const sk_autotune_event *ev) {
    progress_state *ps = user;
    const sk_autotune_bucket *b = ev->b;
    if (ps->tty) {
        const int width = 30;
        const double frac = ((double)ev->index + (ev->total ? (double)ev->done / ev->total : 0)) / ev->count;
        const int fill = (int)(frac * width);
        fprintf(stderr, "\r[%.*s%*s] %2d/%d %-40s %3d/%-3d", fill, "##############################", width - fill, "",
                ev->index + 1, ev->count, b->bucket, ev->done, ev->total);
        if (ev->kind == SK_AUTOTUNE_BUCKET_DONE && ev->index + 1 == ev->count) fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    if (ev->kind == SK_AUTOTUNE_COMPILED)
        fprintf(stderr, "%s tune: [%d/%d] %s: %d candidates compiled (%d failed), %d pruned\n", ps->prog, ev->index + 1,
                ev->count, b->bucket, b->candidates, b->compile_failed, b->pruned);
    else if (ev->kind == SK_AUTOTUNE_BUCKET_DONE) {
        if (b->finished)
            fprintf(stderr, "%s tune: [%d/%d] %s: winner %.1f us (heuristic %.1f us), %d measured now\n", ps->prog,
                    ev->index + 1, ev->count, b->bucket, b->winner_us, b->heuristic_us, b->measured_now);
        else
            fprintf(stderr, "%s tune: [%d/%d] %s: no winner: %s\n", ps->prog, ev->index + 1, ev->count, b->bucket,
                    b->note);
    }
}

static void print_report_json(const sk_autotune_report *r, const char *dir, double budget) {
    jkv("{\"gpu\": ", r->gpu);
    jkv(", \"arch\": ", r->arch);
    jkv(", \"toolchain\": ", r->toolchain);
    jkv(", \"cache_dir\": ", dir);
    printf(", \"seconds\": %.3f, \"budget_s\": %g, \"budget_hit\": %s, \"gpu_failed\": %s, \"stop_reason\": ", r->seconds,
           budget, r->budget_hit ? "true" : "false", r->gpu_failed ? "true" : "false");
    jstr(stdout, r->stop_reason);
    printf(", \"finished\": %d, \"skipped\": %d, \"tried\": %d, \"compiled\": %d, \"compile_failed\": %d, "
           "\"measured_now\": %d, \"buckets\": [",
           r->finished, r->skipped, r->tried, r->compiled, r->compile_failed, r->measured_now);
    for (int i = 0; i < r->nbuckets; i++) {
        const sk_autotune_bucket *b = &r->buckets[i];
        char sh[256];
        printf("%s{\"bucket\": ", i ? ", " : "");
        jstr(stdout, b->bucket);
        jkv(", \"shape\": ", shape_text(&b->shape, sh, sizeof sh));
        printf(", \"candidates\": %d, \"pruned\": %d, \"compile_failed\": %d, \"measured_now\": %d, \"ok\": %d, "
               "\"wrong\": %d, \"failed\": %d, \"finished\": %s, \"skipped\": %s, \"winner\": ",
               b->candidates, b->pruned, b->compile_failed, b->measured_now, b->ok, b->wrong, b->failed,
               b->finished ? "true" : "false", b->skipped ? "true" : "false");
        jstr(stdout, b->winner);
        printf(", \"winner_us\": %.3f, \"heuristic\": ", b->winner_us);
        jstr(stdout, b->heuristic);
        printf(", \"heuristic_us\": %.3f, \"speedup\": %.4f, \"wrong_list\": ", b->heuristic_us,
               b->finished && b->heuristic_us > 0 ? b->heuristic_us / b->winner_us : 0.0);
        jstr(stdout, b->wrong_list);
        jkv(", \"note\": ", b->note);
        printf("}");
    }
    printf("]}\n");
}

static void print_report_text(const sk_autotune_report *r, const char *dir) {
    printf("%-42s %11s %11s %7s %5s %5s %6s  %s\n", "bucket", "winner us", "heur. us", "speedup", "tried", "wrong",
           "failed", "winner tiles");
    for (int i = 0; i < r->nbuckets; i++) {
        const sk_autotune_bucket *b = &r->buckets[i];
        char tp[256];
        if (b->finished) {
            printf("%-42s %11.1f ", b->bucket, b->winner_us);
            if (b->heuristic_us > 0) printf("%11.1f %6.2fx", b->heuristic_us, b->heuristic_us / b->winner_us);
            else printf("%11s %7s", "-", "-");
            printf(" %5d %5d %6d  %s%s\n", b->ok + b->wrong + b->failed, b->wrong, b->failed,
                   sk_config_tiles(b->winner, tp, sizeof tp), !strcmp(b->winner, b->heuristic) ? " (= heuristic)" : "");
        } else {
            printf("%-42s %11s %11s %7s %5d %5d %6d  NOT TUNED: %s\n", b->bucket, "-", "-", "-",
                   b->ok + b->wrong + b->failed, b->wrong, b->failed, b->note);
        }
        if (b->wrong) printf("    wrong (never ranked): %s\n", b->wrong_list);
    }
    printf("tuned %d of %d buckets in %.1f s on %s (%s, %s): %d candidates tried (%d measured now), %d compiles "
           "(%d failed); winners in %s\n",
           r->finished, r->nbuckets, r->seconds, r->gpu, r->arch, r->toolchain[0] ? r->toolchain : "?", r->tried,
           r->measured_now, r->compiled, r->compile_failed, dir);
    if (r->skipped) {
        printf("skipped (%s):", r->stop_reason[0] ? r->stop_reason : "not tuned");
        for (int i = 0; i < r->nbuckets; i++)
            if (r->buckets[i].skipped) printf(" %s", r->buckets[i].bucket);
        printf("\n");
    }
}

int sk_cli_tune(int argc, char **argv, const char *prog) {
    if (has_help(argc, argv)) {
        usage_tune(stdout, prog);
        return 0;
    }
    const char *preset = NULL, *file = NULL, *dir_opt = NULL, *log = NULL, *family = NULL;
    double budget = 0;
    int jobs = 0, iters = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(a, "--preset") && more) preset = argv[++i];
        else if (!strcmp(a, "--shapes") && more) file = argv[++i];
        else if (!strcmp(a, "--dir") && more) dir_opt = argv[++i];
        else if (!strcmp(a, "--log") && more) log = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--budget") && more) {
            budget = strtod(argv[++i], &end);
            if (!*argv[i] || *end || !(budget > 0) || !isfinite(budget)) {
                fprintf(stderr, "%s tune: --budget wants a number of seconds > 0, got '%s'\n", prog, argv[i]);
                return 2;
            }
        } else if ((!strcmp(a, "--jobs") || !strcmp(a, "--iters")) && more) {
            long v = strtol(argv[++i], &end, 10);
            const int is_iters = a[2] == 'i';
            if (!*argv[i] || *end || v < (is_iters ? 10 : 1) || v > 100000) {
                fprintf(stderr, "%s tune: %s wants an integer >= %d, got '%s'\n", prog, a, is_iters ? 10 : 1, argv[i]);
                return 2;
            }
            *(is_iters ? &iters : &jobs) = (int)v;
        } else if (a[0] != '-' && !strchr(a, '=')) {
            if (strstr(" " SK_AUTOTUNE_FAMILIES " ", a) == NULL || family) {
                fprintf(stderr, "%s tune: no tuner for family '%s' (tunable: %s)\n", prog, a, SK_AUTOTUNE_FAMILIES);
                return 2;
            }
            family = a;
        } else {
            fprintf(stderr, "%s tune: unknown or incomplete argument '%s'\n", prog, a);
            usage_tune(stderr, prog);
            return 2;
        }
    }
    if (preset && file) {
        fprintf(stderr, "%s tune: give --preset or --shapes, not both\n", prog);
        return 2;
    }
    sk_tune_shape *shapes = NULL;
    int n = 0;
    int rc = load_shapes(preset, file, &shapes, &n, prog, "tune");
    if (rc) return rc;
    sk_err e;
    char *dir = NULL;
    if (sk_cache_dir_resolve(dir_opt, &dir, &e)) {
        fprintf(stderr, "%s tune: %s\n", prog, e.msg);
        free(shapes);
        return 1;
    }
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.disable_disk_cache = 1; /* this runtime only finds the device; the driver has its own */
    ro.autotune = -1;
    sparsek_runtime *rt = NULL;
    char msg[512];
    if (sparsek_runtime_create(&rt, &ro, msg, sizeof msg)) {
        fprintf(stderr, "%s tune: %s\n", prog, msg);
        free(shapes);
        free(dir);
        return 1;
    }
    progress_state ps = {isatty(2), prog};
    sk_autotune_options o;
    sk_autotune_options_init(&o);
    o.family = family;
    o.shapes = shapes;
    o.nshapes = n;
    o.cache_dir = dir;
    o.log_path = log;
    o.budget_s = budget;
    o.jobs = jobs;
    o.iters = iters;
    o.progress = progress;
    o.user = &ps;
    sk_autotune_report r;
    sparsek_status st = sk_autotune_run(rt, &o, &r, &e);
    if (st) {
        fprintf(stderr, "%s tune: %s: %s\n", prog, sparsek_status_name(st), e.msg);
        rc = 1;
    } else {
        if (json) print_report_json(&r, dir, budget);
        else print_report_text(&r, dir);
        rc = r.finished == r.nbuckets ? 0 : 4;
    }
    sk_autotune_report_free(&r);
    sparsek_runtime_destroy(rt);
    free(shapes);
    free(dir);
    return rc;
}

/* ---- show --------------------------------------------------------------------------------- */

typedef struct show_row {
    sk_tuned_win w;
    char *config, *gpu, *toolchain, *kernel, *arch;
} show_row;

static int cmp_row(const void *a, const void *b) {
    return strcmp(((const show_row *)a)->w.bucket, ((const show_row *)b)->w.bucket);
}

int sk_cli_show(int argc, char **argv, const char *prog) {
    if (has_help(argc, argv)) {
        usage_show(stdout, prog);
        return 0;
    }
    const char *dir_opt = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] != '-' && !dir_opt) dir_opt = argv[i];
        else {
            fprintf(stderr, "%s show: unknown argument '%s'\n", prog, argv[i]);
            usage_show(stderr, prog);
            return 2;
        }
    }
    sk_err e;
    char *dir = NULL;
    char **paths = NULL;
    int n = 0;
    if (sk_cache_dir_resolve(dir_opt, &dir, &e) || sk_cache_list(dir, &paths, &n, &e)) {
        fprintf(stderr, "%s show: %s\n", prog, e.msg);
        free(dir);
        return 1;
    }
    /* Entries another generator version wrote: a runtime with NVRTC recompiles their configs. */
    sk_gen *gen = NULL;
    char digest[80] = "";
    if (sk_gen_open(&gen, NULL, &e) == SPARSEK_OK) snprintf(digest, sizeof digest, "%s", sk_gen_digest(gen));
    sk_gen_close(gen);
    show_row *rows = NULL;
    int nrows = 0, cap = 0, entries = 0, bad = 0, stale = 0;
    sk_tuned_win *w = malloc(SK_TUNED_MAX * sizeof *w);
    for (int i = 0; i < n && w; i++) {
        sk_cache_entry ent;
        if (sk_cache_read(paths[i], &ent, &e) != SPARSEK_OK) {
            bad++;
        } else if (ent.bucket && ent.bucket[0]) {
            const int k = sk_tuned_parse(ent.bucket, ent.time_us, w, SK_TUNED_MAX);
            if (k < 0) bad++;
            else entries++;
            if (k >= 0 && digest[0] && strcmp(ent.gen_digest, digest)) stale++;
            for (int j = 0; j < k; j++) {
                if (nrows == cap) {
                    cap = cap ? 2 * cap : 32;
                    show_row *m = realloc(rows, (size_t)cap * sizeof *m);
                    if (!m) break;
                    rows = m;
                }
                show_row *r = &rows[nrows++];
                r->w = w[j];
                r->config = sk_strdup(ent.config);
                r->gpu = sk_strdup(ent.gpu);
                r->toolchain = sk_strdup(ent.toolchain);
                r->kernel = sk_strdup(ent.kernel_name);
                r->arch = sk_strdup(ent.arch);
            }
        }
        sk_cache_entry_clear(&ent);
        free(paths[i]);
    }
    free(paths);
    free(w);
    if (nrows) qsort(rows, (size_t)nrows, sizeof *rows, cmp_row);
    if (json) {
        jkv("{\"dir\": ", dir);
        printf(", \"winners\": [");
    } else {
        printf("tuned winners in %s: %d bucket%s in %d entr%s%s\n", dir, nrows, nrows == 1 ? "" : "s", entries,
               entries == 1 ? "y" : "ies", bad ? " (some entries unreadable: see 'cache verify')" : "");
        if (stale)
            printf("%d of %d entries were built by another generator version: a runtime with NVRTC compiles their "
                   "configs afresh, without NVRTC their cubins run as built (regenerate the folder)\n",
                   stale, entries);
        if (nrows) printf("%-42s %11s  %-28s %-12s  %s\n", "bucket", "time us", "gpu", "toolchain", "tiles");
    }
    for (int i = 0; i < nrows; i++) {
        show_row *r = &rows[i];
        char tp[256];
        if (json) {
            printf("%s{\"bucket\": ", i ? ", " : "");
            jstr(stdout, r->w.bucket);
            printf(", \"time_us\": %.3f, \"config\": ", r->w.us);
            jstr(stdout, r->config);
            jkv(", \"gpu\": ", r->gpu);
            jkv(", \"arch\": ", r->arch);
            jkv(", \"toolchain\": ", r->toolchain);
            jkv(", \"kernel\": ", r->kernel);
            printf("}");
        } else {
            printf("%-42s %11.1f  %-28s %-12s  %s\n", r->w.bucket, r->w.us, r->gpu, r->toolchain,
                   sk_config_tiles(r->config, tp, sizeof tp));
        }
        free(r->config); free(r->gpu); free(r->toolchain); free(r->kernel); free(r->arch);
    }
    if (json) printf("], \"buckets\": %d, \"entries\": %d, \"bad\": %d, \"stale\": %d}\n", nrows, entries, bad, stale);
    free(rows);
    free(dir);
    return 0;
}

/* ---- load --------------------------------------------------------------------------------- */

int sk_cli_load(int argc, char **argv, const char *prog) {
    if (has_help(argc, argv)) {
        usage_load(stdout, prog);
        return 0;
    }
    const char *dir = NULL, *preset = NULL, *file = NULL;
    int check = 0, json = 0, iters = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--check")) check = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!strcmp(a, "--shapes") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(a, "--iters") && i + 1 < argc) {
            iters = atoi(argv[++i]);
            if (iters < 10) {
                fprintf(stderr, "%s load: --iters wants an integer >= 10\n", prog);
                return 2;
            }
        } else if (a[0] != '-' && !dir) dir = a;
        else {
            fprintf(stderr, "%s load: unknown argument '%s'\n", prog, a);
            usage_load(stderr, prog);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "%s load: missing DIR\n", prog);
        usage_load(stderr, prog);
        return 2;
    }
    sk_tune_shape *shapes = NULL;
    int n = 0, rc = 0;
    if (check && (rc = load_shapes(preset, file, &shapes, &n, prog, "load"))) return rc;
    sparsek_runtime_options ro;
    sparsek_runtime_options_init(&ro);
    ro.disable_disk_cache = 1; /* only DIR counts */
    ro.autotune = -1;
    sparsek_runtime *rt = NULL;
    char msg[512];
    if (sparsek_runtime_create(&rt, &ro, msg, sizeof msg)) {
        fprintf(stderr, "%s load: %s\n", prog, msg);
        free(shapes);
        return 1;
    }
    const double t0 = sk_now_s();
    sparsek_device_info info;
    if (sparsek_runtime_device_info(rt, &info) || !info.has_device) {
        fprintf(stderr, "%s load: no GPU: %s\n", prog, rt->cuda_err.msg[0] ? rt->cuda_err.msg : sparsek_last_error(rt));
        sparsek_runtime_destroy(rt);
        free(shapes);
        return 1;
    }
    const double t1 = sk_now_s();
    sparsek_status st = sparsek_runtime_load(rt, dir);
    const double t2 = sk_now_s();
    int loaded = 0, rejected = 0;
    sparsek_runtime_load_stats(rt, &loaded, &rejected);
    if (json) {
        jkv("{\"dir\": ", dir);
        jkv(", \"device\": ", info.name);
        printf(", \"status\": \"%s\", \"device_init_ms\": %.3f, \"load_ms\": %.3f, \"loaded\": %d, \"rejected\": %d, "
               "\"tuned_buckets\": %d",
               sparsek_status_name(st), 1e3 * (t1 - t0), 1e3 * (t2 - t1), loaded, rejected, sk_rt_tuned_count(rt, 0));
    } else {
        printf("device init  %.1f ms (%s)\n", 1e3 * (t1 - t0), info.name);
        printf("load         %.1f ms: sparsek_runtime_load(%s) = %s, %d loaded, %d rejected, %d tuned buckets\n",
               1e3 * (t2 - t1), dir, sparsek_status_name(st), loaded, rejected, sk_rt_tuned_count(rt, 0));
    }
    if (st) {
        if (json) printf("}\n");
        fprintf(stderr, "%s load: %s\n", prog, sparsek_last_error(rt));
        sparsek_runtime_destroy(rt);
        free(shapes);
        return 1;
    }
    int fails = 0;
    double worst = 0;
    if (json && check) printf(", \"checks\": [");
    if (!json && check)
        printf("%-42s %-42s %10s %10s %8s  %s\n", "shape bucket", "kernel used (tuned bucket)", "now us", "tuned us",
               "spread", "result");
    for (int i = 0; check && i < n; i++) {
        sparsek_attention_params p;
        sk_tune_shape_params(&shapes[i], &p);
        sk_bucket b;
        char bucket[96], used[96] = "", cfg[512] = "";
        sk_bucket_of(info.arch, &p, &b);
        sk_bucket_format(&b, bucket, sizeof bucket);
        double tuned_us = 0;
        const int tuned = sk_rt_tuned_config(rt, "fmha_fwd", &p, cfg, sizeof cfg, used, sizeof used, &tuned_us);
        sk_fmha_bench *fb = NULL;
        sk_err e;
        sk_tune_result r;
        memset(&r, 0, sizeof r);
        if (sk_fmha_bench_open(rt, &shapes[i], iters, 5, &fb, &e)) {
            r.status = SK_TUNE_FAILED;
            snprintf(r.note, sizeof r.note, "%.250s", e.msg);
        } else {
            sk_fmha_bench_measure(fb, NULL, &r);
        }
        sk_fmha_bench_close(fb);
        const double spread = tuned && r.status == SK_TUNE_OK && tuned_us > 0 ? r.median_us / tuned_us - 1 : NAN;
        if (r.status != SK_TUNE_OK) fails++;
        if (isfinite(spread) && fabs(spread) > worst) worst = fabs(spread);
        const char *res = r.status == SK_TUNE_OK ? "ok" : r.status == SK_TUNE_WRONG ? "WRONG" : "FAILED";
        if (json) {
            printf("%s{\"bucket\": ", i ? ", " : "");
            jstr(stdout, bucket);
            jkv(", \"tuned_bucket\": ", tuned ? used : "");
            jkv(", \"config\": ", tuned ? cfg : "heuristic");
            printf(", \"result\": \"%s\", \"rel_err\": %.3g, \"median_us\": %.3f, \"tuned_us\": %.3f, \"spread\": %.4f, "
                   "\"note\": ",
                   res, r.rel_err, r.median_us, tuned_us, isfinite(spread) ? spread : 0.0);
            jstr(stdout, r.note);
            printf("}");
        } else {
            printf("%-42s %-42s %10.1f %10.1f %7.1f%%  %s%s%s\n", bucket, tuned ? used : "(heuristic)", r.median_us,
                   tuned_us, isfinite(spread) ? 100 * spread : 0.0, res, r.status == SK_TUNE_OK ? "" : ": ",
                   r.status == SK_TUNE_OK ? "" : r.note);
        }
    }
    if (json) printf("%s, \"check_failures\": %d, \"worst_spread\": %.4f}\n", check ? "]" : "", fails, worst);
    else if (check)
        printf("checked %d shape(s): %d failed; worst re-time spread vs the tuned time %.1f%%\n", n, fails, 100 * worst);
    sparsek_runtime_destroy(rt);
    free(shapes);
    return fails ? 1 : 0;
}
