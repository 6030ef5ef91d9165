#!/bin/bash
# Session 6, device run 54: the final build (f5490b6) — autotune into a fresh cache (cache/), then
# SparseK correctness + sanitizers + benchmarks (tests/gpu/run.sh tune, then sparse).
out=${OUT:-gpu-out}; mkdir -p $out; out=$(realpath $out)
OUT=$out/tune bash tests/gpu/run.sh tune > $out/tune.log 2>&1; echo "tune rc $?"
grep -E "tune exit|pretuned cache|^load|load --check exit|buckets tuned" $out/tune.log | head -8
OUT=$out/sparse bash tests/gpu/run.sh sparse > $out/sparse.log 2>&1; echo "sparse rc $?"
sed -n '/== summary/,$p' $out/sparse.log | head -30
grep -E "exit|SUMMARY" $out/sparse.log | head -12
cd $out && tar czf all.tgz tune sparse tune.log sparse.log && rm -rf tune sparse tune.log sparse.log
