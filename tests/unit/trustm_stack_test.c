/* libtrustm protocol stack: codecs, link state machine, and whole exchanges
 * against a scripted fake port, byte for byte against spec 2.2, 4.10, 5.4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stack.h"
#include "tma_test.h"
#include "trustm_fakeport.h"

static long hex(const char *h, uint8_t *b, size_t cap)
{
    long n = tma_test_hex(h, b, cap);
    assert_true(n >= 0);
    return n;
}

/* ---------------- codecs ---------------- */

static void crc_check_value(void **s)
{
    (void)s;
    assert_int_equal(trustm_crc16(0, (const uint8_t *)"123456789", 9), 0x2189);
}

static void control_frames_match_spec_2_2(void **s)
{
    static const char *want[] = {"80 00 00 0C EC", "81 00 00 56 30", "82 00 00 B9 54",
                                 "83 00 00 E3 88", "A0 00 00 0F D7", "A1 00 00 55 0B",
                                 "A2 00 00 BA 6F", "A3 00 00 E0 B3", "C0 00 00 0A 9A"};
    static const uint8_t fctr[] = {0x80, 0x81, 0x82, 0x83, 0xA0, 0xA1, 0xA2, 0xA3, 0xC0};
    static const uint8_t kind[] = {TRUSTM_FR_ACK, TRUSTM_FR_ACK, TRUSTM_FR_ACK, TRUSTM_FR_ACK,
                                   TRUSTM_FR_NAK, TRUSTM_FR_NAK, TRUSTM_FR_NAK, TRUSTM_FR_NAK,
                                   TRUSTM_FR_RESYNC};
    (void)s;
    for (size_t i = 0; i < 9; i++) {
        uint8_t f[8], w[8];
        struct trustm_frame fr;
        hex(want[i], w, sizeof w);
        assert_int_equal(trustm_frame_encode(f, fctr[i], 0), 5);
        assert_int_equal(tma_test_memcmp(want[i], f, 5, w, 5), 0);
        assert_int_equal(trustm_frame_decode(w, 5, &fr), TMA_OK);
        assert_int_equal(fr.kind, kind[i]);
        assert_int_equal(fr.acknr, fctr[i] & 3);
    }
}

static void frame_decode_rejects_bad_frames(void **s)
{
    uint8_t f[32];
    struct trustm_frame fr;
    (void)s;
    /* DS log response frame: good. */
    long n = hex("00 00 05 00 00 00 00 00 14 87", f, sizeof f);
    assert_int_equal(trustm_frame_decode(f, (size_t)n, &fr), TMA_OK);
    assert_int_equal(fr.kind, TRUSTM_FR_DATA);
    assert_int_equal(fr.plen, 5);
    f[5] ^= 1; /* corrupt payload */
    assert_int_equal(trustm_frame_decode(f, (size_t)n, &fr), TRUSTM_ST(LINK, INTEGRITY));
    f[5] ^= 1;
    assert_int_equal(trustm_frame_decode(f, (size_t)n - 1, &fr), TRUSTM_ST(LINK, MALFORMED));
    assert_int_equal(trustm_frame_decode(f, 4, &fr), TRUSTM_ST(LINK, MALFORMED));
    /* RFU bit, SEQCTR 11, control frame with payload, data frame of LEN 0. */
    static const uint8_t bad_fctr[] = {0x10, 0x60, 0xE0};
    for (size_t i = 0; i < sizeof bad_fctr; i++) {
        trustm_frame_encode(f, bad_fctr[i], 0);
        assert_int_not_equal(trustm_frame_decode(f, 5, &fr), TMA_OK);
    }
    f[3] = 0;
    trustm_frame_encode(f, 0x80, 1);
    assert_int_not_equal(trustm_frame_decode(f, 6, &fr), TMA_OK);
    trustm_frame_encode(f, 0x03, 0);
    assert_int_not_equal(trustm_frame_decode(f, 5, &fr), TMA_OK);
    trustm_frame_encode(f, 0xC1, 0); /* RESYNC with ACKNR */
    assert_int_not_equal(trustm_frame_decode(f, 5, &fr), TMA_OK);
    trustm_frame_encode(f, 0x84, 0); /* control frame with FRNR */
    assert_int_not_equal(trustm_frame_decode(f, 5, &fr), TMA_OK);
}

