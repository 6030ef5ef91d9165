#!/usr/bin/env bash
# Run 83: the one-kernel selection at S=32768 k=2048 line by line (ncu source page: instructions,
# warp stall samples, shared-memory wavefronts per CUDA line of the generated kernel).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
timeout 300 ncu --clock-control none -k regex:sparsek_select --launch-skip 2 --launch-count 1 \
  --section SourceCounters --section WarpStateStats --section InstructionStats --import-source yes -o /tmp/sel83 \
  python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,2048,512' > "$OUT/ncu83.log" 2>&1
echo "ncu exit $?"
ncu --import /tmp/sel83.ncu-rep --page source --csv --print-source cuda > "$OUT/src83-cuda.csv" 2> "$OUT/src83-cuda.err"; echo "cuda page exit $? $(wc -l < "$OUT/src83-cuda.csv")"
ncu --import /tmp/sel83.ncu-rep --page source --csv --print-source sass > "$OUT/src83-sass.csv" 2> "$OUT/src83-sass.err"; echo "sass page exit $? $(wc -l < "$OUT/src83-sass.csv")"
ncu --import /tmp/sel83.ncu-rep --page source --csv --print-source cuda,sass > "$OUT/src83-both.csv" 2> "$OUT/src83-both.err"; echo "both page exit $? $(wc -l < "$OUT/src83-both.csv")"
head -c 600 "$OUT/src83-cuda.csv"; echo; head -3 "$OUT/src83-cuda.err" "$OUT/src83-both.err"
gzip -k "$OUT"/src83-*.csv; ls -la "$OUT"
