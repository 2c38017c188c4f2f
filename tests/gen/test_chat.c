/*
 * Tests of gen/chat.c on the real models' vocabularies: every message of a conversation becomes
 * a turn of the model's template (ChatML for SmolLM2, Gemma's turns), and the one-turn call
 * writes what it always wrote.
 */
#include "tests/gen/tests.h"

#include <stdio.h>

#include "gen/gen.h"

static gen_model *load_vocab(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", KILN_MODELS, file);
    gen_model_options o = gen_model_options_default();
    o.vocab_only = true;
    gen_model *m = NULL;
    core_err err = {0};
    ck_assert_msg(gen_model_load(&m, path, &o, &err) == 0, "%s", err.msg);
    return m;
}

#define MSG(r, c)                                                                                  \
    {                                                                                              \
        {r, sizeof(r) - 1},                                                                        \
        {                                                                                          \
            c, sizeof(c) - 1                                                                       \
        }                                                                                          \
    }

static void expect_chat(const gen_model *m, const gen_chat_message *msgs, size_t n,
                        const char *want)
{
    core_buf out = {0};
    core_err err = {0};
    ck_assert_msg(gen_model_chat_apply_messages(m, msgs, n, &out, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(out.ptr, want);
    core_buf_dispose(&out);
}

#define SMOL_SYSTEM                                                                                \
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "         \
    "Face<|im_end|>\n"

START_TEST(chat__chatml_writes_every_turn)
{
    gen_model *m = load_vocab("SmolLM2-135M-Instruct.Q4_1.gguf");
    const gen_chat_message turns[] = {MSG("user", "hi"), MSG("assistant", "hello"),
                                      MSG("user", "more")};
    expect_chat(m, turns, 3,
                SMOL_SYSTEM
                "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n");
    /* a leading system (or developer) message replaces the default one */
    const gen_chat_message sys[] = {MSG("developer", "Be brief."), MSG("user", "hi"),
                                    MSG("assistant", "hello"), MSG("tool", "42")};
    expect_chat(m, sys, 4,
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
                "<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>tool\n42<|im_end|>\n"
                "<|im_start|>assistant\n");
    /* the one-turn call is the two-message conversation */
    core_buf out = {0};
    ck_assert_int_eq(gen_model_chat_apply(m, core_str_c(""), core_str_c("hi"), &out, NULL), 0);
    ck_assert_str_eq(out.ptr,
                     SMOL_SYSTEM "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    core_buf_dispose(&out);
    core_err err = {0};
    ck_assert_int_eq(gen_model_chat_apply_messages(m, turns, 0, &out, &err), CORE_EINVAL);
    gen_model_free(m);
}
END_TEST

START_TEST(chat__gemma_folds_system_into_the_next_user_turn)
{
    gen_model *m = load_vocab("gemma-3-270m-q4_k_m.gguf");
    const gen_chat_message turns[] = {MSG("system", "S"), MSG("user", "hi"),
                                      MSG("assistant", "hello"), MSG("user", "more")};
    expect_chat(m, turns, 4,
                "<start_of_turn>user\nS\n\nhi<end_of_turn>\n<start_of_turn>model\nhello"
                "<end_of_turn>\n<start_of_turn>user\nmore<end_of_turn>\n<start_of_turn>model\n");
    /* a system message after the last turn still reaches the model */
    const gen_chat_message late[] = {MSG("user", "hi"), MSG("system", "S")};
    expect_chat(m, late, 2,
                "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>user\nS<end_of_turn>\n"
                "<start_of_turn>model\n");
    core_buf out = {0};
    ck_assert_int_eq(gen_model_chat_apply(m, core_str_c("S"), core_str_c("hi"), &out, NULL), 0);
    ck_assert_str_eq(out.ptr, "<start_of_turn>user\nS\n\nhi<end_of_turn>\n<start_of_turn>model\n");
    core_buf_dispose(&out);
    gen_model_free(m);
}
END_TEST

TCase *tcase_chat(void)
{
    TCase *tc = tcase_create("chat");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chat__chatml_writes_every_turn);
    tcase_add_test(tc, chat__gemma_folds_system_into_the_next_user_turn);
    return tc;
}
