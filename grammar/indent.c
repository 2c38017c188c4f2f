/*
 * Python's indentation rules, which tree-sitter-python does not hold: its external scanner
 * turns an indentation that no block expects into a plain NEWLINE and lets a header end in an
 * empty block (`def f():\nreturn 1` and `x = 1\n    y = 2` both parse), where CPython's
 * tokenizer raises IndentationError. This file is a byte-level state machine that follows the
 * tokenizer's part of the language (Python reference, 2.1.3-2.1.8: comments, explicit and
 * implicit line joining, blank lines, indentation): it finds where each logical line starts,
 * measures its indentation twice (tabs to the next multiple of 8, and tabs as one column, the
 * two ways CPython compares to detect inconsistent tabs), and checks it against the stack of
 * enclosing levels: a line after a header (a logical line whose last token is `:`) must be
 * indented deeper; any other line must stay at the current level or dedent to an enclosing
 * one. Strings are skipped (quotes, triple quotes, backslash escapes); what else makes a string
 * or a bracket wrong is the grammar's business.
 *
 * A violation is found at the first byte of code of the offending line, so feeding text byte
 * by byte rejects exactly the piece that makes the text impossible to continue: blank and
 * comment lines, and the blanks of an indentation, never fail.
 *
 * It also follows, per bracket depth, two expression rules of CPython's grammar that
 * tree-sitter-python's is looser about: a comprehension inside brackets is the brackets' only
 * element (`f(x for x in a, y)`, `[x for x in a, b]` and `f(y, x for x in a)` are refused at the
 * comma or the `for`; the commas of a comprehension's targets and of a lambda's parameters are
 * allowed), and a conditional expression's condition is not itself a conditional
 * (`a if b if c else d else e`, refused at the second `if`; a comprehension's `if` clauses and
 * a statement's leading `if` are not conditionals). A logical line never ends right after an
 * operator that needs a right operand (`return a and` then a new line, which
 * tree-sitter-python's scanner lets continue on the next line).
 */
#include "grammar/gram_int.h"

#include <string.h>

/* Where the scanner is. */
enum {
    IND_LINE,    /* at the indentation of a line that may start a logical line */
    IND_CODE,    /* inside a logical line */
    IND_COMMENT, /* inside a comment (blank_line: the comment started the line) */
    IND_QUOTE,   /* after an opening quote; a second one may make it empty or triple */
    IND_STRING,  /* inside a string */
};

void gram__indent_init(gram__indent *in)
{
    memset(in, 0, sizeof(*in));
    in->mode = IND_LINE;
    in->n_levels = 1; /* level 0, the module's */
    in->err_byte = SIZE_MAX;
}

/* What an expression at one bracket depth has had (gram__indent.nest). */
enum {
    NEST_COMMA = 1,  /* a comma that separates elements */
    NEST_FOR = 2,    /* a comprehension's `for` */
    NEST_TARGET = 4, /* between a comprehension's `for` and its `in` */
    NEST_LAMBDA = 8, /* between `lambda` and its `:` */
    NEST_COND = 16,  /* a conditional's `if` still waiting for its `else` */
};

static bool fail(gram__indent *in, size_t at, const char *why)
{
    in->failed = true;
    in->err_byte = at;
    in->why = why;
    return false;
}

/* The first byte of code of a logical line: judge its indentation. */
static bool line_starts(gram__indent *in, size_t at)
{
    in->line_first = true;
    in->nest[0] = 0;
    uint32_t top = in->levels[in->n_levels - 1];
    uint32_t top_alt = in->alts[in->n_levels - 1];
    if (in->want_block) {
        in->want_block = false;
        if (in->col <= top) {
            return fail(in, at, "expected an indented block");
        }
        if (in->alt <= top_alt) {
            return fail(in, at, "inconsistent use of tabs and spaces in indentation");
        }
        if (in->n_levels == GRAM__INDENT_MAX) {
            return fail(in, at, "too many levels of indentation");
        }
        in->levels[in->n_levels] = in->col;
        in->alts[in->n_levels] = in->alt;
        in->n_levels++;
        return true;
    }
    if (in->col > top) {
        return fail(in, at, "unexpected indent");
    }
    while (in->n_levels > 1 && in->col < in->levels[in->n_levels - 1]) {
        in->n_levels--;
    }
    if (in->col != in->levels[in->n_levels - 1]) {
        return fail(in, at, "unindent does not match any outer indentation level");
    }
    if (in->alt != in->alts[in->n_levels - 1]) {
        return fail(in, at, "inconsistent use of tabs and spaces in indentation");
    }
    return true;
}

