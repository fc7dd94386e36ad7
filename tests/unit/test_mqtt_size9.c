/* Review of SIZE9's changes to the MQTT client (docs/decisions/size9-review.md):
 * the will-less CONNECT writer behind mqtt_client_start() against the public
 * mqtt_client_connect(); init in place and the public init that works on a
 * copy; packet ids handed out by the public wrappers after mqtt_request()
 * took them; filter counts above 2^32; the refused flag the IoT client's
 * on_suback reads instead of the codes. Observed: bytes on the wire, the
 * statuses and packet ids the application gets, the client's state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/client.h"
#include "mqtt/packet.h"
#include "tma_mqtt_test.h"
#include "../../src/mqtt/packet_core.h"
#include "../../src/mqtt/request.h"

#define MQ(code) TMA_ERR(TMA_LAYER_MQTT, (code))

/* ---- wire ------------------------------------------------------------------ */
static struct {
    uint8_t in[4096]; /* server -> client */
    size_t in_len, in_pos;
    uint8_t out[8192]; /* client -> server */
    size_t out_len;
} w;

static int32_t w_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    assert_true(tma_test_queue_put(w.out, sizeof(w.out), &w.out_len, buf, len));
    return (int32_t)len;
}

static int32_t w_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return (int32_t)tma_test_read_from(w.in, w.in_len, &w.in_pos, buf, len);
}

static const struct tma_transport tr = {NULL, w_send, w_recv};

static void push(const uint8_t *p, size_t n)
{
    assert_true(tma_test_queue_put(w.in, sizeof(w.in), &w.in_len, p, n));
}

static uint64_t clk;

/* ---- client ---------------------------------------------------------------- */
static struct mqtt_client c;
static uint8_t tx[1024], rx[1024];
static struct mqtt_inflight slots[4];
static struct mqtt_client_config cfg;

static struct {
    int calls;
    bool refused_flag; /* c.last_ack_refused when on_suback ran */
    bool refused_scan; /* a 0x80 among the codes it was given */
    size_t n;
} sub;

static void on_suback(void *user, uint16_t id, const uint8_t *codes, size_t n)
{
    size_t i;
    (void)user;
    (void)id;
    sub.calls++;
    sub.n = n;
    sub.refused_flag = c.last_ack_refused;
    sub.refused_scan = false;
    for (i = 0; i < n; i++) {
        if (codes[i] == MQTT_SUBACK_FAILURE) {
            sub.refused_scan = true;
        }
    }
}

static void reset(void)
{
    memset(&w, 0, sizeof(w));
    memset(&sub, 0, sizeof(sub));
    memset(&c, 0, sizeof(c));
    memset(&cfg, 0, sizeof(cfg));
    clk = 1000;
    cfg.clock.now_ms = tma_test_clock_ms;
    cfg.clock.ctx = &clk;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, slots);
    cfg.cb.on_suback = on_suback;
    assert_int_equal(mqtt_client_init(&c, &cfg), TMA_OK);
}

/* The CONNECT of these tests: client "dev", clean session, 60 s. */
static struct mqtt_connect dev_connect(void)
{
    struct mqtt_connect o;
    memset(&o, 0, sizeof(o));
    o.client_id.ptr = (const uint8_t *)"dev";
    o.client_id.len = 3;
    o.clean_session = true;
    o.keep_alive_s = 60;
    return o;
}

static void connect(void)
{
    static const uint8_t connack[4] = {0x20, 2, 0, 0};
    struct mqtt_connect o = dev_connect();
    push(connack, sizeof(connack));
    assert_int_equal(mqtt_client_connect(&c, &tr, &o), TMA_IN_PROGRESS);
    assert_true(mqtt_client_process(&c) >= 0);
    assert_int_equal(mqtt_client_state(&c), MQTT_STATE_CONNECTED);
    w.out_len = 0;
}

/* The packet id of the last packet the client sent (PUBLISH QoS 1,
 * SUBSCRIBE or UNSUBSCRIBE), read from the wire. */
