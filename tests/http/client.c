/*
 * The suite's HTTP client: a request on a fresh loopback connection, read to the end (the
 * server closes it: "Connection: close"), for the server tests of test_server.c and
 * test_patch.c.
 */
#include "tests/http/tests.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

void send_request(int fd, const char *method, const char *path, const char *headers,
                  const char *body)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %zu\r\n"
                     "\r\n",
                     method, path, headers ? headers : "", body ? strlen(body) : 0);
    ck_assert_int_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    if (body && body[0]) {
        ck_assert_int_eq(send(fd, body, strlen(body), MSG_NOSIGNAL), (ssize_t)strlen(body));
    }
}

/* The whole answer (until the server closes), status in *status. */
void request(core_buf *out, int *status, uint16_t port, const char *method, const char *path,
             const char *headers, const char *body)
{
    int fd = connect_to(port);
    send_request(fd, method, path, headers, body);
    out->len = 0;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        ck_assert_int_eq(core_buf_append(out, buf, (size_t)n), 0);
    }
    close(fd);
    ck_assert_ptr_nonnull(out->ptr);
    ck_assert_int_eq(strncmp(out->ptr, "HTTP/1.1 ", 9), 0);
    *status = (int)strtol(out->ptr + 9, NULL, 10);
}
