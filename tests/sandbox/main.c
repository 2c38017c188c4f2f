/* The sandbox suite: one TCase per sandbox/ file plus the hostile cases. Needs root (the
 * sandbox creates namespaces, cgroups and uid maps); exits 77 (skipped) otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/sandbox/tests.h"

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_sandbox: skipped, the sandbox needs root\n");
        return 77;
    }
    Suite *s = suite_create("sandbox");
    suite_add_tcase(s, tcase_result());
    suite_add_tcase(s, tcase_filter());
    suite_add_tcase(s, tcase_cgroup());
    suite_add_tcase(s, tcase_box());
    suite_add_tcase(s, tcase_pool());
    suite_add_tcase(s, tcase_cstub());
    suite_add_tcase(s, tcase_hostile());
    suite_add_tcase(s, tcase_hostile_c());
    suite_add_tcase(s, tcase_tree());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
