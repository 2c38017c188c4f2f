/*
 * Private to gen/: the tokenizers. Byte-level BPE (tokenizer.ggml.model "gpt2") and
 * SentencePiece-style score merging (tokenizer.ggml.model "llama"), both matching llama.cpp's
 * llama-vocab.cpp token for token, including its special-token partitioning. Loading, pieces
 * and decoding are in tokenizer.c, encoding in tokenizer_encode.c, their shared internals in
 * tokenizer_impl.h. A gen_tokenizer is immutable after creation: share it freely between
 * threads.
 */
#ifndef KILN_GEN_TOKENIZER_H
#define KILN_GEN_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "gen/gguf_int.h"

typedef struct gen_tokenizer gen_tokenizer;

/* The special-token ids a vocabulary may name (tokenizer.ggml.<x>_token_id). */
typedef enum gen_tokenizer_special {
    GEN_TOKENIZER_SPECIAL_BOS = 0,
    GEN_TOKENIZER_SPECIAL_EOS,
    GEN_TOKENIZER_SPECIAL_EOT,
    GEN_TOKENIZER_SPECIAL_EOM,
    GEN_TOKENIZER_SPECIAL_UNK,
    GEN_TOKENIZER_SPECIAL_SEP,
    GEN_TOKENIZER_SPECIAL_PAD,
    GEN_TOKENIZER_SPECIAL_MASK,
    GEN_TOKENIZER_SPECIAL_FIM_PRE,
    GEN_TOKENIZER_SPECIAL_FIM_SUF,
    GEN_TOKENIZER_SPECIAL_FIM_MID,
    GEN_TOKENIZER_SPECIAL_FIM_PAD,
    GEN_TOKENIZER_SPECIAL_FIM_REP,
    GEN_TOKENIZER_SPECIAL_FIM_SEP,
    GEN_TOKENIZER_SPECIAL_COUNT
} gen_tokenizer_special;

/**
 * A vocabulary as the tokenizer.ggml.* keys describe it. gen__tokenizer_new fills one from a
 * GGUF file; tests fill one by hand. Every pointer is borrowed for the gen__tokenizer_new_spec
 * call only (the tokenizer copies what it keeps).
 */
typedef struct gen_tokenizer_spec {
    core_str model;         /* "gpt2" or "llama" */
    core_str pre;           /* pre-tokenizer name; empty when the file has none */
    const core_str *tokens; /* (n_tokens) token texts as stored in the file */
    size_t n_tokens;
    const float *scores;        /* (n_tokens), or NULL: all 0 */
    const int32_t *token_types; /* (n_tokens) GGUF token types (1 normal, 2 unknown, 3 control,
                                   4 user-defined, 5 unused, 6 byte), or NULL: all normal */
    const core_str *merges;     /* (n_merges) "left right", required for "gpt2" */
    size_t n_merges;
    bool has_merges;                              /* false: the file has no tokenizer.ggml.merges */
    int64_t special[GEN_TOKENIZER_SPECIAL_COUNT]; /* id from the file, or -1 when absent */
    int add_bos;          /* 1, 0, or -1 when absent (the model type's default) */
    int add_eos;          /* same */
    int add_space_prefix; /* same */
} gen_tokenizer_spec;

/** A spec with every optional field absent (special ids and flags -1, pointers NULL). */
gen_tokenizer_spec gen__tokenizer_spec_default(void);

/**
 * Reads the tokenizer.ggml.* keys of g and builds the tokenizer; g may be freed afterwards
 * (everything is copied). Codes: CORE_EUNSUPPORTED (a tokenizer model or pre-tokenizer kiln
 * does not implement, named in the message), CORE_EPARSE (missing or inconsistent keys: wrong
 * types, a token list shorter than its scores, a merge naming an unknown token, duplicate
 * tokens, add_bos without a bos id), CORE_ENOMEM.
 */
int gen__tokenizer_new(gen_tokenizer **out, const gen_gguf *g, core_err *err);
/** Builds a tokenizer from spec. Same codes as gen__tokenizer_new. */
int gen__tokenizer_new_spec(gen_tokenizer **out, const gen_tokenizer_spec *spec, core_err *err);
void gen__tokenizer_free(gen_tokenizer *t);

/**
 * Tokenizes text (any bytes) as llama_tokenize does. add_special adds BOS/EOS when the model
 * asks for them; parse_special turns the text of control tokens into their ids (user-defined
 * tokens are always matched first, as llama.cpp does). *out is allocated with core_malloc (the
 * caller frees it with core_free; NULL when *n_out is 0). Invalid UTF-8 is encoded as llama.cpp
 * encodes it (BPE: each bad byte as U+FFFD; SPM: byte tokens). Codes: CORE_ENOMEM, CORE_EINVAL
 * (text over 512 MiB), CORE_ERROR (the regex engine failed, e.g. its match limit).
 */
int gen__tokenizer_encode(const gen_tokenizer *t, core_str text, bool add_special,
                          bool parse_special, int32_t **out, size_t *n_out, core_err *err);

/**
 * The bytes token id stands for: byte tokens give their byte, normal tokens their decoded
 * text, control and unknown tokens their text only when render_special (else nothing),
 * user-defined tokens their text. Borrowed; valid as long as t. Out-of-range ids give an empty
 * slice.
 */
core_str gen__tokenizer_piece(const gen_tokenizer *t, int32_t id, bool render_special);

/**
 * Appends the text of n tokens to out: the concatenation of their pieces (the first one loses
 * a leading space when the model adds a space prefix). Unlike llama.cpp it never applies
 * "clean up tokenization spaces", so decode(encode(s)) == s for valid UTF-8 s. Codes:
 * CORE_EINVAL (an id out of range, named), CORE_ENOMEM (out keeps what it had).
 */
int gen__tokenizer_decode(const gen_tokenizer *t, const int32_t *ids, size_t n, bool render_special,
                          core_buf *out, core_err *err);

size_t gen__tokenizer_n_vocab(const gen_tokenizer *t);
/** Special ids, or -1 when the vocabulary has none. */
int32_t gen__tokenizer_bos(const gen_tokenizer *t);
int32_t gen__tokenizer_eos(const gen_tokenizer *t);
int32_t gen__tokenizer_eot(const gen_tokenizer *t);
/** Whether encode with add_special prepends BOS / appends EOS. */
bool gen__tokenizer_adds_bos(const gen_tokenizer *t);
bool gen__tokenizer_adds_eos(const gen_tokenizer *t);
/** True for tokens that end generation, as llama.cpp decides (eos, eot, <|im_end|>...). */
bool gen__tokenizer_is_eog(const gen_tokenizer *t, int32_t id);
/** True for control tokens (after llama.cpp's overrides). */
bool gen__tokenizer_is_control(const gen_tokenizer *t, int32_t id);
/** The token's text as stored in the file (not decoded). Borrowed; empty when out of range. */
core_str gen__tokenizer_text(const gen_tokenizer *t, int32_t id);

#endif /* KILN_GEN_TOKENIZER_H */
