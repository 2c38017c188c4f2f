/*
 * Completion at a cursor: what `kiln complete`, the language server and the HTTP service offer
 * while someone types. The prompt is the text before the cursor (a window of it that starts at
 * a line boundary and moves in quarter-window steps), or, when the vocabulary has
 * fill-in-the-middle tokens, prefix and suffix in the PSM order those models were trained on
 * (<PRE> prefix <SUF> suffix <MID>). A session keeps one document's prompt tokens in sequence 0
 * of its context, so that after an edit only the tokens after the longest common prefix with
 * the cached ones are decoded again (the scheme of llama.cpp's server slots). Candidate 0
 * decodes greedily in sequence 0, the others sample in copies of it; every candidate has a
 * grammar checker that starts from the whole prefix and knows the suffix, so what is offered
 * keeps prefix + completion a viable program and `parses` says whether the whole file parses
 * with it. Candidates stop at the end of their scope (line, statement, block, function), found
 * by a small scanner that skips strings and comments.
 */
#include "solve/solve_int.h"

#include <math.h>
#include <string.h>

#include "grammar/gram.h"

solve_complete_options solve_complete_options_default(void)
{
    solve_complete_options o;
    memset(&o, 0, sizeof(o));
    o.lang = SOLVE_LANG_PYTHON;
    o.scope = SOLVE_SCOPE_LINE;
    o.n_tokens_max = 48;
    o.n_candidates = 1;
    o.grammar = true;
    o.temp = 0.7f;
    o.seed = 1;
    o.n_prefix_bytes_max = 3072;
    o.n_suffix_bytes_max = 1024;
    return o;
}

solve_session_options solve_session_options_default(void)
{
    solve_session_options o = {1536, 3, 1};
    return o;
}

static const char *const scope_names[] = {"line", "statement", "block", "function"};

const char *solve_scope_name(solve_scope scope)
{
    return (size_t)scope < 4 ? scope_names[scope] : "?";
}

