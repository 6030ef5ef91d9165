/* sk_tune.c — measure, log, resume, rank (see sk_tune.h). */
#include "sk_tune.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sk_autotune.h"
#include "sk_cache.h"

static const char *status_word[] = {"ok", "wrong", "failed"};

/* Tabs and newlines would break the line format; they become blanks. */
static void clean(char *s) {
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r') *s = ' ';
}

static sparsek_status append_line(const char *log_path, const char *bucket, const sk_tune_result *r, sk_err *err) {
    if (r->status < SK_TUNE_OK || r->status > SK_TUNE_FAILED)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "only ok, wrong and failed results are logged");
    sk_tune_result c = *r;
    clean(c.config);
    clean(c.note);
    int fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return sk_fail(err, SPARSEK_IO, "cannot open %s: %s", log_path, strerror(errno));
    /* A run killed mid-write leaves a torn last line: start on a fresh line so this result is
     * not glued to it (the torn fragment is then skipped as malformed). */
    char last = '\n';
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > 0 && pread(fd, &last, 1, end - 1) != 1) last = '\n';
    char line[1200];
    int n = snprintf(line, sizeof line, "%s%s\t%s\t%s\t%.17g\t%.17g\t%s\n", last == '\n' ? "" : "\n", bucket,
                     c.config, status_word[c.status], c.median_us, c.rel_err, c.note);
    if (n < 0 || (size_t)n >= sizeof line) {
        close(fd);
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "tuning log line too long");
    }
    /* One write of the whole line: with O_APPEND it lands in one piece. */
    ssize_t w = write(fd, line, (size_t)n);
    int bad = w != n || fsync(fd) != 0;
    int saved = errno;
    close(fd);
    if (bad) return sk_fail(err, SPARSEK_IO, "cannot append to %s: %s", log_path, strerror(saved));
    return SPARSEK_OK;
}

sparsek_status sk_tune_log_append(const char *log_path, const char *bucket, const sk_tune_result *r, sk_err *err) {
    if (!log_path || !bucket || !r) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_tune_log_append: NULL argument");
    return append_line(log_path, bucket, r, err);
}

static int parse_line(char *line, const char *bucket, sk_tune_result *r) {
    char *f[6];
    int nf = 0;
    for (char *p = line; nf < 6; nf++) {
        f[nf] = p;
        char *t = strchr(p, '\t');
        if (!t) { nf++; break; }
        *t = 0;
        p = t + 1;
    }
    if (nf != 6) return -1;
    if (bucket && strcmp(f[0], bucket) != 0) return -1;
    memset(r, 0, sizeof *r);
    snprintf(r->config, sizeof r->config, "%s", f[1]);
    int s = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(f[2], status_word[i])) s = i;
    if (s < 0) return -1;
    r->status = (sk_tune_status)s;
    char *end;
    r->median_us = strtod(f[3], &end);
    if (*end) return -1;
    r->rel_err = strtod(f[4], &end);
    if (*end) return -1;
    snprintf(r->note, sizeof r->note, "%s", f[5]);
    return 0;
}

sparsek_status sk_tune_log_read(const char *log_path, const char *bucket, sk_tune_result **out, int *count,
                                sk_err *err) {
    if (!log_path || !out || !count) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_tune_log_read: NULL argument");
    *out = NULL;
    *count = 0;
    char *text = NULL;
    size_t size = 0;
    if (access(log_path, F_OK) != 0) return SPARSEK_OK; /* no log yet: nothing measured */
    sparsek_status st = sk_read_file(log_path, &text, &size, err);
    if (st) return st;
    int cap = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break; /* torn last line of a killed run */
        *nl = 0;
        sk_tune_result r;
        if (parse_line(p, bucket, &r) == 0) {
            if (*count == cap) {
                cap = cap ? 2 * cap : 16;
                sk_tune_result *m = realloc(*out, (size_t)cap * sizeof *m);
                if (!m) {
                    free(text);
                    free(*out);
                    *out = NULL;
                    return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
                }
                *out = m;
            }
            (*out)[(*count)++] = r;
        }
        p = nl + 1;
    }
    free(text);
    return SPARSEK_OK;
}

static const sk_tune_result *find(const sk_tune_result *rs, int n, const char *config) {
    for (int i = n - 1; i >= 0; i--) /* the latest measurement of a config counts */
        if (!strcmp(rs[i].config, config)) return &rs[i];
    return NULL;
}

