/*
 * The grammar constraint of a request: a checker of the request's language (fed the code
 * before the cursor, with the text after it as the checker's suffix) wrapped as a constraint,
 * handed to the request queue, which calls accept for each kept token and free when the
 * request ends.
 */
#include "http/http_int.h"

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

int http__grammar_constraint(gen_queue_constraint *out, const gram_lang *lang,
                             const gram_vocab *vocab, core_str prefix, core_str suffix,
                             core_err *err)
{
    req_grammar *g = core_calloc(1, sizeof(*g));
    if (!g) {
        return core_err_set(err, CORE_ENOMEM, "grammar: out of memory");
    }
    gram_checker_options co = gram_checker_options_default();
    co.suffix = suffix;
    int rc = gram_checker_new(&g->checker, lang, &co, err);
    if (rc == 0 && prefix.len > 0) {
        bool viable = false;
        rc = gram_checker_feed(g->checker, prefix, &viable, err);
        if (rc == 0 && !viable) {
            rc = core_err_set(err, CORE_EINVAL, "the prompt is not the start of a %s program",
                              gram_lang_name(lang));
        }
    }
    if (rc == 0) {
        rc = gram_constraint_new(&g->constraint, g->checker, vocab, err);
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
