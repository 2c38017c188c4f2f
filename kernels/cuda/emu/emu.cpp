/*
 * kcemu's runtime: the CUDA runtime and cuBLAS calls the engine makes, and the scheduler that
 * runs kernels on the CPU (cuda_runtime.h says what the emulator is and what it cannot see).
 *
 * A launch runs its blocks in order, one at a time, in the calling OS thread. Each thread of a
 * block is a fiber with its own stack (64 KiB, 256 KiB under AddressSanitizer, a guard page
 * below), kept in a pool and reused by every block and launch; x86-64 switches with a few
 * instructions, other machines (or -DKCEMU_UCONTEXT) with ucontext. The scheduler starts the
 * warps in turn; a lane that waits hands over straight to the next ready lane of its warp, and
 * the warp is done when none is ready. Warp operations wait for the lanes of their mask, the
 * last to arrive completing the operation and carrying on, except __shfl_xor_sync: an exchange
 * is symmetric, so a lane and its partner pass together as soon as both are there, which halves
 * the switches of warp reductions. To still catch lanes that skip an exchange, every lane of a
 * warp must have made the same number of whole-warp exchanges whenever the block reaches
 * __syncthreads (released once every thread that has not returned waits there) and at its end.
 * A warp whose lanes wait at operations that cannot complete is a kernel bug: the process
 * aborts with a "kcemu:" message naming the kernel, block, warp and lanes.
 *
 * Streams run their work at once (every call is synchronous), except while captured: then
 * launches, copies, sets and GEMMs are recorded, and a graph replays them in order. A global lock
 * serializes launches from several host threads; the last error is global, not per thread.
 * KILN_CUDA_EMU_FAIL=N makes the N-th cudaMalloc (counting from 1) fail with
 * cudaErrorMemoryAllocation, to test error paths; KILN_CUDA_EMU_STATS=1 prints counts of
 * launches, threads, warp operations and fiber switches at exit.
 */
#include "cublas_v2.h"
#include "cuda_runtime.h"

#include <cuda_fp16.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define KCEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KCEMU_ASAN 1
#endif
#endif
#ifdef KCEMU_ASAN
#include <sanitizer/common_interface_defs.h>
#define KCEMU_STACK (256u << 10)
#else
#define KCEMU_STACK (64u << 10)
#endif

#if !defined(__x86_64__) || defined(KCEMU_UCONTEXT)
#include <ucontext.h>
#endif

#define KCEMU_MAX_THREADS  1024
#define KCEMU_SMEM_DEFAULT (48 * 1024)
#define KCEMU_SMEM_OPTIN   232448 /* compute capability 9.0 */

kcemu_thread *kcemu_self;
uint3 kcemu_block_idx;
dim3 kcemu_block_dim;
dim3 kcemu_grid_dim;
void *kcemu_smem_dyn;
const uint3 &blockIdx = kcemu_block_idx;
const dim3 &blockDim = kcemu_block_dim;
const dim3 &gridDim = kcemu_grid_dim;

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static cudaError_t kcemu_last_error = cudaSuccess;

static cudaError_t kcemu_fail(cudaError_t e)
{
    if (e != cudaSuccess) {
        kcemu_last_error = e;
    }
    return e;
}

[[noreturn]] static void kcemu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void kcemu_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kcemu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ------------------------------------------------------------------------------------------ */
/* Fibers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct kcemu_ctx {
#if defined(__x86_64__) && !defined(KCEMU_UCONTEXT)
    void *sp;
#else
    ucontext_t uc;
#endif
    const void *stack_lo; /* for the sanitizer; the scheduler's is learnt on the first switch */
    size_t stack_size;
};

#if defined(__x86_64__) && !defined(KCEMU_UCONTEXT)
/* kcemu_swap(save, sp): pushes the callee-saved registers, stores the stack pointer in *save,
 * switches to sp and pops that context's registers. */
extern "C" void kcemu_swap(void **save, void *sp);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl kcemu_swap\n"
        ".hidden kcemu_swap\n"
        ".type kcemu_swap,@function\n"
        "kcemu_swap:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size kcemu_swap, .-kcemu_swap\n");
#endif

enum kcemu_state { KCEMU_READY, KCEMU_AT_SYNC, KCEMU_AT_WARP, KCEMU_EXITED };

struct kcemu_fiber : kcemu_thread {
    kcemu_ctx ctx;
    int index; /* linear thread index in the block */
};

/*
 * What the scheduler is running; guarded by kcemu_lock. Per-thread state that the warp
 * operations scan lives in arrays indexed by thread (a warp's lanes are adjacent).
 */
static struct {
    kcemu_ctx sched;
    kcemu_fiber *fibers[KCEMU_MAX_THREADS];
    int n_fibers;
    void (*run)(void *);
    void *closure;
    const void *func;
    int n_threads; /* of the current block */
    int n_live;
    uint8_t state[KCEMU_MAX_THREADS];
    /* the pending warp operation of each thread */
    uint8_t op[KCEMU_MAX_THREADS];
    uint8_t width[KCEMU_MAX_THREADS];
    unsigned mask[KCEMU_MAX_THREADS];
    int arg[KCEMU_MAX_THREADS];
    uint64_t bits[KCEMU_MAX_THREADS];
    unsigned n_xor[KCEMU_MAX_THREADS];        /* whole-warp exchanges each thread made */
    unsigned arrived[KCEMU_MAX_THREADS / 32]; /* per warp: lanes at a warp operation */
    uint64_t out[32];                         /* results of the warp operation completing */
    kcemu_ctx *from;                          /* the context the last switch left */
} kcemu_s;

static pthread_mutex_t kcemu_lock = PTHREAD_MUTEX_INITIALIZER;

/* Counters that KILN_CUDA_EMU_STATS=1 prints at exit. */
static struct {
    unsigned long long launches, blocks, threads, warp_ops, syncs, switches;
} kcemu_n;

static void kcemu_stats_print(void)
{
    fprintf(stderr,
            "kcemu: %llu launches, %llu blocks, %llu threads, %llu warp operations, %llu "
            "__syncthreads, %llu switches\n",
            kcemu_n.launches, kcemu_n.blocks, kcemu_n.threads, kcemu_n.warp_ops, kcemu_n.syncs,
            kcemu_n.switches);
}

