/*
 * Tests from a docstring's examples, for tasks that come without tests. The examples follow
 * Python's doctest format (a `>>> ` line, `... ` continuations, then the expected output up to
 * a blank line, the next prompt or the docstring's closing quotes); each becomes one MBPP-style
 * assert line that compares the value instead of its text. Doctest compares printed text, so an
 * assert is only written when the output reads as a Python value (a literal, True/False/None, or a
 * constructor call); exceptions, object reprs, elided output and directives are skipped rather than
 * guessed at. A small scanner tracks strings, brackets and comments so that a trailing comment is
 * dropped and unbalanced text is refused instead of producing a test file that does not parse.
 */
#include "eval/eval.h"

#include <string.h>

/* What scan_py found in a piece of Python source. */
typedef struct scan_info {
    bool balanced;      /* brackets close and no string is left open */
    size_t code_len;    /* bytes before a top-level comment (or the whole length) */
    size_t first_close; /* byte after the first top-level item closes (SIZE_MAX: never) */
    bool has_operator;  /* a byte at bracket depth 0 that is not part of a name or number */
} scan_info;

static bool is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || (unsigned char)ch >= 0x80;
}

/* Scans s for strings (with escapes and triple quotes), brackets and a trailing comment. */
static scan_info scan_py(const char *s, size_t len)
{
    scan_info info = {.balanced = true, .code_len = len, .first_close = SIZE_MAX};
    size_t depth = 0;
    bool bad = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '\'' || ch == '"') {
            bool triple = i + 2 < len && s[i + 1] == ch && s[i + 2] == ch;
            size_t q = triple ? 3 : 1;
            size_t j = i + q;
            bool closed = false;
            while (j < len) {
                if (s[j] == '\\') {
                    j += 2;
                    continue;
                }
                if (s[j] == ch && (!triple || (j + 2 < len && s[j + 1] == ch && s[j + 2] == ch))) {
                    closed = true;
                    break;
                }
                j++;
            }
            if (!closed) {
                info.balanced = false;
                return info;
            }
            i = j + q - 1;
            if (depth == 0 && info.first_close == SIZE_MAX) {
                info.first_close = i + 1;
            }
            continue;
        }
        if (ch == '#') {
            info.code_len = i;
            break;
        }
        if (ch == '(' || ch == '[' || ch == '{') {
            depth++;
        } else if (ch == ')' || ch == ']' || ch == '}') {
            if (depth == 0) {
                bad = true;
                break;
            }
            depth--;
            if (depth == 0 && info.first_close == SIZE_MAX) {
                info.first_close = i + 1;
            }
        } else if (depth == 0 && !is_name_char(ch)) {
            info.has_operator = true;
        }
    }
    info.balanced = !bad && depth == 0;
    return info;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static core_str trim(core_str s)
{
    while (s.len > 0 && is_blank(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_blank(s.ptr[s.len - 1])) {
        s.len--;
    }
    return s;
}

static bool starts_with(core_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static bool contains(core_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++) {
        if (memcmp(s.ptr + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* A prompt line: `>>>` alone or followed by a space; *rest is what follows. */
static bool is_prompt(core_str line, const char *mark, core_str *rest)
{
    if (!starts_with(line, mark) || (line.len > 3 && line.ptr[3] != ' ')) {
        return false;
    }
    *rest = line.len > 4 ? (core_str){line.ptr + 4, line.len - 4} : (core_str){line.ptr, 0};
    return true;
}

/* `ValueError: ...`, `Traceback (most recent call last):`, `pkg.SomeError` */
static bool is_exception(core_str out)
{
    if (starts_with(out, "Traceback")) {
        return true;
    }
    size_t n = 0;
    while (n < out.len && is_name_char(out.ptr[n])) {
        n++;
    }
    core_str word = {out.ptr, n};
    bool named = (n >= 5 && memcmp(word.ptr + n - 5, "Error", 5) == 0) ||
                 (n >= 9 && memcmp(word.ptr + n - 9, "Exception", 9) == 0);
    return named && (n == out.len || out.ptr[n] == ':');
}

static bool is_number(core_str s, bool *is_float)
{
    static const char chars[] = "0123456789.eE+-_jxXabcdefABCDEFoO";
    size_t i = 0;
    if (s.len > 0 && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        i = 1;
    }
    if (i == s.len || !((s.ptr[i] >= '0' && s.ptr[i] <= '9') || s.ptr[i] == '.')) {
        return false;
    }
    bool hex = s.len > i + 1 && s.ptr[i] == '0' && (s.ptr[i + 1] == 'x' || s.ptr[i + 1] == 'X');
    *is_float = false;
    for (; i < s.len; i++) {
        if (!memchr(chars, s.ptr[i], sizeof(chars) - 1)) {
            return false;
        }
        if (!hex && (s.ptr[i] == '.' || s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
            *is_float = true;
        }
        if (s.ptr[i] == 'j') {
            *is_float = false;
        }
    }
    return true;
}

/*
 * Whether out reads as one Python value: a number, a string or bytes literal, a bracketed
 * display, True/False/None, or a call such as `Fraction(1, 3)`; *is_float for plain floats.
 */
static bool is_value(core_str out, bool *is_float)
{
    *is_float = false;
    if (out.len == 0 || out.ptr[0] == '<' || contains(out, "...") || contains(out, " at 0x")) {
        return false;
    }
    if (is_number(out, is_float)) {
        return true;
    }
    if (core_str_eq_c(out, "True") || core_str_eq_c(out, "False") || core_str_eq_c(out, "None")) {
        return true;
    }
    scan_info info = scan_py(out.ptr, out.len);
    if (!info.balanced || info.code_len != out.len || info.first_close != out.len) {
        return false;
    }
    char ch = out.ptr[0];
    if (ch == '\'' || ch == '"' || ch == '(' || ch == '[' || ch == '{') {
        return true;
    }
    /* A prefixed string (b'', r"") or a call: a name, then the bracketed part that closes last. */
    size_t n = 0;
    while (n < out.len && is_name_char(out.ptr[n])) {
        n++;
    }
    return n > 0 && n < out.len &&
           (out.ptr[n] == '(' || ((n <= 2) && (out.ptr[n] == '\'' || out.ptr[n] == '"')));
}

/* Appends s as a single-quoted Python string literal. */
static int append_quoted(core_buf *b, core_str s)
{
    int rc = core_buf_append(b, "'", 1);
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        char ch = s.ptr[i];
        if (ch == '\\' || ch == '\'') {
            rc = core_buf_append(b, "\\", 1);
        }
        if (rc == 0) {
            rc = ch == '\n' ? core_buf_append(b, "\\n", 2) : core_buf_append(b, &ch, 1);
        }
    }
    return rc < 0 ? rc : core_buf_append(b, "'", 1);
}

/* Appends e, in parentheses when it has an operator at depth 0 (so `==` binds as meant). */
static int append_operand(core_buf *b, core_str e)
{
    if (scan_py(e.ptr, e.len).has_operator) {
        return core_buf_appendf(b, "(%.*s)", (int)e.len, e.ptr);
    }
    return core_buf_append(b, e.ptr, e.len);
}

/*
 * Writes the test for one example into b (empty when skipped). src is the joined source
 * without its comment, out the output lines joined with '\n'.
 */
static int write_test(core_buf *b, core_str src, core_str out, bool *skipped)
{
    *skipped = false;
    b->len = 0;
    if (b->ptr) {
        b->ptr[0] = '\0';
    }
    if (out.len == 0) {
        return core_buf_append(b, src.ptr, src.len);
    }
    if (is_exception(out)) {
        *skipped = true;
        return 0;
    }
    scan_info info = scan_py(src.ptr, src.len);
    if (starts_with(src, "print(") && info.first_close == src.len) {
        if (contains(out, "...") || out.ptr[0] == '<' || contains(out, " at 0x")) {
            *skipped = true;
            return 0;
        }
        int rc = core_buf_appendf(b, "assert str(%.*s) == ", (int)(src.len - 7), src.ptr + 6);
        return rc < 0 ? rc : append_quoted(b, out);
    }
    /* A value spread over lines (a long list) is read as one line. */
    core_buf joined = {0};
    core_str value = out;
    if (memchr(out.ptr, '\n', out.len)) {
        if (core_buf_append(&joined, out.ptr, out.len) < 0) {
            return CORE_ENOMEM;
        }
        for (size_t i = 0; i < joined.len; i++) {
            if (joined.ptr[i] == '\n') {
                joined.ptr[i] = ' ';
            }
        }
        value = (core_str){joined.ptr, joined.len};
    }
    bool is_float = false;
    int rc = 0;
    if (!is_value(value, &is_float)) {
        *skipped = true;
    } else if (is_float) {
        rc = core_buf_append(b, "assert abs(", 11);
        rc = rc < 0 ? rc : append_operand(b, src);
        rc = rc < 0 ? rc
                    : core_buf_appendf(b, " - (%.*s)) <= 1e-6 * max(1.0, abs(%.*s))",
                                       (int)value.len, value.ptr, (int)value.len, value.ptr);
    } else {
        rc = core_buf_append(b, "assert ", 7);
        rc = rc < 0 ? rc : append_operand(b, src);
        rc = rc < 0 ? rc : core_buf_append(b, " == ", 4);
        bool number = false;
        rc = rc < 0                      ? rc
             : is_number(value, &number) ? core_buf_append(b, value.ptr, value.len)
                                         : append_operand(b, value);
    }
    core_buf_dispose(&joined);
    return rc;
}

/* The text's lines, with the indentation of each measured. */
typedef struct text_lines {
    core_str text;
    size_t pos; /* start of the next line */
} text_lines;

static bool next_line(text_lines *t, core_str *line)
{
    if (t->pos >= t->text.len) {
        return false;
    }
    const char *start = t->text.ptr + t->pos;
    const char *nl = memchr(start, '\n', t->text.len - t->pos);
    size_t len = nl ? (size_t)(nl - start) : t->text.len - t->pos;
    *line = (core_str){start, len};
    t->pos += len + (nl ? 1 : 0);
    return true;
}

int eval_doctest_extract(const char ***out, size_t *n_out, size_t *n_skipped, core_arena *arena,
                         core_str text, core_err *err)
{
    int rc = 0;
    core_buf src = {0};
    core_buf res = {0};
    core_buf test = {0};
    size_t n_lines = 1;
    size_t n = 0;
    size_t skipped = 0;

    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < text.len; i++) {
        n_lines += text.ptr[i] == '\n';
    }
    const char **lines = core_arena_alloc(arena, sizeof(*lines) * n_lines);
    if (!lines) {
        return core_err_set(err, CORE_ENOMEM, "doctest: out of memory");
    }
    text_lines t = {text, 0};
    core_str line;
    bool have = next_line(&t, &line);
    while (have) {
        core_str s = trim(line);
        core_str rest;
        if (!is_prompt(s, ">>>", &rest)) {
            if (starts_with(s, "assert ")) {
                scan_info info = scan_py(s.ptr, s.len);
                if (info.balanced) {
                    lines[n] = core_arena_strndup(arena, s.ptr,
                                                  trim((core_str){s.ptr, info.code_len}).len);
                    if (!lines[n]) {
                        rc = CORE_ENOMEM;
                        goto done;
                    }
                    n++;
                }
            }
            have = next_line(&t, &line);
            continue;
        }
        size_t indent = (size_t)(s.ptr - line.ptr);
        bool block = false;
        src.len = 0;
        if (core_buf_append(&src, rest.ptr, rest.len) < 0) {
            rc = CORE_ENOMEM;
            goto done;
        }
        /* Continuations: joined with a space inside open brackets, else the example is a block. */
        while ((have = next_line(&t, &line))) {
            core_str c = trim(line);
            core_str more;
            if (!is_prompt(c, "...", &more)) {
                break;
            }
            if (scan_py(src.ptr, src.len).balanced) {
                block = true;
            }
            more = trim(more);
            if (core_buf_append(&src, " ", 1) < 0 ||
                core_buf_append(&src, more.ptr, more.len) < 0) {
                rc = CORE_ENOMEM;
                goto done;
            }
        }
        /* Expected output: lines up to a blank line, the next prompt or a dedent. */
        res.len = 0;
        if (core_buf_reserve(&res, 1) < 0) {
            rc = CORE_ENOMEM;
            goto done;
        }
        res.ptr[0] = '\0';
        while (have) {
            core_str o = trim(line);
            core_str dummy;
            size_t o_indent = (size_t)(o.ptr - line.ptr);
            if (o.len == 0 || is_prompt(o, ">>>", &dummy) || o_indent < indent ||
                starts_with(o, "\"\"\"") || starts_with(o, "'''")) {
                break;
            }
            if ((res.len > 0 && core_buf_append(&res, "\n", 1) < 0) ||
                core_buf_append(&res, o.ptr, o.len) < 0) {
                rc = CORE_ENOMEM;
                goto done;
            }
            have = next_line(&t, &line);
        }
        core_str source = trim((core_str){src.ptr, src.len});
        scan_info info = scan_py(source.ptr, source.len);
        bool skip = false;
        if (block || !info.balanced || contains(source, "doctest:") || source.len == 0) {
            skip = true;
        } else {
            source = trim((core_str){source.ptr, info.code_len});
            rc = write_test(&test, source, (core_str){res.ptr, res.len}, &skip);
            if (rc < 0) {
                goto done;
            }
        }
        if (skip || test.len == 0) {
            skipped++;
            continue;
        }
        lines[n] = core_arena_strndup(arena, test.ptr, test.len);
        if (!lines[n]) {
            rc = CORE_ENOMEM;
            goto done;
        }
        n++;
    }
    *out = lines;
    *n_out = n;
    if (n_skipped) {
        *n_skipped = skipped;
    }

done:
    core_buf_dispose(&src);
    core_buf_dispose(&res);
    core_buf_dispose(&test);
    if (rc == CORE_ENOMEM) {
        return core_err_set(err, CORE_ENOMEM, "doctest: out of memory");
    }
    return rc;
}
