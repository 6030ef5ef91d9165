#!/usr/bin/env bash
# Run 100: sparsek_fwd join=1 (the window band continues in the last gathered key block: a tile
# walks ceil((gathered + band) / 64) blocks, at k=1024 w=256 with 32 positions 21 instead of 22)
# and ahead=2 (the producer reads the key indices two blocks ahead, a tile's first two before its
# Q; setmaxnreg 112/200).
# 1. SASS of the default kernel (HGMMA, LDL/STL); 2. correctness against the float64 reference,
# outputs and scratch poisoned: the default (join=1), join=0, ahead=2, pack=1 (the band skip with
# joined blocks), persist=0; racecheck and synccheck on the default and on ahead=2; 3. A/B join=0,
# join=1, join=1 ahead=2 (same build), alternating, two rounds, on four rows;
# 4. (PART=all or peers) the whole grid with every peer in the same process.
set -uo pipefail
PART=${1:-all}   # checks: 1-3; peers: 4; all: both
FINAL_OUT="$OUT"; OUT=/tmp/out100; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run100.tgz" -C /tmp out100; }
if [[ $PART != peers ]]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for v in "group=4" "group=4 ahead=2"; do
  $b/sparsek-tune gen sparsek_fwd "$v" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu \
    && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass $v: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
done
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "$log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
chk c-default 150 --shapes 10 --seed 71
pack
chk c-join0 60 --shapes 3 --seed 72 --d 128 --tiles join=0
chk c-ahead2 60 --shapes 3 --seed 73 --d 128 --tiles ahead=2
chk c-pack1 60 --shapes 3 --seed 74 --d 128 --tiles pack=1
chk c-persist0 60 --shapes 3 --seed 75 --d 128 --tiles persist=0
pack
for tool in synccheck racecheck; do
  for t in "" "ahead=2"; do
    timeout 80 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --max-s 500 --seed 9 --d 128 \
      ${t:+--tiles "$t"} --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool${t:+-ahead2}.log 2>&1
    echo "$tool ${t:-default} exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool${t:+-ahead2}.log | tail -1)"
  done
done
pack
echo "checks done at ${SECONDS} s"
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
# bench TILES: the four rows, our kernels only
bench() { PYTHONUNBUFFERED=1 timeout 100 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill "$SH" ${1:+--tiles "$1"} 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[${1:-join=1}] |" | tee -a $OUT/ab100.log; }
bench "join=0"; bench ""; bench "ahead=2"; pack
bench "join=0"; bench ""; bench "ahead=2"; pack
fi
[[ $PART == checks ]] && { echo "end at ${SECONDS} s"; exit 0; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONUNBUFFERED=1 timeout 240 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so ${TILES:+--tiles "$TILES"} --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench100.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
pack
