/* Tests of solve/solve_probes.c: probe calls built from a Python signature. */
#include "tests/solve/tests.h"

#include <string.h>

#include "solve/solve_int.h"

/* The probes of prompt's entry, in a buffer the caller disposes of. */
static core_buf probes(const char *prompt, const char *entry, size_t n)
{
    core_buf b = {0};
    ck_assert_int_eq(solve__probes(&b, core_str_c(prompt), core_str_c(entry), n), 0);
    return b;
}

static size_t count_lines(const core_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++) {
        n += b->ptr[i] == '\n';
    }
    return n;
}

START_TEST(probes__follow_the_annotations)
{
    core_buf b = probes("from typing import List\n\n\ndef f(numbers: List[float], t: float) -> "
                        "bool:\n    \"\"\" doc \"\"\"\n",
                        "f", 10);
    ck_assert_uint_eq(count_lines(&b), 10);
    ck_assert_ptr_nonnull(b.ptr);
    ck_assert_str_eq(strtok(b.ptr, "\n"), "assert False, repr(f([1.0, 2.5, 3.0], 10.0))");
    core_buf_dispose(&b);
    /* the last probes are the edge cases of every parameter */
    b = probes("def g(s: str, k: int, xs: List[str]) -> str:\n", "g", 10);
    ck_assert_ptr_nonnull(strstr(b.ptr, "assert False, repr(g(\"\", -3, []))\n"));
    ck_assert_ptr_nonnull(strstr(b.ptr, "assert False, repr(g(\"a\", 0, [\"a\"]))\n"));
    core_buf_dispose(&b);
    /* Optional, Tuple and Dict; at most n probes */
    b = probes("def h(a: Optional[int], p: Tuple[int, int], d: Dict[str, int]):\n", "h", 2);
    ck_assert_uint_eq(count_lines(&b), 2);
    ck_assert_str_eq(strtok(b.ptr, "\n"),
                     "assert False, repr(h(3, (2, 2), {\"Name\": 1, \"age\": 2}))");
    core_buf_dispose(&b);
}
END_TEST

START_TEST(probes__guess_from_names_and_skip_defaults)
{
    /* no annotations: a list by its name, an int otherwise; a default keeps its value */
    core_buf b = probes("def total(l, n, strict=False):\n    pass\n", "total", 1);
    ck_assert_str_eq(b.ptr, "assert False, repr(total([3, 1, 2], 1))\n");
    core_buf_dispose(&b);
    b = probes("def words(text, *rest):\n", "words", 1);
    ck_assert_str_eq(b.ptr, "assert False, repr(words(\"abc\"))\n");
    core_buf_dispose(&b);
}
END_TEST

START_TEST(probes__nothing_without_a_readable_signature)
{
    const char *none[] = {
        "def other(x: int):\n",          /* not the entry */
        "def f(x: int",                  /* never closed */
        "def f():\n",                    /* no parameter to vary */
        "def f(*args):\n",               /* nothing positional */
        "x = 'def f(a)'\ndef fa(b):",    /* only inside a string, and a longer name */
        "def f(a, b, c, d, e, g, h):\n", /* too many */
        "",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        core_buf b = probes(none[i], "f", 10);
        ck_assert_uint_eq(b.len, 0);
        core_buf_dispose(&b);
    }
    core_buf b = probes("def f(a: int):\n", "", 10);
    ck_assert_uint_eq(b.len, 0);
    core_buf_dispose(&b);
}
END_TEST

static char *marked(const char *behavior)
{
    core_buf b = {0};
    ck_assert_int_eq(solve__probes_mark_constant(&b, core_str_c(behavior)), 0);
    return b.ptr;
}

