/**
 * @file port.h
 * @brief The one narrow platform interface libtrustm needs: I2C transfers,
 * a microsecond delay, a millisecond clock, and optional reset and lock hooks.
 *
 * Shaped like Linux/Zephyr i2c_msg transfers. The simulator implements the
 * same interface (in process, and through its Unix socket), so the driver
 * cannot tell a simulated chip from a real one.
 *
 * The OPTIGA Trust M supports neither repeated start nor clock stretching:
 * a register read is one transfer with a single write message (the register
 * address) followed by a separate transfer with a single read message. The
 * port therefore only has to support transfers of exactly one message; a port
 * may reject n != 1 with TMA_C_BAD_PARAM.
 */
#ifndef TRUSTM_PORT_H
#define TRUSTM_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Message flag: this message reads from the device (else it writes). */
#define TRUSTM_I2C_READ 0x0001u

/** One I2C message: START, address byte, data, STOP. */
struct trustm_i2c_msg {
    uint16_t addr;  /**< 7-bit device address */
    uint16_t flags; /**< TRUSTM_I2C_READ or 0 */
    uint16_t len;   /**< bytes to write from / read into buf */
    uint8_t *buf;   /**< caller-owned buffer of at least len bytes */
};

/** Reset kinds, as in the chip's documentation. */
enum trustm_reset_kind {
    TRUSTM_RESET_COLD = 0, /**< power cycle (VCC and RST) */
    TRUSTM_RESET_SOFT = 1, /**< SOFT_RESET register (done by the driver, not the port) */
    TRUSTM_RESET_WARM = 2  /**< RST pin only */
};

/**
 * @brief Platform operations. All function pointers take the port's ctx.
 *
 * transfer() returns:
 *  - TMA_OK when every byte was acknowledged (reads: buf filled);
 *  - TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK) when the address was not acknowledged
 *    (the chip is busy or asleep; the driver retries);
 *  - TMA_ERR(TMA_LAYER_BUS, TMA_C_IO) for any other bus failure.
 */
struct trustm_port {
    void *ctx;
    tma_status (*transfer)(void *ctx, struct trustm_i2c_msg *msgs, size_t n);
    /** Block for at least us microseconds. */
    void (*delay_us)(void *ctx, uint32_t us);
    /** Monotonic milliseconds (wraps at 2^32). */
    uint32_t (*now_ms)(void *ctx);
    /** Optional (may be NULL): drive the reset line / power. */
    tma_status (*reset)(void *ctx, enum trustm_reset_kind kind);
    /** Optional (both NULL or both set): serialise users of one chip. */
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
};

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_PORT_H */
