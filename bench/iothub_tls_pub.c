/* Bench helper: publish N QoS 1 telemetry messages over TLS with the IoT Hub
 * client (persistent outbox on a file, window W), then print the time from
 * process start (incl. TLS connect) to the last PUBACK. Built by
 * examples/CMakeLists.txt (needs the TLS binding); driven by
 * bench/iothub_throughput.sh. The client key is a PEM file here: the chip
 * only matters for the handshake, which is measured elsewhere.
 * usage: bench_iothub_tls_pub HOST PORT CAFILE CERT KEY COUNT PAYLOAD_SIZE WINDOW OUTBOX [fsync|ram] */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "iothub/client.h"
#include "iothub/storage_file.h"
#include "tma/tls.h"

static struct tma_tls_client tls;

static uint64_t mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* recv that never waits: data buffered in mbedTLS or readable on the socket
 * is read, otherwise "try again" at once. The loop below waits on the socket
 * itself when it has nothing else to do. */
static int32_t recv_nowait(void *ctx, uint8_t *buf, size_t len)
{
    struct tma_tls_client *t = ctx;
    if (mbedtls_ssl_get_bytes_avail(&t->ssl) == 0) {
        struct pollfd p;
        p.fd = t->net.fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 0) <= 0) {
            return 0;
        }
    }
    return tma_tls_client_recv(t, buf, len);
}

static void wait_socket(int ms)
{
    struct pollfd p;
    p.fd = tls.net.fd;
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd >= 0) {
        (void)poll(&p, 1, ms);
    }
}

static tma_status c_open(void *ctx, struct tma_transport *tr, bool *used_key)
{
    tma_status st;
    (void)ctx;
    *used_key = false;
    mbedtls_ssl_conf_read_timeout(&tls.conf, 10000);
    st = tma_tls_client_connect(&tls);
    mbedtls_ssl_conf_read_timeout(&tls.conf, 1);
    if (st != TMA_OK) {
        fprintf(stderr, "connect: %s\n", tma_tls_client_error(&tls));
        return st;
    }
    *tr = tma_tls_client_transport(&tls);
    tr->recv = recv_nowait;
    return TMA_OK;
}

static void c_close(void *ctx)
{
    (void)ctx;
    tma_tls_client_close(&tls);
}

/* In-memory storage (mode "ram"): isolates the client from file I/O. */
struct ram_rec {
    uint8_t *p;
    size_t n;
};
static struct ram_rec *ram;
static uint32_t ram_cap, ram_end;
static tma_status r_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    size_t i, tot = 0, off = 0;
    (void)ctx;
    if (seq >= ram_cap) return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    for (i = 0; i < n; i++) tot += parts[i].len;
    ram[seq].p = malloc(tot);
    if (ram[seq].p == NULL) return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    for (i = 0; i < n; i++) {
        memcpy(ram[seq].p + off, parts[i].ptr, parts[i].len);
        off += parts[i].len;
    }
    ram[seq].n = tot;
    ram_end = seq + 1;
    return TMA_OK;
}
static tma_status r_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)ctx;
    if (seq >= ram_cap || ram[seq].p == NULL) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    *out_len = ram[seq].n;
    if (ram[seq].n > cap) return TMA_ERR(TMA_LAYER_STORE, TMA_C_TOO_SMALL);
    memcpy(buf, ram[seq].p, ram[seq].n);
    return TMA_OK;
}
static tma_status r_del(void *ctx, uint32_t seq)
{
    (void)ctx;
    if (seq >= ram_cap || ram[seq].p == NULL) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    free(ram[seq].p);
    ram[seq].p = NULL;
    return TMA_OK;
}
static uint32_t ram_first;
static tma_status r_next(void *ctx, uint32_t from, uint32_t *out)
{
    uint32_t i;
    (void)ctx;
    while (ram_first < ram_end && ram[ram_first].p == NULL) ram_first++;
    for (i = from > ram_first ? from : ram_first; i < ram_end; i++) {
        if (ram[i].p != NULL) { *out = i; return TMA_OK; }
    }
    return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
}
static uint32_t r_end(void *ctx) { (void)ctx; return ram_end; }