static void link_step_rules(void **s)
{
    struct trustm_lk lk = {TRUSTM_LK_WAIT_ACK, 0, 3};
    struct trustm_frame fr;
    uint8_t f[16] = {0};
    (void)s;
    /* Timeout while waiting for the ACK -> retransmit. */
    assert_int_equal(trustm_link_step(&lk, f, 0, &fr), TRUSTM_LK_RETX);
    /* Stale ACK (wrong number) ignored, right one accepted. */
    trustm_frame_encode(f, 0x83, 0);
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), 0);
    trustm_frame_encode(f, 0xA0, 0);
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), TRUSTM_LK_RETX);
    /* A truncated (4 bytes) or oversized (8 bytes) ACK is a broken control
     * frame: send our frame again rather than NAK a frame never sent. */
    trustm_frame_encode(f, 0x80, 0);
    assert_int_equal(trustm_link_step(&lk, f, 4, &fr), TRUSTM_LK_RETX);
    assert_int_equal(trustm_link_step(&lk, f, 8, &fr), TRUSTM_LK_RETX);
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), TRUSTM_LK_ACKED);
    assert_int_equal(lk.st, TRUSTM_LK_WAIT_DATA);
    /* Receiving: a corrupt frame of any look -> NAK it and ACK the last
     * good frame again (the chip may be resending that one); so does a NAK
     * from the chip (it got a broken ACK/NAK from us). */
    f[3] = 0x00;
    f[4] = 0x11;
    trustm_frame_encode(f, 0x00, 2);
    f[4] ^= 0x40;
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr), TRUSTM_LK_SEND_NAK | TRUSTM_LK_SEND_ACK);
    f[4] ^= 0x40;
    trustm_frame_encode(f, 0x80, 0);
    f[4] ^= 0x01;
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), TRUSTM_LK_SEND_NAK | TRUSTM_LK_SEND_ACK);
    trustm_frame_encode(f, 0xA1, 0);
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), TRUSTM_LK_SEND_NAK | TRUSTM_LK_SEND_ACK);
    assert_int_equal(lk.st, TRUSTM_LK_WAIT_DATA);
    /* The expected frame number -> deliver + ACK. */
    f[3] = 0x00;
    f[4] = 0x11;
    trustm_frame_encode(f, 0x00, 2);
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr), TRUSTM_LK_DATA | TRUSTM_LK_SEND_ACK);
    assert_int_equal(lk.rx_nr, 0);
    assert_int_equal(fr.plen, 2);
    /* The same frame again (our ACK was lost) -> ACK again, not delivered. */
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr), TRUSTM_LK_SEND_ACK);
    /* Data frame that does not acknowledge our frame -> discarded. */
    trustm_frame_encode(f, 0x05, 2);
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr), 0);
    /* One that does, numbered neither the last nor the next: the sides
     * count differently (a RESYNC lost on the bus) -> RESYNC, 3/3. */
    trustm_frame_encode(f, 0x08, 2);
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr), TRUSTM_LK_RESYNC | TRUSTM_LK_SEND_RESYNC);
    assert_int_equal(lk.tx_nr, 3);
    assert_int_equal(lk.rx_nr, 3);
    lk.tx_nr = 0;
    lk.rx_nr = 0;
    /* RESYNC from the chip while waiting -> counters 3/3. */
    trustm_frame_encode(f, 0xC0, 0);
    assert_int_equal(trustm_link_step(&lk, f, 5, &fr), TRUSTM_LK_RESYNC);
    assert_int_equal(lk.tx_nr, 3);
    assert_int_equal(lk.rx_nr, 3);
    /* Piggy-backed ACK on a data frame while waiting for the ACK. */
    lk.st = TRUSTM_LK_WAIT_ACK;
    lk.tx_nr = 0;
    trustm_frame_encode(f, 0x00, 2);
    assert_int_equal(trustm_link_step(&lk, f, 7, &fr),
                     TRUSTM_LK_ACKED | TRUSTM_LK_DATA | TRUSTM_LK_SEND_ACK);
}

static void net_chaining_rules(void **s)
{
    uint8_t p[272];
    struct trustm_net_rx rx;
    (void)s;
    memset(p, 0xAA, sizeof p);
    /* PCTR choice. */
    assert_int_equal(trustm_net_pctr(0, 0, 10, 10), 0x00);
    assert_int_equal(trustm_net_pctr(1, 0, 271, 300), 0x09);
    assert_int_equal(trustm_net_pctr(0, 271, 271, 1000), 0x02);
    assert_int_equal(trustm_net_pctr(1, 542, 10, 552), 0x0C);
    /* single */
    memset(&rx, 0, sizeof rx);
    p[0] = 0x00;
    assert_int_equal(trustm_net_rx_step(&rx, p, 5, 272), TMA_OK);
    assert_int_equal(rx.st, TRUSTM_NET_DONE);
    /* first (must be full size), mid, last */
    memset(&rx, 0, sizeof rx);
    p[0] = 0x01;
    assert_int_equal(trustm_net_rx_step(&rx, p, 271, 272), TRUSTM_ST(NET, MALFORMED));
    memset(&rx, 0, sizeof rx);
    assert_int_equal(trustm_net_rx_step(&rx, p, 272, 272), TMA_OK);
    p[0] = 0x02;
    assert_int_equal(trustm_net_rx_step(&rx, p, 272, 272), TMA_OK);
    p[0] = 0x00; /* new chain while one is open */
    assert_int_equal(trustm_net_rx_step(&rx, p, 10, 272), TRUSTM_ST(NET, MALFORMED));
    memset(&rx, 0, sizeof rx);
    p[0] = 0x01;
    assert_int_equal(trustm_net_rx_step(&rx, p, 272, 272), TMA_OK);
    p[0] = 0x04;
    assert_int_equal(trustm_net_rx_step(&rx, p, 2, 272), TMA_OK);
    assert_int_equal(rx.st, TRUSTM_NET_DONE);
    assert_int_equal(trustm_net_rx_step(&rx, p, 2, 272), TRUSTM_ST(NET, MALFORMED));
    /* last/mid without first; chaining error; bad channel; RFU chain */
    memset(&rx, 0, sizeof rx);
    assert_int_equal(trustm_net_rx_step(&rx, p, 2, 272), TRUSTM_ST(NET, MALFORMED));
    p[0] = 0x07;
    assert_int_equal(trustm_net_rx_step(&rx, p, 1, 272), TMA_ERR(TMA_LAYER_NET, TRUSTM_E_CHAIN));
    p[0] = 0x10;
    assert_int_equal(trustm_net_rx_step(&rx, p, 3, 272), TRUSTM_ST(NET, MALFORMED));
    p[0] = 0x03;
    assert_int_equal(trustm_net_rx_step(&rx, p, 3, 272), TRUSTM_ST(NET, MALFORMED));
    assert_int_equal(trustm_net_rx_step(&rx, p, 0, 272), TRUSTM_ST(NET, MALFORMED));
}

/* ---------------- exchanges against the fake port ---------------- */

static struct fakeport fk;
static struct trustm tm;

static void open_ctx(const struct fk_step *script, size_t n)
{
    fk_init(&fk, script, n);
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(fk.resets, 1);
    assert_int_equal(tm.frame_size, 277);
}

static tma_status xchg_hex(uint8_t protect, const char *apdu_hex, uint8_t *out, size_t cap,
                           struct trustm_rsp *rsp)
{
    static uint8_t apdu[1600];
    long n = hex(apdu_hex, apdu, sizeof apdu);
    struct tma_span sp = {apdu, (size_t)n};
    return trustm_transceive(&tm, protect, &sp, 1, out, cap, rsp);
}

