/* IoT Hub device client glue: pure functions + MQTT client + outbox +
 * reconnect policy. No heap, no OS calls; see include/iothub/client.h. */
#include "iothub/client.h"

#include <string.h>

#include "iothub/json.h"
#include "../mqtt/packet_core.h"
#include "../mqtt/request.h"
#include "topic.h"
#include "topic_rx.h"
#include "outbox_core.h"
#include "retry_core.h"
#include "wbuf.h"

#define E_BAD IOTHUB_E(TMA_C_BAD_PARAM)
#define E_STATE IOTHUB_E(TMA_C_STATE)

/* The glue's own time (struct iothub_client, mono_ms): it starts at 0 and
 * each read advances it by the wrapping 32-bit difference between the
 * clock's low 32 bits and those of the read before (clock_lo). The clock's
 * upper bits are never used, so a 32-bit tick zero-extended and a 64-bit
 * clock that starts anywhere (near 2^64 too) both count the same, and a
 * true 32-bit wrap is a small difference. A difference of 2^31 or more is
 * the clock going back: no time passes, and the next read counts from the
 * new value. So a step back neither stalls the waits (the old deadline
 * compare: J ms longer) nor ends them (reading it as a wrap: 49.7 days
 * passing, a full pacer burst at every 1 ms of jitter, review REV13 F1).
 * It needs a read at least once per 2^31 ms (24.8 days): every step reads
 * it. clock_read() gives the glue's time now and keeps the read in @p keep
 * (the same client; NULL: only read, for a const client). */
static uint64_t clock_read(const struct iothub_client *c, struct iothub_client *keep)
{
    uint32_t lo = (uint32_t)c->cfg.clock.now_ms(c->cfg.clock.ctx);
    uint32_t d = lo - c->clock_lo;
    uint64_t t = c->mono_ms + (d >= 0x80000000u ? 0u : d);
    if (keep != NULL) {
        keep->mono_ms = t;
        keep->clock_lo = lo;
    }
    return t;
}

static uint64_t now_ms(struct iothub_client *c)
{
    return clock_read(c, c);
}

static uint32_t rnd(struct iothub_client *c)
{
    if (c->cfg.random != NULL) {
        return c->cfg.random(c->cfg.random_ctx);
    }
    c->lcg = c->lcg * 1664525u + 1013904223u;
    return c->lcg >> 8;
}

static bool uses_key(const struct iothub_client *c)
{
    return c->cfg.sas_key == NULL;
}

static void emit(struct iothub_client *c, enum iothub_event ev, tma_status reason)
{
    if (c->cfg.cb.on_event != NULL) {
        c->cfg.cb.on_event(c->cfg.cb.user, ev, reason);
    }
}

/* ---- MQTT callbacks ------------------------------------------------------ */

static tma_status on_publish(void *user, const struct mqtt_publish *msg)
{
    struct iothub_client *c = user;
    struct tma_span bag, input;
#if IOTHUB_CFG_TWIN_METHODS
    struct iothub_twin_msg tw;
    struct iothub_method_request mr;
#endif
    const struct iothub_identity *me = &c->cfg.id;
    /* A device gets C2D, a module the messages routed to its inputs: one
     * parser for both topic forms. */
    bool module = me->module_id != NULL;
    if (ih_c2d_parse(me, msg->topic, module ? &input : NULL, &bag) == TMA_OK) {
        /* A persistent session can still hold a subscription made by an
         * earlier program on this identity. Without a handler, do not
         * acknowledge: the hub keeps the message and redelivers it to the
         * next session that handles it, instead of it being lost here. */
        if (module) {
            if (c->cfg.cb.on_input == NULL) {
                return IOTHUB_E(TMA_C_UNSUPPORTED);
            }
            c->cfg.cb.on_input(c->cfg.cb.user, input, bag, msg->payload);
        } else {
            if (c->cfg.cb.on_c2d == NULL) {
                return IOTHUB_E(TMA_C_UNSUPPORTED);
            }
            c->cfg.cb.on_c2d(c->cfg.cb.user, bag, msg->payload);
        }
        c->stats.c2d_received++;
        return TMA_OK;
    }
#if IOTHUB_CFG_TWIN_METHODS
    if (ih_twin_parse(msg->topic, &tw) == TMA_OK) {
        if (c->cfg.cb.on_twin != NULL) {
            c->cfg.cb.on_twin(c->cfg.cb.user, &tw, msg->payload);
        }
        return TMA_OK;
    }
    if (ih_method_parse(msg->topic, &mr) == TMA_OK) {
        if (c->cfg.cb.on_method != NULL) {
            c->cfg.cb.on_method(c->cfg.cb.user, mr.name, mr.rid, msg->payload);
        }
        return TMA_OK;
    }
#endif
    /* Not ours or malformed: acknowledge so the hub does not redeliver a
     * message we can never parse (a C2D with a bad bag would otherwise come
     * back forever). */
    return TMA_OK;
}

