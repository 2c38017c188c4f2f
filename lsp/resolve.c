/*
 * completionItem/resolve: what the tests say of a completion. Each completion item carries in
 * its data the document, its version, the cursor's byte offset and the text kiln would insert;
 * resolving it runs the tests of the function around the cursor on the document with that text
 * in it (solve_complete_test: the docstring's examples and the workspace's pytest tests, in the
 * sandbox, or the configured test command) and adds the verdict to the item's detail and
 * documentation. An item of an older version of the document, or one with nothing to test, comes
 * back as it was.
 */
#include "lsp/lsp_int.h"

#include <stdio.h>
#include <string.h>

/* The verdict as a line of Markdown. */
static void verdict_text(char *out, size_t cap, const solve_complete_verdict *v)
{
    const char *src = v->command                           ? "test command"
                      : v->source == SOLVE_TESTS_DOCSTRING ? "docstring examples"
                                                           : "tests";
    char ws[64] = "";
    if (v->n_workspace_tests > 0) {
        snprintf(ws, sizeof(ws), v->command ? " (%zu test files)" : ", %zu from the workspace",
                 v->n_workspace_tests);
    }
    snprintf(out, cap, "kiln ran the %s of `%s`%s: %s, %zu/%zu passed%s%.300s", src, v->entry, ws,
             sbx_verdict_name(v->verdict), v->n_tests_passed, v->n_tests_run,
             v->message[0] ? ": " : "", v->message);
}

void lsp__resolve(lsp_server *s, const lsp__msg *m)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->json, "params");
    cJSON *item = cJSON_IsObject(params) ? cJSON_Duplicate(params, true) : NULL;
    if (!item) {
        lsp__reply_error(s, m->id, LSP_ERR_INVALID_PARAMS, "completionItem/resolve needs an item");
        return;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(params, "data");
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(data, "uri");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(data, "version");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(data, "at");
    const cJSON *insert = cJSON_GetObjectItemCaseSensitive(data, "insert");
    lsp__doc *d = cJSON_IsString(uri) ? lsp__doc_find(s, uri->valuestring) : NULL;
    if (!d || !s->completer || !cJSON_IsNumber(version) || !cJSON_IsNumber(at) ||
        !cJSON_IsString(insert) || (int64_t)version->valuedouble != d->version ||
        !(at->valuedouble >= 0.0) || at->valuedouble > (double)d->text.len) {
        lsp__reply(s, m->id, item); /* stale or not ours: as it was */
        return;
    }
    size_t off = (size_t)at->valuedouble;
    core_buf whole = {0};
    core_err err = {0};
    int rc = 0;
    if (core_buf_append(&whole, d->text.ptr, off) < 0 ||
        core_buf_append(&whole, insert->valuestring, strlen(insert->valuestring)) < 0 ||
        core_buf_append(&whole, d->text.ptr + off, d->text.len - off) < 0) {
        rc = core_err_set(&err, CORE_ENOMEM, "lsp: out of memory resolving a completion");
    }
    lsp__pool_ready(s);
    if (s->tests[d->lang].command) {
        lsp__tree_ready(s);
    }
    lsp__ws ws;
    memset(&ws, 0, sizeof(ws));
    if (rc == 0) {
        rc = lsp__ws_init(&ws, s, d, &err);
    }
    solve_complete_verdict v;
    memset(&v, 0, sizeof(v));
    core_cancel cancel = {lsp__cancel_requested, s};
    if (rc == 0) {
        rc = solve_complete_test(&v, s->pool, s->completer, d->lang,
                                 (core_str){whole.ptr, whole.len}, off, core_str_c(""),
                                 ws.ok ? &ws.o : NULL, NULL, &cancel, &err);
    }
    lsp__ws_dispose(&ws);
    core_buf_dispose(&whole);
    if (rc == CORE_ECANCELED) {
        cJSON_Delete(item);
        lsp__reply_error(s, m->id, LSP_ERR_REQUEST_CANCELLED, "request cancelled");
        return;
    }
    if (rc < 0) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: resolve: %s", err.msg);
    }
    if (rc == 0 && v.tested) {
        char text[768];
        verdict_text(text, sizeof(text), &v);
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(item, "detail");
        char detail[256];
        snprintf(detail, sizeof(detail), "%.120s%stests %zu/%zu %s",
                 cJSON_IsString(old) ? old->valuestring : "", cJSON_IsString(old) ? "; " : "",
                 v.n_tests_passed, v.n_tests_run, sbx_verdict_name(v.verdict));
        cJSON_DeleteItemFromObjectCaseSensitive(item, "detail");
        cJSON_AddStringToObject(item, "detail", detail);
        cJSON_DeleteItemFromObjectCaseSensitive(item, "documentation");
        cJSON *doc = cJSON_AddObjectToObject(item, "documentation");
        cJSON_AddStringToObject(doc, "kind", "markdown");
        cJSON_AddStringToObject(doc, "value", text);
        cJSON *k = cJSON_AddObjectToObject(item, "kiln");
        cJSON_AddStringToObject(k, "function", v.entry);
        cJSON_AddStringToObject(k, "verdict", sbx_verdict_name(v.verdict));
        cJSON_AddNumberToObject(k, "testsRun", (double)v.n_tests_run);
        cJSON_AddNumberToObject(k, "testsPassed", (double)v.n_tests_passed);
        cJSON_AddNumberToObject(k, "workspaceTests", (double)v.n_workspace_tests);
        cJSON_AddBoolToObject(k, "command", v.command);
    }
    lsp__reply(s, m->id, item);
}
