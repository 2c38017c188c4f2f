/*
 * x86 CPU feature detection for backend.c, kept in the ISA folder so that shared code names no
 * instruction set. __builtin_cpu_supports reads CPUID once per process (the runtime caches it)
 * and checks that the OS saves the vector registers; F16C, which clang 14's builtin does not
 * name, is read from CPUID leaf 1 (ECX bit 29) directly, and AMX from leaf 7 (EDX bits 24 and
 * 25). Linux gives a process the AMX tile state only on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM): the request is per process and idempotent, so asking again is harmless,
 * and a refusal (an old kernel, a too small signal stack) just leaves AMX unused.
 */
#include "kernels/kern_impl.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18

static bool cpu_has_f16c(void)
{
    unsigned eax = 0;
    unsigned ebx = 0;
    unsigned ecx = 0;
    unsigned edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return false;
    }
    return (ecx & (1u << 29)) != 0;
}

bool kern__cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

bool kern__cpu_has_avx512(void)
{
    return kern__cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
}

bool kern__cpu_has_amx(void)
{
    if (!kern__cpu_has_avx512()) {
        return false;
    }
    unsigned eax = 0;
    unsigned ebx = 0;
    unsigned ecx = 0;
    unsigned edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        return false;
    }
    const unsigned amx_tile_int8 = (1u << 24) | (1u << 25);
    if ((edx & amx_tile_int8) != amx_tile_int8) {
        return false;
    }
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}
