/*
 * Opening the remote backend that --backend names (solve_backend): the key comes from
 * --backend-key-file (its first line) or, without it, from the environment's KILN_BACKEND_KEY;
 * the command line never carries it. Shared by every command that takes CLI_BACKEND_LONGOPTS.
 */
#include "cli/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The key file's first line, trailing blanks cut, into *key (owned by the caller). */
static int read_key(char **key, const char *path, core_err *err)
{
    core_buf b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        return core_err_set(err, CORE_ENOTFOUND, "--backend-key-file %s: %s", path,
                            strerror(errno));
    }
    int rc = cli_read_all(f, &b, err);
    fclose(f);
    if (rc < 0) {
        return core_err_wrap(err, rc, "--backend-key-file %s", path);
    }
    size_t n = 0;
    while (n < b.len && b.ptr[n] != '\n' && b.ptr[n] != '\r') {
        n++;
    }
    while (n > 0 && (b.ptr[n - 1] == ' ' || b.ptr[n - 1] == '\t')) {
        n--;
    }
    *key = core_strndup(b.ptr ? b.ptr : "", n);
    if (b.ptr) {
        memset(b.ptr, 0, b.len);
    }
    core_buf_dispose(&b);
    if (!*key) {
        return core_err_set(err, CORE_ENOMEM, "out of memory");
    }
    if (n == 0) {
        core_free(*key);
        *key = NULL;
        return core_err_set(err, CORE_EINVAL, "--backend-key-file %s: empty", path);
    }
    return 0;
}

int cli_backend_open(solve_backend **out, const cli_model_opts *o, core_err *err)
{
    *out = NULL;
    if (!o->backend) {
        return 0;
    }
    char *key = NULL;
    if (o->backend_key_file) {
        int rc = read_key(&key, o->backend_key_file, err);
        if (rc < 0) {
            return rc;
        }
    }
    solve_backend_options bo = solve_backend_options_default();
    bo.url = o->backend;
    bo.key = key ? key : getenv("KILN_BACKEND_KEY");
    bo.model = o->backend_model;
    bo.ca_file = o->backend_ca;
    int rc = solve_backend_new(out, &bo, err);
    if (key) {
        memset(key, 0, strlen(key));
        core_free(key);
    }
    return rc;
}
