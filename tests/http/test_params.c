/*
 * Tests of http/params.c: every field of each endpoint is read, every wrong type is refused
 * with the field named, caps hold (logit_bias's among them), unknown fields are ignored, and bodies
 * that are not JSON objects or not UTF-8 are refused.
 */
#include "tests/http/tests.h"

#include <math.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"

static core_arena *arena;

static void make_arena(void)
{
    ck_assert_int_eq(core_arena_new(&arena, 4096, NULL), 0);
}

static void free_arena(void)
{
    core_arena_free(arena);
    arena = NULL;
}

static int parse(http_params *p, http_endpoint ep, const char *body, core_err *err)
{
    core_arena_reset(arena);
    return http_params_parse(p, arena, ep, core_str_c(body), NULL, err);
}

START_TEST(params__completions_every_field)
{
    http_params p;
    core_err err = {0};
    const char *body =
        "{\"model\":\"m\",\"prompt\":\"def f():\",\"suffix\":\"\\n\\nx = 1\",\"max_tokens\":17,"
        "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":7,\"min_p\":0.1,\"repeat_penalty\":1.1,"
        "\"n\":3,\"stop\":[\"\\n\\n\",\"\",\"END\"],\"seed\":-5,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"logprobs\":2,\"echo\":true,"
        "\"grammar\":\"c\",\"ignore_eos\":true,\"unknown\":{\"nested\":[1,2]},\"user\":\"u\"}";
    ck_assert_msg(parse(&p, HTTP_ENDPOINT_COMPLETIONS, body, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(p.model, "m");
    ck_assert_uint_eq(p.n_prompts, 1);
    ck_assert_str_eq(p.prompts[0].text, "def f():");
    ck_assert_str_eq(p.suffix, "\n\nx = 1");
    ck_assert_uint_eq(p.n_tokens_max, 17);
    ck_assert_double_eq_tol((double)p.temperature, 0.5, 1e-6);
    ck_assert_double_eq_tol((double)p.top_p, 0.9, 1e-6);
    ck_assert_int_eq(p.top_k, 7);
    ck_assert_double_eq_tol((double)p.min_p, 0.1, 1e-6);
    ck_assert_double_eq_tol((double)p.repeat_penalty, 1.1, 1e-6);
    ck_assert_uint_eq(p.n_choices, 3);
    ck_assert_uint_eq(p.n_stops, 2); /* the empty stop is dropped */
    ck_assert_str_eq(p.stops[0], "\n\n");
    ck_assert_str_eq(p.stops[1], "END");
    ck_assert(p.has_seed);
    ck_assert_uint_eq(p.seed, (uint64_t)(int64_t)-5);
    ck_assert(p.stream);
    ck_assert(p.include_usage);
    ck_assert(p.logprobs);
    ck_assert(p.echo);
    ck_assert_str_eq(p.grammar, "c");
    ck_assert(p.ignore_eos);
}
END_TEST

START_TEST(params__defaults_and_prompt_forms)
{
    http_params p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":[\"a\",[1,2,3]]}", &err), 0);
    ck_assert_uint_eq(p.n_prompts, 2);
    ck_assert_str_eq(p.prompts[0].text, "a");
    ck_assert_ptr_null(p.prompts[1].text);
    ck_assert_uint_eq(p.prompts[1].n_tokens, 3);
    ck_assert_int_eq(p.prompts[1].tokens[2], 3);
    ck_assert_uint_eq(p.n_tokens_max, 256);
    ck_assert_double_eq_tol((double)p.temperature, 1.0, 1e-6); /* OpenAI's default */
    ck_assert_uint_eq(p.n_choices, 1);
    ck_assert(!p.stream);
    ck_assert(!p.has_seed);
    ck_assert_ptr_null(p.grammar);
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":[5,6]}", &err), 0);
    ck_assert_uint_eq(p.n_prompts, 1);
    ck_assert_uint_eq(p.prompts[0].n_tokens, 2);
    /* llama.cpp's fields and defaults. */
    ck_assert_int_eq(
        parse(&p, HTTP_ENDPOINT_COMPLETION, "{\"prompt\":\"x\",\"n_predict\":-1}", &err), 0);
    ck_assert_uint_eq(p.n_tokens_max, 4096);
    ck_assert_double_eq_tol((double)p.temperature, 0.8, 1e-6);
    ck_assert_int_eq(p.top_k, 40);
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_INFILL,
                           "{\"input_prefix\":\"def f():\\n\",\"input_suffix\":\"\\n\"}", &err),
                     0);
    ck_assert_str_eq(p.prefix, "def f():\n");
    ck_assert_str_eq(p.suffix, "\n");
}
END_TEST

