/*
 * Stand-ins for the CUDA entry points when kiln is built without CUDA (no nvcc, or
 * -DKILN_CUDA=OFF): every call reports CORE_EUNSUPPORTED.
 */
#include "kernels/cuda/kern_cuda.h"

static int no_cuda(core_err *err)
{
    return core_err_set(err, CORE_EUNSUPPORTED, "cuda: kiln was built without CUDA");
}

int kern_cuda_device_count(int *out, core_err *err)
{
    *out = 0;
    return no_cuda(err);
}

int kern_cuda_device_name(char *buf, size_t size, core_err *err)
{
    if (size > 0) {
        buf[0] = '\0';
    }
    return no_cuda(err);
}

int kern_cuda_dequantize_q8_0(float *y, const void *x, size_t n, core_err *err)
{
    (void)y;
    (void)x;
    (void)n;
    return no_cuda(err);
}

bool kern_cuda_type_supported(kern_type t)
{
    (void)t;
    return false;
}

int kern_cuda_model_new(kern_cuda_model **out, const kern_cuda_model_desc *desc, core_err *err)
{
    (void)desc;
    *out = NULL;
    return no_cuda(err);
}

void kern_cuda_model_free(kern_cuda_model *model)
{
    (void)model;
}

size_t kern_cuda_model_n_bytes(const kern_cuda_model *model)
{
    (void)model;
    return 0;
}

int kern_cuda_ctx_new(kern_cuda_ctx **out, kern_cuda_model *model,
                      const kern_cuda_ctx_options *opts, core_err *err)
{
    (void)model;
    (void)opts;
    *out = NULL;
    return no_cuda(err);
}

void kern_cuda_ctx_free(kern_cuda_ctx *ctx)
{
    (void)ctx;
}

int kern_cuda_ctx_forward(kern_cuda_ctx *ctx, const int32_t *tokens, const int32_t *seq,
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
    return no_cuda(err);
}

int kern_cuda_ctx_logits(kern_cuda_ctx *ctx, size_t i, float *dst, core_err *err)
{
    (void)ctx;
    (void)i;
    (void)dst;
    return no_cuda(err);
}

int kern_cuda_ctx_seq_copy(kern_cuda_ctx *ctx, int32_t dst, int32_t src, size_t n_pos,
                           core_err *err)
{
    (void)ctx;
    (void)dst;
    (void)src;
    (void)n_pos;
    return no_cuda(err);
}
