/*
 * Tokenizers: encoding, in the stages llama.cpp's llama_vocab::impl::tokenize runs, giving the
 * same ids token for token.
 *
 * The text is first partitioned around special tokens (llama.cpp's tokenizer_st_partition):
 * special tokens are tried longest first, each splitting the remaining text at its
 * non-overlapping occurrences. Control and unknown tokens take part only with parse_special;
 * user-defined tokens always do.
 *
 * BPE then normalizes each text fragment the way llama.cpp decodes UTF-8 (each bad byte becomes
 * U+FFFD), splits it into words with the model's pre-tokenizer regexes (applied one after the
 * other, each inside the pieces the previous one left, unmatched gaps becoming pieces of their
 * own) and merges each word's bytes by merge rank with a binary heap, lowest rank first, ties
 * leftmost. llama.cpp runs hand-written matchers for the GPT-2 and Llama 3 patterns and
 * std::regex over a "collapsed" text for the others; both treat \s as Unicode White_Space,
 * so the PCRE2 patterns in tokenizer.c spell that class out (PCRE2's \s also has U+180E).
 *
 * SPM replaces spaces by U+2581, starts from UTF-8 characters and repeatedly merges the
 * adjacent pair whose concatenation is the highest-scoring token (ties: leftmost), as
 * llm_tokenizer_spm does; characters left without a token become <0xNN> byte tokens.
 *
 * All scratch memory is per call; the tokenizer itself is only read.
 */
#include "gen/tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

#include "gen/tokenizer_impl.h"

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* A piece of the text after partitioning: text (tok < 0) or a special token. */
typedef struct frag {
    size_t off;
    size_t len;
    int32_t tok;
} frag;

typedef struct span {
    size_t off;
    size_t len;
} span;

/* A symbol of the merge loops; n == 0 once merged into its left neighbour. */
typedef struct sym {
    int32_t prev;
    int32_t next;
    uint32_t off; /* SPM: byte offset in the escaped text */
    uint32_t n;   /* bytes */
    int32_t id;   /* BPE: the symbol's token (-1: a byte without a token) */
} sym;

/*
 * A candidate merge. The heap pops the smallest (pri, left): BPE pri is the merge rank, SPM pri
 * is minus the merged token's score, so both pop as llama.cpp's priority queues do.
 */
typedef struct bigram {
    double pri;
    int32_t left;
    int32_t right;
    int32_t a; /* BPE: left id; SPM: merged length in bytes */
    int32_t b; /* BPE: right id */
    int32_t c; /* BPE: merged id */
} bigram;

/* Per-call scratch; everything is freed at the end of gen__tokenizer_encode. */
typedef struct encoder {
    const gen_tokenizer *t;
    core_err *err;
    int32_t *out;
    size_t n_out;
    size_t cap_out;
    frag *frags;
    size_t n_frags;
    size_t cap_frags;
    char *buf; /* the fragment normalized (BPE) or escaped (SPM) */
    size_t cap_buf;
    char *mbuf; /* BPE: the text the regexes see (surrogates replaced) */
    size_t cap_mbuf;
    char *wbuf; /* BPE: a word in GPT-2 byte encoding (ignore_merges) */
    size_t cap_wbuf;
    span *spans;
    size_t n_spans;
    size_t cap_spans;
    span *spans2;
    size_t n_spans2;
    size_t cap_spans2;
    sym *syms;
    size_t cap_syms;
    bigram *heap;
    size_t n_heap;
    size_t cap_heap;
    pcre2_match_data *md;
} encoder;

/* Grows *p (of *cap elements of elem bytes) to hold need elements. 0 or CORE_ENOMEM. */
static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 4 / elem) {
            return CORE_ENOMEM;
        }
        c *= 2;
    }
    void *q = core_realloc(*p, c * elem);
    if (!q) {
        return CORE_ENOMEM;
    }
    *p = q;
    *cap = c;
    return 0;
}

#define RESERVE(e, field, capfield, need)                                                          \
    reserve((void **)&(e)->field, &(e)->capfield, (need), sizeof(*(e)->field))

static int oom(encoder *e)
{
    return core_err_set(e->err, CORE_ENOMEM, "tokenizer: out of memory");
}

