/* sim codec: CRC-16 of spec 2.3 and frame decoding of every error class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim_host.h"
#include "sim_int.h"

static void crc16_check_value_is_kermit_register(void **state)
{
    (void)state;
    assert_int_equal(sim_crc16((const uint8_t *)"123456789", 9), 0x2189);
    assert_int_equal(sim_crc16(NULL, 0), 0x0000);
}

static void crc_is_sent_high_byte_first(void **state)
{
    (void)state;
    uint8_t f[32];
    uint8_t pkt[] = {0x00, 0x70, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65,
                     0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
    size_t n = sim_frame_encode(0x03, pkt, sizeof(pkt), f, sizeof(f));
    assert_int_equal(n, 26);
    assert_int_equal(f[24], 0x04); /* register 0x041A, [DS] log */
    assert_int_equal(f[25], 0x1A);
}

static void decode_classifies_bad_frames(void **state)
{
    (void)state;
    struct sim_frame fr;
    uint8_t f[16] = {0};
    uint8_t p[1] = {0};
    assert_int_equal(sim_frame_decode(f, 4, &fr), SIM_FE_SHORT);
    size_t n = sim_frame_encode(0x03, p, 1, f, sizeof(f));
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_OK);
    assert_int_equal(sim_frame_decode(f, n - 1, &fr), SIM_FE_LEN);
    f[3] ^= 1;
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_CRC);
    n = sim_frame_encode(0x13, p, 1, f, sizeof(f)); /* RFU bit */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_FCTR);
    n = sim_frame_encode(0xE0, NULL, 0, f, sizeof(f)); /* SEQCTR 11 */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_FCTR);
    n = sim_frame_encode(0x84, NULL, 0, f, sizeof(f)); /* FRNR in a control frame */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_FCTR);
    n = sim_frame_encode(0xC1, NULL, 0, f, sizeof(f)); /* RESYNC with ACKNR */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_FCTR);
    n = sim_frame_encode(0x80, p, 1, f, sizeof(f)); /* control frame with payload */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_CTRL_SIZE);
    n = sim_frame_encode(0x03, NULL, 0, f, sizeof(f)); /* data frame without packet */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_EMPTY);
    n = sim_frame_encode(0x40, p, 1, f, sizeof(f)); /* RESYNC bits in a data frame */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_FCTR);
    n = sim_frame_encode(0x27, p, 1, f, sizeof(f)); /* data + NAK */
    assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_OK);
    assert_true(fr.data_nak);
    assert_int_equal(fr.frnr, 1);
    assert_int_equal(fr.acknr, 3);
    assert_int_equal(sim_frame_encode(0x00, p, 1, f, 5), 0); /* too small */
}

static void net_chaining_rules(void **state)
{
    (void)state;
    static struct sim_net n;
    uint8_t pkt[272];
    sim_net_reset(&n);
    memset(pkt, 0xAB, sizeof(pkt));
    pkt[0] = 0x01; /* first, but short */
    assert_int_equal(sim_net_rx(&n, pkt, 100, 272), SIM_NE_CHAIN_ERROR);
    assert_int_equal(sim_net_rx(&n, pkt, 272, 272), SIM_NE_MORE);
    pkt[0] = 0x00; /* single while a chain is open */
    assert_int_equal(sim_net_rx(&n, pkt, 10, 272), SIM_NE_CHAIN_ERROR);
    pkt[0] = 0x04; /* last without first */
    assert_int_equal(sim_net_rx(&n, pkt, 10, 272), SIM_NE_CHAIN_ERROR);
    pkt[0] = 0x01;
    assert_int_equal(sim_net_rx(&n, pkt, 272, 272), SIM_NE_MORE);
    pkt[0] = 0x02;
    assert_int_equal(sim_net_rx(&n, pkt, 272, 272), SIM_NE_MORE);
    pkt[0] = 0x04;
    assert_int_equal(sim_net_rx(&n, pkt, 10, 272), SIM_NE_MESSAGE);
    assert_int_equal(n.rx_len, 271 * 2 + 9);
    pkt[0] = 0x10; /* channel 1 */
    assert_int_equal(sim_net_rx(&n, pkt, 10, 272), SIM_NE_CHAIN_ERROR);
    pkt[0] = 0x03; /* invalid chain value */
    assert_int_equal(sim_net_rx(&n, pkt, 10, 272), SIM_NE_CHAIN_ERROR);
    pkt[0] = 0x00;
    assert_int_equal(sim_net_rx(&n, pkt, 1, 272), SIM_NE_CHAIN_ERROR); /* no payload */
    pkt[0] = 0x07;
    assert_int_equal(sim_net_rx(&n, pkt, 1, 272), SIM_NE_HOST_ABORT);
    /* oversized chains are refused, never overflow */
    pkt[0] = 0x01;
    assert_int_equal(sim_net_rx(&n, pkt, 272, 272), SIM_NE_MORE);
    pkt[0] = 0x02;
    enum sim_net_ev ev = SIM_NE_MORE;
    for (int i = 0; i < 10 && ev == SIM_NE_MORE; i++) {
        ev = sim_net_rx(&n, pkt, 272, 272);
    }
    assert_int_equal(ev, SIM_NE_CHAIN_ERROR);
}

