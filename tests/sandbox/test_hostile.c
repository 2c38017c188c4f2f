/*
 * The hostile suite: every case in the .cases files of tests/fixtures/sandbox (fork and thread
 * bombs, CPU spin, sleeps, memory hogs, output floods, disk and inode fills, daemons, kills,
 * ptrace, secret reads, writes outside the box, symlink and /proc escapes, network, TIOCSTI, raw
 * syscalls, state left for the next run, fake-pass tricks, forged completion records on every
 * descriptor, C attacks run from inside the entry function, and C tasks for each type the
 * stub marshals) must end with its expected verdict, and with its named reason where the case
 * gives one (`reason:`), and the host must be unchanged afterwards: no process of the sandbox
 * uids left, no file written outside the box, no connection to the host's loopback. The Python
 * cases run with and without prefork, with boxes forked from the slots' zygotes and with an
 * interpreter exec'd per box, every case runs twice in a row, and a concurrent pass runs the
 * whole set from two threads at once; the C cases run half from each of two threads.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/sandbox/tests.h"

typedef struct hcase {
    char name[64];
    sbx_lang lang;
    char entry[64];
    char expect[128];
    char reason[128]; /* text the message must contain, or "" */
    sbx_limits limits;
    core_buf cand;
    core_buf tests;
} hcase;

typedef struct hsuite {
    hcase *cases;
    size_t n_cases;
    char secret[40];
    char secret_path[512];
    int listen_fd;
    int port;
} hsuite;

static void set_limit(sbx_limits *l, const char *key, unsigned v)
{
    if (strcmp(key, "cpu_ms") == 0) {
        l->cpu_ms = v;
    } else if (strcmp(key, "wall_ms") == 0) {
        l->wall_ms = v;
    } else if (strcmp(key, "mem_mb") == 0) {
        l->mem_mb = v;
    } else if (strcmp(key, "procs") == 0) {
        l->n_procs = v;
    } else if (strcmp(key, "output_kb") == 0) {
        l->output_kb = v;
    } else if (strcmp(key, "file_mb") == 0) {
        l->file_mb = v;
    } else if (strcmp(key, "files") == 0) {
        l->n_files = v;
    } else if (strcmp(key, "disk_mb") == 0) {
        l->disk_mb = v;
    } else {
        ck_abort_msg("unknown limit %s", key);
    }
}

/* Appends line to buf with @SECRET@, @SECRET_PATH@ and @PORT@ replaced. */
static void append_subst(core_buf *buf, const char *line, const hsuite *hs)
{
    char port[16];
    snprintf(port, sizeof port, "%d", hs->port);
    const char *p = line;
    while (*p != '\0') {
        if (strncmp(p, "@SECRET_PATH@", 13) == 0) {
            core_buf_append(buf, hs->secret_path, strlen(hs->secret_path));
            p += 13;
        } else if (strncmp(p, "@SECRET@", 8) == 0) {
            core_buf_append(buf, hs->secret, strlen(hs->secret));
            p += 8;
        } else if (strncmp(p, "@PORT@", 6) == 0) {
            core_buf_append(buf, port, strlen(port));
            p += 6;
        } else {
            core_buf_append(buf, p, 1);
            p++;
        }
    }
}

