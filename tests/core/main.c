/* The core suite: one TCase per core/ file. */
#include <stdlib.h>

#include "tests/core/tests.h"

int main(void)
{
    Suite *s = suite_create("core");
    suite_add_tcase(s, tcase_status());
    suite_add_tcase(s, tcase_alloc());
    suite_add_tcase(s, tcase_arena());
    suite_add_tcase(s, tcase_str());
    suite_add_tcase(s, tcase_json());
    suite_add_tcase(s, tcase_io());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
