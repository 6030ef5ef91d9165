/* sk_gen.c — the embedded Lua 5.4 generator.
 *
 * Three parts: the effective script set (scripts built into the library, overlaid by an
 * override folder) and its digest; a sandboxed lua_State that can only read that set; and the
 * C side of the generation contract in gen/lua/sparsek/gen.lua.
 *
 * Every entry into Lua is one lua_pcall of a small C function ("job") with a message handler,
 * as lua.c does it: the job pushes its arguments and converts the results inside protected
 * mode, so even an allocation failure while pushing a string is a Lua error, never a panic. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sk_embedded.h"
#include "sk_gen.h"
#include "sk_sha256.h"

/* Per top-level call. A real family takes well under 10 million instructions. */
#define GEN_INSTRUCTION_LIMIT 200000000L
/* The count hook runs every this many VM instructions: cheap, and precise enough. */
#define GEN_HOOK_EVERY 1000
/* Bytes the whole Lua state may hold. */
#define GEN_MEMORY_LIMIT ((size_t)512 << 20)

typedef struct sk_script {
    char *name;        /* repo-relative: "templates/fmha_fwd.lua" */
    const char *bytes; /* embedded bytes, or `owned` */
    size_t size;
    char *owned;       /* bytes read from the override folder */
} sk_script;

struct sk_gen {
    lua_State *L;
    sk_script *scripts; /* the effective set, sorted by name */
    int nscripts;
    char digest[65];
    size_t mem_used, mem_limit;
    int mem_capped;     /* the cap refused an allocation during the current call */
    long instr_limit, instr_used;
};

/* Registry keys (their addresses are unique light userdata). */
static const char REG_GEN = 'g';     /* the table gen.lua returned */
static const char REG_LOADED = 'l';  /* module name -> value, for our require */
static const char REG_LOADING = 'r'; /* marks a module whose chunk is running (cycle check) */

/* ---- the effective script set --------------------------------------------------------- */

static int script_cmp(const void *a, const void *b) {
    return strcmp(((const sk_script *)a)->name, ((const sk_script *)b)->name);
}

static const sk_script *find_script(const sk_gen *g, const char *name) {
    if (g->nscripts == 0) return NULL;
    sk_script key = {.name = (char *)name};
    return bsearch(&key, g->scripts, (size_t)g->nscripts, sizeof key, script_cmp);
}

static void free_scripts(sk_gen *g) {
    for (int i = 0; i < g->nscripts; i++) {
        free(g->scripts[i].name);
        free(g->scripts[i].owned);
    }
    free(g->scripts);
    g->scripts = NULL;
    g->nscripts = 0;
}

/* Adds a script, or replaces the one of the same name (an override). Takes `owned`. */
static int put_script(sk_gen *g, int *cap, const char *name, const char *bytes, size_t size,
                      char *owned) {
    for (int i = 0; i < g->nscripts; i++) {
        if (!strcmp(g->scripts[i].name, name)) {
            free(g->scripts[i].owned);
            g->scripts[i].bytes = bytes;
            g->scripts[i].size = size;
            g->scripts[i].owned = owned;
            return 0;
        }
    }
    if (g->nscripts == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        sk_script *s = realloc(g->scripts, (size_t)ncap * sizeof *s);
        if (!s) return -1;
        g->scripts = s;
        *cap = ncap;
    }
    char *n = sk_strdup(name);
    if (!n) return -1;
    g->scripts[g->nscripts++] = (sk_script){n, bytes, size, owned};
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix);
}

/* Reads <dir>/<sub>/ *<ext> into the set. A missing <sub> is fine (*found stays as is). */
static sparsek_status overlay_folder(sk_gen *g, int *cap, const char *dir, const char *sub,
                                     const char *ext, int *found, sk_err *err) {
    char *path = sk_asprintf("%s/%s", dir, sub);
    if (!path) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR) return SPARSEK_OK;
        return sk_fail(err, SPARSEK_IO, "generator override folder %s/%s: %s", dir, sub, strerror(e));
    }
    *found = 1;
    sparsek_status st = SPARSEK_OK;
    struct dirent *de;
    while (st == SPARSEK_OK && (de = readdir(d)) != NULL) {
        /* Skip hidden files (editor locks, ".#x.lua") and other extensions. */
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ext)) continue;
        char *file = sk_asprintf("%s/%s", path, de->d_name);
        char *name = sk_asprintf("%s/%s", sub, de->d_name);
        struct stat sb;
        char *bytes = NULL;
        size_t size = 0;
        if (!file || !name) {
            st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
        } else if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            /* not a plain file (or a dangling link): nothing a script could mean */
        } else if ((st = sk_read_file(file, &bytes, &size, err)) == SPARSEK_OK) {
            if (put_script(g, cap, name, bytes, size, bytes) != 0) {
                free(bytes);
                st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
            }
        }
        free(file);
        free(name);
    }
    closedir(d);
    free(path);
    return st;
}

