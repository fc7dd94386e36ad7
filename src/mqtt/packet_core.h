/* Private to src/mqtt: the one SUBSCRIBE/UNSUBSCRIBE writer behind
 * mqtt_encode_subscribe() and mqtt_encode_unsubscribe(), called by the client
 * directly so a device links neither wrapper. */
#ifndef MQTT_ENCODE_SUB_H
#define MQTT_ENCODE_SUB_H

#include "mqtt/packet.h"

/* @p type MQTT_SUBSCRIBE with items struct mqtt_subscription, or
 * MQTT_UNSUBSCRIBE with items struct tma_span; nothing else. */
tma_status mqtt_encode_sub(uint8_t type, uint16_t packet_id, const void *items, size_t n,
                           uint8_t *buf, size_t cap, size_t *out_len);

#endif
