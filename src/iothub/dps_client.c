/* DPS registration driver over the MQTT client; see include/iothub/dps_client.h. */
#include "iothub/dps_client.h"

#include <string.h>

#include "iothub/json.h"
#include "topic.h"
#include "wbuf.h"

#define D_ERR(code) TMA_ERR(TMA_LAYER_DPS, (code))
#define REPLY_TIMEOUT_MS 30000u
#define RETRY_MIN_S 1u
#define RETRY_MAX_S 300u

/* Times are the low 32 bits of the clock: every wait here (the whole
 * registration's uint32_t timeout, a reply, retry-after of at most 300 s) is
 * measured as a wrapping difference, exact below 2^32 ms. */
static uint32_t now_ms(const struct dps_client *c)
{
    return (uint32_t)c->cfg.clock.now_ms(c->cfg.clock.ctx);
}

static void finish(struct dps_client *c, uint8_t phase, tma_status st)
{
    c->phase = phase;
    c->final_status = st;
}

static void schedule_retry(struct dps_client *c, const struct dps_response_topic *rt)
{
    uint32_t s = rt->has_retry_after ? rt->retry_after_s : DPS_DEFAULT_RETRY_S;
    if (s < RETRY_MIN_S) {
        s = RETRY_MIN_S;
    }
    if (s > RETRY_MAX_S) {
        s = RETRY_MAX_S;
    }
    c->wait_until_ms = now_ms(c) + s * 1000u;
    c->phase = DPS_PHASE_WAIT_RETRY;
}

static tma_status on_publish(void *user, const struct mqtt_publish *msg)
{
    struct dps_client *c = user;
    struct dps_response_topic rt;
    struct dps_response body;
    uint64_t rid;
    tma_status st;
    if (c->phase != DPS_PHASE_WAIT_REPLY || dps_parse_response_topic(msg->topic, &rt) != TMA_OK) {
        return TMA_OK;
    }
    /* Ours is the decimal we sent (no leading zeros): anything else is stale. */
    if (rt.rid.ptr[0] == '0' || !ih_parse_u64(rt.rid, UINT32_MAX, &rid) || rid != c->rid) {
        return TMA_OK;
    }
    c->result.last_status = rt.status;
    st = dps_parse_response(msg->payload, &body);
    if (st == TMA_OK && body.has_error_code) {
        c->result.has_error_code = true;
        c->result.error_code = body.error_code;
    }
    if (rt.status == 202u || rt.status == 200u) {
        if (st != TMA_OK) {
            goto malformed;
        }
        if (rt.status == 202u) {
            if (body.operation_id.len > 0u &&
                !ih_json_copy(body.operation_id, c->operation_id, sizeof(c->operation_id))) {
                goto malformed;
            }
            if (c->operation_id[0] == '\0') {
                goto malformed;
            }
        } else {
            c->result.status = body.status;
            if (body.status == DPS_STATUS_ASSIGNED) {
                if (!ih_json_copy(body.assigned_hub, c->result.assigned_hub,
                                   sizeof(c->result.assigned_hub)) ||
                    !ih_json_copy(body.device_id, c->result.device_id, sizeof(c->result.device_id))) {
                    goto malformed;
                }
                finish(c, DPS_PHASE_DONE, TMA_OK);
                return TMA_OK;
            }
            if (dps_status_is_terminal(body.status)) {
                goto refused;
            }
        }
        schedule_retry(c, &rt); /* operation accepted or still assigning */
        return TMA_OK;
    }
    if (iothub_status_retriable(rt.status)) {
        schedule_retry(c, &rt);
        return TMA_OK;
    }
refused:
    finish(c, DPS_PHASE_FAILED, DPS_E_REFUSED);
    return TMA_OK;
malformed:
    finish(c, DPS_PHASE_FAILED, D_ERR(TMA_C_MALFORMED));
    return TMA_OK;
}

