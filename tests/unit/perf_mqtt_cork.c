/* mqtt_client_cork(): a corked burst of QoS 1 PUBLISHes leaves in one
 * transport send, every packet intact and in order, nothing lost when the tx
 * buffer or the transport cannot take the whole burst, and every message still
 * waits for its own PUBACK. Observed through a fake transport that records
 * each send call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/client.h"
#include "tma_test.h"

struct net {
    uint8_t in[1024];
    size_t in_len, in_pos;
    uint8_t out[8192];
    size_t out_len;
    unsigned sends;      /* send calls that moved bytes */
    size_t send_sizes[64];
    bool blocked;        /* transport says "try again" */
};

static struct net N;
static uint64_t now_ms_value;

static int32_t net_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct net *n = ctx;
    if (n->blocked) {
        return 0;
    }
    assert_true(len <= sizeof(n->out) - n->out_len);
    memcpy(n->out + n->out_len, buf, len);
    n->out_len += len;
    if (n->sends < 64) {
        n->send_sizes[n->sends] = len;
    }
    n->sends++;
    return (int32_t)len;
}

static int32_t net_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct net *n = ctx;
    size_t avail = n->in_len - n->in_pos;
    if (avail == 0) {
        return 0;
    }
    if (len > avail) {
        len = avail;
    }
    memcpy(buf, n->in + n->in_pos, len);
    n->in_pos += len;
    return (int32_t)len;
}

static void push_hex(const char *hex)
{
    long len = tma_test_hex(hex, N.in + N.in_len, sizeof(N.in) - N.in_len);
    assert_true(len > 0);
    N.in_len += (size_t)len;
}

static uint64_t clock_now(void *ctx)
{
    (void)ctx;
    return now_ms_value;
}

static int acked;
static uint32_t acked_tags[32];
static void on_puback(void *user, uint16_t id, uint32_t tag)
{
    (void)user;
    (void)id;
    acked_tags[acked++] = tag;
}

static struct mqtt_client C;
static uint8_t tx[4096], rx[512];
static struct mqtt_inflight slots[17];

/* Connected client; tx buffer of tx_cap bytes; send counters reset after CONNECT. */
static void setup_client(size_t tx_cap)
{
    struct mqtt_client_config cfg;
    struct tma_transport tr;
    struct mqtt_connect opts;
    memset(&N, 0, sizeof(N));
    acked = 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock.now_ms = clock_now;
    cfg.tx_buf = tx;
    cfg.tx_cap = tx_cap;
    cfg.rx_buf = rx;
    cfg.rx_cap = sizeof(rx);
    cfg.inflight = slots;
    cfg.inflight_count = 17;
    cfg.cb.on_puback = on_puback;
    assert_int_equal(TMA_OK, mqtt_client_init(&C, &cfg));
    memset(&tr, 0, sizeof(tr));
    tr.ctx = &N;
    tr.send = net_send;
    tr.recv = net_recv;
    memset(&opts, 0, sizeof(opts));
    opts.client_id.ptr = (const uint8_t *)"dev";
    opts.client_id.len = 3;
    opts.clean_session = true;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&C, &tr, &opts));
    push_hex("20 02 00 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&C));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&C));
    N.out_len = 0;
    N.sends = 0;
}

static char payloads[32][40];
static tma_status publish_n(int i, uint16_t *out_id)
{
    struct mqtt_publish p;
    memset(&p, 0, sizeof(p));
    (void)snprintf(payloads[i], sizeof(payloads[i]), "message %02d with some padding....", i);
    p.topic.ptr = (const uint8_t *)"devices/d/messages/events/";
    p.topic.len = strlen("devices/d/messages/events/");
    p.payload.ptr = (const uint8_t *)payloads[i];
    p.payload.len = strlen(payloads[i]);
    p.qos = 1;
    return mqtt_client_publish(&C, &p, (uint32_t)(100 + i), out_id);
}

/* The wire must hold exactly PUBLISH QoS 1 for messages first..first+count-1, in order. */
static void expect_publishes(int first, int count)
{
    size_t pos = 0;
    int i;
    for (i = first; i < first + count; i++) {
        struct mqtt_packet pkt;
        struct mqtt_publish got;
        assert_int_equal(TMA_OK, mqtt_packet_frame(N.out + pos, N.out_len - pos, &pkt));
        assert_int_equal(MQTT_PUBLISH, pkt.type);
        assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
        assert_int_equal(1, got.qos);
        assert_false(got.dup);
        assert_int_equal(strlen(payloads[i]), got.payload.len);
        assert_memory_equal(payloads[i], got.payload.ptr, got.payload.len);
        pos += pkt.size;
    }
    assert_int_equal(N.out_len, pos); /* nothing else, nothing twice */
}

