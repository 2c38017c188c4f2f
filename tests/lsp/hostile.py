"""A hostile client for `kiln lsp`: garbage, truncated and malformed headers, a 100 MiB
Content-Length, a flood of didChange, requests for documents never opened, and a client that
vanishes mid-request. The server must answer what deserves an answer, keep serving, keep its
open document intact, hold its memory, and exit cleanly (never by a signal).
Usage: hostile.py KILN"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Client  # noqa: E402

URI = "file:///hostile.py"
TEXT = "def f(x):\n    return x\n\n\ndef g():\n    \n"


def rss_kib(pid):
    """Anonymous resident memory (RssAnon): what buffering a body would grow. The model's
    file-backed pages (a token embedding's rows faulted in by a lookup) do not count."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def expect_error(c, code, what):
    deadline = time.monotonic() + 30
    while None not in c.responses:
        if time.monotonic() > deadline:
            raise AssertionError("no error answer to " + what)
        if c._read_some(1.0):
            c._parse()
    r = c.responses.pop(None)
    assert r["error"]["code"] == code, (what, r)


def completion_at(c, line, character):
    return c.call("textDocument/completion", {"textDocument": {"uri": URI},
                                              "position": {"line": line, "character": character}})


def main(kiln):
    c = Client([kiln, "lsp", "-t", "2"])
    c.initialize()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python",
                                                       "version": 1, "text": TEXT}})
    rss0 = rss_kib(c.proc.pid)

    c.send_raw(b"\x00\xff garbage \r\n\r\n")
    expect_error(c, -32700, "garbage")
    c.send_raw(b"Content-Length: 11\r\n\r\n{\"jsonrpc\":")
    expect_error(c, -32700, "a truncated body")
    c.send_raw(b"Content-Len")  # a truncated header, completed by garbage
    c.send_raw(b"gth: twelve\r\n\r\n")
    expect_error(c, -32700, "a header without a number")
    c.send_raw(b"Content-Length: 104857600\r\n\r\n")
    expect_error(c, -32600, "a 100 MiB body")
    chunk = b" " * (1 << 20)
    for _ in range(100):
        c.send_raw(chunk)
    grown = rss_kib(c.proc.pid) - rss0
    assert grown < 32 * 1024, "the 100 MiB body was buffered: RssAnon grew by %d KiB" % grown

    # A flood of one-character edits on the blank line of g(), then a completion there: the
    # textEdit starts at the word's start, which the server knows only if it applied them all.
    n = 1000
    for i in range(n):
        c.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": 2 + i},
            "contentChanges": [{"range": {"start": {"line": 5, "character": 4 + i},
                                          "end": {"line": 5, "character": 4 + i}},
                                "text": "x"}]})
    r = c.call("textDocument/completion", {"textDocument": {"uri": URI},
                                           "position": {"line": 5, "character": 4 + n}}, 180)
    assert "result" in r, r
    for item in r["result"]["items"]:
        assert item["textEdit"]["range"]["start"] == {"line": 5, "character": 4}, item
        assert item["textEdit"]["newText"].startswith("x" * n), item["label"]
    r = c.call("textDocument/completion", {"textDocument": {"uri": "file:///never-opened.py"},
                                           "position": {"line": 0, "character": 0}})
    assert r["error"]["code"] == -32602, r
    r = completion_at(c, 99, 99)  # past the end: clamped
    assert "result" in r, r
    assert c.close() == 0

    # A client that vanishes while a completion runs.
    c = Client([kiln, "lsp", "-t", "2"])
    c.initialize()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python",
                                                       "version": 1, "text": TEXT}})
    c.request("textDocument/completion", {"textDocument": {"uri": URI},
                                          "position": {"line": 1, "character": 12}})
    c.proc.stdin.close()
    c.proc.stdout.close()
    rc = c.proc.wait(30)
    assert rc in (0, 1), "the server ended with %d after its client vanished" % rc
    print("hostile: garbage, truncated headers, 100 MiB body (RssAnon +%d KiB), %d didChange, "
          "vanishing client: ok" % (grown, n))


if __name__ == "__main__":
    main(sys.argv[1])
