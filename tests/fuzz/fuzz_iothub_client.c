/* Fuzz target: the IoT Hub client (src/iothub/client.c, twin.c) as a state
 * machine, fed whole sessions by a hostile but mostly well-framed broker.
 *
 * The input is a script. Bytes 0 and 1 set up the session (outbox policy,
 * persistent or clean session, whether the broker answers CONNECT,
 * SUBSCRIBE and PUBLISH on its own, X.509 with the chip key or SAS with a
 * short token lifetime and a wall clock not set yet, the back-off); each
 * later op byte picks what the "broker" sends next (CONNACK with any code,
 * SUBACK granting or refusing, PUBACK for a pending, repeated or unknown
 * id, PUBLISH on the C2D, twin response, desired-patch and method topics
 * built from a template with fuzzed status, $rid, property bag and JSON
 * body, raw bytes, a cut), what the application does (telemetry, twin GET
 * and PATCH, method answer, disconnect, restart) and how the clocks move
 * (small steps, jumps, a step back; the wall clock set or jumping). A step
 * of the client follows each op; after the script a well-behaved broker
 * runs.
 *
 * Invariants (each one a CHECK that aborts; mutants each one caught are in
 * the commit that added the target):
 *  1. no crash, no sanitizer report, every call returns (the clock only
 *     runs when the harness moves it, or 1 ms per read past 32 reads in
 *     one call: a loop waiting for time ends, one that spins does not);
 *  2. every byte the client writes decodes, with src/mqtt's decoders, as
 *     MQTT 3.1.1 a client may send: CONNECT first and only once per
 *     connection, then PUBLISH QoS 0/1 on a valid topic name, PUBACK only
 *     for an id the broker sent QoS 1 on this connection, SUBSCRIBE with
 *     valid filters, PINGREQ, DISCONNECT;
 *  3. at-least-once: every telemetry message the outbox accepted is either
 *     reported acknowledged (once, after the broker sent a PUBACK) or still
 *     stored, except the oldest ones DROP_OLDEST dropped and counted; every
 *     telemetry PUBLISH carries one of them, byte for byte; after the
 *     script, a broker that answers everything gets every stored message;
 *  4. no storm: two connection attempts (transport opens) are at least the
 *     back-off minimum (retry.min_ms) apart unless the application called
 *     restart() in between; opens that cost a key operation keep to the
 *     chip-key pacer's bucket (burst 4, 5.3 s each);
 *  5. a twin desired $version only from a body that carries one;
 *  6. SAS: no token left in the transmit or credential buffer once no
 *     CONNECT is on its way (idle, refused).
 * The seeds (tests/fuzz/iothub_client/) are short scripts named after what
 * they do.
 *
 * fuzz_dps_client.c includes this file with FUZZ_BROKER_ONLY defined for
 * the broker, the clock and the output checks (parts 1 and 2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iothub/client.h"
#include "iothub/outbox.h"
#include "mqtt/packet.h"
#include "tma_fuzz.h"
#include "tma_mqtt_test.h"
/* the RAM store's record checks stop the run as any CHECK does */
#define assert_true(x) CHECK(x)
#include "tma_ram_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FZ_DEBUG set: a trace of the session on stderr (to read a finding) */
static int fz_debug = -1;
#define TRACE(...) \
    do { \
        if (fz_debug < 0) { \
            fz_debug = getenv("FZ_DEBUG") != NULL; \
        } \
        if (fz_debug) { \
            fprintf(stderr, __VA_ARGS__); \
        } \
    } while (0)

/* ---- the script ----------------------------------------------------------- */
static const uint8_t *sc_data;
static size_t sc_len, sc_pos;

static uint8_t sc_byte(void)
{
    if (sc_pos < sc_len) {
        return sc_data[sc_pos++];
    }
    sc_pos = sc_len + 1u; /* past the end: sc_unread() gives nothing back */
    return 0u;
}

static uint16_t sc_u16(void)
{
    uint16_t v = (uint16_t)(sc_byte() << 8);
    return (uint16_t)(v | sc_byte());
}

/* Gives back the byte just read (nothing past the end). */
static void sc_unread(void)
{
    if (sc_pos > 0u && sc_pos <= sc_len) {
        sc_pos--;
    }
}

static bool sc_more(void)
{
    return sc_pos < sc_len;
}

/* ---- the clock -------------------------------------------------------------- */
/* clk: what the clock returns; model: the time the client documents it
 * counts (a step back is no time). reads: reads in the current call; past
 * 32 each one moves both by 1 ms, so waits for time end. back_gen counts
 * steps back: a time check spanning one is skipped (the client's count and
 * the model may then differ by the harness's own ops). */
static uint64_t clk, model;
static unsigned reads;
static uint32_t back_gen;

static uint64_t fz_clock(void *ctx)
{
    (void)ctx;
    if (++reads > 32u) {
        clk++;
        model++;
    }
    return clk;
}

static void fz_call_begin(void)
{
    reads = 0u;
}

