/* test_cache.c — the on-disk kernel cache: key injectivity, entry format round trip, every kind
 * of corrupt entry (truncated, flipped bytes, bad header, bad metadata with a valid checksum,
 * renamed, stale, foreign arch), list/clean, concurrent writers of one key, folder resolution
 * and argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sk_cache.h"
#include "sk_sha256.h"
#include "sk_test_util.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */

static const char ODD[] = "a=b\nc\\d\\n \\x41 \t\r\x01\x7f = é 日本語 \xf0\x9f\x98\x80 end\\";

/* Fills e with borrowed strings (never pass it to sk_cache_entry_clear) and a matching key. */
static void make_entry(sk_cache_entry *e, const char *arch, const char *config, const unsigned char *cubin,
                       size_t cubin_size) {
    memset(e, 0, sizeof *e);
    e->family = "fmha_fwd";
    e->arch = (char *)arch;
    e->template_name = "fmha_fwd.cut";
    e->config = (char *)config;
    e->kernel_name = "sk_fmha_fwd_d128";
    e->grid_rule = "ceil(seqlen_q/128),heads,batch";
    e->gen_digest = "0123456789abcdef";
    e->toolchain = "nvrtc-13.0";
    e->options = "--std=c++17 -default-device";
    e->block[0] = 128; e->block[1] = 1; e->block[2] = 1;
    e->cluster[0] = 1; e->cluster[1] = 1; e->cluster[2] = 1;
    e->dynamic_smem = 49152;
    e->registers = 168; e->spill_stores = 0; e->spill_loads = 4; e->stack_frame = 16; e->static_smem = 0;
    e->bucket = "";
    e->time_us = 0;
    e->gpu = "";
    e->created = 1700000000;
    e->cubin = (void *)cubin;
    e->cubin_size = cubin_size;
    sk_cache_key(e->gen_digest, e->family, e->config, e->options, e->toolchain, e->arch, e->key);
}

static void assert_entries_equal(const sk_cache_entry *a, const sk_cache_entry *b) {
    assert_string_equal(a->key, b->key);
    assert_string_equal(a->family, b->family);
    assert_string_equal(a->arch, b->arch);
    assert_string_equal(a->template_name, b->template_name);
    assert_string_equal(a->config, b->config);
    assert_string_equal(a->kernel_name, b->kernel_name);
    assert_string_equal(a->grid_rule, b->grid_rule);
    assert_string_equal(a->gen_digest, b->gen_digest);
    assert_string_equal(a->toolchain, b->toolchain);
    assert_string_equal(a->options, b->options);
    assert_memory_equal(a->block, b->block, sizeof a->block);
    assert_memory_equal(a->cluster, b->cluster, sizeof a->cluster);
    assert_int_equal(a->dynamic_smem, b->dynamic_smem);
    assert_int_equal(a->registers, b->registers);
    assert_int_equal(a->spill_stores, b->spill_stores);
    assert_int_equal(a->spill_loads, b->spill_loads);
    assert_int_equal(a->stack_frame, b->stack_frame);
    assert_int_equal(a->static_smem, b->static_smem);
    assert_string_equal(a->bucket, b->bucket);
    assert_true(memcmp(&a->time_us, &b->time_us, sizeof a->time_us) == 0); /* bit-exact */
    assert_string_equal(a->gpu, b->gpu);
    assert_true(a->created == b->created);
    assert_int_equal(a->cubin_size, b->cubin_size);
    if (a->cubin_size) assert_memory_equal(a->cubin, b->cubin, a->cubin_size);
}

static char *entry_path(const char *dir, const char *key) {
    char *p = malloc(strlen(dir) + 80);
    assert_non_null(p);
    sprintf(p, "%s/%s.skc", dir, key);
    return p;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void put_le(sk_buf *b, uint64_t v, int n) {
    unsigned char t[8];
    for (int i = 0; i < n; i++) t[i] = (unsigned char)(v >> (8 * i));
    sk_buf_put(b, t, (size_t)n);
}

/* Builds an entry file by hand, independently of sk_cache.c, with a valid checksum. */
static void build_file(sk_buf *out, uint32_t version, const char *meta, size_t meta_len, const void *cubin,
                       size_t cubin_len) {
    memset(out, 0, sizeof *out);
    sk_buf_put(out, "SPARSEKC", 8);
    put_le(out, version, 4);
    put_le(out, meta_len, 4);
    sk_buf_put(out, meta, meta_len);
    put_le(out, cubin_len, 8);
    sk_buf_put(out, cubin, cubin_len);
    uint8_t sum[32];
    sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, out->data, out->len);
    sk_sha256_final(&c, sum);
    sk_buf_put(out, sum, 32);
    assert_false(out->oom);
}

/* Re-seals a modified file: recomputes its trailing checksum. */
static void reseal(sk_buf *b) {
    uint8_t sum[32];
    sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, b->data, b->len - 32);
    sk_sha256_final(&c, sum);
    memcpy(b->data + b->len - 32, sum, 32);
}

/* Writes bytes as <dir>/<key>.skc, looks the key up and checks CORRUPT, the reason and that the
 * file was removed. */
