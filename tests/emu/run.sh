#!/usr/bin/env bash
# tests/emu/run.sh [gpu_sparsek args...] — run the SparseK GPU test on the CPU: the generated
# kernels for the head dims in $EMU_DIMS (default 64; every weight mode, both dtypes, the decode
# row tiles, the selection variants) are compiled as C++ into a fake libcuda
# (tests/emu/emu_driver.cc) and tests/gpu/gpu_sparsek runs against it through
# $SPARSEK_CUDA_LIBRARY, small shapes only (one CUDA thread = one fiber).
# Needs g++ and python3. BUILD (default /tmp/b-emu) holds the build; EMU_SMS fakes the SM count.
# SPARSEK_SELECT_SPLIT_MIN (default here 1024; the library's own default, 16384, is unchanged)
# lowers the prefix length from which the selection is split (phases hist, compact, finish), so
# that small shapes reach that path too; SPARSEK_SELECT_ANCHOR_MIN does the same for the anchored
# selection (phases anchor, anchored), which the split one takes precedence over: run it with
# SPARSEK_SELECT_SPLIT_MIN=1000000 SPARSEK_SELECT_ANCHOR_MIN=256 for that path.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-/tmp/b-emu}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
make -s BUILD="$BUILD" "$BUILD/sparsek-tune" "$BUILD/tests/gpu_sparsek"
out="$BUILD/emu"
mkdir -p "$out/k" "$out/cache"
configs=(
  "sparsek_select|rows=128 hcap=40960 threads=512"
  "sparsek_select|rows=128 hcap=16384 threads=256"
  "sparsek_select|rows=256 hcap=32768 threads=512"
  "sparsek_select|rows=256 hcap=40960 threads=512"
  "sparsek_select|rows=128 hcap=16384 threads=256 minblocks=2"
  "sparsek_select|rows=256 hcap=16384 threads=512 minblocks=2"
  "sparsek_select|phase=hist rows=128 threads=256 chunk=1024"
  "sparsek_select|phase=compact rows=128 threads=256 chunk=1024"
  "sparsek_select|phase=finish rows=128 hcap=40960 threads=512 chunk=1024"
  "sparsek_select|phase=finish rows=128 hcap=16384 threads=256 chunk=1024"
  "sparsek_select|phase=state rows=128 hcap=40960 threads=512 chunk=4096"
  "sparsek_select|phase=state rows=128 hcap=16384 threads=256 chunk=4096"
  "sparsek_select|phase=state rows=128 hcap=40960 threads=512 chunk=1024"
  "sparsek_select|phase=state rows=128 hcap=16384 threads=256 chunk=1024"
  "sparsek_select|phase=anchor rows=128 hcap=40960 threads=512"
  "sparsek_select|phase=anchored rows=128 hcap=40960 threads=512"
  "sparsek_select|phase=anchored rows=128 hcap=16384 threads=256 minblocks=2"
  "sparsek_select|phase=anchored rows=128 hcap=32768 threads=256"
)
for d in ${EMU_DIMS:-64}; do
  n=32   # the decode kernel's keys per block (SK_DECODE_N in runtime/sk_sparsek.c)
  for dt in fp16 bf16; do
    configs+=("sparsek_decode|d=$d dtype=$dt phase=combine")
    for w in gate hard kv; do
      configs+=("sparsek_fwd|d=$d dtype=$dt weight=$w path=mma")   # wgmma is not emulated
      for m in 16 32 64; do configs+=("sparsek_decode|d=$d dtype=$dt weight=$w m=$m n=$n"); done
    done
  done
done
objs=()
for c in "${configs[@]}"; do
  fam="${c%%|*}"; cfg="${c#*|}"
  "$BUILD/sparsek-tune" gen "$fam" $cfg --arch sm_90a > "$out/k/tmp.cu"
  name=$(sed -n 's|^// kernel: ||p' "$out/k/tmp.cu")
  if ! cmp -s "$out/k/tmp.cu" "$out/k/$name.cu" 2>/dev/null; then
    mv "$out/k/tmp.cu" "$out/k/$name.cu"
    python3 tests/emu/prepare.py "$out/k/$name.cu" "$out/k/$name.cc"
    rm -f "$out/k/$name.o"
  fi
  objs+=("$out/k/$name.o")
done
for o in "${objs[@]}"; do [[ -f "$o" ]] || echo "${o%.o}.cc"; done |
  xargs -r -P "$(nproc)" -I{} sh -c 'g++ -std=c++17 -O1 -fPIC -w -Itests/emu -I'"$CUDA_HOME"'/include -c {} -o "$(dirname {})/$(basename {} .cc).o"'
g++ -std=c++17 -O1 -fPIC -Wall -Itests/emu -I"$CUDA_HOME/include" -c tests/emu/emu_driver.cc -o "$out/emu_driver.o"
g++ -shared -o "$out/libcuda_emu.so" "$out/emu_driver.o" "${objs[@]}"
dflag=(); [[ "${EMU_DIMS:-64}" == 64 ]] && dflag=(--d 64)
# The fake device is sm_90a, whose default prefill kernel is the (not emulated) wgmma one.
SPARSEK_SELECT_SPLIT_MIN="${SPARSEK_SELECT_SPLIT_MIN:-1024}" \
SPARSEK_CUDA_LIBRARY="$out/libcuda_emu.so" "$BUILD/tests/gpu_sparsek" "${dflag[@]}" --tiles path=mma --cache "$out/cache" "$@"
