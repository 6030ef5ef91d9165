/* sk_cache.c — the on-disk, content-addressed cache of compiled kernels.
 *
 * Entry file <dir>/<key>.skc (all integers little-endian):
 *   "SPARSEKC"  u32 version (1)  u32 metadata length  metadata
 *   u64 cubin length  cubin  SHA-256 of every byte before it (32 bytes)
 * Metadata is UTF-8 text, one `name=value\n` line per field of sk_cache_entry (cubin aside);
 * values escape '\\' and control bytes so any string round-trips.
 *
 * Writers go through a private temp file in the same folder and rename(2) it over the entry, so
 * readers see either the old whole file or the new whole file, never a mix. Readers check
 * everything (lengths, checksum, fields, key) before trusting a byte, because the folder is
 * shared by processes, library versions and whatever else touches the disk. */
#include "sk_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "sk_sha256.h"

#define MAGIC "SPARSEKC"
#define MAGIC_LEN 8
#define FORMAT_VERSION 1u
/* Limits, so that a corrupt length field never makes us allocate wildly. */
#define MAX_META ((size_t)1 << 20)
#define MAX_CUBIN ((uint64_t)1 << 30)
#define HEAD_LEN (MAGIC_LEN + 4 + 4)       /* magic, version, metadata length */
#define FIXED_LEN (HEAD_LEN + 8 + 32)      /* + cubin length + checksum */
#define MAX_FILE ((uint64_t)FIXED_LEN + MAX_META + MAX_CUBIN)
#define KEY_TAG "sparsek-cache-key-v1"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */

static int is_key(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == 0;
}

