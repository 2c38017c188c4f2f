/* Tests of eval/results.c: shard arithmetic, summaries, and merging shards' results files. */
#include "tests/eval/tests.h"

#include <stdio.h>
#include <string.h>

#include "eval/eval.h"

/* Tasks of the synthetic run. */
#define N_RECORDS 11

START_TEST(results__shard_parse)
{
    eval_shard s = {9, 9};
    ck_assert_int_eq(eval_shard_parse(&s, core_str_c("0/4"), NULL), 0);
    ck_assert_uint_eq(s.i, 0);
    ck_assert_uint_eq(s.n, 4);
    ck_assert_int_eq(eval_shard_parse(&s, core_str_c("12/13"), NULL), 0);
    ck_assert_uint_eq(s.i, 12);
    ck_assert_uint_eq(s.n, 13);
    ck_assert_int_eq(eval_shard_parse(&s, core_str_c("0/1"), NULL), 0);
    static const char *const bad[] = {"4/4",
                                      "1/0",
                                      "0/0",
                                      "a/2",
                                      "1/",
                                      "/2",
                                      "-1/2",
                                      "1/2x",
                                      "1",
                                      "",
                                      " 1/2",
                                      "1/2/3",
                                      "1234567890/1234567891"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        core_err err = {0};
        s = (eval_shard){7, 8};
        ck_assert_int_eq(eval_shard_parse(&s, core_str_c(bad[i]), &err), CORE_EPARSE);
        ck_assert_uint_eq(s.i, 7); /* unchanged */
        ck_assert_ptr_nonnull(strstr(err.msg, "I/N"));
    }
}
END_TEST

START_TEST(results__shards_partition_the_tasks)
{
    for (size_t n = 1; n <= 7; n++) {
        for (size_t n_tasks = 0; n_tasks <= 20; n_tasks++) {
            size_t total = 0;
            for (size_t i = 0; i < n; i++) {
                eval_shard s = {i, n};
                size_t count = 0;
                for (size_t t = 0; t < n_tasks; t++) {
                    count += eval_shard_has(s, t);
                }
                ck_assert_uint_eq(count, eval_shard_size(s, n_tasks));
                total += count;
            }
            ck_assert_uint_eq(total, n_tasks);
            for (size_t t = 0; t < n_tasks; t++) {
                size_t owners = 0;
                for (size_t i = 0; i < n; i++) {
                    owners += eval_shard_has((eval_shard){i, n}, t);
                }
                ck_assert_uint_eq(owners, 1);
            }
        }
    }
    /* every 4th task from 1 */
    ck_assert(eval_shard_has((eval_shard){1, 4}, 1));
    ck_assert(eval_shard_has((eval_shard){1, 4}, 9));
    ck_assert(!eval_shard_has((eval_shard){1, 4}, 2));
}
END_TEST

/* Byte-equal texts; on a difference, shows both from its first byte (Check's messages are
   short). */
static void assert_same(const char *got, const char *want)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i]) {
        i++;
    }
    ck_assert_msg(got[i] == want[i], "byte %zu: got '%.80s', want '%.80s'", i, got + i, want + i);
}

/* One synthetic record; the timings are decimals whose float sum depends on its order. */
static void record_append(core_buf *b, size_t index, size_t seed, const char *config)
{
    size_t n = 3;
    size_t c = (index * 7 + seed) % 4;
    ck_assert_int_eq(
        core_buf_appendf(b,
                         "{\"task_id\":\"t/%zu\",\"index\":%zu,\"language\":\"python\","
                         "\"config\":%s,\"n_samples\":%zu,\"n_samples_passed\":%zu,"
                         "\"ranked_pass\":%s,\"oracle_pass\":%s,\"timings_ms\":{\"plan\":%zu.1,"
                         "\"write\":%zu.3,\"test\":0.7,\"repair\":0.%zu,\"rank\":0.1,"
                         "\"total\":%zu.9},\"tokens\":%zu}\n",
                         index, index, config, n, c > n ? n : c, c > 1 ? "true" : "false",
                         c > 0 ? "true" : "false", index, 10 * index + 3, index + 1, 13 * index,
                         17 * index + 5),
        0);
}

#define CONFIG_A "{\"n\":3,\"rounds\":0,\"seed\":1}"
#define CONFIG_B "{\"n\":3,\"rounds\":2,\"seed\":1}"

static const size_t ks[] = {1, 2, 3, 5};

