/*
 * The C entry's stub: finds the entry function's prototype in the tests (trusted text), decides
 * how each parameter and the result cross between the tests' process and the candidate's, and
 * writes the two halves of the stub. The tests' half is a definition of the entry appended to
 * the tests' translation unit: it sends the arguments over a pipe, waits for the answer and
 * copies results and out-parameters back. The candidate's half is a dispatcher appended to the
 * candidate's translation unit: it rebuilds the arguments in the candidate's own memory, calls
 * the entry and sends back what it returned and what it wrote through its pointers. The
 * runtime both halves call (framing, checks) is sandbox/cstub/rt.c.
 *
 * What crosses: values of any non-pointer type as their bytes (integers, floating point, char,
 * enums, structs; both sides are compiled by the same compiler), a struct's char * members as
 * strings after its bytes (found in the struct's definition in the tests), bool
 * as a byte that must be 0 or 1, NUL-terminated strings (char *; modified in place when not
 * const), arrays with a length parameter next to them (T *a, int n: n elements in, and back out
 * when not const; a non-const char * followed by a length is a buffer of that length), pointers
 * to one value (out-parameters), and returned strings (copied into memory the tests own).
 * Anything else (void *, pointers to pointers, function pointers, variadic functions, structs
 * with pointer members other than strings, pointers to structs with strings, other returned
 * pointers) is refused with CORE_EUNSUPPORTED naming the parameter: nothing runs.
 */
#include "sandbox/sbx_int.h"

#include <stdio.h>
#include <string.h>

/* ---- Tokens of C source: comments, literals and preprocessor lines are skipped ---- */

typedef struct toks {
    core_str *v; /* (n), owned; each points into the source */
    size_t n;
    size_t cap;
} toks;

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int toks_push(toks *t, const char *p, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        core_str *v = core_realloc(t->v, cap * sizeof *v);
        if (v == NULL) {
            return CORE_ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (core_str){p, len};
    return 0;
}

static int tokenize(toks *t, core_str src)
{
    const char *p = src.ptr;
    const char *end = src.ptr + src.len;
    bool line_start = true;
    while (p < end) {
        char c = *p;
        if (c == '\n') {
            line_start = true;
            p++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            p++;
        } else if (c == '#' && line_start) {
            /* a preprocessor line, with its continuations */
            while (p < end && *p != '\n') {
                p += (*p == '\\' && p + 1 < end) ? 2 : 1;
            }
        } else if (c == '/' && p + 1 < end && p[1] == '/') {
            while (p < end && *p != '\n') {
                p++;
            }
        } else if (c == '/' && p + 1 < end && p[1] == '*') {
            p += 2;
            while (p + 1 < end && !(p[0] == '*' && p[1] == '/')) {
                p++;
            }
            p = p + 1 < end ? p + 2 : end;
        } else if (c == '"' || c == '\'') {
            p++;
            while (p < end && *p != c && *p != '\n') {
                p += (*p == '\\' && p + 1 < end) ? 2 : 1;
            }
            p = p < end ? p + 1 : end;
            line_start = false;
        } else {
            const char *s = p;
            if (is_ident_char(c)) {
                while (p < end && is_ident_char(*p)) {
                    p++;
                }
            } else {
                p++;
            }
            if (toks_push(t, s, (size_t)(p - s)) < 0) {
                return CORE_ENOMEM;
            }
            line_start = false;
        }
    }
    return 0;
}

static bool tok_is(core_str t, const char *s)
{
    size_t n = strlen(s);
    return t.len == n && memcmp(t.ptr, s, n) == 0;
}

static bool tok_in(core_str t, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++) {
        if (tok_is(t, set[i])) {
            return true;
        }
    }
    return false;
}

