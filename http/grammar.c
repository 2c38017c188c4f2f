/*
 * The grammar of a request: a checker of the request's language (fed the code before the
 * cursor, with the text after it as the checker's suffix). For the local queue it is wrapped as
 * a constraint, which the queue calls accept on for each kept token and free when the request
 * ends; a remote backend's stream (kiln serve --backend) uses the checker itself.
 */
#include "http/http_int.h"

#include <string.h>

typedef struct req_grammar {
    gram_checker *checker;
    gram_constraint *constraint;
} req_grammar;

static void grammar_free(void *payload)
{
    req_grammar *g = payload;
    if (!g) {
        return;
    }
    gram_constraint_free(g->constraint);
    gram_checker_free(g->checker);
    core_free(g);
}

static int grammar_allows(void *payload, int32_t token, bool *ok, core_err *err)
{
    req_grammar *g = payload;
    return gram_constraint_allows(g->constraint, token, ok, err);
}

static int grammar_accept(void *payload, int32_t token, core_err *err)
{
    req_grammar *g = payload;
    return gram_constraint_accept(g->constraint, token, err);
}

int http__grammar_checker(gram_checker **out, http_stream *st, core_str prefix, core_err *err)
{
    *out = NULL;
    const http_params *p = &st->params;
    const gram_lang *lang = st->server->langs[strcmp(p->grammar, "c") == 0 ? 1 : 0];
    if (!lang) {
        st->params.bad_param = "grammar";
        return core_err_set(err, CORE_EINVAL, "'grammar': %s is not compiled in", p->grammar);
    }
    gram_checker_options co = gram_checker_options_default();
    co.suffix = core_str_c(p->suffix);
    int rc = gram_checker_new(out, lang, &co, err);
    if (rc == 0 && prefix.len > 0) {
        bool viable = false;
        rc = gram_checker_feed(*out, prefix, &viable, err);
        if (rc == 0 && !viable) {
            rc = core_err_set(err, CORE_EINVAL, "the prompt is not the start of a %s program",
                              gram_lang_name(lang));
        }
    }
    if (rc < 0) {
        gram_checker_free(*out);
        *out = NULL;
        if (rc == CORE_EINVAL) {
            st->params.bad_param = "prompt";
        }
    }
    return rc;
}

int http__grammar_constraint(gen_queue_constraint *out, http_stream *st, core_str prefix,
                             core_err *err)
{
    req_grammar *g = core_calloc(1, sizeof(*g));
    if (!g) {
        return core_err_set(err, CORE_ENOMEM, "grammar: out of memory");
    }
    int rc = http__grammar_checker(&g->checker, st, prefix, err);
    if (rc == 0) {
        rc = gram_constraint_new(&g->constraint, g->checker, &st->server->vocab, err);
    }
    if (rc < 0) {
        grammar_free(g);
        return rc;
    }
    out->base.mask = NULL;
    out->base.allows = grammar_allows;
    out->base.payload = g;
    out->accept = grammar_accept;
    out->free = grammar_free;
    return 0;
}
