/* Fuzz target (brief REENTRY): the MQTT client whose callbacks call it back.
 * Byte 0 picks the read chunk size and whether the link takes bytes slowly;
 * the rest is what the "server" sends after a CONNACK, and the same bytes,
 * read from the other end, choose what each callback does: publish (QoS 0
 * or 1, of a size that may not fit), subscribe, cork, a nested process(),
 * flush(), wait_ack() or connect() (all must be refused), disconnect() or
 * abort() (after which the step must do no more I/O). Checked: the views a
 * callback holds are unchanged by what it called, refusals are TMA_C_STATE,
 * no I/O after the application ended the connection, a step that succeeds
 * leaves the client connected, and everything sent frames as packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/client.h"
#include "tma_mqtt_test.h"
#include "tma_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STATE_ERR TMA_ERR(TMA_LAYER_MQTT, TMA_C_STATE)

static struct {
    const uint8_t *in;
    size_t in_len, in_pos, chunk;
    uint8_t out[16384];
    size_t out_len;
    bool slow;         /* send takes at most 7 bytes, every other call none */
    unsigned calls;
    bool ended;        /* the application ended the connection in a callback */
    int io_after_end;
} n;

static const uint8_t *act;  /* action bytes, read backwards from the input's end */
static size_t act_left;
static struct mqtt_client c;
static uint64_t clk;

static uint8_t next_action(void)
{
    if (act_left == 0) {
        return 0;
    }
    return act[--act_left];
}

/* True (and counted) when the client does I/O after the application ended
 * the connection. */
static bool io_after_end(void)
{
    if (n.ended) {
        n.io_after_end++;
    }
    return n.ended;
}

static int32_t net_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (io_after_end()) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (n.slow) {
        if ((n.calls++ & 1u) != 0u) {
            return 0;
        }
        if (len > 7) {
            len = 7;
        }
    }
    if (len > sizeof(n.out) - n.out_len) {
        len = sizeof(n.out) - n.out_len;
        if (len == 0) {
            return 0;
        }
    }
    memcpy(n.out + n.out_len, buf, len);
    n.out_len += len;
    return (int32_t)len;
}

static int32_t net_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (io_after_end()) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    return (int32_t)tma_test_read_from(n.in, n.in_len, &n.in_pos, buf, len > n.chunk ? n.chunk : len);
}

static const struct tma_transport tr = {NULL, net_send, net_recv};

/* What a callback does; returns false once it ended the connection. */
static void callback_calls(void)
{
    static uint8_t body[300];
    int k;
    for (k = 0; k < 3 && !n.ended; k++) {
        uint8_t a = next_action();
        struct mqtt_publish p;
        tma_status st;
        switch (a & 15u) {
        case 1:
        case 2:
            memset(&p, 0, sizeof(p));
            p.topic.ptr = (const uint8_t *)"r/x";
            p.topic.len = 3;
            p.payload.ptr = body;
            p.payload.len = (size_t)(a >> 4) * 19u;
            p.qos = (uint8_t)((a & 15u) - 1u);
            st = mqtt_client_publish(&c, &p, a, NULL);
            CHECK(st == TMA_OK || st == TMA_WANT_WRITE || st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_FULL) ||
                  st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL));
            break;
        case 3: {
            struct mqtt_subscription s = {{(const uint8_t *)"a/#", 3}, 1};
            st = mqtt_client_subscribe(&c, &s, 1, NULL);
            CHECK(st == TMA_OK || st == TMA_WANT_WRITE || st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_FULL));
            break;
        }
        case 4:
            mqtt_client_cork(&c, (a & 16u) != 0u);
            break;
        case 5:
            CHECK(mqtt_client_process(&c) == STATE_ERR);
            break;
        case 6:
            CHECK(mqtt_client_flush(&c, 10) == STATE_ERR);
            break;
        case 7:
            CHECK(mqtt_client_wait_ack(&c, 1, 10) == STATE_ERR);
            break;
        case 8: {
            struct mqtt_connect o;
            memset(&o, 0, sizeof(o));
            o.client_id.ptr = (const uint8_t *)"f";
            o.client_id.len = 1;
            CHECK(mqtt_client_connect(&c, &tr, &o) == STATE_ERR);
            break;
        }
        case 9:
            CHECK(mqtt_client_disconnect(&c) == TMA_OK);
            n.ended = true; /* the application closes its transport */
            break;
        case 10:
            mqtt_client_abort(&c);
            n.ended = true;
            break;
        case 11:
            clk += (uint64_t)(a >> 4) * 1000u; /* time passes inside the callback */
            break;
        default:
            break;
        }
    }
    CHECK(n.ended == (mqtt_client_state(&c) == MQTT_STATE_DISCONNECTED));
}

