/* sk_gridrule.c — a recursive-descent evaluator for grid rules (see sk_gridrule.h). */
#include "sk_gridrule.h"
#include <ctype.h>
#include <string.h>

typedef struct parser {
    const char *s, *p;
    const sk_gridvar *vars;
    int nvars;
    sk_err *err;
    int failed;
} parser;

static int64_t fail(parser *ps, const char *what) {
    if (!ps->failed)
        sk_fail(ps->err, SPARSEK_INVALID_ARGUMENT, "grid rule '%s': %s at offset %d", ps->s, what,
                (int)(ps->p - ps->s));
    ps->failed = 1;
    return 0;
}

static int64_t expr(parser *ps);

static int64_t call(parser *ps, const char *name, size_t n) {
    int64_t a = expr(ps);
    if (*ps->p != ',') return fail(ps, "expected ','");
    ps->p++;
    int64_t b = expr(ps);
    if (*ps->p != ')') return fail(ps, "expected ')'");
    ps->p++;
    if (n == 4 && !strncmp(name, "cdiv", 4)) {
        if (b <= 0) return fail(ps, "cdiv by a non-positive number");
        return (a + b - 1) / b;
    }
    if (n == 3 && !strncmp(name, "min", 3)) return a < b ? a : b;
    if (n == 3 && !strncmp(name, "max", 3)) return a > b ? a : b;
    return fail(ps, "unknown function");
}

static int64_t factor(parser *ps) {
    const char *p = ps->p;
    if (isdigit((unsigned char)*p)) {
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10) return fail(ps, "number too large");
            v = v * 10 + (*p++ - '0');
        }
        ps->p = p;
        return v;
    }
    if (*p == '(') {
        ps->p++;
        int64_t v = expr(ps);
        if (*ps->p != ')') return fail(ps, "expected ')'");
        ps->p++;
        return v;
    }
    if (isalpha((unsigned char)*p) || *p == '_') {
        const char *start = p;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        size_t n = (size_t)(p - start);
        ps->p = p;
        if (*p == '(') {
            ps->p++;
            return call(ps, start, n);
        }
        for (int i = 0; i < ps->nvars; i++)
            if (strlen(ps->vars[i].name) == n && !strncmp(ps->vars[i].name, start, n)) return ps->vars[i].value;
        return fail(ps, "unknown variable");
    }
    return fail(ps, "expected a number, variable or '('");
}

static int64_t term(parser *ps) {
    int64_t v = factor(ps);
    while (!ps->failed && (*ps->p == '*' || *ps->p == '/')) {
        char op = *ps->p++;
        int64_t r = factor(ps);
        if (op == '*') v *= r;
        else if (r == 0) return fail(ps, "division by zero");
        else v /= r;
    }
    return v;
}

static int64_t expr(parser *ps) {
    int64_t v = term(ps);
    while (!ps->failed && (*ps->p == '+' || *ps->p == '-')) {
        char op = *ps->p++;
        int64_t r = term(ps);
        v = op == '+' ? v + r : v - r;
    }
    return v;
}

sparsek_status sk_gridrule_eval(const char *rule, const sk_gridvar *vars, int nvars, unsigned grid[3],
                                sk_err *err) {
    if (!rule || !grid || (nvars > 0 && !vars))
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_gridrule_eval: NULL argument");
    parser ps = {rule, rule, vars, nvars, err, 0};
    static const int64_t limit[3] = {2147483647LL, 65535, 65535};
    for (int d = 0; d < 3; d++) {
        while (*ps.p == ' ') ps.p++;
        int64_t v = expr(&ps);
        if (ps.failed) return SPARSEK_INVALID_ARGUMENT;
        if (*ps.p != ' ' && *ps.p != 0) {
            fail(&ps, "unexpected character");
            return SPARSEK_INVALID_ARGUMENT;
        }
        if (v < 1 || v > limit[d])
            return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "grid rule '%s': dimension %c = %lld outside [1, %lld]",
                           rule, "xyz"[d], (long long)v, (long long)limit[d]);
        grid[d] = (unsigned)v;
    }
    while (*ps.p == ' ') ps.p++;
    if (*ps.p) {
        fail(&ps, "more than three dimensions");
        return SPARSEK_INVALID_ARGUMENT;
    }
    return SPARSEK_OK;
}
