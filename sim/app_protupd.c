/*
 * SetObjectProtected (spec 5.3, 9.7): integrity-protected update of data
 * objects, keys and metadata. The manifest is a COSE_Sign1 (strict CBOR)
 * signed with ECDSA/SHA-256 (alg -7) or RSASSA-PKCS1-v1_5/SHA-256 (alg -65700) by a trust anchor
 * certificate stored on the chip; the payload follows in 640-byte fragments chained by SHA-256.
 * Confidentiality (V3): the manifest's decrypt step names an UPDATSEC secret;
 * TLS PRF SHA-256 over it gives the AES-CCM-16-64-128 key and nonce prefix,
 * and each fragment's payload is decrypted before it is applied.
 *
 * The signature input is Infineon's Sig_structure, with "Signature1" as a
 * CBOR byte string (0x4A), not the text string (0x6A) of RFC 8152 4.4: what
 * Infineon's protected-update tool signs and its example data sets carry
 * (docs/decisions/sim-vendor-interop.md, P1).
 */
#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "app_int.h"
#include "sim_int.h"

#define FRAG_MAX 640u
#define FRAG_PAYLOAD 608u
#define CCM_TAG 8u

/* signature algorithms (spec 9.7): ECDSA with SHA-256, raw r||s; RSASSA-PKCS1-v1_5 with SHA-256
 * (Infineon's private value), a key-size signature */
#define ALG_ES256 (-7)
#define ALG_RSA_PKCS1_SHA256 (-65700)

/* ---- strict CBOR reader ---- */

struct cbor {
    const uint8_t *p, *end;
    bool bad;
};

enum {
    CB_UINT = 0,
    CB_NINT = 1,
    CB_BSTR = 2,
    CB_TSTR = 3,
    CB_ARRAY = 4,
    CB_MAP = 5,
    CB_SIMPLE = 7
};

/* Reads one head; returns the major type or -1. Only shortest-form
 * (deterministic) encodings of definite length are accepted. */
static int cb_head(struct cbor *c, uint64_t *val)
{
    if (c->bad || c->p >= c->end) {
        c->bad = true;
        return -1;
    }
    uint8_t b = *c->p++;
    int major = b >> 5;
    uint8_t ai = b & 0x1F;
    uint64_t v = 0;
    size_t n = 0;
    if (ai < 24) {
        v = ai;
    } else if (ai <= 27) {
        n = (size_t)1 << (ai - 24);
        if ((size_t)(c->end - c->p) < n) {
            c->bad = true;
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            v = v << 8 | *c->p++;
        }
        uint64_t min = ai == 24 ? 24 : ai == 25 ? 0x100 : ai == 26 ? 0x10000 : 0x100000000ull;
        if (v < min) {
            c->bad = true; /* not the shortest form */
            return -1;
        }
    } else {
        c->bad = true; /* indefinite length or reserved */
        return -1;
    }
    *val = v;
    return major;
}

static bool cb_uint(struct cbor *c, uint64_t *v)
{
    return cb_head(c, v) == CB_UINT;
}

/* integer (either sign) into *v */
static bool cb_int(struct cbor *c, int64_t *v)
{
    uint64_t u;
    int m = cb_head(c, &u);
    if ((m != CB_UINT && m != CB_NINT) || u > INT64_MAX) {
        c->bad = true;
        return false;
    }
    *v = m == CB_UINT ? (int64_t)u : -1 - (int64_t)u;
    return true;
}

static bool cb_bstr(struct cbor *c, const uint8_t **p, size_t *n)
{
    uint64_t l;
    if (cb_head(c, &l) != CB_BSTR || l > (uint64_t)(c->end - c->p)) {
        c->bad = true;
        return false;
    }
    *p = c->p;
    *n = (size_t)l;
    c->p += l;
    return true;
}

static bool cb_array(struct cbor *c, uint64_t want)
{
    uint64_t n;
    if (cb_head(c, &n) != CB_ARRAY || n != want) {
        c->bad = true;
        return false;
    }
    return true;
}

