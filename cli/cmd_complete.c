/*
 * `kiln complete FILE --at LINE:COL`: the completion the language server would offer at that
 * point of FILE (`-` reads standard input), from solve_complete (solve/solve.h). Prints the
 * best completion, or with --json every candidate with its scores and the timings. LINE and
 * COL are 1-based; COL counts bytes. Exit status: 0 a completion, 1 nothing to offer, 2 bad
 * usage or input.
 */
#include "cli/cli.h"
#include "cli/pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sbx.h"
#include "solve/solve.h"

static void complete_usage(FILE *f)
{
    fprintf(f, "usage: kiln complete FILE|- --at LINE:COL [options]\n"
               "  --at LINE:COL       cursor (1-based line, 1-based byte column)\n"
               "  --lang L            python or c (default: from FILE's extension, else python)\n"
               "  --scope S           line, statement, block or function (default line)\n"
               "  -n N                candidates (default 1)\n"
               "  --max-tokens N      tokens per candidate (default 48)\n"
               "  --no-grammar        no grammar constraint\n"
               "  --context-tokens N  repository context: definitions FILE imports from the\n"
               "                      files beside it or under --root (default 384, 0: none)\n"
               "  --root DIR          the workspace's root (default: the working directory)\n"
               "  --tests T           run the completed function's tests in the sandbox before\n"
               "                      answering: T is a file of tests (asserts, test_*\n"
               "                      functions, check(candidate); C: a file with main), or\n"
               "                      'auto': its docstring's examples and the workspace's\n"
               "                      pytest tests (exit 1 when they fail)\n"
               "  --test-files GLOB   test files of FILE's language, relative to the root\n"
               "                      (repeatable; C's tests come from these only)\n"
               "  --test-cmd CMD      run CMD in the sandbox over a copy of the root instead\n"
               "                      of the built-in run ({file}, {tests}, {name} expand)\n"
               "  --json              every candidate, scores and timings as JSON\n");
    cli_model_usage(f, 2);
    cli_backend_usage(f);
}

/* Byte offset of 1-based line:col in text, clamped to the line's end and the text's. */
static size_t offset_of(core_str text, size_t line, size_t col)
{
    size_t at = 0;
    for (size_t l = 1; l < line && at < text.len; at++) {
        if (text.ptr[at] == '\n') {
            l++;
        }
    }
    size_t c = 1;
    while (c < col && at < text.len && text.ptr[at] != '\n') {
        at++;
        c++;
    }
    return at;
}

/* Prints s as a JSON string (core_buf_append_json: escapes, and U+FFFD for bad UTF-8). */
static void json_string(const char *s)
{
    core_buf b = {0};
    if (core_buf_append_json(&b, core_str_c(s)) == 0) {
        fwrite(b.ptr, 1, b.len, stdout);
    } else {
        fputs("\"\"", stdout);
    }
    core_buf_dispose(&b);
}

static void print_json(const solve_completions *r, core_str context, size_t n_context)
{
    printf("{\"candidates\":[");
    for (size_t i = 0; i < r->n_items; i++) {
        const solve_completion *it = &r->items[i];
        printf("%s{\"text\":", i ? "," : "");
        json_string(it->text);
        printf(",\"n_tokens\":%zu,\"logprob_mean\":%.4f,\"ended\":%s,\"parses\":%s}", it->n_tokens,
               it->logprob_mean, it->ended ? "true" : "false", it->parses ? "true" : "false");
    }
    printf("],\"fim\":%s,\"grammar\":%s,\"tokens\":{\"prompt\":%zu,\"reused\":%zu,"
           "\"decoded\":%zu,\"generated\":%zu,\"context\":%zu},\"timings_ms\":{\"prompt\":%.1f,"
           "\"total\":%.1f}",
           r->fim ? "true" : "false", r->grammar ? "true" : "false", r->n_tokens_prompt,
           r->n_tokens_reused, r->n_tokens_decoded, r->n_tokens_generated, n_context,
           (double)r->ns_prompt / 1e6, (double)r->ns_total / 1e6);
    printf(",\"context\":");
    cli_print_json(stdout, context);
}

