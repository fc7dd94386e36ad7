/*
 * Fuzz target for the simulator's receive path: the input is a script of bus
 * operations (raw I2C writes and reads, frames with valid CRC so the fuzzer
 * gets past the link layer, host sleeps, resets, socket-protocol requests
 * and fault configurations). The chip must never crash, hang or read out of
 * bounds, whatever the host does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim_int.h"
#include "trustm_sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t take(const uint8_t **p, size_t *n, size_t want, const uint8_t **out)
{
    if (want > *n) {
        want = *n;
    }
    *out = *p;
    *p += want;
    *n -= want;
    return want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    static uint8_t buf[0x10000 + 8];
    static uint8_t rsp[3 + 0x10000];
    trustm_sim_config_default(&cfg);
    if (trustm_sim_create(&cfg, &s) != TMA_OK) {
        return 0;
    }
    const uint8_t *p = data;
    size_t n = size;
    unsigned steps = 0;
    while (n > 0 && steps++ < 512) {
        uint8_t op = *p++;
        n--;
        const uint8_t *d = NULL;
        size_t len = n ? p[0] : 0;
        switch (op % 8) {
        case 0: { /* raw write: [len] bytes (register first) */
            if (n) {
                p++;
                n--;
            }
            len = take(&p, &n, len, &d);
            trustm_sim_i2c_write(s, 0x30, d, len);
            break;
        }
        case 1: { /* register read: [reg] [len] */
            if (n < 2) {
                n = 0;
                break;
            }
            uint8_t reg = p[0];
            size_t rl = (size_t)p[1] + 1;
            p += 2;
            n -= 2;
            trustm_sim_i2c_write(s, 0x30, &reg, 1);
            trustm_sim_i2c_read(s, 0x30, buf, rl);
            break;
        }
        case 2: { /* frame with a valid CRC: [fctr] [len] packet */
            if (n < 2) {
                n = 0;
                break;
            }
            uint8_t fctr = p[0];
            size_t pl = p[1];
            p += 2;
            n -= 2;
            pl = take(&p, &n, pl, &d);
            buf[0] = 0x80;
            size_t fl = sim_frame_encode(fctr, d, pl, buf + 1, sizeof(buf) - 1);
            trustm_sim_i2c_write(s, 0x30, buf, fl + 1);
            break;
        }
        case 3: /* host sleep */
            if (n) {
                trustm_sim_sleep_us(s, (uint64_t)p[0] * 100u);
                p++;
                n--;
            }
            break;
        case 4: { /* read the pending frame the way a host does */
            uint8_t reg = 0x82, st[4];
            if (trustm_sim_i2c_write(s, 0x30, &reg, 1) == TRUSTM_SIM_ACK &&
                trustm_sim_i2c_read(s, 0x30, st, 4) == TRUSTM_SIM_ACK) {
                size_t fl = ((size_t)st[2] << 8) | st[3];
                reg = 0x80;
                if (fl && trustm_sim_i2c_write(s, 0x30, &reg, 1) == TRUSTM_SIM_ACK) {
                    trustm_sim_i2c_read(s, 0x30, buf, fl);
                }
            }
            break;
        }
        case 5: /* reset */
            if (n) {
                trustm_sim_reset(s, (enum trustm_reset_kind)(p[0] % 4));
                p++;
                n--;
            }
            break;
        case 6: { /* socket-protocol request: [len] bytes */
            if (n) {
                p++;
                n--;
            }
            len = take(&p, &n, len, &d);
            trustm_sim_socket_request(s, d, len, rsp, sizeof(rsp));
            break;
        }
        default: { /* fault configuration text */
            if (n) {
                p++;
                n--;
            }
            len = take(&p, &n, len, &d);
            trustm_sim_faults_json(s, (const char *)d, len);
            break;
        }
        }
    }
    trustm_sim_destroy(s);
    return 0;
}
