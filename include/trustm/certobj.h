/**
 * @file certobj.h
 * @brief Certificate data objects (E0E0..E0E3; spec 7.3): a single DER
 * certificate (first byte 0x30), a TLS-identity chain (0xC0 wrapper:
 * `C0 LLLL | list length (3) | { cert length (3) | DER cert }...`), or a
 * USB Type-C chain (0xC2 wrapper; here: `C2 LLLL` followed by concatenated
 * DER certificates - see docs/design/libtrustm-api.md). Build and parse;
 * pure functions, certificates are referenced in place, never copied.
 *
 * Statuses: TMA_OK; TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM) NULL pointers,
 * no certificates or a certificate that is not one DER SEQUENCE;
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED) object that does not parse;
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND) empty object (no bytes, or first
 * byte 0x00 as in a fresh chip) or index past the last certificate;
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL) output buffer too small.
 */
#ifndef TRUSTM_CERTOBJ_H
#define TRUSTM_CERTOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

enum trustm_certobj_format {
    TRUSTM_CERTOBJ_DER = 0x30,
    TRUSTM_CERTOBJ_TLS = 0xC0,
    TRUSTM_CERTOBJ_USBC = 0xC2
};

/** Parsed object; views into the parsed buffer. */
struct trustm_certobj {
    uint8_t format;       /**< enum trustm_certobj_format */
    size_t count;         /**< number of certificates (>= 1) */
    size_t used;          /**< bytes the structure occupies (the rest of the
                               object, if any, is stale data) */
    struct tma_span body; /**< the certificate entries (internal) */
};

/**
 * @brief Parse an object as read from the chip. Every certificate must be
 * exactly one DER SEQUENCE whose length agrees with the wrapper's fields.
 * Bytes after the structure are allowed (an object can hold stale data past
 * its content) and reported through out->used.
 */
tma_status trustm_certobj_parse(const uint8_t *obj, size_t len, struct trustm_certobj *out);

/** @brief The @p index-th certificate (0 = the device's own certificate). */
tma_status trustm_certobj_cert(const struct trustm_certobj *o, size_t index,
                               struct tma_span *out_cert);

/**
 * @brief Build an object: @p format TRUSTM_CERTOBJ_DER (exactly one
 * certificate, written as is), TRUSTM_CERTOBJ_TLS or TRUSTM_CERTOBJ_USBC
 * (one or more, device certificate first).
 * @param out_len bytes written. A single 506-byte certificate in TLS format
 *        gives the 515-byte layout of the factory object 0xE0E0.
 */
tma_status trustm_certobj_build(uint8_t format, const struct tma_span *certs, size_t n,
                                uint8_t *out, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