static void put_le(sk_buf *b, uint64_t v, int bytes) {
    unsigned char t[8];
    for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    sk_buf_put(b, t, (size_t)bytes);
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Paths are built with a checked allocation; NULL means out of memory. */
static char *join(const char *dir, const char *name) { return sk_asprintf("%s/%s", dir, name); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* "%.17g" and strtod follow LC_NUMERIC; the file must not depend on the caller's locale, so the
 * number is formatted/parsed under the C locale on this thread only (uselocale), leaving the
 * process locale alone. */
typedef struct c_numeric {
    locale_t c, old;
} c_numeric;

static int c_numeric_enter(c_numeric *s) {
    s->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (s->c == (locale_t)0) return -1;
    s->old = uselocale(s->c);
    return 0;
}

static void c_numeric_leave(c_numeric *s) {
    uselocale(s->old);
    freelocale(s->c);
}

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                       */

/* One field: `name=<len>:<bytes>\n`; NULL is `name=-1:\n`, which no string produces. The
 * length prefix makes the whole serialisation injective: no bytes can move between fields. */
static void key_field(sk_sha256 *c, const char *name, const char *value) {
    char head[64];
    int n = value ? snprintf(head, sizeof head, "%s=%zu:", name, strlen(value))
                  : snprintf(head, sizeof head, "%s=-1:", name);
    sk_sha256_update(c, head, (size_t)n);
    if (value) sk_sha256_update(c, value, strlen(value));
    sk_sha256_update(c, "\n", 1);
}

void sk_cache_key(const char *gen_digest, const char *family, const char *config, const char *options,
                  const char *toolchain, const char *arch, char out[65]) {
    if (!out) return;
    sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, KEY_TAG "\n", strlen(KEY_TAG "\n"));
    key_field(&c, "gen_digest", gen_digest);
    key_field(&c, "family", family);
    key_field(&c, "config", config);
    key_field(&c, "options", options);
    key_field(&c, "toolchain", toolchain);
    key_field(&c, "arch", arch);
    uint8_t d[32];
    sk_sha256_final(&c, d);
    sk_hex(d, 32, out);
}

static void entry_key(const sk_cache_entry *e, char out[65]) {
    sk_cache_key(e->gen_digest, e->family, e->config, e->options, e->toolchain, e->arch, out);
}

void sk_cache_entry_clear(sk_cache_entry *e) {
    if (!e) return;
    free(e->family); free(e->arch); free(e->template_name); free(e->config);
    free(e->kernel_name); free(e->grid_rule); free(e->gen_digest); free(e->toolchain);
    free(e->options); free(e->bucket); free(e->gpu); free(e->cubin);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------------------------------ */
/* Metadata fields                                                                            */

typedef enum { F_STR, F_UINT, F_INT, F_LL, F_DIM3, F_DOUBLE, F_KEY } field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    size_t off;
    int optional_null; /* NULL allowed on write (written as ""): the tuning fields only */
} field;

#define FLD(name, kind, opt) {#name, kind, offsetof(sk_cache_entry, name), opt}
/* The order in which fields are written; a reader accepts any order, each field exactly once. */
static const field FIELDS[] = {
    FLD(key, F_KEY, 0),           FLD(family, F_STR, 0),        FLD(arch, F_STR, 0),
    FLD(template_name, F_STR, 0), FLD(config, F_STR, 0),        FLD(kernel_name, F_STR, 0),
    FLD(grid_rule, F_STR, 0),     FLD(gen_digest, F_STR, 0),    FLD(toolchain, F_STR, 0),
    FLD(options, F_STR, 0),       FLD(block, F_DIM3, 0),        FLD(cluster, F_DIM3, 0),
    FLD(dynamic_smem, F_UINT, 0), FLD(registers, F_INT, 0),     FLD(spill_stores, F_INT, 0),
    FLD(spill_loads, F_INT, 0),   FLD(stack_frame, F_INT, 0),   FLD(static_smem, F_INT, 0),
    FLD(bucket, F_STR, 1),        FLD(time_us, F_DOUBLE, 0),    FLD(gpu, F_STR, 1),
    FLD(created, F_LL, 0),
};
#define NFIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

#define AT(e, f, type) ((type *)((char *)(e) + (f)->off))
#define CAT(e, f, type) ((const type *)((const char *)(e) + (f)->off))

/* '\\' and every control byte are escaped, so a value never contains a raw newline and the
 * file stays one-field-per-line text; bytes >= 0x80 (UTF-8) pass through untouched. */
static void put_escaped(sk_buf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\') sk_buf_puts(b, "\\\\");
        else if (*p == '\n') sk_buf_puts(b, "\\n");
        else if (*p < 0x20 || *p == 0x7f) sk_buf_printf(b, "\\x%02x", *p);
        else sk_buf_put(b, p, 1);
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Reverses put_escaped. Anything put_escaped would not have written (unknown escape, raw
 * control byte, escaped NUL) is rejected rather than guessed at. */
static sparsek_status unescape(const char *s, size_t n, char **out, sk_err *err) {
    char *r = malloc(n + 1);
    if (!r) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) goto bad;
        if (c != '\\') { r[o++] = (char)c; continue; }
        if (++i >= n) goto bad;
        if (s[i] == '\\') r[o++] = '\\';
        else if (s[i] == 'n') r[o++] = '\n';
        else if (s[i] == 'x' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            int v = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            if (v == 0) goto bad;
            r[o++] = (char)v;
            i += 2;
        } else goto bad;
    }
    r[o] = 0;
    *out = r;
    return SPARSEK_OK;
bad:
    free(r);
    return sk_fail(err, SPARSEK_CACHE_CORRUPT, "bad escape or control character in a metadata value");
}

/* Canonical decimal only ("0", "12", "-3"; no '+', no leading zeros, no "-0"): the writer never
 * produces anything else, so anything else means the bytes are not ours. */
static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    const char *p = s;
    int neg = *p == '-';
    if (neg) p++;
    if (*p < '0' || *p > '9') return -1;
    if (*p == '0' && (p[1] || neg)) return -1;
    unsigned long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (ULLONG_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    long long r;
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1) return -1;
        r = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) return -1;
        r = (long long)v;
    }
    if (r < lo || r > hi) return -1;
    *out = r;
    return 0;
}

static int parse_dim3(const char *s, unsigned out[3]) {
    char part[32];
    for (int i = 0; i < 3; i++) {
        const char *end = i < 2 ? strchr(s, ',') : s + strlen(s);
        if (!end || (size_t)(end - s) >= sizeof part) return -1;
        memcpy(part, s, (size_t)(end - s));
        part[end - s] = 0;
        long long v;
        if (parse_ll(part, 0, UINT_MAX, &v)) return -1;
        out[i] = (unsigned)v;
        s = end + (i < 2);
    }
    return 0;
}

