/*
 * POST /v1/patch: `kiln patch` on a repository of the server's disk, on the solve worker (one
 * request at a time with /v1/solve; 429 with Retry-After while it is busy). The operator names
 * the folder the service may read with `kiln serve --patch-root DIR`; a request names a
 * repository under it ("repository": relative to DIR, or absolute), and the resolved path
 * (symlinks followed) must stay under DIR. Git URLs are refused: fetching is the caller's job.
 * Instead of "repository", a request may give its tree inline, "files": [{"path", "content"}]
 * (tests included), which needs no --patch-root: patch_repo_from_files makes a one-commit
 * repository of them in memory (nothing on disk, gone when the run ends however it ends); "rev"
 * and "base" have no meaning then and are refused. The other fields are those of the command line:
 * rev, base, functions, test_cmd, n, rounds, plan, seed, max_tokens, verify_max, test_timeout,
 * include_unverified. The answer is the JSON report of `kiln patch --report FILE.json` with one
 * more field, "diff" (the verified patches as a unified diff, "" when none). With "stream": true it
 * is SSE: a "target" event as each target starts, "stage" events from the pipeline, then "result"
 * (that object) or "error", then "data: [DONE]". A client that hangs up cancels the run between
 * targets and inside solve_run.
 */
#include "http/http_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_FUNCTIONS_MAX 64

int http__patch_init(http_server *srv, const char *root, core_err *err)
{
    srv->patch_root[0] = '\0';
    if (root == NULL || root[0] == '\0') {
        return 0;
    }
    if (realpath(root, srv->patch_root) == NULL) {
        srv->patch_root[0] = '\0';
        return core_err_set(err, CORE_ENOTFOUND, "--patch-root %s: %s", root, strerror(errno));
    }
    return 0;
}

/* ---- the request ------------------------------------------------------------------------- */

static int bad(http_patch_req *req, core_err *err, const char *param, const char *what)
{
    req->bad_param = param;
    return core_err_set(err, CORE_EINVAL, "'%s': %s", param, what);
}

static int get_string(http_patch_req *req, core_arena *arena, const cJSON *obj, const char *name,
                      const char **out, core_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        return bad(req, err, name, "expected a non-empty string");
    }
    *out = core_arena_strndup(arena, v->valuestring, strlen(v->valuestring));
    return *out != NULL ? 0 : core_err_set(err, CORE_ENOMEM, "request: out of memory");
}

static int get_size(http_patch_req *req, const cJSON *obj, const char *name, size_t lo, size_t hi,
                    size_t *out, core_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    const double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(size_t)d) {
        char what[64];
        snprintf(what, sizeof what, "expected an integer from %zu to %zu", lo, hi);
        return bad(req, err, name, what);
    }
    *out = (size_t)d;
    return 0;
}

static int get_bool(http_patch_req *req, const cJSON *obj, const char *name, bool *out,
                    core_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        return bad(req, err, name, "expected true or false");
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_functions(http_patch_req *req, core_arena *arena, const cJSON *obj, core_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "functions");
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    const int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 0 || n > PATCH_FUNCTIONS_MAX) {
        return bad(req, err, "functions", "expected an array of at most 64 \"PATH:NAME\" strings");
    }
    req->functions = core_arena_alloc(arena, sizeof(char *) * ((size_t)n + 1));
    if (req->functions == NULL) {
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    const cJSON *f = NULL;
    cJSON_ArrayForEach(f, v)
    {
        if (!cJSON_IsString(f) || strchr(f->valuestring, ':') == NULL || f->valuestring[0] == ':') {
            return bad(req, err, "functions", "expected \"PATH:NAME\" strings");
        }
        const char *s = core_arena_strndup(arena, f->valuestring, strlen(f->valuestring));
        if (s == NULL) {
            return core_err_set(err, CORE_ENOMEM, "request: out of memory");
        }
        req->functions[req->n_functions++] = s;
    }
    return 0;
}

/* "\u0000" unescaped in the body: cJSON would cut the string there. */
static bool has_nul_escape(core_str body)
{
    for (size_t i = 0; i + 6 <= body.len; i++) {
        if (memcmp(body.ptr + i, "\\u0000", 6) != 0) {
            continue;
        }
        size_t n_slashes = 0;
        while (n_slashes < i && body.ptr[i - 1 - n_slashes] == '\\') {
            n_slashes++;
        }
        if (n_slashes % 2 == 0) {
            return true;
        }
    }
    return false;
}

