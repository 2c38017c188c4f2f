/*
 * Targets of kiln patch: which functions to write and what the model is told about each. The
 * grammar module lists a file's function definitions and flags stubs; this file picks the
 * targets (named with PATH:NAME, else every stub, else with a base only the stubs whose
 * definition touches a changed line), finds the repository's tests that mention each one, and
 * builds its task: the module's imports and the same-file helpers its docstring or signature
 * names, then its signature and docstring (Python) or describing comment and prototype (C). A
 * candidate comes back as a whole function; its body is cut out with tree-sitter again and put
 * in place of the stub's body, re-indented for methods.
 */
#include "patch/patch_int.h"

#include <stdio.h>
#include <string.h>

#include "grammar/gram.h"

/* Visible asserts taken from the tests for the pipeline's own test stage, at most. */
#define ASSERTS_MAX 16

static char *dup_n(const char *s, size_t n)
{
    char *p = core_malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *dup_c(const char *s)
{
    return dup_n(s, strlen(s));
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_python_test(const char *path)
{
    const char *b = base_name(path);
    return has_suffix(b, ".py") && (strncmp(b, "test_", 5) == 0 || has_suffix(b, "_test.py"));
}

static bool is_c_test(const char *path)
{
    return strstr(base_name(path), "test") != NULL &&
           (has_suffix(path, ".c") || has_suffix(path, ".h") || has_suffix(path, ".sh"));
}

/* Whether a Makefile defines a rule for "test" (a line that starts with "test:" or "test :",
 * the first line included). */
static bool has_make_target(core_str text)
{
    for (size_t i = 0; i + 5 <= text.len; i++) {
        if ((i == 0 || text.ptr[i - 1] == '\n') && memcmp(text.ptr + i, "test", 4) == 0) {
            size_t j = i + 4;
            while (j < text.len && (text.ptr[j] == ' ' || text.ptr[j] == '\t')) {
                j++;
            }
            if (j < text.len && text.ptr[j] == ':') {
                return true;
            }
        }
    }
    return false;
}

static bool is_word_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether text mentions name as a whole word; *at gets the offset of the first mention. */
static bool mentions(core_str text, core_str name, size_t *at)
{
    if (name.len == 0 || text.len < name.len) {
        return false;
    }
    for (size_t i = 0; i + name.len <= text.len; i++) {
        if (memcmp(text.ptr + i, name.ptr, name.len) == 0 &&
            (i == 0 || !is_word_byte(text.ptr[i - 1])) &&
            (i + name.len == text.len || !is_word_byte(text.ptr[i + name.len]))) {
            if (at != NULL) {
                *at = i;
            }
            return true;
        }
    }
    return false;
}

/* Names that a patch's diff can carry: printable, no quotes or backslashes git would escape. */
static bool path_is_plain(const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p >= 0x80) {
            return false;
        }
    }
    return true;
}

static size_t line_start(core_str text, size_t at)
{
    while (at > 0 && text.ptr[at - 1] != '\n') {
        at--;
    }
    return at;
}

static uint32_t line_of(core_str text, size_t at)
{
    uint32_t line = 1;
    for (size_t i = 0; i < at && i < text.len; i++) {
        line += text.ptr[i] == '\n';
    }
    return line;
}

/* Appends text with the first `drop` columns of blanks removed from every line. */
static int append_dedented(core_buf *out, core_str text, size_t drop)
{
    size_t i = 0;
    while (i < text.len) {
        size_t k = 0;
        while (k < drop && i + k < text.len && text.ptr[i + k] == ' ') {
            k++;
        }
        i += k;
        const char *nl = memchr(text.ptr + i, '\n', text.len - i);
        size_t end = nl != NULL ? (size_t)(nl - text.ptr) + 1 : text.len;
        if (core_buf_append(out, text.ptr + i, end - i) < 0) {
            return CORE_ENOMEM;
        }
        i = end;
    }
    return 0;
}

