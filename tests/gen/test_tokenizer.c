/*
 * Tests of gen/tokenizer.c: token ids against llama.cpp's (the golden fixtures made by
 * tests/fixtures/gen/make_golden.py), decode(encode(s)) == s, special tokens, malformed
 * vocabularies and allocation failures.
 */
#include "tests/gen/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gen/gguf_int.h"
#include "gen/tokenizer_int.h"
#include "tests/tools/gguf_writer.h"

#define SMOLLM2_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define GEMMA3_FILE  "gemma-3-270m-q4_k_m.gguf"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Opens a model's tokenizer, or returns NULL (printing why) when the model file is absent. */
static gen_tokenizer *open_model(const char *file, gen_gguf **g_out)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", KILN_MODELS, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tokenizer: skipped: model %s is absent (run scripts/setup.sh)\n", path);
        return NULL;
    }
    fclose(f);
    core_err err = {0};
    gen_gguf *g = NULL;
    int rc = gen__gguf_open(&g, path, &err);
    ck_assert_msg(rc == 0, "%s: %s", path, err.msg);
    gen_tokenizer *t = NULL;
    rc = gen__tokenizer_new(&t, g, &err);
    ck_assert_msg(rc == 0, "%s: %s", path, err.msg);
    *g_out = g;
    return t;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* One fixture row. */
typedef struct row {
    char *bytes; /* owned (malloc) */
    size_t len;
    int32_t *ids; /* owned */
    size_t n_ids;
    int32_t *ids_special; /* owned */
    size_t n_ids_special;
    bool valid_utf8;
} row;

static void row_dispose(row *r)
{
    free(r->bytes);
    free(r->ids);
    free(r->ids_special);
    memset(r, 0, sizeof(*r));
}

/* Parses "key":[1,2,3] from line into a malloc'd array. */
static bool parse_ids(const char *line, const char *key, int32_t **out, size_t *n_out)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":[", key);
    const char *p = strstr(line, pat);
    if (!p) {
        return false;
    }
    p += strlen(pat);
    size_t cap = 16;
    size_t n = 0;
    int32_t *ids = malloc(cap * sizeof(*ids));
    while (*p && *p != ']') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            free(ids);
            return false;
        }
        if (n == cap) {
            cap *= 2;
            int32_t *grown = realloc(ids, cap * sizeof(*ids));
            ck_assert_ptr_nonnull(grown);
            ids = grown;
        }
        ids[n++] = (int32_t)v;
        p = end;
        if (*p == ',') {
            p++;
        }
    }
    *out = ids;
    *n_out = n;
    return true;
}