static uint16_t last_wire_id(void)
{
    struct mqtt_packet pkt;
    size_t off = 0;
    uint16_t id = 0;
    while (off < w.out_len) {
        assert_int_equal(mqtt_packet_frame(w.out + off, w.out_len - off, &pkt), TMA_OK);
        if (pkt.type == MQTT_PUBLISH) {
            struct mqtt_publish p;
            assert_int_equal(mqtt_decode_publish(&pkt, &p), TMA_OK);
            id = p.packet_id;
        } else {
            assert_true(pkt.body.len >= 2u);
            id = (uint16_t)(pkt.body.ptr[0] << 8 | pkt.body.ptr[1]);
        }
        off += pkt.size;
    }
    w.out_len = 0;
    return id;
}

static uint16_t publish1(void)
{
    struct mqtt_publish p = tma_test_msg("t/1", "x", 1);
    uint16_t id = 0xAAAA;
    assert_int_equal(mqtt_client_publish(&c, &p, 7, &id), TMA_OK);
    assert_int_equal(last_wire_id(), id);
    return id;
}

static void puback(uint16_t id)
{
    uint8_t b[4] = {0x40, 2, (uint8_t)(id >> 8), (uint8_t)id};
    push(b, sizeof(b));
    assert_true(mqtt_client_process(&c) >= 0);
}

/* ---- packet ids ------------------------------------------------------------ */

/* The id handed out is the one on the wire; 0 is never used; the counter
 * wraps 65535 -> 1; an id still in flight is skipped. */
static void test_mqtt_size9_packet_id_wrap(void **state)
{
    struct mqtt_publish p0 = tma_test_msg("t/0", "x", 0);
    struct mqtt_subscription s = {{(const uint8_t *)"a/#", 3}, 1};
    struct tma_span f = {(const uint8_t *)"a/#", 3};
    uint16_t a, b, id;
    (void)state;
    reset();
    connect();
    c.next_id = 65534;
    a = publish1();
    assert_int_equal(a, 65534);
    b = publish1();
    assert_int_equal(b, 65535);
    puback(b);
    assert_int_equal(publish1(), 1); /* 0 skipped */
    puback(1);
    /* QoS 0: id 0, no packet id on the wire, the counter untouched */
    id = 0xAAAA;
    assert_int_equal(mqtt_client_publish(&c, &p0, 0, &id), TMA_OK);
    assert_int_equal(id, 0);
    w.out_len = 0;
    /* 65534 still in flight: skipped on the next turn */
    c.next_id = 65534;
    assert_int_equal(publish1(), 65535);
    puback(65535);
    id = 0xAAAA;
    assert_int_equal(mqtt_client_subscribe(&c, &s, 1, &id), TMA_OK);
    assert_int_equal(last_wire_id(), id);
    assert_int_equal(id, 1);
    id = 0xAAAA;
    assert_int_equal(mqtt_client_unsubscribe(&c, &f, 1, &id), TMA_OK);
    assert_int_equal(last_wire_id(), id);
    assert_int_equal(id, 2);
    /* a refused request leaves the caller's id alone */
    id = 0xAAAA;
    {
        struct mqtt_publish p = tma_test_msg("t/1", "x", 1);
        assert_int_equal(mqtt_client_publish(&c, &p, 1, &id), TMA_OK); /* fourth slot */
        id = 0xAAAA;
        assert_int_equal(mqtt_client_publish(&c, &p, 1, &id), MQ(TMA_C_FULL));
        assert_int_equal(id, 0xAAAA);
    }
    /* ids unique among in-flight */
    {
        size_t i, j;
        for (i = 0; i < 4; i++) {
            assert_int_not_equal(slots[i].packet_id, 0);
            for (j = i + 1; j < 4; j++) {
                assert_int_not_equal(slots[i].packet_id, slots[j].packet_id);
            }
        }
    }
}

/* A filter count that does not fit 32 bits is refused, nothing sent, no
 * id taken (the slot's tag holds the count the SUBACK must match). */
