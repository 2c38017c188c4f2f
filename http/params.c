/*
 * Request bodies: JSON (cJSON) into http_params. The body must be valid UTF-8 and one JSON
 * object; each known field is checked for its type and range, and a bad one is refused with a
 * message and bad_param naming it (the 400 answer's "param"); unknown fields are ignored, as
 * OpenAI-compatible servers do. The field names are OpenAI's (completions and chat) and the
 * subset of llama.cpp's server that editor plugins send (n_predict, input_prefix/suffix,
 * content, tokens...).
 */
#include "http/http_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solve/solve.h"

http_limits http_limits_default(void)
{
    http_limits l = {8, 4096, 8, 16, 256, 1024};
    return l;
}

size_t http__utf8_check(const unsigned char *s, size_t len)
{
    const core_str text = {(const char *)s, len};
    size_t i = 0;
    size_t n = 0;
    while (i < len && (n = core_utf8_len(text, i)) > 0) {
        i += n;
    }
    return i;
}

typedef struct parser {
    http_params *out;
    core_arena *arena;
    core_err *err;
} parser;

static int bad(parser *p, const char *param, const char *what)
{
    p->out->bad_param = param;
    return core_err_set(p->err, CORE_EINVAL, "'%s': %s", param, what);
}

static int nomem(parser *p)
{
    return core_err_set(p->err, CORE_ENOMEM, "request: out of memory");
}

static int get_string(parser *p, const cJSON *obj, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsString(v)) {
        return bad(p, name, "expected a string");
    }
    *out = core_arena_strndup(p->arena, v->valuestring, strlen(v->valuestring));
    return *out ? 0 : nomem(p);
}

static int get_bool(parser *p, const cJSON *obj, const char *name, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        return bad(p, name, "expected true or false");
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_float(parser *p, const cJSON *obj, const char *name, float lo, float hi, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsNumber(v)) {
        return bad(p, name, "expected a number");
    }
    if (!(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi)) {
        p->out->bad_param = name;
        return core_err_set(p->err, CORE_EINVAL, "'%s': %g is outside [%g, %g]", name,
                            v->valuedouble, (double)lo, (double)hi);
    }
    *out = (float)v->valuedouble;
    return 0;
}

/* An integer in [lo, hi]; *found tells whether the field was there. */
static int get_int(parser *p, const cJSON *obj, const char *name, double lo, double hi, double *out,
                   bool *found)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (found) {
        *found = false;
    }
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        return bad(p, name, "expected an integer");
    }
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        p->out->bad_param = name;
        return core_err_set(p->err, CORE_EINVAL, "'%s': %.0f is outside [%.0f, %.0f]", name,
                            v->valuedouble, lo, hi);
    }
    *out = v->valuedouble;
    if (found) {
        *found = true;
    }
    return 0;
}

static int get_size(parser *p, const cJSON *obj, const char *name, size_t hi, size_t *out)
{
    double d = 0;
    bool found = false;
    int rc = get_int(p, obj, name, 0, (double)hi, &d, &found);
    if (rc == 0 && found) {
        *out = (size_t)d;
    }
    return rc;
}

/* Token ids: every element an integer in [0, 2^31). */
static int get_ids(parser *p, const cJSON *arr, const char *name, int32_t **out, size_t *n)
{
    const size_t count = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = core_arena_alloc(p->arena, (count ? count : 1) * sizeof(int32_t));
    if (!ids) {
        return nomem(p);
    }
    size_t i = 0;
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble > 2147483647.0) {
            return bad(p, name, "expected token ids (non-negative integers)");
        }
        ids[i++] = (int32_t)e->valuedouble;
    }
    *out = ids;
    *n = i;
    return 0;
}

