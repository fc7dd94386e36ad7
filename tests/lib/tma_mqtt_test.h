/* Shared pieces of the MQTT and IoT Hub client tests: a message view made
 * from C strings, the bytes of a PUBLISH a fake server sends, and pointing a
 * client configuration at its buffers. Header only (static inline), so the
 * fuzz targets use it without linking cmocka; needs the mqtt library. */
#ifndef TMA_MQTT_TEST_H
#define TMA_MQTT_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqtt/packet.h"

/* A PUBLISH view of @p topic and @p payload (both C strings) at @p qos,
 * packet id 0, no flags. The view points at the strings. */
static inline struct mqtt_publish tma_test_msg(const char *topic, const char *payload, uint8_t qos)
{
    struct mqtt_publish p;
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)topic;
    p.topic.len = strlen(topic);
    p.payload.ptr = (const uint8_t *)payload;
    p.payload.len = strlen(payload);
    p.qos = qos;
    return p;
}

/* Encodes the PUBLISH a server sends (@p id used when @p qos > 0) into
 * @p buf; the caller checks the status. */
static inline tma_status tma_test_encode_publish(const char *topic, const char *payload, uint8_t qos,
                                                 uint16_t id, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct mqtt_publish p = tma_test_msg(topic, payload, qos);
    p.packet_id = id;
    return mqtt_encode_publish(&p, buf, cap, out_len);
}

/* What a fuzzed "server" sends: a CONNACK (accepted, no session), then the
 * input after its first byte, at most 4096 bytes of it, into @p in (room
 * for 4 + 4096 bytes). Returns the length. @p size must be at least 1. */
static inline size_t tma_test_connack_then(uint8_t *in, const uint8_t *data, size_t size)
{
    static const uint8_t connack[4] = {0x20, 2, 0, 0};
    size_t len = size - 1 > 4096 ? 4096 : size - 1;
    memcpy(in, connack, 4);
    memcpy(in + 4, data + 1, len);
    return len + 4;
}

/* A fake clock for struct tma_clock: ctx points at the test's uint64_t
 * "now" in milliseconds, which the test moves by hand. */
static inline uint64_t tma_test_clock_ms(void *ctx)
{
    return *(const uint64_t *)ctx;
}

/* A byte queue of a fake peer: appends @p n bytes of @p p to @p q (holding
 * *@p q_len of @p q_cap); false, and nothing appended, when they do not fit. */
static inline bool tma_test_queue_put(uint8_t *q, size_t q_cap, size_t *q_len, const uint8_t *p, size_t n)
{
    if (n > q_cap - *q_len) {
        return false;
    }
    memcpy(q + *q_len, p, n);
    *q_len += n;
    return true;
}

/* Reads up to @p cap bytes of @p src (@p src_len long) from *@p pos on,
 * moving *@p pos past them; returns how many (0 at the end). */
static inline size_t tma_test_read_from(const uint8_t *src, size_t src_len, size_t *pos, uint8_t *buf, size_t cap)
{
    size_t n = src_len - *pos;
    if (n > cap) {
        n = cap;
    }
    memcpy(buf, src + *pos, n);
    *pos += n;
    return n;
}

/* Takes up to @p cap bytes from the front of queue @p q into @p buf;
 * returns how many. */
static inline size_t tma_test_queue_take(uint8_t *q, size_t *q_len, uint8_t *buf, size_t cap)
{
    size_t n = *q_len < cap ? *q_len : cap;
    memcpy(buf, q, n);
    memmove(q, q + n, *q_len - n);
    *q_len -= n;
    return n;
}

/* A fake broker's answer to SUBSCRIBE @p pkt: a SUBACK granting each
 * filter its QoS, at most @p max_qos, into @p buf. The last filter goes to
 * *@p last unless NULL. TMA_C_FULL (MQTT layer) for more than 8 filters;
 * otherwise the decoder's or encoder's status. */
static inline tma_status tma_test_suback_for(const struct mqtt_packet *pkt, uint8_t max_qos, uint8_t *buf,
                                             size_t cap, size_t *out_len, struct mqtt_subscription *last)
{
    struct mqtt_sub_iter it;
    struct mqtt_subscription s;
    uint8_t codes[8];
    size_t k = 0;
    tma_status st = mqtt_decode_subscribe(pkt, &it);
    if (st != TMA_OK) {
        return st;
    }
    while (mqtt_sub_next(&it, &s)) {
        if (k == sizeof(codes)) {
            return TMA_ERR(TMA_LAYER_MQTT, TMA_C_FULL);
        }
        codes[k++] = s.qos > max_qos ? max_qos : s.qos;
        if (last != NULL) {
            *last = s;
        }
    }
    return mqtt_encode_suback(it.packet_id, codes, k, buf, cap, out_len);
}

/* Points an MQTT or IoT Hub client configuration (same field names) at the
 * arrays @p tx, @p rx and @p slots. Arrays only: sizes come from sizeof. */
#define TMA_TEST_CFG_BUFFERS(cfg, tx, rx, slots) \
    do { \
        (cfg).tx_buf = (tx); \
        (cfg).tx_cap = sizeof(tx); \
        (cfg).rx_buf = (rx); \
        (cfg).rx_cap = sizeof(rx); \
        (cfg).inflight = (slots); \
        (cfg).inflight_count = sizeof(slots) / sizeof((slots)[0]); \
    } while (0)

/* The IoT Hub client's two further buffers: the outbox record and the
 * credential (SAS or user name) buffer, arrays too. */
#define TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, record, cred) \
    do { \
        (cfg).record_buf = (record); \
        (cfg).record_cap = sizeof(record); \
        (cfg).cred_buf = (cred); \
        (cfg).cred_cap = sizeof(cred); \
    } while (0)

#endif
