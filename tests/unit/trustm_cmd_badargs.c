/*
 * libtrustm's command layer and codecs given bad arguments: each call must
 * answer TMA_ERR(CMD, BAD_PARAM) and send nothing to the chip (the scripted
 * trustm_transceive() of trustm_cmd_fake.c has no exchange to offer, so any
 * APDU would show as a mismatch). scripts/coverage showed none of these
 * refusals ran before (NULL outputs, lengths out of range, an export without
 * a buffer, a NULL context, unknown modes, empty metadata values). Also two
 * limits no test reached: a read clipped at offset 0xFFFF, and the
 * metadata version tag's length; a certificate list with a stray tail; a
 * multi-chunk hash whose first chunk fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trustm/certobj.h"
#include "trustm/cmd.h"
#include "trustm/der.h"
#include "trustm/metadata.h"
#include "trustm/uid.h"
#include "trustm_cmd_fake.h"

#define T fake_t
#define BAD TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM)

/* The call is refused with BAD_PARAM and no APDU went out. */
#define REFUSED(expr)                        \
    do {                                     \
        fake_reset();                        \
        assert_int_equal((expr), BAD);       \
        assert_true(fake_ok());              \
    } while (0)

static uint8_t buf[600];
static uint8_t digest[64];
static uint8_t sig[80];
static uint8_t point[65];

static void fill(void)
{
    memset(buf, 0x5A, sizeof(buf));
    memset(digest, 0x11, sizeof(digest));
    /* 30 06 02 01 01 02 01 01: a minimal DER ECDSA signature */
    memcpy(sig, "\x30\x06\x02\x01\x01\x02\x01\x01", 8);
    memset(point, 0x22, sizeof(point));
    point[0] = 0x04;
}

static void no_context(void **s)
{
    uint8_t out[32];
    (void)s;
    fill();
    /* no command function checks t itself: apdu_exec() refuses it */
    REFUSED(trustm_get_random(NULL, 0, TRUSTM_RNG_TRNG, out, sizeof(out)));
    REFUSED(trustm_write_data(NULL, 0, 0xF1D0, TRUSTM_WRITE, 0, buf, 10));
    REFUSED(trustm_open_app(NULL, 0, NULL));
}

static void hashes(void **s)
{
    struct trustm_hash h;
    uint8_t out[32];
    (void)s;
    fill();
    REFUSED(trustm_sha256(T, 0, NULL, 5, out));
    REFUSED(trustm_sha256(T, 0, buf, 5, NULL));
    REFUSED(trustm_sha256_oid(T, 0, 0xF1D0, 0, 10, NULL));
    REFUSED(trustm_hash_start(NULL));
    assert_int_equal(trustm_hash_start(&h), TMA_OK);
    REFUSED(trustm_hash_update(T, 0, NULL, buf, 3));
    REFUSED(trustm_hash_update(T, 0, &h, NULL, 3));
    REFUSED(trustm_hash_finish(T, 0, NULL, out));
    REFUSED(trustm_hash_finish(T, 0, &h, NULL));
}

static void data_objects(void **s)
{
    size_t n;
    uint32_t v, th;
    (void)s;
    fill();
    REFUSED(trustm_read_data(T, 0, 0xF1D0, 0, buf, 10, NULL));
    REFUSED(trustm_read_data(T, 0, 0xF1D0, 0, NULL, 10, &n));
    REFUSED(trustm_read_metadata(T, 0, 0xF1D0, NULL, 10, &n));
    REFUSED(trustm_read_metadata(T, 0, 0xF1D0, buf, 10, NULL));
    REFUSED(trustm_counter_read(T, 0, 0xE120, NULL, &th));
    REFUSED(trustm_counter_read(T, 0, 0xE120, &v, NULL));
    REFUSED(trustm_protected_update(T, 0, buf, 40, NULL, 0));
    REFUSED(trustm_protected_update(T, 0, buf, 40, buf, 0));
}

