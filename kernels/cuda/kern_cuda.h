/*
 * C-linkage entry points of the CUDA kernels (the .cu files here). Private to kernels/. When kiln
 * is built without CUDA, kernels/cuda/none.c provides the same functions, returning
 * CORE_EUNSUPPORTED, so callers need no #ifdef.
 */
#ifndef KILN_KERN_CUDA_H
#define KILN_KERN_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/core.h"

/**
 * Stores the number of CUDA devices in *out (0 when the driver reports none). Returns
 * CORE_EUNSUPPORTED when built without CUDA, CORE_ERROR when a CUDA call fails.
 */
int kern_cuda_device_count(int *out, core_err *err);

/**
 * Dequantizes n Q8_0 values (n a multiple of 32) from host memory x into host memory y on
 * device 0: copies in, runs one thread per value, copies out. A smoke test of the toolchain
 * and of the error path. Returns CORE_EUNSUPPORTED without CUDA or device, CORE_ENOMEM, or
 * CORE_ERROR with the failing call, file and line.
 */
int kern_cuda_dequantize_q8_0(float *y, const void *x, size_t n, core_err *err);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KERN_CUDA_H */
