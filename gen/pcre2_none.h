/*
 * Private to gen/: what the tokenizer uses of PCRE2, for builds without it (the engine-only
 * build on a GPU machine that has none of kiln's Debian packages). Every regex fails to
 * compile with a message that says why, so byte-level BPE vocabularies are refused at load with
 * that message, and SentencePiece vocabularies, which need no regex, work as usual.
 */
#ifndef KILN_GEN_PCRE2_NONE_H
#define KILN_GEN_PCRE2_NONE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef size_t PCRE2_SIZE;
typedef const unsigned char *PCRE2_SPTR;
typedef unsigned char PCRE2_UCHAR;
typedef struct pcre2_none pcre2_general_context;
typedef struct pcre2_none pcre2_compile_context;
typedef struct pcre2_none pcre2_match_context;
typedef struct pcre2_none pcre2_match_data;
typedef struct pcre2_none pcre2_code;
struct pcre2_none {
    int unused;
};

#define PCRE2_ZERO_TERMINATED      (~(PCRE2_SIZE)0)
#define PCRE2_UTF                  0u
#define PCRE2_UCP                  0u
#define PCRE2_JIT_COMPLETE         0u
#define PCRE2_NO_UTF_CHECK         0u
#define PCRE2_NO_JIT               0u
#define PCRE2_ERROR_NOMATCH        (-1)
#define PCRE2_ERROR_NOMEMORY       (-48)
#define PCRE2_ERROR_HEAP_FAILED    (-63)
#define PCRE2_ERROR_JIT_STACKLIMIT (-46)
#define PCRE2_ERROR_UNAVAILABLE    (-1000)

static inline struct pcre2_none *pcre2_none_object(void)
{
    static struct pcre2_none object;
    return &object;
}

static inline pcre2_general_context *
pcre2_general_context_create(void *(*a)(size_t, void *), void (*f)(void *, void *), void *payload)
{
    (void)a;
    (void)f;
    (void)payload;
    return pcre2_none_object();
}

static inline pcre2_compile_context *pcre2_compile_context_create(pcre2_general_context *g)
{
    (void)g;
    return pcre2_none_object();
}

static inline pcre2_match_context *pcre2_match_context_create(pcre2_general_context *g)
{
    (void)g;
    return pcre2_none_object();
}

static inline pcre2_match_data *pcre2_match_data_create(uint32_t n, pcre2_general_context *g)
{
    (void)n;
    (void)g;
    return pcre2_none_object();
}

static inline pcre2_code *pcre2_compile(PCRE2_SPTR re, PCRE2_SIZE len, uint32_t options, int *code,
                                        PCRE2_SIZE *at, pcre2_compile_context *c)
{
    (void)re;
    (void)len;
    (void)options;
    (void)c;
    *code = PCRE2_ERROR_UNAVAILABLE;
    *at = 0;
    return NULL;
}

static inline int pcre2_get_error_message(int code, PCRE2_UCHAR *buf, PCRE2_SIZE size)
{
    (void)code;
    return snprintf((char *)buf, size, "kiln was built without PCRE2");
}

static inline int pcre2_jit_compile(pcre2_code *re, uint32_t options)
{
    (void)re;
    (void)options;
    return 0;
}

static inline int pcre2_match(const pcre2_code *re, PCRE2_SPTR s, PCRE2_SIZE len, PCRE2_SIZE at,
                              uint32_t options, pcre2_match_data *md, pcre2_match_context *mc)
{
    (void)re;
    (void)s;
    (void)len;
    (void)at;
    (void)options;
    (void)md;
    (void)mc;
    return PCRE2_ERROR_NOMATCH;
}

static inline PCRE2_SIZE *pcre2_get_ovector_pointer(pcre2_match_data *md)
{
    static PCRE2_SIZE ov[2];
    (void)md;
    return ov;
}

static inline void pcre2_none_free(void *p)
{
    (void)p;
}

#define pcre2_code_free            pcre2_none_free
#define pcre2_compile_context_free pcre2_none_free
#define pcre2_match_context_free   pcre2_none_free
#define pcre2_general_context_free pcre2_none_free
#define pcre2_match_data_free      pcre2_none_free

#endif /* KILN_GEN_PCRE2_NONE_H */
