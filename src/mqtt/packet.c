/* MQTT 3.1.1 packet codec. Pure functions over caller buffers: no heap, no
 * I/O. Section numbers refer to the OASIS MQTT 3.1.1 specification. */
#include "mqtt/packet.h"

#include "packet_core.h"
#include "packet_rx.h"

#include <string.h>

#define E_PARAM TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM)
#define E_SMALL TMA_ERR(TMA_LAYER_MQTT, TMA_C_TOO_SMALL)
#define E_MALFORMED TMA_ERR(TMA_LAYER_MQTT, TMA_C_MALFORMED)
#define E_UNSUPPORTED TMA_ERR(TMA_LAYER_MQTT, TMA_C_UNSUPPORTED)

/* ------------------------------------------------------------- checks */

bool mqtt_utf8_valid(struct tma_span s)
{
    const uint8_t *p = s.ptr;
    const uint8_t *end;
    if (p == NULL) {
        return s.len == 0;
    }
    if (s.len > 0xFFFFu) {
        return false;
    }
    end = p + s.len;
    while (p < end) {
        uint32_t cp = *p++;
        uint32_t min;
        size_t n;
        if (cp == 0) {
            return false; /* 1.5.3: U+0000 not allowed */
        }
        if (cp < 0x80u) {
            continue;
        }
        /* Lead bytes C2..F4 only (C0 and C1 start overlong forms, F5 and up
         * code points beyond U+10FFFF), then n continuation bytes. */
        if (cp < 0xC2u || cp > 0xF4u) {
            return false;
        }
        n = cp >= 0xF0u ? 3u : cp >= 0xE0u ? 2u : 1u;
        if ((size_t)(end - p) < n) {
            return false;
        }
        cp &= 0x3Fu >> n;
        min = 1u << (5u * n + 1u);
        while (n-- > 0) {
            uint8_t cb = *p++;
            if ((cb & 0xC0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (cb & 0x3Fu);
        }
        /* Overlong (the shortest form with n continuation bytes starts at
         * 2^(5n+1): 0x800, 0x10000; from C2 on a 2-byte form never is),
         * beyond U+10FFFF, surrogate. */
        if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) {
            return false;
        }
    }
    return true;
}

/* Topic names and filters in one pass: no name holds a wildcard; in a filter
 * a wildcard fills a whole level (the character before it is '/' or the
 * start, the one after it '/' or the end) and '#' ends the filter. */
bool mqtt_topic_ok(struct tma_span s, bool filter)
{
    uint8_t prev = '/';
    size_t i;
    if (s.len == 0 || !mqtt_utf8_valid(s)) {
        return false;
    }
    for (i = 0; i < s.len; i++) {
        uint8_t ch = s.ptr[i];
        if (((ch == '+' || ch == '#') && (!filter || prev != '/')) ||
            prev == '#' || (prev == '+' && ch != '/')) {
            return false;
        }
        prev = ch;
    }
    return true;
}

bool mqtt_topic_name_valid(struct tma_span s)
{
    return mqtt_topic_ok(s, false);
}

bool mqtt_topic_filter_valid(struct tma_span s)
{
    return mqtt_topic_ok(s, true);
}

bool mqtt_topic_matches(struct tma_span filter, struct tma_span topic)
{
    size_t f = 0;
    size_t t = 0;
    if (filter.len == 0 || topic.len == 0) {
        return false;
    }
    /* 4.7.2: wildcards in the first level do not match '$' topics. */
    if (topic.ptr[0] == '$' && (filter.ptr[0] == '+' || filter.ptr[0] == '#')) {
        return false;
    }
    while (f < filter.len) {
        uint8_t ch = filter.ptr[f];
        if (ch == '#') {
            return true;
        }
        if (ch == '+') {
            while (t < topic.len && topic.ptr[t] != '/') {
                t++;
            }
            f++;
        } else if (ch == '/') {
            if (t >= topic.len) {
                /* "a/#" also matches "a" (4.7.1.2). */
                return f + 2 == filter.len && filter.ptr[f + 1] == '#';
            }
            if (topic.ptr[t] != '/') {
                return false;
            }
            f++;
            t++;
        } else {
            if (t >= topic.len || topic.ptr[t] != ch) {
                return false;
            }
            f++;
            t++;
        }
    }
    return t == topic.len;
}

/* ------------------------------------------------------------- framing */

size_t mqtt_varint_encode(uint32_t value, uint8_t out[4])
{
    size_t n = 0;
    if (value > MQTT_MAX_REMAINING_LENGTH) {
        return 0;
    }
    do {
        uint8_t b = (uint8_t)(value & 0x7Fu);
        value >>= 7;
        if (value != 0) {
            b |= 0x80u;
        }
        out[n++] = b;
    } while (value != 0);
    return n;
}

tma_status mqtt_packet_frame(const uint8_t *buf, size_t len, struct mqtt_packet *out_pkt)
{
    if ((buf == NULL && len != 0) || out_pkt == NULL) {
        return E_PARAM;
    }
    return mqtt_rx_frame(buf, len, out_pkt);
}

/* ------------------------------------------------------------- writer */

/* Bounded writer: counts everything, writes only what fits. */
struct writer {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    bool bad; /* a body writer found a field it must not write */
};

static void put_u8(struct writer *w, uint8_t b)
{
    if (w->pos < w->cap) {
        w->buf[w->pos] = b;
    }
    w->pos++;
}

static void put_u16(struct writer *w, uint16_t v)
{
    put_u8(w, (uint8_t)(v >> 8));
    put_u8(w, (uint8_t)(v & 0xFFu));
}

static void put_raw(struct writer *w, const uint8_t *p, size_t n)
{
    if (n != 0 && w->pos <= w->cap && w->cap - w->pos >= n) {
        memcpy(w->buf + w->pos, p, n);
    }
    w->pos += n;
}

static void put_str(struct writer *w, struct tma_span s)
{
    put_u16(w, (uint16_t)s.len);
    put_raw(w, s.ptr, s.len);
}

static tma_status finish(const struct writer *w, size_t *out_len)
{
    *out_len = w->pos;
    return w->pos <= w->cap ? TMA_OK : E_SMALL;
}

/* A packet body writer for emit(). */
typedef void (*body_fn)(struct writer *w, const void *arg);

/* One packet: fixed header (first byte, remaining length), then the body.
 * The body writer runs twice: once with no room, which only measures it,
 * then for real. */
static tma_status emit(uint8_t first, body_fn body, const void *arg, uint8_t *buf, size_t cap,
                       size_t *out_len)
{
    struct writer w = {NULL, 0, 0, false};
    size_t len;
    body(&w, arg);
    len = w.pos;
    if (w.bad || len > MQTT_MAX_REMAINING_LENGTH) {
        return E_PARAM;
    }
    w.buf = buf;
    w.cap = cap;
    w.pos = 0;
    put_u8(&w, first);
    do { /* remaining length, 7 bits a byte, low first (2.2.3) */
        put_u8(&w, (uint8_t)((len & 0x7Fu) | (len > 0x7Fu ? 0x80u : 0u)));
        len >>= 7;
    } while (len != 0);
    body(&w, arg);
    return finish(&w, out_len);
}

static bool buf_args_ok(const uint8_t *buf, size_t cap, const size_t *out_len)
{
    return out_len != NULL && (buf != NULL || cap == 0);
}

/* ------------------------------------------------------------- encoders */

static void connect_body(struct writer *w, const void *arg)
{
    static const uint8_t proto[7] = {0, 4, 'M', 'Q', 'T', 'T', 4};
    const struct mqtt_connect *c = arg;
    uint8_t flags = c->clean_session ? 0x02u : 0u;
    if (c->has_will) {
        flags |= (uint8_t)(0x04u | (uint8_t)(c->will.qos << 3) | (c->will.retain ? 0x20u : 0u));
    }
    if (c->user_name.ptr != NULL) {
        flags |= 0x80u;
    }
    if (c->password.ptr != NULL) {
        flags |= 0x40u;
    }
    put_raw(w, proto, sizeof(proto)); /* protocol name and level 4 */
    put_u8(w, flags);
    put_u16(w, c->keep_alive_s);
    put_str(w, c->client_id);
    if (c->has_will) {
        put_str(w, c->will.topic);
        put_str(w, c->will.payload);
    }
    if (c->user_name.ptr != NULL) {
        put_str(w, c->user_name);
    }
    if (c->password.ptr != NULL) {
        put_str(w, c->password);
    }
}

tma_status mqtt_encode_connect(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len)
{
    if (c == NULL || !buf_args_ok(buf, cap, out_len)) {
        return E_PARAM;
    }
    return mqtt_connect_write_will(c, buf, cap, out_len);
}

/* The will's rules, then the packet: what a CONNECT with a will needs. The
 * IoT client never sends a will and calls mqtt_connect_write() directly, so
 * a device does not link these checks. */
tma_status mqtt_connect_write_will(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len)
{
    if (c->has_will && (!mqtt_topic_ok(c->will.topic, false) || c->will.qos > 1 || c->will.payload.len > 0xFFFFu ||
                        (c->will.payload.ptr == NULL && c->will.payload.len != 0))) {
        return E_PARAM;
    }
    return mqtt_connect_write(c, buf, cap, out_len);
}

tma_status mqtt_connect_write(const struct mqtt_connect *c, uint8_t *buf, size_t cap, size_t *out_len)
{
    /* mqtt_utf8_valid() also refuses a NULL pointer with a length */
    if (!mqtt_utf8_valid(c->client_id) || (c->client_id.len == 0 && !c->clean_session)) {
        return E_PARAM; /* 3.1.3.1: empty client id needs clean session */
    }
    if (c->user_name.ptr != NULL && !mqtt_utf8_valid(c->user_name)) {
        return E_PARAM;
    }
    if (c->password.ptr != NULL && (c->user_name.ptr == NULL || c->password.len > 0xFFFFu)) {
        return E_PARAM; /* 3.1.2.9: password only with a user name */
    }
    return emit((uint8_t)(MQTT_CONNECT << 4), connect_body, c, buf, cap, out_len);
}

struct publish_args {
    const struct mqtt_publish *p;
    uint16_t packet_id; /* 0: QoS 0, no packet id field */
};

static void publish_body(struct writer *w, const void *arg)
{
    const struct publish_args *a = arg;
    put_str(w, a->p->topic);
    if (a->packet_id != 0) {
        put_u16(w, a->packet_id);
    }
    put_raw(w, a->p->payload.ptr, a->p->payload.len);
}

tma_status mqtt_publish_write(const struct mqtt_publish *p, uint8_t flags, uint16_t packet_id, uint8_t *buf,
                              size_t cap, size_t *out_len)
{
    struct publish_args a;
    a.p = p;
    a.packet_id = packet_id;
    if (!mqtt_topic_ok(p->topic, false) || (p->payload.ptr == NULL && p->payload.len != 0)) {
        return E_PARAM;
    }
    return emit((uint8_t)((MQTT_PUBLISH << 4) | flags | (p->retain ? 0x01u : 0u)), publish_body, &a, buf, cap,
                out_len);
}

tma_status mqtt_encode_publish(const struct mqtt_publish *p, uint8_t *buf, size_t cap, size_t *out_len)
{
    if (p == NULL || !buf_args_ok(buf, cap, out_len)) {
        return E_PARAM;
    }
    if (p->qos > 1) {
        return p->qos == 2 ? E_UNSUPPORTED : E_PARAM;
    }
    if ((p->qos == 1 && p->packet_id == 0) || (p->qos == 0 && p->dup)) {
        return E_PARAM; /* 3.3.1.1: DUP must be 0 for QoS 0 */
    }
    return mqtt_publish_write(p, (uint8_t)((p->dup ? 0x08u : 0u) | (uint8_t)(p->qos << 1)),
                              p->qos ? p->packet_id : 0u, buf, cap, out_len);
}

/* The fixed-size packets (acks, PINGREQ/PINGRESP, DISCONNECT): n bytes. */
static tma_status put_small(const uint8_t *bytes, size_t n, uint8_t *buf, size_t cap, size_t *out_len)
{
    *out_len = n;
    if (cap < n) {
        return E_SMALL;
    }
    memcpy(buf, bytes, n);
    return TMA_OK;
}

tma_status mqtt_encode_ack(uint8_t type, uint16_t packet_id, uint8_t *buf, size_t cap, size_t *out_len)
{
    uint8_t b[4];
    if (!buf_args_ok(buf, cap, out_len) || packet_id == 0 ||
        !(type == MQTT_PUBACK || type == MQTT_PUBREC || type == MQTT_PUBREL || type == MQTT_PUBCOMP ||
          type == MQTT_UNSUBACK)) {
        return E_PARAM;
    }
    b[0] = (uint8_t)(((unsigned)type << 4) | (type == MQTT_PUBREL ? 2u : 0u));
    b[1] = 2;
    b[2] = (uint8_t)(packet_id >> 8);
    b[3] = (uint8_t)packet_id;
    return put_small(b, 4, buf, cap, out_len);
}

/* SUBSCRIBE and UNSUBSCRIBE share one writer: items are struct
 * mqtt_subscription (SUBSCRIBE) or struct tma_span (UNSUBSCRIBE). The filter
 * is the first member of struct mqtt_subscription, so in both arrays item i
 * starts with its filter (C99 6.7.2.1: a struct pointer converts to a pointer
 * to its first member). */
struct sub_args {
    const void *items;
    size_t n;
    uint16_t packet_id;
    bool with_qos;
};

/* Checks each item while writing it (emit() stops after the measuring
 * pass if one is bad). */
static void sub_body(struct writer *w, const void *arg)
{
    const struct sub_args *a = arg;
    const uint8_t *item = a->items;
    size_t i;
    put_u16(w, a->packet_id);
    for (i = 0; i < a->n; i++) {
        const struct tma_span *f = (const struct tma_span *)(const void *)item;
        if (!mqtt_topic_ok(*f, true)) {
            w->bad = true;
        }
        put_str(w, *f);
        if (a->with_qos) {
            uint8_t qos = ((const struct mqtt_subscription *)(const void *)item)->qos;
            if (qos > 2) {
                w->bad = true;
            }
            put_u8(w, qos);
            item += sizeof(struct mqtt_subscription);
        } else {
            item += sizeof(struct tma_span);
        }
    }
}

tma_status mqtt_encode_sub(uint8_t type, uint16_t packet_id, const void *items, size_t n,
                             uint8_t *buf, size_t cap, size_t *out_len)
{
    struct sub_args a;

    a.items = items;
    a.n = n;
    a.packet_id = packet_id;
    a.with_qos = type == MQTT_SUBSCRIBE;
    if (items == NULL || n == 0 || packet_id == 0 || !buf_args_ok(buf, cap, out_len)) {
        return E_PARAM;
    }
    return emit((uint8_t)(((unsigned)type << 4) | 2u), sub_body, &a, buf, cap, out_len);
}

tma_status mqtt_encode_subscribe(uint16_t packet_id, const struct mqtt_subscription *subs, size_t n,
                                 uint8_t *buf, size_t cap, size_t *out_len)
{
    return mqtt_encode_sub(MQTT_SUBSCRIBE, packet_id, subs, n, buf, cap, out_len);
}

tma_status mqtt_encode_unsubscribe(uint16_t packet_id, const struct tma_span *filters, size_t n,
                                   uint8_t *buf, size_t cap, size_t *out_len)
{
    return mqtt_encode_sub(MQTT_UNSUBSCRIBE, packet_id, filters, n, buf, cap, out_len);
}

tma_status mqtt_encode_empty(uint8_t type, uint8_t *buf, size_t cap, size_t *out_len)
{
    uint8_t b[2];
    if (!buf_args_ok(buf, cap, out_len) ||
        !(type == MQTT_PINGREQ || type == MQTT_PINGRESP || type == MQTT_DISCONNECT)) {
        return E_PARAM;
    }
    b[0] = (uint8_t)((unsigned)type << 4);
    b[1] = 0;
    return put_small(b, 2, buf, cap, out_len);
}

tma_status mqtt_encode_connack(const struct mqtt_connack *a, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct writer w;
    if (a == NULL || !buf_args_ok(buf, cap, out_len) || (a->return_code != 0 && a->session_present) ||
        a->return_code > 5) {
        return E_PARAM; /* 3.2.2.2: session present must be 0 on refusal */
    }
    w.buf = buf;
    w.cap = cap;
    w.pos = 0;
    put_u8(&w, (uint8_t)(MQTT_CONNACK << 4));
    put_u8(&w, 2);
    put_u8(&w, a->session_present ? 1u : 0u);
    put_u8(&w, a->return_code);
    return finish(&w, out_len);
}

struct suback_args {
    const uint8_t *codes;
    size_t n;
    uint16_t packet_id;
};

static void suback_body(struct writer *w, const void *arg)
{
    const struct suback_args *a = arg;
    put_u16(w, a->packet_id);
    put_raw(w, a->codes, a->n);
}

tma_status mqtt_encode_suback(uint16_t packet_id, const uint8_t *codes, size_t n,
                              uint8_t *buf, size_t cap, size_t *out_len)
{
    struct suback_args a;
    size_t i;
    if (codes == NULL || n == 0 || packet_id == 0 || !buf_args_ok(buf, cap, out_len)) {
        return E_PARAM;
    }
    for (i = 0; i < n; i++) {
        if (codes[i] > 2 && codes[i] != MQTT_SUBACK_FAILURE) {
            return E_PARAM;
        }
    }
    a.codes = codes;
    a.n = n;
    a.packet_id = packet_id;
    return emit((uint8_t)(MQTT_SUBACK << 4), suback_body, &a, buf, cap, out_len);
}

tma_status mqtt_publish_set_dup(uint8_t *pkt, size_t len)
{
    if (pkt == NULL || len < 2 || (pkt[0] >> 4) != MQTT_PUBLISH || ((pkt[0] >> 1) & 3u) != 1u) {
        return E_PARAM;
    }
    pkt[0] |= 0x08u;
    return TMA_OK;
}

/* ------------------------------------------------------------- reader */

struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool bad;
};

