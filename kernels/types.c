/*
 * The element type table (names, block sizes, the activation type of each weight type's dot
 * product) and the scalar IEEE half / bfloat16 conversions. Block sizes and the vec-dot
 * pairing follow ggml's type_traits (ggml.c, ggml-cpu.c) so that GGUF files map directly and
 * dot products see the same quantized activations as llama.cpp's.
 */
#include "kernels/kern.h"
#include "kernels/kern_impl.h"

#include <string.h>

typedef struct type_info {
    const char *name;
    size_t block_elems;
    size_t block_bytes;
    kern_type vec_dot;
} type_info;

/* Indexed by kern_type; a NULL name marks an id that is not a known type. */
static const type_info TYPES[KERN_TYPE_BF16 + 1] = {
    [KERN_TYPE_F32] = {"f32", 1, 4, KERN_TYPE_F32},
    [KERN_TYPE_F16] = {"f16", 1, 2, KERN_TYPE_F16},
    [KERN_TYPE_Q4_0] = {"q4_0", KERN_QK, sizeof(kern_block_q4_0), KERN_TYPE_Q8_0},
    [KERN_TYPE_Q4_1] = {"q4_1", KERN_QK, sizeof(kern_block_q4_1), KERN_TYPE_Q8_1},
    [KERN_TYPE_Q5_0] = {"q5_0", KERN_QK, sizeof(kern_block_q5_0), KERN_TYPE_Q8_0},
    [KERN_TYPE_Q5_1] = {"q5_1", KERN_QK, sizeof(kern_block_q5_1), KERN_TYPE_Q8_1},
    [KERN_TYPE_Q8_0] = {"q8_0", KERN_QK, sizeof(kern_block_q8_0), KERN_TYPE_Q8_0},
    [KERN_TYPE_Q8_1] = {"q8_1", KERN_QK, sizeof(kern_block_q8_1), KERN_TYPE_Q8_1},
    [KERN_TYPE_Q4_K] = {"q4_K", KERN_QK_K, sizeof(kern_block_q4_k), KERN_TYPE_Q8_K},
    [KERN_TYPE_Q5_K] = {"q5_K", KERN_QK_K, sizeof(kern_block_q5_k), KERN_TYPE_Q8_K},
    [KERN_TYPE_Q6_K] = {"q6_K", KERN_QK_K, sizeof(kern_block_q6_k), KERN_TYPE_Q8_K},
    [KERN_TYPE_Q8_K] = {"q8_K", KERN_QK_K, sizeof(kern_block_q8_k), KERN_TYPE_Q8_K},
    [KERN_TYPE_BF16] = {"bf16", 1, 2, KERN_TYPE_BF16},
};

static const type_info *info(uint32_t t)
{
    if (t > KERN_TYPE_BF16 || TYPES[t].name == NULL) {
        return NULL;
    }
    return &TYPES[t];
}

bool kern_type_is_known(uint32_t t)
{
    return info(t) != NULL;
}

const char *kern_type_name(kern_type t)
{
    const type_info *ti = info((uint32_t)t);
    return ti ? ti->name : "unknown";
}

size_t kern_type_block_elems(kern_type t)
{
    const type_info *ti = info((uint32_t)t);
    return ti ? ti->block_elems : 0;
}

size_t kern_type_block_bytes(kern_type t)
{
    const type_info *ti = info((uint32_t)t);
    return ti ? ti->block_bytes : 0;
}

size_t kern_type_row_bytes(kern_type t, size_t n)
{
    const type_info *ti = info((uint32_t)t);
    if (ti == NULL || n % ti->block_elems != 0) {
        return 0;
    }
    return n / ti->block_elems * ti->block_bytes;
}

kern_type kern_type_vec_dot(kern_type t)
{
    const type_info *ti = info((uint32_t)t);
    return ti ? ti->vec_dot : KERN_TYPE_F32;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

float kern_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24 is exact in float. */
        const float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) {
        return f32_from_bits(sign | 0x7f800000 | (mant << 13));
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Rounds v >> shift to nearest, ties to even (shift >= 1). */
static uint32_t shift_rne(uint32_t v, uint32_t shift)
{
    const uint32_t r = v >> shift;
    const uint32_t rem = v & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return r + (rem > half || (rem == half && (r & 1)));
}

uint16_t kern_f32_to_f16(float f)
{
    const uint32_t x = f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffff;
    const uint32_t e = a >> 23;
    if (a > 0x7f800000) {
        /* NaN stays NaN and quiet, keeping the top of the payload as F16C does. */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    }
    if (e > 142) {
        return (uint16_t)(sign | 0x7c00);
    }
    if (e < 113) {
        /* Below 2^-14: an f16 subnormal, mant16 = m * 2^(e - 126). */
        if (e < 102) {
            return sign;
        }
        const uint32_t m = (a & 0x7fffff) | 0x800000;
        return (uint16_t)(sign | shift_rne(m, 126 - e));
    }
    /* Normal: rebias the exponent; a carry out of the mantissa correctly bumps it (to inf). */
    const uint32_t h = ((e - 112) << 10) | ((a & 0x7fffff) >> 13);
    const uint32_t rem = a & 0x1fff;
    return (uint16_t)(sign | (h + (rem > 0x1000 || (rem == 0x1000 && (h & 1)))));
}

float kern_bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t kern_f32_to_bf16(float f)
{
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) {
        return (uint16_t)((u >> 16) | 64); /* NaN: force quiet */
    }
    /* Round to nearest even on the upper half; subnormals are kept, as current ggml does. */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}
