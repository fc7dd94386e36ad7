/* The trustm-sim socket port against peers that are not a simulator: one
 * that accepts and never answers, one that answers half a reply, one that
 * closes. Each transfer ends with a clear status in bounded time; after a
 * timeout the connection is not reused (a late reply must not be taken for
 * the next answer). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock() */
#define _GNU_SOURCE     /* RTLD_NEXT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tma/host_file.h"
#include "trustm/port_open.h"
#include "trustm/trustm.h"

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

/* ---- the address forms (coverage run: none of these ran) ------------------ */

/* A TCP listener on every local address (0.0.0.0), port chosen by the
 * kernel: whatever the port connects to, it would accept. */
static int tcp_listen_any(int *out_port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *out_port = ntohs(sa.sin_port);
    return fd;
}

/* 1 if a connection is waiting on the listener within ms. */
static int pending(int lfd, int ms)
{
    struct pollfd pf = {lfd, POLLIN, 0};
    return poll(&pf, 1, ms) == 1 && (pf.revents & POLLIN) != 0;
}

/* The simulator speaks an unauthenticated protocol that can drive the whole
 * chip (write keys' metadata, sign): a "tcp:" address that is not the
 * loopback host is refused before any packet leaves, even one the kernel
 * would route to this machine (127.0.0.2, 0.0.0.0). */
static void test_simsock_tcp_is_loopback_only(void **state)
{
    static const char *const refused[] = {"127.0.0.2", "0.0.0.0", "127.1", "LOCALHOST",
                                          "localhost.", "10.1.2.3", "::ffff:127.0.0.1"};
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    char where[128];
    int port_no, lfd, cfd;
    size_t i;
    (void)state;
    lfd = tcp_listen_any(&port_no);

    /* the control: the same listener is reachable by the allowed names */
    snprintf(where, sizeof where, "127.0.0.1:%d", port_no);
    assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), TMA_OK);
    assert_true(pending(lfd, 2000));
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    close(cfd);
    trustm_port_close(h);
    snprintf(where, sizeof where, "tcp:localhost:%d", port_no);
    h = NULL;
    assert_int_equal(trustm_port_open(where, &port, &h), TMA_OK);
    assert_true(pending(lfd, 2000));
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    close(cfd);
    trustm_port_close(h);

    for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(where, sizeof where, "%s:%d", refused[i], port_no);
        h = (struct trustm_port_handle *)&port; /* must not be written on failure */
        errno = 0;
        assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), BUS(TMA_C_IO));
        assert_int_equal(errno, EINVAL);
        assert_ptr_equal(h, (struct trustm_port_handle *)&port);
        /* and through the device string the CLI and samples use */
        snprintf(where, sizeof where, "tcp:%s:%d", refused[i], port_no);
        assert_int_equal(trustm_port_open(where, &port, &h), BUS(TMA_C_IO));
        snprintf(where, sizeof where, "sim:%s:%d", refused[i], port_no);
        assert_int_equal(trustm_port_open(where, &port, &h), BUS(TMA_C_IO));
        if (pending(lfd, 100)) {
            fail_msg("'%s' reached the listener", refused[i]);
        }
    }
    close(lfd);
}

