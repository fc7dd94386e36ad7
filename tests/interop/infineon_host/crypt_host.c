/* Drives trustm-sim through Infineon's optiga_crypt API: the library's
 * crypt layer (optiga_crypt.c) and the command layer's crypto handlers
 * (optiga_cmd.c, OPTIGA_CRYPT_* enabled) build the APDUs, not we. The
 * application is opened with optiga_util. Checks: random (TRNG, DRNG, two
 * draws differ, a length the chip refuses), ECDSA sign with the factory
 * key E0F0 (verified with mbedTLS against the certificate read from E0E0),
 * ECDSA verify with the public key given by the host and with a
 * certificate OID (E0E8 holding the bare DER: accepted; E0E0 in its
 * TLS-identity wrapper: 0x29 as on a real chip), a wrong digest refused; with the shielded
 * connection the same sign and verify under full protection; GenKeyPair
 * P-256 / P-384 with a signature checked by mbedTLS; ECDH P-384 against
 * mbedTLS; RSA-1024 GenKeyPair, sign (checked by mbedTLS) and verify,
 * encrypt and decrypt (also an mbedTLS ciphertext); the RSA key exchange (pre-master
 * secret into a session, encrypted from the session to an mbedTLS key, a host secret
 * decrypted into the session, each checked by the TLS PRF from the session); TLS
 * PRF SHA-256 and HKDF-SHA256 from a PRESSEC object against mbedTLS; CalcHash one-shot,
 * chained, over object data and with a host-held context. Prints
 * ok/FAIL lines; exit 1 on a failure. No Infineon code in this file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "optiga_crypt.h"
#include "optiga_util.h"

#include "driver.h"

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n && p[i] == 0; i++) {
    }
    return i == n;
}

/* r||s as the chip returns it (two DER INTEGERs) verified by mbedTLS: wrapped in a SEQUENCE */
static int mbedtls_verifies(mbedtls_pk_context *pk, const uint8_t *digest, const uint8_t *sig,
                            uint16_t sig_len)
{
    uint8_t der[2 + 140];
    if (sig_len > 127) {
        return 0;
    }
    der[0] = 0x30;
    der[1] = (uint8_t)sig_len;
    memcpy(der + 2, sig, sig_len);
    return mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, digest, 32, der, 2u + sig_len) == 0;
}

/* one optiga_crypt_ecdsa_verify (protected at @p level in the shielded build):
 * passes when the library answers @p want */
static void verify_case(optiga_crypt_t *c, uint8_t level, const uint8_t *digest, const uint8_t *sig,
                        uint16_t sig_len, uint8_t source, const void *key, optiga_lib_status_t want,
                        const char *what, const char *tag)
{
    char step[160];
    optiga_lib_status_t s;
    (void)level;
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    OPTIGA_CRYPT_SET_COMMS_PROTECTION_LEVEL(c, level);
#endif
    s = RUN(optiga_crypt_ecdsa_verify(c, digest, 32, sig, sig_len, source, key));
    snprintf(step, sizeof step, "optiga_crypt_ecdsa_verify, %s%s", what, tag);
    report(s == want, step, "0x%04X (expected 0x%04X)", s, want);
}

/* sign with E0F0 through optiga_crypt_ecdsa_sign, check with mbedTLS and with the library's
 * own verify (host key and certificate OID); a wrong digest must be refused */
static void sign_and_verify(optiga_crypt_t *c, mbedtls_pk_context *pk, const uint8_t *q65,
                            uint8_t level, const char *tag)
{
    static const char msg[] = "trustm-sim driven by optiga_crypt";
    uint8_t digest[32], bad[32], sig[80], bitstr[68];
    uint16_t sig_len = sizeof sig;
    char step[160];
    optiga_lib_status_t s;
    public_key_from_host_t host = {bitstr, sizeof bitstr, (uint8_t)OPTIGA_ECC_CURVE_NIST_P_256};
    uint16_t cert_oid = 0xE0E0, anchor_oid = 0xE0E8;
    (void)level;

    if (mbedtls_sha256_ret((const unsigned char *)msg, sizeof msg - 1, digest, 0) != 0) {
        report(0, "mbedtls_sha256_ret", "failed");
        return;
    }
    memcpy(bad, digest, sizeof bad);
    bad[5] ^= 0x40;
    /* the GenKeyPair / VerifySign form of an ECC public key: BIT STRING 03 42 00 04 X Y */
    bitstr[0] = 0x03;
    bitstr[1] = 0x42;
    bitstr[2] = 0x00;
    memcpy(bitstr + 3, q65, 65);

#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    OPTIGA_CRYPT_SET_COMMS_PROTECTION_LEVEL(c, level);
#endif
    s = RUN(optiga_crypt_ecdsa_sign(c, digest, sizeof digest, OPTIGA_KEY_ID_E0F0, sig, &sig_len));
    snprintf(step, sizeof step, "optiga_crypt_ecdsa_sign E0F0%s", tag);
    report(s == 0 && sig_len >= 68 && sig_len <= 72 && sig[0] == 0x02, step, "0x%04X, %u bytes",
           s, sig_len);
    if (s != 0) {
        return;
    }
    snprintf(step, sizeof step, "signature%s verifies with mbedTLS (E0E0 certificate key)", tag);
    report(mbedtls_verifies(pk, digest, sig, sig_len), step, "%u bytes", sig_len);

    verify_case(c, level, digest, sig, sig_len, OPTIGA_CRYPT_HOST_DATA, &host, 0, "public key from the host", tag);
    verify_case(c, level, digest, sig, sig_len, OPTIGA_CRYPT_OID_DATA, &anchor_oid, 0,
                "certificate OID E0E8 (bare DER)", tag);
    /* E0E0 holds the certificate in the TLS-identity wrapper (C0 ...): a real chip answers
     * 0x29, invalid certificate format (Infineon/optiga-trust-m issue #110: "the target
     * Certificate shall be in bare DER encoding"; optiga-trust-x issue #44: 0x29 with E0E0) */
    verify_case(c, level, digest, sig, sig_len, OPTIGA_CRYPT_OID_DATA, &cert_oid, 0x8029,
                "certificate OID E0E0 (C0 wrapper; 0x8029 invalid certificate format)", tag);
    verify_case(c, level, bad, sig, sig_len, OPTIGA_CRYPT_HOST_DATA, &host, 0x802C, "wrong digest", tag);
}