/* The summary of records 0..N_RECORDS-1 in index order, as one run writes it. */
static void whole_run(core_buf *records, core_buf *summary, double wall_s)
{
    eval_summary *s = NULL;
    ck_assert_int_eq(eval_summary_new(&s, NULL), 0);
    for (size_t i = 0; i < N_RECORDS; i++) {
        core_buf one = {0};
        record_append(&one, i, 1, CONFIG_A);
        ck_assert_int_eq(eval_summary_add(s, (core_str){one.ptr, one.len - 1}, NULL), 0);
        ck_assert_int_eq(core_buf_append(records, one.ptr, one.len), 0);
        core_buf_dispose(&one);
    }
    ck_assert_uint_eq(eval_summary_n_problems(s), N_RECORDS);
    eval_summary_options o = eval_summary_options_default();
    o.ks = ks;
    o.n_ks = 4;
    o.n = 3;
    o.wall_s = wall_s;
    ck_assert_int_eq(eval_summary_json(summary, s, &o, NULL), 0);
    ck_assert_int_eq(core_buf_appendf(records, "{\"summary\":%s}\n", summary->ptr), 0);
    eval_summary_free(s);
}

/* Shard i of n: its records (of config) in index order, then its summary line. */
static void shard_file(core_buf *b, size_t i, size_t n, double wall_s, const char *config)
{
    eval_summary *s = NULL;
    ck_assert_int_eq(eval_summary_new(&s, NULL), 0);
    for (size_t t = 0; t < N_RECORDS; t++) {
        if (!eval_shard_has((eval_shard){i, n}, t)) {
            continue;
        }
        size_t mark = b->len;
        record_append(b, t, 1, config);
        ck_assert_int_eq(eval_summary_add(s, (core_str){b->ptr + mark, b->len - mark - 1}, NULL),
                         0);
    }
    eval_summary_options o = eval_summary_options_default();
    o.ks = ks;
    o.n_ks = 4;
    o.n = 3;
    o.wall_s = wall_s;
    o.shard = (eval_shard){i, n};
    o.n_tasks = N_RECORDS;
    ck_assert_int_eq(core_buf_appendf(b, "{\"summary\":"), 0);
    ck_assert_int_eq(eval_summary_json(b, s, &o, NULL), 0);
    ck_assert_int_eq(core_buf_appendf(b, "}\n"), 0);
    eval_summary_free(s);
}

START_TEST(results__summary_format)
{
    eval_summary *s = NULL;
    ck_assert_int_eq(eval_summary_new(&s, NULL), 0);
    ck_assert_int_eq(
        eval_summary_add(s,
                         core_str_c("{\"task_id\":\"a\",\"n_samples\":2,\"n_samples_passed\":1,"
                                    "\"ranked_pass\":true,\"oracle_pass\":true,\"timings_ms\":"
                                    "{\"write\":1000,\"total\":2000},\"tokens\":10}"),
                         NULL),
        0);
    ck_assert_int_eq(eval_summary_add(s, core_str_c("{\"task_id\":\"b\",\"n_samples\":2}"), NULL),
                     0);
    core_err err = {0};
    ck_assert_int_eq(eval_summary_add(s, core_str_c("[1]"), &err), CORE_EPARSE);
    ck_assert_int_eq(eval_summary_add(s,
                                      core_str_c("{\"task_id\":\"c\",\"n_samples\":2,"
                                                 "\"n_samples_passed\":3}"),
                                      &err),
                     CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "record c"));
    ck_assert_int_eq(eval_summary_add(s, core_str_c("{\"task_id\":\"d\",\"n_samples\":1.5}"), &err),
                     CORE_EPARSE);
    ck_assert_uint_eq(eval_summary_n_problems(s), 2);
    eval_summary_options o = eval_summary_options_default();
    o.n = 2;
    o.wall_s = 3.5;
    core_buf b = {0};
    ck_assert_int_eq(eval_summary_json(&b, s, &o, NULL), 0);
    /* pass@10 is left out: k above the problems' samples */
    ck_assert_str_eq(
        b.ptr, "{\"problems\":2,\"refused\":0,\"n\":2,\"pass_at_k\":{\"1\":0.25},\"ranked_top1\":"
               "0.5,\"oracle\":0.5,\"seconds\":2,\"tokens_per_s\":5,\"wall_seconds\":"
               "3.5,\"stage_seconds\":{\"plan\":0,\"write\":1,\"test\":0,\"repair\":"
               "0}}");
    b.len = 0;
    o.shard = (eval_shard){1, 3};
    o.n_tasks = 7;
    ck_assert_int_eq(eval_summary_json(&b, s, &o, NULL), 0);
    ck_assert_ptr_nonnull(strstr(b.ptr, ",\"shard\":\"1/3\",\"tasks\":7}"));
    core_buf_dispose(&b);
    eval_summary_free(s);
}
END_TEST

