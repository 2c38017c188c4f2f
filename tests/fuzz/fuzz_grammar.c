/*
 * libFuzzer target: the incremental grammar checker on arbitrary text, as a model would feed
 * it. The first byte picks the language and how the rest is cut into pieces; every piece is
 * fed (rejections are fine), and completeness is asked at the end and halfway; the whole text
 * then goes through the source check and the C name check (with a compiler that does not
 * exist, so no header is preprocessed and no process starts). Built only with clang and
 * -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>

#include "grammar/gram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *name = data[0] & 1 ? "c" : "python";
    size_t step = 1 + (data[0] >> 1) % 7;
    gram_lang *lang = NULL;
    gram_checker *checker = NULL;
    if (gram_lang_load(&lang, name, NULL) != 0) {
        return 0;
    }
    if (gram_checker_new(&checker, lang, NULL, NULL) == 0) {
        const char *text = (const char *)data + 1;
        size_t n = size - 1;
        for (size_t i = 0; i < n; i += step) {
            core_str piece = {text + i, i + step <= n ? step : n - i};
            bool viable = false;
            gram_checker_feed(checker, piece, &viable, NULL);
        }
        bool complete = false;
        gram_checker_is_complete(checker, &complete, NULL);
        gram_checker_is_complete_at(checker, gram_checker_text(checker).len / 2, &complete, NULL);
        gram_source_report report;
        gram_source_check(&report, lang, gram_checker_text(checker), NULL);
        gram_names *names = NULL;
        if (gram_names_new(&names, "/nonexistent/kiln-fuzz-cc", NULL) == 0) {
            size_t at = 0;
            gram_names_check(&at, names, lang, gram_checker_text(checker), NULL);
        }
        gram_names_free(names);
    }
    gram_checker_free(checker);
    gram_lang_free(lang);
    return 0;
}