START_TEST(params__chat_messages)
{
    http_params p;
    core_err err = {0};
    const char *body = "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                       "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\","
                       "\"content\":null}],\"max_completion_tokens\":9,\"logprobs\":true}";
    ck_assert_msg(parse(&p, HTTP_ENDPOINT_CHAT, body, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(p.n_messages, 3);
    ck_assert_str_eq(p.messages[0].role, "system");
    ck_assert_str_eq(p.messages[1].content, "ab");
    ck_assert_str_eq(p.messages[2].content, "");
    ck_assert_uint_eq(p.n_tokens_max, 9);
    ck_assert(p.logprobs);
}
END_TEST

START_TEST(params__tokenize_detokenize_solve)
{
    http_params p;
    core_err err = {0};
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_TOKENIZE,
                           "{\"content\":\"hi\",\"add_special\":true,\"with_pieces\":true}", &err),
                     0);
    ck_assert_str_eq(p.prompts[0].text, "hi");
    ck_assert(p.add_special);
    ck_assert(p.parse_special);
    ck_assert(p.with_pieces);
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_DETOKENIZE, "{\"tokens\":[1,2]}", &err), 0);
    ck_assert_uint_eq(p.n_tokens, 2);
    ck_assert_int_eq(p.tokens[1], 2);
    const char *task = "{\"language\":\"c\",\"prompt\":\"int f(void);\",\"entry_point\":\"f\","
                       "\"visible_tests\":\"int main(void){return 0;}\",\"n\":4,\"rounds\":1,"
                       "\"plan\":false,\"repair\":false,\"grammar\":false,\"seed\":3,"
                       "\"stream\":true}";
    ck_assert_msg(parse(&p, HTTP_ENDPOINT_SOLVE, task, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(p.language, "c");
    ck_assert_str_eq(p.entry, "f");
    ck_assert_str_eq(p.visible_tests, "int main(void){return 0;}");
    ck_assert_uint_eq(p.n_choices, 4);
    ck_assert_uint_eq(p.n_rounds, 1);
    ck_assert(!p.plan);
    ck_assert(!p.repair);
    ck_assert(!p.use_grammar);
    ck_assert_uint_eq(p.seed, 3);
    ck_assert(p.stream);
}
END_TEST

/* Each wrong body and the param its error must name. */
static const struct {
    http_endpoint ep;
    const char *body;
    const char *param;
} wrong[] = {
    {HTTP_ENDPOINT_COMPLETIONS, "{}", "prompt"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":1}", "prompt"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":[]}", "prompt"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":[true]}", "prompt"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":[-1]}", "prompt"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"model\":3}", "model"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"suffix\":[]}", "suffix"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":\"9\"}", "max_tokens"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":100000000}", "max_tokens"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":3}", "temperature"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"top_p\":1.5}", "top_p"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"top_k\":-2}", "top_k"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"min_p\":{}}", "min_p"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"n\":0}", "n"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"n\":1000}", "n"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":5}", "stop"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":[1]}", "stop"},
    {HTTP_ENDPOINT_COMPLETIONS,
     "{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}", "stop"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"seed\":\"1\"}", "seed"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"stream\":1}", "stream"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"stream_options\":true}", "stream_options"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":1}}",
     "stream_options"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":\"yes\"}", "logprobs"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":50}", "logprobs"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"echo\":\"no\"}", "echo"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"ignore_eos\":0}", "ignore_eos"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"grammar\":\"rust\"}", "grammar"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"grammar\":1}", "grammar"},
    {HTTP_ENDPOINT_COMPLETION, "{\"prompt\":\"x\",\"n_predict\":-2}", "n_predict"},
    {HTTP_ENDPOINT_COMPLETION, "{\"prompt\":\"x\",\"repeat_penalty\":true}", "repeat_penalty"},
    {HTTP_ENDPOINT_INFILL, "{}", "input_prefix"},
    {HTTP_ENDPOINT_INFILL, "{\"input_prefix\":1}", "input_prefix"},
    {HTTP_ENDPOINT_INFILL, "{\"input_prefix\":\"a\",\"input_suffix\":1}", "input_suffix"},
    {HTTP_ENDPOINT_CHAT, "{}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":{}}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[]}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[1]}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages"},
    {HTTP_ENDPOINT_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":1}]}]}",
     "messages"},
    {HTTP_ENDPOINT_TOKENIZE, "{}", "content"},
    {HTTP_ENDPOINT_TOKENIZE, "{\"content\":[1]}", "content"},
    {HTTP_ENDPOINT_TOKENIZE, "{\"content\":\"x\",\"add_special\":1}", "add_special"},
    {HTTP_ENDPOINT_DETOKENIZE, "{}", "tokens"},
    {HTTP_ENDPOINT_DETOKENIZE, "{\"tokens\":[\"a\"]}", "tokens"},
    {HTTP_ENDPOINT_DETOKENIZE, "{\"tokens\":[1e12]}", "tokens"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":[1]}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"a\":1}}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"-1\":1}}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"1 \":1}}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"\":1}}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"2147483648\":1}}",
     "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"7\":100.5}}", "logit_bias"},
    {HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{\"7\":\"1\"}}", "logit_bias"},
    {HTTP_ENDPOINT_CHAT,
     "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"7\":-101}}",
     "logit_bias"},
    {HTTP_ENDPOINT_SOLVE, "{\"entry_point\":\"f\"}", "prompt"},
    {HTTP_ENDPOINT_SOLVE, "{\"prompt\":\"x\"}", "entry_point"},
    {HTTP_ENDPOINT_SOLVE, "{\"prompt\":\"x\",\"entry_point\":\"f\",\"language\":\"go\"}",
     "language"},
    {HTTP_ENDPOINT_SOLVE, "{\"prompt\":\"x\",\"entry_point\":\"f\",\"n\":500}", "n"},
    {HTTP_ENDPOINT_SOLVE, "{\"prompt\":\"x\",\"entry_point\":\"f\",\"rounds\":\"2\"}", "rounds"},
    {HTTP_ENDPOINT_SOLVE, "{\"prompt\":\"x\",\"entry_point\":\"f\",\"plan\":0}", "plan"},
};

