/*
 * Tests of http/patch.c: the request's fields (defaults, each bad one named), and POST
 * /v1/patch on a loopback port with the default model over a repository that libgit2 writes
 * under the server's --patch-root: 403 without a root, 400 for a path outside it, a git URL or
 * an unknown revision, a streamed run (target and stage events, the result, [DONE]) during
 * which a second request gets 429 with Retry-After, and a whole run whose JSON is the report
 * of `kiln patch --report FILE.json` plus the diff. The model's candidates are not asserted
 * (they depend on the CPU's kernels), only what the server does with them.
 */
#include "tests/http/tests.h"

#include <cjson/cJSON.h>
#include <stdio.h>
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

/* The fixture: root/calc, a package with one stub (add) and its test. */
static void write_repo(char root[FX_PATH_MAX])
{
    fx_dir(root, "http-root");
    char dir[FX_PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/calc", root);
    git_repository *repo = fx_repo_new(dir, false);
    const fx_file files[] = {
        {.path = "calc/__init__.py", .data = "\n"},
        {.path = "calc/ops.py",
         .data = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    pass\n"},
        {.path = "tests/test_ops.py",
         .data = "from calc.ops import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"},
    };
    git_oid c1;
    fx_commit(&c1, repo, "HEAD", files, 3, "calc: add\n");
    git_repository_free(repo);
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

START_TEST(patch__endpoint)
{
    char root[FX_PATH_MAX];
    write_repo(root);
    gen_model *model = NULL;
    core_err err = {0};
    ck_assert_msg(gen_model_load(&model, PATCH_MODEL, NULL, &err) == 0, "%s", err.msg);
    core_buf b = {0};
    int status = 0;
    /* off without --patch-root */
    http_server *srv = serve(model, NULL);
    request(&b, &status, http_server_port(srv), "POST", "/v1/patch", NULL,
            "{\"repository\":\"calc\"}");
    ck_assert_int_eq(status, 403);
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
    const char *small = "\"n\":2,\"rounds\":0,\"plan\":false,\"max_tokens\":48,\"seed\":1";
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
    ck_assert_ptr_nonnull(strstr(s.ptr, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(s.ptr, "event: stage\ndata: {\"target\":\"add\",\"stage\":"));
    const char *result = strstr(s.ptr, "event: result\ndata: ");
    ck_assert_ptr_nonnull(result);
    result += strlen("event: result\ndata: ");
    char *end = strchr(result, '\n');
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    check_report(result);
    ck_assert_ptr_nonnull(strstr(end + 1, "data: [DONE]\n\n"));

    /* whole, the target named */
    snprintf(body, sizeof body,
             "{\"repository\":\"%s/calc\",\"functions\":[\"calc/ops.py:add\"],%s}", root, small);
    request(&b, &status, port, "POST", "/v1/patch", NULL, body);
    ck_assert_int_eq(status, 200);
    const char *json = strstr(b.ptr, "\r\n\r\n");
    ck_assert_ptr_nonnull(json);
    check_report(json + 4);
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
    tcase_add_test(tc, patch__endpoint);
    return tc;
}