static bool tok_eq(core_str a, core_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool tok_ident(core_str t)
{
    return t.len > 0 && is_ident_start(t.ptr[0]);
}

/* Words that end a declaration's specifiers when they precede the entry (calls, not
 * declarations). */
static const char *const not_decl[] = {"return", "sizeof",     "case",     "if",      "while",
                                       "for",    "switch",     "do",       "else",    "goto",
                                       "typeof", "__typeof__", "_Alignof", "alignof", NULL};
static const char *const qualifiers[] = {
    "const",      "volatile", "restrict",  "__restrict",    "__restrict__",
    "register",   "static",   "extern",    "inline",        "__inline",
    "__inline__", "auto",     "_Noreturn", "__extension__", NULL};
static const char *const type_words[] = {"void",  "char",     "short",    "int",      "long",
                                         "float", "double",   "signed",   "unsigned", "_Bool",
                                         "bool",  "__int128", "_Complex", NULL};
static const char *const int_words[] = {"short", "int", "long", "signed", "unsigned", NULL};
static const char *const int_typedefs[] = {
    "size_t",  "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t", "int8_t",   "int16_t",   "int32_t",
    "int64_t", "uint8_t", "uint16_t",  "uint32_t", "uint64_t",  "intmax_t", "uintmax_t", NULL};

/* ---- Declarations ---- */

/* One parameter or the result, as tokens say it. */
typedef struct decl {
    core_str words[8]; /* type words without qualifiers ("unsigned", "long"; "struct", "p") */
    size_t n_words;
    core_str name; /* may be empty */
    bool base_const;
    size_t n_stars;    /* pointer levels, [] included */
    size_t n_brackets; /* how many of them are [] */
} decl;

static int refuse(core_err *err, core_str entry, const char *what, const char *why)
{
    return core_err_set(err, CORE_EUNSUPPORTED, "c entry %.*s: %s: %s", (int)entry.len, entry.ptr,
                        what, why);
}

/* Parses the tokens of one declaration (t[0..n)); with_name: a trailing identifier that is not
 * a type word is the name. Returns 0, or a refusal naming what. */
static int parse_decl(decl *d, const core_str *t, size_t n, bool with_name, core_str entry,
                      const char *what, core_err *err)
{
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        if (tok_in(t[i], qualifiers)) {
            if (tok_is(t[i], "const") && d->n_stars == 0) {
                d->base_const = true;
            }
        } else if (tok_is(t[i], "*")) {
            d->n_stars++;
        } else if (tok_is(t[i], "[")) {
            while (i < n && !tok_is(t[i], "]")) {
                i++;
            }
            d->n_stars++;
            d->n_brackets++;
        } else if (tok_is(t[i], "(") || tok_is(t[i], ")")) {
            return refuse(err, entry, what, "function pointers cannot be marshalled");
        } else if (tok_is(t[i], ".")) {
            return refuse(err, entry, what, "variadic functions cannot be marshalled");
        } else if (tok_ident(t[i]) && !tok_is(t[i], "__attribute__")) {
            if (d->n_words == sizeof d->words / sizeof d->words[0]) {
                return refuse(err, entry, what, "the type is too long");
            }
            d->words[d->n_words++] = t[i];
        } else {
            return refuse(err, entry, what, "the declaration is not understood");
        }
    }
    if (with_name && d->n_words >= 2) {
        core_str last = d->words[d->n_words - 1];
        core_str before = d->words[d->n_words - 2];
        bool tagged = tok_is(before, "struct") || tok_is(before, "union") || tok_is(before, "enum");
        if (!tok_in(last, type_words) && !tagged) {
            d->name = last;
            d->n_words--;
        }
    }
    if (d->n_words == 0) {
        return refuse(err, entry, what, "no type");
    }
    return 0;
}

static bool words_are(const decl *d, const char *w)
{
    return d->n_words == 1 && tok_is(d->words[0], w);
}

static bool is_integer(const decl *d)
{
    if (d->n_stars != 0 || d->n_words == 0) {
        return false;
    }
    if (d->n_words == 1 && tok_in(d->words[0], int_typedefs)) {
        return true;
    }
    for (size_t i = 0; i < d->n_words; i++) {
        if (!tok_in(d->words[i], int_words)) {
            return false;
        }
    }
    return true;
}

