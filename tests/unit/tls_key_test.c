#define _POSIX_C_SOURCE 200809L
/* Unit tests of the TLS binding's key half: signature normalisation, the
 * delegated pk (sign/verify through mbedTLS), public-key forms, certificate
 * input formats, key/certificate matching and the entropy source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tls_soft_signer.h"
#include "tma/tls.h"
#include "tma_test.h"

/* ---- helpers ------------------------------------------------------------ */

static unsigned char *slurp_vector(const char *name, size_t *len)
{
    char rel[256];
    unsigned char *buf;
    snprintf(rel, sizeof(rel), "tests/vectors/tls/%s", name);
    buf = tma_test_read_source_file(rel, len);
    assert_non_null(buf);
    return buf;
}

static void load_soft(struct soft_signer *s, const char *name)
{
    size_t len;
    unsigned char *pem = slurp_vector(name, &len);
    assert_int_equal(soft_signer_load_buf(s, pem, len + 1), 0);
    free(pem);
}

static tma_status expect_der(const char *in_hex, size_t kb, const char *want_hex)
{
    uint8_t in[300], want[300], out[TMA_TLS_MAX_SIG_DER];
    long il = tma_test_hex(in_hex, in, sizeof(in));
    size_t n = 0;
    struct tma_span s;
    tma_status st;
    assert_true(il >= 0);
    s.ptr = in;
    s.len = (size_t)il;
    st = tma_tls_sig_to_der(s, kb, out, sizeof(out), &n);
    if (want_hex != NULL) {
        long wl = tma_test_hex(want_hex, want, sizeof(want));
        assert_int_equal(st, TMA_OK);
        assert_int_equal(tma_test_memcmp("der", out, n, want, (size_t)wl), 0);
    }
    return st;
}

#define R32 "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
#define H32 "8102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"

/* ---- signature normalisation -------------------------------------------- */

static void sig_to_der_wraps_chip_integers(void **state)
{
    (void)state;
    /* Chip form: r with 0x00 pad (top bit set), s plain -> SEQUENCE. */
    expect_der("0221 00" H32 " 0220" R32, 32, "3045 0221 00" H32 " 0220" R32);
}

static void sig_to_der_strips_non_minimal_zero(void **state)
{
    (void)state;
    /* 02 20 00 7F..: the chip does not shorten a component with top byte 0. */
    expect_der("0220 007f" "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
               " 0201 05",
               32,
               "3024 021f 7f0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
               " 0201 05");
    /* Two leading zeros in front of a top-bit byte: one must stay. */
    expect_der("0203 000080 0201 01", 32, "3007 0202 0080 0201 01");
}

static void sig_to_der_accepts_sequence(void **state)
{
    (void)state;
    expect_der("3006 0201 01 0201 02", 48, "3006 0201 01 0201 02");
}

static void sig_to_der_rejects_bad_input(void **state)
{
    const tma_status bad = TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED);
    (void)state;
    assert_int_equal(expect_der("", 32, NULL), bad);
    assert_int_equal(expect_der("0201 01", 32, NULL), bad);               /* one integer */
    assert_int_equal(expect_der("0201 81 0201 01", 32, NULL), bad);       /* negative */
    assert_int_equal(expect_der("0201 00 0201 01", 32, NULL), bad);       /* zero */
    assert_int_equal(expect_der("0201 01 0201 01 00", 32, NULL), bad);    /* trailing */
    assert_int_equal(expect_der("0205 01 0201 01", 32, NULL), bad);       /* truncated */
    assert_int_equal(expect_der("0401 01 0201 01", 32, NULL), bad);       /* not INTEGER */
    assert_int_equal(expect_der("3007 0201 01 0201 01", 32, NULL), bad);  /* SEQ length */
    assert_int_equal(expect_der("0221 01" R32 " 0201 01", 32, NULL), bad); /* 33 bytes > P-256 */
    assert_int_equal(expect_der("0200 0201 01", 32, NULL), bad);          /* empty */
    assert_int_equal(expect_der("0284 00000001 01 0201 01", 32, NULL), bad);
}

static void sig_to_der_respects_output_size(void **state)
{
    uint8_t in[80], out[72];
    long il = tma_test_hex("0221 00" H32 " 0221 00" H32, in, sizeof(in));
    size_t n = 0;
    struct tma_span s = {in, (size_t)il};
    (void)state;
    /* Largest P-256 signature: 72 bytes exactly fits. */
    assert_int_equal(tma_tls_sig_to_der(s, 32, out, 72, &n), TMA_OK);
    assert_int_equal(n, 72);
    n = 0;
    assert_int_equal(tma_tls_sig_to_der(s, 32, out, 71, &n),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_TOO_SMALL));
    assert_int_equal(n, 72); /* the size needed */
    assert_int_equal(tma_tls_sig_to_der(s, 32, NULL, 72, &n),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
}

/* ---- delegated key -------------------------------------------------------- */

struct bound {
    struct soft_signer soft;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
};

static void bind_soft(struct bound *b, const char *keyfile)
{
    struct tma_tls_signer signer;
    struct tma_span pub;
    load_soft(&b->soft, keyfile);
    signer.ctx = &b->soft;
    signer.sign = soft_signer_sign;
    pub.ptr = b->soft.pub;
    pub.len = b->soft.pub_len;
    mbedtls_pk_init(&b->pk);
    assert_int_equal(tma_tls_key_bind(&b->key, &b->pk, b->soft.group, pub, &signer), TMA_OK);
}

static void unbind(struct bound *b)
{
    mbedtls_pk_free(&b->pk);
    soft_signer_free(&b->soft);
}

static int rng_cb(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    memset(out, 0x5a, len);
    return 0;
}

static void pk_sign_goes_through_signer_and_verifies(void **state)
{
    struct bound b;
    uint8_t hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len;
    unsigned i;
    (void)state;
    bind_soft(&b, "dev-key.pem");
    assert_int_equal(mbedtls_pk_get_type(&b.pk), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_pk_get_bitlen(&b.pk), 256);
    assert_true(mbedtls_pk_can_do(&b.pk, MBEDTLS_PK_ECDSA));
    assert_false(mbedtls_pk_can_do(&b.pk, MBEDTLS_PK_RSA));
    /* Many signatures, so components with leading zero bytes occur and get
     * re-encoded; every one must verify against the software key. */
    for (i = 0; i < 300; i++) {
        memset(hash, (int)i, sizeof(hash));
        hash[0] = (uint8_t)(i >> 8);
        memset(sig, 0xEE, sizeof(sig));
        assert_int_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len,
                                         rng_cb, NULL), 0);
        assert_true(sig_len <= MBEDTLS_ECDSA_MAX_SIG_LEN(256));
        assert_int_equal(sig[MBEDTLS_ECDSA_MAX_SIG_LEN(256)], 0xEE); /* nothing beyond 72 */
        assert_int_equal(mbedtls_pk_verify(&b.soft.priv, MBEDTLS_MD_SHA256, hash, 32, sig,
                                           sig_len), 0);
        /* and through the binding's own verify */
        assert_int_equal(mbedtls_pk_verify(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len), 0);
    }
    assert_int_equal(b.key.sign_count, 300);
    assert_int_equal(b.soft.calls, 300);
    unbind(&b);
}

static void sha384_hash_is_truncated_for_p256(void **state)
{
    struct bound b;
    uint8_t hash[48], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len;
    (void)state;
    bind_soft(&b, "dev-key.pem");
    memset(hash, 0xA5, sizeof(hash));
    hash[40] = 1;
    assert_int_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA384, hash, 48, sig, &sig_len, rng_cb,
                                     NULL), 0);
    assert_int_equal(b.soft.last_hash_len, 32);
    /* ECDSA semantics: the signature is over the leftmost 32 bytes. */
    assert_int_equal(mbedtls_ecdsa_read_signature(mbedtls_pk_ec(b.soft.priv), hash, 32, sig,
                                                  sig_len), 0);
    unbind(&b);
}