static void print_verdict_json(const solve_complete_verdict *v)
{
    printf(",\"tests\":{\"function\":");
    cli_print_json(stdout, core_str_c(v->entry));
    printf(",\"source\":\"%s\",\"workspace_tests\":%zu,\"command\":%s,\"tested\":%s",
           solve_tests_source_name(v->source), v->n_workspace_tests, v->command ? "true" : "false",
           v->tested ? "true" : "false");
    if (v->tested) {
        printf(",\"verdict\":\"%s\",\"run\":%zu,\"passed\":%zu,\"message\":",
               sbx_verdict_name(v->verdict), v->n_tests_run, v->n_tests_passed);
        cli_print_json(stdout, core_str_c(v->message));
    }
    printf("}");
}

/* Runs the completed function's tests (tests_path: a file, or "auto") on the document with the
   completion in it. Returns 0 or a code (err set). */
static int run_tests(solve_complete_verdict *v, const char *tests_path,
                     const solve_completer *completer, solve_lang lang, core_str doc, size_t at,
                     const char *completion, const solve_context_options *xo, core_err *err)
{
    core_buf tests = {0};
    core_buf whole = {0};
    sbx_pool *pool = NULL;
    sbx_tree *tree = NULL;
    solve_context_options wo = *xo;
    int rc = 0;
    bool automatic = strcmp(tests_path, "auto") == 0;
    if (!automatic) {
        FILE *f = fopen(tests_path, "rb");
        if (!f) {
            return core_err_set(err, CORE_EINVAL, "--tests %s: %s", tests_path, strerror(errno));
        }
        rc = cli_read_all(f, &tests, err);
        fclose(f);
    }
    if (rc == 0 && (core_buf_append(&whole, doc.ptr, at) < 0 ||
                    core_buf_append(&whole, completion, strlen(completion)) < 0 ||
                    core_buf_append(&whole, doc.ptr + at, doc.len - at) < 0)) {
        rc = core_err_set(err, CORE_ENOMEM, "out of memory");
    }
    sbx_pool_options po = sbx_pool_options_default();
    po.n_slots = 1;
    po.log = cli_log_stderr(false);
    if (rc == 0) {
        rc = sbx_pool_new(&pool, &po, err);
    }
    if (rc == 0 && automatic && xo->tests[lang].command) {
        sbx_tree_options to = sbx_tree_options_default();
        to.log = po.log;
        rc = sbx_tree_new(&tree, &to, err);
        wo.tree = tree;
    }
    if (rc == 0) {
        rc = solve_complete_test(v, pool, completer, lang, (core_str){whole.ptr, whole.len}, at,
                                 (core_str){tests.ptr ? tests.ptr : "", tests.len}, &wo, NULL, NULL,
                                 err);
    }
    sbx_tree_free(tree);
    sbx_pool_free(pool);
    core_buf_dispose(&tests);
    core_buf_dispose(&whole);
    return rc;
}

