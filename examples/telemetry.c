/* Telemetry sample: N messages at an interval through the persistent
 * outbox, every C2D message printed (the seed's ESP32 sample, with the key
 * in the chip and nothing lost across reconnects or restarts). Run as a
 * module (ModuleId=) it prints the messages an IoT Edge hub routes to the
 * module's inputs the same way, naming the input. */
#include <stdio.h>
#include <string.h>

#include "sample_common.h"

struct state {
    struct sample_hub *hub;
    const struct sample_opts *o;
    long queued;
    long not_stored;  /* messages the outbox refused: the run is not a success */
    uint64_t next_ms;
    uint32_t acked;
};

static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    if (ev == IOTHUB_EVENT_CONNECTED) {
        printf("connected\n");
    } else {
        printf("%s: %s\n", sample_event_name(ev), iothub_reason_text(reason));
    }
    fflush(stdout);
}

static void on_c2d(void *user, struct tma_span bag, struct tma_span payload)
{
    (void)user;
    sample_print_c2d(bag, payload);
}

static void on_input(void *user, struct tma_span input, struct tma_span bag, struct tma_span payload)
{
    (void)user;
    sample_print_input(input, bag, payload);
}

static void on_acked(void *user, uint32_t seq)
{
    struct state *s = user;
    s->acked++;
    printf("message %u acknowledged by the hub\n", seq);
    fflush(stdout);
}

static void tick(void *ctx)
{
    struct state *s = ctx;
    uint64_t now = sample_mono_ms(NULL);
    if (s->queued < s->o->count && now >= s->next_ms) {
        char body[128], mid[32];
        struct iothub_property props[3];
        uint32_t seq = 0;
        tma_status st;
        int n = snprintf(body, sizeof(body), "{\"n\":%ld,\"temperature\":%.1f}", s->queued,
                         20.0 + (double)(s->queued % 10) / 2.0);
        snprintf(mid, sizeof(mid), "%ld-%llu", s->queued, (unsigned long long)sample_wall_ms(NULL));
        props[0].key = IOTHUB_PROP_MESSAGE_ID;
        props[0].value = mid;
        props[1].key = IOTHUB_PROP_CONTENT_TYPE;
        props[1].value = "application/json";
        props[2].key = IOTHUB_PROP_CONTENT_ENCODING;
        props[2].value = "utf-8";
        st = iothub_client_send_telemetry(&s->hub->client, props, 3, (const uint8_t *)body, (size_t)n, &seq);
        if (st != TMA_OK) {
            fprintf(stderr, "message %ld not stored: %s\n", s->queued, tma_status_str(st));
            s->not_stored++;
        } else {
            printf("message %ld stored as %u: %s\n", s->queued, seq, body);
        }
        fflush(stdout);
        s->queued++;
        s->next_ms = now + (uint64_t)s->o->interval_ms;
    }
}

static bool done(void *ctx)
{
    struct state *s = ctx;
    return s->o->run_ms == 0 && s->queued >= s->o->count && iothub_outbox_count(&s->hub->outbox) == 0;
}

int main(int argc, char **argv)
{
    static struct sample_net net;
    static struct sample_hub hub;
    struct sample_opts o;
    struct state s;
    struct iothub_callbacks cb;
    int rc;
    sample_parse(argc, argv, &o, "iothub-telemetry",
                 "Sends --count messages every --interval-ms through a persistent outbox and prints\n"
                 "every cloud-to-device message (for a module: every message routed to its inputs).\n"
                 "With --run-ms it keeps running that long.", false);
    if (o.sas_key == NULL && sample_chip_open(&net, &o) != 0) {
        sample_net_close(&net);
        return 1;
    }
    if (sample_tls_setup(&net, &o, o.host, o.port) != 0) {
        sample_net_close(&net);
        return 1;
    }
    memset(&s, 0, sizeof(s));
    memset(&cb, 0, sizeof(cb));
    cb.user = &s;
    cb.on_event = on_event;
    cb.on_c2d = on_c2d;
    cb.on_input = on_input;
    cb.on_telemetry_acked = on_acked;
    if (sample_hub_init(&hub, &net, &o, o.host, o.device_id, IOTHUB_SUB_C2D, &cb) != 0) {
        sample_net_close(&net);
        return 1;
    }
    s.hub = &hub;
    s.o = &o;
    rc = sample_run(&hub, &o, done, &s, tick, &s);
    if (rc == 0 && (s.queued < o.count || iothub_outbox_count(&hub.outbox) != 0 || s.not_stored != 0)) {
        rc = 1; /* stopped before everything was acknowledged, or a message was never stored */
    }
    printf("done: %ld queued, %u acknowledged, %u still in the outbox, chip signatures %u\n", s.queued,
           s.acked, iothub_outbox_count(&hub.outbox), (unsigned)net.key.sign_count);
    if (s.not_stored != 0) {
        fprintf(stderr, "iothub-telemetry: %ld of %ld message(s) were not stored (see above): not sent\n",
                s.not_stored, s.queued);
    }
    {
        struct iothub_client_stats cs = iothub_client_stats(&hub.client);
        printf("connections: %u attempts, %u accepted, %u charged to the chip-key pacer\n",
               (unsigned)cs.connect_attempts, (unsigned)cs.connects, (unsigned)cs.key_operations);
        if (cs.rx_too_large != 0) {
            printf("messages larger than the receive buffer (skipped, not acknowledged): %u\n",
                   (unsigned)cs.rx_too_large);
        }
    }
    sample_hub_close(&hub);
    sample_net_close(&net);
    return rc;
}
