/*
 * Chip-fidelity checks (docs/decisions/chip-fidelity.md): facts taken from
 * Infineon's documents that both the simulator and libtrustm must follow.
 * Each case sends the library's real bytes to the in-process simulator and,
 * where the document fixes the bytes, checks the raw APDUs too, so a belief
 * shared by both sides cannot make the case pass.
 *
 * Usage: chipfid_chip <case>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/transceive.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"
#include "tma_check.h"

static int failures;


/* One raw APDU through the library's stack; returns Sta (or -1) and the
 * OutData in out (up to cap bytes), its length in *out_len. */
static int raw(struct trustm *t, const uint8_t *apdu, size_t n, uint8_t *out, size_t cap,
               size_t *out_len)
{
    struct tma_span seg = {apdu, n};
    struct trustm_rsp r;
    tma_status st = trustm_transceive(t, TRUSTM_PROTECT_NONE, &seg, 1, out, cap, &r);
    if (st != TMA_OK) {
        fprintf(stderr, "transceive: %s\n", tma_status_str(st));
        return -1;
    }
    *out_len = r.out_len;
    return r.sta;
}

/* Last error code, read with code 0x01 (spec 6.1). */
static int last_error(struct trustm *t)
{
    static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
    uint8_t b[4];
    size_t n = 0;
    if (raw(t, rd, sizeof rd, b, sizeof b, &n) != 0 || n != 1) {
        return -1;
    }
    return b[0];
}

/* SHA-256 of the empty message */
static const uint8_t SHA_EMPTY[32] = {
    0xE3, 0xB0, 0xC4, 0x42, 0x98, 0xFC, 0x1C, 0x14, 0x9A, 0xFB, 0xF4, 0xC8, 0x99, 0x6F, 0xB9, 0x24,
    0x27, 0xAE, 0x41, 0xE4, 0x64, 0x9B, 0x93, 0x4C, 0xA4, 0x95, 0x99, 0x1B, 0x78, 0x52, 0xB8, 0x55};

/* SRM CalcHash, InData note 57: "Length can be 0 in case of y = 0 or 2 or 3
 * or 5; else it must be > 0": an empty start&final (`01 00 00`) is refused,
 * an empty start followed by an empty final is the hash of nothing. */
static void case_hash_empty(struct trustm *t, struct trustm_sim *sim)
{
    static const uint8_t sf[] = {0xB0, 0xE2, 0x00, 0x03, 0x01, 0x00, 0x00};
    static const uint8_t st0[] = {0xB0, 0xE2, 0x00, 0x03, 0x00, 0x00, 0x00};
    static const uint8_t fin[] = {0xB0, 0xE2, 0x00, 0x03, 0x03, 0x00, 0x00};
    uint8_t b[64], d[32];
    size_t n = 0;
    struct trustm_hash h;

    (void)sim;
    CHECK(raw(t, sf, sizeof sf, b, sizeof b, &n) == 0xFF && n == 0);
    CHECK(last_error(t) == 0x05);
    CHECK(raw(t, st0, sizeof st0, b, sizeof b, &n) == 0x00 && n == 0);
    CHECK(raw(t, fin, sizeof fin, b, sizeof b, &n) == 0x00 && n == 35);
    CHECK(b[0] == 0x01 && b[1] == 0x00 && b[2] == 0x20 && memcmp(b + 3, SHA_EMPTY, 32) == 0);

    memset(d, 0, sizeof d);
    CHECK(trustm_sha256(t, TRUSTM_PROTECT_NONE, NULL, 0, d) == TMA_OK);
    CHECK(memcmp(d, SHA_EMPTY, 32) == 0);
    memset(d, 0, sizeof d);
    CHECK(trustm_hash_start(&h) == TMA_OK);
    CHECK(trustm_hash_finish(t, TRUSTM_PROTECT_NONE, &h, d) == TMA_OK);
    CHECK(memcmp(d, SHA_EMPTY, 32) == 0);
}

/* Modelled chip time of the last command with APDU code `code` (the
 * simulator's statistics), or 0. */
static unsigned long chip_us(struct trustm_sim *sim, const char *code)
{
    static char js[16384];
    size_t n = 0;
    char key[40];
    const char *p;
    unsigned long us = 0;
    if (trustm_sim_stats_json(sim, js, sizeof js, &n) != TMA_OK) {
        return 0;
    }
    snprintf(key, sizeof key, "\"code\":\"%s\"", code);
    p = strstr(js, key);
    if (p && (p = strstr(p, "\"chip_us\":")) != NULL) {
        us = strtoul(p + 10, NULL, 10);
    }
    return us;
}

