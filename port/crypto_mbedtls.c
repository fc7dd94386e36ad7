/* Default crypto ops for the shielded connection: mbedTLS 2.28 AES and
 * HMAC-SHA256 (host builds only; the core never includes mbedTLS). */
#include <mbedtls/aes.h>
#include <mbedtls/md.h>

#include "trustm/crypto_ops.h"

static tma_status aes128(void *ctx, const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    mbedtls_aes_context a;
    int rc;
    (void)ctx;
    mbedtls_aes_init(&a);
    rc = mbedtls_aes_setkey_enc(&a, key, 128);
    if (rc == 0) {
        rc = mbedtls_aes_crypt_ecb(&a, MBEDTLS_AES_ENCRYPT, in, out);
    }
    mbedtls_aes_free(&a); /* zeroises the key schedule */
    return rc ? TMA_ERR(TMA_LAYER_SHIELD, TMA_C_CRYPTO) : TMA_OK;
}

static tma_status hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *data,
                       size_t len, uint8_t out[32])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    (void)ctx;
    if (!md || mbedtls_md_hmac(md, key, key_len, data, len, out) != 0) {
        return TMA_ERR(TMA_LAYER_SHIELD, TMA_C_CRYPTO);
    }
    return TMA_OK;
}

static const struct trustm_crypto_ops ops = {NULL, aes128, hmac};

const struct trustm_crypto_ops *trustm_crypto_mbedtls(void)
{
    return &ops;
}