static int parse_prompt(parser *p, const cJSON *obj, const char *name, const http_limits *lim)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    http_params *o = p->out;
    if (cJSON_IsString(v)) {
        o->prompts = core_arena_alloc(p->arena, sizeof(http_prompt));
        if (!o->prompts) {
            return nomem(p);
        }
        memset(o->prompts, 0, sizeof(http_prompt));
        o->prompts[0].text = core_arena_strndup(p->arena, v->valuestring, strlen(v->valuestring));
        o->n_prompts = 1;
        return o->prompts[0].text ? 0 : nomem(p);
    }
    if (!cJSON_IsArray(v)) {
        return bad(p, name, "expected a string or an array");
    }
    const size_t count = (size_t)cJSON_GetArraySize(v);
    if (count == 0) {
        return bad(p, name, "is empty");
    }
    const cJSON *first = cJSON_GetArrayItem(v, 0);
    if (cJSON_IsNumber(first)) {
        /* One prompt given as token ids. */
        o->prompts = core_arena_alloc(p->arena, sizeof(http_prompt));
        if (!o->prompts) {
            return nomem(p);
        }
        memset(o->prompts, 0, sizeof(http_prompt));
        int32_t *ids = NULL;
        int rc = get_ids(p, v, name, &ids, &o->prompts[0].n_tokens);
        o->prompts[0].tokens = ids;
        o->n_prompts = 1;
        return rc;
    }
    if (count > lim->n_prompts_max) {
        p->out->bad_param = name;
        return core_err_set(p->err, CORE_EINVAL, "'%s': %zu prompts, at most %zu", name, count,
                            lim->n_prompts_max);
    }
    o->prompts = core_arena_alloc(p->arena, count * sizeof(http_prompt));
    if (!o->prompts) {
        return nomem(p);
    }
    memset(o->prompts, 0, count * sizeof(http_prompt));
    const cJSON *e = NULL;
    size_t i = 0;
    cJSON_ArrayForEach(e, v)
    {
        http_prompt *pr = &o->prompts[i++];
        if (cJSON_IsString(e)) {
            pr->text = core_arena_strndup(p->arena, e->valuestring, strlen(e->valuestring));
            if (!pr->text) {
                return nomem(p);
            }
        } else if (cJSON_IsArray(e)) {
            int32_t *ids = NULL;
            int rc = get_ids(p, e, name, &ids, &pr->n_tokens);
            if (rc < 0) {
                return rc;
            }
            pr->tokens = ids;
        } else {
            return bad(p, name, "expected strings or arrays of token ids");
        }
    }
    o->n_prompts = count;
    return 0;
}

static int parse_stop(parser *p, const cJSON *obj, const http_limits *lim)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "stop");
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    http_params *o = p->out;
    if (cJSON_IsString(v)) {
        o->stops = core_arena_alloc(p->arena, sizeof(char *));
        if (!o->stops) {
            return nomem(p);
        }
        o->stops[0] = core_arena_strndup(p->arena, v->valuestring, strlen(v->valuestring));
        o->n_stops = o->stops[0][0] ? 1 : 0;
        return 0;
    }
    if (!cJSON_IsArray(v)) {
        return bad(p, "stop", "expected a string or an array of strings");
    }
    const size_t count = (size_t)cJSON_GetArraySize(v);
    if (count > lim->n_stops_max) {
        o->bad_param = "stop";
        return core_err_set(p->err, CORE_EINVAL, "'stop': %zu strings, at most %zu", count,
                            lim->n_stops_max);
    }
    o->stops = core_arena_alloc(p->arena, (count ? count : 1) * sizeof(char *));
    if (!o->stops) {
        return nomem(p);
    }
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e)) {
            return bad(p, "stop", "expected a string or an array of strings");
        }
        if (e->valuestring[0] == '\0') {
            continue;
        }
        const char *s = core_arena_strndup(p->arena, e->valuestring, strlen(e->valuestring));
        if (!s) {
            return nomem(p);
        }
        o->stops[o->n_stops++] = s;
    }
    return 0;
}

/* OpenAI's "logit_bias": an object from token ids (decimal strings) to a bias in [-100, 100]
   added to the logit before sampling; -100 bans the token outright, as OpenAI documents. */
