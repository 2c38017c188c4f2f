/*
 * The incremental viable-prefix checker. It runs the grammar's LR parse table directly, the
 * way tree-sitter's parser does on error-free input (lib/src/parser.c: ts_parser__lex,
 * ts_parser__advance, ts_parser__reduce; keyword extraction, the keyword-to-word fallback and
 * skipped repetition shifts included), but without error recovery: a token with no action
 * kills its parse version, and the text stops being viable when no version is left. An LR
 * parser has the correct-prefix property, so that happens at the first token after which no
 * continuation can exist, and never because the text is merely incomplete.
 *
 * Versions. Where the table has several actions (the grammar's declared conflicts), each one
 * gets its own version: a stack of parse states plus the serialized state of the external
 * scanner after the last external token (Python's indent stack and string delimiters), and the
 * byte offset of its next token. Versions are plain arrays held in a `vset` (one pool of
 * states, one of scanner bytes), so saving and restoring the checker is a copy. They advance
 * in position order, like tree-sitter's, and identical versions merge, which keeps their
 * number small (at most 6 on the Python standard library, 11 on the C corpus).
 *
 * The unfinished lexeme. A token is committed only when the lexer decided it without looking
 * at the end of the text (gram__lexer.hit_end); otherwise its version waits at the token's
 * start, and the next piece lexes it again. A waiting version stays viable when:
 *   - the external scanner looked at the end (an open string, a NEWLINE/INDENT decision);
 *   - the token lexed so far can be shifted, after the reductions it triggers (can_shift:
 *     a table action alone is not enough, since tree-sitter's merged states reduce on
 *     lookaheads that no resulting state shifts);
 *   - it is a word and the state shifts an identifier, or a keyword that starts with it;
 *   - it is longer than PROBE_LEXEME_MAX (a comment or a string, which any text continues);
 *   - or some continuation of up to PROBE_DEPTH probe characters lexes into a shiftable
 *     token or leaves the lexer undecided (`!` may become `!=`, `.` may become `.5`).
 * The rest is rejected, so `if x::` fails at the second colon and `retu` waits for `rn`.
 *
 * Python's indentation. tree-sitter-python's scanner accepts indentation CPython refuses (an
 * empty block after a header, an indent no block expects), so for Python each piece first goes
 * through indent.c's scanner of the indentation rules, and completeness also asks it.
 */
#include "grammar/gram_int.h"

#include <string.h>

/* Lexer outcomes. */
enum { LEX_TOKEN, LEX_PENDING, LEX_DEAD };

/* Steps (tokens lexed) allowed per run and byte, beyond which a run stops judging. */
#define STEPS_PER_BYTE 64
#define STEPS_MIN      100000

typedef struct version {
    size_t pos;        /* byte offset where the version's next token (with its blanks) starts */
    size_t states_off; /* first state in the set's pool */
    size_t n_states;   /* stack depth, >= 1 */
    size_t scan_off;   /* first scanner byte in the set's pool */
    size_t n_scan;     /* serialized external scanner state, <= GRAM__SCAN_MAX bytes */
} version;

/* A set of versions with their pools; entries are appended and popped at the end. */
typedef struct vset {
    version *v; /* (cap) */
    size_t n, cap;
    TSStateId *states; /* (cap_states) */
    size_t n_states, cap_states;
    char *bytes; /* (cap_bytes) */
    size_t n_bytes, cap_bytes;
} vset;

/* The version being worked on, outside any set. */
typedef struct work {
    size_t pos;
    TSStateId *states; /* (cap_states), owned */
    size_t n_states, cap_states;
    char scan[GRAM__SCAN_MAX];
    size_t n_scan;
} work;

typedef struct token {
    TSSymbol symbol;
    size_t start, end; /* byte offsets of the lexeme (blanks before it excluded) */
    bool is_keyword;   /* the keyword lexer matched it (tree-sitter's is_keyword) */
    bool external;     /* from the external scanner: scan holds the scanner state after it */
    bool none;         /* no lookahead: the end of a non-terminal extra */
    char scan[GRAM__SCAN_MAX];
    size_t n_scan;
} token;

/* What a pending lex saw, for the unfinished-word test. */
typedef struct lex_info {
    bool ext_hit_end; /* the external scanner looked at the end */
    bool found;       /* the main lexer accepted a token (before looking at the end) */
    TSSymbol symbol;
    size_t start, end;
} lex_info;

