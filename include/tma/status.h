/**
 * @file status.h
 * @brief The one status type shared by every component of trustm-azure.
 *
 * A status is an int32_t:
 *  - 0 (TMA_OK) is success;
 *  - a small positive value is a flow code (want read, want write, in progress);
 *  - a negative value is an error: -(layer << 8 | code).
 *
 * The layer says where the error arose (bus, link, network, shield, command,
 * chip, tls, mqtt, hub, ...). For TMA_LAYER_CHIP the code is the chip's own
 * error byte from 0xF1C2, carried through untouched (e.g. 0x07 = access
 * conditions not satisfied -> TMA_ERR(TMA_LAYER_CHIP, 0x07)).
 *
 * Common codes (TMA_C_*) mean the same thing in every layer; a layer may add
 * codes of its own from 0x40 upwards in its own header.
 */
#ifndef TMA_STATUS_H
#define TMA_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t tma_status;

/** Success. */
#define TMA_OK 0
/** Flow codes (non-negative, not errors). */
#define TMA_WANT_READ 1
#define TMA_WANT_WRITE 2
#define TMA_IN_PROGRESS 3

/** Layers. Values are part of the status encoding; do not renumber. */
enum tma_layer {
    TMA_LAYER_GENERIC = 0x00,
    TMA_LAYER_BUS = 0x01,     /**< I2C port / physical layer */
    TMA_LAYER_LINK = 0x02,    /**< data link layer (frames) */
    TMA_LAYER_NET = 0x03,     /**< network/transport layer (packets, chaining) */
    TMA_LAYER_SHIELD = 0x04,  /**< presentation layer (shielded connection) */
    TMA_LAYER_CMD = 0x05,     /**< command layer (APDU build/parse) */
    TMA_LAYER_CHIP = 0x06,    /**< chip reported an error; code = 0xF1C2 byte */
    TMA_LAYER_TLS = 0x07,
    TMA_LAYER_MQTT = 0x08,
    TMA_LAYER_HUB = 0x09,
    TMA_LAYER_IOTHUB = 0x0A,
    TMA_LAYER_DPS = 0x0B,
    TMA_LAYER_STORE = 0x0C,   /**< persistent storage (outbox, state files) */
    TMA_LAYER_SIM = 0x0D,     /**< simulator */
    TMA_LAYER_TRANSPORT = 0x0E /**< send/recv transport (TCP, socket) */
};

/** Codes common to all layers (0x01..0x3F). */
enum tma_common_code {
    TMA_C_BAD_PARAM = 0x01,      /**< NULL pointer, bad length or value */
    TMA_C_TOO_SMALL = 0x02,      /**< output buffer too small */
    TMA_C_TIMEOUT = 0x03,        /**< documented timeout elapsed */
    TMA_C_UNSUPPORTED = 0x04,    /**< feature compiled out or not supported */
    TMA_C_STATE = 0x05,          /**< call not valid in the current state */
    TMA_C_MALFORMED = 0x06,      /**< received data does not parse */
    TMA_C_IO = 0x07,             /**< port/transport I/O failure */
    TMA_C_NACK = 0x08,           /**< bus: address not acknowledged */
    TMA_C_INTEGRITY = 0x09,      /**< MAC / CRC / signature check failed */
    TMA_C_FAILED = 0x0A,         /**< session failed; reset required */
    TMA_C_NOT_FOUND = 0x0B,
    TMA_C_FULL = 0x0C,           /**< queue/store full */
    TMA_C_CLOSED = 0x0D,         /**< peer closed the connection */
    TMA_C_REFUSED = 0x0E,        /**< peer refused (e.g. CONNACK != 0) */
    TMA_C_INTERNAL = 0x0F,       /**< internal invariant violated */
    TMA_C_CRYPTO = 0x10,         /**< crypto primitive failed */
    TMA_C_IN_USE = 0x11          /**< held by another process (a lock) */
};

#define TMA_ERR(layer, code) \
    ((tma_status) - (int32_t)((((uint32_t)(layer) & 0xFFu) << 8) | ((uint32_t)(code) & 0xFFu)))

/** Layer of an error status (0 for success or flow codes). */
#define TMA_STATUS_LAYER(s) ((s) < 0 ? (uint8_t)(((uint32_t)(-(s)) >> 8) & 0xFFu) : (uint8_t)0)
/** Code of an error status within its layer (0 for success or flow codes). */
#define TMA_STATUS_CODE(s) ((s) < 0 ? (uint8_t)((uint32_t)(-(s)) & 0xFFu) : (uint8_t)0)
/** True when s is an error reported by the chip itself. */
#define TMA_IS_CHIP_ERROR(s) (TMA_STATUS_LAYER(s) == TMA_LAYER_CHIP)
/** Status for a chip error byte as read from 0xF1C2. */
#define TMA_CHIP_ERROR(chip_code) TMA_ERR(TMA_LAYER_CHIP, (chip_code))

/**
 * @brief Human-readable name of a status, e.g. "chip: access conditions not
 * satisfied (0x07)". Always returns a static, NUL-terminated string.
 */
const char *tma_status_str(tma_status s);

/** @brief Name of a layer, e.g. "link". */
const char *tma_layer_name(uint8_t layer);

#ifdef __cplusplus
}
#endif

#endif /* TMA_STATUS_H */
