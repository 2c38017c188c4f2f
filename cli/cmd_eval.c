/*
 * `kiln eval`: runs a HumanEval/MBPP-format task file through the pipeline (solve/solve.h) and
 * grades every candidate against the task's hidden tests (`test`), which the pipeline never
 * sees. Per problem it appends one JSON line to --out (notes/pipeline-schema.md): the
 * pipeline's result plus the hidden verdicts, the raw samples' count of passes (pass@k with the
 * unbiased estimator of Chen et al. 2021, eval_passk_mean), whether the ranked top-1 passes and
 * whether any candidate does (the oracle). A rerun with the same --out and configuration skips
 * the problems already there (resumable). --json prints the summary as the last stdout line.
 */
#include "cli/pipeline.h"
#include "cli/eval_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "eval/eval.h"

#define EVAL_K_MAX 16

typedef struct cli_eval_args {
    const char *path;
    const char *out_path;
    const char *report_path;
    size_t ks[EVAL_K_MAX];
    size_t n_ks;
    size_t limit; /* 0: all */
    bool json;
    /* --shard I/N: every N-th task from I ({0, 1}: all) */
    eval_shard shard;
} cli_eval_args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln eval FILE.jsonl [-m MODEL] [-n N] [-k 1,10] [--rounds R] [--jobs J]\n"
            "                 [--seed S] [--no-plan] [--no-grammar] [--no-repair] [--gen-tests N]\n"
            "                 [--probes N]\n"
            "                 [--limit N_TASKS] [--out results.jsonl] [--json]\n"
            "                 [--report report.html] [--weights weights.json] [-t THREADS]\n\n"
            "Runs every task through the pipeline and grades the candidates with the task's\n"
            "hidden tests. Appends one JSON line per problem to --out (default: FILE's name\n"
            "with .results.jsonl, in the current folder); a rerun skips problems already there\n"
            "with the same configuration. A task the pipeline cannot use is reported, kept\n"
            "as a record with \"refused\" and counted as not solved. Exit 0: every task ran;\n"
            "1: some were refused; 2: none could be used (or bad usage).\n"
            "  -k LIST            pass@k values (default 1,10; those above -n are left out)\n"
            "  --limit N          only the first N tasks\n"
            "  --json             print the summary as one JSON object (last line)\n"
            "  --report FILE      write an HTML report of the results\n");
    /* sharding (eval/results.c, cli/cmd_eval_merge.c) */
    fprintf(f, "  --shard I/N        only the tasks whose 0-based index is I modulo N (default\n"
               "                     --out: FILE's name with .shard-I-of-N.results.jsonl)\n");
    cli_pipe_usage(f);
}

static bool parse_ks(cli_eval_args *a, const char *arg)
{
    return cli_eval_parse_ks(arg, a->ks, &a->n_ks, EVAL_K_MAX);
}

/* ------------------------------------------------------------------------------------------ */
/* Grading with the hidden tests                                                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct grade {
    bool run;
    sbx_verdict verdict;
    size_t n_run;
    size_t n_passed;
    char message[300];
} grade;

/* What the grading callback writes to: the grade of each unique candidate. */
typedef struct grade_work {
    grade *grades;
    const size_t *uniq; /* (n) the candidate index of each job */
} grade_work;

/* Replaces the bytes of s that are not valid UTF-8 with '?' (sandbox output may hold any
   bytes; the records are JSON). */
static void utf8_scrub(char *s)
{
    core_str str = core_str_c(s);
    for (size_t i = 0; i < str.len;) {
        size_t n = core_utf8_len(str, i);
        if (n == 0) {
            s[i] = '?';
            n = 1;
        }
        i += n;
    }
}