static int parse_double(const char *s, double *out) {
    if (!*s || *s == ' ' || *s == '+') return -1;
    c_numeric cn;
    if (c_numeric_enter(&cn)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    int bad = *end != 0 || !isfinite(v);
    c_numeric_leave(&cn);
    if (bad) return -1;
    *out = v;
    return 0;
}

/* Sets one field of e from its unescaped text value. */
static sparsek_status field_set(sk_cache_entry *e, const field *f, char *value, sk_err *err) {
    long long v = 0;
    int bad = 0;
    switch (f->kind) {
    case F_STR: *AT(e, f, char *) = value; return SPARSEK_OK;
    case F_KEY:
        bad = !is_key(value);
        if (!bad) memcpy(e->key, value, 65);
        break;
    case F_UINT:
        bad = parse_ll(value, 0, UINT_MAX, &v);
        if (!bad) *AT(e, f, unsigned) = (unsigned)v;
        break;
    case F_INT:
        bad = parse_ll(value, INT_MIN, INT_MAX, &v);
        if (!bad) *AT(e, f, int) = (int)v;
        break;
    case F_LL: bad = parse_ll(value, LLONG_MIN, LLONG_MAX, AT(e, f, long long)); break;
    case F_DIM3: bad = parse_dim3(value, AT(e, f, unsigned)); break;
    case F_DOUBLE: bad = parse_double(value, AT(e, f, double)); break;
    }
    free(value);
    if (bad) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "metadata field %s has a bad value", f->name);
    return SPARSEK_OK;
}

static void field_write(sk_buf *b, const sk_cache_entry *e, const field *f) {
    sk_buf_printf(b, "%s=", f->name);
    switch (f->kind) {
    case F_STR: {
        const char *s = *CAT(e, f, char *);
        put_escaped(b, s ? s : "");
        break;
    }
    case F_KEY: sk_buf_puts(b, e->key); break;
    case F_UINT: sk_buf_printf(b, "%u", *CAT(e, f, unsigned)); break;
    case F_INT: sk_buf_printf(b, "%d", *CAT(e, f, int)); break;
    case F_LL: sk_buf_printf(b, "%lld", *CAT(e, f, long long)); break;
    case F_DIM3: {
        const unsigned *d = CAT(e, f, unsigned);
        sk_buf_printf(b, "%u,%u,%u", d[0], d[1], d[2]);
        break;
    }
    case F_DOUBLE: {
        /* %.17g is enough digits for every double to round-trip exactly. */
        c_numeric cn;
        if (c_numeric_enter(&cn)) { b->oom = 1; break; }
        sk_buf_printf(b, "%.17g", *CAT(e, f, double));
        c_numeric_leave(&cn);
        break;
    }
    }
    sk_buf_put(b, "\n", 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Serialise                                                                                  */

/* Refuses entries that a reader would reject, so a bad entry fails at the writer, where the
 * bug is, instead of being written and thrown away on every later lookup. */
static sparsek_status check_entry(const sk_cache_entry *e, sk_err *err) {
    if (!is_key(e->key))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cache entry key is not 64 lowercase hex characters");
    for (int i = 0; i < NFIELDS; i++)
        if (FIELDS[i].kind == F_STR && !FIELDS[i].optional_null && !*CAT(e, &FIELDS[i], char *))
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cache entry field %s is NULL", FIELDS[i].name);
    if (!isfinite(e->time_us))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cache entry time_us is not a finite number");
    if (!e->cubin && e->cubin_size)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cache entry has no cubin but cubin_size %zu", e->cubin_size);
    if ((uint64_t)e->cubin_size > MAX_CUBIN)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cubin of %zu bytes exceeds the cache limit of %llu",
                       e->cubin_size, (unsigned long long)MAX_CUBIN);
    char k[65];
    entry_key(e, k);
    if (strcmp(k, e->key) != 0)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                       "cache entry key %s does not match the key of its fields (%s)", e->key, k);
    return SPARSEK_OK;
}

sparsek_status sk_cache_serialize(const sk_cache_entry *e, sk_buf *out, sk_err *err) {
    if (!e || !out) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_serialize: NULL argument");
    sparsek_status st = check_entry(e, err);
    if (st) return st;
    sk_buf meta = {0};
    for (int i = 0; i < NFIELDS; i++) field_write(&meta, e, &FIELDS[i]);
    if (!meta.oom && meta.len > MAX_META) {
        size_t n = meta.len;
        sk_buf_free(&meta);
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "cache entry metadata of %zu bytes exceeds the limit of %zu",
                       n, MAX_META);
    }
    sk_buf b = {0};
    sk_buf_put(&b, MAGIC, MAGIC_LEN);
    put_le(&b, FORMAT_VERSION, 4);
    put_le(&b, meta.len, 4);
    sk_buf_put(&b, meta.data, meta.len);
    put_le(&b, e->cubin_size, 8);
    sk_buf_put(&b, e->cubin, e->cubin_size);
    int oom = meta.oom || b.oom;
    sk_buf_free(&meta);
    if (oom) {
        sk_buf_free(&b);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory serialising a cache entry");
    }
    uint8_t sum[32];
    sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, b.data, b.len);
    sk_sha256_final(&c, sum);
    sk_buf_put(&b, sum, 32);
    if (b.oom) {
        sk_buf_free(&b);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory serialising a cache entry");
    }
    *out = b;
    return SPARSEK_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Parse                                                                                      */

