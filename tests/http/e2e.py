"""End-to-end checks of `kiln serve` with real clients (run by tests/http/e2e.sh).

The openai package (completions and chat, whole and streamed, n > 1), curl -N on the SSE
stream, prometheus_client's text parser on /metrics, /v1/solve, and hostile clients: slow
headers and bodies, bodies over the limit, invalid UTF-8 and JSON, n and max_tokens over their
caps, clients that hang up mid-stream, 1,000 connections opened and dropped. The server must
answer each with the right status and stay up.
"""
import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import openai
from prometheus_client.parser import text_string_to_metric_families

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def raw(port, data, timeout=120.0, read=True):
    """Sends raw bytes, returns the whole answer (until close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    if read:
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
    s.close()
    return out


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else 0


def post(port, key, path, body, extra=b""):
    if isinstance(body, str):
        body = body.encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n").encode()
    return raw(port, head + extra + b"\r\n" + body)


def metrics(port, key):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                 headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


def gauge(text, name):
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return s.value
    return None


def test_openai(port, key):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
    models = client.models.list()
    check(len(models.data) == 1, "models: one model")
    c = client.completions.create(model="kiln", prompt="def add(a, b):", max_tokens=8,
                                  temperature=0, n=2, logprobs=1)
    check(len(c.choices) == 2, "completions: n=2 gives 2 choices")
    check(c.usage.completion_tokens == 16, f"completions: usage {c.usage}")
    check(c.choices[0].text == c.choices[1].text, "completions: greedy choices agree")
    check(c.choices[0].logprobs is not None and len(c.choices[0].logprobs.tokens) == 8,
          "completions: logprobs")
    parts = list(client.completions.create(model="kiln", prompt="def add(a, b):", max_tokens=8,
                                           temperature=0, stream=True))
    text = "".join(p.choices[0].text for p in parts if p.choices)
    check(text == c.choices[0].text, f"completions: streamed text {text!r} != {c.choices[0].text!r}")
    check(parts[-1].choices[0].finish_reason == "length", "completions: finish_reason")
    chat = client.chat.completions.create(
        model="kiln", messages=[{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Write hello world in C."}],
        max_tokens=12, seed=3)
    check(chat.choices[0].message.role == "assistant", "chat: role")
    check(chat.usage.completion_tokens > 0, "chat: usage")
    chunks = list(client.chat.completions.create(
        model="kiln", messages=[{"role": "user", "content": "Hi"}], max_tokens=6, stream=True,
        stream_options={"include_usage": True}))
    check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 6,
          "chat stream: usage chunk last")
    check(any(ch.choices and ch.choices[0].finish_reason for ch in chunks),
          "chat stream: a finish_reason")
    try:
        client.completions.create(model="kiln", prompt="x", max_tokens=10**9)
        check(False, "max_tokens over the cap accepted")
    except openai.BadRequestError as e:
        check(e.body and e.body.get("param") == "max_tokens", f"max_tokens error names it: {e.body}")
    try:
        openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong",
                      max_retries=0).models.list()
        check(False, "wrong key accepted")
    except openai.AuthenticationError:
        pass


def test_curl(port, key):
    out = subprocess.run(
        ["curl", "-sN", f"http://127.0.0.1:{port}/v1/completions", "-H",
         f"Authorization: Bearer {key}", "-d",
         '{"prompt":"int main(void) {","max_tokens":5,"stream":true,"grammar":"c"}'],
        capture_output=True, text=True, timeout=60).stdout
    events = [e for e in out.split("\n\n") if e]
    check(all(e.startswith("data: ") for e in events), f"curl: every event is data: ({out[:200]})")
    check(events and events[-1] == "data: [DONE]", "curl: ends with [DONE]")
    check(len(events) >= 2, "curl: at least one chunk")
    for e in events[:-1]:
        json.loads(e[len("data: "):])


def test_solve(port, key):
    task = {"prompt": "def add(a, b):\n    \"\"\"Return a + b.\n    >>> add(1, 2)\n    3\n    \"\"\"\n",
            "entry_point": "add", "n": 1, "rounds": 0, "plan": False, "repair": False,
            "stream": True}
    ans = post(port, key, "/v1/solve", json.dumps(task))
    check(status_of(ans) == 200, f"solve: status {ans[:100]!r}")
    check(b"event: stage" in ans and b"event: result" in ans, "solve: stage and result events")


def test_metrics(port, key):
    text = metrics(port, key)
    names = {f.name for f in text_string_to_metric_families(text)}
    for n in ("kiln_requests", "kiln_generated_tokens", "kiln_step_seconds",
              "kiln_queue_length", "kiln_sandbox_runs"):
        check(n in names, f"metrics: family {n} ({sorted(names)})")


def test_hostile(port, key):
    # Bodies over the limit, bad UTF-8, bad JSON, caps.
    check(status_of(post(port, key, "/v1/completions", b"x" * 100000)) == 413, "413 on big body")
    check(status_of(post(port, key, "/v1/completions", b'{"prompt":"\xff\xfe"}')) == 400,
          "400 on invalid UTF-8")
    check(status_of(post(port, key, "/v1/completions", b'{"prompt":')) == 400, "400 on bad JSON")
    check(status_of(post(port, key, "/v1/completions", '{"prompt":"a","n":100000}')) == 400,
          "400 on n over the cap")
    check(status_of(post(port, key, "/v1/chat/completions", '{"messages":"hi"}')) == 400,
          "400 on messages of the wrong type")
    # Slow headers and a slow body, each answered once complete.
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    body = b'{"content":"slow"}'
    head = (f"POST /tokenize HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    for i in range(0, len(head), 7):
        s.sendall(head[i:i + 7])
        time.sleep(0.05)
    for b in body:
        s.sendall(bytes([b]))
        time.sleep(0.03)
    ans = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        ans += chunk
    s.close()
    check(status_of(ans) == 200, f"slow client answered: {ans[:80]!r}")
    # Clients that hang up mid-stream: their sequences stop.
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        body = b'{"prompt":"Once upon a time","max_tokens":400,"stream":true}'
        s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        s.recv(100)
        s.close()
    # 1,000 connections opened and dropped, some with half a request.
    for i in range(1000):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            if i % 3 == 0:
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"pro")
            elif i % 3 == 1:
                s.sendall(b"GET /hea")
            s.close()
        except OSError:
            pass
    deadline = time.time() + 30
    while time.time() < deadline:
        text = metrics(port, key)
        if gauge(text, "kiln_sequences_decoding") == 0:
            break
        time.sleep(0.2)
    check(gauge(metrics(port, key), "kiln_sequences_decoding") == 0,
          "hung-up streams were canceled")
    ans = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(status_of(ans) == 200, "health after the hostile clients")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", default="")
    a = ap.parse_args()
    deadline = time.time() + 120
    while True:
        try:
            if status_of(raw(a.port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            print("server never became ready", file=sys.stderr)
            return 1
        time.sleep(0.1)
    for t in (test_openai, test_curl, test_solve, test_metrics, test_hostile):
        t0 = time.time()
        try:
            t(a.port, a.key)
        except Exception as e:  # a client error is a failure of the server's answer
            import traceback
            traceback.print_exc()
            check(False, f"{t.__name__}: {type(e).__name__}: {e}")
        print(f"e2e: {t.__name__}: {time.time() - t0:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
