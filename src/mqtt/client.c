/* MQTT 3.1.1 client state machine. No heap, no sleeping, time from the
 * injected clock; bytes through the transport given at connect. */
#include "mqtt/client.h"

#include "packet_core.h"
#include "packet_rx.h"
#include "request.h"

#include <string.h>

#define E(code) TMA_ERR(TMA_LAYER_MQTT, (code))
#define PUBACK_SIZE 4u

/* Times inside the client are its own 32-bit time (time_ms): each read of
 * the clock advances it by the wrapping difference between the clock's low
 * 32 bits and those of the read before (clock_lo), so a true 32-bit wrap is
 * a small step forward. A difference of 2^31 or more is the clock going
 * back: no time passes and the next read counts from the new value, so a
 * step back neither sends a PINGREQ early nor times a PINGRESP or CONNACK
 * out at once (on the raw value, a read below a time stamped just before
 * was almost 2^32 ms after it). The time
 * itself never goes back, so every interval measured (CONNACK and PINGRESP
 * timeouts, keep-alive of at most 65,535 s, a blocking helper's uint32_t
 * timeout: all shorter than 2^32 ms) is exact as a wrapping difference, and
 * 32-bit arithmetic is about half the code of 64-bit on a 32-bit target
 * (docs/design/mqtt.md). The DPS client reads this time too (request.h). */
uint32_t mqtt_time_ms(struct mqtt_client *c)
{
    uint32_t lo = (uint32_t)c->cfg.clock.now_ms(c->cfg.clock.ctx);
    uint32_t d = lo - c->clock_lo;
    uint32_t t = c->time_ms;
    c->clock_lo = lo;
    if (d < 0x80000000u) {
        t += d;
    }
    c->time_ms = t;
    return t;
}

static uint32_t elapsed(uint32_t now, uint32_t since)
{
    return now - since;
}

/* ---------------------------------------------------------- in-flight */

/* A slot is free exactly when its packet id is 0: slot_clear() zeroes the
 * whole slot and a request stores a non-zero id (alloc_id()). So one walk
 * finds a free slot (id 0, kind MQTT_INFLIGHT_FREE), any slot that holds an
 * id (kind MQTT_INFLIGHT_FREE, id != 0), or the slot of an ack (its kind). */
static struct mqtt_inflight *slot_find(const struct mqtt_client *c, uint8_t kind, uint16_t id)
{
    size_t i;
    for (i = 0; i < c->cfg.inflight_count; i++) {
        struct mqtt_inflight *s = &c->cfg.inflight[i];
        if (s->packet_id == id && (kind == MQTT_INFLIGHT_FREE || s->kind == kind)) {
            return s;
        }
    }
    return NULL;
}

static uint16_t alloc_id(struct mqtt_client *c)
{
    for (;;) {
        uint16_t id = c->next_id++;
        if (id != 0 && slot_find(c, MQTT_INFLIGHT_FREE, id) == NULL) {
            return id; /* the table is smaller than 65535, so this ends */
        }
    }
}

static void slot_clear(struct mqtt_inflight *s)
{
    memset(s, 0, sizeof(*s));
}

/* Whether any request (QoS 1 PUBLISH, SUBSCRIBE, UNSUBSCRIBE) awaits its ack. */
static bool busy(const struct mqtt_client *c)
{
    size_t i;
    for (i = 0; i < c->cfg.inflight_count; i++) {
        if (c->cfg.inflight[i].packet_id != 0) {
            return true;
        }
    }
    return false;
}

/* Connection ended: subscribe/unsubscribe requests die with it, publishes stay. */
static void drop_requests(struct mqtt_client *c)
{
    size_t i;
    for (i = 0; i < c->cfg.inflight_count; i++) {
        if (c->cfg.inflight[i].kind != MQTT_INFLIGHT_PUBLISH) {
            slot_clear(&c->cfg.inflight[i]);
        }
    }
}

static tma_status fail(struct mqtt_client *c, tma_status st)
{
    c->state = MQTT_STATE_DISCONNECTED;
    c->last_error = st;
    c->resending = false;
    drop_requests(c);
    return st;
}

/* ---------------------------------------------------------- tx queue */

static void tx_compact(struct mqtt_client *c)
{
    if (c->tx_head != 0) {
        memmove(c->cfg.tx_buf, c->cfg.tx_buf + c->tx_head, c->tx_len - c->tx_head);
        c->tx_len -= c->tx_head;
        c->tx_head = 0;
    }
}

static size_t tx_room(struct mqtt_client *c)
{
    tx_compact(c);
    return c->cfg.tx_cap - c->tx_len;
}