static bool cb_null(struct cbor *c)
{
    if (c->p < c->end && *c->p == 0xF6) {
        c->p++;
        return true;
    }
    return false;
}

/* ---- manifest ---- */

struct manifest {
    uint16_t ta;
    const uint8_t *prot, *body, *sig;
    size_t prot_len, body_len, sig_len;
    int64_t alg; /* ALG_ES256 or ALG_RSA_PKCS1_SHA256 */
    int64_t type;
    uint64_t size, version;
    uint64_t add1, add2;
    uint8_t digest[32];
    bool encrypted;
    uint16_t secret;             /* decrypt step: UPDATSEC object */
    uint8_t label_seed[32 + 64]; /* KDF label || seed */
    size_t label_seed_len;
    const uint8_t *component;
    size_t component_len;
    uint16_t target;
};

/* decrypt step = [1, COSE_Encrypt_Trust]; COSE_Encrypt_Trust = [bstr({1: 10}),
 * [[bstr({4: bstr2 secret OID, 1: -65720, 5: [bstr label, bstr seed]}), nil]], nil]
 * (Infineon's OPTIGA_Trust_M_V3_manifest.cddl; the keys of the recipient header in
 * any order, each once) */
static int parse_decrypt_step(struct cbor *b, struct manifest *m)
{
    uint64_t u;
    int64_t i;
    const uint8_t *p, *lab = NULL, *seed = NULL;
    size_t pl, labl = 0, seedl = 0;
    if (!cb_array(b, 2) || !cb_uint(b, &u) || u != 1 || !cb_array(b, 3) || !cb_bstr(b, &p, &pl)) {
        return E_MANIFEST;
    }
    struct cbor ph = {p, p + pl, false};
    if (cb_head(&ph, &u) != CB_MAP || u != 1 || !cb_uint(&ph, &u) || u != 1 || !cb_int(&ph, &i) ||
        ph.p != ph.end) {
        return E_MANIFEST;
    }
    if (i != 10) {
        return E_UNSUPPORTED; /* only AES-CCM-16-64-128 */
    }
    if (!cb_array(b, 1) || !cb_array(b, 2) || !cb_bstr(b, &p, &pl) || !cb_null(b) || !cb_null(b)) {
        return E_MANIFEST;
    }
    struct cbor r = {p, p + pl, false};
    if (cb_head(&r, &u) != CB_MAP || u != 3) {
        return E_MANIFEST;
    }
    unsigned seen = 0;
    int64_t kdf = 0;
    for (int k = 0; k < 3; k++) {
        if (!cb_uint(&r, &u) || u > 5 || (seen & (1u << u))) {
            return E_MANIFEST;
        }
        seen |= 1u << u;
        if (u == 4) {
            if (!cb_bstr(&r, &p, &pl) || pl != 2) {
                return E_MANIFEST;
            }
            m->secret = app_be16(p);
        } else if (u == 1) {
            if (!cb_int(&r, &kdf)) {
                return E_MANIFEST;
            }
        } else if (u == 5) {
            if (!cb_array(&r, 2) || !cb_bstr(&r, &lab, &labl) || !cb_bstr(&r, &seed, &seedl)) {
                return E_MANIFEST;
            }
        } else {
            return E_MANIFEST;
        }
    }
    if (r.p != r.end || labl > 32 || seedl < 16 || seedl > 64) {
        return E_MANIFEST;
    }
    if (kdf != -65720) {
        return E_UNSUPPORTED; /* only IFX_KDF-TLS12_PRF_SHA256 */
    }
    memcpy(m->label_seed, lab, labl);
    memcpy(m->label_seed + labl, seed, seedl);
    m->label_seed_len = labl + seedl;
    m->encrypted = true;
    return 0;
}

