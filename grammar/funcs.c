/*
 * Function definitions and stubs: walks tree-sitter's syntax tree of a Python or C file and
 * lists each function with the byte ranges a patch tool needs (name, docstring or describing
 * comment, the part of the body still to be written) and whether the body is a stub. Python's
 * stubs follow the usual placeholder idioms (`pass`, `...`, `raise NotImplementedError`, or a
 * docstring alone); C has no such idiom, so a C stub is an empty body, or one that holds a
 * TODO comment and at most a return, under a comment that describes the function.
 */
#include "grammar/gram_int.h"

#include <string.h>
#include <tree_sitter/api.h>

/* Deepest nesting of classes and preprocessor blocks followed to find definitions. */
#define FUNCS_DEPTH_MAX 16

typedef struct funcs_walk {
    core_str text;
    bool python;
    gram_func *items; /* (n, cap), core_malloc'd */
    size_t n;
    size_t cap;
} funcs_walk;

static const char *const stub_names[] = {"none",      "pass",  "ellipsis", "raise",
                                         "docstring", "empty", "todo"};

const char *gram_stub_name(gram_stub stub)
{
    if ((size_t)stub >= sizeof stub_names / sizeof stub_names[0]) {
        return "?";
    }
    return stub_names[stub];
}

static bool is_type(TSNode node, const char *type)
{
    return !ts_node_is_null(node) && strcmp(ts_node_type(node), type) == 0;
}

