#!/usr/bin/env bash
# tests/gpu/run.sh [all|test|bench|sparse|sparse-test|sparse-bench] — everything the H100
# session runs, in one call:
#   correctness (random shapes vs float64, poisoned outputs), the cache round trip through a
#   second process without NVRTC, compute-sanitizer on a subset, and the benchmark vs SDPA.
# Expects binaries built here with `tests/gpu/bundle.sh` in ./devbin (carried to the device).
# Writes logs under $OUT (or ./gpu-out); prints a short table last.
set -uo pipefail
out="${OUT:-gpu-out}"
mkdir -p "$out"
bin=devbin
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sparsek-cache-XXXXXX)"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv; nvcc --version | tail -1; } 2>&1 | tee "$out/device.txt"
step() { echo "== $*"; }
rc_all=0
mode="${1:-all}"

if [[ "$mode" == all || "$mode" == test ]]; then
  step "gpu_fmha: correctness + second-process reload"
  "$bin/gpu_fmha" --shapes "${SHAPES:-120}" --cache "$SPARSEK_CACHE_DIR" 2>&1 | tee "$out/gpu_fmha.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
  echo "gpu_fmha exit $r"; [[ $r == 0 ]] || rc_all=1
  step "cache verify"
  "$bin/sparsek-tune" cache verify --dir "$SPARSEK_CACHE_DIR" | tail -3
  step "compute-sanitizer memcheck / racecheck (subset)"
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 9 "$bin/gpu_fmha" --shapes 8 --max-s 200 --no-fixed --seed 7 \
      --cache "$SPARSEK_CACHE_DIR" > "$out/sanitizer-$tool.log" 2>&1
    r=$?; echo "$tool exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | tail -1)"
    [[ $r == 0 ]] || rc_all=1
  done
fi
if [[ "$mode" == all || "$mode" == bench ]]; then
  step "sparsek-tune bench (checked, then timed against the default)"
  for args in "b=1 h=8 s=512 d=64" "b=1 h=16 s=16384 d=128 m=64 n=64 warps=4" "b=2 h=32 s=8192 d=64 causal=1 m=64 n=128 warps=4" \
              "b=4 h=32 hkv=8 sq=1000 sk=4097 d=128 causal=1 layout=bhsd dtype=fp16"; do
    "$bin/sparsek-tune" bench fmha_fwd $args 2>&1 | tee -a "$out/cli-bench.log"
  done
  step "benchmark vs SDPA (cuDNN, flash)"
  PYTHONUNBUFFERED=1 python3 tests/gpu/bench_fmha.py --lib "$bin/libsparsek.so" --json "$out/bench.json" ${TILES:+--tiles "$TILES"} ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi
if [[ "$mode" == sparse* ]]; then
  # SparseK: `tests/gpu/run.sh sparse` (tests, sanitizers, benchmark), or `sparse-test` and
  # `sparse-bench` separately (each well under 10 minutes). SHAPES, SPARSE_BENCH_ARGS=--quick.
  for f in gpu_sparsek libsparsek.so liblua5.4.so.0; do
    [[ -e "$bin/$f" ]] || { echo "$bin/$f missing: run tests/gpu/bundle.sh here first and carry devbin"; exit 2; }
  done
  if [[ "$mode" == sparse || "$mode" == sparse-test ]]; then
    step "gpu_sparsek: selection + sparse attention vs float64 reference (poisoned outputs and scratch)"
    "$bin/gpu_sparsek" --shapes "${SHAPES:-60}" --cache "$SPARSEK_CACHE_DIR" 2>&1 | tee "$out/gpu_sparsek.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
    echo "gpu_sparsek exit $r"; [[ $r == 0 ]] || rc_all=1
    step "compute-sanitizer memcheck / racecheck (sparse subset)"
    for tool in memcheck racecheck; do
      compute-sanitizer --tool $tool --error-exitcode 9 "$bin/gpu_sparsek" --shapes 6 --max-s 300 --no-fixed --seed 7 \
        --cache "$SPARSEK_CACHE_DIR" > "$out/sanitizer-sparse-$tool.log" 2>&1
      r=$?; echo "$tool exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-sparse-$tool.log" | tail -1)"
      [[ $r == 0 ]] || rc_all=1
    done
  fi
  if [[ "$mode" == sparse || "$mode" == sparse-bench ]]; then
    step "bench_sparsek (vs our dense kernel, cuDNN, FlexAttention block-sparse, PyTorch gather decode)"
    PYTHONUNBUFFERED=1 timeout 420 python3 tests/gpu/bench_sparsek.py --lib "$bin/libsparsek.so" --json "$out/bench_sparsek.json" \
      ${SPARSE_BENCH_ARGS:-} 2>&1 | tee "$out/bench_sparsek.log"; r=${PIPESTATUS[0]}
    echo "bench_sparsek exit $r"; [[ $r == 0 ]] || rc_all=1
  fi
  echo "== summary"
  grep -E "sparse correctness:" "$out/gpu_sparsek.log" 2>/dev/null
  grep -E "^(prefill|decode|bar:) " "$out/bench_sparsek.log" 2>/dev/null
  exit $rc_all
fi
echo "== summary"
grep -E "correctness:|second process|reload from cache" "$out/gpu_fmha.log" 2>/dev/null
exit $rc_all
