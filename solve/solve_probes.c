/*
 * Probe inputs for a Python task without visible tests: calls of the entry function built from
 * its signature alone, without the model. The model's own test inputs (solve_gentests.c) often
 * have the wrong type (an int where the signature asks for a list) and then every candidate
 * raises the same error, so their outputs tell the candidates apart on nothing. A probe takes
 * each parameter's type from its annotation (str, int, float, bool, List[...], Tuple, Dict,
 * Optional[...]) or, without one, from its name (s, text, string: str; l, lst, numbers: list of
 * int; anything else: int), and its value from a fixed list per type that starts with typical
 * values and ends with edge cases (empty, zero, one element, negative): a candidate that loops
 * forever on an edge case then loses only the probes after it. Each probe is
 *     assert False, repr(ENTRY(ARGS))
 * so it never passes and its message is the candidate's value (or the exception it raised):
 * eval_rank compares those outputs between candidates (see eval_rank_options in eval/eval.h).
 */
#include "solve/solve_int.h"

#include <string.h>

/* The value lists, typical values first and edge cases last. */
#define N_VALUES 10

static const char *const ints[N_VALUES] = {"3", "10", "9", "1", "2", "15", "7", "12", "0", "-3"};
static const char *const floats[N_VALUES] = {"1.5", "3.0",  "2.25", "10.0", "0.5",
                                             "4.0", "-2.5", "7.75", "0.0",  "-1.5"};
static const char *const strs[N_VALUES] = {
    "\"abc\"",   "\"Hello World\"", "\"aaBb\"", "\"racecar\"", "\"a1 b2 c3\"",
    "\"xyzzy\"", "\"The  end.\"",   "\"ABBA\"", "\"a\"",       "\"\""};
static const char *const bools[N_VALUES] = {"True", "False", "True",  "False", "False",
                                            "True", "True",  "False", "False", "True"};
static const char *const list_ints[N_VALUES] = {"[3, 1, 2]",
                                                "[1, 2, 3, 4, 5]",
                                                "[10, 7, 7, 1]",
                                                "[-2, 0, 5, 5, 8]",
                                                "[4, -1, 2, -5, 3]",
                                                "[2, 4, 6]",
                                                "[9, 15, 21, 2]",
                                                "[5, 5, 5]",
                                                "[1]",
                                                "[]"};
static const char *const list_floats[N_VALUES] = {"[1.0, 2.5, 3.0]",
                                                  "[1.5, 2.0, 4.5, 3.25]",
                                                  "[10.0, 7.5, 7.5, 1.0]",
                                                  "[-2.0, 0.0, 5.5]",
                                                  "[4.0, -1.5, 2.0, 3.0]",
                                                  "[2.0, 4.0]",
                                                  "[0.5, 0.25, 9.0]",
                                                  "[3.0, 3.0]",
                                                  "[1.0]",
                                                  "[]"};
static const char *const list_strs[N_VALUES] = {"[\"abc\", \"b\", \"abc\"]",
                                                "[\"hello\", \"world\"]",
                                                "[\"a\", \"bb\", \"ccc\", \"dd\"]",
                                                "[\"xy\", \"\", \"x\"]",
                                                "[\"Apple\", \"apple\", \"Banana\"]",
                                                "[\"aa\", \"b\"]",
                                                "[\"one two\", \"three\"]",
                                                "[\"z\", \"y\", \"x\"]",
                                                "[\"a\"]",
                                                "[]"};
static const char *const list_anys[N_VALUES] = {
    "[1, 2, 3]",    "[1, \"a\", 2.5]",  "[\"x\", 2, [3]]", "[-2, 0, 5]", "[True, 3, None]",
    "[4.0, \"b\"]", "[\"abc\", \"d\"]", "[7, 7]",          "[1]",        "[]"};
static const char *const tuples[N_VALUES] = {"(1, 2)", "(3, 5)", "(10, 4)", "(2, 2)", "(-1, 3)",
                                             "(0, 7)", "(9, 6)", "(4, 8)",  "(1, 1)", "(0, 0)"};
static const char *const dicts[N_VALUES] = {"{\"a\": 1, \"b\": 2}",
                                            "{\"b\": 2, \"A\": 3}",
                                            "{\"x\": 10}",
                                            "{\"k\": 0, \"m\": -1}",
                                            "{\"one\": 1, \"two\": 2, \"three\": 3}",
                                            "{\"z\": 5}",
                                            "{\"Name\": 1, \"age\": 2}",
                                            "{\"p\": 3, \"q\": 3}",
                                            "{\"a\": 1}",
                                            "{}"};