static const char OPEN_APDU[] = "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C";

static void spec_5_4_session_byte_exact(void **s)
{
    static const struct fk_step script[] = {
        /* OpenApplication as in the [DS] log: chip ACK first, then response. */
        {"03 00 15 00 F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C C9 B6",
         {"80 00 00 0C EC", "00 00 05 00 00 00 00 00 14 87"}},
        {"80 00 00 0C EC", {NULL}},
        /* GetDataObject E0E0 with a chained 519-byte response. */
        {"04 00 0B 00 81 00 00 06 E0 E0 00 00 06 11 54 8A", {"@0"}},
        {"81 00 00 56 30", {"@1"}},
        {"82 00 00 B9 54", {NULL}},
        /* CalcSign: control ACK, then response frame 3 ack 2. */
        {"0A 00 2D 00 B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 "
         "61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F0 D0 25",
         {"82 00 00 B9 54", "@2"}},
        {"83 00 00 E3 88", {NULL}},
        /* GenKeyPair: answered directly (piggy-backed ACK), frame 0 ack 3. */
        {"0F 00 0E 00 B8 03 00 09 01 00 02 E0 F1 02 00 01 10 83 08", {"@3"}},
        {"80 00 00 0C EC", {NULL}},
    };
    uint8_t obj[515], pkt[272], out[1600];
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    for (size_t i = 0; i < sizeof obj; i++) {
        obj[i] = (uint8_t)(i * 7u + 1u);
    }
    /* response APDU 00 00 02 03 || obj split 271 + 248 */
    pkt[0] = 0x01;
    memcpy(pkt + 1, "\x00\x00\x02\x03", 4);
    memcpy(pkt + 5, obj, 267);
    fk_pre(&fk, 0, 0x05, pkt, 272);
    pkt[0] = 0x04;
    memcpy(pkt + 1, obj + 267, 248);
    fk_pre(&fk, 1, 0x09, pkt, 249);
    uint8_t sig[1 + 4 + 71];
    sig[0] = 0;
    memcpy(sig + 1, "\x00\x00\x00\x45\x02\x20", 6);
    memset(sig + 7, 0x2B, 32);
    memcpy(sig + 39, "\x02\x21\x00", 3);
    memset(sig + 42, 0x48, 32);
    fk_pre(&fk, 2, 0x0E, sig, 74);
    uint8_t pub[1 + 4 + 71];
    pub[0] = 0;
    memcpy(pub + 1, "\x00\x00\x00\x47\x02\x00\x44\x03\x42\x00\x04", 11);
    memset(pub + 12, 0x8B, 64);
    fk_pre(&fk, 3, 0x03, pub, 76);

    assert_int_equal(xchg_hex(0, OPEN_APDU, out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.sta, 0);
    assert_int_equal(rsp.out_len, 0);
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 06 11", out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.out_len, 515);
    assert_memory_equal(out, obj, 515);
    assert_int_equal(xchg_hex(0,
                              "B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 "
                              "23 B0 03 61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F0",
                              out, sizeof out, &rsp),
                     TMA_OK);
    assert_int_equal(rsp.out_len, 0x45);
    assert_memory_equal(out, sig + 5, 0x45);
    assert_int_equal(xchg_hex(0, "B8 03 00 09 01 00 02 E0 F1 02 00 01 10", out, sizeof out, &rsp),
                     TMA_OK);
    assert_int_equal(rsp.out_len, 0x47);
    assert_int_equal(fk_done(&fk), 0);
    trustm_deinit(&tm);
}

static void prl_plain_record_open_application(void **s)
{
    static const struct fk_step script[] = {
        {"03 00 16 08 20 F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C BE 40",
         {"00 00 06 08 20 00 00 00 00 19 04"}},
        {"80 00 00 0C EC", {NULL}},
    };
    struct trustm_rsp rsp;
    (void)s;
    static const uint8_t secret[32] = {1};
    open_ctx(script, 2);
    /* as after a handshake: SCTR 0x20 records (the presentation layer is
     * the shielded layer's, which a secret brings in) */
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), secret, 32), TMA_OK);
    tm.prl = 1;
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(rsp.sta, 0);
    assert_int_equal(fk_done(&fk), 0);
}

static const char OPEN_FRAME[] =
    "03 00 15 00 F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C C9 B6";

static void no_ack_retransmits_then_resyncs(void **s)
{
    /* The chip never answers the first four writes: three retransmissions
     * of the identical frame, then RESYNC (twice: nothing acknowledges it),
     * then the frame again as 0/3. */
    static const struct fk_step script[] = {
        {OPEN_FRAME, {NULL}},
        {OPEN_FRAME, {NULL}},
        {OPEN_FRAME, {NULL}},
        {OPEN_FRAME, {NULL}},
        {"C0 00 00 0A 9A", {NULL}},
        {"C0 00 00 0A 9A", {NULL}},
        {OPEN_FRAME, {"00 00 05 00 00 00 00 00 14 87"}},
        {"80 00 00 0C EC", {NULL}},
    };
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    uint64_t t0 = fk.now_us;
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(fk_done(&fk), 0);
    /* each attempt waited about TRANS_TIMEOUT (10 ms) */
    assert_true(fk.now_us - t0 >= 40000u);
    assert_true(fk.now_us - t0 < 80000u);
}

