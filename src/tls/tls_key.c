/* A mbedtls_pk_context whose private-key operation is delegated (to the
 * chip). mbedTLS 2.28: a custom mbedtls_pk_info_t, type ECKEY, context
 * starting with an mbedtls_ecp_keypair that holds only the public point.
 * Facts: /work/shared/notes/mbedtls-chip-key.md, docs/tls-binding.md. */
#include "tma/tls.h"
#include "tls_internal.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk_internal.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>
#include <stdint.h>
#include <string.h>

#if defined(MBEDTLS_ECP_RESTARTABLE)
#error "tma_tls: the pk_info table below assumes MBEDTLS_ECP_RESTARTABLE is off (Debian's build)"
#endif
#if MBEDTLS_VERSION_MAJOR != 2
#error "tma_tls: this binding is for mbedTLS 2.x; see docs/tls-binding.md for 3.x"
#endif

#define KEY_ERR(code) TMA_ERR(TMA_LAYER_TLS, (code))
#define MIN_HASH 10u /* the chip's CalcSign accepts 10 bytes up to the key size */

static size_t key_bitlen(const void *ctx)
{
    const struct tma_tls_key *key = ctx;
    return key->ecp.grp.pbits;
}

static int key_can_do(mbedtls_pk_type_t type)
{
    return type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA;
}

static int key_verify(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash,
                      size_t hash_len, const unsigned char *sig, size_t sig_len)
{
    struct tma_tls_key *key = ctx;
    int ret;
    (void)md_alg;
    ret = mbedtls_ecdsa_read_signature(&key->ecp, hash, hash_len, sig, sig_len);
    if (ret == MBEDTLS_ERR_ECP_SIG_LEN_MISMATCH) {
        ret = MBEDTLS_ERR_PK_SIG_LEN_MISMATCH;
    }
    return ret;
}

static int key_sign(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash,
                    size_t hash_len, unsigned char *sig, size_t *sig_len,
                    int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    struct tma_tls_key *key = ctx;
    uint8_t raw[2u * (3u + 67u) + 3u];
    size_t raw_len = 0;
    size_t n;
    size_t max_der;
    tma_status st;
    int ret = MBEDTLS_ERR_PK_BAD_INPUT_DATA;

    (void)md_alg;
    (void)f_rng;
    (void)p_rng;
    *sig_len = 0;
    if (key->signer.sign == NULL || hash == NULL || hash_len < MIN_HASH) {
        key->last_signer_status = KEY_ERR(TMA_C_BAD_PARAM);
        return MBEDTLS_ERR_PK_BAD_INPUT_DATA;
    }
    /* ECDSA uses the leftmost bits of the hash; for byte-sized orders
     * (P-256, P-384) that is the first key_bytes bytes (e.g. a SHA-384
     * CertificateVerify hash for a P-256 key). */
    n = hash_len < key->key_bytes ? hash_len : key->key_bytes;
    max_der = MBEDTLS_ECDSA_MAX_SIG_LEN(key->ecp.grp.pbits);

    st = key->signer.sign(key->signer.ctx, hash, n, raw, sizeof(raw), &raw_len);
    if (st == TMA_OK && raw_len > sizeof(raw)) {
        st = KEY_ERR(TMA_C_INTERNAL);
    }
    if (st == TMA_OK) {
        struct tma_span in = {raw, raw_len};
        st = tma_tls_sig_to_der(in, key->key_bytes, sig, max_der, sig_len);
    }
    key->last_signer_status = st;
    if (st == TMA_OK) {
        key->sign_count++;
        ret = 0;
    } else {
        *sig_len = 0;
    }
    mbedtls_platform_zeroize(raw, sizeof(raw));
    return ret;
}

static void key_free(void *ctx)
{
    struct tma_tls_key *key = ctx;
    if (key != NULL) {
        mbedtls_ecp_keypair_free(&key->ecp);
        mbedtls_platform_zeroize(key, sizeof(*key));
    }
}