/* Clock op: small steps, a jump (below 2^30: the client is read at least
 * once per 2^31 ms, as documented), or a step back. */
static void fz_clock_op(void)
{
    uint8_t k = sc_byte();
    uint64_t d;
    switch (k & 3u) {
    case 0: d = k >> 2; break;
    case 1: d = (uint64_t)(k >> 2) * 250u; break;
    case 2: d = (uint64_t)sc_u16() * 16u; break;
    default:
        if ((k & 4u) != 0u) {
            d = (uint64_t)sc_u16() << 14;
            break;
        }
        clk -= (uint64_t)sc_u16() + 1u;
        back_gen++;
        return;
    }
    clk += d;
    model += d;
    TRACE("t=%llu clock +%llu\n", (unsigned long long)model, (unsigned long long)d);
}

/* ---- the broker --------------------------------------------------------------- */
struct fz_broker {
    uint8_t out[16384]; /* broker -> client */
    size_t out_len;
    uint8_t in[16384];  /* client -> broker, not yet framed */
    size_t in_len;
    bool open;          /* a transport is open */
    bool cut;           /* the open transport failed: send and recv say so */
    bool saw_connect;   /* on this transport */
    bool auto_connack, auto_suback, auto_puback;
    uint8_t connack_rc; /* auto_connack's code */
    bool sub_refuse;    /* auto_suback refuses the last filter */
    bool session_present;
    bool raw_sent;      /* raw bytes on this transport: framing is theirs */
    uint8_t busy;       /* sends that take nothing */
    uint8_t partial;    /* sends that take only part */
    bool refuse_open;
    bool open_uses_key;
    /* QoS 1 ids the broker sent on this transport (the client PUBACKs only these) */
    uint8_t sent_ids[8192];
    /* QoS 1 PUBLISH ids of the client not yet acknowledged by the broker */
    uint16_t pending[64];
    unsigned n_pending;
    uint16_t last_sub_id;
    bool have_sub;
    unsigned opens, connects, key_opens, pubacks_sent, client_pubacks;
    unsigned stalls;            /* sends that took nothing or only part */
    uint64_t last_open_model;
    uint32_t last_open_gen;
    uint32_t pacer_gen;
    bool restart_since_open;
    uint64_t pacer_full_at;     /* the key pacer's bucket, from the model */
    uint32_t min_ms;            /* the back-off minimum in force */
    /* target hooks: a decoded PUBLISH / SUBSCRIBE the client sent */
    void (*on_publish)(const struct mqtt_publish *p);
    void (*on_open)(void);
};
static struct fz_broker fb;

static void fb_emit(const uint8_t *p, size_t n)
{
    TRACE("t=%llu broker sends %zu bytes, first 0x%02x\n", (unsigned long long)model, n, n > 0u ? p[0] : 0u);
    /* a broker whose queue is full drops what it would send */
    (void)tma_test_queue_put(fb.out, sizeof(fb.out), &fb.out_len, p, n);
}

static void fb_emit_ack(uint8_t type, uint16_t id)
{
    /* by hand: the encoder refuses id 0 */
    uint8_t b[4] = {(uint8_t)(type << 4), 2, (uint8_t)(id >> 8), (uint8_t)id};
    fb_emit(b, sizeof(b));
    if (type == MQTT_PUBACK) {
        fb.pubacks_sent++;
    }
}

static void fb_emit_connack(uint8_t rc)
{
    /* by hand: the encoder refuses codes above 5 */
    uint8_t b[4] = {0x20, 2, 0, rc};
    b[2] = fb.session_present && rc == 0u ? 1u : 0u;
    fb_emit(b, sizeof(b));
}

/* A PUBLISH written by hand (the encoder would refuse a bad topic): type
 * and flags, remaining length, topic, id for QoS 1, payload. */
static void fb_emit_publish(const uint8_t *topic, size_t tlen, const uint8_t *pl, size_t plen, uint8_t qos,
                            uint16_t id)
{
    static uint8_t b[4096];
    uint8_t vi[4];
    size_t rem = 2u + tlen + (qos > 0u ? 2u : 0u) + plen, n, k;
    if (rem + 5u > sizeof(b)) {
        return;
    }
    b[0] = (uint8_t)(0x30u | (uint8_t)(qos << 1));
    k = mqtt_varint_encode((uint32_t)rem, vi);
    memcpy(b + 1, vi, k);
    n = 1u + k;
    b[n++] = (uint8_t)(tlen >> 8);
    b[n++] = (uint8_t)tlen;
    memcpy(b + n, topic, tlen);
    n += tlen;
    if (qos > 0u) {
        b[n++] = (uint8_t)(id >> 8);
        b[n++] = (uint8_t)id;
        fb.sent_ids[id >> 3] |= (uint8_t)(1u << (id & 7u));
    }
    memcpy(b + n, pl, plen);
    fb_emit(b, n + plen);
}

static bool fb_broker_sent(uint16_t id)
{
    return (fb.sent_ids[id >> 3] & (1u << (id & 7u))) != 0u;
}

