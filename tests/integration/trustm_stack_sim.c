/* libtrustm stack against the in-process simulator: raw APDUs through
 * trustm_transceive() in plain and shielded mode, 1,728-byte chained writes
 * and reads, hibernate with a saved shielded session, and the fault test
 * (10,000 mixed commands with 1 % of the bytes on the bus corrupted in both
 * directions, 1 % lost ACKs and 0.5 % busy NACKs; 2,000 more shielded; 2,000
 * with one flipped bit in 1 % of full-size frames; a reset in the middle of a
 * command). Results are checked independently: hashes and signatures with
 * mbedTLS, data by reading it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "trustm/port_open.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

static struct trustm_port port;
static struct trustm_port_handle *ph;
static struct trustm_sim *sim;
static struct trustm tm;
static uint8_t buf[2048];
static uint32_t worst_ratio_ms; /* largest (elapsed - bound) seen, must stay <= 0 */

static const uint8_t OPEN_APP[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                   0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

/* One exchange; checks the documented time bound; returns the status. */
static tma_status xchg(uint8_t protect, const uint8_t *a, size_t n, const uint8_t *data, size_t dn,
                       uint8_t *out, size_t cap, struct trustm_rsp *rsp)
{
    struct tma_span s[2] = {{a, n}, {data, dn}};
    uint32_t t0 = port.now_ms(port.ctx);
    tma_status st = trustm_transceive(&tm, protect, s, data ? 2 : 1, out, cap, rsp);
    uint32_t el = port.now_ms(port.ctx) - t0;
    uint32_t bound = trustm_transceive_bound_ms(&tm, a[0], a[1], n + dn);
    if (el > bound) {
        fprintf(stderr, "call 0x%02X took %u ms > bound %u ms\n", a[0], el, bound);
        worst_ratio_ms = el - bound;
    }
    return st;
}

static void ok_apdu(uint8_t protect, const uint8_t *a, size_t n, const uint8_t *data, size_t dn,
                    uint8_t *out, size_t cap, struct trustm_rsp *rsp)
{
    tma_status st = xchg(protect, a, n, data, dn, out, cap, rsp);
    if (st != TMA_OK || rsp->sta != 0) {
        fprintf(stderr, "APDU %02X %02X: %s, sta %02X\n", a[0], a[1], tma_status_str(st), rsp->sta);
    }
    assert_int_equal(st, TMA_OK);
    assert_int_equal(rsp->sta, 0);
}

static int setup_frame(uint16_t frame_size)
{
    struct trustm_cfg cfg = {0, 0, frame_size, 0};
    if (trustm_port_sim_open(NULL, 42, &port, &ph) != TMA_OK) {
        return -1;
    }
    sim = trustm_port_sim_instance(ph);
    if (trustm_init(&tm, &port, &cfg) != TMA_OK || trustm_open(&tm) != TMA_OK) {
        return -1;
    }
    struct trustm_rsp rsp;
    struct tma_span s = {OPEN_APP, sizeof OPEN_APP};
    if (trustm_transceive(&tm, 0, &s, 1, NULL, 0, &rsp) != TMA_OK || rsp.sta != 0) {
        return -1;
    }
    worst_ratio_ms = 0;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_frame(0);
}

/* The fault runs corrupt 1 % of the bytes on the bus. A 277-byte frame then
 * arrives intact only 6 % of the time (0.99^277) and the chip gives up after
 * 12 resends, so a product on such a bus configures short frames, as here:
 * 32 bytes, 72 % intact. TRUSTM_FAULT_FRAME overrides (16..277). */
static int setup_noisy(void **state)
{
    const char *e = getenv("TRUSTM_FAULT_FRAME");
    (void)state;
    return setup_frame(e ? (uint16_t)strtoul(e, NULL, 10) : 32u);
}

static int teardown(void **state)
{
    (void)state;
    trustm_deinit(&tm);
    trustm_port_close(ph);
    ph = NULL;
    return 0;
}

static size_t read_obj(uint8_t protect, uint16_t oid, uint16_t off, uint16_t len, uint8_t *out)
{
    uint8_t a[10] = {0x81, 0x00, 0x00, 0x06, (uint8_t)(oid >> 8), (uint8_t)oid,
                     (uint8_t)(off >> 8), (uint8_t)off, (uint8_t)(len >> 8), (uint8_t)len};
    struct trustm_rsp rsp;
    ok_apdu(protect, a, sizeof a, NULL, 0, out, len, &rsp);
    return rsp.out_len;
}

static void write_obj(uint8_t protect, uint8_t param, uint16_t oid, uint16_t off,
                      const uint8_t *d, size_t n)
{
    uint8_t a[8] = {0x82, param, (uint8_t)((n + 4) >> 8), (uint8_t)(n + 4), (uint8_t)(oid >> 8),
                    (uint8_t)oid, (uint8_t)(off >> 8), (uint8_t)off};
    struct trustm_rsp rsp;
    ok_apdu(protect, a, sizeof a, d, n, NULL, 0, &rsp);
}

/* 1,728 bytes into 0xE0E1: 1,549 + 179 (APDU limit 1,557), read back as
 * 1,553 + 175. */
static void cert_1728_roundtrip(uint8_t wprot, uint8_t rprot)
{
    static uint8_t cert[1728], back[1728];
    for (size_t i = 0; i < sizeof cert; i++) {
        cert[i] = (uint8_t)(rand() & 0xFF);
    }
    write_obj(wprot, 0x40, 0xE0E1, 0, cert, 1549);
    write_obj(wprot, 0x00, 0xE0E1, 1549, cert + 1549, 179);
    assert_int_equal(read_obj(rprot, 0xE0E1, 0, 1553, back), 1553);
    assert_int_equal(read_obj(rprot, 0xE0E1, 1553, 175, back + 1553), 175);
    assert_memory_equal(back, cert, sizeof cert);
}

static void plain_random_read_and_1728_chained(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    static uint8_t e0e0[1600], again[1600];
    (void)state;
    ok_apdu(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    assert_int_equal(rsp.out_len, 32);
    size_t n = read_obj(0, 0xE0E0, 0, 1553, e0e0);
    assert_true(n > 300);
    assert_int_equal(e0e0[0], 0xC0);
    assert_int_equal(read_obj(0, 0xE0E0, 0, 1553, again), n);
    assert_memory_equal(e0e0, again, n);
    cert_1728_roundtrip(0, 0);
    /* a response larger than the buffer: TOO_SMALL with the needed size */
    uint8_t a[10] = {0x81, 0, 0, 6, 0xE0, 0xE0, 0, 0, 0x06, 0x11};
    assert_int_equal(xchg(0, a, 10, NULL, 0, buf, 16, &rsp), TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL));
    assert_int_equal(rsp.out_len, n);
    /* and the link is still in step */
    ok_apdu(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    assert_int_equal(worst_ratio_ms, 0);
}

static void pair_secret(uint8_t *pbs)
{
    for (int i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(rand() & 0xFF);
    }
    write_obj(0, 0x40, 0xE140, 0, pbs, 64);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 64), TMA_OK);
}

