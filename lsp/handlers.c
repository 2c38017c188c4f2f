/*
 * The server's methods after initialize: text synchronization (full and incremental changes,
 * positions converted from the negotiated encoding to byte offsets), configuration, and
 * completion through solve_complete, offered as textDocument/completion items (a textEdit from
 * the start of the word at the cursor, so that clients filter them against what is typed) and
 * as textDocument/inlineCompletion items. Each document keeps a solve_session while it is
 * among the n_sessions_max most recently completed ones; closing it frees the session.
 */
#include "lsp/lsp_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Parameters                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A non-negative integer field that fits uint32, else false. */
static bool get_u32(const cJSON *obj, const char *key, uint32_t *out)
{
    const cJSON *v = get(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0) || v->valuedouble > 4294967295.0) {
        return false;
    }
    *out = (uint32_t)v->valuedouble;
    return true;
}

bool lsp__position(const cJSON *pos, uint32_t *line, uint32_t *character)
{
    return get_u32(pos, "line", line) && get_u32(pos, "character", character);
}

static cJSON *position_json(uint32_t line, uint32_t character)
{
    cJSON *p = cJSON_CreateObject();
    if (p) {
        cJSON_AddNumberToObject(p, "line", line);
        cJSON_AddNumberToObject(p, "character", character);
    }
    return p;
}

cJSON *lsp__range_json(const lsp_server *s, core_str text, size_t start, size_t end)
{
    uint32_t l0 = 0;
    uint32_t c0 = 0;
    uint32_t l1 = 0;
    uint32_t c1 = 0;
    lsp_text_position(text, s->enc, start, &l0, &c0);
    lsp_text_position(text, s->enc, end, &l1, &c1);
    cJSON *r = cJSON_CreateObject();
    if (r) {
        cJSON_AddItemToObject(r, "start", position_json(l0, c0));
        cJSON_AddItemToObject(r, "end", position_json(l1, c1));
    }
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Initialize and configuration                                                               */
/* ------------------------------------------------------------------------------------------ */

void lsp__show_message(lsp_server *s, int type, const char *text)
{
    cJSON *p = cJSON_CreateObject();
    if (p) {
        cJSON_AddNumberToObject(p, "type", type);
        cJSON_AddStringToObject(p, "message", text);
    }
    lsp__notify(s, "window/showMessage", p);
}

cJSON *lsp__initialize(lsp_server *s, const cJSON *params)
{
    const cJSON *caps = get(params, "capabilities");
    const cJSON *encs = get(get(caps, "general"), "positionEncodings");
    s->enc = LSP_ENCODING_UTF16;
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, encs)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, "utf-8") == 0) {
            s->enc = LSP_ENCODING_UTF8;
        }
    }
    s->inline_ok = get(get(caps, "textDocument"), "inlineCompletion") != NULL;
    lsp__root_set(s, params);
    /* {"kiln": {...}}, or the section itself as rust-analyzer's clients send it. */
    const cJSON *io = get(params, "initializationOptions");
    lsp__configure(s, get(io, "kiln") ? get(io, "kiln") : io);

    cJSON *res = cJSON_CreateObject();
    cJSON *c = cJSON_AddObjectToObject(res, "capabilities");
    cJSON_AddStringToObject(c, "positionEncoding", lsp_encoding_name(s->enc));
    cJSON *sync = cJSON_AddObjectToObject(c, "textDocumentSync");
    cJSON_AddBoolToObject(sync, "openClose", true);
    cJSON_AddNumberToObject(sync, "change", 2); /* incremental */
    cJSON *cp = cJSON_AddObjectToObject(c, "completionProvider");
    cJSON_AddBoolToObject(cp, "resolveProvider", true);
    if (s->inline_ok) {
        cJSON_AddObjectToObject(c, "inlineCompletionProvider");
    }
    cJSON_AddBoolToObject(c, "codeActionProvider", true);
    cJSON_AddBoolToObject(c, "hoverProvider", true);
    cJSON *cmds =
        cJSON_AddArrayToObject(cJSON_AddObjectToObject(c, "executeCommandProvider"), "commands");
    cJSON_AddItemToArray(cmds, cJSON_CreateString("kiln.implement"));
    cJSON *info = cJSON_AddObjectToObject(res, "serverInfo");
    cJSON_AddStringToObject(info, "name", "kiln");
    return res;
}