static void fb_pending_drop(unsigned i)
{
    fb.pending[i] = fb.pending[--fb.n_pending];
}

/* Check and take in one packet the client sent. */
static void fb_take(const struct mqtt_packet *pkt)
{
    uint8_t b[64];
    size_t n;
    TRACE("t=%llu client sends type %u\n", (unsigned long long)model, (unsigned)pkt->type);
    /* CONNECT first on a connection, and only there */
    CHECK((pkt->type == MQTT_CONNECT) == !fb.saw_connect);
    switch (pkt->type) {
    case MQTT_CONNECT: {
        struct mqtt_connect c;
        CHECK(mqtt_decode_connect(pkt, &c) == TMA_OK);
        CHECK(c.client_id.len > 0u && mqtt_utf8_valid(c.client_id));
        fb.saw_connect = true;
        fb.connects++;
        if (fb.auto_connack) {
            fb_emit_connack(fb.connack_rc);
        }
        break;
    }
    case MQTT_PUBLISH: {
        struct mqtt_publish p;
        CHECK(mqtt_decode_publish(pkt, &p) == TMA_OK);
        CHECK(p.qos <= 1u && mqtt_topic_name_valid(p.topic) && !p.retain);
        if (p.qos == 1u) {
            if (fb.auto_puback) {
                fb_emit_ack(MQTT_PUBACK, p.packet_id);
            } else if (fb.n_pending < sizeof(fb.pending) / sizeof(fb.pending[0])) {
                fb.pending[fb.n_pending++] = p.packet_id;
            }
        }
        if (fb.on_publish != NULL) {
            fb.on_publish(&p);
        }
        break;
    }
    case MQTT_PUBACK: {
        uint16_t id;
        CHECK(mqtt_decode_ack(pkt, &id) == TMA_OK);
        /* raw bytes from the broker may frame as a PUBLISH it never made */
        CHECK(fb_broker_sent(id) || fb.raw_sent);
        fb.client_pubacks++;
        break;
    }
    case MQTT_SUBSCRIBE: {
        struct mqtt_sub_iter it;
        struct mqtt_subscription s;
        uint8_t codes[8];
        size_t k = 0;
        CHECK(mqtt_decode_subscribe(pkt, &it) == TMA_OK);
        while (mqtt_sub_next(&it, &s)) {
            CHECK(k < sizeof(codes) && s.qos <= 1u && mqtt_topic_filter_valid(s.filter));
            codes[k++] = s.qos;
        }
        CHECK(k > 0u);
        fb.last_sub_id = it.packet_id;
        fb.have_sub = true;
        if (fb.auto_suback) {
            if (fb.sub_refuse) {
                codes[k - 1u] = MQTT_SUBACK_FAILURE;
            }
            CHECK(mqtt_encode_suback(it.packet_id, codes, k, b, sizeof(b), &n) == TMA_OK);
            fb_emit(b, n);
        }
        break;
    }
    case MQTT_PINGREQ:
        CHECK(mqtt_decode_empty(pkt) == TMA_OK);
        CHECK(mqtt_encode_empty(MQTT_PINGRESP, b, sizeof(b), &n) == TMA_OK);
        fb_emit(b, n);
        break;
    case MQTT_DISCONNECT:
        CHECK(mqtt_decode_empty(pkt) == TMA_OK);
        break;
    default:
        CHECK(0); /* a packet a client never sends */
    }
}

static int32_t fb_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct mqtt_packet pkt;
    tma_status st;
    (void)ctx;
    CHECK(fb.open && len > 0u);
    if (fb.cut) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    if (fb.busy > 0u) {
        fb.busy--;
        fb.stalls++;
        return 0;
    }
    if (fb.partial > 0u && len > 1u) {
        fb.partial--;
        fb.stalls++;
        len = 1u + len / 3u;
    }
    CHECK(tma_test_queue_put(fb.in, sizeof(fb.in), &fb.in_len, buf, len));
    for (;;) {
        st = mqtt_packet_frame(fb.in, fb.in_len, &pkt);
        if (st != TMA_OK) {
            CHECK(st == TMA_WANT_READ);
            break;
        }
        fb_take(&pkt);
        memmove(fb.in, fb.in + pkt.size, fb.in_len - pkt.size);
        fb.in_len -= pkt.size;
    }
    return (int32_t)len;
}

static int32_t fb_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    CHECK(fb.open);
    if (fb.cut && fb.out_len == 0u) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    return (int32_t)tma_test_queue_take(fb.out, &fb.out_len, buf, len);
}

