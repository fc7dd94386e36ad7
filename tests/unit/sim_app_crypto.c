#define _POSIX_C_SOURCE 200809L
/* sim_app: crypto commands checked against an independent implementation
 * (mbedTLS on the host side, openssl for one signature). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "sim_app_util.h"
#include "tma_test.h"

static const char *DIGEST_ABC = "BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 "
                                "7A 9C B4 10 FF 61 F2 00 15 AD";

static int host_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        out[i] = (unsigned char)rand();
    }
    return 0;
}

static size_t apdu_build(uint8_t *out, uint8_t cmd, uint8_t param, const uint8_t *data, size_t n)
{
    out[0] = cmd;
    out[1] = param;
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    memcpy(out + 4, data, n);
    return n + 4;
}

static size_t tlv(uint8_t *out, uint8_t tag, const uint8_t *v, size_t n)
{
    out[0] = tag;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    if (n) {
        memcpy(out + 3, v, n);
    }
    return n + 3;
}

/* CalcSign with key oid over digest; returns signature length (two INTEGERs) */
static size_t calc_sign(struct sim_app *app, uint8_t param, uint16_t oid, const uint8_t *dg,
                        size_t dl, uint8_t *sig)
{
    uint8_t d[256], a[300], rsp[SIM_APDU_MAX];
    size_t n = tlv(d, 0x01, dg, dl);
    uint8_t o[2] = {(uint8_t)(oid >> 8), (uint8_t)oid};
    n += tlv(d + n, 0x03, o, 2);
    size_t al = apdu_build(a, 0xB1, param, d, n);
    size_t sl = sa_ok_bin(app, a, al, rsp);
    memcpy(sig, rsp + 4, sl);
    return sl;
}

/* ECDSA r||s (two INTEGERs) -> verify with mbedTLS against point bytes 04||X||Y */
static int host_verify_ecdsa(mbedtls_ecp_group_id gid, const uint8_t *pt, size_t ptl,
                             const uint8_t *dg, size_t dl, const uint8_t *sig, size_t sl,
                             size_t field)
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int e = mbedtls_ecp_group_load(&grp, gid) || mbedtls_ecp_point_read_binary(&grp, &q, pt, ptl);
    /* chip encoding: 02 L r 02 L s, each full width (+00 when the MSB is set) */
    size_t i = 0;
    assert_int_equal(sig[i++], 0x02);
    size_t rl = sig[i++];
    assert_true(rl == field || (rl == field + 1 && sig[i] == 0 && (sig[i + 1] & 0x80)));
    if (!e) {
        e = mbedtls_mpi_read_binary(&r, sig + i, rl);
    }
    i += rl;
    assert_int_equal(sig[i++], 0x02);
    size_t sl2 = sig[i++];
    assert_true(sl2 == field || (sl2 == field + 1 && sig[i] == 0 && (sig[i + 1] & 0x80)));
    if (!e) {
        e = mbedtls_mpi_read_binary(&s, sig + i, sl2);
    }
    i += sl2;
    assert_int_equal(i, sl);
    if (!e) {
        e = mbedtls_ecdsa_verify(&grp, dg, dl, &q, &r, &s);
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return e;
}

static void factory_key_signature_verifies_with_openssl(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(11);
    uint8_t rsp[SIM_APDU_MAX], dg[32], sig[160];
    size_t n = sa_ok(app, "81 00 00 06 E0 E0 00 00 06 11", rsp);
    assert_int_equal(n, 515);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(&crt, rsp + 4 + 9, n - 9), 0);
    tma_test_hex(DIGEST_ABC, dg, sizeof dg);
    size_t sl = calc_sign(app, 0x11, 0xE0F0, dg, 32, sig);
    /* wrap as X.509 ECDSA-Sig-Value and let openssl verify it */
    char dir[] = "/tmp/sim_app_sigXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[1024];
    uint8_t pem[1024];
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&crt.pk, pem, sizeof pem), 0);
    snprintf(path, sizeof path, "%s/pub.pem", dir);
    FILE *f = fopen(path, "w");
    fputs((const char *)pem, f);
    fclose(f);
    uint8_t der[200];
    der[0] = 0x30;
    der[1] = (uint8_t)sl;
    memcpy(der + 2, sig, sl);
    snprintf(path, sizeof path, "%s/sig.der", dir);
    f = fopen(path, "wb");
    fwrite(der, 1, sl + 2, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/dg.bin", dir);
    f = fopen(path, "wb");
    fwrite(dg, 1, 32, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s/pub.pem -in %s/dg.bin -sigfile %s/sig.der "
             ">/dev/null 2>&1",
             dir, dir, dir);
    int ok = system(cmd);
    dg[0] ^= 1; /* and a wrong digest must fail */
    f = fopen(path, "wb");
    fwrite(dg, 1, 32, f);
    fclose(f);
    int bad = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ok, 0);
    assert_int_not_equal(bad, 0);
    mbedtls_x509_crt_free(&crt);
    sim_app_close(app);
}

