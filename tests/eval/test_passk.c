/* Tests of eval/passk.c against hand-computed values. */
#include "tests/eval/tests.h"

#include <math.h>
#include <string.h>

#include "eval/eval.h"

static double passk(size_t n, size_t c, size_t k)
{
    double p = -1.0;
    ck_assert_int_eq(eval_passk(&p, n, c, k, NULL), 0);
    return p;
}

START_TEST(passk__hand_computed_values)
{
    ck_assert_double_eq_tol(passk(10, 0, 1), 0.0, 1e-12);
    ck_assert_double_eq_tol(passk(10, 10, 1), 1.0, 1e-12);
    ck_assert_double_eq_tol(passk(10, 3, 1), 0.3, 1e-12);
    /* 1 - C(7,2)/C(10,2) = 1 - 21/45 */
    ck_assert_double_eq_tol(passk(10, 3, 2), 24.0 / 45.0, 1e-12);
    /* 1 - C(3,3)/C(5,3) = 1 - 1/10 */
    ck_assert_double_eq_tol(passk(5, 2, 3), 0.9, 1e-12);
    /* n - c < k: every draw of k holds a correct sample */
    ck_assert_double_eq(passk(5, 3, 3), 1.0);
    /* 1 - C(199,100)/C(200,100) = 1 - 100/200 */
    ck_assert_double_eq_tol(passk(200, 1, 100), 0.5, 1e-12);
}
END_TEST

START_TEST(passk__large_n_matches_log_binomials)
{
    /* C(n-c, k)/C(n, k) through lgamma, where the binomials themselves would overflow. */
    const size_t n = 1000, c = 10, k = 100;
    double log_ratio = lgamma((double)(n - c + 1)) - lgamma((double)(n - c - k + 1)) -
                       (lgamma((double)(n + 1)) - lgamma((double)(n - k + 1)));
    ck_assert_double_eq_tol(passk(n, c, k), 1.0 - exp(log_ratio), 1e-9);
    double p = passk(100000, 50000, 100000 - 50000 + 1);
    ck_assert_double_eq(p, 1.0);
    ck_assert(isfinite(passk(100000, 3, 7)));
}
END_TEST

START_TEST(passk__rejects_bad_arguments)
{
    double p = 0.5;
    core_err err = {0};
    ck_assert_int_eq(eval_passk(&p, 10, 3, 0, &err), CORE_EINVAL);
    ck_assert_int_eq(eval_passk(&p, 10, 3, 11, &err), CORE_EINVAL);
    ck_assert_int_eq(eval_passk(&p, 10, 11, 1, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "c 11"));
}
END_TEST

START_TEST(passk__mean_over_problems)
{
    const size_t n[] = {10, 10, 5};
    const size_t c[] = {3, 0, 5};
    double mean = -1.0;
    ck_assert_int_eq(eval_passk_mean(&mean, n, c, 3, 1, NULL), 0);
    ck_assert_double_eq_tol(mean, (0.3 + 0.0 + 1.0) / 3.0, 1e-12);
    ck_assert_int_eq(eval_passk_mean(&mean, n, c, 0, 1, NULL), 0);
    ck_assert_double_eq(mean, 0.0);
    core_err err = {0};
    ck_assert_int_eq(eval_passk_mean(&mean, n, c, 3, 6, &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "problem 2"));
}
END_TEST

TCase *tcase_passk(void)
{
    TCase *tc = tcase_create("passk");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, passk__hand_computed_values);
    tcase_add_test(tc, passk__large_n_matches_log_binomials);
    tcase_add_test(tc, passk__rejects_bad_arguments);
    tcase_add_test(tc, passk__mean_over_problems);
    return tc;
}
