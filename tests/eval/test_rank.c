/* Tests of eval/rank.c: tier order, CodeT agreement, quality and likelihood, the config. */
#include "tests/eval/tests.h"

#include <math.h>
#include <string.h>

#include "eval/eval.h"

/* A card that parses, passed `passed` of 4 tests, with no other information. */
static eval_card card(size_t passed)
{
    return (eval_card){.n_tests_run = 4, .n_tests_passed = passed, .parses = true};
}

static void rank(size_t *order, eval_score *scores, const eval_card *cards, size_t n,
                 const eval_rank_options *opts)
{
    ck_assert_int_eq(eval_rank(order, scores, cards, n, opts, NULL), 0);
}

START_TEST(rank__correctness_comes_first)
{
    eval_card cards[4] = {card(2), card(4), card(4), card(3)};
    cards[0].has_logprob = true;
    cards[0].logprob_mean = -0.01; /* likely but wrong */
    cards[1].has_logprob = true;
    cards[1].logprob_mean = -2.0;
    cards[2].parses = false; /* passes but does not parse: -1 */
    cards[3].limit_hit = true;
    size_t order[4];
    eval_score scores[4];
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[0], 1);
    ck_assert_uint_eq(order[1], 0); /* 0.5 */
    ck_assert_uint_eq(order[2], 3); /* 0.75 - 0.5 */
    ck_assert_uint_eq(order[3], 2); /* 1 - 1 */
    ck_assert_double_eq_tol(scores[3].correctness, 0.25, 1e-12);
    ck_assert_uint_eq(scores[2].rank, 3);
}
END_TEST

START_TEST(rank__agreement_groups_identical_behavior)
{
    /* All pass the visible tests; 1, 2 and 4 behave alike on the generated inputs. */
    eval_card cards[5] = {card(4), card(4), card(4), card(4), card(4)};
    const char *b[5] = {"1\n2\n", "1\n3\n", "9\n", "1\n3\n", "1\n3\n"};
    for (size_t i = 0; i < 5; i++) {
        cards[i].behavior = core_str_c(b[i]);
        cards[i].has_logprob = true;
        cards[i].logprob_mean = -(double)(5 - i); /* the last is the most likely */
    }
    size_t order[5];
    eval_score scores[5];
    rank(order, scores, cards, 5, NULL);
    ck_assert_uint_eq(order[0], 4);
    ck_assert_uint_eq(order[1], 3);
    ck_assert_uint_eq(order[2], 1);
    /* 0 shares its first output with three others: 1 + 3 / 2 lines; 2 shares nothing */
    ck_assert_uint_eq(order[3], 0);
    ck_assert_uint_eq(order[4], 2);
    ck_assert_uint_eq(scores[4].group, 1);
    ck_assert_uint_eq(scores[4].group_size, 3);
    ck_assert_uint_eq(scores[0].group, 0);
    ck_assert_uint_eq(scores[0].group_size, 1);
    ck_assert_double_eq_tol(scores[1].agreement, 1.0, 1e-12);
    ck_assert_double_eq_tol(scores[0].agreement, 2.5 / 3.5, 1e-12);
    ck_assert_double_eq_tol(scores[2].agreement, 1.0 / 3.5, 1e-12);
}
END_TEST

START_TEST(rank__agreement_counts_each_input)
{
    /* No two behave alike on all three inputs, so every group is of one; but 0 agrees with
       1 and 2 on two inputs each and is the right choice although it is the least likely. */
    eval_card cards[4] = {card(0), card(0), card(0), card(0)};
    const char *b[4] = {"x 1\ny 2\nz 3\n", "x 1\ny 2\nz 4\n", "x 1\ny 5\nz 3\n", "x 0\ny 6\nz 7\n"};
    for (size_t i = 0; i < 4; i++) {
        cards[i].behavior = core_str_c(b[i]);
        cards[i].has_logprob = true;
        cards[i].logprob_mean = -0.1 * (double)(4 - i);
    }
    size_t order[4];
    eval_score scores[4];
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[0], 0); /* 1 + (2 + 1 + 1) / 3 */
    ck_assert_uint_eq(order[1], 2); /* 1 + (2 + 0 + 1) / 3, likelier than 1 */
    ck_assert_uint_eq(order[2], 1);
    ck_assert_uint_eq(order[3], 3); /* agrees with nobody */
    ck_assert_uint_eq(scores[0].group_size, 1);
    ck_assert_double_eq_tol(scores[1].agreement, 2.0 / (7.0 / 3.0), 1e-12);
    ck_assert_double_eq_tol(scores[3].agreement, 1.0 / (7.0 / 3.0), 1e-12);
}
END_TEST

