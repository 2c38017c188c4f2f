/*
 * Tests of grammar/checker.c: viable prefixes, unfinished lexemes, rejection at the breaking
 * piece, snapshots, suffixes, allocation failures, the data-file cases of
 * tests/fixtures/grammar/cases.txt and a sample of the Python standard library.
 */
#include "tests/grammar/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool feed(gram_checker *c, const char *piece)
{
    bool viable = false;
    ck_assert_int_eq(gram_checker_feed(c, core_str_c(piece), &viable, NULL), 0);
    return viable;
}

static bool complete(gram_checker *c)
{
    bool done = false;
    ck_assert_int_eq(gram_checker_is_complete(c, &done, NULL), 0);
    return done;
}

START_TEST(checker__unfinished_word_may_become_keyword)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert(feed(c, "def f():\n    retu"));
    ck_assert(complete(c)); /* `retu` alone is an expression statement */
    ck_assert(feed(c, "rn 1\n"));
    ck_assert(complete(c));
    ck_assert_str_eq(gram_checker_text(c).ptr, "def f():\n    return 1\n");
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__rejected_piece_leaves_state_unchanged)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert(feed(c, "x = (1, 2"));
    ck_assert(!feed(c, "]"));
    ck_assert_uint_eq(gram_checker_text(c).len, 9);
    ck_assert(!feed(c, ")]"));
    ck_assert(feed(c, ")"));
    ck_assert(feed(c, "\n"));
    ck_assert(complete(c));
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__incomplete_is_not_rejected)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    /* prefixes that tree-sitter's error recovery wraps into ERROR nodes */
    ck_assert(feed(c, "try:\n    x = 1\n"));
    ck_assert(!complete(c));
    ck_assert(feed(c, "except E:\n    pass\n@dec\n"));
    ck_assert(!complete(c));
    ck_assert(feed(c, "def g():\n    s = f\"{x!r:>{w}}\" + \"\"\"\n"));
    ck_assert(!complete(c)); /* inside an open string */
    ck_assert(feed(c, "\"\"\"\n"));
    ck_assert(complete(c));
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__try_does_not_commit)
{
    gram_lang *c_lang = test_lang_load("c");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, c_lang, NULL, NULL), 0);
    ck_assert(feed(c, "int main(void) {"));
    bool viable = false;
    ck_assert_int_eq(gram_checker_try(c, core_str_c(" return 0; }"), &viable, NULL), 0);
    ck_assert(viable);
    ck_assert_uint_eq(gram_checker_text(c).len, 16);
    ck_assert(!complete(c));
    ck_assert_int_eq(gram_checker_try(c, core_str_c(" return 0; }}"), &viable, NULL), 0);
    ck_assert(!viable);
    ck_assert(feed(c, " return 0; }"));
    ck_assert(complete(c));
    gram_checker_free(c);
    gram_lang_free(c_lang);
}
END_TEST

