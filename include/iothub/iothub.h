/**
 * @file iothub.h
 * @brief Azure IoT Hub protocol pieces as pure functions (no I/O, no heap).
 *
 * Builders write NUL-terminated text into a caller buffer and report the
 * length written through @c out_len. When the buffer is too small they
 * return TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL) and set *out_len to the
 * length needed (without the NUL), so the caller can size the buffer.
 *
 * Parsers take a received topic as a span and return spans that point into
 * it (zero copy): they stay valid as long as the topic buffer does. Values
 * from a property bag are returned still percent-encoded; decode them with
 * iothub_url_decode() when needed.
 *
 * Every function checks its pointers and returns TMA_C_BAD_PARAM (layer
 * IOTHUB) on NULL or out-of-range input; received text that does not match
 * the expected shape gives TMA_C_MALFORMED (or TMA_C_NOT_FOUND where the
 * topic simply belongs to another feature).
 *
 * Facts: docs/design/iothub-client.md and the spec sheet azure-iot-mqtt.md.
 */
#ifndef IOTHUB_IOTHUB_H
#define IOTHUB_IOTHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** api-version sent in the hub user name (spec 1.2). */
#define IOTHUB_API_VERSION "2021-04-12"
/** Our product string for DeviceClientType (URL-encoded when sent). */
#define IOTHUB_CLIENT_TYPE "trustm-azure/0.1.0"
/** Largest keep-alive worth sending: the hub waits 1.5x, capped at 1767 s. */
#define IOTHUB_KEEPALIVE_MAX_S 1177u
/** Default keep-alive (spec 8: pick <= 240 s). */
#define IOTHUB_KEEPALIVE_DEFAULT_S 240u
/** Largest device-to-cloud message IoT Hub takes: body plus properties,
 *  256 KB (Azure quotas page, "Other limits"). It closes the connection on
 *  a larger one, so iothub_client_send_telemetry() refuses it. */
#define IOTHUB_D2C_MAX_BYTES 262144u
/** How long the client waits for CONNACK: 60 s, aligned with the service's
 *  own request timeout (Azure IoT C# SDK, ConnectArrivalTimeout, PR 2044);
 *  a hub that shapes a connection burst answers late. */
#define IOTHUB_CONNACK_TIMEOUT_MS 60000u
/** A connection that lasted this long after its CONNACK resets the
 *  reconnect back-off; a shorter one (accepted, then dropped) counts as a
 *  failed attempt. */
#define IOTHUB_STABLE_CONNECTION_MS 60000u
/** Plausibility floor of the wall clock for SAS: 2026-01-01T00:00:00Z in
 *  Unix ms. Below it (a device without RTC before NTP) a token would have
 *  expired long ago and the hub would refuse it as bad credentials
 *  (CONNACK 5): the client does not connect, stays IDLE with the reason
 *  IOTHUB_E_WALL_CLOCK and tries again with the back-off. */
#define IOTHUB_WALL_PLAUSIBLE_MS 1767225600000ull
/** Status code (layer TMA_LAYER_IOTHUB) of IOTHUB_E_WALL_CLOCK. */
#define IOTHUB_CODE_WALL_CLOCK 0x40u
/** iothub_client_last_reason() and iothub_client_step() while a SAS
 *  client waits for a wall clock at or above IOTHUB_WALL_PLAUSIBLE_MS. */
#define IOTHUB_E_WALL_CLOCK TMA_ERR(TMA_LAYER_IOTHUB, IOTHUB_CODE_WALL_CLOCK)

/* System property keys (telemetry and C2D), as the application writes them;
 * the bag writer encodes '$' as %24. */
#define IOTHUB_PROP_MESSAGE_ID "$.mid"
#define IOTHUB_PROP_CORRELATION_ID "$.cid"
#define IOTHUB_PROP_USER_ID "$.uid"
#define IOTHUB_PROP_CONTENT_TYPE "$.ct"
#define IOTHUB_PROP_CONTENT_ENCODING "$.ce"
#define IOTHUB_PROP_CREATION_TIME "$.ctime"
#define IOTHUB_PROP_COMPONENT "$.sub"
#define IOTHUB_PROP_TO "$.to"
#define IOTHUB_PROP_EXPIRY "$.exp"
/** Output name of a module's message (IoT Edge routes it: FROM
 *  /messages/modules/{m}/outputs/{name}); sent as "%24.on=...". */
