/* Asymmetric keys: generation, signatures, ECDH, key derivation, RSA. */
#include "apdu.h"
#include "trustm/der.h"

#define BAD_PARAM CMD_ERR(TMA_C_BAD_PARAM)
#define MALFORMED CMD_ERR(TMA_C_MALFORMED)
#define UNSUPPORTED CMD_ERR(TMA_C_UNSUPPORTED)

/* One bit per ECC curve identifier (0x03..0x05, 0x13, 0x15, 0x16). */
#define ECC_ALGS ((1ul << TRUSTM_ALG_P256) | (1ul << TRUSTM_ALG_P384) | \
                  (1ul << TRUSTM_ALG_P521) | (1ul << TRUSTM_ALG_BP256) | \
                  (1ul << TRUSTM_ALG_BP384) | (1ul << TRUSTM_ALG_BP512))

static int is_ecc(uint8_t alg)
{
    return alg < 32 && ((ECC_ALGS >> alg) & 1u) != 0;
}

static int is_rsa(uint8_t alg)
{
    return alg == TRUSTM_ALG_RSA1024 || alg == TRUSTM_ALG_RSA2048;
}

/* RSA compiled out: the RSA identifiers are simply not accepted. */
static tma_status check_rsa(void)
{
    return TRUSTM_CFG_RSA ? TMA_OK : UNSUPPORTED;
}

static int key_ok(const struct trustm_pubkey *k)
{
    return k != NULL && (k->cert_oid != 0 || (k->key != NULL && k->key_len > 0 &&
                                              k->key_len <= 600));
}

/* The value of TLV `tag` in buf[0..len) (2-byte lengths) and its length,
 * or NULL when the walk meets no such tag or a TLV overrunning the end. */
static const uint8_t *find(const uint8_t *buf, size_t len, uint8_t tag, size_t *out_len)
{
    while (len >= 3) {
        size_t n = ((size_t)buf[1] << 8) | buf[2];
        if (n > len - 3) {
            break;
        }
        if (buf[0] == tag) {
            *out_len = n;
            return buf + 3;
        }
        buf += 3 + n;
        len -= 3 + n;
    }
    return NULL;
}

tma_status trustm_gen_keypair(struct trustm *t, uint8_t protect, uint8_t alg, uint16_t oid,
                              uint8_t usage, uint8_t *buf, size_t cap,
                              struct trustm_keypair *out_key)
{
    struct apdu a;
    size_t n;
    size_t len;
    size_t h;
    const uint8_t *v;
    tma_status st;

    if (buf == NULL || out_key == NULL || !(is_ecc(alg) || is_rsa(alg))) {
        return BAD_PARAM;
    }
    trustm_wipe(out_key, sizeof(*out_key));
    if (is_rsa(alg) && check_rsa() != TMA_OK) {
        return UNSUPPORTED;
    }
    apdu_begin(&a, t, protect, CMD_GEN_KEYPAIR << 8 | alg);
    apdu_keydest(&a, oid, usage);
    st = apdu_exec(&a, buf, cap);
    n = a.total;
    if (st != TMA_OK) {
        return st;
    }
    if ((v = find(buf, n, 0x02, &len)) == NULL ||
        trustm_der_bitstring(v, len, &h, &len) != TMA_OK) {
        goto malformed;
    }
    out_key->pub.ptr = v + h;
    out_key->pub.len = len;
    if (oid == TRUSTM_OID_EXPORT) {
        size_t vlen;
        if ((v = find(buf, n, 0x01, &len)) == NULL ||
            trustm_der_tlv(v, len, 0x04, &h, &vlen) != TMA_OK || h + vlen != len) {
            goto malformed;
        }
        out_key->priv.ptr = v + h;
        out_key->priv.len = vlen;
    }
    return TMA_OK;

malformed:
    /* an exported private key may be in buf even when the rest is bad */
    trustm_wipe(buf, n);
    trustm_wipe(out_key, sizeof(*out_key));
    return MALFORMED;
}

static size_t rsa_digest_len(uint8_t scheme)
{
    return scheme == TRUSTM_SIG_RSA_SHA256 ? 32u
           : scheme == TRUSTM_SIG_RSA_SHA384 ? 48u
           : scheme == TRUSTM_SIG_RSA_SHA512 ? 64u
                                             : 0u;
}

/* Digest length rule of a scheme; returns TMA_OK or an error status. */
static tma_status check_digest(uint8_t scheme, const uint8_t *digest, size_t len)
{
    if (digest == NULL) {
        return BAD_PARAM;
    }
    if (scheme == TRUSTM_SIG_ECDSA) {
        return len >= 10 && len <= 64 ? TMA_OK : BAD_PARAM;
    }
    if (rsa_digest_len(scheme) == 0 || rsa_digest_len(scheme) != len) {
        return BAD_PARAM;
    }
    return check_rsa();
}

