/* iothub_client glue against an in-memory fake broker (the real MQTT codec
 * on both sides) and a fake clock: CONNECT fields, SAS token and renewal,
 * CONNACK refusal, pacing of chip-key connects, the telemetry window, and
 * bad incoming messages; the DPS client (which runs its connection through
 * an iothub_client) against scripted replies: CONNECT fields, register and
 * poll topics, retry-after and the 30 s re-request, assignment, refusals,
 * CONNACK 5 and a transport that cannot be opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/md.h>

#include "iothub/client.h"
#include "iothub/dps_client.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"
#include "tma_ram_store.h"

/* ---- RAM storage for the outbox (tests/lib/tma_ram_store.h) --------- */
static struct tma_ram_store rs;

/* ---- fake clock and broker ---------------------------------------------- */
static uint64_t mono, wall;
static uint64_t mono_behind; /* ms the clock has stepped back in all (DPS clock test) */
static uint64_t mono_ms(void *ctx) { (void)ctx; return mono - mono_behind; }
static uint64_t wall_ms(void *ctx) { (void)ctx; return wall; }

struct broker {
    uint8_t in[65536];  /* client -> broker, not yet parsed */
    size_t in_len;
    uint8_t out[65536]; /* broker -> client */
    size_t out_len;
    uint8_t connack_rc;
    bool auto_puback;
    bool open;
    int connects, disconnects, publishes, pubacks_from_client, subscribes;
    char last_user[512], last_pass[512], last_client_id[256];
    bool last_clean;
    uint16_t last_keepalive;
    uint16_t pending_ids[256];
    int n_pending;
    int open_calls;
    bool refuse_open;
    bool open_uses_key;
    bool silent; /* a link gone quiet: what is sent is swallowed, nothing comes back */
    bool refuse_sub; /* SUBACK 0x80 for the last filter of each SUBSCRIBE */
    int pings;
    int reads;      /* t_recv() calls that returned bytes */
    int busy_sends; /* this many sends take nothing (a UART still shifting out) */
    int busy_skip;  /* sends accepted before busy_sends starts counting */
    /* Called for every PUBLISH the client sends (DPS tests script replies). */
    void (*on_publish)(struct tma_span topic, struct tma_span payload);
    char last_sub[128];
};
static struct broker bk;

static void bk_emit(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(bk.out, sizeof(bk.out), &bk.out_len, p, n));
}

static void bk_parse(void)
{
    struct mqtt_packet pkt;
    uint8_t tmp[64];
    size_t n;
    while (bk.in_len > 0 && mqtt_packet_frame(bk.in, bk.in_len, &pkt) == TMA_OK) {
        if (pkt.type == MQTT_CONNECT) {
            struct mqtt_connect c;
            struct mqtt_connack a = {false, bk.connack_rc};
            assert_int_equal(mqtt_decode_connect(&pkt, &c), TMA_OK);
            snprintf(bk.last_user, sizeof(bk.last_user), "%.*s", (int)c.user_name.len, (const char *)c.user_name.ptr);
            snprintf(bk.last_pass, sizeof(bk.last_pass), "%.*s", (int)c.password.len,
                     c.password.ptr ? (const char *)c.password.ptr : "");
            snprintf(bk.last_client_id, sizeof(bk.last_client_id), "%.*s", (int)c.client_id.len, (const char *)c.client_id.ptr);
            bk.last_clean = c.clean_session;
            bk.last_keepalive = c.keep_alive_s;
            assert_non_null(c.password.ptr); /* X.509: empty but present */
            bk.connects++;
            assert_int_equal(mqtt_encode_connack(&a, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PUBLISH) {
            struct mqtt_publish p;
            assert_int_equal(mqtt_decode_publish(&pkt, &p), TMA_OK);
            bk.publishes++;
            if (bk.on_publish != NULL) {
                bk.on_publish(p.topic, p.payload);
            }
            if (p.qos == 1) {
                if (bk.auto_puback) {
                    assert_int_equal(mqtt_encode_ack(MQTT_PUBACK, p.packet_id, tmp, sizeof(tmp), &n), TMA_OK);
                    bk_emit(tmp, n);
                } else {
                    bk.pending_ids[bk.n_pending++] = p.packet_id;
                }
            }
        } else if (pkt.type == MQTT_SUBSCRIBE) {
            struct mqtt_subscription s;
            memset(&s, 0, sizeof(s));
            assert_int_equal(tma_test_suback_for(&pkt, 1, tmp, sizeof(tmp), &n, &s), TMA_OK);
            snprintf(bk.last_sub, sizeof(bk.last_sub), "%.*s/q%u", (int)s.filter.len,
                     (const char *)s.filter.ptr, (unsigned)s.qos);
            bk.subscribes++;
            if (bk.refuse_sub) {
                tmp[n - 1] = MQTT_SUBACK_FAILURE;
            }
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PUBACK) {
            bk.pubacks_from_client++;
        } else if (pkt.type == MQTT_DISCONNECT) {
            bk.disconnects++;
        } else if (pkt.type == MQTT_PINGREQ) {
            bk.pings++;
            assert_int_equal(mqtt_encode_empty(MQTT_PINGRESP, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
        }
        memmove(bk.in, bk.in + pkt.size, bk.in_len - pkt.size);
        bk.in_len -= pkt.size;
    }
}

static int32_t t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!bk.open) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    if (bk.silent) return (int32_t)len;
    if (bk.busy_skip > 0) {
        bk.busy_skip--;
    } else if (bk.busy_sends > 0) {
        bk.busy_sends--;
        mono++; /* the UART shifts out while the clock runs */
        return 0;
    }
    assert_true(tma_test_queue_put(bk.in, sizeof(bk.in), &bk.in_len, buf, len));
    bk_parse();
    return (int32_t)len;
}

static int32_t t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!bk.open) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    if (bk.silent) return 0;
    {
        size_t n = tma_test_queue_take(bk.out, &bk.out_len, buf, len);
        bk.reads += n > 0u;
        return (int32_t)n;
    }
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    bk.open_calls++;
    *used_key = bk.open_uses_key;
    if (bk.refuse_open) return TMA_ERR(TMA_LAYER_TLS, 0x45);
    bk.open = true;
    bk.in_len = bk.out_len = 0;
    *tr = (struct tma_transport){NULL, t_send, t_recv};
    return TMA_OK;
}
static void c_close(void *ctx) { (void)ctx; bk.open = false; }

static tma_status hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[32])
{
    (void)ctx;
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, msg, msg_len, out) == 0
               ? TMA_OK : TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_CRYPTO);
}

/* ---- client set-up -------------------------------------------------------- */
static struct iothub_client cl;
static struct iothub_outbox ob;
static uint8_t tx[8192], rx[8192], rec[1024];
static char cred[1024];
static struct mqtt_inflight infl[9];
static int ev_connected, ev_disconnected, ev_auth, ev_sub_refused;
static tma_status ev_reason;
static int c2d_seen;
static int input_seen;
static char input_name[64], input_bag[128], input_body[64];
static const char *setup_module; /* module id for setup_client(), NULL: a device */
static uint16_t setup_keep_alive; /* keep-alive for setup_client(), 0: the default */
static size_t setup_tx_cap;       /* tx_cap for setup_client(), 0: all of tx */
static size_t setup_record_cap;   /* record_cap for setup_client(), 0: all of rec */
static size_t setup_cred_cap;     /* cred_cap for setup_client(), 0: all of cred */
static uint32_t setup_sas_lifetime; /* sas_lifetime_s for setup_client(), 0: the default */

static void on_event(void *u, enum iothub_event ev, tma_status r)
{
    (void)u;
    ev_reason = r;
    if (ev == IOTHUB_EVENT_CONNECTED) ev_connected++;
    if (ev == IOTHUB_EVENT_DISCONNECTED) ev_disconnected++;
    if (ev == IOTHUB_EVENT_AUTH_FAILED) ev_auth++;
    if (ev == IOTHUB_EVENT_SUBSCRIBE_REFUSED) ev_sub_refused++;
}
static void on_c2d(void *u, struct tma_span bag, struct tma_span payload)
{
    (void)u; (void)bag; (void)payload;
    c2d_seen++;
}

static void on_input(void *u, struct tma_span name, struct tma_span bag, struct tma_span payload)
{
    (void)u;
    snprintf(input_name, sizeof(input_name), "%.*s", (int)name.len, (const char *)name.ptr);
    snprintf(input_bag, sizeof(input_bag), "%.*s", (int)bag.len, (const char *)bag.ptr);
    snprintf(input_body, sizeof(input_body), "%.*s", (int)payload.len, (const char *)payload.ptr);
    input_seen++;
}

static void setup_client(const char *sas_key, uint32_t window)
{
    struct iothub_client_config cfg;
    struct iothub_storage st = tma_ram_store_init(&rs, TMA_RAM_STORE_MAX, TMA_RAM_STORE_RECORD);
    memset(&bk, 0, sizeof(bk));
    bk.auto_puback = true;
    bk.open_uses_key = sas_key == NULL;
    mono = 1000000;
    wall = 1767225600000ull;
    ev_connected = ev_disconnected = ev_auth = ev_sub_refused = c2d_seen = input_seen = 0;
    input_name[0] = input_bag[0] = input_body[0] = '\0';
    assert_int_equal(iothub_outbox_init(&ob, &st, 200, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "myhub.azure-devices.net";
    cfg.id.device_id = "dev-01";
    cfg.id.module_id = setup_module;
    cfg.keep_alive_s = setup_keep_alive;
    cfg.sas_key = sas_key;
    cfg.sas_lifetime_s = setup_sas_lifetime;
    cfg.hmac.hmac_sha256 = hmac;
    cfg.clock.now_ms = mono_ms;
    cfg.wall.now_ms = wall_ms;
    cfg.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    cfg.outbox = &ob;
    cfg.window = window;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, infl);
    if (setup_tx_cap != 0u) {
        cfg.tx_cap = setup_tx_cap;
    }
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    if (setup_record_cap != 0u) {
        cfg.record_cap = setup_record_cap;
    }
    if (setup_cred_cap != 0u) {
        cfg.cred_cap = setup_cred_cap;
    }
    cfg.cb.on_event = on_event;
    cfg.cb.on_c2d = on_c2d;
    cfg.cb.on_input = on_input;
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

static void steps(int n, uint64_t dt_ms)
{
    int i;
    for (i = 0; i < n; i++) {
        (void)iothub_client_step(&cl);
        mono += dt_ms;
        wall += dt_ms;
    }
}

static void test_client_x509_connect_fields_and_telemetry(void **state)
{
    int i;
    (void)state;
    setup_client(NULL, 0);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_string_equal(bk.last_client_id, "dev-01");
    assert_string_equal(bk.last_user, "myhub.azure-devices.net/dev-01/?api-version=2021-04-12&DeviceClientType=trustm-azure%2F0.1.0");
    assert_string_equal(bk.last_pass, "");
    assert_false(bk.last_clean);
    assert_int_equal(bk.last_keepalive, 240);
    assert_int_equal(bk.subscribes, 1);
    assert_int_equal(ev_connected, 1);
    for (i = 0; i < 20; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m%d", i);
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)m, strlen(m), NULL), TMA_OK);
    }
    steps(20, 1);
    assert_int_equal(bk.publishes, 20);
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(iothub_client_stats(&cl).acked, 20);
    assert_int_equal(iothub_client_stats(&cl).key_operations, 1);
    /* cred_buf holds no credentials after CONNECT */
    {
        size_t k;
        for (k = 0; k < 64; k++) assert_int_equal(cred[k] == 'S' && cred[k + 1] == 'h', 0);
    }
}

/* A SUBACK that refuses the C2D/twin/methods subscription: one
 * SUBSCRIBE_REFUSED event with MQTT_E_SUBSCRIBE_REFUSED, the connection
 * stays and telemetry goes on. Before, nothing told the application: C2D
 * and twin replies just never came. An accepted SUBACK gives no event. */
