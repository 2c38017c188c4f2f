/*
 * Private to gen/tokenizer.c and gen/tokenizer_encode.c: the tokenizer's representation and the
 * small helpers both files use (string lookup, UTF-8 as llama.cpp reads it, GPT-2's byte
 * mapping). Nothing else in gen/ includes this; the rest of gen/ uses gen/tokenizer_int.h.
 */
#ifndef KILN_GEN_TOKENIZER_IMPL_H
#define KILN_GEN_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef KILN_NO_PCRE2
#include "gen/pcre2_none.h"
#else
#include <pcre2.h>
#endif

#include "core/core.h"
#include "gen/tokenizer_int.h"

/* Token attributes, as llama.cpp derives them from GGUF token types and token texts. */
enum {
    ATTR_UNKNOWN = 1u << 0,
    ATTR_UNUSED = 1u << 1,
    ATTR_NORMAL = 1u << 2,
    ATTR_CONTROL = 1u << 3,
    ATTR_USER_DEFINED = 1u << 4,
    ATTR_BYTE = 1u << 5,
    ATTR_EOG = 1u << 6, /* ends generation (llama.cpp's special_eog_ids) */
};

#define ATTR_SPECIAL (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)

typedef enum tok_kind {
    KIND_BPE,
    KIND_SPM,
} tok_kind;

#define N_REGEX_MAX 4

/* A string-table slot: id + 1 (0: empty) and 32 bits of the text's hash. */
typedef struct str_slot {
    uint32_t id1;
    uint32_t tag;
} str_slot;

/* An open-addressing map from 64-bit keys to two int32 values. */
typedef struct u64_slot {
    uint64_t key; /* U64_EMPTY: free */
    int32_t a;
    int32_t b;
} u64_slot;

typedef struct u64_map {
    u64_slot *slots; /* (mask + 1), owned */
    size_t mask;
} u64_map;

#define U64_EMPTY UINT64_MAX

struct gen_tokenizer {
    tok_kind kind;
    size_t n_vocab;
    char *text;          /* all token texts back to back, owned */
    uint32_t *text_off;  /* (n_vocab + 1) token i is text[text_off[i] .. text_off[i + 1]) */
    char *piece;         /* all pieces (as rendered with render_special), owned */
    uint32_t *piece_off; /* (n_vocab + 1) */
    float *scores;       /* (n_vocab), owned */
    uint8_t *attr;       /* (n_vocab) ATTR_* */
    str_slot *slots;     /* (slots_mask + 1) text -> id, owned */
    size_t slots_mask;
    u64_map merges;       /* BPE: (left id << 32 | right id) -> (rank, merged id) */
    int32_t byte_id[256]; /* BPE: token of each raw byte; SPM: its <0xNN> token; -1: none */
    /* Special-token trie: node 0 is the root; edges (node << 8 | byte) -> (child, -). */
    u64_map trie_edges;
    int32_t *trie_tok;   /* (n_trie) the special token ending at the node, or -1 */
    uint32_t *trie_prio; /* (n_trie) its rank in llama.cpp's longest-first order */
    size_t n_trie;
    bool special_first[256]; /* bytes that start some special token */
    int32_t special[GEN_TOKENIZER_SPECIAL_COUNT];
    bool add_bos;
    bool add_eos;
    bool add_space_prefix;
    bool ignore_merges;          /* Llama 3: a word that is a token is not merged */
    pcre2_general_context *gctx; /* routes PCRE2's allocations to core_malloc */
    pcre2_match_context *mctx;
    pcre2_code *re[N_REGEX_MAX]; /* the pre-tokenizer's regexes, applied in order */
    size_t n_re;
};

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static inline uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static inline const u64_slot *u64_map_get(const u64_map *m, uint64_t key)
{
    if (!m->slots) {
        return NULL;
    }
    size_t i = (size_t)hash_u64(key) & m->mask;
    for (;;) {
        const u64_slot *s = &m->slots[i];
        if (s->key == key) {
            return s;
        }
        if (s->key == U64_EMPTY) {
            return NULL;
        }
        i = (i + 1) & m->mask;
    }
}

static inline core_str token_text(const gen_tokenizer *t, int32_t id)
{
    core_str s = {t->text + t->text_off[id], t->text_off[id + 1] - t->text_off[id]};
    return s;
}

/* The id of the token whose stored text is p[0..n) and whose hash_bytes is h, or -1. */
static inline int32_t lookup_hashed(const gen_tokenizer *t, const char *p, size_t n, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & t->slots_mask;
    for (;;) {
        const str_slot *s = &t->slots[i];
        if (s->id1 == 0) {
            return -1;
        }
        if (s->tag == tag) {
            int32_t id = (int32_t)(s->id1 - 1);
            core_str tx = token_text(t, id);
            if (tx.len == n && memcmp(tx.ptr, p, n) == 0) {
                return id;
            }
        }
        i = (i + 1) & t->slots_mask;
    }
}

/* The id of the token whose stored text is p[0..n), or -1. */
static inline int32_t lookup(const gen_tokenizer *t, const char *p, size_t n)
{
    return lookup_hashed(t, p, n, hash_bytes(p, n));
}

/* Length of the UTF-8 sequence a lead byte announces, as llama.cpp's unicode_len_utf8. */
static inline size_t utf8_len(unsigned char c)
{
    static const uint8_t lookup_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup_len[c >> 4];
}

/*
 * Decodes one code point at s[i] as llama.cpp's unicode_cpt_from_utf8 does (it checks lengths
 * and continuation bytes, not overlong forms or surrogates). Returns the bytes used; a bad
 * sequence gives U+FFFD for one byte.
 */
static inline size_t utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char b = s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (!(b & 0x40)) {
        *cp = 0xFFFD;
        return 1;
    }
    if (!(b & 0x20)) {
        if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        *cp = ((uint32_t)(b & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if (!(b & 0x10)) {
        if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
        return 3;
    }
    if (!(b & 0x08)) {
        if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
            (s[i + 3] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
              ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

/* Writes cp as UTF-8 (at most 4 bytes); code points above U+10FFFF become U+FFFD. */
static inline size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp > 0x10FFFF) {
        cp = 0xFFFD;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order.
 */
static inline uint32_t byte_to_cp(uint8_t b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
        return b;
    }
    if (b <= 0x20) {
        return 256u + b;
    }
    if (b <= 0xA0) {
        return 256u + 33u + (uint32_t)(b - 0x7F);
    }
    return 256u + 67u; /* 0xAD */
}

#endif /* KILN_GEN_TOKENIZER_IMPL_H */
