/*
 * kcemu, a CPU emulator of the CUDA execution model, so that kiln's CUDA engine (the .cu files
 * compiled as host C++17) runs and is tested on machines without a GPU. This header stands in
 * for the toolkit's cuda_runtime.h: it takes the runtime API's types and C prototypes from the
 * real cuda_runtime_api.h (the toolkit headers are needed, nvcc and the driver are not) and adds
 * what nvcc would give device code: the qualifiers (empty, with __shared__ as static), threadIdx
 * and friends, barriers, warp shuffles and votes, atomics and the fast-math intrinsics, and a
 * cudaLaunchKernelEx that binds a kernel and its arguments by value into a closure that
 * emu.cpp runs at once or records into a captured graph.
 *
 * Execution model and limits: every thread of a block is a fiber; one OS thread runs one block
 * at a time, blocks in order, so static storage is each block's shared memory. __syncthreads
 * waits for every thread of the block that has not returned, warp operations for the lanes of
 * their mask (__shfl_xor_sync for its partner lane; emu.cpp says how skipped exchanges are still
 * caught); a warp operation whose partner lane has returned or waits elsewhere, and any
 * deadlock, aborts with a "kcemu: ..." message naming the kernel. Threads never run at the same
 * time, so this checks arithmetic, indexing, barriers and shuffles, not timing or memory-ordering
 * races (a missing __threadfence or a read racing a write goes unnoticed). Device memory and
 * dynamic shared memory are host memory filled with 0xff bytes (NaN as floats) when allocated
 * (shared: at each block), so reads of memory that nothing wrote show up in results; static
 * __shared__ variables keep the previous block's values instead. Built with AddressSanitizer,
 * out-of-bounds accesses in kernels are caught as in host code.
 */
#ifndef KILN_KCEMU_CUDA_RUNTIME_H
#define KILN_KCEMU_CUDA_RUNTIME_H

#include <cuda_runtime_api.h>
#include <vector_functions.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#define KILN_CUDA_EMU 1

/* Qualifiers: device code is host code; a block's shared memory is static storage. */
#undef __global__
#define __global__
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)

/* ---- The running thread's coordinates (valid inside a kernel only) ---- */

struct kcemu_thread {
    uint3 tid;
};
extern kcemu_thread *kcemu_self; /* the emulated thread running now */
extern uint3 kcemu_block_idx;
extern dim3 kcemu_block_dim;
extern dim3 kcemu_grid_dim;
extern void *kcemu_smem_dyn; /* this launch's dynamic shared memory */

/* Read-only views; blockDim and gridDim are also field names (cudaLaunchConfig_t), so only
 * threadIdx, which changes from fiber to fiber, is a macro. */
extern const uint3 &blockIdx;
extern const dim3 &blockDim;
extern const dim3 &gridDim;
#define threadIdx (static_cast<const uint3 &>(kcemu_self->tid))
constexpr int warpSize = 32;

/* The kernel's dynamic shared memory as `T *name` (ops.cuh's KC_SHARED_DYN uses it). */
#define KCEMU_SHARED_DYN(T, name) T *const name = static_cast<T *>(kcemu_smem_dyn)

/* ---- Barriers and warp operations (emu.cpp) ---- */

enum kcemu_warp_op {
    KCEMU_SYNCWARP = 1,
    KCEMU_SHFL,
    KCEMU_SHFL_UP,
    KCEMU_SHFL_DOWN,
    KCEMU_SHFL_XOR,
    KCEMU_BALLOT,
    KCEMU_ANY,
    KCEMU_ALL,
};

void kcemu_syncthreads(void);
/* Waits for the lanes of mask at the same operation; returns the shuffled bits or the vote. */
uint64_t kcemu_warp(int op, unsigned mask, uint64_t bits, int arg, int width);

static inline void __syncthreads(void)
{
    kcemu_syncthreads();
}

static inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    kcemu_warp(KCEMU_SYNCWARP, mask, 0, 0, 32);
}

template <typename T> static inline uint64_t kcemu_bits(T v)
{
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of this type");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof(T));
    return b;
}

