/*
 * Crypto commands of the simulated chip (spec section 5.3, encodings 9.4):
 * GetRandom, CalcHash, CalcSign, VerifySign, GenKeyPair, GenSymKey, CalcSSec,
 * DeriveKey, EncryptAsym, DecryptAsym, EncryptSym, DecryptSym.
 *
 * Every handler validates all input before it changes any state, so a
 * failing command leaves the chip as it was (except where the chip itself
 * documents a side effect, e.g. a consumed authorization random).
 */
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/cmac.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "app_int.h"

#define MAX_TLV 8

/* ---- small helpers ---- */

static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= (uint8_t)(a[i] ^ b[i]);
    }
    return d == 0;
}

static size_t der_len(uint8_t *out, size_t n)
{
    if (n < 0x80) {
        out[0] = (uint8_t)n;
        return 1;
    }
    if (n < 0x100) {
        out[0] = 0x81;
        out[1] = (uint8_t)n;
        return 2;
    }
    out[0] = 0x82;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    return 3;
}

int app_ecc_group_id(uint8_t algo)
{
    switch (algo) {
    case 0x03:
        return MBEDTLS_ECP_DP_SECP256R1;
    case 0x04:
        return MBEDTLS_ECP_DP_SECP384R1;
    case 0x05:
        return MBEDTLS_ECP_DP_SECP521R1;
    case 0x13:
        return MBEDTLS_ECP_DP_BP256R1;
    case 0x15:
        return MBEDTLS_ECP_DP_BP384R1;
    case 0x16:
        return MBEDTLS_ECP_DP_BP512R1;
    default:
        return 0;
    }
}

size_t app_ecc_field_len(uint8_t algo)
{
    switch (algo) {
    case 0x03:
    case 0x13:
        return 32;
    case 0x04:
    case 0x15:
        return 48;
    case 0x05:
        return 66;
    case 0x16:
        return 64;
    default:
        return 0;
    }
}

static bool algo_supported(const struct sim_app *app, uint8_t algo)
{
    if (algo == 0x03 || algo == 0x04 || algo == 0x41 || algo == 0x42) {
        return true;
    }
    return app->cfg.version >= 3 && app_ecc_field_len(algo) != 0;
}

static int load_group(mbedtls_ecp_group *grp, uint8_t algo)
{
    int id = app_ecc_group_id(algo);
    if (!id || mbedtls_ecp_group_load(grp, (mbedtls_ecp_group_id)id) != 0) {
        return E_INTERNAL;
    }
    return 0;
}

/* BIT STRING `03 LL 00 04 X Y` of point Q. */
static int point_bitstring(const mbedtls_ecp_group *grp, const mbedtls_ecp_point *q, uint8_t *out,
                           size_t cap, size_t *out_len)
{
    uint8_t pt[1 + 2 * 66];
    size_t n = 0;
    if (mbedtls_ecp_point_write_binary(grp, q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, pt, sizeof pt)) {
        return E_INTERNAL;
    }
    uint8_t h[4];
    h[0] = 0x03;
    size_t hl = 1 + der_len(h + 1, n + 1);
    if (hl + 1 + n > cap) {
        return E_MEMORY;
    }
    memcpy(out, h, hl);
    out[hl] = 0x00;
    memcpy(out + hl + 1, pt, n);
    *out_len = hl + 1 + n;
    return 0;
}

int app_ecc_public_bitstring(uint8_t algo, const uint8_t *priv, size_t priv_len, uint8_t *out,
                             size_t cap, size_t *out_len)
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    int e = load_group(&grp, algo);
    if (!e && (mbedtls_mpi_read_binary(&d, priv, priv_len) ||
               mbedtls_ecp_mul(&grp, &q, &d, &grp.G, NULL, NULL))) {
        e = E_INTERNAL;
    }
    if (!e) {
        e = point_bitstring(&grp, &q, out, cap, out_len);
    }
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return e;
}

/* Parse BIT STRING `03 LL 00 04 X Y` into q on grp (validated). */
static int parse_point(const mbedtls_ecp_group *grp, uint8_t algo, const uint8_t *p, size_t n,
                       mbedtls_ecp_point *q)
{
    unsigned char *c = (unsigned char *)(uintptr_t)p;
    const unsigned char *end = p + n;
    size_t l;
    if (mbedtls_asn1_get_tag(&c, end, &l, MBEDTLS_ASN1_BIT_STRING) || c + l != end || l < 2 ||
        c[0] != 0x00 || c[1] != 0x04 || l - 1 != 1 + 2 * app_ecc_field_len(algo)) {
        return E_DATA;
    }
    if (mbedtls_ecp_point_read_binary(grp, q, c + 1, l - 1) || mbedtls_ecp_check_pubkey(grp, q)) {
        return E_DATA;
    }
    return 0;
}

/* RSA blob layout in a key slot: nbytes(2) n e(4) d p q */
static int rsa_to_blob(mbedtls_rsa_context *rsa, uint8_t *blob, size_t *len)
{
    size_t nb = mbedtls_rsa_get_len(rsa);
    uint8_t *p = blob;
    app_put_be16(p, (uint16_t)nb);
    p += 2;
    if (mbedtls_rsa_export_raw(rsa, p, nb, p + 2 * nb + 4, nb / 2, p + 2 * nb + 4 + nb / 2, nb / 2,
                               p + nb + 4, nb, p + nb, 4)) {
        return E_INTERNAL;
    }
    *len = 2 + nb + 4 + nb + nb;
    return 0;
}

int app_rsa_import(struct sim_app *app, const uint8_t *n, size_t nl, const uint8_t *e, size_t el,
                   const uint8_t *d, size_t dl, uint8_t *blob, size_t *blob_len)
{
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    int r = E_MANIFEST;
    /* the primes are deduced from (n, e, d); the key must be consistent */
    if (mbedtls_rsa_import_raw(&rsa, n, nl, NULL, 0, NULL, 0, d, dl, e, el) == 0 &&
        mbedtls_rsa_complete(&rsa) == 0 && mbedtls_rsa_check_privkey(&rsa) == 0 &&
        mbedtls_rsa_get_len(&rsa) == nl) {
        r = rsa_to_blob(&rsa, blob, blob_len);
    }
    (void)app;
    mbedtls_rsa_free(&rsa);
    return r;
}

static int rsa_from_blob(mbedtls_rsa_context *rsa, const uint8_t *blob, size_t len)
{
    if (len < 2) {
        return E_SEQUENCE;
    }
    size_t nb = app_be16(blob);
    if (len != 2 + 3 * nb + 4) {
        return E_INTERNAL;
    }
    const uint8_t *p = blob + 2;
    if (mbedtls_rsa_import_raw(rsa, p, nb, p + 2 * nb + 4, nb / 2, p + 2 * nb + 4 + nb / 2, nb / 2,
                               p + nb + 4, nb, p + nb, 4) ||
        mbedtls_rsa_complete(rsa)) {
        return E_INTERNAL;
    }
    return 0;
}

