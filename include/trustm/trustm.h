/**
 * @file trustm.h
 * @brief libtrustm context and protocol stack: physical layer (I2C registers),
 * data link (frames, CRC, ACK/NAK, retransmission, RESYNC), network (chaining)
 * and presentation layer (shielded connection).
 *
 * Synchronous, allocation-free, no OS calls: all I/O and time go through the
 * caller's struct trustm_port. The context is caller-allocated; its size is
 * sizeof(struct trustm) (about 700 bytes with TRUSTM_CFG_SHIELD on a 32-bit
 * MCU, see docs/footprint.md). One context drives one chip; a context is not
 * thread-safe: use the port's lock hooks (held from trustm_open() to
 * trustm_close()) when several threads or processes share a chip.
 *
 * Typical use:
 * @code
 *   struct trustm t;
 *   trustm_init(&t, &port, NULL);        // defaults: address 0x30, 277-byte frames
 *   trustm_open(&t);                     // soft reset + DATA_REG_LEN negotiation
 *   trustm_shield_set_secret(&t, ops, pbs, 64);  // optional
 *   ... commands (trustm/cmd.h), which call trustm_transceive() ...
 *   trustm_close(&t);
 *   trustm_deinit(&t);                   // wipes secrets and keys
 * @endcode
 *
 * Timeouts (all measured with port->now_ms, so a simulator's virtual clock
 * works too):
 *  - guard time: TRUSTM_GUARD_US after every I2C transaction;
 *  - address NACK (chip busy/asleep): a write or register read is retried with
 *    back-off for at most TRUSTM_NACK_TIMEOUT_MS, then
 *    TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
 *  - acknowledgement of a data frame: TRUSTM_TRANS_TIMEOUT_MS per attempt;
 *    TRUSTM_TRANS_REPEAT retransmissions (attempts NAKed by a chip that
 *    reports BUSY are not counted, for up to TRUSTM_BUSY_WAIT_MS), then a
 *    RESYNC and a restart of the message; after TRUSTM_RESYNC_MAX resyncs
 *    TMA_ERR(TMA_LAYER_LINK, TMA_C_TIMEOUT);
 *  - the response to a command: the per-command bound returned by
 *    trustm_rsp_timeout_ms() (e.g. 6 s for ECC/AES/data commands,
 *    180 s for RSA key generation), after which TMA_ERR(TMA_LAYER_LINK,
 *    TMA_C_TIMEOUT);
 *  - so one trustm_transceive() never takes longer than
 *    trustm_transceive_bound_ms() for its command and length.
 */
#ifndef TRUSTM_TRUSTM_H
#define TRUSTM_TRUSTM_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "trustm/config.h"
#include "trustm/crypto_ops.h"
#include "trustm/port.h"
#include "trustm/transceive.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default 7-bit I2C address of the OPTIGA Trust M. */
#define TRUSTM_DEFAULT_ADDR 0x30u
/** Largest data-link frame (DATA_REG_LEN 0x0115) and the smallest allowed. */
#define TRUSTM_FRAME_MAX 277u
#define TRUSTM_FRAME_MIN 16u
/** Largest command or response APDU (OID 0xE0C6). */
#define TRUSTM_APDU_MAX 1557u
/** Largest platform binding secret kept in the context. */
#define TRUSTM_PBS_MAX 64u

/** Timing constants (spec sections 1.4, 1.6, 2.5). */
#define TRUSTM_GUARD_US 50u
#define TRUSTM_NACK_TIMEOUT_MS 200u
#define TRUSTM_TRANS_TIMEOUT_MS 10u
#define TRUSTM_TRANS_REPEAT 3u
/** A frame the chip NAKs while I2C_STATE says BUSY (it still executes an
 *  earlier command) is resent for up to this long without counting as one
 *  of the TRUSTM_TRANS_REPEAT attempts. */
#define TRUSTM_BUSY_WAIT_MS 6000u
#define TRUSTM_RESYNC_MAX 4u
#define TRUSTM_STARTUP_MS 15u
#define TRUSTM_RESET_LOW_MS 2u

/** Layer-specific codes (>= 0x40), used with TMA_LAYER_NET / TMA_LAYER_SHIELD. */
#define TRUSTM_E_CHAIN 0x40     /**< net: chip reported a chaining error (PCTR 0x07) twice */
#define TRUSTM_E_ALERT 0x41     /**< shield: chip sent an alert; session must be re-established */
#define TRUSTM_E_HANDSHAKE 0x42 /**< shield: handshake failed (typically PBS mismatch) */
#define TRUSTM_E_NO_SECRET 0x43 /**< shield: protection asked for but no secret set */

/** trustm_cfg.flags */
#define TRUSTM_F_NO_RESET 0x01u /**< trustm_open(): no soft reset, only RESYNC */

/** Options for trustm_init(); NULL or zeroed fields mean the defaults. */
struct trustm_cfg {
    uint8_t addr;        /**< 7-bit address; 0 = TRUSTM_DEFAULT_ADDR */
    uint8_t flags;       /**< TRUSTM_F_* */
    uint16_t frame_size; /**< DATA_REG_LEN to ask for, 16..277; 0 = 277 */
    uint32_t rsp_timeout_ms; /**< override for every command's response bound; 0 = per command */
};

