/*
 * `kiln solve`: runs the pipeline (solve/solve.h: plan, write, test, repair, rank) on one task,
 * given as flags or as one HumanEval-format JSON object, and prints the chosen code (or, with
 * --json, the whole result). Also holds what `kiln eval` shares with it (cli/pipeline.h).
 * Exit status: 0 a candidate passes the visible tests (or there are none to run), 1 none does,
 * 2 bad usage or a failure.
 */
#include "cli/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval.h"

/* ------------------------------------------------------------------------------------------ */
/* Shared with kiln eval                                                                      */
/* ------------------------------------------------------------------------------------------ */

void cli_pipe_init(cli_pipe *p)
{
    memset(p, 0, sizeof(*p));
    cli_model_opts_init(&p->model_opts);
    p->model_opts.n_threads = 2;
    p->opts = solve_options_default();
}

int cli_pipe_option(cli_pipe *p, int c, const char *arg)
{
    size_t v = 0;
    float share = 0.0f;
    int h = cli_model_option(&p->model_opts, c, arg);
    if (h != 0) {
        return h;
    }
    if (c == CLI_OPT_SEED || c == CLI_OPT_TEMP) {
        gen_sampler_options s = gen_sampler_options_default();
        s.seed = p->opts.seed;
        s.temp = p->opts.temp;
        h = cli_sampling_option(&s, c, arg);
        p->opts.seed = s.seed;
        p->opts.temp = s.temp;
        return h;
    }
    switch (c) {
    case 'n':
        if (!cli_parse_size("-n", arg, &v) || v == 0 || v > SOLVE_N_MAX) {
            fprintf(stderr, "kiln: -n must be in 1..%d\n", SOLVE_N_MAX);
            return -1;
        }
        p->opts.n_candidates = v;
        return 1;
    case CLI_PIPE_OPT_ROUNDS:
        return cli_parse_size("--rounds", arg, &p->opts.n_rounds) ? 1 : -1;
    case CLI_PIPE_OPT_NO_PLAN:
        p->opts.plan = false;
        return 1;
    case CLI_PIPE_OPT_NO_GRAMMAR:
        p->opts.grammar = false;
        return 1;
    case CLI_PIPE_OPT_NO_REPAIR:
        p->opts.repair = false;
        return 1;
    case CLI_PIPE_OPT_MAX_TOKENS:
        return cli_parse_size("--max-tokens", arg, &p->opts.n_code_tokens_max) &&
                       p->opts.n_code_tokens_max > 0
                   ? 1
                   : -1;
    case CLI_PIPE_OPT_GREEDY_FIRST:
        p->opts.greedy_first = true;
        return 1;
    case CLI_PIPE_OPT_WEIGHTS:
        p->weights = arg;
        return 1;
    case CLI_PIPE_OPT_JOBS:
        return cli_parse_size("--jobs", arg, &p->n_jobs) ? 1 : -1;
    case CLI_PIPE_OPT_PLAN:
        p->opts.plan = true;
        return 1;
    case CLI_PIPE_OPT_REPAIR:
        p->opts.repair = true;
        return 1;
    case CLI_PIPE_OPT_NO_END_GATE:
        p->opts.end_gate = false;
        return 1;
    case CLI_PIPE_OPT_GEN_TESTS:
        return cli_parse_size("--gen-tests", arg, &p->opts.n_gen_tests) &&
                       p->opts.n_gen_tests <= SOLVE_N_MAX
                   ? 1
                   : -1;
    case CLI_PIPE_OPT_PROBES:
        return cli_parse_size("--probes", arg, &p->opts.n_probes) && p->opts.n_probes <= 10 ? 1
                                                                                            : -1;
    case CLI_PIPE_OPT_FRESH_ROUNDS:
        if (!cli_parse_size("--fresh-rounds", arg, &p->opts.n_fresh_rounds) ||
            p->opts.n_fresh_rounds > SOLVE_FRESH_ROUNDS_MAX) {
            fprintf(stderr, "kiln: --fresh-rounds must be in 0..%d\n", SOLVE_FRESH_ROUNDS_MAX);
            return -1;
        }
        return 1;
    case CLI_PIPE_OPT_FRESH_AGREE:
        if (!cli_parse_float("--fresh-agree", arg, &share) || !(share >= 0.0f && share <= 1.0f)) {
            fprintf(stderr, "kiln: --fresh-agree must be in 0..1\n");
            return -1;
        }
        p->opts.fresh_agree = share;
        return 1;
    default:
        return 0;
    }
}

