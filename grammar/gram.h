/*
 * grammar: grammar-constrained decoding. A tree-sitter grammar of the target language (Python
 * and C; tree-sitter's generated tables, fetched by scripts/fetch-grammars.sh) decides which
 * continuations keep a program a viable prefix of some complete program. The checker drives the
 * grammar's LR parse table and lexers directly (no error recovery), so it rejects a piece of
 * text exactly when no continuation can repair it, and never because a prefix is incomplete.
 * For Python it also holds the rules that tree-sitter-python leaves to CPython (an indented
 * block after each header, dedents only to an enclosing level, consistent tabs, `as` only in
 * with items, except clauses, imports and match cases, a comprehension alone in its brackets,
 * a conditional's condition never itself a conditional, no logical line ending
 * right after an operator such as `and` or `+`), and in both languages a reserved word
 * is never a name.
 * The constraint wraps a checker for the sampler's logits hook (gen_constraint in gen/gen.h);
 * this module does not depend on gen/.
 */
#ifndef KILN_GRAM_H
#define KILN_GRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------ */
/* Languages                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** Largest text the checker and gram_source_check accept, in bytes (CORE_ELIMIT beyond). */
#define GRAM_TEXT_MAX ((size_t)8 << 20)

/**
 * A loaded grammar: the tree-sitter tables plus what kiln precomputes from them (the keyword
 * strings). Immutable after load: share it freely between threads.
 */
typedef struct gram_lang gram_lang;

/**
 * Loads the grammar named name ("python" or "c"). Caller frees with gram_lang_free. Codes:
 * CORE_ENOTFOUND (no such grammar compiled in), CORE_EUNSUPPORTED (the grammar's ABI is not
 * one the runtime loads), CORE_ENOMEM.
 */
int gram_lang_load(gram_lang **out, const char *name, core_err *err);
void gram_lang_free(gram_lang *lang);

/** The grammar's name ("python"). Static storage. */
const char *gram_lang_name(const gram_lang *lang);

/** Names of the compiled-in grammars, NULL-terminated. Static storage. */
const char *const *gram_lang_names(void);

/* ------------------------------------------------------------------------------------------ */
/* Whole-text checks (tree-sitter's own parser)                                               */
/* ------------------------------------------------------------------------------------------ */

/** Where a parse failed. */
typedef struct gram_source_report {
    bool ok;           /* the text parses without an ERROR or MISSING node */
    size_t err_byte;   /* byte offset of the first error (when !ok) */
    uint32_t err_line; /* 1-based line of err_byte */
    uint32_t err_col;  /* 1-based byte column of err_byte */
    const char *what;  /* static text naming the error ("syntax error", "unexpected end of
                          input", or the Python rule broken); NULL when ok */
} gram_source_report;

/**
 * Validates text as input for the grammar: it must be UTF-8, contain no NUL byte and be at
 * most GRAM_TEXT_MAX bytes. Codes: CORE_EPARSE (binary or invalid UTF-8; the message names the
 * byte offset), CORE_ELIMIT (too large).
 */
int gram_text_validate(core_str text, core_err *err);

/**
 * Parses text with tree-sitter's parser and reports whether it parses without error; for
 * Python also whether it holds the indentation rules (an indented block after each header,
 * dedents only to an enclosing level), which tree-sitter's grammar does not. A text that does
 * not parse is not a failure (rc 0, out->ok false). The error reported is the first one: the
 * byte where the incremental checker finds that no continuation can repair the text (the end
 * of the text when it is only incomplete), else the innermost ERROR or MISSING node of the
 * first one in the tree. Codes: those of gram_text_validate, CORE_ENOMEM, CORE_ERROR (the
 * runtime refused the grammar).
 */
