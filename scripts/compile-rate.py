#!/usr/bin/env python3
"""How many generated candidates the language's own compiler accepts.

Reads kiln eval result files (JSON lines, one record per problem with its candidates) and,
for every candidate, asks the real front end: CPython's compile() for Python, `cc
-fsyntax-only` for C. A candidate that ended by itself ("ended": true) is finished; one the
token cap cut is counted apart and never as accepted, and so is one whose end kiln's end gate
refused ("end_refused": the compiler refused it after its fresh tries). Prints one line per
file:

  FILE: finished F (cut C, of which G refused by the end gate), compiler accepts A of F (P%),
        kiln says parses K of F; of the rejected, S for syntax, T for names or types

(`cc -fsyntax-only` also resolves names and types, which no grammar can promise: a C
candidate that uses an undeclared name parses but does not compile.)

and exits 1 when --require-all is given and some finished candidate is rejected for syntax
(the grammar constraint's promise: 100% of finished constrained candidates parse).

usage: scripts/compile-rate.py [--require-all] [--show N] RESULTS.jsonl...
"""
import json
import subprocess
import sys


# gcc's messages for text that does not parse, as opposed to names and types it rejects
C_SYNTAX = ("expected", "stray", "unterminated", "missing terminating", "before", "at end of input")


def is_syntax_error(lang, why):
    """Whether the compiler's first message is about syntax (Python: always)."""
    if lang != "c":
        return True
    return any(k in " ".join(why) for k in C_SYNTAX)


def compiles(lang, code):
    if lang == "c":
        r = subprocess.run(["cc", "-fsyntax-only", "-w", "-x", "c", "-"], input=code.encode(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        errors = [l for l in r.stderr.decode(errors="replace").splitlines() if "error:" in l]
        return r.returncode == 0, [e.split("error:", 1)[1].strip() for e in errors[:1]]
    try:
        compile(code, "<candidate>", "exec")
        return True, []
    except (SyntaxError, ValueError) as e:
        return False, ["%s: %s (line %s)" % (type(e).__name__, e.msg if hasattr(e, "msg") else e,
                                             getattr(e, "lineno", "?"))]


def main(argv):
    require_all = "--require-all" in argv
    show = 0
    files = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--show":
            show = int(argv[i + 1])
            i += 2
            continue
        if a != "--require-all":
            files.append(a)
        i += 1
    if not files:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    status = 0
    for path in files:
        finished = cut = gated = ok = says = syntax = 0
        bad = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or "summary" in rec:
                    continue
                lang = rec.get("language", "python")
                for cand in rec.get("candidates") or []:
                    code = cand.get("code") or ""
                    if not cand.get("ended"):
                        cut += 1
                        gated += bool(cand.get("end_refused"))
                        continue
                    finished += 1
                    says += bool(cand.get("parses"))
                    good, why = compiles(lang, code)
                    ok += good
                    if not good:
                        syntax += is_syntax_error(lang, why)
                        bad.append((rec.get("task_id"), why, code))
        pct = 100.0 * ok / finished if finished else 0.0
        print("%s: finished %d (cut %d, of which %d refused by the end gate), compiler accepts "
              "%d of %d (%.1f%%), kiln says parses %d of %d; of the rejected, %d for syntax, %d "
              "for names or types" % (path, finished, cut, gated, ok, finished, pct, says,
                                      finished, syntax, finished - ok - syntax))
        for task_id, why, code in bad[:show]:
            print("  %s: %s\n    %s" % (task_id, " ".join(why),
                                        code.replace("\n", "\n    ")[:600]))
        if require_all and syntax > 0:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
