/**
 * @file crypto_ops.h
 * @brief The two primitives the shielded connection needs from the platform.
 *
 * libtrustm builds AES-CCM-8 (streaming) and the TLS 1.2 PRF (SHA-256) from
 * these in its core, so the core never includes a crypto library. The Linux
 * default is port/crypto_mbedtls.c (trustm_crypto_mbedtls()). A port for a
 * microcontroller maps them onto its AES/SHA peripheral or any library.
 */
#ifndef TRUSTM_CRYPTO_OPS_H
#define TRUSTM_CRYPTO_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct trustm_crypto_ops {
    void *ctx; /**< passed to every function */
    /**
     * Encrypt one 16-byte block with AES-128 (ECB, one block). in and out may
     * alias. Must not keep a copy of key after returning (or wipe it).
     * @return TMA_OK, or any error status (the library reports
     *         TMA_ERR(TMA_LAYER_SHIELD, TMA_C_CRYPTO)).
     */
    tma_status (*aes128_encrypt)(void *ctx, const uint8_t key[16], const uint8_t in[16],
                                 uint8_t out[16]);
    /**
     * HMAC-SHA256 of data (len bytes) under key (key_len bytes, <= 64).
     * @return TMA_OK or any error status.
     */
    tma_status (*hmac_sha256)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *data,
                              size_t len, uint8_t out[32]);
};

/** The mbedTLS implementation (port/crypto_mbedtls.c, host builds only). */
const struct trustm_crypto_ops *trustm_crypto_mbedtls(void);

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_CRYPTO_OPS_H */
