/*
 * libFuzzer target: the remote backend's stream reader (solve/remote.c) on arbitrary bytes as a
 * server's answer: the SSE reader, split where the input's first byte says, and every event's
 * data through the completion-chunk parser, as solve_backend_complete runs them. Checks that
 * every input is read or refused with a named error, that the text the pieces add up to grows
 * only by what chunks carried, and that nothing leaks. Built only with clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "solve/solve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct state {
    solve__chunk chunk;
    size_t n_events;
} state;

static int on_event(void *payload, core_str d, core_err *err)
{
    state *st = payload;
    st->n_events++;
    size_t before = st->chunk.text.len;
    int rc = solve__chunk_parse(&st->chunk, d, err);
    CORE_ASSERT(rc == 0 || rc == CORE_EPARSE || rc == CORE_EIO || rc == CORE_ENOMEM);
    CORE_ASSERT(rc < 0 || st->chunk.text.len >= before);
    CORE_ASSERT(rc == 0 || err->msg[0] != '\0');
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t split = data[0] % 8 + 1; /* bytes per feed */
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    solve__sse sse;
    memset(&sse, 0, sizeof(sse));
    state st;
    memset(&st, 0, sizeof(st));
    core_err err = {0};
    int rc = 0;
    while (left > 0 && rc == 0) {
        size_t n = left < split ? left : split;
        rc = solve__sse_feed(&sse, p, n, on_event, &st, &err);
        p += n;
        left -= n;
    }
    CORE_ASSERT(rc == 0 || rc == CORE_EPARSE || rc == CORE_EIO || rc == CORE_ENOMEM);
    CORE_ASSERT(rc == 0 || err.msg[0] != '\0');
    solve__sse_dispose(&sse);
    core_buf_dispose(&st.chunk.text);
    return 0;
}
