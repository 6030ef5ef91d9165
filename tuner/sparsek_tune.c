/* sparsek_tune.c — the sparsek-tune command line: generate, compile and inspect kernels and
 * the disk cache. Output goes to stdout; errors to stderr with a non-zero exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_bench.h"
#include "cli_tune.h"
#include "sk_runtime.h"
#include "sk_tune.h"
#include "sk_tuned.h"

static const char *prog = "sparsek-tune";

static void usage_main(FILE *f) {
    fprintf(f,
            "usage: %s COMMAND [options]\n"
            "\n"
            "Generate, compile and inspect SparseK attention kernels.\n"
            "\n"
            "commands:\n"
            "  gen FAMILY [key=value ...] [--arch ARCH]            print the generated CUDA source\n"
            "  compile FAMILY [key=value ...] [--arch ARCH] [--json]\n"
            "                                                      compile (no GPU needed) and report resources\n"
            "  bench fmha_fwd [shape and tile keys] [--json]      check, then time a tile config against the default (GPU)\n"
            "  cache ls|verify|clean [--dir DIR] [--json]          inspect, check or empty the kernel cache\n"
            "  list FAMILY [key=value ...] [--arch ARCH] [--all] [--json]\n"
            "                                                      the tuner's candidates (and pruned ones, with reasons)\n"
            "  tune [FAMILY] [--preset standard | --shapes FILE] [--budget S] [--json]\n"
            "                                                      tune on the GPU; winners per shape bucket into the cache\n"
            "  show [CACHE_DIR] [--json]                           the tuned winners per bucket, with times\n"
            "  load DIR [--check] [--json]                         time loading DIR; --check runs and times its winners\n"
            "  families                                            list kernel families and their keys\n"
            "  info                                                describe the GPU and the setup\n"
            "\n"
            "'%s COMMAND --help' describes one command. ARCH is sm_80, sm_86, sm_89, sm_90a, sm_100a, sm_120;\n"
            "by default the local GPU's, or sm_90a without one.\n",
            prog, prog);
}

static void usage_gen(FILE *f) {
    fprintf(f,
            "usage: %s gen FAMILY [key=value ...] [--arch ARCH] [--out FILE]\n"
            "\n"
            "Print the CUDA source generated for FAMILY with the given config (missing keys take\n"
            "their defaults; see '%s families'). The banner names the template, every config value\n"
            "and the cache key. Example: %s gen fmha_fwd d=128 dtype=bf16 causal=1\n",
            prog, prog, prog);
}

static void usage_compile(FILE *f) {
    fprintf(f,
            "usage: %s compile FAMILY [key=value ...] [--arch ARCH] [--json] [--no-isolate] [--timeout MS]\n"
            "\n"
            "Generate and compile with NVRTC to a cubin (no GPU needed) in a child process with a\n"
            "time limit, store it in the kernel cache, and print the kernel symbol, registers,\n"
            "shared memory, spills and cubin size. --no-isolate compiles in this process.\n"
            "Example: %s compile fmha_fwd d=128 dtype=bf16 causal=1 --arch sm_90a\n",
            prog, prog);
}

static void usage_cache(FILE *f) {
    fprintf(f,
            "usage: %s cache ls|verify|clean [--dir DIR] [--json]\n"
            "       %s cache export OUT_DIR [--gpu NAME] [--dir DIR]\n"
            "       %s cache import IN_DIR [--dir DIR]\n"
            "\n"
            "  ls      list the entries (family, arch, kernel, registers, spills, size; tuned winners\n"
            "          with their bucket and time)\n"
            "  verify  check every entry (checksum, lengths, metadata, key); exits 1 if any is bad\n"
            "  clean   remove every entry and leftover temporary file\n"
            "  export  copy the tuned winners (of GPU NAME, default all) to OUT_DIR, checked\n"
            "  import  copy the tuned winners of IN_DIR into the cache, checked\n"
            "\n"
            "DIR defaults to $SPARSEK_CACHE_DIR, else $XDG_CACHE_HOME/sparsek, else ~/.cache/sparsek.\n",
            prog, prog, prog);
}

static void usage_list(FILE *f) {
    fprintf(f,
            "usage: %s list FAMILY [key=value ...] [--arch ARCH] [--all] [--json]\n"
            "                  [--compile [--jobs N] [--timeout MS]]\n"
            "\n"
            "Enumerate the tuner's candidates for a problem: the family's search space over the keys\n"
            "not given (e.g. '%s list fmha_fwd d=128 dtype=bf16 causal=1' varies the tile keys), each\n"
            "resolved and checked against the arch's limits (shared memory, registers, divisibility).\n"
            "--all also prints the pruned candidates with the reason each was pruned.\n"
            "--compile compiles every candidate (no GPU needed) on N parallel workers (default: all\n"
            "cores), each compile in its own process with a time limit, and adds registers, spills\n"
            "and cubin size, or why the compile failed; the cubins land in the kernel cache.\n",
            prog, prog);
}

static void usage_families(FILE *f) {
    fprintf(f, "usage: %s families [--json]\n\nList the kernel families the generator knows.\n", prog);
}

static void usage_info(FILE *f) {
    fprintf(f, "usage: %s info\n\nDescribe the GPU (if any), the cache folder and the toolchain.\n", prog);
}

static int want_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

/* JSON string with escapes. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static int fail_rt(sparsek_runtime *rt, sparsek_status st, const char *what) {
    fprintf(stderr, "%s: %s failed: %s\n%s\n", prog, what, sparsek_status_name(st), sparsek_last_error(rt));
    return 1;
}

/* Splits "FAMILY k=v ... --arch A ..." into family, config and recognised options. */
typedef struct kernel_args {
    const char *family, *arch, *out;
    char config[4096];
    int json, no_isolate;
    unsigned timeout_ms;
} kernel_args;

