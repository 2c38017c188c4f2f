/*
 * Tiny random models for the runtime's tests. Weights come from splitmix64 (Steele, Lea and
 * Flood, "Fast splittable pseudorandom number generators", 2014) seeded by the spec, so a model
 * is the same on every machine. Matrices are uniform in [-sqrt(3 / n_in), sqrt(3 / n_in)] (unit
 * variance of each output for unit inputs) and stored in the spec's type with the reference
 * kernels' quantize_row; the model keeps what dequantize_row reads back, so the scalar
 * reference sees exactly the weights in the file. Norm weights are near 1 (for gemma3 this is
 * the stored value: llama.cpp's converter already adds 1 to Gemma's norm weights, and the
 * runtime uses them as they are).
 *
 * Key and tensor names follow llama.cpp's gguf-py constants (llama-arch.cpp): "<arch>.block_count",
 * "<arch>.attention.head_count_kv", "blk.N.attn_q.weight", ... A matrix of r rows (outputs) and
 * c columns (inputs) is stored with ne = {c, r}.
 *
 * Vocabularies (300 tokens): llama and qwen2 use GPT-2 byte-level BPE (256 byte tokens spelled
 * with GPT-2's byte-to-unicode map, 41 merges, 3 control tokens; llama puts the control tokens
 * first as SmolLM2 does, qwen2 last as Qwen2.5 does); gemma3 uses a SentencePiece ("llama")
 * vocabulary with scores, 6 control tokens, 256 <0xNN> byte tokens and 38 pieces.
 */
#include "tests/tools/tiny_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tools/gguf_writer.h"

#define N_BYTE_TOKENS 256
#define ALIGNMENT     32
#define LAYER_GAIN    2.5f

/* ------------------------------------------------------------------------------------------ */
/* Vocabularies                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* BPE merges in rank order, in plain text (space and newline are spelled as GPT-2 does later). */
static const char *const bpe_merges[][2] = {
    {" ", "t"},      {"h", "e"},   {"i", "n"},   {"e", "r"}, {" ", "a"},  {"r", "e"},
    {"o", "n"},      {" t", "he"}, {"a", "t"},   {"e", "n"}, {" ", "s"},  {"o", "r"},
    {"e", "s"},      {" ", "f"},   {"i", "t"},   {"i", "s"}, {" ", "("},  {"(", ")"},
    {" ", "="},      {" ", " "},   {"  ", "  "}, {"d", "e"}, {"de", "f"}, {" ", "def"},
    {"in", "g"},     {" ", "re"},  {"re", "t"},  {"u", "r"}, {"ur", "n"}, {"ret", "urn"},
    {" ", "return"}, {")", ":"},   {"\n", " "},  {"p", "r"}, {"in", "t"}, {"pr", "int"},
    {" ", "in"},     {"l", "e"},   {"a", "n"},   {" ", "i"}, {"a", "l"},
};
#define N_BPE_MERGES (sizeof(bpe_merges) / sizeof(bpe_merges[0]))

static const char *const bpe_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
#define N_BPE_SPECIALS 3

/* SentencePiece pieces in score order (best first); U+2581 stands for a space. */
static const char *const spm_pieces[] = {
    "\u2581", "\u2581t",  "he",  "\u2581the", "in",           "er",  "\u2581a",   "on",
    "re",     "at",       "en",  "\u2581s",   "or",           "es",  "\u2581f",   "it",
    "is",     "\u2581(",  "()",  "\u2581=",   "de",           "def", "\u2581def", "ing",
    "ret",    "ur",       "urn", "return",    "\u2581return", "):",  "pr",        "int",
    "print",  "\u2581in", "le",  "an",        "\u2581i",      "al",
};
#define N_SPM_PIECES (sizeof(spm_pieces) / sizeof(spm_pieces[0]))

static const char *const spm_specials[] = {"<pad>", "<eos>",           "<bos>",
                                           "<unk>", "<start_of_turn>", "<end_of_turn>"};
