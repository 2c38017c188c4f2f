/*
 * The server's configuration: the "kiln" section of workspace/didChangeConfiguration's
 * settings and of initialize's initializationOptions. Besides model, threads, candidates,
 * maxTokens, scope, grammar and contextTokens, the tests of each language:
 * kiln.tests.<python|c>.command (a shell command the sandbox runs over a copy of the workspace,
 * solve_workspace_command; unset or null: the built-in run) and kiln.tests.<python|c>.files
 * (globs relative to the workspace folder; Python's default: pytest's file names, C's: none).
 * A setting may be nested ({"tests": {"c": {"files": [...]}}}) or written with dots at any
 * level ({"tests.c.files": [...]}), as clients send either. A bad value is reported with
 * window/showMessage naming the setting, and its old value stays.
 */
#include "lsp/lsp_int.h"

#include <stdio.h>
#include <string.h>

#define TEST_GLOBS_MAX 32

static const char *const lang_keys[SOLVE_N_LANGS] = {"python", "c"};

/* The setting at a dotted path below obj: at each level the rest of the path as one key
   first, then its first component as a nested object. */
static const cJSON *setting(const cJSON *obj, const char *path)
{
    if (!cJSON_IsObject(obj)) {
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, path);
    if (v) {
        return v;
    }
    const char *dot = strchr(path, '.');
    if (!dot) {
        return NULL;
    }
    char head[64];
    size_t n = (size_t)(dot - path);
    if (n >= sizeof(head)) {
        return NULL;
    }
    memcpy(head, path, n);
    head[n] = '\0';
    return setting(cJSON_GetObjectItemCaseSensitive(obj, head), dot + 1);
}

void lsp__tests_dispose(lsp__tests *t)
{
    core_free(t->command);
    for (size_t i = 0; i < t->n_files; i++) {
        core_free(t->files[i]);
    }
    core_free(t->files);
    memset(t, 0, sizeof(*t));
}

/* Appends "kiln.tests.LANG.KEY: WHY; keeping OLD" and a newline to msgs. */
static int complain(core_buf *msgs, const char *lang, const char *key, const char *why,
                    const lsp__tests *old, bool files)
{
    core_buf kept = {0};
    int rc = 0;
    if (files && old->n_files == 0) {
        rc = core_buf_appendf(&kept, "%s",
                              strcmp(lang, "c") == 0 ? "no test files"
                                                     : "the "
                                                       "pytest names");
    } else if (files) {
        for (size_t i = 0; i < old->n_files && rc == 0; i++) {
            rc = core_buf_appendf(&kept, "%s\"%s\"", i ? ", " : "[", old->files[i]);
        }
        rc = rc < 0 ? rc : core_buf_append(&kept, "]", 1);
    } else {
        rc = old->command ? core_buf_appendf(&kept, "\"%.200s\"", old->command)
                          : core_buf_appendf(&kept, "the built-in run");
    }
    if (rc == 0) {
        rc = core_buf_appendf(msgs, "kiln.tests.%s.%s %s; keeping %s\n", lang, key, why, kept.ptr);
    }
    core_buf_dispose(&kept);
    return rc < 0 ? CORE_ENOMEM : 0;
}

/* One language's command: a string (checked), null or "" (the built-in run). */
static int configure_command(lsp__tests *t, const cJSON *v, const char *lang, core_buf *msgs)
{
    if (!v) {
        return 0;
    }
    const char *why = NULL;
    if (cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0')) {
        core_free(t->command);
        t->command = NULL;
        return 0;
    }
    if (!cJSON_IsString(v)) {
        why = "must be a string (a shell command) or null";
    } else if (!solve_test_command_check(v->valuestring, &why)) {
        /* why says what is wrong */
    } else {
        char *c = core_strndup(v->valuestring, strlen(v->valuestring));
        if (!c) {
            return CORE_ENOMEM;
        }
        core_free(t->command);
        t->command = c;
        return 0;
    }
    return complain(msgs, lang, "command", why, t, false);
}

/* One language's files: an array of globs (or one glob as a string), null or [] (none). */
static int configure_files(lsp__tests *t, const cJSON *v, const char *lang, core_buf *msgs)
{
    if (!v) {
        return 0;
    }
    const char *why = NULL;
    char why_buf[192];
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : cJSON_IsString(v) ? 1 : 0;
    if (!cJSON_IsArray(v) && !cJSON_IsString(v) && !cJSON_IsNull(v)) {
        why = "must be an array of globs relative to the workspace folder";
    } else if (n > TEST_GLOBS_MAX) {
        why = "has more than 32 globs";
    }
    const cJSON *e = NULL;
    size_t i = 0;
    const cJSON *arr = cJSON_IsArray(v) ? v : NULL;
    cJSON_ArrayForEach(e, arr)
    {
        const char *gwhy = NULL;
        if (why) {
            break;
        }
        if (!cJSON_IsString(e)) {
            snprintf(why_buf, sizeof(why_buf), "[%zu] must be a string", i);
            why = why_buf;
        } else if (!solve_test_glob_check(e->valuestring, &gwhy)) {
            snprintf(why_buf, sizeof(why_buf), "[%zu] \"%.64s\" %s", i, e->valuestring, gwhy);
            why = why_buf;
        }
        i++;
    }
    if (!why && cJSON_IsString(v) && !solve_test_glob_check(v->valuestring, &why)) {
        snprintf(why_buf, sizeof(why_buf), "\"%.64s\" %s", v->valuestring, why);
        why = why_buf;
    }
    if (why) {
        return complain(msgs, lang, "files", why, t, true);
    }
    for (size_t j = 0; n == 0 && j < t->n_files; j++) {
        core_free(t->files[j]);
    }
    if (n == 0) {
        core_free(t->files);
        t->files = NULL;
        t->n_files = 0;
        return 0;
    }
    char **files = core_calloc(n, sizeof(*files));
    if (!files) {
        return CORE_ENOMEM;
    }
    size_t k = 0;
    const cJSON *one = cJSON_IsString(v) ? v : NULL;
    cJSON_ArrayForEach(e, arr)
    {
        files[k] = core_strndup(e->valuestring, strlen(e->valuestring));
        k += files[k] != NULL;
    }
    if (one) {
        files[0] = core_strndup(one->valuestring, strlen(one->valuestring));
        k += files[0] != NULL;
    }
    if (k < n) {
        for (size_t j = 0; j < k; j++) {
            core_free(files[j]);
        }
        core_free(files);
        return CORE_ENOMEM;
    }
    for (size_t j = 0; j < t->n_files; j++) {
        core_free(t->files[j]);
    }
    core_free(t->files);
    t->files = files;
    t->n_files = n;
    return 0;
}