static bool parse_row(const char *line, row *r)
{
    memset(r, 0, sizeof(*r));
    const char *p = strstr(line, "\"hex\":\"");
    if (!p) {
        return false;
    }
    p += 7;
    const char *q = strchr(p, '"');
    if (!q || (q - p) % 2 != 0) {
        return false;
    }
    r->len = (size_t)(q - p) / 2;
    r->bytes = malloc(r->len + 1);
    for (size_t i = 0; i < r->len; i++) {
        int hi = hex_value(p[2 * i]);
        int lo = hex_value(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        r->bytes[i] = (char)(hi * 16 + lo);
    }
    r->valid_utf8 = strstr(line, "\"valid_utf8\":false") == NULL;
    return parse_ids(line, "ids", &r->ids, &r->n_ids) &&
           parse_ids(line, "ids_special", &r->ids_special, &r->n_ids_special);
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++) {
        fprintf(stderr, " %d", (int)ids[i]);
    }
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

typedef struct golden_result {
    size_t n_rows;
    size_t n_match;         /* both ids and ids_special equal */
    size_t n_roundtrip;     /* valid UTF-8 rows checked */
    size_t n_roundtrip_bad; /* ... whose decode(encode(s)) != s */
} golden_result;

static golden_result run_golden(const gen_tokenizer *t, const char *fixture)
{
    golden_result res = {0, 0, 0, 0};
    char path[1024];
    snprintf(path, sizeof(path), "%s/gen/%s", KILN_FIXTURES, fixture);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    size_t n_failed_shown = 0;
    while (getline(&line, &cap, f) > 0) {
        row r;
        ck_assert_msg(parse_row(line, &r), "%s: row %zu does not parse", path, res.n_rows + 1);
        res.n_rows++;
        core_str text = {r.bytes, r.len};
        int32_t *ids = NULL;
        size_t n = 0;
        int32_t *ids_sp = NULL;
        size_t n_sp = 0;
        core_err err = {0};
        ck_assert_int_eq(gen__tokenizer_encode(t, text, true, false, &ids, &n, &err), 0);
        ck_assert_int_eq(gen__tokenizer_encode(t, text, true, true, &ids_sp, &n_sp, &err), 0);
        bool ok = ids_equal(ids, n, r.ids, r.n_ids) &&
                  ids_equal(ids_sp, n_sp, r.ids_special, r.n_ids_special);
        if (ok) {
            res.n_match++;
        } else if (n_failed_shown++ < 5) {
            fprintf(stderr, "%s row %zu: %.60s\n", fixture, res.n_rows, line);
            print_ids("kiln ids", ids, n);
            print_ids("llama.cpp ids", r.ids, r.n_ids);
            print_ids("kiln ids_special", ids_sp, n_sp);
            print_ids("llama.cpp ids_special", r.ids_special, r.n_ids_special);
        }
        if (r.valid_utf8) {
            /* Without add_special no BOS is added, so the text must come back exactly. */
            core_free(ids);
            ids = NULL;
            ck_assert_int_eq(gen__tokenizer_encode(t, text, false, false, &ids, &n, &err), 0);
            core_buf out = {0};
            ck_assert_int_eq(gen__tokenizer_decode(t, ids, n, true, &out, &err), 0);
            res.n_roundtrip++;
            if (out.len != r.len || (r.len > 0 && memcmp(out.ptr, r.bytes, r.len) != 0)) {
                res.n_roundtrip_bad++;
                fprintf(stderr, "%s row %zu: decode(encode(s)) != s\n", fixture, res.n_rows);
            }
            core_buf_dispose(&out);
        }
        core_free(ids);
        core_free(ids_sp);
        row_dispose(&r);
    }
    free(line);
    fclose(f);
    fprintf(stderr, "tokenizer: %s: %zu/%zu rows match llama.cpp, %zu/%zu round trips exact\n",
            fixture, res.n_match, res.n_rows, res.n_roundtrip - res.n_roundtrip_bad,
            res.n_roundtrip);
    return res;
}

static void expect_ids(const gen_tokenizer *t, const char *text, bool add_special,
                       bool parse_special, const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    core_err err = {0};
    ck_assert_int_eq(
        gen__tokenizer_encode(t, core_str_c(text), add_special, parse_special, &ids, &n, &err), 0);
    if (!ids_equal(ids, n, want, n_want)) {
        print_ids("got", ids, n);
        print_ids("want", want, n_want);
    }
    ck_assert_int_eq(n, n_want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(ids[i], want[i]);
    }
    core_free(ids);
}

/* ------------------------------------------------------------------------------------------ */
/* Real models                                                                                */
/* ------------------------------------------------------------------------------------------ */

START_TEST(tokenizer__smollm2_matches_llama_cpp)
{
    gen_gguf *g = NULL;
    gen_tokenizer *t = open_model(SMOLLM2_FILE, &g);
    if (!t) {
        return;
    }
    golden_result r = run_golden(t, "tokens-smollm2.jsonl");
    ck_assert_uint_ge(r.n_rows, 300);
    ck_assert_uint_eq(r.n_match, r.n_rows);
    ck_assert_uint_gt(r.n_roundtrip, 250);
    ck_assert_uint_eq(r.n_roundtrip_bad, 0);
    gen__tokenizer_free(t);
    gen__gguf_free(g);
}
END_TEST

START_TEST(tokenizer__gemma3_matches_llama_cpp)
{
    gen_gguf *g = NULL;
    gen_tokenizer *t = open_model(GEMMA3_FILE, &g);
    if (!t) {
        return;
    }
    golden_result r = run_golden(t, "tokens-gemma3.jsonl");
    ck_assert_uint_ge(r.n_rows, 300);
    ck_assert_uint_eq(r.n_match, r.n_rows);
    ck_assert_uint_gt(r.n_roundtrip, 250);
    ck_assert_uint_eq(r.n_roundtrip_bad, 0);
    gen__tokenizer_free(t);
    gen__gguf_free(g);
}
END_TEST

START_TEST(tokenizer__smollm2_special_tokens)
{
    gen_gguf *g = NULL;
    gen_tokenizer *t = open_model(SMOLLM2_FILE, &g);
    if (!t) {
        return;
    }
    const int32_t parsed[] = {1, 6004, 2};
    expect_ids(t, "<|im_start|>hi<|im_end|>", true, true, parsed, 3);
    const int32_t plain[] = {44, 108, 306, 79, 3738, 108, 46, 6004, 44, 108, 306, 79, 486, 108, 46};
    expect_ids(t, "<|im_start|>hi<|im_end|>", true, false, plain, 15);
    /* SmolLM2 adds no BOS; its EOG set is llama.cpp's: eos, <|endoftext|>, and <reponame>. */
    ck_assert(!gen__tokenizer_adds_bos(t));
    ck_assert_int_eq(gen__tokenizer_bos(t), 1);
    ck_assert_int_eq(gen__tokenizer_eos(t), 2);
    ck_assert_uint_eq(gen__tokenizer_n_vocab(t), 49152);
    size_t n_eog = 0;
    for (int32_t id = 0; id < 49152; id++) {
        n_eog += gen__tokenizer_is_eog(t, id);
    }
    ck_assert_uint_eq(n_eog, 3);
    ck_assert(gen__tokenizer_is_eog(t, 0));
    ck_assert(gen__tokenizer_is_eog(t, 2));
    ck_assert(gen__tokenizer_is_eog(t, 4));
    ck_assert(gen__tokenizer_is_control(t, 1));
    ck_assert(!gen__tokenizer_is_control(t, 6004));
    /* Control tokens render only on request; normal tokens decode their GPT-2 bytes. */
    ck_assert_uint_eq(gen__tokenizer_piece(t, 1, false).len, 0);
    ck_assert(core_str_eq_c(gen__tokenizer_piece(t, 1, true), "<|im_start|>"));
    ck_assert(core_str_eq_c(gen__tokenizer_piece(t, 216, false), " "));
    ck_assert_uint_eq(gen__tokenizer_piece(t, -1, true).len, 0);
    ck_assert_uint_eq(gen__tokenizer_piece(t, 49152, true).len, 0);
    gen__tokenizer_free(t);
    gen__gguf_free(g);
}
END_TEST

START_TEST(tokenizer__gemma3_special_tokens)
{
    gen_gguf *g = NULL;
    gen_tokenizer *t = open_model(GEMMA3_FILE, &g);
    if (!t) {
        return;
    }
    const int32_t parsed[] = {2, 105, 2364, 107, 2};
    expect_ids(t, "<start_of_turn>user\n<bos>", true, true, parsed, 5);
    /* User-defined tokens (newline and space runs) are split out even without parse_special. */
    const int32_t ws[] = {236746, 138, 236763, 109, 138, 236755};
    expect_ids(t, "a  b\n\n\n  c", false, false, ws, 6);
    const int32_t empty_bos[] = {2};
    expect_ids(t, "", true, false, empty_bos, 1);
    expect_ids(t, "", false, false, NULL, 0);
    ck_assert(gen__tokenizer_adds_bos(t));
    ck_assert_int_eq(gen__tokenizer_bos(t), 2);
    ck_assert_int_eq(gen__tokenizer_eos(t), 1);
    ck_assert_int_eq(gen__tokenizer_eot(t), 106);
    size_t n_eog = 0;
    for (int32_t id = 0; id < (int32_t)gen__tokenizer_n_vocab(t); id++) {
        n_eog += gen__tokenizer_is_eog(t, id);
    }
    /* <eos>, <end_of_turn>, and </s> (user-defined in the file, made control by its text). */
    ck_assert_uint_eq(n_eog, 3);
    ck_assert(gen__tokenizer_is_eog(t, 1));
    ck_assert(gen__tokenizer_is_eog(t, 106));
    ck_assert(gen__tokenizer_is_eog(t, 212));
    ck_assert(gen__tokenizer_is_control(t, 212));
    /* Byte tokens decode to their byte; the space marker decodes to a space. */
    ck_assert(core_str_eq_c(gen__tokenizer_piece(t, 248, false), "\n"));
    core_buf out = {0};
    core_err err = {0};
    const int32_t hello[] = {2, 9259, 1902};
    ck_assert_int_eq(gen__tokenizer_decode(t, hello, 3, false, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "Hello world");
    const int32_t bad[] = {9259, 262144};
    ck_assert_int_eq(gen__tokenizer_decode(t, bad, 2, false, &out, &err), CORE_EINVAL);
    ck_assert_str_eq(out.ptr, "Hello world");
    core_buf_dispose(&out);

    /*
     * 100000 spaces: user-defined tokens for runs of 2..31 spaces (ids 138..167) take it, the
     * longest first: 3225 runs of 31, then one of 25. (Listing every occurrence of every run
     * token here once cost gigabytes for a megabyte of spaces.)
     */
    size_t n_sp = 100000;
    char *spaces = core_malloc(n_sp);
    ck_assert_ptr_nonnull(spaces);
    memset(spaces, ' ', n_sp);
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(
        gen__tokenizer_encode(t, (core_str){spaces, n_sp}, false, false, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 3226);
    ck_assert_int_eq(ids[0], 167);
    ck_assert_int_eq(ids[3224], 167);
    ck_assert_int_eq(ids[3225], 161);
    core_free(ids);
    core_free(spaces);
    gen__tokenizer_free(t);
    gen__gguf_free(g);
}
END_TEST

/* A 10 KB source file must encode well under 10 ms (a loose bound here: sanitizers, CI). */
START_TEST(tokenizer__encodes_10kb_quickly)
{
    static const char *const files[] = {SMOLLM2_FILE, GEMMA3_FILE};
    const char *chunk = "def fibonacci(n):\n    if n < 2:\n        return n\n"
                        "    return fibonacci(n - 1) + fibonacci(n - 2)  # 12345\n\n";
    core_buf text = {0};
    while (text.len < 10240) {
        ck_assert_int_eq(core_buf_append(&text, chunk, strlen(chunk)), 0);
    }
    for (size_t m = 0; m < 2; m++) {
        gen_gguf *g = NULL;
        gen_tokenizer *t = open_model(files[m], &g);
        if (!t) {
            continue;
        }
        core_str s = {text.ptr, text.len};
        int32_t *ids = NULL;
        size_t n = 0;
        uint64_t best = UINT64_MAX;
        for (int rep = 0; rep < 5; rep++) {
            uint64_t t0 = core_time_ns();
            ck_assert_int_eq(gen__tokenizer_encode(t, s, true, false, &ids, &n, NULL), 0);
            uint64_t dt = core_time_ns() - t0;
            best = dt < best ? dt : best;
            core_free(ids);
        }
        fprintf(stderr, "tokenizer: %s: %zu bytes -> %zu tokens in %.2f ms\n", files[m], text.len,
                n, (double)best / 1e6);
        ck_assert_uint_lt(best, 200 * 1000 * 1000ull);
        gen__tokenizer_free(t);
        gen__gguf_free(g);
    }
    core_buf_dispose(&text);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Small hand-built vocabularies                                                              */
/* ------------------------------------------------------------------------------------------ */

/* A byte-level BPE vocabulary: the 256 byte symbols, a few merges, two control tokens. */
typedef struct small_bpe {
    char bytes[256][4];
    core_str tokens[300];
    int32_t types[300];
    core_str merges[8];
    size_t n_tokens;
    size_t n_merges;
} small_bpe;

static uint32_t gpt2_cp(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
        return b;
    }
    if (b <= 0x20) {
        return 256 + b;
    }
    if (b <= 0xA0) {
        return 256 + 33 + (b - 0x7F);
    }
    return 256 + 67;
}

static void small_bpe_init(small_bpe *v, gen_tokenizer_spec *s)
{
    memset(v, 0, sizeof(*v));
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = gpt2_cp(b);
        size_t n;
        if (cp < 0x80) {
            v->bytes[b][0] = (char)cp;
            n = 1;
        } else {
            v->bytes[b][0] = (char)(0xC0 | (cp >> 6));
            v->bytes[b][1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
        }
        v->tokens[b] = (core_str){v->bytes[b], n};
        v->types[b] = 1;
    }
    static const char *const extra[] = {"ab",      "abc",  "\304\240a", "\304\240ab",
                                        "<|end|>", "<sp>", "\304\2401"};
    static const int32_t extra_types[] = {1, 1, 1, 1, 3, 4, 1};
    for (size_t i = 0; i < 7; i++) {
        v->tokens[256 + i] = core_str_c(extra[i]);
        v->types[256 + i] = extra_types[i];
    }
    v->n_tokens = 263;
    static const char *const merges[] = {"a b", "ab c", "\304\240 a", "\304\240a b", "\304\240 1"};
    for (size_t i = 0; i < 5; i++) {
        v->merges[i] = core_str_c(merges[i]);
    }
    v->n_merges = 5;
    *s = gen__tokenizer_spec_default();
    s->model = core_str_c("gpt2");
    s->pre = core_str_c("smollm");
    s->tokens = v->tokens;
    s->n_tokens = v->n_tokens;
    s->token_types = v->types;
    s->merges = v->merges;
    s->n_merges = v->n_merges;
    s->has_merges = true;
    s->special[GEN_TOKENIZER_SPECIAL_EOS] = 260;
}

START_TEST(tokenizer__small_bpe_merges_and_specials)
{
    small_bpe v;
    gen_tokenizer_spec s;
    small_bpe_init(&v, &s);
    gen_tokenizer *t = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, &err), 0);
    /* Words "abc" and " ab": in " ab" the merge a+b (rank 0) beats " "+a (rank 2). */
    const int32_t w1[] = {257, ' ', 256};
    expect_ids(t, "abc ab", true, false, w1, 3);
    const int32_t w6[] = {258};
    expect_ids(t, " a", false, false, w6, 1);
    /* smollm splits digits off first, so " 1" is two words and the merge cannot apply. */
    const int32_t w2[] = {'x', ' ', '1', '2'};
    expect_ids(t, "x 12", false, false, w2, 4);
    const int32_t w3[] = {256, 260, 256};
    expect_ids(t, "ab<|end|>ab", false, true, w3, 3);
    /* Without parse_special the control token is text; the user-defined one is always split. */
    const int32_t w4[] = {'<', '|', 'e', 'n', 'd', '|', '>', 261};
    expect_ids(t, "<|end|><sp>", false, false, w4, 8);
    ck_assert(gen__tokenizer_is_eog(t, 260));
    ck_assert(gen__tokenizer_is_control(t, 260));
    ck_assert(!gen__tokenizer_adds_bos(t));
    /* Bytes 0x00..0x20 are U+0100.. in GPT-2's mapping and decode back to themselves. */
    core_buf out = {0};
    const int32_t nl[] = {256, 10, 32, 9};
    ck_assert_int_eq(gen__tokenizer_decode(t, nl, 4, false, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "ab\n\x20\t");
    core_buf_dispose(&out);
    gen__tokenizer_free(t);

    /* gpt-2 keeps " 12" together, so " 1" merges. */
    s.pre = core_str_c("gpt-2");
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, &err), 0);
    const int32_t w5[] = {'x', 262, '2'};
    expect_ids(t, "x 12", false, false, w5, 3);
    gen__tokenizer_free(t);
}
END_TEST

