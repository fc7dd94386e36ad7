/* Test device for the IoT Hub client integration tests: plain TCP to a
 * local mosquitto, telemetry through a file-backed outbox, prints C2D,
 * twin and method traffic. Output lines are parsed by the test scripts:
 *   C2D <n> body=<payload>      then "PROP <key>=<decoded value>" / "PROP <key>" lines
 *   EVENT connected|disconnected|auth_failed <status>
 *   DONE sent=.. acked=.. published=.. retransmitted=.. connects=.. attempts=.. dropped=.. refused=..
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iothub/client.h"
#include "iothub/dps_client.h"
#include "iothub/storage_file.h"
#include "tma/tcp.h"

struct opts {
    const char *host;
    uint16_t port;
    const char *device;
    const char *outbox;
    long count;
    long rate;        /* messages per second (0: all at once) */
    long run_ms;      /* stop after this long (0: when all acked) */
    long capacity;
    int props;
    int drop_oldest;
    int fsync;
    uint32_t subs;
    long retry_min_ms, retry_max_ms, jitter_ms;
    uint32_t window;
    long payload_size;
    const char *dps_scope;
    const char *dps_reg;
    const char *dps_payload;
};

static struct tma_tcp tcp;
static struct opts o;
static const char *hub_host = "localhub.test";
static volatile sig_atomic_t stop_flag;

static uint64_t mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static tma_status conn_open(void *ctx, struct tma_transport *out_tr, bool *out_used_key)
{
    tma_status st;
    (void)ctx;
    *out_used_key = false;
    tcp.recv_wait_ms = 1;
    st = tma_tcp_connect(&tcp, o.host, o.port, 2000);
    if (st != TMA_OK) {
        return st;
    }
    tcp.recv_wait_ms = 1;
    *out_tr = tma_tcp_transport(&tcp);
    return TMA_OK;
}

static void conn_close(void *ctx)
{
    (void)ctx;
    tma_tcp_close(&tcp);
}

static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    printf("EVENT %s %s\n",
           ev == IOTHUB_EVENT_CONNECTED ? "connected"
           : ev == IOTHUB_EVENT_DISCONNECTED ? "disconnected" : "auth_failed",
           tma_status_str(reason));
    fflush(stdout);
}

static unsigned long c2d_count;

static void on_c2d(void *user, struct tma_span bag, struct tma_span payload)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    char kd[512], vd[512];
    size_t kl, vl;
    (void)user;
    printf("C2D %lu body=%.*s\n", ++c2d_count, (int)payload.len, (const char *)payload.ptr);
    iothub_bag_iter_init(&it, bag);
    while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
        if (iothub_url_decode(k, kd, sizeof(kd), &kl) != TMA_OK ||
            iothub_url_decode(v, vd, sizeof(vd), &vl) != TMA_OK) {
            printf("PROP <undecodable>\n");
            continue;
        }
        if (has) {
            printf("PROP %s=%s\n", kd, vd);
        } else {
            printf("PROP %s\n", kd);
        }
    }
    fflush(stdout);
}

static struct iothub_client cl;

static void on_twin(void *user, const struct iothub_twin_msg *m, struct tma_span payload)
{
    (void)user;
    printf("TWIN kind=%s status=%u rid=%.*s version=%lld body=%.*s\n",
           m->kind == IOTHUB_TWIN_RESPONSE ? "response" : "desired", m->status, (int)m->rid.len,
           (const char *)m->rid.ptr, m->has_version ? (long long)m->version : -1LL, (int)payload.len,
           (const char *)payload.ptr);
    fflush(stdout);
}

