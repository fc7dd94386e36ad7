/*
 * libtrustm's physical layer against a chip whose registers misbehave: a
 * register model (I2C_STATE, DATA_REG_LEN, SOFT_RESET, DATA) with answers
 * and failures set per test. scripts/coverage showed none of these paths
 * ran (src/trustm/phys.c: the frame size the chip grants, soft reset not
 * supported, bus errors other than an address NACK, poll errors during an
 * exchange):
 *  - DATA_REG_LEN read back below 16 or above what was asked -> BUS
 *    MALFORMED and the link stays closed; exactly 16 is accepted;
 *  - I2C_STATE without "soft reset supported" -> BUS UNSUPPORTED, and no
 *    write to SOFT_RESET;
 *  - a bus error (not a NACK) on the SOFT_RESET write, the DATA_REG_LEN
 *    write or the I2C_STATE poll during an exchange is returned as is; an
 *    error of another layer from the port becomes BUS IO;
 *  - the stack API's own argument and state checks (NULL context, no port,
 *    reset kind out of range, a NULL segment with a length, the shielded
 *    handshake without a secret or on a closed link, the response-time
 *    override of trustm_cfg), also never run before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trustm/transceive.h"
#include "trustm/trustm.h"

#define REG_DATA 0x80u
#define REG_DATA_REG_LEN 0x81u
#define REG_I2C_STATE 0x82u
#define REG_SOFT_RESET 0x88u

struct regchip {
    struct trustm_port port;
    uint8_t reg;          /* register addressed by the last write */
    uint8_t state0;       /* I2C_STATE byte 0 */
    uint16_t dreglen;     /* last value written to DATA_REG_LEN */
    int grant;            /* >= 0: DATA_REG_LEN reads answer this instead */
    uint8_t fail_reg;     /* a transfer to this register fails ... */
    int fail_read;        /* ... a read (1) or a write (0) ... */
    tma_status fail_with; /* ... with this status (0 = never) */
    unsigned soft_resets, data_writes, state_reads;
    uint32_t now_us;
};

static tma_status rc_transfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct regchip *c = ctx;
    int rd = (m->flags & TRUSTM_I2C_READ) != 0;
    uint8_t reg = rd ? c->reg : (m->len > 0 ? m->buf[0] : 0);

    if (n != 1 || m->addr != 0x30) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    c->now_us += 50;
    if (c->fail_with != TMA_OK && reg == c->fail_reg && rd == c->fail_read &&
        (rd || m->len > 1)) {
        return c->fail_with;
    }
    if (!rd) {
        c->reg = reg;
        if (m->len == 3 && reg == REG_DATA_REG_LEN) {
            c->dreglen = (uint16_t)(m->buf[1] << 8 | m->buf[2]);
        } else if (m->len > 1 && reg == REG_SOFT_RESET) {
            c->soft_resets++;
        } else if (m->len > 1 && reg == REG_DATA) {
            c->data_writes++;
        }
        return TMA_OK;
    }
    memset(m->buf, 0, m->len);
    if (c->reg == REG_I2C_STATE && m->len >= 4) {
        c->state_reads++;
        m->buf[0] = c->state0; /* no response pending: length 0 */
    } else if (c->reg == REG_DATA_REG_LEN && m->len >= 2) {
        uint16_t v = c->grant >= 0 ? (uint16_t)c->grant : c->dreglen;
        m->buf[0] = (uint8_t)(v >> 8);
        m->buf[1] = (uint8_t)v;
    }
    return TMA_OK;
}

static void rc_delay(void *ctx, uint32_t us)
{
    ((struct regchip *)ctx)->now_us += us;
}

static uint32_t rc_now(void *ctx)
{
    return ((struct regchip *)ctx)->now_us / 1000u;
}

static struct regchip chip;
static struct trustm tm;

/* A chip that supports soft reset and grants what is asked. */
static void setup(uint16_t want_frame)
{
    struct trustm_cfg cfg;
    memset(&chip, 0, sizeof(chip));
    chip.port.ctx = &chip;
    chip.port.transfer = rc_transfer;
    chip.port.delay_us = rc_delay;
    chip.port.now_ms = rc_now;
    chip.state0 = 0x08; /* soft reset supported, not busy, nothing to read */
    chip.grant = -1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.frame_size = want_frame;
    assert_int_equal(trustm_init(&tm, &chip.port, &cfg), TMA_OK);
}

/* A command APDU through the whole stack (GetRandom, 32 bytes). */
static tma_status exchange(void)
{
    static const uint8_t apdu[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    struct tma_span seg = {apdu, sizeof(apdu)};
    uint8_t out[64];
    struct trustm_rsp rsp;
    return trustm_transceive(&tm, TRUSTM_PROTECT_NONE, &seg, 1, out, sizeof(out), &rsp);
}

static void grants_what_was_asked(void **s)
{
    (void)s;
    setup(200);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(chip.soft_resets, 1);
    assert_int_equal(chip.dreglen, 200);
    assert_int_equal(tm.frame_size, 200);
}

static void grants_the_minimum(void **s)
{
    (void)s;
    setup(200);
    chip.grant = TRUSTM_FRAME_MIN;
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(tm.frame_size, TRUSTM_FRAME_MIN);
}

static void grants_too_little(void **s)
{
    (void)s;
    setup(200);
    chip.grant = TRUSTM_FRAME_MIN - 1;
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_MALFORMED));
    /* the link stays closed: nothing is sent in frames of 15 bytes */
    assert_int_equal(exchange(), TMA_ERR(TMA_LAYER_LINK, TMA_C_STATE));
    assert_int_equal(chip.data_writes, 0);
}

