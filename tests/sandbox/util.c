/* Helpers shared by the sandbox tests: a test pool, a one-call run, and a scan of /proc for
 * processes left behind by boxes. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/sandbox/tests.h"

unsigned sbx_test_uid_base(void)
{
    return 3300000u + (unsigned)(getppid() % 4096) * 64u;
}

sbx_pool *sbx_test_pool(size_t n_slots, bool prefork)
{
    return sbx_test_pool_zygote(n_slots, prefork, true);
}

sbx_pool *sbx_test_pool_zygote(size_t n_slots, bool prefork, bool zygote)
{
    sbx_pool_options o = sbx_pool_options_default();
    o.n_slots = n_slots;
    o.prefork = prefork;
    o.zygote = zygote;
    o.uid_base = SBX_TEST_UID_BASE;
    sbx_pool *pool = NULL;
    core_err err = {0};
    int rc = sbx_pool_new(&pool, &o, &err);
    ck_assert_msg(rc == 0, "sbx_pool_new: %s", err.msg);
    return pool;
}

int sbx_test_run(sbx_pool *pool, sbx_lang lang, const char *cand, const char *tests,
                 const char *entry, sbx_result *res, core_err *err)
{
    sbx_job job = sbx_job_default();
    job.lang = lang;
    job.candidate = core_str_c(cand);
    job.tests = core_str_c(tests);
    job.entry = core_str_c(entry);
    return sbx_pool_run(pool, &job, res, err);
}

int sbx_test_count_box_procs(void)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "Uid:", 4) == 0) {
                unsigned long uid = strtoul(line + 4, NULL, 10);
                if (uid >= SBX_TEST_UID_BASE && uid < SBX_TEST_UID_BASE + 64) {
                    n++;
                }
                break;
            }
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

int sbx_test_wait_no_box_procs(void)
{
    int n = 0;
    for (int i = 0; i < 200; i++) {
        n = sbx_test_count_box_procs();
        if (n == 0) {
            return 0;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return n;
}

/* True when pid is a child of this process whose command line holds the zygote's script. */
static bool is_own_zygote(const char *pid)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char stat[512];
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[got] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'. */
    const char *rp = strrchr(stat, ')');
    if (rp == NULL || rp[1] != ' ' || rp[2] == '\0' || rp[3] != ' ') {
        return false;
    }
    const char state = rp[2];
    char *end = NULL;
    const long ppid = strtol(rp + 4, &end, 10);
    if (end == rp + 4 || ppid != (long)getpid() || state == 'Z') {
        return false;
    }
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\0') {
            buf[i] = ' ';
        }
    }
    buf[len] = '\0';
    return strstr(buf, "the per-slot zygote") != NULL;
}

int sbx_test_kill_zygotes(void)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && is_own_zygote(e->d_name)) {
            kill((pid_t)strtol(e->d_name, NULL, 10), SIGKILL);
            n++;
        }
    }
    closedir(d);
    return n;
}
