/**
 * @file client.h
 * @brief MQTT 3.1.1 client state machine: QoS 0/1, keep-alive, subscribe,
 * in-flight tracking with retransmission after reconnect.
 *
 * Sans-I/O core: the client does no allocation, never sleeps and reads time
 * only from the injected clock. Bytes move through a struct tma_transport
 * (send/recv return >0 bytes, 0 try again, <0 fatal) given per connection.
 * All memory is the caller's: a tx buffer (outgoing packets queue there until
 * the transport takes them), an rx buffer (largest incoming packet must fit),
 * and an in-flight table (one slot per unacknowledged QoS 1 PUBLISH,
 * SUBSCRIBE or UNSUBSCRIBE).
 *
 * Drive it with mqtt_client_process() from one loop; the *_wait helpers
 * loop over mqtt_client_process() until a condition or a timeout, and rely on
 * the transport's recv waiting a little (see tma/tcp.h) to avoid spinning.
 *
 * Message bodies are not stored by the client. A QoS 1 PUBLISH carries a
 * caller tag (e.g. an outbox sequence number). After a reconnect, each
 * unacknowledged PUBLISH is retransmitted with DUP=1 and the same packet id
 * (after a CONNECT with clean_session: sent again as a new message of the new
 * session, DUP=0), in the original order, by asking the application for its
 * topic and payload
 * through the `resend` callback; PUBACKs are reported through `on_puback`
 * with the tag. Incoming QoS 1 PUBLISHes are acknowledged after `on_publish`
 * returns TMA_OK (at-least-once; a non-OK return withholds the PUBACK).
 *
 * Not supported: QoS 2 (publishing or subscribing with it is refused;
 * receiving it ends the connection with TMA_C_UNSUPPORTED, as IoT Hub never
 * sends it), MQTT 5.
 * Not thread-safe: one thread drives a client.
 */
#ifndef MQTT_CLIENT_H
#define MQTT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/packet.h"
#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Connection states. */
enum mqtt_client_state {
    MQTT_STATE_DISCONNECTED = 0, /**< no connection; mqtt_client_connect() allowed */
    MQTT_STATE_CONNECTING,       /**< CONNECT queued/sent, waiting for CONNACK */
    MQTT_STATE_CONNECTED         /**< CONNACK 0 received */
};

/** In-flight slot kinds (internal, visible for sizing). */
enum mqtt_inflight_kind {
    MQTT_INFLIGHT_FREE = 0,
    MQTT_INFLIGHT_PUBLISH,
    MQTT_INFLIGHT_SUBSCRIBE,
    MQTT_INFLIGHT_UNSUBSCRIBE
};

/** One in-flight slot; the caller provides an array of them. */
struct mqtt_inflight {
    uint32_t tag;        /**< caller tag of a PUBLISH; filter count of a SUBSCRIBE/UNSUBSCRIBE */
    uint32_t seq;        /**< send order, for in-order retransmission */
    uint16_t packet_id;
    uint8_t kind;        /**< enum mqtt_inflight_kind */
    uint8_t resend;      /**< 1: must be retransmitted (after reconnect) */
};

/** Application callbacks. All optional; without `resend`, QoS 1 messages
 *  still unacknowledged when a connection ends are dropped at the next
 *  CONNACK (at-least-once only within one connection). Called only from
 *  inside mqtt_client_process() (directly or through the blocking helpers).
 *
 *  Calling the client from a callback (docs/design/mqtt.md, "Calls from
 *  callbacks"):
 *  - the getters: allowed;
 *  - mqtt_client_publish(), _subscribe(), _unsubscribe(): allowed; from
 *    on_publish they never take the 4 bytes of tx room the PUBACK owed for
 *    the message being delivered needs (TMA_WANT_WRITE instead: retry after
 *    the callback); during retransmissions (`resend`) TMA_WANT_WRITE;
 *  - mqtt_client_disconnect(), mqtt_client_abort(): allowed; the
 *    connection ends, the step returns TMA_C_STATE as soon as the callback
 *    returns and does no more I/O on the transport (the caller may close it
 *    in the callback); a QoS 1 message being delivered is not acknowledged
 *    (the server delivers it again: at-least-once);
 *  - mqtt_client_process(), mqtt_client_connect() and the blocking helpers:
 *    refused with TMA_C_STATE (the step in progress holds the receive
 *    buffer the callback's views point into). */