static int parse_manifest(const uint8_t *in, size_t n, struct manifest *m)
{
    struct cbor c = {in, in + n, false};
    uint64_t u;
    int64_t i;
    memset(m, 0, sizeof *m);
    /* COSE_Sign1 = [protected, unprotected, payload, signature] */
    if (!cb_array(&c, 4) || !cb_bstr(&c, &m->prot, &m->prot_len)) {
        return E_MANIFEST;
    }
    struct cbor p = {m->prot, m->prot + m->prot_len, false};
    if (cb_head(&p, &u) != CB_MAP || u != 1 || !cb_uint(&p, &u) || u != 1 || !cb_int(&p, &i) ||
        p.p != p.end) {
        return E_MANIFEST;
    }
    if (i != ALG_ES256 && i != ALG_RSA_PKCS1_SHA256) {
        return E_UNSUPPORTED;
    }
    m->alg = i;
    const uint8_t *ta;
    size_t tal;
    if (cb_head(&c, &u) != CB_MAP || u != 1 || !cb_uint(&c, &u) || u != 4 ||
        !cb_bstr(&c, &ta, &tal) || tal != 2) {
        return E_MANIFEST;
    }
    m->ta = app_be16(ta);
    if (!cb_bstr(&c, &m->body, &m->body_len) || !cb_bstr(&c, &m->sig, &m->sig_len) ||
        c.p != c.end) {
        return E_MANIFEST;
    }
    /* manifest = [1, null, null, resource, processors, target] */
    struct cbor b = {m->body, m->body + m->body_len, false};
    if (!cb_array(&b, 6) || !cb_uint(&b, &u) || u != 1 || !cb_null(&b) || !cb_null(&b)) {
        return E_MANIFEST;
    }
    /* resource = [type, size, version, [add1, add2]] */
    if (!cb_array(&b, 4) || !cb_int(&b, &m->type) || !cb_uint(&b, &m->size) ||
        !cb_uint(&b, &m->version) || !cb_array(&b, 2)) {
        return E_MANIFEST;
    }
    int64_t a1, a2;
    if (!cb_int(&b, &a1) || !cb_int(&b, &a2) || a1 < 0 || a2 < 0) {
        return E_MANIFEST;
    }
    m->add1 = (uint64_t)a1;
    m->add2 = (uint64_t)a2;
    if (m->type < -3 || m->type > -1 || m->size == 0 || m->size > 0xFFFF) {
        return E_MANIFEST;
    }
    if (m->version > 0x7FFF) {
        return E_MANIFEST; /* MSB of the payload version set */
    }
    /* processors = [[-1, bstr([41, bstr32])], null | decrypt] */
    const uint8_t *dg;
    size_t dgl;
    if (!cb_array(&b, 2) || !cb_array(&b, 2) || !cb_int(&b, &i) || i != -1 ||
        !cb_bstr(&b, &dg, &dgl)) {
        return E_MANIFEST;
    }
    struct cbor d = {dg, dg + dgl, false};
    const uint8_t *h;
    size_t hl;
    if (!cb_array(&d, 2) || !cb_uint(&d, &u) || u != 41 || !cb_bstr(&d, &h, &hl) || hl != 32 ||
        d.p != d.end) {
        return E_MANIFEST;
    }
    memcpy(m->digest, h, 32);
    if (!cb_null(&b)) {
        int e = parse_decrypt_step(&b, m);
        if (e) {
            return e;
        }
    }
    /* target = [component id, bstr2 OID] */
    const uint8_t *oid;
    size_t ol;
    if (!cb_array(&b, 2) || !cb_bstr(&b, &m->component, &m->component_len) ||
        !cb_bstr(&b, &oid, &ol) || ol != 2 || b.p != b.end) {
        return E_MANIFEST;
    }
    m->target = app_be16(oid);
    return 0;
}

