/* Private: one parser for the query part shared by every "response" topic
 * ($iothub/twin/res, $iothub/twin/PATCH/properties/desired,
 * $iothub/methods/POST, $dps/registrations/res). Lives in iothub.c. */
#ifndef IOTHUB_TOPIC_H
#define IOTHUB_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

enum ih_seg {
    IH_SEG_NONE,   /* the query follows the prefix directly: "?..." */
    IH_SEG_STATUS, /* "{status}/?..." with a 3-digit status 100..999 */
    IH_SEG_NAME    /* "{name}/?..." with a non-empty name */
};

struct ih_topic {
    struct tma_span seg; /* the segment (IH_SEG_STATUS, IH_SEG_NAME) */
    uint16_t status;     /* IH_SEG_STATUS */
    struct tma_span rid; /* "$rid" value, encoded; len 0 when absent */
    bool has_num;
    uint64_t num;        /* value of the numeric key when has_num */
};

/*
 * Parse @p rest (the topic after its fixed prefix): the segment, then "?" and a
 * property bag that must be well-formed as a whole. "$rid" is kept when it has
 * a non-empty value; @p num_key (may be NULL) is read as a decimal <= num_max.
 * A key given twice, an empty $rid or a bad number is malformed.
 * @return true when well-formed (callers map false to their own layer's
 *         TMA_C_MALFORMED).
 */
bool ih_topic_parse(struct tma_span rest, enum ih_seg seg, const char *num_key,
                    uint64_t num_max, struct ih_topic *out);

/* "<prefix><rid>" (a request topic ending in "$rid="), NUL-terminated. */
tma_status ih_rid_topic(const char *prefix, uint32_t rid, char *out, size_t cap, size_t *out_len);

/* Milliseconds to whole seconds without a 64-bit division helper;
 * UINT32_MAX when the seconds do not fit in 32 bits. */
uint32_t ih_ms_to_s(uint64_t ms);

/* Decimal, 1..19 digits, no sign, <= max. */
bool ih_parse_u64(struct tma_span s, uint64_t max, uint64_t *out);

struct iothub_json_token;

/* Called by ih_json_walk() for the root value (depth 0, name NULL) and for the
 * value of every object member (depth of the object: 1 for the root object's
 * members), with the value's token (BEGIN_OBJECT / BEGIN_ARRAY for a
 * container, whose members follow). A non-OK return ends the walk with it. */
typedef tma_status (*ih_json_member_fn)(void *ctx, uint32_t depth,
                                        const struct iothub_json_token *name,
                                        const struct iothub_json_token *value);

/* Validate a whole JSON document in one pass (grammar and depth as
 * iothub_json_next()), reporting members to @p fn (may be NULL).
 * @return TMA_OK; TMA_C_MALFORMED / TMA_C_UNSUPPORTED (too deep) / TMA_C_BAD_PARAM,
 *         layer IOTHUB, at the first error in document order; or fn's status. */
tma_status ih_json_walk(struct tma_span json, ih_json_member_fn fn, void *ctx);

/* iothub_json_token_eq() for a string/name token and an ASCII @p ascii (the
 * member names the device looks up): the same answer without the UTF-8
 * decoder, which a device that only looks up names then does not link. */
bool ih_json_name_is(const struct iothub_json_token *tok, const char *ascii);

struct iothub_client;
struct iothub_client_config;
/* iothub_client_init()'s configuration check (client.c). */
bool ih_client_config_ok(const struct iothub_client_config *cfg);

/* Twin GET (patch NULL) or reported PATCH with a fresh $rid (client.c). */
tma_status ih_twin_request(struct iothub_client *c, const struct tma_span *patch, uint32_t *out_rid);

/* Unescape the text of a JSON string (as a string token holds it) into
 * @p dst (cap > 0), NUL-terminated, keeping only printable ASCII without
 * space (0x21..0x7E after unescaping). false (and dst empty) when it is
 * empty, has a bad escape or any other character, or does not fit. */
bool ih_json_copy(struct tma_span text, char *dst, size_t cap);

/* iothub_json_token_int64() for the text of a NUMBER token, without the
 * argument checks (the device's callers have checked the kind). */
bool ih_json_int64(struct tma_span text, int64_t *out_value);

