/* Physical layer: register access over the port, address-NACK retries,
 * guard time, I2C_STATE polling, DATA_REG_LEN negotiation, soft reset
 * (spec section 1). */
#include "stack.h"

void trustm_delay_ms(const struct trustm *t, uint32_t ms)
{
    while (ms) {
        uint32_t k = ms > 1000u ? 1000u : ms;
        t->port->delay_us(t->port->ctx, k * 1000u);
        ms -= k;
    }
}

/* how: TRUSTM_I2C_READ or 0 (the message's flags), | ONCE: no retry. Four
 * arguments: the fifth would go through the stack at every call. */
#define ONCE 0x100u

/* One single-message transfer; an address NACK (chip busy or asleep) is
 * retried with back-off (100 us doubling to 5 ms) for TRUSTM_NACK_TIMEOUT_MS
 * (not with ONCE). Every transaction is followed by the guard time. */
static tma_status xfer(struct trustm *t, unsigned how, uint8_t *buf, size_t len)
{
    const struct trustm_port *p = t->port;
    uint32_t start = p->now_ms(p->ctx);
    uint32_t back = 100;
    for (;;) {
        struct trustm_i2c_msg m;
        tma_status st;
        m.addr = t->addr;
        m.flags = (uint16_t)(how & TRUSTM_I2C_READ);
        m.len = (uint16_t)len;
        m.buf = buf;
        st = p->transfer(p->ctx, &m, 1);
        p->delay_us(p->ctx, TRUSTM_GUARD_US);
        if (st == TMA_OK) {
            return TMA_OK;
        }
        if (st != TRUSTM_ST(BUS, NACK)) {
            return TMA_STATUS_LAYER(st) == TMA_LAYER_BUS ? st : TRUSTM_ST(BUS, IO);
        }
        if ((how & ONCE) || (uint32_t)(p->now_ms(p->ctx) - start) >= TRUSTM_NACK_TIMEOUT_MS) {
            return st;
        }
        p->delay_us(p->ctx, back);
        back = back >= 2500u ? 5000u : back * 2u;
    }
}

tma_status trustm_phys_write(struct trustm *t, uint8_t *buf, size_t len)
{
    return xfer(t, 0, buf, len);
}

/* Register read: write the address, STOP, then a separate read (no
 * repeated start); reg | ONCE: no retry. */
static tma_status rd(struct trustm *t, unsigned reg, uint8_t *out, size_t len)
{
    uint8_t r = (uint8_t)reg;
    unsigned once = reg & ONCE;
    tma_status st = xfer(t, once, &r, 1);
    return st ? st : xfer(t, once | TRUSTM_I2C_READ, out, len);
}

int32_t trustm_phys_poll(struct trustm *t)
{
    uint8_t s[4];
    uint16_t len;
    tma_status st = rd(t, TRUSTM_REG_I2C_STATE | ONCE, s, 4);
    if (st == TRUSTM_ST(BUS, NACK)) {
        return 0; /* busy: not ready yet */
    }
    if (st) {
        return st;
    }
    len = (uint16_t)((s[2] << 8) | s[3]);
    t->busy = (uint8_t)(s[0] >> 7);
    if (!(s[0] & 0x40u)) {
        return 0;
    }
    /* A frame longer than negotiated cannot be valid: read what fits, the
     * link layer then NAKs it. */
    if (len > t->frame_size) {
        len = t->frame_size;
    }
    st = len ? rd(t, TRUSTM_REG_DATA, t->rx, len) : TMA_OK;
    return st ? st : (int32_t)len;
}

tma_status trustm_phys_start(struct trustm *t, int soft)
{
    uint8_t b[4];
    uint16_t v;
    tma_status st;
    if (soft) {
        st = rd(t, TRUSTM_REG_I2C_STATE, b, 4);
        if (st) {
            return st;
        }
        if (!(b[0] & 0x08u)) {
            return TRUSTM_ST(BUS, UNSUPPORTED);
        }
        b[0] = TRUSTM_REG_SOFT_RESET;
        b[1] = 0;
        b[2] = 0;
        st = trustm_phys_write(t, b, 3);
        if (st) {
            return st;
        }
        trustm_delay_ms(t, TRUSTM_STARTUP_MS);
    }
    b[0] = TRUSTM_REG_DATA_REG_LEN;
    b[1] = (uint8_t)(t->want_frame >> 8);
    b[2] = (uint8_t)t->want_frame;
    st = trustm_phys_write(t, b, 3);
    if (st == TMA_OK) {
        st = rd(t, TRUSTM_REG_DATA_REG_LEN, b, 2);
    }
    if (st) {
        return st;
    }
    v = (uint16_t)((b[0] << 8) | b[1]);
    if (v < TRUSTM_FRAME_MIN || v > t->want_frame) {
        return TRUSTM_ST(BUS, MALFORMED);
    }
    t->frame_size = v;
    return TMA_OK;
}
