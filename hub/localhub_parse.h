/**
 * @file localhub_parse.h
 * @brief Pure parsers of the localhub plugin: MQTT user names, IoT Hub and
 *        DPS topics, property bags, SAS tokens, identifier rules.
 *
 * No I/O and no allocation: every function writes into caller-provided
 * fixed-size fields and fails with TMA_ERR(TMA_LAYER_HUB, TMA_C_MALFORMED)
 * (or TMA_C_TOO_SMALL) on anything it does not accept. Outputs are always
 * NUL-terminated strings.
 */
#ifndef LOCALHUB_PARSE_H
#define LOCALHUB_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#define LOCALHUB_ID_MAX 128      /**< device / registration id, chars */
#define LOCALHUB_HOST_MAX 255
#define LOCALHUB_RID_MAX 128
#define LOCALHUB_NAME_MAX 128    /**< method names */

#define LOCALHUB_E_MALFORMED TMA_ERR(TMA_LAYER_HUB, TMA_C_MALFORMED)
#define LOCALHUB_E_TOO_SMALL TMA_ERR(TMA_LAYER_HUB, TMA_C_TOO_SMALL)

/**
 * Percent-decode @p in (@p inlen bytes) into @p out (size @p outsz, result
 * NUL-terminated). '+' is kept literally (RFC 3986 semantics). A '%' not
 * followed by two hex digits, or a decoded NUL byte, is malformed.
 * @return decoded length (>= 0), LOCALHUB_E_MALFORMED or LOCALHUB_E_TOO_SMALL.
 */
int32_t localhub_url_decode(const char *in, size_t inlen, char *out, size_t outsz);

/** 1 if @p id follows IoT Hub's device id rules (<=128 ASCII alphanumerics
 *  and - . % _ * ? ! ( ) , : = @ $ '), else 0. */
int localhub_device_id_valid(const char *id);

/** 1 if @p id follows DPS registration id rules (alphanumerics - . _ :,
 *  ends alphanumeric or '-', <=128), else 0. */
int localhub_registration_id_valid(const char *id);

/** 1 if @p name is acceptable as a direct method name, else 0. */
int localhub_method_name_valid(const char *name);

/** Parsed MQTT CONNECT user name. */
struct localhub_user {
    int is_dps;                           /**< 1: `{scope}/registrations/{id}/...` */
    char host[LOCALHUB_HOST_MAX + 1];     /**< hub host (IoT Hub form) */
    char scope[LOCALHUB_ID_MAX + 1];      /**< id scope (DPS form) */
    char id[LOCALHUB_ID_MAX + 1];         /**< device id or registration id */
    char module[LOCALHUB_ID_MAX + 1];     /**< module id, empty for a device */
    char api_version[32];                 /**< may be empty */
    char model_id[256];                   /**< IoT Plug and Play `model-id`, empty when absent */
};

/**
 * Parse a user name: `{host}/{deviceId}[/{moduleId}]/[?]k=v&...` (IoT Hub;
 * the `?` is optional because old SDKs omit it) or
 * `{idScope}/registrations/{registrationId}/api-version=...[&...]` (DPS).
 * Query keys are unordered, unknown keys tolerated; api-version is required.
 * @return TMA_OK or LOCALHUB_E_MALFORMED.
 */
tma_status localhub_parse_username(const char *username, struct localhub_user *out);

/** Parsed SAS token (values still URL-encoded as received, except se). */
struct localhub_sas {
    char sr[512];   /**< resource URI exactly as received (encoded) */
    char sig[128];  /**< signature, still URL-encoded */
    char skn[64];   /**< policy name, empty when absent */
    int64_t se;     /**< expiry, seconds since the epoch */
};

/**
 * Parse `SharedAccessSignature sr=...&sig=...&se=...[&skn=...]` (fields in
 * any order, each at most once, sr/sig/se required, se all digits).
 * @return TMA_OK or LOCALHUB_E_MALFORMED.
 */
tma_status localhub_parse_sas(const char *password, struct localhub_sas *out);

/** Kinds of topics a device may publish to. */
enum localhub_topic_kind {
    LOCALHUB_T_INVALID = 0,
    LOCALHUB_T_TELEMETRY,       /**< devices/{id}/messages/events/{bag} */
    LOCALHUB_T_TWIN_GET,        /**< $iothub/twin/GET/?$rid= */
    LOCALHUB_T_TWIN_PATCH,      /**< $iothub/twin/PATCH/properties/reported/?$rid= */
    LOCALHUB_T_METHOD_RES,      /**< $iothub/methods/res/{status}/?$rid= */
    LOCALHUB_T_DPS_REGISTER,    /**< $dps/registrations/PUT/iotdps-register/?$rid= */
    LOCALHUB_T_DPS_POLL         /**< $dps/registrations/GET/iotdps-get-operationstatus/?$rid=&operationId= */
};

