/* The TLS binding on an OPTIGA Trust M (libtrustm): CalcSign, GetRandom and
 * certificate objects. */
#include "tma/tls_chip.h"

#include "trustm/cmd.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/platform_util.h>

#define CHIP_ERR(code) TMA_ERR(TMA_LAYER_TLS, (code))

tma_status tma_tls_chip_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                             size_t out_size, size_t *out_len)
{
    struct tma_tls_chip_signer *s = ctx;
    if (s == NULL || s->chip == NULL || out_len == NULL) {
        return CHIP_ERR(TMA_C_BAD_PARAM);
    }
    /* libtrustm returns a DER SEQUENCE already; the binding re-checks it. */
    return trustm_sign(s->chip, s->protect, TRUSTM_SIG_ECDSA, s->key_oid, hash, hash_len, out,
                       out_size, out_len);
}

tma_status tma_tls_chip_random(void *ctx, uint8_t *out, size_t len)
{
    struct tma_tls_chip_rng *r = ctx;
    if (r == NULL || r->chip == NULL) {
        return CHIP_ERR(TMA_C_BAD_PARAM);
    }
    return trustm_get_random(r->chip, r->protect, TRUSTM_RNG_TRNG, out, len);
}

tma_status tma_tls_chip_load_certs(struct trustm *chip, uint8_t protect, uint16_t oid,
                                   uint8_t *buf, size_t cap, mbedtls_x509_crt *chain,
                                   size_t *out_count)
{
    size_t len = 0;
    struct tma_span in;
    tma_status st;

    if (out_count != NULL) {
        *out_count = 0;
    }
    if (chip == NULL || buf == NULL || cap == 0u || chain == NULL) {
        return CHIP_ERR(TMA_C_BAD_PARAM);
    }
    st = trustm_read_data(chip, protect, oid, 0, buf, cap, &len);
    if (st == TMA_CHIP_ERROR(0x08)) {
        return CHIP_ERR(TMA_C_NOT_FOUND); /* used size 0 */
    }
    if (st != TMA_OK) {
        return st;
    }
    if (len == 0u || (buf[0] != 0x30u && buf[0] != 0xC0u)) {
        return len == 0u || buf[0] == 0x00u ? CHIP_ERR(TMA_C_NOT_FOUND)
                                            : CHIP_ERR(TMA_C_MALFORMED);
    }
    in.ptr = buf;
    in.len = len;
    if (buf[0] == 0x30u) {
        /* A single DER certificate followed by stale bytes is common: take
         * exactly the first element. */
        size_t n = 0;
        if (len >= 4u && buf[1] == 0x82u) {
            n = 4u + (((size_t)buf[2] << 8) | buf[3]);
        } else if (len >= 3u && buf[1] == 0x81u) {
            n = 3u + buf[2];
        }
        if (n == 0u || n > len) {
            return CHIP_ERR(TMA_C_MALFORMED);
        }
        in.len = n;
    }
    return tma_tls_parse_certs(chain, in, out_count);
}

tma_status tma_tls_chip_key_bind(struct tma_tls_key *key, mbedtls_pk_context *pk,
                                 struct tma_tls_chip_signer *signer,
                                 const mbedtls_x509_crt *chain, bool prove)
{
    const mbedtls_ecp_keypair *ec;
    struct tma_tls_signer sg;
    uint8_t point[1 + 2 * 48];
    size_t plen = 0;
    struct tma_span pub;
    tma_status st;

    if (key == NULL || pk == NULL || signer == NULL || signer->chip == NULL || chain == NULL ||
        chain->raw.p == NULL) {
        return CHIP_ERR(TMA_C_BAD_PARAM);
    }
    if (mbedtls_pk_get_type(&chain->pk) != MBEDTLS_PK_ECKEY) {
        return CHIP_ERR(TMA_C_UNSUPPORTED);
    }
    ec = (const mbedtls_ecp_keypair *)chain->pk.pk_ctx;
    if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &plen,
                                       point, sizeof(point)) != 0) {
        return CHIP_ERR(TMA_C_UNSUPPORTED);
    }
    sg.ctx = signer;
    sg.sign = tma_tls_chip_sign;
    pub.ptr = point;
    pub.len = plen;
    st = tma_tls_key_bind(key, pk, ec->grp.id, pub, &sg);
    if (st != TMA_OK || !prove) {
        return st;
    }
    {
        uint8_t digest[32];
        uint8_t sig[TMA_TLS_MAX_SIG_DER];
        size_t sig_len = 0;
        int ret;
        st = trustm_get_random(signer->chip, signer->protect, TRUSTM_RNG_TRNG, digest,
                               sizeof(digest));
        if (st == TMA_OK) {
            ret = mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, digest, sizeof(digest), sig, &sig_len,
                                  NULL, NULL);
            if (ret != 0) {
                st = key->last_signer_status != TMA_OK ? key->last_signer_status
                                                       : CHIP_ERR(TMA_C_CRYPTO);
            } else if (mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, digest, sizeof(digest), sig,
                                         sig_len) != 0) {
                st = CHIP_ERR(TMA_TLS_E_KEY_MISMATCH);
            }
        }
        if (st != TMA_OK) {
            mbedtls_pk_free(pk);
        }
    }
    return st;
}
