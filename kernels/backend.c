/*
 * Backend selection: detects CPU features once (cpu/x86/detect.c) and builds the kern_ops
 * table. Variants are layered (ref, generic, avx2, avx512, amx): each implements some ops and
 * takes the others from the variant below, so every member is always filled. Detecting amx also
 * asks the OS for the AMX tile state (once per process; see cpu/x86/detect.c). The tables are
 * static const data, so the variant tables handed to tests need no state. Only avx512 packs
 * weights (pack_size, pack); amx, whose batched kernel reads ggml's layout, does not.
 */
#include "kernels/kern.h"
#include "kernels/kern_impl.h"

#include <stdio.h>
#include <string.h>

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
            .rope_cs = kern_rope_cs_ref,
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
            .rope_cs = kern_rope_cs_ref,
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
            .rope_cs = kern_rope_cs_ref,
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
            .rope_cs = kern_rope_cs_ref,
            .swiglu = kern_swiglu_avx512,
            .geglu = kern_geglu_ref,
            .attn = kern_attn_avx512,
            .pack_size = kern_pack_size_avx512,
            .pack = kern_pack_avx512,
        },
    [VARIANT_AMX] =
        {
            .quantize_row = kern_quantize_row_avx512,
            .dequantize_row = kern_dequantize_row_ref,
            .matmul = kern_matmul_amx,
            .rmsnorm = kern_rmsnorm_avx2,
            .softmax = kern_softmax_ref,
            .rope = kern_rope_ref,
            .rope_cs = kern_rope_cs_ref,
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

/* The variant a kind names; VARIANT_AMX + 1 for an unknown kind. */
static variant kind_variant(kern_backend_kind kind)
{
    switch (kind) {
    case KERN_BACKEND_KIND_REF:
        return VARIANT_REF;
    case KERN_BACKEND_KIND_BEST:
        return variant_best();
    case KERN_BACKEND_KIND_GENERIC:
        return VARIANT_GENERIC;
    case KERN_BACKEND_KIND_AVX2:
        return VARIANT_AVX2;
    case KERN_BACKEND_KIND_AVX512:
        return VARIANT_AVX512;
    case KERN_BACKEND_KIND_AMX:
        return VARIANT_AMX;
    }
    return (variant)(VARIANT_AMX + 1);
}

/* Refuses a variant beyond the best this CPU runs. */
static int check_variant(variant v, core_err *err)
{
    const variant best = variant_best();
    if (v > VARIANT_AMX) {
        return core_err_set(err, CORE_EINVAL, "kernels: unknown kind %d", (int)v);
    }
    if (v > best) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "kernels: %s: this CPU lacks it (best here: %s)", VARIANT_NAMES[v],
                            VARIANT_NAMES[best]);
    }
    return 0;
}

int kern_backend_kind_parse(kern_backend_kind *out, const char *name, core_err *err)
{
    static const kern_backend_kind KINDS[] = {KERN_BACKEND_KIND_REF, KERN_BACKEND_KIND_GENERIC,
                                              KERN_BACKEND_KIND_AVX2, KERN_BACKEND_KIND_AVX512,
                                              KERN_BACKEND_KIND_AMX};
    if (strcmp(name, "best") == 0) {
        *out = KERN_BACKEND_KIND_BEST;
        return 0;
    }
    for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        if (strcmp(name, VARIANT_NAMES[kind_variant(KINDS[i])]) == 0) {
            const int rc = check_variant(kind_variant(KINDS[i]), err);
            if (rc == 0) {
                *out = KINDS[i];
            }
            return rc;
        }
    }
    return core_err_set(err, CORE_EINVAL,
                        "kernels: unknown variant '%s' (ref, generic, avx2, avx512, amx, best)",
                        name);
}

int kern_backend_new(kern_backend **out, kern_backend_kind kind, core_err *err)
{
    *out = NULL;
    const variant v = kind_variant(kind);
    const int rc = check_variant(v, err);
    return rc < 0 ? rc : backend_new(out, v, err);
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