static void genkey_sign_verify_every_curve(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(12);
    static const struct {
        uint8_t algo;
        mbedtls_ecp_group_id gid;
        size_t field;
    } curves[] = {
        {0x03, MBEDTLS_ECP_DP_SECP256R1, 32}, {0x04, MBEDTLS_ECP_DP_SECP384R1, 48},
        {0x05, MBEDTLS_ECP_DP_SECP521R1, 66}, {0x13, MBEDTLS_ECP_DP_BP256R1, 32},
        {0x15, MBEDTLS_ECP_DP_BP384R1, 48},   {0x16, MBEDTLS_ECP_DP_BP512R1, 64},
    };
    for (size_t c = 0; c < sizeof curves / sizeof curves[0]; c++) {
        for (int target = 0; target < 2; target++) { /* key slot, then session */
            uint8_t rsp[SIM_APDU_MAX], a[64], sig[160], dg[64];
            uint16_t oid = target ? 0xE102 : 0xE0F3;
            uint8_t d[] = {0x01, 0x00, 0x02, (uint8_t)(oid >> 8), (uint8_t)oid, 0x02,
                           0x00, 0x01, 0x10};
            size_t al = apdu_build(a, 0xB8, curves[c].algo, d, sizeof d);
            size_t n = sa_ok_bin(app, a, al, rsp);
            /* 02 LL BIT STRING(00 04 X Y) */
            size_t pl = 1 + 2 * curves[c].field;
            const uint8_t *pt = rsp + 4 + n - pl;
            assert_int_equal(pt[-1], 0x00);
            assert_int_equal(pt[0], 0x04);
            for (size_t i = 0; i < sizeof dg; i++) {
                dg[i] = (uint8_t)(i * 7 + c);
            }
            size_t dl = curves[c].field < 64 ? curves[c].field : 64;
            size_t sl = calc_sign(app, 0x11, oid, dg, dl, sig);
            assert_int_equal(
                host_verify_ecdsa(curves[c].gid, pt, pl, dg, dl, sig, sl, curves[c].field), 0);
            /* VerifySign on the chip with the same public key as host key */
            uint8_t vd[600];
            size_t vn = tlv(vd, 0x01, dg, dl);
            vn += tlv(vd + vn, 0x02, sig, sl);
            vn += tlv(vd + vn, 0x05, &curves[c].algo, 1);
            vn += tlv(vd + vn, 0x06, pt - 1 - (pl + 1 > 127 ? 3 : 2),
                      pl + 1 + (pl + 1 > 127 ? 3 : 2));
            uint8_t va[700];
            al = apdu_build(va, 0xB2, 0x11, vd, vn);
            assert_int_equal(sa_ok_bin(app, va, al, rsp), 0);
            vd[3] ^= 0x01; /* digest changed -> signature failure 0x2C */
            al = apdu_build(va, 0xB2, 0x11, vd, vn);
            sa_err_bin(app, va, al, 0x2C);
        }
    }
    sim_app_close(app);
}

