/*
 * kcemu-test: checks kcemu itself (built with KILN_CUDA_EMU=ON, compiled like the engine: as
 * C++ with cuda_runtime.h force-included). Shuffles of every kind and width, votes, block
 * barriers with threads that returned early, dynamic shared memory, launch-configuration
 * errors, graph capture and replay, cublasGemmEx against a plain loop, and, in child processes,
 * that kernel bugs abort with a "kcemu:" message: a shuffle with a lane that returned, a warp
 * split between __syncthreads and a shuffle, mismatched warp operations. Prints one line per
 * failed check and exits 1 if any failed, 0 otherwise.
 */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            n_failed++;                                                                            \
        }                                                                                          \
    } while (0)

template <typename... KArgs, typename... Args>
static cudaError_t go(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                      Args... args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    return cudaLaunchKernelEx(&cfg, k, args...);
}

/* out[t][0..6]: xor 1, xor 16 at width 32, down 3, up 5, idx 7, xor 2 at width 4, idx 1 at
 * width 8; then the ballot of odd lanes and any/all of lane < 40. */
__global__ void k_shuffles(int *out)
{
    const int t = threadIdx.x;
    const int v = 1000 + t;
    int *o = out + t * 10;
    o[0] = __shfl_xor_sync(0xffffffffu, v, 1);
    o[1] = __shfl_xor_sync(0xffffffffu, v, 16);
    o[2] = __shfl_down_sync(0xffffffffu, v, 3);
    o[3] = __shfl_up_sync(0xffffffffu, v, 5);
    o[4] = __shfl_sync(0xffffffffu, v, 7);
    o[5] = __shfl_xor_sync(0xffffffffu, v, 2, 4);
    o[6] = __shfl_sync(0xffffffffu, v, 1, 8);
    o[7] = (int)__ballot_sync(0xffffffffu, t & 1);
    o[8] = __any_sync(0xffffffffu, t < 40);
    o[9] = __all_sync(0xffffffffu, t < 40);
}

static void test_shuffles(void)
{
    int *d = nullptr;
    cudaMalloc(&d, 64 * 10 * sizeof(int));
    CHECK(go(k_shuffles, 1, 64, 0, nullptr, d) == cudaSuccess, "launch");
    int h[640];
    cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost);
    for (int t = 0; t < 64; t++) {
        const int l = t % 32, w0 = t - l;
        const int *o = h + t * 10;
        CHECK(o[0] == 1000 + w0 + (l ^ 1), "xor 1 lane %d: %d", t, o[0]);
        CHECK(o[1] == 1000 + w0 + (l ^ 16), "xor 16 lane %d: %d", t, o[1]);
        CHECK(o[2] == 1000 + w0 + (l + 3 < 32 ? l + 3 : l), "down lane %d: %d", t, o[2]);
        CHECK(o[3] == 1000 + w0 + (l >= 5 ? l - 5 : l), "up lane %d: %d", t, o[3]);
        CHECK(o[4] == 1000 + w0 + 7, "idx lane %d: %d", t, o[4]);
        CHECK(o[5] == 1000 + w0 + (l ^ 2), "xor width 4 lane %d: %d", t, o[5]);
        CHECK(o[6] == 1000 + w0 + (l & ~7) + 1, "idx width 8 lane %d: %d", t, o[6]);
        CHECK((unsigned)o[7] == 0xaaaaaaaau, "ballot lane %d: %#x", t, (unsigned)o[7]);
        CHECK(o[8] == 1, "any lane %d: %d", t, o[8]);
        CHECK(o[9] == (w0 == 0 ? 1 : 0), "all lane %d: %d", t, o[9]);
    }
    cudaFree(d);
}

/* A block sum through shared memory after some threads returned; dynamic shared memory holds
 * the per-thread values. */