static void kcemu_switch(kcemu_ctx *from, kcemu_ctx *to)
{
    kcemu_n.switches++;
#ifdef KCEMU_ASAN
    void *fake = nullptr;
    kcemu_s.from = from;
    __sanitizer_start_switch_fiber(&fake, to->stack_lo, to->stack_size);
#endif
#if defined(__x86_64__) && !defined(KCEMU_UCONTEXT)
    kcemu_swap(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
#ifdef KCEMU_ASAN
    const void *lo = nullptr;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(fake, &lo, &size);
    if (kcemu_s.from == &kcemu_s.sched) {
        kcemu_s.sched.stack_lo = lo;
        kcemu_s.sched.stack_size = size;
    }
#endif
}

/*
 * Leaves fiber f, which waits or has returned, for the next ready lane of its warp (so that a
 * warp operation costs each lane one switch), or for the scheduler when there is none.
 */
static void kcemu_yield(kcemu_fiber *f)
{
    const int w0 = f->index & ~31;
    const int n_lanes = kcemu_s.n_threads - w0 < 32 ? kcemu_s.n_threads - w0 : 32;
    const uint8_t *state = &kcemu_s.state[w0];
    int l = f->index - w0;
    for (int k = 1; k < n_lanes; k++) {
        l = l + 1 == n_lanes ? 0 : l + 1;
        if (state[l] == KCEMU_READY) {
            kcemu_fiber *g = kcemu_s.fibers[w0 + l];
            kcemu_self = g;
            kcemu_switch(&f->ctx, &g->ctx);
            return;
        }
    }
    kcemu_switch(&f->ctx, &kcemu_s.sched);
}

/* A fiber's life: run the current launch's body as its thread, report, wait to be reused. */
static void kcemu_fiber_main(void)
{
#ifdef KCEMU_ASAN
    const void *lo = nullptr;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(nullptr, &lo, &size);
    kcemu_s.sched.stack_lo = lo;
    kcemu_s.sched.stack_size = size;
#endif
    for (;;) {
        kcemu_fiber *f = static_cast<kcemu_fiber *>(kcemu_self);
        kcemu_s.run(kcemu_s.closure);
        kcemu_s.state[f->index] = KCEMU_EXITED;
        kcemu_s.n_live--;
        kcemu_yield(f);
    }
}

/* Fiber number color; stacks start at 32 different offsets so that the lanes of a warp do not
 * all compete for the same cache sets. */
static kcemu_fiber *kcemu_fiber_new(int color)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t size = KCEMU_STACK + page;
    void *map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        kcemu_die("out of memory for thread stacks");
    }
    mprotect(map, page, PROT_NONE); /* a stack overflow faults instead of corrupting */
    kcemu_fiber *f = static_cast<kcemu_fiber *>(calloc(1, sizeof(kcemu_fiber)));
    if (!f) {
        kcemu_die("out of memory");
    }
    char *lo = static_cast<char *>(map) + page;
    f->ctx.stack_lo = lo;
    f->ctx.stack_size = KCEMU_STACK;
#if defined(__x86_64__) && !defined(KCEMU_UCONTEXT)
    /* As if kcemu_swap had been called from kcemu_fiber_main's caller: six saved registers,
     * then the address kcemu_swap returns to; the entry sees rsp = 8 (mod 16), as after a
     * call. */
    uintptr_t top = ((uintptr_t)(lo + KCEMU_STACK - 128 * (size_t)(color % 32))) & ~(uintptr_t)15;
    void **sp = reinterpret_cast<void **>(top);
    *--sp = nullptr; /* the entry's return address: it never returns */
    *--sp = reinterpret_cast<void *>(&kcemu_fiber_main);
    for (int i = 0; i < 6; i++) {
        *--sp = nullptr;
    }
    f->ctx.sp = sp;
#else
    getcontext(&f->ctx.uc);
    f->ctx.uc.uc_stack.ss_sp = lo;
    f->ctx.uc.uc_stack.ss_size = KCEMU_STACK - 128 * (size_t)(color % 32);
    f->ctx.uc.uc_link = nullptr;
    makecontext(&f->ctx.uc, kcemu_fiber_main, 0);
#endif
    return f;
}

/* ------------------------------------------------------------------------------------------ */
/* Kernel names for messages: the symbol table of the file holding the function               */
/* ------------------------------------------------------------------------------------------ */

/* "name (symbol)" for a mangled C++ function symbol _Z<length><name>..., else the symbol (no
 * full demangler: C programs link the engine without libstdc++). */
static void kcemu_demangled(const char *sym, char *buf, size_t size)
{
    if (sym[0] == '_' && sym[1] == 'Z' && sym[2] >= '1' && sym[2] <= '9') {
        char *end = nullptr;
        const unsigned long len = strtoul(sym + 2, &end, 10);
        if (len > 0 && strlen(end) >= len) {
            snprintf(buf, size, "%.*s (%s)", (int)len, end, sym);
            return;
        }
    }
    snprintf(buf, size, "%s", sym);
}

static void kcemu_func_name(const void *func, char *buf, size_t size)
{
    snprintf(buf, size, "kernel at %p", func);
    Dl_info info;
    if (!dladdr(func, &info) || !info.dli_fname) {
        return;
    }
    if (info.dli_sname && info.dli_saddr == func) {
        kcemu_demangled(info.dli_sname, buf, size);
        return;
    }
    /* Not exported (static, or an executable's): read .symtab from the file itself. */
    const int fd = open(info.dli_fname[0] ? info.dli_fname : "/proc/self/exe", O_RDONLY);
    if (fd < 0) {
        return;
    }
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(Elf64_Ehdr)) {
        map = mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd);
    if (map == MAP_FAILED) {
        return;
    }
    const char *base = static_cast<const char *>(map);
    const Elf64_Ehdr *eh = reinterpret_cast<const Elf64_Ehdr *>(base);
    const uintptr_t off =
        (uintptr_t)func - (eh->e_type == ET_DYN ? (uintptr_t)info.dli_fbase : (uintptr_t)0);
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= (size_t)st.st_size) {
        const Elf64_Shdr *sh = reinterpret_cast<const Elf64_Shdr *>(base + eh->e_shoff);
        for (int i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) {
                continue;
            }
            const Elf64_Sym *sym = reinterpret_cast<const Elf64_Sym *>(base + sh[i].sh_offset);
            const char *str = base + sh[sh[i].sh_link].sh_offset;
            const size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
            for (size_t j = 0; j < n; j++) {
                if (ELF64_ST_TYPE(sym[j].st_info) == STT_FUNC && sym[j].st_value == off) {
                    kcemu_demangled(str + sym[j].st_name, buf, size);
                    break;
                }
            }
        }
    }
    munmap(map, (size_t)st.st_size);
}