int cli_pipe_getopt(cli_pipe *p, int argc, char **argv, const char *shorts,
                    const struct option *longs, int (*own)(void *payload, int c, const char *arg),
                    void *payload, void (*usage)(FILE *f), int n_operands)
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        int h = cli_pipe_option(p, c, optarg);
        h = h ? h : own(payload, c, optarg);
        if (h == 0 && c == 'h') {
            usage(stdout);
            return -1;
        }
        if (h <= 0) {
            if (h == 0) {
                usage(stderr);
            }
            return CLI_EXIT_BAD;
        }
    }
    if (argc - optind != n_operands) {
        usage(stderr);
        return CLI_EXIT_BAD;
    }
    return 0;
}

void cli_pipe_usage(FILE *f)
{
    fprintf(f,
            "  -n N               candidates per round (default 8, at most %d)\n"
            "      --repair       repair rounds when no candidate passes (off by default:\n"
            "                     measured not to pay)\n"
            "      --rounds R     how many repair rounds (default 2)\n"
            "      --seed S       sampling seed (default 1)\n"
            "      --temp T       sampling temperature (default 0.8)\n"
            "      --max-tokens N tokens per candidate (default 256)\n"
            "      --greedy-first candidate 0 of each round is greedy\n"
            "      --plan         write a plan first (off by default: measured not to pay)\n"
            "      --no-plan, --no-grammar, --no-repair  switch a stage off\n"
            "      --no-end-gate  accept a finished candidate's end without asking the\n"
            "                     language's own front end (C names, cc, CPython)\n"
            "      --weights FILE ranking weights, a JSON object (see eval/eval.h)\n"
            "      --jobs J       sandbox runs at once (default: one per CPU)\n"
            "      --gen-tests N  with no visible tests, N test inputs the model proposes\n"
            "                     rank the candidates by dual agreement (default 0: off)\n"
            "      --probes N     with no visible tests, N calls built from the signature's\n"
            "                     types whose outputs the ranking compares (default 10, at most\n"
            "                     10; 0: off)\n"
            "      --fresh-rounds R  up to R more rounds of N fresh samples, drawn while no\n"
            "                     candidate passes the visible tests or, without them, while\n"
            "                     the candidates agree weakly; all are ranked (default 1, at\n"
            "                     most 8; 0: off; none at --temp 0)\n"
            "      --fresh-agree X   without visible tests, the share of the candidates (0..1)\n"
            "                     returning the same values that stops the fresh rounds\n"
            "                     (default 0.5)\n",
            SOLVE_N_MAX);
    cli_model_usage(f, 2);
    cli_backend_usage(f);
}

static void log_quiet(void *payload, core_log_level level, const char *msg)
{
    (void)payload;
    (void)level;
    fprintf(stderr, "kiln: %s\n", msg);
}

