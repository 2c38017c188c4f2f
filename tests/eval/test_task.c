/* Tests of eval/task.c: HumanEval and MBPP lines, errors naming line and field, OOM. */
#include "tests/eval/tests.h"

#include <string.h>

#include "eval/eval.h"

static core_arena *arena_new(void)
{
    core_arena *a = NULL;
    ck_assert_int_eq(core_arena_new(&a, 4096, NULL), 0);
    return a;
}

START_TEST(task__humaneval_line)
{
    core_arena *a = arena_new();
    eval_task t;
    const char *line = "{\"task_id\": \"HumanEval/7\", \"prompt\": \"def f(x):\\n\", "
                       "\"entry_point\": \"f\", \"test\": \"def check(candidate):\\n    pass\\n\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(line), 4, NULL), 0);
    ck_assert_int_eq(t.format, EVAL_TASK_FORMAT_HUMANEVAL);
    ck_assert_str_eq(t.task_id, "HumanEval/7");
    ck_assert_str_eq(t.prompt, "def f(x):\n");
    ck_assert_str_eq(t.entry_point, "f");
    ck_assert_str_eq(t.test, "def check(candidate):\n    pass\n");
    ck_assert_str_eq(t.solution, "");
    ck_assert_ptr_null(t.test_list);
    ck_assert_uint_eq(t.n_tests, 0);
    ck_assert_uint_eq(t.line, 4);
    core_arena_free(a);
}
END_TEST

START_TEST(task__mbpp_line_finds_entry_and_joins_tests)
{
    core_arena *a = arena_new();
    eval_task t;
    const char *line =
        "{\"task_id\": 602, \"text\": \"Square it.\", \"code\": \"def helper(x):\\n    return "
        "x\\ndef sq(n):\\n    return helper(n) * n\", \"test_list\": [\"assert sq(3) == 9\", "
        "\"assert sq(0) == 0\"], \"test_setup_code\": \"import math\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(line), 1, NULL), 0);
    ck_assert_int_eq(t.format, EVAL_TASK_FORMAT_MBPP);
    ck_assert_str_eq(t.task_id, "602");
    ck_assert_str_eq(t.prompt, "Square it.");
    ck_assert_str_eq(t.entry_point, "sq");
    ck_assert_uint_eq(t.n_tests, 2);
    ck_assert_str_eq(t.test_list[1], "assert sq(0) == 0");
    ck_assert_str_eq(t.test, "import math\nassert sq(3) == 9\nassert sq(0) == 0\n");
    ck_assert_str_eq(t.solution,
                     "def helper(x):\n    return x\ndef sq(n):\n    return helper(n) * n");
    core_arena_free(a);
}
END_TEST