START_TEST(checker__snapshot_restores_text_and_versions)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    gram_checker *other = NULL;
    gram_snapshot *snap = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert_int_eq(gram_checker_new(&other, py, NULL, NULL), 0);
    ck_assert_int_eq(gram_snapshot_new(&snap, NULL), 0);
    core_err err = {0};
    ck_assert_int_eq(gram_checker_restore(c, snap, &err), CORE_EINVAL);
    ck_assert(feed(c, "if x:\n    y = ["));
    ck_assert_int_eq(gram_checker_save(c, snap, NULL), 0);
    ck_assert(feed(c, "1]\n"));
    ck_assert(complete(c));
    ck_assert_int_eq(gram_checker_restore(c, snap, NULL), 0);
    ck_assert_str_eq(gram_checker_text(c).ptr, "if x:\n    y = [");
    ck_assert(!complete(c));
    ck_assert(!feed(c, ")"));
    ck_assert(feed(c, "2, 3]\nelse:\n    pass\n"));
    ck_assert(complete(c));
    ck_assert_int_eq(gram_checker_restore(other, snap, &err), CORE_EINVAL);
    /* a restore is valid whatever happened since the save, a reset included */
    gram_checker_reset(c);
    ck_assert(feed(c, "def g(): pass\n"));
    ck_assert_int_eq(gram_checker_restore(c, snap, NULL), 0);
    ck_assert_str_eq(gram_checker_text(c).ptr, "if x:\n    y = [");
    ck_assert(feed(c, "]\n"));
    ck_assert(complete(c));
    gram_snapshot_free(snap);
    gram_checker_free(other);
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__complete_at_judges_a_prefix_and_keeps_state)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    const char *good = "def f():\n    return 1\n";
    ck_assert(feed(c, good));
    ck_assert(feed(c, "x = (1,\n"));
    ck_assert(!complete(c));
    bool done = false;
    ck_assert_int_eq(gram_checker_is_complete_at(c, strlen(good), &done, NULL), 0);
    ck_assert(done);
    ck_assert_int_eq(gram_checker_is_complete_at(c, strlen("def f():\n"), &done, NULL), 0);
    ck_assert(!done); /* a header without its block */
    ck_assert_int_eq(gram_checker_is_complete_at(c, strlen(good) + 5, &done, NULL), 0);
    ck_assert(!done);
    core_err err = {0};
    ck_assert_int_eq(gram_checker_is_complete_at(c, 999, &done, &err), CORE_EINVAL);
    /* the checker goes on where it was */
    ck_assert_str_eq(gram_checker_text(c).ptr, "def f():\n    return 1\nx = (1,\n");
    ck_assert(feed(c, "2)\n"));
    ck_assert(complete(c));
    gram_checker_free(c);

    gram_checker_options opts = gram_checker_options_default();
    opts.suffix = core_str_c("\n    return y\n");
    ck_assert_int_eq(gram_checker_new(&c, py, &opts, NULL), 0);
    ck_assert(feed(c, "def g(y):\n    y += 1\nz = 2"));
    ck_assert_int_eq(gram_checker_is_complete_at(c, strlen("def g(y):\n    y += 1"), &done, NULL),
                     0);
    ck_assert(done);
    ck_assert(!complete(c)); /* z = 2, then an indented return */
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__suffix_decides_completeness)
{
    gram_lang *py = test_lang_load("python");
    gram_checker_options opts = gram_checker_options_default();
    opts.suffix = core_str_c("\n\nprint(f(1))\n");
    gram_checker *c = NULL;
    ck_assert_int_eq(gram_checker_new(&c, py, &opts, NULL), 0);
    ck_assert(feed(c, "def f(x):\n    return"));
    ck_assert(complete(c)); /* a bare return is a statement */
    ck_assert(feed(c, " (x"));
    ck_assert(!complete(c)); /* (x print(f(1)) */
    ck_assert(feed(c, " + 1)"));
    ck_assert(complete(c));
    ck_assert(feed(c, "\n    y = [x,"));
    ck_assert(!complete(c)); /* [x, print(f(1)) */
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__bad_pieces_are_errors)
{
    gram_lang *py = test_lang_load("python");
    gram_checker *c = NULL;
    core_err err = {0};
    bool viable = true;
    ck_assert_int_eq(gram_checker_new(&c, py, NULL, NULL), 0);
    ck_assert_int_eq(gram_checker_feed(c, (core_str){"x\0", 2}, &viable, &err), CORE_EPARSE);
    ck_assert(!viable);
    ck_assert_int_eq(gram_checker_feed(c, (core_str){"x", GRAM_TEXT_MAX + 1}, &viable, &err),
                     CORE_ELIMIT);
    ck_assert(feed(c, "x = 1\n"));
    gram_checker_free(c);
    gram_lang_free(py);
}
END_TEST

START_TEST(checker__enomem_leaves_checker_usable)
{
    gram_lang *py = test_lang_load("python");
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        gram_checker *c = NULL;
        core_alloc_fail_after(n);
        int rc = gram_checker_new(&c, py, NULL, NULL);
        bool viable = false;
        if (rc == 0) {
            rc = gram_checker_feed(c, core_str_c("def f(a, b):\n    return [a, (b, {1: 2})]\n"),
                                   &viable, NULL);
        }
        core_alloc_fail_after(0);
        if (c) {
            /* whatever failed, the checker still works */
            ck_assert(feed(c, rc == 0 ? "x = 1\n" : "def f(a, b):\n    return [a]\n"));
            ck_assert(complete(c));
            gram_checker_free(c);
        }
        ck_assert_int_eq(core_alloc_live(), live);
        if (rc == 0) {
            ck_assert(viable);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
    }
    gram_lang_free(py);
}
END_TEST

/* ---- data-file cases ---- */

typedef struct fixture_case {
    char name[128];
    char lang[16];
    char split[16];  /* chars | words | whole */
    char expect[16]; /* complete | incomplete | reject */
    char *text;      /* input with the @@ marker removed */
    long reject_at;  /* byte offset of the @@ marker, -1 without one */
} fixture_case;

/*
 * Reads the next case: a header line `=== NAME LANG SPLIT EXPECT [nofinalnl]`, then the input
 * up to the next line starting with "=== ". Returns false at the end of the file.
 */