static int merge(core_buf *records, core_buf *summary, core_buf *files, size_t n_files,
                 core_err *err)
{
    core_str texts[8];
    const char *names[8] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
    ck_assert_uint_le(n_files, 8);
    for (size_t f = 0; f < n_files; f++) {
        texts[f] = (core_str){files[f].ptr ? files[f].ptr : "", files[f].len};
    }
    return eval_results_merge(records, summary, texts, names, n_files, ks, 4, err);
}

static void files_dispose(core_buf *files, size_t n)
{
    for (size_t f = 0; f < n; f++) {
        core_buf_dispose(&files[f]);
    }
}

START_TEST(results__merge_equals_one_run)
{
    core_buf whole_records = {0};
    core_buf whole_summary = {0};
    whole_run(&whole_records, &whole_summary, 9.25);
    for (size_t n = 1; n <= 5; n++) {
        core_buf files[5] = {{0}};
        /* given in reverse order; the longest shard took the whole run's wall time */
        for (size_t f = 0; f < n; f++) {
            shard_file(&files[f], n - 1 - f, n, f == n / 2 ? 9.25 : 1.0 + (double)f, CONFIG_A);
        }
        core_buf records = {0};
        core_buf summary = {0};
        ck_assert_int_eq(merge(&records, &summary, files, n, NULL), 0);
        assert_same(summary.ptr, whole_summary.ptr);
        assert_same(records.ptr, whole_records.ptr);
        core_buf_dispose(&records);
        core_buf_dispose(&summary);
        files_dispose(files, n);
    }
    core_buf_dispose(&whole_records);
    core_buf_dispose(&whole_summary);
}
END_TEST

START_TEST(results__merge_order_matters)
{
    /* The records summed in another order than the tasks' give other bytes (the float sums),
       which is why the merge sorts by index: records 10 and 0 swapped. */
    core_buf whole_records = {0};
    core_buf whole_summary = {0};
    whole_run(&whole_records, &whole_summary, 1.0);
    eval_summary *s = NULL;
    ck_assert_int_eq(eval_summary_new(&s, NULL), 0);
    for (size_t j = 0; j < N_RECORDS; j++) {
        core_buf one = {0};
        record_append(&one, (N_RECORDS - j) % N_RECORDS, 1, CONFIG_A);
        ck_assert_int_eq(eval_summary_add(s, (core_str){one.ptr, one.len}, NULL), 0);
        core_buf_dispose(&one);
    }
    eval_summary_options o = eval_summary_options_default();
    o.ks = ks;
    o.n_ks = 4;
    o.n = 3;
    o.wall_s = 1.0;
    core_buf b = {0};
    ck_assert_int_eq(eval_summary_json(&b, s, &o, NULL), 0);
    ck_assert_str_ne(b.ptr, whole_summary.ptr);
    core_buf_dispose(&b);
    eval_summary_free(s);
    core_buf_dispose(&whole_records);
    core_buf_dispose(&whole_summary);
}
END_TEST

START_TEST(results__merge_resumed_and_torn_files)
{
    core_buf whole_records = {0};
    core_buf whole_summary = {0};
    whole_run(&whole_records, &whole_summary, 4.0);
    core_buf files[2] = {{0}};
    /* shard 0 was first run with other options and crashed mid-line; its rerun with the right
       ones wrote the same task twice (the first counts) */
    record_append(&files[0], 0, 3, CONFIG_B);
    ck_assert_int_eq(core_buf_appendf(&files[0], "{\"task_id\":\"t/2\",\"ind\n"), 0);
    /* a NUL byte inside a line (fuzz_eval_merge found the merged text cut there) */
    static const char nul_line[] = "{\"task_id\":\"t/4\0\",\"index\":4,\"config\":" CONFIG_A "}\n";
    ck_assert_int_eq(core_buf_append(&files[0], nul_line, sizeof(nul_line) - 1), 0);
    shard_file(&files[0], 0, 2, 4.0, CONFIG_A);
    record_append(&files[0], 2, 3, CONFIG_A);
    shard_file(&files[1], 1, 2, 3.0, CONFIG_A);
    core_buf records = {0};
    core_buf summary = {0};
    ck_assert_int_eq(merge(&records, &summary, files, 2, NULL), 0);
    assert_same(summary.ptr, whole_summary.ptr);
    assert_same(records.ptr, whole_records.ptr);
    core_buf_dispose(&records);
    core_buf_dispose(&summary);
    files_dispose(files, 2);
    core_buf_dispose(&whole_records);
    core_buf_dispose(&whole_summary);
}
END_TEST