static void on_puback(void *user, uint16_t packet_id, uint32_t tag)
{
    struct iothub_client *c = user;
    (void)packet_id;
    /* no outbox: ih_outbox_ack() answers TMA_C_BAD_PARAM */
    if (ih_outbox_ack(c->cfg.outbox, tag) == TMA_OK) {
        c->stats.acked++;
        if (c->cfg.cb.on_telemetry_acked != NULL) {
            c->cfg.cb.on_telemetry_acked(c->cfg.cb.user, tag);
        }
    }
}

/* A refused filter (0x80) means its messages will never come on this
 * connection: say so once per SUBACK instead of leaving the application
 * waiting for C2D or twin replies in silence. */
static void on_suback(void *user, uint16_t packet_id, const uint8_t *codes, size_t n)
{
    struct iothub_client *c = user;
    (void)packet_id;
    (void)codes;
    (void)n;
    /* The MQTT client has just looked for a 0x80 among the codes. */
    if (c->mqtt.last_ack_refused) {
        emit(c, IOTHUB_EVENT_SUBSCRIBE_REFUSED, MQTT_E_SUBSCRIBE_REFUSED);
    }
}

static tma_status on_resend(void *user, uint16_t packet_id, uint32_t tag, struct mqtt_publish *out)
{
    struct iothub_client *c = user;
    struct iothub_outbox_msg m;
    tma_status st;
    (void)packet_id;
    if (c->cfg.outbox == NULL) {
        return IOTHUB_E(TMA_C_NOT_FOUND);
    }
    st = ih_outbox_get(c->cfg.outbox, tag, c->cfg.record_buf, c->cfg.record_cap, &m);
    if (st != TMA_OK) {
        /* The MQTT client forgets the slot. A message dropped meanwhile
         * (NOT_FOUND) is gone; one that could not be read is still stored
         * and would wait for a restart: hand the outbox out again from its
         * oldest message (what is in flight may go twice: at-least-once). */
        if (TMA_STATUS_CODE(st) != TMA_C_NOT_FOUND) {
            ih_outbox_rewind(c->cfg.outbox);
        }
        return st;
    }
    /* The MQTT client hands in a zeroed message and sets QoS 1, DUP and
     * the packet id itself (mqtt/client.h, resend): topic and payload only. */
    out->topic = m.topic;
    out->payload = m.payload;
    c->stats.retransmitted++;
    return TMA_OK;
}

/* ---- setup --------------------------------------------------------------- */

/* The buffer members tx_buf, tx_cap, rx_buf, rx_cap, inflight and
 * inflight_count stand in the same order with the same types in the MQTT
 * client's configuration and in ours, so init copies them as one block. A
 * change of either layout fails here at compile time. */
#define BUF_OFF(t, m) (offsetof(struct t, m) - offsetof(struct t, tx_buf))
#define BUFS_SIZE(t) (BUF_OFF(t, inflight_count) + sizeof(size_t))
#define SAME_BUF(m) (BUF_OFF(mqtt_client_config, m) == BUF_OFF(iothub_client_config, m))
typedef char ih_same_buffer_layout[(SAME_BUF(tx_cap) && SAME_BUF(rx_buf) && SAME_BUF(rx_cap) &&
                                    SAME_BUF(inflight) && SAME_BUF(inflight_count))
                                       ? 1
                                       : -1];

/* iothub_client_init()'s configuration check. External linkage (declared
 * in topic.h) so that -Os keeps it out of init: its many early exits then
 * branch to a near return (2-byte branches instead of 4-byte ones). */
bool ih_client_config_ok(const struct iothub_client_config *cfg)
{
    return cfg != NULL && cfg->id.host != NULL && cfg->id.device_id != NULL &&
           cfg->id.host[0] != '\0' && cfg->id.device_id[0] != '\0' &&
           (cfg->id.module_id == NULL || cfg->id.module_id[0] != '\0') && cfg->clock.now_ms != NULL &&
           cfg->connector.open != NULL && cfg->connector.close != NULL && cfg->cred_buf != NULL &&
           cfg->cred_cap >= 64u && cfg->record_buf != NULL && cfg->record_cap >= 16u &&
           (cfg->sas_key == NULL || (cfg->hmac.hmac_sha256 != NULL && cfg->wall.now_ms != NULL));
}

