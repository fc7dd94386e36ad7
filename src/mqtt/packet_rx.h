/* Private to src/mqtt: the receive path's cores (framing, the stream, and
 * the body decoders of CONNACK, PUBLISH, PUBACK/UNSUBACK and SUBACK),
 * defined here as static inline functions. The client calls each of them
 * from one place in mqtt_process(), and -Os inlines a function called once
 * only when it is in the same translation unit; packet.c's public
 * functions (mqtt_packet_frame(), mqtt_stream_next(), mqtt_decode_*())
 * run the same definitions behind their argument checks. A device links
 * the client's inlined copies only (code size: docs/decisions/iothub-client-size-10.md). */
#ifndef MQTT_PACKET_RX_H
#define MQTT_PACKET_RX_H

#include <string.h>

#include "packet_core.h"

#define MQTT_RX_E_SMALL TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL)
#define MQTT_RX_E_MALFORMED TMA_ERR(TMA_LAYER_MQTT, TMA_C_MALFORMED)
#define MQTT_RX_E_UNSUPPORTED TMA_ERR(TMA_LAYER_MQTT, TMA_C_UNSUPPORTED)

/* Required low-nibble flags per type (2.2.2); PUBLISH is checked apart. */
static inline bool mqtt_rx_flags_ok(uint8_t type, uint8_t flags)
{
    if (type == MQTT_PUBLISH) {
        return ((flags >> 1) & 3u) != 3u; /* QoS 3 is malformed */
    }
    /* PUBREL (6), SUBSCRIBE (8) and UNSUBSCRIBE (10) need 0010, the rest 0000. */
    return flags == (((0x0540u >> type) & 1u) << 1);
}

/* mqtt_packet_frame() after its argument checks. */
static inline tma_status mqtt_rx_frame(const uint8_t *buf, size_t len, struct mqtt_packet *out_pkt)
{
    uint32_t value = 0;
    size_t i;
    uint8_t type;
    uint8_t flags;

    out_pkt->size = len + 1u; /* until the fixed header is complete: one more byte */
    if (len < 1) {
        return TMA_WANT_READ;
    }
    type = (uint8_t)(buf[0] >> 4);
    flags = (uint8_t)(buf[0] & 0x0Fu);
    if (type == 0 || type == 15 || !mqtt_rx_flags_ok(type, flags)) {
        return MQTT_RX_E_MALFORMED;
    }
    for (i = 1;; i++) {
        uint8_t b;
        if (i > 4) {
            return MQTT_RX_E_MALFORMED; /* more than 4 length bytes */
        }
        if (i >= len) {
            return TMA_WANT_READ;
        }
        b = buf[i];
        value |= (uint32_t)(b & 0x7Fu) << (7u * (unsigned)(i - 1));
        if ((b & 0x80u) == 0) {
            /* Minimal encoding: a trailing zero byte after the first is redundant. */
            if (b == 0 && i > 1) {
                return MQTT_RX_E_MALFORMED;
            }
            break;
        }
    }
    out_pkt->size = i + 1 + value;
    out_pkt->type = type;
    out_pkt->flags = flags;
    if ((size_t)value > len - (i + 1)) {
        return TMA_WANT_READ; /* the size is known: the whole packet */
    }
    out_pkt->body.ptr = buf + i + 1;
    out_pkt->body.len = value;
    return TMA_OK;
}

/* Move the bytes after the taken packet to the front. */
static inline void mqtt_rx_drop_consumed(struct mqtt_stream *s)
{
    if (s->consumed != 0) {
        memmove(s->buf, s->buf + s->consumed, s->len - s->consumed);
        s->len -= s->consumed;
        s->consumed = 0;
    }
}

/* mqtt_stream_space() without its argument checks. */
static inline uint8_t *mqtt_stream_room(struct mqtt_stream *s, size_t *out_space)
{
    mqtt_rx_drop_consumed(s);
    *out_space = s->error == TMA_OK ? s->cap - s->len : 0;
    return s->buf + s->len;
}

