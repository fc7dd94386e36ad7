/* The MQTT client when its own callbacks call it back (brief REENTRY):
 * mqtt_client_process() from on_publish / on_puback / resend, a publish
 * that would take the room of the PUBACK still owed, a disconnect from
 * inside a delivery, and calls on a zeroed client. Driven through an
 * in-memory transport and a fake clock; what is checked is the bytes on
 * the "wire", the views the callback holds and the statuses returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/client.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"

#define MQ(code) TMA_ERR(TMA_LAYER_MQTT, (code))

/* ---- wire ------------------------------------------------------------------ */
static struct {
    uint8_t in[4096]; /* server -> client */
    size_t in_len, in_pos;
    uint8_t out[8192]; /* client -> server */
    size_t out_len;
    bool stall;        /* send takes nothing (0: try again) */
    bool closed;       /* the application closed the transport */
    int io_after_close;
} w;

/* True (and counted) when the client does I/O after the application closed
 * the transport. */
static bool io_after_close(void)
{
    if (w.closed) {
        w.io_after_close++;
    }
    return w.closed;
}

static int32_t w_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (io_after_close()) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (w.stall) {
        return 0;
    }
    assert_true(tma_test_queue_put(w.out, sizeof(w.out), &w.out_len, buf, len));
    return (int32_t)len;
}

static int32_t w_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (io_after_close()) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    return (int32_t)tma_test_read_from(w.in, w.in_len, &w.in_pos, buf, len);
}

static void push(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(w.in, sizeof(w.in), &w.in_len, p, n));
}

static void push_publish(const char *topic, const char *body, uint8_t qos, uint16_t id)
{
    uint8_t tmp[512];
    size_t n = 0;
    assert_int_equal(tma_test_encode_publish(topic, body, qos, id, tmp, sizeof(tmp), &n), TMA_OK);
    push(tmp, n);
}

static void push_puback(uint16_t id)
{
    uint8_t tmp[8];
    size_t n = 0;
    assert_int_equal(mqtt_encode_ack(MQTT_PUBACK, id, tmp, sizeof(tmp), &n), TMA_OK);
    push(tmp, n);
}

/* Packets the client sent, by type, in order: "C" CONNECT, "P" PUBLISH,
 * "A" PUBACK, "D" DISCONNECT, "I" PINGREQ; anything else '?'. */
static void wire_types(char *out, size_t cap)
{
    size_t pos = 0, k = 0;
    struct mqtt_packet pkt;
    while (k + 1 < cap && mqtt_packet_frame(w.out + pos, w.out_len - pos, &pkt) == TMA_OK) {
        out[k++] = pkt.type == MQTT_CONNECT      ? 'C'
                   : pkt.type == MQTT_PUBLISH    ? 'P'
                   : pkt.type == MQTT_PUBACK     ? 'A'
                   : pkt.type == MQTT_DISCONNECT ? 'D'
                   : pkt.type == MQTT_PINGREQ    ? 'I'
                                                 : '?';
        pos += pkt.size;
    }
    out[k] = '\0';
}

static uint64_t now;

/* ---- client and application ----------------------------------------------- */
static struct mqtt_client mc;
static uint8_t txb[256], rxb[512];
static struct mqtt_inflight slots[4];

enum action { ACT_NONE, ACT_PROCESS, ACT_PUBLISH_FILL, ACT_DISCONNECT, ACT_ABORT_CONNECT, ACT_FILL_DISCONNECT };
static struct {
    enum action act;
    int delivered;
    char seen[4][32];          /* payloads in delivery order */
    tma_status nested;         /* what the nested call returned */
    bool view_intact;          /* the payload view after the nested call */
    int pubacks;
    int resends;
    int depth, max_depth;
    tma_status fill_last;      /* status of the publish that did not fit */
} app;

static void check_view(const struct mqtt_publish *m, const char *before)
{
    app.view_intact = m->payload.len == strlen(before) && memcmp(m->payload.ptr, before, m->payload.len) == 0;
}