int cli_pipe_open(cli_pipe *p, core_err *err)
{
    int rc = 0;
    core_buf weights = {0};
    if (p->weights) {
        FILE *f = fopen(p->weights, "rb");
        if (!f) {
            return core_err_set(err, CORE_ENOTFOUND, "%s: %s", p->weights, strerror(errno));
        }
        rc = cli_read_all(f, &weights, err);
        fclose(f);
        if (rc == 0) {
            rc = eval_rank_options_parse(&p->opts.rank, (core_str){weights.ptr, weights.len}, err);
        }
        core_buf_dispose(&weights);
        if (rc < 0) {
            return core_err_wrap(err, rc, "%s", p->weights);
        }
    }
    p->opts.n_test_jobs = p->n_jobs;
    rc = cli_backend_open(&p->backend, &p->model_opts, err);
    if (rc < 0) {
        return rc;
    }
    /* With a remote backend the model here gives only its tokenizer and chat template. */
    rc = cli_model_open(&p->model, &p->model_opts, p->backend != NULL, err);
    if (rc < 0) {
        return rc;
    }
    sbx_pool_options po = sbx_pool_options_default();
    if (p->n_jobs > 0) {
        po.n_slots = p->n_jobs;
    }
    po.log = cli_log_stderr(false);
    core_err perr = {0};
    if (sbx_pool_new(&p->pool, &po, &perr) < 0) {
        fprintf(stderr,
                "kiln: warning: no sandbox (%s): candidates are ranked without running "
                "tests\n",
                perr.msg);
        p->pool = NULL;
    }
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = p->opts.n_candidates;
    eo.n_threads = p->model_opts.n_threads;
    eo.log = (core_log){log_quiet, NULL, CORE_LOG_LEVEL_WARN};
    eo.backend = p->backend;
    return solve_engine_new(&p->engine, p->model, p->pool, &eo, err);
}

void cli_pipe_close(cli_pipe *p)
{
    solve_engine_free(p->engine);
    sbx_pool_free(p->pool);
    gen_model_free(p->model);
    solve_backend_free(p->backend);
    p->backend = NULL;
    p->engine = NULL;
    p->pool = NULL;
    p->model = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* kiln solve                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln solve [--lang python|c] (--prompt TEXT | --prompt-file FILE)\n"
               "                  [--entry NAME] [--tests FILE] [options]\n"
               "       kiln solve [--task FILE] [options]     (one HumanEval JSON object; stdin "
               "without --prompt)\n\n"
               "Plans, writes N candidates, tests them against the visible tests in the sandbox\n"
               "(--tests, the task's visible_tests, else the docstring's examples), repairs,\n"
               "ranks, and prints the chosen code. The task's hidden `test` is never used.\n"
               "  --json             print the whole result as one JSON object\n");
    cli_pipe_usage(f);
    fprintf(f, "Exit status: 0 the chosen code passes the visible tests (or none ran), 1 it "
               "does not, 2 error.\n");
}

static int read_path(const char *path, core_buf *buf, core_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        return core_err_set(err, CORE_ENOTFOUND, "%s: %s", path, strerror(errno));
    }
    int rc = cli_read_all(f, buf, err);
    if (f != stdin) {
        fclose(f);
    }
    return rc < 0 ? core_err_wrap(err, rc, "%s", path) : 0;
}

static bool ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* The function a prompt defines: Python's last `def NAME(`, C's name before the last '('. */
static core_str guess_entry(const char *prompt, bool is_c)
{
    const char *best = NULL;
    size_t best_len = 0;
    if (!is_c) {
        for (const char *p = strstr(prompt, "def "); p; p = strstr(p + 4, "def ")) {
            const char *n = p + 4;
            size_t len = 0;
            while (ident_char(n[len])) {
                len++;
            }
            if (len > 0 && n[len] == '(') {
                best = n;
                best_len = len;
            }
        }
        return (core_str){best, best_len};
    }
    const char *paren = strrchr(prompt, '(');
    if (!paren) {
        return (core_str){NULL, 0};
    }
    const char *end = paren;
    while (end > prompt && end[-1] == ' ') {
        end--;
    }
    const char *start = end;
    while (start > prompt && ident_char(start[-1])) {
        start--;
    }
    return (core_str){start, (size_t)(end - start)};
}

typedef struct progress_state {
    bool tty;
} progress_state;

static void on_progress(void *payload, const solve_event *ev)
{
    progress_state *ps = payload;
    if (!ps->tty) {
        return;
    }
    fprintf(stderr, "\r\033[K%s", solve_stage_name(ev->stage));
    if (ev->round > 0) {
        fprintf(stderr, " (round %zu)", ev->round);
    }
    fprintf(stderr, ": %zu/%zu candidates, %zu passing", ev->i_done, ev->n_total, ev->n_passed);
    fflush(stderr);
}

