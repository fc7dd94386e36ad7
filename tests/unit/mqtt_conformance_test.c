/* MQTT 3.1.1 codec against the standard's normative statements: one test per
 * statement (or group), named after it, checking both directions the codec
 * handles: what an encoder writes (or refuses to write) and what a decoder
 * refuses. The table of all statements is docs/decisions/mqtt-conformance.md;
 * the client's statements are tested in mqtt_client_test.c (conf_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/packet.h"
#include "tma_test.h"

#define PARAM TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM)
#define MAL TMA_ERR(TMA_LAYER_MQTT, TMA_C_MALFORMED)

static struct tma_span span(const char *s, size_t n)
{
    struct tma_span v;
    v.ptr = (const uint8_t *)s;
    v.len = n;
    return v;
}

#define S(lit) span(lit, sizeof(lit) - 1u)

/* A QoS 0 PUBLISH from a server whose topic is @p topic (raw bytes); the
 * views in *out point into a static buffer, valid until the next call. */
static tma_status decode_topic(struct tma_span topic, struct mqtt_publish *out)
{
    static uint8_t buf[64];
    struct mqtt_packet pkt;
    tma_status st;
    assert_true(topic.len + 4u <= sizeof(buf) && topic.len < 0x7Eu);
    buf[0] = 0x30;
    buf[1] = (uint8_t)(topic.len + 2u);
    buf[2] = 0;
    buf[3] = (uint8_t)topic.len;
    memcpy(buf + 4, topic.ptr, topic.len);
    st = mqtt_packet_frame(buf, topic.len + 4u, &pkt);
    assert_int_equal(TMA_OK, st);
    return mqtt_decode_publish(&pkt, out);
}

/* The string checks of both directions for one string: a PUBLISH topic we
 * send, a CONNECT client id we send, a topic filter we send, and a PUBLISH
 * topic we receive. */