static void test_client_subscribe_refused_is_reported(void **state)
{
    (void)state;
    setup_client(NULL, 0);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(ev_sub_refused, 0);
    iothub_client_disconnect(&cl);
    bk.refuse_sub = true;
    iothub_client_restart(&cl);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.subscribes, 2);
    assert_int_equal(ev_sub_refused, 1);
    assert_int_equal(ev_reason, MQTT_E_SUBSCRIBE_REFUSED);
    assert_int_equal(ev_disconnected, 0);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"t", 1, NULL), TMA_OK);
    steps(5, 1);
    assert_int_equal(bk.publishes, 1);
    assert_int_equal(iothub_client_stats(&cl).acked, 1);
    assert_int_equal(ev_sub_refused, 1);
    /* and it is never asked again on its own: 10 minutes later still one
     * refused SUBSCRIBE on this connection, no reconnect (RETRY16) */
    steps(6000, 100);
    assert_int_equal(bk.subscribes, 2);
    assert_int_equal(bk.connects, 2);
    assert_int_equal(ev_sub_refused, 1);
    assert_int_equal(ev_disconnected, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A message whose retransmission cannot be read (a storage read error, not
 * a message dropped meanwhile) is still in the outbox: it is published again
 * instead of waiting for a restart. */
static void test_client_resend_read_error_still_delivers(void **state)
{
    int i;
    (void)state;
    setup_client(NULL, 4);
    steps(5, 1);
    bk.auto_puback = false;
    for (i = 0; i < 6; i++) {
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"x", 1, NULL), TMA_OK);
    }
    steps(20, 1);
    assert_int_equal(bk.publishes, 4);
    bk.open = false;
    bk.n_pending = 0;
    rs.get_fail_seq = 1; /* the retransmission of message 1 fails once */
    steps(5, 1);
    bk.auto_puback = true;
    for (i = 0; i < 2000 && iothub_outbox_count(&ob) > 0; i++) steps(1, 50);
    assert_int_equal(rs.get_fail_seq, UINT32_MAX); /* the failure happened */
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(iothub_client_stats(&cl).acked, 6);
}

static void test_client_window_bounds_inflight(void **state)
{
    int i;
    (void)state;
    setup_client(NULL, 4);
    steps(5, 1);
    bk.auto_puback = false;
    for (i = 0; i < 30; i++) {
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"x", 1, NULL), TMA_OK);
    }
    steps(20, 1);
    assert_int_equal(bk.publishes, 4); /* nothing beyond the window without PUBACKs */
    /* Drop the connection: after the reconnect the same 4 are retransmitted (DUP), no more. */
    bk.open = false;
    bk.n_pending = 0;
    steps(5, 1);
    bk.auto_puback = true;
    for (i = 0; i < 2000 && iothub_outbox_count(&ob) > 0; i++) steps(1, 50);
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(iothub_client_stats(&cl).retransmitted, 4);
    assert_int_equal(bk.publishes, 34);
    assert_true(ev_disconnected >= 1);
}

/* ---- an outbox that is never empty renumbers (rebase) ----------------- */

/* A RAM store that renumbers stored records (storage.h, rebase): up to 16
 * records, any numbers; rebase() lowers each by IOTHUB_OUTBOX_REBASE_AT. */
#define RN_MAX 16
struct rn_store {
    uint32_t seq[RN_MAX];
    uint8_t data[RN_MAX][128];
    size_t len[RN_MAX];
    bool live[RN_MAX];
    uint32_t end;
};
static struct rn_store rn;

static int rn_find(uint32_t seq)
{
    int k;
    for (k = 0; k < RN_MAX; k++) {
        if (rn.live[k] && rn.seq[k] == seq) return k;
    }
    return -1;
}

static tma_status rn_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    size_t i, off = 0;
    int k;
    (void)ctx;
    if (seq < rn.end || seq == UINT32_MAX) return TMA_ERR(TMA_LAYER_STORE, TMA_C_STATE);
    for (k = 0; k < RN_MAX && rn.live[k]; k++) {
    }
    if (k == RN_MAX) return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    for (i = 0; i < n; i++) {
        assert_true(off + parts[i].len <= sizeof(rn.data[k]));
        memcpy(rn.data[k] + off, parts[i].ptr, parts[i].len);
        off += parts[i].len;
    }
    rn.seq[k] = seq;
    rn.len[k] = off;
    rn.live[k] = true;
    rn.end = seq + 1u;
    return TMA_OK;
}

static tma_status rn_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    int k = rn_find(seq);
    (void)ctx;
    if (k < 0) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    *out_len = rn.len[k];
    if (cap < rn.len[k]) return TMA_ERR(TMA_LAYER_STORE, TMA_C_TOO_SMALL);
    memcpy(buf, rn.data[k], rn.len[k]);
    return TMA_OK;
}

static tma_status rn_del(void *ctx, uint32_t seq)
{
    int k = rn_find(seq);
    (void)ctx;
    if (k < 0) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    rn.live[k] = false;
    return TMA_OK;
}

static tma_status rn_next(void *ctx, uint32_t from, uint32_t *out)
{
    int k, best = -1;
    (void)ctx;
    for (k = 0; k < RN_MAX; k++) {
        if (rn.live[k] && rn.seq[k] >= from && (best < 0 || rn.seq[k] < rn.seq[best])) best = k;
    }
    if (best < 0) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    *out = rn.seq[best];
    return TMA_OK;
}

static uint32_t rn_end(void *ctx)
{
    (void)ctx;
    return rn.end;
}

static tma_status rn_rebase(void *ctx)
{
    int k;
    (void)ctx;
    for (k = 0; k < RN_MAX; k++) {
        if (rn.live[k] && rn.seq[k] < IOTHUB_OUTBOX_REBASE_AT) return TMA_ERR(TMA_LAYER_STORE, TMA_C_STATE);
    }
    for (k = 0; k < RN_MAX; k++) {
        rn.seq[k] -= rn.live[k] ? IOTHUB_OUTBOX_REBASE_AT : 0u;
    }
    rn.end -= IOTHUB_OUTBOX_REBASE_AT;
    return TMA_OK;
}

/* Message ids ("m<id>") in the order their PUBLISHes reached the broker. */
static unsigned wire_ids[256];
static size_t wire_n;
static void record_wire(struct tma_span topic, struct tma_span payload)
{
    char t[16];
    (void)topic;
    assert_true(payload.len > 1u && payload.len < sizeof(t) && payload.ptr[0] == 'm');
    assert_true(wire_n < sizeof(wire_ids) / sizeof(wire_ids[0]));
    memcpy(t, payload.ptr + 1, payload.len - 1u);
    t[payload.len - 1u] = '\0';
    wire_ids[wire_n++] = (unsigned)strtoul(t, NULL, 10);
}

static void bk_puback_oldest(void)
{
    uint8_t tmp[8];
    size_t n;
    assert_true(bk.n_pending > 0);
    assert_int_equal(mqtt_encode_ack(MQTT_PUBACK, bk.pending_ids[0], tmp, sizeof(tmp), &n), TMA_OK);
    bk_emit(tmp, n);
    memmove(bk.pending_ids, bk.pending_ids + 1, (size_t)(bk.n_pending - 1) * sizeof(bk.pending_ids[0]));
    bk.n_pending--;
}

/* A device sending continuously through the client (window 4, the broker
 * acknowledging the oldest PUBLISH once 4 wait) from numbers just below
 * 2^31: the outbox is never empty at a push, so it renumbers with
 * messages in flight under their old numbers (the MQTT tags). What reaches
 * the broker: every message, in order, once, except one step back at the
 * rebase that sends again at most the window (the old-tagged PUBACKs find
 * nothing in the outbox; the client counts them as no acknowledgement).
 * With @p drop the connection is lost right after the rebase: the MQTT
 * client resends the old-tagged PUBLISHes, the outbox has no message under
 * those tags (forgotten), and the renumbered copies go out instead. Fails
 * on the old code: it renumbers only an empty outbox (rebased stays 0; its
 * numbers would run out 2^31 pushes later). */
static void rebase_under_load(bool drop)
{
    struct iothub_storage st;
    char msg[16];
    unsigned id, back = 0, dup = 0;
    size_t k;
    int i;
    setup_client(NULL, 4);
    memset(&rn, 0, sizeof(rn));
    rn.end = IOTHUB_OUTBOX_REBASE_AT - 6u;
    memset(&st, 0, sizeof(st));
    st.put = rn_put;
    st.get = rn_get;
    st.del = rn_del;
    st.next = rn_next;
    st.seq_end = rn_end;
    st.rebase = rn_rebase;
    assert_int_equal(iothub_outbox_init(&ob, &st, 12, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    wire_n = 0;
    bk.on_publish = record_wire;
    steps(5, 1);
    assert_int_equal(ev_connected, 1);
    bk.auto_puback = false;
    for (id = 0; id < 40u; id++) {
        uint32_t rebased = iothub_outbox_stats(&ob).rebased;
        snprintf(msg, sizeof(msg), "m%u", id);
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)msg, strlen(msg), NULL), TMA_OK);
        if (drop && iothub_outbox_stats(&ob).rebased != rebased) {
            assert_true(bk.n_pending >= 3); /* in flight under old tags */
            bk.open = false;
            bk.n_pending = 0;
            for (i = 0; i < 2000 && ev_connected < 2; i++) steps(1, 50); /* back */
            assert_int_equal(ev_connected, 2);
        }
        steps(1, 1);
        if (bk.n_pending == 4) bk_puback_oldest();
        steps(1, 1);
        assert_true(iothub_outbox_count(&ob) > 0u); /* never empty */
    }
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u);
    assert_int_equal(iothub_outbox_stats(&ob).refused, 0u);
    bk.auto_puback = true;
    while (bk.n_pending > 0) bk_puback_oldest();
    for (i = 0; i < 200 && iothub_outbox_count(&ob) > 0u; i++) steps(1, 50);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    assert_int_equal(iothub_client_stats(&cl).acked, 40u);
    /* on the wire: 0, 1, 2, ... with one step back of 1..4 */
    assert_int_equal(wire_ids[0], 0u);
    for (k = 1; k < wire_n; k++) {
        if (wire_ids[k] != wire_ids[k - 1] + 1u) {
            assert_true(wire_ids[k] < wire_ids[k - 1]);
            back++;
            dup = wire_ids[k - 1] + 1u - wire_ids[k];
        }
    }
    assert_int_equal(back, 1u);
    assert_true(dup >= 1u && dup <= 4u);
    assert_int_equal(wire_n, 40u + dup);
    assert_int_equal(wire_ids[wire_n - 1], 39u);
    bk.on_publish = NULL;
}

static void test_client_outbox_rebase_under_load(void **state)
{
    (void)state;
    rebase_under_load(false);
    assert_int_equal(iothub_client_stats(&cl).retransmitted, 0u);
    rebase_under_load(true);
    assert_true(ev_disconnected >= 1);
    /* the resends after the reconnect carried old tags: no message has
     * those numbers now, the MQTT client forgot the slots */
    assert_int_equal(iothub_client_stats(&cl).retransmitted, 0u);
}