/* Embedded scripts, then the override folder on top; sorted by name. */
static sparsek_status load_scripts(sk_gen *g, const char *dir, const char *origin, sk_err *err) {
    int cap = 0;
    for (int i = 0; i < sk_embedded_script_count; i++) {
        const struct sk_embedded_script *e = &sk_embedded_scripts[i];
        if (put_script(g, &cap, e->name, e->bytes, e->size, NULL) != 0)
            return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    }
    if (dir) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                           "generator override folder '%s' (from %s) %s", dir, origin,
                           errno == ENOENT ? "does not exist" : "is not a readable folder");
        static const char *const parts[][2] = {
            {"gen/lua/sparsek", ".lua"}, {"templates", ".lua"}, {"templates", ".cut"}};
        int found = 0;
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            sparsek_status st = overlay_folder(g, &cap, dir, parts[i][0], parts[i][1], &found, err);
            if (st) return st;
        }
        if (!found)
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT,
                           "generator override folder '%s' (from %s) has neither templates/ nor "
                           "gen/lua/sparsek/; it must be laid out like the SparseK source tree",
                           dir, origin);
    }
    if (g->nscripts) qsort(g->scripts, (size_t)g->nscripts, sizeof *g->scripts, script_cmp);
    return SPARSEK_OK;
}

static void put_len(sk_sha256 *c, uint64_t n) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    sk_sha256_update(c, b, sizeof b);
}

/* SHA-256 over the sorted set: (len, name, len, bytes) per script, lengths 64-bit LE, so no
 * two different sets can produce the same byte stream. */
static void compute_digest(sk_gen *g) {
    sk_sha256 c;
    uint8_t out[32];
    sk_sha256_init(&c);
    for (int i = 0; i < g->nscripts; i++) {
        const sk_script *s = &g->scripts[i];
        put_len(&c, strlen(s->name));
        sk_sha256_update(&c, s->name, strlen(s->name));
        put_len(&c, s->size);
        sk_sha256_update(&c, s->bytes, s->size);
    }
    sk_sha256_final(&c, out);
    sk_hex(out, sizeof out, g->digest);
}

/* ---- limits ------------------------------------------------------------------------------ */

static sk_gen *gen_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Caps the whole state's memory. Shrinking and freeing always succeed, as Lua requires. */
static void *gen_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sk_gen *g = ud;
    size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        g->mem_used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > g->mem_limit - g->mem_used) {
        g->mem_capped = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) g->mem_used = g->mem_used - old + nsize;
    return p;
}

/* A template that loops forever fails instead of hanging its caller. Once over the limit the
 * hook runs on every instruction until the next top-level call, so a pcall inside Lua cannot
 * swallow the error: the first instruction after it raises it again. */
static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sk_gen *g = gen_of(L);
    if (g->instr_used <= g->instr_limit) g->instr_used += GEN_HOOK_EVERY;
    if (g->instr_used > g->instr_limit) {
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "instruction limit exceeded (%I instructions per call)", (lua_Integer)g->instr_limit);
    }
}

void sk_gen_set_instruction_limit(sk_gen *g, long limit) {
    if (g) g->instr_limit = limit > 0 ? limit : GEN_INSTRUCTION_LIMIT;
}

/* ---- errors ------------------------------------------------------------------------------ */

/* The reason of an invalid-config error object, or NULL. Tables { invalid_config = reason }
 * (gen.lua) and strings "invalid config: reason", with or without the "file:line: " that
 * error() adds, are the caller's mistakes rather than generator bugs. */