/** Link states. */
enum trustm_link_state { TRUSTM_LINK_CLOSED = 0, TRUSTM_LINK_OPEN = 1 };

/** Shielded-connection states. */
enum trustm_shield_state {
    TRUSTM_SHIELD_NONE = 0,   /**< no session (keys zero) */
    TRUSTM_SHIELD_ACTIVE = 1, /**< handshake done, keys valid */
    TRUSTM_SHIELD_FAILED = 2  /**< MAC/sequence failure: keys wiped, every call fails until reset */
};

/** Session keys and counters saved across hibernate (store it like a key). */
struct trustm_shield_saved {
    uint8_t keys[40]; /**< MasterEncKey, SlaveEncKey, MasterNonce, SlaveNonce */
    uint32_t mseq;    /**< last master sequence number used */
    uint32_t sseq;    /**< last slave sequence number accepted */
};

/** Internal: data-link acknowledgement state (src/trustm/link.c). */
struct trustm_lk {
    uint8_t st;    /**< waiting for nothing, our ACK, or the chip's data frame */
    uint8_t tx_nr; /**< number of our last data frame */
    uint8_t rx_nr; /**< number of the chip's last data frame received */
};

/**
 * @brief The context. Caller-allocated, no heap. Treat fields as private.
 */
struct trustm {
    const struct trustm_port *port;
    uint32_t rsp_timeout_ms;
    uint16_t frame_size; /**< negotiated DATA_REG_LEN */
    uint16_t want_frame; /**< requested DATA_REG_LEN */
    uint8_t addr;
    uint8_t flags;
    uint8_t link;  /**< enum trustm_link_state */
    struct trustm_lk lk; /**< data link state and frame numbers */
    uint8_t prl;   /**< presentation layer in use since the last reset */
    uint8_t locked;
    uint8_t busy;  /**< I2C_STATE BUSY at the last poll */
#if TRUSTM_CFG_SHIELD
    /* (the shield's scalars before the frame buffers: small offsets give
     * the short load/store instructions on Thumb-2) */
    uint8_t shield;     /**< enum trustm_shield_state */
    uint8_t secret_len;
    const struct trustm_crypto_ops *ops;
    /** internal: the shielded layer's entry (handshake, protection of one
     *  exchange), set with the secret, so that an application that never
     *  sets one links none of the shielded layer */
    tma_status (*shield_fn)(struct trustm *t, uint8_t op, void *xchg);
    struct trustm_shield_saved sess;
#endif
    uint8_t tx[TRUSTM_FRAME_MAX + 1]; /**< register byte + the frame in flight (kept for retransmission) */
    uint8_t rx[TRUSTM_FRAME_MAX]; /**< the frame last received */
#if TRUSTM_CFG_SHIELD
    uint8_t secret[TRUSTM_PBS_MAX];
#endif
};

/**
 * @brief Initialise a context. No I/O.
 * @param t    context to fill (any content)
 * @param port platform port; must outlive the context; transfer, delay_us and
 *             now_ms required, lock/unlock both or neither
 * @param cfg  options, or NULL for defaults
 * @return TMA_OK; TMA_ERR(TMA_LAYER_GENERIC, TMA_C_BAD_PARAM) for NULL t/port,
 *         missing port functions, frame_size outside 16..277 or addr > 0x7F.
 */
tma_status trustm_init(struct trustm *t, const struct trustm_port *port,
                       const struct trustm_cfg *cfg);

/**
 * @brief Open the link: take the port lock (if any), soft-reset the chip
 * (unless TRUSTM_F_NO_RESET: then a RESYNC frame), negotiate DATA_REG_LEN and
 * set the frame counters to 3/3. The application is not opened: that is
 * OpenApplication (trustm/cmd.h).
 * @return TMA_OK; TMA_ERR(GENERIC, BAD_PARAM); bus errors
 *         TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK / TMA_C_IO);
 *         TMA_ERR(TMA_LAYER_BUS, TMA_C_MALFORMED) when the chip reports a
 *         DATA_REG_LEN below 16 or above the requested size, or no soft reset.
 */
tma_status trustm_open(struct trustm *t);

/** @brief Close the link and release the port lock. Keeps the shield secret.
 *  @return TMA_OK or TMA_ERR(GENERIC, BAD_PARAM). */
tma_status trustm_close(struct trustm *t);

/**
 * @brief Reset the chip and the stack: TRUSTM_RESET_SOFT through the
 * SOFT_RESET register, WARM/COLD through port->reset. Waits the start-up time,
 * renegotiates DATA_REG_LEN, counters back to 3/3, the presentation layer off,
 * session keys wiped and a FAILED shield cleared. The application is closed
 * on the chip afterwards.
 * @return TMA_OK; TMA_ERR(GENERIC, BAD_PARAM); TMA_ERR(TMA_LAYER_BUS,
 *         TMA_C_UNSUPPORTED) for WARM/COLD without port->reset; bus errors.
 */
