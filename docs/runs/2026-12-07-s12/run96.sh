#!/usr/bin/env bash
# Run 96: the persistent pingpong kernel with the per-consumer band skip (devbin) against the
# persistent kernel without it (devbin-regti) and HEAD ed671aa (devbin-old). Correctness against
# the float64 reference (outputs and scratch poisoned) and sanitizers first; then our kernels
# alternating; then the grid with every peer in the same process (devbin).
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out96; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run96.tgz" -C /tmp out96; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk() { local bin=$1 log=$2 lim=$3; shift 3; timeout $lim $bin/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "$log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -vE "^ok " $OUT/$log.log | grep -iE "fail|mismatch|error" | head -5; }
chk $b c-default 150 --shapes 14 --seed 41
chk $b c-persist0 120 --shapes 4 --seed 42 --tiles persist=0
chk $b c-stages3 120 --shapes 4 --seed 43 --tiles stages=3 --d 128
chk devbin-regti c-regti 120 --shapes 4 --seed 44
pack
for tool in racecheck synccheck; do
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 3 --max-s 500 --no-fixed --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
echo "checks done at ${SECONDS} s"
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $1 --no-peers --prefill "$SH" ${2:+--tiles "$2"} 2>&1 | grep -E "^prefill" | sed "s|^|[$3] |" | tee -a $OUT/ab96.log; }
bench $b/libsparsek.so "" bandskip
bench devbin-old/libsparsek.so "" head
bench devbin-regti/libsparsek.so "" persist
bench $b/libsparsek.so "" bandskip
bench devbin-old/libsparsek.so "" head
pack
echo "a/b done at ${SECONDS} s"
PYTHONUNBUFFERED=1 timeout $((320 - SECONDS)) python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench96.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
pack