/* RSA public key BIT STRING: 03 LL 00 30 LL 02 LL 00 n 02 03 01 00 01 */
static int rsa_pub_bitstring(mbedtls_rsa_context *rsa, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t nb = mbedtls_rsa_get_len(rsa);
    uint8_t n[256 + 1], e[4];
    n[0] = 0;
    if (nb > 256 || mbedtls_rsa_export_raw(rsa, n + 1, nb, NULL, 0, NULL, 0, NULL, 0, e, 4)) {
        return E_INTERNAL;
    }
    size_t eoff = 0;
    while (eoff < 3 && e[eoff] == 0) {
        eoff++;
    }
    size_t elen = 4 - eoff;
    size_t noff = (n[1] & 0x80) ? 0 : 1; /* keep the 00 only if needed */
    size_t nlen = nb + 1 - noff;
    uint8_t ni[4], ei[4], sq[4], bs[4];
    size_t nil = der_len(ni, nlen), eil = der_len(ei, elen);
    size_t seq_body = 1 + nil + nlen + 1 + eil + elen;
    size_t sql = der_len(sq, seq_body);
    size_t bs_body = 1 + 1 + sql + seq_body;
    size_t bsl = der_len(bs, bs_body);
    size_t total = 1 + bsl + bs_body;
    if (total > cap) {
        return E_MEMORY;
    }
    uint8_t *p = out;
    *p++ = 0x03;
    memcpy(p, bs, bsl), p += bsl;
    *p++ = 0x00;
    *p++ = 0x30;
    memcpy(p, sq, sql), p += sql;
    *p++ = 0x02;
    memcpy(p, ni, nil), p += nil;
    memcpy(p, n + noff, nlen), p += nlen;
    *p++ = 0x02;
    memcpy(p, ei, eil), p += eil;
    memcpy(p, e + eoff, elen), p += elen;
    *out_len = (size_t)(p - out);
    return 0;
}

/* Parse an RSA public key BIT STRING into rsa. */
static int rsa_parse_pub(mbedtls_rsa_context *rsa, const uint8_t *p, size_t n, size_t want_bits)
{
    unsigned char *c = (unsigned char *)(uintptr_t)p;
    const unsigned char *end = p + n;
    size_t l;
    mbedtls_mpi N, E;
    mbedtls_mpi_init(&N);
    mbedtls_mpi_init(&E);
    int e = E_DATA;
    if (mbedtls_asn1_get_tag(&c, end, &l, MBEDTLS_ASN1_BIT_STRING) || c + l != end || l < 1 ||
        *c != 0) {
        goto out;
    }
    c++;
    if (mbedtls_asn1_get_tag(&c, end, &l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        c + l != end || mbedtls_asn1_get_mpi(&c, end, &N) || mbedtls_asn1_get_mpi(&c, end, &E) ||
        c != end) {
        goto out;
    }
    if (mbedtls_mpi_bitlen(&N) != want_bits || mbedtls_rsa_import(rsa, &N, NULL, NULL, NULL, &E) ||
        mbedtls_rsa_complete(rsa) || mbedtls_rsa_check_pubkey(rsa)) {
        goto out;
    }
    e = 0;
out:
    mbedtls_mpi_free(&N);
    mbedtls_mpi_free(&E);
    return e;
}

/* ---- key access ---- */

struct key {
    bool is_session;
    struct sim_obj *obj;
    struct sim_session *sess;
    uint8_t algo;
    uint8_t usage;
    const uint8_t *priv;
    size_t priv_len;
};

/* Look up a private key for use (EXE AC checked for persistent keys). */
static int key_for_use(struct sim_app *app, const struct cmd *c, uint16_t oid, struct key *k)
{
    memset(k, 0, sizeof *k);
    if (app_oid_is_session(oid)) {
        struct sim_session *s = app_session_get(app, oid);
        if (s->kind != SESS_ECC_KEY) {
            return E_SEQUENCE;
        }
        k->is_session = true;
        k->sess = s;
        k->algo = s->algo;
        app->last_algo = s->algo;
        k->usage = s->usage;
        k->priv = s->data;
        k->priv_len = s->len;
        return 0;
    }
    struct sim_obj *o = app_obj_find(app, oid);
    if (!o) {
        return E_OID;
    }
    if (o->kind != KIND_ECC && o->kind != KIND_RSA) {
        return E_OID;
    }
    int e = app_ac_check(app, o, ACC_EXE, c);
    if (e) {
        return e;
    }
    if (o->used == 0 || !o->algo) {
        return E_SEQUENCE; /* no key generated yet */
    }
    k->obj = o;
    k->algo = o->algo;
    app->last_algo = o->algo;
    k->usage = o->has_usage ? o->usage : 0;
    k->priv = o->data;
    k->priv_len = o->used;
    return 0;
}

/* ---- GetRandom ---- */

int app_cmd_get_random(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param != 0x00 && c->param != 0x01 && c->param != 0x04) {
        return E_PARAM;
    }
    if (c->in_len < 2) {
        return E_LENGTH;
    }
    uint16_t n = app_be16(c->in);
    if (n < 8 || n > 256) {
        return E_DATA;
    }
    struct sim_session *s = NULL;
    const uint8_t *prefix = NULL;
    size_t plen = 0;
    if (c->in_len == 2) {
        if (c->param == 0x04) {
            return E_DATA; /* pre-master secret needs a session */
        }
    } else {
        if (c->in_len < 7) {
            return E_LENGTH;
        }
        if (c->param != 0x04 && app->cfg.version < 3) {
            return E_DATA;
        }
        uint16_t oid = app_be16(c->in + 2);
        if (!app_oid_is_session(oid)) {
            return E_OID;
        }
        if (c->in[4] != 0x41 || app_be16(c->in + 5) != c->in_len - 7) {
            return E_DATA;
        }
        s = app_session_get(app, oid);
        prefix = c->in + 7;
        plen = c->in_len - 7;
        size_t limit = app->cfg.version >= 3 ? 66 : 48;
        if (plen + n > limit) {
            return E_DATA;
        }
    }
    uint8_t rnd[256];
    if (app_random(app, rnd, n)) {
        return E_INTERNAL;
    }
    int e = 0;
    if (c->param != 0x04) {
        e = app_rsp_put(r, rnd, n);
    }
    if (!e && s) {
        mbedtls_platform_zeroize(s, sizeof *s);
        s->kind = c->param == 0x04 ? SESS_SECRET : SESS_RANDOM;
        memcpy(s->data, prefix, plen);
        memcpy(s->data + plen, rnd, n);
        s->len = (uint8_t)(plen + n);
    }
    mbedtls_platform_zeroize(rnd, sizeof rnd);
    return e;
}

/* ---- CalcHash ---- */

static void ctx_mac(const struct sim_app *app, const uint8_t *ctx, uint8_t *mac)
{
    uint8_t key[32], seed[8];
    for (int i = 0; i < 8; i++) {
        seed[i] = (uint8_t)(app->cfg.seed >> (56 - 8 * i));
    }
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    mbedtls_sha256_starts_ret(&h, 0);
    mbedtls_sha256_update_ret(&h, (const uint8_t *)"hash context key", 16);
    mbedtls_sha256_update_ret(&h, seed, sizeof seed);
    mbedtls_sha256_finish_ret(&h, key);
    mbedtls_sha256_free(&h);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_hmac(md, key, sizeof key, ctx, HASH_CTX_LEN - 32, mac);
    mbedtls_platform_zeroize(key, sizeof key);
}

/* Opaque 209-byte context: 01 | total(8) | state(32) | buffer(64) | 0.. | MAC(32) */
static void hash_export(const struct sim_app *app, const mbedtls_sha256_context *h, uint8_t *ctx)
{
    memset(ctx, 0, HASH_CTX_LEN);
    ctx[0] = 0x01;
    app_put_be32(ctx + 1, h->total[1]);
    app_put_be32(ctx + 5, h->total[0]);
    for (int i = 0; i < 8; i++) {
        app_put_be32(ctx + 9 + 4 * i, h->state[i]);
    }
    memcpy(ctx + 41, h->buffer, 64);
    ctx_mac(app, ctx, ctx + HASH_CTX_LEN - 32);
}