/* an ECC public key in the chip's form (BIT STRING 03 len 00 04 X Y) loaded into grp/q */
static int load_bitstring(mbedtls_ecp_group *grp, mbedtls_ecp_point *q, mbedtls_ecp_group_id id,
                          const uint8_t *bs, uint16_t n)
{
    if (n < 4 || bs[0] != 0x03 || bs[1] != n - 2 || bs[2] != 0x00) {
        return -1;
    }
    if (mbedtls_ecp_group_load(grp, id) != 0) {
        return -1;
    }
    if (mbedtls_ecp_point_read_binary(grp, q, bs + 3, (size_t)n - 3) != 0) {
        return -1;
    }
    return mbedtls_ecp_check_pubkey(grp, q);
}

static mbedtls_ctr_drbg_context drbg;

/* GenKeyPair through optiga_crypt_ecc_generate_keypair into a key slot, then a signature with
 * that slot checked by mbedTLS against the public key the library returned */
static void keygen_and_sign(optiga_crypt_t *c, optiga_ecc_curve_t curve, mbedtls_ecp_group_id id,
                            uint16_t slot, const char *name)
{
    uint8_t pub[120], sig[120], digest[32];
    uint16_t pub_len = sizeof pub, sig_len = sizeof sig;
    uint16_t key = slot;
    char step[160];
    mbedtls_ecdsa_context ec;
    optiga_lib_status_t s;
    int ok;

    s = RUN(optiga_crypt_ecc_generate_keypair(c, curve, (uint8_t)OPTIGA_KEY_USAGE_SIGN, FALSE, &key,
                                              pub, &pub_len));
    snprintf(step, sizeof step, "optiga_crypt_ecc_generate_keypair %s into %04X", name, slot);
    report(s == 0 && pub_len == (id == MBEDTLS_ECP_DP_SECP256R1 ? 68 : 100), step,
           "0x%04X, public key %u bytes", s, pub_len);
    if (s != 0) {
        return;
    }
    memset(digest, 0xA5, sizeof digest);
    s = RUN(optiga_crypt_ecdsa_sign(c, digest, sizeof digest, (optiga_key_id_t)slot, sig, &sig_len));
    snprintf(step, sizeof step, "optiga_crypt_ecdsa_sign %04X (%s)", slot, name);
    report(s == 0, step, "0x%04X, %u bytes", s, sig_len);
    if (s != 0) {
        return;
    }
    mbedtls_ecdsa_init(&ec);
    ok = load_bitstring(&ec.grp, &ec.Q, id, pub, pub_len) == 0;
    if (ok) {
        uint8_t der[2 + 120];
        der[0] = 0x30;
        der[1] = (uint8_t)sig_len;
        memcpy(der + 2, sig, sig_len);
        ok = sig_len < 120 &&
             mbedtls_ecdsa_read_signature(&ec, digest, sizeof digest, der, 2u + sig_len) == 0;
    }
    mbedtls_ecdsa_free(&ec);
    snprintf(step, sizeof step, "%s signature verifies with mbedTLS against the generated key",
             name);
    report(ok, step, "%u-byte signature", sig_len);
}

/* ECDH: a key-agreement key generated into E0F2 (P-384), optiga_crypt_ecdh with a host key,
 * shared secret exported and compared with mbedTLS's */
static void ecdh_p384(optiga_crypt_t *c)
{
    uint8_t pub[120], secret[64], hostbs[100], mine[48];
    uint16_t pub_len = sizeof pub;
    uint16_t key = 0xE0F2;
    size_t olen = 0;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point chip_q, host_q;
    mbedtls_mpi d, z;
    optiga_lib_status_t s;
    int ok;
    public_key_from_host_t host = {hostbs, sizeof hostbs, (uint8_t)OPTIGA_ECC_CURVE_NIST_P_384};

    s = RUN(optiga_crypt_ecc_generate_keypair(c, OPTIGA_ECC_CURVE_NIST_P_384,
                                              (uint8_t)OPTIGA_KEY_USAGE_KEY_AGREEMENT, FALSE, &key,
                                              pub, &pub_len));
    report(s == 0 && pub_len == 100, "optiga_crypt_ecc_generate_keypair P-384 into E0F2 (key agreement)",
           "0x%04X, %u bytes", s, pub_len);
    if (s != 0) {
        return;
    }
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&chip_q);
    mbedtls_ecp_point_init(&host_q);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&z);
    ok = load_bitstring(&grp, &chip_q, MBEDTLS_ECP_DP_SECP384R1, pub, pub_len) == 0 &&
         mbedtls_ecp_gen_keypair(&grp, &d, &host_q, mbedtls_ctr_drbg_random, &drbg) == 0 &&
         mbedtls_ecp_point_write_binary(&grp, &host_q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
                                        hostbs + 3, sizeof hostbs - 3) == 0 &&
         olen == 97 &&
         mbedtls_ecdh_compute_shared(&grp, &z, &chip_q, &d, mbedtls_ctr_drbg_random, &drbg) == 0 &&
         mbedtls_mpi_write_binary(&z, mine, sizeof mine) == 0;
    hostbs[0] = 0x03;
    hostbs[1] = 0x62;
    hostbs[2] = 0x00;
    report(ok, "host P-384 key and mbedTLS's shared secret", "%s", ok ? "ok" : "mbedTLS failed");
    if (ok) {
        memset(secret, 0, sizeof secret);
        s = RUN(optiga_crypt_ecdh(c, OPTIGA_KEY_ID_E0F2, &host, TRUE, secret));
        report(s == 0 && memcmp(secret, mine, sizeof mine) == 0,
               "optiga_crypt_ecdh E0F2, exported secret = mbedTLS's", "0x%04X%s", s,
               s == 0 && memcmp(secret, mine, sizeof mine) == 0 ? ", 48 bytes equal" : "");
        /* the same agreement into a session (the library acquires one), then the TLS PRF
         * from that session (the library adds command protection in the shielded build) */
        s = RUN(optiga_crypt_ecdh(c, OPTIGA_KEY_ID_E0F2, &host, FALSE, NULL));
        report(s == 0, "optiga_crypt_ecdh E0F2 into a session", "0x%04X", s);
        if (s == 0) {
            static const char label[] = "master secret";
            uint8_t seed[64], out[48], want[48];
            memset(seed, 0x5A, sizeof seed);
            memset(out, 0, sizeof out);
            ok = mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, mine, sizeof mine, label, seed,
                                     sizeof seed, want, sizeof want) == 0;
            s = RUN(optiga_crypt_tls_prf(c, OPTIGA_TLS12_PRF_SHA_256, OPTIGA_KEY_ID_SESSION_BASED,
                                         (const uint8_t *)label, (uint16_t)(sizeof label - 1),
                                         seed, sizeof seed, sizeof out, TRUE, out));
            report(ok && s == 0 && memcmp(out, want, sizeof out) == 0,
                   "optiga_crypt_tls_prf from the session = mbedtls_ssl_tls_prf over the secret",
                   "0x%04X%s", s, s == 0 && memcmp(out, want, sizeof out) == 0 ? ", equal" : "");
        }
    }
    mbedtls_mpi_free(&z);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&host_q);
    mbedtls_ecp_point_free(&chip_q);
    mbedtls_ecp_group_free(&grp);
}