static tma_status fb_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    (void)ctx;
    CHECK(!fb.open); /* never a second connection over a live one */
    TRACE("t=%llu open #%u\n", (unsigned long long)model, fb.opens + 1u);
    /* no storm: the back-off minimum since the last attempt */
    if (fb.opens > 0u && !fb.restart_since_open && fb.last_open_gen == back_gen) {
        CHECK(model - fb.last_open_model >= fb.min_ms);
    }
    fb.opens++;
    fb.last_open_model = model;
    fb.last_open_gen = back_gen;
    fb.restart_since_open = false;
    *used_key = fb.open_uses_key;
    if (fb.open_uses_key) {
        /* the chip-key pacer's bucket: at most 4 operations in debt */
        fb.key_opens++;
        if (fb.pacer_full_at < model || fb.pacer_gen != back_gen) {
            fb.pacer_full_at = model;
            fb.pacer_gen = back_gen;
        }
        fb.pacer_full_at += 5300u;
        CHECK(fb.pacer_full_at - model <= 4u * 5300u);
    }
    if (fb.on_open != NULL) {
        fb.on_open();
    }
    if (fb.refuse_open) {
        return TMA_ERR(TMA_LAYER_TLS, 0x45);
    }
    fb.open = true;
    fb.cut = false;
    fb.saw_connect = false;
    fb.in_len = fb.out_len = 0u;
    fb.n_pending = 0u;
    fb.have_sub = false;
    fb.raw_sent = false;
    memset(fb.sent_ids, 0, sizeof(fb.sent_ids));
    tr->ctx = NULL;
    tr->send = fb_send;
    tr->recv = fb_recv;
    return TMA_OK;
}

static void fb_close(void *ctx)
{
    (void)ctx;
    CHECK(fb.open);
    fb.open = false;
}

static void fb_reset(void)
{
    memset(&fb, 0, sizeof(fb));
    clk = 0x100000000ull - 5000u; /* a 32-bit wrap soon */
    model = 0u;
    back_gen = 0u;
    reads = 0u;
}

/* A short fuzzed string, into @p out (NUL-terminated, no NUL inside; no
 * 'S' either, so the application never hands the client the words of a
 * SAS token, which check_no_token() looks for). */
static size_t sc_str(char *out, size_t cap)
{
    size_t n = sc_byte() % 24u, i, k = 0;
    for (i = 0; i < n && k + 1u < cap; i++) {
        uint8_t ch = sc_byte();
        if (ch != 0u) {
            out[k++] = (char)(ch == 'S' ? 's' : ch);
        }
    }
    out[k] = '\0';
    return k;
}

/* Ops on the broker both targets share; false if @p op is not one. */
static bool fb_common_op(uint8_t op)
{
    uint8_t a = sc_byte();
    switch (op) {
    case 0: /* CONNACK: mostly accepted, any code */
        fb_emit_connack((a & 0x80u) != 0u ? (uint8_t)(a & 0x7fu) : (uint8_t)((a & 7u) < 5u ? 0u : (a & 7u) - 4u));
        return true;
    case 1: /* SUBACK for the last SUBSCRIBE or any id, granting or refusing */
    {
        uint8_t b[16], codes[4] = {(uint8_t)(a & 1u), 0, 1, 0};
        size_t n, k = 1u + (a >> 6);
        uint16_t id = (a & 2u) != 0u || !fb.have_sub ? sc_u16() : fb.last_sub_id;
        if ((a & 4u) != 0u) {
            codes[k - 1u] = (a & 8u) != 0u ? MQTT_SUBACK_FAILURE : (uint8_t)(a >> 4 & 3u);
        }
        if (mqtt_encode_suback(id, codes, k, b, sizeof(b), &n) == TMA_OK) {
            fb_emit(b, n);
        }
        return true;
    }
    case 2: /* PUBACK: a pending id (maybe twice) or any id */
        if ((a & 1u) == 0u && fb.n_pending > 0u) {
            unsigned i = (a >> 2) % fb.n_pending;
            fb_emit_ack(MQTT_PUBACK, fb.pending[i]);
            if ((a & 2u) == 0u) {
                fb_pending_drop(i);
            }
        } else {
            fb_emit_ack(MQTT_PUBACK, sc_u16());
        }
        return true;
    case 3: /* raw bytes */
    {
        uint8_t raw[64];
        size_t n = a % sizeof(raw), i;
        for (i = 0; i < n; i++) {
            raw[i] = sc_byte();
        }
        fb_emit(raw, n);
        fb.raw_sent = fb.raw_sent || (fb.open && n > 0u);
        return true;
    }
    case 4: /* the link: cut, busy or partial sends, the next open refused,
             * the broker's automatic answers */
        switch (a & 7u) {
        case 0: fb.cut = fb.open; break;
        case 1: fb.busy = (uint8_t)(a >> 3); break;
        case 2: fb.partial = (uint8_t)(a >> 3); break;
        case 3: fb.refuse_open = (a & 8u) != 0u; break;
        case 4: fb.auto_connack = (a & 8u) != 0u; fb.connack_rc = (uint8_t)((a >> 4) % 6u); break;
        case 5: fb.auto_suback = (a & 8u) != 0u; fb.sub_refuse = (a & 16u) != 0u; break;
        case 6: fb.auto_puback = (a & 8u) != 0u; break;
        default: fb.session_present = (a & 8u) != 0u; break;
        }
        return true;
    case 5: /* PINGRESP, unasked, or another packet a broker may send */
    {
        uint8_t b[8];
        size_t n;
        static const uint8_t types[4] = {MQTT_PINGRESP, MQTT_UNSUBACK, MQTT_PUBREC, MQTT_PUBCOMP};
        if ((a & 3u) == 0u) {
            CHECK(mqtt_encode_empty(MQTT_PINGRESP, b, sizeof(b), &n) == TMA_OK);
            fb_emit(b, n);
        } else {
            fb_emit_ack(types[a & 3u], sc_u16());
        }
        return true;
    }
    case 6:
        sc_unread(); /* the clock op reads its own byte */
        fz_clock_op();
        return true;
    default:
        sc_unread();
        return false;
    }
}