static tma_status on_pub(void *user, const struct mqtt_publish *m)
{
    char copy[32];
    (void)user;
    snprintf(copy, sizeof(copy), "%.*s", (int)m->payload.len, (const char *)m->payload.ptr);
    if (app.delivered < 4) {
        snprintf(app.seen[app.delivered], sizeof(app.seen[0]), "%s", copy);
    }
    app.delivered++;
    app.depth++;
    if (app.depth > app.max_depth) {
        app.max_depth = app.depth;
    }
    if (app.act == ACT_PROCESS && app.depth < 4) {
        app.nested = mqtt_client_process(&mc);
        check_view(m, copy);
    } else if (app.act == ACT_PUBLISH_FILL || app.act == ACT_FILL_DISCONNECT) {
        /* QoS 0 replies of every size, largest first, until one fits: the
         * tx buffer then holds as much as the client lets a callback queue. */
        struct mqtt_publish r;
        static uint8_t body[256];
        size_t len;
        memset(&r, 0, sizeof(r));
        r.topic.ptr = (const uint8_t *)"r";
        r.topic.len = 1;
        r.payload.ptr = body;
        app.fill_last = TMA_OK;
        for (len = sizeof(body); len > 0; len--) {
            tma_status st;
            r.payload.len = len;
            st = mqtt_client_publish(&mc, &r, 0, NULL);
            if (st == TMA_OK) {
                break;
            }
            app.fill_last = st;
        }
        assert_true(len > 0);
        if (app.act == ACT_FILL_DISCONNECT) {
            app.nested = mqtt_client_disconnect(&mc); /* the link still takes nothing */
        }
    } else if (app.act == ACT_DISCONNECT) {
        app.nested = mqtt_client_disconnect(&mc);
        w.closed = true; /* the application closes its transport right away */
    } else if (app.act == ACT_ABORT_CONNECT) {
        struct tma_transport tr = {NULL, w_send, w_recv};
        struct mqtt_connect o;
        memset(&o, 0, sizeof(o));
        o.client_id.ptr = (const uint8_t *)"c";
        o.client_id.len = 1;
        mqtt_client_abort(&mc);
        app.nested = mqtt_client_connect(&mc, &tr, &o);
    }
    app.depth--;
    return TMA_OK;
}

static void on_ack(void *user, uint16_t id, uint32_t tag)
{
    (void)user;
    (void)id;
    (void)tag;
    app.pubacks++;
    if (app.act == ACT_PROCESS && app.depth < 4) {
        app.depth++;
        app.nested = mqtt_client_process(&mc);
        app.depth--;
    }
}

static tma_status on_resend(void *user, uint16_t id, uint32_t tag, struct mqtt_publish *out)
{
    (void)user;
    (void)id;
    (void)tag;
    app.resends++;
    if (app.act == ACT_DISCONNECT) {
        app.nested = mqtt_client_disconnect(&mc);
        w.closed = true;
    }
    if (app.act == ACT_PROCESS && app.depth < 4) {
        app.depth++;
        app.nested = mqtt_client_process(&mc);
        app.depth--;
    }
    out->topic.ptr = (const uint8_t *)"t";
    out->topic.len = 1;
    return TMA_OK;
}

static void connect_client(void)
{
    struct mqtt_client_config cfg;
    struct tma_transport tr = {NULL, w_send, w_recv};
    struct mqtt_connect o;
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    memset(&w, 0, sizeof(w));
    memset(&app, 0, sizeof(app));
    now = 5000;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock.now_ms = tma_test_clock_ms;
    cfg.clock.ctx = &now;
    TMA_TEST_CFG_BUFFERS(cfg, txb, rxb, slots);
    cfg.cb.on_publish = on_pub;
    cfg.cb.on_puback = on_ack;
    cfg.cb.resend = on_resend;
    assert_int_equal(mqtt_client_init(&mc, &cfg), TMA_OK);
    memset(&o, 0, sizeof(o));
    o.client_id.ptr = (const uint8_t *)"dev";
    o.client_id.len = 3;
    o.keep_alive_s = 60;
    assert_int_equal(mqtt_client_connect(&mc, &tr, &o), TMA_IN_PROGRESS);
    push(connack, sizeof(connack));
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_CONNECTED);
}