static int hash_import(const struct sim_app *app, const uint8_t *ctx, mbedtls_sha256_context *h)
{
    uint8_t mac[32];
    ctx_mac(app, ctx, mac);
    if (ctx[0] != 0x01 || !ct_equal(mac, ctx + HASH_CTX_LEN - 32, 32)) {
        return E_INTEGRITY;
    }
    mbedtls_sha256_init(h);
    mbedtls_sha256_starts_ret(h, 0);
    h->total[1] = app_be32(ctx + 1);
    h->total[0] = app_be32(ctx + 5);
    for (int i = 0; i < 8; i++) {
        h->state[i] = app_be32(ctx + 9 + 4 * i);
    }
    memcpy(h->buffer, ctx + 41, 64);
    return 0;
}

int app_cmd_calc_hash(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param != 0xE2) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *data = NULL, *imp = NULL, *exp = NULL;
    for (int i = 0; i < nt; i++) {
        uint8_t tg = t[i].tag;
        if (tg == 0x06) {
            imp = &t[i];
        } else if (tg == 0x07) {
            exp = &t[i];
        } else if ((tg <= 0x05 || (tg >= 0x10 && tg <= 0x15 && tg != 0x14)) && !data) {
            data = &t[i];
        } else {
            return E_DATA;
        }
    }
    if (!data) {
        return E_DATA;
    }
    uint8_t y = data->tag & 0x0F;
    if (y == 0x04) {
        if (data->len != 0 || imp || exp) {
            return E_DATA;
        }
        app->hash_active = false;
        mbedtls_platform_zeroize(app->hash_ctx, sizeof app->hash_ctx);
        return 0;
    }
    bool start = y == 0 || y == 1, final = y == 1 || y == 3 || y == 5;
    if (y == 1 && data->tag == 0x01 && data->len == 0) {
        return E_DATA; /* SRM CalcHash fn. 57: start&final needs message bytes */
    }
    if (exp && (exp->len != 0 || final)) {
        return E_DATA;
    }
    if (imp && (start || imp->len != HASH_CTX_LEN)) {
        return E_DATA;
    }
    /* the message */
    const uint8_t *msg = data->v;
    size_t mlen = data->len;
    if (data->tag & 0x10) {
        if (data->len != 6) {
            return E_LENGTH;
        }
        uint16_t oid = app_be16(data->v), off = app_be16(data->v + 2), len = app_be16(data->v + 4);
        struct sim_obj *o = app_obj_find(app, oid);
        if (!o) {
            return app_oid_is_session(oid) ? E_ACCESS : E_OID;
        }
        if (o->kind != KIND_DATA) {
            return E_ACCESS;
        }
        int e = app_ac_check(app, o, ACC_READ, c);
        if (e) {
            return e;
        }
        if ((size_t)off + len > o->used) {
            return E_BOUNDARY;
        }
        msg = o->data + off;
        mlen = len;
    }
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    int e = 0;
    if (start) {
        mbedtls_sha256_starts_ret(&h, 0);
    } else if (imp) {
        e = hash_import(app, imp->v, &h);
    } else if (app->hash_active) {
        e = hash_import(app, app->hash_ctx, &h);
    } else {
        e = E_SEQUENCE;
    }
    if (e) {
        if (!start) {
            app->hash_active = false;
        }
        goto out;
    }
    mbedtls_sha256_update_ret(&h, msg, mlen);
    if (final) {
        uint8_t d[32];
        mbedtls_sha256_context keep = h;
        mbedtls_sha256_finish_ret(&h, d);
        e = app_rsp_tlv(r, 0x01, d, sizeof d);
        if (e) {
            goto out;
        }
        if (y == 5) {
            hash_export(app, &keep, app->hash_ctx);
            app->hash_active = true;
        } else {
            app->hash_active = false;
        }
        mbedtls_sha256_free(&keep);
    } else {
        hash_export(app, &h, app->hash_ctx);
        app->hash_active = true;
        if (exp) {
            e = app_rsp_tlv(r, 0x06, app->hash_ctx, HASH_CTX_LEN);
        }
    }
out:
    mbedtls_sha256_free(&h);
    return e;
}

/* ---- CalcSign ---- */

static mbedtls_md_type_t rsa_md(uint8_t param, size_t *hlen)
{
    switch (param) {
    case 0x01:
        *hlen = 32;
        return MBEDTLS_MD_SHA256;
    case 0x02:
        *hlen = 48;
        return MBEDTLS_MD_SHA384;
    case 0x03:
        *hlen = 64;
        return MBEDTLS_MD_SHA512;
    default:
        *hlen = 0;
        return MBEDTLS_MD_NONE;
    }
}

/* Component as the chip emits it: full field width, 00 prepended if MSB set. */
static int put_int(struct rsp *r, const mbedtls_mpi *v, size_t width)
{
    uint8_t b[2 + 1 + 66];
    if (mbedtls_mpi_write_binary(v, b + 3, width)) {
        return E_INTERNAL;
    }
    size_t n = width, off = 3;
    if (b[3] & 0x80) {
        b[2] = 0;
        off = 2;
        n++;
    }
    b[off - 2] = 0x02;
    b[off - 1] = (uint8_t)n;
    return app_rsp_put(r, b + off - 2, n + 2);
}

int app_cmd_calc_sign(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    size_t hlen = 0;
    mbedtls_md_type_t md = rsa_md(c->param, &hlen);
    if (c->param != 0x11 && md == MBEDTLS_MD_NONE) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *dg = app_tlv_find(t, nt, 0x01), *ko = app_tlv_find(t, nt, 0x03);
    if (!dg || !ko || ko->len != 2 || nt != 2) {
        return E_DATA;
    }
    struct key k;
    int e = key_for_use(app, c, app_be16(ko->v), &k);
    if (e) {
        return e;
    }
    if (!(k.usage & (0x01 | 0x10))) {
        return E_UNSUPPORTED_ID;
    }
    bool rsa_key = k.algo == 0x41 || k.algo == 0x42;
    if ((c->param == 0x11) == rsa_key) {
        return E_UNSUPPORTED_ID;
    }
    if (!k.is_session) {
        app_secmon_event(app, c->now_us);
    }
    if (!rsa_key) {
        size_t fl = app_ecc_field_len(k.algo);
        if (dg->len < 10 || dg->len > fl) {
            return E_DATA;
        }
        mbedtls_ecp_group grp;
        mbedtls_mpi d, rr, ss;
        mbedtls_ecp_group_init(&grp);
        mbedtls_mpi_init(&d);
        mbedtls_mpi_init(&rr);
        mbedtls_mpi_init(&ss);
        e = load_group(&grp, k.algo);
        if (!e && (mbedtls_mpi_read_binary(&d, k.priv, k.priv_len) ||
                   mbedtls_ecdsa_sign(&grp, &rr, &ss, &d, dg->v, dg->len, app_rng, app))) {
            e = E_INTERNAL;
        }
        if (!e) {
            e = put_int(r, &rr, fl);
        }
        if (!e) {
            e = put_int(r, &ss, fl);
        }
        mbedtls_mpi_free(&d);
        mbedtls_mpi_free(&rr);
        mbedtls_mpi_free(&ss);
        mbedtls_ecp_group_free(&grp);
        return e;
    }
    if (dg->len != hlen) {
        return E_DATA;
    }
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    e = rsa_from_blob(&rsa, k.priv, k.priv_len);
    uint8_t sig[256];
    if (!e && mbedtls_rsa_pkcs1_sign(&rsa, app_rng, app, MBEDTLS_RSA_PRIVATE, md, (unsigned)hlen,
                                     dg->v, sig)) {
        e = E_INTERNAL;
    }
    if (!e) {
        e = app_rsp_put(r, sig, mbedtls_rsa_get_len(&rsa));
    }
    mbedtls_rsa_free(&rsa);
    return e;
}

