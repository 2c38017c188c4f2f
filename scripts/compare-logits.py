#!/usr/bin/env python3
"""kiln's logits against llama.cpp's (llama-cpp-python, in this process) along llama.cpp's own
greedy path, on the prompts `kiln solve` sends to a remote backend, token by token.

For each task: the prompt that `kiln solve --backend` sends (caught by a fake backend on
loopback that answers at once), tokenized as llama-cpp-python's server does (special tokens
parsed, BOS only where the model asks for it); llama.cpp decodes it greedily (the prompt in one
pass of up to 512 tokens, then one token a step, F16 KV cache: its defaults) until an
end-of-generation token, the stop string ``` or --steps; `kiln-logits` is then fed the same
tokens (teacher forcing) and gives its logits at every step. A control does the same with
another of kiln's kernel variants (--control, default auto: as bench-remote.py's): the same arithmetic up to the order
of its sums, i.e. how far any two engines whose sums are not bit-identical drift apart.

Per task it prints one line; then, per pair (kiln vs llama.cpp, kiln vs control):
  - mean |logit difference| over the vocabulary and steps (median over tasks), and the max;
  - "paths that fork": tasks where the two engines' greedy choices differ at some step, i.e.
    where greedy decoding by one leaves the other's path (before any grammar), and at the first
    such step the top-2 margin of each engine (how near a tie it was).
Usage: scripts/compare-logits.py [--kiln KILN] [--kiln-logits BIN] [--model GGUF]
                                 [--tasks FILE] [--limit N] [--only I,J] [--steps N]
                                 [--control KERNELS|none] [--json OUT]
Needs llama-cpp-python (pyenv's python3 here; CI has none). Timings do not matter here.
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading

import importlib.util

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bench-remote.py's task loading and report (its name is no module name).
_spec = importlib.util.spec_from_file_location(
    "bench_remote", os.path.join(ROOT, "scripts", "bench-remote.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
STOP = "```"


class Catcher(http.server.BaseHTTPRequestHandler):
    """A backend that records each request's body and ends the completion at once."""
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Catcher.bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b'data: {"choices":[{"index":0,"text":"","finish_reason":"length"}]}'
                         b'\n\ndata: [DONE]\n\n')

    def log_message(self, *args):
        pass


def solve_prompts(kiln, model, tasks):
    """The prompt `kiln solve -n 1 --temp 0 --no-repair` sends for each task."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    prompts = []
    try:
        for task in tasks:
            Catcher.bodies.clear()
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(task, f)
            subprocess.run([kiln, "solve", "--task", f.name, "-m", model, "-n", "1", "--temp", "0",
                            "--no-repair", "--json", "--backend", base],
                           capture_output=True, timeout=600)
            os.unlink(f.name)
            prompts.append(Catcher.bodies[0]["prompt"] if Catcher.bodies else None)
    finally:
        server.shutdown()
    return prompts


def llama_greedy(llm, llama_cpp, prompt, steps):
    """llama.cpp's greedy tokens and the logits each was chosen from."""
    n_vocab = llm.n_vocab()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    llm.reset()
    llm.eval(ids)
    tokens, logits = [], []
    text = b""
    for _ in range(steps):
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1),
                                    shape=(n_vocab,)).copy()
        t = int(np.argmax(row))
        tokens.append(t)
        logits.append(row)
        text += llm.detokenize([t])
        if llama_cpp.llama_vocab_is_eog(vocab, t) or STOP.encode() in text:
            break
        llm.eval([t])
    return ids, tokens, np.array(logits)


