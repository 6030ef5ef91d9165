#!/usr/bin/env bash
# Run 72: the final build (after runs 69-71: decode_rows). SparseK correctness (tests/gpu/run.sh sparse-test: gpu_sparsek, path=mma,
# --state, compute-sanitizer on a subset, the split selection and the decode state), then the cache
# for the final generator (tests/gpu/run.sh tune; lands in $OUT/pretuned.tgz).
set -uo pipefail
SPARSE_SHAPES=60 STATE_SHAPES=40 bash tests/gpu/run.sh sparse-test 2>&1 | grep -E "exit|correctness" | head -20
mkdir -p "$OUT/logs72" && cp "${OUT}"/gpu_sparsek*.log "${OUT}"/sanitizer-*.log "$OUT/logs72/" 2>/dev/null
bash tests/gpu/run.sh tune 2>&1 | grep -E "tune exit|buckets|^load |load --check exit|worst re-time|pretuned cache|reload from cache" | head -20
cp "$OUT"/load.log "$OUT"/retime.log "$OUT"/reload.log "$OUT/logs72/" 2>/dev/null
tar czf "$OUT/pretuned.tgz" -C "$OUT" pretuned && tar czf "$OUT/logs72.tgz" -C "$OUT" logs72
cd "$OUT" && ls | grep -vE "^(pretuned.tgz|logs72.tgz)$" | xargs rm -rf
