#!/usr/bin/env python3
"""Benchmark of `kiln serve`: what continuous batching buys, measured in one run.

    scripts/bench-serve.py [--kiln build/release/cli/kiln] [--ref OTHER_KILN] [--model PATH]
                           [--threads 2] [--reps 3] [--tokens 64] [--quick]

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
Under figure 1 it says where the 8-client rounds' time went: the queue worker's wall time in
decode steps (with the tokens the compute threads draw as a step ends), after them (stop
strings, events, wake-ups: kiln_sampling_seconds_total) and waiting, and the CPU time of the
server's compute threads, its HTTP threads and this script's own clients. The header gives the
machine's load average at the start and the end (the figures of a shared machine vary with it).
With --ref, a second server runs another kiln binary (e.g. main's, to compare a change) and
every figure but 4 is measured on both, their rounds alternating, with new/ref ratios.
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


def wait_ready(port, path, proc, deadline_s=300):
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        if proc.poll() is not None:
            sys.exit(f"bench-serve: {proc.args[0]} exited with status {proc.returncode}")
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
        # sse-starlette (llama-cpp-python's server) ends its lines with CRLF.
        buf = (buf + chunk).replace(b"\r\n", b"\n")
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


def aggregate(port, n_clients, tokens, model_name, seed, extra=None):
    """Aggregate streamed chunks/s of n_clients at once (one chunk is one token here).

    extra: more request fields (llama-cpp-python's server has no ignore_eos: the end token is
    banned through logit_bias instead, so that both servers write every token asked for)."""
    rng = random.Random(seed)
    prompts = [f"# Task {rng.randint(0, 10**6)}: write a function that sorts a list\ndef sort_"
               for _ in range(n_clients)]
    out = [0] * n_clients
    errs = []

    def run(i):
        try:
            body = {"model": model_name, "prompt": prompts[i], "max_tokens": tokens,
                    "temperature": 0.8, "seed": seed + i, "ignore_eos": True, **(extra or {})}
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
    return None


class Server:
    """A `kiln serve` of one binary on a free port, and its measurements."""

    def __init__(self, kiln, a):
        self.kiln = kiln
        self.port = free_port()
        self.proc = subprocess.Popen(
            [kiln, "serve", "-m", a.model, "--port", str(self.port), "--threads", str(a.threads),
             "--parallel", "8", "--ctx", "1024", "--no-sandbox", "--alias", "bench"],
            stderr=subprocess.DEVNULL)
        self.one, self.eight = [], []
        self.ttft_idle, self.ttft_busy, self.overhead = [], [], []
        self.split = {"wall": 0.0, "steps": 0.0, "n_steps": 0, "sampling": 0.0, "compute": 0.0,
                      "http": 0.0, "clients": 0.0, "tokens": 0.0}
        self.engine = None

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def threads_cpu(self):
        """CPU seconds of the server's threads: (HTTP threads, the others)."""
        http_s = other = 0
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            t = int(fields[11]) + int(fields[12])
            if name.startswith("MHD"):
                http_s += t
            else:
                other += t
        hz = os.sysconf("SC_CLK_TCK")
        return http_s / hz, other / hz

    def eight_clients(self, tokens, seed):
        """Figure 1's 8-client round, with where its time went added to self.split."""
        names = ("kiln_step_seconds_sum", "kiln_sampling_seconds_total",
                 "kiln_step_seconds_count")
        m0 = [metric(self.port, n) for n in names]
        c0 = self.threads_cpu()
        r0 = os.times()
        t0 = time.perf_counter()
        rate = aggregate(self.port, 8, tokens, "bench", seed)
        wall = time.perf_counter() - t0
        self.split["tokens"] += rate * wall
        r1 = os.times()
        c1 = self.threads_cpu()
        m1 = [metric(self.port, n) for n in names]
        sp = self.split
        sp["wall"] += wall
        sp["steps"] += m1[0] - m0[0]
        sp["n_steps"] += m1[2] - m0[2]
        if m1[1] is None:  # a binary from before kiln_sampling_seconds_total
            sp["sampling"] = None
        elif sp["sampling"] is not None:
            sp["sampling"] += m1[1] - m0[1]
        sp["http"] += c1[0] - c0[0]
        sp["compute"] += c1[1] - c0[1]
        sp["clients"] += (r1.user - r0.user) + (r1.system - r0.system)
        return rate

    def round(self, r, tokens):
        port = self.port
        self.one.append(aggregate(port, 1, tokens, "bench", 100 * r))
        self.eight.append(self.eight_clients(tokens, 100 * r + 10))
        # TTFT of a 64-token prompt (token ids, a fresh first token each time: no cache).
        rng = random.Random(r)
        prompt = lambda: [rng.randint(1000, 40000) for _ in range(64)]  # noqa: E731
        self.ttft_idle.append(stream(port, {"prompt": prompt(), "max_tokens": 2,
                                            "temperature": 0})[1])
        started = threading.Barrier(8)
        bg = []
        for i in range(7):
            body = {"prompt": f"Story {r} {i}: once upon a time", "max_tokens": 4 * tokens,
                    "ignore_eos": True, "temperature": 0.8, "seed": i}
            t = threading.Thread(target=stream, args=(port, body, "/v1/completions", started.wait))
            t.start()
            bg.append(t)
        started.wait()
        time.sleep(0.2)
        self.ttft_busy.append(stream(port, {"prompt": prompt(), "max_tokens": 2,
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
            self.overhead.append(wall * 1000 - model_ms)

    def bench_engine(self, a):
        self.engine = json.loads(subprocess.run(
            [self.kiln, "bench", "-m", a.model, "-t", str(a.threads), "-b", "8", "-p", "20", "-n",
             str(a.tokens), "-r", str(a.reps), "--json"], check=True, capture_output=True,
            text=True).stdout)

    def report(self, label):
        ratio = statistics.median(self.eight) / statistics.median(self.one)
        e = self.engine
        e_ratio = e["batch_tok_s"] / e["tg_tok_s"]
        print(f"  {label}1 client            {fmt(self.one, 'tok/s')}")
        print(f"  {label}8 clients           {fmt(self.eight, 'tok/s')}   {ratio:.2f}x one client")
        sp = self.split
        w = sp["wall"]
        if sp["sampling"] is None:
            after = "sampling, events and waiting"
            after += f" {max(0.0, 1 - sp['steps'] / w):.0%}"
        else:
            after = (f"sampling and events {sp['sampling'] / w:.0%} "
                     f"({sp['sampling'] / max(1, sp['n_steps']) * 1e6:.0f} us a step), waiting "
                     f"{max(0.0, 1 - (sp['steps'] + sp['sampling']) / w):.0%}")
        print(f"  {label}  where the 8-client rounds went ({w:.2f} s): worker in decode steps "
              f"{sp['steps'] / w:.0%} ({sp['steps'] / max(1, sp['n_steps']) * 1e3:.1f} ms a step), "
              f"{after}; CPU (of one core): "
              f"compute threads {sp['compute'] / w:.0%}, HTTP threads {sp['http'] / w:.0%}, "
              f"clients {sp['clients'] / w:.0%}; the server's CPU a token "
              f"{(sp['compute'] + sp['http']) / max(1.0, sp['tokens']) * 1e3:.2f} ms")
        print(f"  {label}TTFT 64-tok idle    {fmt(self.ttft_idle, 'ms', 1000)}")
        print(f"  {label}TTFT 64-tok 7 busy  {fmt(self.ttft_busy, 'ms', 1000)}   "
              f"{statistics.median(self.ttft_busy) / statistics.median(self.ttft_idle):.2f}x idle")
        print(f"  {label}1-token overhead    {fmt(self.overhead, 'ms')}   "
              "(request-to-answer minus model time)")
        print(f"  {label}engine alone (kiln bench): 8 sequences {e['batch_tok_s']:.1f} tok/s, one "
              f"{e['tg_tok_s']:.1f} tok/s, {e_ratio:.2f}x; the server's 8 clients reach "
              f"{ratio / e_ratio:.0%} of that ratio")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(REPO, "build/release/cli/kiln"))
    ap.add_argument("--ref", help="another kiln binary measured in alternation (e.g. main's)")
    ap.add_argument("--model", default=os.path.join(REPO, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="1 rep, 24 tokens")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.tokens = 1, 24
    load0 = os.getloadavg()[0]
    servers = [Server(a.kiln, a)]
    if a.ref:
        servers.append(Server(a.ref, a))
    srv = servers[0]
    llama = None
    llama_port = None
    llama_extra = None
    try:
        import llama_cpp.server  # noqa: F401  (only to know whether it is there)
        import llama_cpp
        eos = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False).token_eos()
        llama_extra = {"logit_bias": {str(eos): -100.0}}
        llama_port = free_port()
        llama = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", a.model,
                                  "--n_threads", str(a.threads), "--port", str(llama_port),
                                  "--n_ctx", "2048"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    except ImportError:
        pass
    try:
        for s in servers:
            wait_ready(s.port, "/health", s.proc)
        if llama:
            wait_ready(llama_port, "/v1/models", llama)
        ref = []
        for r in range(a.reps):
            # With --ref the servers take turns, the first one alternating between rounds.
            for s in (servers if r % 2 == 0 else servers[::-1]):
                s.round(r, a.tokens)
            if llama:
                ref.append(aggregate(llama_port, 8, a.tokens, a.model, 100 * r + 10, llama_extra))
        # Prefix cache: 500 shared tokens + 8 different tails, 8 clients at once.
        port = srv.port
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
        for s in servers:
            s.bench_engine(a)

        print(f"bench-serve: {os.path.basename(a.model)}, {a.threads} threads, --parallel 8, "
              f"{a.tokens} tokens a request, {a.reps} reps (median [min, max]); shared machine, "
              f"load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
        if a.ref:
            print(f"  new: {a.kiln}; ref: {a.ref}, their rounds alternating")
        srv.report("")
        if llama:
            print(f"  llama-cpp-python 8  {fmt(ref, 'tok/s')}   kiln "
                  f"{statistics.median(srv.eight) / statistics.median(ref):.2f}x llama-cpp-python")
        else:
            print("  llama-cpp-python[server] is not installed: kiln's own ratios only")
        print(f"  shared 500-token prefix, 8 clients: {dec:.0f} prompt tokens decoded of "
              f"{got:.0f} received ({dec / got:.1%})")
        if a.ref:
            old = servers[1]
            old.report("ref ")
            med = statistics.median
            print(f"  new/ref: 1 client {med(srv.one) / med(old.one):.2f}x, 8 clients "
                  f"{med(srv.eight) / med(old.eight):.2f}x, TTFT beside 7 streams "
                  f"{med(srv.ttft_busy) / med(old.ttft_busy):.2f}x, 1-token overhead "
                  f"{med(srv.overhead):.2f} ms against {med(old.overhead):.2f} ms")
    finally:
        for s in servers:
            s.stop()
        if llama:
            llama.terminate()
            llama.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