static void test_client_sas_token_and_renewal(void **state)
{
    char want_prefix[256];
    char se[32];
    (void)state;
    setup_client("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 0);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    snprintf(want_prefix, sizeof(want_prefix), "SharedAccessSignature sr=myhub.azure-devices.net%%2Fdevices%%2Fdev-01&sig=");
    assert_memory_equal(bk.last_pass, want_prefix, strlen(want_prefix));
    snprintf(se, sizeof(se), "&se=%llu", (unsigned long long)(1767225600ull + 3600ull));
    assert_non_null(strstr(bk.last_pass, se));
    assert_int_equal(iothub_client_stats(&cl).key_operations, 0);
    /* 80 % of 3600 s later the client renews by reconnecting */
    mono += 2870000; wall += 2870000;
    steps(3, 1);
    assert_int_equal(bk.connects, 1);
    mono += 20000; wall += 20000;
    steps(5, 1);
    assert_int_equal(bk.disconnects, 1);
    assert_int_equal(bk.connects, 2);
    snprintf(se, sizeof(se), "&se=%llu", (unsigned long long)((wall / 1000) + 3600ull));
    assert_non_null(strstr(bk.last_pass, "&se=1767232"));
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* Whether the shared access signature of the last CONNECT (bk.last_pass's
 * sig=...) is still anywhere in the client's buffers. */
static bool sig_left_in_buffers(void)
{
    const char *s = strstr(bk.last_pass, "&sig="), *e;
    size_t n, i;
    const uint8_t *bufs[4] = {tx, rx, rec, (const uint8_t *)cred};
    const size_t caps[4] = {sizeof(tx), sizeof(rx), sizeof(rec), sizeof(cred)};
    int b;
    assert_non_null(s);
    s += 5;
    e = strstr(s, "&se=");
    assert_non_null(e);
    n = (size_t)(e - s);
    assert_true(n >= 40u);
    for (b = 0; b < 4; b++) {
        for (i = 0; i + n <= caps[b]; i++) {
            if (memcmp(bufs[b] + i, s, n) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* The SAS token is a bearer credential (anyone who has it is the device
 * until se=): once CONNECT is on its way it stays in none of the client's
 * buffers, neither in cred_buf where it was made nor in the transmit buffer
 * the CONNECT packet was encoded into, after a CONNACK that accepts or
 * refuses it and after a connection lost before any answer. */
static void test_client_sas_token_not_left_in_buffers(void **state)
{
    (void)state;
    memset(tx, 0, sizeof(tx));
    setup_client("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 0);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_false(sig_left_in_buffers());
    /* refused: CONNACK 5 */
    setup_client("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 0);
    bk.connack_rc = 5;
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_AUTH_FAILED);
    assert_false(sig_left_in_buffers());
}

/* The SAS renewal's DISCONNECT reaches the hub also when the transport is
 * busy at that moment (send() 0 is allowed: a UART still shifting out):
 * dropped, the hub would see the connection vanish every renewal and log
 * an unexpected drop (as iothub_client_disconnect(), a229d41). */
static void test_client_sas_renewal_disconnect_on_busy_transport(void **state)
{
    (void)state;
    setup_client("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 0);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    mono += 2890000; wall += 2890000;
    bk.busy_sends = 3;
    steps(1, 1);
    assert_int_equal(bk.disconnects, 1);
    assert_int_equal(bk.busy_sends, 0);
    steps(5, 1);
    assert_int_equal(bk.connects, 2);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A SAS renewal that is due as soon as the connection is up (a lifetime of
 * 1..4 s renews at 80 % = at once, or a wall clock that jumps forward past
 * the renewal time at every connect) is a connection that did not last: the
 * next one waits for the back-off. Before: the renewal reconnected at the
 * next step with the back-off reset, so a 1 s token made a CONNECT, SUBSCRIBE
 * and DISCONNECT every few steps (2,000+ connections in 60 s here) for as
 * long as it ran. */
static void test_client_sas_renewal_due_at_once_is_paced(void **state)
{
    uint64_t start;
    (void)state;
    setup_sas_lifetime = 1u;
    setup_client("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 0);
    setup_sas_lifetime = 0u;
    start = mono;
    while (mono - start < 60000) steps(1, 10); /* 60 s */
    fprintf(stderr, "connections in 60 s with a 1 s SAS lifetime: %d\n", bk.connects);
    /* back-off 1, 2, 4, 8, 16, 32 s (+ up to 5 s jitter each): at most 7 */
    assert_true(bk.connects >= 2);
    assert_true(bk.connects <= 7);
    assert_int_equal(bk.disconnects, bk.connects - (iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED));
}

static void test_client_connack_refusal_stops(void **state)
{
    (void)state;
    setup_client(NULL, 0);
    bk.connack_rc = 5;
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_AUTH_FAILED);
    assert_int_equal(ev_auth, 1);
    assert_int_equal(ev_reason, MQTT_E_CONNACK_NOT_AUTHORIZED);
    steps(100, 10000); /* 1000 s: no new attempt */
    assert_int_equal(bk.connects, 1);
    bk.connack_rc = 0;
    iothub_client_restart(&cl);
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

static void test_client_paces_chip_key_connects(void **state)
{
    uint64_t start;
    int ops;
    (void)state;
    setup_client(NULL, 0);
    bk.refuse_open = true; /* every handshake fails after using the key */
    start = mono;
    while (mono - start < 600000) steps(1, 10); /* 10 minutes */
    ops = (int)iothub_client_stats(&cl).key_operations;
    /* burst 4, then at most one per 5.3 s; back-off caps at 100 s + jitter */
    assert_true(ops <= 4 + 600000 / 5300 + 1);
    assert_true(ops >= 6);
    assert_int_equal(ops, bk.open_calls);
    /* Without pacing pressure (fast failures, SAS) the back-off alone rules */
    fprintf(stderr, "key operations in 10 min of failing connects: %d\n", ops);
}

static void test_client_pacer_under_flapping_connection(void **state)
{
    uint64_t start, first = 0, last = 0;
    int ops;
    (void)state;
    setup_client(NULL, 0);
    /* connects succeed but drop right away: a connection that did not last
     * counts as a failed attempt (IOTHUB_STABLE_CONNECTION_MS), so the
     * back-off grows; the pacer bound holds as well */
    start = mono;
    while (mono - start < 120000) {
        steps(1, 10);
        if (bk.open && iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED) {
            if (first == 0) first = mono;
            last = mono;
            bk.open = false;
        }
    }
    ops = (int)iothub_client_stats(&cl).key_operations;
    fprintf(stderr, "key operations in 120 s of a flapping connection: %d\n", ops);
    assert_true(ops <= 4 + 120000 / 5300 + 1);
    /* back-off 1, 2, 4, ... 64 s (+ up to 5 s jitter each) within 120 s:
     * at least 5 attempts, at most 9 (the pacer alone allowed 26) */
    assert_true(ops >= 5);
    assert_true(ops <= 9);
    (void)first; (void)last;
}

/* A hub that completes the TLS handshake (a chip signature) and then never
 * answers the CONNECT: each attempt ends at the 60 s CONNACK wait
 * (IOTHUB_CONNACK_TIMEOUT_MS), so there is at most one attempt, and one
 * signature, per minute; the back-off subtracts the minute spent and adds
 * what is left (from the 7th attempt on): 9 attempts in 10 minutes. With
 * the MQTT client's 30 s default instead (a mutant) they come every 30 s. */
static void test_client_connack_never_comes_paced(void **state)
{
    uint64_t start, last = 0;
    int opens = 0;
    (void)state;
    setup_client(NULL, 0);
    bk.silent = true;
    start = mono;
    while (mono - start < 600000) {
        steps(1, 100);
        if (bk.open_calls != opens) {
            if (opens > 0) {
                assert_true(mono - last >= 60000u);
            }
            opens = bk.open_calls;
            last = mono;
        }
    }
    fprintf(stderr, "attempts in 10 min against a hub that never sends CONNACK: %d\n", opens);
    assert_true(opens >= 8 && opens <= 10);
    assert_int_equal((int)iothub_client_stats(&cl).key_operations, opens);
    assert_int_equal(iothub_client_stats(&cl).connects, 0u);
}

/* A PUBLISH the hub never acknowledges is not sent again while the
 * connection lives (no in-session retransmission timer: 10 minutes, the
 * link answering its pings), only after a reconnect, once, with DUP. */
static void test_client_unacked_publish_resent_after_reconnect_only(void **state)
{
    (void)state;
    setup_client(NULL, 0);
    bk.auto_puback = false;
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"t", 1, NULL), TMA_OK);
    steps(6000, 100);
    assert_int_equal(bk.publishes, 1);
    assert_true(bk.pings >= 2);
    assert_int_equal(bk.connects, 1);
    assert_int_equal(iothub_client_stats(&cl).retransmitted, 0u);
    bk.open = false; /* the link dies */
    bk.auto_puback = true;
    steps(300, 100);
    assert_int_equal(bk.connects, 2);
    assert_int_equal(bk.publishes, 2);
    assert_int_equal(iothub_client_stats(&cl).retransmitted, 1u);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
}

static void test_client_bad_incoming_acked_not_delivered(void **state)
{
    uint8_t pkt[256];
    size_t n;
    struct mqtt_publish p;
    (void)state;
    setup_client(NULL, 0);
    steps(5, 1);
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)"devices/dev-01/messages/devicebound/a=%zz";
    p.topic.len = strlen((const char *)p.topic.ptr);
    p.qos = 1;
    p.packet_id = 77;
    assert_int_equal(mqtt_encode_publish(&p, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
    p.topic.ptr = (const uint8_t *)"devices/dev-01/messages/devicebound/%24.mid=1";
    p.topic.len = strlen((const char *)p.topic.ptr);
    p.packet_id = 78;
    assert_int_equal(mqtt_encode_publish(&p, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
    steps(5, 1);
    assert_int_equal(c2d_seen, 1);
    assert_int_equal(bk.pubacks_from_client, 2);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A C2D that arrives on a persistent session's old subscription while this
 * program has no C2D handler is not acknowledged (the hub keeps it), while
 * the same message is acknowledged once a handler exists. */
static void test_client_c2d_without_handler_not_acked(void **state)
{
    uint8_t pkt[256];
    size_t n;
    struct mqtt_publish p;
    (void)state;
    setup_client(NULL, 0);
    cl.cfg.cb.on_c2d = NULL;
    steps(5, 1);
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)"devices/dev-01/messages/devicebound/%24.mid=9";
    p.topic.len = strlen((const char *)p.topic.ptr);
    p.qos = 1;
    p.packet_id = 90;
    assert_int_equal(mqtt_encode_publish(&p, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
    steps(5, 1);
    assert_int_equal(bk.pubacks_from_client, 0);
    assert_int_equal(c2d_seen, 0);
    assert_int_equal(iothub_client_stats(&cl).c2d_received, 0);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    cl.cfg.cb.on_c2d = on_c2d;
    p.packet_id = 91;
    assert_int_equal(mqtt_encode_publish(&p, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
    steps(5, 1);
    assert_int_equal(bk.pubacks_from_client, 1);
    assert_int_equal(c2d_seen, 1);
}

/* The broker sends @p topic with @p body as QoS 1 PUBLISH @p id. */
static void bk_send_publish(const char *topic, const char *body, uint16_t id)
{
    uint8_t pkt[512];
    size_t n;
    assert_int_equal(tma_test_encode_publish(topic, body, 1, id, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
}

static char last_topic[256];
static void record_topic(struct tma_span topic, struct tma_span payload)
{
    (void)payload;
    snprintf(last_topic, sizeof(last_topic), "%.*s", (int)topic.len, (const char *)topic.ptr);
}

/* A module identity (IoT Edge): messages routed to its inputs reach on_input
 * with the input name, bag and body; without a handler they are not
 * acknowledged (the hub keeps them); topics of another module, malformed ones
 * and C2D-shaped ones are acknowledged and not delivered; a message to a
 * named output carries "%24.on=". */
static void test_client_module_input_messages(void **state)
{
    (void)state;
    setup_module = "filter";
    setup_client(NULL, 0);
    setup_module = NULL;
    cl.cfg.cb.on_input = NULL;
    steps(5, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_string_equal(bk.last_client_id, "dev-01/filter");
    assert_string_equal(bk.last_user,
                        "myhub.azure-devices.net/dev-01/filter/?api-version=2021-04-12&DeviceClientType=trustm-azure%2F0.1.0");
    /* no handler: no PUBACK, nothing delivered */
    bk_send_publish("devices/dev-01/modules/filter/inputs/input1/%24.mid=7&temp=21", "hello", 11);
    steps(5, 1);
    assert_int_equal(bk.pubacks_from_client, 0);
    assert_int_equal(input_seen, 0);
    assert_int_equal(iothub_client_stats(&cl).c2d_received, 0);
    /* with a handler: delivered once, acknowledged once */
    cl.cfg.cb.on_input = on_input;
    bk_send_publish("devices/dev-01/modules/filter/inputs/input1/%24.mid=7&temp=21", "hello", 12);
    steps(5, 1);
    assert_int_equal(input_seen, 1);
    assert_int_equal(bk.pubacks_from_client, 1);
    assert_string_equal(input_name, "input1");
    assert_string_equal(input_bag, "%24.mid=7&temp=21");
    assert_string_equal(input_body, "hello");
    assert_int_equal(iothub_client_stats(&cl).c2d_received, 1);
    /* not ours or malformed: acknowledged (never redelivered forever), not delivered */
    bk_send_publish("devices/dev-01/modules/other/inputs/input1/", "x", 13);
    bk_send_publish("devices/dev-01/modules/filter/inputs//a=1", "x", 14);
    bk_send_publish("devices/dev-01/modules/filter/inputs/input2/a=%zz", "x", 15);
    bk_send_publish("devices/dev-01/messages/devicebound/a=1", "x", 16);
    steps(5, 1);
    assert_int_equal(input_seen, 1);
    assert_int_equal(c2d_seen, 0);
    assert_int_equal(bk.pubacks_from_client, 5);
    /* no bag, no trailing '/' */
    bk_send_publish("devices/dev-01/modules/filter/inputs/in%20b", "", 17);
    steps(5, 1);
    assert_int_equal(input_seen, 2);
    assert_string_equal(input_name, "in%20b");
    assert_string_equal(input_bag, "");
    assert_string_equal(input_body, "");
    /* a message to the output "output1" */
    {
        struct iothub_property on = {IOTHUB_PROP_OUTPUT_NAME, "output1"};
        bk.on_publish = record_topic;
        assert_int_equal(iothub_client_send_telemetry(&cl, &on, 1, (const uint8_t *)"{}", 2, NULL), TMA_OK);
        steps(5, 1);
        bk.on_publish = NULL;
        assert_string_equal(last_topic, "devices/dev-01/modules/filter/messages/events/%24.on=output1");
        assert_int_equal(iothub_outbox_count(&ob), 0);
    }
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
}

/* A device identity with an on_input handler gets no input messages: the
 * input topic shape is a module's. */
static void test_client_device_ignores_input_topics(void **state)
{
    (void)state;
    setup_client(NULL, 0);
    steps(5, 1);
    bk_send_publish("devices/dev-01/modules/filter/inputs/input1/a=1", "x", 21);
    bk_send_publish("devices/dev-01/messages/devicebound/a=1", "c2d", 22);
    steps(5, 1);
    assert_int_equal(input_seen, 0);
    assert_int_equal(c2d_seen, 1);
    assert_int_equal(bk.pubacks_from_client, 2);
}

static void test_client_rejects_bad_config_and_calls(void **state)
{
    struct iothub_client_config cfg;
    struct tma_span bad = {(const uint8_t *)"{nope", 5};
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_init(NULL, &cfg), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    setup_client(NULL, 0);
    {
        /* an empty module id is refused once, at init (not at every connect) */
        static struct iothub_client other;
        cfg = cl.cfg;
        cfg.id.module_id = "";
        assert_int_equal(iothub_client_init(&other, &cfg), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
        cfg.id.module_id = "m1";
        assert_int_equal(iothub_client_init(&other, &cfg), TMA_OK);
    }
    assert_int_equal(iothub_client_twin_get(&cl, NULL), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_STATE));
    steps(5, 1);
    assert_int_equal(iothub_client_twin_patch(&cl, bad, NULL), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED));
    assert_int_equal(iothub_client_method_respond(&cl, bad, 200, bad), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED));
}

/* ---- a silent link (network-faults.md, F5) -------------------------------- */
/* Nothing arrives and nothing is closed: the keep-alive must notice. The
 * client sends PINGREQ after keep-alive seconds without traffic and ends the
 * connection when no PINGRESP comes within half the keep-alive (at most
 * 30 s), so a dead link is found within 1.5 x keep-alive. */

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
        wall += dt;
    }
    return limit + 1;
}

static uint64_t silence_after_idle(uint16_t keep_alive_s, uint64_t idle_ms, uint64_t limit, uint64_t dt)
{
    uint64_t took;
    setup_keep_alive = keep_alive_s;
    setup_client(NULL, 0);
    setup_keep_alive = 0;
    assert_int_equal(run_until_drop(200, 10), 201);
    assert_int_equal(ev_connected, 1);
    assert_int_equal(bk.last_keepalive, keep_alive_s);
    /* A healthy link stays up: its pings are answered. */
    assert_int_equal(run_until_drop(idle_ms, dt), idle_ms + 1);
    assert_true(bk.pings >= 2);
    bk.silent = true;
    took = run_until_drop(limit, dt);
    assert_int_equal(ev_disconnected, 1);
    return took;
}

static void test_client_short_keepalive_notices_silence(void **state)
{
    uint64_t took;
    (void)state;
    took = silence_after_idle(4, 21000, 60000, 50);
    /* at most 4 s to the next PINGREQ plus 2 s for its answer (+ a step);
     * the old fixed 30 s wait took up to 34 s */
    assert_true(took <= 6050);
    assert_true(took >= 2000);
}

static void test_client_long_keepalive_keeps_30s_ceiling(void **state)
{
    uint64_t took;
    (void)state;
    took = silence_after_idle(120, 300000, 400000, 500);
    assert_true(took <= 150500);
    assert_true(took >= 30000);
}

/* ---- DPS client over the same fake broker ---------------------------------- */
static struct dps_client dc;
static char dps_topics[8][160];
static char dps_bodies[8][160];
static const char *dps_payload_json;
static int dps_requests;
static const char *dps_reply_status[8];
static const char *dps_reply_body[8];
static uint8_t dps_connack_rc;
static bool dps_cut[8];      /* cut the connection when request n arrives (no answer) */
static uint64_t dps_at[8];   /* mono when request n arrived */

/* Answer request n with dps_reply_status[n] / dps_reply_body[n] (QoS 1,
 * echoing the request's $rid); NULL status: no answer. */
/* Per request n (session 14): the retry-after value sent with its reply
 * (NULL: "3" for a 202, none otherwise); stale copies of the reply sent
 * before it (the previous $rid, and the $rid with a leading zero), each
 * claiming another hub; a conflicting copy sent after it (same $rid, once
 * the client no longer waits). */
static const char *dps_reply_retry[8];
static bool dps_reply_stale[8];
static bool dps_reply_dup[8];
static const char dps_evil_body[] = "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":"
                                    "{\"assignedHub\":\"evil.azure-devices.net\",\"deviceId\":\"evil\","
                                    "\"status\":\"assigned\"}}";

static void dps_emit_reply(const char *status, const char *rid, const char *retry, const char *body, uint16_t pid)
{
    char t[256];
    uint8_t pkt[1024];
    size_t n = 0;
    struct mqtt_publish p;
    snprintf(t, sizeof(t), "$dps/registrations/res/%s/?$rid=%s%s%s", status, rid, retry != NULL ? "&retry-after=" : "",
             retry != NULL ? retry : "");
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)t;
    p.topic.len = strlen(t);
    p.payload.ptr = (const uint8_t *)body;
    p.payload.len = strlen(body);
    p.qos = 1;
    p.packet_id = pid;
    assert_int_equal(mqtt_encode_publish(&p, pkt, sizeof(pkt), &n), TMA_OK);
    bk_emit(pkt, n);
}

static void dps_script(struct tma_span topic, struct tma_span payload)
{
    char rid[16], other[24];
    const char *q, *retry;
    int i = dps_requests++;
    assert_true(i < 8);
    snprintf(dps_topics[i], sizeof(dps_topics[i]), "%.*s", (int)topic.len, (const char *)topic.ptr);
    snprintf(dps_bodies[i], sizeof(dps_bodies[i]), "%.*s", (int)payload.len, (const char *)payload.ptr);
    dps_at[i] = mono;
    if (dps_cut[i]) {
        bk.open = false; /* the link dies with the request: the next send or recv fails */
        return;
    }
    if (dps_reply_status[i] == NULL) {
        return;
    }
    q = strstr(dps_topics[i], "$rid=");
    assert_non_null(q);
    snprintf(rid, sizeof(rid), "%.*s", (int)strcspn(q + 5, "&"), q + 5);
    retry = dps_reply_retry[i] != NULL ? dps_reply_retry[i] : strcmp(dps_reply_status[i], "202") == 0 ? "3" : NULL;
    if (dps_reply_stale[i]) {
        unsigned long r = strtoul(rid, NULL, 10);
        assert_true(r > 0u);
        snprintf(other, sizeof(other), "%lu", r - 1u);
        dps_emit_reply("200", other, NULL, dps_evil_body, (uint16_t)(200 + i));
        snprintf(other, sizeof(other), "0%s", rid);
        dps_emit_reply("200", other, NULL, dps_evil_body, (uint16_t)(210 + i));
    }
    dps_emit_reply(dps_reply_status[i], rid, retry, dps_reply_body[i], (uint16_t)(100 + i));
    if (dps_reply_dup[i]) {
        dps_emit_reply("200", rid, NULL, dps_evil_body, (uint16_t)(220 + i));
    }
}

/* The configuration every DPS test starts from: scope, registration id,
 * clock, fake connector and the test's buffers. */
static void dps_cfg_base(struct dps_client_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id_scope = "0ne00ABCDEF";
    cfg->registration_id = "dev-01";
    cfg->conn.clock.now_ms = mono_ms;
    cfg->conn.connector.open = c_open;
    cfg->conn.connector.close = c_close;
    cfg->conn.tx_buf = tx; cfg->conn.tx_cap = sizeof(tx);
    cfg->conn.rx_buf = rx; cfg->conn.rx_cap = sizeof(rx);
    cfg->conn.inflight = infl; cfg->conn.inflight_count = sizeof(infl) / sizeof(infl[0]);
    cfg->conn.cred_buf = cred; cfg->conn.cred_cap = sizeof(cred);
    iothub_retry_policy_init(&cfg->conn.retry);
    cfg->conn.retry.min_ms = 500;
    cfg->conn.retry.max_ms = 1000;
    cfg->conn.retry.jitter_max_ms = 0;
}

/* For one test: the transport takes the CONNECT, then nothing for this many
 * sends (set before dps_setup_and_step(), which clears it). */
static int dps_busy_sends;
static size_t dps_tx_cap; /* 0: all of tx */
static uint32_t dps_timeout_ms; /* 0: the default (set before dps_setup_and_step(), which clears it) */
/* For one test: the clock steps back by 1 ms (and stays behind) every 2 s
 * and right after each step that moved a packet, each time followed by one
 * more step at the same true time (set before dps_setup_and_step(), which
 * clears it); dps_steps_back_n counts them, dps_end_mono is the true time
 * of the step that ended the registration. */
static bool dps_steps_back;
static unsigned dps_steps_back_n;
static uint64_t dps_end_mono;

static int bk_traffic(void)
{
    return bk.connects + bk.publishes + bk.subscribes + bk.pings + bk.reads;
}

static tma_status dps_setup_and_step(const char *sas_key, int max_steps, uint64_t dt_ms)
{
    struct dps_client_config cfg;
    tma_status st = TMA_IN_PROGRESS;
    int i;
    memset(&bk, 0, sizeof(bk));
    bk.auto_puback = true;
    bk.open_uses_key = sas_key == NULL;
    bk.on_publish = dps_script;
    bk.connack_rc = dps_connack_rc;
    if (dps_busy_sends > 0) {
        bk.busy_skip = 1;
        bk.busy_sends = dps_busy_sends;
        dps_busy_sends = 0;
    }
    dps_requests = 0;
    memset(dps_topics, 0, sizeof(dps_topics));
    memset(dps_bodies, 0, sizeof(dps_bodies));
    mono = 5000;
    mono_behind = 0;
    dps_steps_back_n = 0;
    wall = 1767225600000ull;
    dps_cfg_base(&cfg);
    cfg.payload_json = dps_payload_json;
    if (dps_tx_cap != 0u) {
        cfg.conn.tx_cap = dps_tx_cap;
        dps_tx_cap = 0u;
    }
    cfg.timeout_ms = dps_timeout_ms;
    dps_timeout_ms = 0u;
    cfg.conn.sas_key = sas_key;
    cfg.conn.hmac.hmac_sha256 = hmac;
    cfg.conn.wall.now_ms = wall_ms;
    assert_int_equal(dps_client_init(&dc, &cfg), TMA_OK);
    for (i = 0; i < max_steps && st == TMA_IN_PROGRESS; i++) {
        int moved = bk_traffic();
        dps_end_mono = mono;
        st = dps_client_step(&dc);
        if (dps_steps_back && st == TMA_IN_PROGRESS && (moved != bk_traffic() || (mono - 5000u) % 2000u == 0u)) {
            mono_behind++;
            dps_steps_back_n++;
            st = dps_client_step(&dc);
        }
        mono += dt_ms;
        wall += dt_ms;
    }
    dps_steps_back = false;
    return st;
}

static void test_dps_register_poll_assigned(void **state)
{
    const struct dps_client_result *r;
    (void)state;
    dps_reply_status[0] = "202";
    dps_reply_body[0] = "{\"operationId\":\"4.abc\\u002Fdef\",\"status\":\"assigning\"}";
    dps_reply_status[1] = "200";
    dps_reply_body[1] = "{\"operationId\":\"4.abc/def\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"hub2.azure-devices.net\",\"deviceId\":\"dev-01\",\"status\":\"assigned\"}}";
    /* 100 ms per step: the poll must wait for retry-after (3 s). */
    assert_int_equal(dps_setup_and_step(NULL, 200, 100), TMA_OK);
    /* CONNECT as DPS wants it (spec 6.1), through the hub client's connect */
    assert_string_equal(bk.last_client_id, "dev-01");
    assert_string_equal(bk.last_user,
                        "0ne00ABCDEF/registrations/dev-01/api-version=2019-03-31&ClientVersion=trustm-azure%2F0.1.0");
    assert_string_equal(bk.last_pass, "");
    assert_true(bk.last_clean);
    assert_int_equal(bk.last_keepalive, 60);
    assert_string_equal(bk.last_sub, "$dps/registrations/res/#/q1");
    assert_int_equal(dps_requests, 2);
    assert_string_equal(dps_topics[0], "$dps/registrations/PUT/iotdps-register/?$rid=1");
    assert_string_equal(dps_topics[1],
                        "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc%2Fdef");
    assert_string_equal(dps_bodies[0], "{\"registrationId\":\"dev-01\"}");
    assert_string_equal(dps_bodies[1], ""); /* the poll has no body */
    r = dps_client_result(&dc);
    assert_string_equal(r->assigned_hub, "hub2.azure-devices.net");
    assert_string_equal(r->device_id, "dev-01");
    assert_int_equal(r->last_status, 200);
    /* closed after the result: DISCONNECT sent, transport closed */
    assert_int_equal(bk.disconnects, 1);
    assert_false(bk.open);
    assert_int_equal(bk.connects, 1);
}

/* A DPS registration with a symmetric key: once the result is in and the
 * connection closed, its SAS token is in none of the buffers (the hub
 * client's wipe at CONNACK and at close serve DPS too). */
static void test_dps_sas_token_not_left_in_buffers(void **state)
{
    (void)state;
    dps_reply_status[0] = "200";
    dps_reply_body[0] = "{\"operationId\":\"4.a\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"hub2.azure-devices.net\",\"deviceId\":\"dev-01\",\"status\":\"assigned\"}}";
    assert_int_equal(dps_setup_and_step("dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=", 200, 100), TMA_OK);
    assert_non_null(strstr(bk.last_pass, "&skn=registration"));
    assert_false(bk.open);
    assert_false(sig_left_in_buffers());
}

/* The transport takes the CONNECT, then nothing for a moment, and the
 * transmit buffer (a small MCU one) holds the unsent SUBSCRIBE but not also
 * the register request: mqtt_request() answers TMA_WANT_WRITE for it. The
 * request must still go, after the SUBSCRIBE, on the same connection:
 * before, the phase stayed CONNECTING and nothing was sent again until the
 * registration's timeout. Every transmit size from the CONNECT's up. */
static void test_dps_busy_transport_after_connect(void **state)
{
    size_t cap;
    int ok = 0;
    (void)state;
    dps_payload_json = "{\"modelId\":\"dtmi:com:example:ThermostatWithAVeryLongName;1\"}";
    for (cap = 120; cap <= 400; cap += 4) {
        tma_status st;
        dps_reply_status[0] = "200";
        dps_reply_body[0] = "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":"
                            "{\"assignedHub\":\"hub2.azure-devices.net\",\"deviceId\":\"dev-01\",\"status\":\"assigned\"}}";
        dps_reply_status[1] = NULL;
        dps_busy_sends = 3;
        dps_tx_cap = cap;
        /* 100 steps of 100 ms: far less than the 30 s a lost request waits */
        st = dps_setup_and_step(NULL, 100, 100);
        if (bk.connects == 0 || st == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL) ||
            st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL)) {
            continue; /* the CONNECT or the request alone does not fit this buffer */
        }
        assert_int_equal(st, TMA_OK);
        assert_int_equal(bk.connects, 1);
        assert_int_equal(dps_requests, 1);
        assert_string_equal(bk.last_sub, "$dps/registrations/res/#/q1");
        assert_string_equal(dps_client_result(&dc)->assigned_hub, "hub2.azure-devices.net");
        ok++;
    }
    assert_true(ok > 10);
}

/* Register, then four polls answered "assigning" with retry-after 3 s, the
 * fifth "assigned"; 100 ms steps. Returns the status; dps_at[] holds when
 * each request arrived. */
static tma_status dps_five_requests(bool steps_back)
{
    int i;
    memset(dps_cut, 0, sizeof(dps_cut));
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    for (i = 0; i < 4; i++) {
        dps_reply_status[i] = "202";
        dps_reply_body[i] = "{\"operationId\":\"op-3\",\"status\":\"assigning\"}";
    }
    dps_reply_status[4] = "200";
    dps_reply_body[4] = "{\"operationId\":\"op-3\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"hub2.azure-devices.net\",\"deviceId\":\"dev-01\"}}";
    dps_steps_back = steps_back;
    return dps_setup_and_step(NULL, 400, 100);
}

/* A clock that steps back by 1 ms (brief CLK14). The DPS client compared
 * the raw clock: a step back right after the registration started (the
 * first step, which sends CONNECT) read as 2^32 - 1 ms since the start,
 * beyond any timeout: the registration ended at once in
 * TMA_ERR(DPS, TMA_C_TIMEOUT) with no request sent. Now the polls come at
 * the retry-after interval, as without the steps back, and a DPS that never
 * answers ends the registration at its timeout, not earlier. */
static void test_dps_clock_steps_back_polls_and_timeout(void **state)
{
    uint64_t ref[5];
    int i;
    (void)state;
    assert_int_equal(dps_five_requests(false), TMA_OK);
    assert_int_equal(dps_requests, 5);
    memcpy(ref, dps_at, sizeof(ref));
    assert_int_equal(dps_five_requests(true), TMA_OK);
    fprintf(stderr, "DPS, 1 ms step back every 2 s and after each packet (%u of them): requests at",
            dps_steps_back_n);
    for (i = 0; i < 5; i++) {
        fprintf(stderr, " %llu", (unsigned long long)(dps_at[i] - 5000u));
    }
    fprintf(stderr, " ms (without: %llu .. %llu ms)\n", (unsigned long long)(ref[0] - 5000u),
            (unsigned long long)(ref[4] - 5000u));
    assert_true(dps_steps_back_n >= 5u);
    assert_int_equal(dps_requests, 5);
    assert_int_equal(bk.connects, 1);
    assert_string_equal(dps_client_result(&dc)->assigned_hub, "hub2.azure-devices.net");
    for (i = 1; i < 5; i++) {
        assert_true(ref[i] - ref[i - 1] == 3100u);          /* reply read 100 ms later + 3 s */
        assert_true(dps_at[i] - dps_at[i - 1] >= 3000u);    /* never before retry-after */
        assert_true(dps_at[i] - dps_at[i - 1] <= 3200u);
    }
    /* no answer at all: the timeout (120 s), not before it */
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    dps_steps_back = true;
    assert_int_equal(dps_setup_and_step(NULL, 1300, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_TIMEOUT));
    fprintf(stderr, "DPS never answering, %u steps back: timed out after %llu ms\n", dps_steps_back_n,
            (unsigned long long)(dps_end_mono - 5000u));
    assert_true(dps_steps_back_n >= 60u);
    assert_true(dps_end_mono - 5000u > 120000u);
    assert_true(dps_end_mono - 5000u <= 120300u);
    assert_int_equal(bk.connects, 1);
}

/* Resets what test_dps_busy_transport_after_connect sets, also when it fails. */
static int dps_busy_teardown(void **state)
{
    (void)state;
    dps_payload_json = NULL;
    dps_busy_sends = 0;
    dps_tx_cap = 0u;
    return 0;
}

static void test_dps_retry_after_is_waited(void **state)
{
    (void)state;
    dps_reply_status[0] = "202";
    dps_reply_body[0] = "{\"operationId\":\"op\",\"status\":\"assigning\"}";
    dps_reply_status[1] = NULL; /* the poll gets no answer */
    /* 2.9 s of 100 ms steps: register answered, poll not yet due */
    assert_int_equal(dps_setup_and_step(NULL, 30, 100), TMA_IN_PROGRESS);
    assert_int_equal(dps_requests, 1);
    mono += 300;
    assert_int_equal(dps_client_step(&dc), TMA_IN_PROGRESS);
    assert_int_equal(dps_requests, 2);
    /* no reply to the poll: asked again after 30 s */
    mono += 29000;
    assert_int_equal(dps_client_step(&dc), TMA_IN_PROGRESS);
    assert_int_equal(dps_requests, 2);
    mono += 1100;
    assert_int_equal(dps_client_step(&dc), TMA_IN_PROGRESS);
    assert_int_equal(dps_requests, 3);
    dps_client_close(&dc);
    assert_false(bk.open);
}

/* The link dies with the register request, again while the device waits
 * for retry-after, and again with the poll: each time the registration
 * connects again, subscribes again and sends what was lost (register, poll
 * with the kept operation id), still honouring retry-after, and ends
 * assigned. */
static void test_dps_survives_cuts(void **state)
{
    const struct dps_client_result *r;
    tma_status st = TMA_IN_PROGRESS;
    bool cut_waiting = false;
    int i;
    (void)state;
    memset(dps_cut, 0, sizeof(dps_cut));
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    dps_cut[0] = true; /* register #1: lost */
    dps_reply_status[1] = "202";
    dps_reply_body[1] = "{\"operationId\":\"op-7\",\"status\":\"assigning\"}";
    dps_cut[2] = true; /* poll #1: lost */
    dps_reply_status[3] = "200";
    dps_reply_body[3] = "{\"operationId\":\"op-7\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"hub9.azure-devices.net\",\"deviceId\":\"dev-01\"}}";
    st = dps_setup_and_step(NULL, 1, 100);
    for (i = 0; i < 400 && st == TMA_IN_PROGRESS; i++) {
        if (!cut_waiting && dc.phase == DPS_PHASE_WAIT_RETRY && bk.open) {
            bk.open = false; /* cut while waiting for retry-after (3 s) */
            cut_waiting = true;
        }
        st = dps_client_step(&dc);
        mono += 100;
        wall += 100;
    }
    memset(dps_cut, 0, sizeof(dps_cut));
    assert_int_equal(st, TMA_OK);
    assert_true(cut_waiting);
    assert_int_equal(dps_requests, 4);
    assert_string_equal(dps_topics[0], "$dps/registrations/PUT/iotdps-register/?$rid=1");
    assert_string_equal(dps_topics[1], "$dps/registrations/PUT/iotdps-register/?$rid=2");
    assert_string_equal(dps_bodies[1], "{\"registrationId\":\"dev-01\"}");
    assert_string_equal(dps_topics[2], "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=3&operationId=op-7");
    assert_string_equal(dps_topics[3], "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=4&operationId=op-7");
    /* the reconnect during the wait did not cut retry-after short */
    assert_true(dps_at[2] - dps_at[1] >= 3000);
    /* one connection per cut plus the first, each subscribed */
    assert_int_equal(bk.connects, 4);
    assert_int_equal(bk.subscribes, 4);
    assert_string_equal(bk.last_sub, "$dps/registrations/res/#/q1");
    r = dps_client_result(&dc);
    assert_string_equal(r->assigned_hub, "hub9.azure-devices.net");
    assert_string_equal(r->device_id, "dev-01");
    assert_false(bk.open);
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
}

static void test_dps_refusals_and_failures(void **state)
{
    const struct dps_client_result *r;
    (void)state;
    /* a disabled registration is named as a refusal with its state */
    dps_reply_status[0] = "200";
    dps_reply_body[0] = "{\"operationId\":\"op\",\"status\":\"disabled\"}";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), DPS_E_REFUSED);
    r = dps_client_result(&dc);
    assert_int_equal(r->status, DPS_STATUS_DISABLED);
    assert_false(bk.open);
    /* 401 with an errorCode */
    dps_reply_status[0] = "401";
    dps_reply_body[0] = "{\"errorCode\":401002,\"message\":\"unauthorized\"}";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), DPS_E_REFUSED);
    r = dps_client_result(&dc);
    assert_true(r->has_error_code);
    assert_int_equal(r->error_code, 401002);
    assert_int_equal(r->last_status, 401);
    /* CONNACK 5: the registration ends with the refusal, no retry */
    dps_reply_status[0] = NULL;
    dps_connack_rc = 5;
    assert_int_equal(dps_setup_and_step(NULL, 20, 100), MQTT_E_CONNACK_NOT_AUTHORIZED);
    dps_connack_rc = 0;
    assert_int_equal(bk.connects, 1);
    assert_int_equal(bk.open_calls, 1);
    assert_false(bk.open);
    assert_int_equal(dps_client_step(&dc), MQTT_E_CONNACK_NOT_AUTHORIZED);
    assert_int_equal(bk.open_calls, 1);
    /* a transport that cannot be opened is opened again after the back-off
     * (500 ms, doubling up to 1 s) until the registration's timeout, which
     * names the registration's end; the client keeps the last failure */
    memset(&bk, 0, sizeof(bk));
    dps_reply_status[0] = NULL;
    {
        struct dps_client_config cfg;
        tma_status st = TMA_IN_PROGRESS;
        int n;
        dps_cfg_base(&cfg);
        cfg.timeout_ms = 10000;
        assert_int_equal(dps_client_init(&dc, &cfg), TMA_OK);
        bk.refuse_open = true;
        for (n = 0; n < 300 && st == TMA_IN_PROGRESS; n++) {
            st = dps_client_step(&dc);
            mono += 100;
        }
        assert_int_equal(st, TMA_ERR(TMA_LAYER_DPS, TMA_C_TIMEOUT));
        assert_true(n > 95 && n < 110); /* ended at the timeout, not earlier or later */
        assert_true(bk.open_calls >= 9 && bk.open_calls <= 12); /* 0, 0.5, 1.5, 2.5, ... 9.5 s */
        assert_int_equal(iothub_client_last_reason(&dc.hub), TMA_ERR(TMA_LAYER_TLS, 0x45));
        assert_int_equal(dps_client_step(&dc), TMA_ERR(TMA_LAYER_DPS, TMA_C_TIMEOUT));
        n = bk.open_calls;
        mono += 5000;
        (void)dps_client_step(&dc);
        assert_int_equal(bk.open_calls, n); /* ended for good */
        /* bad configurations are DPS-layer BAD_PARAM */
        cfg.conn.clock.now_ms = NULL;
        assert_int_equal(dps_client_init(&dc, &cfg), TMA_ERR(TMA_LAYER_DPS, TMA_C_BAD_PARAM));
        cfg.conn.clock.now_ms = mono_ms;
        cfg.conn.cred_cap = 100;
        assert_int_equal(dps_client_init(&dc, &cfg), TMA_ERR(TMA_LAYER_DPS, TMA_C_BAD_PARAM));
        cfg.conn.cred_cap = sizeof(cred);
        /* registration ids: DPS's alphabet (letters, digits, - . _ :), <= 128 */
        {
            static const char *const bad_ids[] = {"dev 01", "d\xc3\xa9v", "a\"b", "a/b", "a%41", "a\\b", "a+b"};
            static char long_id[130];
            size_t k;
            cfg.registration_id = "Ab-9.c_d:1";
            assert_int_equal(dps_client_init(&dc, &cfg), TMA_OK);
            memset(long_id, 'a', 128);
            cfg.registration_id = long_id;
            assert_int_equal(dps_client_init(&dc, &cfg), TMA_OK);
            long_id[128] = 'a';
            assert_int_equal(dps_client_init(&dc, &cfg), TMA_ERR(TMA_LAYER_DPS, TMA_C_BAD_PARAM));
            for (k = 0; k < sizeof(bad_ids) / sizeof(bad_ids[0]); k++) {
                cfg.registration_id = bad_ids[k];
                assert_int_equal(dps_client_init(&dc, &cfg), TMA_ERR(TMA_LAYER_DPS, TMA_C_BAD_PARAM));
            }
        }
    }
}

/* The custom allocation payload rides in the register body; one that is not
 * JSON ends the registration before anything is sent. */
static void test_dps_register_payload(void **state)
{
    (void)state;
    dps_reply_status[0] = "200";
    dps_reply_body[0] = "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"h.azure-devices.net\",\"deviceId\":\"d\"}}";
    dps_payload_json = "{\"modelId\":\"dtmi:x;1\"}";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_OK);
    assert_string_equal(dps_bodies[0],
                        "{\"registrationId\":\"dev-01\",\"payload\":{\"modelId\":\"dtmi:x;1\"}}");
    dps_payload_json = "{\"modelId\":";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED));
    assert_int_equal(dps_requests, 0);
    assert_false(bk.open);
    dps_payload_json = NULL;
}

static void count_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)reason;
    if (ev == IOTHUB_EVENT_CONNECTED) {
        (*(int *)user)++;
    }
}

/* The connection settings come from the caller's hub config (client type,
 * events); what DPS fixes (identity, keep-alive, clean session, the one
 * subscription, no outbox) is set by init whatever the caller put there. */
static void test_dps_conn_settings(void **state)
{
    struct dps_client_config cfg;
    tma_status st = TMA_IN_PROGRESS;
    int i, connected = 0;
    (void)state;
    memset(&bk, 0, sizeof(bk));
    bk.auto_puback = true;
    bk.open_uses_key = true;
    bk.on_publish = dps_script;
    dps_requests = 0;
    dps_reply_status[0] = "200";
    dps_reply_body[0] = "{\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"h.azure-devices.net\",\"deviceId\":\"d\"}}";
    mono = 5000;
    dps_cfg_base(&cfg);
    cfg.conn.client_type = "sample/2.0";
    cfg.conn.cb.on_event = count_event;
    cfg.conn.cb.user = &connected;
    cfg.conn.id.host = "myhub.azure-devices.net";
    cfg.conn.id.device_id = "other";
    cfg.conn.id.module_id = "m";
    cfg.conn.keep_alive_s = 5;
    cfg.conn.clean_session = false;
    cfg.conn.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN;
    cfg.conn.outbox = &ob;
    assert_int_equal(dps_client_init(&dc, &cfg), TMA_OK);
    for (i = 0; i < 50 && st == TMA_IN_PROGRESS; i++) {
        st = dps_client_step(&dc);
        mono += 100;
    }
    assert_int_equal(st, TMA_OK);
    assert_string_equal(bk.last_client_id, "dev-01");
    assert_string_equal(bk.last_user,
                        "0ne00ABCDEF/registrations/dev-01/api-version=2019-03-31&ClientVersion=sample%2F2.0");
    assert_int_equal(bk.last_keepalive, 60);
    assert_true(bk.last_clean);
    assert_int_equal(bk.subscribes, 1);
    assert_string_equal(bk.last_sub, "$dps/registrations/res/#/q1");
    assert_int_equal(bk.publishes, 1); /* the register request only */
    assert_int_equal(connected, 1);
    assert_string_equal(dps_client_result(&dc)->assigned_hub, "h.azure-devices.net");
    dps_reply_status[0] = NULL;
}

static const char *big_body(const char *hub)
{
    static char b[DPS_MAX_HUB + 160];
    snprintf(b, sizeof(b),
             "{\"status\":\"assigned\",\"registrationState\":{\"assignedHub\":\"%s\",\"deviceId\":\"d\"}}", hub);
    return b;
}

/* The hub name, device id and operation id a device copies out of a reply
 * are printable ASCII without space (escapes of such characters allowed);
 * anything else refuses the reply as malformed. */
static void test_dps_reply_strings_ascii_only(void **state)
{
    static const char *const bad_hubs[] = {"h\\u00e9b", "h\303\251b", "h b", "h\\u0009b", "h\\u007fb",
                                           "h\\ud83d\\ude00b", ""};
    static char body[256];
    const struct dps_client_result *r;
    size_t i;
    (void)state;
    dps_reply_status[0] = "200";
    dps_reply_body[0] = "{\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"h\\u002eazure\\/x\",\"deviceId\":\"d\\u007e1\"}}";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_OK);
    r = dps_client_result(&dc);
    assert_string_equal(r->assigned_hub, "h.azure/x");
    assert_string_equal(r->device_id, "d~1");
    for (i = 0; i < sizeof(bad_hubs) / sizeof(bad_hubs[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"status\":\"assigned\",\"registrationState\":{\"assignedHub\":\"%s\",\"deviceId\":\"d\"}}",
                 bad_hubs[i]);
        dps_reply_body[0] = body;
        assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED));
        assert_false(bk.open);
    }
    /* a hub name of exactly DPS_MAX_HUB - 1 characters fits, one more does not */
    {
        static char big[DPS_MAX_HUB + 64];
        memset(big, 'a', DPS_MAX_HUB - 1u);
        big[DPS_MAX_HUB - 1u] = '\0';
        dps_reply_body[0] = big_body(big);
        assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_OK);
        assert_int_equal(strlen(dps_client_result(&dc)->assigned_hub), DPS_MAX_HUB - 1u);
        strcat(big, "a");
        dps_reply_body[0] = big_body(big);
        assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED));
    }
    /* an operation id the poll topic would carry: the same rule */
    dps_reply_status[0] = "202";
    dps_reply_body[0] = "{\"operationId\":\"4.\\u00ff\",\"status\":\"assigning\"}";
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED));
    assert_int_equal(dps_requests, 1);
}

