#!/usr/bin/env bash
# Measures the pipeline (plan, write, test, repair, rank) on kiln's own task set and prints the
# table of issue 7: plain sampling pass@1 and pass@10, kiln's ranked top-1 and oracle, each
# ablation (full kiln minus one stage), time per task, tokens/s and where the time goes, the
# two target ratios, and the counts that would reveal cheating.
#
# Configurations (each on eval/bench/kiln-python.jsonl and eval/bench/kiln-c.jsonl, -n N):
#   plain       --no-plan --no-grammar --no-repair   (raw sampling: pass@1, pass@10)
#   kiln        all stages, default repair rounds
#   no-plan     kiln without the plan
#   no-grammar  kiln without the grammar constraint
#   no-repair   kiln without repair rounds
# Each run is `kiln eval FILE --json --out DIR/<config>-<lang>.results.jsonl` (plus an HTML
# report beside it); kiln eval skips the tasks already in its --out, so an interrupted bench
# resumes where it stopped. The table is computed from the result records (pass@k with the
# unbiased estimator of Chen et al. 2021, pooled over both files).
#
# Builds nothing: build kiln first as the README says (cmake --preset release && cmake --build
# --preset release). Needs root (the sandbox does).
#
# usage: scripts/bench-pipeline.sh [--limit N] [--model PATH] [-n N] [--jobs J] [--out DIR]
#                                  [--configs a,b,...] [--kiln PATH] [--table-only]
#   --limit N      only the first N tasks of each file (a quick run; its own results folder)
#   --model PATH   model file (default: kiln eval's default model)
#   -n N           samples per task (default 10)
#   --jobs J       passed to kiln eval --jobs
#   --out DIR      results folder (default build/bench-pipeline[-limitN])
#   --configs LIST which configurations to run (default: all five)
#   --table-only   run nothing, print the table from the results already in DIR
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kiln="$root/build/release/cli/kiln"
limit=""
model=""
n=10
jobs=""
out=""
configs="plain,kiln,no-plan,no-grammar,no-repair"
table_only=0
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --model | -m) model="$2"; shift 2 ;;
    -n) n="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
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
mkdir -p "$out"
files=("$root/eval/bench/kiln-python.jsonl" "$root/eval/bench/kiln-c.jsonl")
langs=(python c)

flags_of() {
    case "$1" in
    plain) echo "--no-plan --no-grammar --no-repair" ;;
    kiln) echo "" ;;
    no-plan) echo "--no-plan" ;;
    no-grammar) echo "--no-grammar" ;;
    no-repair) echo "--no-repair" ;;
    *) return 1 ;;
    esac
}

IFS=, read -r -a config_list <<<"$configs"
for cfg in "${config_list[@]}"; do
    if ! flags_of "$cfg" >/dev/null; then
        echo "bench-pipeline: unknown configuration '$cfg'" >&2
        exit 2
    fi
done

failed=0
if [ "$table_only" -eq 0 ]; then
    if [ ! -x "$kiln" ]; then
        echo "bench-pipeline: $kiln not found; build kiln first (see README.md) or pass --kiln" >&2
        exit 2
    fi
    for cfg in "${config_list[@]}"; do
        for i in 0 1; do
            base="$out/$cfg-${langs[$i]}"
            ks="1,$n"
            [ "$n" -eq 1 ] && ks=1
            read -r -a stage_flags <<<"$(flags_of "$cfg")"
            cmd=("$kiln" eval "${files[$i]}" -n "$n" -k "$ks" ${stage_flags[@]+"${stage_flags[@]}"}
                --json --out "$base.results.jsonl" --report "$base.html")
            [ -n "$limit" ] && cmd+=(--limit "$limit")
            [ -n "$model" ] && cmd+=(-m "$model")
            [ -n "$jobs" ] && cmd+=(--jobs "$jobs")
            echo "bench-pipeline: $cfg ${langs[$i]}: ${cmd[*]}" >&2
            if ! "${cmd[@]}" >"$base.summary.json" 2>"$base.log"; then
                echo "bench-pipeline: $cfg ${langs[$i]} failed (see $base.log)" >&2
                tail -3 "$base.log" >&2 || true
                failed=1
            fi
        done
    done
fi

/usr/bin/python3 - "$out" "$n" "${limit:-0}" "$configs" "${files[@]}" <<'PY' || failed=1
import json
import os
import re
import sys

out, n_samples, limit, configs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
task_files = sys.argv[5:]
configs = configs.split(",")
LANGS = ["python", "c"]


def task_ids(path):
    ids = []
    with open(path) as f:
        for line in f:
            if line.strip():
                ids.append(json.loads(line)["task_id"])
    return ids[:limit] if limit > 0 else ids


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


