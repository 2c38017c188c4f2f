/*
 * Private to the CUDA engine module (device.cu, engine.cu): the entry points behind its
 * kern_cuda_api table, documented there. Only kern_cuda_engine_api() leaves the module
 * (kernels/cuda/module.map); these stay hidden in it.
 */
#ifndef KILN_KERN_CUDA_ENGINE_INT_H
#define KILN_KERN_CUDA_ENGINE_INT_H

#include "kernels/cuda/kern_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

int kern_cuda__device_count(int *out, core_err *err);
int kern_cuda__device_name(char *buf, size_t size, core_err *err);
int kern_cuda__dequantize_q8_0(float *y, const void *x, size_t n, core_err *err);
bool kern_cuda__type_supported(kern_type t);
int kern_cuda__model_new(kern_cuda_model **out, const kern_cuda_model_desc *desc, core_err *err);
void kern_cuda__model_free(kern_cuda_model *model);
size_t kern_cuda__model_n_bytes(const kern_cuda_model *model);
int kern_cuda__ctx_new(kern_cuda_ctx **out, kern_cuda_model *model,
                       const kern_cuda_ctx_options *opts, core_err *err);
void kern_cuda__ctx_free(kern_cuda_ctx *ctx);
int kern_cuda__ctx_forward(kern_cuda_ctx *ctx, const int32_t *tokens, const int32_t *seq,
                           const int32_t *pos, size_t n, const int32_t *out_rows, size_t n_out,
                           int32_t *argmax, core_err *err);
int kern_cuda__ctx_logits(kern_cuda_ctx *ctx, size_t i, float *dst, core_err *err);
int kern_cuda__ctx_seq_copy(kern_cuda_ctx *ctx, int32_t dst, int32_t src, size_t n_pos,
                            core_err *err);

/** The module's one exported symbol (see kern_cuda_engine_api_fn). */
const kern_cuda_api *kern_cuda_engine_api(void);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KERN_CUDA_ENGINE_INT_H */