static void no_answer_at_all_times_out_within_bound(void **s)
{
    /* 1 + TRUSTM_RESYNC_MAX + 1 = 6 attempts of 4 writes, each ended by a
     * RESYNC sent twice */
#define NO_ANSWER_ATTEMPT                                                                          \
    {OPEN_FRAME, {NULL}}, {OPEN_FRAME, {NULL}}, {OPEN_FRAME, {NULL}}, {OPEN_FRAME, {NULL}},        \
        {"C0 00 00 0A 9A", {NULL}}, {"C0 00 00 0A 9A", {NULL}}
    static const struct fk_step script[] = {
        NO_ANSWER_ATTEMPT, NO_ANSWER_ATTEMPT, NO_ANSWER_ATTEMPT,
        NO_ANSWER_ATTEMPT, NO_ANSWER_ATTEMPT, NO_ANSWER_ATTEMPT,
    };
#undef NO_ANSWER_ATTEMPT
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    uint64_t t0 = fk.now_us;
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TRUSTM_ST(LINK, TIMEOUT));
    assert_int_equal(fk_done(&fk), 0);
    assert_true((fk.now_us - t0) / 1000u <= trustm_transceive_bound_ms(&tm, 0xF0, 0, 20));
}

static void nak_and_corrupt_and_duplicate_frames(void **s)
{
    static const struct fk_step script[] = {
        /* chip NAKs our frame -> immediate retransmission */
        {OPEN_FRAME, {"A0 00 00 0F D7"}},
        /* then ACKs, and sends a corrupted response -> host NAKs frame 0
         * and ACKs its last good frame (3) again */
        {OPEN_FRAME, {"80 00 00 0C EC", "00 00 05 00 00 00 00 00 14 88"}},
        {"A0 00 00 0F D7", {NULL}},
        {"83 00 00 E3 88", {"00 00 05 00 00 00 00 00 14 87"}},
        /* host ACKs; the chip repeats the frame (ACK lost): ACK again */
        {"80 00 00 0C EC", {NULL}},
        {"04 00 0B 00 81 00 00 06 E0 E0 00 00 06 11 54 8A",
         {"00 00 05 00 00 00 00 00 14 87", "@0"}},
        {"80 00 00 0C EC", {NULL}},
        {"81 00 00 56 30", {NULL}},
    };
    struct trustm_rsp rsp;
    uint8_t out[8];
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    fk_pre_hex(&fk, 0, 0x05, "00 00 00 00 02 AB CD");
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 06 11", out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.out_len, 2);
    assert_int_equal(out[0], 0xAB);
    assert_int_equal(fk_done(&fk), 0);
}

static void busy_nack_is_retried(void **s)
{
    static const struct fk_step script[] = {
        {OPEN_FRAME, {"00 00 05 00 00 00 00 00 14 87"}},
        {"80 00 00 0C EC", {NULL}},
    };
    struct trustm_rsp rsp;
    (void)s;
    open_ctx(script, 2);
    fk.nack = 5;
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(fk_done(&fk), 0);
    /* a chip that never acknowledges its address: bus error within bound */
    fk.nack = 1000000;
    uint64_t t0 = fk.now_us;
    assert_int_equal(xchg_hex(0, OPEN_APDU, NULL, 0, &rsp), TRUSTM_ST(BUS, NACK));
    assert_true((fk.now_us - t0) / 1000u <= TRUSTM_NACK_TIMEOUT_MS + 10u);
}

static void chained_command_split_and_chip_chain_error(void **s)
{
    /* A 1,557-byte APDU: packets of 272 (PCTR 01, 02, ...) and a last one. */
    static uint8_t apdu[1557];
    static const struct fk_step script[] = {
        {"@0", {"80 00 00 0C EC"}},
        {"@1", {"81 00 00 56 30"}},
        {"*", {"82 00 00 B9 54"}},
        {"*", {"83 00 00 E3 88"}},
        {"*", {"80 00 00 0C EC"}},
        /* last packet: the chip reports a chaining error -> restart once */
        {"*", {"81 00 00 56 30", "@2"}},
        {"80 00 00 0C EC", {NULL}}, /* our ACK of the chip's 0x07 packet */
        {"*", {"82 00 00 B9 54"}},
        {"*", {"83 00 00 E3 88"}},
        {"*", {"80 00 00 0C EC"}},
        {"*", {"81 00 00 56 30"}},
        {"*", {"82 00 00 B9 54"}},
        {"*", {"83 00 00 E3 88", "@3"}},
        {"81 00 00 56 30", {NULL}},
    };
    struct tma_span sp[3];
    struct trustm_rsp rsp;
    uint8_t pkt[272];
    (void)s;
    for (size_t i = 0; i < sizeof apdu; i++) {
        apdu[i] = (uint8_t)(i ^ (i >> 8));
    }
    apdu[0] = 0x82;
    apdu[1] = 0x00;
    apdu[2] = 0x06;
    apdu[3] = 0x11;
    fk_init(&fk, script, sizeof script / sizeof script[0]);
    pkt[0] = 0x01;
    memcpy(pkt + 1, apdu, 271);
    fk_pre(&fk, 0, 0x03, pkt, 272);
    pkt[0] = 0x02;
    memcpy(pkt + 1, apdu + 271, 271);
    fk_pre(&fk, 1, 0x07, pkt, 272);
    fk_pre_hex(&fk, 2, 0x01, "07");
    fk_pre_hex(&fk, 3, 0x07, "00 00 00 00 00");
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    /* three segments, as the command layer passes header + data */
    sp[0].ptr = apdu;
    sp[0].len = 4;
    sp[1].ptr = apdu + 4;
    sp[1].len = 1000;
    sp[2].ptr = apdu + 1004;
    sp[2].len = 553;
    assert_int_equal(trustm_transceive(&tm, 0, sp, 3, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(fk_done(&fk), 0);
    /* packet sizes: 5 x (1 + 271) + (1 + 202): 1557 APDU bytes + 6 PCTR bytes */
    assert_int_equal(fk.loglen[0], 277);
    assert_int_equal(fk.log[2][3], 0x02);
    assert_int_equal(fk.loglen[5], 202 + 1 + 5);
    assert_int_equal(fk.log[5][3], 0x04);
    assert_int_equal(fk.log[7][3], 0x01); /* restart from the first packet */
}

static void response_too_small_is_drained(void **s)
{
    static const struct fk_step script[] = {
        {"04 00 0B 00 81 00 00 06 E0 E0 00 00 06 11 54 8A"
         , {"@0"}},
        {"81 00 00 56 30", {NULL}},
    };
    struct trustm_rsp rsp;
    uint8_t out[4];
    (void)s;
    open_ctx(script, 2);
    tm.lk.tx_nr = 0;
    tm.lk.rx_nr = 0;
    fk_pre_hex(&fk, 0, 0x05, "00 00 00 00 08 01 02 03 04 05 06 07 08");
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 06 11", out, sizeof out, &rsp),
                     TRUSTM_ST(CMD, TOO_SMALL));
    assert_int_equal(rsp.out_len, 8);
    assert_int_equal(fk_done(&fk), 0);
}

/* An error answer (Sta != 0) that carries OutData: the data is not written
 * into out (found by fuzz_trustm_stack: trustm_read_data() returned TMA_OK
 * with the length of its earlier chunks while the follow-up chunk's error
 * answer had written its bytes past that length). */
static void error_answer_data_is_not_written(void **s)
{
    static const struct fk_step script[] = {
        {"*", {"@0"}},
        {"*", {NULL}},
    };
    struct trustm_rsp rsp;
    uint8_t out[8];
    size_t i;
    (void)s;
    open_ctx(script, 2);
    tm.lk.tx_nr = 0;
    tm.lk.rx_nr = 0;
    fk_pre_hex(&fk, 0, 0x05, "00 FF 00 00 04 DE AD BE EF");
    memset(out, 0xA5, sizeof out);
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 06 11 00 04", out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.sta, 0xFF);
    assert_int_equal(rsp.out_len, 4);
    for (i = 0; i < sizeof out; i++) {
        assert_int_equal(out[i], 0xA5);
    }
    assert_int_equal(fk_done(&fk), 0);
}

/* The chip ACKs a command and stays silent past the response bound: the
 * next exchange starts with a RESYNC, so that an answer to the first
 * command that comes late is not taken for the second's (found by
 * fuzz_trustm_stack: after an exchange cut short, the next command's frame
 * could carry the number the chip received last, was taken for a repeat,
 * and the host read the old answer as the new command's). */
static void early_end_resyncs_before_the_next_exchange(void **s)
{
    static const struct fk_step script[] = {
        {"*", {"80 00 00 0C EC"}},
        {"C0 00 00 0A 9A", {NULL}},
        {"C0 00 00 0A 9A", {NULL}},
        {"*", {"@0"}},
        {"80 00 00 0C EC", {NULL}},
    };
    struct trustm_rsp rsp;
    uint8_t out[8];
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    fk_pre_hex(&fk, 0, 0x00, "00 00 00 00 00");
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 00 04", out, sizeof out, &rsp),
                     TRUSTM_ST(LINK, TIMEOUT));
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 00 04", out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.out_len, 0);
    assert_int_equal(fk_done(&fk), 0);
    trustm_deinit(&tm);
}

