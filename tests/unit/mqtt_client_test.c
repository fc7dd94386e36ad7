/* MQTT client state machine driven through an in-memory fake transport and a
 * fake clock: everything asserted is bytes the client put on the "wire" or
 * callbacks it made. The last test runs the POSIX TCP transport
 * (port/tcp_posix.c) on a loopback socket. */
#define _POSIX_C_SOURCE 200809L
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "mqtt/client.h"
#include "tma/tcp.h"
#include "tma_test.h"
#include "tma_mqtt_test.h"

#define MQ(code) TMA_ERR(TMA_LAYER_MQTT, (code))
#define CLOSED TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED)

/* ---------------------------------------------------------- fakes */

struct fake_net {
    uint8_t in[8192];   /* server -> client */
    size_t in_len;
    size_t in_pos;
    size_t recv_chunk;  /* max bytes per recv (0 = all) */
    uint8_t out[16384]; /* client -> server */
    size_t out_len;
    size_t send_chunk;  /* max bytes per send (0 = all) */
    size_t out_limit;   /* the link takes no more than this in total (0 = no limit) */
    int busy;           /* 1: every other send takes nothing (a UART still shifting
                         * out); 2: every send takes nothing. Each send then also
                         * moves the clock 1 ms */
    unsigned sends;
    bool closed;
    unsigned send_calls;   /* sends made (counted before busy/closed) */
    unsigned fail_call;    /* that send (1 = the first) returns fail_with, once */
    int32_t fail_with;
    size_t send_extra;     /* a lying link: reports this many more bytes than it took */
    size_t recv_extra;     /* a lying link: reports this many more bytes than the space */
};

static uint64_t fake_time;

static int32_t fake_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct fake_net *n = ctx;
    if (++n->send_calls == n->fail_call) {
        return n->fail_with;
    }
    if (n->closed) {
        return CLOSED;
    }
    if (n->busy) {
        fake_time++;
        if (n->busy == 2 || (n->sends++ & 1u) == 0) {
            return 0;
        }
    }
    if (n->send_chunk && len > n->send_chunk) {
        len = n->send_chunk;
    }
    if (len > sizeof(n->out) - n->out_len) {
        len = sizeof(n->out) - n->out_len;
    }
    if (n->out_limit && len > n->out_limit - n->out_len) {
        len = n->out_limit - n->out_len;
    }
    memcpy(n->out + n->out_len, buf, len);
    n->out_len += len;
    return (int32_t)(len + n->send_extra);
}

static int32_t fake_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct fake_net *n = ctx;
    size_t avail = n->in_len - n->in_pos;
    size_t asked = len;
    if (avail == 0) {
        return n->closed ? CLOSED : 0;
    }
    if (n->recv_chunk && len > n->recv_chunk) {
        len = n->recv_chunk;
    }
    if (len > avail) {
        len = avail;
    }
    memcpy(buf, n->in + n->in_pos, len);
    n->in_pos += len;
    /* a lying link reports more than the space it was given */
    return (int32_t)(n->recv_extra ? asked + n->recv_extra : len);
}

static void net_push(struct fake_net *n, const char *hex)
{
    long len = tma_test_hex(hex, n->in + n->in_len, sizeof(n->in) - n->in_len);
    assert_true(len > 0);
    n->in_len += (size_t)len;
}

static void net_push_bytes(struct fake_net *n, const uint8_t *p, size_t len)
{
    memcpy(n->in + n->in_len, p, len);
    n->in_len += len;
}

/* Take the next whole packet the client sent. */
static bool net_pop(struct fake_net *n, size_t *pos, struct mqtt_packet *out)
{
    if (mqtt_packet_frame(n->out + *pos, n->out_len - *pos, out) != TMA_OK) {
        return false;
    }
    *pos += out->size;
    return true;
}

/* The clock the client reads: fake_time less clk_behind, the ms it has
 * stepped back in all (test_clock_steps_back_*); clk_trunc32: a 32-bit tick
 * zero-extended (it goes back by 2^32 at each wrap). */
static uint64_t clk_behind;
static bool clk_trunc32;

static uint64_t fake_now(void *ctx)
{
    uint64_t v = fake_time - clk_behind;
    (void)ctx;
    return clk_trunc32 ? (uint64_t)(uint32_t)v : v;
}

/* ---------------------------------------------------------- app */

struct app {
    int publishes;
    struct mqtt_publish last;
    uint8_t last_payload[256];
    tma_status publish_answer;
    int pubacks;
    uint16_t puback_ids[32];
    uint32_t puback_tags[32];
    int subacks;
    uint8_t suback_codes[8];
    size_t suback_n;
    int unsubacks;
    int resends;
    char messages[8][32]; /* payload by tag */
    uint32_t grown;       /* tag + 1 whose message the resend hook returns 300 bytes long */
};

static tma_status app_publish(void *user, const struct mqtt_publish *msg)
{
    struct app *a = user;
    a->publishes++;
    a->last = *msg;
    memcpy(a->last_payload, msg->payload.ptr, msg->payload.len < 256 ? msg->payload.len : 256);
    return a->publish_answer;
}

static void app_puback(void *user, uint16_t id, uint32_t tag)
{
    struct app *a = user;
    a->puback_ids[a->pubacks] = id;
    a->puback_tags[a->pubacks] = tag;
    a->pubacks++;
}

static void app_suback(void *user, uint16_t id, const uint8_t *codes, size_t n)
{
    struct app *a = user;
    (void)id;
    a->subacks++;
    a->suback_n = n;
    memcpy(a->suback_codes, codes, n < 8 ? n : 8);
}

static void app_unsuback(void *user, uint16_t id)
{
    struct app *a = user;
    (void)id;
    a->unsubacks++;
}

static tma_status app_resend(void *user, uint16_t id, uint32_t tag, struct mqtt_publish *out)
{
    struct app *a = user;
    (void)id;
    a->resends++;
    if (tag >= 8 || a->messages[tag][0] == 0) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    }
    out->topic.ptr = (const uint8_t *)"t/1";
    out->topic.len = 3;
    out->payload.ptr = (const uint8_t *)a->messages[tag];
    out->payload.len = strlen(a->messages[tag]);
    if (a->grown == tag + 1u) {
        static uint8_t big[300];
        memset(big, 'g', sizeof(big));
        out->payload.ptr = big;
        out->payload.len = sizeof(big);
    }
    return TMA_OK;
}

struct fixture {
    struct mqtt_client c;
    struct fake_net net;
    struct tma_transport tr;
    struct app app;
    uint8_t tx[256];
    uint8_t rx[256];
    struct mqtt_inflight slots[4];
    struct mqtt_connect opts;
};

static struct fixture F;

static int setup(void **state)
{
    struct mqtt_client_config cfg;
    (void)state;
    memset(&F, 0, sizeof(F));
    fake_time = 1000;
    clk_behind = 0;
    clk_trunc32 = false;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock.now_ms = fake_now;
    cfg.tx_buf = F.tx;
    cfg.tx_cap = sizeof(F.tx);
    cfg.rx_buf = F.rx;
    cfg.rx_cap = sizeof(F.rx);
    cfg.inflight = F.slots;
    cfg.inflight_count = 4;
    cfg.cb.user = &F.app;
    cfg.cb.on_publish = app_publish;
    cfg.cb.on_puback = app_puback;
    cfg.cb.on_suback = app_suback;
    cfg.cb.on_unsuback = app_unsuback;
    cfg.cb.resend = app_resend;
    cfg.connack_timeout_ms = 5000;
    cfg.ping_timeout_ms = 10000;
    assert_int_equal(TMA_OK, mqtt_client_init(&F.c, &cfg));
    F.tr.ctx = &F.net;
    F.tr.send = fake_send;
    F.tr.recv = fake_recv;
    F.opts.client_id.ptr = (const uint8_t *)"dev-01";
    F.opts.client_id.len = 6;
    F.opts.keep_alive_s = 60;
    return 0;
}

/* Connect and accept with a CONNACK; out is cleared afterwards. */
static void connect_ok(bool session)
{
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    net_push(&F.net, session ? "20 02 01 00" : "20 02 00 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
}

static struct mqtt_publish pub(const char *topic, const char *payload, uint8_t qos)
{
    return tma_test_msg(topic, payload, qos);
}

/* ---------------------------------------------------------- tests */

static void connect_sends_connect_and_accepts_connack(void **state)
{
    size_t pos = 0;
    struct mqtt_packet pkt;
    struct mqtt_connect got;
    (void)state;
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_process(&F.c));
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_connect(&F.c, &F.tr, &F.opts));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    assert_int_equal(TMA_OK, mqtt_decode_connect(&pkt, &got));
    assert_int_equal(60, got.keep_alive_s);
    assert_memory_equal("dev-01", got.client_id.ptr, 6);
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_process(&F.c));
    net_push(&F.net, "20 02 01 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_true(mqtt_client_session_present(&F.c));
}

static void connack_refusals_map_to_statuses(void **state)
{
    static const char *acks[] = {"20 02 00 01", "20 02 00 02", "20 02 00 03", "20 02 00 04", "20 02 00 05"};
    static const tma_status want[] = {MQTT_E_CONNACK_PROTOCOL, MQTT_E_CONNACK_IDENTIFIER,
                                      MQTT_E_CONNACK_UNAVAILABLE, MQTT_E_CONNACK_BAD_CREDENTIALS,
                                      MQTT_E_CONNACK_NOT_AUTHORIZED};
    size_t i;
    (void)state;
    for (i = 0; i < 5; i++) {
        F.net.in_len = F.net.in_pos = 0;
        assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
        net_push(&F.net, acks[i]);
        assert_int_equal(want[i], mqtt_client_process(&F.c));
        assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
        assert_int_equal(want[i], mqtt_client_last_error(&F.c));
    }
    assert_string_equal("mqtt: CONNACK 5 not authorized", tma_status_str(MQTT_E_CONNACK_NOT_AUTHORIZED));
}

