/* DPS sample: provision with the chip's X.509 certificate (registration id =
 * certificate CN) or a symmetric key, then connect to the assigned hub as the
 * assigned device and send --count telemetry messages. With --assignment
 * FILE the assignment is kept: later runs go straight to the hub (DPS is for
 * first start-up, not every boot) and register again only when that hub
 * refuses the device (deleted, moved to another hub). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iothub/dps_client.h"
#include "mqtt/packet.h"
#include "sample_args.h"
#include "sample_common.h"

struct state {
    struct sample_hub *hub;
    const struct sample_opts *o;
    long queued;
    long not_stored; /* messages the outbox refused: the run is not a success */
    uint64_t next_ms;
};

static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    printf("hub %s: %s\n", sample_event_name(ev), iothub_reason_text(reason));
    fflush(stdout);
}

static void tick(void *ctx)
{
    struct state *s = ctx;
    uint64_t now = sample_mono_ms(NULL);
    if (s->queued < s->o->count && now >= s->next_ms) {
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"provisioned\":true,\"n\":%ld}", s->queued);
        tma_status st = iothub_client_send_telemetry(&s->hub->client, NULL, 0, (const uint8_t *)body, (size_t)n, NULL);
        printf("message %ld: %s\n", s->queued, tma_status_str(st));
        if (st != TMA_OK) {
            fprintf(stderr, "iothub-dps: message %ld not stored: %s\n", s->queued, tma_status_str(st));
            s->not_stored++;
        }
        s->queued++;
        s->next_ms = now + (uint64_t)s->o->interval_ms;
    }
}

static bool done(void *ctx)
{
    struct state *s = ctx;
    return s->queued >= s->o->count && iothub_outbox_count(&s->hub->outbox) == 0;
}

/* One whole line into out (cap bytes with the NUL), without its "\n" or
 * "\r\n"; the last line may lack its end. False when there is no line or
 * it does not fit (it would otherwise be read in pieces). */
static bool read_line(FILE *f, char *out, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (c == '\r') {
            int d = fgetc(f);
            if (d == '\n' || d == EOF) {
                c = d;
                break;
            }
            (void)ungetc(d, f);
        }
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = (char)c;
    }
    if ((c == EOF && n == 0) || ferror(f)) {
        return false;
    }
    out[n] = '\0';
    return true;
}

/* The cached assignment: two lines, hub host and device id. */
static bool load_assignment(const char *path, char *hub, size_t hcap, char *dev, size_t dcap)
{
    FILE *f = fopen(path, "r");
    bool ok;
    if (f == NULL) {
        if (errno != ENOENT) {
            /* not "no assignment yet": say why it is not used */
            fprintf(stderr, "iothub-dps: cannot read %s: %s; registering\n", path, strerror(errno));
        }
        return false;
    }
    /* Two whole lines: a line longer than its buffer would be read in
     * pieces, its tail taken for the device id (a cut hub name is still a
     * host name: another hub). Nothing after them. A device id of the
     * longest length (128, DPS_MAX_DEVICE_ID - 1) fits, with its line end. */
    ok = read_line(f, hub, hcap) && read_line(f, dev, dcap) && fgetc(f) == EOF;
    fclose(f);
    if (ok) {
        ok = sample_host_ok(hub) && sample_id_ok(dev);
    }
    if (!ok) {
        fprintf(stderr, "iothub-dps: %s is not an assignment (two lines: hub, device id); registering\n",
                path);
    }
    return ok;
}

static void save_assignment(const char *path, const char *hub, const char *dev)
{
    char tmp[1024];
    FILE *f;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%s\n%s\n", hub, dev) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "iothub-dps: cannot write %s; the next run registers again\n", path);
        remove(tmp);
        return;
    }
    chmod(path, 0600);
}

