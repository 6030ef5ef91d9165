#!/usr/bin/env bash
# Run 77: the one-kernel prefill selection with its registers capped for two CTAs per SM
# (sparsek_select minblocks=2), against one CTA per SM; the runtime's choice overridden through
# an experiment-only variable (SPARSEK_EXP_SELECT_KEYS, not committed). Correctness vs float64
# (the selection rows and tiles are checked too), then prefill A/B, our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
for keys in "hcap=16384 minblocks=2" "hcap=8192 minblocks=2"; do
  SPARSEK_EXP_SELECT_KEYS="$keys" timeout 240 $b/gpu_sparsek --shapes 24 --seed 77 --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu77-${keys// /_}.log" 2>&1
  echo "gpu_sparsek [$keys] exit $?: $(grep -E 'sparse correctness' "$OUT/gpu77-${keys// /_}.log")"
done
SPARSEK_EXP_SELECT_KEYS="hcap=16384 minblocks=2" timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 $b/gpu_sparsek --shapes 4 --max-s 600 --no-fixed --seed 7 \
  --cache "$SPARSEK_CACHE_DIR" > "$OUT/san77-racecheck.log" 2>&1
echo "racecheck exit $?: $(grep -E 'RACECHECK SUMMARY' "$OUT/san77-racecheck.log" | tail -1)"
for r in 1 2; do
  for keys in "" "hcap=16384 minblocks=2" "hcap=8192 minblocks=2"; do
    SPARSEK_EXP_SELECT_KEYS="$keys" PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers \
      --prefill '8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512;131072,1024,256' 2>&1 | grep -E "^prefill|rror" | sed "s|^|[${keys:-default}] |"
  done
done
