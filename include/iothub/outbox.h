/**
 * @file outbox.h
 * @brief Persistent telemetry outbox: bounded, ordered, at-least-once.
 *
 * Each message (topic + payload) is written to storage before it is handed
 * to MQTT and stays there until its PUBACK (iothub_outbox_ack()). After a
 * restart the outbox recovers from storage and sends everything not yet
 * acknowledged again, oldest first. Duplicates are possible (a PUBACK lost in
 * a crash); loss is not.
 *
 * When @c capacity messages are stored, or the storage itself answers
 * TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL) (a flash log whose bytes run out
 * first), the policy decides: REFUSE_NEW returns TMA_ERR(TMA_LAYER_STORE,
 * TMA_C_FULL) and counts a refusal; DROP_OLDEST deletes the oldest stored
 * message, counts a drop, and tries again until the new one is stored (with
 * nothing left to drop, the push is refused and counted). Nothing is ever
 * dropped silently.
 *
 * No heap, no OS calls: the caller provides the storage and a buffer to read
 * records into. Not thread-safe.
 */
#ifndef IOTHUB_OUTBOX_H
#define IOTHUB_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/storage.h"
#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest topic the outbox stores (IoT Hub topics with property bags). */
#define IOTHUB_OUTBOX_MAX_TOPIC 1024u

/* IOTHUB_OUTBOX_REBASE_AT (iothub/storage.h): sequence numbers only grow,
 * also across restarts, until the next one is at least this (half the
 * 32-bit space) and every message the outbox holds is numbered at least
 * this too (or it holds none). A push then asks a storage with rebase() to
 * lower every number by IOTHUB_OUTBOX_REBASE_AT (an empty store may restart
 * at 0): a number comes back only 2^31 pushes after it was given. With
 * messages stored, each is handed to MQTT again under its new number (the
 * ones in flight under the old one are sent twice: at-least-once; their
 * old-numbered PUBACKs find nothing). Refused (a storage that cannot
 * renumber stored records, as the MCU flash log), the push asks again at
 * the next one; a storage without rebase(), or one refusing until the end,
 * makes every push fail with TMA_C_FULL once the next number would be
 * UINT32_MAX. */

enum iothub_outbox_policy {
    IOTHUB_OUTBOX_REFUSE_NEW = 0,
    IOTHUB_OUTBOX_DROP_OLDEST = 1
};

struct iothub_outbox_stats {
    uint32_t stored;    /**< messages accepted since init */
    uint32_t acked;     /**< PUBACKs that removed a message */
    uint32_t dropped;   /**< removed by DROP_OLDEST */
    uint32_t refused;   /**< pushes refused FULL (REFUSE_NEW, nothing left
                         *   to drop, numbers exhausted) */
    uint32_t recovered; /**< messages found in storage at init */
    uint32_t rebased;   /**< numbers lowered by IOTHUB_OUTBOX_REBASE_AT (rebase) */
};

struct iothub_outbox {
    struct iothub_storage st;
    uint32_t capacity;
    uint8_t policy;        /* enum iothub_outbox_policy */
    uint32_t count;        /* stored messages */
    uint32_t head;         /* oldest stored seq (when count > 0) */
    uint32_t next_seq;     /* seq of the next push */
    uint32_t cursor;       /* next seq to hand to MQTT */
    struct iothub_outbox_stats stats;
};

/** A stored message; views point into the buffer given to the read call. */
struct iothub_outbox_msg {
    uint32_t seq;
    struct tma_span topic;
    struct tma_span payload;
};

/**
 * @brief Open the outbox over @p storage and recover what it holds; every
 * recovered message is due to be sent (again).
 * @param capacity maximum stored messages (>= 1). If storage already holds
 *        more (a smaller capacity than before), nothing is dropped; pushes are
 *        handled by the policy until the count is back under capacity.
 * @return TMA_OK, TMA_C_BAD_PARAM (layer STORE), or a storage error.
 */
tma_status iothub_outbox_init(struct iothub_outbox *ob, const struct iothub_storage *storage,
                              uint32_t capacity, enum iothub_outbox_policy policy);

/**
 * @brief Store a message. On TMA_OK it is durable and *out_seq (may be NULL)
 * names it. A storage error means the outbox cannot tell: a storage whose
 * write went through although it reported a failure (flash that could not
 * confirm a program) keeps the message, and the outbox takes it in at the
 * next push and delivers it. Retrying the same message after an error can
 * therefore deliver it twice (at-least-once), never lose it.
 * @return TMA_OK; TMA_C_FULL (REFUSE_NEW at capacity or on a full storage;
 *         any policy when the numbers ran out: IOTHUB_OUTBOX_REBASE_AT);
 *         TMA_C_BAD_PARAM (empty topic, topic longer than
 *         IOTHUB_OUTBOX_MAX_TOPIC); a storage error.
 */
tma_status iothub_outbox_push(struct iothub_outbox *ob, const char *topic, const uint8_t *payload,
                              size_t len, uint32_t *out_seq);

/**
 * @brief The next message not yet handed to MQTT, read into @p buf.
 * Does not advance; call iothub_outbox_mark_sent() once MQTT took it.
 * @return TMA_OK; TMA_C_NOT_FOUND when everything was handed over;
 *         TMA_C_TOO_SMALL (*out_msg->payload.len holds nothing; use a buffer
 *         of record size); TMA_C_MALFORMED for a corrupt record.
 */
tma_status iothub_outbox_peek(struct iothub_outbox *ob, uint8_t *buf, size_t cap,
                              struct iothub_outbox_msg *out_msg);

/** @brief Record that message @p seq (from peek) was handed to MQTT. */
void iothub_outbox_mark_sent(struct iothub_outbox *ob, uint32_t seq);

/**
 * @brief Read message @p seq (for a retransmission).
 * @return TMA_OK, TMA_C_NOT_FOUND (acknowledged or dropped meanwhile), ...
 */
tma_status iothub_outbox_get(struct iothub_outbox *ob, uint32_t seq, uint8_t *buf, size_t cap,
                             struct iothub_outbox_msg *out_msg);

/**
 * @brief PUBACK for @p seq: delete it.
 * @return TMA_OK; TMA_C_NOT_FOUND if it was not stored (already acked or
 *         dropped; harmless); a storage error.
 */
tma_status iothub_outbox_ack(struct iothub_outbox *ob, uint32_t seq);

/** @brief Make every stored message due again (e.g. after a new session without in-flight state). */
void iothub_outbox_rewind(struct iothub_outbox *ob);

/** @brief Stored messages. */
uint32_t iothub_outbox_count(const struct iothub_outbox *ob);

/**
 * @brief Whether a stored message waits to be handed to MQTT: false means
 * iothub_outbox_peek() would answer TMA_C_NOT_FOUND without reading storage
 * (nothing stored, or every stored message is in flight). For a loop that
 * decides whether to sleep; reads no storage. False for a NULL outbox.
 */
bool iothub_outbox_has_due(const struct iothub_outbox *ob);

/** @brief Counters. */
struct iothub_outbox_stats iothub_outbox_stats(const struct iothub_outbox *ob);

#ifdef __cplusplus
}
#endif

#endif
