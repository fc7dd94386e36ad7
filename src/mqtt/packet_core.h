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

/* Topic names (@p filter false) and filters in one pass: no name holds a
 * wildcard; in a filter a wildcard fills a whole level and '#' ends it. The
 * rules of mqtt_topic_name_valid() / mqtt_topic_filter_valid(). */
bool mqtt_topic_ok(struct tma_span s, bool filter);

/* The receive path's cores (mqtt_stream_room(), mqtt_stream_take(), the
 * body decoders): static inline in packet_rx.h. */

#endif