struct mqtt_client_callbacks {
    void *user;
    /** Incoming PUBLISH; views valid during the call only. Return TMA_OK to
     *  have a QoS 1 message acknowledged, anything else to withhold the PUBACK. */
    tma_status (*on_publish)(void *user, const struct mqtt_publish *msg);
    /** PUBACK for one of our QoS 1 PUBLISHes. */
    void (*on_puback)(void *user, uint16_t packet_id, uint32_t tag);
    /** SUBACK: one code per filter (0 or 1 granted QoS, 0x80 failure). A
     *  SUBACK with another number of codes than filters, or granting QoS 2,
     *  ends the connection (TMA_C_MALFORMED) without this call. */
    void (*on_suback)(void *user, uint16_t packet_id, const uint8_t *codes, size_t n);
    /** UNSUBACK. */
    void (*on_unsuback)(void *user, uint16_t packet_id);
    /** Retransmission: fill *out_msg (topic, payload, retain; views valid until
     *  the callback returns) for the message with this tag. *out_msg is zeroed
     *  before the call; QoS 1, DUP and the packet id are set by the client
     *  afterwards. Return TMA_OK, or an error to drop the slot (the message no
     *  longer exists). */
    tma_status (*resend)(void *user, uint16_t packet_id, uint32_t tag, struct mqtt_publish *out_msg);
};

/** Everything the client needs; copied by mqtt_client_init(). */
struct mqtt_client_config {
    /** Monotonic ms. The client keeps its own 32-bit time from it: each
     *  read adds the wrapping difference of the clock's low 32 bits since
     *  the read before, so any start value and a 32-bit tick that wraps
     *  both work; a difference of 2^31 or more is the clock going back and
     *  counts as no time (no early PINGREQ, no PINGRESP or CONNACK timed
     *  out at once), and the next read counts on from the new value. Read
     *  at least once per 2^31 ms (24.8 days): every mqtt_client_process()
     *  reads it. docs/porting.md "The IoT clocks". */
    struct tma_clock clock;
    uint8_t *tx_buf;                 /**< must hold the largest packet we send */
    size_t tx_cap;
    uint8_t *rx_buf;                 /**< must hold the largest packet we receive */
    size_t rx_cap;
    struct mqtt_inflight *inflight;  /**< slot array */
    size_t inflight_count;           /**< >= 1 */
    struct mqtt_client_callbacks cb;
    uint32_t connack_timeout_ms;     /**< 0: 30000 */
    /** Wait for PINGRESP; 0: 30000. Also the stall check: while requests
     *  wait for their acks and nothing was received for this long (counted
     *  from the later of the last packet and the oldest waiting request),
     *  a PINGREQ goes out without waiting for the keep-alive, so a dead
     *  inbound path ends within about twice this time. */
    uint32_t ping_timeout_ms;
};

/** Client context. Fields are private; sized for static allocation. */
struct mqtt_client {
    /* The byte and half-word members come first: Thumb-2 reaches a byte at
     * offsets 0..31 and a half-word at 0..62 with 2-byte instructions. */
    uint8_t state;           /* enum mqtt_client_state */
    bool waiting;            /* for CONNACK (connecting) or PINGRESP (connected) */
    bool session_present;
    bool resending;          /* retransmissions pending */
    bool last_ack_refused;   /* whether the last SUBACK refused a filter */
    bool corked;             /* mqtt_client_cork(): requests queue without sending */
    bool in_process;         /* inside mqtt_client_process(): its callbacks may run */
    bool clean;              /* the CONNECT asked for a clean session (3.1.2.4) */
    uint16_t next_id;
    uint16_t keep_alive_s;
    uint16_t last_ack_id;    /* last SUBACK/UNSUBACK id */
    size_t tx_head;          /* first unsent byte */
    size_t tx_len;           /* bytes queued */
    struct mqtt_client_config cfg;
    struct tma_transport tr;
    tma_status deferred;     /* transport error seen inside publish/subscribe */
    uint32_t last_tx_ms;     /* last complete send (keep-alive) */
    uint32_t last_rx_ms;     /* last packet received (keep-alive) */
    uint32_t wait_since_ms;  /* CONNECT or PINGREQ queued; connected and not
                              * waiting: the in-flight table last went from
                              * empty to busy (stall check) */
    uint32_t next_seq;
    tma_status last_error;
    uint32_t stat_retransmitted;
    uint32_t stat_pings;
    uint32_t time_ms;        /* the client's own time: 0 at init, + each read's
                              * forward 32-bit difference from clock_lo (none
                              * back); all the *_ms members above are on it */
    uint32_t clock_lo;       /* the clock's low 32 bits at the last read */
    struct mqtt_stream rx;   /* mostly passed by address: its offset matters least */
};

/**
 * @brief Initialise a client. No I/O.
 * @return TMA_OK; TMA_C_BAD_PARAM for NULL buffers, an rx/tx buffer smaller than
 *         16 bytes, no in-flight slot, or a clock without now_ms.
 */
tma_status mqtt_client_init(struct mqtt_client *c, const struct mqtt_client_config *cfg);

