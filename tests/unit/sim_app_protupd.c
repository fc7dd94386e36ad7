#define _GNU_SOURCE /* memmem */
/* sim_app: SetObjectProtected with manifests built and signed on the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/aes.h>
#include <mbedtls/ccm.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "sim_app_util.h"
#include "tma_test.h"

static int host_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        out[i] = (unsigned char)rand();
    }
    return 0;
}

/* ---- CBOR writer ---- */
struct cb {
    uint8_t b[2048];
    size_t n;
};

static void head(struct cb *c, int major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    if (v < 24) {
        c->b[c->n++] = (uint8_t)(m | v);
    } else if (v < 0x100) {
        c->b[c->n++] = m | 24;
        c->b[c->n++] = (uint8_t)v;
    } else if (v < 0x10000) {
        c->b[c->n++] = m | 25;
        c->b[c->n++] = (uint8_t)(v >> 8);
        c->b[c->n++] = (uint8_t)v;
    } else {
        c->b[c->n++] = m | 26;
        for (int s = 24; s >= 0; s -= 8) {
            c->b[c->n++] = (uint8_t)(v >> s);
        }
    }
}

static void cint(struct cb *c, int64_t v)
{
    if (v >= 0) {
        head(c, 0, (uint64_t)v);
    } else {
        head(c, 1, (uint64_t)(-1 - v));
    }
}

static void bstr(struct cb *c, const uint8_t *p, size_t n)
{
    head(c, 2, n);
    if (n) {
        memcpy(c->b + c->n, p, n);
    }
    c->n += n;
}

static mbedtls_ecp_group grp;
static mbedtls_mpi ta_d;
static mbedtls_ecp_point ta_q;

struct update {
    int type;
    uint16_t target;
    uint16_t version;
    int add1, add2;
    const uint8_t *payload;
    size_t size;
    const uint8_t *component; /* NULL = broadcast */
    bool bad_sig;
    bool encrypted;    /* a decrypt processor, fragments AES-CCM encrypted with upd_secret */
    bool text_context; /* Sig_structure "Signature1" as a text string (RFC 8152) */
    bool rsa_sig;      /* alg -65700 (RSASSA-PKCS1-v1_5 SHA-256) with rsa_ta */
};

/* the RSA-1024 key of the RSA trust anchor (rsa_signed_manifest) */
static mbedtls_rsa_context rsa_ta;

/* The UPDATSEC secret the host encrypts with (the chip's copy is in F1D4), the
 * KDF label and seed the manifest carries */
static uint8_t upd_secret[32];
static const uint8_t upd_label[] = {'u', 'p', 'd'};
static uint8_t upd_seed[32];

/* TLS 1.2 PRF with HMAC-SHA256 (RFC 5246 5), written here from the RFC */
static void prf_sha256(const uint8_t *key, size_t kl, const uint8_t *seed, size_t sl, uint8_t *out,
                       size_t n)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t a[32], in[32 + 128], blk[32];
    assert_true(sl <= 128);
    assert_int_equal(mbedtls_md_hmac(md, key, kl, seed, sl, a), 0);
    for (size_t done = 0; done < n; done += 32) {
        memcpy(in, a, 32);
        memcpy(in + 32, seed, sl);
        assert_int_equal(mbedtls_md_hmac(md, key, kl, in, 32 + sl, blk), 0);
        memcpy(out + done, blk, n - done < 32 ? n - done : 32);
        assert_int_equal(mbedtls_md_hmac(md, key, kl, a, 32, a), 0);
    }
}

/* Encrypted fragments (spec 9.7): 600 plaintext bytes each, AES-CCM-16-64-128 with
 * key || nonce prefix = PRF(secret, label || seed), nonce = prefix || fragment number,
 * AD = version || offset || size; returns count */
