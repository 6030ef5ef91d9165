#!/usr/bin/env bash
# Run 61: the final build's SparseK correctness (tests/gpu/run.sh sparse-test: gpu_sparsek, path=mma,
# --state, compute-sanitizer memcheck/racecheck on a subset, the split selection and the decode state).
set -uo pipefail
SPARSE_SHAPES=60 STATE_SHAPES=40 bash tests/gpu/run.sh sparse-test 2>&1 | tail -25
