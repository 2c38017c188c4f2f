/*
 * Tokenizers: loading a vocabulary, token pieces, decoding and queries. Byte-level BPE (GGUF
 * tokenizer.ggml.model "gpt2": GPT-2, SmolLM, Qwen2, Llama 3) and SentencePiece-style merging
 * by score (model "llama": Llama 2, Gemma), written to give exactly the ids and attributes
 * llama.cpp's llama-vocab.cpp gives (encoding itself is in tokenizer_encode.c).
 *
 * Loading follows llama_vocab::impl::load: the model type's default special ids, the file's
 * ids when in range, the attribute overrides llama.cpp derives from token texts (end-of-turn,
 * fill-in-the-middle and end-of-generation tokens become control tokens), and the EOG set.
 * BPE merges are resolved once to (left id, right id) -> (rank, merged id); the GPT-2
 * byte-to-unicode mapping is applied to the 256 byte symbols, so encoding never builds
 * byte-encoded strings. Special tokens (control, user-defined, unknown) go into a byte trie
 * with their rank in llama.cpp's longest-first order. Pieces (the bytes each token decodes to)
 * are computed here once, as llama.cpp's token_to_piece cache.
 *
 * Decoding concatenates pieces. Unlike llama.cpp it never "cleans up tokenization spaces"
 * (gpt-2 and llama-bpe vocabularies ask for that), so decode(encode(s)) == s.
 */
#include "gen/tokenizer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/tokenizer_impl.h"

/* GGUF token types. */
enum {
    TYPE_NORMAL = 1,
    TYPE_UNKNOWN = 2,
    TYPE_CONTROL = 3,
    TYPE_USER_DEFINED = 4,
    TYPE_UNUSED = 5,
    TYPE_BYTE = 6,
};

/* ------------------------------------------------------------------------------------------ */
/* Pre-tokenizer patterns                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * Unicode White_Space, which is llama.cpp's is_whitespace (and what its std::regex path sees
 * as \s, since it maps non-ASCII whitespace to \v first).
 */
#define WS                                                                                         \
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}"       \
    "\\x{3000}"

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                              "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

#define RE_LLAMA3_HEAD                                                                             \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define RE_LLAMA3_TAIL                                                                             \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

static const char RE_LLAMA3[] = RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL;
static const char RE_QWEN2[] = RE_LLAMA3_HEAD "\\p{N}" RE_LLAMA3_TAIL;
static const char RE_DIGIT[] = "\\p{N}";
static const char RE_DEFAULT_PUNCT[] = "[\\p{P}\\$\\+<=>\\^~\\|]+";
static const char RE_DIGITS[] = "\\p{N}+";
static const char RE_DIGITS3[] = "[0-9][0-9][0-9]";

typedef struct pre_def {
    const char *names; /* NUL-separated names, ending with an empty one */
    const char *re[N_REGEX_MAX];
    bool ignore_merges;
    bool add_bos;
} pre_def;

/* The pre-tokenizers kiln implements, named as llama.cpp's llama_vocab::impl::load names them. */
static const pre_def PRE_DEFS[] = {
    {"default\0", {RE_DEFAULT_PUNCT, RE_GPT2, RE_DIGITS, RE_DIGITS3}, false, false},
    {"gpt-2\0gpt2\0phi-2\0mpt\0olmo\0", {RE_GPT2}, false, false},
    {"smollm\0starcoder\0refact\0command-r\0codeshell\0exaone\0minerva-7b\0",
     {RE_DIGIT, RE_GPT2},
     false,
     false},
    {"qwen2\0deepseek-r1-qwen\0stablelm2\0megrez\0", {RE_QWEN2}, false, false},
    {"llama3\0llama-v3\0llama-bpe\0falcon3\0", {RE_LLAMA3}, true, true},
    {"dbrx\0smaug-bpe\0", {RE_LLAMA3}, false, false},
};

/* ------------------------------------------------------------------------------------------ */
/* Hashing and tables                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* The smallest power of two >= 2 n (at least 16). */
static size_t table_size(size_t n)
{
    size_t c = 16;
    while (c < 2 * n) {
        c *= 2;
    }
    return c;
}

static int u64_map_init(u64_map *m, size_t n_max)
{
    size_t cap = table_size(n_max);
    m->slots = core_malloc(cap * sizeof(*m->slots));
    if (!m->slots) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        m->slots[i].key = U64_EMPTY;
    }
    m->mask = cap - 1;
    return 0;
}

/* Returns the slot for key, inserting an empty one (a = b = -1) when absent. *found says which. */
static u64_slot *u64_map_put(u64_map *m, uint64_t key, bool *found)
{
    size_t i = (size_t)hash_u64(key) & m->mask;
    for (;;) {
        u64_slot *s = &m->slots[i];
        if (s->key == key) {
            *found = true;
            return s;
        }
        if (s->key == U64_EMPTY) {
            s->key = key;
            s->a = -1;
            s->b = -1;
            *found = false;
            return s;
        }
        i = (i + 1) & m->mask;
    }
}

static int32_t lookup_c(const gen_tokenizer *t, const char *s)
{
    return lookup(t, s, strlen(s));
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 and the GPT-2 byte mapping                                                           */
/* ------------------------------------------------------------------------------------------ */

/* The inverse of byte_to_cp, or -1. */
static int cp_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) {
        return (int)cp;
    }
    if (cp >= 256 && cp < 256 + 33) {
        return (int)(cp - 256);
    }
    if (cp >= 256 + 33 && cp < 256 + 67) {
        return (int)(0x7F + (cp - 256 - 33));
    }
    if (cp == 256 + 67) {
        return 0xAD;
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                    */
/* ------------------------------------------------------------------------------------------ */

gen_tokenizer_spec gen__tokenizer_spec_default(void)
{
    gen_tokenizer_spec s;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < GEN_TOKENIZER_SPECIAL_COUNT; i++) {
        s.special[i] = -1;
    }
    s.add_bos = -1;
    s.add_eos = -1;
    s.add_space_prefix = -1;
    return s;
}

static void *pcre_alloc(size_t size, void *payload)
{
    (void)payload;
    return core_malloc(size);
}

static void pcre_release(void *p, void *payload)
{
    (void)payload;
    core_free(p);
}

