#!/usr/bin/env bash
# Three `kiln serve` replicas behind Debian's nginx on loopback, with deploy/nginx-kiln.conf (its
# ports rewritten to free ones): 32 clients (tests/deploy/lb_client.py) for 3 minutes against
# nginx, replica 2 killed (SIGKILL) a third of the way in and started again at half time. Every
# non-streaming request must succeed or get a 5xx; no answer may belong to another request or
# be cut short without an error (a stream cut by the kill ends without [DONE] on a closed
# connection, and is counted as cut). Before that, the same clients run against replica 1 alone for
# a third of the time, for the throughput of 3 replicas against 1 (on a 2-core machine the
# replicas share the same cores, so it cannot scale there: the point is that it does not
# collapse and that the work is shared). Prints the counts, the retries nginx made (its access
# log's upstream addresses), and each replica's share from its own /metrics and from nginx's log.
# Usage: tests/deploy/lb-test.sh [--short] [KILN]   (--short: 20 s instead of 3 min)
# Exits 77 (skipped) when KILN has no `serve` command, or without nginx or the default model.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=180
if [ "${1:-}" = --short ]; then
    seconds=20
    shift
fi
kiln=${1:-$root/build/release/cli/kiln}
clients=${LB_CLIENTS:-32}
py=/usr/bin/python3
nginx=$(command -v nginx || echo /usr/sbin/nginx)

if ! "$kiln" --help 2>/dev/null | grep -q '^  serve '; then
    echo "skipped: $kiln has no serve command (kiln serve is not merged yet)"
    exit 77
fi
if [ ! -x "$nginx" ]; then
    echo "skipped: no nginx (scripts/setup.sh installs it)"
    exit 77
fi
model=${KILN_MODEL:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$model" ]; then
    echo "skipped: no model at $model"
    exit 77
fi

tmp=$(mktemp -d /tmp/kiln-lb.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    if [ -f "$tmp/nginx.pid" ]; then
        kill -QUIT "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

read -r p_lb p1 p2 p3 < <("$py" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
ports=("$p1" "$p2" "$p3")

# The committed configuration with this run's ports, inside a main file with its own paths.
sed -e "s/127\.0\.0\.1:8081/127.0.0.1:$p1/; s/127\.0\.0\.1:8082/127.0.0.1:$p2/" \
    -e "s/127\.0\.0\.1:8083/127.0.0.1:$p3/; s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$p_lb;/" \
    "$root/deploy/nginx-kiln.conf" >"$tmp/kiln.conf"
cat >"$tmp/nginx.conf" <<EOF
pid $tmp/nginx.pid;
error_log $tmp/error.log;
worker_processes 1;
events { worker_connections 1024; }
http {
    log_format lb '\$status "\$upstream_addr" "\$upstream_status" \$request_time';
    access_log $tmp/access.log lb;
    client_body_temp_path $tmp;
    proxy_temp_path $tmp;
    fastcgi_temp_path $tmp;
    uwsgi_temp_path $tmp;
    scgi_temp_path $tmp;
    include $tmp/kiln.conf;
}
EOF

start_replica() { # index (0-based)
    local i=$1
    "$kiln" serve -m "$model" --port "${ports[$i]}" --parallel 4 --ctx 512 -t 1 --no-sandbox \
        --queue 256 --grace-ms 2000 2>>"$tmp/replica$i.log" &
    pids[i]=$!
}
wait_ready() { # index
    local i=$1 n=0
    until curl -sf "http://127.0.0.1:${ports[$i]}/health" >/dev/null; do
        n=$((n + 1))
        if [ $n -gt 600 ] || ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "replica $i did not become ready:" >&2
            tail -n 20 "$tmp/replica$i.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}
metric_sum() { # port: answered /v1/completions, /tokenize and /detokenize requests
    curl -sf "http://127.0.0.1:$1/metrics" |
        awk '/^kiln_requests_total\{/ && /route="(\/v1\/completions|\/tokenize|\/detokenize)"/ { s += $2 } END { print s + 0 }'
}

for i in 0 1 2; do
    start_replica "$i"
done
for i in 0 1 2; do
    wait_ready "$i"
done
"$nginx" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf"

# 1. One replica alone, for the reference throughput.
one_s=$((seconds / 3))
echo "== $clients clients, ${one_s} s, replica 1 alone"
"$py" "$here/lb_client.py" --port "$p1" --seconds "$one_s" --clients "$clients" >"$tmp/one.json"
cat "$tmp/one.json"
before=()
for i in 0 1 2; do
    before[i]=$(metric_sum "${ports[$i]}")
done

# 2. Three replicas behind nginx; replica 2 killed at a third and restarted at half time.
echo "== $clients clients, ${seconds} s, 3 replicas behind nginx (replica 2 killed at $((seconds / 3)) s, restarted at $((seconds / 2)) s)"
: >"$tmp/access.log"
"$py" "$here/lb_client.py" --port "$p_lb" --seconds "$seconds" --clients "$clients" \
    --first-uid 1000000 --cuts-allowed >"$tmp/three.json" &
load=$!
sleep $((seconds / 3))
kill -KILL "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
echo "replica 2 killed"
sleep $((seconds / 2 - seconds / 3))
start_replica 1
wait_ready 1
echo "replica 2 restarted and ready"
before[1]=0 # a new process: its counters start again
wait "$load"
cat "$tmp/three.json"

# 3. Figures.
"$py" - "$tmp/one.json" "$tmp/three.json" "$tmp/access.log" "${ports[@]}" \
    "${before[@]}" "$(metric_sum "$p1")" "$(metric_sum "$p2")" "$(metric_sum "$p3")" <<'EOF'
import json, sys
one, three = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
lines = open(sys.argv[3]).read().splitlines()
ports = sys.argv[4:7]
before = [int(x) for x in sys.argv[7:10]]
after = [int(x) for x in sys.argv[10:13]]
retried = sum(1 for l in lines if ", " in l.split('"')[1])
by_status = {}
final = {p: 0 for p in ports}
for l in lines:
    by_status[l.split()[0]] = by_status.get(l.split()[0], 0) + 1
    last = l.split('"')[1].split(", ")[-1]
    port = last.rsplit(":", 1)[-1]
    if port in final:
        final[port] += 1
print("nginx: %d requests, by status %s, %d retried on another replica" % (len(lines), dict(sorted(by_status.items())), retried))
share = [a - b for a, b in zip(after, before)]
total = sum(share) or 1
print("per-replica share from /metrics (replica 2 since its restart): " +
      ", ".join("%d: %d (%.0f%%)" % (i + 1, s, 100.0 * s / total) for i, s in enumerate(share)))
total = sum(final.values()) or 1
print("per-replica share from nginx's log (answering replica): " +
      ", ".join("%d: %d (%.0f%%)" % (i + 1, final[p], 100.0 * final[p] / total) for i, p in enumerate(ports)))
ratio = three["ok_per_s"] / one["ok_per_s"] if one["ok_per_s"] else 0.0
print("throughput: 1 replica %.2f ok/s, 3 replicas behind nginx %.2f ok/s (ratio %.2f; one "
      "replica down for a sixth of the run; the replicas share this machine's cores)"
      % (one["ok_per_s"], three["ok_per_s"], ratio))
bad = one["failures"] + three["failures"]
if bad:
    print("FAILED: %d requests failed: %s" % (bad, (one["examples"] + three["examples"])[:10]))
    sys.exit(1)
if three["ok"] == 0 or min(share) == 0:
    print("FAILED: no work done, or a replica took none")
    sys.exit(1)
print("lb-test: passed")
EOF