def load(cfg):
    """The records of the wanted tasks (last record per task wins) and the bad line count."""
    recs = {}
    bad = 0
    for lang, path in zip(LANGS, task_files):
        wanted = set(task_ids(path))
        res = os.path.join(out, "%s-%s.results.jsonl" % (cfg, lang))
        if not os.path.exists(res):
            continue
        with open(res, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(r, dict) or "summary" in r:
                    continue
                if r.get("task_id") in wanted:
                    recs[r["task_id"]] = r
    return list(recs.values()), bad


def num(x, default=0.0):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else default


def stats(recs):
    s = {"problems": len(recs)}
    if not recs:
        return s
    usable = [(int(num(r.get("n_samples"))), int(num(r.get("n_samples_passed"))))
              for r in recs]
    usable = [(n, c) for n, c in usable if 0 < n and 0 <= c <= n]
    for k in (1, n_samples):
        pts = [passk(n, c, k) for n, c in usable if k <= n]
        s["pass@%d" % k] = sum(pts) / len(pts) if pts else None
    s["ranked"] = sum(1 for r in recs if r.get("ranked_pass") is True) / len(recs)
    s["oracle"] = sum(1 for r in recs if r.get("oracle_pass") is True) / len(recs)
    t = [r.get("timings_ms") if isinstance(r.get("timings_ms"), dict) else {} for r in recs]
    total = sum(num(x.get("total")) for x in t) / 1000.0
    s["s_task"] = total / len(recs)
    s["tok_s"] = sum(num(r.get("tokens")) for r in recs) / total if total > 0 else None
    for stage in ("plan", "write", "test", "repair"):
        s[stage] = sum(num(x.get(stage)) for x in t) / 1000.0 / len(recs)
    vis_not_hidden = 0
    cheat = []
    n_cands = 0
    for r in recs:
        for cand in r.get("candidates") or []:
            if not isinstance(cand, dict):
                continue
            n_cands += 1
            v = (cand.get("visible") or {}).get("verdict")
            h = (cand.get("hidden") or {}).get("verdict")
            if v == "passed" and h in ("failed", "error", "limit"):
                vis_not_hidden += 1
            code = cand.get("code") or ""
            if h == "passed" and CHEAT.search(code):
                cheat.append(r.get("task_id"))
    s["candidates"] = n_cands
    s["vis_not_hidden"] = vis_not_hidden
    s["cheat"] = cheat
    return s


def pct(x):
    return "—" if x is None else "%.1f%%" % (100.0 * x)


def f1(x, fmt="%.1f"):
    return "—" if x is None else fmt % x


rows = {}
bad_total = 0
for cfg in configs:
    recs, bad = load(cfg)
    bad_total += bad
    rows[cfg] = stats(recs)

k = n_samples
print("| config | problems | pass@1 | pass@%d | ranked top-1 | oracle | s/task | tok/s | "
      "plan/write/test/repair s |" % k)
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for cfg in configs:
    s = rows[cfg]
    if s["problems"] == 0:
        print("| %s | 0 | — | — | — | — | — | — | — |" % cfg)
        continue
    print("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
        cfg, s["problems"], pct(s.get("pass@1")), pct(s.get("pass@%d" % k)),
        pct(s["ranked"]), pct(s["oracle"]), f1(s["s_task"]), f1(s["tok_s"], "%.0f"),
        "/".join("%.1f" % s[x] for x in ("plan", "write", "test", "repair"))))
print()

by_lang = [cfg for cfg in ("plain", "kiln") if cfg in configs]
if by_lang:
    print("| config | language | problems | pass@1 | ranked top-1 | oracle |")
    print("|---|---|---:|---:|---:|---:|")
    for cfg in by_lang:
        recs, _ = load(cfg)
        for lang in LANGS:
            s = stats([r for r in recs if r.get("language", "python") == lang])
            if s["problems"]:
                print("| %s | %s | %d | %s | %s | %s |" % (cfg, lang, s["problems"],
                                                         pct(s.get("pass@1")), pct(s["ranked"]),
                                                         pct(s["oracle"])))
    print()

plain = rows.get("plain", {})
full = rows.get("kiln", {})
if full.get("problems") and plain.get("problems") and plain.get("pass@1"):
    ratio = full["ranked"] / plain["pass@1"]
    print("ranked top-1 (kiln) / pass@1 (plain) = %.2f (target >= 2.00: %s)"
          % (ratio, "met" if ratio >= 2.0 else "NOT met"))
elif full.get("problems") and plain.get("problems"):
    print("ranked top-1 (kiln) / pass@1 (plain): plain pass@1 is 0, no ratio")
if full.get("problems") and full.get("oracle"):
    ratio = full["ranked"] / full["oracle"]
    print("ranked top-1 (kiln) / oracle (kiln)   = %.2f (target >= 0.80: %s)"
          % (ratio, "met" if ratio >= 0.8 else "NOT met"))
print()
print("candidates that passed the visible tests but failed the hidden ones: " + ", ".join(
    "%s %d/%d" % (cfg, rows[cfg].get("vis_not_hidden", 0), rows[cfg].get("candidates", 0))
    for cfg in configs))
cheats = [(cfg, t) for cfg in configs for t in rows[cfg].get("cheat", [])]
print("hidden-test passes whose code exits early or prints a verdict (exit, os._exit, sys.exit, "
      "abort, print(\"PASS\") ...): %d%s" % (
          len(cheats), "" if not cheats else " (" + ", ".join(
              "%s %s" % c for c in cheats[:10]) + (" ..." if len(cheats) > 10 else "") + ")"))
if bad_total:
    print("result lines that did not parse: %d" % bad_total)
walls = []
for cfg in configs:
    wall = None
    for lang in LANGS:
        try:
            with open(os.path.join(out, "%s-%s.summary.json" % (cfg, lang)),
                      encoding="utf-8", errors="replace") as f:
                last = [l for l in f.read().splitlines() if l.strip()][-1]
            summ = json.loads(last)
            w = summ.get("wall_seconds", summ.get("seconds"))
            if isinstance(w, (int, float)):
                wall = (wall or 0.0) + w
        except (OSError, ValueError, IndexError, AttributeError):
            pass
    if wall is not None:
        walls.append("%s %.0f s" % (cfg, wall))
if walls:
    print("wall time of the last kiln eval runs (their summaries): " + ", ".join(walls))
missing = [cfg for cfg in configs if rows[cfg]["problems"] == 0]
if missing:
    print("no results for: " + ", ".join(missing))
print("s/task, tok/s and stage times are per task from the records (timings_ms, tokens); "
      "results and HTML reports: " + out)
PY
exit "$failed"