/* Malformed and unreachable addresses: an I/O status, never a hang. */
static void test_simsock_bad_addresses(void **state)
{
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    char where[400];
    int port_no, lfd;
    (void)state;
    /* nothing listening any more on a port that was just free */
    lfd = tcp_listen_any(&port_no);
    close(lfd);
    snprintf(where, sizeof where, "127.0.0.1:%d", port_no);
    assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), BUS(TMA_C_IO));
    /* a service name that does not resolve */
    assert_int_equal(trustm_port_simsock_open("localhost:no-such-service-x", false, &port, &h),
                     BUS(TMA_C_IO));
    /* empty host part; host part longer than any loopback name */
    assert_int_equal(trustm_port_simsock_open(":7000", false, &port, &h), BUS(TMA_C_IO));
    memset(where, 'a', 100);
    snprintf(where + 100, sizeof where - 100, ":7000");
    assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), BUS(TMA_C_IO));
    /* a Unix path that leaves no room for sun_path's NUL: refused, not cut
     * to another path */
    where[0] = '/';
    memset(where + 1, 'p', sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    where[sizeof(((struct sockaddr_un *)0)->sun_path)] = '\0';
    errno = 0;
    assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), BUS(TMA_C_IO));
    assert_int_equal(errno, ENAMETOOLONG);
    /* a Unix path nobody listens on; NULL and empty */
    assert_int_equal(trustm_port_simsock_open("/nonexistent/trustm.sock", false, &port, &h),
                     BUS(TMA_C_IO));
    assert_int_equal(trustm_port_simsock_open("", false, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_simsock_open(NULL, false, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_simsock_open("/x", false, NULL, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_simsock_open("/x", false, &port, NULL), BUS(TMA_C_BAD_PARAM));
}

/* Reply framing: a reply longer than what was asked, or shorter, is an I/O
 * error; and the stream is not read out of step afterwards - the bytes of a
 * rejected reply must never be taken for the answer to the next request. */
static void test_simsock_reply_length_mismatch(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    uint8_t req[4], b[4];
    struct trustm_i2c_msg m;
    int cfd;
    /* status 0, 8 data bytes (asked: 4); the data looks like a whole reply */
    static const uint8_t long_reply[] = {0x00, 0x00, 0x08, 0x00, 0x00, 0x04,
                                         0xDE, 0xAD, 0xBE, 0xEF, 0x00};
    static const uint8_t short_reply[] = {0x00, 0x00, 0x02, 0x11, 0x22};
    static const uint8_t good_reply[] = {0x00, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04};
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    assert_int_equal(trustm_port_simsock_set_timeout(h, 500), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    m.addr = 0x30;
    m.flags = TRUSTM_I2C_READ;
    m.len = sizeof b;
    m.buf = b;

    /* short reply first: the stream stays in step (all its bytes are read) */
    assert_int_equal(write(cfd, short_reply, sizeof short_reply), (ssize_t)sizeof short_reply);
    assert_int_equal(port.transfer(port.ctx, &m, 1), BUS(TMA_C_IO));
    assert_int_equal(read(cfd, req, sizeof req), 4);
    assert_int_equal(write(cfd, good_reply, sizeof good_reply), (ssize_t)sizeof good_reply);
    memset(b, 0, sizeof b);
    assert_int_equal(port.transfer(port.ctx, &m, 1), TMA_OK);
    assert_memory_equal(b, good_reply + 3, 4);
    assert_int_equal(read(cfd, req, sizeof req), 4);

    /* long reply: refused, and then the connection is not trusted again */
    assert_int_equal(write(cfd, long_reply, sizeof long_reply), (ssize_t)sizeof long_reply);
    assert_int_equal(port.transfer(port.ctx, &m, 1), BUS(TMA_C_IO));
    (void)send(cfd, good_reply, sizeof good_reply, MSG_NOSIGNAL); /* may meet the shutdown */
    memset(b, 0, sizeof b);
    if (port.transfer(port.ctx, &m, 1) == TMA_OK) {
        fail_msg("after a refused long reply the next read returned %02x %02x %02x %02x", b[0],
                 b[1], b[2], b[3]);
    }
    /* a transfer that is not one message, or without a buffer */
    assert_int_equal(port.transfer(port.ctx, &m, 2), BUS(TMA_C_BAD_PARAM));
    m.buf = NULL;
    assert_int_equal(port.transfer(port.ctx, &m, 1), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(port.transfer(port.ctx, NULL, 1), BUS(TMA_C_BAD_PARAM));
    close(cfd);
    trustm_port_close(h);
    peer_close(&p);
}

/* ---- the other host ports (coverage run: these paths never ran) ---------- */

/* The device lock is re-entrant within a handle (lock twice, one unlock
 * frees it) and excludes every other opener of the same device. */
static void test_port_lock_reentry(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    char dir[64], lock[300];
    int fd;
    (void)state;
    strcpy(dir, "/tmp/tma_lockdir_XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(setenv("TRUSTM_LOCK_DIR", dir, 1), 0);
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    alarm(20); /* a lock that waits for itself would hang: fail instead */
    port.lock(port.ctx);
    port.lock(port.ctx);
    alarm(0);
    /* the lock file is named after the device, sanitised */
    {
        char clean[160];
        size_t i;
        for (i = 0; p.path[i] != '\0'; i++) {
            char c = p.path[i];
            clean[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                           ? c : '_';
        }
        clean[i] = '\0';
        snprintf(lock, sizeof lock, "%s/trustm-%s.lock", dir, clean);
    }
    fd = open(lock, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    port.unlock(port.ctx);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(flock(fd, LOCK_UN), 0);
    port.unlock(port.ctx); /* twice is harmless */
    close(fd);
    trustm_port_close(h);
    peer_close(&p);
    unlink(lock);
    rmdir(dir);
    unsetenv("TRUSTM_LOCK_DIR");
}

/* Device strings: a /dev path longer than the port's buffer is a bad
 * parameter (one byte shorter reaches open() and fails there); address
 * forms; unknown kinds. */
static void test_port_open_device_strings(void **state)
{
    struct trustm_port port;
    struct trustm_port_handle *h = (struct trustm_port_handle *)&port;
    char dev[400];
    (void)state;
    memcpy(dev, "/dev/", 5);
    memset(dev + 5, 'x', 251);
    strcpy(dev + 256, "@0x30"); /* path part: 256 characters */
    assert_int_equal(trustm_port_open(dev, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_null(h);
    strcpy(dev + 255, "@0x30"); /* 255: fits, does not exist */
    assert_int_equal(trustm_port_open(dev, &port, &h), BUS(TMA_C_IO));
    memset(dev + 5, 'x', 300);
    dev[305] = '\0'; /* no address part, 305 characters */
    assert_int_equal(trustm_port_open(dev, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("/dev/null@0x80", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("/dev/null@", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("/dev/null@0x3g", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("sim:", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("tcp:", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("i2c-1", &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open(NULL, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("sim", NULL, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_open("sim", &port, NULL), BUS(TMA_C_BAD_PARAM));
    trustm_port_close(NULL);
}

/* The i2c-dev port on a file that is not an I2C adapter: it opens (open()
 * cannot tell), and a transfer's ioctl fails with ENOTTY, which is an I/O
 * error - not an address NACK the driver would retry for ever. Transfers of
 * more than one message or to a 10-bit address are refused first. */
static void test_i2cdev_port_on_a_plain_file(void **state)
{
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    char path[64];
    uint8_t b[4] = {0};
    struct trustm_i2c_msg m[2];
    int fd;
    (void)state;
    strcpy(path, "/tmp/tma_i2c_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(trustm_port_i2cdev_open(path, 0x80, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_i2cdev_open(NULL, 0x30, &port, &h), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(trustm_port_i2cdev_open("/nonexistent/i2c-9", 0x30, &port, &h),
                     BUS(TMA_C_IO));
    assert_int_equal(trustm_port_i2cdev_open(path, 0x30, &port, &h), TMA_OK);
    m[0].addr = 0x30;
    m[0].flags = TRUSTM_I2C_READ;
    m[0].len = sizeof b;
    m[0].buf = b;
    m[1] = m[0];
    assert_int_equal(port.transfer(port.ctx, m, 1), BUS(TMA_C_IO));
    assert_int_equal(port.transfer(port.ctx, m, 2), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(port.transfer(port.ctx, m, 0), BUS(TMA_C_BAD_PARAM));
    m[0].addr = 0x80;
    assert_int_equal(port.transfer(port.ctx, m, 1), BUS(TMA_C_BAD_PARAM));
    m[0].addr = 0x30;
    m[0].buf = NULL;
    assert_int_equal(port.transfer(port.ctx, m, 1), BUS(TMA_C_BAD_PARAM));
    assert_int_equal(port.transfer(port.ctx, NULL, 1), BUS(TMA_C_BAD_PARAM));
    trustm_port_close(h);
    unlink(path);
}

/* Two paths naming the same file: the cases of files that do not exist
 * yet, in a folder directly under / and in a folder that does not exist. */
static void test_host_same_file(void **state)
{
    char dir[64], a[128], b[128];
    int fd;
    (void)state;
    strcpy(dir, "/tmp/tma_same_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/f", dir);
    snprintf(b, sizeof b, "%s/../%s/f", dir, dir + 5);
    /* neither exists: same canonical folder and name */
    assert_true(tma_host_same_file(a, b));
    assert_false(tma_host_same_file(a, "/tmp/tma_same_other/f"));
    /* directly under /: folder "/" */
    assert_true(tma_host_same_file("/tma-no-such-file-x", "/tmp/../tma-no-such-file-x"));
    assert_false(tma_host_same_file("/tma-no-such-file-x", "/tma-no-such-file-y"));
    /* a folder that does not exist resolves to nothing: not "the same" */
    assert_false(tma_host_same_file("/tma-no-such-dir/x", "/tma-no-such-dir/x"));
    /* relative name: the current folder */
    assert_false(tma_host_same_file("tma-no-such-file-z", "/tma-no-such-file-z"));
    /* one exists, the other not; both exist (hard link); NULL */
    fd = open(a, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(b, sizeof b, "%s/g", dir);
    assert_false(tma_host_same_file(a, b));
    assert_int_equal(link(a, b), 0);
    assert_true(tma_host_same_file(a, b));
    assert_false(tma_host_same_file(a, NULL));
    assert_false(tma_host_same_file(NULL, a));
    unlink(a);
    unlink(b);
    rmdir(dir);
}

/* Time over the socket port. Virtual (the default): delay_us does not
 * sleep, now_ms advances by exactly the delay, and the delay reaches the
 * daemon as one OP_SLEEP (0x07, 4-byte big-endian microseconds) before the
 * next transfer - except a lone guard time, which the simulator accounts
 * itself. Realtime: delay_us sleeps and now_ms is the monotonic clock. */
static void test_simsock_virtual_and_real_time(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    uint8_t req[8], b[4];
    static const uint8_t ok_empty[] = {0x00, 0x00, 0x00};
    static const uint8_t ok_read[] = {0x00, 0x00, 0x04, 9, 8, 7, 6};
    uint32_t t0;
    double s0;
    int cfd;
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    t0 = port.now_ms(port.ctx);
    s0 = now_s();
    port.delay_us(port.ctx, 5000000u); /* 5 s of chip time */
    assert_true(now_s() - s0 < 1.0);
    assert_int_equal(port.now_ms(port.ctx) - t0, 5000);
    /* the next transfer first sends the sleep */
    assert_int_equal(write(cfd, ok_empty, 3), 3);
    assert_int_equal(write(cfd, ok_read, sizeof ok_read), (ssize_t)sizeof ok_read);
    assert_int_equal(read4(&port), TMA_OK);
    assert_int_equal(read(cfd, req, 8), 8);
    assert_int_equal(req[0], 0x07);
    assert_int_equal(req[2], 0);
    assert_int_equal(req[3], 4);
    assert_int_equal((uint32_t)req[4] << 24 | (uint32_t)req[5] << 16 | (uint32_t)req[6] << 8 | req[7],
                     5000000u);
    assert_int_equal(read(cfd, req, 4), 4);
    assert_int_equal(req[0], 0x02);
    /* a lone guard time is not sent */
    port.delay_us(port.ctx, TRUSTM_GUARD_US);
    assert_int_equal(write(cfd, ok_read, sizeof ok_read), (ssize_t)sizeof ok_read);
    assert_int_equal(read4(&port), TMA_OK);
    assert_int_equal(read(cfd, req, 4), 4);
    assert_int_equal(req[0], 0x02);
    close(cfd);
    trustm_port_close(h);

    /* realtime */
    h = NULL;
    assert_int_equal(trustm_port_simsock_open(p.path, true, &port, &h), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    t0 = port.now_ms(port.ctx);
    s0 = now_s();
    port.delay_us(port.ctx, 50000u);
    assert_true(now_s() - s0 >= 0.045);
    assert_true(port.now_ms(port.ctx) - t0 >= 45);
    /* nothing owed to the daemon: the read goes out alone */
    assert_int_equal(write(cfd, ok_read, sizeof ok_read), (ssize_t)sizeof ok_read);
    memset(b, 0, sizeof b);
    assert_int_equal(read4(&port), TMA_OK);
    assert_int_equal(read(cfd, req, 4), 4);
    assert_int_equal(req[0], 0x02);
    close(cfd);
    trustm_port_close(h);
    peer_close(&p);
}

/* Resets on the wire: cold = OP_POWER (04), warm = OP_WARM (03), each after
 * the virtual time still owed; soft is the driver's job (a register write),
 * so the port refuses it without sending anything; a daemon that answers
 * with an error status fails the reset. */
static void test_simsock_reset_kinds(void **state)
{
    struct peer p;
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    uint8_t req[8];
    static const uint8_t ok_empty[] = {0x00, 0x00, 0x00};
    static const uint8_t bad_empty[] = {0x05, 0x00, 0x00};
    int cfd;
    (void)state;
    peer_listen(&p);
    assert_int_equal(trustm_port_simsock_open(p.path, false, &port, &h), TMA_OK);
    cfd = accept(p.lfd, NULL, NULL);
    assert_true(cfd >= 0);
    assert_int_equal(port.reset(port.ctx, TRUSTM_RESET_SOFT), BUS(TMA_C_BAD_PARAM));
    port.delay_us(port.ctx, 1000u);
    assert_int_equal(write(cfd, ok_empty, 3), 3);
    assert_int_equal(write(cfd, ok_empty, 3), 3);
    assert_int_equal(port.reset(port.ctx, TRUSTM_RESET_COLD), TMA_OK);
    /* the owed millisecond first (even below the transfer threshold), then the power cycle */
    assert_int_equal(read(cfd, req, 8), 8);
    assert_int_equal(req[0], 0x07);
    assert_int_equal((uint32_t)req[6] << 8 | req[7], 1000u);
    assert_int_equal(read(cfd, req, 4), 4);
    assert_int_equal(req[0], 0x04);
    assert_int_equal(req[2], 0);
    assert_int_equal(req[3], 0);
    port.delay_us(port.ctx, TRUSTM_GUARD_US);
    assert_int_equal(write(cfd, ok_empty, 3), 3);
    assert_int_equal(write(cfd, ok_empty, 3), 3);
    assert_int_equal(port.reset(port.ctx, TRUSTM_RESET_WARM), TMA_OK);
    assert_int_equal(read(cfd, req, 8), 8);
    assert_int_equal(req[0], 0x07);
    assert_int_equal(req[7], TRUSTM_GUARD_US);
    assert_int_equal(read(cfd, req, 4), 4);
    assert_int_equal(req[0], 0x03);
    assert_int_equal(write(cfd, bad_empty, 3), 3);
    assert_int_equal(port.reset(port.ctx, TRUSTM_RESET_WARM), BUS(TMA_C_IO));
    close(cfd);
    trustm_port_close(h);
    peer_close(&p);
}

/* ---- what "localhost" resolves to ------------------------------------------ */

/* getaddrinfo() of this program: the real one unless a test scripts the
 * answer for "localhost" (the resolver is the host's, e.g. /etc/hosts, so
 * the port must cope with what it says). Nodes are single allocations, as
 * glibc's freeaddrinfo() expects. */
static const char *gai_script; /* NULL: real; else a list "4:127.0.0.1,6:::1" */

static struct addrinfo *gai_node(const char *spec, const char *service)
{
    struct addrinfo *a = calloc(1, sizeof(struct addrinfo) + sizeof(struct sockaddr_in6));
    int port = atoi(service);
    assert_non_null(a);
    a->ai_socktype = SOCK_STREAM;
    a->ai_protocol = IPPROTO_TCP;
    a->ai_addr = (struct sockaddr *)(void *)(a + 1);
    if (spec[0] == '4') {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)a->ai_addr;
        a->ai_family = AF_INET;
        a->ai_addrlen = sizeof *in;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, spec + 2, &in->sin_addr), 1);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)a->ai_addr;
        a->ai_family = AF_INET6;
        a->ai_addrlen = sizeof *in6;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, spec + 2, &in6->sin6_addr), 1);
    }
    return a;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (gai_script == NULL || node == NULL || strcmp(node, "localhost") != 0) {
        int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
        return real(node, service, hints, res);
    }
    {
        char list[128], *tok, *save = NULL;
        struct addrinfo *head = NULL, **tail = &head;
        snprintf(list, sizeof list, "%s", gai_script);
        for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            *tail = gai_node(tok, service);
            tail = &(*tail)->ai_next;
        }
        *res = head;
        return 0;
    }
}

/* "localhost" with ::1 first (Debian's /etc/hosts) while the daemon listens
 * on 127.0.0.1 only: the port tries the next address. And a resolver that
 * maps "localhost" somewhere else is not followed off the machine. */
static void test_simsock_localhost_every_loopback_address(void **state)
{
    struct trustm_port port;
    struct trustm_port_handle *h = NULL;
    char where[64];
    int port_no, lfd, cfd;
    (void)state;
    lfd = tcp_listen_any(&port_no); /* IPv4 only */
    snprintf(where, sizeof where, "localhost:%d", port_no);
    gai_script = "6:::1,4:127.0.0.1";
    {
        tma_status st = trustm_port_simsock_open(where, false, &port, &h);
        gai_script = NULL;
        assert_int_equal(st, TMA_OK);
    }
    assert_true(pending(lfd, 2000));
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    close(cfd);
    trustm_port_close(h);
    /* "localhost" told to be 10.1.2.3, or a non-loopback IPv6 before a
     * loopback one: only the loopback one is used */
    gai_script = "4:10.1.2.3";
    errno = 0;
    assert_int_equal(trustm_port_simsock_open(where, false, &port, &h), BUS(TMA_C_IO));
    assert_int_equal(errno, EINVAL);
    gai_script = "6:2001:db8::1,6:::ffff:127.0.0.1";
    h = NULL;
    {
        tma_status st = trustm_port_simsock_open(where, false, &port, &h);
        gai_script = NULL;
        assert_int_equal(st, TMA_OK);
    }
    assert_true(pending(lfd, 2000));
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    close(cfd);
    trustm_port_close(h);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simsock_silent_peer_times_out),
        cmocka_unit_test(test_simsock_half_reply_times_out),
        cmocka_unit_test(test_simsock_closing_peer_is_io),
        cmocka_unit_test(test_simsock_set_timeout_params),
        cmocka_unit_test(test_simsock_tcp_is_loopback_only),
        cmocka_unit_test(test_simsock_bad_addresses),
        cmocka_unit_test(test_simsock_reply_length_mismatch),
        cmocka_unit_test(test_port_lock_reentry),
        cmocka_unit_test(test_port_open_device_strings),
        cmocka_unit_test(test_i2cdev_port_on_a_plain_file),
        cmocka_unit_test(test_host_same_file),
        cmocka_unit_test(test_simsock_virtual_and_real_time),
        cmocka_unit_test(test_simsock_reset_kinds),
        cmocka_unit_test(test_simsock_localhost_every_loopback_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
