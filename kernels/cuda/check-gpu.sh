#!/usr/bin/env bash
# Runs the GPU checks of kernels/cuda/ on a machine with a CUDA device: configures a release
# build with CUDA in build/gpu (or $1), builds the GPU runner, and runs the ctest entries
# labelled gpu. Exits non-zero when a check fails or when ctest skips them (no device).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/gpu}"
nvidia-smi -L
cmake -S "$root" -B "$build" -DKILN_CUDA=ON -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --target test_kernels_cuda -j"$(nproc)"
"$build/tests/kernels/test_kernels_cuda"
ctest --test-dir "$build" -L gpu --output-on-failure
