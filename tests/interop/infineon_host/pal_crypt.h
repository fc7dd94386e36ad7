/* Our declarations of the PAL crypto entry points the presentation layer
 * calls (signatures as implemented by the library's pal_crypt_mbedtls.c). */
#ifndef INTEROP_PAL_CRYPT_H
#define INTEROP_PAL_CRYPT_H
#include "pal.h"
typedef struct pal_crypt {
    void *unused;
} pal_crypt_t;
pal_status_t pal_crypt_tls_prf_sha256(pal_crypt_t *ctx, const uint8_t *secret, uint16_t secret_len,
                                      const uint8_t *label, uint16_t label_len, const uint8_t *seed,
                                      uint16_t seed_len, uint8_t *out, uint16_t out_len);
pal_status_t pal_crypt_encrypt_aes128_ccm(pal_crypt_t *ctx, const uint8_t *in, uint16_t in_len,
                                          const uint8_t *key, const uint8_t *nonce, uint16_t nonce_len,
                                          const uint8_t *ad, uint16_t ad_len, uint8_t tag_len,
                                          uint8_t *out);
pal_status_t pal_crypt_decrypt_aes128_ccm(pal_crypt_t *ctx, const uint8_t *in, uint16_t in_len,
                                          const uint8_t *key, const uint8_t *nonce, uint16_t nonce_len,
                                          const uint8_t *ad, uint16_t ad_len, uint8_t tag_len,
                                          uint8_t *out);
pal_status_t pal_crypt_version(uint8_t *out, uint16_t *len);
#endif
