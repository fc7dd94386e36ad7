/* Fuzz target: the DPS client (src/iothub/dps_client.c, dps.c) as a state
 * machine, fed whole registrations by a hostile but mostly well-framed
 * service. The broker, the clock, the script reader and the checks on what
 * the client writes are fuzz_iothub_client.c's (included below); the DPS
 * ops add replies on "$dps/registrations/res/<status>/?$rid=..&retry-after=.."
 * built from templates with a fuzzed status, $rid, retry-after, tail and
 * JSON body, or any topic at all.
 *
 * Invariants, on top of the broker's (no crash, no sanitizer report, every
 * call returns; well-formed MQTT 3.1.1 out; no storm between connection
 * attempts; the key pacer):
 *  1. polling: a request (register or poll) goes only after the SUBSCRIBE
 *     on its connection; two requests on one connection are at least
 *     1 s apart (retry-after's floor), and at least 30 s apart unless a
 *     reply came in between (the re-ask of a lost QoS 0 request);
 *  2. "assigned" (TMA_OK) only when the service sent status 200 with a
 *     body saying "assigned", the hub and the device id the result holds;
 *  3. the registration ends: never TMA_IN_PROGRESS past timeout_ms; once
 *     ended the transport is closed, and every later step answers the
 *     same status without I/O;
 *  4. after the script, a service that answers every request ends it. */
#define FUZZ_BROKER_ONLY
#include "fuzz_iothub_client.c"

#include "iothub/dps_client.h"

static struct dps_client dc;
static uint8_t dtx[1024], drx[1024];
static char dcred[512];
static struct mqtt_inflight dinfl[3];

/* The service's side: requests seen, replies sent. */
static struct {
    uint32_t last_rid;        /* the $rid of the last request */
    uint64_t req_model;       /* when it came */
    uint32_t req_gen;         /* back_gen then */
    unsigned req_connects;    /* fb.connects then */
    unsigned requests;
    bool req_stalled;         /* the connection stalled a send before it */
    unsigned stalls_at_open;  /* fb.stalls when the transport was opened */
    unsigned replies;         /* $dps replies sent since the last request */
    bool auto_reply;          /* after the script: answer every request */
    char ok_bodies[8][160];   /* bodies sent under "$dps/registrations/res/200/" */
    unsigned n_ok;
} sv;

static void dps_reply(const char *topic, const char *body, size_t blen)
{
    static const char ok[] = "$dps/registrations/res/200/";
    uint8_t qos = (uint8_t)(sv.requests & 1u);
    fb_emit_publish((const uint8_t *)topic, strlen(topic), (const uint8_t *)body, blen, qos,
                    (uint16_t)(sv.requests + 1u));
    if (strncmp(topic, ok, sizeof(ok) - 1u) == 0 && blen < sizeof(sv.ok_bodies[0])) {
        char *b = sv.ok_bodies[sv.n_ok++ % 8u];
        memcpy(b, body, blen);
        b[blen] = '\0';
    }
    sv.replies++;
}

static const char assigned_body[] =
    "{\"operationId\":\"op2\",\"status\":\"assigned\",\"registrationState\":"
    "{\"assignedHub\":\"h.example\",\"deviceId\":\"d1\",\"status\":\"assigned\"}}";

