/*
 * Repository context: what a completion or an implement run should know from the rest of the
 * workspace. The document's imports are read line by line (Python `import a.b [as c]`, `from
 * [.]m import x [as y], (...)`; C `#include "h"`), each resolved to a file beside the document or
 * under the workspace's root (an open document's text wins over the disk's), and the definitions
 * that the document uses are listed with tree-sitter (gram_funcs_find): their signatures and
 * docstrings, bodies replaced by `...`. A definition the document names (a from-import, a
 * `module.name` use, a call of a function defined in another open document) comes first; the
 * other public functions of a whole-module import follow while the token budget lasts. The text
 * is stable while the document's imports and uses do not change, so a session's cached prompt
 * tokens survive typing.
 */
#include "solve/solve_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Files read at most per context, and bytes read at most per file. */
#define CONTEXT_FILES_MAX      16
#define CONTEXT_FILE_BYTES_MAX ((size_t)1 << 20)

solve_context_options solve_context_options_default(void)
{
    solve_context_options o;
    memset(&o, 0, sizeof(o));
    o.n_tokens_max = 384;
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Imports                                                                                    */
/* ------------------------------------------------------------------------------------------ */

bool solve__ident_char(char ch)
{
    return ch == '_' || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (unsigned char)ch >= 0x80;
}

static size_t skip_blanks(core_str t, size_t i, size_t end)
{
    while (i < end && (t.ptr[i] == ' ' || t.ptr[i] == '\t' || t.ptr[i] == '\r')) {
        i++;
    }
    return i;
}

/* Whether [i, end) starts with word followed by a blank. */
static bool keyword_at(core_str t, size_t i, size_t end, const char *word)
{
    size_t n = strlen(word);
    return end - i > n && memcmp(t.ptr + i, word, n) == 0 &&
           (t.ptr[i + n] == ' ' || t.ptr[i + n] == '\t');
}

/* Reads an identifier (dotted when dots) at i into out (cap bytes with its NUL); returns the
   index after it, or i when there is none or it does not fit. */
static size_t read_name(core_str t, size_t i, size_t end, bool dots, char *out, size_t cap)
{
    size_t j = i;
    while (j < end && (solve__ident_char(t.ptr[j]) || (dots && t.ptr[j] == '.'))) {
        j++;
    }
    if (j == i || j - i >= cap) {
        return i;
    }
    memcpy(out, t.ptr + i, j - i);
    out[j - i] = '\0';
    return j;
}

/* Module "a.b" as the path "a/b" (leading dots of a relative import: "", "../", ...). */
static bool module_path(char *out, size_t cap, size_t n_dots, const char *module)
{
    size_t n = 0;
    for (size_t k = 1; k < n_dots; k++) {
        if (n + 3 >= cap) {
            return false;
        }
        memcpy(out + n, "../", 3);
        n += 3;
    }
    for (const char *p = module; *p; p++) {
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = *p == '.' ? '/' : *p;
    }
    out[n] = '\0';
    return n > 0;
}

/* `from M import a, b as c, (d, e)`: the names, which may go on over lines inside brackets.
   Returns where the statement ends. */
static size_t read_from_names(solve_import *im, core_str t, size_t i)
{
    bool paren = false;
    while (i < t.len) {
        char ch = t.ptr[i];
        if (ch == '(') {
            paren = true;
            i++;
        } else if (ch == ')' || ch == '#' || (ch == '\n' && !paren)) {
            break;
        } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == ',' || ch == '\\' || ch == '\n') {
            i++;
        } else if (keyword_at(t, i, t.len, "as")) {
            i += 2;
            i = skip_blanks(t, i, t.len);
            char alias[SOLVE_IMPORT_NAME_MAX];
            i = read_name(t, i, t.len, false, alias, sizeof(alias)); /* i may be t.len */
        } else {
            size_t j = i;
            if (im->n_names < SOLVE_IMPORT_NAMES_MAX) {
                j = read_name(t, i, t.len, false, im->names[im->n_names], SOLVE_IMPORT_NAME_MAX);
                im->n_names += j > i;
            }
            if (j == i) {
                while (j < t.len && solve__ident_char(t.ptr[j])) {
                    j++;
                }
            }
            i = j > i ? j : i + 1; /* '*' or a stray byte */
        }
    }
    return i;
}

