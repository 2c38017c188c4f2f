/*
 * kiln patch's driver: snapshot the revision, find the targets, then for each one run its tests
 * on the unpatched snapshot, ask the generator for ranked candidates and verify the best
 * distinct ones (up to n_verify_max) on the snapshot with the candidate in place. The target's
 * tests are those that failed before and name it (all that failed before when none names it); a
 * candidate is verified when every one of them passes after, no test fails after that did not
 * fail before, and no limit ended the run. A target whose tests already pass, or that no test
 * mentions, is never called verified.
 */
#include "patch/patch_int.h"

#include <stdio.h>
#include <string.h>

static const char *const verdict_names[] = {"verified", "proposed", "no_tests", "already_passing",
                                            "none"};

const char *patch_verdict_name(patch_verdict verdict)
{
    if ((size_t)verdict >= sizeof verdict_names / sizeof verdict_names[0]) {
        return "?";
    }
    return verdict_names[verdict];
}

patch_options patch_options_default(void)
{
    patch_options o = {0};
    o.n_verify_max = 3;
    o.blob_max = (size_t)16 << 20;
    o.limits = sbx_limits_default();
    o.limits.cpu_ms = 30000;
    o.limits.wall_ms = 60000;
    o.limits.mem_mb = 512;
    o.limits.n_procs = 64;
    o.limits.file_mb = 64;
    o.limits.n_files = 256;
    o.limits.output_kb = 1024;
    o.limits.disk_mb = 0;
    o.limits.disk_inodes = 16384;
    return o;
}

static void target_dispose(patch_target *t)
{
    core_free(t->path);
    core_free(t->name);
    core_free(t->lang);
    core_free(t->stub);
    core_free(t->prompt);
    core_free(t->tests);
    core_free(t->command);
    core_free(t->message);
    core_free(t->code);
    core_free(t->fixed);
    core_free(t->splice);
    patch__run_dispose(&t->before);
    patch__run_dispose(&t->after);
}

void patch_result_free(patch_result *result)
{
    if (result == NULL) {
        return;
    }
    for (size_t i = 0; i < result->n_targets; i++) {
        target_dispose(&result->targets[i]);
    }
    core_free(result->targets);
    core_free(result->commit);
    core_free(result);
}

static int set_str(char **field, const char *s)
{
    size_t n = strlen(s);
    char *p = core_malloc(n + 1);
    if (p == NULL) {
        return CORE_ENOMEM;
    }
    memcpy(p, s, n + 1);
    core_free(*field);
    *field = p;
    return 0;
}

