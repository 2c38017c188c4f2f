/*
 * Benchmark tasks: HumanEval (Chen et al. 2021; fields task_id, prompt, entry_point, test,
 * canonical_solution) and MBPP (Austin et al. 2021; task_id, text, code, test_list,
 * test_setup_code; the sanitized release's prompt and test_imports are read too) as JSON lines.
 * Each line is parsed with cJSON and copied into the caller's arena, so the cJSON tree lives only
 * for the line. The format is chosen per line by the fields present, so a file may even mix the
 * two. kiln's task sets add two optional fields to either format: "language" (python or c) and
 * "visible_tests" (the tests a generator may run; `test` stays hidden for grading). Errors name
 * the line and the field.
 */
#include "eval/eval_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Largest task file eval_task_set_load reads (HumanEval is 200 KiB, MBPP under 1 MiB). */
#define TASK_FILE_MAX ((size_t)256 << 20)

/* Copies a string field into the arena; *out = "" when absent and optional. */
static int field_str(const char **out, core_arena *arena, const cJSON *obj, const char *field,
                     bool required, size_t line_no, core_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!item || cJSON_IsNull(item)) {
        if (required) {
            return core_err_set(err, CORE_EPARSE, "line %zu: field '%s' missing", line_no, field);
        }
        *out = "";
        return 0;
    }
    if (!cJSON_IsString(item) || !item->valuestring) {
        return core_err_set(err, CORE_EPARSE, "line %zu: field '%s': not a string", line_no, field);
    }
    *out = core_arena_strndup(arena, item->valuestring, strlen(item->valuestring));
    if (!*out) {
        return core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for field '%s'", line_no,
                            field);
    }
    return 0;
}

/* task_id is a string (HumanEval) or an integer (MBPP). */
static int field_id(const char **out, core_arena *arena, const cJSON *obj, size_t line_no,
                    core_err *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "task_id");
    if (item && cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (!isfinite(v) || v != floor(v) || fabs(v) > 9007199254740992.0) {
            return core_err_set(err, CORE_EPARSE, "line %zu: field 'task_id': not an integer",
                                line_no);
        }
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%.0f", v);
        *out = core_arena_strndup(arena, buf, (size_t)len);
        if (!*out) {
            return core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for field 'task_id'",
                                line_no);
        }
        return 0;
    }
    return field_str(out, arena, obj, "task_id", true, line_no, err);
}

static bool is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/*
 * MBPP has no entry_point: take the first name defined by `def NAME(` in code that the first
 * test line mentions as `NAME(`, else the first `def` of code.
 */
static const char *mbpp_entry(core_arena *arena, const char *code, const char *test)
{
    const char *first = NULL;
    size_t first_len = 0;
    for (const char *p = strstr(code, "def "); p; p = strstr(p + 4, "def ")) {
        if (p != code && is_ident_char(p[-1])) {
            continue;
        }
        const char *name = p + 4;
        while (*name == ' ') {
            name++;
        }
        size_t len = 0;
        while (is_ident_char(name[len])) {
            len++;
        }
        if (len == 0 || name[len] != '(') {
            continue;
        }
        if (!first) {
            first = name;
            first_len = len;
        }
        for (const char *t = strchr(test, name[0]); t; t = strchr(t + 1, name[0])) {
            bool starts = t == test || !is_ident_char(t[-1]);
            if (starts && strncmp(t, name, len) == 0 && t[len] == '(') {
                return core_arena_strndup(arena, name, len);
            }
        }
    }
    return first ? core_arena_strndup(arena, first, first_len) : "";
}