/* MBPP's prose becomes a def with a docstring whose example is the first test. */
START_TEST(task__prompt_of_mbpp_is_a_signature_with_an_example)
{
    core_arena *a = arena_new();
    eval_task t;
    const char *line =
        "{\"task_id\": 602, \"text\": \"Square it.\", \"code\": \"def helper(x):\\n    return "
        "x\\ndef sq(n):  \\n    return helper(n) * n\", \"test_list\": [\"assert sq((1 == 1) + 2) "
        "== 9\", \"assert sq(0) == 0\"]}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(line), 1, NULL), 0);
    const char *prompt = NULL;
    ck_assert_int_eq(eval_task_prompt(&prompt, a, &t, NULL), 0);
    ck_assert_str_eq(prompt, "def sq(n):\n    \"\"\"Square it.\n    >>> sq((1 == 1) + 2)\n    9\n"
                             "    \"\"\"\n");
    /* the example is a test the docstring extraction finds */
    const char **lines = NULL;
    size_t n = 0;
    ck_assert_int_eq(eval_doctest_extract(&lines, &n, NULL, a, core_str_c(prompt), NULL), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(lines[0], "assert sq((1 == 1) + 2) == 9");
    /* no def the tests call: refused by name */
    t.entry_point = "cube";
    core_err err = {0};
    ck_assert_int_eq(eval_task_prompt(&prompt, a, &t, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "602"));
    /* HumanEval: the prompt itself */
    t.format = EVAL_TASK_FORMAT_HUMANEVAL;
    t.prompt = "def f():\n";
    ck_assert_int_eq(eval_task_prompt(&prompt, a, &t, NULL), 0);
    ck_assert_str_eq(prompt, "def f():\n");
    core_arena_free(a);
}
END_TEST

START_TEST(task__sanitized_mbpp_line)
{
    core_arena *a = arena_new();
    eval_task t;
    const char *line =
        "{\"task_id\": 2, \"prompt\": \"Echo.\", \"code\": \"def f(x): return x\", "
        "\"test_imports\": [\"import math\"], \"test_list\": [\"assert f(1) == 1\"]}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(line), 1, NULL), 0);
    ck_assert_int_eq(t.format, EVAL_TASK_FORMAT_MBPP);
    ck_assert_str_eq(t.prompt, "Echo.");
    ck_assert_str_eq(t.entry_point, "f");
    ck_assert_str_eq(t.test, "import math\nassert f(1) == 1\n");
    core_arena_free(a);
}
END_TEST

typedef struct bad_case {
    const char *line;
    const char *msg;
} bad_case;

START_TEST(task__errors_name_line_and_field)
{
    static const bad_case cases[] = {
        {"{\"task_id\": \"x\", \"prompt\": \"p\", \"test\": \"t\"}",
         "line 9: field 'entry_point' missing"},
        {"{\"task_id\": \"x\", \"prompt\": 3, \"entry_point\": \"f\", \"test\": \"t\"}",
         "line 9: field 'prompt': not a string"},
        {"{\"prompt\": \"p\", \"entry_point\": \"f\", \"test\": \"t\"}",
         "line 9: field 'task_id' missing"},
        {"{\"task_id\": 1.5, \"text\": \"t\", \"test_list\": []}",
         "line 9: field 'task_id': not an integer"},
        {"{\"task_id\": 1, \"text\": \"t\", \"test_list\": \"assert 1\"}",
         "line 9: field 'test_list': not an array"},
        {"{\"task_id\": 1, \"text\": \"t\", \"test_list\": [\"assert 1\", 2]}",
         "line 9: field 'test_list[1]': not a string"},
        {"{\"task_id\": 1}", "line 9: field 'prompt' (HumanEval) or 'text' (MBPP) missing"},
        {"{\"task_id\": 1, \"test_list\": []}", "line 9: field 'prompt' missing"},
        {"{\"task_id\": 1, \"text\": \"t\", \"test_list\": [], \"test_imports\": [3]}",
         "line 9: field 'test_imports[0]': not a string"},
        {"[1, 2]", "line 9: not a JSON object"},
        {"{\"task_id\": 1,", "line 9: byte"},
        {"{} trailing", "line 9: byte"},
        {"", "line 9: empty line"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        core_arena *a = arena_new();
        eval_task t;
        core_err err = {0};
        ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(cases[i].line), 9, &err),
                         CORE_EPARSE);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].msg);
        core_arena_free(a);
    }
}
END_TEST

START_TEST(task__set_skips_blank_lines_and_counts_them)
{
    core_arena *a = arena_new();
    eval_task_set set;
    core_err err = {0};
    const char *text = "\n{\"task_id\": 1, \"text\": \"t\", \"test_list\": []}\r\n  \n"
                       "{\"task_id\": 2, \"text\": \"u\", \"test_list\": [\"assert 1\"]}";
    ck_assert_int_eq(eval_task_set_parse(&set, a, core_str_c(text), "b.jsonl", &err), 0);
    ck_assert_uint_eq(set.n_tasks, 2);
    ck_assert_uint_eq(set.tasks[0].line, 2);
    ck_assert_uint_eq(set.tasks[1].line, 4);
    ck_assert_str_eq(set.tasks[1].task_id, "2");
    ck_assert_str_eq(set.tasks[1].entry_point, "");
    const char *bad = "{\"task_id\": 1, \"text\": \"t\", \"test_list\": []}\n\n{\"task_id\": 2}\n";
    ck_assert_int_eq(eval_task_set_parse(&set, a, core_str_c(bad), "b.jsonl", &err), CORE_EPARSE);
    ck_assert_str_eq(err.msg,
                     "b.jsonl: line 3: field 'prompt' (HumanEval) or 'text' (MBPP) missing");
    ck_assert_uint_eq(set.n_tasks, 0);
    core_arena_free(a);
}
END_TEST

