#!/usr/bin/env bash
# Run 71: decode_rows (several new keys or rows a call, one key at a time as decode_step, apart
# from the general path): decode-state sequences (also with the split selection from 1024 keys),
# then the decode benchmark with its four-rows-a-call loop (run 70: 116.1 / 134.7 us a call).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 250 devbin/gpu_sparsek --state --shapes 40 --seed 71 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state71.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state71.log" | tail -4
SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 devbin/gpu_sparsek --state --shapes 30 --seed 72 --cache "$SPARSEK_CACHE_DIR" \
  > "$OUT/state71_split.log" 2>&1
echo "gpu_sparsek --state (split from 1024 keys) exit $?"; grep -vE "^ok " "$OUT/state71_split.log" | tail -4
PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench71.json" > "$OUT/bench71.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error|WRONG" "$OUT/bench71.log"