/* mbedTLS key from the chip's RSA public key (its BIT STRING) wrapped in a
 * SubjectPublicKeyInfo for rsaEncryption; free @p pk whatever the result */
static int rsa_pk_parse(mbedtls_pk_context *pk, const uint8_t *pub, size_t pub_len)
{
    static const uint8_t algid[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                    0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00};
    uint8_t spki[220];
    size_t n = sizeof algid + pub_len;
    mbedtls_pk_init(pk);
    if (n > 255 || n + 3 > sizeof spki) {
        return -1;
    }
    spki[0] = 0x30;
    spki[1] = 0x81;
    spki[2] = (uint8_t)n;
    memcpy(spki + 3, algid, sizeof algid);
    memcpy(spki + 3 + sizeof algid, pub, pub_len);
    return mbedtls_pk_parse_public_key(pk, spki, n + 3);
}

/* RSA-1024 GenKeyPair into E0FC, PKCS#1 v1.5 SHA-256 signature checked by mbedTLS and by the
 * library's own rsa_verify with the public key given by the host */
static void rsa_1024(optiga_crypt_t *c)
{
    uint8_t pub[200], sig[160], digest[32];
    uint16_t pub_len = sizeof pub, sig_len = sizeof sig;
    uint16_t key = 0xE0FC;
    mbedtls_pk_context pk;
    optiga_lib_status_t s;
    int ok;
    public_key_from_host_t host = {pub, 0, (uint8_t)OPTIGA_RSA_KEY_1024_BIT_EXPONENTIAL};

    s = RUN(optiga_crypt_rsa_generate_keypair(c, OPTIGA_RSA_KEY_1024_BIT_EXPONENTIAL,
                                              (uint8_t)OPTIGA_KEY_USAGE_SIGN, FALSE, &key, pub,
                                              &pub_len));
    report(s == 0 && pub_len > 140 && pub[0] == 0x03, "optiga_crypt_rsa_generate_keypair 1024 into E0FC",
           "0x%04X, public key %u bytes", s, pub_len);
    if (s != 0 || pub_len < 140 || pub_len > 180) {
        return;
    }
    host.length = pub_len;
    memset(digest, 0x3C, sizeof digest);
    s = RUN(optiga_crypt_rsa_sign(c, OPTIGA_RSASSA_PKCS1_V15_SHA256, digest, sizeof digest,
                                  OPTIGA_KEY_ID_E0FC, sig, &sig_len, 0));
    report(s == 0 && sig_len == 128, "optiga_crypt_rsa_sign E0FC PKCS#1 v1.5 SHA-256",
           "0x%04X, %u bytes", s, sig_len);
    if (s != 0) {
        return;
    }
    ok = rsa_pk_parse(&pk, pub, pub_len) == 0 &&
         mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, digest, sizeof digest, sig, sig_len) == 0;
    mbedtls_pk_free(&pk);
    report(ok, "RSA signature verifies with mbedTLS against the generated key", "%s",
           ok ? "ok" : "no");
    s = RUN(optiga_crypt_rsa_verify(c, OPTIGA_RSASSA_PKCS1_V15_SHA256, digest, sizeof digest, sig,
                                    sig_len, OPTIGA_CRYPT_HOST_DATA, &host, 0));
    report(s == 0, "optiga_crypt_rsa_verify, public key from the host", "0x%04X", s);
    sig[40] ^= 1;
    s = RUN(optiga_crypt_rsa_verify(c, OPTIGA_RSASSA_PKCS1_V15_SHA256, digest, sizeof digest, sig,
                                    sig_len, OPTIGA_CRYPT_HOST_DATA, &host, 0));
    report(s == 0x802C, "optiga_crypt_rsa_verify, damaged signature", "0x%04X (expected 0x802C)",
           s);
}

/* E0FD's public key (BIT STRING) as rsa_encryption() generated it, for rsa_key_exchange() */
static uint8_t e0fd_pub[200];
static uint16_t e0fd_pub_len;

/* RSA encryption: RSA-1024 GenKeyPair into E0FD (usage Enc), optiga_crypt_rsa_encrypt_message
 * with that public key from the host, optiga_crypt_rsa_decrypt_and_export back (the library asks
 * for response protection in the shielded build); a ciphertext made by mbedTLS decrypts too */
