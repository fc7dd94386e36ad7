/*
 * libtrustm public API against the simulator (in process), in plain mode and
 * over the shielded connection. Every command function of trustm/cmd.h runs
 * here; results are checked independently with mbedTLS (signatures, ECDH,
 * PRF/HKDF/HMAC, hashes, RSA, certificate chain) rather than trusting the
 * library's own view.
 *
 * Usage: trustm_cmd_it_api [plain|shield]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "trustm/certobj.h"
#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/der.h"
#include "trustm/metadata.h"
#include "trustm/trustm.h"
#include "trustm/uid.h"
#include "trustm_sim/sim.h"
#include "tma_check.h"

static int failures;
static uint8_t P; /* protection for every command of the run */

#define OK(expr) ST(expr, TMA_OK)
#define ST(expr, want)                                                                     \
    do {                                                                                   \
        tma_status st_ = (expr);                                                           \
        if (st_ != (want)) {                                                               \
            fprintf(stderr, "%s:%d: %s -> %d (%s), want %d (%s)\n", __FILE__, __LINE__, #expr, \
                    (int)st_, tma_status_str(st_), (int)(want), tma_status_str(want));     \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static int rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)(rand() >> 7);
    }
    return 0;
}

static void sha256(const uint8_t *d, size_t n, uint8_t *out)
{
    mbedtls_sha256_ret(d, n, out, 0);
}

/* ECDSA signature (DER) check with mbedTLS against an uncompressed point. */
static int ecdsa_ok(mbedtls_ecp_group_id gid, const uint8_t *pub, size_t publen,
                    const uint8_t *hash, size_t hlen, const uint8_t *sig, size_t slen)
{
    mbedtls_ecdsa_context c;
    int rc;
    mbedtls_ecdsa_init(&c);
    rc = mbedtls_ecp_group_load(&c.grp, gid);
    if (rc == 0) {
        rc = mbedtls_ecp_point_read_binary(&c.grp, &c.Q, pub, publen);
    }
    if (rc == 0) {
        rc = mbedtls_ecdsa_read_signature(&c, hash, hlen, sig, slen);
    }
    mbedtls_ecdsa_free(&c);
    return rc == 0;
}

static void test_app_and_info(struct trustm *t, struct trustm_sim *sim)
{
    uint8_t buf[64];
    uint8_t handle[8];
    size_t n;
    struct trustm_uid uid;
    const char *prod;
    const char *fw;

    OK(trustm_open_app(t, P, NULL));
    /* hibernate and restore: the context handle brings the session back.
     * Hibernating needs SEC = 0, and the shielded handshake right after
     * power-up (no credit yet) raised it (SRM Tab.43 key derivation, 6.5.8):
     * one t_max idle first, as on a chip */
    trustm_sim_sleep_us(sim, 5200u * 1000u);
    OK(trustm_close_app(t, P, handle));
#if TRUSTM_CFG_SHIELD
    if (P != TRUSTM_PROTECT_NONE) {
        struct trustm_shield_saved saved;
        OK(trustm_shield_save(t, &saved));
        OK(trustm_reset(t, TRUSTM_RESET_COLD));
        OK(trustm_shield_restore(t, &saved));
    } else
#endif
    {
        OK(trustm_reset(t, TRUSTM_RESET_COLD));
    }
    (void)sim;
    OK(trustm_open_app(t, P, handle));

    OK(trustm_read_data(t, P, TRUSTM_OID_UID, 0, buf, sizeof(buf), &n));
    CHECK(n == 27);
    OK(trustm_uid_decode(buf, n, &uid));
    CHECK(trustm_uid_firmware(uid.esw_build, &prod, &fw) == 0);
    CHECK(uid.esw_build == 0x2440);

    OK(trustm_read_metadata(t, P, 0xE0E0, buf, sizeof(buf), &n));
    {
        struct trustm_md md;
        char w[80];
        OK(trustm_md_decode(buf, n, &md));
        CHECK(md.max_size == 1728);
        CHECK(md.type == 0x12);
        OK(trustm_ac_render(md.change.ptr, md.change.len, w, sizeof(w)));
        CHECK(strcmp(w, "NEV") == 0);
    }
}

