/*
 * Code-quality metrics from tree-sitter's syntax tree of a function (or any Python or C source):
 * McCabe's cyclomatic complexity counted as 1 + decision points (McCabe 1976; the node kinds
 * are listed with gram_metrics in gram.h), the deepest nesting of control statements, lines and
 * tokens of code, comment lines, and naming checks on the names the code defines. The tree is
 * walked once with a TSTreeCursor, so deep nesting costs no C stack; a flag stack remembers
 * which open nodes were control statements or functions. Rows are marked code or comment as
 * the leaves are seen, so a line with code and a trailing comment counts for both.
 */
#include "grammar/gram_int.h"

#include <string.h>
#include <tree_sitter/api.h>

/* Distinct names kept at most; a text with more counts only the first ones. */
#define NAMES_MAX 4096
/* Nesting of target patterns followed when collecting names (`(a, (b, c)) = ...`). */
#define PATTERN_DEPTH_MAX 16

typedef enum name_kind {
    NAME_KIND_VAR = 0,
    NAME_KIND_VAR_TOP, /* assigned outside any function: UPPER_CASE constants are fine */
    NAME_KIND_PARAM,
    NAME_KIND_FUNC,
    NAME_KIND_CLASS,
    NAME_KIND_LOOP,
} name_kind;

typedef enum name_style {
    NAME_STYLE_NEUTRAL = 0, /* lowercase word (`count`, `x`) or empty: fits snake and camel */
    NAME_STYLE_UPPER,       /* `MAX_LEN`, `N` */
    NAME_STYLE_SNAKE,       /* `max_len` */
    NAME_STYLE_CAMEL,       /* `maxLen` */
    NAME_STYLE_PASCAL,      /* `MaxLen` */
    NAME_STYLE_MIXED,       /* `max_Len`: no style */
} name_style;

typedef struct name_entry {
    const char *ptr; /* into the text */
    uint32_t len;
    name_kind kind; /* of the first definition */
    bool loop;      /* defined as a loop variable somewhere */
} name_entry;

/* Flags of an open node on the walk's stack. */
enum {
    FLAG_NESTING = 1,
    FLAG_FUNCTION = 2,
};

typedef struct walk {
    bool python;
    const char *text;
    uint8_t *rows; /* (n_rows) bit 1: code, bit 2: comment */
    uint32_t n_rows;
    name_entry *names; /* (NAMES_MAX) */
    size_t n_names;
    uint32_t nesting;  /* control statements open now */
    uint32_t function; /* functions open now */
    gram_metrics *out;
} walk;

static bool is_type(TSNode node, const char *type)
{
    return strcmp(ts_node_type(node), type) == 0;
}

static void mark_rows(walk *w, TSNode node, uint8_t bit)
{
    TSPoint start = ts_node_start_point(node);
    TSPoint end = ts_node_end_point(node);
    uint32_t last = end.row;
    if (end.column == 0 && end.row > start.row) {
        last--;
    }
    for (uint32_t r = start.row; r <= last && r < w->n_rows; r++) {
        w->rows[r] |= bit;
    }
}

static void add_name(walk *w, TSNode node, name_kind kind)
{
    if (ts_node_is_null(node) || !is_type(node, "identifier")) {
        return;
    }
    uint32_t start = ts_node_start_byte(node);
    uint32_t len = ts_node_end_byte(node) - start;
    const char *ptr = w->text + start;
    if (len == 0) {
        return;
    }
    for (size_t i = 0; i < w->n_names; i++) {
        if (w->names[i].len == len && memcmp(w->names[i].ptr, ptr, len) == 0) {
            w->names[i].loop = w->names[i].loop || kind == NAME_KIND_LOOP;
            return;
        }
    }
    if (w->n_names < NAMES_MAX) {
        w->names[w->n_names++] = (name_entry){ptr, len, kind, kind == NAME_KIND_LOOP};
    }
}

