/* DPS registration driver over the MQTT client; see include/iothub/dps_client.h. */
#include "iothub/dps_client.h"

#include <string.h>

#include "iothub/json.h"
#include "../mqtt/request.h"
#include "dps_rx.h"
#include "topic.h"
#include "wbuf.h"

#define D_ERR(code) TMA_ERR(TMA_LAYER_DPS, (code))
#define REPLY_TIMEOUT_MS 30000u
#define RETRY_MIN_S 1u
#define RETRY_MAX_S 300u

/* Times are the MQTT client's own 32-bit time (mqtt_time_ms(), which
 * counts a clock step back as no time). So a step back neither ends the
 * registration in its timeout nor asks again early, and every wait here
 * (the whole registration's uint32_t timeout, a reply, retry-after of at
 * most 300 s) is a wrapping difference, exact below 2^32 ms. */
static uint32_t now_ms(struct dps_client *c)
{
    return mqtt_time_ms(&c->hub.mqtt);
}

/* The registration ended with @p st (TMA_OK: assigned). */
static void finish(struct dps_client *c, tma_status st)
{
    c->phase = DPS_PHASE_ENDED;
    c->final_status = st;
}

/* retry-after (t->num when t->has_num) or the default, clamped. */
static void schedule_retry(struct dps_client *c, const struct ih_topic *t)
{
    uint64_t s = t->has_num ? t->num : DPS_DEFAULT_RETRY_S;
    if (s < RETRY_MIN_S) {
        s = RETRY_MIN_S;
    }
    if (s > RETRY_MAX_S) {
        s = RETRY_MAX_S;
    }
    c->due_ms = now_ms(c) + (uint32_t)s * 1000u;
    c->phase = DPS_PHASE_WAIT_RETRY;
}

/* dps_client_init() moves the hub client's refusals to the DPS layer by
 * one step of the layer number. */
typedef char dps_layer_after_iothub[TMA_LAYER_DPS == TMA_LAYER_IOTHUB + 1 ? 1 : -1];

/* on_publish() reads "failed or disabled" as a status after "assigned". */
typedef char dps_status_order[DPS_STATUS_FAILED == DPS_STATUS_ASSIGNED + 1 &&
                                      DPS_STATUS_DISABLED == DPS_STATUS_FAILED + 1
                                  ? 1
                                  : -1];

/* The reply topic's subscription, QoS 1. */
static const struct mqtt_subscription dps_sub = {
    {(const uint8_t *)DPS_RES_FILTER, sizeof(DPS_RES_FILTER) - 1u}, 1};

static tma_status on_publish(void *user, const struct mqtt_publish *msg)
{
    /* user: &c->hub (iothub_client_init()'s callback user) */
    struct dps_client *c =
        (struct dps_client *)(void *)((char *)user - offsetof(struct dps_client, hub));
    struct tma_span topic = msg->topic;
    struct ih_topic rt;
    struct dps_response body;
    uint64_t rid;
    tma_status st, end;
    /* What dps_parse_response_topic() accepts ("$dps/registrations/res/" +
     * ih_topic_parse() with a non-empty $rid); anything else is not ours. */
    if (c->phase != DPS_PHASE_WAIT_REPLY || !ih_eat(&topic, DPS_RES_FILTER)) {
        return TMA_OK;
    }
    /* Ours is the decimal we sent (no leading zeros): anything else, an
     * empty $rid included (ih_parse_u64() refuses it), is stale. Any
     * retry-after of up to 19 digits is read (schedule_retry() clamps it):
     * a reply with a larger one than a day, and later one beyond 32 bits,
     * used to be dropped as not ours, and the device asked again after 30 s
     * instead of waiting 300 s. */
    if (!ih_topic_parse(topic, IH_SEG_STATUS, "retry-after", UINT64_MAX, &rt) ||
        !ih_parse_u64(rt.rid, UINT32_MAX, &rid) || rt.rid.ptr[0] == '0' || rid != c->rid) {
        return TMA_OK;
    }
    c->result.last_status = rt.status;
    st = ih_dps_parse(msg->payload, &body);
    if (st == TMA_OK && body.has_error_code) {
        c->result.has_error_code = true;
        c->result.error_code = body.error_code;
    }
    end = DPS_E_REFUSED;
    if (rt.status == 202u || rt.status == 200u) {
        end = D_ERR(TMA_C_MALFORMED);
        if (st != TMA_OK) {
            goto ended;
        }
        if (rt.status == 202u) {
            /* A new operation id replaces the kept one; a copy that fails
             * leaves it empty, which is malformed as no id at all is. */
            if (body.operation_id.len > 0u) {
                (void)ih_json_copy(body.operation_id, c->operation_id, sizeof(c->operation_id));
            }
            if (c->operation_id[0] == '\0') {
                goto ended;
            }
        } else {
            c->result.status = body.status;
            if (body.status == DPS_STATUS_ASSIGNED) {
                if (ih_json_copy(body.assigned_hub, c->result.assigned_hub,
                                 sizeof(c->result.assigned_hub)) &&
                    ih_json_copy(body.device_id, c->result.device_id, sizeof(c->result.device_id))) {
                    end = TMA_OK;
                }
                goto ended;
            }
            /* failed or disabled: the terminal states left (enum order) */
            end = DPS_E_REFUSED;
            if (body.status >= DPS_STATUS_FAILED) {
                goto ended;
            }
        }
        /* operation accepted or still assigning: poll after retry-after */
    } else if (!ih_status_retriable(rt.status)) {
        goto ended;
    }
    schedule_retry(c, &rt);
    return TMA_OK;
ended:
    finish(c, end);
    return TMA_OK;
}