static int parse_logit_bias(parser *p, const cJSON *obj, const http_limits *lim)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "logit_bias");
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        return bad(p, "logit_bias", "expected an object from token ids to numbers");
    }
    http_params *o = p->out;
    const size_t count = (size_t)cJSON_GetArraySize(v);
    if (count > lim->n_bias_max) {
        o->bad_param = "logit_bias";
        return core_err_set(p->err, CORE_EINVAL, "'logit_bias': %zu entries, at most %zu", count,
                            lim->n_bias_max);
    }
    o->logit_bias = core_arena_alloc(p->arena, (count ? count : 1) * sizeof(gen_logit_bias));
    if (!o->logit_bias) {
        return nomem(p);
    }
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, v)
    {
        const char *key = e->string ? e->string : "";
        size_t len = strspn(key, "0123456789");
        if (len == 0 || len > 10 || key[len] != '\0') {
            o->bad_param = "logit_bias";
            return core_err_set(p->err, CORE_EINVAL,
                                "'logit_bias': key \"%.32s\" is not a token id", key);
        }
        const double id = strtod(key, NULL);
        if (id > 2147483647.0) {
            o->bad_param = "logit_bias";
            return core_err_set(p->err, CORE_EINVAL, "'logit_bias': token id %s is out of range",
                                key);
        }
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= -100.0 && e->valuedouble <= 100.0)) {
            o->bad_param = "logit_bias";
            return core_err_set(p->err, CORE_EINVAL,
                                "'logit_bias': token %s: expected a number in [-100, 100]", key);
        }
        gen_logit_bias *b = &o->logit_bias[o->n_logit_bias++];
        b->token = (int32_t)id;
        b->bias = e->valuedouble <= -100.0 ? -INFINITY : (float)e->valuedouble;
    }
    return 0;
}

/* Message content: a string, or an array of {"type":"text","text":...} parts (joined). */
static int message_content(parser *p, const cJSON *c, const char **out)
{
    if (!c || cJSON_IsNull(c)) {
        *out = "";
        return 0;
    }
    if (cJSON_IsString(c)) {
        *out = core_arena_strndup(p->arena, c->valuestring, strlen(c->valuestring));
        return *out ? 0 : nomem(p);
    }
    if (!cJSON_IsArray(c)) {
        return bad(p, "messages", "content: expected a string or an array of text parts");
    }
    core_buf joined = {0};
    const cJSON *e = NULL;
    int rc = 0;
    cJSON_ArrayForEach(e, c)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "text");
        if (!cJSON_IsString(t)) {
            rc = bad(p, "messages", "content: expected text parts");
            break;
        }
        if (core_buf_append(&joined, t->valuestring, strlen(t->valuestring)) < 0) {
            rc = nomem(p);
            break;
        }
    }
    if (rc == 0) {
        *out = core_arena_strndup(p->arena, joined.ptr ? joined.ptr : "", joined.len);
        rc = *out ? 0 : nomem(p);
    }
    core_buf_dispose(&joined);
    return rc;
}

static int parse_messages(parser *p, const cJSON *obj, const http_limits *lim)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "messages");
    if (!v || !cJSON_IsArray(v)) {
        return bad(p, "messages", v ? "expected an array" : "is required");
    }
    const size_t count = (size_t)cJSON_GetArraySize(v);
    if (count == 0 || count > lim->n_messages_max) {
        p->out->bad_param = "messages";
        return core_err_set(p->err, CORE_EINVAL, "'messages': %zu messages, 1 to %zu allowed",
                            count, lim->n_messages_max);
    }
    http_params *o = p->out;
    o->messages = core_arena_alloc(p->arena, count * sizeof(http_message));
    if (!o->messages) {
        return nomem(p);
    }
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, v)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        if (!cJSON_IsObject(e) || !cJSON_IsString(role)) {
            return bad(p, "messages", "each message needs a string 'role'");
        }
        const char *r = role->valuestring;
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0 &&
            strcmp(r, "developer") != 0 && strcmp(r, "tool") != 0) {
            return bad(p, "messages", "role: expected system, developer, user, assistant or tool");
        }
        http_message *m = &o->messages[o->n_messages];
        m->role = core_arena_strndup(p->arena, r, strlen(r));
        if (!m->role) {
            return nomem(p);
        }
        int rc = message_content(p, cJSON_GetObjectItemCaseSensitive(e, "content"), &m->content);
        if (rc < 0) {
            return rc;
        }
        o->n_messages++;
    }
    return 0;
}

