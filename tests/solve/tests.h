/* TCase constructors of the solve suite, one per source file of solve/. */
#ifndef KILN_TESTS_SOLVE_H
#define KILN_TESTS_SOLVE_H

#include <check.h>

TCase *tcase_text(void);
TCase *tcase_probes(void);
TCase *tcase_solve(void);
TCase *tcase_json(void);
TCase *tcase_write(void);
TCase *tcase_complete(void);
TCase *tcase_complete_model(void);
TCase *tcase_gate(void);
TCase *tcase_remote(void);
TCase *tcase_context(void);
TCase *tcase_workspace(void);
TCase *tcase_context_model(void);

#endif