/* Python: the import statement on the line [ls, le); returns imports added. */
static size_t python_import(solve_import *out, size_t n_max, core_str t, size_t ls, size_t le,
                            size_t *stmt_end)
{
    size_t i = skip_blanks(t, ls, le);
    *stmt_end = le;
    if (keyword_at(t, i, le, "from")) {
        i = skip_blanks(t, i + 4, le);
        size_t n_dots = 0;
        while (i < le && t.ptr[i] == '.') {
            n_dots++;
            i++;
        }
        char module[SOLVE_IMPORT_PATH_MAX];
        module[0] = '\0';
        size_t j = read_name(t, i, le, true, module, sizeof(module));
        i = skip_blanks(t, j, le);
        if (n_max == 0 || !keyword_at(t, i, le, "import")) {
            return 0;
        }
        solve_import *im = &out[0];
        memset(im, 0, sizeof(*im));
        im->relative = n_dots > 0;
        if (!module[0]) {
            return 0; /* `from . import m`: a package's module, rarely a definition */
        }
        if (!module_path(im->path, sizeof(im->path), n_dots ? n_dots : 1, module)) {
            return 0;
        }
        *stmt_end = read_from_names(im, t, skip_blanks(t, i + 6, le));
        return im->n_names > 0;
    }
    if (!keyword_at(t, i, le, "import")) {
        return 0;
    }
    size_t n = 0;
    i += 6;
    while (i < le && n < n_max) {
        i = skip_blanks(t, i, le);
        char module[SOLVE_IMPORT_PATH_MAX];
        size_t j = read_name(t, i, le, true, module, sizeof(module));
        if (j == i) {
            break;
        }
        solve_import *im = &out[n];
        memset(im, 0, sizeof(*im));
        i = skip_blanks(t, j, le);
        bool ok = module_path(im->path, sizeof(im->path), 1, module) &&
                  strlen(module) < sizeof(im->alias);
        if (ok) {
            memcpy(im->alias, module, strlen(module) + 1);
        }
        if (keyword_at(t, i, le, "as")) {
            i = skip_blanks(t, i + 2, le);
            j = read_name(t, i, le, false, im->alias, sizeof(im->alias));
            ok = ok && j > i;
            i = skip_blanks(t, j, le);
        }
        n += ok;
        if (i >= le || t.ptr[i] != ',') {
            break;
        }
        i++;
    }
    return n;
}

/* C: `#include "path"` on the line [ls, le). */
static size_t c_include(solve_import *out, size_t n_max, core_str t, size_t ls, size_t le)
{
    size_t i = skip_blanks(t, ls, le);
    if (n_max == 0 || i >= le || t.ptr[i] != '#') {
        return 0;
    }
    i = skip_blanks(t, i + 1, le);
    if (le - i < 7 || memcmp(t.ptr + i, "include", 7) != 0) {
        return 0;
    }
    i = skip_blanks(t, i + 7, le);
    if (i >= le || t.ptr[i] != '"') {
        return 0; /* <system> headers are not the workspace's */
    }
    const char *close = memchr(t.ptr + i + 1, '"', le - i - 1);
    size_t n = close ? (size_t)(close - (t.ptr + i + 1)) : 0;
    if (n == 0 || n >= sizeof(out->path) || memchr(t.ptr + i + 1, '\0', n)) {
        return 0;
    }
    memset(&out[0], 0, sizeof(out[0]));
    memcpy(out[0].path, t.ptr + i + 1, n);
    out[0].path[n] = '\0';
    out[0].relative = true;
    return 1;
}