struct gram_checker {
    const gram_lang *lang; /* borrowed */
    const TSLanguage *ts;  /* lang->ts */
    size_t n_versions_max;
    core_buf text; /* the text fed so far (owned) */
    char *suffix;  /* owned copy of the text after the cursor, or NULL */
    size_t suffix_len;
    void *scanner; /* the external scanner's payload, owned; NULL without one */
    vset cur;      /* the versions of the committed text */
    vset next;     /* scratch: versions after a feed */
    vset todo;     /* scratch: versions waiting for a token */
    vset forks;    /* scratch: versions being reduced for one lookahead */
    vset spare;    /* scratch: compaction of todo */
    work w;        /* scratch */
    work x;        /* scratch */
    token tok;     /* scratch */
    gram__lexer lexer;
    size_t n_versions_peak;
    gram__indent indent;     /* Python's indentation over the committed text (lang->indent) */
    gram__indent indent_try; /* scratch: the indentation after a piece being tried */
};

struct gram_snapshot {
    const gram_checker *owner; /* NULL while empty */
    core_buf text;             /* the checker's text at the save, owned */
    vset set;
    gram__indent indent;
};

/* ------------------------------------------------------------------------------------------ */
/* Version sets                                                                               */
/* ------------------------------------------------------------------------------------------ */

static int grow(void **ptr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t cap_new = *cap ? *cap : 16;
    while (cap_new < need) {
        cap_new *= 2;
    }
    void *p = core_realloc(*ptr, cap_new * size);
    if (!p) {
        return CORE_ENOMEM;
    }
    *ptr = p;
    *cap = cap_new;
    return 0;
}

static void vset_dispose(vset *set)
{
    core_free(set->v);
    core_free(set->states);
    core_free(set->bytes);
    memset(set, 0, sizeof(*set));
}

static void vset_clear(vset *set)
{
    set->n = 0;
    set->n_states = 0;
    set->n_bytes = 0;
}

static int vset_reserve(vset *set, size_t n_states, size_t n_bytes)
{
    if (grow((void **)&set->v, &set->cap, set->n + 1, sizeof(*set->v)) < 0 ||
        grow((void **)&set->states, &set->cap_states, set->n_states + n_states,
             sizeof(*set->states)) < 0 ||
        grow((void **)&set->bytes, &set->cap_bytes, set->n_bytes + n_bytes + 1, 1) < 0) {
        return CORE_ENOMEM;
    }
    return 0;
}

/* Appends a version made of the given parts. */
static int vset_push(vset *set, size_t pos, const TSStateId *states, size_t n_states,
                     const char *scan, size_t n_scan)
{
    if (vset_reserve(set, n_states, n_scan) < 0) {
        return CORE_ENOMEM;
    }
    version *v = &set->v[set->n++];
    v->pos = pos;
    v->states_off = set->n_states;
    v->n_states = n_states;
    v->scan_off = set->n_bytes;
    v->n_scan = n_scan;
    memcpy(set->states + set->n_states, states, n_states * sizeof(*states));
    set->n_states += n_states;
    if (n_scan) {
        memcpy(set->bytes + set->n_bytes, scan, n_scan);
    }
    set->n_bytes += n_scan;
    return 0;
}

static bool vset_has(const vset *set, size_t pos, const TSStateId *states, size_t n_states,
                     const char *scan, size_t n_scan)
{
    for (size_t i = 0; i < set->n; i++) {
        const version *v = &set->v[i];
        if (v->pos == pos && v->n_states == n_states && v->n_scan == n_scan &&
            set->states[v->states_off + n_states - 1] == states[n_states - 1] &&
            memcmp(set->states + v->states_off, states, n_states * sizeof(*states)) == 0 &&
            (n_scan == 0 || memcmp(set->bytes + v->scan_off, scan, n_scan) == 0)) {
            return true;
        }
    }
    return false;
}

/* Makes dst an exact copy of src. */
static int vset_copy(vset *dst, const vset *src)
{
    if (grow((void **)&dst->v, &dst->cap, src->n + 1, sizeof(*dst->v)) < 0 ||
        grow((void **)&dst->states, &dst->cap_states, src->n_states + 1, sizeof(*dst->states)) <
            0 ||
        grow((void **)&dst->bytes, &dst->cap_bytes, src->n_bytes + 1, 1) < 0) {
        return CORE_ENOMEM;
    }
    memcpy(dst->v, src->v, src->n * sizeof(*src->v));
    memcpy(dst->states, src->states, src->n_states * sizeof(*src->states));
    if (src->n_bytes) {
        memcpy(dst->bytes, src->bytes, src->n_bytes);
    }
    dst->n = src->n;
    dst->n_states = src->n_states;
    dst->n_bytes = src->n_bytes;
    return 0;
}

static int work_reserve(work *w, size_t n_states)
{
    return grow((void **)&w->states, &w->cap_states, n_states, sizeof(*w->states));
}