typedef const char *const *value_list;

static bool str_is(core_str s, const char *word)
{
    return core_str_eq(s, core_str_c(word));
}

static bool str_starts(core_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static core_str trim(core_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[0] == '\n' ||
                         s.ptr[0] == '\r' || s.ptr[0] == '\\')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 &&
           (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' || s.ptr[s.len - 1] == '\n' ||
            s.ptr[s.len - 1] == '\r' || s.ptr[s.len - 1] == '\\')) {
        s.len--;
    }
    return s;
}

/* The text inside the outermost brackets of s (List[int] -> int), or empty. */
static core_str inner(core_str s)
{
    const char *open = memchr(s.ptr, '[', s.len);
    if (!open || s.len == 0 || s.ptr[s.len - 1] != ']') {
        return (core_str){s.ptr, 0};
    }
    size_t at = (size_t)(open - s.ptr) + 1;
    return trim((core_str){s.ptr + at, s.len - at - 1});
}

/* The value list of a parameter named name, without an annotation. */
static value_list by_name(core_str name)
{
    static const char *const str_names[] = {"s",    "string", "text",     "word", "txt",
                                            "name", "str",    "sentence", "msg",  "message"};
    static const char *const list_names[] = {"l",     "lst",   "arr",   "array",  "numbers",
                                             "nums",  "xs",    "items", "values", "list",
                                             "list1", "list2", "l1",    "l2",     "data"};
    for (size_t i = 0; i < sizeof(str_names) / sizeof(str_names[0]); i++) {
        if (str_is(name, str_names[i])) {
            return strs;
        }
    }
    for (size_t i = 0; i < sizeof(list_names) / sizeof(list_names[0]); i++) {
        if (str_is(name, list_names[i])) {
            return list_ints;
        }
    }
    return ints;
}

/* The value list of an annotation (already trimmed), or NULL when it names no known type. */
static value_list by_type(core_str t)
{
    if (str_starts(t, "typing.")) {
        t.ptr += 7;
        t.len -= 7;
    }
    if (str_starts(t, "Optional[")) {
        return by_type(inner(t));
    }
    if (str_is(t, "str")) {
        return strs;
    }
    if (str_is(t, "int")) {
        return ints;
    }
    if (str_is(t, "float")) {
        return floats;
    }
    if (str_is(t, "bool")) {
        return bools;
    }
    if (str_is(t, "list") || str_is(t, "List")) {
        return list_ints;
    }
    if (str_starts(t, "List[") || str_starts(t, "list[") || str_starts(t, "Sequence[") ||
        str_starts(t, "Iterable[")) {
        value_list of = by_type(inner(t));
        if (of == strs) {
            return list_strs;
        }
        if (of == floats) {
            return list_floats;
        }
        return of == ints ? list_ints : list_anys;
    }
    if (str_starts(t, "Tuple") || str_starts(t, "tuple")) {
        return tuples;
    }
    if (str_starts(t, "Dict") || str_starts(t, "dict")) {
        return dicts;
    }
    return NULL;
}

/* Finds `def ENTRY(` at a line's start (after indentation) in prompt; the index after '('. */
static bool find_def(core_str prompt, core_str entry, size_t *at)
{
    for (size_t i = 0; i + 4 + entry.len < prompt.len; i++) {
        if ((i > 0 && prompt.ptr[i - 1] != '\n' && prompt.ptr[i - 1] != ' ' &&
             prompt.ptr[i - 1] != '\t') ||
            memcmp(prompt.ptr + i, "def ", 4) != 0) {
            continue;
        }
        size_t j = i + 4;
        while (j < prompt.len && prompt.ptr[j] == ' ') {
            j++;
        }
        if (j + entry.len < prompt.len && memcmp(prompt.ptr + j, entry.ptr, entry.len) == 0 &&
            prompt.ptr[j + entry.len] == '(') {
            *at = j + entry.len + 1;
            return true;
        }
    }
    return false;
}