static void on_method(void *user, struct tma_span name, struct tma_span rid, struct tma_span payload)
{
    static const char resp[] = "{\"result\":\"ok\"}";
    struct tma_span body = {(const uint8_t *)resp, sizeof(resp) - 1};
    tma_status st;
    (void)user;
    printf("METHOD name=%.*s rid=%.*s body=%.*s\n", (int)name.len, (const char *)name.ptr,
           (int)rid.len, (const char *)rid.ptr, (int)payload.len, (const char *)payload.ptr);
    st = iothub_client_method_respond(&cl, rid, 200, body);
    printf("METHOD_RESPONSE %s\n", tma_status_str(st));
    fflush(stdout);
}

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: iothub_testdev --port P --device D --outbox PATH [--host H] [--count N]\n"
                    "  [--rate N/s] [--run-ms T] [--capacity N] [--drop-oldest] [--props] [--fsync]\n"
                    "  [--c2d] [--twin] [--methods] [--retry-min-ms N] [--retry-max-ms N] [--jitter-ms N] [--window N]\n"
                    "  [--payload-size N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static uint8_t tx[8192], rx[8192], rec[4096];
    static char cred[2048];
    static struct mqtt_inflight infl[32];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_client_config cfg;
    struct iothub_client_stats s;
    struct iothub_outbox_stats os;
    uint64_t start, last_twin = 0;
    long next_msg, base;
    int i;
    tma_status rc;

    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.capacity = 100000;
    o.retry_min_ms = 100;
    o.retry_max_ms = 2000;
    o.jitter_ms = 100;
    o.window = 16;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (v == NULL) usage(); i++; } while (0)
        if (!strcmp(a, "--host")) { NEEDV(); o.host = v; }
        else if (!strcmp(a, "--port")) { NEEDV(); o.port = (uint16_t)atoi(v); }
        else if (!strcmp(a, "--device")) { NEEDV(); o.device = v; }
        else if (!strcmp(a, "--outbox")) { NEEDV(); o.outbox = v; }
        else if (!strcmp(a, "--count")) { NEEDV(); o.count = atol(v); }
        else if (!strcmp(a, "--rate")) { NEEDV(); o.rate = atol(v); }
        else if (!strcmp(a, "--run-ms")) { NEEDV(); o.run_ms = atol(v); }
        else if (!strcmp(a, "--capacity")) { NEEDV(); o.capacity = atol(v); }
        else if (!strcmp(a, "--retry-min-ms")) { NEEDV(); o.retry_min_ms = atol(v); }
        else if (!strcmp(a, "--retry-max-ms")) { NEEDV(); o.retry_max_ms = atol(v); }
        else if (!strcmp(a, "--jitter-ms")) { NEEDV(); o.jitter_ms = atol(v); }
        else if (!strcmp(a, "--window")) { NEEDV(); o.window = (uint32_t)atol(v); }
        else if (!strcmp(a, "--payload-size")) { NEEDV(); o.payload_size = atol(v); }
        else if (!strcmp(a, "--dps-scope")) { NEEDV(); o.dps_scope = v; }
        else if (!strcmp(a, "--dps-reg")) { NEEDV(); o.dps_reg = v; }
        else if (!strcmp(a, "--dps-payload")) { NEEDV(); o.dps_payload = v; }
        else if (!strcmp(a, "--drop-oldest")) { o.drop_oldest = 1; }
        else if (!strcmp(a, "--props")) { o.props = 1; }
        else if (!strcmp(a, "--fsync")) { o.fsync = 1; }
        else if (!strcmp(a, "--c2d")) { o.subs |= IOTHUB_SUB_C2D; }
        else if (!strcmp(a, "--twin")) { o.subs |= IOTHUB_SUB_TWIN; }
        else if (!strcmp(a, "--methods")) { o.subs |= IOTHUB_SUB_METHODS; }
        else { usage(); }