static int fragments_enc(const struct update *u, uint8_t frag[][640], size_t *len)
{
    uint8_t ls[sizeof upd_label + sizeof upd_seed], kdf[27];
    memcpy(ls, upd_label, sizeof upd_label);
    memcpy(ls + sizeof upd_label, upd_seed, sizeof upd_seed);
    prf_sha256(upd_secret, sizeof upd_secret, ls, sizeof ls, kdf, sizeof kdf);
    mbedtls_ccm_context ccm;
    mbedtls_ccm_init(&ccm);
    assert_int_equal(mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, kdf, 128), 0);
    int k = 0;
    for (size_t off = 0; off < u->size; off += 600, k++) {
        size_t pl = u->size - off < 600 ? u->size - off : 600;
        uint8_t nonce[13],
            ad[8] = {(uint8_t)(u->version >> 8), (uint8_t)u->version, (uint8_t)(off >> 16),
                     (uint8_t)(off >> 8),        (uint8_t)off,        (uint8_t)(u->size >> 16),
                     (uint8_t)(u->size >> 8),    (uint8_t)u->size};
        memcpy(nonce, kdf + 16, 11);
        nonce[11] = (uint8_t)((k + 1) >> 8);
        nonce[12] = (uint8_t)(k + 1);
        assert_int_equal(mbedtls_ccm_encrypt_and_tag(&ccm, pl, nonce, 13, ad, 8, u->payload + off,
                                                     frag[k], frag[k] + pl, 8),
                         0);
        len[k] = pl + 8;
    }
    mbedtls_ccm_free(&ccm);
    for (int i = k - 2; i >= 0; i--) {
        mbedtls_sha256_ret(frag[i + 1], len[i + 1], frag[i] + 608, 0);
        len[i] = 640;
    }
    return k;
}

/* Fragments of a payload; returns count. frag[i] with len[i]. */
static int fragments(const uint8_t *p, size_t n, uint8_t frag[][640], size_t *len)
{
    int k = 0;
    while (n - 608 * (size_t)k > 640) {
        k++;
    }
    /* last fragment first, then chain backwards */
    size_t last_off = 608 * (size_t)k;
    memcpy(frag[k], p + last_off, n - last_off);
    len[k] = n - last_off;
    for (int i = k - 1; i >= 0; i--) {
        memcpy(frag[i], p + 608 * (size_t)i, 608);
        mbedtls_sha256_ret(frag[i + 1], len[i + 1], frag[i] + 608, 0);
        len[i] = 640;
    }
    return k + 1;
}

static size_t manifest(const struct update *u, const uint8_t digest[32], uint8_t *out)
{
    struct cb m = {.n = 0};
    head(&m, 4, 6);
    cint(&m, 1);
    m.b[m.n++] = 0xF6;
    m.b[m.n++] = 0xF6;
    head(&m, 4, 4);
    cint(&m, u->type);
    cint(&m, (int64_t)u->size);
    cint(&m, u->version);
    head(&m, 4, 2);
    cint(&m, u->add1);
    cint(&m, u->add2);
    head(&m, 4, 2);
    head(&m, 4, 2);
    cint(&m, -1);
    struct cb d = {.n = 0};
    head(&d, 4, 2);
    cint(&d, 41);
    bstr(&d, digest, 32);
    bstr(&m, d.b, d.n);
    if (u->encrypted) {
        /* [1, [bstr({1: 10}), [[bstr({4: h'F1D4', 1: -65720, 5: [label, seed]}), nil]], nil]] */
        head(&m, 4, 2);
        cint(&m, 1);
        head(&m, 4, 3);
        static const uint8_t alg[] = {0xA1, 0x01, 0x0A};
        bstr(&m, alg, sizeof alg);
        head(&m, 4, 1);
        head(&m, 4, 2);
        struct cb r = {.n = 0};
        head(&r, 5, 3);
        cint(&r, 4);
        static const uint8_t key_oid[2] = {0xF1, 0xD4};
        bstr(&r, key_oid, 2);
        cint(&r, 1);
        cint(&r, -65720);
        cint(&r, 5);
        head(&r, 4, 2);
        bstr(&r, upd_label, sizeof upd_label);
        bstr(&r, upd_seed, sizeof upd_seed);
        bstr(&m, r.b, r.n);
        m.b[m.n++] = 0xF6;
        m.b[m.n++] = 0xF6;
    } else {
        m.b[m.n++] = 0xF6;
    }
    head(&m, 4, 2);
    bstr(&m, u->component, u->component ? 25 : 0);
    uint8_t oid[2] = {(uint8_t)(u->target >> 8), (uint8_t)u->target};
    bstr(&m, oid, 2);
    /* COSE_Sign1 */
    static const uint8_t prot_es256[] = {0xA1, 0x01, 0x26};
    static const uint8_t prot_rsa[] = {0xA1, 0x01, 0x3A, 0x00, 0x01, 0x00, 0xA3};
    const uint8_t *prot = u->rsa_sig ? prot_rsa : prot_es256;
    size_t prot_len = u->rsa_sig ? sizeof prot_rsa : sizeof prot_es256;
    struct cb s = {.n = 0};
    /* Sig_structure to sign */
    struct cb ss = {.n = 0};
    head(&ss, 4, 4);
    head(&ss, u->text_context ? 3 : 2, 10); /* Infineon signs h'Signature1' */
    memcpy(ss.b + ss.n, "Signature1", 10);
    ss.n += 10;
    bstr(&ss, prot, prot_len);
    bstr(&ss, NULL, 0);
    bstr(&ss, m.b, m.n);
    uint8_t h[32], sig[128];
    size_t sig_len = 64;
    mbedtls_sha256_ret(ss.b, ss.n, h, 0);
    if (u->rsa_sig) {
        sig_len = 128;
        assert_int_equal(mbedtls_rsa_pkcs1_sign(&rsa_ta, host_rng, NULL, MBEDTLS_RSA_PRIVATE,
                                                MBEDTLS_MD_SHA256, 32, h, sig),
                         0);
    } else {
        mbedtls_mpi r, sv;
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&sv);
        assert_int_equal(mbedtls_ecdsa_sign(&grp, &r, &sv, &ta_d, h, 32, host_rng, NULL), 0);
        mbedtls_mpi_write_binary(&r, sig, 32);
        mbedtls_mpi_write_binary(&sv, sig + 32, 32);
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&sv);
    }
    if (u->bad_sig) {
        sig[10] ^= 1;
    }
    head(&s, 4, 4);
    bstr(&s, prot, prot_len);
    head(&s, 5, 1);
    cint(&s, 4);
    static const uint8_t ta[2] = {0xE0, 0xE8};
    bstr(&s, ta, 2);
    bstr(&s, m.b, m.n);
    bstr(&s, sig, sig_len);
    memcpy(out, s.b, s.n);
    return s.n;
}