/* Nothing is read once bad: a hand-built packet with body.ptr NULL and a
 * length starts bad (reader_init()), and its bytes are not there. */
static uint8_t get_u8(struct reader *r)
{
    if (r->bad || r->pos >= r->len) {
        r->bad = true;
        return 0;
    }
    return r->p[r->pos++];
}

static uint16_t get_u16(struct reader *r)
{
    uint16_t hi = get_u8(r);
    uint16_t lo = get_u8(r);
    return (uint16_t)((hi << 8) | lo);
}

/* A length-prefixed field; utf8 selects the string check. */
static struct tma_span get_field(struct reader *r, bool utf8)
{
    struct tma_span s;
    size_t n = get_u16(r);
    s.ptr = NULL;
    s.len = 0;
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return s;
    }
    s.ptr = r->p + r->pos;
    s.len = n;
    r->pos += n;
    if (utf8 && !mqtt_utf8_valid(s)) {
        r->bad = true;
    }
    return s;
}

static void reader_init(struct reader *r, const struct mqtt_packet *pkt)
{
    r->p = pkt->body.ptr;
    r->len = pkt->body.len;
    r->pos = 0;
    r->bad = (pkt->body.ptr == NULL && pkt->body.len != 0);
}

/* Whole body consumed and nothing went wrong. */
static tma_status reader_done(const struct reader *r)
{
    return (!r->bad && r->pos == r->len) ? TMA_OK : E_MALFORMED;
}