[[noreturn]] static void kcemu_kernel_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void kcemu_kernel_die(const char *fmt, ...)
{
    char name[256];
    kcemu_func_name(kcemu_s.func, name, sizeof(name));
    fprintf(stderr, "kcemu: %s, block (%u, %u, %u) of (%u, %u, %u), %u threads: ", name,
            kcemu_block_idx.x, kcemu_block_idx.y, kcemu_block_idx.z, kcemu_grid_dim.x,
            kcemu_grid_dim.y, kcemu_grid_dim.z,
            kcemu_block_dim.x * kcemu_block_dim.y * kcemu_block_dim.z);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ------------------------------------------------------------------------------------------ */
/* Barriers and warp operations                                                               */
/* ------------------------------------------------------------------------------------------ */

static kcemu_fiber *kcemu_cur(void)
{
    return static_cast<kcemu_fiber *>(kcemu_self);
}

void kcemu_syncthreads(void)
{
    kcemu_fiber *f = kcemu_cur();
    kcemu_s.state[f->index] = KCEMU_AT_SYNC;
    kcemu_n.syncs++;
    kcemu_yield(f);
}

static const char *kcemu_op_name(int op)
{
    switch (op) {
    case KCEMU_SYNCWARP:
        return "__syncwarp";
    case KCEMU_SHFL:
        return "__shfl_sync";
    case KCEMU_SHFL_UP:
        return "__shfl_up_sync";
    case KCEMU_SHFL_DOWN:
        return "__shfl_down_sync";
    case KCEMU_SHFL_XOR:
        return "__shfl_xor_sync";
    case KCEMU_BALLOT:
        return "__ballot_sync";
    case KCEMU_ANY:
        return "__any_sync";
    default:
        return "__all_sync";
    }
}

/* The lane whose value lane reads in shuffle op (arg, width); its own when out of range. */
static inline int kcemu_src_lane(int op, int arg, int width, int lane)
{
    const int seg = lane & ~(width - 1);
    int src;
    switch (op) {
    case KCEMU_SHFL:
        return seg + (arg & (width - 1));
    case KCEMU_SHFL_UP:
        src = lane - arg;
        return src < seg ? lane : src;
    case KCEMU_SHFL_DOWN:
        src = lane + arg;
        return src >= seg + width ? lane : src;
    default:
        src = lane ^ arg;
        return src >= seg + width ? lane : src;
    }
}

/* Every lane of mask in warp w is at an operation: check that it is the same one, compute
 * each lane's result and make them ready. */
__attribute__((noinline)) static void kcemu_warp_complete(int w, int n_lanes, unsigned mask,
                                                          int self)
{
    const int base = 32 * w;
    const uint8_t *ops = &kcemu_s.op[base];
    const unsigned *masks = &kcemu_s.mask[base];
    const uint64_t *bits = &kcemu_s.bits[base];
    const int op = ops[self];
    uint64_t *out = kcemu_s.out;
    uint64_t *dst = &kcemu_s.bits[base];
    uint8_t *state = &kcemu_s.state[base];
    for (int l = 0; l < n_lanes; l++) {
        if ((mask >> l & 1u) && (ops[l] != op || masks[l] != mask)) {
            kcemu_kernel_die("warp %d: lane %d is at %s (mask %#x) while lane %d is at %s "
                             "(mask %#x)",
                             w, l, kcemu_op_name(ops[l]), masks[l], self, kcemu_op_name(op), mask);
        }
    }
    if (op == KCEMU_SYNCWARP) {
        for (int l = 0; l < n_lanes; l++) {
            out[l] = 0;
        }
    } else if (op == KCEMU_BALLOT || op == KCEMU_ANY || op == KCEMU_ALL) {
        uint64_t vote = 0;
        for (int l = 0; l < n_lanes; l++) {
            vote |= (uint64_t)((mask >> l & 1u) && bits[l] != 0) << l;
        }
        const uint64_t r = op == KCEMU_BALLOT ? vote : op == KCEMU_ANY ? vote != 0 : vote == mask;
        for (int l = 0; l < n_lanes; l++) {
            out[l] = r;
        }
    } else {
        for (int l = 0; l < n_lanes; l++) {
            if (!(mask >> l & 1u)) {
                continue;
            }
            const int src = kcemu_src_lane(op, kcemu_s.arg[base + l], kcemu_s.width[base + l], l);
            if (src < 0 || src >= n_lanes || !(mask >> src & 1u)) {
                kcemu_kernel_die("warp %d: lane %d reads lane %d in %s, which is not in the "
                                 "mask %#x or not in the block",
                                 w, l, src, kcemu_op_name(op), mask);
            }
            out[l] = bits[src];
        }
    }
    for (int l = 0; l < n_lanes; l++) {
        if (mask >> l & 1u) {
            dst[l] = out[l];
            state[l] = KCEMU_READY;
        }
    }
}

uint64_t kcemu_warp(int op, unsigned mask, uint64_t bits, int arg, int width)
{
    kcemu_fiber *f = kcemu_cur();
    const int i = f->index;
    const int lane = i % 32;
    const int w = i / 32;
    const int n_lanes = kcemu_s.n_threads - 32 * w < 32 ? kcemu_s.n_threads - 32 * w : 32;
    if (!(mask >> lane & 1u)) {
        kcemu_kernel_die("warp %d: lane %d calls %s with mask %#x, which leaves it out", w, lane,
                         kcemu_op_name(op), mask);
    }
    if (n_lanes < 32 && (mask >> n_lanes) != 0) {
        kcemu_kernel_die("warp %d: lane %d calls %s with mask %#x, but the warp has %d lanes", w,
                         lane, kcemu_op_name(op), mask, n_lanes);
    }
    if (width <= 0 || width > 32 || (width & (width - 1))) {
        kcemu_kernel_die("warp %d: lane %d calls %s with width %d", w, lane, kcemu_op_name(op),
                         width);
    }
    kcemu_n.warp_ops++;
    if (op == KCEMU_SHFL_XOR) {
        /* Exchanges are symmetric: a lane and its partner pass together as soon as both are
         * there, without waiting for the rest of the mask. Partners stay in step: a lane passes
         * an exchange only with its partner there, so a partner waiting at an exchange of the
         * same distance waits at this very one. */
        const unsigned all = n_lanes == 32 ? 0xffffffffu : (1u << n_lanes) - 1;
        kcemu_s.n_xor[i] += mask == all; /* kcemu_xor_check compares these */
        const int src = kcemu_src_lane(op, arg, width, lane);
        if (src == lane) {
            return bits;
        }
        if (src >= n_lanes || !(mask >> src & 1u)) {
            kcemu_kernel_die("warp %d: lane %d reads lane %d in %s, which is not in the mask %#x "
                             "or not in the block",
                             w, lane, src, kcemu_op_name(op), mask);
        }
        const int j = 32 * w + src;
        if (kcemu_s.state[j] == KCEMU_AT_WARP && kcemu_s.op[j] == op && kcemu_s.arg[j] == arg &&
            kcemu_s.width[j] == width && kcemu_s.mask[j] == mask) {
            const uint64_t theirs = kcemu_s.bits[j];
            kcemu_s.bits[j] = bits;
            kcemu_s.state[j] = KCEMU_READY;
            return theirs;
        }
    }
    kcemu_s.op[i] = (uint8_t)op;
    kcemu_s.mask[i] = mask;
    kcemu_s.bits[i] = bits;
    kcemu_s.arg[i] = arg;
    kcemu_s.width[i] = (uint8_t)width;
    kcemu_s.state[i] = KCEMU_AT_WARP;
    if (op == KCEMU_SHFL_XOR) {
        kcemu_yield(f);
        return kcemu_s.bits[i];
    }
    unsigned *arrived = &kcemu_s.arrived[w];
    *arrived |= 1u << lane;
    if ((*arrived & mask) == mask) {
        /* The last lane to arrive completes the operation and carries on. */
        *arrived &= ~mask;
        kcemu_warp_complete(w, n_lanes, mask, lane);
    } else {
        kcemu_yield(f);
    }
    return kcemu_s.bits[i];
}

/* Lane l of warp w waits at an operation that cannot complete: say why and abort. */
[[noreturn]] static void kcemu_warp_stuck(int w, int lane, int n_lanes)
{
    const int i = 32 * w + lane;
    const unsigned mask = kcemu_s.mask[i];
    const char *op = kcemu_op_name(kcemu_s.op[i]);
    unsigned waits_for = mask;
    if (kcemu_s.op[i] == KCEMU_SHFL_XOR) {
        const int p = kcemu_src_lane(KCEMU_SHFL_XOR, kcemu_s.arg[i], kcemu_s.width[i], lane);
        waits_for = 1u << p;
        const int j = 32 * w + p;
        if (kcemu_s.state[j] == KCEMU_AT_WARP) {
            kcemu_kernel_die("warp %d: lane %d waits at %s (mask %#x, lane mask %d) for lane "
                             "%d, which waits at %s (mask %#x, lane mask %d)",
                             w, lane, op, mask, kcemu_s.arg[i], p, kcemu_op_name(kcemu_s.op[j]),
                             kcemu_s.mask[j], kcemu_s.arg[j]);
        }
    } else {
        for (int l = 0; l < n_lanes; l++) {
            const int j = 32 * w + l;
            if ((mask >> l & 1u) && kcemu_s.state[j] == KCEMU_AT_WARP &&
                (kcemu_s.op[j] != kcemu_s.op[i] || kcemu_s.mask[j] != mask)) {
                kcemu_kernel_die("warp %d: lane %d is at %s (mask %#x) while lane %d is at %s "
                                 "(mask %#x)",
                                 w, l, kcemu_op_name(kcemu_s.op[j]), kcemu_s.mask[j], lane, op,
                                 mask);
            }
        }
    }
    for (int l = 0; l < 32; l++) {
        if (!(waits_for >> l & 1u)) {
            continue;
        }
        const char *why = nullptr;
        if (l >= n_lanes) {
            why = "is not in the block";
        } else if (kcemu_s.state[32 * w + l] == KCEMU_EXITED) {
            why = "has returned";
        } else if (kcemu_s.state[32 * w + l] == KCEMU_AT_SYNC) {
            why = "waits at __syncthreads";
        }
        if (why) {
            kcemu_kernel_die("warp %d: lane %d waits at %s (mask %#x) for lane %d, which %s", w,
                             lane, op, mask, l, why);
        }
    }
    kcemu_kernel_die("warp %d: lane %d waits at %s (mask %#x) forever", w, lane, op, mask);
}

/*
 * Exchanges pass pairwise, so a whole-warp exchange that some lanes skip goes through for the
 * others; every lane of a warp at a block barrier (or returned) must have made the same number.
 */
static void kcemu_xor_check(int n)
{
    for (int i = 0; i < n; i++) {
        const int i0 = i & ~31;
        if (kcemu_s.n_xor[i] != kcemu_s.n_xor[i0]) {
            kcemu_kernel_die("warp %d: lane %d made %u whole-warp exchanges (__shfl_xor_sync) "
                             "but lane %d %u: some lanes skipped one (waiting at __syncthreads "
                             "or returned)",
                             i0 / 32, i0 % 32, kcemu_s.n_xor[i0], i % 32, kcemu_s.n_xor[i]);
        }
    }
}

/* Runs the current block (n threads) to its end. */
static void kcemu_run_block(int n)
{
    const unsigned bx = kcemu_block_dim.x, by = kcemu_block_dim.y;
    kcemu_s.n_threads = n;
    kcemu_s.n_live = n;
    kcemu_n.blocks++;
    kcemu_n.threads += (unsigned long long)n;
    for (int i = 0; i < n; i++) {
        kcemu_fiber *f = kcemu_s.fibers[i];
        f->tid = make_uint3((unsigned)i % bx, ((unsigned)i / bx) % by, (unsigned)i / (bx * by));
        f->index = i;
    }
    memset(kcemu_s.state, KCEMU_READY, (size_t)n);
    memset(kcemu_s.n_xor, 0, (size_t)n * sizeof(unsigned));
    const int n_warps = (n + 31) / 32;
    memset(kcemu_s.arrived, 0, (size_t)n_warps * sizeof(unsigned));
    for (;;) {
        for (int w = 0; w < n_warps; w++) {
            const int n_lanes = n - 32 * w < 32 ? n - 32 * w : 32;
            const uint8_t *state = &kcemu_s.state[32 * w];
            /* Lanes hand over to each other; the warp is back here when none is ready. */
            for (int l = 0; l < n_lanes; l++) {
                if (state[l] == KCEMU_READY) {
                    kcemu_self = kcemu_s.fibers[32 * w + l];
                    kcemu_switch(&kcemu_s.sched, &kcemu_s.fibers[32 * w + l]->ctx);
                    l = -1;
                }
            }
            for (int l = 0; l < n_lanes; l++) {
                if (state[l] == KCEMU_AT_WARP) {
                    kcemu_warp_stuck(w, l, n_lanes);
                }
            }
        }
        kcemu_xor_check(n);
        if (kcemu_s.n_live == 0) {
            break;
        }
        /* Every live thread waits at __syncthreads: release them. */
        for (int i = 0; i < n; i++) {
            if (kcemu_s.state[i] == KCEMU_AT_SYNC) {
                kcemu_s.state[i] = KCEMU_READY;
            }
        }
    }
    kcemu_self = nullptr;
}

static void kcemu_run_grid(const void *func, dim3 grid, dim3 block, size_t smem,
                           void (*run)(void *), void *closure)
{
    pthread_mutex_lock(&kcemu_lock);
    static bool stats_on;
    if (!stats_on && kcemu_n.launches == 0 && getenv("KILN_CUDA_EMU_STATS")) {
        stats_on = true;
        atexit(kcemu_stats_print);
    }
    kcemu_n.launches++;
    const int n = (int)(block.x * block.y * block.z);
    while (kcemu_s.n_fibers < n) {
        kcemu_s.fibers[kcemu_s.n_fibers] = kcemu_fiber_new(kcemu_s.n_fibers);
        kcemu_s.n_fibers++;
    }
    kcemu_s.run = run;
    kcemu_s.closure = closure;
    kcemu_s.func = func;
    kcemu_grid_dim = grid;
    kcemu_block_dim = block;
    const size_t smem_alloc = (smem + 15) & ~(size_t)15;
    void *dyn = smem ? aligned_alloc(16, smem_alloc) : nullptr;
    if (smem && !dyn) {
        kcemu_die("out of memory for %zu bytes of shared memory", smem);
    }
    kcemu_smem_dyn = dyn;
    for (unsigned z = 0; z < grid.z; z++) {
        for (unsigned y = 0; y < grid.y; y++) {
            for (unsigned x = 0; x < grid.x; x++) {
                kcemu_block_idx = make_uint3(x, y, z);
                if (dyn) {
                    memset(dyn, 0xff, smem_alloc); /* NaN: reads before writes show */
                }
                kcemu_run_block(n);
            }
        }
    }
    free(dyn);
    kcemu_smem_dyn = nullptr;
    kcemu_s.func = nullptr;
    pthread_mutex_unlock(&kcemu_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Recorded work: streams, graphs                                                             */
/* ------------------------------------------------------------------------------------------ */

struct kcemu_gemm {
    int ta, tb, m, n, k;
    float alpha, beta;
    const void *a, *b;
    void *c;
    int at, bt, ct;
    int lda, ldb, ldc;
};

enum kcemu_op_kind { KCEMU_OP_KERNEL, KCEMU_OP_COPY, KCEMU_OP_SET, KCEMU_OP_GEMM };

struct kcemu_op {
    int refs;
    int kind;
    /* kernel */
    const void *func;
    dim3 grid, block;
    size_t smem;
    void (*run)(void *);
    void (*destroy)(void *);
    void *closure;
    /* copy, set */
    void *dst;
    const void *src;
    size_t n;
    int value;
    /* gemm */
    kcemu_gemm g;
};

struct kcemu_ops {
    kcemu_op **v;
    size_t n, cap;
};

struct CUstream_st {
    bool capturing;
    bool invalid; /* a call failed during the capture */
    kcemu_ops ops;
};

struct CUgraph_st {
    kcemu_ops ops;
};

struct CUgraphExec_st {
    kcemu_ops ops;
};

static void kcemu_op_unref(kcemu_op *op)
{
    if (--op->refs > 0) {
        return;
    }
    if (op->kind == KCEMU_OP_KERNEL) {
        op->destroy(op->closure);
    }
    free(op);
}

static void kcemu_ops_clear(kcemu_ops *ops)
{
    for (size_t i = 0; i < ops->n; i++) {
        kcemu_op_unref(ops->v[i]);
    }
    free(ops->v);
    ops->v = nullptr;
    ops->n = ops->cap = 0;
}

static bool kcemu_ops_push(kcemu_ops *ops, kcemu_op *op)
{
    if (ops->n == ops->cap) {
        const size_t cap = ops->cap ? 2 * ops->cap : 64;
        kcemu_op **v = static_cast<kcemu_op **>(realloc(ops->v, cap * sizeof(*v)));
        if (!v) {
            return false;
        }
        ops->v = v;
        ops->cap = cap;
    }
    op->refs++;
    ops->v[ops->n++] = op;
    return true;
}

/* A real stream object, not the legacy or per-thread default stream. */
static bool kcemu_stream_obj(cudaStream_t s)
{
    return (uintptr_t)s > 0x10;
}

static bool kcemu_capturing(cudaStream_t s)
{
    return kcemu_stream_obj(s) && s->capturing;
}

static bool kcemu_gemm_run(const kcemu_gemm *g);

static void kcemu_op_run(const kcemu_op *op)
{
    switch (op->kind) {
    case KCEMU_OP_KERNEL:
        kcemu_run_grid(op->func, op->grid, op->block, op->smem, op->run, op->closure);
        break;
    case KCEMU_OP_COPY:
        if (op->n) {
            memcpy(op->dst, op->src, op->n);
        }
        break;
    case KCEMU_OP_SET:
        memset(op->dst, op->value, op->n);
        break;
    default:
        if (!kcemu_gemm_run(&op->g)) {
            kcemu_die("out of memory in a recorded GEMM");
        }
        break;
    }
}

/* Runs op now, or appends it to s's capture; takes op (refs 0). */
static cudaError_t kcemu_submit(cudaStream_t s, kcemu_op *op)
{
    if (kcemu_capturing(s)) {
        if (!kcemu_ops_push(&s->ops, op)) {
            op->refs = 1;
            kcemu_op_unref(op);
            s->invalid = true;
            return kcemu_fail(cudaErrorMemoryAllocation);
        }
        return cudaSuccess;
    }
    op->refs = 1;
    kcemu_op_run(op);
    kcemu_op_unref(op);
    return cudaSuccess;
}

static kcemu_op *kcemu_op_new(int kind)
{
    kcemu_op *op = static_cast<kcemu_op *>(calloc(1, sizeof(kcemu_op)));
    if (op) {
        op->kind = kind;
    }
    return op;
}

/* ------------------------------------------------------------------------------------------ */
/* Launches                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Per-kernel cudaFuncAttributeMaxDynamicSharedMemorySize. */
static struct {
    const void *func[64];
    int smem[64];
    int n;
} kcemu_attrs;

static int kcemu_smem_limit(const void *func)
{
    for (int i = 0; i < kcemu_attrs.n; i++) {
        if (kcemu_attrs.func[i] == func) {
            return kcemu_attrs.smem[i];
        }
    }
    return KCEMU_SMEM_DEFAULT;
}

cudaError_t kcemu_launch(const cudaLaunchConfig_t *cfg, const void *func, void (*run)(void *),
                         void (*destroy)(void *), void *closure)
{
    cudaError_t e = cudaSuccess;
    const dim3 g = cfg ? cfg->gridDim : dim3(0);
    const dim3 b = cfg ? cfg->blockDim : dim3(0);
    if (!cfg || !func || (cfg->numAttrs > 0 && !cfg->attrs)) {
        e = cudaErrorInvalidValue;
    } else if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
               (unsigned long long)b.x * b.y * b.z > KCEMU_MAX_THREADS || g.x == 0 || g.y == 0 ||
               g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535) {
        e = cudaErrorInvalidConfiguration;
    } else if (cfg->dynamicSmemBytes > (size_t)kcemu_smem_limit(func)) {
        e = cudaErrorInvalidValue;
    }
    cudaStream_t s = cfg ? cfg->stream : nullptr;
    if (e != cudaSuccess) {
        destroy(closure);
        if (kcemu_capturing(s)) {
            s->invalid = true;
        }
        return kcemu_fail(e);
    }
    kcemu_op *op = kcemu_op_new(KCEMU_OP_KERNEL);
    if (!op) {
        destroy(closure);
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    op->func = func;
    op->grid = g;
    op->block = b;
    op->smem = cfg->dynamicSmemBytes;
    op->run = run;
    op->destroy = destroy;
    op->closure = closure;
    return kcemu_submit(s, op);
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    if (!func) {
        return kcemu_fail(cudaErrorInvalidDeviceFunction);
    }
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) {
        return cudaSuccess;
    }
    if (value < 0 || value > KCEMU_SMEM_OPTIN) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    pthread_mutex_lock(&kcemu_lock);
    int i = 0;
    while (i < kcemu_attrs.n && kcemu_attrs.func[i] != func) {
        i++;
    }
    cudaError_t e = cudaSuccess;
    if (i == 64) {
        e = cudaErrorMemoryAllocation;
    } else {
        kcemu_attrs.func[i] = func;
        kcemu_attrs.smem[i] = value;
        kcemu_attrs.n = i == kcemu_attrs.n ? i + 1 : kcemu_attrs.n;
    }
    pthread_mutex_unlock(&kcemu_lock);
    return kcemu_fail(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Runtime API                                                                                */
/* ------------------------------------------------------------------------------------------ */

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = kcemu_last_error;
    kcemu_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void)
{
    return kcemu_last_error;
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorInvalidValue:
        return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
        return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
        return "cudaErrorInvalidDevice";
    case cudaErrorInvalidDeviceFunction:
        return "cudaErrorInvalidDeviceFunction";
    case cudaErrorInvalidResourceHandle:
        return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
        return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported:
        return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
        return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorNoDevice:
        return "cudaErrorNoDevice";
    default:
        return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal";
    case cudaErrorInvalidDeviceFunction:
        return "invalid device function";
    case cudaErrorInvalidResourceHandle:
        return "invalid resource handle";
    case cudaErrorIllegalState:
        return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    case cudaErrorNoDevice:
        return "no CUDA-capable device is detected";
    default:
        return "unknown error";
    }
}

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    return device == 0 ? cudaSuccess : kcemu_fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device)
{
    if (!device) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *device = 0;
    return cudaSuccess;
}

#define KCEMU_MEM_TOTAL (16ull << 30) /* what the emulated device claims to have */

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device)
{
    if (!p) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    if (device != 0) {
        return kcemu_fail(cudaErrorInvalidDevice);
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "kiln CUDA emulator");
    p->totalGlobalMem = KCEMU_MEM_TOTAL;
    p->sharedMemPerBlock = KCEMU_SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = KCEMU_SMEM_OPTIN;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024;
    p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    p->maxThreadsPerMultiProcessor = 2048;
    p->l2CacheSize = 50 << 20;
    p->totalConstMem = 65536;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    if (!value) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    if (device != 0) {
        return kcemu_fail(cudaErrorInvalidDevice);
    }
    switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
        *value = 9;
        break;
    case cudaDevAttrComputeCapabilityMinor:
        *value = 0;
        break;
    case cudaDevAttrMultiProcessorCount:
        *value = 132;
        break;
    case cudaDevAttrMaxThreadsPerBlock:
        *value = 1024;
        break;
    case cudaDevAttrWarpSize:
        *value = 32;
        break;
    case cudaDevAttrMaxSharedMemoryPerBlock:
        *value = KCEMU_SMEM_DEFAULT;
        break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
        *value = KCEMU_SMEM_OPTIN;
        break;
    case cudaDevAttrMaxGridDimX:
        *value = 0x7fffffff;
        break;
    case cudaDevAttrMaxGridDimY:
    case cudaDevAttrMaxGridDimZ:
        *value = 65535;
        break;
    default:
        return kcemu_fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    if (!free_bytes || !total) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *free_bytes = KCEMU_MEM_TOTAL;
    *total = KCEMU_MEM_TOTAL;
    return cudaSuccess;
}

