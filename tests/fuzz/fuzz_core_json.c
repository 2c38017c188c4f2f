/*
 * libFuzzer target: core/json.c on arbitrary bytes. The escaped string must be valid UTF-8
 * (every byte of the output passes core_utf8_len), start and end with a quote and hold no raw
 * control character; core_utf8_len must agree with itself at every offset. Built only with
 * clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_str in = {(const char *)data, size};
    for (size_t i = 0; i < size; i++) {
        size_t n = core_utf8_len(in, i);
        if (n > 4 || i + n > size || (data[i] < 0x80 && n != 1)) {
            abort();
        }
    }
    core_buf out = {0};
    if (core_buf_append_json(&out, in) == 0) {
        core_str js = {out.ptr, out.len};
        if (out.len < 2 || out.ptr[0] != '"' || out.ptr[out.len - 1] != '"') {
            abort();
        }
        for (size_t i = 0; i < js.len;) {
            size_t n = core_utf8_len(js, i);
            if (n == 0 || (unsigned char)js.ptr[i] < 0x20 || (unsigned char)js.ptr[i] == 0x7f) {
                abort();
            }
            i += n;
        }
    }
    core_buf_dispose(&out);
    return 0;
}