static void expect_corrupt_file(const char *dir, const char *key, const char *arch, const void *data, size_t n,
                                const char *reason) {
    char *path = entry_path(dir, key);
    assert_int_equal(skt_write_file(path, data, n), 0);
    sk_cache_entry e;
    sk_err err;
    sparsek_status st = sk_cache_lookup(dir, key, arch, &e, &err);
    if (st != SPARSEK_CACHE_CORRUPT) fprintf(stderr, "size %zu: status %d: %s\n", n, st, st ? err.msg : "");
    assert_int_equal(st, SPARSEK_CACHE_CORRUPT);
    assert_non_null(strstr(err.msg, path));
    if (reason && !strstr(err.msg, reason)) fail_msg("expected \"%s\" in \"%s\"", reason, err.msg);
    assert_non_null(strstr(err.msg, "(removed)"));
    assert_false(exists(path));
    assert_null(e.family);
    assert_null(e.cubin);
    free(path);
}

static void expect_corrupt_mem(const void *data, size_t n, const char *reason) {
    sk_cache_entry e;
    sk_err err;
    sparsek_status st = sk_cache_parse(data, n, &e, &err);
    if (st != SPARSEK_CACHE_CORRUPT) fprintf(stderr, "size %zu: status %d\n", n, st);
    assert_int_equal(st, SPARSEK_CACHE_CORRUPT);
    if (reason && !strstr(err.msg, reason)) fail_msg("expected \"%s\" in \"%s\"", reason, err.msg);
    assert_null(e.family);
    assert_null(e.cubin);
}

static const unsigned char SMALL_CUBIN[16] = {0x7f, 'E', 'L', 'F', 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0x80, 0x0a};

static void small_file(sk_buf *b, sk_cache_entry *e) {
    make_entry(e, "sm_80", "d=64 dtype=fp16", SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_err err;
    assert_int_equal(sk_cache_serialize(e, b, &err), SPARSEK_OK);
}

/* The metadata text of a serialised file (the bytes between the header and the cubin length). */
static char *meta_of(const sk_buf *b, size_t *len) {
    uint32_t n = (uint32_t)(unsigned char)b->data[12] | (uint32_t)(unsigned char)b->data[13] << 8 |
                 (uint32_t)(unsigned char)b->data[14] << 16 | (uint32_t)(unsigned char)b->data[15] << 24;
    char *m = malloc(n + 1);
    assert_non_null(m);
    memcpy(m, b->data + 16, n);
    m[n] = 0;
    *len = n;
    return m;
}

/* Replaces the first line starting with `prefix` by `repl` (which may be "" to delete it). */
static char *edit_line(const char *meta, const char *prefix, const char *repl) {
    const char *p = meta;
    while (strncmp(p, prefix, strlen(prefix)) != 0) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *end = strchr(p, '\n') + 1;
    char *r = malloc(strlen(meta) + strlen(repl) + 1);
    assert_non_null(r);
    sprintf(r, "%.*s%s%s", (int)(p - meta), meta, repl, end);
    return r;
}

static int setup_dir(void **state) {
    *state = skt_tmpdir("cache");
    return 0;
}

static int teardown_dir(void **state) {
    skt_rmtree(*state);
    free(*state);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                       */

static void test_key_deterministic(void **state) {
    char a[65], b[65];
    sk_cache_key("g", "fmha_fwd", "d=128", "-O3", "nvrtc-13.0", "sm_90a", a);
    sk_cache_key("g", "fmha_fwd", "d=128", "-O3", "nvrtc-13.0", "sm_90a", b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 64);
    for (int i = 0; i < 64; i++) assert_non_null(strchr("0123456789abcdef", a[i]));
    sk_cache_key("g", "fmha_fwd", "d=128", "-O3", "nvrtc-13.0", "sm_80", b);
    assert_string_not_equal(a, b);
    sk_cache_key(NULL, NULL, NULL, NULL, NULL, NULL, NULL); /* must not crash */
}

static void test_key_injective(void **state) {
    /* Bytes shifted between each pair of neighbouring fields, every field NULL vs "", and text
     * that looks like the serialisation itself must all give different keys. */
    const char *v[][6] = {
        {"ab", "cd", "ef", "gh", "ij", "kl"},
        {"a", "bcd", "ef", "gh", "ij", "kl"},   {"abc", "d", "ef", "gh", "ij", "kl"},
        {"ab", "c", "def", "gh", "ij", "kl"},   {"ab", "cde", "f", "gh", "ij", "kl"},
        {"ab", "cd", "e", "fgh", "ij", "kl"},   {"ab", "cd", "efg", "h", "ij", "kl"},
        {"ab", "cd", "ef", "g", "hij", "kl"},   {"ab", "cd", "ef", "ghi", "j", "kl"},
        {"ab", "cd", "ef", "gh", "i", "jkl"},   {"ab", "cd", "ef", "gh", "ijk", "l"},
        {"", "abcd", "ef", "gh", "ij", "kl"},   {"abcd", "", "ef", "gh", "ij", "kl"},
        {NULL, "cd", "ef", "gh", "ij", "kl"},   {"", "cd", "ef", "gh", "ij", "kl"},
        {"ab", NULL, "ef", "gh", "ij", "kl"},   {"ab", "", "ef", "gh", "ij", "kl"},
        {"ab", "cd", NULL, "gh", "ij", "kl"},   {"ab", "cd", "", "gh", "ij", "kl"},
        {"ab", "cd", "ef", NULL, "ij", "kl"},   {"ab", "cd", "ef", "", "ij", "kl"},
        {"ab", "cd", "ef", "gh", NULL, "kl"},   {"ab", "cd", "ef", "gh", "", "kl"},
        {"ab", "cd", "ef", "gh", "ij", NULL},   {"ab", "cd", "ef", "gh", "ij", ""},
        {NULL, NULL, NULL, NULL, NULL, NULL},   {"", "", "", "", "", ""},
        {"ab", "cd\nconfig=2:ef", "", "gh", "ij", "kl"},
        {"ab", "cd", "ef\noptions=2:gh\n", "", "ij", "kl"},
        {"-1:", "cd", "ef", "gh", "ij", "kl"},
    };
    int n = (int)(sizeof v / sizeof v[0]);
    char keys[64][65];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++) sk_cache_key(v[i][0], v[i][1], v[i][2], v[i][3], v[i][4], v[i][5], keys[i]);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (!strcmp(keys[i], keys[j])) fail_msg("rows %d and %d give the same key", i, j);
}

/* ------------------------------------------------------------------------------------------ */
/* Format                                                                                     */

static void test_serialize_roundtrip(void **state) {
    unsigned char cubin[256 * 3];
    for (size_t i = 0; i < sizeof cubin; i++) cubin[i] = (unsigned char)(i * 7);
    const double times[] = {0.1 + 0.2, 1e-300, 123456.789012345678, 5e-324, 1.7976931348623157e308, -0.0, 0};
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        sk_cache_entry e;
        make_entry(&e, "sm_90a", ODD, cubin, t == 0 ? 0 : sizeof cubin);
        if (t == 0) e.cubin = NULL; /* no cubin at all is allowed and comes back as size 0 */
        e.template_name = "tmpl\\n\n=";
        e.kernel_name = "k\x02\x1f";
        e.grid_rule = "=\n=";
        e.bucket = "sq<=4096 \\";
        e.gpu = "NVIDIA H100 80GB HBM3 — ünï";
        e.block[0] = UINT_MAX; e.block[1] = 0; e.block[2] = 7;
        e.cluster[0] = 2; e.cluster[1] = 1; e.cluster[2] = UINT_MAX;
        e.dynamic_smem = UINT_MAX;
        e.registers = INT_MAX; e.spill_stores = INT_MIN; e.spill_loads = -1;
        e.stack_frame = 0; e.static_smem = 1;
        e.time_us = times[t];
        e.created = t & 1 ? LLONG_MIN : LLONG_MAX;
        sk_buf b = {0};
        sk_err err;
        assert_int_equal(sk_cache_serialize(&e, &b, &err), SPARSEK_OK);
        /* Every metadata value sits on one line: no raw newline or control byte escapes. */
        size_t ml;
        char *meta = meta_of(&b, &ml);
        int lines = 0;
        for (size_t i = 0; i < ml; i++) {
            if (meta[i] == '\n') lines++;
            else assert_true((unsigned char)meta[i] >= 0x20 && meta[i] != 0x7f);
        }
        assert_int_equal(lines, 22);
        assert_non_null(strstr(meta, "block=4294967295,0,7\n"));
        free(meta);
        sk_cache_entry r;
        assert_int_equal(sk_cache_parse(b.data, b.len, &r, &err), SPARSEK_OK);
        assert_entries_equal(&e, &r);
        assert_non_null(r.cubin);
        sk_cache_entry_clear(&r);
        assert_null(r.family);
        sk_buf_free(&b);
    }
    sk_cache_entry_clear(NULL);
}

