#!/bin/bash
# Session 6, device run 52: E = A + compact with register-held scores and per-warp ballots.
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
export SPARSEK_CACHE_DIR=$(mktemp -d)
b=devbin
timeout 200 $b/gpu_sparsek --shapes 24 --max-sq 16 --seed 21 --cache $SPARSEK_CACHE_DIR > $out/corr-E.log 2>&1; echo "E decode rc $?: $(grep -E 'sparse correctness' $out/corr-E.log)"
timeout 200 $b/gpu_sparsek --shapes 10 --seed 11 --tiles path=mma --cache $SPARSEK_CACHE_DIR > $out/corr-E-mma.log 2>&1; echo "E mma rc $?: $(grep -E 'sparse correctness' $out/corr-E-mma.log)"
timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 $b/gpu_sparsek --shapes 4 --max-s 300 --max-sq 16 --no-fixed --seed 7 --cache $SPARSEK_CACHE_DIR > $out/san-race.log 2>&1
echo "racecheck rc $?: $(grep -E 'RACECHECK SUMMARY' $out/san-race.log | tail -1)"
cd tests/gpu
for v in A E A E; do
  b=../../devbin/$v; [[ $v == E ]] && b=../../devbin
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only > $out/bench-$v.log 2>&1; echo "$v bench rc $?"
  grep -E "^decode" $out/bench-$v.log | sed "s/^/[$v] /"
done
b=../../devbin
export SPARSEK_CACHE_DIR=$(mktemp -d)
timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed -k regex:sparsek_select -c 6 \
    python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only --kv 32768,131072 > $out/ncu-E.log 2>&1; echo "E ncu rc $?"
grep -E "^  sparsek_|gpu__time_duration|dram__" $out/ncu-E.log | head -12
