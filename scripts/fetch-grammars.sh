#!/bin/sh
# Fetches the tree-sitter grammars kiln's grammar/ module compiles, into the git-ignored folder
# grammar/ts/<lang>/: the generated src/parser.c and src/scanner.c from the grammar's PyPI
# sdist, and tree_sitter/{parser,array,alloc,ts_assert}.h (the ABI-14 headers those files
# include, which the grammar sdists leave out) from the sdist of the py-tree-sitter release of
# the same generation. Every sdist is pinned by version and sha256. Idempotent: a language
# whose files are present is skipped. Usage: scripts/fetch-grammars.sh [--force]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dest_root="$root/grammar/ts"
force=0
if [ "${1:-}" = "--force" ]; then
    force=1
fi
# $KILN_PYTHON (set by scripts/setup.sh) or Debian's python, whose pip starts fast.
py=${KILN_PYTHON:-/usr/bin/python3}
if ! "$py" -m pip --version >/dev/null 2>&1; then
    py=python3
fi
pip="$py -m pip"

# The headers: py-tree-sitter 0.23.2 carries tree-sitter's lib/src/*.h.
hdr_pkg=tree-sitter
hdr_version=0.23.2
hdr_sha=66bae8dd47f1fed7bdef816115146d3a41c39b5c482d7bad36d9ba1def088450

# download PACKAGE VERSION SHA256 DIR: fetches the sdist into DIR, checks it, prints its path.
download()
{
    $pip download --quiet --no-deps --no-binary :all: -d "$4" "$1==$2" \
        >/dev/null
    f=$(ls "$4"/*.tar.gz)
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$3" ]; then
        echo "fetch-grammars: $f: sha256 $got, expected $3" >&2
        return 1
    fi
    echo "$f"
}

# lang package version sha256
grammars="python tree-sitter-python 0.23.6 354bfa0a2f9217431764a631516f85173e9711af2c13dbd796a8815acfe505d9
c tree-sitter-c 0.23.4 9215c7888dd019038f162ea5646178f6e129cd2b49fc506d14becf5e426121d7"

echo "$grammars" | while read -r lang pkg version sha; do
    dest="$dest_root/$lang"
    stamp="$pkg $version $sha $hdr_pkg $hdr_version ts_assert"
    if [ "$force" = 0 ] && [ -f "$dest/parser.c" ] && [ -f "$dest/tree_sitter/parser.h" ] &&
        [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$stamp" ]; then
        continue
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch-grammars: $pkg==$version"
    sdist=$(download "$pkg" "$version" "$sha" "$tmp/g")
    top=$(tar -tzf "$sdist" | head -n 1 | cut -d/ -f1)
    mkdir -p "$tmp/x"
    tar -xzf "$sdist" -C "$tmp/x" "$top/src/parser.c"
    if tar -tzf "$sdist" | grep -qx "$top/src/scanner.c"; then
        tar -xzf "$sdist" -C "$tmp/x" "$top/src/scanner.c"
    fi
    hdr=$(download "$hdr_pkg" "$hdr_version" "$hdr_sha" "$tmp/h")
    htop=$(tar -tzf "$hdr" | head -n 1 | cut -d/ -f1)
    mkdir -p "$tmp/x/$top/src/tree_sitter"
    for h in parser.h array.h alloc.h ts_assert.h; do
        tar -xzOf "$hdr" "$htop/tree_sitter/core/lib/src/$h" >"$tmp/x/$top/src/tree_sitter/$h"
    done
    rm -rf "$dest"
    mkdir -p "$dest"
    cp -r "$tmp/x/$top/src/." "$dest/"
    echo "$stamp" >"$dest/VERSION"
    rm -rf "$tmp"
    trap - EXIT
done