tma_status iothub_client_init(struct iothub_client *c, const struct iothub_client_config *cfg)
{
    struct mqtt_client_config *mc;
    tma_status st;
    if (c == NULL || !ih_client_config_ok(cfg)) {
        return E_BAD;
    }
#if !IOTHUB_CFG_SAS
    if (cfg->sas_key != NULL) {
        return IOTHUB_E(TMA_C_UNSUPPORTED);
    }
#endif
#if !IOTHUB_CFG_TWIN_METHODS
    if ((cfg->subscriptions & (IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS)) != 0u) {
        return IOTHUB_E(TMA_C_UNSUPPORTED);
    }
#endif
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    /* A zeroed back-off: ih_retry_policy_defaults()'s; its pacer part is
     * below, for every policy (written out: 20 B less than the call). */
    if (c->cfg.retry.min_ms == 0u && c->cfg.retry.max_ms == 0u) {
        c->cfg.retry.min_ms = RETRY_MIN_DEFAULT_MS;
        c->cfg.retry.max_ms = RETRY_MAX_DEFAULT_MS;
        c->cfg.retry.jitter_max_ms = RETRY_JITTER_DEFAULT_MS;
    }
    /* A back-off given with the pacer left zero keeps the chip's pacing
     * (iothub_key_pacer_init()'s defaults): t_max 0, or burst 0 (burst - 1
     * wraps), paced nothing, a signature at every retry. */
    if (c->cfg.retry.pacer.t_max_ms == 0u) {
        c->cfg.retry.pacer.t_max_ms = PACER_T_MAX_DEFAULT_MS;
    }
    if (c->cfg.retry.pacer.burst == 0u) {
        c->cfg.retry.pacer.burst = PACER_BURST_DEFAULT;
    }
    if (c->cfg.keep_alive_s == 0u) {
        c->cfg.keep_alive_s = IOTHUB_KEEPALIVE_DEFAULT_S;
    }
    if (c->cfg.keep_alive_s > IOTHUB_KEEPALIVE_MAX_S) {
        c->cfg.keep_alive_s = IOTHUB_KEEPALIVE_MAX_S;
    }
    if (c->cfg.sas_lifetime_s == 0u) {
        c->cfg.sas_lifetime_s = 3600u;
    }
    if (c->cfg.window == 0u || c->cfg.window >= cfg->inflight_count) {
        c->cfg.window = cfg->inflight_count > 1u ? (uint32_t)cfg->inflight_count - 1u : 1u;
    }
    /* The MQTT client's configuration, written in place (c is zeroed). */
    mc = &c->mqtt.cfg;
    mc->clock = cfg->clock;
    /* tx_buf .. inflight_count: the same members in the same order in both
     * configurations (checked at compile time above) */
    memcpy(&mc->tx_buf, &cfg->tx_buf, BUFS_SIZE(mqtt_client_config));
    mc->cb.user = c;
    mc->cb.on_publish = on_publish;
    mc->cb.on_puback = on_puback;
    mc->cb.on_suback = on_suback;
    mc->cb.resend = on_resend;
    /* Under traffic shaping IoT Hub answers CONNECT late; an abort at 30 s
     * costs another handshake (a chip signature) and adds to the burst. */
    mc->connack_timeout_ms = IOTHUB_CONNACK_TIMEOUT_MS;
    /* A PINGREQ unanswered for half the keep-alive ends the connection, so
     * a silent link is noticed within 1.5 x keep-alive (as the hub does),
     * not keep-alive + 30 s; 30 s stays the ceiling (keep-alive >= 60 s). */
    if (c->cfg.keep_alive_s < 60u) {
        mc->ping_timeout_ms = (uint32_t)c->cfg.keep_alive_s * 500u;
    }
    st = mqtt_client_init_in_place(&c->mqtt);
    if (st != TMA_OK) {
        return st;
    }
    c->user_name = ih_username;
#if IOTHUB_CFG_SAS
    c->sas_resource = ih_sas_resource;
#endif
    c->lcg = 0x2545F491u;
    /* No message is in flight in a new MQTT client: what an earlier client
     * on this outbox handed out and saw no PUBACK for is due again (a
     * re-init, e.g. for a new configuration, left it stored and never sent
     * until the process restarted). */
    ih_outbox_rewind(c->cfg.outbox);
    c->can_step = true;
    c->state = IOTHUB_STATE_IDLE;
    /* next_attempt_ms and mono_ms 0 (c is zeroed): the first step reads
     * the clock and connects; no time read here. */
    return TMA_OK;
}

/* ---- connection management ---------------------------------------------- */

static void close_transport(struct iothub_client *c)
{
    if (c->transport_open) {
        c->cfg.connector.close(c->cfg.connector.ctx);
        c->transport_open = false;
    }
#if IOTHUB_CFG_SAS
    /* The connection is over (every end comes here): the CONNECT packet
     * the transmit buffer may still hold ends with the SAS token, a bearer
     * credential until its expiry. Nothing queued there outlives the
     * connection (a resend is encoded again from the outbox). */
    if (c->cfg.sas_key != NULL) {
        ih_wipe(c->cfg.tx_buf, c->cfg.tx_cap);
    }
#endif
}

