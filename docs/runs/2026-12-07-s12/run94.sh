#!/usr/bin/env bash
# Run 94: the persistent pingpong prefill kernel (persist=1, one CTA per SM walking the tiles).
# 1. correctness against the float64 reference (outputs and scratch poisoned): the default
#    (persist=1 at d=128), persist=0, sched=sync; sanitizers on the persistent kernel;
# 2. SASS: HGMMA issued, no LDL/STL;
# 3. speed: persist=1 against persist=0 and against HEAD ed671aa (devbin-old), alternating;
# 4. ncu source pages of the persistent kernel and of the S=8192 one-kernel selection.
set -uo pipefail
FINAL_OUT="$OUT"; OUT=/tmp/out94; mkdir -p $OUT
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
b=devbin
pack() { tar czf "$FINAL_OUT/run94.tgz" -C /tmp out94; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
chk() { local log=$1 lim=$2; shift 2; timeout $lim $b/gpu_sparsek "$@" --cache "$SPARSEK_CACHE_DIR" > $OUT/$log.log 2>&1; local r=$?
  echo "$log exit $r: $(grep -E 'sparse correctness' $OUT/$log.log | tail -1)"; grep -vE "^ok " $OUT/$log.log | grep -iE "fail|mismatch|error" | head -5; return $r; }
chk c-default 240 --shapes 24 || { pack; }
chk c-persist0 150 --shapes 10 --seed 21 --tiles persist=0
chk c-sync 150 --shapes 8 --seed 22 --tiles sched=sync
pack
for tool in racecheck synccheck memcheck; do
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 $b/gpu_sparsek --shapes 4 --max-s 400 --no-fixed --seed 7 --d 128 \
    --cache "$SPARSEK_CACHE_DIR" > $OUT/san-$tool.log 2>&1
  echo "$tool exit $?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1)"
done
pack
$b/sparsek-tune gen sparsek_fwd "d=128 dtype=bf16 weight=gate" --arch sm_90a > /tmp/k.cu && nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o /tmp/k.cubin /tmp/k.cu \
  && cuobjdump --dump-sass /tmp/k.cubin > /tmp/k.sass && echo "sass persist: HGMMA $(grep -c HGMMA /tmp/k.sass), LDL/STL $(grep -cE '\b(LDL|STL)\b' /tmp/k.sass)"
echo "checks done at ${SECONDS} s"
SH='8192,1024,256;32768,1024,256;8192,2048,512;32768,2048,512'
bench() { PYTHONUNBUFFERED=1 timeout 150 python3 tests/gpu/bench_sparsek.py --lib $1 --no-peers --prefill "$SH" ${2:+--tiles "$2"} 2>&1 | grep -E "^prefill" | sed "s|^|[$3] |" | tee -a $OUT/ab94.log; }
for round in 1 2; do
  bench $b/libsparsek.so "" persist1
  bench $b/libsparsek.so "persist=0" persist0
  bench devbin-old/libsparsek.so "" head
done
pack
echo "bench done at ${SECONDS} s"
prof() {  # name kernel-regex family config shape
  local name=$1 rx=$2 fam=$3 cfg=$4 shape=$5 k
  $b/sparsek-tune gen $fam "$cfg" --arch sm_90a > /tmp/g.cu && k=$(sed -n 's|^// kernel: ||p' /tmp/g.cu) && cp /tmp/g.cu "./$k"
  timeout 100 ncu --clock-control none -k "regex:$rx" --launch-skip 2 --launch-count 1 \
    --section SourceCounters --section WarpStateStats --section SpeedOfLight --section Occupancy --import-source yes -o /tmp/$name \
    python3 tests/gpu/bench_sparsek.py --lib $b/libsparsek.so --no-peers --prefill "$shape" > "$OUT/ncu94-$name.log" 2>&1
  echo "ncu $name ($k) exit $?"
  ncu --import /tmp/$name.ncu-rep --page source --csv --print-source cuda > "$OUT/src94-$name.csv" 2> "$OUT/src94-$name.err"
  ncu --import /tmp/$name.ncu-rep --page details > "$OUT/det94-$name.txt" 2>&1
  grep -E "Duration|Registers Per|Achieved Occupancy|Compute \(SM\) Throughput|Memory Throughput" "$OUT/det94-$name.txt" | head -8
  python3 docs/runs/2026-12-06-s11/top_lines.py "$OUT/src94-$name.csv" 60 > "$OUT/src94-$name-top-lines.txt" 2>&1
  head -14 "$OUT/src94-$name-top-lines.txt"; gzip "$OUT/src94-$name.csv"
  pack
}
if (( SECONDS < 400 )); then
  prof full 'sparsek_select_r128' sparsek_select "rows=128 hcap=16384 threads=256 minblocks=2" '8192,1024,256'
  prof attn sparsek_fwd sparsek_fwd "d=128 dtype=bf16 weight=gate" '32768,1024,256'
fi
echo "end at ${SECONDS} s"
pack
