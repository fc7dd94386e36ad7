/* trustm CLI: protected update (SetObjectProtected, spec 5.3 and 9.7).
 *
 * 'update build' makes, on the host, the data set a chip accepts for a data
 * object whose Change condition names a trust anchor (Int(OID)): a
 * COSE_Sign1 manifest signed with the key whose certificate sits in that
 * trust-anchor object, and the payload cut into 640-byte fragments chained by
 * SHA-256. 'update apply' sends one and reads the object's new version back.
 *
 * The signature input is the Sig_structure a chip verifies: ["Signature1",
 * protected, h'', manifest] with the context "Signature1" a CBOR BYTE string
 * (0x4A), as Infineon's protected_update_data_set tool signs it, not RFC
 * 8152's text string (docs/decisions/sim-vendor-interop.md, P1). The hash is
 * SHA-256 for every signer curve (alg -7; Infineon's tool supports no other
 * digest), the signature raw r || s of the curve's size. */
#include "trustm_key.h"
#include "trustm/metadata.h"

#include <mbedtls/ccm.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELP(text)                           \
    do {                                     \
        fputs(text, help ? stdout : stderr); \
        return help ? 0 : 2;                 \
    } while (0)

#define FRAG 640u      /* a fragment (the last one 1..640 bytes) */
#define FRAG_PART 608u /* payload in a non-final fragment: 640 - SHA-256 */
#define CCM_TAG 8u     /* confidentiality: AES-CCM-16-64-128 tag per fragment */
#define SECRET_MAX 64u /* an UPDATSEC secret (spec 9.7: the PRF's key) */
#define KDF_SEED 64u
#define OBJ_MAX 1728u  /* the largest data object (0xE0E0..0xE0E3) */
#define MANIFEST_MAX 1550u
#define FRAGS_MAX (((OBJ_MAX + FRAG_PART - 1) / FRAG_PART) * FRAG)
#define VERSION_MAX 0x7FFFu
#define ALG_ES256 0x26 /* CBOR -7 */

/* A bad argument: fail()'s line on stderr, exit 2 (as a missing sub-command). */
#define arg_fail(...) (fail(__VA_ARGS__), 2)

/* Data objects a protected update can replace: certificates, trust
 * anchors, the application data objects. Keys and the life-cycle, security
 * and UID objects are not data a manifest of type -1 writes. */
static bool upd_data_oid(uint16_t oid)
{
    return tool_oid_is_cert(oid) || tool_oid_is_ta(oid) || (oid >= 0xF1D0 && oid <= 0xF1DB) ||
           oid == 0xF1E0 || oid == 0xF1E1;
}

/* ---- CBOR writer (deterministic: shortest heads, definite lengths) ---- */

struct cbw {
    uint8_t *p;
    size_t n, cap;
    bool bad;
};

static void cbw_put(struct cbw *w, const void *p, size_t n)
{
    if (n == 0) return;
    if (w->bad || n > w->cap - w->n) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->n, p, n);
    w->n += n;
}

static void cbw_head(struct cbw *w, uint8_t major, uint64_t v)
{
    uint8_t h[9];
    size_t n;
    major = (uint8_t)(major << 5);
    if (v < 24) {
        h[0] = (uint8_t)(major | v);
        n = 1;
    } else if (v <= 0xFF) {
        h[0] = major | 24;
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xFFFF) {
        h[0] = major | 25;
        h[1] = (uint8_t)(v >> 8);
        h[2] = (uint8_t)v;
        n = 3;
    } else {
        h[0] = major | 26;
        h[1] = (uint8_t)(v >> 24);
        h[2] = (uint8_t)(v >> 16);
        h[3] = (uint8_t)(v >> 8);
        h[4] = (uint8_t)v;
        n = 5;
    }
    cbw_put(w, h, n);
}

static void cbw_int(struct cbw *w, int64_t v)
{
    if (v >= 0) cbw_head(w, 0, (uint64_t)v);
    else cbw_head(w, 1, (uint64_t)(-1 - v));
}

static void cbw_bstr(struct cbw *w, const uint8_t *p, size_t n)
{
    cbw_head(w, 2, n);
    cbw_put(w, p, n);
}

static void cbw_oid(struct cbw *w, uint16_t oid)
{
    uint8_t b[2] = {(uint8_t)(oid >> 8), (uint8_t)oid};
    cbw_bstr(w, b, 2);
}

/* ---- the data set ---- */

struct dataset {
    uint8_t manifest[MANIFEST_MAX];
    size_t manifest_len;
    uint8_t frags[FRAGS_MAX];
    size_t frags_len;
    unsigned nfrags;
};

