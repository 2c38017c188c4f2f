/*
 * C names that resolve to nothing. tree-sitter-c parses `return max_val;` whether or not
 * max_val was ever declared, where the compiler refuses it ("undeclared"); this file finds such
 * names in a whole text. A name resolves when the text declares it anywhere (declarators of
 * declarations, parameters, function definitions and typedefs, enumerators, macros: scopes
 * are not followed, so a name declared in another function still counts) or when one of the
 * system headers the text includes declares it. What a header declares is asked of the
 * compiler itself, once per header: `cc -E -dD -P` of a file holding only `#include <NAME>`
 * (NAME checked to be a plain header path), whose output tree-sitter-c parses for the same
 * declarators, and whose #define lines give the macros. Names starting with two underscores
 * (the compiler's own) always resolve. The answer is "unknown" rather than "undeclared"
 * whenever something could not be learnt: a header included with quotes, one the compiler
 * could not preprocess, or no compiler at all.
 */
#include "grammar/gram_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <tree_sitter/api.h>
#include <unistd.h>

extern char **environ;

/* Bytes of a header's preprocessed text read at most (the rest is ignored: names may lack). */
#define NAMES_CPP_MAX ((size_t)16 << 20)
/* Headers remembered at most. */
#define NAMES_HEADERS_MAX 64
/* Longest header name taken. */
#define NAMES_HEADER_LEN_MAX 64

/* A set of strings: open addressing over offsets into one buffer (offset + 1; 0 is empty). */
typedef struct name_set {
    core_buf bytes; /* the names, each NUL-terminated */
    size_t *slots;  /* (cap) */
    size_t cap;     /* a power of two, or 0 */
    size_t n;
} name_set;

struct gram_names {
    name_set known;                    /* names the remembered headers declare */
    char *headers[NAMES_HEADERS_MAX];  /* header names asked for, owned */
    bool header_ok[NAMES_HEADERS_MAX]; /* whether the compiler preprocessed it */
    size_t n_headers;
    const char *cc; /* compiler, static or caller's storage */
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return h;
}

static bool set_has(const name_set *set, const char *s, size_t n)
{
    if (set->cap == 0) {
        return false;
    }
    for (size_t i = hash(s, n) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        size_t at = set->slots[i];
        if (at == 0) {
            return false;
        }
        const char *t = set->bytes.ptr + at - 1;
        if (strncmp(t, s, n) == 0 && t[n] == '\0') {
            return true;
        }
    }
}