#define IOTHUB_PROP_OUTPUT_NAME "$.on"

/* Subscription filters that do not depend on the identity. */
#define IOTHUB_TWIN_RES_FILTER "$iothub/twin/res/#"
#define IOTHUB_TWIN_DESIRED_FILTER "$iothub/twin/PATCH/properties/desired/#"
#define IOTHUB_METHODS_FILTER "$iothub/methods/POST/#"

/** Who we are on the hub. module_id NULL for a device identity. */
struct iothub_identity {
    const char *host;      /**< e.g. "myhub.azure-devices.net" */
    const char *device_id; /**< case-sensitive, spec 7 character set */
    const char *module_id; /**< NULL unless a module identity */
};

/** One property of a bag. value NULL: key alone (null); "" : "key=". */
struct iothub_property {
    const char *key;
    const char *value;
};

/* ---- Percent-encoding ------------------------------------------------- */

/**
 * @brief Percent-encode @p len bytes: every byte outside A-Z a-z 0-9 - _ . ~
 * becomes %XX with upper-case hex (the Azure Embedded C rule, spec 1.3).
 */
tma_status iothub_url_encode(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/**
 * @brief Decode %XX (either hex case) in @p in. '+' is kept as is (RFC 3986
 * form, which the hub uses). A '%' not followed by two hex digits is
 * TMA_C_MALFORMED.
 */
tma_status iothub_url_decode(struct tma_span in, char *out, size_t cap, size_t *out_len);

/* ---- CONNECT ------------------------------------------------------------ */

/** @brief Client id: "{deviceId}" or "{deviceId}/{moduleId}". */
tma_status iothub_client_id(const struct iothub_identity *id, char *out, size_t cap,
                            size_t *out_len);

/**
 * @brief User name (spec 1.2):
 * "{host}/{deviceId}[/{moduleId}]/?api-version=2021-04-12&DeviceClientType={enc}[&model-id={enc}]".
 * @param client_type product string (NULL: IOTHUB_CLIENT_TYPE), percent-encoded here.
 * @param model_id    IoT Plug and Play DTMI or NULL, percent-encoded here.
 */
tma_status iothub_username(const struct iothub_identity *id, const char *client_type,
                           const char *model_id, char *out, size_t cap, size_t *out_len);

/** @brief Text for a CONNACK return code (0..5 and unknown), never NULL. */
const char *iothub_connack_reason(uint8_t return_code);

/* ---- SAS tokens (spec 1.3) -------------------------------------------- */

/** HMAC-SHA256 hook, so the core carries no crypto library. */
struct iothub_hmac_ops {
    void *ctx;
    /** Compute HMAC-SHA256(key, msg) into out[32]; TMA_OK or an error. */
    tma_status (*hmac_sha256)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg,
                              size_t msg_len, uint8_t out[32]);
};

/** @brief SAS resource URI of the hub identity: "{host}/devices/{deviceId}[/modules/{moduleId}]". */
tma_status iothub_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                               size_t *out_len);

/**
 * @brief The string to sign: urlenc(@p resource) "\n" @p expiry (decimal).
 * @p expiry (Unix seconds) must fit 32 bits (until 2106), else TMA_C_BAD_PARAM.
 */
tma_status iothub_sas_string_to_sign(const char *resource, uint64_t expiry, char *out, size_t cap,
                                     size_t *out_len);

/**
 * @brief Full CONNECT password:
 * "SharedAccessSignature sr={urlenc resource}&sig={urlenc b64 mac}&se={expiry}[&skn={key_name}]".
 * @param key_b64  the shared access key as Base64 (decoded here; at most 128 bytes).
 * @param key_name policy name or NULL (omitted when signing with the device key).
 * The decoded key and MAC are wiped before return.
 * @return TMA_OK, TMA_C_TOO_SMALL (*out_len = size needed), TMA_C_BAD_PARAM
 * (bad Base64 key), or the status of the HMAC hook.
 */
