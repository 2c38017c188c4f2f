#!/usr/bin/env bash
# Builds kiln and runs every test: the release build and an AddressSanitizer +
# UndefinedBehaviorSanitizer build (both with warnings as errors), then the format and
# static-analysis checks. Run scripts/setup.sh first (the README's test command does).
# Usage: scripts/test.sh [release|asan|lint]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${KILN_JOBS:-2}
steps=("$@")
((${#steps[@]})) || steps=(release asan lint)

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
    lint)
        echo "== includes"
        scripts/check-includes.sh
        echo "== format"
        git ls-files '*.c' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror
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
        echo "unknown step '$step' (release, asan, lint)" >&2
        exit 2
        ;;
    esac
done
echo "== all passed"