static void shielded_all_levels_and_chained(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x40};
    static uint8_t plain[1600], prot[1600];
    uint8_t pbs[64];
    (void)state;
    size_t n = read_obj(0, 0xE0E0, 0, 1553, plain);
    pair_secret(pbs);
    for (uint8_t lvl = 0; lvl <= 3; lvl++) {
        ok_apdu(lvl | (lvl == 3 ? TRUSTM_PROTECT_REHANDSHAKE : 0), rnd, sizeof rnd, NULL, 0, buf,
                sizeof buf, &rsp);
        assert_int_equal(rsp.out_len, 64);
        assert_int_equal(read_obj(lvl, 0xE0E0, 0, 1553, prot), n);
        assert_memory_equal(prot, plain, n);
    }
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_ACTIVE);
    cert_1728_roundtrip(TRUSTM_PROTECT_CMD, TRUSTM_PROTECT_RSP);
    cert_1728_roundtrip(TRUSTM_PROTECT_BOTH, TRUSTM_PROTECT_BOTH);
    assert_int_equal(worst_ratio_ms, 0);
}

/* A number of the simulator's statistics JSON: "key": N inside section. */
static unsigned long long stat_num(const char *stats, const char *section, const char *key)
{
    char k[48];
    const char *sec = strstr(stats, section);
    assert_non_null(sec);
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *at = strstr(sec, k);
    assert_non_null(at);
    return strtoull(at + strlen(k), NULL, 10);
}

/* The chip ends a session whose MSEQ jumps past its window (records lost on
 * the bus can do that) with a fatal alert: the call handshakes once more and
 * succeeds, and the chip saw exactly one alert and a second Hello. */
