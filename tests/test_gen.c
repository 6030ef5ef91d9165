/* test_gen.c — the embedded generator (gen/sk_gen.c, gen/lua/sparsek/{gen,template}.lua):
 * sandbox, limits, error positions, the generation contract, digest and overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sk_gen.h"
#include "sk_test_util.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

/* A family whose templates fail on purpose, at known lines. */
static const char BAD_LUA[] =
    "local template = require(\"sparsek.template\")\n"
    "return {\n"
    "  family = \"bad\", description = \"fails on purpose\",\n"
    "  keys = {\n"
    "    { name = \"mode\", default = \"ok\",\n"
    "      values = { \"ok\", \"error\", \"nil\", \"syntax\", \"loop\", \"badresult\", \"invalid\", \"reject\" } },\n"
    "    { name = \"n\", default = \"1\", check = function(v) if not v:match(\"^%d+$\") then return \"not a number\" end end },\n"
    "  },\n"
    "  validate = function(cfg, arch) if cfg.mode == \"reject\" then return \"mode=reject is never valid\" end end,\n"
    "  generate = function(cfg, arch, ctx)\n"
    "    if cfg.mode == \"invalid\" then error(\"invalid config: n too large for this test\") end\n"
    "    if cfg.mode == \"badresult\" then return { template = \"templates/bad.cut\" } end\n"
    "    local path = cfg.mode == \"syntax\" and \"templates/bad_syntax.cut\" or \"templates/bad.cut\"\n"
    "    local src = template.render(path, { mode = cfg.mode, kernel_name = \"bad_kernel\" })\n"
    "    return { template = path, source = src, kernel_name = \"bad_kernel\", grid = \"1 1 1\",\n"
    "             block = { 32, 1, 1 }, cluster = { 1, 1, 1 }, smem = 0 }\n"
    "  end,\n"
    "}\n";

static const char BAD_CUT[] =
    "// bad.cut: fails on purpose\n"                         /* 1 */
    "extern \"C\" __global__ void ${kernel_name}() {}\n"     /* 2 */
    "$ if mode == \"error\" then\n"                          /* 3 */
    "$   error(\"boom on line four\")\n"                     /* 4 */
    "$ end\n"                                                /* 5 */
    "$ if mode == \"nil\" then\n"                            /* 6 */
    "int x = ${missing_value};\n"                            /* 7 */
    "$ end\n"                                                /* 8 */
    "$ if mode == \"loop\" then\n"                           /* 9 */
    "$   while true do end\n"                                /* 10 */
    "$ end\n";                                               /* 11 */

static const char BAD_SYNTAX_CUT[] =
    "// a Lua syntax error on line 3\n"
    "$ local x = 1\n"
    "$ if x then then\n"
    "$ end\n";

static const char PART_CUT[] = "part v=${v}\n";

static char *g_fixture; /* override folder holding the files above */

static void write_rel(const char *dir, const char *rel, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* mkdir -p of the parents */
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    }
    assert_int_equal(skt_write_file(path, text, strlen(text)), 0);
}

static sk_gen *open_ok(const char *dir) {
    sk_gen *g = NULL;
    sk_err e = {0};
    sparsek_status st = sk_gen_open(&g, dir, &e);
    if (st) fprintf(stderr, "sk_gen_open: %s\n", e.msg);
    assert_int_equal(st, SPARSEK_OK);
    assert_non_null(g);
    return g;
}

/* Evaluates `code`; returns the result (caller frees). */
static char *eval_ok(sk_gen *g, const char *code) {
    char *r = NULL;
    sk_err e = {0};
    sparsek_status st = sk_gen_eval(g, "=test", code, &r, &e);
    if (st) fprintf(stderr, "eval failed: %s\n  code: %s\n", e.msg, code);
    assert_int_equal(st, SPARSEK_OK);
    assert_non_null(r);
    return r;
}

static void expect_eval(sk_gen *g, const char *code, const char *want) {
    char *r = eval_ok(g, code);
    if (strcmp(r, want)) fprintf(stderr, "code: %s\n  got:  [%s]\n  want: [%s]\n", code, r, want);
    assert_string_equal(r, want);
    free(r);
}

static void expect_contains(const char *msg, const char *part) {
    if (!strstr(msg, part)) fprintf(stderr, "message lacks [%s]:\n%s\n", part, msg);
    assert_non_null(strstr(msg, part));
}

/* Evaluates `code`, expecting failure with `st` and a message containing `part`. */
static void expect_eval_fail(sk_gen *g, const char *code, sparsek_status st, const char *part) {
    char *r = (char *)"unset";
    sk_err e = {0};
    assert_int_equal(sk_gen_eval(g, "=test", code, &r, &e), st);
    assert_null(r);
    assert_int_equal(e.status, st);
    expect_contains(e.msg, part);
}

