/*
 * The pool of worker slots. Each slot owns a pair of leaf cgroups (tests, candidate), a
 * network namespace with only loopback, and two host uids; runs on different slots share
 * nothing. With prefork, a background thread keeps one Python box pair started per free slot:
 * right after a run it kills the old pair (cgroup.kill), waits for its cgroups to empty and
 * starts a new pair that then waits for its job, so a run only pays for the proxy calls and the
 * tests, not for two interpreter starts. Every run still gets fresh processes, namespaces and
 * tmpfs roots; a pair is never reused. With the zygote option each slot also keeps two
 * interpreters that loaded the harness once and fork the pair's boxes (zygote.c), so a pair
 * costs a clone, a fork and the namespace setup per box instead of two interpreter starts.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct sbx__slot {
    size_t index;
    sbx_pool *pool;     /* back pointer for the slot's prefork thread */
    pthread_t refiller; /* the slot's prefork thread */
    bool has_refiller;
    sbx__cg cg_tests;
    sbx__cg cg_cand;
    int netns_fd;
    sbx__env env;
    sbx__zyg zyg_t; /* the zygotes of the tests and candidate sides (opts.zygote) */
    sbx__zyg zyg_c;
    sbx__crt crt;      /* the C stub runtime, compiled by the slot's first C build */
    sbx__pybox box;    /* the preforked pair; box.started says whether it is ready */
    bool busy;         /* guarded by the pool's mu: a run or the refiller holds the slot */
    bool needs_refill; /* guarded by mu: prefork should start a new pair */
};

struct sbx_pool {
    sbx_pool_options opts; /* python_path and cc_path point at the owned copies below */
    char *python_path;     /* owned */
    char *cc_path;         /* owned */
    core_buf pyc_tests;    /* the harness compiled by the pool's interpreter, or empty */
    core_buf pyc_cand;
    sbx__filter filter;
    sbx__cg_host cg_host;
    sbx__slot *slots; /* (n_slots), owned */
    size_t n_slots;
    pthread_mutex_t mu;       /* guards busy, needs_refill and stop */
    pthread_cond_t cv_free;   /* signalled when a slot becomes free */
    pthread_cond_t cv_refill; /* broadcast when a slot needs a new pair, or on stop */
    bool stop;
    bool mu_ready;
};

sbx_pool_options sbx_pool_options_default(void)
{
    sbx_pool_options o;
    memset(&o, 0, sizeof o);
    o.n_slots = 0;
    o.prefork = true;
    o.zygote = true;
    o.python_path = "/usr/bin/python3";
    o.cc_path = "/usr/bin/gcc";
    o.uid_base = 3200000;
    o.output_cap = 64 * 1024;
    return o;
}

size_t sbx_pool_n_slots(const sbx_pool *pool)
{
    return pool->n_slots;
}

/* A slot's prefork thread: after each run it reaps the killed pair and starts the next one,
 * in parallel with the other slots' threads. */
static void *refill_main(void *arg)
{
    sbx__slot *slot = arg;
    sbx_pool *pool = slot->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->stop) {
            break;
        }
        if (!slot->needs_refill || slot->busy) {
            pthread_cond_wait(&pool->cv_refill, &pool->mu);
            continue;
        }
        slot->busy = true;
        pthread_mutex_unlock(&pool->mu);
        sbx__pybox_stop(&slot->box, &slot->env);
        core_err err = {0};
        sbx_limits lim = sbx_limits_default();
        if (sbx__pybox_start(&slot->box, &slot->env, &lim, &err) < 0) {
            core_log_write(&pool->opts.log, CORE_LOG_LEVEL_WARN, "sandbox slot %zu: prefork: %s",
                           slot->index, err.msg);
        }
        pthread_mutex_lock(&pool->mu);
        slot->busy = false;
        slot->needs_refill = false;
        pthread_cond_broadcast(&pool->cv_free);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