tma_status dps_client_init(struct dps_client *c, const struct dps_client_config *cfg)
{
    struct iothub_client_config h;
    tma_status st;
    size_t i;
    if (c == NULL || cfg == NULL || cfg->id_scope == NULL || cfg->id_scope[0] == '\0' ||
        cfg->registration_id == NULL || cfg->registration_id[0] == '\0' || cfg->conn.cred_cap < 128u) {
        return D_ERR(TMA_C_BAD_PARAM);
    }
    /* DPS's registration id alphabet (letters, digits, - . _ :, at most 128):
     * anything else DPS refuses anyway, and these characters go into the
     * user name, the SAS resource and the register body as they are. */
    for (i = 0u; cfg->registration_id[i] != '\0'; i++) {
        uint8_t ch = (uint8_t)cfg->registration_id[i];
        if (i >= 128u || ((uint8_t)((ch | 0x20u) - 'a') >= 26u && (uint8_t)(ch - '0') >= 10u &&
                          ch != '-' && ch != '.' && ch != '_' && ch != ':')) {
            return D_ERR(TMA_C_BAD_PARAM);
        }
    }
    memset(c, 0, sizeof(*c));
    c->payload_json = cfg->payload_json;
    c->timeout_ms = cfg->timeout_ms == 0u ? 120000u : cfg->timeout_ms;
    /* The hub client checks the rest (clock, connector, buffers, SAS ops). */
    h = cfg->conn;
    h.id.host = cfg->id_scope;             /* for the DPS name builders (topic.h) */
    h.id.device_id = cfg->registration_id; /* the MQTT client id (spec 6.1) */
    h.id.module_id = NULL;
    h.sas_key_name = "registration";
    h.keep_alive_s = 60u;
    h.subscriptions = 0u;
    h.clean_session = true; /* DPS sessions are never persistent (spec 6.1) */
    h.outbox = NULL;
    h.record_buf = (uint8_t *)h.cred_buf; /* no outbox: never used */
    h.record_cap = h.cred_cap;
    st = iothub_client_init(&c->hub, &h);
    if (TMA_STATUS_LAYER(st) == TMA_LAYER_IOTHUB) {
        return st - 0x100; /* the same code in the DPS layer (the next layer number) */
    }
    if (st != TMA_OK) {
        return st;
    }
    c->hub.user_name = ih_dps_user_name;
#if IOTHUB_CFG_SAS
    c->hub.sas_resource = ih_dps_sas_resource;
#endif
    c->hub.mqtt.cfg.cb.on_publish = on_publish; /* user: &c->hub */
    return TMA_OK;
}

/* Register (no operation id yet) or poll, QoS 0, with a fresh $rid: the
 * bytes of dps_register_topic() + dps_register_body() or dps_poll_topic(),
 * written here in one pass into cred_buf ("topic\0body"). */