static bool name_in(const char *names, core_str name)
{
    for (const char *n = names; *n; n += strlen(n) + 1) {
        if (core_str_eq_c(name, n)) {
            return true;
        }
    }
    return false;
}

static int copy_texts(gen_tokenizer *t, const gen_tokenizer_spec *spec, core_err *err)
{
    size_t total = 0;
    char empty[32];
    for (size_t i = 0; i < spec->n_tokens; i++) {
        /* llama.cpp replaces an empty token text by "[EMPTY_<id>]". */
        total += spec->tokens[i].len ? spec->tokens[i].len
                                     : (size_t)snprintf(empty, sizeof(empty), "[EMPTY_%zu]", i);
        if (total > UINT32_MAX) {
            return core_err_set(err, CORE_EPARSE, "tokenizer: token texts exceed 4 GiB");
        }
    }
    t->text = core_malloc(total ? total : 1);
    t->text_off = core_malloc((spec->n_tokens + 1) * sizeof(*t->text_off));
    if (!t->text || !t->text_off) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    size_t off = 0;
    for (size_t i = 0; i < spec->n_tokens; i++) {
        t->text_off[i] = (uint32_t)off;
        if (spec->tokens[i].len) {
            memcpy(t->text + off, spec->tokens[i].ptr, spec->tokens[i].len);
            off += spec->tokens[i].len;
        } else {
            int k = snprintf(empty, sizeof(empty), "[EMPTY_%zu]", i);
            memcpy(t->text + off, empty, (size_t)k);
            off += (size_t)k;
        }
    }
    t->text_off[spec->n_tokens] = (uint32_t)off;
    return 0;
}

/*
 * Loading touches each token text once and each table slot at random, and the tables (1 MiB of
 * text slots, 2 MiB of merges for a 49k vocabulary) do not stay in a core's L2: done one key at
 * a time, every probe waits for a cache miss, and the misses were most of a 15 ms load. So keys
 * go in batches: the hashes of a batch are computed and their slots prefetched first, then the
 * batch is inserted or looked up in order (so results do not depend on the batching).
 */
#define LOAD_BATCH 16

static int build_table(gen_tokenizer *t, core_err *err)
{
    size_t cap = table_size(t->n_vocab);
    t->slots = core_calloc(cap, sizeof(*t->slots));
    if (!t->slots) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    t->slots_mask = cap - 1;
    uint64_t hs[LOAD_BATCH];
    for (size_t base = 0; base < t->n_vocab; base += LOAD_BATCH) {
        size_t nb = t->n_vocab - base < LOAD_BATCH ? t->n_vocab - base : LOAD_BATCH;
        for (size_t k = 0; k < nb; k++) {
            core_str tx = token_text(t, (int32_t)(base + k));
            hs[k] = hash_bytes(tx.ptr, tx.len);
            __builtin_prefetch(&t->slots[(size_t)hs[k] & t->slots_mask], 1);
        }
        for (size_t k = 0; k < nb; k++) {
            size_t id = base + k;
            core_str tx = token_text(t, (int32_t)id);
            size_t i = (size_t)hs[k] & t->slots_mask;
            while (t->slots[i].id1 != 0) {
                int32_t other = (int32_t)(t->slots[i].id1 - 1);
                if (core_str_eq(token_text(t, other), tx)) {
                    return core_err_set(err, CORE_EPARSE,
                                        "tokenizer: duplicate token '%.*s' has ids %d and %zu",
                                        (int)(tx.len > 64 ? 64 : tx.len), tx.ptr, other, id);
                }
                i = (i + 1) & t->slots_mask;
            }
            t->slots[i].id1 = (uint32_t)id + 1;
            t->slots[i].tag = (uint32_t)(hs[k] >> 32);
        }
    }
    return 0;
}

/* One merge of a batch while it is resolved (see build_table). */
typedef struct merge_item {
    const char *left;  /* the merge's text up to the separator */
    const char *right; /* after it */
    size_t n_left;
    size_t n_right;
    uint64_t h_left; /* hash_bytes of left and right */
    uint64_t h_right;
    int32_t l; /* their ids */
    int32_t r;
    int32_t res; /* the id of left + right */
} merge_item;

/* Prefetches the text of the token the first slot for h names, when its tag matches. */
static void prefetch_text(const gen_tokenizer *t, uint64_t h, int step)
{
    const str_slot *s = &t->slots[(size_t)h & t->slots_mask];
    if (s->id1 != 0 && s->tag == (uint32_t)(h >> 32)) {
        if (step == 0) {
            __builtin_prefetch(&t->text_off[s->id1 - 1]);
        } else {
            __builtin_prefetch(t->text + t->text_off[s->id1 - 1]);
        }
    }
}

/* Whether token id's text is the merge's left part followed by its right part. */
static bool text_is_pair(const gen_tokenizer *t, int32_t id, const merge_item *m)
{
    core_str tx = token_text(t, id);
    return tx.len == m->n_left + m->n_right && memcmp(tx.ptr, m->left, m->n_left) == 0 &&
           memcmp(tx.ptr + m->n_left, m->right, m->n_right) == 0;
}

/*
 * The id of left + right. Vocabularies built by BPE training list each merge's result right
 * after the previous one's (SmolLM2: merge i makes token i + 252), so the token after the
 * previous result is checked first, which reads the texts in order; anything else is looked up.
 */
static int32_t merge_result(const gen_tokenizer *t, const merge_item *m, int32_t prev, char **tmp,
                            size_t *tmp_cap)
{
    if (prev >= 0 && (size_t)prev + 1 < t->n_vocab && text_is_pair(t, prev + 1, m)) {
        return prev + 1;
    }
    size_t n = m->n_left + m->n_right;
    if (n > *tmp_cap || !*tmp) {
        char *p = core_realloc(*tmp, n);
        if (!p) {
            return INT32_MIN;
        }
        *tmp = p;
        *tmp_cap = n;
    }
    memcpy(*tmp, m->left, m->n_left);
    memcpy(*tmp + m->n_left, m->right, m->n_right);
    return lookup(t, *tmp, n);
}

