/*
 * kiln patch's outputs. The diff is libgit2's (git_patch_from_buffers per changed file, so the
 * headers and hunks are git's own and both `git apply` and `patch -p1` take them); the email
 * patch is libgit2's email API over that same diff (git_diff_from_buffer, then
 * git_email_create_from_diff), so writing it needs no object in the repository; the commit writes
 * blobs, a tree (git_tree_create_updated on the revision's tree) and a commit whose only ref is
 * the new branch, so HEAD, the index and the working tree are never touched. The report is
 * Markdown for a pull-request comment, or JSON (cJSON).
 */
#include "patch/patch_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static bool target_counts(const patch_target *t, bool include_unverified)
{
    if (t->splice == NULL || t->splice[0] == '\0') {
        return false;
    }
    return t->verdict == PATCH_VERDICT_VERIFIED || include_unverified;
}

int patch__apply(core_buf *out, core_str old, const patch_result *result, const char *path,
                 bool include_unverified, const patch_target *only, core_err *err)
{
    /* splices of one file, applied from the start in (start, index) order; targets never
     * overlap (distinct functions), but a splice may be empty (a docstring-only stub's range
     * ends where it starts), so each is taken once by its index */
    size_t pos = 0;
    size_t last_start = 0;
    size_t n_done = 0; /* index + 1 of the last splice applied, 0: none */
    for (;;) {
        const patch_target *next = NULL;
        size_t next_i = 0;
        for (size_t i = 0; i < result->n_targets; i++) {
            const patch_target *t = &result->targets[i];
            if ((only != NULL && t != only) || strcmp(t->path, path) != 0 ||
                !target_counts(t, include_unverified) || t->splice_start < pos ||
                t->splice_end > old.len || t->splice_end < t->splice_start) {
                continue;
            }
            if (n_done > 0 &&
                (t->splice_start < last_start || (t->splice_start == last_start && i < n_done))) {
                continue;
            }
            if (next == NULL || t->splice_start < next->splice_start) {
                next = t;
                next_i = i;
            }
        }
        if (next == NULL) {
            break;
        }
        last_start = next->splice_start;
        n_done = next_i + 1;
        if (core_buf_append(out, old.ptr + pos, next->splice_start - pos) < 0 ||
            core_buf_append(out, next->splice, strlen(next->splice)) < 0) {
            return core_err_set(err, CORE_ENOMEM, "patch: out of memory");
        }
        pos = next->splice_end;
    }
    if (core_buf_append(out, old.ptr + pos, old.len - pos) < 0) {
        return core_err_set(err, CORE_ENOMEM, "patch: out of memory");
    }
    return 0;
}

/* The old blob of path at the revision (caller frees). */
static int read_blob(git_blob **out, git_filemode_t *mode, patch_repo *repo, const char *path,
                     core_err *err)
{
    git_tree_entry *e = NULL;
    if (git_tree_entry_bypath(&e, repo->tree, path) < 0) {
        return core_err_set(err, CORE_ERROR, "%s: not in the revision", path);
    }
    *mode = git_tree_entry_filemode(e);
    int grc = git_blob_lookup(out, repo->git, git_tree_entry_id(e));
    git_tree_entry_free(e);
    if (grc < 0) {
        return core_err_set(err, CORE_ERROR, "%s: %s", path,
                            git_error_last() ? git_error_last()->message : "unreadable");
    }
    return 0;
}

/* Calls fn for each file with counted targets (each path once), with old and new contents. */
typedef int (*file_fn)(void *payload, const char *path, git_filemode_t mode, core_str old,
                       core_str new_text, core_err *err);

