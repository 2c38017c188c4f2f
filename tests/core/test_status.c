/* Tests of core/status.c: the code table and error reports. */
#include "tests/core/tests.h"

#include <string.h>

#include "core/core.h"

START_TEST(status__names_and_descriptions_come_from_one_table)
{
    ck_assert_str_eq(core_status_name(CORE_EPARSE), "CORE_EPARSE");
    ck_assert_str_eq(core_status_str(CORE_ENOMEM), "out of memory");
    ck_assert_str_eq(core_status_name(-999), "CORE_UNKNOWN");
}
END_TEST

START_TEST(status__err_set_returns_code_and_formats)
{
    core_err err;
    core_err_clear(&err);
    int rc = core_err_set(&err, CORE_EPARSE, "file %s: byte %d", "x.gguf", 12);
    ck_assert_int_eq(rc, CORE_EPARSE);
    ck_assert_int_eq(err.code, CORE_EPARSE);
    ck_assert_str_eq(err.msg, "file x.gguf: byte 12");
    ck_assert_int_eq(core_err_set(NULL, CORE_EINVAL, "ignored"), CORE_EINVAL);
}
END_TEST

START_TEST(status__err_wrap_prefixes_context)
{
    core_err err;
    core_err_set(&err, CORE_EPARSE, "bad magic");
    core_err_wrap(&err, CORE_EPARSE, "model %s", "m.gguf");
    ck_assert_str_eq(err.msg, "model m.gguf: bad magic");
}
END_TEST

TCase *tcase_status(void)
{
    TCase *tc = tcase_create("status");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, status__names_and_descriptions_come_from_one_table);
    tcase_add_test(tc, status__err_set_returns_code_and_formats);
    tcase_add_test(tc, status__err_wrap_prefixes_context);
    return tc;
}
