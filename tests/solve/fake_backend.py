#!/usr/bin/env python3
"""A misbehaving OpenAI-compatible server for kiln's remote-backend tests (standard library only).

The first path segment picks the behaviour (kiln posts to BASE/v1/completions, so a base URL of
http://HOST:PORT/MODE reaches MODE):
  ok        a good stream: one sum_of_squares body, piece by piece, then finish_reason "stop"
  reject    the first request's first piece breaks the grammar; later ones are good
  cut       as reject, but for every request whose logit_bias bans nothing (-100; stateless)
  garbage   200 text/event-stream whose data is not JSON
  noevents  200 with a body that has no server-sent events
  midstream two good pieces, then the connection closes without a finish_reason or [DONE]
  busy      429 with Retry-After: 1 for the first two requests, then a good stream
  auth      401 unless 'Authorization: Bearer sesame'
GET /log returns every request seen (path, time, body) as JSON. The chosen port is printed on
stdout's first line.
"""
import http.server
import json
import sys
import threading
import time

BODY = [" return", " sum", "(x", " *", " x", " for", " x", " in", " nums", ")\n"]
LOCK = threading.Lock()
LOG = []


def count(mode):
    with LOCK:
        return sum(1 for e in LOG if e["mode"] == mode)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with LOCK:
            data = json.dumps(LOG).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def plain(self, status, text, extra=()):
        data = text.encode()
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def event(self, text, finish=None):
        chunk = {"choices": [{"index": 0, "text": text, "finish_reason": finish}]}
        self.wfile.write(("data: " + json.dumps(chunk) + "\n\n").encode())
        self.wfile.flush()

    def good_stream(self, pieces=BODY):
        self.stream_start()
        self.wfile.write(b": keep-alive comment\n\n")
        for p in pieces:
            self.event(p)
        self.event("", "stop")
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        mode = self.path.strip("/").split("/")[0]
        seen = count(mode)
        with LOCK:
            LOG.append({"mode": mode, "t": time.monotonic(), "body": json.loads(body)})
        if mode == "ok":
            self.good_stream()
        elif mode == "reject":
            self.good_stream([" return )("] if seen == 0 else BODY)
        elif mode == "cut":
            bans = [v for v in (json.loads(body).get("logit_bias") or {}).values() if v == -100]
            self.good_stream(BODY if bans else [" return )("])
        elif mode == "garbage":
            self.stream_start()
            self.wfile.write(b"data: this is not json\n\n")
            self.close_connection = True
        elif mode == "noevents":
            self.stream_start()
            self.wfile.write(b"<html>hello</html>\n")
            self.close_connection = True
        elif mode == "midstream":
            self.stream_start()
            self.event(BODY[0])
            self.event(BODY[1])
            self.close_connection = True
        elif mode == "busy":
            if seen < 2:
                self.plain(429, '{"error":{"message":"busy"}}', [("Retry-After", "1")])
            else:
                self.good_stream()
        elif mode == "auth":
            if self.headers.get("Authorization") != "Bearer sesame":
                self.plain(401, '{"error":{"message":"bad key"}}')
            else:
                self.good_stream()
        else:
            self.plain(404, '{"error":{"message":"no such mode"}}')


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