static const char *invalid_reason(lua_State *L, int idx) {
    static const char tag[] = "invalid config: ";
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_pushliteral(L, "invalid_config");
        int t = lua_rawget(L, idx < 0 ? idx - 1 : idx);
        const char *r = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1); /* the string stays alive: the table still refers to it */
        return r;
    }
    if (lua_type(L, idx) != LUA_TSTRING) return NULL;
    const char *msg = lua_tostring(L, idx);
    if (!strncmp(msg, tag, sizeof tag - 1)) return msg + sizeof tag - 1;
    const char *p = strstr(msg, ": invalid config: ");
    if (!p || memchr(msg, '\n', (size_t)(p - msg))) return NULL;
    const char *q = p;
    while (q > msg && q[-1] >= '0' && q[-1] <= '9') q--;
    return (q < p && q > msg && q[-1] == ':') ? p + 2 + sizeof tag - 1 : NULL;
}

/* Message handler (after lua.c's msghandler): invalid-config errors pass through untouched;
 * everything else becomes a string with a traceback. */
static int msghandler(lua_State *L) {
    if (invalid_reason(L, 1)) return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* A module whose chunk raised an error stays marked as loading; drop the mark so the next
 * call loads it again (and reports its error again) instead of claiming a require cycle.
 * Outside protected mode: lua_next and assigning nil to existing keys never allocate. */
static void forget_failed_modules(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &REG_LOADED) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_touserdata(L, -1) == &REG_LOADING) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, -4);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

/* Runs job(L) with `arg` as its light userdata argument under lua_pcall + msghandler, with
 * fresh instruction and memory accounting; turns a failure into a status. */
static sparsek_status protected_call(sk_gen *g, lua_CFunction job, void *arg, sk_err *err) {
    lua_State *L = g->L;
    lua_settop(L, 0);
    g->instr_used = 0;
    g->mem_capped = 0;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, GEN_HOOK_EVERY);
    lua_gc(L, LUA_GCRESTART); /* in case a script called collectgarbage("stop") */
    lua_pushcfunction(L, msghandler); /* light C functions: pushing them never allocates */
    lua_pushcfunction(L, job);
    lua_pushlightuserdata(L, arg);
    int rc = lua_pcall(L, 1, 0, 1);
    sparsek_status st = SPARSEK_OK;
    if (rc == LUA_ERRMEM || (rc == LUA_ERRERR && g->mem_capped)) {
        st = g->mem_capped
                 ? sk_fail(err, SPARSEK_GENERATOR, "generator memory limit exceeded (%zu MiB)",
                           g->mem_limit >> 20)
                 : sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory in the generator");
    } else if (rc != LUA_OK) {
        const char *reason = invalid_reason(L, -1);
        if (reason) {
            st = sk_fail(err, SPARSEK_INVALID_ARGUMENT, "%s", reason);
        } else {
            const char *msg = lua_tostring(L, -1);
            st = sk_fail(err, SPARSEK_GENERATOR, "%s", msg ? msg : "generator error");
        }
    }
    lua_settop(L, 0);
    if (rc != LUA_OK) forget_failed_modules(L);
    /* luaL_Buffer grows through the allocator directly, without the emergency collection
     * other allocations get: after hitting the cap, free the garbage now so the next call
     * has the whole budget. */
    if (g->mem_capped || g->mem_used > g->mem_limit / 2) lua_gc(L, LUA_GCCOLLECT);
    return st;
}

/* ---- the sandbox ------------------------------------------------------------------------- */

/* load() that only accepts text: binary chunks bypass the bytecode verifier Lua does not
 * have, so they could break out of the sandbox. */
static int sb_load(lua_State *L) {
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the original load */
    lua_pushvalue(L, 1);
    if (n >= 2) lua_pushvalue(L, 2);
    else lua_pushnil(L);
    lua_pushliteral(L, "t");
    if (n >= 4) lua_pushvalue(L, 4); /* load tells "env absent" from "env = nil" */
    lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - n;
}

/* Module name -> script: "sparsek.x" -> gen/lua/sparsek/x.lua, "x" -> templates/x.lua.
 * Names are letters, digits and '_' only, so no path can be formed. */