/* Publishes @p count QoS 1 messages on "t" (tags 1, 2, ...; their packet ids
 * to @p ids unless NULL), then the connection is lost and a new one starts:
 * the wire capture is cleared and the CONNACK waits to be read. */
static void publish_then_reconnect(size_t count, uint16_t *ids)
{
    struct mqtt_publish p;
    struct tma_transport tr = {NULL, w_send, w_recv};
    struct mqtt_connect o;
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    size_t i;
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)"t";
    p.topic.len = 1;
    p.qos = 1;
    for (i = 0; i < count; i++) {
        assert_int_equal(mqtt_client_publish(&mc, &p, (uint32_t)(i + 1), ids != NULL ? &ids[i] : NULL), TMA_OK);
    }
    mqtt_client_abort(&mc);
    memset(&o, 0, sizeof(o));
    o.client_id.ptr = (const uint8_t *)"dev";
    o.client_id.len = 3;
    w.out_len = 0;
    assert_int_equal(mqtt_client_connect(&mc, &tr, &o), TMA_IN_PROGRESS);
    push(connack, sizeof(connack));
}

/* ---- tests ---------------------------------------------------------------- */

/* A nested process() from on_publish is refused: it would take the next
 * packet out of the stream and move it over the bytes the outer callback's
 * views point at, and deliver the messages inside one another. */
static void test_mqtt_reentry_process_from_on_publish_refused(void **state)
{
    char types[16];
    (void)state;
    connect_client();
    push_publish("a/b", "first", 1, 7);
    push_publish("a/b", "second", 1, 8);
    app.act = ACT_PROCESS;
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(app.nested, MQ(TMA_C_STATE));
    assert_true(app.view_intact);
    assert_int_equal(app.max_depth, 1);
    assert_int_equal(app.delivered, 2);
    assert_string_equal(app.seen[0], "first");
    assert_string_equal(app.seen[1], "second");
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_CONNECTED);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CAA"); /* each acknowledged once, in order */
}

/* on_puback and resend: a nested process() is refused too; each slot is
 * asked for once, not again by the nested step. */
static void test_mqtt_reentry_process_from_puback_and_resend_refused(void **state)
{
    uint16_t ids[2] = {0, 0};
    char types[16];
    (void)state;
    connect_client();
    /* connection lost, a new one: both go again with DUP through resend */
    publish_then_reconnect(2, ids);
    app.act = ACT_PROCESS;
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(app.nested, MQ(TMA_C_STATE));
    assert_int_equal(app.resends, 2);
    assert_int_equal(mqtt_client_retransmit_count(&mc), 2);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CPP");
    app.nested = TMA_OK;
    push_puback(ids[0]);
    push_puback(ids[1]);
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(app.nested, MQ(TMA_C_STATE));
    assert_int_equal(app.pubacks, 2);
    assert_int_equal(mqtt_client_inflight_publishes(&mc), 0);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_CONNECTED);
}

/* A publish from on_publish while the transport takes nothing: the callback
 * may fill the tx buffer only up to the PUBACK still owed for the message it
 * was given; that PUBACK is queued and the connection stays (it ended with
 * TMA_C_INTERNAL when the callback took the last bytes). */
static void test_mqtt_reentry_publish_from_callback_keeps_puback_room(void **state)
{
    char types[16];
    (void)state;
    connect_client();
    push_publish("c2d", "x", 1, 9);
    w.stall = true;
    app.act = ACT_PUBLISH_FILL;
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(app.delivered, 1);
    assert_int_equal(app.fill_last, TMA_WANT_WRITE);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_CONNECTED);
    /* the link moves again: the reply, then the PUBACK */
    w.stall = false;
    app.act = ACT_NONE;
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CPA");
    assert_int_equal(app.delivered, 1);
}

