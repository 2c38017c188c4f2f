/*
 * "Implement and test": the kiln.implement code action on a Python function whose body is a
 * stub (`pass`, `...`, `raise NotImplementedError`, a `# TODO` comment, or nothing after the
 * docstring). The command runs the pipeline (solve_run: write, test against the docstring's
 * examples in the sandbox, repair, rank) with the document up to the end of the docstring as
 * the task's prompt, reports its stages through $/progress when the client supports work-done
 * progress, sends the chosen candidate back through workspace/applyEdit, publishes what failed
 * as diagnostics on the function (cleared when the function is implemented with passing tests
 * or changes), and keeps the candidate's score card for textDocument/hover on the function.
 */
#include "lsp/lsp_int.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Finding stubs                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* A line of text: [start, end) without its newline; next is the following line's start. */
typedef struct line_span {
    size_t start;
    size_t end;
    size_t next;
} line_span;

static line_span line_at(core_str t, size_t start)
{
    line_span l = {start, start, start};
    while (l.end < t.len && t.ptr[l.end] != '\n') {
        l.end++;
    }
    l.next = l.end < t.len ? l.end + 1 : l.end;
    return l;
}

static size_t indent_of(core_str t, line_span l, bool *blank)
{
    size_t i = l.start;
    while (i < l.end && (t.ptr[i] == ' ' || t.ptr[i] == '\t')) {
        i++;
    }
    *blank = i == l.end || t.ptr[i] == '\r';
    return i - l.start;
}

static bool starts_with(core_str t, size_t at, size_t end, const char *s)
{
    size_t n = strlen(s);
    return end - at >= n && memcmp(t.ptr + at, s, n) == 0;
}

/* A stub function found around a line. Offsets into the document. */
typedef struct stub {
    size_t def;        /* start of the def line */
    size_t prompt_end; /* end of the signature and docstring (after their newline) */
    bool semicolon;    /* C, an empty body: the prompt's prototype needs a ';' after it */
    size_t body_end;   /* end of the stub body (after its last line's newline) */
    char name[128];    /* the function's name */
} stub;

/* Finds the Python function around byte offset at whose body is a stub. */
static bool find_stub_python(core_str t, size_t at, stub *out)
{
    out->semicolon = false;
    /* The def line at or above at. */
    size_t ls = at;
    while (ls > 0 && t.ptr[ls - 1] != '\n') {
        ls--;
    }
    for (;;) {
        line_span l = line_at(t, ls);
        bool blank = false;
        size_t ind = indent_of(t, l, &blank);
        size_t p = l.start + ind;
        if (starts_with(t, p, l.end, "async ")) {
            p += 6;
        }
        if (starts_with(t, p, l.end, "def ")) {
            size_t n0 = p + 4;
            size_t n1 = n0;
            while (n1 < l.end && (t.ptr[n1] == '_' || (t.ptr[n1] >= '0' && t.ptr[n1] <= '9') ||
                                  ((t.ptr[n1] | 0x20) >= 'a' && (t.ptr[n1] | 0x20) <= 'z'))) {
                n1++;
            }
            if (n1 == n0 || n1 - n0 >= sizeof(out->name)) {
                return false;
            }
            memcpy(out->name, t.ptr + n0, n1 - n0);
            out->name[n1 - n0] = '\0';
            out->def = l.start;
            /* The signature ends at the first line ending with ':'. */
            line_span s = l;
            while (s.end > s.start &&
                   !(t.ptr[s.end - 1] == ':' || (t.ptr[s.end - 1] == '\r' && s.end - 1 > s.start &&
                                                 t.ptr[s.end - 2] == ':'))) {
                if (s.next >= t.len) {
                    return false;
                }
                s = line_at(t, s.next);
            }
            size_t pos = s.next;
            out->prompt_end = pos;
            out->body_end = pos;
            bool in_doc = false;
            bool doc_done = false;
            char quote[4] = {0};
            while (pos < t.len) {
                line_span b = line_at(t, pos);
                bool bl = false;
                size_t bi = indent_of(t, b, &bl);
                if (!bl && bi <= ind && !in_doc) {
                    break;
                }
                size_t q = b.start + bi;
                if (in_doc) {
                    for (size_t k = q; k + 3 <= b.end; k++) {
                        if (memcmp(t.ptr + k, quote, 3) == 0) {
                            in_doc = false;
                            doc_done = true;
                            out->prompt_end = b.next;
                            break;
                        }
                    }
                } else if (!bl && !doc_done && out->body_end == out->prompt_end &&
                           (starts_with(t, q, b.end, "\"\"\"") ||
                            starts_with(t, q, b.end, "'''"))) {
                    memcpy(quote, t.ptr + q, 3);
                    in_doc = true;
                    for (size_t k = q + 3; k + 3 <= b.end; k++) {
                        if (memcmp(t.ptr + k, quote, 3) == 0) {
                            in_doc = false;
                            break;
                        }
                    }
                    doc_done = !in_doc;
                    if (doc_done) {
                        out->prompt_end = b.next;
                    }
                } else if (!bl &&
                           !(starts_with(t, q, b.end, "pass") || starts_with(t, q, b.end, "...") ||
                             starts_with(t, q, b.end, "raise NotImplementedError") ||
                             starts_with(t, q, b.end, "#"))) {
                    return false; /* a real statement: not a stub */
                }
                if (!bl) {
                    out->body_end = b.next;
                }
                pos = b.next;
            }
            if (out->body_end < out->prompt_end) {
                out->body_end = out->prompt_end;
            }
            return at <= out->body_end || at <= out->prompt_end;
        }
        if (ls == 0) {
            return false;
        }
        ls--;
        while (ls > 0 && t.ptr[ls - 1] != '\n') {
            ls--;
        }
    }
}