struct build_args {
    int type;                    /* -1 data, -2 metadata */
    unsigned long reset;         /* metadata: content reset (0 as F0 says, 1 zeros, 2 random) */
    uint16_t target, anchor, secret_oid;
    uint8_t secret[SECRET_MAX];
    size_t secret_len;           /* 0: integrity only */
    uint8_t seed[KDF_SEED];      /* KDF seed, fresh per data set */
    unsigned long version, offset, write_type;
    uint8_t component[27]; /* --chip-uid: the first 25 bytes of 0xE0C2 */
    size_t component_len;  /* 0: any chip (broadcast) */
};

/* The KDF label with the seed: Infineon's example data sets use "test"
 * and a 64-byte seed (sim-vendor-interop.md), which chips accept. */
static const char kdf_label[] = "test";

/* Confidentiality (spec 9.7): key (16) || nonce prefix (11) = PRF(secret,
 * label || seed); fragment i (from 1) is AES-CCM with nonce prefix || i
 * (2 bytes), AD version (2) || offset of its plaintext in the payload (3)
 * || payload size (3), tag 8 bytes after the ciphertext. */
static int encrypt_part(const struct build_args *a, const uint8_t kdf[27], unsigned frag_no,
                        size_t at, size_t total, const uint8_t *pt, size_t n, uint8_t *out)
{
    uint8_t nonce[13], ad[8];
    mbedtls_ccm_context ccm;
    int ret;
    memcpy(nonce, kdf + 16, 11);
    nonce[11] = (uint8_t)(frag_no >> 8);
    nonce[12] = (uint8_t)frag_no;
    ad[0] = (uint8_t)(a->version >> 8);
    ad[1] = (uint8_t)a->version;
    ad[2] = (uint8_t)(at >> 16);
    ad[3] = (uint8_t)(at >> 8);
    ad[4] = (uint8_t)at;
    ad[5] = (uint8_t)(total >> 16);
    ad[6] = (uint8_t)(total >> 8);
    ad[7] = (uint8_t)total;
    mbedtls_ccm_init(&ccm);
    ret = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, kdf, 128);
    if (ret == 0) ret = mbedtls_ccm_encrypt_and_tag(&ccm, n, nonce, sizeof(nonce), ad, sizeof(ad), pt, out,
                                                    out + n, CCM_TAG);
    mbedtls_ccm_free(&ccm);
    return ret;
}

/* Fragments back to front: the last holds the rest of the payload (1..608
 * bytes), each earlier one 608 payload bytes and the SHA-256 of the
 * fragment after it; digest = SHA-256 of the first, for the manifest.
 * Encrypted: 600 bytes of ciphertext + the 8-byte tag in place of 608. */
static int make_fragments(const struct build_args *a, const uint8_t *pl, size_t n, struct dataset *ds,
                          uint8_t digest[32])
{
    /* plaintext per fragment: at most 608 (encrypted: 600 + the tag), the last
     * one too: the spec allows a final fragment of up to 640 bytes, but
     * Infineon's tool cuts every fragment this way (the form chips are known
     * to take), and trustm-sim takes no more for an encrypted one */
    size_t tag = a->secret_len ? CCM_TAG : 0, part = FRAG_PART - tag;
    size_t nf = (n + part - 1) / part;
    size_t last = n - (nf - 1) * part, i, at;
    uint8_t kdf[27];
    if (n == 0 || (nf - 1) * FRAG + last + tag > sizeof(ds->frags)) return -1;
    if (tag) {
        uint8_t ls[sizeof(kdf_label) - 1 + KDF_SEED];
        memcpy(ls, kdf_label, sizeof(kdf_label) - 1);
        memcpy(ls + sizeof(kdf_label) - 1, a->seed, KDF_SEED);
        /* TLS 1.2 PRF SHA-256 with an empty label: the seed carries it */
        if (mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, a->secret, a->secret_len, "", ls, sizeof(ls), kdf,
                                sizeof(kdf)) != 0)
            return -1;
    }
    ds->frags_len = (nf - 1) * FRAG + last + tag;
    ds->nfrags = (unsigned)nf;
    for (i = nf; i-- > 0;) {
        size_t len = i == nf - 1 ? last : part;
        at = i * FRAG;
        if (tag) {
            if (encrypt_part(a, kdf, (unsigned)i + 1, i * part, n, pl + i * part, len, ds->frags + at) != 0) {
                mbedtls_platform_zeroize(kdf, sizeof(kdf));
                return -1;
            }
        } else {
            memcpy(ds->frags + at, pl + i * part, len);
        }
        if (i != nf - 1) memcpy(ds->frags + at + FRAG_PART, digest, 32);
        mbedtls_sha256_ret(ds->frags + at, i == nf - 1 ? len + tag : FRAG, digest, 0);
    }
    mbedtls_platform_zeroize(kdf, sizeof(kdf));
    return 0;
}


