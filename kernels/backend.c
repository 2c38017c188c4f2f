/*
 * Backend selection: detects CPU features once (cpu/x86/detect.c) and builds the kern_ops
 * table. Variants are layered (ref, generic, avx2, avx512, amx): each implements some ops and
 * takes the others from the variant below, so every member is always filled. Detecting amx also
 * asks the OS for the AMX tile state (once per process; see cpu/x86/detect.c). The tables are
 * static const data, so the variant tables handed to tests need no state.
 */
#include "kernels/kern.h"
#include "kernels/kern_impl.h"

#include <stdio.h>

typedef enum variant {
    VARIANT_REF = 0,
    VARIANT_GENERIC = 1,
    VARIANT_AVX2 = 2,
    VARIANT_AVX512 = 3,
    VARIANT_AMX = 4,
} variant;

static const char *const VARIANT_NAMES[] = {"ref", "generic", "avx2", "avx512", "amx"};

struct kern_backend {
    kern_ops ops;
    char name[64];
};

/* The best variant this CPU runs. */
static variant variant_best(void)
{
    if (kern__cpu_has_amx()) {
        return VARIANT_AMX;
    }
    if (kern__cpu_has_avx512()) {
        return VARIANT_AVX512;
    }
    if (kern__cpu_has_avx2()) {
        return VARIANT_AVX2;
    }
    return VARIANT_GENERIC;
}

/* Each variant's table: the ops it implements, the rest inherited from the variant below. */
static const kern_ops VARIANT_OPS[] = {
    [VARIANT_REF] =
        {
            .quantize_row = kern_quantize_row_ref,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_ref,
            .rmsnorm = kern_rmsnorm_ref,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .swiglu = kern_swiglu_ref,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_ref,
        },
    [VARIANT_GENERIC] =
        {
            .quantize_row = kern_quantize_row_ref,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_generic,
            .rmsnorm = kern_rmsnorm_ref,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .swiglu = kern_swiglu_ref,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_ref,
        },
    [VARIANT_AVX2] =
        {
            .quantize_row = kern_quantize_row_avx2,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_avx2,
            .rmsnorm = kern_rmsnorm_avx2,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .swiglu = kern_swiglu_ref,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_avx2,
        },
    [VARIANT_AVX512] =
        {
            .quantize_row = kern_quantize_row_avx512,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_avx512,
            .rmsnorm = kern_rmsnorm_avx2,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .swiglu = kern_swiglu_avx512,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_avx512,
        },
    [VARIANT_AMX] =
        {
            .quantize_row = kern_quantize_row_avx512,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_amx,
            .rmsnorm = kern_rmsnorm_avx2,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .swiglu = kern_swiglu_avx512,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_avx512,
        },
};

static int backend_new(kern_backend **out, variant v, core_err *err)
{
    *out = NULL;
    kern_backend *b = core_calloc(1, sizeof(*b));
    if (b == NULL) {
        return core_err_set(err, CORE_ENOMEM, "kernel backend: out of memory");
    }
    b->ops = VARIANT_OPS[v];
    snprintf(b->name, sizeof(b->name), "cpu: %s", VARIANT_NAMES[v]);
    *out = b;
    return 0;
}

int kern_backend_new(kern_backend **out, kern_backend_kind kind, core_err *err)
{
    return backend_new(out, kind == KERN_BACKEND_KIND_REF ? VARIANT_REF : variant_best(), err);
}

int kern_backend_new_variant(kern_backend **out, size_t i, core_err *err)
{
    if (i >= kern_backend_n_variants()) {
        *out = NULL;
        return core_err_set(err, CORE_EINVAL, "kernel backend: no variant %zu on this CPU (%zu)", i,
                            kern_backend_n_variants());
    }
    return backend_new(out, (variant)i, err);
}

void kern_backend_free(kern_backend *backend)
{
    core_free(backend);
}

const kern_ops *kern_backend_ops(const kern_backend *backend)
{
    return &backend->ops;
}

const char *kern_backend_name(const kern_backend *backend)
{
    return backend->name;
}

size_t kern_backend_n_variants(void)
{
    return (size_t)variant_best() + 1;
}

const kern_ops *kern_backend_variant(size_t i, const char **name)
{
    CORE_ASSERT(i < kern_backend_n_variants());
    if (name != NULL) {
        *name = VARIANT_NAMES[i];
    }
    return &VARIANT_OPS[i];
}