static int push_id(encoder *e, int32_t id)
{
    if (RESERVE(e, out, cap_out, e->n_out + 1) != 0) {
        return oom(e);
    }
    e->out[e->n_out++] = id;
    return 0;
}

static bool bigram_less(const bigram *x, const bigram *y)
{
    return x->pri < y->pri || (x->pri == y->pri && x->left < y->left);
}

static int heap_push(encoder *e, const bigram *b)
{
    if (RESERVE(e, heap, cap_heap, e->n_heap + 1) != 0) {
        return oom(e);
    }
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_less(b, &e->heap[p])) {
            break;
        }
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = *b;
    return 0;
}

static bigram heap_pop(encoder *e)
{
    bigram top = e->heap[0];
    bigram last = e->heap[--e->n_heap];
    size_t n = e->n_heap;
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && bigram_less(&e->heap[c + 1], &e->heap[c])) {
            c++;
        }
        if (!bigram_less(&e->heap[c], &last)) {
            break;
        }
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0) {
        e->heap[i] = last;
    }
    return top;
}

static int add_frag(encoder *e, size_t off, size_t len, int32_t tok)
{
    if (RESERVE(e, frags, cap_frags, e->n_frags + 1) != 0) {
        return oom(e);
    }
    frag f = {off, len, tok};
    e->frags[e->n_frags++] = f;
    return 0;
}

/*
 * The special token of best priority with an occurrence inside s[a..b) (the leftmost such
 * occurrence in *pos, *len), or -1. Control and unknown tokens count only with parse_special.
 */
static int32_t find_best_special(const gen_tokenizer *t, const char *s, size_t a, size_t b,
                                 bool parse_special, size_t *pos, size_t *len)
{
    int32_t best = -1;
    uint32_t best_prio = UINT32_MAX;
    for (size_t p = a; p < b && best_prio > 0; p++) {
        if (!t->special_first[(unsigned char)s[p]]) {
            continue;
        }
        uint32_t node = 0;
        for (size_t k = p; k < b; k++) {
            const u64_slot *edge =
                u64_map_get(&t->trie_edges, ((uint64_t)node << 8) | (unsigned char)s[k]);
            if (!edge) {
                break;
            }
            node = (uint32_t)edge->a;
            int32_t tok = t->trie_tok[node];
            if (tok < 0 || t->trie_prio[node] >= best_prio ||
                (!parse_special && (t->attr[tok] & (ATTR_CONTROL | ATTR_UNKNOWN)))) {
                continue;
            }
            best = tok;
            best_prio = t->trie_prio[node];
            *pos = p;
            *len = k + 1 - p;
        }
    }
    return best;
}

/* The first occurrence of x[0..n) inside s[a..b), or b. */
static size_t find_text(const char *s, size_t a, size_t b, const char *x, size_t n)
{
    for (size_t p = a; p + n <= b; p++) {
        const char *q = memchr(s + p, x[0], b - n + 1 - p);
        if (!q) {
            return b;
        }
        p = (size_t)(q - s);
        if (memcmp(s + p, x, n) == 0) {
            return p;
        }
    }
    return b;
}

/*
 * Splits s[a..b) into text and special-token fragments as llama.cpp's tokenizer_st_partition
 * does. It tries special tokens longest first, each splitting the fragments left by the
 * previous ones at its non-overlapping occurrences, left to right. Equivalently: the first
 * token to split a gap is the best-priority one occurring in it, which takes its leftmost
 * occurrence and then every later one it can; the pieces between hold only worse tokens and
 * are split the same way, independently. This needs memory per fragment only, where listing
 * every occurrence would not (Gemma has user-defined tokens for runs of 2..31 spaces).
 */
static int partition(encoder *e, const char *s, size_t a, size_t b, bool parse_special)
{
    if (a >= b) {
        return 0;
    }
    size_t pos = 0;
    size_t len = 0;
    int32_t tok =
        e->t->n_trie > 1 ? find_best_special(e->t, s, a, b, parse_special, &pos, &len) : -1;
    if (tok < 0) {
        return add_frag(e, a, b - a, -1);
    }
    const char *tx = e->t->text + e->t->text_off[tok];
    size_t cur = a;
    while (pos < b) {
        int rc = partition(e, s, cur, pos, parse_special);
        if (rc == 0) {
            rc = add_frag(e, pos, len, tok);
        }
        if (rc != 0) {
            return rc;
        }
        cur = pos + len;
        pos = find_text(s, cur, b, tx, len);
    }
    return partition(e, s, cur, b, parse_special);
}