/* Verify the COSE_Sign1 signature with the trust anchor certificate. */
static int verify_manifest(struct sim_app *app, const struct cmd *c, const struct manifest *m)
{
    struct sim_obj *ta = app_obj_find(app, m->ta);
    if (!ta || ta->kind != KIND_DATA) {
        return E_OID;
    }
    int e = app_ac_check(app, ta, ACC_EXE, c);
    if (e) {
        return e;
    }
    if (!ta->has_type || ta->type != 0x11 || ta->used == 0) {
        return E_ACCESS; /* only a trust anchor can authorize an update */
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse_der(&crt, ta->data, ta->used)) {
        mbedtls_x509_crt_free(&crt);
        return E_CERT_FORMAT;
    }
    e = 0;
    mbedtls_pk_type_t t = mbedtls_pk_get_type(&crt.pk);
    bool ec = t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA;
    if (m->alg == ALG_ES256 ? !ec : t != MBEDTLS_PK_RSA) {
        e = E_CERT_UNSUPPORTED; /* the trust anchor's key does not match the algorithm */
    }
    uint8_t hash[32];
    if (!e) {
        /* Sig_structure = [h'Signature1', protected, h'', payload]: the context a
         * byte string, as Infineon's tool signs it (header comment) */
        mbedtls_sha256_context h;
        mbedtls_sha256_init(&h);
        mbedtls_sha256_starts_ret(&h, 0);
        static const uint8_t pre[] = {0x84, 0x4A, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
        mbedtls_sha256_update_ret(&h, pre, sizeof pre);
        uint8_t hd[5];
        size_t hn;
        const uint8_t *parts[2] = {m->prot, m->body};
        size_t lens[2] = {m->prot_len, m->body_len};
        for (int k = 0; k < 2; k++) {
            size_t l = lens[k];
            if (l < 24) {
                hd[0] = (uint8_t)(0x40 | l), hn = 1;
            } else if (l < 0x100) {
                hd[0] = 0x58, hd[1] = (uint8_t)l, hn = 2;
            } else {
                hd[0] = 0x59, hd[1] = (uint8_t)(l >> 8), hd[2] = (uint8_t)l, hn = 3;
            }
            mbedtls_sha256_update_ret(&h, hd, hn);
            mbedtls_sha256_update_ret(&h, parts[k], l);
            if (k == 0) {
                static const uint8_t empty = 0x40;
                mbedtls_sha256_update_ret(&h, &empty, 1);
            }
        }
        mbedtls_sha256_finish_ret(&h, hash);
        mbedtls_sha256_free(&h);
    }
    if (!e && m->alg == ALG_RSA_PKCS1_SHA256) {
        if (m->sig_len != mbedtls_pk_get_len(&crt.pk) ||
            mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, sizeof hash, m->sig, m->sig_len)) {
            e = E_SIGNATURE;
        }
    } else if (!e) {
        mbedtls_ecp_keypair *kp = mbedtls_pk_ec(crt.pk);
        size_t fl = (kp->grp.pbits + 7) / 8;
        mbedtls_mpi r, s;
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&s);
        if (m->sig_len != 2 * fl || mbedtls_mpi_read_binary(&r, m->sig, fl) ||
            mbedtls_mpi_read_binary(&s, m->sig + fl, fl) ||
            mbedtls_ecdsa_verify(&kp->grp, hash, sizeof hash, &kp->Q, &r, &s)) {
            e = E_SIGNATURE;
        }
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&s);
    }
    mbedtls_x509_crt_free(&crt);
    return e;
}

static bool not_updatable(uint16_t oid)
{
    switch (oid) {
    case 0xE0C0:
    case 0xF1C0:
    case 0xE0C1:
    case 0xF1C1:
    case 0xE0C2:
    case 0xE0C3:
    case 0xE0C4:
    case 0xE0C5:
    case 0xF1C2:
    case 0xE0C6:
        return true;
    default:
        return false;
    }
}

/* The decrypt step's secret: an UPDATSEC data object whose Execute AC the
 * command meets; 0 or the error. */
