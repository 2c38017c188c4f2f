/*
 * Private to cli/: what `kiln eval` (cmd_eval.c) and `kiln eval merge` (cmd_eval_merge.c, which
 * defines these) share: option parsing of shards and pass@k lists, and printing a summary.
 */
#ifndef KILN_CLI_EVAL_INT_H
#define KILN_CLI_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "eval/eval.h"

/* `kiln eval merge SHARD.jsonl...`: argv[0] is "merge". */
int cli_cmd_eval_merge(int argc, char **argv);

/* Parses --shard's I/N; prints an error naming the option and returns false if bad. */
bool cli_eval_parse_shard(const char *arg, eval_shard *out);

/* Parses -k's list (1,10) into ks (at most n_max); prints an error and returns false if bad. */
bool cli_eval_parse_ks(const char *arg, size_t *ks, size_t *n_ks, size_t n_max);

/* Prints a summary (the JSON object of eval_summary_json) to stdout: as it is with json, else as
   the lines of a table. */
void cli_eval_summary_print(const char *summary, bool json);

#endif /* KILN_CLI_EVAL_INT_H */