/* solve_test_fn of the grading: the hidden tests' outcome of candidate uniq[i]. */
static int on_graded(void *payload, size_t i, int rc, const sbx_result *sr, const core_err *run_err,
                     core_err *err)
{
    (void)err;
    grade_work *w = payload;
    grade *g = &w->grades[w->uniq[i]];
    g->run = true;
    if (rc < 0) {
        /* The hidden tests themselves are broken (or the sandbox failed): record it on the
           candidate as an error; the verdict cannot be "passed". */
        g->verdict = SBX_VERDICT_ERROR;
        snprintf(g->message, sizeof(g->message), "grading failed: %.250s", run_err->msg);
        utf8_scrub(g->message);
        return 0;
    }
    g->verdict = sr->verdict;
    g->n_run = sr->n_tests;
    const char *msg = sr->message ? sr->message : "";
    bool have_msg = false;
    for (size_t t = 0; t < sr->n_tests; t++) {
        if (sr->tests[t].status == SBX_TEST_PASSED) {
            g->n_passed++;
        } else if (!have_msg) {
            msg = sr->tests[t].message;
            have_msg = true;
        }
    }
    snprintf(g->message, sizeof(g->message), "%s", msg);
    utf8_scrub(g->message);
    return 0;
}

static void grade_all(sbx_pool *pool, size_t n_jobs, const eval_task *task, const solve_result *res,
                      grade *grades, long *same_as)
{
    for (size_t i = 0; i < res->n_candidates; i++) {
        same_as[i] = -1;
        for (size_t j = 0; j < i && same_as[i] < 0; j++) {
            if (strcmp(res->candidates[i].code, res->candidates[j].code) == 0) {
                same_as[i] = (long)j;
            }
        }
    }
    if (!pool || task->test[0] == '\0') {
        return;
    }
    size_t *uniq = core_malloc((res->n_candidates + 1) * sizeof(*uniq));
    const char **codes = core_malloc((res->n_candidates + 1) * sizeof(*codes));
    size_t n = 0;
    for (size_t i = 0; uniq && codes && i < res->n_candidates; i++) {
        if (same_as[i] < 0) {
            uniq[n] = i;
            codes[n++] = res->candidates[i].code;
        }
    }
    grade_work w = {grades, uniq};
    solve_test_batch batch = {res->lang,
                              codes,
                              uniq && codes ? n : 0,
                              core_str_c(task->test),
                              core_str_c(task->entry_point),
                              sbx_job_default().limits,
                              n_jobs,
                              NULL};
    solve_test_all(pool, &batch, on_graded, &w, NULL);
    core_free(uniq);
    core_free(codes);
    for (size_t i = 0; i < res->n_candidates; i++) {
        if (same_as[i] >= 0) {
            grades[i] = grades[same_as[i]];
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static const char *model_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static cJSON *config_json(const cli_pipe *p)
{
    cJSON *c = cJSON_CreateObject();
    if (!c) {
        return NULL;
    }
    cJSON_AddNumberToObject(c, "n", (double)p->opts.n_candidates);
    cJSON_AddNumberToObject(c, "rounds", (double)p->opts.n_rounds);
    cJSON_AddBoolToObject(c, "plan", p->opts.plan);
    cJSON_AddBoolToObject(c, "grammar", p->opts.grammar);
    cJSON_AddBoolToObject(c, "repair", p->opts.repair);
    cJSON_AddBoolToObject(c, "end_gate", p->opts.end_gate);
    cJSON_AddNumberToObject(c, "seed", (double)p->opts.seed);
    cJSON_AddNumberToObject(c, "gen_tests", (double)p->opts.n_gen_tests);
    cJSON_AddNumberToObject(c, "probes", (double)p->opts.n_probes);
    if (p->opts.n_fresh_rounds > 0) {
        /* absent when off, so that records from before fresh rounds match a run without them */
        cJSON_AddNumberToObject(c, "fresh_rounds", (double)p->opts.n_fresh_rounds);
        cJSON_AddNumberToObject(c, "fresh_agree", p->opts.fresh_agree);
    }
    cJSON_AddStringToObject(c, "model", model_name(cli_model_path(p->model_opts.path)));
    if (p->model_opts.backend) {
        /* Remote writing is another configuration: a rerun does not mix it with local records. */
        cJSON_AddStringToObject(c, "backend", p->model_opts.backend);
    }
    return c;
}

static cJSON *grade_json(const grade *g)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "verdict", g->run ? sbx_verdict_name(g->verdict) : "not-run");
    cJSON_AddNumberToObject(o, "run", (double)g->n_run);
    cJSON_AddNumberToObject(o, "passed", (double)g->n_passed);
    cJSON_AddStringToObject(o, "message", g->message);
    return o;
}

/* The record of one problem: the pipeline's JSON with the task id, configuration and grades. */
static char *record_build(const eval_task *task, size_t index, const cli_pipe *p,
                          const solve_result *res, const grade *grades)
{
    core_buf js = {0};
    char *text = NULL;
    if (solve_result_to_json(&js, res, NULL) < 0) {
        return NULL;
    }
    cJSON *sol = cJSON_Parse(js.ptr);
    core_buf_dispose(&js);
    cJSON *rec = cJSON_CreateObject();
    if (!sol || !rec) {
        goto done;
    }
    cJSON_AddStringToObject(rec, "task_id", task->task_id);
    /* the task's place in its file: `kiln eval merge` puts shards' records back in order */
    cJSON_AddNumberToObject(rec, "index", (double)index);
    cJSON_AddItemToObject(rec, "language", cJSON_DetachItemFromObject(sol, "language"));
    cJSON_AddItemToObject(rec, "config", config_json(p));
    size_t n_samples_passed = 0;
    bool oracle = false;
    cJSON *cands = cJSON_GetObjectItem(sol, "candidates");
    for (size_t i = 0; i < res->n_candidates; i++) {
        bool pass = grades[i].run && grades[i].verdict == SBX_VERDICT_PASSED;
        oracle = oracle || pass;
        n_samples_passed += pass && i < res->n_round0;
        cJSON *c = cJSON_GetArrayItem(cands, (int)i);
        if (c) {
            /* after "visible", as in the schema */
            cJSON *hidden = grade_json(&grades[i]);
            cJSON *card = cJSON_DetachItemFromObject(c, "card");
            cJSON *score = cJSON_DetachItemFromObject(c, "score");
            cJSON_AddItemToObject(c, "hidden", hidden);
            cJSON_AddItemToObject(c, "card", card);
            cJSON_AddItemToObject(c, "score", score);
        }
    }
    static const char *const keys[] = {"plan",       "visible_tests", "visible_source",
                                       "candidates", "chosen",        "n_samples"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        cJSON_AddItemToObject(rec, keys[i], cJSON_DetachItemFromObject(sol, keys[i]));
    }
    bool ranked = res->chosen >= 0 && grades[res->chosen].run &&
                  grades[res->chosen].verdict == SBX_VERDICT_PASSED;
    cJSON_AddNumberToObject(rec, "n_samples_passed", (double)n_samples_passed);
    cJSON_AddBoolToObject(rec, "ranked_pass", ranked);
    cJSON_AddBoolToObject(rec, "oracle_pass", oracle);
    static const char *const tail[] = {"rounds_run",    "fresh_rounds_run", "timings_ms", "tokens",
                                       "tokens_prompt", "tokens_generated", "resampled"};
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        cJSON_AddItemToObject(rec, tail[i], cJSON_DetachItemFromObject(sol, tail[i]));
    }
    text = cJSON_PrintUnformatted(rec);

done:
    cJSON_Delete(sol);
    cJSON_Delete(rec);
    return text;
}