/* ---- BPE ---- */

static int add_span(encoder *e, size_t off, size_t len)
{
    if (RESERVE(e, spans2, cap_spans2, e->n_spans2 + 1) != 0) {
        return oom(e);
    }
    span s = {off, len};
    e->spans2[e->n_spans2++] = s;
    return 0;
}

static int regex_error(encoder *e, int code)
{
    if (code == PCRE2_ERROR_NOMEMORY) {
        return oom(e);
    }
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(code, msg, sizeof(msg));
    return core_err_set(e->err, CORE_ERROR, "tokenizer: regex match failed: %s", (const char *)msg);
}

/* Splits every current span with re: its matches and the gaps between them become spans. */
static int split_spans(encoder *e, const pcre2_code *re, const char *subject)
{
    const gen_tokenizer *t = e->t;
    e->n_spans2 = 0;
    for (size_t i = 0; i < e->n_spans; i++) {
        span sp = e->spans[i];
        PCRE2_SPTR subj = (PCRE2_SPTR)(subject + sp.off);
        size_t pos = 0;
        size_t gap = 0;
        while (pos < sp.len) {
            int r = pcre2_match(re, subj, sp.len, pos, PCRE2_NO_UTF_CHECK, e->md, t->mctx);
            if (r == PCRE2_ERROR_JIT_STACKLIMIT) {
                r = pcre2_match(re, subj, sp.len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, e->md,
                                t->mctx);
            }
            if (r == PCRE2_ERROR_NOMATCH) {
                break;
            }
            if (r < 0) {
                return regex_error(e, r);
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
            size_t ms = ov[0];
            size_t me = ov[1];
            if (me <= ms) {
                /* kiln's patterns never match empty; step over a character to make progress */
                pos = ms + utf8_len((unsigned char)subject[sp.off + ms]);
                continue;
            }
            if (ms > gap && add_span(e, sp.off + gap, ms - gap) != 0) {
                return CORE_ENOMEM;
            }
            if (add_span(e, sp.off + ms, me - ms) != 0) {
                return CORE_ENOMEM;
            }
            gap = pos = me;
        }
        if (gap < sp.len && add_span(e, sp.off + gap, sp.len - gap) != 0) {
            return CORE_ENOMEM;
        }
    }
    span *tmp = e->spans;
    size_t tmp_cap = e->cap_spans;
    e->spans = e->spans2;
    e->cap_spans = e->cap_spans2;
    e->n_spans = e->n_spans2;
    e->spans2 = tmp;
    e->cap_spans2 = tmp_cap;
    return 0;
}

static int bpe_bigram(encoder *e, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) {
        return 0;
    }
    int32_t l = e->syms[left].id;
    int32_t r = e->syms[right].id;
    if (l < 0 || r < 0) {
        return 0;
    }
    const u64_slot *m = u64_map_get(&e->t->merges, ((uint64_t)(uint32_t)l << 32) | (uint32_t)r);
    if (!m) {
        return 0;
    }
    bigram b = {(double)m->a, left, right, l, r, m->b};
    return heap_push(e, &b);
}