/* mqtt_client_disconnect() from on_publish: DISCONNECT is the last packet on
 * the wire, and the step neither reads nor writes the transport the
 * application closed after it. */
static void test_mqtt_reentry_disconnect_from_on_publish_stops_io(void **state)
{
    char types[16];
    (void)state;
    connect_client();
    push_publish("c2d", "bye", 1, 3);
    push_publish("c2d", "never", 1, 4);
    app.act = ACT_DISCONNECT;
    assert_int_equal(mqtt_client_process(&mc), MQ(TMA_C_STATE));
    assert_int_equal(app.nested, TMA_OK);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_DISCONNECTED);
    assert_int_equal(mqtt_client_last_error(&mc), TMA_OK);
    assert_int_equal(w.io_after_close, 0);
    assert_int_equal(app.delivered, 1);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CD"); /* "bye" is not acknowledged: redelivered */
    assert_int_equal(mqtt_client_process(&mc), MQ(TMA_C_STATE));
    assert_int_equal(w.io_after_close, 0);
}

/* mqtt_client_disconnect() from resend: the retransmission is not queued,
 * the slot stays for the next connection, no I/O after the DISCONNECT. */
static void test_mqtt_reentry_disconnect_from_resend_keeps_slot(void **state)
{
    char types[16];
    (void)state;
    connect_client();
    publish_then_reconnect(1, NULL);
    app.act = ACT_DISCONNECT;
    assert_int_equal(mqtt_client_process(&mc), MQ(TMA_C_STATE));
    assert_int_equal(app.nested, TMA_OK);
    assert_int_equal(app.resends, 1);
    assert_int_equal(w.io_after_close, 0);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CD");
    assert_int_equal(mqtt_client_inflight_publishes(&mc), 1);
    assert_int_equal(mqtt_client_retransmit_count(&mc), 0);
}

/* abort + connect from a callback: connect is refused (the step still holds
 * the receive stream), nothing more goes to the transport. */
static void test_mqtt_reentry_connect_from_callback_refused(void **state)
{
    (void)state;
    connect_client();
    push_publish("c2d", "x", 0, 0);
    app.act = ACT_ABORT_CONNECT;
    w.out_len = 0;
    assert_int_equal(mqtt_client_process(&mc), MQ(TMA_C_STATE));
    assert_int_equal(app.nested, MQ(TMA_C_STATE));
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_DISCONNECTED);
    assert_int_equal(w.out_len, 0);
}

/* A zeroed (never initialised) client: every call refuses, none reads the
 * missing clock or calls a missing transport. */
static void test_mqtt_reentry_zeroed_client_refuses(void **state)
{
    struct mqtt_client z;
    struct mqtt_publish p;
    (void)state;
    memset(&z, 0, sizeof(z));
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)"t";
    p.topic.len = 1;
    assert_int_equal(mqtt_client_process(&z), MQ(TMA_C_STATE));
    assert_int_equal(mqtt_client_flush(&z, 10), MQ(TMA_C_STATE));
    assert_int_equal(mqtt_client_wait_ack(&z, 1, 10), MQ(TMA_C_STATE));
    assert_int_equal(mqtt_client_publish(&z, &p, 0, NULL), MQ(TMA_C_STATE));
    assert_int_equal(mqtt_client_disconnect(&z), MQ(TMA_C_STATE));
    {
        struct tma_transport tr = {NULL, w_send, w_recv};
        struct mqtt_connect o;
        memset(&o, 0, sizeof(o));
        o.client_id.ptr = (const uint8_t *)"c";
        o.client_id.len = 1;
        memset(&w, 0, sizeof(w));
        assert_true(mqtt_client_connect(&z, &tr, &o) < 0); /* no tx buffer */
        assert_int_equal(w.out_len, 0);
    }
    mqtt_client_abort(&z);
    mqtt_client_cork(&z, false);
    assert_int_equal(mqtt_client_state(&z), MQTT_STATE_DISCONNECTED);
}