static int each_file(patch_repo *repo, const patch_result *result, bool include_unverified,
                     file_fn fn, void *payload, core_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < result->n_targets && rc == 0; i++) {
        const patch_target *t = &result->targets[i];
        if (!target_counts(t, include_unverified)) {
            continue;
        }
        bool done_before = false;
        for (size_t j = 0; j < i; j++) {
            done_before |= strcmp(result->targets[j].path, t->path) == 0 &&
                           target_counts(&result->targets[j], include_unverified);
        }
        if (done_before) {
            continue;
        }
        git_blob *blob = NULL;
        git_filemode_t mode = GIT_FILEMODE_BLOB;
        rc = read_blob(&blob, &mode, repo, t->path, err);
        if (rc < 0) {
            break;
        }
        core_str old = {git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)};
        core_buf new_text = {0};
        rc = patch__apply(&new_text, old, result, t->path, include_unverified, NULL, err);
        if (rc == 0) {
            rc = fn(payload, t->path, mode, old, (core_str){new_text.ptr, new_text.len}, err);
        }
        core_buf_dispose(&new_text);
        git_blob_free(blob);
    }
    return rc;
}

static int diff_file(void *payload, const char *path, git_filemode_t mode, core_str old,
                     core_str new_text, core_err *err)
{
    (void)mode;
    core_buf *out = payload;
    git_patch *p = NULL;
    git_buf buf = {0};
    git_diff_options o;
    git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
    int rc = 0;
    if (git_patch_from_buffers(&p, old.ptr, old.len, path, new_text.ptr, new_text.len, path, &o) <
            0 ||
        git_patch_to_buf(&buf, p) < 0) {
        rc = core_err_set(err, CORE_ERROR, "diff %s: %s", path,
                          git_error_last() ? git_error_last()->message : "libgit2");
    } else if (core_buf_append(out, buf.ptr, buf.size) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "diff: out of memory");
    }
    git_buf_dispose(&buf);
    git_patch_free(p);
    return rc;
}

int patch_result_diff(core_buf *out, patch_repo *repo, const patch_result *result,
                      bool include_unverified, core_err *err)
{
    return each_file(repo, result, include_unverified, diff_file, out, err);
}

/* ---- commits and emails ------------------------------------------------------------------ */

static int make_signature(git_signature **out, const patch_commit_info *info, core_err *err)
{
    const char *name = info != NULL && info->author_name != NULL ? info->author_name : "kiln";
    const char *email =
        info != NULL && info->author_email != NULL ? info->author_email : "kiln@localhost";
    if (git_signature_now(out, name, email) < 0) {
        return core_err_set(err, CORE_EINVAL, "author '%s <%s>': %s", name, email,
                            git_error_last() ? git_error_last()->message : "invalid");
    }
    return 0;
}

/* The default message: a summary line and, per verified target, the tests that now pass. */
static int default_message(core_buf *out, const patch_result *result)
{
    size_t n = 0;
    for (size_t i = 0; i < result->n_targets; i++) {
        n += result->targets[i].verdict == PATCH_VERDICT_VERIFIED;
    }
    if (n == 1) {
        for (size_t i = 0; i < result->n_targets; i++) {
            const patch_target *t = &result->targets[i];
            if (t->verdict == PATCH_VERDICT_VERIFIED &&
                core_buf_appendf(out, "Implement %s in %s\n\n", t->name, t->path) < 0) {
                return CORE_ENOMEM;
            }
        }
    } else if (core_buf_appendf(out, "Implement %zu stubs\n\n", n) < 0) {
        return CORE_ENOMEM;
    }
    if (core_buf_appendf(out, "Written by kiln and verified by the repository's tests in a "
                              "sandbox.\n") < 0) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < result->n_targets; i++) {
        const patch_target *t = &result->targets[i];
        if (t->verdict != PATCH_VERDICT_VERIFIED) {
            continue;
        }
        if (core_buf_appendf(out, "\n%s:%s, tests that now pass:\n", t->path, t->name) < 0) {
            return CORE_ENOMEM;
        }
        const char *p = t->fixed;
        while (*p != '\0') {
            const char *nl = strchr(p, '\n');
            size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
            if (core_buf_appendf(out, "  %.*s\n", (int)len, p) < 0) {
                return CORE_ENOMEM;
            }
            p += len + (nl != NULL);
        }
    }
    return 0;
}

/* The author's signature (now) and the message: info's, else the default one. */
static int author_and_message(git_signature **sig, core_buf *msg, const patch_result *result,
                              const patch_commit_info *info, core_err *err)
{
    int rc = make_signature(sig, info, err);
    if (rc < 0) {
        return rc;
    }
    if (info != NULL && info->message != NULL) {
        rc = core_buf_append(msg, info->message, strlen(info->message));
    } else {
        rc = default_message(msg, result);
    }
    return rc < 0 ? core_err_set(err, CORE_ENOMEM, "commit message: out of memory") : 0;
}

