#!/usr/bin/env bash
# `kiln eval --shard` end to end: the first tasks of a task file run as 4 shards at the same time
# and merged with `kiln eval merge` give what one unsharded run gives: the summary byte for byte
# and every record byte for byte, leaving out only what a clock measures (the summary's seconds,
# tokens_per_s, wall_seconds and stage_seconds; each record's timings_ms). A cheap configuration
# (the default model, 2 candidates, no plan, no repair, short candidates, one thread) keeps it
# short; one fresh round (the default, named) where nothing passes, so that the fresh rounds'
# seeds are checked to depend on the task and round only, not on which tasks a process ran
# before. Prints both wall times. Exits 77 (skipped) without the default model or the sandbox.
# Usage: tests/eval/shards.sh KILN TASKS.jsonl MODELS_DIR SCRATCH_DIR [N_TASKS]
set -euo pipefail
kiln=$1
tasks=$2
models=$3
tmp=$4
n_tasks=${5:-5}
if [ ! -f "$models/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    echo "skipped: no default model in $models (scripts/setup.sh fetches it)"
    exit 77
fi
rm -rf "$tmp"
mkdir -p "$tmp"
cd "$tmp"
head -n "$n_tasks" "$tasks" >tasks.jsonl
opts=(-m "$models/SmolLM2-135M-Instruct.Q4_1.gguf" -n 2 -k "1,2" --no-plan --no-repair
    --fresh-rounds 1 --max-tokens 32 -t 1 --jobs 1 --json)

now() { date +%s.%N; }
t0=$(now)
rc=0
"$kiln" eval tasks.jsonl "${opts[@]}" --out whole.jsonl >whole.out 2>whole.err || rc=$?
t1=$(now)
if [ $rc -ne 0 ]; then
    if grep -q 'need the sandbox' whole.err; then
        echo "skipped: $(cat whole.err)"
        exit 77
    fi
    echo "unsharded run failed (exit $rc):" >&2
    cat whole.err >&2
    exit 1
fi
pids=()
for i in 0 1 2 3; do
    "$kiln" eval tasks.jsonl "${opts[@]}" --shard "$i/4" >"shard$i.out" 2>"shard$i.err" &
    pids+=($!)
done
for i in 0 1 2 3; do
    if ! wait "${pids[$i]}"; then
        echo "shard $i/4 failed:" >&2
        cat "shard$i.err" >&2
        exit 1
    fi
done
t2=$(now)
"$kiln" eval merge -k 1,2 --json --out merged.jsonl --report merged.html \
    tasks.shard-{0,1,2,3}-of-4.results.jsonl >merged.out

untimed_summary() { tail -n 1 "$1" | sed -E 's/,"seconds":[^,]*,"tokens_per_s":[^,]*,"wall_seconds":[^,]*,"stage_seconds":\{[^}]*\}//'; }
untimed_records() { grep -v '^{"summary":' "$1" | sed -E 's/,"timings_ms":\{[^}]*\}//'; }
untimed_summary whole.out >whole.summary
untimed_summary merged.out >merged.summary
untimed_records whole.jsonl >whole.records
untimed_records merged.jsonl >merged.records
echo "unsharded: $(cat whole.summary)"
echo "merged:    $(cat merged.summary)"
grep -q "^{\"problems\":$n_tasks,\"refused\":0,\"n\":2,\"pass_at_k\":{\"1\":" whole.summary
[ "$(wc -l <merged.records)" -eq "$n_tasks" ]
grep -q '"fresh_rounds_run":1' whole.records # some task drew a fresh round
grep -q '<html' merged.html
if ! cmp whole.summary merged.summary || ! cmp whole.records merged.records; then
    echo "the merged shards differ from the unsharded run" >&2
    diff whole.records merged.records | head -c 2000 >&2 || true
    exit 1
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "wall: unsharded %.1f s, 4 shards at once %.1f s (ratio %.2f)\n", b - a, c - b, (c - b) / (b - a) }'