static sparsek_status corrupt(sk_err *err, const char *fmt, unsigned long long a, unsigned long long b) {
    return sk_fail(err, SPARSEK_CACHE_CORRUPT, fmt, a, b);
}

/* Checks the framing (magic, version, lengths, checksum); sets the metadata and cubin spans. */
static sparsek_status parse_frame(const unsigned char *p, size_t size, const unsigned char **meta, size_t *meta_len,
                                  const unsigned char **cubin, size_t *cubin_len, sk_err *err) {
    size_t m = size < MAGIC_LEN ? size : MAGIC_LEN;
    if (memcmp(p, MAGIC, m) != 0)
        return sk_fail(err, SPARSEK_CACHE_CORRUPT, "bad magic: not a sparsek cache entry");
    if (size < HEAD_LEN)
        return corrupt(err, "truncated: expected at least %llu bytes, file has %llu", HEAD_LEN, size);
    uint64_t version = get_le(p + MAGIC_LEN, 4);
    if (version != FORMAT_VERSION)
        return corrupt(err, "unsupported format version %llu (this library reads version %llu)", version,
                       FORMAT_VERSION);
    uint64_t ml = get_le(p + MAGIC_LEN + 4, 4);
    if (ml > MAX_META) return corrupt(err, "metadata length %llu exceeds the limit of %llu", ml, MAX_META);
    if (size < HEAD_LEN + ml + 8)
        return corrupt(err, "truncated: expected at least %llu bytes, file has %llu", HEAD_LEN + ml + 8, size);
    uint64_t cl = get_le(p + HEAD_LEN + ml, 8);
    if (cl > MAX_CUBIN) return corrupt(err, "cubin length %llu exceeds the limit of %llu", cl, MAX_CUBIN);
    uint64_t want = FIXED_LEN + ml + cl;
    if (size < want) return corrupt(err, "truncated: expected %llu bytes, file has %llu", want, size);
    if (size > want) return corrupt(err, "trailing garbage: expected %llu bytes, file has %llu", want, size);
    uint8_t sum[32];
    sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, p, size - 32);
    sk_sha256_final(&c, sum);
    if (memcmp(sum, p + size - 32, 32) != 0) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "checksum mismatch");
    *meta = p + HEAD_LEN;
    *meta_len = (size_t)ml;
    *cubin = p + HEAD_LEN + ml + 8;
    *cubin_len = (size_t)cl;
    return SPARSEK_OK;
}

static const field *field_find(const char *name, size_t n) {
    for (int i = 0; i < NFIELDS; i++)
        if (strlen(FIELDS[i].name) == n && memcmp(FIELDS[i].name, name, n) == 0) return &FIELDS[i];
    return NULL;
}

/* Parses the `name=value\n` lines into e; every known field exactly once, nothing else. */
static sparsek_status parse_meta(const char *s, size_t n, sk_cache_entry *e, sk_err *err) {
    int seen[NFIELDS] = {0};
    size_t i = 0;
    while (i < n) {
        const char *line = s + i;
        const char *nl = memchr(line, '\n', n - i);
        if (!nl) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "metadata does not end with a newline");
        size_t len = (size_t)(nl - line);
        i += len + 1;
        const char *eq = memchr(line, '=', len);
        if (!eq) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "metadata line without '='");
        const field *f = field_find(line, (size_t)(eq - line));
        if (!f)
            return sk_fail(err, SPARSEK_CACHE_CORRUPT, "unknown metadata field \"%.*s\"",
                           (int)((eq - line) > 64 ? 64 : (eq - line)), line);
        if (seen[f - FIELDS]++) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "metadata field %s appears twice", f->name);
        char *value = NULL;
        sparsek_status st = unescape(eq + 1, len - (size_t)(eq + 1 - line), &value, err);
        if (st) {
            if (st == SPARSEK_CACHE_CORRUPT) sk_err_prefix(err, "metadata field %s", f->name);
            return st;
        }
        if ((st = field_set(e, f, value, err))) return st;
    }
    for (int k = 0; k < NFIELDS; k++)
        if (!seen[k]) return sk_fail(err, SPARSEK_CACHE_CORRUPT, "metadata field %s is missing", FIELDS[k].name);
    return SPARSEK_OK;
}