int cli_cmd_complete(int argc, char **argv)
{
    enum {
        OPT_AT = 256,
        OPT_LANG,
        OPT_SCOPE,
        OPT_MAX,
        OPT_NO_GRAMMAR,
        OPT_JSON,
        OPT_CONTEXT,
        OPT_ROOT,
        OPT_TESTS,
        OPT_TEST_FILES,
        OPT_TEST_CMD,
    };
    static const struct option longs[] = {
        {"at", required_argument, NULL, OPT_AT},
        {"lang", required_argument, NULL, OPT_LANG},
        {"scope", required_argument, NULL, OPT_SCOPE},
        {"max-tokens", required_argument, NULL, OPT_MAX},
        {"no-grammar", no_argument, NULL, OPT_NO_GRAMMAR},
        {"json", no_argument, NULL, OPT_JSON},
        {"context-tokens", required_argument, NULL, OPT_CONTEXT},
        {"root", required_argument, NULL, OPT_ROOT},
        {"tests", required_argument, NULL, OPT_TESTS},
        {"test-files", required_argument, NULL, OPT_TEST_FILES},
        {"test-cmd", required_argument, NULL, OPT_TEST_CMD},
        {"help", no_argument, NULL, 'h'},
        CLI_MODEL_LONGOPTS,
        CLI_BACKEND_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    solve_complete_options o = solve_complete_options_default();
    solve_context_options xo = solve_context_options_default();
    cli_model_opts mopts;
    cli_model_opts_init(&mopts);
    mopts.n_threads = 2;
    const char *lang = NULL;
    const char *tests_path = NULL;
    const char *test_globs[32];
    solve_test_config tc = {test_globs, 0, NULL};
    const char *why = NULL;
    size_t line = 0;
    size_t col = 0;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:n:h", longs, NULL)) != -1) {
        int h = cli_model_option(&mopts, c, optarg);
        if (h < 0) {
            return CLI_EXIT_BAD;
        }
        if (h > 0) {
            continue;
        }
        switch (c) {
        case OPT_AT: {
            char *colon = strchr(optarg, ':');
            if (!colon || !cli_parse_size("--at", colon + 1, &col)) {
                fprintf(stderr, "kiln: --at wants LINE:COL, got '%s'\n", optarg);
                return CLI_EXIT_BAD;
            }
            *colon = '\0';
            if (!cli_parse_size("--at", optarg, &line) || line == 0 || col == 0) {
                fprintf(stderr, "kiln: --at's line and column start at 1\n");
                return CLI_EXIT_BAD;
            }
            break;
        }
        case OPT_LANG:
            lang = optarg;
            break;
        case OPT_SCOPE:
            if (!solve_scope_parse(&o.scope, optarg)) {
                fprintf(stderr, "kiln: --scope: unknown scope '%s'\n", optarg);
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_MAX:
            if (!cli_parse_size("--max-tokens", optarg, &o.n_tokens_max) || !o.n_tokens_max) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_NO_GRAMMAR:
            o.grammar = false;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_CONTEXT:
            if (!cli_parse_size("--context-tokens", optarg, &xo.n_tokens_max)) {
                return CLI_EXIT_BAD;
            }
            break;
        case OPT_ROOT:
            xo.root = optarg;
            break;
        case OPT_TESTS:
            tests_path = optarg;
            break;
        case OPT_TEST_FILES:
            if (tc.n_files == 32 || !solve_test_glob_check(optarg, &why)) {
                fprintf(stderr, "kiln: --test-files '%s' %s\n", optarg, why ? why : "(32 at most)");
                return CLI_EXIT_BAD;
            }
            test_globs[tc.n_files++] = optarg;
            break;
        case OPT_TEST_CMD:
            if (!solve_test_command_check(optarg, &why)) {
                fprintf(stderr, "kiln: --test-cmd %s\n", why);
                return CLI_EXIT_BAD;
            }
            tc.command = optarg;
            break;
        case 'n':
            if (!cli_parse_size("-n", optarg, &o.n_candidates) || o.n_candidates == 0 ||
                o.n_candidates > SOLVE_N_MAX) {
                fprintf(stderr, "kiln: -n must be in 1..%d\n", SOLVE_N_MAX);
                return CLI_EXIT_BAD;
            }
            break;
        case 'h':
            complete_usage(stdout);
            return CLI_EXIT_OK;
        default:
            complete_usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    if (optind + 1 != argc || line == 0) {
        complete_usage(stderr);
        return CLI_EXIT_BAD;
    }
    const char *path = argv[optind];
    size_t plen = strlen(path);
    if (lang ? strcmp(lang, "c") == 0 : plen > 2 && strcmp(path + plen - 2, ".c") == 0) {
        o.lang = SOLVE_LANG_C;
    } else if (lang && strcmp(lang, "python") != 0) {
        fprintf(stderr, "kiln: --lang: python or c, not '%s'\n", lang);
        return CLI_EXIT_BAD;
    }

    xo.tests[o.lang] = tc;
    if ((tc.n_files > 0 || tc.command) && !tests_path) {
        tests_path = "auto"; /* the workspace's tests, as configured */
    }

    int rc = 0;
    core_err err = {0};
    core_buf text = {0};
    gen_model *model = NULL;
    solve_backend *backend = NULL;
    solve_completer *completer = NULL;
    solve_session *session = NULL;
    solve_completions *res = NULL;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kiln: %s: %s\n", path, strerror(errno));
        return CLI_EXIT_BAD;
    }
    rc = cli_read_all(f, &text, &err);
    if (f != stdin) {
        fclose(f);
    }
    if (rc == 0) {
        rc = cli_backend_open(&backend, &mopts, &err);
    }
    /* With a remote backend the model here gives only its vocabulary. */
    if (rc == 0) {
        rc = cli_model_open(&model, &mopts, backend != NULL, &err);
    }
    if (rc == 0) {
        rc = solve_completer_new(&completer, model, &err);
    }
    if (rc == 0) {
        solve_completer_set_backend(completer, backend);
    }
    /* The repository context: FILE's imports resolve beside it, then under the root. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + (slash == path) : 1;
    if (dir_len >= sizeof(dir)) {
        dir_len = 0;
    }
    memcpy(dir, slash ? path : ".", dir_len);
    dir[dir_len] = '\0';
    xo.dir = strcmp(path, "-") == 0 ? "." : dir;
    xo.root = xo.root ? xo.root : ".";
    xo.self = strcmp(path, "-") == 0 ? NULL : path;
    core_buf context = {0};
    size_t n_context = 0;
    core_str doc = {text.ptr ? text.ptr : "", text.len};
    if (rc == 0) {
        rc = solve_context_build(&context, &n_context, completer, o.lang, doc, &xo, &err);
        o.context = (core_str){context.ptr ? context.ptr : "", context.len};
    }
    solve_session_options so = solve_session_options_default();
    so.n_threads = mopts.n_threads;
    so.n_candidates_max = o.n_candidates;
    if (rc == 0) {
        rc = solve_session_new(&session, completer, &so, &err);
    }
    size_t at = offset_of(doc, line, col);
    if (rc == 0) {
        rc = solve_complete(&res, session, (core_str){doc.ptr, at},
                            (core_str){doc.ptr + at, doc.len - at}, &o, NULL, &err);
    }
    bool have = rc == 0 && res && res->n_items > 0 && res->items[0].text[0];
    solve_complete_verdict verdict;
    memset(&verdict, 0, sizeof(verdict));
    if (have && tests_path) {
        rc = run_tests(&verdict, tests_path, completer, o.lang, doc, at, res->items[0].text, &xo,
                       &err);
    }
    int status = have ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (have && tests_path && verdict.tested && verdict.verdict != SBX_VERDICT_PASSED) {
        status = CLI_EXIT_FAIL; /* the completed function fails its tests */
    }
    if (rc < 0 || !res) {
        status = cli_fail(&err);
    } else if (json) {
        print_json(res, o.context, n_context);
        if (tests_path) {
            print_verdict_json(&verdict);
        }
        printf("}\n");
    } else if (have) {
        printf("%s\n", res->items[0].text);
        if (tests_path && verdict.tested) {
            fprintf(stderr, "kiln: tests of %s: %s, %zu/%zu passed%s%s\n", verdict.entry,
                    sbx_verdict_name(verdict.verdict), verdict.n_tests_passed, verdict.n_tests_run,
                    verdict.message[0] ? ": " : "", verdict.message);
        } else if (tests_path) {
            fprintf(stderr, "kiln: no tests ran (%s)\n",
                    verdict.entry[0] ? "no tests found" : "the cursor is in no function");
        }
    }
    solve_completions_free(res);
    solve_session_free(session);
    solve_completer_free(completer);
    solve_backend_free(backend);
    gen_model_free(model);
    core_buf_dispose(&context);
    core_buf_dispose(&text);
    return status;
}
