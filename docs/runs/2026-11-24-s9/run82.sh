#!/usr/bin/env bash
# Run 82: where the prefill time goes now. A tile sweep of the sparse wgmma kernel (stages, m=64,
# n=32) against the default on the rows nearest their bar, our kernels only; then ncu of the
# one-kernel selection at S=32768 k=2048 (two CTAs per SM since run 78) with its source counters.
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
shapes='32768,2048,512;32768,1024,256;131072,2048,512'
for t in "" "stages=3" "stages=5" "m=64" "n=32"; do
  PYTHONUNBUFFERED=1 timeout 100 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers ${t:+--tiles "$t"} \
    --prefill "$shapes" 2>&1 | grep -E "^prefill|rror" | sed "s|^|[${t:-default}] |"
done
timeout 240 ncu --clock-control none -k regex:sparsek_select --launch-skip 2 --launch-count 1 \
  --section SpeedOfLight --section SchedulerStats --section WarpStateStats --section Occupancy --section LaunchStats \
  --section MemoryWorkloadAnalysis --section SourceCounters \
  python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill '32768,2048,512' > "$OUT/ncu82-select.log" 2>&1
echo "ncu exit $?"; grep -E "Duration|Issue Slots Busy|Executed Ipc A|Warp Cycles Per Issued|No Eligible|Achieved Occupancy|Registers Per|Compute \(SM\) Thr|Memory Thr|L2 Hit|L1/TEX Hit|Stall" "$OUT/ncu82-select.log" | head -30
