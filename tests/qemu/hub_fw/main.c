/*
 * Firmware for QEMU's mps2-an386 (Cortex-M4): the project's MQTT client and
 * IoT Hub device client (src/mqtt, src/iothub, src/common) EXECUTING on the
 * target, their MQTT byte stream on UART1, which QEMU connects to the test's
 * mosquitto over TCP (no TLS on the target: tests/qemu/hub_m4.sh,
 * docs/qemu-m4.md). SAS authentication with HMAC-SHA256 in software
 * (tests/qemu/soft_crypto.c) through the client's hmac ops, a frozen wall
 * clock (HUB_EPOCH) for the token's expiry, the outbox on the MCU flash log
 * over a RAM-backed NOR flash (flash.c).
 *
 * Sequence: connect (subscribing C2D, twin, methods; keep-alive 4 s), store HUB_N telemetry
 * messages with application/system properties (the property sets of
 * tests/vectors/iothub/topics.vec in props.c, several needing percent-encoding) in the
 * outbox, wait until every one is acknowledged, print READY, wait for one
 * C2D message and one direct method call, idle 4.5 s (unpaced only: the
 * client pings), send a reported-properties patch,
 * wait for its response and a desired-properties notification, answer the
 * method, disconnect, exit 0. It judges nothing itself: it prints what it did and got (values
 * from the network in hex) and the host checks that against what the
 * broker carried (tests/qemu/hub_check.py).
 *
 * Command line (semihosting): fw SAS_KEY_BASE64 [BAUD]
 * BAUD (optional): model a real UART's transmitter at that rate (uart.c);
 * without it QEMU's UART takes every byte at once.
 * Exit codes: 0 done, 2 setup error, 4 the hub refused the connection
 * (AUTH_FAILED), 5 a wait timed out.
 * Output lines: "KEY VALUE" (decimal or text), "KEY=HEX" for bytes.
 */
#include <string.h>

#include "board.h"
#include "hub_fw.h"
#include "iothub/client.h"
#include "iothub/iothub.h"
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "soft_crypto.h"
#include "stackpaint.h"

extern volatile uint32_t g_ms_ticks;

#define HUB_HOST "qemu-hub.azure-devices.net"
#define HUB_DEVICE "dev-01"
#define HUB_EPOCH 1800000000u /* the frozen wall clock: 2027-01-15T08:00:00Z */
#define HUB_SAS_LIFETIME 3600u
#define HUB_N 20u
#define HUB_WAIT_MS 20000u
/* A short keep-alive, so that the run sees the client's PINGREQ and the
 * broker's PINGRESP after an idle spell of HUB_IDLE_MS (both sides count the
 * same seconds: no -icount, docs/qemu-m4.md). */
#define HUB_KEEPALIVE_S 4u
#define HUB_IDLE_MS 4500u

static struct iothub_client client;
static struct iothub_outbox outbox;
static struct iothub_flash_storage fls;
static char cred[768];
static char cmdline[256];
static char key[128];

static uint32_t twin_res_count, twin_desired_count;
static uint32_t stack_send;

static uint64_t mono_ms(void *ctx)
{
    (void)ctx;
    return g_ms_ticks;
}

static uint64_t wall_ms(void *ctx)
{
    (void)ctx;
    return (uint64_t)HUB_EPOCH * 1000u;
}

static tma_status hmac(void *ctx, const uint8_t *k, size_t kl, const uint8_t *m, size_t ml,
                       uint8_t out[32])
{
    (void)ctx;
    soft_hmac_sha256(k, kl, m, ml, out);
    return TMA_OK;
}

static void fail(const char *what, tma_status st, uint32_t code)
{
    con_str("ERROR ");
    con_str(what);
    con_str(": ");
    con_str(tma_status_str(st));
    con_str("\n");
    semi_exit(code);
}

static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    switch (ev) {
    case IOTHUB_EVENT_CONNECTED:
        con_kv_u32("event connected", g_ms_ticks);
        break;
    case IOTHUB_EVENT_DISCONNECTED:
        con_kv_str("event disconnected", iothub_reason_text(reason));
        break;
    case IOTHUB_EVENT_AUTH_FAILED:
        con_kv_str("AUTH_FAILED", iothub_reason_text(reason));
        con_kv_u32("tx_bytes", hub_uart_tx_bytes);
        con_kv_u32("rx_bytes", hub_uart_rx_bytes);
        semi_exit(4);
        break;
    case IOTHUB_EVENT_SUBSCRIBE_REFUSED:
        con_kv_str("event subscribe_refused", tma_status_str(reason));
        break;
    }
}

