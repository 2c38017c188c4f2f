/* Tests of patch/patch.c and patch/verify.c: the verdicts. A right candidate is verified (its
 * tests fail before and pass after, in the sandbox); a wrong one, one that breaks a test that
 * passed, and one whose tests never run to the end are proposed at best; hostile tests are
 * contained and change nothing on the host. */
#include "tests/patch/tests.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SQUARE_OK    "def square(x):\n    return x * x\n"
#define SQUARE_WRONG "def square(x):\n    return x + x\n"
#define SQUARE_EVIL                                                                                \
    "def square(x):\n    import os\n    if os.path.exists('calc/data.txt'):\n"                     \
    "        os.remove('calc/data.txt')\n    return x * x\n"
#define CUBE_OK "import math\n\ndef cube(x):\n    \"\"\"Cube.\"\"\"\n    return x ** 3\n"

START_TEST(patch__verified_only_when_tests_go_green)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "verdicts");
    fx_python_project(dir);
    char *before = fx_state(dir);
    /* square: the wrong candidate, the evil one (breaks test_zdata), then the right one */
    /* (entry, code) pairs */
    // NOLINTBEGIN(bugprone-suspicious-missing-comma)
    fx_gen gen = {.pairs = (const char *const[]){"square", SQUARE_WRONG, "square", SQUARE_EVIL,
                                                 "square", SQUARE_OK, "cube", CUBE_OK, NULL}};
    // NOLINTEND(bugprone-suspicious-missing-comma)
    patch_options o = patch_options_default();
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(fx_patch(&r, dir, NULL, &o, &gen, &err) == 0, "%s", err.msg);
    const patch_target *sq = fx_target(r, "square");
    ck_assert_str_eq(patch_verdict_name(sq->verdict), "verified");
    ck_assert_uint_eq(sq->n_candidates, 3);
    ck_assert_uint_eq(sq->n_tried, 3);
    ck_assert_str_eq(sq->fixed, "tests/test_ops.py::test_square\n");
    ck_assert_str_eq(sq->splice, "\n    return x * x");
    ck_assert_uint_eq(sq->before.n_failed, 2); /* test_square, test_cube */
    ck_assert_uint_eq(sq->after.n_failed, 1);  /* test_cube */
    const patch_target *cu = fx_target(r, "cube");
    ck_assert_int_eq(cu->verdict, PATCH_VERDICT_VERIFIED);
    ck_assert_str_eq(cu->splice, "\n    return x ** 3");
    ck_assert_int_eq(fx_target(r, "Shape.area")->verdict, PATCH_VERDICT_NONE);
    ck_assert_uint_eq(r->n_verified, 2);
    patch_result_free(r);
    /* only wrong or evil candidates: proposed, never verified */
    // NOLINTBEGIN(bugprone-suspicious-missing-comma)
    fx_gen bad = {.pairs =
                      (const char *const[]){"square", SQUARE_EVIL, "square", SQUARE_WRONG, NULL}};
    // NOLINTEND(bugprone-suspicious-missing-comma)
    const char *fns[] = {"calc/ops.py:square"};
    o.functions = fns;
    o.n_functions = 1;
    ck_assert_msg(fx_patch(&r, dir, NULL, &o, &bad, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r->targets[0].verdict, PATCH_VERDICT_PROPOSED);
    ck_assert_uint_eq(r->targets[0].n_tried, 2);
    ck_assert_uint_eq(r->n_verified, 0);
    patch_result_free(r);
    /* a finished function's tests pass already: nothing to prove */
    const char *add[] = {"calc/ops.py:add"};
    o.functions = add;
    ck_assert_int_eq(fx_patch(&r, dir, NULL, &o, &gen, &err), 0);
    ck_assert_int_eq(r->targets[0].verdict, PATCH_VERDICT_PASSING);
    patch_result_free(r);
    /* a test command that does not exist is a named error */
    o.test_cmd = "kiln-no-such-tool --run";
    ck_assert_int_eq(fx_patch(&r, dir, NULL, &o, &gen, &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "test command not found"));
    char *after = fx_state(dir);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(patch__c_project_with_make)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "cproj");
    fx_c_project(dir);
    fx_gen gen = {.pairs = (const char *const[]){
                      "max2", "int max2(int a, int b)\n{\n    return a - b;\n}\n", "max2",
                      "int max2(int a, int b)\n{\n    return a > b ? a : b;\n}\n", NULL}};
    patch_options o = patch_options_default();
    patch_result *r = NULL;
    core_err err = {0};
    /* the default command: the Makefile's test target, GNU make inside the box (its set*id calls
     * to the box's own ids pass the filter), then a configured command */
    const char *cmds[] = {NULL, "sh tests/run.sh"};
    for (size_t i = 0; i < 2; i++) {
        o.test_cmd = cmds[i];
        gen.n_calls = 0;
        ck_assert_msg(fx_patch(&r, dir, NULL, &o, &gen, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(r->n_targets, 1);
        ck_assert_str_eq(r->targets[0].command, i == 0 ? "make -s test" : "sh tests/run.sh");
        ck_assert_msg(r->targets[0].verdict == PATCH_VERDICT_VERIFIED, "%s", r->targets[0].message);
        ck_assert_uint_eq(r->targets[0].n_tried, 2);
        ck_assert_str_eq(r->targets[0].splice, "{\n    return a > b ? a : b;\n}");
        patch_result_free(r);
        r = NULL;
    }
}
END_TEST

/* One hostile test file per stub; each test calls its stub so it is that stub's test. */
#define HOSTILE_MOD                                                                                \
    "def esc():\n    pass\n\ndef net():\n    pass\n\ndef bomb():\n    pass\n\n"                    \
    "def spin():\n    pass\n\ndef link():\n    pass\n"

START_TEST(patch__hostile_tests_are_contained)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "hostile");
    char marker[256];
    snprintf(marker, sizeof marker, "/tmp/kiln-patch-escape-%d", (int)getpid());
    unlink(marker);
    char esc[1024];
    snprintf(esc, sizeof esc,
             "import os\nfrom m import esc\n\ndef test_esc():\n"
             "    for p in ['%s', '../../../../%s', '/work/../host']:\n"
             "        try:\n            open(p, 'w').write('x')\n        except OSError:\n"
             "            pass\n    assert esc() == 1\n",
             marker, marker);
    git_repository *repo = fx_repo_new(dir, false);
    fx_file f[] = {
        {.path = "m.py", .data = HOSTILE_MOD},
        {.path = "test_esc.py", .data = esc},
        {.path = "test_net.py",
         .data = "import socket\nfrom m import net\n\ndef test_net():\n"
                 "    socket.create_connection(('1.1.1.1', 53), 2)\n    assert net() == 1\n"},
        {.path = "test_bomb.py",
         .data =
             "import os\nfrom m import bomb\n\ndef test_bomb():\n    while True:\n"
             "        try:\n            os.fork()\n        except OSError:\n            pass\n"},
        {.path = "test_spin.py",
         .data = "from m import spin\n\ndef test_spin():\n    while True:\n        pass\n"},
        {.path = "test_link.py",
         .data = "from m import link\n\ndef test_link():\n"
                 "    assert 'sandbox:x:1000' in open('passwd_link').read()\n"
                 "    try:\n        open('passwd_link', 'w').write('pwned')\n"
                 "    except OSError:\n        pass\n    assert link() == 1\n"},
        {.path = "passwd_link", .data = "/etc/passwd", .mode = 0120000},
    };
    git_oid c;
    fx_commit(&c, repo, "HEAD", f, 7, "hostile\n");
    git_repository_free(repo);
    char *before = fx_state(dir);
    ck_assert_int_eq(fx_sh("sha256sum /etc/passwd > '%s.passwd'", marker), 0);
    fx_gen gen = {.pairs = (const char *const[]){
                      "esc", "def esc():\n    return 1\n", "net", "def net():\n    return 1\n",
                      "bomb", "def bomb():\n    return 1\n", "spin", "def spin():\n    return 1\n",
                      "link", "def link():\n    return 1\n", NULL}};
    patch_options o = patch_options_default();
    o.limits.wall_ms = 30000; /* a loaded machine is slow; the endless test meets the CPU limit */
    o.limits.cpu_ms = 5000;
    patch_result *r = NULL;
    core_err err = {0};
    ck_assert_msg(fx_patch(&r, dir, NULL, &o, &gen, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r->n_targets, 5);
    /* escaping writes land in the box: the test itself then passes */
    ck_assert_int_eq(fx_target(r, "esc")->verdict, PATCH_VERDICT_VERIFIED);
    /* no network: fails before and after */
    ck_assert_int_eq(fx_target(r, "net")->verdict, PATCH_VERDICT_PROPOSED);
    /* a fork bomb and an endless test end at a limit: never verified */
    ck_assert_int_eq(fx_target(r, "bomb")->verdict, PATCH_VERDICT_PROPOSED);
    ck_assert_int_ne(fx_target(r, "bomb")->after.limit, SBX_LIMIT_NONE);
    ck_assert_int_eq(fx_target(r, "spin")->verdict, PATCH_VERDICT_PROPOSED);
    ck_assert_int_ne(fx_target(r, "spin")->after.limit, SBX_LIMIT_NONE);
    /* the symlink resolves in the box: the box's passwd, written there */
    ck_assert_int_eq(fx_target(r, "link")->verdict, PATCH_VERDICT_VERIFIED);
    patch_result_free(r);
    ck_assert_int_ne(access(marker, F_OK), 0);
    ck_assert_int_eq(fx_sh("sha256sum -c --quiet '%s.passwd'", marker), 0);
    char *after = fx_state(dir);
    ck_assert_str_eq(before, after);
    unlink(marker);
    free(before);
    free(after);
}
END_TEST

