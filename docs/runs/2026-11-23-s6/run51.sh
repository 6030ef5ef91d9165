#!/bin/bash
# Session 6, device run 51: where hist and compact spend their time at KV=131072 (ncu source-level).
set -u
out=${OUT:-gpu-out}; mkdir -p $out/logs; out=$(realpath $out)
bin=$(realpath devbin)
cd tests/gpu
export SPARSEK_CACHE_DIR=$(mktemp -d)
timeout 200 ncu --clock-control none --set full --import-source yes -k regex:"sparsek_select_(hist|compact)" -c 2 -o $out/logs/sel \
  python3 bench_sparsek.py --lib $bin/libsparsek.so --decode-only --kv 131072 > $out/logs/ncu-run.log 2>&1
echo "ncu rc $?"
ncu -i $out/logs/sel.ncu-rep --page details > $out/logs/sel-details.txt 2>&1
ncu -i $out/logs/sel.ncu-rep --page source --csv --print-source sass > $out/logs/sel-sass.csv 2>&1 || echo "source page failed"
grep -E "sparsek_|Duration|Registers|Achieved Occupancy|Memory Throughput|DRAM Throughput|Executed Ipc A|Waves Per SM|L2 Hit" $out/logs/sel-details.txt | head -30
cd $out && tar czf all.tgz logs/*.txt logs/*.csv && rm -rf logs