/* manifest = [1, null, null, [-1 data, size, version, [offset, write type]],
 *             [[-1, bstr([41 SHA-256, bstr digest])], null], [component id, h'OID']]
 * (component id: h'' for any chip, or the 25-byte UID prefix of one chip)
 * COSE_Sign1 = [bstr({1: -7}), {4: h'anchor'}, bstr(manifest), bstr(r || s)] */
static int make_manifest(const struct build_args *a, size_t payload_len, const uint8_t digest[32],
                         mbedtls_ecp_keypair *key, struct rng *rng, struct dataset *ds)
{
    static const uint8_t prot[3] = {0xA1, 0x01, ALG_ES256};
    uint8_t body[300], dg[40], sigst[340], hash[32], rs[2 * 66];
    struct cbw b = {body, 0, sizeof(body), false}, d = {dg, 0, sizeof(dg), false};
    struct cbw s = {sigst, 0, sizeof(sigst), false};
    struct cbw m = {ds->manifest, 0, sizeof(ds->manifest), false};
    size_t fl = (key->grp.pbits + 7) / 8;
    mbedtls_mpi r, sv;
    int ret;

    cbw_head(&d, 4, 2);
    cbw_int(&d, 41);
    cbw_bstr(&d, digest, 32);

    cbw_head(&b, 4, 6);
    cbw_int(&b, 1);
    cbw_put(&b, "\xF6\xF6", 2);
    cbw_head(&b, 4, 4);
    cbw_int(&b, a->type);
    cbw_int(&b, (int64_t)payload_len);
    cbw_int(&b, (int64_t)a->version);
    cbw_head(&b, 4, 2);
    if (a->type == -2) {
        cbw_int(&b, (int64_t)a->reset); /* [content reset, reserved] */
        cbw_int(&b, 0);
    } else {
        cbw_int(&b, (int64_t)a->offset); /* [offset, write type] */
        cbw_int(&b, (int64_t)a->write_type);
    }
    cbw_head(&b, 4, 2);
    cbw_head(&b, 4, 2);
    cbw_int(&b, -1);
    cbw_bstr(&b, dg, d.n);
    if (a->secret_len == 0) {
        cbw_put(&b, "\xF6", 1);
    } else {
        /* [1, [bstr({1: 10 AES-CCM-16-64-128}), [[bstr({4: h'secret', 1: -65720
         * TLS PRF SHA-256, 5: [label, seed]}), null]], null]] (Infineon's order) */
        static const uint8_t alg[3] = {0xA1, 0x01, 0x0A};
        uint8_t rh[120];
        struct cbw rw = {rh, 0, sizeof(rh), false};
        cbw_head(&rw, 5, 3);
        cbw_int(&rw, 4);
        cbw_oid(&rw, a->secret_oid);
        cbw_int(&rw, 1);
        cbw_int(&rw, -65720);
        cbw_int(&rw, 5);
        cbw_head(&rw, 4, 2);
        cbw_bstr(&rw, (const uint8_t *)kdf_label, sizeof(kdf_label) - 1);
        cbw_bstr(&rw, a->seed, KDF_SEED);
        if (rw.bad) return fail("update build: manifest too large");
        cbw_head(&b, 4, 2);
        cbw_int(&b, 1);
        cbw_head(&b, 4, 3);
        cbw_bstr(&b, alg, sizeof(alg));
        cbw_head(&b, 4, 1);
        cbw_head(&b, 4, 2);
        cbw_bstr(&b, rh, rw.n);
        cbw_put(&b, "\xF6\xF6", 2);
    }
    cbw_head(&b, 4, 2);
    cbw_bstr(&b, a->component, a->component_len);
    cbw_oid(&b, a->target);

    cbw_head(&s, 4, 4);
    cbw_bstr(&s, (const uint8_t *)"Signature1", 10); /* a byte string: see the top */
    cbw_bstr(&s, prot, sizeof(prot));
    cbw_bstr(&s, NULL, 0);
    cbw_bstr(&s, body, b.n);
    if (b.bad || d.bad || s.bad || 2 * fl > sizeof(rs)) return fail("update build: manifest too large");
    mbedtls_sha256_ret(sigst, s.n, hash, 0);

    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&sv);
    ret = mbedtls_ecdsa_sign(&key->grp, &r, &sv, &key->d, hash, sizeof(hash), mbedtls_ctr_drbg_random,
                             &rng->d);
    if (ret == 0) ret = mbedtls_mpi_write_binary(&r, rs, fl);
    if (ret == 0) ret = mbedtls_mpi_write_binary(&sv, rs + fl, fl);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&sv);
    if (ret != 0) return fail("update build: the signature failed (mbedTLS -0x%04X)", (unsigned)-ret);

    cbw_head(&m, 4, 4);
    cbw_bstr(&m, prot, sizeof(prot));
    cbw_head(&m, 5, 1);
    cbw_int(&m, 4);
    cbw_oid(&m, a->anchor);
    cbw_bstr(&m, body, b.n);
    cbw_bstr(&m, rs, 2 * fl);
    if (m.bad) return fail("update build: manifest too large");
    ds->manifest_len = m.n;
    return 0;
}