/* Memory: host memory, 256-byte aligned like cudaMalloc's, filled with 0xff. */
static unsigned long kcemu_n_mallocs;

static cudaError_t kcemu_alloc(void **p, size_t size)
{
    if (!p) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *p = nullptr;
    pthread_mutex_lock(&kcemu_lock);
    const unsigned long nth = ++kcemu_n_mallocs;
    pthread_mutex_unlock(&kcemu_lock);
    const char *fail = getenv("KILN_CUDA_EMU_FAIL");
    if (fail && strtoul(fail, nullptr, 10) == nth) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    if (size == 0) {
        return cudaSuccess;
    }
    if (size > KCEMU_MEM_TOTAL) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    const size_t rounded = (size + 255) & ~(size_t)255;
    void *m = aligned_alloc(256, rounded);
    if (!m) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    memset(m, 0xff, size);
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t size)
{
    return kcemu_alloc(p, size);
}

cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t size)
{
    return kcemu_alloc(p, size);
}

cudaError_t cudaHostAlloc(void **p, size_t size, unsigned int flags)
{
    (void)flags;
    return kcemu_alloc(p, size);
}

cudaError_t cudaFreeHost(void *p)
{
    free(p);
    return cudaSuccess;
}

static cudaError_t kcemu_copy(void *dst, const void *src, size_t n, cudaStream_t s)
{
    if (n && (!dst || !src)) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    kcemu_op *op = kcemu_op_new(KCEMU_OP_COPY);
    if (!op) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    op->dst = dst;
    op->src = src;
    op->n = n;
    return kcemu_submit(s, op);
}

