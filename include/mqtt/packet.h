/**
 * @file packet.h
 * @brief MQTT 3.1.1 packet codec: pure, allocation-free, zero-copy.
 *
 * Encoders write one complete packet into a caller buffer. Decoders work on a
 * struct mqtt_packet (one framed packet) and return views (struct tma_span)
 * that point into the bytes the packet was framed from: they stay valid as
 * long as those bytes are not overwritten (for a struct mqtt_stream: until
 * the next mqtt_stream_next() call on it).
 *
 * Every function returns TMA_OK or a tma_status of layer TMA_LAYER_MQTT:
 *  - TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM): NULL pointer, a field out of
 *    range (QoS > 1 on encode, string longer than 65535, empty topic, ...);
 *  - TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL): output buffer too small; the
 *    size needed is stored in *out_len;
 *  - TMA_ERR(TMA_LAYER_MQTT, TMA_C_MALFORMED): the input violates MQTT 3.1.1
 *    (bad remaining length, reserved flags, bad UTF-8, wrong lengths, ...);
 *  - TMA_ERR(TMA_LAYER_MQTT, TMA_C_UNSUPPORTED): well-formed but outside what
 *    this codec supports (QoS 2 PUBLISH, protocol level other than 4).
 *
 * Strings: a span with ptr == NULL means "absent" where a field is optional
 * (user name, password); ptr != NULL and len == 0 is present but empty.
 */
#ifndef MQTT_PACKET_H
#define MQTT_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest remaining length MQTT can express (4 varint bytes). */
#define MQTT_MAX_REMAINING_LENGTH 268435455u
/** Largest fixed header: 1 type byte + 4 length bytes. */
#define MQTT_MAX_FIXED_HEADER 5u

/** MQTT-layer specific status codes (codes 0x40+ of TMA_LAYER_MQTT). */
/** CONNACK return code rc (1..5, or any other non-zero value) -> status. */
#define MQTT_CODE_CONNACK_BASE 0x40u
#define MQTT_ERR_CONNACK(rc) TMA_ERR(TMA_LAYER_MQTT, MQTT_CODE_CONNACK_BASE + (uint32_t)((rc) & 0x3Fu))
/** CONNACK 1: unacceptable protocol version. */
#define MQTT_E_CONNACK_PROTOCOL MQTT_ERR_CONNACK(1)
/** CONNACK 2: identifier rejected. */
#define MQTT_E_CONNACK_IDENTIFIER MQTT_ERR_CONNACK(2)
/** CONNACK 3: server unavailable. */
#define MQTT_E_CONNACK_UNAVAILABLE MQTT_ERR_CONNACK(3)
/** CONNACK 4: bad user name or password. */
#define MQTT_E_CONNACK_BAD_CREDENTIALS MQTT_ERR_CONNACK(4)
/** CONNACK 5: not authorized (what IoT Hub answers for every CONNECT failure). */
#define MQTT_E_CONNACK_NOT_AUTHORIZED MQTT_ERR_CONNACK(5)
/** A SUBACK carried 0x80 (failure) for at least one filter. */
#define MQTT_E_SUBSCRIBE_REFUSED TMA_ERR(TMA_LAYER_MQTT, 0x80u)
/** No PINGRESP (or CONNACK) within the allowed time. */
#define MQTT_E_KEEPALIVE_TIMEOUT TMA_ERR(TMA_LAYER_MQTT, TMA_C_TIMEOUT)

/** Control packet types (first byte, high nibble). */
enum mqtt_packet_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14
};

/** SUBACK return code for a refused filter. */
#define MQTT_SUBACK_FAILURE 0x80u

/** One framed packet: the fixed header decoded, the rest as a view. */
struct mqtt_packet {
    uint8_t type;          /**< enum mqtt_packet_type */
    uint8_t flags;         /**< low nibble of the first byte */
    struct tma_span body;  /**< variable header + payload (remaining length bytes) */
    size_t size;           /**< whole packet: fixed header + body */
};

/** Last Will. */
struct mqtt_will {
    struct tma_span topic;
    struct tma_span payload;
    uint8_t qos;           /**< 0 or 1 */
    bool retain;
};

/** CONNECT fields (encode input, decode output). */
struct mqtt_connect {
    struct tma_span client_id;  /**< may be empty only with clean_session */
    struct tma_span user_name;  /**< ptr NULL: absent */
    struct tma_span password;   /**< ptr NULL: absent; needs a user name */
    bool has_will;
    struct mqtt_will will;      /**< used when has_will */
    uint16_t keep_alive_s;      /**< 0 disables keep-alive */
    bool clean_session;
    uint8_t protocol_level;     /**< decode only: level read (4 = 3.1.1); encode always writes 4 */
};

/** CONNACK fields. */
struct mqtt_connack {
    bool session_present;
    uint8_t return_code;        /**< 0 accepted, 1..5 refusals */
};