static int content_secret_check(struct sim_app *app, const struct cmd *c, const struct manifest *m)
{
    struct sim_obj *s = app_obj_find(app, m->secret);
    if (!s || s->kind != KIND_DATA) {
        return E_OID;
    }
    if (!s->has_type || s->type != 0x23 || s->used == 0 || s->used > 64) {
        return E_ACCESS;
    }
    return app_ac_check(app, s, ACC_EXE, c);
}

/* TLS PRF SHA-256 (secret, label || seed) gives 27 bytes = AES-128 key ||
 * 11-byte nonce prefix (spec 9.7), straight into the sequence's state: the
 * derivation comes after every check of start(), so no refused manifest
 * leaves the key on the stack (review REV16: it was derived before the
 * target's checks, and each refusal after it returned with the key and
 * nonce prefix in a local buffer). */
static int derive_content_key(struct sim_app *app, const struct manifest *m, struct sim_protupd *pu)
{
    const struct sim_obj *s = app_obj_find(app, m->secret);
    uint8_t kdf[27];
    int e = sim_tls_prf_sha256(s->data, s->used, "", m->label_seed, m->label_seed_len, kdf, 27)
                ? E_INTERNAL
                : 0;
    memcpy(pu->cek, kdf, 16);
    memcpy(pu->nonce, kdf + 16, 11);
    mbedtls_platform_zeroize(kdf, sizeof kdf);
    return e;
}

static int start(struct sim_app *app, const struct cmd *c, const uint8_t *v, size_t n)
{
    struct manifest m;
    int e = parse_manifest(v, n, &m);
    if (e) {
        return e;
    }
    if ((m.type != -1 || m.encrypted) && app->cfg.version < 3) {
        return E_UNSUPPORTED; /* V1: data objects only, integrity only */
    }
    if (m.component_len != 0) {
        struct sim_obj *uid = app_obj_find(app, 0xE0C2);
        if (m.component_len != 25 || !uid || memcmp(uid->data, m.component, 25) != 0) {
            return E_MANIFEST; /* addressed to another chip */
        }
    }
    if (m.target == m.ta || not_updatable(m.target) || app_oid_is_session(m.target)) {
        return E_ACCESS;
    }
    struct sim_obj *o = app_obj_find(app, m.target);
    if (!o) {
        return E_OID;
    }
    e = verify_manifest(app, c, &m);
    if (e) {
        return e;
    }
    /* the manifest now stands for Int(TA), and with a decrypt step for
     * Conf(secret): evaluate the target's AC with it */
    struct cmd pc = *c;
    pc.int_oid = m.ta;
    if (m.encrypted) {
        e = content_secret_check(app, c, &m);
        if (e) {
            return e;
        }
        pc.conf_oid = m.secret;
    }
    if (m.type == -2) {
        if (!o->has_reset) {
            return E_ACCESS; /* a metadata update needs the reset-type tag F0 */
        }
        e = app_ac_check(app, o, ACC_MUPD, &pc);
        if (!e && (m.add1 > 2 || m.size > META_MAX)) {
            e = E_MANIFEST;
        }
    } else {
        e = app_ac_check(app, o, ACC_CHANGE, &pc);
    }
    if (e) {
        return e;
    }
    if (m.type == -1) {
        if (o->kind != KIND_DATA) {
            return E_ACCESS;
        }
        if ((m.add2 != 1 && m.add2 != 2) || m.add1 + m.size > o->max) {
            return m.add2 != 1 && m.add2 != 2 ? E_MANIFEST : E_BOUNDARY;
        }
    } else if (m.type == -3) {
        if (o->kind == KIND_DATA) {
            return E_ACCESS;
        }
        if (m.add1 > 0xFF) {
            return E_MANIFEST; /* a key algorithm is one byte: 0x103 is not P-256 */
        }
        bool aes = m.add1 >= 0x81 && m.add1 <= 0x83;
        bool ecc = app_ecc_field_len((uint8_t)m.add1) != 0;
        bool rsa = m.add1 == 0x41 || m.add1 == 0x42;
        if ((o->kind == KIND_AES && !aes) || (o->kind == KIND_ECC && !ecc) ||
            (o->kind == KIND_RSA && !rsa) || m.add2 == 0 || (m.add2 & ~0x33ull) || m.size > 1100) {
            return E_MANIFEST;
        }
    }
    /* version: strictly newer, or a retry of an interrupted update */
    uint16_t cur = o->has_version ? o->version : 0;
    bool retry = (cur & 0x8000) && (cur & 0x7FFF) == m.version;
    if (!retry && m.version <= (cur & 0x7FFF)) {
        return E_PAYLOAD_VER;
    }
    if ((cur & 0x8000) && !retry) {
        return E_PAYLOAD_VER; /* after a failed update only the same version */
    }
    struct sim_protupd *pu = &app->pu;
    mbedtls_platform_zeroize(pu, sizeof *pu);
    pu->active = true;
    pu->type = (int8_t)m.type;
    pu->target = m.target;
    pu->ta = m.ta;
    pu->version = (uint16_t)m.version;
    pu->size = (uint32_t)m.size;
    memcpy(pu->next_hash, m.digest, 32);
    pu->write_type = (uint8_t)m.add2;
    pu->offset = (uint16_t)m.add1;
    pu->key_algo = (uint8_t)m.add1;
    pu->key_usage = (uint8_t)m.add2;
    pu->content_reset = (uint8_t)m.add1;
    if (m.encrypted) {
        pu->encrypted = true;
        e = derive_content_key(app, &m, pu);
        if (e) {
            mbedtls_platform_zeroize(pu, sizeof *pu);
            return e;
        }
    }
    return 0;
}

