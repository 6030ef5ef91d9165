/* sk_embedded.h — the generator scripts compiled into the library.
 *
 * gen/embed.c writes $(BUILD)/embedded_scripts.c from the Lua library (gen/lua/sparsek/) and the
 * templates (templates/, .lua and .cut); gen/sk_gen.c reads the table and overlays an override
 * folder on it. */
#ifndef SK_EMBEDDED_H
#define SK_EMBEDDED_H
#include <stddef.h>

struct sk_embedded_script {
    const char *name;  /* repo-relative path as given to embed: "templates/fmha_fwd.lua" */
    const char *bytes; /* the file's bytes, followed by a NUL that `size` does not count */
    size_t size;
};

/* sk_embedded_script_count entries (the array has one NULL entry when there are none). */
extern const struct sk_embedded_script sk_embedded_scripts[]
    __attribute__((visibility("hidden")));
extern const int sk_embedded_script_count __attribute__((visibility("hidden")));

#endif
