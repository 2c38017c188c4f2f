/* TCase constructors of the http suite, one per http/ file under test. */
#ifndef KILN_TESTS_HTTP_H
#define KILN_TESTS_HTTP_H

#include <check.h>

TCase *tcase_params(void);
TCase *tcase_sse(void);
TCase *tcase_metrics(void);
TCase *tcase_server(void);

#endif