__global__ void k_block_sum(float *out, int n_live)
{
    KCEMU_SHARED_DYN(float, vals);
    __shared__ float total;
    const int t = threadIdx.x + blockDim.x * threadIdx.y;
    vals[t] = (float)(t + 1) * (float)(blockIdx.x + 1);
    __syncthreads();
    if (t >= n_live) {
        return;
    }
    if (t == 0) {
        float s = 0.0f;
        for (int i = 0; i < (int)(blockDim.x * blockDim.y); i++) {
            s += vals[i];
        }
        total = s;
    }
    __syncthreads();
    out[blockIdx.x * n_live + t] = total;
}

static void test_barriers(void)
{
    float *d = nullptr;
    const int n_live = 40;
    cudaMalloc(&d, 3 * n_live * sizeof(float));
    CHECK(go(k_block_sum, 3, dim3(16, 8), 128 * sizeof(float), nullptr, d, n_live) == cudaSuccess,
          "launch");
    float h[3 * 40];
    cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost);
    for (int b = 0; b < 3; b++) {
        for (int t = 0; t < n_live; t++) {
            CHECK(h[b * n_live + t] == 8256.0f * (float)(b + 1), "block %d thread %d: %g", b, t,
                  (double)h[b * n_live + t]);
        }
    }
    cudaFree(d);
}

__global__ void k_add(float *x, float v)
{
    x[blockIdx.x * blockDim.x + threadIdx.x] += v;
}

static void test_launch_errors(void)
{
    float *d = nullptr;
    cudaMalloc(&d, 4096 * sizeof(float));
    CHECK(go(k_add, 1, 1025, 0, nullptr, d, 1.0f) == cudaErrorInvalidConfiguration, "1025");
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "last error");
    CHECK(cudaGetLastError() == cudaSuccess, "last error cleared");
    CHECK(go(k_add, 0, 32, 0, nullptr, d, 1.0f) == cudaErrorInvalidConfiguration, "grid 0");
    CHECK(go(k_add, 1, 32, 64 * 1024, nullptr, d, 1.0f) == cudaErrorInvalidValue, "smem");
    CHECK(cudaFuncSetAttribute(k_add, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) ==
              cudaSuccess,
          "attribute");
    CHECK(go(k_add, 1, 32, 64 * 1024, nullptr, d, 1.0f) == cudaSuccess, "smem after attribute");
    (void)cudaGetLastError();
    cudaFree(d);
}

/* Two launches and a copy captured, replayed twice: x = (x + 1) + 2 each time. */
static void test_graphs(void)
{
    cudaStream_t st = nullptr;
    CHECK(cudaStreamCreate(&st) == cudaSuccess, "stream");
    float *d = nullptr, *h = nullptr;
    cudaMalloc(&d, 64 * sizeof(float));
    cudaMallocHost(&h, 64 * sizeof(float));
    cudaMemset(d, 0, 64 * sizeof(float));
    CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin");
    go(k_add, 2, 32, 0, st, d, 1.0f);
    go(k_add, 2, 32, 0, st, d, 2.0f);
    cudaMemcpyAsync(h, d, 64 * sizeof(float), cudaMemcpyDeviceToHost, st);
    CHECK(cudaStreamSynchronize(st) == cudaErrorStreamCaptureUnsupported, "sync in capture");
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(st, &g) == cudaErrorStreamCaptureInvalidated, "invalidated");
    (void)cudaGetLastError();
    CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin");
    go(k_add, 2, 32, 0, st, d, 1.0f);
    go(k_add, 2, 32, 0, st, d, 2.0f);
    cudaMemcpyAsync(h, d, 64 * sizeof(float), cudaMemcpyDeviceToHost, st);
    CHECK(cudaStreamEndCapture(st, &g) == cudaSuccess, "end");
    float first = 0.0f;
    cudaMemcpy(&first, d, sizeof(float), cudaMemcpyDeviceToHost);
    CHECK(first == 0.0f, "capture ran the work: %g", (double)first);
    cudaGraphExec_t x = nullptr;
    CHECK(cudaGraphInstantiate(&x, g, 0) == cudaSuccess, "instantiate");
    cudaGraphDestroy(g);
    for (int r = 1; r <= 2; r++) {
        CHECK(cudaGraphLaunch(x, st) == cudaSuccess, "launch");
        cudaStreamSynchronize(st);
        for (int i = 0; i < 64; i++) {
            CHECK(h[i] == 3.0f * (float)r, "replay %d [%d]: %g", r, i, (double)h[i]);
        }
    }
    cudaGraphExecDestroy(x);
    cudaFreeHost(h);
    cudaFree(d);
    cudaStreamDestroy(st);
}

