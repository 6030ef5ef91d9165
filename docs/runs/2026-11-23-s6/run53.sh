#!/bin/bash
# Session 6, device run 53: E with chunks of at most 4096 keys (E4096) against A, both KV.
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
cd tests/gpu
for v in A E4096 A E4096; do
  b=../../devbin/$v
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only > $out/bench-$v.log 2>&1; echo "$v bench rc $?"
  grep -E "^decode" $out/bench-$v.log | sed "s/^/[$v] /"
done
export SPARSEK_CACHE_DIR=$(mktemp -d)
timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:sparsek_select -c 3 \
    python3 bench_sparsek.py --lib ../../devbin/E4096/libsparsek.so --decode-only --kv 131072 > $out/ncu-E4096.log 2>&1; echo "ncu rc $?"
grep -E "^  sparsek_|gpu__time_duration" $out/ncu-E4096.log | paste - - | awk '{print $1, $(NF)}'
