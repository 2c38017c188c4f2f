/* Tests of grammar/replay.c: replays and the word splitter. */
#include "tests/grammar/tests.h"

#include <string.h>

START_TEST(replay__split_words_makes_bpe_like_pieces)
{
    const char *text = "def  f(x_1):\n\treturn caf\xc3\xa9\n";
    size_t *ends = NULL;
    size_t n = 0;
    ck_assert_int_eq(gram_text_split_words(core_str_c(text), &ends, &n, NULL), 0);
    /* def, "  ", f, (, x_1, ), :, \n, \t, return, " ", café, \n */
    ck_assert_uint_eq(n, 13);
    ck_assert_uint_eq(ends[0], 3);
    ck_assert_uint_eq(ends[1], 5);
    ck_assert_uint_eq(ends[4], 10);
    ck_assert_uint_eq(ends[n - 1], strlen(text));
    core_free(ends);
}
END_TEST

START_TEST(replay__reports_the_rejected_piece)
{
    gram_lang *c = test_lang_load("c");
    const char *text = "int f(void) {\n    return 0;\n}\n}\n";
    core_str s = core_str_c(text);
    size_t *ends = NULL;
    size_t n = 0;
    ck_assert_int_eq(gram_text_split_words(s, &ends, &n, NULL), 0);
    gram_replay_report rep;
    ck_assert_int_eq(gram_replay(&rep, c, s, ends, n, NULL), 0);
    ck_assert(!rep.accepted);
    ck_assert_uint_eq(rep.rejected_byte, 30); /* the second closing brace */
    ck_assert_uint_eq(rep.n_fed, rep.rejected_token);
    ck_assert_uint_eq(rep.n_tokens, n);

    s.len = 30;
    ck_assert_int_eq(gram_replay(&rep, c, s, ends, rep.rejected_token, NULL), 0);
    ck_assert(rep.accepted);
    ck_assert(rep.complete);
    ck_assert_uint_eq(rep.rejected_byte, SIZE_MAX);
    core_free(ends);
    gram_lang_free(c);
}
END_TEST

START_TEST(replay__bad_ends_and_text_are_errors)
{
    gram_lang *py = test_lang_load("python");
    gram_replay_report rep;
    size_t ends[] = {3, 2, 5};
    core_err err = {0};
    ck_assert_int_eq(gram_replay(&rep, py, core_str_c("x = 1"), ends, 3, &err), CORE_EINVAL);
    size_t short_ends[] = {2};
    ck_assert_int_eq(gram_replay(&rep, py, core_str_c("x = 1"), short_ends, 1, &err), CORE_EINVAL);
    size_t one[] = {4};
    ck_assert_int_eq(gram_replay(&rep, py, core_str_c("x\xff=1"), one, 1, &err), CORE_EPARSE);
    gram_lang_free(py);
}
END_TEST

TCase *tcase_replay(void)
{
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, replay__split_words_makes_bpe_like_pieces);
    tcase_add_test(tc, replay__reports_the_rejected_piece);
    tcase_add_test(tc, replay__bad_ends_and_text_are_errors);
    return tc;
}