#define N_SPM_SPECIALS 6

/* GGUF token types (llama.cpp's llama_token_type). */
enum {
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_BYTE = 6,
};

/* Chat templates shaped like the real models' (ChatML for SmolLM2 and Qwen2.5, Gemma's turns). */
static const char chatml_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char gemma_template[] =
    "{{ bos_token }}{% for message in messages %}{{'<start_of_turn>' + message['role'] + '\\n' + "
    "message['content'] + '<end_of_turn>\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{'<start_of_turn>model\\n'}}{% endif %}";

static core_str arena_str(core_arena *arena, const char *s);

typedef struct vocab {
    core_str *tokens; /* (n) */
    float *scores;    /* (n) */
    int32_t *types;   /* (n) */
    size_t n;
    core_str merges[N_BPE_MERGES];
} vocab;

/* Tokens past the base vocabulary: "x<id>" pieces, normal, scored below the base ones. */
static int vocab_fill(vocab *v, core_arena *arena, size_t first, bool spm)
{
    for (size_t id = first; id < v->n; id++) {
        char text[32];
        snprintf(text, sizeof(text), "%sx%zu", spm ? "\xe2\x96\x81" : "", id);
        v->tokens[id] = arena_str(arena, text);
        v->types[id] = TOKEN_TYPE_NORMAL;
        v->scores[id] = -(float)id;
        if (v->tokens[id].ptr == NULL) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the rest for 256 + k. */
static uint32_t gpt2_byte_codepoint(uint32_t b)
{
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    if (printable) {
        return b;
    }
    uint32_t k = 0;
    for (uint32_t c = 0; c < b; c++) {
        const bool p = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
        k += p ? 0 : 1;
    }
    return 256 + k;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    CORE_ASSERT(cp < 0x800);
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Spells plain text in GPT-2's byte-level alphabet, into the arena. */
static core_str gpt2_spell(core_arena *arena, const char *text)
{
    const size_t len = strlen(text);
    char *s = core_arena_alloc(arena, 2 * len + 1);
    if (s == NULL) {
        return (core_str){NULL, 0};
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += utf8_put(s + n, gpt2_byte_codepoint((unsigned char)text[i]));
    }
    s[n] = '\0';
    return (core_str){s, n};
}

static core_str arena_str(core_arena *arena, const char *s)
{
    const size_t len = strlen(s);
    char *copy = core_arena_strndup(arena, s, len);
    return (core_str){copy, copy == NULL ? 0 : len};
}

/* Fills v with the byte-level BPE vocabulary; specials go first or last. */
static int vocab_bpe_build(vocab *v, core_arena *arena, bool specials_first)
{
    const size_t first_byte = specials_first ? N_BPE_SPECIALS : 0;
    const size_t first_special = specials_first ? 0 : N_BYTE_TOKENS + N_BPE_MERGES;
    CORE_ASSERT(N_BPE_SPECIALS + N_BYTE_TOKENS + N_BPE_MERGES == TINY_MODEL_N_VOCAB);
    for (size_t i = 0; i < N_BPE_SPECIALS; i++) {
        v->tokens[first_special + i] = arena_str(arena, bpe_specials[i]);
        v->types[first_special + i] = TOKEN_TYPE_CONTROL;
    }
    for (uint32_t b = 0; b < N_BYTE_TOKENS; b++) {
        char spelled[3];
        const size_t n = utf8_put(spelled, gpt2_byte_codepoint(b));
        v->tokens[first_byte + b] = (core_str){core_arena_strndup(arena, spelled, n), n};
        v->types[first_byte + b] = TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; i < N_BPE_MERGES; i++) {
        const core_str left = gpt2_spell(arena, bpe_merges[i][0]);
        const core_str right = gpt2_spell(arena, bpe_merges[i][1]);
        char *merge = core_arena_alloc(arena, left.len + right.len + 2);
        char *token = core_arena_alloc(arena, left.len + right.len + 1);
        if (left.ptr == NULL || right.ptr == NULL || merge == NULL || token == NULL) {
            return CORE_ENOMEM;
        }
        snprintf(merge, left.len + right.len + 2, "%s %s", left.ptr, right.ptr);
        snprintf(token, left.len + right.len + 1, "%s%s", left.ptr, right.ptr);
        v->merges[i] = (core_str){merge, left.len + right.len + 1};
        v->tokens[first_byte + N_BYTE_TOKENS + i] = (core_str){token, left.len + right.len};
        v->types[first_byte + N_BYTE_TOKENS + i] = TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; i < TINY_MODEL_N_VOCAB; i++) {
        if (v->tokens[i].ptr == NULL) {
            return CORE_ENOMEM;
        }
        v->scores[i] = 0.0f;
    }
    if (vocab_fill(v, arena, TINY_MODEL_N_VOCAB, false) != 0) {
        return CORE_ENOMEM;
    }
    return 0;
}

/* Fills v with the SentencePiece vocabulary: specials, <0xNN> byte tokens, then pieces. */
static int vocab_spm_build(vocab *v, core_arena *arena)
{
    CORE_ASSERT(N_SPM_SPECIALS + N_BYTE_TOKENS + N_SPM_PIECES == TINY_MODEL_N_VOCAB);
    for (size_t i = 0; i < N_SPM_SPECIALS; i++) {
        v->tokens[i] = arena_str(arena, spm_specials[i]);
        v->types[i] =
            strcmp(spm_specials[i], "<unk>") == 0 ? TOKEN_TYPE_UNKNOWN : TOKEN_TYPE_CONTROL;
        v->scores[i] = -1000.0f;
    }
    for (unsigned b = 0; b < N_BYTE_TOKENS; b++) {
        char text[8];
        snprintf(text, sizeof(text), "<0x%02X>", b);
        v->tokens[N_SPM_SPECIALS + b] = arena_str(arena, text);
        v->types[N_SPM_SPECIALS + b] = TOKEN_TYPE_BYTE;
        v->scores[N_SPM_SPECIALS + b] = 0.0f;
    }
    for (size_t i = 0; i < N_SPM_PIECES; i++) {
        const size_t id = N_SPM_SPECIALS + N_BYTE_TOKENS + i;
        v->tokens[id] = arena_str(arena, spm_pieces[i]);
        v->types[id] = TOKEN_TYPE_NORMAL;
        v->scores[id] = -(float)(i + 1);
    }
    for (size_t i = 0; i < TINY_MODEL_N_VOCAB; i++) {
        if (v->tokens[i].ptr == NULL) {
            return CORE_ENOMEM;
        }
    }
    return vocab_fill(v, arena, TINY_MODEL_N_VOCAB, true);
}

/* ------------------------------------------------------------------------------------------ */
/* Specs                                                                                      */
/* ------------------------------------------------------------------------------------------ */

const char *tiny_arch_name(tiny_arch arch)
{
    switch (arch) {
    case TINY_ARCH_LLAMA:
        return "llama";
    case TINY_ARCH_QWEN2:
        return "qwen2";
    case TINY_ARCH_GEMMA3:
        return "gemma3";
    }
    return "unknown";
}

tiny_model_spec tiny_model_spec_default(tiny_arch arch, kern_type type)
{
    const bool k_type = kern_type_block_elems(type) == 256;
    tiny_model_spec s = {
        .arch = arch,
        .type = type,
        .seed = 1,
        .n_embd = k_type ? 256 : 64,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = 2,
        .head_dim = k_type ? 64 : 16,
        .n_ff = k_type ? 512 : 128,
        .n_ctx_train = 256,
        .n_swa = 0,
        .rope_base = 10000.0f,
        .rope_base_swa = 10000.0f,
        .eps = 1e-5f,
    };
    switch (arch) {
    case TINY_ARCH_LLAMA:
        s.rope_base = 100000.0f;
        break;
    case TINY_ARCH_QWEN2:
        s.rope_base = 1000000.0f;
        s.eps = 1e-6f;
        break;
    case TINY_ARCH_GEMMA3:
        /* Six layers so that one is global; key_length differs from n_embd / n_head. */
        s.n_layer = 6;
        s.n_head_kv = 1;
        s.head_dim = k_type ? 64 : 32;
        s.n_ff = k_type ? 256 : 128;
        s.n_swa = 5;
        s.rope_base = 1000000.0f;
        s.eps = 1e-6f;
        break;
    }
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Weights                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct builder {
    tiny_model *m;
    gguf_writer *w;
    const kern_ops *ops;
    uint64_t rng;  /* splitmix64 state */
    float *values; /* scratch for the largest tensor, owned */
    void *quant;   /* scratch for its encoding, owned */
} builder;

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), from the top 24 bits (exact in a float). */
static float rng_uniform(uint64_t *state)
{
    return (float)(rng_next(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static float *weights_alloc(builder *b, size_t n)
{
    return core_arena_alloc(b->m->arena, n * sizeof(float));
}

/*
 * Draws a (rows, cols) matrix uniform in [-scale, scale), stores it as name in the spec's type
 * and returns what reads back from the file (NULL when out of memory).
 */
static float *matrix_add(builder *b, const char *name, size_t rows, size_t cols, float scale,
                         core_err *err, int *rc)
{
    const kern_type type = b->m->spec.type;
    const size_t row_bytes = kern_type_row_bytes(type, cols);
    float *out = weights_alloc(b, rows * cols);
    if (out == NULL) {
        *rc = core_err_set(err, CORE_ENOMEM, "tiny model: tensor %s: out of memory", name);
        return NULL;
    }
    for (size_t i = 0; i < rows * cols; i++) {
        b->values[i] = scale * rng_uniform(&b->rng);
    }
    for (size_t r = 0; r < rows; r++) {
        void *row = (char *)b->quant + r * row_bytes;
        b->ops->quantize_row(type, b->values + r * cols, row, cols);
        b->ops->dequantize_row(type, row, out + r * cols, cols);
    }
    const uint64_t ne[2] = {cols, rows};
    *rc = gguf_writer_add_tensor(b->w, name, type, 2, ne, b->quant, rows * row_bytes, err);
    return *rc == 0 ? out : NULL;
}

/* Draws an F32 vector center + spread * uniform[-1, 1) and stores it as name. */
static float *vector_add(builder *b, const char *name, size_t n, float center, float spread,
                         core_err *err, int *rc)
{
    float *out = weights_alloc(b, n);
    if (out == NULL) {
        *rc = core_err_set(err, CORE_ENOMEM, "tiny model: tensor %s: out of memory", name);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = center + spread * rng_uniform(&b->rng);
    }
    const uint64_t ne[1] = {n};
    *rc = gguf_writer_add_tensor(b->w, name, KERN_TYPE_F32, 1, ne, out, n * sizeof(float), err);
    return *rc == 0 ? out : NULL;
}

static int layer_add(builder *b, size_t il, core_err *err)
{
    const tiny_model_spec *s = &b->m->spec;
    tiny_layer *l = &b->m->layers[il];
    const size_t q_dim = s->n_head * s->head_dim;
    const size_t kv_dim = s->n_head_kv * s->head_dim;
    const float in_embd = sqrtf(3.0f / (float)s->n_embd);
    /*
     * The output projections (and Gemma's post norms) are amplified so that the layers, not
     * the token's own embedding, decide the tied logits: otherwise greedy decoding just
     * repeats the last token.
     */
    const float in_q = LAYER_GAIN * sqrtf(3.0f / (float)q_dim);
    const float in_ff = LAYER_GAIN * sqrtf(3.0f / (float)s->n_ff);
    const bool gemma = s->arch == TINY_ARCH_GEMMA3;
    char name[64];
    int rc = 0;

    /* gemma3: 5 of every 6 layers use the sliding window and the local RoPE base. */
    l->is_swa = gemma && s->n_swa > 0 && il % 6 < 5;
    l->rope_base = l->is_swa ? s->rope_base_swa : s->rope_base;

#define NAME(suffix) (snprintf(name, sizeof(name), "blk.%zu." suffix, il), name)
    l->attn_norm = vector_add(b, NAME("attn_norm.weight"), s->n_embd, 1.0f, 0.2f, err, &rc);
    if (rc == 0) {
        l->wq = matrix_add(b, NAME("attn_q.weight"), q_dim, s->n_embd, in_embd, err, &rc);
    }
    if (rc == 0) {
        l->wk = matrix_add(b, NAME("attn_k.weight"), kv_dim, s->n_embd, in_embd, err, &rc);
    }
    if (rc == 0) {
        l->wv = matrix_add(b, NAME("attn_v.weight"), kv_dim, s->n_embd, in_embd, err, &rc);
    }
    if (rc == 0 && s->arch == TINY_ARCH_QWEN2) {
        l->bq = vector_add(b, NAME("attn_q.bias"), q_dim, 0.0f, 0.5f, err, &rc);
        if (rc == 0) {
            l->bk = vector_add(b, NAME("attn_k.bias"), kv_dim, 0.0f, 0.5f, err, &rc);
        }
        if (rc == 0) {
            l->bv = vector_add(b, NAME("attn_v.bias"), kv_dim, 0.0f, 0.5f, err, &rc);
        }
    }
    if (rc == 0 && gemma) {
        l->q_norm = vector_add(b, NAME("attn_q_norm.weight"), s->head_dim, 1.0f, 0.2f, err, &rc);
        if (rc == 0) {
            l->k_norm =
                vector_add(b, NAME("attn_k_norm.weight"), s->head_dim, 1.0f, 0.2f, err, &rc);
        }
    }
    if (rc == 0) {
        l->wo = matrix_add(b, NAME("attn_output.weight"), s->n_embd, q_dim, in_q, err, &rc);
    }
    if (rc == 0 && gemma) {
        l->post_attn_norm = vector_add(b, NAME("post_attention_norm.weight"), s->n_embd, LAYER_GAIN,
                                       0.5f, err, &rc);
    }
    if (rc == 0) {
        l->ffn_norm = vector_add(b, NAME("ffn_norm.weight"), s->n_embd, 1.0f, 0.2f, err, &rc);
    }
    if (rc == 0) {
        l->w_gate = matrix_add(b, NAME("ffn_gate.weight"), s->n_ff, s->n_embd, in_embd, err, &rc);
    }
    if (rc == 0) {
        l->w_up = matrix_add(b, NAME("ffn_up.weight"), s->n_ff, s->n_embd, in_embd, err, &rc);
    }
    if (rc == 0) {
        l->w_down = matrix_add(b, NAME("ffn_down.weight"), s->n_embd, s->n_ff, in_ff, err, &rc);
    }
    if (rc == 0 && gemma) {
        l->post_ffw_norm =
            vector_add(b, NAME("post_ffw_norm.weight"), s->n_embd, LAYER_GAIN, 0.5f, err, &rc);
    }
#undef NAME
    return rc;
}

static int spec_check(const tiny_model_spec *s, core_err *err)
{
    if (s->arch != TINY_ARCH_LLAMA && s->arch != TINY_ARCH_QWEN2 && s->arch != TINY_ARCH_GEMMA3) {
        return core_err_set(err, CORE_EINVAL, "tiny model: unknown architecture %d", (int)s->arch);
    }
    if (!kern_type_is_known((uint32_t)s->type)) {
        return core_err_set(err, CORE_EINVAL, "tiny model: unknown type %d", (int)s->type);
    }
    const size_t block = kern_type_block_elems(s->type);
    const size_t q_dim = s->n_head * s->head_dim;
    if (s->n_layer == 0 || s->n_head == 0 || s->n_head_kv == 0 || s->n_head % s->n_head_kv != 0 ||
        s->head_dim % 2 != 0 || s->n_embd % block != 0 || s->n_ff % block != 0 ||
        q_dim % block != 0 || s->n_embd == 0 || s->n_ff == 0 || s->head_dim == 0) {
        return core_err_set(err, CORE_EINVAL, "tiny model: %s %s: bad shape",
                            tiny_arch_name(s->arch), kern_type_name(s->type));
    }
    /* Only gemma3's file says how long a head is; the others derive it from n_embd / n_head. */
    if (s->arch != TINY_ARCH_GEMMA3 && q_dim != s->n_embd) {
        return core_err_set(err, CORE_EINVAL, "tiny model: %s: n_head * head_dim != n_embd",
                            tiny_arch_name(s->arch));
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Metadata                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static int hparams_add(gguf_writer *w, const tiny_model_spec *s, core_err *err)
{
    const char *arch = tiny_arch_name(s->arch);
    char key[96];
    char name[64];
    int rc = gguf_writer_add_str(w, "general.architecture", arch, err);
    snprintf(name, sizeof(name), "tiny-%s-%s", arch, kern_type_name(s->type));
    rc = rc != 0 ? rc : gguf_writer_add_str(w, "general.name", name, err);
    rc = rc != 0 ? rc : gguf_writer_add_u32(w, "general.quantization_version", 2, err);
#define KEY(suffix) (snprintf(key, sizeof(key), "%s." suffix, arch), key)
    rc =
        rc != 0 ? rc : gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)s->n_ctx_train, err);
    rc = rc != 0 ? rc : gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd, err);
    rc = rc != 0 ? rc : gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)s->n_layer, err);
    rc = rc != 0 ? rc : gguf_writer_add_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff, err);
    rc = rc != 0 ? rc
                 : gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head, err);
    rc = rc != 0
             ? rc
             : gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv, err);
    rc = rc != 0 ? rc : gguf_writer_add_f32(w, KEY("rope.freq_base"), s->rope_base, err);
    rc =
        rc != 0 ? rc : gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->eps, err);
    switch (s->arch) {
    case TINY_ARCH_LLAMA:
        /* As SmolLM2's file: the vocabulary size and the rotated dimensions are explicit. */
        rc =
            rc != 0
                ? rc
                : gguf_writer_add_u32(
                      w, KEY("vocab_size"),
                      (uint32_t)(s->n_vocab > TINY_MODEL_N_VOCAB ? s->n_vocab : TINY_MODEL_N_VOCAB),
                      err);
        rc = rc != 0
                 ? rc
                 : gguf_writer_add_u32(w, KEY("rope.dimension_count"), (uint32_t)s->head_dim, err);
        break;
    case TINY_ARCH_QWEN2:
        /* As Qwen2.5's files: head size and rotated dimensions default to n_embd / n_head. */
        break;
    case TINY_ARCH_GEMMA3:
        rc = rc != 0
                 ? rc
                 : gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)s->head_dim, err);
        rc = rc != 0 ? rc
                     : gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)s->head_dim,
                                           err);
        rc = rc != 0
                 ? rc
                 : gguf_writer_add_u32(w, KEY("attention.sliding_window"), (uint32_t)s->n_swa, err);
        break;
    }