/* Datasheet v3.61 Tab. 19 / spec 10: ECDSA P-256 CalcSign ~65 ms, ~70 ms
 * with the shielded connection (full protection). The record protection
 * must be counted once: model 65 ms plain, 70 ms +-5 % protected. */
static void case_shield_time(struct trustm *t, struct trustm_sim *sim)
{
    static const uint8_t dg[32] = {1, 2, 3};
    uint8_t pbs[64], sig[80];
    size_t n = 0;
    unsigned long plain, prot;

    CHECK(trustm_get_random(t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                            sizeof pbs) == TMA_OK);
    CHECK(trustm_shield_set_secret(t, trustm_crypto_mbedtls(), pbs, sizeof pbs) == TMA_OK);
    trustm_sim_stats_clear(sim);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_NONE, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    plain = chip_us(sim, "0xB1");
    trustm_sim_stats_clear(sim);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_BOTH, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    prot = chip_us(sim, "0xB1");
    printf("CalcSign P-256: %lu us plain, %lu us protected\n", plain, prot);
    CHECK(plain >= 61750 && plain <= 68250);
    CHECK(prot >= 66500 && prot <= 73500);
}

static int sec_value(struct trustm *t)
{
    uint8_t b[4];
    size_t n = 0;
    if (trustm_read_data(t, TRUSTM_PROTECT_NONE, 0xE0C5, 0, b, sizeof b, &n) != TMA_OK || n != 1) {
        return -1;
    }
    return b[0];
}

static tma_status set_e0c9(struct trustm *t, uint8_t tmax, uint8_t credit_max)
{
    uint8_t c[8] = {tmax, 0x00, credit_max, 0x01, 0, 0, 0, 0};
    return trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE0C9, TRUSTM_WRITE_ERASE, 0, c, sizeof c);
}

/* SRM 4.6.2/4.6.3 (Security Monitor): the credit is 0 after power-up, so
 * the first private-key use raises SEC; "in case the current SEC is > 0 and
 * t_max is configured to 0, the SEC gets set to 0"; "if [the maximum
 * SEC_CREDIT] is set to 0, the SEC_CREDIT will be set to 0". */
static void case_secmon_config(struct trustm *t, struct trustm_sim *sim)
{
    static const uint8_t dg[32] = {4, 5, 6};
    uint8_t sig[80];
    size_t n = 0;

    CHECK(sec_value(t) == 0);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_NONE, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_NONE, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    CHECK(sec_value(t) == 2);
    CHECK(set_e0c9(t, 0, 5) == TMA_OK); /* monitor off */
    CHECK(sec_value(t) == 0);
    /* on again; 60 s idle fill the credit (5); then a maximum credit of 0 */
    CHECK(set_e0c9(t, 50, 5) == TMA_OK);
    trustm_sim_sleep_us(sim, 60u * 1000u * 1000u);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_NONE, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    CHECK(sec_value(t) == 0); /* a credit paid for it */
    CHECK(set_e0c9(t, 50, 0) == TMA_OK);
    CHECK(trustm_sign(t, TRUSTM_PROTECT_NONE, 0x11, 0xE0F0, dg, sizeof dg, sig, sizeof sig, &n) ==
          TMA_OK);
    CHECK(sec_value(t) == 1); /* no credit left to pay */
}

/* The number in `"field":N` of the first statistics entry whose `"sel"` is
 * `"val"` (0 when there is none). */
static unsigned long stat_of(struct trustm_sim *sim, const char *sel, const char *val, const char *field)
{
    static char js[16384];
    size_t n = 0;
    char key[64];
    const char *p;
    if (trustm_sim_stats_json(sim, js, sizeof js, &n) != TMA_OK) {
        return 0;
    }
    snprintf(key, sizeof key, "\"%s\":\"%s\"", sel, val);
    p = strstr(js, key);
    snprintf(key, sizeof key, "\"%s\":", field);
    p = p ? strstr(p, key) : NULL;
    return p ? strtoul(p + strlen(key), NULL, 10) : 0;
}