sparsek_status sk_cache_parse(const void *data, size_t size, sk_cache_entry *e, sk_err *err) {
    if (e) memset(e, 0, sizeof *e);
    if (!e || (!data && size)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_parse: NULL argument");
    const unsigned char *meta = NULL, *cubin = NULL;
    size_t meta_len = 0, cubin_len = 0;
    sparsek_status st = parse_frame(data ? data : (const void *)"", size, &meta, &meta_len, &cubin, &cubin_len, err);
    if (st) return st;
    sk_cache_entry t;
    memset(&t, 0, sizeof t);
    st = parse_meta((const char *)meta, meta_len, &t, err);
    if (st) goto fail;
    /* The key must be the one its own fields give: else it is stale (made by other rules) or
     * was edited, and its cubin does not belong to that key. */
    char k[65];
    entry_key(&t, k);
    if (strcmp(k, t.key) != 0) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "stale entry: key %s does not match the key of its metadata (%s)",
                     t.key, k);
        goto fail;
    }
    t.cubin = malloc(cubin_len ? cubin_len : 1);
    if (!t.cubin) {
        st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory reading a cubin of %zu bytes", cubin_len);
        goto fail;
    }
    memcpy(t.cubin, cubin, cubin_len);
    t.cubin_size = cubin_len;
    *e = t;
    return SPARSEK_OK;
fail:
    sk_cache_entry_clear(&t);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */

/* Reads the whole file through one descriptor. The size is checked before allocating, and the
 * descriptor pins the inode, so a concurrent rename over the path cannot mix two files.
 * *id gets the inode read (for remove_if_same); *absent is set when the file does not exist. */
static sparsek_status load_file(const char *path, unsigned char **out, size_t *size, struct stat *id, int *absent,
                                sk_err *err) {
    *out = NULL;
    *size = 0;
    if (absent) *absent = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && absent) *absent = 1;
        return sk_fail(err, SPARSEK_IO, "cannot open %s: %s", path, strerror(errno));
    }
    sparsek_status st = SPARSEK_OK;
    unsigned char *buf = NULL;
    if (fstat(fd, id) != 0) {
        st = sk_fail(err, SPARSEK_IO, "cannot stat %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(id->st_mode)) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)id->st_size > MAX_FILE) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "%s: file of %lld bytes exceeds the entry size limit of %llu", path,
                     (long long)id->st_size, (unsigned long long)MAX_FILE);
        goto done;
    }
    size_t want = (size_t)id->st_size, got = 0;
    /* One spare byte notices a file that grows while we read it (someone writing in place). */
    buf = malloc(want + 1);
    if (!buf) {
        st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory reading %s", path);
        goto done;
    }
    while (got < want + 1) {
        ssize_t r = read(fd, buf + got, want + 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = sk_fail(err, SPARSEK_IO, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got > want) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "%s: file changed while it was read", path);
        goto done;
    }
    *out = buf;
    *size = got;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return st;
}

/* A name <64 hex>.skc promises its key; other names (a copied file) promise nothing. */
static const char *key_of_name(const char *path, char key[65]) {
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (strlen(name) != 68 || strcmp(name + 64, ".skc") != 0) return NULL;
    memcpy(key, name, 64);
    key[64] = 0;
    return is_key(key) ? key : NULL;
}

static sparsek_status read_entry(const char *path, sk_cache_entry *e, struct stat *id, int *absent, sk_err *err) {
    unsigned char *data;
    size_t size;
    sparsek_status st = load_file(path, &data, &size, id, absent, err);
    if (st) return st;
    st = sk_cache_parse(data, size, e, err);
    free(data);
    if (st) {
        if (st == SPARSEK_CACHE_CORRUPT) sk_err_prefix(err, "%s", path);
        return st;
    }
    char name_key[65];
    if (key_of_name(path, name_key) && strcmp(name_key, e->key) != 0) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "%s: key mismatch: the file holds the entry for %s", path, e->key);
        sk_cache_entry_clear(e);
    }
    return st;
}

