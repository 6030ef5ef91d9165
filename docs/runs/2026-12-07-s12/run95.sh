#!/usr/bin/env bash
# Run 95: the persistent kernel with its TileInfo in registers (devbin) against the run-94 build
# (TileInfo read from shared memory, devbin-smemti), persist=0, and HEAD ed671aa (devbin-old),
# alternating, our kernels only; correctness and sanitizers of the devbin build first.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out95; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run95.tgz" -C /tmp out95; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "$log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -vE "^ok " $OUT/$log.log | grep -iE "fail|mismatch|error" | head -5; return $r; }
chk c-default 200 --shapes 16 --seed 31
for tool in racecheck synccheck; do
  timeout 100 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 3 --max-s 400 --no-fixed --seed 8 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
echo "checks done at ${SECONDS} s"
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $1 --no-peers --prefill "$SH" ${2:+--tiles "$2"} 2>&1 | grep -E "^prefill" | sed "s|^|[$3] |" | tee -a $OUT/ab95.log; }
for round in 1 2; do
  bench $b/libsparsek.so "" regti-p1
  bench devbin-old/libsparsek.so "" head
  bench devbin-smemti/libsparsek.so "" smemti-p1
  bench $b/libsparsek.so "persist=0" regti-p0
done
echo "end at ${SECONDS} s"
pack
