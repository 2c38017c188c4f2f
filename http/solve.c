/*
 * POST /v1/solve: kiln's pipeline (solve_run) on one task, on the server's solve worker, one
 * task at a time (a second one while it runs gets 429 with Retry-After). The worker creates the
 * solve engine on first use. With "stream": true the answer is SSE: one "stage" event per
 * progress report (plan, write, test, repair, rank, with the candidates done and passing), then
 * a "result" event with solve_result_to_json's object, then "data: [DONE]". A client that hangs
 * up sets the stream's cancel flag, which solve_run polls. The same worker runs /v1/patch
 * (http/patch.c), so one pipeline serves both, one request at a time.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>

int http__solve_start(http_stream *st, core_str body, int *status, const char **param,
                      core_err *err)
{
    http_server *srv = st->server;
    *status = 400;
    int rc = http_params_parse(&st->params, st->arena, HTTP_ENDPOINT_SOLVE, body, &srv->opts.limits,
                               err);
    *param = st->params.bad_param;
    if (rc < 0) {
        *status = rc == CORE_ENOMEM ? 500 : 400;
        return rc;
    }
    pthread_mutex_lock(&st->mu);
    st->streaming = st->params.stream;
    pthread_mutex_unlock(&st->mu);
    return http__worker_submit(st, status, err);
}

int http__worker_submit(http_stream *st, int *status, core_err *err)
{
    http_server *srv = st->server;
    pthread_mutex_lock(&srv->mu);
    if (!srv->solver_started || srv->solve_busy || srv->solve_next) {
        pthread_mutex_unlock(&srv->mu);
        *status = 429;
        return core_err_set(err, CORE_ELIMIT, "the pipeline is busy with another task");
    }
    pthread_mutex_lock(&st->mu);
    st->n_refs++;
    pthread_mutex_unlock(&st->mu);
    srv->solve_next = st;
    pthread_cond_broadcast(&srv->solve_cv);
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

int http__engine_open(http_server *srv, core_err *err)
{
    if (srv->engine) {
        return 0;
    }
    solve_engine_options eo = solve_engine_options_default();
    eo.n_threads = srv->opts.n_compute;
    eo.n_candidates_max = SOLVE_N_MAX < 16 ? SOLVE_N_MAX : 16;
    eo.backend = srv->opts.backend;
    if (srv->queue) {
        /* The candidates live in the queue's slots: the same room as a completion. */
        eo.n_ctx = gen_queue_options_get(srv->queue).n_ctx;
    }
    int rc = solve_engine_new(&srv->engine, srv->model, srv->sandbox, &eo, err);
    if (rc == 0 && srv->queue) {
        /* Candidates decode in the queue's batch, beside the completions. */
        solve_engine_set_queue(srv->engine, srv->queue);
    }
    return rc;
}

static bool canceled(void *payload)
{
    http_stream *st = payload;
    return atomic_load(&st->solve_cancel);
}

static void on_progress(void *payload, const solve_event *ev)
{
    http_stream *st = payload;
    pthread_mutex_lock(&st->mu);
    if (st->streaming) {
        char data[256];
        snprintf(data, sizeof(data),
                 "{\"stage\":\"%s\",\"round\":%zu,\"done\":%zu,\"total\":%zu,\"passed\":%zu}",
                 solve_stage_name(ev->stage), ev->round, ev->i_done, ev->n_total, ev->n_passed);
        (void)http_sse_event(&st->out, "stage", core_str_c(data), NULL);
        http__stream_wake(st);
    }
    pthread_mutex_unlock(&st->mu);
}

void http__worker_answer(http_stream *st, int status, const char *error, const core_buf *json)
{
    /* The worker takes the next task once the client can see this answer: a client that sends
     * its next request as soon as it reads the answer must not get 429. */
    http_server *srv = st->server;
    pthread_mutex_lock(&srv->mu);
    srv->solve_busy = false;
    pthread_mutex_unlock(&srv->mu);
    pthread_mutex_lock(&st->mu);
    if (st->streaming) {
        if (error != NULL) {
            core_buf e = {0};
            (void)http_error_json(&e, status, error, NULL, NULL);
            (void)http_sse_event(&st->out, "error", (core_str){e.ptr, e.len}, NULL);
            core_buf_dispose(&e);
        } else {
            (void)http_sse_event(&st->out, "result", (core_str){json->ptr, json->len}, NULL);
        }
        (void)http_sse_event(&st->out, NULL, core_str_c("[DONE]"), NULL);
    } else if (error != NULL) {
        (void)http_error_json(&st->out, status, error, NULL, NULL);
    } else {
        (void)core_buf_append(&st->out, json->ptr, json->len);
    }
    st->status = status;
    st->finished = true;
    http__stream_wake(st);
    pthread_mutex_unlock(&st->mu);
}

/* Runs one task and writes its answer into st. */
static void run_task(http_server *srv, http_stream *st)
{
    core_err err = {0};
    int rc = http__engine_open(srv, &err);
    const http_params *p = &st->params;
    solve_task task;
    memset(&task, 0, sizeof(task));
    task.lang = strcmp(p->language, "c") == 0 ? SOLVE_LANG_C : SOLVE_LANG_PYTHON;
    task.prompt = core_str_c(p->prompts[0].text);
    task.entry = core_str_c(p->entry);
    task.visible_tests = core_str_c(p->visible_tests);
    solve_options so = solve_options_default();
    if (p->n_choices > 0) {
        so.n_candidates = p->n_choices <= 16 ? p->n_choices : 16;
    }
    so.n_rounds = p->n_rounds;
    so.plan = p->plan && !srv->opts.backend; /* a plan needs the local model */
    so.repair = p->repair;
    so.grammar = p->use_grammar;
    if (p->has_seed) {
        so.seed = p->seed;
    }
    solve_result *res = NULL;
    if (rc == 0) {
        const solve_progress progress = {on_progress, st};
        const core_cancel cancel = {canceled, st};
        rc = solve_run(&res, srv->engine, &task, &so, &progress, &cancel, &err);
    }
    uint64_t runs[4] = {0};
    for (size_t i = 0; res && i < res->n_candidates; i++) {
        if (res->candidates[i].tested && res->candidates[i].verdict <= 3) {
            runs[res->candidates[i].verdict]++;
        }
    }
    pthread_mutex_lock(&srv->mu);
    for (size_t v = 0; v < 4; v++) {
        srv->sandbox_runs[v] += runs[v];
    }
    pthread_mutex_unlock(&srv->mu);
    core_buf json = {0};
    if (rc == 0) {
        rc = solve_result_to_json(&json, res, &err);
    }
    const int status = rc == CORE_EINVAL ? 400 : rc == CORE_ECANCELED ? 503 : rc < 0 ? 500 : 200;
    http__worker_answer(st, status, rc < 0 ? err.msg : NULL, &json);
    core_buf_dispose(&json);
    solve_result_free(res);
}

void *http__solver_main(void *arg)
{
    http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (srv->solver_started && !srv->solve_next) {
            pthread_cond_wait(&srv->solve_cv, &srv->mu);
        }
        if (!srv->solve_next) {
            break; /* stopping */
        }
        http_stream *st = srv->solve_next;
        srv->solve_next = NULL;
        srv->solve_busy = true;
        pthread_mutex_unlock(&srv->mu);
        if (st->route == HTTP_ROUTE_PATCH) {
            http__patch_run(srv, st);
        } else {
            run_task(srv, st);
        }
        http__stream_release(st);
        pthread_mutex_lock(&srv->mu);
        srv->solve_busy = false;
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}