/* Merging files must fail with code and a message holding want. */
static void merge_fails(core_buf *files, size_t n_files, int code, const char *want)
{
    core_buf records = {0};
    core_buf summary = {0};
    core_err err = {0};
    ck_assert_int_eq(merge(&records, &summary, files, n_files, &err), code);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    core_buf_dispose(&records);
    core_buf_dispose(&summary);
    files_dispose(files, n_files);
}

START_TEST(results__merge_refuses_bad_sets)
{
    core_buf files[4] = {{0}};
    shard_file(&files[0], 0, 3, 1.0, CONFIG_A);
    shard_file(&files[1], 2, 3, 1.0, CONFIG_A);
    merge_fails(files, 2, CORE_EINVAL, "shard 1/3 is missing");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    shard_file(&files[1], 0, 2, 1.0, CONFIG_A);
    merge_fails(files, 2, CORE_EINVAL, "s0 and s1 are both shard 0/2");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    shard_file(&files[1], 1, 3, 1.0, CONFIG_A);
    merge_fails(files, 2, CORE_EINVAL, "s1 is shard 1/3 but s0 is of 2 shards");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    shard_file(&files[1], 1, 2, 1.0, CONFIG_B);
    merge_fails(files, 2, CORE_EINVAL, "s1 ran with another configuration");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    record_append(&files[1], 1, 1, CONFIG_A); /* no summary: died */
    merge_fails(files, 2, CORE_EPARSE, "s1: no summary line");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    record_append(&files[1], 2, 1, CONFIG_A); /* an even task in the odd shard */
    shard_file(&files[1], 1, 2, 1.0, CONFIG_A);
    merge_fails(files, 2, CORE_EINVAL, "s1: task t/2 (index 2) is not in shard 1/2");

    shard_file(&files[0], 0, 2, 1.0, CONFIG_A);
    ck_assert_int_eq(core_buf_appendf(&files[1],
                                      "{\"task_id\":\"x\",\"config\":%s}\n"
                                      "{\"summary\":{\"shard\":\"1/2\"}}\n",
                                      CONFIG_A),
                     0);
    merge_fails(files, 2, CORE_EPARSE, "s1: record x has no task index");

    ck_assert_int_eq(core_buf_appendf(&files[0], "{\"summary\":{\"shard\":\"2/2\"}}\n"), 0);
    merge_fails(files, 1, CORE_EPARSE, "s0: the summary's shard is not I/N");

    shard_file(&files[0], 0, 1, 1.0, CONFIG_A);
    ck_assert_int_eq(core_buf_appendf(&files[0],
                                      "{\"task_id\":\"y\",\"index\":20,\"config\":%s,"
                                      "\"n_samples\":-1}\n{\"summary\":{}}\n",
                                      CONFIG_A),
                     0);
    merge_fails(files, 1, CORE_EPARSE, "record y: n_samples -1");

    core_buf records = {0};
    core_buf summary = {0};
    ck_assert_int_eq(eval_results_merge(&records, &summary, NULL, NULL, 0, ks, 4, NULL),
                     CORE_EINVAL);
    /* empty shards (more shards than tasks) merge to an empty run */
    ck_assert_int_eq(core_buf_appendf(&files[0], "{\"summary\":{\"shard\":\"0/2\"}}\n"), 0);
    ck_assert_int_eq(core_buf_appendf(&files[1], "{\"summary\":{\"shard\":\"1/2\"}}"), 0);
    ck_assert_int_eq(merge(&records, &summary, files, 2, NULL), 0);
    ck_assert_ptr_nonnull(strstr(summary.ptr, "\"problems\":0,\"refused\":0,\"n\":0,"));
    core_buf_dispose(&records);
    core_buf_dispose(&summary);
    files_dispose(files, 2);
}
END_TEST

TCase *tcase_results(void)
{
    TCase *tc = tcase_create("results");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, results__shard_parse);
    tcase_add_test(tc, results__shards_partition_the_tasks);
    tcase_add_test(tc, results__summary_format);
    tcase_add_test(tc, results__merge_equals_one_run);
    tcase_add_test(tc, results__merge_order_matters);
    tcase_add_test(tc, results__merge_resumed_and_torn_files);
    tcase_add_test(tc, results__merge_refuses_bad_sets);
    return tc;
}