int patch_result_mbox(core_buf *out, patch_repo *repo, const patch_result *result,
                      const patch_commit_info *info, core_err *err)
{
    core_buf diff_text = {0}, msg = {0};
    git_diff *diff = NULL;
    git_signature *sig = NULL;
    git_buf buf = {0};
    int rc = patch_result_diff(&diff_text, repo, result, false, err);
    if (rc < 0 || diff_text.len == 0) {
        goto done;
    }
    rc = author_and_message(&sig, &msg, result, info, err);
    if (rc < 0) {
        goto done;
    }
    /* summary: the first line; body: the rest */
    char *nl = strchr(msg.ptr, '\n');
    const char *body = "";
    if (nl != NULL) {
        *nl = '\0';
        body = nl + 1;
        while (*body == '\n') {
            body++;
        }
    }
    /* the libgit2 initializer leaves fields implicit; start from zero and set what it sets */
    git_email_create_options eo;
    memset(&eo, 0, sizeof eo);
    eo.version = GIT_EMAIL_CREATE_OPTIONS_VERSION;
    eo.flags = GIT_EMAIL_CREATE_DEFAULT;
    git_diff_options_init(&eo.diff_opts, GIT_DIFF_OPTIONS_VERSION);
    eo.diff_opts.flags = GIT_DIFF_SHOW_BINARY;
    git_diff_find_options_init(&eo.diff_find_opts, GIT_DIFF_FIND_OPTIONS_VERSION);
    if (git_diff_from_buffer(&diff, diff_text.ptr, diff_text.len) < 0 ||
        git_email_create_from_diff(&buf, diff, 1, 1, git_commit_id(repo->commit), msg.ptr, body,
                                   sig, &eo) < 0) {
        rc = core_err_set(err, CORE_ERROR, "mbox: %s",
                          git_error_last() ? git_error_last()->message : "libgit2");
        goto done;
    }
    if (core_buf_append(out, buf.ptr, buf.size) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "mbox: out of memory");
    }
done:
    git_buf_dispose(&buf);
    git_signature_free(sig);
    git_diff_free(diff);
    core_buf_dispose(&msg);
    core_buf_dispose(&diff_text);
    return rc;
}

typedef struct tree_updates {
    patch_repo *repo;
    git_tree_update *ups; /* (n, cap) */
    char **paths;         /* owned copies */
    size_t n;
    size_t cap;
} tree_updates;

static int add_update(void *payload, const char *path, git_filemode_t mode, core_str old,
                      core_str new_text, core_err *err)
{
    (void)old;
    tree_updates *u = payload;
    size_t cap = u->cap;
    if (patch__grow((void **)&u->ups, &cap, u->n, sizeof *u->ups) < 0 ||
        patch__grow((void **)&u->paths, &u->cap, u->n, sizeof *u->paths) < 0) {
        return core_err_set(err, CORE_ENOMEM, "commit: out of memory");
    }
    git_tree_update *up = &u->ups[u->n];
    memset(up, 0, sizeof *up);
    size_t len = strlen(path);
    u->paths[u->n] = core_malloc(len + 1);
    if (u->paths[u->n] == NULL) {
        return core_err_set(err, CORE_ENOMEM, "commit: out of memory");
    }
    memcpy(u->paths[u->n], path, len + 1);
    if (git_blob_create_from_buffer(&up->id, u->repo->git, new_text.ptr, new_text.len) < 0) {
        core_free(u->paths[u->n]);
        return core_err_set(err, CORE_ERROR, "commit: writing %s: %s", path,
                            git_error_last() ? git_error_last()->message : "libgit2");
    }
    up->action = GIT_TREE_UPDATE_UPSERT;
    up->filemode = mode;
    up->path = u->paths[u->n];
    u->n++;
    return 0;
}

