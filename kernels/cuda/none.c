/*
 * Stand-ins for the CUDA entry points when kiln is built without CUDA (no nvcc, or
 * -DKILN_CUDA=OFF): every call reports CORE_EUNSUPPORTED.
 */
#include "kernels/cuda/kern_cuda.h"

int kern_cuda_device_count(int *out, core_err *err)
{
    *out = 0;
    return core_err_set(err, CORE_EUNSUPPORTED, "cuda: not built with cuda");
}

int kern_cuda_dequantize_q8_0(float *y, const void *x, size_t n, core_err *err)
{
    (void)y;
    (void)x;
    (void)n;
    return core_err_set(err, CORE_EUNSUPPORTED, "cuda: not built with cuda");
}