static void key_debug(const void *ctx, mbedtls_pk_debug_item *items)
{
    const struct tma_tls_key *key = ctx;
    items->type = MBEDTLS_PK_DEBUG_ECP;
    items->name = "eckey.Q";
    items->value = (void *)(uintptr_t)&key->ecp.Q; /* mbedTLS API is not const */
}

static const mbedtls_pk_info_t tma_key_info = {
    MBEDTLS_PK_ECKEY,
    "EC", /* same name as the software EC key, so tools print it as such */
    key_bitlen,
    key_can_do,
    key_verify,
    key_sign,
    NULL, /* decrypt */
    NULL, /* encrypt */
    NULL, /* check_pair: no private value here; use tma_tls_key_matches_cert */
    /* ctx_alloc: mbedTLS 2.28 calls it only from mbedtls_pk_setup(), which
     * cannot be given this table (it is static, and pk_setup takes the
     * tables of mbedtls_pk_info_from_type()); tma_tls_key_bind() installs
     * caller storage instead. */
    NULL,
    key_free,
    key_debug,
};

tma_status tma_tls_key_last_status(const mbedtls_pk_context *pk)
{
    if (pk == NULL || pk->pk_info != &tma_key_info || pk->pk_ctx == NULL) {
        return TMA_OK;
    }
    return ((const struct tma_tls_key *)pk->pk_ctx)->last_signer_status;
}

void tma_tls_key_reset_status(mbedtls_pk_context *pk)
{
    if (pk != NULL && pk->pk_info == &tma_key_info && pk->pk_ctx != NULL) {
        ((struct tma_tls_key *)pk->pk_ctx)->last_signer_status = TMA_OK;
    }
}

/* Public key from an uncompressed point, the chip's BIT STRING, or an SPKI. */
static tma_status load_public(struct tma_tls_key *key, mbedtls_ecp_group_id group,
                              struct tma_span pub)
{
    const uint8_t *p = pub.ptr;
    size_t len = pub.len;

    if (len > 0u && p[0] == 0x30u) {
        mbedtls_pk_context spki;
        tma_status st = KEY_ERR(TMA_C_MALFORMED);
        mbedtls_pk_init(&spki);
        if (mbedtls_pk_parse_public_key(&spki, p, len) == 0 &&
            mbedtls_pk_get_type(&spki) == MBEDTLS_PK_ECKEY &&
            mbedtls_pk_ec(spki)->grp.id == group &&
            mbedtls_ecp_copy(&key->ecp.Q, &mbedtls_pk_ec(spki)->Q) == 0) {
            st = TMA_OK;
        }
        mbedtls_pk_free(&spki);
        if (st != TMA_OK) {
            return st;
        }
    } else {
        if (len >= 4u && p[0] == 0x03u) {
            /* BIT STRING: 03 len 00 04..., short or 0x81 long form. */
            size_t hdr = p[1] == 0x81u ? 3u : 2u;
            size_t blen = p[1] == 0x81u ? p[2] : p[1];
            if (len < hdr + 1u || blen != len - hdr || p[hdr] != 0x00u) {
                return KEY_ERR(TMA_C_MALFORMED);
            }
            p += hdr + 1u;
            len -= hdr + 1u;
        }
        if (len != 1u + 2u * key->key_bytes || p[0] != 0x04u ||
            mbedtls_ecp_point_read_binary(&key->ecp.grp, &key->ecp.Q, p, len) != 0) {
            return KEY_ERR(TMA_C_MALFORMED);
        }
    }
    if (mbedtls_ecp_check_pubkey(&key->ecp.grp, &key->ecp.Q) != 0) {
        return KEY_ERR(TMA_C_MALFORMED);
    }
    return TMA_OK;
}