static void short_hash_and_signer_failure_are_errors(void **state)
{
    struct bound b;
    uint8_t hash[32] = {1}, sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len = 99;
    (void)state;
    bind_soft(&b, "dev-key.pem");
    assert_int_not_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_NONE, hash, 9, sig, &sig_len, rng_cb,
                                         NULL), 0);
    assert_int_equal(b.soft.calls, 0); /* never reached the chip */
    b.soft.fail = 1;
    assert_int_not_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len,
                                         rng_cb, NULL), 0);
    assert_int_equal(sig_len, 0);
    assert_int_equal(b.key.last_signer_status, TMA_ERR(TMA_LAYER_CHIP, 0x07));
    unbind(&b);
}

static tma_status garbage_signer(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                                 size_t out_size, size_t *out_len)
{
    (void)ctx;
    (void)hash;
    (void)hash_len;
    assert_true(out_size >= 8);
    memcpy(out, "\x02\x01\x81\x02\x01\x01", 6); /* negative r */
    *out_len = 6;
    return TMA_OK;
}

static void malformed_signer_output_is_refused(void **state)
{
    struct bound b;
    struct tma_tls_signer bad = {NULL, garbage_signer};
    uint8_t hash[32] = {2}, sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len = 5;
    struct tma_span pub;
    (void)state;
    load_soft(&b.soft, "dev-key.pem");
    pub.ptr = b.soft.pub;
    pub.len = b.soft.pub_len;
    mbedtls_pk_init(&b.pk);
    assert_int_equal(tma_tls_key_bind(&b.key, &b.pk, b.soft.group, pub, &bad), TMA_OK);
    assert_int_not_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len,
                                         rng_cb, NULL), 0);
    assert_int_equal(sig_len, 0);
    assert_int_equal(b.key.last_signer_status, TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    unbind(&b);
}

static void public_key_forms(void **state)
{
    struct soft_signer s;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
    struct tma_tls_signer signer = {NULL, soft_signer_sign};
    uint8_t buf[200];
    unsigned char spki[200];
    int spki_len;
    struct tma_span pub;
    (void)state;
    load_soft(&s, "dev-key.pem");
    signer.ctx = &s;

    /* Chip form: 03 42 00 04 X Y */
    buf[0] = 0x03;
    buf[1] = 0x42;
    buf[2] = 0x00;
    memcpy(buf + 3, s.pub, 65);
    pub.ptr = buf;
    pub.len = 68;
    mbedtls_pk_init(&pk);
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), TMA_OK);
    assert_int_equal(mbedtls_ecp_point_cmp(&mbedtls_pk_ec(pk)->Q, &mbedtls_pk_ec(s.priv)->Q), 0);
    /* Already bound: refused. */
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    mbedtls_pk_free(&pk);

    /* SubjectPublicKeyInfo */
    spki_len = mbedtls_pk_write_pubkey_der(&s.priv, spki, sizeof(spki));
    assert_true(spki_len > 0);
    pub.ptr = spki + sizeof(spki) - (size_t)spki_len;
    pub.len = (size_t)spki_len;
    mbedtls_pk_init(&pk);
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), TMA_OK);
    mbedtls_pk_free(&pk);
    /* SPKI of the wrong curve */
    mbedtls_pk_init(&pk);
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP384R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_null(pk.pk_info);

    /* Point not on the curve */
    memcpy(buf, s.pub, 65);
    buf[64] ^= 1;
    pub.ptr = buf;
    pub.len = 65;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    /* Wrong length, compressed point, unsupported curve */
    pub.len = 64;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    buf[0] = 0x02;
    pub.len = 33;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP521R1, pub, &signer),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_UNSUPPORTED));
    assert_null(pk.pk_info);
    soft_signer_free(&s);
}

/* ---- certificates ------------------------------------------------------- */

static void cert_formats_and_key_match(void **state)
{
    size_t pem_len, pem2_len, count;
    unsigned char *pem = slurp_vector("dev-cert.pem", &pem_len);
    unsigned char *pem2 = slurp_vector("other-cert.pem", &pem2_len);
    mbedtls_x509_crt a, b;
    uint8_t wrap[4096];
    size_t n1, n2, off;
    struct tma_span in;
    struct bound k;
    (void)state;

    mbedtls_x509_crt_init(&a);
    in.ptr = pem;
    in.len = pem_len; /* not NUL-terminated on purpose: len excludes it */
    assert_int_equal(tma_tls_parse_certs(&a, in, &count), TMA_OK);
    assert_int_equal(count, 1);
    n1 = a.raw.len;

    mbedtls_x509_crt_init(&b);
    in.ptr = pem2;
    in.len = pem2_len;
    assert_int_equal(tma_tls_parse_certs(&b, in, &count), TMA_OK);
    n2 = b.raw.len;

    /* TLS-identity wrapper with a chain of two */
    off = 0;
    wrap[off++] = 0xC0;
    wrap[off++] = (uint8_t)((3 + 3 + n1 + 3 + n2) >> 8);
    wrap[off++] = (uint8_t)(3 + 3 + n1 + 3 + n2);
    wrap[off++] = 0;
    wrap[off++] = (uint8_t)((3 + n1 + 3 + n2) >> 8);
    wrap[off++] = (uint8_t)(3 + n1 + 3 + n2);
    wrap[off++] = 0;
    wrap[off++] = (uint8_t)(n1 >> 8);
    wrap[off++] = (uint8_t)n1;
    memcpy(wrap + off, a.raw.p, n1);
    off += n1;
    wrap[off++] = 0;
    wrap[off++] = (uint8_t)(n2 >> 8);
    wrap[off++] = (uint8_t)n2;
    memcpy(wrap + off, b.raw.p, n2);
    off += n2;
    {
        mbedtls_x509_crt c;
        mbedtls_x509_crt_init(&c);
        in.ptr = wrap;
        in.len = off;
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        assert_int_equal(count, 2);
        mbedtls_x509_crt_free(&c);
        /* padding after the wrapper is ignored */
        wrap[off] = 0;
        in.len = off + 1;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        mbedtls_x509_crt_free(&c);
        /* inconsistent inner length */
        wrap[5] ^= 1;
        in.len = off;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
        wrap[5] ^= 1;
        /* truncated object */
        in.len = off - 10;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
        /* DER list: the two certificates back to back */
        memcpy(wrap, a.raw.p, n1);
        memcpy(wrap + n1, b.raw.p, n2);
        in.ptr = wrap;
        in.len = n1 + n2;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        assert_int_equal(count, 2);
        mbedtls_x509_crt_free(&c);
        /* PEM with the body damaged; PEM without a certificate */
        in.ptr = (const uint8_t *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        in.len = strlen((const char *)in.ptr);
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        in.ptr = (const uint8_t *)"hello";
        in.len = 5;
        assert_int_equal(tma_tls_parse_certs(&c, in, &count),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
    }

    bind_soft(&k, "dev-key.pem");
    assert_int_equal(tma_tls_key_matches_cert(&k.pk, &a), TMA_OK);
    assert_int_equal(tma_tls_key_matches_cert(&k.pk, &b),
                     TMA_ERR(TMA_LAYER_TLS, TMA_TLS_E_KEY_MISMATCH));
    unbind(&k);

    mbedtls_x509_crt_free(&a);
    mbedtls_x509_crt_free(&b);
    free(pem);
    free(pem2);
}

/* ---- entropy ---------------------------------------------------------------- */

struct fake_rng {
    unsigned calls;
    size_t max_req, min_req;
    int fail;
    uint8_t next;
};

static tma_status fake_fill(void *ctx, uint8_t *out, size_t len)
{
    struct fake_rng *r = ctx;
    size_t i;
    r->calls++;
    if (len > r->max_req) r->max_req = len;
    if (len < r->min_req) r->min_req = len;
    if (r->fail) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
    for (i = 0; i < len; i++) {
        out[i] = r->next++;
    }
    return TMA_OK;
}

static void entropy_source_chunks_and_fails_cleanly(void **state)
{
    struct fake_rng fr = {0, 0, 1000, 0, 0};
    struct tma_tls_rng rng = {&fr, fake_fill};
    uint8_t out[200];
    size_t olen = 0;
    mbedtls_entropy_context e;
    (void)state;

    assert_int_equal(tma_tls_entropy_poll(&rng, out, 3, &olen), 0);
    assert_int_equal(olen, 3);
    assert_int_equal(fr.min_req, 8); /* the chip never gets asked for < 8 */
    assert_int_equal(tma_tls_entropy_poll(&rng, out, 130, &olen), 0);
    assert_int_equal(olen, 130);
    assert_int_equal(fr.max_req, 64);
    fr.fail = 1;
    assert_int_equal(tma_tls_entropy_poll(&rng, out, 16, &olen), MBEDTLS_ERR_ENTROPY_SOURCE_FAILED);
    assert_int_equal(olen, 0);

    /* Registered with mbedTLS: mbedtls_entropy_func pulls from it. */
    fr.fail = 0;
    fr.calls = 0;
    mbedtls_entropy_init(&e);
    assert_int_equal(tma_tls_entropy_add(&e, &rng), TMA_OK);
    assert_int_equal(mbedtls_entropy_func(&e, out, 32), 0);
    assert_true(fr.calls > 0);
    mbedtls_entropy_free(&e);
    assert_int_equal(tma_tls_entropy_add(NULL, &rng), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
}

static void client_init_validates_config(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    cfg.host = "localhost";
    cfg.port = "8883";
    cfg.ca.ptr = (const uint8_t *)"not a certificate";
    cfg.ca.len = 17;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_string_equal(tma_tls_client_error(&c), "trust anchors do not parse");
    cfg.host = "";
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
}

static void client_states_and_connect_failure(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    uint8_t buf[8] = {0};
    struct tma_transport t;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "localhost";
    cfg.port = "1"; /* nothing listens on port 1 here (tests do not run as a server on it) */
    cfg.address = "127.0.0.1";
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    t = tma_tls_client_transport(&c);
    /* Not connected: send/recv say so instead of touching a socket. */
    assert_int_equal(t.send(t.ctx, buf, sizeof(buf)), TMA_ERR(TMA_LAYER_TLS, TMA_C_STATE));
    assert_int_equal(t.recv(t.ctx, buf, sizeof(buf)), TMA_ERR(TMA_LAYER_TLS, TMA_C_STATE));
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_TLS_E_CONNECT));
    assert_non_null(strstr(tma_tls_client_error(&c), "cannot connect to 127.0.0.1 port 1"));
    assert_false(tma_tls_client_resumed(&c));
    tma_tls_client_close(&c); /* no-op when not connected */
    tma_tls_client_deinit(&c);
    tma_tls_client_deinit(&c); /* twice is harmless */
    /* A client chain without a key is a bad parameter, never a silent
     * anonymous client. */
    cfg.own_chain.ptr = ca;
    cfg.own_chain.len = ca_len;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    free(ca);
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A server that accepts TCP and never says a word: the handshake must give
 * up after handshake_timeout_ms with a timeout, not hang. */
static void handshake_times_out_on_a_silent_server(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char port[8];
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    long long t0, dt;
    tma_status st;
    (void)state;
    assert_true(ls >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 1), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sa.sin_port));
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "localhost";
    cfg.address = "127.0.0.1";
    cfg.port = port;
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    cfg.timeout_ms = 50;
    cfg.handshake_timeout_ms = 300;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    t0 = mono_ms();
    st = tma_tls_client_connect(&c); /* the kernel completes the TCP accept */
    dt = mono_ms() - t0;
    assert_int_equal(st, TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
    assert_true(dt >= 250 && dt < 5000);
    tma_tls_client_set_timeout(&c, 20);
    tma_tls_client_deinit(&c);
    close(ls);
    free(ca);
}

/* TLS over a caller's transport: a peer that swallows everything and never
 * answers; time comes from an injected clock, so the handshake timeout is
 * checked without waiting. */
struct silent {
    size_t sent;
    uint64_t now;
    unsigned recvs;
};
static int32_t silent_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct silent *p = ctx;
    (void)buf;
    p->sent += len;
    return (int32_t)len;
}
static int32_t silent_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct silent *p = ctx;
    (void)buf;
    (void)len;
    p->recvs++;
    p->now += 10; /* each empty poll costs 10 ms of the fake clock */
    return 0;
}
static uint64_t silent_now(void *ctx)
{
    return ((struct silent *)ctx)->now;
}

