#!/usr/bin/env python3
"""Benchmark of `kiln lsp` completion as someone types, side by side with llama.cpp behind
llama-cpp-python's OpenAI-compatible server when it is installed.

On a generated 300-line Python file, with the default model and 2 threads:
  - cold: the first inline completion after opening the file in a fresh server (and the
    server's CPU time for it: with 2 threads, about twice the wall time of an idle machine);
  - warm: a line is typed one character at a time (--edits edits, 60 by default); after each
    didChange an inline completion of one line is requested; p50 and p95 from request to
    response, and the median count of prompt tokens kiln decoded again after the edit;
  - cancellation: before each of --cancels completions (scope "function", 256 tokens) a line
    40 lines above the cursor is edited, so that about 400 prompt tokens must be
    decoded again (some 0.4 s even on an idle machine); the completion is canceled
    --cancel-after seconds after it was sent, while it decodes; time from $/cancelRequest to
    the -32800 answer (p50 and max);
  - the server's CPU time per warm completion (user + system, all its threads), which the
    other processes of a shared machine move far less than the wall time;
  - memory: the server's RSS after the warm phase and after --memory-edits more edits
    (a completion every 25 of them); the ratio should stay within 1.1.
llama.cpp answers the same completions after the same edits through POST /v1/completions
(prompt: the same window of text before the cursor that kiln uses, suffix: the text after it,
temperature 0, the same token cap, stop at a newline); its server keeps the previous prompt's
cache and reuses the longest common prefix, as kiln does.

Usage: python3 scripts/bench-lsp.py [--kiln build/release/cli/kiln] [--model PATH]
       [--threads 2] [--edits 60] [--memory-edits 1000] [--max-tokens 24]
       [--llama-python PYTHON]   (a Python with llama-cpp-python[server]; default: this one)
Timings on a shared machine are noisy: both runtimes run in the same invocation.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lsp"))
from lspclient import Client  # noqa: E402

DEFAULT_MODEL = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
URI = "file:///bench/module.py"
TYPED = "    total = sum(value * scale for value in values if value > limit)"
WINDOW = 3072  # solve_complete's default n_prefix_bytes_max


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_file(n_lines=300):
    """A 300-line module of small functions; returns (lines, row of the line being typed)."""
    lines = ['"""Helpers for a small inventory report."""', "import math", ""]
    i = 0
    while len(lines) < n_lines - 4:
        lines += [
            "",
            "def helper_%d(values, scale=%d, limit=%d):" % (i, i % 7 + 1, i % 5),
            '    """Return the scaled sum of the values above limit (variant %d)."""' % i,
            "    result = 0",
            "    for value in values:",
            "        if value > limit:",
            "            result += value * scale",
            "    return result",
        ]
        i += 1
    mid = (len(lines) // 2) // 8 * 8 + 3
    # The line being typed goes into the middle function, after its docstring.
    lines.insert(mid + 3, "")
    lines = lines[:n_lines]
    return lines, mid + 3


def window_start(prefix):
    """The same window as solve_complete: a line start at most WINDOW bytes back, in steps."""
    data = prefix.encode()
    if len(data) <= WINDOW:
        return prefix
    step = WINDOW // 4
    start = ((len(data) - WINDOW) // step + 1) * step
    while start < len(data) and data[start - 1:start] != b"\n":
        start += 1
    return data[start:].decode(errors="ignore")


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(q * (len(xs) - 1)))))
    return xs[k]


def cpu_ms(pid):
    """CPU time (user + system) the process has used, ms: unlike wall time, barely moved by
    other processes on a shared machine."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------------------
# kiln
# ------------------------------------------------------------------------------------------

def inline(c, row, col):
    t0 = time.perf_counter()
    r = c.call("textDocument/inlineCompletion", {
        "textDocument": {"uri": URI}, "position": {"line": row, "character": col},
        "context": {"triggerKind": 2}}, 120)
    dt = time.perf_counter() - t0
    if "error" in r:
        raise RuntimeError("kiln: %s" % r["error"])
    return dt, r["result"]


def type_char(c, version, row, col, ch):
    c.notify("textDocument/didChange", {
        "textDocument": {"uri": URI, "version": version},
        "contentChanges": [{"range": {"start": {"line": row, "character": col},
                                      "end": {"line": row, "character": col}}, "text": ch}]})