/* Moves the last version of set into w. */
static int work_pop(work *w, vset *set)
{
    const version *v = &set->v[set->n - 1];
    if (work_reserve(w, v->n_states + 1) < 0) {
        return CORE_ENOMEM;
    }
    w->pos = v->pos;
    w->n_states = v->n_states;
    memcpy(w->states, set->states + v->states_off, v->n_states * sizeof(*w->states));
    w->n_scan = v->n_scan;
    if (v->n_scan) {
        memcpy(w->scan, set->bytes + v->scan_off, v->n_scan);
    }
    set->n--;
    if (v->states_off + v->n_states == set->n_states && v->scan_off + v->n_scan == set->n_bytes) {
        set->n_states = v->states_off;
        set->n_bytes = v->scan_off;
    }
    return 0;
}

/*
 * Moves the version with the smallest position out of set into w (versions advance in
 * position order, as in tree-sitter, so that twins meet and merge). Its pool bytes stay behind
 * until vset_compact.
 */
static int work_take_first(work *w, vset *set)
{
    size_t best = 0;
    for (size_t i = 1; i < set->n; i++) {
        if (set->v[i].pos < set->v[best].pos) {
            best = i;
        }
    }
    version tmp = set->v[best];
    set->v[best] = set->v[set->n - 1];
    set->v[set->n - 1] = tmp;
    return work_pop(w, set);
}

/* Rewrites set without the pool bytes of removed versions, using spare as scratch. */
static int vset_compact(vset *set, vset *spare)
{
    size_t live_states = 0;
    for (size_t i = 0; i < set->n; i++) {
        live_states += set->v[i].n_states;
    }
    if (set->n_states < 2 * live_states + 4096) {
        return 0;
    }
    vset_clear(spare);
    for (size_t i = 0; i < set->n; i++) {
        const version *v = &set->v[i];
        if (vset_push(spare, v->pos, set->states + v->states_off, v->n_states,
                      set->bytes + v->scan_off, v->n_scan) < 0) {
            return CORE_ENOMEM;
        }
    }
    vset tmp = *set;
    *set = *spare;
    *spare = tmp;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Lexing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static bool has_actions(const TSLanguage *ts, TSStateId state, TSSymbol symbol)
{
    uint32_t n = 0;
    gram__actions(ts, state, symbol, &n);
    return n > 0;
}

/*
 * Lexes the next token of version w in text[0..len) (ts_parser__lex without the error mode):
 * the external scanner first when the state's lex mode enables it, then the main lex function,
 * then the keyword lex function over a word. LEX_PENDING: the answer depends on text not yet
 * fed (info says what was seen). LEX_DEAD: no token of the lex mode starts here.
 */
static int lex(gram_checker *c, const work *w, const char *text, size_t len, bool final, token *tok,
               lex_info *info)
{
    const TSLanguage *ts = c->ts;
    TSStateId state = w->states[w->n_states - 1];
    TSLexMode mode = ts->lex_modes[state];
    gram__lexer *lexer = &c->lexer;

    memset(info, 0, sizeof(*info));
    tok->is_keyword = false;
    tok->external = false;
    tok->none = false;
    tok->n_scan = 0;
    if (mode.lex_state == (uint16_t)-1) {
        tok->none = true;
        tok->symbol = 0;
        tok->start = tok->end = w->pos;
        return LEX_TOKEN;
    }
    gram__lexer_init(lexer, text, len, final);
    if (mode.external_lex_state != 0 && c->scanner) {
        gram__lexer_reset(lexer, w->pos);
        gram__lexer_start(lexer);
        ts->external_scanner.deserialize(c->scanner, w->n_scan ? w->scan : NULL,
                                         (unsigned)w->n_scan);
        const bool *valid =
            ts->external_scanner.states + ts->external_token_count * mode.external_lex_state;
        bool found = ts->external_scanner.scan(c->scanner, &lexer->data, valid);
        gram__lexer_finish(lexer);
        if (lexer->hit_end) {
            info->ext_hit_end = true;
            return LEX_PENDING;
        }
        if (found) {
            tok->symbol = ts->external_scanner.symbol_map[lexer->data.result_symbol];
            tok->start = lexer->token_start;
            tok->end = lexer->token_end;
            tok->external = true;
            tok->n_scan = ts->external_scanner.serialize(c->scanner, tok->scan);
            return LEX_TOKEN;
        }
    }
    gram__lexer_reset(lexer, w->pos);
    gram__lexer_start(lexer);
    bool found = ts->lex_fn(&lexer->data, mode.lex_state);
    gram__lexer_finish(lexer);
    if (lexer->hit_end) {
        info->found = found;
        info->symbol = lexer->data.result_symbol;
        info->start = lexer->token_start;
        info->end = lexer->token_end;
        return LEX_PENDING;
    }
    if (!found) {
        return LEX_DEAD;
    }
    tok->symbol = lexer->data.result_symbol;
    tok->start = lexer->token_start;
    tok->end = lexer->token_end;
    if (tok->symbol == ts->keyword_capture_token && tok->symbol != 0 && ts->keyword_lex_fn) {
        size_t start = tok->start;
        size_t end = tok->end;
        gram__lexer_reset(lexer, start);
        gram__lexer_start(lexer);
        bool is_keyword = ts->keyword_lex_fn(&lexer->data, 0);
        gram__lexer_finish(lexer);
        if (lexer->hit_end) {
            return LEX_PENDING;
        }
        /* A reserved word is the keyword or nothing: it never falls back to a name, here or
           after the reductions (parse_token, can_shift). */
        bool whole = is_keyword && lexer->token_end == end;
        bool reserved = whole && gram__lang_is_reserved(c->lang, text + start, end - start);
        tok->is_keyword = is_keyword && !reserved;
        if (whole && (reserved || has_actions(ts, state, lexer->data.result_symbol))) {
            tok->symbol = lexer->data.result_symbol;
        }
    }
    return LEX_TOKEN;
}

/*
 * Whether version w can shift symbol after the reductions the table asks for. A table action
 * alone does not say so: tree-sitter merges LR states, so a state may reduce on a lookahead
 * that no state reached by the reductions accepts.
 */
static int can_shift(gram_checker *c, const work *w, TSSymbol symbol, bool is_keyword, bool *out,
                     core_err *err)
{
    const TSLanguage *ts = c->ts;
    vset *forks = &c->forks;
    work *x = &c->x;
    size_t n_steps = 0;

    *out = false;
    vset_clear(forks);
    if (vset_push(forks, w->pos, w->states, w->n_states, w->scan, w->n_scan) < 0) {
        goto oom;
    }
    while (forks->n > 0 && !*out) {
        if (work_pop(x, forks) < 0) {
            goto oom;
        }
        if (++n_steps > 10000) {
            *out = true; /* cannot happen on LR tables; be lenient if it does */
            break;
        }
        TSStateId state = x->states[x->n_states - 1];
        TSSymbol sym = symbol;
        uint32_t n_actions = 0;
        const TSParseAction *actions = gram__actions(ts, state, sym, &n_actions);
        if (n_actions == 0 && is_keyword && sym != ts->keyword_capture_token) {
            sym = ts->keyword_capture_token;
            actions = gram__actions(ts, state, sym, &n_actions);
        }
        for (uint32_t i = 0; i < n_actions && !*out; i++) {
            TSParseAction action = actions[i];
            if ((action.type == TSParseActionTypeShift && !action.shift.repetition) ||
                action.type == TSParseActionTypeAccept) {
                *out = true;
            } else if (action.type == TSParseActionTypeReduce) {
                size_t n_pop = action.reduce.child_count;
                if (n_pop >= x->n_states) {
                    continue;
                }
                size_t depth = x->n_states - n_pop;
                TSStateId next = gram__table_lookup(ts, x->states[depth - 1], action.reduce.symbol);
                if (next == 0) {
                    continue;
                }
                TSStateId saved = x->states[depth];
                x->states[depth] = next;
                int rc = vset_push(forks, x->pos, x->states, depth + 1, x->scan, x->n_scan);
                x->states[depth] = saved;
                if (rc < 0) {
                    goto oom;
                }
            }
        }
    }
    return 0;

oom:
    return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for parse versions",
                        c->lang->name);
}

