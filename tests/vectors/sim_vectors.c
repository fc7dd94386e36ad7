/*
 * Spec vectors reproduced byte for byte by the simulator's protocol engine
 * (with the fake application): control frames, the OpenApplication exchange
 * of the [DS] log, the PRL-mode OpenApplication, the UID read, the chained
 * E0E0 response shape, and the shielded-connection vector of spec 4.10.
 * Vectors are read from tests/vectors/sim/frames.txt (path in argv[1]).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_fake_app.h"
#include "sim_host.h"
#include "sim_int.h"
#include "tma_test.h"

static const char *vec_dir = ".";

/* Look a vector up by name; returns its length. */
static size_t vec(const char *name, uint8_t *out, size_t cap)
{
    char path[1024];
    char line[2048];
    snprintf(path, sizeof(path), "%s/frames.txt", vec_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t nl = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ' && line[nl + 1] == '=') {
            fclose(f);
            long n = tma_test_hex(line + nl + 2, out, cap);
            assert_true(n > 0);
            return (size_t)n;
        }
    }
    fclose(f);
    fail_msg("vector %s not found", name);
    return 0;
}

static void expect_bytes(const char *label, const uint8_t *got, size_t got_len, const char *name)
{
    uint8_t want[512];
    size_t n = vec(name, want, sizeof(want));
    assert_int_equal(tma_test_memcmp(label, got, got_len, want, n), 0);
}

static void expect_prefix(const uint8_t *got, size_t got_len, const char *name)
{
    uint8_t want[64];
    size_t n = vec(name, want, sizeof(want));
    assert_true(got_len >= n);
    assert_int_equal(tma_test_memcmp(name, got, n, want, n), 0);
}

static void control_frames_encode_exactly(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t fctr;
    } t[] = {{"ack0", 0x80}, {"ack1", 0x81}, {"ack2", 0x82}, {"ack3", 0x83}, {"nak0", 0xA0},
             {"nak1", 0xA1}, {"nak2", 0xA2}, {"nak3", 0xA3}, {"resync", 0xC0}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint8_t out[8];
        size_t n = sim_frame_encode(t[i].fctr, NULL, 0, out, sizeof(out));
        expect_bytes(t[i].name, out, n, t[i].name);
    }
}

static void host_frames_of_spec_decode_with_valid_crc(void **state)
{
    (void)state;
    const char *names[] = {"openapp_host", "openapp_host_log", "openapp_prl_host", "getdata_e0e0_host",
                           "getdata_uid_host", "calcsign_host", "genkey_host", "openapp_rsp",
                           "openapp_prl_rsp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint8_t f[512];
        uint8_t re[512];
        struct sim_frame fr;
        size_t n = vec(names[i], f, sizeof(f));
        assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_OK);
        assert_int_equal(fr.kind, SIM_F_DATA);
        size_t m = sim_frame_encode(fr.fctr, fr.pkt, fr.pkt_len, re, sizeof(re));
        expect_bytes(names[i], re, m, names[i]);
    }
}

