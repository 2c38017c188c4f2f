/*
 * Tests of solve/solve_gate.c on the real default model's engine: C names that resolve to
 * nothing are refused in process; with the sandbox (when the host has it), cc and CPython
 * refuse what tree-sitter's grammars let through.
 */
#include "tests/solve/tests.h"

#include <stdio.h>

#include "solve/solve_int.h"

#define MODEL_PATH KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

typedef struct gate_fixture {
    gen_model *model;
    sbx_pool *pool;
    solve_engine *engine;
} gate_fixture;

static void gate_open(gate_fixture *f, bool sandbox)
{
    core_err err = {0};
    gen_model_options mo = gen_model_options_default();
    ck_assert_msg(gen_model_load(&f->model, MODEL_PATH, &mo, &err) == 0, "%s", err.msg);
    f->pool = NULL;
    if (sandbox) {
        sbx_pool_options po = sbx_pool_options_default();
        po.n_slots = 1;
        po.prefork = false;
        if (sbx_pool_new(&f->pool, &po, &err) < 0) {
            fprintf(stderr, "test_solve: no sandbox (%s): compiler gate checks skipped\n", err.msg);
            f->pool = NULL;
        }
    }
    solve_engine_options eo = solve_engine_options_default();
    eo.n_candidates_max = 1;
    eo.n_ctx = 256;
    ck_assert_msg(solve_engine_new(&f->engine, f->model, f->pool, &eo, &err) == 0, "%s", err.msg);
}

static void gate_close(gate_fixture *f)
{
    solve_engine_free(f->engine);
    sbx_pool_free(f->pool);
    gen_model_free(f->model);
}

static bool refused(gate_fixture *f, solve_lang lang, const char *code)
{
    bool out = false;
    core_err err = {0};
    ck_assert_msg(solve__end_refused(f->engine, lang, core_str_c(code), &out, &err) == 0, "%s",
                  err.msg);
    return out;
}

START_TEST(gate__c_names_are_refused_without_a_sandbox)
{
    gate_fixture f;
    gate_open(&f, false);
    ck_assert(refused(&f, SOLVE_LANG_C,
                      "#include <stdio.h>\nint f(int a) {\n    return max_val + a;\n}\n"));
    ck_assert(!refused(&f, SOLVE_LANG_C,
                       "#include <stdio.h>\nint f(int a) {\n    printf(\"%d\", a);\n"
                       "    return a;\n}\n"));
    /* without a sandbox no compiler runs: Python is never refused */
    ck_assert(!refused(&f, SOLVE_LANG_PYTHON, "def f(a, b, c):\n    return [*a if b else c]\n"));
    gate_close(&f);
}
END_TEST

START_TEST(gate__compilers_refuse_what_the_grammars_accept)
{
    gate_fixture f;
    gate_open(&f, true);
    if (f.pool) {
        ck_assert(refused(&f, SOLVE_LANG_PYTHON, "def f(a, b, c):\n    return [*a if b else c]\n"));
        ck_assert(
            !refused(&f, SOLVE_LANG_PYTHON, "def f(a, b, c):\n    return [*(a if b else c)]\n"));
        ck_assert(refused(&f, SOLVE_LANG_C, "int f(int n) {\n    return *n;\n}\n"));
        ck_assert(!refused(&f, SOLVE_LANG_C, "int f(const int *n) {\n    return *n;\n}\n"));
    }
    gate_close(&f);
}
END_TEST

TCase *tcase_gate(void)
{
    TCase *tc = tcase_create("gate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, gate__c_names_are_refused_without_a_sandbox);
    tcase_add_test(tc, gate__compilers_refuse_what_the_grammars_accept);
    return tc;
}