static void signatures(void **s)
{
    size_t n;
    struct trustm_pubkey k = {0, TRUSTM_ALG_P256, point, sizeof(point)};
    struct trustm_pubkey none = {0, TRUSTM_ALG_P256, NULL, 0};
    (void)s;
    fill();
    REFUSED(trustm_sign(T, 0, TRUSTM_SIG_ECDSA, 0xE0F0, NULL, 32, sig, sizeof(sig), &n));
    REFUSED(trustm_sign(T, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, 32, NULL, sizeof(sig), &n));
    REFUSED(trustm_sign(T, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, 32, sig, sizeof(sig), NULL));
    REFUSED(trustm_ecdsa_sign_rs(T, 0, 0xE0F0, digest, 32, 0, buf));
    REFUSED(trustm_ecdsa_sign_rs(T, 0, 0xE0F0, digest, 32, TRUSTM_ECDSA_COMP_MAX + 1, buf));
    REFUSED(trustm_ecdsa_sign_rs(T, 0, 0xE0F0, digest, 32, 32, NULL));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, NULL, 32, sig, 8, &k));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, digest, 32, NULL, 8, &k));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, digest, 32, sig, 0, &k));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, digest, 32, buf, 521, &k));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, digest, 32, sig, 8, NULL));
    REFUSED(trustm_verify(T, 0, TRUSTM_SIG_ECDSA, digest, 32, sig, 8, &none));
}

static void key_agreement_and_derivation(void **s)
{
    size_t n;
    uint8_t out[66];
    struct trustm_pubkey k = {0, TRUSTM_ALG_P256, point, sizeof(point)};
    struct trustm_pubkey cert = {0xE0E0, 0, NULL, 0};
    struct trustm_pubkey rsa = {0, TRUSTM_ALG_RSA1024, buf, 140};
    (void)s;
    fill();
    REFUSED(trustm_ecdh(T, 0, 0xE100, &cert, TRUSTM_OID_EXPORT, out, sizeof(out), &n));
    REFUSED(trustm_ecdh(T, 0, 0xE100, &rsa, TRUSTM_OID_EXPORT, out, sizeof(out), &n));
    /* exporting the secret needs somewhere to put it */
    REFUSED(trustm_ecdh(T, 0, 0xE100, &k, TRUSTM_OID_EXPORT, NULL, 0, &n));
    REFUSED(trustm_derive_key(T, 0, 0x04, TRUSTM_OID_SESSION_1, buf, 20, NULL, 0, 32,
                              TRUSTM_OID_EXPORT, out));
    REFUSED(trustm_derive_key(T, 0, 0x0B, TRUSTM_OID_SESSION_1, buf, 20, NULL, 0, 32,
                              TRUSTM_OID_EXPORT, out));
    REFUSED(trustm_derive_key(T, 0, TRUSTM_KDF_PRF_SHA256, TRUSTM_OID_SESSION_1, buf, 20, NULL,
                              0, 32, TRUSTM_OID_EXPORT, NULL));
}

#if TRUSTM_CFG_RSA
static void rsa(void **s)
{
    size_t n;
    uint8_t out[259];
    struct trustm_pubkey k = {0, TRUSTM_ALG_RSA1024, buf, 140};
    struct trustm_pubkey ecc = {0, TRUSTM_ALG_P256, point, sizeof(point)};
    (void)s;
    fill();
    /* a message, or a session holding one: exactly one of the two */
    REFUSED(trustm_rsa_encrypt(T, 0, NULL, 0, 0, &k, out, sizeof(out), &n));
    REFUSED(trustm_rsa_encrypt(T, 0, buf, 10, TRUSTM_OID_SESSION_1, &k, out, sizeof(out), &n));
    REFUSED(trustm_rsa_encrypt(T, 0, buf, 0, 0, &k, out, sizeof(out), &n));
    REFUSED(trustm_rsa_encrypt(T, 0, buf, 246, 0, &k, out, sizeof(out), &n));
    REFUSED(trustm_rsa_encrypt(T, 0, buf, 10, 0, &ecc, out, sizeof(out), &n));
    REFUSED(trustm_rsa_decrypt(T, 0, 0xE0FC, buf, 100, TRUSTM_OID_EXPORT, out, sizeof(out), &n));
    REFUSED(trustm_rsa_decrypt(T, 0, 0xE0FC, buf, 128, TRUSTM_OID_EXPORT, out, sizeof(out),
                               NULL));
    REFUSED(trustm_rsa_decrypt(T, 0, 0xE0FC, buf, 128, TRUSTM_OID_EXPORT, NULL, 0, &n));
}

#endif

