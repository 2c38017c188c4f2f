/* Tests of grammar/lexer.c, through the checker: UTF-8, pieces that split characters. */
#include "tests/grammar/tests.h"

START_TEST(lexer__utf8_split_across_pieces)
{
    gram_lang *py = test_lang_load("python");
    bool complete = false;
    /* one byte at a time: every multi-byte character arrives in pieces */
    ck_assert_int_eq(test_feed(py, "caf\xc3\xa9 = '\xe2\x82\xac \xf0\x9f\x98\x80'\n", 1, &complete),
                     -1);
    ck_assert(complete);
    gram_lang_free(py);
}
END_TEST

START_TEST(lexer__byte_order_mark_is_skipped)
{
    gram_lang *py = test_lang_load("python");
    bool complete = false;
    ck_assert_int_eq(test_feed(py, "\xef\xbb\xbfx = 1\n", 1, &complete), -1);
    ck_assert(complete);
    gram_lang_free(py);
}
END_TEST

START_TEST(lexer__invalid_byte_is_rejected_not_crashed)
{
    gram_lang *c = test_lang_load("c");
    bool complete = true;
    ck_assert_int_eq(test_feed(c, "int x = 1;\n\xff\xfe", 1, &complete), 11);
    gram_lang_free(c);
}
END_TEST

START_TEST(lexer__column_counts_characters)
{
    /* Python's scanner measures indentation; a non-ASCII line before must not confuse it. */
    gram_lang *py = test_lang_load("python");
    bool complete = false;
    ck_assert_int_eq(test_feed(py, "if x:\n    y = '\xc3\xa9\xc3\xa9'\n    z = 2\n", 0, &complete),
                     -1);
    ck_assert(complete);
    gram_lang_free(py);
}
END_TEST

TCase *tcase_lexer(void)
{
    TCase *tc = tcase_create("lexer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lexer__utf8_split_across_pieces);
    tcase_add_test(tc, lexer__byte_order_mark_is_skipped);
    tcase_add_test(tc, lexer__invalid_byte_is_rejected_not_crashed);
    tcase_add_test(tc, lexer__column_counts_characters);
    return tc;
}