static size_t sop(uint8_t *apdu, uint8_t tag, const uint8_t *v, size_t n)
{
    apdu[0] = 0x83;
    apdu[1] = 0x01;
    apdu[2] = (uint8_t)((n + 3) >> 8);
    apdu[3] = (uint8_t)(n + 3);
    apdu[4] = tag;
    apdu[5] = (uint8_t)(n >> 8);
    apdu[6] = (uint8_t)n;
    memcpy(apdu + 7, v, n);
    return n + 7;
}

/* Runs a whole update; returns the chip error of the first failing APDU (0 = ok).
 * corrupt: flip a byte of fragment number corrupt-1. */
static uint8_t run_update(struct sim_app *app, const struct update *u, int corrupt)
{
    static uint8_t frag[8][640];
    size_t len[8];
    int nf = u->encrypted ? fragments_enc(u, frag, len) : fragments(u->payload, u->size, frag, len);
    uint8_t digest[32], man[1024], apdu[SIM_APDU_MAX], rsp[SIM_APDU_MAX];
    mbedtls_sha256_ret(frag[0], len[0], digest, 0);
    size_t ml = manifest(u, digest, man);
    size_t al = sop(apdu, 0x30, man, ml);
    sa_exec(app, apdu, al, rsp, NULL);
    if (rsp[0] != 0) {
        return sa_last_error(app);
    }
    for (int i = 0; i < nf; i++) {
        if (corrupt == i + 1) {
            frag[i][0] ^= 0x01;
        }
        al = sop(apdu, i == nf - 1 ? 0x31 : 0x32, frag[i], len[i]);
        sa_exec(app, apdu, al, rsp, NULL);
        if (rsp[0] != 0) {
            return sa_last_error(app);
        }
    }
    return 0;
}

static struct sim_app *setup_chip(void)
{
    struct sim_app *app = sa_open_ready(41);
    uint8_t rsp[SIM_APDU_MAX];
    /* trust anchor: self-signed certificate of the host's update key in E0E8 */
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    mbedtls_ecp_keypair *kp = mbedtls_pk_ec(pk);
    assert_int_equal(mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1), 0);
    assert_int_equal(mbedtls_mpi_copy(&kp->d, &ta_d), 0);
    assert_int_equal(mbedtls_ecp_copy(&kp->Q, &ta_q), 0);
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &pk);
    mbedtls_x509write_crt_set_issuer_key(&w, &pk);
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    mbedtls_mpi_lset(&serial, 7);
    mbedtls_x509write_crt_set_serial(&w, &serial);
    mbedtls_x509write_crt_set_subject_name(&w, "CN=update signer");
    mbedtls_x509write_crt_set_issuer_name(&w, "CN=update signer");
    mbedtls_x509write_crt_set_validity(&w, "20240101000000", "20440101000000");
    uint8_t der[1024];
    int n = mbedtls_x509write_crt_der(&w, der, sizeof der, host_rng, NULL);
    assert_true(n > 0);
    uint8_t a[1200] = {0x82, 0x40, (uint8_t)((n + 4) >> 8), (uint8_t)(n + 4), 0xE0, 0xE8, 0, 0};
    memcpy(a + 8, der + sizeof der - (size_t)n, (size_t)n);
    sa_ok_bin(app, a, (size_t)n + 8, rsp);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&pk);
    return app;
}