static int parse_mbpp(eval_task *task, core_arena *arena, const cJSON *obj, size_t line_no,
                      core_err *err)
{
    int rc = 0;
    const char *setup = "";
    core_buf test = {0};

    task->format = EVAL_TASK_FORMAT_MBPP;
    /* The sanitized MBPP release names the text `prompt`. */
    const char *text_field = cJSON_HasObjectItem(obj, "text") ? "text" : "prompt";
    if ((rc = field_str(&task->prompt, arena, obj, text_field, true, line_no, err)) < 0 ||
        (rc = field_str(&task->solution, arena, obj, "code", false, line_no, err)) < 0 ||
        (rc = field_str(&setup, arena, obj, "test_setup_code", false, line_no, err)) < 0) {
        return rc;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "test_list");
    if (!cJSON_IsArray(list)) {
        return core_err_set(err, CORE_EPARSE, "line %zu: field 'test_list': not an array", line_no);
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    task->test_list = core_arena_alloc(arena, sizeof(*task->test_list) * (n ? n : 1));
    if (!task->test_list) {
        return core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for field 'test_list'",
                            line_no);
    }
    if (setup[0] != '\0' &&
        (core_buf_append(&test, setup, strlen(setup)) < 0 || core_buf_append(&test, "\n", 1) < 0)) {
        rc = core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for the tests", line_no);
        goto done;
    }
    /* The sanitized release lists the imports the tests need as test_imports. */
    const cJSON *imports = cJSON_GetObjectItemCaseSensitive(obj, "test_imports");
    if (imports && !cJSON_IsNull(imports) && !cJSON_IsArray(imports)) {
        rc =
            core_err_set(err, CORE_EPARSE, "line %zu: field 'test_imports': not an array", line_no);
        goto done;
    }
    const cJSON *import = NULL;
    size_t i_import = 0;
    cJSON_ArrayForEach(import, imports)
    {
        if (!cJSON_IsString(import) || !import->valuestring) {
            rc = core_err_set(err, CORE_EPARSE, "line %zu: field 'test_imports[%zu]': not a string",
                              line_no, i_import);
            goto done;
        }
        if (core_buf_append(&test, import->valuestring, strlen(import->valuestring)) < 0 ||
            core_buf_append(&test, "\n", 1) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for the tests", line_no);
            goto done;
        }
        i_import++;
    }
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsString(item) || !item->valuestring) {
            rc = core_err_set(err, CORE_EPARSE, "line %zu: field 'test_list[%zu]': not a string",
                              line_no, i);
            goto done;
        }
        size_t len = strlen(item->valuestring);
        task->test_list[i] = core_arena_strndup(arena, item->valuestring, len);
        if (!task->test_list[i] || core_buf_append(&test, item->valuestring, len) < 0 ||
            core_buf_append(&test, "\n", 1) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for the tests", line_no);
            goto done;
        }
        i++;
    }
    task->n_tests = i;
    task->test = core_arena_strndup(arena, test.ptr ? test.ptr : "", test.len);
    if (!task->test) {
        rc = core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for the tests", line_no);
        goto done;
    }
    task->entry_point = mbpp_entry(arena, task->solution, n ? task->test_list[0] : "");
    if (!task->entry_point) {
        rc = core_err_set(err, CORE_ENOMEM, "line %zu: out of memory for the entry point", line_no);
        goto done;
    }

done:
    core_buf_dispose(&test);
    return rc;
}

int eval_task_parse_line(eval_task *out, core_arena *arena, core_str line, size_t line_no,
                         core_err *err)
{
    int rc = 0;
    cJSON *obj = NULL;
    eval_task task = {0};

    memset(out, 0, sizeof(*out));
    task.line = line_no;
    if (line.len == 0 || memchr(line.ptr, '\0', line.len)) {
        return core_err_set(err, CORE_EPARSE, "line %zu: %s", line_no,
                            line.len == 0 ? "empty line" : "NUL byte in the line");
    }
    size_t at = 0;
    obj = eval__json_parse_whole(line, &at);
    if (!obj) {
        return core_err_set(err, CORE_EPARSE, "line %zu: byte %zu: not valid JSON", line_no, at);
    }
    if (!cJSON_IsObject(obj)) {
        rc = core_err_set(err, CORE_EPARSE, "line %zu: not a JSON object", line_no);
        goto done;
    }
    if ((rc = field_id(&task.task_id, arena, obj, line_no, err)) < 0) {
        goto done;
    }
    if (cJSON_HasObjectItem(obj, "prompt") && !cJSON_HasObjectItem(obj, "test_list")) {
        task.format = EVAL_TASK_FORMAT_HUMANEVAL;
        if ((rc = field_str(&task.prompt, arena, obj, "prompt", true, line_no, err)) < 0 ||
            (rc = field_str(&task.entry_point, arena, obj, "entry_point", true, line_no, err)) <
                0 ||
            (rc = field_str(&task.test, arena, obj, "test", true, line_no, err)) < 0 ||
            (rc = field_str(&task.solution, arena, obj, "canonical_solution", false, line_no,
                            err)) < 0) {
            goto done;
        }
    } else if (cJSON_HasObjectItem(obj, "text") || cJSON_HasObjectItem(obj, "test_list")) {
        if ((rc = parse_mbpp(&task, arena, obj, line_no, err)) < 0) {
            goto done;
        }
    } else {
        rc = core_err_set(err, CORE_EPARSE,
                          "line %zu: field 'prompt' (HumanEval) or 'text' (MBPP) missing", line_no);
        goto done;
    }
    if ((rc = field_str(&task.language, arena, obj, "language", false, line_no, err)) < 0 ||
        (rc = field_str(&task.visible_tests, arena, obj, "visible_tests", false, line_no, err)) <
            0) {
        goto done;
    }
    if (!task.language || task.language[0] == '\0') {
        task.language = "python";
    } else if (strcmp(task.language, "python") != 0 && strcmp(task.language, "c") != 0) {
        rc = core_err_set(err, CORE_EPARSE, "line %zu: field 'language': '%s' is not python or c",
                          line_no, task.language);
        goto done;
    }
    *out = task;

done:
    cJSON_Delete(obj);
    return rc;
}

