/**
 * @file dps.h
 * @brief Azure Device Provisioning Service over MQTT: pure functions
 * (spec section 6). Same conventions as iothub.h: builders write
 * NUL-terminated text and report TMA_C_TOO_SMALL with the size needed;
 * parsers return spans into the caller's buffer.
 */
#ifndef IOTHUB_DPS_H
#define IOTHUB_DPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/iothub.h"
#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** DPS api-version in the user name (spec 6.1, docs and Embedded C). */
#define DPS_API_VERSION "2019-03-31"
#define DPS_GLOBAL_HOST "global.azure-devices-provisioning.net"
#define DPS_RES_FILTER "$dps/registrations/res/#"
/** Poll interval when the service gives no retry-after (middleware value). */
#define DPS_DEFAULT_RETRY_S 3u

/**
 * @brief "{idScope}/registrations/{registrationId}/api-version=2019-03-31&ClientVersion={enc}".
 * @param client_version NULL: IOTHUB_CLIENT_TYPE.
 */
tma_status dps_username(const char *id_scope, const char *registration_id,
                        const char *client_version, char *out, size_t cap, size_t *out_len);

/** @brief SAS resource "{idScope}/registrations/{registrationId}" (sign with key name "registration"). */
tma_status dps_sas_resource(const char *id_scope, const char *registration_id, char *out,
                            size_t cap, size_t *out_len);

/** @brief "$dps/registrations/PUT/iotdps-register/?$rid={rid}". */
tma_status dps_register_topic(uint32_t rid, char *out, size_t cap, size_t *out_len);

/** @brief "$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={op}"; op is percent-encoded. */
tma_status dps_poll_topic(uint32_t rid, struct tma_span operation_id, char *out, size_t cap,
                          size_t *out_len);

/**
 * @brief Register body {"registrationId":"..."[,"payload":<json>]}.
 * @param payload_json raw JSON value or NULL; it is validated first
 *        (TMA_C_MALFORMED when it is not one JSON value).
 */
tma_status dps_register_body(const char *registration_id, const char *payload_json, char *out,
                             size_t cap, size_t *out_len);

struct dps_response_topic {
    uint16_t status;       /**< 200, 202, 4xx, 5xx */
    struct tma_span rid;   /**< encoded */
    bool has_retry_after;
    uint32_t retry_after_s;
};

/**
 * @brief Parse "$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]".
 * retry-after is taken as sent, 0 .. 4294967295 (dps_client clamps it to
 * 1 .. 300 s); a larger one of up to 19 digits is given as 4294967295; a
 * longer one, a second one or one that is not a decimal is malformed.
 * @return TMA_OK, TMA_C_NOT_FOUND (not a DPS response), TMA_C_MALFORMED.
 */
tma_status dps_parse_response_topic(struct tma_span topic, struct dps_response_topic *out_res);

enum dps_status {
    DPS_STATUS_UNKNOWN = 0,
    DPS_STATUS_UNASSIGNED,
    DPS_STATUS_ASSIGNING,
    DPS_STATUS_ASSIGNED,
    DPS_STATUS_FAILED,
    DPS_STATUS_DISABLED
};

/** Fields of a DPS response body; string spans are JSON-escaped text inside the body. */
struct dps_response {
    struct tma_span operation_id;
    enum dps_status status;              /**< top-level "status" */
    enum dps_status registration_status; /**< registrationState.status */
    struct tma_span assigned_hub;        /**< registrationState.assignedHub */
    struct tma_span device_id;           /**< registrationState.deviceId */
    struct tma_span substatus;
    bool has_error_code;
    int64_t error_code;                  /**< top-level or registrationState errorCode */
    struct tma_span message;             /**< "message" or registrationState.errorMessage */
};

/**
 * @brief Parse a register/poll reply body.
 * An "assigned" reply must carry both assignedHub and deviceId (else
 * TMA_C_MALFORMED). Unknown members are skipped.
 * @return TMA_OK or TMA_C_MALFORMED / TMA_C_UNSUPPORTED (too deep).
 */
tma_status dps_parse_response(struct tma_span body, struct dps_response *out_res);

/** @brief True for the terminal states assigned, failed, disabled. */
bool dps_status_is_terminal(enum dps_status s);

#ifdef __cplusplus
}
#endif

#endif