static void schedule_retry(struct iothub_client *c, tma_status reason)
{
    uint64_t now = now_ms(c);
    /* The time the attempt (and the connection it opened) took, as a
     * wrapping 32-bit difference: after a connection of more than 2^32 ms
     * only its remainder counts (a first retry then waits its back-off
     * instead of none). */
    uint32_t op_ms = (uint32_t)now - c->attempt_started_ms;
    uint64_t d;
    /* The back-off starts again only after a connection that lasted. One
     * the hub accepted and dropped soon after (throttling, 429002; daily
     * quota) counts as a failed attempt: reset at every CONNACK, such a
     * device came back every few seconds for as long as the hub refused it
     * (Azure: "mass reconnection attempts could cause a DDoS"). Counted
     * from CONNACK: a hub shaping a burst answers up to 60 s late and may
     * drop the device right after. */
    if (c->state == IOTHUB_STATE_CONNECTED && now - c->connected_ms >= IOTHUB_STABLE_CONNECTION_MS) {
        c->attempt = 0u;
    }
    d = ih_retry_next_delay_ms(&c->cfg.retry, c->attempt, op_ms, rnd(c), uses_key(c), now);
    close_transport(c);
    c->attempt++;
    c->next_attempt_ms = now + d;
    c->state = IOTHUB_STATE_IDLE;
    c->last_reason = reason;
    emit(c, IOTHUB_EVENT_DISCONNECTED, reason);
}

static bool is_auth_refusal(tma_status st)
{
    return st == MQTT_E_CONNACK_NOT_AUTHORIZED || st == MQTT_E_CONNACK_BAD_CREDENTIALS ||
           st == MQTT_E_CONNACK_IDENTIFIER || st == MQTT_E_CONNACK_PROTOCOL;
}

/* Lay out client id, user name and password in cred_buf. */
static tma_status build_connect(struct iothub_client *c, struct mqtt_connect *out)
{
    char *p = c->cfg.cred_buf;
    size_t cap = c->cfg.cred_cap, n, used; /* n: set by every builder on TMA_OK */
    tma_status st;
    struct wbuf w;
    memset(out, 0, sizeof(*out));
    /* iothub_client_id()'s bytes; init checked the identity */
    wb_init(&w, p, cap);
    wb_str(&w, c->cfg.id.device_id);
    if (c->cfg.id.module_id != NULL) {
        wb_putc(&w, '/');
        wb_str(&w, c->cfg.id.module_id);
    }
    st = wb_finish(&w, &n);
    if (st != TMA_OK) {
        return st;
    }
    out->client_id.ptr = (const uint8_t *)p;
    out->client_id.len = n;
    used = n + 1u;
    st = c->user_name(&c->cfg.id, c->cfg.client_type, c->cfg.model_id, p + used, cap - used, &n);
    if (st != TMA_OK) {
        return st;
    }
    out->user_name.ptr = (const uint8_t *)(p + used);
    out->user_name.len = n;
    used += n + 1u;
#if IOTHUB_CFG_SAS
    if (c->cfg.sas_key != NULL) {
        char *res = p + used;
        size_t rlen = 0;
        uint64_t wall_s = ih_ms_to_s(c->cfg.wall.now_ms(c->cfg.wall.ctx));
        uint64_t expiry = wall_s + c->cfg.sas_lifetime_s;
        st = c->sas_resource(&c->cfg.id, res, cap - used, &rlen);
        if (st != TMA_OK) {
            return st;
        }
        /* Password after the resource string; the resource is input. */
        st = iothub_sas_password(res, c->cfg.sas_key, c->cfg.sas_key_name, expiry, &c->cfg.hmac,
                                 res + rlen + 1u, cap - used - rlen - 1u, &n);
        if (st != TMA_OK) {
            return st;
        }
        out->password.ptr = (const uint8_t *)(res + rlen + 1u);
        out->password.len = n;
        c->sas_renew_ms = iothub_sas_renew_at(wall_s, expiry) * 1000u;
    } else
#endif
    {
        /* X.509: empty password, as Azure Embedded C sends. */
        out->password.ptr = (const uint8_t *)(p + used - 1u);
        out->password.len = 0u;
        c->sas_renew_ms = 0u;
    }
    out->keep_alive_s = c->cfg.keep_alive_s;
    out->clean_session = c->cfg.clean_session;
    return TMA_OK;
}

