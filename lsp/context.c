/*
 * The workspace as solve/ sees it, for completions, completionItem/resolve and kiln.implement:
 * the workspace root comes from initialize (rootUri, else the first workspace folder, else
 * rootPath), the document's folder from its URI, and the other open documents are handed over
 * as the workspace's current text (an unsaved edit wins over the disk). From it come the
 * repository context (solve_context_build) and the tests of a function
 * (solve_workspace_tests, solve_complete_test).
 */
#include "lsp/lsp_int.h"

#include <string.h>

#define PATH_CAP 1024

void lsp__root_set(lsp_server *s, const cJSON *params)
{
    const cJSON *folders = cJSON_GetObjectItemCaseSensitive(params, "workspaceFolders");
    const cJSON *uris[2] = {
        cJSON_GetObjectItemCaseSensitive(params, "rootUri"),
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(folders, 0), "uri"),
    };
    char path[PATH_CAP];
    core_free(s->root);
    s->root = NULL;
    for (size_t i = 0; i < 2 && !s->root; i++) {
        if (cJSON_IsString(uris[i]) && lsp_uri_path(path, sizeof(path), uris[i]->valuestring)) {
            s->root = core_strndup(path, strlen(path));
        }
    }
    const cJSON *root_path = cJSON_GetObjectItemCaseSensitive(params, "rootPath");
    if (!s->root && cJSON_IsString(root_path) && root_path->valuestring[0] == '/') {
        s->root = core_strndup(root_path->valuestring, strlen(root_path->valuestring));
    }
}

int lsp__ws_init(lsp__ws *ws, lsp_server *s, const lsp__doc *d, core_err *err)
{
    memset(ws, 0, sizeof(*ws));
    ws->o = solve_context_options_default();
    ws->o.n_tokens_max = s->n_context_tokens_max;
    bool has_self = lsp_uri_path(ws->self, sizeof(ws->self), d->uri);
    if (has_self) {
        memcpy(ws->dir, ws->self, strlen(ws->self) + 1);
        char *slash = strrchr(ws->dir, '/');
        slash[slash == ws->dir ? 1 : 0] = '\0';
    }
    ws->ok = has_self || s->root;
    ws->files = core_calloc(s->n_docs + 1, sizeof(*ws->files));
    ws->paths = core_malloc((s->n_docs + 1) * PATH_CAP);
    if (!ws->files || !ws->paths) {
        lsp__ws_dispose(ws);
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the workspace");
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_docs; i++) {
        const lsp__doc *o = &s->docs[i];
        char *p = ws->paths + n * PATH_CAP;
        if (o != d && lsp_uri_path(p, PATH_CAP, o->uri)) {
            ws->files[n].path = p;
            ws->files[n].text = (core_str){o->text.ptr ? o->text.ptr : "", o->text.len};
            n++;
        }
    }
    ws->o.dir = has_self ? ws->dir : s->root;
    ws->o.root = s->root;
    ws->o.self = has_self ? ws->self : NULL;
    ws->o.files = ws->files;
    ws->o.n_files = n;
    for (size_t l = 0; l < SOLVE_N_LANGS; l++) {
        ws->o.tests[l].files = (const char *const *)s->tests[l].files;
        ws->o.tests[l].n_files = s->tests[l].n_files;
        ws->o.tests[l].command = s->tests[l].command;
    }
    ws->o.tree = s->tree;
    return 0;
}

void lsp__ws_dispose(lsp__ws *ws)
{
    core_free(ws->files);
    core_free(ws->paths);
    ws->files = NULL;
    ws->paths = NULL;
}

int lsp__context(core_buf *out, size_t *n_tokens, lsp_server *s, const lsp__doc *d, bool comment,
                 core_err *err)
{
    *n_tokens = 0;
    if (!s->completer || s->n_context_tokens_max == 0 || !d->known_lang) {
        return 0;
    }
    lsp__ws ws;
    int rc = lsp__ws_init(&ws, s, d, err);
    if (rc < 0 || !ws.ok) {
        lsp__ws_dispose(&ws);
        return rc; /* an untitled document outside any workspace: nothing to resolve from */
    }
    ws.o.comment = comment;
    core_str text = {d->text.ptr ? d->text.ptr : "", d->text.len};
    rc = solve_context_build(out, n_tokens, s->completer, d->lang, text, &ws.o, err);
    lsp__ws_dispose(&ws);
    return rc;
}