/* The factory certificate chains to the simulator's CA (mbedTLS verifies). */
static void test_factory_certificate(struct trustm *t, struct trustm_sim *sim, uint8_t *dev_der,
                                     size_t *dev_len)
{
    static uint8_t obj[1728];
    size_t n;
    struct trustm_certobj co;
    struct tma_span cert;
    char dir[512] = "/tmp/trustm_api_XXXXXX";
    char path[600];
    mbedtls_x509_crt crt;
    mbedtls_x509_crt ca;
    uint32_t flags = 0;

    OK(trustm_read_data(t, P, 0xE0E0, 0, obj, sizeof(obj), &n));
    OK(trustm_certobj_parse(obj, n, &co));
    OK(trustm_certobj_cert(&co, 0, &cert));
    memcpy(dev_der, cert.ptr, cert.len);
    *dev_len = cert.len;
    /* TRUSTM_API_EXPORT=<dir>: leave the CA chain and the certificate read
     * from the chip there, for the openssl check of trustm_api_openssl.sh */
    {
        const char *keep = getenv("TRUSTM_API_EXPORT");
        if (keep != NULL) {
            FILE *f;
            snprintf(dir, sizeof(dir), "%s", keep);
            snprintf(path, sizeof(path), "%s/chip_cert.der", keep);
            f = fopen(path, "wb");
            CHECK(f != NULL && fwrite(cert.ptr, 1, cert.len, f) == cert.len);
            if (f != NULL) {
                fclose(f);
            }
        } else {
            CHECK(mkdtemp(dir) != NULL);
        }
        OK(trustm_sim_export_ca(sim, dir));
        mbedtls_x509_crt_init(&crt);
        mbedtls_x509_crt_init(&ca);
        CHECK(mbedtls_x509_crt_parse_der(&crt, cert.ptr, cert.len) == 0);
        snprintf(path, sizeof(path), "%s/ca.pem", dir);
        CHECK(mbedtls_x509_crt_parse_file(&ca, path) == 0);
        snprintf(path, sizeof(path), "%s/root.pem", dir);
        CHECK(mbedtls_x509_crt_parse_file(&ca, path) == 0);
        CHECK(mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL) == 0);
        mbedtls_x509_crt_free(&crt);
        mbedtls_x509_crt_free(&ca);
        if (keep == NULL) {
            snprintf(path, sizeof(path), "rm -rf '%s'", dir);
            CHECK(system(path) == 0);
        }
    }

    /* SHA-256 of the certificate computed inside the chip */
    {
        uint8_t a[32];
        uint8_t b[32];
        OK(trustm_sha256_oid(t, P, 0xE0E0, (uint16_t)(cert.ptr - obj), (uint16_t)cert.len, a));
        sha256(cert.ptr, cert.len, b);
        CHECK(memcmp(a, b, 32) == 0);
    }
}

/* A 1,728-byte TLS-identity object written and read back (chained). */
static void test_data_objects(struct trustm *t, const uint8_t *dev, size_t dev_len)
{
    static uint8_t big[1728 - 9], obj[1728], back[2048];
    size_t n;
    struct tma_span c = {big, sizeof(big)};
    struct trustm_certobj co;
    uint32_t v;
    uint32_t th;

    big[0] = 0x30;
    big[1] = 0x82;
    big[2] = (uint8_t)((sizeof(big) - 4) >> 8);
    big[3] = (uint8_t)(sizeof(big) - 4);
    for (size_t i = 4; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 13);
    }
    OK(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, &c, 1, obj, sizeof(obj), &n));
    CHECK(n == 1728);
    OK(trustm_write_data(t, P, 0xE0E1, TRUSTM_WRITE_ERASE, 0, obj, n));
    memset(back, 0, sizeof(back));
    OK(trustm_read_data(t, P, 0xE0E1, 0, back, sizeof(back), &n));
    CHECK(n == 1728 && memcmp(back, obj, 1728) == 0);
    OK(trustm_certobj_parse(back, n, &co));
    CHECK(co.count == 1);
    /* partial read from an offset */
    OK(trustm_read_data(t, P, 0xE0E1, 1700, back, sizeof(back), &n));
    CHECK(n == 28 && memcmp(back, obj + 1700, 28) == 0);

    /* the device certificate as a single DER trust anchor (for VerifySign) */
    OK(trustm_write_data(t, P, 0xE0E8, TRUSTM_WRITE_ERASE, 0, dev, dev_len));

    /* erase leaves nothing to read */
    OK(trustm_write_data(t, P, 0xF1D0, TRUSTM_WRITE, 0, (const uint8_t *)"hello", 5));
    OK(trustm_erase_data(t, P, 0xF1D0));
    {
        uint8_t md[64];
        struct trustm_md d;
        OK(trustm_read_metadata(t, P, 0xF1D0, md, sizeof(md), &n));
        OK(trustm_md_decode(md, n, &d));
        CHECK(d.used_size == 0);
    }

    /* private keys are never readable */
    ST(trustm_read_data(t, P, 0xE0F0, 0, back, 64, &n), TMA_CHIP_ERROR(0x07));

    /* metadata write, lock, and a refused write afterwards */
    {
        uint8_t md[16];
        struct trustm_md_builder b;
        struct trustm_ac alw = {1, {1, 0, 0}, {{{TRUSTM_AC_ALW, 0, 0}}}};
        size_t ml;
        trustm_md_begin(&b, md, sizeof(md));
        trustm_md_add_ac(&b, TRUSTM_MD_READ, &alw);
        OK(trustm_md_end(&b, &ml));
        OK(trustm_write_metadata(t, P, 0xF1D2, md, ml));
        OK(trustm_set_lcso(t, P, 0xF1D2, TRUSTM_LCS_OPERATIONAL));
        ST(trustm_write_data(t, P, 0xF1D2, TRUSTM_WRITE, 0, (const uint8_t *)"x", 1),
           TMA_CHIP_ERROR(0x07));
    }

    /* monotonic counter: value 0, threshold 5 */
    {
        static const uint8_t init[8] = {0, 0, 0, 0, 0, 0, 0, 5};
        OK(trustm_write_data(t, P, 0xE120, TRUSTM_WRITE_ERASE, 0, init, 8));
        OK(trustm_counter_add(t, P, 0xE120, 3));
        OK(trustm_counter_read(t, P, 0xE120, &v, &th));
        CHECK(v == 3 && th == 5);
        /* reaching the threshold caps the value; counting beyond fails */
        OK(trustm_counter_add(t, P, 0xE120, 3));
        OK(trustm_counter_read(t, P, 0xE120, &v, &th));
        CHECK(v == 5 && th == 5);
        ST(trustm_counter_add(t, P, 0xE120, 1), TMA_CHIP_ERROR(0x0E));
    }

    /* protected update: a manifest that is not CBOR is refused by the chip
     * (the accepted case is test_protected_update) */
    {
        static const uint8_t junk[16] = {0x84, 0x01};
        static const uint8_t frag[8] = {1};
        tma_status st = trustm_set_object_protected(t, P, TRUSTM_UPD_MANIFEST, junk, 16);
        CHECK(TMA_IS_CHIP_ERROR(st));
        st = trustm_protected_update(t, P, junk, 16, frag, 8);
        CHECK(TMA_IS_CHIP_ERROR(st));
    }
}

