/*
 * What the workspace says about a function: its tests, and the verdict of running them on a
 * completed document. Tests come from the workspace's pytest files (test_*.py, *_test.py found
 * under the root, or open in the editor): the test_* functions without parameters that mention
 * the function, with the file's other top-level statements (imports, constants, helpers) so that
 * they run as they would under pytest. The sandbox's tests process sees the candidate's
 * functions as globals, so the imports of workspace modules are dropped (a `module.name` use
 * becomes `name`), as are pytest's own import, decorated definitions (fixtures, parametrized
 * tests) and classes. A completion is tested by running the whole document with the completion
 * in it (its workspace imports dropped the same way) against the given tests, else the
 * function's docstring examples and the workspace's tests.
 */
#include "solve/solve_int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define WALK_DEPTH_MAX   4
#define WALK_ENTRIES_MAX 4000
#define TEST_FILES_MAX   32

/* Whether t has word as a whole identifier. */
static bool has_word(core_str t, core_str word)
{
    for (size_t i = 0; word.len > 0 && i + word.len <= t.len; i++) {
        if (memcmp(t.ptr + i, word.ptr, word.len) == 0 &&
            (i == 0 || !solve__ident_char(t.ptr[i - 1])) &&
            (i + word.len == t.len || !solve__ident_char(t.ptr[i + word.len]))) {
            return true;
        }
    }
    return false;
}

static bool starts_with(core_str t, size_t at, const char *s)
{
    size_t n = strlen(s);
    return t.len - at >= n && memcmp(t.ptr + at, s, n) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Globs and the test configuration                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Steps a match may take: '*' backtracks, and a glob from outside must not make it slow. */
#define GLOB_STEPS_MAX 200000

/* The class at g (just after '['): whether ch is in it; *end just after its ']'. False with
 *end NULL when the class does not close (the '[' is then literal). */
static bool glob_class(const char *g, char ch, const char **end)
{
    bool negate = *g == '!' || *g == '^';
    const char *p = negate ? g + 1 : g;
    bool in = false;
    for (bool first = true; *p && (first || *p != ']'); first = false) {
        char lo = *p == '\\' && p[1] ? *++p : *p;
        char hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = p[2] == '\\' && p[3] ? p[3] : p[2];
            p += p[2] == '\\' && p[3] ? 3 : 2;
        }
        in = in || (ch >= lo && ch <= hi);
        p++;
    }
    *end = *p == ']' ? p + 1 : NULL;
    return in != negate;
}

static bool glob_at(const char *start, const char *g, const char *p, size_t *steps)
{
    for (;;) {
        if (++*steps > GLOB_STEPS_MAX) {
            return false;
        }
        if (*g == '\0') {
            return *p == '\0';
        }
        if (g[0] == '*' && g[1] == '*' && (g == start || g[-1] == '/') &&
            (g[2] == '/' || g[2] == '\0')) {
            if (g[2] == '\0') {
                return true;
            }
            /* "**\/": none or more whole components. */
            for (const char *q = p;;) {
                if (glob_at(start, g + 3, q, steps)) {
                    return true;
                }
                q = strchr(q, '/');
                if (!q) {
                    return false;
                }
                q++;
            }
        }
        if (*g == '*') {
            for (const char *q = p;; q++) {
                if (glob_at(start, g + 1, q, steps)) {
                    return true;
                }
                if (*q == '\0' || *q == '/') {
                    return false;
                }
            }
        }
        if (*p == '\0') {
            return false;
        }
        if (*g == '?' || *g == '[') {
            const char *end = NULL;
            bool in = *g == '?' || glob_class(g + 1, *p, &end);
            if (*g == '[' && !end) {
                if (*p != '[') {
                    return false; /* a '[' that opens no class is itself */
                }
                g++;
                p++;
                continue;
            }
            if (!in || *p == '/') {
                return false;
            }
            g = *g == '?' ? g + 1 : end;
            p++;
            continue;
        }
        if (*g == '\\' && g[1]) {
            g++;
        }
        if (*g != *p) {
            return false;
        }
        g++;
        p++;
    }
}