static int build_merges(gen_tokenizer *t, const gen_tokenizer_spec *spec, core_err *err)
{
    int rc = 0;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    if (!spec->has_merges) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: tokenizer.ggml.merges is missing");
    }
    if (spec->n_merges > INT32_MAX) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: too many merges (%zu)", spec->n_merges);
    }
    if (u64_map_init(&t->merges, spec->n_merges) != 0) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    merge_item items[LOAD_BATCH];
    int32_t prev = -1;
    size_t no_space = SIZE_MAX; /* the first merge without a separator */
    for (size_t base = 0; base < spec->n_merges && no_space == SIZE_MAX; base += LOAD_BATCH) {
        size_t nb = spec->n_merges - base < LOAD_BATCH ? spec->n_merges - base : LOAD_BATCH;
        for (size_t k = 0; k < nb; k++) {
            core_str m = spec->merges[base + k];
            /* As llama.cpp: the separator is the first space after the first byte. */
            const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
            if (!sp) {
                /* Reported after the merges before it, which may be wrong in other ways. */
                no_space = base + k;
                nb = k;
                break;
            }
            merge_item *it = &items[k];
            it->left = m.ptr;
            it->n_left = (size_t)(sp - m.ptr);
            it->right = sp + 1;
            it->n_right = m.len - it->n_left - 1;
            it->h_left = hash_bytes(it->left, it->n_left);
            it->h_right = hash_bytes(it->right, it->n_right);
            __builtin_prefetch(&t->slots[(size_t)it->h_left & t->slots_mask]);
            __builtin_prefetch(&t->slots[(size_t)it->h_right & t->slots_mask]);
        }
        for (int step = 0; step < 2; step++) {
            for (size_t k = 0; k < nb; k++) {
                prefetch_text(t, items[k].h_left, step);
                prefetch_text(t, items[k].h_right, step);
            }
        }
        for (size_t k = 0; k < nb; k++) {
            merge_item *it = &items[k];
            it->l = lookup_hashed(t, it->left, it->n_left, it->h_left);
            it->r = lookup_hashed(t, it->right, it->n_right, it->h_right);
            it->res = merge_result(t, it, prev, &tmp, &tmp_cap);
            if (it->res == INT32_MIN) {
                rc = core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
                goto done;
            }
            if (it->l < 0 || it->r < 0 || it->res < 0) {
                core_str m = spec->merges[base + k];
                rc = core_err_set(err, CORE_EPARSE,
                                  "tokenizer: merge %zu ('%.*s') names an unknown token", base + k,
                                  (int)(m.len > 64 ? 64 : m.len), m.ptr);
                goto done;
            }
            prev = it->res;
            uint64_t key = ((uint64_t)(uint32_t)it->l << 32) | (uint32_t)it->r;
            __builtin_prefetch(&t->merges.slots[(size_t)hash_u64(key) & t->merges.mask], 1);
        }
        for (size_t k = 0; k < nb; k++) {
            bool found;
            uint64_t key = ((uint64_t)(uint32_t)items[k].l << 32) | (uint32_t)items[k].r;
            u64_slot *s = u64_map_put(&t->merges, key, &found);
            if (!found) { /* the first rank wins, as std::unordered_map::emplace */
                s->a = (int32_t)(base + k);
                s->b = items[k].res;
            }
        }
    }
    if (no_space != SIZE_MAX) {
        rc = core_err_set(err, CORE_EPARSE, "tokenizer: merge %zu has no space", no_space);
    }
done:
    core_free(tmp);
    return rc;
}