struct wbuf;
struct iothub_identity;
struct iothub_property;
/* "devices/{id}[/modules/{mid}]" (no check of @p id), a piece of
 * iothub_telemetry_topic() and iothub_c2d_filter(); the other, the property
 * bag, is ih_bag_write() in topic_rx.h. */
void ih_identity_prefix(struct wbuf *w, const struct iothub_identity *id);

/* iothub_username() without its argument checks: the hub client's default
 * user-name builder (its identity was checked by iothub_client_init()). */
tma_status ih_username(const struct iothub_identity *id, const char *client_type,
                       const char *model_id, char *out, size_t cap, size_t *out_len);

/* iothub_sas_resource() without its argument checks (the hub client's
 * default SAS resource builder). */
tma_status ih_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                           size_t *out_len);

struct iothub_twin_msg;
struct iothub_method_request;
/* iothub_c2d_parse() (@p out_input NULL) or iothub_input_parse() (@p id a
 * module identity, @p out_input not NULL: one parser for both topic forms),
 * iothub_twin_parse() and iothub_method_parse() without their argument
 * checks (and without zeroing the output first: on TMA_OK every field is
 * set), for the glue, whose arguments are valid: ih_c2d_parse(),
 * ih_twin_parse() and ih_method_parse(), static inline in topic_rx.h. */

/* Topic pieces the builders in iothub.c and the parsers in topic_rx.h (run
 * by the glue) share: named arrays, so that each is stored once and counted
 * once (string literals used in two objects are merged by the linker but
 * listed by the linker map in both; bench/iothub_size.sh's own column reads
 * the map). */
extern const char ih_devices_prefix[];   /* "devices/" */
extern const char ih_modules_infix[];    /* "/modules/" */
extern const char ih_c2d_tail[];         /* "/messages/devicebound/#": the C2D filter's end */
extern const char ih_twin_res_filter[];  /* IOTHUB_TWIN_RES_FILTER */
extern const char ih_twin_desired_filter[]; /* IOTHUB_TWIN_DESIRED_FILTER */
extern const char ih_methods_filter[];   /* IOTHUB_METHODS_FILTER */
extern const char ih_version_key[];      /* "$version" (twin topics and documents) */
extern const char ih_client_type[];      /* IOTHUB_CLIENT_TYPE (hub and DPS user names) */

struct iothub_bag_iter;
/* iothub_bag_next() without its argument checks (the topic parsers' calls). */
tma_status ih_bag_next(struct iothub_bag_iter *it, struct tma_span *out_key,
                       struct tma_span *out_value, bool *out_has_value);

struct dps_response_topic;
/* dps_parse_response_topic() without its argument checks and zeroing (on
 * TMA_OK every field is set), for the DPS client. */
tma_status ih_dps_topic(struct tma_span topic, struct dps_response_topic *out_res);

/* The outbox's cores for the hub client (push, get, peek, mark sent, ack,
 * rewind): outbox_core.h. */

/* The cores of dps_username(), dps_sas_resource(), dps_poll_topic() and
 * dps_register_body() without their argument checks, for the DPS client (the
 * identity: host = ID scope, device id = registration id; the first two
 * have the hub client's builder signatures, model id unused). */
tma_status ih_dps_user_name(const struct iothub_identity *id, const char *client_version,
                            const char *model_id, char *out, size_t cap, size_t *out_len);
tma_status ih_dps_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                               size_t *out_len);
tma_status ih_dps_poll_topic(uint32_t rid, struct tma_span operation_id, char *out, size_t cap,
                             size_t *out_len);
tma_status ih_dps_register_body(const char *registration_id, const char *payload_json, char *out,
                                size_t cap, size_t *out_len);

/* iothub_status_retriable()'s rule (429 and 5xx), inline for the DPS reply
 * handler, its one device caller. */
static inline bool ih_status_retriable(uint16_t status)
{
    return status == 429u || (uint16_t)(status - 500u) < 100u;
}

/* Value of a hex digit (either case), or -1. */
/* The back-off and pacer cores without their NULL checks: retry_core.h. */

int ih_hexval(uint8_t c);

/* true when @p s starts with @p lit (not empty), and then @p s is stepped over it
 * (unchanged otherwise). A subscription filter ending in '#' stands for its
 * prefix (the '#' is not compared and not stepped over), so a parser and the
 * subscription share one string constant, which the linker then keeps once. */
bool ih_eat(struct tma_span *s, const char *lit);

#endif