static int parse_kernel_args(int argc, char **argv, kernel_args *a, int allow_json, int allow_compile_opts) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--arch") && i + 1 < argc) a->arch = argv[++i];
        else if (!strcmp(s, "--out") && !allow_json && i + 1 < argc) a->out = argv[++i];
        else if (!strcmp(s, "--json") && allow_json) a->json = 1;
        else if (!strcmp(s, "--no-isolate") && allow_compile_opts) a->no_isolate = 1;
        else if (!strcmp(s, "--timeout") && allow_compile_opts && i + 1 < argc) a->timeout_ms = (unsigned)atoi(argv[++i]);
        else if (s[0] == '-') {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog, s);
            return 2;
        } else if (!a->family) a->family = s;
        else if (strchr(s, '=')) {
            size_t used = strlen(a->config);
            if (used + strlen(s) + 2 > sizeof a->config) {
                fprintf(stderr, "%s: config too long\n", prog);
                return 2;
            }
            snprintf(a->config + used, sizeof a->config - used, "%s%s", used ? " " : "", s);
        } else {
            fprintf(stderr, "%s: expected key=value, got '%s'\n", prog, s);
            return 2;
        }
    }
    if (!a->family) {
        fprintf(stderr, "%s: missing FAMILY (see '%s families')\n", prog, prog);
        return 2;
    }
    return 0;
}

static sparsek_runtime *make_runtime(const char *cache_dir, int isolate, unsigned timeout_ms) {
    sparsek_runtime_options o;
    sparsek_runtime_options_init(&o);
    o.cache_dir = cache_dir;
    o.isolate_compiles = isolate;
    if (timeout_ms) o.compile_timeout_ms = timeout_ms;
    sparsek_runtime *rt = NULL;
    char msg[512];
    if (sparsek_runtime_create(&rt, &o, msg, sizeof msg) != SPARSEK_OK) {
        fprintf(stderr, "%s: %s\n", prog, msg);
        return NULL;
    }
    return rt;
}

static int cmd_gen(int argc, char **argv) {
    if (want_help(argc, argv)) { usage_gen(stdout); return 0; }
    kernel_args a;
    int rc = parse_kernel_args(argc, argv, &a, 0, 0);
    if (rc) { usage_gen(stderr); return rc; }
    sparsek_runtime *rt = make_runtime(NULL, 0, 0);
    if (!rt) return 1;
    sparsek_kernel_source *src;
    sparsek_status st = sparsek_generate(rt, a.family, a.config, a.arch, &src);
    if (st) { rc = fail_rt(rt, st, "gen"); sparsek_runtime_destroy(rt); return rc; }
    FILE *f = a.out ? fopen(a.out, "w") : stdout;
    if (!f) {
        perror(a.out);
        rc = 1;
    } else {
        fputs(src->source, f);
        if (a.out && fclose(f) != 0) { perror(a.out); rc = 1; }
    }
    sparsek_kernel_source_free(src);
    sparsek_runtime_destroy(rt);
    return rc;
}