def bench_kiln(args, lines, row):
    argv = [args.kiln, "lsp", "-m", args.model, "-t", str(args.threads),
            "--max-tokens", str(args.max_tokens)]
    c = Client(argv)
    c.initialize()
    text = "\n".join(lines) + "\n"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python",
                                                       "version": 1, "text": text}})
    cpu0 = cpu_ms(c.proc.pid)
    cold, _ = inline(c, row, 0)
    out = {"cold_ms": cold * 1e3, "cold_cpu_ms": cpu_ms(c.proc.pid) - cpu0}
    warm, decoded, prompt, cpu = [], [], [], []
    version, col = 1, 0
    typed = (TYPED * 4)[:args.edits]
    for ch in typed:
        version += 1
        type_char(c, version, row, col, ch)
        col += 1
        cpu0 = cpu_ms(c.proc.pid)
        dt, res = inline(c, row, col)
        cpu.append(cpu_ms(c.proc.pid) - cpu0)
        warm.append(dt * 1e3)
        decoded.append(res["kiln"]["decodedTokens"])
        prompt.append(res["kiln"]["promptTokens"])
    out.update(warm_p50=pct(warm, 0.5), warm_p95=pct(warm, 0.95),
               decoded_median=statistics.median(decoded), prompt_median=statistics.median(prompt),
               n_warm=len(warm), cpu_median=statistics.median(cpu))
    rss_warm = rss_kib(c.proc.pid)

    # Cancellation during decoding: an edit near the start of the window makes the next
    # completion decode most of its prompt again, and it is canceled while it does.
    c.notify("workspace/didChangeConfiguration",
             {"settings": {"kiln": {"maxTokens": 256, "scope": "function"}}})
    edit_row = max(0, row - 40)
    lat, finished = [], 0
    for i in range(args.cancels + args.cancels % 2):
        version += 1
        c.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": {"line": edit_row, "character": 0},
                                          "end": {"line": edit_row, "character": i % 2}},
                                "text": "#" if i % 2 == 0 else ""}]})
        rid = c.request("textDocument/completion", {"textDocument": {"uri": URI},
                                                    "position": {"line": row, "character": col}})
        time.sleep(args.cancel_after)
        t0 = time.perf_counter()
        c.notify("$/cancelRequest", {"id": rid})
        r = c.wait(rid, 120)
        if "error" in r and r["error"]["code"] == -32800:
            lat.append((c.arrival[rid] - t0) * 1e3)
        else:
            finished += 1
    out.update(cancel_p50=pct(lat, 0.5), cancel_max=max(lat) if lat else float("nan"),
               cancel_n=len(lat), cancel_finished_first=finished,
               cancel_tries=args.cancels + args.cancels % 2)
    c.notify("workspace/didChangeConfiguration",
             {"settings": {"kiln": {"maxTokens": args.max_tokens, "scope": "line"}}})

    # Memory over many edits: type and delete, a completion every 25 edits.
    for i in range(args.memory_edits):
        version += 1
        if i % 2 == 0:
            type_char(c, version, row, col, "x")
            col += 1
        else:
            c.notify("textDocument/didChange", {
                "textDocument": {"uri": URI, "version": version},
                "contentChanges": [{"range": {"start": {"line": row, "character": col - 1},
                                              "end": {"line": row, "character": col}},
                                    "text": ""}]})
            col -= 1
        if i % 25 == 24:
            inline(c, row, col)
    rss_end = rss_kib(c.proc.pid)
    out.update(rss_warm_mib=rss_warm / 1024, rss_end_mib=rss_end / 1024,
               rss_ratio=rss_end / rss_warm if rss_warm else float("nan"))
    c.close()
    return out


