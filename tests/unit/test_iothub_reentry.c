/* The IoT Hub client when the application calls it from its callbacks
 * (brief REENTRY), and API misuse outside them: step, disconnect, restart,
 * telemetry, twin and method calls from inside C2D / twin / method /
 * acknowledgement / connection-event callbacks; a reply that would take the
 * room of the PUBACK still owed; a zeroed client; restart while connected.
 * Against an in-memory broker (the real MQTT codec on its side) and a fake
 * clock; checked: packets at the broker, connector calls, statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/client.h"
#include "iothub/dps_client.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"
#include "tma_ram_store.h"

#define IH(code) TMA_ERR(TMA_LAYER_IOTHUB, (code))

/* ---- outbox storage in RAM (tests/lib/tma_ram_store.h) ---------------- */
static struct tma_ram_store ram;

/* ---- broker ---------------------------------------------------------------- */
static uint64_t mono;
static uint64_t mono_ms(void *ctx)
{
    (void)ctx;
    return mono;
}

static struct {
    uint8_t in[16384];
    size_t in_len;
    uint8_t out[16384];
    size_t out_len;
    bool open, refuse_open, stall, no_puback;
    uint8_t connack_rc;
    int open_calls, close_calls, connects, disconnects, pubacks, io_after_close;
    char log[4096]; /* what the device sent: one line per packet */
    char last_type;  /* type letter of the last packet */
} bk;

static void bk_emit(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(bk.out, sizeof(bk.out), &bk.out_len, p, n));
}

/* One line per packet: "<kind> <a> <b>" (b may be empty). */
static void bk_log(char kind, struct tma_span a, struct tma_span b)
{
    size_t used = strlen(bk.log);
    snprintf(bk.log + used, sizeof(bk.log) - used, "%c %.*s %.*s\n", kind, (int)a.len,
             (const char *)a.ptr, (int)b.len, (const char *)b.ptr);
}