static void test_store_lookup_roundtrip(void **state) {
    const char *dir = *state;
    char *nested = sk_asprintf("%s/a/b/c", dir);
    unsigned char cubin[1000];
    for (size_t i = 0; i < sizeof cubin; i++) cubin[i] = (unsigned char)(i ^ 0x5a);
    sk_cache_entry e;
    make_entry(&e, "sm_90a", ODD, cubin, sizeof cubin);
    e.bucket = "sq=8192";
    e.time_us = 12.345678901234567;
    e.gpu = "NVIDIA H100";
    sk_err err;
    assert_int_equal(sk_cache_store(nested, &e, &err), SPARSEK_OK);
    char *path = entry_path(nested, e.key);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(stat(nested, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    sk_cache_entry r;
    assert_int_equal(sk_cache_lookup(nested, e.key, "sm_90a", &r, &err), SPARSEK_OK);
    assert_entries_equal(&e, &r);
    sk_cache_entry_clear(&r);
    assert_int_equal(sk_cache_read(path, &r, &err), SPARSEK_OK);
    assert_entries_equal(&e, &r);
    sk_cache_entry_clear(&r);

    /* Overwriting replaces the entry; no temp file is left behind. */
    e.cubin_size = 10;
    e.gpu = "other";
    assert_int_equal(sk_cache_store(nested, &e, &err), SPARSEK_OK);
    assert_int_equal(sk_cache_lookup(nested, e.key, "sm_90a", &r, &err), SPARSEK_OK);
    assert_entries_equal(&e, &r);
    sk_cache_entry_clear(&r);
    char *out = NULL;
    char *cmd = sk_asprintf("ls -A '%s'", nested);
    assert_int_equal(skt_run(cmd, &out), 0);
    char want[80];
    sprintf(want, "%s.skc\n", e.key);
    assert_string_equal(out, want);
    free(out);
    free(cmd);

    /* Another key is a miss, and says so. */
    char other[65];
    sk_cache_key("x", "y", "z", "", "t", "sm_90a", other);
    assert_int_equal(sk_cache_lookup(nested, other, "sm_90a", &r, &err), SPARSEK_CACHE_MISS);
    assert_non_null(strstr(err.msg, other));
    assert_null(r.family);
    /* A missing folder is a miss too, not an IO error. */
    char *nodir = sk_asprintf("%s/none", dir);
    assert_int_equal(sk_cache_lookup(nodir, other, "sm_90a", &r, &err), SPARSEK_CACHE_MISS);
    /* A file copied under a name that is not a key is read without the name check. */
    char *copy = sk_asprintf("%s/copy.skc", dir);
    char *cp = sk_asprintf("cp '%s' '%s'", path, copy);
    assert_int_equal(skt_run(cp, NULL), 0);
    assert_int_equal(sk_cache_read(copy, &r, &err), SPARSEK_OK);
    assert_entries_equal(&e, &r);
    sk_cache_entry_clear(&r);
    free(cp);
    free(copy);
    free(nodir);
    free(path);
    free(nested);
}

/* ------------------------------------------------------------------------------------------ */
/* Corrupt entries                                                                            */

static void test_truncated_every_offset(void **state) {
    const char *dir = *state;
    sk_buf b = {0};
    sk_cache_entry e;
    small_file(&b, &e);
    for (size_t n = 0; n < b.len; n++) {
        expect_corrupt_mem(b.data, n, "truncated");
        expect_corrupt_file(dir, e.key, "sm_80", b.data, n, "truncated");
    }
    /* The full file is fine, and the message names both sizes. */
    sk_cache_entry r;
    sk_err err;
    assert_int_equal(sk_cache_parse(b.data, b.len, &r, &err), SPARSEK_OK);
    sk_cache_entry_clear(&r);
    assert_int_equal(sk_cache_parse(b.data, b.len - 1, &r, &err), SPARSEK_CACHE_CORRUPT);
    char want[128];
    sprintf(want, "truncated: expected %zu bytes, file has %zu", b.len, b.len - 1);
    assert_string_equal(err.msg, want);
    sk_buf_free(&b);
}

static void test_flipped_bytes(void **state) {
    const char *dir = *state;
    sk_buf b = {0};
    sk_cache_entry e;
    small_file(&b, &e);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit += (i % 11 == 0) ? 1 : 8) {
            b.data[i] ^= (char)(1 << bit);
            expect_corrupt_mem(b.data, b.len, NULL);
            if (i % 7 == 0 && bit == 0) expect_corrupt_file(dir, e.key, "sm_80", b.data, b.len, NULL);
            b.data[i] ^= (char)(1 << bit);
        }
    }
    /* Inside the metadata or the cubin, it is the checksum that notices. */
    b.data[20] ^= 1;
    expect_corrupt_mem(b.data, b.len, "checksum mismatch");
    b.data[20] ^= 1;
    b.data[b.len - 40] ^= 1;
    expect_corrupt_file(dir, e.key, "sm_80", b.data, b.len, "checksum mismatch");
    b.data[b.len - 40] ^= 1;
    sk_buf_free(&b);
}