/* mqtt_stream_next() without its argument checks. */
static inline tma_status mqtt_stream_take(struct mqtt_stream *s, struct mqtt_packet *out_pkt)
{
    tma_status st;
    if (s->error != TMA_OK) {
        return s->error;
    }
    mqtt_rx_drop_consumed(s);
    if (s->skip != 0) {
        /* the rest of a skipped PUBLISH, as far as it has arrived */
        s->consumed = s->skip < s->len ? s->skip : s->len;
        s->skip -= (uint32_t)s->consumed;
        mqtt_rx_drop_consumed(s);
        if (s->skip != 0) {
            return TMA_WANT_READ;
        }
    }
    out_pkt->type = 0;
    st = mqtt_rx_frame(s->buf, s->len, out_pkt);
    if (st == TMA_OK) {
        s->consumed = out_pkt->size;
        return TMA_OK;
    }
    if (st == TMA_WANT_READ && out_pkt->size > s->cap) {
        /* The packet (or, while its fixed header is incomplete, the next
         * byte) can never fit: fail now instead of waiting for a buffer
         * that can never hold it. A PUBLISH (its size known: mqtt_rx_frame() set
         * the type) is skipped instead: one message the application cannot
         * take must not end every connection (a broker redelivers it after
         * each CONNACK, so nothing else would get through). */
        if (out_pkt->type == MQTT_PUBLISH) {
            s->skip = (uint32_t)out_pkt->size;
            s->skipped++;
            out_pkt->body.ptr = s->buf;
            out_pkt->body.len = 0;
            return MQTT_RX_E_SMALL;
        }
        st = MQTT_RX_E_SMALL;
    }
    if (st < 0) {
        s->error = st;
    }
    return st;
}

/* mqtt_decode_connack(), _publish(), _ack() and _suback() for a framed
 * packet of that type (from mqtt_stream_next()): every check of the packet's
 * bytes, none of the arguments. */
static inline tma_status mqtt_connack_body(const struct mqtt_packet *pkt, struct mqtt_connack *out)
{
    const uint8_t *b = pkt->body.ptr;
    if (pkt->body.len != 2) {
        return MQTT_RX_E_MALFORMED;
    }
    out->session_present = (b[0] & 1u) != 0;
    out->return_code = b[1];
    if ((b[0] & 0xFEu) != 0 || (out->session_present && out->return_code != 0) || out->return_code > 5) {
        return MQTT_RX_E_MALFORMED; /* 3.2.2.1 reserved bits, 3.2.2.2, 3.2.2.3 codes 6-255 reserved */
    }
    return TMA_OK;
}

static inline tma_status mqtt_publish_body(const struct mqtt_packet *pkt, struct mqtt_publish *out)
{
    const uint8_t *b = pkt->body.ptr;
    size_t n = pkt->body.len;
    size_t topic_len;
    size_t pos;
    uint8_t qos = (uint8_t)((pkt->flags >> 1) & 3u);
    out->qos = qos;
    out->dup = (pkt->flags & 0x08u) != 0;
    out->retain = (pkt->flags & 0x01u) != 0;
    out->packet_id = 0;
    if ((qos == 0 && out->dup) || n < 2) {
        return MQTT_RX_E_MALFORMED;
    }
    /* Topic length, topic, and for QoS > 0 a packet id: all inside the body. */
    topic_len = (size_t)b[0] << 8 | b[1];
    pos = 2 + topic_len + (qos != 0 ? 2u : 0u);
    if (pos > n) {
        return MQTT_RX_E_MALFORMED; /* the views are set only once they are inside the body */
    }
    out->topic.ptr = b + 2;
    out->topic.len = topic_len;
    if (!mqtt_topic_ok(out->topic, false)) {
        return MQTT_RX_E_MALFORMED;
    }
    if (qos != 0) {
        out->packet_id = (uint16_t)(b[pos - 2] << 8 | b[pos - 1]);
        if (out->packet_id == 0) {
            return MQTT_RX_E_MALFORMED;
        }
    }
    out->payload.ptr = b + pos;
    out->payload.len = n - pos;
    return qos == 2 ? MQTT_RX_E_UNSUPPORTED : TMA_OK;
}

static inline tma_status mqtt_ack_body(const struct mqtt_packet *pkt, uint16_t *out_packet_id)
{
    if (pkt->body.len != 2) {
        return MQTT_RX_E_MALFORMED;
    }
    *out_packet_id = (uint16_t)(pkt->body.ptr[0] << 8 | pkt->body.ptr[1]);
    return *out_packet_id != 0 ? TMA_OK : MQTT_RX_E_MALFORMED;
}

static inline tma_status mqtt_suback_body(const struct mqtt_packet *pkt, struct mqtt_suback *out)
{
    const uint8_t *b = pkt->body.ptr;
    size_t i;
    if (pkt->body.len < 3) {
        return MQTT_RX_E_MALFORMED; /* packet id and at least one return code */
    }
    out->packet_id = (uint16_t)(b[0] << 8 | b[1]);
    out->codes.ptr = b + 2;
    out->codes.len = pkt->body.len - 2;
    if (out->packet_id == 0) {
        return MQTT_RX_E_MALFORMED;
    }
    for (i = 0; i < out->codes.len; i++) {
        if (out->codes.ptr[i] > 2 && out->codes.ptr[i] != MQTT_SUBACK_FAILURE) {
            return MQTT_RX_E_MALFORMED;
        }
    }
    return TMA_OK;
}


#endif
