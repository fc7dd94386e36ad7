/*
 * libtrustm's link and network layers against chip frames no other test
 * sends (scripts/coverage: these branches never ran), over the scripted fake
 * port of the stack tests:
 *  - a response packet whose presentation-layer bit (PCTR 0x08) does not
 *    match the exchange: refused as NET MALFORMED, not passed up as an APDU;
 *  - a data frame that carries a NAK of the host's frame (SEQCTR 01): the
 *    host sends its frame again and the exchange completes;
 *  - I2C_STATE announcing a frame longer than the negotiated frame size:
 *    the host reads only what fits, the cut frame fails its check, and the
 *    exchange completes with the chip's next, proper frame;
 *  - the bus fails while the host writes the ACK for the answer: the
 *    exchange returns that bus error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trustm/transceive.h"
#include "trustm/trustm.h"
#include "trustm_fakeport.h"

static struct fakeport fk;
static struct trustm tm;

/* OpenApplication as frame 0 of a fresh link (spec 5.4 log) */
static const uint8_t open_apdu[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                    0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
#define OPEN_FRAME "03 00 15 00 F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C C9 B6"
/* its answer: frame 0 acknowledging 0, packet 00 | 00 00 00 00 */
#define OPEN_ANSWER "00 00 05 00 00 00 00 00 14 87"
#define ACK0 "80 00 00 0C EC"

/* The largest read of the DATA register (a wrapper around the fake's
 * transfer function): the host must never read more than the frame size. */
static tma_status (*fake_transfer)(void *ctx, struct trustm_i2c_msg *m, size_t n);
static uint8_t last_reg;
static size_t max_data_read;
/* I2C_STATE polls seen when the host wrote its k-th frame */
static unsigned polls_at_write[8];
static size_t writes;

/* >= 0: the host's frame write with this number fails with a bus error */
static long fail_write = -1;

static tma_status spy_transfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    if (n == 1 && !(m->flags & TRUSTM_I2C_READ) && m->len >= 1) {
        last_reg = m->buf[0];
        if (m->buf[0] == 0x80 && m->len > 1) {
            if ((long)writes == fail_write) {
                writes++;
                return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
            }
            if (writes < 8) {
                polls_at_write[writes] = fk.polls;
            }
            writes++;
        }
    } else if (n == 1 && (m->flags & TRUSTM_I2C_READ) && last_reg == 0x80 &&
               m->len > max_data_read) {
        max_data_read = m->len;
    }
    return fake_transfer(ctx, m, n);
}

static void open_ctx(const struct fk_step *script, size_t n)
{
    fk_init(&fk, script, n);
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(tm.frame_size, 277);
}

static tma_status open_application(struct trustm_rsp *rsp)
{
    struct tma_span sp = {open_apdu, sizeof(open_apdu)};
    return trustm_transceive(&tm, 0, &sp, 1, NULL, 0, rsp);
}

static void presentation_bit_mismatch(void **s)
{
    /* plain exchange (no presentation layer), answered by a packet that
     * says it is a record of the presentation layer: PCTR 08 */
    static const struct fk_step script[] = {
        {OPEN_FRAME, {"@0"}},
        {ACK0, {NULL}}, /* the frame itself is fine: acknowledged */
    };
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    fk_pre_hex(&fk, 0, 0x00, "08 00 00 00 00");
    assert_int_equal(open_application(&rsp), TMA_ERR(TMA_LAYER_NET, TMA_C_MALFORMED));
    assert_int_equal(fk_done(&fk), 0);
    /* control: the same answer without the bit is taken */
    static const struct fk_step again[] = {
        {OPEN_FRAME, {OPEN_ANSWER}},
        {ACK0, {NULL}},
    };
    open_ctx(again, sizeof again / sizeof again[0]);
    assert_int_equal(open_application(&rsp), TMA_OK);
    assert_int_equal(fk_done(&fk), 0);
}

static void data_frame_carrying_a_nak(void **s)
{
    /* frame 0 with SEQCTR 01 (FCTR 0x20): "NAK of your frame 0" -> the host
     * sends frame 0 again; then the real answer */
    static const struct fk_step script[] = {
        {OPEN_FRAME, {"@0"}},
        {OPEN_FRAME, {OPEN_ANSWER}},
        {ACK0, {NULL}},
    };
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    fk_pre_hex(&fk, 0, 0x20, "00 00 00 00 00");
    fake_transfer = fk.port.transfer; /* trustm keeps a pointer to fk.port */
    fk.port.transfer = spy_transfer;
    writes = 0;
    assert_int_equal(open_application(&rsp), TMA_OK);
    assert_int_equal(rsp.sta, 0);
    assert_int_equal(fk_done(&fk), 0);
    /* sent again right after the poll that found the NAK, not after the
     * 10 ms retransmission timer (which would poll an empty chip first) */
    assert_true(writes >= 2);
    assert_int_equal(polls_at_write[1] - polls_at_write[0], 1);
}

static void announced_frame_longer_than_negotiated(void **s)
{
    /* 290 bytes announced (frame size is 277): the host reads 277, the cut
     * frame fails its CRC, the host NAKs it; the chip then sends the answer */
    uint8_t junk[290];
    struct trustm_rsp rsp;
    unsigned polls_before;
    (void)s;
    open_ctx(NULL, 0);
    fk.lenient = 1;
    memset(junk, 0x00, sizeof(junk));
    junk[1] = (uint8_t)((sizeof(junk) - 5) >> 8);
    junk[2] = (uint8_t)(sizeof(junk) - 5);
    fk_queue(&fk, junk, sizeof(junk));
    {
        uint8_t answer[10];
        memcpy(answer, "\x00\x00\x05\x00\x00\x00\x00\x00\x14\x87", 10);
        fk_queue(&fk, answer, sizeof(answer));
    }
    polls_before = fk.polls;
    fake_transfer = fk.port.transfer; /* trustm keeps a pointer to fk.port */
    fk.port.transfer = spy_transfer;
    max_data_read = 0;
    assert_int_equal(open_application(&rsp), TMA_OK);
    assert_int_equal(max_data_read, 277);
    assert_int_equal(rsp.sta, 0);
    assert_true(fk.polls > polls_before);
    /* the host's writes: its frame, then a NAK (and ACK) for the cut one */
    assert_true(fk.nlog >= 2);
    assert_int_equal(fk.log[1][0] & 0xE0u, 0xA0u); /* control frame, SEQCTR 01 = NAK */
}

static void ack_write_fails(void **s)
{
    /* the answer arrives; writing the ACK for it fails on the bus: the
     * exchange reports that error rather than the answer */
    static const struct fk_step script[] = {
        {OPEN_FRAME, {OPEN_ANSWER}},
    };
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    fake_transfer = fk.port.transfer;
    fk.port.transfer = spy_transfer;
    writes = 0;
    fail_write = 1;
    assert_int_equal(open_application(&rsp), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
    fail_write = -1;
    assert_int_equal(fk_done(&fk), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(presentation_bit_mismatch),
        cmocka_unit_test(data_frame_carrying_a_nak),
        cmocka_unit_test(announced_frame_longer_than_negotiated),
        cmocka_unit_test(ack_write_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