/* C (m, n) = A^T B with A (k, m) and B (k, n) in FP16, column-major, against a plain loop. */
static void test_gemm(void)
{
    const int m = 5, n = 3, k = 7, ldc = 6;
    __half a[k * m], b[k * n];
    float ref[m * n], c[ldc * n];
    for (int i = 0; i < k * m; i++) {
        a[i] = __float2half((float)(i % 5) - 2.0f);
    }
    for (int i = 0; i < k * n; i++) {
        b[i] = __float2half((float)(i % 3) * 0.5f);
    }
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            float s = 0.0f;
            for (int l = 0; l < k; l++) {
                s += __half2float(a[l + i * k]) * __half2float(b[l + j * k]);
            }
            ref[i + j * m] = 2.0f * s + 1.0f;
        }
    }
    for (int i = 0; i < ldc * n; i++) {
        c[i] = 1.0f;
    }
    cublasHandle_t h = nullptr;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "create");
    const float alpha = 2.0f, beta = 1.0f;
    CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a, CUDA_R_16F, k, b,
                       CUDA_R_16F, k, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS,
          "gemm");
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            CHECK(c[i + j * ldc] == ref[i + j * m], "c[%d][%d] %g, want %g", i, j,
                  (double)c[i + j * ldc], (double)ref[i + j * m]);
        }
    }
    CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a, CUDA_R_16F, k, b,
                       CUDA_R_32F, k, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED,
          "mixed input types");
    CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a, CUDA_R_16F, k - 1, b,
                       CUDA_R_16F, k, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE,
          "lda too small");
    cublasDestroy(h);
}

/* Kernel bugs the emulator must report. */
__global__ void k_shfl_after_return(float *out)
{
    if (threadIdx.x == 5) {
        return;
    }
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void k_split_barrier(float *out)
{
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    }
}

__global__ void k_mismatch(float *out)
{
    if (threadIdx.x % 2) {
        __syncwarp();
    } else {
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    }
}

/* Runs k in a child; it must abort and say want on stderr. */
static void expect_abort(void (*k)(float *), const char *want)
{
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(false, "pipe");
        return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        float *d = nullptr;
        cudaMalloc(&d, 32 * sizeof(float));
        go(k, 1, 32, 0, nullptr, d);
        _exit(0);
    }
    close(fds[1]);
    char buf[1024];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof(buf) && (r = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0) {
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the child did not abort", want);
    CHECK(strstr(buf, "kcemu: ") && strstr(buf, want), "%s: got \"%s\"", want, buf);
    if (getenv("KCEMU_TEST_VERBOSE")) {
        fputs(buf, stderr);
    }
}

int main(void)
{
    test_shuffles();
    test_barriers();
    test_launch_errors();
    test_graphs();
    test_gemm();
    expect_abort(k_shfl_after_return, "for lane 5, which has returned");
    expect_abort(k_split_barrier, "some lanes skipped one");
    expect_abort(k_mismatch, "which waits at __syncwarp");
    expect_abort(k_mismatch, "k_mismatch");
    if (n_failed) {
        fprintf(stderr, "kcemu-test: %d checks failed\n", n_failed);
        return 1;
    }
    printf("kcemu-test: all checks passed\n");
    return 0;
}
