#!/usr/bin/env bash
# Run 104 (not run in session 15: no device start succeeded): run103.sh cut to one call, for the
# by-level gathered lists (exp-by-level.patch in this folder; branch s15-by-level, whose second
# commit, exp-anchor-one-pass.patch, is the anchor kernel in one pass: build devbin from the
# first commit to time them apart, or from both and add a fourth build). Carry three
# builds of tests/gpu/bundle.sh: devbin (the patched tree), devbin-head (main without it) and
# devbin-small (the patched tree with `or phase == "anchored"` added to `local small` in
# templates/sparsek_select_lib.cut). 0. smoke; 1. SASS; 2. correctness against
# the float64 reference, outputs and scratch poisoned (fixed cases + random shapes), racecheck;
# 3. A/B HEAD (devbin-head, 8294673) / new (devbin), no peers; 4. three rows with our dense
# kernel, cuDNN and Flex in the same process; 5. racecheck; 6. if time is left: the new build
# with the anchored kernel at small unrolls (devbin-small), and with 256-row selection tiles at
# S=8192 (SPARSEK_SELECT_LONG=4096). Steps in order of need: the call may end at any of them.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out104; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "[$SECONDS s] $log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
pack() { tar czf "$FINAL_OUT/run104.tgz" -C /tmp out104; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk smoke-default 40 --shapes 1 --max-s 600 --seed 80 --d 128 --no-fixed || { echo "default smoke failed"; pack; exit 3; }
$b/sparsek-tune gen sparsek_fwd "group=4" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu 2>/dev/null \
  && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass default: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
chk c-default 130 --shapes 3 --seed 91
pack
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 80 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "${2:-$SH}" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[$1${SPARSEK_SELECT_LONG:+ long=$SPARSEK_SELECT_LONG}] |" | tee -a $OUT/ab104.log; }
bench devbin-head; bench devbin; pack
echo "[$SECONDS s] A/B done"
PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --prefill "32768,1024,256;8192,1024,256;32768,2048,512" --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench104.log" | grep -E "^(prefill|bar)"
pack
timeout 50 compute-sanitizer --tool racecheck --error-exitcode 9 $b/gpu_sparsek --shapes 1 --max-s 700 --seed 9 --d 128 --no-fixed \
  --cache "$SPARSEK_CACHE_DIR" > $OUT/san-racecheck.log 2>&1
echo "[$SECONDS s] racecheck exit $?: $(grep -E 'RACECHECK SUMMARY' $OUT/san-racecheck.log | tail -1)"
pack
bench devbin-small; SPARSEK_SELECT_LONG=4096 bench devbin '8192,1024,256;8192,2048,512'; pack
echo "[$SECONDS s] end"; pack