tma_status tma_tls_key_bind(struct tma_tls_key *key, mbedtls_pk_context *pk,
                            mbedtls_ecp_group_id group, struct tma_span pub,
                            const struct tma_tls_signer *signer)
{
    tma_status st;

    if (key == NULL || pk == NULL || pub.ptr == NULL || signer == NULL ||
        signer->sign == NULL || pk->pk_info != NULL) {
        return KEY_ERR(TMA_C_BAD_PARAM);
    }
    if (group == MBEDTLS_ECP_DP_SECP256R1) {
        key->key_bytes = 32;
    } else if (group == MBEDTLS_ECP_DP_SECP384R1) {
        key->key_bytes = 48;
    } else {
        return KEY_ERR(TMA_C_UNSUPPORTED);
    }
    mbedtls_ecp_keypair_init(&key->ecp);
    key->signer = *signer;
    key->sign_count = 0;
    key->last_signer_status = TMA_OK;
    if (mbedtls_ecp_group_load(&key->ecp.grp, group) != 0) {
        mbedtls_ecp_keypair_free(&key->ecp);
        return KEY_ERR(TMA_C_CRYPTO);
    }
    st = load_public(key, group, pub);
    if (st != TMA_OK) {
        mbedtls_ecp_keypair_free(&key->ecp);
        mbedtls_platform_zeroize(key, sizeof(*key));
        return st;
    }
    /* mbedtls_pk_setup() would call ctx_alloc; the context is caller-owned
     * storage instead (no heap in our code), so install it directly. The
     * fields are public in 2.x. */
    pk->pk_info = &tma_key_info;
    pk->pk_ctx = key;
    return TMA_OK;
}

tma_status tma_tls_key_matches_cert(const mbedtls_pk_context *pk, const mbedtls_x509_crt *crt)
{
    const mbedtls_ecp_keypair *a;
    const mbedtls_ecp_keypair *b;

    if (pk == NULL || crt == NULL || pk->pk_info == NULL) {
        return KEY_ERR(TMA_C_BAD_PARAM);
    }
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_get_type(&crt->pk) != MBEDTLS_PK_ECKEY) {
        return KEY_ERR(TMA_TLS_E_KEY_MISMATCH);
    }
    a = (const mbedtls_ecp_keypair *)pk->pk_ctx;
    b = (const mbedtls_ecp_keypair *)crt->pk.pk_ctx;
    if (a->grp.id != b->grp.id || mbedtls_ecp_point_cmp(&a->Q, &b->Q) != 0) {
        return KEY_ERR(TMA_TLS_E_KEY_MISMATCH);
    }
    return TMA_OK;
}

int tma_tls_entropy_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
    struct tma_tls_rng *rng = data;
    uint8_t chunk[64];
    size_t done = 0;
    int ret = MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;

    *olen = 0;
    if (rng == NULL || rng->fill == NULL) {
        return ret;
    }
    while (done < len) {
        size_t want = len - done;
        if (want > sizeof(chunk)) {
            want = sizeof(chunk);
        }
        /* The chip's GetRandom gives 8..256 bytes: ask for at least 8. */
        if (rng->fill(rng->ctx, chunk, want < 8u ? 8u : want) != TMA_OK) {
            goto out;
        }
        memcpy(output + done, chunk, want);
        done += want;
    }
    *olen = done;
    ret = 0;
out:
    mbedtls_platform_zeroize(chunk, sizeof(chunk));
    return ret;
}

tma_status tma_tls_entropy_add(mbedtls_entropy_context *entropy, struct tma_tls_rng *rng)
{
    if (entropy == NULL || rng == NULL || rng->fill == NULL) {
        return KEY_ERR(TMA_C_BAD_PARAM);
    }
    if (mbedtls_entropy_add_source(entropy, tma_tls_entropy_poll, rng, 32,
                                   MBEDTLS_ENTROPY_SOURCE_STRONG) != 0) {
        return KEY_ERR(TMA_C_FULL);
    }
    return TMA_OK;
}