static void test_random_and_hash(struct trustm *t)
{
    uint8_t a[64];
    uint8_t b[64];
    uint8_t d1[32];
    uint8_t d2[32];
    static uint8_t data[3000];
    struct trustm_hash h;

    OK(trustm_get_random(t, P, TRUSTM_RNG_TRNG, a, 64));
    OK(trustm_get_random(t, P, TRUSTM_RNG_DRNG, b, 64));
    CHECK(memcmp(a, b, 64) != 0);
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7);
    }
    OK(trustm_sha256(t, P, (const uint8_t *)"abc", 3, d1));
    sha256((const uint8_t *)"abc", 3, d2);
    CHECK(memcmp(d1, d2, 32) == 0);
    OK(trustm_sha256(t, P, data, sizeof(data), d1));
    sha256(data, sizeof(data), d2);
    CHECK(memcmp(d1, d2, 32) == 0);
    /* two interleaved streamed hashes */
    {
        struct trustm_hash h2;
        uint8_t d3[32];
        OK(trustm_hash_start(&h));
        OK(trustm_hash_start(&h2));
        OK(trustm_hash_update(t, P, &h, data, 1000));
        OK(trustm_hash_update(t, P, &h2, (const uint8_t *)"abc", 3));
        OK(trustm_hash_update(t, P, &h, data + 1000, 2000));
        OK(trustm_hash_finish(t, P, &h, d1));
        OK(trustm_hash_finish(t, P, &h2, d3));
        sha256(data, sizeof(data), d2);
        CHECK(memcmp(d1, d2, 32) == 0);
        sha256((const uint8_t *)"abc", 3, d2);
        CHECK(memcmp(d3, d2, 32) == 0);
    }
}

