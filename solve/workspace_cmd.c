/*
 * A workspace's own test command (kiln lsp's kiln.tests.<lang>.command, kiln complete's
 * --test-cmd): the command runs in the sandbox (sbx_tree_run), never on the host, over a copy
 * of the workspace in memory: the regular files under the root with the editor's unsaved text
 * for open documents and the document under test as the caller gives it (a completion or a
 * candidate in it). {file}, {tests} and {name} in the command expand to the document's path,
 * the test files that mention the function (solve_workspace_tests' discovery) and the
 * function's name. The exit status is the verdict; pytest's summary line, when the output ends
 * with one, gives the counts.
 */
#include "solve/solve_int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define TREE_DEPTH_MAX    8
#define TREE_ENTRIES_MAX  20000
#define TREE_FILES_MAX    1000
#define TREE_FILE_BYTES   ((size_t)1 << 20)
#define TREE_BYTES_MAX    ((size_t)32 << 20)
#define MESSAGE_LINES_MAX 8
#define TREE_PATH_CAP     1024

/* The copy being collected. */
typedef struct tree {
    sbx_tree_file *files; /* (TREE_FILES_MAX) paths and data in arena */
    size_t n_files;
    size_t n_bytes;
    size_t n_entries;
    core_arena *arena;
    const solve_context_options *o;
    const char *self; /* the document's path relative to the copy's root (added first) */
} tree;

static bool tree_has(const tree *t, const char *rel)
{
    size_t n = strlen(rel);
    for (size_t i = 0; i < t->n_files; i++) {
        if (t->files[i].path.len == n && memcmp(t->files[i].path.ptr, rel, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Adds rel with text; false when the copy is full (the file is left out). CORE_ENOMEM. */
static int tree_add(tree *t, const char *rel, core_str text)
{
    if (t->n_files >= TREE_FILES_MAX || t->n_bytes + text.len > TREE_BYTES_MAX) {
        return 0;
    }
    char *p = core_arena_strndup(t->arena, rel, strlen(rel));
    char *d = core_arena_alloc(t->arena, text.len + 1);
    if (!p || !d) {
        return CORE_ENOMEM;
    }
    if (text.len > 0) {
        memcpy(d, text.ptr, text.len);
    }
    t->files[t->n_files++] = (sbx_tree_file){{p, strlen(p)}, {d, text.len}, false, false};
    t->n_bytes += text.len;
    return 0;
}

/* A name the archive and a shell quote take: no control characters. */
static bool plain_name(const char *name)
{
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return false;
        }
    }
    return true;
}

static int tree_walk(tree *t, const char *dir, const char *rel_dir, size_t depth, core_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        return 0;
    }
    int rc = 0;
    core_buf text = {0};
    const struct dirent *e = NULL;
    while (rc == 0 && (e = readdir(d)) != NULL && t->n_files < TREE_FILES_MAX &&
           t->n_entries++ < TREE_ENTRIES_MAX) {
        const char *name = e->d_name;
        if (solve__walk_skips(name) || !plain_name(name)) {
            continue;
        }
        char path[TREE_PATH_CAP];
        char rel[TREE_PATH_CAP];
        int w = rel_dir[0] ? snprintf(rel, sizeof(rel), "%s/%s", rel_dir, name)
                           : snprintf(rel, sizeof(rel), "%s", name);
        if (w < 0 || (size_t)w >= sizeof(rel) || !solve__path_join(path, sizeof(path), dir, name)) {
            continue;
        }
        struct stat st;
        if (lstat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode) && depth > 0) {
            rc = tree_walk(t, path, rel, depth - 1, err);
        } else if (S_ISREG(st.st_mode) && (size_t)st.st_size <= TREE_FILE_BYTES &&
                   strcmp(rel, t->self) != 0) {
            text.len = 0;
            int got = solve__file_read(&text, t->o, path, err); /* an open document's text wins */
            if (got == 1) {
                rc = tree_add(t, rel, (core_str){text.ptr ? text.ptr : "", text.len});
            } else {
                rc = got < 0 ? got : 0;
            }
        }
    }
    closedir(d);
    core_buf_dispose(&text);
    return rc;
}

/* Appends s to out in single quotes for /bin/sh. */
static int shell_quote(core_buf *out, const char *s, size_t len)
{
    if (core_buf_append(out, "'", 1) < 0) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        int rc = s[i] == '\'' ? core_buf_append(out, "'\\''", 4) : core_buf_append(out, s + i, 1);
        if (rc < 0) {
            return CORE_ENOMEM;
        }
    }
    return core_buf_append(out, "'", 1) < 0 ? CORE_ENOMEM : 0;
}

