/* MQTT codec: byte-exact vectors, malformed inputs, topic rules, stream framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/packet.h"
#include "tma_test.h"

#define MAL TMA_ERR(TMA_LAYER_MQTT, TMA_C_MALFORMED)
#define UNS TMA_ERR(TMA_LAYER_MQTT, TMA_C_UNSUPPORTED)
#define SMALL TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL)
#define PARAM TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM)

static struct tma_span S(const char *s)
{
    struct tma_span v = {(const uint8_t *)s, strlen(s)};
    return v;
}

/* Load tests/vectors/mqtt/<name>.hex ('#' starts a comment line). */
static size_t load_vec(const char *name, uint8_t *out, size_t cap)
{
    char path[1024];
    static char text[65536];
    char *p;
    char *q;
    size_t n;
    long len;
    const char *src = getenv("TMA_SOURCE_DIR");
    FILE *f;
    snprintf(path, sizeof(path), "%s/tests/vectors/mqtt/%s.hex", src ? src : ".", name);
    f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    /* strip comment lines */
    for (p = text, q = text; *p;) {
        if (*p == '#') {
            while (*p && *p != '\n') {
                p++;
            }
        } else {
            *q++ = *p++;
        }
    }
    *q = 0;
    len = tma_test_hex(text, out, cap);
    assert_true(len > 0);
    return (size_t)len;
}

static void expect_encoded(const char *vec, const uint8_t *got, size_t got_len)
{
    uint8_t want[2048];
    size_t n = load_vec(vec, want, sizeof(want));
    assert_int_equal(0, tma_test_memcmp(vec, got, got_len, want, n));
}

#define USER "myhub.azure-devices.net/dev-01/?api-version=2021-04-12&DeviceClientType=trustm-azure%2F0.1.0"

static void connect_iothub_encodes_byte_exact(void **state)
{
    uint8_t buf[512];
    size_t n = 0;
    struct mqtt_connect c;
    (void)state;
    memset(&c, 0, sizeof(c));
    c.client_id = S("dev-01");
    c.user_name = S(USER);
    c.password = S("");
    c.keep_alive_s = 240;
    assert_int_equal(TMA_OK, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    expect_encoded("connect_iothub_x509", buf, n);

    c.password.ptr = NULL;
    c.keep_alive_s = 1177;
    assert_int_equal(TMA_OK, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    expect_encoded("connect_iothub_nopass", buf, n);

    c.password = S("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev-01&sig=abc%3D&se=1700000000");
    c.keep_alive_s = 60;
    c.clean_session = true;
    c.has_will = true;
    c.will.topic = S("devices/dev-01/messages/events/");
    c.will.payload = S("offline");
    c.will.qos = 1;
    c.will.retain = true;
    assert_int_equal(TMA_OK, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    expect_encoded("connect_will_sas", buf, n);

    memset(&c, 0, sizeof(c));
    c.client_id = S("");
    c.clean_session = true;
    assert_int_equal(TMA_OK, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    expect_encoded("connect_minimal", buf, n);
}

static void connect_bad_fields_rejected(void **state)
{
    uint8_t buf[256];
    size_t n = 0;
    struct mqtt_connect c;
    (void)state;
    memset(&c, 0, sizeof(c));
    c.client_id = S("");
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n)); /* empty id, no clean */
    c.client_id = S("x");
    c.password = S("p");
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n)); /* password alone */
    c.password.ptr = NULL;
    c.has_will = true;
    c.will.topic = S("a/#");
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    c.will.topic = S("a");
    c.will.qos = 2;
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    c.has_will = false;
    c.client_id.ptr = (const uint8_t *)"a\xff";
    c.client_id.len = 2;
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_connect(NULL, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), NULL));
}

