/* The patch suite: one TCase per patch/ file, plus the CI examples. The verification cases
 * need the sandbox (root); without it the suite exits 77 (skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/patch/tests.h"

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_patch: skipped, the sandbox needs root\n");
        return 77;
    }
    Suite *s = suite_create("patch");
    suite_add_tcase(s, tcase_repo());
    suite_add_tcase(s, tcase_target());
    suite_add_tcase(s, tcase_patch());
    suite_add_tcase(s, tcase_agree());
    suite_add_tcase(s, tcase_output());
    suite_add_tcase(s, tcase_ci());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