static bool is_ident(char ch)
{
    return ch == '_' || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
}

/* The name before the first '(' of [start, end), into out. */
static bool c_name(core_str t, size_t start, size_t end, stub *out)
{
    const char *paren = memchr(t.ptr + start, '(', end - start);
    if (!paren) {
        return false;
    }
    size_t n1 = (size_t)(paren - t.ptr);
    while (n1 > start && t.ptr[n1 - 1] == ' ') {
        n1--;
    }
    size_t n0 = n1;
    while (n0 > start && is_ident(t.ptr[n0 - 1])) {
        n0--;
    }
    if (n0 == n1 || n1 - n0 >= sizeof(out->name)) {
        return false;
    }
    memcpy(out->name, t.ptr + n0, n1 - n0);
    out->name[n1 - n0] = '\0';
    return true;
}

/* Whether [a, b) holds only blanks and comments. */
static bool only_comments(core_str t, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        char ch = t.ptr[i];
        if (ch == '/' && i + 1 < b && t.ptr[i + 1] == '/') {
            while (i < b && t.ptr[i] != '\n') {
                i++;
            }
        } else if (ch == '/' && i + 1 < b && t.ptr[i + 1] == '*') {
            i += 2;
            while (i + 1 < b && !(t.ptr[i] == '*' && t.ptr[i + 1] == '/')) {
                i++;
            }
            i++;
        } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            return false;
        }
    }
    return true;
}

/* Finds, around byte offset at, a C function at the top level that is a prototype
   (`int f(int x);`) or has an empty body (blanks and comments only). */
static bool find_stub_c(core_str t, size_t at, stub *out)
{
    size_t ls = at;
    while (ls > 0 && t.ptr[ls - 1] != '\n') {
        ls--;
    }
    /* Up to the top-level line that starts the declaration. */
    for (int guard = 0; guard < 64; guard++) {
        line_span l = line_at(t, ls);
        bool blank = false;
        size_t ind = indent_of(t, l, &blank);
        char first = blank ? ' ' : t.ptr[l.start + ind];
        if (!blank && ind == 0 && first != '{' && first != '}' && first != '/' && first != '*' &&
            first != '#' && memchr(t.ptr + l.start, '(', l.end - l.start)) {
            break;
        }
        if (ls == 0) {
            return false;
        }
        ls--;
        while (ls > 0 && t.ptr[ls - 1] != '\n') {
            ls--;
        }
    }
    if (solve_complete_depth(SOLVE_LANG_C, (core_str){t.ptr, ls}) != 0) {
        return false;
    }
    line_span l = line_at(t, ls);
    if (!c_name(t, l.start, l.end, out)) {
        return false;
    }
    out->def = l.start;
    /* The end of the declarator: the ')' that closes the first '('. */
    size_t i = (size_t)((const char *)memchr(t.ptr + l.start, '(', l.end - l.start) - t.ptr);
    long depth = 0;
    for (; i < t.len; i++) {
        depth += t.ptr[i] == '(' ? 1 : t.ptr[i] == ')' ? -1 : 0;
        if (depth == 0) {
            break;
        }
    }
    if (i >= t.len) {
        return false;
    }
    size_t sig_end = i + 1;
    size_t j = sig_end;
    while (j < t.len &&
           (t.ptr[j] == ' ' || t.ptr[j] == '\t' || t.ptr[j] == '\n' || t.ptr[j] == '\r')) {
        j++;
    }
    if (j < t.len && t.ptr[j] == ';') {
        line_span e = line_at(t, j);
        out->prompt_end = e.next;
        out->body_end = e.next;
        out->semicolon = false;
        return at <= out->body_end;
    }
    if (j >= t.len || t.ptr[j] != '{') {
        return false;
    }
    size_t close = j + 1;
    while (close < t.len && t.ptr[close] != '}') {
        close++;
    }
    if (close >= t.len || !only_comments(t, j + 1, close)) {
        return false;
    }
    out->prompt_end = sig_end;
    out->body_end = line_at(t, close).next;
    out->semicolon = true;
    return at <= out->body_end;
}

