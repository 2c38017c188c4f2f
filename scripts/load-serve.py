#!/usr/bin/env python3
"""Load test of `kiln serve` on loopback; stops by itself.

    scripts/load-serve.py --port 8080 [--key K] [--clients 64] [--seconds 300] [--pid PID]

C clients (threads) loop for the given time over a mix of streaming completions (with
logprobs and usage), streaming chat and /v1/solve (one task at a time: a 429 with Retry-After
is the expected answer while another runs). Checks: no unexpected status or broken stream
(every stream has one finish_reason per choice, one [DONE], nothing after it, one id, and as
many logprob tokens as usage's completion_tokens, give or take the end-of-generation token);
with --pid, the server's RSS after warm-up stays within 10% of its value then. Warm-up is the
first fifth of the run and at least one answer of each kind (the first requests of clients 0,
1 and 2 are a solve, a chat and a completion), since each kind first touches memory of its
own (the solve pipeline's contexts, the chat template's tokens). On a slow machine the run is
lengthened so that at least four fifths of --seconds follow the warm-up; a warm-up that has not
ended after --max-warmup seconds is a failure. Prints one summary line; exit 1 on any failure. Python's standard library only.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.busy = 0
        self.errors = []
        self.tokens = 0
        self.kinds = set()  # the kinds of request answered at least once
        self.stop_at = 0.0  # when clients stop starting requests (main may move it later)

    def add(self, kind, detail="", path=""):
        with self.lock:
            if kind != "err":
                self.kinds.add(path)
            if kind == "ok":
                self.ok += 1
            elif kind == "busy":
                self.busy += 1
            else:
                self.errors.append(detail)


def sse_events(resp):
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            yield ev.decode()
    if buf.strip():
        yield buf.decode()


def one_stream(conn, key, path, body, st):
    conn.request("POST", path, json.dumps(body),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        resp.read()
        st.add("err", f"{path}: status {resp.status}")
        return
    ids, finishes, done, after_done, n_lp, usage = set(), 0, 0, 0, 0, None
    for ev in sse_events(resp):
        if ev.startswith(":"):
            continue
        data = "\n".join(l[6:] for l in ev.split("\n") if l.startswith("data: "))
        if done:
            after_done += 1
            continue
        if data == "[DONE]":
            done += 1
            continue
        obj = json.loads(data)
        ids.add(obj.get("id"))
        if obj.get("usage"):
            usage = obj["usage"]
        for ch in obj.get("choices", []):
            if ch.get("finish_reason"):
                finishes += 1
            lp = ch.get("logprobs")
            if lp:
                n_lp += len(lp.get("tokens") or lp.get("content") or [])
    problems = []
    if done != 1 or after_done:
        problems.append(f"[DONE] x{done}, {after_done} events after it")
    if finishes != body.get("n", 1):
        problems.append(f"{finishes} finish_reasons")
    if len(ids) != 1:
        problems.append(f"ids {ids}")
    if usage is None:
        problems.append("no usage")
    elif body.get("logprobs") and not (n_lp <= usage["completion_tokens"] <= n_lp + body.get("n", 1)):
        problems.append(f"{n_lp} logprob tokens, usage {usage['completion_tokens']}")
    if problems:
        st.add("err", f"{path}: " + "; ".join(problems))
    else:
        with st.lock:
            st.tokens += usage["completion_tokens"] if usage else 0
        st.add("ok", path=path)


def solve(conn, key, st):
    task = {"prompt": "def inc(x):\n    \"\"\"Return x + 1.\n    >>> inc(1)\n    2\n    \"\"\"\n",
            "entry_point": "inc", "n": 2, "rounds": 0, "plan": False, "repair": False}
    conn.request("POST", "/v1/solve", json.dumps(task), {"Authorization": f"Bearer {key}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status == 429 and resp.getheader("Retry-After"):
        st.add("busy", path="/v1/solve")
    elif resp.status == 200 and b"candidates" in body:
        st.add("ok", path="/v1/solve")
    else:
        st.add("err", f"/v1/solve: status {resp.status}: {body[:120]!r}")


def client(i, a, st):
    rng = random.Random(i)
    prompts = ["def fibonacci(n):", "int main(void) {", "# Sort a list in Python\n",
               "Once upon a time", "def parse_args(argv):"]
    first = True
    while time.time() < st.stop_at:
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=300)
        try:
            r = rng.random()
            if first and i < 3:  # warm-up: one request of each kind at the start
                r = (0.99, 0.9, 0.1)[i]
            first = False
            if r < 0.5:
                one_stream(conn, a.key, "/v1/completions",
                           {"prompt": rng.choice(prompts), "max_tokens": rng.randint(4, 48),
                            "stream": True, "logprobs": 1, "n": rng.choice([1, 1, 2]),
                            "stream_options": {"include_usage": True}}, st)
            elif r < 0.97:
                one_stream(conn, a.key, "/v1/chat/completions",
                           {"messages": [{"role": "user", "content": rng.choice(prompts)}],
                            "max_tokens": rng.randint(4, 48), "stream": True, "logprobs": True,
                            "stream_options": {"include_usage": True}}, st)
            else:
                solve(conn, a.key, st)
        except Exception as e:  # a broken connection or answer is a failure
            st.add("err", f"{type(e).__name__}: {e}")
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--key", default="")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--max-warmup", type=float, default=120)
    a = ap.parse_args()
    st = Stats()
    t0 = time.time()
    st.stop_at = t0 + a.seconds
    threads = [threading.Thread(target=client, args=(i, a, st)) for i in range(a.clients)]
    for t in threads:
        t.start()
    rss = []  # (warmed up, kB)
    kinds = {"/v1/completions", "/v1/chat/completions", "/v1/solve"}
    while any(t.is_alive() for t in threads):
        if a.pid:
            now = time.time()
            with st.lock:
                warmed = now - t0 >= a.seconds / 5 and kinds <= st.kinds
                if not warmed and now - t0 >= a.seconds / 5 and not any(w for w, _ in rss):
                    # Still warming up: keep going, within the warm-up's limit.
                    st.stop_at = max(st.stop_at, min(now, t0 + a.max_warmup) + a.seconds * 4 / 5)
                    if now - t0 >= a.max_warmup:
                        st.stop_at = now
            rss.append((warmed, rss_kb(a.pid)))
        time.sleep(1)
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    rss_note = ""
    ok_rss = True
    if rss:
        warm = [kb for w, kb in rss if w]
        if not warm:
            ok_rss = False
            rss_note = ", RSS not checked: the run ended before every kind of request was answered"
        else:
            base, peak = warm[0], max(warm)
            ok_rss = peak <= base * 1.10
            rss_note = f", RSS after warm-up {base} kB -> peak {peak} kB ({peak / base - 1:+.1%})"
    print(f"load: {a.clients} clients, {elapsed:.0f} s: {st.ok} answers, {st.busy} busy (429), "
          f"{len(st.errors)} unexpected errors, {st.tokens} tokens streamed "
          f"({st.tokens / elapsed:.1f} tok/s){rss_note}")
    for e in st.errors[:10]:
        print(f"load: error: {e}", file=sys.stderr)
    return 0 if not st.errors and ok_rss and st.ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