/* Register with DPS; on success the assignment is in hub_host / device_id. */
static int provision(struct sample_net *net, struct sample_opts *o, char *hub_host, char *device_id)
{
    static struct dps_client dc;
    struct dps_client_config cfg;
    const struct dps_client_result *res;
    tma_status st;
    sample_tls_close(net);
    if (sample_tls_setup(net, o, o->dps_host, o->port) != 0) {
        return 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.id_scope = o->id_scope;
    cfg.registration_id = o->registration_id;
    cfg.timeout_ms = (uint32_t)o->timeout_ms;
    /* the hub connection's settings and buffers; dps_client_init() fixes
     * what DPS needs (keep-alive, clean session, no outbox) */
    sample_conn_config(&cfg.conn, net, o);
    st = dps_client_init(&dc, &cfg);
    if (st != TMA_OK) {
        /* dps_client_init() checks only the configuration: with the samples'
         * fixed buffers that leaves the id scope and the registration id */
        fprintf(stderr,
                "provisioning failed: registration id '%s' or id scope '%s' refused (%s); a "
                "registration id is 1..128 letters, digits and - . _ : (for X.509 the "
                "certificate's CN)\n",
                o->registration_id, o->id_scope, tma_status_str(st));
        return 1;
    }
    printf("registering %s with scope %s at %s\n", o->registration_id, o->id_scope, o->dps_host);
    while (st == TMA_OK || st == TMA_IN_PROGRESS) {
        st = dps_client_step(&dc);
        if (st != TMA_IN_PROGRESS) {
            break;
        }
        sample_sleep_ms(5);
        if (sample_stop) {
            dps_client_close(&dc);
            return 1;
        }
    }
    res = dps_client_result(&dc);
    if (st != TMA_OK) {
        if (st == DPS_E_REFUSED && res->status == DPS_STATUS_DISABLED) {
            fprintf(stderr, "provisioning refused: the registration is disabled in DPS (its enrollment "
                            "or enrollment group was disabled)\n");
        } else if (st == DPS_E_REFUSED && res->status == DPS_STATUS_FAILED) {
            fprintf(stderr, "provisioning failed: DPS reports the registration as failed\n");
        } else if (st == MQTT_E_CONNACK_NOT_AUTHORIZED) {
            fprintf(stderr, "provisioning refused: DPS did not accept the device (CONNACK 5, not authorized): "
                            "check the id scope '%s', that an enabled enrollment or enrollment group covers "
                            "registration id '%s', and the certificate or key it expects\n",
                    o->id_scope, o->registration_id);
        } else if (res->last_status != 0) {
            fprintf(stderr, "provisioning failed: %s (last DPS status %u%s)\n", tma_status_str(st),
                    res->last_status, res->has_error_code ? ", see errorCode" : "");
        } else if (st == TMA_ERR(TMA_LAYER_DPS, TMA_C_TIMEOUT) && iothub_client_last_reason(&dc.hub) != TMA_OK) {
            /* never answered: say why the connection kept failing */
            fprintf(stderr, "provisioning failed: no answer from DPS within %ld ms; last connection error: %s\n",
                    o->timeout_ms, tma_status_str(iothub_client_last_reason(&dc.hub)));
        } else {
            fprintf(stderr, "provisioning failed: %s\n", tma_status_str(st));
        }
        if (res->has_error_code) {
            fprintf(stderr, "  errorCode %lld\n", (long long)res->error_code);
        }
        return 1;
    }
    snprintf(hub_host, DPS_MAX_HUB, "%s", res->assigned_hub);
    snprintf(device_id, DPS_MAX_DEVICE_ID, "%s", res->device_id);
    if (!sample_host_ok(hub_host) || !sample_id_ok(device_id)) {
        /* never connected to, printed raw or written to --assignment */
        fprintf(stderr, "provisioning failed: DPS assigned a hub name or device id that is not one (not kept)\n");
        return 1;
    }
    printf("assigned to %s as %s\n", hub_host, device_id);
    if (o->assignment != NULL) {
        save_assignment(o->assignment, hub_host, device_id);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct sample_net net;
    static struct sample_hub hub;
    static char hub_host[DPS_MAX_HUB], device_id[DPS_MAX_DEVICE_ID];
    struct sample_opts o;
    struct iothub_callbacks cb;
    struct state s;
    bool cached;
    int rc = 1;
    sample_parse(argc, argv, &o, "iothub-dps",
                 "Registers with the Device Provisioning Service, then connects to the assigned\n"
                 "hub and sends --count messages.", true);
    if (o.sas_key == NULL && sample_chip_open(&net, &o) != 0) {
        sample_net_close(&net);
        return 1;
    }
    if (o.registration_id == NULL) {
        if (net.cn[0] == '\0') {
            fprintf(stderr, "iothub-dps: --registration-id is needed (no certificate CN to use)\n");
            sample_net_close(&net);
            return 2;
        }
        o.registration_id = net.cn;
    }
    cached = o.assignment != NULL &&
             load_assignment(o.assignment, hub_host, sizeof(hub_host), device_id, sizeof(device_id));
    memset(&s, 0, sizeof(s));
    s.hub = &hub;
    s.o = &o;
    memset(&cb, 0, sizeof(cb));
    cb.on_event = on_event;
    for (;;) {
        bool refused;
        if (cached) {
            printf("assignment from %s: %s as %s\n", o.assignment, hub_host, device_id);
        } else if (provision(&net, &o, hub_host, device_id) != 0) {
            break;
        }
        /* A new TLS client for the hub: other host name, same chip key and
         * certificate (already read; no more object reads). */
        sample_tls_close(&net);
        if (sample_tls_setup(&net, &o, hub_host, o.port) != 0 ||
            sample_hub_init(&hub, &net, &o, hub_host, device_id, IOTHUB_SUB_C2D, &cb) != 0) {
            break;
        }
        rc = sample_run(&hub, &o, done, &s, tick, &s);
        if (rc == 0 && s.not_stored != 0) {
            fprintf(stderr, "iothub-dps: %ld of %ld message(s) were not stored: not sent\n", s.not_stored, s.queued);
            rc = 1;
        }
        refused = iothub_client_state(&hub.client) == IOTHUB_STATE_AUTH_FAILED;
        sample_hub_close(&hub);
        if (rc != 0 && refused && cached && !sample_stop) {
            /* the hub no longer knows the device: ask DPS again, once
             * (messages queued meanwhile stay in the outbox) */
            printf("the hub refused the cached assignment: registering again\n");
            cached = false;
            rc = 1;
            continue;
        }
        break;
    }
    sample_net_close(&net);
    return rc;
}