/** PUBLISH fields (encode input, decode output). */
struct mqtt_publish {
    struct tma_span topic;      /**< no wildcards, not empty */
    struct tma_span payload;    /**< may be empty */
    uint16_t packet_id;         /**< QoS 1: non-zero; QoS 0: ignored/0 */
    uint8_t qos;                /**< 0 or 1 (2 is rejected with TMA_C_UNSUPPORTED) */
    bool dup;
    bool retain;
};

/** One SUBSCRIBE entry (or UNSUBSCRIBE filter, qos unused). */
struct mqtt_subscription {
    struct tma_span filter;
    uint8_t qos;                /**< requested maximum QoS 0..2 */
};

/** SUBSCRIBE/UNSUBSCRIBE decode result: iterate entries with mqtt_sub_next(). */
struct mqtt_sub_iter {
    uint16_t packet_id;
    size_t count;               /**< number of entries (>= 1) */
    struct tma_span rest;       /**< not yet iterated bytes (internal) */
    bool with_qos;              /**< SUBSCRIBE: true, UNSUBSCRIBE: false (internal) */
};

/** SUBACK fields. */
struct mqtt_suback {
    uint16_t packet_id;
    struct tma_span codes;      /**< one return code per filter: 0,1,2 or 0x80 */
};

/* ---------------------------------------------------------------- framing */

/**
 * @brief Frame the packet at the start of buf.
 * @param buf bytes received (may hold less or more than one packet)
 * @param len number of bytes in buf
 * @param out_pkt on TMA_OK: the packet (views into buf); on TMA_WANT_READ
 *        only out_pkt->size is set: the packet's whole size once its fixed
 *        header is complete, else len + 1 (at least one more byte)
 * @return TMA_OK; TMA_WANT_READ when buf holds an incomplete packet;
 *         TMA_C_MALFORMED for a reserved type, wrong fixed-header flags, a
 *         remaining length longer than 4 bytes or not minimally encoded;
 *         TMA_C_BAD_PARAM.
 */
tma_status mqtt_packet_frame(const uint8_t *buf, size_t len, struct mqtt_packet *out_pkt);

/**
 * @brief Encode a remaining length as a varint.
 * @param value 0..MQTT_MAX_REMAINING_LENGTH
 * @param out 4 bytes of room
 * @return number of bytes written (1..4), 0 if value is out of range.
 */
size_t mqtt_varint_encode(uint32_t value, uint8_t out[4]);

/* --------------------------------------------------------------- encoders */
/* Every encoder: buf may be NULL with cap 0 to ask for the size; on TMA_OK
 * *out_len is the packet length, on TMA_C_TOO_SMALL it is the size needed. */

/** @brief CONNECT (protocol "MQTT", level 4). */
tma_status mqtt_encode_connect(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len);
/** @brief PUBLISH QoS 0/1 with DUP and retain. QoS 1 needs packet_id != 0. */
tma_status mqtt_encode_publish(const struct mqtt_publish *p, uint8_t *buf, size_t cap, size_t *out_len);
/** @brief PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK: type + packet id (id != 0). */
tma_status mqtt_encode_ack(uint8_t type, uint16_t packet_id, uint8_t *buf, size_t cap, size_t *out_len);
/** @brief SUBSCRIBE with n >= 1 filters (validated: wildcard rules, QoS 0..2). */
tma_status mqtt_encode_subscribe(uint16_t packet_id, const struct mqtt_subscription *subs, size_t n,
                                 uint8_t *buf, size_t cap, size_t *out_len);
/** @brief UNSUBSCRIBE with n >= 1 filters. */
tma_status mqtt_encode_unsubscribe(uint16_t packet_id, const struct tma_span *filters, size_t n,
                                   uint8_t *buf, size_t cap, size_t *out_len);
/** @brief A packet without variable header: PINGREQ, PINGRESP or DISCONNECT. */
tma_status mqtt_encode_empty(uint8_t type, uint8_t *buf, size_t cap, size_t *out_len);
/** @brief CONNACK (server side, for the hub and tests). */
tma_status mqtt_encode_connack(const struct mqtt_connack *a, uint8_t *buf, size_t cap, size_t *out_len);
/** @brief SUBACK with n >= 1 return codes (each 0,1,2 or 0x80). */
tma_status mqtt_encode_suback(uint16_t packet_id, const uint8_t *codes, size_t n,
                              uint8_t *buf, size_t cap, size_t *out_len);

/** @brief Set the DUP flag in an encoded QoS 1 PUBLISH (for retransmission). */
tma_status mqtt_publish_set_dup(uint8_t *pkt, size_t len);

/* --------------------------------------------------------------- decoders */
/* Each decoder checks pkt->type and returns TMA_C_BAD_PARAM on a mismatch. */

