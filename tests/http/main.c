/*
 * The http suite: request parsing, SSE framing and error bodies, the metrics text, and the
 * server on a loopback port with the default model, /v1/patch included (skipped without the
 * model file).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/http/tests.h"

int main(void)
{
    bool have_model = access(KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf", R_OK) == 0;
    Suite *s = suite_create("http");
    suite_add_tcase(s, tcase_params());
    suite_add_tcase(s, tcase_sse());
    suite_add_tcase(s, tcase_metrics());
    if (have_model) {
        suite_add_tcase(s, tcase_server());
        suite_add_tcase(s, tcase_patch());
    } else {
        fprintf(stderr, "test_http: no model in " KILN_MODELS ": server tests skipped\n");
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
