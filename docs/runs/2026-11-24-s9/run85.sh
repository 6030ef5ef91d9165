#!/usr/bin/env bash
# Run 85: the sparse wgmma attention kernel (run 84 build) at S=32768 k=2048 line by line (ncu source page: instructions,
# warp stall samples, shared-memory wavefronts per CUDA line of the generated kernel).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
timeout 300 ncu --clock-control none -k regex:sparsek_fwd --launch-skip 2 --launch-count 1 \
  --section SourceCounters --section WarpStateStats --section InstructionStats --import-source yes -o /tmp/att85 \
  python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,2048,512' > "$OUT/ncu85.log" 2>&1
echo "ncu exit $?"
ncu --import /tmp/att85.ncu-rep --page source --csv --print-source cuda > "$OUT/src85-cuda.csv" 2> "$OUT/src85-cuda.err"; echo "cuda page exit $? $(wc -l < "$OUT/src85-cuda.csv")"
ncu --import /tmp/att85.ncu-rep --page source --csv --print-source sass > "$OUT/src85-sass.csv" 2> "$OUT/src85-sass.err"; echo "sass page exit $? $(wc -l < "$OUT/src85-sass.csv")"
ncu --import /tmp/att85.ncu-rep --page source --csv --print-source cuda,sass > "$OUT/src85-both.csv" 2> "$OUT/src85-both.err"; echo "both page exit $? $(wc -l < "$OUT/src85-both.csv")"
head -c 600 "$OUT/src85-cuda.csv"; echo; head -3 "$OUT/src85-cuda.err" "$OUT/src85-both.err"
rm -f "$OUT"/src85-sass.csv "$OUT"/src85-cuda.csv; ls -la "$OUT"