/* Merges one pre-tokenized word (raw bytes) and appends its tokens. */
static int bpe_word(encoder *e, const char *w, size_t n)
{
    const gen_tokenizer *t = e->t;
    if (t->ignore_merges) {
        if (RESERVE(e, wbuf, cap_wbuf, 2 * n) != 0) {
            return oom(e);
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            k += utf8_encode(byte_to_cp((uint8_t)w[i]), e->wbuf + k);
        }
        int32_t id = lookup(t, e->wbuf, k);
        if (id >= 0) {
            return push_id(e, id);
        }
    }
    if (RESERVE(e, syms, cap_syms, n) != 0) {
        return oom(e);
    }
    for (size_t i = 0; i < n; i++) {
        sym s = {(int32_t)i - 1, i + 1 == n ? -1 : (int32_t)i + 1, 0, 1,
                 t->byte_id[(unsigned char)w[i]]};
        e->syms[i] = s;
    }
    e->n_heap = 0;
    for (size_t i = 1; i < n; i++) {
        if (bpe_bigram(e, (int32_t)i - 1, (int32_t)i) != 0) {
            return CORE_ENOMEM;
        }
    }
    while (e->n_heap > 0) {
        bigram b = heap_pop(e);
        sym *l = &e->syms[b.left];
        sym *r = &e->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->id != b.a || r->id != b.b) {
            continue; /* outdated */
        }
        l->id = b.c;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) {
            e->syms[r->next].prev = b.left;
        }
        if (bpe_bigram(e, l->prev, b.left) != 0 || bpe_bigram(e, b.left, l->next) != 0) {
            return CORE_ENOMEM;
        }
    }
    for (int32_t i = 0; i != -1; i = e->syms[i].next) {
        /* A byte with no token of its own is dropped, as llama.cpp drops it. */
        if (e->syms[i].n > 0 && e->syms[i].id >= 0 && push_id(e, e->syms[i].id) != 0) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

static int bpe_fragment(encoder *e, const char *s, size_t n)
{
    const gen_tokenizer *t = e->t;
    /* Normalize as llama.cpp's codepoint round trip: bad bytes become U+FFFD (3 bytes). */
    if (RESERVE(e, buf, cap_buf, 3 * n + 4) != 0) {
        return oom(e);
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t len = 0;
    bool surrogates = false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(u, n, i, &cp);
        surrogates = surrogates || (cp >= 0xD800 && cp <= 0xDFFF);
        len += utf8_encode(cp, e->buf + len);
    }
    const char *subject = e->buf;
    if (surrogates) {
        /*
         * PCRE2 needs valid UTF-8; a surrogate (letter, number and space to no one) becomes
         * U+E000, which the patterns treat alike and which also takes three bytes.
         */
        if (RESERVE(e, mbuf, cap_mbuf, len) != 0) {
            return oom(e);
        }
        memcpy(e->mbuf, e->buf, len);
        for (size_t i = 0; i + 2 < len; i++) {
            if ((unsigned char)e->mbuf[i] == 0xED &&
                ((unsigned char)e->mbuf[i + 1] & 0xE0) == 0xA0) {
                memcpy(e->mbuf + i, "\xee\x80\x80", 3);
                i += 2;
            }
        }
        subject = e->mbuf;
    }
    e->n_spans = 0;
    if (RESERVE(e, spans, cap_spans, 1) != 0) {
        return oom(e);
    }
    span whole = {0, len};
    e->spans[e->n_spans++] = whole;
    for (size_t i = 0; i < t->n_re; i++) {
        int rc = split_spans(e, t->re[i], subject);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < e->n_spans; i++) {
        int rc = bpe_word(e, e->buf + e->spans[i].off, e->spans[i].len);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- SPM ---- */

static int spm_bigram(encoder *e, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) {
        return 0;
    }
    const sym *l = &e->syms[left];
    const sym *r = &e->syms[right];
    /* Symbols in the chain are contiguous in buf, so the pair's text needs no copy. */
    size_t n = (size_t)l->n + r->n;
    int32_t id = lookup(e->t, e->buf + l->off, n);
    if (id < 0) {
        return 0;
    }
    bigram b = {-(double)e->t->scores[id], left, right, (int32_t)n, 0, 0};
    return heap_push(e, &b);
}

static int spm_fragment(encoder *e, const char *s, size_t n, bool space_prefix)
{
    const gen_tokenizer *t = e->t;
    if (RESERVE(e, buf, cap_buf, 3 * n + 3) != 0) {
        return oom(e);
    }
    size_t len = 0;
    /* RESERVE succeeded, so e->buf holds at least 3 * n + 3 bytes (the analyzer cannot see
     * through reserve()'s void ** out-parameter). */
    CORE_ASSERT(e->buf != NULL);
    if (space_prefix) {
        memcpy(e->buf, "\xe2\x96\x81", 3);
        len = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(e->buf + len, "\xe2\x96\x81", 3);
            len += 3;
        } else {
            e->buf[len++] = s[i];
        }
    }
    if (RESERVE(e, syms, cap_syms, len) != 0) {
        return oom(e);
    }
    size_t n_syms = 0;
    for (size_t off = 0; off < len;) {
        size_t k = utf8_len((unsigned char)e->buf[off]);
        if (k > len - off) {
            k = len - off;
        }
        sym sy = {(int32_t)n_syms - 1, off + k == len ? -1 : (int32_t)n_syms + 1, (uint32_t)off,
                  (uint32_t)k, -1};
        e->syms[n_syms++] = sy;
        off += k;
    }
    e->n_heap = 0;
    for (size_t i = 1; i < n_syms; i++) {
        if (spm_bigram(e, (int32_t)i - 1, (int32_t)i) != 0) {
            return CORE_ENOMEM;
        }
    }
    while (e->n_heap > 0) {
        bigram b = heap_pop(e);
        sym *l = &e->syms[b.left];
        sym *r = &e->syms[b.right];
        if (l->n == 0 || r->n == 0 || (size_t)l->n + r->n != (size_t)b.a) {
            continue; /* outdated */
        }
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) {
            e->syms[r->next].prev = b.left;
        }
        if (spm_bigram(e, l->prev, b.left) != 0 || spm_bigram(e, b.left, l->next) != 0) {
            return CORE_ENOMEM;
        }
    }
    for (int32_t i = 0; n_syms > 0 && i != -1; i = e->syms[i].next) {
        const sym *sy = &e->syms[i];
        int32_t id = lookup(t, e->buf + sy->off, sy->n);
        if (id >= 0) {
            if (push_id(e, id) != 0) {
                return CORE_ENOMEM;
            }
            continue;
        }
        /*
         * Only single characters are left without a token (merges always form tokens): they
         * fall back to byte tokens. llama.cpp aborts on a byte without one; we use unk.
         */
        for (uint32_t k = 0; k < sy->n; k++) {
            int32_t b = t->byte_id[(unsigned char)e->buf[sy->off + k]];
            if (b < 0) {
                b = t->special[GEN_TOKENIZER_SPECIAL_UNK];
            }
            if (b >= 0 && push_id(e, b) != 0) {
                return CORE_ENOMEM;
            }
        }
    }
    return 0;
}