static int slot_init(sbx_pool *pool, sbx__slot *slot, size_t index, core_err *err)
{
    char name[32];
    slot->index = index;
    slot->pool = pool;
    slot->netns_fd = -1;
    sbx__pybox_init(&slot->box);
    sbx__zyg_init(&slot->zyg_t);
    sbx__zyg_init(&slot->zyg_c);
    snprintf(name, sizeof name, "s%zu-t", index);
    int rc = sbx__cg_init(&slot->cg_tests, &pool->cg_host, name, err);
    if (rc < 0) {
        return rc;
    }
    snprintf(name, sizeof name, "s%zu-c", index);
    rc = sbx__cg_init(&slot->cg_cand, &pool->cg_host, name, err);
    if (rc < 0) {
        return rc;
    }
    rc = sbx__netns_new(&slot->netns_fd, err);
    if (rc < 0) {
        return rc;
    }
    slot->env = (sbx__env){
        .opts = &pool->opts,
        .filter = &pool->filter,
        .netns_fd = slot->netns_fd,
        .cg_tests = &slot->cg_tests,
        .cg_cand = &slot->cg_cand,
        .uid_tests = pool->opts.uid_base + 2u * (uint32_t)index,
        .uid_cand = pool->opts.uid_base + 2u * (uint32_t)index + 1u,
        .zyg_t = pool->opts.zygote ? &slot->zyg_t : NULL,
        .zyg_c = pool->opts.zygote ? &slot->zyg_c : NULL,
        .crt = &slot->crt,
    };
    return 0;
}

static void slot_dispose(sbx__slot *slot)
{
    if (slot->env.opts != NULL) {
        sbx__pybox_stop(&slot->box, &slot->env);
    }
    sbx__zyg_stop(&slot->zyg_t);
    sbx__zyg_stop(&slot->zyg_c);
    sbx__cg_dispose(&slot->cg_tests);
    sbx__cg_dispose(&slot->cg_cand);
    core_buf_dispose(&slot->crt.objs);
    slot->crt.n_t = 0;
    if (slot->netns_fd >= 0) {
        close(slot->netns_fd);
        slot->netns_fd = -1;
    }
}