static int set_add(name_set *set, const char *s, size_t n)
{
    if (set_has(set, s, n)) {
        return 0;
    }
    if ((set->n + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        size_t *slots = core_calloc(cap, sizeof(*slots));
        if (!slots) {
            return CORE_ENOMEM;
        }
        for (size_t i = 0; i < set->cap; i++) {
            size_t at = set->slots[i];
            if (at == 0) {
                continue;
            }
            const char *t = set->bytes.ptr + at - 1;
            size_t j = hash(t, strlen(t)) & (cap - 1);
            while (slots[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = at;
        }
        core_free(set->slots);
        set->slots = slots;
        set->cap = cap;
    }
    size_t at = set->bytes.len + 1;
    if (core_buf_append(&set->bytes, s, n) < 0 || core_buf_append(&set->bytes, "", 1) < 0) {
        return CORE_ENOMEM;
    }
    size_t j = hash(s, n) & (set->cap - 1);
    while (set->slots[j] != 0) {
        j = (j + 1) & (set->cap - 1);
    }
    set->slots[j] = at;
    set->n++;
    return 0;
}

static void set_dispose(name_set *set)
{
    core_buf_dispose(&set->bytes);
    core_free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* ---- the syntax tree ---- */

static bool is_type(TSNode node, const char *type)
{
    return !ts_node_is_null(node) && strcmp(ts_node_type(node), type) == 0;
}

typedef struct names_walk {
    core_str text;
    name_set *declared;
    int rc;
} names_walk;

static void add_node(names_walk *w, TSNode node)
{
    uint32_t a = ts_node_start_byte(node);
    uint32_t b = ts_node_end_byte(node);
    if (w->rc == 0 && b > a && b <= w->text.len) {
        w->rc = set_add(w->declared, w->text.ptr + a, b - a);
    }
}

/* The name a declarator declares (through pointers, arrays, functions, parentheses, inits). */
static void add_declarator(names_walk *w, TSNode node, int depth)
{
    while (!ts_node_is_null(node) && depth++ < 32) {
        if (is_type(node, "identifier") || is_type(node, "type_identifier") ||
            is_type(node, "primitive_type")) {
            add_node(w, node);
            return;
        }
        TSNode inner = ts_node_child_by_field_name(node, "declarator", 10);
        if (ts_node_is_null(inner) && is_type(node, "parenthesized_declarator")) {
            inner = ts_node_named_child(node, 0);
        }
        node = inner;
    }
}

/* Every name node declares: each child in a "declarator" field, and the named ones. */
static void collect_declared(names_walk *w, TSNode node, int depth)
{
    if (depth > 512 || w->rc != 0) {
        return;
    }
    const char *type = ts_node_type(node);
    uint32_t n = ts_node_child_count(node);
    bool declares = strcmp(type, "declaration") == 0 || strcmp(type, "type_definition") == 0 ||
                    strcmp(type, "parameter_declaration") == 0 ||
                    strcmp(type, "function_definition") == 0 ||
                    strcmp(type, "init_declarator") == 0;
    if (declares) {
        /* a cursor names the fields (ts_node_field_name_for_child is unreliable in 0.20) */
        TSTreeCursor cur = ts_tree_cursor_new(node);
        for (bool more = ts_tree_cursor_goto_first_child(&cur); more;
             more = ts_tree_cursor_goto_next_sibling(&cur)) {
            const char *field = ts_tree_cursor_current_field_name(&cur);
            if (field && strcmp(field, "declarator") == 0) {
                add_declarator(w, ts_tree_cursor_current_node(&cur), 0);
            }
        }
        ts_tree_cursor_delete(&cur);
    } else if (strcmp(type, "enumerator") == 0 || strcmp(type, "preproc_def") == 0 ||
               strcmp(type, "preproc_function_def") == 0) {
        add_node(w, ts_node_child_by_field_name(node, "name", 4));
    } else if (strcmp(type, "preproc_params") == 0) {
        for (uint32_t i = 0; i < ts_node_named_child_count(node); i++) {
            add_node(w, ts_node_named_child(node, i));
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        collect_declared(w, ts_node_child(node, i), depth + 1);
    }
}

/* C's keywords that tree-sitter-c also calls primitive types (the rest need a header). */
static bool is_keyword_type(const char *s, size_t n)
{
    static const char *const kw[] = {"void",   "char",   "short",    "int",   "long", "float",
                                     "double", "signed", "unsigned", "_Bool", NULL};
    for (size_t i = 0; kw[i]; i++) {
        if (strlen(kw[i]) == n && memcmp(kw[i], s, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Parents whose identifiers are not references to declared names. */
static bool skips_children(const char *type)
{
    return strcmp(type, "preproc_ifdef") == 0 || strcmp(type, "preproc_defined") == 0 ||
           strcmp(type, "attribute_specifier") == 0 || strcmp(type, "attribute_declaration") == 0 ||
           strcmp(type, "ms_declspec_modifier") == 0 || strcmp(type, "gnu_asm_expression") == 0 ||
           strcmp(type, "preproc_params") == 0;
}

typedef struct names_use {
    core_str text;
    const name_set *declared;
    const name_set *known;
    size_t first; /* byte of the first unresolved name, SIZE_MAX: none */
} names_use;

static void find_unresolved(names_use *u, TSNode node, TSNode parent, int depth)
{
    if (depth > 512 || u->first != SIZE_MAX) {
        return;
    }
    const char *type = ts_node_type(node);
    if (skips_children(type)) {
        return;
    }
    bool use = strcmp(type, "identifier") == 0 || strcmp(type, "type_identifier") == 0 ||
               strcmp(type, "true") == 0 || strcmp(type, "false") == 0 ||
               strcmp(type, "null") == 0 || strcmp(type, "primitive_type") == 0;
    if (use && !ts_node_is_null(parent)) {
        /* a struct, union or enum tag may stay incomplete */
        const char *pt = ts_node_type(parent);
        use = !(strcmp(pt, "struct_specifier") == 0 || strcmp(pt, "union_specifier") == 0 ||
                strcmp(pt, "enum_specifier") == 0);
    }
    if (use) {
        uint32_t a = ts_node_start_byte(node);
        uint32_t b = ts_node_end_byte(node);
        const char *s = u->text.ptr + a;
        size_t n = b - a;
        bool resolved = n == 0 || b > u->text.len || (n >= 2 && s[0] == '_' && s[1] == '_') ||
                        (strcmp(type, "primitive_type") == 0 && is_keyword_type(s, n)) ||
                        set_has(u->declared, s, n) || set_has(u->known, s, n);
        if (!resolved) {
            u->first = a;
        }
        return;
    }
    uint32_t n = ts_node_child_count(node);
    for (uint32_t i = 0; i < n; i++) {
        find_unresolved(u, ts_node_child(node, i), node, depth + 1);
    }
}

/* ---- headers, through the compiler ---- */

/* A system header name kiln hands to the compiler: letters, digits, _ - . / and no "..". */
static bool header_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAMES_HEADER_LEN_MAX || s[0] == '/' || s[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' || ch == '/';
        if (!ok || (ch == '.' && i + 1 < n && s[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

/* A pipe whose ends do not leak into other children. */
static int pipe_cloexec(int fds[2])
{
    if (pipe(fds) < 0) {
        return -1;
    }
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

/* Runs the compiler's preprocessor on `#include <header>`; *ok false when it failed. */
static int preprocess(core_buf *out, const char *cc, const char *header, bool *ok)
{
    *ok = false;
    int in_p[2] = {-1, -1};
    int out_p[2] = {-1, -1};
    if (pipe_cloexec(in_p) < 0) {
        return 0;
    }
    if (pipe_cloexec(out_p) < 0) {
        close(in_p[0]);
        close(in_p[1]);
        return 0;
    }
    posix_spawn_file_actions_t fa;
    int rc = 0;
    pid_t pid = -1;
    if (posix_spawn_file_actions_init(&fa) == 0) {
        char *const argv[] = {(char *)cc, "-E", "-dD", "-P", "-w", "-x", "c", "-", NULL};
        if (posix_spawn_file_actions_adddup2(&fa, in_p[0], 0) == 0 &&
            posix_spawn_file_actions_adddup2(&fa, out_p[1], 1) == 0 &&
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) == 0 &&
            posix_spawnp(&pid, cc, &fa, NULL, argv, environ) != 0) {
            pid = -1;
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    close(in_p[0]);
    close(out_p[1]);
    if (pid > 0) {
        char line[NAMES_HEADER_LEN_MAX + 16];
        int len = snprintf(line, sizeof line, "#include <%s>\n", header);
        /* a short write into an empty pipe cannot block */
        bool wrote = len > 0 && write(in_p[1], line, (size_t)len) == (ssize_t)len;
        close(in_p[1]);
        in_p[1] = -1;
        char buf[65536];
        for (;;) {
            ssize_t r = read(out_p[0], buf, sizeof buf);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                break;
            }
            if (out->len + (size_t)r <= NAMES_CPP_MAX && core_buf_append(out, buf, (size_t)r) < 0) {
                rc = CORE_ENOMEM;
                break;
            }
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *ok = rc == 0 && wrote && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    if (in_p[1] >= 0) {
        close(in_p[1]);
    }
    close(out_p[0]);
    return rc;
}

static bool is_name_byte(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* The macros of -dD's `#define NAME...` lines, read as text (`#define bool _Bool` names a word
   that tree-sitter-c takes for a type). */
static int learn_macros(name_set *known, core_str cpp)
{
    static const char def[] = "#define ";
    size_t i = 0;
    while (i < cpp.len) {
        size_t eol = i;
        while (eol < cpp.len && cpp.ptr[eol] != '\n') {
            eol++;
        }
        if (eol - i > sizeof def - 1 && memcmp(cpp.ptr + i, def, sizeof def - 1) == 0) {
            size_t a = i + sizeof def - 1;
            size_t b = a;
            while (b < eol && is_name_byte(cpp.ptr[b])) {
                b++;
            }
            if (b > a && set_add(known, cpp.ptr + a, b - a) < 0) {
                return CORE_ENOMEM;
            }
        }
        i = eol + 1;
    }
    return 0;
}

static int learn_header(gram_names *names, const gram_lang *lang, const char *header, bool *ok,
                        core_err *err)
{
    for (size_t i = 0; i < names->n_headers; i++) {
        if (strcmp(names->headers[i], header) == 0) {
            *ok = names->header_ok[i];
            return 0;
        }
    }
    *ok = false;
    if (names->n_headers == NAMES_HEADERS_MAX) {
        return 0;
    }
    char *copy = core_strndup(header, strlen(header));
    if (!copy) {
        return core_err_set(err, CORE_ENOMEM, "grammar c: out of memory for a header name");
    }
    core_buf cpp = {0};
    int rc = preprocess(&cpp, names->cc, header, ok);
    TSParser *parser = NULL;
    TSTree *tree = NULL;
    if (rc == 0 && *ok && cpp.len > 0) {
        parser = ts_parser_new();
        if (!parser || !ts_parser_set_language(parser, lang->ts)) {
            *ok = false;
        } else {
            tree = ts_parser_parse_string(parser, NULL, cpp.ptr, (uint32_t)cpp.len);
            *ok = tree != NULL;
        }
        if (*ok) {
            names_walk w = {{cpp.ptr, cpp.len}, &names->known, 0};
            collect_declared(&w, ts_tree_root_node(tree), 0);
            rc = w.rc;
        }
        if (*ok && rc == 0) {
            rc = learn_macros(&names->known, (core_str){cpp.ptr, cpp.len});
        }
    }
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    core_buf_dispose(&cpp);
    if (rc != 0) {
        core_free(copy);
        return core_err_set(err, CORE_ENOMEM, "grammar c: out of memory for a header's names");
    }
    names->headers[names->n_headers] = copy;
    names->header_ok[names->n_headers] = *ok;
    names->n_headers++;
    return 0;
}

/* ---- the API ---- */

int gram_names_new(gram_names **out, const char *cc, core_err *err)
{
    *out = core_calloc(1, sizeof(**out));
    if (!*out) {
        return core_err_set(err, CORE_ENOMEM, "grammar: out of memory for a name cache");
    }
    (*out)->cc = cc ? cc : "cc";
    return 0;
}

void gram_names_free(gram_names *names)
{
    if (!names) {
        return;
    }
    set_dispose(&names->known);
    for (size_t i = 0; i < names->n_headers; i++) {
        core_free(names->headers[i]);
    }
    core_free(names);
}

/* The includes of the tree's top level (and inside preprocessor conditionals). */
static int learn_includes(gram_names *names, const gram_lang *lang, core_str text, TSNode node,
                          bool *all_ok, int depth, core_err *err)
{
    uint32_t n = ts_node_named_child_count(node);
    for (uint32_t i = 0; i < n && *all_ok; i++) {
        TSNode c = ts_node_named_child(node, i);
        if (is_type(c, "preproc_include")) {
            TSNode path = ts_node_child_by_field_name(c, "path", 4);
            uint32_t a = ts_node_start_byte(path);
            uint32_t b = ts_node_end_byte(path);
            if (!is_type(path, "system_lib_string") || b < a + 2 ||
                !header_name_ok(text.ptr + a + 1, b - a - 2)) {
                *all_ok = false;
                return 0;
            }
            char header[NAMES_HEADER_LEN_MAX + 1];
            memcpy(header, text.ptr + a + 1, b - a - 2);
            header[b - a - 2] = '\0';
            bool ok = false;
            int rc = learn_header(names, lang, header, &ok, err);
            if (rc < 0) {
                return rc;
            }
            *all_ok = ok;
        } else if (depth < 8 && (is_type(c, "preproc_if") || is_type(c, "preproc_ifdef") ||
                                 is_type(c, "preproc_else") || is_type(c, "preproc_elif"))) {
            int rc = learn_includes(names, lang, text, c, all_ok, depth + 1, err);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

int gram_names_check(size_t *undeclared, gram_names *names, const gram_lang *lang, core_str text,
                     core_err *err)
{
    *undeclared = SIZE_MAX;
    if (strcmp(lang->name, "c") != 0) {
        return 0;
    }
    int rc = gram_text_validate(text, err);
    if (rc < 0) {
        return rc;
    }
    TSParser *parser = ts_parser_new();
    if (!parser) {
        return core_err_set(err, CORE_ENOMEM, "grammar c: out of memory for a parser");
    }
    TSTree *tree = NULL;
    name_set declared = {0};
    if (!ts_parser_set_language(parser, lang->ts)) {
        rc = core_err_set(err, CORE_ERROR, "grammar c: the tree-sitter runtime refused it");
    } else {
        tree = ts_parser_parse_string(parser, NULL, text.ptr, (uint32_t)text.len);
        if (!tree) {
            rc = core_err_set(err, CORE_ERROR, "grammar c: parse failed");
        }
    }
    if (rc == 0) {
        TSNode root = ts_tree_root_node(tree);
        bool all_ok = true;
        rc = learn_includes(names, lang, text, root, &all_ok, 0, err);
        if (rc == 0 && all_ok) {
            names_walk w = {text, &declared, 0};
            collect_declared(&w, root, 0);
            if (w.rc != 0) {
                rc = core_err_set(err, CORE_ENOMEM, "grammar c: out of memory for names");
            } else {
                names_use u = {text, &declared, &names->known, SIZE_MAX};
                find_unresolved(&u, root, (TSNode){0}, 0);
                *undeclared = u.first;
            }
        }
    }
    set_dispose(&declared);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    return rc;
}
