#!/usr/bin/env bash
# Run 73: the review's refactor of the state kernel (put_row/put_state/replaced shared by its
# paths; the general path's keep-theta0/keep-tau shortcuts of run 58 removed: decode_step and
# decode_rows take those calls now). Only phase=state's source changed. Decode-state sequences
# (also with the split selection from 1024 keys), sanitizers on them, the decode benchmark
# against the gather baseline, and the cache for this generator.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 200 devbin/gpu_sparsek --state --shapes 40 --seed 73 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state73.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state73.log" | tail -3
SPARSEK_SELECT_SPLIT_MIN=1024 timeout 150 devbin/gpu_sparsek --state --shapes 30 --seed 74 --cache "$SPARSEK_CACHE_DIR" \
  > "$OUT/state73_split.log" 2>&1
echo "gpu_sparsek --state (split from 1024 keys) exit $?"; grep -vE "^ok " "$OUT/state73_split.log" | tail -3
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 devbin/gpu_sparsek --state --shapes 2 --max-s 3000 \
    --seed 17 --cache "$SPARSEK_CACHE_DIR" > "$OUT/sanitizer73-$tool.log" 2>&1
  echo "$tool (decode state) exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer73-$tool.log" | tail -1)"
done
PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench73.json" > "$OUT/bench73.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error|WRONG" "$OUT/bench73.log"
bash tests/gpu/run.sh tune 2>&1 | grep -E "tune exit|^load |load --check exit|worst re-time|pretuned cache|reload from cache" | head -10
mkdir -p "$OUT/logs73" && cp "$OUT"/load.log "$OUT"/retime.log "$OUT"/reload.log "$OUT/logs73/" 2>/dev/null
tar czf "$OUT/pretuned.tgz" -C "$OUT" pretuned && rm -rf "$OUT/pretuned"
