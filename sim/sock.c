/*
 * Socket form of the bus (docs/sim-socket-protocol.md).
 * Request: op(1) addr(1) len(2, BE) data(len)   (op 0x02: len = bytes wanted, no data)
 * Reply:   status(1) len(2, BE) data(len)
 * The server multiplexes clients with poll() and serves one complete request
 * at a time, so the chip sees one bus.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sim_int.h"

#define OP_WRITE 0x01
#define OP_READ 0x02
#define OP_WARM_RESET 0x03
#define OP_POWER_CYCLE 0x04
#define OP_STATS 0x05
#define OP_FAULTS 0x06
#define OP_SLEEP 0x07 /* extension: host waits data(4, BE) microseconds */

#define ST_ACK 0x00
#define ST_ADDR_NACK 0x01
#define ST_DATA_NACK 0x02
#define ST_MALFORMED 0x10
#define ST_TOO_MANY 0x11 /* sent unasked to a connection over the limit, then closed */

#define MAX_CLIENTS 16
/* Connections over the limit get the 0x11 reply and are drained until they
 * close (so a TCP peer reads the reply instead of a reset), at most this many
 * at a time and for at most REFUSE_MS; beyond that they are closed at once. */
#define MAX_REFUSING 16
#define REFUSE_MS 2000
#define REQ_MAX (4u + 0xFFFFu)

static size_t reply(uint8_t *rsp, size_t cap, uint8_t status, const uint8_t *d, size_t n)
{
    if (cap < 3) {
        return 0;
    }
    if (n > cap - 3) {
        n = cap - 3;
    }
    rsp[0] = status;
    rsp[1] = (uint8_t)(n >> 8);
    rsp[2] = (uint8_t)n;
    if (n && d != rsp + 3) {
        memmove(rsp + 3, d, n);
    }
    return 3 + n;
}

/* The host is assumed to keep the guard time between transactions. */
static void guard(struct trustm_sim *s)
{
    if (!s->clock.realtime) {
        sim_clock_advance(&s->clock, SIM_GUARD_US);
    }
}

size_t trustm_sim_socket_request(struct trustm_sim *s, const uint8_t *req, size_t req_len,
                                 uint8_t *rsp, size_t rsp_cap)
{
    if (!s || !req || !rsp || rsp_cap < 3) {
        return rsp && rsp_cap >= 3 ? reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0) : 0;
    }
    if (req_len < 4) {
        return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
    }
    uint8_t op = req[0];
    uint8_t addr = req[1];
    size_t len = ((size_t)req[2] << 8) | req[3];
    size_t data_len = op == OP_READ ? 0 : len;
    const uint8_t *d = req + 4;
    if (req_len != 4 + data_len || addr > 0x7F) {
        return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
    }
    switch (op) {
    case OP_WRITE: {
        enum trustm_sim_ack r = trustm_sim_i2c_write(s, addr, d, len);
        guard(s);
        return reply(rsp, rsp_cap, r == TRUSTM_SIM_ACK ? ST_ACK : r == TRUSTM_SIM_ADDR_NACK ? ST_ADDR_NACK : ST_DATA_NACK, NULL, 0);
    }
    case OP_READ: {
        if (len == 0 || len > rsp_cap - 3) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        enum trustm_sim_ack r = trustm_sim_i2c_read(s, addr, rsp + 3, len);
        guard(s);
        if (r != TRUSTM_SIM_ACK) {
            return reply(rsp, rsp_cap, ST_ADDR_NACK, NULL, 0);
        }
        return reply(rsp, rsp_cap, ST_ACK, rsp + 3, len);
    }
    case OP_WARM_RESET:
    case OP_POWER_CYCLE:
        if (len != 0) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        trustm_sim_reset(s, op == OP_WARM_RESET ? TRUSTM_RESET_WARM : TRUSTM_RESET_COLD);
        return reply(rsp, rsp_cap, ST_ACK, NULL, 0);
    case OP_STATS: {
        size_t n = 0;
        if (len != 0) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        size_t cap = rsp_cap - 3 > 0x10000 ? 0x10000 : rsp_cap - 3; /* JSON + NUL */
        if (trustm_sim_stats_json(s, (char *)rsp + 3, cap, &n) != TMA_OK) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        return reply(rsp, rsp_cap, ST_ACK, rsp + 3, n);
    }
    case OP_FAULTS:
        if (trustm_sim_faults_json(s, (const char *)d, len) != TMA_OK) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        return reply(rsp, rsp_cap, ST_ACK, NULL, 0);
    case OP_SLEEP:
        if (len != 4) {
            return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
        }
        trustm_sim_sleep_us(s, ((uint64_t)d[0] << 24) | ((uint64_t)d[1] << 16) | ((uint64_t)d[2] << 8) | d[3]);
        return reply(rsp, rsp_cap, ST_ACK, NULL, 0);
    default:
        return reply(rsp, rsp_cap, ST_MALFORMED, NULL, 0);
    }
}