static void test_ecc(struct trustm *t, const uint8_t *dev, size_t dev_len)
{
    uint8_t buf[300];
    uint8_t sig[TRUSTM_ECDSA_DER_MAX];
    uint8_t rs[64];
    uint8_t hash[32];
    size_t n;
    struct trustm_keypair kp;
    uint8_t pub[65];

    sha256((const uint8_t *)"trustm-azure", 12, hash);
    OK(trustm_gen_keypair(t, P, TRUSTM_ALG_P256, 0xE0F1, TRUSTM_KU_SIGN | TRUSTM_KU_AUTH, buf,
                          sizeof(buf), &kp));
    CHECK(kp.pub.len == 65 && kp.priv.len == 0);
    memcpy(pub, kp.pub.ptr, 65);
    for (int i = 0; i < 20; i++) { /* enough signatures to meet short components */
        hash[0] = (uint8_t)i;
        OK(trustm_sign(t, P, TRUSTM_SIG_ECDSA, 0xE0F1, hash, 32, sig, sizeof(sig), &n));
        CHECK(ecdsa_ok(MBEDTLS_ECP_DP_SECP256R1, pub, 65, hash, 32, sig, n));
        {
            struct trustm_pubkey k = {0, TRUSTM_ALG_P256, pub, 65};
            OK(trustm_verify(t, P, TRUSTM_SIG_ECDSA, hash, 32, sig, n, &k));
            hash[1] ^= 1;
            ST(trustm_verify(t, P, TRUSTM_SIG_ECDSA, hash, 32, sig, n, &k), TMA_CHIP_ERROR(0x2C));
            hash[1] ^= 1;
        }
    }
    OK(trustm_ecdsa_sign_rs(t, P, 0xE0F1, hash, 32, 32, rs));
    OK(trustm_der_sig_from_rs(rs, 32, sig, sizeof(sig), &n));
    CHECK(ecdsa_ok(MBEDTLS_ECP_DP_SECP256R1, pub, 65, hash, 32, sig, n));

    /* factory key E0F0 against its certificate, stored as trust anchor E0E8 */
    {
        struct trustm_pubkey k = {0xE0E8, 0, NULL, 0};
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        OK(trustm_sign(t, P, TRUSTM_SIG_ECDSA, 0xE0F0, hash, 32, sig, sizeof(sig), &n));
        OK(trustm_verify(t, P, TRUSTM_SIG_ECDSA, hash, 32, sig, n, &k));
        CHECK(mbedtls_x509_crt_parse_der(&crt, dev, dev_len) == 0);
        CHECK(mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, 32, sig, n) == 0);
        mbedtls_x509_crt_free(&crt);
    }

    /* exported P-384 key pair: private * G == public */
    {
        mbedtls_ecp_group g;
        mbedtls_mpi d;
        mbedtls_ecp_point q;
        uint8_t out[100];
        size_t ol = 0;
        mbedtls_ecp_group_init(&g);
        mbedtls_mpi_init(&d);
        mbedtls_ecp_point_init(&q);
        OK(trustm_gen_keypair(t, P, TRUSTM_ALG_P384, TRUSTM_OID_EXPORT, 0, buf, sizeof(buf), &kp));
        CHECK(kp.priv.len == 48 && kp.pub.len == 97);
        CHECK(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP384R1) == 0);
        CHECK(mbedtls_mpi_read_binary(&d, kp.priv.ptr, kp.priv.len) == 0);
        CHECK(mbedtls_ecp_mul(&g, &q, &d, &g.G, rng, NULL) == 0);
        CHECK(mbedtls_ecp_point_write_binary(&g, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &ol, out,
                                             sizeof(out)) == 0);
        CHECK(ol == kp.pub.len && memcmp(out, kp.pub.ptr, ol) == 0);
        mbedtls_ecp_group_free(&g);
        mbedtls_mpi_free(&d);
        mbedtls_ecp_point_free(&q);
    }

    /* ECDH: chip session key vs. a host key; secrets agree; PRF from the
     * session secret matches the host's TLS PRF */
    {
        mbedtls_ecp_group g;
        mbedtls_mpi hd;
        mbedtls_mpi z;
        mbedtls_ecp_point hq;
        mbedtls_ecp_point cq;
        uint8_t hpub[65];
        uint8_t zb[32];
        uint8_t sec[32];
        size_t ol;
        uint8_t data[13 + 32];
        uint8_t k1[40];
        uint8_t k2[40];
        struct trustm_pubkey peer = {0, TRUSTM_ALG_P256, hpub, 65};

        mbedtls_ecp_group_init(&g);
        mbedtls_mpi_init(&hd);
        mbedtls_mpi_init(&z);
        mbedtls_ecp_point_init(&hq);
        mbedtls_ecp_point_init(&cq);
        CHECK(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) == 0);
        CHECK(mbedtls_ecp_gen_keypair(&g, &hd, &hq, rng, NULL) == 0);
        CHECK(mbedtls_ecp_point_write_binary(&g, &hq, MBEDTLS_ECP_PF_UNCOMPRESSED, &ol, hpub,
                                             sizeof(hpub)) == 0);
        OK(trustm_gen_keypair(t, P, TRUSTM_ALG_P256, TRUSTM_OID_SESSION_2, TRUSTM_KU_AGREE, buf,
                              sizeof(buf), &kp));
        CHECK(mbedtls_ecp_point_read_binary(&g, &cq, kp.pub.ptr, kp.pub.len) == 0);
        CHECK(mbedtls_ecdh_compute_shared(&g, &z, &cq, &hd, rng, NULL) == 0);
        CHECK(mbedtls_mpi_write_binary(&z, zb, 32) == 0);
        OK(trustm_ecdh(t, P, TRUSTM_OID_SESSION_2, &peer, TRUSTM_OID_EXPORT, sec, sizeof(sec),
                       &n));
        CHECK(n == 32 && memcmp(sec, zb, 32) == 0);
        OK(trustm_ecdh(t, P, TRUSTM_OID_SESSION_2, &peer, TRUSTM_OID_SESSION_2, NULL, 0, NULL));
        memcpy(data, "key expansion", 13);
        for (int i = 0; i < 32; i++) {
            data[13 + i] = (uint8_t)i;
        }
        OK(trustm_derive_key(t, P, TRUSTM_KDF_PRF_SHA256, TRUSTM_OID_SESSION_2, data,
                             sizeof(data), NULL, 0, 40, TRUSTM_OID_EXPORT, k1));
        CHECK(mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, zb, 32, "key expansion", data + 13,
                                  32, k2, 40) == 0);
        CHECK(memcmp(k1, k2, 40) == 0);
        /* derive into a session, then use it as HMAC key is chip-internal only */
        OK(trustm_derive_key(t, P, TRUSTM_KDF_PRF_SHA256, TRUSTM_OID_SESSION_2, data,
                             sizeof(data), NULL, 0, 32, TRUSTM_OID_SESSION_3, NULL));
        mbedtls_ecp_group_free(&g);
        mbedtls_mpi_free(&hd);
        mbedtls_mpi_free(&z);
        mbedtls_ecp_point_free(&hq);
        mbedtls_ecp_point_free(&cq);
    }
}