static void on_twin(void *user, const struct iothub_twin_msg *msg, struct tma_span payload)
{
    (void)user;
    if (msg->kind == IOTHUB_TWIN_RESPONSE) {
        twin_res_count++;
        con_kv_u32("twin.res.status", msg->status);
        con_kv_hex("twin.res.rid", msg->rid.ptr, msg->rid.len);
        if (msg->rid_is_number) {
            con_kv_u32("twin.res.rid_number", msg->rid_number);
        }
        if (msg->has_version && msg->version >= 0 && msg->version <= 0x7FFFFFFF) {
            con_kv_u32("twin.res.version", (uint32_t)msg->version);
        }
        con_kv_hex("twin.res.payload", payload.ptr, payload.len);
    } else {
        twin_desired_count++;
        if (msg->has_version && msg->version >= 0 && msg->version <= 0x7FFFFFFF) {
            con_kv_u32("twin.desired.version", (uint32_t)msg->version);
        }
        con_kv_hex("twin.desired.payload", payload.ptr, payload.len);
    }
}

static tma_status step(void)
{
    return hub_app_step(&client);
}

static void run_until(const uint32_t *counter, uint32_t want, const char *what)
{
    hub_app_run_until(counter, want, what, HUB_WAIT_MS, step, &client);
}

static uint32_t connected(void)
{
    return iothub_client_state(&client) == IOTHUB_STATE_CONNECTED;
}