/* The chip RESYNCs in the middle of a long answer; the answer after the
 * restart is shorter: out holds nothing of the abandoned one (found by
 * fuzz_trustm_stack: its OutData stayed in out past the length reported). */
static void restart_leaves_nothing_of_the_abandoned_answer(void **s)
{
    static const struct fk_step script[] = {
        {"*", {"@0"}},
        {"80 00 00 0C EC", {"C0 00 00 0A 9A"}},
        {"*", {"@1"}},
        {"80 00 00 0C EC", {NULL}},
    };
    struct trustm_rsp rsp;
    uint8_t pkt[272], out[300];
    size_t i;
    (void)s;
    open_ctx(script, sizeof script / sizeof script[0]);
    memset(pkt, 0xDE, sizeof pkt);
    pkt[0] = 0x01; /* first of a chain: 00 00 01 00 (OutLen 256), then data */
    pkt[1] = 0x00;
    pkt[2] = 0x00;
    pkt[3] = 0x01;
    pkt[4] = 0x00;
    fk_pre(&fk, 0, 0x00, pkt, sizeof pkt);
    fk_pre_hex(&fk, 1, 0x00, "00 00 00 00 00");
    memset(out, 0xA5, sizeof out);
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 01 00", out, sizeof out, &rsp), TMA_OK);
    assert_int_equal(rsp.out_len, 0);
    assert_int_equal(fk_done(&fk), 0);
    for (i = 0; i < sizeof out; i++) {
        assert_int_not_equal(out[i], 0xDE);
    }
    trustm_deinit(&tm);
}

static void flood_corrupt(struct fakeport *f)
{
    static const uint8_t junk[10] = {0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0xDE, 0xAD};
    fk_queue(f, junk, sizeof junk);
}

static uint8_t chain_nr;
static void flood_chain(struct fakeport *f)
{
    /* valid intermediate packets with the right numbers, forever */
    uint8_t pkt[272];
    memset(pkt, 0x11, sizeof pkt);
    pkt[0] = chain_nr == 0 ? 0x01 : 0x02;
    chain_nr++;
    fk_queue_frame(f, (uint8_t)((chain_nr & 3u) << 2 | 0u), pkt, sizeof pkt);
}

/* A chip that answers with FIRST and then full MID packets forever, frames
 * numbered 0, 1, 2, ... as the host expects after its frame 0; counts the
 * packets the host took (acknowledged). */
static size_t chain_plen;
static unsigned chain_sent;
static void flood_chain_exact(struct fakeport *f)
{
    uint8_t pkt[272];
    memset(pkt, 0x11, sizeof pkt);
    pkt[0] = chain_sent == 0 ? 0x01 : 0x02;
    fk_queue_frame(f, (uint8_t)((chain_sent & 3u) << 2 | 0u), pkt, chain_plen);
    chain_sent++;
}

/* The answer is at most SCTR + SEQ + 1,557 + tag = 1,570 bytes: with p
 * payload bytes per packet the host takes 1 + 1,570 / p packets (rounded
 * down) and refuses the next one, packet n with (n - 1) x p > 1,570;
 * want_packets counts that refused one too. */