/* What crossing a value of a named type needs: its string members (char * members, sent after
 * the value's bytes), or a refusal. */
typedef struct tinfo {
    core_str strs[SBX__CSTRS_MAX]; /* names of the char * members */
    size_t n_strs;
    const char *why; /* a refusal, or NULL */
} tinfo;

static void type_info(tinfo *ti, const toks *t, const decl *d, int depth);

/* Reads the members of a struct body starting at t->v[body] (after its '{'). */
static void body_info(tinfo *ti, const toks *t, size_t body, int depth)
{
    size_t start = body;
    size_t nest = 0;
    for (size_t k = body; k < t->n && ti->why == NULL; k++) {
        core_str v = t->v[k];
        if (tok_is(v, "{")) {
            nest++;
            continue;
        }
        if (tok_is(v, "}") && nest == 0) {
            return;
        }
        if (tok_is(v, "}")) {
            nest--;
            continue;
        }
        if (!tok_is(v, ";") || nest > 0) {
            continue;
        }
        /* one member declaration t->v[start..k): the first declarator has the type words */
        bool nested = false;
        for (size_t m = start; m < k; m++) {
            nested |= tok_is(t->v[m], "{");
            if (tok_is(t->v[m], "(")) {
                ti->why = "a struct with function pointer members cannot be marshalled";
            }
        }
        size_t piece = start;
        decl first;
        bool have_first = false;
        for (size_t m = start; m <= k && ti->why == NULL && !nested; m++) {
            if (m < k && !tok_is(t->v[m], ",")) {
                continue;
            }
            decl d;
            if (!have_first) {
                if (parse_decl(&d, t->v + piece, m - piece, true, core_str_c(""), "", NULL) < 0) {
                    ti->why = "a struct member is not understood";
                    break;
                }
                first = d;
                have_first = true;
            } else {
                /* later declarators: pointers, a name and brackets on the first one's type */
                d = first;
                d.n_stars = 0;
                d.n_brackets = 0;
                for (size_t q = piece; q < m; q++) {
                    d.n_stars += tok_is(t->v[q], "*") || tok_is(t->v[q], "[");
                    d.n_brackets += tok_is(t->v[q], "[");
                    d.name = tok_ident(t->v[q]) ? t->v[q] : d.name;
                }
            }
            size_t n_ptr = d.n_stars - d.n_brackets;
            if (n_ptr == 1 && d.n_brackets == 0 && words_are(&d, "char")) {
                if (ti->n_strs == SBX__CSTRS_MAX) {
                    ti->why = "a struct with more than 8 string members cannot be marshalled";
                } else if (d.name.len == 0 || d.name.len >= SBX__CNAME_MAX) {
                    ti->why = "a struct's string member has no usable name";
                } else {
                    ti->strs[ti->n_strs++] = d.name;
                }
            } else if (n_ptr > 0) {
                ti->why = "a type with pointer members other than strings (char *) cannot be "
                          "marshalled";
            } else if (!(d.n_words == 1 && tok_in(d.words[0], type_words))) {
                tinfo inner = {0};
                type_info(&inner, t, &d, depth + 1);
                if (inner.why != NULL || inner.n_strs > 0) {
                    ti->why = "a struct holding a struct with pointer members cannot be marshalled";
                }
            }
            piece = m + 1;
        }
        if (nested) {
            for (size_t m = start; m < k; m++) {
                if (tok_is(t->v[m], "*")) {
                    ti->why = "a nested struct with pointer members cannot be marshalled";
                }
            }
        }
        start = k + 1;
    }
}

/* Fills ti for the type named by d's words (a struct tag, a typedef name), from its definition
 * in t; a name with no definition is taken for a plain value (a scalar typedef). */
