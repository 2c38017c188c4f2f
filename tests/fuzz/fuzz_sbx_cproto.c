/*
 * libFuzzer target: the C entry's prototype finder and classifier (sandbox/cstub.c) on
 * arbitrary tests text, then both generated halves of the stub. The first line names the entry
 * function when it is an identifier (else "f"). Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sandbox/sbx_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size < 64 ? size : 64);
    core_str entry = core_str_c("f");
    core_str tests = {text, size};
    if (nl != NULL && nl > text) {
        entry = (core_str){text, (size_t)(nl - text)};
        tests = (core_str){nl + 1, size - (size_t)(nl + 1 - text)};
    }
    sbx__cproto proto;
    if (sbx__cproto_parse(&proto, tests, entry, NULL) == 0) {
        core_buf t = {0};
        core_buf c = {0};
        sbx__cstub_tests(&t, &proto, entry);
        sbx__cstub_cand(&c, &proto, entry);
        core_buf_dispose(&t);
        core_buf_dispose(&c);
    }
    return 0;
}
