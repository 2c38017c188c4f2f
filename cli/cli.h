/*
 * cli: the `kiln` command line. main.c dispatches `kiln <command>` to cli_cmd_<command>(); the
 * helpers here are shared by the commands. Only this front end prints, reads the environment
 * and chooses the log sink.
 */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>
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
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_complete(int argc, char **argv);
int cli_cmd_lsp(int argc, char **argv);
int cli_cmd_patch(int argc, char **argv);

/**
 * The model to use: path when given, else $KILN_MODEL, else the default model fetched by
 * scripts/setup.sh into the source tree's models/ folder. Static storage or path itself.
 */
const char *cli_model_path(const char *path);

/** Parses --device's argument (cpu, cuda or auto); prints an error and returns false if bad. */
bool cli_parse_device(const char *arg, int *out);

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

/** Prints s to f as a JSON string (core_buf_append_json); out of memory prints "". */
void cli_print_json(FILE *f, core_str s);

/** Parses a size/number argument of option opt; prints an error and returns false if bad. */
bool cli_parse_size(const char *opt, const char *arg, size_t *out);
bool cli_parse_float(const char *opt, const char *arg, float *out);

/* ------------------------------------------------------------------------------------------ */
/* Options every model command shares (options.c)                                             */
/* ------------------------------------------------------------------------------------------ */

/* getopt codes of the shared long options; commands number their own below 300. */
enum {
    CLI_OPT_DEVICE = 400,
    CLI_OPT_KERNELS,
    CLI_OPT_SEED,
    CLI_OPT_TEMP,
    CLI_OPT_TOP_K,
    CLI_OPT_TOP_P,
    CLI_OPT_MIN_P,
    CLI_OPT_REPEAT_PENALTY,
    /* apart from the others: kiln patch numbers its own options from 400 */
    CLI_OPT_BACKEND = 450,
    CLI_OPT_BACKEND_KEY,
    CLI_OPT_BACKEND_KEY_FILE,
    CLI_OPT_BACKEND_MODEL,
    CLI_OPT_BACKEND_CA,
};

/* The model options, for appending to a command's table (no terminator): -m, -t, --device,
   --kernels. */
/* clang-format off */
#define CLI_MODEL_LONGOPTS                                                                         \
    {"model", required_argument, NULL, 'm'},                                                       \
    {"threads", required_argument, NULL, 't'},                                                     \
    {"device", required_argument, NULL, CLI_OPT_DEVICE},                                           \
    {"kernels", required_argument, NULL, CLI_OPT_KERNELS}
/* --seed and --temp */
#define CLI_SEED_TEMP_LONGOPTS                                                                     \
    {"seed", required_argument, NULL, CLI_OPT_SEED},                                               \
    {"temp", required_argument, NULL, CLI_OPT_TEMP}
/* the sampler's other options */
#define CLI_SAMPLER_LONGOPTS                                                                       \
    {"top-k", required_argument, NULL, CLI_OPT_TOP_K},                                             \
    {"top-p", required_argument, NULL, CLI_OPT_TOP_P},                                             \
    {"min-p", required_argument, NULL, CLI_OPT_MIN_P},                                             \
    {"repeat-penalty", required_argument, NULL, CLI_OPT_REPEAT_PENALTY}
/* the remote backend (--backend-key is there only to be refused with a reason) */
#define CLI_BACKEND_LONGOPTS                                                                       \
    {"backend", required_argument, NULL, CLI_OPT_BACKEND},                                         \
    {"backend-key", optional_argument, NULL, CLI_OPT_BACKEND_KEY},                                 \
    {"backend-key-file", required_argument, NULL, CLI_OPT_BACKEND_KEY_FILE},                       \
    {"backend-model", required_argument, NULL, CLI_OPT_BACKEND_MODEL},                             \
    {"backend-ca", required_argument, NULL, CLI_OPT_BACKEND_CA}
/* clang-format on */

/** What -m, -t, --device and --kernels chose. */
typedef struct cli_model_opts {
    const char *path;             /* -m, NULL: cli_model_path's default */
    size_t n_threads;             /* -t (default 1) */
    int device;                   /* --device: a gen_device (default GEN_DEVICE_AUTO) */
    gen_model_options load;       /* --kernels sets load.kernels / load.kernel_variant */
    const char *backend;          /* --backend URL: write with this remote server (NULL: local) */
    const char *backend_key_file; /* --backend-key-file; else $KILN_BACKEND_KEY */
    const char *backend_model;    /* --backend-model: the "model" field sent */
    const char *backend_ca;       /* --backend-ca: CA bundle for https */
} cli_model_opts;

void cli_model_opts_init(cli_model_opts *o);
/**
 * Handles getopt code c of CLI_MODEL_LONGOPTS or CLI_BACKEND_LONGOPTS (with its argument);
 * returns 1 when handled, 0 when c is not one of them, -1 when the argument is bad (the message
 * is printed). --kernels NAME (ref, generic, avx2, avx512, amx) is refused by name where this
 * CPU lacks the variant; --backend-key is always refused (a key on the command line shows in
 * ps and in shell histories).
 */
int cli_model_option(cli_model_opts *o, int c, const char *arg);
/** The same for CLI_SEED_TEMP_LONGOPTS and CLI_SAMPLER_LONGOPTS, into s. */
int cli_sampling_option(gen_sampler_options *s, int c, const char *arg);
/** Help lines of the shared options. */
void cli_model_usage(FILE *f, size_t n_threads_default);
void cli_sampling_usage(FILE *f, bool seed_temp_only);
void cli_backend_usage(FILE *f);
/** Loads the model o names on its device (cli_model_load), vocab_only as asked. */
int cli_model_open(gen_model **out, const cli_model_opts *o, bool vocab_only, core_err *err);

#endif /* KILN_CLI_H */