static bool find_stub(core_str t, solve_lang lang, size_t at, stub *out)
{
    return lang == SOLVE_LANG_C ? find_stub_c(t, at, out) : find_stub_python(t, at, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Code actions and hover                                                                     */
/* ------------------------------------------------------------------------------------------ */

static lsp__doc *doc_of(lsp_server *s, const cJSON *params)
{
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(params, "textDocument");
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(td, "uri");
    return cJSON_IsString(uri) ? lsp__doc_find(s, uri->valuestring) : NULL;
}

void lsp__code_action(lsp_server *s, const lsp__msg *m)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->json, "params");
    lsp__doc *d = doc_of(s, params);
    cJSON *actions = cJSON_CreateArray();
    uint32_t line = 0;
    uint32_t character = 0;
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(params, "range");
    stub st;
    if (d && s->opts.model && d->known_lang &&
        lsp__position(cJSON_GetObjectItemCaseSensitive(range, "start"), &line, &character)) {
        core_str t = {d->text.ptr ? d->text.ptr : "", d->text.len};
        size_t at = lsp_text_offset(t, s->enc, line, character);
        if (find_stub(t, d->lang, at, &st)) {
            char title[192];
            snprintf(title, sizeof(title), "kiln: implement and test %s", st.name);
            cJSON *a = cJSON_CreateObject();
            cJSON_AddItemToArray(actions, a);
            cJSON_AddStringToObject(a, "title", title);
            cJSON_AddStringToObject(a, "kind", "refactor.rewrite");
            cJSON *cmd = cJSON_AddObjectToObject(a, "command");
            cJSON_AddStringToObject(cmd, "title", title);
            cJSON_AddStringToObject(cmd, "command", "kiln.implement");
            cJSON *args = cJSON_AddArrayToObject(cmd, "arguments");
            cJSON *arg = cJSON_CreateObject();
            cJSON_AddItemToArray(args, arg);
            cJSON_AddStringToObject(arg, "uri", d->uri);
            cJSON_AddStringToObject(arg, "name", st.name);
            uint32_t dl = 0;
            uint32_t dc = 0;
            lsp_text_position(t, s->enc, st.def, &dl, &dc);
            cJSON_AddNumberToObject(arg, "line", dl);
        }
    }
    lsp__reply(s, m->id, actions);
}

/* The kept score card of uri's function name, or NULL. */
static lsp__card *card_find(lsp_server *s, const char *uri, const char *name)
{
    for (size_t i = 0; i < LSP__CARDS_MAX; i++) {
        lsp__card *c = &s->cards[i];
        if (c->text && strcmp(c->uri, uri) == 0 && strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

void lsp__cards_free(lsp_server *s)
{
    for (size_t i = 0; i < LSP__CARDS_MAX; i++) {
        core_free(s->cards[i].uri);
        core_free(s->cards[i].name);
        core_free(s->cards[i].text);
        memset(&s->cards[i], 0, sizeof(s->cards[i]));
    }
}

void lsp__hover(lsp_server *s, const lsp__msg *m)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->json, "params");
    lsp__doc *d = doc_of(s, params);
    uint32_t line = 0;
    uint32_t character = 0;
    if (!d ||
        !lsp__position(cJSON_GetObjectItemCaseSensitive(params, "position"), &line, &character)) {
        lsp__reply(s, m->id, NULL);
        return;
    }
    /* The function whose def line is the hovered line. */
    core_str t = {d->text.ptr ? d->text.ptr : "", d->text.len};
    size_t at = lsp_text_offset(t, s->enc, line, 0);
    line_span l = line_at(t, at);
    bool blank = false;
    size_t p = l.start + indent_of(t, l, &blank);
    if (starts_with(t, p, l.end, "async ")) {
        p += 6;
    }
    lsp__card *card = NULL;
    if (starts_with(t, p, l.end, "def ")) {
        char name[128];
        size_t n = 0;
        for (size_t i = p + 4;
             i < l.end && t.ptr[i] != '(' && t.ptr[i] != ' ' && n + 1 < sizeof(name); i++) {
            name[n++] = t.ptr[i];
        }
        name[n] = '\0';
        card = card_find(s, d->uri, name);
    }
    if (!card) {
        lsp__reply(s, m->id, NULL);
        return;
    }
    cJSON *h = cJSON_CreateObject();
    cJSON *c = cJSON_AddObjectToObject(h, "contents");
    cJSON_AddStringToObject(c, "kind", "markdown");
    cJSON_AddStringToObject(c, "value", card->text);
    lsp__reply(s, m->id, h);
}

/* ------------------------------------------------------------------------------------------ */
/* The command                                                                                */
/* ------------------------------------------------------------------------------------------ */

typedef struct progress_ctx {
    lsp_server *s;
    const cJSON *token; /* borrowed; NULL: no progress reports */
} progress_ctx;

static void progress_send(lsp_server *s, const cJSON *token, const char *kind, const char *msg,
                          int percent)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "token", cJSON_Duplicate(token, true));
    cJSON *v = cJSON_AddObjectToObject(p, "value");
    cJSON_AddStringToObject(v, "kind", kind);
    if (strcmp(kind, "begin") == 0) {
        cJSON_AddStringToObject(v, "title", "kiln: implement and test");
        cJSON_AddBoolToObject(v, "cancellable", true);
    }
    cJSON_AddStringToObject(v, "message", msg);
    if (percent >= 0 && strcmp(kind, "end") != 0) {
        cJSON_AddNumberToObject(v, "percentage", percent);
    }
    lsp__notify(s, "$/progress", p);
}