static void shielded_fatal_alert_rehandshakes(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    uint8_t pbs[64];
    char stats[4096];
    size_t sl = 0;
    (void)state;
    pair_secret(pbs);
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    uint32_t before = tm.sess.mseq;
    tm.sess.mseq += 10; /* as if ten records had been lost */
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    assert_int_equal(rsp.out_len, 32);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_ACTIVE);
    assert_true(tm.sess.mseq != before + 11); /* a new session: the chip chose MSEQ anew */
    assert_int_equal(trustm_sim_stats_json(sim, stats, sizeof stats - 1, &sl), TMA_OK);
    stats[sl] = '\0';
    assert_int_equal(stat_num(stats, "\"shield\":{", "alerts_sent"), 1);
    assert_int_equal(stat_num(stats, "\"name\":\"prl_hello\"", "count"), 2);
    assert_int_equal(worst_ratio_ms, 0);
}

static void shielded_wrong_secret_fails_cleanly(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    uint8_t pbs[64], wrong[64];
    (void)state;
    pair_secret(pbs);
    memcpy(wrong, pbs, 64);
    wrong[5] ^= 1;
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), wrong, 64), TMA_OK);
    assert_int_equal(xchg(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp),
                     TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_HANDSHAKE));
    /* after a soft reset the right secret works again */
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_SOFT), TMA_OK);
    struct tma_span s = {OPEN_APP, sizeof OPEN_APP};
    assert_int_equal(trustm_transceive(&tm, 0, &s, 1, NULL, 0, &rsp), TMA_OK);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 64), TMA_OK);
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
}

static void shielded_corrupt_mac_fails_until_reset(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    uint8_t pbs[64];
    (void)state;
    pair_secret(pbs);
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    static const char cfg[] = "{\"seed\":3,\"corrupt_mac\":1.0,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(sim, cfg, sizeof cfg - 1), TMA_OK);
    tma_status st = xchg(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    assert_int_equal(st, TMA_ERR(TMA_LAYER_SHIELD, TMA_C_INTEGRITY));
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_FAILED);
    assert_int_equal(xchg(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp),
                     TMA_ERR(TMA_LAYER_SHIELD, TMA_C_FAILED));
    assert_int_equal(trustm_sim_faults_json(sim, "{}", 2), TMA_OK);
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_SOFT), TMA_OK);
    struct tma_span s = {OPEN_APP, sizeof OPEN_APP};
    assert_int_equal(trustm_transceive(&tm, 0, &s, 1, NULL, 0, &rsp), TMA_OK);
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
}

static void hibernate_keeps_shielded_session(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    static const uint8_t close_hib[] = {0xF1, 0x01, 0x00, 0x00};
    uint8_t pbs[64], handle[8], restore[28];
    struct trustm_shield_saved saved;
    (void)state;
    pair_secret(pbs);
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    /* the handshake was a Security Monitor event (SEC 1 right after power-up,
     * SRM Tab.43 / 6.5.8); hibernating needs SEC 0: one t_max idle first */
    trustm_sim_sleep_us(sim, 5200u * 1000u);
    ok_apdu(0, close_hib, sizeof close_hib, NULL, 0, handle, sizeof handle, &rsp);
    assert_int_equal(rsp.out_len, 8);
    assert_int_equal(trustm_shield_save(&tm, &saved), TMA_OK);
    assert_int_equal(trustm_shield_state(&tm), TRUSTM_SHIELD_NONE);
    /* power off and on */
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_COLD), TMA_OK);
    assert_int_equal(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), pbs, 64), TMA_OK);
    assert_int_equal(trustm_shield_restore(&tm, &saved), TMA_OK);
    memcpy(restore, OPEN_APP, sizeof OPEN_APP);
    restore[1] = 0x01;
    restore[3] = 0x18;
    memcpy(restore + 20, handle, 8);
    ok_apdu(0, restore, sizeof restore, NULL, 0, NULL, 0, &rsp);
    uint32_t mseq = saved.mseq;
    ok_apdu(TRUSTM_PROTECT_BOTH, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    assert_int_equal(tm.sess.mseq, mseq + 1); /* same session, no new handshake */
}

