/* The IoT Hub client glue and the clocks a device really has (brief CLK13,
 * audit wrap13 F1, F7, F10): a 32-bit SysTick zero-extended to the 64-bit
 * struct tma_clock (tests/qemu/hub_fw, tls_fw) that goes back by 2^32 every
 * 49.7 days, a 64-bit clock that starts near 2^64, a clock that goes back by
 * an hour, and a SAS device whose wall clock is not set yet. The fake hub
 * answers CONNACK and PINGRESP byte for byte; the client is the real one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/client.h"
#include "iothub/outbox.h"
#include "tma_ram_store.h"

#define HOUR_MS 3600000ull
#define WRAP32 0x100000000ull
/* Longest wait the back-off allows: max_ms + jitter (defaults 100 s + 5 s). */
#define BACKOFF_CEIL_MS 105000ull
/* A first retry after a stable connection: min_ms + jitter (1 s + 5 s). */
#define FIRST_RETRY_CEIL_MS 6000ull

/* ---- fake clock: true elapsed time t, what the client reads from it ----- */
static uint64_t t;          /* true elapsed ms since the test started */
static uint64_t clk_start;  /* clock value at t = 0 (may be near 2^64) */
static bool clk_trunc32;    /* the clock is a 32-bit tick zero-extended */
static uint64_t wall;       /* wall clock, Unix ms */

/* Jitter: every clk_jitter_ms of true time, one read comes 1 ms before the
 * read before it; the next read is the true time again (a 64-bit timer read
 * as two halves without a lock, a clock built from two sources). */
static uint64_t clk_jitter_ms, clk_jitter_next, clk_last;
static unsigned clk_steps_back;

static uint64_t mono_ms(void *ctx)
{
    uint64_t v = clk_start + t; /* wraps at 2^64 like any counter */
    (void)ctx;
    if (clk_jitter_ms != 0u && t >= clk_jitter_next) {
        clk_jitter_next = t + clk_jitter_ms;
        v = clk_last - 1u;
        clk_steps_back++;
    }
    clk_last = v;
    return clk_trunc32 ? (uint64_t)(uint32_t)v : v;
}
static uint64_t wall_ms(void *ctx)
{
    (void)ctx;
    return wall;
}

/* ---- fake hub ------------------------------------------------------------ */
static bool hub_down;      /* open() fails (after the handshake used the key) */
static bool link_broken;   /* the open connection fails; the next open works */
static bool key_used;      /* open() reports a private-key operation */
static bool connack_due, ping_due;
static int opens, connect_packets, connacks_ok;
static int pingreqs, publishes;  /* packets on the wire */
static int reads;                /* recv() calls that returned a packet */
static uint64_t ping_delay_ms;   /* PINGRESP this long after PINGREQ (0: next read) */
static uint64_t ping_at;         /* t of the last PINGREQ */
static uint64_t open_at[4096];
static uint64_t drop_at;   /* t of the last link drop */

static int32_t tsend(void *ctx, const uint8_t *b, size_t n)
{
    (void)ctx;
    if (link_broken) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (b[0] == 0x10) {
        connack_due = true;
        connect_packets++;
    }
    {
        /* every packet in the buffer: the fake takes all, so each send
         * starts at a packet boundary */
        size_t at = 0;
        while (at + 1u < n) {
            size_t len = 0, i = at + 1u;
            unsigned shift = 0;
            do {
                len |= (size_t)(b[i] & 0x7Fu) << shift;
                shift += 7u;
            } while ((b[i++] & 0x80u) != 0u && i < n);
            if (b[at] == 0xC0) {
                ping_due = true;
                ping_at = t;
                pingreqs++;
            }
            publishes += (b[at] & 0xF0u) == 0x30u;
            at = i + len;
        }
    }
    return (int32_t)n;
}

static int32_t trecv(void *ctx, uint8_t *b, size_t n)
{
    (void)ctx;
    assert_true(n >= 4u);
    if (link_broken) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (connack_due) {
        connack_due = false;
        /* The hub knows the time: a SAS token signed with a wall clock
         * from before 2026 expired long ago (CONNACK 5). */
        b[0] = 0x20;
        b[1] = 2;
        b[2] = 0;
        b[3] = wall < IOTHUB_WALL_PLAUSIBLE_MS ? 5u : 0u;
        connacks_ok += b[3] == 0u;
        reads++;
        return 4;
    }
    if (ping_due && t >= ping_at + ping_delay_ms) {
        ping_due = false;
        b[0] = 0xD0;
        b[1] = 0;
        reads++;
        return 2;
    }
    return 0;
}

