/* Plain TCP transport for POSIX systems (see include/tma/tcp.h). */
#define _POSIX_C_SOURCE 200809L
#include "tma/tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define T_ERR(code) TMA_ERR(TMA_LAYER_TRANSPORT, (code))

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p;
    int r;
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r;
}

static tma_status connect_one(const struct addrinfo *ai, uint32_t timeout_ms, int *out_fd)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    int err = 0;
    socklen_t len = sizeof(err);
    int r;

    if (fd < 0) {
        return T_ERR(TMA_C_IO);
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(fd);
        return T_ERR(TMA_C_IO);
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err = errno;
        } else {
            r = wait_fd(fd, POLLOUT, (int)(timeout_ms > 0x7FFFFFFFu ? 0x7FFFFFFFu : timeout_ms));
            if (r == 0) {
                close(fd);
                return T_ERR(TMA_C_TIMEOUT);
            }
            if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = EIO;
            }
        }
    }
    if (err != 0) {
        close(fd);
        return err == ECONNREFUSED ? T_ERR(TMA_C_REFUSED)
                                   : (err == ETIMEDOUT ? T_ERR(TMA_C_TIMEOUT) : T_ERR(TMA_C_IO));
    }
    *out_fd = fd;
    return TMA_OK;
}

tma_status tma_tcp_connect(struct tma_tcp *t, const char *host, uint16_t port, uint32_t timeout_ms)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    char service[8];
    tma_status st = T_ERR(TMA_C_NOT_FOUND);

    if (t == NULL || host == NULL || host[0] == '\0' || port == 0) {
        return T_ERR(TMA_C_BAD_PARAM);
    }
    t->fd = -1;
    if (t->recv_wait_ms == 0) {
        t->recv_wait_ms = 20;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    if (getaddrinfo(host, service, &hints, &res) != 0) {
        return T_ERR(TMA_C_NOT_FOUND);
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        st = connect_one(ai, timeout_ms, &t->fd);
        if (st == TMA_OK) {
            break;
        }
    }
    freeaddrinfo(res);
    return st;
}

struct tma_transport tma_tcp_transport(struct tma_tcp *t)
{
    struct tma_transport tr;
    tr.ctx = t;
    tr.send = tma_tcp_send;
    tr.recv = tma_tcp_recv;
    return tr;
}

int32_t tma_tcp_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct tma_tcp *t = ctx;
    ssize_t n;
    if (t == NULL || t->fd < 0 || (buf == NULL && len != 0)) {
        return T_ERR(TMA_C_BAD_PARAM);
    }
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    do {
        n = send(t->fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        return (int32_t)n;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return 0;
    }
    return (errno == EPIPE || errno == ECONNRESET) ? T_ERR(TMA_C_CLOSED) : T_ERR(TMA_C_IO);
}

int32_t tma_tcp_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct tma_tcp *t = ctx;
    ssize_t n;
    int r;
    if (t == NULL || t->fd < 0 || buf == NULL || len == 0) {
        return T_ERR(TMA_C_BAD_PARAM);
    }
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    r = wait_fd(t->fd, POLLIN, (int)(t->recv_wait_ms > 60000u ? 60000u : t->recv_wait_ms));
    if (r == 0) {
        return 0;
    }
    if (r < 0) {
        return T_ERR(TMA_C_IO);
    }
    do {
        n = recv(t->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        return (int32_t)n;
    }
    if (n == 0) {
        return T_ERR(TMA_C_CLOSED);
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return 0;
    }
    return errno == ECONNRESET ? T_ERR(TMA_C_CLOSED) : T_ERR(TMA_C_IO);
}

void tma_tcp_close(struct tma_tcp *t)
{
    if (t != NULL && t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}