/* RSA key payload: 01 LL LL d | 02 LL LL n | 03 00 04 e */
static int apply_rsa_key(struct sim_app *app, struct sim_obj *o)
{
    struct sim_protupd *pu = &app->pu;
    const uint8_t *v[3] = {NULL, NULL, NULL};
    size_t l[3] = {0, 0, 0};
    size_t i = 0;
    while (i < pu->size) {
        if (pu->size - i < 3) {
            return E_MANIFEST;
        }
        uint8_t tag = pu->buf[i];
        size_t len = app_be16(pu->buf + i + 1);
        if (tag < 1 || tag > 3 || v[tag - 1] || len > pu->size - i - 3) {
            return E_MANIFEST;
        }
        v[tag - 1] = pu->buf + i + 3;
        l[tag - 1] = len;
        i += 3 + len;
    }
    size_t nb = pu->key_algo == 0x41 ? 128 : 256;
    if (!v[0] || !v[1] || !v[2] || l[0] != nb || l[1] != nb || l[2] != 4) {
        return E_MANIFEST;
    }
    uint8_t blob[KEYBLOB_MAX];
    size_t bl = 0;
    int e = app_rsa_import(app, v[1], l[1], v[2], l[2], v[0], l[0], blob, &bl);
    if (!e) {
        e = app_obj_key_store(app, o, pu->key_algo, pu->key_usage, blob, bl);
    }
    mbedtls_platform_zeroize(blob, sizeof blob);
    return e;
}