static void connect_decodes_what_was_encoded(void **state)
{
    uint8_t buf[512];
    size_t n = load_vec("connect_will_sas", buf, sizeof(buf));
    struct mqtt_packet pkt;
    struct mqtt_connect c;
    (void)state;
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(MQTT_CONNECT, pkt.type);
    assert_int_equal(n, pkt.size);
    assert_int_equal(TMA_OK, mqtt_decode_connect(&pkt, &c));
    assert_int_equal(4, c.protocol_level);
    assert_true(c.clean_session);
    assert_true(c.has_will);
    assert_int_equal(1, c.will.qos);
    assert_true(c.will.retain);
    assert_int_equal(60, c.keep_alive_s);
    assert_memory_equal("dev-01", c.client_id.ptr, 6);
    assert_int_equal(strlen(USER), c.user_name.len);
    assert_memory_equal(USER, c.user_name.ptr, c.user_name.len);
    assert_memory_equal("offline", c.will.payload.ptr, 7);
    /* zero-copy: views point into the input */
    assert_true(c.user_name.ptr > buf && c.user_name.ptr < buf + n);

    n = load_vec("connect_iothub_nopass", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_connect(&pkt, &c));
    assert_null(c.password.ptr);
    assert_non_null(c.user_name.ptr);
    assert_false(c.clean_session);
    assert_int_equal(1177, c.keep_alive_s);
}

static void publish_encodes_byte_exact(void **state)
{
    uint8_t buf[1024];
    uint8_t payload[512];
    size_t n = 0;
    size_t i;
    struct mqtt_publish p;
    (void)state;
    memset(&p, 0, sizeof(p));
    p.topic = S("devices/dev-01/messages/events/");
    p.payload = S("{\"t\":21}");
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    expect_encoded("publish_qos0", buf, n);

    p.topic = S("devices/dev-01/messages/events/%24.mid=m-1&%24.ct=application%2Fjson&%24.ce=utf-8&room=a%20b");
    p.payload = S("{\"temp\":21.5}");
    p.qos = 1;
    p.dup = true;
    p.packet_id = 0x1234;
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    expect_encoded("publish_qos1_dup", buf, n);

    /* DUP set afterwards on a stored packet gives the same bytes */
    p.dup = false;
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(TMA_OK, mqtt_publish_set_dup(buf, n));
    expect_encoded("publish_qos1_dup", buf, n);

    memset(&p, 0, sizeof(p));
    p.topic = S("a/b");
    p.qos = 1;
    p.packet_id = 1;
    p.retain = true;
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    expect_encoded("publish_qos1_retain", buf, n);
    assert_int_equal(PARAM, mqtt_publish_set_dup(buf, 1));

    for (i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)i;
    }
    memset(&p, 0, sizeof(p));
    p.topic = S("t");
    p.payload.ptr = payload;
    p.payload.len = sizeof(payload);
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    expect_encoded("publish_long", buf, n);
}

