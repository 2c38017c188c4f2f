/* The CI examples (patch/ci/) parse as YAML and run `kiln patch --base` on a pull request; the
 * command line's exit codes for bad input (no model is loaded for them). */
#include "tests/patch/tests.h"

#include <stdio.h>

START_TEST(ci__examples_are_yaml)
{
    ck_assert_int_eq(
        fx_sh("/usr/bin/python3 -c \"import yaml,sys; "
              "g=yaml.safe_load(open(sys.argv[1])); "
              "on=g.get('on', g.get(True)); assert 'pull_request' in on; "
              "steps=[s for j in g['jobs'].values() for s in j['steps']]; "
              "assert any('kiln patch' in s.get('run', '') and '--base' in s['run'] "
              "for s in steps); "
              "l=yaml.safe_load(open(sys.argv[2])); "
              "jobs=[v for k, v in l.items() if isinstance(v, dict) and 'script' in v]; "
              "assert jobs and any('kiln patch' in c and '--base' in c "
              "for j in jobs for c in j['script'])\" "
              "'%s/patch/ci/github-kiln-patch.yml' '%s/patch/ci/gitlab-kiln-patch.yml'",
              KILN_SOURCE_DIR, KILN_SOURCE_DIR),
        0);
}
END_TEST

START_TEST(ci__command_line_exit_codes)
{
    char dir[FX_PATH_MAX];
    fx_dir(dir, "cli");
    fx_python_project(dir);
    ck_assert_int_eq(fx_sh("'%s' patch /nonexistent/kiln 2>/dev/null", KILN_BIN), 2);
    ck_assert_int_eq(fx_sh("'%s' patch '%s' --rev nosuch 2>/dev/null", KILN_BIN, dir), 2);
    ck_assert_int_eq(
        fx_sh("'%s' patch '%s' --function calc/ops.py:nosuch 2>/dev/null", KILN_BIN, dir), 2);
    ck_assert_int_eq(fx_sh("'%s' patch '%s' --format html 2>/dev/null", KILN_BIN, dir), 2);
    /* no stub changed since HEAD: no target, no model, exit 1 */
    ck_assert_int_eq(fx_sh("'%s' patch '%s' --base HEAD 2>/dev/null", KILN_BIN, dir), 1);
}
END_TEST

TCase *tcase_ci(void)
{
    TCase *tc = tcase_create("ci");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ci__examples_are_yaml);
    tcase_add_test(tc, ci__command_line_exit_codes);
    return tc;
}