int sbx_pool_new(sbx_pool **out, const sbx_pool_options *opts, core_err *err)
{
    int rc = 0;
    *out = NULL;
    if (opts->python_path == NULL || opts->cc_path == NULL || opts->python_path[0] != '/' ||
        opts->cc_path[0] != '/') {
        return core_err_set(err, CORE_EINVAL,
                            "sandbox pool: interpreter and compiler paths "
                            "must be absolute");
    }
    if (opts->uid_base == 0 || opts->uid_base <= (uint32_t)geteuid()) {
        return core_err_set(err, CORE_EINVAL,
                            "sandbox pool: uid_base %u must be above root and the service's uid",
                            opts->uid_base);
    }
    if (geteuid() != 0) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "sandbox pool: needs root (CAP_SYS_ADMIN) to create namespaces, "
                            "cgroups and uid maps; running as uid %u",
                            (unsigned)geteuid());
    }
    sbx_pool *pool = core_calloc(1, sizeof *pool);
    if (pool == NULL) {
        return core_err_set(err, CORE_ENOMEM, "sandbox pool: out of memory");
    }
    pool->opts = *opts;
    pool->python_path = core_strndup(opts->python_path, strlen(opts->python_path));
    pool->cc_path = core_strndup(opts->cc_path, strlen(opts->cc_path));
    if (pool->python_path == NULL || pool->cc_path == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox pool: out of memory");
        goto done;
    }
    pool->opts.python_path = pool->python_path;
    pool->opts.cc_path = pool->cc_path;
    if (pool->opts.output_cap == 0) {
        pool->opts.output_cap = 64 * 1024;
    }
    if (pool->opts.n_slots == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        pool->opts.n_slots = n > 0 ? (size_t)n : 1;
    }
    rc = sbx__filter_init(&pool->filter, err);
    if (rc < 0) {
        goto done;
    }
    char tag[64];
    snprintf(tag, sizeof tag, "kiln-sbx-%d-%lx", (int)getpid(), (unsigned long)(uintptr_t)pool);
    rc = sbx__cg_host_init(&pool->cg_host, tag, err);
    if (rc < 0) {
        goto done;
    }
    pool->slots = core_calloc(pool->opts.n_slots, sizeof *pool->slots);
    if (pool->slots == NULL) {
        rc = core_err_set(err, CORE_ENOMEM, "sandbox pool: out of memory");
        goto done;
    }
    for (size_t i = 0; i < pool->opts.n_slots; i++) {
        pool->slots[i].netns_fd = -1;
        sbx__pybox_init(&pool->slots[i].box);
        sbx__zyg_init(&pool->slots[i].zyg_t);
        sbx__zyg_init(&pool->slots[i].zyg_c);
    }
    pool->n_slots = pool->opts.n_slots;
    for (size_t i = 0; i < pool->n_slots; i++) {
        rc = slot_init(pool, &pool->slots[i], i, err);
        if (rc < 0) {
            goto done;
        }
    }
    if (pthread_mutex_init(&pool->mu, NULL) != 0 || pthread_cond_init(&pool->cv_free, NULL) != 0 ||
        pthread_cond_init(&pool->cv_refill, NULL) != 0) {
        rc = core_err_set(err, CORE_ERROR, "sandbox pool: pthread init failed");
        goto done;
    }
    pool->mu_ready = true;
    /* Probe the host with one real box (it also precompiles the harness), so that a missing
     * kernel feature is reported here. */
    sbx_limits lim = sbx_limits_default();
    sbx__slot *s0 = &pool->slots[0];
    core_err probe = {0};
    rc = sbx__py_precompile(&s0->env, &pool->pyc_tests, &pool->pyc_cand, &probe);
    if (rc == 0) {
        for (size_t i = 0; i < pool->n_slots; i++) {
            pool->slots[i].env.pyc_tests = &pool->pyc_tests;
            pool->slots[i].env.pyc_cand = &pool->pyc_cand;
        }
    } else if (rc == CORE_EUNSUPPORTED || rc == CORE_ENOMEM) {
        core_err_set(err, rc, "%s", probe.msg);
        goto done;
    } else {
        core_log_write(&pool->opts.log, CORE_LOG_LEVEL_WARN,
                       "sandbox pool: running the harness from source: %s", probe.msg);
    }
    rc = sbx__pybox_start(&s0->box, &s0->env, &lim, &probe);
    if (rc == CORE_ENOTFOUND) {
        core_log_write(&pool->opts.log, CORE_LOG_LEVEL_WARN, "sandbox pool: %s", probe.msg);
        rc = 0;
    } else if (rc < 0) {
        core_err_set(err, rc, "%s", probe.msg);
        goto done;
    }
    if (!pool->opts.prefork) {
        sbx__pybox_stop(&s0->box, &s0->env);
    } else {
        for (size_t i = 1; i < pool->n_slots; i++) {
            pool->slots[i].needs_refill = true;
        }
        for (size_t i = 0; i < pool->n_slots; i++) {
            sbx__slot *s = &pool->slots[i];
            if (pthread_create(&s->refiller, NULL, refill_main, s) != 0) {
                rc = core_err_set(err, CORE_ERROR, "sandbox pool: pthread_create failed");
                goto done;
            }
            s->has_refiller = true;
        }
    }
