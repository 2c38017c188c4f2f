/*
 * Results: names of verdicts and limits, the JSON form of a result, and the small helpers the
 * runners share (adding a test record, draining a capture pipe with a cap). The JSON writer is
 * hand-written so that the library needs no JSON dependency; strings go through
 * core_buf_append_json (RFC 8259; invalid UTF-8 from the candidate becomes U+FFFD).
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

sbx_limits sbx_limits_default(void)
{
    sbx_limits l = {
        .cpu_ms = 2000,
        .wall_ms = 5000,
        .mem_mb = 256,
        .n_procs = 32,
        .file_mb = 16,
        .n_files = 64,
        .output_kb = 1024,
        .disk_mb = 32,
        .disk_inodes = 2048,
    };
    return l;
}

sbx_limits sbx_limits_compile_default(void)
{
    sbx_limits l = {
        .cpu_ms = 10000,
        .wall_ms = 20000,
        .mem_mb = 512,
        .n_procs = 32,
        .file_mb = 64,
        .n_files = 256,
        .output_kb = 1024,
        .disk_mb = 128,
        .disk_inodes = 4096,
    };
    return l;
}

sbx_job sbx_job_default(void)
{
    sbx_job job;
    memset(&job, 0, sizeof job);
    job.lang = SBX_LANG_PYTHON;
    job.limits = sbx_limits_default();
    job.compile_limits = sbx_limits_compile_default();
    return job;
}

void sbx_result_dispose(sbx_result *result)
{
    if (result == NULL) {
        return;
    }
    for (size_t i = 0; i < result->n_tests; i++) {
        core_free(result->tests[i].name);
        core_free(result->tests[i].message);
    }
    core_free(result->tests);
    core_free(result->message);
    core_buf_dispose(&result->out);
    core_buf_dispose(&result->err);
    memset(result, 0, sizeof *result);
}

const char *sbx_verdict_name(sbx_verdict verdict)
{
    switch (verdict) {
    case SBX_VERDICT_PASSED:
        return "passed";
    case SBX_VERDICT_FAILED:
        return "failed";
    case SBX_VERDICT_ERROR:
        return "error";
    case SBX_VERDICT_LIMIT:
        return "limit";
    }
    return "?";
}

const char *sbx_limit_name(sbx_limit limit)
{
    static const char *const names[] = {"none",   "cpu",       "wall",      "memory",
                                        "output", "processes", "file_size", "compile"};
    if ((size_t)limit >= sizeof names / sizeof names[0]) {
        return "?";
    }
    return names[limit];
}

const char *sbx_test_status_name(sbx_test_status status)
{
    switch (status) {
    case SBX_TEST_PASSED:
        return "passed";
    case SBX_TEST_FAILED:
        return "failed";
    case SBX_TEST_ERROR:
        return "error";
    }
    return "?";
}

int sbx__result_add_test(sbx_result *res, const char *name, size_t name_len, sbx_test_status status,
                         const char *msg, size_t msg_len, double ms)
{
    sbx_test *tests = core_realloc(res->tests, (res->n_tests + 1) * sizeof *tests);
    if (tests == NULL) {
        return CORE_ENOMEM;
    }
    res->tests = tests;
    sbx_test *t = &tests[res->n_tests];
    t->name = core_strndup(name, name_len);
    t->message = core_strndup(msg, msg_len);
    t->status = status;
    t->ms = ms;
    if (t->name == NULL || t->message == NULL) {
        core_free(t->name);
        core_free(t->message);
        return CORE_ENOMEM;
    }
    res->n_tests++;
    return 0;
}

int sbx__result_set_message(sbx_result *res, const char *msg)
{
    char *copy = core_strndup(msg, strlen(msg));
    if (copy == NULL) {
        return CORE_ENOMEM;
    }
    core_free(res->message);
    res->message = copy;
    return 0;
}

int sbx__drain(int fd, core_buf *buf, size_t cap, uint64_t *n_total)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return 0;
            }
            return CORE_EIO;
        }
        if (n == 0) {
            return 1;
        }
        if (n_total != NULL) {
            *n_total += (uint64_t)n;
        }
        if (buf->len < cap) {
            size_t keep = (size_t)n < cap - buf->len ? (size_t)n : cap - buf->len;
            if (core_buf_append(buf, chunk, keep) < 0) {
                return CORE_ENOMEM;
            }
        }
    }
}

static int json_cstr(core_buf *out, const char *s)
{
    return core_buf_append_json(out, core_str_c(s));
}

int sbx_result_to_json(core_buf *out, const sbx_result *r, core_err *err)
{
    int rc = core_buf_appendf(out, "{\"verdict\":\"%s\",\"limit\":", sbx_verdict_name(r->verdict));
    if (rc == 0) {
        rc = r->limit == SBX_LIMIT_NONE ? core_buf_append(out, "null", 4)
                                        : core_buf_appendf(out, "\"%s\"", sbx_limit_name(r->limit));
    }
    if (rc == 0) {
        rc = core_buf_append(out, ",\"message\":", 11);
    }
    if (rc == 0) {
        rc = json_cstr(out, r->message);
    }
    if (rc == 0) {
        rc = core_buf_append(out, ",\"tests\":[", 10);
    }
    for (size_t i = 0; rc == 0 && i < r->n_tests; i++) {
        const sbx_test *t = &r->tests[i];
        rc = core_buf_append(out, i > 0 ? ",{\"name\":" : "{\"name\":", i > 0 ? 9 : 8);
        if (rc == 0) {
            rc = json_cstr(out, t->name);
        }
        if (rc == 0) {
            rc = core_buf_appendf(
                out, ",\"status\":\"%s\",\"message\":", sbx_test_status_name(t->status));
        }
        if (rc == 0) {
            rc = json_cstr(out, t->message);
        }
        if (rc == 0) {
            rc = core_buf_appendf(out, ",\"ms\":%.3f}", t->ms);
        }
    }
    if (rc == 0) {
        rc = core_buf_append(out, "],\"stdout\":", 11);
    }
    if (rc == 0) {
        rc =
            core_buf_append_json(out, (core_str){r->out.ptr != NULL ? r->out.ptr : "", r->out.len});
    }
    if (rc == 0) {
        rc = core_buf_append(out, ",\"stderr\":", 10);
    }
    if (rc == 0) {
        rc =
            core_buf_append_json(out, (core_str){r->err.ptr != NULL ? r->err.ptr : "", r->err.len});
    }
    if (rc == 0) {
        rc = core_buf_appendf(out,
                              ",\"output_bytes\":%llu,\"wall_ms\":%llu,\"cpu_ms\":%llu,"
                              "\"max_rss_kb\":%llu,\"compile_ms\":%llu}",
                              (unsigned long long)r->n_out_bytes, (unsigned long long)r->wall_ms,
                              (unsigned long long)r->cpu_ms, (unsigned long long)r->max_rss_kb,
                              (unsigned long long)r->compile_ms);
    }
    if (rc < 0) {
        return core_err_set(err, CORE_ENOMEM, "result json: out of memory");
    }
    return 0;
}