template <typename T> static inline T kcemu_from_bits(uint64_t b)
{
    T v;
    memcpy(&v, &b, sizeof(T));
    return v;
}

template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return kcemu_from_bits<T>(kcemu_warp(KCEMU_SHFL, mask, kcemu_bits(v), src, width));
}

template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return kcemu_from_bits<T>(kcemu_warp(KCEMU_SHFL_UP, mask, kcemu_bits(v), (int)delta, width));
}

template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return kcemu_from_bits<T>(kcemu_warp(KCEMU_SHFL_DOWN, mask, kcemu_bits(v), (int)delta, width));
}

template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    return kcemu_from_bits<T>(kcemu_warp(KCEMU_SHFL_XOR, mask, kcemu_bits(v), lane_mask, width));
}

static inline unsigned __ballot_sync(unsigned mask, int pred)
{
    return (unsigned)kcemu_warp(KCEMU_BALLOT, mask, pred != 0, 0, 32);
}

static inline int __any_sync(unsigned mask, int pred)
{
    return (int)kcemu_warp(KCEMU_ANY, mask, pred != 0, 0, 32);
}

static inline int __all_sync(unsigned mask, int pred)
{
    return (int)kcemu_warp(KCEMU_ALL, mask, pred != 0, 0, 32);
}

/* Threads never overlap, so fences have nothing to order. */
static inline void __threadfence(void)
{
}

static inline void __threadfence_block(void)
{
}

/*
 * ---- Atomics: plain read-modify-write (one thread runs at a time) ----
 * One template each stands for CUDA's overloads on int, unsigned, 64-bit and floating types;
 * the value converts to the pointee's type, as it would to the overload's parameter.
 */

template <typename T, typename U> static inline T atomicAdd(T *p, U v)
{
    const T old = *p;
    *p = (T)(old + (T)v);
    return old;
}

template <typename T, typename U> static inline T atomicSub(T *p, U v)
{
    const T old = *p;
    *p = (T)(old - (T)v);
    return old;
}

template <typename T, typename U> static inline T atomicMax(T *p, U v)
{
    const T old = *p;
    *p = (T)v > old ? (T)v : old;
    return old;
}

template <typename T, typename U> static inline T atomicMin(T *p, U v)
{
    const T old = *p;
    *p = (T)v < old ? (T)v : old;
    return old;
}

template <typename T, typename U> static inline T atomicExch(T *p, U v)
{
    const T old = *p;
    *p = (T)v;
    return old;
}

template <typename T, typename U, typename V> static inline T atomicCAS(T *p, U cmp, V v)
{
    const T old = *p;
    if (old == (T)cmp) {
        *p = (T)v;
    }
    return old;
}

/* ---- Intrinsics ---- */

static inline float kcemu_expf(float x)
{
    return expf(x);
}
static inline float kcemu_logf(float x)
{
    return logf(x);
}
static inline float kcemu_sinf(float x)
{
    return sinf(x);
}
static inline float kcemu_cosf(float x)
{
    return cosf(x);
}
static inline float kcemu_powf(float x, float y)
{
    return powf(x, y);
}
/* glibc's math.h declares __expf and friends itself: map CUDA's spellings to ours. */
#define __expf kcemu_expf
#define __logf kcemu_logf
#define __sinf kcemu_sinf
#define __cosf kcemu_cosf
#define __powf kcemu_powf
static inline float __fdividef(float x, float y)
{
    return x / y;
}
static inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}
static inline float __saturatef(float x)
{
    return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}
static inline unsigned __float_as_uint(float x)
{
    return kcemu_from_bits<unsigned>(kcemu_bits(x));
}
static inline float __uint_as_float(unsigned x)
{
    return kcemu_from_bits<float>(kcemu_bits(x));
}
static inline int __float_as_int(float x)
{
    return kcemu_from_bits<int>(kcemu_bits(x));
}
static inline float __int_as_float(int x)
{
    return kcemu_from_bits<float>(kcemu_bits(x));
}
static inline int __float2int_rn(float x)
{
    return (int)lrintf(x);
}
static inline int __popc(unsigned x)
{
    return __builtin_popcount(x);
}
static inline int __popcll(unsigned long long x)
{
    return __builtin_popcountll(x);
}
static inline int __clz(int x)
{
    return x == 0 ? 32 : __builtin_clz((unsigned)x);
}
static inline int __ffs(int x)
{
    return __builtin_ffs(x);
}

