/* TCase constructors of the core suite, one per core/ file. */
#ifndef KILN_TESTS_CORE_H
#define KILN_TESTS_CORE_H

#include <check.h>

TCase *tcase_status(void);
TCase *tcase_alloc(void);
TCase *tcase_arena(void);
TCase *tcase_str(void);
TCase *tcase_json(void);
TCase *tcase_io(void);

#endif
