/*
 * Small software AES-128 (one block, encryption only) and HMAC-SHA256 for the
 * QEMU Cortex-M4 firmware: the two primitives libtrustm's shielded connection
 * takes through struct trustm_crypto_ops. No tables in flash beyond the SHA-256
 * round constants (the AES S-box is computed into RAM once); not constant-time
 * (a table lookup by secret index), which is acceptable for a test firmware
 * and NOT for a product: use the MCU's AES/SHA peripheral or a vetted library.
 */
#ifndef QEMU_SOFT_CRYPTO_H
#define QEMU_SOFT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "trustm/crypto_ops.h"

void soft_aes128_encrypt(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);
void soft_sha256(const uint8_t *d, size_t n, uint8_t out[32]);
void soft_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *d, size_t n,
                      uint8_t out[32]);
/** The ops table for trustm_shield_set_secret(). */
const struct trustm_crypto_ops *soft_crypto_ops(void);

#endif
