#!/usr/bin/env bash
# End-to-end test of `kiln serve` with real clients: KILN=path/to/kiln VENV=dir e2e.sh [--load S]
# Installs the pinned clients (tests/http/requirements.txt) into VENV once, starts the server on
# a free loopback port, runs tests/http/e2e.py against it (the openai package, curl -N,
# prometheus_client's parser, hostile clients), then sends SIGTERM and requires exit 0 (under
# ASan also: no leak). --load S [C] runs the load test (scripts/load-serve.py) for S seconds with
# C clients (default 64) instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kiln=${KILN:?KILN=path to the kiln binary}
venv=${VENV:-$root/.cache/e2e-venv}
py=${KILN_PYTHON:-python3}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openai, prometheus_client' 2>/dev/null; then
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --only-binary :all: --require-hashes -r "$here/requirements.txt"
fi
log=$(mktemp)
port_file=$(mktemp)
trap 'rm -f "$log" "$port_file"' EXIT
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
queue=16
[ "${1:-}" = --load ] && queue=256
"$kiln" serve --port "$port" --parallel 4 --ctx 512 -t 1 --no-sandbox --queue $queue \
    --body-max 65536 --api-key e2e-key 2>"$log" &
pid=$!
rc=0
if [ "${1:-}" = --load ]; then
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done
    "$venv/bin/python" "$root/scripts/load-serve.py" --port "$port" --key e2e-key \
        --seconds "${2:-20}" --clients "${3:-64}" --pid "$pid" || rc=$?
else
    "$venv/bin/python" "$here/e2e.py" --port "$port" --key e2e-key || rc=$?
fi
kill -TERM "$pid" 2>/dev/null || true
src=0
wait "$pid" || src=$?
if [ $rc -ne 0 ] || [ $src -ne 0 ]; then
    echo "e2e: client exit $rc, server exit $src; server log:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
grep -c ' 200 ' "$log" | sed 's/^/e2e: requests answered 200: /'
echo "e2e: passed"