static void test_bad_header(void **state) {
    const char *dir = *state;
    sk_buf b = {0};
    sk_cache_entry e;
    small_file(&b, &e);
    sk_buf c = {0};

    /* wrong magic */
    sk_buf_put(&c, b.data, b.len);
    memcpy(c.data, "SPARSEKX", 8);
    reseal(&c);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "bad magic");
    expect_corrupt_mem("ELF", 3, "bad magic");
    expect_corrupt_mem("", 0, "truncated");

    /* wrong version, checksum valid */
    memcpy(c.data, "SPARSEKC", 8);
    c.data[8] = 2;
    reseal(&c);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "unsupported format version 2");
    c.data[8] = 0;
    reseal(&c);
    expect_corrupt_mem(c.data, c.len, "unsupported format version 0");
    sk_buf_free(&c);

    /* trailing garbage, with or without a valid-looking checksum at the end */
    sk_buf_put(&c, b.data, b.len);
    sk_buf_put(&c, "x", 1);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "trailing garbage");
    sk_buf_free(&c);
    sk_buf_put(&c, b.data, b.len);
    sk_buf_put(&c, b.data + b.len - 32, 32);
    expect_corrupt_mem(c.data, c.len, "trailing garbage");
    sk_buf_free(&c);

    /* huge metadata length */
    sk_buf_put(&c, b.data, b.len);
    memset(c.data + 12, 0xff, 4);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "exceeds the limit");
    c.data[12] = 1; c.data[13] = 0; c.data[14] = 0x10; c.data[15] = 0; /* 1 MiB + 1 */
    expect_corrupt_mem(c.data, c.len, "exceeds the limit");
    c.data[12] = 0; c.data[13] = 0; c.data[14] = 0x10; c.data[15] = 0; /* 1 MiB: allowed, but longer than the file */
    expect_corrupt_mem(c.data, c.len, "truncated");
    sk_buf_free(&c);

    /* huge cubin length */
    size_t ml;
    free(meta_of(&b, &ml));
    sk_buf_put(&c, b.data, b.len);
    memset(c.data + 16 + ml, 0xff, 8);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "exceeds the limit");
    memset(c.data + 16 + ml, 0, 8);
    c.data[16 + ml + 3] = 0x40; /* exactly 1 GiB: allowed, but longer than the file */
    expect_corrupt_mem(c.data, c.len, "truncated");
    sk_buf_free(&c);

    /* not a regular file */
    char *path = entry_path(dir, e.key);
    assert_int_equal(mkdir(path, 0755), 0);
    sk_cache_entry r;
    sk_err err;
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_80", &r, &err), SPARSEK_CACHE_CORRUPT);
    assert_non_null(strstr(err.msg, "not a regular file"));
    rmdir(path);
    free(path);
    sk_buf_free(&b);
}

