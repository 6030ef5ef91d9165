#!/usr/bin/env bash
# Run 93 (HEAD ed671aa, no kernel change): where the k=1024 prefill rows spend their time.
# Per-kernel times (ncu) at S=8192 and S=32768, then ncu source pages (stall samples per CUDA
# line) of the one-kernel selection at S=8192, the anchored selection and the pingpong attention
# kernel at S=32768 k=1024. The generated sources are written where ncu looks for NVRTC's
# program files (./<kernel name>).
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out93; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run93.tgz" -C /tmp out93; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers \
  --prefill '8192,1024,256;32768,1024,256;8192,2048,512' 2>&1 | tee $OUT/warm93.log | grep -E "^prefill"
pack
for s in 8192 32768; do
  timeout 90 ncu --clock-control none -k regex:sparsek --launch-count 12 --section SpeedOfLight --section Occupancy --section LaunchStats \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill "$s,1024,256" > $OUT/ncu93-sum-$s.log 2>&1
  grep -E "^  sparsek_|Duration|Achieved Occupancy|Registers Per|Grid Size|Block Size|Waves Per SM|Compute \(SM\) Throughput|Memory Throughput" $OUT/ncu93-sum-$s.log | head -80
done
pack
prof() {  # name kernel-regex family config shape
  local name=$1 rx=$2 fam=$3 cfg=$4 shape=$5 k
  $b/sparsek-tune gen $fam "$cfg" --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k"
  timeout 100 ncu --clock-control none -k "regex:$rx" --launch-skip 2 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight --import-source yes -o /tmp/$name \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill "$shape" > "$OUT/ncu93-$name.log" 2>&1
  echo "ncu $name ($k) exit $?: $(grep -c 'Failed to import' "$OUT/ncu93-$name.log") import failures"
  ncu --import /tmp/$name.ncu-rep --page source --csv --print-source cuda > "$OUT/src93-$name.csv" 2> "$OUT/src93-$name.err"
  ncu --import /tmp/$name.ncu-rep --page details > "$OUT/det93-$name.txt" 2>&1
  python3 docs/runs/2026-12-06-s11/top_lines.py "$OUT/src93-$name.csv" 60 > "$OUT/src93-$name-top-lines.txt" 2>&1
  head -12 "$OUT/src93-$name-top-lines.txt"; gzip "$OUT/src93-$name.csv"
  pack
}
prof full 'sparsek_select_r128' sparsek_select "rows=128 hcap=16384 threads=256 minblocks=2" '8192,1024,256'
prof attn sparsek_fwd sparsek_fwd "d=128 dtype=bf16 weight=gate" '32768,1024,256'
prof anchored sparsek_select_anchored sparsek_select "phase=anchored rows=256 hcap=16384 threads=512 minblocks=2" '32768,1024,256'
echo "end at ${SECONDS} s"
pack