sparsek_status sk_cache_read(const char *path, sk_cache_entry *e, sk_err *err) {
    if (e) memset(e, 0, sizeof *e);
    if (!path || !e) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_read: NULL argument");
    struct stat id;
    return read_entry(path, e, &id, NULL, err);
}

/* Removes a bad entry, but only if the path still names the file we judged: a writer may have
 * renamed a fresh, good entry over it meanwhile, and that one must stay. Returns a note for the
 * error message. */
static const char *remove_if_same(const char *path, const struct stat *id) {
    struct stat now;
    /* stat, not lstat: the inode we judged is the one open() reached, through any symlink. */
    if (stat(path, &now) != 0) return errno == ENOENT ? "already removed" : "could not check it for removal";
    if (now.st_dev != id->st_dev || now.st_ino != id->st_ino) return "kept: replaced meanwhile by a new entry";
    if (!S_ISREG(now.st_mode)) return "not removed: not a regular file";
    if (unlink(path) != 0 && errno != ENOENT) return "could not remove it";
    return "removed";
}

sparsek_status sk_cache_lookup(const char *dir, const char *key, const char *arch, sk_cache_entry *e, sk_err *err) {
    if (e) memset(e, 0, sizeof *e);
    if (!dir || !key || !arch || !e) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_lookup: NULL argument");
    if (!*dir) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_lookup: empty cache directory");
    if (!is_key(key))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_lookup: key is not 64 lowercase hex characters");
    char name[69];
    snprintf(name, sizeof name, "%s.skc", key);
    char *path = join(dir, name);
    if (!path) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    struct stat id;
    memset(&id, 0, sizeof id);
    int absent = 0;
    sparsek_status st = read_entry(path, e, &id, &absent, err);
    if (absent) {
        st = sk_fail(err, SPARSEK_CACHE_MISS, "no cache entry %s", path);
    } else if (st == SPARSEK_OK && strcmp(e->arch, arch) != 0) {
        st = sk_fail(err, SPARSEK_CACHE_CORRUPT, "%s: built for %s, this device is %s", path, e->arch, arch);
        sk_cache_entry_clear(e);
    }
    if (st == SPARSEK_CACHE_CORRUPT) {
        /* Removing it is what makes the next compile rebuild and rewrite it. */
        const char *note = remove_if_same(path, &id);
        if (err) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, " (%s)", note);
        }
    }
    free(path);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The rename is durable only once the folder itself is synced. Some file systems cannot sync a
 * folder (EINVAL); the entry is then as durable as that file system allows. */