static int module_path(const char *mod, char *path, size_t cap) {
    const char *base = mod, *dir = "templates";
    if (!strncmp(mod, "sparsek.", 8)) base = mod + 8, dir = "gen/lua/sparsek";
    size_t n = strlen(base);
    if (n == 0 || n > 64) return 0;
    for (const char *s = base; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    snprintf(path, cap, "%s/%s.lua", dir, base);
    return 1;
}

/* require(modname): only scripts of the effective set, text only, each run once. */
static int sb_require(lua_State *L) {
    const char *mod = luaL_checkstring(L, 1);
    char path[128];
    if (!module_path(mod, path, sizeof path))
        return luaL_error(L, "require: bad module name '%s' (expected 'sparsek.<name>' or a "
                             "template module name of letters, digits and '_')", mod);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REG_LOADED); /* 2 */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TNIL) {
        if (lua_touserdata(L, -1) == &REG_LOADING)
            return luaL_error(L, "require: module '%s' requires itself (a require cycle)", mod);
        return 1;
    }
    lua_pop(L, 1);
    const sk_script *s = find_script(gen_of(L), path);
    if (!s) return luaL_error(L, "require: module '%s' not found (no %s among the generator scripts)", mod, path);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&REG_LOADING);
    lua_rawset(L, 2);
    lua_pushfstring(L, "@%s", path);
    if (luaL_loadbufferx(L, s->bytes, s->size, lua_tostring(L, -1), "t") != LUA_OK) {
        lua_pushvalue(L, 1);
        lua_pushnil(L);
        lua_rawset(L, 2);
        return lua_error(L);
    }
    lua_pushvalue(L, 1);
    lua_pushstring(L, path);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

/* sparsek_read_script(name) -> text, or nil and a message (as io.open does). */
static int sb_read_script(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const sk_script *s = find_script(gen_of(L), name);
    if (!s) {
        lua_pushnil(L);
        lua_pushfstring(L, "no script '%s' among the generator scripts", name);
        return 2;
    }
    lua_pushlstring(L, s->bytes, s->size);
    return 1;
}

/* sparsek_list_scripts([prefix]) -> sorted list of the names that start with prefix. */
static int sb_list_scripts(lua_State *L) {
    size_t plen;
    const char *prefix = luaL_optlstring(L, 1, "", &plen);
    sk_gen *g = gen_of(L);
    lua_newtable(L);
    lua_Integer n = 0;
    for (int i = 0; i < g->nscripts; i++) {
        if (strncmp(g->scripts[i].name, prefix, plen)) continue;
        lua_pushstring(L, g->scripts[i].name);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static void set_global_nil(lua_State *L, const char *name) {
    lua_pushnil(L);
    lua_setglobal(L, name);
}

/* Job: opens the allowed libraries, removes what could reach outside the generator (files,
 * the OS, bytecode, the registry) or make output depend on anything but the inputs (random
 * numbers), installs our require and script access, then loads gen.lua. */
static int job_setup(lua_State *L) {
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},         {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},   {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    static const char *const removed[] = {"dofile", "loadfile", "require", "print", "warn", NULL};
    for (const char *const *r = removed; *r; r++) set_global_nil(L, *r);

    lua_getglobal(L, "load");
    lua_pushcclosure(L, sb_load, 1);
    lua_setglobal(L, "load");

    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump"); /* string.dump: the way to make a binary chunk */
    lua_pop(L, 1);
    lua_getglobal(L, LUA_MATHLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "random"); /* generation is pure: same inputs, same bytes */
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &REG_LOADED);
    lua_register(L, "require", sb_require);
    lua_register(L, "sparsek_read_script", sb_read_script);
    lua_register(L, "sparsek_list_scripts", sb_list_scripts);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "sparsek.gen");
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "gen/lua/sparsek/gen.lua did not return a table");
    static const char *const fns[] = {"families", "normalize", "generate", NULL};
    for (const char *const *f = fns; *f; f++) {
        if (lua_getfield(L, -1, *f) != LUA_TFUNCTION)
            return luaL_error(L, "gen/lua/sparsek/gen.lua has no function '%s'", *f);
        lua_pop(L, 1);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &REG_GEN);
    return 0;
}

/* Pushes gen.<fn>. */
static void push_gen_fn(lua_State *L, const char *fn) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REG_GEN);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
}

/* ---- the API ----------------------------------------------------------------------------- */

sparsek_status sk_gen_open(sk_gen **out, const char *override_dir, sk_err *err) {
    if (!out) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_gen_open: out is NULL");
    *out = NULL;
    const char *dir = override_dir && *override_dir ? override_dir : NULL;
    const char *origin = "the gen_path option";
    if (!dir) {
        const char *env = getenv("SPARSEK_GEN_PATH");
        if (env && *env) dir = env, origin = "SPARSEK_GEN_PATH";
    }
    sk_gen *g = calloc(1, sizeof *g);
    if (!g) return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    g->mem_limit = GEN_MEMORY_LIMIT;
    g->instr_limit = GEN_INSTRUCTION_LIMIT;
    sparsek_status st = load_scripts(g, dir, origin, err);
    if (st) {
        sk_gen_close(g);
        return st;
    }
    compute_digest(g);
    g->L = lua_newstate(gen_alloc, g);
    if (!g->L) {
        sk_gen_close(g);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory creating the Lua state");
    }
    st = protected_call(g, job_setup, g, err);
    if (st) {
        sk_err_prefix(err, "opening the generator%s%s", dir ? " with override folder " : "", dir ? dir : "");
        sk_gen_close(g);
        return st;
    }
    *out = g;
    return SPARSEK_OK;
}

