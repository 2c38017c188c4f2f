/* The eval suite: one TCase per eval/ file. */
#include <stdlib.h>

#include "tests/eval/tests.h"

int main(void)
{
    Suite *s = suite_create("eval");
    suite_add_tcase(s, tcase_task());
    suite_add_tcase(s, tcase_doctest());
    suite_add_tcase(s, tcase_examples());
    suite_add_tcase(s, tcase_passk());
    suite_add_tcase(s, tcase_rank());
    suite_add_tcase(s, tcase_report());
    suite_add_tcase(s, tcase_results());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