/* Sets the ids and attributes llama.cpp derives from token texts, and the EOG set. */
static void apply_text_rules(gen_tokenizer *t)
{
    /* NUL-separated lists, each ending with an empty string. "\xe2\x96\x81" is U+2581. */
#define FULLWIDTH_BAR "\xef\xbd\x9c"
#define LOW_BAR       "\xe2\x96\x81"
    static const char eot_texts[] = "<|eot_id|>\0<|im_end|>\0<|end|>\0<end_of_turn>\0"
                                    "<|endoftext|>\0<|end_of_text|>\0<EOT>\0_<EOT>\0[EOT]\0"
                                    "<" FULLWIDTH_BAR "end" LOW_BAR "of" LOW_BAR
                                    "sentence" FULLWIDTH_BAR ">\0<end_of_utterance>\0";
    static const char eom_texts[] = "<|eom_id|>\0";
    static const char fim_pre_texts[] = "<|fim_prefix|>\0<fim-prefix>\0<fim_prefix>\0"
                                        "<" FULLWIDTH_BAR "fim" LOW_BAR "begin" FULLWIDTH_BAR
                                        ">\0<PRE>\0" LOW_BAR "<PRE>\0<|code_prefix|>\0"
                                        "<|prefix|>\0";
    static const char fim_suf_texts[] = "<|fim_suffix|>\0<fim-suffix>\0<fim_suffix>\0"
                                        "<" FULLWIDTH_BAR "fim" LOW_BAR "hole" FULLWIDTH_BAR
                                        ">\0<SUF>\0" LOW_BAR "<SUF>\0<|code_suffix|>\0"
                                        "<|suffix|>\0";
    static const char fim_mid_texts[] = "<|fim_middle|>\0<fim-middle>\0<fim_middle>\0"
                                        "<" FULLWIDTH_BAR "fim" LOW_BAR "end" FULLWIDTH_BAR
                                        ">\0<MID>\0" LOW_BAR "<MID>\0<|code_middle|>\0"
                                        "<|middle|>\0";
    static const char fim_pad_texts[] = "<|fim_pad|>\0<fim-pad>\0<fim_pad>\0<PAD>\0[PAD]\0";
    static const char fim_rep_texts[] = "<|fim_repo|>\0<|repo_name|>\0<fim-repo>\0<REPO>\0"
                                        "<reponame>\0";
    static const char fim_sep_texts[] = "<|file_sep|>\0";
    static const char eog_texts[] = "<|eot_id|>\0<|im_end|>\0<|end|>\0<|return|>\0<|call|>\0"
                                    "<|flush|>\0<|calls|>\0<end_of_turn>\0<|endoftext|>\0"
                                    "</s>\0<|eom_id|>\0<EOT>\0_<EOT>\0[EOT]\0[EOS]\0"
                                    "<|end_of_text|>\0<end_of_utterance>\0<eos>\0<turn|>\0"
                                    "<|tool_response>\0<" FULLWIDTH_BAR "end" LOW_BAR "of" LOW_BAR
                                    "sentence" FULLWIDTH_BAR ">\0[e~[\0";
    static const char render_texts[] = "<|channel|>\0<|message|>\0<|start|>\0<|constrain|>\0";
#undef FULLWIDTH_BAR
#undef LOW_BAR
    static const struct {
        gen_tokenizer_special which;
        const char *texts;
    } detect[] = {
        {GEN_TOKENIZER_SPECIAL_EOT, eot_texts},
        {GEN_TOKENIZER_SPECIAL_EOM, eom_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_PRE, fim_pre_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_SUF, fim_suf_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_MID, fim_mid_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_PAD, fim_pad_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_REP, fim_rep_texts},
        {GEN_TOKENIZER_SPECIAL_FIM_SEP, fim_sep_texts},
    };

    /*
     * llama.cpp takes the first match in hash-map order when the file names no id; we take the
     * lowest id. Either way the chosen token becomes a control token.
     */
    for (size_t d = 0; d < sizeof(detect) / sizeof(detect[0]); d++) {
        /* special[] is set for every index at creation; the analyzer loses track of that. */
        if (t->special[detect[d].which] >= 0) { // NOLINT(clang-analyzer-core.uninitialized.Branch)
            continue;
        }
        int32_t best = -1;
        /* Each list is NUL-separated and ends with an empty string. */
        for (const char *s = detect[d].texts;
             *s; // NOLINT(clang-analyzer-core.uninitialized.Branch)
             s += strlen(s) + 1) {
            int32_t id = lookup_c(t, s);
            if (id >= 0 && (best < 0 || id < best)) {
                best = id;
            }
        }
        if (best >= 0) {
            t->special[detect[d].which] = best;
            t->attr[best] |= ATTR_CONTROL;
        }
    }

    for (size_t id = 0; id < t->n_vocab; id++) {
        if ((t->attr[id] & ATTR_CONTROL) && !(t->attr[id] & ATTR_UNUSED)) {
            core_str tx = token_text(t, (int32_t)id);
            for (size_t k = 0; k + 6 <= tx.len; k++) {
                if (memcmp(tx.ptr + k, "unused", 6) == 0) {
                    t->attr[id] |= ATTR_UNUSED;
                    break;
                }
            }
        }
    }

    static const gen_tokenizer_special fim_eog[] = {GEN_TOKENIZER_SPECIAL_FIM_PAD,
                                                    GEN_TOKENIZER_SPECIAL_FIM_REP,
                                                    GEN_TOKENIZER_SPECIAL_FIM_SEP};
    for (size_t i = 0; i < 3; i++) {
        if (t->special[fim_eog[i]] >= 0) {
            t->attr[t->special[fim_eog[i]]] |= ATTR_EOG;
        }
    }
    for (const char *s = eog_texts; *s; s += strlen(s) + 1) {
        int32_t id = lookup_c(t, s);
        if (id >= 0) {
            t->attr[id] |= ATTR_EOG | ATTR_CONTROL;
        }
    }
    /* llama.cpp's gpt-oss rule: these always render. */
    for (const char *s = render_texts; *s; s += strlen(s) + 1) {
        int32_t id = lookup_c(t, s);
        if (id >= 0) {
            t->attr[id] = (uint8_t)((t->attr[id] & ATTR_EOG) | ATTR_USER_DEFINED);
        }
    }
    static const gen_tokenizer_special eog_ids[] = {
        GEN_TOKENIZER_SPECIAL_EOS, GEN_TOKENIZER_SPECIAL_EOT, GEN_TOKENIZER_SPECIAL_EOM};
    for (size_t i = 0; i < 3; i++) {
        if (t->special[eog_ids[i]] >= 0) {
            t->attr[t->special[eog_ids[i]]] |= ATTR_EOG;
        }
    }

    /* llama.cpp's workarounds for o200k_harmony / solar-open ("<|end|>") and gemma4 ("</s>"). */
    int32_t id_return = lookup_c(t, "<|return|>");
    int32_t id_call = lookup_c(t, "<|call|>");
    int32_t id_calls = lookup_c(t, "<|calls|>");
    int32_t id_flush = lookup_c(t, "<|flush|>");
    int32_t id_end = lookup_c(t, "<|end|>");
    bool has_return = id_return >= 0 && (t->attr[id_return] & ATTR_EOG);
    bool has_call = (id_call >= 0 && (t->attr[id_call] & ATTR_EOG)) ||
                    (id_calls >= 0 && (t->attr[id_calls] & ATTR_EOG));
    bool has_flush = id_flush >= 0 && (t->attr[id_flush] & ATTR_EOG);
    bool has_end = id_end >= 0 && (t->attr[id_end] & ATTR_EOG);
    if ((has_return && has_call && has_end) || (has_call && has_flush && has_end)) {
        t->attr[id_end] = ATTR_USER_DEFINED;
    }
    int32_t id_tool = lookup_c(t, "<|tool_response>");
    int32_t id_s = lookup_c(t, "</s>");
    if (id_tool >= 0 && (t->attr[id_tool] & ATTR_EOG) && id_s >= 0 && (t->attr[id_s] & ATTR_EOG)) {
        t->attr[id_s] = ATTR_NORMAL;
    }
}