static void publish_bad_fields_rejected(void **state)
{
    uint8_t buf[64];
    size_t n = 0;
    struct mqtt_publish p;
    (void)state;
    memset(&p, 0, sizeof(p));
    p.topic = S("a/+");
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.topic = S("");
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.topic = S("a");
    p.qos = 1; /* no packet id */
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.qos = 0;
    p.dup = true;
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.dup = false;
    p.qos = 2;
    p.packet_id = 1;
    assert_int_equal(UNS, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.qos = 3;
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
}

static void publish_too_small_reports_size_needed(void **state)
{
    uint8_t buf[8];
    uint8_t canary[4] = {0xAA, 0xAA, 0xAA, 0xAA};
    uint8_t big[16];
    size_t n = 0;
    struct mqtt_publish p;
    (void)state;
    memset(&p, 0, sizeof(p));
    p.topic = S("devices/dev-01/messages/events/");
    p.payload = S("{\"t\":21}");
    assert_int_equal(SMALL, mqtt_encode_publish(&p, NULL, 0, &n));
    assert_int_equal(43, n);
    memcpy(big, buf, 0);
    memset(big, 0x55, sizeof(big));
    assert_int_equal(SMALL, mqtt_encode_publish(&p, big, 8, &n));
    assert_int_equal(43, n);
    assert_int_equal(0x55, big[8]); /* nothing written past cap */
    (void)canary;
}

static void small_packets_encode_byte_exact(void **state)
{
    uint8_t buf[256];
    size_t n = 0;
    struct mqtt_subscription subs[3];
    struct tma_span f;
    struct mqtt_connack a;
    static const uint8_t codes[3] = {1, 0x80, 0};
    (void)state;
    assert_int_equal(TMA_OK, mqtt_encode_ack(MQTT_PUBACK, 0x1234, buf, sizeof(buf), &n));
    expect_encoded("puback", buf, n);
    assert_int_equal(PARAM, mqtt_encode_ack(MQTT_PUBACK, 0, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_ack(MQTT_SUBACK, 1, buf, sizeof(buf), &n));
    assert_int_equal(TMA_OK, mqtt_encode_ack(MQTT_UNSUBACK, 7, buf, sizeof(buf), &n));
    expect_encoded("unsuback", buf, n);
    assert_int_equal(TMA_OK, mqtt_encode_ack(MQTT_PUBREL, 7, buf, sizeof(buf), &n));
    assert_int_equal(0x62, buf[0]);

    subs[0].filter = S("devices/dev-01/messages/devicebound/#");
    subs[0].qos = 1;
    subs[1].filter = S("$iothub/twin/res/#");
    subs[1].qos = 0;
    subs[2].filter = S("$iothub/methods/POST/#");
    subs[2].qos = 1;
    assert_int_equal(TMA_OK, mqtt_encode_subscribe(1, subs, 3, buf, sizeof(buf), &n));
    expect_encoded("subscribe_iothub", buf, n);
    subs[0].filter = S("a/#/b");
    assert_int_equal(PARAM, mqtt_encode_subscribe(1, subs, 3, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_subscribe(1, subs, 0, buf, sizeof(buf), &n));

    f = S("$iothub/twin/res/#");
    assert_int_equal(TMA_OK, mqtt_encode_unsubscribe(7, &f, 1, buf, sizeof(buf), &n));
    expect_encoded("unsubscribe", buf, n);

    assert_int_equal(TMA_OK, mqtt_encode_empty(MQTT_PINGREQ, buf, sizeof(buf), &n));
    expect_encoded("pingreq", buf, n);
    assert_int_equal(TMA_OK, mqtt_encode_empty(MQTT_PINGRESP, buf, sizeof(buf), &n));
    expect_encoded("pingresp", buf, n);
    assert_int_equal(TMA_OK, mqtt_encode_empty(MQTT_DISCONNECT, buf, sizeof(buf), &n));
    expect_encoded("disconnect", buf, n);
    assert_int_equal(PARAM, mqtt_encode_empty(MQTT_PUBACK, buf, sizeof(buf), &n));

    a.session_present = false;
    a.return_code = 5;
    assert_int_equal(TMA_OK, mqtt_encode_connack(&a, buf, sizeof(buf), &n));
    expect_encoded("connack_not_authorized", buf, n);
    a.session_present = true;
    assert_int_equal(PARAM, mqtt_encode_connack(&a, buf, sizeof(buf), &n));
    a.return_code = 0;
    assert_int_equal(TMA_OK, mqtt_encode_connack(&a, buf, sizeof(buf), &n));
    expect_encoded("connack_session", buf, n);

    assert_int_equal(TMA_OK, mqtt_encode_suback(1, codes, 3, buf, sizeof(buf), &n));
    expect_encoded("suback_mixed", buf, n);
}

static void server_packets_decode(void **state)
{
    uint8_t buf[1024];
    size_t n;
    struct mqtt_packet pkt;
    struct mqtt_connack a;
    struct mqtt_suback sa;
    struct mqtt_publish p;
    struct mqtt_sub_iter it;
    struct mqtt_subscription sub;
    uint16_t id = 0;
    (void)state;

    n = load_vec("connack_session", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_connack(&pkt, &a));
    assert_true(a.session_present);
    assert_int_equal(0, a.return_code);
    n = load_vec("connack_not_authorized", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_connack(&pkt, &a));
    assert_int_equal(5, a.return_code);
    assert_int_equal(PARAM, mqtt_decode_publish(&pkt, &p)); /* wrong type */

    n = load_vec("suback_mixed", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_suback(&pkt, &sa));
    assert_int_equal(1, sa.packet_id);
    assert_int_equal(3, sa.codes.len);
    assert_int_equal(0x80, sa.codes.ptr[1]);

    n = load_vec("unsuback", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_ack(&pkt, &id));
    assert_int_equal(7, id);
    n = load_vec("puback", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_ack(&pkt, &id));
    assert_int_equal(0x1234, id);

    n = load_vec("publish_qos1_dup", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &p));
    assert_int_equal(1, p.qos);
    assert_true(p.dup);
    assert_false(p.retain);
    assert_int_equal(0x1234, p.packet_id);
    assert_int_equal(13, p.payload.len);
    assert_memory_equal("{\"temp\":21.5}", p.payload.ptr, 13);
    assert_ptr_equal(buf + n - 13, p.payload.ptr);

    n = load_vec("publish_long", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(pkt.body.len + 3, pkt.size); /* 2-byte remaining length */
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &p));
    assert_int_equal(512, p.payload.len);
    assert_int_equal(0, p.qos);

    n = load_vec("publish_qos1_retain", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_publish(&pkt, &p));
    assert_true(p.retain);
    assert_int_equal(0, p.payload.len);

    n = load_vec("subscribe_iothub", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_subscribe(&pkt, &it));
    assert_int_equal(3, it.count);
    assert_int_equal(1, it.packet_id);
    assert_true(mqtt_sub_next(&it, &sub));
    assert_int_equal(1, sub.qos);
    assert_true(mqtt_sub_next(&it, &sub));
    assert_int_equal(0, sub.qos);
    assert_int_equal(strlen("$iothub/twin/res/#"), sub.filter.len);
    assert_true(mqtt_sub_next(&it, &sub));
    assert_false(mqtt_sub_next(&it, &sub));

    n = load_vec("unsubscribe", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_subscribe(&pkt, &it));
    assert_int_equal(1, it.count);
    assert_int_equal(7, it.packet_id);

    n = load_vec("pingresp", buf, sizeof(buf));
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_empty(&pkt));
}

