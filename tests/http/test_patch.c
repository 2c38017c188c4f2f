/*
 * Tests of http/patch.c: the request's fields (defaults, each bad one named), and POST
 * /v1/patch on a loopback port with the default model over a repository that libgit2 writes
 * under the server's --patch-root: 403 without a root, 400 for a path outside it, a git URL or
 * an unknown revision, a streamed run (target and stage events, the result, [DONE]) during
 * which a second request gets 429 with Retry-After, and a whole run whose JSON is the report
 * of `kiln patch --report FILE.json` plus the diff; the same files given inline ("files", no
 * --patch-root needed) streamed, bad inline paths, too many files, "files" with "repository"
 * or "base" refused by name. The model's candidates are not asserted
 * (they depend on the CPU's kernels), only what the server does with them.
 */
#include "tests/http/tests.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen/gen.h"
#include "http/http_int.h"
#include "tests/patch/tests.h"

#define PATCH_MODEL KILN_MODELS "/SmolLM2-135M-Instruct.Q4_1.gguf"

static int parse(http_patch_req *req, core_arena *arena, const char *body, core_err *err)
{
    return http__patch_parse(req, arena, core_str_c(body), err);
}

/* A valid "files" value. */
#define ONE_FILE "[{\"path\":\"a.py\",\"content\":\"x\"}]"

START_TEST(patch__request_fields)
{
    core_arena *arena = NULL;
    core_err err = {0};
    ck_assert_int_eq(core_arena_new(&arena, 4096, &err), 0);
    http_patch_req req;
    ck_assert_int_eq(parse(&req, arena, "{\"repository\":\"calc\"}", &err), 0);
    ck_assert_str_eq(req.repository, "calc");
    ck_assert_ptr_null(req.rev);
    ck_assert_uint_eq(req.n_candidates, 4);
    ck_assert_uint_eq(req.n_rounds, 1);
    ck_assert_uint_eq(req.n_verify_max, 3);
    ck_assert_uint_eq(req.test_timeout_s, 60);
    ck_assert(req.plan);
    ck_assert(!req.stream);
    ck_assert(!req.has_seed);
    ck_assert_int_eq(parse(&req, arena,
                           "{\"repository\":\"a/b\",\"rev\":\"v1\",\"base\":\"main\",\"functions\":"
                           "[\"m.py:f\",\"s.c:g\"],\"test_cmd\":\"make test\",\"n\":2,\"rounds\":0,"
                           "\"plan\":false,\"seed\":7,\"max_tokens\":64,\"verify_max\":1,"
                           "\"test_timeout\":5,\"stream\":true,\"include_unverified\":true}",
                           &err),
                     0);
    ck_assert_str_eq(req.rev, "v1");
    ck_assert_str_eq(req.base, "main");
    ck_assert_uint_eq(req.n_functions, 2);
    ck_assert_str_eq(req.functions[1], "s.c:g");
    ck_assert_str_eq(req.test_cmd, "make test");
    ck_assert_uint_eq(req.n_candidates, 2);
    ck_assert_uint_eq(req.n_rounds, 0);
    ck_assert_uint_eq(req.n_tokens_max, 64);
    ck_assert_uint_eq(req.test_timeout_s, 5);
    ck_assert(req.has_seed);
    ck_assert_uint_eq(req.seed, 7);
    ck_assert(req.stream && req.include_unverified && !req.plan);
    static const struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"[1]", "body"},
        {"{\"repository\":", "body"},
        {"{}", "repository"},
        {"{\"repository\":\"\"}", "repository"},
        {"{\"repository\":3}", "repository"},
        {"{\"repository\":\"r\",\"n\":0}", "n"},
        {"{\"repository\":\"r\",\"n\":1.5}", "n"},
        {"{\"repository\":\"r\",\"rounds\":9}", "rounds"},
        {"{\"repository\":\"r\",\"functions\":\"f\"}", "functions"},
        {"{\"repository\":\"r\",\"functions\":[\"no-colon\"]}", "functions"},
        {"{\"repository\":\"r\",\"functions\":[1]}", "functions"},
        {"{\"repository\":\"r\",\"stream\":1}", "stream"},
        {"{\"repository\":\"r\",\"test_timeout\":0}", "test_timeout"},
        {"{\"repository\":\"r\",\"max_tokens\":1}", "max_tokens"},
        {"{\"repository\":\"r\",\"rev\":[]}", "rev"},
        {"{\"files\":[]}", "files"},
        {"{\"files\":\"a.py\"}", "files"},
        {"{\"files\":[1]}", "files"},
        {"{\"files\":[{\"path\":\"a.py\"}]}", "files"},
        {"{\"files\":[{\"path\":\"a.py\",\"content\":1}]}", "files"},
        {"{\"files\":[{\"path\":2,\"content\":\"\"}]}", "files"},
        {"{\"files\":[{\"path\":\"a\\u0000b\",\"content\":\"\"}]}", "files"},
        {"{\"files\":" ONE_FILE ",\"repository\":\"r\"}", "files"},
        {"{\"files\":" ONE_FILE ",\"base\":\"main\"}", "base"},
        {"{\"files\":" ONE_FILE ",\"rev\":\"v1\"}", "rev"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse(&req, arena, bad[i].body, &err) == CORE_EINVAL, "%s", bad[i].body);
        ck_assert_str_eq(req.bad_param, bad[i].param);
    }
    const char invalid[] = {'{', '"', 'r', '"', ':', '"', (char)0xff, '"', '}', '\0'};
    ck_assert_int_eq(parse(&req, arena, invalid, &err), CORE_EINVAL);
    core_arena_free(arena);
}
END_TEST

