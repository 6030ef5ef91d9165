#!/bin/sh
# make demo: generate and compile the default dense-attention kernel for the local GPU (sm_90a
# without one), print what was built, and with a GPU run it through the whole pipeline.
set -eu
build="$1"
tune="$build/sparsek-tune"
echo "== generated source (first lines): $tune gen fmha_fwd d=128 dtype=bf16 causal=1"
"$tune" gen fmha_fwd d=128 dtype=bf16 causal=1 | head -n 24
echo "..."
for cfg in "d=64 dtype=bf16 causal=0" "d=128 dtype=bf16 causal=1" "d=128 dtype=fp16 causal=0"; do
    echo "== $tune compile fmha_fwd $cfg"
    "$tune" compile fmha_fwd $cfg
done
echo "== GPU check"
rc=0
"$build/tests/gpu_fmha" --shapes 24 || rc=$?
if [ "$rc" = 77 ]; then
    echo "no GPU here: kernels were generated and compiled for sm_90a; nothing was launched"
elif [ "$rc" != 0 ]; then
    exit "$rc"
fi