static void connack_timeout_and_wrong_first_packet(void **state)
{
    (void)state;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    fake_time += 4999;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_process(&F.c));
    fake_time += 1;
    assert_int_equal(MQTT_E_KEEPALIVE_TIMEOUT, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));

    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    net_push(&F.net, "d0 00"); /* PINGRESP before CONNACK */
    assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_process(&F.c));

    F.net.in_len = F.net.in_pos = 0;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    net_push(&F.net, "20 02 00 06"); /* reserved CONNACK code */
    assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_process(&F.c));
}

static void keepalive_pings_and_times_out(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    fake_time += 59999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(pos, F.net.out_len); /* nothing yet */
    fake_time += 1;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PINGREQ, pkt.type);
    assert_int_equal(0, pkt.body.len);
    net_push(&F.net, "d0 00");
    fake_time += 500;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    /* next interval: ping, no answer -> timeout after ping_timeout_ms */
    fake_time += 60000;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PINGREQ, pkt.type);
    fake_time += 9999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_false(net_pop(&F.net, &pos, &pkt)); /* one ping outstanding only */
    fake_time += 1;
    assert_int_equal(MQTT_E_KEEPALIVE_TIMEOUT, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
}

/* The client keeps the low 32 bits of the 64-bit clock: intervals that cross
 * a 2^32 ms boundary (and a clock far beyond 2^32) must time exactly the same. */
static void timers_exact_across_32bit_clock_boundary(void **state)
{
    fake_time = (5ull << 32) - 30000u; /* the keep-alive interval crosses 5 * 2^32 */
    keepalive_pings_and_times_out(state);
    fake_time = (7ull << 32) - 2000u; /* the CONNACK timeout crosses 7 * 2^32 */
    connack_timeout_and_wrong_first_packet(state);
}

static void qos1_publish_tracked_until_matching_puback(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_publish p = pub("t/1", "hello", 1);
    struct mqtt_publish got;
    uint16_t id1 = 0;
    uint16_t id2 = 0;
    uint8_t ack[4] = {0x40, 2, 0, 0};
    (void)state;
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_publish(&F.c, &p, 1, &id1));
    connect_ok(false);
    pos = F.net.out_len;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 7, &id1));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 8, &id2));
    assert_true(id1 != 0 && id2 != 0 && id1 != id2);
    assert_int_equal(2, mqtt_client_inflight_publishes(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_int_equal(id1, got.packet_id);
    assert_int_equal(1, got.qos);
    assert_false(got.dup);
    /* unknown id ignored, then id2 acked first */
    net_push(&F.net, "40 02 7f 7f");
    ack[2] = (uint8_t)(id2 >> 8);
    ack[3] = (uint8_t)id2;
    net_push_bytes(&F.net, ack, 4);
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, F.app.pubacks);
    assert_int_equal(id2, F.app.puback_ids[0]);
    assert_int_equal(8, F.app.puback_tags[0]);
    assert_true(mqtt_client_is_pending(&F.c, id1));
    assert_false(mqtt_client_is_pending(&F.c, id2));
    ack[2] = (uint8_t)(id1 >> 8);
    ack[3] = (uint8_t)id1;
    net_push_bytes(&F.net, ack, 4);
    assert_int_equal(TMA_OK, mqtt_client_wait_ack(&F.c, id1, 1000));
    assert_int_equal(7, F.app.puback_tags[1]);
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
}

static void qos0_publish_not_tracked(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_publish p = pub("t/1", "x", 0);
    uint16_t id = 99;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, &id));
    assert_int_equal(0, id);
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(0x30, F.net.out[pos - pkt.size]);
    p.qos = 2;
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_publish(&F.c, &p, 0, &id));
    p = pub("t/+", "x", 0);
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_publish(&F.c, &p, 0, &id));
}

static void inflight_table_full(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    uint32_t i;
    (void)state;
    connect_ok(false);
    for (i = 0; i < 4; i++) {
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, i, NULL));
    }
    assert_int_equal(MQ(TMA_C_FULL), mqtt_client_publish(&F.c, &p, 4, NULL));
    p.qos = 0;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 4, NULL)); /* QoS 0 needs no slot */
}

static void retransmits_with_dup_after_reconnect_in_order(void **state)
{
    struct mqtt_publish p;
    uint16_t ids[3];
    uint32_t t;
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_publish got;
    uint8_t ack[4] = {0x40, 2, 0, 0};
    (void)state;
    connect_ok(false);
    for (t = 0; t < 3; t++) {
        snprintf(F.app.messages[t], sizeof(F.app.messages[t]), "msg-%u", (unsigned)t);
        p = pub("t/1", F.app.messages[t], 1);
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, t, &ids[t]));
    }
    ack[2] = (uint8_t)(ids[1] >> 8);
    ack[3] = (uint8_t)ids[1];
    net_push_bytes(&F.net, ack, 4);
    F.net.closed = true; /* connection dies after the PUBACK for the middle one */
    assert_int_equal(CLOSED, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(2, mqtt_client_inflight_publishes(&F.c));

    /* new connection, clean session 0, session present */
    memset(&F.net, 0, sizeof(F.net));
    F.opts.clean_session = false;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    pos = F.net.out_len; /* after CONNECT */
    p = pub("t/1", "new", 1);
    net_push(&F.net, "20 02 01 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(2, F.app.resends);
    assert_int_equal(2, mqtt_client_retransmit_count(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(0x3A, F.net.out[pos - pkt.size]); /* QoS 1 + DUP */
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_int_equal(ids[0], got.packet_id);
    assert_memory_equal("msg-0", got.payload.ptr, 5);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_true(got.dup);
    assert_int_equal(ids[2], got.packet_id);
    assert_memory_equal("msg-2", got.payload.ptr, 5);
    assert_false(net_pop(&F.net, &pos, &pkt));
    /* a new publish comes after them, without DUP */
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 5, NULL));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(0x32, F.net.out[pos - pkt.size]);
}

static void retransmission_waits_for_tx_room_and_keeps_order(void **state)
{
    struct mqtt_publish p;
    uint32_t t;
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_publish got;
    uint16_t ids[2];
    (void)state;
    connect_ok(false);
    for (t = 0; t < 2; t++) {
        snprintf(F.app.messages[t], sizeof(F.app.messages[t]), "payload-%u", (unsigned)t);
        p = pub("t/1", F.app.messages[t], 1);
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, t, &ids[t]));
    }
    mqtt_client_abort(&F.c);
    memset(&F.net, 0, sizeof(F.net));
    F.net.send_chunk = 3; /* slow link: partial sends */
    F.net.out_limit = 30;  /* CONNECT, then part of the first retransmission */
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    while (F.net.out_len < 20) {
        (void)mqtt_client_process(&F.c);
    }
    net_push(&F.net, "20 02 00 00"); /* session lost: resend anyway */
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    p = pub("t/1", "later", 1);
    assert_int_equal(TMA_WANT_WRITE, mqtt_client_publish(&F.c, &p, 6, NULL));
    assert_int_equal(1, F.app.resends); /* the second is asked for only when it can go */
    F.net.out_limit = 0;
    assert_int_equal(TMA_OK, mqtt_client_flush(&F.c, 1000));
    assert_int_equal(2, F.app.resends);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 6, NULL));
    assert_int_equal(TMA_OK, mqtt_client_flush(&F.c, 1000));
    pos = 0;
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    for (t = 0; t < 2; t++) {
        assert_true(net_pop(&F.net, &pos, &pkt));
        assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
        assert_true(got.dup);
        assert_int_equal(ids[t], got.packet_id);
    }
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_false(got.dup);
    assert_memory_equal("later", got.payload.ptr, 5);
}

static void resend_of_vanished_message_drops_slot(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    (void)state;
    connect_ok(false);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 7, NULL)); /* app has no tag 7 */
    mqtt_client_abort(&F.c);
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(true);
    assert_int_equal(1, F.app.resends);
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
}

static void without_resend_hook_inflight_dropped_on_reconnect(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    size_t pos;
    struct mqtt_packet pkt;
    (void)state;
    F.c.cfg.cb.resend = NULL;
    connect_ok(false);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 1, NULL));
    mqtt_client_abort(&F.c);
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(true);
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
    pos = 0;
    assert_true(net_pop(&F.net, &pos, &pkt)); /* CONNECT */
    assert_false(net_pop(&F.net, &pos, &pkt)); /* nothing retransmitted */
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 2, NULL)); /* and not stuck */
}

static void subscribe_suback_failure_reported(void **state)
{
    struct mqtt_subscription subs[2];
    uint16_t id = 0;
    uint8_t suback[6] = {0x90, 4, 0, 0, 1, 0x80};
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_sub_iter it;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    subs[0].filter.ptr = (const uint8_t *)"devices/dev-01/messages/devicebound/#";
    subs[0].filter.len = strlen((const char *)subs[0].filter.ptr);
    subs[0].qos = 1;
    subs[1].filter.ptr = (const uint8_t *)"$iothub/methods/POST/#";
    subs[1].filter.len = strlen((const char *)subs[1].filter.ptr);
    subs[1].qos = 1;
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, subs, 2, &id));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_SUBSCRIBE, pkt.type);
    assert_int_equal(0x82, F.net.out[pos - pkt.size]);
    assert_int_equal(TMA_OK, mqtt_decode_subscribe(&pkt, &it));
    assert_int_equal(2, it.count);
    assert_int_equal(id, it.packet_id);
    suback[2] = (uint8_t)(id >> 8);
    suback[3] = (uint8_t)id;
    net_push_bytes(&F.net, suback, 6);
    assert_int_equal(MQTT_E_SUBSCRIBE_REFUSED, mqtt_client_wait_ack(&F.c, id, 1000));
    assert_int_equal(1, F.app.subacks);
    assert_int_equal(2, F.app.suback_n);
    assert_int_equal(0x80, F.app.suback_codes[1]);

    /* all granted -> OK; unsubscribe -> UNSUBACK */
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, subs, 1, &id));
    suback[1] = 3;
    suback[2] = (uint8_t)(id >> 8);
    suback[3] = (uint8_t)id;
    net_push_bytes(&F.net, suback, 5);
    assert_int_equal(TMA_OK, mqtt_client_wait_ack(&F.c, id, 1000));
    assert_int_equal(TMA_OK, mqtt_client_unsubscribe(&F.c, &subs[0].filter, 1, &id));
    suback[0] = 0xB0;
    suback[1] = 2;
    suback[2] = (uint8_t)(id >> 8);
    suback[3] = (uint8_t)id;
    net_push_bytes(&F.net, suback, 4);
    assert_int_equal(TMA_OK, mqtt_client_wait_ack(&F.c, id, 1000));
    assert_int_equal(1, F.app.unsubacks);
}

