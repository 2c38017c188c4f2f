/*
 * Stand-ins for the x86 variants on other CPUs: feature detection says no, and the variant
 * entry points (never selected then) forward to the portable kernels so that the tables link.
 */
#include "kernels/kern_impl.h"

bool kern__cpu_has_avx2(void)
{
    return false;
}

bool kern__cpu_has_avx512(void)
{
    return false;
}

void kern_quantize_row_avx2(kern_type t, const float *restrict x, void *restrict y, size_t n)
{
    kern_quantize_row_ref(t, x, y, n);
}

void kern_matmul_avx2(const kern_matmul *m, size_t ith, size_t nth)
{
    kern_matmul_generic(m, ith, nth);
}

void kern_rmsnorm_avx2(float *y, const float *x, const float *w, size_t n, float eps)
{
    kern_rmsnorm_ref(y, x, w, n, eps);
}

void kern_attn_avx2(const kern_attn *a)
{
    kern_attn_ref(a);
}

void kern_quantize_row_avx512(kern_type t, const float *restrict x, void *restrict y, size_t n)
{
    kern_quantize_row_ref(t, x, y, n);
}

void kern_matmul_avx512(const kern_matmul *m, size_t ith, size_t nth)
{
    kern_matmul_generic(m, ith, nth);
}

bool kern__cpu_has_amx(void)
{
    return false;
}

void kern_matmul_amx(const kern_matmul *m, size_t ith, size_t nth)
{
    kern_matmul_generic(m, ith, nth);
}

size_t kern_pack_size_avx512(kern_type t, size_t n_rows, size_t n_cols)
{
    (void)t;
    (void)n_rows;
    (void)n_cols;
    return 0;
}

void kern_pack_avx512(void *restrict dst, kern_type t, const void *restrict w, size_t w_row_bytes,
                      size_t n_rows, size_t n_cols, size_t g_lo, size_t g_hi)
{
    (void)dst;
    (void)t;
    (void)w;
    (void)w_row_bytes;
    (void)n_rows;
    (void)n_cols;
    (void)g_lo;
    (void)g_hi;
}
