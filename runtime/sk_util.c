/* sk_util.c — error values, strings, files and buffers shared by all modules. */
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sk_internal.h"

static void truncate_mark(char *msg, size_t cap, int wanted) {
    if (wanted >= (int)cap && cap > 4) memcpy(msg + cap - 4, "...", 4);
}

sparsek_status sk_fail(sk_err *err, sparsek_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        truncate_mark(err->msg, sizeof err->msg, n);
        err->status = st;
    }
    return st;
}

void sk_err_prefix(sk_err *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char *old = sk_strdup(err->msg);
    int n = snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old ? old : "");
    truncate_mark(err->msg, sizeof err->msg, n);
    free(old);
}

void sk_err_clear(sk_err *err) {
    if (!err) return;
    err->status = SPARSEK_OK;
    err->msg[0] = 0;
}

char *sk_strdup(const char *s) { return s ? sk_strndup(s, strlen(s)) : NULL; }

char *sk_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

char *sk_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *r = malloc((size_t)n + 1);
    if (!r) return NULL;
    va_start(ap, fmt);
    vsnprintf(r, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return r;
}

sparsek_status sk_read_file(const char *path, char **out, size_t *size, sk_err *err) {
    *out = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sk_fail(err, SPARSEK_IO, "cannot open %s: %s", path, strerror(errno));
    sk_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sk_buf_put(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sk_buf_free(&b);
        return sk_fail(err, SPARSEK_IO, "cannot read %s", path);
    }
    sk_buf_put(&b, "", 1);
    if (b.oom) {
        sk_buf_free(&b);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    *out = b.data;
    if (size) *size = b.len - 1;
    return SPARSEK_OK;
}

void sk_buf_put(sk_buf *b, const void *p, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) { b->oom = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sk_buf_puts(sk_buf *b, const char *s) { sk_buf_put(b, s, strlen(s)); }

void sk_buf_printf(sk_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    char *tmp = malloc((size_t)n + 1);
    if (!tmp) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sk_buf_put(b, tmp, (size_t)n);
    free(tmp);
}

void sk_buf_free(sk_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* mkdir -p. EEXIST is fine at every level: another process may be creating the same folder. */
sparsek_status sk_mkdirs(const char *dir, sk_err *err) {
    char *p = sk_strdup(dir);
    if (!p) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            sparsek_status st = sk_fail(err, SPARSEK_IO, "cannot create %s: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0) return sk_fail(err, SPARSEK_IO, "cannot create %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return sk_fail(err, SPARSEK_IO, "cannot create %s: %s", dir, strerror(ENOTDIR));
    return SPARSEK_OK;
}

double sk_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