def kiln_forced(binary, model, kernels, ids, tokens, n_vocab):
    with tempfile.NamedTemporaryFile("wb", suffix=".f32", delete=False) as out:
        path = out.name
    try:
        p = subprocess.run([binary, "-m", model, "--out", path, "--kernels", kernels],
                           input="%s\n%s\n" % (" ".join(map(str, ids)), " ".join(map(str, tokens))),
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("kiln-logits: " + p.stderr.strip())
        return np.fromfile(path, dtype=np.float32).reshape(-1, n_vocab)
    finally:
        os.unlink(path)


def margin(row, a, b):
    return float(row[a] - row[b])


def compare_pair(a, b, path):
    """a, b: (steps, vocab) logits along path (the tokens fed). The first step where their
    argmaxes differ, with each one's margin for its choice over the other's."""
    d = np.abs(a - b)
    res = {"mean_abs": float(d.mean()), "max_abs": float(d.max())}
    ca, cb = a.argmax(axis=1), b.argmax(axis=1)
    diff = np.nonzero(ca != cb)[0]
    if len(diff):
        s = int(diff[0])
        res.update(fork_step=s, fork_of=len(path), margin_a=margin(a[s], ca[s], cb[s]),
                   margin_b=margin(b[s], cb[s], ca[s]))
    return res


def summarize(rows, key):
    pairs = [r[key] for r in rows if key in r]
    forks = [p for p in pairs if "fork_step" in p]
    return {
        "tasks": len(pairs),
        "mean_abs_median": statistics.median(p["mean_abs"] for p in pairs) if pairs else 0.0,
        "max_abs": max((p["max_abs"] for p in pairs), default=0.0),
        "paths_that_fork": len(forks),
        "fork_margin_median": statistics.median(
            min(abs(p["margin_a"]), abs(p["margin_b"])) for p in forks) if forks else 0.0,
        "fork_margin_max": max((max(abs(p["margin_a"]), abs(p["margin_b"])) for p in forks),
                               default=0.0),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build/release/cli/kiln"))
    ap.add_argument("--kiln-logits", default=os.path.join(ROOT,
                                                          "build/release/tests/tools/kiln-logits"))
    ap.add_argument("--model", default=os.path.join(ROOT,
                                                    "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tasks", default=os.path.join(ROOT, "eval/bench/kiln-python.jsonl"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--only", help="task indices, comma-separated")
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--kernels", default="best", help="kiln's kernel variant")
    ap.add_argument("--control", default="auto", help="the control's kernel variant, or none")
    ap.add_argument("--json", help="write the summary and rows here")
    a = ap.parse_args()
    try:
        import llama_cpp
        from llama_cpp import Llama
    except ImportError:
        print("compare-logits: llama-cpp-python is not installed", file=sys.stderr)
        return 2
    tasks = bench.load_tasks(a.tasks, 0)
    index = list(range(len(tasks)))
    if a.only:
        index = [int(i) for i in a.only.split(",")]
    elif a.limit:
        index = index[:a.limit]
    control = bench.control_kernels(a.kiln, a.model, a.control)
    if control is None and a.control != "none":
        print("compare-logits: this CPU lacks the %s kernels: no control" % a.control,
              file=sys.stderr)
    prompts = solve_prompts(a.kiln, a.model, [tasks[i] for i in index])
    llm = Llama(a.model, n_ctx=4096, n_batch=512, n_threads=1, verbose=False)
    n_vocab = llm.n_vocab()
    rows = []
    for i, prompt in zip(index, prompts):
        if prompt is None:
            print("task %d: kiln solve sent no request" % i, file=sys.stderr)
            continue
        ids, path, ref = llama_greedy(llm, llama_cpp, prompt, a.steps)
        kiln = kiln_forced(a.kiln_logits, a.model, a.kernels, ids, path, n_vocab)
        row = {"task": tasks[i].get("task_id", str(i)), "prompt_tokens": len(ids),
               "steps": len(path), "kiln_vs_llama": compare_pair(kiln, ref, path)}
        if control:
            ctl = kiln_forced(a.kiln_logits, a.model, control, ids, path, n_vocab)
            row["kiln_vs_control"] = compare_pair(kiln, ctl, path)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"kiln_vs_llama": summarize(rows, "kiln_vs_llama")}
    if control:
        summary["kiln_vs_control_" + control] = summarize(rows, "kiln_vs_control")
    bench.report(summary, rows, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
