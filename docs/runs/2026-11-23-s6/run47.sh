#!/bin/bash
# Session 6, device run 47: decode selection variants. base = main fac33ae; A = compact writes
# 64-bit top keys + d/above, finish selects from the second digit; B = A + bucketed tau for decode.
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for v in A B; do
  b=devbin/$v; [[ $v == B ]] && b=devbin
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 $b/gpu_sparsek --shapes 0 --max-sq 16 --cache $SPARSEK_CACHE_DIR > $out/corr-$v.log 2>&1; echo "$v decode cases rc $?: $(grep -E 'sparse correctness' $out/corr-$v.log)"
  SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 $b/gpu_sparsek --shapes 12 --max-s 6000 --max-sq 16 --seed 3 --cache $SPARSEK_CACHE_DIR > $out/corr2-$v.log 2>&1; echo "$v split random rc $?: $(grep -E 'sparse correctness' $out/corr2-$v.log)"
done
cd tests/gpu
for v in base A B; do
  b=../../devbin/$v; [[ $v == B ]] && b=../../devbin
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only > $out/bench-$v.log 2>&1; echo "$v bench rc $?"
  grep -E "^decode" $out/bench-$v.log | sed "s/^/[$v] /"
done
b=../../devbin
for kv in 32768 131072; do
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:sparsek_ -c 5 \
    python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only --kv $kv > $out/ncu-B-$kv.log 2>&1; echo "B ncu $kv rc $?"
  grep -E "^  sparsek_|gpu__time_duration" $out/ncu-B-$kv.log | paste - - | awk '{print $1, $(NF)}' | sed "s/^/[B $kv] /"
done