START_TEST(rank__crashes_agree_with_nothing)
{
    /* 0 and 1 raise the same errors on both inputs (an input of the wrong type, say): that is
       no agreement, while 2 and 3 return the same value on the first input. Grouping alone
       would pick the pair that crashed. */
    eval_card cards[4] = {card(0), card(0), card(0), card(0)};
    const char *b[4] = {"!x error TypeError\n!y error TypeError\n",
                        "!x error TypeError\n!y error TypeError\n", "x 1\ny 2\n", "x 1\ny 3\n"};
    for (size_t i = 0; i < 4; i++) {
        cards[i].behavior = core_str_c(b[i]);
        cards[i].has_logprob = true;
        cards[i].logprob_mean = i < 2 ? -0.1 : -0.9; /* the crashing pair is likelier */
    }
    size_t order[4];
    eval_score scores[4];
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(scores[0].group_size, 2);
    ck_assert_uint_eq(order[0], 2);
    ck_assert_uint_eq(order[1], 3);
    ck_assert_double_eq_tol(scores[2].agreement, 1.0, 1e-12);
    ck_assert_double_eq_tol(scores[0].agreement, 1.0 / 1.5, 1e-12);
    /* Where every candidate crashes on an input, that input changes nothing. */
    const char *c[3] = {"!x error E\ny 1\n", "!x error E\ny 1\n", "!x error E\ny 2\n"};
    for (size_t i = 0; i < 3; i++) {
        cards[i].behavior = core_str_c(c[i]);
    }
    rank(order, scores, cards, 3, NULL);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_double_eq_tol(scores[2].agreement, 1.0 / 1.5, 1e-12);
}
END_TEST

START_TEST(rank__crashing_voters_count_their_share)
{
    /* Three candidates raise on inputs x and y and return 1 on z and w; W agrees with them on z
       and w and with the pair B on x; the pair B agrees with each other everywhere and with the
       crowd on w only. Counted whole, the crowd's votes make W first (10 agreeing against 9);
       where generated inputs ran, the crowd votes with half its weight (it returned a value on
       half its inputs) and the pair comes first (7.5 against 7). */
    eval_card cards[6] = {card(0), card(0), card(0), card(0), card(0), card(0)};
    const char *b[6] = {"!x e\n!y e\nz 1\nw 1\n", "!x e\n!y e\nz 1\nw 1\n",
                        "!x e\n!y e\nz 1\nw 1\n", "x 5\ny 6\nz 1\nw 1\n",
                        "x 5\ny 7\nz 2\nw 1\n",   "x 5\ny 7\nz 2\nw 1\n"};
    for (size_t i = 0; i < 6; i++) {
        cards[i].behavior = core_str_c(b[i]);
    }
    size_t order[6];
    eval_score scores[6];
    rank(order, scores, cards, 6, NULL);
    ck_assert_uint_eq(order[0], 3);
    for (size_t i = 0; i < 6; i++) {
        cards[i].n_gen_run = 4;
    }
    rank(order, scores, cards, 6, NULL);
    ck_assert_uint_eq(order[0], 4);
    ck_assert_uint_eq(order[1], 5);
    ck_assert_uint_eq(order[2], 3);
    ck_assert_double_eq_tol(scores[4].agreement, 1.0, 1e-12);
    ck_assert_double_eq_tol(scores[3].agreement, (1.0 + 7.0 / 4.0) / (1.0 + 7.5 / 4.0), 1e-12);
    ck_assert_double_eq_tol(scores[0].agreement, (1.0 + 6.0 / 4.0) / (1.0 + 7.5 / 4.0), 1e-12);
}
END_TEST

