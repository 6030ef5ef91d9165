#!/bin/bash
# Session 6, device run 49: where the finish phase (A = c1f0c4c) and the decode attention spend
# their time at KV=32768 (ncu source-level samples).
set -u
out=${OUT:-gpu-out}; mkdir -p $out/logs; out=$(realpath $out)
bin=$(realpath devbin)
cd tests/gpu
export SPARSEK_CACHE_DIR=$(mktemp -d)
timeout 200 ncu --clock-control none --set full --import-source yes -k regex:"sparsek_select_finish|sparsek_decode_d" -c 2 -o $out/logs/dec \
  python3 bench_sparsek.py --lib $bin/libsparsek.so --decode-only --kv 32768 > $out/logs/ncu-run.log 2>&1
echo "ncu rc $?"
ncu -i $out/logs/dec.ncu-rep --page details > $out/logs/dec-details.txt 2>&1
ncu -i $out/logs/dec.ncu-rep --page source --csv --print-source sass > $out/logs/dec-sass.csv 2>&1 || echo "source page failed"
ncu -i $out/logs/dec.ncu-rep --page source --csv --print-source cuda > $out/logs/dec-cuda.csv 2>&1 || echo "cuda page failed"
grep -E "sparsek_|Duration|Registers|Achieved Occupancy|Memory Throughput|DRAM Throughput|Executed Ipc A" $out/logs/dec-details.txt | head -30
cd $out && tar czf all.tgz logs/*.txt logs/*.csv && rm -rf logs