static void uncorked_publishes_go_out_one_send_each(void **state)
{
    int i;
    (void)state;
    setup_client(sizeof(tx));
    for (i = 0; i < 8; i++) {
        assert_int_equal(TMA_OK, publish_n(i, NULL));
    }
    assert_int_equal(8, N.sends);
    expect_publishes(0, 8);
}

static void corked_burst_leaves_in_one_send_on_uncork(void **state)
{
    uint16_t ids[8];
    int i;
    (void)state;
    setup_client(sizeof(tx));
    mqtt_client_cork(&C, true);
    for (i = 0; i < 8; i++) {
        assert_int_equal(TMA_OK, publish_n(i, &ids[i]));
    }
    assert_int_equal(0, N.sends); /* held back while corked */
    assert_int_equal(8, mqtt_client_inflight_publishes(&C));
    mqtt_client_cork(&C, false);
    assert_int_equal(1, N.sends);
    expect_publishes(0, 8);
    /* At-least-once unchanged: each message is done only with its PUBACK. */
    push_hex("40 02 00 01  40 02 00 02  40 02 00 03");
    assert_int_equal(TMA_OK, mqtt_client_process(&C));
    assert_int_equal(3, acked);
    assert_int_equal(100, acked_tags[0]);
    assert_int_equal(102, acked_tags[2]);
    assert_int_equal(5, mqtt_client_inflight_publishes(&C));
    assert_true(mqtt_client_is_pending(&C, ids[3]));
    assert_false(mqtt_client_is_pending(&C, ids[0]));
}

static void corked_burst_larger_than_tx_buffer_is_sent_in_pieces_without_loss(void **state)
{
    int i;
    (void)state;
    /* Each PUBLISH is 2 + 2 + 26 + 2 + 32 = 64 bytes: 150 bytes hold two. */
    setup_client(150);
    mqtt_client_cork(&C, true);
    for (i = 0; i < 9; i++) {
        assert_int_equal(TMA_OK, publish_n(i, NULL));
    }
    mqtt_client_cork(&C, false);
    assert_int_equal(5, N.sends); /* 2+2+2+2 flushed when full, the last 1 on uncork */
    for (i = 0; i < 4; i++) {
        assert_int_equal(128, N.send_sizes[i]);
    }
    assert_int_equal(64, N.send_sizes[4]);
    expect_publishes(0, 9);
    assert_int_equal(9, mqtt_client_inflight_publishes(&C));
}

static void corked_and_transport_blocked_refuses_without_taking_a_slot(void **state)
{
    int i;
    (void)state;
    setup_client(150);
    N.blocked = true;
    mqtt_client_cork(&C, true);
    assert_int_equal(TMA_OK, publish_n(0, NULL));
    assert_int_equal(TMA_OK, publish_n(1, NULL));
    /* Queue full and the transport takes nothing: try again later. */
    assert_int_equal(TMA_WANT_WRITE, publish_n(2, NULL));
    assert_int_equal(2, mqtt_client_inflight_publishes(&C));
    mqtt_client_cork(&C, false);
    assert_int_equal(0, N.sends);
    N.blocked = false;
    assert_int_equal(TMA_OK, mqtt_client_process(&C));
    assert_int_equal(1, N.sends);
    for (i = 2; i < 4; i++) {
        assert_int_equal(TMA_OK, publish_n(i, NULL));
    }
    expect_publishes(0, 4);
}

static void process_sends_even_while_corked(void **state)
{
    (void)state;
    setup_client(sizeof(tx));
    mqtt_client_cork(&C, true);
    assert_int_equal(TMA_OK, publish_n(0, NULL));
    assert_int_equal(TMA_OK, publish_n(1, NULL));
    assert_int_equal(0, N.sends);
    assert_int_equal(TMA_OK, mqtt_client_process(&C)); /* a forgotten uncork strands nothing */
    assert_int_equal(1, N.sends);
    expect_publishes(0, 2);
    mqtt_client_cork(NULL, true); /* ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uncorked_publishes_go_out_one_send_each),
        cmocka_unit_test(corked_burst_leaves_in_one_send_on_uncork),
        cmocka_unit_test(corked_burst_larger_than_tx_buffer_is_sent_in_pieces_without_loss),
        cmocka_unit_test(corked_and_transport_blocked_refuses_without_taking_a_slot),
        cmocka_unit_test(process_sends_even_while_corked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