static void type_info(tinfo *ti, const toks *t, const decl *d, int depth)
{
    if (depth > 4) {
        ti->why = "types nested too deeply";
        return;
    }
    bool tagged =
        d->n_words == 2 && (tok_is(d->words[0], "struct") || tok_is(d->words[0], "union"));
    if (!tagged && d->n_words != 1) {
        return;
    }
    core_str name = d->words[d->n_words - 1];
    for (size_t i = 0; i + 2 < t->n; i++) {
        core_str v = t->v[i];
        if (tagged && (tok_is(v, "struct") || tok_is(v, "union")) && tok_eq(t->v[i + 1], name) &&
            tok_is(t->v[i + 2], "{")) {
            body_info(ti, t, i + 3, depth);
            return;
        }
        if (tagged || !tok_is(v, "typedef")) {
            continue;
        }
        /* typedef ... NAME ; at depth 0 */
        size_t nest = 0;
        size_t j = i + 1;
        size_t open = 0;
        for (; j < t->n; j++) {
            if (tok_is(t->v[j], "{")) {
                open = nest++ == 0 && open == 0 ? j : open;
            } else if (tok_is(t->v[j], "}")) {
                nest = nest > 0 ? nest - 1 : 0;
            } else if (tok_is(t->v[j], ";") && nest == 0) {
                break;
            }
        }
        if (j >= t->n || j < i + 2 || !tok_eq(t->v[j - 1], name)) {
            continue;
        }
        if (open > 0) {
            body_info(ti, t, open + 1, depth);
            return;
        }
        /* typedef WORDS NAME; with no body: a pointer, or the words' own type */
        decl alias;
        if (parse_decl(&alias, t->v + i + 1, j - i - 1, true, core_str_c(""), "", NULL) < 0 ||
            alias.n_stars > 0) {
            ti->why = "a type with pointer members cannot be marshalled (structs of plain "
                      "values can)";
            return;
        }
        if (!(alias.n_words == 1 && tok_in(alias.words[0], type_words))) {
            type_info(ti, t, &alias, depth + 1);
        }
        return;
    }
}

/* Checks that values of d's base type (d with its pointers removed) can cross: as bytes, plus
 * their string members (copied to p->strs) when by_value. */
static int check_value_type(sbx__cparam *p, const toks *t, const decl *d, bool by_value,
                            core_str entry, const char *what, core_err *err)
{
    if (words_are(d, "void")) {
        return refuse(err, entry, what, "void * cannot be marshalled (its size is unknown)");
    }
    if (d->n_words == 1 && tok_in(d->words[0], type_words)) {
        return 0;
    }
    tinfo ti = {0};
    type_info(&ti, t, d, 0);
    if (ti.why != NULL) {
        return refuse(err, entry, what, ti.why);
    }
    if (ti.n_strs > 0 && !by_value) {
        return refuse(err, entry, what,
                      "pointers to structs with string members cannot be marshalled (struct "
                      "values can)");
    }
    for (size_t i = 0; i < ti.n_strs; i++) {
        snprintf(p->strs[i], sizeof p->strs[i], "%.*s", (int)ti.strs[i].len, ti.strs[i].ptr);
    }
    p->n_strs = ti.n_strs;
    return 0;
}

static int classify(sbx__cparam *p, const decl *d, const toks *t, bool is_result, core_str entry,
                    const char *what, core_err *err)
{
    memset(p, 0, sizeof *p);
    p->len_of = -1;
    p->base_const = d->base_const;
    size_t used = 0;
    for (size_t i = 0; i < d->n_words; i++) {
        int n = snprintf(p->type + used, sizeof p->type - used, "%s%.*s", i ? " " : "",
                         (int)d->words[i].len, d->words[i].ptr);
        if (n < 0 || (size_t)n >= sizeof p->type - used) {
            return refuse(err, entry, what, "the type is too long");
        }
        used += (size_t)n;
    }
    if (d->n_stars > 1) {
        return refuse(err, entry, what, "pointers to pointers cannot be marshalled");
    }
    if (d->n_stars == 0) {
        if (words_are(d, "void")) {
            if (!is_result) {
                return refuse(err, entry, what, "a void parameter");
            }
            p->kind = SBX__CK_VOID;
            return 0;
        }
        if (words_are(d, "bool") || words_are(d, "_Bool")) {
            p->kind = SBX__CK_BOOL;
            return 0;
        }
        p->kind = SBX__CK_VALUE;
        return check_value_type(p, t, d, true, entry, what, err);
    }
    if (words_are(d, "char")) {
        p->kind = SBX__CK_STR;
        return 0;
    }
    if (is_result) {
        return refuse(err, entry, what,
                      "a returned pointer other than a string cannot be marshalled (its length "
                      "is unknown)");
    }
    decl base = *d;
    base.n_stars = 0;
    p->kind = SBX__CK_REF;
    if (words_are(&base, "bool") || words_are(&base, "_Bool")) {
        snprintf(p->type, sizeof p->type, "_Bool");
    }
    return check_value_type(p, t, &base, false, entry, what, err);
}