static tma_status send_request(struct dps_client *c)
{
    struct mqtt_publish p;
    struct wbuf w;
    char *buf = c->hub.cfg.cred_buf;
    bool reg = c->operation_id[0] == '\0';
    size_t end = 0;
    tma_status st;
    c->rid++;
    wb_init(&w, buf, c->hub.cfg.cred_cap);
    wb_str(&w, "$dps/registrations/"); /* once for both topics */
    wb_str(&w, reg ? "PUT/iotdps-register/?$rid=" : "GET/iotdps-get-operationstatus/?$rid=");
    wb_u32(&w, c->rid);
    if (!reg) {
        wb_str(&w, "&operationId=");
        wb_encs(&w, c->operation_id);
    }
    p.topic.len = w.len;
    if (reg) {
        wb_putc(&w, '\0');
        if (c->payload_json != NULL) {
            struct tma_span pj;
            pj.ptr = (const uint8_t *)c->payload_json;
            pj.len = strlen(c->payload_json);
            if (ih_json_walk(pj, NULL, NULL) != TMA_OK) {
                return D_ERR(TMA_C_MALFORMED);
            }
        }
        /* init admitted only registration ids that need no JSON escape */
        wb_str(&w, "{\"registrationId\":\"");
        wb_str(&w, c->hub.cfg.id.device_id);
        wb_putc(&w, '"');
        if (c->payload_json != NULL) {
            wb_str(&w, ",\"payload\":");
            wb_str(&w, c->payload_json);
        }
        wb_putc(&w, '}');
    }
    st = wb_finish(&w, &end);
    if (st != TMA_OK) {
        return st;
    }
    /* The body (register) follows the topic's NUL; a poll's is empty. */
    p.topic.ptr = (const uint8_t *)buf;
    p.payload.ptr = (const uint8_t *)(buf + p.topic.len + reg);
    p.payload.len = end - p.topic.len - reg;
    p.packet_id = 0u;
    p.qos = 0u;
    p.dup = false;
    p.retain = false;
    st = mqtt_request(&c->hub.mqtt, MQTT_INFLIGHT_PUBLISH, &p, 0u);
    if (st == TMA_OK) {
        c->pending = 0u;
        c->phase = DPS_PHASE_WAIT_REPLY;
        c->due_ms = now_ms(c) + REPLY_TIMEOUT_MS + 1u; /* ask again after 30 s */
    }
    return st == TMA_WANT_WRITE ? TMA_OK : st;
}

tma_status dps_client_step(struct dps_client *c)
{
    tma_status st;
    uint32_t now;
    if (c == NULL) {
        return D_ERR(TMA_C_BAD_PARAM);
    }
    /* Not on a client whose init never completed (zeroed), nor from its
     * on_event (inside its hub client's step, which would refuse: the
     * nested step then ended the registration with that refusal). */
    if (!c->hub.can_step) {
        return D_ERR(TMA_C_STATE);
    }
    if (c->phase == DPS_PHASE_ENDED) {
        return c->final_status;
    }
    now = now_ms(c);
    if (c->phase == DPS_PHASE_START) {
        c->started_ms = now;
        c->phase = DPS_PHASE_CONNECTING;
    }
    if (now - c->started_ms > c->timeout_ms) {
        st = D_ERR(TMA_C_TIMEOUT);
        goto failed;
    }
    /* Connects on the first call. A status other than TMA_OK ended the
     * connection: a refusal at CONNACK ends the registration; anything else
     * (no route, a cut, a TLS alert) is what the hub client retries, after
     * its back-off and the chip-key pacer, and the registration carries on
     * within its timeout. */
    st = iothub_client_step(&c->hub);
    if (st != TMA_OK && c->hub.state == IOTHUB_STATE_AUTH_FAILED) {
        goto failed;
    }
    st = TMA_OK;
    if (c->hub.state == IOTHUB_STATE_CONNECTED) {
        if (c->connects != c->hub.stats.connects) {
            /* A new connection (clean session): subscribe again, then send
             * what the last one lost (the register request or a poll), or
             * keep waiting for retry-after. */
            c->connects = c->hub.stats.connects;
            c->pending = (uint8_t)(c->phase != DPS_PHASE_WAIT_RETRY ? 3u : 1u);
        } else if ((c->phase == DPS_PHASE_WAIT_RETRY || c->phase == DPS_PHASE_WAIT_REPLY) &&
                   (int32_t)(now - c->due_ms) >= 0) {
            /* Retry time, or a QoS 0 request or reply got lost: ask again. */
            c->pending |= 2u;
        }
        /* TMA_WANT_WRITE: the MQTT client took nothing (the transport is
         * busy): still pending, the next step tries again. The request goes
         * only after the SUBSCRIBE, or its reply could come unheard. */
        if ((c->pending & 1u) != 0u) {
            st = mqtt_request(&c->hub.mqtt, MQTT_INFLIGHT_SUBSCRIBE, &dps_sub, 1u);
            if (st == TMA_OK) {
                c->pending &= 2u;
            }
        }
        if (st == TMA_WANT_WRITE) {
            st = TMA_OK;
        }
        if (st == TMA_OK && c->pending == 2u) {
            st = send_request(c); /* TMA_WANT_WRITE already TMA_OK */
        }
    }
    if (st != TMA_OK) {
        goto failed;
    }
    if (c->phase != DPS_PHASE_ENDED) {
        return TMA_IN_PROGRESS;
    }
    goto ended; /* the reply handler ended it */
failed:
    finish(c, st);
ended:
    dps_client_close(c);
    return c->final_status;
}

const struct dps_client_result *dps_client_result(const struct dps_client *c)
{
    return c == NULL ? NULL : &c->result;
}

void dps_client_close(struct dps_client *c)
{
    if (c == NULL) {
        return;
    }
    /* DISCONNECT without waiting for the queue to drain (TMA_C_STATE, and
     * nothing sent, when there is no connection), then close. */
    (void)mqtt_disconnect_within(&c->hub.mqtt, 0u);
    iothub_client_disconnect(&c->hub);
}