/* ------------------------------------------------------------------------------------------ */
/* Documents                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void doc_dispose(lsp__doc *d)
{
    core_free(d->uri);
    core_buf_dispose(&d->text);
    solve_session_free(d->session);
}

void lsp__docs_free(lsp_server *s)
{
    for (size_t i = 0; i < s->n_docs; i++) {
        doc_dispose(&s->docs[i]);
    }
    core_free(s->docs);
    s->docs = NULL;
    s->n_docs = 0;
    s->cap_docs = 0;
}

lsp__doc *lsp__doc_find(lsp_server *s, const char *uri)
{
    for (size_t i = 0; uri && i < s->n_docs; i++) {
        if (strcmp(s->docs[i].uri, uri) == 0) {
            return &s->docs[i];
        }
    }
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void did_open(lsp_server *s, const cJSON *params)
{
    const cJSON *td = get(params, "textDocument");
    const char *uri = get_str(td, "uri");
    const cJSON *text = get(td, "text");
    if (!uri || !cJSON_IsString(text)) {
        return;
    }
    lsp__doc *d = lsp__doc_find(s, uri);
    if (d) {
        doc_dispose(d); /* opened again: start over */
        *d = s->docs[--s->n_docs];
    }
    if (s->n_docs == s->cap_docs) {
        size_t cap = s->cap_docs * 2 + 4;
        lsp__doc *grown = core_realloc(s->docs, cap * sizeof(*grown));
        if (!grown) {
            lsp__show_message(s, 1, "kiln: out of memory opening a document");
            return;
        }
        s->docs = grown;
        s->cap_docs = cap;
    }
    d = &s->docs[s->n_docs];
    memset(d, 0, sizeof(*d));
    d->uri = core_strndup(uri, strlen(uri));
    if (!d->uri || core_buf_append(&d->text, text->valuestring, strlen(text->valuestring)) < 0 ||
        core_buf_reserve(&d->text, 0) < 0) {
        doc_dispose(d);
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_ERROR, "lsp: out of memory opening %s", uri);
        return;
    }
    s->n_docs++;
    const cJSON *version = get(td, "version");
    d->version = cJSON_IsNumber(version) ? (int64_t)version->valuedouble : 0;
    const char *lang = get_str(td, "languageId");
    /* The client's languageId decides; the file's extension only when it names neither. */
    bool py = lang ? strcmp(lang, "python") == 0 : false;
    bool c = lang ? strcmp(lang, "c") == 0 : false;
    if (!py && !c) {
        py = ends_with(uri, ".py");
        c = ends_with(uri, ".c") || ends_with(uri, ".h");
    }
    d->known_lang = py || c;
    d->lang = c ? SOLVE_LANG_C : SOLVE_LANG_PYTHON;
}

static void did_close(lsp_server *s, const cJSON *params)
{
    lsp__doc *d = lsp__doc_find(s, get_str(get(params, "textDocument"), "uri"));
    if (d) {
        doc_dispose(d);
        *d = s->docs[--s->n_docs];
    }
}

/* Applies one content change: with a range, incremental; without, the whole text. */
static int apply_change(lsp_server *s, lsp__doc *d, const cJSON *change, core_err *err)
{
    const cJSON *text = get(change, "text");
    if (!cJSON_IsString(text)) {
        return core_err_set(err, CORE_EINVAL, "a content change without text");
    }
    core_str repl = core_str_c(text->valuestring);
    const cJSON *range = get(change, "range");
    core_str cur = {d->text.ptr ? d->text.ptr : "", d->text.len};
    if (!range) {
        return lsp_text_replace(&d->text, 0, d->text.len, repl, err);
    }
    uint32_t l0 = 0;
    uint32_t c0 = 0;
    uint32_t l1 = 0;
    uint32_t c1 = 0;
    if (!lsp__position(get(range, "start"), &l0, &c0) ||
        !lsp__position(get(range, "end"), &l1, &c1)) {
        return core_err_set(err, CORE_EINVAL, "a content change with a malformed range");
    }
    size_t start = lsp_text_offset(cur, s->enc, l0, c0);
    size_t end = lsp_text_offset(cur, s->enc, l1, c1);
    return lsp_text_replace(&d->text, start, end, repl, err);
}

