#!/usr/bin/env bash
# Sharded `kiln eval` on Slurm: array task i runs `kiln eval TASKS --shard i/N`, and a merge job
# that depends on the whole array joins the results into the summary and report of one run.
#   deploy/slurm-eval.sh TASKS.jsonl RESULTS_DIR [kiln eval options...]
# run on a login node submits both (sbatch); the summary lands in RESULTS_DIR/merge-JOB.out,
# the merged results and report in RESULTS_DIR/merged.jsonl and RESULTS_DIR/report.html.
# N is the array's size (--array=0-(N-1) below) and must equal SHARDS
# (tests/deploy/check_manifests.py checks both). $KILN is the kiln binary (default: kiln on
# PATH); the sandbox needs root on the compute nodes, or a user allowed to make namespaces and
# cgroups (see README.md, Sandbox).
#SBATCH --job-name=kiln-eval
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
set -euo pipefail
SHARDS=4
kiln=${KILN:-kiln}

if [ $# -lt 2 ]; then
    echo "usage: $0 TASKS.jsonl RESULTS_DIR [kiln eval options...]" >&2
    exit 2
fi
tasks=$1
results=$2
shift 2

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    # One shard. A requeued task resumes from its --out.
    if [ "${SLURM_ARRAY_TASK_COUNT:-$SHARDS}" != "$SHARDS" ]; then
        echo "array of ${SLURM_ARRAY_TASK_COUNT} tasks, but SHARDS=$SHARDS" >&2
        exit 2
    fi
    exec "$kiln" eval "$tasks" "$@" -t "${SLURM_CPUS_PER_TASK:-2}" \
        --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" \
        --out "$results/shard-$SLURM_ARRAY_TASK_ID.jsonl"
fi

if [ "${KILN_EVAL_MERGE:-}" = 1 ]; then
    # The merge, after every array task succeeded. The -k list must be the shards' own.
    files=()
    for ((i = 0; i < SHARDS; i++)); do
        files+=("$results/shard-$i.jsonl")
    done
    k=1,10
    for ((j = 1; j <= $#; j++)); do
        [ "${!j}" = -k ] && { n=$((j + 1)); k=${!n}; }
    done
    exec "$kiln" eval merge -k "$k" --json --out "$results/merged.jsonl" \
        --report "$results/report.html" "${files[@]}"
fi

# On the login node: submit the array, then the merge depending on all of it.
mkdir -p "$results"
array=$(sbatch --parsable --output="$results/shard-%a.log" "$0" "$tasks" "$results" "$@")
# --wrap: the merge's job script is a one-line wrapper, so this file's #SBATCH lines (the
# array) do not apply to it.
sbatch --parsable --dependency="afterok:${array%%;*}" --cpus-per-task=1 --mem=1G \
    --job-name=kiln-eval-merge --output="$results/merge-%j.out" \
    --wrap "KILN_EVAL_MERGE=1 $(printf '%q ' "$0" "$tasks" "$results" "$@")"