/**
 * @brief Start a connection over an already-open transport: queues CONNECT and
 * tries to send it. In-flight PUBLISHes from an earlier connection are marked
 * for retransmission once CONNACK arrives (DUP=1; with opts->clean_session
 * DUP=0, a new message of the new session); pending SUBSCRIBE/UNSUBSCRIBE
 * slots are dropped. A CONNACK with Session Present 1 after clean_session
 * ends the attempt with TMA_C_MALFORMED (MQTT 3.1.1 [MQTT-3.2.2-1]).
 * @return TMA_IN_PROGRESS (drive with mqtt_client_process()); TMA_C_STATE if not
 *         disconnected or called from a callback; TMA_C_BAD_PARAM (NULL
 *         arguments, a transport without send/recv) / TMA_C_TOO_SMALL from
 *         encoding (also on a client never initialised: no tx buffer); a
 *         transport error.
 */
tma_status mqtt_client_connect(struct mqtt_client *c, const struct tma_transport *tr,
                               const struct mqtt_connect *opts);

/**
 * @brief One step: send queued bytes, read and dispatch what arrived,
 * retransmit, keep-alive (PINGREQ after keep_alive_s without sending or
 * receiving, or after ping_timeout_ms without receiving while requests wait
 * for their acks; one outstanding). Never blocks longer than the transport does.
 * @return TMA_OK (connected, nothing fatal), TMA_IN_PROGRESS (still waiting for
 *         CONNACK), or an error after which the state is DISCONNECTED:
 *         MQTT_ERR_CONNACK(rc) for a refused CONNECT (e.g. MQTT_E_CONNACK_NOT_AUTHORIZED),
 *         MQTT_E_KEEPALIVE_TIMEOUT (no PINGRESP / CONNACK in time),
 *         TMA_C_MALFORMED (bad packet from the server), TMA_C_UNSUPPORTED (QoS 2),
 *         TMA_C_TOO_SMALL (incoming packet larger than rx buffer),
 *         a transport status (e.g. TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED)).
 *         TMA_C_STATE when called while disconnected (also on a zeroed
 *         client), from one of the client's callbacks (not re-entrant:
 *         nothing is done), or when a callback ended the connection with
 *         mqtt_client_disconnect()/_abort() (the state is then
 *         DISCONNECTED and last_error what they left, TMA_OK).
 *         TMA_C_BAD_PARAM for a NULL client.
 */
tma_status mqtt_client_process(struct mqtt_client *c);

/**
 * @brief Publish. QoS 0: queued and sent. QoS 1: a packet id is allocated
 * (msg->packet_id and msg->dup are ignored), the slot is tagged and kept until
 * PUBACK.
 * @param tag caller value reported back with on_puback / resend
 * @param out_packet_id may be NULL; the id used (0 for QoS 0)
 * The packet is sent at once unless corked; a transport error in that send
 * is reported by the next mqtt_client_process(), and until then nothing
 * more is sent on the transport (its <0 was fatal).
 * @return TMA_OK; TMA_WANT_WRITE when the tx buffer has no room now (from
 *         on_publish: none beyond the PUBACK owed), retransmissions are
 *         still pending or a send failed (call mqtt_client_process() and
 *         retry; order is kept); TMA_C_FULL (no free in-flight slot);
 *         TMA_C_STATE (not connected); TMA_C_BAD_PARAM (QoS > 1, bad topic);
 *         TMA_C_TOO_SMALL (packet larger than the whole tx buffer).
 */
tma_status mqtt_client_publish(struct mqtt_client *c, const struct mqtt_publish *msg, uint32_t tag,
                               uint16_t *out_packet_id);

/** @brief SUBSCRIBE, each filter at QoS 0 or 1; result through on_suback.
 *  Same returns as publish; QoS 2 is refused with TMA_C_BAD_PARAM (the
 *  client cannot receive QoS 2 messages, MQTT 3.1.1 section 4.3.3), and so
 *  are n == 0 and n above UINT32_MAX (nothing sent, no packet id taken). */
tma_status mqtt_client_subscribe(struct mqtt_client *c, const struct mqtt_subscription *subs, size_t n,
                                 uint16_t *out_packet_id);

/** @brief UNSUBSCRIBE; result through on_unsuback. Same returns as publish;
 *  n == 0 and n above UINT32_MAX are TMA_C_BAD_PARAM. */
tma_status mqtt_client_unsubscribe(struct mqtt_client *c, const struct tma_span *filters, size_t n,
                                   uint16_t *out_packet_id);

