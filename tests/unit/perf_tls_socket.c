/* The TLS client's socket: TCP_NODELAY is set once connected (a corked burst
 * of PUBLISHes is one record; Nagle would hold the next one back until the
 * previous is acknowledged), and the non-blocking first read hands over bytes
 * already there and still sees the peer's close. Observed from a loopback
 * "server" thread: it finds the client's socket in this process by its port
 * and reads the option with getsockopt. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tma/tls.h"
#include "tma_test.h"

static unsigned char *slurp_vector(const char *name, size_t *len)
{
    char rel[256];
    unsigned char *buf;
    snprintf(rel, sizeof(rel), "tests/vectors/tls/%s", name);
    buf = tma_test_read_source_file(rel, len);
    assert_non_null(buf);
    *len += 1; /* mbedTLS PEM parsing wants the NUL counted */
    return buf;
}

struct server {
    int ls;
    int nodelay;       /* TCP_NODELAY of the client's socket; -1 not found */
    int got_hello;     /* first byte the client sent (0x16: handshake record) */
};

/* Accept, find the client's end (local port == our peer's port), read its
 * option, read the ClientHello's first byte, answer with bytes that are not
 * TLS and close. */
static void *serve(void *arg)
{
    struct server *s = arg;
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    unsigned char b = 0;
    int fd;
    int i;
    s->nodelay = -1;
    fd = accept(s->ls, (struct sockaddr *)&peer, &pl);
    if (fd < 0) {
        return NULL;
    }
    if (recv(fd, &b, 1, 0) == 1) { /* the client is past connect: the option is set by now */
        s->got_hello = b;
    }
    for (i = 3; i < 1024; i++) {
        struct sockaddr_in me;
        socklen_t ml = sizeof(me);
        int v = 0;
        socklen_t vl = sizeof(v);
        if (i == fd || i == s->ls || getsockname(i, (struct sockaddr *)&me, &ml) != 0 ||
            me.sin_family != AF_INET || me.sin_port != peer.sin_port) {
            continue;
        }
        if (getsockopt(i, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0) {
            s->nodelay = v != 0;
        }
        break;
    }
    (void)send(fd, "HTTP/1.0 400 no\r\n\r\n", 19, 0);
    close(fd);
    return NULL;
}

static void connected_socket_has_nodelay_and_a_garbage_peer_fails_cleanly(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct server srv;
    pthread_t th;
    char port[8];
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    tma_status st;
    (void)state;
    memset(&srv, 0, sizeof(srv));
    srv.ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(srv.ls >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(srv.ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(srv.ls, 1), 0);
    assert_int_equal(getsockname(srv.ls, (struct sockaddr *)&sa, &sl), 0);
    snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(pthread_create(&th, NULL, serve, &srv), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "localhost";
    cfg.address = "127.0.0.1";
    cfg.port = port;
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    cfg.timeout_ms = 2000;
    cfg.handshake_timeout_ms = 5000;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    st = tma_tls_client_connect(&c);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* Not TLS, then closed: an error (not a hang, not success). */
    assert_true(st < 0);
    assert_int_equal(TMA_STATUS_LAYER(st), TMA_LAYER_TLS);
    assert_int_equal(0x16, srv.got_hello);
    assert_int_equal(1, srv.nodelay);
    tma_tls_client_deinit(&c);
    close(srv.ls);
    free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connected_socket_has_nodelay_and_a_garbage_peer_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
