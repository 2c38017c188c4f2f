/*
 * Tests from the examples in a C prompt's comments, the counterpart of doctest.c for tasks in
 * the HumanEval-X and MultiPL-E shapes, which describe the function in a comment and give a few
 * calls with their results and no tests. An example is a call of the entry function followed
 * by its result, in one of the ways people write it:
 *     Example: count_char("banana", 'a') == 3
 *     count_char("banana", 'a') returns 3      (also "should return", "gives", "is")
 *     count_char("banana", 'a') -> 3           (also "=>", "=")
 * Each becomes a C expression that is true when the candidate agrees: `call == value` for
 * integers, characters, booleans and NULL, `strcmp(call, "value") == 0` for strings, and a
 * tolerance of 1e-6 for floating-point values. Only examples whose arguments are C expressions
 * (no brace or bracket literals, which C has no way to pass) and whose result is one C literal
 * are used; the rest are counted as skipped rather than guessed at.
 */
#include "eval/eval.h"

#include <string.h>

static bool is_word(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Skips a string or character literal starting at s[i] (a quote); returns the byte after it, or
   SIZE_MAX when it does not close on the line. */
static size_t skip_quoted(const char *s, size_t len, size_t i)
{
    char q = s[i];
    for (size_t j = i + 1; j < len && s[j] != '\n'; j++) {
        if (s[j] == '\\') {
            j++;
        } else if (s[j] == q) {
            return j + 1;
        }
    }
    return SIZE_MAX;
}

/* The byte after the ')' that closes the '(' at s[i], on the same line; SIZE_MAX if none or if
   the arguments hold a brace or bracket literal. */
static size_t call_end(const char *s, size_t len, size_t i)
{
    size_t depth = 0;
    while (i < len && s[i] != '\n') {
        char ch = s[i];
        if (ch == '"' || ch == '\'') {
            i = skip_quoted(s, len, i);
            if (i == SIZE_MAX) {
                return SIZE_MAX;
            }
            continue;
        }
        if (ch == '{' || ch == '[' || ch == '}' || ch == ']') {
            return SIZE_MAX;
        }
        if (ch == '(') {
            depth++;
        } else if (ch == ')' && --depth == 0) {
            return i + 1;
        }
        i++;
    }
    return SIZE_MAX;
}

typedef enum value_kind {
    VALUE_NONE,
    VALUE_INT,
    VALUE_FLOAT,
    VALUE_STRING,
    VALUE_OTHER
} value_kind;

/* The kind of the C literal s[0..len) (already trimmed). */
static value_kind literal_kind(const char *s, size_t len)
{
    if (len == 0) {
        return VALUE_NONE;
    }
    if (s[0] == '"' || s[0] == '\'') {
        size_t end = skip_quoted(s, len, 0);
        return end != len ? VALUE_NONE : s[0] == '"' ? VALUE_STRING : VALUE_INT;
    }
    if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0) ||
        (len == 4 && memcmp(s, "NULL", 4) == 0)) {
        return VALUE_OTHER;
    }
    size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
    size_t n_digits = 0;
    bool is_float = false;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            n_digits++;
        } else if (ch == '.' || ch == 'e' || ch == 'E') {
            is_float = true;
        } else if (!(((ch == '-' || ch == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E')) ||
                     ((ch == 'u' || ch == 'U' || ch == 'l' || ch == 'L' || ch == 'f') &&
                      n_digits > 0))) {
            /* anything but an exponent's sign or an integer or float suffix */
            return VALUE_NONE;
        }
    }
    return n_digits == 0 ? VALUE_NONE : is_float ? VALUE_FLOAT : VALUE_INT;
}

/* The words that may join a call to its result, longest first within a family. */
static const char *const joiners[] = {
    "should return", "returns", "return", "gives", "is", "==", "=>", "->", "="};

/* Length of the joiner at s (after blanks), 0 if none; *skip is the blank run before it. */
static size_t joiner_at(const char *s, size_t len, size_t *skip)
{
    size_t i = 0;
    while (i < len && is_space(s[i])) {
        i++;
    }
    *skip = i;
    for (size_t j = 0; j < sizeof(joiners) / sizeof(joiners[0]); j++) {
        size_t n = strlen(joiners[j]);
        if (i + n <= len && memcmp(s + i, joiners[j], n) == 0 &&
            !(is_word(joiners[j][0]) && i + n < len && is_word(s[i + n])) &&
            !(joiners[j][0] == '=' && n == 1 && i + 1 < len && s[i + 1] == '=')) {
            return n;
        }
    }
    return 0;
}

