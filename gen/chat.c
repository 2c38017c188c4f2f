/*
 * Chat prompts. kiln does not run Jinja; it recognizes the template families of the models it
 * ships with by their markers and writes the same text the template would: ChatML
 * (<|im_start|>role\n...<|im_end|>\n; SmolLM2, Qwen2.5) and Gemma's turns
 * (<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n). SmolLM2's template adds a
 * default system message when none is given; so does kiln. Gemma has no system turn: its
 * template puts the system text at the start of the first user turn, and kiln folds every system
 * message into the user turn that follows it.
 */
#include "gen/model_int.h"

#include <string.h>

static bool contains(core_str hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay.len && i + n <= hay.len; i++) {
        if (memcmp(hay.ptr + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool role_is(core_str role, const char *name)
{
    return role.len == strlen(name) && memcmp(role.ptr, name, role.len) == 0;
}

static bool is_system(core_str role)
{
    return role_is(role, "system") || role_is(role, "developer");
}

static int chatml(const gen_model *model, const gen_chat_message *m, size_t n, core_buf *out)
{
    static const char smol_default[] =
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
    int rc = 0;
    if (!is_system(m[0].role) && contains(gen_model_chat_template(model), smol_default)) {
        rc = core_buf_appendf(out, "<|im_start|>system\n%s<|im_end|>\n", smol_default);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        core_str role = is_system(m[i].role) ? core_str_c("system") : m[i].role;
        rc = core_buf_appendf(out, "<|im_start|>%.*s\n%.*s<|im_end|>\n", (int)role.len, role.ptr,
                              (int)m[i].content.len, m[i].content.ptr);
    }
    return rc == 0 ? core_buf_appendf(out, "<|im_start|>assistant\n") : rc;
}

static int gemma(const gen_chat_message *m, size_t n, core_buf *out)
{
    int rc = 0;
    size_t held = 0; /* system messages waiting for the next user turn: m[held_from..] */
    size_t held_from = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (is_system(m[i].role)) {
            if (held++ == 0) {
                held_from = i;
            }
            continue;
        }
        const bool model_turn = role_is(m[i].role, "assistant");
        rc = core_buf_appendf(out, "<start_of_turn>%s\n", model_turn ? "model" : "user");
        for (size_t k = held_from; !model_turn && held > 0 && k < i && rc == 0; k++) {
            if (is_system(m[k].role)) {
                rc = core_buf_appendf(out, "%.*s\n\n", (int)m[k].content.len, m[k].content.ptr);
            }
        }
        held = model_turn ? held : 0;
        if (rc == 0) {
            rc = core_buf_appendf(out, "%.*s<end_of_turn>\n", (int)m[i].content.len,
                                  m[i].content.ptr);
        }
    }
    if (rc == 0 && held > 0) {
        /* System text with no user turn after it: a user turn of its own. */
        rc = core_buf_appendf(out, "<start_of_turn>user\n");
        for (size_t k = held_from; k < n && rc == 0; k++) {
            if (is_system(m[k].role)) {
                rc = core_buf_appendf(out, "%.*s%s", (int)m[k].content.len, m[k].content.ptr,
                                      k + 1 < n ? "\n\n" : "");
            }
        }
        rc = rc == 0 ? core_buf_appendf(out, "<end_of_turn>\n") : rc;
    }
    return rc == 0 ? core_buf_appendf(out, "<start_of_turn>model\n") : rc;
}

int gen_model_chat_apply_messages(const gen_model *model, const gen_chat_message *messages,
                                  size_t n, core_buf *out, core_err *err)
{
    if (n == 0) {
        return core_err_set(err, CORE_EINVAL, "chat: no messages");
    }
    core_str tmpl = gen_model_chat_template(model);
    int rc = 0;
    if (contains(tmpl, "<|im_start|>") || (tmpl.len == 0 && model->arch == GEN_ARCH_QWEN2)) {
        rc = chatml(model, messages, n, out);
    } else if (contains(tmpl, "<start_of_turn>") || model->arch == GEN_ARCH_GEMMA3) {
        rc = gemma(messages, n, out);
    } else {
        return core_err_set(
            err, CORE_EUNSUPPORTED,
            "chat: the model's chat template is not one kiln knows (ChatML, Gemma)");
    }
    if (rc < 0) {
        return core_err_set(err, CORE_ENOMEM, "chat: out of memory");
    }
    return 0;
}

int gen_model_chat_apply(const gen_model *model, core_str system, core_str user, core_buf *out,
                         core_err *err)
{
    const gen_chat_message m[2] = {{core_str_c("system"), system}, {core_str_c("user"), user}};
    return system.len > 0 ? gen_model_chat_apply_messages(model, m, 2, out, err)
                          : gen_model_chat_apply_messages(model, m + 1, 1, out, err);
}