static void did_change(lsp_server *s, const cJSON *params)
{
    const cJSON *td = get(params, "textDocument");
    const char *uri = get_str(td, "uri");
    lsp__doc *d = lsp__doc_find(s, uri);
    if (!d) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: change of %s, which is not open",
                       uri ? uri : "(no uri)");
        return;
    }
    const cJSON *version = get(td, "version");
    if (cJSON_IsNumber(version)) {
        d->version = (int64_t)version->valuedouble;
    }
    if (d->has_diagnostics) {
        /* What an implement run reported no longer describes the changed code. */
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "uri", d->uri);
        cJSON_AddArrayToObject(p, "diagnostics");
        lsp__notify(s, "textDocument/publishDiagnostics", p);
        d->has_diagnostics = false;
    }
    const cJSON *change = NULL;
    cJSON_ArrayForEach(change, get(params, "contentChanges"))
    {
        core_err err = {0};
        if (apply_change(s, d, change, &err) < 0) {
            core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: %s: %s", d->uri, err.msg);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Completion                                                                                 */
/* ------------------------------------------------------------------------------------------ */

bool lsp__cancel_requested(void *payload)
{
    lsp_server *s = payload;
    return atomic_load(&s->cancel_reason) != 0 ||
           atomic_load_explicit(&s->stop, memory_order_relaxed);
}

/* The document's session, made when missing; the least recently used one goes when too many
   documents hold one. */
static int doc_session(lsp_server *s, lsp__doc *d, core_err *err)
{
    d->used = ++s->tick;
    if (d->session) {
        return 0;
    }
    size_t n_held = 0;
    lsp__doc *oldest = NULL;
    for (size_t i = 0; i < s->n_docs; i++) {
        if (s->docs[i].session) {
            n_held++;
            if (!oldest || s->docs[i].used < oldest->used) {
                oldest = &s->docs[i];
            }
        }
    }
    if (oldest && n_held >= s->opts.n_sessions_max) {
        solve_session_free(oldest->session);
        oldest->session = NULL;
    }
    return solve_session_new(&d->session, s->completer, &s->opts.session, err);
}

static bool is_word(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || (unsigned char)ch >= 0x80;
}

/* Completion items of res: textEdits from the word's start (so clients filter them against the
   typed word) to the cursor. */
static cJSON *completion_items(const lsp_server *s, const lsp__doc *d, core_str text, size_t at,
                               const solve_completions *res)
{
    size_t word = at;
    while (word > 0 && is_word(text.ptr[word - 1])) {
        word--;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items && i < res->n_items; i++) {
        const solve_completion *it = &res->items[i];
        if (!it->text[0]) {
            continue;
        }
        core_buf nt = {0};
        if (core_buf_append(&nt, text.ptr + word, at - word) < 0 ||
            core_buf_append(&nt, it->text, strlen(it->text)) < 0) {
            core_buf_dispose(&nt);
            break;
        }
        cJSON *item = cJSON_CreateObject();
        cJSON_AddItemToArray(items, item);
        size_t label_len = strcspn(nt.ptr, "\n");
        char label[96];
        snprintf(label, sizeof(label), "%.*s%s", (int)(label_len < 80 ? label_len : 80), nt.ptr,
                 label_len < nt.len ? " \xe2\x80\xa6" : "");
        cJSON_AddStringToObject(item, "label", label);
        cJSON_AddNumberToObject(item, "kind", 1); /* Text */
        cJSON_AddNumberToObject(item, "insertTextFormat", 1);
        cJSON_AddStringToObject(item, "filterText", nt.ptr);
        char sort[24];
        snprintf(sort, sizeof(sort), "%04zu", i);
        cJSON_AddStringToObject(item, "sortText", sort);
        char detail[96];
        snprintf(detail, sizeof(detail), "kiln: %zu tokens, mean log-prob %.2f%s", it->n_tokens,
                 it->logprob_mean, it->parses ? ", parses" : "");
        cJSON_AddStringToObject(item, "detail", detail);
        cJSON *edit = cJSON_AddObjectToObject(item, "textEdit");
        cJSON_AddItemToObject(edit, "range", lsp__range_json(s, text, word, at));
        cJSON_AddStringToObject(edit, "newText", nt.ptr);
        /* What completionItem/resolve needs to test the completed function. */
        cJSON *data = cJSON_AddObjectToObject(item, "data");
        cJSON_AddStringToObject(data, "uri", d->uri);
        cJSON_AddNumberToObject(data, "version", (double)d->version);
        cJSON_AddNumberToObject(data, "at", (double)at);
        cJSON_AddStringToObject(data, "insert", it->text);
        core_buf_dispose(&nt);
    }
    return items;
}

static cJSON *inline_items(const lsp_server *s, core_str text, size_t at,
                           const solve_completions *res)
{
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items && i < res->n_items; i++) {
        if (!res->items[i].text[0]) {
            continue;
        }
        cJSON *item = cJSON_CreateObject();
        cJSON_AddItemToArray(items, item);
        cJSON_AddStringToObject(item, "insertText", res->items[i].text);
        cJSON_AddItemToObject(item, "range", lsp__range_json(s, text, at, at));
    }
    return items;
}

/* What the completion cost, for traces and the benchmark (clients ignore unknown fields). */
static cJSON *stats_json(const solve_completions *res)
{
    cJSON *k = cJSON_CreateObject();
    if (k) {
        cJSON_AddNumberToObject(k, "promptTokens", (double)res->n_tokens_prompt);
        cJSON_AddNumberToObject(k, "reusedTokens", (double)res->n_tokens_reused);
        cJSON_AddNumberToObject(k, "decodedTokens", (double)res->n_tokens_decoded);
        cJSON_AddNumberToObject(k, "generatedTokens", (double)res->n_tokens_generated);
        cJSON_AddNumberToObject(k, "ms", floor((double)res->ns_total / 1e4) / 100.0);
        cJSON_AddBoolToObject(k, "grammar", res->grammar);
        cJSON_AddBoolToObject(k, "fim", res->fim);
    }
    return k;
}

static void complete(lsp_server *s, const lsp__msg *m, bool inline_style)
{
    const cJSON *params = get(m->json, "params");
    lsp__doc *d = lsp__doc_find(s, get_str(get(params, "textDocument"), "uri"));
    uint32_t line = 0;
    uint32_t character = 0;
    if (!d || !lsp__position(get(params, "position"), &line, &character)) {
        lsp__reply_error(s, m->id, LSP_ERR_INVALID_PARAMS,
                         d ? "completion needs a position" : "the document is not open");
        return;
    }
    if (!s->completer || !d->known_lang) {
        cJSON *empty = cJSON_CreateObject();
        cJSON_AddItemToObject(empty, "items", cJSON_CreateArray());
        lsp__reply(s, m->id, empty);
        return;
    }
    core_str text = {d->text.ptr ? d->text.ptr : "", d->text.len};
    size_t at = lsp_text_offset(text, s->enc, line, character);
    core_err err = {0};
    solve_completions *res = NULL;
    solve_complete_options o = s->complete;
    o.lang = d->lang;
    core_cancel cancel = {lsp__cancel_requested, s};
    core_buf context = {0};
    size_t n_context = 0;
    int rc = lsp__context(&context, &n_context, s, d, false, &err);
    o.context = (core_str){context.ptr ? context.ptr : "", context.len};
    if (rc == 0) {
        rc = doc_session(s, d, &err);
    }
    if (rc == 0) {
        rc = solve_complete(&res, d->session, (core_str){text.ptr, at},
                            (core_str){text.ptr + at, text.len - at}, &o, &cancel, &err);
    }
    core_buf_dispose(&context);
    if (rc == CORE_ECANCELED) {
        int why = atomic_load(&s->cancel_reason);
        lsp__reply_error(s, m->id, LSP_ERR_REQUEST_CANCELLED,
                         why == 2 ? "superseded by a newer completion" : "request cancelled");
        return;
    }
    if (rc < 0 || !res) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: completion of %s: %s", d->uri,
                       err.msg);
        lsp__reply_error(s, m->id, LSP_ERR_REQUEST_FAILED, err.msg);
        return;
    }
    core_log_write(&s->opts.log, CORE_LOG_LEVEL_INFO,
                   "lsp: completion of %s: %zu prompt tokens, %zu reused, %zu decoded, %.1f ms",
                   d->uri, res->n_tokens_prompt, res->n_tokens_reused, res->n_tokens_decoded,
                   (double)res->ns_total / 1e6);
    cJSON *out = cJSON_CreateObject();
    if (inline_style) {
        cJSON_AddItemToObject(out, "items", inline_items(s, text, at, res));
    } else {
        cJSON_AddBoolToObject(out, "isIncomplete", true);
        cJSON_AddItemToObject(out, "items", completion_items(s, d, text, at, res));
    }
    cJSON *stats = stats_json(res);
    cJSON_AddNumberToObject(stats, "contextTokens", (double)n_context);
    cJSON_AddItemToObject(out, "kiln", stats);
    solve_completions_free(res);
    lsp__reply(s, m->id, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Dispatch                                                                                   */
/* ------------------------------------------------------------------------------------------ */

void lsp__handle(lsp_server *s, lsp__msg *m)
{
    const char *method = m->method;
    const cJSON *params = get(m->json, "params");
    if (strcmp(method, "initialized") == 0) {
        char line[512];
        snprintf(line, sizeof(line), "kiln: %s; completion %s, position encoding %s",
                 s->opts.model ? gen_model_desc(s->opts.model) : "no model",
                 s->completer && solve_completer_has_fim(s->completer) ? "fill-in-the-middle"
                                                                       : "prefix-only",
                 lsp_encoding_name(s->enc));
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "type", 3); /* Info */
        cJSON_AddStringToObject(p, "message", line);
        lsp__notify(s, "window/logMessage", p);
        lsp__warm_up(s); /* the client is opening its files: the model is idle */
    } else if (strcmp(method, "textDocument/didOpen") == 0) {
        did_open(s, params);
    } else if (strcmp(method, "textDocument/didChange") == 0) {
        did_change(s, params);
    } else if (strcmp(method, "textDocument/didClose") == 0) {
        did_close(s, params);
    } else if (strcmp(method, "workspace/didChangeConfiguration") == 0) {
        lsp__configure(s, get(get(params, "settings"), "kiln"));
    } else if (m->id && strcmp(method, "textDocument/completion") == 0) {
        complete(s, m, false);
    } else if (m->id && strcmp(method, "textDocument/inlineCompletion") == 0) {
        complete(s, m, true);
    } else if (m->id && strcmp(method, "textDocument/codeAction") == 0) {
        lsp__code_action(s, m);
    } else if (m->id && strcmp(method, "textDocument/hover") == 0) {
        lsp__hover(s, m);
    } else if (m->id && strcmp(method, "workspace/executeCommand") == 0 &&
               get_str(params, "command") &&
               strcmp(get_str(params, "command"), "kiln.implement") == 0) {
        lsp__implement(s, m);
    } else if (m->id && strcmp(method, "completionItem/resolve") == 0) {
        lsp__resolve(s, m);
    } else if (m->id) {
        char msg[160];
        snprintf(msg, sizeof(msg), "method not found: %.100s", method);
        lsp__reply_error(s, m->id, LSP_ERR_METHOD_NOT_FOUND, msg);
    }
}
