/*
 * Helpers shared by the kiln commands: model path resolution, error printing, the stderr log
 * sink, reading whole files, and argument parsing.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/gen.h"

#define CLI_DEFAULT_MODEL "SmolLM2-135M-Instruct.Q4_1.gguf"

const char *cli_model_path(const char *path)
{
    if (path && path[0]) {
        return path;
    }
    const char *env = getenv("KILN_MODEL");
    if (env && env[0]) {
        return env;
    }
    if (access("models/" CLI_DEFAULT_MODEL, R_OK) == 0) {
        return "models/" CLI_DEFAULT_MODEL;
    }
    return KILN_SOURCE_DIR "/models/" CLI_DEFAULT_MODEL;
}

int cli_fail(const core_err *err)
{
    fprintf(stderr, "kiln: %s\n", err->msg[0] ? err->msg : core_status_str(err->code));
    return CLI_EXIT_BAD;
}

static void log_stderr(void *payload, core_log_level level, const char *msg)
{
    (void)payload;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "kiln: %s: %s\n", names[level], msg);
}

core_log cli_log_stderr(bool verbose)
{
    core_log log = {log_stderr, NULL, verbose ? CORE_LOG_LEVEL_DEBUG : CORE_LOG_LEVEL_WARN};
    return log;
}

int cli_read_all(FILE *f, core_buf *buf, core_err *err)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (core_buf_append(buf, chunk, n) < 0) {
            return core_err_set(err, CORE_ENOMEM, "read: out of memory");
        }
    }
    if (ferror(f)) {
        return core_err_set(err, CORE_EIO, "read: %s", strerror(errno));
    }
    if (!buf->ptr && core_buf_reserve(buf, 0) < 0) {
        return core_err_set(err, CORE_ENOMEM, "read: out of memory");
    }
    return 0;
}

void cli_print_json(FILE *f, core_str s)
{
    core_buf b = {0};
    fputs(core_buf_append_json(&b, s) == 0 ? b.ptr : "\"\"", f);
    core_buf_dispose(&b);
}

bool cli_parse_size(const char *opt, const char *arg, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || !end || *end || arg[0] == '-' || arg[0] == '\0') {
        fprintf(stderr, "kiln: %s: expected a non-negative integer, got '%s'\n", opt, arg);
        return false;
    }
    *out = (size_t)v;
    return true;
}

bool cli_parse_float(const char *opt, const char *arg, float *out)
{
    char *end = NULL;
    errno = 0;
    float v = strtof(arg, &end);
    if (errno || !end || *end || arg[0] == '\0') {
        fprintf(stderr, "kiln: %s: expected a number, got '%s'\n", opt, arg);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_device(const char *arg, int *out)
{
    if (strcmp(arg, "cpu") == 0) {
        *out = GEN_DEVICE_CPU;
    } else if (strcmp(arg, "cuda") == 0 || strcmp(arg, "gpu") == 0) {
        *out = GEN_DEVICE_CUDA;
    } else if (strcmp(arg, "auto") == 0) {
        *out = GEN_DEVICE_AUTO;
    } else {
        fprintf(stderr, "kiln: --device: expected cpu, cuda or auto, got '%s'\n", arg);
        return false;
    }
    return true;
}

/* Where packed weights are kept between runs (gen_model_options.pack_cache): $KILN_PACK_CACHE
 * ("" for nowhere), else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln; NULL when none. */
static const char *pack_cache_dir(char *buf, size_t cap)
{
    const char *env = getenv("KILN_PACK_CACHE");
    if (env) {
        return env[0] != '\0' ? env : NULL;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n = -1;
    if (xdg && xdg[0] == '/') {
        n = snprintf(buf, cap, "%s/kiln", xdg);
    } else if (home && home[0] == '/') {
        n = snprintf(buf, cap, "%s/.cache/kiln", home);
    }
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

int cli_model_load(gen_model **out, const char *path, const gen_model_options *opts, int device,
                   core_err *err)
{
    gen_model_options o = *opts;
    o.device = (gen_device)device;
    char cache[4096];
    if (!o.pack_cache) {
        o.pack_cache = pack_cache_dir(cache, sizeof(cache));
    }
    int rc = gen_model_load(out, path, &o, err);
    if (rc == CORE_EUNSUPPORTED && device == GEN_DEVICE_CUDA && strstr(err->msg, "cuda:")) {
        fprintf(stderr, "kiln: notice: %s; running on the CPU\n", err->msg);
        o.device = GEN_DEVICE_CPU;
        rc = gen_model_load(out, path, &o, err);
    }
    return rc;
}
