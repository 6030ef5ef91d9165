#!/usr/bin/env bash
# Run 91: (a) an experiment on the anchored selection: the tile's keys after its anchor's prefix
# below the anchor's theta0 are dropped from its top list as it is staged (devbin), correctness
# vs float64; (b) prefill A/B against 19109aa (devbin-old), our kernels only, and S=8192 with the
# anchored selection forced (SPARSEK_SELECT_ANCHOR_MIN=4096); (c) the issue's grid with every peer
# in the same process on 19109aa; (d) a second A/B round and the ncu source page of the anchored
# kernel at S=32768 k=1024 if time is left.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out91; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() {  # name timeout args...
  local name=$1 t=$2; shift 2
  timeout $t $b/gpu_sparsek --seed 91 --cache "$SPARSEK_CACHE_DIR" "$@" > "$OUT/gpu91-$name.log" 2>&1
  echo "gpu_sparsek $name [$*] exit $?: $(grep -E 'sparse correctness' "$OUT/gpu91-$name.log" | tail -1)"
  grep -E "FAIL|WRONG|rror" "$OUT/gpu91-$name.log" | head -5
}
run d128 120 --shapes 8 --d 128
SPARSEK_SELECT_ANCHOR_MIN=600 run knob 120 --shapes 24 --max-s 3000
echo "correctness done at ${SECONDS} s"
shapes='8192,1024,256;32768,2048,512;32768,1024,256;131072,2048,512;131072,1024,256'
ab() {
  for l in devbin-old devbin; do
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $l/libsparsek.so --no-peers --prefill "$shapes" 2>&1 \
      | grep -E "^prefill|rror" | sed "s|^|[$l] |"
  done
}
ab
SPARSEK_SELECT_ANCHOR_MIN=4096 PYTHONUNBUFFERED=1 timeout 60 python3 tests/gpu/bench_sparsek.py --lib devbin/libsparsek.so --no-peers \
  --prefill '8192,2048,512;8192,1024,256' 2>&1 | grep -E "^prefill|rror" | sed "s|^|[devbin anchors from 4096] |"
echo "A/B done at ${SECONDS} s"
PYTHONUNBUFFERED=1 timeout 300 python3 tests/gpu/bench_sparsek.py --lib devbin-old/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench91.log" | grep -E "^(prefill|decode|bar)"
echo "bench done at ${SECONDS} s"
(( SECONDS < 470 )) && ab
if (( SECONDS < 500 )); then
  timeout 90 ncu --clock-control none -k "regex:sparsek_select_anchored" --launch-skip 2 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --import-source yes -o /tmp/anch \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu91-anchored.log" 2>&1
  echo "ncu exit $?"
  ncu --import /tmp/anch.ncu-rep --page source --csv --print-source cuda > "$OUT/src91-anchored.csv" 2> "$OUT/src91-anchored.err"
  python3 docs/runs/2026-12-06-s11/top_lines.py "$OUT/src91-anchored.csv" 45 > "$OUT/src91-anchored-top-lines.txt" 2>&1
  head -22 "$OUT/src91-anchored-top-lines.txt"; gzip "$OUT/src91-anchored.csv"
fi
echo "end at ${SECONDS} s"
tar czf "$FINAL_OUT/run91.tgz" -C /tmp out91
