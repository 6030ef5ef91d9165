#!/usr/bin/env bash
# Run 107 (session 16), after runs 105-106, on devbin-pdl: tests/gpu/run.sh's anchored steps
# (correctness with SPARSEK_SELECT_ANCHOR_MIN=600; memcheck, racecheck and synccheck on the
# fixed anchored cases), and the other attention kernels that read the by-level counts:
# sparsek_fwd persist=0 and path=mma (the sm_80 kernel).
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out107; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin-pdl
pack() { tar czf "$FINAL_OUT/run107.tgz" -C /tmp out107; }
sum() { echo "[$SECONDS s] $1 exit $2: $(grep -E 'correctness|ERROR SUMMARY|RACECHECK SUMMARY|SYNCCHECK SUMMARY' $OUT/$1.log | tail -2 | tr '\n' ' ')"; grep -E "^FAIL" $OUT/$1.log | head -3; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SPARSEK_SELECT_ANCHOR_MIN=600 timeout 150 $b/gpu_sparsek --shapes 30 --seed 14 --max-s 3000 --cache "$SPARSEK_CACHE_DIR" > $OUT/anchored.log 2>&1; sum anchored $?
for tool in memcheck racecheck synccheck; do
  SPARSEK_SELECT_ANCHOR_MIN=600 timeout 90 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --d 64 --max-s 1100 --seed 7 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-anchored-$tool.log 2>&1; sum san-anchored-$tool $?
done
pack
timeout 120 $b/gpu_sparsek --shapes 10 --seed 15 --d 128 --tiles persist=0 --cache "$SPARSEK_CACHE_DIR" > $OUT/persist0.log 2>&1; sum persist0 $?
timeout 120 $b/gpu_sparsek --shapes 10 --seed 16 --tiles path=mma --cache "$SPARSEK_CACHE_DIR" > $OUT/mma.log 2>&1; sum mma $?
echo "[$SECONDS s] end"; pack