bool solve_scope_parse(solve_scope *out, const char *name)
{
    for (size_t i = 0; i < 4; i++) {
        if (name && strcmp(name, scope_names[i]) == 0) {
            *out = (solve_scope)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Where a completion ends                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* A scanner over code that knows whether a byte is inside a string or a comment. */
typedef struct scan {
    solve_lang lang;
    char quote;         /* the open string's quote, 0 outside strings */
    bool triple;        /* Python: the open string is triple-quoted */
    bool escape;        /* the previous byte was a backslash inside a string */
    bool line_comment;  /* inside a # or // comment */
    bool block_comment; /* inside a C comment */
} scan;

/* Feeds text[i] and returns true when it is code (outside strings and comments). May skip
   bytes of a triple quote by advancing *i. */
static bool scan_code(scan *s, core_str text, size_t *i)
{
    char ch = text.ptr[*i];
    size_t rest = text.len - *i;
    if (s->line_comment) {
        if (ch == '\n') {
            s->line_comment = false;
            return true;
        }
        return false;
    }
    if (s->block_comment) {
        if (ch == '*' && rest >= 2 && text.ptr[*i + 1] == '/') {
            s->block_comment = false;
            (*i)++;
        }
        return false;
    }
    if (s->quote) {
        if (s->escape) {
            s->escape = false;
        } else if (ch == '\\') {
            s->escape = true;
        } else if (ch == s->quote) {
            if (!s->triple) {
                s->quote = 0;
            } else if (rest >= 3 && text.ptr[*i + 1] == ch && text.ptr[*i + 2] == ch) {
                s->quote = 0;
                *i += 2;
            }
        } else if (ch == '\n' && !s->triple) {
            s->quote = 0; /* an unterminated one-line string ends with its line */
            return true;
        }
        return false;
    }
    if (s->lang == SOLVE_LANG_PYTHON && ch == '#') {
        s->line_comment = true;
        return false;
    }
    if (s->lang == SOLVE_LANG_C && ch == '/' && rest >= 2 &&
        (text.ptr[*i + 1] == '/' || text.ptr[*i + 1] == '*')) {
        s->line_comment = text.ptr[*i + 1] == '/';
        s->block_comment = !s->line_comment;
        (*i)++;
        return false;
    }
    if (ch == '"' || ch == '\'') {
        s->quote = ch;
        s->triple = s->lang == SOLVE_LANG_PYTHON && rest >= 3 && text.ptr[*i + 1] == ch &&
                    text.ptr[*i + 2] == ch;
        if (s->triple) {
            *i += 2;
        }
        return false;
    }
    return true;
}

size_t solve_complete_depth(solve_lang lang, core_str text)
{
    scan s = {lang, 0, false, false, false, false};
    size_t depth = 0;
    for (size_t i = 0; i < text.len; i++) {
        if (!scan_code(&s, text, &i)) {
            continue;
        }
        if (text.ptr[i] == '{') {
            depth++;
        } else if (text.ptr[i] == '}' && depth > 0) {
            depth--;
        }
    }
    return depth;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Length of text without its trailing blanks and newlines. */
static size_t trim_end(core_str text, size_t end)
{
    while (end > 0 && (is_blank(text.ptr[end - 1]) || text.ptr[end - 1] == '\n')) {
        end--;
    }
    return end;
}

/* Indentation (columns, a tab counting as one) of line, and whether it has code. */
static size_t line_indent(core_str line, bool *has_code)
{
    size_t n = 0;
    while (n < line.len && (line.ptr[n] == ' ' || line.ptr[n] == '\t')) {
        n++;
    }
    *has_code = n < line.len && line.ptr[n] != '\n' && line.ptr[n] != '\r';
    return n;
}

/* Python: the scope's end, looking at each new line's indentation. */
static bool end_python(solve_scope scope, core_str line, core_str text, size_t *end)
{
    scan s = {SOLVE_LANG_PYTHON, 0, false, false, false, false};
    bool line_code = false;
    size_t cursor_indent = line_indent(line, &line_code);
    char last = 0; /* the last code byte of the current line */
    for (size_t k = line.len; k > 0; k--) {
        if (!is_blank(line.ptr[k - 1])) {
            last = line.ptr[k - 1];
            break;
        }
    }
    long brackets = 0;
    bool content = false;    /* a non-blank byte was generated */
    long header_indent = -1; /* STATEMENT: the indentation of a compound statement's header */
    long line_start_indent = (long)cursor_indent;
    for (size_t i = 0; i < text.len; i++) {
        char ch = text.ptr[i];
        bool code = scan_code(&s, text, &i);
        if (ch == '\n' && !s.quote) {
            bool first_line_had_code = content || line_code;
            if (scope == SOLVE_SCOPE_LINE && first_line_had_code) {
                *end = trim_end(text, i);
                return true;
            }
            if (scope == SOLVE_SCOPE_STATEMENT && brackets <= 0 && last != '\\' && content) {
                if (last == ':' && header_indent < 0) {
                    header_indent = line_start_indent;
                } else if (header_indent < 0) {
                    *end = trim_end(text, i);
                    return true;
                }
            }
            /* Look at the next line once its indentation is known. */
            size_t j = i + 1;
            while (j < text.len && (text.ptr[j] == ' ' || text.ptr[j] == '\t')) {
                j++;
            }
            if (j >= text.len) {
                return false; /* the indentation may still grow */
            }
            if (text.ptr[j] == '\n' || text.ptr[j] == '\r' || text.ptr[j] == '#') {
                last = 0;
                continue;
            }
            long indent = (long)(j - i - 1);
            bool stop = false;
            if (brackets <= 0 && (content || line_code)) {
                if (scope == SOLVE_SCOPE_STATEMENT) {
                    stop = header_indent >= 0 && indent <= header_indent;
                } else if (scope == SOLVE_SCOPE_BLOCK) {
                    stop = indent < (long)(cursor_indent > 0 ? cursor_indent : 1);
                } else if (scope == SOLVE_SCOPE_FUNCTION) {
                    stop = indent == 0;
                }
            }
            if (stop) {
                *end = trim_end(text, i);
                return true;
            }
            line_start_indent = indent;
            last = 0;
            continue;
        }
        if (!is_blank(ch) && ch != '\n') {
            content = true;
        }
        if (!code) {
            continue;
        }
        if (ch == '(' || ch == '[' || ch == '{') {
            brackets++;
        } else if (ch == ')' || ch == ']' || ch == '}') {
            brackets--;
        }
        if (!is_blank(ch) && ch != '\n') {
            last = ch;
        }
    }
    return false;
}

/* C: the scope's end, from braces, parentheses and semicolons. */
static bool end_c(solve_scope scope, core_str line, size_t depth, core_str text, size_t *end)
{
    scan s = {SOLVE_LANG_C, 0, false, false, false, false};
    bool line_code = false;
    (void)line_indent(line, &line_code);
    long parens = 0;
    long braces = 0; /* relative to the cursor */
    bool opened = false;
    bool content = false;
    for (size_t i = 0; i < text.len; i++) {
        char ch = text.ptr[i];
        bool code = scan_code(&s, text, &i);
        if (ch == '\n' && scope == SOLVE_SCOPE_LINE && (content || line_code)) {
            *end = trim_end(text, i);
            return true;
        }
        if (!is_blank(ch) && ch != '\n') {
            content = true;
        }
        if (!code) {
            continue;
        }
        if (ch == '(' || ch == '[') {
            parens++;
        } else if (ch == ')' || ch == ']') {
            parens--;
        } else if (ch == '{') {
            braces++;
            opened = true;
        } else if (ch == '}') {
            braces--;
            if (braces < 0 && (long)depth + braces < 0) {
                *end = trim_end(text, i); /* a brace the document does not have open */
                return true;
            }
            if (braces < 0 && scope != SOLVE_SCOPE_FUNCTION) {
                *end = trim_end(text, i); /* the enclosing block's brace: not ours */
                return true;
            }
            if (scope == SOLVE_SCOPE_STATEMENT && braces == 0 && opened) {
                *end = i + 1;
                return true;
            }
            if (scope == SOLVE_SCOPE_FUNCTION && (long)depth + braces == 0) {
                *end = i + 1;
                return true;
            }
        } else if (ch == ';' && parens <= 0) {
            if (scope == SOLVE_SCOPE_STATEMENT && braces == 0) {
                *end = i + 1;
                return true;
            }
            if (scope == SOLVE_SCOPE_FUNCTION && (long)depth + braces == 0) {
                *end = i + 1;
                return true;
            }
        }
    }
    return false;
}

bool solve_complete_end(solve_lang lang, solve_scope scope, core_str line, size_t depth,
                        core_str text, size_t *end)
{
    bool done = lang == SOLVE_LANG_C ? end_c(scope, line, depth, text, end)
                                     : end_python(scope, line, text, end);
    if (!done) {
        *end = text.len;
    }
    return done;
}

/* ------------------------------------------------------------------------------------------ */
/* Completer and sessions                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct solve_completer {
    const gen_model *model; /* borrowed */
    core_str *pieces;       /* (n_vocab) owned array; the bytes are the model's */
    bool *is_eog;           /* (n_vocab) owned */
    gram_vocab vocab;       /* pieces + is_eog for the constraint */
    gram_lang *langs[2];    /* owned, by solve_lang; NULL when not compiled in */
    int32_t fim[3];         /* prefix, suffix, middle tokens; -1 when the vocabulary lacks them */
    size_t n_vocab;
    const solve_backend *backend; /* borrowed; NULL: the local model writes */
    gen_queue *queue;             /* borrowed; NULL: each session decodes in its own context */
};

struct solve_session {
    const solve_completer *c; /* borrowed */
    gen_ctx *ctx;             /* owned; sequence 0 holds cached[0..n_cached); NULL with a
                                 backend or a queue (whose prefix cache then keeps the prompt) */
    int32_t *cached;          /* (n_ctx) owned */
    size_t n_cached;
    float *scratch; /* (n_vocab) owned: logits the sampler may change */
    size_t n_ctx;
    size_t n_candidates_max;
};

/* Finds a token whose piece (special pieces rendered) is exactly text; -1 when none. */
static int32_t find_token(const gen_model *model, size_t n_vocab, const char *text)
{
    core_str want = core_str_c(text);
    for (size_t t = 0; t < n_vocab; t++) {
        if (core_str_eq(gen_model_token_piece(model, (int32_t)t, true), want)) {
            return (int32_t)t;
        }
    }
    return -1;
}

static void find_fim(solve_completer *c)
{
    static const char *const styles[][3] = {
        {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},          /* Qwen2.5-Coder */
        {"<fim_prefix>", "<fim_suffix>", "<fim_middle>"},                /* StarCoder, StarCoder2 */
        {"\xe2\x96\x81<PRE>", "\xe2\x96\x81<SUF>", "\xe2\x96\x81<MID>"}, /* CodeLlama */
        {" <PRE>", " <SUF>", " <MID>"},
    };
    for (size_t s = 0; s < sizeof(styles) / sizeof(styles[0]); s++) {
        int32_t ids[3];
        bool all = true;
        for (size_t k = 0; k < 3 && all; k++) {
            ids[k] = find_token(c->model, c->n_vocab, styles[s][k]);
            all = ids[k] >= 0;
        }
        if (all) {
            memcpy(c->fim, ids, sizeof(ids));
            return;
        }
    }
}

int solve_completer_new(solve_completer **out, const gen_model *model, core_err *err)
{
    int rc = 0;
    *out = NULL;
    solve_completer *c = core_calloc(1, sizeof(*c));
    if (!c) {
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    c->model = model;
    c->n_vocab = gen_model_n_vocab(model);
    c->fim[0] = c->fim[1] = c->fim[2] = -1;
    c->pieces = core_calloc(c->n_vocab, sizeof(*c->pieces));
    c->is_eog = core_calloc(c->n_vocab, sizeof(*c->is_eog));
    if (!c->pieces || !c->is_eog) {
        rc = core_err_set(err, CORE_ENOMEM, "complete: out of memory for the vocabulary");
        goto done;
    }
    for (size_t t = 0; t < c->n_vocab; t++) {
        c->pieces[t] = gen_model_token_piece(model, (int32_t)t, false);
        c->is_eog[t] = gen_model_token_is_eog(model, (int32_t)t);
    }
    c->vocab = (gram_vocab){c->pieces, c->is_eog, c->n_vocab};
    find_fim(c);
    for (size_t i = 0; i < 2; i++) {
        int lrc = gram_lang_load(&c->langs[i], i == 0 ? "python" : "c", err);
        if (lrc == CORE_ENOMEM) {
            rc = lrc;
            goto done;
        }
        core_err_clear(err); /* a grammar that is not compiled in turns the constraint off */
    }
    *out = c;
    c = NULL;
done:
    solve_completer_free(c);
    return rc;
}

void solve_completer_free(solve_completer *completer)
{
    if (!completer) {
        return;
    }
    gram_lang_free(completer->langs[0]);
    gram_lang_free(completer->langs[1]);
    core_free(completer->pieces);
    core_free(completer->is_eog);
    core_free(completer);
}

bool solve_completer_has_fim(const solve_completer *completer)
{
    return completer->fim[0] >= 0;
}

bool solve_completer_fim_tokens(const solve_completer *completer, int32_t ids[3])
{
    if (completer->fim[0] < 0) {
        return false;
    }
    memcpy(ids, completer->fim, sizeof(completer->fim));
    return true;
}

void solve_completer_set_backend(solve_completer *completer, const solve_backend *backend)
{
    completer->backend = backend;
}

void solve_completer_set_queue(solve_completer *completer, gen_queue *queue)
{
    completer->queue = queue;
}

const gen_model *solve__completer_model(const solve_completer *completer)
{
    return completer ? completer->model : NULL;
}

const gram_lang *solve__completer_lang(const solve_completer *completer, solve_lang lang)
{
    return completer && (size_t)lang < 2 ? completer->langs[lang] : NULL;
}

int solve_session_new(solve_session **out, const solve_completer *completer,
                      const solve_session_options *opts, core_err *err)
{
    int rc = 0;
    solve_session_options o = opts ? *opts : solve_session_options_default();
    *out = NULL;
    if (o.n_candidates_max == 0 || o.n_candidates_max > SOLVE_N_MAX || o.n_ctx < 64) {
        return core_err_set(err, CORE_EINVAL,
                            "complete: session needs 1..%d candidates and 64 positions or more",
                            SOLVE_N_MAX);
    }
    solve_session *s = core_calloc(1, sizeof(*s));
    if (!s) {
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory for the session");
    }
    s->c = completer;
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = o.n_ctx;
    size_t n_train = gen_model_n_ctx_train(completer->model);
    if (n_train > 0 && co.n_ctx > n_train) {
        co.n_ctx = n_train;
    }
    co.n_seq_max = o.n_candidates_max;
    co.n_outputs_max = o.n_candidates_max;
    co.n_batch_max = 64; /* short passes: a cancel is seen within one of them */
    co.n_threads = o.n_threads ? o.n_threads : 1;
    if (completer->queue && !completer->backend) {
        /* The queue's requests hold at most its positions. */
        const size_t n_queue = gen_queue_options_get(completer->queue).n_ctx;
        co.n_ctx = co.n_ctx < n_queue ? co.n_ctx : n_queue;
    }
    s->n_ctx = co.n_ctx;
    s->n_candidates_max = o.n_candidates_max;
    /* With a remote backend the model here is only a vocabulary, and a queue decodes in its
       own context: no context. */
    rc = completer->backend || completer->queue ? 0
                                                : gen_ctx_new(&s->ctx, completer->model, &co, err);
    if (rc < 0) {
        goto done;
    }
    s->cached = core_malloc(s->n_ctx * sizeof(*s->cached));
    s->scratch = core_malloc(completer->n_vocab * sizeof(*s->scratch));
    if (!s->cached || !s->scratch) {
        rc = core_err_set(err, CORE_ENOMEM, "complete: out of memory for the session");
        goto done;
    }
    *out = s;
    s = NULL;
done:
    solve_session_free(s);
    return rc;
}

void solve_session_free(solve_session *session)
{
    if (!session) {
        return;
    }
    gen_ctx_free(session->ctx);
    core_free(session->cached);
    core_free(session->scratch);
    core_free(session);
}

size_t solve_session_n_cached(const solve_session *session)
{
    return session->n_cached;
}

void solve_completions_free(solve_completions *completions)
{
    if (!completions) {
        return;
    }
    for (size_t i = 0; i < completions->n_items; i++) {
        core_free(completions->items[i].text);
    }
    core_free(completions->items);
    core_free(completions);
}

/* ------------------------------------------------------------------------------------------ */
/* The prompt                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Where the prefix's window starts: a line start at most max bytes before the end, chosen
   from quarter-window steps so that typing does not move it. */
static size_t window_start(core_str prefix, size_t max)
{
    if (prefix.len <= max || max < 4) {
        return 0;
    }
    size_t step = max / 4;
    size_t start = ((prefix.len - max) / step + 1) * step;
    while (start < prefix.len && prefix.ptr[start - 1] != '\n') {
        start++;
    }
    return start;
}

typedef struct prompt {
    int32_t *ids; /* (n), owned */
    size_t n;
    size_t cap;
} prompt;

static int prompt_add(prompt *p, const int32_t *ids, size_t n, core_err *err)
{
    if (n == 0) {
        return 0;
    }
    if (p->n + n > p->cap) {
        size_t cap = (p->n + n) * 2 + 16;
        int32_t *grown = core_realloc(p->ids, cap * sizeof(*grown));
        if (!grown) {
            return core_err_set(err, CORE_ENOMEM, "complete: out of memory for the prompt");
        }
        p->ids = grown;
        p->cap = cap;
    }
    memcpy(p->ids + p->n, ids, n * sizeof(*ids));
    p->n += n;
    return 0;
}

static int prompt_add_text(prompt *p, const gen_model *model, core_str text, bool add_special,
                           size_t drop_front_max, core_err *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = gen_model_tokenize(model, text, add_special, false, &ids, &n, err);
    if (rc == 0) {
        size_t drop = n > drop_front_max ? n - drop_front_max : 0;
        rc = prompt_add(p, ids + drop, n - drop, err);
    }
    core_free(ids);
    return rc;
}

/* The repository context, at most half the room (its first tokens: it is written most
   important first). */
static int prompt_add_context(prompt *p, const gen_model *model, core_str context, size_t room,
                              core_err *err)
{
    if (context.len == 0) {
        return 0;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = gen_model_tokenize(model, context, false, false, &ids, &n, err);
    if (rc == 0) {
        rc = prompt_add(p, ids, n < room / 2 ? n : room / 2, err);
    }
    core_free(ids);
    return rc;
}

/* Builds the prompt tokens for the window of the document, within room tokens. */
static int prompt_build(prompt *p, const solve_session *s, core_str prefix, core_str suffix,
                        const solve_complete_options *o, size_t room, bool *fim, core_err *err)
{
    const solve_completer *c = s->c;
    size_t start = window_start(prefix, o->n_prefix_bytes_max);
    core_str pre = {prefix.ptr + start, prefix.len - start};
    *fim = solve_completer_has_fim(c);
    int rc = 0;
    if (!*fim) {
        int32_t bos = gen_model_token_bos(c->model);
        if (bos >= 0) {
            rc = prompt_add(p, &bos, 1, err);
        }
        if (rc == 0) {
            rc = prompt_add_context(p, c->model, o->context, room, err);
        }
        if (rc == 0) {
            rc = prompt_add_text(p, c->model, pre, false, room > p->n ? room - p->n : 0, err);
        }
        if (rc == 0 && p->n == 0) {
            /* Nothing before the cursor: start from an end-of-text token. */
            int32_t eos = gen_model_token_eos(c->model);
            if (eos >= 0) {
                rc = prompt_add(p, &eos, 1, err);
            }
        }
        return rc;
    }
    /* PSM: <PRE> prefix <SUF> suffix <MID>; the suffix gets at most a quarter of the room. */
    size_t suf_len = suffix.len < o->n_suffix_bytes_max ? suffix.len : o->n_suffix_bytes_max;
    while (suf_len > 0 && suf_len < suffix.len && suffix.ptr[suf_len] != '\n') {
        suf_len--;
    }
    prompt tail = {0};
    int32_t bos = gen_model_token_bos(c->model);
    if (bos >= 0) {
        rc = prompt_add(p, &bos, 1, err);
    }
    if (rc == 0) {
        rc = prompt_add(p, &c->fim[0], 1, err);
    }
    if (rc == 0) {
        rc = prompt_add_context(p, c->model, o->context, room, err);
    }
    if (rc == 0) {
        rc = prompt_add(&tail, &c->fim[1], 1, err);
    }
    if (rc == 0) {
        int32_t *ids = NULL;
        size_t n = 0;
        rc = gen_model_tokenize(c->model, (core_str){suffix.ptr, suf_len}, false, false, &ids, &n,
                                err);
        if (rc == 0) {
            rc = prompt_add(&tail, ids, n < room / 4 ? n : room / 4, err);
        }
        core_free(ids);
    }
    if (rc == 0) {
        rc = prompt_add(&tail, &c->fim[2], 1, err);
    }
    if (rc == 0) {
        size_t used = p->n + tail.n;
        rc = prompt_add_text(p, c->model, pre, false, room > used ? room - used : 0, err);
    }
    if (rc == 0) {
        rc = prompt_add(p, tail.ids, tail.n, err);
    }
    core_free(tail.ids);
    return rc;
}

/* Decodes the prompt into sequence 0, reusing the longest common prefix with the cache. */
static int prompt_decode(solve_session *s, const prompt *p, solve_completions *res, core_err *err)
{
    size_t keep = 0;
    while (keep < s->n_cached && keep < p->n && s->cached[keep] == p->ids[keep]) {
        keep++;
    }
    if (keep == p->n) {
        keep--; /* the last token is decoded again for its logits */
    }
    int rc = gen_ctx_seq_truncate(s->ctx, 0, keep, err);
    s->n_cached = rc == 0 ? keep : 0;
    if (rc < 0) {
        return rc;
    }
    gen_batch b = {p->ids + keep, NULL, NULL, p->n - keep};
    rc = gen_ctx_decode(s->ctx, &b, err);
    size_t held = gen_ctx_seq_len(s->ctx, 0);
    if (held > p->n) {
        held = p->n;
    }
    memcpy(s->cached + keep, p->ids + keep, (held - keep) * sizeof(*s->cached));
    s->n_cached = held;
    res->n_tokens_prompt = p->n;
    res->n_tokens_reused = keep;
    res->n_tokens_decoded = held - keep;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Candidates                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct cand {
    gen_sampler *sampler;  /* owned */
    gram_checker *checker; /* owned, NULL without the grammar */
    gram_constraint *gc;   /* owned, NULL without the grammar */
    core_buf text;         /* generated, owned */
    size_t end;            /* kept length once stopped */
    size_t n_tokens;
    double logprob_sum;
    bool live;
    bool ended;
} cand;

static void cand_dispose(cand *c)
{
    gram_constraint_free(c->gc);
    gram_checker_free(c->checker);
    gen_sampler_free(c->sampler);
    core_buf_dispose(&c->text);
}

/* The log of the softmax's denominator, in one pass (running maximum). */
static double logits_norm(const float *logits, size_t n)
{
    double mx = -(double)INFINITY;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)logits[i];
        if (isinf(v) && v < 0.0) {
            continue;
        }
        if (v > mx) {
            sum = sum * exp(mx - v) + 1.0;
            mx = v;
        } else {
            sum += exp(v - mx);
        }
    }
    return sum > 0.0 ? mx + log(sum) : mx;
}

/* Candidate i's sampling: the first greedy, the others at o->temp. */
static gen_sampler_options cand_sampling(const solve_complete_options *o, size_t i)
{
    gen_sampler_options so = gen_sampler_options_default();
    so.temp = i == 0 ? 0.0f : o->temp;
    so.top_p = 0.95f;
    so.seed = o->seed * 1000003u + i;
    return so;
}

/* Starts candidate i: its sampler and, when the prefix is viable, its checker. Returns 0, or
   1 when the grammar had to be left off. */
static int cand_start(cand *c, const solve_session *s, const solve_complete_options *o,
                      core_str prefix, core_str suffix, size_t i, core_err *err)
{
    const gen_sampler_options so = cand_sampling(o, i);
    int rc = gen_sampler_new(&c->sampler, &so, s->c->n_vocab, err);
    const gram_lang *gl = s->c->langs[o->lang];
    if (rc < 0 || !o->grammar || !gl || prefix.len > GRAM_TEXT_MAX) {
        c->live = rc == 0;
        return rc < 0 ? rc : 1;
    }
    gram_checker_options co = gram_checker_options_default();
    co.suffix = suffix;
    bool viable = false;
    rc = gram_checker_new(&c->checker, gl, &co, err);
    if (rc == 0) {
        rc = gram_checker_feed(c->checker, prefix, &viable, err);
    }
    if (rc == CORE_EPARSE) {
        core_err_clear(err); /* a NUL byte in the document: no constraint */
        rc = 0;
    }
    if (rc == 0 && viable) {
        rc = gram_constraint_new(&c->gc, c->checker, &s->c->vocab, err);
    }
    c->live = rc == 0;
    return rc < 0 ? rc : (c->gc ? 0 : 1);
}

/* Samples candidate c's next token; returns 1 with *tok when it goes on, 0 when it stopped. */
static int cand_step(cand *c, solve_session *s, const float *logits,
                     const solve_complete_options *o, core_str line, size_t depth, bool heal,
                     int32_t *tok, core_err *err)
{
    const solve_completer *sc = s->c;
    double norm = logits_norm(logits, sc->n_vocab);
    memcpy(s->scratch, logits, sc->n_vocab * sizeof(float));
    if (heal && c->n_tokens == 0) {
        /* The prompt lacks the cursor's last space: the first token must bring it. */
        for (size_t t = 0; t < sc->n_vocab; t++) {
            if (sc->pieces[t].len == 0 || sc->pieces[t].ptr[0] != ' ') {
                s->scratch[t] = -INFINITY;
            }
        }
    }
    gen_constraint con = {NULL, gram_constraint_allows, c->gc};
    int rc = gen_sampler_sample(c->sampler, s->scratch, c->gc ? &con : NULL, tok, err);
    if (rc == CORE_ENOTFOUND) {
        core_err_clear(err); /* the grammar forbids every token: stop where it is */
        c->live = false;
        c->end = c->text.len;
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    c->n_tokens++;
    c->logprob_sum += (double)logits[*tok] - norm;
    if (sc->is_eog[*tok]) {
        c->live = false;
        c->ended = true;
        c->end = c->text.len;
        return 0;
    }
    if (c->gc) {
        rc = gram_constraint_accept(c->gc, *tok, err);
        if (rc < 0) {
            return rc;
        }
    }
    gen_sampler_accept(c->sampler, *tok);
    core_str piece = sc->pieces[*tok];
    if (core_buf_append(&c->text, piece.ptr, piece.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    if (solve_complete_end(o->lang, o->scope, line, depth, (core_str){c->text.ptr, c->text.len},
                           &c->end)) {
        c->live = false;
        c->ended = true;
        return 0;
    }
    if (c->n_tokens >= o->n_tokens_max) {
        c->live = false;
        c->end = c->text.len;
        return 0;
    }
    return 1;
}

/* Runs the candidates to their ends: step 0 samples every candidate from the prompt's logits,
   then one batched decode a step appends each live candidate's token to its sequence. */
static int generate(solve_session *s, cand *cands, size_t n, const solve_complete_options *o,
                    core_str line, size_t depth, bool heal, size_t n_prompt,
                    const core_cancel *cancel, size_t *n_generated, core_err *err)
{
    int32_t tokens[SOLVE_N_MAX];
    int32_t seq[SOLVE_N_MAX];
    size_t row_of[SOLVE_N_MAX]; /* logits row of each candidate */
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        rc = gen_ctx_seq_copy(s->ctx, (int32_t)i, 0, n_prompt, err);
    }
    for (size_t i = 0; i < n; i++) {
        row_of[i] = 0;
    }
    size_t room = s->n_ctx - n_prompt;
    for (size_t step = 0; rc == 0; step++) {
        if (core_cancel_is_requested(cancel)) {
            return core_err_set(err, CORE_ECANCELED, "complete: canceled");
        }
        size_t n_next = 0;
        for (size_t i = 0; i < n; i++) {
            if (!cands[i].live) {
                continue;
            }
            const float *logits = gen_ctx_logits(s->ctx, row_of[i]);
            if (!CORE_ALWAYS(logits)) {
                return core_err_set(err, CORE_ERROR, "complete: no logits for candidate %zu", i);
            }
            int32_t tok = 0;
            rc = cand_step(&cands[i], s, logits, o, line, depth, heal, &tok, err);
            if (rc < 0) {
                return rc;
            }
            (*n_generated)++;
            if (rc == 1 && step + 2 >= room) {
                cands[i].live = false; /* the context is full */
                cands[i].end = cands[i].text.len;
                rc = 0;
            }
            if (rc == 1) {
                tokens[n_next] = tok;
                seq[n_next] = (int32_t)i;
                row_of[i] = n_next;
                n_next++;
            }
            rc = 0;
        }
        if (n_next == 0) {
            break;
        }
        gen_batch b = {tokens, seq, NULL, n_next};
        rc = gen_ctx_decode(s->ctx, &b, err);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Candidates written on a queue                                                              */
/* ------------------------------------------------------------------------------------------ */

/* One candidate as a request of the completer's queue: cand_step picks its tokens. */
typedef struct queue_cand {
    cand *c;
    solve_session *s;
    const solve_complete_options *o;
    solve__qset *qs;
    core_str line;
    size_t depth;
    bool heal;
    size_t n_cached;   /* from the done event: prompt tokens the queue's cache held */
    uint64_t ns_first; /* when the first token was picked (0: none yet) */
} queue_cand;

static int queue_pick(void *payload, const float *logits, size_t n_past, int32_t *tok,
                      core_err *err)
{
    queue_cand *q = payload;
    (void)n_past;
    if (q->ns_first == 0) {
        q->ns_first = core_time_ns();
    }
    return cand_step(q->c, q->s, logits, q->o, q->line, q->depth, q->heal, tok, err);
}

static void queue_event(void *payload, const gen_queue_event *ev)
{
    queue_cand *q = payload;
    if (!ev->done) {
        return;
    }
    if (q->c->live) {
        /* The queue ended it (its context, a cancel, an error): keep what was written. */
        q->c->live = false;
        q->c->end = q->c->text.len;
    }
    q->n_cached = ev->n_cached;
    solve__qset_done(q->qs, ev);
}

/* Runs the candidates as requests of the completer's queue, all with the prompt p: they join
   whatever the queue decodes, and its prefix cache keeps the prompt for the next completion
   (and for the candidates after the first). */
static int generate_queue(solve_session *s, cand *cands, size_t n, const prompt *p,
                          const solve_complete_options *o, core_str line, size_t depth, bool heal,
                          uint64_t t0, const core_cancel *cancel, solve_completions *res,
                          core_err *err)
{
    solve__qset *qs = core_calloc(1, sizeof(*qs));
    queue_cand *q = core_calloc(n, sizeof(*q));
    if (!qs || !q) {
        core_free(qs);
        core_free(q);
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    int rc = solve__qset_init(qs, s->c->queue, err);
    if (rc < 0) {
        core_free(qs);
        core_free(q);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        q[i] = (queue_cand){&cands[i], s, o, qs, line, depth, heal, 0, 0};
        /* cand_step ends it first */
        const solve__qreq r = {p->ids, p->n, o->n_tokens_max + 1, queue_pick, queue_event, &q[i]};
        rc = solve__qset_submit(qs, &r, err);
    }
    /* On a failed submit, stop what was submitted and wait for it: the requests point into q. */
    const int wrc = solve__qset_wait(qs, cancel, rc < 0, "completing", rc < 0 ? NULL : err);
    rc = rc < 0 ? rc : wrc;
    res->n_tokens_prompt = p->n;
    res->n_tokens_reused = q[0].n_cached;
    res->n_tokens_decoded = p->n - q[0].n_cached;
    if (q[0].ns_first) {
        res->ns_prompt = q[0].ns_first - t0; /* until the prompt's logits came */
    }
    for (size_t i = 0; i < n; i++) {
        res->n_tokens_generated += cands[i].n_tokens;
    }
    solve__qset_dispose(qs);
    core_free(qs);
    core_free(q);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Candidates written by a remote backend                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A candidate's rules for solve__remote_write: as cand_step's for a local token. */
typedef struct remote_cand {
    cand *c;
    const solve_complete_options *o;
    core_str line;
    size_t depth;
    bool heal; /* the first piece must bring the cursor's space (token healing) */
} remote_cand;

static int remote_piece(void *payload, core_str piece, core_err *err)
{
    const remote_cand *r = payload;
    cand *c = r->c;
    if (r->heal && c->n_tokens == 0 && (piece.len == 0 || piece.ptr[0] != ' ')) {
        return SOLVE__PIECE_REFUSED;
    }
    bool ok = true;
    const int rc = c->gc ? gram_checker_feed(c->checker, piece, &ok, err) : 0;
    if (rc < 0 || !ok) {
        return rc < 0 ? rc : SOLVE__PIECE_REFUSED;
    }
    c->n_tokens++;
    if (core_buf_append(&c->text, piece.ptr, piece.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    if (solve_complete_end(r->o->lang, r->o->scope, r->line, r->depth,
                           (core_str){c->text.ptr, c->text.len}, &c->end)) {
        c->live = false;
        c->ended = true;
        return SOLVE__PIECE_DONE;
    }
    if (c->n_tokens >= r->o->n_tokens_max) {
        c->live = false;
        c->end = c->text.len;
        return SOLVE__PIECE_DONE;
    }
    return SOLVE__PIECE_TAKEN;
}

/* The server's end of generation: taken where the grammar takes an end-of-generation token
   (the document, suffix included, is complete with the text). */
static int remote_stop(void *payload, core_err *err)
{
    cand *c = ((const remote_cand *)payload)->c;
    bool complete = true;
    if (c->gc) {
        int rc = gram_checker_is_complete(c->checker, &complete, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (!complete) {
        return 0;
    }
    c->live = false;
    c->ended = true;
    c->end = c->text.len;
    return 1;
}

static void remote_cut(void *payload, bool gave_up)
{
    cand *c = ((const remote_cand *)payload)->c;
    (void)gave_up;
    c->live = false;
    c->end = c->text.len;
}

static core_str remote_text(void *payload)
{
    const cand *c = ((const remote_cand *)payload)->c;
    return (core_str){c->text.ptr ? c->text.ptr : "", c->text.len};
}

static size_t remote_left(void *payload)
{
    const remote_cand *r = payload;
    return r->o->n_tokens_max > r->c->n_tokens ? r->o->n_tokens_max - r->c->n_tokens : 0;
}

/* Writes the candidates through the completer's backend, one after the other, from the
   context and the prefix's window as text (the server tokenizes it; no FIM). */
static int generate_remote(const solve_session *s, cand *cands, size_t n,
                           const solve_complete_options *o, core_str prefix, core_str line,
                           size_t depth, bool heal, const core_cancel *cancel, size_t *n_generated,
                           core_err *err)
{
    const solve_completer *sc = s->c;
    const size_t start = window_start(prefix, o->n_prefix_bytes_max);
    core_buf text = {0};
    if (core_buf_append(&text, o->context.ptr ? o->context.ptr : "", o->context.len) < 0 ||
        core_buf_append(&text, prefix.ptr + start, prefix.len - start) < 0) {
        core_buf_dispose(&text);
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && text.len > 0; i++) {
        if (!cands[i].live) {
            continue;
        }
        remote_cand r = {&cands[i], o, line, depth, heal};
        const solve__remote_rules rules = {remote_piece, remote_stop, remote_cut,
                                           remote_text,  remote_left, &r};
        const solve__remote_req req = {
            sc->backend, sc->model, sc->is_eog,           sc->n_vocab, cand_sampling(o, i),
            NULL,        0,         {text.ptr, text.len}, NULL,        NULL,
            0,           false};
        size_t n_requests = 0;
        rc = solve__remote_write(&n_requests, &req, &rules, cancel, err);
        *n_generated += cands[i].n_tokens;
    }
    core_buf_dispose(&text);
    return rc;
}

/* Drops the end of a one-line completion that the rest of the cursor's line already has
   (the model closing a parenthesis the editor inserted). */
static size_t drop_overlap(core_str text, size_t end, core_str suffix)
{
    size_t n = 0;
    while (n < suffix.len && suffix.ptr[n] != '\n' && suffix.ptr[n] != '\r') {
        n++;
    }
    while (n > 0 && is_blank(suffix.ptr[n - 1])) {
        n--;
    }
    if (n == 0 || n > end || memchr(text.ptr, '\n', end)) {
        return end;
    }
    return memcmp(text.ptr + end - n, suffix.ptr, n) == 0 ? end - n : end;
}

static int results_add(solve_completions *res, const solve_session *s, const cand *c,
                       const solve_complete_options *o, core_str prefix, core_str suffix, bool heal,
                       core_err *err)
{
    core_str text = {c->text.ptr ? c->text.ptr : "", c->end};
    if (o->scope == SOLVE_SCOPE_LINE) {
        text.len = drop_overlap(text, text.len, suffix);
    }
    if (heal && text.len > 0) {
        text.ptr++; /* the cursor's space, which the prompt left to the model */
        text.len--;
    }
    for (size_t i = 0; i < res->n_items; i++) {
        if (core_str_eq(core_str_c(res->items[i].text), text)) {
            return 0;
        }
    }
    solve_completion *it = &res->items[res->n_items];
    memset(it, 0, sizeof(*it));
    it->text = core_strndup(text.ptr, text.len);
    if (!it->text) {
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    res->n_items++;
    it->n_tokens = c->n_tokens;
    it->logprob_mean = c->n_tokens ? c->logprob_sum / (double)c->n_tokens : 0.0;
    it->ended = c->ended;
    const gram_lang *gl = s->c->langs[o->lang];
    if (!gl) {
        return 0;
    }
    core_buf whole = {0};
    if (core_buf_append(&whole, prefix.ptr, prefix.len) < 0 ||
        core_buf_append(&whole, text.ptr, text.len) < 0 ||
        core_buf_append(&whole, suffix.ptr, suffix.len) < 0) {
        core_buf_dispose(&whole);
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    gram_source_report rep = {0};
    core_err perr = {0};
    int rc = gram_source_check(&rep, gl, (core_str){whole.ptr, whole.len}, &perr);
    core_buf_dispose(&whole);
    if (rc == CORE_ENOMEM) {
        return core_err_set(err, rc, "%s", perr.msg);
    }
    it->parses = rc == 0 && rep.ok; /* a document the grammar refuses outright: false */
    return 0;
}

int solve_complete(solve_completions **out, solve_session *s, core_str prefix, core_str suffix,
                   const solve_complete_options *opts, const core_cancel *cancel, core_err *err)
{
    int rc = 0;
    uint64_t t0 = core_time_ns();
    solve_complete_options o = opts ? *opts : solve_complete_options_default();
    prompt p = {0};
    cand cands[SOLVE_N_MAX];
    size_t n = o.n_candidates;
    memset(cands, 0, sizeof(cands));
    *out = NULL;
    if (n == 0 || n > s->n_candidates_max || o.n_tokens_max == 0 ||
        (o.lang != SOLVE_LANG_PYTHON && o.lang != SOLVE_LANG_C) || (size_t)o.scope > 3) {
        return core_err_set(err, CORE_EINVAL,
                            "complete: bad options (%zu candidates of at most %zu, %zu tokens)", n,
                            s->n_candidates_max, o.n_tokens_max);
    }
    if (o.n_tokens_max + 16 >= s->n_ctx) {
        return core_err_set(err, CORE_EINVAL, "complete: %zu tokens do not fit a context of %zu",
                            o.n_tokens_max, s->n_ctx);
    }
    solve_completions *res = core_calloc(1, sizeof(*res));
    if (!res || !(res->items = core_calloc(n, sizeof(*res->items)))) {
        core_free(res);
        return core_err_set(err, CORE_ENOMEM, "complete: out of memory");
    }
    /* A space before the cursor belongs to the next word's token in BPE vocabularies: the
       prompt leaves it out and the first token must start with it (token healing). */
    const bool remote = s->c->backend != NULL;
    const bool queued = !remote && s->c->queue != NULL;
    bool heal = prefix.len > 0 && prefix.ptr[prefix.len - 1] == ' ';
    core_str full = prefix;
    prefix.len -= heal;
    if (!remote) {
        if (s->ctx) {
            gen_ctx_set_cancel(s->ctx, cancel);
        }
        rc = prompt_build(&p, s, prefix, suffix, &o, s->n_ctx - o.n_tokens_max - 2, &res->fim, err);
        if (rc == 0 && p.n == 0) {
            goto done; /* no token to start from: nothing to offer */
        }
        if (rc == 0 && !queued) {
            rc = prompt_decode(s, &p, res, err);
        }
    }
    res->ns_prompt = core_time_ns() - t0;
    size_t line_start = prefix.len;
    while (line_start > 0 && prefix.ptr[line_start - 1] != '\n') {
        line_start--;
    }
    core_str line = {prefix.ptr + line_start, prefix.len - line_start};
    size_t depth = o.lang == SOLVE_LANG_C ? solve_complete_depth(o.lang, prefix) : 0;
    res->grammar = o.grammar;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = cand_start(&cands[i], s, &o, prefix, suffix, i, err);
        if (rc == 1) {
            res->grammar = false;
            rc = 0;
        }
    }
    if (rc == 0 && remote) {
        rc = generate_remote(s, cands, n, &o, prefix, line, depth, heal, cancel,
                             &res->n_tokens_generated, err);
    } else if (rc == 0 && queued) {
        rc = generate_queue(s, cands, n, &p, &o, line, depth, heal, t0, cancel, res, err);
    } else if (rc == 0) {
        rc = generate(s, cands, n, &o, line, depth, heal, p.n, cancel, &res->n_tokens_generated,
                      err);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = results_add(res, s, &cands[i], &o, full, suffix, heal, err);
    }
done:
    /* Only the prompt stays cached: the candidates' tokens are forgotten. */
    if (s->ctx && s->n_cached > 0) {
        core_err terr = {0};
        (void)gen_ctx_seq_truncate(s->ctx, 0, s->n_cached, &terr);
    }
    if (s->ctx) {
        gen_ctx_set_cancel(s->ctx, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        cand_dispose(&cands[i]);
    }
    core_free(p.ids);
    res->ns_total = core_time_ns() - t0;
    if (rc < 0) {
        solve_completions_free(res);
        return rc;
    }
    *out = res;
    return 0;
}