/** @brief CONNECT (server side). Protocol name must be "MQTT"; a level other than 4
 *  gives TMA_C_UNSUPPORTED with out->protocol_level set (server answers CONNACK 1). */
tma_status mqtt_decode_connect(const struct mqtt_packet *pkt, struct mqtt_connect *out);
/** @brief CONNACK. */
tma_status mqtt_decode_connack(const struct mqtt_packet *pkt, struct mqtt_connack *out);
/** @brief PUBLISH: topic checked (UTF-8, no wildcards, not empty); QoS 2 -> UNSUPPORTED,
 *  QoS 3 -> MALFORMED. */
tma_status mqtt_decode_publish(const struct mqtt_packet *pkt, struct mqtt_publish *out);
/** @brief PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: the packet id (non-zero). */
tma_status mqtt_decode_ack(const struct mqtt_packet *pkt, uint16_t *out_packet_id);
/** @brief SUBACK. */
tma_status mqtt_decode_suback(const struct mqtt_packet *pkt, struct mqtt_suback *out);
/** @brief SUBSCRIBE or UNSUBSCRIBE (server side). All entries are validated here, so
 *  mqtt_sub_next() cannot fail afterwards. */
tma_status mqtt_decode_subscribe(const struct mqtt_packet *pkt, struct mqtt_sub_iter *out);
/** @brief Next entry of a decoded SUBSCRIBE/UNSUBSCRIBE.
 *  @return true and *out_sub filled, false when all entries were returned. */
bool mqtt_sub_next(struct mqtt_sub_iter *it, struct mqtt_subscription *out_sub);
/** @brief PINGREQ, PINGRESP, DISCONNECT: checks the body is empty. */
tma_status mqtt_decode_empty(const struct mqtt_packet *pkt);

/* --------------------------------------------------------------- checks */

/** @brief True if s is well-formed MQTT UTF-8 (no U+0000, no surrogates, no
 *  overlong forms) and at most 65535 bytes. */
bool mqtt_utf8_valid(struct tma_span s);
/** @brief True if s is a valid topic name (not empty, UTF-8, no '+' or '#'). */
bool mqtt_topic_name_valid(struct tma_span s);
/** @brief True if s is a valid topic filter ('#' last and alone in its level,
 *  '+' alone in its level). */
bool mqtt_topic_filter_valid(struct tma_span s);
/** @brief True if topic name matches topic filter (MQTT 3.1.1 section 4.7;
 *  '$' topics are not matched by leading wildcards). */
bool mqtt_topic_matches(struct tma_span filter, struct tma_span topic);

/* ------------------------------------------------------------ stream */

/**
 * Splits a byte stream into packets (partial reads, several packets per read).
 * Buffer owned by the caller. A PUBLISH larger than the buffer is skipped:
 * mqtt_stream_next() answers TMA_C_TOO_SMALL once for it (not sticky; the
 * packet's type, flags and total size are in out_pkt, its body is empty),
 * then discards its bytes as they arrive and goes on with the next packet;
 * `skipped` counts such packets. Any other packet larger than the buffer is
 * an error (TMA_C_TOO_SMALL) that sticks until mqtt_stream_reset().
 */
struct mqtt_stream {
    uint8_t *buf;
    size_t cap;
    size_t len;        /**< bytes held */
    size_t consumed;   /**< bytes of the packet last returned (dropped on next call) */
    tma_status error;  /**< sticky error, TMA_OK otherwise */
    uint32_t skip;     /**< bytes of a skipped PUBLISH still to discard */
    uint32_t skipped;  /**< PUBLISH packets skipped as larger than the buffer */
};

/** @brief Attach a buffer. */
tma_status mqtt_stream_init(struct mqtt_stream *s, uint8_t *buf, size_t cap);
/** @brief Drop all held bytes and any sticky error. */
void mqtt_stream_reset(struct mqtt_stream *s);
/**
 * @brief Where to write newly received bytes.
 * Drops the packet returned last, then compacts.
 * @param out_space free bytes at the returned pointer (0 when full)
 */
uint8_t *mqtt_stream_space(struct mqtt_stream *s, size_t *out_space);
/** @brief Account n bytes written at mqtt_stream_space(). BAD_PARAM if n exceeds the space. */
tma_status mqtt_stream_commit(struct mqtt_stream *s, size_t n);
/**
 * @brief Next complete packet. Drops the packet returned by the previous call.
 * @param out_pkt views into the stream buffer, valid until the next call on s
 * @return TMA_OK; TMA_WANT_READ (need more bytes); TMA_C_MALFORMED (sticky);
 *         TMA_C_TOO_SMALL (packet larger than the buffer: sticky, except for a
 *         PUBLISH, which is skipped; see struct mqtt_stream).
 */
tma_status mqtt_stream_next(struct mqtt_stream *s, struct mqtt_packet *out_pkt);

#ifdef __cplusplus
}
#endif

#endif /* MQTT_PACKET_H */
