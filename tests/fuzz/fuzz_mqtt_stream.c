/* Fuzz target: the stream splitter and the client's receive path.
 * Input byte 0 picks the read chunk size; the rest is what the "server"
 * sends after a CONNACK. The client must never crash, must end either
 * connected or disconnected with an error status, and what it sends must
 * always be well-formed packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/client.h"
#include "tma_mqtt_test.h"
#include "tma_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct net {
    const uint8_t *in;
    size_t in_len;
    size_t in_pos;
    size_t chunk;
    uint8_t out[8192];
    size_t out_len;
};

static int32_t net_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct net *n = ctx;
    if (len > sizeof(n->out) - n->out_len) {
        n->out_len = 0; /* just keep the tail */
    }
    if (len > sizeof(n->out)) {
        len = sizeof(n->out);
    }
    memcpy(n->out + n->out_len, buf, len);
    n->out_len += len;
    return (int32_t)len;
}

static int32_t net_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct net *n = ctx;
    return (int32_t)tma_test_read_from(n->in, n->in_len, &n->in_pos, buf, len > n->chunk ? n->chunk : len);
}

static uint64_t clock_ms;
static uint64_t now(void *ctx)
{
    (void)ctx;
    return clock_ms += 7;
}

static tma_status on_pub(void *user, const struct mqtt_publish *m)
{
    (void)user;
    CHECK(mqtt_topic_name_valid(m->topic));
    CHECK(m->qos <= 1);
    return (m->payload.len & 1) ? TMA_OK : TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
}

static tma_status on_resend(void *user, uint16_t id, uint32_t tag, struct mqtt_publish *out)
{
    (void)user;
    (void)id;
    out->topic.ptr = (const uint8_t *)"t";
    out->topic.len = 1;
    out->payload.ptr = (const uint8_t *)"r";
    out->payload.len = tag & 1u;
    return TMA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t tx[128];
    static uint8_t rx[200];
    static struct mqtt_inflight slots[3];
    static struct net n;
    struct mqtt_client c;
    struct mqtt_client_config cfg;
    struct tma_transport tr;
    struct mqtt_connect opts;
    struct mqtt_stream s;
    struct mqtt_packet pkt;
    uint8_t sbuf[96];
    size_t pos;
    int round;

    if (size < 1) {
        return 0;
    }
    /* 1. the bare stream splitter over the same bytes */
    CHECK(mqtt_stream_init(&s, sbuf, sizeof(sbuf)) == TMA_OK);
    pos = 1;
    for (;;) {
        tma_status st = mqtt_stream_next(&s, &pkt);
        if (st == TMA_OK) {
            CHECK(pkt.size <= sizeof(sbuf) && pkt.body.ptr >= sbuf && pkt.body.ptr + pkt.body.len <= sbuf + sizeof(sbuf));
            continue;
        }
        if (st < 0 || pos >= size) {
            break;
        }
        {
            size_t space = 0;
            uint8_t *at = mqtt_stream_space(&s, &space);
            size_t take = 1 + data[0] % 13;
            CHECK(at != NULL && space > 0);
            if (take > space) {
                take = space;
            }
            if (take > size - pos) {
                take = size - pos;
            }
            memcpy(at, data + pos, take);
            CHECK(mqtt_stream_commit(&s, take) == TMA_OK);
            pos += take;
        }
    }

    /* 2. the client receive path */
    memset(&n, 0, sizeof(n));
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock.now_ms = now;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, slots);
    /* PINGRESP wait and stall limit from the input: 20..440 ms (under the
     * 1 s keep-alive, so the stall check's PINGREQ is reached) or, for a top
     * value, the 30 s default (the keep-alive pings first) */
    cfg.ping_timeout_ms = (data[0] >> 5) == 7u ? 0u : 20u + 70u * (uint32_t)(data[0] >> 5);
    cfg.cb.on_publish = on_pub;
    cfg.cb.resend = on_resend;
    CHECK(mqtt_client_init(&c, &cfg) == TMA_OK);
    tr.ctx = &n;
    tr.send = net_send;
    tr.recv = net_recv;
    memset(&opts, 0, sizeof(opts));
    opts.client_id.ptr = (const uint8_t *)"f";
    opts.client_id.len = 1;
    opts.keep_alive_s = 1;
    for (round = 0; round < 2; round++) {
        uint8_t in[4096 + 4];
        int steps = 0;
        n.in = in;
        n.in_len = tma_test_connack_then(in, data, size);
        n.in_pos = 0;
        n.chunk = 1 + data[0] % 31;
        /* the second connection resumes the session (the first one's
         * unacknowledged QoS 1 messages go again with DUP 1) or, for half the
         * inputs, starts a clean one (they go as new messages, DUP 0:
         * [MQTT-3.1.2-6]) */
        opts.clean_session = round == 1 && (data[0] & 16u) != 0;
        CHECK(mqtt_client_connect(&c, &tr, &opts) == TMA_IN_PROGRESS);
        while (steps++ < 4000) {
            struct mqtt_publish p;
            tma_status st = mqtt_client_process(&c);
            if (st < 0) {
                CHECK(mqtt_client_state(&c) == MQTT_STATE_DISCONNECTED);
                break;
            }
            CHECK(mqtt_client_state(&c) != MQTT_STATE_DISCONNECTED);
            if (n.in_pos == n.in_len && steps > 50) {
                break;
            }
            memset(&p, 0, sizeof(p));
            p.topic.ptr = (const uint8_t *)"up";
            p.topic.len = 2;
            p.qos = (uint8_t)(steps & 1);
            if (st == TMA_OK) {
                (void)mqtt_client_publish(&c, &p, (uint32_t)steps, NULL);
            }
        }
        mqtt_client_abort(&c);
        /* everything the client sent frames cleanly */
        {
            size_t off = 0;
            while (off < n.out_len && mqtt_packet_frame(n.out + off, n.out_len - off, &pkt) == TMA_OK) {
                /* DUP only on a resumed session's retransmissions */
                CHECK(pkt.type != MQTT_PUBLISH || !opts.clean_session || (pkt.flags & 8u) == 0);
                off += pkt.size;
            }
        }
        n.out_len = 0;
    }
    return 0;
}