static void on_progress(void *payload, const solve_event *ev)
{
    progress_ctx *pc = payload;
    if (!pc->token) {
        return;
    }
    char msg[128];
    if (ev->stage == SOLVE_STAGE_WRITE || ev->stage == SOLVE_STAGE_TEST) {
        snprintf(msg, sizeof(msg), "%s %zu/%zu, %zu passing", solve_stage_name(ev->stage),
                 ev->i_done, ev->n_total, ev->n_passed);
    } else if (ev->stage == SOLVE_STAGE_REPAIR) {
        snprintf(msg, sizeof(msg), "repair round %zu, %zu passing", ev->round, ev->n_passed);
    } else {
        snprintf(msg, sizeof(msg), "%s", solve_stage_name(ev->stage));
    }
    static const int percent[SOLVE_N_STAGES] = {5, 20, 60, 75, 95};
    progress_send(pc->s, pc->token, "report", msg, percent[ev->stage]);
}

/* Diagnostics for uri: one on [start, end) with message, or none when message is NULL. */
static void publish(lsp_server *s, lsp__doc *d, size_t start, size_t end, const char *message)
{
    d->has_diagnostics = message != NULL;
    core_str t = {d->text.ptr ? d->text.ptr : "", d->text.len};
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "uri", d->uri);
    cJSON *list = cJSON_AddArrayToObject(p, "diagnostics");
    if (message) {
        cJSON *dg = cJSON_CreateObject();
        cJSON_AddItemToArray(list, dg);
        cJSON_AddItemToObject(dg, "range", lsp__range_json(s, t, start, end));
        cJSON_AddNumberToObject(dg, "severity", 2); /* warning */
        cJSON_AddStringToObject(dg, "source", "kiln");
        cJSON_AddStringToObject(dg, "message", message);
    }
    lsp__notify(s, "textDocument/publishDiagnostics", p);
}

static void card_keep(lsp_server *s, const char *uri, const char *name, const solve_result *r,
                      const solve_candidate *c)
{
    lsp__card *k = card_find(s, uri, name);
    if (!k) {
        k = &s->cards[s->n_cards_made++ % LSP__CARDS_MAX];
    }
    core_free(k->uri);
    core_free(k->name);
    core_free(k->text);
    char text[768];
    snprintf(text, sizeof(text),
             "**kiln** score card of `%s`\n\n"
             "- tests passed: %zu/%zu (%s)\n- agreement: %zu of %zu candidates behave alike\n"
             "- quality: %.2f, parses: %s\n- mean log-probability: %.3f\n- round %zu, %zu tokens",
             name, c->n_tests_passed, c->n_tests_run, solve_tests_source_name(r->tests_source),
             c->score.group_size, r->n_candidates, c->score.quality, c->parses ? "yes" : "no",
             c->logprob_mean, c->round, c->n_tokens);
    k->uri = core_strndup(uri, strlen(uri));
    k->name = core_strndup(name, strlen(name));
    k->text = core_strndup(text, strlen(text));
    if (!k->uri || !k->name || !k->text) {
        core_free(k->uri);
        core_free(k->name);
        core_free(k->text);
        memset(k, 0, sizeof(*k));
    }
}

void lsp__pool_ready(lsp_server *s)
{
    if (s->pool_tried) {
        return;
    }
    s->pool_tried = true;
    sbx_pool_options po = sbx_pool_options_default();
    po.n_slots = 2;
    po.log = s->opts.log;
    core_err perr = {0};
    if (sbx_pool_new(&s->pool, &po, &perr) < 0) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN,
                       "lsp: no sandbox (%s): candidates are ranked without running tests",
                       perr.msg);
        s->pool = NULL;
    }
}

void lsp__tree_ready(lsp_server *s)
{
    if (s->tree_tried) {
        return;
    }
    s->tree_tried = true;
    sbx_tree_options to = sbx_tree_options_default();
    to.log = s->opts.log;
    core_err terr = {0};
    if (sbx_tree_new(&s->tree, &to, &terr) < 0) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN,
                       "lsp: no sandbox for test commands (%s): they do not run", terr.msg);
        lsp__show_message(s, 2, "kiln: the sandbox cannot run the configured test command here");
        s->tree = NULL;
    }
}

/* Lazily made: the pipeline's engine and, where the host allows it, the sandbox. */
static int engine_ready(lsp_server *s, core_err *err)
{
    if (s->engine) {
        return 0;
    }
    lsp__pool_ready(s);
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = 4;
    eo.n_threads = s->opts.session.n_threads;
    eo.log = s->opts.log;
    eo.backend = s->opts.backend;
    const int rc = solve_engine_new(&s->engine, s->opts.model, s->pool, &eo, err);
    if (rc == 0 && s->queue) {
        solve_engine_set_queue(s->engine, s->queue); /* beside the completions */
    }
    return rc;
}

