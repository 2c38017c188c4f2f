#!/bin/sh
# `kiln` holds the model commands and maps none of the front ends' libraries (libcurl, libgit2,
# libmicrohttpd and what they pull in); every other command, help and unknown commands run
# kiln-full beside it, in the same process. Usage: slim.sh KILN
set -u
kiln=$1
fail() {
    echo "slim.sh: $*" >&2
    exit 1
}
libs=$(LD_TRACE_LOADED_OBJECTS=1 "$kiln") || fail "$kiln: the loader cannot list its libraries"
for lib in libcurl libgit2 libmicrohttpd libssl libgnutls; do
    case $libs in
    *"$lib"*) fail "$kiln maps $lib:
$libs" ;;
    esac
done
"$kiln" run --help >/dev/null || fail "kiln run --help failed"
# The first command kiln-full adds (grammar, sandbox, solve, serve, ... as built) answers --help.
cmd=$("$kiln" --help | awk '/^  [a-z]/ && $1 !~ /^(run|tokenize|detokenize|bench)$/ {print $1; exit}')
[ -n "$cmd" ] || fail "kiln --help lists no command beyond the model commands"
out=$("$kiln" "$cmd" --help) || fail "kiln $cmd --help failed (kiln-full beside $kiln?)"
case $out in
"usage: kiln $cmd"*) ;;
*) fail "kiln $cmd --help printed: $out" ;;
esac
"$kiln" no-such-command 2>/dev/null
rc=$?
[ "$rc" -eq 2 ] || fail "an unknown command exits $rc, not 2"
# Without kiln-full beside it, a front-end command is a named error, not a crash.
tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
cp "$kiln" "$tmp/kiln"
err=$("$tmp/kiln" "$cmd" --help 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 2 ] || fail "without kiln-full, kiln $cmd exits $rc, not 2"
case $err in
*"kiln-full: No such file"*) ;;
*) fail "without kiln-full, kiln $cmd printed: $err" ;;
esac
echo "slim.sh: ok"