/*
 * Continuations probed after an unfinished lexeme: every printable ASCII character, blanks
 * and one non-ASCII letter. Likely successes come first, since the probe stops at the first.
 */
static const char *const probes[] = {
    "x", "0",  " ", "\n", "(", ")", ":", "=", ".", "\"", "'", "[", "]",  "{",  "}",        ",", ";",
    "+", "-",  "*", "/",  "%", "<", ">", "!", "&", "|",  "^", "~", "@",  "#",  "\\",       "?", "`",
    "$", "\t", "a", "b",  "c", "d", "e", "f", "g", "h",  "i", "j", "k",  "l",  "m",        "n", "o",
    "p", "q",  "r", "s",  "t", "u", "v", "w", "y", "z",  "A", "B", "C",  "D",  "E",        "F", "G",
    "H", "I",  "J", "K",  "L", "M", "N", "O", "P", "Q",  "R", "S", "T",  "U",  "V",        "W", "X",
    "Y", "Z",  "_", "1",  "2", "3", "4", "5", "6", "7",  "8", "9", "\r", "\f", "\xc3\xa9", NULL};

static bool is_word_char(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/*
 * Whether some continuation of text[0..len) lets version w lex a token its state accepts. It
 * appends one probe character at a time: a token decided with the probe cannot change with
 * later text, so a probe that yields a token without an action is a dead end, and a probe that
 * leaves the lexer undecided is extended again, up to PROBE_DEPTH characters; past that, or
 * past PROBE_BUDGET lexes, the answer is yes. skip_words leaves out word characters at the
 * first level (the caller settled word continuations exactly with the keyword list).
 */
#define PROBE_DEPTH      3
#define PROBE_BUDGET     600
#define PROBE_LEXEME_MAX 48
static int probe_extends(gram_checker *c, const work *w, size_t len, size_t depth, bool skip_words,
                         size_t *budget, bool *out, core_err *err)
{
    *out = false;
    if (core_buf_reserve(&c->text, len - c->text.len + 4 * PROBE_DEPTH) < 0) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for the text",
                            c->lang->name);
    }
    for (const char *const *p = probes; *p && !*out; p++) {
        size_t n = strlen(*p);
        /* A word's own continuations are settled; a line splice (C's backslash-newline)
           only continues the same word. */
        if (skip_words && (is_word_char((*p)[0]) || (*p)[0] == '\\')) {
            continue;
        }
        if (*budget == 0) {
            *out = true;
            break;
        }
        (*budget)--;
        memcpy(c->text.ptr + len, *p, n);
        lex_info info;
        int r = lex(c, w, c->text.ptr, len + n, false, &c->tok, &info);
        if (r == LEX_PENDING && skip_words && info.found &&
            info.symbol == c->ts->keyword_capture_token && info.end == len + n) {
            continue; /* the word goes on ('$' in C identifiers): settled by the caller */
        }
        if (r == LEX_PENDING) {
            if (depth + 1 >= PROBE_DEPTH || info.ext_hit_end) {
                *out = true;
            } else {
                int rc = probe_extends(c, w, len + n, depth + 1, skip_words, budget, out, err);
                if (rc < 0) {
                    return rc;
                }
            }
        } else if (r == LEX_TOKEN) {
            if (c->tok.none) {
                *out = true;
            } else {
                int rc = can_shift(c, w, c->tok.symbol, c->tok.is_keyword, out, err);
                if (rc < 0) {
                    return rc;
                }
            }
        }
    }
    if (depth == 0) {
        c->text.ptr[c->text.len] = '\0';
    }
    return 0;
}