static void encoder_dispose(encoder *e)
{
    core_free(e->out);
    core_free(e->frags);
    core_free(e->buf);
    core_free(e->mbuf);
    core_free(e->wbuf);
    core_free(e->spans);
    core_free(e->spans2);
    core_free(e->syms);
    core_free(e->heap);
    pcre2_match_data_free(e->md);
}

int gen__tokenizer_encode(const gen_tokenizer *t, core_str text, bool add_special,
                          bool parse_special, int32_t **out, size_t *n_out, core_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (text.len > (size_t)INT32_MAX / 4) {
        return core_err_set(err, CORE_EINVAL, "tokenizer: text of %zu bytes is too long", text.len);
    }
    encoder e;
    memset(&e, 0, sizeof(e));
    e.t = t;
    e.err = err;
    int rc = partition(&e, text.ptr, 0, text.len, parse_special);
    if (rc == 0 && add_special && t->add_bos) {
        rc = push_id(&e, t->special[GEN_TOKENIZER_SPECIAL_BOS]);
    }
    if (rc == 0 && t->kind == KIND_BPE && e.n_frags > 0) {
        e.md = pcre2_match_data_create(1, t->gctx);
        if (!e.md) {
            rc = oom(&e);
        }
    }
    bool prev_special = true; /* SPM: a space prefix goes before text that starts the input */
    for (size_t i = 0; rc == 0 && i < e.n_frags; i++) {
        const frag *f = &e.frags[i];
        if (f->tok >= 0) {
            rc = push_id(&e, f->tok);
            prev_special = true;
        } else if (t->kind == KIND_BPE) {
            rc = bpe_fragment(&e, text.ptr + f->off, f->len);
        } else {
            rc = spm_fragment(&e, text.ptr + f->off, f->len, t->add_space_prefix && prev_special);
            prev_special = false;
        }
    }
    if (rc == 0 && add_special && t->add_eos) {
        rc = push_id(&e, t->special[GEN_TOKENIZER_SPECIAL_EOS]);
    }
    if (rc == 0) {
        if (e.n_out > 0) {
            *out = e.out;
            *n_out = e.n_out;
            e.out = NULL;
        }
    }
    encoder_dispose(&e);
    return rc;
}