/* @p now: the clock read by the caller's due check. */
static tma_status start_connect(struct iothub_client *c, uint64_t now)
{
    struct mqtt_connect opts;
    bool used_key = false;
    tma_status st;
    if (uses_key(c)) {
        uint64_t w = ih_key_pacer_wait_ms(&c->cfg.retry.pacer, now);
        if (w > 0u) {
            c->next_attempt_ms = now + w;
            return TMA_OK;
        }
    }
    c->attempt_started_ms = (uint32_t)now;
#if IOTHUB_CFG_SAS
    /* A token signed with a wall clock that is not set yet (no RTC, before
     * NTP: 1970) expired long ago: the hub would answer CONNACK 5, which
     * ends in AUTH_FAILED as if the key were wrong. Not connected; tried
     * again with the back-off until the wall clock is plausible. */
    if (c->cfg.sas_key != NULL && c->cfg.wall.now_ms(c->cfg.wall.ctx) < IOTHUB_WALL_PLAUSIBLE_MS) {
        schedule_retry(c, IOTHUB_E_WALL_CLOCK);
        return IOTHUB_E_WALL_CLOCK;
    }
#endif
    c->stats.connect_attempts++;
    /* The CONNECT fields first: a cred_buf too small for them (TOO_SMALL)
     * fails the attempt before the transport is opened, which would cost a
     * TLS handshake (a chip key operation) for nothing at every retry. */
    st = build_connect(c, &opts);
    if (st == TMA_OK) {
        st = c->cfg.connector.open(c->cfg.connector.ctx, &c->tr, &used_key);
        if (used_key) {
            ih_key_pacer_record(&c->cfg.retry.pacer, now);
            c->stats.key_operations++;
        }
        if (st == TMA_OK) {
            c->transport_open = true;
            /* no will: the writer without the will's checks */
            st = mqtt_client_start(&c->mqtt, &c->tr, &opts, mqtt_connect_write);
            if (st == TMA_IN_PROGRESS) {
                st = TMA_OK;
            }
        }
    }
    /* The password is not needed any more: CONNECT is encoded (or will
     * not be). */
    {
        volatile char *v = c->cfg.cred_buf;
        size_t i;
        for (i = 0u; i < c->cfg.cred_cap; i++) {
            v[i] = 0;
        }
    }
    if (st != TMA_OK) {
        mqtt_abort(&c->mqtt); /* a no-op unless CONNECT could not be sent */
        schedule_retry(c, st);
        return st;
    }
    c->state = IOTHUB_STATE_CONNECTING;
    return TMA_OK;
}

/* "devices/{id}[/modules/{mid}]<tail><bag>" in cred_buf: the bytes of
 * iothub_telemetry_topic() and iothub_c2d_filter() (tail "/messages/events/"
 * or the C2D filter's), without their identity check, which init made. */
static tma_status device_topic(struct iothub_client *c, const char *tail,
                               const struct iothub_property *props, size_t n, size_t *out_bag_from,
                               size_t *out_len)
{
    struct wbuf w;
    tma_status st;
    wb_init(&w, c->cfg.cred_buf, c->cfg.cred_cap);
    ih_identity_prefix(&w, &c->cfg.id);
    wb_str(&w, tail);
    *out_bag_from = w.len; /* the hub counts the bag, not the topic before it */
    st = ih_bag_write(&w, props, n);
    if (st != TMA_OK) {
        return st;
    }
    return wb_finish(&w, out_len);
}

static tma_status subscribe_all(struct iothub_client *c)
{
#if IOTHUB_CFG_TWIN_METHODS
    /* Fixed filters by subscription flag; C2D's is built (it names the device). */
    static const struct {
        uint8_t flag;
        const char *filter;
    } fixed[] = {
        {IOTHUB_SUB_TWIN, ih_twin_res_filter},
        {IOTHUB_SUB_TWIN, ih_twin_desired_filter},
        {IOTHUB_SUB_METHODS, ih_methods_filter},
    };
    size_t i;
#endif
    struct mqtt_subscription subs[4];
    size_t n = 0, len, from; /* len, from: set by device_topic() on TMA_OK */
    tma_status st;
    if ((c->cfg.subscriptions & IOTHUB_SUB_C2D) != 0u) {
        st = device_topic(c, c->cfg.id.module_id != NULL ? "/#" : ih_c2d_tail, NULL, 0u,
                          &from, &len);
        if (st != TMA_OK) {
            return st;
        }
        subs[n].filter.ptr = (const uint8_t *)c->cfg.cred_buf;
        subs[n].filter.len = len;
        subs[n].qos = 1;
        n++;
    }
#if IOTHUB_CFG_TWIN_METHODS
    for (i = 0u; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if ((c->cfg.subscriptions & fixed[i].flag) != 0u) {
            subs[n].filter.ptr = (const uint8_t *)fixed[i].filter;
            subs[n].filter.len = strlen(fixed[i].filter);
            subs[n].qos = 0;
            n++;
        }
    }
#endif
    if (n == 0u) {
        c->subs_pending = false;
        return TMA_OK;
    }
    /* TMA_WANT_WRITE: the MQTT client is still sending the last connection's
     * unacknowledged messages again (the transport took nothing for a
     * moment): nothing was queued, the next step tries again. */
    st = mqtt_request(&c->mqtt, MQTT_INFLIGHT_SUBSCRIBE, subs, (uint32_t)n);
    if (st == TMA_OK) {
        c->subs_pending = false;
    }
    return st == TMA_WANT_WRITE ? TMA_OK : st;
}

