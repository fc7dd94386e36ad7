/*
 * libtrustm algorithm variants no other test sends to the chip (found by
 * scripts/coverage: the simulator's branches for them never ran), against
 * the in-process simulator, in plain mode and over the shielded connection.
 * Every result is recomputed with mbedTLS on the host:
 *  - DeriveKey with TLS PRF SHA-384 / SHA-512 and HKDF SHA-384 / SHA-512
 *    from a pre-shared secret object (0xF1D3);
 *  - HMAC SHA-384 / SHA-512 with the same secret;
 *  - RSA 2048: key generation, RSASSA-PKCS1-v1_5 with SHA-384 and SHA-512
 *    digests, VerifySign and EncryptAsym with the 2048-bit public key given
 *    inline (its BIT STRING needs the two-byte DER length form), DecryptAsym
 *    of the chip's and of the host's ciphertext;
 *  - the digest-length rule of the RSA schemes (refused before the chip).
 *
 * Usage: trustm_api_modes [plain|shield]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/metadata.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

#include "tma_check.h"

static int failures;
static uint8_t prot; /* protection of every command of the run */


#if TRUSTM_CFG_V3
static const mbedtls_md_info_t *md(mbedtls_md_type_t t)
{
    return mbedtls_md_info_from_type(t);
}

/* TLS 1.2 P_hash (RFC 5246 section 5) over the chip's DeriveKey input, which
 * is label || seed as one string: A(1) = HMAC(secret, data), out = HMAC(secret,
 * A(i) || data) for i = 1, 2, ... */
static int p_hash(mbedtls_md_type_t t, const uint8_t *secret, size_t slen, const uint8_t *data,
                  size_t dlen, uint8_t *out, size_t olen)
{
    const mbedtls_md_info_t *mi = md(t);
    size_t hl = mbedtls_md_get_size(mi);
    uint8_t a[64];
    uint8_t blk[64];
    mbedtls_md_context_t c;
    int rc;

    mbedtls_md_init(&c);
    rc = mbedtls_md_setup(&c, mi, 1);
    if (rc == 0) {
        rc = mbedtls_md_hmac(mi, secret, slen, data, dlen, a);
    }
    while (rc == 0 && olen > 0) {
        size_t n = olen < hl ? olen : hl;
        rc = mbedtls_md_hmac_starts(&c, secret, slen);
        rc = rc ? rc : mbedtls_md_hmac_update(&c, a, hl);
        rc = rc ? rc : mbedtls_md_hmac_update(&c, data, dlen);
        rc = rc ? rc : mbedtls_md_hmac_finish(&c, blk);
        rc = rc ? rc : mbedtls_md_hmac(mi, secret, slen, a, hl, a);
        memcpy(out, blk, n);
        out += n;
        olen -= n;
    }
    mbedtls_md_free(&c);
    return rc;
}

/* A 48-byte pre-shared secret in 0xF1D3 (type PRESSEC, Execute always). */
static void put_secret(struct trustm *t, uint8_t *secret, size_t len)
{
    uint8_t mdata[16];
    size_t ml = 0;
    struct trustm_md_builder b;
    struct trustm_ac always = {1, {1, 0, 0}, {{{TRUSTM_AC_ALW, 0, 0}}}};

    for (size_t i = 0; i < len; i++) {
        secret[i] = (uint8_t)(0xA5 ^ (i * 7));
    }
    trustm_md_begin(&b, mdata, sizeof(mdata));
    trustm_md_add_u8(&b, TRUSTM_MD_TYPE, 0x21);
    trustm_md_add_ac(&b, TRUSTM_MD_EXECUTE, &always);
    EXPECT_ST(trustm_md_end(&b, &ml), TMA_OK);
    EXPECT_ST(trustm_write_data(t, prot, 0xF1D3, TRUSTM_WRITE_ERASE, 0, secret, len), TMA_OK);
    EXPECT_ST(trustm_write_metadata(t, prot, 0xF1D3, mdata, ml), TMA_OK);
}

