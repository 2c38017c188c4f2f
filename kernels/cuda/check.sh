#!/usr/bin/env bash
# The CUDA backend's checks in one run, for a machine with an NVIDIA GPU, the CUDA toolkit
# (nvcc, cuBLAS) and CMake, but no network and none of kiln's Debian packages. It builds the
# engine alone (KILN_FRONTENDS=OFF: no grammar, sandbox, eval or their libraries; KILN_TESTS=OFF:
# no Check), writes random-weight models itself (kiln-gpu-check), and then:
#   1. parity on small models of every architecture and weight type the engine reads;
#   2. the same under compute-sanitizer's memcheck, when it is installed;
#   3. parity on models of SmolLM2-135M's shape (Q4_1, Q8_0) and Gemma 3 270M's (Q8_0), and the
#      speed figures on the SmolLM2-shaped Q4_1 one (decode fused and --no-fuse, 64 sequences,
#      a 512-token prompt);
#   4. `kiln bench --device cuda` on that file, as a user would run it;
#   5. Hugging Face transformers on PyTorch on the same shape (kernels/cuda/hf_bench.py);
#   6. when Nsight Compute (ncu) is installed, the duration of each of kiln's kernels over a
#      short prompt and a few decoded tokens (kernels/cuda/ncu_table.py), so tuning starts
#      from where the time goes;
# and prints a table last. Results land in $1 (default build/gpu/check) as JSON lines. Exits
# non-zero when a parity check failed or a step broke; every step runs regardless.
# Usage: kernels/cuda/check.sh [OUT_DIR]
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${KILN_GPU_BUILD:-$root/build/gpu}"
out="${1:-$build/check}"
mkdir -p "$out"
status=0
step() { echo "== $*" >&2; }
# A CUDA tool from PATH or the toolkit's bin folder; empty when neither has it.
tool() { command -v "$1" || { [ -x "/usr/local/cuda/bin/$1" ] && echo "/usr/local/cuda/bin/$1"; }; }

step "device"
nvidia-smi -L || true
step "build (engine only)"
cmake -S "$root" -B "$build" -DKILN_FRONTENDS=OFF -DKILN_TESTS=OFF -DWERROR=ON \
    -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 2; }
cmake --build "$build" -j"$(nproc)" --target kiln-gpu-check kiln >"$out/build.log" 2>&1 \
    || { tail -50 "$out/build.log"; exit 2; }
check="$build/tests/tools/kiln-gpu-check"

step "parity on small models"
mkdir -p "$out/tiny"
"$check" "$out/tiny" --tiny >"$out/tiny.jsonl" || status=1
cat "$out/tiny.jsonl"

sanitizer=$(tool compute-sanitizer)
if [ -n "$sanitizer" ]; then
    step "compute-sanitizer memcheck on the small models"
    timeout 100 "$sanitizer" --tool memcheck --error-exitcode 3 --print-limit 20 \
        "$check" "$out/tiny" --tiny >"$out/memcheck.log" 2>&1
    rc=$?
    echo "{\"check\": \"memcheck\", \"rc\": $rc}" >>"$out/tiny.jsonl"
    [ $rc -eq 0 ] || { status=1; grep -m 40 -E "=========|Invalid|error" "$out/memcheck.log"; }
fi

step "parity and speed on the real shapes"
"$check" "$out" >"$out/real.jsonl" || status=1
cat "$out/real.jsonl"

step "kiln bench --device cuda"
"$build/cli/kiln" bench --device cuda -m "$out/smollm2-135m-q4_1.gguf" -b 64 -p 512 -n 256 \
    --json >"$out/bench.jsonl" 2>"$out/bench.err" || { status=1; cat "$out/bench.err"; }
cat "$out/bench.jsonl"

step "transformers on the same shape"
PYTHONUNBUFFERED=1 python3 "$root/kernels/cuda/hf_bench.py" 256 >"$out/hf.jsonl" \
    2>"$out/hf.err" || { status=1; tail -20 "$out/hf.err"; }
cat "$out/hf.jsonl"

ncu=$(tool ncu)
if [ -n "$ncu" ]; then
    step "kernel durations (ncu)"
    timeout 150 "$ncu" --csv --metrics gpu__time_duration.sum --cache-control none \
        --clock-control none --kernel-name regex:kc_ --launch-count 1500 \
        "$build/cli/kiln" bench --device cuda -m "$out/smollm2-135m-q4_1.gguf" -b 1 -p 16 -n 8 \
        -r 1 >"$out/ncu.csv" 2>"$out/ncu.err" || tail -5 "$out/ncu.err"
    python3 "$root/kernels/cuda/ncu_table.py" <"$out/ncu.csv" >"$out/ncu.md"
fi

step "table"
cat "$out"/tiny.jsonl "$out"/real.jsonl "$out"/hf.jsonl 2>/dev/null \
    | python3 "$root/kernels/cuda/check_table.py"
[ -f "$out/ncu.md" ] && head -25 "$out/ncu.md"
exit $status
