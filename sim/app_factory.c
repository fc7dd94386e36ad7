/*
 * Factory provisioning of a new simulated chip: unique UID, P-256 device key
 * in 0xE0F0, device certificate in 0xE0E0 (TLS-identity wrapper) issued by
 * the simulator's factory PKI: a P-521 root and a P-384 issuing CA, like the
 * V3 production chain. Everything is deterministic: the factory PKI from a
 * fixed factory seed (the same for every simulated chip, so one exported
 * chain verifies them all), the chip-unique parts from the chip seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "app_int.h"

/* Factory PKI seed: not a secret, the simulator is a test instrument. */
#define FACTORY_SEED 0x7472757374D51A00ull

#define ROOT_NAME "C=DE,O=trustm-sim,OU=Simulated OPTIGA(TM) Devices,CN=trustm-sim ECC Root CA 2"
#define CA_NAME "C=DE,O=trustm-sim,OU=Simulated OPTIGA(TM),CN=trustm-sim Trust M CA 300"
#define DEVICE_NAME "CN=trustm-sim IoTNode Device"
#define DEVICE_CERT_TARGET 506u

struct det {
    uint64_t seed;
    uint32_t domain;
    uint64_t ctr;
};

static int det_entropy(void *ctx, unsigned char *out, size_t len)
{
    struct det *d = ctx;
    while (len) {
        uint8_t in[20], h[32];
        for (int i = 0; i < 8; i++) {
            in[i] = (uint8_t)(d->seed >> (56 - 8 * i));
            in[12 + i] = (uint8_t)(d->ctr >> (56 - 8 * i));
        }
        app_put_be32(in + 8, d->domain);
        d->ctr++;
        mbedtls_sha256_ret(in, sizeof in, h, 0);
        size_t n = len < 32 ? len : 32;
        memcpy(out, h, n);
        out += n;
        len -= n;
    }
    return 0;
}

struct drbg {
    struct det det;
    mbedtls_ctr_drbg_context ctx;
};

static int drbg_init(struct drbg *d, uint64_t seed, uint32_t domain)
{
    d->det.seed = seed;
    d->det.domain = domain;
    d->det.ctr = 0;
    mbedtls_ctr_drbg_init(&d->ctx);
    return mbedtls_ctr_drbg_seed(&d->ctx, det_entropy, &d->det, NULL, 0);
}

struct pki {
    mbedtls_pk_context root_key, ca_key;
    uint8_t root_der[1024], ca_der[1024];
    size_t root_len, ca_len;
};

static void pki_free(struct pki *p)
{
    mbedtls_pk_free(&p->root_key);
    mbedtls_pk_free(&p->ca_key);
}

static int gen_key(mbedtls_pk_context *pk, mbedtls_ecp_group_id id, struct drbg *d)
{
    mbedtls_pk_init(pk);
    if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) {
        return -1;
    }
    return mbedtls_ecp_gen_key(id, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &d->ctx);
}

/* Write a certificate; returns DER length or <0. The DER lands at the end
 * of buf; it is moved to the start. */
static int write_cert(mbedtls_x509write_cert *w, uint8_t *buf, size_t cap, struct drbg *d)
{
    int n = mbedtls_x509write_crt_der(w, buf, cap, mbedtls_ctr_drbg_random, &d->ctx);
    if (n > 0) {
        memmove(buf, buf + cap - (size_t)n, (size_t)n);
    }
    return n;
}

static int set_serial(mbedtls_x509write_cert *w, const uint8_t *b, size_t n)
{
    mbedtls_mpi s;
    mbedtls_mpi_init(&s);
    int e = mbedtls_mpi_read_binary(&s, b, n) || mbedtls_x509write_crt_set_serial(w, &s);
    mbedtls_mpi_free(&s);
    return e;
}

static int make_ca_cert(mbedtls_pk_context *subj, mbedtls_pk_context *issuer, const char *sname,
                        const char *iname, const uint8_t *serial, int pathlen, mbedtls_md_type_t md,
                        uint8_t *out, size_t cap, struct drbg *d)
{
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, md);
    mbedtls_x509write_crt_set_subject_key(&w, subj);
    mbedtls_x509write_crt_set_issuer_key(&w, issuer);
    int n = -1;
    if (set_serial(&w, serial, 4) || mbedtls_x509write_crt_set_subject_name(&w, sname) ||
        mbedtls_x509write_crt_set_issuer_name(&w, iname) ||
        mbedtls_x509write_crt_set_validity(&w, "20200807000000", "20500807000000") ||
        mbedtls_x509write_crt_set_basic_constraints(&w, 1, pathlen) ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                    MBEDTLS_X509_KU_CRL_SIGN) ||
        mbedtls_x509write_crt_set_subject_key_identifier(&w) ||
        (subj != issuer && mbedtls_x509write_crt_set_authority_key_identifier(&w))) {
        goto out;
    }
    n = write_cert(&w, out, cap, d);