#undef KEY
    return rc;
}

static int tokenizer_add(gguf_writer *w, tiny_model *m, core_err *err)
{
    vocab *v = core_arena_alloc(m->arena, sizeof(*v));
    if (v == NULL) {
        return core_err_set(err, CORE_ENOMEM, "tiny model: vocabulary: out of memory");
    }
    memset(v, 0, sizeof(*v));
    v->n = m->n_vocab;
    v->tokens = core_arena_alloc(m->arena, v->n * sizeof(*v->tokens));
    v->scores = core_arena_alloc(m->arena, v->n * sizeof(*v->scores));
    v->types = core_arena_alloc(m->arena, v->n * sizeof(*v->types));
    if (v->tokens == NULL || v->scores == NULL || v->types == NULL) {
        return core_err_set(err, CORE_ENOMEM, "tiny model: vocabulary: out of memory");
    }
    memset(v->tokens, 0, v->n * sizeof(*v->tokens));
    memset(v->scores, 0, v->n * sizeof(*v->scores));
    memset(v->types, 0, v->n * sizeof(*v->types));
    int rc = 0;
    if (m->spec.arch == TINY_ARCH_GEMMA3 || m->spec.spm_vocab) {
        if (vocab_spm_build(v, m->arena) != 0) {
            return core_err_set(err, CORE_ENOMEM, "tiny model: vocabulary: out of memory");
        }
        m->token_bos = 2;
        m->token_eos = 1;
        m->token_im_start = 4;
        m->token_im_end = 5;
        rc = gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", err);
        rc = rc != 0 ? rc : gguf_writer_add_str(w, "tokenizer.ggml.pre", "default", err);
        rc = rc != 0 ? rc
                     : gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", v->tokens, v->n, err);
        rc = rc != 0 ? rc
                     : gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32,
                                           v->scores, v->n, err);
        rc = rc != 0 ? rc
                     : gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32,
                                           v->types, v->n, err);
        rc = rc != 0 ? rc : gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2, err);
        rc = rc != 0 ? rc : gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1, err);
        rc = rc != 0 ? rc : gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3, err);
        rc = rc != 0 ? rc : gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0, err);
        rc = rc != 0 ? rc : gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true, err);
        rc = rc != 0 ? rc : gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false, err);
        rc = rc != 0 ? rc : gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false, err);
        rc = rc != 0 ? rc : gguf_writer_add_str(w, "tokenizer.chat_template", gemma_template, err);
        return rc;
    }

    const bool llama = m->spec.arch == TINY_ARCH_LLAMA;
    if (vocab_bpe_build(v, m->arena, llama) != 0) {
        return core_err_set(err, CORE_ENOMEM, "tiny model: vocabulary: out of memory");
    }
    const int32_t first_special = llama ? 0 : (int32_t)(N_BYTE_TOKENS + N_BPE_MERGES);
    const int32_t endoftext = first_special;
    m->token_im_start = first_special + 1;
    m->token_im_end = first_special + 2;
    /* SmolLM2: bos <|im_start|>, eos <|im_end|>; Qwen2.5: bos <|endoftext|>, eos <|im_end|>. */
    m->token_bos = llama ? m->token_im_start : endoftext;
    m->token_eos = m->token_im_end;
    rc = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err);
    rc = rc != 0 ? rc
                 : gguf_writer_add_str(w, "tokenizer.ggml.pre", llama ? "smollm" : "qwen2", err);
    rc = rc != 0 ? rc : gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", v->tokens, v->n, err);
    rc = rc != 0 ? rc
                 : gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, v->types,
                                       v->n, err);
    rc = rc != 0
             ? rc
             : gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", v->merges, N_BPE_MERGES, err);
    rc = rc != 0
             ? rc
             : gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->token_bos, err);
    rc = rc != 0
             ? rc
             : gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)m->token_eos, err);
    rc = rc != 0
             ? rc
             : gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)endoftext, err);
    rc = rc != 0 ? rc : gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false, err);
    rc = rc != 0 ? rc : gguf_writer_add_str(w, "tokenizer.chat_template", chatml_template, err);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                     */
