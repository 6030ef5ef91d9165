#!/usr/bin/env python3
"""prepare.py IN.cu OUT.cc - turn a generated SparseK kernel into C++ for the CPU emulator.

Removes the CUDA headers and the inline-PTX helper definitions (tests/emu/emu_kernel.h defines
emulations of the same names), points dynamic shared memory at the emulator's buffer, wraps the
source in a namespace of its own (helpers of different kernels share names) and registers the
kernel with the fake driver under its name."""
import re
import sys

HELPERS = ["mma_m16n8k16_fp16", "mma_m16n8k16_bf16", "ldmatrix_x4", "ldmatrix_x4_trans", "cp_async_16",
           "cp_async_commit", "cp_async_wait", "pack2", "fast_exp2", "st_shared_b32", "ld_shared_v4",
           "pdl_begin", "pdl_launch_only", "flag_release", "flag_wait"]


def drop_helpers(lines):
    out, i = [], 0
    pat = re.compile(r"^__device__ __forceinline__ [\w:&\s\*]*?\b(%s)\(" % "|".join(HELPERS))
    while i < len(lines):
        m = pat.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        name = m.group(1)
        if out and out[-1].startswith("template <"):
            out.pop()
        depth, j = 0, i
        while True:
            depth += lines[j].count("{") - lines[j].count("}")
            if depth == 0 and "{" in "".join(lines[i:j + 1]):
                break
            j += 1
        if name == "pack2":
            out.append("inline uint32_t pack2(float lo, float hi) { return emu_pack2<elem_t>(lo, hi); }")
        i = j + 1
    return out


def main():
    src = open(sys.argv[1]).read()
    lines = [l for l in src.split("\n") if not re.match(r"#include <cuda_(fp16|bf16)\.h>", l)]
    lines = drop_helpers(lines)
    text = "\n".join(lines)
    text = re.sub(r"extern __shared__ __align__\(\d+\) unsigned char (\w+)\[\];",
                  r"unsigned char *\1 = emu_dyn_smem();", text)
    m = re.search(r'extern "C" __global__ void __launch_bounds__\([^)]*\)\s*(\w+)\(const __grid_constant__ (\w+) p\)', text)
    if not m:
        sys.exit("prepare.py: no kernel signature in " + sys.argv[1])
    name, ptype = m.group(1), m.group(2)
    if re.search(r"\basm\b", text):
        sys.exit("prepare.py: inline asm left in %s (a helper the emulator does not know)" % sys.argv[1])
    ns = "emu_" + name
    out = ['#include "emu_kernel.h"', "namespace %s {" % ns, text, "}  // namespace",
           'extern "C" void emu_register(const char *, void (*)(const void *));',
           "static void run_%s(const void *p) { %s::%s(*(const %s::%s *)p); }" % (name, ns, name, ns, ptype),
           "static struct reg_%s { reg_%s() { emu_register(\"%s\", run_%s); } } reg_%s_inst;" % (name, name, name, name, name),
           ""]
    open(sys.argv[2], "w").write("\n".join(out))


if __name__ == "__main__":
    main()