/* The clock: a step backwards counts as no time (brief CLK14; it used to
 * count as 2^32 - 1 ms: an early PINGREQ), a jump of exactly 2^32 ms as
 * none either; neither hangs or crashes, the keep-alive then pings 60 s of
 * clock later, and the PINGRESP timer still ends a silent link. */
static void test_mqtt_reentry_clock_backwards_and_wrap(void **state)
{
    char types[16];
    (void)state;
    connect_client();
    now -= 3000; /* backwards */
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "C");
    now += 1ull << 32; /* looks like no time at all to the 32-bit timers */
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    now += 59999;
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "C");
    now += 1; /* 60 s of clock since the CONNACK, the step back not counted */
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "CI");
    now += 30000; /* no PINGRESP for ping_timeout_ms */
    assert_int_equal(mqtt_client_process(&mc), MQTT_E_KEEPALIVE_TIMEOUT);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_DISCONNECTED);
}

/* The callback fills the tx buffer on a link that takes nothing, then
 * disconnects: the DISCONNECT takes room the PUBACK was kept in (COV14 item
 * 5: on_incoming_publish() then cannot queue it). The step ends with
 * TMA_C_STATE, not an error: the application ended the connection, and
 * last_error stays OK. Nothing queued for the old connection (the reply,
 * DISCONNECT, a PUBACK) goes out on the next one, which starts with its
 * CONNECT; the unacknowledged message is the broker's to send again. */
static void test_mqtt_reentry_fill_then_disconnect_leaves_nothing_for_next_connection(void **state)
{
    struct tma_transport tr = {NULL, w_send, w_recv};
    struct mqtt_connect o;
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    char types[16];
    (void)state;
    connect_client();
    push_publish("c2d", "x", 1, 9);
    w.stall = true;
    app.act = ACT_FILL_DISCONNECT;
    assert_int_equal(mqtt_client_process(&mc), MQ(TMA_C_STATE));
    assert_int_equal(app.nested, TMA_OK);
    assert_int_equal(app.delivered, 1);
    assert_int_equal(mqtt_client_state(&mc), MQTT_STATE_DISCONNECTED);
    assert_int_equal(mqtt_client_last_error(&mc), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "C");
    w.stall = false;
    w.out_len = 0;
    app.act = ACT_NONE;
    memset(&o, 0, sizeof(o));
    o.client_id.ptr = (const uint8_t *)"dev";
    o.client_id.len = 3;
    assert_int_equal(mqtt_client_connect(&mc, &tr, &o), TMA_IN_PROGRESS);
    push(connack, sizeof(connack));
    assert_int_equal(mqtt_client_process(&mc), TMA_OK);
    assert_int_equal(mqtt_client_flush(&mc, 0), TMA_OK);
    wire_types(types, sizeof(types));
    assert_string_equal(types, "C");
    assert_int_equal(w.out[0], 0x10); /* the first byte on the new link is CONNECT's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_reentry_process_from_on_publish_refused),
        cmocka_unit_test(test_mqtt_reentry_process_from_puback_and_resend_refused),
        cmocka_unit_test(test_mqtt_reentry_publish_from_callback_keeps_puback_room),
        cmocka_unit_test(test_mqtt_reentry_disconnect_from_on_publish_stops_io),
        cmocka_unit_test(test_mqtt_reentry_disconnect_from_resend_keeps_slot),
        cmocka_unit_test(test_mqtt_reentry_connect_from_callback_refused),
        cmocka_unit_test(test_mqtt_reentry_zeroed_client_refuses),
        cmocka_unit_test(test_mqtt_reentry_clock_backwards_and_wrap),
        cmocka_unit_test(test_mqtt_reentry_fill_then_disconnect_leaves_nothing_for_next_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