/* PRESSEC object: HKDF and HMAC agree with mbedTLS. */
static void test_pressec(struct trustm *t)
{
    uint8_t secret[32];
    uint8_t salt[16];
    uint8_t info[10];
    uint8_t k1[42];
    uint8_t k2[42];
    uint8_t md[16];
    size_t ml;
    struct trustm_md_builder b;

    memset(secret, 0x3C, sizeof(secret));
    memset(salt, 0x5A, sizeof(salt));
    memset(info, 0x11, sizeof(info));
    trustm_md_begin(&b, md, sizeof(md));
    trustm_md_add_u8(&b, TRUSTM_MD_TYPE, 0x21);
    {
        struct trustm_ac alw = {1, {1, 0, 0}, {{{TRUSTM_AC_ALW, 0, 0}}}};
        trustm_md_add_ac(&b, TRUSTM_MD_EXECUTE, &alw);
    }
    OK(trustm_md_end(&b, &ml));
    OK(trustm_write_data(t, P, 0xF1D3, TRUSTM_WRITE_ERASE, 0, secret, sizeof(secret)));
    OK(trustm_write_metadata(t, P, 0xF1D3, md, ml));
#if TRUSTM_CFG_V3
    OK(trustm_derive_key(t, P, TRUSTM_KDF_HKDF_SHA256, 0xF1D3, salt, sizeof(salt), info,
                         sizeof(info), 42, TRUSTM_OID_EXPORT, k1));
    CHECK(mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, sizeof(salt), secret,
                       sizeof(secret), info, sizeof(info), k2, 42) == 0);
    CHECK(memcmp(k1, k2, 42) == 0);
    {
        uint8_t mac[67];
        uint8_t want[32];
        size_t n;
        OK(trustm_hmac(t, P, TRUSTM_SYM_HMAC_SHA256, 0xF1D3, (const uint8_t *)"message", 7, mac,
                       sizeof(mac), &n));
        CHECK(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret,
                              sizeof(secret), (const uint8_t *)"message", 7, want) == 0);
        CHECK(n == 32 && memcmp(mac, want, 32) == 0);
    }
#else
    (void)k1;
    (void)k2;
#endif
}

/*
 * Protected update (spec 9.7) of a host-made P-256 private key into E0F2:
 * COSE_Sign1 manifest signed by the chip's own key E0F0, whose certificate
 * is the trust anchor in E0E8 (written by test_data_objects). Afterwards the
 * chip signs with E0F2 and mbedTLS verifies with the host's public key.
 */