#undef NEEDV
    }
    if (o.dps_scope != NULL && o.dps_reg != NULL) {
        static struct dps_client dc;
        static char dps_hub[DPS_MAX_HUB], dps_dev[DPS_MAX_DEVICE_ID];
        struct dps_client_config dcfg;
        const struct dps_client_result *res;
        memset(&dcfg, 0, sizeof(dcfg));
        dcfg.id_scope = o.dps_scope;
        dcfg.registration_id = o.dps_reg;
        dcfg.payload_json = o.dps_payload;
        dcfg.conn.clock.now_ms = mono_ms;
        dcfg.conn.connector.open = conn_open;
        dcfg.conn.connector.close = conn_close;
        dcfg.timeout_ms = 20000;
        dcfg.conn.tx_buf = tx;
        dcfg.conn.tx_cap = sizeof(tx);
        dcfg.conn.rx_buf = rx;
        dcfg.conn.rx_cap = sizeof(rx);
        dcfg.conn.inflight = infl;
        dcfg.conn.inflight_count = 4;
        dcfg.conn.cred_buf = cred;
        dcfg.conn.cred_cap = sizeof(cred);
        rc = dps_client_init(&dc, &dcfg);
        while (rc == TMA_OK || rc == TMA_IN_PROGRESS) {
            rc = dps_client_step(&dc);
            if (rc == TMA_IN_PROGRESS) {
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
                rc = TMA_IN_PROGRESS;
            } else {
                break;
            }
        }
        res = dps_client_result(&dc);
        if (rc != TMA_OK) {
            printf("DPS failed %s status=%u error=%lld\n", tma_status_str(rc), res->last_status,
                   res->has_error_code ? (long long)res->error_code : 0LL);
            return 3;
        }
        snprintf(dps_hub, sizeof(dps_hub), "%s", res->assigned_hub);
        snprintf(dps_dev, sizeof(dps_dev), "%s", res->device_id);
        printf("DPS assigned hub=%s device=%s\n", dps_hub, dps_dev);
        fflush(stdout);
        o.device = dps_dev;
        hub_host = dps_hub;
    }
    if (o.port == 0 || o.device == NULL || o.outbox == NULL || o.window == 0 ||
        o.window >= sizeof(infl) / sizeof(infl[0]) || o.payload_size > 2048) {
        usage();
    }
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    signal(SIGPIPE, SIG_IGN);

    rc = iothub_file_storage_open(&fs, o.outbox, o.fsync != 0);
    if (rc != TMA_OK) {
        fprintf(stderr, "outbox: %s\n", tma_status_str(rc));
        return 1;
    }
    st = iothub_file_storage_iface(&fs);
    rc = iothub_outbox_init(&ob, &st, (uint32_t)o.capacity,
                            o.drop_oldest ? IOTHUB_OUTBOX_DROP_OLDEST : IOTHUB_OUTBOX_REFUSE_NEW);
    if (rc != TMA_OK) {
        fprintf(stderr, "outbox: %s\n", tma_status_str(rc));
        return 1;
    }
    printf("RECOVERED %u next=%u\n", iothub_outbox_count(&ob), ob.next_seq);

    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = hub_host;
    cfg.id.device_id = o.device;
    cfg.clock.now_ms = mono_ms;
    cfg.keep_alive_s = 30;
    cfg.subscriptions = o.subs;
    cfg.connector.open = conn_open;
    cfg.connector.close = conn_close;
    iothub_retry_policy_init(&cfg.retry);
    cfg.retry.min_ms = (uint32_t)o.retry_min_ms;
    cfg.retry.max_ms = (uint32_t)o.retry_max_ms;
    cfg.retry.jitter_max_ms = (uint32_t)o.jitter_ms;
    cfg.outbox = &ob;
    cfg.window = o.window;
    cfg.tx_buf = tx;
    cfg.tx_cap = sizeof(tx);
    cfg.rx_buf = rx;
    cfg.rx_cap = sizeof(rx);
    cfg.inflight = infl;
    cfg.inflight_count = o.window + 1;
    cfg.record_buf = rec;
    cfg.record_cap = sizeof(rec);
    cfg.cred_buf = cred;
    cfg.cred_cap = sizeof(cred);
    cfg.cb.on_event = on_event;
    cfg.cb.on_c2d = on_c2d;
    cfg.cb.on_twin = on_twin;
    cfg.cb.on_method = on_method;
    rc = iothub_client_init(&cl, &cfg);
    if (rc != TMA_OK) {
        fprintf(stderr, "client: %s\n", tma_status_str(rc));
        return 1;
    }
    /* Messages are numbered by outbox sequence, so a restarted device
     * continues where the killed one stopped. */
    next_msg = (long)ob.next_seq;
    base = next_msg;
    start = mono_ms(NULL);
    while (!stop_flag) {
        uint64_t now = mono_ms(NULL);
        long due = o.count;
        if (o.rate > 0) {
            due = base + (long)((now - start) * (uint64_t)o.rate / 1000u);
            if (due > o.count) {
                due = o.count;
            }
        }
        while (next_msg < due) {
            char payload[2100];
            char mid[32];
            int n = snprintf(payload, sizeof(payload), "msg-%06ld", next_msg);
            struct iothub_property props[4];
            size_t np = 0;
            uint32_t seq;
            if (o.payload_size > n) {
                memset(payload + n, 'x', (size_t)(o.payload_size - n));
                n = (int)o.payload_size;
            }
            if (o.props) {
                snprintf(mid, sizeof(mid), "m%ld", next_msg);
                props[np].key = IOTHUB_PROP_MESSAGE_ID; props[np++].value = mid;
                props[np].key = IOTHUB_PROP_CONTENT_TYPE; props[np++].value = "application/json;charset=utf-8";
                props[np].key = IOTHUB_PROP_CONTENT_ENCODING; props[np++].value = "utf-8";
                props[np].key = "alert level"; props[np++].value = "high&dry";
            }
            rc = iothub_client_send_telemetry(&cl, props, np, (const uint8_t *)payload, (size_t)n, &seq);
            if (rc != TMA_OK) {
                printf("SEND_FAILED %ld %s\n", next_msg, tma_status_str(rc));
                if (TMA_STATUS_CODE(rc) != TMA_C_FULL) {
                    stop_flag = 1;
                    break;
                }
            }
            next_msg++;
        }
        (void)iothub_client_step(&cl);
        if (o.subs & IOTHUB_SUB_TWIN && iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED &&
            last_twin == 0) {
            static const char patch[] = "{\"firmware\":\"1.0.0\",\"interval\":5}";
            struct tma_span p = {(const uint8_t *)patch, sizeof(patch) - 1};
            uint32_t rid = 0;
            last_twin = now;
            printf("TWIN_GET %s", tma_status_str(iothub_client_twin_get(&cl, &rid)));
            printf(" rid=%u\n", rid);
            printf("TWIN_PATCH %s", tma_status_str(iothub_client_twin_patch(&cl, p, &rid)));
            printf(" rid=%u\n", rid);
            fflush(stdout);
        }
        if (o.run_ms > 0 && now - start >= (uint64_t)o.run_ms) {
            break;
        }
        if (o.run_ms == 0 && next_msg >= o.count && iothub_outbox_count(&ob) == 0) {
            break;
        }
        if (iothub_client_state(&cl) != IOTHUB_STATE_CONNECTED) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    s = iothub_client_stats(&cl);
    os = iothub_outbox_stats(&ob);
    iothub_client_disconnect(&cl);
    printf("DONE sent=%ld acked=%u published=%u retransmitted=%u connects=%u attempts=%u "
           "dropped=%u refused=%u remaining=%u c2d=%lu\n",
           next_msg, s.acked, s.published, s.retransmitted, s.connects, s.connect_attempts,
           os.dropped, os.refused, iothub_outbox_count(&ob), c2d_count);
    iothub_file_storage_close(&fs);
    return 0;
}