/* Metadata edits with a valid checksum: the checksum says the bytes are as written, but the
 * contents are not an entry this library would write, so they are still rejected. */
static void test_bad_metadata(void **state) {
    const char *dir = *state;
    sk_buf b = {0};
    sk_cache_entry e;
    small_file(&b, &e);
    size_t ml;
    char *meta = meta_of(&b, &ml);
    char keyline[80];
    sprintf(keyline, "key=%s\n", e.key);
    struct {
        const char *prefix, *repl, *reason;
    } cases[] = {
        {"gpu=", "", "metadata field gpu is missing"},
        {"key=", "", "metadata field key is missing"},
        {"created=", "", "metadata field created is missing"},
        {"time_us=", "", "metadata field time_us is missing"},
        {"family=", "family=fmha_fwd\nfamily=fmha_fwd\n", "appears twice"},
        {"gpu=", "gpu=\ncolour=blue\n", "unknown metadata field \"colour\""},
        {"gpu=", "gpu=\n\n", "without '='"},
        {"gpu=", "gpu\n", "without '='"},
        {"registers=", "registers=abc\n", "registers has a bad value"},
        {"registers=", "registers=2147483648\n", "registers has a bad value"},
        {"registers=", "registers=+1\n", "registers has a bad value"},
        {"registers=", "registers=007\n", "registers has a bad value"},
        {"registers=", "registers=\n", "registers has a bad value"},
        {"dynamic_smem=", "dynamic_smem=-1\n", "dynamic_smem has a bad value"},
        {"dynamic_smem=", "dynamic_smem=4294967296\n", "dynamic_smem has a bad value"},
        {"block=", "block=1,2\n", "block has a bad value"},
        {"block=", "block=1,2,3,4\n", "block has a bad value"},
        {"block=", "block=1,,3\n", "block has a bad value"},
        {"cluster=", "cluster=1,4294967296,1\n", "cluster has a bad value"},
        {"created=", "created=99999999999999999999\n", "created has a bad value"},
        {"time_us=", "time_us=nan\n", "time_us has a bad value"},
        {"time_us=", "time_us=inf\n", "time_us has a bad value"},
        {"time_us=", "time_us=1.5x\n", "time_us has a bad value"},
        {"key=", "key=ABC\n", "key has a bad value"},
        {"config=", "config=a\\q\n", "bad escape"},
        {"config=", "config=a\\\n", "bad escape"},
        {"config=", "config=a\\x0\n", "bad escape"},
        {"config=", "config=a\\x00b\n", "bad escape"},
        {"config=", "config=a\tb\n", "bad escape or control character"},
        {"config=", "config=x\n", "stale entry"},      /* key no longer matches its fields */
        {"family=", "family=other\n", "stale entry"},
        {"toolchain=", "toolchain=nvrtc-12.8\n", "stale entry"},
    };
    sk_buf c;
    /* Sanity: the hand builder makes a valid file from unchanged metadata. */
    build_file(&c, 1, meta, ml, SMALL_CUBIN, sizeof SMALL_CUBIN);
    assert_int_equal(c.len, b.len);
    assert_memory_equal(c.data, b.data, b.len);
    sk_buf_free(&c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *m = edit_line(meta, cases[i].prefix, cases[i].repl);
        build_file(&c, 1, m, strlen(m), SMALL_CUBIN, sizeof SMALL_CUBIN);
        expect_corrupt_mem(c.data, c.len, cases[i].reason);
        if (i % 4 == 0) expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, cases[i].reason);
        sk_buf_free(&c);
        free(m);
    }
    /* No final newline; no metadata at all. */
    build_file(&c, 1, meta, ml - 1, SMALL_CUBIN, sizeof SMALL_CUBIN);
    expect_corrupt_mem(c.data, c.len, "does not end with a newline");
    sk_buf_free(&c);
    build_file(&c, 1, "", 0, SMALL_CUBIN, sizeof SMALL_CUBIN);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "missing");
    sk_buf_free(&c);
    /* Fields in another order are fine: the reader does not depend on the writer's order. */
    char *m1 = edit_line(meta, "key=", "");
    char *m2 = sk_asprintf("%s%s", m1, keyline);
    build_file(&c, 1, m2, strlen(m2), SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_cache_entry r;
    sk_err err;
    assert_int_equal(sk_cache_parse(c.data, c.len, &r, &err), SPARSEK_OK);
    assert_entries_equal(&e, &r);
    sk_cache_entry_clear(&r);
    sk_buf_free(&c);
    free(m1);
    free(m2);
    free(meta);
    sk_buf_free(&b);
}