/**
 * @brief Send DISCONNECT (best effort: whatever the transport takes now) and go
 * to DISCONNECTED. In-flight PUBLISHes stay for the next connection. The
 * transport is not closed (the caller owns it). Allowed from a callback.
 * Same as mqtt_client_disconnect_within(c, 0).
 * @return TMA_OK; TMA_C_STATE when already disconnected; TMA_C_BAD_PARAM for NULL.
 */
tma_status mqtt_client_disconnect(struct mqtt_client *c);

/**
 * @brief Send DISCONNECT after the bytes already queued, giving a transport
 * that takes nothing now ("try again": a UART still shifting out, a TLS
 * record in progress) up to @p timeout_ms of the client's clock, then go to
 * DISCONNECTED. Without the wait a busy transport drops the DISCONNECT and
 * the server sees the connection vanish (IoT Hub then publishes the Will and
 * logs an unexpected drop). Only sends: nothing is received, no callback
 * runs, nothing follows the DISCONNECT; nothing at all after a send failed
 * inside an API call. Blocks at most @p timeout_ms (plus one send) on a
 * clock that moves. Allowed from a callback.
 * @return as mqtt_client_disconnect().
 */
tma_status mqtt_client_disconnect_within(struct mqtt_client *c, uint32_t timeout_ms);

/**
 * @brief Drop the connection without DISCONNECT (e.g. the caller saw the
 * transport fail). Keeps in-flight PUBLISHes.
 */
void mqtt_client_abort(struct mqtt_client *c);

/**
 * @brief Cork or uncork the tx queue. While corked, mqtt_client_publish(),
 * _subscribe() and _unsubscribe() only queue their packet in the tx buffer
 * (a request that does not fit still sends what is queued first), so a burst
 * of PUBLISHes leaves in one transport send: over TLS one record instead of
 * one per packet. Uncorking sends what is queued (a transport error is
 * reported by the next mqtt_client_process()); mqtt_client_process() always
 * sends, corked or not. No effect on in-flight tracking or acknowledgements.
 * @param c client (NULL ignored)
 * @param on true to cork, false to uncork and send
 */
void mqtt_client_cork(struct mqtt_client *c, bool on);

/** @brief Current state (enum mqtt_client_state). */
enum mqtt_client_state mqtt_client_state(const struct mqtt_client *c);
/** @brief Session-present flag of the last CONNACK. */
bool mqtt_client_session_present(const struct mqtt_client *c);
/** @brief Number of occupied in-flight slots (PUBLISH only). */
size_t mqtt_client_inflight_publishes(const struct mqtt_client *c);
/** @brief True while packet_id is awaiting its acknowledgement. */
bool mqtt_client_is_pending(const struct mqtt_client *c, uint16_t packet_id);
/** @brief Error that ended the last connection (TMA_OK if none). */
tma_status mqtt_client_last_error(const struct mqtt_client *c);
/** @brief PUBLISHes sent again after a reconnect since init (DUP=1, or DUP=0
 *  after a clean session). */
uint32_t mqtt_client_retransmit_count(const struct mqtt_client *c);

/* ------------------------------------------------ blocking helpers */

/**
 * @brief mqtt_client_connect() then process until CONNACK or timeout_ms.
 * @return TMA_OK when connected; MQTT_E_KEEPALIVE_TIMEOUT-style
 *         TMA_ERR(TMA_LAYER_MQTT, TMA_C_TIMEOUT) on timeout (connection
 *         aborted); any mqtt_client_connect() or mqtt_client_process() error.
 */
tma_status mqtt_client_connect_wait(struct mqtt_client *c, const struct tma_transport *tr,
                                    const struct mqtt_connect *opts, uint32_t timeout_ms);

/**
 * @brief Process until packet_id is acknowledged (PUBACK/SUBACK/UNSUBACK), or
 * timeout_ms passes (TMA_ERR(TMA_LAYER_MQTT, TMA_C_TIMEOUT), connection kept).
 * For a SUBSCRIBE whose SUBACK refused any filter: MQTT_E_SUBSCRIBE_REFUSED.
 * TMA_C_BAD_PARAM for NULL or packet id 0; TMA_C_STATE when disconnected
 * (also a zeroed client) or from a callback; any mqtt_client_process() error.
 */
tma_status mqtt_client_wait_ack(struct mqtt_client *c, uint16_t packet_id, uint32_t timeout_ms);

/**
 * @brief Process until all queued tx bytes are sent or timeout_ms passes.
 * @return TMA_OK; TMA_ERR(TMA_LAYER_MQTT, TMA_C_TIMEOUT) (connection kept);
 *         TMA_C_BAD_PARAM for NULL; TMA_C_STATE when disconnected (also a
 *         zeroed client) or from a callback; any mqtt_client_process() error.
 */
tma_status mqtt_client_flush(struct mqtt_client *c, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* MQTT_CLIENT_H */