/* Four 8-bit products summed into c: signed and unsigned flavours. */
static inline int __dp4a(int a, int b, int c)
{
    for (int k = 0; k < 4; k++) {
        c += (int)(int8_t)(a >> (8 * k)) * (int)(int8_t)(b >> (8 * k));
    }
    return c;
}
static inline unsigned __dp4a(unsigned a, unsigned b, unsigned c)
{
    for (int k = 0; k < 4; k++) {
        c += ((a >> (8 * k)) & 0xffu) * ((b >> (8 * k)) & 0xffu);
    }
    return c;
}

template <typename T> static inline T __ldg(const T *p)
{
    return *p;
}

static inline int min(int a, int b)
{
    return a < b ? a : b;
}
static inline unsigned min(unsigned a, unsigned b)
{
    return a < b ? a : b;
}
static inline long long min(long long a, long long b)
{
    return a < b ? a : b;
}
static inline unsigned long long min(unsigned long long a, unsigned long long b)
{
    return a < b ? a : b;
}
static inline float min(float a, float b)
{
    return fminf(a, b);
}
static inline int max(int a, int b)
{
    return a > b ? a : b;
}
static inline unsigned max(unsigned a, unsigned b)
{
    return a > b ? a : b;
}
static inline long long max(long long a, long long b)
{
    return a > b ? a : b;
}
static inline unsigned long long max(unsigned long long a, unsigned long long b)
{
    return a > b ? a : b;
}
static inline float max(float a, float b)
{
    return fmaxf(a, b);
}

/* ---- Launches ---- */

/*
 * Runs (or, on a capturing stream, records) a launch: run(closure) is one thread's body,
 * destroy(closure) frees the closure once neither the launch nor a graph needs it.
 */
cudaError_t kcemu_launch(const cudaLaunchConfig_t *cfg, const void *func, void (*run)(void *),
                         void (*destroy)(void *), void *closure);

/* A kernel and a copy of its arguments, converted to its parameter types. */
template <typename... KArgs> struct kcemu_call {
    void (*fn)(KArgs...);
    std::tuple<std::decay_t<KArgs>...> args;

    static void run(void *self)
    {
        kcemu_call *c = static_cast<kcemu_call *>(self);
        std::apply(c->fn, c->args);
    }

    static void destroy(void *self)
    {
        kcemu_call *c = static_cast<kcemu_call *>(self);
        c->~kcemu_call();
        free(c);
    }
};

template <typename... KArgs, typename... Args>
static inline cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t *cfg,
                                             void (*kernel)(KArgs...), Args &&...args)
{
    static_assert(sizeof...(KArgs) == sizeof...(Args), "kernel argument count");
    typedef kcemu_call<KArgs...> call;
    void *mem = malloc(sizeof(call));
    if (!mem) {
        return cudaErrorMemoryAllocation;
    }
    call *c = new (mem)
        call{kernel, std::tuple<std::decay_t<KArgs>...>(static_cast<std::decay_t<KArgs>>(args)...)};
    return kcemu_launch(cfg, reinterpret_cast<const void *>(kernel), &call::run, &call::destroy, c);
}

template <class T>
static inline cudaError_t cudaFuncSetAttribute(T *func, cudaFuncAttribute attr, int value)
{
    return cudaFuncSetAttribute(reinterpret_cast<const void *>(func), attr, value);
}

template <class T> static inline cudaError_t cudaMalloc(T **p, size_t size)
{
    return cudaMalloc(reinterpret_cast<void **>(p), size);
}

template <class T> static inline cudaError_t cudaMallocHost(T **p, size_t size)
{
    return cudaMallocHost(reinterpret_cast<void **>(p), size);
}

#endif /* KILN_KCEMU_CUDA_RUNTIME_H */