tma_status iothub_sas_password(const char *resource, const char *key_b64, const char *key_name,
                               uint64_t expiry, const struct iothub_hmac_ops *ops, char *out,
                               size_t cap, size_t *out_len);

/**
 * @brief When to build a new token: 80 % into its lifetime (C SDK practice,
 * spec 8). @return the renewal time in the same unit as the arguments.
 */
uint64_t iothub_sas_renew_at(uint64_t issued, uint64_t expiry);

/** @brief Base64 (RFC 4648, padded). Same conventions as the builders. */
tma_status iothub_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap,
                                size_t *out_len);
/** @brief Base64 decode (padded, no white space). TMA_C_MALFORMED on bad input. */
tma_status iothub_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                size_t *out_len);

/* ---- Telemetry and property bags (spec 2, 3) --------------------------- */

/**
 * @brief Telemetry topic "devices/{id}[/modules/{mid}]/messages/events/{bag}".
 * Keys and values of @p props are percent-encoded ('$' -> %24).
 */
tma_status iothub_telemetry_topic(const struct iothub_identity *id,
                                  const struct iothub_property *props, size_t prop_count,
                                  char *out, size_t cap, size_t *out_len);

/** @brief Property bag alone ("k=v&k2"), encoded as in iothub_telemetry_topic(). */
tma_status iothub_property_bag(const struct iothub_property *props, size_t prop_count, char *out,
                               size_t cap, size_t *out_len);

/** Iterator over a received, still-encoded property bag. */
struct iothub_bag_iter {
    struct tma_span bag;
    size_t pos;
};

/** @brief Start iterating @p bag ("k=v&k2=v2..."; empty is fine). */
void iothub_bag_iter_init(struct iothub_bag_iter *it, struct tma_span bag);

/**
 * @brief Next property. Key and value stay encoded; @p out_has_value is false
 * for a bare key (a null value).
 * @return TMA_OK, TMA_C_NOT_FOUND at the end, TMA_C_MALFORMED for an empty key
 *         or a bad percent escape.
 */
tma_status iothub_bag_next(struct iothub_bag_iter *it, struct tma_span *out_key,
                           struct tma_span *out_value, bool *out_has_value);

/** @brief True when encoded @p key decodes to @p name (so "%24.mid" and "$.mid" both match "$.mid"). */
bool iothub_bag_key_is(struct tma_span key, const char *name);

/**
 * @brief Find a property by decoded name.
 * @return TMA_OK with the encoded value (empty span for a bare key),
 *         TMA_C_NOT_FOUND, or TMA_C_MALFORMED.
 */
tma_status iothub_bag_find(struct tma_span bag, const char *name, struct tma_span *out_value);

/** @brief C2D subscription filter "devices/{id}/messages/devicebound/#" (modules: "devices/{id}/modules/{mid}/#"). */
tma_status iothub_c2d_filter(const struct iothub_identity *id, char *out, size_t cap,
                             size_t *out_len);

/**
 * @brief Parse a C2D topic "devices/{id}/messages/devicebound/[{bag}]".
 * @param id when not NULL the device segment must equal id->device_id.
 * @return TMA_OK with the bag (possibly empty), TMA_C_NOT_FOUND when the topic
 *         is not a C2D topic (or for another device), TMA_C_MALFORMED for a bad bag.
 */
tma_status iothub_c2d_parse(const struct iothub_identity *id, struct tma_span topic,
                            struct tma_span *out_bag);

/**
 * @brief Parse a module input topic, the shape an IoT Edge hub uses to route
 * a message to a module's input:
 * "devices/{deviceId}/modules/{moduleId}/inputs/{inputName}/[{bag}]" (the
 * '/' after the input name may be missing when there is no bag). It arrives
 * on the module's filter "devices/{id}/modules/{mid}/#" (iothub_c2d_filter()).
 * @param id a module identity (module_id not NULL): the device and module
 *           segments must equal its ids.
 * @param out_input the input name, still encoded (decode with
 *           iothub_url_decode()); a view into @p topic.
 * @param out_bag the property bag (possibly empty), validated, still encoded.
 * @return TMA_OK; TMA_C_NOT_FOUND when the topic is not an input topic of this
 *         module (another device or module, or not "inputs"); TMA_C_MALFORMED
 *         for an empty input name, an input name that is not one bare key
 *         (a raw '=' or '&', a bad %-escape) or a bad bag; TMA_C_BAD_PARAM
 *         for NULL pointers or an identity without a module id.
 */