/* Map an encoder's TOO_SMALL into "wait" or "never fits". */
static tma_status queued(struct mqtt_client *c, tma_status st, size_t n)
{
    if (st == TMA_OK) {
        c->tx_len += n;
        return TMA_OK;
    }
    if (st == E(TMA_C_TOO_SMALL) && n <= c->cfg.tx_cap) {
        return TMA_WANT_WRITE;
    }
    return st;
}

/* Send what is queued; once the queue is empty, stamp the last send for the
 * keep-alive (3.1.2.10 counts from the client's last packet). An empty
 * queue sends nothing and stamps nothing: a client that only receives
 * still pings. */
static tma_status tx_flush(struct mqtt_client *c)
{
    if (c->tx_len == 0) {
        return TMA_OK;
    }
    while (c->tx_head < c->tx_len) {
        size_t left = c->tx_len - c->tx_head;
        int32_t r = c->tr.send(c->tr.ctx, c->cfg.tx_buf + c->tx_head, left);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return TMA_OK;
        }
        if ((size_t)r > left) {
            return E(TMA_C_INTERNAL); /* transport broke its contract */
        }
        c->tx_head += (size_t)r;
    }
    c->tx_head = 0;
    c->tx_len = 0;
    c->last_tx_ms = mqtt_time_ms(c);
    return TMA_OK;
}

/* Flush inside an API call: a failure is reported by the next process().
 * After one, no more sends: the transport said the link is gone (<0 is
 * fatal), so an uncork or a later request does not try it again. */
static void tx_kick(struct mqtt_client *c)
{
    if (c->deferred == TMA_OK) {
        c->deferred = tx_flush(c);
    }
}

/* Queue PUBACK (4 bytes, with @p id), PINGREQ or DISCONNECT (2 bytes) when
 * it fits. The client writes these fixed packets itself: its arguments are
 * always valid, so a device does not link the checking public encoders
 * (mqtt_encode_ack(), mqtt_encode_empty()), whose bytes are the same. */
static bool put_fixed(struct mqtt_client *c, uint8_t type, uint16_t id)
{
    size_t n = type == MQTT_PUBACK ? 4u : 2u;
    uint8_t *at;
    if (tx_room(c) < n) {
        return false;
    }
    at = c->cfg.tx_buf + c->tx_len;
    at[0] = (uint8_t)(type << 4);
    at[1] = (uint8_t)(n - 2u);
    if (n == 4u) {
        at[2] = (uint8_t)(id >> 8);
        at[3] = (uint8_t)id;
    }
    c->tx_len += n;
    return true;
}

/* ---------------------------------------------------------- init */

