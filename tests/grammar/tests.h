/* TCase constructors of the grammar suite, one per grammar/ file, and shared helpers. */
#ifndef KILN_TESTS_GRAMMAR_H
#define KILN_TESTS_GRAMMAR_H

#include <check.h>
#include <stdbool.h>

#include "grammar/gram.h"

TCase *tcase_lang(void);
TCase *tcase_lexer(void);
TCase *tcase_checker(void);
TCase *tcase_constraint(void);
TCase *tcase_replay(void);
TCase *tcase_metrics(void);
TCase *tcase_funcs(void);
TCase *tcase_names(void);

/* Loads a language or fails the test. */
gram_lang *test_lang_load(const char *name);

/*
 * Feeds text to a fresh checker in pieces of n bytes (0: the word pieces of
 * gram_text_split_words). Returns the byte offset of the first rejected piece, or -1 when all
 * were accepted; *complete tells whether the whole text was then complete.
 */
long test_feed(const gram_lang *lang, const char *text, size_t n, bool *complete);

#endif
