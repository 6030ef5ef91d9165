#!/usr/bin/env bash
# Run 97 (run 96 cut down to the time left: that call's machine was taken back mid-run, nothing
# came back): the persistent kernel with the per-consumer band skip and the last-query-tile-first
# order (devbin) against 449b8bd (devbin-smemti: the landed persistent kernel); correctness (outputs and scratch poisoned), racecheck and
# synccheck, then alternating timings, our kernels only.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out97; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run97.tgz" -C /tmp out97; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 100 $b/gpu_sparsek --shapes 10 --seed 41 --cache "$SPARSEK_CACHE_DIR" > $OUT/c-default.log 2>&1
echo "c-default exit $?: $(grep -E 'sparse correctness' $OUT/c-default.log | tail -1)"
for tool in racecheck synccheck; do
  timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --max-s 500 --no-fixed --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 60 python3 tests/gpu/bench_sparsek.py --lib $1 --no-peers --prefill "$SH" 2>&1 | grep -E "^prefill" | sed "s|^|[$2] |" | tee -a $OUT/ab97.log; }
bench $b/libsparsek.so bandskip; bench devbin-smemti/libsparsek.so landed; bench $b/libsparsek.so bandskip; bench devbin-smemti/libsparsek.so landed
echo "end at ${SECONDS} s"
pack