int sbx__cproto_parse(sbx__cproto *out, core_str tests, core_str entry, core_err *err)
{
    int rc = 0;
    toks t = {0};
    memset(out, 0, sizeof *out);
    rc = tokenize(&t, tests);
    if (rc < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "c entry: out of memory");
        goto done;
    }
    size_t at = 0;
    size_t close = 0;
    for (size_t i = 1; i + 1 < t.n && at == 0; i++) {
        if (t.v[i].len != entry.len || memcmp(t.v[i].ptr, entry.ptr, entry.len) != 0 ||
            !tok_is(t.v[i + 1], "(")) {
            continue;
        }
        core_str prev = t.v[i - 1];
        if (!(tok_is(prev, "*") || (tok_ident(prev) && !tok_in(prev, not_decl)))) {
            continue;
        }
        size_t depth = 0;
        size_t j = i + 1;
        for (; j < t.n; j++) {
            if (tok_is(t.v[j], "(")) {
                depth++;
            } else if (tok_is(t.v[j], ")") && --depth == 0) {
                break;
            }
        }
        if (j + 1 < t.n && (tok_is(t.v[j + 1], ";") || tok_is(t.v[j + 1], "{") ||
                            tok_is(t.v[j + 1], "__attribute__"))) {
            at = i;
            close = j;
        }
    }
    if (at == 0) {
        rc = core_err_set(err, CORE_EPARSE, "tests: no prototype of the entry function %.*s",
                          (int)entry.len, entry.ptr);
        goto done;
    }
    /* the result: the specifier words and stars before the name */
    size_t first = at;
    while (first > 0 && (tok_is(t.v[first - 1], "*") ||
                         (tok_ident(t.v[first - 1]) && !tok_in(t.v[first - 1], not_decl) &&
                          !tok_is(t.v[first - 1], "typedef")))) {
        first--;
    }
    decl d;
    rc = parse_decl(&d, t.v + first, at - first, false, entry, "the result", err);
    if (rc == 0) {
        rc = classify(&out->ret, &d, &t, true, entry, "the result", err);
    }
    if (rc < 0) {
        goto done;
    }
    /* the parameters, split at top-level commas */
    size_t start = at + 2;
    for (size_t j = at + 2; j <= close && rc == 0; j++) {
        bool end = j == close;
        if (!end && !tok_is(t.v[j], ",")) {
            if (tok_is(t.v[j], "(")) {
                rc = refuse(err, entry, "a parameter", "function pointers cannot be marshalled");
            }
            continue;
        }
        size_t n = j - start;
        bool only_void = n == 1 && tok_is(t.v[start], "void") && out->n_params == 0 && end;
        if (!(n == 0 && end && out->n_params == 0) && !only_void) {
            char what[48];
            snprintf(what, sizeof what, "parameter %zu", out->n_params + 1);
            if (out->n_params == SBX__CPARAMS_MAX) {
                rc = refuse(err, entry, what, "too many parameters");
                break;
            }
            rc = parse_decl(&d, t.v + start, n, true, entry, what, err);
            if (rc == 0) {
                rc = classify(&out->params[out->n_params], &d, &t, false, entry, what, err);
            }
            if (rc == 0) {
                out->params[out->n_params].is_len = is_integer(&d);
                out->n_params++;
            }
        }
        start = j + 1;
    }
    if (rc < 0) {
        goto done;
    }
    /* arrays: a pointer with an integer parameter right after it */
    for (size_t i = 0; i + 1 < out->n_params; i++) {
        sbx__cparam *p = &out->params[i];
        if (!out->params[i + 1].is_len) {
            continue;
        }
        if (p->kind == SBX__CK_REF || (p->kind == SBX__CK_STR && !p->base_const)) {
            /* a non-const char * with a length is a buffer of that many chars */
            p->kind = SBX__CK_ARRAY;
            p->len_of = (int)(i + 1);
        }
    }
