#!/usr/bin/env bash
# Checks the benchmark task files (eval/bench/*.jsonl by default) in kiln's sandbox:
#  - every task's canonical solution (prompt + canonical_solution) passes its hidden tests;
#  - it passes its visible tests: the visible_tests field, or for Python tasks without one the
#    prompt's `>>>` examples turned into assert lines (one `>>> call` line and one output line
#    each, the only shape the task files use; eval_doctest_extract makes the same asserts, with
#    floats compared within 1e-6, which changes nothing for the exact floats the examples use);
#  - a trivially wrong solution (Python `return None`, C `return 0` or an empty body) fails the
#    hidden tests, so the hidden tests are not empty or vacuous.
# Prints one line per problem found and a count; exits 1 when any check fails, 2 on bad usage.
# Builds nothing: build kiln first as the README says (or pass --kiln PATH). Needs root (the
# sandbox does).
#
# usage: scripts/check-tasks.sh [--kiln PATH] [-v] [FILE.jsonl ...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kiln="$root/build/release/cli/kiln"
verbose=0
files=()
while [ $# -gt 0 ]; do
    case "$1" in
    --kiln)
        kiln="$2"
        shift 2
        ;;
    -v)
        verbose=1
        shift
        ;;
    -h | --help)
        sed -n "2,14p" "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "check-tasks: unknown option $1" >&2
        exit 2
        ;;
    *)
        files+=("$1")
        shift
        ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    files=("$root/eval/bench/kiln-python.jsonl" "$root/eval/bench/kiln-c.jsonl")
fi
if [ ! -x "$kiln" ]; then
    echo "check-tasks: $kiln not found; build kiln first (see README.md) or pass --kiln" >&2
    exit 2
fi

exec /usr/bin/python3 - "$kiln" "$verbose" "${files[@]}" <<'PY'
import json
import os
import re
import subprocess
import sys
import tempfile

kiln, verbose, files = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]


def doctest_asserts(prompt):
    """`>>> expr` followed by one output line -> `assert expr == output`."""
    lines = prompt.split("\n")
    out = []
    for i, line in enumerate(lines):
        s = line.strip()
        if not s.startswith(">>> "):
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt == "" or nxt.startswith(">>>") or nxt.startswith('"""'):
            out.append(s[4:])
        else:
            out.append("assert %s == %s" % (s[4:], nxt))
    return "\n".join(out) + "\n"


def wrong_solution(task):
    entry = task["entry_point"]
    if task.get("language", "python") == "c":
        proto = [l for l in task["prompt"].split("\n") if l.rstrip().endswith(");")][-1]
        body = "{\n}\n" if proto.lstrip().startswith("void ") else "{\n    return 0;\n}\n"
        return task["prompt"] + "\n" + proto.rstrip().rstrip(";") + "\n" + body
    return "def %s(*args, **kwargs):\n    return None\n" % entry


def run(tmp, lang, candidate, tests, entry):
    ext = "c" if lang == "c" else "py"
    cand_path = os.path.join(tmp, "cand." + ext)
    tests_path = os.path.join(tmp, "tests." + ext)
    with open(cand_path, "w") as f:
        f.write(candidate)
    with open(tests_path, "w") as f:
        f.write(tests)
    p = subprocess.run([kiln, "sandbox", "run", "--lang", lang, "--tests", tests_path,
                        "--entry", entry, "--json", cand_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 2:
        return "kiln-error", p.stderr.strip()
    try:
        res = json.loads(p.stdout)
    except ValueError:
        return "bad-json", p.stdout[:200]
    msgs = [t.get("message", "") for t in res.get("tests", []) if t.get("status") != "passed"]
    return res["verdict"], (res.get("message") or "; ".join(msgs)).strip()[:300]


n_tasks = n_runs = 0
problems = []
ids = set()
with tempfile.TemporaryDirectory(prefix="kiln-check-tasks-") as tmp:
    for path in files:
        counts = {"python": 0, "c": 0}
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = "%s:%d" % (os.path.basename(path), line_no)
                try:
                    task = json.loads(line)
                except ValueError as e:
                    problems.append("%s: not JSON: %s" % (where, e))
                    continue
                tid = task.get("task_id", "?")
                lang = task.get("language", "python")
                entry = task.get("entry_point", "")
                missing = [k for k in ("task_id", "prompt", "entry_point", "test",
                                       "canonical_solution") if not task.get(k)]
                if missing:
                    problems.append("%s %s: missing %s" % (where, tid, ", ".join(missing)))
                    continue
                if tid in ids:
                    problems.append("%s %s: duplicate task_id" % (where, tid))
                ids.add(tid)
                n_tasks += 1
                counts[lang] = counts.get(lang, 0) + 1
                solution = task["prompt"] + task["canonical_solution"]
                visible = task.get("visible_tests")
                if not visible:
                    if lang == "c":
                        problems.append("%s %s: C task without visible_tests" % (where, tid))
                        continue
                    visible = doctest_asserts(task["prompt"])
                    if "assert" not in visible:
                        problems.append("%s %s: no visible tests and no examples" % (where, tid))
                checks = [("hidden", solution, task["test"], "passed"),
                          ("visible", solution, visible, "passed"),
                          ("wrong-hidden", wrong_solution(task), task["test"], "not-passed")]
                for what, cand, tests, want in checks:
                    verdict, msg = run(tmp, lang, cand, tests, entry)
                    n_runs += 1
                    ok = verdict == "passed" if want == "passed" else verdict in ("failed",
                                                                                  "error")
                    if not ok:
                        problems.append("%s %s: %s: verdict %s: %s" % (where, tid, what, verdict,
                                                                      msg))
                    elif verbose:
                        print("ok %s %s %s" % (tid, what, verdict))
        print("%s: %s" % (os.path.relpath(path), ", ".join(
            "%d %s" % (n, l) for l, n in counts.items() if n)))

for p in problems:
    print("FAIL " + p)
print("%d tasks, %d sandbox runs, %d problems" % (n_tasks, n_runs, len(problems)))
sys.exit(1 if problems or n_tasks == 0 else 0)
PY