static bool fixture_next(FILE *f, char **line, size_t *cap, fixture_case *fc)
{
    memset(fc, 0, sizeof(*fc));
    fc->reject_at = -1;
    while (getline(line, cap, f) >= 0) {
        if (strncmp(*line, "=== ", 4) == 0) {
            goto header;
        }
    }
    return false;
header:;
    char flag[16] = {0};
    int n = sscanf(*line + 4, "%127s %15s %15s %15s %15s", fc->name, fc->lang, fc->split,
                   fc->expect, flag);
    ck_assert_int_ge(n, 4);
    core_buf text = {0};
    long pos = ftell(f);
    while (getline(line, cap, f) >= 0) {
        if (strncmp(*line, "=== ", 4) == 0) {
            fseek(f, pos, SEEK_SET);
            break;
        }
        ck_assert_int_eq(core_buf_append(&text, *line, strlen(*line)), 0);
        pos = ftell(f);
    }
    ck_assert_int_eq(core_buf_append(&text, "", 0), 0);
    if (strcmp(flag, "nofinalnl") == 0 && text.len > 0 && text.ptr[text.len - 1] == '\n') {
        text.ptr[--text.len] = '\0';
    }
    char *mark = strstr(text.ptr, "@@");
    if (mark) {
        fc->reject_at = mark - text.ptr;
        memmove(mark, mark + 2, strlen(mark + 2) + 1);
    }
    fc->text = text.ptr;
    return true;
}

START_TEST(checker__fixture_cases)
{
    const char *path = KILN_FIXTURES "/grammar/cases.txt";
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    gram_lang *py = test_lang_load("python");
    gram_lang *c = test_lang_load("c");
    char *line = NULL;
    size_t cap = 0;
    fixture_case fc;
    int n_cases = 0;
    while (fixture_next(f, &line, &cap, &fc)) {
        const gram_lang *lang = strcmp(fc.lang, "python") == 0 ? py : c;
        size_t n = strcmp(fc.split, "chars") == 0   ? 1
                   : strcmp(fc.split, "whole") == 0 ? strlen(fc.text) + 1
                                                    : 0;
        bool done = false;
        long rejected = test_feed(lang, fc.text, n, &done);
        if (strcmp(fc.expect, "reject") == 0) {
            ck_assert_msg(fc.reject_at >= 0, "case %s: reject without @@", fc.name);
            ck_assert_msg(rejected == fc.reject_at, "case %s: rejected at %ld, expected %ld",
                          fc.name, rejected, fc.reject_at);
        } else {
            ck_assert_msg(rejected == -1, "case %s: rejected at byte %ld", fc.name, rejected);
            ck_assert_msg(done == (strcmp(fc.expect, "complete") == 0), "case %s: complete is %d",
                          fc.name, done);
        }
        /* The source check must agree on whole texts that claim to be complete. */
        if (strcmp(fc.expect, "complete") == 0) {
            gram_source_report rep;
            ck_assert_int_eq(gram_source_check(&rep, lang, core_str_c(fc.text), NULL), 0);
            ck_assert_msg(rep.ok, "case %s: tree-sitter does not parse it", fc.name);
        }
        free(fc.text);
        n_cases++;
    }
    ck_assert_int_ge(n_cases, 30);
    free(line);
    fclose(f);
    gram_lang_free(c);
    gram_lang_free(py);
}
END_TEST

/* ---- a sample of a real corpus ---- */

START_TEST(checker__stdlib_sample_has_no_false_rejection)
{
    static const char *const files[] = {"textwrap.py",     "string.py", "bisect.py",
                                        "json/decoder.py", "shlex.py",  "fractions.py"};
    gram_lang *py = test_lang_load("python");
    int n_read = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "/usr/lib/python3.11/%s", files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            continue;
        }
        core_buf buf = {0};
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            ck_assert_int_eq(core_buf_append(&buf, chunk, n), 0);
        }
        fclose(f);
        gram_source_report rep;
        ck_assert_int_eq(gram_source_check(&rep, py, (core_str){buf.ptr, buf.len}, NULL), 0);
        if (rep.ok) {
            bool done = false;
            ck_assert_msg(test_feed(py, buf.ptr, 0, &done) == -1, "%s: rejected", path);
            ck_assert_msg(done, "%s: not complete", path);
            n_read++;
        }
        core_buf_dispose(&buf);
    }
    gram_lang_free(py);
    if (n_read == 0) {
        /* no standard library on this machine: nothing to replay */
        return;
    }
    ck_assert_int_ge(n_read, 1);
}
END_TEST

TCase *tcase_checker(void)
{
    TCase *tc = tcase_create("checker");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, checker__unfinished_word_may_become_keyword);
    tcase_add_test(tc, checker__rejected_piece_leaves_state_unchanged);
    tcase_add_test(tc, checker__incomplete_is_not_rejected);
    tcase_add_test(tc, checker__try_does_not_commit);
    tcase_add_test(tc, checker__snapshot_restores_text_and_versions);
    tcase_add_test(tc, checker__suffix_decides_completeness);
    tcase_add_test(tc, checker__complete_at_judges_a_prefix_and_keeps_state);
    tcase_add_test(tc, checker__bad_pieces_are_errors);
    tcase_add_test(tc, checker__enomem_leaves_checker_usable);
    tcase_add_test(tc, checker__fixture_cases);
    tcase_add_test(tc, checker__stdlib_sample_has_no_false_rejection);
    return tc;
}