/*
 * The record of a task the pipeline refused (a prompt it cannot use): it stays in the results,
 * counts n samples of which none passed, and names the reason.
 */
static char *refused_record(const eval_task *task, size_t index, const cli_pipe *p, const char *why)
{
    cJSON *rec = cJSON_CreateObject();
    char *text = NULL;
    if (rec) {
        cJSON_AddStringToObject(rec, "task_id", task->task_id);
        cJSON_AddNumberToObject(rec, "index", (double)index);
        cJSON_AddStringToObject(rec, "language", task->language);
        cJSON_AddItemToObject(rec, "config", config_json(p));
        cJSON_AddStringToObject(rec, "refused", why);
        cJSON_AddNumberToObject(rec, "n_samples", (double)p->opts.n_candidates);
        cJSON_AddNumberToObject(rec, "n_samples_passed", 0);
        cJSON_AddBoolToObject(rec, "ranked_pass", false);
        cJSON_AddBoolToObject(rec, "oracle_pass", false);
        text = cJSON_PrintUnformatted(rec);
    }
    cJSON_Delete(rec);
    return text;
}

/* Adds a record read back from --out to the summary (the library reads records as text). */
static int summary_add(eval_summary *s, const cJSON *rec)
{
    char *text = cJSON_PrintUnformatted(rec);
    int rc = text ? eval_summary_add(s, core_str_c(text), NULL) : CORE_ENOMEM;
    cJSON_free(text);
    return rc;
}

