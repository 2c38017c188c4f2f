/*
 * The repository context of a document, for completions and kiln.implement: the workspace
 * root comes from initialize (rootUri, else the first workspace folder, else rootPath), the
 * document's folder from its URI, and the other open documents are handed to
 * solve_context_build as the workspace's current text (an unsaved edit wins over the disk).
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

int lsp__context(core_buf *out, size_t *n_tokens, lsp_server *s, const lsp__doc *d, bool comment,
                 core_err *err)
{
    *n_tokens = 0;
    if (!s->completer || s->n_context_tokens_max == 0 || !d->known_lang) {
        return 0;
    }
    char self[PATH_CAP];
    char dir[PATH_CAP];
    bool has_self = lsp_uri_path(self, sizeof(self), d->uri);
    if (has_self) {
        memcpy(dir, self, strlen(self) + 1);
        char *slash = strrchr(dir, '/');
        slash[slash == dir ? 1 : 0] = '\0';
    }
    if (!has_self && !s->root) {
        return 0; /* an untitled document outside any workspace: nothing to resolve from */
    }
    solve_context_file *files = core_calloc(s->n_docs + 1, sizeof(*files));
    char *paths = core_malloc((s->n_docs + 1) * PATH_CAP);
    if (!files || !paths) {
        core_free(files);
        core_free(paths);
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the context");
    }
    size_t n_files = 0;
    for (size_t i = 0; i < s->n_docs; i++) {
        const lsp__doc *o = &s->docs[i];
        char *p = paths + n_files * PATH_CAP;
        if (o != d && lsp_uri_path(p, PATH_CAP, o->uri)) {
            files[n_files].path = p;
            files[n_files].text = (core_str){o->text.ptr ? o->text.ptr : "", o->text.len};
            n_files++;
        }
    }
    solve_context_options co = solve_context_options_default();
    co.dir = has_self ? dir : s->root;
    co.root = s->root;
    co.self = has_self ? self : NULL;
    co.files = files;
    co.n_files = n_files;
    co.n_tokens_max = s->n_context_tokens_max;
    co.comment = comment;
    core_str text = {d->text.ptr ? d->text.ptr : "", d->text.len};
    int rc = solve_context_build(out, n_tokens, s->completer, d->lang, text, &co, err);
    core_free(files);
    core_free(paths);
    return rc;
}