tma_status dps_client_init(struct dps_client *c, const struct dps_client_config *cfg)
{
    struct mqtt_client_config mc;
    if (c == NULL || cfg == NULL || cfg->id_scope == NULL || cfg->id_scope[0] == '\0' ||
        cfg->registration_id == NULL || cfg->registration_id[0] == '\0' ||
        cfg->clock.now_ms == NULL || cfg->connector.open == NULL || cfg->connector.close == NULL ||
        cfg->cred_buf == NULL || cfg->cred_cap < 128u ||
        (cfg->sas_key != NULL && (cfg->hmac.hmac_sha256 == NULL || cfg->wall.now_ms == NULL))) {
        return D_ERR(TMA_C_BAD_PARAM);
    }
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    if (c->cfg.timeout_ms == 0u) {
        c->cfg.timeout_ms = 120000u;
    }
    if (c->cfg.sas_lifetime_s == 0u) {
        c->cfg.sas_lifetime_s = 3600u;
    }
    memset(&mc, 0, sizeof(mc));
    mc.clock = cfg->clock;
    mc.tx_buf = cfg->tx_buf;
    mc.tx_cap = cfg->tx_cap;
    mc.rx_buf = cfg->rx_buf;
    mc.rx_cap = cfg->rx_cap;
    mc.inflight = cfg->inflight;
    mc.inflight_count = cfg->inflight_count;
    mc.cb.user = c;
    mc.cb.on_publish = on_publish;
    return mqtt_client_init(&c->mqtt, &mc);
}

static tma_status do_connect(struct dps_client *c)
{
    struct mqtt_connect opts;
    char *p = c->cfg.cred_buf;
    size_t cap = c->cfg.cred_cap, n = 0, used;
    bool used_key = false;
    tma_status st;
    memset(&opts, 0, sizeof(opts));
    opts.client_id.ptr = (const uint8_t *)c->cfg.registration_id;
    opts.client_id.len = strlen(c->cfg.registration_id);
    st = dps_username(c->cfg.id_scope, c->cfg.registration_id, NULL, p, cap, &n);
    if (st != TMA_OK) {
        return st;
    }
    opts.user_name.ptr = (const uint8_t *)p;
    opts.user_name.len = n;
    used = n + 1u;
#if IOTHUB_CFG_SAS
    if (c->cfg.sas_key != NULL) {
        char *res = p + used;
        size_t rlen = 0;
        uint64_t expiry = (uint64_t)ih_ms_to_s(c->cfg.wall.now_ms(c->cfg.wall.ctx)) + c->cfg.sas_lifetime_s;
        st = dps_sas_resource(c->cfg.id_scope, c->cfg.registration_id, res, cap - used, &rlen);
        if (st != TMA_OK) {
            return st;
        }
        st = iothub_sas_password(res, c->cfg.sas_key, "registration", expiry, &c->cfg.hmac,
                                 res + rlen + 1u, cap - used - rlen - 1u, &n);
        if (st != TMA_OK) {
            return st;
        }
        opts.password.ptr = (const uint8_t *)(res + rlen + 1u);
        opts.password.len = n;
    }
#else
    if (c->cfg.sas_key != NULL) {
        return D_ERR(TMA_C_UNSUPPORTED);
    }
#endif
    opts.keep_alive_s = 60u;
    opts.clean_session = true; /* DPS sessions are never persistent (spec 6.1) */
    st = c->cfg.connector.open(c->cfg.connector.ctx, &c->tr, &used_key);
    if (st != TMA_OK) {
        return st;
    }
    c->transport_open = true;
    st = mqtt_client_connect(&c->mqtt, &c->tr, &opts);
    {
        volatile char *v = c->cfg.cred_buf;
        size_t i;
        for (i = 0u; i < c->cfg.cred_cap; i++) {
            v[i] = 0;
        }
    }
    return st == TMA_IN_PROGRESS ? TMA_OK : st;
}

