#!/usr/bin/env python3
"""ctest remote_backend: `kiln solve --backend URL` against two servers on loopback.

1. Agreement: another `kiln serve` (the binary under test, on a free port); with greedy
   decoding, remote and local writing choose the same candidate on the first few tasks of
   eval/bench/kiln-python.jsonl (all but at most one of them, since prompt batching may break a
   near tie differently), and no candidate that ended parses badly. `kiln complete --backend`
   and `kiln lsp --backend` (a completion request over stdio) offer the local completion, and
   kiln.implement through `kiln lsp --backend` answers with code the backend wrote;
   a `kiln serve --backend` in front of it answers /v1/solve with candidates the backend
   wrote, passes /v1/completions on (grammar-checked: the backend's own constrained answer),
   and answers /completion with 501.
2. Errors, against tests/solve/fake_backend.py: kiln serve --backend passing on a completion
   whose stream the grammar cuts; a good stream (one candidate, and three at once); a piece the grammar rejects (cut,
   continued by a second request that excludes the rejected token through logit_bias, and the
   candidate parses); garbage and a stream without events (CORE_EPARSE); a stream that dies
   midway (CORE_EIO); 429 with Retry-After twice, then success (three requests, at least a
   second apart); 401 without the key, success with KILN_BACKEND_KEY or --backend-key-file;
   --backend-key on the command line refused.
Each failure of kiln must be exit status 2 with the error named, never a crash or a candidate.
No wall-clock limit is asserted. Usage: remote_test.py KILN MODEL TASKS [N_TASKS]. Exits 77
when KILN has no serve command or the model is missing.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("bench_remote",
                                              os.path.join(ROOT, "scripts/bench-remote.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

FAILURES = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        FAILURES.append(what)


def start_fake(log):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_backend.py")],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    port = int(proc.stdout.readline())
    return proc, "http://127.0.0.1:%d" % port


def fake_log(base):
    with urllib.request.urlopen(base + "/log", timeout=30) as r:
        return json.loads(r.read())


DOC = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
STUB = ('def sum_of_squares(nums):\n    """Return the sum of the squares of the numbers in nums.'
        '\n\n    >>> sum_of_squares([1, 2, 3])\n    14\n    """\n    pass\n')