#undef ONE_FILE

/* A body with PATCH_FILES_MAX + 1 empty files in out. */
static void many_files(core_buf *out)
{
    ck_assert_int_eq(core_buf_appendf(out, "{\"files\":["), 0);
    for (size_t i = 0; i <= PATCH_FILES_MAX; i++) {
        ck_assert_int_eq(
            core_buf_appendf(out, "%s{\"path\":\"f%zu.py\",\"content\":\"\"}", i ? "," : "", i), 0);
    }
    ck_assert_int_eq(core_buf_appendf(out, "]}"), 0);
}

START_TEST(patch__request_inline_files)
{
    core_arena *arena = NULL;
    core_err err = {0};
    ck_assert_int_eq(core_arena_new(&arena, 4096, &err), 0);
    http_patch_req req;
    ck_assert_int_eq(parse(&req, arena,
                           "{\"files\":[{\"path\":\"m.py\",\"content\":\"def f():\\n  pass\\n\"},"
                           "{\"path\":\"t/e.py\",\"content\":\"\"}],\"functions\":[\"m.py:f\"]}",
                           &err),
                     0);
    ck_assert_ptr_null(req.repository);
    ck_assert_uint_eq(req.n_files, 2);
    ck_assert(core_str_eq_c(req.files[0].path, "m.py"));
    ck_assert(core_str_eq_c(req.files[0].data, "def f():\n  pass\n"));
    ck_assert(core_str_eq_c(req.files[1].data, ""));
    ck_assert_uint_eq(req.n_functions, 1);
    /* an escaped backslash before "u0000" is no NUL */
    ck_assert_int_eq(
        parse(&req, arena, "{\"files\":[{\"path\":\"a.py\",\"content\":\"\\\\u0000\"}]}", &err), 0);
    ck_assert(core_str_eq_c(req.files[0].data, "\\u0000"));
    core_buf many = {0};
    many_files(&many);
    ck_assert_int_eq(parse(&req, arena, many.ptr, &err), CORE_ELIMIT);
    ck_assert_str_eq(req.bad_param, "files");
    core_buf_dispose(&many);
    core_arena_free(arena);
}
END_TEST

