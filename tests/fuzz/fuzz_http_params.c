/*
 * libFuzzer target: an HTTP request body (JSON) parsed for every endpoint, as the server does
 * for each POST; the first byte picks the endpoint, the rest is the body. Also frames the body
 * as an SSE event. Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    core_arena *arena = NULL;
    if (core_arena_new(&arena, 4096, NULL) < 0) {
        return 0;
    }
    const http_endpoint ep = (http_endpoint)(data[0] % 7);
    const core_str body = {(const char *)data + 1, size - 1};
    http_params p;
    core_err err = {0};
    (void)http_params_parse(&p, arena, ep, body, NULL, &err);
    core_buf sse = {0};
    (void)http_sse_event(&sse, "x", body, NULL);
    core_buf_dispose(&sse);
    core_arena_free(arena);
    return 0;
}