/* Whether a version waiting on an unfinished lexeme may still be viable. */
static int pending_is_viable(gram_checker *c, const work *w, const lex_info *info, size_t len,
                             bool *out, core_err *err)
{
    const TSLanguage *ts = c->ts;
    TSStateId state = w->states[w->n_states - 1];

    *out = true;
    if (info->ext_hit_end) {
        return 0;
    }
    if (info->found) {
        int rc = can_shift(c, w, info->symbol, false, out, err);
        if (rc < 0 || *out) {
            return rc;
        }
    }
    bool word = info->found && info->symbol == ts->keyword_capture_token && info->symbol != 0 &&
                info->end == len && info->start < len;
    if (word) {
        const char *p = c->text.ptr + info->start;
        size_t n = len - info->start;
        for (size_t i = 0; i < c->lang->n_keywords; i++) {
            const gram__keyword *kw = &c->lang->keywords[i];
            if (kw->len >= n && memcmp(kw->str, p, n) == 0 && has_actions(ts, state, kw->symbol)) {
                int rc = can_shift(c, w, kw->symbol, true, out, err);
                if (rc < 0 || *out) {
                    return rc;
                }
            }
        }
    }
    /* A long unfinished lexeme is a comment or a string, which any text continues; probing
       it would lex it again per probe, on every piece. */
    if (len - info->start > PROBE_LEXEME_MAX) {
        *out = true;
        return 0;
    }
    size_t budget = PROBE_BUDGET;
    return probe_extends(c, w, len, 0, word, &budget, out, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * Applies every action for tok to w and to the versions its reductions make (tree-sitter's
 * ts_parser__advance). Versions that shift tok go to c->todo to lex their next token.
 */
static int parse_token(gram_checker *c, const token *tok, bool *accepted, core_err *err)
{
    const TSLanguage *ts = c->ts;
    vset *forks = &c->forks;
    work *x = &c->x;

    vset_clear(forks);
    if (vset_push(forks, c->w.pos, c->w.states, c->w.n_states, c->w.scan, c->w.n_scan) < 0) {
        goto oom;
    }
    while (forks->n > 0) {
        if (work_pop(x, forks) < 0) {
            goto oom;
        }
        TSStateId state = x->states[x->n_states - 1];
        TSSymbol symbol = tok->symbol;
        uint32_t n_actions = 0;
        const TSParseAction *actions = gram__actions(ts, state, symbol, &n_actions);
        if (n_actions == 0 && tok->is_keyword && symbol != ts->keyword_capture_token) {
            symbol = ts->keyword_capture_token;
            actions = gram__actions(ts, state, symbol, &n_actions);
        }
        for (uint32_t i = 0; i < n_actions; i++) {
            TSParseAction action = actions[i];
            switch (action.type) {
            case TSParseActionTypeShift: {
                if (action.shift.repetition || tok->none) {
                    break;
                }
                const char *scan = tok->external ? tok->scan : x->scan;
                size_t n_scan = tok->external ? tok->n_scan : x->n_scan;
                size_t depth = x->n_states;
                if (!action.shift.extra) {
                    if (work_reserve(x, x->n_states + 1) < 0) {
                        goto oom;
                    }
                    x->states[depth++] = action.shift.state;
                }
                if (!vset_has(&c->todo, tok->end, x->states, depth, scan, n_scan) &&
                    vset_push(&c->todo, tok->end, x->states, depth, scan, n_scan) < 0) {
                    goto oom;
                }
                break;
            }
            case TSParseActionTypeReduce: {
                size_t n_pop = action.reduce.child_count;
                if (n_pop >= x->n_states) {
                    break; /* cannot happen on tables that tree-sitter generated */
                }
                size_t depth = x->n_states - n_pop;
                TSStateId below = x->states[depth - 1];
                TSStateId next = gram__table_lookup(ts, below, action.reduce.symbol);
                if (next == 0) {
                    break;
                }
                if (work_reserve(x, depth + 1) < 0) {
                    goto oom;
                }
                TSStateId saved = x->states[depth];
                x->states[depth] = next;
                /* After the end of a non-terminal extra, the version lexes again. */
                vset *dst = tok->none ? &c->todo : forks;
                int rc = vset_push(dst, x->pos, x->states, depth + 1, x->scan, x->n_scan);
                x->states[depth] = saved;
                if (rc < 0) {
                    goto oom;
                }
                break;
            }
            case TSParseActionTypeAccept:
                *accepted = true;
                break;
            default:
                break;
            }
        }
    }
    return 0;

oom:
    return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for parse versions",
                        c->lang->name);
}

/*
 * Runs every version of src over c->text[0..len) (final: len ends the input) and leaves the
 * surviving versions, each waiting at an unfinished lexeme, in dst. *accepted: some version
 * accepted the whole text (final runs only).
 */
static int run(gram_checker *c, const vset *src, vset *dst, size_t len, bool final, bool *accepted,
               core_err *err)
{
    int rc = 0;
    size_t steps = 0;
    size_t pos_min = len;
    *accepted = false;

    vset_clear(dst);
    rc = vset_copy(&c->todo, src);
    if (rc < 0) {
        goto oom;
    }
    for (size_t i = 0; i < src->n; i++) {
        if (src->v[i].pos < pos_min) {
            pos_min = src->v[i].pos;
        }
    }
    size_t steps_max = STEPS_MIN + STEPS_PER_BYTE * (len - pos_min);
    while (c->todo.n > 0) {
        if (work_take_first(&c->w, &c->todo) < 0 || vset_compact(&c->todo, &c->spare) < 0) {
            goto oom;
        }
        work *w = &c->w;
        lex_info info;
        int r = lex(c, w, c->text.ptr, len, final, &c->tok, &info);
        if (++steps > steps_max) {
            /* A grammar looping on empty tokens: keep the version rather than judge it. */
            r = LEX_PENDING;
            memset(&info, 0, sizeof(info));
        }
        if (r == LEX_DEAD) {
            continue;
        }
        if (r == LEX_PENDING) {
            bool viable = true;
            rc = pending_is_viable(c, w, &info, len, &viable, err);
            if (rc < 0) {
                return rc;
            }
            if (!viable || vset_has(dst, w->pos, w->states, w->n_states, w->scan, w->n_scan)) {
                continue;
            }
            if (dst->n >= c->n_versions_max) {
                continue;
            }
            if (vset_push(dst, w->pos, w->states, w->n_states, w->scan, w->n_scan) < 0) {
                goto oom;
            }
            continue;
        }
        rc = parse_token(c, &c->tok, accepted, err);
        if (rc < 0) {
            return rc;
        }
        if (*accepted) {
            return 0;
        }
    }
    if (dst->n > c->n_versions_peak) {
        c->n_versions_peak = dst->n;
    }
    return 0;

oom:
    return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for parse versions",
                        c->lang->name);
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

gram_checker_options gram_checker_options_default(void)
{
    gram_checker_options opts = {0};
    opts.n_versions_max = 64;
    return opts;
}

static int start(gram_checker *c)
{
    TSStateId first = 1;
    vset_clear(&c->cur);
    return vset_push(&c->cur, 0, &first, 1, NULL, 0);
}

int gram_checker_new(gram_checker **out, const gram_lang *lang, const gram_checker_options *opts,
                     core_err *err)
{
    int rc = 0;
    gram_checker *c = NULL;
    gram_checker_options defaults = gram_checker_options_default();

    *out = NULL;
    if (!opts) {
        opts = &defaults;
    }
    c = core_calloc(1, sizeof(*c));
    if (!c) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for a checker",
                            lang->name);
    }
    c->lang = lang;
    c->ts = lang->ts;
    c->n_versions_max = opts->n_versions_max ? opts->n_versions_max : defaults.n_versions_max;
    if (opts->suffix.len > GRAM_TEXT_MAX) {
        rc = core_err_set(err, CORE_ELIMIT, "grammar %s: suffix of %zu bytes is too large",
                          lang->name, opts->suffix.len);
        goto done;
    }
    if (opts->suffix.len) {
        c->suffix = core_strndup(opts->suffix.ptr, opts->suffix.len);
        if (!c->suffix) {
            goto oom;
        }
        c->suffix_len = opts->suffix.len;
    }
    if (c->ts->external_scanner.create) {
        c->scanner = c->ts->external_scanner.create();
        if (!c->scanner) {
            goto oom;
        }
    }
    gram__indent_init(&c->indent);
    if (core_buf_reserve(&c->text, 256) < 0 || start(c) < 0) {
        goto oom;
    }
    *out = c;
    c = NULL;
    goto done;

