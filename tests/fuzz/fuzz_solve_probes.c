/*
 * libFuzzer target for the probe calls built from a Python signature (solve/solve_probes.c):
 * the input is an entry name, a newline and a prompt. Building must end without a crash and
 * append only whole `assert False, repr(ENTRY(...))` lines, at most 10 of them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "solve/solve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    core_str entry = {text, nl ? (size_t)(nl - text) : 0};
    core_str prompt = nl ? (core_str){nl + 1, size - entry.len - 1} : (core_str){text, size};
    core_buf out = {0};
    if (solve__probes(&out, prompt, entry, 64) != 0) {
        core_buf_dispose(&out);
        return 0;
    }
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++) {
        lines += out.ptr[i] == '\n';
    }
    if (lines > 10 || (out.len > 0 && (out.ptr[out.len - 1] != '\n' ||
                                       strncmp(out.ptr, "assert False, repr(", 19) != 0))) {
        __builtin_trap();
    }
    core_buf_dispose(&out);
    return 0;
}
