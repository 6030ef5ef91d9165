#!/usr/bin/env bash
# Not run in session 15 (no device start succeeded; run104.sh is the cut-down one to run).
# Run 102 (HEAD 8294673): where the prefill selection's time goes at S=32768 k=1024, where it is
# 14.9% of the call (run 101) against the 15% bar. ncu (--clock-control none) on one call's anchor
# and anchored kernels: durations, occupancy, warp states, and stall samples per SASS instruction
# and per CUDA line (the generated sources are written where ncu looks for NVRTC's program files:
# ./<kernel name>).
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out102; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for cfg in "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2" "phase=anchor rows=256 hcap=40960 threads=512"; do
  $b/sparsek-tune gen sparsek_select "$cfg" --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k" && cp /tmp/g.cu "$OUT/$k.cu" && echo "source $k"
done
timeout 200 ncu --clock-control none -k "regex:sparsek_select" --launch-skip 4 --launch-count 2 \
  --section SourceCounters --section WarpStateStats --section SpeedOfLight --section Occupancy --section LaunchStats \
  --import-source yes -o /tmp/sel102 \
  python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,1024,256' > "$OUT/ncu102.log" 2>&1
echo "ncu exit $? at ${SECONDS} s"
ncu --import /tmp/sel102.ncu-rep --page details --csv > "$OUT/details102.csv" 2>&1
grep -E '"(Duration|Achieved Occupancy|Registers Per Thread|Theoretical Occupancy|Block Limit Shared Mem|Compute \(SM\) Throughput|Memory Throughput)"' "$OUT/details102.csv" | cut -d, -f5,13- | head -30
for p in sass cuda; do
  ncu --import /tmp/sel102.ncu-rep --page source --csv --print-source $p > "$OUT/src102-$p.csv" 2> "$OUT/src102-$p.err"
  echo "src $p: $(wc -l < "$OUT/src102-$p.csv") lines"; gzip -f "$OUT/src102-$p.csv"
done
cp /tmp/sel102.ncu-rep "$OUT/" 2>/dev/null
tar czf "$FINAL_OUT/run102.tgz" -C /tmp out102
echo "end at ${SECONDS} s"