static tma_status decode_any(const struct mqtt_packet *pkt)
{
    union {
        struct mqtt_connect c;
        struct mqtt_connack a;
        struct mqtt_publish p;
        struct mqtt_suback s;
        struct mqtt_sub_iter it;
        uint16_t id;
    } u;
    switch (pkt->type) {
    case MQTT_CONNECT:
        return mqtt_decode_connect(pkt, &u.c);
    case MQTT_CONNACK:
        return mqtt_decode_connack(pkt, &u.a);
    case MQTT_PUBLISH:
        return mqtt_decode_publish(pkt, &u.p);
    case MQTT_SUBACK:
        return mqtt_decode_suback(pkt, &u.s);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return mqtt_decode_subscribe(pkt, &u.it);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return mqtt_decode_empty(pkt);
    default:
        return mqtt_decode_ack(pkt, &u.id);
    }
}

static void malformed_inputs_rejected(void **state)
{
    char path[1024];
    char line[512];
    const char *src = getenv("TMA_SOURCE_DIR");
    FILE *f;
    int count = 0;
    (void)state;
    snprintf(path, sizeof(path), "%s/tests/vectors/mqtt/malformed.txt", src ? src : ".");
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        uint8_t buf[256];
        char *hash;
        long n;
        struct mqtt_packet pkt;
        tma_status st;
        tma_status want;
        if (line[0] != 'M' && line[0] != 'U') {
            continue;
        }
        want = line[0] == 'M' ? MAL : UNS;
        hash = strchr(line, '#');
        if (hash) {
            *hash = 0;
        }
        n = tma_test_hex(line + 1, buf, sizeof(buf));
        assert_true(n > 0);
        st = mqtt_packet_frame(buf, (size_t)n, &pkt);
        if (st == TMA_OK) {
            assert_int_equal((size_t)n, pkt.size);
            st = decode_any(&pkt);
        }
        if (st != want) {
            fail_msg("line '%s' (%s): got %d want %d", line, hash ? hash + 1 : "", (int)st, (int)want);
        }
        count++;
    }
    fclose(f);
    assert_true(count >= 60);
}

static void frame_needs_more_bytes(void **state)
{
    uint8_t buf[1024];
    size_t n = load_vec("publish_long", buf, sizeof(buf));
    size_t i;
    struct mqtt_packet pkt;
    (void)state;
    for (i = 0; i < n; i++) {
        assert_int_equal(TMA_WANT_READ, mqtt_packet_frame(buf, i, &pkt));
        /* What is still needed: one more byte until the fixed header (type
         * and a 2-byte remaining length here) is complete, then the packet. */
        assert_int_equal(i < 3 ? i + 1 : n, pkt.size);
    }
    assert_int_equal(TMA_OK, mqtt_packet_frame(buf, n, &pkt));
    assert_int_equal(n, pkt.size);
}