/* ---- the same verdicts as kiln solve ------------------------------------------------------ */

/* One stub corpus posed twice: as solve tasks (the function's asserts as visible tests, run by
 * solve_test_all in the pool, the pipeline's test stage) and as stubs in fixture repositories
 * (the asserts in the repository's tests, run by kiln patch over the tree). Each candidate must
 * pass solve's tests exactly when kiln patch verifies it, and both must match the expected
 * verdict: right answers, wrong ones, a crash, a partial answer, an endless loop, an exit. */
typedef struct agree_case {
    bool c;            /* the C repository, else the Python one */
    const char *entry; /* the stub's name */
    const char *code;  /* the candidate, the whole function */
    bool passes;
} agree_case;

#define AGREE_PY_MOD                                                                               \
    "def add(a, b):\n    \"\"\"Return a plus b.\"\"\"\n    pass\n\n\n"                             \
    "def first_word(s):\n    \"\"\"Return the first word of s, '' when none.\"\"\"\n    "          \
    "pass\n\n\n"                                                                                   \
    "def is_even(n):\n    \"\"\"Return True when n is even.\"\"\"\n    pass\n\n\n"                 \
    "def mean(xs):\n    \"\"\"Return the mean of the numbers in xs.\"\"\"\n    pass\n"
#define AGREE_ADD "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"
#define AGREE_FIRST_WORD                                                                           \
    "assert first_word('hello big world') == 'hello'\nassert first_word('') == ''\n"