static bool node_has(const funcs_walk *w, TSNode node, const char *needle)
{
    uint32_t a = ts_node_start_byte(node);
    uint32_t b = ts_node_end_byte(node);
    size_t n = strlen(needle);
    for (uint32_t i = a; i + n <= b; i++) {
        if (memcmp(w->text.ptr + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* The named children of node that are not comments, up to cap; returns how many there are. */
static uint32_t statements(TSNode node, TSNode *first, TSNode *second)
{
    uint32_t n = 0;
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t i = 0; i < count; i++) {
        TSNode c = ts_node_named_child(node, i);
        if (is_type(c, "comment")) {
            continue;
        }
        if (n == 0) {
            *first = c;
        } else if (n == 1) {
            *second = c;
        }
        n++;
    }
    return n;
}

static bool is_docstring(TSNode stmt)
{
    return is_type(stmt, "expression_statement") && ts_node_named_child_count(stmt) == 1 &&
           is_type(ts_node_named_child(stmt, 0), "string");
}

static gram_stub python_stub(const funcs_walk *w, TSNode only)
{
    if (is_type(only, "pass_statement")) {
        return GRAM_STUB_PASS;
    }
    if (is_type(only, "expression_statement") && ts_node_named_child_count(only) == 1 &&
        is_type(ts_node_named_child(only, 0), "ellipsis")) {
        return GRAM_STUB_ELLIPSIS;
    }
    if (is_type(only, "raise_statement") && node_has(w, only, "NotImplementedError")) {
        return GRAM_STUB_RAISE;
    }
    return GRAM_STUB_NONE;
}

static int push(funcs_walk *w, const gram_func *f)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        gram_func *items = core_realloc(w->items, cap * sizeof *items);
        if (items == NULL) {
            return CORE_ENOMEM;
        }
        w->items = items;
        w->cap = cap;
    }
    w->items[w->n++] = *f;
    return 0;
}

static int add_python(funcs_walk *w, TSNode def, TSNode scope)
{
    TSNode name = ts_node_child_by_field_name(def, "name", 4);
    TSNode body = ts_node_child_by_field_name(def, "body", 4);
    if (ts_node_is_null(name) || !is_type(body, "block")) {
        return 0;
    }
    gram_func f = {0};
    f.name_start = ts_node_start_byte(name);
    f.name_len = ts_node_end_byte(name) - f.name_start;
    if (!ts_node_is_null(scope)) {
        f.scope_start = ts_node_start_byte(scope);
        f.scope_len = ts_node_end_byte(scope) - f.scope_start;
    }
    f.def_start = ts_node_start_byte(def);
    f.def_end = ts_node_end_byte(def);
    f.line = ts_node_start_point(def).row + 1;
    TSNode first = {0}, second = {0};
    uint32_t n = statements(body, &first, &second);
    if (n == 0) {
        return 0;
    }
    f.indent = ts_node_start_point(first).column;
    TSNode impl = first;
    uint32_t n_impl = n;
    if (is_docstring(first)) {
        f.doc_start = ts_node_start_byte(first);
        f.doc_len = ts_node_end_byte(first) - f.doc_start;
        impl = second;
        n_impl = n - 1;
    }
    f.impl_start = n_impl > 0 ? ts_node_start_byte(impl) : f.def_end;
    if (f.doc_len > 0) {
        f.head_end = f.doc_start + f.doc_len;
    } else {
        size_t e = f.impl_start;
        while (e > f.def_start && (w->text.ptr[e - 1] == ' ' || w->text.ptr[e - 1] == '\t' ||
                                   w->text.ptr[e - 1] == '\n' || w->text.ptr[e - 1] == '\r')) {
            e--;
        }
        f.head_end = e;
    }
    if (n_impl == 0) {
        f.stub = GRAM_STUB_DOCSTRING;
    } else if (n_impl == 1) {
        f.stub = python_stub(w, impl);
    }
    return push(w, &f);
}

/* The comment block right above a C definition: consecutive comments, each ending on the line
 * before the next. */
static void c_doc(const funcs_walk *w, TSNode def, gram_func *f)
{
    (void)w;
    TSNode prev = ts_node_prev_named_sibling(def);
    uint32_t row = ts_node_start_point(def).row;
    size_t start = 0, end = 0;
    while (is_type(prev, "comment") && ts_node_end_point(prev).row + 1 >= row) {
        start = ts_node_start_byte(prev);
        if (end == 0) {
            end = ts_node_end_byte(prev);
        }
        row = ts_node_start_point(prev).row;
        prev = ts_node_prev_named_sibling(prev);
    }
    f->doc_start = start;
    f->doc_len = end - start;
}

static TSNode c_name(TSNode decl)
{
    for (int i = 0; i < 16 && !ts_node_is_null(decl); i++) {
        if (is_type(decl, "identifier")) {
            return decl;
        }
        TSNode next = ts_node_child_by_field_name(decl, "declarator", 10);
        if (ts_node_is_null(next) && is_type(decl, "parenthesized_declarator")) {
            next = ts_node_named_child(decl, 0);
        }
        decl = next;
    }
    return (TSNode){0};
}

static int add_c(funcs_walk *w, TSNode def)
{
    TSNode name = c_name(ts_node_child_by_field_name(def, "declarator", 10));
    TSNode body = ts_node_child_by_field_name(def, "body", 4);
    if (ts_node_is_null(name) || !is_type(body, "compound_statement")) {
        return 0;
    }
    gram_func f = {0};
    f.name_start = ts_node_start_byte(name);
    f.name_len = ts_node_end_byte(name) - f.name_start;
    f.def_start = ts_node_start_byte(def);
    f.def_end = ts_node_end_byte(def);
    f.head_end = ts_node_start_byte(body);
    f.impl_start = f.head_end;
    f.line = ts_node_start_point(def).row + 1;
    c_doc(w, def, &f);
    TSNode first = {0}, second = {0};
    uint32_t n = statements(body, &first, &second);
    if (f.doc_len > 0) {
        if (node_has(w, body, "TODO") &&
            (n == 0 || (n == 1 && is_type(first, "return_statement")))) {
            f.stub = GRAM_STUB_TODO;
        } else if (n == 0) {
            f.stub = GRAM_STUB_EMPTY;
        }
    }
    return push(w, &f);
}

static int walk(funcs_walk *w, TSNode node, TSNode scope, int depth)
{
    if (depth > FUNCS_DEPTH_MAX) {
        return 0;
    }
    uint32_t count = ts_node_named_child_count(node);
    for (uint32_t i = 0; i < count; i++) {
        TSNode c = ts_node_named_child(node, i);
        int rc = 0;
        if (w->python) {
            if (is_type(c, "decorated_definition")) {
                c = ts_node_child_by_field_name(c, "definition", 10);
            }
            if (is_type(c, "function_definition")) {
                rc = add_python(w, c, scope);
            } else if (is_type(c, "class_definition") && ts_node_is_null(scope)) {
                TSNode body = ts_node_child_by_field_name(c, "body", 4);
                if (!ts_node_is_null(body)) {
                    rc = walk(w, body, ts_node_child_by_field_name(c, "name", 4), depth + 1);
                }
            }
        } else if (is_type(c, "function_definition")) {
            rc = add_c(w, c);
        } else if (strncmp(ts_node_type(c), "preproc_", 8) == 0) {
            rc = walk(w, c, scope, depth + 1);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int gram_funcs_find(gram_func **out, size_t *n_out, const gram_lang *lang, core_str text,
                    core_err *err)
{
    *out = NULL;
    *n_out = 0;
    int rc = gram_text_validate(text, err);
    if (rc < 0) {
        return rc;
    }
    funcs_walk w = {.text = text, .python = strcmp(lang->name, "python") == 0};
    TSTree *tree = NULL;
    TSParser *parser = ts_parser_new();
    if (parser == NULL) {
        return core_err_set(err, CORE_ENOMEM, "funcs %s: out of memory", lang->name);
    }
    if (!ts_parser_set_language(parser, lang->ts)) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: the tree-sitter runtime refused it",
                          lang->name);
        goto done;
    }
    tree = ts_parser_parse_string(parser, NULL, text.len ? text.ptr : "", (uint32_t)text.len);
    if (tree == NULL) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: parse failed", lang->name);
        goto done;
    }
    rc = walk(&w, ts_tree_root_node(tree), (TSNode){0}, 0);
    if (rc < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "funcs %s: out of memory", lang->name);
        goto done;
    }
    *out = w.items;
    *n_out = w.n;
    w.items = NULL;
done:
    core_free(w.items);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    return rc;
}
