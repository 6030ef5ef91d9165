#!/usr/bin/env bash
# Run 66: where the decode state kernel's 13-18 us go (ncu sections on a generation loop's steps).
set -uo pipefail
timeout 250 ncu --clock-control none -k regex:sparsek_select_state --launch-skip 2 --launch-count 3 \
  --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
  python3 docs/runs/2026-11-23-s7/state_steps.py devbin/libsparsek.so 32768 > "$OUT/ncu66.log" 2>&1
echo "ncu exit $?"
grep -E "sparsek_select_state|Duration|Elapsed Cycles|Registers Per|Dynamic Shared|Achieved Occupancy|Theoretical Occ|Issued Ipc|No Eligible|Warp Cycles Per Issued|Stall|Active Warps Per" "$OUT/ncu66.log" | head -60
