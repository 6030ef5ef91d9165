#!/usr/bin/env bash
# tests/gpu/run.sh [MODE[,MODE...]] — everything the H100 session runs, in one call:
#   correctness (random shapes vs float64, poisoned outputs), the cache round trip through a
#   second process without NVRTC, compute-sanitizer on a subset, and the benchmark vs SDPA.
# Modes: all (default: test + bench), test, bench, tune (the autotuner: `tune --preset standard`
# into a fresh cache, load time, checks and re-times without NVRTC; the cache lands in
# $OUT/pretuned; TUNE_SHAPES=FILE tunes a shapes file instead, TUNE_ARGS adds options, e.g.
# "--budget 240"), firstrun (SPARSEK_AUTOTUNE=1 on an empty cache), sparse = sparse-test
# (SparseK correctness, sanitizers) + sparse-bench (bench_sparsek.py); e.g. "test,sparse".
# Expects binaries built here with `tests/gpu/bundle.sh` in ./devbin (carried to the device).
# Writes logs under $OUT (or ./gpu-out); prints a short table last.
set -uo pipefail
out="${OUT:-gpu-out}"
mkdir -p "$out"
bin=devbin
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sparsek-cache-XXXXXX)"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv; nvcc --version | tail -1; } 2>&1 | tee "$out/device.txt"
step() { echo "== $*"; }
rc_all=0
mode="${1:-all}"
[[ "$mode" == all ]] && mode="test,bench"
mode="${mode//sparse,/sparse-test,sparse-bench,}"; [[ "$mode" == *sparse ]] && mode="${mode%sparse}sparse-test,sparse-bench"
has() { [[ ",$mode," == *",$1,"* ]]; }

if has test; then
  step "gpu_fmha: correctness + second-process reload"
  timeout 400 "$bin/gpu_fmha" --shapes "${SHAPES:-120}" --cache "$SPARSEK_CACHE_DIR" 2>&1 | tee "$out/gpu_fmha.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
  echo "gpu_fmha exit $r"; [[ $r == 0 ]] || rc_all=1
  step "gpu_fmha --tiles path=mma: the portable path on this device too"
  timeout 300 "$bin/gpu_fmha" --shapes "${MMA_SHAPES:-40}" --seed 11 --tiles path=mma --cache "$SPARSEK_CACHE_DIR" 2>&1 \
    | tee "$out/gpu_fmha_mma.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
  echo "gpu_fmha (path=mma) exit $r"; [[ $r == 0 ]] || rc_all=1
  step "SASS of the wgmma kernels: HGMMA issued, no local-memory spills"
  for cfg in "fmha_fwd d=128 dtype=bf16 causal=1" "fmha_fwd d=64 dtype=fp16 causal=0" "sparsek_fwd d=128 dtype=bf16" "sparsek_fwd d=64 dtype=fp16"; do
    "$bin/sparsek-tune" gen $cfg --arch sm_90a > "$out/k.cu" &&
      nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o "$out/k.cubin" "$out/k.cu" &&
      cuobjdump --dump-sass "$out/k.cubin" > "$out/k.sass" &&
      echo "sass $cfg: HGMMA $(grep -c HGMMA "$out/k.sass"), LDL/STL $(grep -cE '\b(LDL|STL)\b' "$out/k.sass")" \
        | tee -a "$out/checks.txt"
  done
  rm -f "$out/k.cu" "$out/k.cubin"
  step "cache verify"
  "$bin/sparsek-tune" cache verify --dir "$SPARSEK_CACHE_DIR" | tail -3
  step "compute-sanitizer memcheck / racecheck (subset)"
  for tool in memcheck racecheck; do
    timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 "$bin/gpu_fmha" --shapes 8 --max-s 200 --no-fixed --seed 7 \
      --cache "$SPARSEK_CACHE_DIR" > "$out/sanitizer-$tool.log" 2>&1
    r=$?; echo "$tool exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | tail -1)" \
      | tee -a "$out/checks.txt"
    [[ $r == 0 ]] || rc_all=1
  done
fi
if has bench; then
  step "sparsek-tune bench (checked, then timed against the default)"
  for args in "b=1 h=8 s=512 d=64" "b=1 h=16 s=16384 d=128 m=64 n=64 warps=4" "b=2 h=32 s=8192 d=64 causal=1 m=64 n=128 warps=4" \
              "b=4 h=32 hkv=8 sq=1000 sk=4097 d=128 causal=1 layout=bhsd dtype=fp16"; do
    "$bin/sparsek-tune" bench fmha_fwd $args 2>&1 | tee -a "$out/cli-bench.log"
  done
  step "benchmark vs SDPA (cuDNN, flash)"
  PYTHONUNBUFFERED=1 python3 tests/gpu/bench_fmha.py --lib "$bin/libsparsek.so" --json "$out/bench.json" ${TILES:+--tiles "$TILES"} ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