static void bk_parse(void)
{
    struct mqtt_packet pkt;
    uint8_t tmp[64];
    size_t n;
    struct tma_span none = {(const uint8_t *)"", 0};
    while (mqtt_packet_frame(bk.in, bk.in_len, &pkt) == TMA_OK) {
        if (pkt.type == MQTT_CONNECT) {
            struct mqtt_connack a = {false, bk.connack_rc};
            bk.connects++;
            bk.last_type = 'C';
            assert_int_equal(mqtt_encode_connack(&a, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PUBLISH) {
            struct mqtt_publish p;
            assert_int_equal(mqtt_decode_publish(&pkt, &p), TMA_OK);
            bk_log('P', p.topic, p.payload.len > 40 ? none : p.payload);
            bk.last_type = 'P';
            if (p.qos == 1 && !bk.no_puback) {
                assert_int_equal(mqtt_encode_ack(MQTT_PUBACK, p.packet_id, tmp, sizeof(tmp), &n), TMA_OK);
                bk_emit(tmp, n);
            }
        } else if (pkt.type == MQTT_SUBSCRIBE) {
            bk.last_type = 'S';
            /* each filter granted the QoS it asks for (2 at most) */
            assert_int_equal(tma_test_suback_for(&pkt, 2, tmp, sizeof(tmp), &n, NULL), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PUBACK) {
            uint16_t id = 0;
            char num[8];
            assert_int_equal(mqtt_decode_ack(&pkt, &id), TMA_OK);
            snprintf(num, sizeof(num), "%u", (unsigned)id);
            bk_log('A', (struct tma_span){(const uint8_t *)num, strlen(num)}, none);
            bk.pubacks++;
            bk.last_type = 'A';
        } else if (pkt.type == MQTT_DISCONNECT) {
            bk.disconnects++;
            bk.last_type = 'D';
        } else if (pkt.type == MQTT_PINGREQ) {
            assert_int_equal(mqtt_encode_empty(MQTT_PINGRESP, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
            bk.last_type = 'I';
        }
        memmove(bk.in, bk.in + pkt.size, bk.in_len - pkt.size);
        bk.in_len -= pkt.size;
    }
}

static int32_t t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!bk.open) {
        bk.io_after_close++;
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (bk.stall) return 0;
    assert_true(tma_test_queue_put(bk.in, sizeof(bk.in), &bk.in_len, buf, len));
    bk_parse();
    return (int32_t)len;
}

static int32_t t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!bk.open) {
        bk.io_after_close++;
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    return (int32_t)tma_test_queue_take(bk.out, &bk.out_len, buf, len);
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    bk.open_calls++;
    *used_key = false;
    assert_false(bk.open); /* never a second connection over a live one */
    if (bk.refuse_open) return TMA_ERR(TMA_LAYER_TLS, 0x45);
    bk.open = true;
    bk.in_len = bk.out_len = 0;
    *tr = (struct tma_transport){NULL, t_send, t_recv};
    return TMA_OK;
}
static void c_close(void *ctx)
{
    (void)ctx;
    bk.close_calls++;
    bk.open = false;
}

/* The hub sends a PUBLISH to the device. */
static void hub_publish(const char *topic, const char *body, uint8_t qos, uint16_t id)
{
    uint8_t tmp[512];
    size_t n = 0;
    assert_int_equal(tma_test_encode_publish(topic, body, qos, id, tmp, sizeof(tmp), &n), TMA_OK);
    bk_emit(tmp, n);
}

#define C2D(x) "devices/dev-01/messages/devicebound/" x

/* ---- client and application ------------------------------------------------ */
static struct iothub_client cl;
static struct iothub_outbox ob;
static uint8_t tx[2048], rx[2048], rec[512];
static char cred[512];
static struct mqtt_inflight infl[5];

enum act {
    A_NONE,
    A_STEP,
    A_DISCONNECT,
    A_CALLS,
    A_FILL,
    A_RESTART
};
static struct {
    enum act on_c2d, on_event, on_method, on_acked;
    int c2d, methods, twins, acked, connected, disconnected;
    char seen[4][32];
    bool view_intact;
    tma_status nested;
    tma_status calls[8];
    int depth, max_depth;
} app;

static void ev(void *u, enum iothub_event e, tma_status r)
{
    (void)u;
    (void)r;
    if (e == IOTHUB_EVENT_CONNECTED) app.connected++;
    if (e == IOTHUB_EVENT_DISCONNECTED) app.disconnected++;
    if (app.on_event == A_STEP && app.depth < 20) {
        app.depth++;
        if (app.depth > app.max_depth) app.max_depth = app.depth;
        app.nested = iothub_client_step(&cl);
        app.depth--;
    } else if (app.on_event == A_RESTART && e == IOTHUB_EVENT_CONNECTED) {
        iothub_client_restart(&cl);
    }
}

static struct tma_span sp(const char *s)
{
    struct tma_span r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static void c2d(void *u, struct tma_span bag, struct tma_span payload)
{
    char copy[32];
    (void)u;
    (void)bag;
    snprintf(copy, sizeof(copy), "%.*s", (int)payload.len, (const char *)payload.ptr);
    if (app.c2d < 4) snprintf(app.seen[app.c2d], sizeof(app.seen[0]), "%s", copy);
    app.c2d++;
    app.depth++;
    if (app.depth > app.max_depth) app.max_depth = app.depth;
    if (app.on_c2d == A_STEP && app.depth < 4) {
        app.nested = iothub_client_step(&cl);
        app.view_intact = payload.len == strlen(copy) && memcmp(payload.ptr, copy, payload.len) == 0;
    } else if (app.on_c2d == A_DISCONNECT) {
        iothub_client_disconnect(&cl);
    } else if (app.on_c2d == A_RESTART) {
        iothub_client_restart(&cl);
    } else if (app.on_c2d == A_CALLS) {
        uint32_t seq = 0, rid = 0;
        /* the C2D body itself (a view into the receive buffer) as telemetry */
        app.calls[0] = iothub_client_send_telemetry(&cl, NULL, 0, payload.ptr, payload.len, &seq);
        app.calls[1] = iothub_client_twin_get(&cl, &rid);
        app.calls[2] = iothub_client_twin_patch(&cl, sp("{\"fw\":\"2.0\"}"), &rid);
    } else if (app.on_c2d == A_FILL) {
        /* Reported patches of every size, largest first, until one fits:
         * the tx buffer then holds all that a callback may queue. */
        static char big[2100];
        size_t len;
        tma_status st = TMA_OK;
        app.calls[0] = TMA_OK;
        for (len = sizeof(big) - 1; len >= 8; len--) {
            memset(big, 'a', len);
            memcpy(big, "{\"k\":\"", 6);
            memcpy(big + len - 2, "\"}", 2);
            big[len] = '\0';
            st = iothub_client_twin_patch(&cl, sp(big), NULL);
            if (st == TMA_OK) break;
            app.calls[0] = st;
        }
        app.calls[1] = st;
    }
    app.depth--;
}

static void method(void *u, struct tma_span name, struct tma_span rid, struct tma_span payload)
{
    char rid_copy[16];
    (void)u;
    (void)name;
    (void)payload;
    app.methods++;
    snprintf(rid_copy, sizeof(rid_copy), "%.*s", (int)rid.len, (const char *)rid.ptr);
    if (app.on_method == A_CALLS) {
        app.calls[3] = iothub_client_method_respond(&cl, rid, 200, sp("{\"ok\":true}"));
        app.calls[4] = iothub_client_method_respond(&cl, rid, 200, sp("{\"again\":1}"));
        app.calls[5] = iothub_client_method_respond(&cl, sp("999"), 404, sp(""));
        app.calls[6] = iothub_client_method_respond(&cl, sp("1#"), 200, sp(""));
    }
}

static void twin(void *u, const struct iothub_twin_msg *m, struct tma_span payload)
{
    (void)u;
    (void)m;
    (void)payload;
    app.twins++;
}

static void acked(void *u, uint32_t seq)
{
    (void)u;
    app.acked++;
    if (app.on_acked == A_CALLS && seq < 3) {
        uint8_t b = (uint8_t)('a' + seq);
        app.calls[7] = iothub_client_send_telemetry(&cl, NULL, 0, &b, 1, NULL);
    }
}

static struct iothub_client_config cfg;

static void setup(uint32_t min_ms, uint32_t max_ms)
{
    struct iothub_storage st = tma_ram_store_init(&ram, 64, 256);
    memset(&bk, 0, sizeof(bk));
    memset(&app, 0, sizeof(app));
    mono = 1000000;
    assert_int_equal(iothub_outbox_init(&ob, &st, 40, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "hub.example";
    cfg.id.device_id = "dev-01";
    cfg.clock.now_ms = mono_ms;
    cfg.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    cfg.retry.min_ms = min_ms;
    cfg.retry.max_ms = max_ms;
    cfg.outbox = &ob;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, infl);
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    cfg.cb.on_event = ev;
    cfg.cb.on_c2d = c2d;
    cfg.cb.on_twin = twin;
    cfg.cb.on_method = method;
    cfg.cb.on_telemetry_acked = acked;
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

static void steps(int n)
{
    int i;
    for (i = 0; i < n; i++) {
        (void)iothub_client_step(&cl);
        mono += 100;
    }
}

static void connected(void)
{
    setup(0, 0);
    steps(3);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(app.connected, 1);
    bk.log[0] = '\0';
}

/* ---- tests ------------------------------------------------------------------- */

/* iothub_client_step() from on_c2d: refused with TMA_C_STATE; the message the
 * callback holds is not overwritten by the next one, messages arrive one
 * after the other, each acknowledged once, the connection stays. */
static void test_iothub_reentry_step_from_c2d_refused(void **state)
{
    (void)state;
    connected();
    hub_publish(C2D("k=v"), "first", 1, 11);
    hub_publish(C2D("k=v"), "second", 1, 12);
    app.on_c2d = A_STEP;
    assert_int_equal(iothub_client_step(&cl), TMA_OK);
    assert_int_equal(app.nested, IH(TMA_C_STATE));
    assert_true(app.view_intact);
    assert_int_equal(app.max_depth, 1);
    assert_int_equal(app.c2d, 2);
    assert_string_equal(app.seen[0], "first");
    assert_string_equal(app.seen[1], "second");
    assert_string_equal(bk.log, "A 11 \nA 12 \n");
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(app.disconnected, 0);
}

/* A C2D that arrives while iothub_client_disconnect() (called outside a
 * step) lets the queue drain: a step from its callback is refused too, so
 * DISCONNECT still goes, no DISCONNECTED event is made up and no retry is
 * scheduled (the nested step took the MQTT layer's refusal for a lost
 * connection, aborted it, closed the transport and emitted DISCONNECTED). */
static void test_iothub_reentry_step_from_c2d_during_disconnect(void **state)
{
    (void)state;
    connected();
    hub_publish(C2D(""), "late", 1, 51);
    app.on_c2d = A_STEP;
    iothub_client_disconnect(&cl);
    assert_int_equal(app.c2d, 1);
    assert_int_equal(app.nested, IH(TMA_C_STATE));
    assert_int_equal(app.disconnected, 0);
    assert_int_equal(bk.disconnects, 1);
    assert_int_equal(bk.close_calls, 1);
    assert_int_equal(bk.io_after_close, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    assert_true(iothub_client_next_attempt_in_ms(&cl) > 86400000u);
}

/* iothub_client_disconnect() from on_c2d: DISCONNECT is the last packet, the
 * transport is closed once and used no more, no retry is scheduled (the old
 * code read the closed transport, took the error for a lost connection and
 * reconnected after the back-off). restart() connects again. */
static void test_iothub_reentry_disconnect_from_c2d_stays_idle(void **state)
{
    (void)state;
    connected();
    hub_publish(C2D(""), "stop", 1, 5);
    hub_publish(C2D(""), "later", 1, 6);
    app.on_c2d = A_DISCONNECT;
    assert_int_equal(iothub_client_step(&cl), TMA_OK);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    assert_int_equal(bk.disconnects, 1);
    assert_int_equal(bk.last_type, 'D');
    assert_int_equal(bk.close_calls, 1);
    assert_int_equal(bk.io_after_close, 0);
    assert_int_equal(app.c2d, 1);
    assert_int_equal(app.disconnected, 0);
    mono += 3600u * 1000u;
    steps(50);
    assert_int_equal(bk.open_calls, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    assert_int_equal(bk.io_after_close, 0);
    app.on_c2d = A_NONE;
    iothub_client_restart(&cl);
    steps(3);
    assert_int_equal(bk.open_calls, 2);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* Telemetry, twin GET and PATCH from on_c2d, method responses from
 * on_method, telemetry from on_telemetry_acked: all work. The client keeps
 * no record of method requests: a second response and one for a $rid never
 * received are sent as asked (the hub drops them); a $rid that cannot be in
 * a topic is refused. */
static void test_iothub_reentry_calls_from_callbacks_work(void **state)
{
    (void)state;
    connected();
    app.on_c2d = A_CALLS;
    app.on_method = A_CALLS;
    app.on_acked = A_CALLS;
    hub_publish(C2D("$.mid=1"), "hello", 1, 21);
    hub_publish("$iothub/methods/POST/reboot/?$rid=7", "{}", 0, 0);
    steps(5);
    assert_int_equal(app.calls[0], TMA_OK);
    assert_int_equal(app.calls[1], TMA_OK);
    assert_int_equal(app.calls[2], TMA_OK);
    assert_int_equal(app.calls[3], TMA_OK);
    assert_int_equal(app.calls[4], TMA_OK);
    assert_int_equal(app.calls[5], TMA_OK);
    assert_int_equal(app.calls[6], TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM));
    assert_int_equal(app.calls[7], TMA_OK);
    /* telemetry 0 ("hello", the C2D body), then 1, 2 and 3 sent from the
     * ack callbacks of 0, 1 and 2: each once and in order */
    assert_string_equal(bk.log,
                        "P $iothub/twin/GET/?$rid=1 \n"
                        "P $iothub/twin/PATCH/properties/reported/?$rid=2 {\"fw\":\"2.0\"}\n"
                        "A 21 \n"
                        "P $iothub/methods/res/200/?$rid=7 {\"ok\":true}\n"
                        "P $iothub/methods/res/200/?$rid=7 {\"again\":1}\n"
                        "P $iothub/methods/res/404/?$rid=999 \n"
                        "P devices/dev-01/messages/events/ hello\n"
                        "P devices/dev-01/messages/events/ a\n"
                        "P devices/dev-01/messages/events/ b\n"
                        "P devices/dev-01/messages/events/ c\n");
    assert_int_equal(app.acked, 4);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A reply from on_c2d while the link takes nothing: the callback can queue
 * up to the PUBACK the C2D still needs, not over it (it took the last bytes
 * and the connection ended with TMA_C_INTERNAL, the C2D came back again). */
static void test_iothub_reentry_reply_keeps_puback_room(void **state)
{
    (void)state;
    connected();
    hub_publish(C2D(""), "x", 1, 31);
    bk.stall = true;
    app.on_c2d = A_FILL;
    assert_int_equal(iothub_client_step(&cl), TMA_OK);
    assert_int_equal(app.calls[0], TMA_WANT_WRITE);
    assert_int_equal(app.calls[1], TMA_OK);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    bk.stall = false;
    app.on_c2d = A_NONE;
    steps(2);
    assert_int_equal(bk.pubacks, 1);
    assert_int_equal(app.c2d, 1);
    assert_int_equal(app.disconnected, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* step() from on_event(DISCONNECTED) with a zero back-off and a connector
 * that always fails: refused, so one connect attempt per outer step instead
 * of a recursion as deep as the failures. */
static void test_iothub_reentry_step_from_event_no_recursion(void **state)
{
    (void)state;
    tma_status st;
    setup(0, 1); /* back-off 0..1 ms */
    bk.refuse_open = true;
    app.on_event = A_STEP;
    st = iothub_client_step(&cl);
    assert_int_equal(TMA_STATUS_LAYER(st), TMA_LAYER_TLS);
    assert_int_equal(app.nested, IH(TMA_C_STATE));
    assert_int_equal(app.max_depth, 1);
    assert_int_equal(bk.open_calls, 1);
    assert_int_equal(app.disconnected, 1);
}

/* restart() while connecting or connected (from a callback or not) changes
 * nothing: the old code opened a second connection over the live one and
 * then dropped it. */
static void test_iothub_reentry_restart_while_connected_ignored(void **state)
{
    (void)state;
    setup(0, 0);
    app.on_event = A_RESTART; /* restart() from on_event(CONNECTED) */
    steps(3);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    iothub_client_restart(&cl);
    app.on_c2d = A_RESTART;
    hub_publish(C2D(""), "r", 1, 41);
    steps(10);
    assert_int_equal(bk.open_calls, 1);
    assert_int_equal(bk.close_calls, 0);
    assert_int_equal(app.disconnected, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A zeroed client (init never called, or failed): every call refuses or
 * does nothing; none calls the missing clock, connector or storage. */
static void test_iothub_reentry_zeroed_client_refuses(void **state)
{
    static struct iothub_client z;
    static struct dps_client d;
    uint8_t b = 1;
    (void)state;
    memset(&z, 0, sizeof(z));
    memset(&d, 0, sizeof(d));
    assert_int_equal(iothub_client_step(&z), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_next_attempt_in_ms(&z), 0);
    iothub_client_restart(&z);
    assert_int_equal(iothub_client_step(&z), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_send_telemetry(&z, NULL, 0, &b, 1, NULL), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_twin_get(&z, NULL), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_method_respond(&z, sp("1"), 200, sp("")), IH(TMA_C_STATE));
    iothub_client_disconnect(&z);
    assert_int_equal(iothub_client_step(&z), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_state(&z), IOTHUB_STATE_IDLE);
    assert_int_equal(dps_client_step(&d), TMA_ERR(TMA_LAYER_DPS, TMA_C_STATE));
    dps_client_close(&d);
}

/* After the application's disconnect, steps do nothing (no connector call)
 * until restart(); telemetry is still stored and goes after it. */
static void test_iothub_reentry_after_disconnect(void **state)
{
    uint8_t b = 'z';
    (void)state;
    connected();
    iothub_client_disconnect(&cl);
    assert_int_equal(bk.disconnects, 1);
    iothub_client_disconnect(&cl); /* twice: nothing more */
    assert_int_equal(bk.close_calls, 1);
    assert_int_equal(iothub_client_twin_get(&cl, NULL), IH(TMA_C_STATE));
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, &b, 1, NULL), TMA_OK);
    mono += 86400000u;
    steps(20);
    assert_int_equal(bk.open_calls, 1);
    iothub_client_restart(&cl);
    steps(3);
    assert_int_equal(bk.open_calls, 2);
    assert_string_equal(bk.log, "P devices/dev-01/messages/events/ z\n");
}

/* A new init (say, for a new configuration) over an outbox whose messages
 * an earlier client handed to MQTT without seeing their PUBACK: they are
 * sent again (they stayed stored, counted against the capacity and unsent
 * until the process restarted). */
static void test_iothub_reentry_reinit_resends_unacked(void **state)
{
    uint8_t b[3] = {'x', 'y', 'z'};
    int i;
    (void)state;
    connected();
    bk.no_puback = true;
    for (i = 0; i < 3; i++) {
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, &b[i], 1, NULL), TMA_OK);
    }
    steps(2);
    assert_string_equal(bk.log, "P devices/dev-01/messages/events/ x\n"
                                "P devices/dev-01/messages/events/ y\n"
                                "P devices/dev-01/messages/events/ z\n");
    iothub_client_disconnect(&cl);
    bk.no_puback = false;
    bk.log[0] = '\0';
    cfg.keep_alive_s = 120; /* the new configuration */
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
    steps(5);
    assert_string_equal(bk.log, "P devices/dev-01/messages/events/ x\n"
                                "P devices/dev-01/messages/events/ y\n"
                                "P devices/dev-01/messages/events/ z\n");
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(app.acked, 3);
}

/* dps_client_step() from the DPS client's on_event: refused, as
 * iothub_client_step() is from a hub client's callbacks (without this, the
 * nested DPS step in on_event(AUTH_FAILED) took its hub client's refusal,
 * TMA_C_STATE, for the end of the registration and the application got that
 * instead of CONNACK 5). The registration ends with CONNACK 5. */
static struct dps_client dps;
static tma_status dps_nested;
static void dps_ev(void *u, enum iothub_event e, tma_status r)
{
    (void)u;
    (void)e;
    (void)r;
    dps_nested = dps_client_step(&dps);
}

static void test_iothub_reentry_dps_step_from_event_refused(void **state)
{
    struct dps_client_config dc;
    tma_status st = TMA_IN_PROGRESS;
    int i;
    (void)state;
    setup(0, 0);
    bk.connack_rc = 5;
    memset(&dc, 0, sizeof(dc));
    dc.id_scope = "0ne00000001";
    dc.registration_id = "dev-01";
    dc.conn = cfg;
    dc.conn.cb.on_event = dps_ev;
    assert_int_equal(dps_client_init(&dps, &dc), TMA_OK);
    for (i = 0; i < 10 && st == TMA_IN_PROGRESS; i++) {
        st = dps_client_step(&dps);
        mono += 100;
    }
    assert_int_equal(st, MQTT_E_CONNACK_NOT_AUTHORIZED);
    assert_int_equal(dps_nested, TMA_ERR(TMA_LAYER_DPS, TMA_C_STATE));
    assert_int_equal(bk.open_calls, 1);
}

/* The clock jumps 2^32 ms. The glue uses only the clock's low 32 bits
 * (include/iothub/client.h, brief CLK13), so a jump of exactly 2^32 is no
 * time at all: connected, nothing happens; idle after a lost connection,
 * the wait for the next attempt is neither cut short nor stretched. */
static void test_iothub_reentry_clock_jump_2e32(void **state)
{
    uint64_t wait;
    (void)state;
    connected();
    mono += 1ull << 32;
    steps(3);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.open_calls, 1);
    bk.open = false; /* the link drops, and the next connect fails: back-off */
    bk.refuse_open = true;
    steps(1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    wait = iothub_client_next_attempt_in_ms(&cl);
    assert_true(wait > 0 && wait <= 6000);
    mono += 1ull << 32;
    assert_int_equal(iothub_client_next_attempt_in_ms(&cl), wait);
    mono += wait;
    steps(1);
    assert_int_equal(bk.open_calls, 2);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    bk.refuse_open = false;
    mono += iothub_client_next_attempt_in_ms(&cl);
    steps(3);
    assert_int_equal(bk.open_calls, 3);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iothub_reentry_step_from_c2d_refused),
        cmocka_unit_test(test_iothub_reentry_disconnect_from_c2d_stays_idle),
        cmocka_unit_test(test_iothub_reentry_step_from_c2d_during_disconnect),
        cmocka_unit_test(test_iothub_reentry_calls_from_callbacks_work),
        cmocka_unit_test(test_iothub_reentry_reply_keeps_puback_room),
        cmocka_unit_test(test_iothub_reentry_step_from_event_no_recursion),
        cmocka_unit_test(test_iothub_reentry_restart_while_connected_ignored),
        cmocka_unit_test(test_iothub_reentry_zeroed_client_refuses),
        cmocka_unit_test(test_iothub_reentry_after_disconnect),
        cmocka_unit_test(test_iothub_reentry_reinit_resends_unacked),
        cmocka_unit_test(test_iothub_reentry_dps_step_from_event_refused),
        cmocka_unit_test(test_iothub_reentry_clock_jump_2e32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
