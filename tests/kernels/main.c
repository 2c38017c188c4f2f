/* The kernels suite: one TCase per kernels/ source file (ref/, cpu/ variants tested per op). */
#include <stdlib.h>

#include "tests/kernels/tests.h"

#include "core/core.h"

uint32_t test_rng_u32(test_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ULL) >> 32);
}

float test_rng_uniform(test_rng *r)
{
    return (float)test_rng_u32(r) / 2147483648.0f - 1.0f;
}

float test_rng_activation(test_rng *r)
{
    /* Sum of four uniforms: roughly normal with variance 4/3. */
    float v = 0.0f;
    for (int i = 0; i < 4; i++) {
        v += test_rng_uniform(r);
    }
    if (test_rng_u32(r) % 64 == 0) {
        v *= 8.0f;
    }
    return v;
}

void test_fill(test_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = test_rng_activation(r);
    }
}

double test_nmse(const float *a, const float *b, size_t n)
{
    double err = 0.0;
    double ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        err += d * d;
        ref += (double)b[i] * (double)b[i];
    }
    return ref > 0.0 ? err / ref : err;
}

void *test_alloc(size_t size)
{
    void *p = core_malloc_aligned(size == 0 ? 64 : size, 64);
    CORE_ASSERT(p != NULL);
    return p;
}

void test_free(void *p)
{
    core_free_aligned(p);
}

int main(void)
{
    Suite *s = suite_create("kernels");
    suite_add_tcase(s, tcase_types());
    suite_add_tcase(s, tcase_backend());
    suite_add_tcase(s, tcase_quants());
    suite_add_tcase(s, tcase_matmul());
    suite_add_tcase(s, tcase_ops());
    suite_add_tcase(s, tcase_module());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