/* The task's visible tests when the workspace has tests of the function: the docstring's
   examples, then the workspace's (arena-owned; "" when the workspace has none, and the
   pipeline then finds the docstring's examples itself). */
static int workspace_tests(const char **out, size_t *n_tests, core_arena *arena, lsp_server *s,
                           lsp__doc *d, const solve_task *task, core_err *err)
{
    *out = "";
    *n_tests = 0;
    if (s->tests[d->lang].command) {
        return 0; /* the configured command tests the ranked candidates instead */
    }
    lsp__ws ws;
    core_buf wt = {0};
    int rc = lsp__ws_init(&ws, s, d, err);
    if (rc == 0 && ws.ok) {
        rc = solve_workspace_tests(&wt, n_tests, d->lang, task->entry, &ws.o, err);
    }
    if (rc == 0 && *n_tests > 0 && d->lang == SOLVE_LANG_C) {
        /* A C test file is a program with its own main: it is the task's tests alone. */
        char *all = core_arena_strndup(arena, wt.ptr, wt.len);
        rc = all ? 0 : core_err_set(err, CORE_ENOMEM, "kiln.implement: out of memory");
        *out = all ? all : "";
    } else if (rc == 0 && *n_tests > 0) {
        const char *doc_tests = "";
        solve_tests_source source = SOLVE_TESTS_NONE;
        rc = solve_tests_select(&doc_tests, &source, arena, task, err);
        size_t nd = strlen(doc_tests);
        char *all = rc == 0 ? core_arena_alloc(arena, nd + wt.len + 2) : NULL;
        if (rc == 0 && !all) {
            rc = core_err_set(err, CORE_ENOMEM, "kiln.implement: out of memory");
        }
        if (all) {
            memcpy(all, doc_tests, nd);
            all[nd] = '\n';
            memcpy(all + nd + 1, wt.ptr, wt.len);
            all[nd + 1 + wt.len] = '\0';
            *out = all;
        }
    }
    core_buf_dispose(&wt);
    lsp__ws_dispose(&ws);
    return rc;
}

/* How the task's prompt maps to the document: it starts with head (the repository context as
   comments, then, for C, the document's text before doc_from with its headers inlined), after
   which it is the document's text from doc_from. */
typedef struct prompt_map {
    core_str head;
    size_t doc_from;
} prompt_map;

/* Where candidate code departs from the document: *from (the end of its longest common
   prefix with the document's text before the stub's body) and the body that replaces
   [*from, body_end). A code that does not start with the prompt's head is compared with the
   document from its start. */
static const char *candidate_body(size_t *from, const char *code, core_str t, const stub *st,
                                  prompt_map map)
{
    size_t i = 0;
    if (map.head.len > 0 && strncmp(code, map.head.ptr, map.head.len) == 0) {
        code += map.head.len;
        i = map.doc_from;
    }
    const char *p = code;
    while (i < st->prompt_end && *p == t.ptr[i]) {
        i++;
        p++;
    }
    *from = i;
    return p;
}

/* The end of the last `#include "..."` line of t before end (0: none). */
static size_t last_quoted_include(core_str t, size_t end)
{
    size_t k = 0;
    for (size_t ls = 0; ls < end;) {
        line_span l = line_at(t, ls);
        bool blank = false;
        size_t p = l.start + indent_of(t, l, &blank);
        if (starts_with(t, p, l.end, "#include \"") || starts_with(t, p, l.end, "# include \"")) {
            k = l.next <= end ? l.next : end;
        }
        if (l.next == ls) {
            break;
        }
        ls = l.next;
    }
    return k;
}

/* The document with body in place of [from, body_end), a newline after it when it has none. */
static int candidate_doc(core_buf *out, core_str t, size_t from, const char *body, const stub *st)
{
    bool nl = body[0] && body[strlen(body) - 1] != '\n';
    return core_buf_append(out, t.ptr, from) < 0 || core_buf_append(out, body, strlen(body)) < 0 ||
                   (nl && core_buf_append(out, "\n", 1) < 0) ||
                   core_buf_append(out, t.ptr + st->body_end, t.len - st->body_end) < 0
               ? CORE_ENOMEM
               : 0;
}

/* The cancel callback of kiln.implement: a $/cancelRequest named it, or the server stops. */
static bool job_canceled(void *payload)
{
    lsp_server *s = payload;
    return atomic_load(&s->job_cancel) || atomic_load_explicit(&s->stop, memory_order_relaxed);
}

#define COMMAND_TRIES_MAX 3

/* The configured test command on the ranked candidates, best first, each in the document: the
   first that passes becomes *chosen (else the best stays), *v its verdict (tested false when
   the command did not run). */