/* Python targets: a name, or the names inside tuple and list patterns (not a.b or a[i]). */
static void add_targets(walk *w, TSNode node, name_kind kind, int depth)
{
    if (ts_node_is_null(node) || depth > PATTERN_DEPTH_MAX) {
        return;
    }
    const char *type = ts_node_type(node);
    if (strcmp(type, "identifier") == 0) {
        add_name(w, node, kind);
        return;
    }
    if (strcmp(type, "pattern_list") == 0 || strcmp(type, "tuple_pattern") == 0 ||
        strcmp(type, "list_pattern") == 0 || strcmp(type, "list_splat_pattern") == 0 ||
        strcmp(type, "parenthesized_expression") == 0 || strcmp(type, "tuple") == 0 ||
        strcmp(type, "list") == 0 || strcmp(type, "expression_list") == 0) {
        uint32_t n = ts_node_named_child_count(node);
        for (uint32_t i = 0; i < n; i++) {
            add_targets(w, ts_node_named_child(node, i), kind, depth + 1);
        }
    }
}

/* C declarators: follow `declarator` fields (pointers, arrays, functions) to the name. */
static TSNode declarator_name(TSNode node)
{
    for (int i = 0; i < 64 && !ts_node_is_null(node); i++) {
        if (is_type(node, "identifier")) {
            return node;
        }
        TSNode next = ts_node_child_by_field_name(node, "declarator", 10);
        if (ts_node_is_null(next) && is_type(node, "parenthesized_declarator")) {
            next = ts_node_named_child(node, 0);
        }
        node = next;
    }
    TSNode none = {0};
    return none;
}

static name_kind var_kind(const walk *w)
{
    return w->function == 0 ? NAME_KIND_VAR_TOP : NAME_KIND_VAR;
}

static void names_python(walk *w, TSNode node, const char *type)
{
    if (strcmp(type, "function_definition") == 0) {
        add_name(w, ts_node_child_by_field_name(node, "name", 4), NAME_KIND_FUNC);
    } else if (strcmp(type, "class_definition") == 0) {
        add_name(w, ts_node_child_by_field_name(node, "name", 4), NAME_KIND_CLASS);
    } else if (strcmp(type, "parameters") == 0 || strcmp(type, "lambda_parameters") == 0) {
        uint32_t n = ts_node_named_child_count(node);
        for (uint32_t i = 0; i < n; i++) {
            TSNode p = ts_node_named_child(node, i);
            TSNode name = ts_node_child_by_field_name(p, "name", 4);
            if (ts_node_is_null(name)) {
                /* identifier, typed_parameter, *args, **kwargs: the first identifier */
                name = is_type(p, "identifier") ? p : ts_node_named_child(p, 0);
            }
            add_name(w, name, NAME_KIND_PARAM);
        }
    } else if (strcmp(type, "assignment") == 0) {
        add_targets(w, ts_node_child_by_field_name(node, "left", 4), var_kind(w), 0);
    } else if (strcmp(type, "named_expression") == 0) {
        add_name(w, ts_node_child_by_field_name(node, "name", 4), var_kind(w));
    } else if (strcmp(type, "for_statement") == 0 || strcmp(type, "for_in_clause") == 0) {
        add_targets(w, ts_node_child_by_field_name(node, "left", 4), NAME_KIND_LOOP, 0);
    }
}

static void names_c(walk *w, TSNode node, const char *type, bool in_for_init)
{
    if (strcmp(type, "function_definition") == 0) {
        add_name(w, declarator_name(ts_node_child_by_field_name(node, "declarator", 10)),
                 NAME_KIND_FUNC);
    } else if (strcmp(type, "parameter_declaration") == 0) {
        add_name(w, declarator_name(ts_node_child_by_field_name(node, "declarator", 10)),
                 NAME_KIND_PARAM);
    } else if (strcmp(type, "declaration") == 0) {
        uint32_t n = ts_node_child_count(node);
        for (uint32_t i = 0; i < n; i++) {
            const char *field = ts_node_field_name_for_child(node, i);
            if (!field || strcmp(field, "declarator") != 0) {
                continue;
            }
            TSNode d = ts_node_child(node, i);
            bool func = is_type(d, "function_declarator");
            name_kind kind = func ? NAME_KIND_FUNC : (in_for_init ? NAME_KIND_LOOP : var_kind(w));
            add_name(w, declarator_name(d), kind);
        }
    } else if (strcmp(type, "for_statement") == 0) {
        /* `for (i = 0, j = n; ...)`: names assigned in the initializer are loop variables. */
        TSNode init = ts_node_child_by_field_name(node, "initializer", 11);
        for (int i = 0; i < PATTERN_DEPTH_MAX && !ts_node_is_null(init); i++) {
            if (is_type(init, "assignment_expression")) {
                add_name(w, ts_node_child_by_field_name(init, "left", 4), NAME_KIND_LOOP);
                break;
            }
            if (!is_type(init, "comma_expression")) {
                break;
            }
            TSNode left = ts_node_child_by_field_name(init, "left", 4);
            if (is_type(left, "assignment_expression")) {
                add_name(w, ts_node_child_by_field_name(left, "left", 4), NAME_KIND_LOOP);
            }
            init = ts_node_child_by_field_name(init, "right", 5);
        }
    }
}

