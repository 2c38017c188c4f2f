/*
 * libFuzzer target: the C stub runtime's decoding of an answer (sandbox/cstub/rt.c, the code
 * that reads what a candidate's process sent into the tests' process) on arbitrary bytes. The
 * first bytes (up to a zero byte, at most 16) choose the reads a generated stub would make;
 * the rest is the answer. Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/cstub/rt.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_ops = 0;
    while (n_ops < size && n_ops < 16 && data[n_ops] != 0) {
        n_ops++;
    }
    size_t off = n_ops < size ? n_ops + 1 : size;
    kiln_msg r = {0};
    r.p = malloc(size - off + 1);
    if (r.p == NULL) {
        return 0;
    }
    memcpy(r.p, data + off, size - off);
    r.len = r.cap = size - off;
    unsigned char out[64];
    for (size_t i = 0; i < n_ops; i++) {
        unsigned op = data[i] % 6;
        unsigned arg = data[i] / 6; /* 0 .. 42 */
        if (op == 0) {
            kiln_get(&r, out, arg < sizeof out ? arg : sizeof out);
        } else if (op == 1) {
            (void)kiln_get_bool(&r);
        } else if (op == 2) {
            free(kiln_get_str(&r));
        } else if (op == 3) {
            unsigned long n = 0;
            free(kiln_get_arr(&r, arg % 16 + 1, &n));
        } else if (op == 4) {
            kiln_get_back(&r, arg % 2 ? out : NULL, arg % sizeof out);
        } else if (r.bad || r.pos != r.len) {
            break; /* what kiln_end refuses */
        }
    }
    free(r.p);
    return 0;
}