/* In the small vocabulary token b is the GPT-2 symbol of byte b, so byte b encodes as id b. */
START_TEST(tokenizer__small_bpe_invalid_utf8_becomes_replacement)
{
    small_bpe v;
    gen_tokenizer_spec s;
    small_bpe_init(&v, &s);
    gen_tokenizer *t = NULL;
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, NULL), 0);
    /* As llama.cpp: a stray continuation byte is U+FFFD = EF BF BD. */
    const int32_t want[] = {'a', 0xEF, 0xBF, 0xBD};
    expect_ids(t, "a\x80", false, false, want, 4);
    gen__tokenizer_free(t);
}
END_TEST

/* Characters without a GPT-2 byte are spelled out in pieces, as llama_decode_text does. */
START_TEST(tokenizer__pieces_spell_out_characters_without_bytes)
{
    small_bpe v;
    gen_tokenizer_spec s;
    small_bpe_init(&v, &s);
    v.tokens[263] = core_str_c("x\xe2\x82\xac"); /* x and U+20AC, which no byte stands for */
    v.types[263] = 1;
    v.tokens[264] = core_str_c("\304\240\304\240");
    v.types[264] = 1;
    v.n_tokens = 265;
    s.n_tokens = v.n_tokens;
    gen_tokenizer *t = NULL;
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, NULL), 0);
    core_str p = gen__tokenizer_piece(t, 263, false);
    ck_assert_int_eq((int)p.len, 24);
    ck_assert_int_eq(memcmp(p.ptr, "x[UNK_BYTE_0xe282acx\xe2\x82\xac]", p.len), 0);
    /* The pieces around it are unchanged. */
    p = gen__tokenizer_piece(t, 262, false);
    ck_assert_int_eq((int)p.len, 2);
    ck_assert_int_eq(memcmp(p.ptr, " 1", 2), 0);
    p = gen__tokenizer_piece(t, 264, false);
    ck_assert_int_eq((int)p.len, 2);
    ck_assert_int_eq(memcmp(p.ptr, "  ", 2), 0);
    ck_assert_int_eq((int)gen__tokenizer_piece(t, 260, true).len, 7);
    gen__tokenizer_free(t);
}
END_TEST

