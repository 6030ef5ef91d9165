#!/usr/bin/env bash
# Run 109 (session 16): devbin-pdls = s16-pdl with the anchored kernel at the finish phase's
# small unrolls (`or phase == "anchored"` in `local small`, templates/sparsek_select_lib.cut):
# correctness on the anchored path, then A/B against devbin-pdl, interleaved, no peers.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SPARSEK_SELECT_ANCHOR_MIN=600 timeout 100 devbin-pdls/gpu_sparsek --shapes 12 --seed 19 --max-s 3000 --cache "$SPARSEK_CACHE_DIR" > $OUT/anchored.log 2>&1
echo "[$SECONDS s] anchored exit $?: $(grep -E 'correctness' $OUT/anchored.log | tail -1)"
timeout 60 devbin-pdls/gpu_sparsek --shapes 0 --max-s 40000 --seed 3 --d 128 --cache "$SPARSEK_CACHE_DIR" > $OUT/fixed.log 2>&1
echo "[$SECONDS s] fixed exit $?: $(grep -E 'correctness' $OUT/fixed.log | tail -1)"
SH='32768,1024,256;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 60 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "$SH" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[$1] |" | tee -a $OUT/ab109.log; }
for b in devbin-pdl devbin-pdls devbin-pdl devbin-pdls; do bench $b; done
echo "[$SECONDS s] end"
