#!/usr/bin/env bash
# Run 106 (session 16), after run 105: the rest of the checks on devbin-pdl (s16-pdl: by-level
# lists, one-pass anchor, anchored CTAs on their own anchor's flag): decode-state sequences
# against the float64 reference (the decode kernels read the new 8-count tile_count), memcheck
# on the anchored path and on decode-state sequences, then the whole bench grid with peers.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out106; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin-pdl
ANCH="SPARSEK_SELECT_SPLIT_MIN=1000000 SPARSEK_SELECT_ANCHOR_MIN=600"
pack() { tar czf "$FINAL_OUT/run106.tgz" -C /tmp out106; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 120 $b/gpu_sparsek --state --shapes 20 --seed 13 --cache "$SPARSEK_CACHE_DIR" > $OUT/state.log 2>&1
echo "[$SECONDS s] state exit $?: $(grep -E 'correctness' $OUT/state.log | tail -1)"; grep -E "^FAIL" $OUT/state.log | head -3
timeout 60 env $ANCH compute-sanitizer --tool memcheck --error-exitcode 9 $b/gpu_sparsek --shapes 2 --max-s 2500 --seed 21 --no-fixed \
  --cache "$SPARSEK_CACHE_DIR" > $OUT/san-memcheck-anchored.log 2>&1
echo "[$SECONDS s] memcheck anchored exit $?: $(grep -E 'ERROR SUMMARY' $OUT/san-memcheck-anchored.log | tail -1) $(grep -c ' anchored (' $OUT/san-memcheck-anchored.log) anchored"
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $b/gpu_sparsek --state --shapes 2 --max-s 3000 --seed 17 \
  --cache "$SPARSEK_CACHE_DIR" > $OUT/san-memcheck-state.log 2>&1
echo "[$SECONDS s] memcheck state exit $?: $(grep -E 'ERROR SUMMARY' $OUT/san-memcheck-state.log | tail -1)"
pack
PYTHONUNBUFFERED=1 timeout $((540 - SECONDS)) python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench106.log" | grep -E "^(prefill|decode|bar)"
echo "[$SECONDS s] end"; pack