#if TRUSTM_CFG_V3
static void symmetric(void **s)
{
    size_t n;
    uint8_t out[64];
    (void)s;
    fill();
    REFUSED(trustm_gen_sym_key(T, 0, TRUSTM_ALG_P256, 0xE200, 0x02, out, sizeof(out), &n));
    REFUSED(trustm_gen_sym_key(T, 0, TRUSTM_ALG_AES128, TRUSTM_OID_EXPORT, 0x02, NULL, 0, &n));
    REFUSED(trustm_hmac(T, 0, 0x30, 0xF1D0, buf, 10, out, sizeof(out), &n));
    REFUSED(trustm_clear_auto_state(T, 0, 0x30, 0xF1D0));
}
#endif

static void der_codecs(void **s)
{
    size_t off, n, hdr;
    uint8_t out[80];
    (void)s;
    fill();
    REFUSED(trustm_der_sig_from_chip(NULL, 4, sizeof(out), &n));
    REFUSED(trustm_der_sig_from_chip(out, 4, sizeof(out), NULL));
    REFUSED(trustm_der_sig_from_chip(out, 10, 9, &n));
    REFUSED(trustm_der_sig_body(NULL, 8, &off, &n));
    REFUSED(trustm_der_sig_body(sig, 8, NULL, &n));
    REFUSED(trustm_der_sig_from_rs(buf, 0, out, sizeof(out), &n));
    REFUSED(trustm_der_sig_from_rs(buf, TRUSTM_ECDSA_COMP_MAX + 1, out, sizeof(out), &n));
    REFUSED(trustm_der_sig_from_rs(NULL, 32, out, sizeof(out), &n));
    REFUSED(trustm_der_bitstring(buf, 10, NULL, &n));
    REFUSED(trustm_der_bitstring(buf, 10, &off, NULL));
    /* a two-byte length must be minimal and complete: 30 82 00 05 is not */
    assert_int_not_equal(trustm_der_tlv((const uint8_t *)"\x30\x82\x00\x05\x01\x02\x03\x04\x05",
                                        9, 0x30, &hdr, &n),
                         TMA_OK);
    assert_int_not_equal(trustm_der_tlv((const uint8_t *)"\x30\x82\x01", 3, 0x30, &hdr, &n),
                         TMA_OK);
}

static void certificates_and_uid(void **s)
{
    struct trustm_certobj o;
    struct tma_span c;
    struct trustm_uid u;
    (void)s;
    fill();
    REFUSED(trustm_certobj_parse(NULL, 10, &o));
    REFUSED(trustm_certobj_parse(buf, 10, NULL));
    memset(&o, 0, sizeof(o));
    REFUSED(trustm_certobj_cert(NULL, 0, &c));
    REFUSED(trustm_certobj_cert(&o, 0, &c)); /* no certificate in it */
    REFUSED(trustm_uid_decode(NULL, 27, &u));
    REFUSED(trustm_uid_decode(buf, 27, NULL));
}

static void metadata(void **s)
{
    struct trustm_md_builder b;
    struct trustm_ac ac;
    struct trustm_md md;
    uint8_t out[64];
    uint8_t tag;
    size_t n, pos = 0;
    struct tma_span v;
    (void)s;
    fill();
    memset(&ac, 0, sizeof(ac));
    REFUSED(trustm_ac_encode(&ac, out, sizeof(out), &n)); /* no token */
    ac.ntok = 1;                                          /* a token without a condition */
    REFUSED(trustm_ac_encode(&ac, out, sizeof(out), &n));
    ac.ntok = TRUSTM_AC_MAX_TOKENS + 1;
    REFUSED(trustm_ac_encode(&ac, out, sizeof(out), &n));
    REFUSED(trustm_ac_encode(NULL, out, sizeof(out), &n));
    REFUSED(trustm_md_next((const uint8_t *)"\x20\x00", 2, NULL, &tag, &v));
    REFUSED(trustm_md_next(NULL, 2, &pos, &tag, &v));
    REFUSED(trustm_md_decode((const uint8_t *)"\x20\x00", 2, NULL));
    REFUSED(trustm_md_end(NULL, &n));
    /* NULL builders are ignored, not dereferenced */
    trustm_md_begin(NULL, out, sizeof(out));
    trustm_md_add(NULL, TRUSTM_MD_TYPE, out, 1);
    trustm_md_add_ac(NULL, TRUSTM_MD_EXECUTE, &ac);
    /* an empty value, then a valid one under another tag: the first error
     * stays (with or without a pointer) */
    trustm_md_begin(&b, out, sizeof(out));
    trustm_md_add(&b, TRUSTM_MD_TYPE, NULL, 0);
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 0x01);
    REFUSED(trustm_md_end(&b, &n));
    trustm_md_begin(&b, out, sizeof(out));
    trustm_md_add(&b, TRUSTM_MD_TYPE, digest, 0);
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 0x01);
    REFUSED(trustm_md_end(&b, &n));
    /* control: the same builder calls without the empty value are fine */
    trustm_md_begin(&b, out, sizeof(out));
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 0x01);
    assert_int_equal(trustm_md_end(&b, &n), TMA_OK);
    /* an access condition that does not encode */
    trustm_md_begin(&b, out, sizeof(out));
    ac.ntok = 0;
    trustm_md_add_ac(&b, TRUSTM_MD_EXECUTE, &ac);
    REFUSED(trustm_md_end(&b, &n));
    REFUSED(trustm_md_end(&b, NULL));
    (void)md;
}