static void lower_transport_times_out_with_injected_clock(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    struct silent peer = {0, 0, 0};
    struct tma_transport lower = {&peer, silent_send, silent_recv};
    struct tma_clock clk = {&peer, silent_now};
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "device.example";
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    cfg.lower = &lower;
    /* lower without a clock is refused */
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    cfg.clock = &clk;
    cfg.handshake_timeout_ms = 500;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
    assert_true(peer.sent > 40);          /* a ClientHello went out */
    assert_true(peer.now >= 500 && peer.now <= 520);
    assert_int_equal(peer.recvs, 50);     /* 500 ms / 10 ms per empty poll */
    tma_tls_client_close(&c);
    tma_tls_client_deinit(&c);
    free(ca);
}

/* A client of "device.example" over a scripted lower transport and clock,
 * handshake bound @p timeout_ms; returns the trust-anchor buffer to free. */
static unsigned char *scripted_client(struct tma_tls_client *c, struct tma_transport *lower,
                                      struct tma_clock *clk, uint32_t timeout_ms)
{
    struct tma_tls_client_config cfg;
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "device.example";
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    cfg.lower = lower;
    cfg.clock = clk;
    cfg.handshake_timeout_ms = timeout_ms;
    assert_int_equal(tma_tls_client_init(c, &cfg), TMA_OK);
    return ca;
}

/* Audit wrap13 F11: the handshake bound was a deadline now + timeout, which
 * wraps for a clock that starts near 2^64 (or a 32-bit tick near 2^32,
 * zero-extended): every read then timed out at once and no handshake could
 * start in the last timeout before the wrap. The bound is elapsed time now:
 * the same 500 ms and 50 polls as from 0, across the wrap. */
static void handshake_bound_across_clock_wrap(void **state)
{
    static const uint64_t starts[] = {UINT64_MAX - 100u, 0xFFFFFFFFull - 100u};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        struct tma_tls_client c;
        struct silent peer = {0, starts[i], 0};
        struct tma_transport lower = {&peer, silent_send, silent_recv};
        struct tma_clock clk = {&peer, silent_now};
        unsigned char *ca = scripted_client(&c, &lower, &clk, 500u);
        uint64_t spent;
        assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
        spent = peer.now - starts[i];
        assert_true(spent >= 500 && spent <= 520);
        assert_int_equal(peer.recvs, 50);
        tma_tls_client_close(&c);
        tma_tls_client_deinit(&c);
        free(ca);
    }
}

/* Review R2: a peer over the caller's transport that never takes a byte
 * (send returns 0, "try again", for ever). The handshake retried at once
 * without a bound; it must end in a timeout after handshake_timeout_ms of
 * the injected clock. The stub gives up with an error after 200,000 calls
 * so the old behaviour fails the test instead of hanging it. */
struct stuck {
    uint64_t now;
    unsigned sends;
};
static int32_t stuck_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct stuck *p = ctx;
    (void)buf;
    (void)len;
    p->sends++;
    p->now += 1;
    return p->sends > 200000u ? TMA_ERR(TMA_LAYER_TLS, TMA_C_IO) : 0;
}
static int32_t stuck_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return 0;
}
static uint64_t stuck_now(void *ctx)
{
    return ((struct stuck *)ctx)->now;
}


static void lower_send_that_never_progresses_times_out(void **state)
{
    struct tma_tls_client c;
    struct stuck peer = {0, 0};
    struct tma_transport lower = {&peer, stuck_send, stuck_recv};
    struct tma_clock clk = {&peer, stuck_now};
    unsigned char *ca = scripted_client(&c, &lower, &clk, 700u);
    (void)state;
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
    assert_true(peer.now >= 700 && peer.now <= 710);
    tma_tls_client_deinit(&c);
    free(ca);
}