/* Appends the lines of text that start (at column 0) with one of the prefixes. */
static int append_lines_with(core_buf *out, core_str text, const char *const *prefixes)
{
    size_t i = 0;
    while (i < text.len) {
        const char *nl = memchr(text.ptr + i, '\n', text.len - i);
        size_t end = nl != NULL ? (size_t)(nl - text.ptr) + 1 : text.len;
        for (const char *const *p = prefixes; *p != NULL; p++) {
            size_t n = strlen(*p);
            if (end - i >= n && memcmp(text.ptr + i, *p, n) == 0) {
                if (core_buf_append(out, text.ptr + i, end - i) < 0 ||
                    (text.ptr[end - 1] != '\n' && core_buf_append(out, "\n", 1) < 0)) {
                    return CORE_ENOMEM;
                }
                break;
            }
        }
        i = end;
    }
    return 0;
}

static int append_quoted(core_buf *out, const char *s)
{
    if (core_buf_append(out, " '", 2) < 0) {
        return CORE_ENOMEM;
    }
    for (; *s; s++) {
        int rc = *s == '\'' ? core_buf_append(out, "'\\''", 4) : core_buf_append(out, s, 1);
        if (rc < 0) {
            return CORE_ENOMEM;
        }
    }
    return core_buf_append(out, "'", 1);
}

/* ---- one target -------------------------------------------------------------------------- */

typedef struct find_ctx {
    const patch__snap *snap;
    const patch_options *opts;
    const patch__changes *base;
    patch_result *result;
    size_t cap;
    bool make_test; /* the root Makefile has a test target */
} find_ctx;

static int build_prompt(core_buf *out, const patch__file *file, const gram_func *funcs,
                        size_t n_funcs, const gram_func *f, bool python)
{
    core_str text = {file->data, file->len};
    static const char *const py_imports[] = {"import ", "from ", NULL};
    static const char *const c_includes[] = {"#include", NULL};
    int rc = append_lines_with(out, text, python ? py_imports : c_includes);
    core_str head = {text.ptr + f->def_start, f->head_end - f->def_start};
    core_str doc = {text.ptr + f->doc_start, f->doc_len};
    /* same-file helpers that the docstring or signature names (finished ones only) */
    for (size_t i = 0; i < n_funcs && rc == 0; i++) {
        const gram_func *g = &funcs[i];
        core_str name = {text.ptr + g->name_start, g->name_len};
        if (g == f || g->stub != GRAM_STUB_NONE || g->scope_len > 0 ||
            !(mentions(head, name, NULL) || mentions(doc, name, NULL))) {
            continue;
        }
        size_t s = python ? line_start(text, g->def_start) : g->def_start;
        if (core_buf_append(out, "\n", 1) < 0 ||
            core_buf_append(out, text.ptr + s, g->def_end - s) < 0 ||
            core_buf_append(out, "\n", 1) < 0) {
            rc = CORE_ENOMEM;
        }
    }
    if (rc == 0 && out->len > 0) {
        rc = core_buf_append(out, "\n", 1);
    }
    if (rc < 0) {
        return rc;
    }
    if (python) {
        size_t s = line_start(text, f->def_start);
        rc = append_dedented(out, (core_str){text.ptr + s, f->head_end - s}, f->def_start - s);
        return rc < 0 ? rc : core_buf_append(out, "\n", 1);
    }
    if (f->doc_len > 0 &&
        (core_buf_append(out, doc.ptr, doc.len) < 0 || core_buf_append(out, "\n", 1) < 0)) {
        return CORE_ENOMEM;
    }
    size_t e = f->head_end;
    while (e > f->def_start &&
           (text.ptr[e - 1] == ' ' || text.ptr[e - 1] == '\n' || text.ptr[e - 1] == '\t')) {
        e--;
    }
    if (core_buf_append(out, text.ptr + f->def_start, e - f->def_start) < 0 ||
        core_buf_append(out, ";\n", 2) < 0) {
        return CORE_ENOMEM;
    }
    return 0;
}