oom:
    rc = core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for a checker", lang->name);
done:
    gram_checker_free(c);
    return rc;
}

void gram_checker_free(gram_checker *c)
{
    if (!c) {
        return;
    }
    if (c->scanner) {
        c->ts->external_scanner.destroy(c->scanner);
    }
    core_buf_dispose(&c->text);
    core_free(c->suffix);
    vset_dispose(&c->cur);
    vset_dispose(&c->next);
    vset_dispose(&c->todo);
    vset_dispose(&c->forks);
    vset_dispose(&c->spare);
    core_free(c->w.states);
    core_free(c->x.states);
    core_free(c);
}

void gram_checker_reset(gram_checker *c)
{
    c->text.len = 0;
    if (c->text.ptr) {
        c->text.ptr[0] = '\0';
    }
    /* The set keeps its memory, so the single start version always fits. */
    vset_clear(&c->cur);
    c->cur.v[0] = (version){.pos = 0, .states_off = 0, .n_states = 1};
    c->cur.states[0] = 1;
    c->cur.n = 1;
    c->cur.n_states = 1;
    gram__indent_init(&c->indent);
}

static int advance(gram_checker *c, core_str piece, bool commit, bool *viable, core_err *err)
{
    *viable = false;
    size_t len_old = c->text.len;
    if (piece.len > GRAM_TEXT_MAX - len_old) {
        return core_err_set(err, CORE_ELIMIT, "grammar %s: text would pass %zu bytes",
                            c->lang->name, GRAM_TEXT_MAX);
    }
    if (piece.len && memchr(piece.ptr, '\0', piece.len)) {
        return core_err_set(err, CORE_EPARSE, "grammar %s: piece has a NUL byte", c->lang->name);
    }
    /* Room for the piece plus the longest probe of probe_extends. */
    if (core_buf_reserve(&c->text, piece.len + 16) < 0) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for the text",
                            c->lang->name);
    }
    /* The indentation rules first: they cost a byte loop, the parse much more. */
    if (c->lang->indent) {
        c->indent_try = c->indent;
        if (!gram__indent_scan(&c->indent_try, piece.ptr, piece.len, len_old)) {
            return 0;
        }
    }
    if (piece.len) {
        memcpy(c->text.ptr + len_old, piece.ptr, piece.len);
    }
    c->text.len = len_old + piece.len;
    c->text.ptr[c->text.len] = '\0';
    bool accepted = false;
    int rc = run(c, &c->cur, &c->next, c->text.len, false, &accepted, err);
    if (rc == 0 && c->next.n > 0) {
        *viable = true;
    }
    if (rc == 0 && *viable && commit) {
        vset tmp = c->cur;
        c->cur = c->next;
        c->next = tmp;
        if (c->lang->indent) {
            c->indent = c->indent_try;
        }
    } else {
        c->text.len = len_old;
        c->text.ptr[len_old] = '\0';
    }
    return rc;
}

