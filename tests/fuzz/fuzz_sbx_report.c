/*
 * libFuzzer target: the parser of the sandbox's per-test report (what the tests box writes
 * back), on arbitrary bytes; the result is then written as JSON, as `kiln sandbox run --json`
 * does. Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sbx_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_buf buf = {0};
    core_buf json = {0};
    sbx_result res = {0};
    sbx__report rec;
    if (core_buf_append(&buf, data, size) == 0 && sbx__report_parse(&rec, &res, &buf) == 0) {
        sbx_result_to_json(&json, &res, NULL);
    }
    sbx_result_dispose(&res);
    core_buf_dispose(&buf);
    core_buf_dispose(&json);
    return 0;
}