tma_status trustm_sign(struct trustm *t, uint8_t protect, uint8_t scheme, uint16_t key_oid,
                       const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t cap,
                       size_t *out_len)
{
    struct apdu a;
    size_t n;
    tma_status st = check_digest(scheme, digest, digest_len);

    if (st != TMA_OK) {
        return st;
    }
    if (sig == NULL || out_len == NULL) {
        return BAD_PARAM;
    }
    *out_len = 0;
    apdu_begin(&a, t, protect, CMD_CALC_SIGN << 8 | scheme);
    apdu_tlv(&a, 0x01, digest, digest_len);
    apdu_tlv16(&a, 0x03, key_oid);
    st = apdu_exec(&a, sig, cap);
    n = a.total;
    if (st == TMA_OK) {
        if (scheme != TRUSTM_SIG_ECDSA) {
            *out_len = n;
        } else if (trustm_der_sig_from_chip(sig, n, cap, out_len) != TMA_OK) {
            /* too small here means the re-encoded form did not fit */
            st = n + 3 > cap ? CMD_ERR(TMA_C_TOO_SMALL) : MALFORMED;
        }
    }
    return st;
}

tma_status trustm_ecdsa_sign_rs(struct trustm *t, uint8_t protect, uint16_t key_oid,
                                const uint8_t *digest, size_t digest_len, size_t comp_len,
                                uint8_t *out_rs)
{
    uint8_t der[TRUSTM_ECDSA_DER_MAX + 3];
    size_t n = 0;
    tma_status st;

    if (out_rs == NULL || comp_len == 0 || comp_len > TRUSTM_ECDSA_COMP_MAX) {
        return BAD_PARAM;
    }
    st = trustm_sign(t, protect, TRUSTM_SIG_ECDSA, key_oid, digest, digest_len, der,
                     sizeof(der), &n);
    if (st == TMA_OK) {
        st = trustm_der_sig_to_rs(der, n, comp_len, out_rs);
    }
    return st;
}

tma_status trustm_verify(struct trustm *t, uint8_t protect, uint8_t scheme, const uint8_t *digest,
                         size_t digest_len, const uint8_t *sig, size_t sig_len,
                         const struct trustm_pubkey *key)
{
    struct apdu a;
    size_t off = 0;
    size_t n = sig_len;
    tma_status st = check_digest(scheme, digest, digest_len);

    if (st != TMA_OK) {
        return st;
    }
    if (sig == NULL || sig_len == 0 || sig_len > 520 || !key_ok(key)) {
        return BAD_PARAM;
    }
    if (scheme == TRUSTM_SIG_ECDSA && trustm_der_sig_body(sig, sig_len, &off, &n) != TMA_OK) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_VERIFY_SIGN << 8 | scheme);
    apdu_tlv(&a, 0x01, digest, digest_len);
    apdu_tlv(&a, 0x02, sig + off, n);
    apdu_pubkey(&a, key);
    return apdu_exec(&a, NULL, 0);
}

/* Export into out, or store into a session (then out may be NULL). */
static void target(struct apdu *a, uint16_t session)
{
    if (session == TRUSTM_OID_EXPORT) {
        apdu_tl(a, 0x07, 0);
    } else {
        apdu_tlv16(a, 0x08, session);
    }
}

/* Exported: OutData in out, never empty; into a session: none. Returns the
 * OutLen in a->total (0 on failure). */
static tma_status exec_out(struct apdu *a, uint16_t session, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    tma_status st = BAD_PARAM;
    int exp = session == TRUSTM_OID_EXPORT;

    if (!exp || out != NULL) {
        st = apdu_exec(a, out, exp ? cap : 0u);
    } else {
        a->total = 0;
    }
    if (st == TMA_OK && exp != (a->total != 0)) {
        st = MALFORMED;
        if (out != NULL) {
            trustm_wipe(out, a->total); /* never hand out half a secret */
        }
        a->total = 0;
    }
    if (out_len != NULL) {
        *out_len = a->total;
    }
    return st;
}

tma_status trustm_ecdh(struct trustm *t, uint8_t protect, uint16_t priv_oid,
                       const struct trustm_pubkey *peer, uint16_t session, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    struct apdu a;
    if (!key_ok(peer) || peer->cert_oid != 0 || !is_ecc(peer->alg)) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_CALC_SSEC << 8 | 0x01);
    apdu_tlv16(&a, 0x01, priv_oid);
    apdu_pubkey(&a, peer);
    target(&a, session);
    return exec_out(&a, session, out, cap, out_len);
}