/* ------------------------------------------------------------------------------------------ */

int tiny_model_new(tiny_model **out, const tiny_model_spec *spec, core_err *err)
{
    *out = NULL;
    tiny_model *m = NULL;
    builder b = {0};
    core_buf file = {0};
    int rc = spec_check(spec, err);
    if (rc != 0) {
        goto done;
    }
    m = core_calloc(1, sizeof(*m));
    if (m == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny model: out of memory");
        goto done;
    }
    m->spec = *spec;
    m->n_vocab = spec->n_vocab > TINY_MODEL_N_VOCAB ? spec->n_vocab : TINY_MODEL_N_VOCAB;
    rc = core_arena_new(&m->arena, 1 << 20, err);
    if (rc != 0) {
        goto done;
    }
    m->layers = core_arena_alloc(m->arena, spec->n_layer * sizeof(*m->layers));
    if (m->layers == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny model: out of memory");
        goto done;
    }
    memset(m->layers, 0, spec->n_layer * sizeof(*m->layers));

    const size_t q_dim = spec->n_head * spec->head_dim;
    size_t n_max = m->n_vocab * spec->n_embd;
    const size_t sizes[3] = {q_dim * spec->n_embd, spec->n_ff * spec->n_embd, n_max};
    for (size_t i = 0; i < 3; i++) {
        n_max = sizes[i] > n_max ? sizes[i] : n_max;
    }
    b.m = m;
    const char *ops_name = NULL;
    b.ops = kern_backend_variant(0, &ops_name);
    b.rng = spec->seed;
    b.values = core_malloc(n_max * sizeof(float));
    /* No type takes more bytes per value than F32. */
    b.quant = core_malloc(n_max * sizeof(float));
    if (b.values == NULL || b.quant == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny model: out of memory");
        goto done;
    }
    rc = gguf_writer_new(&b.w, ALIGNMENT, err);
    rc = rc != 0 ? rc : hparams_add(b.w, spec, err);
    rc = rc != 0 ? rc : tokenizer_add(b.w, m, err);
    if (rc != 0) {
        goto done;
    }

    /* Embeddings of half amplitude keep tied logits in a range where greedy choices are clear. */
    m->token_embd = matrix_add(&b, "token_embd.weight", m->n_vocab, spec->n_embd, 0.5f, err, &rc);
    if (rc == 0) {
        m->output_norm = vector_add(&b, "output_norm.weight", spec->n_embd, 1.0f, 0.2f, err, &rc);
    }
    if (rc == 0 && spec->arch == TINY_ARCH_QWEN2) {
        m->output = matrix_add(&b, "output.weight", m->n_vocab, spec->n_embd,
                               sqrtf(3.0f / (float)spec->n_embd), err, &rc);
    } else {
        m->output = m->token_embd;
    }
    for (size_t il = 0; rc == 0 && il < spec->n_layer; il++) {
        rc = layer_add(&b, il, err);
    }
    if (rc != 0) {
        goto done;
    }

    rc = gguf_writer_serialize(b.w, &file, err);
    if (rc != 0) {
        goto done;
    }
    m->file = core_arena_alloc(m->arena, file.len);
    if (m->file == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "tiny model: out of memory");
        goto done;
    }
    memcpy(m->file, file.ptr, file.len);
    m->n_file_bytes = file.len;
    *out = m;
    m = NULL;
done:
    core_buf_dispose(&file);
    gguf_writer_free(b.w);
    core_free(b.values);
    core_free(b.quant);
    tiny_model_free(m);
    return rc;
}

void tiny_model_free(tiny_model *model)
{
    if (model == NULL) {
        return;
    }
    core_arena_free(model->arena);
    core_free(model);
}

int tiny_model_save(const tiny_model *model, const char *path, core_err *err)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return core_err_set(err, CORE_EIO, "fopen: %s: %s", strerror(errno), path);
    }
    const size_t n = fwrite(model->file, 1, model->n_file_bytes, f);
    const int closed = fclose(f);
    if (n != model->n_file_bytes || closed != 0) {
        return core_err_set(err, CORE_EIO, "write: %s: %s", strerror(errno), path);
    }
    return 0;
}

int tiny_model_write(const char *path, const tiny_model_spec *spec, core_err *err)
{
    tiny_model *m = NULL;
    int rc = tiny_model_new(&m, spec, err);
    if (rc == 0 && CORE_ALWAYS(m != NULL)) {
        rc = tiny_model_save(m, path, err);
    }
    tiny_model_free(m);
    return rc;
}
