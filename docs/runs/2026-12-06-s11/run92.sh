#!/usr/bin/env bash
# Run 92 (HEAD, the anchored selection): ncu source pages (stall samples per CUDA line) of the
# anchored selection kernel and of the pingpong attention kernel at S=32768 k=1024 (the generated
# sources are written where ncu looks for NVRTC's program files: ./<kernel name>), then the
# issue's grid with every peer in the same process.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out92; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
prof() {  # name kernel-regex family config
  local name=$1 rx=$2 fam=$3 cfg=$4 k
  $b/sparsek-tune gen $fam $cfg --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k"
  timeout 100 ncu --clock-control none -k "regex:$rx" --launch-skip 2 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --import-source yes -o /tmp/$name \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu92-$name.log" 2>&1
  echo "ncu $name ($k) exit $?: $(grep -c 'Failed to import' "$OUT/ncu92-$name.log") import failures"
  ncu --import /tmp/$name.ncu-rep --page source --csv --print-source cuda > "$OUT/src92-$name.csv" 2> "$OUT/src92-$name.err"
  python3 docs/runs/2026-12-06-s11/top_lines.py "$OUT/src92-$name.csv" 45 > "$OUT/src92-$name-top-lines.txt" 2>&1
  head -16 "$OUT/src92-$name-top-lines.txt"; gzip "$OUT/src92-$name.csv"
  tar czf "$FINAL_OUT/run92.tgz" -C /tmp out92   # what is done so far comes back even if the call runs out of time
}
prof anchored sparsek_select_anchored sparsek_select "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2"
prof attn sparsek_fwd sparsek_fwd "d=128 dtype=bf16 weight=gate"
echo "profiles done at ${SECONDS} s"
(( SECONDS < 120 )) && PYTHONUNBUFFERED=1 timeout $((200 - SECONDS)) python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --json "$OUT/bench_sparsek.json" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | tee "$OUT/bench92.log" | grep -E "^(prefill|decode|bar)"
echo "end at ${SECONDS} s"
tar czf "$FINAL_OUT/run92.tgz" -C /tmp out92