static void rsa_encryption(optiga_crypt_t *c)
{
    static const uint8_t msg[] = "a message for the chip's RSA key";
    uint8_t pub[200], ct[160], pt[160];
    uint16_t pub_len = sizeof pub, ct_len = sizeof ct, pt_len = sizeof pt;
    uint16_t key = 0xE0FD;
    size_t olen = 0;
    mbedtls_pk_context pk;
    optiga_lib_status_t s;
    int ok;
    public_key_from_host_t host = {pub, 0, (uint8_t)OPTIGA_RSA_KEY_1024_BIT_EXPONENTIAL};

    s = RUN(optiga_crypt_rsa_generate_keypair(c, OPTIGA_RSA_KEY_1024_BIT_EXPONENTIAL,
                                              (uint8_t)OPTIGA_KEY_USAGE_ENCRYPTION, FALSE, &key,
                                              pub, &pub_len));
    report(s == 0 && pub_len > 140 && pub_len < 180,
           "optiga_crypt_rsa_generate_keypair 1024 into E0FD (usage Enc)", "0x%04X, %u bytes", s,
           pub_len);
    if (s != 0 || pub_len < 140 || pub_len > 180) {
        return;
    }
    host.length = pub_len;
    memcpy(e0fd_pub, pub, pub_len);
    e0fd_pub_len = pub_len;
    s = RUN(optiga_crypt_rsa_encrypt_message(c, OPTIGA_RSAES_PKCS1_V15, msg, sizeof msg - 1, NULL,
                                             0, OPTIGA_CRYPT_HOST_DATA, &host, ct, &ct_len));
    report(s == 0 && ct_len == 128, "optiga_crypt_rsa_encrypt_message, public key from the host",
           "0x%04X, %u bytes", s, ct_len);
    if (s != 0) {
        return;
    }
    s = RUN(optiga_crypt_rsa_decrypt_and_export(c, OPTIGA_RSAES_PKCS1_V15, ct, ct_len, NULL, 0,
                                                OPTIGA_KEY_ID_E0FD, pt, &pt_len));
    report(s == 0 && pt_len == sizeof msg - 1 && !memcmp(pt, msg, pt_len),
           "optiga_crypt_rsa_decrypt_and_export E0FD of the chip's ciphertext", "0x%04X, %u bytes",
           s, pt_len);

    ok = rsa_pk_parse(&pk, pub, pub_len) == 0 &&
         mbedtls_pk_encrypt(&pk, msg, sizeof msg - 1, ct, &olen, sizeof ct, mbedtls_ctr_drbg_random,
                            &drbg) == 0 &&
         olen == 128;
    mbedtls_pk_free(&pk);
    if (!ok) {
        report(0, "mbedTLS RSA encryption with the generated key", "failed");
        return;
    }
    pt_len = sizeof pt;
    memset(pt, 0, sizeof pt);
    s = RUN(optiga_crypt_rsa_decrypt_and_export(c, OPTIGA_RSAES_PKCS1_V15, ct, (uint16_t)olen, NULL,
                                                0, OPTIGA_KEY_ID_E0FD, pt, &pt_len));
    report(s == 0 && pt_len == sizeof msg - 1 && !memcmp(pt, msg, pt_len),
           "optiga_crypt_rsa_decrypt_and_export E0FD of an mbedTLS ciphertext", "0x%04X, %u bytes",
           s, pt_len);
}

/* TLS RSA key exchange through the library (VENDOR16): optiga_crypt_rsa_generate_pre_master_secret
 * (GetRandom into a session, prefix 03 03), optiga_crypt_rsa_encrypt_session with an mbedTLS key
 * (mbedTLS decrypts it: 48 bytes, 03 03 first), the TLS PRF from that session = mbedTLS's PRF over
 * the decrypted secret; then a host-chosen secret encrypted by mbedTLS to E0FD and
 * optiga_crypt_rsa_decrypt_and_store'd into the session: the PRF from the session = mbedTLS's PRF
 * over the host's secret */
static void rsa_key_exchange(optiga_crypt_t *c)
{
    static const uint8_t ver[] = {0x03, 0x03};
    static const char label[] = "master secret";
    uint8_t der[300], ct[160], pms[160], chosen[48], seed[64], out[48], want[48];
    uint16_t ct_len = sizeof ct;
    size_t olen = 0, pms_len = 0;
    mbedtls_pk_context hk, ek;
    optiga_lib_status_t s;
    int n, ok;
    public_key_from_host_t host = {NULL, 0, (uint8_t)OPTIGA_RSA_KEY_1024_BIT_EXPONENTIAL};

    for (unsigned i = 0; i < sizeof seed; i++) {
        seed[i] = (uint8_t)(0xC0 ^ i);
    }
    s = RUN(optiga_crypt_rsa_generate_pre_master_secret(c, ver, sizeof ver, 48));
    report(s == 0,
           "optiga_crypt_rsa_generate_pre_master_secret 48 (03 03 + 46 random) into a session",
           "0x%04X", s);
    if (s != 0) {
        return;
    }
    /* the host's RSA-1024 key; its public key as the BIT STRING of its SubjectPublicKeyInfo */
    mbedtls_pk_init(&hk);
    n = -1;
    if (mbedtls_pk_setup(&hk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) == 0 &&
        mbedtls_rsa_gen_key(mbedtls_pk_rsa(hk), mbedtls_ctr_drbg_random, &drbg, 1024, 65537) == 0) {
        n = mbedtls_pk_write_pubkey_der(&hk, der, sizeof der);
    }
    /* SPKI = 30 81 9F, AlgorithmIdentifier (15 bytes), BIT STRING 03 81 8D 00 ... */
    if (n < 18 + 4 || der[sizeof der - (size_t)n + 18] != 0x03) {
        report(0, "mbedTLS RSA-1024 host key", "failed");
        mbedtls_pk_free(&hk);
        return;
    }
    host.public_key = der + sizeof der - (size_t)n + 18;
    host.length = (uint16_t)(n - 18);
    s = RUN(optiga_crypt_rsa_encrypt_session(c, OPTIGA_RSAES_PKCS1_V15, NULL, 0,
                                             OPTIGA_CRYPT_HOST_DATA, &host, ct, &ct_len));
    report(s == 0 && ct_len == 128, "optiga_crypt_rsa_encrypt_session with the host's key",
           "0x%04X, %u bytes", s, ct_len);
    ok = s == 0 && mbedtls_pk_decrypt(&hk, ct, ct_len, pms, &pms_len, sizeof pms,
                                      mbedtls_ctr_drbg_random, &drbg) == 0;
    mbedtls_pk_free(&hk);
    report(ok && pms_len == 48 && pms[0] == 0x03 && pms[1] == 0x03,
           "mbedTLS decrypts it: the pre-master secret", "%zu bytes", pms_len);
    if (!ok || pms_len != 48) {
        return;
    }
    memset(out, 0, sizeof out);
    s = RUN(optiga_crypt_tls_prf(c, OPTIGA_TLS12_PRF_SHA_256, OPTIGA_KEY_ID_SESSION_BASED,
                                 (const uint8_t *)label, (uint16_t)(sizeof label - 1), seed,
                                 sizeof seed, sizeof out, TRUE, out));
    ok = mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, pms, 48, label, seed, sizeof seed, want,
                             sizeof want) == 0;
    report(s == 0 && ok && !memcmp(out, want, sizeof out),
           "optiga_crypt_tls_prf from that session = mbedTLS's PRF over the decrypted secret",
           "0x%04X", s);

    /* a secret of the host's, encrypted to E0FD by mbedTLS, decrypted into the session */
    for (unsigned i = 0; i < sizeof chosen; i++) {
        chosen[i] = i < 2 ? ver[i] : (uint8_t)(i * 5 + 1);
    }
    ok = e0fd_pub_len > 0 && rsa_pk_parse(&ek, e0fd_pub, e0fd_pub_len) == 0 &&
         mbedtls_pk_encrypt(&ek, chosen, sizeof chosen, ct, &olen, sizeof ct,
                            mbedtls_ctr_drbg_random, &drbg) == 0 &&
         olen == 128;
    mbedtls_pk_free(&ek);
    if (!ok) {
        report(0, "mbedTLS encryption to E0FD", "failed (E0FD generated: %u)", e0fd_pub_len);
        return;
    }
    s = RUN(optiga_crypt_rsa_decrypt_and_store(c, OPTIGA_RSAES_PKCS1_V15, ct, (uint16_t)olen, NULL,
                                               0, OPTIGA_KEY_ID_E0FD));
    report(s == 0, "optiga_crypt_rsa_decrypt_and_store E0FD (the host's secret into the session)",
           "0x%04X", s);
    memset(out, 0, sizeof out);
    s = RUN(optiga_crypt_tls_prf(c, OPTIGA_TLS12_PRF_SHA_256, OPTIGA_KEY_ID_SESSION_BASED,
                                 (const uint8_t *)label, (uint16_t)(sizeof label - 1), seed,
                                 sizeof seed, sizeof out, TRUE, out));
    ok = mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, chosen, sizeof chosen, label, seed,
                             sizeof seed, want, sizeof want) == 0;
    report(s == 0 && ok && !memcmp(out, want, sizeof out),
           "optiga_crypt_tls_prf from the session = mbedTLS's PRF over the host's secret", "0x%04X",
           s);
}

