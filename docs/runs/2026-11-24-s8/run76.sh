#!/usr/bin/env bash
# Run 76: the band's first blocks select the keys that become candidates within the tile (the
# gathered list stops at the band), on top of run 75's KeyRows. Correctness vs float64 (wgmma
# both schedules, d=128/64, m=64; path=mma and the decode state, whose kernels read the changed
# params struct), sanitizers, prefill A/B against c9e9b64 (devbin/base), then ncu of one prefill
# attention kernel (stall reasons).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
run() {  # name tiles d n [extra]
  timeout 240 $b/gpu_sparsek --shapes $4 --d $3 --seed 76 ${2:+--tiles "$2"} ${5:-} --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu76-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 ${5:-} exit $?: $(grep -E 'sparse correctness' "$OUT/gpu76-$1.log")"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu76-$1.log" | head -5
}
run sync128 "" 128 40
run sync64 "" 64 16
run syncm64 "m=64" 128 10
run pp128 "sched=pingpong" 128 16
run mma "path=mma" 128 12
timeout 240 $b/gpu_sparsek --state --shapes 12 --seed 76 --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu76-state.log" 2>&1
echo "gpu_sparsek --state exit $?: $(grep -E 'sparse correctness' "$OUT/gpu76-state.log")"
for tool in memcheck racecheck; do
  for t in "" "sched=pingpong"; do
    timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 7 \
      ${t:+--tiles "$t"} --cache "$SPARSEK_CACHE_DIR" > "$OUT/san76-$tool${t:+-pp}.log" 2>&1
    echo "$tool [$t] exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san76-$tool${t:+-pp}.log" | tail -1)"
  done
done
shapes='8192,2048,512;8192,1024,256;32768,2048,512;32768,1024,256;131072,1024,256'
for r in 1 2; do
  for lib in $b/libsparsek.so $b/base/libsparsek.so; do
    PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $lib --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$lib] |"
  done
done
PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --tiles sched=pingpong \
  --prefill "$shapes" 2>&1 | grep -E "^prefill|rror" | sed "s|^|[pingpong] |"
timeout 200 ncu --clock-control none -k regex:sparsek_fwd --launch-skip 2 --launch-count 1 \
  --section SpeedOfLight --section SchedulerStats --section WarpStateStats --section Occupancy --section ComputeWorkloadAnalysis \
  python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu76.log" 2>&1
echo "ncu exit $?"; grep -E "Duration|Issue Slots Busy|Executed Ipc A|Stall|Warp Cycles Per Issued|No Eligible|Achieved Occupancy|Registers Per|Compute \(SM\) Thr|Memory Thr" "$OUT/ncu76.log" | head -30
