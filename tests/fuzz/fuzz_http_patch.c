/*
 * libFuzzer target: a POST /v1/patch body (JSON) parsed into a request as http/patch.c does
 * before it resolves the repository, and inline "files" made into a repository in memory. Built
 * only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_arena *arena = NULL;
    if (core_arena_new(&arena, 4096, NULL) < 0) {
        return 0;
    }
    http_patch_req req;
    core_err err = {0};
    if (http__patch_parse(&req, arena, (core_str){(const char *)data, size}, &err) == 0 &&
        req.files != NULL) {
        patch_repo *repo = NULL;
        (void)patch_repo_from_files(&repo, req.files, req.n_files, &err);
        patch_repo_free(repo);
    }
    core_arena_free(arena);
    return 0;
}