fi
if has tune; then
  # The autotuner on the device: tune the standard set into a fresh cache, report, then prove
  # the result loads fast, runs correctly without NVRTC and re-times close to the tuned times.
  tdir="$(mktemp -d /tmp/sparsek-tuned-XXXXXX)"
  set_args="--preset standard"; [[ -n "${TUNE_SHAPES:-}" ]] && set_args="--shapes $TUNE_SHAPES"  # TUNE_SHAPES: a dry run
  step "sparsek-tune tune $set_args into $tdir"
  t0=$(date +%s.%N)
  timeout 480 "$bin/sparsek-tune" tune $set_args --dir "$tdir" --json ${TUNE_ARGS:-} > "$out/tune.json" 2> "$out/tune-progress.log"; r=$?
  t1=$(date +%s.%N)
  echo "tune exit $r, wall $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (goal < 300 s)"; [[ $r == 0 ]] || rc_all=1
  tail -n 3 "$out/tune-progress.log"
  python3 - "$out/tune.json" <<'PY' | tee "$out/tune-summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"gpu {r['gpu']} ({r['arch']}, {r['toolchain']}); driver time {r['seconds']:.1f} s; "
      f"{r['tried']} candidates tried, {r['measured_now']} measured now, {r['compiled']} compiles "
      f"({r['compile_failed']} failed); {r['finished']}/{len(r['buckets'])} buckets tuned, {r['skipped']} skipped "
      f"{r['stop_reason']}")
print(f"{'bucket':42} {'winner us':>10} {'heur. us':>10} {'ratio':>6} {'wrong':>5}  winner")
for b in r['buckets']:
    if b['finished']:
        ratio = f"{b['speedup']:.2f}x" if b['heuristic_us'] > 0 else "-"
        same = " (= heuristic)" if b['winner'] == b['heuristic'] else ""
        print(f"{b['bucket']:42} {b['winner_us']:10.1f} {b['heuristic_us']:10.1f} {ratio:>6} {b['wrong']:5}  {b['winner']}{same}")
    else:
        print(f"{b['bucket']:42} NOT TUNED: {b['note']}")
    if b['wrong']:
        print(f"    wrong: {b['wrong_list']}")
