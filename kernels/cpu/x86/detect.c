/*
 * x86 CPU feature detection for backend.c, kept in the ISA folder so that shared code names no
 * instruction set. __builtin_cpu_supports reads CPUID once per process (the runtime caches it)
 * and checks that the OS saves the vector registers; F16C, which clang 14's builtin does not
 * name, is read from CPUID leaf 1 (ECX bit 29) directly.
 */
#include "kernels/kern_impl.h"

#include <cpuid.h>

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
