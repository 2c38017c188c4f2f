/* Tests of kernels/cuda/device.cu on a machine with a CUDA device. */
#include <check.h>
#include <stdlib.h>

#include "kernels/cuda/kern_cuda.h"
#include "kernels/kern.h"

TCase *tcase_device(void);

START_TEST(device__dequantize_q8_0_matches_ref)
{
    enum { N = 32 * 1000 + 64 };
    float *x = malloc(N * sizeof(float));
    float *want = malloc(N * sizeof(float));
    float *got = malloc(N * sizeof(float));
    void *q = malloc(kern_type_row_bytes(KERN_TYPE_Q8_0, N));
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < N; i++) {
        x[i] = (float)((i * 7919) % 2001 - 1000) / 37.0f;
    }
    const kern_ops *ref = kern_backend_variant(0, NULL);
    ref->quantize_row(KERN_TYPE_Q8_0, x, q, N);
    ref->dequantize_row(KERN_TYPE_Q8_0, q, want, N);
    core_err err = {0};
    kern_cuda_module *cuda = NULL;
    ck_assert_int_eq(kern_cuda_module_open(&cuda, NULL, &err), 0);
    ck_assert_int_eq(kern_cuda_module_api(cuda)->dequantize_q8_0(got, q, N, &err), 0);
    kern_cuda_module_close(cuda);
    for (int i = 0; i < N; i++) {
        ck_assert_double_eq((double)got[i], (double)want[i]);
    }
    free(x);
    free(want);
    free(got);
    free(q);
}
END_TEST

TCase *tcase_device(void)
{
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 60);
    tcase_set_tags(tc, "gpu");
    tcase_add_test(tc, device__dequantize_q8_0_matches_ref);
    return tc;
}