static void ecdh_export_and_session_match_host(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(13);
    uint8_t rsp[SIM_APDU_MAX], a[300];
    size_t n = sa_ok(app, "B8 03 00 09 01 00 02 E0 F2 02 00 01 20", rsp);
    uint8_t chip_pub[65];
    memcpy(chip_pub, rsp + 4 + n - 65, 65);
    /* host key pair */
    mbedtls_ecp_group grp;
    mbedtls_ecp_point hq, cq;
    mbedtls_mpi hd, z;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&hq);
    mbedtls_ecp_point_init(&cq);
    mbedtls_mpi_init(&hd);
    mbedtls_mpi_init(&z);
    assert_int_equal(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1), 0);
    assert_int_equal(mbedtls_ecp_gen_keypair(&grp, &hd, &hq, host_rng, NULL), 0);
    uint8_t hp[65];
    size_t hpl;
    assert_int_equal(
        mbedtls_ecp_point_write_binary(&grp, &hq, MBEDTLS_ECP_PF_UNCOMPRESSED, &hpl, hp, 65), 0);
    assert_int_equal(mbedtls_ecp_point_read_binary(&grp, &cq, chip_pub, 65), 0);
    assert_int_equal(mbedtls_ecdh_compute_shared(&grp, &z, &cq, &hd, host_rng, NULL), 0);
    uint8_t want[32];
    mbedtls_mpi_write_binary(&z, want, 32);
    uint8_t d[200];
    size_t dn = (size_t)tma_test_hex("01 00 02 E0 F2 05 00 01 03 06 00 44 03 42 00", d, sizeof d);
    memcpy(d + dn, hp, 65);
    dn += 65;
    size_t base = dn;
    d[dn++] = 0x07, d[dn++] = 0, d[dn++] = 0;
    size_t al = apdu_build(a, 0xB3, 0x01, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 32);
    assert_int_equal(tma_test_memcmp("ecdh", rsp + 4, 32, want, 32), 0);
    /* into session E103, then TLS PRF from it; compare with host PRF */
    dn = base;
    d[dn++] = 0x08, d[dn++] = 0, d[dn++] = 2, d[dn++] = 0xE1, d[dn++] = 0x03;
    al = apdu_build(a, 0xB3, 0x01, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
    uint8_t seed[45];
    memcpy(seed, "key expansion", 13);
    for (int i = 0; i < 32; i++) {
        seed[13 + i] = (uint8_t)i;
    }
    dn = (size_t)tma_test_hex("01 00 02 E1 03 03 00 02 00 30", d, sizeof d);
    dn += tlv(d + dn, 0x02, seed, sizeof seed);
    d[dn++] = 0x07, d[dn++] = 0, d[dn++] = 0;
    al = apdu_build(a, 0xB4, 0x01, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 48);
    /* host TLS 1.2 PRF (P_SHA256) */
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t A[32], blk[32], out[64], buf[32 + sizeof seed];
    mbedtls_md_hmac(md, want, 32, seed, sizeof seed, A);
    for (int k = 0; k < 2; k++) {
        memcpy(buf, A, 32);
        memcpy(buf + 32, seed, sizeof seed);
        mbedtls_md_hmac(md, want, 32, buf, sizeof buf, blk);
        memcpy(out + 32 * k, blk, 32);
        mbedtls_md_hmac(md, want, 32, A, 32, A);
    }
    assert_int_equal(tma_test_memcmp("prf", rsp + 4, 48, out, 48), 0);
    /* a session that holds no secret cannot be used */
    sa_err(app,
           "B4 01 00 3D 01 00 02 E1 01 03 00 02 00 30 02 00 2D 6B 65 79 20 65 78 70 61 6E 73 69 6F "
           "6E 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B "
           "1C 1D 1E 1F 07 00 00",
           0x0B);
    mbedtls_mpi_free(&hd);
    mbedtls_mpi_free(&z);
    mbedtls_ecp_point_free(&hq);
    mbedtls_ecp_point_free(&cq);
    mbedtls_ecp_group_free(&grp);
    sim_app_close(app);
}

