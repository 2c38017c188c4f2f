/* TCase constructors of the eval suite, one per eval/ file. */
#ifndef KILN_TESTS_EVAL_H
#define KILN_TESTS_EVAL_H

#include <check.h>

TCase *tcase_task(void);
TCase *tcase_doctest(void);
TCase *tcase_passk(void);
TCase *tcase_rank(void);
TCase *tcase_report(void);
TCase *tcase_results(void);

#endif
