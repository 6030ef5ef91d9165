#!/usr/bin/env bash
# Run 105 (session 16): one call for session 15's by-level gathered lists and one-pass anchor
# kernel (branch s15-by-level) and session 16's anchored CTAs that wait for their own anchor
# (branch s16-pdl, on top). Carry four builds of tests/gpu/bundle.sh: devbin-head (main,
# 564eeb4), devbin (s15-by-level), devbin-pdl (s16-pdl) and devbin-small (s15-by-level with
# `or phase == "anchored"` in `local small`, templates/sparsek_select_lib.cut).
# 0. smoke; 1. SASS; 2. correctness against the float64 reference (outputs and scratch
# poisoned): the default grid, then small shapes forced onto the anchored path, where the
# anchored CTAs really overlap the anchor kernel; 3. A/B head / by-level / pdl, no peers;
# 4. three rows with our dense kernel, cuDNN and Flex in the same process; 5. racecheck on the
# anchored path; 6. devbin-small. Steps in order of need: the call may end at any of them.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out105; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin-pdl
ANCH="SPARSEK_SELECT_SPLIT_MIN=1000000 SPARSEK_SELECT_ANCHOR_MIN=256"
chk() { local log=$1 lim=$2; shift 2; timeout $lim env "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "[$SECONDS s] $log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1) $(grep -cE 'anchored' $OUT/$log.log) anchored, $(grep -oE 'tiles [0-9]+ checked \([0-9]+ by level\)' $OUT/$log.log | tail -1)"
  grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
pack() { tar czf "$FINAL_OUT/run105.tgz" -C /tmp out105; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk smoke 40 $b/gpu_sparsek --shapes 1 --max-s 600 --seed 80 --d 128 --no-fixed || { echo "smoke failed"; pack; exit 3; }
for c in "sparsek_fwd|group=4" "sparsek_select|phase=anchored rows=256 hcap=16384 threads=512 minblocks=2" "sparsek_select|phase=anchor rows=256 hcap=40960 threads=512"; do
  $b/sparsek-tune gen "${c%%|*}" "${c#*|}" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu 2>/dev/null \
    && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass ${c%% *}: $(grep -c . /tmp/k.sass) lines, HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
done
chk c-anchored 90 $ANCH $b/gpu_sparsek --shapes 6 --max-s 3000 --seed 105 --no-fixed
chk c-default 150 $b/gpu_sparsek --shapes 3 --seed 91
pack
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 80 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "${2:-$SH}" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[$1] |" | tee -a $OUT/ab105.log; }
bench devbin-head; bench devbin; bench devbin-pdl; pack
echo "[$SECONDS s] A/B done"
PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --prefill "32768,1024,256;8192,1024,256;32768,2048,512" --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench105.log" | grep -E "^(prefill|bar)"
pack
timeout 60 env $ANCH compute-sanitizer --tool racecheck --error-exitcode 9 $b/gpu_sparsek --shapes 1 --max-s 1500 --seed 9 --d 128 --no-fixed \
  --cache "$SPARSEK_CACHE_DIR" > $OUT/san-racecheck.log 2>&1
echo "[$SECONDS s] racecheck exit $?: $(grep -E 'RACECHECK SUMMARY' $OUT/san-racecheck.log | tail -1) $(grep -c anchored $OUT/san-racecheck.log) anchored"
pack
(( SECONDS < 480 )) && bench devbin-small
echo "[$SECONDS s] end"; pack
