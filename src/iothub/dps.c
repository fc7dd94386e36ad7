/* DPS over MQTT: pure functions (spec 6). */
#include "iothub/dps.h"

#include <stddef.h>
#include <string.h>

#include "iothub/iothub.h"
#include "iothub/json.h"
#include "dps_rx.h"
#include "topic.h"
#include "wbuf.h"

#define E_BAD IOTHUB_E(TMA_C_BAD_PARAM)
#define D_MAL TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED)
#define I_MAL IOTHUB_E(TMA_C_MALFORMED)
#define D_NF TMA_ERR(TMA_LAYER_DPS, TMA_C_NOT_FOUND)

static bool out_ok(const char *out, size_t cap, const size_t *out_len)
{
    return out_len != NULL && (out != NULL || cap == 0u);
}

static bool str_ok(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* "{scope}/registrations/{regId}": the SAS resource and the start of the user name */
static void reg_prefix(struct wbuf *w, const struct iothub_identity *id)
{
    wb_str(w, id->host);
    wb_str(w, "/registrations/");
    wb_str(w, id->device_id);
}

tma_status dps_username(const char *id_scope, const char *registration_id,
                        const char *client_version, char *out, size_t cap, size_t *out_len)
{
    struct iothub_identity id;
    if (!str_ok(id_scope) || !str_ok(registration_id) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    memset(&id, 0, sizeof(id));
    id.host = id_scope;
    id.device_id = registration_id;
    return ih_dps_user_name(&id, client_version, NULL, out, cap, out_len);
}

tma_status ih_dps_user_name(const struct iothub_identity *id, const char *client_version,
                            const char *model_id, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    (void)model_id;
    if (client_version == NULL) {
        client_version = ih_client_type;
    }
    wb_init(&w, out, cap);
    reg_prefix(&w, id);
    wb_str(&w, "/api-version=" DPS_API_VERSION "&ClientVersion=");
    wb_encs(&w, client_version);
    return wb_finish(&w, out_len);
}

tma_status dps_sas_resource(const char *id_scope, const char *registration_id, char *out,
                            size_t cap, size_t *out_len)
{
    struct iothub_identity id;
    if (!str_ok(id_scope) || !str_ok(registration_id) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    memset(&id, 0, sizeof(id));
    id.host = id_scope;
    id.device_id = registration_id;
    return ih_dps_sas_resource(&id, out, cap, out_len);
}

tma_status ih_dps_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                               size_t *out_len)
{
    struct wbuf w;
    wb_init(&w, out, cap);
    reg_prefix(&w, id);
    return wb_finish(&w, out_len);
}

tma_status dps_register_topic(uint32_t rid, char *out, size_t cap, size_t *out_len)
{
    return ih_rid_topic("$dps/registrations/PUT/iotdps-register/?$rid=", rid, out, cap, out_len);
}

tma_status dps_poll_topic(uint32_t rid, struct tma_span operation_id, char *out, size_t cap,
                          size_t *out_len)
{
    if (!out_ok(out, cap, out_len) || operation_id.ptr == NULL || operation_id.len == 0u) {
        return E_BAD;
    }
    return ih_dps_poll_topic(rid, operation_id, out, cap, out_len);
}

tma_status ih_dps_poll_topic(uint32_t rid, struct tma_span operation_id, char *out, size_t cap,
                             size_t *out_len)
{
    struct wbuf w;
    wb_init(&w, out, cap);
    wb_str(&w, "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=");
    wb_u32(&w, rid);
    wb_str(&w, "&operationId=");
    wb_enc(&w, (const char *)operation_id.ptr, operation_id.len);
    return wb_finish(&w, out_len);
}

tma_status dps_register_body(const char *registration_id, const char *payload_json, char *out,
                             size_t cap, size_t *out_len)
{
    if (!str_ok(registration_id) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    return ih_dps_register_body(registration_id, payload_json, out, cap, out_len);
}

tma_status ih_dps_register_body(const char *registration_id, const char *payload_json, char *out,
                                size_t cap, size_t *out_len)
{
    struct wbuf w;
    if (payload_json != NULL) {
        struct tma_span p;
        p.ptr = (const uint8_t *)payload_json;
        p.len = strlen(payload_json);
        if (iothub_json_validate(p) != TMA_OK) {
            return D_MAL;
        }
    }
    wb_init(&w, out, cap);
    wb_str(&w, "{\"registrationId\":");
    wb_json_str(&w, registration_id);
    if (payload_json != NULL) {
        wb_str(&w, ",\"payload\":");
        wb_str(&w, payload_json);
    }
    wb_putc(&w, '}');
    return wb_finish(&w, out_len);
}

tma_status dps_parse_response_topic(struct tma_span topic, struct dps_response_topic *out_res)
{
    if (out_res == NULL || (topic.ptr == NULL && topic.len > 0u)) {
        return E_BAD;
    }
    memset(out_res, 0, sizeof(*out_res));
    return ih_dps_topic(topic, out_res);
}

tma_status ih_dps_topic(struct tma_span topic, struct dps_response_topic *out_res)
{
    struct ih_topic t;
    if (!ih_eat(&topic, DPS_RES_FILTER)) {
        return D_NF;
    }
    /* retry-after of up to 19 digits is read; one beyond 32 bits is
     * reported as UINT32_MAX (a wait longer than anyone applies), not as a
     * malformed reply. */
    if (!ih_topic_parse(topic, IH_SEG_STATUS, "retry-after", UINT64_MAX, &t) || t.rid.len == 0u) {
        return D_MAL;
    }
    out_res->status = t.status;
    out_res->rid = t.rid;
    out_res->has_retry_after = t.has_num;
    out_res->retry_after_s = t.num > UINT32_MAX ? UINT32_MAX : (uint32_t)t.num;
    return TMA_OK;
}

/* Names of enum dps_status from DPS_STATUS_UNASSIGNED on, in enum order,
 * one after the other (one string: no pointer table). */
static const char status_names[] = "unassigned\0assigning\0assigned\0failed\0disabled";

static enum dps_status status_of(const struct iothub_json_token *t)
{
    const char *p = status_names;
    unsigned i;
    for (i = DPS_STATUS_UNASSIGNED; i <= DPS_STATUS_DISABLED; i++) {
        if (ih_json_name_is(t, p)) {
            return (enum dps_status)i;
        }
        while (*p++ != '\0') {
        }
    }
    return DPS_STATUS_UNKNOWN;
}

/* The members we read: the top level's are fields[0..N_TOP), those of
 * registrationState fields[STATE_FROM..); errorCode, in both, sits where the
 * two ranges overlap. Strings may be null (left empty). */
enum { F_STRING, F_STATUS, F_INT, F_STATE };

/* The member names, one array each so that a table entry names its member
 * with a one-byte offset (3-byte entries instead of a pointer each). */
static const struct field_names {
    char operation_id[sizeof("operationId")];
    char status[sizeof("status")];
    char error_code[sizeof("errorCode")];
    char message[sizeof("message")];
    char registration_state[sizeof("registrationState")];
    char assigned_hub[sizeof("assignedHub")];
    char device_id[sizeof("deviceId")];
    char substatus[sizeof("substatus")];
    char error_message[sizeof("errorMessage")];
} field_names = {"operationId", "status",   "errorCode", "message",     "registrationState",
                 "assignedHub", "deviceId", "substatus", "errorMessage"};

struct dps_field {
    uint8_t name; /* offsetof(struct field_names, member) */
    uint8_t kind;
    uint8_t off; /* offsetof(struct dps_response, member) for F_STRING, F_STATUS */
};

#define NAME(m) ((uint8_t)offsetof(struct field_names, m))
#define OFF(m) ((uint8_t)offsetof(struct dps_response, m))

enum { N_TOP = 5, STATE_FROM = 4, N_FIELDS = 10 };
static const struct dps_field fields[N_FIELDS] = {
    /* top level only */
    {NAME(operation_id), F_STRING, OFF(operation_id)},
    {NAME(status), F_STATUS, OFF(status)},
    {NAME(message), F_STRING, OFF(message)},
    {NAME(registration_state), F_STATE, 0u},
    /* both */
    {NAME(error_code), F_INT, 0u},
    /* registrationState only */
    {NAME(status), F_STATUS, OFF(registration_status)},
    {NAME(assigned_hub), F_STRING, OFF(assigned_hub)},
    {NAME(device_id), F_STRING, OFF(device_id)},
    {NAME(substatus), F_STRING, OFF(substatus)},
    {NAME(error_message), F_STRING, OFF(message)},
};

/* Every name fits a one-byte offset. */
typedef char field_names_fit[sizeof(struct field_names) <= 256u ? 1 : -1];

/* Reads the members of the table (ih_json_walk() callback; dps_rx.h). */
tma_status ih_dps_member(void *ctx, uint32_t depth, const struct iothub_json_token *name,
                         const struct iothub_json_token *v)
{
    struct ih_dps_walk *w = ctx;
    const struct dps_field *f = NULL;
    size_t i, end = N_TOP;
    if (name == NULL) {
        return v->kind == IOTHUB_JSON_BEGIN_OBJECT ? TMA_OK : I_MAL;
    }
    if (depth == 1u) {
        i = 0u;
        w->in_state = false;
    } else if (depth == 2u && w->in_state) {
        i = STATE_FROM;
        end = N_FIELDS;
    } else {
        return TMA_OK; /* nested deeper, or not in registrationState */
    }
    for (; i < end && f == NULL; i++) {
        if (ih_json_name_is(name, (const char *)&field_names + fields[i].name)) {
            f = &fields[i];
        }
    }
    if (f == NULL) {
        return TMA_OK; /* not ours: the walk skips it */
    }
    if (f->kind == F_STATE) {
        w->in_state = v->kind == IOTHUB_JSON_BEGIN_OBJECT;
        if (!w->in_state && v->kind != IOTHUB_JSON_NULL) {
            return I_MAL;
        }
    } else if (f->kind == F_INT) {
        if (v->kind != IOTHUB_JSON_NUMBER ||
            !ih_json_int64(v->text, &w->res->error_code)) {
            return I_MAL;
        }
        w->res->has_error_code = true;
    } else if (v->kind == IOTHUB_JSON_STRING) {
        uint8_t *dst = (uint8_t *)w->res + f->off;
        if (f->kind == F_STATUS) {
            *(enum dps_status *)(void *)dst = status_of(v);
        } else {
            *(struct tma_span *)(void *)dst = v->text;
        }
    } else if (f->kind == F_STATUS || v->kind != IOTHUB_JSON_NULL) {
        return I_MAL;
    }
    return TMA_OK;
}

tma_status dps_parse_response(struct tma_span body, struct dps_response *out_res)
{
    if (out_res == NULL) {
        return E_BAD;
    }
    return ih_dps_parse(body, out_res);
}

bool dps_status_is_terminal(enum dps_status s)
{
    return s == DPS_STATUS_ASSIGNED || s == DPS_STATUS_FAILED || s == DPS_STATUS_DISABLED;
}