static int cmd_compile(int argc, char **argv) {
    if (want_help(argc, argv)) { usage_compile(stdout); return 0; }
    kernel_args a;
    int rc = parse_kernel_args(argc, argv, &a, 1, 1);
    if (rc) { usage_compile(stderr); return rc; }
    sparsek_runtime *rt = make_runtime(NULL, !a.no_isolate, a.timeout_ms);
    if (!rt) return 1;
    sparsek_compiled *c;
    sparsek_status st = sparsek_compile(rt, a.family, a.config, a.arch, &c);
    if (st) { rc = fail_rt(rt, st, "compile"); sparsek_runtime_destroy(rt); return rc; }
    const sparsek_kernel_source *s = c->src;
    if (a.json) {
        printf("{\"family\": "); json_str(stdout, s->family);
        printf(", \"arch\": "); json_str(stdout, s->arch);
        printf(", \"config\": "); json_str(stdout, s->config);
        printf(", \"kernel\": "); json_str(stdout, s->kernel_name);
        printf(", \"template\": "); json_str(stdout, s->template_name);
        printf(", \"cache_key\": "); json_str(stdout, s->cache_key);
        printf(", \"grid\": "); json_str(stdout, s->grid_rule);
        printf(", \"block\": [%u, %u, %u], \"cluster\": [%u, %u, %u]", s->block[0], s->block[1], s->block[2],
               s->cluster[0], s->cluster[1], s->cluster[2]);
        printf(", \"registers\": %d, \"dynamic_smem\": %u, \"static_smem\": %d, \"stack_frame\": %d"
               ", \"spill_stores\": %d, \"spill_loads\": %d, \"cubin_bytes\": %zu, \"from_cache\": %s}\n",
               c->registers, s->dynamic_smem, c->static_smem, c->stack_frame, c->spill_stores, c->spill_loads,
               c->cubin_size, c->from_cache ? "true" : "false");
    } else {
        printf("kernel        %s\n", s->kernel_name);
        printf("family        %s (%s)\n", s->family, s->template_name);
        printf("arch          %s\n", s->arch);
        printf("config        %s\n", s->config);
        printf("launch        grid %s, block %u x %u x %u, cluster %u x %u x %u\n", s->grid_rule, s->block[0],
               s->block[1], s->block[2], s->cluster[0], s->cluster[1], s->cluster[2]);
        printf("registers     %d\n", c->registers);
        printf("shared mem    %u bytes dynamic, %d static\n", s->dynamic_smem, c->static_smem);
        printf("spills        %d bytes stores, %d bytes loads, %d bytes stack frame\n", c->spill_stores,
               c->spill_loads, c->stack_frame);
        printf("cubin         %zu bytes%s\n", c->cubin_size, c->from_cache ? " (from the cache)" : "");
        printf("cache key     %s\n", s->cache_key);
    }
    sparsek_compiled_free(c);
    sparsek_runtime_destroy(rt);
    return 0;
}