static int new_spec_rc(const gen_tokenizer_spec *s, core_err *err)
{
    gen_tokenizer *t = NULL;
    int rc = gen__tokenizer_new_spec(&t, s, err);
    gen__tokenizer_free(t);
    return rc;
}

START_TEST(tokenizer__malformed_vocabularies_are_rejected)
{
    small_bpe v;
    gen_tokenizer_spec s;
    core_err err = {0};

    small_bpe_init(&v, &s);
    s.model = core_str_c("bert");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'bert'"));

    small_bpe_init(&v, &s);
    s.pre = core_str_c("deepseek-coder");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'deepseek-coder'"));

    small_bpe_init(&v, &s);
    v.merges[1] = core_str_c("ab d");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown token"));

    small_bpe_init(&v, &s);
    v.merges[0] = core_str_c("ab");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "merge 0 has no space"));

    /* Merges are checked in order: an unknown token before a merge without a space. */
    small_bpe_init(&v, &s);
    v.merges[1] = core_str_c("ab d");
    v.merges[3] = core_str_c("ab");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "merge 1 ('ab d') names an unknown token"));
    v.merges[1] = core_str_c("ab c");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "merge 3 has no space"));

    small_bpe_init(&v, &s);
    s.has_merges = false;
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);

    small_bpe_init(&v, &s);
    v.tokens[257] = core_str_c("ab");
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));

    small_bpe_init(&v, &s);
    s.add_bos = 1;
    s.special[GEN_TOKENIZER_SPECIAL_BOS] = 5000; /* out of range: the default 11 stays */
    ck_assert_int_eq(new_spec_rc(&s, &err), 0);

    small_bpe_init(&v, &s);
    s.n_tokens = 5; /* the default bos (11) is out of range, so add_bos has no token */
    s.n_merges = 0;
    s.add_bos = 1;
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);

    small_bpe_init(&v, &s);
    s.n_tokens = 0;
    ck_assert_int_eq(new_spec_rc(&s, &err), CORE_EPARSE);

    /* An SPM byte token whose text is not <0xNN>. */
    core_str spm_tokens[] = {core_str_c("<unk>"), core_str_c("<s>"), core_str_c("</s>"),
                             core_str_c("<0xZZ>")};
    int32_t spm_types[] = {2, 3, 3, 6};
    gen_tokenizer_spec sp = gen__tokenizer_spec_default();
    sp.model = core_str_c("llama");
    sp.tokens = spm_tokens;
    sp.n_tokens = 4;
    sp.token_types = spm_types;
    ck_assert_int_eq(new_spec_rc(&sp, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "<0xNN>"));
}
END_TEST

