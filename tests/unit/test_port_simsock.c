/* The trustm-sim socket port against peers that are not a simulator: one
 * that accepts and never answers, one that answers half a reply, one that
 * closes. Each transfer ends with a clear status in bounded time; after a
 * timeout the connection is not reused (a late reply must not be taken for
 * the next answer). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "trustm/port_open.h"

#define BUS(code) TMA_ERR(TMA_LAYER_BUS, (code))

struct peer {
    char dir[64];
    char path[128];
    int lfd;
};

static void peer_listen(struct peer *p)
{
    struct sockaddr_un sa;
    strcpy(p->dir, "/tmp/tma_simsock_XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(p->path, sizeof p->path, "%s/s.sock", p->dir);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, p->path);
    p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
}

static void peer_close(struct peer *p)
{
    close(p->lfd);
    unlink(p->path);
    rmdir(p->dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tma_status read4(struct trustm_port *port)
{
    uint8_t b[4];
    struct trustm_i2c_msg m;
    m.addr = 0x30;
    m.flags = TRUSTM_I2C_READ;
    m.len = sizeof b;
    m.buf = b;
    return port->transfer(port->ctx, &m, 1);
}

/* Accepts (the listen backlog does) and never answers: TIMEOUT, then the
 * next transfer fails at once instead of waiting again. */
static void test_simsock_silent_peer_times_out(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    double t0, t1;
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    assert_int_equal(trustm_port_simsock_set_timeout(h, 300), TMA_OK);
    t0 = now_s();
    assert_int_equal(read4(&port), BUS(TMA_C_TIMEOUT));
    t1 = now_s();
    assert_true(t1 - t0 >= 0.25);
    assert_true(t1 - t0 < 10.0);
    assert_int_equal(read4(&port), BUS(TMA_C_IO));
    assert_true(now_s() - t1 < 5.0);
    assert_int_equal(port.reset(port.ctx, TRUSTM_RESET_WARM), BUS(TMA_C_IO));
    trustm_port_close(h);
    peer_close(&p);
}

/* Half a reply (the status byte, no length) then silence: TIMEOUT. */
static void test_simsock_half_reply_times_out(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    int cfd;
    uint8_t req[4];
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    assert_int_equal(trustm_port_simsock_set_timeout(h, 300), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    assert_int_equal(write(cfd, "\0", 1), 1);
    assert_int_equal(read4(&port), BUS(TMA_C_TIMEOUT));
    /* the request went out whole before the port gave up */
    assert_int_equal(read(cfd, req, sizeof req), 4);
    assert_int_equal(req[0], 0x02);
    assert_int_equal(req[1], 0x30);
    assert_int_equal(req[3], 4);
    close(cfd);
    trustm_port_close(h);
    peer_close(&p);
}

/* A peer that closes: I/O error at once, not a timeout. */
static void test_simsock_closing_peer_is_io(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    int cfd;
    double t0;
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    close(cfd);
    t0 = now_s();
    assert_int_equal(read4(&port), BUS(TMA_C_IO));
    assert_true(now_s() - t0 < 5.0);
    trustm_port_close(h);
    peer_close(&p);
}

static void test_simsock_set_timeout_params(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    (void)state;
    assert_int_equal(trustm_port_simsock_set_timeout(NULL, 100), BUS(TMA_C_BAD_PARAM));
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    assert_int_equal(trustm_port_simsock_set_timeout(h, 0), BUS(TMA_C_BAD_PARAM));
    trustm_port_close(h);
    peer_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simsock_silent_peer_times_out),
        cmocka_unit_test(test_simsock_half_reply_times_out),
        cmocka_unit_test(test_simsock_closing_peer_is_io),
        cmocka_unit_test(test_simsock_set_timeout_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