/* Every request the client sends: invariant 1. */
static void dps_on_publish(const struct mqtt_publish *p)
{
    static const char reg[] = "$dps/registrations/PUT/iotdps-register/?$rid=";
    static const char poll[] = "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=";
    const char *t = (const char *)p->topic.ptr;
    size_t off, i;
    uint32_t rid = 0;
    if (p->topic.len > sizeof(reg) - 1u && memcmp(t, reg, sizeof(reg) - 1u) == 0) {
        off = sizeof(reg) - 1u;
    } else {
        CHECK(p->topic.len > sizeof(poll) - 1u && memcmp(t, poll, sizeof(poll) - 1u) == 0);
        off = sizeof(poll) - 1u;
    }
    CHECK(p->qos == 0u && fb.have_sub);
    for (i = off; i < p->topic.len && t[i] >= '0' && t[i] <= '9'; i++) {
        rid = rid * 10u + (uint32_t)(t[i] - '0');
    }
    /* Times are on the wire: a request the transport held back (a send
     * that took nothing or part) left later than the client's timer
     * started, so a connection with such a send before the last request
     * is not measured. */
    if (sv.requests > 0u && sv.req_connects == fb.connects && sv.req_gen == back_gen && !sv.req_stalled) {
        CHECK(model - sv.req_model + 64u >= 1000u);
        CHECK(sv.replies > 0u || model - sv.req_model + 64u >= 30000u);
    }
    TRACE("t=%llu request rid %u (connect %u, replies since the last %u)\n", (unsigned long long)model,
          (unsigned)rid, fb.connects, sv.replies);
    sv.requests++;
    sv.last_rid = rid;
    sv.req_model = model;
    sv.req_gen = back_gen;
    sv.req_connects = fb.connects;
    sv.req_stalled = fb.stalls != sv.stalls_at_open;
    sv.replies = 0u;
    if (sv.auto_reply) {
        char topic[80];
        snprintf(topic, sizeof(topic), "$dps/registrations/res/200/?$rid=%u", (unsigned)rid);
        dps_reply(topic, assigned_body, sizeof(assigned_body) - 1u);
    }
}

static void dps_on_open(void)
{
    sv.stalls_at_open = fb.stalls;
    TRACE("  client time %llu, pacer full at %llu\n", (unsigned long long)dc.hub.mono_ms,
          (unsigned long long)dc.hub.cfg.retry.pacer.full_at_ms);
}

/* A reply from templates with fuzzed fields. */
static void dps_publish_op(void)
{
    static const char *const bodies[8] = {
        "{\"operationId\":\"op1\",\"status\":\"assigning\"}",
        assigned_body,
        "{\"status\":\"failed\",\"errorCode\":401002,\"message\":\"no\"}",
        "{\"operationId\":\"op1\",\"status\":\"unassigned\"}",
        "{\"status\":\"assigned\",\"registrationState\":{\"assignedHub\":\"h x\",\"deviceId\":\"d\"}}",
        "{\"status\":\"disabled\"}",
        "{\"operationId\":\"\",\"status\":\"assigning\"}",
        "{\"status\":\"assigned\",\"registrationState\":{\"assignedHub\":\"h\\u0041\",\"deviceId\":\"d\\\"\"}}",
    };
    static const uint16_t statuses[8] = {200, 202, 429, 401, 500, 503, 0, 299};
    char topic[200], f1[24], body[160];
    uint8_t a = sc_byte(), b = sc_byte();
    size_t blen;
    uint32_t rid = (a & 8u) != 0u ? sv.last_rid : (uint32_t)sc_byte();
    sc_str(f1, sizeof(f1));
    switch (a & 3u) {
    case 0:
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%u/?$rid=%u&retry-after=%u%s", statuses[a >> 5],
                 (unsigned)rid, (unsigned)(b & 0x7fu) * ((b & 0x80u) != 0u ? 1000u : 1u), f1);
        break;
    case 1:
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%u/?$rid=%u%s", statuses[a >> 5], (unsigned)rid, f1);
        break;
    case 2:
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%s", f1);
        break;
    default:
        snprintf(topic, sizeof(topic), "%s", f1);
        break;
    }
    blen = sc_body((uint8_t *)body, bodies, b, (a & 4u) != 0u, 64u);
    TRACE("reply %s %.*s\n", topic, (int)blen, body);
    dps_reply(topic, body, blen);
}

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Invariant 2. */
static void check_assigned(void)
{
    const struct dps_client_result *r = dps_client_result(&dc);
    unsigned i;
    bool seen = false;
    CHECK(r->status == DPS_STATUS_ASSIGNED && r->last_status == 200u);
    CHECK(r->assigned_hub[0] != '\0' && r->device_id[0] != '\0');
    for (i = 0; i < 8u && i < sv.n_ok; i++) {
        const char *b = sv.ok_bodies[i];
        /* a body with escapes is taken on the words alone */
        if (contains(b, "\"assigned\"") &&
            (contains(b, "\\") || (contains(b, r->assigned_hub) && contains(b, r->device_id)))) {
            seen = true;
        }
    }
    CHECK(seen);
}

