/*
 * Tests of lsp/text.c: UTF-16 and UTF-8 columns over combining marks, CJK and characters
 * outside the BMP (two UTF-16 units), clamping of positions past a line, past the document and
 * inside a character, line ends (\n, \r\n, \r), and an edit log replayed as a client sends it.
 */
#include "tests/lsp/tests.h"

#include <string.h>

#include "lsp/lsp.h"

/* "a", e + combining acute, CJK 中, an emoji (U+1F600), "b" */
static const char line[] = "ae\xcc\x81\xe4\xb8\xad\xf0\x9f\x98\x80"
                           "b";

START_TEST(text__utf16_columns_count_surrogate_pairs)
{
    core_str t = core_str_c(line);
    /* units: a=0 e=1 U+0301=2 中=3 😀=4,5 b=6 */
    static const size_t offsets[] = {0, 1, 2, 4, 7, 7, 11, 12};
    for (uint32_t ch = 0; ch < 8; ch++) {
        ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 0, ch), offsets[ch]);
    }
    uint32_t l = 9;
    uint32_t c = 9;
    lsp_text_position(t, LSP_ENCODING_UTF16, 11, &l, &c);
    ck_assert_uint_eq(l, 0);
    ck_assert_uint_eq(c, 6);
    lsp_text_position(t, LSP_ENCODING_UTF16, 9, &l, &c); /* inside the emoji: its start */
    ck_assert_uint_eq(c, 4);
}
END_TEST

START_TEST(text__utf8_columns_are_bytes_clamped_to_characters)
{
    core_str t = core_str_c(line);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF8, 0, 4), 4);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF8, 0, 5), 4); /* inside 中 */
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF8, 0, 11), 11);
    uint32_t l = 0;
    uint32_t c = 0;
    lsp_text_position(t, LSP_ENCODING_UTF8, 7, &l, &c);
    ck_assert_uint_eq(c, 7);
}
END_TEST

START_TEST(text__positions_past_the_end_are_clamped)
{
    core_str t = core_str_c("ab\r\ncd\ref\n");
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 0, 99), 2);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 1, 1), 5);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 2, 0), 7); /* after a lone \r */
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 3, 0), t.len);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 3, 5), t.len);
    ck_assert_uint_eq(lsp_text_offset(t, LSP_ENCODING_UTF16, 4000000000u, 7), t.len);
    uint32_t l = 0;
    uint32_t c = 0;
    lsp_text_position(t, LSP_ENCODING_UTF16, 1000, &l, &c);
    ck_assert_uint_eq(l, 3);
    ck_assert_uint_eq(c, 0);
    /* Invalid UTF-8 counts one unit a byte, and never reads past the end. */
    core_str bad = {"\xf0\x9f", 2};
    ck_assert_uint_eq(lsp_text_offset(bad, LSP_ENCODING_UTF16, 0, 1), 1);
    ck_assert_uint_eq(lsp_text_offset(bad, LSP_ENCODING_UTF16, 0, 5), 2);
}
END_TEST

START_TEST(text__offset_and_position_round_trip)
{
    core_str t = core_str_c("x = '\xe4\xb8\xad'\r\n\xf0\x9f\x98\x80 = 1\nlast");
    for (int e = 0; e < 2; e++) {
        for (size_t o = 0; o <= t.len; o++) {
            if (o < t.len && ((unsigned char)t.ptr[o] & 0xC0) == 0x80) {
                continue; /* not a character's start */
            }
            if (o > 0 && t.ptr[o - 1] == '\r' && o < t.len && t.ptr[o] == '\n') {
                continue; /* between \r and \n: not a position */
            }
            uint32_t l = 0;
            uint32_t c = 0;
            lsp_text_position(t, (lsp_encoding)e, o, &l, &c);
            ck_assert_uint_eq(lsp_text_offset(t, (lsp_encoding)e, l, c), o);
        }
    }
}
END_TEST

typedef struct edit {
    uint32_t l0, c0, l1, c1;
    const char *text;
} edit;