static void varint_limits(void **state)
{
    uint8_t v[4];
    uint8_t pkt[8] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    struct mqtt_packet p;
    (void)state;
    assert_int_equal(1, mqtt_varint_encode(0, v));
    assert_int_equal(1, mqtt_varint_encode(127, v));
    assert_int_equal(2, mqtt_varint_encode(128, v));
    assert_int_equal(0x80, v[0]);
    assert_int_equal(0x01, v[1]);
    assert_int_equal(2, mqtt_varint_encode(16383, v));
    assert_int_equal(3, mqtt_varint_encode(16384, v));
    assert_int_equal(4, mqtt_varint_encode(MQTT_MAX_REMAINING_LENGTH, v));
    assert_int_equal(0, mqtt_varint_encode(MQTT_MAX_REMAINING_LENGTH + 1, v));
    /* the largest length frames as "need more", not as an error */
    assert_int_equal(TMA_WANT_READ, mqtt_packet_frame(pkt, 5, &p));
}

static void topic_rules(void **state)
{
    (void)state;
    assert_true(mqtt_topic_filter_valid(S("#")));
    assert_true(mqtt_topic_filter_valid(S("+")));
    assert_true(mqtt_topic_filter_valid(S("a/+/b/#")));
    assert_true(mqtt_topic_filter_valid(S("/+/")));
    assert_false(mqtt_topic_filter_valid(S("a#")));
    assert_false(mqtt_topic_filter_valid(S("a/#/")));
    assert_false(mqtt_topic_filter_valid(S("a+/b")));
    assert_false(mqtt_topic_filter_valid(S("")));
    assert_true(mqtt_topic_matches(S("devices/dev-01/messages/devicebound/#"),
                                   S("devices/dev-01/messages/devicebound/%24.mid=1&x=y")));
    assert_true(mqtt_topic_matches(S("a/#"), S("a")));
    assert_true(mqtt_topic_matches(S("a/+/c"), S("a/b/c")));
    assert_true(mqtt_topic_matches(S("a/+"), S("a/")));
    assert_false(mqtt_topic_matches(S("a/+"), S("a/b/c")));
    assert_false(mqtt_topic_matches(S("a/b"), S("a/bc")));
    assert_false(mqtt_topic_matches(S("a/bc"), S("a/b")));
    assert_false(mqtt_topic_matches(S("#"), S("$iothub/twin/res/200/?$rid=1")));
    assert_true(mqtt_topic_matches(S("$iothub/twin/res/#"), S("$iothub/twin/res/200/?$rid=1")));
    assert_true(mqtt_topic_matches(S("+/+"), S("/x")));
    assert_true(mqtt_utf8_valid(S("caf\xc3\xa9 \xf0\x9f\x98\x80")));
    assert_false(mqtt_utf8_valid(S("\xe0\x80\x80")));
}

/* Feed all vectors as one stream in every chunk size; the packets come out whole. */
static void stream_splits_any_chunking(void **state)
{
    static const char *names[] = {"connack_session", "publish_qos1_dup", "puback", "publish_long",
                                  "suback_mixed", "pingresp", "unsuback"};
    uint8_t all[4096];
    size_t lens[7];
    size_t total = 0;
    size_t chunk;
    size_t i;
    (void)state;
    for (i = 0; i < 7; i++) {
        lens[i] = load_vec(names[i], all + total, sizeof(all) - total);
        total += lens[i];
    }
    for (chunk = 1; chunk <= total; chunk = chunk < 8 ? chunk + 1 : chunk * 3) {
        uint8_t rxbuf[600];
        struct mqtt_stream s;
        struct mqtt_packet pkt;
        size_t fed = 0;
        size_t got = 0;
        size_t off = 0;
        assert_int_equal(TMA_OK, mqtt_stream_init(&s, rxbuf, sizeof(rxbuf)));
        while (got < 7) {
            tma_status st = mqtt_stream_next(&s, &pkt);
            if (st == TMA_OK) {
                assert_int_equal(lens[got], pkt.size);
                assert_int_equal(0, memcmp(pkt.body.ptr, all + off + (pkt.size - pkt.body.len), pkt.body.len));
                off += pkt.size;
                got++;
                continue;
            }
            assert_int_equal(TMA_WANT_READ, st);
            {
                size_t space = 0;
                uint8_t *at = mqtt_stream_space(&s, &space);
                size_t take = total - fed < chunk ? total - fed : chunk;
                assert_true(take > 0);
                if (take > space) {
                    take = space;
                }
                memcpy(at, all + fed, take);
                assert_int_equal(TMA_OK, mqtt_stream_commit(&s, take));
                fed += take;
            }
        }
        assert_int_equal(TMA_WANT_READ, mqtt_stream_next(&s, &pkt));
    }
}

