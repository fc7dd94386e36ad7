/* The IoT Hub client when the transport fails on the send side (COV14
 * item 4: every network fault test cut the receive side): the CONNECT
 * cannot be sent, a telemetry PUBLISH cannot be sent, and
 * iothub_client_disconnect() on a link that takes nothing. Against an
 * in-memory broker (the real MQTT codec on its side) and a fake clock;
 * checked: packets at the broker, connector calls, events, statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/client.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"
#include "tma_ram_store.h"

#define CLOSED TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED)

static uint64_t mono;
static uint64_t mono_ms(void *ctx)
{
    (void)ctx;
    return mono;
}

/* ---- broker ---------------------------------------------------------------- */
static struct {
    uint8_t in[8192];
    size_t in_len;
    uint8_t out[8192];
    size_t out_len;
    bool open;
    bool stall;           /* send takes nothing; each try costs 10 ms of clock */
    unsigned sends;       /* send calls on the current connection */
    unsigned fail_send;   /* that send (1 = the first) of the next connection fails */
    int open_calls, close_calls, connects, disconnects;
    char log[2048];       /* telemetry payloads the broker received, one per line */
} bk;

static void bk_emit(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(bk.out, sizeof(bk.out), &bk.out_len, p, n));
}

static void bk_parse(void)
{
    struct mqtt_packet pkt;
    uint8_t tmp[64];
    size_t n;
    while (mqtt_packet_frame(bk.in, bk.in_len, &pkt) == TMA_OK) {
        if (pkt.type == MQTT_CONNECT) {
            struct mqtt_connack a = {false, 0};
            bk.connects++;
            assert_int_equal(mqtt_encode_connack(&a, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PUBLISH) {
            struct mqtt_publish p;
            size_t used = strlen(bk.log);
            assert_int_equal(mqtt_decode_publish(&pkt, &p), TMA_OK);
            snprintf(bk.log + used, sizeof(bk.log) - used, "%.*s\n", (int)p.payload.len,
                     (const char *)p.payload.ptr);
            if (p.qos == 1) {
                assert_int_equal(mqtt_encode_ack(MQTT_PUBACK, p.packet_id, tmp, sizeof(tmp), &n), TMA_OK);
                bk_emit(tmp, n);
            }
        } else if (pkt.type == MQTT_SUBSCRIBE) {
            assert_int_equal(tma_test_suback_for(&pkt, 1, tmp, sizeof(tmp), &n, NULL), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_DISCONNECT) {
            bk.disconnects++;
        }
        memmove(bk.in, bk.in + pkt.size, bk.in_len - pkt.size);
        bk.in_len -= pkt.size;
    }
}

static int32_t t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    assert_true(bk.open); /* never I/O on a closed transport */
    if (++bk.sends == bk.fail_send) {
        bk.fail_send = 0;
        return CLOSED; /* the peer reset the connection */
    }
    if (bk.stall) {
        mono += 10;
        return 0;
    }
    assert_true(tma_test_queue_put(bk.in, sizeof(bk.in), &bk.in_len, buf, len));
    bk_parse();
    return (int32_t)len;
}

static int32_t t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    assert_true(bk.open);
    return (int32_t)tma_test_queue_take(bk.out, &bk.out_len, buf, len);
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    bk.open_calls++;
    *used_key = false;
    assert_false(bk.open); /* never a second connection over a live one */
    bk.open = true;
    bk.in_len = bk.out_len = 0;
    bk.sends = 0;
    *tr = (struct tma_transport){NULL, t_send, t_recv};
    return TMA_OK;
}

static void c_close(void *ctx)
{
    (void)ctx;
    bk.close_calls++;
    bk.open = false;
}

/* ---- client and application ------------------------------------------------ */
static struct iothub_client cl;
static struct iothub_outbox ob;
static struct tma_ram_store ram;
static uint8_t tx[1024], rx[1024], rec[512];
static char cred[512];
static struct mqtt_inflight infl[4];
static struct iothub_client_config cfg;

static struct {
    int connected, disconnected, acked;
    tma_status last_reason;
} app;

static void ev(void *u, enum iothub_event e, tma_status r)
{
    (void)u;
    if (e == IOTHUB_EVENT_CONNECTED) {
        app.connected++;
    }
    if (e == IOTHUB_EVENT_DISCONNECTED) {
        app.disconnected++;
        app.last_reason = r;
    }
}

static void acked(void *u, uint32_t seq)
{
    (void)u;
    (void)seq;
    app.acked++;
}

static void setup_client(void)
{
    struct iothub_storage st = tma_ram_store_init(&ram, 16, 256);
    memset(&bk, 0, sizeof(bk));
    memset(&app, 0, sizeof(app));
    mono = 1000000;
    assert_int_equal(iothub_outbox_init(&ob, &st, 16, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "hub.example";
    cfg.id.device_id = "dev-01";
    cfg.clock.now_ms = mono_ms;
    cfg.subscriptions = IOTHUB_SUB_C2D;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    cfg.retry.min_ms = 2000;
    cfg.retry.max_ms = 4000;
    cfg.outbox = &ob;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, infl);
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    cfg.cb.on_event = ev;
    cfg.cb.on_telemetry_acked = acked;
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

/* Steps every 100 ms until connected, at most @p max steps. */
static void step_until_connected(int max)
{
    int i;
    for (i = 0; i < max && iothub_client_state(&cl) != IOTHUB_STATE_CONNECTED; i++) {
        (void)iothub_client_step(&cl);
        mono += 100;
    }
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* ---- tests ------------------------------------------------------------------- */

/* The CONNECT cannot be sent (start_connect()): the step returns the
 * transport's status, the attempt is over (transport closed once, a
 * DISCONNECTED event with that reason, idle with a back-off), nothing is
 * tried before the back-off ends, and the next attempt connects. */
static void test_iothub_sendfail_connect_not_sent_retries_after_backoff(void **state)
{
    uint64_t wait;
    int i;
    (void)state;
    setup_client();
    bk.fail_send = 1;
    assert_int_equal(iothub_client_step(&cl), CLOSED);
    assert_int_equal(bk.open_calls, 1);
    assert_int_equal(bk.close_calls, 1);
    assert_false(bk.open);
    assert_int_equal(bk.connects, 0);
    assert_int_equal(app.disconnected, 1);
    assert_int_equal(app.last_reason, CLOSED);
    assert_int_equal(iothub_client_last_reason(&cl), CLOSED);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    wait = iothub_client_next_attempt_in_ms(&cl);
    assert_true(wait > 0 && wait <= 4000);
    for (i = 0; (uint64_t)(i + 1) * 100u < wait; i++) {
        mono += 100;
        assert_int_equal(iothub_client_step(&cl), TMA_OK);
    }
    assert_int_equal(bk.open_calls, 1);
    mono += 100;
    step_until_connected(10);
    assert_int_equal(bk.open_calls, 2);
    assert_int_equal(bk.connects, 1);
    assert_int_equal(app.connected, 1);
    assert_int_equal(iothub_client_stats(&cl).connect_attempts, 2);
}

/* A telemetry PUBLISH cannot be sent (the send inside the outbox pump
 * fails): the connection is lost, the transport closed once, and after the
 * back-off the message is sent from the outbox and acknowledged: the broker
 * receives it once. */
static void test_iothub_sendfail_telemetry_not_sent_goes_after_reconnect(void **state)
{
    uint32_t seq = 0;
    int i;
    (void)state;
    setup_client();
    step_until_connected(10);
    bk.fail_send = bk.sends + 1; /* the next send: the telemetry */
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"t-1", 3, &seq), TMA_OK);
    for (i = 0; i < 5 && app.disconnected == 0; i++) {
        (void)iothub_client_step(&cl);
        mono += 100;
    }
    assert_int_equal(app.disconnected, 1);
    assert_int_equal(app.last_reason, CLOSED);
    assert_int_equal(bk.close_calls, 1);
    assert_string_equal(bk.log, "");
    assert_int_equal(app.acked, 0);
    mono += 4000;
    step_until_connected(10);
    for (i = 0; i < 5 && app.acked == 0; i++) {
        (void)iothub_client_step(&cl);
        mono += 100;
    }
    assert_int_equal(app.acked, 1);
    assert_string_equal(bk.log, "t-1\n");
    assert_int_equal(bk.open_calls, 2);
}

/* iothub_client_disconnect() on a link that takes nothing: the flush and
 * the DISCONNECT each give up after their 1 s (mqtt_flush() TIMEOUT),
 * the transport is closed and the client stays idle. */
static void test_iothub_sendfail_disconnect_on_stalled_link_is_bounded(void **state)
{
    uint64_t start;
    (void)state;
    setup_client();
    step_until_connected(10);
    bk.stall = true;
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"late", 4, NULL), TMA_OK);
    (void)iothub_client_step(&cl); /* queued, not taken */
    start = mono;
    iothub_client_disconnect(&cl);
    assert_true(mono - start >= 1000);
    assert_true(mono - start <= 2200);
    assert_int_equal(bk.close_calls, 1);
    assert_int_equal(bk.disconnects, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    mono += 3600u * 1000u;
    assert_int_equal(iothub_client_step(&cl), TMA_OK);
    assert_int_equal(bk.open_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iothub_sendfail_connect_not_sent_retries_after_backoff),
        cmocka_unit_test(test_iothub_sendfail_telemetry_not_sent_goes_after_reconnect),
        cmocka_unit_test(test_iothub_sendfail_disconnect_on_stalled_link_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