int solve__probes(core_buf *out, core_str prompt, core_str entry, size_t n_max)
{
    enum { PARAMS_MAX = 6 };
    value_list params[PARAMS_MAX];
    size_t n_params = 0;
    size_t at = 0;
    if (entry.len == 0 || !find_def(prompt, entry, &at)) {
        return 0;
    }
    /* Split the parameters at the commas of depth 0, up to the ')' that closes the list. */
    int depth = 0;
    char quote = 0;
    size_t start = at;
    bool closed = false;
    bool taking = true; /* false after *args, a bare '*' or a parameter with a default */
    for (size_t i = at; i < prompt.len && !closed; i++) {
        char ch = prompt.ptr[i];
        if (quote) {
            if (ch == '\\') {
                i++;
            } else if (ch == quote) {
                quote = 0;
            }
            continue;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '(' || ch == '[' || ch == '{') {
            depth++;
        } else if ((ch == ']' || ch == '}' || ch == ')') && depth > 0) {
            depth--;
        } else if ((ch == ',' && depth == 0) || ch == ')') {
            closed = ch == ')';
            core_str p = trim((core_str){prompt.ptr + start, i - start});
            start = i + 1;
            /* *args, **kwargs and what follows them, and parameters with defaults (which keep
               them) take no probe value */
            taking = taking && !(p.len > 0 && p.ptr[0] == '*') && !memchr(p.ptr, '=', p.len);
            if (!taking || p.len == 0 || str_is(p, "self") || str_is(p, "/")) {
                continue;
            }
            const char *colon = memchr(p.ptr, ':', p.len);
            core_str name = trim((core_str){p.ptr, colon ? (size_t)(colon - p.ptr) : p.len});
            value_list v = NULL;
            if (colon) {
                size_t c = (size_t)(colon - p.ptr) + 1;
                v = by_type(trim((core_str){p.ptr + c, p.len - c}));
            }
            if (!v) {
                v = by_name(name);
            }
            if (n_params == PARAMS_MAX) {
                return 0; /* too many to probe sensibly */
            }
            params[n_params++] = v;
        }
    }
    if (!closed || n_params == 0) {
        return 0;
    }
    n_max = n_max < N_VALUES ? n_max : N_VALUES;
    for (size_t k = 0; k < n_max; k++) {
        if (core_buf_appendf(out, "assert False, repr(%.*s(", (int)entry.len, entry.ptr) < 0) {
            return CORE_ENOMEM;
        }
        for (size_t p = 0; p < n_params; p++) {
            /* Parameter p shifts by 3p, so that two ints are not always equal; the last two
               probes keep every parameter at its edge case. */
            size_t idx = k >= N_VALUES - 2 ? k : (k + 3 * p) % (N_VALUES - 2);
            if (core_buf_appendf(out, "%s%s", p ? ", " : "", params[p][idx]) < 0) {
                return CORE_ENOMEM;
            }
        }
        if (core_buf_appendf(out, "))\n") < 0) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

/* Where needle first occurs in s at or after from, or s.len. */
static size_t find_from(core_str s, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = from; i + n <= s.len; i++) {
        if (memcmp(s.ptr + i, needle, n) == 0) {
            return i;
        }
    }
    return s.len;
}

/* The value a probe line of a behavior reports (after the probe's source, solve_probes.c), or
   an empty string when the line is not a probe's. */
static core_str probe_value(core_str line)
{
    if (line.len == 0 || line.ptr[0] == '!') {
        return (core_str){line.ptr, 0};
    }
    size_t src = find_from(line, 0, "assert False, repr(");
    size_t end = src < line.len ? find_from(line, src, ")): ") : line.len;
    if (end >= line.len) {
        return (core_str){line.ptr, 0};
    }
    return (core_str){line.ptr + end + 4, line.len - end - 4};
}

int solve__probes_mark_constant(core_buf *out, core_str behavior)
{
    core_str first = {0};
    size_t n_values = 0;
    bool constant = true;
    for (size_t at = 0; at < behavior.len;) {
        const char *nl = memchr(behavior.ptr + at, '\n', behavior.len - at);
        size_t end = nl ? (size_t)(nl - behavior.ptr) : behavior.len;
        core_str v = probe_value((core_str){behavior.ptr + at, end - at});
        if (v.len > 0) {
            constant = constant && (n_values == 0 || core_str_eq(v, first));
            first = n_values == 0 ? v : first;
            n_values++;
        }
        at = end + 1;
    }
    constant = constant && n_values >= 3;
    for (size_t at = 0; at < behavior.len;) {
        const char *nl = memchr(behavior.ptr + at, '\n', behavior.len - at);
        size_t end = nl ? (size_t)(nl - behavior.ptr) : behavior.len;
        core_str line = {behavior.ptr + at, end - at};
        bool mark = constant && probe_value(line).len > 0;
        if (core_buf_appendf(out, "%s%.*s\n", mark ? "!" : "", (int)line.len, line.ptr) < 0) {
            return CORE_ENOMEM;
        }
        at = end + 1;
    }
    return 0;
}
