/*
 * libFuzzer target: `kiln eval merge` (eval_results_merge) on arbitrary bytes taken as shards'
 * results files; a form feed (0x0c) in the input separates files, so several shards come from
 * one input. Checks that every input is merged or refused with a named error, and that a merge
 * ends its records with the summary it returns. Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eval/eval.h"

/* Most files taken from one input. */
#define FUZZ_FILES_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[FUZZ_FILES_MAX] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    static const size_t ks[] = {1, 2, 10};
    core_str files[FUZZ_FILES_MAX];
    size_t n_files = 0;
    const char *p = (const char *)data;
    const char *end = p + size;
    while (n_files < FUZZ_FILES_MAX) {
        const char *ff = memchr(p, '\f', (size_t)(end - p));
        if (!ff || n_files == FUZZ_FILES_MAX - 1) {
            files[n_files++] = (core_str){p, (size_t)(end - p)};
            break;
        }
        files[n_files++] = (core_str){p, (size_t)(ff - p)};
        p = ff + 1;
    }
    core_buf records = {0};
    core_buf summary = {0};
    core_err err = {0};
    int rc = eval_results_merge(&records, &summary, files, names, n_files, ks, 3, &err);
    CORE_ASSERT(rc == 0 || rc == CORE_EPARSE || rc == CORE_EINVAL || rc == CORE_ENOMEM);
    if (rc == 0) {
        CORE_ASSERT(summary.ptr != NULL && records.ptr != NULL);
        CORE_ASSERT(strstr(records.ptr, summary.ptr) != NULL);
    } else {
        CORE_ASSERT(err.msg[0] != '\0');
    }
    core_buf_dispose(&records);
    core_buf_dispose(&summary);
    return 0;
}
