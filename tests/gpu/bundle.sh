#!/bin/sh
# Builds the binaries the device run needs into ./devbin (which .git/info/exclude keeps out of
# git; name devbin in the device tool's `carry`). The device has no Lua: liblua5.4.so.0 travels
# with the binaries, which find it through their $ORIGIN rpath.
set -eu
make -s BUILD=build-dev build-dev/libsparsek.so build-dev/sparsek-tune build-dev/tests/gpu_fmha build-dev/tests/gpu_sparsek
mkdir -p devbin
cp build-dev/libsparsek.so build-dev/sparsek-tune build-dev/tests/gpu_fmha build-dev/tests/gpu_sparsek devbin/
cp -L /usr/lib/x86_64-linux-gnu/liblua5.4.so.0 devbin/
ls -la devbin
