/* Unit tests of the IoT Hub pure functions not covered by the vector file:
 * JSON reader API, twin/DPS bodies, retry and pacing, connection strings,
 * Base64, bad parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/dps.h"
#include "iothub/iothub.h"
#include "iothub/json.h"

#define I_ERR(c) TMA_ERR(TMA_LAYER_IOTHUB, (c))
#define D_ERR(c) TMA_ERR(TMA_LAYER_DPS, (c))

static struct tma_span sp(const char *s)
{
    struct tma_span r;
    r.ptr = (const uint8_t *)s;
    r.len = strlen(s);
    return r;
}

static void test_json_tokens_in_order(void **state)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    static const enum iothub_json_kind want[] = {
        IOTHUB_JSON_BEGIN_OBJECT, IOTHUB_JSON_NAME,   IOTHUB_JSON_BEGIN_ARRAY, IOTHUB_JSON_NUMBER,
        IOTHUB_JSON_STRING,       IOTHUB_JSON_TRUE,   IOTHUB_JSON_FALSE,       IOTHUB_JSON_NULL,
        IOTHUB_JSON_END_ARRAY,    IOTHUB_JSON_NAME,   IOTHUB_JSON_BEGIN_OBJECT, IOTHUB_JSON_END_OBJECT,
        IOTHUB_JSON_END_OBJECT};
    size_t i;
    (void)state;
    assert_int_equal(iothub_json_reader_init(&r, sp("{\"a\":[1,\"x\",true,false,null],\"b\":{}}")), TMA_OK);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
        assert_int_equal(t.kind, want[i]);
    }
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_NOT_FOUND));
}

static void test_json_failed_reader_stays_failed(void **state)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    (void)state;
    assert_int_equal(iothub_json_reader_init(&r, sp("[1,]")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(t.kind, IOTHUB_JSON_NONE);
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_MALFORMED));
}

static void test_json_string_unescape_utf8(void **state)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    char out[32];
    size_t n = 0;
    (void)state;
    assert_int_equal(iothub_json_reader_init(&r, sp("\"a\\u00e9\\ud83d\\ude00\\n\\/\"")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_true(t.escaped);
    assert_int_equal(iothub_json_token_string(&t, out, sizeof(out), &n), TMA_OK);
    assert_int_equal(n, 1 + 2 + 4 + 1 + 1);
    assert_memory_equal(out, "a\xc3\xa9\xf0\x9f\x98\x80\n/", n);
    assert_true(iothub_json_token_eq(&t, "a\xc3\xa9\xf0\x9f\x98\x80\n/"));
    assert_false(iothub_json_token_eq(&t, "a"));
    assert_int_equal(iothub_json_token_string(&t, out, 4, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, 9);
    /* lone surrogate and NUL are refused when unescaping */
    assert_int_equal(iothub_json_reader_init(&r, sp("\"\\ud83d\"")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_token_string(&t, out, sizeof(out), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_json_reader_init(&r, sp("\"\\u0000\"")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_token_string(&t, out, sizeof(out), &n), I_ERR(TMA_C_MALFORMED));
}

static void int_of(const char *doc, tma_status want_st, int64_t want)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    int64_t v = 0;
    assert_int_equal(iothub_json_reader_init(&r, sp(doc)), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_token_int64(&t, &v), want_st);
    if (want_st == TMA_OK) {
        assert_true(v == want);
    }
}

static void test_json_int64_limits(void **state)
{
    (void)state;
    int_of("0", TMA_OK, 0);
    int_of("-1", TMA_OK, -1);
    int_of("9223372036854775807", TMA_OK, INT64_MAX);
    int_of("-9223372036854775808", TMA_OK, INT64_MIN);
    int_of("9223372036854775808", I_ERR(TMA_C_MALFORMED), 0);
    int_of("-9223372036854775809", I_ERR(TMA_C_MALFORMED), 0);
    int_of("1.5", I_ERR(TMA_C_MALFORMED), 0);
    int_of("1e3", I_ERR(TMA_C_MALFORMED), 0);
}

static void test_json_skip_and_write(void **state)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    char out[64];
    size_t n = 0;
    (void)state;
    assert_int_equal(iothub_json_reader_init(&r, sp("{\"skip\":{\"a\":[1,{\"b\":2}]},\"k\":3}")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_true(iothub_json_token_eq(&t, "skip"));
    assert_int_equal(iothub_json_skip(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_true(iothub_json_token_eq(&t, "k"));
    assert_int_equal(iothub_json_write_string("a\"b\\c\n\x01", out, sizeof(out), &n), TMA_OK);
    assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\\u0001\"");
    assert_int_equal(iothub_json_validate(sp(out)), TMA_OK);
    assert_int_equal(iothub_json_write_string("abc", out, 3, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, 5);
}

static void test_twin_desired_version(void **state)
{
    int64_t v = 0;
    (void)state;
    assert_int_equal(iothub_twin_desired_version(
                         sp("{\"desired\":{\"x\":{\"$version\":99},\"$version\":4},\"reported\":{\"$version\":2}}"),
                         true, &v),
                     TMA_OK);
    assert_int_equal(v, 4);
    assert_int_equal(iothub_twin_desired_version(sp("{\"device_count\":100,\"$version\":4}"), false, &v), TMA_OK);
    assert_int_equal(v, 4);
    assert_int_equal(iothub_twin_desired_version(sp("{\"reported\":{\"$version\":2}}"), true, &v),
                     I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_twin_desired_version(sp("{\"$version\":\"4\"}"), false, &v), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_twin_desired_version(sp("{\"$version\":4"), false, &v), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_twin_desired_version(sp("{\"$version\":4} x"), false, &v), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_twin_desired_version(sp("[]"), false, &v), I_ERR(TMA_C_MALFORMED));
}

static void test_dps_response_bodies(void **state)
{
    struct dps_response r;
    (void)state;
    assert_int_equal(dps_parse_response(sp("{\"operationId\":\"4.d0a671905ea5b2c8.e7173b7b\",\"status\":\"assigning\"}"), &r), TMA_OK);
    assert_int_equal(r.status, DPS_STATUS_ASSIGNING);
    assert_int_equal(r.operation_id.len, strlen("4.d0a671905ea5b2c8.e7173b7b"));
    assert_false(dps_status_is_terminal(r.status));
    assert_int_equal(dps_parse_response(sp(
        "{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":{\"x509\":{},"
        "\"registrationId\":\"my-device\",\"createdDateTimeUtc\":\"2024-01-01T00:00:00Z\","
        "\"assignedHub\":\"myhub.azure-devices.net\",\"deviceId\":\"my-device\",\"status\":\"assigned\","
        "\"substatus\":\"initialAssignment\",\"payload\":{\"a\":[1,2]}}}"), &r), TMA_OK);
    assert_int_equal(r.status, DPS_STATUS_ASSIGNED);
    assert_int_equal(r.registration_status, DPS_STATUS_ASSIGNED);
    assert_memory_equal(r.assigned_hub.ptr, "myhub.azure-devices.net", r.assigned_hub.len);
    assert_memory_equal(r.device_id.ptr, "my-device", r.device_id.len);
    assert_true(dps_status_is_terminal(r.status));
    assert_int_equal(dps_parse_response(sp(
        "{\"errorCode\":401002,\"trackingId\":\"t\",\"message\":\"Invalid certificate.\",\"timestampUtc\":\"x\"}"), &r), TMA_OK);
    assert_true(r.has_error_code);
    assert_int_equal(r.error_code, 401002);
    assert_memory_equal(r.message.ptr, "Invalid certificate.", r.message.len);
    /* assigned without the hub is refused */
    assert_int_equal(dps_parse_response(sp("{\"operationId\":\"op\",\"status\":\"assigned\",\"registrationState\":{\"deviceId\":\"d\"}}"), &r),
                     D_ERR(TMA_C_MALFORMED));
    assert_int_equal(dps_parse_response(sp("{\"status\":3}"), &r), D_ERR(TMA_C_MALFORMED));
    assert_int_equal(dps_parse_response(sp("{\"status\":\"assigning\""), &r), D_ERR(TMA_C_MALFORMED));
    assert_int_equal(dps_parse_response(sp(""), &r), D_ERR(TMA_C_MALFORMED));
    assert_int_equal(dps_register_body("d", "{bad", NULL, 0, &(size_t){0}), D_ERR(TMA_C_MALFORMED));
    {
        /* The escaped registration id is counted in the size report, and a
         * buffer one byte short gets nothing but an empty string. */
        static const char want[] = "{\"registrationId\":\"a\\\"b\\u0001\",\"payload\":{\"k\":1}}";
        char out[64];
        size_t n = 0;
        assert_int_equal(dps_register_body("a\"b\x01", "{\"k\":1}", NULL, 0, &n), I_ERR(TMA_C_TOO_SMALL));
        assert_int_equal(n, sizeof(want) - 1u);
        memset(out, 'x', sizeof(out));
        assert_int_equal(dps_register_body("a\"b\x01", "{\"k\":1}", out, n, &n), I_ERR(TMA_C_TOO_SMALL));
        assert_int_equal(out[0], '\0');
        assert_int_equal(dps_register_body("a\"b\x01", "{\"k\":1}", out, n + 1u, &n), TMA_OK);
        assert_string_equal(out, want);
    }
}

static void test_retry_backoff_and_pacer(void **state)
{
    struct iothub_key_pacer p;
    struct iothub_retry_policy pol;
    uint64_t now = 1000000;
    int i;
    (void)state;
    assert_int_equal(iothub_retry_delay_ms(0, 1000, 100000, 0, 0), 1000);
    assert_int_equal(iothub_retry_delay_ms(3, 1000, 100000, 500, 0), 8500);
    assert_int_equal(iothub_retry_delay_ms(3, 1000, 100000, 500, 9000), 0);
    assert_int_equal(iothub_retry_delay_ms(10, 1000, 100000, 0, 0), 100000);
    /* jitter only when it still fits under max */
    assert_int_equal(iothub_retry_delay_ms(7, 1000, 100000, 5000, 0), 100000);
    assert_int_equal(iothub_retry_delay_ms(40, 1000, 100000, 5000, 0), 100000);
    /* pacer: a burst of 4, then one per t_max */
    iothub_key_pacer_init(&p, 5000, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(iothub_key_pacer_wait_ms(&p, now), 0);
        iothub_key_pacer_record(&p, now);
    }
    assert_int_equal(iothub_key_pacer_wait_ms(&p, now), 5000);
    assert_int_equal(iothub_key_pacer_wait_ms(&p, now + 4999), 1);
    assert_int_equal(iothub_key_pacer_wait_ms(&p, now + 5000), 0);
    /* sustained: 100 operations as fast as allowed take >= 96 * t_max */
    {
        uint64_t t = now + 5000;
        for (i = 0; i < 100; i++) {
            t += iothub_key_pacer_wait_ms(&p, t);
            iothub_key_pacer_record(&p, t);
        }
        assert_true(t - (now + 5000) >= 99ull * 5000);
    }
    /* policy: the pacer stretches the back-off when the key is used */
    iothub_retry_policy_init(&pol);
    assert_int_equal(iothub_retry_next_delay_ms(&pol, 0, 0, 0, true, now), 1000);
    for (i = 0; i < 4; i++) {
        iothub_key_pacer_record(&pol.pacer, now);
    }
    assert_true(iothub_retry_next_delay_ms(&pol, 0, 0, 0, true, now) >= 5300);
    assert_int_equal(iothub_retry_next_delay_ms(&pol, 0, 0, 0, false, now), 1000);
    assert_int_equal(iothub_retry_next_delay_ms(&pol, 0, 0, 12345, false, now), 1000 + 12345 % 5001);
    assert_true(iothub_status_retriable(429));
    assert_true(iothub_status_retriable(500));
    assert_true(iothub_status_retriable(503));
    assert_false(iothub_status_retriable(401));
    assert_false(iothub_status_retriable(200));
}

static void test_sas_renewal_time(void **state)
{
    (void)state;
    assert_int_equal(iothub_sas_renew_at(1000, 4600), 1000 + 2880);
    assert_int_equal(iothub_sas_renew_at(1000, 1000), 1000);
}

static void test_connection_strings(void **state)
{
    struct iothub_connection_string cs;
    (void)state;
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h.azure-devices.net;DeviceId=dev1;x509=true"), &cs), TMA_OK);
    assert_true(cs.x509);
    assert_memory_equal(cs.host.ptr, "h.azure-devices.net", cs.host.len);
    assert_memory_equal(cs.device_id.ptr, "dev1", cs.device_id.len);
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;SharedAccessKey=YWJj=="), &cs), TMA_OK);
    assert_false(cs.x509);
    assert_memory_equal(cs.shared_key.ptr, "YWJj==", cs.shared_key.len);
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=YWJj;GatewayHostName=g;"), &cs), TMA_OK);
    assert_memory_equal(cs.module_id.ptr, "m", cs.module_id.len);
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;x509=true;SharedAccessKey=YWJj"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;HostName=i;DeviceId=d;x509=true"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=;x509=true"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;;DeviceId=d;x509=true"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;x509=false"), &cs), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp("garbage"), &cs), I_ERR(TMA_C_MALFORMED));
}

static void test_base64_and_urlcoding(void **state)
{
    uint8_t bin[64];
    char txt[64];
    size_t n = 0;
    (void)state;
    assert_int_equal(iothub_base64_encode((const uint8_t *)"abcd", 4, txt, sizeof(txt), &n), TMA_OK);
    assert_string_equal(txt, "YWJjZA==");
    assert_int_equal(iothub_base64_decode("YWJjZA==", 8, bin, sizeof(bin), &n), TMA_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(bin, "abcd", 4);
    assert_int_equal(iothub_base64_decode("YWJjZA=", 7, bin, sizeof(bin), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_base64_decode("YW!jZA==", 8, bin, sizeof(bin), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_base64_decode("YWJjZB==", 8, bin, sizeof(bin), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_base64_decode("=AAA", 4, bin, sizeof(bin), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_base64_decode("YWJjZA==", 8, bin, 3, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(iothub_url_decode(sp("a%2Fb%2fc+d"), txt, sizeof(txt), &n), TMA_OK);
    assert_string_equal(txt, "a/b/c+d");
    assert_int_equal(iothub_url_decode(sp("a%2"), txt, sizeof(txt), &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_url_decode(sp("a%zz"), txt, sizeof(txt), &n), I_ERR(TMA_C_MALFORMED));
    assert_true(iothub_bag_key_is(sp("%24.mid"), "$.mid"));
    assert_true(iothub_bag_key_is(sp("$.mid"), "$.mid"));
    assert_false(iothub_bag_key_is(sp("%24.mi"), "$.mid"));
    assert_false(iothub_bag_key_is(sp("%2"), "%2"));
}

static void test_bad_parameters(void **state)
{
    struct iothub_identity id = {"h", "d", NULL};
    struct iothub_identity bad = {"h", "", NULL};
    char out[64];
    size_t n;
    (void)state;
    assert_int_equal(iothub_client_id(NULL, out, sizeof(out), &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_id(&bad, out, sizeof(out), &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_id(&id, out, sizeof(out), NULL), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_id(&id, NULL, 5, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_client_id(&id, NULL, 0, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, 1);
    assert_int_equal(iothub_telemetry_topic(&id, NULL, 1, out, sizeof(out), &n), I_ERR(TMA_C_BAD_PARAM));
    {
        struct iothub_property p = {"", "v"};
        assert_int_equal(iothub_telemetry_topic(&id, &p, 1, out, sizeof(out), &n), I_ERR(TMA_C_BAD_PARAM));
    }
    assert_int_equal(iothub_sas_password("r", "!!!!", NULL, 1, NULL, out, sizeof(out), &n), I_ERR(TMA_C_BAD_PARAM));
    assert_string_equal(iothub_connack_reason(5) != NULL ? "ok" : "null", "ok");
    assert_non_null(strstr(iothub_connack_reason(5), "not authorized"));
    assert_non_null(strstr(iothub_connack_reason(77), "unknown"));
}

/* ---- coverage gaps (session 14, IH14) ---------------------------------- */

/* iothub_url_encode(): every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper
 * case, Embedded C's form: ../shared/spec/azure-iot-mqtt.md "URL
 * encoding"), a NUL inside the given length encoded too, the size reported
 * when the buffer is short. Mutant caught: lower-case hex digits. */
static void test_url_encode_vectors(void **state)
{
    char out[64];
    size_t n = 0;
    (void)state;
    assert_int_equal(iothub_url_encode("azAZ09-_.~", 10, out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "azAZ09-_.~");
    assert_int_equal(n, 10u);
    assert_int_equal(iothub_url_encode("a b/c$d&e=f\xc3\xa9", 13, out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "a%20b%2Fc%24d%26e%3Df%C3%A9");
    assert_int_equal(n, strlen("a%20b%2Fc%24d%26e%3Df%C3%A9"));
    assert_int_equal(iothub_url_encode("a\0b\x7f\xff", 5, out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "a%00b%7F%FF");
    assert_int_equal(iothub_url_encode("", 0, out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "");
    assert_int_equal(n, 0u);
    assert_int_equal(iothub_url_encode(NULL, 0, out, sizeof out, &n), TMA_OK);
    assert_int_equal(n, 0u);
    /* "%2F" needs 3 + 1 bytes: 3 is short, the size is still reported */
    assert_int_equal(iothub_url_encode("/", 1, out, 3, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, 3u);
    assert_int_equal(out[0], '\0');
    assert_int_equal(iothub_url_encode("/", 1, out, 4, &n), TMA_OK);
    assert_string_equal(out, "%2F");
    assert_int_equal(iothub_url_encode(NULL, 1, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_url_encode("a", 1, NULL, 4, &n), I_ERR(TMA_C_BAD_PARAM));
    /* decoding gives the input back */
    {
        char back[64];
        size_t m = 0;
        assert_int_equal(iothub_url_encode("a b/c$d&e=f\xc3\xa9", 13, out, sizeof out, &n), TMA_OK);
        assert_int_equal(iothub_url_decode(sp(out), back, sizeof back, &m), TMA_OK);
        assert_int_equal(m, 13u);
        assert_memory_equal(back, "a b/c$d&e=f\xc3\xa9", 13);
    }
}

/* iothub_property_bag(): "k=v&k2" with keys and values percent-encoded,
 * a NULL value as a bare key, an empty value as "k=", and exactly the bytes
 * iothub_telemetry_topic() puts after ".../messages/events/" for the same
 * properties (the spec's body-routing example: $.ct and $.ce). */
static void test_property_bag_vectors(void **state)
{
    static const struct iothub_property props[] = {
        {"$.ct", "application/json;charset=utf-8"},
        {"$.ce", "utf-8"},
        {"my key", "a&b=c"},
        {"flag", NULL},
        {"empty", ""},
    };
    static const char want[] = "%24.ct=application%2Fjson%3Bcharset%3Dutf-8&%24.ce=utf-8"
                               "&my%20key=a%26b%3Dc&flag&empty=";
    struct iothub_identity id;
    struct iothub_property bad[2];
    char bag[160], topic[200];
    size_t n = 0, tn = 0;
    static const char prefix[] = "devices/dev-1/messages/events/";
    (void)state;
    assert_int_equal(iothub_property_bag(props, 5, bag, sizeof bag, &n), TMA_OK);
    assert_string_equal(bag, want);
    assert_int_equal(n, sizeof want - 1u);
    memset(&id, 0, sizeof id);
    id.host = "h.azure-devices.net";
    id.device_id = "dev-1";
    assert_int_equal(iothub_telemetry_topic(&id, props, 5, topic, sizeof topic, &tn), TMA_OK);
    assert_int_equal(tn, strlen(prefix) + n);
    assert_memory_equal(topic, prefix, strlen(prefix));
    assert_string_equal(topic + strlen(prefix), bag);
    /* no property: an empty bag */
    assert_int_equal(iothub_property_bag(NULL, 0, bag, sizeof bag, &n), TMA_OK);
    assert_string_equal(bag, "");
    assert_int_equal(n, 0u);
    /* short buffer: the size, an empty string */
    assert_int_equal(iothub_property_bag(props, 5, bag, sizeof want - 1u, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, sizeof want - 1u);
    assert_int_equal(bag[0], '\0');
    /* a missing or empty key, props NULL with a count */
    bad[0].key = "a";
    bad[0].value = "1";
    bad[1].key = "";
    bad[1].value = "2";
    assert_int_equal(iothub_property_bag(bad, 2, bag, sizeof bag, &n), I_ERR(TMA_C_BAD_PARAM));
    bad[1].key = NULL;
    assert_int_equal(iothub_property_bag(bad, 2, bag, sizeof bag, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_property_bag(NULL, 1, bag, sizeof bag, &n), I_ERR(TMA_C_BAD_PARAM));
    /* a size query (no buffer): TOO_SMALL with the size */
    assert_int_equal(iothub_property_bag(props, 1, NULL, 0, &n), I_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(n, strlen("%24.ct=application%2Fjson%3Bcharset%3Dutf-8"));
    assert_int_equal(iothub_property_bag(props, 1, NULL, 8, &n), I_ERR(TMA_C_BAD_PARAM));
}

/* iothub_connack_reason(): the MQTT 3.1.1 CONNACK codes 0-5 each have
 * their own text, anything else one "unknown" text. */
static void test_connack_reasons(void **state)
{
    const char *seen[7];
    unsigned i, j;
    (void)state;
    assert_string_equal(iothub_connack_reason(0), "accepted");
    assert_non_null(strstr(iothub_connack_reason(1), "protocol version"));
    assert_non_null(strstr(iothub_connack_reason(2), "identifier"));
    assert_non_null(strstr(iothub_connack_reason(3), "unavailable"));
    assert_non_null(strstr(iothub_connack_reason(4), "user name or password"));
    assert_non_null(strstr(iothub_connack_reason(5), "not authorized"));
    for (i = 0; i < 7u; i++) {
        seen[i] = iothub_connack_reason((uint8_t)(i == 6u ? 200u : i));
        assert_non_null(seen[i]);
        assert_true(seen[i][0] != '\0');
        for (j = 0; j < i; j++) {
            assert_string_not_equal(seen[i], seen[j]);
        }
    }
    assert_string_equal(iothub_connack_reason(6), iothub_connack_reason(255));
}

static tma_status fake_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg,
                            size_t msg_len, uint8_t out[32])
{
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)msg;
    (void)msg_len;
    memset(out, 0x5A, 32);
    return TMA_OK;
}

/* Base64 with non-zero padding bits in the 2-byte form, a SAS key that is
 * not Base64 or decodes to nothing, renew_at over a span above 2^32 s, a
 * response topic with a status below 100, a connection string's trailing
 * ';' (accepted) and empty segment (refused), \u with a non-hex digit,
 * iothub_json_skip() on a failed reader and on a scalar. */
static void test_core_hostile_vectors(void **state)
{
    uint8_t bin[16];
    char out[256];
    size_t n = 0;
    struct iothub_hmac_ops ops;
    struct iothub_twin_msg tm;
    struct iothub_connection_string cs;
    struct iothub_json_reader r;
    struct iothub_json_token t;
    (void)state;
    /* "QUI=" is "AB"; "QUJ=" sets padding bits */
    assert_int_equal(iothub_base64_decode("QUI=", 4, bin, sizeof bin, &n), TMA_OK);
    assert_int_equal(n, 2u);
    assert_memory_equal(bin, "AB", 2);
    assert_int_equal(iothub_base64_decode("QUJ=", 4, bin, sizeof bin, &n), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_base64_decode("QR==", 4, bin, sizeof bin, &n), I_ERR(TMA_C_MALFORMED));
    /* SAS key */
    ops.ctx = NULL;
    ops.hmac_sha256 = fake_hmac;
    assert_int_equal(iothub_sas_password("h/devices/d", "QUI=", NULL, 1000, &ops, out, sizeof out, &n), TMA_OK);
    assert_non_null(strstr(out, "&se=1000"));
    assert_int_equal(iothub_sas_password("h/devices/d", "not base64!", NULL, 1000, &ops, out, sizeof out, &n),
                     I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_sas_password("h/devices/d", "", NULL, 1000, &ops, out, sizeof out, &n),
                     I_ERR(TMA_C_BAD_PARAM));
    /* a token lives at most 2^32 - 1 s: renew at 4/5 of that */
    assert_int_equal(iothub_sas_renew_at(1000, 1000 + ((uint64_t)1 << 40)), 1000 + (uint64_t)(UINT32_MAX / 5u) * 4u);
    assert_int_equal(iothub_sas_renew_at(1000, 1000 + (uint64_t)UINT32_MAX), 1000 + (uint64_t)(UINT32_MAX / 5u) * 4u);
    assert_int_equal(iothub_sas_renew_at(0, 3600), 2880u);
    /* response status: three digits, 100 and up */
    assert_int_equal(iothub_twin_parse(sp("$iothub/twin/res/200/?$rid=1"), &tm), TMA_OK);
    assert_int_equal(tm.status, 200);
    assert_int_equal(iothub_twin_parse(sp("$iothub/twin/res/100/?$rid=1"), &tm), TMA_OK);
    assert_int_equal(tm.status, 100);
    assert_int_not_equal(iothub_twin_parse(sp("$iothub/twin/res/099/?$rid=1"), &tm), TMA_OK);
    assert_int_not_equal(iothub_twin_parse(sp("$iothub/twin/res/000/?$rid=1"), &tm), TMA_OK);
    /* connection strings */
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;x509=true;"), &cs), TMA_OK);
    assert_memory_equal(cs.device_id.ptr, "d", 1);
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h;DeviceId=d;;x509=true"), &cs),
                     I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp(";HostName=h;DeviceId=d;x509=true"), &cs),
                     I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_connection_string_parse(sp(";"), &cs), I_ERR(TMA_C_MALFORMED));
    /* \u with a non-hex digit: the reader refuses the string itself (so
     * the unescaper never meets one), in a name as in a value */
    assert_int_equal(iothub_json_reader_init(&r, sp("\"a\\u00g1\"")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_json_reader_init(&r, sp("{\"\\u0G00\":1}")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_json_validate(sp("[\"\\u12\"]")), I_ERR(TMA_C_MALFORMED));
    /* skip: a scalar is skipped as it is; a broken container gives the
     * reader's error; a name skips its value */
    assert_int_equal(iothub_json_reader_init(&r, sp("[1,{\"a\":[2,3]},4]")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* [ */
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* 1 */
    assert_int_equal(iothub_json_skip(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* { */
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* "a" */
    assert_int_equal(t.kind, IOTHUB_JSON_NAME);
    assert_int_equal(iothub_json_skip(&r, &t), TMA_OK); /* [2,3] */
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(t.kind, IOTHUB_JSON_END_OBJECT);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(t.kind, IOTHUB_JSON_NUMBER);
    assert_int_equal(iothub_json_reader_init(&r, sp("{\"a\":x}")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* { */
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK); /* "a" */
    assert_int_equal(iothub_json_skip(&r, &t), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_json_reader_init(&r, sp("[1,[2")), TMA_OK);
    assert_int_equal(iothub_json_next(&r, &t), TMA_OK);
    assert_int_equal(iothub_json_skip(&r, &t), I_ERR(TMA_C_MALFORMED));
}

/* DPS bodies a hostile or broken service may send: registrationState a
 * string, number, array or true (not an object, not null), errorCode not
 * an integer (a string, a fraction, out of range): MALFORMED, never a
 * half-read result. registrationState null is a body without it. */
static void test_dps_hostile_bodies(void **state)
{
    static const char *const bad[] = {
        "{\"operationId\":\"op\",\"status\":\"assigning\",\"registrationState\":\"x\"}",
        "{\"operationId\":\"op\",\"status\":\"assigning\",\"registrationState\":1}",
        "{\"operationId\":\"op\",\"status\":\"assigning\",\"registrationState\":[]}",
        "{\"operationId\":\"op\",\"status\":\"assigning\",\"registrationState\":true}",
        "{\"errorCode\":\"401002\",\"message\":\"m\"}",
        "{\"errorCode\":401.5,\"message\":\"m\"}",
        "{\"errorCode\":1e3,\"message\":\"m\"}",
        "{\"errorCode\":null,\"message\":\"m\"}",
        "{\"errorCode\":99999999999999999999,\"message\":\"m\"}",
    };
    struct dps_response r;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tma_status st = dps_parse_response(sp(bad[i]), &r);
        if (st != D_ERR(TMA_C_MALFORMED)) {
            fail_msg("body %u: %d, want MALFORMED", (unsigned)i, (int)st);
        }
    }
    assert_int_equal(dps_parse_response(sp("{\"operationId\":\"op\",\"status\":\"assigning\",\"registrationState\":null}"), &r),
                     TMA_OK);
    assert_int_equal(r.status, DPS_STATUS_ASSIGNING);
    assert_int_equal(dps_parse_response(sp("{\"errorCode\":-1,\"message\":\"m\"}"), &r), TMA_OK);
    assert_true(r.has_error_code);
    assert_int_equal(r.error_code, -1);    /* retry-after is read as sent up to 32 bits and beyond them
     * reported as UINT32_MAX (the client clamps it); before, one above 86400
     * (session 14) and then one above 32 bits (session 16) made the whole
     * reply topic malformed. Mutant caught: the saturation replaced by a cast
     * (2^32 read as 0). */
    {
        struct dps_response_topic rt;
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/202/?$rid=5&retry-after=999999"), &rt),
                         TMA_OK);
        assert_true(rt.has_retry_after);
        assert_int_equal(rt.retry_after_s, 999999u);
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/429/?$rid=5&retry-after=4294967295"), &rt),
                         TMA_OK);
        assert_int_equal(rt.retry_after_s, 4294967295u);
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/429/?$rid=5&retry-after=4294967296"), &rt),
                         TMA_OK);
        assert_int_equal(rt.retry_after_s, 4294967295u);
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/429/?$rid=5&retry-after=9999999999999999999"),
                                                  &rt),
                         TMA_OK);
        assert_int_equal(rt.retry_after_s, 4294967295u);
        /* 20 digits: not a number this parser reads */
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/429/?$rid=5&retry-after=18446744073709551616"),
                                                  &rt),
                         D_ERR(TMA_C_MALFORMED));
        assert_int_equal(dps_parse_response_topic(sp("$dps/registrations/res/202/?$rid=5&retry-after=0"), &rt), TMA_OK);
        assert_int_equal(rt.retry_after_s, 0u);
    }
}

/* The public functions' argument checks (NULL output, NULL input with a
 * length, an identity that is not valid) and a few forms no test sent: the
 * SAS password with a key name (&skn=), a response topic with $rid twice,
 * iothub_c2d_parse() for any device (id NULL) on other topics and on a
 * malformed bag, iothub_bag_find() on a malformed bag. */
static void test_public_api_arguments(void **state)
{
    char out[256];
    uint8_t bin[16];
    size_t n = 0;
    struct iothub_identity id, bad_id;
    struct iothub_bag_iter it;
    struct tma_span k, v, bag;
    bool has;
    struct iothub_twin_msg tm;
    struct iothub_method_request mr;
    struct iothub_connection_string cs;
    struct iothub_hmac_ops ops;
    struct tma_span nul = {NULL, 3};
    (void)state;
    memset(&id, 0, sizeof id);
    id.host = "h.azure-devices.net";
    id.device_id = "dev-1";
    bad_id = id;
    bad_id.device_id = "";
    assert_int_equal(iothub_url_decode(nul, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_url_decode(sp("a"), out, sizeof out, NULL), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_username(&bad_id, NULL, NULL, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_username(NULL, NULL, NULL, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_base64_encode(NULL, 1, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_base64_decode(NULL, 1, bin, sizeof bin, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_sas_resource(&bad_id, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_sas_resource(&id, out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "h.azure-devices.net/devices/dev-1");
    assert_int_equal(iothub_sas_string_to_sign(NULL, 1, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_telemetry_topic(&bad_id, NULL, 0, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_c2d_filter(&bad_id, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_c2d_parse(&bad_id, sp("devices/dev-1/messages/devicebound/"), &bag), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_c2d_parse(NULL, sp("x"), NULL), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_twin_parse(nul, &tm), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_twin_parse(sp("$iothub/twin/res/200/?$rid=1"), NULL), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_method_parse(nul, &mr), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_method_parse(sp("$iothub/methods/POST/m/?$rid=1"), NULL), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_method_response_topic(200, sp(""), out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_method_response_topic(200, sp("7"), out, sizeof out, &n), TMA_OK);
    assert_string_equal(out, "$iothub/methods/res/200/?$rid=7");
    assert_int_equal(iothub_connection_string_parse(nul, &cs), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_connection_string_parse(sp("HostName=h"), NULL), I_ERR(TMA_C_BAD_PARAM));
    /* bag iterator: NULL is ignored / refused; a NULL bag is empty */
    iothub_bag_iter_init(NULL, sp("a=1"));
    iothub_bag_iter_init(&it, nul);
    assert_int_equal(iothub_bag_next(&it, &k, &v, &has), I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_bag_next(NULL, &k, &v, &has), I_ERR(TMA_C_BAD_PARAM));
    assert_false(iothub_bag_key_is(sp("a"), NULL));
    assert_int_equal(iothub_bag_find(sp("a=1"), NULL, &v), I_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_bag_find(sp("a=1&b=%zz"), "c", &v), I_ERR(TMA_C_MALFORMED));
    assert_int_equal(iothub_bag_find(sp("a=1&b=2"), "b", &v), TMA_OK);
    assert_memory_equal(v.ptr, "2", 1);
    /* any device's C2D topic */
    assert_int_equal(iothub_c2d_parse(NULL, sp("devices/other/messages/devicebound/a=1"), &bag), TMA_OK);
    assert_memory_equal(bag.ptr, "a=1", 3);
    assert_int_equal(iothub_c2d_parse(NULL, sp("devices//messages/devicebound/"), &bag), I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_c2d_parse(NULL, sp("devices/d/messages/events/"), &bag), I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_c2d_parse(NULL, sp("$iothub/twin/res/200/"), &bag), I_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_c2d_parse(NULL, sp("devices/d/messages/devicebound/a=%zz"), &bag), I_ERR(TMA_C_MALFORMED));
    /* $rid twice: not a response */
    assert_int_not_equal(iothub_twin_parse(sp("$iothub/twin/res/200/?$rid=1&$rid=2"), &tm), TMA_OK);
    /* SAS with a key name: "&skn=<name>" at the end */
    ops.ctx = NULL;
    ops.hmac_sha256 = fake_hmac;
    assert_int_equal(iothub_sas_password("scope/registrations/dev-1", "QUI=", "registration", 1000, &ops, out,
                                         sizeof out, &n), TMA_OK);
    assert_int_equal(n, strlen(out));
    assert_true(n > strlen("&se=1000&skn=registration"));
    assert_string_equal(out + n - strlen("&se=1000&skn=registration"), "&se=1000&skn=registration");
    assert_int_equal(iothub_sas_password("r", "QUI=", NULL, 1000, NULL, out, sizeof out, &n), I_ERR(TMA_C_BAD_PARAM));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_tokens_in_order),
        cmocka_unit_test(test_json_failed_reader_stays_failed),
        cmocka_unit_test(test_json_string_unescape_utf8),
        cmocka_unit_test(test_json_int64_limits),
        cmocka_unit_test(test_json_skip_and_write),
        cmocka_unit_test(test_twin_desired_version),
        cmocka_unit_test(test_dps_response_bodies),
        cmocka_unit_test(test_retry_backoff_and_pacer),
        cmocka_unit_test(test_sas_renewal_time),
        cmocka_unit_test(test_connection_strings),
        cmocka_unit_test(test_base64_and_urlcoding),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_url_encode_vectors),
        cmocka_unit_test(test_property_bag_vectors),
        cmocka_unit_test(test_connack_reasons),
        cmocka_unit_test(test_core_hostile_vectors),
        cmocka_unit_test(test_dps_hostile_bodies),
        cmocka_unit_test(test_public_api_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
