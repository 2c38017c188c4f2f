#!/bin/sh
# Measures kiln's grammar checker on real corpora (the figures of the grammar issue):
#   - false rejections: every file that tree-sitter parses is replayed token by token and must
#     never be rejected (exit 1 otherwise);
#   - early detection: one random mutation per file, share rejected at or before the breaking
#     token (confirmed by a tree-sitter oracle).
# Python corpus: every .py file of the CPython standard library on the machine
# ($PYLIB, default /usr/lib/python3.11; at least 500 files). C corpus: the .c files of three
# PyPI sdists pinned by sha256 (libuv vendored by uvloop, zstandard, psutil), fetched into the
# build folder at run time (at least 200 files that parse).
#
# Usage: scripts/grammar-corpus.sh BUILD_DIR [--words] [--no-mutations]
#   BUILD_DIR holds grammar/kiln-gram-bench and cli/kiln (cmake --build BUILD_DIR).
#   --words: replay with word pieces instead of the model's tokenizer (no model needed).
# Prints one JSON summary per language; per-file rows go to BUILD_DIR/grammar-corpus/.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/grammar-corpus.sh BUILD_DIR [--words] [--no-mutations]}
shift
build=$(cd "$build" && pwd)
words=0
extra=""
for a in "$@"; do
    case "$a" in
    --words) words=1 ;;
    --no-mutations) extra="$extra --no-mutations" ;;
    *) echo "grammar-corpus: unknown option $a" >&2; exit 2 ;;
    esac
done
bench="$build/grammar/kiln-gram-bench"
kiln="$build/cli/kiln"
py=/usr/bin/python3
out="$build/grammar-corpus"
mkdir -p "$out"
if [ ! -x "$bench" ]; then
    echo "grammar-corpus: $bench missing: cmake --build $build --target kiln-gram-bench" >&2
    exit 2
fi
replayer=""
if [ "$words" = 0 ]; then
    if [ ! -x "$kiln" ]; then
        echo "grammar-corpus: $kiln missing (or pass --words)" >&2
        exit 2
    fi
    replayer="--kiln $kiln"
fi

# --- Python: the standard library on this machine.
pylib=${PYLIB:-/usr/lib/python3.11}
find "$pylib" -name '*.py' -type f | LC_ALL=C sort >"$out/python.list"
n=$(wc -l <"$out/python.list")
if [ "$n" -lt 500 ]; then
    echo "grammar-corpus: only $n .py files under $pylib (need 500)" >&2
    exit 2
fi

# --- C: sources of pinned sdists.
csrc="$out/csrc"
mkdir -p "$csrc"
echo "uvloop 0.21.0 3bf12b0fda68447806a7ad847bfa591613177275d35b6724b1ee573faa3704e3
zstandard 0.23.0 b2d8c62d08e7255f68f7a740bae85b3c9b8e5466baa9cbf7f57f1cde0ac6bc09
psutil 6.1.0 353815f59a7f64cdaca1c0307ee13558a0512f6db064e92fe833784f08539c7a" |
    while read -r pkg version sha; do
        if [ -d "$csrc/$pkg-$version" ]; then
            continue
        fi
        $py -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
            -d "$csrc/dl" "$pkg==$version" >/dev/null
        f="$csrc/dl/$pkg-$version.tar.gz"
        got=$(sha256sum "$f" | cut -d' ' -f1)
        if [ "$got" != "$sha" ]; then
            echo "grammar-corpus: $f: sha256 $got, expected $sha" >&2
            exit 1
        fi
        tar -xzf "$f" -C "$csrc"
    done
find "$csrc" -name '*.c' -type f | LC_ALL=C sort >"$out/c.list"

status=0
for lang in python c; do
    min=500
    if [ "$lang" = c ]; then
        min=200
    fi
    # shellcheck disable=SC2086
    $py "$root/grammar/bench/corpus.py" --bench "$bench" $replayer --lang "$lang" \
        --list "$out/$lang.list" --out "$out/$lang.jsonl" --min-parsed $min $extra || status=1
done
exit $status