static int build_tests(core_buf *files, core_buf *cmd, const find_ctx *c, core_str name,
                       bool python, bool quote)
{
    for (size_t i = 0; i < c->snap->n_files; i++) {
        const patch__file *t = &c->snap->files[i];
        if (t->data == NULL || t->symlink ||
            !(python ? is_python_test(t->path) : is_c_test(t->path)) ||
            !mentions((core_str){t->data, t->len}, name, NULL)) {
            continue;
        }
        if (core_buf_appendf(files, "%s\n", t->path) < 0 ||
            (quote && append_quoted(cmd, t->path) < 0)) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

/* The configured command with {name} replaced by the function's name and {tests} by the test
 * files that mention it (quoted). */
static int command_expand(core_buf *cmd, const char *tmpl, core_str name, const find_ctx *c,
                          bool python)
{
    for (const char *p = tmpl; *p != '\0';) {
        int rc = 0;
        if (strncmp(p, "{name}", 6) == 0) {
            rc = core_buf_append(cmd, name.ptr, name.len);
            p += 6;
        } else if (strncmp(p, "{tests}", 7) == 0) {
            core_buf files = {0};
            rc = build_tests(&files, cmd, c, name, python, true);
            core_buf_dispose(&files);
            p += 7;
        } else {
            rc = core_buf_append(cmd, p, 1);
            p++;
        }
        if (rc < 0) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

static int add_target(find_ctx *c, const patch__file *file, const gram_func *funcs, size_t n_funcs,
                      const gram_func *f, bool python)
{
    core_str text = {file->data, file->len};
    patch_result *r = c->result;
    if (patch__grow((void **)&r->targets, &c->cap, r->n_targets, sizeof *r->targets) < 0) {
        return CORE_ENOMEM;
    }
    patch_target *t = &r->targets[r->n_targets];
    memset(t, 0, sizeof *t);
    r->n_targets++;
    core_buf name = {0}, prompt = {0}, files = {0}, cmd = {0};
    int rc = 0;
    if (f->scope_len > 0) {
        rc = core_buf_appendf(&name, "%.*s.", (int)f->scope_len, text.ptr + f->scope_start);
    }
    core_str bare = {text.ptr + f->name_start, f->name_len};
    if (rc == 0) {
        rc = core_buf_append(&name, bare.ptr, bare.len);
    }
    if (rc == 0) {
        rc = build_prompt(&prompt, file, funcs, n_funcs, f, python);
    }
    if (rc == 0 && c->opts->test_cmd != NULL) {
        rc = command_expand(&cmd, c->opts->test_cmd, bare, c, python);
    } else if (rc == 0 && python) {
        rc = core_buf_appendf(&cmd, "python3 -m pytest -q -rA -p no:cacheprovider");
    } else if (rc == 0 && c->make_test) {
        rc = core_buf_appendf(&cmd, "make -s test");
    }
    size_t cmd_len0 = cmd.len;
    if (rc == 0) {
        rc = build_tests(&files, &cmd, c, bare, python, python && c->opts->test_cmd == NULL);
    }
    if (rc == 0 && python && c->opts->test_cmd == NULL && cmd.len == cmd_len0) {
        cmd.len = 0; /* no test file mentions it: nothing to run */
    }
    t->path = dup_c(file->path);
    t->name = name.ptr != NULL ? dup_c(name.ptr) : NULL;
    t->lang = dup_c(python ? "python" : "c");
    t->stub = dup_c(gram_stub_name(f->stub));
    t->prompt = dup_c(prompt.ptr != NULL ? prompt.ptr : "");
    t->tests = dup_c(files.ptr != NULL ? files.ptr : "");
    t->command = dup_n(cmd.ptr != NULL ? cmd.ptr : "", cmd.len);
    t->message = dup_c("");
    t->code = dup_c("");
    t->fixed = dup_c("");
    t->splice = dup_c("");
    t->line = line_of(text, f->def_start);
    t->verdict = PATCH_VERDICT_NONE;
    t->splice_start = python ? f->head_end : f->impl_start;
    t->splice_end = f->def_end;
    core_buf_dispose(&name);
    core_buf_dispose(&prompt);
    core_buf_dispose(&files);
    core_buf_dispose(&cmd);
    if (rc == 0 && (!t->path || !t->name || !t->lang || !t->stub || !t->prompt || !t->tests ||
                    !t->command || !t->message || !t->code || !t->fixed || !t->splice)) {
        rc = CORE_ENOMEM;
    }
    return rc;
}

/* Whether "PATH:NAME" names f of file; NAME may be bare or Class.name. */
static bool spec_matches(const char *spec, const patch__file *file, const gram_func *f)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) != strlen(file->path) ||
        memcmp(spec, file->path, (size_t)(colon - spec)) != 0) {
        return false;
    }
    const char *name = colon + 1;
    size_t n = strlen(name);
    const char *text = file->data;
    if (n == f->name_len && memcmp(name, text + f->name_start, n) == 0) {
        return true;
    }
    return f->scope_len > 0 && n == f->scope_len + 1 + f->name_len &&
           memcmp(name, text + f->scope_start, f->scope_len) == 0 && name[f->scope_len] == '.' &&
           memcmp(name + f->scope_len + 1, text + f->name_start, f->name_len) == 0;
}

static int scan_file(find_ctx *c, const patch__file *file, const gram_lang *lang, bool python,
                     bool *found, core_err *err)
{
    core_str text = {file->data, file->len};
    if (gram_text_validate(text, NULL) < 0) {
        return 0; /* binary or not UTF-8: not source kiln writes */
    }
    gram_func *funcs = NULL;
    size_t n = 0;
    int rc = gram_funcs_find(&funcs, &n, lang, text, err);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const gram_func *f = &funcs[i];
        bool take = false;
        if (c->opts->n_functions > 0) {
            for (size_t k = 0; k < c->opts->n_functions; k++) {
                if (spec_matches(c->opts->functions[k], file, f)) {
                    found[k] = true;
                    take = true;
                }
            }
        } else if (f->stub != GRAM_STUB_NONE) {
            take = c->base == NULL ||
                   patch__changes_touch(c->base, file->path, line_of(text, f->def_start),
                                        line_of(text, f->def_end));
        }
        if (take) {
            rc = add_target(c, file, funcs, n, f, python);
            if (rc < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "targets: out of memory");
            }
        }
    }
    core_free(funcs);
    return rc;
}