/* TLS PRF SHA-256 from a pre-shared secret in F1D0 (type PRESSEC), exported and compared with
 * mbedTLS's */
/* the 32-byte PRESSEC secret tls_prf() writes to F1D0 (the HMAC checks use it too) */
static void pressec_bytes(uint8_t out[32])
{
    for (unsigned i = 0; i < 32; i++) {
        out[i] = (uint8_t)(0x90 + i * 7);
    }
}

static void tls_prf(optiga_util_t *u, optiga_crypt_t *c)
{
    static const uint8_t meta[] = {0x20, 0x06, 0xE8, 0x01, 0x21, 0xD3, 0x01, 0x00};
    static const char label[] = "key expansion";
    uint8_t secret[32], seed[40], out[48], mine[48];
    optiga_lib_status_t s;

    pressec_bytes(secret);
    for (unsigned i = 0; i < sizeof seed; i++) {
        seed[i] = (uint8_t)(i * 13 + 1);
    }
    s = RUN(optiga_util_write_metadata(u, 0xF1D0, meta, sizeof meta));
    report(s == 0, "optiga_util_write_metadata F1D0 (PRESSEC, Execute ALW)", "0x%04X", s);
    s = RUN(optiga_util_write_data(u, 0xF1D0, OPTIGA_UTIL_ERASE_AND_WRITE, 0, secret,
                                   sizeof secret));
    report(s == 0, "optiga_util_write_data F1D0 32-byte secret", "0x%04X", s);
    if (mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, secret, sizeof secret, label, seed,
                            sizeof seed, mine, sizeof mine) != 0) {
        report(0, "mbedtls_ssl_tls_prf", "failed");
        return;
    }
    memset(out, 0, sizeof out);
    s = RUN(optiga_crypt_tls_prf(c, OPTIGA_TLS12_PRF_SHA_256, 0xF1D0, (const uint8_t *)label,
                                 (uint16_t)(sizeof label - 1), seed, sizeof seed, sizeof out, TRUE,
                                 out));
    report(s == 0 && memcmp(out, mine, sizeof out) == 0,
           "optiga_crypt_tls_prf SHA-256 from F1D0, 48 bytes = mbedtls_ssl_tls_prf", "0x%04X%s", s,
           s == 0 && memcmp(out, mine, sizeof out) == 0 ? ", equal" : "");

    /* HKDF-SHA256 (V3) from the same secret: salt and info, 42 bytes */
    {
        static const uint8_t info[] = "trustm-sim interop";
        uint8_t salt[20], hk[42], want[42];
        memset(salt, 0x0B, sizeof salt);
        if (mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, sizeof salt, secret,
                         sizeof secret, info, sizeof info - 1, want, sizeof want) != 0) {
            report(0, "mbedtls_hkdf", "failed");
            return;
        }
        memset(hk, 0, sizeof hk);
        s = RUN(optiga_crypt_hkdf(c, OPTIGA_HKDF_SHA_256, 0xF1D0, salt, sizeof salt, info,
                                  (uint16_t)(sizeof info - 1), sizeof hk, TRUE, hk));
        report(s == 0 && memcmp(hk, want, sizeof hk) == 0,
               "optiga_crypt_hkdf SHA-256 from F1D0, 42 bytes = mbedtls_hkdf", "0x%04X%s", s,
               s == 0 && memcmp(hk, want, sizeof hk) == 0 ? ", equal" : "");
    }
}

/* CalcHash through the library: one-shot (short, and 3000 bytes, which the library splits into
 * start/continue/final APDUs), over object data (E0E0 from offset 9 = the DER certificate), and
 * with the context held by the host (start, update "ab", update "c", finalize) */