static void chain_bound_at(uint16_t frame, unsigned want_packets)
{
    const struct trustm_cfg cfg = {0, 0, frame, 0};
    struct trustm_rsp rsp;
    uint8_t out[64];
    fk_init(&fk, NULL, 0);
    assert_int_equal(trustm_init(&tm, &fk.port, &cfg), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(tm.frame_size, frame);
    fk.lenient = 1;
    chain_sent = 0;
    chain_plen = (size_t)frame - 5u;
    fk_queue(&fk, (const uint8_t *)"\x80\x00\x00\x0C\xEC", 5); /* ACK 0 for our frame 0 */
    fk.idle = flood_chain_exact;
    assert_int_equal(xchg_hex(0, "81 00 00 06 E0 E0 00 00 06 11", out, sizeof out, &rsp),
                     TRUSTM_ST(NET, MALFORMED));
    assert_int_equal(chain_sent, want_packets);
}

static void misbehaving_chip_never_hangs(void **s)
{
    struct trustm_rsp rsp;
    uint8_t out[64];
    (void)s;
    /* 1: every poll finds a corrupt frame */
    open_ctx(NULL, 0);
    fk.lenient = 1;
    fk.idle = flood_corrupt;
    uint64_t t0 = fk.now_us;
    tma_status st = xchg_hex(0, OPEN_APDU, NULL, 0, &rsp);
    assert_true(st < 0);
    assert_true((fk.now_us - t0) / 1000u <= trustm_transceive_bound_ms(&tm, 0xF0, 0, 20));
    /* 2: the chip ACKs, then chains forever */
    open_ctx(NULL, 0);
    fk.lenient = 1;
    chain_nr = 0;
    fk_queue(&fk, (const uint8_t *)"\x80\x00\x00\x0C\xEC", 5); /* ACK 0 for our frame 0 */
    fk.idle = flood_chain;
    t0 = fk.now_us;
    st = xchg_hex(0, "81 00 00 06 E0 E0 00 00 06 11", out, sizeof out, &rsp);
    assert_int_equal(st, TRUSTM_ST(NET, MALFORMED));
    assert_true(fk.idle_calls < 20);
    assert_true((fk.now_us - t0) / 1000u <= trustm_transceive_bound_ms(&tm, 0x81, 0, 10));
}

static void chip_chaining_past_the_largest_answer_is_refused(void **s)
{
    (void)s;
    chain_bound_at(277, 7);  /* 271 per packet: 6 x 271 = 1,626 > 1,570 */
    chain_bound_at(64, 29);  /* 58: 28 x 58 = 1,624 > 1,570; 27 x 58 = 1,566 */
    chain_bound_at(16, 159); /* 10: 158 x 10 = 1,580 > 1,570; 157 x 10 = 1,570 */
}

static void bad_params(void **s)
{
    struct trustm_rsp rsp;
    uint8_t a[4] = {0x8C, 0, 0, 0};
    struct tma_span sp = {a, 3};
    (void)s;
    fk_init(&fk, NULL, 0);
    assert_int_equal(trustm_init(NULL, &fk.port, NULL), TRUSTM_ST(GENERIC, BAD_PARAM));
    struct trustm_cfg c = {0x30, 0, 15, 0};
    assert_int_equal(trustm_init(&tm, &fk.port, &c), TRUSTM_ST(GENERIC, BAD_PARAM));
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_transceive(&tm, 0, &sp, 1, NULL, 0, &rsp), TRUSTM_ST(GENERIC, BAD_PARAM));
    sp.len = 4;
    assert_int_equal(trustm_transceive(&tm, 0, &sp, 1, NULL, 0, &rsp), TRUSTM_ST(LINK, STATE));
    assert_int_equal(trustm_transceive(&tm, 0x10, &sp, 1, NULL, 0, &rsp),
                     TRUSTM_ST(GENERIC, BAD_PARAM));
    assert_int_equal(trustm_transceive(&tm, 0, &sp, 0, NULL, 0, &rsp), TRUSTM_ST(GENERIC, BAD_PARAM));
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_COLD), TRUSTM_ST(BUS, UNSUPPORTED));
}

/* ---------------- shielded connection (spec 4.10) ---------------- */

static const char SLAVE_HELLO[] =
    "08 00 01 A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF B0 B1 B2 B3 B4 B5 B6 B7 B8 B9 BA "
    "BB BC BD BE BF 00 00 12 34";
static const char MASTER_FIN[] =
    "08 08 00 00 12 34 E8 A1 89 37 3D 9F 41 57 D6 D7 B1 08 4D 80 E1 45 D3 0F 69 DC FB DF D7 2F 59 "
    "22 99 0E 4F C1 92 D2 6F B2 F2 9F 2E EE F1 F9 88 9D F1 0D";
static const char SLAVE_FIN[] =
    "08 08 00 00 56 78 DC 8B F9 9A 5A 5C 10 E9 4B 4F 0E 3D 73 A0 61 C7 5E CE ED D1 D2 B8 2E 86 E0 "
    "D1 FC 3A 9D 3C C0 D5 33 C5 11 DE 35 0C B4 E4 DB 05 F9 9D";
static const char PROT_CMD[] =
    "08 23 00 00 56 79 86 A9 91 92 04 C6 D1 EE 8F C6 CD 6C 47 31";
static const char PROT_RSP[] =
    "08 23 00 00 12 35 B4 57 E6 3E F5 3B A7 34 55 80 6E 7E DB 13 F5 AB 14 5D 03 F5 3C E4 59 88 DE "
    "FC BB 78 82 3E 27 9D 25 91 01 44 C8 BA 4C 71 3D 4C DF 9B";

static const struct fk_step shield_script[] = {
    {"03 00 03 08 00 01 FE FB" , {"80 00 00 0C EC", "@0"}},
    {"80 00 00 0C EC", {NULL}},
    {"@1", {"@2"}},
    {"81 00 00 56 30", {NULL}},
    {"@3", {"@4"}},
    {"82 00 00 B9 54", {NULL}},
};

