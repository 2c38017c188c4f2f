#!/usr/bin/env python3
"""kiln-logits (tests/tools/logits.c), as scripts/compare-logits.py uses it: greedy steps, then
the same tokens forced, give the same logits bit for bit and argmaxes equal to the choices it
prints; bad input is refused with exit 2 and a message naming it.
Usage: logits_test.py KILN_LOGITS MODEL   (exit 77: no model)
"""
import array
import os
import subprocess
import sys
import tempfile

PROMPT = "1604 3987 46477 24 94 727"  # "def fibonacci(n):" in SmolLM2's vocabulary
STEPS = 12
FAILED = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAILED", what))
    if not cond:
        FAILED.append(what)


def run(binary, model, ids_text, out, extra=()):
    return subprocess.run([binary, "-m", model, "--out", out] + list(extra), input=ids_text,
                          capture_output=True, text=True, timeout=300)


def rows(path, n_rows):
    data = array.array("f")
    with open(path, "rb") as f:
        data.frombytes(f.read())
    n_vocab = len(data) // n_rows if n_rows else 0
    return n_vocab, [data[i * n_vocab:(i + 1) * n_vocab] for i in range(n_rows)]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, model = sys.argv[1:3]
    if not os.path.isfile(model):
        print("skipped: no model at %s" % model)
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        greedy_out = os.path.join(tmp, "greedy.f32")
        forced_out = os.path.join(tmp, "forced.f32")
        p = run(binary, model, PROMPT + "\n", greedy_out, ["-n", str(STEPS)])
        check(p.returncode == 0, "greedy run (rc=%d %s)" % (p.returncode, p.stderr.strip()))
        greedy = p.stdout.split()
        check(len(greedy) == STEPS, "%d greedy choices printed (%d)" % (STEPS, len(greedy)))
        p = run(binary, model, "%s\n%s\n" % (PROMPT, " ".join(greedy)), forced_out)
        check(p.returncode == 0, "forced run (rc=%d %s)" % (p.returncode, p.stderr.strip()))
        check(p.stdout.split() == greedy, "forcing the greedy choices prints them again")
        with open(greedy_out, "rb") as a, open(forced_out, "rb") as b:
            same = a.read() == b.read()
        check(same, "greedy and forced logits are the same bytes")
        n_vocab, logits = rows(forced_out, len(greedy))
        check(n_vocab == 49152, "one row of 49152 logits a step (%d)" % n_vocab)
        argmax = [str(max(range(len(r)), key=r.__getitem__)) for r in logits]
        check(argmax == greedy, "each row's argmax is the printed choice")
        for ids, what in (("1604 abc\n", "bad token id"), ("99999999\n", "bad token id"),
                          ("\n", "first line")):
            p = run(binary, model, ids, forced_out)
            check(p.returncode == 2 and what in p.stderr,
                  "input %r: exit 2 naming it (rc=%d %s)" % (ids, p.returncode, p.stderr.strip()))
        p = subprocess.run([binary], capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and "usage" in p.stderr, "no options: usage, exit 2")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