/* ------------------------------------------------------------- decoders */

tma_status mqtt_decode_connect(const struct mqtt_packet *pkt, struct mqtt_connect *out)
{
    struct reader r;
    struct tma_span name;
    uint8_t flags;

    if (pkt == NULL || out == NULL || pkt->type != MQTT_CONNECT) {
        return E_PARAM;
    }
    memset(out, 0, sizeof(*out));
    reader_init(&r, pkt);
    name = get_field(&r, true);
    if (r.bad || name.len != 4 || memcmp(name.ptr, "MQTT", 4) != 0) {
        return E_MALFORMED; /* 3.1.2.1 */
    }
    out->protocol_level = get_u8(&r);
    if (r.bad) {
        return E_MALFORMED;
    }
    if (out->protocol_level != 4) {
        return E_UNSUPPORTED; /* 3.1.2.2: server answers CONNACK 1 */
    }
    flags = get_u8(&r);
    out->keep_alive_s = get_u16(&r);
    if (r.bad || (flags & 0x01u) != 0) {
        return E_MALFORMED; /* reserved flag */
    }
    out->clean_session = (flags & 0x02u) != 0;
    out->has_will = (flags & 0x04u) != 0;
    out->will.qos = (uint8_t)((flags >> 3) & 3u);
    out->will.retain = (flags & 0x20u) != 0;
    if ((!out->has_will && (out->will.qos != 0 || out->will.retain)) || out->will.qos > 2) {
        return E_MALFORMED; /* 3.1.2.6 / 3.1.2.7 */
    }
    if ((flags & 0x40u) && !(flags & 0x80u)) {
        return E_MALFORMED; /* 3.1.2.9 */
    }
    out->client_id = get_field(&r, true);
    if (out->has_will) {
        out->will.topic = get_field(&r, true);
        out->will.payload = get_field(&r, false);
        if (!r.bad && !mqtt_topic_ok(out->will.topic, false)) {
            return E_MALFORMED;
        }
    }
    if (flags & 0x80u) {
        out->user_name = get_field(&r, true);
    }
    if (flags & 0x40u) {
        out->password = get_field(&r, false);
    }
    return reader_done(&r);
}

