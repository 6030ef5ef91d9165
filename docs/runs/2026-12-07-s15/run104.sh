#!/usr/bin/env bash
# Run 104 (written in session 15, not run: no device start succeeded), one call for the
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
# S=8192 (SPARSEK_SELECT_LONG=4096); 7. ncu of the selection. Steps in order of need: the call
# may end at any of them. For the whole grid with peers afterwards (S=131072 and decode too):
# python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --json $OUT/bench_sparsek.json.
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
# 7. if time is left: ncu of the new selection kernels at S=32768 k=1024 (durations, stall samples
# per SASS instruction and per CUDA line; the generated sources go where ncu looks for NVRTC's
# program files, ./<kernel name>).
if (( SECONDS < 400 )); then
  for cfg in "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2" "phase=anchor rows=256 hcap=40960 threads=512"; do
    $b/sparsek-tune gen sparsek_select "$cfg" --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k"
  done
  timeout $((560 - SECONDS)) ncu --clock-control none -k "regex:sparsek_select" --launch-skip 4 --launch-count 2 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight --section Occupancy --section LaunchStats \
    --import-source yes -o /tmp/sel104 \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu104.log" 2>&1
  echo "[$SECONDS s] ncu exit $?"
  ncu --import /tmp/sel104.ncu-rep --page details --csv > "$OUT/details104.csv" 2>&1
  grep -E '"(Duration|Achieved Occupancy|Registers Per Thread)"' "$OUT/details104.csv" | cut -d, -f5,13- | head -12
  for p in sass cuda; do
    ncu --import /tmp/sel104.ncu-rep --page source --csv --print-source $p > "$OUT/src104-$p.csv" 2> "$OUT/src104-$p.err"; gzip -f "$OUT/src104-$p.csv"
  done
fi
echo "[$SECONDS s] end"; pack