# ------------------------------------------------------------------------------------------
# llama.cpp through llama-cpp-python's server
# ------------------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(port, body, timeout=600):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/completions" % port,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def bench_llama(args, lines, row):
    py = args.llama_python or sys.executable
    probe = subprocess.run([py, "-c", "import llama_cpp.server"], capture_output=True)
    if probe.returncode != 0:
        log("bench-lsp: llama-cpp-python[server] is not importable by %s: kiln alone" % py)
        return None
    port = free_port()
    srv = subprocess.Popen([py, "-m", "llama_cpp.server", "--model", args.model,
                            "--n_threads", str(args.threads), "--n_threads_batch",
                            str(args.threads), "--n_ctx", "2048", "--port", str(port),
                            "--host", "127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % port, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or srv.poll() is not None:
                    log("bench-lsp: the llama.cpp server did not start")
                    return None
                time.sleep(0.5)
        text = "\n".join(lines) + "\n"
        use_suffix = True

        def complete(line_text):
            nonlocal use_suffix
            doc = lines[:row] + [line_text] + lines[row + 1:]
            before = "\n".join(doc[:row]) + "\n" + line_text
            after = text[len("\n".join(lines[:row]) + "\n" + lines[row]):]
            body = {"prompt": window_start(before), "max_tokens": args.max_tokens,
                    "temperature": 0, "stop": ["\n"]}
            if use_suffix:
                body["suffix"] = after
            t0 = time.perf_counter()
            try:
                r = post(port, body)
            except urllib.error.HTTPError:
                if not use_suffix:
                    raise
                use_suffix = False  # a model without FIM tokens: prefix only
                return complete(line_text)
            return (time.perf_counter() - t0) * 1e3, r

        cold, _ = complete("")
        warm = []
        typed = (TYPED * 4)[:args.edits]
        for k in range(1, len(typed) + 1):
            dt, _ = complete(typed[:k])
            warm.append(dt)
        return {"cold_ms": cold, "warm_p50": pct(warm, 0.5), "warm_p95": pct(warm, 0.95),
                "n_warm": len(warm), "suffix": use_suffix}
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(REPO, "build", "release", "cli", "kiln"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--edits", type=int, default=60)
    ap.add_argument("--cancels", type=int, default=10)
    ap.add_argument("--cancel-after", type=float, default=0.1)
    ap.add_argument("--memory-edits", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--llama-python", default=None)
    ap.add_argument("--no-llama", action="store_true")
    args = ap.parse_args()
    lines, row = make_file()
    log("bench-lsp: kiln (%d edits)..." % args.edits)
    k = bench_kiln(args, lines, row)
    ll = None
    if not args.no_llama:
        try:
            ll = bench_llama(args, lines, row)
        except (OSError, RuntimeError, ValueError) as e:  # a timeout on a loaded machine
            log("bench-lsp: llama.cpp's run failed (%s): kiln alone" % e)
    print("bench-lsp: 300-line Python file, %d threads, %d one-character edits, line scope, "
          "%d tokens at most; machine shared, medians" % (args.threads, k["n_warm"],
                                                          args.max_tokens))
    print("%-44s %12s %12s %8s" % ("figure", "kiln", "llama.cpp", "ratio"))

    def row_of(name, kv, lv, fmt="%.1f"):
        ks = fmt % kv
        ls = (fmt % lv) if lv is not None else "-"
        ratio = ("%.2f" % (kv / lv)) if lv else "-"
        print("%-44s %12s %12s %8s" % (name, ks, ls, ratio))

    row_of("cold first completion, ms", k["cold_ms"], ll and ll["cold_ms"])
    row_of("server CPU for the cold completion, ms", k["cold_cpu_ms"], None)
    row_of("warm completion after an edit, p50 ms", k["warm_p50"], ll and ll["warm_p50"])
    row_of("warm completion after an edit, p95 ms", k["warm_p95"], ll and ll["warm_p95"])
    row_of("server CPU per warm completion, median ms", k["cpu_median"], None)
    row_of("prompt tokens decoded again, median", k["decoded_median"], None, "%.0f")
    row_of("prompt tokens, median", k["prompt_median"], None, "%.0f")
    row_of("cancel to -32800, p50 ms (%d of %d)" % (k["cancel_n"], k["cancel_tries"]),
           k["cancel_p50"], None)
    row_of("cancel to -32800, max ms", k["cancel_max"], None)
    row_of("RSS after warm phase, MiB", k["rss_warm_mib"], None)
    row_of("RSS after %d more edits, MiB" % args.memory_edits, k["rss_end_mib"], None)
    row_of("RSS ratio (flat: <= 1.10)", k["rss_ratio"], None, "%.3f")
    if ll is not None:
        print("llama.cpp: llama-cpp-python server, /v1/completions, %s" %
              ("prompt + suffix" if ll["suffix"] else "prompt only (no FIM tokens)"))


if __name__ == "__main__":
    main()
