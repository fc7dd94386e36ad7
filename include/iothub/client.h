/**
 * @file client.h
 * @brief IoT Hub device client: the pure functions of iothub.h wired to the
 * MQTT client (mqtt/client.h), with the persistent outbox and the
 * reconnect policy.
 *
 * Sans-OS: the client never sleeps, allocates nothing and reads time from
 * injected clocks. Opening a network connection (TCP, TLS with the chip key)
 * is the application's, through @c struct iothub_connector; the client asks
 * for a connection when its retry policy allows one. Drive everything with
 * iothub_client_step() from one loop.
 *
 * Telemetry always goes through the outbox (at-least-once, kept until
 * PUBACK, survives restarts). C2D, twin and method messages are delivered to
 * callbacks with views into the receive buffer, valid during the call only.
 */
#ifndef IOTHUB_CLIENT_H
#define IOTHUB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/iothub.h"
#include "iothub/outbox.h"
#include "mqtt/client.h"
#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Set to 0 to compile out SAS authentication (X.509 only): saves the
 *  Base64/HMAC/token code on small targets. A config with sas_key then gets
 *  TMA_C_UNSUPPORTED. */
#ifndef IOTHUB_CFG_SAS
#define IOTHUB_CFG_SAS 1
#endif

/** Set to 0 to compile out device twin and direct methods (a telemetry + C2D
 *  device): incoming twin/method topics are then not parsed (acknowledged and
 *  ignored like any unknown topic), a config subscribing IOTHUB_SUB_TWIN or
 *  IOTHUB_SUB_METHODS gets TMA_C_UNSUPPORTED, and iothub_client_twin_get(),
 *  iothub_client_twin_patch() and iothub_client_method_respond() are not
 *  built (a call fails at link time). */
#ifndef IOTHUB_CFG_TWIN_METHODS
#define IOTHUB_CFG_TWIN_METHODS 1
#endif

/** Opens and closes the byte stream to the hub (TCP, TLS, ...). */
struct iothub_connector {
    void *ctx;
    /**
     * Open a connection; on TMA_OK fill *out_tr. Set *out_used_key when the
     * connection cost a private-key operation (a full TLS handshake with the
     * chip key; false for a resumed session or SAS), so the pacer counts it.
     */
    tma_status (*open)(void *ctx, struct tma_transport *out_tr, bool *out_used_key);
    /** Close what open() opened. */
    void (*close)(void *ctx);
};

enum iothub_event {
    IOTHUB_EVENT_CONNECTED = 1,    /**< CONNACK accepted and the SUBSCRIBE queued (a transport
                                    *   busy resending may put it off a step or more) */
    IOTHUB_EVENT_DISCONNECTED = 2, /**< connection (or attempt) lost; a retry is scheduled */
    IOTHUB_EVENT_AUTH_FAILED = 3,  /**< CONNACK refused (5: not authorized...); no automatic retry */
    /** A SUBACK refused a subscription (reason MQTT_E_SUBSCRIBE_REFUSED):
     *  the C2D, twin or method messages it was for will not arrive on this
     *  connection. The connection stays (telemetry goes on); to subscribe
     *  again, iothub_client_disconnect() and iothub_client_restart(), after
     *  a wait: restart() connects at once, and a refusal answered by a loop
     *  of restarts is a reconnect storm (docs/design/iothub-client.md). */
    IOTHUB_EVENT_SUBSCRIBE_REFUSED = 4
};