static int cmd_cache(int argc, char **argv) {
    if (want_help(argc, argv) || argc < 1) {
        usage_cache(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *action = argv[0], *dir_opt = NULL, *gpu = NULL, *other = NULL;
    int json = 0;
    const int copy = !strcmp(action, "export") || !strcmp(action, "import");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir_opt = argv[++i];
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--gpu") && i + 1 < argc && !strcmp(action, "export")) gpu = argv[++i];
        else if (copy && !other && argv[i][0] != '-') other = argv[i];
        else {
            fprintf(stderr, "%s cache: unknown argument '%s'\n", prog, argv[i]);
            usage_cache(stderr);
            return 2;
        }
    }
    if (copy && !other) {
        fprintf(stderr, "%s cache %s: missing the folder to %s\n", prog, action, action[0] == 'e' ? "write" : "read");
        usage_cache(stderr);
        return 2;
    }
    if (strcmp(action, "ls") && strcmp(action, "verify") && strcmp(action, "clean") && !copy) {
        fprintf(stderr, "%s cache: unknown action '%s'\n", prog, action);
        usage_cache(stderr);
        return 2;
    }
    sk_err e;
    char *dir = NULL;
    if (sk_cache_dir_resolve(dir_opt, &dir, &e)) {
        fprintf(stderr, "%s cache: %s\n", prog, e.msg);
        return 1;
    }
    if (copy) {
        const int exporting = action[0] == 'e';
        int copied = 0;
        if (sk_tune_copy_winners(exporting ? dir : other, gpu, exporting ? other : dir, &copied, &e)) {
            fprintf(stderr, "%s cache %s: %s\n", prog, action, e.msg);
            free(dir);
            return 1;
        }
        printf("%s %d tuned entr%s %s %s\n", exporting ? "exported" : "imported", copied, copied == 1 ? "y" : "ies",
               exporting ? "to" : "from", other);
        free(dir);
        return 0;
    }
    if (!strcmp(action, "clean")) {
        int removed = 0;
        if (sk_cache_clean(dir, &removed, &e)) {
            fprintf(stderr, "%s cache clean: %s\n", prog, e.msg);
            free(dir);
            return 1;
        }
        if (json) printf("{\"dir\": "), json_str(stdout, dir), printf(", \"removed\": %d}\n", removed);
        else printf("removed %d file(s) from %s\n", removed, dir);
        free(dir);
        return 0;
    }
    char **paths = NULL;
    int n = 0;
    if (sk_cache_list(dir, &paths, &n, &e)) {
        fprintf(stderr, "%s cache %s: %s\n", prog, action, e.msg);
        free(dir);
        return 1;
    }
    int bad = 0;
    if (json) printf("{\"dir\": "), json_str(stdout, dir), printf(", \"entries\": [");
    else if (!strcmp(action, "ls")) printf("%-16s %-10s %-8s %5s %6s %9s  %s\n", "key", "family", "arch", "regs", "spills", "bytes", "kernel");
    for (int i = 0; i < n; i++) {
        sk_cache_entry ent;
        memset(&ent, 0, sizeof ent);
        sk_err ee;
        sparsek_status st = sk_cache_read(paths[i], &ent, &ee);
        if (st) bad++;
        if (json) {
            printf("%s{\"path\": ", i ? ", " : "");
            json_str(stdout, paths[i]);
            if (st) {
                printf(", \"ok\": false, \"error\": ");
                json_str(stdout, ee.msg);
            } else {
                printf(", \"ok\": true, \"key\": "); json_str(stdout, ent.key);
                printf(", \"family\": "); json_str(stdout, ent.family);
                printf(", \"arch\": "); json_str(stdout, ent.arch);
                printf(", \"kernel\": "); json_str(stdout, ent.kernel_name);
                printf(", \"config\": "); json_str(stdout, ent.config);
                printf(", \"toolchain\": "); json_str(stdout, ent.toolchain);
                printf(", \"registers\": %d, \"spill_stores\": %d, \"spill_loads\": %d, \"cubin_bytes\": %zu",
                       ent.registers, ent.spill_stores, ent.spill_loads, ent.cubin_size);
                printf(", \"bucket\": "); json_str(stdout, ent.bucket);
                printf(", \"time_us\": %.3f", ent.time_us);
            }
            printf("}");
        } else if (st) {
            printf("BAD  %s: %s\n", paths[i], ee.msg);
        } else if (!strcmp(action, "ls")) {
            printf("%.16s %-10s %-8s %5d %6d %9zu  %s\n", ent.key, ent.family, ent.arch, ent.registers,
                   ent.spill_stores + ent.spill_loads, ent.cubin_size, ent.kernel_name);
            sk_tuned_win w[16];
            const int nw = ent.bucket && ent.bucket[0] ? sk_tuned_parse(ent.bucket, ent.time_us, w, 16) : 0;
            for (int j = 0; j < nw; j++)
                printf("                 tuned winner of %s: %.1f us on %s\n", w[j].bucket, w[j].us, ent.gpu);
            if (nw < 0) printf("                 tuned winner (bucket field unreadable or over 16 buckets): %s\n", ent.bucket);
        } else {
            printf("ok   %s (%s %s)\n", paths[i], ent.family, ent.kernel_name);
        }
        sk_cache_entry_clear(&ent);
    }
    if (json) printf("], \"count\": %d, \"bad\": %d}\n", n, bad);
    else printf("%d entr%s in %s, %d bad\n", n, n == 1 ? "y" : "ies", dir, bad);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(dir);
    return (!strcmp(action, "verify") && bad) ? 1 : 0;
}

static int cmd_families(int argc, char **argv) {
    if (want_help(argc, argv)) { usage_families(stdout); return 0; }
    int json = argc > 0 && !strcmp(argv[0], "--json");
    sk_gen *g;
    sk_err e;
    if (sk_gen_open(&g, NULL, &e)) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        return 1;
    }
    char *list = NULL;
    int rc = 0;
    if (sk_gen_families(g, &list, &e)) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        rc = 1;
    } else {
        /* The defaults of each family, as the canonical config of an empty request. */
        if (json) printf("[");
        int first = 1;
        for (char *save = NULL, *fam = strtok_r(list, " ", &save); fam; fam = strtok_r(NULL, " ", &save)) {
            char *canon = NULL;
            sparsek_status st = sk_gen_normalize(g, fam, "", "sm_90a", &canon, &e);
            if (json) {
                printf("%s{\"family\": ", first ? "" : ", ");
                json_str(stdout, fam);
                printf(", \"defaults\": ");
                json_str(stdout, st ? "" : canon);
                printf("}");
            } else {
                printf("%-16s %s\n", fam, st ? e.msg : canon);
            }
            first = 0;
            free(canon);
        }
        if (json) printf("]\n");
    }
    free(list);
    sk_gen_close(g);
    return rc;
}