/* A PUBLISH body: bodies[sel & 7] when @p tmpl, else up to @p max - 1 fuzz
 * bytes (a length byte, then the bytes). Returns its length. */
static size_t sc_body(uint8_t *body, const char *const bodies[8], unsigned sel, bool tmpl,
                      size_t max)
{
    size_t i, n;
    if (tmpl) {
        n = strlen(bodies[sel & 7u]);
        memcpy(body, bodies[sel & 7u], n);
        return n;
    }
    n = sc_byte() % max;
    for (i = 0; i < n; i++) {
        body[i] = sc_byte();
    }
    return n;
}

#ifndef FUZZ_BROKER_ONLY

/* ---- the IoT Hub client's session -------------------------------------------- */
#define DEV "dev1"
#define MAX_MSG 64u

/* The model of the telemetry messages the outbox accepted. */
enum { M_NONE = 0, M_STORED, M_ACKED };
static struct {
    uint8_t state;
    uint32_t seq;
    char topic[256];
    char payload[16];
} msgs[MAX_MSG];
static unsigned n_msgs;
static unsigned acks_reported;

static struct iothub_client cl;
static struct iothub_outbox ob;
static struct tma_ram_store rs;
static uint8_t tx[1024], rx[1024], rec[512];
static char cred[512];
static struct mqtt_inflight infl[5];
static char last_method_rid[32];
static bool in_cb;

static int msg_by_seq(uint32_t seq)
{
    unsigned i;
    for (i = 0; i < n_msgs; i++) {
        if (msgs[i].state != M_NONE && msgs[i].seq == seq) {
            return (int)i;
        }
    }
    return -1;
}

static void on_event(void *u, enum iothub_event ev, tma_status r)
{
    (void)u;
    CHECK(ev >= IOTHUB_EVENT_CONNECTED && ev <= IOTHUB_EVENT_SUBSCRIBE_REFUSED);
    CHECK((ev == IOTHUB_EVENT_CONNECTED) == (r == TMA_OK));
}

static void on_c2d(void *u, struct tma_span bag, struct tma_span payload)
{
    (void)u;
    CHECK(bag.len == 0u || bag.ptr != NULL);
    CHECK(payload.len == 0u || payload.ptr != NULL);
}

/* Invariant 5: a $version the client's twin reader found must be in the
 * body as text (a body escaping the member name, "\u0024version", is
 * left out: the check would need a JSON reader of its own). */
static void on_twin(void *u, const struct iothub_twin_msg *m, struct tma_span payload)
{
    int64_t v = 0;
    bool is_get = m->kind == IOTHUB_TWIN_RESPONSE;
    char text[32];
    const uint8_t *p, *end = payload.ptr + payload.len;
    bool seen = false;
    (void)u;
    if (iothub_twin_desired_version(payload, is_get, &v) != TMA_OK) {
        return;
    }
    snprintf(text, sizeof(text), "%lld", (long long)v);
    for (p = payload.ptr; p != NULL && p + 10 <= end; p++) {
        const uint8_t *q;
        size_t tl = strlen(text);
        if (memcmp(p, "\"$version\"", 10) != 0) {
            if (*p == '\\') {
                return;
            }
            continue;
        }
        for (q = p + 10; q < end && (*q == ' ' || *q == ':' || *q == '\t' || *q == '\n' || *q == '\r'); q++) {
        }
        if ((size_t)(end - q) >= tl && memcmp(q, text, tl) == 0) {
            seen = true;
        }
    }
    CHECK(seen);
}

static void on_method(void *u, struct tma_span name, struct tma_span rid, struct tma_span payload)
{
    (void)u;
    (void)payload;
    CHECK(name.len > 0u && rid.len > 0u);
    if (rid.len < sizeof(last_method_rid)) {
        memcpy(last_method_rid, rid.ptr, rid.len);
        last_method_rid[rid.len] = '\0';
    }
    if (in_cb) {
        (void)iothub_client_method_respond(&cl, rid, 200, (struct tma_span){(const uint8_t *)"{}", 2});
    }
}