/* The [DS] App. B OpenApplication log, transaction by transaction. */
static void openapplication_exchange_of_datasheet_log(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t f[64], st[4], buf[300];
    size_t n = vec("openapp_host_log", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    expect_bytes("I2C_STATE after write", st, 4, "state_ack_busy");
    assert_int_equal(host_reg_read(s, 0x80, buf, 5), TRUSTM_SIM_ACK);
    expect_bytes("chip ACK", buf, 5, "openapp_chip_ack");
    /* poll like the host library until the response is ready */
    for (int i = 0; i < 10; i++) {
        trustm_sim_sleep_us(s, 1000);
        assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
        if (st[0] & 0x40) {
            break;
        }
        assert_int_equal(st[0], 0x88); /* BUSY, nothing to read yet */
    }
    expect_bytes("I2C_STATE response", st, 4, "state_rsp");
    assert_int_equal(host_reg_read(s, 0x80, buf, 10), TRUSTM_SIM_ACK);
    expect_bytes("response frame", buf, 10, "openapp_rsp");
    n = vec("ack0", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    expect_bytes("idle", st, 4, "state_idle");
    assert_int_equal(fake_app.executes, 1);
    assert_int_equal(fake_app.last_apdu[0], 0x70);
    trustm_sim_destroy(s);
}

static void openapplication_0xF0_and_prl_mode(void **state)
{
    (void)state;
    fake_app_clear();
    uint8_t f[64], buf[300];
    size_t n;
    struct trustm_sim *s = host_sim_new();
    n = vec("openapp_host", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, buf, sizeof(buf), 1000, 50000), 5);
    expect_bytes("ack", buf, 5, "ack0");
    n = host_recv(s, buf, sizeof(buf), 1000, 50000);
    expect_bytes("response", buf, n, "openapp_rsp");
    assert_false(fake_app.last_sec.prl_used);
    trustm_sim_destroy(s);

    /* PRL compiled in, level none: PCTR 08, SCTR 20 */
    fake_app_clear();
    s = host_sim_new();
    n = vec("openapp_prl_host", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, buf, sizeof(buf), 1000, 50000), 5);
    n = host_recv(s, buf, sizeof(buf), 1000, 50000);
    expect_bytes("PRL response", buf, n, "openapp_prl_rsp");
    assert_true(fake_app.last_sec.prl_used);
    assert_false(fake_app.last_sec.cmd_protected);
    trustm_sim_destroy(s);
}

static struct trustm_sim *opened(void)
{
    uint8_t f[64], buf[300];
    struct trustm_sim *s = host_sim_new();
    size_t n = vec("openapp_host", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, buf, sizeof(buf), 1000, 50000), 5);
    assert_int_equal(host_recv(s, buf, sizeof(buf), 1000, 50000), 10);
    n = vec("ack0", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    return s;
}