tma_status trustm_derive_key(struct trustm *t, uint8_t protect, uint8_t kdf, uint16_t secret_oid,
                             const uint8_t *data, size_t data_len, const uint8_t *info,
                             size_t info_len, size_t key_len, uint16_t session, uint8_t *out)
{
    struct apdu a;
    tma_status st;
    int hkdf = kdf >= TRUSTM_KDF_HKDF_SHA256 && kdf <= TRUSTM_KDF_HKDF_SHA512;

    if (!hkdf && (kdf < TRUSTM_KDF_PRF_SHA256 || kdf > TRUSTM_KDF_PRF_SHA512)) {
        return BAD_PARAM;
    }
    if ((data == NULL && data_len != 0) || data_len > 1024 || (!hkdf && data_len < 8) ||
        (info == NULL && info_len != 0) || info_len > 256 || (!hkdf && info_len != 0) ||
        key_len < 16 || key_len > (session == TRUSTM_OID_EXPORT ? 256u : 66u)) {
        return BAD_PARAM;
    }
    if (!TRUSTM_CFG_V3 && kdf != TRUSTM_KDF_PRF_SHA256) {
        return UNSUPPORTED;
    }
    /* Tag order 01, 03, 07/08, 04, 02 (the chip accepts any order): both
     * long fields go last, so they travel without copying. */
    apdu_begin(&a, t, protect, CMD_DERIVE_KEY << 8 | kdf);
    apdu_tlv16(&a, 0x01, secret_oid);
    apdu_tlv16(&a, 0x03, (unsigned)key_len);
    target(&a, session);
    if (info_len != 0) {
        apdu_tlv(&a, 0x04, info, info_len);
    }
    apdu_tlv(&a, 0x02, data, data_len);
    st = exec_out(&a, session, out, key_len, NULL);
    if (st == TMA_OK && session == TRUSTM_OID_EXPORT && a.total != key_len) {
        trustm_wipe(out, a.total);
        st = MALFORMED;
    }
    return st;
}

#if TRUSTM_CFG_RSA
/* Response `61 LL data` moved to out[0] (a malformed one is wiped: a
 * decrypted answer may hold plaintext); its length in *out_len. */
static tma_status untag61(tma_status st, struct apdu *a, uint8_t *out, size_t *out_len)
{
    if (st == TMA_OK && a->total != 0) {
        st = apdu_untag(a, out, 0x61, 0);
    }
    *out_len = a->total;
    return st;
}

tma_status trustm_rsa_encrypt(struct trustm *t, uint8_t protect, const uint8_t *msg,
                              size_t msg_len, uint16_t session, const struct trustm_pubkey *key,
                              uint8_t *out, size_t cap, size_t *out_len)
{
    struct apdu a;
    uint8_t sess[2];
    tma_status st;

    if (!key_ok(key) || out == NULL || out_len == NULL ||
        (key->cert_oid == 0 && !is_rsa(key->alg)) ||
        (msg == NULL ? session == 0 : (session != 0 || msg_len == 0 || msg_len > 245))) {
        return BAD_PARAM;
    }
    /* the message (61) or the session holding it (02 00 02 OID) */
    sess[0] = (uint8_t)(session >> 8);
    sess[1] = (uint8_t)session;
    apdu_begin(&a, t, protect, CMD_ENCRYPT_ASYM << 8 | 0x11);
    apdu_tlv(&a, msg != NULL ? 0x61 : 0x02, msg != NULL ? msg : sess, msg != NULL ? msg_len : 2u);
    apdu_pubkey(&a, key);
    st = untag61(apdu_exec(&a, out, cap), &a, out, out_len);
    return st == TMA_OK && *out_len == 0 ? MALFORMED : st;
}

tma_status trustm_rsa_decrypt(struct trustm *t, uint8_t protect, uint16_t key_oid,
                              const uint8_t *ct, size_t ct_len, uint16_t session, uint8_t *out,
                              size_t cap, size_t *out_len)
{
    struct apdu a;
    tma_status st;

    if (ct == NULL || (ct_len != 128 && ct_len != 256) ||
        (session == TRUSTM_OID_EXPORT && out_len == NULL)) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_DECRYPT_ASYM << 8 | 0x11);
    apdu_tlv(&a, 0x61, ct, ct_len);
    apdu_tlv16(&a, 0x03, key_oid);
    if (session != TRUSTM_OID_EXPORT) {
        apdu_tlv16(&a, 0x02, session);
    }
    st = exec_out(&a, session, out, cap, NULL);
    if (out_len != NULL) {
        st = untag61(st, &a, out, out_len);
    }
    return st;
}
#endif