static void set_defaults(http_params *o, http_endpoint ep)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = ep;
    o->n_tokens_max = 256;
    const bool openai = ep == HTTP_ENDPOINT_COMPLETIONS || ep == HTTP_ENDPOINT_CHAT;
    o->temperature = openai ? 1.0f : 0.8f;
    o->top_p = openai ? 1.0f : 0.95f;
    /* top_k and min_p are not OpenAI's; like llama.cpp's server, kiln applies its own defaults
     * there too (they also spare sorting the whole vocabulary each token). */
    o->top_k = 40;
    o->min_p = 0.05f;
    o->repeat_penalty = 1.0f;
    o->n_choices = 1;
    o->parse_special = true;
    o->language = "python";
    o->n_rounds = 2;
    o->plan = true;
    o->repair = true;
    o->use_grammar = true;
}

static int parse_sampling(parser *p, const cJSON *root, const http_limits *lim)
{
    http_params *o = p->out;
    int rc = get_size(p, root, "max_tokens", lim->n_tokens_max, &o->n_tokens_max);
    if (rc == 0) {
        rc = get_size(p, root, "max_completion_tokens", lim->n_tokens_max, &o->n_tokens_max);
    }
    if (rc == 0) {
        double d = 0;
        bool found = false;
        rc = get_int(p, root, "n_predict", -1, (double)lim->n_tokens_max, &d, &found);
        if (rc == 0 && found) {
            o->n_tokens_max = d < 0 ? lim->n_tokens_max : (size_t)d;
        }
    }
    if (rc == 0) {
        rc = get_float(p, root, "temperature", 0.0f, 2.0f, &o->temperature);
    }
    if (rc == 0) {
        rc = get_float(p, root, "top_p", 0.0f, 1.0f, &o->top_p);
    }
    if (rc == 0) {
        double d = 0;
        bool found = false;
        rc = get_int(p, root, "top_k", 0, 1e9, &d, &found);
        if (rc == 0 && found) {
            o->top_k = (int32_t)d;
        }
    }
    if (rc == 0) {
        rc = get_float(p, root, "min_p", 0.0f, 1.0f, &o->min_p);
    }
    if (rc == 0) {
        rc = get_float(p, root, "repeat_penalty", 0.0f, 10.0f, &o->repeat_penalty);
    }
    if (rc == 0) {
        rc = get_size(p, root, "n", lim->n_choices_max, &o->n_choices);
        if (rc == 0 && o->n_choices == 0) {
            rc = bad(p, "n", "must be at least 1");
        }
    }
    if (rc == 0) {
        double d = 0;
        bool found = false;
        rc = get_int(p, root, "seed", -9007199254740992.0, 9007199254740992.0, &d, &found);
        if (rc == 0 && found) {
            o->seed = (uint64_t)(int64_t)d;
            o->has_seed = true;
        }
    }
    if (rc == 0) {
        rc = parse_stop(p, root, lim);
    }
    if (rc == 0) {
        rc = get_bool(p, root, "stream", &o->stream);
    }
    if (rc == 0) {
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
        if (so && !cJSON_IsNull(so)) {
            if (!cJSON_IsObject(so)) {
                return bad(p, "stream_options", "expected an object");
            }
            const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
            if (cJSON_IsBool(iu)) {
                o->include_usage = cJSON_IsTrue(iu);
            } else if (iu && !cJSON_IsNull(iu)) {
                rc = bad(p, "stream_options", "include_usage: expected true or false");
            }
        }
    }
    if (rc == 0) {
        /* Chat: a bool; completions: an integer (how many top alternatives; kiln gives the
         * chosen token's own). */
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
        if (cJSON_IsBool(lp)) {
            o->logprobs = cJSON_IsTrue(lp);
        } else if (cJSON_IsNumber(lp) && lp->valuedouble >= 0 && lp->valuedouble <= 20) {
            o->logprobs = true;
        } else if (lp && !cJSON_IsNull(lp)) {
            rc = bad(p, "logprobs", "expected true/false or an integer in [0, 20]");
        }
    }
    if (rc == 0) {
        rc = get_bool(p, root, "echo", &o->echo);
    }
    if (rc == 0) {
        rc = get_bool(p, root, "ignore_eos", &o->ignore_eos);
    }
    if (rc == 0) {
        rc = parse_logit_bias(p, root, lim);
    }
    if (rc == 0) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "grammar");
        if (g && !cJSON_IsNull(g)) {
            if (!cJSON_IsString(g) ||
                (strcmp(g->valuestring, "python") != 0 && strcmp(g->valuestring, "c") != 0)) {
                return bad(p, "grammar", "expected \"python\" or \"c\"");
            }
            o->grammar = strcmp(g->valuestring, "c") == 0 ? "c" : "python";
        }
    }
    return rc;
}