static int group_setup(void **state)
{
    (void)state;
    srand(3);
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&ta_d);
    mbedtls_ecp_point_init(&ta_q);
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) ||
        mbedtls_ecp_gen_keypair(&grp, &ta_d, &ta_q, host_rng, NULL)) {
        return -1;
    }
    mbedtls_rsa_init(&rsa_ta, MBEDTLS_RSA_PKCS_V15, 0);
    if (mbedtls_rsa_gen_key(&rsa_ta, host_rng, NULL, 1024, 65537)) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mbedtls_ecp_group_free(&grp);
    mbedtls_mpi_free(&ta_d);
    mbedtls_ecp_point_free(&ta_q);
    mbedtls_rsa_free(&rsa_ta);
    return 0;
}

static void data_update_with_fragments(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX], payload[1300];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 13 + 1);
    }
    struct update u = {-1,   0xF1E0, 1,     0,     2,    payload, sizeof payload,
                       NULL, false,  false, false, false};
    /* without Int(E0E8) in the Change AC... it is LcsO<op, which also allows; lock
     * the object and require the trust anchor */
    sa_ok(app, "82 01 00 0E F1 E0 00 00 20 08 C0 01 07 D0 03 21 E0 E8", rsp);
    sa_err(app, "82 00 00 05 F1 E0 00 00 01", 0x07); /* plain writes are refused */
    assert_int_equal(run_update(app, &u, 0), 0);
    assert_int_equal(sa_ok(app, "81 00 00 06 F1 E0 00 00 FF FF", rsp), sizeof payload);
    assert_int_equal(tma_test_memcmp("F1E0", rsp + 4, sizeof payload, payload, sizeof payload), 0);
    size_t n = sa_ok(app, "81 01 00 02 F1 E0", rsp);
    uint8_t want_c1[] = {0xC1, 0x02, 0x00, 0x01};
    assert_non_null(memmem(rsp + 4, n, want_c1, 4));
    /* same version again: refused */
    assert_int_equal(run_update(app, &u, 0), 0x10);
    /* bad signature */
    u.version = 2;
    u.bad_sig = true;
    assert_int_equal(run_update(app, &u, 0), 0x2C);
    u.bad_sig = false;
    /* a corrupted second fragment: integrity failure, version marked invalid */
    payload[0] ^= 0xFF;
    assert_int_equal(run_update(app, &u, 2), 0x2D);
    n = sa_ok(app, "81 01 00 02 F1 E0", rsp);
    uint8_t invalid_c1[] = {0xC1, 0x02, 0x80, 0x02};
    assert_non_null(memmem(rsp + 4, n, invalid_c1, 4));
    /* only a retry of the same version is accepted now */
    u.version = 3;
    assert_int_equal(run_update(app, &u, 0), 0x10);
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0);
    sa_ok(app, "81 00 00 06 F1 E0 00 00 00 01", rsp);
    assert_int_equal(rsp[4], payload[0]);
    /* addressed to another chip */
    uint8_t other[25] = {0xCD};
    u.version = 4;
    u.component = other;
    assert_int_equal(run_update(app, &u, 0), 0x0F);
    /* addressed to this chip (first 25 bytes of its UID) */
    sa_ok(app, "81 00 00 02 E0 C2", rsp);
    uint8_t uid[25];
    memcpy(uid, rsp + 4, 25);
    u.component = uid;
    assert_int_equal(run_update(app, &u, 0), 0);
    /* the trust anchor cannot update itself; system objects are excluded */
    u.version = 5;
    u.component = NULL;
    u.target = 0xE0E8;
    assert_int_equal(run_update(app, &u, 0), 0x07);
    u.target = 0xE0C2;
    assert_int_equal(run_update(app, &u, 0), 0x07);
    sim_app_close(app);
}

