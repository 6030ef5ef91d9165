#!/bin/sh
# Builds the binaries the device run needs (static Lua: the device has no Lua) into ./devbin,
# which .git/info/exclude keeps out of git; name devbin in the device tool's `carry`.
set -eu
make -s BUILD=build-dev LUA_STATIC=1 build-dev/libsparsek.so build-dev/sparsek-tune build-dev/tests/gpu_fmha
mkdir -p devbin
cp build-dev/libsparsek.so build-dev/sparsek-tune build-dev/tests/gpu_fmha devbin/
ls -la devbin