/* The fixture: a package with one stub (add) and its test. */
static const fx_file calc_files[] = {
    {.path = "calc/__init__.py", .data = "\n"},
    {.path = "calc/ops.py",
     .data = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    pass\n"},
    {.path = "tests/test_ops.py",
     .data = "from calc.ops import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"},
};

/* calc_files committed at root/calc. */
static void write_repo(char root[FX_PATH_MAX])
{
    fx_dir(root, "http-root");
    char dir[FX_PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/calc", root);
    git_repository *repo = fx_repo_new(dir, false);
    git_oid c1;
    fx_commit(&c1, repo, "HEAD", calc_files, 3, "calc: add\n");
    git_repository_free(repo);
}

/* A request body with calc_files inline and more members (JSON text, "" for none). Caller
 * frees with free. */
static char *inline_body(const char *more)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    ck_assert_ptr_nonnull(files);
    for (size_t i = 0; i < sizeof calc_files / sizeof calc_files[0]; i++) {
        cJSON *f = cJSON_CreateObject();
        ck_assert_ptr_nonnull(cJSON_AddStringToObject(f, "path", calc_files[i].path));
        ck_assert_ptr_nonnull(cJSON_AddStringToObject(f, "content", calc_files[i].data));
        ck_assert(cJSON_AddItemToArray(files, f));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ck_assert_ptr_nonnull(text);
    const size_t len = strlen(text) + strlen(more) + 2;
    char *body = malloc(len);
    ck_assert_ptr_nonnull(body);
    text[strlen(text) - 1] = '\0'; /* the closing brace */
    snprintf(body, len, "%s%s%s}", text, more[0] != '\0' ? "," : "", more);
    cJSON_free(text);
    return body;
}

static http_server *serve(const gen_model *model, const char *root)
{
    core_err err = {0};
    http_server_options o = http_server_options_default();
    o.port = 0;
    o.n_parallel = 1;
    o.n_ctx = 256;
    o.n_compute = 1;
    o.patch_root = root;
    http_server *srv = NULL;
    ck_assert_msg(http_server_new(&srv, &o, &err) == 0, "%s", err.msg);
    ck_assert_msg(http_server_ready(srv, model, NULL, &err) == 0, "%s", err.msg);
    return srv;
}

/* Checks the answer's JSON (after the headers, or an SSE event's data line): the report's
 * fields for the one target, and a diff exactly when a patch was verified. */
static void check_report(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    ck_assert_ptr_nonnull(o);
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(o, "targets");
    ck_assert_int_eq(cJSON_GetArraySize(targets), 1);
    const cJSON *t = cJSON_GetArrayItem(targets, 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring, "add");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "path")->valuestring, "calc/ops.py");
    const char *verdict = cJSON_GetObjectItemCaseSensitive(t, "verdict")->valuestring;
    const bool verified = strcmp(verdict, "verified") == 0;
    /* (no_tests: a machine without the sandbox verifies nothing) */
    ck_assert_msg(verified || strcmp(verdict, "proposed") == 0 || strcmp(verdict, "none") == 0 ||
                      strcmp(verdict, "no_tests") == 0,
                  "%s", verdict);
    /* the stub fails its test before any patch, in the sandbox or (without one) not run */
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(t, "before");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(before, "ran"))) {
        ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(before, "failed")->valueint, 1);
    }
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(o, "n_verified")->valueint, verified);
    const char *diff = cJSON_GetObjectItemCaseSensitive(o, "diff")->valuestring;
    if (verified) {
        ck_assert_ptr_nonnull(strstr(diff, "diff --git a/calc/ops.py b/calc/ops.py\n"));
        ck_assert_ptr_nonnull(strstr(diff, "-    pass\n"));
    } else {
        ck_assert_str_eq(diff, "");
    }
    ck_assert_uint_eq(strlen(cJSON_GetObjectItemCaseSensitive(o, "commit")->valuestring), 40);
    cJSON_Delete(o);
}

/* Checks a whole streamed answer (changed: its result line is cut): the target and stage
 * events, the report and [DONE]. */