static void shield_setup(int corrupt_rsp)
{
    uint8_t pbs[64];
    uint8_t b[64];
    fk_init(&fk, shield_script, sizeof shield_script / sizeof shield_script[0]);
    fk_pre_hex(&fk, 0, 0x00, SLAVE_HELLO);
    fk_pre_hex(&fk, 1, 0x04, MASTER_FIN);
    fk_pre_hex(&fk, 2, 0x05, SLAVE_FIN);
    fk_pre_hex(&fk, 3, 0x09, PROT_CMD);
    long n = hex(PROT_RSP, b, sizeof b);
    if (corrupt_rsp) {
        b[n - 1] ^= 0x01;
    }
    fk_pre(&fk, 4, 0x0A, b, (size_t)n);
    for (unsigned i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(i + 1);
    }
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 64), TMA_OK);
}

static void shield_vector_4_10(void **s)
{
    uint8_t out[32], want[32];
    struct trustm_rsp rsp;
    (void)s;
    shield_setup(0);
    /* the Hello frame's CRC comes from our own encoder; check it separately */
    uint8_t f[8];
    trustm_frame_encode(f, 0x03, 3);
    (void)f;
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_BOTH, "8C 00 00 02 00 20", out, sizeof out, &rsp),
                     TMA_OK);
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_ACTIVE);
    /* key block of spec 4.10 */
    uint8_t kb[40];
    hex("46 3A 39 6F FB A5 6B D0 FA 11 39 8A C3 FB 43 38 43 77 8E A3 14 7F 90 DB 64 BF 4A AD 07 "
        "E7 E7 96 AE 68 CF CF 8C C5 01 0B",
        kb, sizeof kb);
    assert_memory_equal(tm.sess.keys, kb, 40);
    assert_int_equal(tm.sess.mseq, 0x5679);
    assert_int_equal(tm.sess.sseq, 0x1235);
    assert_int_equal(rsp.sta, 0);
    assert_int_equal(rsp.out_len, 32);
    for (unsigned i = 0; i < 32; i++) {
        want[i] = (uint8_t)i;
    }
    assert_memory_equal(out, want, 32);
    trustm_deinit(&tm);
    /* deinit wipes the secret and the keys */
    static const uint8_t zero[sizeof tm] = {0};
    assert_memory_equal(&tm, zero, sizeof tm);
}

static void shield_mac_failure_fails_and_wipes(void **s)
{
    uint8_t out[32], zero[40] = {0};
    struct trustm_rsp rsp;
    (void)s;
    shield_setup(1);
    memset(out, 0x55, sizeof out);
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_BOTH, "8C 00 00 02 00 20", out, sizeof out, &rsp),
                     TRUSTM_ST(SHIELD, INTEGRITY));
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_FAILED);
    assert_memory_equal(tm.sess.keys, zero, 40);
    assert_memory_equal(out, zero, 32); /* decrypted bytes of a forged record are wiped */
    /* every further exchange fails, plain ones included, until reset */
    assert_int_equal(xchg_hex(0, "8C 00 00 02 00 20", out, sizeof out, &rsp),
                     TRUSTM_ST(SHIELD, FAILED));
    assert_int_equal(trustm_shield_handshake(&tm), TRUSTM_ST(SHIELD, FAILED));
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_SOFT), TMA_OK);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_NONE);
    assert_int_equal(tm.prl, 0);
}

/* A chained protected answer whose first packet shows a used SSEQ, then
 * the chip goes silent: the sequence failure, not the link timeout, ends
 * the exchange, and the session is FAILED (found by fuzz_trustm_stack: the
 * timeout, or a RESYNC, after the failure left the session ACTIVE). */
static void shield_sequence_failure_survives_link_end(void **s)
{
    uint8_t pkt[272], out[512], zero[40] = {0};
    struct trustm_rsp rsp;
    (void)s;
    shield_setup(0);
    memset(pkt, 0x5A, sizeof pkt);
    pkt[0] = 0x09; /* PRL, first of a chain */
    pkt[1] = 0x23;
    pkt[2] = 0x00; /* SSEQ 0x1234: the Hello's, already used */
    pkt[3] = 0x00;
    pkt[4] = 0x12;
    pkt[5] = 0x34;
    fk_pre(&fk, 4, 0x0A, pkt, sizeof pkt);
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_BOTH, "8C 00 00 02 00 20", out, sizeof out, &rsp),
                     TRUSTM_ST(SHIELD, INTEGRITY));
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_FAILED);
    assert_memory_equal(tm.sess.keys, zero, 40);
    trustm_deinit(&tm);
    /* the same with a RESYNC from the chip after that packet: no restart
     * (a restarted exchange could pass and leave the session ACTIVE) */
    shield_setup(0);
    fk_pre(&fk, 4, 0x0A, pkt, sizeof pkt);
    fk_pre(&fk, 5, 0xC0, pkt, 0); /* RESYNC */
    {
        static struct fk_step script[sizeof shield_script / sizeof shield_script[0]];
        memcpy(script, shield_script, sizeof script);
        script[5].reply[0] = "@5";
        fk.script = script;
    }
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_BOTH, "8C 00 00 02 00 20", out, sizeof out, &rsp),
                     TRUSTM_ST(SHIELD, INTEGRITY));
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_FAILED);
    assert_memory_equal(tm.sess.keys, zero, 40);
    trustm_deinit(&tm);
}