static void hashes(optiga_crypt_t *c, const uint8_t *der, uint16_t der_len)
{
    static uint8_t big[3000];
    static uint8_t ctxbuf[OPTIGA_HASH_CONTEXT_LENGTH_SHA_256];
    uint8_t out[32], want[32];
    optiga_lib_status_t s;
    hash_data_from_host_t abc = {(const uint8_t *)"abc", 3};
    hash_data_from_host_t ab = {(const uint8_t *)"ab", 2};
    hash_data_from_host_t cc = {(const uint8_t *)"c", 1};
    hash_data_from_host_t whole = {big, sizeof big};
    hash_data_in_optiga_t obj = {0xE0E0, 9, der_len};
    optiga_hash_context_t hctx = {ctxbuf, sizeof ctxbuf, (uint8_t)OPTIGA_HASH_TYPE_SHA_256};

    for (unsigned i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 7 + 3);
    }
    mbedtls_sha256_ret((const unsigned char *)"abc", 3, want, 0);
    s = RUN(optiga_crypt_hash(c, OPTIGA_HASH_TYPE_SHA_256, OPTIGA_CRYPT_HOST_DATA, &abc, out));
    report(s == 0 && !memcmp(out, want, 32), "optiga_crypt_hash SHA-256(\"abc\")", "0x%04X%s", s,
           s == 0 && !memcmp(out, want, 32) ? ", digest equal" : "");

    s = RUN(optiga_crypt_hash_start(c, &hctx));
    report(s == 0, "optiga_crypt_hash_start", "0x%04X, context %u bytes", s,
           hctx.context_buffer_length);
    s = RUN(optiga_crypt_hash_update(c, &hctx, OPTIGA_CRYPT_HOST_DATA, &ab));
    report(s == 0, "optiga_crypt_hash_update \"ab\"", "0x%04X", s);
    s = RUN(optiga_crypt_hash_update(c, &hctx, OPTIGA_CRYPT_HOST_DATA, &cc));
    report(s == 0, "optiga_crypt_hash_update \"c\"", "0x%04X", s);
    memset(out, 0, sizeof out);
    s = RUN(optiga_crypt_hash_finalize(c, &hctx, out));
    report(s == 0 && !memcmp(out, want, 32), "optiga_crypt_hash_finalize = SHA-256(\"abc\")",
           "0x%04X%s", s, s == 0 && !memcmp(out, want, 32) ? ", digest equal" : "");

    mbedtls_sha256_ret(big, sizeof big, want, 0);
    s = RUN(optiga_crypt_hash(c, OPTIGA_HASH_TYPE_SHA_256, OPTIGA_CRYPT_HOST_DATA, &whole, out));
    report(s == 0 && !memcmp(out, want, 32),
           "optiga_crypt_hash of 3000 bytes (the library chains start/continue/final)", "0x%04X%s",
           s, s == 0 && !memcmp(out, want, 32) ? ", digest equal" : "");

    mbedtls_sha256_ret(der, der_len, want, 0);
    s = RUN(optiga_crypt_hash(c, OPTIGA_HASH_TYPE_SHA_256, OPTIGA_CRYPT_OID_DATA, &obj, out));
    report(s == 0 && !memcmp(out, want, 32),
           "optiga_crypt_hash over object data (E0E0 offset 9, the DER certificate)", "0x%04X%s",
           s, s == 0 && !memcmp(out, want, 32) ? ", digest equal" : "");
}

/* HMAC (V3) through the library's optiga_crypt_hmac / _start / _update / _finalize with the
 * PRESSEC secret tls_prf() wrote to F1D0, each MAC = mbedTLS's; the authorization reference:
 * optiga_crypt_generate_auth_code (a random into the session), optiga_crypt_hmac_verify over
 * it with an AUTOREF secret in F1D1 sets Auto(F1D1) (F1D2 readable), a wrong MAC is refused,
 * optiga_crypt_clear_auto_state clears it (VENDOR16) */