static int parse_solve(parser *p, const cJSON *root)
{
    http_params *o = p->out;
    int rc = parse_prompt(p, root, "prompt", &(http_limits){1, 0, 0, 1, 0, 0});
    if (rc == 0 && (o->n_prompts != 1 || !o->prompts[0].text)) {
        rc = bad(p, "prompt", "a string is required");
    }
    if (rc == 0) {
        rc = get_string(p, root, "language", &o->language);
        if (rc == 0 && strcmp(o->language, "python") != 0 && strcmp(o->language, "c") != 0) {
            rc = bad(p, "language", "expected \"python\" or \"c\"");
        }
    }
    if (rc == 0) {
        rc = get_string(p, root, "entry_point", &o->entry);
    }
    if (rc == 0) {
        rc = get_string(p, root, "entry", &o->entry);
    }
    if (rc == 0 && !o->entry) {
        rc = bad(p, "entry_point", "is required");
    }
    if (rc == 0) {
        rc = get_string(p, root, "visible_tests", &o->visible_tests);
    }
    if (rc == 0) {
        rc = get_string(p, root, "tests", &o->visible_tests);
    }
    if (rc == 0) {
        rc = get_size(p, root, "n", SOLVE_N_MAX, &o->n_choices);
        if (rc == 0 && o->n_choices == 0) {
            rc = bad(p, "n", "must be at least 1");
        }
    }
    if (rc == 0) {
        rc = get_size(p, root, "rounds", 8, &o->n_rounds);
    }
    if (rc == 0) {
        rc = get_bool(p, root, "plan", &o->plan);
    }
    if (rc == 0) {
        rc = get_bool(p, root, "repair", &o->repair);
    }
    if (rc == 0) {
        rc = get_bool(p, root, "grammar", &o->use_grammar);
    }
    if (rc == 0) {
        double d = 0;
        bool found = false;
        rc = get_int(p, root, "seed", 0, 9007199254740992.0, &d, &found);
        if (rc == 0 && found) {
            o->seed = (uint64_t)d;
            o->has_seed = true;
        }
    }
    if (rc == 0) {
        rc = get_bool(p, root, "stream", &o->stream);
    }
    return rc;
}

