/*
 * libFuzzer target for the import reader of the repository context (solve/context.c): the
 * input is a document, read as Python and as C; every import listed must have a
 * NUL-terminated path and at most SOLVE_IMPORT_NAMES_MAX names, each NUL-terminated.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "solve/solve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const solve_import *im, size_t n, size_t n_max)
{
    if (n > n_max) {
        __builtin_trap();
    }
    for (size_t i = 0; i < n; i++) {
        if (!memchr(im[i].path, '\0', sizeof(im[i].path)) || im[i].path[0] == '\0' ||
            !memchr(im[i].alias, '\0', sizeof(im[i].alias)) ||
            im[i].n_names > SOLVE_IMPORT_NAMES_MAX) {
            __builtin_trap();
        }
        for (size_t k = 0; k < im[i].n_names; k++) {
            if (!memchr(im[i].names[k], '\0', sizeof(im[i].names[k]))) {
                __builtin_trap();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    solve_import im[8];
    core_str doc = {(const char *)data, size};
    check(im, solve_context_imports(im, 8, SOLVE_LANG_PYTHON, doc), 8);
    check(im, solve_context_imports(im, 8, SOLVE_LANG_C, doc), 8);
    return 0;
}