/* ---- public keys from a certificate object or a TLV pair ---- */

struct pubkey {
    uint8_t algo;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_rsa_context rsa;
};

static void pubkey_init(struct pubkey *p)
{
    p->algo = 0;
    mbedtls_ecp_group_init(&p->grp);
    mbedtls_ecp_point_init(&p->q);
    mbedtls_rsa_init(&p->rsa, MBEDTLS_RSA_PKCS_V15, 0);
}

static void pubkey_free(struct pubkey *p)
{
    mbedtls_ecp_group_free(&p->grp);
    mbedtls_ecp_point_free(&p->q);
    mbedtls_rsa_free(&p->rsa);
}

static int pubkey_from_tlv(struct sim_app *app, const struct tlv *alg, const struct tlv *key,
                           struct pubkey *p)
{
    if (!alg || !key || alg->len != 1) {
        return E_DATA;
    }
    uint8_t a = alg->v[0];
    if (!algo_supported(app, a)) {
        return E_DATA;
    }
    p->algo = a;
    if (a == 0x41 || a == 0x42) {
        return rsa_parse_pub(&p->rsa, key->v, key->len, a == 0x41 ? 1024 : 2048);
    }
    int e = load_group(&p->grp, a);
    return e ? e : parse_point(&p->grp, a, key->v, key->len, &p->q);
}

/* usage_mask: X.509 key usage bits that allow the operation */
static int pubkey_from_cert(struct sim_app *app, const struct cmd *c, uint16_t oid,
                            unsigned usage_mask, struct pubkey *p)
{
    struct sim_obj *o = app_obj_find(app, oid);
    if (!o) {
        return E_OID;
    }
    if (o->kind != KIND_DATA) {
        return E_ACCESS;
    }
    int e = app_ac_check(app, o, ACC_EXE, c);
    if (e) {
        return e;
    }
    if (o->used == 0 || o->data[0] != 0x30) {
        return E_CERT_FORMAT;
    }
    if (o->used > 1300) {
        return E_CERT_UNSUPPORTED;
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse_der(&crt, o->data, o->used)) {
        mbedtls_x509_crt_free(&crt);
        return E_CERT_FORMAT;
    }
    e = 0;
    if (usage_mask && mbedtls_x509_crt_check_key_usage(&crt, usage_mask) != 0) {
        /* check_key_usage needs all bits; accept any one of the mask */
        bool ok = false;
        for (unsigned bit = 1; bit <= 0x80; bit <<= 1) {
            if ((usage_mask & bit) && mbedtls_x509_crt_check_key_usage(&crt, bit) == 0) {
                ok = true;
            }
        }
        if (!ok) {
            e = E_CERT_UNSUPPORTED;
        }
    }
    if (!e) {
        mbedtls_pk_type_t t = mbedtls_pk_get_type(&crt.pk);
        if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
            mbedtls_ecp_keypair *kp = mbedtls_pk_ec(crt.pk);
            p->algo = 0;
            for (uint8_t a = 1; a < 0x20 && !p->algo; a++) {
                if (app_ecc_group_id(a) == (int)kp->grp.id) {
                    p->algo = a;
                }
            }
            if (!p->algo || !algo_supported(app, p->algo) || load_group(&p->grp, p->algo) ||
                mbedtls_ecp_copy(&p->q, &kp->Q)) {
                e = E_CERT_UNSUPPORTED;
            }
        } else if (t == MBEDTLS_PK_RSA) {
            size_t bits = mbedtls_pk_get_bitlen(&crt.pk);
            if ((bits != 1024 && bits != 2048) ||
                mbedtls_rsa_copy(&p->rsa, mbedtls_pk_rsa(crt.pk))) {
                e = E_CERT_UNSUPPORTED;
            } else {
                p->algo = bits == 1024 ? 0x41 : 0x42;
            }
        } else {
            e = E_CERT_UNSUPPORTED;
        }
    }
    mbedtls_x509_crt_free(&crt);
    return e;
}

/* ---- VerifySign ---- */

int app_cmd_verify_sign(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    (void)r;
    size_t hlen = 0;
    mbedtls_md_type_t md = rsa_md(c->param, &hlen);
    if (c->param != 0x11 && md == MBEDTLS_MD_NONE) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *dg = app_tlv_find(t, nt, 0x01), *sg = app_tlv_find(t, nt, 0x02);
    const struct tlv *co = app_tlv_find(t, nt, 0x04), *al = app_tlv_find(t, nt, 0x05),
                     *pk = app_tlv_find(t, nt, 0x06);
    if (!dg || !sg || (co && (al || pk)) || (!co && !(al && pk)) || sg->len > 520 || dg->len > 64 ||
        dg->len == 0) {
        return E_DATA;
    }
    struct pubkey p;
    pubkey_init(&p);
    int e;
    if (co) {
        e = co->len == 2
                ? pubkey_from_cert(
                      app, c, app_be16(co->v),
                      MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN, &p)
                : E_DATA;
    } else {
        e = pubkey_from_tlv(app, al, pk, &p);
    }
    if (e) {
        goto out;
    }
    app->last_algo = p.algo;
    bool rsa_key = p.algo == 0x41 || p.algo == 0x42;
    if ((c->param == 0x11) == rsa_key) {
        e = E_DATA;
        goto out;
    }
    if (rsa_key) {
        if (dg->len != hlen || sg->len != mbedtls_rsa_get_len(&p.rsa)) {
            e = dg->len != hlen ? E_DATA : E_SIGNATURE;
            goto out;
        }
        if (mbedtls_rsa_pkcs1_verify(&p.rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, md, (unsigned)hlen,
                                     dg->v, sg->v)) {
            e = E_SIGNATURE;
        }
        goto out;
    }
    if (dg->len > app_ecc_field_len(p.algo)) {
        e = E_DATA;
        goto out;
    }
    mbedtls_mpi rr, ss;
    mbedtls_mpi_init(&rr);
    mbedtls_mpi_init(&ss);
    unsigned char *q = (unsigned char *)(uintptr_t)sg->v;
    const unsigned char *end = sg->v + sg->len;
    if (mbedtls_asn1_get_mpi(&q, end, &rr) || mbedtls_asn1_get_mpi(&q, end, &ss) || q != end ||
        mbedtls_ecdsa_verify(&p.grp, dg->v, dg->len, &p.q, &rr, &ss)) {
        e = E_SIGNATURE;
    }
    mbedtls_mpi_free(&rr);
    mbedtls_mpi_free(&ss);
out:
    pubkey_free(&p);
    return e;
}

/* ---- GenKeyPair ---- */

