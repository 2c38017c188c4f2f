/*
 * libFuzzer target for the test-file globs of the workspace's configuration (solve/workspace.c):
 * the input is a glob, a newline and a path. Matching must end (its steps are bounded) and a
 * glob without special characters must match exactly itself; the setting checks must accept
 * or refuse with a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "solve/solve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = strchr(buf, '\n');
    const char *glob = buf;
    const char *path = "";
    if (nl) {
        *nl = '\0';
        path = nl + 1;
    }
    bool match = solve_glob_match(glob, path);
    if (!strpbrk(glob, "*?[\\") && match != (strcmp(glob, path) == 0)) {
        __builtin_trap();
    }
    const char *why = NULL;
    if (solve_test_glob_check(glob, &why) == (why != NULL)) {
        __builtin_trap();
    }
    if (solve_test_command_check(path, &why) == (why != NULL)) {
        __builtin_trap();
    }
    free(buf);
    return 0;
}