static cudaError_t kcemu_set(void *dst, int value, size_t n, cudaStream_t s)
{
    if (n && !dst) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    kcemu_op *op = kcemu_op_new(KCEMU_OP_SET);
    if (!op) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    op->dst = dst;
    op->value = value;
    op->n = n;
    return kcemu_submit(s, op);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
    (void)kind;
    return kcemu_copy(dst, src, n, nullptr);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t s)
{
    (void)kind;
    return kcemu_copy(dst, src, n, s);
}

cudaError_t cudaMemset(void *dst, int value, size_t n)
{
    return kcemu_set(dst, value, n, nullptr);
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t n, cudaStream_t s)
{
    return kcemu_set(dst, value, n, s);
}

/* Streams and graphs. */

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
    if (!s) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *s = static_cast<cudaStream_t>(calloc(1, sizeof(CUstream_st)));
    return *s ? cudaSuccess : kcemu_fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    (void)flags;
    return cudaStreamCreate(s);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    if (!kcemu_stream_obj(s)) {
        return kcemu_fail(cudaErrorInvalidResourceHandle);
    }
    kcemu_ops_clear(&s->ops);
    free(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (kcemu_capturing(s)) {
        s->invalid = true;
        return kcemu_fail(cudaErrorStreamCaptureUnsupported);
    }
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
    (void)mode;
    if (!kcemu_stream_obj(s)) {
        return kcemu_fail(cudaErrorStreamCaptureUnsupported);
    }
    if (s->capturing) {
        return kcemu_fail(cudaErrorIllegalState);
    }
    s->capturing = true;
    s->invalid = false;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *status)
{
    if (!status) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *status = !kcemu_capturing(s) ? cudaStreamCaptureStatusNone
              : s->invalid        ? cudaStreamCaptureStatusInvalidated
                                  : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    if (!graph) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *graph = nullptr;
    if (!kcemu_capturing(s)) {
        return kcemu_fail(cudaErrorIllegalState);
    }
    s->capturing = false;
    if (s->invalid) {
        kcemu_ops_clear(&s->ops);
        return kcemu_fail(cudaErrorStreamCaptureInvalidated);
    }
    cudaGraph_t g = static_cast<cudaGraph_t>(calloc(1, sizeof(CUgraph_st)));
    if (!g) {
        kcemu_ops_clear(&s->ops);
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    g->ops = s->ops;
    s->ops = kcemu_ops{};
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    (void)flags;
    if (!exec || !graph) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    *exec = nullptr;
    cudaGraphExec_t x = static_cast<cudaGraphExec_t>(calloc(1, sizeof(CUgraphExec_st)));
    if (!x) {
        return kcemu_fail(cudaErrorMemoryAllocation);
    }
    for (size_t i = 0; i < graph->ops.n; i++) {
        if (!kcemu_ops_push(&x->ops, graph->ops.v[i])) {
            kcemu_ops_clear(&x->ops);
            free(x);
            return kcemu_fail(cudaErrorMemoryAllocation);
        }
    }
    *exec = x;
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    if (!exec) {
        return kcemu_fail(cudaErrorInvalidResourceHandle);
    }
    for (size_t i = 0; i < exec->ops.n; i++) {
        if (kcemu_capturing(s)) {
            if (!kcemu_ops_push(&s->ops, exec->ops.v[i])) {
                s->invalid = true;
                return kcemu_fail(cudaErrorMemoryAllocation);
            }
        } else {
            kcemu_op_run(exec->ops.v[i]);
        }
    }
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    if (!graph) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    kcemu_ops_clear(&graph->ops);
    free(graph);
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    if (!exec) {
        return kcemu_fail(cudaErrorInvalidValue);
    }
    kcemu_ops_clear(&exec->ops);
    free(exec);
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* cuBLAS                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct kcemu_blas {
    cudaStream_t stream;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
    if (!handle) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    *handle = static_cast<cublasHandle_t>(calloc(1, sizeof(kcemu_blas)));
    return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    if (!handle) {
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handle) {
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t *stream)
{
    if (!handle) {
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    if (!stream) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes)
{
    (void)workspace;
    (void)bytes;
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char *cublasGetStatusName(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    default:
        return "CUBLAS_STATUS_INTERNAL_ERROR";
    }
}

const char *cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "the functionality requested is not supported";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "the GPU program failed to execute";
    default:
        return "an internal operation failed";
    }
}

static float kcemu_load(const void *p, int type, size_t i)
{
    switch (type) {
    case CUDA_R_16F:
        return __half2float(static_cast<const __half *>(p)[i]);
    case CUDA_R_16BF:
        return __uint_as_float((unsigned)static_cast<const uint16_t *>(p)[i] << 16);
    default:
        return static_cast<const float *>(p)[i];
    }
}

static void kcemu_store(void *p, int type, size_t i, float v)
{
    switch (type) {
    case CUDA_R_16F:
        static_cast<__half *>(p)[i] = __float2half_rn(v);
        break;
    case CUDA_R_16BF: {
        unsigned u = __float_as_uint(v);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            u |= 0x00400000u; /* NaN stays a (quiet) NaN */
        } else {
            u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
        }
        static_cast<uint16_t *>(p)[i] = (uint16_t)(u >> 16);
        break;
    }
    default:
        static_cast<float *>(p)[i] = v;
        break;
    }
}

/* C = alpha op(A) op(B) + beta C, column-major; f32 dot products in order of k. */
static bool kcemu_gemm_run(const kcemu_gemm *g)
{
    const size_t m = (size_t)g->m, n = (size_t)g->n, k = (size_t)g->k;
    if (m == 0 || n == 0) {
        return true;
    }
    float *a = static_cast<float *>(malloc((m * k + 1) * sizeof(float)));
    float *b = static_cast<float *>(malloc((n * k + 1) * sizeof(float)));
    if (!a || !b) {
        free(a);
        free(b);
        return false;
    }
    /* a: op(A) by rows (m, k); b: op(B) by columns (n, k). */
    for (size_t i = 0; i < m; i++) {
        for (size_t l = 0; l < k; l++) {
            const size_t at =
                g->ta == CUBLAS_OP_N ? i + l * (size_t)g->lda : l + i * (size_t)g->lda;
            a[i * k + l] = kcemu_load(g->a, g->at, at);
        }
    }
    for (size_t j = 0; j < n; j++) {
        for (size_t l = 0; l < k; l++) {
            const size_t at =
                g->tb == CUBLAS_OP_N ? l + j * (size_t)g->ldb : j + l * (size_t)g->ldb;
            b[j * k + l] = kcemu_load(g->b, g->bt, at);
        }
    }
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < m; i++) {
            const float *ar = a + i * k, *bc = b + j * k;
            float s = 0.0f;
            for (size_t l = 0; l < k; l++) {
                s += ar[l] * bc[l];
            }
            const size_t at = i + j * (size_t)g->ldc;
            float v = g->alpha * s;
            if (g->beta != 0.0f) {
                v += g->beta * kcemu_load(g->c, g->ct, at);
            }
            kcemu_store(g->c, g->ct, at, v);
        }
    }
    free(a);
    free(b);
    return true;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo)
{
    (void)algo;
    if (!handle) {
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    const bool in_ok = Atype == CUDA_R_16F || Atype == CUDA_R_16BF || Atype == CUDA_R_32F;
    const bool compute_ok =
        computeType == CUBLAS_COMPUTE_32F || computeType == CUBLAS_COMPUTE_32F_PEDANTIC ||
        computeType == CUBLAS_COMPUTE_32F_FAST_16F || computeType == CUBLAS_COMPUTE_32F_FAST_16BF ||
        computeType == CUBLAS_COMPUTE_32F_FAST_TF32;
    if (!in_ok || Btype != Atype || (Ctype != CUDA_R_32F && Ctype != Atype) || !compute_ok) {
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    const int a_rows = transa == CUBLAS_OP_N ? m : k;
    const int b_rows = transb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || !alpha || !beta || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) ||
        (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T && transa != CUBLAS_OP_C) ||
        (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T && transb != CUBLAS_OP_C)) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    kcemu_op *op = kcemu_op_new(KCEMU_OP_GEMM);
    if (!op) {
        return CUBLAS_STATUS_ALLOC_FAILED;
    }
    kcemu_gemm *g = &op->g;
    g->ta = transa == CUBLAS_OP_N ? CUBLAS_OP_N : CUBLAS_OP_T;
    g->tb = transb == CUBLAS_OP_N ? CUBLAS_OP_N : CUBLAS_OP_T;
    g->m = m;
    g->n = n;
    g->k = k;
    g->alpha = *static_cast<const float *>(alpha);
    g->beta = *static_cast<const float *>(beta);
    g->a = A;
    g->b = B;
    g->c = C;
    g->at = Atype;
    g->bt = Btype;
    g->ct = Ctype;
    g->lda = lda;
    g->ldb = ldb;
    g->ldc = ldc;
    if (kcemu_capturing(handle->stream)) {
        return kcemu_submit(handle->stream, op) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                               : CUBLAS_STATUS_ALLOC_FAILED;
    }
    op->refs = 1;
    const bool ok = kcemu_gemm_run(g);
    kcemu_op_unref(op);
    return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