static void load_file(hsuite *hs, const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    hcase *c = NULL;
    core_buf *into = NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "=== ", 4) == 0) {
            hs->cases = realloc(hs->cases, (hs->n_cases + 1) * sizeof *hs->cases);
            ck_assert_ptr_nonnull(hs->cases);
            c = &hs->cases[hs->n_cases++];
            memset(c, 0, sizeof *c);
            sscanf(line + 4, "%63s", c->name);
            c->limits = sbx_limits_default();
            into = NULL;
            continue;
        }
        if (c == NULL && (line[0] == '#' || line[0] == '\n')) {
            continue; /* the file's header comment */
        }
        ck_assert_ptr_nonnull(c);
        if (strcmp(line, "--- candidate\n") == 0) {
            into = &c->cand;
        } else if (strcmp(line, "--- tests\n") == 0) {
            into = &c->tests;
        } else if (into != NULL) {
            append_subst(into, line, hs);
        } else if (strncmp(line, "lang: ", 6) == 0) {
            c->lang = strncmp(line + 6, "c", 1) == 0 ? SBX_LANG_C : SBX_LANG_PYTHON;
        } else if (strncmp(line, "entry: ", 7) == 0) {
            sscanf(line + 7, "%63s", c->entry);
        } else if (strncmp(line, "expect: ", 8) == 0) {
            sscanf(line + 8, "%127s", c->expect);
        } else if (strncmp(line, "reason: ", 8) == 0) {
            snprintf(c->reason, sizeof c->reason, "%.*s", (int)strcspn(line + 8, "\n"), line + 8);
        } else if (strncmp(line, "limits: ", 8) == 0) {
            char *save = NULL;
            for (char *tok = strtok_r(line + 8, " \n", &save); tok != NULL;
                 tok = strtok_r(NULL, " \n", &save)) {
                char *eq = strchr(tok, '=');
                ck_assert_ptr_nonnull(eq);
                *eq = '\0';
                char *end = NULL;
                unsigned long v = strtoul(eq + 1, &end, 10);
                ck_assert_ptr_ne(end, eq + 1);
                set_limit(&c->limits, tok, (unsigned)v);
            }
        }
    }
    fclose(f);
}