START_TEST(params__wrong_types_name_the_field)
{
    http_params p;
    core_err err = {0};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        int rc = parse(&p, wrong[i].ep, wrong[i].body, &err);
        ck_assert_msg(rc == CORE_EINVAL, "case %zu (%s): rc %d", i, wrong[i].body, rc);
        ck_assert_msg(p.bad_param && strcmp(p.bad_param, wrong[i].param) == 0,
                      "case %zu (%s): param %s, expected %s", i, wrong[i].body,
                      p.bad_param ? p.bad_param : "(null)", wrong[i].param);
        ck_assert_msg(strstr(err.msg, wrong[i].param) != NULL, "case %zu: message %s", i, err.msg);
    }
}
END_TEST

START_TEST(params__bodies_that_are_not_objects)
{
    http_params p;
    core_err err = {0};
    static const char *const bodies[] = {"",
                                         "nul",
                                         "[1]",
                                         "\"x\"",
                                         "{\"prompt\":\"x\"} junk",
                                         "{\"prompt\":",
                                         "{\"prompt\":\"\xff\"}",
                                         "{\"prompt\":\"\xc0\xaf\"}",
                                         "{\"prompt\":\"\xed\xa0\x80\"}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ck_assert_msg(parse(&p, HTTP_ENDPOINT_COMPLETIONS, bodies[i], &err) == CORE_EPARSE,
                      "body %zu accepted", i);
        ck_assert_ptr_null(p.bad_param);
    }
    /* Valid multi-byte UTF-8 is fine. */
    ck_assert_int_eq(
        parse(&p, HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"h\xc3\xa9 \xf0\x9f\x98\x80\"}", &err),
        0);
}
END_TEST

START_TEST(params__logit_bias)
{
    http_params p;
    core_err err = {0};
    ck_assert_msg(parse(&p, HTTP_ENDPOINT_CHAT,
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                        "\"logit_bias\":{\"15\":-100,\"7\":2.5,\"2147483647\":100}}",
                        &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(p.n_logit_bias, 3);
    ck_assert_int_eq(p.logit_bias[0].token, 15);
    ck_assert(isinf(p.logit_bias[0].bias) && p.logit_bias[0].bias < 0); /* -100 bans */
    ck_assert_int_eq(p.logit_bias[1].token, 7);
    ck_assert_double_eq_tol((double)p.logit_bias[1].bias, 2.5, 1e-6);
    ck_assert_int_eq(p.logit_bias[2].token, 2147483647);
    ck_assert_double_eq_tol((double)p.logit_bias[2].bias, 100.0, 1e-6);
    ck_assert_int_eq(
        parse(&p, HTTP_ENDPOINT_COMPLETIONS, "{\"prompt\":\"x\",\"logit_bias\":{}}", &err), 0);
    ck_assert_uint_eq(p.n_logit_bias, 0);
    /* The cap on entries. */
    const size_t cap = http_limits_default().n_bias_max;
    core_buf body = {0};
    ck_assert_int_eq(core_buf_appendf(&body, "{\"prompt\":\"x\",\"logit_bias\":{"), 0);
    for (size_t i = 0; i <= cap; i++) {
        ck_assert_int_eq(core_buf_appendf(&body, "%s\"%zu\":1", i ? "," : "", i), 0);
    }
    ck_assert_int_eq(core_buf_appendf(&body, "}}"), 0);
    ck_assert_int_eq(parse(&p, HTTP_ENDPOINT_COMPLETIONS, body.ptr, &err), CORE_EINVAL);
    ck_assert_str_eq(p.bad_param, "logit_bias");
    ck_assert_ptr_nonnull(strstr(err.msg, "at most"));
    core_buf_dispose(&body);
}
END_TEST

TCase *tcase_params(void)
{
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, make_arena, free_arena);
    tcase_add_test(tc, params__completions_every_field);
    tcase_add_test(tc, params__defaults_and_prompt_forms);
    tcase_add_test(tc, params__chat_messages);
    tcase_add_test(tc, params__tokenize_detokenize_solve);
    tcase_add_test(tc, params__wrong_types_name_the_field);
    tcase_add_test(tc, params__bodies_that_are_not_objects);
    tcase_add_test(tc, params__logit_bias);
    return tc;
}
