#!/usr/bin/python3
"""Corpus measurements of kiln's grammar checker (run by scripts/grammar-corpus.sh).

1. False rejections: every file of the corpus that tree-sitter parses without error is
   replayed piece by piece through the checker; none may be rejected, and each must be
   judged complete at the end. Pieces: with --kiln, the model's tokens (`kiln grammar
   replay`); without, the bench's BPE-like word pieces (no model needed).
2. Early detection: each of those files gets one random token-level mutation (delete or
   duplicate a bracket, a colon, a keyword or an indentation run) that makes tree-sitter
   report an error, and is replayed again. A rejection counts as "at or before the breaking
   token" when the text before the rejected piece is still viable, which an oracle confirms
   by finding a short completion that tree-sitter parses (kiln-gram-bench viable); the oracle
   cannot be wrong when it says yes, so the share is a lower bound.

The word pieces (runs of word characters, runs of blanks, single newlines, single other
bytes) end inside a lexeme as often as BPE tokens do. Mutation sites are chosen on them.
Prints a summary and writes per-file results as JSON lines to --out.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

PY_KEYWORDS = {
    "def", "class", "return", "if", "elif", "else", "for", "while", "in", "not", "and", "or",
    "is", "import", "from", "as", "try", "except", "finally", "with", "lambda", "yield",
    "pass", "break", "continue", "raise", "global", "nonlocal", "assert", "del", "async",
    "await", "None", "True", "False",
}
C_KEYWORDS = {
    "if", "else", "for", "while", "do", "return", "switch", "case", "default", "break",
    "continue", "goto", "struct", "union", "enum", "typedef", "static", "const", "int", "char",
    "void", "unsigned", "signed", "long", "short", "double", "float", "sizeof", "extern",
}
BRACKETS = set("()[]{}")


def split_words(b):
    """The bench's splitter, on bytes; returns piece end offsets."""
    ends = []
    i, n = 0, len(b)

    def word(c):
        return c >= 0x80 or c == 0x5F or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122

    while i < n:
        j = i + 1
        if word(b[i]):
            while j < n and word(b[j]):
                j += 1
        elif b[i] in (0x20, 0x09):
            while j < n and b[j] in (0x20, 0x09):
                j += 1
        ends.append(j)
        i = j
    return ends