/* The payload: a file as it is, or a certificate in the form 'cert write'
 * (certificate objects: the TLS-identity wrapper, --der-object: DER) or
 * 'trust-anchor write' (one CA certificate, DER) gives it. */
static int load_payload(const char *file, const char *cert, bool chain, bool der_obj, uint16_t target,
                        uint8_t *out, size_t *out_len)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (file != NULL) {
        if (read_file(file, &buf, &n, 1u << 20) != 0) return 2;
        if (n == 0 || n > OBJ_MAX) {
            free(buf);
            return arg_fail("update build: '%s' holds %zu bytes; a payload is 1..%u bytes", file, n,
                            OBJ_MAX);
        }
        memcpy(out, buf, n);
        *out_len = n;
        free(buf);
        return 0;
    }
    {
        struct tma_span certs[4];
        int nc;
        if (tool_oid_is_ta(target)) {
            struct tma_span ta;
            if (chain || der_obj) return arg_fail("update build: --chain and --der-object are for certificate objects");
            if (ta_prepare(cert, &buf, &ta) != 0) return 2;
            certs[0] = ta;
            nc = 1;
        } else {
            nc = load_certs_file(cert, &buf, certs, 4);
            if (nc < 0) return 2;
        }
        if (tool_oid_is_cert(target)) {
            if (chain && der_obj) {
                free(buf);
                return arg_fail("update build: --der-object holds one certificate, not a --chain");
            }
            if (build_certobj(der_obj, certs, chain ? nc : 1, out, OBJ_MAX, out_len) != 0) {
                free(buf);
                return arg_fail("update build: the certificate object would not fit %u bytes", OBJ_MAX);
            }
        } else {
            if (chain || der_obj) {
                free(buf);
                return arg_fail("update build: --chain and --der-object are for certificate objects");
            }
            if (certs[0].len > OBJ_MAX) {
                free(buf);
                return arg_fail("update build: the certificate (%zu bytes) is larger than %u bytes",
                                certs[0].len, OBJ_MAX);
            }
            memcpy(out, certs[0].ptr, certs[0].len);
            *out_len = certs[0].len;
        }
        free(buf);
    }
    return 0;
}

static int load_signer(const char *key_f, const char *cert_f, mbedtls_pk_context *pk)
{
    uint8_t *buf;
    size_t len;
    int ret;
    mbedtls_ecp_group_id grp;
    if (read_file(key_f, &buf, &len, 1u << 20) != 0) return 2;
    ret = mbedtls_pk_parse_key(pk, buf, len + 1, NULL, 0);
    if (ret != 0) ret = mbedtls_pk_parse_key(pk, buf, len, NULL, 0);
    mbedtls_platform_zeroize(buf, len);
    free(buf);
    if (ret != 0) return arg_fail("update build: '%s' is not a private key (PEM or DER, unencrypted)", key_f);
    if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY)) {
        return arg_fail("update build: '%s' is not an EC key (the manifest is signed with ECDSA P-256 or P-384)", key_f);
    }
    grp = mbedtls_pk_ec(*pk)->grp.id;
    if (grp != MBEDTLS_ECP_DP_SECP256R1 && grp != MBEDTLS_ECP_DP_SECP384R1) {
        return arg_fail("update build: '%s' is an EC key on a curve other than P-256 or P-384", key_f);
    }
    if (cert_f != NULL) {
        uint8_t *store = NULL;
        struct tma_span c[4];
        mbedtls_x509_crt crt;
        int nc = load_certs_file(cert_f, &store, c, 4);
        if (nc < 0) return 2;
        mbedtls_x509_crt_init(&crt);
        ret = mbedtls_x509_crt_parse_der(&crt, c[0].ptr, c[0].len);
        free(store);
        if (ret == 0) ret = mbedtls_pk_check_pair(&crt.pk, pk);
        mbedtls_x509_crt_free(&crt);
        if (ret != 0) {
            return arg_fail("update build: '%s' is not the key of '%s' (the chip would refuse the "
                            "manifest, 0x2C)", key_f, cert_f);
        }
    }
    return 0;
}