static void key_updates(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX];
    /* P-256 private key into E0F2 (usage Sign) */
    sa_ok(app, "82 01 00 0B E0 F2 00 00 20 05 D0 03 21 E0 E8", rsp);
    mbedtls_mpi d;
    mbedtls_ecp_point q;
    mbedtls_mpi_init(&d);
    mbedtls_ecp_point_init(&q);
    assert_int_equal(mbedtls_ecp_gen_keypair(&grp, &d, &q, host_rng, NULL), 0);
    uint8_t kp[35] = {0x01, 0x00, 0x20};
    mbedtls_mpi_write_binary(&d, kp + 3, 32);
    struct update u = {-3, 0xE0F2, 1, 0x03, 0x10, kp, sizeof kp, NULL, false, false, false, false};
    assert_int_equal(run_update(app, &u, 0), 0);
    size_t n = sa_ok(app, "81 01 00 02 E0 F2", rsp);
    uint8_t alg[] = {0xE0, 0x01, 0x03, 0xE1, 0x01, 0x10};
    assert_non_null(memmem(rsp + 4, n, alg, sizeof alg));
    uint8_t dg[32];
    tma_test_hex("BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 7A 9C B4 10 FF "
                 "61 F2 00 15 AD",
                 dg, 32);
    n = sa_ok(app,
              "B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 "
              "17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F2",
              rsp);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    size_t rl = rsp[5];
    mbedtls_mpi_read_binary(&r, rsp + 6, rl);
    mbedtls_mpi_read_binary(&s, rsp + 8 + rl, rsp[7 + rl]);
    assert_int_equal(mbedtls_ecdsa_verify(&grp, dg, 32, &q, &r, &s), 0);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    /* an invalid scalar (zero) is refused */
    uint8_t zero[35] = {0x01, 0x00, 0x20};
    u.payload = zero;
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0x0F);
    /* a key algorithm beyond one byte (0x103) is no algorithm, not P-256 (0x03) (review
     * REV16: it was cut to its low byte and the key stored as P-256) */
    u.payload = kp;
    u.add1 = 0x103;
    assert_int_equal(run_update(app, &u, 0), 0x0F);
    u.add1 = 0x03;
    /* AES-128 key into E200, then a known-answer ECB encryption */
    sa_ok(app, "82 01 00 0B E2 00 00 00 20 05 D0 03 21 E0 E8", rsp);
    uint8_t ak[19] = {0x01, 0x00, 0x10, 0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2,
                      0xA6, 0xAB, 0xF7, 0x15, 0x88, 0x09, 0xCF, 0x4F, 0x3C};
    struct update k = {-3, 0xE200, 1, 0x81, 0x02, ak, sizeof ak, NULL, false, false, false, false};
    assert_int_equal(run_update(app, &k, 0), 0);
    /* FIPS-197 / SP 800-38A F.1.1 ECB-AES128 block 1 */
    n = sa_ok(app, "94 08 00 15 E2 00 01 00 10 6B C1 BE E2 2E 40 9F 96 E9 3D 7E 11 73 93 17 2A",
              rsp);
    uint8_t want[16];
    tma_test_hex("3A D7 7B B4 0D 7A 36 60 A8 9E CA F3 24 66 EF 97", want, 16);
    assert_int_equal(tma_test_memcmp("aes kat", rsp + 7, n - 3, want, 16), 0);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
    sim_app_close(app);
}

static void metadata_update_reopens_object(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, "82 40 00 06 F1 DA 00 00 AA BB", rsp);
    /* MUPD = Int(E0E8), reset type: zeros + LcsO back to cr; then lock */
    sa_ok(app, "82 01 00 0E F1 DA 00 00 20 08 D8 03 21 E0 E8 F0 01 11", rsp);
    sa_ok(app, "82 01 00 09 F1 DA 00 00 20 03 C0 01 07", rsp);
    sa_err(app, "82 01 00 09 F1 DA 00 00 20 03 D1 01 FF", 0x07);
    uint8_t md[] = {0x20, 0x03, 0xD1, 0x01, 0xFF};
    struct update u = {-2, 0xF1DA, 1, 0, 0, md, sizeof md, NULL, false, false, false, false};
    assert_int_equal(run_update(app, &u, 0), 0);
    size_t n = sa_ok(app, "81 01 00 02 F1 DA", rsp);
    assert_int_equal(rsp[4 + 2], 0xC0);
    assert_int_equal(rsp[4 + 4], 0x01); /* LcsO back to creation (F0 low nibble) */
    uint8_t rd[] = {0xD1, 0x01, 0xFF};
    assert_non_null(memmem(rsp + 4, n, rd, 3));
    sa_err(app, "81 00 00 02 F1 DA", 0x07); /* new read AC in force */
    /* content was flushed (used size 0) */
    uint8_t c5[] = {0xC5, 0x01, 0x00};
    assert_non_null(memmem(rsp + 4, n, c5, 3));
    /* a metadata payload may not set the version or sizes */
    uint8_t bad[] = {0x20, 0x03, 0xC5, 0x01, 0x10};
    u.payload = bad;
    u.size = sizeof bad;
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0x07);
    sim_app_close(app);
}

