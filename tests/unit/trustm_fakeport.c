#include "trustm_fakeport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tma_test.h"

static uint16_t crc16(const uint8_t *p, size_t n)
{
    /* Independent bitwise CRC-16/KERMIT register (spec 2.3). */
    uint16_t c = 0;
    while (n--) {
        uint8_t b = *p++;
        for (int i = 0; i < 8; i++, b >>= 1) {
            c = ((c ^ b) & 1) ? (uint16_t)((c >> 1) ^ 0x8408) : (uint16_t)(c >> 1);
        }
    }
    return c;
}

void fk_queue(struct fakeport *f, const uint8_t *frame, size_t n)
{
    size_t i = (f->qhead + f->qn) % FK_MAXQ;
    if (f->qn == FK_MAXQ || n > sizeof f->q[0]) {
        fprintf(stderr, "fakeport: queue overflow\n");
        f->mismatch = 1;
        return;
    }
    memcpy(f->q[i], frame, n);
    f->qlen[i] = n;
    f->qn++;
}

static size_t build(uint8_t *b, uint8_t fctr, const uint8_t *pkt, size_t n)
{
    b[0] = fctr;
    b[1] = (uint8_t)(n >> 8);
    b[2] = (uint8_t)n;
    memcpy(b + 3, pkt, n);
    uint16_t c = crc16(b, n + 3);
    b[n + 3] = (uint8_t)(c >> 8);
    b[n + 4] = (uint8_t)c;
    return n + 5;
}

void fk_pre(struct fakeport *f, unsigned idx, uint8_t fctr, const uint8_t *pkt, size_t n)
{
    f->prelen[idx] = build(f->pre[idx], fctr, pkt, n);
}

void fk_pre_hex(struct fakeport *f, unsigned idx, uint8_t fctr, const char *pkt_hex)
{
    uint8_t b[300];
    long n = tma_test_hex(pkt_hex, b, sizeof b);
    if (n < 0) {
        fprintf(stderr, "fakeport: bad hex\n");
        f->mismatch = 1;
        return;
    }
    fk_pre(f, idx, fctr, b, (size_t)n);
}

void fk_queue_frame(struct fakeport *f, uint8_t fctr, const uint8_t *pkt, size_t n)
{
    uint8_t b[300];
    b[0] = fctr;
    b[1] = (uint8_t)(n >> 8);
    b[2] = (uint8_t)n;
    memcpy(b + 3, pkt, n);
    uint16_t c = crc16(b, n + 3);
    b[n + 3] = (uint8_t)(c >> 8);
    b[n + 4] = (uint8_t)c;
    fk_queue(f, b, n + 5);
}

static void host_frame(struct fakeport *f, const uint8_t *p, size_t n)
{
    if (f->nlog < FK_MAXLOG) {
        memcpy(f->log[f->nlog], p, n);
        f->loglen[f->nlog++] = n;
    }
    if (f->lenient) {
        return;
    }
    if (f->pos >= f->nsteps) {
        tma_test_dump("fakeport: unexpected host frame", p, n);
        f->mismatch = 1;
        return;
    }
    const struct fk_step *s = &f->script[f->pos++];
    if (strcmp(s->expect, "*") != 0) {
        uint8_t want[300];
        long w;
        if (s->expect[0] == '@') {
            unsigned i = (unsigned)atoi(s->expect + 1);
            memcpy(want, f->pre[i], f->prelen[i]);
            w = (long)f->prelen[i];
        } else {
            w = tma_test_hex(s->expect, want, sizeof want);
        }
        char label[48];
        snprintf(label, sizeof label, "fakeport step %zu", f->pos - 1);
        if (w < 0 || tma_test_memcmp(label, p, n, want, (size_t)w) != 0) {
            f->mismatch = 1;
        }
    }
    for (int i = 0; i < 4 && s->reply[i]; i++) {
        uint8_t b[300];
        if (s->reply[i][0] == '@') {
            unsigned k = (unsigned)atoi(s->reply[i] + 1);
            fk_queue(f, f->pre[k], f->prelen[k]);
            continue;
        }
        long k = tma_test_hex(s->reply[i], b, sizeof b);
        if (k > 0) {
            fk_queue(f, b, (size_t)k);
        }
    }
}

static tma_status xfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct fakeport *f = ctx;
    if (n != 1 || m->addr != 0x30) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    f->transfers++;
    f->now_us += 20u + 25u * m->len; /* rough bus time at 400 kHz */
    if (f->nack) {
        f->nack--;
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    }
    if (!(m->flags & TRUSTM_I2C_READ)) {
        if (m->len == 0) {
            return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
        }
        f->reg = m->buf[0];
        if (m->len == 1) {
            if (f->reg == 0x82) {
                f->polls++;
            }
            return TMA_OK;
        }
        if (f->reg == 0x80) {
            host_frame(f, m->buf + 1, m->len - 1u);
        } else if (f->reg == 0x81 && m->len == 3) {
            uint16_t v = (uint16_t)(m->buf[1] << 8 | m->buf[2]);
            f->dreglen = v > 277 ? 277 : v;
        } else if (f->reg == 0x88) {
            f->resets++;
            f->qn = 0;
        }
        return TMA_OK;
    }
    memset(m->buf, 0xFF, m->len);
    if (f->qn == 0 && f->idle && (f->reg == 0x82 || f->reg == 0x80)) {
        f->idle_calls++;
        f->idle(f);
    }
    if (f->reg == 0x82) {
        uint8_t s[4] = {0x08, 0x80, 0, 0};
        if (f->qn) {
            size_t l = f->qlen[f->qhead];
            s[0] = 0x48;
            s[2] = (uint8_t)(l >> 8);
            s[3] = (uint8_t)l;
        }
        memcpy(m->buf, s, m->len < 4 ? m->len : 4);
    } else if (f->reg == 0x80) {
        if (f->qn) {
            size_t l = f->qlen[f->qhead];
            memcpy(m->buf, f->q[f->qhead], m->len < l ? m->len : l);
            f->qhead = (f->qhead + 1) % FK_MAXQ;
            f->qn--;
        }
    } else if (f->reg == 0x81) {
        uint8_t v[2] = {(uint8_t)(f->dreglen >> 8), (uint8_t)f->dreglen};
        memcpy(m->buf, v, m->len < 2 ? m->len : 2);
    }
    return TMA_OK;
}

static void delay_us(void *ctx, uint32_t us)
{
    ((struct fakeport *)ctx)->now_us += us;
}

static uint32_t now_ms(void *ctx)
{
    return (uint32_t)(((struct fakeport *)ctx)->now_us / 1000u);
}

void fk_init(struct fakeport *f, const struct fk_step *script, size_t nsteps)
{
    memset(f, 0, sizeof *f);
    f->port.ctx = f;
    f->port.transfer = xfer;
    f->port.delay_us = delay_us;
    f->port.now_ms = now_ms;
    f->script = script;
    f->nsteps = nsteps;
    f->dreglen = 277;
}

int fk_done(const struct fakeport *f)
{
    if (f->mismatch) {
        return 1;
    }
    if (f->pos != f->nsteps) {
        fprintf(stderr, "fakeport: script stopped at step %zu of %zu\n", f->pos, f->nsteps);
        return 1;
    }
    return 0;
}