static void test_key_mismatch_renamed(void **state) {
    const char *dir = *state;
    sk_cache_entry a, b;
    make_entry(&a, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    make_entry(&b, "sm_80", "d=128", SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_err err;
    assert_int_equal(sk_cache_store(dir, &a, &err), SPARSEK_OK);
    char *pa = entry_path(dir, a.key), *pb = entry_path(dir, b.key);
    assert_int_equal(rename(pa, pb), 0);
    sk_cache_entry r;
    assert_int_equal(sk_cache_read(pb, &r, &err), SPARSEK_CACHE_CORRUPT);
    assert_non_null(strstr(err.msg, "key mismatch"));
    assert_null(r.family);
    assert_true(exists(pb)); /* read only reports */
    assert_int_equal(sk_cache_lookup(dir, b.key, "sm_80", &r, &err), SPARSEK_CACHE_CORRUPT);
    assert_non_null(strstr(err.msg, "key mismatch"));
    assert_non_null(strstr(err.msg, pb));
    assert_false(exists(pb));
    assert_int_equal(sk_cache_lookup(dir, b.key, "sm_80", &r, &err), SPARSEK_CACHE_MISS);
    free(pa);
    free(pb);
}

static void test_stale_key(void **state) {
    const char *dir = *state;
    sk_buf b = {0};
    sk_cache_entry e;
    small_file(&b, &e);
    size_t ml;
    char *meta = meta_of(&b, &ml);
    /* Same file name and key line, but written by a generator with another digest. */
    char *m = edit_line(meta, "gen_digest=", "gen_digest=fedcba9876543210\n");
    sk_buf c;
    build_file(&c, 1, m, strlen(m), SMALL_CUBIN, sizeof SMALL_CUBIN);
    expect_corrupt_file(dir, e.key, "sm_80", c.data, c.len, "stale entry");
    sk_buf_free(&c);
    free(m);
    free(meta);
    sk_buf_free(&b);
}

static void test_foreign_arch(void **state) {
    const char *dir = *state;
    sk_cache_entry e;
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_err err;
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_OK);
    char *path = entry_path(dir, e.key);
    sk_cache_entry r;
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_90a", &r, &err), SPARSEK_CACHE_CORRUPT);
    assert_non_null(strstr(err.msg, "built for sm_80, this device is sm_90a"));
    assert_non_null(strstr(err.msg, path));
    assert_null(r.family);
    assert_false(exists(path));
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_80", &r, &err), SPARSEK_CACHE_MISS);
    free(path);
}

/* ------------------------------------------------------------------------------------------ */
/* Folder                                                                                     */

static void test_list_and_clean(void **state) {
    const char *dir = *state;
    char **paths = (char **)1;
    int n = -1, removed = -1;
    sk_err err;
    char *missing = sk_asprintf("%s/missing", dir);
    assert_int_equal(sk_cache_list(missing, &paths, &n, &err), SPARSEK_OK);
    assert_int_equal(n, 0);
    assert_null(paths);
    assert_int_equal(sk_cache_clean(missing, &removed, &err), SPARSEK_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(sk_cache_list(dir, &paths, &n, &err), SPARSEK_OK);
    assert_int_equal(n, 0);

    const char *configs[] = {"d=64", "d=128", "d=256"};
    char keys[3][65];
    for (int i = 0; i < 3; i++) {
        sk_cache_entry e;
        make_entry(&e, "sm_90a", configs[i], SMALL_CUBIN, sizeof SMALL_CUBIN);
        assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_OK);
        strcpy(keys[i], e.key);
    }
    /* Leftovers of a crashed writer, and files that are not the cache's. */
    char *tmp = sk_asprintf("%s/.tmp-AbC123", dir), *tmp2 = sk_asprintf("%s/.tmp-x.skc", dir);
    char *other = sk_asprintf("%s/README", dir);
    assert_int_equal(skt_write_file(tmp, "partial", 7), 0);
    assert_int_equal(skt_write_file(tmp2, "partial", 7), 0);
    assert_int_equal(skt_write_file(other, "keep me", 7), 0);

    assert_int_equal(sk_cache_list(dir, &paths, &n, &err), SPARSEK_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        assert_null(strstr(paths[i], ".tmp-"));
        assert_true(strstr(paths[i], dir) == paths[i]);
        if (i) assert_true(strcmp(paths[i - 1], paths[i]) < 0);
        int found = 0;
        for (int k = 0; k < 3; k++) found += strstr(paths[i], keys[k]) != NULL;
        assert_int_equal(found, 1);
        sk_cache_entry r;
        assert_int_equal(sk_cache_read(paths[i], &r, &err), SPARSEK_OK);
        sk_cache_entry_clear(&r);
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);

    assert_int_equal(sk_cache_clean(dir, &removed, &err), SPARSEK_OK);
    assert_int_equal(removed, 5);
    assert_false(exists(tmp));
    assert_false(exists(tmp2));
    assert_true(exists(other));
    assert_int_equal(sk_cache_list(dir, &paths, &n, &err), SPARSEK_OK);
    assert_int_equal(n, 0);
    free(paths);
    assert_int_equal(sk_cache_clean(dir, &removed, &err), SPARSEK_OK);
    assert_int_equal(removed, 0);
    free(missing);
    free(tmp);
    free(tmp2);
    free(other);
}

/* Saves and restores the variables dir resolution reads, so the tests leave no trace. */
static const char *const ENV_NAMES[] = {"SPARSEK_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};

static void env_set(const char *name, const char *value) {
    if (value) setenv(name, value, 1);
    else unsetenv(name);
}

static void expect_dir(const char *explicit_dir, const char *want) {
    char *out = (char *)1;
    sk_err err;
    sparsek_status st = sk_cache_dir_resolve(explicit_dir, &out, &err);
    if (!want) {
        assert_int_equal(st, SPARSEK_INVALID_ARGUMENT);
        assert_null(out);
        return;
    }
    assert_int_equal(st, SPARSEK_OK);
    assert_string_equal(out, want);
    free(out);
}

static void test_dir_resolve(void **state) {
    char *saved[3];
    for (int i = 0; i < 3; i++) saved[i] = getenv(ENV_NAMES[i]) ? strdup(getenv(ENV_NAMES[i])) : NULL;

    env_set("SPARSEK_CACHE_DIR", "/s/cache");
    env_set("XDG_CACHE_HOME", "/x");
    env_set("HOME", "/h");
    expect_dir("/explicit", "/explicit");
    expect_dir(NULL, "/s/cache");
    env_set("SPARSEK_CACHE_DIR", "");
    expect_dir(NULL, "/x/sparsek");
    env_set("SPARSEK_CACHE_DIR", NULL);
    expect_dir(NULL, "/x/sparsek");
    env_set("XDG_CACHE_HOME", "/x/");
    expect_dir(NULL, "/x/sparsek");
    env_set("XDG_CACHE_HOME", "");
    expect_dir(NULL, "/h/.cache/sparsek");
    env_set("XDG_CACHE_HOME", "relative/dir"); /* the XDG spec says to ignore relative paths */
    expect_dir(NULL, "/h/.cache/sparsek");
    env_set("XDG_CACHE_HOME", NULL);
    expect_dir(NULL, "/h/.cache/sparsek");
    env_set("HOME", "");
    expect_dir(NULL, NULL);
    env_set("HOME", NULL);
    expect_dir(NULL, NULL);
    expect_dir("/explicit", "/explicit");
    expect_dir("", NULL);

    for (int i = 0; i < 3; i++) {
        env_set(ENV_NAMES[i], saved[i]);
        free(saved[i]);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Concurrent writers                                                                         */

#define WRITERS 3
#define WRITES 200

/* Payload j of writer w: same key for all, but its own cubin length and bytes and its own
 * tuning fields, so a mixed or torn entry cannot pass for any one payload. */
static void payload(sk_cache_entry *e, unsigned char *cubin, char *gpu, char *bucket, int w, int j) {
    size_t n = 64 + (size_t)((w * 7919 + j * 104729) % 6000);
    for (size_t k = 0; k < n; k++) cubin[k] = (unsigned char)(w * 31 + j * 17 + k * 13);
    sprintf(gpu, "writer-%d-%d", w, j);
    sprintf(bucket, "b%d", w);
    make_entry(e, "sm_90a", "d=128 race", cubin, n);
    e->gpu = gpu;
    e->bucket = bucket;
    e->time_us = w + j / 1000.0;
    e->created = w * 1000 + j;
}

static void writer(const char *dir, int w) {
    static unsigned char cubin[8192];
    char gpu[64], bucket[16];
    for (int j = 0; j < WRITES; j++) {
        sk_cache_entry e;
        payload(&e, cubin, gpu, bucket, w, j);
        sk_err err;
        if (sk_cache_store(dir, &e, &err) != SPARSEK_OK) {
            fprintf(stderr, "writer %d: %s\n", w, err.msg);
            _exit(1);
        }
    }
    _exit(0);
}

/* Returns 0 if r equals the payload named by its gpu field, else -1. */
static int matches_a_payload(const sk_cache_entry *r) {
    static unsigned char cubin[8192];
    char gpu[64], bucket[16];
    int w, j;
    if (sscanf(r->gpu, "writer-%d-%d", &w, &j) != 2 || w < 0 || w >= WRITERS || j < 0 || j >= WRITES) return -1;
    sk_cache_entry e;
    payload(&e, cubin, gpu, bucket, w, j);
    if (strcmp(e.key, r->key) || strcmp(e.gpu, r->gpu) || strcmp(e.bucket, r->bucket) || e.created != r->created ||
        e.time_us != r->time_us || e.cubin_size != r->cubin_size || memcmp(e.cubin, r->cubin, e.cubin_size))
        return -1;
    return 0;
}

static void test_concurrent_writers(void **state) {
    const char *dir = *state;
    char *sub = sk_asprintf("%s/race", dir); /* the writers race to create the folder too */
    unsigned char cubin[8192];
    char gpu[64], bucket[16];
    sk_cache_entry e;
    payload(&e, cubin, gpu, bucket, 0, 0);
    char key[65];
    strcpy(key, e.key);

    fflush(NULL);
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) writer(sub, w);
    }
    int running = WRITERS, bad = 0, ok = 0, miss = 0, mismatched = 0, status[WRITERS];
    char first_bad[SK_ERR_MSG] = "";
    while (running) {
        sk_cache_entry r;
        sk_err err;
        sparsek_status st = sk_cache_lookup(sub, key, "sm_90a", &r, &err);
        if (st == SPARSEK_OK) {
            ok++;
            if (matches_a_payload(&r)) mismatched++;
            sk_cache_entry_clear(&r);
        } else if (st == SPARSEK_CACHE_MISS) {
            miss++;
        } else if (!bad++) {
            strcpy(first_bad, err.msg);
        }
        for (int w = 0; w < WRITERS; w++)
            if (pids[w] > 0 && waitpid(pids[w], &status[w], WNOHANG) == pids[w]) {
                pids[w] = 0;
                running--;
            }
    }
    if (bad) fail_msg("%d reads failed; first: %s", bad, first_bad);
    assert_int_equal(mismatched, 0);
    for (int w = 0; w < WRITERS; w++) {
        assert_true(WIFEXITED(status[w]));
        assert_int_equal(WEXITSTATUS(status[w]), 0);
    }
    /* The survivor is one writer's last payload, whole; no temp file is left behind. */
    sk_cache_entry r;
    sk_err err;
    assert_int_equal(sk_cache_lookup(sub, key, "sm_90a", &r, &err), SPARSEK_OK);
    assert_int_equal(matches_a_payload(&r), 0);
    int w, j;
    assert_int_equal(sscanf(r.gpu, "writer-%d-%d", &w, &j), 2);
    assert_int_equal(j, WRITES - 1);
    sk_cache_entry_clear(&r);
    int removed;
    assert_int_equal(sk_cache_clean(sub, &removed, &err), SPARSEK_OK);
    assert_int_equal(removed, 1);
    fprintf(stderr, "    concurrent: %d whole reads, %d misses, 0 corrupt\n", ok, miss);
    assert_true(ok > 0);
    free(sub);
}

/* ------------------------------------------------------------------------------------------ */
/* Arguments and IO errors                                                                    */

static void test_store_rejects_bad_entries(void **state) {
    const char *dir = *state;
    sk_cache_entry e;
    sk_err err;
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    e.config = "d=65"; /* key no longer matches the fields */
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "does not match"));
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    strcpy(e.key, "../../../../etc/passwd");
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_INVALID_ARGUMENT);
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    e.kernel_name = NULL;
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "kernel_name"));
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    e.time_us = 0.0 / 0.0;
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_INVALID_ARGUMENT);
    make_entry(&e, "sm_80", "d=64", NULL, 10);
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_INVALID_ARGUMENT);
    /* Optional tuning fields may be NULL; they come back as "". */
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    e.bucket = NULL;
    e.gpu = NULL;
    assert_int_equal(sk_cache_store(dir, &e, &err), SPARSEK_OK);
    sk_cache_entry r;
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_80", &r, &err), SPARSEK_OK);
    assert_string_equal(r.bucket, "");
    assert_string_equal(r.gpu, "");
    sk_cache_entry_clear(&r);
    /* Nothing was left behind by the refused stores. */
    char **paths;
    int n;
    assert_int_equal(sk_cache_list(dir, &paths, &n, &err), SPARSEK_OK);
    assert_int_equal(n, 1);
    free(paths[0]);
    free(paths);
}