static void shield_wrong_secret_is_handshake_error(void **s)
{
    static const struct fk_step script[] = {
        {"03 00 03 08 00 01 FE FB", {"80 00 00 0C EC", "@0"}},
        {"80 00 00 0C EC", {NULL}},
        {"*", {"@2"}}, /* our Finished differs from the vector's */
        {"81 00 00 56 30", {NULL}},
    };
    uint8_t pbs[32] = {9};
    struct trustm_rsp rsp;
    (void)s;
    fk_init(&fk, script, 4);
    fk_pre_hex(&fk, 0, 0x00, SLAVE_HELLO);
    fk_pre_hex(&fk, 2, 0x05, SLAVE_FIN);
    assert_int_equal(trustm_init(&tm, &fk.port, NULL), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_CMD, "8C 00 00 02 00 20", NULL, 0, &rsp),
                     TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET));
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 32), TMA_OK);
    assert_int_equal(xchg_hex(TRUSTM_PROTECT_CMD, "8C 00 00 02 00 20", NULL, 0, &rsp),
                     TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_HANDSHAKE));
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_NONE);
}

static void shield_save_restore_checks(void **s)
{
    static const struct fk_step script[] = {
        {"@0", {"@1"}}, /* 68 || SSEQ -> 6C || a different MSEQ */
        {"80 00 00 0C EC", {NULL}},
        {"@2", {"@3"}}, /* again -> 6D (low bits ignored) || the right MSEQ */
        {"81 00 00 56 30", {NULL}},
    };
    struct trustm_shield_saved sv, out;
    uint8_t pbs[32] = {1};
    (void)s;
    memset(&sv, 0x5A, sizeof sv);
    sv.mseq = 0x00005678;
    sv.sseq = 0x00001235;
    open_ctx(script, 4);
    fk_pre_hex(&fk, 0, 0x03, "08 68 00 00 12 35");
    fk_pre_hex(&fk, 1, 0x00, "08 6C 00 00 56 77");
    fk_pre_hex(&fk, 2, 0x04, "08 68 00 00 12 35");
    fk_pre_hex(&fk, 3, 0x05, "08 6D 00 00 56 78");
    assert_int_equal(trustm_shield_save(&tm, &out), TRUSTM_ST(SHIELD, STATE));
    assert_int_equal(trustm_shield_restore(&tm, &sv), TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET));
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, sizeof pbs), TMA_OK);
    /* a smaller MSEQ would make us reuse nonces: refused */
    assert_int_equal(trustm_shield_restore(&tm, &sv), TRUSTM_ST(SHIELD, MALFORMED));
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_NONE);
    assert_int_equal(trustm_shield_restore(&tm, &sv), TMA_OK);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_ACTIVE);
    assert_memory_equal(tm.sess.keys, sv.keys, 40);
    assert_int_equal(fk_done(&fk), 0);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 0),
                     TRUSTM_ST(SHIELD, BAD_PARAM));
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 65),
                     TRUSTM_ST(SHIELD, BAD_PARAM));
}

static void ccm_known_answer(void **s)
{
    /* The master Finished of spec 4.10 through the one-shot CCM. */
    uint8_t kb[40], pt[36], ct[44], back[36], ad[8] = {0x08, 0, 0, 0x12, 0x34, 0x01, 0x00, 0x24};
    uint8_t nonce[8];
    (void)s;
    hex("46 3A 39 6F FB A5 6B D0 FA 11 39 8A C3 FB 43 38 43 77 8E A3 14 7F 90 DB 64 BF 4A AD 07 "
        "E7 E7 96 AE 68 CF CF 8C C5 01 0B",
        kb, sizeof kb);
    for (unsigned i = 0; i < 32; i++) {
        pt[i] = (uint8_t)(0xA0 + i);
    }
    memcpy(pt + 32, "\x00\x00\x12\x34", 4);
    memcpy(nonce, kb + 32, 4);
    memcpy(nonce + 4, "\x00\x00\x12\x34", 4);
    assert_int_equal(trustm_ccm_seal(trustm_crypto_mbedtls(), kb, nonce, ad, pt, 36, ct), TMA_OK);
    uint8_t want[64];
    long n = hex(MASTER_FIN, want, sizeof want);
    assert_int_equal(n, 50);
    assert_int_equal(tma_test_memcmp("ccm", ct, 44, want + 6, 44), 0);
    assert_int_equal(trustm_ccm_open(trustm_crypto_mbedtls(), kb, nonce, ad, ct, 36, back), TMA_OK);
    assert_memory_equal(back, pt, 36);
    ct[3] ^= 1;
    assert_int_equal(trustm_ccm_open(trustm_crypto_mbedtls(), kb, nonce, ad, ct, 36, back),
                     TRUSTM_ST(SHIELD, INTEGRITY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_check_value),
        cmocka_unit_test(control_frames_match_spec_2_2),
        cmocka_unit_test(frame_decode_rejects_bad_frames),
        cmocka_unit_test(link_step_rules),
        cmocka_unit_test(net_chaining_rules),
        cmocka_unit_test(spec_5_4_session_byte_exact),
        cmocka_unit_test(prl_plain_record_open_application),
        cmocka_unit_test(no_ack_retransmits_then_resyncs),
        cmocka_unit_test(no_answer_at_all_times_out_within_bound),
        cmocka_unit_test(nak_and_corrupt_and_duplicate_frames),
        cmocka_unit_test(busy_nack_is_retried),
        cmocka_unit_test(chained_command_split_and_chip_chain_error),
        cmocka_unit_test(response_too_small_is_drained),
        cmocka_unit_test(error_answer_data_is_not_written),
        cmocka_unit_test(early_end_resyncs_before_the_next_exchange),
        cmocka_unit_test(restart_leaves_nothing_of_the_abandoned_answer),
        cmocka_unit_test(bad_params),
        cmocka_unit_test(misbehaving_chip_never_hangs),
        cmocka_unit_test(chip_chaining_past_the_largest_answer_is_refused),
        cmocka_unit_test(ccm_known_answer),
        cmocka_unit_test(shield_vector_4_10),
        cmocka_unit_test(shield_mac_failure_fails_and_wipes),
        cmocka_unit_test(shield_sequence_failure_survives_link_end),
        cmocka_unit_test(shield_wrong_secret_is_handshake_error),
        cmocka_unit_test(shield_save_restore_checks),
    };
    return cmocka_run_group_tests_name("trustm_stack", tests, NULL, NULL);
}