/* Decision points of one node (McCabe: each adds an independent path). */
static uint32_t decisions(const walk *w, TSNode node, const char *type)
{
    static const char *const python[] = {"if_statement",
                                         "elif_clause",
                                         "for_statement",
                                         "while_statement",
                                         "except_clause",
                                         "except_group_clause",
                                         "conditional_expression",
                                         "boolean_operator",
                                         "for_in_clause",
                                         "if_clause",
                                         NULL};
    static const char *const c[] = {"if_statement",
                                    "for_statement",
                                    "while_statement",
                                    "do_statement",
                                    "conditional_expression",
                                    "seh_except_clause",
                                    NULL};
    for (const char *const *t = w->python ? python : c; *t; t++) {
        if (strcmp(type, *t) == 0) {
            return 1;
        }
    }
    if (w->python && strcmp(type, "case_clause") == 0) {
        /* `case _:` is the default branch, like C's `default:` */
        TSNode pattern = ts_node_named_child(node, 0);
        bool wildcard = !ts_node_is_null(pattern) &&
                        ts_node_end_byte(pattern) - ts_node_start_byte(pattern) == 1 &&
                        w->text[ts_node_start_byte(pattern)] == '_';
        return wildcard ? 0 : 1;
    }
    if (!w->python && strcmp(type, "case_statement") == 0) {
        TSNode first = ts_node_child(node, 0);
        return !ts_node_is_null(first) && is_type(first, "case") ? 1 : 0;
    }
    if (!w->python && strcmp(type, "binary_expression") == 0) {
        TSNode op = ts_node_child_by_field_name(node, "operator", 8);
        return !ts_node_is_null(op) && (is_type(op, "&&") || is_type(op, "||")) ? 1 : 0;
    }
    return 0;
}

static bool is_nesting(const walk *w, TSNode node, const char *type)
{
    static const char *const python[] = {"if_statement",
                                         "for_statement",
                                         "while_statement",
                                         "try_statement",
                                         "with_statement",
                                         "match_statement",
                                         NULL};
    static const char *const c[] = {"if_statement", "for_statement",    "while_statement",
                                    "do_statement", "switch_statement", NULL};
    for (const char *const *t = w->python ? python : c; *t; t++) {
        if (strcmp(type, *t) == 0) {
            /* `else if` continues a chain; it does not nest */
            TSNode parent = ts_node_parent(node);
            return w->python || strcmp(type, "if_statement") != 0 || ts_node_is_null(parent) ||
                   !is_type(parent, "else_clause");
        }
    }
    return false;
}

/* A Python docstring: a lone string statement first in a module, class or function body. */
static bool is_docstring(TSNode node)
{
    if (!is_type(node, "expression_statement") || ts_node_named_child_count(node) != 1 ||
        !is_type(ts_node_named_child(node, 0), "string")) {
        return false;
    }
    TSNode parent = ts_node_parent(node);
    if (ts_node_is_null(parent) || !ts_node_eq(ts_node_named_child(parent, 0), node)) {
        return false;
    }
    if (is_type(parent, "module")) {
        return true;
    }
    TSNode owner = ts_node_parent(parent);
    return is_type(parent, "block") && !ts_node_is_null(owner) &&
           (is_type(owner, "function_definition") || is_type(owner, "class_definition"));
}