int patch__targets_find(patch_result *result, const patch__snap *snap, const patch__changes *base,
                        const patch_options *opts, core_err *err)
{
    gram_lang *py = NULL;
    gram_lang *c_lang = NULL;
    bool *found = NULL;
    int rc = gram_lang_load(&py, "python", err);
    if (rc == 0) {
        rc = gram_lang_load(&c_lang, "c", err);
    }
    if (rc < 0) {
        goto done;
    }
    find_ctx c = {.snap = snap, .opts = opts, .base = base, .result = result};
    const patch__file *mk = patch__snap_find(snap, "Makefile");
    c.make_test = mk != NULL && mk->data != NULL && has_make_target((core_str){mk->data, mk->len});
    found = core_calloc(opts->n_functions + 1, sizeof *found);
    if (found == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "targets: out of memory");
        goto done;
    }
    for (size_t i = 0; i < snap->n_files && rc == 0; i++) {
        const patch__file *file = &snap->files[i];
        bool python = has_suffix(file->path, ".py");
        bool is_c = has_suffix(file->path, ".c");
        if (file->data == NULL || file->symlink || !(python || is_c) ||
            (python ? is_python_test(file->path) : is_c_test(file->path))) {
            continue;
        }
        if (!path_is_plain(file->path)) {
            core_log_write(&opts->log, CORE_LOG_LEVEL_WARN,
                           "targets: skipping a file whose name a patch cannot carry");
            continue;
        }
        rc = scan_file(&c, file, python ? py : c_lang, python, found, err);
    }
    for (size_t k = 0; k < opts->n_functions && rc == 0; k++) {
        if (!found[k]) {
            rc = core_err_set(err, CORE_ENOTFOUND, "no such function: %s", opts->functions[k]);
        }
    }
