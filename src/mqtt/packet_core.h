/* Private to src/mqtt: the cores of public codec functions, without the
 * argument checks of the public functions (which call them after their
 * checks), for the client, whose arguments are always valid: a device then
 * links one copy of each rule and no second copy of the checks. */
#ifndef MQTT_PACKET_CORE_H
#define MQTT_PACKET_CORE_H

#include "mqtt/packet.h"

/* The one SUBSCRIBE/UNSUBSCRIBE writer behind mqtt_encode_subscribe() and
 * mqtt_encode_unsubscribe(): @p type MQTT_SUBSCRIBE with items struct
 * mqtt_subscription, or MQTT_UNSUBSCRIBE with items struct tma_span; nothing
 * else. */
tma_status mqtt_encode_sub(uint8_t type, uint16_t packet_id, const void *items, size_t n,
                           uint8_t *buf, size_t cap, size_t *out_len);

/* mqtt_encode_connect() after its argument checks (c, buf and out_len
 * valid); every field of @p c is still checked. */
tma_status mqtt_connect_write_will(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len);

/* mqtt_connect_write_will() without the will's checks: for a caller whose
 * CONNECT has no will (has_will false, as the IoT client's), or whose will
 * was checked; every other field is still checked. */
tma_status mqtt_connect_write(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len);

/* mqtt_encode_publish() after its argument checks: PUBLISH of @p p's topic,
 * payload and retain flag with first-byte @p flags (DUP 0x08 | QoS << 1)
 * and @p packet_id (0 for QoS 0, else non-zero). The topic and payload are
 * still checked (TMA_C_BAD_PARAM), since they come from the application. */
tma_status mqtt_publish_write(const struct mqtt_publish *p, uint8_t flags, uint16_t packet_id, uint8_t *buf,
                              size_t cap, size_t *out_len);

/* mqtt_stream_space() without its argument checks. */
uint8_t *mqtt_stream_room(struct mqtt_stream *s, size_t *out_space);

/* mqtt_stream_next() without its argument checks. */
tma_status mqtt_stream_take(struct mqtt_stream *s, struct mqtt_packet *out_pkt);

/* mqtt_decode_connack(), _publish(), _ack() and _suback() for a framed
 * packet of that type (from mqtt_stream_next()): every check of the packet's
 * bytes, none of the arguments. */
tma_status mqtt_connack_body(const struct mqtt_packet *pkt, struct mqtt_connack *out);
tma_status mqtt_publish_body(const struct mqtt_packet *pkt, struct mqtt_publish *out);
tma_status mqtt_ack_body(const struct mqtt_packet *pkt, uint16_t *out_packet_id);
tma_status mqtt_suback_body(const struct mqtt_packet *pkt, struct mqtt_suback *out);

#endif