/* The command with {file}, {tests} (tests: "\n"-separated paths) and {name} expanded. */
static int command_expand(core_buf *out, const char *cmd, const char *file, core_str tests,
                          core_str name)
{
    int rc = 0;
    for (const char *p = cmd; *p && rc == 0;) {
        if (strncmp(p, "{file}", 6) == 0) {
            rc = shell_quote(out, file, strlen(file));
            p += 6;
        } else if (strncmp(p, "{name}", 6) == 0) {
            rc = shell_quote(out, name.ptr, name.len);
            p += 6;
        } else if (strncmp(p, "{tests}", 7) == 0) {
            for (size_t a = 0; a < tests.len && rc == 0;) {
                const char *nl = memchr(tests.ptr + a, '\n', tests.len - a);
                size_t e = nl ? (size_t)(nl - tests.ptr) : tests.len;
                rc = (a > 0 && core_buf_append(out, " ", 1) < 0) ? CORE_ENOMEM : 0;
                if (rc == 0) {
                    rc = shell_quote(out, tests.ptr + a, e - a);
                }
                a = e + 1;
            }
            p += 7;
        } else {
            rc = core_buf_append(out, p, 1) < 0 ? CORE_ENOMEM : 0;
            p++;
        }
    }
    return rc;
}

/* The number written just before word at (the last one), or 0. */
static size_t count_before(core_str line, const char *word)
{
    size_t n = strlen(word);
    size_t count = 0;
    for (size_t i = 0; i + n <= line.len; i++) {
        if (memcmp(line.ptr + i, word, n) != 0 || i < 2 || line.ptr[i - 1] != ' ') {
            continue;
        }
        size_t k = i - 1;
        size_t mul = 1;
        size_t v = 0;
        while (k > 0 && line.ptr[k - 1] >= '0' && line.ptr[k - 1] <= '9' && mul < 1000000000) {
            v += (size_t)(line.ptr[k - 1] - '0') * mul;
            mul *= 10;
            k--;
        }
        if (mul > 1) {
            count = v;
        }
    }
    return count;
}

/* The output's last non-empty line. */
static core_str last_line(core_str out)
{
    size_t e = out.len;
    while (e > 0 && (out.ptr[e - 1] == '\n' || out.ptr[e - 1] == '\r' || out.ptr[e - 1] == ' ')) {
        e--;
    }
    size_t s = e;
    while (s > 0 && out.ptr[s - 1] != '\n') {
        s--;
    }
    return (core_str){out.ptr + s, e - s};
}

/* The counts of pytest's summary line ("3 passed, 1 failed in 0.12s"); false when the last
   line is not one. */
static bool pytest_counts(core_str out, size_t *n_run, size_t *n_passed)
{
    core_str l = last_line(out);
    bool summary = false;
    for (size_t i = 0; i + 4 <= l.len && !summary; i++) {
        summary = memcmp(l.ptr + i, " in ", 4) == 0 && i + 4 < l.len && l.ptr[i + 4] >= '0' &&
                  l.ptr[i + 4] <= '9';
    }
    if (!summary) {
        return false;
    }
    size_t passed = count_before(l, "passed");
    size_t failed = count_before(l, "failed");
    size_t errors = count_before(l, "error");
    if (passed + failed + errors == 0) {
        return false;
    }
    *n_passed = passed;
    *n_run = passed + failed + errors;
    return true;
}

/* The output's last lines into msg (cap bytes), starting at a line boundary. */
static void tail_lines(char *msg, size_t cap, core_str out)
{
    size_t e = out.len;
    while (e > 0 && (out.ptr[e - 1] == '\n' || out.ptr[e - 1] == '\r')) {
        e--;
    }
    size_t s = e;
    for (size_t n = 0; s > 0 && n < MESSAGE_LINES_MAX;) {
        s--;
        if (out.ptr[s] == '\n') {
            n++;
        }
        if (e - s >= cap - 1) {
            break;
        }
    }
    while (s < e && (out.ptr[s] == '\n' || (e - s >= cap - 1))) {
        s++;
    }
    snprintf(msg, cap, "%.*s", (int)(e - s), out.ptr + s);
}