static void malformed_manifests_refused(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    /* non-shortest integer encoding (strict CBOR) */
    sa_err(app, "83 01 00 08 30 00 05 84 58 03 A1 01", 0x0F);
    /* indefinite-length array */
    sa_err(app, "83 01 00 05 30 00 02 9F FF", 0x0F);
    /* RSA signature algorithm (-65700), the manifest cut after its protected header */
    sa_err(app, "83 01 00 0C 30 00 09 84 47 A1 01 3A 00 01 00 A3", 0x0F);
    /* an unknown signature algorithm (-8) */
    sa_err(app, "83 01 00 08 30 00 05 84 43 A1 01 27", 0x25);
    /* wrong tag, wrong param, bad length */
    sa_err(app, "83 01 00 03 33 00 00", 0x05);
    sa_err(app, "83 02 00 03 30 00 00", 0x03);
    sa_err(app, "83 01 00 03 30 00 05", 0x04);
    sim_app_close(app);
}

/* Infineon's protected-update tool signs ["Signature1", ...] with the context as a
 * byte string (0x4A) and chips accept its data sets: the simulator verifies that
 * form and refuses the RFC 8152 text string (docs/decisions/sim-vendor-interop.md P1). */
static void signature_context_is_a_byte_string(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX], payload[100];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i ^ 0x5A);
    }
    sa_ok(app, "82 01 00 0B F1 D6 00 00 20 05 D0 03 21 E0 E8", rsp);
    struct update u = {-1,   0xF1D6, 1,     0,    2,    payload, sizeof payload,
                       NULL, false,  false, true, false};
    assert_int_equal(run_update(app, &u, 0), 0x2C);
    u.text_context = false;
    assert_int_equal(run_update(app, &u, 0), 0);
    assert_int_equal(sa_ok(app, "81 00 00 02 F1 D6", rsp), sizeof payload);
    assert_int_equal(tma_test_memcmp("F1D6", rsp + 4, sizeof payload, payload, sizeof payload), 0);
    sim_app_close(app);
}

/* Confidentiality (V3): the payload AES-CCM encrypted with a key derived from an
 * UPDATSEC secret; the target's Change AC Int(TA) && Conf(secret) is met only by
 * such a manifest. */
static void encrypted_data_update(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX], payload[1300], apdu[64];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t i = 0; i < sizeof upd_secret; i++) {
        upd_secret[i] = (uint8_t)(0xA0 + i);
        upd_seed[i] = (uint8_t)(0x30 + 3 * i);
    }
    /* the secret in F1D4: UPDATSEC, Execute ALW; written while it is still a plain object */
    apdu[0] = 0x82, apdu[1] = 0x40, apdu[2] = 0x00, apdu[3] = 4 + 32;
    apdu[4] = 0xF1, apdu[5] = 0xD4, apdu[6] = 0, apdu[7] = 0;
    memcpy(apdu + 8, upd_secret, 32);
    sa_ok_bin(app, apdu, 8 + 32, rsp);
    sa_ok(app, "82 01 00 0C F1 D4 00 00 20 06 D3 01 00 E8 01 23", rsp);
    sa_ok(app, "82 40 00 06 F1 E1 00 00 AB CD", rsp);
    sa_ok(app, "82 01 00 12 F1 E1 00 00 20 0C C0 01 07 D0 07 21 E0 E8 FD 20 F1 D4", rsp);
    /* integrity only: Conf(F1D4) not met */
    struct update u = {-1,   0xF1E1, 1,     0,     2,    payload, sizeof payload,
                       NULL, false,  false, false, false};
    assert_int_equal(run_update(app, &u, 0), 0x07);
    /* the host encrypts with another secret: the first fragment fails its tag (0x2E),
     * the object keeps its content */
    u.encrypted = true;
    upd_secret[0] ^= 0x01;
    assert_int_equal(run_update(app, &u, 0), 0x2E);
    upd_secret[0] ^= 0x01;
    assert_int_equal(sa_ok(app, "81 00 00 02 F1 E1", rsp), 2);
    assert_int_equal(rsp[4], 0xAB);
    /* the right secret: three fragments decrypted and applied */
    assert_int_equal(run_update(app, &u, 0), 0);
    assert_int_equal(sa_ok(app, "81 00 00 06 F1 E1 00 00 FF FF", rsp), sizeof payload);
    assert_int_equal(tma_test_memcmp("F1E1", rsp + 4, sizeof payload, payload, sizeof payload), 0);
    /* a secret object of another type does not decrypt updates */
    sa_ok(app, "82 01 00 09 F1 D4 00 00 20 03 E8 01 00", rsp);
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0x07);
    sim_app_close(app);
}