static uint8_t *slurp(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *p;
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    p[n] = 0;
    *out_len = (size_t)n + 1;
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    static uint8_t tx[32768], rx[8192], rec[8192];
    static char cred[1024];
    static struct mqtt_inflight infl[65];
    static char payload[4096];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_client cl;
    struct iothub_client_config cfg;
    struct tma_tls_client_config tc;
    mbedtls_pk_context key;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    size_t ca_len = 0, cert_len = 0;
    uint8_t *ca, *cert;
    long count, size, window, i;
    double t0, t1;
    tma_status s;
    if (argc < 10) {
        fprintf(stderr, "usage: %s HOST PORT CAFILE CERT KEY COUNT PAYLOAD_SIZE WINDOW OUTBOX [fsync|ram]\n", argv[0]);
        return 2;
    }
    t0 = now_s();
    count = atol(argv[6]);
    size = atol(argv[7]);
    window = atol(argv[8]);
    if (count < 1 || size < 1 || size > (long)sizeof(payload) || window < 1 || window > 64) {
        fprintf(stderr, "bad COUNT, PAYLOAD_SIZE (1..4096) or WINDOW (1..64)\n");
        return 2;
    }
    ca = slurp(argv[3], &ca_len);
    cert = slurp(argv[4], &cert_len);
    mbedtls_pk_init(&key);
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    if (ca == NULL || cert == NULL ||
        mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) != 0 ||
        mbedtls_pk_parse_keyfile(&key, argv[5], NULL) != 0) {
        fprintf(stderr, "cannot load CA, certificate or key\n");
        return 1;
    }
    memset(&tc, 0, sizeof(tc));
    tc.host = argv[1];
    tc.port = argv[2];
    tc.ca.ptr = ca;
    tc.ca.len = ca_len;
    tc.own_chain.ptr = cert;
    tc.own_chain.len = cert_len;
    tc.own_key = &key;
    tc.timeout_ms = 10000;
    if (tma_tls_client_init(&tls, &tc) != TMA_OK) {
        fprintf(stderr, "TLS: %s\n", tma_tls_client_error(&tls));
        return 1;
    }
    if (argc > 10 && strcmp(argv[10], "ram") == 0) {
        ram_cap = (uint32_t)count + 1;
        ram = calloc(ram_cap, sizeof(*ram));
        st.ctx = NULL;
        st.put = r_put;
        st.get = r_get;
        st.del = r_del;
        st.next = r_next;
        st.seq_end = r_end;
        st.rebase = NULL; /* no rebase: a run never nears 2^31 messages */
        fs.fd = -1;
    } else {
        if (iothub_file_storage_open(&fs, argv[9], argc > 10 && strcmp(argv[10], "fsync") == 0) != TMA_OK) {
            fprintf(stderr, "outbox file\n");
            return 1;
        }
        st = iothub_file_storage_iface(&fs);
    }
    if (iothub_outbox_init(&ob, &st, (uint32_t)count + 1, IOTHUB_OUTBOX_REFUSE_NEW) != TMA_OK) {
        return 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.id.host = argv[1];
    cfg.id.device_id = "bench";
    cfg.clock.now_ms = mono_ms;
    cfg.connector.open = c_open;
    cfg.connector.close = c_close;
    iothub_retry_policy_init(&cfg.retry);
    cfg.outbox = &ob;
    cfg.window = (uint32_t)window;
    cfg.tx_buf = tx;
    cfg.tx_cap = sizeof(tx);
    cfg.rx_buf = rx;
    cfg.rx_cap = sizeof(rx);
    cfg.inflight = infl;
    cfg.inflight_count = (size_t)window + 1;
    cfg.record_buf = rec;
    cfg.record_cap = sizeof(rec);
    cfg.cred_buf = cred;
    cfg.cred_cap = sizeof(cred);
    if (iothub_client_init(&cl, &cfg) != TMA_OK) {
        return 1;
    }
    for (i = 0; i < count; i++) {
        int n = snprintf(payload, sizeof(payload), "%ld", i);
        if (n < size) memset(payload + n, 'x', (size_t)(size - n));
        s = iothub_client_send_telemetry(&cl, NULL, 0, (const uint8_t *)payload, (size_t)size, NULL);
        if (s != TMA_OK) {
            fprintf(stderr, "store: %s\n", tma_status_str(s));
            return 1;
        }
        if (i % 64 == 0) (void)iothub_client_step(&cl);
    }
    while (iothub_outbox_count(&ob) > 0) {
        s = iothub_client_step(&cl);
        if (iothub_client_state(&cl) == IOTHUB_STATE_CONNECTED &&
            mqtt_client_inflight_publishes(&cl.mqtt) >= (size_t)window) {
            wait_socket(10); /* window full: nothing to do until a PUBACK */
        }
        if (iothub_client_state(&cl) == IOTHUB_STATE_AUTH_FAILED || now_s() - t0 > 300) {
            fprintf(stderr, "failed: %s\n", iothub_reason_text(iothub_client_last_reason(&cl)));
            return 1;
        }
    }
    t1 = now_s();
    printf("iothub-client: %ld messages of %ld B in %.3f s = %.0f msg/s (acked %u, connects %u)\n", count, size,
           t1 - t0, (double)count / (t1 - t0), iothub_client_stats(&cl).acked, iothub_client_stats(&cl).connects);
    iothub_client_disconnect(&cl);
    if (ram == NULL) {
        iothub_file_storage_close(&fs);
    }
    free(ram);
    tma_tls_client_deinit(&tls);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    free(ca);
    free(cert);
    return 0;
}