done:
    core_free(t.v);
    return rc;
}

/* ---- The two halves ---- */

/* What both halves declare from the runtime (sandbox/cstub/rt.c); no header is included, so
 * the stub depends on nothing the translation unit it is appended to may have redefined. */
static const char rt_decls[] =
    "\n#line 1 \"kiln-stub\"\n"
    "typedef struct kiln_msg { unsigned char *p; unsigned long len, cap, pos; int bad; "
    "const char *entry; } kiln_msg;\n"
    "void kiln_put(kiln_msg *m, const void *src, unsigned long n);\n"
    "void kiln_get(kiln_msg *m, void *dst, unsigned long n);\n"
    "void kiln_put_bool(kiln_msg *m, int b);\n"
    "int kiln_get_bool(kiln_msg *m);\n"
    "void kiln_put_str(kiln_msg *m, const char *s);\n"
    "char *kiln_get_str(kiln_msg *m);\n"
    "unsigned long kiln_strsize(const char *s);\n"
    "void kiln_put_arr(kiln_msg *m, const void *p, unsigned long elem, long long n);\n"
    "void *kiln_get_arr(kiln_msg *m, unsigned long elem, unsigned long *n);\n"
    "void kiln_put_back(kiln_msg *m, const void *p, unsigned long n);\n"
    "void kiln_get_back(kiln_msg *m, void *p, unsigned long n);\n"
    "void kiln_call(kiln_msg *q, kiln_msg *r);\n"
    "void kiln_end(kiln_msg *q, kiln_msg *r);\n"
    "void kiln_free(void *p);\n";

static int spell(core_buf *b, const sbx__cparam *p, const char *name)
{
    bool ptr = p->kind == SBX__CK_STR || p->kind == SBX__CK_ARRAY || p->kind == SBX__CK_REF;
    const char *type = p->kind == SBX__CK_BOOL ? "_Bool" : p->type;
    return core_buf_appendf(b, "%s%s %s%s", p->base_const ? "const " : "", type, ptr ? "*" : "",
                            name);
}