out:
    mbedtls_x509write_crt_free(&w);
    return n;
}

static int pki_build(struct pki *p)
{
    struct drbg d;
    memset(p, 0, sizeof *p);
    mbedtls_pk_init(&p->root_key);
    mbedtls_pk_init(&p->ca_key);
    int e = drbg_init(&d, FACTORY_SEED, 1);
    if (!e) {
        mbedtls_pk_free(&p->root_key);
        e = gen_key(&p->root_key, MBEDTLS_ECP_DP_SECP521R1, &d);
    }
    if (!e) {
        mbedtls_pk_free(&p->ca_key);
        e = gen_key(&p->ca_key, MBEDTLS_ECP_DP_SECP384R1, &d);
    }
    static const uint8_t root_serial[4] = {0x41, 0x52, 0x4F, 0x02};
    static const uint8_t ca_serial[4] = {0x43, 0x41, 0x03, 0x00};
    int n = -1;
    if (!e) {
        n = make_ca_cert(&p->root_key, &p->root_key, ROOT_NAME, ROOT_NAME, root_serial, -1,
                         MBEDTLS_MD_SHA512, p->root_der, sizeof p->root_der, &d);
    }
    if (n > 0) {
        p->root_len = (size_t)n;
        n = make_ca_cert(&p->ca_key, &p->root_key, CA_NAME, ROOT_NAME, ca_serial, 0,
                         MBEDTLS_MD_SHA512, p->ca_der, sizeof p->ca_der, &d);
    }
    if (n > 0) {
        p->ca_len = (size_t)n;
    }
    mbedtls_ctr_drbg_free(&d.ctx);
    return n > 0 ? 0 : -1;
}

/* certificatePolicies: one policy, 1.2.276.0.68.1.20.1 as on the real chip */
static const uint8_t CERT_POLICIES[] = {0x30, 0x0C, 0x30, 0x0A, 0x06, 0x08, 0x2A,
                                        0x82, 0x14, 0x00, 0x44, 0x01, 0x14, 0x01};

static const uint8_t BC_END_ENTITY[] = {0x30, 0x00};

static int make_device_cert(struct pki *p, mbedtls_pk_context *dev, const uint8_t *serial,
                            uint8_t *out, size_t cap, struct drbg *d)
{
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA384);
    mbedtls_x509write_crt_set_subject_key(&w, dev);
    mbedtls_x509write_crt_set_issuer_key(&w, &p->ca_key);
    int n = -1;
    if (set_serial(&w, serial, 4) || mbedtls_x509write_crt_set_subject_name(&w, DEVICE_NAME) ||
        mbedtls_x509write_crt_set_issuer_name(&w, CA_NAME) ||
        mbedtls_x509write_crt_set_validity(&w, "20241130000000", "20441130000000") ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) ||
        /* basicConstraints critical, CA:FALSE (mbedTLS marks it critical only for CAs) */
        mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_BASIC_CONSTRAINTS,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS), 1,
                                            BC_END_ENTITY, sizeof BC_END_ENTITY) ||
        mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_CERTIFICATE_POLICIES,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CERTIFICATE_POLICIES), 0,
                                            CERT_POLICIES, sizeof CERT_POLICIES) ||
        mbedtls_x509write_crt_set_authority_key_identifier(&w)) {
        goto out;
    }
    /* The real chip's certificate is 506 bytes; the ECDSA signature length
     * varies by a byte or two and mbedTLS signs deterministically (RFC 6979),
     * so step the serial number until the DER has the real chip's size. */
    for (uint8_t step = 0; step < 64; step++) {
        uint8_t s[4] = {serial[0], serial[1], serial[2], (uint8_t)(serial[3] + step)};
        if (set_serial(&w, s, sizeof s)) {
            n = -1;
            break;
        }
        n = write_cert(&w, out, cap, d);
        if (n <= 0 || (size_t)n == DEVICE_CERT_TARGET) {
            break;
        }
    }
out:
    mbedtls_x509write_crt_free(&w);
    return n;
}

static void make_uid(struct sim_app *app, uint8_t *uid)
{
    uint8_t h[32], in[9];
    for (int i = 0; i < 8; i++) {
        in[i] = (uint8_t)(app->cfg.seed >> (56 - 8 * i));
    }
    in[8] = 'U';
    mbedtls_sha256_ret(in, sizeof in, h, 0);
    bool v3 = app->cfg.version >= 3;
    uint8_t *p = uid;
    *p++ = 0xCD;             /* CIM identifier */
    *p++ = 0x16;             /* platform */
    *p++ = 0x33;             /* model */
    *p++ = v3 ? 0x93 : 0x82; /* ROM code */
    *p++ = 0x01;
    static const uint8_t chip_type[6] = {0x00, 0x1C, 0x00, 0x05, 0x00, 0x00};
    memcpy(p, chip_type, 6), p += 6;
    memcpy(p, h, 6), p += 6;         /* batch number */
    *p++ = 0x00, *p++ = h[6] & 0x7F; /* wafer position X */
    *p++ = 0x00, *p++ = h[7] & 0x7F; /* wafer position Y */
    static const uint8_t fw[4] = {0x80, 0x10, 0x10, 0x71};
    memcpy(p, fw, 4), p += 4;
    *p++ = v3 ? 0x24 : 0x08; /* ESW build (BCD) */
    *p++ = v3 ? 0x40 : 0x09;
}

