/* A silent link (nothing arrives, nothing is closed) is noticed by the
 * keep-alive: the IoT client sends PINGREQ after keep-alive seconds without
 * traffic and ends the connection when no PINGRESP comes within half the
 * keep-alive (at most 30 s), so a dead link is found within 1.5 x keep-alive,
 * the bound IoT Hub itself applies (network-faults.md, "Silent link"). A
 * fake broker answers CONNECT and PINGREQ until the test makes it silent;
 * the clock is the test's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/client.h"

static uint64_t mono;
static uint64_t mono_ms(void *ctx) { (void)ctx; return mono; }

static struct {
    bool open, silent;
    uint8_t in[4096];
    size_t in_len;
    uint8_t out[256];
    size_t out_len;
    int pings;
} bk;

static void bk_put(const uint8_t *p, size_t n)
{
    memcpy(bk.out + bk.out_len, p, n);
    bk.out_len += n;
}

/* Whole packets only; remaining length below 16384 is enough here. */
static void bk_parse(void)
{
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00}, pingresp[] = {0xD0, 0x00};
    for (;;) {
        size_t hl = 2, rl;
        if (bk.in_len < 2) return;
        rl = bk.in[1] & 0x7Fu;
        if (bk.in[1] & 0x80u) {
            if (bk.in_len < 3) return;
            rl += (size_t)bk.in[2] << 7;
            hl = 3;
        }
        if (bk.in_len < hl + rl) return;
        if (!bk.silent) {
            if ((bk.in[0] >> 4) == 1) bk_put(connack, sizeof(connack));
            if (bk.in[0] == 0xC0) {
                bk.pings++;
                bk_put(pingresp, sizeof(pingresp));
            }
        }
        memmove(bk.in, bk.in + hl + rl, bk.in_len - hl - rl);
        bk.in_len -= hl + rl;
    }
}

static int32_t t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!bk.open) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    if (!bk.silent) { /* a silent link swallows (nothing comes back) */
        memcpy(bk.in + bk.in_len, buf, len);
        bk.in_len += len;
        bk_parse();
    }
    return (int32_t)len;
}

static int32_t t_recv(void *ctx, uint8_t *buf, size_t len)
{
    size_t n;
    (void)ctx;
    if (!bk.open) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    n = bk.silent ? 0 : (bk.out_len < len ? bk.out_len : len);
    if (n == 0) return 0;
    memcpy(buf, bk.out, n);
    memmove(bk.out, bk.out + n, bk.out_len - n);
    bk.out_len -= n;
    return (int32_t)n;
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    *used_key = false;
    bk.open = true;
    bk.in_len = bk.out_len = 0;
    tr->ctx = NULL;
    tr->send = t_send;
    tr->recv = t_recv;
    return TMA_OK;
}
static void c_close(void *ctx) { (void)ctx; bk.open = false; }

static int ev_connected, ev_disconnected;
static void on_event(void *u, enum iothub_event ev, tma_status r)
{
    (void)u; (void)r;
    if (ev == IOTHUB_EVENT_CONNECTED) ev_connected++;
    if (ev == IOTHUB_EVENT_DISCONNECTED) ev_disconnected++;
}

static struct iothub_client cl;
static uint8_t tx[2048], rx[2048], rec[512];
static char cred[512];
static struct mqtt_inflight infl[4];

static void setup(uint16_t keep_alive_s)
{
    struct iothub_client_config cfg;
    memset(&bk, 0, sizeof(bk));
    mono = 5000000;
    ev_connected = ev_disconnected = 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "hub.example.net";
    cfg.id.device_id = "dev-ka";
    cfg.clock.now_ms = mono_ms;
    cfg.keep_alive_s = keep_alive_s;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    cfg.tx_buf = tx; cfg.tx_cap = sizeof(tx);
    cfg.rx_buf = rx; cfg.rx_cap = sizeof(rx);
    cfg.inflight = infl; cfg.inflight_count = sizeof(infl) / sizeof(infl[0]);
    cfg.record_buf = rec; cfg.record_cap = sizeof(rec);
    cfg.cred_buf = cred; cfg.cred_cap = sizeof(cred);
    cfg.cb.on_event = on_event;
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

/* Step with dt ms per step until the connection drops or limit ms pass;
 * returns the ms it took (limit + 1 when it did not drop). */
static uint64_t run_until_drop(uint64_t limit, uint64_t dt)
{
    uint64_t t;
    int before = ev_disconnected;
    for (t = 0; t <= limit; t += dt) {
        (void)iothub_client_step(&cl);
        if (ev_disconnected != before) return t;
        mono += dt;
    }
    return limit + 1;
}

static void connect_and_idle(uint64_t idle_ms)
{
    assert_int_equal(run_until_drop(200, 10), 201);
    assert_int_equal(ev_connected, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    /* A healthy link stays up: pings are answered. */
    assert_int_equal(run_until_drop(idle_ms, 50), idle_ms + 1);
    assert_true(bk.pings >= 2);
}

static void test_chaos2_short_keepalive_notices_silence(void **state)
{
    uint64_t took;
    (void)state;
    setup(4);
    connect_and_idle(21000);
    bk.silent = true;
    took = run_until_drop(60000, 50);
    /* At most 4 s to the next PINGREQ plus 2 s for its answer (+ a step). */
    assert_true(took <= 6050);
    assert_true(took >= 2000);
    assert_int_equal(ev_disconnected, 1);
}

static void test_chaos2_long_keepalive_keeps_30s_ceiling(void **state)
{
    uint64_t took;
    (void)state;
    setup(120);
    connect_and_idle(300000);
    bk.silent = true;
    took = run_until_drop(400000, 500);
    assert_true(took <= 150500);
    assert_true(took >= 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chaos2_short_keepalive_notices_silence),
        cmocka_unit_test(test_chaos2_long_keepalive_keeps_30s_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