static void hmac_and_autoref(optiga_util_t *u, optiga_crypt_t *c, const uint8_t *pressec,
                             size_t pressec_len)
{
    static const uint8_t autoref_md[] = {0x20, 0x06, 0xE8, 0x01, 0x31, 0xD3, 0x01, 0x00};
    static const uint8_t f1d2_md[] = {0x20, 0x05, 0xD1, 0x03, 0x23, 0xF1, 0xD1};
    static const uint8_t f1d2[] = {0xCA, 0xFE, 0xF0, 0x0D};
    static const uint8_t secret[32] = "interop: an AUTOREF secret, 32 B";
    static const uint8_t arb[] = "arbitrary data";
    static uint8_t msg[1500];
    uint8_t mac[64], want[64], code[32], m[32 + sizeof arb], rd[8];
    uint32_t ml = sizeof mac;
    uint16_t rl;
    optiga_lib_status_t s;
    const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    for (unsigned i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 7 + 3);
    }
    s = RUN(optiga_crypt_hmac(c, OPTIGA_HMAC_SHA_256, 0xF1D0, msg, 100, mac, &ml));
    mbedtls_md_hmac(sha256, pressec, pressec_len, msg, 100, want);
    report(s == 0 && ml == 32 && !memcmp(mac, want, 32),
           "optiga_crypt_hmac SHA-256 F1D0, 100 bytes = mbedTLS", "0x%04X, %u bytes", s, ml);
    ml = sizeof mac;
    s = RUN(optiga_crypt_hmac(c, OPTIGA_HMAC_SHA_512, 0xF1D0, msg, 100, mac, &ml));
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), pressec, pressec_len, msg, 100,
                    want);
    report(s == 0 && ml == 64 && !memcmp(mac, want, 64), "optiga_crypt_hmac SHA-512 F1D0 = mbedTLS",
           "0x%04X, %u bytes", s, ml);
    /* 1,500 bytes one-shot: the command layer chains it (start, continue, final) */
    ml = sizeof mac;
    s = RUN(optiga_crypt_hmac(c, OPTIGA_HMAC_SHA_256, 0xF1D0, msg, sizeof msg, mac, &ml));
    mbedtls_md_hmac(sha256, pressec, pressec_len, msg, sizeof msg, want);
    report(s == 0 && ml == 32 && !memcmp(mac, want, 32),
           "optiga_crypt_hmac SHA-256 over 1,500 bytes (chained by the library) = mbedTLS",
           "0x%04X", s);
    /* the caller's own sequence: start 700, update 500, finalize 300 */
    ml = sizeof mac;
    memset(mac, 0, sizeof mac);
    s = RUN(optiga_crypt_hmac_start(c, OPTIGA_HMAC_SHA_256, 0xF1D0, msg, 700));
    if (s == 0) {
        s = RUN(optiga_crypt_hmac_update(c, msg + 700, 500));
    }
    if (s == 0) {
        s = RUN(optiga_crypt_hmac_finalize(c, msg + 1200, 300, mac, &ml));
    }
    report(s == 0 && ml == 32 && !memcmp(mac, want, 32),
           "optiga_crypt_hmac_start / _update / _finalize (700 + 500 + 300) = mbedTLS", "0x%04X",
           s);

    /* authorization reference */
    s = RUN(
        optiga_util_write_data(u, 0xF1D1, OPTIGA_UTIL_ERASE_AND_WRITE, 0, secret, sizeof secret));
    if (s == 0) {
        s = RUN(optiga_util_write_metadata(u, 0xF1D1, autoref_md, sizeof autoref_md));
    }
    if (s == 0) {
        s = RUN(
            optiga_util_write_data(u, 0xF1D2, OPTIGA_UTIL_ERASE_AND_WRITE, 0, f1d2, sizeof f1d2));
    }
    if (s == 0) {
        s = RUN(optiga_util_write_metadata(u, 0xF1D2, f1d2_md, sizeof f1d2_md));
    }
    report(s == 0, "F1D1 AUTOREF secret (Execute ALW), F1D2 with Read = Auto(F1D1)", "0x%04X", s);
    rl = sizeof rd;
    s = RUN(optiga_util_read_data(u, 0xF1D2, 0, rd, &rl));
    report(s == 0x8007, "F1D2 read before the verification", "0x%04X (expected 0x8007)", s);
    for (int good = 0; good < 2; good++) {
        s = RUN(
            optiga_crypt_generate_auth_code(c, OPTIGA_RNG_TYPE_TRNG, NULL, 0, code, sizeof code));
        report(s == 0 && !all_zero(code, sizeof code),
               "optiga_crypt_generate_auth_code 32 (into the session)", "0x%04X", s);
        memcpy(m, code, sizeof code);
        memcpy(m + sizeof code, arb, sizeof arb - 1);
        mbedtls_md_hmac(sha256, secret, sizeof secret, m, sizeof code + sizeof arb - 1, mac);
        mac[9] ^= (uint8_t)(good ? 0 : 0x20);
        s = RUN(optiga_crypt_hmac_verify(c, OPTIGA_HMAC_SHA_256, 0xF1D1, m,
                                         (uint32_t)(sizeof code + sizeof arb - 1), mac, 32));
        report(good ? s == 0 : s == 0x802F,
               good ? "optiga_crypt_hmac_verify F1D1 with mbedTLS's MAC over the auth code"
                    : "optiga_crypt_hmac_verify with one MAC bit flipped",
               "0x%04X (expected 0x%04X)", s, good ? 0 : 0x802F);
    }
    rl = sizeof rd;
    s = RUN(optiga_util_read_data(u, 0xF1D2, 0, rd, &rl));
    report(s == 0 && rl == 4 && !memcmp(rd, f1d2, 4), "F1D2 read in Auto(F1D1) state",
           "0x%04X, %u bytes", s, rl);
    s = RUN(optiga_crypt_clear_auto_state(c, 0xF1D1));
    report(s == 0, "optiga_crypt_clear_auto_state F1D1", "0x%04X (the library ignores the answer)",
           s);
    rl = sizeof rd;
    s = RUN(optiga_util_read_data(u, 0xF1D2, 0, rd, &rl));
    report(s == 0x8007, "F1D2 read after the clear", "0x%04X (expected 0x8007)", s);
}

/* GenSymKey (V3) through optiga_crypt_symmetric_generate_key: AES-128 into E200 (usage Enc),
 * then ECB and CBC through optiga_crypt_symmetric_encrypt / _decrypt with that unknown key:
 * decryption gives the plaintext back, the chip's CBC equals CBC built by the host from the
 * chip's own ECB (the key never leaves the chip); with export the key comes back (16 bytes).
 * The known-key AES checks against mbedTLS are in protupd_host.c (the key a data set
 * imports) (VENDOR16) */
static void gensymkey_aes(optiga_crypt_t *c)
{
    static const uint8_t iv[16] = "interop IV 16 B";
    uint8_t p[64], e[64], cbc[64], back[64], x[16], key[16];
    uint32_t el = sizeof e, cl = sizeof cbc, bl = sizeof back;
    optiga_key_id_t oid = OPTIGA_KEY_ID_SECRET_BASED;
    optiga_lib_status_t s;

    for (unsigned i = 0; i < sizeof p; i++) {
        p[i] = (uint8_t)(0x11 * i);
    }
    s = RUN(optiga_crypt_symmetric_generate_key(c, OPTIGA_SYMMETRIC_AES_128,
                                                (uint8_t)OPTIGA_KEY_USAGE_ENCRYPTION, FALSE, &oid));
    report(s == 0, "optiga_crypt_symmetric_generate_key AES-128 into E200", "0x%04X", s);
    if (s != 0) {
        return;
    }
    s = RUN(optiga_crypt_symmetric_encrypt_ecb(c, OPTIGA_KEY_ID_SECRET_BASED, p, sizeof p, e, &el));
    report(s == 0 && el == sizeof p, "optiga_crypt_symmetric_encrypt_ecb E200, 64 bytes",
           "0x%04X, %u bytes", s, el);
    s = RUN(optiga_crypt_symmetric_decrypt_ecb(c, OPTIGA_KEY_ID_SECRET_BASED, e, el, back, &bl));
    report(s == 0 && bl == sizeof p && !memcmp(back, p, sizeof p),
           "optiga_crypt_symmetric_decrypt_ecb gives the plaintext back", "0x%04X, %u bytes", s,
           bl);
    s = RUN(optiga_crypt_symmetric_encrypt(c, OPTIGA_SYMMETRIC_CBC, OPTIGA_KEY_ID_SECRET_BASED, p,
                                           sizeof p, iv, sizeof iv, NULL, 0, cbc, &cl));
    /* CBC block 1 = ECB(P1 ^ IV), through the chip's ECB */
    for (int i = 0; i < 16; i++) {
        x[i] = (uint8_t)(p[i] ^ iv[i]);
    }
    el = sizeof e;
    optiga_lib_status_t s2 =
        RUN(optiga_crypt_symmetric_encrypt_ecb(c, OPTIGA_KEY_ID_SECRET_BASED, x, 16, e, &el));
    report(s == 0 && cl == sizeof p && s2 == 0 && !memcmp(cbc, e, 16),
           "optiga_crypt_symmetric_encrypt CBC: block 1 = the chip's ECB of P1 xor IV",
           "0x%04X, %u bytes", s, cl);
    bl = sizeof back;
    memset(back, 0, sizeof back);
    s = RUN(optiga_crypt_symmetric_decrypt(c, OPTIGA_SYMMETRIC_CBC, OPTIGA_KEY_ID_SECRET_BASED, cbc,
                                           cl, iv, sizeof iv, NULL, 0, back, &bl));
    report(s == 0 && bl == sizeof p && !memcmp(back, p, sizeof p),
           "optiga_crypt_symmetric_decrypt CBC gives the plaintext back", "0x%04X", s);
    memset(key, 0, sizeof key);
    s = RUN(optiga_crypt_symmetric_generate_key(c, OPTIGA_SYMMETRIC_AES_128,
                                                (uint8_t)OPTIGA_KEY_USAGE_ENCRYPTION, TRUE, key));
    report(s == 0 && !all_zero(key, sizeof key),
           "optiga_crypt_symmetric_generate_key AES-128 exported", "0x%04X", s);
}

