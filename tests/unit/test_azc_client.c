/* What the device shows a real IoT Hub, checked against the Azure documents
 * (docs/decisions/azure-compat.md): the CONNECT packet and the subscriptions
 * as bytes decoded by the project's MQTT codec on the broker side, the SAS
 * string to sign against Azure SDK for Embedded C's own vector, the CONNACK
 * wait under traffic shaping, and the 256 KB device-to-cloud limit. The
 * broker is an in-memory fake with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "iothub/client.h"
#include "iothub/dps.h"
#include "iothub/iothub.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"

/* ---- a store that takes records of any size, counting them -------------- */
static int puts_seen;
static uint32_t seq_next;
static tma_status st_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts)
{
    (void)ctx; (void)parts; (void)nparts;
    puts_seen++;
    seq_next = seq + 1u;
    return TMA_OK;
}
static tma_status st_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)ctx; (void)seq; (void)buf; (void)cap; (void)out_len;
    return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
}
static tma_status st_del(void *ctx, uint32_t seq)
{
    (void)ctx; (void)seq;
    return TMA_OK;
}
static tma_status st_next(void *ctx, uint32_t from, uint32_t *out_seq)
{
    (void)ctx; (void)from; (void)out_seq;
    return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
}
static uint32_t st_end(void *ctx)
{
    (void)ctx;
    return seq_next;
}

/* ---- fake clock and broker ------------------------------------------------ */
static uint64_t mono;
static uint64_t mono_ms(void *ctx) { (void)ctx; return mono; }
static uint64_t wall_ms(void *ctx) { (void)ctx; return 1767225600000ull + mono; }

static struct {
    uint8_t in[8192];
    size_t in_len;
    uint8_t out[8192];
    size_t out_len;
    bool open, hold_connack;
    int connects, opens;
    uint64_t drop_after_ms;              /* close this long after an open (0: never) */
    uint64_t opened_at[64];              /* mono at each open */
    struct mqtt_connect conn;            /* last CONNECT, fields copied below */
    char user[512], client_id[128], pass[512];
    char subs[8][128];
    int n_subs;
} bk;

static void bk_emit(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(bk.out, sizeof(bk.out), &bk.out_len, p, n));
}

static void bk_connack(void)
{
    struct mqtt_connack a = {false, 0};
    uint8_t tmp[8];
    size_t n;
    assert_int_equal(mqtt_encode_connack(&a, tmp, sizeof(tmp), &n), TMA_OK);
    bk_emit(tmp, n);
}

static void bk_parse(void)
{
    struct mqtt_packet pkt;
    uint8_t tmp[64];
    size_t n;
    while (bk.in_len > 0 && mqtt_packet_frame(bk.in, bk.in_len, &pkt) == TMA_OK) {
        if (pkt.type == MQTT_CONNECT) {
            assert_int_equal(mqtt_decode_connect(&pkt, &bk.conn), TMA_OK);
            snprintf(bk.user, sizeof(bk.user), "%.*s", (int)bk.conn.user_name.len, (const char *)bk.conn.user_name.ptr);
            snprintf(bk.client_id, sizeof(bk.client_id), "%.*s", (int)bk.conn.client_id.len,
                     (const char *)bk.conn.client_id.ptr);
            snprintf(bk.pass, sizeof(bk.pass), "%.*s", (int)bk.conn.password.len,
                     bk.conn.password.ptr != NULL ? (const char *)bk.conn.password.ptr : "");
            bk.conn.user_name.ptr = bk.conn.client_id.ptr = NULL; /* views into bk.in: not kept */
            bk.connects++;
            if (!bk.hold_connack) {
                bk_connack();
            }
        } else if (pkt.type == MQTT_SUBSCRIBE) {
            struct mqtt_sub_iter it;
            struct mqtt_subscription s;
            assert_int_equal(mqtt_decode_subscribe(&pkt, &it), TMA_OK);
            while (mqtt_sub_next(&it, &s) && bk.n_subs < 8) {
                snprintf(bk.subs[bk.n_subs++], sizeof(bk.subs[0]), "%.*s q%u", (int)s.filter.len,
                         (const char *)s.filter.ptr, (unsigned)s.qos);
            }
            assert_int_equal(tma_test_suback_for(&pkt, 1, tmp, sizeof(tmp), &n, NULL), TMA_OK);
            bk_emit(tmp, n);
        } else if (pkt.type == MQTT_PINGREQ) {
            assert_int_equal(mqtt_encode_empty(MQTT_PINGRESP, tmp, sizeof(tmp), &n), TMA_OK);
            bk_emit(tmp, n);
        }
        memmove(bk.in, bk.in + pkt.size, bk.in_len - pkt.size);
        bk.in_len -= pkt.size;
    }
}

