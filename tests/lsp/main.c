/*
 * The lsp suite: framing, positions and edits, and the server driven through pipes (the
 * protocol without a model; completion, cancellation and supersession on the default model,
 * which are skipped when scripts/setup.sh has not fetched it).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/lsp/tests.h"

int main(void)
{
    bool have_model = access(KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf", R_OK) == 0;
    Suite *s = suite_create("lsp");
    suite_add_tcase(s, tcase_rpc());
    suite_add_tcase(s, tcase_text());
    suite_add_tcase(s, tcase_server());
    suite_add_tcase(s, tcase_config());
    if (have_model) {
        suite_add_tcase(s, tcase_server_model());
    } else {
        fprintf(stderr, "test_lsp: no model in " KILN_MODELS ": completion tests skipped\n");
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
