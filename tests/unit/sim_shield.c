/* sim presentation layer through the bus: alerts, protected records in both
 * directions, integrity alerts and resends, sequence windows and the
 * hibernate context. Host-side crypto is done here with mbedTLS directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/ccm.h>

#include "sim_fake_app.h"
#include "sim_host.h"
#include "sim_int.h"

static uint8_t frnr;
static uint8_t kb[40];

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One PRL message (pctr 0x08 or 0x00) in, the chip's packet out (PCTR included). */
static size_t xchg(struct trustm_sim *s, uint8_t pctr, const uint8_t *msg, size_t n, uint8_t *out)
{
    uint8_t pkt[300], buf[300];
    pkt[0] = pctr;
    memcpy(pkt + 1, msg, n);
    frnr = (uint8_t)((frnr + 1) & 3);
    assert_int_equal(host_send(s, (uint8_t)((frnr << 2) | ((frnr + 3) & 3)), pkt, n + 1), TRUSTM_SIM_ACK);
    size_t got;
    do {
        got = host_recv(s, buf, sizeof(buf), 1000, 100000);
        assert_true(got >= 5);
    } while (got == 5);
    struct sim_frame fr;
    assert_int_equal(sim_frame_decode(buf, got, &fr), SIM_FE_OK);
    memcpy(out, fr.pkt, fr.pkt_len);
    uint8_t a[5];
    host_frame((uint8_t)(0x80 | fr.frnr), NULL, 0, a);
    assert_int_equal(host_send_raw(s, a, 5), TRUSTM_SIM_ACK);
    return fr.pkt_len;
}

static int ccm(bool enc, const uint8_t *key, const uint8_t *prefix, uint8_t sctr, uint32_t seq,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    uint8_t nonce[8], ad[8];
    memcpy(nonce, prefix, 4);
    put32(nonce + 4, seq);
    ad[0] = sctr;
    put32(ad + 1, seq);
    ad[5] = 1;
    ad[6] = (uint8_t)(len >> 8);
    ad[7] = (uint8_t)len;
    mbedtls_ccm_context c;
    mbedtls_ccm_init(&c);
    int rc = mbedtls_ccm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (!rc) {
        rc = enc ? mbedtls_ccm_encrypt_and_tag(&c, len, nonce, 8, ad, 8, in, out, tag, 8)
                 : mbedtls_ccm_auth_decrypt(&c, len, nonce, 8, ad, 8, in, out, tag, 8);
    }
    mbedtls_ccm_free(&c);
    return rc;
}

/* Handshake with the spec 4.10 randoms on chip s (frame numbers go on
 * from frnr). */
static void handshake(struct trustm_sim *s)
{
    uint8_t rnd[32], m[64], out[300];
    for (int i = 0; i < 32; i++) {
        rnd[i] = (uint8_t)(0xA0 + i);
    }
    sim_shield_force_random(&s->shield, rnd, 0x1234, 0x5678);
    uint8_t pbs[64];
    for (int i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(i + 1);
    }
    assert_int_equal(sim_tls_prf_sha256(pbs, 64, "Platform Binding", rnd, 32, kb, 40), 0);
    m[0] = 0x00;
    m[1] = 0x01;
    assert_int_equal(xchg(s, 0x08, m, 2, out), 39);
    uint8_t pt[36];
    memcpy(pt, rnd, 32);
    put32(pt + 32, 0x1234);
    m[0] = 0x08;
    put32(m + 1, 0x1234);
    assert_int_equal(ccm(true, kb, kb + 32, 0x08, 0x1234, pt, 36, m + 5, m + 41), 0);
    assert_int_equal(xchg(s, 0x08, m, 49, out), 50);
    assert_int_equal(out[1], 0x08);
}

/* Handshake with the spec 4.10 randoms; returns the chip. */
static struct trustm_sim *handshaken(void)
{
    struct trustm_sim *s = host_sim_new();
    frnr = 3;
    handshake(s);
    return s;
}

static size_t protected_cmd(struct trustm_sim *s, uint8_t sctr, uint32_t mseq, const uint8_t *apdu,
                            size_t n, uint8_t *out)
{
    uint8_t m[300];
    m[0] = sctr;
    put32(m + 1, mseq);
    assert_int_equal(ccm(true, kb, kb + 32, sctr, mseq, apdu, n, m + 5, m + 5 + n), 0);
    return xchg(s, 0x08, m, n + 13, out);
}

