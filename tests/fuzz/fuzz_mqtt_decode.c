/* Fuzz target: MQTT packet framing and every decoder. Whatever decodes must
 * re-encode to the very same bytes (the decoder accepts canonical packets
 * only), and views must stay inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/packet.h"
#include "tma_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[70000];

static void inside(struct tma_span s, const uint8_t *data, size_t size)
{
    if (s.ptr != NULL) {
        CHECK(s.ptr >= data && s.ptr + s.len <= data + size);
    }
}

static void same(tma_status st, size_t n, const struct mqtt_packet *pkt, const uint8_t *start)
{
    CHECK(st == TMA_OK);
    CHECK(n == pkt->size);
    CHECK(memcmp(out, start, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mqtt_packet pkt;
    size_t off = 0;
    size_t n = 0;

    while (off < size && mqtt_packet_frame(data + off, size - off, &pkt) == TMA_OK) {
        const uint8_t *start = data + off;
        tma_status st;
        CHECK(pkt.size >= 2 && pkt.size <= size - off);
        inside(pkt.body, data, size);
        switch (pkt.type) {
        case MQTT_CONNECT: {
            struct mqtt_connect c;
            st = mqtt_decode_connect(&pkt, &c);
            if (st == TMA_OK) {
                inside(c.client_id, data, size);
                inside(c.user_name, data, size);
                inside(c.password, data, size);
                if (c.client_id.len > 0 || c.clean_session) {
                    if (c.has_will && c.will.qos == 2) {
                        break; /* we never encode will QoS 2 */
                    }
                    /* an empty password field decodes as a zero-length view */
                    {
                    tma_status e = mqtt_encode_connect(&c, out, sizeof(out), &n);
                    same(e, n, &pkt, start);
                }
                }
            }
            break;
        }
        case MQTT_CONNACK: {
            struct mqtt_connack a;
            if (mqtt_decode_connack(&pkt, &a) == TMA_OK) {
                {
                    tma_status e = mqtt_encode_connack(&a, out, sizeof(out), &n);
                    same(e, n, &pkt, start);
                }
            }
            break;
        }
        case MQTT_PUBLISH: {
            struct mqtt_publish p;
            if (mqtt_decode_publish(&pkt, &p) == TMA_OK) {
                inside(p.topic, data, size);
                inside(p.payload, data, size);
                {
                    tma_status e = mqtt_encode_publish(&p, out, sizeof(out), &n);
                    same(e, n, &pkt, start);
                }
            }
            break;
        }
        case MQTT_SUBACK: {
            struct mqtt_suback s;
            if (mqtt_decode_suback(&pkt, &s) == TMA_OK) {
                {
                    tma_status e = mqtt_encode_suback(s.packet_id, s.codes.ptr, s.codes.len, out, sizeof(out), &n);
                    same(e, n, &pkt,
                     start);
                }
            }
            break;
        }
        case MQTT_SUBSCRIBE:
        case MQTT_UNSUBSCRIBE: {
            struct mqtt_sub_iter it;
            struct mqtt_subscription sub;
            size_t count = 0;
            if (mqtt_decode_subscribe(&pkt, &it) == TMA_OK) {
                size_t expect = it.count;
                while (mqtt_sub_next(&it, &sub)) {
                    inside(sub.filter, data, size);
                    CHECK(mqtt_topic_filter_valid(sub.filter));
                    count++;
                }
                CHECK(count == expect);
            }
            break;
        }
        case MQTT_PINGREQ:
        case MQTT_PINGRESP:
        case MQTT_DISCONNECT:
            if (mqtt_decode_empty(&pkt) == TMA_OK) {
                {
                    tma_status e = mqtt_encode_empty(pkt.type, out, sizeof(out), &n);
                    same(e, n, &pkt, start);
                }
            }
            break;
        default: {
            uint16_t id;
            if (mqtt_decode_ack(&pkt, &id) == TMA_OK) {
                {
                    tma_status e = mqtt_encode_ack(pkt.type, id, out, sizeof(out), &n);
                    same(e, n, &pkt, start);
                }
            }
            break;
        }
        }
        off += pkt.size;
    }
    /* topic helpers on raw input */
    if (size > 0) {
        struct tma_span a = {data, size / 2};
        struct tma_span b = {data + size / 2, size - size / 2};
        if (mqtt_topic_filter_valid(a) && mqtt_topic_name_valid(b)) {
            (void)mqtt_topic_matches(a, b);
        }
        if (mqtt_topic_name_valid(b)) {
            CHECK(mqtt_topic_matches(b, b)); /* a name with no wildcards matches itself */
        }
    }
    return 0;
}