static void test_mqtt_size9_count_above_u32(void **state)
{
    struct mqtt_subscription s = {{(const uint8_t *)"a/#", 3}, 1};
    struct tma_span f = {(const uint8_t *)"a/#", 3};
    uint16_t id = 0xAAAA;
    (void)state;
    reset();
    connect();
#if SIZE_MAX > UINT32_MAX
    assert_int_equal(mqtt_client_subscribe(&c, &s, (size_t)UINT32_MAX + 2u, &id), MQ(TMA_C_BAD_PARAM));
    assert_int_equal(mqtt_client_unsubscribe(&c, &f, (size_t)UINT32_MAX + 2u, &id), MQ(TMA_C_BAD_PARAM));
    assert_int_equal(mqtt_client_subscribe(&c, &s, (size_t)1 << 32, &id), MQ(TMA_C_BAD_PARAM));
#endif
    assert_int_equal(mqtt_client_subscribe(&c, &s, 0, &id), MQ(TMA_C_BAD_PARAM));
    assert_int_equal(mqtt_client_unsubscribe(&c, &f, 0, &id), MQ(TMA_C_BAD_PARAM));
    assert_int_equal(id, 0xAAAA);
    assert_int_equal(w.out_len, 0);
    assert_int_equal(c.next_id, 1);
    assert_int_equal(mqtt_client_inflight_publishes(&c), 0);
    assert_int_equal(mqtt_client_subscribe(&c, &s, 1, &id), TMA_OK);
    assert_int_equal(id, 1);
    assert_int_equal(slots[0].tag, 1);
}

/* ---- init ------------------------------------------------------------------ */

/* Every refused configuration leaves a connected client with messages in
 * flight exactly as it was (bytes of the context and of the slot table). */
static void test_mqtt_size9_init_refused_untouched(void **state)
{
    struct mqtt_client before;
    struct mqtt_inflight slots_before[4];
    int k;
    (void)state;
    reset();
    connect();
    (void)publish1();
    (void)publish1();
    memcpy(&before, &c, sizeof(c));
    memcpy(slots_before, slots, sizeof(slots));
    for (k = 0; k < 9; k++) {
        struct mqtt_client_config bad = cfg;
        switch (k) {
        case 0: bad.tx_buf = NULL; break;
        case 1: bad.rx_buf = NULL; break;
        case 2: bad.tx_cap = 15; break;
        case 3: bad.rx_cap = 15; break;
        case 4: bad.inflight = NULL; break;
        case 5: bad.inflight_count = 0; break;
        case 6: bad.inflight_count = 0xFFFF; break;
        case 7: bad.clock.now_ms = NULL; break;
        default: break;
        }
        if (k == 8) {
            assert_int_equal(mqtt_client_init(&c, NULL), MQ(TMA_C_BAD_PARAM));
        } else {
            assert_int_equal(mqtt_client_init(&c, &bad), MQ(TMA_C_BAD_PARAM));
        }
        assert_memory_equal(&c, &before, sizeof(c));
        assert_memory_equal(slots, slots_before, sizeof(slots));
    }
    assert_int_equal(mqtt_client_init(NULL, &cfg), MQ(TMA_C_BAD_PARAM));
}

static void assert_fresh(const struct mqtt_client *x)
{
    size_t i;
    assert_int_equal(x->state, MQTT_STATE_DISCONNECTED);
    assert_int_equal(x->next_id, 1);
    assert_int_equal(x->tx_len, 0);
    assert_int_equal(x->tx_head, 0);
    assert_false(x->corked);
    assert_false(x->waiting);
    assert_false(x->resending);
    assert_false(x->in_process);
    assert_false(x->session_present);
    assert_false(x->last_ack_refused);
    assert_int_equal(x->last_ack_id, 0);
    assert_int_equal(x->next_seq, 0);
    assert_int_equal(x->keep_alive_s, 0);
    assert_false(x->clean);
    assert_int_equal(x->last_tx_ms, 0);
    assert_int_equal(x->last_rx_ms, 0);
    assert_int_equal(x->wait_since_ms, 0);
    assert_int_equal(x->stat_retransmitted, 0);
    assert_int_equal(x->stat_pings, 0);
    assert_int_equal(x->last_error, TMA_OK);
    assert_int_equal(x->deferred, TMA_OK);
    assert_ptr_equal(x->rx.buf, rx);
    assert_int_equal(x->rx.cap, sizeof(rx));
    assert_int_equal(x->rx.len, 0);
    assert_int_equal(x->rx.consumed, 0);
    assert_int_equal(x->rx.skip, 0);
    assert_int_equal(x->rx.skipped, 0);
    assert_int_equal(x->rx.error, TMA_OK);
    assert_int_equal(x->cfg.connack_timeout_ms, 30000);
    assert_int_equal(x->cfg.ping_timeout_ms, 30000);
    assert_ptr_equal(x->tr.send, NULL);
    for (i = 0; i < x->cfg.inflight_count; i++) {
        assert_int_equal(x->cfg.inflight[i].packet_id, 0);
        assert_int_equal(x->cfg.inflight[i].kind, MQTT_INFLIGHT_FREE);
    }
}