START_TEST(text__edit_log_replays)
{
    /* What a client sends while someone types a function with an emoji in a string, deletes
       across lines and pastes: UTF-16 ranges. */
    static const edit log[] = {
        {0, 0, 0, 0, "def f(x):\n"},
        {1, 0, 1, 0, "    return x"},
        {1, 12, 1, 12, " + '\xf0\x9f\x98\x80'"},
        {1, 16, 1, 18, "\xe4\xb8\xad\xe4\xb8\xad"}, /* the emoji (2 units) becomes 中中 */
        {1, 19, 1, 19, "!"},
        {0, 6, 0, 7, "value"},
        {1, 11, 1, 12, "value"},
        {0, 100, 0, 200, "  # f"}, /* past the line's end: clamped to it */
        {2, 0, 9, 0, "# end\n"},   /* past the document: clamped to its end */
    };
    core_buf doc = {0};
    for (size_t i = 0; i < sizeof(log) / sizeof(log[0]); i++) {
        core_str cur = {doc.ptr ? doc.ptr : "", doc.len};
        size_t a = lsp_text_offset(cur, LSP_ENCODING_UTF16, log[i].l0, log[i].c0);
        size_t b = lsp_text_offset(cur, LSP_ENCODING_UTF16, log[i].l1, log[i].c1);
        ck_assert_int_eq(lsp_text_replace(&doc, a, b, core_str_c(log[i].text), NULL), 0);
    }
    ck_assert_str_eq(doc.ptr,
                     "def f(value):  # f\n    return value + '\xe4\xb8\xad\xe4\xb8\xad'!# end\n");
    core_buf_dispose(&doc);
}
END_TEST

START_TEST(text__replace_clamps_and_survives_out_of_memory)
{
    core_buf doc = {0};
    ck_assert_int_eq(lsp_text_replace(&doc, 5, 9, core_str_c("abc"), NULL), 0);
    ck_assert_str_eq(doc.ptr, "abc");
    ck_assert_int_eq(lsp_text_replace(&doc, 2, 1, core_str_c("X"), NULL), 0);
    ck_assert_str_eq(doc.ptr, "aXbc");
    core_alloc_fail_after(1);
    char big[4096];
    memset(big, 'z', sizeof(big));
    ck_assert_int_eq(lsp_text_replace(&doc, 0, 0, (core_str){big, sizeof(big)}, NULL), CORE_ENOMEM);
    core_alloc_fail_after(0);
    ck_assert_str_eq(doc.ptr, "aXbc");
    core_buf_dispose(&doc);
}
END_TEST

START_TEST(text__file_uris_become_paths)
{
    char p[32];
    ck_assert(lsp_uri_path(p, sizeof(p), "file:///a%20b/c%2Fd.py?q#f"));
    ck_assert_str_eq(p, "/a b/c/d.py");
    ck_assert(lsp_uri_path(p, sizeof(p), "file://localhost/x.py"));
    ck_assert_str_eq(p, "/x.py");
    ck_assert(!lsp_uri_path(p, sizeof(p), "file://host/x.py"));
    ck_assert(!lsp_uri_path(p, sizeof(p), "untitled:Untitled-1"));
    ck_assert(!lsp_uri_path(p, sizeof(p), "file:///a%00b"));
    ck_assert(!lsp_uri_path(p, sizeof(p), "file:///a%4"));
    ck_assert(!lsp_uri_path(p, sizeof(p), "file:///a%zz"));
    ck_assert(!lsp_uri_path(p, 4, "file:///abcd"));
    ck_assert(lsp_uri_path(p, 5, "file:///abc"));
    ck_assert_str_eq(p, "/abc");
}
END_TEST

TCase *tcase_text(void)
{
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, text__utf16_columns_count_surrogate_pairs);
    tcase_add_test(tc, text__file_uris_become_paths);
    tcase_add_test(tc, text__utf8_columns_are_bytes_clamped_to_characters);
    tcase_add_test(tc, text__positions_past_the_end_are_clamped);
    tcase_add_test(tc, text__offset_and_position_round_trip);
    tcase_add_test(tc, text__edit_log_replays);
    tcase_add_test(tc, text__replace_clamps_and_survives_out_of_memory);
    return tc;
}