/* Publish from the outbox until the window is full. The burst is corked so
 * the PUBLISHes leave together (one TLS record, one send) instead of one
 * record and one system call each; at-least-once is unchanged: a message is
 * marked sent only once queued, and acknowledged only by its PUBACK. */
static tma_status pump_outbox_corked(struct iothub_client *c)
{
    struct iothub_outbox_msg m;
    struct mqtt_publish p;
    tma_status st;
    /* Counted once: nothing below takes a PUBACK in, only publishes add. */
    size_t inflight = mqtt_inflight_publishes(&c->mqtt);
    while (inflight < c->cfg.window) {
        st = ih_outbox_peek(c->cfg.outbox, c->cfg.record_buf, c->cfg.record_cap, &m);
        if (st < 0 && TMA_STATUS_CODE(st) == TMA_C_NOT_FOUND) {
            return TMA_OK;
        }
        if (st != TMA_OK) {
            return st;
        }
        memset(&p, 0, sizeof(p));
        p.topic = m.topic;
        p.payload = m.payload;
        p.qos = 1;
        st = mqtt_request(&c->mqtt, MQTT_INFLIGHT_PUBLISH, &p, m.seq);
        if (st == TMA_WANT_WRITE || (st < 0 && TMA_STATUS_CODE(st) == TMA_C_FULL)) {
            return TMA_OK;
        }
        if (st != TMA_OK) {
            return st;
        }
        ih_outbox_mark_sent(c->cfg.outbox, m.seq);
        c->stats.published++;
        inflight++;
    }
    return TMA_OK;
}

static tma_status pump_outbox(struct iothub_client *c)
{
    tma_status st;
    if (c->cfg.outbox == NULL) {
        return TMA_OK;
    }
    c->mqtt.corked = true; /* mqtt_client_cork(&c->mqtt, true) */
    st = pump_outbox_corked(c);
    mqtt_uncork(&c->mqtt);
    return st;
}

static tma_status step(struct iothub_client *c)
{
    tma_status st;
    /* Read in every state: the glue's time must see each 2^32 ms wrap. */
    uint64_t now = now_ms(c);
    if (c->state == IOTHUB_STATE_AUTH_FAILED) {
        return TMA_OK;
    }
    if (c->state == IOTHUB_STATE_IDLE) {
        if (now < c->next_attempt_ms) {
            return TMA_OK;
        }
        st = start_connect(c, now);
        if (st != TMA_OK || c->state != IOTHUB_STATE_CONNECTING) {
            return st;
        }
    }
    st = mqtt_process(&c->mqtt);
    if (c->state == IOTHUB_STATE_IDLE) {
        return TMA_OK; /* a callback called iothub_client_disconnect() */
    }
    if (st < 0) {
        if (is_auth_refusal(st)) {
            close_transport(c);
            c->state = IOTHUB_STATE_AUTH_FAILED;
            c->last_reason = st;
            emit(c, IOTHUB_EVENT_AUTH_FAILED, st);
            return st;
        }
        goto lost;
    }
    if (c->state == IOTHUB_STATE_CONNECTING && c->mqtt.state == MQTT_STATE_CONNECTED) {
#if IOTHUB_CFG_SAS
        /* CONNACK: the CONNECT was sent; what is left of it past the bytes
         * queued now (the token is its last field) goes. */
        if (c->cfg.sas_key != NULL) {
            ih_wipe(c->cfg.tx_buf + c->mqtt.tx_len, c->cfg.tx_cap - c->mqtt.tx_len);
        }
#endif
        c->state = IOTHUB_STATE_CONNECTED;
        c->connected_ms = now;
        c->stats.connects++;
        c->subs_pending = true;
    }
    /* CONNECTED is raised once the SUBSCRIBE is queued, so what a callback
     * requests (a twin GET) goes after it. */
    if (c->subs_pending && c->state == IOTHUB_STATE_CONNECTED) {
        st = subscribe_all(c);
        if (st != TMA_OK) {
            goto lost;
        }
        if (!c->subs_pending) {
            emit(c, IOTHUB_EVENT_CONNECTED, TMA_OK);
        }
    }
    if (c->state != IOTHUB_STATE_CONNECTED) {
        return TMA_OK;
    }
#if IOTHUB_CFG_SAS
    /* SAS renewal: MQTT 3.1.1 cannot re-authenticate in band, so reconnect.
     * A transport busy right now gets up to 1 s for the DISCONNECT, as in
     * iothub_client_disconnect(): lost, the hub would log an unexpected
     * drop (and publish a Will) at every renewal. The reconnect is
     * scheduled as after any end: due at once after a connection that
     * lasted IOTHUB_STABLE_CONNECTION_MS, else after the back-off, growing
     * (a lifetime under 75 s; under 5 s, or a wall clock jumping ahead, the
     * renewal is due right after CONNACK: reset and due now, that was a
     * CONNECT, SUBSCRIBE and DISCONNECT at every step for as long as it ran). */
    if (c->sas_renew_ms != 0u && c->cfg.wall.now_ms(c->cfg.wall.ctx) >= c->sas_renew_ms) {
        (void)mqtt_disconnect_within(&c->mqtt, 1000u);
        schedule_retry(c, IOTHUB_E(TMA_C_TIMEOUT));
        return TMA_OK;
    }
#endif
    st = pump_outbox(c);
    if (st != TMA_OK) {
        if (st < 0 && TMA_STATUS_LAYER(st) == TMA_LAYER_STORE) {
            return st; /* storage trouble: connection stays, caller decides */
        }
        goto lost;
    }
    return TMA_OK;
lost:
    mqtt_abort(&c->mqtt);
    schedule_retry(c, st);
    return st;
}