static void stream_rejects_oversized_and_malformed(void **state)
{
    uint8_t rxbuf[64];
    uint8_t big[1024];
    struct mqtt_stream s;
    struct mqtt_packet pkt;
    size_t space = 0;
    uint8_t *at;
    size_t n = load_vec("publish_long", big, sizeof(big));
    (void)state;
    size_t i, fed;
    assert_true(n > sizeof(rxbuf) + 8);
    assert_int_equal(MQTT_PUBLISH, big[0] >> 4);
    assert_int_equal(TMA_OK, mqtt_stream_init(&s, rxbuf, sizeof(rxbuf)));
    at = mqtt_stream_space(&s, &space);
    memcpy(at, big, 8);
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 8));
    /* A PUBLISH larger than the buffer, known from its header: reported
     * once (type and size), then skipped as its bytes arrive; the packet
     * after it comes out whole. */
    assert_int_equal(SMALL, mqtt_stream_next(&s, &pkt));
    assert_int_equal(MQTT_PUBLISH, pkt.type);
    assert_int_equal(n, pkt.size);
    assert_int_equal(0, pkt.body.len);
    assert_int_equal(1, s.skipped);
    assert_int_equal(TMA_WANT_READ, mqtt_stream_next(&s, &pkt)); /* not sticky */
    for (fed = 8; fed < n; fed += i) {
        at = mqtt_stream_space(&s, &space);
        assert_true(space > 0);
        i = n - fed < 13 ? n - fed : 13; /* odd pieces */
        memcpy(at, big + fed, i);
        assert_int_equal(TMA_OK, mqtt_stream_commit(&s, i));
        if (fed + i < n) {
            assert_int_equal(TMA_WANT_READ, mqtt_stream_next(&s, &pkt));
        }
    }
    at = mqtt_stream_space(&s, &space);
    at[0] = 0xD0; /* PINGRESP */
    at[1] = 0x00;
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 2));
    assert_int_equal(TMA_OK, mqtt_stream_next(&s, &pkt));
    assert_int_equal(MQTT_PINGRESP, pkt.type);
    assert_int_equal(TMA_WANT_READ, mqtt_stream_next(&s, &pkt));
    assert_int_equal(1, s.skipped);
    /* Any other packet larger than the buffer: sticky */
    mqtt_stream_reset(&s);
    at = mqtt_stream_space(&s, &space);
    at[0] = 0x90; /* SUBACK of 528 bytes */
    at[1] = 0x90;
    at[2] = 0x04;
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 3));
    assert_int_equal(SMALL, mqtt_stream_next(&s, &pkt));
    assert_int_equal(SMALL, mqtt_stream_next(&s, &pkt)); /* sticky */
    (void)mqtt_stream_space(&s, &space);
    assert_int_equal(0, space);
    assert_int_equal(PARAM, mqtt_stream_commit(&s, 65));
    mqtt_stream_reset(&s);
    at = mqtt_stream_space(&s, &space);
    at[0] = 0x30;
    at[1] = 0x80;
    at[2] = 0x00;
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 3));
    assert_int_equal(MAL, mqtt_stream_next(&s, &pkt));
    assert_int_equal(MAL, mqtt_stream_next(&s, &pkt));
    /* A full buffer that does not even hold the fixed header: too small too. */
    assert_int_equal(TMA_OK, mqtt_stream_init(&s, rxbuf, 2));
    at = mqtt_stream_space(&s, &space);
    assert_int_equal(2, space);
    at[0] = 0x30;
    at[1] = 0x80;
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 2));
    assert_int_equal(SMALL, mqtt_stream_next(&s, &pkt));
    /* A 2-byte packet in a 2-byte buffer is fine, its successor waits. */
    assert_int_equal(TMA_OK, mqtt_stream_init(&s, rxbuf, 2));
    at = mqtt_stream_space(&s, &space);
    at[0] = 0xD0;
    at[1] = 0x00;
    assert_int_equal(TMA_OK, mqtt_stream_commit(&s, 2));
    assert_int_equal(TMA_OK, mqtt_stream_next(&s, &pkt));
    assert_int_equal(MQTT_PINGRESP, pkt.type);
    assert_int_equal(TMA_WANT_READ, mqtt_stream_next(&s, &pkt));
    (void)n;
}