/* Two limits that are not refusals of the arguments themselves. */
static void limits(void **s)
{
    struct trustm_md md;
    size_t n = 0;
    (void)s;
    fill();
    /* a read that would run past offset 0xFFFF asks only for what is
     * addressable: 15 bytes from 0xFFF0, not 100 */
    fake_reset();
    fake_expect_hex("81 00 00 06 F1 D0 FF F0 00 0F",
                    "00 00 00 0F 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F");
    assert_int_equal(trustm_read_data(T, 0, 0xF1D0, 0xFFF0, buf, 100, &n), TMA_OK);
    assert_int_equal(n, 15);
    assert_true(fake_ok());
    /* the version tag (C1) is exactly two bytes */
    assert_int_equal(trustm_md_decode((const uint8_t *)"\x20\x03\xC1\x01\x00", 5, &md),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(trustm_md_decode((const uint8_t *)"\x20\x05\xC1\x03\x00\x00\x01", 7, &md),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(trustm_md_decode((const uint8_t *)"\x20\x04\xC1\x02\x00\x01", 6, &md),
                     TMA_OK);
}

/* A TLS-format certificate object (C0, length, list length, entries of a
 * 3-byte length and a certificate) whose list ends in 2 stray bytes, too
 * few for another entry's length: malformed, not one certificate. */
static void certificate_list_tail(void **s)
{
    static const uint8_t good[] = {0xC0, 0x00, 0x0B, 0x00, 0x00, 0x08, 0x00,
                                   0x00, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01};
    static const uint8_t tail[] = {0xC0, 0x00, 0x0D, 0x00, 0x00, 0x0A, 0x00, 0x00,
                                   0x05, 0x30, 0x03, 0x02, 0x01, 0x01, 0x00, 0x00};
    struct trustm_certobj o;
    (void)s;
    assert_int_equal(trustm_certobj_parse(good, sizeof(good), &o), TMA_OK);
    assert_int_equal(o.count, 1);
    assert_int_equal(trustm_certobj_parse(tail, sizeof(tail), &o),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(o.count, 0);
}

/* SHA-256 of more than one chunk (1,536 bytes) whose first APDU fails: the
 * chip's error comes back and nothing more is sent. */
static void hash_chunk_fails(void **s)
{
    static uint8_t data[2000];
    uint8_t out[32];
    (void)s;
    memset(data, 0x61, sizeof(data));
    fake_reset();
    fake_expect(NULL, 0, (const uint8_t *)"\xFF\x00\x00\x00", 4);     /* Sta FF */
    fake_expect(NULL, 0, (const uint8_t *)"\x00\x00\x00\x01\x07", 5); /* last error 07 */
    assert_int_equal(trustm_sha256(T, 0, data, sizeof(data), out), TMA_CHIP_ERROR(0x07));
    assert_true(fake_ok());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_context),
        cmocka_unit_test(hashes),
        cmocka_unit_test(data_objects),
        cmocka_unit_test(signatures),
        cmocka_unit_test(key_agreement_and_derivation),
#if TRUSTM_CFG_RSA
        cmocka_unit_test(rsa),
#endif
#if TRUSTM_CFG_V3
        cmocka_unit_test(symmetric),
#endif
        cmocka_unit_test(der_codecs),
        cmocka_unit_test(certificates_and_uid),
        cmocka_unit_test(metadata),
        cmocka_unit_test(limits),
        cmocka_unit_test(certificate_list_tail),
        cmocka_unit_test(hash_chunk_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