/* Poll count of the last command with APDU code `code`. */
static unsigned long polls(struct trustm_sim *sim, const char *code)
{
    return stat_of(sim, "code", code, "polls");
}

/* Datasheet v3.61 Tab.19: AES-128 ECB of 256 bytes, encrypt ~28 ms,
 * decrypt ~35 ms. The model (within 5 %) and libtrustm's poll schedule
 * must both know that decryption is slower: as many polls for it as for
 * encryption, not more. */
static void case_sym_time(struct trustm *t, struct trustm_sim *sim)
{
    static uint8_t in[256], ct[256 + 3], pt[256 + 3];
    size_t n = 0;
    unsigned long enc_us, dec_us, enc_polls, dec_polls;

    for (size_t i = 0; i < sizeof in; i++) {
        in[i] = (uint8_t)i;
    }
    CHECK(trustm_gen_sym_key(t, TRUSTM_PROTECT_NONE, TRUSTM_ALG_AES128, 0xE200, TRUSTM_KU_ENC,
                             NULL, 0, &n) == TMA_OK);
    trustm_sim_stats_clear(sim);
    CHECK(trustm_sym_encrypt(t, TRUSTM_PROTECT_NONE, TRUSTM_SYM_ECB, 0xE200, NULL, in, sizeof in,
                             ct, sizeof ct, &n) == TMA_OK &&
          n == 256);
    enc_us = chip_us(sim, "0x94");
    enc_polls = polls(sim, "0x94");
    trustm_sim_stats_clear(sim);
    CHECK(trustm_sym_decrypt(t, TRUSTM_PROTECT_NONE, TRUSTM_SYM_ECB, 0xE200, NULL, ct, 256, pt,
                             sizeof pt, &n) == TMA_OK &&
          n == 256 && memcmp(pt, in, 256) == 0);
    dec_us = chip_us(sim, "0x95");
    dec_polls = polls(sim, "0x95");
    printf("AES-128 ECB 256 B: encrypt %lu us (%lu polls), decrypt %lu us (%lu polls)\n", enc_us,
           enc_polls, dec_us, dec_polls);
    CHECK(enc_us >= 26600 && enc_us <= 29400);
    CHECK(dec_us >= 33250 && dec_us <= 36750);
    CHECK(dec_polls <= enc_polls);
}

/* SRM Tab.44, Int: "Read, Int, Binding Secret ... the response is requested
 * with protection (MAC)"; for change and execute the command is. An object
 * readable under Int(0xE140) reads with a protected response, and not with
 * only the command protected. */
static void case_int_read(struct trustm *t, struct trustm_sim *sim)
{
    static const uint8_t md[] = {0x20, 0x05, 0xD1, 0x03, 0x21, 0xE1, 0x40};
    uint8_t pbs[64], b[16];
    size_t n = 0;

    (void)sim;
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                            sizeof pbs) == TMA_OK);
    CHECK(trustm_shield_set_secret(t, trustm_crypto_mbedtls(), pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xF1D1, TRUSTM_WRITE_ERASE, 0,
                            (const uint8_t *)"hello", 5) == TMA_OK);
    CHECK(trustm_write_metadata(t, TRUSTM_PROTECT_NONE, 0xF1D1, md, sizeof md) == TMA_OK);
    memset(b, 0, sizeof b);
    CHECK(trustm_read_data(t, TRUSTM_PROTECT_RSP, 0xF1D1, 0, b, sizeof b, &n) == TMA_OK &&
          n == 5 && memcmp(b, "hello", 5) == 0);
    CHECK(trustm_read_data(t, TRUSTM_PROTECT_CMD, 0xF1D1, 0, b, sizeof b, &n) ==
          TMA_CHIP_ERROR(0x07));
    CHECK(trustm_read_data(t, TRUSTM_PROTECT_NONE, 0xF1D1, 0, b, sizeof b, &n) ==
          TMA_CHIP_ERROR(0x07));
}

/* SRM DeriveKey note: "In case the shared secret from a session is used and
 * the presentation layer protection is enabled the command must be
 * protected" -- also when the derived key stays in a session. */
