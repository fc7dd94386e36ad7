/*
 * Modelled execution time per command (spec section 10, V3 figures at
 * 400 kHz, 15 mA). Sizes the datasheet does not list are scaled from the
 * nearest listed figure (see docs/decisions/sim-app.md).
 */
#include "app_int.h"

#define MS 1000u

/* Relative cost of a curve against P-256 (percent). */
static uint32_t ecc_scale(uint8_t algo)
{
    switch (algo) {
    case 0x04:
    case 0x15:
        return 230;
    case 0x05:
    case 0x16:
        return 450;
    default:
        return 100;
    }
}

uint32_t app_timing_us(const struct sim_app *app, const struct cmd *c, size_t out_len, bool ok)
{
    uint32_t t;
    uint8_t a = app->last_algo;
    bool rsa2048 = a == 0x42, rsa1024 = a == 0x41;
    if (!ok) {
        return 1 * MS; /* rejected while parsing */
    }
    switch (c->code) {
    case 0x01:
        /* 1 ms + 113 us/byte: 256 B ~30 ms (spec 10), while a small read
         * (27-byte UID: 4.1 ms) stays under the 5 ms control-ACK threshold and
         * is answered by the data frame alone, as in the datasheet log */
        t = 1 * MS + (uint32_t)out_len * 113u;
        break;
    case 0x02:
        t = 5 * MS + (uint32_t)c->in_len * 195u;
        break;
    case 0x0C:
        t = 3 * MS + (uint32_t)out_len * 20u;
        break;
    case 0x30:
        t = 2 * MS + (uint32_t)c->in_len * 67u;
        break;
    case 0x31:
        t = rsa2048 ? 310 * MS : rsa1024 ? 80 * MS : 65 * MS * ecc_scale(a) / 100u;
        break;
    case 0x32:
        t = rsa2048 ? 40 * MS : rsa1024 ? 20 * MS : 85 * MS * ecc_scale(a) / 100u;
        break;
    case 0x33:
        t = 60 * MS * ecc_scale(a) / 100u;
        break;
    case 0x38:
        t = c->param == 0x42   ? 2900 * MS
            : c->param == 0x41 ? 500 * MS
                               : 55 * MS * ecc_scale(c->param) / 100u;
        break;
    case 0x39:
        t = 20 * MS;
        break;
    case 0x34:
        t = (c->param >= 0x08 ? 130 : 50) * MS;
        break;
    case 0x1E:
        t = rsa1024 ? 20 * MS : 40 * MS;
        break;
    case 0x1F:
        t = rsa1024 ? 90 * MS : 315 * MS;
        break;
    case 0x14:
    case 0x15:
        /* AES-128 ECB 256 B: encrypt ~28 ms, decrypt ~35 ms (datasheet
         * v3.61 Tab.19) */
        t = c->param >= 0x20  ? 60 * MS + (uint32_t)c->in_len * 234u
            : c->code == 0x15 ? 5 * MS + (uint32_t)c->in_len * 115u
                              : 5 * MS + (uint32_t)c->in_len * 90u;
        break;
    case 0x70:
        t = c->param == 0x01 ? 15 * MS : 5 * MS;
        break;
    case 0x71:
        t = c->param == 0x01 ? 30 * MS : 3 * MS;
        break;
    default:
        t = 1 * MS;
        break;
    }
    /* AES-CCM of a protected record is the protocol engine's time
     * (sim/shield.c), not counted here a second time */
    return t;
}