static void wait_ack_times_out(void **state)
{
    struct mqtt_subscription s;
    uint16_t id = 0;
    (void)state;
    connect_ok(false);
    s.filter.ptr = (const uint8_t *)"a/b";
    s.filter.len = 3;
    s.qos = 0;
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, &s, 1, &id));
    /* the fake clock stands still, so only a zero timeout can elapse: one
     * step, no SUBACK, timeout; the request stays pending and connected */
    assert_int_equal(MQ(TMA_C_TIMEOUT), mqtt_client_wait_ack(&F.c, id, 0));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_true(mqtt_client_is_pending(&F.c, id));
}

/* The three blocking helpers share one loop with a condition each: no
 * CONNACK in time ends the connection attempt; connect_wait succeeds on a
 * CONNACK that is already there; flush returns once the queue is empty. */
static void blocking_helpers_connect_flush_and_time_out(void **state)
{
    (void)state;
    assert_int_equal(MQ(TMA_C_TIMEOUT), mqtt_client_connect_wait(&F.c, &F.tr, &F.opts, 0));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(MQ(TMA_C_TIMEOUT), mqtt_client_last_error(&F.c));
    net_push(&F.net, "20 02 00 00");
    assert_int_equal(TMA_OK, mqtt_client_connect_wait(&F.c, &F.tr, &F.opts, 0));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(TMA_OK, mqtt_client_flush(&F.c, 0));
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_flush(NULL, 0));
}

static void incoming_qos1_acked_after_callback(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    uint16_t id = 0;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    F.net.recv_chunk = 1; /* arrive byte by byte */
    /* QoS 1 PUBLISH id 0x0102 topic "c/d" payload "hi" */
    net_push(&F.net, "32 09 00 03 63 2f 64 01 02 68 69");
    while (F.app.publishes == 0) {
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    }
    assert_int_equal(1, F.app.publishes);
    assert_int_equal(0x0102, F.app.last.packet_id);
    assert_memory_equal("hi", F.app.last_payload, 2);
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PUBACK, pkt.type);
    assert_int_equal(TMA_OK, mqtt_decode_ack(&pkt, &id));
    assert_int_equal(0x0102, id);

    /* application refuses: no PUBACK */
    F.app.publish_answer = TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    F.net.recv_chunk = 0;
    net_push(&F.net, "32 09 00 03 63 2f 64 01 03 68 69");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(2, F.app.publishes);
    assert_false(net_pop(&F.net, &pos, &pkt));

    /* QoS 0: delivered, never acked */
    F.app.publish_answer = TMA_OK;
    net_push(&F.net, "30 05 00 03 63 2f 64");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(3, F.app.publishes);
    assert_false(net_pop(&F.net, &pos, &pkt));
}

static void hostile_server_packets_end_connection(void **state)
{
    static const char *bad[] = {
        "34 07 00 03 63 2f 64 00 01",   /* QoS 2 publish */
        "50 02 00 01",                  /* PUBREC */
        "32 05 00 03 63 2f 64",         /* QoS 1 without id */
        "20 02 00 00",                  /* second CONNACK */
        "82 06 00 01 00 01 61 00",      /* SUBSCRIBE from server */
        "30 ff ff ff ff 7f",            /* 5-byte length */
        "30 90 01",                     /* 144-byte packet > rx buffer? no: fits */
    };
    static const tma_status want[] = {MQ(TMA_C_UNSUPPORTED), MQ(TMA_C_UNSUPPORTED), MQ(TMA_C_MALFORMED),
                                      MQ(TMA_C_MALFORMED), MQ(TMA_C_MALFORMED), MQ(TMA_C_MALFORMED)};
    size_t i;
    (void)state;
    for (i = 0; i < 6; i++) {
        memset(&F.net, 0, sizeof(F.net));
        connect_ok(false);
        net_push(&F.net, bad[i]);
        assert_int_equal(want[i], mqtt_client_process(&F.c));
        assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    }
    /* a packet other than PUBLISH larger than the 256-byte rx buffer */
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false);
    net_push(&F.net, "90 90 04 00 01 00");
    assert_int_equal(MQ(TMA_C_TOO_SMALL), mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    /* peer closes */
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false);
    F.net.closed = true;
    assert_int_equal(CLOSED, mqtt_client_process(&F.c));
}

/* A PUBLISH larger than the rx buffer (a C2D the device was not sized for):
 * skipped and not acknowledged, counted, and the connection goes on: the
 * message after it is delivered and acknowledged, telemetry still goes out.
 * Before, the connection ended with TOO_SMALL, and a broker that redelivers
 * the message after every CONNACK kept the device from ever sending. */
static void oversized_publish_skipped_connection_goes_on(void **state)
{
    uint8_t big[600];
    size_t pos, i;
    struct mqtt_packet pkt;
    uint16_t id = 0;
    struct mqtt_publish p = pub("t/1", "x", 1);
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    /* QoS 1 PUBLISH id 0x0007 topic "c/d", 592 bytes of payload: 599 B
     * body, 602 B packet */
    big[0] = 0x32;
    big[1] = (uint8_t)(0x80 | (599 & 0x7F));
    big[2] = (uint8_t)(599 >> 7);
    big[3] = 0x00;
    big[4] = 0x03;
    big[5] = 'c';
    big[6] = '/';
    big[7] = 'd';
    big[8] = 0x00;
    big[9] = 0x07;
    net_push_bytes(&F.net, big, 10);
    for (i = 0; i < 592; i++) {
        uint8_t b = (uint8_t)('A' + i % 26);
        net_push_bytes(&F.net, &b, 1);
    }
    /* then a QoS 1 PUBLISH id 0x0008 that fits */
    net_push(&F.net, "32 09 00 03 63 2f 64 00 08 68 69");
    F.net.recv_chunk = 100;
    for (i = 0; i < 40 && F.app.publishes == 0; i++) {
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    }
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(1, F.app.publishes);
    assert_int_equal(0x0008, F.app.last.packet_id);
    assert_memory_equal("hi", F.app.last_payload, 2);
    assert_int_equal(1, F.c.rx.skipped);
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    /* only the small one is acknowledged */
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PUBACK, pkt.type);
    assert_int_equal(TMA_OK, mqtt_decode_ack(&pkt, &id));
    assert_int_equal(0x0008, id);
    assert_false(net_pop(&F.net, &pos, &pkt));
    /* and the device still sends */
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 1, NULL));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PUBLISH, pkt.type);
}

static void disconnect_sends_disconnect_keeps_inflight(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    size_t pos;
    struct mqtt_packet pkt;
    (void)state;
    connect_ok(false);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 1, NULL));
    pos = F.net.out_len;
    assert_int_equal(TMA_OK, mqtt_client_disconnect(&F.c));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_DISCONNECT, pkt.type);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(1, mqtt_client_inflight_publishes(&F.c));
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_disconnect(&F.c));
}

/* A transport that takes nothing now and then (a UART still shifting out the
 * byte before): mqtt_client_disconnect() tries once and loses the DISCONNECT,
 * mqtt_client_disconnect_within() waits for the transport and sends it whole
 * (qemu_hub_m4's finding: the broker saw the connection vanish). */
static void disconnect_within_waits_for_a_busy_transport(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    int within;
    (void)state;
    for (within = 0; within <= 1; within++) {
        F.net.busy = 0;
        F.net.send_chunk = 0;
        connect_ok(false);
        pos = F.net.out_len;
        F.net.busy = 1; /* the first send takes nothing, the next one byte */
        F.net.send_chunk = 1;
        if (!within) {
            assert_int_equal(TMA_OK, mqtt_client_disconnect(&F.c));
            assert_int_equal(pos, F.net.out_len); /* one try: lost */
        }
    }
    assert_int_equal(TMA_OK, mqtt_client_disconnect_within(&F.c, 1000u));
    assert_int_equal(pos + 2u, F.net.out_len);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_DISCONNECT, pkt.type);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
}

/* A tx queue too full for the DISCONNECT's two bytes (the transport took
 * nothing of a PUBLISH that fills it): the wait lets the queue go and then
 * sends the DISCONNECT after it, whole. */
static void disconnect_within_after_a_full_queue(void **state)
{
    size_t pos;
    struct mqtt_packet pkt;
    char body[249];
    struct mqtt_publish p;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    memset(body, 'q', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    p = pub("t/1", body, 0); /* 3 + 2 + 3 + 248 = 256 B: the whole tx buffer */
    F.net.busy = 2;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(pos, F.net.out_len);
    F.net.busy = 1;
    F.net.send_chunk = 16;
    assert_int_equal(TMA_OK, mqtt_client_disconnect_within(&F.c, 1000u));
    assert_int_equal(pos + 256u + 2u, F.net.out_len);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_PUBLISH, pkt.type);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_DISCONNECT, pkt.type);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
}

/* A transport that never takes anything: the wait ends after the timeout of
 * the client's clock, the client is disconnected, and nothing went out. */
static void disconnect_within_gives_up_after_its_timeout(void **state)
{
    size_t pos;
    uint64_t t0;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    F.net.busy = 2;
    t0 = fake_time;
    assert_int_equal(TMA_OK, mqtt_client_disconnect_within(&F.c, 250u));
    assert_true(fake_time - t0 >= 250u && fake_time - t0 <= 252u);
    assert_int_equal(pos, F.net.out_len);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_disconnect_within(&F.c, 250u));
}

