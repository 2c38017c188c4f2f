/* TCase constructors of the kernels suite, one per kernels/ source file, and shared helpers. */
#ifndef KILN_TESTS_KERNELS_H
#define KILN_TESTS_KERNELS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Float comparisons without -Wdouble-promotion noise; both print the two values on failure. */
#define KT_EQ(a, b)        ck_assert_double_eq((double)(a), (double)(b))
#define KT_NEAR(a, b, tol) ck_assert_double_eq_tol((double)(a), (double)(b), (double)(tol))

TCase *tcase_types(void);
TCase *tcase_backend(void);
TCase *tcase_quants(void);
TCase *tcase_matmul(void);
TCase *tcase_ops(void);
TCase *tcase_module(void);

/* A small deterministic generator (xorshift64*), so every run sees the same data. */
typedef struct test_rng {
    uint64_t s;
} test_rng;

uint32_t test_rng_u32(test_rng *r);
/* Uniform in [-1, 1). */
float test_rng_uniform(test_rng *r);
/* Approximately standard normal, with an occasional outlier (x8) as activations have. */
float test_rng_activation(test_rng *r);
void test_fill(test_rng *r, float *x, size_t n);

/* Normalized mean squared error: sum (a - b)^2 / sum b^2 (b is the reference). */
double test_nmse(const float *a, const float *b, size_t n);

/* Aligned scratch that aborts on failure (tests only); free with test_free. */
void *test_alloc(size_t size);
void test_free(void *p);

#endif