static tma_status send_request(struct dps_client *c)
{
    struct mqtt_publish p;
    size_t tn = 0, bn = 0;
    tma_status st;
    c->rid++;
    memset(&p, 0, sizeof(p));
    if (c->operation_id[0] == '\0') {
        st = dps_register_topic(c->rid, c->cfg.cred_buf, c->cfg.cred_cap, &tn);
        if (st != TMA_OK) {
            return st;
        }
        st = dps_register_body(c->cfg.registration_id, c->cfg.payload_json, c->cfg.cred_buf + tn + 1u,
                               c->cfg.cred_cap - tn - 1u, &bn);
        if (st != TMA_OK) {
            return st;
        }
        p.payload.ptr = (const uint8_t *)(c->cfg.cred_buf + tn + 1u);
        p.payload.len = bn;
    } else {
        struct tma_span op;
        op.ptr = (const uint8_t *)c->operation_id;
        op.len = strlen(c->operation_id);
        st = dps_poll_topic(c->rid, op, c->cfg.cred_buf, c->cfg.cred_cap, &tn);
        if (st != TMA_OK) {
            return st;
        }
    }
    p.topic.ptr = (const uint8_t *)c->cfg.cred_buf;
    p.topic.len = tn;
    p.qos = 0;
    st = mqtt_client_publish(&c->mqtt, &p, 0u, NULL);
    if (st == TMA_OK) {
        c->phase = DPS_PHASE_WAIT_REPLY;
        c->sent_ms = now_ms(c);
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
    if (c->phase == DPS_PHASE_DONE || c->phase == DPS_PHASE_FAILED) {
        return c->final_status;
    }
    now = now_ms(c);
    if (c->phase == DPS_PHASE_START) {
        c->started_ms = now;
        st = do_connect(c);
        if (st != TMA_OK) {
            goto failed;
        }
        c->phase = DPS_PHASE_CONNECTING;
    }
    if (now - c->started_ms > c->cfg.timeout_ms) {
        st = D_ERR(TMA_C_TIMEOUT);
        goto failed;
    }
    st = mqtt_client_process(&c->mqtt);
    if (st < 0) {
        goto failed;
    }
    st = TMA_OK;
    if (c->phase == DPS_PHASE_CONNECTING && mqtt_client_state(&c->mqtt) == MQTT_STATE_CONNECTED) {
        struct mqtt_subscription sub;
        sub.filter.ptr = (const uint8_t *)DPS_RES_FILTER;
        sub.filter.len = strlen(DPS_RES_FILTER);
        sub.qos = 1;
        st = mqtt_client_subscribe(&c->mqtt, &sub, 1u, NULL);
        if (st == TMA_OK || st == TMA_WANT_WRITE) {
            st = send_request(c);
        }
    } else if ((c->phase == DPS_PHASE_WAIT_RETRY && (int32_t)(now - c->wait_until_ms) >= 0) ||
               (c->phase == DPS_PHASE_WAIT_REPLY && now - c->sent_ms > REPLY_TIMEOUT_MS)) {
        /* Retry time, or a QoS 0 request or reply got lost: ask again. */
        st = send_request(c);
    }
    if (st != TMA_OK) {
        goto failed;
    }
    if (c->phase == DPS_PHASE_DONE || c->phase == DPS_PHASE_FAILED) {
        dps_client_close(c);
        return c->final_status;
    }
    return TMA_IN_PROGRESS;
failed:
    dps_client_close(c);
    finish(c, DPS_PHASE_FAILED, st);
    return st;
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
    if (mqtt_client_state(&c->mqtt) != MQTT_STATE_DISCONNECTED) {
        (void)mqtt_client_disconnect(&c->mqtt);
    }
    if (c->transport_open) {
        c->cfg.connector.close(c->cfg.connector.ctx);
        c->transport_open = false;
    }
}