int eval_task_set_parse(eval_task_set *out, core_arena *arena, core_str text, const char *name,
                        core_err *err)
{
    int rc = 0;
    size_t n_lines = 1;

    out->tasks = NULL;
    out->n_tasks = 0;
    for (size_t i = 0; i < text.len; i++) {
        n_lines += text.ptr[i] == '\n';
    }
    eval_task *tasks = core_arena_alloc(arena, sizeof(*tasks) * n_lines);
    if (!tasks) {
        return core_err_set(err, CORE_ENOMEM, "%s: out of memory for %zu tasks",
                            name ? name : "tasks", n_lines);
    }
    size_t n_tasks = 0;
    size_t line_no = 0;
    for (size_t start = 0; start < text.len;) {
        const char *nl = memchr(text.ptr + start, '\n', text.len - start);
        size_t end = nl ? (size_t)(nl - text.ptr) : text.len;
        core_str line = {text.ptr + start, end - start};
        line_no++;
        start = end + 1;
        while (line.len > 0 && (line.ptr[line.len - 1] == '\r' || line.ptr[line.len - 1] == ' ' ||
                                line.ptr[line.len - 1] == '\t')) {
            line.len--;
        }
        size_t lead = 0;
        while (lead < line.len && (line.ptr[lead] == ' ' || line.ptr[lead] == '\t')) {
            lead++;
        }
        if (lead == line.len) {
            continue;
        }
        rc = eval_task_parse_line(&tasks[n_tasks], arena, line, line_no, err);
        if (rc < 0) {
            if (name) {
                core_err_wrap(err, rc, "%s", name);
            }
            return rc;
        }
        n_tasks++;
    }
    out->tasks = tasks;
    out->n_tasks = n_tasks;
    return 0;
}

int eval_task_set_load(eval_task_set *out, core_arena *arena, const char *path, core_err *err)
{
    int rc = 0;
    FILE *f = NULL;
    core_buf buf = {0};

    out->tasks = NULL;
    out->n_tasks = 0;
    f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return core_err_set(err, e == ENOENT ? CORE_ENOTFOUND : CORE_EIO, "%s: fopen: %s", path,
                            strerror(e));
    }
    for (;;) {
        if (core_buf_reserve(&buf, 65536) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "%s: out of memory reading the file", path);
            goto done;
        }
        size_t got = fread(buf.ptr + buf.len, 1, 65536, f);
        buf.len += got;
        buf.ptr[buf.len] = '\0';
        if (got < 65536) {
            if (ferror(f)) {
                rc = core_err_set(err, CORE_EIO, "%s: read error", path);
                goto done;
            }
            break;
        }
        if (buf.len > TASK_FILE_MAX) {
            rc = core_err_set(err, CORE_EIO, "%s: larger than %zu bytes", path, TASK_FILE_MAX);
            goto done;
        }
    }
    rc = eval_task_set_parse(out, arena, (core_str){buf.ptr ? buf.ptr : "", buf.len}, path, err);

done:
    core_buf_dispose(&buf);
    fclose(f);
    return rc;
}