tma_status trustm_reset(struct trustm *t, enum trustm_reset_kind kind);

/** @brief Close (if open), wipe the secret and the session keys. Never fails. */
void trustm_deinit(struct trustm *t);

/**
 * @brief Set the platform binding secret (copied into the context; the caller
 * may wipe its copy) and the crypto ops. Takes effect at the next handshake.
 * @param ops crypto primitives (must outlive the context)
 * @param secret 1..TRUSTM_PBS_MAX bytes
 * @return TMA_OK; TMA_ERR(TMA_LAYER_SHIELD, TMA_C_BAD_PARAM);
 *         TMA_ERR(TMA_LAYER_SHIELD, TMA_C_UNSUPPORTED) when built without
 *         TRUSTM_CFG_SHIELD.
 */
tma_status trustm_shield_set_secret(struct trustm *t, const struct trustm_crypto_ops *ops,
                                    const uint8_t *secret, size_t len);

/**
 * @brief Run the shielded-connection handshake now (it also runs lazily
 * before the first protected exchange, see trustm_transceive()).
 * @return TMA_OK; TMA_ERR(SHIELD, TRUSTM_E_NO_SECRET);
 *         TMA_ERR(SHIELD, TRUSTM_E_HANDSHAKE) for a bad Hello/Finished (the
 *         chip and host secrets differ); TMA_ERR(SHIELD, TMA_C_FAILED) while
 *         failed; TMA_ERR(SHIELD, TMA_C_CRYPTO); link/bus errors.
 */
tma_status trustm_shield_handshake(struct trustm *t);

/** @brief Current enum trustm_shield_state (NONE when built without shield). */
uint8_t trustm_shield_state(const struct trustm *t);

/**
 * @brief Hibernate hook: after CloseApplication(hibernate) succeeded, send
 * "save context" (SCTR 0x60), expect "context saved" (0x64), and hand the
 * session keys and counters to the caller; the context's copy is wiped.
 * @return TMA_OK; TMA_ERR(SHIELD, TMA_C_STATE) when no session is active;
 *         TMA_ERR(SHIELD, TMA_C_MALFORMED) for any other answer; link errors.
 */
tma_status trustm_shield_save(struct trustm *t, struct trustm_shield_saved *out_saved);

/**
 * @brief Restore hook: after trustm_open() on a woken chip and before
 * OpenApplication(restore), send "restore context" (0x68 || SSEQ), expect
 * "context restored" (0x6C || MSEQ) with the saved MSEQ, and continue the
 * session. saved is not modified (wipe it yourself).
 * @return TMA_OK; TMA_ERR(SHIELD, TRUSTM_E_NO_SECRET) without ops;
 *         TMA_ERR(SHIELD, TMA_C_MALFORMED) for a wrong answer or MSEQ;
 *         link errors.
 */
tma_status trustm_shield_restore(struct trustm *t, const struct trustm_shield_saved *saved);

/** @brief Response bound in ms for a command APDU starting cmd, param. */
uint32_t trustm_rsp_timeout_ms(const struct trustm *t, uint8_t cmd, uint8_t param);

/** @brief Upper bound in ms of one trustm_transceive() with an APDU of apdu_len bytes. */
uint32_t trustm_transceive_bound_ms(const struct trustm *t, uint8_t cmd, uint8_t param,
                                    size_t apdu_len);

/*
 * trustm_transceive() (trustm/transceive.h) returns, besides TMA_OK and
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL):
 *  - TMA_ERR(GENERIC, BAD_PARAM): NULL pointers, nseg 0 or > 4, APDU < 4 or
 *    > 1557 bytes, protection bits invalid;
 *  - TMA_ERR(LINK, TMA_C_STATE): link not open;
 *  - bus: TMA_ERR(BUS, TMA_C_NACK | TMA_C_IO) from the port;
 *  - link: TMA_ERR(LINK, TMA_C_TIMEOUT) no ACK after retransmissions and
 *    resyncs, or no response within the command's bound;
 *  - net: TMA_ERR(NET, TMA_C_MALFORMED) bad chaining in the response,
 *    TMA_ERR(NET, TRUSTM_E_CHAIN) the chip rejected the chain twice,
 *    TMA_ERR(NET, TMA_C_TOO_SMALL) response longer than 1557 bytes;
 *  - shield: TMA_ERR(SHIELD, TMA_C_INTEGRITY) MAC or sequence check of the
 *    response failed (session FAILED, keys wiped, out wiped);
 *    TMA_ERR(SHIELD, TMA_C_FAILED) while FAILED (until trustm_reset());
 *    TMA_ERR(SHIELD, TRUSTM_E_ALERT) the chip answered with an alert, also
 *    after the one new handshake and retry that an alert triggers (keys
 *    wiped; the next protected exchange handshakes again);
 *    TMA_ERR(SHIELD, TMA_C_MALFORMED) wrong SCTR echo or record size;
 *    handshake errors as trustm_shield_handshake();
 *    TMA_ERR(SHIELD, TMA_C_UNSUPPORTED) protection asked for without
 *    TRUSTM_CFG_SHIELD.
 */

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_TRUSTM_H */