/* Reads the records already in out_path whose configuration matches; returns a cJSON array. */
static cJSON *done_load(const char *out_path, const cJSON *config)
{
    cJSON *done = cJSON_CreateArray();
    FILE *f = fopen(out_path, "rb");
    if (!f || !done) {
        if (f) {
            fclose(f);
        }
        return done;
    }
    core_buf buf = {0};
    core_err err = {0};
    if (cli_read_all(f, &buf, &err) == 0 && buf.ptr) {
        char *save = NULL;
        for (char *line = strtok_r(buf.ptr, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            cJSON *rec = cJSON_Parse(line);
            if (rec && cJSON_IsString(cJSON_GetObjectItem(rec, "task_id")) &&
                cJSON_Compare(cJSON_GetObjectItem(rec, "config"), config, true)) {
                cJSON_AddItemToArray(done, rec);
            } else {
                cJSON_Delete(rec); /* a summary, another configuration, or a torn line */
            }
        }
    }
    core_buf_dispose(&buf);
    fclose(f);
    return done;
}

static const cJSON *done_find(const cJSON *done, const char *task_id)
{
    const cJSON *rec = NULL;
    cJSON_ArrayForEach(rec, done)
    {
        if (strcmp(cJSON_GetObjectItem(rec, "task_id")->valuestring, task_id) == 0) {
            return rec;
        }
    }
    return NULL;
}

static char *default_out(const char *path, eval_shard shard)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 6 && strcmp(base + len - 6, ".jsonl") == 0) {
        len -= 6;
    }
    char *out = core_malloc(len + 64);
    if (out && shard.n > 1) {
        snprintf(out, len + 64, "%.*s.shard-%zu-of-%zu.results.jsonl", (int)len, base, shard.i,
                 shard.n);
    } else if (out) {
        snprintf(out, len + 64, "%.*s.results.jsonl", (int)len, base);
    }
    return out;
}

static int write_report(const char *out_path, const char *report_path, core_err *err)
{
#ifdef KILN_HAVE_EVAL_REPORT
    core_buf in = {0};
    core_buf html = {0};
    FILE *f = fopen(out_path, "rb");
    int rc = 0;
    if (!f) {
        return core_err_set(err, CORE_EIO, "%s: %s", out_path, strerror(errno));
    }
    rc = cli_read_all(f, &in, err);
    fclose(f);
    if (rc == 0) {
        rc = eval_report_html(&html, (core_str){in.ptr, in.len}, err);
    }
    if (rc == 0) {
        FILE *o = fopen(report_path, "wb");
        if (!o || fwrite(html.ptr, 1, html.len, o) != html.len || fclose(o) != 0) {
            rc = core_err_set(err, CORE_EIO, "%s: cannot write", report_path);
        }
    }
    core_buf_dispose(&in);
    core_buf_dispose(&html);
    return rc;
#else
    (void)out_path;
    return core_err_set(err, CORE_EUNSUPPORTED, "%s: this kiln has no HTML report (eval/report.c)",
                        report_path);
#endif
}

enum { O_K = CLI_PIPE_OPT_END, O_LIMIT, O_OUT, O_JSON, O_REPORT, O_SHARD };

/* One of kiln eval's own options (cli_pipe_getopt's own). */
static int eval_option(void *payload, int c, const char *arg)
{
    cli_eval_args *a = payload;
    switch (c) {
    case 'k':
        return parse_ks(a, arg) ? 1 : -1;
    case O_LIMIT:
        return cli_parse_size("--limit", arg, &a->limit) ? 1 : -1;
    case O_OUT:
        a->out_path = arg;
        return 1;
    case O_JSON:
        a->json = true;
        return 1;
    case O_REPORT:
        a->report_path = arg;
        return 1;
    case O_SHARD:
        return cli_eval_parse_shard(arg, &a->shard) ? 1 : -1;
    default:
        return 0;
    }
}