/** Callbacks run inside iothub_client_step() and, for messages that
 *  arrive while it lets queued bytes go, inside iothub_client_disconnect()
 *  (restart() calls none). From a callback the
 *  application may call (docs/design/iothub-client.md, "Calls from
 *  callbacks"):
 *  - iothub_client_send_telemetry(): works (stored in the outbox; a payload
 *    that is a view into the receive buffer is copied);
 *  - iothub_client_twin_get(), _twin_patch(), _method_respond(): work while
 *    connected; from on_c2d / on_input / on_twin / on_method they never take
 *    the tx room of the PUBACK owed for the message being delivered
 *    (TMA_WANT_WRITE instead: answer again after the callback);
 *  - iothub_client_disconnect(): works; the step ends as soon as the
 *    callback returns, without more I/O, and the client stays idle; the
 *    C2D / input message being delivered is not acknowledged (the hub
 *    delivers it again after the next connect);
 *  - iothub_client_restart(): works in on_event(DISCONNECTED / AUTH_FAILED)
 *    and after a disconnect; ignored while connecting or connected;
 *  - iothub_client_step(): refused with TMA_C_STATE, nothing done;
 *  - the getters: allowed.
 *  The same holds for the DPS client's on_event: dps_client_step() from it
 *  is refused with TMA_ERR(DPS, TMA_C_STATE), dps_client_close() works. */
struct iothub_callbacks {
    void *user;
    /** Connection events; @p reason is the status that caused it (TMA_OK for CONNECTED). */
    void (*on_event)(void *user, enum iothub_event ev, tma_status reason);
    /** C2D message (device identities): property bag (validated, still encoded) and body. */
    void (*on_c2d)(void *user, struct tma_span bag, struct tma_span payload);
    /** Twin response or desired-properties notification, with its body. */
    void (*on_twin)(void *user, const struct iothub_twin_msg *msg, struct tma_span payload);
    /** Direct method call; answer with iothub_client_method_respond() using @p rid
     *  (copy it if you answer later; it is a view into the receive buffer). */
    void (*on_method)(void *user, struct tma_span name, struct tma_span rid, struct tma_span payload);
    /** A stored telemetry message was acknowledged by the hub. @p seq is the
     *  message's outbox number at that time: once every stored number is past
     *  IOTHUB_OUTBOX_REBASE_AT (2^31) the outbox lowers them all by 2^31, so
     *  a message pushed with *out_seq = n may be acknowledged as
     *  n - 2^31 (and a message in flight at that moment sent twice). */
    void (*on_telemetry_acked)(void *user, uint32_t seq);
    /** Module identities (IoT Edge): a message routed to one of the module's
     *  inputs ("devices/{d}/modules/{m}/inputs/{input}/{bag}", subscribed with
     *  IOTHUB_SUB_C2D): input name and property bag (both validated, still
     *  encoded: iothub_url_decode()) and body, views valid during the call.
     *  NULL: such a message is not acknowledged, so the hub keeps it (the rule
     *  of on_c2d). Last member, so older initialisers leave it NULL. */
    void (*on_input)(void *user, struct tma_span input_name, struct tma_span bag,
                     struct tma_span payload);
};

/** Which features to subscribe to at connect (the hub allows 5 subscriptions).
 *  IOTHUB_SUB_C2D: C2D for a device; for a module "devices/{d}/modules/{m}/#",
 *  which carries its input messages (on_input). */
#define IOTHUB_SUB_C2D 0x1u
#define IOTHUB_SUB_TWIN 0x2u
#define IOTHUB_SUB_METHODS 0x4u