/* The end of a physical line in code: the logical line ends unless brackets are open. */
static bool code_newline(gram__indent *in, size_t at)
{
    if (in->depth > 0) {
        return true;
    }
    if (in->dangling) {
        return fail(in, at, "the line ends after an operator");
    }
    if (in->header) {
        in->want_block = true;
    }
    in->header = false;
    in->as_ok = false;
    in->mode = IND_LINE;
    in->col = 0;
    in->alt = 0;
    return true;
}

static bool is_word_byte(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || (unsigned char)ch >= 0x80;
}

static bool word_is(const gram__indent *in, const char *w)
{
    size_t n = strlen(w);
    return in->n_word == n && memcmp(in->word, w, n) == 0;
}

/* A word of code that is not its logical line's first: the comprehension and conditional rules. */
static bool nest_word(gram__indent *in)
{
    uint8_t *f = &in->nest[in->depth];
    if (word_is(in, "for") && in->depth > 0) {
        if (*f & NEST_COMMA) {
            return fail(in, in->word_start,
                        "a comprehension among other elements needs parentheses");
        }
        *f |= NEST_FOR | NEST_TARGET;
    } else if (word_is(in, "in")) {
        *f &= (uint8_t)~NEST_TARGET;
    } else if (word_is(in, "lambda")) {
        *f |= NEST_LAMBDA;
    } else if (word_is(in, "if") && (*f & (NEST_FOR | NEST_TARGET)) != NEST_FOR) {
        if (*f & NEST_COND) {
            return fail(in, in->word_start,
                        "a conditional expression as a condition needs parentheses");
        }
        *f |= NEST_COND;
    } else if (word_is(in, "else")) {
        *f &= (uint8_t)~NEST_COND;
    }
    return true;
}

/* Punctuation of code at bracket depth in->depth: commas and lambdas' colons. */
static bool nest_punct(gram__indent *in, char ch, size_t at)
{
    if (in->depth >= GRAM__INDENT_NEST) {
        return true;
    }
    uint8_t *f = &in->nest[in->depth];
    if (ch == ':') {
        *f &= (uint8_t)~NEST_LAMBDA;
    } else if (ch == ',' && in->depth > 0 && !(*f & (NEST_TARGET | NEST_LAMBDA))) {
        if (*f & NEST_FOR) {
            return fail(in, at, "a comprehension among other elements needs parentheses");
        }
        *f |= NEST_COMMA;
    } else if (ch == ';' && in->depth == 0) {
        *f = 0;
        in->line_first = true;
        return true;
    }
    in->line_first = false;
    return true;
}

/*
 * A word of code ended. `as` belongs only to with items, except clauses, imports and match
 * cases; tree-sitter-python's as_pattern takes it after any expression (`return x as y`).
 */
static bool word_ends(gram__indent *in)
{
    bool ok = true;
    if (word_is(in, "with") || word_is(in, "except") || word_is(in, "import") ||
        word_is(in, "case")) {
        in->as_ok = true;
    } else if (word_is(in, "as") && !in->as_ok) {
        ok = fail(in, in->word_start, "'as' outside with, except, import or case");
    } else if (ok && !in->line_first && in->depth < GRAM__INDENT_NEST) {
        ok = nest_word(in);
    }
    in->dangling = word_is(in, "and") || word_is(in, "or") || word_is(in, "not") ||
                   word_is(in, "is") || word_is(in, "in") || word_is(in, "if") ||
                   word_is(in, "else") || word_is(in, "lambda") || word_is(in, "await");
    in->line_first = false;
    in->n_word = 0;
    return ok;
}