tma_status iothub_client_step(struct iothub_client *c)
{
    tma_status st;
    if (c == NULL) {
        return E_BAD;
    }
    /* Not from a callback (it runs inside a step, or inside the MQTT step
     * of iothub_client_disconnect()'s flush: the receive buffer holds the
     * views it was given, a nested connect would recurse), nor on a client
     * that init never completed (zeroed: no clock, no connector). */
    if (!c->can_step || c->mqtt.in_process) {
        return E_STATE;
    }
    c->can_step = false;
    st = step(c);
    c->can_step = true;
    return st;
}

uint64_t iothub_client_next_attempt_in_ms(const struct iothub_client *c)
{
    uint64_t now;
    if (c == NULL || c->state != IOTHUB_STATE_IDLE || c->user_name == NULL) {
        return 0u;
    }
    now = clock_read(c, NULL);
    return c->next_attempt_ms > now ? c->next_attempt_ms - now : 0u;
}

/* ---- application operations -------------------------------------------- */

tma_status iothub_client_send_telemetry(struct iothub_client *c, const struct iothub_property *props,
                                        size_t prop_count, const uint8_t *payload, size_t len,
                                        uint32_t *out_seq)
{
    size_t n, from; /* set by device_topic() on TMA_OK */
    tma_status st;
    if (c == NULL || (payload == NULL && len > 0u)) {
        return E_BAD;
    }
    if (c->cfg.outbox == NULL) {
        return E_STATE;
    }
    st = device_topic(c, "/messages/events/", props, prop_count, &from, &n);
    if (st != TMA_OK) {
        return st;
    }
    /* IoT Hub closes the connection on a message over 256 KB without a
     * word; kept in the outbox it would come back after every reconnect and
     * block the messages behind it for good. The encoded bag counts in full
     * (the hub counts property names and values: never more). Compared
     * without a sum, which a length near SIZE_MAX would wrap (and then
     * also pass the record check below). */
    if (n - from > IOTHUB_D2C_MAX_BYTES || len > IOTHUB_D2C_MAX_BYTES - (n - from)) {
        return E_BAD;
    }
    if (n + 2u + len > c->cfg.record_cap) {
        return IOTHUB_E(TMA_C_TOO_SMALL);
    }
    return ih_outbox_push(c->cfg.outbox, c->cfg.cred_buf, payload, len, out_seq);
}

#if IOTHUB_CFG_TWIN_METHODS
/* A QoS 0 request or response: "<prefix><num>" or, for a method response
 * (@p rid_sep not NULL), "<prefix><num><rid_sep><rid>", written straight into
 * cred_buf (the same bytes as iothub_twin_get_topic(),
 * iothub_twin_patch_topic() and iothub_method_response_topic(), which a
 * device then does not link). */
static tma_status publish0(struct iothub_client *c, const char *prefix, uint32_t num,
                           const char *rid_sep, struct tma_span rid, struct tma_span payload)
{
    struct wbuf w;
    struct mqtt_publish p;
    size_t n; /* set by wb_finish() */
    tma_status st;
    if (c->state != IOTHUB_STATE_CONNECTED) {
        return E_STATE;
    }
    wb_init(&w, c->cfg.cred_buf, c->cfg.cred_cap);
    wb_str(&w, prefix);
    wb_u32(&w, num);
    if (rid_sep != NULL) {
        if (rid.ptr == NULL || rid.len == 0u) {
            return E_BAD;
        }
        wb_str(&w, rid_sep);
        wb_mem(&w, (const char *)rid.ptr, rid.len);
    }
    st = wb_finish(&w, &n);
    if (st != TMA_OK) {
        return st;
    }
    memset(&p, 0, sizeof(p));
    p.topic.ptr = (const uint8_t *)c->cfg.cred_buf;
    p.topic.len = n;
    p.payload = payload;
    return mqtt_request(&c->mqtt, MQTT_INFLIGHT_PUBLISH, &p, 0u);
}

