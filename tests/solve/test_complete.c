/*
 * Tests of solve/complete.c: where a completion ends for each scope (strings and comments
 * skipped), and on the default model: a completion that keeps the file parseable, the cached
 * prompt reused after a one-character edit, the window that bounds long documents, cancellation.
 */
#include "tests/solve/tests.h"

#include <string.h>

#include "solve/solve.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

typedef struct end_case {
    solve_lang lang;
    solve_scope scope;
    const char *line; /* the cursor's line before it */
    size_t depth;     /* C brace depth at the cursor */
    const char *text; /* generated */
    long end;         /* kept length, -1: not ended */
} end_case;

static const end_case end_cases[] = {
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_LINE, "    x = ", 0, "f(1)\n    y", 4},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_LINE, "    x = ", 0, "f(1)", -1},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_LINE, "    x = ", 0, "'a\\nb' # c\n", 10},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_STATEMENT, "    x = ", 0, "f(1,\n      2)\n    y", 13},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_STATEMENT, "    ", 0,
     "if a:\n        b()\n        c()\n    d()", 29},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_STATEMENT, "    s = ", 0, "\"\"\"x\ny\"\"\"\n    z", 9},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_BLOCK, "        ", 0, "a()\n        b()\n    return", 15},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_BLOCK, "        ", 0, "a()\n\n        b()\n", -1},
    {SOLVE_LANG_PYTHON, SOLVE_SCOPE_FUNCTION, "    ", 0, "a()\n    if b:\n        c()\n\ndef g",
     25},
    {SOLVE_LANG_C, SOLVE_SCOPE_LINE, "    x = ", 1, "f(1);\n    y", 5},
    {SOLVE_LANG_C, SOLVE_SCOPE_STATEMENT, "    x = ", 1, "f(\";\", 1); y", 10},
    {SOLVE_LANG_C, SOLVE_SCOPE_STATEMENT, "    ", 1, "if (a) {\n        b();\n    }\n", 27},
    {SOLVE_LANG_C, SOLVE_SCOPE_STATEMENT, "    ", 1, "/* } */ b();", 12},
    {SOLVE_LANG_C, SOLVE_SCOPE_BLOCK, "    ", 1, "a();\n    b();\n}\n", 13},
    {SOLVE_LANG_C, SOLVE_SCOPE_FUNCTION, "    ", 2, "a();\n    }\n    return 0;\n}\nint", 26},
};

START_TEST(complete__scopes_end_where_they_should)
{
    const end_case *c = &end_cases[_i];
    size_t end = 0;
    bool done = solve_complete_end(c->lang, c->scope, core_str_c(c->line), c->depth,
                                   core_str_c(c->text), &end);
    ck_assert_msg(done == (c->end >= 0), "case %d: ended %d", _i, done);
    ck_assert_uint_eq(end, c->end >= 0 ? (size_t)c->end : strlen(c->text));
}
END_TEST

START_TEST(complete__c_depth_skips_strings_and_comments)
{
    ck_assert_uint_eq(solve_complete_depth(SOLVE_LANG_C, core_str_c("int f() { if (x) { s = \"}\"; "
                                                                    "// }\n c = '}'; /* } */")),
                      2);
    ck_assert_uint_eq(solve_complete_depth(SOLVE_LANG_C, core_str_c("}}} {")), 1);
}
END_TEST