static void tx_full_gives_want_write(void **state)
{
    char big[200];
    struct mqtt_publish p;
    (void)state;
    connect_ok(false);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    F.net.send_chunk = 0;
    F.net.closed = false;
    p = pub("t/1", big, 0);
    /* stop the transport from taking bytes: fill out buffer */
    F.net.out_len = sizeof(F.net.out);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(TMA_WANT_WRITE, mqtt_client_publish(&F.c, &p, 0, NULL));
    F.net.out_len = 0;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    memset(big, 'a', sizeof(big) - 1);
    {
        char huge[300];
        memset(huge, 'b', sizeof(huge) - 1);
        huge[sizeof(huge) - 1] = 0;
        p = pub("t/1", huge, 0);
        assert_int_equal(MQ(TMA_C_TOO_SMALL), mqtt_client_publish(&F.c, &p, 0, NULL));
    }
}

static void init_rejects_bad_config(void **state)
{
    struct mqtt_client c;
    struct mqtt_client_config cfg;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_init(&c, &cfg));
    cfg = F.c.cfg;
    cfg.inflight_count = 0;
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_init(&c, &cfg));
    cfg = F.c.cfg;
    cfg.clock.now_ms = NULL;
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_init(&c, &cfg));
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_init(NULL, &F.c.cfg));
}

/* ---------------------------------------------------------- stall (F4) */

/* Count the PINGREQs the client put on the wire after *pos (other packets,
 * e.g. PUBLISH, are skipped); *pos moves past everything read. */
static int pings_since(size_t *pos)
{
    struct mqtt_packet pkt;
    int n = 0;
    while (net_pop(&F.net, pos, &pkt)) {
        n += pkt.type == MQTT_PINGREQ ? 1 : 0;
    }
    return n;
}

/* A dead inbound path (F4: the broker's records stop arriving) with the
 * window full: 10 s (ping_timeout_ms) after the publishes went out the
 * client sends PINGREQ, 10 s later it gives up, 20 s in all. Keep-alive
 * alone (60 s, the old client) would have pinged 30 s after the publishes
 * (60 s after CONNACK) and given up 40 s after them. The quiet 30 s before
 * the publishes (no process() call, nothing received) must not make the
 * first step ping. */
static void stall_with_publishes_in_flight_noticed_within_two_ping_timeouts(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    size_t pos;
    uint32_t i;
    (void)state;
    connect_ok(false);
    fake_time += 30000;
    for (i = 0; i < 4; i++) {
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, i, NULL));
    }
    pos = F.net.out_len;
    assert_int_equal(MQ(TMA_C_FULL), mqtt_client_publish(&F.c, &p, 4, NULL));
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos)); /* not at once */
    fake_time += 9999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos));
    fake_time += 1; /* 10 s since the publishes */
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    assert_memory_equal("\xc0\x00", F.net.out + pos - 2, 2); /* the PINGREQ bytes */
    fake_time += 9999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos)); /* at most one outstanding */
    fake_time += 1;
    assert_int_equal(MQTT_E_KEEPALIVE_TIMEOUT, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(4, mqtt_client_inflight_publishes(&F.c)); /* kept for the next connection */
}

/* The reference is the later of the last packet received and the moment the
 * oldest waiting request went out: a request after a quiet spell (process()
 * called all along, nothing received for longer than ping_timeout_ms) is
 * given its full ping_timeout_ms, and a SUBSCRIBE counts like a PUBLISH. */
static void stall_clock_starts_when_first_request_goes_out(void **state)
{
    struct mqtt_subscription s;
    size_t pos;
    int i;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    for (i = 0; i < 40; i++) { /* 40 s idle: nothing in flight, no ping */
        fake_time += 1000;
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    }
    assert_int_equal(0, pings_since(&pos));
    s.filter.ptr = (const uint8_t *)"a/b";
    s.filter.len = 3;
    s.qos = 1;
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, &s, 1, NULL));
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos)); /* not at once */
    fake_time += 9999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos));
    fake_time += 1; /* 50 s after CONNACK; the keep-alive would wait until 60 s */
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
}

/* A slow but live broker: it answers PINGRESP at once and the PUBACKs late.
 * One PINGREQ per ping_timeout_ms of silence, the connection stays, and
 * once nothing is in flight only the keep-alive pings again. */
static void slow_broker_answering_pings_keeps_connection(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    uint16_t ids[2];
    uint8_t ack[4] = {0x40, 2, 0, 0};
    size_t pos;
    int i;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, &ids[0]));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 1, &ids[1]));
    fake_time += 10000;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    fake_time += 500;
    net_push(&F.net, "d0 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c)); /* PINGRESP at 10.5 s */
    fake_time += 9999;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(0, pings_since(&pos));
    fake_time += 1; /* 10 s after the PINGRESP */
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    fake_time += 300;
    net_push(&F.net, "d0 00");
    for (i = 0; i < 2; i++) { /* the PUBACKs, 20.8 s late */
        ack[2] = (uint8_t)(ids[i] >> 8);
        ack[3] = (uint8_t)ids[i];
        net_push_bytes(&F.net, ack, 4);
    }
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(2, F.app.pubacks);
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
    /* idle from 20.8 s: the keep-alive pings 60 s after the last PINGREQ
     * (20.5 s), not earlier */
    for (i = 0; i < 59; i++) {
        fake_time += 1000;
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    }
    assert_int_equal(0, pings_since(&pos));
    fake_time += 1000;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
}

/* A request made while a keep-alive PINGREQ waits for its answer does not
 * restart the PINGRESP wait (both share one timestamp). */
static void request_during_ping_wait_keeps_ping_deadline(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    size_t pos;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    fake_time += 60000;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    fake_time += 5000;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    fake_time += 5000;
    assert_int_equal(MQTT_E_KEEPALIVE_TIMEOUT, mqtt_client_process(&F.c));
}

/* Keep-alive 0 (off, 3.1.2.10): no PINGREQ ever for idleness, but a stall
 * with a request waiting is still ended. The old client never pinged. */
static void stall_check_works_with_keepalive_off(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    size_t pos;
    int i;
    (void)state;
    F.opts.keep_alive_s = 0;
    connect_ok(false);
    pos = F.net.out_len;
    for (i = 0; i < 100; i++) { /* 100 s idle: no ping */
        fake_time += 1000;
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    }
    assert_int_equal(0, pings_since(&pos));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    fake_time += 10000;
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(1, pings_since(&pos));
    fake_time += 10000;
    assert_int_equal(MQTT_E_KEEPALIVE_TIMEOUT, mqtt_client_process(&F.c));
}

/* The stall check across a 2^32 ms boundary of the 64-bit clock. */
static void stall_check_across_32bit_clock_boundary(void **state)
{
    fake_time = (3ull << 32) - 45000u; /* the ping falls 5 s before 3 * 2^32, the timeout 5 s after */
    stall_with_publishes_in_flight_noticed_within_two_ping_timeouts(state);
    setup(NULL);
    fake_time = (9ull << 32) - 45000u; /* the request 5 s before 9 * 2^32, its ping 5 s after */
    stall_clock_starts_when_first_request_goes_out(state);
}

/* MQTT 3.1.1 3.1.2.10: the client makes sure that no more than the
 * keep-alive passes between packets it sends; the server may close the
 * connection after 1.5 times it without one. A client that only receives
 * (QoS 0 PUBLISHes, nothing to acknowledge) must still ping. The old client
 * stamped its last send on every process() step, sent or not, so it pinged
 * only after keep-alive without receiving: 0 PINGREQs here, and mosquitto
 * would have closed the connection after 45 s. */
static void keepalive_counts_from_last_send_while_receiving(void **state)
{
    size_t pos;
    int i, pings = 0;
    (void)state;
    F.opts.keep_alive_s = 30;
    connect_ok(false);
    pos = F.net.out_len;
    for (i = 1; i <= 1200; i++) { /* 120 s in 100 ms steps */
        fake_time += 100;
        if (i % 50 == 0) {
            net_push(&F.net, "30 05 00 01 74 68 69"); /* QoS 0 "t" "hi" every 5 s */
        }
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
        if (pings_since(&pos) == 1) {
            pings++;
            /* 30 s after the CONNECT, then 30 s after each PINGREQ */
            assert_int_equal(1000u + 30000u * (unsigned)pings, fake_time);
            net_push(&F.net, "d0 00");
        }
    }
    assert_int_equal(24, F.app.publishes);
    assert_int_equal(4, pings);
}

/* ---------------------------------------------------------- clock steps back (CLK14) */

struct clock_run {
    int pings;
    uint64_t min_gap, max_gap; /* between PINGREQs, model time */
    unsigned backs;            /* steps back */
};

/* One step at model time fake_time: process (the connection must stay),
 * then the peer: a PINGRESP 3 s after each PINGREQ (a slow link). Returns
 * whether a packet went on the wire or came off it. */
static bool clock_run_step(struct clock_run *r, size_t *pos, uint64_t *last_ping, uint64_t *resp_due)
{
    size_t out = F.net.out_len;
    bool got = false;
    int n;
    if (*resp_due != 0 && fake_time >= *resp_due) {
        net_push(&F.net, "d0 00");
        *resp_due = 0;
        got = true;
    }
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    n = pings_since(pos);
    assert_true(n <= 1);
    if (n == 1) {
        if (r->pings > 0) {
            uint64_t gap = fake_time - *last_ping;
            r->min_gap = gap < r->min_gap ? gap : r->min_gap;
            r->max_gap = gap > r->max_gap ? gap : r->max_gap;
        }
        r->pings++;
        *last_ping = fake_time;
        *resp_due = fake_time + 3000u;
    }
    return got || F.net.out_len != out;
}

/* Connected (keep-alive 30 s, ping_timeout_ms 10 s), with one QoS 1 message
 * in flight that the peer never acknowledges (@p in_flight) or nothing in
 * flight; 10 minutes of model time in steps of 100 ms, the clock starting
 * at @p start. With @p steps_back the clock goes back by 1 ms and stays
 * behind every 2 s and right after each step that moved a packet (a step
 * back shows only against a time stamped less than its size before: a
 * packet's), each time followed by one more process() at the same model
 * time that reads 1 ms less than the read before it. */