tma_status mqtt_decode_connack(const struct mqtt_packet *pkt, struct mqtt_connack *out)
{
    if (pkt == NULL || out == NULL || pkt->type != MQTT_CONNACK) {
        return E_PARAM;
    }
    if (pkt->body.ptr == NULL) {
        return E_MALFORMED; /* no body bytes (a framed packet always has a pointer) */
    }
    return mqtt_connack_body(pkt, out);
}

tma_status mqtt_decode_publish(const struct mqtt_packet *pkt, struct mqtt_publish *out)
{
    if (pkt == NULL || out == NULL || pkt->type != MQTT_PUBLISH) {
        return E_PARAM;
    }
    if (pkt->body.ptr == NULL || ((pkt->flags >> 1) & 3u) == 3u) {
        return E_MALFORMED; /* no body bytes; QoS 3 (framing refuses it already) */
    }
    return mqtt_publish_body(pkt, out);
}

tma_status mqtt_decode_ack(const struct mqtt_packet *pkt, uint16_t *out_packet_id)
{
    if (pkt == NULL || out_packet_id == NULL ||
        !(pkt->type == MQTT_PUBACK || pkt->type == MQTT_PUBREC || pkt->type == MQTT_PUBREL ||
          pkt->type == MQTT_PUBCOMP || pkt->type == MQTT_UNSUBACK)) {
        return E_PARAM;
    }
    if (pkt->body.ptr == NULL) {
        return E_MALFORMED;
    }
    return mqtt_ack_body(pkt, out_packet_id);
}