static void life_cycle_resets_and_reopen(void **state)
{
    struct trustm_rsp rsp;
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    (void)state;
    /* warm reset (RST pin through the port): the application is closed */
    assert_int_equal(trustm_reset(&tm, TRUSTM_RESET_WARM), TMA_OK);
    assert_int_equal(xchg(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp), TMA_OK);
    assert_int_equal(rsp.sta, 0xFF); /* command not available: app closed */
    ok_apdu(0, OPEN_APP, sizeof OPEN_APP, NULL, 0, NULL, 0, &rsp);
    ok_apdu(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    /* close the link: exchanges are refused, nothing reaches the bus */
    assert_int_equal(trustm_close(&tm), TMA_OK);
    assert_int_equal(xchg(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp),
                     TMA_ERR(TMA_LAYER_LINK, TMA_C_STATE));
    /* reopen without a reset (RESYNC only): the application is still open */
    struct trustm_cfg cfg = {0, TRUSTM_F_NO_RESET, 0, 0};
    assert_int_equal(trustm_init(&tm, &port, &cfg), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK); /* idempotent */
    ok_apdu(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    /* a smaller frame size: every APDU is chained in 64-byte frames */
    trustm_deinit(&tm);
    struct trustm_cfg small = {0, 0, 64, 0};
    assert_int_equal(trustm_init(&tm, &port, &small), TMA_OK);
    assert_int_equal(trustm_open(&tm), TMA_OK);
    assert_int_equal(tm.frame_size, 64);
    ok_apdu(0, OPEN_APP, sizeof OPEN_APP, NULL, 0, NULL, 0, &rsp);
    cert_1728_roundtrip(0, 0);
    assert_int_equal(worst_ratio_ms, 0);
}

/* ---------------- fault test ---------------- */

static mbedtls_pk_context devkey;

static void load_device_key(void)
{
    static uint8_t obj[1600];
    size_t n = read_obj(0, 0xE0E0, 0, 1553, obj);
    assert_true(n > 9 && obj[0] == 0xC0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(&crt, obj + 9, n - 9), 0);
    mbedtls_pk_init(&devkey);
    /* copy the public key by re-parsing its DER */
    uint8_t der[200];
    int l = mbedtls_pk_write_pubkey_der(&crt.pk, der, sizeof der);
    assert_true(l > 0);
    assert_int_equal(mbedtls_pk_parse_public_key(&devkey, der + sizeof der - l, (size_t)l), 0);
    mbedtls_x509_crt_free(&crt);
}

/* The chip's signature: two DER INTEGERs; wrap them in a SEQUENCE. */
static int verify_sig(const uint8_t *digest, const uint8_t *sig, size_t n)
{
    uint8_t der[80];
    if (n + 2 > sizeof der) {
        return -1;
    }
    der[0] = 0x30;
    der[1] = (uint8_t)n;
    memcpy(der + 2, sig, n);
    return mbedtls_pk_verify(&devkey, MBEDTLS_MD_SHA256, digest, 32, der, n + 2);
}


#define BYTE_FAULTS "{\"seed\":11,\"byte_rx\":0.01,\"byte_tx\":0.01,\"lost_ack\":0.01,\"busy_nack\":0.005}"
#define FRAME_FAULTS \
    "{\"seed\":11,\"bitflip_rx\":0.01,\"bitflip_tx\":0.01,\"lost_ack\":0.01,\"busy_nack\":0.005}"

static void run_mixed(unsigned count, uint8_t protect, const char *cfg)
{
    static uint8_t e0e0[1600], uid[32], tmp[1600];
    struct trustm_rsp rsp;
    size_t ne0 = read_obj(0, 0xE0E0, 0, 1553, e0e0);
    size_t nuid = read_obj(0, 0xE0C2, 0, 27, uid);
    load_device_key();
    const char *given = cfg;
    if (getenv("TRUSTM_FAULT_JSON")) {
        cfg = getenv("TRUSTM_FAULT_JSON"); /* explore other fault mixes by hand */
    }
    assert_int_equal(trustm_sim_faults_json(sim, cfg, strlen(cfg)), TMA_OK);
    unsigned fails = 0;
    for (unsigned i = 0; i < count; i++) {
        tma_status st = TMA_OK;
        unsigned kind = i % 10;
        if (kind < 4) { /* random */
            uint8_t a[6] = {0x8C, 0x00, 0x00, 0x02, 0x00, (uint8_t)(8 + (i % 57))};
            st = xchg(protect, a, 6, NULL, 0, tmp, sizeof tmp, &rsp);
            if (st == TMA_OK && (rsp.sta || rsp.out_len != a[5])) st = -1;
        } else if (kind < 6) { /* UID read */
            uint8_t a[10] = {0x81, 0, 0, 6, 0xE0, 0xC2, 0, 0, 0, 27};
            st = xchg(protect, a, 10, NULL, 0, tmp, sizeof tmp, &rsp);
            if (st == TMA_OK && (rsp.sta || rsp.out_len != nuid || memcmp(tmp, uid, nuid))) st = -2;
        } else if (kind == 6) { /* chained certificate read */
            uint8_t a[10] = {0x81, 0, 0, 6, 0xE0, 0xE0, 0, 0, 0x06, 0x11};
            st = xchg(protect, a, 10, NULL, 0, tmp, sizeof tmp, &rsp);
            if (st == TMA_OK && (rsp.sta || rsp.out_len != ne0 || memcmp(tmp, e0e0, ne0))) st = -3;
        } else if (kind == 7) { /* hash, checked with mbedTLS */
            uint8_t a[4] = {0xB0, 0xE2, 0, 0};
            uint8_t d[3 + 100], want[32];
            size_t dl = 1 + (i % 100);
            d[0] = 0x01;
            d[1] = 0;
            d[2] = (uint8_t)dl;
            for (size_t k = 0; k < dl; k++) d[3 + k] = (uint8_t)(i + k);
            a[1] = 0xE2; /* SHA-256 one shot */
            a[2] = 0;
            a[3] = (uint8_t)(dl + 3);
            st = xchg(protect, a, 4, d, dl + 3, tmp, sizeof tmp, &rsp);
            mbedtls_sha256_ret(d + 3, dl, want, 0);
            if (st == TMA_OK && (rsp.sta || rsp.out_len != 35 || memcmp(tmp + 3, want, 32))) st = -4;
        } else if (kind == 8) { /* write + read back a data object */
            uint8_t d[40];
            for (int k = 0; k < 40; k++) d[k] = (uint8_t)(i * 3 + (unsigned)k);
            uint8_t a[8] = {0x82, 0x40, 0, 44, 0xF1, 0xD0, 0, 0};
            st = xchg(protect, a, 8, d, 40, NULL, 0, &rsp);
            if (st == TMA_OK && rsp.sta) st = -5;
            if (st == TMA_OK) {
                uint8_t r[10] = {0x81, 0, 0, 6, 0xF1, 0xD0, 0, 0, 0, 40};
                st = xchg(protect, r, 10, NULL, 0, tmp, sizeof tmp, &rsp);
                if (st == TMA_OK && (rsp.sta || rsp.out_len != 40 || memcmp(tmp, d, 40))) st = -6;
            }
        } else { /* ECDSA sign with E0F0, verified with the certificate's key */
            uint8_t a[4] = {0xB1, 0x11, 0x00, 0x28};
            uint8_t d[40];
            d[0] = 0x01;
            d[1] = 0x00;
            d[2] = 0x20;
            for (int k = 0; k < 32; k++) d[3 + k] = (uint8_t)(i * 7 + (unsigned)k);
            memcpy(d + 35, "\x03\x00\x02\xE0\xF0", 5);
            st = xchg(protect, a, 4, d, 40, tmp, sizeof tmp, &rsp);
            if (st == TMA_OK && (rsp.sta || verify_sig(d + 3, tmp, rsp.out_len) != 0)) st = -7;
        }
        if (st != TMA_OK) {
            fails++;
            fprintf(stderr, "command %u (kind %u): %d %s\n", i, kind, (int)st,
                    st < -7 ? tma_status_str(st) : "wrong result");
        }
    }
    /* Statistics before the injector is reconfigured (that zeroes its total). */
    char stats[4096];
    size_t sl = 0;
    assert_int_equal(trustm_sim_stats_json(sim, stats, sizeof stats - 1, &sl), TMA_OK);
    stats[sl] = '\0';
    assert_int_equal(trustm_sim_faults_json(sim, "{}", 2), TMA_OK);
    fprintf(stderr, "sim stats after %u commands: %.*s\n", count, (int)(sl > 1500 ? 1500 : sl),
            stats);
    /* CRC-16 misses a damaged frame now and then (several bytes hit, about
     * one such frame in 65,536): the simulator counts those, and only they
     * may explain a wrong result. Everything else must be right. */
    unsigned long long escapes = stat_num(stats, "\"link\":{", "crc_escapes_rx") +
                                 stat_num(stats, "\"link\":{", "crc_escapes_tx");
    fprintf(stderr, "%u of %u commands failed; frames damaged past the CRC: %llu\n", fails, count,
            escapes);
    if (getenv("TRUSTM_FAULT_JSON") == NULL) {
        /* The run proves something only if every configured fault kind
         * really hit it (each is far above one per 1,000 commands). */
        int bytes = strstr(given, "byte_rx") != NULL;
        const char *kinds[] = {bytes ? "byte_rx" : "bitflip_rx", bytes ? "byte_tx" : "bitflip_tx",
                               "lost_ack", "busy_nack"};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            unsigned long long n = stat_num(stats, "\"faults\":{", kinds[k]);
            fprintf(stderr, "faults injected: %s %llu\n", kinds[k], n);
            assert_true(n >= count / 1000u && n > 0);
        }
        if (bytes) {
            /* and the damage is 1 % of the bytes on the bus, each way */
            double rx = (double)stat_num(stats, "\"faults\":{", "byte_rx") /
                        (double)stat_num(stats, "\"link\":{", "bytes_rx");
            double tx = (double)stat_num(stats, "\"faults\":{", "byte_tx") /
                        (double)stat_num(stats, "\"link\":{", "bytes_tx");
            fprintf(stderr, "corrupted bytes: %.3f %% host->chip, %.3f %% chip->host\n", rx * 100,
                    tx * 100);
            assert_true(rx > 0.009 && rx < 0.011 && tx > 0.009 && tx < 0.011);
        }
    }
    mbedtls_pk_free(&devkey);
    assert_true(fails <= escapes);
    assert_int_equal(worst_ratio_ms, 0);
}

static unsigned fault_count(void)
{
    const char *e = getenv("TRUSTM_FAULT_COMMANDS");
    return e ? (unsigned)strtoul(e, NULL, 10) : 10000u;
}

static void faults_10000_mixed_plain(void **state)
{
    (void)state;
    run_mixed(fault_count(), 0, BYTE_FAULTS);
}

static void faults_mixed_shielded(void **state)
{
    uint8_t pbs[64];
    (void)state;
    pair_secret(pbs);
    run_mixed(fault_count() / 5, TRUSTM_PROTECT_BOTH, BYTE_FAULTS);
}

/* Full-size frames (277 bytes) with one flipped bit in 1 % of them. */
static void faults_mixed_frames(void **state)
{
    (void)state;
    run_mixed(fault_count() / 5, 0, FRAME_FAULTS);
}

static void reset_mid_command_then_next_succeeds(void **state)
{
    struct trustm_rsp rsp;
    uint8_t a[4] = {0xB1, 0x11, 0x00, 0x28};
    uint8_t d[40] = {0x01, 0x00, 0x20};
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    (void)state;
    memcpy(d + 35, "\x03\x00\x02\xE0\xF0", 5);
    static const char cfg[] = "{\"seed\":5,\"reset_mid_command\":1.0,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(sim, cfg, sizeof cfg - 1), TMA_OK);
    tma_status st = xchg(0, a, 4, d, 40, buf, sizeof buf, &rsp);
    assert_int_not_equal(st, TMA_OK);
    fprintf(stderr, "reset mid-command -> %s\n", tma_status_str(st));
    assert_int_equal(trustm_sim_faults_json(sim, "{}", 2), TMA_OK);
    /* the chip lost its application: open it again, then work as before */
    ok_apdu(0, OPEN_APP, sizeof OPEN_APP, NULL, 0, NULL, 0, &rsp);
    ok_apdu(0, rnd, sizeof rnd, NULL, 0, buf, sizeof buf, &rsp);
    ok_apdu(0, a, 4, d, 40, buf, sizeof buf, &rsp);
    assert_int_equal(worst_ratio_ms, 0);
}

int main(int argc, char **argv)
{
    srand(7);
    /* "only PATTERN" or "skip PATTERN" (ctest runs the fault runs apart) */
    if (argc > 2 && strcmp(argv[1], "only") == 0) {
        cmocka_set_test_filter(argv[2]);
    } else if (argc > 2 && strcmp(argv[1], "skip") == 0) {
        cmocka_set_skip_filter(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_random_read_and_1728_chained, setup, teardown),
        cmocka_unit_test_setup_teardown(shielded_all_levels_and_chained, setup, teardown),
        cmocka_unit_test_setup_teardown(shielded_fatal_alert_rehandshakes, setup, teardown),
        cmocka_unit_test_setup_teardown(shielded_wrong_secret_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(shielded_corrupt_mac_fails_until_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(hibernate_keeps_shielded_session, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_mid_command_then_next_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(life_cycle_resets_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(faults_10000_mixed_plain, setup_noisy, teardown),
        cmocka_unit_test_setup_teardown(faults_mixed_shielded, setup_noisy, teardown),
        cmocka_unit_test_setup_teardown(faults_mixed_frames, setup, teardown),
    };
    return cmocka_run_group_tests_name("trustm_stack_sim", tests, NULL, NULL);
}