/* Byte tokens are "<0xNN>"; returns the byte or -1. */
static int parse_byte_token(core_str tx)
{
    if (tx.len < 5) {
        return -1;
    }
    int v = 0;
    for (size_t i = 3; i < 5; i++) {
        char c = tx.ptr[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/*
 * Writes token id's piece (as llama.cpp's token_to_piece with special = true) to out, or only
 * measures it when out is NULL. Returns its length, or -1 for a malformed byte token; with
 * short, -2 as soon as the piece would be longer than the token's text (a character without a
 * byte), so that out needs only room for the text.
 */
static long make_piece(const gen_tokenizer *t, int32_t id, char *out, bool short_only)
{
    core_str tx = token_text(t, id);
    uint8_t a = t->attr[id];
    if (a & ATTR_SPECIAL) {
        if (out) {
            memcpy(out, tx.ptr, tx.len);
        }
        return (long)tx.len;
    }
    if (a & ATTR_NORMAL) {
        size_t n = 0;
        if (t->kind == KIND_SPM) {
            for (size_t i = 0; i < tx.len; i++) {
                if (i + 3 <= tx.len && memcmp(tx.ptr + i, "\xe2\x96\x81", 3) == 0) {
                    if (out) {
                        out[n] = ' ';
                    }
                    n++;
                    i += 2;
                } else {
                    if (out) {
                        out[n] = tx.ptr[i];
                    }
                    n++;
                }
            }
            return (long)n;
        }
        const unsigned char *s = (const unsigned char *)tx.ptr;
        for (size_t i = 0; i < tx.len;) {
            if (s[i] >= 0x21 && s[i] <= 0x7E) { /* printable ASCII stands for itself */
                if (out) {
                    out[n] = (char)s[i];
                }
                n++;
                i++;
                continue;
            }
            uint32_t cp;
            size_t k = utf8_decode(s, tx.len, i, &cp);
            i += k;
            int b = cp_to_byte(cp);
            if (b >= 0) {
                if (out) {
                    out[n] = (char)b;
                }
                n++;
                continue;
            }
            if (short_only) {
                return -2;
            }
            /* As llama_decode_text: "[UNK_BYTE_0x<utf8 hex><token text>]". */
            char enc[4];
            size_t ne = utf8_encode(cp, enc);
            char tmp[16];
            int k0 = snprintf(tmp, sizeof(tmp), "[UNK_BYTE_0x");
            if (out) {
                memcpy(out + n, tmp, (size_t)k0);
            }
            n += (size_t)k0;
            for (size_t j = 0; j < ne; j++) {
                snprintf(tmp, sizeof(tmp), "%02x", (unsigned)(unsigned char)enc[j]);
                if (out) {
                    memcpy(out + n, tmp, 2);
                }
                n += 2;
            }
            if (out) {
                memcpy(out + n, tx.ptr, tx.len);
                out[n + tx.len] = ']';
            }
            n += tx.len + 1;
        }
        return (long)n;
    }
    if (a & ATTR_BYTE) {
        int b = parse_byte_token(tx);
        if (b < 0) {
            return -1;
        }
        if (out) {
            out[0] = (char)b;
        }
        return 1;
    }
    return 0; /* unused and undefined tokens render as nothing */
}

/* Makes room for n more bytes of pieces at off. */
static int pieces_reserve(gen_tokenizer *t, size_t *cap, size_t off, size_t n, core_err *err)
{
    if (off + n > UINT32_MAX) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: token pieces exceed 4 GiB");
    }
    if (off + n <= *cap) {
        return 0;
    }
    size_t want = *cap * 2 > off + n ? *cap * 2 : off + n;
    char *p = core_realloc(t->piece, want);
    if (!p) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    t->piece = p;
    *cap = want;
    return 0;
}

/*
 * Pieces are written in one pass: a piece is no longer than its token's text unless some
 * character has no byte (and is spelled out as [UNK_BYTE_0x..]); only such tokens are measured
 * first.
 */
static int build_pieces(gen_tokenizer *t, core_err *err)
{
    size_t cap = (size_t)t->text_off[t->n_vocab] + 64;
    t->piece = core_malloc(cap);
    t->piece_off = core_malloc((t->n_vocab + 1) * sizeof(*t->piece_off));
    if (!t->piece || !t->piece_off) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    size_t off = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        t->piece_off[id] = (uint32_t)off;
        int rc = pieces_reserve(t, &cap, off, token_text(t, (int32_t)id).len, err);
        long n = rc < 0 ? 0 : make_piece(t, (int32_t)id, t->piece + off, true);
        if (n == -2) {
            n = make_piece(t, (int32_t)id, NULL, false);
            if (n >= 0 && (rc = pieces_reserve(t, &cap, off, (size_t)n, err)) == 0) {
                make_piece(t, (int32_t)id, t->piece + off, false);
            }
        }
        if (rc < 0) {
            return rc;
        }
        if (n < 0) {
            core_str tx = token_text(t, (int32_t)id);
            return core_err_set(err, CORE_EPARSE,
                                "tokenizer: byte token %zu ('%.*s') is not of the form <0xNN>", id,
                                (int)(tx.len > 32 ? 32 : tx.len), tx.ptr);
        }
        off += (size_t)n;
    }
    t->piece_off[t->n_vocab] = (uint32_t)off;
    return 0;
}

typedef struct prio_item {
    int32_t id;
    uint32_t len;
} prio_item;

static int compare_prio(const void *a, const void *b)
{
    const prio_item *x = a;
    const prio_item *y = b;
    if (x->len != y->len) {
        return x->len > y->len ? -1 : 1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* The special-token trie, with each token's rank in longest-first order. */
static int build_trie(gen_tokenizer *t, core_err *err)
{
    int rc = 0;
    size_t n_special = 0;
    size_t n_bytes = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        if (t->attr[id] & ATTR_SPECIAL) {
            n_special++;
            n_bytes += token_text(t, (int32_t)id).len;
        }
    }
    prio_item *items = core_malloc((n_special ? n_special : 1) * sizeof(*items));
    t->trie_tok = core_malloc((n_bytes + 1) * sizeof(*t->trie_tok));
    t->trie_prio = core_malloc((n_bytes + 1) * sizeof(*t->trie_prio));
    if (!items || !t->trie_tok || !t->trie_prio || u64_map_init(&t->trie_edges, n_bytes) != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        if (t->attr[id] & ATTR_SPECIAL) {
            items[k].id = (int32_t)id;
            items[k].len = (uint32_t)token_text(t, (int32_t)id).len;
            k++;
        }
    }
    /*
     * llama.cpp sorts by length only (std::sort, so equal lengths come in no defined order);
     * equal-length special tokens whose occurrences overlap do not occur in real vocabularies.
     */
    qsort(items, n_special, sizeof(*items), compare_prio);
    t->n_trie = 1;
    t->trie_tok[0] = -1;
    t->trie_prio[0] = 0;
    for (size_t i = 0; i < n_special; i++) {
        core_str tx = token_text(t, items[i].id);
        uint32_t node = 0;
        for (size_t j = 0; j < tx.len; j++) {
            bool found;
            uint64_t key = ((uint64_t)node << 8) | (unsigned char)tx.ptr[j];
            u64_slot *s = u64_map_put(&t->trie_edges, key, &found);
            if (!found) {
                s->a = (int32_t)t->n_trie;
                t->trie_tok[t->n_trie] = -1;
                t->trie_prio[t->n_trie] = 0;
                t->n_trie++;
            }
            node = (uint32_t)s->a;
        }
        if (tx.len > 0 && t->trie_tok[node] < 0) {
            t->trie_tok[node] = items[i].id;
            t->trie_prio[node] = (uint32_t)i;
            t->special_first[(unsigned char)tx.ptr[0]] = true;
        }
    }
done:
    core_free(items);
    return rc;
}

static int compile_regexes(gen_tokenizer *t, const pre_def *pre, core_err *err)
{
    int rc = 0;
    pcre2_compile_context *cctx = pcre2_compile_context_create(t->gctx);
    if (!cctx) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i < N_REGEX_MAX && pre->re[i]; i++) {
        int code;
        PCRE2_SIZE at;
        t->re[i] = pcre2_compile((PCRE2_SPTR)pre->re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP, &code, &at, cctx);
        if (!t->re[i]) {
            if (code == PCRE2_ERROR_HEAP_FAILED || code == PCRE2_ERROR_NOMEMORY) {
                rc = core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
            } else {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(code, msg, sizeof(msg));
                rc = core_err_set(err, CORE_ERROR, "tokenizer: regex %zu: offset %zu: %s", i,
                                  (size_t)at, (const char *)msg);
            }
            goto done;
        }
        t->n_re = i + 1;
        /* Without JIT support (or memory for it) the interpreter runs the same pattern. */
        (void)pcre2_jit_compile(t->re[i], PCRE2_JIT_COMPLETE);
    }
done:
    pcre2_compile_context_free(cctx);
    return rc;
}

static int check_spec(const gen_tokenizer_spec *spec, core_err *err)
{
    if (spec->n_tokens == 0) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: the vocabulary is empty");
    }
    if (spec->n_tokens > (size_t)INT32_MAX - 1) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: %zu tokens are too many", spec->n_tokens);
    }
    if (!spec->tokens) {
        return core_err_set(err, CORE_EINVAL, "tokenizer: no token texts");
    }
    return 0;
}