done:
    core_free(found);
    gram_lang_free(py);
    gram_lang_free(c_lang);
    return rc;
}

/* ---- tasks and splices ------------------------------------------------------------------- */

/* Appends the asserts of the target's test files that call it, made standalone: a call through
 * a module (mod.name(...)) becomes name(...). */
static int visible_asserts(core_buf *out, const patch_target *t, const patch__snap *snap,
                           core_str name)
{
    size_t n = 0;
    const char *p = t->tests;
    while (*p != '\0' && n < ASSERTS_MAX) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char path[1024];
        snprintf(path, sizeof path, "%.*s", (int)len, p);
        p += len + (nl != NULL);
        const patch__file *f = patch__snap_find(snap, path);
        if (f == NULL || f->data == NULL) {
            continue;
        }
        const char *line = f->data;
        while (*line != '\0' && n < ASSERTS_MAX) {
            const char *eol = strchr(line, '\n');
            size_t ll = eol != NULL ? (size_t)(eol - line) : strlen(line);
            size_t k = 0;
            while (k < ll && (line[k] == ' ' || line[k] == '\t')) {
                k++;
            }
            core_str body = {line + k, ll - k};
            size_t at = 0;
            if (body.len > 7 && memcmp(body.ptr, "assert ", 7) == 0 && mentions(body, name, &at) &&
                at + name.len < body.len && body.ptr[at + name.len] == '(') {
                /* drop module qualifiers: "calc.add(" -> "add(" */
                core_buf one = {0};
                size_t i = 0;
                int rc = 0;
                while (i < body.len && rc == 0) {
                    size_t m = 0;
                    if (body.ptr[i] == '.' && i + 1 < body.len &&
                        mentions((core_str){body.ptr + i + 1, body.len - i - 1}, name, &m) &&
                        m == 0) {
                        size_t s = one.len;
                        while (s > 0 && is_word_byte(one.ptr[s - 1])) {
                            s--;
                        }
                        one.len = s;
                        i++;
                        continue;
                    }
                    rc = core_buf_append(&one, body.ptr + i, 1);
                    i++;
                }
                if (rc == 0 && one.ptr != NULL) {
                    rc = core_buf_appendf(out, "%s\n", one.ptr);
                }
                core_buf_dispose(&one);
                if (rc < 0) {
                    return CORE_ENOMEM;
                }
                n++;
            }
            line = eol != NULL ? eol + 1 : line + ll;
        }
    }
    return 0;
}

int patch__task_make(solve_task *out, const patch_target *target, core_arena *arena,
                     const patch__snap *snap, core_err *err)
{
    memset(out, 0, sizeof *out);
    bool python = strcmp(target->lang, "python") == 0;
    out->lang = python ? SOLVE_LANG_PYTHON : SOLVE_LANG_C;
    out->prompt = core_str_c(target->prompt);
    const char *dot = strrchr(target->name, '.');
    out->entry = core_str_c(dot != NULL ? dot + 1 : target->name);
    if (python && dot == NULL) {
        core_buf tests = {0};
        if (visible_asserts(&tests, target, snap, out->entry) < 0) {
            core_buf_dispose(&tests);
            return core_err_set(err, CORE_ENOMEM, "task %s: out of memory", target->name);
        }
        if (tests.len > 0) {
            char *s = core_arena_strndup(arena, tests.ptr, tests.len);
            if (s == NULL) {
                core_buf_dispose(&tests);
                return core_err_set(err, CORE_ENOMEM, "task %s: out of memory", target->name);
            }
            out->visible_tests = (core_str){s, tests.len};
        }
        core_buf_dispose(&tests);
    }
    return 0;
}

