#!/usr/bin/env python3
"""The remote backend's figures: `kiln solve` with greedy decoding, locally and through
`--backend` (another `kiln serve` on loopback, and llama-cpp-python's OpenAI-compatible server
on the same model file when it is installed), on the tasks of a JSONL file.

For each task and each way it prints one line, then a summary per way:
  - agreement: the chosen candidate's code equals the local one's;
  - extra requests per candidate: the grammar's cuts, each continued by a new request from the
    valid prefix (the result's "requests_extra" over its candidates);
  - ended candidates that do not parse (must be 0, as with the local engine);
  - seconds per task (the median and mean of each `kiln solve` process's wall time).
A control way, "local-KERNELS" (--control KERNELS; the default, auto, takes avx2 where kiln
picks avx512 or amx by itself, else generic; "none" leaves it out), decodes locally again with another of kiln's own kernel variants: the same model
and arithmetic up to the order of its sums. Its agreement is what any engine whose sums are not
bit-identical to kiln's can expect (llama.cpp's differ the same way: scripts/compare-logits.py).
Usage: scripts/bench-remote.py [--kiln KILN] [--model GGUF] [--tasks FILE] [--limit N]
                               [--no-serve] [--no-llama] [--control KERNELS] [--json OUT]
Defaults: build/release/cli/kiln, the default model, eval/bench/kiln-python.jsonl, all tasks.
Options of `kiln solve`: -n 1 --temp 0 --no-repair (greedy; one candidate, so the comparison is of
the write stage, the only stage that runs remotely). Every server is started on a free port and
stopped at the end. The machine may be shared: compare the ways with each other, in one run.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLVE_ARGS = ["-n", "1", "--temp", "0", "--no-repair", "--json", "-t", "1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout_s):
    """Polls url until it answers 200; False when proc died or timeout_s passed."""
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_kiln_serve(kiln, model, log, extra=()):
    """A `kiln serve` on a port the kernel picks (--port 0, read from its first log line), with
    extra options; returns (process, base URL) or (None, None)."""
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([kiln, "serve", "-m", model, "--port", "0", "-t", "1",
                             "--parallel", "1", "--no-sandbox"] + list(extra),
                            stdout=log, stderr=err)
    base = None
    t_end = time.monotonic() + 120
    while base is None and time.monotonic() < t_end and proc.poll() is None:
        err.seek(0)
        m = re.search(r"listening on (http://[0-9.]+:[0-9]+)", err.read())
        base = m.group(1) if m else None
        time.sleep(0.1)
    if base is None or not wait_ready(base + "/health", proc, 300):
        stop(proc)
        return None, None
    return proc, base


def start_llama_server(model, log, python=sys.executable):
    """llama-cpp-python's server on a free port; (None, None) when it is not installed."""
    try:
        subprocess.run([python, "-c", "import llama_cpp.server"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, OSError):
        return None, None
    port = free_port()
    proc = subprocess.Popen([python, "-m", "llama_cpp.server", "--model", model, "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--n_threads", "1"], stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % port
    if not wait_ready(base + "/v1/models", proc, 300):
        stop(proc)
        return None, None
    return proc, base


def solve(kiln, model, task, backend=None, extra=(), env=None):
    """Runs `kiln solve` on one task (a dict); returns (exit code, result or None, seconds,
    stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(task, f)
        path = f.name
    cmd = [kiln, "solve", "--task", path, "-m", model] + SOLVE_ARGS + list(extra)
    if backend:
        cmd += ["--backend", backend]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    dt = time.monotonic() - t0
    os.unlink(path)
    res = None
    if p.returncode in (0, 1):
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = None
    return p.returncode, res, dt, p.stderr


def control_kernels(kiln, model, asked):
    """The control's kernel variant: asked, or with "auto" one kiln does not pick by itself here
    (avx2 under avx512 or amx, generic otherwise); None when this CPU lacks it (kiln refuses)."""
    if asked == "none":
        return None
    if asked == "auto":
        p = subprocess.run([kiln, "run", "-v", "-m", model, "-p", "x", "-n", "1"],
                           capture_output=True, text=True, timeout=300)
        m = re.search(r"kernels cpu: (\w+)", p.stderr)
        asked = "avx2" if m and m.group(1) in ("avx512", "amx") else "generic"
    p = subprocess.run([kiln, "run", "-m", model, "--kernels", asked, "-p", "x", "-n", "1"],
                       capture_output=True, text=True, timeout=300)
    return asked if p.returncode == 0 else None


def chosen_code(res):
    if not res or res.get("chosen", -1) < 0:
        return None
    return res["candidates"][res["chosen"]]["code"]


def load_tasks(path, limit):
    tasks = []
    with open(path) as f:
        for line in f:
            if line.strip():
                tasks.append(json.loads(line))
    return tasks[:limit] if limit else tasks


def compare(kiln, model, tasks, ways, out=sys.stdout):
    """ways: [(name, base URL or None)] or [(name, base URL or None, extra options of kiln
    solve)], the first being the local reference. Returns the summary dict and the rows."""
    ways = [w if len(w) == 3 else (w[0], w[1], ()) for w in ways]
    rows = {name: [] for name, _, _ in ways}
    for i, task in enumerate(tasks):
        ref = None
        for n_way, (name, base, extra) in enumerate(ways):
            rc, res, dt, err = solve(kiln, model, task, base, extra)
            code = chosen_code(res)
            if n_way == 0:
                ref = code
            cands = res["candidates"] if res else []
            row = {
                "task": task.get("task_id", str(i)),
                "rc": rc,
                "seconds": dt,
                "agree": code is not None and code == ref,
                "candidates": len(cands),
                "requests": res.get("requests", 0) if res else 0,
                "requests_extra": res.get("requests_extra", 0) if res else 0,
                "ended_unparsed": sum(1 for c in cands if c["ended"] and not c["parses"]),
                "error": err.strip().splitlines()[-1] if rc not in (0, 1) and err.strip() else "",
            }
            rows[name].append(row)
            print("%-14s %-12s rc=%d %6.2fs agree=%-5s requests=%d extra=%d %s" %
                  (row["task"], name, rc, dt, row["agree"], row["requests"],
                   row["requests_extra"], row["error"]), file=out, flush=True)
    summary = {}
    for name, _, _ in ways:
        r = rows[name]
        secs = [x["seconds"] for x in r]
        n_cand = sum(x["candidates"] for x in r)
        summary[name] = {
            "tasks": len(r),
            "failed": sum(1 for x in r if x["rc"] not in (0, 1)),
            "agree": sum(1 for x in r if x["agree"]),
            "agree_rate": sum(1 for x in r if x["agree"]) / len(r) if r else 0.0,
            "extra_requests_per_candidate":
                sum(x["requests_extra"] for x in r) / n_cand if n_cand else 0.0,
            "ended_unparsed": sum(x["ended_unparsed"] for x in r),
            "seconds_median": statistics.median(secs) if secs else 0.0,
            "seconds_mean": statistics.mean(secs) if secs else 0.0,
        }
    return summary, rows


def report(summary, rows, path):
    """Prints the summary; writes it and the rows to path (when given) as JSON."""
    print(json.dumps(summary, indent=1))
    if path:
        with open(path, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build/release/cli/kiln"))
    ap.add_argument("--model", default=os.path.join(ROOT,
                                                    "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tasks", default=os.path.join(ROOT, "eval/bench/kiln-python.jsonl"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--no-serve", action="store_true", help="leave out the kiln serve way")
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--control", default="auto",
                    help="kernel variant of the local control way (auto; none: no control)")
    ap.add_argument("--json", help="write the summary and rows here")
    a = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tasks = load_tasks(a.tasks, a.limit)
    procs = []
    log = open(os.devnull, "w")
    try:
        ways = [("local", None)]
        control = control_kernels(a.kiln, a.model, a.control)
        if control:
            ways.append(("local-" + control, None, ("--kernels", control)))
        elif a.control != "none":
            print("bench-remote: this CPU lacks the %s kernels: no control way" % a.control,
                  file=sys.stderr)
        if not a.no_serve:
            proc, base = start_kiln_serve(a.kiln, a.model, log)
            if not proc:
                print("bench-remote: kiln serve did not start", file=sys.stderr)
                return 2
            procs.append(proc)
            ways.append(("kiln-serve", base))
        if not a.no_llama:
            proc, base = start_llama_server(a.model, log)
            if proc:
                procs.append(proc)
                ways.append(("llama-cpp", base))
            else:
                print("bench-remote: llama-cpp-python's server is not installed: skipped",
                      file=sys.stderr)
        summary, rows = compare(a.kiln, a.model, tasks, ways)
    finally:
        for p in procs:
            stop(p)
    report(summary, rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