int app_cmd_gen_keypair(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    uint8_t algo = c->param;
    if (!algo_supported(app, algo)) {
        return E_PARAM;
    }
    bool rsa = algo == 0x41 || algo == 0x42;
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *ko = app_tlv_find(t, nt, 0x01), *ku = app_tlv_find(t, nt, 0x02),
                     *ex = app_tlv_find(t, nt, 0x07);
    bool export = ex != NULL;
    if (export ? (ex->len != 0 || nt != 1)
               : (!ko || !ku || nt != 2 || ko->len != 2 || ku->len != 1)) {
        return E_DATA;
    }
    struct sim_obj *o = NULL;
    struct sim_session *s = NULL;
    uint8_t usage = 0;
    if (!export) {
        uint16_t oid = app_be16(ko->v);
        usage = ku->v[0];
        if (usage == 0 || (usage & (uint8_t)~0x33u)) {
            return E_DATA;
        }
        if (app_oid_is_session(oid)) {
            if (rsa) {
                return E_DATA;
            }
            s = app_session_get(app, oid);
        } else {
            o = app_obj_find(app, oid);
            if (!o) {
                return E_OID;
            }
            if (o->kind != (rsa ? KIND_RSA : KIND_ECC)) {
                return o->kind == KIND_DATA ? E_OID : E_DATA;
            }
            int e = app_ac_check(app, o, ACC_CHANGE, c);
            if (e) {
                return e;
            }
        }
    }
    int e = 0;
    uint8_t pub[300];
    size_t pub_len = 0;
    if (!rsa) {
        mbedtls_ecp_group grp;
        mbedtls_ecp_point q;
        mbedtls_mpi d;
        mbedtls_ecp_group_init(&grp);
        mbedtls_ecp_point_init(&q);
        mbedtls_mpi_init(&d);
        size_t fl = app_ecc_field_len(algo);
        uint8_t priv[66];
        e = load_group(&grp, algo);
        if (!e && (mbedtls_ecp_gen_keypair(&grp, &d, &q, app_rng, app) ||
                   mbedtls_mpi_write_binary(&d, priv, fl))) {
            e = E_INTERNAL;
        }
        if (!e) {
            e = point_bitstring(&grp, &q, pub, sizeof pub, &pub_len);
        }
        if (!e && export) {
            uint8_t os[2 + 66] = {0x04, (uint8_t)fl};
            memcpy(os + 2, priv, fl);
            e = app_rsp_tlv(r, 0x01, os, fl + 2);
            mbedtls_platform_zeroize(os, sizeof os);
        }
        if (!e) {
            e = app_rsp_tlv(r, 0x02, pub, pub_len);
        }
        if (!e && o) {
            e = app_obj_key_store(app, o, algo, usage, priv, fl);
        }
        if (!e && s) {
            mbedtls_platform_zeroize(s, sizeof *s);
            s->kind = SESS_ECC_KEY;
            s->algo = algo;
            s->usage = usage;
            s->len = (uint8_t)fl;
            memcpy(s->data, priv, fl);
        }
        mbedtls_platform_zeroize(priv, sizeof priv);
        mbedtls_mpi_free(&d);
        mbedtls_ecp_point_free(&q);
        mbedtls_ecp_group_free(&grp);
        return e;
    }
    mbedtls_rsa_context ctx;
    mbedtls_rsa_init(&ctx, MBEDTLS_RSA_PKCS_V15, 0);
    unsigned bits = algo == 0x41 ? 1024 : 2048;
    if (mbedtls_rsa_gen_key(&ctx, app_rng, app, bits, 65537)) {
        e = E_INTERNAL;
    }
    if (!e) {
        e = rsa_pub_bitstring(&ctx, pub, sizeof pub, &pub_len);
    }
    if (!e && export) {
        size_t nb = bits / 8;
        uint8_t os[4 + 256];
        os[0] = 0x04;
        size_t h = 1 + der_len(os + 1, nb);
        if (mbedtls_rsa_export_raw(&ctx, NULL, 0, NULL, 0, NULL, 0, os + h, nb, NULL, 0)) {
            e = E_INTERNAL;
        } else {
            e = app_rsp_tlv(r, 0x01, os, h + nb);
        }
        mbedtls_platform_zeroize(os, sizeof os);
    }
    if (!e) {
        e = app_rsp_tlv(r, 0x02, pub, pub_len);
    }
    if (!e && o) {
        uint8_t blob[KEYBLOB_MAX];
        size_t bl = 0;
        e = rsa_to_blob(&ctx, blob, &bl);
        if (!e) {
            e = app_obj_key_store(app, o, algo, usage, blob, bl);
        }
        mbedtls_platform_zeroize(blob, sizeof blob);
    }
    mbedtls_rsa_free(&ctx);
    return e;
}

/* ---- GenSymKey ---- */

int app_cmd_gen_symkey(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    size_t kl = c->param == 0x81 ? 16 : c->param == 0x82 ? 24 : c->param == 0x83 ? 32 : 0;
    if (!kl) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *ko = app_tlv_find(t, nt, 0x01), *ku = app_tlv_find(t, nt, 0x02),
                     *ex = app_tlv_find(t, nt, 0x07);
    bool export = ex != NULL;
    if (export ? (ex->len != 0 || nt != 1)
               : (!ko || !ku || nt != 2 || ko->len != 2 || ku->len != 1)) {
        return E_DATA;
    }
    struct sim_obj *o = NULL;
    if (!export) {
        o = app_obj_find(app, app_be16(ko->v));
        if (!o || o->kind != KIND_AES) {
            return E_OID;
        }
        if (ku->v[0] == 0 || (ku->v[0] & (uint8_t)~0x33u)) {
            return E_DATA;
        }
        if (o->lcso == 0x0F) {
            return E_ACCESS;
        }
        /* E200's change AC (NEV) guards data/protected-update writes; key
         * generation into it is allowed, as in the vendor example. */
    }
    uint8_t key[32];
    if (app_random(app, key, kl)) {
        return E_INTERNAL;
    }
    int e = export ? app_rsp_tlv(r, 0x01, key, kl)
                   : app_obj_key_store(app, o, c->param, ku->v[0], key, kl);
    mbedtls_platform_zeroize(key, sizeof key);
    return e;
}

/* ---- CalcSSec ---- */

int app_cmd_calc_ssec(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param != 0x01) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *ko = app_tlv_find(t, nt, 0x01), *cv = app_tlv_find(t, nt, 0x05),
                     *pk = app_tlv_find(t, nt, 0x06), *ex = app_tlv_find(t, nt, 0x07),
                     *st = app_tlv_find(t, nt, 0x08);
    if (!ko || ko->len != 2 || !cv || cv->len != 1 || !pk || (ex && st) || (!ex && !st) ||
        (ex && ex->len) || (st && st->len != 2) || nt != 4) {
        return E_DATA;
    }
    struct sim_session *dst = NULL;
    if (st) {
        if (!app_oid_is_session(app_be16(st->v))) {
            return E_OID;
        }
        dst = app_session_get(app, app_be16(st->v));
    }
    struct key k;
    int e = key_for_use(app, c, app_be16(ko->v), &k);
    if (e) {
        return e;
    }
    if (k.algo == 0x41 || k.algo == 0x42 || !(k.usage & 0x20)) {
        return E_UNSUPPORTED_ID;
    }
    if (cv->v[0] != k.algo) {
        return E_DATA;
    }
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d, z;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&z);
    size_t fl = app_ecc_field_len(k.algo);
    uint8_t secret[66];
    e = load_group(&grp, k.algo);
    if (!e) {
        e = parse_point(&grp, k.algo, pk->v, pk->len, &q);
    }
    if (!e && !k.is_session) {
        /* SRM Tab.43: using a stored private key is a security event; only
         * a session's temporary key agrees for free */
        app_secmon_event(app, c->now_us);
    }
    if (!e && (mbedtls_mpi_read_binary(&d, k.priv, k.priv_len) ||
               mbedtls_ecdh_compute_shared(&grp, &z, &q, &d, app_rng, app) ||
               mbedtls_mpi_write_binary(&z, secret, fl))) {
        e = E_INTERNAL;
    }
    if (!e) {
        if (dst) {
            mbedtls_platform_zeroize(dst, sizeof *dst);
            dst->kind = SESS_SECRET;
            dst->len = (uint8_t)fl;
            memcpy(dst->data, secret, fl);
        } else {
            e = app_rsp_put(r, secret, fl);
        }
    }
    mbedtls_platform_zeroize(secret, sizeof secret);
    mbedtls_mpi_free(&d);
    mbedtls_mpi_free(&z);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return e;
}