tma_status app_factory_provision(struct sim_app *app)
{
    struct sim_obj *uid = app_obj_find(app, 0xE0C2), *cert = app_obj_find(app, 0xE0E0),
                   *key = app_obj_find(app, 0xE0F0), *pbs = app_obj_find(app, 0xE140);
    if (!uid || !cert || !key || !pbs) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
    }
    make_uid(app, uid->data);
    uid->used = 27;

    /* Platform binding secret: the host library's sample default (01..40),
     * so an unpaired host can open a shielded connection out of the box. */
    for (int i = 0; i < 64; i++) {
        pbs->data[i] = (uint8_t)(i + 1);
    }
    pbs->used = 64;

    struct pki p;
    struct drbg d;
    mbedtls_pk_context dev;
    mbedtls_pk_init(&dev);
    tma_status st = TMA_ERR(TMA_LAYER_SIM, TMA_C_CRYPTO);
    bool drbg_ok = false;
    uint8_t priv[32], der[1024];
    if (pki_build(&p) != 0) {
        goto out;
    }
    if (drbg_init(&d, app->cfg.seed, 2) != 0) {
        goto out;
    }
    drbg_ok = true;
    if (gen_key(&dev, MBEDTLS_ECP_DP_SECP256R1, &d) != 0 ||
        mbedtls_mpi_write_binary(&mbedtls_pk_ec(dev)->d, priv, sizeof priv) != 0) {
        goto out;
    }
    uint8_t serial[4];
    mbedtls_ctr_drbg_random(&d.ctx, serial, sizeof serial);
    serial[0] = (uint8_t)((serial[0] & 0x3F) | 0x01); /* positive, 4 bytes */
    int n = make_device_cert(&p, &dev, serial, der, sizeof der, &d);
    if (n <= 0 || (size_t)n + 9 > cert->max) {
        goto out;
    }
    size_t cl = (size_t)n;
    uint8_t *c = cert->data;
    c[0] = 0xC0;
    app_put_be16(c + 1, (uint16_t)(cl + 6));
    c[3] = 0, app_put_be16(c + 4, (uint16_t)(cl + 3));
    c[6] = 0, app_put_be16(c + 7, (uint16_t)cl);
    memcpy(c + 9, der, cl);
    cert->used = (uint16_t)(cl + 9);
    key->algo = 0x03;
    memcpy(key->data, priv, sizeof priv);
    key->used = sizeof priv;
    key->has_usage = true;
    key->usage = 0x01; /* Auth, as read from a factory-fresh V3 chip */
    st = TMA_OK;
out:
    mbedtls_platform_zeroize(priv, sizeof priv);
    mbedtls_pk_free(&dev);
    if (drbg_ok) {
        mbedtls_ctr_drbg_free(&d.ctx);
    }
    pki_free(&p);
    return st;
}

static tma_status write_pem(const char *dir, const char *name, const uint8_t *der, size_t n)
{
    char path[4096];
    unsigned char pem[4096];
    size_t olen = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                 der, n, pem, sizeof pem, &olen) != 0) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    size_t len = strlen((const char *)pem);
    bool ok = fwrite(pem, 1, len, f) == len;
    if (fclose(f) != 0 || !ok) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    return TMA_OK;
}

tma_status sim_app_export_factory_ca(struct sim_app *app, const char *dir)
{
    if (!app || !dir) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    struct pki p;
    if (pki_build(&p) != 0) {
        pki_free(&p);
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_CRYPTO);
    }
    tma_status st = write_pem(dir, "root.pem", p.root_der, p.root_len);
    if (st == TMA_OK) {
        st = write_pem(dir, "ca.pem", p.ca_der, p.ca_len);
    }
    pki_free(&p);
    /* the device certificate as it is in 0xE0E0 now (handy for tests) */
    struct sim_obj *cert = app_obj_find(app, 0xE0E0);
    if (st == TMA_OK && cert && cert->used > 9 && cert->data[0] == 0xC0) {
        st = write_pem(dir, "device.pem", cert->data + 9, cert->used - 9u);
    } else if (st == TMA_OK && cert && cert->used > 0 && cert->data[0] == 0x30) {
        st = write_pem(dir, "device.pem", cert->data, cert->used);
    }
    return st;
}
