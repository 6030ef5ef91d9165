#!/usr/bin/env bash
# Run 108 (session 16): the A/B of run 105 again, interleaved (head, pdl, by-level, pdl, head),
# on the anchored rows, no peers: devbin-head (main 564eeb4), devbin (s15-by-level), devbin-pdl
# (s16-pdl).
set -uo pipefail
export SPARSEK_CACHE_DIR="$(mktemp -d /tmp/sk-cache-XXXXXX)"
SH='32768,1024,256;32768,2048,512;131072,1024,256'
bench() { PYTHONUNBUFFERED=1 timeout 100 python3 tests/gpu/bench_sparsek.py --lib $1/libsparsek.so --no-peers --prefill "$SH" 2>&1 \
  | grep -vE "Deprecation|create_block_mask" | grep -E "^prefill" | sed "s|^|[$1] |" | tee -a $OUT/ab108.log; echo "[$SECONDS s]"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for b in devbin-head devbin-pdl devbin devbin-pdl devbin-head; do bench $b; done