static sparsek_status sync_dir(const char *dir, sk_err *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sk_fail(err, SPARSEK_IO, "cannot open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return sk_fail(err, SPARSEK_IO, "cannot sync %s: %s", dir, strerror(e));
    return SPARSEK_OK;
}

/* Writes bytes to a fresh temp file in dir and renames it to path. Each writer has its own temp
 * file, and rename replaces atomically, so concurrent writers of one key leave one whole entry. */
static sparsek_status write_atomic(const char *dir, const char *path, const sk_buf *b, sk_err *err) {
    char *tmp = join(dir, ".tmp-XXXXXX");
    if (!tmp) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    /* O_CLOEXEC: the runtime may fork compiler children, which must not inherit the file. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        sparsek_status st = sk_fail(err, SPARSEK_IO, "cannot create a temp file in %s: %s", dir, strerror(errno));
        free(tmp);
        return st;
    }
    sparsek_status st = SPARSEK_OK;
    /* mkstemp makes 0600; entries are plain data that any user of a shared cache may read. */
    if (fchmod(fd, 0644) != 0) st = sk_fail(err, SPARSEK_IO, "cannot chmod %s: %s", tmp, strerror(errno));
    if (!st && write_all(fd, b->data, b->len) != 0)
        st = sk_fail(err, SPARSEK_IO, "cannot write %s: %s", tmp, strerror(errno));
    /* fsync before rename: else a crash can leave the new name pointing at unwritten blocks. */
    if (!st && fsync(fd) != 0) st = sk_fail(err, SPARSEK_IO, "cannot sync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !st) st = sk_fail(err, SPARSEK_IO, "cannot close %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = sk_fail(err, SPARSEK_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st) unlink(tmp);
    else st = sync_dir(dir, err);
    free(tmp);
    return st;
}

sparsek_status sk_cache_store(const char *dir, const sk_cache_entry *e, sk_err *err) {
    if (!dir || !e) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_store: NULL argument");
    if (!*dir) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_store: empty cache directory");
    sk_buf b = {0};
    sparsek_status st = sk_cache_serialize(e, &b, err);
    if (st) return st;
    char name[69];
    snprintf(name, sizeof name, "%s.skc", e->key);
    char *path = join(dir, name);
    if (!path) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    if (!st) st = sk_mkdirs(dir, err);
    if (!st) st = write_atomic(dir, path, &b, err);
    free(path);
    sk_buf_free(&b);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Folder                                                                                     */

/* Empty variables count as unset: `VAR= cmd` is a common way to switch one off. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* dir + "/" + leaf, without doubling a trailing slash of dir. */
static char *under(const char *dir, const char *leaf) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    return sk_asprintf("%.*s/%s", (int)n, dir, leaf);
}

sparsek_status sk_cache_dir_resolve(const char *explicit_dir, char **out, sk_err *err) {
    if (out) *out = NULL;
    if (!out) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_dir_resolve: NULL argument");
    if (explicit_dir && !*explicit_dir)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "the cache directory given is an empty string");
    const char *v;
    char *r;
    if (explicit_dir) r = sk_strdup(explicit_dir);
    else if ((v = env("SPARSEK_CACHE_DIR"))) r = sk_strdup(v);
    /* The XDG spec says relative paths in XDG_* are invalid and must be ignored. */
    else if ((v = env("XDG_CACHE_HOME")) && v[0] == '/') r = under(v, "sparsek");
    else if ((v = env("HOME"))) r = under(v, ".cache/sparsek");
    else
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                       "cannot determine the cache directory: none given and SPARSEK_CACHE_DIR, "
                       "XDG_CACHE_HOME and HOME are unset");
    if (!r) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    *out = r;
    return SPARSEK_OK;
}

static int is_entry_name(const char *n) { return n[0] != '.' && strlen(n) > 4 && ends_with(n, ".skc"); }
static int is_temp_name(const char *n) { return strncmp(n, ".tmp-", 5) == 0; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Opens dir; a folder that does not exist is an empty cache, not an error (*d stays NULL). */
static sparsek_status open_dir(const char *dir, DIR **d, sk_err *err) {
    *d = opendir(dir);
    if (!*d && errno != ENOENT) return sk_fail(err, SPARSEK_IO, "cannot open %s: %s", dir, strerror(errno));
    return SPARSEK_OK;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

sparsek_status sk_cache_list(const char *dir, char ***paths, int *count, sk_err *err) {
    if (paths) *paths = NULL;
    if (count) *count = 0;
    if (!dir || !paths || !count) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_list: NULL argument");
    DIR *d;
    sparsek_status st = open_dir(dir, &d, err);
    if (st || !d) return st;
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!is_entry_name(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) { st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory"); break; }
            v = nv;
        }
        if (!(v[n] = join(dir, de->d_name))) { st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory"); break; }
        n++;
        errno = 0;
    }
    if (!st && errno) st = sk_fail(err, SPARSEK_IO, "cannot read %s: %s", dir, strerror(errno));
    closedir(d);
    if (st) {
        free_list(v, n);
        return st;
    }
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *paths = v;
    *count = n;
    return SPARSEK_OK;
}

sparsek_status sk_cache_clean(const char *dir, int *removed, sk_err *err) {
    if (removed) *removed = 0;
    if (!dir || !removed) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_cache_clean: NULL argument");
    DIR *d;
    sparsek_status st = open_dir(dir, &d, err);
    if (st || !d) return st;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!is_entry_name(de->d_name) && !is_temp_name(de->d_name)) { errno = 0; continue; }
        char *p = join(dir, de->d_name);
        if (!p) { st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory"); break; }
        /* ENOENT: another process cleaned or renamed it first; nothing left to count. */
        if (unlink(p) == 0) (*removed)++;
        else if (errno != ENOENT) st = sk_fail(err, SPARSEK_IO, "cannot remove %s: %s", p, strerror(errno));
        free(p);
        if (st) break;
        errno = 0;
    }
    if (!st && errno) st = sk_fail(err, SPARSEK_IO, "cannot read %s: %s", dir, strerror(errno));
    closedir(d);
    return st;
}