/* Reconnect with unacknowledged telemetry; the transport takes nothing for a
 * moment right after CONNECT (the first retransmission waits): the new
 * connection must still SUBSCRIBE (it did not: the refused SUBSCRIBE was
 * taken as queued, and C2D, twin and methods never came). */
static void test_resubscribe_after_busy_retransmission(void **state)
{
    int i;
    (void)state;
    setup_client(NULL, 4);
    steps(5, 1);
    assert_int_equal(bk.subscribes, 1);
    bk.auto_puback = false;
    for (i = 0; i < 2; i++) {
        assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"x", 1, NULL), TMA_OK);
    }
    steps(5, 1);
    assert_int_equal(bk.publishes, 2);
    bk.open = false;
    bk.n_pending = 0;
    steps(1, 1); /* notices the drop */
    bk.auto_puback = true;
    bk.busy_skip = 1;  /* CONNECT goes */
    bk.busy_sends = 1; /* the first retransmission waits once */
    for (i = 0; i < 200; i++) {
        steps(1, 50);
    }
    assert_int_equal(bk.connects, 2);
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(bk.subscribes, 2);
}

/* SUBSCRIBEs the broker had seen when the first twin GET arrived (-1: none). */
static int get_after_subs;
static void note_twin_get(struct tma_span topic, struct tma_span payload)
{
    static const char get[] = "$iothub/twin/GET/";
    (void)payload;
    if (get_after_subs < 0 && topic.len >= sizeof(get) - 1 && memcmp(topic.ptr, get, sizeof(get) - 1) == 0) {
        get_after_subs = bk.subscribes;
    }
}

