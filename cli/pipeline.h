/*
 * Private to cli/: what `kiln solve` and `kiln eval` share (defined in cmd_solve.c): the
 * pipeline's common options, and opening the model, the sandbox pool and the engine.
 */
#ifndef KILN_CLI_PIPELINE_H
#define KILN_CLI_PIPELINE_H

#include "cli/cli.h"

#include <getopt.h>

#include "gen/gen.h"
#include "solve/solve.h"
#include "sandbox/sbx.h"

/* getopt codes of the shared options; commands number their own from CLI_PIPE_OPT_END. */
enum {
    CLI_PIPE_OPT_ROUNDS = 300,
    CLI_PIPE_OPT_NO_PLAN,
    CLI_PIPE_OPT_NO_GRAMMAR,
    CLI_PIPE_OPT_NO_REPAIR,
    CLI_PIPE_OPT_MAX_TOKENS,
    CLI_PIPE_OPT_GREEDY_FIRST,
    CLI_PIPE_OPT_WEIGHTS,
    CLI_PIPE_OPT_JOBS,
    CLI_PIPE_OPT_GEN_TESTS,
    CLI_PIPE_OPT_PROBES,
    CLI_PIPE_OPT_PLAN,
    CLI_PIPE_OPT_NO_END_GATE,
    CLI_PIPE_OPT_REPAIR,
    CLI_PIPE_OPT_FRESH_ROUNDS,
    CLI_PIPE_OPT_FRESH_AGREE,
    CLI_PIPE_OPT_END,
};

/* The long options above and the shared model, seed and temperature options, for appending to
   a command's table (no terminator). */
/* clang-format off */
#define CLI_PIPE_LONGOPTS                                                                          \
    CLI_MODEL_LONGOPTS,                                                                            \
    CLI_BACKEND_LONGOPTS,                                                                          \
    CLI_SEED_TEMP_LONGOPTS,                                                                        \
    {"n", required_argument, NULL, 'n'},                                                           \
    {"rounds", required_argument, NULL, CLI_PIPE_OPT_ROUNDS},                                      \
    {"no-plan", no_argument, NULL, CLI_PIPE_OPT_NO_PLAN},                                          \
    {"no-grammar", no_argument, NULL, CLI_PIPE_OPT_NO_GRAMMAR},                                    \
    {"no-repair", no_argument, NULL, CLI_PIPE_OPT_NO_REPAIR},                                      \
    {"max-tokens", required_argument, NULL, CLI_PIPE_OPT_MAX_TOKENS},                              \
    {"greedy-first", no_argument, NULL, CLI_PIPE_OPT_GREEDY_FIRST},                                \
    {"weights", required_argument, NULL, CLI_PIPE_OPT_WEIGHTS},                                    \
    {"jobs", required_argument, NULL, CLI_PIPE_OPT_JOBS},                                          \
    {"gen-tests", required_argument, NULL, CLI_PIPE_OPT_GEN_TESTS},                                \
    {"probes", required_argument, NULL, CLI_PIPE_OPT_PROBES},                                      \
    {"plan", no_argument, NULL, CLI_PIPE_OPT_PLAN},                                                \
    {"no-end-gate", no_argument, NULL, CLI_PIPE_OPT_NO_END_GATE},                                  \
    {"repair", no_argument, NULL, CLI_PIPE_OPT_REPAIR},                                            \
    {"fresh-rounds", required_argument, NULL, CLI_PIPE_OPT_FRESH_ROUNDS},                          \
    {"fresh-agree", required_argument, NULL, CLI_PIPE_OPT_FRESH_AGREE}
/* clang-format on */

typedef struct cli_pipe {
    cli_model_opts model_opts; /* -m, -t (default 2), --device, --kernels, --backend... */
    size_t n_jobs;             /* --jobs: sandbox runs at once (0: the pool's slots) */
    const char *weights;       /* --weights FILE */
    solve_options opts;
    /* opened by cli_pipe_open */
    gen_model *model;
    sbx_pool *pool;
    solve_engine *engine;
    solve_backend *backend; /* --backend, else NULL */
} cli_pipe;

void cli_pipe_init(cli_pipe *p);
/* Handles a shared option; returns 1 when handled, 0 when not one of them, -1 when bad. */
int cli_pipe_option(cli_pipe *p, int c, const char *arg);
/*
 * The getopt loop of kiln solve and kiln eval: each option goes to cli_pipe_option, then to
 * own(payload, c, arg) (1: taken, 0: not one of its, -1: bad argument, message printed); -h
 * prints usage to stdout, an unknown option or a count of operands other than n_operands
 * prints it to stderr. Returns 0 to go on, -1 after --help, or CLI_EXIT_BAD.
 */
int cli_pipe_getopt(cli_pipe *p, int argc, char **argv, const char *shorts,
                    const struct option *longs, int (*own)(void *payload, int c, const char *arg),
                    void *payload, void (*usage)(FILE *f), int n_operands);
/* Help text of the shared options. */
void cli_pipe_usage(FILE *f);
/* Loads the model, the weights file, the sandbox pool (a host without the sandbox's features
   gets a warning and no pool) and the engine. */
int cli_pipe_open(cli_pipe *p, core_err *err);
void cli_pipe_close(cli_pipe *p);
/* The backend o->backend names, its key read from o->backend_key_file or $KILN_BACKEND_KEY
   (cli/backend.c); *out stays NULL without --backend. */
int cli_backend_open(solve_backend **out, const cli_model_opts *o, core_err *err);

#endif /* KILN_CLI_PIPELINE_H */
