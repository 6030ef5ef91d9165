#!/usr/bin/env bash
# Run 87: sched=pingpong with the producer publishing blocks by cp.async.mbarrier.arrive (its
# threads no longer wait for their own copies: up to STAGES blocks in flight; consumers fence
# the async proxy after the full barrier). Correctness vs float64, sanitizers on the pingpong
# kernel, then prefill: the default (sync) against pingpong, stages 4 and 5, our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
run() {  # name tiles d n
  timeout 200 $b/gpu_sparsek --shapes $4 --d $3 --seed 87 --tiles "$2" --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu87-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 exit $?: $(grep -E 'sparse correctness' "$OUT/gpu87-$1.log" | tail -1)"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu87-$1.log" | head -5
}
run pp128 "sched=pingpong" 128 30
run pp64 "sched=pingpong" 64 12
run ppm64 "sched=pingpong m=64" 128 8
run pp5 "sched=pingpong stages=5" 128 8
run pp3 "sched=pingpong stages=3" 128 8
for tool in memcheck racecheck synccheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 7 \
    --tiles sched=pingpong --cache "$SPARSEK_CACHE_DIR" > "$OUT/san87-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san87-$tool.log" | tail -1)"
done
shapes='8192,2048,512;32768,2048,512;32768,1024,256;131072,2048,512'
for r in 1 2; do
  for t in "" "sched=pingpong" "sched=pingpong stages=5"; do
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers ${t:+--tiles "$t"} \
      --prefill "$shapes" 2>&1 | grep -E "^prefill|rror" | sed "s|^|[${t:-default}] |"
  done
done