static void suite_load(hsuite *hs)
{
    memset(hs, 0, sizeof *hs);
    unsigned char raw[16];
    ck_assert_int_eq(getrandom(raw, sizeof raw, 0), (int)sizeof raw);
    for (size_t i = 0; i < sizeof raw; i++) {
        snprintf(hs->secret + 2 * i, 3, "%02x", raw[i]);
    }
    snprintf(hs->secret_path, sizeof hs->secret_path, "%s/sbx-secret-%d.txt", KILN_TEST_TMP,
             (int)getpid());
    FILE *f = fopen(hs->secret_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", hs->secret);
    fclose(f);
    setenv("KILN_SBX_SECRET", hs->secret, 1);
    hs->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(hs->listen_fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(hs->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(hs->listen_fd, 8), 0);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(getsockname(hs->listen_fd, (struct sockaddr *)&a, &alen), 0);
    hs->port = ntohs(a.sin_port);
    load_file(hs, KILN_FIXTURES "/sandbox/python.cases");
    load_file(hs, KILN_FIXTURES "/sandbox/c.cases");
    load_file(hs, KILN_FIXTURES "/sandbox/c_types.cases");
    ck_assert_int_ge((int)hs->n_cases, 40);
}

static void suite_free(hsuite *hs)
{
    for (size_t i = 0; i < hs->n_cases; i++) {
        core_buf_dispose(&hs->cases[i].cand);
        core_buf_dispose(&hs->cases[i].tests);
    }
    free(hs->cases);
    unlink(hs->secret_path);
    close(hs->listen_fd);
}

/* Returns NULL when the outcome matches the expectation, or a description of the mismatch. */
static const char *judge(const hcase *c, int rc, const sbx_result *r, const core_err *err,
                         char *why, size_t cap)
{
    char got[64];
    if (rc == CORE_EPARSE) {
        snprintf(got, sizeof got, "parse_error");
    } else if (rc == CORE_EUNSUPPORTED) {
        snprintf(got, sizeof got, "unsupported");
    } else if (rc < 0) {
        snprintf(got, sizeof got, "rc=%d", rc);
    } else if (r->verdict == SBX_VERDICT_LIMIT) {
        snprintf(got, sizeof got, "limit:%s", sbx_limit_name(r->limit));
    } else {
        snprintf(got, sizeof got, "%s", sbx_verdict_name(r->verdict));
    }
    char expect[128];
    snprintf(expect, sizeof expect, "%s", c->expect);
    char *save = NULL;
    for (char *alt = strtok_r(expect, "|", &save); alt != NULL; alt = strtok_r(NULL, "|", &save)) {
        if (strcmp(alt, got) != 0) {
            continue;
        }
        /* a named reason: in the error, the message or the first test's message */
        const char *text = rc < 0 ? err->msg : (r->message ? r->message : "");
        const char *test = r->n_tests > 0 ? r->tests[0].message : "";
        if (c->reason[0] == '\0' || strstr(text, c->reason) != NULL ||
            strstr(test, c->reason) != NULL) {
            return NULL;
        }
        snprintf(why, cap, "%s: %s, but the message lacks \"%s\": %s", c->name, got, c->reason,
                 text);
        return why;
    }
    snprintf(why, cap, "%s: expected %s, got %s (%s; tests: %s %s; stderr: %.300s)", c->name,
             c->expect, got, rc < 0 ? err->msg : (r->message ? r->message : ""),
             r->n_tests > 0 ? r->tests[0].name : "-", r->n_tests > 0 ? r->tests[0].message : "-",
             r->err.ptr ? r->err.ptr : "");
    return why;
}

/* Runs the cases of lang (or all when lang < 0) whose index is part (mod n_parts) on pool;
 * returns the number of mismatches and reports them in fails. */
static int run_part(sbx_pool *pool, const hsuite *hs, int lang, size_t part, size_t n_parts,
                    char *fails, size_t cap)
{
    int n_bad = 0;
    size_t used = strlen(fails);
    for (size_t i = part; i < hs->n_cases; i += n_parts) {
        const hcase *c = &hs->cases[i];
        if (lang >= 0 && (int)c->lang != lang) {
            continue;
        }
        sbx_job job = sbx_job_default();
        job.lang = c->lang;
        job.candidate = (core_str){c->cand.ptr, c->cand.len};
        job.tests = (core_str){c->tests.ptr, c->tests.len};
        job.entry = core_str_c(c->entry);
        job.limits = c->limits;
        sbx_result r;
        core_err err = {0};
        uint64_t t0 = core_time_ns();
        int rc = sbx_pool_run(pool, &job, &r, &err);
        uint64_t ms = (core_time_ns() - t0) / 1000000u;
        if (getenv("KILN_SBX_VERBOSE") != NULL) {
            fprintf(stderr, "%-40s %6llu ms rc=%d %s %s\n", c->name, (unsigned long long)ms, rc,
                    sbx_verdict_name(r.verdict), sbx_limit_name(r.limit));
        }
        char why[1024];
        const char *bad = judge(c, rc, &r, &err, why, sizeof why);
        /* compiling has limits of its own; the wall limit is the run's */
        uint64_t run_ms = ms > r.compile_ms ? ms - r.compile_ms : 0;
        if (bad == NULL && c->limits.wall_ms > 0 && run_ms > (uint64_t)c->limits.wall_ms + 2000u) {
            snprintf(why, sizeof why, "%s: ran %llu ms, wall limit %u ms", c->name,
                     (unsigned long long)run_ms, c->limits.wall_ms);
            bad = why;
        }
        if (bad != NULL) {
            n_bad++;
            used += (size_t)snprintf(fails + used, used < cap ? cap - used : 0, "%s\n", bad);
            if (used >= cap) {
                used = cap - 1;
            }
        }
        sbx_result_dispose(&r);
    }
    return n_bad;
}

static int run_cases(sbx_pool *pool, const hsuite *hs, int lang, char *fails, size_t cap)
{
    return run_part(pool, hs, lang, 0, 1, fails, cap);
}

static void check_host_unchanged(const hsuite *hs)
{
    static const char *const sentinels[] = {
        "/tmp/kiln-sbx-escape",
        "/work/kiln-sbx-escape",
        "/root/kiln-sbx-escape",
        "/usr/kiln-sbx-escape",
        "/etc/kiln-sbx-escape",
        "/kiln-sbx-escape",
        "/tmp/kiln-state",
        "/dev/shm/kiln-state",
        "/work/kiln-state",
        "/tmp/fill",
        "/tmp/big",
        "/tmp/root",
    };
    for (size_t i = 0; i < sizeof sentinels / sizeof sentinels[0]; i++) {
        ck_assert_msg(access(sentinels[i], F_OK) != 0, "%s exists on the host", sentinels[i]);
    }
    char host[64] = {0};
    gethostname(host, sizeof host - 1);
    ck_assert_str_ne(host, "kiln");
    /* nobody reached the host's loopback listener */
    struct pollfd p = {.fd = hs->listen_fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    /* the secret file is intact */
    FILE *f = fopen(hs->secret_path, "r");
    ck_assert_ptr_nonnull(f);
    char text[64] = {0};
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_int_eq(strncmp(text, hs->secret, strlen(hs->secret)), 0);
}

static void run_mode(int lang, size_t n_slots, bool prefork, bool zygote, int rounds)
{
    hsuite hs;
    suite_load(&hs);
    sbx_pool *pool = sbx_test_pool_zygote(n_slots, prefork, zygote);
    char fails[16384] = {0};
    int n_bad = 0;
    for (int round = 0; round < rounds; round++) {
        n_bad += run_cases(pool, &hs, lang, fails, sizeof fails);
    }
    sbx_pool_free(pool);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
    check_host_unchanged(&hs);
    suite_free(&hs);
    ck_assert_msg(n_bad == 0, "%d mismatches:\n%s", n_bad, fails);
}

START_TEST(hostile__python_prefork_twice)
{
    run_mode(SBX_LANG_PYTHON, 2, true, true, 2);
}
END_TEST

START_TEST(hostile__python_cold)
{
    run_mode(SBX_LANG_PYTHON, 2, false, true, 1);
}
END_TEST

/* The same cases and verdicts with an interpreter exec'd per box (no zygotes). */
START_TEST(hostile__python_prefork_exec)
{
    run_mode(SBX_LANG_PYTHON, 2, true, false, 1);
}
END_TEST

START_TEST(hostile__python_cold_exec)
{
    run_mode(SBX_LANG_PYTHON, 2, false, false, 1);
}
END_TEST

typedef struct worker {
    sbx_pool *pool;
    const hsuite *hs;
    int lang;
    size_t part;    /* this worker's share of the cases, 0 .. n_parts - 1 */
    size_t n_parts; /* 1: every worker runs every case */
    char fails[8192];
    int n_bad;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->n_bad = run_part(w->pool, w->hs, w->lang, w->part, w->n_parts, w->fails, sizeof w->fails);
    return NULL;
}

/* Runs the cases of lang from two threads at once on one pool: each runs them all (split:
 * false) or half of them (split: true). */
static void run_concurrent(int lang, bool prefork, bool split)
{
    hsuite hs;
    suite_load(&hs);
    sbx_pool *pool = sbx_test_pool(2, prefork);
    worker w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].pool = pool;
        w[i].hs = &hs;
        w[i].lang = lang;
        w[i].part = split ? (size_t)i : 0;
        w[i].n_parts = split ? 2 : 1;
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    sbx_pool_free(pool);
    ck_assert_int_eq(sbx_test_wait_no_box_procs(), 0);
    check_host_unchanged(&hs);
    suite_free(&hs);
    ck_assert_msg(w[0].n_bad + w[1].n_bad == 0, "mismatches:\n%s%s", w[0].fails, w[1].fails);
}

START_TEST(hostile__python_concurrent)
{
    run_concurrent(SBX_LANG_PYTHON, true, false);
}
END_TEST

/* The C cases, half from each of two threads (each run builds and runs three boxes). */
START_TEST(hostile__c)
{
    run_concurrent(SBX_LANG_C, false, true);
}
END_TEST

TCase *tcase_hostile(void)
{
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 240);
    tcase_set_tags(tc, "slow");
    tcase_add_test(tc, hostile__python_prefork_twice);
    tcase_add_test(tc, hostile__python_cold);
    tcase_add_test(tc, hostile__python_prefork_exec);
    tcase_add_test(tc, hostile__python_cold_exec);
    tcase_add_test(tc, hostile__python_concurrent);
    return tc;
}

TCase *tcase_hostile_c(void)
{
    TCase *tc = tcase_create("hostile_c");
    tcase_set_timeout(tc, 240);
    tcase_set_tags(tc, "slow");
    tcase_add_test(tc, hostile__c);
    return tc;
}
