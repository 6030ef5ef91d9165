#!/usr/bin/env bash
# Run 70: the final build's decode benchmark, with a decode-state loop of four query rows a call
# (the state kernel's general path) besides the one-row loop.
set -uo pipefail
PYTHONUNBUFFERED=1 timeout 250 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench70.json" > "$OUT/bench70.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error|WRONG" "$OUT/bench70.log"