/* The same reconnect with a small transmit buffer: the retransmission still
 * sits in it (the transport took nothing), the SUBSCRIBE does not fit beside
 * it and waits, yet the client already says CONNECTED. An application that
 * polls the state (examples/twin_methods.c's tick) and asks for the twin then
 * must not get its GET out before the SUBSCRIBE: the answer would come before
 * $iothub/twin/res/# is subscribed, unheard. Before, the GET (small enough
 * to fit) went first. */
static void test_twin_get_waits_for_pending_subscribe(void **state)
{
    uint8_t body[100];
    int i, asked = 0;
    (void)state;
    setup_tx_cap = 200; /* CONNECT, the SUBSCRIBE (132 B) or the PUBLISH (137 B) alone */
    setup_client(NULL, 4);
    setup_tx_cap = 0;
    steps(5, 1);
    assert_int_equal(bk.subscribes, 1);
    bk.auto_puback = false;
    memset(body, 'x', sizeof(body));
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, body, sizeof(body), NULL), TMA_OK);
    steps(5, 1);
    assert_int_equal(bk.publishes, 1);
    bk.open = false;
    bk.n_pending = 0;
    steps(1, 1); /* notices the drop */
    bk.auto_puback = true;
    bk.busy_skip = 1;  /* CONNECT goes */
    bk.busy_sends = 3; /* the retransmission waits a little */
    get_after_subs = -1;
    bk.on_publish = note_twin_get;
    for (i = 0; i < 400; i++) {
        steps(1, 50);
        if (!asked && iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED) {
            tma_status st = iothub_client_twin_get(&cl, NULL);
            assert_true(st == TMA_OK || st == TMA_WANT_WRITE);
            asked = st == TMA_OK;
        }
    }
    assert_true(asked);
    assert_int_equal(bk.connects, 2);
    assert_int_equal(bk.subscribes, 2);
    assert_int_equal(get_after_subs, 2);
    assert_int_equal(ev_connected, 2);
    assert_int_equal(iothub_outbox_count(&ob), 0);
}