static void uid_read_answers_with_piggybacked_ack(void **state)
{
    (void)state;
    fake_app_clear();
    uint8_t f[64], buf[300];
    struct trustm_sim *s = opened();
    size_t n = vec("getdata_uid_host", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    n = host_recv(s, buf, sizeof(buf), 1000, 50000);
    assert_int_equal(n, 0x20 + 5);
    expect_prefix(buf, n, "getdata_uid_rsp_prefix");
    struct sim_frame fr;
    assert_int_equal(sim_frame_decode(buf, n, &fr), SIM_FE_OK);
    n = vec("ack1", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    trustm_sim_destroy(s);
}

static void e0e0_response_is_chained_in_272_byte_packets(void **state)
{
    (void)state;
    fake_app_clear();
    uint8_t f[64], buf[300], st[4], apdu[600];
    size_t alen = 0;
    struct trustm_sim *s = opened();
    size_t n = vec("getdata_e0e0_host", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    trustm_sim_sleep_us(s, 5000);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    expect_bytes("state first", st, 4, "e0e0_first_state");
    assert_int_equal(host_reg_read(s, 0x80, buf, 277), TRUSTM_SIM_ACK);
    expect_prefix(buf, 277, "e0e0_first_prefix");
    struct sim_frame fr;
    assert_int_equal(sim_frame_decode(buf, 277, &fr), SIM_FE_OK);
    memcpy(apdu, fr.pkt + 1, fr.pkt_len - 1);
    alen = fr.pkt_len - 1;
    n = vec("ack1", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    expect_bytes("state last", st, 4, "e0e0_last_state");
    assert_int_equal(host_reg_read(s, 0x80, buf, 254), TRUSTM_SIM_ACK);
    expect_prefix(buf, 254, "e0e0_last_prefix");
    assert_int_equal(sim_frame_decode(buf, 254, &fr), SIM_FE_OK);
    memcpy(apdu + alen, fr.pkt + 1, fr.pkt_len - 1);
    alen += fr.pkt_len - 1;
    assert_int_equal(alen, 519);
    assert_int_equal(apdu[0], 0x00);
    assert_int_equal(apdu[2], 0x02);
    assert_int_equal(apdu[3], 0x03);
    assert_int_equal(apdu[4], 0xC0);
    n = vec("ack2", f, sizeof(f));
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    expect_bytes("idle", st, 4, "state_idle");
    trustm_sim_destroy(s);
}

/* Send one PRL message as a single packet with PCTR 08; return the chip's message. */
static size_t prl_exchange(struct trustm_sim *s, uint8_t *frnr, const uint8_t *msg, size_t n,
                           uint8_t *out, size_t cap)
{
    uint8_t pkt[300], buf[300], f[8];
    pkt[0] = 0x08;
    memcpy(pkt + 1, msg, n);
    *frnr = (uint8_t)((*frnr + 1) & 3);
    /* ACKNR = the chip's last frame number = our frame number - 1 in a clean session */
    uint8_t fctr = (uint8_t)((*frnr << 2) | ((*frnr + 3) & 3));
    assert_int_equal(host_send(s, fctr, pkt, n + 1), TRUSTM_SIM_ACK);
    size_t got;
    do {
        got = host_recv(s, buf, sizeof(buf), 1000, 100000);
        assert_true(got >= 5);
    } while (got == 5); /* skip a control ACK */
    struct sim_frame fr;
    assert_int_equal(sim_frame_decode(buf, got, &fr), SIM_FE_OK);
    assert_int_equal(fr.pkt[0], 0x08);
    size_t len = fr.pkt_len - 1;
    assert_true(len <= cap);
    memcpy(out, fr.pkt + 1, len);
    size_t fl = host_frame((uint8_t)(0x80 | fr.frnr), NULL, 0, f);
    assert_int_equal(host_send_raw(s, f, fl), TRUSTM_SIM_ACK);
    return len;
}

static void shielded_connection_vector_of_spec_4_10(void **state)
{
    (void)state;
    fake_app_clear();
    uint8_t rnd[32], m[300], out[300], kb[40], pbs[64];
    for (int i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(i + 1);
    }
    vec("prl_rnd", rnd, sizeof(rnd));
    assert_int_equal(sim_tls_prf_sha256(pbs, 64, "Platform Binding", rnd, 32, kb, 40), 0);
    expect_bytes("key block", kb, 40, "prl_keyblock");

    struct trustm_sim *s = host_sim_new();
    sim_shield_force_random(&s->shield, rnd, 0x1234, 0x5678);
    uint8_t frnr = 3;
    size_t n = vec("prl_master_hello", m, sizeof(m));
    assert_int_equal(m[0], 0x08); /* the vector includes PCTR */
    n = prl_exchange(s, &frnr, m + 1, n - 1, out, sizeof(out));
    uint8_t full[300];
    full[0] = 0x08;
    memcpy(full + 1, out, n);
    expect_bytes("slave hello", full, n + 1, "prl_slave_hello");
    n = vec("prl_master_finished", m, sizeof(m));
    n = prl_exchange(s, &frnr, m, n, out, sizeof(out));
    expect_bytes("slave finished", out, n, "prl_slave_finished");
    n = vec("prl_getrandom_cmd", m, sizeof(m));
    n = prl_exchange(s, &frnr, m, n, out, sizeof(out));
    expect_bytes("protected response", out, n, "prl_getrandom_rsp");
    uint8_t apdu[16];
    size_t an = vec("prl_getrandom_apdu", apdu, sizeof(apdu));
    assert_int_equal(tma_test_memcmp("apdu seen by the application", fake_app.last_apdu,
                                     fake_app.last_apdu_len, apdu, an), 0);
    assert_true(fake_app.last_sec.session);
    assert_true(fake_app.last_sec.cmd_protected);
    assert_true(fake_app.last_sec.rsp_protected);

    /* a replay of the same record is outside the window: fatal alert */
    n = vec("prl_getrandom_cmd", m, sizeof(m));
    n = prl_exchange(s, &frnr, m, n, out, sizeof(out));
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 0x40);
    trustm_sim_destroy(s);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        vec_dir = argv[1];
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(control_frames_encode_exactly),
        cmocka_unit_test(host_frames_of_spec_decode_with_valid_crc),
        cmocka_unit_test(openapplication_exchange_of_datasheet_log),
        cmocka_unit_test(openapplication_0xF0_and_prl_mode),
        cmocka_unit_test(uid_read_answers_with_piggybacked_ack),
        cmocka_unit_test(e0e0_response_is_chained_in_272_byte_packets),
        cmocka_unit_test(shielded_connection_vector_of_spec_4_10),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