struct iothub_client_config {
    struct iothub_identity id;
    const char *model_id;         /**< IoT Plug and Play model or NULL */
    const char *client_type;      /**< DeviceClientType or NULL for the default */
    /* Authentication: X.509 (sas_key NULL, the key is in the TLS layer) or SAS. */
    const char *sas_key;          /**< Base64 device key, or NULL for X.509 */
    const char *sas_key_name;     /**< policy name or NULL */
    uint32_t sas_lifetime_s;      /**< 0: 3600; renewed at 80 % by reconnecting (after a
                                   *   connection under 60 s, i.e. a lifetime under 75 s,
                                   *   the reconnect waits for the back-off) */
    struct iothub_hmac_ops hmac;  /**< SAS only */
    /** Monotonic ms. Only its low 32 bits are used, as wrapping
     *  differences between reads: a 32-bit tick zero-extended (SysTick)
     *  is fine, and so is any start value (near 2^64 too). The client must
     *  read it at least once per 2^31 ms (24.8 days): every
     *  iothub_client_step() does. A read that is below the read before
     *  (a difference of 2^31 or more) is a step back: no time passes and
     *  the client counts on from the new value, so pending waits (back-off,
     *  chip-key pacer) neither stall nor end early. */
    struct tma_clock clock;
    /** Unix time in ms (SAS expiry); may be unset for X.509. With SAS the
     *  client does not connect while it is below IOTHUB_WALL_PLAUSIBLE_MS
     *  (reason IOTHUB_E_WALL_CLOCK; tried again with the back-off). */
    struct tma_clock wall;
    uint16_t keep_alive_s;        /**< 0: IOTHUB_KEEPALIVE_DEFAULT_S; capped at IOTHUB_KEEPALIVE_MAX_S */
    uint32_t subscriptions;       /**< IOTHUB_SUB_* mask */
    bool clean_session;           /**< IoT Hub: false (keeps C2D queued); DPS style true */
    struct iothub_connector connector;
    uint32_t (*random)(void *ctx);/**< jitter source; NULL: a fixed LCG */
    void *random_ctx;
    struct iothub_retry_policy retry; /**< zeroed: iothub_retry_policy_init() defaults;
                                       *   a back-off of its own with the pacer's
                                       *   t_max_ms or burst zero: those two get the
                                       *   pacer's defaults (5300 ms, 4), so chip
                                       *   signatures are always paced */
    struct iothub_outbox *outbox; /**< required for telemetry */
    uint32_t window;              /**< max telemetry in flight (0: inflight_count - 1) */
    /* Buffers, all owned by the caller. */
    uint8_t *tx_buf;
    size_t tx_cap;
    uint8_t *rx_buf;
    size_t rx_cap;
    struct mqtt_inflight *inflight;
    size_t inflight_count;
    uint8_t *record_buf;          /**< holds one outbox record (topic + payload) */
    size_t record_cap;
    char *cred_buf;               /**< user name, client id and SAS password */
    size_t cred_cap;
    struct iothub_callbacks cb;
};

enum iothub_client_state {
    IOTHUB_STATE_IDLE = 0,     /**< waiting for the next connect attempt */
    IOTHUB_STATE_CONNECTING,
    IOTHUB_STATE_CONNECTED,
    IOTHUB_STATE_AUTH_FAILED   /**< stays until iothub_client_restart() */
};

struct iothub_client_stats {
    uint32_t connects;        /**< successful CONNACKs */
    uint32_t connect_attempts;
    uint32_t key_operations;  /**< connections that used the private key */
    uint32_t published;       /**< telemetry PUBLISHes handed to MQTT (first sends) */
    uint32_t acked;
    uint32_t retransmitted;   /**< PUBLISHes sent again after a reconnect (DUP 1 when
                               *   the session was kept, as new messages after a
                               *   clean session) */
    uint32_t c2d_received;    /**< C2D (device) or input (module) messages delivered */
    uint32_t rx_too_large;    /**< incoming messages larger than rx_buf: skipped, not
                               *   acknowledged (the hub delivers them again after a
                               *   reconnect; IoT Hub dead-letters a C2D after its
                               *   maximum delivery count); the connection goes on */
};