int main(void)
{
    struct iothub_client_config cfg;
    struct iothub_storage st;
    tma_status s;
    uint32_t i, t_start, is_conn = 0;
    char *sp, *sp2;
    uint8_t payload[48];

    board_init();
    hub_uart_init();
    t_start = g_ms_ticks;
    if (semi_cmdline(cmdline, sizeof cmdline) != 0 || (sp = strchr(cmdline, ' ')) == 0 ||
        strlen(sp + 1) >= sizeof key || sp[1] == 0) {
        con_str("ERROR usage: fw SAS_KEY_BASE64\n");
        semi_exit(2);
    }
    strcpy(key, sp + 1);
    if ((sp2 = strchr(key, ' ')) != 0) {
        uint32_t baud = 0;
        *sp2++ = 0;
        while (*sp2 >= '0' && *sp2 <= '9' && baud < 10000000u) {
            baud = baud * 10u + (uint32_t)(*sp2++ - '0');
        }
        if (*sp2 != 0 || baud < 1200u || baud > 4000000u) {
            con_str("ERROR usage: fw SAS_KEY_BASE64 [BAUD 1200..4000000]\n");
            semi_exit(2);
        }
        hub_uart_byte_us = (10000000u + baud - 1u) / baud; /* 10 bit times a byte */
        con_kv_u32("uart.baud", baud);
    }
    con_kv_str("host", HUB_HOST);
    con_kv_str("device", HUB_DEVICE);
    con_kv_u32("epoch", HUB_EPOCH);
    con_kv_u32("se", HUB_EPOCH + HUB_SAS_LIFETIME);

    s = iothub_flash_storage_open(&fls, hub_flash(), &st);
    if (s != TMA_OK) {
        fail("flash_storage_open", s, 2);
    }
    s = iothub_outbox_init(&outbox, &st, 32, IOTHUB_OUTBOX_REFUSE_NEW);
    if (s != TMA_OK) {
        fail("outbox_init", s, 2);
    }

    /* The shape of the Linux samples' configuration
     * (examples/sample_common.c), with the target's clocks, connector,
     * buffers and storage. */
    memset(&cfg, 0, sizeof cfg);
    cfg.id.host = HUB_HOST;
    cfg.id.device_id = HUB_DEVICE;
    cfg.sas_key = key;
    cfg.sas_lifetime_s = HUB_SAS_LIFETIME;
    cfg.hmac.hmac_sha256 = hmac;
    cfg.clock.now_ms = mono_ms;
    cfg.wall.now_ms = wall_ms;
    cfg.keep_alive_s = HUB_KEEPALIVE_S;
    cfg.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS;
    cfg.connector = hub_uart_connector();
    cfg.outbox = &outbox;
    hub_app_config(&cfg, cred, sizeof cred);
    cfg.cb.on_event = on_event;
    cfg.cb.on_twin = on_twin;
    s = iothub_client_init(&client, &cfg);
    if (s != TMA_OK) {
        fail("client_init", s, 2);
    }

    /* connect (AUTH_FAILED exits from on_event) */
    {
        uint32_t t0 = g_ms_ticks;
        while (!connected()) {
            (void)step();
            if ((uint32_t)(g_ms_ticks - t0) > HUB_WAIT_MS) {
                con_kv_str("TIMEOUT waiting for", "connect");
                con_kv_str("last_reason", iothub_reason_text(iothub_client_last_reason(&client)));
                semi_exit(5);
            }
        }
        is_conn = 1;
    }
    con_kv_u32("connected_ms", g_ms_ticks - t_start);

    /* HUB_N telemetry messages into the outbox */
    for (i = 0; i < HUB_N; i++) {
        uint32_t seq = 0, sp0, d, n = 0;
        const char *pre = "{\"n\":", *post = ",\"fw\":\"qemu-m4\"}";
        char num[11];
        size_t k = sizeof num - 1u;
        uint32_t v = i;
        num[k] = 0;
        do {
            num[--k] = (char)('0' + v % 10u);
            v /= 10u;
        } while (v);
        memcpy(payload, pre, strlen(pre));
        n = (uint32_t)strlen(pre);
        memcpy(payload + n, &num[k], strlen(&num[k]));
        n += (uint32_t)strlen(&num[k]);
        memcpy(payload + n, post, strlen(post));
        n += (uint32_t)strlen(post);
        sp0 = stack_sp();
        stack_paint();
        s = iothub_client_send_telemetry(&client, hub_prop_sets[i % HUB_PROP_SETS].p,
                                         hub_prop_sets[i % HUB_PROP_SETS].n, payload, n, &seq);
        d = sp0 - stack_low();
        if (d > stack_send) {
            stack_send = d;
        }
        if (s != TMA_OK) {
            fail("send_telemetry", s, 2);
        }
        hub_app_print_stored(seq, i % HUB_PROP_SETS, payload, n);
    }
    run_until(&hub_app.acked, HUB_N, "PUBACKs");
    con_kv_u32("all_acked_ms", g_ms_ticks - t_start);
    con_kv_u32("acked_mask", hub_app.acked_mask);
    con_kv_u32("outbox_count", iothub_outbox_count(&outbox));
    con_kv_str("READY", HUB_DEVICE);

    run_until(&hub_app.c2d_count, 1, "C2D");
    run_until(&hub_app.method_count, 1, "method");
    if (hub_app.rid_len == 0u) {
        con_str("ERROR method rid too long\n");
        semi_exit(2);
    }
    /* idle (only steps) longer than the keep-alive: the client must ping
     * and stay connected; skipped in the paced pass to keep the test short */
    if (hub_uart_byte_us == 0u) {
        uint32_t t0 = g_ms_ticks;
        while ((uint32_t)(g_ms_ticks - t0) < HUB_IDLE_MS) {
            (void)step();
        }
        con_kv_u32("idle_ms", HUB_IDLE_MS);
        con_kv_u32("idle_connected", connected());
    }
    /* reported properties; the script answers as the hub does (204 with the
     * new $version) and sends a desired-properties notification */
    {
        static const char patch[] = "{\"fw\":\"qemu-m4\",\"telemetry_acked\":20}";
        struct tma_span p;
        uint32_t prid = 0, t0 = g_ms_ticks;
        p.ptr = (const uint8_t *)patch;
        p.len = sizeof patch - 1u;
        while ((s = iothub_client_twin_patch(&client, p, &prid)) == TMA_WANT_WRITE &&
               (uint32_t)(g_ms_ticks - t0) < HUB_WAIT_MS) {
            (void)step();
        }
        if (s != TMA_OK) {
            fail("twin_patch", s, 2);
        }
        con_kv_hex("twin.patch", p.ptr, p.len);
        con_kv_u32("twin.patch_rid", prid);
        run_until(&twin_res_count, 1, "twin response");
        run_until(&twin_desired_count, 1, "twin desired");
    }
    s = hub_app_respond(&client, "{\"result\":\"rebooting\",\"acked\":20}", HUB_WAIT_MS, step);
    if (s != TMA_OK) {
        fail("method_respond", s, 2);
    }
    /* as a reboot handler does: answer, then disconnect at once
     * (iothub_client_disconnect() lets the queued answer go first) */
    is_conn = connected();
    iothub_client_disconnect(&client);
    con_kv_u32("connected_at_end", is_conn);
    {
        struct iothub_client_stats cs = iothub_client_stats(&client);
        struct iothub_outbox_stats os = iothub_outbox_stats(&outbox);
        con_kv_u32("stats.connects", cs.connects);
        con_kv_u32("stats.connect_attempts", cs.connect_attempts);
        con_kv_u32("stats.published", cs.published);
        con_kv_u32("stats.acked", cs.acked);
        con_kv_u32("stats.retransmitted", cs.retransmitted);
        con_kv_u32("stats.c2d_received", cs.c2d_received);
        con_kv_u32("stats.rx_too_large", cs.rx_too_large);
        con_kv_u32("outbox.stored", os.stored);
        con_kv_u32("outbox.acked", os.acked);
        con_kv_u32("outbox.dropped", os.dropped);
        con_kv_u32("outbox.refused", os.refused);
    }
    con_kv_u32("flash.erases", hub_nor.erases);
    con_kv_u32("flash.programs", hub_nor.programs);
    con_kv_u32("flash.violations", hub_nor.violations);
    con_kv_u32("uart.opens", hub_uart_opens);
    con_kv_u32("uart.tx_bytes", hub_uart_tx_bytes);
    con_kv_u32("uart.rx_bytes", hub_uart_rx_bytes);
    con_kv_u32("uart.tx_full", hub_uart_tx_full);
    con_kv_u32("stack.iothub_client_step", hub_app.stack_connecting > hub_app.stack_connected
                                               ? hub_app.stack_connecting : hub_app.stack_connected);
    con_kv_u32("stack.iothub_client_step_connected", hub_app.stack_connected);
    con_kv_u32("stack.iothub_client_send_telemetry", stack_send);
    con_kv_u32("run_ms", g_ms_ticks - t_start);
    con_kv_str("DONE", HUB_DEVICE);
    return 0;
}
