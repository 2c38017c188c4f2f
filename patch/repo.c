/*
 * The repository side of kiln patch, all through libgit2: opening a repository at a revision
 * (work tree, .git folder or bare; never searched upwards), reading the revision's tree from the
 * object database into a snapshot (the working tree and index are never read, so a dirty
 * checkout reads like a clean one), the lines changed since a base revision (a tree-to-tree diff
 * without context lines), and a repository made in memory from files (an object database with
 * libgit2's mempack backend: one commit, nothing on disk). Blob sizes are read from the object
 * headers before any blob is loaded, so a huge blob is refused without being inflated.
 */
#include "patch/patch_int.h"

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int git_fail(core_err *err, int code, const char *what)
{
    const git_error *e = git_error_last();
    return core_err_set(err, code, "%s: %s", what,
                        e != NULL && e->message ? e->message : "libgit2");
}

void patch_repo_free(patch_repo *repo)
{
    if (repo == NULL) {
        return;
    }
    git_tree_free(repo->tree);
    git_commit_free(repo->commit);
    git_repository_free(repo->git);
    core_free(repo);
    git_libgit2_shutdown();
}

int patch_repo_open(patch_repo **out, const char *path, const char *rev, core_err *err)
{
    *out = NULL;
    if (rev == NULL) {
        rev = "HEAD";
    }
    git_libgit2_init();
    git_object *obj = NULL;
    git_object *peeled = NULL;
    int rc = 0;
    patch_repo *r = core_calloc(1, sizeof *r);
    if (r == NULL) {
        git_libgit2_shutdown();
        return core_err_set(err, CORE_ENOMEM, "repository %s: out of memory", path);
    }
    if (git_repository_open_ext(&r->git, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
        const git_error *e = git_error_last();
        rc = core_err_set(err, CORE_ENOTFOUND, "not a repository: %s (%s)", path,
                          e != NULL && e->message ? e->message : "libgit2");
        goto done;
    }
    int grc = git_revparse_single(&obj, r->git, rev);
    if (grc == GIT_ENOTFOUND || grc == GIT_EAMBIGUOUS || grc == GIT_EINVALIDSPEC ||
        (grc < 0 && git_repository_is_empty(r->git) == 1)) {
        rc = core_err_set(err, CORE_ENOTFOUND, "unknown revision '%s' in %s%s", rev, path,
                          git_repository_is_empty(r->git) == 1 ? " (empty repository)" : "");
        goto done;
    }
    if (grc < 0) {
        rc = git_fail(err, CORE_EPARSE, "repository: reading the revision");
        goto done;
    }
    if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
        rc = core_err_set(err, CORE_ENOTFOUND, "revision '%s' is not a commit", rev);
        goto done;
    }
    r->commit = (git_commit *)peeled;
    peeled = NULL;
    if (git_commit_tree(&r->tree, r->commit) < 0) {
        rc = git_fail(err, CORE_EPARSE, "repository: reading the revision's tree");
        goto done;
    }
    git_oid_tostr(r->hex, sizeof r->hex, git_commit_id(r->commit));
done:
    git_object_free(obj);
    git_object_free(peeled);
    if (rc < 0) {
        patch_repo_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

const char *patch_repo_commit(const patch_repo *repo)
{
    return repo->hex;
}

/* ---- a repository from files ------------------------------------------------------------- */

/* Why path is not one a tree may hold, or NULL. */
static const char *path_flaw(core_str path)
{
    if (path.len == 0) {
        return "empty";
    }
    if (memchr(path.ptr, '\0', path.len) != NULL) {
        return "a NUL byte";
    }
    for (size_t i = 0, k = 0; i < path.len; i += k) {
        k = core_utf8_len(path, i);
        if (k == 0) {
            return "not UTF-8";
        }
    }
    if (path.ptr[0] == '/') {
        return "absolute";
    }
    size_t start = 0;
    for (size_t i = 0; i <= path.len; i++) {
        if (i < path.len && path.ptr[i] != '/') {
            continue;
        }
        const core_str part = {path.ptr + start, i - start};
        if (part.len == 0) {
            return "an empty component";
        }
        if (core_str_eq_c(part, ".") || core_str_eq_c(part, "..")) {
            return "a '.' or '..' component";
        }
        if (part.len == 4 && strncasecmp(part.ptr, ".git", 4) == 0) {
            return "a '.git' component";
        }
        start = i + 1;
    }
    return NULL;
}

static int files_check(const patch_file *files, size_t n_files, core_err *err)
{
    if (n_files == 0) {
        return core_err_set(err, CORE_EINVAL, "files: none given");
    }
    if (n_files > PATCH_FILES_MAX) {
        return core_err_set(err, CORE_ELIMIT, "files: %zu, more than the %d allowed", n_files,
                            PATCH_FILES_MAX);
    }
    size_t n_bytes = 0;
    for (size_t i = 0; i < n_files; i++) {
        const char *flaw = path_flaw(files[i].path);
        if (flaw != NULL) {
            return core_err_set(err, CORE_EINVAL, "files[%zu]: path '%.*s': %s", i,
                                (int)(files[i].path.len > 200 ? 200 : files[i].path.len),
                                files[i].path.ptr, flaw);
        }
        n_bytes += files[i].data.len;
        if (n_bytes > PATCH_FILES_BYTES_MAX) {
            return core_err_set(err, CORE_ELIMIT, "files: more than the %zu bytes allowed",
                                PATCH_FILES_BYTES_MAX);
        }
    }
    return 0;
}

/* Whether path is a folder of a file in idx or has a file of idx as a folder. path is a
 * NUL-terminated copy with room for one more byte, which the function changes and restores. */
static bool is_folder(git_index *idx, char *path)
{
    const size_t len = strlen(path);
    bool found = false;
    for (size_t i = 0; i < len && !found; i++) {
        if (path[i] == '/') {
            path[i] = '\0';
            found = git_index_get_bypath(idx, path, 0) != NULL;
            path[i] = '/';
        }
    }
    size_t pos = 0;
    memcpy(path + len, "/", 2);
    found = found || git_index_find_prefix(&pos, idx, path) == 0;
    path[len] = '\0';
    return found;
}

/* The files' tree (blobs and trees written to repo's object database) in *tree_id. */
static int tree_write(git_oid *tree_id, git_repository *repo, const patch_file *files,
                      size_t n_files, core_err *err)
{
    git_index *idx = NULL;
    char *path = NULL;
    int rc = 0;
    if (git_index_new(&idx) < 0) {
        return git_fail(err, CORE_ERROR, "files: index");
    }
    for (size_t i = 0; i < n_files && rc == 0; i++) {
        git_index_entry e;
        memset(&e, 0, sizeof e);
        e.mode = GIT_FILEMODE_BLOB;
        core_free(path);
        path = core_malloc(files[i].path.len + 2); /* room for is_folder's '/' */
        if (path == NULL) {
            rc = core_err_set(err, CORE_ENOMEM, "files: out of memory");
            break;
        }
        memcpy(path, files[i].path.ptr, files[i].path.len);
        path[files[i].path.len] = '\0';
        e.path = path;
        if (git_blob_create_from_buffer(&e.id, repo, files[i].data.ptr, files[i].data.len) < 0) {
            rc = git_fail(err, CORE_ERROR, "files: writing a blob");
        } else if (git_index_get_bypath(idx, path, 0) != NULL) {
            rc = core_err_set(err, CORE_EINVAL, "files[%zu]: path '%s': given twice", i, path);
        } else if (is_folder(idx, path)) {
            rc = core_err_set(err, CORE_EINVAL, "files[%zu]: path '%s': also a folder", i, path);
        } else if (git_index_add(idx, &e) < 0) {
            const git_error *ge = git_error_last();
            rc = core_err_set(err, CORE_EINVAL, "files[%zu]: path '%s': %s", i, path,
                              ge != NULL && ge->message ? ge->message : "refused");
        }
    }
    if (rc == 0 && git_index_write_tree_to(tree_id, idx, repo) < 0) {
        rc = git_fail(err, CORE_ERROR, "files: writing the tree");
    }
    core_free(path);
    git_index_free(idx);
    return rc;
}

int patch_repo_from_files(patch_repo **out, const patch_file *files, size_t n_files, core_err *err)
{
    *out = NULL;
    int rc = files_check(files, n_files, err);
    if (rc < 0) {
        return rc;
    }
    git_libgit2_init();
    git_odb *odb = NULL;
    git_odb_backend *mem = NULL;
    git_signature *sig = NULL;
    git_oid tree_id;
    git_oid commit_id;
    patch_repo *r = core_calloc(1, sizeof *r);
    if (r == NULL) {
        git_libgit2_shutdown();
        return core_err_set(err, CORE_ENOMEM, "files: out of memory");
    }
    if (git_odb_new(&odb) < 0 || git_mempack_new(&mem) < 0) {
        rc = git_fail(err, CORE_ERROR, "files: object database");
        goto done;
    }
    if (git_odb_add_backend(odb, mem, 1) < 0) {
        rc = git_fail(err, CORE_ERROR, "files: object database");
        mem->free(mem);
        goto done;
    }
    if (git_repository_wrap_odb(&r->git, odb) < 0) {
        rc = git_fail(err, CORE_ERROR, "files: repository");
        goto done;
    }
    rc = tree_write(&tree_id, r->git, files, n_files, err);
    if (rc < 0) {
        goto done;
    }
    if (git_tree_lookup(&r->tree, r->git, &tree_id) < 0 ||
        git_signature_new(&sig, "kiln", "kiln@localhost", 0, 0) < 0 ||
        git_commit_create(&commit_id, r->git, NULL, sig, sig, NULL, "files\n", r->tree, 0, NULL) <
            0 ||
        git_commit_lookup(&r->commit, r->git, &commit_id) < 0) {
        rc = git_fail(err, CORE_ERROR, "files: commit");
        goto done;
    }
    git_oid_tostr(r->hex, sizeof r->hex, &commit_id);
done:
    git_signature_free(sig);
    git_odb_free(odb); /* the repository holds its own reference */
    if (rc < 0) {
        patch_repo_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- snapshot ---------------------------------------------------------------------------- */

typedef struct snap_walk {
    patch_repo *repo;
    git_odb *odb;
    patch__snap *snap;
    size_t blob_max;
    core_err *err;
    int rc;
} snap_walk;

int patch__grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return 0;
    }
    size_t grown = *cap ? *cap * 2 : 16;
    void *p = core_realloc(*items, grown * size);
    if (p == NULL) {
        return CORE_ENOMEM;
    }
    *items = p;
    *cap = grown;
    return 0;
}

static int snap_push(patch__snap *snap, patch__file *f)
{
    if (patch__grow((void **)&snap->files, &snap->cap, snap->n_files, sizeof *f) < 0) {
        return CORE_ENOMEM;
    }
    snap->files[snap->n_files++] = *f;
    return 0;
}

static int snap_entry(const char *root, const git_tree_entry *entry, void *payload)
{
    snap_walk *w = payload;
    git_object_t type = git_tree_entry_type(entry);
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (type == GIT_OBJECT_TREE) {
        return 0;
    }
    patch__file f = {0};
    size_t lr = strlen(root), ln = strlen(git_tree_entry_name(entry));
    f.path = core_malloc(lr + ln + 1);
    if (f.path == NULL) {
        w->rc = core_err_set(w->err, CORE_ENOMEM, "snapshot: out of memory");
        return -1;
    }
    memcpy(f.path, root, lr);
    memcpy(f.path + lr, git_tree_entry_name(entry), ln + 1);
    if (type == GIT_OBJECT_COMMIT || mode == GIT_FILEMODE_COMMIT) {
        f.gitlink = true;
    } else {
        size_t len = 0;
        git_object_t otype = GIT_OBJECT_INVALID;
        if (git_odb_read_header(&len, &otype, w->odb, git_tree_entry_id(entry)) < 0) {
            w->rc = core_err_set(w->err, CORE_EPARSE, "snapshot: blob %s: %s", f.path,
                                 git_error_last() ? git_error_last()->message : "unreadable");
            core_free(f.path);
            return -1;
        }
        if (len > w->blob_max) {
            w->rc = core_err_set(w->err, CORE_ELIMIT,
                                 "snapshot: blob %s: %zu bytes, more than the %zu allowed "
                                 "(--blob-max)",
                                 f.path, len, w->blob_max);
            core_free(f.path);
            return -1;
        }
        git_blob *blob = NULL;
        if (git_blob_lookup(&blob, w->repo->git, git_tree_entry_id(entry)) < 0) {
            w->rc = core_err_set(w->err, CORE_EPARSE, "snapshot: blob %s: %s", f.path,
                                 git_error_last() ? git_error_last()->message : "unreadable");
            core_free(f.path);
            return -1;
        }
        f.len = (size_t)git_blob_rawsize(blob);
        f.data = core_malloc(f.len + 1);
        if (f.data == NULL) {
            git_blob_free(blob);
            core_free(f.path);
            w->rc = core_err_set(w->err, CORE_ENOMEM, "snapshot: out of memory");
            return -1;
        }
        if (f.len > 0) {
            memcpy(f.data, git_blob_rawcontent(blob), f.len);
        }
        f.data[f.len] = '\0';
        git_blob_free(blob);
        f.exec = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
        f.symlink = mode == GIT_FILEMODE_LINK;
    }
    if (snap_push(w->snap, &f) < 0) {
        core_free(f.path);
        core_free(f.data);
        w->rc = core_err_set(w->err, CORE_ENOMEM, "snapshot: out of memory");
        return -1;
    }
    return 0;
}

int patch__snap_read(patch__snap *out, patch_repo *repo, size_t blob_max, core_err *err)
{
    memset(out, 0, sizeof *out);
    snap_walk w = {.repo = repo, .snap = out, .blob_max = blob_max, .err = err};
    if (git_repository_odb(&w.odb, repo->git) < 0) {
        return git_fail(err, CORE_EPARSE, "snapshot: object database");
    }
    int grc = git_tree_walk(repo->tree, GIT_TREEWALK_PRE, snap_entry, &w);
    git_odb_free(w.odb);
    if (w.rc < 0) {
        patch__snap_dispose(out);
        return w.rc;
    }
    if (grc < 0) {
        patch__snap_dispose(out);
        return git_fail(err, CORE_EPARSE, "snapshot: reading the tree");
    }
    return 0;
}

void patch__snap_dispose(patch__snap *snap)
{
    if (snap == NULL) {
        return;
    }
    for (size_t i = 0; i < snap->n_files; i++) {
        core_free(snap->files[i].path);
        core_free(snap->files[i].data);
    }
    core_free(snap->files);
    memset(snap, 0, sizeof *snap);
}

const patch__file *patch__snap_find(const patch__snap *snap, const char *path)
{
    for (size_t i = 0; i < snap->n_files; i++) {
        if (strcmp(snap->files[i].path, path) == 0) {
            return &snap->files[i];
        }
    }
    return NULL;
}

/* ---- changes since a base ---------------------------------------------------------------- */

static int hunk_add(patch__changes *c, const char *path, uint32_t line, uint32_t n)
{
    if (patch__grow((void **)&c->hunks, &c->cap, c->n_hunks, sizeof *c->hunks) < 0) {
        return CORE_ENOMEM;
    }
    size_t len = strlen(path);
    char *p = core_malloc(len + 1);
    if (p == NULL) {
        return CORE_ENOMEM;
    }
    memcpy(p, path, len + 1);
    c->hunks[c->n_hunks++] = (patch__hunk){.path = p, .line = line, .n_lines = n};
    return 0;
}

int patch__changes_read(patch__changes *out, patch_repo *repo, const char *base, core_err *err)
{
    memset(out, 0, sizeof *out);
    git_object *obj = NULL;
    git_tree *base_tree = NULL;
    git_diff *diff = NULL;
    int rc = 0;
    if (git_revparse_single(&obj, repo->git, base) < 0 ||
        git_object_peel((git_object **)&base_tree, obj, GIT_OBJECT_TREE) < 0) {
        rc = core_err_set(err, CORE_ENOTFOUND, "unknown base revision '%s'", base);
        goto done;
    }
    git_diff_options o;
    git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
    o.context_lines = 0;
    if (git_diff_tree_to_tree(&diff, repo->git, base_tree, repo->tree, &o) < 0) {
        rc = git_fail(err, CORE_ERROR, "diff against the base");
        goto done;
    }
    size_t n = git_diff_num_deltas(diff);
    for (size_t i = 0; i < n && rc == 0; i++) {
        git_patch *p = NULL;
        if (git_patch_from_diff(&p, diff, i) < 0) {
            rc = git_fail(err, CORE_ERROR, "diff against the base");
            break;
        }
        if (p == NULL) {
            continue; /* binary or unchanged */
        }
        const git_diff_delta *d = git_patch_get_delta(p);
        size_t n_hunks = git_patch_num_hunks(p);
        for (size_t h = 0; h < n_hunks && rc == 0; h++) {
            const git_diff_hunk *hunk = NULL;
            size_t n_lines = 0;
            if (git_patch_get_hunk(&hunk, &n_lines, p, h) < 0) {
                continue;
            }
            if (hunk_add(out, d->new_file.path, (uint32_t)hunk->new_start,
                         (uint32_t)hunk->new_lines) < 0) {
                rc = core_err_set(err, CORE_ENOMEM, "diff against the base: out of memory");
            }
        }
        git_patch_free(p);
    }
done:
    git_diff_free(diff);
    git_tree_free(base_tree);
    git_object_free(obj);
    if (rc < 0) {
        patch__changes_dispose(out);
    }
    return rc;
}

void patch__changes_dispose(patch__changes *changes)
{
    if (changes == NULL) {
        return;
    }
    for (size_t i = 0; i < changes->n_hunks; i++) {
        core_free(changes->hunks[i].path);
    }
    core_free(changes->hunks);
    memset(changes, 0, sizeof *changes);
}

bool patch__changes_touch(const patch__changes *changes, const char *path, uint32_t first,
                          uint32_t last)
{
    for (size_t i = 0; i < changes->n_hunks; i++) {
        const patch__hunk *h = &changes->hunks[i];
        if (strcmp(h->path, path) != 0) {
            continue;
        }
        /* a deletion sits between lines: it touches the definition when inside it */
        uint32_t a = h->line;
        uint32_t b = h->n_lines > 0 ? h->line + h->n_lines - 1 : h->line;
        if (a <= last && b >= first) {
            return true;
        }
    }
    return false;
}
