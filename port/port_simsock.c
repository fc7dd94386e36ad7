/* libtrustm port: client of the trustm-sim socket protocol (Unix socket or
 * loopback TCP). Request op(1) addr(1) len(2 BE) data; reply status(1)
 * len(2 BE) data. Status 0x01 = address NACK. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "port_int.h"
#include "trustm/trustm.h"

#define OP_WRITE 0x01
#define OP_READ 0x02
#define OP_WARM 0x03
#define OP_POWER 0x04
#define OP_SLEEP 0x07

/* How long a reply may take beyond a virtual sleep's own length (a daemon
 * in --realtime answers OP_SLEEP after the sleep): a peer that accepts and
 * never answers (not a trustm-sim, a stopped one) is an error, not a hang. */
#define SIMSOCK_TIMEOUT_MS 30000u

/* Send or receive n bytes, each wait at most timeout_ms. 0 done, -1 I/O
 * error or peer closed, -2 timeout. */
static int io_all(int fd, uint8_t *p, size_t n, int wr, uint64_t timeout_ms)
{
    uint64_t end = port_mono_us() / 1000u + timeout_ms;
    while (n) {
        struct pollfd pf;
        uint64_t now = port_mono_us() / 1000u;
        ssize_t k;
        int r;
        pf.fd = fd;
        pf.events = wr ? POLLOUT : POLLIN;
        pf.revents = 0;
        r = now >= end ? 0 : poll(&pf, 1, end - now > 60000u ? 60000 : (int)(end - now));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0) {
            if (now >= end) {
                return -2;
            }
            continue;
        }
        if (r < 0) {
            return -1;
        }
        k = wr ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, n, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request/reply. rbuf receives up to rcap data bytes; *rlen their count.
 * Returns the reply status (0 ok, 1 address NACK), -1 I/O error or a reply
 * longer than rcap, -2 no reply in time. After -1 or -2 the connection is
 * shut down: a late reply, or the unread rest of a refused one, must not be
 * taken for the answer to the next request. */
static int rpc(struct trustm_port_handle *h, uint8_t op, const uint8_t *d, size_t dlen,
               uint16_t len, uint8_t *rbuf, size_t rcap, size_t *rlen)
{
    uint8_t hdr[4];
    uint8_t rh[3];
    size_t n;
    int r;
    uint64_t tmo = h->timeout_ms;
    if (op == OP_SLEEP && dlen == 4) {
        tmo += ((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]) / 1000u;
    }
    hdr[0] = op;
    hdr[1] = h->addr;
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
    r = io_all(h->fd, hdr, 4, 1, tmo);
    if (r == 0 && dlen) {
        r = io_all(h->fd, (uint8_t *)(uintptr_t)d, dlen, 1, tmo);
    }
    if (r == 0) {
        r = io_all(h->fd, rh, 3, 0, tmo);
    }
    if (r == 0) {
        n = (size_t)(rh[1] << 8 | rh[2]);
        if (n > rcap) {
            r = -1; /* its data is still in the stream */
        } else {
            r = n ? io_all(h->fd, rbuf, n, 0, tmo) : 0;
            if (r == 0 && rlen) {
                *rlen = n;
            }
        }
    }
    if (r < 0) {
        shutdown(h->fd, SHUT_RDWR);
    }
    return r == 0 ? rh[0] : r;
}

static void flush_sleep(struct trustm_port_handle *h, uint64_t min_us)
{
    while (h->pending_us >= min_us && h->pending_us) {
        uint32_t us = h->pending_us > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)h->pending_us;
        uint8_t d[4] = {(uint8_t)(us >> 24), (uint8_t)(us >> 16), (uint8_t)(us >> 8), (uint8_t)us};
        h->pending_us -= us;
        (void)rpc(h, OP_SLEEP, d, 4, 4, NULL, 0, NULL);
    }
}

static tma_status xfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct trustm_port_handle *h = ctx;
    size_t got = 0;
    int st;
    if (n != 1 || !m || (m->len && !m->buf)) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    /* A lone guard time (50 us) is not sent: the simulator already accounts
     * the guard time of each transaction. Longer waits (frame check, back-off,
     * chip busy time) are, so the chip ages as the host expects. */
    flush_sleep(h, 3u * TRUSTM_GUARD_US);
    h->addr = (uint8_t)m->addr;
    if (m->flags & TRUSTM_I2C_READ) {
        st = rpc(h, OP_READ, NULL, 0, m->len, m->buf, m->len, &got);
        if (st == 0 && got != m->len) {
            st = -1;
        }
    } else {
        st = rpc(h, OP_WRITE, m->buf, m->len, m->len, NULL, 0, NULL);
    }
    if (st == 0) {
        return TMA_OK;
    }
    if (st == 1) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    }
    return TMA_ERR(TMA_LAYER_BUS, st == -2 ? TMA_C_TIMEOUT : TMA_C_IO);
}