def lsp_exchange(cmd, doc, method, params):
    """Runs a language server (cmd) through initialize, didOpen of doc, one request (method,
    params; "URI" in params' first argument or textDocument is the document's), shutdown and
    exit; returns the request's result or None."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)

    def send(msg):
        body = json.dumps(msg).encode()
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        proc.stdin.flush()

    def receive(want_id):
        while True:
            length = None
            while True:
                line_ = proc.stdout.readline()
                if not line_:
                    return None
                if line_.lower().startswith(b"content-length:"):
                    length = int(line_.split(b":")[1])
                if line_ in (b"\r\n", b"\n"):
                    break
            msg = json.loads(proc.stdout.read(length))
            if msg.get("id") == want_id and "method" not in msg:
                return msg

    uri = "file:///tmp/kiln-remote-test.py"
    result = None
    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        receive(1)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
              "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                          "text": doc}}})
        send({"jsonrpc": "2.0", "id": 2, "method": method,
              "params": json.loads(json.dumps(params).replace('"URI"', json.dumps(uri)))})
        reply = receive(2)
        result = reply.get("result") if reply else None
        send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        receive(3)
        send({"jsonrpc": "2.0", "method": "exit"})
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return result


def first_text(result):
    items = result.get("items", []) if isinstance(result, dict) else (result or [])
    if not items:
        return None
    it = items[0]
    return it.get("textEdit", {}).get("newText") or it.get("insertText") or it.get("label")


def check_completions(kiln, model, base):
    """kiln complete and kiln lsp through --backend: the greedy completion equals the local
    one (the same rules: grammar with the suffix, the line's end, token healing)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(DOC)
        path = f.name
    try:
        out = {}
        for name, extra in (("local", []), ("remote", ["--backend", base])):
            p = subprocess.run([kiln, "complete", path, "--at", "2:12", "--json", "-m", model] +
                               extra, capture_output=True, text=True, timeout=300)
            out[name] = json.loads(p.stdout) if p.returncode == 0 else None
            check(p.returncode == 0, "kiln complete (%s) answers (rc=%d %s)" %
                  (name, p.returncode, p.stderr.strip()[-160:]))
        if out["local"] and out["remote"]:
            loc = out["local"]["candidates"][0]
            rem = out["remote"]["candidates"][0]
            check(rem["text"] == loc["text"] and rem["parses"] and rem["ended"],
                  "kiln complete --backend writes the local completion (%r, local %r)" %
                  (rem["text"], loc["text"]))
        texts = {}
        completion = {"textDocument": {"uri": "URI"}, "position": {"line": 1, "character": 11}}
        for name, extra in (("local", []), ("remote", ["--backend", base])):
            texts[name] = first_text(lsp_exchange([kiln, "lsp", "-m", model] + extra, DOC,
                                                  "textDocument/completion", completion))
        check(texts["remote"] is not None and texts["remote"] == texts["local"],
              "kiln lsp --backend completes as the local model does (%r, local %r)" %
              (texts["remote"], texts["local"]))
        # kiln.implement: the pipeline's candidates written by the backend, tested here.
        before = completions_served(base)
        res = lsp_exchange([kiln, "lsp", "-m", model, "--backend", base], STUB,
                           "workspace/executeCommand",
                           {"command": "kiln.implement", "arguments": [{"uri": "URI", "line": 0}]})
        check(isinstance(res, dict) and "def sum_of_squares" in res.get("code", "") and
              completions_served(base) > before,
              "kiln lsp --backend: kiln.implement's code written by the backend (%s)" %
              str(res)[:200])
    finally:
        os.unlink(path)


def post(url, body):
    """POSTs JSON; returns (status, parsed answer)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def completions_served(base):
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        text = r.read().decode()
    m = re.search(r'kiln_requests_total\{route="/v1/completions",status="2xx"\} (\d+)', text)
    return int(m.group(1)) if m else -1


def check_serve_backend(kiln, model, base, log, procs):
    """kiln serve --backend BASE: /v1/solve's candidates are written by BASE (its completions
    counter grows) and parse; /v1/completions is passed on under the grammar, /completion is a
    501."""
    proc, front = bench.start_kiln_serve(kiln, model, log, extra=["--backend", base])
    check(proc is not None, "kiln serve --backend started")
    if proc is None:
        return
    procs.append(proc)
    before = completions_served(base)
    task = dict(bench.load_tasks(os.path.join(ROOT, "eval/bench/kiln-python.jsonl"), 1)[0])
    task["n"] = 2
    status, res = post(front + "/v1/solve", task)
    check(status == 200 and res.get("chosen", -1) >= 0 and
          all(c["parses"] for c in res.get("candidates", []) if c["ended"]),
          "kiln serve --backend answers /v1/solve (%d %s)" % (status, str(res)[:160]))
    check(completions_served(base) > before,
          "its candidates were written by the backend (%d -> %d completions)" %
          (before, completions_served(base)))
    # /v1/completions: passed on, the grammar checked in front, as the backend would decode it.
    body = {"prompt": "def add(a, b):\n", "suffix": "\n\nprint(add(1, 2))\n",
            "grammar": "python", "max_tokens": 24, "temperature": 0}
    status, direct = post(base + "/v1/completions", body)
    status2, passed = post(front + "/v1/completions", body)
    text = lambda r: r.get("choices", [{}])[0].get("text")
    check(status == 200 and status2 == 200 and text(passed) == text(direct),
          "kiln serve --backend passes /v1/completions on, grammar-checked (%d %r, direct %r)" %
          (status2, text(passed), text(direct)))
    status, res = post(front + "/completion", {"prompt": "def f():", "n_predict": 4})
    check(status == 501 and "backend" in res.get("error", {}).get("message", ""),
          "kiln serve --backend answers /completion with a 501 naming the backend (%d)" % status)
    bench.stop(proc)
    procs.remove(proc)


def check_pass_through(kiln, model, fake, log, procs):
    """kiln serve --backend FAKE/cut: a /v1/completions request with "grammar" whose first
    stream breaks the grammar is cut and continued with logit_bias; the answer is the good
    continuation only."""
    proc, front = bench.start_kiln_serve(kiln, model, log, extra=["--backend", fake + "/cut"])
    check(proc is not None, "kiln serve --backend (fake) started")
    if proc is None:
        return
    procs.append(proc)
    status, res = post(front + "/v1/completions",
                       {"prompt": "def sum_of_squares(nums):\n   ", "grammar": "python",
                        "max_tokens": 32, "temperature": 0})
    choice = res.get("choices", [{}])[0]
    check(status == 200 and choice.get("text") == " return sum(x * x for x in nums)\n" and
          choice.get("finish_reason") == "stop",
          "the pass-through cuts a piece the grammar refuses and continues (%d %s)" %
          (status, str(res)[:200]))
    sent = [e["body"] for e in fake_log(fake) if e["mode"] == "cut"]
    check(len(sent) == 2 and "logit_bias" not in sent[0] and sent[1].get("logit_bias") and
          "grammar" not in sent[0], "the continuation excludes the refused token (%d requests)" %
          len(sent))
    # The client's logit_bias and ignore_eos go on to the backend, with the continuation's ban
    # beside them (the ban wins for a token in both).
    status, res = post(front + "/v1/completions",
                       {"prompt": "def sum_of_squares(nums):\n   ", "grammar": "python",
                        "max_tokens": 32, "temperature": 0, "ignore_eos": True,
                        "logit_bias": {"42": 5, "7": -50}})
    sent = [e["body"] for e in fake_log(fake) if e["mode"] == "cut"][2:]
    mine = {"42": 5, "7": -50}
    second = sent[1].get("logit_bias", {}) if len(sent) == 2 else {}
    bans = {k: v for k, v in second.items() if k not in mine}
    check(status == 200 and res.get("choices", [{}])[0].get("text") == " return sum(x * x for x in nums)\n" and
          len(sent) == 2 and sent[0].get("logit_bias") == mine and
          all(b.get("ignore_eos") is True for b in sent) and
          all(second.get(k) in (v, -100) for k, v in mine.items()) and
          len(bans) >= 1 and all(v == -100 for v in bans.values()),
          "the client's logit_bias and ignore_eos are passed on (%d, sent %s)" %
          (status, [(b.get("logit_bias"), b.get("ignore_eos")) for b in sent]))
    status, res = post(front + "/v1/completions",
                       {"prompt": "def f():", "max_tokens": 4, "logprobs": 1})
    err = res.get("error", {})
    check(status == 400 and err.get("param") == "logprobs" and "backend" in err.get("message", ""),
          "logprobs through the backend: a 400 naming the field (%d %s)" % (status, err))
    bench.stop(proc)
    procs.remove(proc)


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    kiln, model, tasks_path = sys.argv[1:4]
    n_tasks = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    helptext = subprocess.run([kiln, "--help"], capture_output=True, text=True).stdout
    if "  serve " not in helptext:
        print("skipped: %s has no serve command" % kiln)
        return 77
    if not os.path.isfile(model):
        print("skipped: no model at %s" % model)
        return 77
    tasks = bench.load_tasks(tasks_path, n_tasks)
    task0 = tasks[0]  # sum_of_squares, whose body the fake server sends
    procs = []
    log = open(os.devnull, "w")
    try:
        # 1. agreement with kiln serve
        proc, base = bench.start_kiln_serve(kiln, model, log)
        check(proc is not None, "kiln serve started")
        if proc is None:
            return 1
        procs.append(proc)
        summary, rows = bench.compare(kiln, model, tasks, [("local", None), ("kiln-serve", base)])
        remote = summary["kiln-serve"]
        check(remote["failed"] == 0, "every remote solve ran")
        check(remote["agree"] >= len(tasks) - 1,
              "greedy remote agrees with local on %d of %d tasks" % (remote["agree"], len(tasks)))
        check(remote["ended_unparsed"] == 0, "remote candidates that ended all parse")
        check(all(r["requests"] >= 1 for r in rows["kiln-serve"]), "requests are counted")
        check_completions(kiln, model, base)
        check_serve_backend(kiln, model, base, log, procs)
        bench.stop(proc)
        procs.remove(proc)

        # 2. errors
        proc, fake = start_fake(log)
        procs.append(proc)
        check_pass_through(kiln, model, fake, log, procs)

        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/ok")
        check(rc == 0 and res and res["candidates"][0]["parses"] and res["requests"] == 1,
              "a good stream gives a parsing candidate (rc=%d %s)" % (rc, err.strip()))
        # A llama.cpp server penalizes repeats unless told otherwise (llama-cpp-python's default
        # repeat_penalty is 1.1): a greedy request states every field that changes the choice.
        sent = [e["body"] for e in fake_log(fake) if e["mode"] == "ok"]
        neutral = {"temperature": 0, "repeat_penalty": 1, "presence_penalty": 0,
                   "frequency_penalty": 0}
        check(len(sent) == 1 and all(sent[0].get(k) == v for k, v in neutral.items()),
              "a greedy request sends %s (sent %s)" %
              (neutral, {k: sent[0].get(k) for k in neutral} if sent else None))

        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/ok", extra=["-n", "3"])
        check(rc == 0 and res and len(res["candidates"]) == 3 and res["requests"] == 3 and
              all(c["parses"] for c in res["candidates"]),
              "three candidates are written at once (rc=%d %s)" % (rc, err.strip()))

        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/reject")
        cand = res["candidates"][0] if res else {}
        check(rc == 0 and cand.get("parses") and cand.get("requests") == 2 and
              res["requests_extra"] == 1,
              "a rejected piece is cut and continued by one more request (rc=%d %s)" %
              (rc, err.strip()))
        sent = [e["body"] for e in fake_log(fake) if e["mode"] == "reject"]
        check(len(sent) == 2 and "logit_bias" not in sent[0] and sent[1].get("logit_bias"),
              "the retry excludes the rejected token with logit_bias")
        check(len(sent) == 2 and sent[1]["prompt"] == sent[0]["prompt"],
              "the retry continues from the same valid prefix")

        for mode, code in (("garbage", "not a JSON object"), ("noevents", "server-sent events"),
                           ("midstream", "died")):
            rc, res, _, err = bench.solve(kiln, model, task0, fake + "/" + mode)
            check(rc == 2 and res is None and code in err and "backend" in err,
                  "%s: exit 2 with a named error (rc=%d: %s)" % (mode, rc, err.strip()[-160:]))

        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/busy")
        times = [e["t"] for e in fake_log(fake) if e["mode"] == "busy"]
        check(rc == 0 and res and res["candidates"][0]["parses"],
              "429 twice, then success (rc=%d %s)" % (rc, err.strip()))
        check(len(times) == 3 and all(b - a >= 0.9 for a, b in zip(times, times[1:])),
              "Retry-After: 1 is honoured (%d requests)" % len(times))

        env = dict(os.environ)
        env.pop("KILN_BACKEND_KEY", None)
        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/auth", env=env)
        check(rc == 2 and "401" in err and "key" in err,
              "401 without a key: exit 2, named (%s)" % err.strip()[-160:])
        env["KILN_BACKEND_KEY"] = "sesame"
        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/auth", env=env)
        check(rc == 0, "KILN_BACKEND_KEY is sent (rc=%d %s)" % (rc, err.strip()))
        env.pop("KILN_BACKEND_KEY")
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
            f.write("sesame\n")
            keyfile = f.name
        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/auth",
                                      extra=["--backend-key-file", keyfile], env=env)
        os.unlink(keyfile)
        check(rc == 0, "--backend-key-file is read (rc=%d %s)" % (rc, err.strip()))
        rc, res, _, err = bench.solve(kiln, model, task0, fake + "/auth",
                                      extra=["--backend-key=sesame"], env=env)
        check(rc == 2 and "never" in err, "--backend-key on the command line is refused")

        rc, res, _, err = bench.solve(kiln, model, task0, "ftp://127.0.0.1/")
        check(rc == 2 and "http" in err, "a URL that is not http(s) is refused")
    finally:
        for p in procs:
            bench.stop(p)
    if FAILURES:
        print("%d failures" % len(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
