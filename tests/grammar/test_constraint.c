/* Tests of grammar/constraint.c: the sampler's view of the checker over a toy vocabulary. */
#include "tests/grammar/tests.h"

#include <math.h>

/* A toy vocabulary: BPE-like pieces of a small Python function, plus an end token. */
static const char *const toy_pieces[] = {"def",    " f", "(",  "x",  ")", ":",    "\n", "    ",
                                         "return", " x", " +", " 1", "]", "retu", "rn", ""};
#define TOY_N   (sizeof(toy_pieces) / sizeof(toy_pieces[0]))
#define TOY_EOS ((int32_t)TOY_N - 1)

typedef struct toy {
    core_str pieces[TOY_N];
    bool is_eog[TOY_N];
    gram_vocab vocab;
} toy;

static void toy_init(toy *t)
{
    for (size_t i = 0; i < TOY_N; i++) {
        t->pieces[i] = core_str_c(toy_pieces[i]);
        t->is_eog[i] = (int32_t)i == TOY_EOS;
    }
    t->vocab = (gram_vocab){t->pieces, t->is_eog, TOY_N};
}

static int32_t toy_id(const char *piece)
{
    for (size_t i = 0; i < TOY_N; i++) {
        if (core_str_eq_c(core_str_c(toy_pieces[i]), piece)) {
            return (int32_t)i;
        }
    }
    ck_abort_msg("no piece %s", piece);
    return -1;
}

static bool allows(gram_constraint *gc, int32_t token)
{
    bool ok = false;
    ck_assert_int_eq(gram_constraint_allows(gc, token, &ok, NULL), 0);
    return ok;
}

START_TEST(constraint__allows_only_viable_tokens_and_eos_when_complete)
{
    toy t;
    toy_init(&t);
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    gram_constraint *gc = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert_int_eq(gram_constraint_new(&gc, c, &t.vocab, NULL), 0);
    const char *const program[] = {"def",  " f",   "(",  "x",  ")",  ":",  "\n",
                                   "    ", "retu", "rn", " x", " +", " 1", "\n"};
    /* where the program cannot end, after i pieces (a header needs its indented block) */
    static const bool open_after[] = {false, true, true,  true,  true,  true, true,
                                      true,  true, false, false, false, true, false};
    for (size_t i = 0; i < sizeof(program) / sizeof(program[0]); i++) {
        ck_assert_int_eq(allows(gc, TOY_EOS), !open_after[i]);
        ck_assert(!allows(gc, toy_id("]")));
        ck_assert(allows(gc, toy_id(program[i])));
        ck_assert_int_eq(gram_constraint_accept(gc, toy_id(program[i]), NULL), 0);
    }
    ck_assert(allows(gc, TOY_EOS));
    ck_assert_uint_gt(gram_constraint_n_checks(gc), 40);
    ck_assert_uint_gt(gram_constraint_ns_checks(gc), 0);
    core_err err = {0};
    ck_assert_int_eq(gram_constraint_accept(gc, toy_id(")"), &err), CORE_EINVAL);
    bool ok = true;
    ck_assert_int_eq(gram_constraint_allows(gc, 999, &ok, &err), CORE_EINVAL);
    gram_constraint_free(gc);
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(constraint__mask_forbids_what_breaks_the_program)
{
    toy t;
    toy_init(&t);
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    gram_constraint *gc = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert_int_eq(gram_constraint_new(&gc, c, &t.vocab, NULL), 0);
    bool viable = false;
    ck_assert_int_eq(gram_checker_feed(c, core_str_c("def f(x"), &viable, NULL), 0);
    float logits[TOY_N];
    for (size_t i = 0; i < TOY_N; i++) {
        logits[i] = 1.0f;
    }
    ck_assert_int_eq(gram_constraint_mask(gc, logits, TOY_N, NULL), 0);
    ck_assert(logits[toy_id(")")] == 1.0f);
    ck_assert(logits[toy_id("x")] == 1.0f); /* x -> xx */
    ck_assert(logits[toy_id(" +")] == -INFINITY);
    ck_assert(logits[toy_id("]")] == -INFINITY);
    ck_assert(logits[TOY_EOS] == -INFINITY);
    ck_assert(logits[toy_id(":")] == 1.0f); /* annotation: def f(x: int) */
    ck_assert_int_eq(gram_constraint_mask(gc, logits, TOY_N - 1, NULL), CORE_EINVAL);
    gram_constraint_free(gc);
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

TCase *tcase_constraint(void)
{
    TCase *tc = tcase_create("constraint");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, constraint__allows_only_viable_tokens_and_eos_when_complete);
    tcase_add_test(tc, constraint__mask_forbids_what_breaks_the_program);
    return tc;
}