/* A retry policy given with its own back-off but the pacer left zero (or
 * a burst of 0) keeps the chip-key pacer's defaults, as
 * iothub_key_pacer_init(p, 0, 0) does: 60 s of handshakes that use the key
 * and fail, at most 4 + 60000 / 5300 + 1 key operations. Before: t_max 0
 * (or burst 0, whose burst - 1 wraps) paced nothing, 151 signatures in the
 * 60 s with a 200..400 ms back-off, in both variants (found by
 * fuzz_dps_client, whose config did that). */
static void test_client_custom_retry_keeps_pacer_defaults(void **state)
{
    int variant;
    (void)state;
    for (variant = 0; variant < 2; variant++) {
        struct iothub_client_config cfg;
        uint64_t start;
        int ops;
        setup_client(NULL, 0);
        cfg = cl.cfg;
        memset(&cfg.retry, 0, sizeof(cfg.retry));
        cfg.retry.min_ms = 200u;
        cfg.retry.max_ms = 400u;
        if (variant == 1) {
            cfg.retry.pacer.t_max_ms = 5300u; /* burst left 0 */
        }
        assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
        bk.refuse_open = true;
        start = mono;
        while (mono - start < 60000) steps(1, 10);
        ops = (int)iothub_client_stats(&cl).key_operations;
        fprintf(stderr, "key operations in 60 s, custom back-off, pacer %s: %d\n",
                variant == 0 ? "zeroed" : "burst 0", ops);
        assert_int_equal(ops, bk.open_calls);
        assert_true(ops >= 5);
        assert_true(ops <= 4 + 60000 / 5300 + 1);
    }
}