/* ---- DeriveKey ---- */

static int tls_prf(mbedtls_md_type_t mdt, const uint8_t *secret, size_t slen, const uint8_t *seed,
                   size_t seed_len, uint8_t *out, size_t out_len)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(mdt);
    size_t hl = mbedtls_md_get_size(md);
    uint8_t a[64], block[64];
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int e = 0;
    if (mbedtls_md_setup(&ctx, md, 1) || mbedtls_md_hmac(md, secret, slen, seed, seed_len, a)) {
        e = E_INTERNAL;
        goto out;
    }
    for (size_t done = 0; done < out_len;) {
        if (mbedtls_md_hmac_starts(&ctx, secret, slen) || mbedtls_md_hmac_update(&ctx, a, hl) ||
            mbedtls_md_hmac_update(&ctx, seed, seed_len) || mbedtls_md_hmac_finish(&ctx, block) ||
            mbedtls_md_hmac(md, secret, slen, a, hl, a)) {
            e = E_INTERNAL;
            goto out;
        }
        size_t n = out_len - done < hl ? out_len - done : hl;
        memcpy(out + done, block, n);
        done += n;
    }
out:
    mbedtls_platform_zeroize(a, sizeof a);
    mbedtls_platform_zeroize(block, sizeof block);
    mbedtls_md_free(&ctx);
    return e;
}

/* A secret for DeriveKey / HMAC: a session secret or a data object of type
 * `want_type` (EXE AC checked; its use is a security event). */
static int secret_for_use(struct sim_app *app, const struct cmd *c, uint16_t oid, uint8_t want_type,
                          const uint8_t **out, size_t *out_len, bool *persistent)
{
    *persistent = false;
    if (app_oid_is_session(oid)) {
        struct sim_session *s = app_session_get(app, oid);
        if (s->kind != SESS_SECRET) {
            return E_SEQUENCE;
        }
        *out = s->data;
        *out_len = s->len;
        return 0;
    }
    struct sim_obj *o = app_obj_find(app, oid);
    if (!o) {
        return E_OID;
    }
    if (o->kind != KIND_DATA) {
        return E_OID;
    }
    int e = app_ac_check(app, o, ACC_EXE, c);
    if (e) {
        return e;
    }
    if (!o->has_type || o->type != want_type) {
        return E_ACCESS;
    }
    if (o->used == 0 || o->used > 64) {
        return E_DATA;
    }
    *out = o->data;
    *out_len = o->used;
    *persistent = true;
    return 0;
}

int app_cmd_derive_key(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    mbedtls_md_type_t mdt;
    bool hkdf = false;
    switch (c->param) {
    case 0x01:
        mdt = MBEDTLS_MD_SHA256;
        break;
    case 0x02:
        mdt = MBEDTLS_MD_SHA384;
        break;
    case 0x03:
        mdt = MBEDTLS_MD_SHA512;
        break;
    case 0x08:
        mdt = MBEDTLS_MD_SHA256;
        hkdf = true;
        break;
    case 0x09:
        mdt = MBEDTLS_MD_SHA384;
        hkdf = true;
        break;
    case 0x0A:
        mdt = MBEDTLS_MD_SHA512;
        hkdf = true;
        break;
    default:
        return E_PARAM;
    }
    if (app->cfg.version < 3 && c->param != 0x01) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *so = app_tlv_find(t, nt, 0x01), *dd = app_tlv_find(t, nt, 0x02),
                     *kl = app_tlv_find(t, nt, 0x03), *in = app_tlv_find(t, nt, 0x04),
                     *ex = app_tlv_find(t, nt, 0x07), *st = app_tlv_find(t, nt, 0x08);
    int expect = 3 + (dd ? 1 : 0) + (in ? 1 : 0);
    if (!so || so->len != 2 || !kl || kl->len != 2 || (ex && st) || (!ex && !st) ||
        (ex && ex->len) || (st && st->len != 2) || nt != expect || (in && !hkdf) ||
        (!hkdf && !dd)) {
        return E_DATA;
    }
    size_t klen = app_be16(kl->v);
    size_t max = st ? (app->cfg.version >= 3 ? 66u : 48u) : 256u;
    if (klen < 16 || klen > max) {
        return E_DATA;
    }
    size_t dlen = dd ? dd->len : 0;
    if ((!hkdf && (dlen < 8 || dlen > 1024)) || (hkdf && dlen > 1024) || (in && in->len > 256)) {
        return E_DATA;
    }
    struct sim_session *dst = NULL;
    if (st) {
        if (!app_oid_is_session(app_be16(st->v))) {
            return E_OID;
        }
        dst = app_session_get(app, app_be16(st->v));
    }
    const uint8_t *secret;
    size_t slen;
    bool persistent;
    int e = secret_for_use(app, c, app_be16(so->v), 0x21, &secret, &slen, &persistent);
    if (e) {
        return e;
    }
    if (!persistent && c->sec->session && !c->sec->cmd_protected) {
        /* SRM DeriveKey note: a session's secret is used only over a
         * protected command (exported or kept on the chip) */
        return E_ACCESS;
    }
    if (persistent) {
        app_secmon_event(app, c->now_us);
    }
    uint8_t out[256];
    if (hkdf) {
        if (mbedtls_hkdf(mbedtls_md_info_from_type(mdt), dd ? dd->v : NULL, dlen, secret, slen,
                         in ? in->v : NULL, in ? in->len : 0, out, klen)) {
            e = E_INTERNAL;
        }
    } else {
        e = tls_prf(mdt, secret, slen, dd->v, dlen, out, klen);
    }
    if (!e) {
        if (dst) {
            mbedtls_platform_zeroize(dst, sizeof *dst);
            dst->kind = SESS_SECRET;
            dst->len = (uint8_t)klen;
            memcpy(dst->data, out, klen);
        } else {
            e = app_rsp_put(r, out, klen);
        }
    }
    mbedtls_platform_zeroize(out, sizeof out);
    return e;
}

/* ---- EncryptAsym / DecryptAsym ---- */

int app_cmd_encrypt_asym(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param != 0x11) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *msg = app_tlv_find(t, nt, 0x61), *so = app_tlv_find(t, nt, 0x02),
                     *co = app_tlv_find(t, nt, 0x04), *al = app_tlv_find(t, nt, 0x05),
                     *pk = app_tlv_find(t, nt, 0x06);
    if ((msg && so) || (!msg && !so) || (co && (al || pk)) || (!co && !(al && pk)) ||
        (so && so->len != 2) || (co && co->len != 2) || nt != (co ? 2 : 3)) {
        return E_DATA;
    }
    const uint8_t *m;
    size_t mlen;
    if (so) {
        struct sim_session *s = app_session_get(app, app_be16(so->v));
        if (!s) {
            return E_OID;
        }
        if (s->kind != SESS_SECRET) {
            return E_SEQUENCE;
        }
        if (c->sec->session && !c->sec->cmd_protected) {
            return E_ACCESS;
        }
        m = s->data;
        mlen = s->len;
    } else {
        m = msg->v;
        mlen = msg->len;
    }
    struct pubkey p;
    pubkey_init(&p);
    int e = co ? pubkey_from_cert(
                     app, c, app_be16(co->v),
                     MBEDTLS_X509_KU_KEY_ENCIPHERMENT | MBEDTLS_X509_KU_DATA_ENCIPHERMENT, &p)
               : pubkey_from_tlv(app, al, pk, &p);
    app->last_algo = p.algo;
    if (!e && p.algo != 0x41 && p.algo != 0x42) {
        e = co ? E_CERT_UNSUPPORTED : E_DATA;
    }
    if (!e && mlen > mbedtls_rsa_get_len(&p.rsa) - 11) {
        e = E_DATA;
    }
    uint8_t ct[256];
    if (!e && mbedtls_rsa_pkcs1_encrypt(&p.rsa, app_rng, app, MBEDTLS_RSA_PUBLIC, mlen, m, ct)) {
        e = E_INTERNAL;
    }
    if (!e) {
        e = app_rsp_tlv(r, 0x61, ct, mbedtls_rsa_get_len(&p.rsa));
    }
    pubkey_free(&p);
    return e;
}