tma_status mqtt_client_init(struct mqtt_client *c, const struct mqtt_client_config *cfg)
{
    struct mqtt_client t;
    tma_status st;
    if (c == NULL || cfg == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    /* Set up in a copy: a refused configuration leaves c as it was. No
     * member points into the context, so the copy can be moved. */
    memset(&t, 0, sizeof(t));
    t.cfg = *cfg;
    st = mqtt_client_init_in_place(&t);
    if (st == TMA_OK) {
        *c = t;
    }
    return st;
}

tma_status mqtt_client_init_in_place(struct mqtt_client *c)
{
    if (c->cfg.tx_buf == NULL || c->cfg.rx_buf == NULL || c->cfg.tx_cap < 16 || c->cfg.rx_cap < 16 ||
        c->cfg.inflight == NULL || c->cfg.inflight_count == 0 || c->cfg.inflight_count > 0xFFFEu ||
        c->cfg.clock.now_ms == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    if (c->cfg.connack_timeout_ms == 0) {
        c->cfg.connack_timeout_ms = 30000;
    }
    if (c->cfg.ping_timeout_ms == 0) {
        c->cfg.ping_timeout_ms = 30000;
    }
    memset(c->cfg.inflight, 0, c->cfg.inflight_count * sizeof(c->cfg.inflight[0]));
    c->next_id = 1; /* state MQTT_STATE_DISCONNECTED (0) from the memset */
    /* mqtt_stream_init() without its checks (made above); len, consumed and
     * error are zero from the memset. */
    c->rx.buf = c->cfg.rx_buf;
    c->rx.cap = c->cfg.rx_cap;
    return TMA_OK;
}

/* ---------------------------------------------------------- connect */

tma_status mqtt_client_connect(struct mqtt_client *c, const struct tma_transport *tr,
                               const struct mqtt_connect *opts)
{
    if (c == NULL || tr == NULL || opts == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    return mqtt_client_start(c, tr, opts, mqtt_connect_write_will);
}

tma_status mqtt_client_start(struct mqtt_client *c, const struct tma_transport *tr,
                             const struct mqtt_connect *opts, mqtt_connect_writer write)
{
    size_t n = 0;
    tma_status st;

    if (tr->send == NULL || tr->recv == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    /* Not from a callback either: the step that runs it still holds the
     * receive stream and the transport the callback's views come from. */
    if (c->state != MQTT_STATE_DISCONNECTED || c->in_process) {
        return E(TMA_C_STATE);
    }
    c->tr = *tr;
    c->tx_head = 0;
    c->tx_len = 0;
    c->corked = false;
    c->rx.len = 0; /* mqtt_stream_reset() */
    c->rx.consumed = 0;
    c->rx.error = TMA_OK;
    c->rx.skip = 0;
    /* No SUBSCRIBE/UNSUBSCRIBE slot is left: init clears every slot, fail()
     * drops them, and requests are taken only while connected. */
    st = write(opts, c->cfg.tx_buf, c->cfg.tx_cap, &n);
    if (st != TMA_OK) {
        return st;
    }
    c->tx_len = n;
    c->keep_alive_s = opts->keep_alive_s;
    c->clean = opts->clean_session;
    c->state = MQTT_STATE_CONNECTING;
    c->wait_since_ms = mqtt_time_ms(c);
    c->last_tx_ms = c->wait_since_ms;
    c->last_rx_ms = c->wait_since_ms;
    c->waiting = true; /* for CONNACK */
    c->session_present = false;
    c->resending = false;
    c->last_error = TMA_OK;
    c->deferred = TMA_OK;
    st = tx_flush(c);
    if (st < 0) {
        return fail(c, st);
    }
    return TMA_IN_PROGRESS;
}

/* ---------------------------------------------------------- receive */

/* on_ack() maps PUBACK, SUBACK and UNSUBACK to their slot kinds as
 * (type + 1) >> 2; this breaks the build if the numbering ever changes. */
typedef char ack_kind_map_check[((MQTT_PUBACK + 1) >> 2 == MQTT_INFLIGHT_PUBLISH &&
                                 (MQTT_SUBACK + 1) >> 2 == MQTT_INFLIGHT_SUBSCRIBE &&
                                 (MQTT_UNSUBACK + 1) >> 2 == MQTT_INFLIGHT_UNSUBSCRIBE) ? 1 : -1];
/* mqtt_request() maps its kinds to the packet types as kind * 2 + 4. */
typedef char request_type_map_check[(MQTT_INFLIGHT_SUBSCRIBE * 2 + 4 == MQTT_SUBSCRIBE &&
                                     MQTT_INFLIGHT_UNSUBSCRIBE * 2 + 4 == MQTT_UNSUBSCRIBE) ? 1 : -1];

static tma_status on_connack(struct mqtt_client *c, const struct mqtt_packet *pkt)
{
    struct mqtt_connack ack;
    size_t i;
    tma_status st = mqtt_connack_body(pkt, &ack);
    if (st != TMA_OK) {
        return st;
    }
    if (ack.return_code != 0) {
        return MQTT_ERR_CONNACK(ack.return_code);
    }
    if (ack.session_present && c->clean) {
        return E(TMA_C_MALFORMED); /* [MQTT-3.2.2-1]: a clean session is never present */
    }
    c->state = MQTT_STATE_CONNECTED;
    c->waiting = false;
    c->session_present = ack.session_present;
    /* Every unacknowledged PUBLISH goes again with DUP, whatever the session
     * flag says: at-least-once beats a lost message (docs/design/mqtt.md). */
    for (i = 0; i < c->cfg.inflight_count; i++) {
        if (c->cfg.inflight[i].kind == MQTT_INFLIGHT_PUBLISH) {
            c->cfg.inflight[i].resend = 1;
            c->resending = true;
        }
    }
    return TMA_OK;
}

static tma_status on_incoming_publish(struct mqtt_client *c, const struct mqtt_packet *pkt)
{
    struct mqtt_publish msg;
    tma_status st = mqtt_publish_body(pkt, &msg);
    tma_status app = TMA_OK;

    if (st != TMA_OK) {
        return st;
    }
    if (c->cfg.cb.on_publish != NULL) {
        app = c->cfg.cb.on_publish(c->cfg.cb.user, &msg);
    }
    /* Room for the PUBACK was checked before the packet was taken from the
     * stream (the decoder refuses QoS 1 with packet id 0). */
    if (msg.qos == 1 && app == TMA_OK && !put_fixed(c, MQTT_PUBACK, msg.packet_id)) {
        return E(TMA_C_INTERNAL);
    }
    return TMA_OK;
}

/* PUBACK, SUBACK, UNSUBACK: free the matching slot, then tell the application.
 * Unknown ids (late duplicates after a reconnect) are ignored. */
static tma_status on_ack(struct mqtt_client *c, const struct mqtt_packet *pkt)
{
    struct mqtt_suback sa = {0}; /* a PUBACK's or UNSUBACK's: no codes */
    struct mqtt_inflight *s;
    uint8_t kind;
    uint32_t tag;
    size_t i;
    tma_status st;

    /* PUBACK (4), SUBACK (9), UNSUBACK (11) -> the slot kinds 1, 2, 3. */
    kind = (uint8_t)((pkt->type + 1u) >> 2);
    if (kind == MQTT_INFLIGHT_SUBSCRIBE) {
        st = mqtt_suback_body(pkt, &sa);
    } else {
        st = mqtt_ack_body(pkt, &sa.packet_id);
    }
    if (st != TMA_OK) {
        return st;
    }
    s = slot_find(c, kind, sa.packet_id);
    if (s == NULL) {
        return TMA_OK;
    }
    tag = s->tag;
    slot_clear(s);
    if (kind == MQTT_INFLIGHT_PUBLISH) {
        if (c->cfg.cb.on_puback != NULL) {
            c->cfg.cb.on_puback(c->cfg.cb.user, sa.packet_id, tag);
        }
        return TMA_OK;
    }
    if (kind == MQTT_INFLIGHT_SUBSCRIBE && sa.codes.len != tag) {
        return E(TMA_C_MALFORMED); /* one code per filter: [MQTT-3.8.4-5], [MQTT-3.9.3-1] */
    }
    c->last_ack_id = sa.packet_id;
    c->last_ack_refused = false;
    for (i = 0; i < sa.codes.len; i++) {
        if (sa.codes.ptr[i] == MQTT_SUBACK_FAILURE) {
            c->last_ack_refused = true;
        } else if (sa.codes.ptr[i] > 1) {
            return E(TMA_C_MALFORMED); /* QoS 2 granted, never asked for: [MQTT-3.8.4-6] */
        }
    }
    /* last_ack_refused is set before on_suback runs: the IoT client's
     * on_suback reads it instead of looking at the codes again. */
    if (kind == MQTT_INFLIGHT_SUBSCRIBE) {
        if (c->cfg.cb.on_suback != NULL) {
            c->cfg.cb.on_suback(c->cfg.cb.user, sa.packet_id, sa.codes.ptr, sa.codes.len);
        }
    } else if (c->cfg.cb.on_unsuback != NULL) {
        c->cfg.cb.on_unsuback(c->cfg.cb.user, sa.packet_id);
    }
    return TMA_OK;
}

static tma_status on_packet(struct mqtt_client *c, const struct mqtt_packet *pkt)
{
    c->last_rx_ms = mqtt_time_ms(c);
    if (c->state == MQTT_STATE_CONNECTING) {
        /* 3.2.0: the first packet from the server is CONNACK. */
        return pkt->type == MQTT_CONNACK ? on_connack(c, pkt) : E(TMA_C_MALFORMED);
    }
    switch (pkt->type) {
    case MQTT_PUBLISH:
        return on_incoming_publish(c, pkt);
    case MQTT_PUBACK:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return on_ack(c, pkt);
    case MQTT_PINGRESP:
        /* mqtt_decode_empty()'s one rule: PINGRESP has no body */
        if (pkt->body.len != 0) {
            return E(TMA_C_MALFORMED);
        }
        c->waiting = false;
        return TMA_OK;
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return E(TMA_C_UNSUPPORTED); /* QoS 2 flow: we never start one */
    default:
        return E(TMA_C_MALFORMED); /* a client-to-server packet from the server */
    }
}

/* Read what the transport has and dispatch complete packets. */
static tma_status rx_pump(struct mqtt_client *c)
{
    unsigned reads = 0;
    struct mqtt_packet pkt = {0};
    for (;;) {
        tma_status st;
        size_t space = 0;
        uint8_t *at;
        int32_t r;

        /* Dispatch first: a PUBACK we may owe needs tx room before we take
         * the packet out of the stream, or the application would see it twice. */
        while (c->state != MQTT_STATE_DISCONNECTED) {
            if (tx_room(c) < PUBACK_SIZE) {
                st = tx_flush(c);
                if (st < 0) {
                    return st;
                }
                if (tx_room(c) < PUBACK_SIZE) {
                    return TMA_OK; /* back-pressure: continue next time */
                }
            }
            st = mqtt_stream_take(&c->rx, &pkt);
            if (st == TMA_WANT_READ) {
                break;
            }
            /* A PUBLISH larger than rx_buf once connected: the stream skips
             * it (counted in rx.skipped) and it gets no PUBACK, so the
             * broker keeps it; the connection goes on. */
            if (st == E(TMA_C_TOO_SMALL) && c->rx.error == TMA_OK &&
                c->state == MQTT_STATE_CONNECTED) {
                continue;
            }
            if (st != TMA_OK) {
                return st;
            }
            st = on_packet(c, &pkt);
            if (st != TMA_OK) {
                return st;
            }
        }
        /* A callback may have ended the connection (disconnect, abort): its
         * transport is the caller's to close, so read nothing more. */
        if (c->state == MQTT_STATE_DISCONNECTED || reads++ >= 8) {
            return TMA_OK; /* bounded work per step */
        }
        at = mqtt_stream_room(&c->rx, &space);
        if (space == 0) {
            return E(TMA_C_INTERNAL); /* stream would have said TOO_SMALL */
        }
        r = c->tr.recv(c->tr.ctx, at, space);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return TMA_OK;
        }
        if ((size_t)r > space) {
            return E(TMA_C_INTERNAL);
        }
        c->rx.len += (size_t)r; /* mqtt_stream_commit(): r fits the space just taken */
    }
}

/* ---------------------------------------------------------- retransmit */

static tma_status resend_next(struct mqtt_client *c)
{
    while (c->resending) {
        struct mqtt_inflight *pick = NULL;
        struct mqtt_publish msg;
        size_t i;
        size_t n = 0;
        tma_status st;

        for (i = 0; i < c->cfg.inflight_count; i++) {
            struct mqtt_inflight *s = &c->cfg.inflight[i];
            if (s->kind == MQTT_INFLIGHT_PUBLISH && s->resend &&
                (pick == NULL || (int32_t)(s->seq - pick->seq) < 0)) {
                pick = s;
            }
        }
        if (pick == NULL) {
            c->resending = false;
            return TMA_OK;
        }
        if (c->cfg.cb.resend == NULL) {
            slot_clear(pick); /* no hook, no bytes: documented as dropped */
            continue;
        }
        /* Ask for the message only when it can be queued right away (an
         * empty queue has tx_head == tx_len == 0: tx_flush() resets both). */
        if (c->tx_len != 0) {
            return TMA_OK;
        }
        memset(&msg, 0, sizeof(msg));
        st = c->cfg.cb.resend(c->cfg.cb.user, pick->packet_id, pick->tag, &msg);
        if (c->state != MQTT_STATE_CONNECTED) {
            return TMA_OK; /* the callback ended the connection: the slot stays */
        }
        if (st != TMA_OK) {
            slot_clear(pick); /* the application no longer has it */
            continue;
        }
        /* QoS 1 and the slot's packet id; DUP (3.3.1.1) on a resumed
         * session only: after CleanSession 1 the old session is gone
         * ([MQTT-3.1.2-6]) and the message is a new one in the new session
         * ([MQTT-4.3.2-1]: DUP 0; the slot's id is unused in it). */
        st = mqtt_publish_write(&msg, c->clean ? 0x02u : 0x0Au, pick->packet_id, c->cfg.tx_buf, c->cfg.tx_cap, &n);
        if (st != TMA_OK) {
            slot_clear(pick); /* what the application returned cannot be sent */
            continue;
        }
        c->tx_len = n;
        pick->resend = 0;
        c->stat_retransmitted++;
        st = tx_flush(c);
        if (st < 0) {
            return st;
        }
    }
    return TMA_OK;
}

/* ---------------------------------------------------------- step */

tma_status mqtt_client_process(struct mqtt_client *c)
{
    if (c == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    return mqtt_process(c);
}

tma_status mqtt_process(struct mqtt_client *c)
{
    tma_status st;
    uint32_t now;

    /* Not re-entrant: from a callback, a nested step would take the next
     * packet out of the stream under the views the callback holds, and
     * retransmit the slot being asked for again. */
    if (c->state == MQTT_STATE_DISCONNECTED || c->in_process) {
        return E(TMA_C_STATE);
    }
    c->in_process = true;
    /* One exit for every error below: the connection ends there. */
    st = c->deferred;
    c->deferred = TMA_OK;
    if (st == TMA_OK) {
        st = tx_flush(c);
    }
    if (st >= 0) {
        st = rx_pump(c);
    }
    if (st >= 0 && c->state == MQTT_STATE_CONNECTED) {
        st = resend_next(c);
    }
    c->in_process = false;
    if (c->state == MQTT_STATE_DISCONNECTED) {
        /* A callback ended the connection: no more I/O on its transport. */
        return E(TMA_C_STATE);
    }
    if (st >= 0) {
        now = mqtt_time_ms(c);
        uint32_t ka = (uint32_t)c->keep_alive_s * 1000u;
        if (c->waiting) {
            /* CONNACK while connecting, else PINGRESP: one timer, two limits */
            if (elapsed(now, c->wait_since_ms) >=
                (c->state == MQTT_STATE_CONNECTING ? c->cfg.connack_timeout_ms : c->cfg.ping_timeout_ms)) {
                st = MQTT_E_KEEPALIVE_TIMEOUT;
            }
        } else if ((ka != 0 && (elapsed(now, c->last_tx_ms) >= ka || elapsed(now, c->last_rx_ms) >= ka)) ||
                   (elapsed(now, c->last_rx_ms) >= c->cfg.ping_timeout_ms &&
                    elapsed(now, c->wait_since_ms) >= c->cfg.ping_timeout_ms && busy(c))) {
            /* Keep-alive, or a stall: requests wait for their acks and
             * nothing came for ping_timeout_ms since the later of the last
             * packet received and the oldest request going out (while not
             * waiting, wait_since_ms holds the latter). Asking for a PINGRESP
             * now bounds a dead inbound path by about 2 * ping_timeout_ms
             * instead of keep-alive + ping_timeout_ms (docs/design/mqtt.md).
             * No room: try on a later step. */
            if (put_fixed(c, MQTT_PINGREQ, 0u)) {
                c->waiting = true;
                c->wait_since_ms = now;
                c->stat_pings++;
            }
        }
    }
    if (st >= 0) {
        st = tx_flush(c);
    }
    if (st < 0) {
        return fail(c, st);
    }
    return c->state == MQTT_STATE_CONNECTING ? TMA_IN_PROGRESS : TMA_OK;
}

/* ---------------------------------------------------------- requests */

/* Queue a PUBLISH (items = struct mqtt_publish), SUBSCRIBE or UNSUBSCRIBE;
 * everything but QoS 0 takes an in-flight slot and a fresh packet id. */
tma_status mqtt_request(struct mqtt_client *c, uint8_t kind, const void *items, uint32_t arg)
{
    struct mqtt_inflight *s = NULL;
    uint16_t id = 0;
    size_t len = 0;
    uint8_t *at;
    size_t room;
    tma_status st;

    if (c->state != MQTT_STATE_CONNECTED) {
        return E(TMA_C_STATE);
    }
    if (c->resending || c->deferred != TMA_OK) {
        return TMA_WANT_WRITE; /* keep order: retransmissions go first */
    }
    if (kind != MQTT_INFLIGHT_PUBLISH || ((const struct mqtt_publish *)items)->qos != 0) {
        s = slot_find(c, MQTT_INFLIGHT_FREE, 0u);
        if (s == NULL) {
            return E(TMA_C_FULL);
        }
        id = alloc_id(c);
        /* The first request on an empty table starts the stall clock (if it
         * cannot be queued below, the table stays empty and the stamp is
         * unused). Not while a PINGREQ waits: its timer shares the field. */
        if (!c->waiting && !busy(c)) {
            c->wait_since_ms = mqtt_time_ms(c);
        }
    }
    for (;;) {
        room = tx_room(c);
        if (c->in_process) {
            /* From a callback: keep room for the PUBACK the message being
             * delivered may still need (rx_pump() made sure of it). */
            room = room > PUBACK_SIZE ? room - PUBACK_SIZE : 0u;
        }
        at = c->cfg.tx_buf + c->tx_len;
        if (kind == MQTT_INFLIGHT_PUBLISH) {
            /* QoS 0 (id 0) or 1, never DUP on a first send */
            st = mqtt_publish_write(items, (uint8_t)(((const struct mqtt_publish *)items)->qos << 1), id, at, room,
                                    &len);
        } else {
            st = mqtt_encode_sub((uint8_t)(kind * 2u + 4u), id, /* SUBSCRIBE (8) or UNSUBSCRIBE (10) */
                                 items, arg, at, room, &len);
        }
        st = queued(c, st, len);
        if (st != TMA_WANT_WRITE || !c->corked || c->tx_len == 0u) {
            break;
        }
        /* Corked and the queue is full: send what is queued, try once more. */
        tx_kick(c);
        if (c->deferred != TMA_OK || c->tx_len != 0u) {
            break; /* transport took only part of it: caller retries later */
        }
    }
    if (st != TMA_OK) {
        return st;
    }
    if (s != NULL) {
        s->kind = kind;
        s->packet_id = id;
        /* SUBSCRIBE/UNSUBSCRIBE carry no caller tag: theirs is the filter
         * count, which the SUBACK must match (on_ack()) */
        s->tag = arg;
        s->seq = c->next_seq++; /* resend is 0: a free slot is all zero (slot_clear) */
    }
    if (!c->corked) {
        tx_kick(c);
    }
    return TMA_OK;
}

void mqtt_client_cork(struct mqtt_client *c, bool on)
{
    if (c == NULL) {
        return;
    }
    if (on) {
        c->corked = true;
    } else {
        mqtt_uncork(c);
    }
}

void mqtt_uncork(struct mqtt_client *c)
{
    c->corked = false;
    if (c->state != MQTT_STATE_DISCONNECTED) {
        tx_kick(c);
    }
}

/* The public request functions' packet id: the one mqtt_request() just
 * took (alloc_id() leaves next_id one past it), 0 for QoS 0. */
static tma_status requested(const struct mqtt_client *c, tma_status st, bool has_id, uint16_t *out_packet_id)
{
    if (st == TMA_OK && out_packet_id != NULL) {
        *out_packet_id = has_id ? (uint16_t)(c->next_id - 1u) : 0u;
    }
    return st;
}

tma_status mqtt_client_publish(struct mqtt_client *c, const struct mqtt_publish *msg, uint32_t tag,
                               uint16_t *out_packet_id)
{
    if (c == NULL || msg == NULL || msg->qos > 1) {
        return E(TMA_C_BAD_PARAM);
    }
    return requested(c, mqtt_request(c, MQTT_INFLIGHT_PUBLISH, msg, tag), msg->qos != 0, out_packet_id);
}

tma_status mqtt_client_subscribe(struct mqtt_client *c, const struct mqtt_subscription *subs, size_t n,
                                 uint16_t *out_packet_id)
{
    size_t i;
    if (c == NULL || subs == NULL || n == 0 || (uint32_t)n != n) {
        return E(TMA_C_BAD_PARAM);
    }
    for (i = 0; i < n; i++) {
        if (subs[i].qos > 1) {
            return E(TMA_C_BAD_PARAM); /* no QoS 2 receiver here ([MQTT-4.3.3-2]) */
        }
    }
    return requested(c, mqtt_request(c, MQTT_INFLIGHT_SUBSCRIBE, subs, (uint32_t)n), true, out_packet_id);
}

tma_status mqtt_client_unsubscribe(struct mqtt_client *c, const struct tma_span *filters, size_t n,
                                   uint16_t *out_packet_id)
{
    if (c == NULL || filters == NULL || n == 0 || (uint32_t)n != n) {
        return E(TMA_C_BAD_PARAM);
    }
    return requested(c, mqtt_request(c, MQTT_INFLIGHT_UNSUBSCRIBE, filters, (uint32_t)n), true, out_packet_id);
}

tma_status mqtt_client_disconnect_within(struct mqtt_client *c, uint32_t timeout_ms)
{
    if (c == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    return mqtt_disconnect_within(c, timeout_ms);
}

tma_status mqtt_disconnect_within(struct mqtt_client *c, uint32_t timeout_ms)
{
    uint32_t start;
    bool queued;
    if (c->state == MQTT_STATE_DISCONNECTED) {
        return E(TMA_C_STATE);
    }
    /* Only tx_flush() here, never process(): nothing (a PUBACK, a PINGREQ)
     * may follow the DISCONNECT on the wire. A queue too full for it gets
     * it once the queue has gone. Nothing at all after a send failed inside
     * an API call (tx_kick()): the transport said the link is gone. */
    start = mqtt_time_ms(c);
    queued = put_fixed(c, MQTT_DISCONNECT, 0u);
    while (c->deferred == TMA_OK && tx_flush(c) == TMA_OK) {
        if (c->tx_len == 0) {
            if (queued) {
                break;
            }
            queued = put_fixed(c, MQTT_DISCONNECT, 0u);
        } else if (elapsed(mqtt_time_ms(c), start) >= timeout_ms) {
            break; /* best effort: the transport took nothing in time */
        }
    }
    (void)fail(c, TMA_OK);
    return TMA_OK;
}

tma_status mqtt_client_disconnect(struct mqtt_client *c)
{
    return mqtt_client_disconnect_within(c, 0u);
}

void mqtt_client_abort(struct mqtt_client *c)
{
    if (c != NULL) {
        mqtt_abort(c);
    }
}

void mqtt_abort(struct mqtt_client *c)
{
    if (c->state != MQTT_STATE_DISCONNECTED) {
        (void)fail(c, TMA_OK);
    }
}

/* ---------------------------------------------------------- getters */

enum mqtt_client_state mqtt_client_state(const struct mqtt_client *c)
{
    return c != NULL ? (enum mqtt_client_state)c->state : MQTT_STATE_DISCONNECTED;
}

bool mqtt_client_session_present(const struct mqtt_client *c)
{
    return c != NULL && c->session_present;
}

size_t mqtt_client_inflight_publishes(const struct mqtt_client *c)
{
    return c == NULL ? 0u : mqtt_inflight_publishes(c);
}

size_t mqtt_inflight_publishes(const struct mqtt_client *c)
{
    size_t i;
    size_t n = 0;
    for (i = 0; i < c->cfg.inflight_count; i++) {
        n += c->cfg.inflight[i].kind == MQTT_INFLIGHT_PUBLISH ? 1u : 0u;
    }
    return n;
}

bool mqtt_client_is_pending(const struct mqtt_client *c, uint16_t packet_id)
{
    return c != NULL && packet_id != 0 &&
           slot_find(c, MQTT_INFLIGHT_FREE, packet_id) != NULL;
}

tma_status mqtt_client_last_error(const struct mqtt_client *c)
{
    return c != NULL ? c->last_error : E(TMA_C_BAD_PARAM);
}

uint32_t mqtt_client_retransmit_count(const struct mqtt_client *c)
{
    return c != NULL ? c->stat_retransmitted : 0;
}

/* ---------------------------------------------------------- blocking */

/* The condition a blocking helper waits for: 1 met, 0 not yet, < 0 the
 * helper's result. Separate functions, so a device that only flushes (the
 * IoT client's disconnect) does not link the others. */
typedef tma_status (*wait_cond)(const struct mqtt_client *c, tma_status st, uint16_t id);

/* One loop for the three blocking helpers: process, test, time out. */
static tma_status wait_for(struct mqtt_client *c, wait_cond cond, uint16_t id, uint32_t timeout_ms)
{
    uint32_t start;
    if (c->state == MQTT_STATE_DISCONNECTED) {
        return E(TMA_C_STATE); /* also a zeroed client: no clock to read */
    }
    start = mqtt_time_ms(c);
    for (;;) {
        tma_status st = mqtt_process(c);
        if (st < 0) {
            return st;
        }
        st = cond(c, st, id);
        if (st != 0) {
            return st < 0 ? st : TMA_OK;
        }
        if (elapsed(mqtt_time_ms(c), start) >= timeout_ms) {
            return E(TMA_C_TIMEOUT);
        }
    }
}

static tma_status connected(const struct mqtt_client *c, tma_status st, uint16_t id)
{
    (void)c;
    (void)id;
    return st == TMA_OK ? 1 : 0;
}

static tma_status acked(const struct mqtt_client *c, tma_status st, uint16_t id)
{
    (void)st;
    if (mqtt_client_is_pending(c, id)) {
        return 0;
    }
    return c->last_ack_id == id && c->last_ack_refused ? MQTT_E_SUBSCRIBE_REFUSED : 1;
}

tma_status mqtt_client_connect_wait(struct mqtt_client *c, const struct tma_transport *tr,
                                    const struct mqtt_connect *opts, uint32_t timeout_ms)
{
    tma_status st = mqtt_client_connect(c, tr, opts);
    if (st < 0) {
        return st;
    }
    st = wait_for(c, connected, 0, timeout_ms);
    if (st == E(TMA_C_TIMEOUT) && c->state != MQTT_STATE_DISCONNECTED) {
        (void)fail(c, st); /* no CONNACK in time: the attempt is over */
    }
    return st;
}

tma_status mqtt_client_wait_ack(struct mqtt_client *c, uint16_t packet_id, uint32_t timeout_ms)
{
    if (c == NULL || packet_id == 0) {
        return E(TMA_C_BAD_PARAM);
    }
    return wait_for(c, acked, packet_id, timeout_ms);
}

/* wait_for(c, flushed, ...) written out: the IoT client's disconnect only
 * flushes, so a device then links this loop alone, not wait_for() and a
 * condition function besides. */
tma_status mqtt_client_flush(struct mqtt_client *c, uint32_t timeout_ms)
{
    if (c == NULL) {
        return E(TMA_C_BAD_PARAM);
    }
    return mqtt_flush(c, timeout_ms);
}

tma_status mqtt_flush(struct mqtt_client *c, uint32_t timeout_ms)
{
    uint32_t start;
    if (c->state == MQTT_STATE_DISCONNECTED) {
        return E(TMA_C_STATE); /* also a zeroed client: no clock to read */
    }
    start = mqtt_time_ms(c);
    for (;;) {
        tma_status st = mqtt_process(c);
        if (st < 0) {
            return st;
        }
        if (c->tx_len == 0 && !c->resending) {
            return TMA_OK; /* an empty queue has tx_head == tx_len == 0 */
        }
        if (elapsed(mqtt_time_ms(c), start) >= timeout_ms) {
            return E(TMA_C_TIMEOUT);
        }
    }
}
