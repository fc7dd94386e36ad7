/* trustm CLI: opening a device. "sim" = simulator in this process with a
 * state file; "sim:/path.sock" = the trustm-sim daemon over its Unix socket
 * (docs/sim-socket-protocol.md); "/dev/i2c-N[@0xAA]" = Linux i2c-dev. */
#include "trustm.h"

#include "trustm/crypto_ops.h"
#include "trustm_sim/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct globals g;

static void host_delay_us(void *ctx, uint32_t us)
{
    struct timespec ts;
    (void)ctx;
    ts.tv_sec = us / 1000000u;
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t host_now_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* ---- simulator daemon over its socket ------------------------------------ */

static int full_io(int fd, uint8_t *p, size_t n, int wr)
{
    while (n > 0) {
        ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One request/reply. Returns the reply status byte, or -1 on I/O error. */
static int sock_req(int fd, uint8_t op, uint8_t addr, const uint8_t *data, uint16_t len,
                    uint16_t want, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t hdr[4];
    uint8_t rh[3];
    size_t rl;
    hdr[0] = op;
    hdr[1] = addr;
    hdr[2] = (uint8_t)((op == 0x02 ? want : len) >> 8);
    hdr[3] = (uint8_t)(op == 0x02 ? want : len);
    if (full_io(fd, hdr, 4, 1) != 0 || (op != 0x02 && len > 0 && full_io(fd, (uint8_t *)data, len, 1) != 0) ||
        full_io(fd, rh, 3, 0) != 0) {
        return -1;
    }
    rl = ((size_t)rh[1] << 8) | rh[2];
    if (rl > cap) {
        return -1;
    }
    if (rl > 0 && full_io(fd, out, rl, 0) != 0) {
        return -1;
    }
    if (out_len != NULL) {
        *out_len = rl;
    }
    return rh[0];
}

static tma_status sock_transfer(void *ctx, struct trustm_i2c_msg *msgs, size_t n)
{
    struct dev *d = ctx;
    uint8_t buf[1024];
    size_t got = 0;
    int rc;
    if (n != 1 || msgs[0].len > sizeof(buf)) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    if (msgs[0].flags & TRUSTM_I2C_READ) {
        rc = sock_req(d->fd, 0x02, (uint8_t)msgs[0].addr, NULL, 0, msgs[0].len, buf, sizeof(buf), &got);
        if (rc == 0 && got == msgs[0].len) {
            memcpy(msgs[0].buf, buf, got);
        } else if (rc == 0) {
            return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
        }
    } else {
        rc = sock_req(d->fd, 0x01, (uint8_t)msgs[0].addr, msgs[0].buf, msgs[0].len, 0, buf,
                      sizeof(buf), &got);
    }
    if (rc == 0) {
        return TMA_OK;
    }
    if (rc == 1) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    }
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
}

/* The daemon's virtual clock only moves with bus traffic, so waits are sent
 * to it (op 0x07, sim/sock.c) instead of sleeping here; the host clock then
 * counts them too, so libtrustm's timeouts follow the chip's time. A daemon
 * without op 0x07 (or in real time) gets a real sleep. */
static void sock_delay_us(void *ctx, uint32_t us)
{
    struct dev *d = ctx;
    uint8_t v[4];
    uint8_t buf[16];
    v[0] = (uint8_t)(us >> 24);
    v[1] = (uint8_t)(us >> 16);
    v[2] = (uint8_t)(us >> 8);
    v[3] = (uint8_t)us;
    if (!d->no_sleep_op && sock_req(d->fd, 0x07, d->addr, v, 4, 0, buf, sizeof(buf), NULL) == 0) {
        d->virt_us += us;
        return;
    }
    d->no_sleep_op = true;
    host_delay_us(ctx, us);
}

static uint32_t sock_now_ms(void *ctx)
{
    struct dev *d = ctx;
    return host_now_ms(ctx) + (uint32_t)(d->virt_us / 1000u);
}

static tma_status sock_reset(void *ctx, enum trustm_reset_kind kind)
{
    struct dev *d = ctx;
    uint8_t buf[64];
    int rc = sock_req(d->fd, kind == TRUSTM_RESET_COLD ? 0x04 : 0x03, d->addr, NULL, 0, 0, buf,
                      sizeof(buf), NULL);
    return rc == 0 ? TMA_OK : TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
}

static int open_socket(struct dev *d, const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return fail("socket path too long: %s", path);
    }
    strcpy(sa.sun_path, path);
    d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        if (d->fd >= 0) {
            close(d->fd);
            d->fd = -1;
        }
        return fail("cannot reach the simulator at '%s': %s (is trustm-sim running?)", path,
                    strerror(e));
    }
    memset(&d->port, 0, sizeof(d->port));
    d->port.ctx = d;
    d->port.transfer = sock_transfer;
    d->port.delay_us = sock_delay_us;
    d->port.now_ms = sock_now_ms;
    d->port.reset = sock_reset;
    return 0;
}

/* ---- Linux i2c-dev ------------------------------------------------------- */

static tma_status i2c_transfer(void *ctx, struct trustm_i2c_msg *msgs, size_t n)
{
    struct dev *d = ctx;
    struct i2c_msg m;
    struct i2c_rdwr_ioctl_data x;
    if (n != 1) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    m.addr = msgs[0].addr;
    m.flags = (msgs[0].flags & TRUSTM_I2C_READ) ? I2C_M_RD : 0;
    m.len = msgs[0].len;
    m.buf = msgs[0].buf;
    x.msgs = &m;
    x.nmsgs = 1;
    if (ioctl(d->fd, I2C_RDWR, &x) < 0) {
        /* The chip NACKs its address while busy: ENXIO / EREMOTEIO. */
        return (errno == ENXIO || errno == EREMOTEIO || errno == EAGAIN)
                   ? TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK)
                   : TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
    return TMA_OK;
}

