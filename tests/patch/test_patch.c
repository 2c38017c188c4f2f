/* Tests of patch/patch.c and patch/verify.c: the verdicts. A right candidate is verified (its
 * tests fail before and pass after, in the sandbox); a wrong one, one that breaks a test that
 * passed, and one whose tests never run to the end are proposed at best; hostile tests are
 * contained and change nothing on the host. */
#include "tests/patch/tests.h"

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

TCase *tcase_patch(void)
{
    TCase *tc = tcase_create("patch");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, patch__verified_only_when_tests_go_green);
    tcase_add_test(tc, patch__c_project_with_make);
    tcase_add_test(tc, patch__hostile_tests_are_contained);
    return tc;
}
