#!/usr/bin/env bash
# Run 69: the decode attention kernel's DRAM traffic (ncu), to ground PLAN step 2: bytes read
# against the 84 MB of K/V rows needed, DRAM throughput, and the L2 traffic.
set -uo pipefail
timeout 200 ncu --clock-control none -k regex:"sparsek_decode_d" --launch-skip 2 --launch-count 2 \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_bytes.sum,lts__t_sector_hit_rate.pct,sm__warps_active.avg.pct_of_peak_sustained_active \
  python3 docs/runs/2026-11-23-s7/state_steps.py devbin/libsparsek.so 32768,131072 > "$OUT/ncu69.log" 2>&1
echo "ncu exit $?"
grep -E "sparsek_decode|gpu__time|dram__|lts__|sm__warps" "$OUT/ncu69.log" | head -30