/* The hub accepted the connection and drops it drop_after_ms later. */
static bool dropped(void)
{
    if (bk.open && bk.drop_after_ms != 0 && bk.opens > 0 &&
        mono - bk.opened_at[(bk.opens - 1) % 64] >= bk.drop_after_ms) {
        bk.open = false;
    }
    return !bk.open;
}

static int32_t t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (dropped()) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    assert_true(tma_test_queue_put(bk.in, sizeof(bk.in), &bk.in_len, buf, len));
    bk_parse();
    return (int32_t)len;
}

static int32_t t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (dropped()) return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    return (int32_t)tma_test_queue_take(bk.out, &bk.out_len, buf, len);
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    *used_key = true;
    bk.opened_at[bk.opens % 64] = mono;
    bk.opens++;
    bk.open = true;
    bk.in_len = bk.out_len = 0;
    *tr = (struct tma_transport){NULL, t_send, t_recv};
    return TMA_OK;
}
static void c_close(void *ctx) { (void)ctx; bk.open = false; }

/* ---- client ------------------------------------------------------------- */
static struct iothub_client cl;
static struct iothub_outbox ob;
static uint8_t tx[4096], rx[4096];
static uint8_t rec[300000]; /* a record buffer larger than the hub's limit */
static char cred[1024];
static struct mqtt_inflight infl[5];
static int disconnects;

static void on_event(void *u, enum iothub_event ev, tma_status r)
{
    (void)u; (void)r;
    if (ev == IOTHUB_EVENT_DISCONNECTED) disconnects++;
}

