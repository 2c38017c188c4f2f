/*
 * Tests of lsp/config.c: the kiln.tests.<lang>.command and .files settings as
 * workspace/didChangeConfiguration and initializationOptions carry them, nested or dotted; bad
 * values named in the messages with the old value kept; null resetting a setting.
 */
#include "tests/lsp/tests.h"

#include <string.h>

#include "lsp/lsp_int.h"

/* Applies the JSON settings section json to tests; returns the messages (owned by msgs). */
static const char *apply(lsp__tests *tests, core_buf *msgs, const char *json)
{
    cJSON *kiln = cJSON_Parse(json);
    ck_assert_ptr_nonnull(kiln);
    msgs->len = 0;
    core_err err = {0};
    ck_assert_int_eq(lsp__tests_configure(tests, kiln, msgs, &err), 0);
    cJSON_Delete(kiln);
    return msgs->len > 0 ? msgs->ptr : "";
}

static void dispose(lsp__tests *tests)
{
    for (size_t l = 0; l < SOLVE_N_LANGS; l++) {
        lsp__tests_dispose(&tests[l]);
    }
}

START_TEST(config__nested_and_dotted_settings)
{
    lsp__tests tests[SOLVE_N_LANGS];
    memset(tests, 0, sizeof(tests));
    core_buf msgs = {0};
    ck_assert_str_eq(apply(tests, &msgs,
                           "{\"tests\": {\"c\": {\"files\": [\"tests/*.c\", \"t/**/*.c\"],"
                           " \"command\": \"make test\"},"
                           " \"python\": {\"command\": \"python3 -m pytest -q {tests}\"}}}"),
                     "");
    ck_assert_uint_eq(tests[SOLVE_LANG_C].n_files, 2);
    ck_assert_str_eq(tests[SOLVE_LANG_C].files[0], "tests/*.c");
    ck_assert_str_eq(tests[SOLVE_LANG_C].files[1], "t/**/*.c");
    ck_assert_str_eq(tests[SOLVE_LANG_C].command, "make test");
    ck_assert_str_eq(tests[SOLVE_LANG_PYTHON].command, "python3 -m pytest -q {tests}");
    ck_assert_uint_eq(tests[SOLVE_LANG_PYTHON].n_files, 0);

    /* Dotted keys at any level; a single glob as a string; absent settings stay. */
    ck_assert_str_eq(apply(tests, &msgs, "{\"tests.c.files\": \"spec/*.c\"}"), "");
    ck_assert_uint_eq(tests[SOLVE_LANG_C].n_files, 1);
    ck_assert_str_eq(tests[SOLVE_LANG_C].files[0], "spec/*.c");
    ck_assert_str_eq(tests[SOLVE_LANG_C].command, "make test");
    ck_assert_str_eq(apply(tests, &msgs, "{\"tests\": {\"python.files\": [\"checks/*.py\"]}}"), "");
    ck_assert_uint_eq(tests[SOLVE_LANG_PYTHON].n_files, 1);
    ck_assert_str_eq(tests[SOLVE_LANG_PYTHON].command, "python3 -m pytest -q {tests}");

    /* null and "" reset to the built-in run; [] to no files. */
    ck_assert_str_eq(apply(tests, &msgs,
                           "{\"tests\": {\"python\": {\"command\": null},"
                           " \"c\": {\"command\": \"\", \"files\": []}}}"),
                     "");
    ck_assert_ptr_null(tests[SOLVE_LANG_PYTHON].command);
    ck_assert_ptr_null(tests[SOLVE_LANG_C].command);
    ck_assert_uint_eq(tests[SOLVE_LANG_C].n_files, 0);
    ck_assert_uint_eq(tests[SOLVE_LANG_PYTHON].n_files, 1);
    core_buf_dispose(&msgs);
    dispose(tests);
}
END_TEST

START_TEST(config__bad_values_are_named_and_the_old_ones_stay)
{
    lsp__tests tests[SOLVE_N_LANGS];
    memset(tests, 0, sizeof(tests));
    core_buf msgs = {0};
    apply(tests, &msgs,
          "{\"tests\": {\"c\": {\"files\": [\"tests/*.c\"], \"command\": \"make test\"}}}");

    const char *m = apply(tests, &msgs, "{\"tests\": {\"c\": {\"files\": [\"/etc/*.c\"]}}}");
    ck_assert_str_eq(m, "kiln.tests.c.files [0] \"/etc/*.c\" must be relative to the workspace "
                        "folder; keeping [\"tests/*.c\"]\n");
    ck_assert_uint_eq(tests[SOLVE_LANG_C].n_files, 1);
    ck_assert_str_eq(tests[SOLVE_LANG_C].files[0], "tests/*.c");

    m = apply(tests, &msgs, "{\"tests\": {\"c\": {\"files\": [\"ok/*.c\", \"../up/*.c\"]}}}");
    ck_assert_ptr_nonnull(strstr(m, "kiln.tests.c.files [1] \"../up/*.c\" must stay inside"));
    ck_assert_str_eq(tests[SOLVE_LANG_C].files[0], "tests/*.c"); /* nothing half-applied */

    m = apply(tests, &msgs, "{\"tests\": {\"c\": {\"files\": 3, \"command\": 7}}}");
    ck_assert_ptr_nonnull(strstr(m, "kiln.tests.c.command must be a string (a shell command) or "
                                    "null; keeping \"make test\"\n"));
    ck_assert_ptr_nonnull(strstr(m, "kiln.tests.c.files must be an array of globs"));
    ck_assert_str_eq(tests[SOLVE_LANG_C].command, "make test");

    m = apply(tests, &msgs, "{\"tests\": {\"c\": {\"files\": [1]}}}");
    ck_assert_ptr_nonnull(strstr(m, "kiln.tests.c.files [0] must be a string"));
    m = apply(tests, &msgs, "{\"tests\": {\"python\": {\"command\": \"  \"}}}");
    ck_assert_str_eq(m, "kiln.tests.python.command is blank; keeping the built-in run\n");
    ck_assert_ptr_null(tests[SOLVE_LANG_PYTHON].command);
    m = apply(tests, &msgs, "{\"tests\": {\"rust\": {\"command\": \"cargo test\"}}}");
    ck_assert_str_eq(m, "kiln.tests.rust: kiln tests python and c only\n");
    m = apply(tests, &msgs, "{\"tests\": [1]}");
    ck_assert_ptr_nonnull(strstr(m, "kiln.tests must be an object"));
    ck_assert_str_eq(tests[SOLVE_LANG_C].command, "make test");
    ck_assert_uint_eq(tests[SOLVE_LANG_C].n_files, 1);
    /* Not a section at all: nothing changes, nothing said. */
    ck_assert_str_eq(apply(tests, &msgs, "[]"), "");
    ck_assert_str_eq(apply(tests, &msgs, "null"), "");
    ck_assert_str_eq(tests[SOLVE_LANG_C].command, "make test");
    core_buf_dispose(&msgs);
    dispose(tests);
}
END_TEST

TCase *tcase_config(void)
{
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, config__nested_and_dotted_settings);
    tcase_add_test(tc, config__bad_values_are_named_and_the_old_ones_stay);
    return tc;
}