/* Re-init of a connected client with publishes and a SUBSCRIBE in flight,
 * a half-read packet and a cork: as fresh as a first init (field by field),
 * and it connects again with the same CONNECT bytes. */
static void test_mqtt_size9_reinit_connected(void **state)
{
    struct mqtt_subscription s = {{(const uint8_t *)"a/#", 3}, 1};
    static const uint8_t half[3] = {0x30, 10, 0};
    uint8_t first[64];
    size_t first_len;
    (void)state;
    reset();
    connect();
    (void)publish1();
    assert_int_equal(mqtt_client_subscribe(&c, &s, 1, NULL), TMA_OK);
    push(half, sizeof(half));
    assert_true(mqtt_client_process(&c) >= 0);
    mqtt_client_cork(&c, true);
    c.last_ack_refused = true;
    assert_int_equal(mqtt_client_init(&c, &cfg), TMA_OK);
    assert_fresh(&c);
    /* and a zero client through the in-place path */
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    assert_int_equal(mqtt_client_init_in_place(&c), TMA_OK);
    assert_fresh(&c);
    /* same CONNECT as a first connect */
    memset(&w, 0, sizeof(w));
    {
        struct mqtt_connect o = dev_connect();
        assert_int_equal(mqtt_encode_connect(&o, first, sizeof(first), &first_len), TMA_OK);
        assert_int_equal(mqtt_client_connect(&c, &tr, &o), TMA_IN_PROGRESS);
    }
    assert_int_equal(w.out_len, first_len);
    assert_memory_equal(w.out, first, first_len);
}

/* init with the client's own configuration as its argument (a re-init
 * "with what it has"): the copy is taken before anything is cleared. */
static void test_mqtt_size9_init_own_config(void **state)
{
    (void)state;
    reset();
    connect();
    (void)publish1();
    assert_int_equal(mqtt_client_init(&c, &c.cfg), TMA_OK);
    assert_fresh(&c);
    assert_ptr_equal(c.cfg.tx_buf, tx);
    assert_ptr_equal(c.cfg.clock.now_ms, tma_test_clock_ms);
    connect();
}

/* ---- CONNECT --------------------------------------------------------------- */

/* User "u" with the given password. */
static void login(struct mqtt_connect *o, const uint8_t *pw, size_t pw_len)
{
    o->user_name.ptr = (const uint8_t *)"u";
    o->user_name.len = 1;
    o->password.ptr = pw;
    o->password.len = pw_len;
}

/* Every non-will field: the private start with the will-less writer, the
 * public connect and mqtt_encode_connect() agree on the status, and on the
 * bytes when accepted; a refusal sends nothing and leaves the client
 * disconnected. */
