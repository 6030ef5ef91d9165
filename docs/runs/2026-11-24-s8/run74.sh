#!/usr/bin/env bash
# Run 74: the pingpong schedule of the sparse wgmma prefill kernel (sched=pingpong: a producer
# warpgroup, two consumer warpgroups taking turns). Correctness vs float64 (d=128 and d=64, both
# tile heights), sanitizers on a subset, SASS (HGMMA, spills), then prefill A/B against
# sched=sync in the same process set, alternating, our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
b=devbin
for t in "sched=pingpong:128:30" "sched=pingpong:64:12" "sched=pingpong m=64:128:10" "sched=pingpong stages=5:128:8"; do
  IFS=: read -r tiles d n <<< "$t"
  timeout 200 $b/gpu_sparsek --shapes $n --d $d --seed 74 --tiles "$tiles" --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu_sparsek74-d$d-${tiles// /_}.log" 2>&1
  echo "gpu_sparsek [$tiles] d=$d exit $?: $(grep -E 'sparse correctness' "$OUT/gpu_sparsek74-d$d-${tiles// /_}.log")"
  grep -E "FAIL|WRONG|error" "$OUT/gpu_sparsek74-d$d-${tiles// /_}.log" | head -5
done
for tool in memcheck racecheck synccheck; do
  timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 7 \
    --tiles sched=pingpong --cache "$SPARSEK_CACHE_DIR" > "$OUT/san74-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san74-$tool.log" | tail -1)"
done
$b/sparsek-tune gen sparsek_fwd sched=pingpong --arch sm_90a > /tmp/pp.cu && nvcc -std=c++17 -arch=sm_90a -cubin -o /tmp/pp.cubin /tmp/pp.cu \
  && cuobjdump --dump-sass /tmp/pp.cubin > "$OUT/pp.sass" && echo "sass pingpong: HGMMA $(grep -c HGMMA "$OUT/pp.sass"), LDL/STL $(grep -cE '\b(LDL|STL)\b' "$OUT/pp.sass")"
for r in 1 2; do
  for tiles in sched=sync sched=pingpong "sched=pingpong stages=5"; do
    PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --tiles "$tiles" \
      --prefill '8192,2048,512;32768,2048,512;32768,1024,256;131072,1024,256' 2>&1 | grep -E "^prefill|Error|error" | sed "s|^|[$tiles] |"
  done
done