/* Review REV13 F2: the bound as elapsed 32-bit time read a clock 1 ms
 * behind the message's start as 2^32 - 1 ms spent, and the handshake timed
 * out at once (after CertificateVerify, a chip signature lost). (a) A peer
 * that takes no byte (the bound reads the clock at each send): the clock
 * steps back by 1 ms at the read after the one that started the message,
 * once (jitter) and for good; the bound is still 700 ms. (b) A silent peer
 * (each empty poll 10 ms, the wait for the reply in one receive call): the
 * clock steps back by 20 ms for good at the first poll, behind the
 * receive's start; the bound is 500 ms plus the 20 ms, not 10 ms. */
struct stepping_clock {
    uint64_t *now;    /* the true time */
    unsigned at;      /* this read (1: the first) steps back */
    uint64_t by;      /* behind the read before, by this */
    bool for_good;    /* stays behind (else: for that one read only) */
    uint64_t back;    /* how far behind the true time it stays */
    uint64_t last;
    unsigned reads;
};
static uint64_t stepping_now(void *ctx)
{
    struct stepping_clock *k = ctx;
    uint64_t v = *k->now - k->back;
    if (++k->reads == k->at) {
        v = k->last - k->by;
        if (k->for_good) {
            k->back = *k->now - v;
        }
    }
    k->last = v;
    return v;
}

static void handshake_bound_clock_steps_back_1ms(void **state)
{
    static const bool keep[] = {false, true};
    size_t i;
    unsigned char *ca;
    (void)state;
    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        struct tma_tls_client c;
        struct stuck peer = {0, 0};
        struct stepping_clock k = {&peer.now, 2u, 1u, keep[i], 0u, 0u, 0u};
        struct tma_transport lower = {&peer, stuck_send, stuck_recv};
        struct tma_clock clk = {&k, stepping_now};
        ca = scripted_client(&c, &lower, &clk, 700u);
        assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
        fprintf(stderr, "1 ms step back after the message began (%s): timed out at %llu ms\n",
                keep[i] ? "for good" : "one read", (unsigned long long)peer.now);
        tma_tls_client_deinit(&c);
        free(ca);
        assert_true(k.reads > 600u);
        assert_true(peer.now >= 700 && peer.now <= 712);
    }
    {
        struct tma_tls_client c;
        struct silent peer = {0, 1000u, 0};
        struct stepping_clock k = {&peer.now, 3u, 20u, true, 0u, 0u, 0u};
        struct tma_transport lower = {&peer, silent_send, silent_recv};
        struct tma_clock clk = {&k, stepping_now};
        ca = scripted_client(&c, &lower, &clk, 500u);
        assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
        fprintf(stderr, "20 ms step back at the first poll of a silent peer: timed out after %llu ms\n",
                (unsigned long long)(peer.now - 1000u));
        tma_tls_client_close(&c);
        tma_tls_client_deinit(&c);
        free(ca);
        assert_true(k.reads >= 3u);
        assert_true(peer.now - 1000u >= 520 && peer.now - 1000u <= 540);
    }
}

/* Review R2: a peer that answers the ClientHello with a record header for a
 * 16,000-byte handshake record and then one byte per 100 ms of the clock.
 * Every read succeeds within the per-read timeout, so a bound per read never
 * fires; the bound per handshake message must (700 ms here, not 1,600 s). */
struct trickle {
    uint64_t now;
    size_t fed;
};
static int32_t trickle_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (int32_t)len;
}
static int32_t trickle_recv(void *ctx, uint8_t *buf, size_t len)
{
    static const uint8_t hdr[5] = {0x16, 0x03, 0x03, 0x3e, 0x80}; /* 16,000 bytes */
    struct trickle *p = ctx;
    p->now += 100;
    if (len == 0u || p->fed >= 5u + 16000u) {
        return 0;
    }
    buf[0] = p->fed < 5u ? hdr[p->fed] : 0x02u;
    p->fed++;
    return 1;
}
static uint64_t trickle_now(void *ctx)
{
    return ((struct trickle *)ctx)->now;
}

static void trickling_peer_is_bounded_per_message(void **state)
{
    struct tma_tls_client c;
    struct trickle peer = {0, 0};
    struct tma_transport lower = {&peer, trickle_send, trickle_recv};
    struct tma_clock clk = {&peer, trickle_now};
    unsigned char *ca = scripted_client(&c, &lower, &clk, 700u);
    (void)state;
    {
        tma_status st = tma_tls_client_connect(&c);
        if (st != TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT)) {
            printf("connect: %s: %s (fed %zu, %llu ms)\n", tma_status_str(st), tma_tls_client_error(&c),
                   peer.fed, (unsigned long long)peer.now);
        }
        assert_int_equal(st, TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
    }
    assert_true(peer.now >= 700 && peer.now <= 900);
    assert_true(peer.fed < 20u);
    tma_tls_client_deinit(&c);
    free(ca);
}


/* ---- paths no test ran (coverage run) ------------------------------------- */

/* Components of 66 bytes (the public function's limit) with the top bit
 * set: 2 * (2 + 1 + 66) = 138 content bytes, so the SEQUENCE takes the 0x81
 * length form, and such a SEQUENCE is read back; a non-minimal 0x81 length
 * (below 128) is refused, in the SEQUENCE and in an INTEGER. */