static void grants_more_than_asked(void **s)
{
    (void)s;
    setup(100);
    chip.grant = 101;
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_MALFORMED));
    chip.grant = 0;
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_MALFORMED));
    chip.grant = 100;
    assert_int_equal(trustm_open(&tm), TMA_OK);
}

static void soft_reset_not_supported(void **s)
{
    (void)s;
    setup(0);
    chip.state0 = 0x00;
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED));
    assert_int_equal(chip.soft_resets, 0);
    /* the same later, on an open link */
    chip.state0 = 0x08;
    assert_int_equal(trustm_open(&tm), TMA_OK);
    chip.state0 = 0x00;
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_SOFT), TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED));
    assert_int_equal(chip.soft_resets, 1);
}

static void soft_reset_write_fails(void **s)
{
    (void)s;
    setup(0);
    chip.fail_reg = REG_SOFT_RESET;
    chip.fail_read = 0;
    chip.fail_with = TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
    assert_int_equal(chip.dreglen, 0); /* gave up before negotiating */
}

static void frame_size_write_fails(void **s)
{
    (void)s;
    setup(0);
    chip.fail_reg = REG_DATA_REG_LEN;
    chip.fail_read = 0;
    chip.fail_with = TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
    /* a port that answers with another layer's error: reported as BUS IO */
    setup(0);
    chip.fail_reg = REG_DATA_REG_LEN;
    chip.fail_read = 1;
    chip.fail_with = TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    assert_int_equal(trustm_open(&tm), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
}

static void poll_fails_during_an_exchange(void **s)
{
    (void)s;
    setup(0);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    chip.fail_reg = REG_I2C_STATE;
    chip.fail_read = 1;
    chip.fail_with = TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    chip.state_reads = 0;
    assert_int_equal(exchange(), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
    assert_true(chip.data_writes >= 1); /* the frame went out, its ACK poll failed */
}

static void api_arguments(void **s)
{
    static const uint8_t apdu[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    const tma_status bad = TMA_ERR(TMA_LAYER_GENERIC, TMA_C_BAD_PARAM);
    struct tma_span segs[2] = {{apdu, 4}, {NULL, 2}};
    struct trustm_rsp rsp;
    struct trustm_cfg cfg;
    static struct trustm blank;
    uint8_t pbs[64];
    (void)s;

    assert_int_equal(trustm_open(NULL), bad);
    assert_int_equal(trustm_close(NULL), bad);
    assert_int_equal(trustm_reset(NULL, TRUSTM_RESET_SOFT), bad);
    memset(&blank, 0, sizeof(blank)); /* never initialised: no port */
    assert_int_equal(trustm_open(&blank), bad);
    assert_int_equal(trustm_close(&blank), bad);
    trustm_deinit(NULL); /* does nothing, does not crash */

    setup(0);
    assert_int_equal(trustm_reset(&tm, (enum trustm_reset_kind)(TRUSTM_RESET_WARM + 1)), bad);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    chip.data_writes = 0;
    assert_int_equal(trustm_transceive(&tm, TRUSTM_PROTECT_NONE, segs, 2, NULL, 0, &rsp), bad);
    assert_int_equal(chip.data_writes, 0);

    /* the shielded connection: its checks come before any bus traffic */
    memset(pbs, 0x3C, sizeof(pbs));
    assert_int_equal(trustm_shield_handshake(NULL), TMA_ERR(TMA_LAYER_SHIELD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_shield_handshake(&tm), TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET));
    assert_int_equal(trustm_shield_save(&tm, NULL), TMA_ERR(TMA_LAYER_SHIELD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_shield_restore(&tm, NULL), TMA_ERR(TMA_LAYER_SHIELD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_close(&tm), TMA_OK);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, sizeof(pbs)),
                     TMA_OK);
    chip.data_writes = 0;
    assert_int_equal(trustm_shield_handshake(&tm), TMA_ERR(TMA_LAYER_LINK, TMA_C_STATE));
    assert_int_equal(chip.data_writes, 0);
    trustm_deinit(&tm);

    /* trustm_cfg.rsp_timeout_ms replaces every command's own bound */
    setup(0);
    assert_int_equal(trustm_rsp_timeout_ms(&tm, 0x81, 0), trustm_rsp_timeout_ms(NULL, 0x81, 0));
    memset(&cfg, 0, sizeof(cfg));
    cfg.rsp_timeout_ms = 1234;
    assert_int_equal(trustm_init(&tm, &chip.port, &cfg), TMA_OK);
    assert_int_equal(trustm_rsp_timeout_ms(&tm, 0x81, 0), 1234);
    assert_int_equal(trustm_rsp_timeout_ms(&tm, 0x38, 0x42), 1234); /* even RSA key generation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grants_what_was_asked),
        cmocka_unit_test(grants_the_minimum),
        cmocka_unit_test(grants_too_little),
        cmocka_unit_test(grants_more_than_asked),
        cmocka_unit_test(soft_reset_not_supported),
        cmocka_unit_test(soft_reset_write_fails),
        cmocka_unit_test(frame_size_write_fails),
        cmocka_unit_test(poll_fails_during_an_exchange),
        cmocka_unit_test(api_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