int sbx__cstub_tests(core_buf *out, const sbx__cproto *proto, core_str entry)
{
    core_buf *b = out;
    int rc = core_buf_append(b, rt_decls, sizeof rt_decls - 1);
    rc = rc ? rc : spell(b, &proto->ret, "");
    rc = rc ? rc : core_buf_appendf(b, "%.*s(", (int)entry.len, entry.ptr);
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "a%zu", i);
        rc = i ? core_buf_append(b, ", ", 2) : 0;
        rc = rc ? rc : spell(b, &proto->params[i], name);
    }
    rc = rc ? rc
            : core_buf_appendf(b, "%s)\n{\n    kiln_msg q = {0}, r = {0};\n",
                               proto->n_params ? "" : "void");
    rc = rc ? rc
            : core_buf_appendf(b, "    q.entry = r.entry = \"%.*s\";\n", (int)entry.len, entry.ptr);
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        const sbx__cparam *p = &proto->params[i];
        switch (p->kind) {
        case SBX__CK_VALUE:
            rc = core_buf_appendf(b, "    kiln_put(&q, &a%zu, sizeof a%zu);\n", i, i);
            for (size_t k = 0; k < p->n_strs && rc == 0; k++) {
                rc = core_buf_appendf(b, "    kiln_put_str(&q, a%zu.%s);\n", i, p->strs[k]);
            }
            break;
        case SBX__CK_BOOL:
            rc = core_buf_appendf(b, "    kiln_put_bool(&q, a%zu);\n", i);
            break;
        case SBX__CK_STR:
            rc = core_buf_appendf(b,
                                  "    unsigned long n%zu = kiln_strsize(a%zu);\n"
                                  "    kiln_put_str(&q, a%zu);\n",
                                  i, i, i);
            break;
        case SBX__CK_ARRAY:
            rc = core_buf_appendf(b,
                                  "    long long n%zu = (long long)a%d;\n"
                                  "    if (n%zu < 0) {\n        n%zu = 0;\n    }\n"
                                  "    kiln_put_arr(&q, a%zu, sizeof *a%zu, n%zu);\n",
                                  i, p->len_of, i, i, i, i, i);
            break;
        case SBX__CK_REF:
            rc = core_buf_appendf(b, "    kiln_put_arr(&q, a%zu, sizeof *a%zu, 1);\n", i, i);
            break;
        case SBX__CK_VOID:
            break;
        }
    }
    rc = rc ? rc : core_buf_appendf(b, "    kiln_call(&q, &r);\n");
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        const sbx__cparam *p = &proto->params[i];
        if (p->base_const) {
            continue;
        }
        if (p->kind == SBX__CK_STR) {
            rc = core_buf_appendf(b, "    kiln_get_back(&r, a%zu, n%zu);\n", i, i);
        } else if (p->kind == SBX__CK_ARRAY) {
            rc = core_buf_appendf(
                b, "    kiln_get_back(&r, a%zu, (unsigned long)n%zu * sizeof *a%zu);\n", i, i, i);
        } else if (p->kind == SBX__CK_REF) {
            rc = core_buf_appendf(b, "    kiln_get_back(&r, a%zu, sizeof *a%zu);\n", i, i);
        }
    }
    switch (proto->ret.kind) {
    case SBX__CK_VOID:
        rc = rc ? rc : core_buf_appendf(b, "    kiln_end(&q, &r);\n}\n");
        break;
    case SBX__CK_BOOL:
        rc = rc ? rc : core_buf_appendf(b, "    _Bool v = kiln_get_bool(&r);\n");
        rc = rc ? rc : core_buf_appendf(b, "    kiln_end(&q, &r);\n    return v;\n}\n");
        break;
    case SBX__CK_STR:
        rc = rc ? rc : core_buf_appendf(b, "    char *v = kiln_get_str(&r);\n");
        rc = rc ? rc : core_buf_appendf(b, "    kiln_end(&q, &r);\n    return v;\n}\n");
        break;
    default:
        rc = rc ? rc
                : core_buf_appendf(b, "    %s v;\n    kiln_get(&r, &v, sizeof v);\n",
                                   proto->ret.type);
        for (size_t k = 0; k < proto->ret.n_strs && rc == 0; k++) {
            rc = core_buf_appendf(b, "    v.%s = kiln_get_str(&r);\n", proto->ret.strs[k]);
        }
        rc = rc ? rc : core_buf_appendf(b, "    kiln_end(&q, &r);\n    return v;\n}\n");
        break;
    }
    return rc < 0 ? CORE_ENOMEM : 0;
}