static void rsa_sign_encrypt_decrypt(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(14);
    uint8_t rsp[SIM_APDU_MAX], a[600], d[600];
    size_t n = sa_ok(app, "B8 41 00 09 01 00 02 E0 FC 02 00 01 12", rsp);
    /* 02 00 90 | 03 81 8D 00 30 81 89 02 81 81 00 <n> 02 03 01 00 01 */
    assert_int_equal(n, 3 + 0x90);
    static const uint8_t hdr[] = {0x02, 0x00, 0x90, 0x03, 0x81, 0x8D, 0x00,
                                  0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00};
    assert_int_equal(tma_test_memcmp("rsa pub hdr", rsp + 4, sizeof hdr, hdr, sizeof hdr), 0);
    uint8_t bitstring[0x90];
    memcpy(bitstring, rsp + 4 + 3, 0x90);
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    uint8_t e[3] = {1, 0, 1};
    assert_int_equal(
        mbedtls_rsa_import_raw(&rsa, rsp + 4 + sizeof hdr, 128, NULL, 0, NULL, 0, NULL, 0, e, 3),
        0);
    assert_int_equal(mbedtls_rsa_complete(&rsa), 0);
    uint8_t dg[32], sig[300];
    tma_test_hex(DIGEST_ABC, dg, sizeof dg);
    size_t sl = calc_sign(app, 0x01, 0xE0FC, dg, 32, sig);
    assert_int_equal(sl, 128);
    assert_int_equal(mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC,
                                              MBEDTLS_MD_SHA256, 32, dg, sig),
                     0);
    /* wrong digest length for RSA SHA-256 */
    sa_err(app,
           "B1 01 00 18 01 00 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 03 00 02 E0 FC",
           0x05);
    /* host encrypts to the chip key, chip decrypts */
    uint8_t msg[40], ct[128];
    for (int i = 0; i < 40; i++) {
        msg[i] = (uint8_t)(0x55 ^ i);
    }
    assert_int_equal(
        mbedtls_rsa_pkcs1_encrypt(&rsa, host_rng, NULL, MBEDTLS_RSA_PUBLIC, 40, msg, ct), 0);
    size_t dn = tlv(d, 0x61, ct, 128);
    dn += (size_t)tma_test_hex("03 00 02 E0 FC", d + dn, 8);
    size_t al = apdu_build(a, 0x9F, 0x11, d, dn);
    n = sa_ok_bin(app, a, al, rsp);
    assert_int_equal(n, 43);
    assert_int_equal(tma_test_memcmp("rsa dec", rsp + 7, 40, msg, 40), 0);
    /* a corrupted ciphertext is a decryption failure */
    d[3 + 5] ^= 0x40;
    al = apdu_build(a, 0x9F, 0x11, d, dn);
    sa_err_bin(app, a, al, 0x2E);
    /* chip encrypts with the public key given as TLV, chip decrypts */
    dn = tlv(d, 0x61, msg, 40);
    dn += (size_t)tma_test_hex("05 00 01 41", d + dn, 8);
    dn += tlv(d + dn, 0x06, bitstring + 0, 0x90);
    al = apdu_build(a, 0x9E, 0x11, d, dn);
    n = sa_ok_bin(app, a, al, rsp);
    assert_int_equal(n, 3 + 128);
    uint8_t pt[128];
    size_t pl = 0;
    /* host cannot decrypt (no private key): feed it back to the chip */
    dn = tlv(d, 0x61, rsp + 7, 128);
    dn += (size_t)tma_test_hex("03 00 02 E0 FC", d + dn, 8);
    al = apdu_build(a, 0x9F, 0x11, d, dn);
    n = sa_ok_bin(app, a, al, rsp);
    memcpy(pt, rsp + 7, n - 3);
    pl = n - 3;
    assert_int_equal(tma_test_memcmp("rsa roundtrip", pt, pl, msg, 40), 0);
    /* VerifySign RSA with the chip key as host key */
    dn = tlv(d, 0x01, dg, 32);
    dn += tlv(d + dn, 0x02, sig, 128);
    dn += (size_t)tma_test_hex("05 00 01 41", d + dn, 8);
    dn += tlv(d + dn, 0x06, bitstring, 0x90);
    al = apdu_build(a, 0xB2, 0x01, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
    mbedtls_rsa_free(&rsa);
    sim_app_close(app);
}

static void rsa2048_keygen_encoding(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(15);
    uint8_t rsp[SIM_APDU_MAX];
    size_t n = sa_ok(app, "B8 42 00 09 01 00 02 E0 FD 02 00 01 10", rsp);
    static const uint8_t hdr[] = {0x02, 0x01, 0x13, 0x03, 0x82, 0x01, 0x0F, 0x00, 0x30,
                                  0x82, 0x01, 0x0A, 0x02, 0x82, 0x01, 0x01, 0x00};
    assert_int_equal(n, 3 + 0x113);
    assert_int_equal(tma_test_memcmp("rsa2048 hdr", rsp + 4, sizeof hdr, hdr, sizeof hdr), 0);
    static const uint8_t tail[] = {0x02, 0x03, 0x01, 0x00, 0x01};
    assert_int_equal(tma_test_memcmp("exp", rsp + 4 + n - 5, 5, tail, 5), 0);
    uint8_t dg[32], sig[300];
    tma_test_hex(DIGEST_ABC, dg, sizeof dg);
    assert_int_equal(calc_sign(app, 0x01, 0xE0FD, dg, 32, sig), 256);
    sim_app_close(app);
}