int gram_checker_feed(gram_checker *c, core_str piece, bool *viable, core_err *err)
{
    return advance(c, piece, true, viable, err);
}

int gram_checker_try(gram_checker *c, core_str piece, bool *viable, core_err *err)
{
    return advance(c, piece, false, viable, err);
}

int gram_checker_is_complete(gram_checker *c, bool *complete, core_err *err)
{
    *complete = false;
    if (c->lang->indent) {
        c->indent_try = c->indent;
        if (!gram__indent_scan(&c->indent_try, c->suffix, c->suffix_len, c->text.len) ||
            !gram__indent_is_complete(&c->indent_try)) {
            return 0;
        }
    }
    size_t len_old = c->text.len;
    if (core_buf_reserve(&c->text, c->suffix_len + 1) < 0) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for the text",
                            c->lang->name);
    }
    if (c->suffix_len) {
        memcpy(c->text.ptr + len_old, c->suffix, c->suffix_len);
    }
    c->text.len = len_old + c->suffix_len;
    c->text.ptr[c->text.len] = '\0';
    int rc = run(c, &c->cur, &c->next, c->text.len, true, complete, err);
    c->text.len = len_old;
    c->text.ptr[len_old] = '\0';
    return rc;
}

int gram_checker_is_complete_at(gram_checker *c, size_t len, bool *complete, core_err *err)
{
    *complete = false;
    if (len > c->text.len) {
        return core_err_set(err, CORE_EINVAL, "grammar %s: length %zu past the text's %zu bytes",
                            c->lang->name, len, c->text.len);
    }
    if (c->lang->indent) {
        gram__indent *in = &c->indent_try;
        gram__indent_init(in);
        if (!gram__indent_scan(in, c->text.ptr, len, 0) ||
            !gram__indent_scan(in, c->suffix, c->suffix_len, len) ||
            !gram__indent_is_complete(in)) {
            return 0;
        }
    }
    /* The text after len steps aside for the suffix and comes back after the run. */
    size_t len_old = c->text.len;
    size_t n_tail = len_old - len;
    char *tail = NULL;
    if (n_tail > 0) {
        tail = core_malloc(n_tail);
        if (!tail) {
            return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for the text",
                                c->lang->name);
        }
        memcpy(tail, c->text.ptr + len, n_tail);
    }
    TSStateId first = 1;
    vset start = {0};
    int rc = core_buf_reserve(&c->text, c->suffix_len + 1);
    if (rc == 0) {
        rc = vset_push(&start, 0, &first, 1, NULL, 0);
    }
    if (rc == 0) {
        if (c->suffix_len) {
            memcpy(c->text.ptr + len, c->suffix, c->suffix_len);
        }
        rc = run(c, &start, &c->next, len + c->suffix_len, true, complete, err);
    } else {
        rc =
            core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for the text", c->lang->name);
    }
    vset_dispose(&start);
    if (n_tail > 0) {
        memcpy(c->text.ptr + len, tail, n_tail);
    }
    c->text.len = len_old;
    c->text.ptr[len_old] = '\0';
    core_free(tail);
    return rc;
}

