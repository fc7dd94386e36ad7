/* bench/bus: bus traffic of libtrustm per command against the simulator's
 * timing model. For open, read 0xE0E0, ECDSA sign and P-256 key generation
 * it counts, at the port, the I2C transactions, the bytes moved and the
 * I2C_STATE polls, and compares the polls with the minimum the modelled
 * busy time allows: one poll per frame the chip sends (a host that slept
 * exactly the modelled time would find each frame on its first poll; the
 * frames are counted as reads of DATA). busy-polls: polls the simulator saw
 * while the chip was busy (from its statistics).
 * Usage: bench_bus [--shield] [--socket PATH]   (default: in-process sim) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trustm/port_open.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

struct counter {
    struct trustm_port inner;
    unsigned tx, bytes, polls, frames;
    int sel; /* register selected by the last 1-byte write */
};

static tma_status cxfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct counter *c = ctx;
    c->tx++;
    c->bytes += 1u + m->len; /* address byte + data */
    if (!(m->flags & TRUSTM_I2C_READ)) {
        c->sel = m->len == 1 ? m->buf[0] : -1;
        if (c->sel == 0x82) {
            c->polls++;
        }
    } else if (c->sel == 0x80) {
        c->frames++; /* a frame fetched from DATA */
    }
    return c->inner.transfer(c->inner.ctx, m, n);
}
static void cdelay(void *ctx, uint32_t us)
{
    struct counter *c = ctx;
    c->inner.delay_us(c->inner.ctx, us);
}
static uint32_t cnow(void *ctx)
{
    struct counter *c = ctx;
    return c->inner.now_ms(c->inner.ctx);
}

static unsigned long long jget(const char *js, const char *key)
{
    const char *p = strstr(js, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static struct trustm_sim *sim;
static struct counter cnt;

static unsigned long long sim_busy_polls(void)
{
    static char js[8192];
    size_t n = 0;
    if (!sim || trustm_sim_stats_json(sim, js, sizeof js, &n) != TMA_OK) {
        return 0;
    }
    return jget(js, "\"busy_polls\":");
}

static int run(struct trustm *t, const char *name, uint8_t protect, const uint8_t *apdu, size_t n,
               int open_link)
{
    static uint8_t out[1600];
    struct trustm_rsp rsp = {0, 0, 0};
    struct tma_span s = {apdu, n};
    unsigned tx0 = cnt.tx, b0 = cnt.bytes, p0 = cnt.polls, f0 = cnt.frames;
    unsigned long long bp0 = sim_busy_polls();
    uint32_t ms0 = cnt.inner.now_ms(cnt.inner.ctx);
    tma_status st = TMA_OK;
    if (open_link) {
        st = trustm_open(t);
    }
    if (st == TMA_OK && apdu) {
        st = trustm_transceive(t, protect, &s, 1, out, sizeof out, &rsp);
    }
    if (st != TMA_OK || (apdu && rsp.sta != 0)) {
        fprintf(stderr, "%s failed: %s sta %02X\n", name, tma_status_str(st), rsp.sta);
        return 1;
    }
    unsigned fr = cnt.frames - f0;
    printf("%-16s transactions %4u  bytes %5u  polls %3u  min %3u  (+%d)  busy-polls %llu  "
           "time %4u ms\n",
           name, cnt.tx - tx0, cnt.bytes - b0, cnt.polls - p0, fr, (int)(cnt.polls - p0 - fr),
           sim_busy_polls() - bp0, cnt.inner.now_ms(cnt.inner.ctx) - ms0);
    return 0;
}

int main(int argc, char **argv)
{
    struct trustm_port_handle *h = NULL;
    struct trustm_port port;
    struct trustm t;
    int shield = 0;
    const char *sock = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shield") == 0) {
            shield = 1;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            sock = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--shield] [--socket PATH]\n", argv[0]);
            return 2;
        }
    }
    tma_status st = sock ? trustm_port_simsock_open(sock, false, &cnt.inner, &h)
                         : trustm_port_sim_open(NULL, 1, &cnt.inner, &h);
    if (st != TMA_OK) {
        fprintf(stderr, "cannot open the simulator: %s\n", tma_status_str(st));
        return 1;
    }
    sim = trustm_port_sim_instance(h); /* NULL over the socket: no minimum */
    port = cnt.inner;
    port.ctx = &cnt;
    port.transfer = cxfer;
    port.delay_us = cdelay;
    port.now_ms = cnow;
    port.reset = NULL;
    port.lock = NULL;
    port.unlock = NULL;
    trustm_init(&t, &port, NULL);

    static const uint8_t open_app[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                       0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
    static const uint8_t read_e0e0[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xE0, 0x00, 0x00, 0x06, 0x11};
    static const uint8_t genkey[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0,
                                     0xF1, 0x02, 0x00, 0x01, 0x10};
    uint8_t sign[44] = {0xB1, 0x11, 0x00, 0x28, 0x01, 0x00, 0x20};
    memcpy(sign + 39, "\x03\x00\x02\xE0\xF0", 5);
    for (int i = 0; i < 32; i++) {
        sign[7 + i] = (uint8_t)i;
    }
    uint8_t p = 0;
    printf("libtrustm bus traffic per command (%s, %s)\n", sock ? "socket" : "in-process sim",
           shield ? "shielded, protect both" : "plain");
    if (run(&t, "link open", 0, NULL, 0, 1) || run(&t, "OpenApplication", 0, open_app, sizeof open_app, 0)) {
        return 1;
    }
    if (shield) {
        uint8_t w[8 + 64] = {0x82, 0x40, 0x00, 0x44, 0xE1, 0x40, 0x00, 0x00};
        for (int i = 0; i < 64; i++) {
            w[8 + i] = (uint8_t)(i * 13 + 5);
        }
        if (run(&t, "pair (E140)", 0, w, sizeof w, 0) ||
            trustm_shield_set_secret(&t, trustm_crypto_mbedtls(), w + 8, 64) != TMA_OK ||
            trustm_shield_handshake(&t) != TMA_OK) {
            fprintf(stderr, "pairing failed\n");
            return 1;
        }
        p = TRUSTM_PROTECT_BOTH;
    }
    int rc = run(&t, "read 0xE0E0", p, read_e0e0, sizeof read_e0e0, 0) ||
             run(&t, "sign (E0F0)", p, sign, sizeof sign, 0) ||
             run(&t, "genkey P-256", p, genkey, sizeof genkey, 0);
    trustm_deinit(&t);
    trustm_port_close(h);
    return rc;
}