struct iothub_client {
    /* Member order is for code size: Thumb-2 reaches a byte member at
     * offsets 0..31 and a word at 0..124 with a 2-byte load/store, so the
     * state the step and the callbacks touch most comes before the 208-byte
     * configuration (bench/iothub_size.sh; docs/design/iothub-client.md). */
    uint8_t state;
    bool transport_open;
    bool can_step;             /* set by init, clear while a step runs: a step
                                * from a callback or before init is refused */
    bool subs_pending;         /* connected, SUBSCRIBE not yet queued (the
                                * MQTT client was busy resending): retried */
    uint32_t attempt;
    uint32_t rid;
    uint32_t lcg;
    struct iothub_client_stats stats;
    tma_status last_reason;
    uint32_t attempt_started_ms; /* low 32 bits of mono_ms at the connect
                                  * attempt (fills the padding before cfg) */
    struct iothub_client_config cfg;
    /* Times on the glue's own clock (mono_ms), never the raw clock value. */
    uint64_t mono_ms;          /* 0 at init, + each read's forward 32-bit
                                * difference from clock_lo (none back) */
    uint64_t next_attempt_ms;
    uint64_t connected_ms;     /* at the last CONNACK */
    uint64_t sas_renew_ms;     /* wall time to renew, 0: none */
    /* Private: the user name and SAS resource builders (set by init to the
     * IoT Hub ones, iothub_username()'s and iothub_sas_resource()'s bytes);
     * the DPS client runs its connection through an IoT Hub client with its
     * own (dps_client.h). */
    tma_status (*user_name)(const struct iothub_identity *id, const char *client_type,
                            const char *model_id, char *out, size_t cap, size_t *out_len);
    tma_status (*sas_resource)(const struct iothub_identity *id, char *out, size_t cap,
                               size_t *out_len);
    struct mqtt_client mqtt;
    struct tma_transport tr;
    uint32_t clock_lo;         /* the clock's low 32 bits at the last read
                                * (fills the padding at the end) */
};

/**
 * @brief Check the configuration and set up the MQTT client. No I/O.
 * The configuration is copied; the strings, buffers, outbox and contexts it
 * points to are the caller's and must stay valid and unchanged until the
 * client is no longer used (a changed identity string changes the next
 * CONNECT). A client whose init failed, or a zeroed one, refuses
 * iothub_client_step() with TMA_C_STATE. Init again (a new configuration)
 * only on a disconnected client and never from one of its callbacks (init
 * does not read the old contents, which may be garbage, so it cannot
 * refuse either case itself); messages of cfg->outbox that an earlier
 * client handed to MQTT without a PUBACK are sent again (at-least-once:
 * the hub may see them twice).
 * @return TMA_OK or TMA_ERR(IOTHUB, TMA_C_BAD_PARAM) naming no field (see
 *         the log of the caller); TMA_C_UNSUPPORTED for SAS or twin/method
 *         subscriptions compiled out; an mqtt_client_init() status;
 *         connection happens in iothub_client_step().
 */
tma_status iothub_client_init(struct iothub_client *c, const struct iothub_client_config *cfg);

/**
 * @brief One step: connect when due, move MQTT bytes, hand stored telemetry
 * to MQTT (up to the window), renew the SAS token, schedule reconnects.
 * @return TMA_OK (nothing fatal; call again; also in AUTH_FAILED and after
 *         iothub_client_disconnect(), where it does nothing), or the status
 *         that ended a connection attempt in this step (already handled: a
 *         retry is scheduled, or the state is AUTH_FAILED; with SAS and a
 *         wall clock not set yet, IOTHUB_E_WALL_CLOCK), or a storage
 *         status (layer STORE) from the outbox (the connection stays);
 *         TMA_C_STATE from a callback of this client (not re-entrant:
 *         nothing done) or on a client init never completed;
 *         TMA_C_BAD_PARAM for NULL.
 */
tma_status iothub_client_step(struct iothub_client *c);

/** @brief Milliseconds until the next connect attempt (0 when connected, due,
 *  or the client is NULL or not initialised; about UINT64_MAX after
 *  iothub_client_disconnect()). */
uint64_t iothub_client_next_attempt_in_ms(const struct iothub_client *c);

/**
 * @brief Store a telemetry message in the outbox; it is sent when connected.
 * @param props system/application properties (see iothub.h), may be NULL.
 * Allowed from callbacks; also while disconnected (it is sent later).
 * @return TMA_OK with *out_seq (may be NULL: the message's outbox number,
 *         lowered by 2^31 if the outbox renumbers before its PUBACK, see
 *         on_telemetry_acked); the outbox's TMA_C_FULL under
 *         REFUSE_NEW, or a storage error (iothub_outbox_push()); TMA_C_TOO_SMALL
 *         when the topic does not fit cred_buf or topic and payload not
 *         record_buf; TMA_C_BAD_PARAM for NULL, a NULL payload with a length,
 *         a property without a key, or payload plus encoded property bag
 *         over IOTHUB_D2C_MAX_BYTES (the hub would drop the connection); TMA_C_STATE without an outbox (also
 *         a zeroed client).
 */
