/* Device twin and direct methods sample: reads the twin, reports
 * properties, follows desired-property updates (ignoring stale versions, as
 * the twin docs ask), reports the desired version it has seen
 * ("desiredVersion"), and answers direct methods. Twin requests live as long
 * as their connection: after a reconnect the sample reads the twin again
 * (desired updates pushed while it was away are not resent by the hub) and
 * reports again what the hub has not confirmed. A request the hub answers
 * as busy (429 throttled, 5xx: iothub_status_retriable()) is sent again
 * after a back-off, 1 s doubling up to 60 s, back to none after a success;
 * one refused for good (another 4xx) is not sent again. */
#include <stdio.h>
#include <string.h>

#include "iothub/json.h"
#include "sample_common.h"

struct state {
    struct sample_hub *hub;
    bool need_get, need_patch; /* twin read / initial report still to send */
    uint64_t retry_at_ms;      /* no twin request before this (busy answer) */
    uint32_t backoff_ms;       /* 0, or the last back-off after a busy answer */
    uint32_t get_rid, patch_rid;
    int64_t desired_version;
    bool have_twin;
    uint32_t ver_rid;          /* PATCH reporting desiredVersion, while pending */
    bool ver_pending;
    int64_t ver_sent, ver_done; /* desiredVersion sent / confirmed or refused for good (-1: none) */
};

static struct state s;

static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    printf("%s: %s\n", sample_event_name(ev), iothub_reason_text(reason));
    if (ev == IOTHUB_EVENT_CONNECTED) {
        /* read the twin and report again after every (re)connect */
        s.need_get = true;
        s.need_patch = true;
        s.ver_pending = false; /* requests of the old connection are gone */
    }
    fflush(stdout);
}

/* The answer @p status to one of our twin requests: true when the request
 * is to be sent again, after the back-off this schedules (busy hub). */
static bool retry_after_answer(uint16_t status)
{
    uint64_t now;
    if (status < 300u) {
        s.backoff_ms = 0u;
        return false;
    }
    if (!iothub_status_retriable(status)) {
        printf("  not sent again (status %u is final)\n", status);
        return false;
    }
    now = sample_mono_ms(NULL);
    if (s.retry_at_ms <= now) { /* a new round: the answers of one round back off once */
        s.backoff_ms = s.backoff_ms == 0u ? 1000u : s.backoff_ms >= 30000u ? 60000u : s.backoff_ms * 2u;
        s.retry_at_ms = now + s.backoff_ms;
    }
    printf("  sent again in %u ms (hub busy)\n", (unsigned)(s.retry_at_ms - now));
    return true;
}

static void on_twin(void *user, const struct iothub_twin_msg *m, struct tma_span body)
{
    int64_t v = 0;
    (void)user;
    if (m->kind == IOTHUB_TWIN_RESPONSE) {
        if (m->rid_is_number && m->rid_number == s.get_rid && !s.need_get) {
            if (m->status == 200) {
                if (iothub_twin_desired_version(body, true, &v) == TMA_OK) {
                    s.desired_version = v;
                    printf("desired version now %lld (twin read)\n", (long long)v);
                }
                s.have_twin = true;
                fputs("twin: ", stdout);
                sample_put(body.ptr, body.len);
                putchar('\n');
            } else {
                printf("twin read failed with status %u\n", m->status);
            }
            s.need_get = retry_after_answer(m->status);
        } else if (s.ver_pending && m->rid_is_number && m->rid_number == s.ver_rid) {
            s.ver_pending = false;
            printf("reported desiredVersion %lld: status %u\n", (long long)s.ver_sent, m->status);
            if (!retry_after_answer(m->status)) {
                s.ver_done = s.ver_sent;
            }
        } else if (m->rid_is_number && m->rid_number == s.patch_rid && !s.need_patch) {
            printf("reported properties %s (status %u, version %lld)\n",
                   m->status == 204 ? "accepted" : "refused", m->status,
                   m->has_version ? (long long)m->version : -1LL);
            s.need_patch = retry_after_answer(m->status);
        } else if (m->status >= 400) {
            fputs("twin request ", stdout);
            sample_put(m->rid.ptr, m->rid.len);
            printf(" failed with status %u%s\n", m->status,
                   iothub_status_retriable(m->status) ? " (retriable)" : "");
        }
    } else {
        if (!m->has_version || (s.have_twin && m->version <= s.desired_version)) {
            printf("desired update ignored (version %lld not newer than %lld)\n",
                   (long long)m->version, (long long)s.desired_version);
        } else {
            s.desired_version = m->version;
            printf("desired update, version %lld: ", (long long)m->version);
            sample_put(body.ptr, body.len);
            putchar('\n');
            printf("desired version now %lld (update)\n", (long long)m->version);
        }
    }
    fflush(stdout);
}

