#!/usr/bin/env bash
# Run 75: the sparse wgmma prefill kernel with per-key row ranges (KeyRows: the tile rows that
# select each gathered key, found once per key when its block is loaded; the per-(row, key) mask
# is two integer compares). Correctness vs float64 (both schedules, d=128/64, m=64), sanitizers,
# then prefill A/B against the build before it (devbin/base = HEAD), alternating, our kernels only.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
run() {  # name tiles d n
  timeout 240 $b/gpu_sparsek --shapes $4 --d $3 --seed 75 ${2:+--tiles "$2"} --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu75-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 exit $?: $(grep -E 'sparse correctness' "$OUT/gpu75-$1.log")"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu75-$1.log" | head -5
}
run sync128 "" 128 40
run sync64 "" 64 16
run syncm64 "m=64" 128 10
run pp128 "sched=pingpong" 128 16
for tool in memcheck racecheck; do
  for t in "" "sched=pingpong"; do
    timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --d 128 --max-s 600 --no-fixed --seed 7 \
      ${t:+--tiles "$t"} --cache "$SPARSEK_CACHE_DIR" > "$OUT/san75-$tool${t:+-pp}.log" 2>&1
    echo "$tool [$t] exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san75-$tool${t:+-pp}.log" | tail -1)"
  done
done
$b/sparsek-tune gen sparsek_fwd --arch sm_90a > /tmp/s.cu && nvcc -std=c++17 -arch=sm_90a -cubin -o /tmp/s.cubin /tmp/s.cu \
  && cuobjdump --dump-sass /tmp/s.cubin > /tmp/s.sass && echo "sass default: HGMMA $(grep -c HGMMA /tmp/s.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/s.sass)"
shapes='8192,2048,512;8192,1024,256;32768,2048,512;32768,1024,256;131072,1024,256'
for r in 1 2; do
  for lib in $b/libsparsek.so $b/base/libsparsek.so; do
    PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $lib --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$lib] |"
  done
done
PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --tiles sched=pingpong \
  --prefill "$shapes" 2>&1 | grep -E "^prefill|rror" | sed "s|^|[pingpong] |"