static struct clock_run clock_run(bool in_flight, bool steps_back, uint64_t start, bool trunc32)
{
    struct clock_run r = {0, UINT64_MAX, 0, 0};
    struct mqtt_publish p = pub("t/1", "x", 1);
    uint64_t last_ping = 0, resp_due = 0, t;
    size_t pos;
    setup(NULL);
    fake_time = start;
    clk_trunc32 = trunc32;
    F.opts.keep_alive_s = 30;
    connect_ok(false);
    pos = F.net.out_len;
    if (in_flight) {
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
        assert_int_equal(0, pings_since(&pos));
    }
    for (t = 100; t <= 600000u; t += 100) {
        fake_time += 100;
        if (clock_run_step(&r, &pos, &last_ping, &resp_due) || t % 2000u == 0) {
            if (steps_back) {
                clk_behind++;
                r.backs++;
                (void)clock_run_step(&r, &pos, &last_ping, &resp_due);
            }
        }
    }
    assert_int_equal(in_flight ? 1 : 0, mqtt_client_inflight_publishes(&F.c));
    assert_int_equal(0, mqtt_client_retransmit_count(&F.c));
    return r;
}

/* A clock that steps back by 1 ms (two sources, a 64-bit timer read as two
 * halves) must cost the connection nothing: PINGREQs as often as without
 * the steps, never before their interval. The old client read a step back
 * below a time it had stamped as 2^32 - 1 ms passing: after a PINGRESP a
 * PINGREQ at once, after a PINGREQ the end of the connection
 * (MQTT_E_KEEPALIVE_TIMEOUT). */
static void test_clock_steps_back_1ms_keeps_connection_and_ping_pace(void **state)
{
    struct clock_run ref, got;
    (void)state;
    /* Nothing in flight: the keep-alive pings 30 s after the last packet
     * sent (the PINGREQ before): every 30 s. */
    ref = clock_run(false, false, 1000, false);
    got = clock_run(false, true, 1000, false);
    fprintf(stderr, "keep-alive 30 s, 10 min: %d PINGREQs (gaps %llu..%llu ms); 1 ms back every 2 s and after each packet (%u times): %d (%llu..%llu ms)\n",
            ref.pings, (unsigned long long)ref.min_gap, (unsigned long long)ref.max_gap, got.backs, got.pings,
            (unsigned long long)got.min_gap, (unsigned long long)got.max_gap);
    assert_true(got.backs >= 300u);
    assert_int_equal(20, ref.pings);
    assert_true(ref.min_gap == 30000u && ref.max_gap == 30000u);
    assert_true(got.pings >= ref.pings - 1 && got.pings <= ref.pings);
    assert_true(got.min_gap >= 30000u && got.max_gap <= 30100u);
    /* A QoS 1 message in flight: the stall check pings 10 s after each
     * PINGRESP (3 s after its PINGREQ): every 13 s. */
    ref = clock_run(true, false, 1000, false);
    got = clock_run(true, true, 1000, false);
    fprintf(stderr, "QoS 1 in flight, 10 min: %d PINGREQs (gaps %llu..%llu ms); 1 ms back every 2 s and after each packet (%u times): %d (%llu..%llu ms)\n",
            ref.pings, (unsigned long long)ref.min_gap, (unsigned long long)ref.max_gap, got.backs, got.pings,
            (unsigned long long)got.min_gap, (unsigned long long)got.max_gap);
    assert_true(got.backs >= 300u);
    assert_true(ref.pings >= 45 && ref.min_gap == 13000u && ref.max_gap == 13000u);
    assert_true(got.pings >= ref.pings - 1 && got.pings <= ref.pings);
    assert_true(got.min_gap >= 13000u && got.max_gap <= 13100u);
}

/* The same on a 32-bit tick zero-extended (SysTick) that wraps 5 minutes
 * into the run, steps back and all: the wrap is a small step forward, not
 * 49.7 days back. */
static void test_clock_steps_back_across_32bit_tick_wrap(void **state)
{
    struct clock_run ref, got;
    (void)state;
    ref = clock_run(true, false, 1000, false);
    got = clock_run(true, true, (1ull << 32) - 300000u, true);
    fprintf(stderr, "QoS 1 in flight, 32-bit tick wrapping at 5 min, 1 ms back every 2 s and after each packet (%u times): %d PINGREQs (gaps %llu..%llu ms)\n",
            got.backs, got.pings, (unsigned long long)got.min_gap, (unsigned long long)got.max_gap);
    assert_true(got.pings >= ref.pings - 1 && got.pings <= ref.pings);
    assert_true(got.min_gap >= 13000u && got.max_gap <= 13100u);
    /* and without the steps back: exactly the pings of a clock from 1000 */
    got = clock_run(true, false, (1ull << 32) - 300000u, true);
    assert_int_equal(ref.pings, got.pings);
    assert_true(got.min_gap == 13000u && got.max_gap == 13000u);
}

/* ---------------------------------------------------------- conformance
 * Tests named after the MQTT 3.1.1 normative statement they check
 * (docs/decisions/mqtt-conformance.md). */

/* [MQTT-3.2.2-1]: a server that accepts a clean session sets Session Present
 * to 0. A CONNACK with Session Present 1 after CONNECT with CleanSession 1 is
 * a protocol violation: the connection ends ([MQTT-4.8.0-1]) with
 * TMA_C_MALFORMED. Session Present 1 after CleanSession 0 and Session Present
 * 0 after CleanSession 1 stay accepted. */
static void conf_3_2_2_1_session_present_after_clean_session_refused(void **state)
{
    (void)state;
    F.opts.clean_session = true;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    net_push(&F.net, "20 02 01 00");
    assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_last_error(&F.c));
    assert_false(mqtt_client_session_present(&F.c));

    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false); /* clean session 1, Session Present 0 */
    assert_false(mqtt_client_session_present(&F.c));
    mqtt_client_abort(&F.c);

    memset(&F.net, 0, sizeof(F.net));
    F.opts.clean_session = false;
    connect_ok(true); /* clean session 0, Session Present 1 */
    assert_true(mqtt_client_session_present(&F.c));
}

/* [MQTT-3.1.2-6]: with CleanSession 1 the client discards the previous
 * Session; its state is not reused. The messages still unacknowledged when
 * the old connection died are not the old session's retransmissions then,
 * but new Application Messages of the new session ([MQTT-4.3.2-1]: QoS 1,
 * DUP 0, an unused packet id), sent in their original order. With
 * CleanSession 0 they stay retransmissions: DUP 1, same ids
 * ([MQTT-4.4.0-1], test retransmits_with_dup_after_reconnect_in_order). */
static void conf_3_1_2_6_clean_session_republishes_without_dup(void **state)
{
    struct mqtt_publish p;
    uint16_t ids[2];
    uint32_t t;
    size_t pos;
    struct mqtt_packet pkt;
    struct mqtt_publish got;
    (void)state;
    F.opts.clean_session = true;
    connect_ok(false);
    for (t = 0; t < 2; t++) {
        snprintf(F.app.messages[t], sizeof(F.app.messages[t]), "msg-%u", (unsigned)t);
        p = pub("t/1", F.app.messages[t], 1);
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, t, &ids[t]));
    }
    F.net.closed = true;
    assert_int_equal(CLOSED, mqtt_client_process(&F.c));
    assert_int_equal(2, mqtt_client_inflight_publishes(&F.c));

    memset(&F.net, 0, sizeof(F.net));
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    pos = F.net.out_len; /* after CONNECT */
    net_push(&F.net, "20 02 00 00");
    assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
    assert_int_equal(2, F.app.resends);
    for (t = 0; t < 2; t++) {
        assert_true(net_pop(&F.net, &pos, &pkt));
        assert_int_equal(0x32, F.net.out[pos - pkt.size]); /* QoS 1, DUP 0 */
        assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
        assert_false(got.dup);
        assert_memory_equal(F.app.messages[t], got.payload.ptr, 5);
        assert_true(mqtt_client_is_pending(&F.c, got.packet_id));
    }
    assert_false(net_pop(&F.net, &pos, &pkt));
}

/* [MQTT-3.8.4-5], [MQTT-3.9.3-1]: the SUBACK holds one return code per
 * Topic Filter of the SUBSCRIBE, in order. A SUBACK with fewer or more codes
 * than the SUBSCRIBE had filters is a protocol violation: the connection
 * ends ([MQTT-4.8.0-1]) with TMA_C_MALFORMED, and on_suback is not called
 * with codes that cannot be matched to the filters. */
static void conf_3_8_4_5_suback_code_count_must_match_filters(void **state)
{
    struct mqtt_subscription subs[2];
    uint16_t id = 0;
    uint8_t suback[7] = {0x90, 3, 0, 0, 1, 1, 1};
    size_t codes;
    (void)state;
    subs[0].filter.ptr = (const uint8_t *)"a/b";
    subs[0].filter.len = 3;
    subs[0].qos = 1;
    subs[1] = subs[0];
    subs[1].filter.ptr = (const uint8_t *)"c/#";
    for (codes = 1; codes <= 3; codes += 2) { /* one code short, one too many */
        memset(&F.net, 0, sizeof(F.net));
        connect_ok(false);
        assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, subs, 2, &id));
        suback[1] = (uint8_t)(2 + codes);
        suback[2] = (uint8_t)(id >> 8);
        suback[3] = (uint8_t)id;
        net_push_bytes(&F.net, suback, 4 + codes);
        assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_process(&F.c));
        assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
        assert_int_equal(0, F.app.subacks);
    }
    /* two codes for two filters: accepted */
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false);
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, subs, 2, &id));
    suback[1] = 4;
    suback[2] = (uint8_t)(id >> 8);
    suback[3] = (uint8_t)id;
    net_push_bytes(&F.net, suback, 6);
    assert_int_equal(TMA_OK, mqtt_client_wait_ack(&F.c, id, 1000));
    assert_int_equal(1, F.app.subacks);
    assert_int_equal(2, F.app.suback_n);
}

