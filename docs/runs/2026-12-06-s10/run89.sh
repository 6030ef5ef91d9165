#!/usr/bin/env bash
# Run 89: the band of the sparse wgmma prefill kernel shrinks to the last row's window (w keys
# instead of w + 127); the keys that become candidates within the CTA's rows serve their window
# rows from the gathered blocks (KeyRows [lo, hi], weight 1 below `first`). Correctness vs
# float64 (new build, devbin), sanitizers, SASS, then prefill A/B against HEAD (devbin-old),
# alternating, two rounds, our kernels only.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out89; mkdir -p $OUT   # everything is packed into one archive at the end
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # name tiles d n
  timeout 200 $b/gpu_sparsek --shapes $4 --d $3 --seed 89 ${2:+--tiles "$2"} --cache "$SPARSEK_CACHE_DIR" > "$OUT/gpu89-$1.log" 2>&1
  echo "gpu_sparsek [$2] d=$3 exit $?: $(grep -E 'sparse correctness' "$OUT/gpu89-$1.log" | tail -1)"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu89-$1.log" | head -5
}
run pp128 "" 128 20
run d64 "" 64 6
run sync "sched=sync" 128 6
run hard "weight=hard" 128 4
run kv "weight=kv" 128 4
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 3 --d 128 --max-s 600 --no-fixed --seed 7 \
    --cache "$SPARSEK_CACHE_DIR" > "$OUT/san89-$tool.log" 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san89-$tool.log" | tail -1)"
done
$b/sparsek-tune gen sparsek_fwd --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu \
  && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass default sparsek_fwd: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
shapes='8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512'
ab() {
  for l in devbin-old devbin; do
    PYTHONUNBUFFERED=1 timeout 100 python3 tests/gpu/bench_sparsek.py --lib $l/libsparsek.so --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$l] |"
  done
}
ab
# the issue's grid with every peer in the same process (our dense kernel, cuDNN, Flex, the gather decode)
echo "full bench at ${SECONDS} s"
(( SECONDS < 170 )) && PYTHONUNBUFFERED=1 timeout $((370 - SECONDS)) python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench89.log"
tar czf "$FINAL_OUT/run89.tgz" -C /tmp out89