static const uint8_t getrandom[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};

static void protected_record_without_session_is_fatal(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    frnr = 3;
    uint8_t m[32] = {0x23, 0, 0, 0, 1}, out[300];
    assert_int_equal(xchg(s, 0x08, m, 19, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    /* a plain record works, and afterwards the presentation layer is mandatory */
    m[0] = 0x20;
    memcpy(m + 1, getrandom, sizeof(getrandom));
    assert_int_equal(xchg(s, 0x08, m, 7, out), 2 + 4 + 32);
    assert_int_equal(out[1], 0x20);
    assert_int_equal(xchg(s, 0x00, getrandom, sizeof(getrandom), out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    assert_int_equal(fake_app.executes, 1);
    /* bad hello: wrong length */
    m[0] = 0x00;
    assert_int_equal(xchg(s, 0x08, m, 3, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    /* finished without hello */
    memset(m, 0, sizeof(m));
    m[0] = 0x08;
    uint8_t fin[49] = {0x08};
    assert_int_equal(xchg(s, 0x08, fin, 49, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    trustm_sim_destroy(s);
}

static void bad_finished_fails_the_handshake(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    uint8_t m[64] = {0x00, 0x01}, out[300];
    frnr = 3;
    assert_int_equal(xchg(s, 0x08, m, 2, out), 39);
    m[0] = 0x08;
    memcpy(m + 1, out + 35, 4); /* echo SSEQ, garbage ciphertext */
    memset(m + 5, 0x5A, 44);
    assert_int_equal(xchg(s, 0x08, m, 49, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    trustm_sim_destroy(s);
}

static void command_mac_failure_gives_integrity_alert_then_retry_works(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = handshaken();
    uint8_t m[64], out[300];
    m[0] = 0x21;
    put32(m + 1, 0x5679);
    assert_int_equal(ccm(true, kb, kb + 32, 0x21, 0x5679, getrandom, 6, m + 5, m + 11), 0);
    m[12] ^= 0x80; /* corrupt the MAC */
    assert_int_equal(xchg(s, 0x08, m, 19, out), 2);
    assert_memory_equal(out, "\x08\x44", 2);
    assert_int_equal(fake_app.executes, 0);
    /* re-encrypted with the next MSEQ: accepted, plain response (0x21) */
    assert_int_equal(protected_cmd(s, 0x21, 0x567A, getrandom, 6, out), 2 + 4 + 32);
    assert_int_equal(out[1], 0x21);
    assert_int_equal(fake_app.executes, 1);
    /* out of the window (+4): fatal, session dropped */
    assert_int_equal(protected_cmd(s, 0x21, 0x567E, getrandom, 6, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    trustm_sim_destroy(s);
}

static void corrupted_response_mac_is_resent_on_host_alert(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = handshaken();
    const char *cfg = "{\"corrupt_mac\":1,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t out[300], pt[64];
    size_t n = protected_cmd(s, 0x23, 0x5679, getrandom, 6, out);
    assert_int_equal(n, 1 + 1 + 4 + 36 + 8);
    assert_int_equal(out[1], 0x23);
    assert_int_equal(out[2] << 24 | out[3] << 16 | out[4] << 8 | out[5], 0x1235);
    assert_int_not_equal(ccm(false, kb + 16, kb + 36, 0x23, 0x1235, out + 6, 36, pt, out + 42), 0);
    uint8_t alert = 0x44;
    n = xchg(s, 0x08, &alert, 1, out);
    assert_int_equal(n, 50);
    assert_int_equal(out[2] << 24 | out[3] << 16 | out[4] << 8 | out[5], 0x1236);
    assert_int_equal(ccm(false, kb + 16, kb + 36, 0x23, 0x1236, out + 6, 36, pt, out + 42), 0);
    assert_memory_equal(pt, "\x00\x00\x00\x20\x00\x01\x02", 7);
    assert_int_equal(fake_app.executes, 1);
    trustm_sim_destroy(s);
}

/* The faults.injected and faults.corrupt_mac counts of the statistics. */
static void mac_fault_counts(struct trustm_sim *s, unsigned *injected, unsigned *corrupt)
{
    char json[4096];
    size_t jl = 0;
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json) - 1, &jl), TMA_OK);
    json[jl] = '\0';
    const char *f = strstr(json, "\"faults\":{\"injected\":");
    assert_non_null(f);
    assert_int_equal(sscanf(f, "\"faults\":{\"injected\":%u", injected), 1);
    const char *c = strstr(f, "\"corrupt_mac\":");
    assert_non_null(c);
    assert_int_equal(sscanf(c, "\"corrupt_mac\":%u", corrupt), 1);
}

/* corrupt_mac scheduled for a command whose response is not protected
 * corrupts nothing and is not counted: the one fault max_faults allows is
 * still there for the next protected response. */
static void corrupt_mac_skips_a_plain_response(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    const char *cfg = "{\"corrupt_mac\":1,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t out[300], pt[64];
    frnr = 3;
    uint8_t m[16] = {0x20};
    memcpy(m + 1, getrandom, sizeof(getrandom));
    size_t n = xchg(s, 0x08, m, 7, out); /* a plain record */
    assert_int_equal(n, 2 + 4 + 32);
    assert_int_equal(out[1], 0x20);
    assert_memory_equal(out + 2, "\x00\x00\x00\x20\x00\x01\x02", 7); /* the fake's random, intact */
    unsigned inj = 99, cm = 99;
    mac_fault_counts(s, &inj, &cm);
    assert_int_equal(inj, 0);
    assert_int_equal(cm, 0);
    /* the handshake's Finished is not a protected response either */
    handshake(s);
    mac_fault_counts(s, &inj, &cm);
    assert_int_equal(inj, 0);
    /* the first protected response gets it */
    n = protected_cmd(s, 0x23, 0x5679, getrandom, 6, out);
    assert_int_equal(n, 1 + 1 + 4 + 36 + 8);
    assert_int_not_equal(ccm(false, kb + 16, kb + 36, 0x23, 0x1235, out + 6, 36, pt, out + 42), 0);
    mac_fault_counts(s, &inj, &cm);
    assert_int_equal(inj, 1);
    assert_int_equal(cm, 1);
    trustm_sim_destroy(s);
}

static void hibernate_saves_and_restores_the_session(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = handshaken();
    uint8_t out[300], pt[64];
    uint8_t close_hib[] = {0xF1, 0x01, 0x00, 0x00};
    assert_int_equal(protected_cmd(s, 0x23, 0x5679, close_hib, 4, out), 2 + 4 + 12 + 8);
    uint8_t save = 0x60;
    assert_int_equal(xchg(s, 0x08, &save, 1, out), 2);
    assert_memory_equal(out, "\x08\x64", 2);
    assert_int_equal(trustm_sim_reset(s, TRUSTM_RESET_COLD), TMA_OK);
    trustm_sim_sleep_us(s, 15000);
    frnr = 3;
    uint8_t restore[5] = {0x68};
    put32(restore + 1, 0x1234); /* wrong SSEQ: refused, context flushed */
    assert_int_equal(xchg(s, 0x08, restore, 5, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    trustm_sim_destroy(s);

    /* again, with the right SSEQ */
    fake_app_clear();
    s = handshaken();
    assert_int_equal(protected_cmd(s, 0x23, 0x5679, close_hib, 4, out), 2 + 4 + 12 + 8);
    assert_int_equal(xchg(s, 0x08, &save, 1, out), 2);
    assert_int_equal(trustm_sim_reset(s, TRUSTM_RESET_COLD), TMA_OK);
    trustm_sim_sleep_us(s, 15000);
    frnr = 3;
    put32(restore + 1, 0x1235);
    assert_int_equal(xchg(s, 0x08, restore, 5, out), 6);
    assert_int_equal(out[1], 0x6C);
    assert_int_equal(out[2] << 24 | out[3] << 16 | out[4] << 8 | out[5], 0x5679);
    assert_int_equal(protected_cmd(s, 0x23, 0x567A, getrandom, 6, out), 50);
    assert_int_equal(ccm(false, kb + 16, kb + 36, 0x23, 0x1236, out + 6, 36, pt, out + 42), 0);
    /* the context is single use */
    assert_int_equal(xchg(s, 0x08, restore, 5, out), 2);
    assert_memory_equal(out, "\x08\x40", 2);
    trustm_sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protected_record_without_session_is_fatal),
        cmocka_unit_test(bad_finished_fails_the_handshake),
        cmocka_unit_test(corrupt_mac_skips_a_plain_response),
        cmocka_unit_test(command_mac_failure_gives_integrity_alert_then_retry_works),
        cmocka_unit_test(corrupted_response_mac_is_resent_on_host_alert),
        cmocka_unit_test(hibernate_saves_and_restores_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