static void case_derive_protect(struct trustm *t, struct trustm_sim *sim)
{
    static const uint8_t seed[32] = {9, 8, 7};
    uint8_t pbs[64], r[8];

    (void)sim;
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                            sizeof pbs) == TMA_OK);
    CHECK(trustm_shield_set_secret(t, trustm_crypto_mbedtls(), pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, r, sizeof r) == TMA_OK);
    CHECK(trustm_random_to_session(t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_PREMASTER, 0xE100,
                                   (const uint8_t *)"\x03\x03", 2, 46, NULL) == TMA_OK);
    CHECK(trustm_derive_key(t, TRUSTM_PROTECT_NONE, TRUSTM_KDF_PRF_SHA256, 0xE100, seed,
                            sizeof seed, NULL, 0, 48, 0xE101, NULL) == TMA_CHIP_ERROR(0x07));
    CHECK(trustm_derive_key(t, TRUSTM_PROTECT_CMD, TRUSTM_KDF_PRF_SHA256, 0xE100, seed,
                            sizeof seed, NULL, 0, 48, 0xE101, NULL) == TMA_OK);
}

/* SRM Tab.43, Private Key Use: "use a OPTIGA hosted private key, except
 * temporary keys from session context are used for key agreement like
 * ECDH": ECDH with a stored key counts (SEC + 1 right after power-up, when
 * there is no credit), ECDH with a session key does not. */
static void case_secmon_ecdh(struct trustm *t, struct trustm_sim *sim)
{
    static uint8_t kb[256], pb[256];
    struct trustm_keypair kp, peer_kp;
    struct trustm_pubkey peer;
    uint8_t z[66];
    size_t n = 0;

    (void)sim;
    CHECK(trustm_gen_keypair(t, TRUSTM_PROTECT_NONE, TRUSTM_ALG_P256, 0xE0F1, TRUSTM_KU_AGREE, kb,
                             sizeof kb, &kp) == TMA_OK);
    CHECK(trustm_gen_keypair(t, TRUSTM_PROTECT_NONE, TRUSTM_ALG_P256, 0xE100, TRUSTM_KU_AGREE, pb,
                             sizeof pb, &peer_kp) == TMA_OK);
    memset(&peer, 0, sizeof peer);
    peer.alg = TRUSTM_ALG_P256;
    peer.key = kp.pub.ptr;
    peer.key_len = kp.pub.len;
    CHECK(sec_value(t) == 0);
    /* the session key agrees with E0F1's public key: no event */
    CHECK(trustm_ecdh(t, TRUSTM_PROTECT_NONE, 0xE100, &peer, TRUSTM_OID_EXPORT, z, sizeof z, &n) ==
          TMA_OK);
    CHECK(sec_value(t) == 0);
    /* the stored key E0F1 agrees with the session's public key: an event */
    peer.key = peer_kp.pub.ptr;
    peer.key_len = peer_kp.pub.len;
    CHECK(trustm_ecdh(t, TRUSTM_PROTECT_NONE, 0xE0F1, &peer, TRUSTM_OID_EXPORT, z, sizeof z, &n) ==
          TMA_OK);
    CHECK(sec_value(t) == 1);
}

/* SRM Tab.43 "Key Derivation" event (key derivation from a persistent data
 * object holding a pre-shared secret) and SRM 6.5.8, which names the
 * shielded-connection handshake among the operations that cause security
 * events: right after power-up (no credit) the first handshake raises SEC,
 * and hibernating (SEC must be 0, SRM fn. 6) waits until t_max passed idle. */
static void case_secmon_handshake(struct trustm *t, struct trustm_sim *sim)
{
    uint8_t pbs[64], r[8], h[8];

    CHECK(trustm_get_random(t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                            sizeof pbs) == TMA_OK);
    CHECK(trustm_shield_set_secret(t, trustm_crypto_mbedtls(), pbs, sizeof pbs) == TMA_OK);
    CHECK(sec_value(t) == 0);
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, r, sizeof r) == TMA_OK);
    CHECK(sec_value(t) == 1);
    CHECK(trustm_close_app(t, TRUSTM_PROTECT_NONE, h) == TMA_CHIP_ERROR(0x0B));
    trustm_sim_sleep_us(sim, 5200u * 1000u); /* one t_max (5 s +- 5 %) idle */
    CHECK(sec_value(t) == 0);
    CHECK(trustm_close_app(t, TRUSTM_PROTECT_NONE, h) == TMA_OK);
}

/* How often the simulator handled the step `name` (statistics). */
static unsigned long named_count(struct trustm_sim *sim, const char *name)
{
    return stat_of(sim, "name", name, "count");
}

