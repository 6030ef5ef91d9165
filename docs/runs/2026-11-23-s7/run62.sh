#!/usr/bin/env bash
# Run 62: the final build's cache (tests/gpu/run.sh tune: the standard set tuned into a fresh cache,
# loaded, re-timed without NVRTC; lands in $OUT/pretuned), then the decode benchmark (from scratch and
# through the decode state) and the two S=32768 prefill rows with their peers (the selection share).
set -uo pipefail
bash tests/gpu/run.sh tune 2>&1 | grep -E "tune exit|buckets|^load|load --check exit|spread|winner|pretuned cache" | head -20
tar czf "$OUT/pretuned.tgz" -C "$OUT" pretuned && rm -rf "$OUT/pretuned"
PYTHONUNBUFFERED=1 timeout 300 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --prefill '32768,2048,512;32768,1024,256' \
  --kv 32768,131072 --json "$OUT/bench62.json" > "$OUT/bench62.log" 2>&1
echo "bench exit $?"; grep -E "^(prefill|decode|bar)|Error|error" "$OUT/bench62.log"
