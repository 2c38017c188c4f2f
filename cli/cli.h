/*
 * cli: the `kiln` command line. main.c dispatches `kiln <command>` to cli_cmd_<command>(); the
 * helpers here are shared by the commands. Only this front end prints, reads the environment
 * and chooses the log sink.
 */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/core.h"
#include "gen/gen.h"

/* Exit codes of every command: 0 success, 1 a negative answer (test failed, token rejected),
 * 2 bad usage or input kiln could not use. */
#define CLI_EXIT_OK   0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_BAD  2

int cli_cmd_run(int argc, char **argv);
int cli_cmd_tokenize(int argc, char **argv);
int cli_cmd_detokenize(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_grammar(int argc, char **argv);
int cli_cmd_sandbox(int argc, char **argv);
int cli_cmd_solve(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);

/**
 * The model to use: path when given, else $KILN_MODEL, else the default model fetched by
 * scripts/setup.sh into the source tree's models/ folder. Static storage or path itself.
 */
const char *cli_model_path(const char *path);

/** Parses --device's argument (cpu, cuda or auto); prints an error and returns false if bad. */
bool cli_parse_device(const char *arg, int *out);

/** Parses --kernels' argument (ref, generic, avx2, avx512, amx, best) into a kern_backend_kind,
 * refusing a variant this CPU lacks; prints an error and returns false if bad. */
bool cli_parse_kernels(const char *arg, int *out);

/**
 * Loads the model at path (cli_model_path) on device (a gen_device). When CUDA was asked for
 * and there is none, prints a one-line notice and loads it on the CPU.
 */
int cli_model_load(gen_model **out, const char *path, const gen_model_options *opts, int device,
                   core_err *err);

/** Prints "kiln: <msg>" for err to stderr and returns CLI_EXIT_BAD. */
int cli_fail(const core_err *err);

/** A log sink that prints warnings and errors (all levels when verbose) to stderr. */
core_log cli_log_stderr(bool verbose);

/** Reads all of f into buf (NUL-terminated). CORE_EIO, CORE_ENOMEM. */
int cli_read_all(FILE *f, core_buf *buf, core_err *err);

/** Parses a size/number argument of option opt; prints an error and returns false if bad. */
bool cli_parse_size(const char *opt, const char *arg, size_t *out);
bool cli_parse_float(const char *opt, const char *arg, float *out);

#endif /* KILN_CLI_H */