START_TEST(probes__constant_candidates_observe_nothing)
{
    /* False on every probe it answered (one raised): its probe lines become '!' */
    char *m = marked("assert@L1 failed line 1: assert False, repr(f(3)): False\n"
                     "assert@L2 failed line 2: assert False, repr(f((1, 2))): False\n"
                     "!assert@L3 error line 3: TypeError: x\n"
                     "assert@L4 failed line 4: assert False, repr(f(\"a\")): False\n"
                     "assert@L5 passed \n");
    ck_assert_str_eq(m, "!assert@L1 failed line 1: assert False, repr(f(3)): False\n"
                        "!assert@L2 failed line 2: assert False, repr(f((1, 2))): False\n"
                        "!assert@L3 error line 3: TypeError: x\n"
                        "!assert@L4 failed line 4: assert False, repr(f(\"a\")): False\n"
                        "assert@L5 passed \n");
    core_free(m);
    /* one value differs, or fewer than 3 values: unchanged */
    const char *keep[] = {"assert@L1 failed line 1: assert False, repr(f(3)): 1\n"
                          "assert@L2 failed line 2: assert False, repr(f(4)): 1\n"
                          "assert@L3 failed line 3: assert False, repr(f(5)): 2\n",
                          "assert@L1 failed line 1: assert False, repr(f(3)): 1\n"
                          "assert@L2 failed line 2: assert False, repr(f(4)): 1\n"
                          "assert@L3 failed line 3: assert (_v := f(1)) == 1, repr(_v): 1\n",
                          ""};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        m = marked(keep[i]);
        ck_assert_str_eq(m ? m : "", keep[i]);
        core_free(m);
    }
}
END_TEST

/* The fresh rounds' measure: the largest group reporting the same values, '!' lines (no value)
   and the code observation left out, over the whole pool. */
START_TEST(probes__agreement_share_groups_equal_values)
{
    char a[] = "assert@L1 failed line 1: assert False, repr(f(3)): 6\n"
               "assert@L2 failed line 2: assert False, repr(f(4)): 8\ncode def f(x): return 2*x\n";
    char b[] = "assert@L1 failed line 1: assert False, repr(f(3)): 6\n"
               "assert@L2 failed line 2: assert False, repr(f(4)): 8\ncode def f(x): return x+x\n";
    char c[] = "assert@L1 failed line 1: assert False, repr(f(3)): 6\n"
               "!assert@L2 error line 2: TypeError: x\ncode def f(x): ...\n";
    char d[] = "!assert@L1 failed line 1: assert False, repr(f(3)): 0\n"
               "!assert@L2 failed line 2: assert False, repr(f(4)): 0\ncode def f(x): return 0\n";
    char e[] = "!assert@L1 failed line 1: assert False, repr(f(3)): 0\n"
               "!assert@L2 failed line 2: assert False, repr(f(4)): 0\ncode def f(x): return 0\n";
    solve_candidate cands[5];
    memset(cands, 0, sizeof(cands));
    cands[0].behavior = a;
    cands[1].behavior = c;
    cands[2].behavior = d;
    cands[3].behavior = b;
    cands[4].behavior = e;
    double share = -1.0;
    /* a and b agree on both values although their code differs; c's second input raised, so it
       is a group of its own; d and e (constant, marked) report no value and group with nothing */
    ck_assert_int_eq(solve__agreement_share(&share, cands, 5), 0);
    ck_assert_double_eq_tol(share, 2.0 / 5.0, 1e-12);
    ck_assert_int_eq(solve__agreement_share(&share, cands + 2, 1), 0);
    ck_assert_double_eq_tol(share, 0.0, 1e-12);
    ck_assert_int_eq(solve__agreement_share(&share, cands, 0), 0);
    ck_assert_double_eq_tol(share, 0.0, 1e-12);
    /* ranked without execution, the behavior is the code: identical code is one group */
    char k1[] = "defdouble(x):returnx*2";
    char k2[] = "defdouble(x):returnx+x";
    solve_candidate same[3];
    memset(same, 0, sizeof(same));
    same[0].behavior = k1;
    same[1].behavior = k2;
    same[2].behavior = k1;
    ck_assert_int_eq(solve__agreement_share(&share, same, 3), 0);
    ck_assert_double_eq_tol(share, 2.0 / 3.0, 1e-12);
    same[1].behavior = NULL; /* untested and unknown */
    same[2].behavior = k2;
    ck_assert_int_eq(solve__agreement_share(&share, same, 3), 0);
    ck_assert_double_eq_tol(share, 1.0 / 3.0, 1e-12);
}
END_TEST

TCase *tcase_probes(void)
{
    TCase *tc = tcase_create("probes");
    tcase_add_test(tc, probes__follow_the_annotations);
    tcase_add_test(tc, probes__guess_from_names_and_skip_defaults);
    tcase_add_test(tc, probes__nothing_without_a_readable_signature);
    tcase_add_test(tc, probes__constant_candidates_observe_nothing);
    tcase_add_test(tc, probes__agreement_share_groups_equal_values);
    return tc;
}