size_t solve_context_imports(solve_import *out, size_t n_max, solve_lang lang, core_str doc)
{
    size_t n = 0;
    size_t ls = 0;
    while (ls < doc.len && n < n_max) {
        const char *nl = memchr(doc.ptr + ls, '\n', doc.len - ls);
        size_t le = nl ? (size_t)(nl - doc.ptr) : doc.len;
        size_t next = le + 1;
        size_t got = 0;
        if (lang == SOLVE_LANG_C) {
            got = c_include(out + n, n_max - n, doc, ls, le);
        } else {
            size_t stmt_end = le;
            got = python_import(out + n, n_max - n, doc, ls, le, &stmt_end);
            if (stmt_end > le) {
                nl = memchr(doc.ptr + stmt_end, '\n', doc.len - stmt_end);
                next = nl ? (size_t)(nl - doc.ptr) + 1 : doc.len;
            }
        }
        n += got;
        ls = next;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* out = a followed by b; false (out "") when it does not fit in cap bytes. */
bool solve__str_cat(char *out, size_t cap, const char *a, const char *b)
{
    size_t na = strlen(a);
    size_t nb = strlen(b);
    if (na + nb + 1 > cap) {
        out[0] = '\0';
        return false;
    }
    memmove(out, a, na);
    memcpy(out + na, b, nb + 1);
    return true;
}

/* Joins dir and rel into out and folds "." and ".." segments. False when it does not fit. */
bool solve__path_join(char *out, size_t cap, const char *dir, const char *rel)
{
    char tmp[1024];
    int w = rel[0] == '/' || !dir || !dir[0] ? snprintf(tmp, sizeof(tmp), "%s", rel)
                                             : snprintf(tmp, sizeof(tmp), "%s/%s", dir, rel);
    if (w < 0 || (size_t)w >= sizeof(tmp)) {
        return false;
    }
    /* Segment by segment; "x/.." pops x unless x is itself "..". */
    size_t n = 0;
    bool abs = tmp[0] == '/';
    const char *p = tmp;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        const char *q = p;
        while (*q && *q != '/') {
            q++;
        }
        size_t len = (size_t)(q - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p = q;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            size_t last = n;
            while (last > 0 && out[last - 1] != '/') {
                last--;
            }
            bool up = n > last && !(n - last == 2 && out[last] == '.' && out[last + 1] == '.');
            if (up) {
                n = last > 0 ? last - 1 : 0;
                p = q;
                continue;
            }
            if (abs && n == 0) {
                p = q;
                continue; /* above the root */
            }
        }
        if (n + (n > 0 || abs) + len + 1 > cap) {
            return false;
        }
        if (n > 0 || abs) {
            out[n++] = '/';
        }
        memcpy(out + n, p, len);
        n += len;
        p = q;
    }
    if (n == 0) {
        if (cap < 2) {
            return false;
        }
        out[n++] = abs ? '/' : '.';
    }
    out[n] = '\0';
    return true;
}

/* A file's text: an open document's, else the disk's (at most CONTEXT_FILE_BYTES_MAX). Returns
   1 when found, 0 when not, CORE_ENOMEM. */
int solve__file_read(core_buf *out, const solve_context_options *o, const char *path, core_err *err)
{
    for (size_t i = 0; i < o->n_files; i++) {
        char norm[1024];
        if (o->files[i].path && solve__path_join(norm, sizeof(norm), NULL, o->files[i].path) &&
            strcmp(norm, path) == 0) {
            if (core_buf_append(out, o->files[i].text.ptr, o->files[i].text.len) < 0) {
                return core_err_set(err, CORE_ENOMEM, "context: out of memory for %s", path);
            }
            return 1;
        }
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return 0; /* ENOENT, EACCES, a folder: not a source the context can use */
    }
    char chunk[8192];
    size_t got = 0;
    int rc = 1;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + got > CONTEXT_FILE_BYTES_MAX) {
            rc = 0; /* too large to be a module worth reading */
            break;
        }
        if (core_buf_append(out, chunk, got) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "context: out of memory for %s", path);
            break;
        }
    }
    if (ferror(f)) {
        rc = 0;
    }
    fclose(f);
    return rc;
}