START_TEST(complete__scope_names_round_trip)
{
    for (int i = 0; i < 4; i++) {
        solve_scope s = SOLVE_SCOPE_LINE;
        ck_assert(solve_scope_parse(&s, solve_scope_name((solve_scope)i)));
        ck_assert_int_eq(s, i);
    }
    solve_scope s = SOLVE_SCOPE_LINE;
    ck_assert(!solve_scope_parse(&s, "file"));
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* On the model                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef struct fixture {
    gen_model *model;
    solve_completer *completer;
    solve_session *session;
} fixture;

static void fixture_open(fixture *f, size_t n_ctx)
{
    memset(f, 0, sizeof(*f));
    gen_model_options mo = gen_model_options_default();
    core_err err = {0};
    ck_assert_msg(gen_model_load(&f->model, MODEL_PATH, &mo, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(solve_completer_new(&f->completer, f->model, &err), 0);
    ck_assert(!solve_completer_has_fim(f->completer)); /* SmolLM2 has no FIM tokens */
    solve_session_options so = solve_session_options_default();
    so.n_ctx = n_ctx;
    so.n_threads = 2;
    ck_assert_int_eq(solve_session_new(&f->session, f->completer, &so, &err), 0);
}

static void fixture_close(fixture *f)
{
    solve_session_free(f->session);
    solve_completer_free(f->completer);
    gen_model_free(f->model);
}

static const char doc[] = "def area(width, height):\n"
                          "    \"\"\"Area of a rectangle.\"\"\"\n"
                          "    return \n"
                          "\n"
                          "\n"
                          "print(area(2, 3))\n";

START_TEST(complete__completion_keeps_the_file_parseable)
{
    fixture f;
    fixture_open(&f, 512);
    size_t at = strstr(doc, "return ") - doc + 7;
    solve_completions *res = NULL;
    core_err err = {0};
    solve_complete_options o = solve_complete_options_default();
    o.n_candidates = 2;
    ck_assert_msg(solve_complete(&res, f.session, (core_str){doc, at},
                                 (core_str){doc + at, strlen(doc) - at}, &o, NULL, &err) == 0,
                  "%s", err.msg);
    ck_assert(res->grammar);
    ck_assert_uint_ge(res->n_items, 1);
    ck_assert_uint_le(res->n_items, 2);
    ck_assert(res->items[0].parses);
    ck_assert_ptr_null(strchr(res->items[0].text, '\n'));
    ck_assert_uint_eq(res->n_tokens_reused, 0);
    ck_assert_uint_eq(res->n_tokens_decoded, res->n_tokens_prompt);
    solve_completions_free(res);
    fixture_close(&f);
}
END_TEST

START_TEST(complete__one_character_edit_decodes_only_the_tail)
{
    fixture f;
    fixture_open(&f, 512);
    size_t at = strstr(doc, "return ") - doc + 7;
    core_buf edited = {0};
    ck_assert_int_eq(core_buf_append(&edited, doc, at), 0);
    ck_assert_int_eq(core_buf_append(&edited, "w", 1), 0);
    ck_assert_int_eq(core_buf_append(&edited, doc + at, strlen(doc) - at), 0);
    solve_complete_options o = solve_complete_options_default();
    o.n_tokens_max = 4;
    solve_completions *res = NULL;
    ck_assert_int_eq(
        solve_complete(&res, f.session, (core_str){doc, at}, core_str_c(""), &o, NULL, NULL), 0);
    size_t n_first = res->n_tokens_prompt;
    ck_assert_uint_eq(solve_session_n_cached(f.session), n_first);
    solve_completions_free(res);
    ck_assert_int_eq(solve_complete(&res, f.session, (core_str){edited.ptr, at + 1}, core_str_c(""),
                                    &o, NULL, NULL),
                     0);
    ck_assert_uint_ge(res->n_tokens_reused + 3, n_first);
    ck_assert_uint_le(res->n_tokens_decoded, 3);
    ck_assert_uint_eq(res->n_tokens_reused + res->n_tokens_decoded, res->n_tokens_prompt);
    solve_completions_free(res);
    /* The same text again: only the last token, for its logits. */
    ck_assert_int_eq(solve_complete(&res, f.session, (core_str){edited.ptr, at + 1}, core_str_c(""),
                                    &o, NULL, NULL),
                     0);
    ck_assert_uint_eq(res->n_tokens_decoded, 1);
    solve_completions_free(res);
    core_buf_dispose(&edited);
    fixture_close(&f);
}
END_TEST

START_TEST(complete__long_documents_use_a_window)
{
    fixture f;
    fixture_open(&f, 256);
    core_buf big = {0};
    for (int i = 0; i < 2000; i++) {
        ck_assert_int_ge(core_buf_appendf(&big, "x%d = %d\n", i, i), 0);
    }
    ck_assert_int_ge(core_buf_appendf(&big, "y = "), 0);
    solve_complete_options o = solve_complete_options_default();
    o.n_tokens_max = 8;
    solve_completions *res = NULL;
    core_err err = {0};
    ck_assert_msg(solve_complete(&res, f.session, (core_str){big.ptr, big.len}, core_str_c(""), &o,
                                 NULL, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_le(res->n_tokens_prompt + 8, 256);
    ck_assert_uint_gt(res->n_tokens_prompt, 64);
    solve_completions_free(res);
    core_buf_dispose(&big);
    fixture_close(&f);
}
END_TEST

static bool always(void *payload)
{
    (void)payload;
    return true;
}

START_TEST(complete__cancel_stops_with_ecanceled)
{
    fixture f;
    fixture_open(&f, 512);
    core_cancel cancel = {always, NULL};
    solve_completions *res = NULL;
    ck_assert_int_eq(
        solve_complete(&res, f.session, core_str_c(doc), core_str_c(""), NULL, &cancel, NULL),
        CORE_ECANCELED);
    ck_assert_ptr_null(res);
    /* The session stays usable. */
    ck_assert_int_eq(
        solve_complete(&res, f.session, core_str_c(doc), core_str_c(""), NULL, NULL, NULL), 0);
    solve_completions_free(res);
    fixture_close(&f);
}
END_TEST

/* Completions on a gen_queue (kiln lsp's path) are those of a session's own context, and the
 * queue's prefix cache decodes only the tail after an edit. */
START_TEST(complete__queue_gives_the_session_completions)
{
    fixture f;
    fixture_open(&f, 512);
    core_err err = {0};
    gen_queue_options qo = gen_queue_options_default();
    qo.n_parallel = 3;
    qo.n_ctx = 512;
    qo.n_threads = 2;
    qo.n_chunk = 16; /* the prompt in several steps */
    gen_queue *q = NULL;
    ck_assert_msg(gen_queue_new(&q, f.model, &qo, &err) == 0, "%s", err.msg);
    solve_completer *qc = NULL;
    ck_assert_int_eq(solve_completer_new(&qc, f.model, &err), 0);
    solve_completer_set_queue(qc, q);
    solve_session_options so = solve_session_options_default();
    so.n_ctx = 512;
    solve_session *qs = NULL;
    ck_assert_int_eq(solve_session_new(&qs, qc, &so, &err), 0);

    size_t at = strstr(doc, "return ") - doc + 7;
    core_str pre = {doc, at};
    core_str suf = {doc + at, strlen(doc) - at};
    solve_complete_options o = solve_complete_options_default();
    o.n_candidates = 3;
    o.temp = 1.0f;
    solve_completions *a = NULL;
    solve_completions *b = NULL;
    ck_assert_msg(solve_complete(&a, f.session, pre, suf, &o, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(solve_complete(&b, qs, pre, suf, &o, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(b->n_items, a->n_items);
    for (size_t i = 0; i < a->n_items; i++) {
        ck_assert_str_eq(b->items[i].text, a->items[i].text);
        ck_assert_uint_eq(b->items[i].n_tokens, a->items[i].n_tokens);
        ck_assert_int_eq(b->items[i].parses, a->items[i].parses);
        ck_assert_double_eq_tol(b->items[i].logprob_mean, a->items[i].logprob_mean, 1e-9);
    }
    ck_assert_uint_eq(b->n_tokens_prompt, a->n_tokens_prompt);
    ck_assert_uint_eq(b->n_tokens_generated, a->n_tokens_generated);
    ck_assert_uint_eq(b->n_tokens_reused, 0);
    ck_assert_uint_eq(solve_session_n_cached(qs), 0); /* the queue holds it */
    const size_t n_first = b->n_tokens_prompt;
    solve_completions_free(a);
    solve_completions_free(b);

    /* One character typed: the queue's slots hold the prompt. */
    core_buf edited = {0};
    ck_assert_int_eq(core_buf_append(&edited, doc, at), 0);
    ck_assert_int_eq(core_buf_append(&edited, "w", 1), 0);
    o.n_candidates = 1;
    ck_assert_int_eq(
        solve_complete(&b, qs, (core_str){edited.ptr, edited.len}, core_str_c(""), &o, NULL, &err),
        0);
    ck_assert_uint_ge(b->n_tokens_reused + 3, n_first);
    ck_assert_uint_le(b->n_tokens_decoded, 3);
    ck_assert_uint_ge(b->n_tokens_decoded, 1);
    ck_assert_uint_eq(b->n_tokens_reused + b->n_tokens_decoded, b->n_tokens_prompt);
    solve_completions_free(b);

    /* A cancel ends the requests; the queue and the session serve the next completion. */
    core_cancel cancel = {always, NULL};
    ck_assert_int_eq(solve_complete(&b, qs, pre, suf, &o, &cancel, NULL), CORE_ECANCELED);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(solve_complete(&b, qs, pre, suf, &o, NULL, NULL), 0);
    ck_assert_uint_ge(b->n_items, 1);
    solve_completions_free(b);
    gen_queue_stats st = gen_queue_stats_get(q);
    ck_assert_uint_eq(st.n_running + st.n_pending, 0);

    core_buf_dispose(&edited);
    solve_session_free(qs);
    solve_completer_free(qc);
    gen_queue_free(q);
    fixture_close(&f);
}
END_TEST

TCase *tcase_complete(void)
{
    TCase *tc = tcase_create("complete");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, complete__scopes_end_where_they_should, 0,
                        (int)(sizeof(end_cases) / sizeof(end_cases[0])));
    tcase_add_test(tc, complete__c_depth_skips_strings_and_comments);
    tcase_add_test(tc, complete__scope_names_round_trip);
    return tc;
}

TCase *tcase_complete_model(void)
{
    TCase *tc = tcase_create("complete_model");
    tcase_set_tags(tc, "slow");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, complete__completion_keeps_the_file_parseable);
    tcase_add_test(tc, complete__one_character_edit_decodes_only_the_tail);
    tcase_add_test(tc, complete__long_documents_use_a_window);
    tcase_add_test(tc, complete__cancel_stops_with_ecanceled);
    tcase_add_test(tc, complete__queue_gives_the_session_completions);
    return tc;
}