/* Whether the failing test id is one of the target's: it names the function. */
static bool id_names(core_str id, const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *bare = dot != NULL ? dot + 1 : name;
    size_t n = strlen(bare);
    for (size_t i = 0; i + n <= id.len; i++) {
        if (memcmp(id.ptr + i, bare, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether an id of the newline-separated list names the function. */
static bool list_names(const char *list, const char *name)
{
    const char *p = list;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        core_str id = {p, nl != NULL ? (size_t)(nl - p) : strlen(p)};
        if (id_names(id, name)) {
            return true;
        }
        p += id.len + (nl != NULL);
    }
    return false;
}

/* Judges after against before; fills fixed with the target's tests that now pass. */
static bool judge(const patch_target *t, const patch_test_run *after, core_buf *fixed)
{
    if (!after->ran || after->limit != SBX_LIMIT_NONE) {
        return false;
    }
    bool any_named = false;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = t->before.failed;
        while (p != NULL && *p != '\0') {
            const char *nl = strchr(p, '\n');
            core_str id = {p, nl != NULL ? (size_t)(nl - p) : strlen(p)};
            p += id.len + (nl != NULL);
            bool named = id_names(id, t->name);
            any_named |= named;
            if (pass == 1 && (named || !any_named)) {
                if (patch__run_has_failed(after, id)) {
                    return false;
                }
                if (core_buf_append(fixed, id.ptr, id.len) < 0 ||
                    core_buf_append(fixed, "\n", 1) < 0) {
                    return false;
                }
            }
        }
    }
    /* nothing that passed before fails now */
    const char *p = after->failed;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        core_str id = {p, nl != NULL ? (size_t)(nl - p) : strlen(p)};
        p += id.len + (nl != NULL);
        if (!patch__run_has_failed(&t->before, id)) {
            return false;
        }
    }
    return fixed->len > 0;
}

/* Candidate indices ordered by rank. */
static void order_by_rank(size_t *idx, const solve_result *sr)
{
    for (size_t i = 0; i < sr->n_candidates; i++) {
        idx[i] = i;
    }
    for (size_t i = 1; i < sr->n_candidates; i++) {
        size_t v = idx[i];
        size_t j = i;
        while (j > 0 && sr->candidates[idx[j - 1]].score.rank > sr->candidates[v].score.rank) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

static int keep_candidate(patch_target *t, const solve_candidate *c, const char *splice,
                          patch_verdict verdict, const char *message)
{
    t->verdict = verdict;
    t->card = c->card;
    t->card.behavior = (core_str){0};
    if (set_str(&t->splice, splice) < 0 || set_str(&t->code, c->code) < 0 ||
        set_str(&t->message, message) < 0) {
        return CORE_ENOMEM;
    }
    return 0;
}

static int verify_target(patch_target *t, sbx_tree *tree, const patch__snap *snap,
                         const patch_options *opts, core_err *err)
{
    int rc = 0;
    core_arena *arena = NULL;
    solve_result *sr = NULL;
    size_t *idx = NULL;
    char *splice = NULL;
    char **seen = NULL;
    bool have_tests = t->command[0] != '\0' && tree != NULL;
    if (have_tests) {
        uint64_t t0 = core_time_ns();
        rc = patch__tests_run(&t->before, tree, snap, NULL, NULL, t->command, opts, err);
        t->seconds_test += (double)(core_time_ns() - t0) / 1e9;
        if (rc < 0) {
            return rc;
        }
        /* nothing fails, or only other functions' tests fail while this one's pass */
        if (t->before.n_failed == 0 ||
            (!list_names(t->before.failed, t->name) && list_names(t->before.passed, t->name))) {
            t->verdict = PATCH_VERDICT_PASSING;
            return set_str(&t->message, "the tests already pass without a patch");
        }
    }
    rc = core_arena_new(&arena, 4096, err);
    if (rc < 0) {
        return rc;
    }
    solve_task task;
    rc = patch__task_make(&task, t, arena, snap, err);
    if (rc < 0) {
        goto done;
    }
    uint64_t t0 = core_time_ns();
    core_err gerr = {0};
    rc = opts->generator.fn(opts->generator.payload, &sr, &task, &gerr);
    t->seconds_generate = (double)(core_time_ns() - t0) / 1e9;
    if (rc == CORE_ECANCELED || rc == CORE_ENOMEM) {
        rc = core_err_set(err, rc, "%s", gerr.msg);
        goto done;
    }
    if (rc < 0 || sr == NULL) {
        char msg[CORE_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "generation failed: %s", gerr.msg);
        rc = set_str(&t->message, msg);
        goto done;
    }
    t->n_candidates = sr->n_candidates;
    idx = core_calloc(sr->n_candidates + 1, sizeof *idx);
    seen = core_calloc(sr->n_candidates + 1, sizeof *seen);
    if (idx == NULL || seen == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "patch: out of memory");
        goto done;
    }
    order_by_rank(idx, sr);
    size_t n_seen = 0;
    for (size_t k = 0; k < sr->n_candidates && t->n_tried < opts->n_verify_max; k++) {
        const solve_candidate *c = &sr->candidates[idx[k]];
        core_free(splice);
        splice = NULL;
        if (c->code == NULL ||
            patch__splice_make(&splice, t, snap, core_str_c(c->code), NULL) < 0) {
            continue;
        }
        bool dup = false;
        for (size_t s = 0; s < n_seen; s++) {
            dup |= strcmp(seen[s], splice) == 0;
        }
        if (dup) {
            continue;
        }
        seen[n_seen++] = splice;
        char *mine = splice;
        splice = NULL;
        if (!have_tests) {
            t->verdict = PATCH_VERDICT_NO_TESTS;
            rc = keep_candidate(t, c, mine, PATCH_VERDICT_NO_TESTS,
                                tree == NULL ? "not verified: no sandbox"
                                             : "not verified: no test mentions the function");
            break;
        }
        patch_test_run after;
        uint64_t t1 = core_time_ns();
        rc = patch__tests_run(&after, tree, snap, t, mine, t->command, opts, err);
        t->seconds_test += (double)(core_time_ns() - t1) / 1e9;
        if (rc < 0) {
            goto done;
        }
        t->n_tried++;
        core_buf fixed = {0};
        bool ok = judge(t, &after, &fixed);
        if (ok || t->verdict == PATCH_VERDICT_NONE) {
            patch__run_dispose(&t->after);
            t->after = after;
            rc = keep_candidate(t, c, mine, ok ? PATCH_VERDICT_VERIFIED : PATCH_VERDICT_PROPOSED,
                                ok ? "the target's tests now pass; nothing that passed fails"
                                   : "not verified: the tests do not go from failing to passing");
            if (rc == 0 && ok) {
                rc = set_str(&t->fixed, fixed.ptr != NULL ? fixed.ptr : "");
            }
        } else {
            patch__run_dispose(&after);
        }
        core_buf_dispose(&fixed);
        if (rc < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "patch: out of memory");
            goto done;
        }
        if (ok) {
            break;
        }
    }
    if (t->verdict == PATCH_VERDICT_NONE) {
        rc = set_str(&t->message, "no candidate defines the function");
    }
done:
    if (rc == CORE_ENOMEM) {
        rc = core_err_set(err, CORE_ENOMEM, "patch: out of memory");
    }
    if (seen != NULL) {
        for (size_t s = 0; s < sr->n_candidates; s++) {
            core_free(seen[s]);
        }
    }
    core_free(seen);
    core_free(splice);
    core_free(idx);
    solve_result_free(sr);
    core_arena_free(arena);
    return rc;
}

int patch_run(patch_result **out, patch_repo *repo, sbx_tree *tree, const patch_options *opts,
              core_err *err)
{
    *out = NULL;
    if (opts->generator.fn == NULL) {
        return core_err_set(err, CORE_EINVAL, "patch: no generator");
    }
    if (opts->n_verify_max == 0) {
        return core_err_set(err, CORE_EINVAL, "patch: n_verify_max must be at least 1");
    }
    uint64_t t0 = core_time_ns();
    patch__snap snap = {0};
    patch__changes changes = {0};
    patch_result *r = core_calloc(1, sizeof *r);
    int rc = 0;
    if (r == NULL || (r->commit = core_malloc(41)) == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "patch: out of memory");
        goto done;
    }
    memcpy(r->commit, repo->hex, 41);
    rc = patch__snap_read(&snap, repo, opts->blob_max, err);
    if (rc == 0 && opts->base != NULL) {
        rc = patch__changes_read(&changes, repo, opts->base, err);
    }
    if (rc == 0) {
        rc = patch__targets_find(r, &snap, opts->base != NULL ? &changes : NULL, opts, err);
    }
    for (size_t i = 0; i < r->n_targets && rc == 0; i++) {
        if (core_cancel_is_requested(&opts->cancel)) {
            rc = core_err_set(err, CORE_ECANCELED, "patch: canceled");
            break;
        }
        patch_target *t = &r->targets[i];
        core_log_write(&opts->log, CORE_LOG_LEVEL_INFO, "patch: %s:%s (%s)", t->path, t->name,
                       t->stub);
        rc = verify_target(t, tree, &snap, opts, err);
        r->n_verified += t->verdict == PATCH_VERDICT_VERIFIED;
    }
    r->seconds = (double)(core_time_ns() - t0) / 1e9;
done:
    patch__changes_dispose(&changes);
    patch__snap_dispose(&snap);
    if (rc < 0) {
        patch_result_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