START_TEST(rank__codet_score_is_size_times_generated_passes)
{
    /* Group {0, 1} passes 1 generated test: 2 x (1 + 1); candidate 2 alone passes 4 of 4:
       1 x (1 + 4). */
    eval_card cards[3] = {card(0), card(0), card(0)};
    cards[0].behavior = core_str_c("a");
    cards[1].behavior = core_str_c("a");
    cards[2].behavior = core_str_c("b");
    cards[0].n_gen_run = cards[1].n_gen_run = cards[2].n_gen_run = 4;
    cards[0].n_gen_passed = cards[1].n_gen_passed = 1;
    cards[2].n_gen_passed = 4;
    size_t order[3];
    eval_score scores[3];
    rank(order, scores, cards, 3, NULL);
    ck_assert_uint_eq(order[0], 2);
    ck_assert_double_eq_tol(scores[0].agreement, 4.0 / 5.0, 1e-12);
    /* No group passes a generated test: the larger group wins, as in plain clustering. */
    cards[0].n_gen_passed = cards[1].n_gen_passed = cards[2].n_gen_passed = 0;
    rank(order, scores, cards, 3, NULL);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_double_eq_tol(scores[2].agreement, 0.5, 1e-12);
    cards[0].n_gen_passed = cards[1].n_gen_passed = 1;
    cards[2].n_gen_passed = 4;
    /* Empty behavior: each candidate is its own group. */
    cards[0].behavior = cards[1].behavior = (core_str){NULL, 0};
    rank(order, scores, cards, 3, NULL);
    ck_assert_uint_eq(scores[1].group_size, 1);
    ck_assert_uint_eq(scores[1].group, 1);
}
END_TEST

START_TEST(rank__coder_breaks_near_ties_where_inputs_ran)
{
    /* 0 and 1 return the same values on the four generated inputs, 2 differs from them on the
       last, 3 agrees with nobody: values 1 + 7 / 4, the same, 1 + 6 / 4 and 1. 2 is within the
       band (2.5 >= 0.85 x 2.75) and the model was surer of it than of the pair; 3 is surer
       still but out of the band. */
    eval_card cards[4] = {card(0), card(0), card(0), card(0)};
    const char *b[4] = {"x 1\ny 2\nz 3\nw 4\n", "x 1\ny 2\nz 3\nw 4\n", "x 1\ny 2\nz 3\nw 5\n",
                        "x 9\ny 9\nz 9\nw 9\n"};
    const double sum[4] = {-20.0, -20.0, -8.0, -1.0};
    for (size_t i = 0; i < 4; i++) {
        cards[i].behavior = core_str_c(b[i]);
        cards[i].has_logprob = true;
        cards[i].logprob_sum = sum[i];
        cards[i].logprob_mean = -1.0;
        cards[i].n_gen_run = 4;
    }
    size_t order[4];
    eval_score scores[4];
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[0], 2);
    ck_assert_uint_eq(order[1], 0);
    ck_assert_uint_eq(order[2], 1);
    ck_assert_uint_eq(order[3], 3);
    ck_assert_double_eq_tol(scores[2].agreement, 2.5 / 2.75, 1e-12); /* shown as before */
    /* A narrower band leaves 2 out; the votes alone (coder 0) put the pair first too, as
       they do when one candidate's probability is unknown (a remote backend), or where no
       generated input ran. */
    eval_rank_options o = eval_rank_options_default();
    ck_assert_double_eq(o.band, 0.85);
    ck_assert_int_eq(eval_rank_options_parse(&o, core_str_c("{\"band\": 0.95}"), NULL), 0);
    rank(order, scores, cards, 4, &o);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[2], 2);
    o = eval_rank_options_default();
    ck_assert_int_eq(eval_rank_options_parse(&o, core_str_c("{\"coder\": 0}"), NULL), 0);
    rank(order, scores, cards, 4, &o);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[2], 2);
    cards[1].has_logprob = false;
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[2], 2);
    cards[1].has_logprob = true;
    cards[1].logprob_sum = NAN;
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[2], 2);
    cards[1].logprob_sum = -20.0;
    for (size_t i = 0; i < 4; i++) {
        cards[i].n_gen_run = 0;
    }
    rank(order, scores, cards, 4, NULL);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[2], 2);
}
END_TEST