void sk_gen_close(sk_gen *g) {
    if (!g) return;
    if (g->L) lua_close(g->L);
    free_scripts(g);
    free(g);
}

const char *sk_gen_digest(const sk_gen *g) { return g ? g->digest : ""; }

/* A job's arguments and C-side results. */
typedef struct gen_job {
    const char *family, *config, *arch, *cache_key, *chunkname, *code;
    char *result;                 /* families / normalize / eval */
    sparsek_kernel_source *src;   /* generate */
    int oom;                      /* a malloc on the C side failed */
} gen_job;

static char *dup_or_flag(gen_job *j, const char *s, size_t n) {
    char *r = sk_strndup(s, n);
    if (!r) j->oom = 1;
    return r;
}

static int job_families(lua_State *L) {
    gen_job *j = lua_touserdata(L, 1);
    push_gen_fn(L, "families");
    lua_call(L, 0, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    luaL_Buffer b;
    int t = lua_gettop(L);
    luaL_buffinit(L, &b);
    lua_Integer n = luaL_len(L, t);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, ' ');
        lua_rawgeti(L, t, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    j->result = dup_or_flag(j, s, len);
    return 0;
}

/* Calls gen.<fn>(family, config, arch), which returns a string, and copies the result. */
static int call_family_fn(lua_State *L, const char *fn) {
    gen_job *j = lua_touserdata(L, 1);
    push_gen_fn(L, fn);
    lua_pushstring(L, j->family);
    lua_pushstring(L, j->config ? j->config : "");
    lua_pushstring(L, j->arch);
    lua_call(L, 3, 1);
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "gen.%s did not return a string", fn);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    j->result = dup_or_flag(j, s, len);
    return 0;
}

static int job_normalize(lua_State *L) { return call_family_fn(L, "normalize"); }
static int job_candidates(lua_State *L) { return call_family_fn(L, "candidates"); }

/* A string field of the table at -1, copied; NUL bytes would truncate it in C, so refused. */
static char *field_string(lua_State *L, gen_job *j, const char *key) {
    lua_getfield(L, -1, key);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "gen.generate: field '%s' is not a string", key);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "gen.generate: field '%s' holds a NUL byte", key);
    char *r = dup_or_flag(j, s, len);
    lua_pop(L, 1);
    return r;
}

static unsigned field_uint(lua_State *L, const char *key, int index /* 0: the field itself */) {
    lua_getfield(L, -1, key);
    if (index) {
        if (!lua_istable(L, -1)) luaL_error(L, "gen.generate: field '%s' is not a table", key);
        lua_rawgeti(L, -1, index);
    }
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < 0 || v > (lua_Integer)UINT32_MAX)
        luaL_error(L, "gen.generate: field '%s' is not an unsigned 32-bit integer", key);
    lua_pop(L, index ? 2 : 1);
    return (unsigned)v;
}