int gen__tokenizer_new_spec(gen_tokenizer **out, const gen_tokenizer_spec *spec, core_err *err)
{
    *out = NULL;
    int rc = check_spec(spec, err);
    if (rc != 0) {
        return rc;
    }
    const pre_def *pre = NULL;
    tok_kind kind;
    if (core_str_eq_c(spec->model, "gpt2")) {
        kind = KIND_BPE;
        core_str name = spec->pre.len ? spec->pre : core_str_c("default");
        for (size_t i = 0; i < sizeof(PRE_DEFS) / sizeof(PRE_DEFS[0]); i++) {
            if (name_in(PRE_DEFS[i].names, name)) {
                pre = &PRE_DEFS[i];
                break;
            }
        }
        if (!pre) {
            return core_err_set(err, CORE_EUNSUPPORTED,
                                "tokenizer: pre-tokenizer '%.*s' is not supported (kiln has "
                                "default, gpt-2, smollm, qwen2, llama-bpe and aliases)",
                                (int)(name.len > 64 ? 64 : name.len), name.ptr);
        }
    } else if (core_str_eq_c(spec->model, "llama")) {
        kind = KIND_SPM;
    } else {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "tokenizer: tokenizer model '%.*s' is not supported (kiln has gpt2 "
                            "and llama)",
                            (int)(spec->model.len > 64 ? 64 : spec->model.len), spec->model.ptr);
    }

    gen_tokenizer *t = core_calloc(1, sizeof(*t));
    if (!t) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    t->kind = kind;
    t->n_vocab = spec->n_tokens;
    t->gctx = pcre2_general_context_create(pcre_alloc, pcre_release, NULL);
    t->scores = core_malloc(t->n_vocab * sizeof(*t->scores));
    t->attr = core_malloc(t->n_vocab);
    if (!t->gctx || !t->scores || !t->attr) {
        rc = core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
        goto done;
    }
    if (kind == KIND_BPE) {
        t->mctx = pcre2_match_context_create(t->gctx);
        if (!t->mctx) {
            rc = core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
            goto done;
        }
    }
    rc = copy_texts(t, spec, err);
    if (rc == 0) {
        rc = build_table(t, err);
    }
    if (rc != 0) {
        goto done;
    }
    for (size_t i = 0; i < t->n_vocab; i++) {
        t->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        uint8_t a = ATTR_NORMAL;
        if (spec->token_types) {
            switch (spec->token_types[i]) {
            case TYPE_NORMAL:
                a = ATTR_NORMAL;
                break;
            case TYPE_UNKNOWN:
                a = ATTR_UNKNOWN;
                break;
            case TYPE_CONTROL:
                a = ATTR_CONTROL;
                break;
            case TYPE_USER_DEFINED:
                a = ATTR_USER_DEFINED;
                break;
            case TYPE_UNUSED:
                a = ATTR_UNUSED;
                break;
            case TYPE_BYTE:
                a = ATTR_BYTE;
                break;
            default:
                a = 0; /* undefined */
                break;
            }
        }
        t->attr[i] = a;
    }

    /* Special ids: the model type's defaults, replaced by the file's when in range. */
    for (size_t i = 0; i < GEN_TOKENIZER_SPECIAL_COUNT; i++) {
        t->special[i] = -1;
    }
    if (kind == KIND_SPM) {
        t->special[GEN_TOKENIZER_SPECIAL_BOS] = 1;
        t->special[GEN_TOKENIZER_SPECIAL_EOS] = 2;
        t->special[GEN_TOKENIZER_SPECIAL_UNK] = 0;
    } else {
        t->special[GEN_TOKENIZER_SPECIAL_BOS] = 11;
        t->special[GEN_TOKENIZER_SPECIAL_EOS] = 11;
    }
    for (size_t i = 0; i < GEN_TOKENIZER_SPECIAL_COUNT; i++) {
        if (t->special[i] >= (int32_t)t->n_vocab) {
            t->special[i] = -1;
        }
        if (spec->special[i] >= 0 && spec->special[i] < (int64_t)t->n_vocab) {
            t->special[i] = (int32_t)spec->special[i];
        }
    }
    t->add_bos = kind == KIND_SPM || (pre && pre->add_bos);
    t->add_eos = false;
    t->add_space_prefix = kind == KIND_SPM;
    t->ignore_merges = pre && pre->ignore_merges;
    if (spec->add_bos >= 0) {
        t->add_bos = spec->add_bos != 0;
    }
    if (spec->add_eos >= 0) {
        t->add_eos = spec->add_eos != 0;
    }
    if (spec->add_space_prefix >= 0) {
        t->add_space_prefix = spec->add_space_prefix != 0;
    }
    if (t->add_bos && t->special[GEN_TOKENIZER_SPECIAL_BOS] < 0) {
        rc = core_err_set(err, CORE_EPARSE,
                          "tokenizer: add_bos_token is true, but there is no "
                          "bos token id");
        goto done;
    }
    if (t->add_eos && t->special[GEN_TOKENIZER_SPECIAL_EOS] < 0) {
        rc = core_err_set(err, CORE_EPARSE,
                          "tokenizer: add_eos_token is true, but there is no "
                          "eos token id");
        goto done;
    }

    apply_text_rules(t);

    for (size_t b = 0; b < 256; b++) {
        char tmp[8];
        if (kind == KIND_BPE) {
            size_t n = utf8_encode(byte_to_cp((uint8_t)b), tmp);
            t->byte_id[b] = lookup(t, tmp, n);
        } else {
            snprintf(tmp, sizeof(tmp), "<0x%02X>", (unsigned)b);
            t->byte_id[b] = lookup_c(t, tmp);
            if (t->byte_id[b] < 0) {
                tmp[0] = (char)b;
                t->byte_id[b] = lookup(t, tmp, 1);
            }
        }
    }
    if (kind == KIND_BPE) {
        rc = build_merges(t, spec, err);
        if (rc == 0) {
            rc = compile_regexes(t, pre, err);
        }
    }
    if (rc == 0) {
        rc = build_trie(t, err);
    }
    if (rc == 0) {
        rc = build_pieces(t, err);
    }