struct client {
    int fd;
    uint8_t *buf;
    size_t have;
};

int sim_unix_path_claim(const char *path)
{
    struct sockaddr_un a;
    struct stat st;
    if (!path || !*path || strlen(path) >= sizeof(a.sun_path)) {
        return SIM_PATH_TOO_LONG;
    }
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? SIM_PATH_OK : SIM_PATH_ERROR;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return SIM_PATH_NOT_SOCKET; /* never removed: it may be anybody's file */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return SIM_PATH_ERROR;
    }
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int e = errno;
    close(fd);
    if (r == 0) {
        return SIM_PATH_IN_USE; /* a live server answers on it */
    }
    if (e != ECONNREFUSED) {
        errno = e;
        return SIM_PATH_ERROR;
    }
    /* a socket nobody listens on: left behind by a daemon that was killed */
    if (unlink(path) != 0 && errno != ENOENT) {
        return SIM_PATH_ERROR;
    }
    return SIM_PATH_OK;
}

static int listen_unix(const char *path, dev_t *dev, ino_t *ino)
{
    struct sockaddr_un a;
    struct stat st;
    if (sim_unix_path_claim(path) != SIM_PATH_OK) {
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    /* bind() never replaces an existing file: a daemon that got there first wins */
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    /* Whoever can connect drives the chip (the protocol has no authentication):
     * the socket is the owner's alone, whatever the umask. bind() made it
     * 0777 & ~umask; nobody can connect before listen(), so it is made 0600
     * first. (To share it, its owner chmods it once "listening" is printed.) */
    if (chmod(path, 0600) != 0 || listen(fd, 8) != 0 || lstat(path, &st) != 0) {
        close(fd);
        return -1;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return fd;
}

static int listen_tcp(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (!end || *end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
        return -2; /* loopback only */
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void drop(struct client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->have = 0;
}

/* Serve every complete request in the client's buffer; false = drop client. */
static bool serve_client(struct trustm_sim *s, struct client *c, uint8_t *rsp, size_t rsp_cap)
{
    for (;;) {
        if (c->have < 4) {
            return true;
        }
        size_t len = ((size_t)c->buf[2] << 8) | c->buf[3];
        size_t need = 4 + (c->buf[0] == OP_READ ? 0 : len);
        if (c->have < need) {
            return true;
        }
        size_t n = trustm_sim_socket_request(s, c->buf, need, rsp, rsp_cap);
        if (!send_all(c->fd, rsp, n)) {
            return false;
        }
        memmove(c->buf, c->buf + need, c->have - need);
        c->have -= need;
    }
}

struct refusing {
    int fd;
    struct timespec until;
};

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* A connection over the client limit: tell it why, then wait for it to go. */
static void refuse(struct refusing *rf, int fd)
{
#define SIM_STR2(x) #x
#define SIM_STR(x) SIM_STR2(x)
    static const char msg[] = "trustm-sim: too many clients (limit " SIM_STR(MAX_CLIENTS) "); retry later";
    uint8_t r[3 + sizeof(msg) - 1];
    r[0] = ST_TOO_MANY;
    r[1] = 0;
    r[2] = (uint8_t)(sizeof(msg) - 1);
    memcpy(r + 3, msg, sizeof(msg) - 1);
    (void)send(fd, r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < MAX_REFUSING; i++) {
        if (rf[i].fd < 0) {
            rf[i].fd = fd;
            clock_gettime(CLOCK_MONOTONIC, &rf[i].until);
            rf[i].until.tv_sec += REFUSE_MS / 1000;
            return;
        }
    }
    close(fd); /* too many refusals in flight as well */
}

tma_status trustm_sim_serve(struct trustm_sim *s, const struct trustm_sim_server *srv)
{
    if (!s || !srv || !srv->unix_path || !srv->stop) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    int lfd[2] = {-1, -1};
    dev_t sock_dev = 0;
    ino_t sock_ino = 0;
    struct client cl[MAX_CLIENTS];
    struct refusing rf[MAX_REFUSING];
    uint8_t *rsp = malloc(3 + 0x10000);
    tma_status st = TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_IO);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        cl[i].fd = -1;
        cl[i].buf = NULL;
        cl[i].have = 0;
    }
    for (int i = 0; i < MAX_REFUSING; i++) {
        rf[i].fd = -1;
    }
    if (!rsp) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
    }
    lfd[0] = listen_unix(srv->unix_path, &sock_dev, &sock_ino);
    if (lfd[0] < 0) {
        goto out;
    }
    if (srv->tcp_listen) {
        lfd[1] = listen_tcp(srv->tcp_listen);
        if (lfd[1] < 0) {
            if (lfd[1] == -2) {
                st = TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
            }
            goto out;
        }
    }
    if (srv->ready) {
        srv->ready(srv->ready_ctx);
    }
    while (!*srv->stop) {
        struct pollfd pf[2 + MAX_CLIENTS + MAX_REFUSING];
        int map[2 + MAX_CLIENTS + MAX_REFUSING];
        nfds_t np = 0;
        for (int i = 0; i < 2; i++) {
            if (lfd[i] >= 0) {
                pf[np].fd = lfd[i];
                pf[np].events = POLLIN;
                map[np++] = -1 - i;
            }
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (cl[i].fd >= 0) {
                pf[np].fd = cl[i].fd;
                pf[np].events = POLLIN;
                map[np++] = i;
            }
        }
        for (int i = 0; i < MAX_REFUSING; i++) {
            if (rf[i].fd >= 0 && past(&rf[i].until)) {
                close(rf[i].fd);
                rf[i].fd = -1;
            }
            if (rf[i].fd >= 0) {
                pf[np].fd = rf[i].fd;
                pf[np].events = POLLIN;
                map[np++] = MAX_CLIENTS + i;
            }
        }
        int r = poll(pf, np, 200);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto out;
        }
        for (nfds_t k = 0; k < np; k++) {
            if (!pf[k].revents) {
                continue;
            }
            if (map[k] < 0) {
                int fd = accept(pf[k].fd, NULL, NULL);
                if (fd < 0) {
                    continue;
                }
                int slot = -1;
                for (int i = 0; i < MAX_CLIENTS; i++) {
                    if (cl[i].fd < 0) {
                        slot = i;
                        break;
                    }
                }
                if (slot < 0) {
                    refuse(rf, fd);
                    continue;
                }
                if (!cl[slot].buf) {
                    cl[slot].buf = malloc(REQ_MAX);
                    if (!cl[slot].buf) {
                        close(fd);
                        continue;
                    }
                }
                /* a client that stops reading its replies is dropped, not waited for */
                struct timeval tv = {2, 0};
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
                cl[slot].fd = fd;
                cl[slot].have = 0;
                continue;
            }
            if (map[k] >= MAX_CLIENTS) {
                struct refusing *x = &rf[map[k] - MAX_CLIENTS];
                uint8_t sink[512];
                ssize_t n = recv(x->fd, sink, sizeof(sink), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    close(x->fd);
                    x->fd = -1;
                }
                continue;
            }
            struct client *c = &cl[map[k]];
            ssize_t n = recv(c->fd, c->buf + c->have, REQ_MAX - c->have, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                drop(c);
                continue;
            }
            c->have += (size_t)n;
            if (!serve_client(s, c, rsp, 3 + 0x10000)) {
                drop(c);
            }
        }
    }
    st = TMA_OK;
out:
    for (int i = 0; i < MAX_CLIENTS; i++) {
        drop(&cl[i]);
        free(cl[i].buf);
    }
    for (int i = 0; i < MAX_REFUSING; i++) {
        if (rf[i].fd >= 0) {
            close(rf[i].fd);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (lfd[i] >= 0) {
            close(lfd[i]);
        }
    }
    if (sock_ino != 0) {
        /* remove our socket, and only ours */
        struct stat now;
        if (lstat(srv->unix_path, &now) == 0 && S_ISSOCK(now.st_mode) && now.st_dev == sock_dev &&
            now.st_ino == sock_ino) {
            unlink(srv->unix_path);
        }
    }
    free(rsp);
    return st;
}
