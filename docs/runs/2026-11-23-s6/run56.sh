#!/bin/bash
# Session 6, device run 56: G = main 8e97d14 + a smaller finish kernel (unrolls 4, no prefilter in the
# split finish: 16 k -> 7.6 k SASS instructions); base = 8e97d14. Then the autotuner for G.
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
export SPARSEK_CACHE_DIR=$(mktemp -d)
b=devbin
timeout 200 $b/gpu_sparsek --shapes 0 --max-sq 16 --cache $SPARSEK_CACHE_DIR > $out/corr-G.log 2>&1; echo "G decode cases rc $?: $(grep -E 'sparse correctness' $out/corr-G.log)"
SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 $b/gpu_sparsek --shapes 16 --max-s 6000 --max-sq 16 --seed 4 --cache $SPARSEK_CACHE_DIR > $out/corr2-G.log 2>&1; echo "G split random rc $?: $(grep -E 'sparse correctness' $out/corr2-G.log)"
for tool in memcheck racecheck; do
  SPARSEK_SELECT_SPLIT_MIN=1024 timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek \
      --shapes 0 --max-s 3000 --max-sq 16 --cache $SPARSEK_CACHE_DIR > $out/san-$tool.log 2>&1
  echo "$tool split rc $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $out/san-$tool.log | tail -1)"
done
cd tests/gpu
for v in base G base G; do
  b=../../devbin/$v; [[ $v == G ]] && b=../../devbin
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 200 python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only > $out/bench-$v.log 2>&1; echo "$v bench rc $?"
  grep -E "^decode" $out/bench-$v.log | sed "s/^/[$v] /"
done
b=../../devbin
for kv in 32768 131072; do
  export SPARSEK_CACHE_DIR=$(mktemp -d)
  timeout 150 ncu --clock-control none -k regex:sparsek_select_finish -c 1 --set full \
    python3 bench_sparsek.py --lib $b/libsparsek.so --decode-only --kv $kv > $out/ncu-G-$kv.log 2>&1; echo "G ncu $kv rc $?"
  grep -E "^  sparsek_|Duration|Executed Ipc A|No Instruction|Achieved Occ" $out/ncu-G-$kv.log | head -8
done
cd ../..
OUT=$out/tune bash tests/gpu/run.sh tune > $out/tune.log 2>&1; echo "tune rc $?"
grep -E "tune exit|pretuned cache|^load|load --check exit|checked" $out/tune.log | head -8
cd $out && tar czf all.tgz *.log tune && rm -rf tune *.log
