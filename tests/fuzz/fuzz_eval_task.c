/*
 * libFuzzer target: one benchmark task line (HumanEval or MBPP JSON) on arbitrary bytes, then
 * what `kiln eval` makes of it: the prompt the pipeline sees (eval_task_prompt), the
 * docstring-example extraction and the C comment-example extraction on it. Built only with
 * clang and -DFUZZ=ON.
 */
#include <stddef.h>
#include <stdint.h>

#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_arena *arena = NULL;
    if (core_arena_new(&arena, 4096, NULL) < 0) {
        return 0;
    }
    eval_task task;
    core_str line = {(const char *)data, size};
    if (eval_task_parse_line(&task, arena, line, 1, NULL) == 0) {
        const char **tests = NULL;
        size_t n_tests = 0;
        eval_doctest_extract(&tests, &n_tests, NULL, arena, core_str_c(task.prompt), NULL);
        const char *prompt = NULL;
        if (eval_task_prompt(&prompt, arena, &task, NULL) == 0) {
            eval_c_examples_extract(&tests, &n_tests, NULL, arena, core_str_c(prompt),
                                    core_str_c(task.entry_point), NULL);
        }
    }
    core_arena_free(arena);
    return 0;
}