tma_status iothub_input_parse(const struct iothub_identity *id, struct tma_span topic,
                              struct tma_span *out_input, struct tma_span *out_bag);

/* ---- Twin (spec 4) ----------------------------------------------------- */

/** @brief "$iothub/twin/GET/?$rid={rid}". */
tma_status iothub_twin_get_topic(uint32_t rid, char *out, size_t cap, size_t *out_len);
/** @brief "$iothub/twin/PATCH/properties/reported/?$rid={rid}". */
tma_status iothub_twin_patch_topic(uint32_t rid, char *out, size_t cap, size_t *out_len);

enum iothub_twin_kind {
    IOTHUB_TWIN_RESPONSE = 1, /**< "$iothub/twin/res/{status}/?$rid=..[&$version=..]" */
    IOTHUB_TWIN_DESIRED = 2   /**< "$iothub/twin/PATCH/properties/desired/?$version=N" */
};

struct iothub_twin_msg {
    enum iothub_twin_kind kind;
    uint16_t status;      /**< response only (200 GET, 204 reported, >= 400 error) */
    struct tma_span rid;  /**< response only, encoded */
    bool rid_is_number;
    uint32_t rid_number;  /**< when rid_is_number */
    bool has_version;
    int64_t version;      /**< $version when has_version */
};

/**
 * @brief Parse a twin topic.
 * @return TMA_OK; TMA_C_NOT_FOUND when not a twin topic; TMA_C_MALFORMED when
 *         a twin topic has a bad status, a missing $rid (response) or a bad $version.
 */
tma_status iothub_twin_parse(struct tma_span topic, struct iothub_twin_msg *out_msg);

/**
 * @brief $version of a twin body: "desired.$version" of a GET response
 * (@p is_get true) or the top-level "$version" of a desired notification.
 * @return TMA_OK, TMA_C_NOT_FOUND, TMA_C_MALFORMED (bad JSON or not an integer).
 */
tma_status iothub_twin_desired_version(struct tma_span body, bool is_get, int64_t *out_version);

/* ---- Direct methods (spec 5) ------------------------------------------- */

struct iothub_method_request {
    struct tma_span name; /**< method name as sent */
    struct tma_span rid;  /**< encoded $rid; echo it back unchanged */
};

/**
 * @brief Parse "$iothub/methods/POST/{name}/?$rid={rid}".
 * @return TMA_OK, TMA_C_NOT_FOUND (not a method topic), TMA_C_MALFORMED.
 */
tma_status iothub_method_parse(struct tma_span topic, struct iothub_method_request *out_req);

/** @brief "$iothub/methods/res/{status}/?$rid={rid}"; @p rid as received (encoded form). */
tma_status iothub_method_response_topic(uint16_t status, struct tma_span rid, char *out,
                                        size_t cap, size_t *out_len);

/* ---- Retry and chip pacing (spec 8, chip Security Monitor) ------------- */

/**
 * @brief Azure back-off: delay = min(min_ms * 2^attempt, max_ms); the jitter
 * is added only if it still fits under max_ms; then the time already spent
 * in the failed operation (@p op_ms) is subtracted, floored at 0.
 */
uint32_t iothub_retry_delay_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms,
                               uint32_t jitter_ms, uint32_t op_ms);

/**
 * Pacing of private-key operations so the OPTIGA Security Monitor never
 * counts up: a token bucket holding at most @c burst operations, refilled
 * with one token per @c t_max_ms. Sustained, at most one private-key
 * operation per t_max; a short burst up to the chip's SEC_CREDIT.
 */
struct iothub_key_pacer {
    uint32_t t_max_ms;   /**< chip t_max plus margin (default 5300 ms: 5 s + 5 % + slack) */
    uint32_t burst;      /**< bucket size (default 4, one below SEC_CREDIT max 5) */
    uint64_t full_at_ms; /**< time at which the bucket is full again */
    bool started;
};

