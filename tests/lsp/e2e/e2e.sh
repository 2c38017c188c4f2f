#!/bin/sh
# End-to-end tests of `kiln lsp` with real clients: Neovim (headless, its own LSP client),
# Emacs with Eglot (batch), pygls's language client (PyPI wheels that scripts/setup.sh puts in
# .cache/lsp-py), then the hostile client (tests/lsp/hostile.py). Each editor opens a copy of
# sample.py, types, asks for a completion and applies it; the file must still compile. pygls
# also drives the test configuration (pygls_tests.py: C test files and a Python test command).
# Usage: e2e.sh KILN [--hostile-only] (sanitizer builds: the editors add little there and cost
# much). A client that is not installed is reported and skipped; exit 77 when the
# default model is missing (nothing could run).
set -eu
kiln=$1
case $kiln in /*) ;; *) kiln=$PWD/$kiln ;; esac # editors run it from the file's folder
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
py=${KILN_PYTHON:-python3}
[ -r "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf" ] || { echo "e2e: no model: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
only=${2:-}

compiles() {
    "$py" -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$1"
}
changed() {
    ! cmp -s "$here/sample.py" "$1"
}
run() { # NAME COMMAND...: runs a client with a time limit, reports it
    name=$1
    shift
    if timeout 120 "$@" >"$tmp/$name.out" 2>&1; then
        grep -h "completed\|applied\|hostile:" "$tmp/$name.out" || true
    else
        echo "e2e: $name failed:"
        tail -n 20 "$tmp/$name.out" | cut -c 1-300
        status=1
        return 1
    fi
}

if [ "$only" = --hostile-only ]; then
    echo "e2e: editors skipped (--hostile-only)"
elif command -v nvim >/dev/null; then
    cp "$here/sample.py" "$tmp/nvim.py"
    if KILN=$kiln E2E_FILE=$tmp/nvim.py E2E_LOG=$tmp/nvim.log \
        run nvim nvim --headless --clean -c "luafile $here/nvim.lua"; then
        { changed "$tmp/nvim.py" && compiles "$tmp/nvim.py"; } || { echo "e2e: nvim's file"; status=1; }
    fi
else
    echo "e2e: nvim not installed: skipped"
fi

if [ "$only" = --hostile-only ]; then
    :
elif command -v emacs >/dev/null; then
    cp "$here/sample.py" "$tmp/emacs.py"
    if KILN=$kiln E2E_FILE=$tmp/emacs.py E2E_LOG=$tmp/emacs.log \
        run emacs emacs --batch -Q -l "$here/e2e-eglot.el"; then
        { changed "$tmp/emacs.py" && compiles "$tmp/emacs.py"; } || { echo "e2e: emacs's file"; status=1; }
    fi
else
    echo "e2e: emacs not installed: skipped"
fi

if [ "$only" = --hostile-only ]; then
    :
elif [ -d "$root/.cache/lsp-py/pygls" ]; then
    PYTHONPATH=$root/.cache/lsp-py run pygls "$py" "$here/pygls_client.py" "$kiln" \
        "$here/sample.py" "$tmp/pygls.log" || true
else
    echo "e2e: pygls not in .cache/lsp-py (scripts/setup.sh): skipped"
fi

if [ "$only" = --hostile-only ]; then
    :
elif [ -d "$root/.cache/lsp-py/pygls" ]; then
    mkdir "$tmp/ws"
    PYTHONPATH=$root/.cache/lsp-py run pygls-tests "$py" "$here/pygls_tests.py" "$kiln" \
        "$tmp/ws" "$tmp/pygls-tests.log" || true
fi

run hostile "$py" "$here/../hostile.py" "$kiln" || true
exit $status
