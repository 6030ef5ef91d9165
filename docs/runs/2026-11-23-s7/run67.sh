#!/usr/bin/env bash
# Run 67: decode_step's tau-list pass with 16 loads a thread in flight (was 4) and the new key's
# score loaded with the state header: decode-state sequences, then decode A/B against the build
# before it (devbin/base), alternating.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 250 devbin/gpu_sparsek --state --shapes 30 --seed 67 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state67.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state67.log" | tail -3
for lib in devbin/libsparsek.so devbin/base/libsparsek.so devbin/libsparsek.so devbin/base/libsparsek.so; do
  PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib "$lib" --decode-only 2>&1 \
    | grep -E "^decode.*state" | sed "s|^|[$lib] |"
done
