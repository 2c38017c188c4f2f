/* libFuzzer target for kiln patch's parsers of outside input: the first byte picks one.
 * 0: a test run's output (pytest's summary lines) as patch__outcomes_parse reads it; 1 and 2: a
 * repository's Python or C file as gram_funcs_find lists it (every range must lie inside the
 * text and be ordered). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram.h"
#include "patch/patch_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_funcs(const char *lang_name, core_str text)
{
    gram_lang *lang = NULL;
    if (gram_lang_load(&lang, lang_name, NULL) < 0) {
        abort();
    }
    gram_func *fs = NULL;
    size_t n = 0;
    if (gram_funcs_find(&fs, &n, lang, text, NULL) == 0) {
        for (size_t i = 0; i < n; i++) {
            const gram_func *f = &fs[i];
            if (f->def_start > f->def_end || f->def_end > text.len ||
                f->name_start + f->name_len > f->def_end || f->head_end > f->def_end ||
                f->impl_start > f->def_end || f->doc_start + f->doc_len > text.len) {
                abort();
            }
        }
    }
    core_free(fs);
    gram_lang_free(lang);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    core_str text = {(const char *)data + 1, size - 1};
    switch (data[0] % 3) {
    case 0: {
        patch_test_run run;
        memset(&run, 0, sizeof run);
        run.exit_code = (data[0] & 4) ? 1 : 0;
        if (patch__outcomes_parse(&run, text) == 0 &&
            (run.failed == NULL || run.passed == NULL || run.output == NULL)) {
            abort();
        }
        patch__run_dispose(&run);
        break;
    }
    case 1:
        check_funcs("python", text);
        break;
    default:
        check_funcs("c", text);
        break;
    }
    return 0;
}
