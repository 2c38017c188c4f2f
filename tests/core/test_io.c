/* Tests of core/io.c: whole writes through a pipe, and a failed one. */
#include "tests/core/tests.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"

/* More than a pipe holds at once: the writer blocks while the reader drains it. */
#define BIG (1u << 20)

START_TEST(io__write_full_writes_every_byte)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    static char out[BIG];
    static char in[BIG];
    for (size_t i = 0; i < BIG; i++) {
        out[i] = (char)(i * 31u + 7u);
    }
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(core_write_full(fds[1], out, BIG) == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    for (ssize_t n = 1; n > 0 && got<BIG; got += n> 0 ? (size_t)n : 0) {
        n = read(fds[0], in + got, BIG - got);
    }
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(got, BIG);
    ck_assert_int_eq(memcmp(in, out, BIG), 0);
}
END_TEST

START_TEST(io__write_full_reports_a_closed_reader)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    close(fds[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    errno = 0;
    ck_assert_int_eq(core_write_full(fds[1], "abc", 3), -1);
    ck_assert_int_eq(errno, EPIPE);
    signal(SIGPIPE, old);
    close(fds[1]);
    ck_assert_int_eq(core_write_full(-1, "abc", 3), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

TCase *tcase_io(void)
{
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, io__write_full_writes_every_byte);
    tcase_add_test(tc, io__write_full_reports_a_closed_reader);
    return tc;
}