tma_status mqtt_decode_suback(const struct mqtt_packet *pkt, struct mqtt_suback *out)
{
    if (pkt == NULL || out == NULL || pkt->type != MQTT_SUBACK) {
        return E_PARAM;
    }
    if (pkt->body.ptr == NULL) {
        return E_MALFORMED;
    }
    return mqtt_suback_body(pkt, out);
}

tma_status mqtt_decode_subscribe(const struct mqtt_packet *pkt, struct mqtt_sub_iter *out)
{
    struct reader r;
    if (pkt == NULL || out == NULL || (pkt->type != MQTT_SUBSCRIBE && pkt->type != MQTT_UNSUBSCRIBE)) {
        return E_PARAM;
    }
    out->with_qos = pkt->type == MQTT_SUBSCRIBE;
    out->count = 0;
    reader_init(&r, pkt);
    out->packet_id = get_u16(&r);
    if (r.bad || out->packet_id == 0) {
        return E_MALFORMED;
    }
    out->rest.ptr = r.p + r.pos;
    out->rest.len = r.len - r.pos;
    while (r.pos < r.len) {
        struct tma_span f = get_field(&r, true);
        if (out->with_qos && get_u8(&r) > 2) {
            return E_MALFORMED; /* 3.8.3-4: reserved bits / QoS 3 */
        }
        if (r.bad || !mqtt_topic_ok(f, true)) {
            return E_MALFORMED;
        }
        out->count++;
    }
    return out->count == 0 ? E_MALFORMED : TMA_OK; /* 3.8.3-3 / 3.10.3-2 */
}

