/* The client built as a telemetry + C2D device (IOTHUB_CFG_TWIN_METHODS=0,
 * the configuration bench/iothub_size.sh measures in its smallest row): twin
 * and method subscriptions are refused at init, incoming twin and method
 * topics reach no callback, C2D still does. The client source is compiled
 * into this test with the switch, so its static dispatcher is reachable. */
#define IOTHUB_CFG_TWIN_METHODS 0
#include "../../src/iothub/client.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "tma_mqtt_test.h"

static uint64_t fake_now(void *ctx)
{
    (void)ctx;
    return 1000u;
}

static tma_status fake_open(void *ctx, struct tma_transport *out_tr, bool *out_used_key)
{
    (void)ctx;
    (void)out_tr;
    *out_used_key = false;
    return TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_FAILED);
}

static void fake_close(void *ctx)
{
    (void)ctx;
}

static int n_c2d, n_twin, n_method;
static char last_bag[64];

static void got_c2d(void *user, struct tma_span bag, struct tma_span payload)
{
    (void)user;
    (void)payload;
    n_c2d++;
    snprintf(last_bag, sizeof(last_bag), "%.*s", (int)bag.len, (const char *)bag.ptr);
}

static void got_twin(void *user, const struct iothub_twin_msg *msg, struct tma_span payload)
{
    (void)user;
    (void)msg;
    (void)payload;
    n_twin++;
}

static void got_method(void *user, struct tma_span name, struct tma_span rid, struct tma_span payload)
{
    (void)user;
    (void)name;
    (void)rid;
    (void)payload;
    n_method++;
}

static uint8_t tx[512], rx[512], rec[256];
static char cred[256];
static struct mqtt_inflight slots[4];

static struct iothub_client_config config(uint32_t subscriptions)
{
    struct iothub_client_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "hub.example.net";
    cfg.id.device_id = "dev1";
    cfg.clock.now_ms = fake_now;
    cfg.connector.open = fake_open;
    cfg.connector.close = fake_close;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, slots);
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    cfg.subscriptions = subscriptions;
    cfg.cb.on_c2d = got_c2d;
    cfg.cb.on_twin = got_twin;
    cfg.cb.on_method = got_method;
    return cfg;
}

static void test_init_refuses_twin_and_methods(void **state)
{
    static struct iothub_client c;
    struct iothub_client_config cfg;
    (void)state;
    cfg = config(IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN);
    assert_int_equal(iothub_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_UNSUPPORTED));
    cfg = config(IOTHUB_SUB_METHODS);
    assert_int_equal(iothub_client_init(&c, &cfg), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_UNSUPPORTED));
    cfg = config(IOTHUB_SUB_C2D);
    assert_int_equal(iothub_client_init(&c, &cfg), TMA_OK);
}

static struct mqtt_publish msg_on(const char *topic)
{
    struct mqtt_publish m;
    memset(&m, 0, sizeof(m));
    m.topic.ptr = (const uint8_t *)topic;
    m.topic.len = strlen(topic);
    m.payload.ptr = (const uint8_t *)"{}";
    m.payload.len = 2u;
    m.qos = 1;
    m.packet_id = 7;
    return m;
}

static void test_only_c2d_is_dispatched(void **state)
{
    static struct iothub_client c;
    struct iothub_client_config cfg = config(IOTHUB_SUB_C2D);
    struct mqtt_publish m;
    (void)state;
    assert_int_equal(iothub_client_init(&c, &cfg), TMA_OK);
    n_c2d = n_twin = n_method = 0;
    m = msg_on("$iothub/twin/res/200/?$rid=1");
    assert_int_equal(on_publish(&c, &m), TMA_OK); /* acknowledged, ignored */
    m = msg_on("$iothub/twin/PATCH/properties/desired/?$version=4");
    assert_int_equal(on_publish(&c, &m), TMA_OK);
    m = msg_on("$iothub/methods/POST/reboot/?$rid=9");
    assert_int_equal(on_publish(&c, &m), TMA_OK);
    assert_int_equal(n_twin, 0);
    assert_int_equal(n_method, 0);
    assert_int_equal(n_c2d, 0);
    m = msg_on("devices/dev1/messages/devicebound/%24.mid=42&k=a%20b");
    assert_int_equal(on_publish(&c, &m), TMA_OK);
    assert_int_equal(n_c2d, 1);
    assert_string_equal(last_bag, "%24.mid=42&k=a%20b");
    assert_int_equal(c.stats.c2d_received, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refuses_twin_and_methods),
        cmocka_unit_test(test_only_c2d_is_dispatched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
