/* sk_internal.h — helpers shared by every module (not part of the public API). */
#ifndef SK_INTERNAL_H
#define SK_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include "sparsek.h"

#define SK_HIDDEN __attribute__((visibility("hidden")))

/* An error value that carries a message. Modules fill it; the runtime copies it into the
 * per-thread slot that sparsek_last_error returns. */
#define SK_ERR_MSG 8192
typedef struct sk_err {
    sparsek_status status;
    char msg[SK_ERR_MSG];
} sk_err;

/* Sets err (if not NULL) and returns `st`. printf-style; messages longer than the buffer are
 * truncated with "...". */
SK_HIDDEN sparsek_status sk_fail(sk_err *err, sparsek_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in err with "<prefix>: ". */
SK_HIDDEN void sk_err_prefix(sk_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SK_HIDDEN void sk_err_clear(sk_err *err);

SK_HIDDEN char *sk_strdup(const char *s);                 /* NULL-safe */
SK_HIDDEN char *sk_strndup(const char *s, size_t n);
SK_HIDDEN char *sk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds on the monotonic clock. */
SK_HIDDEN double sk_now_s(void);

/* Whole-file read; *out is malloc'd and NUL-terminated (size excludes the NUL). */
SK_HIDDEN sparsek_status sk_read_file(const char *path, char **out, size_t *size, sk_err *err);
/* mkdir -p with mode 0755; a folder another process creates meanwhile is fine; fails when `dir`
 * ends up not being a folder. */
SK_HIDDEN sparsek_status sk_mkdirs(const char *dir, sk_err *err);

/* Growable byte buffer. */
typedef struct sk_buf {
    char *data;
    size_t len, cap;
    int oom;
} sk_buf;
SK_HIDDEN void sk_buf_put(sk_buf *b, const void *p, size_t n);
SK_HIDDEN void sk_buf_puts(sk_buf *b, const char *s);
SK_HIDDEN void sk_buf_printf(sk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SK_HIDDEN void sk_buf_free(sk_buf *b);

#endif