#define AGREE_IS_EVEN "assert is_even(2)\nassert is_even(4)\nassert not is_even(3)\n"
#define AGREE_MEAN    "assert mean([1, 2, 3]) == 2\n"
#define AGREE_MAX2    "    assert(max2(1, 2) == 2);\n    assert(max2(5, 3) == 5);\n"

static const char *agree_asserts(const char *entry)
{
    static const char *const table[][2] = {{"add", AGREE_ADD},
                                           {"first_word", AGREE_FIRST_WORD},
                                           {"is_even", AGREE_IS_EVEN},
                                           {"mean", AGREE_MEAN},
                                           {"max2", AGREE_MAX2}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i][0], entry) == 0) {
            return table[i][1];
        }
    }
    ck_abort_msg("no asserts for %s", entry);
    return NULL;
}

/* A pytest function per stub: its asserts, indented. */
static void agree_py_test(char *out, size_t cap, const char *entry)
{
    size_t n = (size_t)snprintf(out, cap, "\n\ndef test_%s():\n", entry);
    for (const char *line = agree_asserts(entry); *line != '\0';) {
        const char *nl = strchr(line, '\n');
        n += (size_t)snprintf(out + n, cap - n, "    %.*s\n", (int)(nl - line), line);
        line = nl + 1;
    }
    ck_assert_uint_lt(n, cap);
}

static void agree_repos(const char *py, const char *c)
{
    char tests[2048] = "from corp.m import *\n";
    const char *entries[] = {"add", "first_word", "is_even", "mean"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(tests);
        agree_py_test(tests + n, sizeof tests - n, entries[i]);
    }
    git_repository *repo = fx_repo_new(py, false);
    const fx_file py_files[] = {
        {.path = "corp/__init__.py", .data = "\n"},
        {.path = "corp/m.py", .data = AGREE_PY_MOD},
        {.path = "tests/test_m.py", .data = tests},
    };
    git_oid id;
    fx_commit(&id, repo, "HEAD", py_files, 3, "corp: stubs\n");
    git_repository_free(repo);
    repo = fx_repo_new(c, false);
    const fx_file c_files[] = {
        {.path = "Makefile",
         .data = "test:\n\tgcc -std=c11 -o t tests/test_mx.c src/mx.c && ./t\n"},
        {.path = "src/mx.h", .data = "int max2(int a, int b);\n"},
        {.path = "src/mx.c",
         .data = "#include \"mx.h\"\n\n/* Returns the larger of a and b. */\n"
                 "int max2(int a, int b)\n{\n}\n"},
        {.path = "tests/test_mx.c",
         .data = "#include <assert.h>\n#include \"../src/mx.h\"\n\nint main(void)\n{\n" AGREE_MAX2
                 "    return 0;\n}\n"},
    };
    fx_commit(&id, repo, "HEAD", c_files, 4, "mx: max2\n");
    git_repository_free(repo);
}

typedef struct agree_solve {
    bool passed;
    char message[600];
} agree_solve;

