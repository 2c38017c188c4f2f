/*
 * The pipeline's text work: the prompts of each stage, the code the model continues from, where
 * a generated function ends, and which visible tests a task has. A tiny model (SmolLM2-135M)
 * follows worked examples far better than instructions, so every prompt is a short chat with an
 * example exchange (a plan, or a function) before the task, and the write stage prefills the
 * reply with the task's own code (signature and docstring, or comment and prototype) and the
 * body's indentation, so the model only writes the body, as in HumanEval-style completion.
 */
#include "solve/solve_int.h"

#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */
/* ------------------------------------------------------------------------------------------ */

const char *solve_lang_name(solve_lang lang)
{
    return lang == SOLVE_LANG_C ? "c" : "python";
}

const char *solve_tests_source_name(solve_tests_source source)
{
    static const char *const names[] = {"field", "docstring", "none", "generated"};
    return (size_t)source < sizeof(names) / sizeof(names[0]) ? names[source] : "none";
}

const char *solve_candidate_event_kind_name(solve_candidate_event_kind kind)
{
    static const char *const names[] = {"written", "tested", "repairing"};
    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

const char *solve_stage_name(solve_stage stage)
{
    static const char *const names[] = {"plan", "write", "test", "repair", "rank"};
    return (size_t)stage < sizeof(names) / sizeof(names[0]) ? names[stage] : "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* Where a function ends                                                                      */
/* ------------------------------------------------------------------------------------------ */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t trim_end(core_str text, size_t end)
{
    while (end > 0 && is_blank(text.ptr[end - 1])) {
        end--;
    }
    return end;
}

static size_t find_fence(core_str text)
{
    for (size_t i = 0; i + 3 <= text.len; i++) {
        if (memcmp(text.ptr + i, "```", 3) == 0) {
            return i;
        }
    }
    return text.len;
}

static bool python_end(core_str text, size_t *end)
{
    size_t fence = find_fence(text);
    /* A line that starts at column 0 with a non-blank character leaves the function. The text
       starts inside the body's first line, after the prefilled indentation. */
    for (size_t p = 1; p < fence; p++) {
        bool line_start = text.ptr[p - 1] == '\n';
        if (line_start && !is_blank(text.ptr[p])) {
            *end = trim_end(text, p);
            return true;
        }
    }
    if (fence < text.len) {
        *end = trim_end(text, fence);
        return true;
    }
    *end = text.len;
    return false;
}

static bool c_end(core_str text, size_t *end)
{
    int depth = 1;
    size_t i = 0;
    while (i < text.len) {
        char ch = text.ptr[i];
        if (ch == '`' && i + 3 <= text.len && memcmp(text.ptr + i, "```", 3) == 0) {
            *end = trim_end(text, i);
            return true;
        }
        if (ch == '/' && i + 1 < text.len && text.ptr[i + 1] == '/') {
            while (i < text.len && text.ptr[i] != '\n') {
                i++;
            }
            continue;
        }
        if (ch == '/' && i + 1 < text.len && text.ptr[i + 1] == '*') {
            i += 2;
            while (i + 1 < text.len && !(text.ptr[i] == '*' && text.ptr[i + 1] == '/')) {
                i++;
            }
            i += 2;
            continue;
        }
        if (ch == '"' || ch == '\'') {
            i++;
            while (i < text.len && text.ptr[i] != ch && text.ptr[i] != '\n') {
                i += text.ptr[i] == '\\' ? 2 : 1;
            }
            i++;
            continue;
        }
        if (ch == '{') {
            depth++;
        } else if (ch == '}') {
            depth--;
            if (depth == 0) {
                *end = i + 1;
                return true;
            }
        }
        i++;
    }
    *end = text.len;
    return false;
}

bool solve_body_end(solve_lang lang, core_str text, size_t *end)
{
    return lang == SOLVE_LANG_C ? c_end(text, end) : python_end(text, end);
}

/* Whether the checker's text up to the candidate's byte end is a complete program. */
static int complete_at(solve__cand *c, size_t end, bool *complete, core_err *err)
{
    size_t n_prefix = gram_checker_text(c->checker).len - c->text.len;
    return gram_checker_is_complete_at(c->checker, n_prefix + end, complete, err);
}

/*
 * A body end found by text alone is a guess: a column-0 line may sit inside a string or
 * brackets, and a fence inside a comment. Under the grammar, the end is the first of those
 * guesses where the checker judges the code complete; at a stop token with none, the whole text
 * (trimmed), if complete. Without a checker, solve_body_end decides alone.
 */
int solve__cand_end(solve__cand *c, solve_lang lang, bool at_stop, bool *ended, size_t *end,
                    core_err *err)
{
    core_str text = {c->text.ptr, c->text.len};
    *ended = solve_body_end(lang, text, end);
    if (!c->checker) {
        if (at_stop && !*ended) {
            *ended = true;
            *end = trim_end(text, text.len);
        }
        return 0;
    }
    bool complete = false;
    while (*ended) {
        int rc = complete_at(c, *end, &complete, err);
        if (rc < 0 || complete) {
            return rc;
        }
        /* Look for the next guess past this one. */
        size_t from = *end;
        while (from < text.len && is_blank(text.ptr[from])) {
            from++;
        }
        while (from < text.len && text.ptr[from] != '\n') {
            from++;
        }
        if (from >= text.len || lang != SOLVE_LANG_PYTHON) {
            break;
        }
        size_t rest = 0;
        *ended = python_end((core_str){text.ptr + from, text.len - from}, &rest);
        *end = from + rest;
    }
    *ended = false;
    *end = text.len;
    if (at_stop) {
        *end = trim_end(text, text.len);
        int rc = complete_at(c, *end, &complete, err);
        *ended = complete;
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Visible tests                                                                              */
/* ------------------------------------------------------------------------------------------ */

static bool has_text(core_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (!is_blank(s.ptr[i])) {
            return true;
        }
    }
    return false;
}

/*
 * The declaration of a C prompt's function: from after the last ';', '}', comment or
 * preprocessor line before the prompt's final ';' or '{', up to it (without it).
 */
static core_str c_declaration(core_str p)
{
    size_t end = trim_end(p, p.len);
    if (end == 0 || (p.ptr[end - 1] != ';' && p.ptr[end - 1] != '{')) {
        return (core_str){p.ptr, 0};
    }
    end--;
    size_t start = end;
    while (start > 0) {
        char ch = p.ptr[start - 1];
        if (ch == ';' || ch == '}' || (ch == '/' && start > 1 && p.ptr[start - 2] == '*')) {
            break;
        }
        if (ch == '\n') {
            /* a line above that is a directive or a // comment ends the search */
            size_t ls = start - 1;
            while (ls > 0 && p.ptr[ls - 1] != '\n') {
                ls--;
            }
            while (ls < start - 1 && (p.ptr[ls] == ' ' || p.ptr[ls] == '\t')) {
                ls++;
            }
            if (p.ptr[ls] == '#' || (p.ptr[ls] == '/' && p.ptr[ls + 1] == '/')) {
                break;
            }
        }
        start--;
    }
    while (start < end && is_blank(p.ptr[start])) {
        start++;
    }
    return (core_str){p.ptr + start, trim_end(p, end) - start};
}

/* C: a test program made from the examples in the prompt's comments (eval/examples.c). */
static int c_example_tests(const char **out, solve_tests_source *source, core_arena *arena,
                           const solve_task *task, core_err *err)
{
    const char **checks = NULL;
    size_t n = 0;
    core_str decl = c_declaration(task->prompt);
    if (decl.len == 0) {
        return 0;
    }
    int rc = eval_c_examples_extract(&checks, &n, NULL, arena, task->prompt, task->entry, err);
    if (rc < 0 || n == 0) {
        return rc;
    }
    core_buf b = {0};
    rc = core_buf_appendf(&b,
                          "#include <stdbool.h>\n#include <stddef.h>\n#include <stdio.h>\n"
                          "#include <stdlib.h>\n#include <string.h>\n\n"
                          "#define CHECK(x) do { if (!(x)) { fprintf(stderr, \"check failed: "
                          "%%s\\n\", #x); return 1; } } while (0)\n\n%.*s;\n\n"
                          "int main(void)\n{\n",
                          (int)decl.len, decl.ptr);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = core_buf_appendf(&b, "    CHECK(%s);\n", checks[i]);
    }
    if (rc == 0) {
        rc = core_buf_appendf(&b, "    return 0;\n}\n");
    }
    *out = rc == 0 ? core_arena_strndup(arena, b.ptr, b.len) : NULL;
    core_buf_dispose(&b);
    if (!*out) {
        *out = "";
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the examples' tests");
    }
    *source = SOLVE_TESTS_DOCSTRING;
    return 0;
}

int solve_tests_select(const char **out, solve_tests_source *source, core_arena *arena,
                       const solve_task *task, core_err *err)
{
    *out = "";
    *source = SOLVE_TESTS_NONE;
    if (has_text(task->visible_tests)) {
        *out = core_arena_strndup(arena, task->visible_tests.ptr, task->visible_tests.len);
        if (!*out) {
            return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the visible tests");
        }
        *source = SOLVE_TESTS_FIELD;
        return 0;
    }
    if (task->lang != SOLVE_LANG_PYTHON) {
        return c_example_tests(out, source, arena, task, err);
    }
    const char **lines = NULL;
    size_t n = 0;
    int rc = eval_doctest_extract(&lines, &n, NULL, arena, task->prompt, err);
    if (rc < 0) {
        return rc;
    }
    bool any_assert = false;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += strlen(lines[i]) + 1;
        any_assert = any_assert || strncmp(lines[i], "assert", 6) == 0;
    }
    if (!any_assert) {
        return 0;
    }
    char *text = core_arena_alloc(arena, len + 1);
    if (!text) {
        return core_err_set(err, CORE_ENOMEM, "solve: out of memory for the docstring tests");
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(text + at, lines[i], l);
        text[at + l] = '\n';
        at += l + 1;
    }
    text[at] = '\0';
    *out = text;
    *source = SOLVE_TESTS_DOCSTRING;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The code prefix                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Headers a C candidate may use without the model having to write them. */
static const char c_includes[] = "#include <stdbool.h>\n#include <stddef.h>\n"
                                 "#include <stdlib.h>\n#include <string.h>\n\n";

/* The indentation of the first non-blank line after the last `def` line (4 by default). */
static size_t body_indent(core_str p)
{
    size_t def = p.len;
    for (size_t i = 0; i + 4 <= p.len; i++) {
        if ((i == 0 || p.ptr[i - 1] == '\n') && memcmp(p.ptr + i, "def ", 4) == 0) {
            def = i;
        }
    }
    if (def == p.len) {
        return 4;
    }
    size_t i = def;
    while (i < p.len && p.ptr[i] != '\n') {
        i++;
    }
    while (i < p.len) {
        i++; /* past '\n' */
        size_t n = 0;
        while (i + n < p.len && (p.ptr[i + n] == ' ')) {
            n++;
        }
        if (i + n < p.len && p.ptr[i + n] != '\n' && p.ptr[i + n] != '\r') {
            return n > 0 ? n : 4;
        }
        i += n;
        while (i < p.len && p.ptr[i] != '\n') {
            i++;
        }
    }
    return 4;
}

/* Whether a C prompt is really C++ (HumanEval-X's and MultiPL-E's C++ shapes). */
static bool c_is_cpp(core_str p)
{
    static const char *const marks[] = {"using namespace",    "std::",
                                        "template<",          "template <",
                                        "#include<vector>",   "#include <vector>",
                                        "#include<string>",   "#include <string>",
                                        "#include<iostream>", "#include <iostream>"};
    for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
        size_t n = strlen(marks[m]);
        for (size_t i = 0; i + n <= p.len; i++) {
            if (memcmp(p.ptr + i, marks[m], n) == 0) {
                return true;
            }
        }
    }
    return false;
}

int solve_code_prefix(core_buf *out, const solve_task *task, core_err *err)
{
    core_str p = task->prompt;
    int rc = 0;
    if (task->lang == SOLVE_LANG_PYTHON) {
        rc = core_buf_append(out, p.ptr, p.len);
        if (rc == 0 && (p.len == 0 || p.ptr[p.len - 1] != '\n')) {
            rc = core_buf_append(out, "\n", 1);
        }
        /* The body's indentation less one space: the tokenizer has "\n   " and " return" as
           tokens, so the model continues with a natural " name" token. */
        size_t indent = body_indent(p);
        for (size_t i = 1; rc == 0 && i < indent; i++) {
            rc = core_buf_append(out, " ", 1);
        }
        return rc < 0 ? core_err_set(err, CORE_ENOMEM, "solve: out of memory") : 0;
    }
    /* Two shapes: a prototype's ';' (kiln's own tasks) or an open definition's '{' (HumanEval-X,
       MultiPL-E), whose body the model writes. */
    size_t semi = trim_end(p, p.len);
    bool open = semi > 0 && p.ptr[semi - 1] == '{';
    if (semi == 0 || (p.ptr[semi - 1] != ';' && !open)) {
        return core_err_set(err, CORE_EINVAL,
                            "solve: c prompt must end with the function's prototype and ';' or "
                            "its definition's opening '{'");
    }
    if (c_is_cpp(p)) {
        return core_err_set(err, CORE_EINVAL,
                            "solve: the prompt is C++ (namespaces, templates or C++ headers); "
                            "kiln writes C");
    }
    semi--;
    bool has_include = false;
    for (size_t i = 0; i + 8 <= p.len && !has_include; i++) {
        has_include = memcmp(p.ptr + i, "#include", 8) == 0;
    }
    if (!has_include) {
        rc = core_buf_append(out, c_includes, strlen(c_includes));
    }
    if (rc == 0) {
        rc = core_buf_append(out, p.ptr, trim_end(p, semi));
    }
    if (rc == 0) {
        /* as for Python: the indentation less the space the tokenizer joins to the word */
        rc = open ? core_buf_append(out, " {\n   ", 6) : core_buf_append(out, "\n{\n   ", 6);
    }
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "solve: out of memory") : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Prompts                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static const char system_text[] =
    "You are an expert programmer. You write short, correct code that follows the plan.";

/* Worked examples per language: the task, its plan and its solution. One example measured
   better than two of different shapes (a loop and a branch) on kiln's task set: 0.48 vs 0.44
   ranked top-1 on 25 Python tasks, 0.6 vs 0.4 on 10 C tasks (n 8, no repair). */
typedef struct example {
    const char *task;
    const char *plan;
    const char *code;
} example;

#define N_EXAMPLES 1

static const example examples[2][N_EXAMPLES] = {
    {{"def count_even(xs):\n    \"\"\"Return how many numbers in the list xs are even.\n"
      "    >>> count_even([1, 2, 4])\n    2\n    \"\"\"\n",
      "1. Start a counter at 0.\n2. For each number x in xs, add 1 to the counter if x % 2 == "
      "0.\n3. Return the counter.",
      "def count_even(xs):\n    \"\"\"Return how many numbers in the list xs are even.\n"
      "    >>> count_even([1, 2, 4])\n    2\n    \"\"\"\n    count = 0\n    for x in xs:\n"
      "        if x % 2 == 0:\n            count += 1\n    return count\n"}},
    {{"/* Returns how many numbers in a[0..n-1] are even. */\nint count_even(const int *a, int "
      "n);\n",
      "1. Start a counter at 0.\n2. For each i from 0 to n-1, add 1 to the counter if a[i] % 2 "
      "== 0.\n3. Return the counter.",
      "/* Returns how many numbers in a[0..n-1] are even. */\nint count_even(const int *a, int "
      "n)\n{\n    int count = 0;\n    for (int i = 0; i < n; i++) {\n        if (a[i] % 2 == "
      "0) {\n            count++;\n        }\n    }\n    return count;\n}\n"}},
};

/* Whether the model's template is ChatML (else Gemma turns). */
static int is_chatml(bool *out, const gen_model *model, core_err *err)
{
    core_buf probe = {0};
    int rc = gen_model_chat_apply(model, core_str_c("s"), core_str_c("u"), &probe, err);
    *out = rc == 0 && probe.ptr && strstr(probe.ptr, "<|im_start|>") != NULL;
    core_buf_dispose(&probe);
    return rc;
}

/* Ends the assistant's turn and adds a user turn and the start of the next reply. */
static int next_turn(core_buf *out, bool chatml, core_str user)
{
    if (chatml) {
        return core_buf_appendf(out,
                                "<|im_end|>\n<|im_start|>user\n%.*s<|im_end|>\n"
                                "<|im_start|>assistant\n",
                                (int)user.len, user.ptr);
    }
    return core_buf_appendf(out,
                            "<end_of_turn>\n<start_of_turn>user\n%.*s<end_of_turn>\n"
                            "<start_of_turn>model\n",
                            (int)user.len, user.ptr);
}

static const char *fence_open(solve_lang lang)
{
    return lang == SOLVE_LANG_C ? "```c\n" : "```python\n";
}

/* The user's request for a plan or for code. */
static int user_text(core_buf *out, solve_lang lang, core_str task, bool for_plan, core_str plan)
{
    const char *lname = lang == SOLVE_LANG_C ? "C" : "Python";
    const char *fence = fence_open(lang);
    if (for_plan) {
        return core_buf_appendf(out,
                                "Write a short numbered plan (at most 4 steps, no code) for this "
                                "%s function.\n%s%.*s%s```",
                                lname, fence, (int)task.len, task.ptr,
                                task.len > 0 && task.ptr[task.len - 1] == '\n' ? "" : "\n");
    }
    const char *nl = task.len > 0 && task.ptr[task.len - 1] == '\n' ? "" : "\n";
    int rc = core_buf_appendf(out, "Complete this %s function.\n%s%.*s%s```", lname, fence,
                              (int)task.len, task.ptr, nl);
    if (rc == 0 && plan.len > 0) {
        rc = core_buf_appendf(out, "\nPlan:\n%.*s", (int)plan.len, plan.ptr);
    }
    return rc;
}

int solve_prompt_build(core_buf *out, const gen_model *model, const solve_task *task, bool for_plan,
                       core_str plan, core_err *err)
{
    const example *ex = examples[task->lang == SOLVE_LANG_C ? 1 : 0];
    core_buf user = {0};
    bool chatml = false;
    int rc = is_chatml(&chatml, model, err);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i <= N_EXAMPLES; i++) {
        /* the examples' turns, then the task's */
        bool is_task = i == N_EXAMPLES;
        core_str ex_plan = plan.len > 0 && !is_task ? core_str_c(ex[i].plan) : core_str_c("");
        user.len = 0;
        if (user_text(&user, task->lang, is_task ? task->prompt : core_str_c(ex[i].task), for_plan,
                      is_task ? plan : ex_plan) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for the prompt");
            goto done;
        }
        if (i == 0) {
            rc = gen_model_chat_apply(model, core_str_c(system_text),
                                      (core_str){user.ptr, user.len}, out, err);
            if (rc < 0) {
                goto done;
            }
        } else if (next_turn(out, chatml, (core_str){user.ptr, user.len}) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for the prompt");
            goto done;
        }
        if (!is_task &&
            (for_plan ? core_buf_appendf(out, "%s", ex[i].plan)
                      : core_buf_appendf(out, "%s%s```", fence_open(task->lang), ex[i].code)) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "solve: out of memory for the prompt");
            goto done;
        }
    }

done:
    core_buf_dispose(&user);
    return rc;
}

int solve_prompt_repair(core_buf *out, const gen_model *model, const solve_task *task,
                        core_str code, core_str message, core_err *err)
{
    bool chatml = false;
    core_buf user = {0};
    int rc = is_chatml(&chatml, model, err);
    if (rc < 0) {
        return rc;
    }
    size_t code_len = trim_end(code, code.len);
    rc = core_buf_appendf(out, "%s%.*s\n```", fence_open(task->lang), (int)code_len, code.ptr);
    if (rc == 0) {
        rc = core_buf_appendf(&user,
                              "This code is wrong. The test failed:\n%.*s\nWrite a correct "
                              "version.",
                              (int)message.len, message.ptr);
    }
    if (rc == 0) {
        rc = next_turn(out, chatml, (core_str){user.ptr, user.len});
    }
    core_buf_dispose(&user);
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "solve: out of memory for the prompt") : 0;
}