/* ---- coverage gaps (session 14, IH14) ------------------------------------ */

/* A key-using client (X.509 on the chip) whose connects succeed and are
 * ended by the application at once (disconnect + restart: no back-off):
 * four handshakes go out together (the pacer's burst), the fifth waits for
 * the pacer (about 5.3 s), and so does each one after. Mutant caught: the
 * pacer's wait in start_connect() ignored (every connect at once). */
static void test_client_pacer_postpones_connect(void **state)
{
    uint64_t t0, at[7];
    int k;
    (void)state;
    setup_client(NULL, 0);
    t0 = mono;
    for (k = 0; k < 7; k++) {
        int before = bk.open_calls;
        while (bk.open_calls == before && mono - t0 < 120000) {
            steps(1, 10);
        }
        assert_int_equal(bk.open_calls, before + 1);
        at[k] = mono;
        steps(3, 1);
        assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
        iothub_client_disconnect(&cl);
        iothub_client_restart(&cl);
    }
    for (k = 0; k < 4; k++) {
        assert_true(at[k] - t0 < 200u);
    }
    assert_true(at[4] - t0 >= 5000u && at[4] - t0 <= 5600u);
    assert_true(at[5] - at[4] >= 5000u && at[5] - at[4] <= 5600u);
    assert_true(at[6] - at[5] >= 5000u && at[6] - at[5] <= 5600u);
    assert_int_equal(iothub_client_stats(&cl).key_operations, 7u);
}

/* A keep-alive above IOTHUB_KEEPALIVE_MAX_S (the hub's limit) goes out as
 * that maximum in CONNECT. Mutant caught: the clamp removed. */
static void test_client_keepalive_clamped(void **state)
{
    (void)state;
    setup_keep_alive = 65535u;
    setup_client(NULL, 0);
    setup_keep_alive = 0u;
    steps(3, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.last_keepalive, IOTHUB_KEEPALIVE_MAX_S);
}

/* Telemetry whose record (2 + topic + payload) is one byte over record_cap
 * (400 here) is refused with TOO_SMALL and not stored; one that fills it exactly is
 * stored and arrives whole. Mutant caught: the bound off by one. */
static void test_client_telemetry_record_cap_bound(void **state)
{
    static uint8_t big[sizeof(rec)];
    size_t fit = 400u - 2u - strlen("devices/dev-01/messages/events/");
    (void)state;
    setup_record_cap = 400u; /* within the RAM store's record size */
    setup_client(NULL, 0);
    setup_record_cap = 0u;
    memset(big, 'q', sizeof big);
    steps(3, 1);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, big, fit + 1u, NULL),
                     TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL));
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, big, fit, NULL), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 1u);
    steps(5, 1);
    assert_int_equal(bk.publishes, 1);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
}

/* A method response with an empty (or NULL) rid is refused before anything
 * is sent: "$iothub/methods/res/200/?$rid=" would answer no request. Mutant
 * caught: the empty-rid check removed. */
static void test_client_method_respond_empty_rid(void **state)
{
    struct tma_span none = {NULL, 0}, empty = {(const uint8_t *)"", 0}, body = {(const uint8_t *)"{}", 2};
    struct tma_span rid = {(const uint8_t *)"7", 1};
    int pubs;
    (void)state;
    setup_client(NULL, 0);
    steps(3, 1);
    pubs = bk.publishes;
    assert_int_equal(iothub_client_method_respond(&cl, empty, 200, body), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_method_respond(&cl, none, 200, body), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    steps(2, 1);
    assert_int_equal(bk.publishes, pubs);
    assert_int_equal(iothub_client_method_respond(&cl, rid, 200, body), TMA_OK);
    steps(2, 1);
    assert_int_equal(bk.publishes, pubs + 1);
}

/* An outbox storage whose get() fails with a chosen status (the rest is
 * the RAM store). */
static struct iothub_storage fs_inner;
static tma_status fs_get_status;
static int fs_get_fails;
static tma_status fs_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    (void)ctx;
    return fs_inner.put(fs_inner.ctx, seq, parts, n);
}
static tma_status fs_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)ctx;
    if (fs_get_status != TMA_OK) {
        fs_get_fails++;
        *out_len = 0;
        return fs_get_status;
    }
    return fs_inner.get(fs_inner.ctx, seq, buf, cap, out_len);
}
static tma_status fs_del(void *ctx, uint32_t seq)
{
    (void)ctx;
    return fs_inner.del(fs_inner.ctx, seq);
}
static tma_status fs_next(void *ctx, uint32_t from, uint32_t *out)
{
    (void)ctx;
    return fs_inner.next(fs_inner.ctx, from, out);
}
static uint32_t fs_end(void *ctx)
{
    (void)ctx;
    return fs_inner.seq_end(fs_inner.ctx);
}
static tma_status fs_rebase(void *ctx)
{
    (void)ctx;
    return fs_inner.rebase(fs_inner.ctx);
}

/* The outbox pump fails: a storage error (layer STORE) is step()'s answer
 * and the connection stays (nothing to gain from a reconnect; the message
 * goes once the storage reads again); any other error from the pump drops
 * the connection and retries (the message then goes after the reconnect).
 * Mutants caught: the STORE test in step() removed (a storage read error
 * reconnected), and the error not returned. */
static void test_client_outbox_pump_failure(void **state)
{
    struct iothub_storage w;
    tma_status st;
    int i;
    (void)state;
    setup_client(NULL, 0);
    fs_inner = tma_ram_store_init(&rs, TMA_RAM_STORE_MAX, TMA_RAM_STORE_RECORD);
    memset(&w, 0, sizeof w);
    w.ctx = NULL;
    w.put = fs_put;
    w.get = fs_get;
    w.del = fs_del;
    w.next = fs_next;
    w.seq_end = fs_end;
    w.rebase = fs_inner.rebase != NULL ? fs_rebase : NULL;
    assert_int_equal(iothub_outbox_init(&ob, &w, 200, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    fs_get_status = TMA_OK;
    fs_get_fails = 0;
    steps(3, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    /* storage trouble: returned, still connected, nothing published */
    fs_get_status = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"a", 1, NULL), TMA_OK);
    st = iothub_client_step(&cl);
    assert_int_equal(st, TMA_ERR(TMA_LAYER_STORE, TMA_C_IO));
    assert_true(fs_get_fails >= 1);
    steps(5, 10);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.connects, 1);
    assert_int_equal(ev_disconnected, 0);
    assert_int_equal(bk.publishes, 0);
    fs_get_status = TMA_OK;
    steps(3, 1);
    assert_int_equal(bk.publishes, 1);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    /* an error of another layer: the connection is dropped and made again */
    fs_get_status = TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_FAILED);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)"b", 1, NULL), TMA_OK);
    st = iothub_client_step(&cl);
    assert_int_equal(st, TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_FAILED));
    assert_int_not_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(ev_disconnected, 1);
    fs_get_status = TMA_OK;
    for (i = 0; i < 2000 && iothub_outbox_count(&ob) > 0u; i++) {
        steps(1, 50);
    }
    assert_int_equal(bk.connects, 2);
    assert_int_equal(bk.publishes, 2);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
}

/* DPS busy (429 throttled, 5xx): the register request goes again after
 * retry-after, or 3 s (DPS_DEFAULT_RETRY_S) without one, at least 1 s; a
 * DPS that stays at 503 gets one request per 3 s until the registration's
 * timeout, not one per reply. */