/* A tiny SentencePiece vocabulary: scores decide the merges, bytes fall back to <0xNN>. */
START_TEST(tokenizer__small_spm_scores_and_byte_fallback)
{
    core_str tokens[] = {core_str_c("<unk>"),
                         core_str_c("<s>"),
                         core_str_c("</s>"),
                         core_str_c("<0x0A>"),
                         core_str_c("<0xC3>"),
                         core_str_c("<0xA9>"),
                         core_str_c("\xe2\x96\x81"),
                         core_str_c("a"),
                         core_str_c("b"),
                         core_str_c("ab"),
                         core_str_c("\xe2\x96\x81"
                                    "a"),
                         core_str_c("\xe2\x96\x81"
                                    "ab"),
                         core_str_c("bb")};
    float scores[] = {0, 0, 0, 0, 0, 0, -1, -1, -1, -2, -3, -1, -0.5f};
    int32_t types[] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1};
    gen_tokenizer_spec s = gen__tokenizer_spec_default();
    s.model = core_str_c("llama");
    s.tokens = tokens;
    s.n_tokens = 13;
    s.scores = scores;
    s.token_types = types;
    gen_tokenizer *t = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, &err), 0);
    /* add_space_prefix defaults to true for SPM: " ab" = ▁ab; "bb" beats "ab" on score. */
    const int32_t w1[] = {1, 11};
    expect_ids(t, "ab", true, false, w1, 2);
    const int32_t w2[] = {10, 12};
    expect_ids(t, "abb", false, false, w2, 2);
    /* é has no token: its two bytes; \n is a byte token. */
    const int32_t w3[] = {6, 4, 5, 3};
    expect_ids(t, "\xc3\xa9\n", false, false, w3, 4);
    core_buf out = {0};
    const int32_t d[] = {10, 12, 6, 4, 5, 3};
    ck_assert_int_eq(gen__tokenizer_decode(t, d, 6, false, &out, &err), 0);
    ck_assert_str_eq(out.ptr, "abb \xc3\xa9\n"); /* the first token loses its prefix space */
    core_buf_dispose(&out);
    gen__tokenizer_free(t);
}
END_TEST