static void test_kdf_and_hmac(struct trustm *t)
{
    static const struct {
        uint8_t kdf;
        mbedtls_md_type_t md;
        int hkdf;
    } kdfs[] = {
        {TRUSTM_KDF_PRF_SHA384, MBEDTLS_MD_SHA384, 0},
        {TRUSTM_KDF_PRF_SHA512, MBEDTLS_MD_SHA512, 0},
        {TRUSTM_KDF_HKDF_SHA384, MBEDTLS_MD_SHA384, 1},
        {TRUSTM_KDF_HKDF_SHA512, MBEDTLS_MD_SHA512, 1},
    };
    static const struct {
        uint8_t mode;
        mbedtls_md_type_t md;
        size_t len;
    } macs[] = {
        {TRUSTM_SYM_HMAC_SHA384, MBEDTLS_MD_SHA384, 48},
        {TRUSTM_SYM_HMAC_SHA512, MBEDTLS_MD_SHA512, 64},
    };
    uint8_t secret[48];
    uint8_t data[77];
    uint8_t info[19];
    uint8_t chip[100];
    uint8_t host[100];
    size_t i;

    put_secret(t, secret, sizeof(secret));
    memcpy(data, "key expansion", 13);
    for (i = 13; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 3);
    }
    memset(info, 0x6B, sizeof(info));
    for (i = 0; i < sizeof(kdfs) / sizeof(kdfs[0]); i++) {
        /* 100 bytes: more than one block of either hash */
        memset(chip, 0, sizeof(chip));
        EXPECT_ST(trustm_derive_key(t, prot, kdfs[i].kdf, 0xF1D3, data, sizeof(data),
                                    kdfs[i].hkdf ? info : NULL, kdfs[i].hkdf ? sizeof(info) : 0,
                                    sizeof(chip), TRUSTM_OID_EXPORT, chip),
                  TMA_OK);
        if (kdfs[i].hkdf) {
            EXPECT(mbedtls_hkdf(md(kdfs[i].md), data, sizeof(data), secret, sizeof(secret), info,
                                sizeof(info), host, sizeof(host)) == 0,
                   "host HKDF");
        } else {
            EXPECT(p_hash(kdfs[i].md, secret, sizeof(secret), data, sizeof(data), host,
                          sizeof(host)) == 0,
                   "host PRF");
        }
        EXPECT(memcmp(chip, host, sizeof(chip)) == 0, "DeriveKey 0x%02X differs from mbedTLS",
               kdfs[i].kdf);
        /* into a session: nothing comes back, the chip keeps it */
        EXPECT_ST(trustm_derive_key(t, prot, kdfs[i].kdf, 0xF1D3, data, sizeof(data),
                                    kdfs[i].hkdf ? info : NULL, kdfs[i].hkdf ? sizeof(info) : 0,
                                    48, TRUSTM_OID_SESSION_3, NULL),
                  TMA_OK);
    }
    for (i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
        size_t n = 0;
        EXPECT_ST(trustm_hmac(t, prot, macs[i].mode, 0xF1D3, data, sizeof(data), chip,
                              sizeof(chip), &n),
                  TMA_OK);
        EXPECT(mbedtls_md_hmac(md(macs[i].md), secret, sizeof(secret), data, sizeof(data),
                               host) == 0,
               "host HMAC");
        EXPECT(n == macs[i].len && memcmp(chip, host, n) == 0,
               "HMAC 0x%02X: %zu bytes, differs from mbedTLS", macs[i].mode, n);
    }
}
#endif

#if TRUSTM_CFG_RSA
static int host_rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)(rand() >> 5);
    }
    return 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, as
 * the chip returns it, into an mbedTLS context. */
