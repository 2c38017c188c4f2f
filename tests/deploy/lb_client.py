#!/usr/bin/python3
"""Load for tests/deploy/lb-test.sh: C client threads send requests for S seconds and check
every answer; the standard library only.

Each client loops over three kinds of request, each carrying a prompt unique to it:
- /v1/completions with "echo": true (3 in 5): a 200 must be whole JSON whose text starts with
  this request's own prompt (an answer meant for another request, or cut short, is caught);
- /tokenize then /detokenize (1 in 5): the text must come back exactly;
- /v1/completions streamed (1 in 5): the events must parse and end with [DONE]. When its
  replica is killed mid-stream, nginx closes the connection without the body's last chunk; the
  client sees the stream end without [DONE] (the OpenAI protocol's sign of a cut stream) and
  counts it as cut, which is allowed only with --cuts-allowed (the run with a replica killed).
Non-streaming requests must succeed or get a 5xx (nginx's 502/503/504 once its retries are
spent, or kiln's 503 from a replica that is loading or stopping); any other status, a refused
or reset connection to nginx, a 200 with a wrong or partial body is a failure. Prints one JSON
object: counts by kind and outcome, requests per second, failures (with the first examples).
"""
import argparse
import http.client
import json
import threading
import time

PROMPTS = ["def add_%d(a, b):", "# Task %d: reverse a string in Python\n", "int square_%d(int x) {",
           "Write a haiku about the number %d."]


class StreamCut(Exception):
    """A stream that ended in an error the client saw (its replica died)."""


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.examples = []
        self.deadline = 0.0
        self.ok_in_time = 0  # answers that came before the deadline

    def add(self, key, example=None):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if key.endswith(":ok") and time.monotonic() <= self.deadline:
                self.ok_in_time += 1
            if example and len(self.examples) < 10:
                self.examples.append(example)


def post(conn, path, body, timeout):
    conn.timeout = timeout
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn.getresponse()


def call(conn, kind, what, path, body, field, timeout, tally):
    """A non-streaming request: the answer's field, or None once the outcome is counted (a 5xx,
    or a failure: another status, a body that is not whole JSON with the field)."""
    r = post(conn, path, body, timeout)
    data = r.read()
    if 500 <= r.status < 600:
        tally.add("%s:5xx:%d" % (kind, r.status))
        return None
    if r.status != 200:
        tally.add("%s:fail:status-%d" % (kind, r.status), "%s: %d %r" % (what, r.status, data[:200]))
        return None
    try:
        return field(json.loads(data))
    except (ValueError, KeyError, IndexError, TypeError):
        tally.add("%s:fail:bad-body" % kind, "%s: %r" % (what, data[:200]))
        return None


def one_completion(conn, uid, max_tokens, timeout, tally):
    prompt = PROMPTS[uid % len(PROMPTS)] % uid
    text = call(conn, "complete", "completion %d" % uid, "/v1/completions",
                {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "echo": True},
                lambda o: o["choices"][0]["text"], timeout, tally)
    if text is None:
        return
    if not isinstance(text, str) or not text.startswith(prompt):
        tally.add("complete:fail:mixed-up", "completion %d: got %s" % (uid, repr(text)[:120]))
        return
    tally.add("complete:ok")


def one_tokenize(conn, uid, timeout, tally):
    text = "token round trip %d: naïve café, x = [%d] * 3" % (uid, uid)
    tokens = call(conn, "tokens", "tokenize %d" % uid, "/tokenize", {"content": text},
                  lambda o: o["tokens"], timeout, tally)
    if tokens is None:
        return
    back = call(conn, "tokens", "detokenize %d" % uid, "/detokenize", {"tokens": tokens},
                lambda o: o["content"], timeout, tally)
    if back is None:
        return
    # SentencePiece-style tokenizers may add a leading space; byte-level BPE gives it back exactly.
    if not isinstance(back, str) or (back != text and back.lstrip(" ") != text):
        tally.add("tokens:fail:mixed-up", "round trip %d: %s != %r" % (uid, repr(back)[:80], text))
        return
    tally.add("tokens:ok")


def one_stream(conn, uid, max_tokens, timeout, tally, cuts_allowed):
    prompt = PROMPTS[uid % len(PROMPTS)] % uid
    r = post(conn, "/v1/completions", {"prompt": prompt, "max_tokens": max_tokens,
                                       "temperature": 0, "stream": True}, timeout)
    if r.status != 200:
        r.read()
        tally.add(("stream:5xx:%d" if 500 <= r.status < 600 else "stream:fail:status-%d") % r.status)
        return
    done = False
    try:
        for raw in r:
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                continue
            json.loads(line[6:])
    except ValueError:
        tally.add("stream:fail:bad-event", "stream %d: an event is not JSON" % uid)
        raise StreamCut("bad event")
    except (http.client.HTTPException, OSError) as e:
        tally.add("stream:cut" if cuts_allowed else "stream:fail:cut", "stream %d: %s" % (uid, e))
        raise StreamCut(str(e)) from e
    if done:
        tally.add("stream:ok")
        return
    # The connection is closed: nginx lost the replica while streaming.
    tally.add("stream:cut" if cuts_allowed else "stream:fail:cut", "stream %d: no [DONE]" % uid)
    raise StreamCut("no [DONE]")


def client(i, args, deadline, tally, next_uid):
    conn = None
    n = 0
    while time.monotonic() < deadline:
        with next_uid[1]:
            uid = next_uid[0]
            next_uid[0] += 1
        kind = (i + n) % 5
        n += 1
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
        try:
            if kind in (0, 1, 3):
                one_completion(conn, uid, args.max_tokens, args.timeout, tally)
            elif kind == 2:
                one_tokenize(conn, uid, args.timeout, tally)
            else:
                one_stream(conn, uid, args.max_tokens, args.timeout, tally, args.cuts_allowed)
        except StreamCut:
            conn.close()
            conn = None
        except (http.client.HTTPException, OSError) as e:
            tally.add("connection:fail", "request %d to nginx: %s" % (uid, e))
            conn.close()
            conn = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--first-uid", type=int, default=0)
    ap.add_argument("--cuts-allowed", action="store_true")
    args = ap.parse_args()
    tally = Tally()
    next_uid = [args.first_uid, threading.Lock()]
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    tally.deadline = deadline
    threads = [threading.Thread(target=client, args=(i, args, deadline, tally, next_uid))
               for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    ok = sum(v for k, v in tally.counts.items() if k.endswith(":ok"))
    failures = sum(v for k, v in tally.counts.items() if ":fail" in k)
    # Throughput: answers that came within the run's seconds (those still running at the end
    # finish, and are checked, but are not counted against the time).
    print(json.dumps({"seconds": round(elapsed, 1), "clients": args.clients, "ok": ok,
                      "ok_per_s": round(tally.ok_in_time / args.seconds, 3), "failures": failures,
                      "counts": dict(sorted(tally.counts.items())), "examples": tally.examples}))


if __name__ == "__main__":
    main()