static int get_files(http_patch_req *req, core_arena *arena, const cJSON *obj, core_str body,
                     core_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "files");
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    const int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n <= 0) {
        return bad(req, err, "files", "expected a non-empty array of {\"path\", \"content\"}");
    }
    if ((size_t)n > PATCH_FILES_MAX) {
        req->bad_param = "files";
        return core_err_set(err, CORE_ELIMIT, "'files': %d, more than the %d allowed", n,
                            PATCH_FILES_MAX);
    }
    if (has_nul_escape(body)) {
        return bad(req, err, "files", "a \\u0000 (NUL) in a path or a content");
    }
    req->files = core_arena_alloc(arena, sizeof *req->files * (size_t)n);
    if (req->files == NULL) {
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    const cJSON *f = NULL;
    cJSON_ArrayForEach(f, v)
    {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(f, "content");
        if (!cJSON_IsString(path) || !cJSON_IsString(content)) {
            return bad(req, err, "files",
                       "expected objects with a string \"path\" and a string \"content\"");
        }
        const size_t n_path = strlen(path->valuestring);
        const size_t n_content = strlen(content->valuestring);
        const char *p = core_arena_strndup(arena, path->valuestring, n_path);
        const char *c = core_arena_strndup(arena, content->valuestring, n_content);
        if (p == NULL || c == NULL) {
            return core_err_set(err, CORE_ENOMEM, "request: out of memory");
        }
        req->files[req->n_files++] = (patch_file){{p, n_path}, {c, n_content}};
    }
    return 0;
}

int http__patch_parse(http_patch_req *req, core_arena *arena, core_str body, core_err *err)
{
    memset(req, 0, sizeof *req);
    req->n_candidates = 4;
    req->n_rounds = 1;
    req->plan = true;
    req->n_verify_max = 3;
    req->test_timeout_s = 60;
    if (http__utf8_check((const unsigned char *)body.ptr, body.len) != body.len) {
        return bad(req, err, "body", "not UTF-8");
    }
    cJSON *root = cJSON_ParseWithLength(body.ptr, body.len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(req, err, "body", "expected a JSON object");
    }
    size_t seed = 0;
    size_t timeout = req->test_timeout_s;
    const cJSON *has_seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    int rc = get_string(req, arena, root, "repository", &req->repository, err);
    if (rc == 0) {
        rc = get_files(req, arena, root, body, err);
    }
    if (rc == 0 && req->repository == NULL && req->files == NULL) {
        rc = bad(req, err, "repository",
                 "required: a repository under the server's --patch-root, or \"files\"");
    }
    if (rc == 0 && req->repository != NULL && req->files != NULL) {
        rc = bad(req, err, "files", "give \"files\" or \"repository\", not both");
    }
    if (rc == 0) {
        rc = get_string(req, arena, root, "rev", &req->rev, err);
    }
    if (rc == 0) {
        rc = get_string(req, arena, root, "base", &req->base, err);
    }
    if (rc == 0 && req->files != NULL && req->rev != NULL) {
        rc = bad(req, err, "rev", "not with inline \"files\" (one commit)");
    }
    if (rc == 0 && req->files != NULL && req->base != NULL) {
        rc = bad(req, err, "base", "not with inline \"files\" (one commit, no history)");
    }
    if (rc == 0) {
        rc = get_string(req, arena, root, "test_cmd", &req->test_cmd, err);
    }
    if (rc == 0) {
        rc = get_functions(req, arena, root, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "n", 1, 16, &req->n_candidates, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "rounds", 0, 4, &req->n_rounds, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "verify_max", 1, 8, &req->n_verify_max, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "max_tokens", 16, 4096, &req->n_tokens_max, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "test_timeout", 1, 600, &timeout, err);
    }
    if (rc == 0) {
        rc = get_size(req, root, "seed", 0, UINT32_MAX, &seed, err);
    }
    if (rc == 0) {
        rc = get_bool(req, root, "plan", &req->plan, err);
    }
    if (rc == 0) {
        rc = get_bool(req, root, "stream", &req->stream, err);
    }
    if (rc == 0) {
        rc = get_bool(req, root, "include_unverified", &req->include_unverified, err);
    }
    req->test_timeout_s = (uint32_t)timeout;
    req->has_seed = has_seed != NULL && !cJSON_IsNull(has_seed);
    req->seed = seed;
    cJSON_Delete(root);
    return rc;
}

/* "scheme://..." or scp's "user@host:path": a remote the service does not fetch. */
static bool is_url(const char *s)
{
    const char *colon = strchr(s, ':');
    const char *slash = strchr(s, '/');
    return strstr(s, "://") != NULL ||
           (colon != NULL && (slash == NULL || colon < slash) && strchr(s, '@') != NULL);
}