static void test_protected_update(struct trustm *t)
{
    mbedtls_ecp_group g;
    mbedtls_mpi d;
    mbedtls_ecp_point q;
    uint8_t pub[65];
    size_t ol;
    uint8_t frag[35] = {0x01, 0x00, 0x20};
    uint8_t man[60];
    uint8_t sigst[79];
    uint8_t cose[138];
    uint8_t h[32];
    uint8_t rs[64];
    uint8_t sig[TRUSTM_ECDSA_DER_MAX];
    size_t n;
    uint8_t md[8];
    static const uint8_t md_int[] = {0x20, 0x05, 0xD0, 0x03, 0x21, 0xE0, 0xE8};

    mbedtls_ecp_group_init(&g);
    mbedtls_mpi_init(&d);
    mbedtls_ecp_point_init(&q);
    CHECK(mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) == 0);
    CHECK(mbedtls_ecp_gen_keypair(&g, &d, &q, rng, NULL) == 0);
    CHECK(mbedtls_mpi_write_binary(&d, frag + 3, 32) == 0);
    CHECK(mbedtls_ecp_point_write_binary(&g, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &ol, pub,
                                         sizeof(pub)) == 0);
    /* manifest [1, null, null, [-3 key, 35, version 1, [P-256, Sign]],
     *           [[-1, bstr([41 SHA-256, digest])], null], [h'', h'E0F2']] */
    sha256(frag, sizeof(frag), h);
    memcpy(man, "\x86\x01\xF6\xF6\x84\x22\x18\x23\x01\x82\x03\x10"
                "\x82\x82\x20\x58\x25\x82\x18\x29\x58\x20", 22);
    memcpy(man + 22, h, 32);
    memcpy(man + 54, "\xF6\x82\x40\x42\xE0\xF2", 6);
    /* Sig_structure [h'Signature1', protected {1: -7}, h'', manifest]: the context a byte
     * string, as Infineon signs it (docs/decisions/sim-vendor-interop.md P1) */
    memcpy(sigst, "\x84\x4A" "Signature1" "\x43\xA1\x01\x26\x40\x58\x3C", 19);
    memcpy(sigst + 19, man, 60);
    sha256(sigst, sizeof(sigst), h);
    OK(trustm_ecdsa_sign_rs(t, P, 0xE0F0, h, 32, 32, rs));
    /* COSE_Sign1 [protected, {4: h'E0E8'}, manifest, signature] */
    memcpy(cose, "\x84\x43\xA1\x01\x26\xA1\x04\x42\xE0\xE8\x58\x3C", 12);
    memcpy(cose + 12, man, 60);
    memcpy(cose + 72, "\x58\x40", 2);
    memcpy(cose + 74, rs, 64);

    memcpy(md, md_int, sizeof(md_int));
    OK(trustm_write_metadata(t, P, 0xE0F2, md, sizeof(md_int)));
    {
        tma_status st = trustm_protected_update(t, P, cose, sizeof(cose), frag, sizeof(frag));
        if (st == TMA_CHIP_ERROR(0x25)) {
            /* trustm-sim does not implement SetObjectProtected yet */
            printf("NOTE: protected update not supported by the simulator (0x25); "
                   "import of E0F2 not checked\n");
            goto out;
        }
        OK(st);
    }
    /* the same version again is refused (0x10: version not greater) */
    ST(trustm_protected_update(t, P, cose, sizeof(cose), frag, sizeof(frag)),
       TMA_CHIP_ERROR(0x10));
    sha256((const uint8_t *)"imported", 8, h);
    OK(trustm_sign(t, P, TRUSTM_SIG_ECDSA, 0xE0F2, h, 32, sig, sizeof(sig), &n));
    CHECK(ecdsa_ok(MBEDTLS_ECP_DP_SECP256R1, pub, 65, h, 32, sig, n));
out:
    memset(frag, 0, sizeof(frag));
    mbedtls_ecp_group_free(&g);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
}

#if TRUSTM_CFG_RSA
static int rsa_from_pub(mbedtls_rsa_context *r, const uint8_t *p, size_t n)
{
    size_t h;
    size_t len;
    size_t h2;
    size_t nl;
    size_t h3;
    size_t el;
    if (trustm_der_tlv(p, n, 0x30, &h, &len) != TMA_OK ||
        trustm_der_tlv(p + h, len, 0x02, &h2, &nl) != TMA_OK ||
        trustm_der_tlv(p + h + h2 + nl, len - h2 - nl, 0x02, &h3, &el) != TMA_OK) {
        return -1;
    }
    mbedtls_rsa_init(r, MBEDTLS_RSA_PKCS_V15, 0);
    if (mbedtls_rsa_import_raw(r, p + h + h2, nl, NULL, 0, NULL, 0, NULL, 0,
                               p + h + h2 + nl + h3, el) != 0) {
        return -1;
    }
    return mbedtls_rsa_complete(r);
}