/* GET (patch NULL) or reported PATCH: a fresh $rid, QoS 0. External
 * linkage (declared in topic.h) so that -Os keeps one copy instead of
 * inlining it into both callers. */
tma_status ih_twin_request(struct iothub_client *c, const struct tma_span *patch,
                               uint32_t *out_rid)
{
    struct tma_span body = {NULL, 0u};
    tma_status st;
    if (c->state == IOTHUB_STATE_CONNECTED) {
        /* Not ahead of a SUBSCRIBE still waiting for room: the answer
         * would come before $iothub/twin/res/# is subscribed, unheard. */
        if (c->subs_pending) {
            return TMA_WANT_WRITE;
        }
        c->rid++; /* consumed by every request made while connected */
    }
    if (patch != NULL) {
        body = *patch;
    }
    /* rid_sep NULL: publish0() does not read its rid argument */
    st = publish0(c,
                  patch == NULL ? "$iothub/twin/GET/?$rid="
                                : "$iothub/twin/PATCH/properties/reported/?$rid=",
                  c->rid, NULL, body, body);
    if (st == TMA_OK && out_rid != NULL) {
        *out_rid = c->rid;
    }
    return st;
}

tma_status iothub_client_twin_get(struct iothub_client *c, uint32_t *out_rid)
{
    if (c == NULL) {
        return E_BAD;
    }
    return ih_twin_request(c, NULL, out_rid);
}

tma_status iothub_client_twin_patch(struct iothub_client *c, struct tma_span patch, uint32_t *out_rid)
{
    if (c == NULL || (patch.ptr == NULL && patch.len > 0u)) {
        return E_BAD;
    }
    if (ih_json_walk(patch, NULL, NULL) != TMA_OK) {
        return IOTHUB_E(TMA_C_MALFORMED);
    }
    return ih_twin_request(c, &patch, out_rid);
}

tma_status iothub_client_method_respond(struct iothub_client *c, struct tma_span rid, uint16_t status,
                                        struct tma_span payload)
{
    if (c == NULL || (payload.ptr == NULL && payload.len > 0u)) {
        return E_BAD;
    }
    if (payload.len > 0u && ih_json_walk(payload, NULL, NULL) != TMA_OK) {
        return IOTHUB_E(TMA_C_MALFORMED);
    }
    return publish0(c, "$iothub/methods/res/", status, "/?$rid=", rid, payload);
}

#endif /* IOTHUB_CFG_TWIN_METHODS */

void iothub_client_disconnect(struct iothub_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->mqtt.state != MQTT_STATE_DISCONNECTED) {
        (void)mqtt_flush(&c->mqtt, 1000u);
        (void)mqtt_disconnect_within(&c->mqtt, 1000u);
    }
    close_transport(c);
    c->state = IOTHUB_STATE_IDLE;
    c->next_attempt_ms = UINT64_MAX;
}

void iothub_client_restart(struct iothub_client *c)
{
    /* Only from IDLE or AUTH_FAILED: connecting or connected, the next
     * step would open a second connection over the live one. */
    if (c == NULL || c->user_name == NULL || c->state == IOTHUB_STATE_CONNECTING ||
        c->state == IOTHUB_STATE_CONNECTED) {
        return;
    }
    c->state = IOTHUB_STATE_IDLE;
    c->attempt = 0u;
    c->next_attempt_ms = 0u; /* due at the next step */
}

enum iothub_client_state iothub_client_state(const struct iothub_client *c)
{
    return c == NULL ? IOTHUB_STATE_IDLE : (enum iothub_client_state)c->state;
}

struct iothub_client_stats iothub_client_stats(const struct iothub_client *c)
{
    struct iothub_client_stats s;
    memset(&s, 0, sizeof(s));
    if (c != NULL) {
        s = c->stats;
        s.rx_too_large = c->mqtt.rx.skipped;
    }
    return s;
}

tma_status iothub_client_last_reason(const struct iothub_client *c)
{
    return c == NULL ? E_BAD : c->last_reason;
}

const char *iothub_reason_text(tma_status st)
{
    if (st == IOTHUB_E_WALL_CLOCK) {
        return "wall clock not set (before 2026): no SAS token signed, waiting for the clock";
    }
    if (st < 0 && TMA_STATUS_LAYER(st) == TMA_LAYER_MQTT && TMA_STATUS_CODE(st) > MQTT_CODE_CONNACK_BASE &&
        TMA_STATUS_CODE(st) < MQTT_CODE_CONNACK_BASE + 0x40u) {
        return iothub_connack_reason((uint8_t)(TMA_STATUS_CODE(st) - MQTT_CODE_CONNACK_BASE));
    }
    return tma_status_str(st);
}
