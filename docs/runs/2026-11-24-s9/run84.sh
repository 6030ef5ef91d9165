#!/usr/bin/env bash
# Run 84: the sparse wgmma kernel skips the per-element row test in gathered blocks whose keys
# all have every tile row (block_all_rows: one warp vote per 32 keys as the block's KeyRows are
# staged), and weighs with tau = theta + tau_offset per row (one subtraction less per element).
# Correctness vs float64 (d=128/64, m=64, pingpong, path=mma, the decode state), sanitizers, then
# prefill A/B against f3d3023 (devbin/base), our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # name tiles d n [extra]
  timeout 200 $b/gpu_sparsek --shapes $4 --d $3 --seed 84 ${2:+--tiles "$2"} ${5:-} --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu84-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 ${5:-} exit $?: $(grep -E 'sparse correctness' "$OUT/gpu84-$1.log" | tail -1)"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu84-$1.log" | head -5
}
run sync128 "" 128 40
run sync64 "" 64 16
run m64 "m=64" 128 10
run pp "sched=pingpong" 128 10
run mma "path=mma" 128 8
timeout 200 $b/gpu_sparsek --state --shapes 8 --seed 84 --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu84-state.log" 2>&1
echo "gpu_sparsek --state exit $?: $(grep -E 'sparse correctness' "$OUT/gpu84-state.log" | tail -1)"
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 9 \
    --cache "$SPARSEK_CACHE_DIR" > "$OUT/san84-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san84-$tool.log" | tail -1)"
done
cuobjdump -h >/dev/null 2>&1 && { $b/sparsek-tune gen sparsek_fwd --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu 2>/dev/null && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass default: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"; }
shapes='8192,2048,512;8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512;131072,1024,256'
for r in 1 2; do
  for lib in $b/libsparsek.so $b/base/libsparsek.so; do
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $lib --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$lib] |"
  done
done