/* alg -65700: RSASSA-PKCS1-v1_5 SHA-256 with an RSA trust anchor (spec 9.7); the algorithm must
 * match the anchor's key (0x2A otherwise, as for any unusable certificate) */
static void rsa_signed_manifest(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX], payload[700], der[1024], a[1100];
    mbedtls_pk_context pk;
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 3 + 11);
    }
    /* the RSA anchor's self-signed certificate replaces the EC one in E0E8 */
    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    assert_int_equal(mbedtls_rsa_copy(mbedtls_pk_rsa(pk), &rsa_ta), 0);
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    mbedtls_mpi_lset(&serial, 9);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &pk);
    mbedtls_x509write_crt_set_issuer_key(&w, &pk);
    mbedtls_x509write_crt_set_serial(&w, &serial);
    mbedtls_x509write_crt_set_subject_name(&w, "CN=rsa update signer");
    mbedtls_x509write_crt_set_issuer_name(&w, "CN=rsa update signer");
    mbedtls_x509write_crt_set_validity(&w, "20240101000000", "20440101000000");
    int n = mbedtls_x509write_crt_der(&w, der, sizeof der, host_rng, NULL);
    assert_true(n > 0 && n + 8 <= (int)sizeof a);
    a[0] = 0x82, a[1] = 0x40, a[2] = (uint8_t)((n + 4) >> 8), a[3] = (uint8_t)(n + 4);
    a[4] = 0xE0, a[5] = 0xE8, a[6] = 0, a[7] = 0;
    memcpy(a + 8, der + sizeof der - (size_t)n, (size_t)n);
    sa_ok_bin(app, a, (size_t)n + 8, rsp);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&pk);

    sa_ok(app, "82 01 00 0B F1 D7 00 00 20 05 D0 03 21 E0 E8", rsp);
    struct update u = {-1, 0xF1D7, 1, 0, 2, payload, 100, NULL, false, false, false, false};
    /* an ECDSA manifest against the RSA anchor */
    assert_int_equal(run_update(app, &u, 0), 0x2A);
    u.rsa_sig = true;
    u.bad_sig = true;
    assert_int_equal(run_update(app, &u, 0), 0x2C);
    u.bad_sig = false;
    assert_int_equal(run_update(app, &u, 0), 0);
    assert_int_equal(sa_ok(app, "81 00 00 02 F1 D7", rsp), 100);
    assert_int_equal(tma_test_memcmp("F1D7", rsp + 4, 100, payload, 100), 0);
    sim_app_close(app);
}

static void rsa_key_update(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, "82 01 00 0B E0 FC 00 00 20 05 D0 03 21 E0 E8", rsp);
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    assert_int_equal(mbedtls_rsa_gen_key(&rsa, host_rng, NULL, 1024, 65537), 0);
    uint8_t p[3 + 128 + 3 + 128 + 7];
    p[0] = 0x01, p[1] = 0x00, p[2] = 0x80;
    p[131] = 0x02, p[132] = 0x00, p[133] = 0x80;
    p[262] = 0x03, p[263] = 0x00, p[264] = 0x04;
    assert_int_equal(
        mbedtls_rsa_export_raw(&rsa, p + 134, 128, NULL, 0, NULL, 0, p + 3, 128, p + 265, 4), 0);
    struct update u = {-3, 0xE0FC, 1, 0x41, 0x10, p, sizeof p, NULL, false, false, false, false};
    assert_int_equal(run_update(app, &u, 0), 0);
    uint8_t dg[32];
    tma_test_hex("BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 7A 9C B4 10 FF "
                 "61 F2 00 15 AD",
                 dg, 32);
    size_t n = sa_ok(app,
                     "B1 01 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 "
                     "61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 FC",
                     rsp);
    assert_int_equal(n, 128);
    assert_int_equal(mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC,
                                              MBEDTLS_MD_SHA256, 32, dg, rsp + 4),
                     0);
    /* an inconsistent key (d changed) is refused */
    p[10] ^= 0x01;
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0x0F);
    mbedtls_rsa_free(&rsa);
    sim_app_close(app);
}