static tma_status copen(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    assert_true(opens < (int)(sizeof(open_at) / sizeof(open_at[0])));
    open_at[opens++] = t;
    *used_key = key_used;
    if (hub_down) {
        return TMA_ERR(TMA_LAYER_TLS, TMA_C_IO);
    }
    link_broken = false;
    connack_due = ping_due = false;
    tr->ctx = NULL;
    tr->send = tsend;
    tr->recv = trecv;
    return TMA_OK;
}
static void cclose(void *ctx) { (void)ctx; }

static tma_status fake_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg,
                            size_t msg_len, uint8_t out[32])
{
    size_t i;
    (void)ctx;
    memset(out, 0x5A, 32);
    for (i = 0; i < msg_len; i++) {
        out[i % 32u] ^= msg[i];
    }
    for (i = 0; i < key_len; i++) {
        out[i % 32u] += key[i];
    }
    return TMA_OK;
}

static struct iothub_client cl;
static struct tma_ram_store rs;
static struct iothub_outbox ob;
static bool setup_outbox; /* setup() gives the client an outbox (telemetry) */
static uint8_t txb[1024], rxb[1024], rec[256];
static char cred[512];
static struct mqtt_inflight infl[2];
static int ev_auth;
static tma_status ev_last;

static void on_event(void *u, enum iothub_event ev, tma_status r)
{
    (void)u;
    ev_auth += ev == IOTHUB_EVENT_AUTH_FAILED;
    ev_last = r;
}