static void net_fragments_with_exact_sizes(void **state)
{
    (void)state;
    static struct sim_net n;
    static uint8_t msg[1557];
    uint8_t out[300];
    size_t len, total = 0, count = 0;
    sim_net_reset(&n);
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)i;
    }
    sim_net_tx_start(&n, msg, sizeof(msg), true);
    while (sim_net_tx_next(&n, 272, out, sizeof(out), &len)) {
        count++;
        if (total + len - 1 < sizeof(msg)) {
            assert_int_equal(len, 272);
            assert_int_equal(out[0], count == 1 ? 0x09 : 0x0A);
        } else {
            assert_int_equal(out[0], 0x0C);
        }
        assert_memory_equal(out + 1, msg + total, len - 1);
        total += len - 1;
    }
    assert_int_equal(total, sizeof(msg));
    assert_int_equal(count, 6);
    sim_net_tx_start(&n, msg, 271, false);
    assert_true(sim_net_tx_next(&n, 272, out, sizeof(out), &len));
    assert_int_equal(len, 272);
    assert_int_equal(out[0], 0x00);
    assert_false(sim_net_tx_next(&n, 272, out, sizeof(out), &len));
}

static void fault_config_parses_and_rejects(void **state)
{
    (void)state;
    struct sim_faults f;
    sim_faults_init(&f);
    const char *ok = "{ \"seed\": 7, \"bitflip_rx\": 0.5, \"lost_ack\": 1, \"max_faults\": 3 }";
    assert_int_equal(sim_faults_config(&f, ok, strlen(ok)), TMA_OK);
    assert_int_equal(f.max_faults, 3);
    assert_true(f.prob[SIM_FAULT_LOST_ACK] == 0xFFFFFFFFu);
    unsigned hits = 0;
    for (int i = 0; i < 100; i++) {
        hits += sim_fault_hit(&f, SIM_FAULT_LOST_ACK);
    }
    assert_int_equal(hits, 3); /* max_faults */
    const char *bad[] = {"", "{", "{\"x\":1}", "{\"lost_ack\":2}", "{\"lost_ack\":-0.1}",
                         "{\"lost_ack\":\"a\"}", "{\"seed\":1.5}", "[]", "{\"lost_ack\":0.1,}",
                         "{\"lost_ack\":0.1} x", "{\"lost_ack\":nan}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(sim_faults_config(&f, bad[i], strlen(bad[i])) < 0);
    }
    assert_int_equal(f.max_faults, 3); /* previous configuration kept */
    assert_int_equal(sim_faults_config(&f, "{}", 2), TMA_OK);
    assert_int_equal(f.prob[SIM_FAULT_LOST_ACK], 0);
    /* the statistics survive a new configuration, the total stays the sum of
     * the per-kind counts; max_faults counts from the new configuration */
    assert_int_equal(f.injected, 3);
    assert_int_equal(f.count[SIM_FAULT_LOST_ACK], 3);
    const char *again = "{\"lost_ack\":1,\"max_faults\":2}";
    assert_int_equal(sim_faults_config(&f, again, strlen(again)), TMA_OK);
    hits = 0;
    for (int i = 0; i < 100; i++) {
        hits += sim_fault_hit(&f, SIM_FAULT_LOST_ACK);
    }
    assert_int_equal(hits, 2);
    assert_int_equal(f.injected, 5);
    assert_int_equal(f.count[SIM_FAULT_LOST_ACK], 5);
}

static void prf_matches_spec_key_block(void **state)
{
    (void)state;
    uint8_t pbs[64], rnd[32], kb[40], want[40];
    for (int i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(i + 1);
    }
    for (int i = 0; i < 32; i++) {
        rnd[i] = (uint8_t)(0xA0 + i);
    }
    hx("46 3A 39 6F FB A5 6B D0 FA 11 39 8A C3 FB 43 38 43 77 8E A3 14 7F 90 DB 64 BF 4A AD 07 E7 "
       "E7 96 AE 68 CF CF 8C C5 01 0B",
       want, sizeof(want));
    assert_int_equal(sim_tls_prf_sha256(pbs, 64, "Platform Binding", rnd, 32, kb, 40), 0);
    assert_memory_equal(kb, want, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc16_check_value_is_kermit_register),
        cmocka_unit_test(crc_is_sent_high_byte_first),
        cmocka_unit_test(decode_classifies_bad_frames),
        cmocka_unit_test(net_chaining_rules),
        cmocka_unit_test(net_fragments_with_exact_sizes),
        cmocka_unit_test(fault_config_parses_and_rejects),
        cmocka_unit_test(prf_matches_spec_key_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
