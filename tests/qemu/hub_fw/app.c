/*
 * What both IoT Hub firmwares do alike (hub_fw/main.c: SAS over a plain
 * UART; tls_fw/main.c: X.509 over TLS): print what the client delivers for
 * the host's checker, count it, and wait for a count with a time limit.
 */
#include <string.h>

#include "board.h"
#include "hub_fw.h"
#include "iothub/iothub.h"
#include "stackpaint.h"

extern volatile uint32_t g_ms_ticks; /* board.c: +1 per SysTick */

struct hub_app hub_app;

/* the client's buffers: MQTT packets out and in, the outbox record, the
 * in-flight window (one slot more than the window) */
static uint8_t tx[1024], rx[1024], rec[512];
static struct mqtt_inflight infl[HUB_APP_INFLIGHT];

void hub_app_config(struct iothub_client_config *cfg, char *cred, size_t cred_cap)
{
    cfg->tx_buf = tx;
    cfg->tx_cap = sizeof tx;
    cfg->rx_buf = rx;
    cfg->rx_cap = sizeof rx;
    cfg->inflight = infl;
    cfg->inflight_count = HUB_APP_INFLIGHT;
    cfg->record_buf = rec;
    cfg->record_cap = sizeof rec;
    cfg->cred_buf = cred;
    cfg->cred_cap = cred_cap;
    cfg->cb.on_c2d = hub_app_on_c2d;
    cfg->cb.on_method = hub_app_on_method;
    cfg->cb.on_telemetry_acked = hub_app_on_acked;
}

void hub_app_on_c2d(void *user, struct tma_span bag, struct tma_span payload)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    char kd[64], vd[128];
    size_t kl, vl;
    (void)user;
    hub_app.c2d_count++;
    con_kv_hex("c2d.bag", bag.ptr, bag.len);
    con_kv_hex("c2d.payload", payload.ptr, payload.len);
    iothub_bag_iter_init(&it, bag);
    while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
        if (iothub_url_decode(k, kd, sizeof kd, &kl) != TMA_OK ||
            iothub_url_decode(v, vd, sizeof vd, &vl) != TMA_OK) {
            con_kv_str("c2d.prop_undecodable", "");
            continue;
        }
        con_str("c2d.prop=");
        con_hex((const uint8_t *)kd, kl);
        con_str(has ? " " : "");
        con_hex((const uint8_t *)vd, has ? vl : 0u);
        con_str("\n");
    }
}

void hub_app_on_method(void *user, struct tma_span name, struct tma_span r, struct tma_span payload)
{
    (void)user;
    hub_app.method_count++;
    con_kv_hex("method.name", name.ptr, name.len);
    con_kv_hex("method.rid", r.ptr, r.len);
    con_kv_hex("method.payload", payload.ptr, payload.len);
    hub_app.rid_len = r.len < sizeof hub_app.rid ? r.len : 0u; /* 0: not answered (too long) */
    memcpy(hub_app.rid, r.ptr, hub_app.rid_len);
}

void hub_app_on_acked(void *user, uint32_t seq)
{
    (void)user;
    hub_app.acked++;
    if (seq < 32u) {
        hub_app.acked_mask |= 1u << seq;
    }
    con_kv_u32("acked", seq);
}

void hub_app_run_until(const uint32_t *counter, uint32_t want, const char *what, uint32_t wait_ms,
                       tma_status (*step)(void), const struct iothub_client *c)
{
    uint32_t t0 = g_ms_ticks;
    while (*counter < want) {
        tma_status st = step();
        if (st != TMA_OK) {
            con_kv_str("step_status", tma_status_str(st));
        }
        if ((uint32_t)(g_ms_ticks - t0) > wait_ms) {
            con_kv_str("TIMEOUT waiting for", what);
            con_kv_u32("state", (uint32_t)iothub_client_state(c));
            con_kv_str("last_reason", iothub_reason_text(iothub_client_last_reason(c)));
            semi_exit(5);
        }
    }
}

tma_status hub_app_respond(struct iothub_client *c, const char *body, uint32_t wait_ms, tma_status (*step)(void))
{
    struct tma_span r, b;
    uint32_t t0 = g_ms_ticks;
    tma_status s;
    r.ptr = hub_app.rid;
    r.len = hub_app.rid_len;
    b.ptr = (const uint8_t *)body;
    b.len = strlen(body);
    while ((s = iothub_client_method_respond(c, r, 200, b)) == TMA_WANT_WRITE &&
           (uint32_t)(g_ms_ticks - t0) < wait_ms) {
        (void)step();
    }
    if (s == TMA_OK) {
        con_kv_hex("method.response", b.ptr, b.len);
    }
    return s;
}

tma_status hub_app_step(struct iothub_client *c)
{
    uint32_t sp0 = stack_sp(), d, rx0 = hub_uart_rx_bytes, tx0 = hub_uart_tx_bytes;
    int was_conn = iothub_client_state(c) == IOTHUB_STATE_CONNECTED;
    tma_status st;
    stack_paint();
    st = iothub_client_step(c);
    d = sp0 - stack_low();
    if (was_conn && d > hub_app.stack_connected) {
        hub_app.stack_connected = d;
    } else if (!was_conn && d > hub_app.stack_connecting) {
        hub_app.stack_connecting = d;
    }
    /* idle: nothing moved, sleep to the next SysTick (1 ms) */
    if (rx0 == hub_uart_rx_bytes && tx0 == hub_uart_tx_bytes) {
        __asm volatile("wfi");
    }
    return st;
}

void hub_app_print_stored(uint32_t seq, uint32_t set, const uint8_t *payload, size_t n)
{
    con_str("stored ");
    con_u32(seq);
    con_str(" set ");
    con_u32(set);
    con_str(" payload=");
    con_hex(payload, n);
    con_str("\n");
}