/* [MQTT-4.8.0-1]: a protocol violation by the server ends the connection
 * with TMA_C_MALFORMED and nothing more goes out (no PUBACK, no PINGREQ):
 * [MQTT-3.3.1-4] QoS 3, [MQTT-3.3.1-2] QoS 0 with DUP, [MQTT-1.5.3-1] a
 * surrogate, [MQTT-1.5.3-2] U+0000, [MQTT-3.3.2-2] a wildcard in a topic,
 * [MQTT-2.2.2-2] reserved flags, [MQTT-3.9.3-2] a reserved SUBACK code,
 * [MQTT-2.3.1-1] packet id 0, reserved packet types, client-to-server
 * packets, a remaining length not in its shortest form (decision). */
static void conf_server_protocol_violations_close(void **state)
{
    static const char *bad[] = {
        "36 07 00 03 63 2f 64 00 01", /* PUBLISH QoS 3 */
        "38 05 00 03 63 2f 64",       /* PUBLISH QoS 0 with DUP */
        "32 07 00 03 ed a0 80 00 01", /* QoS 1 PUBLISH, topic U+D800 */
        "30 03 00 01 00",             /* topic U+0000 */
        "30 05 00 03 61 2f 23",       /* topic a/# */
        "30 05 00 03 2b 2f 61",       /* topic +/a */
        "d1 00",                      /* PINGRESP with flags */
        "42 02 00 01",                /* PUBACK with flags */
        "90 03 00 01 03",             /* SUBACK code 3 */
        "b0 02 00 00",                /* UNSUBACK id 0 */
        "40 02 00 00",                /* PUBACK id 0 */
        "00 00",                      /* reserved type 0 */
        "f0 00",                      /* reserved type 15 */
        "c0 00",                      /* PINGREQ from the server */
        "e0 00",                      /* DISCONNECT from the server (3.1.1 has none) */
        "10 0c 00 04 4d 51 54 54 04 02 00 00 00 00", /* CONNECT from the server */
        "d0 80 00",                   /* PINGRESP, remaining length 0 in two bytes */
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t sent;
        memset(&F.net, 0, sizeof(F.net));
        connect_ok(false);
        sent = F.net.out_len;
        /* a good QoS 1 PUBLISH first, then the bad packet in the same read:
         * the good one is delivered, the bad one ends the connection before
         * anything more (its PUBACK included) is sent */
        net_push(&F.net, "32 07 00 01 61 00 07 68 69");
        net_push(&F.net, bad[i]);
        fake_time += 61000; /* a keep-alive PINGREQ would be due too */
        if (mqtt_client_process(&F.c) != MQ(TMA_C_MALFORMED)) {
            fail_msg("'%s': %d", bad[i], (int)mqtt_client_last_error(&F.c));
        }
        assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
        assert_int_equal(sent, F.net.out_len);
    }
}

/* [MQTT-2.3.1-1], [MQTT-2.3.1-2]: every new request gets a non-zero id that
 * no unacknowledged request holds, also across the 16-bit wrap. */
static void conf_2_3_1_2_packet_ids_unused_and_never_zero(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 1);
    struct mqtt_subscription s;
    uint16_t a = 0, b = 0, d = 0, e = 0;
    (void)state;
    connect_ok(false);
    F.c.next_id = 0xFFFF;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, &a));
    assert_int_equal(0xFFFF, a);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 1, &b));
    assert_int_equal(1, b); /* 0 skipped */
    F.c.next_id = 0xFFFF;  /* the counter comes round while 0xFFFF and 1 wait */
    s.filter.ptr = (const uint8_t *)"a";
    s.filter.len = 1;
    s.qos = 1;
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, &s, 1, &d));
    assert_int_equal(2, d);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 2, &e));
    assert_int_equal(3, e);
}

/* [MQTT-4.6.0-2]: PUBACKs leave in the order their PUBLISHes arrived, also
 * when the PUBLISHes come in one read or byte by byte. */
static void conf_4_6_0_2_pubacks_in_arrival_order(void **state)
{
    static const uint16_t order[4] = {0x0005, 0x0003, 0x0109, 0x0001};
    size_t pos;
    size_t chunk;
    size_t i;
    struct mqtt_packet pkt;
    uint16_t id = 0;
    (void)state;
    for (chunk = 0; chunk <= 1; chunk++) {
        memset(&F.net, 0, sizeof(F.net));
        F.app.publishes = 0;
        connect_ok(false);
        pos = F.net.out_len;
        F.net.recv_chunk = chunk;
        net_push(&F.net, "32 07 00 01 61 00 05 68 69");
        net_push(&F.net, "32 07 00 01 62 00 03 68 69");
        net_push(&F.net, "30 05 00 01 63 68 69"); /* QoS 0 between them: no ack */
        net_push(&F.net, "32 07 00 01 64 01 09 68 69");
        net_push(&F.net, "32 07 00 01 65 00 01 68 69");
        for (i = 0; i < 100 && F.app.publishes < 5; i++) {
            assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
        }
        assert_int_equal(5, F.app.publishes);
        assert_int_equal(TMA_OK, mqtt_client_process(&F.c));
        for (i = 0; i < 4; i++) {
            assert_true(net_pop(&F.net, &pos, &pkt));
            assert_int_equal(MQTT_PUBACK, pkt.type);
            assert_int_equal(TMA_OK, mqtt_decode_ack(&pkt, &id));
            assert_int_equal(order[i], id);
        }
        assert_false(net_pop(&F.net, &pos, &pkt));
        mqtt_client_abort(&F.c);
    }
}

/* [MQTT-4.3.3-2]: the client cannot be a QoS 2 receiver, so it never asks
 * for QoS 2: mqtt_client_subscribe() refuses it and sends nothing (before,
 * a broker that granted it sent QoS 2 PUBLISHes the client ended the
 * connection on, again after every reconnect). [MQTT-3.8.4-6]: a server
 * grants at most what was asked, so a SUBACK granting QoS 2 is a violation:
 * TMA_C_MALFORMED, and on_suback is not called. */
static void conf_4_3_3_2_no_qos2_subscription(void **state)
{
    struct mqtt_subscription s[2];
    uint16_t id = 0;
    size_t sent;
    uint8_t suback[5] = {0x90, 3, 0, 0, 2};
    (void)state;
    connect_ok(false);
    s[0].filter.ptr = (const uint8_t *)"a/b";
    s[0].filter.len = 3;
    s[0].qos = 1;
    s[1] = s[0];
    s[1].qos = 2;
    sent = F.net.out_len;
    assert_int_equal(MQ(TMA_C_BAD_PARAM), mqtt_client_subscribe(&F.c, s, 2, &id));
    assert_int_equal(sent, F.net.out_len);
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    /* asked for QoS 1, granted 2 */
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, s, 1, &id));
    suback[2] = (uint8_t)(id >> 8);
    suback[3] = (uint8_t)id;
    net_push_bytes(&F.net, suback, 5);
    assert_int_equal(MQ(TMA_C_MALFORMED), mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(0, F.app.subacks);
}

/* ---------------------------------------------------------- send errors (COV14 item 4) */

#define IOERR TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_IO)

/* The CONNECT cannot be sent: the attempt ends with the transport's status
 * as it is, the client is idle (process refuses), and the next attempt on a
 * working link connects. */