static void test_mqtt_size9_connect_writers_agree(void **state)
{
    static const uint8_t bad_utf8[2] = {0xC0, 0x80};
    static uint8_t big[70000];
    int k, accepted = 0, refused = 0;
    (void)state;
    for (k = 0; k < 16; k++) {
        struct mqtt_connect o;
        uint8_t enc[256], pub[256], priv[256];
        size_t enc_len = 0, pub_len, priv_len;
        tma_status se, sp, sv;
        memset(&o, 0, sizeof(o));
        o.client_id.ptr = (const uint8_t *)"dev-1";
        o.client_id.len = 5;
        o.clean_session = (k & 1) == 0;
        o.keep_alive_s = (uint16_t)(k * 4099);
        switch (k) {
        case 0: break;
        case 1: break;
        case 2: o.client_id.len = 0; break;           /* clean: allowed */
        case 3: o.client_id.len = 0; break;           /* not clean: refused */
        case 4: o.client_id.ptr = bad_utf8; o.client_id.len = 2; break;
        case 5: o.client_id.ptr = NULL; break;        /* NULL with a length */
        case 6: o.user_name.ptr = (const uint8_t *)"h/dev/?api-version=2021-04-12"; o.user_name.len = 29; break;
        case 7: login(&o, (const uint8_t *)"", 0); break;
        case 8: o.password.ptr = (const uint8_t *)"p"; o.password.len = 1; break; /* no user */
        case 9: login(&o, big, 0x10000); break;
        case 10: o.user_name.ptr = bad_utf8; o.user_name.len = 2; break;
        case 11: o.user_name.ptr = NULL; o.user_name.len = 3; break; /* absent */
        case 12: o.keep_alive_s = 65535; break;
        case 13: o.client_id.ptr = big; o.client_id.len = 0x10000; memset(big, 'a', sizeof(big)); break;
        case 14: login(&o, (const uint8_t *)"sig", 3); break;
        default: o.keep_alive_s = 0; break;
        }
        se = mqtt_encode_connect(&o, enc, sizeof(enc), &enc_len);
        reset();
        sp = mqtt_client_connect(&c, &tr, &o);
        pub_len = w.out_len;
        memcpy(pub, w.out, pub_len > sizeof(pub) ? sizeof(pub) : pub_len);
        if (sp != TMA_IN_PROGRESS) {
            assert_int_equal(mqtt_client_state(&c), MQTT_STATE_DISCONNECTED);
        }
        reset();
        sv = mqtt_client_start(&c, &tr, &o, mqtt_connect_write);
        priv_len = w.out_len;
        memcpy(priv, w.out, priv_len > sizeof(priv) ? sizeof(priv) : priv_len);
        assert_int_equal(sp, sv);
        if (se == TMA_OK) {
            assert_int_equal(sp, TMA_IN_PROGRESS);
            assert_int_equal(pub_len, enc_len);
            assert_int_equal(priv_len, enc_len);
            assert_memory_equal(pub, enc, enc_len);
            assert_memory_equal(priv, enc, enc_len);
            assert_int_equal(c.keep_alive_s, o.keep_alive_s);
            assert_int_equal(c.clean, o.clean_session);
            accepted++;
        } else {
            /* refused by the codec (the client's tx buffer also refuses a
             * client id of 64 KiB, as too small) */
            assert_true(sp < 0);
            assert_int_equal(pub_len, 0);
            assert_int_equal(priv_len, 0);
            assert_int_equal(mqtt_client_state(&c), MQTT_STATE_DISCONNECTED);
            if (se == MQ(TMA_C_BAD_PARAM)) {
                assert_int_equal(sp, se);
            }
            refused++;
        }
    }
    assert_true(accepted >= 7);
    assert_true(refused >= 6);
}

/* The will's checks stay on the public paths. */
static void test_mqtt_size9_connect_will_checked(void **state)
{
    int k;
    (void)state;
    for (k = 0; k < 5; k++) {
        struct mqtt_connect o;
        uint8_t enc[128];
        size_t n;
        memset(&o, 0, sizeof(o));
        o.client_id.ptr = (const uint8_t *)"d";
        o.client_id.len = 1;
        o.clean_session = true;
        o.has_will = true;
        o.will.topic.ptr = (const uint8_t *)"w/t";
        o.will.topic.len = 3;
        switch (k) {
        case 0: o.will.topic.ptr = (const uint8_t *)"w/#"; break;
        case 1: o.will.qos = 2; break;
        case 2: o.will.payload.len = 1; break; /* NULL with a length */
        case 3: o.will.topic.len = 0; break;
        default: o.will.payload.ptr = (const uint8_t *)"bye"; o.will.payload.len = 3; break;
        }
        reset();
        if (k < 4) {
            assert_int_equal(mqtt_encode_connect(&o, enc, sizeof(enc), &n), MQ(TMA_C_BAD_PARAM));
            assert_int_equal(mqtt_client_connect(&c, &tr, &o), MQ(TMA_C_BAD_PARAM));
            assert_int_equal(w.out_len, 0);
        } else {
            assert_int_equal(mqtt_encode_connect(&o, enc, sizeof(enc), &n), TMA_OK);
            assert_int_equal(mqtt_client_connect(&c, &tr, &o), TMA_IN_PROGRESS);
            assert_int_equal(w.out_len, n);
            assert_memory_equal(w.out, enc, n);
        }
    }
}

