/*
 * Server-sent events (the WHATWG HTML "event stream" format): an event is optional "event:"
 * and one "data:" line per line of its payload, ended by a blank line; a line starting with
 * ':' is a comment, which clients ignore (the keep-alive ping). Also the OpenAI error body.
 */
#include "http/http.h"

#include <cjson/cJSON.h>
#include <string.h>

int http_sse_event(core_buf *out, const char *event, core_str data, core_err *err)
{
    int rc = 0;
    if (event && event[0]) {
        rc = core_buf_appendf(out, "event: %s\n", event);
    }
    /* Each line of data becomes its own data: line (CR, LF and CRLF all end a line). */
    size_t i = 0;
    while (rc == 0) {
        size_t j = i;
        while (j < data.len && data.ptr[j] != '\n' && data.ptr[j] != '\r') {
            j++;
        }
        rc = core_buf_append(out, "data: ", 6);
        if (rc == 0) {
            rc = core_buf_append(out, data.ptr + i, j - i);
        }
        if (rc == 0) {
            rc = core_buf_append(out, "\n", 1);
        }
        if (j >= data.len) {
            break;
        }
        if (data.ptr[j] == '\r' && j + 1 < data.len && data.ptr[j + 1] == '\n') {
            j++;
        }
        i = j + 1;
    }
    if (rc == 0) {
        rc = core_buf_append(out, "\n", 1);
    }
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "sse: out of memory") : 0;
}

int http_sse_comment(core_buf *out, const char *text, core_err *err)
{
    if (core_buf_appendf(out, ": %s\n\n", text) < 0) {
        return core_err_set(err, CORE_ENOMEM, "sse: out of memory");
    }
    return 0;
}

const char *http_error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
        return "invalid_request_error";
    case 401:
    case 403:
        return "authentication_error";
    case 429:
        return "rate_limit_error";
    case 503:
        return "unavailable_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

int http_error_json(core_buf *out, int status, const char *message, const char *param,
                    core_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    bool ok = root && e && cJSON_AddStringToObject(e, "message", message) &&
              cJSON_AddStringToObject(e, "type", http_error_type(status)) &&
              (param ? cJSON_AddStringToObject(e, "param", param) != NULL
                     : cJSON_AddNullToObject(e, "param") != NULL) &&
              cJSON_AddNumberToObject(e, "code", status);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    int rc = text ? core_buf_append(out, text, strlen(text)) : CORE_ENOMEM;
    cJSON_free(text);
    cJSON_Delete(root);
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "error body: out of memory") : 0;
}