/* One byte of code at byte offset at; false at a violation. */
static bool code_byte(gram__indent *in, char ch, size_t at)
{
    if (is_word_byte(ch)) {
        if (in->n_word == 0) {
            in->word_start = at;
        }
        if (in->n_word < sizeof(in->word)) {
            in->word[in->n_word] = ch;
        }
        in->n_word = in->n_word < UINT8_MAX ? (uint8_t)(in->n_word + 1) : UINT8_MAX;
    } else if (in->n_word > 0 && !word_ends(in)) {
        return false;
    }
    if (in->joined) {
        in->joined = false;
        if (ch == '\n') {
            return true; /* a backslash joined the next physical line */
        }
        if (ch == '\r') {
            in->joined = true;
            return true;
        }
    }
    if (ch == '\0' || is_word_byte(ch) || strchr("+-/%&|^~<>=@ \t\f\r\n#\\", ch) == NULL) {
        in->dangling = false;
    } else if (strchr("+-/%&|^~<>=@", ch) != NULL) {
        in->dangling = true;
    }
    switch (ch) {
    case '\n':
        return code_newline(in, at);
    case ' ':
    case '\t':
    case '\f':
    case '\r':
        return true;
    case '#':
        in->mode = IND_COMMENT;
        in->blank_line = false;
        return true;
    case '\\':
        in->joined = true;
        return true;
    case '\'':
    case '"':
        in->mode = IND_QUOTE;
        in->quote = ch;
        in->header = false;
        in->line_first = false;
        return true;
    case '(':
    case '[':
    case '{':
        in->line_first = false;
        in->depth++;
        if (in->depth < GRAM__INDENT_NEST) {
            in->nest[in->depth] = 0;
        }
        break;
    case ')':
    case ']':
    case '}':
        in->line_first = false;
        if (in->depth > 0) {
            in->depth--;
        }
        break;
    default:
        if (!is_word_byte(ch) && !nest_punct(in, ch, at)) {
            return false;
        }
        break;
    }
    in->header = ch == ':';
    return true;
}

static void string_byte(gram__indent *in, char ch)
{
    if (in->escaped) {
        in->escaped = false;
        return;
    }
    if (ch == '\\') {
        in->escaped = true;
        in->n_quotes = 0;
        return;
    }
    if (ch != in->quote) {
        in->n_quotes = 0;
        if (ch == '\n' && !in->triple) {
            /* An unterminated string: the grammar rejects it; resume in code (a string is
               an operand, so the line does not dangle). */
            in->mode = IND_CODE;
            in->dangling = false;
            (void)code_newline(in, 0);
        }
        return;
    }
    if (!in->triple || ++in->n_quotes == 3) {
        in->mode = IND_CODE;
        in->n_quotes = 0;
    }
}

bool gram__indent_scan(gram__indent *in, const char *text, size_t len, size_t base)
{
    if (in->failed) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        switch (in->mode) {
        case IND_LINE:
            if (ch == ' ') {
                in->col++;
                in->alt++;
            } else if (ch == '\t') {
                in->col = (in->col / 8 + 1) * 8;
                in->alt++;
            } else if (ch == '\f' || ch == '\n' || ch == '\r') {
                /* a form feed resets the column, as in CPython; a line break starts anew */
                in->col = 0;
                in->alt = 0;
            } else if (ch == '#') {
                in->mode = IND_COMMENT;
                in->blank_line = true;
            } else {
                if (!line_starts(in, base + i)) {
                    return false;
                }
                in->mode = IND_CODE;
                if (!code_byte(in, ch, base + i)) {
                    return false;
                }
            }
            break;
        case IND_CODE:
            if (!code_byte(in, ch, base + i)) {
                return false;
            }
            break;
        case IND_COMMENT:
            if (ch == '\n') {
                if (in->blank_line) {
                    in->mode = IND_LINE;
                    in->col = 0;
                    in->alt = 0;
                } else {
                    in->mode = IND_CODE;
                    if (!code_newline(in, base + i)) {
                        return false;
                    }
                }
            }
            break;
        case IND_QUOTE:
            if (in->n_quotes == 0 && ch == in->quote) {
                in->n_quotes = 1; /* two quotes: empty, or the start of a triple quote */
            } else if (in->n_quotes == 1 && ch == in->quote) {
                in->mode = IND_STRING;
                in->triple = true;
                in->n_quotes = 0;
            } else if (in->n_quotes == 1) {
                in->mode = IND_CODE; /* the empty string ended */
                in->n_quotes = 0;
                if (!code_byte(in, ch, base + i)) {
                    return false;
                }
            } else {
                in->mode = IND_STRING;
                in->triple = false;
                string_byte(in, ch);
            }
            break;
        default:
            string_byte(in, ch);
            break;
        }
    }
    return true;
}

bool gram__indent_is_complete(const gram__indent *in)
{
    if (in->failed || in->want_block || in->header) {
        return false;
    }
    return in->mode != IND_STRING && !(in->mode == IND_QUOTE && in->n_quotes == 0);
}
