#!/usr/bin/env python3
"""Benchmark of `kiln serve`: what continuous batching buys, measured in one run.

    scripts/bench-serve.py [--kiln build/release/cli/kiln] [--model PATH] [--threads 2]
                           [--reps 3] [--tokens 64] [--quick]

Starts its own server (--parallel 8) on a free loopback port and prints, as medians over
--reps rounds with min-max, and ratios against references measured in the same run:
  1. aggregate generated tok/s of 8 concurrent streaming clients against 1 client alone, and
     against llama-cpp-python's OpenAI-compatible server (`python3 -m llama_cpp.server`, same
     model, threads and requests) when llama-cpp-python[server] is installed (else kiln's
     ratios alone, and it says so);
  2. time to first token of a 64-token prompt while 7 other streams run, against an idle
     server;
  3. server overhead of a 1-token completion: request-to-answer time minus the model's own
     time (the answer's timings.model_ms);
  4. a 500-token system prompt sent by 8 clients at once: prompt tokens decoded against prompt
     tokens received (/metrics);
  5. the engine alone (`kiln bench -b 8`, no server, same model and threads): 8 sequences
     decoding together against one, the ceiling of figure 1 that the batched step sets.
Generation ignores end-of-generation tokens (ignore_eos) so every request makes --tokens tokens.
Python's standard library only. On a shared machine the absolute figures are noisy; the ratios
come from interleaved measurements.
"""
import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(port, path, deadline_s=300):
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"bench-serve: the server on port {port} never became ready")


def stream(port, body, path="/v1/completions", on_first=None):
    """One streaming request; returns (completion tokens, seconds to first token, total)."""
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = dict(body, stream=True, stream_options={"include_usage": True})
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{path}: status {r.status}: {r.read()[:200]!r}")
    ttft = None
    n = 0
    n_usage = None
    buf = b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                continue
            obj = json.loads(ev[6:])
            if obj.get("usage"):
                n_usage = obj["usage"]["completion_tokens"]
            for ch in obj.get("choices", []):
                if ch.get("text"):
                    n += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                        if on_first:
                            on_first()
    c.close()
    return (n_usage if n_usage is not None else n), ttft, time.perf_counter() - t0