sparsek_status sk_tune_bucket(const char *log_path, const char *bucket, char *const *candidates, int n,
                              sk_tune_measure_fn fn, void *ctx, sk_tune_result *winner, int *measured_now,
                              sk_err *err) {
    if (!log_path || !bucket || (n > 0 && !candidates) || n < 0 || !fn || !winner)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_tune_bucket: NULL or invalid argument");
    if (measured_now) *measured_now = 0;
    sk_tune_result *done = NULL;
    int ndone = 0;
    sparsek_status st = sk_tune_log_read(log_path, bucket, &done, &ndone, err);
    if (st) return st;
    int stopped = 0;
    for (int i = 0; i < n && !stopped; i++) {
        if (find(done, ndone, candidates[i])) continue; /* measured by an earlier (maybe killed) run */
        sk_tune_result r;
        memset(&r, 0, sizeof r);
        r.rel_err = NAN;
        fn(ctx, candidates[i], &r);
        if (r.status == SK_TUNE_SKIPPED) {
            stopped = i + 1;
            break;
        }
        snprintf(r.config, sizeof r.config, "%s", candidates[i]);
        if (r.status == SK_TUNE_OK && !(r.median_us > 0) ) {
            r.status = SK_TUNE_FAILED;
            snprintf(r.note, sizeof r.note, "no valid time measured");
        }
        if ((st = append_line(log_path, bucket, &r, err))) {
            free(done);
            return st;
        }
        if (measured_now) (*measured_now)++;
    }
    free(done);
    if (stopped)
        return sk_fail(err, SPARSEK_NOT_SUPPORTED, "bucket %s: stopped at candidate %d of %d; no winner", bucket,
                       stopped, n);
    if ((st = sk_tune_log_read(log_path, bucket, &done, &ndone, err))) return st;
    const sk_tune_result *best = NULL;
    for (int i = 0; i < n; i++) {
        const sk_tune_result *r = find(done, ndone, candidates[i]);
        if (r && r->status == SK_TUNE_OK && (!best || r->median_us < best->median_us)) best = r;
    }
    if (best) *winner = *best;
    free(done);
    if (!best) return sk_fail(err, SPARSEK_NOT_SUPPORTED, "bucket %s: none of %d candidates was correct", bucket, n);
    return SPARSEK_OK;
}

sparsek_status sk_tune_copy_winners(const char *from_dir, const char *gpu, const char *to_dir, int *copied,
                                    sk_err *err) {
    if (!from_dir || !to_dir) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_tune_copy_winners: NULL folder");
    if (copied) *copied = 0;
    char **paths = NULL;
    int n = 0;
    sparsek_status st = sk_cache_list(from_dir, &paths, &n, err);
    if (st) return st;
    for (int i = 0; i < n && !st; i++) {
        sk_cache_entry e;
        memset(&e, 0, sizeof e);
        sk_err ee;
        /* A bad entry is not copied; the copy must be as trustworthy as the original. */
        if (sk_cache_read(paths[i], &e, &ee) == SPARSEK_OK && e.bucket && e.bucket[0] &&
            (!gpu || (e.gpu && !strcmp(e.gpu, gpu)))) {
            /* As the winner of its buckets there: one winner per bucket in the destination. An
             * unreadable bucket list is skipped like a bad entry. */
            sk_err se;
            const sparsek_status s2 = sk_autotune_store_winner_entry(&e, to_dir, &se);
            if (s2 == SPARSEK_OK && copied) (*copied)++;
            else if (s2 != SPARSEK_OK && s2 != SPARSEK_CACHE_CORRUPT) st = sk_fail(err, s2, "%s", se.msg);
        }
        sk_cache_entry_clear(&e);
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return st;
}

/* ---- parallel compilation ----------------------------------------------------------------- */

typedef struct compile_pool {
    sparsek_runtime *rt;
    const char *family, *arch;
    char *const *configs;
    int n, next;
    sk_compile_outcome *out;
    pthread_mutex_t lock;
} compile_pool;

static void *compile_worker(void *arg) {
    compile_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int i = p->next < p->n ? p->next++ : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0) return NULL;
        sk_compile_outcome *o = &p->out[i];
        memset(o, 0, sizeof *o);
        sparsek_compiled *c = NULL;
        o->status = sparsek_compile(p->rt, p->family, p->configs[i], p->arch, &c);
        if (o->status == SPARSEK_OK) {
            o->registers = c->registers;
            o->spill_stores = c->spill_stores;
            o->spill_loads = c->spill_loads;
            o->cubin_size = c->cubin_size;
            o->from_cache = c->from_cache;
        } else {
            /* This thread's own message: error slots are per thread. */
            snprintf(o->message, sizeof o->message, "%s", sparsek_last_error(p->rt));
        }
        sparsek_compiled_free(c);
    }
}

sparsek_status sk_tune_compile_all(sparsek_runtime *rt, const char *family, char *const *configs, int n,
                                   const char *arch, int jobs, sk_compile_outcome *out, sk_err *err) {
    if (!rt || !family || (n > 0 && (!configs || !out)) || n < 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_tune_compile_all: NULL or invalid argument");
    if (jobs <= 0) jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs < 1) jobs = 1;
    if (jobs > n) jobs = n > 0 ? n : 1;
    compile_pool pool = {rt, family, arch, configs, n, 0, out, PTHREAD_MUTEX_INITIALIZER};
    pthread_t *th = calloc((size_t)jobs, sizeof *th);
    if (!th) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    int started = 0;
    for (int t = 0; t < jobs; t++)
        if (pthread_create(&th[t], NULL, compile_worker, &pool) == 0) started++;
        else break;
    if (started == 0) compile_worker(&pool); /* no threads to be had: do the work here */
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    free(th);
    return SPARSEK_OK;
}