static int job_generate(lua_State *L) {
    gen_job *j = lua_touserdata(L, 1);
    sparsek_kernel_source *s = j->src;
    push_gen_fn(L, "generate");
    lua_pushstring(L, j->family);
    lua_pushstring(L, j->config);
    lua_pushstring(L, j->arch);
    lua_pushstring(L, j->cache_key);
    lua_call(L, 4, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    s->family = field_string(L, j, "family");
    s->arch = field_string(L, j, "arch");
    s->template_name = field_string(L, j, "template");
    s->config = field_string(L, j, "config");
    s->kernel_name = field_string(L, j, "kernel_name");
    s->source = field_string(L, j, "source");
    s->grid_rule = field_string(L, j, "grid");
    s->cache_key = field_string(L, j, "cache_key");
    for (int i = 0; i < 3; i++) {
        s->block[i] = field_uint(L, "block", i + 1);
        s->cluster[i] = field_uint(L, "cluster", i + 1);
    }
    s->dynamic_smem = field_uint(L, "smem", 0);
    return 0;
}

static int job_eval(lua_State *L) {
    gen_job *j = lua_touserdata(L, 1);
    if (luaL_loadbufferx(L, j->code, strlen(j->code), j->chunkname, "t") != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
    size_t len;
    const char *s = luaL_tolstring(L, -1, &len);
    j->result = dup_or_flag(j, s, len);
    return 0;
}

/* Runs a job whose C result is j->result; fails if the copy could not be made. */
static sparsek_status run_job(sk_gen *g, lua_CFunction job, gen_job *j, char **out, sk_err *err) {
    sparsek_status st = protected_call(g, job, j, err);
    if (st == SPARSEK_OK && j->oom) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    if (st) {
        free(j->result);
        return st;
    }
    *out = j->result;
    return SPARSEK_OK;
}

#define CHECK_ARG(cond, fn, what) \
    if (!(cond)) return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "%s: %s", fn, what)

sparsek_status sk_gen_families(sk_gen *g, char **out, sk_err *err) {
    CHECK_ARG(out, "sk_gen_families", "out is NULL");
    *out = NULL;
    CHECK_ARG(g, "sk_gen_families", "generator is NULL");
    gen_job j = {0};
    return run_job(g, job_families, &j, out, err);
}

sparsek_status sk_gen_normalize(sk_gen *g, const char *family, const char *config,
                                const char *arch, char **canonical, sk_err *err) {
    CHECK_ARG(canonical, "sk_gen_normalize", "canonical (the output) is NULL");
    *canonical = NULL;
    CHECK_ARG(g, "sk_gen_normalize", "generator is NULL");
    CHECK_ARG(family, "sk_gen_normalize", "family is NULL");
    CHECK_ARG(arch, "sk_gen_normalize", "arch is NULL");
    gen_job j = {.family = family, .config = config, .arch = arch};
    return run_job(g, job_normalize, &j, canonical, err);
}

sparsek_status sk_gen_candidates(sk_gen *g, const char *family, const char *config, const char *arch,
                                 char **out, sk_err *err) {
    CHECK_ARG(out, "sk_gen_candidates", "out is NULL");
    *out = NULL;
    CHECK_ARG(g, "sk_gen_candidates", "generator is NULL");
    CHECK_ARG(family, "sk_gen_candidates", "family is NULL");
    CHECK_ARG(arch, "sk_gen_candidates", "arch is NULL");
    gen_job j = {.family = family, .config = config, .arch = arch};
    return run_job(g, job_candidates, &j, out, err);
}

sparsek_status sk_gen_generate(sk_gen *g, const char *family, const char *canonical,
                               const char *arch, const char *cache_key,
                               sparsek_kernel_source *out, sk_err *err) {
    CHECK_ARG(out, "sk_gen_generate", "out is NULL");
    memset(out, 0, sizeof *out);
    CHECK_ARG(g, "sk_gen_generate", "generator is NULL");
    CHECK_ARG(family, "sk_gen_generate", "family is NULL");
    CHECK_ARG(canonical, "sk_gen_generate", "canonical config is NULL");
    CHECK_ARG(arch, "sk_gen_generate", "arch is NULL");
    CHECK_ARG(cache_key, "sk_gen_generate", "cache_key is NULL");
    gen_job j = {.family = family, .config = canonical, .arch = arch, .cache_key = cache_key, .src = out};
    sparsek_status st = protected_call(g, job_generate, &j, err);
    if (st == SPARSEK_OK && j.oom) st = sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory");
    if (st) sk_kernel_source_clear(out);
    return st;
}

sparsek_status sk_gen_eval(sk_gen *g, const char *chunkname, const char *code, char **result,
                           sk_err *err) {
    CHECK_ARG(result, "sk_gen_eval", "result is NULL");
    *result = NULL;
    CHECK_ARG(g, "sk_gen_eval", "generator is NULL");
    CHECK_ARG(code, "sk_gen_eval", "code is NULL");
    /* chunkname may be NULL: errors then read "eval:LINE: ..." */
    gen_job j = {.chunkname = chunkname ? chunkname : "=eval", .code = code};
    return run_job(g, job_eval, &j, result, err);
}

void sk_kernel_source_clear(sparsek_kernel_source *s) {
    if (!s) return;
    free(s->family);
    free(s->arch);
    free(s->template_name);
    free(s->config);
    free(s->kernel_name);
    free(s->source);
    free(s->grid_rule);
    free(s->cache_key);
    memset(s, 0, sizeof *s);
}