static int apply_key(struct sim_app *app, struct sim_obj *o)
{
    struct sim_protupd *pu = &app->pu;
    if (o->kind == KIND_RSA) {
        return apply_rsa_key(app, o);
    }
    /* key payload: 01 LL LL private [02 LL LL public] */
    if (pu->size < 3 || pu->buf[0] != 0x01) {
        return E_MANIFEST;
    }
    size_t l = app_be16(pu->buf + 1);
    if (3 + l > pu->size) {
        return E_MANIFEST;
    }
    size_t rest = pu->size - 3 - l;
    if (rest != 0 &&
        (rest < 3 || pu->buf[3 + l] != 0x02 || 3 + (size_t)app_be16(pu->buf + 4 + l) != rest)) {
        return E_MANIFEST;
    }
    if (o->kind == KIND_AES) {
        size_t kl = pu->key_algo == 0x81 ? 16 : pu->key_algo == 0x82 ? 24 : 32;
        if (l != kl) {
            return E_MANIFEST;
        }
    } else {
        size_t fl = app_ecc_field_len(pu->key_algo);
        if (l != fl) {
            return E_MANIFEST;
        }
        /* the private scalar must be valid for the curve */
        uint8_t pub[160];
        size_t pl;
        if (app_ecc_public_bitstring(pu->key_algo, pu->buf + 3, l, pub, sizeof pub, &pl)) {
            return E_MANIFEST;
        }
        mbedtls_ecp_group grp;
        mbedtls_mpi d;
        mbedtls_ecp_group_init(&grp);
        mbedtls_mpi_init(&d);
        int bad =
            mbedtls_ecp_group_load(&grp, (mbedtls_ecp_group_id)app_ecc_group_id(pu->key_algo)) ||
            mbedtls_mpi_read_binary(&d, pu->buf + 3, l) || mbedtls_ecp_check_privkey(&grp, &d);
        mbedtls_mpi_free(&d);
        mbedtls_ecp_group_free(&grp);
        if (bad) {
            return E_MANIFEST;
        }
    }
    return app_obj_key_store(app, o, pu->key_algo, pu->key_usage, pu->buf + 3, l);
}

static int apply_metadata(struct sim_app *app, struct sim_obj *o, const struct cmd *c)
{
    struct sim_protupd *pu = &app->pu;
    struct cmd pc = *c;
    pc.int_oid = pu->ta;
    uint8_t reset = pu->content_reset;
    uint8_t f0 = o->has_reset ? o->reset : 0;
    int e = app_meta_write(app, o, pu->buf, pu->size, &pc);
    if (e) {
        return e;
    }
    /* content reset: 0 = as tag F0 says, 1 = zeros, 2 = random */
    uint8_t how = reset == 1 ? 0x10 : reset == 2 ? 0x20 : (uint8_t)(f0 & 0xF0);
    if (how == 0x10 || how == 0x20) {
        size_t n = o->kind == KIND_DATA ? o->max : o->used;
        if (how == 0x20) {
            app_random(app, o->data, n);
        } else {
            memset(o->data, 0, n);
        }
        o->used = 0;
        if (o->kind != KIND_DATA) {
            o->algo = 0; /* no key until a new one is generated or written */
        }
    }
    /* the F0 low nibble gives a new LcsO unless the payload set one */
    bool payload_lcso = false;
    for (size_t i = 2; i + 1 < pu->size; i += 2u + pu->buf[i + 1]) {
        if (pu->buf[i] == 0xC0) {
            payload_lcso = true;
        }
    }
    if (!payload_lcso && (f0 & 0x0F)) {
        o->lcso = f0 & 0x0F;
    }
    return 0;
}

/* AES-CCM-16-64-128 of one fragment: nonce = prefix || fragment number (from 1),
 * AD = payload version (2) || offset of this fragment's payload (3) || payload
 * size (3), big-endian (spec 9.7) */
static int decrypt_fragment(const struct sim_protupd *pu, const uint8_t *ct, size_t len,
                            uint8_t *pt)
{
    uint8_t nonce[13], ad[8];
    unsigned fn = pu->frag_no + 1u;
    memcpy(nonce, pu->nonce, 11);
    nonce[11] = (uint8_t)(fn >> 8);
    nonce[12] = (uint8_t)fn;
    ad[0] = (uint8_t)(pu->version >> 8);
    ad[1] = (uint8_t)pu->version;
    ad[2] = (uint8_t)(pu->received >> 16);
    ad[3] = (uint8_t)(pu->received >> 8);
    ad[4] = (uint8_t)pu->received;
    ad[5] = (uint8_t)(pu->size >> 16);
    ad[6] = (uint8_t)(pu->size >> 8);
    ad[7] = (uint8_t)pu->size;
    mbedtls_ccm_context ccm;
    mbedtls_ccm_init(&ccm);
    int rc = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, pu->cek, 128);
    if (!rc) {
        rc = mbedtls_ccm_auth_decrypt(&ccm, len, nonce, sizeof nonce, ad, sizeof ad, ct, pt,
                                      ct + len, CCM_TAG);
    }
    mbedtls_ccm_free(&ccm);
    if (rc) {
        mbedtls_platform_zeroize(pt, len);
        return E_DECRYPT;
    }
    return 0;
}