/* A client (X.509 unless @p sas) on the fake clock starting at @p start. */
static void setup(uint64_t start, bool trunc32, bool key, const char *sas)
{
    struct iothub_client_config cfg;
    t = 0;
    clk_start = start;
    clk_trunc32 = trunc32;
    clk_jitter_ms = clk_jitter_next = clk_last = 0;
    clk_steps_back = 0;
    wall = IOTHUB_WALL_PLAUSIBLE_MS + 100u * 86400000ull;
    hub_down = link_broken = connack_due = ping_due = false;
    key_used = key;
    opens = connect_packets = connacks_ok = ev_auth = 0;
    pingreqs = publishes = reads = 0;
    ping_delay_ms = ping_at = 0;
    ev_last = TMA_OK;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "h.azure-devices.net";
    cfg.id.device_id = "dev1";
    cfg.sas_key = sas;
    cfg.hmac.hmac_sha256 = fake_hmac;
    cfg.clock.now_ms = mono_ms;
    cfg.wall.now_ms = wall_ms;
    cfg.connector.open = copen;
    cfg.connector.close = cclose;
    cfg.tx_buf = txb;
    cfg.tx_cap = sizeof(txb);
    cfg.rx_buf = rxb;
    cfg.rx_cap = sizeof(rxb);
    cfg.inflight = infl;
    cfg.inflight_count = 2;
    cfg.record_buf = rec;
    cfg.record_cap = sizeof(rec);
    cfg.cred_buf = cred;
    cfg.cred_cap = sizeof(cred);
    cfg.cb.on_event = on_event;
    if (setup_outbox) {
        struct iothub_storage st = tma_ram_store_init(&rs, 64, TMA_RAM_STORE_RECORD);
        assert_int_equal(iothub_outbox_init(&ob, &st, 64, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
        cfg.outbox = &ob;
    }
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

/* Step every @p dt ms until true time @p until. */
static void run_to(uint64_t until, uint64_t dt)
{
    while (t < until) {
        (void)iothub_client_step(&cl);
        t += dt;
        wall += dt;
    }
}

/* Largest gap between consecutive opens from index @p from on, and from the
 * last one to now. */
static uint64_t max_open_gap(int from, uint64_t since)
{
    uint64_t gap = 0, prev = since;
    int i;
    for (i = from; i < opens; i++) {
        if (open_at[i] - prev > gap) {
            gap = open_at[i] - prev;
        }
        prev = open_at[i];
    }
    return t - prev > gap ? t - prev : gap;
}

/* The link drops at true time @p at; returns how long until the client
 * opened a new connection that got its CONNACK (or UINT64_MAX). */
static uint64_t drop_and_reconnect(uint64_t at, uint64_t limit)
{
    int ok;
    run_to(at, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    ok = connacks_ok;
    link_broken = true;
    drop_at = t;
    while (t - drop_at < limit) {
        (void)iothub_client_step(&cl);
        if (connacks_ok > ok && iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED) {
            return t - drop_at;
        }
        t += 100;
        wall += 100;
    }
    return UINT64_MAX;
}

/* (1) Connected when the zero-extended 32-bit tick wraps (X.509: the
 * handshake used the chip key); the link drops 10 minutes later. The old
 * glue compared absolute times: the pacer's "bucket full at" stayed at the
 * pre-wrap tick and the client waited 49.7 days. It must reconnect within
 * the first back-off step (the connection was stable: back-off from min). */
static void test_tick_wrap_while_connected_then_drop(void **state)
{
    uint64_t before_wrap = WRAP32 - HOUR_MS, took;
    (void)state;
    setup(before_wrap, true, true, NULL);
    run_to(30000, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    took = drop_and_reconnect(HOUR_MS + 600000u, 2 * HOUR_MS);
    fprintf(stderr, "32-bit tick, drop 10 min after the wrap: reconnected after %llu ms\n",
            (unsigned long long)took);
    assert_true(took <= FIRST_RETRY_CEIL_MS + 100u);
    assert_int_equal(iothub_client_stats(&cl).connects, 2);
}

/* (2) Hub unreachable from 20 s before the wrap of the 32-bit tick for an
 * hour (no key: SAS or a resumed session). The old glue set its next
 * attempt just before the wrap and then waited 49.7 days. Attempts must go
 * on at the back-off's pace across the wrap, and once the hub is back the
 * client connects within one back-off. */
static void test_tick_wrap_while_hub_unreachable(void **state)
{
    uint64_t down_at = HOUR_MS - 20000u;
    int first;
    (void)state;
    setup(WRAP32 - HOUR_MS, true, false, NULL);
    run_to(down_at, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    hub_down = true;
    link_broken = true;
    first = opens;
    run_to(down_at + HOUR_MS, 100);
    fprintf(stderr, "hub down across the wrap: %d attempts in the hour, largest gap %llu ms\n",
            opens - first, (unsigned long long)max_open_gap(first, down_at));
    assert_true(opens - first >= (int)(HOUR_MS / BACKOFF_CEIL_MS));
    assert_true(max_open_gap(first, down_at) <= BACKOFF_CEIL_MS + 100u);
    assert_true(iothub_client_next_attempt_in_ms(&cl) <= BACKOFF_CEIL_MS);
    hub_down = false;
    run_to(t + BACKOFF_CEIL_MS + 200u, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* 200 s of a hub that refuses every handshake after the client's
 * signature, stepped every 10 ms: key operations. */
static unsigned key_ops_refusing_hub(uint64_t start, bool trunc32)
{
    setup(start, trunc32, true, NULL);
    hub_down = true;
    run_to(200000, 10);
    assert_int_equal((int)iothub_client_stats(&cl).key_operations, opens);
    return iothub_client_stats(&cl).key_operations;
}

/* (3) A 64-bit clock that starts 100 s before 2^64 (and a 32-bit tick 100 s
 * before its wrap). With absolute deadlines now + delay wrapped and both the
 * back-off and the chip-key pacer switched off: 1,889 signatures in 200 s.
 * Where the clock starts must not matter at all: the same attempts at the
 * same times as a clock that starts at 0, within the pacer's limit. */
static void test_clock_start_near_wrap_keeps_pacer_and_backoff(void **state)
{
    unsigned ref, near64, near32;
    int ref_opens, i;
    static uint64_t ref_at[64];
    (void)state;
    ref = key_ops_refusing_hub(0, false);
    ref_opens = opens;
    assert_true(ref_opens <= 64);
    memcpy(ref_at, open_at, sizeof(ref_at[0]) * (size_t)ref_opens);
    near64 = key_ops_refusing_hub(UINT64_MAX - 100000u, false);
    for (i = 0; i < ref_opens && i < opens; i++) {
        assert_true(open_at[i] == ref_at[i]);
    }
    near32 = key_ops_refusing_hub(WRAP32 - 100000u, true);
    fprintf(stderr, "key operations in 200 s: start 0: %u, 2^64 - 100 s: %u, 32-bit tick 2^32 - 100 s: %u\n",
            ref, near64, near32);
    assert_true(ref <= 4u + 200000u / 5300u + 1u);
    assert_true(ref >= 4u);
    assert_int_equal(near64, ref);
    assert_int_equal(near32, ref);
}

/* (4) A 64-bit clock that goes back by an hour (a port that steps it, e.g.
 * from a wall clock). Before: every wait grew by the hour. Now no time
 * passes for the step and the glue counts on from the new value: nothing
 * stalls and nothing ends early. (a)
 * During the back-off of an unreachable hub; (b) connected, with the pacer's
 * bucket then an hour "ahead", and the link drops. */
static void test_clock_backwards_one_hour_no_stall(void **state)
{
    uint64_t took;
    int first;
    (void)state;
    /* (a) */
    setup(10 * HOUR_MS, false, false, NULL);
    run_to(10000, 100);
    hub_down = true;
    link_broken = true;
    run_to(300000, 100);
    first = opens;
    clk_start -= HOUR_MS;
    assert_true(iothub_client_next_attempt_in_ms(&cl) <= BACKOFF_CEIL_MS);
    run_to(t + 600000u, 100);
    assert_true(max_open_gap(first, 300000) <= BACKOFF_CEIL_MS + 100u);
    hub_down = false;
    run_to(t + BACKOFF_CEIL_MS + 200u, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    /* (b) */
    setup(10 * HOUR_MS, false, true, NULL);
    run_to(300000, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    clk_start -= HOUR_MS;
    took = drop_and_reconnect(t + 600000u, 2 * HOUR_MS);
    fprintf(stderr, "clock back by 1 h, then the link drops: reconnected after %llu ms\n",
            (unsigned long long)took);
    assert_true(took <= FIRST_RETRY_CEIL_MS + 100u);
}

/* 10 minutes of a hub that refuses every handshake after the client's
 * signature, stepped every 10 ms, the clock stepping back by 1 ms every
 * @p jitter_ms (0: never): connection attempts. */
static int attempts_hub_down_10min(uint64_t jitter_ms)
{
    setup(5 * HOUR_MS, false, true, NULL);
    clk_jitter_ms = jitter_ms;
    clk_jitter_next = jitter_ms;
    hub_down = true;
    run_to(600000, 10);
    assert_int_equal((int)iothub_client_stats(&cl).key_operations, opens);
    return opens;
}

/* (5) A clock that steps back by 1 ms every 2 s (review REV13 F1). The glue
 * read every step back as the 2^32 wrap, 49.7 days passing: every back-off
 * wait and the chip-key pacer's refill ended at once, 299 attempts (chip
 * signatures) in 10 minutes against 6 without the jitter. A step back must
 * cost no time: the attempts of a clock without jitter, within the pacer's
 * limit (burst 4, then one per 5.3 s) and the back-off's pace. */
static void test_clock_small_steps_back_keep_backoff_and_pacer(void **state)
{
    int ref, jit;
    (void)state;
    ref = attempts_hub_down_10min(0);
    jit = attempts_hub_down_10min(2000);
    fprintf(stderr, "hub down 10 min: %d attempts, with a 1 ms step back every 2 s (%u of them): %d\n",
            ref, clk_steps_back, jit);
    assert_true(clk_steps_back >= 290u);
    assert_true(ref >= 4);
    assert_true(jit <= ref + 1);
    assert_true(jit >= ref - 1);
    assert_true(jit <= (int)(4u + 600000u / 5300u + 1u));
}

/* (6) SAS on a device whose wall clock is not set (0: 1970) at start. The
 * old glue signed a token that expired in 1970, the hub refused it
 * (CONNACK 5) and the client stopped in AUTH_FAILED until restart(). Now:
 * nothing goes on the wire, the client stays IDLE with the reason
 * IOTHUB_E_WALL_CLOCK, and connects once the wall clock is set. */
static void test_sas_with_unset_wall_clock_waits(void **state)
{
    (void)state;
    setup(0, false, false, "MDEyMzQ1Njc4OWFiY2RlZg==");
    wall = 0;
    run_to(5 * 60000u, 100);
    assert_int_equal(opens, 0);
    assert_int_equal(connect_packets, 0);
    assert_int_equal(ev_auth, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_IDLE);
    assert_int_equal(iothub_client_last_reason(&cl), IOTHUB_E_WALL_CLOCK);
    assert_int_equal(ev_last, IOTHUB_E_WALL_CLOCK);
    assert_non_null(strstr(iothub_reason_text(IOTHUB_E_WALL_CLOCK), "wall clock"));
    /* just below the floor: still not */
    wall = IOTHUB_WALL_PLAUSIBLE_MS - 3 * 60000u;
    run_to(t + 2 * 60000u, 100);
    assert_int_equal(connect_packets, 0);
    /* NTP sets the clock: connected within one back-off */
    wall = IOTHUB_WALL_PLAUSIBLE_MS + 86400000ull;
    run_to(t + BACKOFF_CEIL_MS + 200u, 100);
    assert_int_equal(connect_packets, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(iothub_client_stats(&cl).connects, 1);
}

/* Connected with telemetry in flight (the hub holds the PUBACKs back),
 * PINGRESP 3 s after each PINGREQ (a slow link), for 10 minutes in steps of
 * 100 ms. With @p back the clock goes back by 1 ms and stays behind every
 * 2 s and right after each step that moved a packet (a step back shows
 * only against a time stamped less than its size before: a packet's);
 * each time one more step at the same true time reads 1 ms less than the
 * step before (every read of it, the glue's and the MQTT client's). */
static void connected_10min_telemetry_in_flight(bool back)
{
    uint64_t end;
    int i, moved;
    setup_outbox = true;
    setup(5 * HOUR_MS, false, true, NULL);
    setup_outbox = false;
    run_to(5000, 100);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    for (i = 0; i < 3; i++) {
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"21.5", 4, NULL), TMA_OK);
    }
    ping_delay_ms = 3000;
    for (end = t + 600000u; t < end; t += 100, wall += 100) {
        moved = connect_packets + pingreqs + publishes + reads;
        (void)iothub_client_step(&cl);
        if (back && (moved != connect_packets + pingreqs + publishes + reads || t % 2000u == 0u)) {
            clk_start--;
            clk_steps_back++;
            (void)iothub_client_step(&cl);
        }
    }
}

/* (7) The MQTT client under the glue (brief CLK14): the glue handed it the
 * raw clock, and it read a step back below a time it had stamped as
 * 2^32 - 1 ms passing: after a PINGRESP a PINGREQ at once, after a PINGREQ
 * the end of the connection (MQTT_E_KEEPALIVE_TIMEOUT): a reconnect (a chip
 * signature) and the telemetry sent again. Now the connection stays: one CONNECT, the window's
 * one message on the wire once, the PINGREQs of a clock without the steps. */
static void test_connected_clock_steps_back_keeps_connection(void **state)
{
    int ref_pings;
    (void)state;
    connected_10min_telemetry_in_flight(false);
    ref_pings = pingreqs;
    assert_int_equal(connect_packets, 1);
    connected_10min_telemetry_in_flight(true);
    fprintf(stderr, "connected 10 min, telemetry in flight: %d PINGREQs; with a 1 ms step back every 2 s and "
            "after each packet (%u of them): %d PINGREQs, %d CONNECTs, %d PUBLISHes\n",
            ref_pings, clk_steps_back, pingreqs, connect_packets, publishes);
    assert_true(clk_steps_back >= 290u);
    assert_int_equal(connect_packets, 1);
    assert_int_equal(opens, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(iothub_client_stats(&cl).connects, 1);
    assert_int_equal(publishes, 1); /* window 1: one in flight, never sent again */
    assert_true(ref_pings >= 15);
    assert_true(pingreqs >= ref_pings - 1 && pingreqs <= ref_pings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_wrap_while_connected_then_drop),
        cmocka_unit_test(test_tick_wrap_while_hub_unreachable),
        cmocka_unit_test(test_clock_start_near_wrap_keeps_pacer_and_backoff),
        cmocka_unit_test(test_clock_backwards_one_hour_no_stall),
        cmocka_unit_test(test_clock_small_steps_back_keep_backoff_and_pacer),
        cmocka_unit_test(test_sas_with_unset_wall_clock_waits),
        cmocka_unit_test(test_connected_clock_steps_back_keeps_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