done:
    if (rc != 0) {
        gen__tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void gen__tokenizer_free(gen_tokenizer *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->n_re; i++) {
        pcre2_code_free(t->re[i]);
    }
    pcre2_match_context_free(t->mctx);
    pcre2_general_context_free(t->gctx);
    core_free(t->text);
    core_free(t->text_off);
    core_free(t->piece);
    core_free(t->piece_off);
    core_free(t->scores);
    core_free(t->attr);
    core_free(t->slots);
    core_free(t->merges.slots);
    core_free(t->trie_edges.slots);
    core_free(t->trie_tok);
    core_free(t->trie_prio);
    core_free(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading GGUF                                                                               */
/* ------------------------------------------------------------------------------------------ */

static int get_numbers(const gen_gguf *g, const char *key, bool want_float, size_t n_min,
                       float **fout, int32_t **iout, core_err *err)
{
    gen_gguf_arr a;
    int rc = gen__gguf_get_arr(g, key, &a, err);
    if (rc != 0) {
        return rc;
    }
    bool ok = want_float ? (a.type == GEN_GGUF_VTYPE_FLOAT32 || a.type == GEN_GGUF_VTYPE_INT32)
                         : a.type == GEN_GGUF_VTYPE_INT32;
    if (!ok) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: %s has the wrong element type", key);
    }
    if (a.n < n_min) {
        return core_err_set(err, CORE_EPARSE, "tokenizer: %s has %zu entries for %zu tokens", key,
                            a.n, n_min);
    }
    if (want_float) {
        *fout = core_malloc(n_min * sizeof(float));
        if (!*fout) {
            return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
        }
        for (size_t i = 0; i < n_min; i++) {
            (*fout)[i] = a.type == GEN_GGUF_VTYPE_FLOAT32 ? (float)gen__gguf_arr_float(&a, i)
                                                          : (float)gen__gguf_arr_int(&a, i);
        }
    } else {
        *iout = core_malloc(n_min * sizeof(int32_t));
        if (!*iout) {
            return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
        }
        for (size_t i = 0; i < n_min; i++) {
            (*iout)[i] = (int32_t)gen__gguf_arr_int(&a, i);
        }
    }
    return 0;
}

static int get_flag(const gen_gguf *g, const char *key, int *out, core_err *err)
{
    if (!gen__gguf_has(g, key)) {
        return 0;
    }
    bool v;
    int rc = gen__gguf_get_bool(g, key, &v, err);
    if (rc == 0) {
        *out = v ? 1 : 0;
    }
    return rc;
}

int gen__tokenizer_new(gen_tokenizer **out, const gen_gguf *g, core_err *err)
{
    static const struct {
        const char *key;
        gen_tokenizer_special which;
    } id_keys[] = {
        {"tokenizer.ggml.bos_token_id", GEN_TOKENIZER_SPECIAL_BOS},
        {"tokenizer.ggml.eos_token_id", GEN_TOKENIZER_SPECIAL_EOS},
        {"tokenizer.ggml.eot_token_id", GEN_TOKENIZER_SPECIAL_EOT},
        {"tokenizer.ggml.eom_token_id", GEN_TOKENIZER_SPECIAL_EOM},
        {"tokenizer.ggml.unknown_token_id", GEN_TOKENIZER_SPECIAL_UNK},
        {"tokenizer.ggml.seperator_token_id", GEN_TOKENIZER_SPECIAL_SEP},
        {"tokenizer.ggml.padding_token_id", GEN_TOKENIZER_SPECIAL_PAD},
        {"tokenizer.ggml.mask_token_id", GEN_TOKENIZER_SPECIAL_MASK},
        {"tokenizer.ggml.fim_pre_token_id", GEN_TOKENIZER_SPECIAL_FIM_PRE},
        {"tokenizer.ggml.fim_suf_token_id", GEN_TOKENIZER_SPECIAL_FIM_SUF},
        {"tokenizer.ggml.fim_mid_token_id", GEN_TOKENIZER_SPECIAL_FIM_MID},
        {"tokenizer.ggml.fim_pad_token_id", GEN_TOKENIZER_SPECIAL_FIM_PAD},
        {"tokenizer.ggml.fim_rep_token_id", GEN_TOKENIZER_SPECIAL_FIM_REP},
        {"tokenizer.ggml.fim_sep_token_id", GEN_TOKENIZER_SPECIAL_FIM_SEP},
        /* deprecated names, read after the new ones as llama.cpp does */
        {"tokenizer.ggml.prefix_token_id", GEN_TOKENIZER_SPECIAL_FIM_PRE},
        {"tokenizer.ggml.suffix_token_id", GEN_TOKENIZER_SPECIAL_FIM_SUF},
        {"tokenizer.ggml.middle_token_id", GEN_TOKENIZER_SPECIAL_FIM_MID},
    };
    *out = NULL;
    gen_tokenizer_spec s = gen__tokenizer_spec_default();
    float *scores = NULL;
    int32_t *types = NULL;
    gen_gguf_arr a;
    int rc = gen__gguf_get_str(g, "tokenizer.ggml.model", &s.model, err);
    if (rc == CORE_ENOTFOUND) {
        rc = core_err_set(err, CORE_EPARSE, "tokenizer: tokenizer.ggml.model is missing");
    }
    if (rc == 0 && gen__gguf_has(g, "tokenizer.ggml.pre")) {
        rc = gen__gguf_get_str(g, "tokenizer.ggml.pre", &s.pre, err);
    }
    if (rc != 0) {
        goto done;
    }
    rc = gen__gguf_get_arr(g, "tokenizer.ggml.tokens", &a, err);
    if (rc == CORE_ENOTFOUND) {
        rc = core_err_set(err, CORE_EPARSE, "tokenizer: tokenizer.ggml.tokens is missing");
    }
    if (rc != 0) {
        goto done;
    }
    if (a.type != GEN_GGUF_VTYPE_STRING || !a.strs) {
        rc = core_err_set(err, CORE_EPARSE,
                          "tokenizer: tokenizer.ggml.tokens is not an array of strings");
        goto done;
    }
    s.tokens = a.strs;
    s.n_tokens = a.n;
    if (gen__gguf_has(g, "tokenizer.ggml.scores")) {
        rc = get_numbers(g, "tokenizer.ggml.scores", true, s.n_tokens, &scores, NULL, err);
        if (rc != 0) {
            goto done;
        }
        s.scores = scores;
    }
    if (gen__gguf_has(g, "tokenizer.ggml.token_type")) {
        rc = get_numbers(g, "tokenizer.ggml.token_type", false, s.n_tokens, NULL, &types, err);
        if (rc != 0) {
            goto done;
        }
        s.token_types = types;
    }
    if (gen__gguf_has(g, "tokenizer.ggml.merges")) {
        rc = gen__gguf_get_arr(g, "tokenizer.ggml.merges", &a, err);
        if (rc != 0) {
            goto done;
        }
        if (a.type != GEN_GGUF_VTYPE_STRING || !a.strs) {
            rc = core_err_set(err, CORE_EPARSE,
                              "tokenizer: tokenizer.ggml.merges is not an array of strings");
            goto done;
        }
        s.merges = a.strs;
        s.n_merges = a.n;
        s.has_merges = true;
    }
    for (size_t i = 0; i < sizeof(id_keys) / sizeof(id_keys[0]); i++) {
        if (gen__gguf_has(g, id_keys[i].key)) {
            uint32_t v;
            rc = gen__gguf_get_u32(g, id_keys[i].key, &v, err);
            if (rc != 0) {
                goto done;
            }
            s.special[id_keys[i].which] = v;
        }
    }
    rc = get_flag(g, "tokenizer.ggml.add_bos_token", &s.add_bos, err);
    if (rc == 0) {
        rc = get_flag(g, "tokenizer.ggml.add_eos_token", &s.add_eos, err);
    }
    if (rc == 0) {
        rc = get_flag(g, "tokenizer.ggml.add_space_prefix", &s.add_space_prefix, err);
    }
    if (rc == 0) {
        rc = gen__tokenizer_new_spec(out, &s, err);
    }
done:
    core_free(scores);
    core_free(types);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding and queries                                                                       */
/* ------------------------------------------------------------------------------------------ */

core_str gen__tokenizer_piece(const gen_tokenizer *t, int32_t id, bool render_special)
{
    core_str s = {"", 0};
    if (id < 0 || (size_t)id >= t->n_vocab) {
        return s;
    }
    if (!render_special && (t->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) {
        return s;
    }
    s.ptr = t->piece + t->piece_off[id];
    s.len = t->piece_off[id + 1] - t->piece_off[id];
    return s;
}

int gen__tokenizer_decode(const gen_tokenizer *t, const int32_t *ids, size_t n, bool render_special,
                          core_buf *out, core_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_vocab) {
            return core_err_set(err, CORE_EINVAL,
                                "tokenizer: token id %d at %zu is out of range "
                                "(n_vocab %zu)",
                                (int)ids[i], i, t->n_vocab);
        }
        total += gen__tokenizer_piece(t, ids[i], render_special).len;
    }
    if (core_buf_reserve(out, total) != 0) {
        return core_err_set(err, CORE_ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        core_str p = gen__tokenizer_piece(t, ids[i], render_special);
        /* As llama.cpp's detokenize: the first token loses the space the encoder added. */
        if (i == 0 && t->add_space_prefix && p.len > 0 && p.ptr[0] == ' ') {
            p.ptr++;
            p.len--;
        }
        if (p.len > 0) {
            core_buf_append(out, p.ptr, p.len); /* cannot fail after the reserve */
        }
    }
    return 0;
}

size_t gen__tokenizer_n_vocab(const gen_tokenizer *t)
{
    return t->n_vocab;
}

int32_t gen__tokenizer_bos(const gen_tokenizer *t)
{
    return t->special[GEN_TOKENIZER_SPECIAL_BOS];
}

int32_t gen__tokenizer_eos(const gen_tokenizer *t)
{
    return t->special[GEN_TOKENIZER_SPECIAL_EOS];
}

int32_t gen__tokenizer_eot(const gen_tokenizer *t)
{
    return t->special[GEN_TOKENIZER_SPECIAL_EOT];
}

bool gen__tokenizer_adds_bos(const gen_tokenizer *t)
{
    return t->add_bos;
}

bool gen__tokenizer_adds_eos(const gen_tokenizer *t)
{
    return t->add_eos;
}

bool gen__tokenizer_is_eog(const gen_tokenizer *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->n_vocab && (t->attr[id] & ATTR_EOG);
}

bool gen__tokenizer_is_control(const gen_tokenizer *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->n_vocab && (t->attr[id] & ATTR_CONTROL);
}

core_str gen__tokenizer_text(const gen_tokenizer *t, int32_t id)
{
    core_str s = {"", 0};
    if (id < 0 || (size_t)id >= t->n_vocab) {
        return s;
    }
    return token_text(t, id);
}
