/* TCase constructors of the eval suite, one per eval/ file. */
#ifndef KILN_TESTS_EVAL_H
#define KILN_TESTS_EVAL_H

#include <check.h>

#include "eval/eval.h"

TCase *tcase_task(void);
TCase *tcase_doctest(void);
TCase *tcase_examples(void);
TCase *tcase_passk(void);
TCase *tcase_rank(void);
TCase *tcase_report(void);

/* An extractor under test: name is the case's name from the fixture ("=== name"). */
typedef int (*test_extract_fn)(const char ***out, size_t *n_out, size_t *n_skipped,
                               core_arena *arena, core_str text, const char *name, core_err *err);

/*
 * Runs the cases of a fixture file: "=== name", the input, "--- expect", the expected lines,
 * "--- skipped N"; asserts there are n_cases_want of them.
 */
void test_extract_cases(const char *path, test_extract_fn extract, size_t n_cases_want);

/*
 * Fails the N-th allocation of extract on text for N = 1, 2, ... until it succeeds with n_want
 * lines; every failure must be CORE_ENOMEM with message msg_want and leak nothing.
 */
void test_extract_enomem(test_extract_fn extract, const char *name, const char *text, size_t n_want,
                         const char *msg_want);

#endif