int main(void)
{
    static uint8_t buf[1800];
    uint8_t r1[64], r2[64], big[300], q65[65];
    size_t qlen = 0;
    uint16_t len;
    optiga_lib_status_t s;
    mbedtls_x509_crt crt;
    optiga_util_t *u = optiga_util_create(0, cb, NULL);
    optiga_crypt_t *c = optiga_crypt_create(0, cb, NULL);
    if (!u || !c) {
        printf("FAIL optiga_util_create / optiga_crypt_create\n");
        return 1;
    }
    s = RUN(optiga_util_open_application(u, 0));
    report(s == 0, "optiga_util_open_application(0)", "0x%04X", s);

    /* random */
    memset(r1, 0, sizeof r1);
    memset(r2, 0, sizeof r2);
    s = RUN(optiga_crypt_random(c, OPTIGA_RNG_TYPE_TRNG, r1, 32));
    report(s == 0 && !all_zero(r1, 32), "optiga_crypt_random TRNG 32", "0x%04X", s);
    s = RUN(optiga_crypt_random(c, OPTIGA_RNG_TYPE_TRNG, r2, 32));
    report(s == 0 && memcmp(r1, r2, 32) != 0, "optiga_crypt_random TRNG 32, second draw differs",
           "0x%04X", s);
    s = RUN(optiga_crypt_random(c, OPTIGA_RNG_TYPE_DRNG, r1, 64));
    report(s == 0 && !all_zero(r1 + 32, 32), "optiga_crypt_random DRNG 64", "0x%04X", s);
    s = RUN(optiga_crypt_random(c, OPTIGA_RNG_TYPE_TRNG, big, 257));
    report(s == 0x8005, "optiga_crypt_random 257 bytes (the chip refuses)",
           "0x%04X (expected 0x8005)", s);
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    OPTIGA_CRYPT_SET_COMMS_PROTECTION_LEVEL(c, OPTIGA_COMMS_FULL_PROTECTION);
    s = RUN(optiga_crypt_random(c, OPTIGA_RNG_TYPE_TRNG, r1, 48));
    report(s == 0 && !all_zero(r1 + 16, 32), "optiga_crypt_random TRNG 48, full protection",
           "0x%04X", s);
#endif

    /* the device certificate's public key, read through the util layer */
    len = sizeof buf;
    s = RUN(optiga_util_read_data(u, 0xE0E0, 0, buf, &len));
    mbedtls_x509_crt_init(&crt);
    if (s == 0 && len > 9 && buf[0] == 0xC0 &&
        mbedtls_x509_crt_parse_der(&crt, buf + 9, (size_t)len - 9) == 0 &&
        mbedtls_pk_get_type(&crt.pk) == MBEDTLS_PK_ECKEY) {
        mbedtls_ecp_keypair *ec = mbedtls_pk_ec(crt.pk);
        if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &qlen,
                                           q65, sizeof q65) != 0) {
            qlen = 0;
        }
    }
    report(qlen == 65, "E0E0 certificate parsed by mbedTLS, P-256 public key", "0x%04X, %u bytes",
           s, len);
    if (qlen == 65) {
        /* the bare DER certificate into the trust anchor E0E8, as Infineon advises for
         * VerifySign with a certificate OID */
        s = RUN(optiga_util_write_data(u, 0xE0E8, OPTIGA_UTIL_ERASE_AND_WRITE, 0, buf + 9,
                                       (uint16_t)(len - 9)));
        report(s == 0, "optiga_util_write_data E0E8 (bare DER certificate)", "0x%04X, %u bytes",
               s, len - 9);
        hashes(c, buf + 9, (uint16_t)(len - 9));
        sign_and_verify(c, &crt.pk, q65, OPTIGA_COMMS_NO_PROTECTION, "");
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
        sign_and_verify(c, &crt.pk, q65, OPTIGA_COMMS_FULL_PROTECTION, ", full protection");
#endif
    }
    mbedtls_x509_crt_free(&crt);

    {
        mbedtls_entropy_context ent;
        mbedtls_entropy_init(&ent);
        mbedtls_ctr_drbg_init(&drbg);
        if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
                                  (const unsigned char *)"crypt_host", 10) != 0) {
            report(0, "mbedtls_ctr_drbg_seed", "failed");
        } else {
            keygen_and_sign(c, OPTIGA_ECC_CURVE_NIST_P_256, MBEDTLS_ECP_DP_SECP256R1, 0xE0F1,
                            "P-256");
            keygen_and_sign(c, OPTIGA_ECC_CURVE_NIST_P_384, MBEDTLS_ECP_DP_SECP384R1, 0xE0F3,
                            "P-384");
            ecdh_p384(c);
            rsa_1024(c);
            rsa_encryption(c);
            rsa_key_exchange(c);
            tls_prf(u, c);
            {
                uint8_t pressec[32];
                pressec_bytes(pressec);
                hmac_and_autoref(u, c, pressec, sizeof pressec);
            }
            gensymkey_aes(c);
        }
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&ent);
    }

    s = RUN(optiga_util_close_application(u, 0));
    report(s == 0, "optiga_util_close_application(0)", "0x%04X", s);
    s = optiga_crypt_destroy(c);
    report(s == 0, "optiga_crypt_destroy", "0x%04X", s);
    optiga_util_destroy(u);
    printf("crypt: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