/* The arch to use when none is named: the local GPU's, else sm_90a. */
static void default_arch(char out[16]) {
    snprintf(out, 16, "sm_90a");
    sparsek_runtime *rt = make_runtime(NULL, 0, 0);
    sparsek_device_info info;
    if (rt && sparsek_runtime_device_info(rt, &info) == SPARSEK_OK && info.has_device) snprintf(out, 16, "%s", info.arch);
    sparsek_runtime_destroy(rt);
}

static int cmd_list(int argc, char **argv) {
    if (want_help(argc, argv)) { usage_list(stdout); return 0; }
    int all = 0, n = 0, compile = 0, jobs = 0;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) all = 1;
        else if (!strcmp(argv[i], "--compile")) compile = 1;
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) jobs = atoi(argv[++i]);
        else rest[n++] = argv[i];
    }
    kernel_args a;
    int rc = parse_kernel_args(n, rest, &a, 1, 1);
    free(rest);
    if (rc) { usage_list(stderr); return rc; }
    char arch[16];
    if (a.arch) snprintf(arch, sizeof arch, "%s", a.arch);
    else default_arch(arch);
    sk_gen *g;
    sk_err e;
    if (sk_gen_open(&g, NULL, &e)) { fprintf(stderr, "%s: %s\n", prog, e.msg); return 1; }
    char *text = NULL;
    if (sk_gen_candidates(g, a.family, a.config, arch, &text, &e)) {
        fprintf(stderr, "%s list: %s\n", prog, e.msg);
        sk_gen_close(g);
        return 1;
    }
    /* Split the lines: candidates first (compiled together if asked), then the pruned. */
    int nlines = 1;
    for (const char *p = text; *p; p++) nlines += *p == '\n';
    char **cfgs = calloc((size_t)nlines, sizeof *cfgs), **pcfg = calloc((size_t)nlines, sizeof *pcfg),
         **preason = calloc((size_t)nlines, sizeof *preason);
    int nok = 0, npruned = 0, first = 1;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && cfgs && pcfg && preason;
         line = strtok_r(NULL, "\n", &save)) {
        char *cfg = strchr(line, '\t');
        if (!cfg) continue;
        *cfg++ = 0;
        char *reason = strchr(cfg, '\t');
        if (reason) *reason++ = 0;
        if (!strcmp(line, "ok")) cfgs[nok++] = cfg;
        else pcfg[npruned] = cfg, preason[npruned++] = reason ? reason : "";
    }
    sk_compile_outcome *res = NULL;
    if (compile && nok > 0) {
        sparsek_runtime *rt = make_runtime(NULL, !a.no_isolate, a.timeout_ms);
        res = calloc((size_t)nok, sizeof *res);
        if (!rt || !res || sk_tune_compile_all(rt, a.family, cfgs, nok, arch, jobs, res, &e)) {
            fprintf(stderr, "%s list: %s\n", prog, rt && res ? e.msg : "out of memory");
            free(res);
            res = NULL;
            rc = 1;
        }
        sparsek_runtime_destroy(rt);
    }
    int failed = 0;
    if (a.json) printf("{\"family\": \"%s\", \"arch\": \"%s\", \"candidates\": [", a.family, arch);
    for (int i = 0; i < nok; i++, first = 0) {
        const sk_compile_outcome *o = res ? &res[i] : NULL;
        failed += o && o->status != SPARSEK_OK;
        if (a.json) {
            printf("%s{\"config\": ", first ? "" : ", ");
            json_str(stdout, cfgs[i]);
            printf(", \"ok\": true");
            if (o && o->status == SPARSEK_OK)
                printf(", \"registers\": %d, \"spill_stores\": %d, \"spill_loads\": %d, \"cubin_bytes\": %zu",
                       o->registers, o->spill_stores, o->spill_loads, o->cubin_size);
            else if (o)
                printf(", \"compile_error\": "), json_str(stdout, o->message);
            printf("}");
        } else if (o && o->status == SPARSEK_OK) {
            printf("ok      regs %3d  spills %4d/%-4d  cubin %7zu  %s\n", o->registers, o->spill_stores, o->spill_loads,
                   o->cubin_size, cfgs[i]);
        } else if (o) {
            printf("FAILED  %s\n        -> %s: %s\n", cfgs[i], sparsek_status_name(o->status), o->message);
        } else {
            printf("ok      %s\n", cfgs[i]);
        }
    }
    for (int i = 0; all && i < npruned; i++, first = 0) {
        if (a.json) {
            printf("%s{\"config\": ", first ? "" : ", ");
            json_str(stdout, pcfg[i]);
            printf(", \"ok\": false, \"reason\": ");
            json_str(stdout, preason[i]);
            printf("}");
        } else {
            printf("pruned  %s\n        -> %s\n", pcfg[i], preason[i]);
        }
    }
    free(res);
    free(cfgs);
    free(pcfg);
    free(preason);
    if (a.json) printf("], \"count\": %d, \"pruned\": %d, \"compile_failed\": %d}\n", nok, npruned, failed);
    else printf("%d candidate(s) for %s on %s, %d pruned%s%s\n", nok, a.family, arch, npruned,
                all ? "" : " (--all lists them)", failed ? ", some failed to compile" : "");
    free(text);
    sk_gen_close(g);
    return rc ? rc : (failed ? 1 : 0);
}