static int write_pair(const char *prefix, const struct dataset *ds)
{
    char man[4096], frg[4096];
    if (snprintf(man, sizeof(man), "%s.manifest", prefix) >= (int)sizeof(man) ||
        snprintf(frg, sizeof(frg), "%s.fragments", prefix) >= (int)sizeof(frg)) {
        return arg_fail("update build: --out is too long");
    }
    if (write_file(man, ds->manifest, ds->manifest_len, 0644) != 0) return 1;
    if (write_file(frg, ds->frags, ds->frags_len, 0644) != 0) return 1;
    return 0;
}

static int update_build(int argc, char **argv)
{
    bool help = false, chain = false, der_obj = false;
    const char *target_s = NULL, *payload = NULL, *cert = NULL, *version_s = NULL,
               *anchor_s = "0xE0EF", *key_f = NULL, *anchor_cert = NULL, *offset_s = "0",
               *wt_s = "2", *out = NULL, *uid_s = NULL, *secret_f = NULL, *secret_s = NULL,
               *md_s = NULL, *reset_s = NULL;
    const struct opt opts[] = {
        {"--target", 1, &target_s, NULL},   {"--payload", 1, &payload, NULL},
        {"--cert", 1, &cert, NULL},         {"--chain", 0, NULL, &chain},
        {"--der-object", 0, NULL, &der_obj}, {"--version", 1, &version_s, NULL},
        {"--anchor", 1, &anchor_s, NULL},   {"--signer-key", 1, &key_f, NULL},
        {"--anchor-cert", 1, &anchor_cert, NULL}, {"--offset", 1, &offset_s, NULL},
        {"--write-type", 1, &wt_s, NULL},   {"--out", 1, &out, NULL},
        {"--chip-uid", 1, &uid_s, NULL},    {"--secret", 1, &secret_f, NULL},
        {"--secret-oid", 1, &secret_s, NULL}, {"--metadata", 1, &md_s, NULL},
        {"--content-reset", 1, &reset_s, NULL}, {NULL, 0, NULL, NULL}};
    struct build_args a;
    struct dataset *ds;
    uint8_t pl[OBJ_MAX], digest[32];
    size_t pl_len = 0;
    mbedtls_pk_context pk;
    struct rng rng;
    int np, rc;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 2;
    if (help)
        HELP("usage: trustm update build --target OID (--payload FILE | --cert FILE [--chain|--der-object]\n"
             "         | --metadata 20LL... [--content-reset 0|1|2])\n"
             "         --version N --signer-key KEY.pem [--anchor 0xE0EF] [--anchor-cert CERT.pem]\n"
             "         [--offset 0] [--write-type 2] [--chip-uid HEX]\n"
             "         [--secret FILE --secret-oid 0xF1D1] --out PREFIX\n"
             "Makes, on the host (no chip), a protected-update data set for a data object whose\n"
             "Change condition names the trust anchor (e.g. 'LcsO < op || Int(0xE0EF)', what\n"
             "'personalize --update-anchor' sets): PREFIX.manifest, signed with the ECDSA P-256\n"
             "or P-384 KEY whose certificate is in the --anchor object, and PREFIX.fragments,\n"
             "the payload in 640-byte fragments each carrying the SHA-256 of the next.\n"
             "--payload: the bytes as they are; --cert: a certificate as 'cert write' stores it\n"
             "in a certificate object (TLS-identity wrapper, --chain, --der-object), or as\n"
             "'trust-anchor write' stores it (DER) in any other object.\n"
             "--version 1..32767: the chip takes only a version above the object's (rollback\n"
             "protection). --write-type 2 erases the object first (default), 1 writes over it\n"
             "at --offset. --anchor-cert checks that KEY is that certificate's key.\n"
             "--chip-uid: the coprocessor UID of one chip ('trustm data read --oid 0xE0C2',\n"
             "its first 25 bytes count): only that chip accepts the set; without it every\n"
             "chip whose anchor verifies it does.\n"
             "--secret: confidentiality: the payload AES-CCM encrypted with a key derived from\n"
             "the shared secret (1..64 bytes) the chip holds in --secret-oid (type UPDATSEC),\n"
             "for objects whose Change condition also asks Conf(that object).\n"
             "--metadata: a metadata update instead (hex container 20 LL ..., no C1, C4, C5 or\n"
             "E0 tag) for an object (also a key slot) whose metadata has a reset type (F0) and\n"
             "whose metadata-update condition (D8) names the anchor; --content-reset 1 zeroes\n"
             "the content, 2 randomizes it, 0 (default) does as F0 says.\n"
             "Send the set with 'trustm update apply' (docs/trustm-cli.md).\n");
    a.type = md_s != NULL ? -2 : -1;
    if (target_s == NULL || parse_oid(target_s, &a.target) != 0 ||
        !(upd_data_oid(a.target) || (md_s != NULL && tool_oid_is_key(a.target)))) {
        if (md_s != NULL) {
            return arg_fail("update build: --target must be a data object or a key slot (0xE0F0..0xE0F3, "
                            "0xE0FC, 0xE0FD, 0xE200)");
        }
        return arg_fail("update build: --target must be a data object (0xE0E0..0xE0E3, 0xE0E8, 0xE0E9, "
                        "0xE0EF, 0xF1D0..0xF1DB, 0xF1E0, 0xF1E1)");
    }
    if (parse_oid(anchor_s, &a.anchor) != 0 || !upd_data_oid(a.anchor)) {
        return arg_fail("update build: --anchor must be the data object holding the signer's "
                        "certificate (e.g. 0xE0EF)");
    }
    if (a.anchor == a.target) {
        return arg_fail("update build: --anchor and --target are the same object; a chip refuses "
                        "that (0x07)");
    }
    if (version_s == NULL || parse_uint(version_s, 1, VERSION_MAX, &a.version) != 0) {
        return arg_fail("update build: --version takes 1..32767 (above the object's current version)");
    }
    if (parse_uint(offset_s, 0, OBJ_MAX - 1, &a.offset) != 0) {
        return arg_fail("update build: --offset takes 0..%u", OBJ_MAX - 1);
    }
    if (parse_uint(wt_s, 1, 2, &a.write_type) != 0) {
        return arg_fail("update build: --write-type takes 1 (write) or 2 (erase and write)");
    }
    memset(a.component, 0, sizeof(a.component));
    a.component_len = 0;
    if (uid_s != NULL) {
        long n = parse_hex(uid_s, a.component, sizeof(a.component));
        if (n != 25 && n != 27) {
            return arg_fail("update build: --chip-uid takes the chip's UID in hex (0xE0C2: 27 bytes, "
                            "or its first 25)");
        }
        a.component_len = 25;
    }
    a.secret_len = 0;
    a.secret_oid = 0;
    if ((secret_f == NULL) != (secret_s == NULL)) {
        return arg_fail("update build: --secret FILE and --secret-oid OID go together");
    }
    if (secret_s != NULL && (parse_oid(secret_s, &a.secret_oid) != 0 || !upd_data_oid(a.secret_oid) ||
                             a.secret_oid == a.target)) {
        return arg_fail("update build: --secret-oid must be the data object holding the secret (type "
                        "UPDATSEC, e.g. 0xF1D1), not the target");
    }
    if ((payload != NULL) + (cert != NULL) + (md_s != NULL) != 1) {
        return arg_fail("update build: give exactly one of --payload FILE, --cert FILE and --metadata HEX");
    }
    a.reset = 0;
    if (reset_s != NULL && (md_s == NULL || parse_uint(reset_s, 0, 2, &a.reset) != 0)) {
        return arg_fail("update build: --content-reset takes 0, 1 or 2 and goes with --metadata");
    }
    if (payload != NULL && (chain || der_obj)) {
        return arg_fail("update build: --chain and --der-object go with --cert");
    }
    if (key_f == NULL) return arg_fail("update build: --signer-key KEY.pem is required");
    if (out == NULL) return arg_fail("update build: --out PREFIX is required");

    if (md_s != NULL) {
        long n = parse_hex(md_s, pl, 46);
        size_t i;
        if (n < 2 || pl[0] != 0x20 || pl[1] != (uint8_t)(n - 2)) {
            return arg_fail("update build: --metadata takes a metadata container in hex: 20 LL "
                            "followed by LL bytes of tags (at most 44)");
        }
        for (i = 2; i < (size_t)n; i += 2u + pl[i + 1]) {
            if (i + 1 >= (size_t)n || i + 2u + pl[i + 1] > (size_t)n) {
                return arg_fail("update build: --metadata: the tag at byte %zu runs past the end", i);
            }
            if (pl[i] == 0xC1 || pl[i] == 0xC4 || pl[i] == 0xC5 || pl[i] == 0xE0) {
                return arg_fail("update build: --metadata may not set tag %02X (version, sizes and "
                                "algorithm are the chip's)", pl[i]);
            }
        }
        pl_len = (size_t)n;
    } else {
        rc = load_payload(payload, cert, chain, der_obj, a.target, pl, &pl_len);
        if (rc != 0) return rc;
    }
    if (a.offset + pl_len > OBJ_MAX) {
        return arg_fail("update build: --offset %lu + %zu payload bytes exceed %u bytes", a.offset,
                        pl_len, OBJ_MAX);
    }
    if (secret_f != NULL) {
        uint8_t *sb = NULL;
        size_t sn = 0;
        if (read_file(secret_f, &sb, &sn, 1u << 16) != 0) return 2;
        if (sn == 0 || sn > SECRET_MAX) {
            mbedtls_platform_zeroize(sb, sn);
            free(sb);
            return arg_fail("update build: '%s' holds %zu bytes; a secret is 1..%u bytes", secret_f, sn,
                            SECRET_MAX);
        }
        memcpy(a.secret, sb, sn);
        a.secret_len = sn;
        mbedtls_platform_zeroize(sb, sn);
        free(sb);
    }
    mbedtls_pk_init(&pk);
    rc = load_signer(key_f, anchor_cert, &pk);
    ds = rc == 0 ? calloc(1, sizeof(*ds)) : NULL;
    if (ds == NULL) {
        mbedtls_platform_zeroize(&a, sizeof(a));
        mbedtls_pk_free(&pk);
        return rc != 0 ? rc : fail("out of memory");
    }
    rc = 1;
    if (rng_init(&rng) == 0) {
        if (mbedtls_ctr_drbg_random(&rng.d, a.seed, sizeof(a.seed)) != 0) {
            fail("update build: host random generator failed");
        } else if (make_fragments(&a, pl, pl_len, ds, digest) != 0) {
            fail("update build: the payload does not fit the fragments");
        } else if (make_manifest(&a, pl_len, digest, mbedtls_pk_ec(pk), &rng, ds) == 0) {
            rc = write_pair(out, ds);
        }
        rng_free(&rng);
    }
    if (rc == 0) {
        char enc[64] = "";
        if (a.secret_len) snprintf(enc, sizeof(enc), ", encrypted for the secret in 0x%04X", a.secret_oid);
        char how[48];
        if (a.type == -2) {
            snprintf(how, sizeof(how), "metadata, content reset %lu", a.reset);
        } else {
            snprintf(how, sizeof(how), "at offset %lu (%s)", a.offset,
                     a.write_type == 2 ? "erase and write" : "write");
        }
        printf("data set for 0x%04X%s: version %lu, %zu payload bytes %s in %u "
               "fragment%s, signed for trust anchor 0x%04X (ECDSA %s)%s\n"
               "%s.manifest (%zu bytes), %s.fragments (%zu bytes)\n",
               a.target, a.component_len ? " of one chip (--chip-uid)" : "", a.version, pl_len, how,
               ds->nfrags, ds->nfrags == 1 ? "" : "s",
               a.anchor, mbedtls_pk_ec(pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1 ? "P-256" : "P-384", enc,
               out, ds->manifest_len, out, ds->frags_len);
    }
    mbedtls_platform_zeroize(pl, sizeof(pl));
    mbedtls_platform_zeroize(&a, sizeof(a));
    free(ds);
    mbedtls_pk_free(&pk);
    return rc;
}

/* ---- apply ---- */

static int read_version(struct dev *d, uint16_t oid, bool *has, uint16_t *version, size_t *used)
{
    uint8_t md[64];
    size_t n = 0;
    struct trustm_md m;
    tma_status st = trustm_read_metadata(&d->chip, d->protect, oid, md, sizeof(md), &n);
    if (st != TMA_OK) return fail_st(st, "update apply: cannot read the metadata of 0x%04X", oid);
    if (trustm_md_decode(md, n, &m) != TMA_OK) return fail("update apply: metadata of 0x%04X does not decode", oid);
    *has = (m.present & TRUSTM_MDF_VERSION) != 0;
    *version = m.version;
    if (used != NULL) *used = (m.present & TRUSTM_MDF_USED_SIZE) ? m.used_size : 0;
    return 0;
}

/* The chip's refusal in words (spec 6, 9.7; the codes trustm-sim gives). */
static const char *refusal(uint8_t code)
{
    switch (code) {
    case 0x01: return "an object of the manifest does not exist";
    case 0x07: return "access conditions not satisfied: the object's Change condition does not "
                      "accept this data set (Int(anchor); Conf(secret) needs --secret; a metadata "
                      "update needs tag F0 and Int(anchor) in D8), or the "
                      "anchor (type TA, not the target) or the secret (type UPDATSEC, its Execute "
                      "condition) cannot be used";
    case 0x08: return "the payload does not fit the object";
    case 0x0F: return "invalid manifest, or one made for another chip (--chip-uid)";
    case 0x10: return "the payload version is not above the object's (rollback protection)";
    case 0x25: return "not supported by this chip";
    case 0x29: case 0x2A: return "the trust anchor object holds no usable certificate";
    case 0x2C: return "the manifest signature does not verify with the trust anchor";
    case 0x2D: return "a fragment does not match the digest chain (integrity)";
    case 0x2E: return "a fragment does not decrypt";
    default: return NULL;
    }
}

static int update_apply(int argc, char **argv)
{
    bool help = false, has0 = false, has1 = false, known;
    const char *man_f = NULL, *frag_f = NULL;
    const struct opt opts[] = {{"--manifest", 1, &man_f, NULL}, {"--fragments", 1, &frag_f, NULL},
                               {NULL, 0, NULL, NULL}};
    uint8_t *man = NULL, *frags = NULL;
    size_t ml = 0, fl = 0, used = 0;
    uint16_t v0 = 0, v1 = 0;
    struct manifest_claims cl;
    struct dev d;
    tma_status st;
    int np, rc = 1;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 2;
    if (help)
        HELP("usage: trustm update apply --manifest PREFIX.manifest --fragments PREFIX.fragments\n"
             "Sends a protected-update data set ('trustm update build', or Infineon's tool:\n"
             "the fragments concatenated) to the chip (SetObjectProtected; over the shielded\n"
             "connection with --binding). The chip checks the signature with its trust anchor,\n"
             "each fragment against the digest chain and the version against the object's;\n"
             "prints the object and its new version, or the chip's refusal in words.\n");
    if (man_f == NULL || frag_f == NULL) {
        return arg_fail("update apply: --manifest FILE and --fragments FILE are required");
    }
    if (read_file(man_f, &man, &ml, 1u << 20) != 0) return 2;
    if (ml == 0 || ml > MANIFEST_MAX) {
        free(man);
        return arg_fail("update apply: '%s' holds %zu bytes; a manifest is 1..%u bytes", man_f, ml,
                        MANIFEST_MAX);
    }
    if (read_file(frag_f, &frags, &fl, 1u << 20) != 0) {
        free(man);
        return 2;
    }
    if (fl == 0 || fl > 0xFFFF) {
        free(man);
        free(frags);
        return arg_fail("update apply: '%s' holds %zu bytes; fragments are 1..65535 bytes", frag_f, fl);
    }
    known = manifest_claims(man, ml, &cl);
    if (dev_open(&d) != 0) goto out;
    if (known && read_version(&d, cl.target, &has0, &v0, NULL) != 0) goto out_dev;
    st = trustm_protected_update(&d.chip, d.protect, man, ml, frags, fl);
    if (st != TMA_OK) {
        const char *why = TMA_IS_CHIP_ERROR(st) ? refusal(TMA_STATUS_CODE(st)) : NULL;
        char after[96] = "";
        if (known && read_version(&d, cl.target, &has1, &v1, NULL) == 0 && has1 && (v1 & 0x8000)) {
            /* a fragment was written before the refusal: the chip marks the version invalid */
            snprintf(after, sizeof(after), "; 0x%04X was partly written (version 0x%04X): send the "
                     "same data set again", cl.target, v1);
        }
        if (why != NULL) {
            fprintf(stderr, "trustm: update apply: refused by the chip (0x%02X): %s%s\n",
                    TMA_STATUS_CODE(st), why, after);
        } else {
            fail_st(st, "update apply: refused%s", after);
        }
        goto out_dev;
    }
    if (known) {
        if (read_version(&d, cl.target, &has1, &v1, &used) != 0) goto out_dev;
        char was[24] = "none";
        if (has0) snprintf(was, sizeof(was), (v0 & 0x8000) ? "0x%04X: interrupted" : "%u", v0);
        printf("0x%04X updated: version %u (was %s), %zu bytes used; signed for trust anchor 0x%04X\n",
               cl.target, has1 ? v1 : 0u, was, used, cl.anchor);
    } else {
        printf("update applied (the manifest's target could not be read on the host)\n");
    }
    rc = 0;
out_dev:
    dev_close(&d);
out:
    free(man);
    free(frags);
    return rc;
}

int cmd_update(int argc, char **argv)
{
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (argc < 2 || help)
        HELP("usage: trustm update build ...   make a signed data set (host only)\n"
             "       trustm update apply ...   send it to the chip\n"
             "Protected update: renews an object whose Change condition is Int(trust anchor),\n"
             "also after 'lock', with a data set signed by the anchor's key.\n"
             "'trustm update build --help', 'trustm update apply --help'.\n");
    if (!strcmp(argv[1], "build")) return update_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "apply")) return update_apply(argc - 1, argv + 1);
    return arg_fail("update: unknown action '%s' (build or apply)", argv[1]);
}