static int host_rsa(mbedtls_rsa_context *r, const uint8_t *der, size_t len)
{
    unsigned char *p = (unsigned char *)(uintptr_t)der;
    const unsigned char *end = der + len;
    size_t l;
    mbedtls_mpi n, e;
    int rc;

    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&e);
    rc = mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    rc = rc ? rc : mbedtls_asn1_get_mpi(&p, end, &n);
    rc = rc ? rc : mbedtls_asn1_get_mpi(&p, end, &e);
    rc = rc ? rc : (p == end ? 0 : -1);
    mbedtls_rsa_init(r, MBEDTLS_RSA_PKCS_V15, 0);
    rc = rc ? rc : mbedtls_rsa_import(r, &n, NULL, NULL, NULL, &e);
    rc = rc ? rc : mbedtls_rsa_complete(r);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    return rc;
}

static void test_rsa2048(struct trustm *t)
{
    static const struct {
        uint8_t scheme;
        mbedtls_md_type_t md;
        size_t len;
    } schemes[] = {
        {TRUSTM_SIG_RSA_SHA384, MBEDTLS_MD_SHA384, 48},
        {TRUSTM_SIG_RSA_SHA512, MBEDTLS_MD_SHA512, 64},
    };
    static uint8_t buf[600];
    static uint8_t pub[600];
    uint8_t digest[64];
    uint8_t sig[256];
    uint8_t ct[259]; /* EncryptAsym wants 3 bytes more than the ciphertext */
    uint8_t pt[256];
    uint8_t msg[200];
    size_t pub_len, n, i;
    struct trustm_keypair kp;
    mbedtls_rsa_context r;

    memset(&kp, 0, sizeof(kp));
    EXPECT_ST(trustm_gen_keypair(t, prot, TRUSTM_ALG_RSA2048, 0xE0FD,
                                 TRUSTM_KU_SIGN | TRUSTM_KU_ENC | TRUSTM_KU_AUTH, buf, sizeof(buf),
                                 &kp),
              TMA_OK);
    pub_len = kp.pub.len;
    if (pub_len == 0 || pub_len > sizeof(pub)) {
        EXPECT(0, "RSA 2048 public key of %zu bytes", pub_len);
        return;
    }
    memcpy(pub, kp.pub.ptr, pub_len);
    if (host_rsa(&r, pub, pub_len) != 0 || mbedtls_rsa_get_len(&r) != 256) {
        EXPECT(0, "the chip's public key is no 2048-bit RSAPublicKey");
        mbedtls_rsa_free(&r);
        return;
    }
    {
        /* inline key: 270 bytes, so apdu_pubkey() writes 03 82 01 0F 00 */
        struct trustm_pubkey k = {0, TRUSTM_ALG_RSA2048, pub, pub_len};
        for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
            for (n = 0; n < schemes[i].len; n++) {
                digest[n] = (uint8_t)(rand() >> 3);
            }
            n = 0;
            EXPECT_ST(trustm_sign(t, prot, schemes[i].scheme, 0xE0FD, digest, schemes[i].len, sig,
                                  sizeof(sig), &n),
                      TMA_OK);
            EXPECT(n == 256, "RSA 2048 signature of %zu bytes", n);
            EXPECT(mbedtls_rsa_pkcs1_verify(&r, NULL, NULL, MBEDTLS_RSA_PUBLIC, schemes[i].md,
                                            (unsigned)schemes[i].len, digest, sig) == 0,
                   "scheme 0x%02X: mbedTLS refuses the chip's signature", schemes[i].scheme);
            EXPECT_ST(trustm_verify(t, prot, schemes[i].scheme, digest, schemes[i].len, sig, n, &k),
                      TMA_OK);
            sig[100] ^= 0x01;
            EXPECT(trustm_verify(t, prot, schemes[i].scheme, digest, schemes[i].len, sig, n, &k) !=
                       TMA_OK,
                   "scheme 0x%02X: a changed signature verified", schemes[i].scheme);
            /* the digest length belongs to the scheme: refused before the chip */
            EXPECT_ST(trustm_sign(t, prot, schemes[i].scheme, 0xE0FD, digest, 32, sig, sizeof(sig),
                                  &n),
                      TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
        }
        for (n = 0; n < sizeof(msg); n++) {
            msg[n] = (uint8_t)(n ^ 0x5C);
        }
        n = 0;
        EXPECT_ST(trustm_rsa_encrypt(t, prot, msg, sizeof(msg), 0, &k, ct, sizeof(ct), &n), TMA_OK);
        EXPECT(n == 256, "RSA 2048 ciphertext of %zu bytes", n);
        n = 0;
        EXPECT_ST(trustm_rsa_decrypt(t, prot, 0xE0FD, ct, 256, TRUSTM_OID_EXPORT, pt, sizeof(pt),
                                     &n),
                  TMA_OK);
        EXPECT(n == sizeof(msg) && memcmp(pt, msg, n) == 0, "chip round trip: %zu bytes", n);
        EXPECT(mbedtls_rsa_pkcs1_encrypt(&r, host_rng, NULL, MBEDTLS_RSA_PUBLIC, 5,
                                         (const uint8_t *)"hosts", ct) == 0,
               "host encryption");
        n = 0;
        EXPECT_ST(trustm_rsa_decrypt(t, prot, 0xE0FD, ct, 256, TRUSTM_OID_EXPORT, pt, sizeof(pt),
                                     &n),
                  TMA_OK);
        EXPECT(n == 5 && memcmp(pt, "hosts", 5) == 0, "host ciphertext: %zu bytes", n);
    }
    mbedtls_rsa_free(&r);
}
#endif

