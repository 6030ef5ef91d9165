#!/usr/bin/env bash
# Run 98 (session 13; written in session 12, nothing of it had run): first verify c7d4b33 (the
# zero-block-tile fix, compiled only), then measure exp-band-skip.patch against it, then the
# issue's grid with every peer in the same process, then ncu stall samples per SASS line of the
# default prefill kernel. Needs devbin (c7d4b33) and devbin-skip (c7d4b33 + exp-band-skip.patch),
# each from tests/gpu/bundle.sh (copy the second's libsparsek.so and gpu_sparsek to devbin-skip/).
set -uo pipefail
PART=${1:-all}   # checks: correctness, sanitizers, A/B; peers: the grid with peers and ncu
FINAL_OUT="$OUT"; OUT=/tmp/out98; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
pack() { tar czf "$FINAL_OUT/run98.tgz" -C /tmp out98; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk() { local bin=$1 log=$2 lim=$3; shift 3; timeout $lim $bin/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1
  echo "$log exit $?: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -E "^FAIL" $OUT/$log.log | head -5; }
if [[ $PART != peers ]]; then
chk devbin c-default 200 --shapes 16 --seed 51          # the fixed cases include the two zero-block ones
chk devbin c-persist0 100 --shapes 4 --seed 52 --d 128 --tiles persist=0
chk devbin-skip c-skip 200 --shapes 16 --seed 53
SPARSEK_SELECT_LONG=1000 chk devbin c-long 150 --shapes 8 --seed 54 --max-s 4000   # 256-row tiles on short shapes
for bin in devbin devbin-skip; do for tool in synccheck racecheck; do
  timeout 90 compute-sanitizer --tool $tool --error-exitcode 9 $bin/gpu_sparsek --shapes 2 --max-s 500 --seed 9 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$bin-$tool.log 2>&1
  echo "$bin $tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$bin-$tool.log | tail -1)"
done; done
pack
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 60 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "$SH" 2>&1 | grep -E "^prefill" | sed "s|^|[$1] |" | tee -a $OUT/ab98.log; }
for round in 1 2; do bench devbin; bench devbin-skip; done
# 256-row selection tiles at S=8192 too (the selection is 19% of the k=1024 call there; half the
# tiles, at up to 128 more gathered keys for a tile's second CTA)
for round in 1 2; do
  SPARSEK_SELECT_LONG=4096 bench devbin | sed 's/^\[devbin\]/[long4096]/'; bench devbin
done
pack
fi
[[ $PART == checks ]] && { echo "end at ${SECONDS} s"; exit 0; }
PYTHONUNBUFFERED=1 timeout 240 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench98.log" | grep -E "^(prefill|decode|bar)"
pack
timeout 100 ncu --clock-control none -k regex:sparsek_fwd --launch-skip 2 --launch-count 1 --section SourceCounters \
  --section WarpStateStats -o /tmp/attn98 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --no-peers \
  --prefill '32768,1024,256' > $OUT/ncu98.log 2>&1
ncu --import /tmp/attn98.ncu-rep --page source --csv --print-source sass > $OUT/sass98.csv 2> $OUT/sass98.err
python3 docs/runs/2026-12-06-s11/top_lines.py $OUT/sass98.csv 60 > $OUT/sass98-top.txt 2>&1; head -20 $OUT/sass98-top.txt
gzip $OUT/sass98.csv
echo "end at ${SECONDS} s"
pack