START_TEST(task__load_fixture_and_missing_file)
{
    core_arena *a = arena_new();
    eval_task_set set;
    core_err err = {0};
    ck_assert_int_eq(eval_task_set_load(&set, a, KILN_FIXTURES "/eval/tasks.jsonl", &err), 0);
    ck_assert_uint_eq(set.n_tasks, 2);
    ck_assert_str_eq(set.tasks[0].entry_point, "add");
    ck_assert_str_eq(set.tasks[0].solution, "    return a + b\n");
    ck_assert_str_eq(set.tasks[1].entry_point, "square");
    ck_assert_uint_eq(set.tasks[1].line, 3);
    ck_assert_int_eq(eval_task_set_load(&set, a, KILN_FIXTURES "/eval/none.jsonl", &err),
                     CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "none.jsonl"));
    core_arena_free(a);
}
END_TEST

START_TEST(task__enomem_leaks_nothing)
{
    const char *text = "{\"task_id\": 3, \"text\": \"t\", \"code\": \"def g(a):\\n  return a\", "
                       "\"test_list\": [\"assert g(1) == 1\", \"assert g(2) == 2\"], "
                       "\"test_setup_code\": \"x = 1\"}\n"
                       "{\"task_id\": \"H/1\", \"prompt\": \"p\", \"entry_point\": \"f\", "
                       "\"test\": \"t\", \"language\": \"c\", \"visible_tests\": \"v\"}\n";
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_arena *a = NULL;
        ck_assert_int_eq(core_arena_new(&a, 64, NULL), 0);
        eval_task_set set;
        core_alloc_fail_after(n);
        int rc = eval_task_set_parse(&set, a, core_str_c(text), NULL, NULL);
        core_alloc_fail_after(0);
        core_arena_free(a);
        if (rc == 0) {
            ck_assert_uint_eq(set.n_tasks, 2);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_lt(n, 1000);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

START_TEST(task__language_and_visible_tests)
{
    core_arena *a = arena_new();
    eval_task t;
    const char *c_line = "{\"task_id\": \"kiln/c/1\", \"prompt\": \"int f(int x);\", "
                         "\"entry_point\": \"f\", \"test\": \"hidden\", \"language\": \"c\", "
                         "\"visible_tests\": \"int main(void) { return f(1) != 2; }\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(c_line), 1, NULL), 0);
    ck_assert_str_eq(t.language, "c");
    ck_assert_str_eq(t.visible_tests, "int main(void) { return f(1) != 2; }");
    ck_assert_str_eq(t.test, "hidden");

    const char *py_line = "{\"task_id\": \"p\", \"prompt\": \"def f(x):\\n\", "
                          "\"entry_point\": \"f\", \"test\": \"t\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(py_line), 2, NULL), 0);
    ck_assert_str_eq(t.language, "python");
    ck_assert_str_eq(t.visible_tests, "");

    const char *mbpp = "{\"task_id\": 1, \"text\": \"t\", \"code\": \"def g(a): return a\", "
                       "\"test_list\": [\"assert g(1) == 1\"], \"visible_tests\": \"assert g(2) "
                       "== 2\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(mbpp), 3, NULL), 0);
    ck_assert_str_eq(t.language, "python");
    ck_assert_str_eq(t.visible_tests, "assert g(2) == 2");

    core_err err = {0};
    const char *bad_lang = "{\"task_id\": \"p\", \"prompt\": \"x\", \"entry_point\": \"f\", "
                           "\"test\": \"t\", \"language\": \"rust\"}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(bad_lang), 9, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "line 9"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'language'"));
    const char *bad_vis = "{\"task_id\": \"p\", \"prompt\": \"x\", \"entry_point\": \"f\", "
                          "\"test\": \"t\", \"visible_tests\": [1]}";
    ck_assert_int_eq(eval_task_parse_line(&t, a, core_str_c(bad_vis), 4, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "'visible_tests'"));
    core_arena_free(a);
}
END_TEST

TCase *tcase_task(void)
{
    TCase *tc = tcase_create("task");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, task__humaneval_line);
    tcase_add_test(tc, task__mbpp_line_finds_entry_and_joins_tests);
    tcase_add_test(tc, task__sanitized_mbpp_line);
    tcase_add_test(tc, task__prompt_of_mbpp_is_a_signature_with_an_example);
    tcase_add_test(tc, task__errors_name_line_and_field);
    tcase_add_test(tc, task__set_skips_blank_lines_and_counts_them);
    tcase_add_test(tc, task__load_fixture_and_missing_file);
    tcase_add_test(tc, task__enomem_leaks_nothing);
    tcase_add_test(tc, task__language_and_visible_tests);
    return tc;
}