/*
 * Times (the @p now_ms of the pacer functions and of
 * iothub_retry_next_delay_ms(), full_at_ms) are absolute and compared as
 * 64-bit numbers: give every call on one pacer the same time base, one
 * that never goes back and does not wrap. A raw clock does not do: a step
 * back by J lengthens the wait by J, and a 32-bit tick zero-extended goes
 * back by 2^32 at its wrap (a wait of up to 49.7 days). The IoT Hub client
 * feeds its pacer (iothub_client_config.retry.pacer) its own time only
 * (0 at init, advanced by the clock's forward steps: docs/porting.md "The
 * IoT clocks"); so hand it a pacer in its initial state
 * (iothub_retry_policy_init() or iothub_key_pacer_init(), or zeroed with
 * the retry policy), never one whose full_at_ms was recorded on another
 * time base: the client would wait until its own time reaches it.
 */
/** @brief Initialise with @p t_max_ms and @p burst (0 values take the defaults). */
void iothub_key_pacer_init(struct iothub_key_pacer *p, uint32_t t_max_ms, uint32_t burst);
/** @brief Milliseconds to wait at @p now_ms before a private-key operation is allowed (0: now). */
uint64_t iothub_key_pacer_wait_ms(const struct iothub_key_pacer *p, uint64_t now_ms);
/** @brief Record a private-key operation at @p now_ms. */
void iothub_key_pacer_record(struct iothub_key_pacer *p, uint64_t now_ms);

/** The policy the reconnect loop consults. */
struct iothub_retry_policy {
    uint32_t min_ms;    /**< default 1000 */
    uint32_t max_ms;    /**< default 100000 */
    uint32_t jitter_max_ms; /**< default 5000 */
    struct iothub_key_pacer pacer;
};

/** @brief Defaults of spec 8 (Embedded C) and the chip defaults of the pacer. */
void iothub_retry_policy_init(struct iothub_retry_policy *p);

/**
 * @brief How long to wait before connect attempt number @p attempt (0 = the
 * first retry) at @p now_ms: the larger of the back-off and the pacer wait
 * (when the connect will use the chip key, @p uses_key).
 * @param random any 32-bit random value; the jitter is random % (jitter_max_ms+1).
 */
uint64_t iothub_retry_next_delay_ms(const struct iothub_retry_policy *p, uint32_t attempt,
                                    uint32_t op_ms, uint32_t random, bool uses_key,
                                    uint64_t now_ms);

/** @brief True for statuses worth retrying (429 and 5xx; spec 8 lists 429 and 500). */
bool iothub_status_retriable(uint16_t status);

/* ---- Connection strings ------------------------------------------------- */

/**
 * Parsed connection string
 * "HostName=..;DeviceId=..;(x509=true|SharedAccessKey=..)[;ModuleId=..][;GatewayHostName=..]".
 * The spans point into the input.
 *
 * GatewayHostName (a downstream device or module behind an IoT Edge gateway)
 * names where the connection goes: TCP and TLS (server name and certificate
 * verification) to the gateway, while the MQTT user name, client id and SAS
 * resource keep HostName, the hub (Azure SDK practice;
 * docs/design/iothub-client.md, "IoT Edge").
 */
struct iothub_connection_string {
    struct tma_span host;
    struct tma_span device_id;
    struct tma_span module_id;  /**< empty when absent */
    struct tma_span shared_key; /**< empty when absent */
    struct tma_span key_name;   /**< SharedAccessKeyName, empty when absent */
    bool x509;
    struct tma_span gateway;    /**< GatewayHostName, empty when absent */
};

/**
 * @brief Parse a connection string. Exactly one of x509=true and
 * SharedAccessKey must be present, plus HostName and DeviceId. A known key
 * given twice or with an empty value is refused; unknown keys are ignored.
 * Keys are case-sensitive, so a
 * misspelt one (GatewayHostname=) is ignored too: an application that takes
 * connection strings from people should check them first, as the samples do
 * (sample_cs_problem() in examples/sample_args.c names the bad part).
 * @return TMA_OK or TMA_C_MALFORMED.
 */
tma_status iothub_connection_string_parse(struct tma_span cs,
                                          struct iothub_connection_string *out_cs);

#ifdef __cplusplus
}
#endif

#endif