int patch_result_commit(char hex[41], patch_repo *repo, const patch_result *result,
                        const char *branch, const patch_commit_info *info, core_err *err)
{
    hex[0] = '\0';
    char ref[1024];
    int valid = 0;
    git_reference *existing = NULL;
    git_signature *sig = NULL;
    git_tree *tree = NULL;
    core_buf msg = {0};
    tree_updates u = {.repo = repo};
    int rc = 0;
    if (snprintf(ref, sizeof ref, "refs/heads/%s", branch) >= (int)sizeof ref ||
        git_reference_name_is_valid(&valid, ref) < 0 || !valid) {
        return core_err_set(err, CORE_EINVAL, "branch name '%s' is not valid", branch);
    }
    if (git_reference_lookup(&existing, repo->git, ref) == 0) {
        git_reference_free(existing);
        return core_err_set(err, CORE_EINVAL, "branch '%s' exists already", branch);
    }
    if (result->n_verified == 0) {
        return core_err_set(err, CORE_ENOTFOUND, "commit: nothing verified to commit");
    }
    rc = each_file(repo, result, false, add_update, &u, err);
    if (rc < 0) {
        goto done;
    }
    git_oid tree_id, commit_id;
    if (git_tree_create_updated(&tree_id, repo->git, repo->tree, u.n, u.ups) < 0 ||
        git_tree_lookup(&tree, repo->git, &tree_id) < 0) {
        rc = core_err_set(err, CORE_ERROR, "commit: tree: %s",
                          git_error_last() ? git_error_last()->message : "libgit2");
        goto done;
    }
    rc = author_and_message(&sig, &msg, result, info, err);
    if (rc < 0) {
        goto done;
    }
    const git_commit *parents[] = {repo->commit};
    if (git_commit_create(&commit_id, repo->git, ref, sig, sig, NULL, msg.ptr, tree, 1, parents) <
        0) {
        rc = core_err_set(err, CORE_ERROR, "commit on %s: %s", branch,
                          git_error_last() ? git_error_last()->message : "libgit2");
        goto done;
    }
    git_oid_tostr(hex, 41, &commit_id);
done:
    for (size_t i = 0; i < u.n; i++) {
        core_free(u.paths[i]);
    }
    core_free(u.paths);
    core_free(u.ups);
    core_buf_dispose(&msg);
    git_tree_free(tree);
    git_signature_free(sig);
    return rc;
}

/* ---- the report -------------------------------------------------------------------------- */

static int report_md(core_buf *out, const patch_result *r)
{
    int rc = core_buf_appendf(out,
                              "## kiln patch\n\nCommit `%s`: %zu target(s), %zu verified "
                              "(%.1f s).\n\n"
                              "| target | stub | verdict | tests before | tests after | "
                              "candidates (tried) | generate s | test s |\n"
                              "| --- | --- | --- | --- | --- | --- | --- | --- |\n",
                              r->commit, r->n_targets, r->n_verified, r->seconds);
    for (size_t i = 0; i < r->n_targets && rc == 0; i++) {
        const patch_target *t = &r->targets[i];
        rc = core_buf_appendf(out,
                              "| `%s:%s` (line %u) | %s | **%s** | %zu passed, %zu failed | "
                              "%zu passed, %zu failed | %zu (%zu) | %.2f | %.2f |\n",
                              t->path, t->name, t->line, t->stub, patch_verdict_name(t->verdict),
                              t->before.n_passed, t->before.n_failed, t->after.n_passed,
                              t->after.n_failed, t->n_candidates, t->n_tried, t->seconds_generate,
                              t->seconds_test);
    }
    for (size_t i = 0; i < r->n_targets && rc == 0; i++) {
        const patch_target *t = &r->targets[i];
        rc = core_buf_appendf(out, "\n### `%s:%s`: %s\n\n%s.\n", t->path, t->name,
                              patch_verdict_name(t->verdict), t->message);
        if (rc == 0 && t->command[0] != '\0') {
            rc = core_buf_appendf(out, "\nTest command: `%s`\n", t->command);
        }
        if (rc == 0 && t->fixed[0] != '\0') {
            rc = core_buf_appendf(out, "\nTests that now pass:\n\n```\n%s```\n", t->fixed);
        }
        if (rc == 0 && t->splice[0] != '\0') {
            rc = core_buf_appendf(out,
                                  "\nChosen candidate: parses %s, visible tests %zu/%zu, mean "
                                  "log-probability %.3f.\n\n```%s\n%s\n```\n",
                                  t->card.parses ? "yes" : "no", t->card.n_tests_passed,
                                  t->card.n_tests_run, t->card.logprob_mean,
                                  strcmp(t->lang, "python") == 0 ? "python" : "c", t->code);
        }
    }
    return rc < 0 ? CORE_ENOMEM : 0;
}