static void verify_with_certificate_object(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(16);
    uint8_t rsp[SIM_APDU_MAX], a[SIM_APDU_MAX], dg[32], sig[160], d[300];
    size_t n = sa_ok(app, "81 00 00 06 E0 E0 00 00 06 11", rsp);
    /* store the bare device certificate as trust anchor E0E8 */
    uint8_t w[700] = {0xE0, 0xE8, 0x00, 0x00};
    memcpy(w + 4, rsp + 4 + 9, n - 9);
    size_t al = apdu_build(a, 0x82, 0x40, w, 4 + n - 9);
    sa_ok_bin(app, a, al, rsp);
    tma_test_hex(DIGEST_ABC, dg, sizeof dg);
    size_t sl = calc_sign(app, 0x11, 0xE0F0, dg, 32, sig);
    size_t dn = tlv(d, 0x01, dg, 32);
    dn += tlv(d + dn, 0x02, sig, sl);
    dn += (size_t)tma_test_hex("04 00 02 E0 E8", d + dn, 8);
    al = apdu_build(a, 0xB2, 0x11, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
    sig[5] ^= 1;
    dn = tlv(d, 0x01, dg, 32);
    dn += tlv(d + dn, 0x02, sig, sl);
    dn += (size_t)tma_test_hex("04 00 02 E0 E8", d + dn, 8);
    al = apdu_build(a, 0xB2, 0x11, d, dn);
    sa_err_bin(app, a, al, 0x2C);
    /* E0E0 itself is in the 0xC0 wrapper: not a single DER certificate */
    dn = tlv(d, 0x01, dg, 32);
    dn += tlv(d + dn, 0x02, sig, sl);
    dn += (size_t)tma_test_hex("04 00 02 E0 E0", d + dn, 8);
    al = apdu_build(a, 0xB2, 0x11, d, dn);
    sa_err_bin(app, a, al, 0x29);
    sim_app_close(app);
}

static void aes_modes_roundtrip_and_agree(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(17);
    uint8_t rsp[SIM_APDU_MAX], ct[64], ct2[64];
    /* no key yet */
    sa_err(app, "94 08 00 15 E2 00 01 00 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F", 0x0B);
    sa_ok(app, "B9 81 00 09 01 00 02 E2 00 02 00 01 02", rsp);
    const char *pt = "00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 "
                     "19 1A 1B 1C 1D 1E 1F";
    char buf[512];
    snprintf(buf, sizeof buf, "94 08 00 25 E2 00 01 00 20 %s", pt);
    assert_int_equal(sa_ok(app, buf, rsp), 35);
    memcpy(ct, rsp + 7, 32);
    /* streamed ECB gives the same bytes */
    assert_int_equal(
        sa_ok(app, "94 08 00 15 E2 00 00 00 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F",
              rsp),
        19);
    memcpy(ct2, rsp + 7, 16);
    assert_int_equal(
        sa_ok(app, "94 08 00 15 E2 00 03 00 10 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F",
              rsp),
        19);
    memcpy(ct2 + 16, rsp + 7, 16);
    assert_int_equal(tma_test_memcmp("ecb stream", ct2, 32, ct, 32), 0);
    /* decrypt back */
    uint8_t a[200], d[200], want[32];
    tma_test_hex(pt, want, 32);
    d[0] = 0xE2, d[1] = 0x00;
    size_t dn = 2 + tlv(d + 2, 0x01, ct, 32);
    size_t al = apdu_build(a, 0x95, 0x08, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 35);
    assert_int_equal(tma_test_memcmp("ecb dec", rsp + 7, 32, want, 32), 0);
    /* CBC with zero IV: first block equals ECB; CBC-MAC equals last CBC block */
    snprintf(
        buf, sizeof buf,
        "94 09 00 38 E2 00 01 00 20 %s 41 00 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        pt);
    assert_int_equal(sa_ok(app, buf, rsp), 35);
    memcpy(ct2, rsp + 7, 32);
    assert_int_equal(tma_test_memcmp("cbc block 1", ct2, 16, ct, 16), 0);
    snprintf(buf, sizeof buf, "94 0A 00 25 E2 00 01 00 20 %s", pt);
    assert_int_equal(sa_ok(app, buf, rsp), 19);
    assert_int_equal(tma_test_memcmp("cbc-mac", rsp + 7, 16, ct2 + 16, 16), 0);
    /* CBC decrypt */
    d[0] = 0xE2, d[1] = 0x00;
    dn = 2 + tlv(d + 2, 0x01, ct2, 32);
    uint8_t iv[16] = {0};
    dn += tlv(d + dn, 0x41, iv, 16);
    al = apdu_build(a, 0x95, 0x09, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 35);
    assert_int_equal(tma_test_memcmp("cbc dec", rsp + 7, 32, want, 32), 0);
    /* CMAC gives a 16-byte tag; not block-aligned input allowed */
    assert_int_equal(sa_ok(app, "94 0B 00 08 E2 00 01 00 03 61 62 63", rsp), 19);
    /* ECB needs whole blocks; continue without start is out of sequence */
    sa_err(app, "94 08 00 08 E2 00 01 00 03 61 62 63", 0x05);
    sa_err(app, "94 08 00 15 E2 00 02 00 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F", 0x0B);
    /* export a generated key */
    assert_int_equal(sa_ok(app, "B9 83 00 03 07 00 00", rsp), 35);
    sim_app_close(app);
}

static void hmac_verify_sets_auto_state(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(18);
    uint8_t rsp[SIM_APDU_MAX];
    /* F1D1 = AUTOREF secret, F1D2 writable only with Auto(F1D1) */
    sa_ok(app, "82 40 00 14 F1 D1 00 00 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF B0", rsp);
    sa_ok(app, "82 01 00 0C F1 D1 00 00 20 06 E8 01 31 D3 01 00", rsp);
    sa_ok(app, "82 01 00 0B F1 D2 00 00 20 05 D0 03 23 F1 D1", rsp);
    sa_err(app, "82 00 00 05 F1 D2 00 00 55", 0x07);
    for (int round = 0; round < 3; round++) {
        /* random into session E101 (V3 TRNG into session, empty prefix) */
        size_t n = sa_ok(app, "8C 00 00 07 00 20 E1 01 41 00 00", rsp);
        assert_int_equal(n, 32);
        uint8_t m[40];
        memcpy(m, rsp + 4, 32);
        memcpy(m + 32, "arbitrar", 8);
        uint8_t mac[32];
        uint8_t key[16];
        for (int i = 0; i < 16; i++) {
            key[i] = (uint8_t)(0xA1 + i);
        }
        mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 16, m, 40, mac);
        if (round == 1) {
            mac[0] ^= 1; /* wrong MAC: authorization failure, Auto cleared */
        }
        uint8_t d[200], a[220];
        d[0] = 0xF1, d[1] = 0xD1;
        uint8_t body[42] = {0xE1, 0x01};
        memcpy(body + 2, m, 40);
        size_t dn = 2 + tlv(d + 2, 0x01, body, 42);
        dn += tlv(d + dn, 0x43, mac, 32);
        size_t al = apdu_build(a, 0x95, 0x20, d, dn);
        if (round == 1) {
            sa_err_bin(app, a, al, 0x2F);
            sa_err(app, "82 00 00 05 F1 D2 00 00 55", 0x07);
            /* the random was single-use: replaying the right MAC fails too */
            mac[0] ^= 1;
            dn = 2 + tlv(d + 2, 0x01, body, 42);
            dn += tlv(d + dn, 0x43, mac, 32);
            al = apdu_build(a, 0x95, 0x20, d, dn);
            sa_err_bin(app, a, al, 0x2F);
        } else {
            assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
            sa_ok(app, "82 00 00 05 F1 D2 00 00 55", rsp);
        }
    }
    /* clear auto state request */
    sa_err(app, "95 20 00 08 F1 D1 01 00 00 43 00 00", 0x05);
    sa_err(app, "82 00 00 05 F1 D2 00 00 55", 0x07);
    sim_app_close(app);
}

/* HMAC verification (DecryptSym 0x20) against the AUTOREF secret key (16 B) in F1D1 over
 * a fresh random in session E101: data E101 || random || "arbitrar", 43 = the HMAC.
 * The APDU goes to a (220 B); returns its length. */
static size_t autoref_verify_apdu(struct sim_app *app, const uint8_t *key, uint8_t *a)
{
    uint8_t rsp[SIM_APDU_MAX], body[42] = {0xE1, 0x01}, mac[32], d[200];
    size_t n = sa_ok(app, "8C 00 00 07 00 20 E1 01 41 00 00", rsp);
    assert_int_equal(n, 32);
    memcpy(body + 2, rsp + 4, 32);
    memcpy(body + 34, "arbitrar", 8);
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 16, body + 2, 40, mac);
    d[0] = 0xF1, d[1] = 0xD1;
    size_t dn = 2 + tlv(d + 2, 0x01, body, 42);
    dn += tlv(d + dn, 0x43, mac, 32);
    return apdu_build(a, 0x95, 0x20, d, dn);
}