static void on_acked(void *u, uint32_t seq)
{
    int i = msg_by_seq(seq);
    (void)u;
    /* once, for a message stored, after a PUBACK from the broker */
    CHECK(i >= 0 && msgs[i].state == M_STORED);
    CHECK(acks_reported < fb.pubacks_sent);
    msgs[i].state = M_ACKED;
    acks_reported++;
}

/* SAS: a stand-in HMAC (the token's bytes do not matter to the client's
 * state) and a wall clock that follows the model, from 2026 or, for a
 * device without an RTC, from 1970 until a "network time" op sets it. */
static uint64_t wall_base;

static tma_status fake_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                            uint8_t out[32])
{
    size_t i;
    (void)ctx;
    memset(out, 0x5a, 32);
    for (i = 0; i < msg_len; i++) {
        out[i % 32u] = (uint8_t)(out[i % 32u] ^ msg[i] ^ (key_len > 0u ? key[i % key_len] : 0u));
    }
    return TMA_OK;
}

static uint64_t fz_wall(void *ctx)
{
    (void)ctx;
    return wall_base + model;
}

/* A SAS token (a bearer credential until it expires) is not left in the
 * client's buffers once no CONNECT is on its way (idle, refused). */
static void check_no_token(void)
{
    static const char sig[] = "SharedAccessSignature";
    size_t i;
    uint8_t st = (uint8_t)iothub_client_state(&cl);
    if (cl.cfg.sas_key == NULL || (st != IOTHUB_STATE_IDLE && st != IOTHUB_STATE_AUTH_FAILED)) {
        return;
    }
    for (i = 0; i + sizeof(sig) - 1u <= sizeof(tx); i++) {
        CHECK(memcmp(tx + i, sig, sizeof(sig) - 1u) != 0);
    }
    for (i = 0; i + sizeof(sig) - 1u <= sizeof(cred); i++) {
        CHECK(memcmp(cred + i, sig, sizeof(sig) - 1u) != 0);
    }
}

/* Every telemetry PUBLISH carries a stored message, byte for byte. */
static void hub_on_publish(const struct mqtt_publish *p)
{
    unsigned i;
    if (p->topic.len < 8u || memcmp(p->topic.ptr, "devices/", 8) != 0) {
        CHECK(p->qos == 0u && p->topic.ptr[0] == '$');
        return;
    }
    CHECK(p->qos == 1u);
    for (i = 0; i < n_msgs; i++) {
        if (msgs[i].state != M_NONE && strlen(msgs[i].payload) == p->payload.len &&
            memcmp(msgs[i].payload, p->payload.ptr, p->payload.len) == 0) {
            CHECK(strlen(msgs[i].topic) == p->topic.len && memcmp(msgs[i].topic, p->topic.ptr, p->topic.len) == 0);
            return;
        }
    }
    CHECK(0);
}

/* Invariant 3 after every call: the model against the outbox. */
static void check_outbox(void)
{
    struct iothub_outbox_stats s = iothub_outbox_stats(&ob);
    static uint8_t buf[512];
    struct iothub_outbox_msg m;
    unsigned i, stored = 0, missing = 0;
    bool gap = false;
    for (i = 0; i < n_msgs; i++) {
        if (msgs[i].state != M_STORED) {
            continue;
        }
        if (iothub_outbox_get(&ob, msgs[i].seq, buf, sizeof(buf), &m) == TMA_OK) {
            CHECK(m.payload.len == strlen(msgs[i].payload) &&
                  memcmp(m.payload.ptr, msgs[i].payload, m.payload.len) == 0);
            stored++;
            gap = true;
        } else {
            /* gone without a PUBACK: only the oldest, only counted drops */
            CHECK(!gap);
            missing++;
        }
    }
    CHECK(missing == s.dropped);
    CHECK(stored == iothub_outbox_count(&ob));
}

static void hub_step(void)
{
    tma_status st;
    fz_call_begin();
    st = iothub_client_step(&cl);
    CHECK(st != TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_STATE) && st != TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
    check_outbox();
    check_no_token();
}