/* Parses kiln eval's arguments; returns 0 to go on, -1 after --help, else an exit status. */
static int parse_args(cli_pipe *pipe, cli_eval_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {{"limit", required_argument, NULL, O_LIMIT},
                                             {"shard", required_argument, NULL, O_SHARD},
                                             {"out", required_argument, NULL, O_OUT},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"report", required_argument, NULL, O_REPORT},
                                             {"help", no_argument, NULL, 'h'},
                                             CLI_PIPE_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    a->ks[0] = 1;
    a->ks[1] = 10;
    a->n_ks = 2;
    a->shard = (eval_shard){0, 1};
    int rc = cli_pipe_getopt(pipe, argc, argv, "m:t:n:k:h", longopts, eval_option, a, usage, 1);
    if (rc == 0) {
        a->path = argv[optind];
    }
    return rc;
}

/*
 * Runs one task through the pipeline, grades its candidates, appends the record to out and
 * adds it to t. Returns 0 (a task the pipeline cannot take is reported and skipped), or
 * CORE_ENOMEM / CORE_ECANCELED, which end the evaluation.
 */
static int task_run(cli_pipe *pipe, core_arena *arena, const eval_task *task, size_t index,
                    size_t n_jobs, FILE *out, eval_summary *t, bool tty, core_err *err)
{
    /* The hidden `test` is never part of the task the pipeline sees. */
    const char *prompt = NULL;
    int prc = eval_task_prompt(&prompt, arena, task, err);
    solve_task st = {strcmp(task->language, "c") == 0 ? SOLVE_LANG_C : SOLVE_LANG_PYTHON,
                     core_str_c(prompt), core_str_c(task->entry_point),
                     core_str_c(task->visible_tests)};
    solve_result *res = NULL;
    if (prc < 0 || solve_run(&res, pipe->engine, &st, &pipe->opts, NULL, NULL, err) < 0) {
        fprintf(stderr, "%skiln eval: %s: refused: %s\n", tty ? "\n" : "", task->task_id, err->msg);
        if (err->code == CORE_ENOMEM || err->code == CORE_ECANCELED) {
            return err->code;
        }
        /* a task the pipeline cannot take (a bad prompt): say so, count it unsolved, go on */
        char *rec = refused_record(task, index, pipe, err->msg);
        int trc = rec ? eval_summary_add(t, core_str_c(rec), NULL) : CORE_ENOMEM;
        if (rec) {
            fprintf(out, "%s\n", rec);
            fflush(out);
        }
        cJSON_free(rec);
        core_err_clear(err);
        return trc < 0 ? core_err_set(err, CORE_ENOMEM, "eval: out of memory") : 0;
    }
    grade *grades = core_calloc(res->n_candidates + 1, sizeof(*grades));
    long *same_as = core_calloc(res->n_candidates + 1, sizeof(*same_as));
    char *rec = NULL;
    if (grades && same_as) {
        grade_all(pipe->pool, n_jobs, task, res, grades, same_as);
        rec = record_build(task, index, pipe, res, grades);
    }
    cJSON *parsed = rec ? cJSON_Parse(rec) : NULL;
    int rc = parsed ? eval_summary_add(t, core_str_c(rec), NULL) : CORE_ENOMEM;
    if (rec) {
        fprintf(out, "%s\n", rec);
        fflush(out);
    }
    if (tty && parsed) {
        fprintf(stderr, ": %s",
                cJSON_IsTrue(cJSON_GetObjectItem(parsed, "ranked_pass")) ? "passed" : "failed");
    }
    cJSON_Delete(parsed);
    cJSON_free(rec);
    core_free(grades);
    core_free(same_as);
    solve_result_free(res);
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "eval: out of memory") : 0;
}

