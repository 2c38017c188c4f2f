/*
 * The solve suite: the pipeline's text pieces (prompts, where a function ends, which tests a
 * task has) and whole runs on the real default model. Without the model file (scripts/setup.sh
 * fetches it) only the text tests run and the suite exits 77 (skipped) when they pass.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/solve/tests.h"

int main(void)
{
    bool have_model = access(KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf", R_OK) == 0;
    Suite *s = suite_create("solve");
    suite_add_tcase(s, tcase_text());
    suite_add_tcase(s, tcase_probes());
    suite_add_tcase(s, tcase_json());
    suite_add_tcase(s, tcase_complete());
    suite_add_tcase(s, tcase_remote());
    suite_add_tcase(s, tcase_context());
    suite_add_tcase(s, tcase_workspace());
    if (have_model) {
        suite_add_tcase(s, tcase_solve());
        suite_add_tcase(s, tcase_write());
        suite_add_tcase(s, tcase_complete_model());
        suite_add_tcase(s, tcase_gate());
        suite_add_tcase(s, tcase_context_model());
    } else {
        fprintf(stderr, "test_solve: no model in " KILN_MODELS ": model tests skipped\n");
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (n_failed != 0) {
        return EXIT_FAILURE;
    }
    return have_model ? EXIT_SUCCESS : 77;
}