int sbx__cstub_cand(core_buf *out, const sbx__cproto *proto, core_str entry)
{
    core_buf *b = out;
    int rc = core_buf_append(b, rt_decls, sizeof rt_decls - 1);
    rc = rc ? rc
            : core_buf_appendf(b, "int kiln_dispatch(kiln_msg *q, kiln_msg *r);\n"
                                  "int kiln_dispatch(kiln_msg *q, kiln_msg *r)\n{\n");
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        const sbx__cparam *p = &proto->params[i];
        switch (p->kind) {
        case SBX__CK_VALUE:
            rc = core_buf_appendf(b, "    %s a%zu;\n    kiln_get(q, &a%zu, sizeof a%zu);\n",
                                  p->type, i, i, i);
            for (size_t k = 0; k < p->n_strs && rc == 0; k++) {
                rc = core_buf_appendf(b, "    a%zu.%s = kiln_get_str(q);\n", i, p->strs[k]);
            }
            break;
        case SBX__CK_BOOL:
            rc = core_buf_appendf(b, "    _Bool a%zu = kiln_get_bool(q);\n", i);
            break;
        case SBX__CK_STR:
            rc = core_buf_appendf(b,
                                  "    char *a%zu = kiln_get_str(q);\n"
                                  "    unsigned long n%zu = kiln_strsize(a%zu);\n",
                                  i, i, i);
            break;
        case SBX__CK_ARRAY:
        case SBX__CK_REF:
            rc = core_buf_appendf(b,
                                  "    unsigned long n%zu = 0;\n"
                                  "    %s *a%zu = kiln_get_arr(q, sizeof *a%zu, &n%zu);\n",
                                  i, p->type, i, i, i);
            break;
        case SBX__CK_VOID:
            break;
        }
    }
    rc = rc ? rc
            : core_buf_appendf(b, "    if (q->bad || q->pos != q->len) {\n        return -1;\n"
                                  "    }\n    ");
    if (proto->ret.kind == SBX__CK_STR) {
        rc = rc ? rc : core_buf_appendf(b, "const char *v = ");
    } else if (proto->ret.kind == SBX__CK_BOOL) {
        rc = rc ? rc : core_buf_appendf(b, "_Bool v = ");
    } else if (proto->ret.kind == SBX__CK_VALUE) {
        rc = rc ? rc : core_buf_appendf(b, "%s v = ", proto->ret.type);
    }
    rc = rc ? rc : core_buf_appendf(b, "%.*s(", (int)entry.len, entry.ptr);
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        rc = core_buf_appendf(b, "%sa%zu", i ? ", " : "", i);
    }
    rc = rc ? rc : core_buf_appendf(b, ");\n");
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        const sbx__cparam *p = &proto->params[i];
        if (p->base_const || p->kind == SBX__CK_VALUE || p->kind == SBX__CK_BOOL) {
            continue;
        }
        if (p->kind == SBX__CK_STR) {
            rc = core_buf_appendf(b, "    kiln_put_back(r, a%zu, n%zu);\n", i, i);
        } else {
            rc = core_buf_appendf(b, "    kiln_put_back(r, a%zu, n%zu * sizeof *a%zu);\n", i, i, i);
        }
    }
    switch (proto->ret.kind) {
    case SBX__CK_STR:
        rc = rc ? rc : core_buf_appendf(b, "    kiln_put_str(r, v);\n");
        break;
    case SBX__CK_BOOL:
        rc = rc ? rc : core_buf_appendf(b, "    kiln_put_bool(r, v);\n");
        break;
    case SBX__CK_VALUE:
        rc = rc ? rc : core_buf_appendf(b, "    kiln_put(r, &v, sizeof v);\n");
        for (size_t k = 0; k < proto->ret.n_strs && rc == 0; k++) {
            rc = core_buf_appendf(b, "    kiln_put_str(r, v.%s);\n", proto->ret.strs[k]);
        }
        break;
    default:
        break;
    }
    for (size_t i = 0; i < proto->n_params && rc == 0; i++) {
        const sbx__cparam *p = &proto->params[i];
        if (p->kind == SBX__CK_STR || p->kind == SBX__CK_ARRAY || p->kind == SBX__CK_REF) {
            rc = core_buf_appendf(b, "    kiln_free((void *)a%zu);\n", i);
        }
        for (size_t k = 0; k < p->n_strs && rc == 0; k++) {
            rc = core_buf_appendf(b, "    kiln_free((void *)a%zu.%s);\n", i, p->strs[k]);
        }
    }
    rc = rc ? rc : core_buf_appendf(b, "    return 0;\n}\n");
    return rc < 0 ? CORE_ENOMEM : 0;
}