static void setup(const char *model_id, uint32_t subs)
{
    struct iothub_client_config cfg;
    struct iothub_storage st = {NULL, st_put, st_get, st_del, st_next, st_end, NULL};
    memset(&bk, 0, sizeof(bk));
    mono = 1000000;
    puts_seen = 0;
    seq_next = 0;
    disconnects = 0;
    assert_int_equal(iothub_outbox_init(&ob, &st, 16, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "myhub.azure-devices.net";
    cfg.id.device_id = "dev-01";
    cfg.model_id = model_id;
    cfg.clock.now_ms = mono_ms;
    cfg.wall.now_ms = wall_ms;
    cfg.subscriptions = subs;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    cfg.outbox = &ob;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, infl);
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    cfg.cb.on_event = on_event;
    assert_int_equal(iothub_client_init(&cl, &cfg), TMA_OK);
}

static void steps(int n, uint64_t dt_ms)
{
    int i;
    for (i = 0; i < n; i++) {
        (void)iothub_client_step(&cl);
        mono += dt_ms;
    }
}

/* CONNECT as IoT Hub's MQTT page (section "Using the MQTT protocol
 * directly") asks for it: protocol level 4, client id = device id, the user
 * name with api-version 2021-04-12, an empty password for X.509, no Will,
 * CleanSession 0 (C2D kept between sessions), keep-alive 240 s. */
static void test_connect_packet_fields(void **state)
{
    (void)state;
    setup(NULL, IOTHUB_SUB_C2D);
    steps(3, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.conn.protocol_level, 4);
    assert_string_equal(bk.client_id, "dev-01");
    assert_string_equal(bk.user,
                        "myhub.azure-devices.net/dev-01/?api-version=2021-04-12&DeviceClientType=trustm-azure%2F0.1.0");
    assert_int_equal(bk.conn.password.len, 0);
    assert_string_equal(bk.pass, "");
    assert_false(bk.conn.has_will);
    assert_false(bk.conn.clean_session);
    assert_int_equal(bk.conn.keep_alive_s, 240);
}

/* model-id after DeviceClientType, DTMI percent-encoded (':' and ';'). */
static void test_connect_model_id_encoded(void **state)
{
    (void)state;
    setup("dtmi:com:example:Thermostat;1", 0u);
    steps(3, 1);
    assert_string_equal(bk.user, "myhub.azure-devices.net/dev-01/?api-version=2021-04-12&DeviceClientType="
                                 "trustm-azure%2F0.1.0&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1");
}

/* The filters exactly as the MQTT page names them, C2D at QoS 1 (the hub
 * delivers C2D at QoS 1), twin and methods at QoS 0 (the hub sends them at
 * QoS 0); four filters, under the limit of five. */
static void test_subscriptions_as_documented(void **state)
{
    (void)state;
    setup(NULL, IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS);
    steps(5, 1);
    assert_int_equal(bk.n_subs, 4);
    assert_string_equal(bk.subs[0], "devices/dev-01/messages/devicebound/# q1");
    assert_string_equal(bk.subs[1], "$iothub/twin/res/# q0");
    assert_string_equal(bk.subs[2], "$iothub/twin/PATCH/properties/desired/# q0");
    assert_string_equal(bk.subs[3], "$iothub/methods/POST/# q0");
}

/* A hub shaping a burst of connections answers CONNECT late (Azure C# SDK
 * PR 2044 raised its CONNACK wait to 60 s for this). A CONNACK after 45 s
 * is taken on the first connection: no abort, no second handshake (which
 * would cost the chip another signature). */
static void test_late_connack_is_waited_for(void **state)
{
    (void)state;
    setup(NULL, 0u);
    bk.hold_connack = true;
    steps(1, 1);
    assert_int_equal(bk.connects, 1);
    steps(45, 1000);
    assert_int_equal(bk.opens, 1);
    assert_int_equal(disconnects, 0);
    bk_connack();
    steps(2, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    assert_int_equal(bk.opens, 1);
    assert_int_equal(bk.connects, 1);
}

/* ... but not forever: no CONNACK in 60 s ends the attempt. */
static void test_missing_connack_ends_after_60s(void **state)
{
    (void)state;
    setup(NULL, 0u);
    bk.hold_connack = true;
    steps(1, 1);
    steps(62, 1000);
    assert_int_equal(disconnects, 1);
    assert_int_equal(iothub_client_last_reason(&cl), MQTT_E_KEEPALIVE_TIMEOUT);
}

/* A hub that accepts the connection and drops it 2 s later (throttling
 * 429002, an exhausted daily quota): the back-off must keep growing, as
 * for refused connects, not start again at every CONNACK. Ten cycles: the
 * last gap between connects is over 30 s (it stayed at the chip-key pacer's
 * 5.3 s when every CONNACK reset the back-off). A connection that lasts a
 * minute resets it: the next reconnect comes within the first step's
 * 1 s + jitter (at most 5 s). */
static void test_accept_then_drop_keeps_backing_off(void **state)
{
    uint64_t gap;
    int guard = 0;
    (void)state;
    setup(NULL, 0u);
    bk.drop_after_ms = 2000;
    while (bk.opens < 10 && guard++ < 20000) {
        steps(1, 100);
    }
    assert_int_equal(bk.opens, 10);
    assert_int_equal(bk.connects, 10);
    gap = bk.opened_at[9] - bk.opened_at[8];
    assert_true(gap >= 30000u);
    /* now a stable connection: up for 61 s, then dropped */
    bk.drop_after_ms = 0;
    while (iothub_client_state(&cl) != IOTHUB_STATE_CONNECTED && guard++ < 40000) {
        steps(1, 100);
    }
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    steps(610, 100);
    bk.open = false; /* the link goes */
    {
        int before = bk.opens;
        uint64_t lost_at = mono;
        while (bk.opens == before && guard++ < 60000) {
            steps(1, 100);
        }
        assert_int_equal(bk.opens, before + 1);
        assert_true(bk.opened_at[before % 64] - lost_at <= 6500u);
    }
}

/* The back-off counts a connection's life from its CONNACK, not from the
 * attempt's start: a hub shaping a burst answers CONNECT late (the client
 * waits up to 60 s for it) and may then drop the device at once. Accepted
 * after 58 s and dropped 3 s later is not a stable connection: the back-off
 * built up before goes on (the next connect is not within a few seconds). */
static void test_late_accept_then_drop_keeps_backing_off(void **state)
{
    int guard = 0, before;
    uint64_t lost_at;
    (void)state;
    setup(NULL, 0u);
    bk.drop_after_ms = 2000;
    while (bk.opens < 8 && guard++ < 20000) {
        steps(1, 100);
    }
    assert_int_equal(bk.opens, 8);
    while (iothub_client_state(&cl) != IOTHUB_STATE_IDLE && guard++ < 20000) {
        steps(1, 100); /* the eighth connection's 2 s */
    }
    /* the ninth attempt: CONNACK 58 s late, dropped 61 s after the open */
    bk.hold_connack = true;
    bk.drop_after_ms = 61000;
    while (bk.opens < 9 && guard++ < 40000) {
        steps(1, 100);
    }
    assert_int_equal(bk.opens, 9);
    steps(580, 100);
    bk_connack();
    bk.hold_connack = false;
    steps(2, 1);
    assert_int_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    while (iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED && guard++ < 60000) {
        steps(1, 100);
    }
    assert_int_not_equal(iothub_client_state(&cl), IOTHUB_STATE_CONNECTED);
    before = bk.opens;
    lost_at = mono;
    while (bk.opens == before && guard++ < 100000) {
        steps(1, 100);
    }
    assert_int_equal(bk.opens, before + 1);
    assert_true(bk.opened_at[before % 64] - lost_at >= 20000u);
}

/* IoT Hub takes at most 256 KB per device-to-cloud message (body plus
 * property names and values) and drops the connection on a larger one; in
 * the outbox such a message would come back after every reconnect. It is
 * refused at send time; one of exactly 256 KB is stored. */
static void test_telemetry_over_256k_refused(void **state)
{
    static uint8_t body[IOTHUB_D2C_MAX_BYTES + 1u];
    const struct iothub_property props[] = {{"$.ct", "application/json"}};
    /* bag "%24.ct=application%2Fjson": 25 bytes */
    const size_t bag = 25u;
    (void)state;
    setup(NULL, 0u);
    assert_int_equal(iothub_client_send_telemetry(&cl, props, 1u, body, IOTHUB_D2C_MAX_BYTES - bag + 1u, NULL),
                     TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0u, body, IOTHUB_D2C_MAX_BYTES + 1u, NULL),
                     TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(puts_seen, 0);
    assert_int_equal(iothub_client_send_telemetry(&cl, props, 1u, body, IOTHUB_D2C_MAX_BYTES - bag, NULL), TMA_OK);
    assert_int_equal(iothub_client_send_telemetry(&cl, NULL, 0u, body, IOTHUB_D2C_MAX_BYTES, NULL), TMA_OK);
    assert_int_equal(puts_seen, 2);
}

/* A length whose sum with the property bag wraps size_t (a caller's bad
 * length; on a 32-bit MCU any length near 4 GB) is refused like any other
 * over 256 KB, before anything is copied. */
static void test_telemetry_length_wrap_refused(void **state)
{
    static uint8_t body[16];
    const struct iothub_property props[] = {{"$.ct", "application/json"}};
    const size_t bag = 25u; /* "%24.ct=application%2Fjson" */
    (void)state;
    setup(NULL, 0u);
    assert_int_equal(iothub_client_send_telemetry(&cl, props, 1u, body, SIZE_MAX - bag + 1u, NULL),
                     TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_send_telemetry(&cl, props, 1u, body, SIZE_MAX - 10u, NULL),
                     TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    assert_int_equal(puts_seen, 0);
}

/* The SAS string to sign and resource encoding, byte for byte as Azure SDK
 * for Embedded C's own tests expect them (sdk/tests/iot/hub/
 * test_az_iot_hub_client_sas.c: host myiothub.azure-devices.net, device
 * my_device, module my_module, expiry 1578941692). */
static void test_sas_string_to_sign_matches_embedded_c(void **state)
{
    char res[128], out[256];
    size_t n = 0;
    struct iothub_identity id = {"myiothub.azure-devices.net", "my_device", NULL};
    (void)state;
    assert_int_equal(iothub_sas_resource(&id, res, sizeof(res), &n), TMA_OK);
    assert_int_equal(iothub_sas_string_to_sign(res, 1578941692u, out, sizeof(out), &n), TMA_OK);
    assert_string_equal(out, "myiothub.azure-devices.net%2Fdevices%2Fmy_device\n1578941692");
    id.module_id = "my_module";
    assert_int_equal(iothub_sas_resource(&id, res, sizeof(res), &n), TMA_OK);
    assert_int_equal(iothub_sas_string_to_sign(res, 1578941692u, out, sizeof(out), &n), TMA_OK);
    assert_string_equal(out, "myiothub.azure-devices.net%2Fdevices%2Fmy_device%2Fmodules%2Fmy_module\n1578941692");
}

/* DPS: the same resource and string to sign as Embedded C's vector
 * (sdk/tests/iot/provisioning/test_az_iot_provisioning_client_sas.c: scope
 * 0neFEEDC0DE, registration myRegistrationId) except the hex case of the
 * escapes: Embedded C writes %2f, we write %2F as Azure's Python SDK does for
 * DPS too (docs/decisions/azure-compat.md, DPS SAS row). */
static void test_dps_string_to_sign_vs_embedded_c(void **state)
{
    char res[128], out[256];
    size_t n = 0;
    (void)state;
    assert_int_equal(dps_sas_resource("0neFEEDC0DE", "myRegistrationId", res, sizeof(res), &n), TMA_OK);
    assert_int_equal(iothub_sas_string_to_sign(res, 1578941692u, out, sizeof(out), &n), TMA_OK);
    assert_string_equal(out, "0neFEEDC0DE%2Fregistrations%2FmyRegistrationId\n1578941692");
    assert_int_equal(strcasecmp(out, "0neFEEDC0DE%2fregistrations%2fmyRegistrationId\n1578941692"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_packet_fields),
        cmocka_unit_test(test_connect_model_id_encoded),
        cmocka_unit_test(test_subscriptions_as_documented),
        cmocka_unit_test(test_late_connack_is_waited_for),
        cmocka_unit_test(test_missing_connack_ends_after_60s),
        cmocka_unit_test(test_accept_then_drop_keeps_backing_off),
        cmocka_unit_test(test_late_accept_then_drop_keeps_backing_off),
        cmocka_unit_test(test_telemetry_over_256k_refused),
        cmocka_unit_test(test_telemetry_length_wrap_refused),
        cmocka_unit_test(test_sas_string_to_sign_matches_embedded_c),
        cmocka_unit_test(test_dps_string_to_sign_vs_embedded_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