static void test_dps_busy_answers_wait(void **state)
{
    static const char assigned[] = "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":"
                                   "{\"assignedHub\":\"good.azure-devices.net\",\"deviceId\":\"dev-01\",\"status\":\"assigned\"}}";
    int k;
    (void)state;
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    dps_reply_status[0] = "429";
    dps_reply_body[0] = "{\"errorCode\":429001,\"message\":\"throttled\"}";
    dps_reply_retry[0] = "5";
    dps_reply_status[1] = "503";
    dps_reply_body[1] = "{}";
    dps_reply_status[2] = "500";
    dps_reply_body[2] = "{}";
    dps_reply_retry[2] = "0";
    dps_reply_status[3] = "200";
    dps_reply_body[3] = assigned;
    assert_int_equal(dps_setup_and_step(NULL, 1000, 100), TMA_OK);
    assert_int_equal(dps_requests, 4);
    for (k = 1; k < 4; k++) {
        assert_non_null(strstr(dps_topics[k], "PUT/iotdps-register/"));
    }
    /* the reply is read a step (100 ms) after the request */
    assert_true(dps_at[1] - dps_at[0] >= 5000u && dps_at[1] - dps_at[0] <= 5300u);
    assert_true(dps_at[2] - dps_at[1] >= 3000u && dps_at[2] - dps_at[1] <= 3300u);
    assert_true(dps_at[3] - dps_at[2] >= 1000u && dps_at[3] - dps_at[2] <= 1300u);
    assert_true(dps_client_result(&dc)->has_error_code);
    assert_int_equal(dps_client_result(&dc)->error_code, 429001);
    dps_client_close(&dc);
    /* 503 at every request, for 20 s: 0, 3, 6, ... 18 s */
    for (k = 0; k < 8; k++) {
        dps_reply_status[k] = "503";
        dps_reply_body[k] = "{}";
        dps_reply_retry[k] = NULL;
    }
    dps_timeout_ms = 20000u;
    assert_int_equal(dps_setup_and_step(NULL, 1000, 100), TMA_ERR(TMA_LAYER_DPS, TMA_C_TIMEOUT));
    fprintf(stderr, "DPS requests in 20 s of 503 answers: %d\n", dps_requests);
    assert_int_equal(dps_requests, 7);
    assert_int_equal(dps_client_result(&dc)->last_status, 503);
    assert_int_equal(bk.connects, 1);
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    memset(dps_reply_retry, 0, sizeof(dps_reply_retry));
}

/* retry-after as the service sends it, clamped to 1 .. 300 s: 0 waits 1 s,
 * 86400 and 4294967296 (2^32, beyond 32 bits: before session 16 the reply
 * was dropped as malformed and the device asked again after 30 s) wait 300 s; replies with the previous $rid, with our
 * $rid written with a leading zero, or a second reply to a request already
 * answered (all claiming another hub) are ignored: the registration ends
 * with the hub of the one reply that is ours. Mutants caught: either clamp
 * removed; retry-after cast to 32 bits before the clamp (2^32 waits 1 s); the $rid leading-zero check, the $rid comparison, or the
 * "waiting for a reply" check removed (the registration takes evil's hub). */
static void test_dps_retry_after_clamped_and_stale_replies(void **state)
{
    static const char assigning[] = "{\"operationId\":\"op\",\"status\":\"assigning\"}";
    const struct dps_client_result *r;
    (void)state;
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    dps_reply_status[0] = "202";
    dps_reply_body[0] = assigning;
    dps_reply_retry[0] = "0";
    dps_reply_dup[0] = true;
    dps_reply_status[1] = "202";
    dps_reply_body[1] = assigning;
    dps_reply_retry[1] = "86400";
    dps_reply_stale[1] = true;
    dps_reply_status[2] = "202";
    dps_reply_body[2] = assigning;
    dps_reply_retry[2] = "4294967296";
    dps_reply_status[3] = "200";
    dps_reply_body[3] = "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":"
                        "{\"assignedHub\":\"good.azure-devices.net\",\"deviceId\":\"dev-01\",\"status\":\"assigned\"}}";
    dps_reply_stale[3] = true;
    dps_reply_dup[3] = true;
    dps_timeout_ms = 900000u;
    assert_int_equal(dps_setup_and_step(NULL, 10000, 100), TMA_OK);
    r = dps_client_result(&dc);
    assert_string_equal(r->assigned_hub, "good.azure-devices.net");
    assert_string_equal(r->device_id, "dev-01");
    assert_int_equal(dps_requests, 4);
    fprintf(stderr, "DPS polls after retry-after 0, 86400, 4294967296: %llu, %llu, %llu ms\n",
            (unsigned long long)(dps_at[1] - dps_at[0]), (unsigned long long)(dps_at[2] - dps_at[1]),
            (unsigned long long)(dps_at[3] - dps_at[2]));
    /* the reply is read a step (100 ms) after the request */
    assert_true(dps_at[1] - dps_at[0] >= 1000u && dps_at[1] - dps_at[0] <= 1300u);
    assert_true(dps_at[2] - dps_at[1] >= 300000u && dps_at[2] - dps_at[1] <= 300300u);
    assert_true(dps_at[3] - dps_at[2] >= 300000u && dps_at[3] - dps_at[2] <= 300300u);
    dps_client_close(&dc);
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    memset(dps_reply_retry, 0, sizeof(dps_reply_retry));
    memset(dps_reply_stale, 0, sizeof(dps_reply_stale));
    memset(dps_reply_dup, 0, sizeof(dps_reply_dup));
}

/* cred_buf (client id, user name, SAS resource and password laid out in
 * it at each connect) from the 64 bytes init accepts up: each size either
 * connects with the same CONNECT fields as a large buffer, or fails the
 * attempt with TOO_SMALL (the reason, a DISCONNECTED event, a retry after
 * the back-off) without opening the transport (no TLS handshake, no chip
 * key operation spent on a connect that cannot be encoded); the smallest
 * size that connects is the exact sum. X.509 and SAS, device and module.
 * Mutants caught: an error of the client id, user name, SAS resource or
 * password builder ignored. */
static void test_client_cred_buffer_sizes(void **state)
{
    static const char key[] = "dHJ1c3RtLWF6dXJlIHRlc3Qga2V5IDAxMjM0NTY3ODk=";
    unsigned mode;
    (void)state;
    for (mode = 0; mode < 3u; mode++) {
        const char *sas = mode == 0u ? NULL : key;
        char want_user[512], want_id[256];
        size_t cap, smallest = 0, need;
        setup_module = mode == 2u ? "mod-7" : NULL;
        setup_client(sas, 0);
        steps(3, 1);
        assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
        snprintf(want_user, sizeof want_user, "%s", bk.last_user);
        snprintf(want_id, sizeof want_id, "%s", bk.last_client_id);
        /* client id, user name and (SAS) resource and password, each with
         * its NUL */
        need = strlen(want_id) + 1u + strlen(want_user) + 1u;
        if (sas != NULL) {
            need += strlen("myhub.azure-devices.net/devices/dev-01") + (mode == 2u ? strlen("/modules/mod-7") : 0u) +
                    1u + strlen(bk.last_pass) + 1u;
        }
        for (cap = 64; cap <= 400u && smallest == 0u; cap++) {
            setup_cred_cap = cap;
            setup_client(sas, 0);
            setup_cred_cap = 0u;
            steps(3, 1);
            if (iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED) {
                smallest = cap;
                assert_string_equal(bk.last_user, want_user);
                assert_string_equal(bk.last_client_id, want_id);
                continue;
            }
            assert_int_equal(iothub_client_last_reason(&cl), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL));
            assert_int_equal(bk.connects, 0);
            assert_true(ev_disconnected >= 1);
            if (bk.open_calls != 0) {
                fail_msg("mode %u, cred_cap %zu: the transport was opened %d times for a CONNECT that "
                         "cannot be encoded", mode, cap, bk.open_calls);
            }
            /* not a busy loop: the next attempt waits for the back-off */
            assert_true(iothub_client_next_attempt_in_ms(&cl) > 0u);
        }
        fprintf(stderr, "cred_buf: mode %u connects from %zu bytes (sum of the fields: %zu)\n", mode, smallest,
                need);
        assert_int_equal(smallest, need);
    }
    setup_module = NULL;
}

/* A register request (topic, registration id and the custom payload) that
 * does not fit cred_buf ends the registration with TOO_SMALL, the local
 * fault dps_client_step() documents, and closes the connection; nothing is
 * sent in pieces. Mutant caught: send_request()'s wb_finish() error
 * ignored (a cut request goes out). */
static void test_dps_request_larger_than_cred_buf(void **state)
{
    static char big[sizeof(cred) + 16];
    size_t i;
    (void)state;
    memset(dps_reply_status, 0, sizeof(dps_reply_status));
    strcpy(big, "{\"k\":\"");
    for (i = strlen(big); i < sizeof(big) - 3u; i++) {
        big[i] = 'x';
    }
    strcpy(big + i, "\"}");
    dps_payload_json = big;
    assert_int_equal(dps_setup_and_step(NULL, 50, 100), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL));
    dps_payload_json = NULL;
    assert_int_equal(bk.connects, 1);
    assert_int_equal(dps_requests, 0);
    assert_false(bk.open);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_x509_connect_fields_and_telemetry),
        cmocka_unit_test(test_client_subscribe_refused_is_reported),
        cmocka_unit_test(test_client_window_bounds_inflight),
        cmocka_unit_test(test_client_outbox_rebase_under_load),
        cmocka_unit_test(test_resubscribe_after_busy_retransmission),
        cmocka_unit_test(test_twin_get_waits_for_pending_subscribe),
        cmocka_unit_test_teardown(test_dps_busy_transport_after_connect, dps_busy_teardown),
        cmocka_unit_test(test_client_resend_read_error_still_delivers),
        cmocka_unit_test(test_client_sas_token_and_renewal),
        cmocka_unit_test(test_client_sas_token_not_left_in_buffers),
        cmocka_unit_test(test_dps_sas_token_not_left_in_buffers),
        cmocka_unit_test(test_client_sas_renewal_disconnect_on_busy_transport),
        cmocka_unit_test(test_client_sas_renewal_due_at_once_is_paced),
        cmocka_unit_test(test_client_connack_refusal_stops),
        cmocka_unit_test(test_client_paces_chip_key_connects),
        cmocka_unit_test(test_client_pacer_under_flapping_connection),
        cmocka_unit_test(test_client_connack_never_comes_paced),
        cmocka_unit_test(test_client_unacked_publish_resent_after_reconnect_only),
        cmocka_unit_test(test_client_bad_incoming_acked_not_delivered),
        cmocka_unit_test(test_client_c2d_without_handler_not_acked),
        cmocka_unit_test(test_client_module_input_messages),
        cmocka_unit_test(test_client_device_ignores_input_topics),
        cmocka_unit_test(test_client_rejects_bad_config_and_calls),
        cmocka_unit_test(test_client_short_keepalive_notices_silence),
        cmocka_unit_test(test_client_long_keepalive_keeps_30s_ceiling),
        cmocka_unit_test(test_dps_register_poll_assigned),
        cmocka_unit_test(test_dps_retry_after_is_waited),
        cmocka_unit_test(test_dps_survives_cuts),
        cmocka_unit_test(test_dps_clock_steps_back_polls_and_timeout),
        cmocka_unit_test(test_dps_refusals_and_failures),
        cmocka_unit_test(test_dps_register_payload),
        cmocka_unit_test(test_dps_reply_strings_ascii_only),
        cmocka_unit_test(test_dps_conn_settings),
        cmocka_unit_test(test_client_pacer_postpones_connect),
        cmocka_unit_test(test_client_custom_retry_keeps_pacer_defaults),
        cmocka_unit_test(test_client_keepalive_clamped),
        cmocka_unit_test(test_client_telemetry_record_cap_bound),
        cmocka_unit_test(test_client_method_respond_empty_rid),
        cmocka_unit_test(test_client_outbox_pump_failure),
        cmocka_unit_test(test_dps_retry_after_clamped_and_stale_replies),
        cmocka_unit_test(test_dps_busy_answers_wait),
        cmocka_unit_test(test_client_cred_buffer_sizes),
        cmocka_unit_test_teardown(test_dps_request_larger_than_cred_buf, dps_busy_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
