#!/usr/bin/env bash
# Run 101: sparsek_fwd prune=1 (the pingpong producer drops the gathered keys that no row of its
# tile selects: a 32-position tile of a 256-row selection tile inherits up to 255 keys that became
# candidates before or within its rows, most of them below the rows' thresholds) on top of join=1
# (run 100), and ahead=2 again (run 100's hung: setmaxnreg 112 + 2 x 200 asked for more than the
# 3 x 168 registers the CTA holds; now 120 + 2 x 192).
# 0. a short smoke run of each new variant (a hang costs its timeout, not the call);
# 1. SASS (HGMMA, LDL/STL); 2. correctness against the float64 reference, outputs and scratch
# poisoned: the default (join=1 prune=1), prune=0, ahead=2, pack=1, persist=0; synccheck and
# racecheck; 3. A/B prune=0 / prune=1 / prune=1 ahead=2 (same build), alternating, on four rows;
# 4. (PART=peers) the whole grid with every peer in the same process.
set -uo pipefail
PART=${1:-all}
FINAL_OUT="$OUT"; OUT=/tmp/out101; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run101.tgz" -C /tmp out101; }
if [[ $PART != peers ]]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "[$SECONDS s] $log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
AH=1
chk smoke-default 40 --shapes 1 --max-s 600 --seed 80 --d 128 --no-fixed || { echo "default smoke failed"; pack; exit 3; }
chk smoke-ahead2 40 --shapes 1 --max-s 600 --seed 80 --d 128 --no-fixed --tiles ahead=2 || AH=0
for v in "group=4" "group=4 ahead=2"; do
  $b/sparsek-tune gen sparsek_fwd "$v" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu 2>/dev/null \
    && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass $v: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
done
chk c-default 150 --shapes 10 --seed 81
pack
chk c-prune0 60 --shapes 3 --seed 82 --d 128 --tiles prune=0
[[ $AH == 1 ]] && chk c-ahead2 60 --shapes 3 --seed 83 --d 128 --tiles ahead=2
chk c-pack1 60 --shapes 3 --seed 84 --d 128 --tiles pack=1
chk c-persist0 60 --shapes 3 --seed 85 --d 128 --tiles persist=0
pack
for tool in synccheck racecheck; do
  timeout 80 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --max-s 500 --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "[$SECONDS s] $tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 60 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill "$SH" ${1:+--tiles "$1"} 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[${1:-prune=1}] |" | tee -a $OUT/ab101.log; }
bench "prune=0"; bench ""; [[ $AH == 1 ]] && bench "ahead=2"; pack
bench "prune=0"; bench ""; [[ $AH == 1 ]] && bench "ahead=2"; pack
echo "[$SECONDS s] checks done"
fi
[[ $PART == checks ]] && exit 0
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONUNBUFFERED=1 timeout 240 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so ${TILES:+--tiles "$TILES"} --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench101.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
pack