int http_params_parse(http_params *out, core_arena *arena, http_endpoint endpoint, core_str body,
                      const http_limits *limits, core_err *err)
{
    const http_limits lim = limits ? *limits : http_limits_default();
    set_defaults(out, endpoint);
    size_t bad_at = http__utf8_check((const unsigned char *)body.ptr, body.len);
    if (bad_at < body.len) {
        return core_err_set(err, CORE_EPARSE, "body: invalid UTF-8 at byte %zu", bad_at);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body.ptr, body.len, &end, false);
    if (!root) {
        size_t at = end && end >= body.ptr ? (size_t)(end - body.ptr) : 0;
        return core_err_set(err, CORE_EPARSE, "body: not valid JSON (near byte %zu)", at);
    }
    int rc = 0;
    parser p = {out, arena, err};
    for (const char *e = end; e && e < body.ptr + body.len; e++) {
        if (*e != ' ' && *e != '\n' && *e != '\r' && *e != '\t') {
            rc = core_err_set(err, CORE_EPARSE, "body: text after the JSON value at byte %zu",
                              (size_t)(e - body.ptr));
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = core_err_set(err, CORE_EPARSE, "body: expected a JSON object");
        goto done;
    }
    rc = get_string(&p, root, "model", &out->model);
    if (rc < 0) {
        goto done;
    }
    switch (endpoint) {
    case HTTP_ENDPOINT_COMPLETIONS:
    case HTTP_ENDPOINT_COMPLETION:
        rc = parse_prompt(&p, root, "prompt", &lim);
        if (rc == 0 && out->n_prompts == 0) {
            rc = bad(&p, "prompt", "is required");
        }
        if (rc == 0) {
            rc = get_string(&p, root, "suffix", &out->suffix);
        }
        if (rc == 0) {
            rc = parse_sampling(&p, root, &lim);
        }
        break;
    case HTTP_ENDPOINT_INFILL:
        rc = get_string(&p, root, "input_prefix", &out->prefix);
        if (rc == 0) {
            rc = get_string(&p, root, "input_suffix", &out->suffix);
        }
        if (rc == 0) {
            rc = parse_prompt(&p, root, "prompt", &lim);
        }
        if (rc == 0 && !out->prefix && out->n_prompts == 0) {
            rc = bad(&p, "input_prefix", "is required");
        }
        if (rc == 0) {
            rc = parse_sampling(&p, root, &lim);
        }
        break;
    case HTTP_ENDPOINT_CHAT:
        rc = parse_messages(&p, root, &lim);
        if (rc == 0) {
            rc = parse_sampling(&p, root, &lim);
        }
        break;
    case HTTP_ENDPOINT_TOKENIZE:
        rc = parse_prompt(&p, root, "content", &(http_limits){1, 0, 0, 1, 0, 0});
        if (rc == 0 && (out->n_prompts != 1 || !out->prompts[0].text)) {
            rc = bad(&p, "content", "a string is required");
        }
        if (rc == 0) {
            rc = get_bool(&p, root, "add_special", &out->add_special);
        }
        if (rc == 0) {
            rc = get_bool(&p, root, "parse_special", &out->parse_special);
        }
        if (rc == 0) {
            rc = get_bool(&p, root, "with_pieces", &out->with_pieces);
        }
        break;
    case HTTP_ENDPOINT_DETOKENIZE: {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tokens");
        if (!cJSON_IsArray(t)) {
            rc = bad(&p, "tokens", t ? "expected an array of token ids" : "is required");
        } else {
            rc = get_ids(&p, t, "tokens", &out->tokens, &out->n_tokens);
        }
        break;
    }
    case HTTP_ENDPOINT_SOLVE:
        rc = parse_solve(&p, root);
        break;
    }
done:
    cJSON_Delete(root);
    return rc;
}

char *http__utf8_clean(core_str text)
{
    /* Each bad byte becomes U+FFFD (3 bytes). */
    char *out = core_malloc(text.len * 3 + 1);
    if (!out) {
        return NULL;
    }
    size_t n = 0;
    size_t i = 0;
    while (i < text.len) {
        const size_t good = http__utf8_check((const unsigned char *)text.ptr + i, text.len - i);
        memcpy(out + n, text.ptr + i, good);
        n += good;
        i += good;
        if (i < text.len) {
            memcpy(out + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        }
    }
    out[n] = '\0';
    return out;
}