/* One step; false once the registration ended. Invariant 3. */
static uint64_t start_model;
static bool started;
static uint32_t timeout_ms;

static bool dps_step(void)
{
    tma_status st, again;
    fz_call_begin();
    if (!started) {
        start_model = model;
        started = true;
    }
    st = dps_client_step(&dc);
    if (st != TMA_IN_PROGRESS) {
        TRACE("t=%llu registration ended: %d, hub '%s', device '%s'\n", (unsigned long long)model, (int)st,
              dps_client_result(&dc)->assigned_hub, dps_client_result(&dc)->device_id);
    }
    if (st == TMA_IN_PROGRESS) {
        if (back_gen == 0u) {
            CHECK(model - start_model <= (uint64_t)timeout_ms + 64u);
        }
        return true;
    }
    CHECK(!fb.open);
    if (st == TMA_OK) {
        check_assigned();
    }
    fz_call_begin();
    again = dps_client_step(&dc);
    CHECK(again == st && !fb.open);
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dps_client_config cfg;
    uint8_t setup;
    int ops = 0, i;
    bool running = true;
    if (size < 1u) {
        return 0;
    }
    sc_data = data;
    sc_len = size;
    sc_pos = 0;
    setup = sc_byte();
    fb_reset();
    memset(&sv, 0, sizeof(sv));
    started = false;
    fb.auto_connack = (setup & 1u) != 0u;
    fb.auto_suback = (setup & 2u) != 0u;
    fb.auto_puback = true;
    fb.open_uses_key = (setup & 8u) != 0u;
    fb.on_publish = dps_on_publish;
    fb.on_open = dps_on_open;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id_scope = "0ne000FFFFF";
    cfg.registration_id = "reg-1";
    cfg.payload_json = (setup & 4u) != 0u ? "{\"m\":1}" : NULL;
    cfg.timeout_ms = (setup & 0x30u) == 0u ? 0u : (uint32_t)(setup >> 4 & 3u) * 40000u;
    timeout_ms = cfg.timeout_ms == 0u ? 120000u : cfg.timeout_ms;
    cfg.conn.clock.now_ms = fz_clock;
    cfg.conn.connector.open = fb_open;
    cfg.conn.connector.close = fb_close;
    TMA_TEST_CFG_BUFFERS(cfg.conn, dtx, drx, dinfl);
    cfg.conn.cred_buf = dcred;
    cfg.conn.cred_cap = sizeof(dcred);
    if ((setup & 0x40u) != 0u) {
        /* a back-off of its own, the pacer left zero: the chip's pacing
         * still holds (checked at every open) */
        cfg.conn.retry.min_ms = 200u;
        cfg.conn.retry.max_ms = 2000u;
        cfg.conn.retry.jitter_max_ms = 100u;
    }
    CHECK(dps_client_init(&dc, &cfg) == TMA_OK);
    fb.min_ms = dc.hub.cfg.retry.min_ms;
    while (running && sc_more() && ops++ < 600) {
        uint8_t op = sc_byte();
        if (op < 0x70u) {
            if (!fb_common_op((uint8_t)(op >> 4))) {
                CHECK(0);
            }
        } else if (op < 0xe0u) {
            dps_publish_op();
        } else {
            /* the application gives up; a later step says so */
            fz_call_begin();
            dps_client_close(&dc);
        }
        running = dps_step();
    }
    /* Invariant 4: a service that answers ends it, within the timeout. */
    fb.cut = false;
    fb.busy = fb.partial = 0u;
    fb.refuse_open = false;
    fb.auto_connack = fb.auto_suback = true;
    fb.connack_rc = 0u;
    fb.session_present = false;
    sv.auto_reply = true;
    for (i = 0; running && i < 2000; i++) {
        running = dps_step();
        clk += 997u;
        model += 997u;
    }
    CHECK(!running);
    return 0;
}