bool mqtt_sub_next(struct mqtt_sub_iter *it, struct mqtt_subscription *out_sub)
{
    struct reader r;
    if (it == NULL || out_sub == NULL || it->rest.len == 0) {
        return false;
    }
    r.p = it->rest.ptr;
    r.len = it->rest.len;
    r.pos = 0;
    r.bad = false;
    out_sub->filter = get_field(&r, false);
    out_sub->qos = it->with_qos ? get_u8(&r) : 0u;
    if (r.bad) {
        it->rest.len = 0;
        return false;
    }
    it->rest.ptr += r.pos;
    it->rest.len -= r.pos;
    return true;
}

tma_status mqtt_decode_empty(const struct mqtt_packet *pkt)
{
    if (pkt == NULL ||
        !(pkt->type == MQTT_PINGREQ || pkt->type == MQTT_PINGRESP || pkt->type == MQTT_DISCONNECT)) {
        return E_PARAM;
    }
    return pkt->body.len == 0 ? TMA_OK : E_MALFORMED;
}

/* ------------------------------------------------------------- stream */

tma_status mqtt_stream_init(struct mqtt_stream *s, uint8_t *buf, size_t cap)
{
    if (s == NULL || buf == NULL || cap < 2) {
        return E_PARAM;
    }
    s->buf = buf;
    s->cap = cap;
    s->skipped = 0;
    mqtt_stream_reset(s);
    return TMA_OK;
}

void mqtt_stream_reset(struct mqtt_stream *s)
{
    if (s != NULL) {
        s->len = 0;
        s->consumed = 0;
        s->error = TMA_OK;
        s->skip = 0;
    }
}

uint8_t *mqtt_stream_space(struct mqtt_stream *s, size_t *out_space)
{
    if (s == NULL || out_space == NULL) {
        return NULL;
    }
    return mqtt_stream_room(s, out_space);
}

tma_status mqtt_stream_commit(struct mqtt_stream *s, size_t n)
{
    if (s == NULL || s->consumed != 0 || n > s->cap - s->len) {
        return E_PARAM;
    }
    s->len += n;
    return TMA_OK;
}

tma_status mqtt_stream_next(struct mqtt_stream *s, struct mqtt_packet *out_pkt)
{
    if (s == NULL || out_pkt == NULL) {
        return E_PARAM;
    }
    return mqtt_stream_take(s, out_pkt);
}