/* Infineon's host library (optiga_cmd.c at 03a3ebe, optiga_crypt_clear_auto_state) sends
 * the clear request as an HMAC verification with only the session OID as data and no
 * verification value: KeyOID, 01 00 02 <session OID>. It reports success whatever the chip
 * answers, so the chip has to clear the Auto state on it (a verification that cannot
 * succeed is a failed one). The session random named in it is used up, as on any failure. */
static void clear_auto_state_library_form(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(18);
    uint8_t rsp[SIM_APDU_MAX], a[220];
    uint8_t key[16];
    for (int i = 0; i < 16; i++) {
        key[i] = (uint8_t)(0xA1 + i);
    }
    sa_ok(app, "82 40 00 14 F1 D1 00 00 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF B0", rsp);
    sa_ok(app, "82 01 00 0C F1 D1 00 00 20 06 E8 01 31 D3 01 00", rsp);
    sa_ok(app, "82 01 00 0B F1 D2 00 00 20 05 D0 03 23 F1 D1", rsp);
    static const char *const clear[] = {"95 20 00 07 F1 D1 01 00 02 00 00",
                                        "95 20 00 07 F1 D1 01 00 02 E1 01"};
    for (int form = 0; form < 2; form++) {
        size_t al = autoref_verify_apdu(app, key, a);
        assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
        sa_ok(app, "82 00 00 05 F1 D2 00 00 55", rsp);
        /* the library's clear request: refused, and the Auto state is gone */
        sa_err(app, clear[form], 0x03);
        sa_err(app, "82 00 00 05 F1 D2 00 00 55", 0x07);
    }
    /* a random stored in E101 is used up by a clear request that names E101 */
    size_t al = autoref_verify_apdu(app, key, a);
    sa_err(app, clear[1], 0x03);
    sa_err_bin(app, a, al, 0x2F);
    sim_app_close(app);
}