static void delay_us(void *ctx, uint32_t us)
{
    struct trustm_port_handle *h = ctx;
    if (h->realtime) {
        port_sleep_us(us);
        return;
    }
    h->vnow_us += us;
    h->pending_us += us;
}

static uint32_t now_ms(void *ctx)
{
    struct trustm_port_handle *h = ctx;
    return (uint32_t)((h->realtime ? port_mono_us() : h->vnow_us) / 1000u);
}

static tma_status reset(void *ctx, enum trustm_reset_kind kind)
{
    struct trustm_port_handle *h = ctx;
    if (kind == TRUSTM_RESET_SOFT) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    int st;
    flush_sleep(h, 1);
    st = rpc(h, kind == TRUSTM_RESET_COLD ? OP_POWER : OP_WARM, NULL, 0, 0, NULL, 0, NULL);
    return st == 0 ? TMA_OK : TMA_ERR(TMA_LAYER_BUS, st == -2 ? TMA_C_TIMEOUT : TMA_C_IO);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127u;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127u);
    }
    return false;
}

bool trustm_port_tcp_loopback(const char *hp)
{
    const char *colon = hp != NULL ? strrchr(hp, ':') : NULL;
    size_t hl = colon != NULL ? (size_t)(colon - hp) : 0u;
    if (colon == NULL || colon[1] == '\0') {
        return false;
    }
    return (hl == 9u && (strncmp(hp, "127.0.0.1", 9) == 0 || strncmp(hp, "localhost", 9) == 0)) ||
           (hl == 3u && strncmp(hp, "::1", 3) == 0);
}

static int connect_to(const char *where)
{
    const char *colon = strrchr(where, ':');
    int fd;
    if (where[0] != '/' && colon) {
        /* host:port, loopback only */
        char host[64];
        struct addrinfo hints, *ai = NULL, *p;
        size_t hl = (size_t)(colon - where);
        int one = 1;
        if (!trustm_port_tcp_loopback(where)) { /* also bounds hl: 3 or 9 */
            errno = EINVAL;
            return -1;
        }
        memcpy(host, where, hl);
        host[hl] = 0;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) {
            return -1;
        }
        /* Every address "localhost" has, in order (::1 often comes first
         * while the daemon listens on 127.0.0.1), and only loopback ones
         * (whatever the resolver was told). */
        fd = -1;
        for (p = ai; p != NULL && fd < 0; p = p->ai_next) {
            if (!is_loopback(p->ai_addr)) {
                errno = EINVAL;
                continue;
            }
            fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
                close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(ai);
        if (fd >= 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return fd;
    }
    {
        struct sockaddr_un sa;
        if (strlen(where) >= sizeof sa.sun_path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        strcpy(sa.sun_path, where);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
}

tma_status trustm_port_simsock_open(const char *where, bool realtime, struct trustm_port *out_port,
                                    struct trustm_port_handle **out_handle)
{
    struct trustm_port_handle *h;
    if (!where || !*where || !out_port || !out_handle) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_INTERNAL);
    }
    h->kind = PORT_SIMSOCK;
    h->addr = 0x30;
    h->realtime = realtime;
    h->timeout_ms = SIMSOCK_TIMEOUT_MS;
    h->fd = connect_to(where);
    if (h->fd < 0) {
        free(h);
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
    port_lock_init(h, where);
    memset(out_port, 0, sizeof *out_port);
    out_port->ctx = h;
    out_port->transfer = xfer;
    out_port->delay_us = delay_us;
    out_port->now_ms = now_ms;
    out_port->reset = reset;
    out_port->lock = port_lock;
    out_port->unlock = port_unlock;
    *out_handle = h;
    return TMA_OK;
}

tma_status trustm_port_simsock_set_timeout(struct trustm_port_handle *h, uint32_t ms)
{
    if (h == NULL || h->kind != PORT_SIMSOCK || ms == 0u) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    h->timeout_ms = ms;
    return TMA_OK;
}

void port_simsock_close(struct trustm_port_handle *h)
{
    flush_sleep(h, 1);
    close(h->fd);
}
