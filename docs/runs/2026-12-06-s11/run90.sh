#!/usr/bin/env bash
# Run 90: the anchored prefill selection (phases anchor and anchored). Correctness vs float64
# (default thresholds, then SPARSEK_SELECT_ANCHOR_MIN=600 so that small shapes take the path),
# memcheck and racecheck on it, then the six prefill rows A/B against HEAD 1bc6a90 (devbin-old),
# our kernels only, alternating, two rounds.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out90; mkdir -p $OUT   # everything is packed into one archive at the end
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # name timeout args...
  local name=$1 t=$2; shift 2
  timeout $t $b/gpu_sparsek --seed 90 --cache "$SPARSEK_CACHE_DIR" "$@" > "$OUT/gpu90-$name.log" 2>&1
  echo "gpu_sparsek $name [$*] exit $?: $(grep -E 'sparse correctness' "$OUT/gpu90-$name.log" | tail -1)"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu90-$name.log" | head -5
}
run d128 150 --shapes 16 --d 128
run d64 100 --shapes 6 --d 64
SPARSEK_SELECT_ANCHOR_MIN=600 run knob 150 --shapes 30 --max-s 3000
for tool in memcheck racecheck; do
  SPARSEK_SELECT_ANCHOR_MIN=600 timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --d 64 \
    --max-s 1100 --seed 7 --cache "$SPARSEK_CACHE_DIR" > "$OUT/san90-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san90-$tool.log" | tail -1); $(grep -c anchored "$OUT/san90-$tool.log") anchored lines"
done
echo "correctness done at ${SECONDS} s"
shapes='8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512;131072,1024,256'
ab() {
  for l in devbin-old devbin; do
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $l/libsparsek.so --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$l] |"
  done
}
ab
echo "round 1 done at ${SECONDS} s"
(( SECONDS < 400 )) && ab
# the two selection kernels' own times (ncu, no clock control): the first anchor and anchored launches
for sh in "131072,2048,512" "32768,1024,256"; do
  (( SECONDS < 500 )) || break
  timeout 60 ncu --clock-control none -k regex:sparsek_select_anchor -c 2 --metrics gpu__time_duration.sum \
    python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --no-peers --prefill "$sh" > "$OUT/ncu90-$sh.log" 2>&1
  echo "ncu $sh: $(grep -E 'sparsek_select_anchor|gpu__time_duration' "$OUT/ncu90-$sh.log" | tr -s ' ' | paste -sd' ')"
done
echo "end at ${SECONDS} s"
tar czf "$FINAL_OUT/run90.tgz" -C /tmp out90
