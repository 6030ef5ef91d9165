#!/usr/bin/env bash
# Run 63: prefill CTAs stop before the gathered keys past their own rows' candidates (past_rows in
# templates/sparsek_params.cut): correctness (gpu_sparsek, path=mma), then prefill A/B against the
# build before it (devbin/base), alternating, our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 300 devbin/gpu_sparsek --shapes 40 --seed 63 --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu_sparsek63.log" 2>&1
echo "gpu_sparsek exit $?"; grep -vE "^ok " "$OUT/gpu_sparsek63.log" | tail -4
timeout 200 devbin/gpu_sparsek --shapes 12 --seed 64 --tiles path=mma --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu_sparsek63_mma.log" 2>&1
echo "gpu_sparsek path=mma exit $?"; grep -vE "^ok " "$OUT/gpu_sparsek63_mma.log" | tail -3
for lib in devbin/libsparsek.so devbin/base/libsparsek.so devbin/libsparsek.so devbin/base/libsparsek.so; do
  PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib "$lib" --no-peers \
    --prefill '32768,2048,512;32768,1024,256;131072,1024,256' 2>&1 | grep -E "^prefill" | sed "s|^|[$lib] |"
done