int app_cmd_decrypt_asym(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param != 0x11) {
        return E_PARAM;
    }
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in, c->in_len, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *ct = app_tlv_find(t, nt, 0x61), *ko = app_tlv_find(t, nt, 0x03),
                     *so = app_tlv_find(t, nt, 0x02);
    if (!ct || !ko || ko->len != 2 || (so && so->len != 2) || nt != (so ? 3 : 2)) {
        return E_DATA;
    }
    struct sim_session *dst = NULL;
    if (so) {
        dst = app_session_get(app, app_be16(so->v));
        if (!dst) {
            return E_OID;
        }
    } else if (c->sec->session && !c->sec->rsp_protected) {
        return E_ACCESS; /* exported plaintext needs a protected response */
    }
    uint16_t oid = app_be16(ko->v);
    if (app_oid_is_session(oid)) {
        return E_OID;
    }
    struct key k;
    int e = key_for_use(app, c, oid, &k);
    if (e) {
        return e;
    }
    if ((k.algo != 0x41 && k.algo != 0x42) || !(k.usage & 0x02)) {
        return E_UNSUPPORTED_ID;
    }
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    e = rsa_from_blob(&rsa, k.priv, k.priv_len);
    if (!e && ct->len != mbedtls_rsa_get_len(&rsa)) {
        e = E_DATA;
    }
    uint8_t pt[256];
    size_t plen = 0;
    if (!e) {
        app_secmon_event(app, c->now_us);
        if (mbedtls_rsa_pkcs1_decrypt(&rsa, app_rng, app, MBEDTLS_RSA_PRIVATE, &plen, ct->v, pt,
                                      sizeof pt)) {
            app_secmon_event(app, c->now_us); /* decryption failures are security events */
            e = E_DECRYPT;
        }
    }
    if (!e) {
        if (dst) {
            size_t limit = app->cfg.version >= 3 ? 66 : 48;
            if (plen > limit) {
                e = E_DATA;
            } else {
                mbedtls_platform_zeroize(dst, sizeof *dst);
                dst->kind = SESS_SECRET;
                dst->len = (uint8_t)plen;
                memcpy(dst->data, pt, plen);
            }
        } else {
            e = app_rsp_tlv(r, 0x61, pt, plen);
        }
    }
    mbedtls_platform_zeroize(pt, sizeof pt);
    mbedtls_rsa_free(&rsa);
    return e;
}

/* ---- EncryptSym / DecryptSym (V3) ---- */

void app_sym_free(struct sim_app *app)
{
    if (app->sym_active) {
        mbedtls_md_free(&app->sym_md);
        mbedtls_cipher_free(&app->sym_cipher);
    }
    app->sym_active = false;
    mbedtls_platform_zeroize(app->sym_key, sizeof app->sym_key);
    mbedtls_platform_zeroize(app->sym_state, sizeof app->sym_state);
    app->sym_key_len = 0;
}

static mbedtls_md_type_t hmac_md(uint8_t mode, size_t *hl)
{
    switch (mode) {
    case 0x20:
        *hl = 32;
        return MBEDTLS_MD_SHA256;
    case 0x21:
        *hl = 48;
        return MBEDTLS_MD_SHA384;
    case 0x22:
        *hl = 64;
        return MBEDTLS_MD_SHA512;
    default:
        *hl = 0;
        return MBEDTLS_MD_NONE;
    }
}

static void auto_set(struct sim_app *app, uint16_t oid, bool on)
{
    for (int i = 0; i < AUTO_MAX; i++) {
        if (app->auto_oid[i] == oid) {
            app->auto_oid[i] = 0;
        }
    }
    if (!on) {
        return;
    }
    for (int i = 0; i < AUTO_MAX; i++) {
        if (!app->auto_oid[i]) {
            app->auto_oid[i] = oid;
            return;
        }
    }
    /* all four in use: the oldest makes room */
    memmove(app->auto_oid, app->auto_oid + 1, sizeof(app->auto_oid[0]) * (AUTO_MAX - 1));
    app->auto_oid[AUTO_MAX - 1] = oid;
}

/* HMAC verify with an authorization reference (DecryptSym 0x20..0x22, 0x01). */
static int hmac_verify(struct sim_app *app, const struct cmd *c, uint16_t key_oid,
                       const struct tlv *data, const struct tlv *vv)
{
    size_t hl;
    mbedtls_md_type_t mdt = hmac_md(c->param, &hl);
    struct sim_obj *o = app_obj_find(app, key_oid);
    if (!o || o->kind != KIND_DATA) {
        return E_OID;
    }
    if (data->len == 0 && vv->len == 0) {
        auto_set(app, key_oid, false); /* the "clear auto state" request */
        return E_DATA;
    }
    if (!o->has_type || o->type != 0x31) {
        return E_ACCESS;
    }
    int e = app_ac_check(app, o, ACC_EXE, c);
    if (e) {
        return e;
    }
    if (data->len < 2 || vv->len != hl || o->used == 0) {
        return E_DATA;
    }
    struct sim_session *s = app_session_get(app, app_be16(data->v));
    if (!s) {
        return E_OID;
    }
    const uint8_t *m = data->v + 2;
    size_t mlen = data->len - 2u;
    bool random_ok = s->kind == SESS_RANDOM && mlen >= s->len && ct_equal(m, s->data, s->len);
    mbedtls_platform_zeroize(s, sizeof *s); /* the stored random is single-use */
    uint8_t mac[64];
    bool ok = false;
    if (random_ok &&
        mbedtls_md_hmac(mbedtls_md_info_from_type(mdt), o->data, o->used, m, mlen, mac) == 0) {
        ok = ct_equal(mac, vv->v, hl);
    }
    mbedtls_platform_zeroize(mac, sizeof mac);
    auto_set(app, key_oid, ok);
    return ok ? 0 : E_AUTH;
}

