/*
 * CUDA device queries and a smoke-test kernel (Q8_0 dequantization), and the module's table of
 * entry points (kern_cuda_engine_api, the one symbol libkiln-cuda.so exports). Every runtime
 * call goes through KERN_CUDA_CHECK, which turns a failure into a core_err naming the call, file
 * and line. The engine itself is in engine.cu.
 */
#include "kernels/cuda/engine_int.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

/* Runs call; on failure records "<call>: <cuda error> (file:line)" in err and jumps to done. */
#define KERN_CUDA_CHECK(call)                                                                      \
    do {                                                                                           \
        const cudaError_t e_ = (call);                                                             \
        if (e_ != cudaSuccess) {                                                                   \
            rc = core_err_set(err, e_ == cudaErrorMemoryAllocation ? CORE_ENOMEM : CORE_ERROR,     \
                              "cuda: %s: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__,     \
                              __LINE__);                                                           \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* ggml's block_q8_0: an f16 scale, then 32 signed quants; 34 bytes, 2-byte aligned. */
struct block_q8_0 {
    __half d;
    int8_t qs[32];
};
static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");

__global__ static void dequantize_q8_0(float *__restrict__ y, const block_q8_0 *__restrict__ x,
                                       size_t n)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const block_q8_0 *b = x + i / 32;
        y[i] = __half2float(b->d) * (float)b->qs[i % 32];
    }
}

extern "C" int kern_cuda__device_count(int *out, core_err *err)
{
    int rc = 0;
    int n = 0;
    *out = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
        (void)cudaGetLastError(); /* clear the sticky "no device" state */
        return 0;
    }
    KERN_CUDA_CHECK(e);
    *out = n;
done:
    return rc;
}

extern "C" int kern_cuda__device_name(char *buf, size_t size, core_err *err)
{
    int rc = 0;
    int n = 0;
    cudaDeviceProp prop;
    if (size > 0) {
        buf[0] = '\0';
    }
    rc = kern_cuda__device_count(&n, err);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cuda: no device");
    }
    KERN_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    snprintf(buf, size, "%s", prop.name);
done:
    return rc;
}

extern "C" int kern_cuda__dequantize_q8_0(float *y, const void *x, size_t n, core_err *err)
{
    int rc = 0;
    int n_devices = 0;
    float *dy = NULL;
    block_q8_0 *dx = NULL;
    const size_t x_bytes = n / 32 * sizeof(block_q8_0);
    rc = kern_cuda__device_count(&n_devices, err);
    if (rc != 0) {
        return rc;
    }
    if (n_devices == 0) {
        return core_err_set(err, CORE_EUNSUPPORTED, "cuda: no device");
    }
    KERN_CUDA_CHECK(cudaSetDevice(0));
    KERN_CUDA_CHECK(cudaMalloc((void **)&dx, x_bytes));
    KERN_CUDA_CHECK(cudaMalloc((void **)&dy, n * sizeof(float)));
    KERN_CUDA_CHECK(cudaMemcpy(dx, x, x_bytes, cudaMemcpyHostToDevice));
    {
        const unsigned threads = 256;
        const unsigned blocks = (unsigned)((n + threads - 1) / threads);
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(blocks);
        cfg.blockDim = dim3(threads);
        KERN_CUDA_CHECK(cudaLaunchKernelEx(&cfg, dequantize_q8_0, dy, (const block_q8_0 *)dx, n));
    }
    KERN_CUDA_CHECK(cudaMemcpy(y, dy, n * sizeof(float), cudaMemcpyDeviceToHost));
done:
    cudaFree(dx);
    cudaFree(dy);
    return rc;
}

static const kern_cuda_api ENGINE_API = {
    KERN_CUDA_ABI,
    sizeof(kern_cuda_api),
    sizeof(kern_cuda_model_desc),
    kern_cuda__device_count,
    kern_cuda__device_name,
    kern_cuda__dequantize_q8_0,
    kern_cuda__type_supported,
    kern_cuda__model_new,
    kern_cuda__model_free,
    kern_cuda__model_n_bytes,
    kern_cuda__ctx_new,
    kern_cuda__ctx_free,
    kern_cuda__ctx_forward,
    kern_cuda__ctx_logits,
    kern_cuda__ctx_seq_copy,
};

extern "C" const kern_cuda_api *kern_cuda_engine_api(void)
{
    return &ENGINE_API;
}
