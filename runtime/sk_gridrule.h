/* sk_gridrule.h — evaluates a launch grid rule such as "cdiv(sq,128) hq b": three
 * whitespace-separated integer expressions (x, y, z) over named launch variables, with
 * + - * /, parentheses, and the functions cdiv(a,b), min(a,b), max(a,b). */
#ifndef SK_GRIDRULE_H
#define SK_GRIDRULE_H
#include <stdint.h>
#include "sk_internal.h"

typedef struct sk_gridvar {
    const char *name;
    int64_t value;
} sk_gridvar;

/* Fills grid[3]. Fails with SPARSEK_INVALID_ARGUMENT on syntax errors, unknown variables,
 * division by zero, or a dimension outside [1, 2^31-1] (y and z: [1, 65535]). */
SK_HIDDEN sparsek_status sk_gridrule_eval(const char *rule, const sk_gridvar *vars, int nvars,
                                          unsigned grid[3], sk_err *err);
#endif