int main(int argc, char **argv)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port port;
    static struct trustm t;
    int shield = argc > 1 && strcmp(argv[1], "shield") == 0;

    if (argc > 1 && !shield && strcmp(argv[1], "plain") != 0) {
        fprintf(stderr, "usage: %s [plain|shield]\n", argv[0]);
        return 2;
    }
    srand(77);
    trustm_sim_config_default(&cfg);
    cfg.seed = 7;
    if (trustm_sim_create(&cfg, &sim) != TMA_OK) {
        fprintf(stderr, "cannot create the simulator\n");
        return 1;
    }
    trustm_sim_port(sim, &port);
    EXPECT_ST(trustm_init(&t, &port, NULL), TMA_OK);
    EXPECT_ST(trustm_open(&t), TMA_OK);
    prot = TRUSTM_PROTECT_NONE;
    EXPECT_ST(trustm_open_app(&t, prot, NULL), TMA_OK);
    if (shield) {
#if TRUSTM_CFG_SHIELD
        /* pair: a fresh platform binding secret, written in plain mode */
        uint8_t pbs[64];
        EXPECT_ST(trustm_get_random(&t, prot, TRUSTM_RNG_TRNG, pbs, sizeof(pbs)), TMA_OK);
        EXPECT_ST(trustm_write_data(&t, prot, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs, sizeof(pbs)),
                  TMA_OK);
        EXPECT_ST(trustm_shield_set_secret(&t, trustm_crypto_mbedtls(), pbs, sizeof(pbs)), TMA_OK);
        prot = TRUSTM_PROTECT_BOTH;
#else
        printf("shield compiled out\n");
        return 77;
#endif
    }
    if (failures == 0) {
#if TRUSTM_CFG_V3
        test_kdf_and_hmac(&t);
#endif
#if TRUSTM_CFG_RSA
        test_rsa2048(&t);
#endif
    }
#if TRUSTM_CFG_SHIELD
    if (shield) {
        EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_ACTIVE, "the shield is not active");
    }
#endif
    EXPECT_ST(trustm_close_app(&t, prot, NULL), TMA_OK);
    trustm_deinit(&t);
    trustm_sim_destroy(sim);
    printf("%s mode: %d failure(s)\n", shield ? "shielded" : "plain", failures);
    return failures == 0 ? 0 : 1;
}
