"""One process serving an editor and a CI bot at once: `kiln serve --lsp-port 0` on loopback
(free ports chosen by the server, read from its stderr). While a long /v1/completions stream
runs, an editor connects to the language server over TCP, opens a document and asks for a
completion. Checked:
  - the completion answers while the stream still runs, and the stream goes on after it (the
    two decode in the same batched steps of one queue, rather than one after the other);
  - the completion is the one `kiln complete` gives for the same cursor (the queue's logits are
    the same in any batch), and it was decoded on the server's queue (its prompt tokens show
    in /metrics' kiln_prompt_tokens_total without any HTTP request carrying them);
  - the stream's greedy text starts with what a lone request for the same prompt answers;
  - $/cancelRequest of a running completion is answered -32800, and the server keeps serving;
  - the editor's shutdown and exit end its connection; SIGTERM ends the server with status 0.
No timing thresholds: the stream is far longer (1500 tokens) than the completion (a line).
Usage: serve_lsp.py KILN"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Client  # noqa: E402

TIMEOUT = 300  # seconds for anything to happen (sanitizer builds on a loaded machine)
DOC = ('def area(width, height):\n    """Area of a rectangle."""\n    return \n\n\n'
       'print(area(2, 3))\n')
LINE, COL = 2, 11  # after "return "


def fail(msg):
    print("serve_lsp: FAIL: " + msg, flush=True)
    sys.exit(1)


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read())


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=TIMEOUT) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    fail("no %s in /metrics" % name)


class Stream(threading.Thread):
    """A streamed greedy completion of 1500 tokens, counting its chunks as they come."""

    def __init__(self, base):
        super().__init__(daemon=True)
        self.base = base
        self.text = ""
        self.n_chunks = 0
        self.finished = False
        self.error = None
        self.first = threading.Event()
        self.stop = False
        self.lock = threading.Lock()

    def run(self):
        body = {"prompt": "def fib(n):", "max_tokens": 1500, "temperature": 0,
                "ignore_eos": True, "stream": True}
        req = urllib.request.Request(self.base + "/v1/completions",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                for raw in r:
                    line = raw.decode().strip()
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        break
                    chunk = json.loads(line[6:])
                    with self.lock:
                        self.text += chunk["choices"][0]["text"]
                        self.n_chunks += 1
                    self.first.set()
                    if self.stop:
                        return  # hanging up cancels the rest
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e
        with self.lock:
            self.finished = True
        self.first.set()

    def state(self):
        with self.lock:
            return self.n_chunks, self.finished, self.text


def main():
    kiln = sys.argv[1]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model = os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(model):
        print("serve_lsp: no model: skipped")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="kiln-serve-lsp-")
    path = os.path.join(tmp, "area.py")
    with open(path, "w") as f:
        f.write(DOC)
    # What kiln complete offers at the cursor (its own context, not the queue).
    out = subprocess.run([kiln, "complete", path, "--at", "%d:%d" % (LINE + 1, COL + 1),
                          "--json", "-m", model, "-t", "2"], capture_output=True, text=True,
                         timeout=TIMEOUT)
    expected = json.loads(out.stdout)
    proc = subprocess.Popen([kiln, "serve", "-m", model, "--port", "0", "--lsp-port", "0",
                             "-t", "2", "--parallel", "4", "--no-sandbox"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    ports = {}
    log = []

    def read_stderr():
        for line in proc.stderr:
            log.append(line.rstrip())
            m = re.search(r"listening on http://[\d.]+:(\d+)", line)
            if m:
                ports["http"] = int(m.group(1))
            m = re.search(r"language server on tcp://[\d.]+:(\d+)", line)
            if m:
                ports["lsp"] = int(m.group(1))

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while "lsp" not in ports or "http" not in ports:
            if proc.poll() is not None or time.monotonic() > deadline:
                fail("the server did not start: " + " | ".join(log[-5:]))
            time.sleep(0.05)
        base = "http://127.0.0.1:%d" % ports["http"]
        prompt_before = metric(base, "kiln_prompt_tokens_total")

        stream = Stream(base)
        stream.start()
        stream.first.wait(TIMEOUT)
        n0, finished, _ = stream.state()
        if finished:
            fail("the stream ended before the editor came: %r" % (stream.error,))

        lsp = Client(sock=socket.create_connection(("127.0.0.1", ports["lsp"]), TIMEOUT))
        init = lsp.initialize()
        if "capabilities" not in init.get("result", {}):
            fail("initialize: %r" % init)
        uri = "file://" + path
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": DOC}})
        n_sent, _, _ = stream.state()
        rid = lsp.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": LINE, "character": COL}})
        res = lsp.wait(rid, TIMEOUT)
        n_answered, finished, _ = stream.state()
        if "result" not in res:
            fail("completion: %r" % res)
        items = res["result"]["items"]
        if finished:
            fail("the stream ended before the completion was answered")
        # ... and it goes on after the answer: the two overlapped (one queue, one batch a step).
        deadline = time.monotonic() + TIMEOUT
        while stream.state()[0] <= n_answered and not stream.state()[1]:
            if time.monotonic() > deadline:
                fail("the stream stalled after the completion")
            time.sleep(0.01)
        if stream.state()[1]:
            fail("the stream ended right after the completion: %r" % (stream.error,))
        want = expected["candidates"][0]["text"] if expected.get("candidates") else None
        got = items[0]["textEdit"]["newText"] if items else None
        if want is not None and not (got or "").endswith(want):
            fail("the completion %r is not kiln complete's %r" % (got, want))
        if want is None and items:
            fail("kiln complete offered nothing, the server %r" % got)
        stats = res["result"]["kiln"]
        prompt_after = metric(base, "kiln_prompt_tokens_total")
        if prompt_after - prompt_before < stats["promptTokens"]:
            fail("the completion's %d prompt tokens are not in the queue's count (%d -> %d)"
                 % (stats["promptTokens"], prompt_before, prompt_after))

        # A completion canceled while it decodes: -32800, and the next one is answered.
        rid = lsp.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": LINE, "character": COL}})
        lsp.notify("$/cancelRequest", {"id": rid})
        res = lsp.wait(rid, TIMEOUT)
        if "error" in res and res["error"]["code"] != -32800:
            fail("canceled completion: %r" % res)
        rid = lsp.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": LINE, "character": COL}})
        if "result" not in lsp.wait(rid, TIMEOUT):
            fail("no completion after a cancel")

        n_end, finished, text = stream.state()
        stream.stop = True
        stream.join(TIMEOUT)
        if stream.error:
            fail("stream: %r" % (stream.error,))
        lone = post(base, "/v1/completions", {"prompt": "def fib(n):", "max_tokens": 24,
                                              "temperature": 0})["choices"][0]["text"]
        n = min(len(text), len(lone))
        if n == 0 or text[:n] != lone[:n]:
            fail("the batched stream %r does not start with the lone answer %r"
                 % (text[:80], lone))

        rid = lsp.request("shutdown", None)
        lsp.wait(rid, TIMEOUT)
        lsp.notify("exit", None)
        lsp.sock.settimeout(TIMEOUT)
        try:
            while lsp.sock.recv(65536):
                pass
        except socket.timeout:
            fail("the connection stayed open after exit")
        lsp.sock.close()
        print("serve_lsp: completion %r answered while the stream ran (%d -> %d chunks), "
              "%d prompt tokens on the server's queue; stream of %d chunks"
              % (got, n_sent, n_answered, stats["promptTokens"], n_end), flush=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            fail("the server did not stop on SIGTERM")
        subprocess.run(["rm", "-rf", tmp], check=False)
    if code != 0:
        fail("the server exited with %d: %s" % (code, " | ".join(log[-5:])))
    print("serve_lsp: ok", flush=True)


if __name__ == "__main__":
    main()