static int command_verify(long *chosen, solve_complete_verdict *v, lsp_server *s, lsp__doc *d,
                          const stub *st, const solve_result *res, prompt_map map, progress_ctx *pc,
                          core_err *err)
{
    memset(v, 0, sizeof(*v));
    lsp__tree_ready(s);
    if (!s->tree) {
        return 0;
    }
    core_str t = {d->text.ptr ? d->text.ptr : "", d->text.len};
    lsp__ws ws;
    int rc = lsp__ws_init(&ws, s, d, err);
    size_t n_tried = 0;
    for (size_t rank = 0; rc == 0 && rank < res->n_candidates && n_tried < COMMAND_TRIES_MAX;
         rank++) {
        long k = -1;
        for (size_t i = 0; i < res->n_candidates; i++) {
            if (res->candidates[i].score.rank == rank && res->candidates[i].code) {
                k = (long)i;
            }
        }
        if (k < 0 || !res->candidates[k].parses) {
            continue;
        }
        n_tried++;
        if (pc->token) {
            char msg[96];
            snprintf(msg, sizeof(msg), "test command on candidate %zu", n_tried);
            progress_send(s, pc->token, "report", msg, 90);
        }
        size_t from = 0;
        const char *body = candidate_body(&from, res->candidates[k].code, t, st, map);
        core_buf whole = {0};
        solve_complete_verdict one;
        memset(&one, 0, sizeof(one));
        rc = candidate_doc(&whole, t, from, body, st) < 0
                 ? core_err_set(err, CORE_ENOMEM, "kiln.implement: out of memory")
                 : 0;
        core_cancel cancel = {job_canceled, s};
        if (rc == 0) {
            rc = solve_workspace_command(&one, d->lang, (core_str){whole.ptr, whole.len},
                                         core_str_c(st->name), &ws.o, NULL, &cancel, err);
        }
        core_buf_dispose(&whole);
        if (rc == 0 && (!v->tested || one.verdict == SBX_VERDICT_PASSED)) {
            *v = one;
            *chosen = k;
        }
        if (rc < 0 || !one.tested || one.verdict == SBX_VERDICT_PASSED) {
            break; /* it passed, or it cannot run (no test mentions the function) */
        }
    }
    lsp__ws_dispose(&ws);
    return rc;
}

/* kiln.implement while it runs: what the main thread prepared from the document, and what the
   worker thread's pipeline returned. The worker touches only the task, the engine, the result
   and the progress token; the main thread owns the rest. */
struct lsp__job {
    lsp_server *s;
    cJSON *id;         /* owned copy of the request's id */
    cJSON *token;      /* owned copy of the workDoneToken, NULL: no progress reports */
    char *uri;         /* owned */
    core_buf text;     /* owned: the document's text when it started */
    stub st;           /* the stub, offsets into text */
    core_buf pb;       /* owned: the task's prompt */
    prompt_map map;    /* its head points into pb */
    core_arena *arena; /* owned: the visible tests */
    solve_task task;   /* its strings point into pb, st and arena */
    size_t n_ws_tests;
    progress_ctx pc;
    lsp__msg *done; /* owned until the worker queues it: tells the main thread it ended */
    pthread_t thread;
    solve_result *res; /* the pipeline's, owned */
    int rc;
    core_err err;
};

static void job_free(lsp__job *j)
{
    if (!j) {
        return;
    }
    cJSON_Delete(j->id);
    cJSON_Delete(j->token);
    core_free(j->uri);
    core_buf_dispose(&j->text);
    core_buf_dispose(&j->pb);
    core_arena_free(j->arena);
    core_free(j->done);
    solve_result_free(j->res);
    core_free(j);
}

static void *job_main(void *arg)
{
    lsp__job *j = arg;
    solve_options o = solve_options_default();
    o.n_candidates = 4;
    o.n_rounds = 1;
    o.plan = false;
    o.greedy_first = true;
    solve_progress pr = {on_progress, &j->pc};
    core_cancel cancel = {job_canceled, j->s};
    j->rc = solve_run(&j->res, j->s->engine, &j->task, &o, &pr, &cancel, &j->err);
    lsp__msg *done = j->done;
    j->done = NULL;
    lsp__enqueue(j->s, done); /* the main thread finishes the request (lsp__implement_end) */
    return NULL;
}

/* Prepares the task from document d and starts the pipeline on a worker thread; the main
   thread goes on serving (completions decode beside the candidates on the queue). */
