/* sk_gen.h — the embedded Lua 5.4 generator (gen/): a sandboxed Lua state that turns
 * (family, config, arch) into CUDA source and launch metadata. Pure: no GPU, no files except
 * the optional override folder. One sk_gen is NOT thread-safe; the runtime guards it. */
#ifndef SK_GEN_H
#define SK_GEN_H

#include "sk_internal.h"

typedef struct sk_gen sk_gen;

/* Opens a sandboxed Lua state (base, string, table, math, utf8 only; no io/os/debug/package;
 * text chunks only; an instruction-count limit per call). Scripts come from the copies built
 * into the library; `override_dir` (NULL or "": $SPARSEK_GEN_PATH if set and not empty) is a
 * folder laid out like the source tree whose files of the same repo-relative names
 * ("gen/lua/sparsek/template.lua", "templates/fmha_fwd.lua", ...) replace them and whose new
 * gen/lua/sparsek/ *.lua, templates/ *.lua and templates/ *.cut are added. A missing folder is
 * an error (SPARSEK_INVALID_ARGUMENT). */
SK_HIDDEN sparsek_status sk_gen_open(sk_gen **out, const char *override_dir, sk_err *err);
SK_HIDDEN void sk_gen_close(sk_gen *g);

/* Instructions one sk_gen_* call may execute in Lua (default 200 million; <= 0 restores the
 * default). Past it the call fails with SPARSEK_GENERATOR "instruction limit exceeded". For
 * tests. The state's memory is capped too (512 MiB). */
SK_HIDDEN void sk_gen_set_instruction_limit(sk_gen *g, long limit);

/* 64 hex chars: SHA-256 over the name and bytes of every script the state can load (the
 * effective set, overrides included). Part of every cache key. "" when g is NULL. */
SK_HIDDEN const char *sk_gen_digest(const sk_gen *g);

/* Space-separated family names, e.g. "fmha_fwd". Caller frees. */
SK_HIDDEN sparsek_status sk_gen_families(sk_gen *g, char **out, sk_err *err);

/* Validates `config` ("k=v k=v", may be NULL or "") for `family` and `arch`, fills defaults and
 * returns the canonical form: every key, sorted by name, "k=v" joined by single spaces.
 * Unknown keys, bad values and invalid combinations fail with SPARSEK_INVALID_ARGUMENT and a
 * message giving the reason. Caller frees *canonical. */
SK_HIDDEN sparsek_status sk_gen_normalize(sk_gen *g, const char *family, const char *config,
                                          const char *arch, char **canonical, sk_err *err);

/* The tuner's search space for `family` at `arch`: `config` fixes the problem keys (and any
 * tile keys the caller wants fixed); every combination of the family's `space` values for the
 * other keys is resolved and validated. *out (caller frees) holds one line per distinct
 * candidate, "ok\t<canonical config>" or "pruned\t<canonical config>\t<reason>", in a stable
 * order. A family without a space: SPARSEK_INVALID_ARGUMENT. */
SK_HIDDEN sparsek_status sk_gen_candidates(sk_gen *g, const char *family, const char *config,
                                           const char *arch, char **out, sk_err *err);

/* Generates source + metadata for a canonical config. `cache_key` is printed in the banner.
 * Fills every field of *out except nothing (family, arch, template_name, config, kernel_name,
 * source, grid_rule, cache_key, block, cluster, dynamic_smem), all malloc'd. Lua errors become
 * SPARSEK_GENERATOR with a traceback naming the script file and line. */
SK_HIDDEN sparsek_status sk_gen_generate(sk_gen *g, const char *family, const char *canonical,
                                         const char *arch, const char *cache_key,
                                         sparsek_kernel_source *out, sk_err *err);

/* Runs `code` (text) in the sandbox and returns tostring() of its first result (for tests and
 * exploration). Caller frees *result. */
SK_HIDDEN sparsek_status sk_gen_eval(sk_gen *g, const char *chunkname, const char *code,
                                     char **result, sk_err *err);

/* Frees the fields of a source struct filled by sk_gen_generate (not the struct itself). */
SK_HIDDEN void sk_kernel_source_clear(sparsek_kernel_source *s);

#endif