static tma_status on_pub(void *user, const struct mqtt_publish *m)
{
    uint8_t copy[512];
    size_t tl = m->topic.len, pl = m->payload.len;
    (void)user;
    CHECK(tl + pl <= sizeof(copy));
    memcpy(copy, m->topic.ptr, tl);
    if (pl > 0) {
        memcpy(copy + tl, m->payload.ptr, pl);
    }
    callback_calls();
    /* the views still show the message the callback was given */
    CHECK(m->topic.len == tl && m->payload.len == pl && memcmp(m->topic.ptr, copy, tl) == 0 &&
          (pl == 0 || memcmp(m->payload.ptr, copy + tl, pl) == 0));
    return (next_action() & 7u) == 7u ? TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_FULL) : TMA_OK;
}

static void on_ack(void *user, uint16_t id, uint32_t tag)
{
    (void)user;
    (void)id;
    (void)tag;
    callback_calls();
}

static void on_sub(void *user, uint16_t id, const uint8_t *codes, size_t cnt)
{
    (void)user;
    (void)id;
    (void)codes;
    (void)cnt;
    callback_calls();
}

static tma_status on_resend(void *user, uint16_t id, uint32_t tag, struct mqtt_publish *out)
{
    (void)user;
    (void)id;
    (void)tag;
    callback_calls();
    out->topic.ptr = (const uint8_t *)"r/y";
    out->topic.len = 3;
    return TMA_OK;
}

/* Every read of the clock moves it 1 ms: time passes while the client
 * works, so a blocking helper's loop ends on its timeout. */
static uint64_t now(void *ctx)
{
    (void)ctx;
    return clk++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t tx[160], rx[512];
    static struct mqtt_inflight slots[3];
    struct mqtt_client_config cfg;
    struct mqtt_connect opts;
    struct mqtt_packet pkt;
    uint8_t in[4096 + 4];
    int round;
    if (size < 2) {
        return 0;
    }
    memset(&n, 0, sizeof(n));
    memset(&cfg, 0, sizeof(cfg));
    clk = 1000;
    cfg.clock.now_ms = now;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, slots);
    cfg.cb.on_publish = on_pub;
    cfg.cb.on_puback = on_ack;
    cfg.cb.on_suback = on_sub;
    cfg.cb.resend = on_resend;
    CHECK(mqtt_client_init(&c, &cfg) == TMA_OK);
    memset(&opts, 0, sizeof(opts));
    opts.client_id.ptr = (const uint8_t *)"f";
    opts.client_id.len = 1;
    opts.keep_alive_s = 5;
    act = data + 1;
    act_left = size - 1;
    for (round = 0; round < 3; round++) {
        size_t off = 0;
        int steps = 0;
        n.in = in;
        n.in_len = tma_test_connack_then(in, data, size);
        n.in_pos = 0;
        n.chunk = 1 + data[0] % 31;
        n.slow = (data[0] & 0x80u) != 0u;
        n.ended = false;
        n.out_len = 0;
        CHECK(mqtt_client_connect(&c, &tr, &opts) == TMA_IN_PROGRESS);
        while (steps++ < 2000) {
            tma_status st = mqtt_client_process(&c);
            CHECK(n.io_after_end == 0);
            if (st < 0) {
                CHECK(mqtt_client_state(&c) == MQTT_STATE_DISCONNECTED);
                CHECK(!n.ended || st == STATE_ERR);
                break;
            }
            CHECK(mqtt_client_state(&c) != MQTT_STATE_DISCONNECTED);
            if (n.in_pos == n.in_len && steps > 40) {
                break;
            }
            clk += 50;
        }
        mqtt_client_abort(&c);
        /* everything the client sent frames cleanly, up to a tail cut by a
         * full capture buffer or the end of the connection */
        for (;;) {
            tma_status st;
            if (off == n.out_len) {
                break;
            }
            st = mqtt_packet_frame(n.out + off, n.out_len - off, &pkt);
            if (st == TMA_WANT_READ) {
                break; /* the tail a slow link had not taken yet */
            }
            CHECK(st == TMA_OK);
            if (pkt.type == MQTT_PUBLISH) {
                struct mqtt_publish p;
                CHECK(mqtt_decode_publish(&pkt, &p) == TMA_OK);
            }
            off += pkt.size;
        }
    }
    return 0;
}
