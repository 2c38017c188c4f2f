/*
 * kiln_sbx_bench: the sandbox's figures, measured side by side in one run. For a small Python
 * candidate with 10 asserts it prints the median wall time of the run done bare
 * (`python3 -I -S` on one file holding candidate and asserts), under bwrap (for reference,
 * when installed), and in the sandbox, once with an interpreter exec'd per box and once with
 * the slots' zygotes: cold (both boxes started per run) and with the pool's prefork
 * (sequential back-to-back runs, so the refill of the other slot overlaps), plus the ratios to
 * bare; then the pool's throughput with several submitting threads, for both; then
 * a C candidate: compile + link + run with gcc bare against the sandbox.
 * Usage: kiln_sbx_bench [N_RUNS] [SECONDS_FOR_THROUGHPUT]. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sbx.h"

extern char **environ;

static const char cand_py[] = "def add(a, b):\n    return a + b\n";
static const char tests_py[] = "assert add(1, 2) == 3\n"
                               "assert add(0, 0) == 0\n"
                               "assert add(-1, 1) == 0\n"
                               "assert add(10, 20) == 30\n"
                               "assert add(2, 2) == 4\n"
                               "assert add(100, -1) == 99\n"
                               "assert add('a', 'b') == 'ab'\n"
                               "assert add([1], [2]) == [1, 2]\n"
                               "assert add(1.5, 1.5) == 3.0\n"
                               "assert add(7, 8) == 15\n";
static const char cand_c[] = "int add(int a, int b) { return a + b; }\n";
static const char tests_c[] = "#include <assert.h>\n"
                              "int add(int a, int b);\n"
                              "int main(void)\n"
                              "{\n"
                              "    assert(add(1, 2) == 3);\n"
                              "    assert(add(-1, 1) == 0);\n"
                              "    return 0;\n"
                              "}\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* CPU time (user + system) of this process and its reaped children, in ms. */
static double cpu_ms(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    double us = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                         kids.ru_stime.tv_sec) *
                    1e6 +
                (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                         kids.ru_stime.tv_usec);
    return us / 1000.0;
}

static double now_ms(void)
{
    return (double)core_time_ns() / 1e6;
}

/* Runs argv to completion with stdout/stderr to /dev/null; returns its exit status. */
static int run_cmd(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        return -1;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(a, f);
    fputs(b, f);
    fclose(f);
}

static double time_cmd(char *const argv[], int n)
{
    double *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (run_cmd(argv) != 0) {
            fprintf(stderr, "bench: %s failed\n", argv[0]);
            free(t);
            return -1;
        }
        t[i] = now_ms() - t0;
    }
    double m = median(t, (size_t)n);
    free(t);
    return m;
}

static sbx_job job_py(void)
{
    sbx_job job = sbx_job_default();
    job.candidate = core_str_c(cand_py);
    job.tests = core_str_c(tests_py);
    job.entry = core_str_c("add");
    return job;
}

/* Median latency of n sequential runs on pool, and the back-to-back time per run. */
static int time_pool(sbx_pool *pool, const sbx_job *job, int n, double *med, double *per_run)
{
    double *t = calloc((size_t)n, sizeof *t);
    double start = now_ms();
    for (int i = 0; i < n; i++) {
        sbx_result r;
        core_err err = {0};
        double t0 = now_ms();
        int rc = sbx_pool_run(pool, job, &r, &err);
        t[i] = now_ms() - t0;
        if (rc < 0 || r.verdict != SBX_VERDICT_PASSED) {
            fprintf(stderr, "bench: sandboxed run: rc %d verdict %s %s %s\n", rc,
                    sbx_verdict_name(r.verdict), err.msg, r.message ? r.message : "");
            sbx_result_dispose(&r);
            free(t);
            return -1;
        }
        sbx_result_dispose(&r);
    }
    *per_run = (now_ms() - start) / n;
    *med = median(t, (size_t)n);
    free(t);
    return 0;
}

typedef struct tp_arg {
    sbx_pool *pool;
    double until;
    long n_done;
    long n_bad;
} tp_arg;

static void *tp_main(void *p)
{
    tp_arg *a = p;
    sbx_job job = job_py();
    while (now_ms() < a->until) {
        sbx_result r;
        core_err err = {0};
        int rc = sbx_pool_run(a->pool, &job, &r, &err);
        if (rc == 0 && r.verdict == SBX_VERDICT_PASSED) {
            a->n_done++;
        } else {
            a->n_bad++;
        }
        sbx_result_dispose(&r);
    }
    return NULL;
}

