/*
 * Test runs of kiln patch: the repository's test command over a snapshot of the revision's tree,
 * as it is or with one target's body replaced, in the sandbox (sbx_tree_run: a box holding a
 * copy of the tree, read-only system binds, no network, limits). pytest's short summary
 * (`-rA`: one "PASSED id", "FAILED id - message" or "ERROR id" line per test) gives per-test
 * outcomes; any other command is judged by its exit status alone, as one test named "command".
 */
#include "patch/patch_int.h"

#include <stdio.h>
#include <string.h>

void patch__run_dispose(patch_test_run *run)
{
    if (run == NULL) {
        return;
    }
    core_free(run->failed);
    core_free(run->passed);
    core_free(run->output);
    memset(run, 0, sizeof *run);
}

int patch__outcomes_parse(patch_test_run *run, core_str out)
{
    core_buf failed = {0};
    core_buf passed = {0};
    if (out.ptr == NULL) {
        out = (core_str){"", 0};
    }
    size_t i = 0;
    bool any = false;
    while (i < out.len) {
        const char *nl = memchr(out.ptr + i, '\n', out.len - i);
        size_t end = nl != NULL ? (size_t)(nl - out.ptr) : out.len;
        core_str line = {out.ptr + i, end - i};
        static const char *const bad[] = {"FAILED ", "ERROR ", "XPASS "};
        if (core_str_has_prefix(line, core_str_c("PASSED "))) {
            if (core_buf_append(&passed, line.ptr + 7, line.len - 7) < 0 ||
                core_buf_append(&passed, "\n", 1) < 0) {
                core_buf_dispose(&failed);
                core_buf_dispose(&passed);
                return CORE_ENOMEM;
            }
            run->n_passed++;
            any = true;
        }
        for (size_t k = 0; k < 3; k++) {
            size_t n = strlen(bad[k]);
            if (line.len > n && memcmp(line.ptr, bad[k], n) == 0) {
                const char *id = line.ptr + n;
                size_t len = line.len - n;
                const char *dash = NULL;
                for (size_t j = 0; j + 3 <= len; j++) {
                    if (memcmp(id + j, " - ", 3) == 0) {
                        dash = id + j;
                        break;
                    }
                }
                if (dash != NULL) {
                    len = (size_t)(dash - id);
                }
                if (core_buf_append(&failed, id, len) < 0 ||
                    core_buf_append(&failed, "\n", 1) < 0) {
                    core_buf_dispose(&failed);
                    core_buf_dispose(&passed);
                    return CORE_ENOMEM;
                }
                run->n_failed++;
                any = true;
            }
        }
        i = end + 1;
    }
    if (!any) {
        bool ok = run->exit_code == 0 && run->limit == SBX_LIMIT_NONE;
        run->n_passed = ok ? 1 : 0;
        run->n_failed = ok ? 0 : 1;
        if (core_buf_append(ok ? &passed : &failed, "command\n", 8) < 0) {
            core_buf_dispose(&failed);
            core_buf_dispose(&passed);
            return CORE_ENOMEM;
        }
    } else if (run->limit != SBX_LIMIT_NONE || (run->exit_code != 0 && run->n_failed == 0)) {
        /* a limit or a crash after some summary lines: the run as a whole failed */
        if (core_buf_append(&failed, "command\n", 8) < 0) {
            core_buf_dispose(&failed);
            core_buf_dispose(&passed);
            return CORE_ENOMEM;
        }
        run->n_failed++;
    }
    run->failed = failed.ptr != NULL ? failed.ptr : core_calloc(1, 1);
    run->passed = passed.ptr != NULL ? passed.ptr : core_calloc(1, 1);
    size_t keep = out.len > 4096 ? 4096 : out.len;
    run->output = core_malloc(keep + 1);
    if (run->failed == NULL || run->passed == NULL || run->output == NULL) {
        return CORE_ENOMEM;
    }
    if (keep > 0) {
        memcpy(run->output, out.ptr + out.len - keep, keep);
    }
    run->output[keep] = '\0';
    return 0;
}

bool patch__run_has_failed(const patch_test_run *run, core_str id)
{
    const char *p = run->failed;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len == id.len && memcmp(p, id.ptr, len) == 0) {
            return true;
        }
        p += len + (nl != NULL);
    }
    return false;
}

int patch__tests_run(patch_test_run *run, sbx_tree *tree, const patch__snap *snap,
                     const patch_target *target, const char *splice, const char *command,
                     const patch_options *opts, core_err *err)
{
    memset(run, 0, sizeof *run);
    sbx_tree_file *files = core_calloc(snap->n_files + 1, sizeof *files);
    core_buf patched = {0};
    sbx_tree_result res = {0};
    int rc = 0;
    if (files == NULL) {
        return core_err_set(err, CORE_ENOMEM, "tests: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < snap->n_files; i++) {
        const patch__file *f = &snap->files[i];
        /* submodules are not in the object database; a link whose target the archive cannot
         * hold (ustar: under 100 bytes) is left out rather than failing the whole run */
        if (f->gitlink || (f->symlink && (f->len == 0 || f->len >= 100))) {
            continue;
        }
        core_str data = {f->data, f->len};
        if (target != NULL && splice != NULL && strcmp(f->path, target->path) == 0) {
            if (core_buf_append(&patched, f->data, target->splice_start) < 0 ||
                core_buf_append(&patched, splice, strlen(splice)) < 0 ||
                core_buf_append(&patched, f->data + target->splice_end,
                                f->len - target->splice_end) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "tests: out of memory");
                goto done;
            }
            data = (core_str){patched.ptr, patched.len};
        }
        files[n++] = (sbx_tree_file){
            .path = core_str_c(f->path), .data = data, .exec = f->exec, .symlink = f->symlink};
    }
    sbx_tree_job job = {.files = files,
                        .n_files = n,
                        .command = command,
                        .limits = opts->limits,
                        .cancel = opts->cancel};
    uint64_t t0 = core_time_ns();
    rc = sbx_tree_run(&res, tree, &job, err);
    run->seconds = (double)(core_time_ns() - t0) / 1e9;
    if (rc < 0) {
        goto done;
    }
    run->ran = true;
    run->exit_code = res.exit_code;
    run->limit = res.limit;
    /* the shell's own complaint about the command's first word, not one from inside it */
    char word[256];
    size_t wl = strcspn(command, " \t\n;&|<>");
    snprintf(word, sizeof word, "%.*s: not found", (int)(wl < 200 ? wl : 200), command);
    if (res.exit_code == 127 && res.limit == SBX_LIMIT_NONE && res.out.ptr != NULL &&
        strstr(res.out.ptr, word) != NULL) {
        rc = core_err_set(err, CORE_ENOTFOUND, "test command not found: %s", command);
        goto done;
    }
    if (patch__outcomes_parse(run, (core_str){res.out.ptr, res.out.len}) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "tests: out of memory");
    }
done:
    sbx_tree_result_dispose(&res);
    core_buf_dispose(&patched);
    core_free(files);
    if (rc < 0) {
        patch__run_dispose(run);
    }
    return rc;
}