bool solve_glob_match(const char *glob, const char *path)
{
    size_t steps = 0;
    return glob_at(glob, glob, path, &steps);
}

bool solve_test_glob_check(const char *glob, const char **why)
{
    size_t n = strlen(glob);
    *why = NULL;
    if (n == 0) {
        *why = "is empty";
    } else if (n > SOLVE_TEST_GLOB_MAX) {
        *why = "is too long";
    } else if (glob[0] == '/' || glob[0] == '~') {
        *why = "must be relative to the workspace folder";
    }
    for (const char *c = glob; !*why && *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            *why = "must stay inside the workspace folder (no '..')";
        }
        c += len + (c[len] == '/');
    }
    return *why == NULL;
}

bool solve_test_command_check(const char *command, const char **why)
{
    size_t n = strlen(command);
    *why = NULL;
    if (n > SOLVE_TEST_COMMAND_MAX) {
        *why = "is too long";
    } else if (strspn(command, " \t\r\n") == n) {
        *why = "is blank";
    }
    return *why == NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Dropping the workspace's imports                                                           */
/* ------------------------------------------------------------------------------------------ */

/* The end of the top-level block that starts at ls: its following lines that are blank,
   indented, or close a bracket at column 0. */
static size_t block_end(core_str t, size_t ls)
{
    const char *nl = memchr(t.ptr + ls, '\n', t.len - ls);
    size_t i = nl ? (size_t)(nl - t.ptr) + 1 : t.len;
    while (i < t.len) {
        char ch = t.ptr[i];
        bool cont = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ')' || ch == ']' ||
                    ch == '}' || ch == '#';
        if (!cont) {
            break;
        }
        nl = memchr(t.ptr + i, '\n', t.len - i);
        i = nl ? (size_t)(nl - t.ptr) + 1 : t.len;
    }
    return i;
}

/* Whether an import statement's module lives in the workspace (from the file's folder dir)
   or is pytest; the aliases of whole-module imports go into aliases (a "\n"-separated list). */
static int import_is_local(bool *local, core_buf *aliases, core_str stmt, const char *dir,
                           const solve_context_options *o, core_err *err)
{
    solve_import im[8];
    size_t n = solve_context_imports(im, 8, SOLVE_LANG_PYTHON, stmt);
    solve_context_options fo = *o;
    fo.dir = dir;
    *local = false;
    core_buf text = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char found[1024];
        bool is_pytest =
            strcmp(im[i].path, "pytest") == 0 || strncmp(im[i].path, "_pytest", 7) == 0;
        rc = is_pytest ? 1
                       : solve__import_read(&text, found, sizeof(found), &fo, SOLVE_LANG_PYTHON,
                                            &im[i], err);
        if (rc == 1) {
            *local = true;
            if (im[i].alias[0] && core_buf_appendf(aliases, "%s\n", im[i].alias) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
            }
        }
        rc = rc < 0 ? rc : 0;
    }
    core_buf_dispose(&text);
    return rc;
}

/* Removes "alias." before identifiers in text (in place), for every alias in aliases. */
static void strip_aliases(core_buf *text, core_str aliases)
{
    size_t a = 0;
    while (a < aliases.len) {
        const char *nl = memchr(aliases.ptr + a, '\n', aliases.len - a);
        size_t e = nl ? (size_t)(nl - aliases.ptr) : aliases.len;
        size_t n = e - a;
        size_t w = 0;
        for (size_t r = 0; r < text->len;) {
            bool hit =
                n > 0 && r + n + 1 < text->len && memcmp(text->ptr + r, aliases.ptr + a, n) == 0 &&
                text->ptr[r + n] == '.' &&
                (r == 0 || (!solve__ident_char(text->ptr[r - 1]) && text->ptr[r - 1] != '.')) &&
                solve__ident_char(text->ptr[r + n + 1]);
            if (hit) {
                r += n + 1;
                continue;
            }
            text->ptr[w++] = text->ptr[r++];
        }
        text->len = w;
        if (text->ptr) {
            text->ptr[w] = '\0';
        }
        a = e + 1;
    }
}