/* AES for the shielded connection that spoils the next n blocks it makes,
 * so that the chip sees a protected command whose tag does not verify. */
static unsigned spoil_next;

static tma_status spoiling_aes(void *ctx, const uint8_t key[16], const uint8_t in[16],
                               uint8_t out[16])
{
    const struct trustm_crypto_ops *real = trustm_crypto_mbedtls();
    tma_status st = real->aes128_encrypt(real->ctx, key, in, out);
    (void)ctx;
    if (st == TMA_OK && spoil_next > 0) {
        spoil_next--;
        out[0] ^= 0x01;
    }
    return st;
}

static tma_status plain_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *data,
                             size_t len, uint8_t out[32])
{
    const struct trustm_crypto_ops *real = trustm_crypto_mbedtls();
    (void)ctx;
    return real->hmac_sha256(real->ctx, key, key_len, data, len, out);
}

/* SRM Tab.43, Decryption Failure: "a decryption and/or integrity check of
 * provided data lead to an integrity failure". A protected command whose
 * CCM tag fails at the chip (answered with alert 0x44; the host resends it
 * with the next MSEQ) counts once. */
static void case_secmon_mac(struct trustm *t, struct trustm_sim *sim)
{
    static const struct trustm_crypto_ops ops = {NULL, spoiling_aes, plain_hmac};
    uint8_t pbs[64], r[8];
    unsigned long hellos;

    CHECK(trustm_get_random(t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_write_data(t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                            sizeof pbs) == TMA_OK);
    CHECK(trustm_shield_set_secret(t, &ops, pbs, sizeof pbs) == TMA_OK);
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, r, sizeof r) == TMA_OK);
    trustm_sim_sleep_us(sim, 5200u * 1000u); /* the handshake's event decays */
    CHECK(sec_value(t) == 0);
    trustm_sim_stats_clear(sim);
    spoil_next = 1;
    CHECK(trustm_get_random(t, TRUSTM_PROTECT_CMD, TRUSTM_RNG_TRNG, r, sizeof r) == TMA_OK);
    CHECK(spoil_next == 0);
    /* one event for the failed check, and one more for each new handshake
     * the host chose to recover with (libtrustm handshakes again after an
     * alert; the vendor library resends with the next MSEQ instead) */
    hellos = named_count(sim, "prl_hello");
    printf("after the spoiled command: SEC %d, %lu new handshake(s)\n", sec_value(t), hellos);
    CHECK(sec_value(t) == 1 + (int)hellos);
}

struct tcase {
    const char *name;
    void (*run)(struct trustm *t, struct trustm_sim *sim);
};

static const struct tcase CASES[] = {
    {"hash_empty", case_hash_empty},
    {"shield_time", case_shield_time},
    {"secmon_config", case_secmon_config},
    {"sym_time", case_sym_time},
    {"int_read", case_int_read},
    {"derive_protect", case_derive_protect},
    {"secmon_ecdh", case_secmon_ecdh},
    {"secmon_handshake", case_secmon_handshake},
    {"secmon_mac", case_secmon_mac},
};

int main(int argc, char **argv)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port port;
    static struct trustm t;
    const struct tcase *c = NULL;

    for (size_t i = 0; argc > 1 && i < sizeof CASES / sizeof CASES[0]; i++) {
        if (strcmp(argv[1], CASES[i].name) == 0) {
            c = &CASES[i];
        }
    }
    if (!c) {
        fprintf(stderr, "usage: chipfid_chip <case>\n");
        return 2;
    }
    trustm_sim_config_default(&cfg);
    cfg.seed = 7;
    if (trustm_sim_create(&cfg, &sim) != TMA_OK) {
        fprintf(stderr, "cannot create simulator\n");
        return 1;
    }
    trustm_sim_port(sim, &port);
    CHECK(trustm_init(&t, &port, NULL) == TMA_OK);
    CHECK(trustm_open(&t) == TMA_OK);
    CHECK(trustm_open_app(&t, TRUSTM_PROTECT_NONE, NULL) == TMA_OK);
    if (failures == 0) {
        c->run(&t, sim);
    }
    trustm_deinit(&t);
    trustm_sim_destroy(sim);
    printf("chipfid %s: %d failure(s)\n", c->name, failures);
    return failures == 0 ? 0 : 1;
}