/* A sequence cut by a reset (review REV16): the chip keeps no volatile state over
 * it, so the next fragment is out of sequence (0x0B); the object, rewritten in
 * part, keeps its version marked invalid, and only that version is accepted
 * again (spec 5.3). An encrypted final fragment holding only its 8-byte tag is
 * refused (0x04, nothing to decrypt) and ends the sequence. */
static void sequence_cut_by_reset(void **state)
{
    (void)state;
    struct sim_app *app = setup_chip();
    static uint8_t frag[8][640];
    size_t len[8];
    uint8_t rsp[SIM_APDU_MAX], apdu[SIM_APDU_MAX], payload[1300], digest[32], man[1024];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i * 5 + 2);
    }
    sa_ok(app, "82 40 00 06 F1 E1 00 00 11 22", rsp);
    sa_ok(app, "82 01 00 0B F1 E1 00 00 20 05 D0 03 21 E0 E8", rsp);
    struct update u = {-1,   0xF1E1, 1,     0,     2,    payload, sizeof payload,
                       NULL, false,  false, false, false};
    assert_int_equal(fragments(payload, sizeof payload, frag, len), 3);
    mbedtls_sha256_ret(frag[0], len[0], digest, 0);
    size_t ml = manifest(&u, digest, man);
    sa_ok_bin(app, apdu, sop(apdu, 0x30, man, ml), rsp);
    sa_ok_bin(app, apdu, sop(apdu, 0x32, frag[0], len[0]), rsp);
    sim_app_reset(app, false);
    sa_ok(app, "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C", rsp);
    sa_err_bin(app, apdu, sop(apdu, 0x32, frag[1], len[1]), 0x0B);
    size_t n = sa_ok(app, "81 01 00 02 F1 E1", rsp);
    uint8_t invalid_c1[] = {0xC1, 0x02, 0x80, 0x01};
    assert_non_null(memmem(rsp + 4, n, invalid_c1, 4));
    u.version = 2;
    assert_int_equal(run_update(app, &u, 0), 0x10);
    u.version = 1;
    assert_int_equal(run_update(app, &u, 0), 0);
    assert_int_equal(sa_ok(app, "81 00 00 06 F1 E1 00 00 FF FF", rsp), sizeof payload);
    assert_int_equal(tma_test_memcmp("F1E1", rsp + 4, sizeof payload, payload, sizeof payload), 0);

    /* encrypted, the final fragment only a tag: signed over its digest, refused 0x04 */
    for (size_t i = 0; i < sizeof upd_secret; i++) {
        upd_secret[i] = (uint8_t)(0x11 * i);
        upd_seed[i] = (uint8_t)(0x40 + i);
    }
    apdu[0] = 0x82, apdu[1] = 0x40, apdu[2] = 0x00, apdu[3] = 4 + 32;
    apdu[4] = 0xF1, apdu[5] = 0xD4, apdu[6] = 0, apdu[7] = 0;
    memcpy(apdu + 8, upd_secret, 32);
    sa_ok_bin(app, apdu, 8 + 32, rsp);
    sa_ok(app, "82 01 00 0C F1 D4 00 00 20 06 D3 01 00 E8 01 23", rsp);
    uint8_t tag_only[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    u.version = 2;
    u.size = 1;
    u.encrypted = true;
    mbedtls_sha256_ret(tag_only, sizeof tag_only, digest, 0);
    ml = manifest(&u, digest, man);
    sa_ok_bin(app, apdu, sop(apdu, 0x30, man, ml), rsp);
    sa_err_bin(app, apdu, sop(apdu, 0x31, tag_only, sizeof tag_only), 0x04);
    sa_err_bin(app, apdu, sop(apdu, 0x31, tag_only, sizeof tag_only), 0x0B);
    assert_int_equal(sa_ok(app, "81 00 00 06 F1 E1 00 00 FF FF", rsp), sizeof payload);
    sim_app_close(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_update_with_fragments),
        cmocka_unit_test(key_updates),
        cmocka_unit_test(metadata_update_reopens_object),
        cmocka_unit_test(malformed_manifests_refused),
        cmocka_unit_test(signature_context_is_a_byte_string),
        cmocka_unit_test(encrypted_data_update),
        cmocka_unit_test(rsa_key_update),
        cmocka_unit_test(rsa_signed_manifest),
        cmocka_unit_test(sequence_cut_by_reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