int solve_workspace_command(solve_complete_verdict *out, solve_lang lang, core_str doc,
                            core_str entry, const solve_context_options *ws,
                            const sbx_limits *limits, const core_cancel *cancel, core_err *err)
{
    char name[sizeof(out->entry)];
    size_t name_len = entry.len < sizeof(name) ? entry.len : sizeof(name) - 1;
    memcpy(name, entry.ptr, name_len); /* entry may point into out */
    name[name_len] = '\0';
    memset(out, 0, sizeof(*out));
    memcpy(out->entry, name, name_len + 1);
    out->source = SOLVE_TESTS_NONE;
    const char *cmd = ws && (size_t)lang < SOLVE_N_LANGS ? ws->tests[lang].command : NULL;
    if (!cmd || !ws->tree || !ws->self || name_len == 0) {
        return 0;
    }
    /* The copy's root: the workspace's, else (or when the document is outside it) the
       document's folder. Paths are compared normalized. */
    solve_context_options o = *ws;
    char self_path[TREE_PATH_CAP];
    char base_path[TREE_PATH_CAP];
    if (!solve__path_join(self_path, sizeof(self_path), NULL, ws->self)) {
        return 0;
    }
    const char *top = ws->root ? ws->root : ws->dir;
    const char *self = NULL;
    if (top && solve__path_join(base_path, sizeof(base_path), NULL, top)) {
        self = solve__path_rel(self_path, base_path);
    }
    if (!self) {
        memcpy(base_path, self_path, strlen(self_path) + 1);
        char *slash = strrchr(base_path, '/');
        if (slash) {
            slash[slash == base_path ? 1 : 0] = '\0';
        } else {
            memcpy(base_path, ".", 2);
        }
        self = strrchr(self_path, '/') ? strrchr(self_path, '/') + 1 : self_path;
    }
    const char *base = base_path[0] ? base_path : ".";
    o.root = base;
    core_buf tests = {0};
    core_buf line = {0};
    tree t;
    memset(&t, 0, sizeof(t));
    size_t n_tests = 0;
    int rc =
        solve__workspace_test_files(&tests, &n_tests, lang, (core_str){name, name_len}, &o, err);
    /* A command of the tests when nothing mentions the function: nothing to run. */
    bool skip = rc == 0 && n_tests == 0 && strstr(cmd, "{tests}") != NULL;
    if (rc == 0 && !skip) {
        rc = command_expand(&line, cmd, self, (core_str){tests.ptr ? tests.ptr : "", tests.len},
                            (core_str){name, name_len});
    }
    t.files = rc == 0 && !skip ? core_calloc(TREE_FILES_MAX, sizeof(*t.files)) : NULL;
    if (rc == 0 && !skip && !t.files) {
        rc = CORE_ENOMEM;
    }
    if (rc == 0 && !skip) {
        rc = core_arena_new(&t.arena, 1 << 16, err);
    }
    if (rc == 0 && !skip) {
        t.o = &o;
        t.self = self;
        rc = tree_add(&t, self, doc); /* first, so that a full copy still holds it */
    }
    if (rc == 0 && !skip) {
        rc = tree_walk(&t, base, "", TREE_DEPTH_MAX, err);
    }
    /* Open documents that are not on the disk yet. */
    for (size_t i = 0; rc == 0 && !skip && i < o.n_files; i++) {
        char norm[TREE_PATH_CAP];
        const char *rel =
            o.files[i].path && solve__path_join(norm, sizeof(norm), NULL, o.files[i].path)
                ? solve__path_rel(norm, base)
                : NULL;
        if (rel && plain_name(rel) && !tree_has(&t, rel)) {
            rc = tree_add(&t, rel, o.files[i].text);
        }
    }
    sbx_tree_result r;
    memset(&r, 0, sizeof(r));
    if (rc == 0 && !skip) {
        sbx_tree_job job;
        memset(&job, 0, sizeof(job));
        job.files = t.files;
        job.n_files = t.n_files;
        job.command = line.ptr;
        if (limits) {
            job.limits = *limits;
        } else {
            job.limits = sbx_limits_default();
            job.limits.cpu_ms = 60000;
            job.limits.wall_ms = 120000;
            job.limits.mem_mb = 1024;
            job.limits.n_procs = 64;
            job.limits.file_mb = 64;
            job.limits.n_files = 256;
            job.limits.output_kb = 1024;
            job.limits.disk_mb = 0;
            job.limits.disk_inodes = 16384;
        }
        if (cancel) {
            job.cancel = *cancel;
        }
        rc = sbx_tree_run(&r, ws->tree, &job, err);
    }
    if (rc == 0 && !skip) {
        core_str o_text = {r.out.ptr ? r.out.ptr : "", r.out.len};
        out->command = true;
        out->tested = true;
        out->source = SOLVE_TESTS_FIELD;
        out->n_workspace_tests = n_tests;
        out->verdict = r.limit != SBX_LIMIT_NONE ? SBX_VERDICT_LIMIT
                       : r.exit_code == 0        ? SBX_VERDICT_PASSED
                                                 : SBX_VERDICT_FAILED;
        if (!pytest_counts(o_text, &out->n_tests_run, &out->n_tests_passed)) {
            out->n_tests_run = 1;
            out->n_tests_passed = out->verdict == SBX_VERDICT_PASSED;
        }
        if (out->verdict == SBX_VERDICT_LIMIT) {
            snprintf(out->message, sizeof(out->message), "the test command reached the %s limit",
                     sbx_limit_name(r.limit));
        } else if (out->verdict != SBX_VERDICT_PASSED) {
            tail_lines(out->message, sizeof(out->message), o_text);
            if (!out->message[0]) {
                snprintf(out->message, sizeof(out->message), "the test command exited with %d",
                         r.exit_code);
            }
        }
    }
    sbx_tree_result_dispose(&r);
    if (rc == CORE_ENOMEM && (!err || err->code != CORE_ENOMEM)) {
        rc = core_err_set(err, CORE_ENOMEM, "workspace: out of memory for the test command");
    }
    core_arena_free(t.arena);
    core_free(t.files);
    core_buf_dispose(&tests);
    core_buf_dispose(&line);
    return rc;
}
