/*
 * hub_load: load generator for localhub (bench/hub_load.sh runs it).
 * N devices, each with its own EC P-256 certificate (made here, signed by a
 * CA the hub has verified) and mutual TLS, publish QoS 1 telemetry at a fixed
 * total rate. Reports connections held, messages per second (PUBACKed), p50 /
 * p99 PUBACK latency, and messages never acknowledged. Loss at the hub side
 * (acknowledged but not stored) is counted by the script from telemetry.jsonl.
 *
 * usage: hub_load --port P --cafile HUBCA --ca-cert C --ca-key K --dir D
 *                 [--devices 1000] [--rate 5000] [--duration 20] [--threads 2] [--prefix load]
 */
#define _GNU_SOURCE
#include <mosquitto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 64

struct dev {
    struct mosquitto *m;
    char id[64];
    int connected, refused;
    double next_send;
    double sent_at[SLOTS];
    int slot_mid[SLOTS];
};

static struct {
    int port, ndev, threads, duration;
    double rate;
    const char *cafile, *dir, *prefix;
    struct dev *devs;
    atomic_int connected, refused;
    atomic_long sent, acked;
    double *lat;
    atomic_long nlat;
    long latcap;
    volatile int phase; /* 0 connect, 1 publish, 2 drain, 3 stop */
} g;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_cert(const char *cn, X509 *ca, EVP_PKEY *cakey, const char *certf, const char *keyf)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *c = X509_new();
    FILE *f;
    if (!k || !c) return -1;
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), (long)(rand() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 7);
    X509_set_pubkey(c, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, X509_get_subject_name(ca));
    if (!X509_sign(c, cakey, EVP_sha256())) return -1;
    f = fopen(certf, "w");
    if (!f) return -1;
    PEM_write_X509(f, c);
    fclose(f);
    f = fopen(keyf, "w");
    if (!f) return -1;
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(c);
    EVP_PKEY_free(k);
    return 0;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    struct dev *d = obj;
    (void)m;
    if (rc == 0) {
        if (!d->connected) atomic_fetch_add(&g.connected, 1);
        d->connected = 1;
    } else {
        d->refused = 1;
        atomic_fetch_add(&g.refused, 1);
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct dev *d = obj;
    (void)m;
    (void)rc;
    if (d->connected) atomic_fetch_sub(&g.connected, 1);
    d->connected = 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct dev *d = obj;
    (void)m;
    int s = mid % SLOTS;
    if (d->slot_mid[s] == mid) {
        long i = atomic_fetch_add(&g.nlat, 1);
        if (i < g.latcap) g.lat[i] = now_s() - d->sent_at[s];
        d->slot_mid[s] = 0;
    }
    atomic_fetch_add(&g.acked, 1);
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    int first = g.ndev * t / g.threads, last = g.ndev * (t + 1) / g.threads, n = last - first;
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    double per_dev = g.rate / g.ndev, last_misc = 0;
    char topic[128], payload[128];
    while (g.phase < 3) {
        double now = now_s();
        for (int i = 0; i < n; i++) {
            struct dev *d = &g.devs[first + i];
            if (g.phase == 1 && d->connected && now >= d->next_send) {
                int mid = 0;
                snprintf(topic, sizeof(topic), "devices/%s/messages/events/%%24.ct=application%%2Fjson", d->id);
                int len = snprintf(payload, sizeof(payload), "{\"bench\":true,\"t\":%.6f}", now);
                if (mosquitto_publish(d->m, &mid, topic, len, payload, 1, false) == MOSQ_ERR_SUCCESS) {
                    d->sent_at[mid % SLOTS] = now;
                    d->slot_mid[mid % SLOTS] = mid;
                    atomic_fetch_add(&g.sent, 1);
                }
                d->next_send += 1.0 / per_dev;
                if (d->next_send < now - 1.0) d->next_send = now; /* don't burst after a stall */
            }
            pf[i].fd = mosquitto_socket(d->m);
            pf[i].events = (short)(POLLIN | (mosquitto_want_write(d->m) ? POLLOUT : 0));
            pf[i].revents = 0;
        }
        poll(pf, (nfds_t)n, 2);
        for (int i = 0; i < n; i++) {
            struct dev *d = &g.devs[first + i];
            if (pf[i].fd < 0) continue;
            if (pf[i].revents & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(d->m, 1);
            if (mosquitto_want_write(d->m)) mosquitto_loop_write(d->m, 1);
        }
        if (now - last_misc > 0.2) {
            for (int i = 0; i < n; i++) mosquitto_loop_misc(g.devs[first + i].m);
            last_misc = now;
        }
    }
    free(pf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *cacert = NULL, *cakey = NULL;
    g.ndev = 1000;
    g.rate = 5000;
    g.duration = 20;
    g.threads = 2;
    g.prefix = "load";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) g.port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cafile")) g.cafile = argv[i + 1];
        else if (!strcmp(argv[i], "--ca-cert")) cacert = argv[i + 1];
        else if (!strcmp(argv[i], "--ca-key")) cakey = argv[i + 1];
        else if (!strcmp(argv[i], "--dir")) g.dir = argv[i + 1];
        else if (!strcmp(argv[i], "--devices")) g.ndev = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) g.rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration")) g.duration = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) g.threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefix")) g.prefix = argv[i + 1];
        else {
            fprintf(stderr, "hub_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!g.port || !g.cafile || !cacert || !cakey || !g.dir || g.ndev < 1 || g.threads < 1 || g.rate <= 0) {
        fprintf(stderr, "usage: hub_load --port P --cafile HUBCA --ca-cert C --ca-key K --dir D [--devices N] "
                        "[--rate MSG_PER_S] [--duration S] [--threads T]\n");
        return 2;
    }
    FILE *f = fopen(cacert, "r");
    X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    f = fopen(cakey, "r");
    EVP_PKEY *ck = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!ca || !ck) {
        fprintf(stderr, "hub_load: cannot read the device CA\n");
        return 2;
    }
    mosquitto_lib_init();
    g.devs = calloc((size_t)g.ndev, sizeof(*g.devs));
    g.latcap = (long)(g.rate * (g.duration + 10));
    g.lat = calloc((size_t)g.latcap, sizeof(double));
    double t0 = now_s();
    for (int i = 0; i < g.ndev; i++) {
        struct dev *d = &g.devs[i];
        char cf[512], kf[512], user[256];
        snprintf(d->id, sizeof(d->id), "%s-%05d", g.prefix, i);
        snprintf(cf, sizeof(cf), "%s/%s.pem", g.dir, d->id);
        snprintf(kf, sizeof(kf), "%s/%s.key", g.dir, d->id);
        if (make_cert(d->id, ca, ck, cf, kf)) {
            fprintf(stderr, "hub_load: cannot make a certificate\n");
            return 2;
        }
        d->m = mosquitto_new(d->id, false, d);
        mosquitto_int_option(d->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        snprintf(user, sizeof(user), "localhost/%s/?api-version=2021-04-12", d->id);
        mosquitto_username_pw_set(d->m, user, NULL);
        if (mosquitto_tls_set(d->m, g.cafile, NULL, cf, kf, NULL) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "hub_load: tls_set failed\n");
            return 2;
        }
        mosquitto_connect_callback_set(d->m, on_connect);
        mosquitto_disconnect_callback_set(d->m, on_disconnect);
        mosquitto_publish_callback_set(d->m, on_publish);
        d->next_send = 0;
    }
    fprintf(stderr, "hub_load: %d certificates in %.1f s\n", g.ndev, now_s() - t0);

    pthread_t th[64];
    if (g.threads > 64) g.threads = 64;
    t0 = now_s();
    for (int i = 0; i < g.ndev; i++) {
        if (mosquitto_connect_async(g.devs[i].m, "localhost", g.port, 120) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "hub_load: connect %d failed\n", i);
            return 2;
        }
    }
    for (int t = 0; t < g.threads; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    while (atomic_load(&g.connected) + atomic_load(&g.refused) < g.ndev && now_s() - t0 < 120) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    double tconn = now_s() - t0;
    int held = atomic_load(&g.connected);
    fprintf(stderr, "hub_load: %d connected, %d refused in %.1f s\n", held, atomic_load(&g.refused), tconn);
    double start = now_s();
    for (int i = 0; i < g.ndev; i++) g.devs[i].next_send = start + (double)i / g.ndev * (g.ndev / g.rate);
    g.phase = 1;
    int min_held = held;
    while (now_s() - start < g.duration) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        int c = atomic_load(&g.connected);
        if (c < min_held) min_held = c;
    }
    g.phase = 2;
    double pub_end = now_s();
    long sent_at_end = atomic_load(&g.sent);
    while (atomic_load(&g.acked) < sent_at_end && now_s() - pub_end < 15) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    double elapsed = pub_end - start;
    long sent = atomic_load(&g.sent), acked = atomic_load(&g.acked), n = atomic_load(&g.nlat);
    if (n > g.latcap) n = g.latcap;
    qsort(g.lat, (size_t)n, sizeof(double), cmp);
    double p50 = n ? g.lat[n / 2] * 1000 : 0, p99 = n ? g.lat[(long)(n * 0.99)] * 1000 : 0, pmax = n ? g.lat[n - 1] * 1000 : 0;
    g.phase = 3;
    for (int t = 0; t < g.threads; t++) pthread_join(th[t], NULL);
    for (int i = 0; i < g.ndev; i++) {
        mosquitto_disconnect(g.devs[i].m);
        mosquitto_loop_write(g.devs[i].m, 1);
        mosquitto_destroy(g.devs[i].m);
    }
    printf("devices=%d connected=%d min_connected_during_run=%d connect_time_s=%.1f\n", g.ndev, held, min_held, tconn);
    printf("target_rate=%.0f duration_s=%.1f sent=%ld acked=%ld msgs_per_s=%.0f\n", g.rate, elapsed, sent, acked,
           acked / elapsed);
    printf("puback_latency_ms p50=%.2f p99=%.2f max=%.2f unacked=%ld\n", p50, p99, pmax, sent - acked);
    mosquitto_lib_cleanup();
    return 0;
}
