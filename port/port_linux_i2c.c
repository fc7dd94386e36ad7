/* libtrustm port: Linux i2c-dev (/dev/i2c-N) with I2C_RDWR, one message per
 * transfer (the Trust M supports no repeated start). The adapter reports an
 * address NACK as EREMOTEIO (most drivers), ENXIO or EIO: all map to
 * TMA_C_NACK so the driver retries; anything else is TMA_C_IO. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "port_int.h"

static tma_status xfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct trustm_port_handle *h = ctx;
    struct i2c_msg im;
    struct i2c_rdwr_ioctl_data rw;
    if (n != 1 || !m || (m->len && !m->buf) || m->addr > 0x7F) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    /* The address comes from the device string ("/dev/i2c-1@0x30"): the
     * port owns the bus topology, whatever trustm_cfg.addr says. */
    im.addr = h->addr;
    im.flags = (m->flags & TRUSTM_I2C_READ) ? I2C_M_RD : 0;
    im.len = m->len;
    im.buf = m->buf;
    rw.msgs = &im;
    rw.nmsgs = 1;
    for (;;) {
        if (ioctl(h->fd, I2C_RDWR, &rw) >= 0) {
            return TMA_OK;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EREMOTEIO || errno == ENXIO || errno == EIO || errno == EAGAIN) {
            return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
        }
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
}

static void delay_us(void *ctx, uint32_t us)
{
    (void)ctx;
    port_sleep_us(us);
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return (uint32_t)(port_mono_us() / 1000u);
}

tma_status trustm_port_i2cdev_open(const char *path, uint8_t addr, struct trustm_port *out_port,
                                   struct trustm_port_handle **out_handle)
{
    struct trustm_port_handle *h;
    char name[96];
    if (!path || !out_port || !out_handle || addr > 0x7F) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_INTERNAL);
    }
    h->kind = PORT_I2CDEV;
    h->addr = addr;
    h->fd = open(path, O_RDWR | O_CLOEXEC);
    if (h->fd < 0) {
        free(h);
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
    snprintf(name, sizeof name, "%s-%02x", path, addr);
    port_lock_init(h, name);
    memset(out_port, 0, sizeof *out_port);
    out_port->ctx = h;
    out_port->transfer = xfer;
    out_port->delay_us = delay_us;
    out_port->now_ms = now_ms;
    out_port->lock = port_lock;
    out_port->unlock = port_unlock;
    *out_handle = h;
    return TMA_OK;
}

void port_i2cdev_close(struct trustm_port_handle *h)
{
    close(h->fd);
}