/* Appends a blank line for each line of [a, b): dropped code keeps the line numbers. */
static int append_blank_lines(core_buf *out, core_str t, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        if (t.ptr[i] == '\n' && core_buf_append(out, "\n", 1) < 0) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

/* How a test file's or a document's top-level blocks are kept. */
typedef enum keep_mode {
    KEEP_ALL = 0,   /* a document: everything but the workspace's imports */
    KEEP_TESTS = 1, /* a test file: the tests of entry and what they need */
} keep_mode;

/* Appends t, its workspace imports dropped, to out; KEEP_TESTS keeps only what is described
   at the top of the file and counts the tests taken in *n_tests. */
static int localize(core_buf *out, size_t *n_tests, core_str t, const char *dir, keep_mode mode,
                    core_str entry, const solve_context_options *o, core_err *err)
{
    core_buf aliases = {0};
    size_t start_len = out->len;
    bool skip_decorated = false;
    int rc = 0;
    *n_tests = 0;
    for (size_t ls = 0; ls < t.len && rc == 0;) {
        size_t be = block_end(t, ls);
        core_str block = {t.ptr + ls, be - ls};
        bool keep = true;
        bool decorated = skip_decorated;
        skip_decorated = false;
        if (starts_with(t, ls, "import ") || starts_with(t, ls, "from ")) {
            bool local = false;
            rc = import_is_local(&local, &aliases, block, dir, o, err);
            keep = !local;
        } else if (mode == KEEP_TESTS) {
            if (t.ptr[ls] == '@') {
                keep = false;
                skip_decorated = true; /* the definition it decorates goes with it */
            } else if ((decorated &&
                        (starts_with(t, ls, "def ") || starts_with(t, ls, "async def "))) ||
                       starts_with(t, ls, "class ") || starts_with(t, ls, "if __name__")) {
                keep = false; /* a decorated definition, a class (tests or not), a main */
            } else if (starts_with(t, ls, "def test")) {
                const char *paren = memchr(block.ptr, '(', block.len);
                keep = paren && (size_t)(paren - block.ptr) + 1 < block.len && paren[1] == ')' &&
                       has_word(block, entry);
                *n_tests += keep;
            }
        }
        if (rc == 0) {
            rc = keep ? (core_buf_append(out, block.ptr, block.len) < 0 ? CORE_ENOMEM : 0)
                      : append_blank_lines(out, t, ls, be);
        }
        ls = be;
    }
    if (rc == 0 && aliases.len > 0) {
        core_buf tail = {out->ptr + start_len, out->len - start_len, 0};
        strip_aliases(&tail, (core_str){aliases.ptr, aliases.len});
        out->len = start_len + tail.len;
    }
    core_buf_dispose(&aliases);
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
    }
    if (rc < 0) {
        out->len = start_len;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The workspace's tests                                                                      */
/* ------------------------------------------------------------------------------------------ */

static bool is_test_file(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".py") == 0 &&
           (strncmp(name, "test_", 5) == 0 || (n > 8 && strcmp(name + n - 8, "_test.py") == 0));
}

typedef struct walk {
    char (*paths)[1024]; /* (TEST_FILES_MAX) */
    size_t n_paths;
    size_t n_entries;
    char top[1024];              /* the folder walked, normalized; globs match paths
                                    relative to it */
    const solve_test_config *tc; /* the language's globs; none: pytest's file names */
} walk;

const char *solve__path_rel(const char *path, const char *top)
{
    size_t n = strlen(top);
    if (n == 0 || strcmp(top, ".") == 0) {
        return path[0] == '/' ? NULL : path;
    }
    if (strcmp(top, "/") == 0) {
        return path[0] == '/' && path[1] ? path + 1 : NULL;
    }
    return strncmp(path, top, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

bool solve__walk_skips(const char *name)
{
    return name[0] == '.' || strcmp(name, "__pycache__") == 0 ||
           strcmp(name, "node_modules") == 0 || strcmp(name, "venv") == 0 ||
           strcmp(name, "build") == 0 || strcmp(name, "site-packages") == 0;
}

/* Whether the file at path (name: its last component) is one of the tests the walk wants. */
static bool wanted(const walk *w, const char *path, const char *name)
{
    if (w->tc->n_files == 0) {
        return is_test_file(name);
    }
    const char *rel = solve__path_rel(path, w->top);
    for (size_t i = 0; rel && i < w->tc->n_files; i++) {
        if (w->tc->files[i] && solve_glob_match(w->tc->files[i], rel)) {
            return true;
        }
    }
    return false;
}

/* Collects the test files under dir, depth levels deep at most. */
static void walk_dir(walk *w, const char *dir, size_t depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    const struct dirent *e = NULL;
    while ((e = readdir(d)) != NULL && w->n_paths < TEST_FILES_MAX &&
           w->n_entries++ < WALK_ENTRIES_MAX) {
        const char *name = e->d_name;
        if (solve__walk_skips(name)) {
            continue;
        }
        char path[1024];
        if (!solve__path_join(path, sizeof(path), dir, name)) {
            continue;
        }
        struct stat st;
        if (lstat(path, &st) != 0) {
            continue; /* lstat: a link is neither a test file nor a folder to enter */
        }
        if (S_ISREG(st.st_mode) && wanted(w, path, name)) {
            memcpy(w->paths[w->n_paths++], path, strlen(path) + 1);
        } else if (depth > 0 && S_ISDIR(st.st_mode)) {
            walk_dir(w, path, depth - 1);
        }
    }
    closedir(d);
}

/* The test files of lang: the open documents' first, then the disk's, each once. */
static int test_files_find(walk *w, solve_lang lang, const solve_context_options *o, core_err *err)
{
    w->paths = NULL;
    w->n_paths = 0;
    w->n_entries = 0;
    if (!solve__path_join(w->top, sizeof(w->top), NULL,
                          o->root  ? o->root
                          : o->dir ? o->dir
                                   : ".")) {
        memcpy(w->top, ".", 2);
    }
    w->tc = &o->tests[lang];
    if (lang == SOLVE_LANG_C && w->tc->n_files == 0) {
        return 0; /* C test files come from the configuration only */
    }
    w->paths = core_malloc(TEST_FILES_MAX * sizeof(*w->paths));
    if (!w->paths) {
        return core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
    }
    for (size_t i = 0; i < o->n_files && w->n_paths < TEST_FILES_MAX; i++) {
        const char *p = o->files[i].path;
        const char *base = p ? strrchr(p, '/') : NULL;
        if (p && solve__path_join(w->paths[w->n_paths], sizeof(w->paths[0]), NULL, p) &&
            wanted(w, w->paths[w->n_paths], base ? base + 1 : p)) {
            w->n_paths++;
        }
    }
    size_t n_open = w->n_paths;
    walk_dir(w, w->top, WALK_DEPTH_MAX);
    /* Drop the disk's copies of open documents. */
    size_t n = n_open;
    for (size_t i = n_open; i < w->n_paths; i++) {
        bool dup = false;
        for (size_t k = 0; k < n_open && !dup; k++) {
            dup = strcmp(w->paths[k], w->paths[i]) == 0;
        }
        if (!dup) {
            memmove(w->paths[n++], w->paths[i], sizeof(w->paths[0]));
        }
    }
    w->n_paths = n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* C test files                                                                               */
/* ------------------------------------------------------------------------------------------ */

#define C_INCLUDE_DEPTH_MAX 4
#define C_INCLUDES_MAX      32

typedef struct c_inline_state {
    const solve_context_options *o;
    char (*seen)[1024]; /* (C_INCLUDES_MAX) headers inlined so far */
    size_t n_seen;
    bool keep_self; /* an include of o->self stays as it is (else a comment replaces it) */
} c_inline_state;

/* The name of a `#include "name"` line [a, b), or false. */
static bool c_quoted_include(core_str t, size_t a, size_t b, char *name, size_t cap)
{
    size_t i = a;
    while (i < b && (t.ptr[i] == ' ' || t.ptr[i] == '\t')) {
        i++;
    }
    if (i >= b || t.ptr[i] != '#') {
        return false;
    }
    i++;
    while (i < b && (t.ptr[i] == ' ' || t.ptr[i] == '\t')) {
        i++;
    }
    if (b - i < 7 || memcmp(t.ptr + i, "include", 7) != 0) {
        return false;
    }
    i += 7;
    while (i < b && (t.ptr[i] == ' ' || t.ptr[i] == '\t')) {
        i++;
    }
    if (i >= b || t.ptr[i] != '"') {
        return false;
    }
    const char *close = memchr(t.ptr + i + 1, '"', b - i - 1);
    size_t n = close ? (size_t)(close - (t.ptr + i + 1)) : 0;
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(name, t.ptr + i + 1, n);
    name[n] = '\0';
    return true;
}

/* Appends t to out with its quoted includes that resolve (beside dir, then under the root)
   replaced by their text, depth levels deep at most. */
static int c_inline(core_buf *out, c_inline_state *st, core_str t, const char *dir, int depth,
                    core_err *err)
{
    int rc = 0;
    for (size_t ls = 0; ls < t.len && rc == 0;) {
        const char *nl = memchr(t.ptr + ls, '\n', t.len - ls);
        size_t le = nl ? (size_t)(nl - t.ptr) + 1 : t.len;
        char name[256];
        char found[1024] = "";
        core_buf text = {0};
        bool inc = depth < C_INCLUDE_DEPTH_MAX && c_quoted_include(t, ls, le, name, sizeof(name));
        const char *bases[2] = {dir, st->o->root};
        for (size_t b = 0; inc && b < 2 && !found[0] && rc == 0; b++) {
            char path[1024];
            if (bases[b] && solve__path_join(path, sizeof(path), bases[b], name)) {
                text.len = 0;
                rc = solve__file_read(&text, st->o, path, err);
                if (rc == 1) {
                    memcpy(found, path, strlen(path) + 1);
                }
            }
        }
        rc = rc < 0 ? rc : 0;
        bool self = found[0] && st->o->self && strcmp(found, st->o->self) == 0;
        bool seen = false;
        for (size_t k = 0; found[0] && k < st->n_seen && !seen; k++) {
            seen = strcmp(st->seen[k], found) == 0;
        }
        if (self && st->keep_self) {
            found[0] = '\0'; /* the line stays as it is */
            self = false;
        }
        if (rc < 0) {
            /* out of memory: the loop ends */
        } else if (self || seen) {
            /* The document under test is the candidate; a header already inlined once. */
            rc = core_buf_appendf(out, "/* %s: %s */\n", name,
                                  self ? "the document under test" : "above") < 0
                     ? CORE_ENOMEM
                     : 0;
        } else if (found[0] && st->n_seen < C_INCLUDES_MAX) {
            memcpy(st->seen[st->n_seen++], found, strlen(found) + 1);
            char sub[1024];
            memcpy(sub, found, strlen(found) + 1);
            char *slash = strrchr(sub, '/');
            if (slash) {
                slash[slash == sub ? 1 : 0] = '\0';
            }
            rc = core_buf_appendf(out, "/* %s */\n", found) < 0 ? CORE_ENOMEM : 0;
            if (rc == 0) {
                rc = c_inline(out, st, (core_str){text.ptr ? text.ptr : "", text.len},
                              slash ? sub : ".", depth + 1, err);
            }
            if (rc == 0 && out->len > 0 && out->ptr[out->len - 1] != '\n') {
                rc = core_buf_append(out, "\n", 1) < 0 ? CORE_ENOMEM : 0;
            }
        } else {
            rc = core_buf_append(out, t.ptr + ls, le - ls) < 0 ? CORE_ENOMEM : 0;
        }
        core_buf_dispose(&text);
        ls = le;
    }
    return rc;
}

int solve_c_includes_inline(core_buf *out, size_t *n_inlined, core_str text,
                            const solve_context_options *opts, core_err *err)
{
    solve_context_options o = opts ? *opts : solve_context_options_default();
    c_inline_state st = {&o, core_malloc(C_INCLUDES_MAX * sizeof(*st.seen)), 0, true};
    size_t len0 = out->len;
    int rc = st.seen ? c_inline(out, &st, text, o.dir ? o.dir : ".", 0, err) : CORE_ENOMEM;
    core_free(st.seen);
    *n_inlined = rc == 0 ? st.n_seen : 0;
    if (rc < 0) {
        out->len = len0;
    }
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
    }
    return rc;
}

/* The C tests of entry: the first test file by path that mentions it, includes inlined. */
static int c_tests(core_buf *out, size_t *n_tests, const walk *w, core_str entry,
                   const solve_context_options *o, core_err *err)
{
    int rc = 0;
    core_buf text = {0};
    const char *best = NULL;
    for (size_t i = 0; i < w->n_paths && rc == 0; i++) {
        if (best && strcmp(w->paths[i], best) >= 0) {
            continue;
        }
        text.len = 0;
        rc = solve__file_read(&text, o, w->paths[i], err);
        core_str t = {text.ptr ? text.ptr : "", text.len};
        if (rc == 1 && has_word(t, entry) && !memchr(t.ptr, '\0', t.len)) {
            best = w->paths[i];
        }
        rc = rc < 0 ? rc : 0;
    }
    c_inline_state st = {o, NULL, 0, false};
    if (rc == 0 && best) {
        text.len = 0;
        rc = solve__file_read(&text, o, best, err);
        st.seen = core_malloc(C_INCLUDES_MAX * sizeof(*st.seen));
        rc = rc < 0 ? rc : st.seen ? 0 : CORE_ENOMEM;
    }
    if (rc == 0 && best) {
        char dir[1024];
        memcpy(dir, best, strlen(best) + 1);
        char *slash = strrchr(dir, '/');
        if (slash) {
            slash[slash == dir ? 1 : 0] = '\0';
        }
        size_t len0 = out->len;
        rc = core_buf_appendf(out, "/* %s */\n", best) < 0 ? CORE_ENOMEM : 0;
        if (rc == 0) {
            rc = c_inline(out, &st, (core_str){text.ptr ? text.ptr : "", text.len},
                          slash ? dir : ".", 0, err);
        }
        if (rc < 0) {
            out->len = len0;
        } else {
            *n_tests = 1;
        }
    }
    core_free(st.seen);
    core_buf_dispose(&text);
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
    }
    return rc;
}

int solve_workspace_tests(core_buf *out, size_t *n_tests, solve_lang lang, core_str entry,
                          const solve_context_options *opts, core_err *err)
{
    *n_tests = 0;
    solve_context_options o = opts ? *opts : solve_context_options_default();
    if ((lang != SOLVE_LANG_PYTHON && lang != SOLVE_LANG_C) || entry.len == 0) {
        return 0;
    }
    walk w;
    int rc = test_files_find(&w, lang, &o, err);
    if (rc == 0 && lang == SOLVE_LANG_C) {
        rc = c_tests(out, n_tests, &w, entry, &o, err);
        core_free(w.paths);
        return rc;
    }
    core_buf text = {0};
    for (size_t i = 0; i < w.n_paths && rc == 0; i++) {
        text.len = 0;
        rc = solve__file_read(&text, &o, w.paths[i], err);
        core_str t = {text.ptr ? text.ptr : "", text.len};
        if (rc != 1 || !has_word(t, entry) || memchr(t.ptr, '\0', t.len)) {
            rc = rc < 0 ? rc : 0;
            continue;
        }
        char dir[1024];
        memcpy(dir, w.paths[i], strlen(w.paths[i]) + 1);
        char *slash = strrchr(dir, '/');
        if (slash) {
            slash[slash == dir ? 1 : 0] = '\0';
        }
        core_buf one = {0};
        size_t n = 0;
        rc = localize(&one, &n, t, slash ? dir : ".", KEEP_TESTS, entry, &o, err);
        if (rc == 0 && n > 0) {
            if (core_buf_appendf(out, "# %s\n", w.paths[i]) < 0 ||
                core_buf_append(out, one.ptr, one.len) < 0 ||
                (one.len > 0 && one.ptr[one.len - 1] != '\n' &&
                 core_buf_append(out, "\n", 1) < 0)) {
                rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
            }
            *n_tests += n;
        }
        core_buf_dispose(&one);
    }
    core_buf_dispose(&text);
    core_free(w.paths);
    return rc;
}

int solve__workspace_test_files(core_buf *out, size_t *n_files, solve_lang lang, core_str entry,
                                const solve_context_options *o, core_err *err)
{
    *n_files = 0;
    walk w;
    int rc = test_files_find(&w, lang, o, err);
    core_buf text = {0};
    for (size_t i = 0; i < w.n_paths && rc == 0; i++) {
        text.len = 0;
        rc = solve__file_read(&text, o, w.paths[i], err);
        core_str t = {text.ptr ? text.ptr : "", text.len};
        const char *rel = solve__path_rel(w.paths[i], w.top);
        if (rc == 1 && rel && has_word(t, entry)) {
            rc = core_buf_appendf(out, "%s\n", rel) < 0
                     ? core_err_set(err, CORE_ENOMEM, "workspace: out of memory")
                     : 0;
            *n_files += rc == 0;
        }
        rc = rc < 0 ? rc : 0;
    }
    core_buf_dispose(&text);
    core_free(w.paths);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Testing a completion                                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct run_state {
    solve_complete_verdict *v;
} run_state;

static int on_run(void *payload, size_t i, int rc, const sbx_result *r, const core_err *run_err,
                  core_err *err)
{
    (void)i;
    (void)err;
    solve_complete_verdict *v = ((run_state *)payload)->v;
    if (rc < 0) {
        v->verdict = SBX_VERDICT_ERROR;
        snprintf(v->message, sizeof(v->message), "%s", run_err ? run_err->msg : "sandbox failed");
        return 0;
    }
    v->tested = true;
    v->verdict = r->verdict;
    v->n_tests_run = r->n_tests;
    const char *first = r->message && r->message[0] ? r->message : "";
    for (size_t k = 0; k < r->n_tests; k++) {
        if (r->tests[k].status == SBX_TEST_PASSED) {
            v->n_tests_passed++;
        } else if (!first[0]) {
            first = r->tests[k].message;
        }
    }
    snprintf(v->message, sizeof(v->message), "%s", first);
    return 0;
}

int solve_complete_test(solve_complete_verdict *out, sbx_pool *pool,
                        const solve_completer *completer, solve_lang lang, core_str doc, size_t at,
                        core_str tests, const solve_context_options *ws, const sbx_limits *limits,
                        const core_cancel *cancel, core_err *err)
{
    memset(out, 0, sizeof(*out));
    out->source = SOLVE_TESTS_NONE;
    const gram_lang *gl = solve__completer_lang(completer, lang);
    if (!gl) {
        return 0;
    }
    gram_func *funcs = NULL;
    size_t n_funcs = 0;
    core_err ferr = {0};
    int rc = gram_funcs_find(&funcs, &n_funcs, gl, doc, &ferr);
    if (rc < 0) {
        return rc == CORE_ENOMEM ? core_err_set(err, rc, "%s", ferr.msg) : 0;
    }
    const gram_func *f = NULL;
    for (size_t i = 0; i < n_funcs; i++) {
        if (funcs[i].def_start <= at && at <= funcs[i].def_end && funcs[i].scope_len == 0) {
            f = &funcs[i];
        }
    }
    if (!f || f->name_len >= sizeof(out->entry)) {
        core_free(funcs);
        return 0; /* not inside a top-level function: nothing to test */
    }
    memcpy(out->entry, doc.ptr + f->name_start, f->name_len);
    out->entry[f->name_len] = '\0';
    core_str entry = {out->entry, f->name_len};
    core_arena *arena = NULL;
    core_buf all = {0};
    core_buf code = {0};
    rc = core_arena_new(&arena, 4096, err);
    if (rc == 0 && tests.len == 0 && ws && ws->tests[lang].command && ws->tree) {
        core_free(funcs);
        core_arena_free(arena);
        return solve_workspace_command(out, lang, doc, entry, ws, limits, cancel, err);
    }
    if (rc == 0 && tests.len > 0) {
        out->source = SOLVE_TESTS_FIELD;
        rc = core_buf_append(&all, tests.ptr, tests.len) < 0 ? CORE_ENOMEM : 0;
    } else if (rc == 0) {
        /* The docstring's examples, then the workspace's tests. */
        size_t head = f->head_end > f->def_start ? f->head_end : f->def_end;
        solve_task task = {lang, {doc.ptr + f->def_start, head - f->def_start}, entry, {"", 0}};
        const char *doc_tests = "";
        rc = solve_tests_select(&doc_tests, &out->source, arena, &task, err);
        if (rc == 0 && core_buf_append(&all, doc_tests, strlen(doc_tests)) < 0) {
            rc = CORE_ENOMEM;
        }
        if (rc == 0 && ws && lang == SOLVE_LANG_C) {
            /* A C test file is a program of its own: it replaces the examples. */
            core_buf wt = {0};
            rc = solve_workspace_tests(&wt, &out->n_workspace_tests, lang, entry, ws, err);
            if (rc == 0 && out->n_workspace_tests > 0) {
                core_buf_dispose(&all);
                all = wt;
                wt = (core_buf){0};
                out->source = SOLVE_TESTS_FIELD;
            }
            core_buf_dispose(&wt);
        } else if (rc == 0 && ws) {
            rc = solve_workspace_tests(&all, &out->n_workspace_tests, lang, entry, ws, err);
            if (out->n_workspace_tests > 0 && out->source == SOLVE_TESTS_NONE) {
                out->source = SOLVE_TESTS_FIELD;
            }
        }
    }
    core_free(funcs);
    if (rc == 0 && all.len > 0 && lang == SOLVE_LANG_PYTHON) {
        size_t n = 0;
        solve_context_options o = ws ? *ws : solve_context_options_default();
        rc = localize(&code, &n, doc, o.dir ? o.dir : ".", KEEP_ALL, entry, &o, err);
    } else if (rc == 0 && all.len > 0 && ws) {
        /* C: the document's own headers go with it, as the test file's do. */
        size_t n = 0;
        rc = solve_c_includes_inline(&code, &n, doc, ws, err);
    } else if (rc == 0 && all.len > 0) {
        rc = core_buf_append(&code, doc.ptr, doc.len) < 0 ? CORE_ENOMEM : 0;
    }
    if (rc == 0 && all.len > 0 && code.ptr && pool) {
        const char *codes[1] = {code.ptr};
        solve_test_batch b = {
            lang, codes, 1, {all.ptr, all.len}, entry, limits ? *limits : sbx_limits_default(),
            1,    cancel};
        run_state st = {out};
        rc = solve_test_all(pool, &b, on_run, &st, err);
    }
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory");
    }
    core_buf_dispose(&all);
    core_buf_dispose(&code);
    core_arena_free(arena);
    return rc;
}
