/*
 * Test tool: tiny random models. For each architecture kiln runs ("llama", "qwen2", "gemma3")
 * it draws weights from a fixed-seed generator, stores the weight matrices in a chosen tensor
 * type, and writes a GGUF file shaped like the real models (same key and tensor names, a
 * 300-token byte-level BPE or SentencePiece vocabulary). The in-memory tiny_model keeps the
 * weights as they read back from the file (dequantized), which is what the scalar reference
 * forward pass (tests/tools/tiny_ref.h) computes with.
 *
 * A tiny_model is immutable after creation.
 */
#ifndef KILN_TESTS_TOOLS_TINY_MODEL_H
#define KILN_TESTS_TOOLS_TINY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "kernels/kern.h"

/** Tokens in every tiny model's vocabulary. */
#define TINY_MODEL_N_VOCAB 300

typedef enum tiny_arch {
    TINY_ARCH_LLAMA = 0,  /* SmolLM2-like: GQA, NORM RoPE, SwiGLU, tied embeddings */
    TINY_ARCH_QWEN2 = 1,  /* Q/K/V biases, NEOX RoPE, untied output */
    TINY_ARCH_GEMMA3 = 2, /* GeGLU, q/k norms, post norms, sliding window, tied embeddings */
} tiny_arch;

/** The architecture's GGUF name ("llama", "qwen2", "gemma3"). Static storage. */
const char *tiny_arch_name(tiny_arch arch);

typedef struct tiny_model_spec {
    tiny_arch arch;
    kern_type type; /* of the weight matrices and token_embd/output; norms and biases: F32 */
    uint64_t seed;  /* of the weight generator */
    size_t n_embd;  /* multiples of the type's block size: n_embd, n_ff, n_head * head_dim */
    size_t n_layer;
    size_t n_head;
    size_t n_head_kv; /* divides n_head */
    size_t head_dim;  /* key/value length per head (may differ from n_embd / n_head) */
    size_t n_ff;
    size_t n_ctx_train;
    size_t n_swa;        /* gemma3: sliding window in positions, on 5 of every 6 layers */
    float rope_base;     /* of the global (non-sliding) layers */
    float rope_base_swa; /* gemma3: of the sliding-window layers */
    float eps;           /* RMSNorm epsilon */
    size_t n_vocab;      /* 0: TINY_MODEL_N_VOCAB; more adds filler pieces (real models' size) */
    bool spm_vocab;      /* a SentencePiece vocabulary for every arch (gemma3 always has one) */
} tiny_model_spec;

/**
 * The default shape for arch with weights of type: 64-wide models for F32/F16/BF16 and the
 * 32-element block types, 256-wide ones for the K types; 2 layers (gemma3: 6, so that one layer
 * is global); seed 1.
 */
tiny_model_spec tiny_model_spec_default(tiny_arch arch, kern_type type);

/** One layer's weights, dequantized; matrices are (rows, cols) row-major, row = one output. */
typedef struct tiny_layer {
    float *attn_norm;      /* (n_embd) */
    float *wq;             /* (n_head * head_dim, n_embd) */
    float *wk;             /* (n_head_kv * head_dim, n_embd) */
    float *wv;             /* (n_head_kv * head_dim, n_embd) */
    float *wo;             /* (n_embd, n_head * head_dim) */
    float *bq;             /* qwen2: (n_head * head_dim); NULL otherwise */
    float *bk;             /* qwen2: (n_head_kv * head_dim); NULL otherwise */
    float *bv;             /* qwen2: (n_head_kv * head_dim); NULL otherwise */
    float *q_norm;         /* gemma3: (head_dim); NULL otherwise */
    float *k_norm;         /* gemma3: (head_dim); NULL otherwise */
    float *post_attn_norm; /* gemma3: (n_embd); NULL otherwise */
    float *ffn_norm;       /* (n_embd) */
    float *w_gate;         /* (n_ff, n_embd) */
    float *w_up;           /* (n_ff, n_embd) */
    float *w_down;         /* (n_embd, n_ff) */
    float *post_ffw_norm;  /* gemma3: (n_embd); NULL otherwise */
    bool is_swa;           /* gemma3: sliding-window layer */
    float rope_base;       /* the layer's RoPE base */
} tiny_layer;

typedef struct tiny_model {
    tiny_model_spec spec;
    size_t n_vocab;
    float *token_embd;  /* (n_vocab, n_embd) */
    float *output;      /* (n_vocab, n_embd); the same pointer as token_embd when tied */
    float *output_norm; /* (n_embd) */
    tiny_layer *layers; /* (n_layer) */
    int32_t token_bos;  /* -1 when none */
    int32_t token_eos;
    int32_t token_im_start; /* a control token that can appear in prompts */
    int32_t token_im_end;   /* <|im_end|> (gemma3: <end_of_turn>) */
    core_arena *arena;      /* owns every array above, and file */
    void *file;             /* (n_file_bytes) the whole GGUF file */
    size_t n_file_bytes;
} tiny_model;

/**
 * Draws the model described by spec and builds its GGUF file in memory. Caller frees with
 * tiny_model_free. CORE_EINVAL (a shape the type cannot hold, unknown arch), CORE_ENOMEM.
 */
int tiny_model_new(tiny_model **out, const tiny_model_spec *spec, core_err *err);
void tiny_model_free(tiny_model *model);
/** Writes the model's GGUF file at path. CORE_EIO. */
int tiny_model_save(const tiny_model *model, const char *path, core_err *err);

/** tiny_model_new + tiny_model_save + tiny_model_free. */
int tiny_model_write(const char *path, const tiny_model_spec *spec, core_err *err);

#endif /* KILN_TESTS_TOOLS_TINY_MODEL_H */