static void test_io_errors(void **state) {
    const char *dir = *state;
    char *file = sk_asprintf("%s/plainfile", dir);
    char *under = sk_asprintf("%s/plainfile/sub", dir);
    assert_int_equal(skt_write_file(file, "x", 1), 0);
    sk_cache_entry e, r;
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_err err;
    assert_int_equal(sk_cache_store(under, &e, &err), SPARSEK_IO);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));
    assert_int_equal(sk_cache_store(file, &e, &err), SPARSEK_IO);
    assert_int_equal(sk_cache_lookup(file, e.key, "sm_80", &r, &err), SPARSEK_IO);
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));
    char **paths;
    int n, removed;
    assert_int_equal(sk_cache_list(file, &paths, &n, &err), SPARSEK_IO);
    assert_non_null(strstr(err.msg, file));
    assert_int_equal(sk_cache_clean(file, &removed, &err), SPARSEK_IO);
    char *nofile = sk_asprintf("%s/nope.skc", dir);
    assert_int_equal(sk_cache_read(nofile, &r, &err), SPARSEK_IO);
    assert_non_null(strstr(err.msg, nofile));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    free(nofile);
    free(file);
    free(under);
}

static void test_null_args(void **state) {
    const char *dir = *state;
    sk_cache_entry e, r;
    make_entry(&e, "sm_80", "d=64", SMALL_CUBIN, sizeof SMALL_CUBIN);
    sk_err err;
    sk_buf b = {0};
    char **paths;
    int n;
    assert_int_equal(sk_cache_dir_resolve(NULL, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_true(err.msg[0] != 0);
    assert_int_equal(sk_cache_dir_resolve("/x", NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_store(NULL, &e, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_store(dir, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_store("", &e, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_store(dir, &e, NULL), SPARSEK_OK); /* err is optional */
    assert_int_equal(sk_cache_read(NULL, &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_read("/x.skc", NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(NULL, e.key, "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, NULL, "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, e.key, NULL, &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_80", NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, "abc", "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, "../x", "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup("", e.key, "sm_80", &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_lookup(dir, e.key, "sm_80", &r, NULL), SPARSEK_OK);
    sk_cache_entry_clear(&r);
    assert_int_equal(sk_cache_list(NULL, &paths, &n, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_list(dir, NULL, &n, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_list(dir, &paths, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_clean(NULL, &n, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_clean(dir, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_serialize(NULL, &b, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_serialize(&e, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_parse(NULL, 10, &r, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_parse("SPARSEKC", 8, NULL, &err), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_cache_parse(NULL, 0, &r, &err), SPARSEK_CACHE_CORRUPT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_deterministic),
        cmocka_unit_test(test_key_injective),
        cmocka_unit_test(test_serialize_roundtrip),
        cmocka_unit_test_setup_teardown(test_store_lookup_roundtrip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_truncated_every_offset, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_flipped_bytes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bad_header, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bad_metadata, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_mismatch_renamed, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_stale_key, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_foreign_arch, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_list_and_clean, setup_dir, teardown_dir),
        cmocka_unit_test(test_dir_resolve),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_store_rejects_bad_entries, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_io_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_null_args, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