/* Leaves counted as one token even though tree-sitter gives them parts. */
static bool is_atomic(const walk *w, const char *type)
{
    if (w->python) {
        return strcmp(type, "string") == 0;
    }
    return strcmp(type, "string_literal") == 0 || strcmp(type, "char_literal") == 0 ||
           strcmp(type, "system_lib_string") == 0;
}

/* Visits node on the way down; returns whether to descend and sets *flags for the stack. */
static bool visit(walk *w, TSNode node, bool in_for_init, uint8_t *flags)
{
    const char *type = ts_node_type(node);
    *flags = 0;
    w->out->cyclomatic += decisions(w, node, type);
    if (is_nesting(w, node, type)) {
        *flags |= FLAG_NESTING;
        if (w->nesting + 1 > w->out->nesting_max) {
            w->out->nesting_max = w->nesting + 1;
        }
    }
    if (w->python) {
        names_python(w, node, type);
    } else {
        names_c(w, node, type, in_for_init);
    }
    if (strcmp(type, "function_definition") == 0) {
        *flags |= FLAG_FUNCTION;
        w->out->n_functions++;
    }
    if (strcmp(type, "comment") == 0) {
        mark_rows(w, node, 2);
        return false;
    }
    if (w->python && is_docstring(node)) {
        mark_rows(w, node, 2);
        return false;
    }
    if (is_atomic(w, type) || ts_node_child_count(node) == 0) {
        if (ts_node_end_byte(node) > ts_node_start_byte(node) && type[0] != '\n') {
            w->out->n_tokens++;
            mark_rows(w, node, 1);
        }
        return false;
    }
    return true;
}

static name_style style_of(const char *ptr, size_t len)
{
    while (len > 0 && ptr[0] == '_') {
        ptr++;
        len--;
    }
    while (len > 0 && ptr[len - 1] == '_') {
        len--;
    }
    bool lower = false;
    bool upper = false;
    bool underscore = false;
    for (size_t i = 0; i < len; i++) {
        lower = lower || (ptr[i] >= 'a' && ptr[i] <= 'z');
        upper = upper || (ptr[i] >= 'A' && ptr[i] <= 'Z');
        underscore = underscore || ptr[i] == '_';
    }
    if (!upper) {
        return underscore ? NAME_STYLE_SNAKE : NAME_STYLE_NEUTRAL;
    }
    if (!lower) {
        return NAME_STYLE_UPPER;
    }
    if (underscore) {
        return NAME_STYLE_MIXED;
    }
    return ptr[0] >= 'A' && ptr[0] <= 'Z' ? NAME_STYLE_PASCAL : NAME_STYLE_CAMEL;
}

static bool python_name_ok(const name_entry *e, name_style style)
{
    switch (e->kind) {
    case NAME_KIND_CLASS:
        return style == NAME_STYLE_PASCAL || (style == NAME_STYLE_UPPER && e->len == 1);
    case NAME_KIND_VAR_TOP:
        return style == NAME_STYLE_NEUTRAL || style == NAME_STYLE_SNAKE ||
               style == NAME_STYLE_UPPER;
    default:
        return style == NAME_STYLE_NEUTRAL || style == NAME_STYLE_SNAKE;
    }
}

static void names_judge(walk *w)
{
    gram_metrics *out = w->out;
    uint32_t n_style[NAME_STYLE_MIXED + 1] = {0};
    out->n_names = (uint32_t)w->n_names;
    for (size_t i = 0; i < w->n_names; i++) {
        const name_entry *e = &w->names[i];
        name_style style = style_of(e->ptr, e->len);
        n_style[style]++;
        if (e->len == 1 && e->ptr[0] != '_' && !e->loop) {
            out->n_names_short++;
        }
        if (w->python && !python_name_ok(e, style)) {
            out->n_names_bad++;
        }
    }
    if (!w->python) {
        /* One style for the whole text: the most used of snake, camel and Pascal case (ties go
         * in that order); names in the others, and mixed ones, break it. */
        name_style major = NAME_STYLE_SNAKE;
        if (n_style[NAME_STYLE_CAMEL] > n_style[major]) {
            major = NAME_STYLE_CAMEL;
        }
        if (n_style[NAME_STYLE_PASCAL] > n_style[major]) {
            major = NAME_STYLE_PASCAL;
        }
        out->n_names_bad = n_style[NAME_STYLE_SNAKE] + n_style[NAME_STYLE_CAMEL] +
                           n_style[NAME_STYLE_PASCAL] - n_style[major] + n_style[NAME_STYLE_MIXED];
    }
}

