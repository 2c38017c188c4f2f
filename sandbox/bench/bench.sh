#!/bin/sh
# Builds and runs the sandbox benchmark (sandbox/bench/bench.c) in a release build folder.
# Usage: sandbox/bench/bench.sh [BUILD_DIR] [N_RUNS] [THROUGHPUT_SECONDS]; needs root.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/sbx-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=OFF >/dev/null
cmake --build "$build" --target kiln_sbx_bench -j2 >/dev/null
exec "$build/sandbox/kiln_sbx_bench" "${2:-100}" "${3:-5}"