def aggregate(port, n_clients, tokens, model_name, seed):
    """Aggregate streamed chunks/s of n_clients at once (one chunk is one token here)."""
    rng = random.Random(seed)
    prompts = [f"# Task {rng.randint(0, 10**6)}: write a function that sorts a list\ndef sort_"
               for _ in range(n_clients)]
    out = [0] * n_clients
    errs = []

    def run(i):
        try:
            body = {"model": model_name, "prompt": prompts[i], "max_tokens": tokens,
                    "temperature": 0.8, "seed": seed + i, "ignore_eos": True}
            out[i] = stream(port, body)[0]
        except Exception as e:  # reported below
            errs.append(e)

    t0 = time.perf_counter()
    th = [threading.Thread(target=run, args=(i,)) for i in range(n_clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    dt = time.perf_counter() - t0
    if errs:
        raise errs[0]
    return sum(out) / dt


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, unit, scale=1.0):
    m, lo, hi = med([x * scale for x in xs])
    return f"{m:8.2f} {unit}  [{lo:.2f}, {hi:.2f}]"


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(REPO, "build/release/cli/kiln"))
    ap.add_argument("--model", default=os.path.join(REPO, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="1 rep, 24 tokens")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.tokens = 1, 24
    port = free_port()
    srv = subprocess.Popen([a.kiln, "serve", "-m", a.model, "--port", str(port), "--threads",
                            str(a.threads), "--parallel", "8", "--ctx", "1024", "--no-sandbox",
                            "--alias", "bench"], stderr=subprocess.DEVNULL)
    llama = None
    llama_port = None
    try:
        import llama_cpp.server  # noqa: F401  (only to know whether it is there)
        llama_port = free_port()
        llama = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", a.model,
                                  "--n_threads", str(a.threads), "--port", str(llama_port),
                                  "--n_ctx", "2048"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    except ImportError:
        pass
    try:
        wait_ready(port, "/health")
        if llama:
            wait_ready(llama_port, "/v1/models")
        one, eight, ref = [], [], []
        ttft_idle, ttft_busy, overhead = [], [], []
        for r in range(a.reps):
            one.append(aggregate(port, 1, a.tokens, "bench", 100 * r))
            eight.append(aggregate(port, 8, a.tokens, "bench", 100 * r + 10))
            if llama:
                ref.append(aggregate(llama_port, 8, a.tokens, a.model, 100 * r + 10))
            # TTFT of a 64-token prompt (token ids, a fresh first token each time: no cache).
            rng = random.Random(r)
            prompt = lambda: [rng.randint(1000, 40000) for _ in range(64)]  # noqa: E731
            ttft_idle.append(stream(port, {"prompt": prompt(), "max_tokens": 2,
                                           "temperature": 0})[1])
            started = threading.Barrier(8)
            bg = []
            for i in range(7):
                body = {"prompt": f"Story {r} {i}: once upon a time", "max_tokens": 4 * a.tokens,
                        "ignore_eos": True, "temperature": 0.8, "seed": i}
                t = threading.Thread(target=stream,
                                     args=(port, body, "/v1/completions", started.wait))
                t.start()
                bg.append(t)
            started.wait()
            time.sleep(0.2)
            ttft_busy.append(stream(port, {"prompt": prompt(), "max_tokens": 2,
                                           "temperature": 0})[1])
            for t in bg:
                t.join()
            # Overhead of a 1-token completion.
            for k in range(5):
                t0 = time.perf_counter()
                status, data = post(port, "/completion", {"prompt": f"def f{r}_{k}(x):",
                                                          "n_predict": 1})
                wall = time.perf_counter() - t0
                model_ms = json.loads(data)["timings"]["model_ms"]
                overhead.append(wall * 1000 - model_ms)
        # Prefix cache: 500 shared tokens + 8 different tails, 8 clients at once.
        rng = random.Random(7)
        system = [rng.randint(1000, 40000) for _ in range(500)]
        got0, dec0 = metric(port, "kiln_prompt_tokens_total"), metric(
            port, "kiln_prompt_tokens_decoded_total")
        th = [threading.Thread(target=post, args=(port, "/v1/completions",
                                                  {"prompt": system + [2000 + i, 3000 + i],
                                                   "max_tokens": 4}))
              for i in range(8)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        got = metric(port, "kiln_prompt_tokens_total") - got0
        dec = metric(port, "kiln_prompt_tokens_decoded_total") - dec0
        engine = json.loads(subprocess.run(
            [a.kiln, "bench", "-m", a.model, "-t", str(a.threads), "-b", "8", "-p", "20", "-n",
             str(a.tokens), "-r", str(a.reps), "--json"], check=True, capture_output=True,
            text=True).stdout)

        print(f"bench-serve: {os.path.basename(a.model)}, {a.threads} threads, --parallel 8, "
              f"{a.tokens} tokens a request, {a.reps} reps (median [min, max]); shared machine")
        print(f"  1 client            {fmt(one, 'tok/s')}")
        print(f"  8 clients           {fmt(eight, 'tok/s')}   "
              f"{statistics.median(eight) / statistics.median(one):.2f}x one client")
        if llama:
            print(f"  llama-cpp-python 8  {fmt(ref, 'tok/s')}   kiln "
                  f"{statistics.median(eight) / statistics.median(ref):.2f}x llama-cpp-python")
        else:
            print("  llama-cpp-python[server] is not installed: kiln's own ratios only")
        print(f"  TTFT 64-tok idle    {fmt(ttft_idle, 'ms', 1000)}")
        print(f"  TTFT 64-tok 7 busy  {fmt(ttft_busy, 'ms', 1000)}   "
              f"{statistics.median(ttft_busy) / statistics.median(ttft_idle):.2f}x idle")
        print(f"  1-token overhead    {fmt(overhead, 'ms')}   (request-to-answer minus model time)")
        print(f"  shared 500-token prefix, 8 clients: {dec:.0f} prompt tokens decoded of "
              f"{got:.0f} received ({dec / got:.1%})")
        print(f"  engine alone (kiln bench): 8 sequences {engine['batch_tok_s']:.1f} tok/s, one "
              f"{engine['tg_tok_s']:.1f} tok/s, {engine['batch_tok_s'] / engine['tg_tok_s']:.2f}x")
    finally:
        srv.terminate()
        srv.wait()
        if llama:
            llama.terminate()
            llama.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
