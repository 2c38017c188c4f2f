/* The grammar suite: one TCase per grammar/ file. */
#include <stdlib.h>
#include <string.h>

#include "tests/grammar/tests.h"

gram_lang *test_lang_load(const char *name)
{
    gram_lang *lang = NULL;
    core_err err = {0};
    ck_assert_int_eq(gram_lang_load(&lang, name, &err), 0);
    ck_assert_ptr_nonnull(lang);
    return lang;
}

long test_feed(const gram_lang *lang, const char *text, size_t n, bool *complete)
{
    gram_checker *c = NULL;
    size_t len = strlen(text);
    size_t *ends = NULL;
    size_t n_ends = 0;
    ck_assert_int_eq(gram_checker_new(&c, lang, NULL, NULL), 0);
    if (n == 0) {
        ck_assert_int_eq(gram_text_split_words((core_str){text, len}, &ends, &n_ends, NULL), 0);
    }
    long rejected = -1;
    size_t start = 0;
    for (size_t i = 0; start < len; i++) {
        size_t end = n ? (start + n < len ? start + n : len) : ends[i];
        bool viable = false;
        ck_assert_int_eq(gram_checker_feed(c, (core_str){text + start, end - start}, &viable, NULL),
                         0);
        if (!viable) {
            rejected = (long)start;
            break;
        }
        start = end;
    }
    *complete = false;
    if (rejected < 0) {
        ck_assert_int_eq(gram_checker_is_complete(c, complete, NULL), 0);
    }
    core_free(ends);
    gram_checker_free(c);
    return rejected;
}

int main(void)
{
    Suite *s = suite_create("grammar");
    suite_add_tcase(s, tcase_lang());
    suite_add_tcase(s, tcase_lexer());
    suite_add_tcase(s, tcase_checker());
    suite_add_tcase(s, tcase_constraint());
    suite_add_tcase(s, tcase_replay());
    suite_add_tcase(s, tcase_metrics());
    suite_add_tcase(s, tcase_funcs());
    suite_add_tcase(s, tcase_names());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
