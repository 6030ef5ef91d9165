/* sk_cache.h — the on-disk cache of compiled kernels (content-addressed).
 *
 * Key: SHA-256 over an injective (length-prefixed) serialisation of generator digest, family,
 * canonical config, compile options, NVRTC version and arch (sk_cache_key).
 * Entry file: <dir>/<key>.skc, written to a temp file in <dir>, fsync'ed, renamed into place,
 * so readers never see a torn entry and concurrent writers of one key leave one whole entry.
 * An entry holds the cubin, its metadata and a SHA-256 checksum over everything before it. */
#ifndef SK_CACHE_H
#define SK_CACHE_H

#include "sk_internal.h"

typedef struct sk_cache_entry {
    char key[65];
    char *family, *arch, *template_name, *config, *kernel_name, *grid_rule;
    char *gen_digest;     /* generator digest that produced it */
    char *toolchain;      /* "nvrtc-13.0" */
    char *options;        /* compile options string */
    unsigned block[3], cluster[3], dynamic_smem;
    int registers, spill_stores, spill_loads, stack_frame, static_smem;
    /* tuning information (optional; empty/0 when not tuned) */
    char *bucket;         /* shape bucket this entry won, "" if none */
    double time_us;       /* measured time of the winner, 0 if none */
    char *gpu;            /* GPU it was tuned on, "" if none */
    long long created;    /* unix seconds */
    void *cubin;
    size_t cubin_size;
} sk_cache_entry;

SK_HIDDEN void sk_cache_entry_clear(sk_cache_entry *e);

/* Key over the inputs of a compile; out gets 64 hex chars + NUL.
 * SHA-256 of "sparsek-cache-key-v1\n" then `<name>=<decimal length>:<bytes>\n` per field in this
 * order; a NULL field is written `<name>=-1:\n`, so NULL and "" give different keys. */
SK_HIDDEN void sk_cache_key(const char *gen_digest, const char *family, const char *config,
                            const char *options, const char *toolchain, const char *arch,
                            char out[65]);

/* Resolves the cache folder: explicit dir if not NULL, else $SPARSEK_CACHE_DIR, else
 * $XDG_CACHE_HOME/sparsek, else $HOME/.cache/sparsek. Does not create it. Caller frees.
 * Empty variables count as unset, a relative $XDG_CACHE_HOME is ignored (XDG spec); an empty
 * explicit dir, or no way to determine one, is SPARSEK_INVALID_ARGUMENT. */
SK_HIDDEN sparsek_status sk_cache_dir_resolve(const char *explicit_dir, char **out, sk_err *err);

/* Writes e atomically as <dir>/<e->key>.skc, creating dir (and parents) if needed.
 * SPARSEK_INVALID_ARGUMENT if e would not read back (key not sk_cache_key of its fields, a
 * required string NULL; bucket and gpu may be NULL and read back as ""). */
SK_HIDDEN sparsek_status sk_cache_store(const char *dir, const sk_cache_entry *e, sk_err *err);

/* Reads and fully validates one entry file (magic, version, lengths, checksum, metadata, that
 * the key in the file matches its name when named <key>.skc and matches sk_cache_key of its own
 * metadata). SPARSEK_CACHE_CORRUPT with the reason on any problem. */
SK_HIDDEN sparsek_status sk_cache_read(const char *path, sk_cache_entry *e, sk_err *err);

/* Looks up `key` in dir. SPARSEK_CACHE_MISS if absent; SPARSEK_CACHE_CORRUPT if present but bad
 * or if its arch differs from `arch` (the bad file is removed so it gets rebuilt). */
SK_HIDDEN sparsek_status sk_cache_lookup(const char *dir, const char *key, const char *arch,
                                         sk_cache_entry *e, sk_err *err);

/* Lists entry files (*.skc) of dir, sorted by name. Caller frees each and the array.
 * A dir that does not exist is an empty cache: SPARSEK_OK with *count 0 (and *paths NULL). */
SK_HIDDEN sparsek_status sk_cache_list(const char *dir, char ***paths, int *count, sk_err *err);

/* Removes every entry file and stale temp file in dir; *removed counts them.
 * A dir that does not exist is an empty cache: SPARSEK_OK with *removed 0. */
SK_HIDDEN sparsek_status sk_cache_clean(const char *dir, int *removed, sk_err *err);

/* Serialise / parse an entry in memory (the file body). */
SK_HIDDEN sparsek_status sk_cache_serialize(const sk_cache_entry *e, sk_buf *out, sk_err *err);
SK_HIDDEN sparsek_status sk_cache_parse(const void *data, size_t size, sk_cache_entry *e, sk_err *err);

#endif