void lsp__implement(lsp_server *s, const lsp__msg *m)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(m->json, "params");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    const cJSON *arg = cJSON_GetArrayItem(args, 0);
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(arg, "uri");
    const cJSON *line = cJSON_GetObjectItemCaseSensitive(arg, "line");
    lsp__doc *d = cJSON_IsString(uri) ? lsp__doc_find(s, uri->valuestring) : NULL;
    stub st;
    core_str t = {d && d->text.ptr ? d->text.ptr : "", d ? d->text.len : 0};
    if (!d || !cJSON_IsNumber(line) || !s->opts.model || !d->known_lang ||
        !find_stub(t, d->lang, lsp_text_offset(t, s->enc, (uint32_t)line->valuedouble, 0), &st)) {
        lsp__reply_error(s, m->id, LSP_ERR_INVALID_PARAMS,
                         "kiln.implement: no stub function at that line of an open document");
        return;
    }
    if (s->job) {
        lsp__reply_error(s, m->id, LSP_ERR_REQUEST_FAILED,
                         "kiln.implement: another one is running; cancel it or wait");
        return;
    }
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(params, "workDoneToken");
    core_err err = {0};
    lsp__job *j = core_calloc(1, sizeof(*j));
    if (!j) {
        lsp__reply_error(s, m->id, LSP_ERR_REQUEST_FAILED, "kiln.implement: out of memory");
        return;
    }
    int rc = 0;
    j->s = s;
    j->st = st;
    j->id = cJSON_Duplicate(m->id, true);
    j->token = token ? cJSON_Duplicate(token, true) : NULL;
    j->uri = core_strndup(d->uri, strlen(d->uri));
    j->done = core_calloc(1, sizeof(*j->done));
    j->pc = (progress_ctx){s, j->token};
    if (!j->id || (token && !j->token) || !j->uri || !j->done ||
        core_buf_append(&j->text, t.ptr, t.len) < 0) {
        rc = core_err_set(&err, CORE_ENOMEM, "kiln.implement: out of memory");
    } else {
        j->done->job_done = true;
        if (j->token) {
            progress_send(s, j->token, "begin", st.name, 0);
        }
        rc = engine_ready(s, &err);
    }
    /* The task's prompt: the document up to the docstring's end (Python) or the prototype
       (C; an empty body's signature gets the ';' of a prototype). */
    size_t n_context = 0;
    if (rc == 0) {
        /* The repository context goes first, as comments: the prompt becomes the candidate's
           code, where definitions would shadow the real imports. */
        rc = lsp__context(&j->pb, &n_context, s, d, true, &err);
    }
    /* C: the document's own headers go into the prompt, as the sandbox compiles the
       candidate alone. */
    size_t doc_from = d->lang == SOLVE_LANG_C ? last_quoted_include(t, st.prompt_end) : 0;
    if (rc == 0 && doc_from > 0) {
        lsp__ws ws;
        size_t n_inlined = 0;
        rc = lsp__ws_init(&ws, s, d, &err);
        if (rc == 0) {
            rc = solve_c_includes_inline(&j->pb, &n_inlined, (core_str){t.ptr, doc_from}, &ws.o,
                                         &err);
        }
        lsp__ws_dispose(&ws);
    }
    if (rc == 0 && (core_buf_append(&j->pb, t.ptr + doc_from, st.prompt_end - doc_from) < 0 ||
                    (st.semicolon && core_buf_append(&j->pb, ";\n", 2) < 0))) {
        rc = core_err_set(&err, CORE_ENOMEM, "kiln.implement: out of memory");
    }
    if (rc == 0) {
        j->map = (prompt_map){
            {j->pb.ptr, j->pb.len - (st.prompt_end - doc_from) - (st.semicolon ? 2 : 0)}, doc_from};
        rc = core_arena_new(&j->arena, 4096, &err);
    }
    if (rc == 0) {
        j->task = (solve_task){d->lang, core_str_c(j->pb.ptr ? j->pb.ptr : ""),
                               core_str_c(j->st.name), core_str_c("")};
        const char *visible = "";
        rc = workspace_tests(&visible, &j->n_ws_tests, j->arena, s, d, &j->task, &err);
        j->task.visible_tests = core_str_c(visible);
    }
    if (rc == 0) {
        atomic_store(&s->job_cancel, false);
        s->job = j;
        if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
            s->job = NULL;
            rc = core_err_set(&err, CORE_ERROR, "kiln.implement: could not start its thread");
        }
    }
    if (rc == 0) {
        lsp__job_key_set(s, m->id_key); /* a $/cancelRequest of it reaches the worker */
        return;
    }
    if (j->token) {
        progress_send(s, j->token, "end", err.msg, -1);
    }
    lsp__reply_error(s, m->id, LSP_ERR_REQUEST_FAILED, err.msg);
    job_free(j);
}