/* What a hand-built GGUF file's tokenizer keys look like, and how to break them. */
typedef enum gguf_flaw {
    GGUF_FLAW_NONE,
    GGUF_FLAW_NO_MODEL,
    GGUF_FLAW_MODEL_T5,
    GGUF_FLAW_TOKENS_NOT_STRINGS,
    GGUF_FLAW_SHORT_SCORES,
    GGUF_FLAW_BOS_IS_STRING,
    GGUF_FLAW_TYPES_ARE_FLOATS,
} gguf_flaw;

/* Builds a small SPM vocabulary as a GGUF file and loads its tokenizer; returns the code. */
static int load_gguf_vocab(gguf_flaw flaw, core_err *err)
{
    core_str tokens[] = {core_str_c("<unk>"),
                         core_str_c("<s>"),
                         core_str_c("</s>"),
                         core_str_c("\xe2\x96\x81"),
                         core_str_c("a"),
                         core_str_c("\xe2\x96\x81"
                                    "a")};
    const float scores[] = {0, 0, 0, -1, -1, -0.5f};
    const int32_t types[] = {2, 3, 3, 1, 1, 1};
    gguf_writer *w = NULL;
    ck_assert_int_eq(gguf_writer_new(&w, 32, NULL), 0);
    ck_assert_int_eq(gguf_writer_add_str(w, "general.architecture", "llama", NULL), 0);
    if (flaw != GGUF_FLAW_NO_MODEL) {
        const char *model = flaw == GGUF_FLAW_MODEL_T5 ? "t5" : "llama";
        ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.model", model, NULL), 0);
    }
    if (flaw == GGUF_FLAW_TOKENS_NOT_STRINGS) {
        ck_assert_int_eq(
            gguf_writer_add_arr(w, "tokenizer.ggml.tokens", GGUF_VTYPE_INT32, types, 6, NULL), 0);
    } else {
        ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tokens, 6, NULL), 0);
    }
    size_t n_scores = flaw == GGUF_FLAW_SHORT_SCORES ? 5 : 6;
    ck_assert_int_eq(
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_VTYPE_FLOAT32, scores, n_scores, NULL),
        0);
    if (flaw == GGUF_FLAW_TYPES_ARE_FLOATS) {
        ck_assert_int_eq(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_FLOAT32,
                                             scores, 6, NULL),
                         0);
    } else {
        ck_assert_int_eq(
            gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_VTYPE_INT32, types, 6, NULL),
            0);
    }
    if (flaw == GGUF_FLAW_BOS_IS_STRING) {
        ck_assert_int_eq(gguf_writer_add_str(w, "tokenizer.ggml.bos_token_id", "1", NULL), 0);
    } else {
        ck_assert_int_eq(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1, NULL), 0);
    }
    ck_assert_int_eq(gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false, NULL), 0);
    core_buf file = {0};
    ck_assert_int_eq(gguf_writer_serialize(w, &file, NULL), 0);
    gguf_writer_free(w);

    gen_gguf *g = NULL;
    ck_assert_int_eq(gen__gguf_open_memory(&g, file.ptr, file.len, NULL), 0);
    gen_tokenizer *t = NULL;
    int rc = gen__tokenizer_new(&t, g, err);
    if (rc == 0) {
        /* No space prefix (the file says so): "a a" is a, ▁a. */
        const int32_t want[] = {1, 4, 5};
        expect_ids(t, "a a", true, false, want, 3);
    } else {
        ck_assert_ptr_null(t);
    }
    gen__tokenizer_free(t);
    gen__gguf_free(g);
    core_buf_dispose(&file);
    return rc;
}