static void app_op(uint8_t op)
{
    uint8_t a = sc_byte();
    switch (op) {
    case 0: /* telemetry, with a property or none */
        if (n_msgs < MAX_MSG) {
            struct iothub_property pr;
            char key[24], val[24];
            uint32_t seq = 0;
            tma_status st;
            snprintf(msgs[n_msgs].payload, sizeof(msgs[n_msgs].payload), "T%u", n_msgs);
            sc_str(key, sizeof(key));
            sc_str(val, sizeof(val));
            pr.key = key;
            pr.value = val;
            fz_call_begin();
            st = iothub_client_send_telemetry(&cl, &pr, (a & 1u) ? 1u : 0u, (const uint8_t *)msgs[n_msgs].payload,
                                              strlen(msgs[n_msgs].payload), &seq);
            if (st == TMA_OK) {
                /* device_topic() left the topic in cred_buf */
                CHECK(strlen(cred) < sizeof(msgs[n_msgs].topic));
                strcpy(msgs[n_msgs].topic, cred);
                msgs[n_msgs].seq = seq;
                msgs[n_msgs].state = M_STORED;
                n_msgs++;
            }
        }
        break;
    case 1:
        fz_call_begin();
        (void)iothub_client_twin_get(&cl, NULL);
        break;
    case 2: {
        static const char *const patches[4] = {"{\"a\":1}", "{}", "{\"b\":{\"c\":null}}", "nope"};
        struct tma_span p = {(const uint8_t *)patches[a & 3u], strlen(patches[a & 3u])};
        fz_call_begin();
        (void)iothub_client_twin_patch(&cl, p, NULL);
        break;
    }
    case 3: {
        char rid[24];
        struct tma_span r, body = {(const uint8_t *)"{\"r\":1}", 7};
        if ((a & 1u) != 0u) {
            sc_str(rid, sizeof(rid));
            r.ptr = (const uint8_t *)rid;
        } else {
            r.ptr = (const uint8_t *)last_method_rid;
        }
        r.len = strlen((const char *)r.ptr);
        fz_call_begin();
        (void)iothub_client_method_respond(&cl, r, (uint16_t)(200u + (a >> 1)), body);
        break;
    }
    case 4:
        fz_call_begin();
        iothub_client_disconnect(&cl);
        break;
    case 5:
        fz_call_begin();
        iothub_client_restart(&cl);
        fb.restart_since_open = true;
        break;
    default: /* the wall clock set (network time), or jumping ahead */
        wall_base = (a & 1u) != 0u ? IOTHUB_WALL_PLAUSIBLE_MS : wall_base + ((uint64_t)a << 20);
        break;
    }
}

/* Broker PUBLISHes on the IoT Hub topics, from templates with fuzzed fields. */
static void hub_publish_op(void)
{
    static const char *const bodies[8] = {
        "{\"desired\":{\"$version\":7,\"a\":1},\"reported\":{\"$version\":2}}",
        "{\"$version\":12,\"temp\":{\"x\":[1,2,3]}}",
        "{\"desired\":{\"$version\":\"7\"}}",
        "{\"$version\":9223372036854775807}",
        "{\"$version\":1,\"$version\":2}",
        "{\"desired\":{\"a\":{\"$version\":5}},\"x\":1}",
        "{\"a\":\"\\u0024version\"}",
        "[1,{\"$version\":3}]",
    };
    static const uint16_t statuses[8] = {200, 204, 400, 429, 500, 0, 999, 65535};
    char topic[256], f1[24], f2[24];
    uint8_t body[128];
    size_t blen;
    uint8_t a = sc_byte(), b = sc_byte();
    uint8_t qos = (uint8_t)((a >> 3) & 1u);
    uint16_t id = (a & 0x40u) != 0u ? sc_u16() : (uint16_t)(1u + (b & 7u));
    sc_str(f1, sizeof(f1));
    sc_str(f2, sizeof(f2));
    switch (a & 7u) {
    case 0: /* C2D with a fuzzed property bag */
        snprintf(topic, sizeof(topic), "devices/" DEV "/messages/devicebound/%s", f1);
        break;
    case 1: /* twin response */
        snprintf(topic, sizeof(topic), "$iothub/twin/res/%u/?$rid=%u%s", statuses[b >> 5],
                 (b & 0x10u) != 0u ? cl.rid : (unsigned)(b & 15u), f1);
        break;
    case 2: /* desired patch */
        snprintf(topic, sizeof(topic), "$iothub/twin/PATCH/properties/desired/?$version=%u%s", b, f1);
        break;
    case 3: /* method */
        snprintf(topic, sizeof(topic), "$iothub/methods/POST/%s/?$rid=%s", f1, f2);
        break;
    case 4: /* someone else's C2D, a module's input */
        snprintf(topic, sizeof(topic), "devices/%s/%smessages/devicebound/%s", f2, (b & 1u) ? "modules/m/" : "", f1);
        break;
    case 5:
        snprintf(topic, sizeof(topic), "$iothub/twin/res/%s/?%s", f1, f2);
        break;
    default: /* anything */
        snprintf(topic, sizeof(topic), "%s%s", f1, f2);
        break;
    }
    blen = sc_body(body, bodies, b, (b & 8u) != 0u, 48u);
    fb_emit_publish((const uint8_t *)topic, strlen(topic), body, blen, qos, id);
}

/* After the script: a broker that answers everything gets every message
 * stored (unless the client was told to stay away). */