def run_bench(bench, args, files):
    out = []
    for k in range(0, len(files), 200):
        p = subprocess.run([bench] + args + files[k:k + 200], capture_output=True, text=True)
        out += [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return out


def run_replay(args, files):
    """Replays files: with --kiln, through `kiln grammar replay` (the model's tokenizer), else
    through the bench's word pieces. Returns bench-style rows."""
    lang = ["--lang", args.lang]
    if not args.kiln:
        return run_bench(args.bench, ["replay"] + lang, files)
    parses = {r["file"]: r for r in run_bench(args.bench, ["check"] + lang, files)}
    rows = []
    for f in files:
        cmd = [args.kiln, "grammar", "replay", "--lang", args.lang, "--json", f]
        if args.model:
            cmd[3:3] = ["-m", args.model]
        p = subprocess.run(cmd, capture_output=True, text=True)
        row = dict(parses.get(f, {"file": f}))
        if p.returncode == 2 or not p.stdout.strip():
            row["error"] = p.stderr.strip()
            rows.append(row)
            continue
        r = json.loads(p.stdout)
        row.update({
            "accepted": r["accepted"], "complete": r["complete"], "tokens": r["tokens"],
            "fed": r["fed"], "rejected_at": r["rejected_at"],
            "ns_total": int(r["us_per_token"] * 1e3 * (r["fed"] + (r["rejected_at"] is not None))),
            "us_max": r["us_max"], "versions_peak": r["versions_peak"],
        })
        if r["rejected_at"] is not None:
            row["rejected_token"] = r["rejected_token"]
            row["rejected_end"] = r["rejected_at"] + len(r["token_text"].encode("utf-8"))
        rows.append(row)
    return rows


def mutation_sites(b, lang):
    """(start, end, kind) of pieces that may be deleted or duplicated."""
    ends = split_words(b)
    sites = []
    start = 0
    keywords = PY_KEYWORDS if lang == "python" else C_KEYWORDS
    for e in ends:
        piece = b[start:e].decode("utf-8", "replace")
        at_line_start = start == 0 or b[start - 1] == 0x0A
        if piece in BRACKETS:
            sites.append((start, e, "bracket"))
        elif piece == ":":
            sites.append((start, e, "colon"))
        elif piece in keywords:
            sites.append((start, e, "keyword"))
        elif lang == "python" and at_line_start and piece.strip(" \t") == "" and e < len(b) \
                and b[e] != 0x0A:
            sites.append((start, e, "indent"))
        start = e
    return sites


def mutate(b, site, op):
    s, e, kind = site
    if op == "delete":
        return b[:s] + b[e:], s
    if kind == "keyword":
        return b[:s] + b[s:e] + b" " + b[s:], s
    return b[:s] + b[s:e] + b[s:], s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--lang", required=True, choices=["python", "c"])
    ap.add_argument("--list", required=True, help="file with one corpus path per line")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-mutations", action="store_true")
    ap.add_argument("--kiln", default=None,
                    help="replay with `kiln grammar replay` (the model's tokenizer)")
    ap.add_argument("--model", default=None, help="model for --kiln (default: kiln's)")
    ap.add_argument("--min-parsed", type=int, default=0,
                    help="fail unless at least this many corpus files parse")
    args = ap.parse_args()

    files = [line.strip() for line in open(args.list) if line.strip()]
    lang = ["--lang", args.lang]
    res = run_replay(args, files)
    parsed = [r for r in res if r.get("parses") is True]
    false_rej = [r for r in parsed if r.get("rejected_at") is not None]
    incomplete = [r for r in parsed if r.get("rejected_at") is None and not r.get("complete")]
    n_tok = sum(r["tokens"] for r in parsed)
    ns = sum(r["ns_total"] for r in parsed)
    summary = {
        "lang": args.lang,
        "files": len(files),
        "files_parsed": len(parsed),
        "tokens": n_tok,
        "false_rejections": len(false_rej),
        "judged_incomplete": len(incomplete),
        "us_per_token": round(ns / max(n_tok, 1) / 1e3, 3),
        "us_max": max((r["us_max"] for r in parsed), default=0),
        "versions_peak": max((r["versions_peak"] for r in parsed), default=0),
    }
    for r in false_rej + incomplete:
        print("FALSE REJECTION:", json.dumps(r), file=sys.stderr)
    outf = open(args.out, "w") if args.out else None
    if outf:
        for r in res:
            outf.write(json.dumps({"phase": "replay", **r}) + "\n")

    if not args.no_mutations:
        rng = random.Random(args.seed)
        tmp = tempfile.mkdtemp(prefix="gram-mut-")
        texts = {}
        for r in parsed:
            texts[r["file"]] = open(r["file"], "rb").read()
        # Pick, per file, mutations in random order until tree-sitter reports an error.
        cands = {}
        for i, (f, b) in enumerate(texts.items()):
            sites = mutation_sites(b, args.lang)
            rng.shuffle(sites)
            kinds = ["bracket", "colon", "keyword", "indent"]
            want = kinds[i % len(kinds)]
            sites.sort(key=lambda s: s[2] != want)  # preferred kind first, stable otherwise
            cands[f] = [(s, rng.choice(["delete", "duplicate"])) for s in sites[:40]]
        chosen = {}
        pending = list(texts)
        serial = 0
        for _ in range(40):
            if not pending:
                break
            paths = []
            meta = {}
            for f in pending:
                if not cands[f]:
                    continue
                site, op = cands[f].pop(0)
                mb, at = mutate(texts[f], site, op)
                serial += 1
                p = os.path.join(tmp, "%06d_%s" % (serial, os.path.basename(f)))
                open(p, "wb").write(mb)
                paths.append(p)
                meta[p] = (f, site, op, at)
            checks = run_bench(args.bench, ["check"] + lang, paths)
            nxt = []
            for c in checks:
                f, site, op, at = meta[c["file"]]
                if c.get("parses") is False:
                    chosen[f] = (c["file"], site, op, at)
                else:
                    nxt.append(f)
                    os.unlink(c["file"])
            pending = [f for f in nxt if cands[f]]
        paths = [v[0] for v in chosen.values()]
        reps = {r["file"]: r for r in run_replay(args, paths)}
        stats = {"mutated": len(chosen), "rejected_streaming": 0, "caught_at_end": 0,
                 "not_caught": 0, "confirmed_at_or_before": 0, "unconfirmed": 0,
                 "before_mutation": 0, "by_kind": {}, "delay_bytes": []}
        for f, (p, site, op, at) in chosen.items():
            r = reps[p]
            kind = "%s-%s" % (site[2], op)
            k = stats["by_kind"].setdefault(kind, {"n": 0, "confirmed": 0})
            k["n"] += 1
            row = {"phase": "mutation", "orig": f, "kind": kind, "mut_byte": at, **r}
            if r.get("rejected_at") is None:
                if r.get("complete"):
                    stats["not_caught"] += 1
                else:
                    stats["caught_at_end"] += 1
                    # the breaking token may be the end itself: is the whole text viable?
                    mb = open(p, "rb").read()
                    v = subprocess.run([args.bench, "viable"] + lang + ["--at", str(len(mb)), p],
                                       capture_output=True, text=True)
                    ok = json.loads(v.stdout).get("viable") is True
                    row["end_viable"] = ok
                    if ok:
                        stats["confirmed_at_or_before"] += 1
                        k["confirmed"] += 1
                    else:
                        stats["unconfirmed"] += 1
            else:
                stats["rejected_streaming"] += 1
                stats["delay_bytes"].append(r["rejected_at"] - at)
                if r["rejected_at"] < at:
                    stats["before_mutation"] += 1
                v = subprocess.run([args.bench, "viable"] + lang +
                                   ["--at", str(r["rejected_at"]), p],
                                   capture_output=True, text=True)
                ok = json.loads(v.stdout).get("viable") is True
                row["oracle_viable_before_rejection"] = ok
                if ok:
                    stats["confirmed_at_or_before"] += 1
                    k["confirmed"] += 1
                else:
                    stats["unconfirmed"] += 1
            if outf:
                outf.write(json.dumps(row) + "\n")
        d = sorted(stats["delay_bytes"])
        stats["delay_bytes_median"] = d[len(d) // 2] if d else None
        stats["delay_bytes_max"] = d[-1] if d else None
        del stats["delay_bytes"]
        stats["confirmed_share"] = round(stats["confirmed_at_or_before"] /
                                         max(stats["mutated"], 1), 4)
        summary["mutations"] = stats
    print(json.dumps(summary, indent=1))
    if outf:
        outf.close()
    if len(parsed) < args.min_parsed:
        print("corpus: only %d files parse, need %d" % (len(parsed), args.min_parsed),
              file=sys.stderr)
        return 1
    return 1 if summary["false_rejections"] or summary["judged_incomplete"] else 0


if __name__ == "__main__":
    sys.exit(main())
