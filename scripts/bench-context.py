#!/usr/bin/env python3
"""Does the repository context help? Completions that need something only another file of the
workspace says: how many arguments a function imported from it takes, or which functions a
module imported whole defines. Each case is a small workspace written into a temporary folder;
`kiln complete --json` completes the cursor once with the repository context (--context-tokens
384, the default) and once without it (--context-tokens 0), greedy, the default model. A
completion counts when the call it writes has as many arguments as the definition has
parameters (a call case), or when it names a function the module defines (a module case).

Usage: python3 scripts/bench-context.py [--kiln build/release/cli/kiln] [--model PATH]
       [--threads 2] [--verbose]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, {file: text}, document with "<|>" at the cursor, check): check is ("arity", n) or
# ("names", [function names]).
CASES = [
    ("pricing.apply_discount",
     {"pricing.py": 'def apply_discount(total, code, rate):\n'
                    '    """Returns total reduced by rate when code is valid."""\n'
                    '    return total\n'},
     "from pricing import apply_discount\n\n\ndef checkout(cart, code, rate):\n"
     "    total = sum(item.price for item in cart)\n    return apply_discount(<|>\n",
     ("arity", 3)),
    ("pricing.shipping_cost",
     {"pricing.py": 'def shipping_cost(weight_kg, distance_km, express):\n'
                    '    """Cost of shipping a parcel."""\n    return 0\n'},
     "from pricing import shipping_cost\n\n\ndef quote(parcel, route, express):\n"
     "    return shipping_cost(<|>\n",
     ("arity", 3)),
    ("shapes.Rectangle",
     {"shapes.py": 'class Rectangle:\n'
                   '    def __init__(self, width, height, color):\n'
                   '        """A filled rectangle."""\n        self.width = width\n'},
     "from shapes import Rectangle\n\n\ndef make(w, h, c):\n    return Rectangle(<|>\n",
     ("arity", 3)),
    ("mailer.send",
     {"mailer.py": 'def send(to, subject, body, retries):\n'
                   '    """Sends one message, trying retries times."""\n    return True\n'},
     "from mailer import send\n\n\ndef notify(user, text):\n    return send(<|>\n",
     ("arity", 4)),
    ("db.connect",
     {"db/__init__.py": "",
      "db/conn.py": 'def connect(host, port, user, password):\n'
                    '    """Opens a connection."""\n    return None\n'},
     "from db.conn import connect\n\n\ndef open_db(cfg):\n    return connect(<|>\n",
     ("arity", 4)),
    ("geometry.*",
     {"geometry.py": 'def rect_area(width, height):\n    """Area."""\n    return width * height\n'
                     '\n\ndef circle_area(radius):\n    """Area."""\n    return radius\n'},
     "import geometry\n\n\ndef floor_area(room):\n    return geometry.<|>\n",
     ("names", ["rect_area", "circle_area"])),
    ("textutil.*",
     {"textutil.py": 'def normalize_spaces(text):\n    """Collapses runs of blanks."""\n'
                     '    return text\n\n\ndef strip_accents(text):\n    """Removes accents."""\n'
                     '    return text\n'},
     "import textutil as tu\n\n\ndef clean(s):\n    return tu.<|>\n",
     ("names", ["normalize_spaces", "strip_accents"])),
    ("util.h clamp",
     {"util.h": "/* Limits value to [lo, hi]. */\nint clamp(int value, int lo, int hi);\n"},
     '#include "util.h"\n\nint level(int x)\n{\n    return clamp(<|>\n}\n',
     ("arity", 3)),
]


def call_arity(text):
    """Arguments of the call the completion closes, or None when it does not close it."""
    depth, n, content = 0, 0, False
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return n + 1 if content else 0
            depth -= 1
        elif ch == "," and depth == 0:
            n += 1
        elif not ch.isspace():
            content = True
        if ch == "\n":
            return None
    return None


def run_case(args, files, doc, context_tokens):
    with tempfile.TemporaryDirectory(prefix="kiln-bench-context-") as d:
        for name, text in files.items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        at = doc.index("<|>")
        text = doc.replace("<|>", "")
        ext = ".c" if any(n.endswith(".h") for n in files) else ".py"
        main = os.path.join(d, "main" + ext)
        with open(main, "w") as f:
            f.write(text)
        line = text[:at].count("\n") + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        argv = [args.kiln, "complete", main, "--at", "%d:%d" % (line, col), "--json",
                "--context-tokens", str(context_tokens), "--root", d, "-t", str(args.threads)]
        if args.model:
            argv += ["-m", args.model]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if r.returncode not in (0, 1):
            raise RuntimeError("kiln complete failed: %s" % r.stderr.strip())
        out = json.loads(r.stdout)
        cands = out["candidates"]
        return (cands[0]["text"] if cands else ""), out["tokens"]["context"]


def hit(check, text):
    kind, want = check
    if kind == "arity":
        return call_arity(text) == want
    return any(text.startswith(name) for name in want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(REPO, "build", "release", "cli", "kiln"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    hits = {384: 0, 0: 0}
    ctx_tokens = []
    print("%-24s %-28s %-28s" % ("case", "with context", "without"))
    for name, files, doc, check in CASES:
        row = []
        for ct in (384, 0):
            text, n_ctx = run_case(args, files, doc, ct)
            ok = hit(check, text)
            hits[ct] += ok
            if ct:
                ctx_tokens.append(n_ctx)
            row.append("%s %r" % ("yes" if ok else "no ", text[:22]))
        print("%-24s %-28s %-28s" % (name, row[0], row[1]))
    n = len(CASES)
    print("bench-context: %d cases, default model, greedy: right with the repository context "
          "%d/%d, without %d/%d; context tokens, median %d" %
          (n, hits[384], n, hits[0], n, sorted(ctx_tokens)[len(ctx_tokens) // 2]))


if __name__ == "__main__":
    sys.exit(main())
