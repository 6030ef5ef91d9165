#!/bin/sh
# Installs the Debian packages SparseK builds and tests with (skips what is already there).
# The CUDA 13 toolkit is expected at $CUDA_HOME (default /usr/local/cuda).
set -eu
pkgs="make gcc liblua5.4-dev libcmocka-dev pkg-config"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
cuda="${CUDA_HOME:-/usr/local/cuda}"
if [ ! -f "$cuda/include/nvrtc.h" ] || [ ! -f "$cuda/include/cuda.h" ]; then
    echo "error: the CUDA toolkit was not found at $cuda (set CUDA_HOME)" >&2
    exit 1
fi