/* The repository's real path, which must be the root or under it. */
static int resolve(char out[PATH_MAX], const http_server *srv, http_patch_req *req, core_err *err)
{
    if (is_url(req->repository)) {
        return bad(req, err, "repository",
                   "git URLs are not supported: name a repository under the server's "
                   "--patch-root");
    }
    char joined[PATH_MAX];
    const int n = req->repository[0] == '/'
                      ? snprintf(joined, sizeof joined, "%s", req->repository)
                      : snprintf(joined, sizeof joined, "%s/%s", srv->patch_root, req->repository);
    if (n < 0 || (size_t)n >= sizeof joined) {
        return bad(req, err, "repository", "path too long");
    }
    if (realpath(joined, out) == NULL) {
        return bad(req, err, "repository", "no such repository under the server's --patch-root");
    }
    const size_t len = strlen(srv->patch_root);
    const bool root_is_slash = len == 1;
    if (strncmp(out, srv->patch_root, len) != 0 ||
        (out[len] != '\0' && out[len] != '/' && !root_is_slash)) {
        return bad(req, err, "repository", "outside the server's --patch-root");
    }
    return 0;
}

int http__patch_start(http_stream *st, core_str body, int *status, const char **param,
                      core_err *err)
{
    http_server *srv = st->server;
    *status = 400;
    *param = NULL;
    http_patch_req *req = core_arena_alloc(st->arena, sizeof *req);
    if (req == NULL) {
        *status = 500;
        return core_err_set(err, CORE_ENOMEM, "request: out of memory");
    }
    int rc = http__patch_parse(req, st->arena, body, err);
    if (rc == 0 && req->files != NULL) {
        rc = patch_repo_from_files(&req->repo, req->files, req->n_files, err);
        req->bad_param = "files";
    } else if (rc == 0 && srv->patch_root[0] == '\0') {
        *status = 403;
        return core_err_set(err, CORE_EINVAL,
                            "/v1/patch on a repository is off: the server was started without "
                            "--patch-root (inline \"files\" need none)");
    } else if (rc == 0) {
        char path[PATH_MAX];
        rc = resolve(path, srv, req, err);
        if (rc == 0) {
            rc = patch_repo_open(&req->repo, path, req->rev, err);
            req->bad_param = rc == CORE_ENOTFOUND && req->rev != NULL ? "rev" : "repository";
        }
    }
    *param = req->bad_param;
    if (rc < 0) {
        *status = rc == CORE_ENOMEM || rc == CORE_ERROR ? 500 : rc == CORE_ELIMIT ? 413 : 400;
        return rc;
    }
    req->bad_param = NULL;
    *param = NULL;
    pthread_mutex_lock(&st->mu);
    st->patch = req;
    st->streaming = req->stream;
    pthread_mutex_unlock(&st->mu);
    rc = http__worker_submit(st, status, err);
    if (rc < 0) {
        patch_repo_free(req->repo);
        req->repo = NULL;
    }
    return rc;
}

/* ---- the worker's side ------------------------------------------------------------------- */

/* What the generator and the progress reports need. */
typedef struct patch_job {
    http_server *srv;
    http_stream *st;
    solve_options opts;
    const char *target; /* the entry being written */
} patch_job;

static bool canceled(void *payload)
{
    http_stream *st = payload;
    return atomic_load(&st->solve_cancel);
}

/* An SSE event whose data is {"target": name, <fields>} (fields: JSON members or ""). */
static void send_event(http_stream *st, const char *event, const char *target, const char *fields)
{
    pthread_mutex_lock(&st->mu);
    if (st->streaming) {
        core_buf data = {0};
        int rc = core_buf_appendf(&data, "{\"target\":");
        if (rc == 0) {
            rc = core_buf_append_json(&data, core_str_c(target != NULL ? target : ""));
        }
        if (rc == 0) {
            rc = core_buf_appendf(&data, "%s}", fields);
        }
        if (rc == 0) {
            (void)http_sse_event(&st->out, event, (core_str){data.ptr, data.len}, NULL);
            http__stream_wake(st);
        }
        core_buf_dispose(&data);
    }
    pthread_mutex_unlock(&st->mu);
}