static void expect_normalize(sk_gen *g, const char *family, const char *config, const char *want) {
    char *c = NULL;
    sk_err e = {0};
    sparsek_status st = sk_gen_normalize(g, family, config, "sm_90a", &c, &e);
    if (st) fprintf(stderr, "normalize(%s, %s): %s\n", family, config, e.msg);
    assert_int_equal(st, SPARSEK_OK);
    assert_string_equal(c, want);
    free(c);
}

/* Expects normalize to refuse with SPARSEK_INVALID_ARGUMENT, no traceback, reason containing `part`. */
static void expect_invalid(sk_gen *g, const char *family, const char *config, const char *arch,
                           const char *part) {
    char *c = (char *)"unset";
    sk_err e = {0};
    assert_int_equal(sk_gen_normalize(g, family, config, arch, &c, &e), SPARSEK_INVALID_ARGUMENT);
    assert_null(c);
    expect_contains(e.msg, part);
    assert_null(strstr(e.msg, "traceback"));
}

/* Generates family `bad` with `mode`; returns the status, message in *e. */
static sparsek_status gen_bad(sk_gen *g, const char *mode, sk_err *e) {
    char cfg[64], *canon = NULL;
    snprintf(cfg, sizeof cfg, "mode=%s", mode);
    assert_int_equal(sk_gen_normalize(g, "bad", cfg, "sm_80", &canon, e), SPARSEK_OK);
    sparsek_kernel_source s;
    sparsek_status st = sk_gen_generate(g, "bad", canon, "sm_80", "k", &s, e);
    free(canon);
    if (st == SPARSEK_OK) sk_kernel_source_clear(&s);
    else assert_null(s.source);
    return st;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- sandbox ------------------------------------------------------------------------------- */

static void test_sandbox_globals(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    static const char *const absent[] = {
        "io", "os", "debug", "package", "dofile", "loadfile", "loadstring", "print", "warn",
        "coroutine", "module", "setfenv", "getfenv", "unpack", "string.dump", "math.random",
        "math.randomseed", NULL};
    for (const char *const *a = absent; *a; a++) {
        char code[128];
        snprintf(code, sizeof code, "return type(%s)", *a);
        expect_eval(g, code, "nil");
    }
    expect_eval(g, "return type(string) .. type(table) .. type(math) .. type(utf8)", "tabletabletabletable");
    expect_eval(g, "return type(load) .. type(require) .. type(pcall) .. type(collectgarbage)",
                "functionfunctionfunctionfunction");
    expect_eval(g, "return rawget(_G, 'io') == nil and _ENV.os == nil and _G._G.debug == nil", "true");
    expect_eval(g, "return type(getmetatable('').__index.dump)", "nil");
    sk_gen_close(g);
}

static void test_sandbox_require(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    static const char *const bad[] = {"../../etc/passwd", "/etc/passwd", "sparsek.../x", "sparsek.",
                                      "templates/vec_add", "vec_add.lua", "", NULL};
    for (const char *const *b = bad; *b; b++) {
        char code[256];
        snprintf(code, sizeof code, "local ok, e = pcall(require, '%s') return tostring(ok) .. ' ' .. e", *b);
        char *r = eval_ok(g, code);
        assert_memory_equal(r, "false ", 6);
        expect_contains(r, "bad module name");
        free(r);
    }
    /* Well-formed names still only reach scripts of the set. */
    expect_eval(g, "return select(2, pcall(require, 'io')):match('not found') ~= nil", "true");
    expect_eval(g, "return select(2, pcall(require, 'sparsek.nope')):match('not found') ~= nil", "true");
    expect_eval(g, "return type(require('sparsek.template').render)", "function");
    expect_eval(g, "return require('sparsek.template') == require('sparsek.template')", "true");
    expect_eval(g, "return require('vec_add').family", "vec_add");
    sk_gen_close(g);
}

static void test_sandbox_binary_chunks(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    expect_eval(g, "return select(2, load('\\27Lua\\84\\0'))", "attempt to load a binary chunk (mode is 't')");
    expect_eval(g, "return select(2, load('\\27Lua\\84\\0', 'x', 'b'))", "attempt to load a binary chunk (mode is 't')");
    expect_eval(g, "return select(2, load('\\27Lua', 'x', 'bt', {}))", "attempt to load a binary chunk (mode is 't')");
    expect_eval(g, "local s = '\\27Lua\\84' return select(2, load(function() local r = s s = nil return r end))",
                "attempt to load a binary chunk (mode is 't')");
    /* Text chunks still work, environments included. */
    expect_eval(g, "return load('return 40 + 2')()", "42");
    expect_eval(g, "return load('return x', 'c', 't', { x = 5 })()", "5");
    expect_eval(g, "return load('return io', 'c', 'b', { io = 'own' })()", "own");
    sk_gen_close(g);
}

static void test_sandbox_string_metatable(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    /* Pointing the string methods at _G reaches nothing more than _G holds. */
    expect_eval(g, "getmetatable('').__index = _G return type(('x').io) .. type(('x').os)", "nilnil");
    expect_eval(g, "getmetatable('').__index = function(s, k) return _G[k] end return type(('').debug)", "nil");
    sk_gen_close(g);
    /* The tampering stays in that state: a fresh one has its string methods. */
    g = open_ok(NULL);
    expect_eval(g, "return ('%d'):format(7)", "7");
    sk_gen_close(g);
}

/* ---- limits -------------------------------------------------------------------------------- */

static void test_instruction_limit(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    sk_gen_set_instruction_limit(g, 1000000);
    double t0 = now_s();
    expect_eval_fail(g, "while true do end", SPARSEK_GENERATOR, "instruction limit exceeded");
    /* pcall inside Lua cannot swallow it */
    expect_eval_fail(g, "while true do pcall(function() while true do end end) end", SPARSEK_GENERATOR,
                     "instruction limit exceeded");
    assert_true(now_s() - t0 < 10.0);
    /* the state is usable afterwards, and the count restarts per call */
    expect_eval(g, "return 1 + 1", "2");
    expect_eval(g, "local s = 0 for i = 1, 100000 do s = s + i end return s", "5000050000");
    expect_eval(g, "local s = 0 for i = 1, 100000 do s = s + i end return s", "5000050000");
    /* a looping template fails the same way, and generation still works after */
    sk_gen_close(g);
    g = open_ok(g_fixture);
    sk_gen_set_instruction_limit(g, 1000000);
    sk_err e = {0};
    assert_int_equal(gen_bad(g, "loop", &e), SPARSEK_GENERATOR);
    expect_contains(e.msg, "instruction limit exceeded");
    expect_contains(e.msg, "templates/bad.cut:10");
    assert_int_equal(gen_bad(g, "ok", &e), SPARSEK_OK);
    sk_gen_set_instruction_limit(g, 0); /* back to the default */
    expect_eval(g, "local s = 0 for i = 1, 2000000 do s = s + 1 end return s", "2000000");
    sk_gen_close(g);
}

static void test_memory_cap(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    expect_eval_fail(g, "return #string.rep('x', 600 * 1024 * 1024)", SPARSEK_GENERATOR, "memory limit");
    expect_eval_fail(g, "local t = {} for i = 1, 600 do t[i] = string.rep('x', 1 << 20) .. i end return #t",
                     SPARSEK_GENERATOR, "memory limit");
    expect_eval(g, "return #string.rep('x', 1 << 20)", "1048576");
    char *c = NULL;
    sk_err e = {0};
    assert_int_equal(sk_gen_normalize(g, "vec_add", "", "sm_90a", &c, &e), SPARSEK_OK);
    free(c);
    sk_gen_close(g);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_eval_errors(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    expect_eval_fail(g, "error('plain failure')", SPARSEK_GENERATOR, "test:1: plain failure");
    expect_eval_fail(g, "local function f() error('deep') end\nf()", SPARSEK_GENERATOR, "stack traceback");
    expect_eval_fail(g, "return +", SPARSEK_GENERATOR, "test:1:");
    expect_eval_fail(g, "error(setmetatable({}, {__tostring = function() return 'custom' end}))",
                     SPARSEK_GENERATOR, "custom");
    expect_eval_fail(g, "error({})", SPARSEK_GENERATOR, "error object is a table value");
    /* The invalid-config protocol: a reason, no traceback. */
    sk_err e = {0};
    char *r = NULL;
    assert_int_equal(sk_gen_eval(g, NULL, "error({ invalid_config = 'why not' })", &r, &e), SPARSEK_INVALID_ARGUMENT);
    assert_string_equal(e.msg, "why not");
    assert_int_equal(sk_gen_eval(g, NULL, "error('invalid config: because')", &r, &e), SPARSEK_INVALID_ARGUMENT);
    assert_string_equal(e.msg, "because");
    assert_int_equal(sk_gen_eval(g, NULL, "error('invalid config: at level 0', 0)", &r, &e), SPARSEK_INVALID_ARGUMENT);
    assert_string_equal(e.msg, "at level 0");
    expect_eval(g, "return nil", "nil");
    expect_eval(g, "return", "nil");
    sk_gen_close(g);
}

static void test_template_error_lines(void **state) {
    (void)state;
    sk_gen *g = open_ok(g_fixture);
    sk_err e = {0};
    assert_int_equal(gen_bad(g, "ok", &e), SPARSEK_OK);

    assert_int_equal(gen_bad(g, "error", &e), SPARSEK_GENERATOR);
    assert_int_equal(e.status, SPARSEK_GENERATOR);
    assert_memory_equal(e.msg, "templates/bad.cut:4: boom on line four", 38);
    expect_contains(e.msg, "stack traceback");
    expect_contains(e.msg, "templates/bad.lua:14"); /* where generate rendered it */

    assert_int_equal(gen_bad(g, "nil", &e), SPARSEK_GENERATOR);
    expect_contains(e.msg, "templates/bad.cut:7: ${missing_value} is nil");

    assert_int_equal(gen_bad(g, "syntax", &e), SPARSEK_GENERATOR);
    expect_contains(e.msg, "templates/bad_syntax.cut:3:");

    /* generate returning an incomplete table: a generator bug naming the family file */
    assert_int_equal(gen_bad(g, "badresult", &e), SPARSEK_GENERATOR);
    expect_contains(e.msg, "templates/bad.lua: generate");

    /* "invalid config: " raised by family code: the reason alone */
    assert_int_equal(gen_bad(g, "invalid", &e), SPARSEK_INVALID_ARGUMENT);
    assert_string_equal(e.msg, "n too large for this test");

    /* errors do not stick: the same state generates again */
    assert_int_equal(gen_bad(g, "ok", &e), SPARSEK_OK);
    sk_gen_close(g);
}

static void test_broken_module(void **state) {
    (void)state;
    char *dir = skt_tmpdir("gen-broken");
    write_rel(dir, "templates/broken.lua", "local x = nil\nreturn x.y\n");
    sk_gen *g = open_ok(dir);
    sk_err e = {0};
    char *out = (char *)"unset";
    for (int i = 0; i < 2; i++) { /* the second time too: not mistaken for a require cycle */
        assert_int_equal(sk_gen_families(g, &out, &e), SPARSEK_GENERATOR);
        assert_null(out);
        expect_contains(e.msg, "templates/broken.lua:2:");
    }
    sk_gen_close(g);
    /* a broken gen.lua fails sk_gen_open itself, with the position */
    write_rel(dir, "gen/lua/sparsek/gen.lua", "local x = \n");
    sk_gen *g2 = (sk_gen *)&e;
    assert_int_equal(sk_gen_open(&g2, dir, &e), SPARSEK_GENERATOR);
    assert_null(g2);
    expect_contains(e.msg, "gen/lua/sparsek/gen.lua:2:");
    skt_rmtree(dir);
    free(dir);
}

/* ---- the template engine ------------------------------------------------------------------ */

static void test_template_engine(void **state) {
    (void)state;
    sk_gen *g = open_ok(g_fixture);
    expect_eval(g,
                "local t = require('sparsek.template')\n"
                "return t.compile('templates/x.cut', 'a ${1 + 1} b\\n$ for i = 1, 3 do\\n  v${i}${i == 3 and \"}\" or \",\"}\\n$ end\\nend')({})",
                "a 2 b\n  v1,\n  v2,\n  v3}\nend");
    /* `$` elsewhere, `${` at the start of a line, blanks before `$`, a `$` line with no code */
    expect_eval(g,
                "return require('sparsek.template').compile('x', 'cost $5\\n${n}x\\n   $ local y = n * 2\\n$\\n${y} ${ ({7})[1] }\\n')({ n = 3 })",
                "cost $5\n3x\n6 7\n");
    /* emit, include, env lookups and the caller's table left alone */
    expect_eval(g,
                "local env = { v = 1 }\n"
                "local out = require('sparsek.template').compile('x', '$ emit(\"hi \")\\n$ include(\"templates/part.cut\", { v = 7 })\\n$ include(\"templates/part.cut\")\\n$ w = 5\\n${math.max(w, v)}')(env)\n"
                "return out .. tostring(env.w)",
                "hi part v=7\npart v=1\n5nil");
    /* deterministic: the same template twice gives the same bytes */
    expect_eval(g, "local t = require('sparsek.template') return t.render('templates/part.cut', {v = 2}) == t.render('templates/part.cut', {v = 2})", "true");
    expect_eval_fail(g, "return require('sparsek.template').compile('templates/y.cut', 'ok\\n${nope}\\n')({})",
                     SPARSEK_GENERATOR, "templates/y.cut:2: ${nope} is nil");
    expect_eval_fail(g, "return require('sparsek.template').compile('templates/y.cut', 'ok\\nok\\nx ${ 1 + \\n')",
                     SPARSEK_GENERATOR, "templates/y.cut:3: unterminated ${");
    expect_eval_fail(g, "return require('sparsek.template').compile('templates/y.cut', '\\n$ for do\\n')",
                     SPARSEK_GENERATOR, "templates/y.cut:2:");
    expect_eval_fail(g, "return require('sparsek.template').render('templates/none.cut', {})",
                     SPARSEK_GENERATOR, "no script 'templates/none.cut'");
    sk_gen_close(g);
}

static void test_script_access(void **state) {
    (void)state;
    sk_gen *g = open_ok(g_fixture);
    expect_eval(g, "return table.concat(sparsek_list_scripts('templates/bad'), ' ')",
                "templates/bad.cut templates/bad.lua templates/bad_syntax.cut");
    expect_eval(g, "local l = sparsek_list_scripts() for i = 2, #l do assert(l[i - 1] < l[i]) end return #l > 5", "true");
    expect_eval(g, "return sparsek_read_script('templates/part.cut')", PART_CUT);
    expect_eval(g, "return #sparsek_read_script('gen/lua/sparsek/gen.lua') > 100", "true");
    expect_eval(g, "return select(2, sparsek_read_script('/etc/passwd'))", "no script '/etc/passwd' among the generator scripts");
    expect_eval(g, "return sparsek_read_script('../templates/part.cut')", "nil");
    sk_gen_close(g);
}

/* ---- the generation contract ------------------------------------------------------------- */

static void test_families(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    char *f = NULL;
    sk_err e = {0};
    assert_int_equal(sk_gen_families(g, &f, &e), SPARSEK_OK);
    expect_contains(f, "vec_add");
    assert_null(strstr(f, "bad"));
    free(f);
    sk_gen_close(g);
    g = open_ok(g_fixture);
    assert_int_equal(sk_gen_families(g, &f, &e), SPARSEK_OK);
    expect_contains(f, "bad ");
    expect_contains(f, "vec_add");
    free(f);
    expect_eval(g, "local k = require('sparsek.gen').describe('vec_add') return k[1].name .. ' ' .. k[1].default .. ' ' .. #k[1].values", "threads 256 4");
    sk_gen_close(g);
}

static void test_normalize(void **state) {
    (void)state;
    sk_gen *g = open_ok(g_fixture);
    expect_normalize(g, "vec_add", NULL, "dtype=f32 threads=256");
    expect_normalize(g, "vec_add", "", "dtype=f32 threads=256");
    expect_normalize(g, "vec_add", "   threads=128  ", "dtype=f32 threads=128");
    expect_normalize(g, "vec_add", "threads=64\tdtype=f32\n", "dtype=f32 threads=64");
    expect_normalize(g, "vec_add", "dtype=f32 threads=512", "dtype=f32 threads=512");
    expect_normalize(g, "bad", "n=12", "mode=ok n=12");

    expect_invalid(g, "vec_add", "foo=1", "sm_90a", "unknown key 'foo'");
    expect_invalid(g, "vec_add", "threads=100", "sm_90a", "threads=100 is not one of: 64 128 256 512");
    expect_invalid(g, "vec_add", "dtype=f16", "sm_90a", "dtype=f16");
    expect_invalid(g, "vec_add", "threads=64 threads=128", "sm_90a", "duplicate key 'threads'");
    expect_invalid(g, "vec_add", "threads=", "sm_90a", "empty value");
    expect_invalid(g, "vec_add", "threads", "sm_90a", "'threads' is not key=value");
    expect_invalid(g, "vec_add", "=5", "sm_90a", "no key");
    expect_invalid(g, "vec_add", "", "sm_70", "unknown arch 'sm_70'");
    expect_invalid(g, "vec_add", "", "", "unknown arch");
    expect_invalid(g, "no_such_family", "", "sm_90a", "unknown family 'no_such_family'");
    expect_invalid(g, "../vec_add", "", "sm_90a", "unknown family");
    expect_invalid(g, "bad", "n=abc", "sm_90a", "n=abc: not a number");
    /* validate's reason, exactly */
    char *c = NULL;
    sk_err e = {0};
    assert_int_equal(sk_gen_normalize(g, "bad", "mode=reject", "sm_90a", &c, &e), SPARSEK_INVALID_ARGUMENT);
    assert_string_equal(e.msg, "mode=reject is never valid");
    sk_gen_close(g);
}

static sparsek_kernel_source generate_ok(sk_gen *g, const char *family, const char *config,
                                         const char *arch, const char *key) {
    char *canon = NULL;
    sk_err e = {0};
    assert_int_equal(sk_gen_normalize(g, family, config, arch, &canon, &e), SPARSEK_OK);
    sparsek_kernel_source s;
    sparsek_status st = sk_gen_generate(g, family, canon, arch, key, &s, &e);
    if (st) fprintf(stderr, "generate: %s\n", e.msg);
    assert_int_equal(st, SPARSEK_OK);
    free(canon);
    return s;
}

static void test_generate_vec_add(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    sparsek_kernel_source s = generate_ok(g, "vec_add", "threads=128", "sm_90a", key);
    assert_string_equal(s.family, "vec_add");
    assert_string_equal(s.arch, "sm_90a");
    assert_string_equal(s.template_name, "templates/vec_add.cut");
    assert_string_equal(s.config, "dtype=f32 threads=128");
    assert_string_equal(s.kernel_name, "sparsek_vec_add_t128_f32");
    assert_string_equal(s.grid_rule, "cdiv(n,512) 1 1");
    assert_string_equal(s.cache_key, key);
    assert_int_equal(s.block[0], 128);
    assert_int_equal(s.block[1], 1);
    assert_int_equal(s.block[2], 1);
    assert_int_equal(s.cluster[0], 1);
    assert_int_equal(s.dynamic_smem, 0);
    /* the banner: template, every config value, cache key, kernel */
    const char *first = "// Generated by SparseK from templates/vec_add.cut - DO NOT EDIT\n";
    assert_int_equal(strncmp(s.source, first, strlen(first)), 0);
    expect_contains(s.source, "// family: vec_add\n");
    expect_contains(s.source, "// arch: sm_90a\n");
    expect_contains(s.source, "//   dtype = f32\n//   threads = 128\n");
    expect_contains(s.source, "// cache key: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    expect_contains(s.source, "// kernel: sparsek_vec_add_t128_f32\n");
    expect_contains(s.source, "extern \"C\" __global__ void __launch_bounds__(128)\nsparsek_vec_add_t128_f32(");
    expect_contains(s.source, "yv.w = fmaf(a, xv.w, yv.w);");
    assert_null(strstr(s.source, "${"));
    sk_kernel_source_clear(&s);
    assert_null(s.source);
    sk_kernel_source_clear(&s); /* twice is fine */

    /* a config that is not canonical is refused */
    sk_err e = {0};
    assert_int_equal(sk_gen_generate(g, "vec_add", "threads=128", "sm_90a", key, &s, &e), SPARSEK_INVALID_ARGUMENT);
    expect_contains(e.msg, "not canonical");
    assert_null(s.source);
    assert_int_equal(sk_gen_generate(g, "vec_add", "dtype=f32 threads=128", "sm_90a", "two\nlines", &s, &e),
                     SPARSEK_INVALID_ARGUMENT);
    sk_gen_close(g);
}

static void test_generate_deterministic(void **state) {
    (void)state;
    sk_gen *a = open_ok(NULL), *b = open_ok(NULL);
    static const char *const configs[] = {"threads=64", "threads=128", "threads=256", "threads=512"};
    for (int i = 0; i < 4; i++) {
        sparsek_kernel_source s1 = generate_ok(a, "vec_add", configs[i], "sm_80", "k");
        sparsek_kernel_source s2 = generate_ok(a, "vec_add", configs[i], "sm_80", "k");
        sparsek_kernel_source s3 = generate_ok(b, "vec_add", configs[i], "sm_80", "k");
        assert_string_equal(s1.source, s2.source);
        assert_string_equal(s1.source, s3.source);
        assert_string_equal(s1.grid_rule, s3.grid_rule);
        assert_string_equal(s1.kernel_name, s3.kernel_name);
        sk_kernel_source_clear(&s1);
        sk_kernel_source_clear(&s2);
        sk_kernel_source_clear(&s3);
    }
    sk_gen_close(a);
    sk_gen_close(b);
}

/* Every family built into the library generates its defaults, the same bytes twice. */
static void test_all_families_defaults(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    char *list = NULL;
    sk_err e = {0};
    assert_int_equal(sk_gen_families(g, &list, &e), SPARSEK_OK);
    static const char *const archs[] = {"sm_80", "sm_90a"};
    for (char *save = NULL, *fam = strtok_r(list, " ", &save); fam; fam = strtok_r(NULL, " ", &save)) {
        for (int a = 0; a < 2; a++) {
            sparsek_kernel_source s1 = generate_ok(g, fam, "", archs[a], "key");
            sparsek_kernel_source s2 = generate_ok(g, fam, "", archs[a], "key");
            assert_string_equal(s1.source, s2.source);
            expect_contains(s1.source, "DO NOT EDIT");
            expect_contains(s1.source, s1.kernel_name);
            assert_true(s1.block[0] >= 1);
            sk_kernel_source_clear(&s1);
            sk_kernel_source_clear(&s2);
        }
    }
    free(list);
    sk_gen_close(g);
}

/* ---- digest, overrides, SPARSEK_GEN_PATH --------------------------------------------------- */

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return 0;
    return 1;
}

static void test_digest_and_overrides(void **state) {
    (void)state;
    sk_gen *base = open_ok(NULL), *again = open_ok(NULL);
    assert_true(is_hex64(sk_gen_digest(base)));
    assert_string_equal(sk_gen_digest(base), sk_gen_digest(again));
    sk_gen_close(again);

    /* An override holding an identical copy changes nothing. */
    char *cut = eval_ok(base, "return sparsek_read_script('templates/vec_add.cut')");
    char *dir = skt_tmpdir("gen-digest");
    write_rel(dir, "templates/vec_add.cut", cut);
    sk_gen *same = open_ok(dir);
    assert_string_equal(sk_gen_digest(same), sk_gen_digest(base));
    sk_gen_close(same);

    /* One changed byte: another digest, and generation uses the override. */
    size_t n = strlen(cut);
    char *changed = malloc(n + 64);
    snprintf(changed, n + 64, "// OVERRIDDEN\n%s", cut);
    write_rel(dir, "templates/vec_add.cut", changed);
    sk_gen *over = open_ok(dir);
    assert_true(is_hex64(sk_gen_digest(over)));
    assert_string_not_equal(sk_gen_digest(over), sk_gen_digest(base));
    sparsek_kernel_source s = generate_ok(over, "vec_add", "", "sm_90a", "k");
    expect_contains(s.source, "// OVERRIDDEN\n");
    sk_kernel_source_clear(&s);
    char d1[65];
    snprintf(d1, sizeof d1, "%s", sk_gen_digest(over));
    sk_gen_close(over);

    /* A new file changes it too; hidden files and other extensions are ignored. */
    write_rel(dir, "templates/.#vec_add.lua", "junk");
    write_rel(dir, "templates/notes.txt", "junk");
    over = open_ok(dir);
    assert_string_equal(sk_gen_digest(over), d1);
    sk_gen_close(over);
    write_rel(dir, "templates/extra.cut", "x\n");
    over = open_ok(dir);
    assert_string_not_equal(sk_gen_digest(over), d1);
    assert_string_not_equal(sk_gen_digest(over), sk_gen_digest(base));
    sk_gen_close(over);

    free(changed);
    free(cut);
    sk_gen_close(base);
    skt_rmtree(dir);
    free(dir);
}

static void test_gen_path_env(void **state) {
    (void)state;
    sk_gen *g;
    sk_err e = {0};
    char *f = NULL;
    setenv("SPARSEK_GEN_PATH", g_fixture, 1);
    g = open_ok(NULL);
    assert_int_equal(sk_gen_families(g, &f, &e), SPARSEK_OK);
    expect_contains(f, "bad");
    free(f);
    sk_gen_close(g);

    /* An explicit folder wins over the variable. */
    char *other = skt_tmpdir("gen-other");
    write_rel(other, "templates/other.cut", "x\n");
    g = open_ok(other);
    assert_int_equal(sk_gen_families(g, &f, &e), SPARSEK_OK);
    assert_null(strstr(f, "bad"));
    free(f);
    sk_gen_close(g);

    /* Empty means unset. */
    setenv("SPARSEK_GEN_PATH", "", 1);
    sk_gen *plain = open_ok(NULL), *empty_arg = open_ok("");
    assert_string_equal(sk_gen_digest(plain), sk_gen_digest(empty_arg));
    sk_gen_close(plain);
    sk_gen_close(empty_arg);

    /* A missing folder is an error naming it and where it came from. */
    setenv("SPARSEK_GEN_PATH", "/nonexistent/sparsek-gen", 1);
    g = (sk_gen *)&e;
    assert_int_equal(sk_gen_open(&g, NULL, &e), SPARSEK_INVALID_ARGUMENT);
    assert_null(g);
    expect_contains(e.msg, "/nonexistent/sparsek-gen");
    expect_contains(e.msg, "SPARSEK_GEN_PATH");
    expect_contains(e.msg, "does not exist");
    unsetenv("SPARSEK_GEN_PATH");
    assert_int_equal(sk_gen_open(&g, "/nonexistent/sparsek-gen2", &e), SPARSEK_INVALID_ARGUMENT);
    expect_contains(e.msg, "/nonexistent/sparsek-gen2");
    /* A folder not laid out like the source tree is refused too. */
    char *flat = skt_tmpdir("gen-flat");
    write_rel(flat, "vec_add.cut", "x\n");
    assert_int_equal(sk_gen_open(&g, flat, &e), SPARSEK_INVALID_ARGUMENT);
    expect_contains(e.msg, "laid out like");
    skt_rmtree(flat);
    free(flat);
    skt_rmtree(other);
    free(other);
}

/* ---- NULL arguments ------------------------------------------------------------------------ */

static void test_null_arguments(void **state) {
    (void)state;
    sk_gen *g = open_ok(NULL);
    sk_err e;
    char *s = (char *)"unset";
    sparsek_kernel_source src;

#define EXPECT_INVALID(call, part)                                   \
    do {                                                             \
        memset(&e, 0, sizeof e);                                     \
        assert_int_equal((call), SPARSEK_INVALID_ARGUMENT);          \
        assert_int_equal(e.status, SPARSEK_INVALID_ARGUMENT);        \
        expect_contains(e.msg, part);                                \
    } while (0)

    EXPECT_INVALID(sk_gen_open(NULL, NULL, &e), "out is NULL");
    EXPECT_INVALID(sk_gen_families(NULL, &s, &e), "generator is NULL");
    assert_null(s);
    EXPECT_INVALID(sk_gen_families(g, NULL, &e), "out is NULL");
    EXPECT_INVALID(sk_gen_normalize(NULL, "vec_add", "", "sm_90a", &s, &e), "generator is NULL");
    EXPECT_INVALID(sk_gen_normalize(g, NULL, "", "sm_90a", &s, &e), "family is NULL");
    EXPECT_INVALID(sk_gen_normalize(g, "vec_add", "", NULL, &s, &e), "arch is NULL");
    EXPECT_INVALID(sk_gen_normalize(g, "vec_add", "", "sm_90a", NULL, &e), "canonical");
    const char *c = "dtype=f32 threads=256";
    EXPECT_INVALID(sk_gen_generate(NULL, "vec_add", c, "sm_90a", "k", &src, &e), "generator is NULL");
    EXPECT_INVALID(sk_gen_generate(g, NULL, c, "sm_90a", "k", &src, &e), "family is NULL");
    EXPECT_INVALID(sk_gen_generate(g, "vec_add", NULL, "sm_90a", "k", &src, &e), "canonical config is NULL");
    EXPECT_INVALID(sk_gen_generate(g, "vec_add", c, NULL, "k", &src, &e), "arch is NULL");
    EXPECT_INVALID(sk_gen_generate(g, "vec_add", c, "sm_90a", NULL, &src, &e), "cache_key is NULL");
    EXPECT_INVALID(sk_gen_generate(g, "vec_add", c, "sm_90a", "k", NULL, &e), "out is NULL");
    EXPECT_INVALID(sk_gen_eval(NULL, "x", "return 1", &s, &e), "generator is NULL");
    EXPECT_INVALID(sk_gen_eval(g, "x", NULL, &s, &e), "code is NULL");
    EXPECT_INVALID(sk_gen_eval(g, "x", "return 1", NULL, &e), "result is NULL");
#undef EXPECT_INVALID
    /* with no error struct either */
    assert_int_equal(sk_gen_open(NULL, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_families(NULL, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_normalize(g, NULL, NULL, NULL, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    assert_int_equal(sk_gen_eval(NULL, NULL, NULL, NULL, NULL), SPARSEK_INVALID_ARGUMENT);
    /* the void functions accept NULL */
    assert_string_equal(sk_gen_digest(NULL), "");
    sk_gen_set_instruction_limit(NULL, 5);
    sk_kernel_source_clear(NULL);
    sk_gen_close(NULL);
    /* the state is unharmed */
    expect_eval(g, "return 6 * 7", "42");
    sk_gen_close(g);
}

int main(void) {
    unsetenv("SPARSEK_GEN_PATH");
    g_fixture = skt_tmpdir("gen-fixture");
    write_rel(g_fixture, "templates/bad.lua", BAD_LUA);
    write_rel(g_fixture, "templates/bad.cut", BAD_CUT);
    write_rel(g_fixture, "templates/bad_syntax.cut", BAD_SYNTAX_CUT);
    write_rel(g_fixture, "templates/part.cut", PART_CUT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_globals),
        cmocka_unit_test(test_sandbox_require),
        cmocka_unit_test(test_sandbox_binary_chunks),
        cmocka_unit_test(test_sandbox_string_metatable),
        cmocka_unit_test(test_instruction_limit),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_template_error_lines),
        cmocka_unit_test(test_broken_module),
        cmocka_unit_test(test_template_engine),
        cmocka_unit_test(test_script_access),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_generate_vec_add),
        cmocka_unit_test(test_generate_deterministic),
        cmocka_unit_test(test_all_families_defaults),
        cmocka_unit_test(test_digest_and_overrides),
        cmocka_unit_test(test_gen_path_env),
        cmocka_unit_test(test_null_arguments),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    skt_rmtree(g_fixture);
    free(g_fixture);
    return failed ? 1 : 0;
}