static void security_monitor_throttles(void **state)
{
    (void)state;
    sa_set_time(50000000);
    struct sim_app *app = sa_open_ready(19);
    uint8_t rsp[SIM_APDU_MAX], a[64];
    size_t al =
        (size_t)tma_test_hex("B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 "
                             "B0 03 61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F0",
                             a, sizeof a);
    uint32_t busy = 0;
    /* events faster than one per t_max raise SEC; no delay below 128 */
    for (int i = 0; i < 127; i++) {
        sa_set_time(50000000);
        sa_exec(app, a, al, rsp, &busy);
        assert_int_equal(rsp[0], 0);
        assert_int_equal(busy, 65000);
    }
    sa_set_time(50000000);
    sa_exec(app, a, al, rsp, &busy);
    assert_int_equal(busy, 65000 + 5000000 / 128);
    sa_ok(app, "81 00 00 02 E0 C5", rsp);
    assert_int_equal(rsp[4], 128);
    sim_app_close(app);
}

static void hash_context_export_import(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(31);
    uint8_t rsp[SIM_APDU_MAX], ctx[209], a[400];
    /* start "a" with context export */
    assert_int_equal(sa_ok(app, "B0 E2 00 07 00 00 01 61 07 00 00", rsp), 3 + 209);
    assert_int_equal(rsp[4], 0x06);
    memcpy(ctx, rsp + 7, 209);
    /* another hash kills the running one */
    sa_ok(app, "B0 E2 00 06 01 00 03 78 79 7A", rsp);
    sa_err(app, "B0 E2 00 04 03 00 01 63", 0x0B);
    /* continue "b" and final "c" from the exported context */
    size_t n = (size_t)tma_test_hex("B0 E2 00 D8 02 00 01 62 06 00 D1", a, sizeof a);
    memcpy(a + n, ctx, 209);
    assert_int_equal(sa_ok_bin(app, a, n + 209, rsp), 0);
    assert_int_equal(sa_ok(app, "B0 E2 00 04 03 00 01 63", rsp), 35);
    uint8_t want[32];
    tma_test_hex(DIGEST_ABC, want, 32);
    assert_int_equal(tma_test_memcmp("sha256 abc", rsp + 7, 32, want, 32), 0);
    /* final-and-keep (05) leaves the context usable */
    sa_ok(app, "B0 E2 00 06 00 00 03 61 62 63", rsp);
    assert_int_equal(sa_ok(app, "B0 E2 00 03 05 00 00", rsp), 35);
    assert_int_equal(tma_test_memcmp("keep", rsp + 7, 32, want, 32), 0);
    assert_int_equal(sa_ok(app, "B0 E2 00 03 03 00 00", rsp), 35);
    /* a tampered context is refused */
    ctx[20] ^= 1;
    n = (size_t)tma_test_hex("B0 E2 00 D8 03 00 01 62 06 00 D1", a, sizeof a);
    memcpy(a + n, ctx, 209);
    sa_err_bin(app, a, n + 209, 0x2D);
    /* hash over part of a readable object (E0E0 bytes 9..), not over a key */
    assert_int_equal(sa_ok(app, "B0 E2 00 09 11 00 06 E0 E0 00 09 01 FA", rsp), 35);
    sa_err(app, "B0 E2 00 09 11 00 06 E0 F0 00 00 00 10", 0x07);
    sim_app_close(app);
}

