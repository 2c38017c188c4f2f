/*
 * A stand-in for the CUDA engine module, for the loader's tests (test_module.c): built as
 * several shared objects, it claims the ABI number KERN_CUDA_ABI + FAKE_ENGINE_ABI_SKEW, or
 * (FAKE_ENGINE_NO_SYMBOL) exports no kern_cuda_engine_api at all. Its one working entry point
 * reports three devices; the others fail. It calls nothing of kiln_core, which it does not link.
 */
#include "kernels/cuda/kern_cuda.h"

const kern_cuda_api *kern_cuda_engine_api(void);

static int device_count(int *out, core_err *err)
{
    (void)err;
    *out = 3;
    return 0;
}

static int device_name(char *buf, size_t size, core_err *err)
{
    (void)buf;
    (void)size;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static int dequantize_q8_0(float *y, const void *x, size_t n, core_err *err)
{
    (void)y;
    (void)x;
    (void)n;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static bool type_supported(kern_type t)
{
    return t == KERN_TYPE_Q8_0;
}

static int model_new(kern_cuda_model **out, const kern_cuda_model_desc *desc, core_err *err)
{
    (void)desc;
    *out = NULL;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static void model_free(kern_cuda_model *model)
{
    (void)model;
}

static size_t model_n_bytes(const kern_cuda_model *model)
{
    (void)model;
    return 0;
}

static int ctx_new(kern_cuda_ctx **out, kern_cuda_model *model, const kern_cuda_ctx_options *opts,
                   core_err *err)
{
    (void)model;
    (void)opts;
    *out = NULL;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static void ctx_free(kern_cuda_ctx *ctx)
{
    (void)ctx;
}

static int ctx_forward(kern_cuda_ctx *ctx, const int32_t *tokens, const int32_t *seq,
                       const int32_t *pos, size_t n, const int32_t *out_rows, size_t n_out,
                       int32_t *argmax, core_err *err)
{
    (void)ctx;
    (void)tokens;
    (void)seq;
    (void)pos;
    (void)n;
    (void)out_rows;
    (void)n_out;
    (void)argmax;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static int ctx_logits(kern_cuda_ctx *ctx, size_t i, float *dst, core_err *err)
{
    (void)ctx;
    (void)i;
    (void)dst;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static int ctx_seq_copy(kern_cuda_ctx *ctx, int32_t dst, int32_t src, size_t n_pos, core_err *err)
{
    (void)ctx;
    (void)dst;
    (void)src;
    (void)n_pos;
    (void)err;
    return CORE_EUNSUPPORTED;
}

static const kern_cuda_api FAKE_API = {
    KERN_CUDA_ABI + FAKE_ENGINE_ABI_SKEW,
    sizeof(kern_cuda_api),
    sizeof(kern_cuda_model_desc),
    device_count,
    device_name,
    dequantize_q8_0,
    type_supported,
    model_new,
    model_free,
    model_n_bytes,
    ctx_new,
    ctx_free,
    ctx_forward,
    ctx_logits,
    ctx_seq_copy,
};

#ifdef FAKE_ENGINE_NO_SYMBOL
const kern_cuda_api *kern_cuda_engine_api_misspelled(void);
const kern_cuda_api *kern_cuda_engine_api_misspelled(void)
#else
const kern_cuda_api *kern_cuda_engine_api(void)
#endif
{
    return &FAKE_API;
}