static sbx_pool *make_pool(size_t n_slots, bool prefork, bool zygote)
{
    sbx_pool_options o = sbx_pool_options_default();
    o.n_slots = n_slots;
    o.prefork = prefork;
    o.zygote = zygote;
    sbx_pool *pool = NULL;
    core_err err = {0};
    if (sbx_pool_new(&pool, &o, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(2);
    }
    return pool;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100;
    double secs = argc > 2 ? strtod(argv[2], NULL) : 5.0;
    if (n < 5 || secs <= 0) {
        fprintf(stderr, "usage: kiln_sbx_bench [N_RUNS >= 5] [SECONDS > 0]\n");
        return 2;
    }
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    char dir[] = "/tmp/kiln-sbx-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    char py_file[128], c_cand[128], c_tests[128], c_exe[128];
    snprintf(py_file, sizeof py_file, "%s/run.py", dir);
    snprintf(c_cand, sizeof c_cand, "%s/cand.c", dir);
    snprintf(c_tests, sizeof c_tests, "%s/tests.c", dir);
    snprintf(c_exe, sizeof c_exe, "%s/t", dir);
    write_file(py_file, cand_py, tests_py);
    write_file(c_cand, cand_c, "");
    write_file(c_tests, tests_c, "");

    printf("kiln sandbox benchmark: %d runs per row, %ld CPUs\n\n", n, n_cpu);
    printf("Python, small candidate + 10 asserts          median ms   x bare\n");
    char *bare[] = {"/usr/bin/python3", "-I", "-S", py_file, NULL};
    double c0 = cpu_ms();
    double t_bare = time_cmd(bare, n);
    double cpu_bare = (cpu_ms() - c0) / n;
    printf("  bare python3 -I -S                         %8.2f    1.00\n", t_bare);
    if (access("/usr/bin/bwrap", X_OK) == 0) {
        char *bw[] = {"/usr/bin/bwrap",
                      "--unshare-all",
                      "--die-with-parent",
                      "--ro-bind",
                      "/usr",
                      "/usr",
                      "--symlink",
                      "usr/lib",
                      "/lib",
                      "--symlink",
                      "usr/lib64",
                      "/lib64",
                      "--symlink",
                      "usr/bin",
                      "/bin",
                      "--proc",
                      "/proc",
                      "--dev",
                      "/dev",
                      "--tmpfs",
                      "/tmp",
                      "--ro-bind",
                      py_file,
                      "/run.py",
                      "/usr/bin/python3",
                      "-I",
                      "-S",
                      "/run.py",
                      NULL};
        double t_bw = time_cmd(bw, n);
        printf("  bwrap --unshare-all (reference)            %8.2f    %.2f\n", t_bw, t_bw / t_bare);
    } else {
        printf("  bwrap                                      not installed\n");
    }
    sbx_job job = job_py();
    for (int z = 0; z < 2; z++) {
        const char *how = z ? "zygote" : "exec  ";
        double med = 0, per = 0;
        sbx_pool *cold = make_pool(1, false, z);
        if (time_pool(cold, &job, n, &med, &per) == 0) {
            printf("  kiln sandbox, %s, cold                  %8.2f    %.2f\n", how, med,
                   med / t_bare);
        }
        sbx_pool_free(cold);
        /* Two slots per CPU: a slot's refill overlaps other slots' runs. */
        sbx_pool *warm = make_pool((size_t)n_cpu * 2, true, z);
        sleep_ms(200); /* let the first pairs start */
        if (time_pool(warm, &job, n, &med, &per) == 0) {
            printf("  kiln sandbox, %s, prefork, b2b: median %8.2f    %.2f\n", how, med,
                   med / t_bare);
            printf("  kiln sandbox, %s, prefork, b2b: mean   %8.2f    %.2f\n", how, per,
                   per / t_bare);
        }
        /* Paced runs (the pool refills between requests, as when candidates arrive from the
         * generator): the latency a request sees. */
        double *lat = calloc((size_t)n, sizeof *lat);
        for (int i = 0; i < n; i++) {
            sleep_ms(20);
            sbx_result r;
            core_err err = {0};
            double s0 = now_ms();
            sbx_pool_run(warm, &job, &r, &err);
            lat[i] = now_ms() - s0;
            sbx_result_dispose(&r);
        }
        printf("  kiln sandbox, %s, prefork, paced 20 ms %8.2f    %.2f\n", how,
               median(lat, (size_t)n), median(lat, (size_t)n) / t_bare);
        free(lat);
        sbx_pool_free(warm);
    }

    int n_threads = (int)n_cpu * 2;
    for (int z = 0; z < 2; z++) {
        double load0 = 0;
        FILE *la = fopen("/proc/loadavg", "r");
        if (la != NULL) {
            char text[64] = {0};
            if (fgets(text, sizeof text, la) != NULL) {
                load0 = strtod(text, NULL);
            }
            fclose(la);
        }
        tp_arg args[64];
        pthread_t th[64];
        /* a fresh pool, and everything before reaped: clean CPU counts */
        sbx_pool *warm = make_pool((size_t)n_cpu * 2, true, z);
        sleep_ms(200);
        double cpu0 = cpu_ms();
        double until = now_ms() + secs * 1000.0;
        double t0 = now_ms();
        for (int i = 0; i < n_threads && i < 64; i++) {
            args[i] = (tp_arg){.pool = warm, .until = until};
            pthread_create(&th[i], NULL, tp_main, &args[i]);
        }
        long done = 0, bad = 0;
        for (int i = 0; i < n_threads && i < 64; i++) {
            pthread_join(th[i], NULL);
            done += args[i].n_done;
            bad += args[i].n_bad;
        }
        double el = (now_ms() - t0) / 1000.0;
        size_t n_slots = sbx_pool_n_slots(warm);
        /* reaps the last pairs and the zygotes (which reaped their boxes), so all CPU counts */
        sbx_pool_free(warm);
        double cpu_run = (cpu_ms() - cpu0) / (double)(done + bad);
        printf("\nThroughput, %s, %zu slots with prefork, %d submitting threads, %.1f s:\n",
               z ? "zygote" : "exec", n_slots, n_threads, el);
        printf("  %.1f sandboxed runs/s (%ld passed, %ld not passed), load average at start "
               "%.2f\n",
               (double)done / el, done, bad, load0);
        printf("  CPU per run: sandboxed %.2f ms, bare %.2f ms (%.2fx); %ld idle CPUs would give "
               "%.0f runs/s\n",
               cpu_run, cpu_bare, cpu_run / cpu_bare, n_cpu, 1000.0 * (double)n_cpu / cpu_run);
    }

    int n_c = n / 5 > 5 ? n / 5 : 5;
    printf("\nC, compile + link + run (%d runs)               median ms   x gcc bare\n", n_c);
    char *gcc[] = {"/usr/bin/gcc", "-std=gnu11", "-O1", "-o", c_exe, c_cand, c_tests, NULL};
    char *exe[] = {c_exe, NULL};
    double t_gcc = time_cmd(gcc, n_c);
    double t_exe = time_cmd(exe, n_c);
    printf("  gcc bare (one command)                     %8.2f    1.00\n", t_gcc);
    printf("  run bare                                   %8.2f\n", t_exe);
    printf("  gcc bare + run bare                        %8.2f    %.2f\n", t_gcc + t_exe,
           (t_gcc + t_exe) / t_gcc);
    sbx_pool *cpool = make_pool(1, false, false);
    sbx_job cj = sbx_job_default();
    cj.lang = SBX_LANG_C;
    cj.candidate = core_str_c(cand_c);
    cj.tests = core_str_c(tests_c);
    cj.entry = core_str_c("add");
    double *tc = calloc((size_t)n_c, sizeof *tc);
    double *tr = calloc((size_t)n_c, sizeof *tr);
    double *tb = calloc((size_t)n_c, sizeof *tb);
    int ok = 1;
    for (int i = 0; i < n_c; i++) {
        sbx_result r;
        core_err err = {0};
        double s0 = now_ms();
        int rc = sbx_pool_run(cpool, &cj, &r, &err);
        tc[i] = now_ms() - s0;
        tr[i] = (double)r.wall_ms;
        tb[i] = (double)r.compile_ms;
        if (rc < 0 || r.verdict != SBX_VERDICT_PASSED) {
            fprintf(stderr, "bench: C run: rc %d %s %s\n", rc, err.msg, r.message ? r.message : "");
            ok = 0;
        }
        sbx_result_dispose(&r);
    }
    if (ok) {
        double m = median(tc, (size_t)n_c);
        printf("  kiln sandbox: build box (compile + link)   %8.2f    %.2f\n",
               median(tb, (size_t)n_c), median(tb, (size_t)n_c) / t_gcc);
        printf("  kiln sandbox: run box                      %8.2f\n", median(tr, (size_t)n_c));
        printf("  kiln sandbox: total                        %8.2f    %.2f\n", m, m / t_gcc);
    }
    free(tc);
    free(tr);
    free(tb);
    sbx_pool_free(cpool);
    unlink(py_file);
    unlink(c_cand);
    unlink(c_tests);
    unlink(c_exe);
    rmdir(dir);
    return 0;
}