int cli_cmd_eval(int argc, char **argv)
{
    /* `kiln eval merge`: joining shards' results (cli/cmd_eval_merge.c) */
    if (argc > 1 && strcmp(argv[1], "merge") == 0) {
        return cli_cmd_eval_merge(argc - 1, argv + 1);
    }
    cli_pipe pipe;
    cli_pipe_init(&pipe);
    pipe.opts.n_candidates = 10;
    cli_eval_args a;
    int prc = parse_args(&pipe, &a, argc, argv);
    if (prc != 0) {
        return prc < 0 ? CLI_EXIT_OK : prc;
    }

    core_err err = {0};
    core_arena *arena = NULL;
    eval_task_set set = {0};
    char *out_default = NULL;
    cJSON *config = NULL;
    cJSON *done = NULL;
    FILE *out = NULL;
    eval_summary *t = NULL;
    core_buf summary = {0};
    int status = CLI_EXIT_BAD;
    bool tty = isatty(2) != 0;
    uint64_t t_start = core_time_ns();

    if (core_arena_new(&arena, 1 << 16, &err) < 0 || eval_summary_new(&t, &err) < 0 ||
        eval_task_set_load(&set, arena, a.path, &err) < 0) {
        status = cli_fail(&err);
        goto done;
    }
    if (!a.out_path) {
        out_default = default_out(a.path, a.shard);
        if (!out_default) {
            fprintf(stderr, "kiln eval: out of memory\n");
            goto done;
        }
        a.out_path = out_default;
    }
    config = config_json(&pipe);
    done = config ? done_load(a.out_path, config) : NULL;
    out = fopen(a.out_path, "ab");
    if (!config || !done || !out) {
        fprintf(stderr, "kiln eval: %s: %s\n", a.out_path, out ? "out of memory" : strerror(errno));
        goto done;
    }
    if (cli_pipe_open(&pipe, &err) < 0) {
        status = cli_fail(&err);
        goto done;
    }
    if (!pipe.pool) {
        fprintf(stderr, "kiln eval: the hidden tests need the sandbox\n");
        goto done;
    }
    size_t n_tasks = a.limit && a.limit < set.n_tasks ? a.limit : set.n_tasks;
    size_t n_jobs = pipe.n_jobs ? pipe.n_jobs : sbx_pool_n_slots(pipe.pool);
    for (size_t i = 0; i < n_tasks; i++) {
        if (!eval_shard_has(a.shard, i)) {
            continue;
        }
        const eval_task *task = &set.tasks[i];
        const cJSON *old = done_find(done, task->task_id);
        if (old) {
            if (summary_add(t, old) < 0) {
                fprintf(stderr, "kiln eval: out of memory\n");
                goto done;
            }
            continue;
        }
        if (tty) {
            fprintf(stderr, "\r\033[K[%zu/%zu] %s", i + 1, n_tasks, task->task_id);
        }
        if (task_run(&pipe, arena, task, i, n_jobs, out, t, tty, &err) < 0) {
            if (err.code == CORE_ENOMEM) {
                fprintf(stderr, "kiln eval: out of memory\n");
            }
            goto done;
        }
    }
    if (tty) {
        fprintf(stderr, "\r\033[K");
    }
    eval_summary_options so = eval_summary_options_default();
    so.ks = a.ks;
    so.n_ks = a.n_ks;
    so.n = pipe.opts.n_candidates;
    so.wall_s = (double)(core_time_ns() - t_start) / 1e9;
    so.shard = a.shard;
    so.n_tasks = n_tasks;
    if (eval_summary_json(&summary, t, &so, &err) < 0) {
        fprintf(stderr, "kiln eval: out of memory\n");
        goto done;
    }
    fprintf(out, "{\"summary\":%s}\n", summary.ptr);
    fflush(out);
    cli_eval_summary_print(summary.ptr, a.json);
    /* Refused tasks are a negative answer; none usable at all is input kiln could not use. */
    size_t n_problems = eval_summary_n_problems(t);
    size_t n_refused = eval_summary_n_refused(t);
    status = n_refused == 0 ? CLI_EXIT_OK : n_refused < n_problems ? CLI_EXIT_FAIL : CLI_EXIT_BAD;
    if (n_problems == 0) {
        fprintf(stderr, "kiln eval: %s: no task to evaluate\n", a.path);
        status = CLI_EXIT_BAD;
    } else if (n_refused > 0) {
        fprintf(stderr, "kiln eval: %zu of %zu tasks refused (counted as not solved)\n", n_refused,
                n_problems);
    }
    if (a.report_path) {
        fclose(out);
        out = NULL;
        if (write_report(a.out_path, a.report_path, &err) < 0) {
            status = cli_fail(&err);
        }
    }

done:
    if (out) {
        fclose(out);
    }
    core_buf_dispose(&summary);
    eval_summary_free(t);
    cJSON_Delete(config);
    cJSON_Delete(done);
    cli_pipe_close(&pipe);
    core_free(out_default);
    core_arena_free(arena);
    return status;
}