static void send_error_on_connect_ends_the_attempt(void **state)
{
    size_t pos = 0;
    struct mqtt_packet pkt;
    (void)state;
    F.net.fail_call = 1;
    F.net.fail_with = CLOSED;
    assert_int_equal(CLOSED, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(CLOSED, mqtt_client_last_error(&F.c));
    assert_int_equal(MQ(TMA_C_STATE), mqtt_client_process(&F.c));
    F.net.send_calls = 0;
    F.net.fail_with = IOERR;
    assert_int_equal(IOERR, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    assert_int_equal(IOERR, mqtt_client_last_error(&F.c));
    F.net.send_calls = 0;
    assert_int_equal(IOERR, mqtt_client_connect_wait(&F.c, &F.tr, &F.opts, 100));
    assert_int_equal(0, F.net.out_len);
    connect_ok(false);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
}

/* A PUBLISH whose send fails inside mqtt_client_publish(): the call
 * succeeds (the message is queued), nothing more is queued behind the
 * failure, the next process() reports it and ends the connection, and the
 * QoS 1 message goes again (DUP) on the next one. */
static void send_error_after_publish_reported_by_next_process(void **state)
{
    struct mqtt_publish p;
    struct mqtt_publish got;
    struct mqtt_packet pkt;
    uint16_t id = 0;
    size_t pos;
    (void)state;
    connect_ok(false);
    snprintf(F.app.messages[0], sizeof(F.app.messages[0]), "first");
    p = pub("t/1", F.app.messages[0], 1);
    F.net.send_calls = 0;
    F.net.fail_call = 1;
    F.net.fail_with = IOERR;
    pos = F.net.out_len;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, &id));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    p = pub("t/1", "second", 0);
    assert_int_equal(TMA_WANT_WRITE, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(IOERR, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(IOERR, mqtt_client_last_error(&F.c));
    assert_false(net_pop(&F.net, &pos, &pkt)); /* the failed send is not tried again */
    assert_int_equal(1, mqtt_client_inflight_publishes(&F.c));
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(true);
    pos = 0;
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_true(got.dup);
    assert_int_equal(id, got.packet_id);
    assert_memory_equal("first", got.payload.ptr, 5);
    assert_false(net_pop(&F.net, &pos, &pkt));
}

/* The retransmission after a reconnect cannot be sent: that connection
 * ends with the transport's status, the message keeps its slot and goes on
 * the connection after. */
static void resend_send_error_keeps_message_for_next_connection(void **state)
{
    struct mqtt_publish p;
    struct mqtt_publish got;
    struct mqtt_packet pkt;
    uint16_t id = 0;
    size_t pos = 0;
    (void)state;
    connect_ok(false);
    snprintf(F.app.messages[0], sizeof(F.app.messages[0]), "keep-me");
    p = pub("t/1", F.app.messages[0], 1);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, &id));
    mqtt_client_abort(&F.c);
    memset(&F.net, 0, sizeof(F.net));
    F.net.fail_call = 2; /* CONNECT goes, the retransmission does not */
    F.net.fail_with = CLOSED;
    assert_int_equal(TMA_IN_PROGRESS, mqtt_client_connect(&F.c, &F.tr, &F.opts));
    net_push(&F.net, "20 02 01 00");
    assert_int_equal(CLOSED, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(1, F.app.resends);
    assert_int_equal(1, mqtt_client_inflight_publishes(&F.c));
    assert_true(mqtt_client_is_pending(&F.c, id));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    assert_false(net_pop(&F.net, &pos, &pkt));
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(true);
    assert_int_equal(2, F.app.resends);
    pos = 0;
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_true(got.dup);
    assert_int_equal(id, got.packet_id);
    assert_memory_equal("keep-me", got.payload.ptr, 7);
}

/* A transport that reports more bytes than it was given to send or more
 * than the space it was given to fill breaks its contract: the connection
 * ends with MQTT INTERNAL, and nothing past the receive buffer is parsed. */
static void transport_reporting_more_than_asked_ends_with_internal(void **state)
{
    (void)state;
    F.net.send_extra = 1;
    assert_int_equal(MQ(TMA_C_INTERNAL), mqtt_client_connect(&F.c, &F.tr, &F.opts));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(MQ(TMA_C_INTERNAL), mqtt_client_last_error(&F.c));
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false);
    F.net.recv_extra = 1;
    net_push(&F.net, "30 05 00 03 63 2f 64"); /* a QoS 0 PUBLISH */
    assert_int_equal(MQ(TMA_C_INTERNAL), mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(0, F.app.publishes);
}

/* After a reconnect the resend hook returns a message that no longer fits
 * the tx buffer (the application's copy grew): that slot is dropped, the
 * messages before and after it still go, in order. */
static void resend_of_message_grown_past_tx_buffer_drops_only_it(void **state)
{
    struct mqtt_publish p;
    struct mqtt_publish got;
    struct mqtt_packet pkt;
    uint16_t ids[3];
    uint32_t t;
    size_t pos = 0;
    (void)state;
    connect_ok(false);
    for (t = 0; t < 3; t++) {
        snprintf(F.app.messages[t], sizeof(F.app.messages[t]), "m-%u", (unsigned)t);
        p = pub("t/1", F.app.messages[t], 1);
        assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, t, &ids[t]));
    }
    mqtt_client_abort(&F.c);
    memset(&F.net, 0, sizeof(F.net));
    F.app.grown = 2; /* tag 1 */
    connect_ok(true);
    assert_int_equal(3, F.app.resends);
    assert_int_equal(2, mqtt_client_inflight_publishes(&F.c));
    assert_false(mqtt_client_is_pending(&F.c, ids[1]));
    assert_true(net_pop(&F.net, &pos, &pkt)); /* CONNECT */
    for (t = 0; t < 3; t += 2) {
        assert_true(net_pop(&F.net, &pos, &pkt));
        assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
        assert_int_equal(ids[t], got.packet_id);
        assert_int_equal(3, got.payload.len);
    }
    assert_false(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
}

/* mqtt_client_flush() on a transport that takes nothing (the peer's window
 * is full; each try costs 1 ms of clock): TIMEOUT after its time, the
 * connection and the queued message stay; once the link moves, it goes. */
static void flush_on_stalled_transport_times_out(void **state)
{
    struct mqtt_publish p = pub("t/1", "wait", 0);
    struct mqtt_publish got;
    struct mqtt_packet pkt;
    uint64_t start;
    size_t pos;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    F.net.busy = 2;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    start = fake_time;
    assert_int_equal(MQ(TMA_C_TIMEOUT), mqtt_client_flush(&F.c, 50));
    assert_true(fake_time - start >= 50);
    assert_true(fake_time - start < 60);
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_false(net_pop(&F.net, &pos, &pkt));
    F.net.busy = 0;
    assert_int_equal(TMA_OK, mqtt_client_flush(&F.c, 50));
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &got));
    assert_memory_equal("wait", got.payload.ptr, 4);
}

/* Corked (the IoT client's outbox pump): a request that does not fit the
 * full queue sends the queue and is queued after it; when that send fails,
 * the request is not queued (WANT_WRITE) and the next process() reports the
 * transport's status. */