static void on_method(void *user, struct tma_span name, struct tma_span rid, struct tma_span payload)
{
    static const char ok[] = "{\"result\":\"scheduled\"}";
    static const char unknown[] = "{\"error\":\"unknown method\"}";
    struct tma_span body;
    uint16_t status;
    tma_status st;
    (void)user;
    fputs("method ", stdout);
    sample_put(name.ptr, name.len);
    fputs(" called with ", stdout);
    sample_put(payload.ptr, payload.len);
    putchar('\n');
    if (name.len == 6 && memcmp(name.ptr, "reboot", 6) == 0) {
        body.ptr = (const uint8_t *)ok;
        body.len = sizeof(ok) - 1;
        status = 200;
    } else {
        body.ptr = (const uint8_t *)unknown;
        body.len = sizeof(unknown) - 1;
        status = 404;
    }
    st = iothub_client_method_respond(&s.hub->client, rid, status, body);
    printf("  answered %u: %s\n", status, tma_status_str(st));
    fflush(stdout);
}

static void tick(void *ctx)
{
    static const char report[] = "{\"sample\":\"twin_methods\",\"firmware\":\"0.1.0\"}";
    (void)ctx;
    if (iothub_client_state(&s.hub->client) != IOTHUB_STATE_CONNECTED || sample_mono_ms(NULL) < s.retry_at_ms) {
        return;
    }
    /* a call that fails (no room now) is tried again on the next tick */
    if (s.need_get && iothub_client_twin_get(&s.hub->client, &s.get_rid) == TMA_OK) {
        s.need_get = false;
    }
    if (s.need_patch) {
        struct tma_span p = {(const uint8_t *)report, sizeof(report) - 1};
        if (iothub_client_twin_patch(&s.hub->client, p, &s.patch_rid) == TMA_OK) {
            s.need_patch = false;
        }
    }
    if (s.have_twin && !s.ver_pending && s.desired_version != s.ver_done) {
        char patch[48];
        struct tma_span p;
        int n = snprintf(patch, sizeof(patch), "{\"desiredVersion\":%lld}", (long long)s.desired_version);
        p.ptr = (const uint8_t *)patch;
        p.len = (size_t)n;
        if (iothub_client_twin_patch(&s.hub->client, p, &s.ver_rid) == TMA_OK) {
            s.ver_pending = true;
            s.ver_sent = s.desired_version;
        }
    }
}

int main(int argc, char **argv)
{
    static struct sample_net net;
    static struct sample_hub hub;
    struct sample_opts o;
    struct iothub_callbacks cb;
    int rc;
    sample_parse(argc, argv, &o, "iothub-twin-methods",
                 "Reads the device twin, reports properties, prints desired-property updates and\n"
                 "answers direct methods ('reboot' -> 200, others -> 404). Runs --run-ms, or until\n"
                 "interrupted when 0. Sends no telemetry: --count and --interval-ms do not apply.", false);
    if (o.count_given) {
        fprintf(stderr, "iothub-twin-methods: --count and --interval-ms are for the samples that send "
                        "telemetry; this one sends none (see --help)\n");
        return 2;
    }
    if (o.sas_key == NULL && sample_chip_open(&net, &o) != 0) {
        sample_net_close(&net);
        return 1;
    }
    if (sample_tls_setup(&net, &o, o.host, o.port) != 0) {
        sample_net_close(&net);
        return 1;
    }
    memset(&cb, 0, sizeof(cb));
    cb.on_event = on_event;
    cb.on_twin = on_twin;
    cb.on_method = on_method;
    cb.on_c2d = NULL;
    if (sample_hub_init(&hub, &net, &o, o.host, o.device_id, IOTHUB_SUB_TWIN | IOTHUB_SUB_METHODS, &cb) != 0) {
        sample_net_close(&net);
        return 1;
    }
    s.hub = &hub;
    s.ver_done = -1;
    rc = sample_run(&hub, &o, NULL, NULL, tick, NULL);
    sample_hub_close(&hub);
    sample_net_close(&net);
    return rc;
}
