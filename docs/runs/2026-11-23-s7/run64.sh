#!/usr/bin/env bash
# Run 64: the decode state's rebuild on the split selection's lists (rebuild = 1 on a sequence's
# first call): decode-state sequences (the split selection's threshold lowered too, so that short
# rows reach it), then the decode benchmark (first call with rebuild = 1 and on a zeroed state).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 250 devbin/gpu_sparsek --state --shapes 40 --seed 65 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state64.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state64.log" | tail -4
SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 devbin/gpu_sparsek --state --shapes 30 --seed 66 --cache "$SPARSEK_CACHE_DIR" \
  > "$OUT/state64_split.log" 2>&1
echo "gpu_sparsek --state (split from 1024 keys) exit $?"; grep -vE "^ok " "$OUT/state64_split.log" | tail -4
PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench64.json" > "$OUT/bench64.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error" "$OUT/bench64.log"