static void sig_to_der_long_form(void **state)
{
    uint8_t in[160], out[TMA_TLS_MAX_SIG_DER + 80], again[TMA_TLS_MAX_SIG_DER + 80];
    size_t n = 0, n2 = 0, i;
    struct tma_span s;
    (void)state;
    /* chip form: 02 42 <66 bytes, top bit set> twice (no pad: the converter adds it) */
    in[0] = 0x02;
    in[1] = 66;
    for (i = 0; i < 66; i++) in[2 + i] = (uint8_t)(0x80 + i);
    in[68] = 0x02;
    in[69] = 66;
    for (i = 0; i < 66; i++) in[70 + i] = (uint8_t)(0xC0 ^ i);
    s.ptr = in;
    s.len = 136;
    /* negative integers are refused, so pad with 00 as the chip does */
    {
        uint8_t padded[160];
        padded[0] = 0x02;
        padded[1] = 67;
        padded[2] = 0;
        memcpy(padded + 3, in + 2, 66);
        padded[69] = 0x02;
        padded[70] = 67;
        padded[71] = 0;
        memcpy(padded + 72, in + 70, 66);
        s.ptr = padded;
        s.len = 138;
        assert_int_equal(tma_tls_sig_to_der(s, 66, out, sizeof(out), &n), TMA_OK);
        assert_int_equal(n, 3 + 138);
        assert_int_equal(out[0], 0x30);
        assert_int_equal(out[1], 0x81);
        assert_int_equal(out[2], 138);
        assert_int_equal(memcmp(out + 3, padded, 138), 0);
        /* one byte short of the output: TOO_SMALL with the size needed */
        assert_int_equal(tma_tls_sig_to_der(s, 66, out, 140, &n2),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_TOO_SMALL));
        assert_int_equal(n2, 141);
        /* 66 bytes do not fit a P-384 key */
        assert_int_equal(tma_tls_sig_to_der(s, 48, out, sizeof(out), &n2),
                         TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    }
    /* the 0x81 SEQUENCE reads back to itself */
    s.ptr = out;
    s.len = n;
    assert_int_equal(tma_tls_sig_to_der(s, 66, again, sizeof(again), &n2), TMA_OK);
    assert_int_equal(tma_test_memcmp("0x81 sequence", again, n2, out, n), 0);
    /* key_bytes out of range */
    assert_int_equal(tma_tls_sig_to_der(s, 67, again, sizeof(again), &n2),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    assert_int_equal(tma_tls_sig_to_der(s, 0, again, sizeof(again), &n2),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    /* non-minimal long forms */
    assert_int_equal(expect_der("30 81 06 0201 01 0201 02", 32, NULL),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_int_equal(expect_der("30 81 7f 0201 01 0201 02", 32, NULL),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_int_equal(expect_der("02 81 01 01 0201 02", 32, NULL),
                     TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_int_equal(expect_der("30 81", 32, NULL), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_int_equal(expect_der("30", 32, NULL), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
}

/* A signature of the wrong length is reported as mbedTLS' own EC key
 * reports it (PK_SIG_LEN_MISMATCH, which pk callers test for), not as an
 * ECP code. */
static void verify_reports_length_mismatch_like_mbedtls(void **state)
{
    struct bound b;
    uint8_t hash[32], sig[MBEDTLS_ECDSA_MAX_LEN + 1];
    size_t sig_len = 0;
    (void)state;
    bind_soft(&b, "dev-key.pem");
    memset(hash, 0x3C, sizeof(hash));
    assert_int_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len, rng_cb,
                                     NULL), 0);
    /* a valid signature followed by one byte inside the SEQUENCE */
    assert_true(sig[1] < 0x7F);
    sig[1]++;
    sig[sig_len] = 0x00;
    assert_int_equal(mbedtls_pk_verify(&b.soft.priv, MBEDTLS_MD_SHA256, hash, 32, sig,
                                       sig_len + 1), MBEDTLS_ERR_PK_SIG_LEN_MISMATCH);
    assert_int_equal(mbedtls_pk_verify(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len + 1),
                     MBEDTLS_ERR_PK_SIG_LEN_MISMATCH);
    sig[1]--;
    assert_int_equal(mbedtls_pk_verify(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len), 0);
    hash[0] ^= 1;
    assert_int_not_equal(mbedtls_pk_verify(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len), 0);
    unbind(&b);
}

/* A signer that breaks its contract: says it wrote more than out_size. */
static tma_status overlong_signer(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                                  size_t out_size, size_t *out_len)
{
    (void)ctx;
    (void)hash;
    (void)hash_len;
    memset(out, 0x02, out_size);
    *out_len = out_size + 1;
    return TMA_OK;
}

static void overlong_signer_output_is_internal_error(void **state)
{
    struct bound b;
    struct tma_tls_signer bad = {NULL, overlong_signer};
    uint8_t hash[32] = {7}, sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len = 5;
    struct tma_span pub;
    (void)state;
    load_soft(&b.soft, "dev-key.pem");
    pub.ptr = b.soft.pub;
    pub.len = b.soft.pub_len;
    mbedtls_pk_init(&b.pk);
    assert_int_equal(tma_tls_key_bind(&b.key, &b.pk, b.soft.group, pub, &bad), TMA_OK);
    assert_int_not_equal(mbedtls_pk_sign(&b.pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len,
                                         rng_cb, NULL), 0);
    assert_int_equal(sig_len, 0);
    assert_int_equal(b.key.last_signer_status, TMA_ERR(TMA_LAYER_TLS, TMA_C_INTERNAL));
    assert_int_equal(b.key.sign_count, 0);
    unbind(&b);
}

/* The chip's BIT STRING form of a public key: the unused-bits byte must be
 * 0 and the length must match; the 0x81 length form is read too. */
static void public_key_bit_string_checks(void **state)
{
    struct soft_signer s;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
    struct tma_tls_signer signer = {NULL, soft_signer_sign};
    uint8_t buf[200];
    struct tma_span pub;
    const tma_status bad = TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED);
    (void)state;
    load_soft(&s, "dev-key.pem");
    signer.ctx = &s;
    mbedtls_pk_init(&pk);
    pub.ptr = buf;
    /* 03 42 01 04 X Y: unused bits 1 */
    buf[0] = 0x03;
    buf[1] = 0x42;
    buf[2] = 0x01;
    memcpy(buf + 3, s.pub, 65);
    pub.len = 68;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), bad);
    /* length byte one too many / one too few */
    buf[2] = 0x00;
    buf[1] = 0x43;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), bad);
    buf[1] = 0x41;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), bad);
    assert_null(pk.pk_info);
    /* 03 81 42 00 04 X Y: the long length form is read */
    buf[1] = 0x81;
    buf[2] = 0x42;
    buf[3] = 0x00;
    memcpy(buf + 4, s.pub, 65);
    pub.len = 69;
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), TMA_OK);
    assert_int_equal(mbedtls_ecp_point_cmp(&mbedtls_pk_ec(pk)->Q, &mbedtls_pk_ec(s.priv)->Q), 0);
    mbedtls_pk_free(&pk);
    /* ... with its unused-bits byte checked too */
    buf[3] = 0x07;
    mbedtls_pk_init(&pk);
    assert_int_equal(tma_tls_key_bind(&key, &pk, MBEDTLS_ECP_DP_SECP256R1, pub, &signer), bad);
    soft_signer_free(&s);
}

static const char rsa_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB9jCCAV+gAwIBAgIUVRbmzBxxOEtKK7bFRK4EbAzh7iYwDQYJKoZIhvcNAQEL\n"
    "BQAwDDEKMAgGA1UEAwwBcjAgFw0yNjExMjkxMTE3MDJaGA8yMTI2MTEwNTExMTcw\n"
    "MlowDDEKMAgGA1UEAwwBcjCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAu5J6\n"
    "qKXn+DaXrZYWG8jfPwhBDn0OG12QIJrrsPidgnCzcmYocf4b2Cx85zokHM75aL3Q\n"
    "h9lO2PeIVZG9jB+zjciZmgQVuVRchFthTonfoHR59K/PgalKYpdI7DoEMhky9uQ+\n"
    "lz9xts2+bipq6I++IIwv1OkaUuznjHCF1MRVYHkCAwEAAaNTMFEwHQYDVR0OBBYE\n"
    "FDdqj9x9TlrAVjSLVvmQSpNEP9HzMB8GA1UdIwQYMBaAFDdqj9x9TlrAVjSLVvmQ\n"
    "SpNEP9HzMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADgYEAPu3gaxLh\n"
    "IbZUcxZLWlbUeh8npV4hjpPFpnIIBJTfoES7tnG4OdJYRa2/c1O3CK40k+3QYOUk\n"
    "Cp7bRmhuxYdTPZ9EDK1xhLFDZu5EWWNm0QXKCGvvTKVKH1m2Gxn7c5VTb34SDOsD\n"
    "B2QLxYBuXd4Ym+c3vBD6LQGCIP4mRS6Uq7c=\n"
    "-----END CERTIFICATE-----\n";

/* Key/certificate match: NULL and a key that is not bound are bad
 * parameters; an RSA certificate never matches an EC key. mbedtls_pk_debug
 * on the delegated key shows the public point (as for mbedTLS' EC key). */