static void rsa_key_exchange_with_session_premaster(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(32);
    uint8_t rsp[SIM_APDU_MAX], d[400], a[420];
    size_t n = sa_ok(app, "B8 41 00 09 01 00 02 E0 FD 02 00 01 02", rsp);
    uint8_t bs[0x90];
    memcpy(bs, rsp + 4 + 3, 0x90);
    (void)n;
    /* pre-master secret: 2-byte prefix + 46 random bytes into E100 (TLS RSA flow) */
    assert_int_equal(sa_ok(app, "8C 04 00 09 00 2E E1 00 41 00 02 03 03", rsp), 0);
    /* encrypt the session secret to the chip's own key, decrypt into E101 */
    size_t dn = (size_t)tma_test_hex("02 00 02 E1 00 05 00 01 41", d, sizeof d);
    d[dn++] = 0x06, d[dn++] = 0x00, d[dn++] = 0x90;
    memcpy(d + dn, bs, 0x90);
    dn += 0x90;
    size_t al = apdu_build(a, 0x9E, 0x11, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 3 + 128);
    dn = tlv(d, 0x61, rsp + 7, 128);
    dn += (size_t)tma_test_hex("03 00 02 E0 FD 02 00 02 E1 01", d + dn, 16);
    al = apdu_build(a, 0x9F, 0x11, d, dn);
    assert_int_equal(sa_ok_bin(app, a, al, rsp), 0);
    /* both sessions now give the same PRF output */
    uint8_t out1[48];
    n = sa_ok(app,
              "B4 01 00 18 01 00 02 E1 00 03 00 02 00 30 02 00 08 00 01 02 03 04 05 06 07 07 00 00",
              rsp);
    assert_int_equal(n, 48);
    memcpy(out1, rsp + 4, 48);
    n = sa_ok(app,
              "B4 01 00 18 01 00 02 E1 01 03 00 02 00 30 02 00 08 00 01 02 03 04 05 06 07 07 00 00",
              rsp);
    assert_int_equal(tma_test_memcmp("premaster", rsp + 4, n, out1, 48), 0);
    /* with an established shielded connection the session secret is exported
     * only over a protected command */
    static const struct sim_sec plain_in_session = {true, true, false, false};
    sa_sec = &plain_in_session;
    sa_err(app,
           "B4 01 00 18 01 00 02 E1 00 03 00 02 00 30 02 00 08 00 01 02 03 04 05 06 07 07 00 00",
           0x07);
    sa_sec = NULL;
    /* GetRandom 0x04 needs a session */
    sa_err(app, "8C 04 00 02 00 20", 0x05);
    sim_app_close(app);
}

int main(void)
{
    srand(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(factory_key_signature_verifies_with_openssl),
        cmocka_unit_test(genkey_sign_verify_every_curve),
        cmocka_unit_test(ecdh_export_and_session_match_host),
        cmocka_unit_test(rsa_sign_encrypt_decrypt),
        cmocka_unit_test(rsa2048_keygen_encoding),
        cmocka_unit_test(verify_with_certificate_object),
        cmocka_unit_test(aes_modes_roundtrip_and_agree),
        cmocka_unit_test(hmac_verify_sets_auto_state),
        cmocka_unit_test(clear_auto_state_library_form),
        cmocka_unit_test(security_monitor_throttles),
        cmocka_unit_test(hash_context_export_import),
        cmocka_unit_test(rsa_key_exchange_with_session_premaster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
