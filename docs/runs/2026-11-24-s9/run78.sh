#!/usr/bin/env bash
# Run 78: the runtime's selection rule (two CTAs per SM, minblocks=2 with a 16384-score buffer,
# where the normal-score estimate of the tau scores fits it; else as before). Correctness vs
# float64 (default tiles d=128/64, path=mma, the decode state), sanitizers on the sparse path,
# then prefill A/B against c9e9b64 (devbin/base), our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # name tiles d n [extra]
  timeout 200 $b/gpu_sparsek --shapes $4 --d $3 --seed 78 ${2:+--tiles "$2"} ${5:-} --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu78-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 ${5:-} exit $?: $(grep -E 'sparse correctness' "$OUT/gpu78-$1.log")"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu78-$1.log" | head -5
}
run sync128 "" 128 40
run sync64 "" 64 16
run mma "path=mma" 128 12
timeout 200 $b/gpu_sparsek --state --shapes 12 --seed 78 --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu78-state.log" 2>&1
echo "gpu_sparsek --state exit $?: $(grep -E 'sparse correctness' "$OUT/gpu78-state.log")"
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 8 \
    --cache "$SPARSEK_CACHE_DIR" > "$OUT/san78-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san78-$tool.log" | tail -1)"
done
shapes='8192,2048,512;8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512;131072,1024,256'
for r in 1 2; do
  for lib in $b/libsparsek.so $b/base/libsparsek.so; do
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $lib --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$lib] |"
  done
done
