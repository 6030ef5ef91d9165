#!/usr/bin/env bash
# Run 60: decode_step (one row, one new key: theta0 by a min over the top list, tau by one pass and a
# walk over the breakpoints near the old tau): correctness, the decode benchmark, ncu of a loop.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
timeout 250 devbin/gpu_sparsek --state --shapes 40 --seed 16 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state.log" | tail -6
PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench60.json" > "$OUT/bench60.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error" "$OUT/bench60.log" | tail -12
timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum,smsp__inst_executed.sum -k regex:"sparsek_(select|decode)" \
  python3 docs/runs/2026-11-23-s7/state_steps.py devbin/libsparsek.so 32768,131072 > "$OUT/ncu60.log" 2>&1
echo "ncu exit $?"
python3 - "$OUT/ncu60.log" <<'PY'
import re, sys
name = None
for line in open(sys.argv[1]):
    m = re.match(r"\s+(sparsek_\w+)", line)
    if m: name = m.group(1)
    m = re.search(r"(gpu__time_duration.sum|smsp__inst_executed.sum)\s+(\S+)\s+([\d.,]+)", line)
    if m and name:
        print("%-50s %-24s %s %s" % (name[:50], m.group(1), m.group(3), m.group(2)))
    if line.startswith("KV"): print(line.strip())
PY
