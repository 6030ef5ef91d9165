#!/bin/bash
# Session 6, device run 48: C = tau_fine (compact's tau grid, one-row tiles) on top of A (c1f0c4c).
# C1024/C2048: C with SK_SPLIT_SEL_CTAS 1024/2048 (smaller chunks in hist/compact).
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
export SPARSEK_CACHE_DIR=$(mktemp -d)
b=devbin
timeout 200 $b/gpu_sparsek --shapes 0 --max-sq 16 --cache $SPARSEK_CACHE_DIR > $out/corr-C.log 2>&1; echo "C decode cases rc $?: $(grep -E 'sparse correctness' $out/corr-C.log)"
SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 $b/gpu_sparsek --shapes 16 --max-s 6000 --max-sq 16 --seed 4 --cache $SPARSEK_CACHE_DIR > $out/corr2-C.log 2>&1; echo "C split random rc $?: $(grep -E 'sparse correctness' $out/corr2-C.log)"
for tool in memcheck racecheck; do
  SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek \
      --shapes 0 --max-s 3000 --max-sq 16 --cache $SPARSEK_CACHE_DIR > $out/san-$tool.log 2>&1
  echo "$tool split rc $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $out/san-$tool.log | tail -1)"
done
cd tests/gpu
for v in A C C1024 C2048; do
  b=../../devbin/$v; [[ $v == C ]] && b=../../devbin
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only > $out/bench-$v.log 2>&1; echo "$v bench rc $?"
  grep -E "^decode" $out/bench-$v.log | sed "s/^/[$v] /"
done
b=../../devbin
for kv in 32768 131072; do
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:sparsek_ -c 5 \
    python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only --kv $kv > $out/ncu-C-$kv.log 2>&1; echo "C ncu $kv rc $?"
  grep -E "^  sparsek_|gpu__time_duration" $out/ncu-C-$kv.log | paste - - | awk '{print $1, $(NF)}' | sed "s/^/[C $kv] /"
done
