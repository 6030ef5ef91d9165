#!/usr/bin/env bash
# Run 99: sparsek_fwd pack=auto (a KV group's query heads in one tile of m/pack positions, sharing
# its gathered keys, band and K/V copies; pack=4 at the benchmark's Hq=32 Hkv=8).
# 1. SASS of the pk4 kernel (HGMMA, LDL/STL); 2. correctness against the float64 reference,
# outputs and scratch poisoned: the default (fixed cases include groups 2, 6, 16 at d=128),
# persist=0, pack=1; racecheck and synccheck; 3. A/B pack=auto against pack=1 (same build),
# alternating, on four rows, the first pack=auto pass with dense, cuDNN and Flex beside it;
# 4. (PART=all or peers) the whole grid with every peer in the same process.
set -uo pipefail
PART=${1:-all}   # checks: 1-3; peers: 4; all: both
FINAL_OUT="$OUT"; OUT=/tmp/out99; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run99.tgz" -C /tmp out99; }
if [[ $PART != peers ]]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
$b/sparsek-tune gen sparsek_fwd "group=4" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu \
  && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass pk4: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "$log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL|POISON|MISMATCH" $OUT/$log.log | head -5; return $r; }
chk c-default 150 --shapes 10 --seed 61
chk c-persist0 60 --shapes 3 --seed 62 --d 128 --tiles persist=0
chk c-pack1 60 --shapes 3 --seed 63 --d 128 --tiles pack=1
pack
for tool in synccheck racecheck; do
  timeout 80 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 2 --max-s 500 --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
echo "checks done at ${SECONDS} s"
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
# bench TILES PEERS: the four rows, our kernels only unless PEERS (then dense, cuDNN and Flex beside them)
bench() { PYTHONUNBUFFERED=1 timeout 100 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so ${2:---no-peers} --prefill "$SH" ${1:+--tiles "$1"} 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^(prefill|bar)" | sed "s|^|[${1:-pack=auto}] |" | tee -a $OUT/ab99.log; }
bench "pack=1"; bench "" --json=$OUT/bench99-rows.json; pack; bench "pack=1"; bench ""
pack
fi
[[ $PART == checks ]] && { echo "end at ${SECONDS} s"; exit 0; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONUNBUFFERED=1 timeout 240 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench99.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
pack