static void check_events(char *s)
{
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(s, "data: {\"target\":\"add\"}\n"));
    ck_assert_ptr_nonnull(strstr(s, "event: stage\ndata: {\"target\":\"add\",\"stage\":"));
    char *result = strstr(s, "event: result\ndata: ");
    ck_assert_ptr_nonnull(result);
    result += strlen("event: result\ndata: ");
    char *end = strchr(result, '\n');
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    check_report(result);
    ck_assert_ptr_nonnull(strstr(end + 1, "data: [DONE]\n\n"));
}

/* A streamed request on port, its events read to the end and checked. */
static void stream_and_check(uint16_t port, const char *body)
{
    int fd = connect_to(port);
    send_request(fd, "POST", "/v1/patch", NULL, body);
    core_buf s = {0};
    char buf[4096];
    ssize_t n = 0;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        ck_assert_int_eq(core_buf_append(&s, buf, (size_t)n), 0);
    }
    close(fd);
    check_events(s.ptr);
    core_buf_dispose(&s);
}

START_TEST(patch__endpoint)
{
    char root[FX_PATH_MAX];
    write_repo(root);
    gen_model *model = NULL;
    core_err err = {0};
    ck_assert_msg(gen_model_load(&model, PATCH_MODEL, NULL, &err) == 0, "%s", err.msg);
    core_buf b = {0};
    int status = 0;
    /* repositories are off without --patch-root; inline files are not */
    http_server *srv = serve(model, NULL);
    request(&b, &status, http_server_port(srv), "POST", "/v1/patch", NULL,
            "{\"repository\":\"calc\"}");
    ck_assert_int_eq(status, 403);
    static const struct {
        const char *body;
        int status;
        const char *param;
    } refused_inline[] = {
        {"{\"files\":[{\"path\":\"../x\",\"content\":\"\"}]}", 400, "files"},
        {"{\"files\":[{\"path\":\"/etc/passwd\",\"content\":\"\"}]}", 400, "files"},
        {"{\"files\":[{\"path\":\"a/.git/config\",\"content\":\"\"}]}", 400, "files"},
        {"{\"files\":[{\"path\":\"\",\"content\":\"\"}]}", 400, "files"},
        {"{\"files\":[{\"path\":\"a\",\"content\":\"\"}],\"repository\":\"calc\"}", 400, "files"},
        {"{\"files\":[{\"path\":\"a\",\"content\":\"\"}],\"base\":\"HEAD~1\"}", 400, "base"},
    };
    for (size_t i = 0; i < sizeof refused_inline / sizeof refused_inline[0]; i++) {
        request(&b, &status, http_server_port(srv), "POST", "/v1/patch", NULL,
                refused_inline[i].body);
        ck_assert_msg(status == refused_inline[i].status, "%s: %d", refused_inline[i].body, status);
        char param[64];
        snprintf(param, sizeof param, "\"param\":\"%s\"", refused_inline[i].param);
        ck_assert_msg(strstr(b.ptr, param) != NULL, "%s: %s", refused_inline[i].body, b.ptr);
    }
    core_buf many = {0};
    many_files(&many);
    request(&b, &status, http_server_port(srv), "POST", "/v1/patch", NULL, many.ptr);
    ck_assert_int_eq(status, 413);
    ck_assert_ptr_nonnull(strstr(b.ptr, "\"param\":\"files\""));
    core_buf_dispose(&many);
    /* streamed, the tree inline */
    const char *small = "\"n\":2,\"rounds\":0,\"plan\":false,\"max_tokens\":48,\"seed\":1";
    char more[256];
    snprintf(more, sizeof more, "\"stream\":true,%s", small);
    char *inline_req = inline_body(more);
    stream_and_check(http_server_port(srv), inline_req);
    free(inline_req);
    http_server_free(srv);

    srv = serve(model, root);
    const uint16_t port = http_server_port(srv);
    static const struct {
        const char *body;
        const char *param;
    } refused[] = {
        {"{\"repository\":\"/etc\"}", "repository"},
        {"{\"repository\":\"calc/../..\"}", "repository"},
        {"{\"repository\":\"nowhere\"}", "repository"},
        {"{\"repository\":\"https://example.com/calc.git\"}", "repository"},
        {"{\"repository\":\"git@example.com:calc.git\"}", "repository"},
        {"{\"repository\":\"calc\",\"rev\":\"no-such-rev\"}", "rev"},
        {"{\"repository\":\"calc\",\"n\":99}", "n"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        request(&b, &status, port, "POST", "/v1/patch", NULL, refused[i].body);
        ck_assert_msg(status == 400, "%s: %d", refused[i].body, status);
        char param[64];
        snprintf(param, sizeof param, "\"param\":\"%s\"", refused[i].param);
        ck_assert_msg(strstr(b.ptr, param) != NULL, "%s: %s", refused[i].body, b.ptr);
    }

    /* streamed; a second request while it runs is refused */
    char body[FX_PATH_MAX + 256];
    snprintf(body, sizeof body, "{\"repository\":\"calc\",\"stream\":true,%s}", small);
    int fd = connect_to(port);
    send_request(fd, "POST", "/v1/patch", NULL, body);
    core_buf s = {0};
    char buf[4096];
    ssize_t n = 0;
    while (strstr(s.ptr != NULL ? s.ptr : "", "event: target\n") == NULL &&
           (n = recv(fd, buf, sizeof buf, 0)) > 0) {
        ck_assert_int_eq(core_buf_append(&s, buf, (size_t)n), 0);
    }
    ck_assert_ptr_nonnull(strstr(s.ptr, "data: {\"target\":\"add\"}\n"));
    request(&b, &status, port, "POST", "/v1/patch", NULL, body);
    ck_assert_int_eq(status, 429);
    ck_assert_ptr_nonnull(strstr(b.ptr, "Retry-After: 1"));
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        ck_assert_int_eq(core_buf_append(&s, buf, (size_t)n), 0);
    }
    close(fd);
    check_events(s.ptr);

    /* whole, the target named */
    snprintf(body, sizeof body,
             "{\"repository\":\"%s/calc\",\"functions\":[\"calc/ops.py:add\"],%s}", root, small);
    request(&b, &status, port, "POST", "/v1/patch", NULL, body);
    ck_assert_int_eq(status, 200);
    const char *json = strstr(b.ptr, "\r\n\r\n");
    ck_assert_ptr_nonnull(json);
    check_report(json + 4);
    /* the same files inline: the same verdict and diff */
    cJSON *by_repo = cJSON_Parse(json + 4);
    snprintf(more, sizeof more, "\"functions\":[\"calc/ops.py:add\"],%s", small);
    inline_req = inline_body(more);
    request(&b, &status, port, "POST", "/v1/patch", NULL, inline_req);
    free(inline_req);
    ck_assert_int_eq(status, 200);
    cJSON *by_files = cJSON_Parse(strstr(b.ptr, "\r\n\r\n") + 4);
    ck_assert_ptr_nonnull(by_files);
    const cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(by_repo, "targets"), 0);
    const cJSON *t2 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(by_files, "targets"), 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t1, "verdict")->valuestring,
                     cJSON_GetObjectItemCaseSensitive(t2, "verdict")->valuestring);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(by_repo, "diff")->valuestring,
                     cJSON_GetObjectItemCaseSensitive(by_files, "diff")->valuestring);
    cJSON_Delete(by_repo);
    cJSON_Delete(by_files);
    /* a function the tree does not have is the client's mistake */
    request(&b, &status, port, "POST", "/v1/patch", NULL,
            "{\"repository\":\"calc\",\"functions\":[\"calc/ops.py:nothing\"]}");
    ck_assert_int_eq(status, 400);
    ck_assert_ptr_nonnull(strstr(b.ptr, "nothing"));
    core_buf_dispose(&b);
    core_buf_dispose(&s);
    http_server_free(srv);
    gen_model_free(model);
}
END_TEST

TCase *tcase_patch(void)
{
    TCase *tc = tcase_create("patch");
    tcase_set_timeout(tc, 600);
    tcase_set_tags(tc, "slow");
    tcase_add_test(tc, patch__request_fields);
    tcase_add_test(tc, patch__request_inline_files);
    tcase_add_test(tc, patch__endpoint);
    return tc;
}