static void test_rsa(struct trustm *t)
{
    static uint8_t buf[600];
    uint8_t sig[256];
    uint8_t ct[259];
    uint8_t pt[64];
    uint8_t hash[32];
    uint8_t pub[300];
    size_t pub_len;
    size_t n;
    struct trustm_keypair kp;
    mbedtls_rsa_context r;

    sha256((const uint8_t *)"rsa", 3, hash);
    OK(trustm_gen_keypair(t, P, TRUSTM_ALG_RSA1024, 0xE0FC,
                          TRUSTM_KU_SIGN | TRUSTM_KU_ENC | TRUSTM_KU_AUTH, buf, sizeof(buf), &kp));
    pub_len = kp.pub.len;
    CHECK(pub_len <= sizeof(pub));
    memcpy(pub, kp.pub.ptr, pub_len);
    CHECK(rsa_from_pub(&r, pub, pub_len) == 0);
    OK(trustm_sign(t, P, TRUSTM_SIG_RSA_SHA256, 0xE0FC, hash, 32, sig, sizeof(sig), &n));
    CHECK(n == 128);
    CHECK(mbedtls_rsa_pkcs1_verify(&r, NULL, NULL, MBEDTLS_RSA_PUBLIC, MBEDTLS_MD_SHA256, 32,
                                   hash, sig) == 0);
    {
        struct trustm_pubkey k = {0, TRUSTM_ALG_RSA1024, pub, pub_len};
        OK(trustm_verify(t, P, TRUSTM_SIG_RSA_SHA256, hash, 32, sig, n, &k));
        /* chip encrypts, chip decrypts; host decrypt impossible, so the
         * host also encrypts and the chip must recover the message */
        OK(trustm_rsa_encrypt(t, P, (const uint8_t *)"chip", 4, 0, &k, ct, sizeof(ct), &n));
        CHECK(n == 128);
        OK(trustm_rsa_decrypt(t, P, 0xE0FC, ct, n, TRUSTM_OID_EXPORT, pt, sizeof(pt), &n));
        CHECK(n == 4 && memcmp(pt, "chip", 4) == 0);
        CHECK(mbedtls_rsa_pkcs1_encrypt(&r, rng, NULL, MBEDTLS_RSA_PUBLIC, 4,
                                        (const uint8_t *)"host", ct) == 0);
        OK(trustm_rsa_decrypt(t, P, 0xE0FC, ct, 128, TRUSTM_OID_EXPORT, pt, sizeof(pt), &n));
        CHECK(n == 4 && memcmp(pt, "host", 4) == 0);
        OK(trustm_rsa_decrypt(t, P, 0xE0FC, ct, 128, TRUSTM_OID_SESSION_4, NULL, 0, NULL));
        /* pre-master secret generated into a session and encrypted */
        {
            static const uint8_t ver[2] = {3, 3};
            OK(trustm_random_to_session(t, P, TRUSTM_RNG_PREMASTER, TRUSTM_OID_SESSION_1, ver,
                                        2, 46, NULL));
            OK(trustm_rsa_encrypt(t, P, NULL, 0, TRUSTM_OID_SESSION_1, &k, ct, sizeof(ct), &n));
            CHECK(n == 128);
            OK(trustm_rsa_decrypt(t, P, 0xE0FC, ct, 128, TRUSTM_OID_EXPORT, pt, sizeof(pt), &n));
            CHECK(n == 48 && pt[0] == 3 && pt[1] == 3);
        }
    }
    mbedtls_rsa_free(&r);
}
#endif

