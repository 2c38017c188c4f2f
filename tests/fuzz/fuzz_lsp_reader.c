/*
 * libFuzzer target for the LSP message reader (lsp/rpc.c): the input is a byte stream fed in
 * pieces whose sizes come from the input's first byte; every body taken must lie inside what
 * was fed, and the reader must never hold more than it was given.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lsp/lsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t piece = (size_t)(data[0] % 17) + 1;
    data++;
    size--;
    lsp_reader *r = NULL;
    if (lsp_reader_new(&r, 4096, NULL) < 0) {
        return 0;
    }
    size_t fed = 0;
    size_t taken = 0;
    for (size_t at = 0; at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        if (lsp_reader_feed(r, data + at, n, NULL) < 0) {
            break;
        }
        fed += n;
        for (;;) {
            core_str body = {0};
            int rc = lsp_reader_next(r, &body, NULL);
            if (rc == 0) {
                break;
            }
            if (rc == 1) {
                taken += body.len;
                if (body.len > 4096 || taken > fed) {
                    __builtin_trap();
                }
                volatile char sink = 0;
                for (size_t i = 0; i < body.len; i++) {
                    sink ^= body.ptr[i];
                }
                (void)sink;
            }
        }
        if (lsp_reader_n_buffered(r) > fed) {
            __builtin_trap();
        }
    }
    lsp_reader_free(r);
    return 0;
}
