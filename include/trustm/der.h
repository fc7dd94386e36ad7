/**
 * @file der.h
 * @brief Pure DER helpers for what the chip exchanges: ECDSA signatures
 * (chip form `02 Lr r 02 Ls s`, standard `SEQUENCE {r, s}`, raw r||s) and
 * public-key BIT STRINGs. No I/O, no allocation; inputs are never read past
 * their stated length.
 *
 * Statuses: TMA_OK; TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM) NULL pointer or
 * bad size argument; TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED) input that does
 * not parse (wrong tag, long/indefinite/non-minimal length, trailing bytes,
 * empty or negative integer, component larger than the curve);
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL) output buffer too small.
 */
#ifndef TRUSTM_DER_H
#define TRUSTM_DER_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest ECDSA component (P-521). */
#define TRUSTM_ECDSA_COMP_MAX 66u
/** Largest DER ECDSA signature we produce (P-521). */
#define TRUSTM_ECDSA_DER_MAX 139u

/**
 * @brief Turn the chip's CalcSign output (two DER INTEGERs, possibly with a
 * redundant leading 0x00) in place into a minimal DER `SEQUENCE {r, s}`.
 * @param buf     chip output, buf[0..len)
 * @param cap     capacity of buf (needs up to 3 bytes more than len)
 * @param out_len length of the SEQUENCE written at buf[0]
 */
tma_status trustm_der_sig_from_chip(uint8_t *buf, size_t len, size_t cap, size_t *out_len);

/**
 * @brief Check a DER `SEQUENCE {INTEGER r, INTEGER s}` and return the offset
 * and length of its content (the two INTEGERs, which is what VerifySign
 * wants). Non-minimal integers are accepted; negative ones are not.
 */
tma_status trustm_der_sig_body(const uint8_t *der, size_t len, size_t *out_off,
                               size_t *out_len);

/**
 * @brief DER signature -> raw r||s, each left-padded to @p comp bytes.
 * @param out 2*comp bytes
 */
tma_status trustm_der_sig_to_rs(const uint8_t *der, size_t len, size_t comp, uint8_t *out);

/**
 * @brief Raw r||s (2*comp bytes) -> minimal DER SEQUENCE.
 * @param out_len bytes written (<= 2*comp + 9)
 */
tma_status trustm_der_sig_from_rs(const uint8_t *rs, size_t comp, uint8_t *out, size_t cap,
                                  size_t *out_len);

/**
 * @brief Parse a DER BIT STRING with 0 unused bits that fills der[0..len);
 * return offset and length of its content after the unused-bits byte
 * (`04 X Y` for an ECC key).
 */
tma_status trustm_der_bitstring(const uint8_t *der, size_t len, size_t *out_off,
                                size_t *out_len);

/**
 * @brief Read one DER TLV header at der[0..len): @p tag must match, the
 * length must be definite, minimal, at most 0xFFFF and fit in len.
 * @param out_hdr header size; @param out_vlen value length
 */
tma_status trustm_der_tlv(const uint8_t *der, size_t len, uint8_t tag, size_t *out_hdr,
                          size_t *out_vlen);

#ifdef __cplusplus
}
#endif

#endif