/* Appends text re-indented: the first line gets `to` blanks; later lines that start with
 * `from` blanks get `to` instead. */
static int append_reindented(core_buf *out, core_str text, size_t from, size_t to)
{
    size_t i = 0;
    bool first = true;
    while (i < text.len) {
        const char *nl = memchr(text.ptr + i, '\n', text.len - i);
        size_t end = nl != NULL ? (size_t)(nl - text.ptr) + 1 : text.len;
        size_t k = 0;
        while (!first && k < from && i + k < end && text.ptr[i + k] == ' ') {
            k++;
        }
        bool blank = end - i - k == 0 || text.ptr[i + k] == '\n';
        if (!blank || first) {
            if ((first || k == from) && core_buf_reserve(out, to) == 0) {
                memset(out->ptr + out->len, ' ', to);
                out->len += to;
                out->ptr[out->len] = '\0';
            } else if (!(first || k == from)) {
                k = 0; /* a continuation line less indented than the body: keep it */
            }
        }
        if (core_buf_append(out, text.ptr + i + k, end - i - k) < 0) {
            return CORE_ENOMEM;
        }
        i = end;
        first = false;
    }
    return 0;
}

int patch__splice_make(char **out, const patch_target *target, const patch__snap *snap,
                       core_str code, core_err *err)
{
    *out = NULL;
    (void)snap;
    bool python = strcmp(target->lang, "python") == 0;
    const char *dot = strrchr(target->name, '.');
    core_str name = core_str_c(dot != NULL ? dot + 1 : target->name);
    gram_lang *lang = NULL;
    gram_func *funcs = NULL;
    size_t n = 0;
    core_buf buf = {0};
    int rc = gram_lang_load(&lang, python ? "python" : "c", err);
    if (rc == 0) {
        rc = gram_funcs_find(&funcs, &n, lang, code, err);
    }
    if (rc < 0) {
        goto done;
    }
    const gram_func *f = NULL;
    for (size_t i = 0; i < n; i++) {
        if (funcs[i].scope_len == 0 && funcs[i].name_len == name.len &&
            memcmp(code.ptr + funcs[i].name_start, name.ptr, name.len) == 0) {
            f = &funcs[i];
        }
    }
    if (f == NULL || f->stub != GRAM_STUB_NONE || f->impl_start >= f->def_end) {
        rc = core_err_set(err, CORE_EPARSE, "candidate for %s: %s", target->name,
                          f == NULL ? "does not define the function" : "is itself a stub");
        goto done;
    }
    core_str impl = {code.ptr + f->impl_start, f->def_end - f->impl_start};
    if (python) {
        const patch__file *file = patch__snap_find(snap, target->path);
        size_t to = 4;
        if (file != NULL && file->data != NULL) {
            /* the stub's body indentation: the column after head_end's line, else def + 4 */
            size_t s = line_start((core_str){file->data, file->len}, target->splice_start);
            size_t col = 0;
            while (s + col < file->len && file->data[s + col] == ' ') {
                col++;
            }
            to = col + (strncmp(file->data + s + col, "def ", 4) == 0 ||
                                strncmp(file->data + s + col, "async ", 6) == 0
                            ? 4
                            : 0);
        }
        rc = core_buf_append(&buf, "\n", 1);
        if (rc == 0) {
            rc = append_reindented(&buf, impl, f->indent, to);
        }
    } else {
        rc = core_buf_append(&buf, impl.ptr, impl.len);
    }
    if (rc < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "candidate for %s: out of memory", target->name);
        goto done;
    }
    *out = buf.ptr != NULL ? buf.ptr : dup_c("");
    buf.ptr = NULL;
    if (*out == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "candidate for %s: out of memory", target->name);
    }
done:
    core_buf_dispose(&buf);
    core_free(funcs);
    gram_lang_free(lang);
    return rc;
}