/* ---- SUBACK and the refused flag -------------------------------------------- */

static void subscribe(size_t n, uint16_t *id)
{
    static const struct mqtt_subscription s[3] = {
        {{(const uint8_t *)"a/#", 3}, 1}, {{(const uint8_t *)"b/#", 3}, 0}, {{(const uint8_t *)"c/#", 3}, 1}};
    assert_int_equal(mqtt_client_subscribe(&c, s, n, id), TMA_OK);
    w.out_len = 0;
}

static tma_status suback(uint16_t id, const uint8_t *codes, size_t n)
{
    uint8_t b[16];
    size_t len = 0;
    assert_int_equal(mqtt_encode_suback(id, codes, n, b, sizeof(b), &len), TMA_OK);
    push(b, len);
    return mqtt_client_process(&c);
}

/* on_suback sees last_ack_refused equal to "a 0x80 among the codes" for
 * every SUBACK it is called for, and is not called for a wrong count, a
 * duplicate, an unknown id or a QoS 2 grant. */
static void test_mqtt_size9_suback_refused_flag(void **state)
{
    static const uint8_t all_ok[3] = {1, 0, 1};
    static const uint8_t some[3] = {1, 0x80, 0};
    static const uint8_t all_bad[3] = {0x80, 0x80, 0x80};
    static const uint8_t last_bad[3] = {0, 1, 0x80};
    static const uint8_t first_bad[1] = {0x80};
    static const uint8_t qos2[2] = {0x80, 2};
    const uint8_t *cases[5] = {all_ok, some, all_bad, last_bad, first_bad};
    const size_t counts[5] = {3, 3, 3, 3, 1};
    uint16_t id;
    int k;
    (void)state;
    for (k = 0; k < 5; k++) {
        reset();
        connect();
        /* a refused flag left over from an earlier SUBACK */
        c.last_ack_refused = k == 0;
        subscribe(counts[k], &id);
        assert_true(suback(id, cases[k], counts[k]) >= 0);
        assert_int_equal(sub.calls, 1);
        assert_int_equal(sub.n, counts[k]);
        assert_int_equal(sub.refused_flag, sub.refused_scan);
        assert_int_equal(sub.refused_flag, k != 0);
        /* a duplicate of it: no call */
        assert_true(suback(id, cases[k], counts[k]) >= 0);
        assert_int_equal(sub.calls, 1);
        /* an unknown id: no call */
        assert_true(suback((uint16_t)(id + 100u), some, 3) >= 0);
        assert_int_equal(sub.calls, 1);
        assert_int_equal(mqtt_client_state(&c), MQTT_STATE_CONNECTED);
    }
    /* a wrong count (2 codes for 3 filters), and QoS 2 granted after a
     * 0x80: the connection ends, no call */
    for (k = 0; k < 2; k++) {
        reset();
        connect();
        subscribe(k == 0 ? 3 : 2, &id);
        assert_int_equal(suback(id, k == 0 ? some : qos2, 2), MQ(TMA_C_MALFORMED));
        assert_int_equal(sub.calls, 0);
        assert_int_equal(mqtt_client_state(&c), MQTT_STATE_DISCONNECTED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_size9_packet_id_wrap),
        cmocka_unit_test(test_mqtt_size9_count_above_u32),
        cmocka_unit_test(test_mqtt_size9_init_refused_untouched),
        cmocka_unit_test(test_mqtt_size9_reinit_connected),
        cmocka_unit_test(test_mqtt_size9_init_own_config),
        cmocka_unit_test(test_mqtt_size9_connect_writers_agree),
        cmocka_unit_test(test_mqtt_size9_connect_will_checked),
        cmocka_unit_test(test_mqtt_size9_suback_refused_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
