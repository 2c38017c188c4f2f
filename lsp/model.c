/*
 * Switching the model and the compute threads through workspace/didChangeConfiguration. The
 * server's main thread handles one message at a time, so a switch happens between requests:
 * the request that was running has been answered, and those queued after the notification run
 * on the new model. The new model and its completer are made before anything is torn down, so a
 * path that does not load (or a model kiln cannot run) leaves the old model serving and is
 * reported with window/showMessage. Every document's session and the pipeline's engine hold
 * contexts of the old model: they are freed, and made again on first use. The server's own
 * queue runs over the model with the compute threads: a switch of either makes a new one. A
 * queue the server borrows (kiln serve's) fixes both: such a switch is refused.
 */
#include "lsp/lsp_int.h"

#include <stdio.h>
#include <string.h>

void lsp__sessions_drop(lsp_server *s)
{
    lsp__implement_stop(s); /* it runs on the engine */
    for (size_t i = 0; i < s->n_docs; i++) {
        solve_session_free(s->docs[i].session);
        s->docs[i].session = NULL;
    }
    solve_engine_free(s->engine);
    s->engine = NULL;
}

int lsp__queue_new(gen_queue **out, const lsp_server *s, const gen_model *model, core_err *err)
{
    *out = NULL;
    if (s->opts.backend || s->opts.queue) {
        return 0;
    }
    gen_queue_options qo = gen_queue_options_default();
    qo.n_parallel = LSP_QUEUE_PARALLEL;
    qo.n_ctx = LSP_QUEUE_CTX;
    const size_t n_train = gen_model_n_ctx_train(model);
    if (n_train > 0 && qo.n_ctx > n_train) {
        qo.n_ctx = n_train;
    }
    qo.n_threads = s->opts.session.n_threads ? s->opts.session.n_threads : 1;
    /* Prompts in steps of 64 tokens, as a session's passes: a cancel or a newer keystroke ends
       a request within one of them. */
    qo.n_chunk = 64;
    qo.log = s->opts.log;
    return gen_queue_new(out, model, &qo, err);
}

void lsp__model_switch(lsp_server *s, const char *path)
{
    if (s->model_path && strcmp(s->model_path, path) == 0) {
        return; /* the model already serving */
    }
    char msg[CORE_ERR_MSG_MAX + 1200];
    if (s->opts.queue) {
        snprintf(msg, sizeof(msg),
                 "kiln: model %.1000s not loaded: this server shares the model of kiln serve",
                 path);
        lsp__show_message(s, 1, msg);
        return;
    }
    gen_model *model = NULL;
    gen_queue *queue = NULL;
    solve_completer *completer = NULL;
    char *owned_path = core_strndup(path, strlen(path));
    core_err err = {0};
    gen_model_options mo = s->opts.load;
    mo.log = &s->opts.log;
    mo.vocab_only = s->opts.backend != NULL; /* a remote backend writes: the tokenizer only */
    int rc = owned_path ? 0 : core_err_set(&err, CORE_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = gen_model_load(&model, path, &mo, &err);
    }
    if (rc == 0) {
        rc = solve_completer_new(&completer, model, &err);
    }
    if (rc == 0) {
        solve_completer_set_backend(completer, s->opts.backend);
        rc = lsp__queue_new(&queue, s, model, &err);
        solve_completer_set_queue(completer, queue);
    }
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "kiln: model %.1000s not loaded (%s); %s keeps serving", path,
                 err.msg, s->opts.model ? gen_model_desc(s->opts.model) : "no model");
        lsp__show_message(s, 1, msg);
        core_log_write(&s->opts.log, CORE_LOG_LEVEL_WARN, "lsp: %s", msg);
        gen_queue_free(queue);
        solve_completer_free(completer);
        gen_model_free(model);
        core_free(owned_path);
        return;
    }
    lsp__sessions_drop(s);
    gen_queue_free(s->queue_owned);
    solve_completer_free(s->completer);
    gen_model_free(s->model_owned);
    core_free(s->model_path);
    s->queue_owned = queue;
    s->queue = queue;
    s->completer = completer;
    s->model_owned = model;
    s->model_path = owned_path;
    s->opts.model = model;
    lsp__warm_up(s);
    snprintf(msg, sizeof(msg), "kiln: now serving %s (%.1000s)", gen_model_desc(model), path);
    lsp__show_message(s, 3, msg);
    core_log_write(&s->opts.log, CORE_LOG_LEVEL_INFO, "lsp: %s", msg);
}

void lsp__threads_set(lsp_server *s, size_t n_threads)
{
    if (n_threads == s->opts.session.n_threads) {
        return;
    }
    if (s->opts.queue) {
        lsp__show_message(s, 2,
                          "kiln: threads not changed: this server shares the model of "
                          "kiln serve");
        return;
    }
    gen_queue *queue = NULL;
    core_err err = {0};
    const size_t old = s->opts.session.n_threads;
    s->opts.session.n_threads = n_threads;
    if (s->queue_owned && lsp__queue_new(&queue, s, s->opts.model, &err) < 0) {
        char msg[CORE_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "kiln: threads not changed: %s", err.msg);
        lsp__show_message(s, 1, msg);
        s->opts.session.n_threads = old;
        return;
    }
    lsp__sessions_drop(s); /* their contexts were made with the old count */
    if (s->queue_owned) {
        gen_queue_free(s->queue_owned);
        s->queue_owned = queue;
        s->queue = queue;
        solve_completer_set_queue(s->completer, queue);
    }
}

void lsp__warm_up(lsp_server *s)
{
    if (!s->opts.model || s->opts.backend) {
        return; /* nothing to warm: a remote backend writes */
    }
    /* One token through the whole model in a small context: the weights' pages are mapped and
       the compute threads started before the first completion needs them. */
    gen_ctx_options co = gen_ctx_options_default();
    co.n_ctx = 16;
    co.n_threads = s->opts.session.n_threads ? s->opts.session.n_threads : 1;
    gen_ctx *ctx = NULL;
    core_err err = {0};
    uint64_t t0 = core_time_ns();
    int32_t tok = gen_model_token_bos(s->opts.model);
    tok = tok >= 0 ? tok : 0;
    gen_batch b = {&tok, NULL, NULL, 1};
    int rc = gen_ctx_new(&ctx, s->opts.model, &co, &err);
    if (rc == 0) {
        rc = gen_ctx_decode(ctx, &b, &err);
    }
    gen_ctx_free(ctx);
    core_log_write(&s->opts.log, rc == 0 ? CORE_LOG_LEVEL_INFO : CORE_LOG_LEVEL_WARN,
                   "lsp: warm-up %s in %.1f ms", rc == 0 ? "done" : err.msg,
                   (double)(core_time_ns() - t0) / 1e6);
}
