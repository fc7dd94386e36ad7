/* Private to the device client (src/mqtt, src/iothub): the request path
 * behind mqtt_client_publish(), mqtt_client_subscribe() and
 * mqtt_client_unsubscribe(), without their argument checks. The IoT Hub
 * client calls it directly with its own valid messages (QoS 0 or 1,
 * non-empty filter lists), so a device links none of the three wrappers. */
#ifndef MQTT_REQUEST_H
#define MQTT_REQUEST_H

#include "mqtt/client.h"

/* @p kind MQTT_INFLIGHT_PUBLISH (items: one struct mqtt_publish, QoS <= 1;
 * @p arg its tag), MQTT_INFLIGHT_SUBSCRIBE (struct mqtt_subscription[arg],
 * each QoS <= 1: the client cannot receive QoS 2, and a SUBACK granting 2
 * ends the connection) or MQTT_INFLIGHT_UNSUBSCRIBE (struct tma_span[arg]),
 * arg >= 1. The packet id it takes (none for QoS 0) is next_id - 1 after a
 * TMA_OK; the public functions hand it out. */
tma_status mqtt_request(struct mqtt_client *c, uint8_t kind, const void *items, uint32_t arg);

/* The client's own 32-bit time (src/mqtt/client.c): each call reads the
 * clock and advances it by the wrapping difference of the low 32 bits since
 * the call before, by nothing for a difference of 2^31 or more (the clock
 * going back). The DPS client times its waits with it. */
uint32_t mqtt_time_ms(struct mqtt_client *c);

/* mqtt_client_process() without its NULL check. */
tma_status mqtt_process(struct mqtt_client *c);

/* mqtt_client_disconnect_within() without its NULL check. */
tma_status mqtt_disconnect_within(struct mqtt_client *c, uint32_t timeout_ms);

/* mqtt_client_flush() without its NULL check. */
tma_status mqtt_flush(struct mqtt_client *c, uint32_t timeout_ms);

/* mqtt_client_cork(c, false), mqtt_client_abort() and
 * mqtt_client_inflight_publishes() without their NULL checks. */
void mqtt_uncork(struct mqtt_client *c);
void mqtt_abort(struct mqtt_client *c);
size_t mqtt_inflight_publishes(const struct mqtt_client *c);

/* mqtt_client_init() for a client whose members are all zero but c->cfg,
 * which holds the configuration to check and use (the IoT client fills it
 * in place instead of passing a copy). */
tma_status mqtt_client_init_in_place(struct mqtt_client *c);

/* Writes CONNECT: mqtt_connect_write_will() or, for a CONNECT without a
 * will, mqtt_connect_write() (src/mqtt/packet_core.h). */
typedef tma_status (*mqtt_connect_writer)(const struct mqtt_connect *opts, uint8_t *buf, size_t cap,
                                          size_t *out_len);

/* mqtt_client_connect() after its NULL checks (@p c, @p tr, @p opts not
 * NULL), writing CONNECT with @p write. The IoT client, which sends no
 * will, passes mqtt_connect_write(), so a device does not link the will's
 * checks. */
tma_status mqtt_client_start(struct mqtt_client *c, const struct tma_transport *tr,
                             const struct mqtt_connect *opts, mqtt_connect_writer write);

#endif