static int cmd_info(int argc, char **argv) {
    if (want_help(argc, argv)) { usage_info(stdout); return 0; }
    sparsek_runtime *rt = make_runtime(NULL, 0, 0);
    if (!rt) return 1;
    sparsek_device_info info;
    sparsek_status st = sparsek_runtime_device_info(rt, &info);
    if (st) { int rc = fail_rt(rt, st, "info"); sparsek_runtime_destroy(rt); return rc; }
    printf("sparsek       %d.%d.%d\n", SPARSEK_VERSION_MAJOR, SPARSEK_VERSION_MINOR, SPARSEK_VERSION_PATCH);
    if (info.has_device)
        printf("device        %s, %s, %d SMs, %d bytes shared memory per block, driver %d\n", info.name, info.arch,
               info.sm_count, info.max_smem_optin, info.driver_version);
    else
        printf("device        none (generation and compilation target sm_90a by default)\n");
    printf("cache         %s\n", rt->cache_dir ? rt->cache_dir : "(disabled: no cache folder could be resolved)");
    sparsek_runtime_destroy(rt);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage_main(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage_main(stdout); return 0; }
    if (!strcmp(cmd, "gen")) return cmd_gen(argc - 2, argv + 2);
    if (!strcmp(cmd, "compile")) return cmd_compile(argc - 2, argv + 2);
    if (!strcmp(cmd, "cache")) return cmd_cache(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return sk_bench_main(argc - 2, argv + 2, prog);
    if (!strcmp(cmd, "families")) return cmd_families(argc - 2, argv + 2);
    if (!strcmp(cmd, "list")) return cmd_list(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "tune")) return sk_cli_tune(argc - 2, argv + 2, prog);
    if (!strcmp(cmd, "show")) return sk_cli_show(argc - 2, argv + 2, prog);
    if (!strcmp(cmd, "load")) return sk_cli_load(argc - 2, argv + 2, prog);
    fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
    usage_main(stderr);
    return 2;
}