int app_cmd_set_object_protected(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    (void)r;
    struct sim_protupd *pu = &app->pu;
    if (c->param != 0x01) {
        return E_PARAM;
    }
    if (c->in_len < 3 || app_be16(c->in + 1) != c->in_len - 3) {
        return E_LENGTH;
    }
    uint8_t tag = c->in[0];
    const uint8_t *v = c->in + 3;
    size_t n = c->in_len - 3;
    if (tag == 0x30) {
        mbedtls_platform_zeroize(pu, sizeof *pu); /* a start aborts any unfinished sequence */
        return start(app, c, v, n);
    }
    if (tag != 0x31 && tag != 0x32) {
        return E_DATA;
    }
    if (!pu->active) {
        return E_SEQUENCE;
    }
    struct sim_obj *o = app_obj_find(app, pu->target);
    bool final = tag == 0x31;
    int e = 0;
    uint8_t h[32];
    size_t payload = final ? n : FRAG_PAYLOAD;
    if (!o || (final ? (n < 1 || n > FRAG_MAX) : n != FRAG_MAX)) {
        e = E_LENGTH;
        goto fail;
    }
    mbedtls_sha256_ret(v, n, h, 0);
    if (memcmp(h, pu->next_hash, 32) != 0) {
        e = E_INTEGRITY; /* fragment does not match the signed digest chain */
        goto fail;
    }
    uint8_t pt[FRAG_PAYLOAD];
    if (pu->encrypted) {
        /* payload part = ciphertext || 8-byte CCM tag */
        if (payload <= CCM_TAG || payload > FRAG_PAYLOAD) {
            e = E_LENGTH;
            goto fail;
        }
        payload -= CCM_TAG;
    }
    if ((uint64_t)pu->received + payload > pu->size ||
        (final && pu->received + payload != pu->size)) {
        e = E_MANIFEST;
        goto fail;
    }
    if (pu->encrypted) {
        e = decrypt_fragment(pu, v, payload, pt);
        if (e) {
            app_secmon_event(app, c->now_us); /* a decryption failure is a security event */
            goto fail;
        }
        v = pt;
    }
    if (!final) {
        memcpy(pu->next_hash, c->in + 3 + FRAG_PAYLOAD, 32);
    }
    if (pu->type == -1) {
        if (pu->received == 0) {
            /* the version is marked invalid while the object is being rewritten */
            o->has_version = true;
            o->version = (uint16_t)(pu->version | 0x8000);
            if (pu->write_type == 2) {
                memset(o->data, 0, o->max);
                o->used = 0;
            }
        }
        size_t at = pu->offset + pu->received;
        memcpy(o->data + at, v, payload);
        if (at + payload > o->used) {
            o->used = (uint16_t)(at + payload);
        }
        app->dirty = true;
    } else {
        if (pu->received + payload > sizeof pu->buf) {
            e = E_MANIFEST;
            goto fail;
        }
        memcpy(pu->buf + pu->received, v, payload);
    }
    pu->received += (uint32_t)payload;
    pu->frag_no++;
    mbedtls_platform_zeroize(pt, sizeof pt);
    if (!final) {
        return 0;
    }
    if (pu->type == -3) {
        e = apply_key(app, o);
    } else if (pu->type == -2) {
        e = apply_metadata(app, o, c);
    }
    if (e) {
        goto fail;
    }
    o->has_version = true;
    o->version = pu->version;
    app->dirty = true;
    mbedtls_platform_zeroize(pu, sizeof *pu);
    return 0;
fail:
    mbedtls_platform_zeroize(pu, sizeof *pu);
    return e;
}