/* kiln solve's own arguments (the pipeline's are in cli_pipe). */
typedef struct cmd_solve_args {
    const char *lang;
    const char *prompt_text;
    const char *prompt_file;
    const char *entry;
    const char *tests_file;
    const char *task_file;
    bool json;
} cmd_solve_args;

enum { O_LANG = CLI_PIPE_OPT_END, O_PROMPT, O_PROMPT_FILE, O_ENTRY, O_TESTS, O_TASK, O_JSON };

/* One of kiln solve's own options (cli_pipe_getopt's own). */
static int solve_option(void *payload, int c, const char *arg)
{
    cmd_solve_args *a = payload;
    const char **field = c == O_LANG          ? &a->lang
                         : c == O_PROMPT      ? &a->prompt_text
                         : c == O_PROMPT_FILE ? &a->prompt_file
                         : c == O_ENTRY       ? &a->entry
                         : c == O_TESTS       ? &a->tests_file
                         : c == O_TASK        ? &a->task_file
                                              : NULL;
    if (field) {
        *field = arg;
        return 1;
    }
    a->json = a->json || c == O_JSON;
    return c == O_JSON;
}

/* Parses kiln solve's arguments; returns 0 to go on, -1 after --help, else an exit status. */
static int parse_args(cli_pipe *pipe, cmd_solve_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"lang", required_argument, NULL, O_LANG},
        {"prompt", required_argument, NULL, O_PROMPT},
        {"prompt-file", required_argument, NULL, O_PROMPT_FILE},
        {"entry", required_argument, NULL, O_ENTRY},
        {"tests", required_argument, NULL, O_TESTS},
        {"task", required_argument, NULL, O_TASK},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        CLI_PIPE_LONGOPTS,
        {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    return cli_pipe_getopt(pipe, argc, argv, "m:t:n:h", longopts, solve_option, a, usage, 0);
}

/* Where the task's text lives while it runs (all owned). */
typedef struct task_text {
    core_buf prompt;
    core_buf tests;
    core_buf task;
    core_arena *arena;
} task_text;

/* Reads a HumanEval object (--task FILE, else standard input) into task. */
static int task_from_json(solve_task *task, task_text *tt, const cmd_solve_args *a, core_err *err)
{
    eval_task et;
    if (!a->task_file && isatty(0)) {
        usage(stderr);
        return core_err_set(err, CORE_EINVAL, "solve: no task (give --prompt or --task)");
    }
    int rc = read_path(a->task_file ? a->task_file : "-", &tt->task, err);
    if (rc < 0) {
        return rc;
    }
    core_str line = {tt->task.ptr, tt->task.len};
    while (line.len > 0 && (line.ptr[line.len - 1] == '\n' || line.ptr[line.len - 1] == ' ' ||
                            line.ptr[line.len - 1] == '\r')) {
        line.len--;
    }
    rc = eval_task_parse_line(&et, tt->arena, line, 1, err);
    if (rc < 0) {
        return rc;
    }
    task->lang = strcmp(et.language, "c") == 0 ? SOLVE_LANG_C : SOLVE_LANG_PYTHON;
    const char *prompt = NULL;
    rc = eval_task_prompt(&prompt, tt->arena, &et, err);
    if (rc < 0) {
        return rc;
    }
    task->prompt = core_str_c(prompt);
    task->entry = core_str_c(et.entry_point);
    task->visible_tests = core_str_c(et.visible_tests);
    return 0;
}