int gram_source_check(gram_source_report *out, const gram_lang *lang, core_str text, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Code-quality metrics (tree-sitter's parse of a function or a file)                         */
/* ------------------------------------------------------------------------------------------ */

/**
 * Measures of one source text, for ranking candidates (the generator copies them into eval's
 * eval_quality). Counted from tree-sitter's syntax tree, also when the text has errors (parses is
 * then false and the measures cover what the parser recovered).
 *
 * cyclomatic: 1 + decision points. Python: if, elif, for, while, except (and except*), the
 * conditional expression, each and/or, comprehension for and if clauses, match cases other
 * than `case _`. C: if, for, while, do, case labels (not default), ?:, each && and ||, __except.
 * nesting_max: the deepest nesting of control statements (Python: if, for, while, try, with,
 * match; C: if, for, while, do, switch); `elif` and C's `else if` continue a chain and do not
 * nest; a function body is depth 0. Names are the ones the text defines: functions, classes,
 * parameters, assigned variables (Python assignment and walrus targets; C declarators) and loop
 * variables (Python for targets, C names declared or assigned in a for initializer); each
 * distinct name is judged once, by its first definition. Python's style: snake_case (or one
 * lowercase word) for functions, parameters and variables, UPPER_CASE also for variables
 * assigned outside functions, CapWords for classes. C's style is consistency: the most used of
 * snake_case, camelCase and PascalCase wins (ties in that order); names in another of those
 * three, or mixing case and underscores, are bad; lowercase words and UPPER_CASE fit any.
 * Leading and trailing underscores are ignored. A short name is one letter, not `_`, and never
 * a loop variable.
 */
typedef struct gram_metrics {
    bool parses;              /* no ERROR or MISSING node (Python: and indentation holds) */
    uint32_t cyclomatic;      /* 1 + decision points, summed over the whole text */
    uint32_t nesting_max;     /* deepest nesting of control statements (0: none) */
    uint32_t n_lines;         /* lines holding at least one token of code */
    uint32_t n_tokens;        /* tokens of code; a string literal is one token; no comments */
    uint32_t n_comment_lines; /* lines holding a comment, or part of a Python docstring */
    uint32_t n_functions;     /* function definitions */
    uint32_t n_names;         /* distinct names defined (at most 4096 are kept) */
    uint32_t n_names_bad;     /* names that break the language's style (above) */
    uint32_t n_names_short;   /* one-letter names that are not loop variables */
} gram_metrics;

/**
 * Parses text with tree-sitter and measures it. A text that does not parse is measured anyway
 * (out->parses false). Codes: those of gram_text_validate, CORE_ENOMEM, CORE_ERROR (the runtime
 * refused the grammar). Any thread; lang is only read.
 */
int gram_metrics_compute(gram_metrics *out, const gram_lang *lang, core_str text, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Function definitions and stubs (tree-sitter's parse of a file)                             */
/* ------------------------------------------------------------------------------------------ */

/** Why a function counts as a stub (a body still to be written), or GRAM_STUB_NONE. */
typedef enum gram_stub {
    GRAM_STUB_NONE = 0,
    GRAM_STUB_PASS,      /* Python: the body (after a docstring) is only `pass` */
    GRAM_STUB_ELLIPSIS,  /* Python: only `...` */
    GRAM_STUB_RAISE,     /* Python: only `raise NotImplementedError(...)` */
    GRAM_STUB_DOCSTRING, /* Python: only a docstring */
    GRAM_STUB_EMPTY,     /* C: an empty body (comments only) under a describing comment */
    GRAM_STUB_TODO,      /* C: a body marked TODO (at most a return besides) under a comment */
} gram_stub;

/** "none", "pass", "ellipsis", "raise", "docstring", "empty", "todo". Static storage. */
const char *gram_stub_name(gram_stub stub);

/**
 * One function definition of a file, as byte offsets into the parsed text. Python: top-level
 * functions and methods of top-level classes (nested functions are not listed); C: function
 * definitions at file scope (also inside preprocessor conditionals).
 */
typedef struct gram_func {
    size_t name_start, name_len;   /* the function's name */
    size_t scope_start, scope_len; /* Python: the enclosing class's name (len 0: none) */
    size_t def_start;              /* the definition's first byte (after decorators) */
    size_t def_end;                /* one past its last byte */
    size_t head_end;               /* Python: end of the docstring, else of the ':' line's
                                      text before the body; C: the body's '{' */
    size_t impl_start;             /* Python: first statement after the docstring (def_end when
                                      none); C: the body's '{' */
    size_t doc_start, doc_len;     /* Python: the docstring; C: the comment block right above
                                      the definition (len 0: none) */
    size_t indent;                 /* Python: column of the body's statements; C: 0 */
    uint32_t line;                 /* 1-based line of def_start */
    gram_stub stub;
} gram_func;

/**
 * Parses text with tree-sitter and lists its function definitions in source order. *out is
 * allocated with core_malloc (caller frees; NULL when none) and *n_out is its length. A text
 * with syntax errors is listed as far as the parser recovered. Codes: those of
 * gram_text_validate, CORE_ENOMEM, CORE_ERROR (the runtime refused the grammar). Any thread.
 */
int gram_funcs_find(gram_func **out, size_t *n_out, const gram_lang *lang, core_str text,
                    core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* C names that resolve to nothing (names.c)                                                  */
/* ------------------------------------------------------------------------------------------ */

/**
 * What the system headers declare, learnt from the compiler (`cc -E -dD -P` of `#include
 * <NAME>`, once per header) and kept for later texts. One thread at a time.
 */
typedef struct gram_names gram_names;

/** Creates an empty cache that asks compiler cc (NULL: "cc" on PATH; borrowed). CORE_ENOMEM. */
int gram_names_new(gram_names **out, const char *cc, core_err *err);
void gram_names_free(gram_names *names);

/**
 * For a C text that parses: *undeclared is the byte offset of the first name it uses that
 * resolves to nothing (neither declared anywhere in the text, as a variable, parameter,
 * function, typedef, enumerator or macro, nor by a system header it includes, nor starting
 * with `__`), else SIZE_MAX. A called function counts as a use (C99 removed implicit
 * declarations). Scopes are not followed: a name declared anywhere counts. The
 * answer is SIZE_MAX (unknown) too when the text includes a header with quotes or one the
 * compiler could not preprocess, and for a language other than C. Codes: those of
 * gram_text_validate, CORE_ENOMEM, CORE_ERROR (the runtime refused the grammar).
 */
int gram_names_check(size_t *undeclared, gram_names *names, const gram_lang *lang, core_str text,
                     core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The incremental checker                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Tracks a text that grows piece by piece and knows whether it is still a viable prefix of a
 * program of its language. It keeps every GLR version of the LR parse (parse-state stack plus
 * the external scanner's serialized state) for the committed tokens; the last lexeme, which
 * the next piece may still change (`retu` may become `return`), is held back and only checked
 * for whether it can still start a valid token. One thread at a time; borrows its language.
 */
typedef struct gram_checker gram_checker;

typedef struct gram_checker_options {
    size_t n_versions_max; /* GLR versions kept at most (default 64); beyond it the checker
                              stops rejecting rather than risk a false rejection */
    core_str suffix;       /* text after the cursor (completion inside a file); copied.
                              is_complete then asks whether text + suffix parses */
} gram_checker_options;

gram_checker_options gram_checker_options_default(void);

/** Creates a checker at the empty text. Borrows lang (must outlive it). CORE_ENOMEM. */
int gram_checker_new(gram_checker **out, const gram_lang *lang, const gram_checker_options *opts,
                     core_err *err);
void gram_checker_free(gram_checker *checker);

/** Returns to the empty text (keeping the suffix). */
void gram_checker_reset(gram_checker *checker);

/**
 * Appends piece to the text and reports in *viable whether the text is still a viable prefix.
 * When it is not, nothing is appended and the checker stays as it was (so a caller can try the
 * next candidate). Codes: CORE_EPARSE (piece has a NUL byte), CORE_ELIMIT (the text would pass
 * GRAM_TEXT_MAX), CORE_ENOMEM (checker unchanged).
 */
int gram_checker_feed(gram_checker *checker, core_str piece, bool *viable, core_err *err);

/**
 * Like gram_checker_feed but never commits: answers whether text + piece is viable and leaves
 * the checker as it was. Same codes.
 */
int gram_checker_try(gram_checker *checker, core_str piece, bool *viable, core_err *err);

/**
 * Whether the text so far (followed by the suffix, when one was given) is a complete program:
 * the parse accepts at the end of input. Codes: CORE_ENOMEM.
 */
int gram_checker_is_complete(gram_checker *checker, bool *complete, core_err *err);

/**
 * Whether the first len bytes of the text (followed by the suffix, when one was given) are a
 * complete program; the checker's state does not change. It parses those bytes again from the
 * start, so it costs a feed of len bytes: for the end of a generation, not for every token.
 * Codes: CORE_EINVAL (len past the text), CORE_ENOMEM.
 */
int gram_checker_is_complete_at(gram_checker *checker, size_t len, bool *complete, core_err *err);

/** The text fed so far. Borrowed; valid until the next call on checker. */
core_str gram_checker_text(const gram_checker *checker);

/**
 * Statistics: versions alive now, and the most seen since creation (a sign of how ambiguous
 * the grammar was on this text).
 */
size_t gram_checker_n_versions(const gram_checker *checker);
size_t gram_checker_n_versions_peak(const gram_checker *checker);

/** A saved checker state. Owned by the caller; one thread at a time. */
typedef struct gram_snapshot gram_snapshot;

/** Creates an empty snapshot for checkers of lang. CORE_ENOMEM. */
int gram_snapshot_new(gram_snapshot **out, core_err *err);
void gram_snapshot_free(gram_snapshot *snap);

/**
 * Saves the checker's state into snap (reusing snap's memory). Cost: a copy of the live
 * versions and of the text. CORE_ENOMEM (snap left empty).
 */
int gram_checker_save(gram_checker *checker, gram_snapshot *snap, core_err *err);

/**
 * Restores a state saved from this checker (text and versions), whatever happened since.
 * Codes: CORE_EINVAL (snap empty or from another checker), CORE_ENOMEM (checker unchanged).
 */
int gram_checker_restore(gram_checker *checker, const gram_snapshot *snap, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The constraint (plugs into the sampler's logits hook)                                      */
/* ------------------------------------------------------------------------------------------ */

/**
 * A model vocabulary as the constraint sees it: the bytes of each token and which tokens end
 * generation. Borrowed by the constraint; must outlive it.
 */
typedef struct gram_vocab {
    const core_str *pieces; /* (n_vocab) bytes each token detokenizes to */
    const bool *is_eog;     /* (n_vocab) true for tokens that end generation */
    size_t n_vocab;
} gram_vocab;

/**
 * Wraps a checker as a constraint on the next token. Cheap strategy: the sampler asks about
 * the token it drew (gram_constraint_allows) and draws again when refused, so only the likely
 * tokens are ever checked. An end-of-generation token is allowed only where the program is
 * complete. The payload for gen_constraint is the gram_constraint pointer:
 * `(gen_constraint){.mask = NULL, .allows = gram_constraint_allows, .payload = constraint}`.
 * One thread at a time; borrows checker and vocab.
 */
typedef struct gram_constraint gram_constraint;

int gram_constraint_new(gram_constraint **out, gram_checker *checker, const gram_vocab *vocab,
                        core_err *err);
void gram_constraint_free(gram_constraint *constraint);

/**
 * The gen_constraint `allows` callback: *ok tells whether token keeps the program viable (or,
 * for an end-of-generation token, whether it is complete). payload is a gram_constraint.
 * Codes: CORE_EINVAL (token out of range, named), CORE_ENOMEM.
 */
int gram_constraint_allows(void *payload, int32_t token, bool *ok, core_err *err);

/**
 * The gen_constraint `mask` callback (exact strategy): sets to -INFINITY the logit of every
 * token that would break the program. It tries every token, so it costs n_vocab checks; use
 * allows on the decode path. payload is a gram_constraint. Codes: CORE_EINVAL (n_vocab differs
 * from the vocabulary's), CORE_ENOMEM.
 */
int gram_constraint_mask(void *payload, float *logits, size_t n_vocab, core_err *err);

/**
 * Commits the sampled token to the checker. Codes: CORE_EINVAL (token out of range or not
 * viable, named), CORE_ENOMEM.
 */
int gram_constraint_accept(gram_constraint *constraint, int32_t token, core_err *err);

/** Checks made so far and the nanoseconds they took (the checker's own time per token). */
uint64_t gram_constraint_n_checks(const gram_constraint *constraint);
uint64_t gram_constraint_ns_checks(const gram_constraint *constraint);

/* ------------------------------------------------------------------------------------------ */
/* Replay (how the figures are measured)                                                      */
/* ------------------------------------------------------------------------------------------ */

/** The outcome of feeding a text token by token. */
typedef struct gram_replay_report {
    bool accepted;         /* every token was accepted and the whole text was complete */
    bool complete;         /* the whole text was judged complete (when every token passed) */
    size_t n_tokens;       /* tokens in the text */
    size_t n_fed;          /* tokens accepted before the rejection (or all) */
    size_t rejected_byte;  /* byte offset of the rejected token's start; SIZE_MAX: none */
    size_t rejected_token; /* index of the rejected token; SIZE_MAX: none */
    uint64_t ns_total;     /* time spent in feed calls */
    uint64_t ns_max;       /* slowest single feed */
    size_t slowest_token;  /* index of that feed */
    size_t n_versions_peak;
} gram_replay_report;

/**
 * Feeds text to a fresh checker of lang in n_tokens pieces: piece i ends at byte ends[i]
 * (increasing, the last one text.len). Stops at the first rejected piece. Codes: those of
 * gram_text_validate, CORE_EINVAL (bad ends), CORE_ENOMEM.
 */
int gram_replay(gram_replay_report *out, const gram_lang *lang, core_str text, const size_t *ends,
                size_t n_tokens, core_err *err);

/**
 * Splits text into BPE-like pieces for replays without a model: runs of letters, digits and
 * underscores (bytes >= 0x80 count as letters), runs of blanks, single newlines, and single
 * other bytes. *ends is allocated with core_malloc (caller frees); *n_out its length.
 * CORE_ENOMEM.
 */
int gram_text_split_words(core_str text, size_t **ends, size_t *n_out, core_err *err);

#endif /* KILN_GRAM_H */