/* Topic matching as a table (COV14 1.2: an empty filter or topic, a filter
 * level separator where the topic has a character, '+' on an empty level,
 * '$' topics). */
static void topic_match_table(void **state)
{
    static const struct {
        const char *filter;
        const char *topic;
        bool match;
    } tab[] = {
        {"", "a", false},          /* empty filter */
        {"", "", false},           /* nothing matches nothing */
        {"a", "", false},          /* empty topic */
        {"ab/c", "ab-c", false},   /* '/' in the filter, a character in the topic */
        {"ab/c", "ab", false},     /* the topic ends at a level separator of the filter */
        {"a/b", "a/b", true},
        {"a/+/c", "a//c", true},   /* '+' matches an empty level */
        {"+", "a/b", false},       /* '+' is one level */
        {"a/b/#", "a/b", true},    /* '#' includes the parent level */
        {"a/b/#", "a/bc", false},
        {"+/#", "$SYS/x", false},  /* no wildcard first level for '$' topics */
        {"$SYS/#", "$SYS/x", true},
        {"a", "a/b", false},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (mqtt_topic_matches(S(tab[i].filter), S(tab[i].topic)) != tab[i].match) {
            fail_msg("filter '%s' topic '%s': expected %s", tab[i].filter, tab[i].topic,
                     tab[i].match ? "match" : "no match");
        }
    }
}

/* The codec's argument checks and truncated inputs no test reached
 * (COV14 1.2): every public function refuses NULL with BAD_PARAM; the fixed
 * packets report the size they need in a too small buffer; SUBSCRIBE with
 * QoS 3 is refused; a CONNECT that ends after the protocol name and a
 * SUBSCRIBE cut inside a QoS byte are MALFORMED, and the iterator over the
 * cut SUBSCRIBE stops without reading past it. */