/* Builds the task from the flags (or a HumanEval object). Messages are printed or in err. */
static int task_build(solve_task *task, task_text *tt, const cmd_solve_args *a, core_err *err)
{
    int rc = 0;
    if (!a->prompt_text && !a->prompt_file) {
        rc = task_from_json(task, tt, a, err);
    } else if (a->prompt_file) {
        rc = read_path(a->prompt_file, &tt->prompt, err);
        task->prompt = (core_str){tt->prompt.ptr, tt->prompt.len};
    } else {
        task->prompt = core_str_c(a->prompt_text);
    }
    if (rc < 0) {
        return rc;
    }
    if (a->lang) {
        if (strcmp(a->lang, "python") != 0 && strcmp(a->lang, "c") != 0) {
            return core_err_set(err, CORE_EINVAL, "solve: --lang must be python or c, not '%s'",
                                a->lang);
        }
        task->lang = strcmp(a->lang, "c") == 0 ? SOLVE_LANG_C : SOLVE_LANG_PYTHON;
    }
    if (a->entry) {
        task->entry = core_str_c(a->entry);
    } else if (task->entry.len == 0 && task->prompt.ptr) {
        char *p = core_arena_strndup(tt->arena, task->prompt.ptr, task->prompt.len);
        task->entry = p ? guess_entry(p, task->lang == SOLVE_LANG_C) : (core_str){NULL, 0};
        if (task->entry.len == 0) {
            return core_err_set(err, CORE_EINVAL,
                                "solve: no function found in the prompt; give --entry");
        }
    }
    if (a->tests_file) {
        rc = read_path(a->tests_file, &tt->tests, err);
        task->visible_tests = (core_str){tt->tests.ptr, tt->tests.len};
    }
    return rc;
}

/* Prints the chosen code (or the whole result with --json); returns the exit status. */
static int result_print(const solve_result *res, bool json)
{
    if (json) {
        core_buf out = {0};
        core_err err = {0};
        if (solve_result_to_json(&out, res, &err) < 0) {
            core_buf_dispose(&out);
            return cli_fail(&err);
        }
        printf("%s\n", out.ptr);
        core_buf_dispose(&out);
    } else if (res->chosen >= 0) {
        fputs(res->candidates[res->chosen].code, stdout);
    }
    if (res->tests_source == SOLVE_TESTS_NONE) {
        fprintf(stderr, "kiln: no visible tests (none given, no docstring examples): ranked "
                        "without execution\n");
        return CLI_EXIT_OK;
    }
    if (res->tests_source == SOLVE_TESTS_GENERATED) {
        fprintf(stderr, "kiln: no visible tests given: ranked by agreement on the signature's "
                        "probes and any tests the model wrote (CodeT)\n");
        return CLI_EXIT_OK;
    }
    const solve_candidate *best = res->chosen >= 0 ? &res->candidates[res->chosen] : NULL;
    bool ok = best && best->tested && best->verdict == SBX_VERDICT_PASSED;
    if (!ok) {
        fprintf(stderr, "kiln: no candidate passes the visible tests%s%s\n",
                best && best->message[0] ? ": " : "", best ? best->message : "");
    }
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_cmd_solve(int argc, char **argv)
{
    cli_pipe pipe;
    cli_pipe_init(&pipe);
    cmd_solve_args a;
    int prc = parse_args(&pipe, &a, argc, argv);
    if (prc != 0) {
        return prc < 0 ? CLI_EXIT_OK : prc;
    }
    core_err err = {0};
    task_text tt;
    memset(&tt, 0, sizeof(tt));
    solve_result *res = NULL;
    int status = CLI_EXIT_BAD;
    solve_task task = {SOLVE_LANG_PYTHON, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    int rc = core_arena_new(&tt.arena, 4096, &err);
    if (rc == 0) {
        rc = task_build(&task, &tt, &a, &err);
    }
    if (rc == 0) {
        rc = cli_pipe_open(&pipe, &err);
    }
    if (rc == 0) {
        progress_state ps = {isatty(2) != 0};
        solve_progress prog = {on_progress, &ps};
        rc = solve_run(&res, pipe.engine, &task, &pipe.opts, &prog, NULL, &err);
        if (ps.tty) {
            fprintf(stderr, "\r\033[K");
        }
    }
    status = rc < 0 || !res ? cli_fail(&err) : result_print(res, a.json);
    solve_result_free(res);
    cli_pipe_close(&pipe);
    core_buf_dispose(&tt.prompt);
    core_buf_dispose(&tt.tests);
    core_buf_dispose(&tt.task);
    core_arena_free(tt.arena);
    return status;
}
