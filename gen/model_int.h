/*
 * Private to gen/: the loaded model (hyperparameters, weight views into the mapping, the
 * tokenizer) shared by the loader, the forward pass and the contexts.
 */
#ifndef KILN_GEN_MODEL_H
#define KILN_GEN_MODEL_H

#include "gen/gen.h"
#include "gen/gguf_int.h"
#include "gen/tokenizer_int.h"
#include "kernels/cuda/kern_cuda.h"

typedef enum gen_arch {
    GEN_ARCH_LLAMA = 0,
    GEN_ARCH_QWEN2 = 1,
    GEN_ARCH_GEMMA3 = 2,
} gen_arch;

/** A weight matrix view: n_rows rows of n_cols values of type, row_bytes apart. */
typedef struct gen_weight {
    kern_type type;
    const void *data; /* into the mapping, or into gen_model.packed when packed; borrowed */
    size_t row_bytes; /* of the matrix in ggml's layout, packed or not */
    bool packed;      /* data is in the ops table's packed layout (kern_ops.pack) */
    size_t n_rows;    /* output features */
    size_t n_cols;    /* input features */
} gen_weight;

typedef struct gen_layer {
    const float *attn_norm; /* (n_embd) */
    gen_weight wq;          /* (n_head * head_dim, n_embd) */
    gen_weight wk;          /* (n_head_kv * head_dim, n_embd) */
    gen_weight wv;          /* (n_head_kv * head_dim, n_embd) */
    gen_weight wo;          /* (n_embd, n_head * head_dim) */
    const float *bq;        /* qwen2 biases, else NULL */
    const float *bk;
    const float *bv;
    const float *q_norm; /* gemma3 per-head norms (head_dim), else NULL */
    const float *k_norm;
    const float *post_attn_norm; /* gemma3 (n_embd), else NULL */
    const float *ffn_norm;       /* (n_embd) */
    gen_weight w_gate;           /* (n_ff, n_embd) */
    gen_weight w_up;             /* (n_ff, n_embd) */
    gen_weight w_down;           /* (n_embd, n_ff) */
    const float *post_ffn_norm;  /* gemma3 (n_embd), else NULL */
    bool is_swa;                 /* sliding-window attention layer (gemma3) */
    float rope_base;             /* this layer's RoPE base */
} gen_layer;

typedef struct gen_hparams {
    size_t n_vocab;
    size_t n_ctx_train;
    size_t n_embd;
    size_t n_layer;
    size_t n_head;
    size_t n_head_kv;
    size_t head_dim; /* per head, for keys and values */
    size_t n_ff;
    size_t n_rot;     /* rotated dimensions per head */
    size_t n_swa;     /* sliding window in positions (0: none) */
    float eps;        /* RMSNorm epsilon */
    float attn_scale; /* multiplies q.k */
    float embd_scale; /* multiplies token embeddings (gemma: sqrt(n_embd)) */
    kern_rope_mode rope_mode;
} gen_hparams;

struct gen_model {
    gen_gguf *gguf;           /* owned; every weight points into it */
    gen_tokenizer *tokenizer; /* owned */
    kern_backend *backend;    /* owned */
    const kern_ops *ops;      /* borrowed from backend */
    gen_arch arch;
    char arch_name[16];
    char desc[256];
    gen_hparams hp;
    bool vocab_only;
    gen_weight tok_embd;      /* (n_vocab, n_embd) */
    gen_weight output;        /* (n_vocab, n_embd); the embedding when tied */
    const float *output_norm; /* (n_embd) */
    gen_layer *layers;        /* (n_layer), owned */
    size_t n_bytes;           /* tensor bytes */
    void *packed;             /* owned mapping of packed_len bytes: the packed matrices, or NULL */
    size_t packed_len;
    double pack_ms;         /* wall time of the packing at load */
    bool pack_cached;       /* packed is a mapping of a cache file (gen_model_options.pack_cache) */
    kern_cuda_module *cuda; /* owned; the loaded CUDA engine, NULL when running on the CPU */
    const kern_cuda_api *cu; /* borrowed from cuda; NULL with it */
    kern_cuda_model *gpu;    /* owned; the weights on the GPU, NULL when running on the CPU */
};

/**
 * Loads the CUDA engine module where a device is present, uploads m's weights to device 0 and
 * sets m->cuda, m->cu and m->gpu (gen/cuda.c). Matrices of types the engine cannot read are
 * converted to F16 first. With fallback, a missing device leaves m on the CPU silently, and a
 * missing or broken module or a failed upload logs a warning and leaves it there (all return 0).
 */
int gen__cuda_upload(gen_model *m, bool fallback, const core_log *log, core_err *err);

#endif /* KILN_GEN_MODEL_H */