tma_status iothub_client_send_telemetry(struct iothub_client *c, const struct iothub_property *props,
                                        size_t prop_count, const uint8_t *payload, size_t len,
                                        uint32_t *out_seq);

/**
 * @brief Twin GET (empty body, QoS 0) with a fresh $rid (*out_rid, may be NULL).
 * @return TMA_OK (queued); TMA_C_STATE when not connected (also from a
 *         callback before on_event(CONNECTED)); TMA_WANT_WRITE when the tx
 *         buffer has no room now, or (GET, PATCH) while the connection's
 *         SUBSCRIBE still waits for room (the answer would come unheard
 *         before it); call again after a step; TMA_C_TOO_SMALL (IOTHUB:
 *         topic larger than cred_buf; MQTT: packet larger than tx_buf);
 *         TMA_C_BAD_PARAM for NULL.
 */
tma_status iothub_client_twin_get(struct iothub_client *c, uint32_t *out_rid);
/** @brief Reported-properties PATCH with JSON @p patch (validated first).
 *  @return as iothub_client_twin_get(), and TMA_C_MALFORMED for a patch
 *          that is not JSON, TMA_C_BAD_PARAM for a NULL patch with a length. */
tma_status iothub_client_twin_patch(struct iothub_client *c, struct tma_span patch, uint32_t *out_rid);
/**
 * @brief Answer a direct method: status and JSON body (empty span for none).
 * The client keeps no record of method requests: every call is sent (a
 * second answer, or one for a $rid the hub never sent, is dropped by the
 * hub). @p rid is copied into the topic; it may be on_method's view.
 * @return as iothub_client_twin_get(); TMA_C_MALFORMED for a body that is
 *         not JSON; TMA_C_BAD_PARAM for an empty rid or a NULL body with a
 *         length; TMA_ERR(MQTT, TMA_C_BAD_PARAM) for a rid that cannot be in
 *         a topic ('+', '#').
 */
tma_status iothub_client_method_respond(struct iothub_client *c, struct tma_span rid, uint16_t status,
                                        struct tma_span payload);

/** @brief Disconnect cleanly (DISCONNECT, close the transport); stays idle
 *  until iothub_client_restart(). Outside callbacks it first lets queued
 *  bytes go (up to 1 s). Then it sends DISCONNECT, giving a transport that
 *  takes nothing now up to 1 s more (mqtt_client_disconnect_within()); from
 *  a callback the running step then ends without more I/O. Safe on NULL, a
 *  zeroed or an already disconnected client. */
void iothub_client_disconnect(struct iothub_client *c);
/** @brief Leave AUTH_FAILED or IDLE (a back-off wait, or after
 *  iothub_client_disconnect()) and try to connect at the next step.
 *  Ignored while connecting or connected (it would open a second
 *  connection over the live one) and on NULL or a client not initialised. */
void iothub_client_restart(struct iothub_client *c);

enum iothub_client_state iothub_client_state(const struct iothub_client *c);
struct iothub_client_stats iothub_client_stats(const struct iothub_client *c);
/**
 * @brief One line for an application log: for a refused CONNACK the IoT Hub
 * meaning (iothub_connack_reason()), for IOTHUB_E_WALL_CLOCK what the
 * client waits for, otherwise tma_status_str(). Never NULL.
 */
const char *iothub_reason_text(tma_status st);

/** @brief Why the last connection (or connect attempt) ended (TMA_OK if
 *  none); IOTHUB_E_WALL_CLOCK while a SAS client waits for its wall clock. */
tma_status iothub_client_last_reason(const struct iothub_client *c);

#ifdef __cplusplus
}
#endif

#endif