static void codec_arguments_and_truncations(void **state)
{
    uint8_t buf[64];
    size_t n = 0;
    struct mqtt_packet pkt;
    struct mqtt_connect con;
    struct mqtt_connack ack;
    struct mqtt_publish pub;
    struct mqtt_suback sa;
    struct mqtt_sub_iter it;
    struct mqtt_subscription sub;
    uint16_t id = 0;
    static const uint8_t codes_bad[2] = {1, 3};
    static const uint8_t connect_cut[] = {0x10, 6, 0, 4, 'M', 'Q', 'T', 'T'};
    static const uint8_t subscribe_cut[] = {0x82, 5, 0, 1, 0, 1, 'a'};
    (void)state;

    /* NULL arguments */
    assert_int_equal(PARAM, mqtt_packet_frame(NULL, 2, &pkt));
    assert_int_equal(PARAM, mqtt_packet_frame(buf, 2, NULL));
    assert_int_equal(PARAM, mqtt_encode_publish(NULL, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_suback(1, NULL, 1, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_suback(1, codes_bad, 2, buf, sizeof(buf), &n)); /* code 3 */
    assert_int_equal(PARAM, mqtt_decode_connect(NULL, &con));
    assert_int_equal(PARAM, mqtt_decode_connack(NULL, &ack));
    assert_int_equal(PARAM, mqtt_decode_publish(NULL, &pub));
    assert_int_equal(PARAM, mqtt_decode_ack(NULL, &id));
    assert_int_equal(PARAM, mqtt_decode_suback(NULL, &sa));
    assert_int_equal(PARAM, mqtt_decode_subscribe(NULL, &it));
    assert_int_equal(PARAM, mqtt_decode_empty(NULL));
    assert_int_equal(PARAM, mqtt_stream_init(NULL, buf, sizeof(buf)));
    assert_int_equal(PARAM, mqtt_stream_commit(NULL, 1));
    assert_int_equal(PARAM, mqtt_stream_next(NULL, &pkt));
    assert_false(mqtt_sub_next(NULL, &sub));

    /* a hand-built packet without body bytes (framing always sets them) */
    memset(&pkt, 0, sizeof(pkt));
    pkt.body.len = 2;
    pkt.type = MQTT_CONNACK;
    assert_int_equal(MAL, mqtt_decode_connack(&pkt, &ack));
    pkt.type = MQTT_PUBLISH;
    assert_int_equal(MAL, mqtt_decode_publish(&pkt, &pub));
    pkt.type = MQTT_PUBACK;
    assert_int_equal(MAL, mqtt_decode_ack(&pkt, &id));
    pkt.type = MQTT_SUBACK;
    assert_int_equal(MAL, mqtt_decode_suback(&pkt, &sa));
    pkt.type = MQTT_SUBSCRIBE;
    assert_int_equal(MAL, mqtt_decode_subscribe(&pkt, &it));
    pkt.type = MQTT_CONNECT;
    assert_int_equal(MAL, mqtt_decode_connect(&pkt, &con));

    /* the fixed-size packets in a buffer too small: the size they need */
    assert_int_equal(SMALL, mqtt_encode_empty(MQTT_PINGREQ, buf, 1, &n));
    assert_int_equal(2, n);
    assert_int_equal(SMALL, mqtt_encode_ack(MQTT_PUBACK, 7, buf, 3, &n));
    assert_int_equal(4, n);

    /* SUBSCRIBE asking for QoS 3 */
    sub.filter = S("a/b");
    sub.qos = 3;
    assert_int_equal(PARAM, mqtt_encode_subscribe(1, &sub, 1, buf, sizeof(buf), &n));
    sub.qos = 2;
    assert_int_equal(TMA_OK, mqtt_encode_subscribe(1, &sub, 1, buf, sizeof(buf), &n));

    /* CONNECT whose body ends after the protocol name */
    assert_int_equal(TMA_OK, mqtt_packet_frame(connect_cut, sizeof(connect_cut), &pkt));
    assert_int_equal(MAL, mqtt_decode_connect(&pkt, &con));

    /* SUBSCRIBE cut inside the QoS byte of its one filter */
    assert_int_equal(TMA_OK, mqtt_packet_frame(subscribe_cut, sizeof(subscribe_cut), &pkt));
    assert_int_equal(MAL, mqtt_decode_subscribe(&pkt, &it));
    assert_false(mqtt_sub_next(&it, &sub)); /* the filter is there, its QoS is not */
    assert_int_equal(0, it.rest.len);
    assert_false(mqtt_sub_next(&it, &sub));
}

static void stream_init_and_commit_limits(void **state)
{
    uint8_t buf[8];
    struct mqtt_stream st;
    size_t space = 0;
    (void)state;
    assert_int_equal(PARAM, mqtt_stream_init(&st, buf, 1));
    assert_int_equal(TMA_OK, mqtt_stream_init(&st, buf, sizeof(buf)));
    assert_non_null(mqtt_stream_space(&st, &space));
    assert_int_equal(sizeof(buf), space);
    assert_null(mqtt_stream_space(&st, NULL));
    assert_int_equal(PARAM, mqtt_stream_commit(&st, sizeof(buf) + 1));
    assert_int_equal(TMA_OK, mqtt_stream_commit(&st, sizeof(buf)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_iothub_encodes_byte_exact),
        cmocka_unit_test(connect_bad_fields_rejected),
        cmocka_unit_test(connect_decodes_what_was_encoded),
        cmocka_unit_test(publish_encodes_byte_exact),
        cmocka_unit_test(publish_bad_fields_rejected),
        cmocka_unit_test(publish_too_small_reports_size_needed),
        cmocka_unit_test(small_packets_encode_byte_exact),
        cmocka_unit_test(server_packets_decode),
        cmocka_unit_test(malformed_inputs_rejected),
        cmocka_unit_test(frame_needs_more_bytes),
        cmocka_unit_test(varint_limits),
        cmocka_unit_test(topic_rules),
        cmocka_unit_test(topic_match_table),
        cmocka_unit_test(codec_arguments_and_truncations),
        cmocka_unit_test(stream_init_and_commit_limits),
        cmocka_unit_test(stream_splits_any_chunking),
        cmocka_unit_test(stream_rejects_oversized_and_malformed),
    };
    return cmocka_run_group_tests_name("mqtt_packet", tests, NULL, NULL);
}
