"""A small LSP client over a subprocess's pipes (standard library only), shared by the hostile
test (tests/lsp/hostile.py) and the benchmark (scripts/bench-lsp.py). It frames messages,
keeps responses by id and notifications in arrival order, and times requests."""

import json
import os
import select
import subprocess
import time


class Client:
    """A client of the server argv starts, or (sock) of one reached over a connected socket."""

    def __init__(self, argv=None, env=None, sock=None):
        self.sock = sock
        self.proc = None if sock else subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.buf = b""
        self.next_id = 1
        self.responses = {}
        self.notifications = []
        self.arrival = {}

    # --- output -------------------------------------------------------------------------
    def send_raw(self, data):
        if self.sock:
            self.sock.sendall(data)
            return
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    # --- input --------------------------------------------------------------------------
    def _read_some(self, timeout):
        fd = self.sock.fileno() if self.sock else self.proc.stdout.fileno()
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return False
        chunk = self.sock.recv(1 << 16) if self.sock else os.read(fd, 1 << 16)
        if not chunk:
            raise EOFError("server closed its output")
        self.buf += chunk
        return True

    def _parse(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = None
            for line in self.buf[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise ValueError("server sent a header without Content-Length: %r" % self.buf[:end])
            if len(self.buf) < end + 4 + length:
                return
            msg = json.loads(self.buf[end + 4:end + 4 + length])
            self.buf = self.buf[end + 4 + length:]
            if "id" in msg and "method" not in msg:
                self.responses[msg["id"]] = msg
                self.arrival[msg["id"]] = time.perf_counter()
            else:
                self.notifications.append(msg)

    def wait(self, rid, timeout=60.0):
        deadline = time.monotonic() + timeout
        while rid not in self.responses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no response to request %r" % (rid,))
            if self._read_some(left):
                self._parse()
        return self.responses.pop(rid)

    def call(self, method, params, timeout=60.0):
        return self.wait(self.request(method, params), timeout)

    # --- lifecycle ----------------------------------------------------------------------
    def initialize(self, encodings=("utf-16",), inline=True):
        caps = {"general": {"positionEncodings": list(encodings)}, "textDocument": {}}
        if inline:
            caps["textDocument"]["inlineCompletion"] = {}
        r = self.call("initialize", {"processId": os.getpid(), "rootUri": None,
                                     "capabilities": caps})
        self.notify("initialized", {})
        return r

    def close(self, timeout=10.0):
        try:
            self.call("shutdown", None, timeout)
            self.notify("exit", None)
        except (BrokenPipeError, EOFError, TimeoutError):
            pass
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