done:
    if (rc < 0) {
        sbx_pool_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void sbx_pool_free(sbx_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    if (pool->mu_ready) {
        pthread_mutex_lock(&pool->mu);
        pool->stop = true;
        pthread_cond_broadcast(&pool->cv_refill);
        pthread_mutex_unlock(&pool->mu);
    }
    for (size_t i = 0; pool->slots != NULL && i < pool->n_slots; i++) {
        if (pool->slots[i].has_refiller) {
            pthread_join(pool->slots[i].refiller, NULL);
        }
    }
    for (size_t i = 0; pool->slots != NULL && i < pool->n_slots; i++) {
        slot_dispose(&pool->slots[i]);
    }
    core_free(pool->slots);
    sbx__cg_host_dispose(&pool->cg_host);
    sbx__filter_dispose(&pool->filter);
    if (pool->mu_ready) {
        pthread_mutex_destroy(&pool->mu);
        pthread_cond_destroy(&pool->cv_free);
        pthread_cond_destroy(&pool->cv_refill);
    }
    core_free(pool->python_path);
    core_free(pool->cc_path);
    core_buf_dispose(&pool->pyc_tests);
    core_buf_dispose(&pool->pyc_cand);
    core_free(pool);
}

static bool is_identifier(core_str s)
{
    if (s.len == 0 || s.len > 128) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Takes a free slot, preferring one with a started pair; waits while all are busy. */
static sbx__slot *slot_take(sbx_pool *pool, bool want_box)
{
    pthread_mutex_lock(&pool->mu);
    sbx__slot *slot = NULL;
    for (;;) {
        sbx__slot *any = NULL;
        for (size_t i = 0; i < pool->n_slots; i++) {
            sbx__slot *s = &pool->slots[i];
            if (s->busy || s->needs_refill) {
                continue;
            }
            if (!want_box || s->box.started) {
                slot = s;
                break;
            }
            if (any == NULL) {
                any = s;
            }
        }
        if (slot == NULL && any != NULL && !pool->opts.prefork) {
            slot = any;
        }
        if (slot == NULL && any != NULL && pool->opts.prefork) {
            /* only slots whose prefork failed are free: run cold on one */
            slot = any;
        }
        if (slot != NULL) {
            break;
        }
        pthread_cond_wait(&pool->cv_free, &pool->mu);
    }
    slot->busy = true;
    pthread_mutex_unlock(&pool->mu);
    return slot;
}

static void slot_give(sbx_pool *pool, sbx__slot *slot)
{
    pthread_mutex_lock(&pool->mu);
    slot->busy = false;
    if (pool->opts.prefork) {
        slot->needs_refill = true;
        pthread_cond_broadcast(&pool->cv_refill);
    } else {
        pthread_cond_broadcast(&pool->cv_free);
    }
    pthread_mutex_unlock(&pool->mu);
}

int sbx_pool_run(sbx_pool *pool, const sbx_job *job, sbx_result *result, core_err *err)
{
    memset(result, 0, sizeof *result);
    if (job->lang != SBX_LANG_PYTHON && job->lang != SBX_LANG_C) {
        return core_err_set(err, CORE_EINVAL, "sandbox job: unknown language %d", (int)job->lang);
    }
    if (!is_identifier(job->entry)) {
        return core_err_set(err, CORE_EINVAL, "sandbox job: entry '%.*s' is not an identifier",
                            (int)(job->entry.len < 64 ? job->entry.len : 64),
                            job->entry.ptr != NULL ? job->entry.ptr : "");
    }
    if (job->tests.len == 0 || job->tests.ptr == NULL) {
        return core_err_set(err, CORE_EINVAL, "sandbox job: no tests");
    }
    if (job->candidate.ptr == NULL && job->candidate.len > 0) {
        return core_err_set(err, CORE_EINVAL, "sandbox job: candidate is NULL");
    }
    sbx_job copy = *job;
    if (copy.candidate.ptr == NULL) {
        copy.candidate = core_str_c("");
    }
    sbx__slot *slot = slot_take(pool, job->lang == SBX_LANG_PYTHON);
    int rc = 0;
    if (job->lang == SBX_LANG_PYTHON) {
        rc = sbx__pybox_run(&slot->box, &slot->env, &copy, result, err);
    } else {
        if (slot->box.started || slot->box.dying) {
            /* the C steps use the candidate cgroup: the pair goes, prefork starts a new one */
            sbx__pybox_stop(&slot->box, &slot->env);
        }
        rc = sbx__crun(&slot->env, &copy, result, err);
    }
    slot_give(pool, slot);
    return rc;
}