static void on_progress(void *payload, const solve_event *ev)
{
    const patch_job *job = payload;
    char fields[192];
    snprintf(fields, sizeof fields,
             ",\"stage\":\"%s\",\"round\":%zu,\"done\":%zu,\"total\":%zu,\"passed\":%zu",
             solve_stage_name(ev->stage), ev->round, ev->i_done, ev->n_total, ev->n_passed);
    send_event(job->st, "stage", job->target, fields);
}

static int generate(void *payload, solve_result **out, const solve_task *task, core_err *err)
{
    patch_job *job = payload;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)task->entry.len, task->entry.ptr);
    job->target = name;
    send_event(job->st, "target", name, "");
    const solve_progress progress = {on_progress, job};
    const core_cancel cancel = {canceled, job->st};
    int rc = http__engine_open(job->srv, err);
    if (rc == 0) {
        rc = solve_run(out, job->srv->engine, task, &job->opts, &progress, &cancel, err);
    }
    job->target = NULL;
    return rc;
}

/* The report's JSON object with "diff" added. */
static int answer_json(core_buf *out, patch_repo *repo, const patch_result *res,
                       bool include_unverified, core_err *err)
{
    core_buf report = {0};
    core_buf diff = {0};
    cJSON *obj = NULL;
    char *text = NULL;
    int rc = patch_result_report(&report, res, true, err);
    if (rc == 0) {
        rc = patch_result_diff(&diff, repo, res, include_unverified, err);
    }
    if (rc == 0) {
        obj = cJSON_ParseWithLength(report.ptr, report.len);
        if (obj == NULL ||
            cJSON_AddStringToObject(obj, "diff", diff.ptr != NULL ? diff.ptr : "") == NULL) {
            rc = core_err_set(err, CORE_ENOMEM, "patch: out of memory");
        }
    }
    if (rc == 0) {
        text = cJSON_PrintUnformatted(obj);
        rc = text != NULL ? core_buf_append(out, text, strlen(text))
                          : core_err_set(err, CORE_ENOMEM, "patch: out of memory");
    }
    cJSON_free(text);
    cJSON_Delete(obj);
    core_buf_dispose(&report);
    core_buf_dispose(&diff);
    return rc;
}

static int status_of(int rc)
{
    switch (rc) {
    case 0:
        return 200;
    case CORE_EINVAL:
    case CORE_ENOTFOUND:
    case CORE_ELIMIT:
    case CORE_EPARSE:
        return 400; /* what the request named: a function, a command, a revision, the tree */
    case CORE_ECANCELED:
        return 503;
    default:
        return 500;
    }
}

void http__patch_run(http_server *srv, http_stream *st)
{
    http_patch_req *req = st->patch;
    core_err err = {0};
    if (!srv->tree_tried) {
        srv->tree_tried = true;
        sbx_tree_options to = sbx_tree_options_default();
        to.log = srv->opts.log;
        core_err terr = {0};
        if (sbx_tree_new(&srv->tree, &to, &terr) < 0) {
            core_log_write(&srv->opts.log, CORE_LOG_LEVEL_WARN,
                           "/v1/patch: no sandbox (%s): nothing can be verified", terr.msg);
            srv->tree = NULL;
        }
    }
    patch_job job = {.srv = srv, .st = st, .opts = solve_options_default()};
    job.opts.n_candidates = req->n_candidates;
    job.opts.n_rounds = req->n_rounds;
    job.opts.repair = req->n_rounds > 0;
    job.opts.plan = req->plan && !job.srv->opts.backend; /* a plan needs the local model */
    if (req->n_tokens_max > 0) {
        job.opts.n_code_tokens_max = req->n_tokens_max;
    }
    if (req->has_seed) {
        job.opts.seed = req->seed;
    }
    patch_options po = patch_options_default();
    po.base = req->base;
    po.functions = req->functions;
    po.n_functions = req->n_functions;
    po.test_cmd = req->test_cmd;
    po.n_verify_max = req->n_verify_max;
    po.limits.wall_ms = req->test_timeout_s * 1000u;
    po.limits.cpu_ms = req->test_timeout_s * 1000u;
    po.generator = (patch_generator){generate, &job};
    po.cancel = (core_cancel){canceled, st};
    po.log = srv->opts.log;
    patch_result *res = NULL;
    core_buf json = {0};
    int rc = patch_run(&res, req->repo, srv->tree, &po, &err);
    if (rc == 0) {
        rc = answer_json(&json, req->repo, res, req->include_unverified, &err);
    }
    http__worker_answer(st, status_of(rc), rc < 0 ? err.msg : NULL, &json);
    core_buf_dispose(&json);
    patch_result_free(res);
    patch_repo_free(req->repo);
    req->repo = NULL;
}
