/*
 * Supervision of one run: a poll loop that writes the job to the boxes, drains their output
 * pipes (keeping a capped copy and counting every byte), and checks the limits that the kernel
 * does not end on its own. Cgroup v1 has no total-CPU limit, so the candidate cgroup's
 * cpu.stat is sampled every few milliseconds; a fork that failed at pids.max or an OOM kill ends
 * the run at once instead of letting a fork bomb spin until its CPU limit. The loop ends when
 * the watched process exits (a pidfd), a result pipe reaches EOF, a limit is hit or the caller
 * cancels.
 */
#include "sandbox/sbx_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* How often the cgroup counters are read while the run is still going. */
#define SAMPLE_NS 4000000u

static void check_cgroup(sbx__watch *w)
{
    sbx__cg_stat st;
    sbx__cg_read(w->cg, &st);
    const sbx_limits *l = w->limits;
    if (st.n_oom_kills > w->oom0) {
        w->hit = SBX_LIMIT_MEMORY;
    } else if (st.n_pids_max > w->pids0) {
        w->hit = SBX_LIMIT_PROCESSES;
    } else if (l->cpu_ms > 0 && st.cpu_us - w->cpu0_us > (uint64_t)l->cpu_ms * 1000u) {
        w->hit = SBX_LIMIT_CPU;
    }
}

int sbx__watch_run(sbx__watch *w, core_err *err)
{
    size_t job_off[2] = {0, 0};
    bool in_open[4];
    for (int i = 0; i < 4; i++) {
        in_open[i] = w->in_fd[i] >= 0;
    }
    w->hit = SBX_LIMIT_NONE;
    w->canceled = false;
    const sbx_limits *l = w->limits;
    uint64_t out_cap = l->output_kb > 0 ? (uint64_t)l->output_kb * 1024u : UINT64_MAX;
    uint64_t next_sample = w->t0_ns + SAMPLE_NS / 4;
    for (;;) {
        struct pollfd pfd[7];
        int map[7];
        int n = 0;
        for (int i = 0; i < 2; i++) {
            if (w->job_fd[i] >= 0 && job_off[i] < w->job_len[i]) {
                pfd[n] = (struct pollfd){.fd = w->job_fd[i], .events = POLLOUT};
                map[n++] = 10 + i;
            }
        }
        for (int i = 0; i < 4; i++) {
            if (in_open[i]) {
                pfd[n] = (struct pollfd){.fd = w->in_fd[i], .events = POLLIN};
                map[n++] = i;
            }
        }
        if (w->end_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = w->end_fd, .events = POLLIN};
            map[n++] = 20;
        }
        uint64_t now = core_time_ns();
        uint64_t wait_ns = next_sample > now ? next_sample - now : 0;
        if (l->wall_ms > 0) {
            uint64_t deadline = w->t0_ns + (uint64_t)l->wall_ms * 1000000u;
            if (now >= deadline) {
                w->hit = SBX_LIMIT_WALL;
                return 0;
            }
            if (deadline - now < wait_ns) {
                wait_ns = deadline - now;
            }
        }
        int pr = poll(pfd, (nfds_t)n, (int)(wait_ns / 1000000u) + 1);
        if (pr < 0 && errno != EINTR) {
            return core_err_set(err, CORE_ERROR, "sandbox: poll: %s", strerror(errno));
        }
        bool ended = false;
        for (int k = 0; pr > 0 && k < n; k++) {
            if (pfd[k].revents == 0) {
                continue;
            }
            int m = map[k];
            if (m == 10 || m == 11) {
                int i = m - 10;
                ssize_t s = send(w->job_fd[i], w->job[i] + job_off[i], w->job_len[i] - job_off[i],
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (s > 0) {
                    job_off[i] += (size_t)s;
                } else if (s < 0 && errno != EAGAIN && errno != EINTR) {
                    job_off[i] = w->job_len[i]; /* the box is gone; its exit ends the run */
                }
            } else if (m < 4) {
                uint64_t before = w->n_out_bytes;
                uint64_t total = 0;
                int d = sbx__drain(w->in_fd[m], w->in_buf[m], w->in_cap[m], &total);
                if (w->in_counted[m]) {
                    w->n_out_bytes = before + total;
                }
                if (d == CORE_ENOMEM) {
                    return core_err_set(err, CORE_ENOMEM, "sandbox: output: out of memory");
                }
                if (d != 0) {
                    in_open[m] = false;
                    if (m == w->end_pipe) {
                        ended = true;
                    }
                }
            } else if (m == 20) {
                ended = true;
            }
        }
        if (w->n_out_bytes > out_cap) {
            w->hit = SBX_LIMIT_OUTPUT;
            return 0;
        }
        now = core_time_ns();
        if (now >= next_sample || ended) {
            check_cgroup(w);
            next_sample = now + SAMPLE_NS;
            if (w->hit != SBX_LIMIT_NONE) {
                return 0;
            }
        }
        if (ended) {
            /* Pick up what is still buffered in the pipes. */
            for (int i = 0; i < 4; i++) {
                if (in_open[i]) {
                    uint64_t total = 0;
                    sbx__drain(w->in_fd[i], w->in_buf[i], w->in_cap[i], &total);
                    if (w->in_counted[i]) {
                        w->n_out_bytes += total;
                    }
                }
            }
            if (w->n_out_bytes > out_cap) {
                w->hit = SBX_LIMIT_OUTPUT;
            }
            return 0;
        }
        if (core_cancel_is_requested(w->cancel)) {
            w->canceled = true;
            return 0;
        }
    }
}

void sbx__watch_baseline(sbx__watch *w, const sbx__cg *cg, const sbx_limits *lim, uint64_t t0,
                         const sbx__cg_stat *st0, const core_cancel *cancel)
{
    w->cg = cg;
    w->limits = lim;
    w->t0_ns = t0;
    w->cpu0_us = st0->cpu_us;
    w->oom0 = st0->n_oom_kills;
    w->pids0 = st0->n_pids_max;
    w->cancel = cancel;
}

int sbx__watch_reap(sbx__cg_stat *st1, uint64_t *n_extra, pid_t pid, int status_fd,
                    const sbx__cg *cg, const int fds[2], core_buf *const bufs[2],
                    const size_t caps[2])
{
    sbx__cg_kill(cg);
    waitpid(pid, NULL, 0);
    const int status = sbx__box_status(status_fd);
    for (size_t i = 0; i < 2; i++) {
        if (fds[i] >= 0) {
            sbx__drain(fds[i], bufs[i], caps[i], n_extra);
        }
    }
    sbx__cg_wait_empty(cg, 2000);
    sbx__cg_read(cg, st1);
    return status;
}
