/* Tests of sandbox/pool.c and the runners behind it: verdicts for Python and C, user errors
 * (tests that do not parse, a bad entry, a missing interpreter or compiler), bad options, and
 * the allocation-failure loop over a whole run. */
#include <string.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"
#include "tests/sandbox/tests.h"

static const char add_py[] = "def add(a, b):\n    return a + b\n";

START_TEST(pool__python_verdicts)
{
    sbx_pool *pool = sbx_test_pool(1, true);
    sbx_result r;
    core_err err = {0};
    ck_assert_int_eq(
        sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) == 3\n", "add", &r, &err), 0);
    ck_assert_int_eq(r.verdict, SBX_VERDICT_PASSED);
    ck_assert_int_eq((int)r.n_tests, 1);
    ck_assert_str_eq(r.tests[0].name, "assert@L1");
    sbx_result_dispose(&r);
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_PYTHON, add_py,
                                  "assert add(1, 2) == 3\nassert add(1, 1) == 3\n", "add", &r,
                                  &err),
                     0);
    ck_assert_int_eq(r.verdict, SBX_VERDICT_FAILED);
    ck_assert_int_eq((int)r.n_tests, 2);
    ck_assert_int_eq(r.tests[1].status, SBX_TEST_FAILED);
    ck_assert_str_eq(r.tests[1].message, "line 2: assert add(1, 1) == 3");
    sbx_result_dispose(&r);
    ck_assert_int_eq(
        sbx_test_run(pool, SBX_LANG_PYTHON, "def add(:\n", "assert add(1) == 1\n", "add", &r, &err),
        0);
    ck_assert_int_eq(r.verdict, SBX_VERDICT_ERROR);
    ck_assert_ptr_nonnull(strstr(r.message, "SyntaxError"));
    sbx_result_dispose(&r);
    ck_assert_int_eq(
        sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) ==\n", "add", &r, &err),
        CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "tests: line 1"));
    sbx_result_dispose(&r);
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "x = 1\n", "add", &r, &err),
                     CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "no tests"));
    sbx_result_dispose(&r);
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert 1\n", "a-b", &r, &err),
                     CORE_EINVAL);
    sbx_result_dispose(&r);
    sbx_pool_free(pool);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
}
END_TEST

START_TEST(pool__c_verdicts)
{
    sbx_pool *pool = sbx_test_pool(1, false);
    static const char tests[] = "int add(int, int);\nint main(void) { return add(2, 2) != 4; }\n";
    sbx_result r;
    core_err err = {0};
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_C, "int add(int a, int b) { return a + b; }\n",
                                  tests, "add", &r, &err),
                     0);
    ck_assert_int_eq(r.verdict, SBX_VERDICT_PASSED);
    ck_assert_int_gt((int)r.compile_ms, 0);
    sbx_result_dispose(&r);
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_C, "int add(int a, int b) { return a * b + 1; }\n",
                                  tests, "add", &r, &err),
                     0);
    ck_assert_int_eq(r.verdict, SBX_VERDICT_FAILED);
    ck_assert_ptr_nonnull(strstr(r.message, "status 1"));
    sbx_result_dispose(&r);
    sbx_pool_free(pool);
}
END_TEST

START_TEST(pool__missing_tools)
{
    sbx_pool_options o = sbx_pool_options_default();
    o.n_slots = 1;
    o.prefork = false;
    o.uid_base = SBX_TEST_UID_BASE;
    o.python_path = "/usr/bin/kiln-no-python";
    o.cc_path = "/usr/bin/kiln-no-gcc";
    sbx_pool *pool = NULL;
    core_err err = {0};
    ck_assert_msg(sbx_pool_new(&pool, &o, &err) == 0, "%s", err.msg);
    sbx_result r;
    ck_assert_int_eq(
        sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) == 3\n", "add", &r, &err),
        CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "kiln-no-python"));
    sbx_result_dispose(&r);
    ck_assert_int_eq(sbx_test_run(pool, SBX_LANG_C, "int add(int a, int b) { return a + b; }\n",
                                  "int main(void) { return 0; }\n", "add", &r, &err),
                     CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "kiln-no-gcc"));
    sbx_result_dispose(&r);
    sbx_pool_free(pool);
}
END_TEST

START_TEST(pool__bad_options)
{
    sbx_pool_options o = sbx_pool_options_default();
    sbx_pool *pool = NULL;
    o.uid_base = 0;
    ck_assert_int_eq(sbx_pool_new(&pool, &o, NULL), CORE_EINVAL);
    o = sbx_pool_options_default();
    o.python_path = "python3";
    ck_assert_int_eq(sbx_pool_new(&pool, &o, NULL), CORE_EINVAL);
    ck_assert_ptr_null(pool);
    sbx_pool_free(NULL);
}
END_TEST

START_TEST(pool__alloc_failure_loop)
{
    sbx_pool *pool = sbx_test_pool(1, false);
    long live = core_alloc_live();
    int rc = CORE_ENOMEM;
    long n = 1;
    for (; rc == CORE_ENOMEM && n < 200; n++) {
        sbx_result r;
        core_err err = {0};
        core_alloc_fail_after(n);
        rc =
            sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) == 3\n", "add", &r, &err);
        core_alloc_fail_after(0);
        ck_assert_msg(rc == 0 || rc == CORE_ENOMEM, "n %ld: rc %d %s", n, rc, err.msg);
        sbx_result_dispose(&r);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 3);
    sbx_pool_free(pool);
}
END_TEST

/* Regression: slots that had never started a pair closed descriptor 0 (their zeroed fds) when
 * prefork first stopped them, which broke other slots' job sockets once there were more than
 * two slots. */
START_TEST(pool__many_slots_prefork)
{
    sbx_pool *pool = sbx_test_pool(4, true);
    for (int i = 0; i < 24; i++) {
        sbx_result r;
        core_err err = {0};
        ck_assert_int_eq(
            sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) == 3\n", "add", &r, &err),
            0);
        ck_assert_msg(r.verdict == SBX_VERDICT_PASSED, "run %d: %s", i, r.message);
        sbx_result_dispose(&r);
    }
    sbx_pool_free(pool);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
}
END_TEST

/* A zygote that died (here: killed from outside) is started again by the next run, and the
 * run still passes; the killed one leaves nothing behind. */
START_TEST(pool__zygote_restarts)
{
    sbx_pool *pool = sbx_test_pool(1, false);
    for (int i = 0; i < 3; i++) {
        sbx_result r;
        core_err err = {0};
        ck_assert_int_eq(
            sbx_test_run(pool, SBX_LANG_PYTHON, add_py, "assert add(1, 2) == 3\n", "add", &r, &err),
            0);
        ck_assert_msg(r.verdict == SBX_VERDICT_PASSED, "run %d: %s", i, r.message);
        sbx_result_dispose(&r);
        ck_assert_int_eq(sbx_test_kill_zygotes(), 2);
    }
    sbx_pool_free(pool);
    ck_assert_int_eq(sbx_test_kill_zygotes(), 0);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
}
END_TEST

TCase *tcase_pool(void)
{
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pool__python_verdicts);
    tcase_add_test(tc, pool__c_verdicts);
    tcase_add_test(tc, pool__missing_tools);
    tcase_add_test(tc, pool__bad_options);
    tcase_add_test(tc, pool__alloc_failure_loop);
    tcase_add_test(tc, pool__many_slots_prefork);
    tcase_add_test(tc, pool__zygote_restarts);
    return tc;
}
