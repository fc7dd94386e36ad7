/**
 * @file dps_client.h
 * @brief DPS registration over MQTT (spec 6): register, poll with
 * retry-after and operationId, and return the assigned hub and device id.
 *
 * Same model as the hub client: no heap, no OS calls, injected clock, the
 * application opens the connection through an iothub_connector (TLS with
 * the chip key for X.509 attestation: the registration id must equal the
 * certificate's CN). Drive with dps_client_step() until it returns
 * something other than TMA_IN_PROGRESS, then connect to the hub with
 * dps_client_result().
 */
#ifndef IOTHUB_DPS_CLIENT_H
#define IOTHUB_DPS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/client.h"
#include "iothub/dps.h"
#include "mqtt/client.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DPS_MAX_HUB 256u
#define DPS_MAX_DEVICE_ID 129u
#define DPS_MAX_OPERATION_ID 256u

/** Extra DPS-layer status: the service refused the registration (see result.error_code). */
#define DPS_E_REFUSED TMA_ERR(TMA_LAYER_DPS, TMA_C_REFUSED)

struct dps_client_config {
    const char *id_scope;
    const char *registration_id;  /**< X.509: the certificate CN; letters, digits, - . _ : (<= 128) */
    const char *payload_json;     /**< custom allocation payload or NULL */
    uint32_t timeout_ms;          /**< whole registration; 0: 120000 */
    /**
     * The connection, filled as for an IoT Hub client (client.h): clock,
     * connector, retry (zeroed: iothub_retry_policy_init() defaults), tx/rx
     * buffers, inflight slots, cred_buf (user name, password, topics, body;
     * at least 128 B); for symmetric-key attestation sas_key, hmac, wall and
     * sas_lifetime_s (0: 3600); optionally random, client_type (the user
     * name's ClientVersion; NULL: IOTHUB_CLIENT_TYPE) and cb.on_event.
     * dps_client_init() sets the rest itself and ignores what the caller put
     * there: the identity (ID scope, registration id), key name
     * "registration", keep-alive 60 s, clean session, no subscriptions, no
     * outbox, cred_buf as the record buffer.
     */
    struct iothub_client_config conn;
};

struct dps_client_result {
    char assigned_hub[DPS_MAX_HUB];
    char device_id[DPS_MAX_DEVICE_ID];
    uint16_t last_status;         /**< last HTTP-like status from the service */
    bool has_error_code;
    int64_t error_code;           /**< e.g. 401002 */
    enum dps_status status;
};

enum dps_client_phase {
    DPS_PHASE_START = 0,
    DPS_PHASE_CONNECTING,
    DPS_PHASE_WAIT_REPLY,  /* register or poll sent */
    DPS_PHASE_WAIT_RETRY,  /* waiting retry-after */
    DPS_PHASE_ENDED        /* final_status: TMA_OK (assigned) or why it failed */
};

struct dps_client {
    /* The registration's own state first, where Thumb-2 reaches it with
     * 2-byte loads/stores (code size). */
    uint8_t phase;
    uint8_t pending;           /* on this connection, not yet queued: 1 the
                                * SUBSCRIBE, 2 the request (the MQTT client
                                * was busy: tried again each step) */
    const char *payload_json;
    uint32_t timeout_ms;
    uint32_t rid;
    uint32_t connects;         /* hub.stats.connects when last subscribed */
    uint32_t started_ms;       /* times on hub.mqtt's own clock (time_ms) */
    uint32_t due_ms;           /* WAIT_RETRY: retry-after over; WAIT_REPLY: ask again */
    tma_status final_status;
    /* The connection (connect, credentials, SAS, MQTT, key pacer) is an IoT
     * Hub client's with the DPS user name; the MQTT callbacks' user pointer
     * is its address. */
    struct iothub_client hub;
    char operation_id[DPS_MAX_OPERATION_ID];
    struct dps_client_result result;
};

/**
 * @brief Check the configuration; no I/O. TMA_C_BAD_PARAM (layer DPS) on a bad one,
 * including a registration id outside DPS's alphabet (letters, digits and
 * `- . _ :`, 1..128 characters; the service's rule on the last character is
 * left to the service).
 */
tma_status dps_client_init(struct dps_client *c, const struct dps_client_config *cfg);

/**
 * @brief One step. Not from the client's own on_event, nor on a client
 * whose init never completed: TMA_ERR(DPS, TMA_C_STATE), nothing done.
 * @return TMA_IN_PROGRESS while registering; TMA_OK once assigned (see
 *         dps_client_result()); DPS_E_REFUSED when the service answered with
 *         a final error or a failed/disabled state; the MQTT CONNACK status
 *         when DPS refused the connection (CONNACK 5 for a certificate DPS
 *         does not accept); TMA_ERR(DPS, TMA_C_TIMEOUT) after timeout_ms;
 *         another status only for a local fault (a buffer too small).
 *         A connection that cannot be made or is lost (no route, a cut, a TLS
 *         failure) does not end the registration: it is made again after the
 *         hub client's back-off (cfg.retry) and chip-key pacer, subscribed
 *         again, and the request the cut lost (register or poll) is sent
 *         again, until timeout_ms. iothub_client_last_reason(&c->hub) names
 *         the last connection failure.
 */
tma_status dps_client_step(struct dps_client *c);

/** @brief Result (valid after dps_client_step() returned TMA_OK or DPS_E_REFUSED). */
const struct dps_client_result *dps_client_result(const struct dps_client *c);

/** @brief Disconnect and close the transport (also from on_event; safe on a
 *  zeroed or closed client). */
void dps_client_close(struct dps_client *c);

#ifdef __cplusplus
}
#endif

#endif