static void i2c_lock(void *ctx)
{
    struct dev *d = ctx;
    while (flock(d->fd, LOCK_EX) != 0 && errno == EINTR) {
    }
}

static void i2c_unlock(void *ctx)
{
    struct dev *d = ctx;
    (void)flock(d->fd, LOCK_UN);
}

static int open_i2c(struct dev *d, const char *spec)
{
    char path[256];
    const char *at = strchr(spec, '@');
    size_t n = at != NULL ? (size_t)(at - spec) : strlen(spec);
    if (n >= sizeof(path)) {
        return fail("device path too long: %s", spec);
    }
    memcpy(path, spec, n);
    path[n] = 0;
    if (at != NULL) {
        unsigned long a;
        if (parse_uint(at + 1, 0x08, 0x77, &a) != 0) {
            return fail("bad I2C address in '%s' (7-bit, e.g. @0x30)", spec);
        }
        d->addr = (uint8_t)a;
    }
    d->fd = open(path, O_RDWR | O_CLOEXEC);
    if (d->fd < 0) {
        return fail("cannot open '%s': %s", path, strerror(errno));
    }
    memset(&d->port, 0, sizeof(d->port));
    d->port.ctx = d;
    d->port.transfer = i2c_transfer;
    d->port.delay_us = host_delay_us;
    d->port.now_ms = host_now_ms;
    d->port.lock = i2c_lock;
    d->port.unlock = i2c_unlock;
    return 0;
}

/* ---- in-process simulator ------------------------------------------------ */

static int open_sim(struct dev *d)
{
    struct trustm_sim_config cfg;
    tma_status st;
    const char *state = g.state != NULL ? g.state : getenv("TRUSTM_SIM_STATE");
    if (state == NULL || *state == '\0') {
        state = "trustm-sim.state";
    }
    trustm_sim_config_default(&cfg);
    cfg.state_path = state;
    st = trustm_sim_create(&cfg, &d->sim);
    if (st != TMA_OK) {
        return fail_st(st, "cannot start the simulator with state file '%s'", state);
    }
    trustm_sim_port(d->sim, &d->port);
    return 0;
}

/* ---- session --------------------------------------------------------------- */

static int load_binding(struct dev *d)
{
    uint8_t *secret = NULL;
    size_t len = 0;
    tma_status st;
    struct stat sb;
    if (g.binding == NULL) {
        return 0;
    }
    if (stat(g.binding, &sb) != 0) {
        return fail("binding file '%s': %s", g.binding, strerror(errno));
    }
    if ((sb.st_mode & 077) != 0) {
        return fail("binding file '%s' is readable by others (chmod 600 it)", g.binding);
    }
    if (read_file(g.binding, &secret, &len, TRUSTM_PBS_MAX) != 0) {
        return 1;
    }
    if (len == 0) {
        free(secret);
        return fail("binding file '%s' is empty", g.binding);
    }
    st = trustm_shield_set_secret(&d->chip, trustm_crypto_mbedtls(), secret, len);
    mbedtls_platform_zeroize(secret, len);
    free(secret);
    if (st != TMA_OK) {
        return fail_st(st, "cannot use the binding secret");
    }
    d->protect = TRUSTM_PROTECT_BOTH;
    return 0;
}

int dev_open(struct dev *d)
{
    const char *spec = g.device;
    struct trustm_cfg cfg;
    tma_status st;
    int rc;

    memset(d, 0, sizeof(*d));
    d->fd = -1;
    d->lock_fd = -1;
    d->addr = TRUSTM_DEFAULT_ADDR;
    if (spec == NULL) {
        spec = getenv("TRUSTM_DEVICE");
    }
    if (spec == NULL || *spec == '\0') {
        spec = "sim";
    }
    snprintf(d->what, sizeof(d->what), "%s", spec);
    if (strcmp(spec, "sim") == 0) {
        rc = open_sim(d);
    } else if (strncmp(spec, "sim:", 4) == 0 && spec[4] != '\0') {
        rc = open_socket(d, spec + 4);
    } else if (strncmp(spec, "/dev/", 5) == 0) {
        rc = open_i2c(d, spec);
    } else {
        return fail("unknown device '%s' (use sim, sim:/path.sock or /dev/i2c-N[@0x30])", spec);
    }
    if (rc != 0) {
        dev_close(d);
        return 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = d->addr;
    st = trustm_init(&d->chip, &d->port, &cfg);
    if (st == TMA_OK) {
        st = trustm_open(&d->chip);
    }
    if (st != TMA_OK) {
        dev_close(d);
        return fail_st(st, "no chip answers on %s", d->what);
    }
    d->open = true;
    if (load_binding(d) != 0) {
        dev_close(d);
        return 1;
    }
    st = trustm_open_app(&d->chip, d->protect, NULL);
    if (st != TMA_OK) {
        dev_close(d);
        return fail_st(st, "cannot open the chip application on %s", d->what);
    }
    return 0;
}

void dev_close(struct dev *d)
{
    if (d->open) {
        (void)trustm_close(&d->chip);
        trustm_deinit(&d->chip);
        d->open = false;
    }
    if (d->sim != NULL) {
        trustm_sim_destroy(d->sim);
        d->sim = NULL;
    }
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
}