static void corked_full_queue_sent_to_make_room_or_send_error_deferred(void **state)
{
    char body[100];
    struct mqtt_publish p;
    struct mqtt_packet pkt;
    size_t pos;
    int i;
    (void)state;
    connect_ok(false);
    memset(body, 'c', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    p = pub("t/1", body, 0); /* 106 bytes: two fit the 256-byte queue */
    pos = F.net.out_len;
    mqtt_client_cork(&F.c, true);
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(pos, F.net.out_len); /* corked: nothing sent yet */
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    for (i = 0; i < 2; i++) { /* the two queued went to make room */
        assert_true(net_pop(&F.net, &pos, &pkt));
        assert_int_equal(MQTT_PUBLISH, pkt.type);
    }
    assert_false(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    F.net.send_calls = 0;
    F.net.fail_call = 1;
    F.net.fail_with = CLOSED;
    assert_int_equal(TMA_WANT_WRITE, mqtt_client_publish(&F.c, &p, 0, NULL));
    mqtt_client_cork(&F.c, false);
    assert_int_equal(CLOSED, mqtt_client_process(&F.c));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_false(net_pop(&F.net, &pos, &pkt));
}

/* mqtt_client_disconnect() after a send failed inside an API call: no
 * DISCONNECT (nor the queue) is sent on the link the transport declared
 * gone; the client is idle and the next connection starts with CONNECT. */
static void disconnect_after_a_failed_send_sends_nothing(void **state)
{
    struct mqtt_publish p = pub("t/1", "lost", 0);
    struct mqtt_packet pkt;
    size_t pos;
    (void)state;
    connect_ok(false);
    pos = F.net.out_len;
    F.net.send_calls = 0;
    F.net.fail_call = 1;
    F.net.fail_with = CLOSED;
    assert_int_equal(TMA_OK, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(TMA_OK, mqtt_client_disconnect_within(&F.c, 100));
    assert_int_equal(1, F.net.send_calls);
    assert_false(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    memset(&F.net, 0, sizeof(F.net));
    connect_ok(false);
    pos = 0;
    assert_true(net_pop(&F.net, &pos, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    assert_false(net_pop(&F.net, &pos, &pkt));
}

/* The public API's own checks (COV14 1.2): NULL client, transport, options
 * or message, a transport without send or recv, QoS 2, empty filter lists,
 * packet id 0: BAD_PARAM, nothing sent, the connection unchanged. */
static void api_refuses_bad_arguments(void **state)
{
    struct mqtt_publish p = pub("t/1", "x", 0);
    struct mqtt_subscription s;
    struct tma_transport half = F.tr;
    uint16_t id = 0;
    uint16_t next = 0;
    size_t sent;
    const tma_status param = MQ(TMA_C_BAD_PARAM);
    (void)state;
    assert_int_equal(param, mqtt_client_connect(NULL, &F.tr, &F.opts));
    assert_int_equal(param, mqtt_client_connect(&F.c, NULL, &F.opts));
    assert_int_equal(param, mqtt_client_connect(&F.c, &F.tr, NULL));
    half.send = NULL;
    assert_int_equal(param, mqtt_client_connect(&F.c, &half, &F.opts));
    half = F.tr;
    half.recv = NULL;
    assert_int_equal(param, mqtt_client_connect(&F.c, &half, &F.opts));
    assert_int_equal(0, F.net.out_len);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    connect_ok(false);
    sent = F.net.out_len;
    s.filter.ptr = (const uint8_t *)"a/b";
    s.filter.len = 3;
    s.qos = 0;
    assert_int_equal(param, mqtt_client_process(NULL));
    assert_int_equal(param, mqtt_client_publish(NULL, &p, 0, NULL));
    assert_int_equal(param, mqtt_client_publish(&F.c, NULL, 0, NULL));
    p.qos = 2;
    assert_int_equal(param, mqtt_client_publish(&F.c, &p, 0, NULL));
    assert_int_equal(param, mqtt_client_subscribe(NULL, &s, 1, NULL));
    assert_int_equal(param, mqtt_client_subscribe(&F.c, NULL, 1, NULL));
    assert_int_equal(param, mqtt_client_subscribe(&F.c, &s, 0, NULL));
    assert_int_equal(param, mqtt_client_unsubscribe(NULL, &s.filter, 1, NULL));
    assert_int_equal(param, mqtt_client_unsubscribe(&F.c, NULL, 1, NULL));
    assert_int_equal(param, mqtt_client_unsubscribe(&F.c, &s.filter, 0, NULL));
    assert_int_equal(param, mqtt_client_wait_ack(NULL, 1, 0));
    assert_int_equal(param, mqtt_client_wait_ack(&F.c, 0, 0));
    assert_int_equal(param, mqtt_client_disconnect_within(NULL, 0));
    assert_int_equal(param, mqtt_client_last_error(NULL));
    mqtt_client_cork(NULL, true);
    mqtt_client_abort(NULL);
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(NULL));
    assert_false(mqtt_client_session_present(NULL));
    assert_int_equal(0, mqtt_client_inflight_publishes(NULL));
    assert_false(mqtt_client_is_pending(NULL, 1));
    assert_int_equal(0, mqtt_client_retransmit_count(NULL));
    assert_int_equal(sent, F.net.out_len);
    assert_int_equal(MQTT_STATE_CONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(0, mqtt_client_inflight_publishes(&F.c));
    /* a refused request took no packet id (client.h) */
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, &s, 1, &id));
    assert_int_equal(param, mqtt_client_subscribe(&F.c, &s, 0, NULL));
    assert_int_equal(param, mqtt_client_unsubscribe(&F.c, &s.filter, 0, NULL));
    assert_int_equal(TMA_OK, mqtt_client_subscribe(&F.c, &s, 1, &next));
    assert_int_equal(id + 1, next);
}

/* ---------------------------------------------------------- TCP transport (COV14 item 4) */

/* A loopback listener on a free port. */
static int tcp_listener(uint16_t *out_port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(0, bind(fd, (struct sockaddr *)&a, sizeof(a)));
    assert_int_equal(0, listen(fd, 1));
    assert_int_equal(0, getsockname(fd, (struct sockaddr *)&a, &len));
    *out_port = ntohs(a.sin_port);
    return fd;
}

/* tma_tcp_send() on a real socket: a peer that reads nothing fills the
 * window and send says "try again" (0); a peer that resets the connection
 * makes it CLOSED, also for the MQTT client's CONNECT (the attempt ends with
 * that status) and for recv; a descriptor that is no socket is IO; bad
 * arguments BAD_PARAM; connecting to a port nobody listens on REFUSED. */
static void tcp_send_errors_map_to_transport_statuses(void **state)
{
    static uint8_t chunk[4096];
    const tma_status param = TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_BAD_PARAM);
    struct linger lg = {1, 0};
    struct tma_tcp t;
    struct tma_transport tr;
    struct pollfd pf;
    uint16_t port = 0;
    int small = 4096;
    int lfd, pfd, pp[2];
    int32_t r = 1;
    long i;
    (void)state;
    lfd = tcp_listener(&port);
    memset(&t, 0, sizeof(t));
    assert_int_equal(TMA_OK, tma_tcp_connect(&t, "127.0.0.1", port, 2000));
    pfd = accept(lfd, NULL, NULL);
    assert_true(pfd >= 0);
    /* what the peer sends arrives; nothing more is "try again" after the wait */
    assert_int_equal(2, write(pfd, "hi", 2));
    t.recv_wait_ms = 1000;
    assert_int_equal(2, tma_tcp_recv(&t, chunk, sizeof(chunk)));
    assert_memory_equal("hi", chunk, 2);
    t.recv_wait_ms = 10;
    assert_int_equal(0, tma_tcp_recv(&t, chunk, sizeof(chunk)));
    assert_int_equal(param, tma_tcp_recv(&t, chunk, 0));
    (void)setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    (void)setsockopt(pfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    for (i = 0; i < 100000 && r > 0; i++) {
        r = tma_tcp_send(&t, chunk, sizeof(chunk));
    }
    assert_int_equal(0, r); /* window full: try again, not an error */
    /* the peer resets the connection (unread data, linger 0: RST) */
    assert_int_equal(0, setsockopt(pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    close(pfd);
    pf.fd = t.fd;
    pf.events = POLLIN;
    pf.revents = 0;
    assert_int_equal(1, poll(&pf, 1, 2000));
    tr = tma_tcp_transport(&t);
    assert_int_equal(CLOSED, mqtt_client_connect(&F.c, &tr, &F.opts));
    assert_int_equal(MQTT_STATE_DISCONNECTED, mqtt_client_state(&F.c));
    assert_int_equal(CLOSED, mqtt_client_last_error(&F.c));
    assert_int_equal(CLOSED, tma_tcp_send(&t, chunk, 1)); /* and every send after */
    tma_tcp_close(&t);
    /* a reset seen first by recv (ECONNRESET) */
    assert_int_equal(TMA_OK, tma_tcp_connect(&t, "127.0.0.1", port, 2000));
    pfd = accept(lfd, NULL, NULL);
    assert_true(pfd >= 0);
    assert_int_equal(2, tma_tcp_send(&t, chunk, 2)); /* unread at the peer: its close resets */
    assert_int_equal(0, setsockopt(pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    close(pfd);
    t.recv_wait_ms = 1000;
    assert_int_equal(CLOSED, tma_tcp_recv(&t, chunk, sizeof(chunk)));
    tma_tcp_close(&t);
    assert_int_equal(param, tma_tcp_send(&t, chunk, 1)); /* closed: no descriptor */
    assert_int_equal(param, tma_tcp_send(NULL, chunk, 1));
    /* a descriptor that is no socket (ENOTSOCK): IO, for send and recv */
    assert_int_equal(0, pipe(pp));
    t.fd = pp[1];
    assert_int_equal(param, tma_tcp_send(&t, NULL, 1));
    assert_int_equal(IOERR, tma_tcp_send(&t, chunk, 1));
    assert_int_equal(1, write(pp[1], "x", 1));
    t.fd = pp[0];
    assert_int_equal(IOERR, tma_tcp_recv(&t, chunk, 1));
    close(pp[0]);
    close(pp[1]);
    /* connect: nothing listening is REFUSED; bad arguments BAD_PARAM */
    close(lfd);
    memset(&t, 0, sizeof(t));
    assert_int_equal(TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_REFUSED), tma_tcp_connect(&t, "127.0.0.1", port, 2000));
    assert_int_equal(param, tma_tcp_connect(NULL, "127.0.0.1", port, 2000));
    assert_int_equal(param, tma_tcp_connect(&t, "", port, 2000));
    assert_int_equal(param, tma_tcp_connect(&t, "127.0.0.1", 0, 2000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(connect_sends_connect_and_accepts_connack, setup),
        cmocka_unit_test_setup(connack_refusals_map_to_statuses, setup),
        cmocka_unit_test_setup(connack_timeout_and_wrong_first_packet, setup),
        cmocka_unit_test_setup(keepalive_pings_and_times_out, setup),
        cmocka_unit_test_setup(timers_exact_across_32bit_clock_boundary, setup),
        cmocka_unit_test_setup(qos1_publish_tracked_until_matching_puback, setup),
        cmocka_unit_test_setup(qos0_publish_not_tracked, setup),
        cmocka_unit_test_setup(inflight_table_full, setup),
        cmocka_unit_test_setup(retransmits_with_dup_after_reconnect_in_order, setup),
        cmocka_unit_test_setup(retransmission_waits_for_tx_room_and_keeps_order, setup),
        cmocka_unit_test_setup(resend_of_vanished_message_drops_slot, setup),
        cmocka_unit_test_setup(without_resend_hook_inflight_dropped_on_reconnect, setup),
        cmocka_unit_test_setup(subscribe_suback_failure_reported, setup),
        cmocka_unit_test_setup(wait_ack_times_out, setup),
        cmocka_unit_test_setup(blocking_helpers_connect_flush_and_time_out, setup),
        cmocka_unit_test_setup(incoming_qos1_acked_after_callback, setup),
        cmocka_unit_test_setup(hostile_server_packets_end_connection, setup),
        cmocka_unit_test_setup(oversized_publish_skipped_connection_goes_on, setup),
        cmocka_unit_test_setup(disconnect_sends_disconnect_keeps_inflight, setup),
        cmocka_unit_test_setup(disconnect_within_waits_for_a_busy_transport, setup),
        cmocka_unit_test_setup(disconnect_within_after_a_full_queue, setup),
        cmocka_unit_test_setup(disconnect_within_gives_up_after_its_timeout, setup),
        cmocka_unit_test_setup(tx_full_gives_want_write, setup),
        cmocka_unit_test_setup(init_rejects_bad_config, setup),
        cmocka_unit_test_setup(stall_with_publishes_in_flight_noticed_within_two_ping_timeouts, setup),
        cmocka_unit_test_setup(stall_clock_starts_when_first_request_goes_out, setup),
        cmocka_unit_test_setup(slow_broker_answering_pings_keeps_connection, setup),
        cmocka_unit_test_setup(request_during_ping_wait_keeps_ping_deadline, setup),
        cmocka_unit_test_setup(stall_check_across_32bit_clock_boundary, setup),
        cmocka_unit_test_setup(stall_check_works_with_keepalive_off, setup),
        cmocka_unit_test_setup(keepalive_counts_from_last_send_while_receiving, setup),
        cmocka_unit_test_setup(test_clock_steps_back_1ms_keeps_connection_and_ping_pace, setup),
        cmocka_unit_test_setup(test_clock_steps_back_across_32bit_tick_wrap, setup),
        cmocka_unit_test_setup(conf_3_2_2_1_session_present_after_clean_session_refused, setup),
        cmocka_unit_test_setup(conf_3_1_2_6_clean_session_republishes_without_dup, setup),
        cmocka_unit_test_setup(conf_3_8_4_5_suback_code_count_must_match_filters, setup),
        cmocka_unit_test_setup(conf_server_protocol_violations_close, setup),
        cmocka_unit_test_setup(conf_2_3_1_2_packet_ids_unused_and_never_zero, setup),
        cmocka_unit_test_setup(conf_4_6_0_2_pubacks_in_arrival_order, setup),
        cmocka_unit_test_setup(conf_4_3_3_2_no_qos2_subscription, setup),
        cmocka_unit_test_setup(send_error_on_connect_ends_the_attempt, setup),
        cmocka_unit_test_setup(send_error_after_publish_reported_by_next_process, setup),
        cmocka_unit_test_setup(resend_send_error_keeps_message_for_next_connection, setup),
        cmocka_unit_test_setup(transport_reporting_more_than_asked_ends_with_internal, setup),
        cmocka_unit_test_setup(resend_of_message_grown_past_tx_buffer_drops_only_it, setup),
        cmocka_unit_test_setup(flush_on_stalled_transport_times_out, setup),
        cmocka_unit_test_setup(corked_full_queue_sent_to_make_room_or_send_error_deferred, setup),
        cmocka_unit_test_setup(disconnect_after_a_failed_send_sends_nothing, setup),
        cmocka_unit_test_setup(api_refuses_bad_arguments, setup),
        cmocka_unit_test_setup(tcp_send_errors_map_to_transport_statuses, setup),
    };
    return cmocka_run_group_tests_name("mqtt_client", tests, NULL, NULL);
}
