#!/usr/bin/env bash
# Not run in session 15 (no device start succeeded; run104.sh is the cut-down one to run).
# Run 103 (PART=checks, ab or peers): the gathered lists by level (sparsek_select step 3b): a selection tile's list goes out
# sorted by the last 32-row sub-tile that needs each entry, and an attention tile walks only its
# sub-tile's part (tile_count[s]) instead of the whole list minus the keys past its last row.
# 0. a short smoke run of the new build (a hang costs 40 s, not the call);
# 1. SASS of the default sparsek_fwd (HGMMA, LDL/STL);
# 2. correctness against the float64 reference, outputs and scratch poisoned: the default, pack=1,
#    persist=0, and SPARSEK_SELECT_LONG=4096 (256-row selection tiles at S=8192); synccheck, racecheck;
# 3. A/B: HEAD (devbin-head, 8294673) against the new build, alternating, two rounds, four rows
#    (the selection's share is each row's figure in parentheses); and the new build with 256-row
#    selection tiles at S=8192 (SPARSEK_SELECT_LONG=4096: by level, taller selection tiles no
#    longer add gathered keys to an attention tile); and devbin-small: the new build with the
#    anchored selection kernel at the finish phase's small unrolls (12.3 k -> 9.8 k SASS);
# 4. ncu of the new selection kernels at S=32768 k=1024 (durations, stall samples per line);
# 5. (PART=peers) the whole grid with every peer in the same process.
set -uo pipefail
PART=${1:-all}
QUICK=${QUICK:-0}   # 1: fewer shapes and one A/B round (device time was short)
FINAL_OUT="$OUT"; OUT=/tmp/out103; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "[$SECONDS s] $log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
pack() { tar czf "$FINAL_OUT/run103.tgz" -C /tmp out103; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [[ $PART == checks || $PART == all || $PART == core ]]; then
chk smoke-default 40 --shapes 1 --max-s 600 --seed 80 --d 128 --no-fixed || { echo "default smoke failed"; pack; exit 3; }
$b/sparsek-tune gen sparsek_fwd "group=4" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu 2>/dev/null \
  && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass default: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
chk c-default 150 --shapes $(( QUICK ? 5 : 10 )) --seed 91
pack
chk c-pack1 60 --shapes $(( QUICK ? 2 : 3 )) --seed 92 --d 128 --tiles pack=1
chk c-persist0 60 --shapes $(( QUICK ? 2 : 3 )) --seed 93 --d 128 --tiles persist=0
SPARSEK_SELECT_LONG=4096 chk c-long 60 --shapes $(( QUICK ? 2 : 3 )) --seed 94 --d 128 --max-s 9000
pack
for tool in synccheck racecheck; do
  timeout 80 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes $(( QUICK ? 1 : 2 )) --max-s 700 --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "[$SECONDS s] $tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
echo "[$SECONDS s] checks done"
fi
if [[ $PART == ab || $PART == all || $PART == core ]]; then
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 90 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "${2:-$SH}" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[$1${SPARSEK_SELECT_LONG:+ long=$SPARSEK_SELECT_LONG}] |" | tee -a $OUT/ab103.log; }
S8='8192,1024,256;8192,2048,512'
bench devbin-head; bench devbin; bench devbin-small; SPARSEK_SELECT_LONG=4096 bench devbin "$S8"; pack
(( QUICK )) || { bench devbin-head; bench devbin; bench devbin-small; SPARSEK_SELECT_LONG=4096 bench devbin "$S8"; pack; }
echo "[$SECONDS s] A/B done"
(( SECONDS < 440 )) && b=devbin-small chk c-small 70 --shapes 1 --seed 95 --d 128   # its anchored fixed cases
b=devbin
if (( ! QUICK && SECONDS < 400 )); then
  for cfg in "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2" "phase=anchor rows=256 hcap=40960 threads=512"; do
    $b/sparsek-tune gen sparsek_select "$cfg" --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k"
  done
  timeout $((560 - SECONDS)) ncu --clock-control none -k "regex:sparsek_select" --launch-skip 4 --launch-count 2 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight --section Occupancy --section LaunchStats \
    --import-source yes -o /tmp/sel103 \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu103.log" 2>&1
  echo "[$SECONDS s] ncu exit $?"
  ncu --import /tmp/sel103.ncu-rep --page details --csv > "$OUT/details103.csv" 2>&1
  grep -E '"(Duration|Achieved Occupancy|Registers Per Thread)"' "$OUT/details103.csv" | cut -d, -f5,13- | head -12
  for p in sass cuda; do
    ncu --import /tmp/sel103.ncu-rep --page source --csv --print-source $p > "$OUT/src103-$p.csv" 2> "$OUT/src103-$p.err"; gzip -f "$OUT/src103-$p.csv"
  done
fi
echo "[$SECONDS s] ab done"; pack
fi
[[ $PART == peers || $PART == all ]] || exit 0
PYTHONUNBUFFERED=1 timeout 240 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so ${TILES:+--tiles "$TILES"} --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench103.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
pack
