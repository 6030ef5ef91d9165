#!/usr/bin/env bash
# tests/gpu/run.sh — everything the H100 session runs, in one call:
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
  timeout 400 "$bin/gpu_fmha" --shapes "${SHAPES:-120}" --cache "$SPARSEK_CACHE_DIR" 2>&1 | tee "$out/gpu_fmha.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
  echo "gpu_fmha exit $r"; [[ $r == 0 ]] || rc_all=1
  step "gpu_fmha --tiles path=mma: the portable path on this device too"
  timeout 300 "$bin/gpu_fmha" --shapes "${MMA_SHAPES:-40}" --seed 11 --tiles path=mma --cache "$SPARSEK_CACHE_DIR" 2>&1 \
    | tee "$out/gpu_fmha_mma.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
  echo "gpu_fmha (path=mma) exit $r"; [[ $r == 0 ]] || rc_all=1
  step "SASS of the wgmma kernels: HGMMA issued, no local-memory spills"
  for cfg in "d=128 dtype=bf16 causal=1" "d=64 dtype=fp16 causal=0"; do
    "$bin/sparsek-tune" gen fmha_fwd $cfg --arch sm_90a > "$out/k.cu" &&
      nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o "$out/k.cubin" "$out/k.cu" &&
      cuobjdump --dump-sass "$out/k.cubin" > "$out/k.sass" &&
      echo "sass $cfg: HGMMA $(grep -c HGMMA "$out/k.sass"), LDL/STL $(grep -cE '\b(LDL|STL)\b' "$out/k.sass")" \
        | tee -a "$out/checks.txt"
  done
  rm -f "$out/k.cu" "$out/k.cubin"
  step "cache verify"
  "$bin/sparsek-tune" cache verify --dir "$SPARSEK_CACHE_DIR" | tail -3
  step "compute-sanitizer memcheck / racecheck (subset)"
  for tool in memcheck racecheck; do
    timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 "$bin/gpu_fmha" --shapes 8 --max-s 200 --no-fixed --seed 7 \
      --cache "$SPARSEK_CACHE_DIR" > "$out/sanitizer-$tool.log" 2>&1
    r=$?; echo "$tool exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | tail -1)" \
      | tee -a "$out/checks.txt"
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
echo "== summary"
cat "$out/checks.txt" 2>/dev/null
grep -E "correctness:|second process|reload from cache" "$out/gpu_fmha.log" "$out/gpu_fmha_mma.log" 2>/dev/null
exit $rc_all