static cJSON *run_json(const patch_test_run *run)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddBoolToObject(o, "ran", run->ran);
    cJSON_AddNumberToObject(o, "exit_code", run->exit_code);
    cJSON_AddStringToObject(o, "limit", sbx_limit_name(run->limit));
    cJSON_AddNumberToObject(o, "passed", (double)run->n_passed);
    cJSON_AddNumberToObject(o, "failed", (double)run->n_failed);
    cJSON_AddStringToObject(o, "failed_tests", run->failed != NULL ? run->failed : "");
    cJSON_AddStringToObject(o, "output_tail", run->output != NULL ? run->output : "");
    cJSON_AddNumberToObject(o, "seconds", run->seconds);
    return o;
}

static int report_json(core_buf *out, const patch_result *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "targets");
    if (root == NULL || arr == NULL) {
        cJSON_Delete(root);
        return CORE_ENOMEM;
    }
    cJSON_AddStringToObject(root, "commit", r->commit);
    cJSON_AddNumberToObject(root, "n_targets", (double)r->n_targets);
    cJSON_AddNumberToObject(root, "n_verified", (double)r->n_verified);
    cJSON_AddNumberToObject(root, "seconds", r->seconds);
    for (size_t i = 0; i < r->n_targets; i++) {
        const patch_target *t = &r->targets[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) {
            cJSON_Delete(root);
            return CORE_ENOMEM;
        }
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "path", t->path);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "lang", t->lang);
        cJSON_AddStringToObject(o, "stub", t->stub);
        cJSON_AddNumberToObject(o, "line", t->line);
        cJSON_AddStringToObject(o, "verdict", patch_verdict_name(t->verdict));
        cJSON_AddStringToObject(o, "message", t->message);
        cJSON_AddStringToObject(o, "test_command", t->command);
        cJSON_AddStringToObject(o, "test_files", t->tests);
        cJSON_AddItemToObject(o, "before", run_json(&t->before));
        cJSON_AddItemToObject(o, "after", run_json(&t->after));
        cJSON_AddStringToObject(o, "fixed", t->fixed);
        cJSON_AddNumberToObject(o, "n_candidates", (double)t->n_candidates);
        cJSON_AddNumberToObject(o, "n_tried", (double)t->n_tried);
        cJSON_AddStringToObject(o, "code", t->code);
        cJSON *card = cJSON_AddObjectToObject(o, "card");
        if (card != NULL) {
            cJSON_AddBoolToObject(card, "parses", t->card.parses);
            cJSON_AddNumberToObject(card, "tests_run", (double)t->card.n_tests_run);
            cJSON_AddNumberToObject(card, "tests_passed", (double)t->card.n_tests_passed);
            cJSON_AddBoolToObject(card, "limit_hit", t->card.limit_hit);
            cJSON_AddNumberToObject(card, "logprob_mean", t->card.logprob_mean);
        }
        cJSON_AddNumberToObject(o, "seconds_generate", t->seconds_generate);
        cJSON_AddNumberToObject(o, "seconds_test", t->seconds_test);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (s == NULL) {
        return CORE_ENOMEM;
    }
    int rc = core_buf_appendf(out, "%s\n", s);
    cJSON_free(s);
    return rc;
}

int patch_result_report(core_buf *out, const patch_result *result, bool json, core_err *err)
{
    int rc = json ? report_json(out, result) : report_md(out, result);
    if (rc < 0) {
        return core_err_set(err, CORE_ENOMEM, "report: out of memory");
    }
    return 0;
}