/* The chosen candidate: the edit, the diagnostics, the score card and the answer. */
static void reply_chosen(lsp_server *s, const lsp__job *j, lsp__doc *d,
                         const solve_complete_verdict *cvp, long chosen)
{
    const solve_result *res = j->res;
    const stub st = j->st;
    const prompt_map map = j->map;
    const solve_complete_verdict cv = *cvp;
    const size_t n_ws_tests = j->n_ws_tests;
    core_str t = {d->text.ptr ? d->text.ptr : "", d->text.len};
    const solve_candidate *c = &res->candidates[chosen];
    /* The edit: from where the code departs from the document (its longest common
       prefix with the prompt) to the stub's end. */
    size_t from = 0;
    const char *body = candidate_body(&from, c->code, t, &st, map);
    /* The candidate without the prompt's head (context, inlined headers). */
    const char *code = c->code;
    if (map.head.len > 0 && strncmp(code, map.head.ptr, map.head.len) == 0) {
        code += map.head.len;
    }
    core_buf nt = {0};
    bool nl = body[0] && body[strlen(body) - 1] != '\n';
    if (core_buf_appendf(&nt, "%s%s", body, nl ? "\n" : "") < 0) {
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_ERROR, "lsp: out of memory for an edit");
    }
    cJSON *edit = cJSON_CreateObject();
    cJSON *changes = cJSON_AddObjectToObject(cJSON_AddObjectToObject(edit, "edit"), "changes");
    cJSON *list = cJSON_AddArrayToObject(changes, d->uri);
    cJSON *te = cJSON_CreateObject();
    cJSON_AddItemToArray(list, te);
    cJSON_AddItemToObject(te, "range", lsp__range_json(s, t, from, st.body_end));
    cJSON_AddStringToObject(te, "newText", nt.ptr ? nt.ptr : "");
    cJSON_AddStringToObject(edit, "label", "kiln: implement and test");
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    char id[64];
    snprintf(id, sizeof(id), "kiln-edit-%llu", (unsigned long long)++s->tick);
    cJSON_AddStringToObject(req, "id", id);
    cJSON_AddStringToObject(req, "method", "workspace/applyEdit");
    cJSON_AddItemToObject(req, "params", edit);
    lsp__send(s, req);
    core_buf_dispose(&nt);
    card_keep(s, d->uri, st.name, res, c);
    /* With a configured command that ran, its verdict is the one that counts. */
    bool tested = cv.tested ? true : c->tested;
    size_t n_run = cv.tested ? cv.n_tests_run : c->n_tests_run;
    size_t n_passed = cv.tested ? cv.n_tests_passed : c->n_tests_passed;
    const char *why = cv.tested ? cv.message : c->message;
    bool passed =
        cv.tested ? cv.verdict == SBX_VERDICT_PASSED : c->tested && n_passed == n_run && n_run > 0;
    char msg[600];
    if (tested && !passed) {
        snprintf(msg, sizeof(msg), "kiln: %s%zu/%zu tests pass: %.500s",
                 cv.tested ? "the test command: " : "", n_passed, n_run, why);
    }
    publish(s, d, st.def, st.body_end, tested && !passed ? msg : NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "name", st.name);
    cJSON_AddBoolToObject(out, "tested", tested);
    cJSON_AddNumberToObject(out, "testsRun", (double)n_run);
    cJSON_AddNumberToObject(out, "testsPassed", (double)n_passed);
    cJSON_AddNumberToObject(out, "workspaceTests",
                            (double)(cv.tested ? cv.n_workspace_tests : n_ws_tests));
    cJSON_AddBoolToObject(out, "command", cv.tested);
    if (cv.tested) {
        cJSON_AddStringToObject(out, "verdict", sbx_verdict_name(cv.verdict));
    }
    cJSON_AddStringToObject(out, "code", code);
    lsp__reply(s, j->id, out);
}

/* Whether the document still has the text the job started from, up to the stub's end. */
static bool job_doc_same(const lsp__job *j, const lsp__doc *d)
{
    return d && d->text.len >= j->st.body_end &&
           memcmp(d->text.ptr, j->text.ptr, j->st.body_end) == 0;
}

void lsp__implement_end(lsp_server *s)
{
    lsp__job *j = s->job;
    if (!j) {
        return; /* a stopped job's note, already finished */
    }
    pthread_join(j->thread, NULL);
    s->job = NULL;
    lsp__doc *d = lsp__doc_find(s, j->uri);
    const stub st = j->st;
    const solve_result *res = j->res;
    int rc = j->rc;
    core_err err = j->err;
    /* The edit replaces the stub where it was: not when the function changed meanwhile. */
    const bool modified = rc == 0 && !job_doc_same(j, d);
    if (modified) {
        rc = core_err_set(&err, CORE_ERROR, "kiln.implement: %s changed while it ran",
                          d ? "the function" : "the document (closed)");
    }
    long chosen = res ? res->chosen : -1;
    solve_complete_verdict cv;
    memset(&cv, 0, sizeof(cv));
    if (rc == 0 && chosen >= 0 && s->tests[d->lang].command) {
        rc = command_verify(&chosen, &cv, s, d, &st, res, j->map, &j->pc, &err);
    }
    if (j->token) {
        progress_send(s, j->token, "end", rc == 0 ? "done" : err.msg, -1);
    }
    if (rc == CORE_ECANCELED) {
        lsp__reply_error(s, j->id, LSP_ERR_REQUEST_CANCELLED, "request cancelled");
    } else if (modified) {
        lsp__reply_error(s, j->id, LSP_ERR_CONTENT_MODIFIED, err.msg);
    } else if (rc < 0 || !res || chosen < 0) {
        lsp__reply_error(s, j->id, LSP_ERR_REQUEST_FAILED,
                         rc < 0 ? err.msg : "kiln.implement: no candidate was written");
    } else {
        reply_chosen(s, j, d, &cv, chosen);
    }
    lsp__job_key_set(s, NULL);
    job_free(j);
}

void lsp__implement_stop(lsp_server *s)
{
    if (s->job) {
        atomic_store(&s->job_cancel, true);
        lsp__implement_end(s);
    }
}
