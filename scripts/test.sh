#!/usr/bin/env bash
# Builds kiln and runs every test: the release build and an AddressSanitizer +
# UndefinedBehaviorSanitizer build (both with warnings as errors), the CUDA engine's parity
# checks on kcemu (the CPU emulator of CUDA in kernels/cuda/emu/, plain and under the
# sanitizers, so the GPU kernels are tested on machines without a GPU), then the format and
# static-analysis checks. Run scripts/setup.sh first (the README's test command does).
# Usage: scripts/test.sh [release|asan|cuda-emu|lint]...   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${KILN_JOBS:-2}
steps=("$@")
((${#steps[@]})) || steps=(release asan cuda-emu lint)

run_preset() {
    local preset=$1
    shift
    echo "== $preset build"
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs"
    echo "== $preset tests"
    env "$@" ctest --test-dir "build/$preset" --output-on-failure -j 1
}

for step in "${steps[@]}"; do
    case $step in
    release)
        run_preset release KILN_TEST_QUICK="${KILN_TEST_QUICK:-0}"
        ;;
    asan)
        # KILN_TEST_QUICK=1 (two golden prompts per model instead of ten) saves about two
        # minutes here when iterating; CI runs everything.
        run_preset asan KILN_TEST_QUICK="${KILN_TEST_QUICK:-0}" \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        ;;
    cuda-emu)
        # Every small model (all architectures and weight types) in the optimized build; three
        # of them (about a minute) under the sanitizers, where a kernel's out-of-bounds access
        # is a heap-buffer-overflow report.
        for preset in cuda-emu cuda-emu-asan; do
            echo "== $preset build"
            cmake --preset "$preset" >/dev/null
            cmake --build --preset "$preset" -j "$jobs" --target kiln-gpu-check kcemu-test
            echo "== $preset tests"
            "build/$preset/kernels/kcemu-test"
            mkdir -p "build/$preset/tiny"
            if [ "$preset" = cuda-emu ]; then
                "build/$preset/tests/tools/kiln-gpu-check" "build/$preset/tiny" --tiny
            else
                export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
                export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
                for name in llama-q4_1 qwen2-q8_0 gemma3-q6_k; do
                    "build/$preset/tests/tools/kiln-gpu-check" "build/$preset/tiny" --tiny "$name"
                done
                # Device allocations failing at points of the model's upload and the contexts'
                # setup: each must end in an error naming the call (exit 2), with nothing leaked.
                for n in 1 7 29 31 49 60 97; do
                    rc=0
                    KILN_CUDA_EMU_FAIL=$n "build/$preset/tests/tools/kiln-gpu-check" \
                        "build/$preset/tiny" --tiny llama-q4_1 >/dev/null 2>"build/$preset/fail.log" \
                        || rc=$?
                    if [ $rc -ne 0 ] && { [ $rc -ne 2 ] || ! grep -q 'out of memory' "build/$preset/fail.log"; }; then
                        echo "allocation failure $n: exit $rc" >&2
                        cat "build/$preset/fail.log" >&2
                        exit 1
                    fi
                    echo "allocation failure $n: $(tail -n1 "build/$preset/fail.log")"
                done
            fi
        done
        ;;
    lint)
        echo "== includes"
        scripts/check-includes.sh
        echo "== format"
        git ls-files '*.c' '*.h' '*.cu' '*.cuh' '*.cpp' | xargs clang-format --dry-run --Werror
        echo "== clang-tidy"
        [ -f build/release/compile_commands.json ] || cmake --preset release >/dev/null
        git ls-files '*.c' | grep -v '^tests/fuzz/' |
            xargs -P "$jobs" -n 8 clang-tidy -p build/release --quiet 2>/dev/null
        echo "== cppcheck"
        git ls-files '*.c' | grep -v '^tests/fuzz/' |
            xargs cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
                --std=c11 --inline-suppr -I . --suppress=missingIncludeSystem
        ;;
    *)
        echo "unknown step '$step' (release, asan, cuda-emu, lint)" >&2
        exit 2
        ;;
    esac
done
echo "== all passed"