static void string_everywhere(struct tma_span s, bool ok)
{
    uint8_t buf[128];
    size_t n = 0;
    struct mqtt_publish p;
    struct mqtt_publish got;
    struct mqtt_connect c;
    struct mqtt_subscription sub;
    memset(&p, 0, sizeof(p));
    p.topic = s;
    assert_int_equal(ok ? TMA_OK : PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    memset(&c, 0, sizeof(c));
    c.client_id = s;
    assert_int_equal(ok ? TMA_OK : PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    sub.filter = s;
    sub.qos = 1;
    assert_int_equal(ok ? TMA_OK : PARAM, mqtt_encode_subscribe(1, &sub, 1, buf, sizeof(buf), &n));
    memset(&got, 0, sizeof(got));
    assert_int_equal(ok ? TMA_OK : MAL, decode_topic(s, &got));
    if (ok) {
        /* zero-copy: the view is the bytes received, nothing skipped or changed */
        assert_int_equal(s.len, got.topic.len);
        assert_memory_equal(s.ptr, got.topic.ptr, s.len);
    }
}

/* A Topic Name in a PUBLISH we send and in one we receive. */
static void topic_name_both(struct tma_span s, bool ok)
{
    uint8_t buf[128];
    size_t n = 0;
    struct mqtt_publish p;
    memset(&p, 0, sizeof(p));
    p.topic = s;
    assert_int_equal(ok ? TMA_OK : PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(ok ? TMA_OK : MAL, decode_topic(s, &p));
}

/* [MQTT-1.5.3-1]: ill-formed UTF-8, UTF-16 surrogates included, is refused:
 * never sent (TMA_C_BAD_PARAM), and received it ends the connection
 * (TMA_C_MALFORMED). */
static void conf_1_5_3_1_ill_formed_utf8_refused(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\xed\xa0\x80", 3},         /* U+D800, first surrogate */
        {"\xed\xbf\xbf", 3},         /* U+DFFF, last surrogate */
        {"a\xed\xb0\x80z", 5},       /* a low surrogate between ASCII */
        {"\xc0\xaf", 2},             /* overlong '/' */
        {"\xe0\x80\xaf", 3},         /* overlong '/', 3 bytes */
        {"\xf0\x80\x80\xaf", 4},     /* overlong '/', 4 bytes */
        {"\xf4\x90\x80\x80", 4},     /* U+110000, beyond Unicode */
        {"\xf5\x80\x80\x80", 4},     /* lead byte F5 */
        {"\xff", 1},                 /* never in UTF-8 */
        {"\x80", 1},                 /* continuation byte alone */
        {"\xe2\x82", 2},             /* truncated sequence */
        {"\xc3\x28", 2},             /* lead byte, then no continuation */
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(mqtt_utf8_valid(span(bad[i].s, bad[i].n)));
        string_everywhere(span(bad[i].s, bad[i].n), false);
    }
    /* the edges next to them are fine */
    string_everywhere(S("\xed\x9f\xbf"), true);      /* U+D7FF */
    string_everywhere(S("\xee\x80\x80"), true);      /* U+E000 */
    string_everywhere(S("\xf4\x8f\xbf\xbf"), true);  /* U+10FFFF */
    string_everywhere(S("\xc2\x80"), true);          /* U+0080, shortest 2-byte form */
}

/* [MQTT-1.5.3-2]: U+0000 is refused, also in its overlong 2-byte form. */
static void conf_1_5_3_2_null_character_refused(void **state)
{
    (void)state;
    string_everywhere(S("a\0b"), false);
    string_everywhere(S("\0"), false);
    string_everywhere(S("\xc0\x80"), false);
}

/* [MQTT-1.5.3-3]: EF BB BF is U+FEFF wherever it is and is not skipped or
 * stripped: decoded topics are views of the bytes received. */
static void conf_1_5_3_3_bom_not_stripped(void **state)
{
    (void)state;
    string_everywhere(S("\xef\xbb\xbf"), true);
    string_everywhere(S("\xef\xbb\xbf" "a/b"), true);
    string_everywhere(S("a/\xef\xbb\xbf/b"), true);
}

/* Decision (docs/decisions/mqtt-conformance.md): 1.5.3 says strings SHOULD NOT
 * hold control characters or non-characters and a receiver MAY close the
 * connection; it is not a MUST, so both directions accept them. */
static void conf_1_5_3_control_and_noncharacters_accepted(void **state)
{
    (void)state;
    string_everywhere(S("\x01"), true);              /* U+0001 */
    string_everywhere(S("a\x1f"), true);             /* U+001F */
    string_everywhere(S("\x7f"), true);              /* U+007F */
    string_everywhere(S("\xc2\x9f"), true);          /* U+009F */
    string_everywhere(S("\xef\xbf\xbf"), true);      /* U+FFFF */
    string_everywhere(S("\xef\xb7\x90"), true);      /* U+FDD0 */
    string_everywhere(S("\xf4\x8f\xbf\xbe"), true);  /* U+10FFFE */
}

/* [MQTT-2.2.2-1]: the reserved flag bits we write are those of Table 2.2
 * (PUBREL, SUBSCRIBE, UNSUBSCRIBE 0010, the others 0000); [MQTT-2.2.2-2]:
 * any other value received is malformed, for every packet type. */
static void conf_2_2_2_reserved_flags(void **state)
{
    uint8_t buf[32];
    size_t n = 0;
    struct mqtt_subscription sub;
    struct mqtt_packet pkt;
    unsigned type;
    unsigned flags;
    (void)state;
    sub.filter = S("a");
    sub.qos = 0;
    assert_int_equal(TMA_OK, mqtt_encode_subscribe(1, &sub, 1, buf, sizeof(buf), &n));
    assert_int_equal(0x82, buf[0]);
    assert_int_equal(TMA_OK, mqtt_encode_unsubscribe(1, &sub.filter, 1, buf, sizeof(buf), &n));
    assert_int_equal(0xA2, buf[0]);
    assert_int_equal(TMA_OK, mqtt_encode_ack(MQTT_PUBREL, 1, buf, sizeof(buf), &n));
    assert_int_equal(0x62, buf[0]);
    assert_int_equal(TMA_OK, mqtt_encode_ack(MQTT_PUBACK, 1, buf, sizeof(buf), &n));
    assert_int_equal(0x40, buf[0]);
    assert_int_equal(TMA_OK, mqtt_encode_empty(MQTT_PINGREQ, buf, sizeof(buf), &n));
    assert_int_equal(0xC0, buf[0]);
    assert_int_equal(TMA_OK, mqtt_encode_empty(MQTT_DISCONNECT, buf, sizeof(buf), &n));
    assert_int_equal(0xE0, buf[0]);
    /* every type but PUBLISH with every flag value: only the table's frames */
    for (type = 1; type <= 14; type++) {
        if (type == MQTT_PUBLISH) {
            continue;
        }
        for (flags = 0; flags < 16; flags++) {
            unsigned want = (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) ? 2u : 0u;
            uint8_t b[2];
            b[0] = (uint8_t)(type << 4 | flags);
            b[1] = 0;
            assert_int_equal(flags == want ? TMA_OK : MAL, mqtt_packet_frame(b, 2, &pkt));
        }
    }
}

/* 2.2.3: the Remaining Length has at most four bytes (up to 268,435,455).
 * Decision: a length not in its shortest form is malformed too (3.1.1's
 * encoding algorithm never writes one; MQTT 5.0 makes it [MQTT-1.5.5-1]).
 * The encoders write the shortest form. */
static void conf_2_2_3_remaining_length_limits(void **state)
{
    static uint8_t payload[200];
    uint8_t buf[256];
    uint8_t four[5] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    uint8_t five[6] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x01};
    uint8_t longer[3] = {0x30, 0x80, 0x00};
    size_t n = 0;
    struct mqtt_packet pkt;
    struct mqtt_publish p;
    (void)state;
    assert_int_equal(TMA_WANT_READ, mqtt_packet_frame(four, sizeof(four), &pkt));
    assert_int_equal(5u + MQTT_MAX_REMAINING_LENGTH, pkt.size);
    assert_int_equal(MAL, mqtt_packet_frame(five, sizeof(five), &pkt));
    assert_int_equal(MAL, mqtt_packet_frame(five, 5, &pkt)); /* known bad before the fifth byte */
    assert_int_equal(MAL, mqtt_packet_frame(longer, sizeof(longer), &pkt));
    memset(&p, 0, sizeof(p));
    p.topic = S("a");
    p.payload.ptr = payload;
    p.payload.len = 125; /* body 3 + 125 = 128: two length bytes, 80 01 */
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(131, n);
    assert_int_equal(0x80, buf[1]);
    assert_int_equal(0x01, buf[2]);
    p.payload.len = 124; /* body 127: one byte */
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(0x7f, buf[1]);
}

/* [MQTT-2.3.1-1], [MQTT-2.3.1-5]: packet identifiers are non-zero where they
 * exist and a QoS 0 PUBLISH has none; both directions. */
static void conf_2_3_1_packet_identifiers(void **state)
{
    uint8_t buf[32];
    size_t n = 0;
    struct mqtt_publish p;
    struct mqtt_subscription sub;
    (void)state;
    memset(&p, 0, sizeof(p));
    p.topic = S("a");
    p.packet_id = 7; /* ignored for QoS 0 */
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(5, n); /* 30 03 00 01 61: no identifier */
    p.qos = 1;
    p.packet_id = 0;
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    sub.filter = S("a");
    sub.qos = 0;
    assert_int_equal(PARAM, mqtt_encode_subscribe(0, &sub, 1, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_unsubscribe(0, &sub.filter, 1, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_encode_ack(MQTT_PUBACK, 0, buf, sizeof(buf), &n));
    /* received with identifier 0: malformed (vectors in malformed.txt too) */
    {
        static const uint8_t pub1[] = {0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00};
        static const uint8_t puback[] = {0x40, 0x02, 0x00, 0x00};
        static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x00, 0x00};
        struct mqtt_packet pkt;
        struct mqtt_publish got;
        struct mqtt_suback sa;
        uint16_t id;
        assert_int_equal(TMA_OK, mqtt_packet_frame(pub1, sizeof(pub1), &pkt));
        assert_int_equal(MAL, mqtt_decode_publish(&pkt, &got));
        assert_int_equal(TMA_OK, mqtt_packet_frame(puback, sizeof(puback), &pkt));
        assert_int_equal(MAL, mqtt_decode_ack(&pkt, &id));
        assert_int_equal(TMA_OK, mqtt_packet_frame(suback, sizeof(suback), &pkt));
        assert_int_equal(MAL, mqtt_decode_suback(&pkt, &sa));
    }
}

/* [MQTT-3.1.3-7]: we never send an empty client id without CleanSession 1.
 * [MQTT-3.1.3-8]: a server must answer such a CONNECT with CONNACK 0x02, so
 * the server-side decoder hands it over (it is well-formed) instead of
 * calling it malformed, which would close the connection without CONNACK. */
static void conf_3_1_3_7_empty_client_id_needs_clean_session(void **state)
{
    uint8_t buf[32];
    size_t n = 0;
    struct mqtt_connect c;
    struct mqtt_connect got;
    struct mqtt_packet pkt;
    static const uint8_t connect_empty_id_keep[] = {0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
                                                    0x00, 0x00, 0x3c, 0x00, 0x00};
    (void)state;
    memset(&c, 0, sizeof(c));
    c.client_id = S("");
    assert_int_equal(PARAM, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    c.clean_session = true;
    assert_int_equal(TMA_OK, mqtt_encode_connect(&c, buf, sizeof(buf), &n));
    assert_int_equal(TMA_OK, mqtt_packet_frame(connect_empty_id_keep, sizeof(connect_empty_id_keep), &pkt));
    assert_int_equal(TMA_OK, mqtt_decode_connect(&pkt, &got));
    assert_int_equal(0, got.client_id.len);
    assert_false(got.clean_session);
}

/* [MQTT-3.2.2-4]: a refusal has Session Present 0, in what we encode (hub
 * side) and in what we accept. */
static void conf_3_2_2_4_refusal_without_session_present(void **state)
{
    uint8_t buf[8];
    size_t n = 0;
    struct mqtt_connack a;
    struct mqtt_connack got;
    struct mqtt_packet pkt;
    static const uint8_t refused_with_session[] = {0x20, 0x02, 0x01, 0x05};
    (void)state;
    a.session_present = true;
    a.return_code = 5;
    assert_int_equal(PARAM, mqtt_encode_connack(&a, buf, sizeof(buf), &n));
    a.session_present = false;
    assert_int_equal(TMA_OK, mqtt_encode_connack(&a, buf, sizeof(buf), &n));
    assert_int_equal(TMA_OK, mqtt_packet_frame(refused_with_session, sizeof(refused_with_session), &pkt));
    assert_int_equal(MAL, mqtt_decode_connack(&pkt, &got));
}

/* [MQTT-3.3.1-2], [MQTT-4.3.1-1]: DUP is 0 in every QoS 0 PUBLISH;
 * [MQTT-3.3.1-4]: QoS 3 is never sent and received is malformed. */
static void conf_3_3_1_dup_and_qos_bits(void **state)
{
    uint8_t buf[32];
    size_t n = 0;
    struct mqtt_publish p;
    struct mqtt_publish got;
    struct mqtt_packet pkt;
    static const uint8_t qos0_dup[] = {0x38, 0x03, 0x00, 0x01, 'a'};
    static const uint8_t qos3[] = {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01};
    (void)state;
    memset(&p, 0, sizeof(p));
    p.topic = S("a");
    p.dup = true;
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    p.qos = 3;
    p.packet_id = 1;
    assert_int_equal(PARAM, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(TMA_OK, mqtt_packet_frame(qos0_dup, sizeof(qos0_dup), &pkt));
    assert_int_equal(MAL, mqtt_decode_publish(&pkt, &got));
    assert_int_equal(MAL, mqtt_packet_frame(qos3, sizeof(qos3), &pkt));
    /* DUP can be set only on an encoded QoS 1 PUBLISH */
    p.qos = 0;
    p.dup = false;
    assert_int_equal(TMA_OK, mqtt_encode_publish(&p, buf, sizeof(buf), &n));
    assert_int_equal(PARAM, mqtt_publish_set_dup(buf, n));
}

/* [MQTT-3.3.2-2], [MQTT-4.7.1-1]: no wildcard in a Topic Name, sent or
 * received; [MQTT-4.7.1-2], [MQTT-4.7.1-3]: '#' last and alone in its level,
 * '+' alone in its level; [MQTT-4.7.3-1]: never empty; [MQTT-4.7.3-3]: at
 * most 65,535 bytes. */
static void conf_4_7_topic_names_and_filters(void **state)
{
    static uint8_t big[65536];
    struct mqtt_subscription sub;
    uint8_t buf[16];
    size_t n = 0;
    (void)state;
    topic_name_both(S("a/#"), false);
    topic_name_both(S("+"), false);
    topic_name_both(S("a/+/b"), false);
    topic_name_both(S(""), false);
    topic_name_both(S("a//b/"), true);
    assert_true(mqtt_topic_filter_valid(S("a/#")));  /* as a filter fine */
    assert_true(mqtt_topic_filter_valid(S("+/+/#")));
    assert_true(mqtt_topic_filter_valid(S("#")));
    assert_false(mqtt_topic_filter_valid(S("a/#/b")));
    assert_false(mqtt_topic_filter_valid(S("a#")));
    assert_false(mqtt_topic_filter_valid(S("a/b+")));
    assert_false(mqtt_topic_filter_valid(S("++")));
    assert_false(mqtt_topic_filter_valid(S("")));
    memset(big, 'a', sizeof(big));
    assert_true(mqtt_topic_name_valid(span((const char *)big, 65535)));
    assert_false(mqtt_topic_name_valid(span((const char *)big, 65536)));
    sub.filter = span((const char *)big, 65536);
    sub.qos = 0;
    assert_int_equal(PARAM, mqtt_encode_subscribe(1, &sub, 1, buf, sizeof(buf), &n));
    /* [MQTT-4.7.2-1]: leading wildcards do not match '$' topics */
    assert_false(mqtt_topic_matches(S("+/x"), S("$SYS/x")));
    assert_true(mqtt_topic_matches(S("$SYS/+"), S("$SYS/x")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_1_5_3_1_ill_formed_utf8_refused),
        cmocka_unit_test(conf_1_5_3_2_null_character_refused),
        cmocka_unit_test(conf_1_5_3_3_bom_not_stripped),
        cmocka_unit_test(conf_1_5_3_control_and_noncharacters_accepted),
        cmocka_unit_test(conf_2_2_2_reserved_flags),
        cmocka_unit_test(conf_2_2_3_remaining_length_limits),
        cmocka_unit_test(conf_2_3_1_packet_identifiers),
        cmocka_unit_test(conf_3_1_3_7_empty_client_id_needs_clean_session),
        cmocka_unit_test(conf_3_2_2_4_refusal_without_session_present),
        cmocka_unit_test(conf_3_3_1_dup_and_qos_bits),
        cmocka_unit_test(conf_4_7_topic_names_and_filters),
    };
    return cmocka_run_group_tests_name("mqtt_conformance", tests, NULL, NULL);
}
