/*
 * The end gate: a candidate that the grammar judges finished is also asked of the language's
 * own front end before its end is accepted, since tree-sitter's grammars accept some programs
 * that CPython and cc refuse. C's names are checked in process first (gram_names_check: a name
 * that resolves to nothing), then, where the pipeline has a sandbox, the compiler runs in a box
 * of its own (sbx_tree_run; read-only system, no network, limits): `cc -fsyntax-only` for C,
 * CPython's compile() for Python. Neither runs the candidate. A gate that cannot run (no
 * sandbox, a box that failed) refuses nothing.
 */
#include "solve/solve_int.h"

#include <string.h>

/* The box's limits: a syntax check of one function needs little. */
static sbx_limits gate_limits(void)
{
    sbx_limits l = sbx_limits_compile_default();
    l.wall_ms = 20000;
    return l;
}

static const char gate_python[] =
    "exec /usr/bin/python3 -I -S -c 'import sys; src = open(\"cand.py\", \"rb\").read(); "
    "compile(src, \"cand.py\", \"exec\")' 2>&1";
/* gcc by its path: /usr/bin/cc is a link through /etc/alternatives, which the box lacks */
static const char gate_c[] = "exec /usr/bin/gcc -fsyntax-only -w -std=gnu11 -x c cand.c 2>&1";

/* Whether the compiler in a box accepts code (*known false when the box could not run). */
static int compiler_accepts(solve_engine *e, solve_lang lang, core_str code, bool *ok, bool *known,
                            core_err *err)
{
    *ok = true;
    *known = false;
    if (!e->pool || e->gate_failed) {
        return 0;
    }
    if (!e->gate) {
        sbx_tree_options to = sbx_tree_options_default();
        to.log = e->log;
        core_err terr = {0};
        if (sbx_tree_new(&e->gate, &to, &terr) < 0) {
            core_log_write(&e->log, CORE_LOG_LEVEL_WARN, "solve: no compiler gate: %s", terr.msg);
            e->gate_failed = true;
            return 0;
        }
    }
    sbx_tree_file file = {.path = core_str_c(lang == SOLVE_LANG_C ? "cand.c" : "cand.py"),
                          .data = code};
    sbx_tree_job job = {.files = &file,
                        .n_files = 1,
                        .command = lang == SOLVE_LANG_C ? gate_c : gate_python,
                        .limits = gate_limits()};
    sbx_tree_result res;
    memset(&res, 0, sizeof(res));
    int rc = sbx_tree_run(&res, e->gate, &job, err);
    if (rc == 0 && res.limit == SBX_LIMIT_NONE && (res.exit_code == 126 || res.exit_code == 127)) {
        core_log_write(&e->log, CORE_LOG_LEVEL_WARN, "solve: compiler gate off: %s",
                       lang == SOLVE_LANG_C ? "no /usr/bin/gcc" : "no /usr/bin/python3");
        e->gate_failed = true;
    } else if (rc == 0 && res.limit == SBX_LIMIT_NONE) {
        /* a limit (a loaded machine's wall clock) decides nothing: the answer must not
           depend on timing, so that runs stay reproducible */
        *known = true;
        *ok = res.exit_code == 0;
    } else if (rc != CORE_ENOMEM && rc != CORE_ECANCELED) {
        core_log_write(&e->log, CORE_LOG_LEVEL_WARN, "solve: compiler gate off: %s", err->msg);
        core_err_clear(err);
        e->gate_failed = true;
        rc = 0;
    }
    sbx_tree_result_dispose(&res);
    return rc;
}

int solve__end_refused(solve_engine *e, solve_lang lang, core_str code, bool *refused,
                       core_err *err)
{
    *refused = false;
    const gram_lang *gl = e->langs[lang];
    if (lang == SOLVE_LANG_C && gl) {
        if (!e->names) {
            int rc = gram_names_new(&e->names, NULL, err);
            if (rc < 0) {
                return rc;
            }
        }
        size_t at = SIZE_MAX;
        int rc = gram_names_check(&at, e->names, gl, code, err);
        if (rc == CORE_ENOMEM) {
            return rc;
        }
        if (rc < 0) {
            core_err_clear(err); /* a text the check cannot read is judged by the compiler */
        } else if (at != SIZE_MAX) {
            *refused = true;
            return 0;
        }
    }
    bool ok = true;
    bool known = false;
    int rc = compiler_accepts(e, lang, code, &ok, &known, err);
    *refused = known && !ok;
    return rc;
}