int gram_metrics_compute(gram_metrics *out, const gram_lang *lang, core_str text, core_err *err)
{
    int rc = 0;
    TSParser *parser = NULL;
    TSTree *tree = NULL;
    TSTreeCursor cursor;
    bool have_cursor = false;
    walk w = {0};
    core_buf stack = {0};

    memset(out, 0, sizeof(*out));
    rc = gram_text_validate(text, err);
    if (rc < 0) {
        return rc;
    }
    w.python = strcmp(lang->name, "python") == 0;
    w.text = text.ptr;
    w.out = out;
    w.n_rows = 1;
    for (size_t i = 0; i < text.len; i++) {
        w.n_rows += text.ptr[i] == '\n';
    }
    w.rows = core_calloc(w.n_rows, 1);
    w.names = core_malloc(sizeof(*w.names) * NAMES_MAX);
    parser = ts_parser_new();
    if (!w.rows || !w.names || !parser) {
        rc = core_err_set(err, CORE_ENOMEM, "metrics %s: out of memory", lang->name);
        goto done;
    }
    if (!ts_parser_set_language(parser, lang->ts)) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: the tree-sitter runtime refused it",
                          lang->name);
        goto done;
    }
    tree = ts_parser_parse_string(parser, NULL, text.len ? text.ptr : "", (uint32_t)text.len);
    if (!tree) {
        rc = core_err_set(err, CORE_ERROR, "grammar %s: parse failed", lang->name);
        goto done;
    }
    TSNode root = ts_tree_root_node(tree);
    out->parses = !ts_node_has_error(root);
    if (out->parses && lang->indent) {
        gram__indent indent;
        gram__indent_init(&indent);
        out->parses =
            gram__indent_scan(&indent, text.ptr, text.len, 0) && gram__indent_is_complete(&indent);
    }
    out->cyclomatic = 1;
    cursor = ts_tree_cursor_new(root);
    have_cursor = true;
    for (;;) {
        TSNode node = ts_tree_cursor_current_node(&cursor);
        const char *field = ts_tree_cursor_current_field_name(&cursor);
        bool in_for_init = field && strcmp(field, "initializer") == 0 &&
                           is_type(ts_node_parent(node), "for_statement");
        uint8_t flags = 0;
        if (visit(&w, node, in_for_init, &flags) && ts_tree_cursor_goto_first_child(&cursor)) {
            if (core_buf_append(&stack, &flags, 1) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "metrics %s: out of memory", lang->name);
                goto done;
            }
            w.nesting += (flags & FLAG_NESTING) != 0;
            w.function += (flags & FLAG_FUNCTION) != 0;
            continue;
        }
        bool more = true;
        while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
            if (!ts_tree_cursor_goto_parent(&cursor) || stack.len == 0) {
                more = false;
                break;
            }
            uint8_t popped = (uint8_t)stack.ptr[--stack.len];
            w.nesting -= (popped & FLAG_NESTING) != 0;
            w.function -= (popped & FLAG_FUNCTION) != 0;
        }
        if (!more) {
            break;
        }
    }
    for (uint32_t r = 0; r < w.n_rows; r++) {
        out->n_lines += (w.rows[r] & 1) != 0;
        out->n_comment_lines += (w.rows[r] & 2) != 0;
    }
    names_judge(&w);

done:
    if (have_cursor) {
        ts_tree_cursor_delete(&cursor);
    }
    core_buf_dispose(&stack);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    core_free(w.rows);
    core_free(w.names);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