int lsp__tests_configure(lsp__tests *tests, const cJSON *kiln, core_buf *msgs, core_err *err)
{
    const cJSON *all = setting(kiln, "tests");
    if (all && !cJSON_IsObject(all) && !cJSON_IsNull(all)) {
        if (core_buf_appendf(msgs, "kiln.tests must be an object; keeping the old settings\n") <
            0) {
            return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the configuration");
        }
    }
    int rc = 0;
    for (size_t l = 0; l < SOLVE_N_LANGS && rc == 0; l++) {
        char path[64];
        snprintf(path, sizeof(path), "tests.%s.command", lang_keys[l]);
        rc = configure_command(&tests[l], setting(kiln, path), lang_keys[l], msgs);
        snprintf(path, sizeof(path), "tests.%s.files", lang_keys[l]);
        if (rc == 0) {
            rc = configure_files(&tests[l], setting(kiln, path), lang_keys[l], msgs);
        }
    }
    /* A language kiln does not know is a mistake worth saying. */
    const cJSON *e = NULL;
    const cJSON *langs = cJSON_IsObject(all) ? all : NULL;
    cJSON_ArrayForEach(e, langs)
    {
        bool known = false;
        for (size_t l = 0; l < SOLVE_N_LANGS; l++) {
            size_t n = strlen(lang_keys[l]); /* "c", or "c.files" written with a dot */
            known = known || (strncmp(e->string, lang_keys[l], n) == 0 &&
                              (e->string[n] == '\0' || e->string[n] == '.'));
        }
        if (!known && rc == 0 &&
            core_buf_appendf(msgs, "kiln.tests.%.64s: kiln tests python and c only\n", e->string) <
                0) {
            rc = CORE_ENOMEM;
        }
    }
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the configuration") : 0;
}

/* A non-negative integer field that fits uint32, else false. */
static bool get_u32(const cJSON *obj, const char *key, uint32_t *out)
{
    const cJSON *v = setting(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0) || v->valuedouble > 4294967295.0) {
        return false;
    }
    *out = (uint32_t)v->valuedouble;
    return true;
}

void lsp__configure(lsp_server *s, const cJSON *kiln)
{
    uint32_t v = 0;
    const cJSON *model = setting(kiln, "model");
    if (cJSON_IsString(model) && model->valuestring[0]) {
        lsp__model_switch(s, model->valuestring);
    }
    if (get_u32(kiln, "threads", &v)) {
        if (v >= 1 && v <= 256) {
            lsp__threads_set(s, v);
        } else {
            lsp__show_message(s, 2, "kiln: threads must be in 1..256");
        }
    }
    if (get_u32(kiln, "candidates", &v) && v >= 1) {
        size_t max = s->opts.session.n_candidates_max;
        s->complete.n_candidates = v < max ? v : max;
    }
    if (get_u32(kiln, "maxTokens", &v) && v >= 1 && v <= 512) {
        s->complete.n_tokens_max = v;
    }
    const cJSON *scope = setting(kiln, "scope");
    if (cJSON_IsString(scope) && !solve_scope_parse(&s->complete.scope, scope->valuestring)) {
        lsp__show_message(s, 2, "kiln: scope must be line, statement, block or function");
    }
    const cJSON *grammar = setting(kiln, "grammar");
    if (cJSON_IsBool(grammar)) {
        s->complete.grammar = cJSON_IsTrue(grammar);
    }
    if (get_u32(kiln, "contextTokens", &v) && v <= 4096) {
        s->n_context_tokens_max = v;
    }
    core_buf msgs = {0};
    core_err err = {0};
    if (lsp__tests_configure(s->tests, kiln, &msgs, &err) < 0) {
        lsp__show_message(s, 1, err.msg);
    }
    for (size_t a = 0; a < msgs.len;) {
        const char *nl = memchr(msgs.ptr + a, '\n', msgs.len - a);
        size_t e = nl ? (size_t)(nl - msgs.ptr) : msgs.len;
        char line[640];
        snprintf(line, sizeof(line), "kiln: %.*s", (int)(e - a), msgs.ptr + a);
        lsp__show_message(s, 1, line); /* Error */
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: %s", line);
        a = e + 1;
    }
    core_buf_dispose(&msgs);
}