static int agree_on_result(void *payload, size_t i, int rc, const sbx_result *result,
                           const core_err *run_err, core_err *err)
{
    (void)i;
    (void)err;
    agree_solve *s = payload;
    s->passed = rc == 0 && result->verdict == SBX_VERDICT_PASSED;
    snprintf(s->message, sizeof s->message, "%s: %.500s",
             rc == 0 ? sbx_verdict_name(result->verdict) : "",
             rc == 0 ? result->message : run_err->msg);
    return 0;
}

START_TEST(patch__same_verdicts_as_solve)
{
    // NOLINTBEGIN(bugprone-suspicious-missing-comma)
    static const agree_case cases[] = {
        {false, "add", "def add(a, b):\n    return a + b\n", true},
        {false, "add", "def add(a, b):\n    return a - b\n", false},
        {false, "first_word",
         "def first_word(s):\n    w = s.split()\n    return w[0] if w else ''\n", true},
        {false, "first_word", "def first_word(s):\n    return s.split()[0]\n", false},
        {false, "is_even", "def is_even(n):\n    return n == 2\n", false},
        {false, "is_even", "def is_even(n):\n    while True:\n        pass\n", false},
        {false, "mean", "def mean(xs):\n    import sys\n    sys.exit(0)\n", false},
        {true, "max2", "int max2(int a, int b)\n{\n    return a > b ? a : b;\n}\n", true},
        {true, "max2", "int max2(int a, int b)\n{\n    return a - b;\n}\n", false},
        {true, "max2", "int max2(int a, int b)\n{\n    return *(volatile int *)0 + a + b;\n}\n",
         false},
    };
    // NOLINTEND(bugprone-suspicious-missing-comma)
    char py[FX_PATH_MAX], c[FX_PATH_MAX];
    fx_dir(py, "agree-py");
    fx_dir(c, "agree-c");
    agree_repos(py, c);
    sbx_pool *pool = NULL;
    sbx_pool_options po = sbx_pool_options_default();
    po.n_slots = 1;
    core_err err = {0};
    ck_assert_msg(sbx_pool_new(&pool, &po, &err) == 0, "%s", err.msg);
    sbx_limits lim = sbx_limits_default();
    lim.cpu_ms = 1500;
    lim.wall_ms = 20000;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const agree_case *k = &cases[i];
        /* kiln solve's test stage */
        char c_tests[512];
        snprintf(c_tests, sizeof c_tests,
                 "#include <assert.h>\n\nint max2(int a, int b);\n\nint main(void)\n{\n%s"
                 "    return 0;\n}\n",
                 AGREE_MAX2);
        const char *codes[] = {k->code};
        const solve_test_batch batch = {
            .lang = k->c ? SOLVE_LANG_C : SOLVE_LANG_PYTHON,
            .codes = codes,
            .n = 1,
            .tests = core_str_c(k->c ? c_tests : agree_asserts(k->entry)),
            .entry = core_str_c(k->entry),
            .limits = lim,
        };
        agree_solve s = {0};
        ck_assert_msg(solve_test_all(pool, &batch, agree_on_result, &s, &err) == 0, "%s", err.msg);
        /* kiln patch's verification */
        const char *const pairs[] = {k->entry, k->code, NULL};
        fx_gen gen = {.pairs = pairs};
        char fn[64];
        snprintf(fn, sizeof fn, "%s:%s", k->c ? "src/mx.c" : "corp/m.py", k->entry);
        const char *fns[] = {fn};
        patch_options o = patch_options_default();
        o.functions = fns;
        o.n_functions = 1;
        o.n_verify_max = 1;
        o.limits.cpu_ms = lim.cpu_ms;
        o.limits.wall_ms = lim.wall_ms;
        patch_result *r = NULL;
        ck_assert_msg(fx_patch(&r, k->c ? c : py, NULL, &o, &gen, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(r->n_targets, 1);
        const bool verified = r->targets[0].verdict == PATCH_VERDICT_VERIFIED;
        ck_assert_msg(s.passed == k->passes && verified == k->passes,
                      "case %zu (%s): expected %s, solve %s (%s), patch %s (%s)", i, k->entry,
                      k->passes ? "pass" : "fail", s.passed ? "passed" : "failed", s.message,
                      patch_verdict_name(r->targets[0].verdict), r->targets[0].message);
        patch_result_free(r);
    }
    sbx_pool_free(pool);
}
END_TEST

TCase *tcase_patch(void)
{
    TCase *tc = tcase_create("patch");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, patch__verified_only_when_tests_go_green);
    tcase_add_test(tc, patch__c_project_with_make);
    tcase_add_test(tc, patch__hostile_tests_are_contained);
    return tc;
}

TCase *tcase_agree(void)
{
    TCase *tc = tcase_create("agree");
    tcase_set_timeout(tc, 300);
    tcase_set_tags(tc, "slow");
    tcase_add_test(tc, patch__same_verdicts_as_solve);
    return tc;
}