#if TRUSTM_CFG_V3
static void test_symmetric(struct trustm *t)
{
    static uint8_t in[992], ct[1000], back[1000];
    uint8_t iv[16] = {0};
    uint8_t mac[19];
    uint8_t key[40];
    size_t n;

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 3);
    }
    OK(trustm_gen_sym_key(t, P, TRUSTM_ALG_AES128, 0xE200, TRUSTM_KU_ENC, NULL, 0, NULL));
    OK(trustm_sym_encrypt(t, P, TRUSTM_SYM_CBC, 0xE200, iv, in, sizeof(in), ct, sizeof(ct), &n));
    CHECK(n == sizeof(in));
    OK(trustm_sym_decrypt(t, P, TRUSTM_SYM_CBC, 0xE200, iv, ct, n, back, sizeof(back), &n));
    CHECK(n == sizeof(in) && memcmp(back, in, n) == 0);
    /* CBC-MAC equals the last block of a zero-IV CBC encryption */
    OK(trustm_sym_encrypt(t, P, TRUSTM_SYM_CBC_MAC, 0xE200, NULL, in, sizeof(in), mac,
                          sizeof(mac), &n));
    CHECK(n == 16 && memcmp(mac, ct + sizeof(in) - 16, 16) == 0);
    /* ECB of the first block equals CBC of the first block with a zero IV */
    OK(trustm_sym_encrypt(t, P, TRUSTM_SYM_ECB, 0xE200, NULL, in, 16, back, sizeof(back), &n));
    CHECK(n == 16 && memcmp(back, ct, 16) == 0);
    {
        uint8_t blk[19];
        OK(trustm_sym_decrypt(t, P, TRUSTM_SYM_ECB, 0xE200, NULL, back, 16, blk, sizeof(blk), &n));
        CHECK(n == 16 && memcmp(blk, in, 16) == 0);
    }
    OK(trustm_sym_encrypt(t, P, TRUSTM_SYM_CMAC, 0xE200, NULL, in, 20, mac, sizeof(mac), &n));
    CHECK(n == 16);
    OK(trustm_gen_sym_key(t, P, TRUSTM_ALG_AES256, TRUSTM_OID_EXPORT, 0, key, sizeof(key), &n));
    CHECK(n == 32);

    /* authorization: AUTOREF secret, random in a session, host HMAC */
    {
        uint8_t secret[32];
        uint8_t rnd[32];
        uint8_t hm[32];
        uint8_t md[16];
        size_t ml;
        struct trustm_md_builder b;
        memset(secret, 0x77, sizeof(secret));
        trustm_md_begin(&b, md, sizeof(md));
        trustm_md_add_u8(&b, TRUSTM_MD_TYPE, 0x31);
        {
            struct trustm_ac alw = {1, {1, 0, 0}, {{{TRUSTM_AC_ALW, 0, 0}}}};
            trustm_md_add_ac(&b, TRUSTM_MD_EXECUTE, &alw);
        }
        OK(trustm_md_end(&b, &ml));
        OK(trustm_write_data(t, P, 0xF1D4, TRUSTM_WRITE_ERASE, 0, secret, sizeof(secret)));
        OK(trustm_write_metadata(t, P, 0xF1D4, md, ml));
        OK(trustm_random_to_session(t, P, TRUSTM_RNG_TRNG, TRUSTM_OID_SESSION_3, NULL, 0, 32,
                                    rnd));
        CHECK(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret,
                              sizeof(secret), rnd, 32, hm) == 0);
        OK(trustm_hmac_verify(t, P, TRUSTM_SYM_HMAC_SHA256, 0xF1D4, TRUSTM_OID_SESSION_3, rnd,
                              32, hm, 32));
        OK(trustm_clear_auto_state(t, P, TRUSTM_SYM_HMAC_SHA256, 0xF1D4));
        /* the random is single use: the same proof again fails */
        ST(trustm_hmac_verify(t, P, TRUSTM_SYM_HMAC_SHA256, 0xF1D4, TRUSTM_OID_SESSION_3, rnd,
                              32, hm, 32),
           TMA_CHIP_ERROR(0x2F));
    }
}
#endif

int main(int argc, char **argv)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port port;
    static struct trustm t;
    static uint8_t dev[1728];
    size_t dev_len = 0;
    int shield = argc > 1 && strcmp(argv[1], "shield") == 0;

    srand(1234);
    trustm_sim_config_default(&cfg);
    cfg.seed = 42;
    if (trustm_sim_create(&cfg, &sim) != TMA_OK) {
        fprintf(stderr, "cannot create simulator\n");
        return 1;
    }
    trustm_sim_port(sim, &port);
    OK(trustm_init(&t, &port, NULL));
    OK(trustm_open(&t));
    P = TRUSTM_PROTECT_NONE;
#if TRUSTM_CFG_SHIELD
    if (shield) {
        /* pair: a fresh platform binding secret written in plain mode */
        uint8_t pbs[64];
        OK(trustm_open_app(&t, P, NULL));
        OK(trustm_get_random(&t, P, TRUSTM_RNG_TRNG, pbs, 64));
        OK(trustm_write_data(&t, P, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs, 64));
        OK(trustm_shield_set_secret(&t, trustm_crypto_mbedtls(), pbs, 64));
        P = TRUSTM_PROTECT_BOTH;
    }
#else
    if (shield) {
        printf("shield compiled out\n");
        return 77;
    }
#endif
    test_app_and_info(&t, sim);
    test_factory_certificate(&t, sim, dev, &dev_len);
    test_data_objects(&t, dev, dev_len);
    test_random_and_hash(&t);
    test_ecc(&t, dev, dev_len);
    test_pressec(&t);
    test_protected_update(&t);
#if TRUSTM_CFG_RSA
    test_rsa(&t);
#endif
#if TRUSTM_CFG_V3
    test_symmetric(&t);
#endif
#if TRUSTM_CFG_SHIELD
    if (shield) {
        CHECK(trustm_shield_state(&t) == TRUSTM_SHIELD_ACTIVE);
    }
#endif
    OK(trustm_close_app(&t, P, NULL));
    trustm_deinit(&t);
    trustm_sim_destroy(sim);
    printf("%s mode: %d failure(s)\n", shield ? "shielded" : "plain", failures);
    return failures == 0 ? 0 : 1;
}
