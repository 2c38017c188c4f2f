/*
 * Language servers over TCP, for a process that serves more than one editor (kiln serve
 * --lsp-port): an accept thread takes connections on a listening socket and gives each one an
 * lsp_server of its own, run on a thread of its own with the socket as both its input and its
 * output (Neovim's vim.lsp.rpc.connect, Eglot's (HOST PORT) contact and VS Code's socket
 * transports speak the same base protocol as over stdio). The servers share what the options
 * borrow (the model and usually the program's gen_queue, so their completions decode in one
 * batch with everything else), and each keeps its own documents and settings.
 *
 * Threads: lsp_listener_new and lsp_listener_free run on the caller's thread; the accept thread
 * owns the connection table while it runs (it reaps the connections whose server ended); free
 * stops it first, then shuts the remaining sockets down (their readers see the end of input)
 * and joins their threads.
 */
#include "lsp/lsp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
    lsp_listener *l;
    int fd; /* the connection's socket, -1: the slot is free */
    pthread_t thread;
    atomic_bool done; /* the server returned (set by the connection's thread, read by the
                         accept thread to reap it) */
} conn;

struct lsp_listener {
    lsp_server_options opts; /* what each connection's server is made with */
    int fd;                  /* the listening socket */
    uint16_t port;
    pthread_t thread;
    bool started;
    atomic_bool stop;                /* free asks the accept thread to end (a flag) */
    conn conns[LSP_CONNECTIONS_MAX]; /* accept thread's while it runs, then free's */
};

static void *conn_main(void *arg)
{
    conn *c = arg;
    lsp_listener *l = c->l;
    lsp_server *srv = NULL;
    core_err err = {0};
    int exit_code = 1;
    int rc = lsp_server_new(&srv, &l->opts, &err);
    if (rc == 0) {
        rc = lsp_server_run(srv, c->fd, c->fd, &exit_code, &err);
    }
    if (rc < 0) {
        core_log_write(&l->opts.log, CORE_LOG_LEVEL_WARN, "lsp: connection on fd %d: %s", c->fd,
                       err.msg);
    }
    lsp_server_free(srv);
    core_log_write(&l->opts.log, CORE_LOG_LEVEL_INFO, "lsp: connection on fd %d ended (%s)", c->fd,
                   exit_code == 0 ? "exit" : "closed");
    atomic_store(&c->done, true);
    return NULL;
}

/* Joins the connections whose server ended, and frees their slots. */
static void reap(lsp_listener *l, bool all)
{
    for (size_t i = 0; i < LSP_CONNECTIONS_MAX; i++) {
        conn *c = &l->conns[i];
        if (c->fd < 0 || (!all && !atomic_load(&c->done))) {
            continue;
        }
        if (all) {
            (void)shutdown(c->fd, SHUT_RDWR); /* its reader sees the end of input */
        }
        pthread_join(c->thread, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static void take(lsp_listener *l, int fd)
{
    conn *c = NULL;
    for (size_t i = 0; i < LSP_CONNECTIONS_MAX && !c; i++) {
        c = l->conns[i].fd < 0 ? &l->conns[i] : NULL;
    }
    if (!c) {
        core_log_write(&l->opts.log, CORE_LOG_LEVEL_WARN,
                       "lsp: %d connections already: one more refused", LSP_CONNECTIONS_MAX);
        close(fd);
        return;
    }
    c->l = l;
    c->fd = fd;
    atomic_store(&c->done, false);
    if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
        core_log_write(&l->opts.log, CORE_LOG_LEVEL_WARN, "lsp: no thread for a connection");
        close(fd);
        c->fd = -1;
    }
}

static void *accept_main(void *arg)
{
    lsp_listener *l = arg;
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        reap(l, false);
        struct pollfd pfd = {l->fd, POLLIN, 0};
        const int pr = poll(&pfd, 1, 100); /* the stop flag is seen within 100 ms */
        if (pr <= 0) {
            continue;
        }
        const int fd = accept(l->fd, NULL, NULL);
        if (fd < 0) {
            continue; /* the peer left before it was accepted, or descriptors ran out */
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        take(l, fd);
    }
    return NULL;
}

/* Binds the first address of host:port that takes it. */
static int bind_any(int *out, uint16_t *port_out, const char *host, uint16_t port, core_err *err)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo *ai = NULL;
    const int grc = getaddrinfo(host, service, &hints, &ai);
    if (grc != 0) {
        return core_err_set(err, CORE_EINVAL, "lsp: listen on %s: %s", host, gai_strerror(grc));
    }
    int fd = -1;
    int rc = core_err_set(err, CORE_EIO, "lsp: listen on %s:%u: no address", host, (unsigned)port);
    for (const struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            rc = core_err_set(err, CORE_EIO, "lsp: socket: %s", strerror(errno));
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        const int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            rc = core_err_set(err, CORE_EIO, "lsp: listen on %s:%u: %s", host, (unsigned)port,
                              strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    *port_out = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        char serv[16];
        if (getnameinfo((struct sockaddr *)&ss, len, NULL, 0, serv, sizeof(serv), NI_NUMERICSERV) ==
            0) {
            *port_out = (uint16_t)strtoul(serv, NULL, 10);
        }
    }
    core_err_clear(err);
    *out = fd;
    return 0;
}

int lsp_listener_new(lsp_listener **out, const char *host, uint16_t port,
                     const lsp_server_options *opts, core_err *err)
{
    *out = NULL;
    lsp_listener *l = core_calloc(1, sizeof(*l));
    if (!l) {
        return core_err_set(err, CORE_ENOMEM, "lsp: out of memory for the listener");
    }
    l->opts = opts ? *opts : lsp_server_options_default();
    atomic_init(&l->stop, false);
    for (size_t i = 0; i < LSP_CONNECTIONS_MAX; i++) {
        l->conns[i].fd = -1;
        atomic_init(&l->conns[i].done, false);
    }
    int rc = bind_any(&l->fd, &l->port, host ? host : "127.0.0.1", port, err);
    if (rc < 0) {
        core_free(l);
        return rc;
    }
    if (pthread_create(&l->thread, NULL, accept_main, l) != 0) {
        close(l->fd);
        core_free(l);
        return core_err_set(err, CORE_ERROR, "lsp: could not start the accept thread");
    }
    l->started = true;
    *out = l;
    return 0;
}

uint16_t lsp_listener_port(const lsp_listener *listener)
{
    return listener->port;
}

void lsp_listener_free(lsp_listener *listener)
{
    if (!listener) {
        return;
    }
    atomic_store_explicit(&listener->stop, true, memory_order_relaxed);
    if (listener->started) {
        pthread_join(listener->thread, NULL);
    }
    close(listener->fd);
    reap(listener, true);
    core_free(listener);
}
