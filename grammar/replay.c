/*
 * Replay: feeds a whole text to a fresh checker piece by piece, timing each feed, and judges
 * completeness at the end. This is how kiln measures false rejections (a text tree-sitter
 * parses must pass every piece) and early detection (a mutated text must be rejected near the
 * token that broke it). Also a tokenizer-free splitter into BPE-like pieces.
 */
#include "grammar/gram.h"

#include <string.h>

int gram_replay(gram_replay_report *out, const gram_lang *lang, core_str text, const size_t *ends,
                size_t n_tokens, core_err *err)
{
    int rc = 0;
    gram_checker *checker = NULL;

    memset(out, 0, sizeof(*out));
    out->rejected_byte = SIZE_MAX;
    out->rejected_token = SIZE_MAX;
    out->n_tokens = n_tokens;
    rc = gram_text_validate(text, err);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n_tokens; i++) {
        if (ends[i] > text.len || (i > 0 && ends[i] < ends[i - 1])) {
            return core_err_set(err, CORE_EINVAL,
                                "replay: token %zu ends at byte %zu, out of order", i, ends[i]);
        }
    }
    if (n_tokens > 0 && ends[n_tokens - 1] != text.len) {
        return core_err_set(err, CORE_EINVAL, "replay: tokens end at byte %zu, the text at %zu",
                            ends[n_tokens - 1], text.len);
    }
    rc = gram_checker_new(&checker, lang, NULL, err);
    if (rc < 0) {
        return rc;
    }
    size_t start = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        core_str piece = {text.ptr + start, ends[i] - start};
        bool viable = false;
        uint64_t t0 = core_time_ns();
        rc = gram_checker_feed(checker, piece, &viable, err);
        uint64_t dt = core_time_ns() - t0;
        if (rc < 0) {
            goto done;
        }
        out->ns_total += dt;
        if (dt > out->ns_max) {
            out->ns_max = dt;
            out->slowest_token = i;
        }
        if (!viable) {
            out->rejected_byte = start;
            out->rejected_token = i;
            goto done;
        }
        out->n_fed++;
        start = ends[i];
    }
    rc = gram_checker_is_complete(checker, &out->complete, err);
    if (rc < 0) {
        goto done;
    }
    out->accepted = out->complete;

done:
    if (checker) {
        out->n_versions_peak = gram_checker_n_versions_peak(checker);
    }
    gram_checker_free(checker);
    return rc;
}

static bool is_word_byte(unsigned char c)
{
    return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

int gram_text_split_words(core_str text, size_t **ends, size_t *n_out, core_err *err)
{
    size_t n = 0;
    size_t cap = text.len / 2 + 16;
    size_t *e = core_malloc(cap * sizeof(*e));
    *ends = NULL;
    *n_out = 0;
    if (!e) {
        return core_err_set(err, CORE_ENOMEM, "split: out of memory for %zu bytes", text.len);
    }
    const unsigned char *s = (const unsigned char *)text.ptr;
    size_t i = 0;
    while (i < text.len) {
        size_t j = i + 1;
        if (is_word_byte(s[i])) {
            while (j < text.len && is_word_byte(s[j])) {
                j++;
            }
        } else if (s[i] == ' ' || s[i] == '\t') {
            while (j < text.len && (s[j] == ' ' || s[j] == '\t')) {
                j++;
            }
        }
        if (n == cap) {
            size_t *p = core_realloc(e, 2 * cap * sizeof(*e));
            if (!p) {
                core_free(e);
                return core_err_set(err, CORE_ENOMEM, "split: out of memory for %zu bytes",
                                    text.len);
            }
            e = p;
            cap *= 2;
        }
        e[n++] = j;
        i = j;
    }
    *ends = e;
    *n_out = n;
    return 0;
}
