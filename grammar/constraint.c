/*
 * The constraint: a checker seen through the sampler's logits hook (gen_constraint). The
 * decode path uses the cheap strategy: the sampler draws a token, asks `allows`, and draws
 * again when refused, so only the likely tokens are checked (a try on a copy of the versions,
 * a few microseconds each). An end-of-generation token is allowed only where the program,
 * with the file's suffix, is complete. `mask` is the exact strategy, one try per vocabulary
 * entry, for callers that need the full set (it is too slow to run at every step).
 */
#include "grammar/gram.h"

#include <math.h>

struct gram_constraint {
    gram_checker *checker;   /* borrowed */
    const gram_vocab *vocab; /* borrowed */
    uint64_t n_checks;
    uint64_t ns_checks;
};

int gram_constraint_new(gram_constraint **out, gram_checker *checker, const gram_vocab *vocab,
                        core_err *err)
{
    *out = core_calloc(1, sizeof(**out));
    if (!*out) {
        return core_err_set(err, CORE_ENOMEM, "grammar constraint: out of memory");
    }
    (*out)->checker = checker;
    (*out)->vocab = vocab;
    return 0;
}

void gram_constraint_free(gram_constraint *constraint)
{
    core_free(constraint);
}

static int check(gram_constraint *gc, int32_t token, bool *ok, core_err *err)
{
    const gram_vocab *vocab = gc->vocab;
    *ok = false;
    if (token < 0 || (size_t)token >= vocab->n_vocab) {
        return core_err_set(err, CORE_EINVAL, "grammar constraint: token %d out of range",
                            (int)token);
    }
    uint64_t t0 = core_time_ns();
    int rc = 0;
    if (vocab->is_eog && vocab->is_eog[token]) {
        rc = gram_checker_is_complete(gc->checker, ok, err);
    } else if (vocab->pieces[token].len == 0) {
        *ok = false; /* a control token that prints nothing would let the model stall */
    } else {
        rc = gram_checker_try(gc->checker, vocab->pieces[token], ok, err);
        if (rc == CORE_EPARSE) {
            *ok = false; /* a piece with a NUL byte can never be part of a program */
            rc = 0;
        }
    }
    gc->ns_checks += core_time_ns() - t0;
    gc->n_checks++;
    return rc;
}

int gram_constraint_allows(void *payload, int32_t token, bool *ok, core_err *err)
{
    return check(payload, token, ok, err);
}

int gram_constraint_mask(void *payload, float *logits, size_t n_vocab, core_err *err)
{
    gram_constraint *gc = payload;
    if (n_vocab != gc->vocab->n_vocab) {
        return core_err_set(err, CORE_EINVAL,
                            "grammar constraint: %zu logits for a vocabulary of %zu", n_vocab,
                            gc->vocab->n_vocab);
    }
    for (size_t i = 0; i < n_vocab; i++) {
        if (logits[i] == -INFINITY) {
            continue;
        }
        bool ok = false;
        int rc = check(gc, (int32_t)i, &ok, err);
        if (rc < 0) {
            return rc;
        }
        if (!ok) {
            logits[i] = -INFINITY;
        }
    }
    return 0;
}

int gram_constraint_accept(gram_constraint *gc, int32_t token, core_err *err)
{
    const gram_vocab *vocab = gc->vocab;
    if (token < 0 || (size_t)token >= vocab->n_vocab) {
        return core_err_set(err, CORE_EINVAL, "grammar constraint: token %d out of range",
                            (int)token);
    }
    if (vocab->is_eog && vocab->is_eog[token]) {
        return 0;
    }
    bool viable = false;
    int rc = gram_checker_feed(gc->checker, vocab->pieces[token], &viable, err);
    if (rc < 0) {
        return rc;
    }
    if (!viable) {
        return core_err_set(err, CORE_EINVAL, "grammar constraint: token %d breaks the program",
                            (int)token);
    }
    return 0;
}

uint64_t gram_constraint_n_checks(const gram_constraint *gc)
{
    return gc->n_checks;
}

uint64_t gram_constraint_ns_checks(const gram_constraint *gc)
{
    return gc->ns_checks;
}
