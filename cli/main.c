/*
 * The kiln command line: `kiln <command> [options]`. Each command lives in cli/cmd_<name>.c.
 *
 * Built twice where the front ends are built. `kiln-full` has every command. `kiln`
 * (KILN_SLIM) has the model commands only (run, tokenize, detokenize, bench) and so maps none
 * of the libraries the others need: the dynamic linking of libcurl's, libgit2's and
 * libmicrohttpd's dependencies (some 40 libraries, several bound at load) cost about 6 ms of
 * every start, an eighth of the start-to-first-token budget. For any other command (and for
 * help) `kiln` executes kiln-full from its own directory in the same process, with the same
 * arguments.
 */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"run", cli_cmd_run, "generate text from a prompt with a GGUF model"},
    {"tokenize", cli_cmd_tokenize, "print the token ids of standard input"},
    {"detokenize", cli_cmd_detokenize, "print the text of token ids read from standard input"},
    {"bench", cli_cmd_bench, "measure prompt-processing and generation speed"},
#ifdef KILN_HAVE_GRAMMAR
    {"grammar", cli_cmd_grammar, "check or replay source files against a tree-sitter grammar"},
#endif
#ifdef KILN_HAVE_SANDBOX
    {"sandbox", cli_cmd_sandbox, "run a candidate and its tests in the sandbox"},
#endif
#ifdef KILN_HAVE_SOLVE
    {"solve", cli_cmd_solve, "plan, write, test, repair and rank code for one task"},
    {"eval", cli_cmd_eval, "run a HumanEval/MBPP task file through the pipeline: pass@k"},
    {"complete", cli_cmd_complete, "the completion at a cursor of a file (LINE:COL)"},
#endif
#ifdef KILN_HAVE_LSP
    {"lsp", cli_cmd_lsp, "the language server, on standard input and output"},
#endif
#ifdef KILN_HAVE_SERVE
    {"serve", cli_cmd_serve, "serve completions, chat and the pipeline over HTTP"},
#endif
#ifdef KILN_HAVE_PATCH
    {"patch", cli_cmd_patch, "write and verify patches for a git repository's stubs"},
#endif
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln <command> [options]\n\n"
               "kiln writes code with a local language model, checks it, and tests it.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(f, "\n`kiln <command> --help` describes a command's options.\n"
               "The default model is models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/setup.sh "
               "fetches it);\n$KILN_MODEL or -m PATH chooses another.\n");
}

#ifdef KILN_SLIM
/* Replaces this process by kiln-full beside this binary; returns only when that fails. */
static int exec_full(char **argv)
{
    static const char full[] = "kiln-full";
    char path[4096];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - sizeof(full));
    char *slash = n > 0 ? memrchr(path, '/', (size_t)n) : NULL;
    if (!slash) {
        fprintf(stderr, "kiln: readlink /proc/self/exe: %s\n",
                n < 0 ? strerror(errno) : "no directory");
        return CLI_EXIT_BAD;
    }
    memcpy(slash + 1, full, sizeof(full));
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr,
            "kiln: %s: %s (kiln runs its commands other than run, tokenize, detokenize "
            "and bench there)\n",
            path, strerror(errno));
    return CLI_EXIT_BAD;
}
#endif

int main(int argc, char **argv)
{
#ifdef KILN_SLIM
    for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    return exec_full(argv);
#endif
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_BAD;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln %s\n", KILN_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_BAD;
}