/** A classified publish topic. Pointers point into the topic string. */
struct localhub_topic {
    enum localhub_topic_kind kind;
    const char *bag;                 /**< telemetry: property bag (may be "") */
    size_t bag_len;                  /**< telemetry: bag length without one trailing '/' (see decision 19) */
    char rid[LOCALHUB_RID_MAX + 1];  /**< request id (decoded) */
    char op_id[LOCALHUB_RID_MAX + 1];/**< DPS poll operation id (decoded) */
    int status;                      /**< method response status */
};

/**
 * Classify a PUBLISH topic sent by device (or registration) @p id.
 * Telemetry must name @p id itself.
 * @return TMA_OK (out->kind set) or LOCALHUB_E_MALFORMED (not allowed).
 */
tma_status localhub_parse_publish_topic(const char *topic, const char *id, int is_dps,
                                        struct localhub_topic *out);

/** Kinds of subscription filters a device may use (bit values). */
enum localhub_sub_kind {
    LOCALHUB_S_NONE = 0,
    LOCALHUB_S_C2D = 1,
    LOCALHUB_S_TWIN_RES = 2,
    LOCALHUB_S_TWIN_DESIRED = 4,
    LOCALHUB_S_METHODS = 8,
    LOCALHUB_S_DPS_RES = 16,
    LOCALHUB_S_INPUTS = 32      /**< module: devices/{d}/modules/{m}/# or .../inputs/# (routed input messages) */
};

/** Classify a SUBSCRIBE filter for device @p id: one LOCALHUB_S_* value,
 *  LOCALHUB_S_NONE when the filter is not allowed for this client. */
int localhub_classify_subscription(const char *filter, const char *id, int is_dps);

/**
 * Classify a PUBLISH topic sent by module @p module of device @p device:
 * telemetry only on `devices/{device}/modules/{module}/messages/events/{bag}`,
 * plus the twin and method topics every hub identity uses.
 * @return TMA_OK (out->kind set) or LOCALHUB_E_MALFORMED (not allowed).
 */
tma_status localhub_parse_module_publish_topic(const char *topic, const char *device, const char *module,
                                               struct localhub_topic *out);

/** Classify a SUBSCRIBE filter of module @p module of device @p device:
 *  `devices/{device}/modules/{module}/#` or `.../{module}/inputs/#` (the
 *  Node SDK's; LOCALHUB_S_INPUTS), the twin and
 *  method filters; LOCALHUB_S_NONE for anything else (a device's C2D too). */
int localhub_classify_module_subscription(const char *filter, const char *device, const char *module);

/** 1 if @p name is acceptable as a module input name: 1..128 of
 *  A-Z a-z 0-9 - . _ (localhub's choice: a topic segment that needs no
 *  escaping and reads as one bare bag key), else 0. */
int localhub_input_name_valid(const char *name);

/**
 * 1 if the @p n bytes at @p s are well-formed UTF-8 (RFC 3629, the rule of
 * MQTT 3.1.1 section 1.5.3) without U+0000, else 0. Refused: stray
 * continuation bytes, C0/C1/F5..FF leads, overlong forms, surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF, sequences cut short.
 */
int localhub_utf8_valid(const void *s, size_t n);

/**
 * Walk a property bag `k1=v1&k2&k3=` calling @p cb with decoded key and
 * value (value NULL for a bare key). Keys must be non-empty; decoded keys
 * and values must be UTF-8 (localhub_utf8_valid()): the hub stores them in
 * JSON, which is UTF-8 text.
 * @return TMA_OK, LOCALHUB_E_MALFORMED, or the first non-zero @p cb result.
 */
tma_status localhub_bag_walk(const char *bag, size_t len,
                             int (*cb)(const char *key, const char *value, void *ctx),
                             void *ctx);

/** Percent-encode @p in for a property bag value (unreserved kept).
 *  @return length written (NUL-terminated) or LOCALHUB_E_TOO_SMALL. */
int32_t localhub_url_encode(const char *in, char *out, size_t outsz);

#endif