core_str gram_checker_text(const gram_checker *c)
{
    return (core_str){c->text.ptr, c->text.len};
}

size_t gram_checker_n_versions(const gram_checker *c)
{
    return c->cur.n;
}

size_t gram_checker_n_versions_peak(const gram_checker *c)
{
    return c->n_versions_peak;
}

int gram_snapshot_new(gram_snapshot **out, core_err *err)
{
    *out = core_calloc(1, sizeof(**out));
    if (!*out) {
        return core_err_set(err, CORE_ENOMEM, "grammar snapshot: out of memory");
    }
    return 0;
}

void gram_snapshot_free(gram_snapshot *snap)
{
    if (!snap) {
        return;
    }
    vset_dispose(&snap->set);
    core_buf_dispose(&snap->text);
    core_free(snap);
}

int gram_checker_save(gram_checker *c, gram_snapshot *snap, core_err *err)
{
    snap->owner = NULL;
    snap->text.len = 0;
    if (vset_copy(&snap->set, &c->cur) < 0 ||
        core_buf_append(&snap->text, c->text.ptr, c->text.len) < 0) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory for a snapshot",
                            c->lang->name);
    }
    snap->indent = c->indent;
    snap->owner = c;
    return 0;
}

int gram_checker_restore(gram_checker *c, const gram_snapshot *snap, core_err *err)
{
    if (snap->owner != c) {
        return core_err_set(err, CORE_EINVAL, "grammar %s: snapshot is not from this checker",
                            c->lang->name);
    }
    /* Reserve first, so that a failure leaves the checker as it was. */
    if (core_buf_reserve(&c->text, snap->text.len > c->text.len ? snap->text.len - c->text.len + 16
                                                                : 16) < 0 ||
        vset_copy(&c->cur, &snap->set) < 0) {
        return core_err_set(err, CORE_ENOMEM, "grammar %s: out of memory restoring a snapshot",
                            c->lang->name);
    }
    if (snap->text.len) {
        memcpy(c->text.ptr, snap->text.ptr, snap->text.len);
    }
    c->text.len = snap->text.len;
    c->text.ptr[c->text.len] = '\0';
    c->indent = snap->indent;
    return 0;
}