static void drain(void)
{
    int i;
    fb.cut = false;
    fb.busy = fb.partial = 0u;
    fb.refuse_open = false;
    fb.auto_connack = fb.auto_suback = fb.auto_puback = true;
    fb.connack_rc = 0u;
    fb.sub_refuse = false;
    fb.session_present = false;
    if (wall_base < IOTHUB_WALL_PLAUSIBLE_MS) {
        wall_base = IOTHUB_WALL_PLAUSIBLE_MS; /* network time came */
    }
    /* PUBACK what the broker held back */
    while (fb.n_pending > 0u) {
        fb_emit_ack(MQTT_PUBACK, fb.pending[fb.n_pending - 1u]);
        fb.n_pending--;
    }
    for (i = 0; i < 400 && iothub_outbox_count(&ob) > 0u; i++) {
        if (iothub_client_state(&cl) == IOTHUB_STATE_AUTH_FAILED || iothub_client_next_attempt_in_ms(&cl) > 200000u) {
            iothub_client_restart(&cl);
            fb.restart_since_open = true;
        }
        hub_step();
        clk += 997u;
        model += 997u;
    }
    if (iothub_outbox_count(&ob) != 0u && getenv("FZ_DEBUG") != NULL) {
        fprintf(stderr, "drain: state %d reason %d count %u next %llu open %d mqtt %d inflight %zu stats pub %u acked %u retr %u\n",
                (int)iothub_client_state(&cl), (int)iothub_client_last_reason(&cl), iothub_outbox_count(&ob),
                (unsigned long long)iothub_client_next_attempt_in_ms(&cl), fb.open, (int)cl.mqtt.state,
                mqtt_client_inflight_publishes(&cl.mqtt), cl.stats.published, cl.stats.acked, cl.stats.retransmitted);
    }
    CHECK(iothub_outbox_count(&ob) == 0u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iothub_client_config cfg;
    struct iothub_storage st;
    uint8_t setup, setup2;
    int ops = 0;
    if (size < 1u) {
        return 0;
    }
    sc_data = data;
    sc_len = size;
    sc_pos = 0;
    setup = sc_byte();
    setup2 = sc_byte();
    fb_reset();
    fb.auto_connack = (setup & 1u) != 0u;
    fb.auto_suback = (setup & 2u) != 0u;
    fb.auto_puback = (setup & 4u) != 0u;
    fb.open_uses_key = (setup & 8u) != 0u;
    fb.on_publish = hub_on_publish;
    memset(msgs, 0, sizeof(msgs));
    n_msgs = acks_reported = 0u;
    last_method_rid[0] = '\0';
    in_cb = (setup & 0x80u) != 0u;
    st = tma_ram_store_init(&rs, TMA_RAM_STORE_MAX, sizeof(rec));
    CHECK(iothub_outbox_init(&ob, &st, 4u + (setup >> 5 & 3u) * 4u,
                             (setup & 16u) != 0u ? IOTHUB_OUTBOX_DROP_OLDEST : IOTHUB_OUTBOX_REFUSE_NEW) == TMA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = "hub.example";
    cfg.id.device_id = DEV;
    cfg.clock.now_ms = fz_clock;
    cfg.keep_alive_s = (setup & 0x40u) != 0u ? 30u : 0u;
    cfg.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS;
    cfg.clean_session = (setup & 0x20u) != 0u;
    cfg.connector.open = fb_open;
    cfg.connector.close = fb_close;
    cfg.outbox = &ob;
    TMA_TEST_CFG_BUFFERS(cfg, tx, rx, infl);
    TMA_TEST_CFG_IOTHUB_BUFFERS(cfg, rec, cred);
    /* setup2: SAS (lifetime 3600, 60, 5 or 120 s; wall clock set or not
     * yet), a back-off of its own with the key pacer left zero */
    if ((setup2 & 1u) != 0u) {
        static const uint32_t lifetimes[4] = {0u, 60u, 5u, 120u};
        cfg.sas_key = "c2VjcmV0a2V5MTIzNDU2Nzg=";
        cfg.sas_lifetime_s = lifetimes[setup2 >> 1 & 3u];
        cfg.hmac.hmac_sha256 = fake_hmac;
        cfg.wall.now_ms = fz_wall;
        fb.open_uses_key = false; /* SAS: TLS without a client key */
    }
    wall_base = (setup2 & 8u) != 0u ? 0u : IOTHUB_WALL_PLAUSIBLE_MS + 86400000u;
    if ((setup2 & 16u) != 0u) {
        cfg.retry.min_ms = 200u;
        cfg.retry.max_ms = 2000u;
        cfg.retry.jitter_max_ms = setup2 >> 5;
    }
    cfg.cb.on_event = on_event;
    cfg.cb.on_c2d = on_c2d;
    cfg.cb.on_twin = on_twin;
    cfg.cb.on_method = on_method;
    cfg.cb.on_telemetry_acked = on_acked;
    CHECK(iothub_client_init(&cl, &cfg) == TMA_OK);
    fb.min_ms = cl.cfg.retry.min_ms;
    while (sc_more() && ops++ < 600) {
        uint8_t op = sc_byte();
        if (op < 0x70u) {
            if (!fb_common_op((uint8_t)(op >> 4))) {
                CHECK(0);
            }
        } else if (op < 0xb0u) {
            hub_publish_op();
        } else {
            app_op((uint8_t)((op - 0xb0u) % 7u));
        }
        hub_step();
    }
    drain();
    return 0;
}

#endif /* FUZZ_BROKER_ONLY */
