/*
 * Chat prompts. kiln does not run Jinja; it recognizes the template families of the models it
 * ships with by their markers and writes the same text the template would: ChatML
 * (<|im_start|>role\n...<|im_end|>\n; SmolLM2, Qwen2.5) and Gemma's turns
 * (<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n). SmolLM2's template adds a
 * default system message when none is given; so does kiln.
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

int gen_model_chat_apply(const gen_model *model, core_str system, core_str user, core_buf *out,
                         core_err *err)
{
    core_str tmpl = gen_model_chat_template(model);
    int rc = 0;
    if (contains(tmpl, "<|im_start|>") || (tmpl.len == 0 && model->arch == GEN_ARCH_QWEN2)) {
        static const char smol_default[] =
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
        if (system.len == 0 && contains(tmpl, smol_default)) {
            system = core_str_c(smol_default);
        }
        if (system.len > 0) {
            rc = core_buf_appendf(out, "<|im_start|>system\n%.*s<|im_end|>\n", (int)system.len,
                                  system.ptr);
        }
        if (rc == 0) {
            rc = core_buf_appendf(out, "<|im_start|>user\n%.*s<|im_end|>\n<|im_start|>assistant\n",
                                  (int)user.len, user.ptr);
        }
    } else if (contains(tmpl, "<start_of_turn>") || model->arch == GEN_ARCH_GEMMA3) {
        /* Gemma folds a system message into the first user turn. */
        rc = core_buf_appendf(out,
                              "<start_of_turn>user\n%.*s%s%.*s<end_of_turn>\n"
                              "<start_of_turn>model\n",
                              (int)system.len, system.ptr, system.len ? "\n\n" : "", (int)user.len,
                              user.ptr);
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