START_TEST(tokenizer__malformed_gguf_keys_are_rejected)
{
    core_err err = {0};
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_NONE, &err), 0);
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_NO_MODEL, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.model"));
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_MODEL_T5, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'t5'"));
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_TOKENS_NOT_STRINGS, &err), CORE_EPARSE);
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_SHORT_SCORES, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.scores"));
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_BOS_IS_STRING, &err), CORE_EPARSE);
    ck_assert_int_eq(load_gguf_vocab(GGUF_FLAW_TYPES_ARE_FLOATS, &err), CORE_EPARSE);
}
END_TEST

START_TEST(tokenizer__new_survives_allocation_failures)
{
    small_bpe v;
    gen_tokenizer_spec s;
    small_bpe_init(&v, &s);
    long live = core_alloc_live();
    int rc = CORE_ENOMEM;
    long n = 1;
    for (; n < 10000 && rc != 0; n++) {
        gen_tokenizer *t = NULL;
        core_alloc_fail_after(n);
        rc = gen__tokenizer_new_spec(&t, &s, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            gen__tokenizer_free(t);
        } else {
            ck_assert_int_eq(rc, CORE_ENOMEM);
            ck_assert_ptr_null(t);
        }
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 5);
}
END_TEST

START_TEST(tokenizer__encode_survives_allocation_failures)
{
    small_bpe v;
    gen_tokenizer_spec s;
    small_bpe_init(&v, &s);
    gen_tokenizer *t = NULL;
    ck_assert_int_eq(gen__tokenizer_new_spec(&t, &s, NULL), 0);
    long live = core_alloc_live();
    int rc = CORE_ENOMEM;
    long n = 1;
    for (; n < 10000 && rc != 0; n++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        core_alloc_fail_after(n);
        rc = gen__tokenizer_encode(t, core_str_c("abc ab 12<|end|><sp> x"), true, true, &ids,
                                   &n_ids, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_uint_gt(n_ids, 5);
            core_free(ids);
        } else {
            ck_assert_int_eq(rc, CORE_ENOMEM);
            ck_assert_ptr_null(ids);
        }
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 3);
    gen__tokenizer_free(t);
}
END_TEST

TCase *tcase_tokenizer(void)
{
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tokenizer__smollm2_matches_llama_cpp);
    tcase_add_test(tc, tokenizer__gemma3_matches_llama_cpp);
    tcase_add_test(tc, tokenizer__smollm2_special_tokens);
    tcase_add_test(tc, tokenizer__gemma3_special_tokens);
    tcase_add_test(tc, tokenizer__encodes_10kb_quickly);
    tcase_add_test(tc, tokenizer__small_bpe_merges_and_specials);
    tcase_add_test(tc, tokenizer__small_bpe_invalid_utf8_becomes_replacement);
    tcase_add_test(tc, tokenizer__pieces_spell_out_characters_without_bytes);
    tcase_add_test(tc, tokenizer__malformed_vocabularies_are_rejected);
    tcase_add_test(tc, tokenizer__malformed_gguf_keys_are_rejected);
    tcase_add_test(tc, tokenizer__small_spm_scores_and_byte_fallback);
    tcase_add_test(tc, tokenizer__new_survives_allocation_failures);
    tcase_add_test(tc, tokenizer__encode_survives_allocation_failures);
    return tc;
}