/* Resolves import im to a file and reads it into text; the path found goes into found. */
int solve__import_read(core_buf *text, char *found, size_t cap, const solve_context_options *o,
                       solve_lang lang, const solve_import *im, core_err *err)
{
    const char *bases[2] = {o->dir, o->root};
    size_t n_bases = im->relative && lang == SOLVE_LANG_PYTHON ? 1 : 2;
    static const char *const py_tails[] = {".py", "/__init__.py"};
    for (size_t b = 0; b < n_bases; b++) {
        if (!bases[b]) {
            continue;
        }
        for (size_t k = 0; k < (lang == SOLVE_LANG_PYTHON ? 2U : 1U); k++) {
            char rel[SOLVE_IMPORT_PATH_MAX + 16];
            if (!solve__str_cat(rel, sizeof(rel), im->path,
                                lang == SOLVE_LANG_PYTHON ? py_tails[k] : "") ||
                !solve__path_join(found, cap, bases[b], rel)) {
                continue;
            }
            text->len = 0;
            int rc = solve__file_read(text, o, found, err);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Definitions                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* One definition the context may show. */
typedef struct chunk {
    size_t file;  /* index of its file in the context's files */
    size_t start; /* [start, end) of the file's text: signature and docstring */
    size_t end;
    size_t indent;   /* Python: its body's column (the `...` line's) */
    core_str scope;  /* Python: the enclosing class's name (len 0: none), in the file's text */
    int tier;        /* 0 named by the document, 1 the rest of a whole-module import */
    size_t n_tokens; /* its cost */
    bool chosen;
} chunk;

typedef struct ctx_file {
    core_buf text;                          /* owned */
    char label[SOLVE_IMPORT_PATH_MAX + 16]; /* the path shown in the context's header */
    const solve_import *ims[4]; /* (n_ims) the imports that brought it; none: an open document */
    size_t n_ims;
} ctx_file;

/* Whether doc uses word as a whole identifier, preceded by prefix (may be "") and followed by
   follow (0: anything that ends an identifier). */
static bool doc_uses(core_str doc, core_str prefix, core_str word, char follow)
{
    size_t n = prefix.len + word.len;
    for (size_t i = 0; word.len > 0 && i + n <= doc.len; i++) {
        if ((i > 0 &&
             (solve__ident_char(doc.ptr[i - 1]) || (prefix.len == 0 && doc.ptr[i - 1] == '.')))) {
            continue;
        }
        if (memcmp(doc.ptr + i, prefix.ptr, prefix.len) != 0 ||
            memcmp(doc.ptr + i + prefix.len, word.ptr, word.len) != 0) {
            continue;
        }
        char next = i + n < doc.len ? doc.ptr[i + n] : '\0';
        if (solve__ident_char(next)) {
            continue;
        }
        size_t j = i + n;
        while (follow && j < doc.len && (doc.ptr[j] == ' ' || doc.ptr[j] == '\t')) {
            j++;
        }
        if (!follow || (j < doc.len && doc.ptr[j] == follow)) {
            return true;
        }
    }
    return false;
}

static int tier_of_import(const solve_import *im, core_str doc, core_str name, core_str scope)
{
    if (im->n_names > 0) {
        core_str key = scope.len ? scope : name;
        for (size_t k = 0; k < im->n_names; k++) {
            if (core_str_eq_c(key, im->names[k])) {
                return 0;
            }
        }
        return -1;
    }
    if (scope.len > 0 || (name.len > 0 && name.ptr[0] == '_')) {
        return -1;
    }
    char dotted[SOLVE_IMPORT_NAME_MAX + 2];
    solve__str_cat(dotted, sizeof(dotted), im->alias, ".");
    return doc_uses(doc, core_str_c(dotted), name, 0) ? 0 : 1;
}

/* 0: the document names it; 1: shown while the budget lasts; -1: not shown. */
static int tier_of(const ctx_file *f, core_str doc, core_str name, core_str scope, bool defined)
{
    if (f->n_ims == 0) {
        /* Another open document: what the document calls and does not define itself. */
        return !defined && scope.len == 0 && doc_uses(doc, core_str_c(""), name, '(') ? 0 : -1;
    }
    int best = -1;
    for (size_t i = 0; i < f->n_ims; i++) {
        int t = tier_of_import(f->ims[i], doc, name, scope);
        if (t >= 0 && (best < 0 || t < best)) {
            best = t;
        }
    }
    return best;
}

/* The definitions of file fi (Python functions, C function signatures) into chunks. */
static int chunks_find(chunk **chunks, size_t *n_chunks, size_t *cap, const gram_lang *gl,
                       const ctx_file *f, size_t fi, core_str doc, const gram_func *doc_funcs,
                       size_t n_doc_funcs, core_err *err)
{
    gram_func *funcs = NULL;
    size_t n = 0;
    core_str t = {f->text.ptr ? f->text.ptr : "", f->text.len};
    core_err ferr = {0};
    int rc = gram_funcs_find(&funcs, &n, gl, t, &ferr);
    if (rc == CORE_ENOMEM) {
        return core_err_set(err, rc, "%s", ferr.msg);
    }
    if (rc < 0) {
        return 0; /* a file tree-sitter refuses (NUL bytes, too long) gives no context */
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const gram_func *g = &funcs[i];
        core_str name = {t.ptr + g->name_start, g->name_len};
        core_str scope = {t.ptr + g->scope_start, g->scope_len};
        bool defined = false;
        for (size_t k = 0; k < n_doc_funcs && !defined; k++) {
            defined = core_str_eq(
                name, (core_str){doc.ptr + doc_funcs[k].name_start, doc_funcs[k].name_len});
        }
        int tier = tier_of(f, doc, name, scope, defined);
        if (tier < 0) {
            continue;
        }
        if (*n_chunks == *cap) {
            size_t nc = *cap * 2 + 16;
            chunk *grown = core_realloc(*chunks, nc * sizeof(*grown));
            if (!grown) {
                rc = core_err_set(err, CORE_ENOMEM, "context: out of memory");
                break;
            }
            *chunks = grown;
            *cap = nc;
        }
        chunk *c = &(*chunks)[(*n_chunks)++];
        memset(c, 0, sizeof(*c));
        c->file = fi;
        c->start = g->doc_len > 0 && g->doc_start < g->def_start ? g->doc_start : g->def_start;
        c->end = g->head_end;
        c->indent = g->indent;
        c->scope = scope;
        c->tier = tier;
    }
    core_free(funcs);
    return rc;
}

/* Appends text to out, each line behind the language's comment marker when comment. */
static int append_lines(core_buf *out, core_str text, bool comment, solve_lang lang)
{
    if (!comment) {
        return core_buf_append(out, text.ptr, text.len);
    }
    const char *mark = lang == SOLVE_LANG_C ? "// " : "# ";
    size_t i = 0;
    while (i < text.len) {
        const char *nl = memchr(text.ptr + i, '\n', text.len - i);
        size_t e = nl ? (size_t)(nl - text.ptr) + 1 : text.len;
        if (core_buf_append(out, mark, strlen(mark)) < 0 ||
            core_buf_append(out, text.ptr + i, e - i) < 0) {
            return CORE_ENOMEM;
        }
        i = e;
    }
    return 0;
}

/* The text of chunk c as it is shown (class header when asked, the body as `...`). */
static int chunk_text(core_buf *out, const ctx_file *f, const chunk *c, solve_lang lang,
                      bool class_header)
{
    core_str t = {f->text.ptr, f->text.len};
    int rc = 0;
    if (class_header && c->scope.len > 0) {
        rc = core_buf_appendf(out, "class %.*s:\n", (int)c->scope.len, c->scope.ptr);
    }
    /* A method's signature line starts after its indentation: give it back. */
    size_t col = c->start;
    while (col > 0 && (t.ptr[col - 1] == ' ' || t.ptr[col - 1] == '\t')) {
        col--;
    }
    if (rc == 0) {
        rc = core_buf_append(out, t.ptr + col, c->end - col);
    }
    if (rc == 0 && lang == SOLVE_LANG_PYTHON) {
        rc = core_buf_appendf(out, "\n%*s...\n\n", (int)c->indent, "");
    } else if (rc == 0) {
        size_t e = c->end;
        while (e > c->start && (t.ptr[e - 1] == ' ' || t.ptr[e - 1] == '\n' ||
                                t.ptr[e - 1] == '\r' || t.ptr[e - 1] == '{')) {
            e--;
        }
        out->len -= c->end - e; /* the '{' of the body becomes the ';' of a prototype */
        rc = core_buf_append(out, ";\n", 2);
    }
    return rc < 0 ? CORE_ENOMEM : 0;
}

static size_t count_tokens(const solve_completer *completer, core_str text)
{
    const gen_model *model = solve__completer_model(completer);
    int32_t *ids = NULL;
    size_t n = 0;
    core_err terr = {0};
    if (!model || gen_model_tokenize(model, text, false, false, &ids, &n, &terr) < 0) {
        n = text.len / 3 + 1; /* an estimate: code runs about three bytes a token */
    }
    core_free(ids);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* The context                                                                                */
/* ------------------------------------------------------------------------------------------ */

static bool has_ext(const char *path, solve_lang lang)
{
    size_t n = strlen(path);
    if (lang == SOLVE_LANG_C) {
        return n > 2 && (strcmp(path + n - 2, ".c") == 0 || strcmp(path + n - 2, ".h") == 0);
    }
    return n > 3 && strcmp(path + n - 3, ".py") == 0;
}

/* The files of the context: the imports', then the other open documents of the language. */
static int files_gather(ctx_file *files, size_t *n_files, solve_import *imports, size_t n_imports,
                        solve_lang lang, const solve_context_options *o, core_err *err)
{
    char paths[CONTEXT_FILES_MAX][1024];
    int rc = 0;
    for (size_t i = 0; i < n_imports && *n_files < CONTEXT_FILES_MAX && rc == 0; i++) {
        ctx_file *f = &files[*n_files];
        char *found = paths[*n_files];
        if (!imports[i].path[0]) {
            continue;
        }
        rc = solve__import_read(&f->text, found, sizeof(paths[0]), o, lang, &imports[i], err);
        bool dup = false;
        for (size_t k = 0; k < *n_files && rc == 1 && !dup; k++) {
            dup = strcmp(paths[k], found) == 0;
            if (dup && files[k].n_ims < sizeof(files[k].ims) / sizeof(files[k].ims[0])) {
                files[k].ims[files[k].n_ims++] = &imports[i]; /* another import of it */
            }
        }
        if (rc == 1 && !dup && (!o->self || strcmp(found, o->self) != 0)) {
            f->ims[0] = &imports[i];
            f->n_ims = 1;
            solve__str_cat(f->label, sizeof(f->label), imports[i].path,
                           lang == SOLVE_LANG_PYTHON ? ".py" : "");
            (*n_files)++;
        } else {
            core_buf_dispose(&f->text);
        }
        rc = rc < 0 ? rc : 0;
    }
    char self[1024];
    bool has_self = o->self && solve__path_join(self, sizeof(self), NULL, o->self);
    for (size_t i = 0; i < o->n_files && *n_files < CONTEXT_FILES_MAX && rc == 0; i++) {
        char norm[1024];
        const solve_context_file *of = &o->files[i];
        if (!of->path || !has_ext(of->path, lang) ||
            !solve__path_join(norm, sizeof(norm), NULL, of->path) ||
            (has_self && !strcmp(norm, self))) {
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < *n_files; k++) {
            dup = dup || strcmp(paths[k], norm) == 0;
        }
        if (dup) {
            continue;
        }
        ctx_file *f = &files[*n_files];
        if (core_buf_append(&f->text, of->text.ptr, of->text.len) < 0) {
            return core_err_set(err, CORE_ENOMEM, "context: out of memory for %s", norm);
        }
        memcpy(paths[*n_files], norm, strlen(norm) + 1);
        const char *base = strrchr(norm, '/');
        solve__str_cat(f->label, sizeof(f->label), "", base ? base + 1 : norm);
        f->n_ims = 0;
        (*n_files)++;
    }
    return rc;
}

int solve_context_build(core_buf *out, size_t *n_tokens, const solve_completer *completer,
                        solve_lang lang, core_str doc, const solve_context_options *opts,
                        core_err *err)
{
    int rc = 0;
    solve_context_options o = opts ? *opts : solve_context_options_default();
    solve_import imports[CONTEXT_FILES_MAX];
    ctx_file files[CONTEXT_FILES_MAX];
    size_t n_files = 0;
    chunk *chunks = NULL;
    size_t n_chunks = 0;
    size_t cap = 0;
    gram_func *doc_funcs = NULL;
    size_t n_doc_funcs = 0;
    memset(files, 0, sizeof(files));
    *n_tokens = 0;
    const gram_lang *gl = solve__completer_lang(completer, lang);
    if (!gl || o.n_tokens_max == 0) {
        return 0;
    }
    size_t n_imports = solve_context_imports(imports, CONTEXT_FILES_MAX, lang, doc);
    rc = files_gather(files, &n_files, imports, n_imports, lang, &o, err);
    if (rc == 0 && n_files > 0) {
        core_err ferr = {0};
        int frc = gram_funcs_find(&doc_funcs, &n_doc_funcs, gl, doc, &ferr);
        if (frc == CORE_ENOMEM) {
            rc = core_err_set(err, frc, "%s", ferr.msg);
        }
    }
    for (size_t i = 0; i < n_files && rc == 0; i++) {
        if (lang == SOLVE_LANG_C && files[i].n_ims > 0) {
            /* A header: its declarations as they are, one chunk, kept whole while it fits. */
            if (n_chunks == cap) {
                size_t nc = cap * 2 + 16;
                chunk *grown = core_realloc(chunks, nc * sizeof(*grown));
                if (!grown) {
                    rc = core_err_set(err, CORE_ENOMEM, "context: out of memory");
                    break;
                }
                chunks = grown;
                cap = nc;
            }
            chunk *c = &chunks[n_chunks++];
            memset(c, 0, sizeof(*c));
            c->file = i;
            c->end = files[i].text.len;
            c->tier = 0;
            continue;
        }
        rc = chunks_find(&chunks, &n_chunks, &cap, gl, &files[i], i, doc, doc_funcs, n_doc_funcs,
                         err);
    }
    /* Choose within the budget: tier 0 in order, then tier 1. */
    size_t used = 0;
    core_buf tmp = {0};
    for (int tier = 0; tier < 2 && rc == 0; tier++) {
        for (size_t i = 0; i < n_chunks && rc == 0; i++) {
            chunk *c = &chunks[i];
            if (c->tier != tier) {
                continue;
            }
            tmp.len = 0;
            if (lang == SOLVE_LANG_C && files[c->file].n_ims > 0) {
                rc = core_buf_append(&tmp, files[c->file].text.ptr + c->start, c->end - c->start);
            } else {
                rc = chunk_text(&tmp, &files[c->file], c, lang, true);
            }
            if (rc < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "context: out of memory");
                break;
            }
            c->n_tokens = count_tokens(completer, (core_str){tmp.ptr, tmp.len}) + 1;
            size_t left = o.n_tokens_max > used + 8 ? o.n_tokens_max - used - 8 : 0;
            if (lang == SOLVE_LANG_C && files[c->file].n_ims > 0 && c->n_tokens > left &&
                left > 16) {
                /* A header longer than what is left: its first lines, about 3 bytes a token. */
                size_t e = c->start + left * 3 < c->end ? c->start + left * 3 : c->end;
                while (e > c->start && files[c->file].text.ptr[e - 1] != '\n') {
                    e--;
                }
                c->end = e;
                c->n_tokens = left;
            }
            if (c->end > c->start && used + c->n_tokens + 8 <= o.n_tokens_max) {
                c->chosen = true;
                used += c->n_tokens + 8; /* 8: the file's header line, at most */
            }
        }
    }
    core_buf_dispose(&tmp);
    /* Write the chosen ones file by file, in source order. */
    size_t start_len = out->len;
    for (size_t fi = 0; fi < n_files && rc == 0; fi++) {
        bool header = false;
        core_str last_scope = {NULL, 0};
        for (size_t i = 0; i < n_chunks && rc == 0; i++) {
            const chunk *c = &chunks[i];
            if (c->file != fi || !c->chosen) {
                continue;
            }
            core_buf piece = {0};
            if (!header) {
                rc = core_buf_appendf(out, "%s file: %s\n", lang == SOLVE_LANG_C ? "//" : "#",
                                      files[fi].label) < 0
                         ? CORE_ENOMEM
                         : 0;
                header = true;
            }
            bool new_scope = c->scope.len > 0 && !core_str_eq(c->scope, last_scope);
            if (rc == 0) {
                if (lang == SOLVE_LANG_C && files[fi].n_ims > 0) {
                    rc = core_buf_append(&piece, files[fi].text.ptr + c->start, c->end - c->start) <
                                 0
                             ? CORE_ENOMEM
                             : 0;
                    if (rc == 0 && piece.len > 0 && piece.ptr[piece.len - 1] != '\n') {
                        rc = core_buf_append(&piece, "\n", 1) < 0 ? CORE_ENOMEM : 0;
                    }
                } else {
                    rc = chunk_text(&piece, &files[fi], c, lang, new_scope);
                }
            }
            last_scope = c->scope;
            if (rc == 0) {
                rc = append_lines(out, (core_str){piece.ptr ? piece.ptr : "", piece.len}, o.comment,
                                  lang);
            }
            core_buf_dispose(&piece);
        }
        if (rc == 0 && header && core_buf_append(out, "\n", 1) < 0) {
            rc = CORE_ENOMEM;
        }
    }
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "context: out of memory");
    }
    if (rc < 0) {
        out->len = start_len;
    } else {
        *n_tokens = used;
    }
    for (size_t i = 0; i < CONTEXT_FILES_MAX; i++) {
        core_buf_dispose(&files[i].text);
    }
    core_free(chunks);
    core_free(doc_funcs);
    return rc;
}
