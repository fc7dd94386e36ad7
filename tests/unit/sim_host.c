#include "sim_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tma_test.h"

struct trustm_sim *host_sim_new(void)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    trustm_sim_config_default(&cfg);
    if (trustm_sim_create(&cfg, &s) != TMA_OK) {
        abort();
    }
    return s;
}

static enum trustm_sim_ack w(struct trustm_sim *s, const uint8_t *d, size_t n)
{
    enum trustm_sim_ack r = TRUSTM_SIM_ADDR_NACK;
    for (int i = 0; i < 400 && r == TRUSTM_SIM_ADDR_NACK; i++) {
        r = trustm_sim_i2c_write(s, 0x30, d, n);
        trustm_sim_sleep_us(s, r == TRUSTM_SIM_ADDR_NACK ? 1000 : 50);
    }
    return r;
}

enum trustm_sim_ack host_reg_write(struct trustm_sim *s, uint8_t reg, const uint8_t *v, size_t n)
{
    uint8_t buf[512];
    buf[0] = reg;
    memcpy(buf + 1, v, n);
    return w(s, buf, n + 1);
}

enum trustm_sim_ack host_reg_read(struct trustm_sim *s, uint8_t reg, uint8_t *out, size_t n)
{
    enum trustm_sim_ack r = w(s, &reg, 1);
    if (r != TRUSTM_SIM_ACK) {
        return r;
    }
    r = TRUSTM_SIM_ADDR_NACK;
    for (int i = 0; i < 400 && r == TRUSTM_SIM_ADDR_NACK; i++) {
        r = trustm_sim_i2c_read(s, 0x30, out, n);
        trustm_sim_sleep_us(s, r == TRUSTM_SIM_ADDR_NACK ? 1000 : 50);
    }
    return r;
}

size_t host_frame(uint8_t fctr, const uint8_t *pkt, size_t n, uint8_t *out)
{
    out[0] = fctr;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    if (n) {
        memcpy(out + 3, pkt, n);
    }
    uint16_t crc = 0;
    for (size_t i = 0; i < n + 3; i++) {
        uint8_t b = out[i];
        for (int k = 0; k < 8; k++) {
            crc = ((crc ^ b) & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
            b >>= 1;
        }
    }
    out[n + 3] = (uint8_t)(crc >> 8);
    out[n + 4] = (uint8_t)crc;
    return n + 5;
}

enum trustm_sim_ack host_send_raw(struct trustm_sim *s, const uint8_t *frame, size_t n)
{
    return host_reg_write(s, 0x80, frame, n);
}

enum trustm_sim_ack host_send(struct trustm_sim *s, uint8_t fctr, const uint8_t *pkt, size_t n)
{
    uint8_t f[400];
    size_t fl = host_frame(fctr, pkt, n, f);
    return host_send_raw(s, f, fl);
}

size_t host_recv(struct trustm_sim *s, uint8_t *buf, size_t cap, uint32_t poll_us, uint64_t max_us)
{
    uint64_t start = trustm_sim_now_us(s);
    while (trustm_sim_now_us(s) - start <= max_us) {
        uint8_t st[4];
        if (host_reg_read(s, 0x82, st, 4) == TRUSTM_SIM_ACK && (st[0] & 0x40)) {
            size_t len = ((size_t)st[2] << 8) | st[3];
            if (len == 0 || len > cap || host_reg_read(s, 0x80, buf, len) != TRUSTM_SIM_ACK) {
                return 0;
            }
            return len;
        }
        trustm_sim_sleep_us(s, poll_us);
    }
    return 0;
}

size_t hx(const char *hex, uint8_t *out, size_t cap)
{
    long n = tma_test_hex(hex, out, cap);
    if (n < 0) {
        fprintf(stderr, "bad hex in test: %s\n", hex);
        abort();
    }
    return (size_t)n;
}
