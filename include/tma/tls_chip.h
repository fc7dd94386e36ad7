/**
 * @file tls_chip.h
 * @brief The TLS binding wired to an OPTIGA Trust M through libtrustm:
 * signatures by CalcSign with a key object chosen at run time, entropy from
 * GetRandom, client certificate chain and trust anchors read from chip
 * objects (0xE0E0..0xE0E3 in the TLS-identity wrapper or DER, 0xE0E8/0xE0E9
 * DER).
 *
 * The caller opens the chip (trustm_open + trustm_open_app) and keeps the
 * struct trustm alive while the key or RNG is in use. Nothing here allocates.
 */
#ifndef TMA_TLS_CHIP_H
#define TMA_TLS_CHIP_H

#include "tma/tls.h"
#include "trustm/trustm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Signer context: which chip, which key object, which protection. */
struct tma_tls_chip_signer {
    struct trustm *chip;
    uint16_t key_oid;  /**< 0xE0F0..0xE0F3 */
    uint8_t protect;   /**< enum trustm_protect for CalcSign */
};

/** RNG context for GetRandom. */
struct tma_tls_chip_rng {
    struct trustm *chip;
    uint8_t protect;
};

/** @brief struct tma_tls_signer sign() for a tma_tls_chip_signer ctx
 * (CalcSign, ECDSA on the supplied digest). Returns libtrustm's status. */
tma_status tma_tls_chip_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                             size_t out_size, size_t *out_len);

/** @brief struct tma_tls_rng fill() for a tma_tls_chip_rng ctx (GetRandom TRNG). */
tma_status tma_tls_chip_random(void *ctx, uint8_t *out, size_t len);

/**
 * @brief Read a certificate object from the chip and append its
 * certificates to @p chain (TLS-identity wrapper, single DER, or DER list).
 * @param buf,cap scratch for the object's bytes (1728 is enough for any
 *                certificate object); wiped of nothing (certificates are public).
 * @param out_count certificates appended (optional)
 * @return TMA_OK; libtrustm statuses from the read (e.g. TMA_CHIP_ERROR(0x07));
 *         TMA_ERR(TLS, TMA_C_NOT_FOUND) when the object is empty;
 *         TMA_ERR(TLS, TMA_C_MALFORMED) when it holds no parsable certificate.
 */
tma_status tma_tls_chip_load_certs(struct trustm *chip, uint8_t protect, uint16_t oid,
                                   uint8_t *buf, size_t cap, mbedtls_x509_crt *chain,
                                   size_t *out_count);

/**
 * @brief Bind @p pk to the chip key @p signer->key_oid, taking the public key
 * from the leaf of @p chain (the certificate that will be sent), so the two
 * match by construction. The curve comes from the certificate (P-256/P-384).
 * @param prove  if true, sign a fresh random digest on the chip and verify it
 *               with the certificate's key: proves the slot holds the
 *               certificate's private key, at the cost of one signature (a
 *               Security Monitor event).
 * @return TMA_OK; TMA_ERR(TLS, TMA_C_BAD_PARAM); TMA_ERR(TLS, TMA_C_UNSUPPORTED)
 *         for a non-EC or other-curve certificate; TMA_ERR(TLS,
 *         TMA_TLS_E_KEY_MISMATCH) when @p prove fails to verify; chip statuses.
 */
tma_status tma_tls_chip_key_bind(struct tma_tls_key *key, mbedtls_pk_context *pk,
                                 struct tma_tls_chip_signer *signer,
                                 const mbedtls_x509_crt *chain, bool prove);

#ifdef __cplusplus
}
#endif

#endif /* TMA_TLS_CHIP_H */