PY
  "$bin/sparsek-tune" show "$tdir" > "$out/show.txt"; head -3 "$out/show.txt"
  mkdir -p "$out/pretuned" && cp "$tdir"/*.skc "$out/pretuned/" && echo "pretuned cache: $(ls "$out/pretuned" | wc -l) entries, $(du -sh "$out/pretuned" | cut -f1) -> $out/pretuned"
  step "sparsek_runtime_load of the whole pretuned cache in a fresh process (goal < 50 ms)"
  for i in 1 2 3; do "$bin/sparsek-tune" load "$out/pretuned"; done 2>&1 | tee "$out/load.log" | grep -E "^load"
  step "NVRTC unavailable: load, check and re-time every standard shape with the runtime's own choice (goal: spread within 3%)"
  SPARSEK_NVRTC_LIBRARY=/nonexistent/libnvrtc.so SPARSEK_CACHE_DIR=/nonexistent "$bin/sparsek-tune" load "$out/pretuned" --check $set_args 2>&1 | tee "$out/retime.log"; r=${PIPESTATUS[0]}
  echo "load --check exit $r"; [[ $r == 0 ]] || rc_all=1
  step "bench: tuned winner (nearest bucket) vs the heuristic on shapes outside the standard set"
  for args in "b=1 h=16 s=4096 d=128 causal=1" "b=4 h=32 hkv=8 s=1024 d=64" "b=1 h=16 s=16384 d=128"; do
    "$bin/sparsek-tune" bench fmha_fwd $args --load "$out/pretuned" --iters 30 2>&1 | tee -a "$out/tune-bench.log" | grep -E "^(heuristic|tuned|shape)"
  done
  step "gpu_fmha --reload: an untuned shape served by the nearest tuned bucket, NVRTC disabled"
  "$bin/gpu_fmha" --reload "$out/pretuned" 2>&1 | tee "$out/reload.log" | tail -n 3; r=${PIPESTATUS[0]}
  [[ $r == 0 ]] || rc_all=1
fi
if has firstrun; then
  # First-run tuning: a runtime created with SPARSEK_AUTOTUNE=1 on a cache folder with no tuning
  # for this GPU tunes (here a two-shape set, 60 s budget) and keeps the winners; the next one
  # finds them and does not tune again.
  fdir="$(mktemp -d /tmp/sparsek-firstrun-XXXXXX)"
  printf 'b=1 h=8 s=1024 d=128 dtype=bf16 causal=1\nb=1 h=8 s=1024 d=64 dtype=fp16 causal=0\n' > "$fdir/shapes.txt"
  step "first-run tuning: SPARSEK_AUTOTUNE=1 on an empty cache folder, then a second runtime"
  for i in 1 2; do
    t0=$(date +%s.%N)
    SPARSEK_VERBOSE=1 SPARSEK_AUTOTUNE=1 SPARSEK_AUTOTUNE_BUDGET=60 SPARSEK_AUTOTUNE_SHAPES="$fdir/shapes.txt" \
      SPARSEK_CACHE_DIR="$fdir/c" timeout 120 "$bin/sparsek-tune" info > "$out/firstrun-$i.log" 2>&1; r=$?
    echo "runtime $i: exit $r, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s; $(grep -ciE 'tun' "$out/firstrun-$i.log") lines about tuning" \
      | tee -a "$out/checks.txt"
    grep -iE "tun" "$out/firstrun-$i.log" | head -4
  done
  "$bin/sparsek-tune" show "$fdir/c" 2>&1 | head -4 | tee -a "$out/checks.txt"
fi
if has sparse-test || has sparse-bench; then
  for f in gpu_sparsek libsparsek.so liblua5.4.so.0; do
    [[ -e "$bin/$f" ]] || { echo "$bin/$f missing: run tests/gpu/bundle.sh here first and carry devbin"; exit 2; }
  done
fi
if has sparse-test; then
  # SparseK correctness (SPARSE_SHAPES, SPARSE_MMA_SHAPES, SPARSE_SYNC_SHAPES, SPARSE_ANCHOR_SHAPES,
  # STATE_SHAPES) and
  # sanitizers.
  sparse_check() {  # LOG LABEL TIMEOUT ARGS...: one gpu_sparsek pass, logged to $out/LOG.log
    local log=$1 label=$2 limit=$3 r; shift 3
    timeout "$limit" "$bin/gpu_sparsek" "$@" --cache "$SPARSEK_CACHE_DIR" 2>&1 | tee "$out/$log.log" | grep -vE "^ok " ; r=${PIPESTATUS[0]}
    echo "gpu_sparsek$label exit $r"; [[ $r == 0 ]] || rc_all=1
  }
  sparse_sanitize() {  # TOOL LOG LABEL ARGS...: gpu_sparsek under compute-sanitizer, logged to $out/LOG.log
    local tool=$1 log=$2 label=$3 r; shift 3
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin/gpu_sparsek" "$@" --cache "$SPARSEK_CACHE_DIR" \
      > "$out/$log.log" 2>&1
    r=$?; echo "$tool$label exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/$log.log" | tail -1)"
    [[ $r == 0 ]] || { grep -m2 -B2 -A8 -E "Race reported|Invalid|Error" "$out/$log.log" | head -40; rc_all=1; }
  }
  step "gpu_sparsek: selection + sparse attention vs float64 reference (poisoned outputs and scratch)"
  sparse_check gpu_sparsek "" 400 --shapes "${SPARSE_SHAPES:-60}"
  step "gpu_sparsek --tiles path=mma: the portable prefill kernel on this device too"
  sparse_check gpu_sparsek_mma " (path=mma)" 300 --shapes "${SPARSE_MMA_SHAPES:-20}" --seed 11 --tiles path=mma
  step "gpu_sparsek --tiles sched=sync: the wgmma kernel's other schedule (the default at d=128 is pingpong)"
  sparse_check gpu_sparsek_sync " (sched=sync)" 300 --shapes "${SPARSE_SYNC_SHAPES:-20}" --seed 12 --tiles sched=sync
  step "gpu_sparsek --tiles persist=0: the pingpong kernel with a CTA per tile (the default walks the tiles persistently)"
  sparse_check gpu_sparsek_persist0 " (persist=0)" 300 --shapes "${SPARSE_PERSIST0_SHAPES:-12}" --seed 15 --d 128 --tiles persist=0
  step "gpu_sparsek with SPARSEK_SELECT_ANCHOR_MIN=600: the anchored selection on small shapes too"
  SPARSEK_SELECT_ANCHOR_MIN=600 sparse_check gpu_sparsek_anchored " (anchored selection)" 300 \
    --shapes "${SPARSE_ANCHOR_SHAPES:-30}" --seed 14 --max-s 3000
  step "gpu_sparsek --state: decode-state sequences, every call vs float64 reference"
  sparse_check gpu_sparsek_state " (decode state)" 400 --state --shapes "${STATE_SHAPES:-40}" --seed 13
  step "compute-sanitizer memcheck / racecheck (sparse subset)"
  for tool in memcheck racecheck; do
    sparse_sanitize $tool sanitizer-sparse-$tool "" --shapes 6 --max-s 300 --no-fixed --seed 7
    # the split selection (hist, compact, finish), reached from 1024 prefix keys: the fixed
    # decode cases up to 3000 keys
    SPARSEK_SELECT_SPLIT_MIN=1024 sparse_sanitize $tool sanitizer-split-$tool " (split selection)" \
      --shapes 0 --max-s 3000 --max-sq 16
    # the anchored selection (phases anchor, anchored), reached from 600 prefix keys: the fixed
    # d=64 cases up to 1100 keys and two random ones
    SPARSEK_SELECT_ANCHOR_MIN=600 sparse_sanitize $tool sanitizer-anchored-$tool " (anchored selection)" \
      --shapes 2 --d 64 --max-s 1100 --seed 7
    # the decode state: the fixed sequences up to 3000 keys and two random ones
    sparse_sanitize $tool sanitizer-state-$tool " (decode state)" --state --shapes 2 --max-s 3000 --seed 17
  done
  # the pingpong schedule's named barriers and mbarriers (the default prefill kernel at d=128)
  sparse_sanitize synccheck sanitizer-sparse-synccheck "" --shapes 6 --max-s 300 --no-fixed --seed 7
fi
if has sparse-bench; then
  # SparseK benchmarks (SPARSE_BENCH_ARGS=--quick to shorten, SPARSE_TILES for more prefill configs).
  step "bench_sparsek (vs our dense kernel, cuDNN, FlexAttention block-sparse, PyTorch gather decode)"
  PYTHONUNBUFFERED=1 timeout 420 python3 tests/gpu/bench_sparsek.py --lib "$bin/libsparsek.so" --json "$out/bench_sparsek.json" \
    ${SPARSE_BENCH_ARGS:-} 2>&1 | tee "$out/bench_sparsek.log"; r=${PIPESTATUS[0]}
  echo "bench_sparsek exit $r"; [[ $r == 0 ]] || rc_all=1
  # SPARSE_TILES='a;b': more prefill tile configs to time the same way (quick, no peers).
  IFS=';' read -ra extra_tiles <<< "${SPARSE_TILES:-}"
  for t in "${extra_tiles[@]}"; do
    [[ -n "$t" ]] || continue
    PYTHONUNBUFFERED=1 timeout 120 python3 tests/gpu/bench_sparsek.py --lib "$bin/libsparsek.so" --tiles "$t" --quick \
      --no-peers 2>&1 | grep -E "^prefill" | sed "s/^/[$t] /" | tee -a "$out/bench_sparsek_tiles.log"
  done
  if [[ "${SPARSE_MMA_BENCH:-1}" != 0 ]]; then   # SPARSE_MMA_BENCH=0 skips it
    step "bench_sparsek --tiles path=mma --quick --no-peers (the portable prefill kernel, same run)"
    PYTHONUNBUFFERED=1 timeout 200 python3 tests/gpu/bench_sparsek.py --lib "$bin/libsparsek.so" --tiles path=mma --quick \
      --no-peers --json "$out/bench_sparsek_mma.json" 2>&1 | grep -E "^(prefill|decode)" | sed 's/^/[path=mma] /' \
      | tee "$out/bench_sparsek_mma.log"
  fi
fi
echo "== summary"
cat "$out/checks.txt" 2>/dev/null
grep -E "correctness:|second process|reload from cache" "$out/gpu_fmha.log" "$out/gpu_fmha_mma.log" 2>/dev/null
grep -E "sparse correctness" "$out/gpu_sparsek.log" "$out/gpu_sparsek_mma.log" "$out/gpu_sparsek_sync.log" "$out/gpu_sparsek_persist0.log" \
  "$out/gpu_sparsek_anchored.log" "$out/gpu_sparsek_state.log" 2>/dev/null
grep -E "^(prefill|decode|bar:) " "$out/bench_sparsek.log" 2>/dev/null
cat "$out/bench_sparsek_mma.log" "$out/bench_sparsek_tiles.log" 2>/dev/null
cat "$out/tune-summary.txt" 2>/dev/null
exit $rc_all
