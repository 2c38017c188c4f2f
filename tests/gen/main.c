/* The gen suite: one TCase per gen/ file. */
#include <stdlib.h>

#include "tests/gen/tests.h"

int main(void)
{
    Suite *s = suite_create("gen");
    suite_add_tcase(s, tcase_gguf());
    suite_add_tcase(s, tcase_model());
    suite_add_tcase(s, tcase_sampler());
    suite_add_tcase(s, tcase_ctx());
    suite_add_tcase(s, tcase_pool());
    suite_add_tcase(s, tcase_tokenizer());
    suite_add_tcase(s, tcase_forward());
    suite_add_tcase(s, tcase_golden());
    suite_add_tcase(s, tcase_sched());
    suite_add_tcase(s, tcase_chat());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