START_TEST(rank__quality_then_likelihood_break_ties)
{
    eval_card cards[3] = {card(4), card(4), card(4)};
    for (size_t i = 0; i < 3; i++) {
        cards[i].has_quality = true;
        cards[i].quality = (eval_quality){.cyclomatic = 3, .nesting_max = 1, .n_lines = 10};
        cards[i].has_logprob = true;
    }
    cards[0].quality.cyclomatic = 9; /* 4 over the free 5 */
    cards[0].logprob_mean = -0.1;
    cards[1].logprob_mean = -0.5;
    cards[2].logprob_mean = -0.3;
    size_t order[3];
    eval_score scores[3];
    rank(order, scores, cards, 3, NULL);
    ck_assert_uint_eq(order[0], 2);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_uint_eq(order[2], 0);
    ck_assert_double_eq_tol(scores[1].quality, -0.2, 1e-12);
    ck_assert_double_eq_tol(scores[0].quality, -4.2, 1e-12);
    ck_assert_double_eq_tol(scores[2].likelihood, -0.3, 1e-12);
    /* With the quality tier weighed out, likelihood decides. */
    eval_rank_options o = eval_rank_options_default();
    ck_assert_int_eq(eval_rank_options_parse(&o,
                                             core_str_c("{\"cyclomatic\": 0, \"lines\": 0, "
                                                        "\"comment\": 0, \"bad_name\": 0}"),
                                             NULL),
                     0);
    rank(order, scores, cards, 3, &o);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[1], 2);
}
END_TEST

START_TEST(rank__full_ties_keep_input_order)
{
    eval_card cards[4] = {card(1), card(1), card(1), card(1)};
    size_t order[4];
    rank(order, NULL, cards, 4, NULL);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(order[i], i);
    }
    ck_assert_int_eq(eval_rank(order, NULL, cards, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(rank__rejects_impossible_cards)
{
    eval_card cards[2] = {card(1), card(5)};
    size_t order[2];
    core_err err = {0};
    ck_assert_int_eq(eval_rank(order, NULL, cards, 2, NULL, &err), CORE_EINVAL);
    ck_assert_str_eq(err.msg, "candidate 1: more tests passed than run");
}
END_TEST

START_TEST(rank__options_parse)
{
    eval_rank_options o = eval_rank_options_default();
    ck_assert_double_eq(o.limit, 0.5);
    ck_assert_int_eq(
        eval_rank_options_parse(&o, core_str_c("{\"agreement\": 2.5, \"likelihood\": 0}"), NULL),
        0);
    ck_assert_double_eq(o.agreement, 2.5);
    ck_assert_double_eq(o.likelihood, 0.0);
    ck_assert_double_eq(o.pass, 1.0);

    static const char *const bad[][2] = {
        {"{\"agreement\": 1, \"speed\": 3}", "rank config: unknown weight 'speed'"},
        {"{\"pass\": -1}", "rank config: weight 'pass' must be a number >= 0"},
        {"{\"pass\": \"1\"}", "rank config: weight 'pass' must be a number >= 0"},
        {"[1]", "rank config: not a JSON object"},
        {"{\"pass\": 1", "rank config: byte"},
        {"", "rank config: empty or binary text"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        eval_rank_options before = o;
        core_err err = {0};
        ck_assert_int_eq(eval_rank_options_parse(&o, core_str_c(bad[i][0]), &err), CORE_EPARSE);
        ck_assert_msg(strncmp(err.msg, bad[i][1], strlen(bad[i][1])) == 0, "case %zu: %s", i,
                      err.msg);
        /* the bad configs touch agreement (before failing) and pass */
        ck_assert_double_eq(before.agreement, o.agreement);
        ck_assert_double_eq(before.pass, o.pass);
    }
}
END_TEST

START_TEST(rank__enomem_leaks_nothing)
{
    eval_card cards[3] = {card(1), card(2), card(3)};
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        size_t order[3];
        core_alloc_fail_after(n);
        int rc = eval_rank(order, NULL, cards, 3, NULL, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_uint_eq(order[0], 2);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_lt(n, 100);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

TCase *tcase_rank(void)
{
    TCase *tc = tcase_create("rank");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, rank__correctness_comes_first);
    tcase_add_test(tc, rank__agreement_groups_identical_behavior);
    tcase_add_test(tc, rank__agreement_counts_each_input);
    tcase_add_test(tc, rank__crashes_agree_with_nothing);
    tcase_add_test(tc, rank__crashing_voters_count_their_share);
    tcase_add_test(tc, rank__codet_score_is_size_times_generated_passes);
    tcase_add_test(tc, rank__coder_breaks_near_ties_where_inputs_ran);
    tcase_add_test(tc, rank__quality_then_likelihood_break_ties);
    tcase_add_test(tc, rank__full_ties_keep_input_order);
    tcase_add_test(tc, rank__rejects_impossible_cards);
    tcase_add_test(tc, rank__options_parse);
    tcase_add_test(tc, rank__enomem_leaks_nothing);
    return tc;
}