static void key_matches_cert_edges_and_debug(void **state)
{
    struct bound k;
    mbedtls_x509_crt rsa, ec;
    mbedtls_pk_context empty;
    size_t pem_len;
    unsigned char *pem = slurp_vector("dev-cert.pem", &pem_len);
    mbedtls_pk_debug_item items[MBEDTLS_PK_DEBUG_MAX_ITEMS];
    (void)state;
    mbedtls_x509_crt_init(&rsa);
    mbedtls_x509_crt_init(&ec);
    assert_int_equal(mbedtls_x509_crt_parse(&rsa, (const unsigned char *)rsa_cert_pem,
                                            sizeof(rsa_cert_pem)), 0);
    assert_int_equal(mbedtls_pk_get_type(&rsa.pk), MBEDTLS_PK_RSA);
    {
        struct tma_span in = {pem, pem_len};
        assert_int_equal(tma_tls_parse_certs(&ec, in, NULL), TMA_OK);
    }
    bind_soft(&k, "dev-key.pem");
    assert_int_equal(tma_tls_key_matches_cert(&k.pk, &ec), TMA_OK);
    assert_int_equal(tma_tls_key_matches_cert(&k.pk, &rsa),
                     TMA_ERR(TMA_LAYER_TLS, TMA_TLS_E_KEY_MISMATCH));
    assert_int_equal(tma_tls_key_matches_cert(NULL, &ec), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    assert_int_equal(tma_tls_key_matches_cert(&k.pk, NULL), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    mbedtls_pk_init(&empty);
    assert_int_equal(tma_tls_key_matches_cert(&empty, &ec), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));

    memset(items, 0, sizeof(items));
    assert_int_equal(mbedtls_pk_debug(&k.pk, items), 0);
    assert_int_equal(items[0].type, MBEDTLS_PK_DEBUG_ECP);
    assert_string_equal(items[0].name, "eckey.Q");
    assert_int_equal(mbedtls_ecp_point_cmp((const mbedtls_ecp_point *)items[0].value,
                                           &mbedtls_pk_ec(k.soft.priv)->Q), 0);
    unbind(&k);
    mbedtls_x509_crt_free(&rsa);
    mbedtls_x509_crt_free(&ec);
    free(pem);
}

/* A certificate below 256 bytes has a 0x81 length: read as DER, in a DER
 * list and in the TLS-identity wrapper; an identity list of 1..2 bytes is
 * malformed; NULL arguments are bad parameters. */
static void short_certificate_and_identity_edges(void **state)
{
    mbedtls_x509_crt c;
    size_t count = 9, n, off;
    uint8_t buf[1200];
    struct tma_span in;
    const uint8_t *der;
    (void)state;
    /* a short certificate that parses, from mbedTLS' own writer: v1,
     * serial 1, CN=a, a P-256 key signed by a P-192 issuer (a P-256
     * signature would make it 260 bytes) */
    {
        mbedtls_x509write_cert w;
        mbedtls_mpi serial;
        mbedtls_pk_context issuer;
        unsigned char out[400];
        int len;
        struct soft_signer s;
        load_soft(&s, "dev-key.pem");
        mbedtls_x509write_crt_init(&w);
        mbedtls_mpi_init(&serial);
        mbedtls_pk_init(&issuer);
        assert_int_equal(mbedtls_pk_setup(&issuer, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
        assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP192R1, mbedtls_pk_ec(issuer),
                                             mbedtls_ctr_drbg_random, &s.drbg), 0);
        mbedtls_x509write_crt_set_subject_key(&w, &s.priv);
        mbedtls_x509write_crt_set_issuer_key(&w, &issuer);
        assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "CN=a"), 0);
        assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "CN=a"), 0);
        mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
        mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_1);
        assert_int_equal(mbedtls_mpi_lset(&serial, 1), 0);
        assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &serial), 0);
        assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20260101000000", "20360101000000"), 0);
        len = mbedtls_x509write_crt_der(&w, out, sizeof(out), mbedtls_ctr_drbg_random, &s.drbg);
        assert_true(len > 0);
        der = out + sizeof(out) - (size_t)len;
        n = (size_t)len;
        assert_int_equal(der[1], 0x81); /* the point: 128..255 bytes */
        mbedtls_x509write_crt_free(&w);
        mbedtls_mpi_free(&serial);
        mbedtls_pk_free(&issuer);

        in.ptr = der;
        in.len = n;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        assert_int_equal(count, 1);
        mbedtls_x509_crt_free(&c);
        /* two back to back */
        memcpy(buf, der, n);
        memcpy(buf + n, der, n);
        in.ptr = buf;
        in.len = 2 * n;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        assert_int_equal(count, 2);
        mbedtls_x509_crt_free(&c);
        /* truncated inside the 0x81 header / body */
        in.len = 2;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        in.len = n - 1;
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
        /* in the identity wrapper */
        off = 0;
        buf[off++] = 0xC0;
        buf[off++] = (uint8_t)((3 + 3 + n) >> 8);
        buf[off++] = (uint8_t)(3 + 3 + n);
        buf[off++] = 0;
        buf[off++] = (uint8_t)((3 + n) >> 8);
        buf[off++] = (uint8_t)(3 + n);
        buf[off++] = 0;
        buf[off++] = (uint8_t)(n >> 8);
        buf[off++] = (uint8_t)n;
        memcpy(buf + off, der, n);
        off += n;
        in.ptr = buf;
        in.len = off;
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_OK);
        assert_int_equal(count, 1);
        mbedtls_x509_crt_free(&c);
        soft_signer_free(&s);
    }
    /* DER list: an element with a short-form length after a certificate is
     * read as an element (and refused by mbedTLS); a lone tag byte is not
     * an element */
    {
        static const uint8_t tiny[] = {0x30, 0x03, 0x02, 0x01, 0x05};
        static const uint8_t lone[] = {0x30};
        in.ptr = tiny;
        in.len = sizeof(tiny);
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        assert_int_equal(count, 0);
        in.ptr = lone;
        in.len = sizeof(lone);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
    }
    /* identity wrapper shorter than its 6-byte header; an entry of length 0 */
    {
        static const uint8_t hdr5[] = {0xC0, 0x00, 0x03, 0x00, 0x00};
        static const uint8_t zero[] = {0xC0, 0x00, 0x06, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00};
        in.ptr = hdr5;
        in.len = sizeof(hdr5);
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        in.ptr = zero;
        in.len = sizeof(zero);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
    }
    /* identity wrapper whose list holds 2 bytes (less than one length) */
    {
        static const uint8_t two[] = {0xC0, 0x00, 0x05, 0x00, 0x00, 0x02, 0x00, 0x00};
        in.ptr = two;
        in.len = sizeof(two);
        mbedtls_x509_crt_init(&c);
        assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
        mbedtls_x509_crt_free(&c);
    }
    /* NULL / empty */
    in.ptr = buf;
    in.len = 0;
    assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    in.len = 4;
    assert_int_equal(tma_tls_parse_certs(NULL, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    in.ptr = NULL;
    assert_int_equal(tma_tls_parse_certs(&c, in, &count), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
}

/* Entropy: a poll without a source fails; mbedTLS' source table fills up
 * and then adding says FULL. */
static void entropy_without_rng_and_full_table(void **state)
{
    struct fake_rng fr = {0, 0, 1000, 0, 0};
    struct tma_tls_rng rng = {&fr, fake_fill};
    struct tma_tls_rng no_fill = {&fr, NULL};
    uint8_t out[16];
    size_t olen = 7;
    int i, added = 0, initial;
    mbedtls_entropy_context e;
    (void)state;
    assert_int_equal(tma_tls_entropy_poll(NULL, out, sizeof(out), &olen),
                     MBEDTLS_ERR_ENTROPY_SOURCE_FAILED);
    assert_int_equal(olen, 0);
    olen = 7;
    assert_int_equal(tma_tls_entropy_poll(&no_fill, out, sizeof(out), &olen),
                     MBEDTLS_ERR_ENTROPY_SOURCE_FAILED);
    assert_int_equal(olen, 0);
    assert_int_equal(fr.calls, 0);
    assert_int_equal(tma_tls_entropy_add(NULL, &rng), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    mbedtls_entropy_init(&e);
    assert_int_equal(tma_tls_entropy_add(&e, NULL), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    assert_int_equal(tma_tls_entropy_add(&e, &no_fill), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    initial = e.source_count;
    for (i = 0; i < MBEDTLS_ENTROPY_MAX_SOURCES + 1; i++) {
        tma_status st = tma_tls_entropy_add(&e, &rng);
        if (st != TMA_OK) {
            assert_int_equal(st, TMA_ERR(TMA_LAYER_TLS, TMA_C_FULL));
            break;
        }
        added++;
    }
    assert_int_equal(added, MBEDTLS_ENTROPY_MAX_SOURCES - initial);
    mbedtls_entropy_free(&e);
}


/* ---- the client against an in-process mbedTLS server ---------------------- */

/* The server runs inside the client's lower transport: each client recv
 * that finds nothing to read steps the server once (handshake, then echo).
 * Bytes travel through two in-memory pipes; time is a fake clock that
 * advances 10 ms per empty poll. Modes: a raw fatal alert in answer to the
 * ClientHello; the client's sends refused (0, "try again"). */
struct loopsrv {
    uint8_t c2s[20000];
    size_t c2s_len;
    uint8_t s2c[20000];
    size_t s2c_len, s2c_off;
    uint64_t now;
    int alert;      /* >= 0: answer the ClientHello with fatal alert <alert> */
    int stall;      /* client's send returns 0 */
    uint64_t data_cost; /* ms the first chunk handed to the client costs */
    bool hs_done, alert_sent;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt crt;
    struct soft_signer key;
};

static int srv_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct loopsrv *l = ctx;
    assert_true(l->s2c_len + len <= sizeof(l->s2c));
    memcpy(l->s2c + l->s2c_len, buf, len);
    l->s2c_len += len;
    return (int)len;
}

static int srv_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct loopsrv *l = ctx;
    if (l->c2s_len == 0) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    if (len > l->c2s_len) len = l->c2s_len;
    memcpy(buf, l->c2s, len);
    memmove(l->c2s, l->c2s + len, l->c2s_len - len);
    l->c2s_len -= len;
    return (int)len;
}

static void srv_step(struct loopsrv *l)
{
    if (l->alert >= 0) {
        if (l->c2s_len > 0 && !l->alert_sent) {
            const uint8_t rec[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, (uint8_t)l->alert};
            l->c2s_len = 0;
            (void)srv_send(l, rec, sizeof(rec));
            l->alert_sent = true;
        }
        return;
    }
    if (!l->hs_done) {
        int ret = mbedtls_ssl_handshake(&l->ssl);
        if (ret == 0) {
            l->hs_done = true;
        } else {
            assert_true(ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
        }
    }
    if (l->hs_done) {
        uint8_t b[256];
        int n = mbedtls_ssl_read(&l->ssl, b, sizeof(b));
        if (n > 0) {
            assert_int_equal(mbedtls_ssl_write(&l->ssl, b, (size_t)n), n);
        }
    }
}

static int32_t loop_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct loopsrv *l = ctx;
    if (l->stall) {
        l->now += 1;
        return 0;
    }
    assert_true(l->c2s_len + len <= sizeof(l->c2s));
    memcpy(l->c2s + l->c2s_len, buf, len);
    l->c2s_len += len;
    return (int32_t)len;
}

static int32_t loop_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct loopsrv *l = ctx;
    size_t avail;
    if (l->s2c_off == l->s2c_len) {
        l->s2c_off = l->s2c_len = 0;
        srv_step(l);
    }
    avail = l->s2c_len - l->s2c_off;
    if (avail == 0) {
        l->now += 10;
        return 0;
    }
    if (len > avail) len = avail;
    memcpy(buf, l->s2c + l->s2c_off, len);
    l->s2c_off += len;
    l->now += l->data_cost;
    l->data_cost = 0;
    return (int32_t)len;
}

static uint64_t loop_now(void *ctx)
{
    return ((struct loopsrv *)ctx)->now;
}

static int srv_rng(void *ctx, unsigned char *out, size_t len)
{
    struct soft_signer *k = ctx;
    return mbedtls_ctr_drbg_random(&k->drbg, out, len);
}

static void loopsrv_start(struct loopsrv *l, int alert)
{
    size_t len;
    unsigned char *pem = slurp_vector("dev-cert.pem", &len);
    memset(l, 0, sizeof(*l));
    l->alert = alert;
    load_soft(&l->key, "dev-key.pem");
    mbedtls_x509_crt_init(&l->crt);
    assert_int_equal(mbedtls_x509_crt_parse(&l->crt, pem, len + 1), 0);
    free(pem);
    mbedtls_ssl_init(&l->ssl);
    mbedtls_ssl_config_init(&l->conf);
    assert_int_equal(mbedtls_ssl_config_defaults(&l->conf, MBEDTLS_SSL_IS_SERVER,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    mbedtls_ssl_conf_rng(&l->conf, srv_rng, &l->key);
    mbedtls_ssl_conf_authmode(&l->conf, MBEDTLS_SSL_VERIFY_NONE);
    assert_int_equal(mbedtls_ssl_conf_own_cert(&l->conf, &l->crt, &l->key.priv), 0);
    assert_int_equal(mbedtls_ssl_setup(&l->ssl, &l->conf), 0);
    mbedtls_ssl_set_bio(&l->ssl, l, srv_send, srv_recv, NULL);
}

static void loopsrv_stop(struct loopsrv *l)
{
    mbedtls_ssl_free(&l->ssl);
    mbedtls_ssl_config_free(&l->conf);
    mbedtls_x509_crt_free(&l->crt);
    soft_signer_free(&l->key);
}

/* Client of "tls-vector-device" (the vector certificate's CN, its own
 * trust anchor) over the loop. */
static unsigned char *loop_client(struct tma_tls_client *c, struct loopsrv *l,
                                  struct tma_transport *lower, struct tma_clock *clk)
{
    struct tma_tls_client_config cfg;
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    lower->ctx = l;
    lower->send = loop_send;
    lower->recv = loop_recv;
    clk->ctx = l;
    clk->now_ms = loop_now;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "tls-vector-device";
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    cfg.lower = lower;
    cfg.clock = clk;
    cfg.timeout_ms = 200;
    cfg.handshake_timeout_ms = 2000;
    assert_int_equal(tma_tls_client_init(c, &cfg), TMA_OK);
    return ca;
}

/* Connected: a second connect is a state error; a send the transport does
 * not take returns 0 (try again) and goes out later; an idle read returns 0
 * after timeout_ms; a connect before init is a bad parameter. */
static void client_connected_states_and_stalled_send(void **state)
{
    struct loopsrv l;
    struct tma_tls_client c;
    struct tma_transport lower;
    struct tma_clock clk;
    unsigned char *ca;
    uint8_t buf[16];
    int32_t n;
    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    assert_int_equal(tma_tls_client_connect(NULL), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    tma_tls_client_set_timeout(&c, 5); /* not initialised: ignored */
    assert_int_equal(c.timeout_ms, 0);
    loopsrv_start(&l, -1);
    ca = loop_client(&c, &l, &lower, &clk);
    {
        tma_status st = tma_tls_client_connect(&c);
        if (st != TMA_OK) {
            printf("connect: %s: %s\n", tma_status_str(st), tma_tls_client_error(&c));
        }
        assert_int_equal(st, TMA_OK);
    }
    assert_true(l.hs_done);
    assert_false(tma_tls_client_resumed(&c));
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_STATE));
    /* still connected and usable after the refused second connect */
    assert_int_equal(tma_tls_client_send(&c, (const uint8_t *)"ping", 4), 4);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(tma_tls_client_recv(&c, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ping", 4);
    /* an empty read: 0 after the read timeout of the fake clock */
    l.now = 0;
    assert_int_equal(tma_tls_client_recv(&c, buf, sizeof(buf)), 0);
    assert_true(l.now >= 200);
    /* zero-length calls and NULL buffers */
    assert_int_equal(tma_tls_client_send(&c, buf, 0), 0);
    assert_int_equal(tma_tls_client_recv(&c, buf, 0), 0);
    assert_int_equal(tma_tls_client_send(&c, NULL, 1), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    /* a length beyond int32: clamped, one record's worth goes out and the
     * count returned is what was taken */
    {
        static uint8_t big[20000];
        size_t huge = (size_t)INT32_MAX + 10u;
        memset(big, 'b', sizeof(big));
        int32_t got = 0, k;
        n = tma_tls_client_send(&c, big, huge);
        assert_true(n > 0 && n <= 16384);
        /* the echo comes back in pieces; a huge read length is clamped too */
        memset(big, 0, sizeof(big));
        while (got < n) {
            k = tma_tls_client_recv(&c, big + got, huge);
            assert_true(k > 0);
            got += k;
        }
        assert_int_equal(got, n);
        assert_int_equal(big[0], 'b');
        assert_int_equal(big[n - 1], 'b');
        assert_int_equal(tma_tls_client_recv(NULL, buf, 4), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
        assert_int_equal(tma_tls_client_recv(&c, NULL, 4), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    }
    /* set_timeout: 0 means the default, NULL is ignored */
    tma_tls_client_set_timeout(NULL, 5);
    tma_tls_client_set_timeout(&c, 50);
    l.now = 0;
    assert_int_equal(tma_tls_client_recv(&c, buf, sizeof(buf)), 0);
    assert_true(l.now >= 50 && l.now < 200);
    tma_tls_client_set_timeout(&c, 200);
    /* the transport takes nothing: 0, nothing lost */
    l.stall = 1;
    assert_int_equal(tma_tls_client_send(&c, (const uint8_t *)"late", 4), 0);
    assert_int_equal(l.c2s_len, 0);
    l.stall = 0;
    n = tma_tls_client_send(&c, (const uint8_t *)"late", 4);
    assert_int_equal(n, 4);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(tma_tls_client_recv(&c, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "late", 4);
    tma_tls_client_close(&c);
    assert_int_equal(tma_tls_client_send(&c, buf, 1), TMA_ERR(TMA_LAYER_TLS, TMA_C_STATE));
    tma_tls_client_deinit(&c);
    loopsrv_stop(&l);
    free(ca);
}

/* A fatal alert in answer to the ClientHello: PEER_ALERT, and the error
 * text names the alert (every name of the table, and an unknown one). */
static void client_names_the_server_alert(void **state)
{
    static const struct {
        int code;
        const char *name;
    } alerts[] = {
        {40, "handshake failure"}, {42, "bad certificate"}, {43, "unsupported certificate"},
        {44, "certificate revoked"}, {45, "certificate expired"}, {46, "certificate unknown"},
        {48, "unknown CA"}, {51, "decrypt error"}, {70, "protocol version"},
        {71, "insufficient security"}, {80, "internal error"}, {112, "unrecognized name"},
        {49, "see RFC 5246 section 7.2"},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
        struct loopsrv l;
        struct tma_tls_client c;
        struct tma_transport lower;
        struct tma_clock clk;
        unsigned char *ca;
        char want[128];
        loopsrv_start(&l, alerts[i].code);
        ca = loop_client(&c, &l, &lower, &clk);
        assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_TLS_E_PEER_ALERT));
        snprintf(want, sizeof(want), "server aborted the handshake: alert %d (%s", alerts[i].code,
                 alerts[i].name);
        if (strncmp(tma_tls_client_error(&c), want, strlen(want)) != 0) {
            fail_msg("alert %d: '%s', want '%s...'", alerts[i].code, tma_tls_client_error(&c),
                     want);
        }
        tma_tls_client_deinit(&c);
        loopsrv_stop(&l);
        free(ca);
    }
}


/* The handshake bound counts per message, across the reads of one record:
 * the ServerHello's header arrives after 2500 ms (bound 2000), so the read
 * of its body - bytes already there - is refused at once as a timeout
 * instead of completing the message late. */
static void handshake_bound_checked_before_each_read(void **state)
{
    struct loopsrv l;
    struct tma_tls_client c;
    struct tma_transport lower;
    struct tma_clock clk;
    unsigned char *ca;
    (void)state;
    loopsrv_start(&l, -1);
    ca = loop_client(&c, &l, &lower, &clk);
    l.data_cost = 2500;
    assert_int_equal(tma_tls_client_connect(&c), TMA_ERR(TMA_LAYER_TLS, TMA_C_TIMEOUT));
    assert_int_equal(l.now, 2500); /* no poll after the bound was gone */
    assert_true(l.s2c_off < l.s2c_len); /* the rest of the flight was never read */
    /* the same without the delay completes */
    tma_tls_client_deinit(&c);
    loopsrv_stop(&l);
    free(ca);
    loopsrv_start(&l, -1);
    ca = loop_client(&c, &l, &lower, &clk);
    l.data_cost = 1500;
    assert_int_equal(tma_tls_client_connect(&c), TMA_OK);
    tma_tls_client_deinit(&c);
    loopsrv_stop(&l);
    free(ca);
}

/* Bad configurations: each refused with its reason, nothing to deinit. */
static void client_init_refuses_bad_config(void **state)
{
    struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    struct bound k;
    size_t ca_len;
    unsigned char *ca = slurp_vector("dev-cert.pem", &ca_len);
    struct fake_rng fr = {0, 0, 1000, 1 /* fails */, 0};
    struct tma_tls_rng bad_rng = {&fr, fake_fill};
    char long_addr[300];
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "tls-vector-device";
    cfg.port = "1";
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    /* address empty, or longer than the field */
    cfg.address = "";
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    memset(long_addr, 'a', sizeof(long_addr) - 1);
    long_addr[sizeof(long_addr) - 1] = '\0';
    cfg.address = long_addr;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_BAD_PARAM));
    cfg.address = NULL;
    /* own chain that does not parse */
    bind_soft(&k, "dev-key.pem");
    cfg.own_key = &k.pk;
    cfg.own_chain.ptr = (const uint8_t *)"not a certificate";
    cfg.own_chain.len = 17;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED));
    assert_string_equal(tma_tls_client_error(&c), "client certificate chain does not parse");
    /* own chain of another key */
    {
        size_t o_len;
        unsigned char *other = slurp_vector("other-cert.pem", &o_len);
        cfg.own_chain.ptr = other;
        cfg.own_chain.len = o_len;
        assert_int_equal(tma_tls_client_init(&c, &cfg),
                         TMA_ERR(TMA_LAYER_TLS, TMA_TLS_E_KEY_MISMATCH));
        assert_string_equal(tma_tls_client_error(&c),
                            "client certificate does not carry the key's public key");
        free(other);
    }
    cfg.own_chain.ptr = NULL;
    cfg.own_chain.len = 0;
    cfg.own_key = NULL;
    /* an entropy source that fails: the DRBG cannot be seeded */
    cfg.rng = &bad_rng;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_TLS, TMA_C_CRYPTO));
    assert_string_equal(tma_tls_client_error(&c), "random generator could not be seeded");
    assert_true(fr.calls > 0);
    /* the same source working: init succeeds and draws from it */
    fr.fail = 0;
    fr.calls = 0;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    assert_true(fr.calls > 0);
    tma_tls_client_deinit(&c);
    unbind(&k);
    free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sig_to_der_wraps_chip_integers),
        cmocka_unit_test(sig_to_der_strips_non_minimal_zero),
        cmocka_unit_test(sig_to_der_accepts_sequence),
        cmocka_unit_test(sig_to_der_rejects_bad_input),
        cmocka_unit_test(sig_to_der_respects_output_size),
        cmocka_unit_test(pk_sign_goes_through_signer_and_verifies),
        cmocka_unit_test(sha384_hash_is_truncated_for_p256),
        cmocka_unit_test(short_hash_and_signer_failure_are_errors),
        cmocka_unit_test(malformed_signer_output_is_refused),
        cmocka_unit_test(public_key_forms),
        cmocka_unit_test(cert_formats_and_key_match),
        cmocka_unit_test(entropy_source_chunks_and_fails_cleanly),
        cmocka_unit_test(client_init_validates_config),
        cmocka_unit_test(client_states_and_connect_failure),
        cmocka_unit_test(handshake_times_out_on_a_silent_server),
        cmocka_unit_test(lower_transport_times_out_with_injected_clock),
        cmocka_unit_test(handshake_bound_across_clock_wrap),
        cmocka_unit_test(handshake_bound_clock_steps_back_1ms),
        cmocka_unit_test(lower_send_that_never_progresses_times_out),
        cmocka_unit_test(trickling_peer_is_bounded_per_message),
        cmocka_unit_test(sig_to_der_long_form),
        cmocka_unit_test(verify_reports_length_mismatch_like_mbedtls),
        cmocka_unit_test(overlong_signer_output_is_internal_error),
        cmocka_unit_test(public_key_bit_string_checks),
        cmocka_unit_test(key_matches_cert_edges_and_debug),
        cmocka_unit_test(short_certificate_and_identity_edges),
        cmocka_unit_test(entropy_without_rng_and_full_table),
        cmocka_unit_test(client_connected_states_and_stalled_send),
        cmocka_unit_test(client_names_the_server_alert),
        cmocka_unit_test(client_init_refuses_bad_config),
        cmocka_unit_test(handshake_bound_checked_before_each_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
