/*
 * The prompt a code generator sees for a task. HumanEval's prompt is code already (a signature
 * and a docstring). MBPP's text is prose, so the prompt is made as MBPP evaluations usually
 * make it: the signature of the reference solution's entry function, with the text as its
 * docstring, and, as in the original MBPP prompts, which list the tests, the first test shown
 * as a doctest example (`assert f(x) == y` becomes `>>> f(x)` and `y`), so that a generator
 * that turns examples into tests can run it. The reference body and the other tests stay
 * hidden.
 */
#include "eval/eval.h"

#include <string.h>

/* The def line of name in code (without its newline), or NULL. */
static const char *def_line(const char *code, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(code, "def "); p && n > 0; p = strstr(p + 4, "def ")) {
        const char *q = p + 4;
        while (*q == ' ') {
            q++;
        }
        if ((p == code || p[-1] == '\n') && strncmp(q, name, n) == 0 && q[n] == '(') {
            *len = strcspn(p, "\n");
            while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\r')) {
                (*len)--;
            }
            return p;
        }
    }
    return NULL;
}

/* Appends `>>> call` and the expected value when test is `assert <call> == <value>` on one
   line, with the call's brackets balanced before the `==`. */
static int append_example(core_buf *b, const char *test)
{
    if (strncmp(test, "assert ", 7) != 0 || strchr(test, '\n')) {
        return 0;
    }
    const char *s = test + 7;
    int depth = 0;
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1]) {
                p++;
            } else if (*p == quote) {
                quote = 0;
            }
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '(' || *p == '[' || *p == '{') {
            depth++;
        } else if (*p == ')' || *p == ']' || *p == '}') {
            depth--;
        } else if (depth == 0 && p[0] == '=' && p[1] == '=') {
            size_t n_call = (size_t)(p - s);
            while (n_call > 0 && s[n_call - 1] == ' ') {
                n_call--;
            }
            const char *v = p + 2;
            while (*v == ' ') {
                v++;
            }
            size_t n_v = strlen(v);
            while (n_v > 0 && (v[n_v - 1] == ' ' || v[n_v - 1] == '\r')) {
                n_v--;
            }
            if (n_call == 0 || n_v == 0) {
                return 0;
            }
            return core_buf_appendf(b, "    >>> %.*s\n    %.*s\n", (int)n_call, s, (int)n_v, v);
        }
    }
    return 0;
}

int eval_task_prompt(const char **out, core_arena *arena, const eval_task *task, core_err *err)
{
    *out = task->prompt;
    if (task->format != EVAL_TASK_FORMAT_MBPP) {
        return 0;
    }
    size_t len = 0;
    const char *def = def_line(task->solution, task->entry_point, &len);
    if (!def) {
        return core_err_set(err, CORE_EINVAL,
                            "task %s: mbpp code defines no function that the tests call",
                            task->task_id);
    }
    core_buf b = {0};
    int rc = core_buf_appendf(&b, "%.*s\n    \"\"\"%s\n", (int)len, def, task->prompt);
    if (rc == 0 && task->n_tests > 0) {
        rc = append_example(&b, task->test_list[0]);
    }
    if (rc == 0) {
        rc = core_buf_appendf(&b, "    \"\"\"\n");
    }
    *out = rc == 0 ? core_arena_strndup(arena, b.ptr, b.len) : NULL;
    core_buf_dispose(&b);
    if (!*out) {
        *out = task->prompt;
        return core_err_set(err, CORE_ENOMEM, "task %s: out of memory for the prompt",
                            task->task_id);
    }
    return 0;
}