/*
 * The length of the result at s: one literal token (a quoted literal, or a run of number and
 * word characters, without a sentence's final period), which may be followed only by the end of
 * the line or comment, punctuation, or prose. 0 when there is no such token.
 */
static size_t result_len(const char *s, size_t len)
{
    size_t n = 0;
    if (len > 0 && (s[0] == '"' || s[0] == '\'')) {
        n = skip_quoted(s, len, 0);
        if (n == SIZE_MAX) {
            return 0;
        }
    } else {
        while (n < len &&
               (is_word(s[n]) || s[n] == '.' ||
                ((s[n] == '-' || s[n] == '+') && (n == 0 || s[n - 1] == 'e' || s[n - 1] == 'E')))) {
            n++;
        }
        while (n > 0 && s[n - 1] == '.') {
            n--;
        }
    }
    size_t i = n;
    while (i < len && (is_space(s[i]) || s[i] == '\r')) {
        i++;
    }
    bool ok = i == len || s[i] == '\n' || s[i] == ',' || s[i] == ';' || s[i] == '.' ||
              s[i] == ')' || is_word(s[i]) || (i + 1 < len && s[i] == '*' && s[i + 1] == '/');
    return ok ? n : 0;
}

int eval_c_examples_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                            core_str text, core_str entry, core_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (n_skipped) {
        *n_skipped = 0;
    }
    if (entry.len == 0) {
        return 0;
    }
    size_t cap = 0;
    const char **lines = NULL;
    const char *s = text.ptr;
    size_t len = text.len;
    for (size_t i = 0; i + entry.len < len; i++) {
        if (memcmp(s + i, entry.ptr, entry.len) != 0 || (i > 0 && is_word(s[i - 1])) ||
            s[i + entry.len] != '(') {
            continue;
        }
        size_t end = call_end(s, len, i + entry.len);
        if (end == SIZE_MAX) {
            continue;
        }
        size_t skip = 0;
        size_t n_join = joiner_at(s + end, len - end, &skip);
        if (n_join == 0) {
            continue; /* a mention, or the declaration itself */
        }
        size_t v = end + skip + n_join;
        while (v < len && is_space(s[v])) {
            v++;
        }
        size_t n_value = result_len(s + v, len - v);
        value_kind kind = literal_kind(s + v, n_value);
        if (kind == VALUE_NONE) {
            if (n_skipped) {
                (*n_skipped)++;
            }
            i = end;
            continue;
        }
        core_buf b = {0};
        int call_len = (int)(end - i);
        int value_len = (int)n_value;
        int rc =
            kind == VALUE_STRING
                ? core_buf_appendf(&b, "strcmp(%.*s, %.*s) == 0", call_len, s + i, value_len, s + v)
            : kind == VALUE_FLOAT
                ? core_buf_appendf(&b, "(%.*s) - (%.*s) < 1e-6 && (%.*s) - (%.*s) < 1e-6", call_len,
                                   s + i, value_len, s + v, value_len, s + v, call_len, s + i)
                : core_buf_appendf(&b, "%.*s == %.*s", call_len, s + i, value_len, s + v);
        const char *line = rc == 0 ? core_arena_strndup(arena, b.ptr, b.len) : NULL;
        core_buf_dispose(&b);
        if (*n_out == cap) {
            size_t cap_new = cap ? cap * 2 : 8;
            const char **grown = core_arena_alloc(arena, cap_new * sizeof(*grown));
            if (grown && *n_out) {
                memcpy(grown, lines, *n_out * sizeof(*grown));
            }
            lines = grown;
            cap = cap_new;
        }
        if (!line || !lines) {
            return core_err_set(err, CORE_ENOMEM, "eval: out of memory for the examples' tests");
        }
        lines[(*n_out)++] = line;
        *out = lines;
        i = v + n_value;
    }
    return 0;
}
