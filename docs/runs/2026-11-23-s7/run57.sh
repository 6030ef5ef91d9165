#!/usr/bin/env bash
# Run 57: the decode state (phase=state) — correctness of decode-state sequences, then the decode
# benchmark (from scratch and through the state) against the PyTorch gather baseline.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
timeout 280 devbin/gpu_sparsek --state --shapes 40 --seed 13 --cache "$SPARSEK_CACHE_DIR" > "$OUT/state.log" 2>&1
echo "gpu_sparsek --state exit $?"; grep -vE "^ok " "$OUT/state.log" | tail -8
PYTHONUNBUFFERED=1 timeout 250 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --decode-only \
  --json "$OUT/bench57.json" > "$OUT/bench57.log" 2>&1
echo "bench exit $?"; grep -E "^(decode|bar)|Error|error" "$OUT/bench57.log" | tail -12