static int sym_common(struct sim_app *app, const struct cmd *c, struct rsp *r, bool decrypt)
{
    uint8_t mode = c->param;
    size_t hl = 0;
    bool hmac = hmac_md(mode, &hl) != MBEDTLS_MD_NONE;
    bool aes = mode >= 0x08 && mode <= 0x0B;
    if (!hmac && !aes) {
        return E_PARAM;
    }
    if (decrypt && (mode == 0x0A || mode == 0x0B)) {
        return E_PARAM;
    }
    if (c->in_len < 2) {
        return E_LENGTH;
    }
    uint16_t key_oid = app_be16(c->in);
    struct tlv t[MAX_TLV];
    int nt = app_tlv_parse(c->in + 2, c->in_len - 2, t, MAX_TLV);
    if (nt < 0) {
        return -nt;
    }
    const struct tlv *data = NULL, *iv = app_tlv_find(t, nt, 0x41), *vv = app_tlv_find(t, nt, 0x43);
    for (int i = 0; i < nt; i++) {
        if (t[i].tag <= 0x03) {
            if (data) {
                return E_DATA;
            }
            data = &t[i];
        } else if (t[i].tag != 0x41 && t[i].tag != 0x43) {
            return E_DATA; /* AD / total length belong to CCM, which is not offered */
        }
    }
    if (!data || c->in_len - 2 > 640) {
        return E_DATA;
    }
    uint8_t seq = data->tag;
    if (vv) {
        if (!decrypt || !hmac || seq != 0x01 || iv) {
            return E_DATA;
        }
        if (c->sec->session && !c->sec->rsp_protected) {
            return E_ACCESS;
        }
        return hmac_verify(app, c, key_oid, data, vv);
    }
    if (decrypt && hmac) {
        /* HMAC "decryption" only exists as verification. A start&final request on an
         * AUTOREF object without a verification value is one that cannot succeed: like any
         * failed verification it clears Auto(KeyOID) and uses up the session random it
         * names. Infineon's host library clears the state this way (optiga_crypt_clear_auto_state
         * sends KeyOID, 01 00 02 <session OID>, no 43, and ignores the answer). */
        struct sim_obj *ko = app_obj_find(app, key_oid);
        if (seq == 0x01 && ko && ko->kind == KIND_DATA && ko->has_type && ko->type == 0x31) {
            auto_set(app, key_oid, false);
            struct sim_session *s = data->len >= 2 ? app_session_get(app, app_be16(data->v)) : NULL;
            if (s && s->kind == SESS_RANDOM) {
                mbedtls_platform_zeroize(s, sizeof *s);
            }
        }
        return E_PARAM;
    }
    if (c->sec->session && (decrypt ? !c->sec->rsp_protected : !c->sec->cmd_protected)) {
        return E_ACCESS; /* with a shielded connection these must be protected */
    }
    if (data->len == 0) {
        return E_DATA;
    }
    bool start = seq == 0 || seq == 1, final = seq == 1 || seq == 3;
    if (aes && mode != 0x0B && data->len % 16) {
        return E_DATA;
    }
    if (iv && (mode != 0x09 || !start || iv->len != 16)) {
        return E_DATA;
    }
    if (mode == 0x09 && start && !iv) {
        return E_DATA;
    }
    if (!start) {
        if (!app->sym_active || app->sym_mode != mode || app->sym_decrypt != decrypt) {
            app_sym_free(app);
            return E_SEQUENCE;
        }
    } else {
        /* resolve the key */
        const uint8_t *key = NULL;
        size_t kl = 0;
        if (aes) {
            struct sim_obj *o = app_obj_find(app, key_oid);
            if (!o || o->kind != KIND_AES) {
                return E_OID;
            }
            int e = app_ac_check(app, o, ACC_EXE, c);
            if (e) {
                return e;
            }
            if (o->used == 0) {
                return E_SEQUENCE;
            }
            if (!(o->usage & 0x02)) {
                return E_UNSUPPORTED_ID;
            }
            key = o->data;
            kl = o->used;
            app_secmon_event(app, c->now_us);
        } else {
            bool persistent;
            int e = secret_for_use(app, c, key_oid, 0x21, &key, &kl, &persistent);
            if (e) {
                return e;
            }
            if (persistent) {
                app_secmon_event(app, c->now_us);
            }
        }
        app_sym_free(app);
        memcpy(app->sym_key, key, kl);
        app->sym_key_len = kl;
        app->sym_mode = mode;
        app->sym_decrypt = decrypt;
        app->sym_key_oid = key_oid;
        memset(app->sym_state, 0, sizeof app->sym_state);
        if (iv) {
            memcpy(app->sym_state, iv->v, 16);
        }
        mbedtls_md_init(&app->sym_md);
        mbedtls_cipher_init(&app->sym_cipher);
        app->sym_active = true;
        if (hmac) {
            size_t h2;
            if (mbedtls_md_setup(&app->sym_md, mbedtls_md_info_from_type(hmac_md(mode, &h2)), 1) ||
                mbedtls_md_hmac_starts(&app->sym_md, key, kl)) {
                app_sym_free(app);
                return E_INTERNAL;
            }
        } else if (mode == 0x0B) {
            mbedtls_cipher_type_t ct = kl == 16   ? MBEDTLS_CIPHER_AES_128_ECB
                                       : kl == 24 ? MBEDTLS_CIPHER_AES_192_ECB
                                                  : MBEDTLS_CIPHER_AES_256_ECB;
            if (mbedtls_cipher_setup(&app->sym_cipher, mbedtls_cipher_info_from_type(ct)) ||
                mbedtls_cipher_cmac_starts(&app->sym_cipher, key, kl * 8)) {
                app_sym_free(app);
                return E_INTERNAL;
            }
        }
    }
    int e = 0;
    uint8_t out[640];
    size_t out_len = 0;
    if (hmac) {
        if (mbedtls_md_hmac_update(&app->sym_md, data->v, data->len)) {
            e = E_INTERNAL;
        } else if (final) {
            if (mbedtls_md_hmac_finish(&app->sym_md, out)) {
                e = E_INTERNAL;
            }
            out_len = hl;
        }
    } else if (mode == 0x0B) {
        if (mbedtls_cipher_cmac_update(&app->sym_cipher, data->v, data->len)) {
            e = E_INTERNAL;
        } else if (final) {
            if (mbedtls_cipher_cmac_finish(&app->sym_cipher, out)) {
                e = E_INTERNAL;
            }
            out_len = 16;
        }
    } else {
        mbedtls_aes_context aesc;
        mbedtls_aes_init(&aesc);
        int ke = decrypt && mode != 0x0A
                     ? mbedtls_aes_setkey_dec(&aesc, app->sym_key, (unsigned)app->sym_key_len * 8)
                     : mbedtls_aes_setkey_enc(&aesc, app->sym_key, (unsigned)app->sym_key_len * 8);
        if (ke) {
            e = E_INTERNAL;
        }
        for (size_t i = 0; !e && i < data->len; i += 16) {
            const uint8_t *in = data->v + i;
            if (mode == 0x08) {
                mbedtls_aes_crypt_ecb(&aesc, decrypt ? MBEDTLS_AES_DECRYPT : MBEDTLS_AES_ENCRYPT,
                                      in, out + i);
            } else if (mode == 0x09) {
                mbedtls_aes_crypt_cbc(&aesc, decrypt ? MBEDTLS_AES_DECRYPT : MBEDTLS_AES_ENCRYPT,
                                      16, app->sym_state, in, out + i);
            } else { /* CBC-MAC: chaining value only */
                uint8_t x[16];
                for (int j = 0; j < 16; j++) {
                    x[j] = (uint8_t)(app->sym_state[j] ^ in[j]);
                }
                mbedtls_aes_crypt_ecb(&aesc, MBEDTLS_AES_ENCRYPT, x, app->sym_state);
            }
        }
        mbedtls_aes_free(&aesc);
        if (mode == 0x0A) {
            if (final) {
                memcpy(out, app->sym_state, 16);
                out_len = 16;
            }
        } else {
            out_len = data->len;
        }
    }
    if (!e && out_len) {
        e = app_rsp_tlv(r, 0x61, out, out_len);
    }
    mbedtls_platform_zeroize(out, sizeof out);
    if (e || final) {
        app_sym_free(app);
    }
    return e;
}

int app_cmd_encrypt_sym(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    return sym_common(app, c, r, false);
}

int app_cmd_decrypt_sym(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    return sym_common(app, c, r, true);
}
