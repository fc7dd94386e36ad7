/*
 * hub_mqttc: a scriptable MQTT 3.1.1 device client over TLS (OpenSSL) for the
 * localhub integration tests. It speaks raw MQTT so tests can do what
 * mosquitto_sub/pub cannot: hold one session that both subscribes and
 * publishes (twin, methods, DPS), withhold PUBACKs, and see the DUP flag.
 *
 * usage: hub_mqttc --port P --cafile CA --id ID --user U [--pass P] [--cert C --key K]
 *                  [--host 127.0.0.1] [--sni localhost] [--clean 0|1] [--timeout S] [--tls-max 1.2] ACTION...
 * actions (run in order; ${name} in arguments expands captured values):
 *   sub:FILTER          SUBSCRIBE QoS 1, prints "SUBACK <code>"
 *   pub:TOPIC:PAYLOAD   PUBLISH QoS 1 and wait for PUBACK; pub0: QoS 0; pub2: QoS 2
 *   pubfile:TOPIC:FILE  PUBLISH QoS 1 with the contents of FILE
 *   expect:TEXT         wait for a PUBLISH whose "topic payload" contains TEXT
 *   capture:NAME:KEY    from the last expected message take query KEY (e.g. $rid) of
 *                       the topic, or JSON string/number "KEY" of the payload
 *   noack               stop acknowledging QoS 1 messages
 *   sleep:MS            process traffic for MS milliseconds
 *   close               drop the TCP connection without DISCONNECT
 *   reconnect           DISCONNECT, reconnect resuming the TLS session (prints
 *                       "TLS resumed" or "TLS full", then the CONNACK)
 * Every received PUBLISH is printed: "MSG q<qos> d<dup> <topic> <payload>".
 * Exit: 0 ok, 5 CONNACK refused (prints "CONNACK <rc>"), 3 expect timed out,
 *       4 connection closed by the hub, 2 other errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static SSL *ssl;
static int sock = -1, ack = 1, timeout_s = 10;
static unsigned short next_mid = 1;
static char last_topic[4096], last_payload[65536];
static struct {
    char name[64], value[512];
} vars[32];
static int nvars;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(int code, const char *msg)
{
    fprintf(stderr, "hub_mqttc: %s\n", msg);
    fflush(stdout);
    exit(code);
}

static void send_all(const unsigned char *b, size_t n)
{
    if (SSL_write(ssl, b, (int)n) != (int)n) fail(4, "write failed");
}

/* Read exactly n bytes, waiting at most until deadline (ms); 0 ok, -1 timeout. */
static int read_n(unsigned char *b, size_t n, long long deadline)
{
    size_t got = 0;
    while (got < n) {
        if (SSL_pending(ssl) == 0) {
            struct pollfd p = {sock, POLLIN, 0};
            long long left = deadline - now_ms();
            if (left <= 0) return -1;
            if (poll(&p, 1, (int)left) <= 0) return -1;
        }
        int r = SSL_read(ssl, b + got, (int)(n - got));
        if (r <= 0) {
            int e = SSL_get_error(ssl, r);
            if (e == SSL_ERROR_WANT_READ) continue;
            fail(4, "connection closed by the hub");
        }
        got += (size_t)r;
    }
    return 0;
}

static size_t put_str(unsigned char *b, const char *s, size_t n)
{
    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)n;
    memcpy(b + 2, s, n);
    return n + 2;
}

static void send_packet(unsigned char type, const unsigned char *body, size_t n)
{
    unsigned char *p = malloc(n + 5);
    size_t h = 0, len = n;
    p[h++] = type;
    do {
        unsigned char d = (unsigned char)(len % 128);
        len /= 128;
        p[h++] = (unsigned char)(d | (len ? 0x80 : 0));
    } while (len);
    memcpy(p + h, body, n);
    send_all(p, h + n);
    free(p);
}

/* Read one packet; returns type byte or -1 on timeout. body malloc'd. */
static int read_packet(unsigned char **body, size_t *n, long long deadline)
{
    unsigned char t, d;
    size_t len = 0, mul = 1;
    if (read_n(&t, 1, deadline)) return -1;
    do {
        if (read_n(&d, 1, deadline + 5000)) fail(2, "truncated packet");
        len += (d & 127) * mul;
        mul *= 128;
    } while (d & 0x80);
    *body = malloc(len + 1);
    if (len && read_n(*body, len, deadline + 5000)) fail(2, "truncated packet");
    (*body)[len] = 0;
    *n = len;
    return t;
}

/* Handle one incoming packet; returns its type, or -1 on timeout. */
static int pump(long long deadline, int *got_publish)
{
    unsigned char *b;
    size_t n;
    int t = read_packet(&b, &n, deadline);
    if (t < 0) return -1;
    if ((t & 0xF0) == 0x30) {
        int qos = (t >> 1) & 3, dup = (t >> 3) & 1;
        size_t tl = (size_t)(b[0] << 8 | b[1]), off = 2 + tl;
        unsigned short mid = 0;
        if (qos) {
            mid = (unsigned short)(b[off] << 8 | b[off + 1]);
            off += 2;
        }
        snprintf(last_topic, sizeof(last_topic), "%.*s", (int)tl, b + 2);
        snprintf(last_payload, sizeof(last_payload), "%.*s", (int)(n - off), b + off);
        printf("MSG q%d d%d %s %s\n", qos, dup, last_topic, last_payload);
        fflush(stdout);
        if (qos == 1 && ack) {
            unsigned char a[2] = {(unsigned char)(mid >> 8), (unsigned char)mid};
            send_packet(0x40, a, 2);
        }
        if (got_publish) *got_publish = 1;
    }
    free(b);
    return t & 0xF0;
}

static void expand(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    while (*in && o + 1 < outsz) {
        if (in[0] == '$' && in[1] == '{') {
            const char *e = strchr(in, '}');
            if (e) {
                for (int i = 0; i < nvars; i++)
                    if (strlen(vars[i].name) == (size_t)(e - in - 2) && !strncmp(vars[i].name, in + 2, (size_t)(e - in - 2))) {
                        o += (size_t)snprintf(out + o, outsz - o, "%s", vars[i].value);
                        break;
                    }
                in = e + 1;
                continue;
            }
        }
        out[o++] = *in++;
    }
    out[o < outsz ? o : outsz - 1] = 0;
}

static void capture(const char *name, const char *key)
{
    char val[512] = "";
    const char *q = strchr(last_topic, '?');
    if (q) {
        for (const char *p = q + 1; *p;) {
            const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
            if ((size_t)(end - p) > strlen(key) && !strncmp(p, key, strlen(key)) && p[strlen(key)] == '=') {
                snprintf(val, sizeof(val), "%.*s", (int)(end - p - (int)strlen(key) - 1), p + strlen(key) + 1);
                break;
            }
            p = amp ? amp + 1 : end;
        }
    }
    if (!val[0]) {
        char pat[128];
        snprintf(pat, sizeof(pat), "\"%s\":", key);
        const char *p = strstr(last_payload, pat);
        if (p) {
            p += strlen(pat);
            while (*p == ' ') p++;
            if (*p == '"') {
                const char *e = strchr(p + 1, '"');
                if (e) snprintf(val, sizeof(val), "%.*s", (int)(e - p - 1), p + 1);
            } else {
                size_t k = strspn(p, "-0123456789.");
                snprintf(val, sizeof(val), "%.*s", (int)k, p);
            }
        }
    }
    if (!val[0]) fail(3, "capture: key not found in the last message");
    /* A name cut short would never match its ${name}: refuse it. */
    int len = snprintf(vars[nvars].name, sizeof(vars[nvars].name), "%s", name);
    if (len < 0 || (size_t)len >= sizeof(vars[nvars].name)) fail(2, "capture: variable name longer than 63 characters");
    snprintf(vars[nvars].value, sizeof(vars[nvars].value), "%s", val);
    if (nvars < 31) nvars++;
    printf("CAPTURE %s=%s\n", name, val);
}

static const char *g_host, *g_sni, *g_id, *g_user, *g_pass;
static int g_port, g_clean;

/* TCP + TLS (resuming @p sess when given) + CONNECT. Returns the CONNACK code. */
static int open_session(SSL_CTX *ctx, SSL_SESSION *sess)
{
    struct sockaddr_in a = {0};
    unsigned char buf[2048];
    size_t n = 0;
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)g_port);
    inet_pton(AF_INET, g_host, &a.sin_addr);
    sock = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sock, (struct sockaddr *)&a, sizeof(a))) fail(2, "TCP connect failed");
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, sock);
    SSL_set_tlsext_host_name(ssl, g_sni);
    SSL_set1_host(ssl, g_sni);
    if (sess) SSL_set_session(ssl, sess);
    if (SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        fail(2, "TLS handshake failed");
    }
    if (sess) printf("TLS %s\n", SSL_session_reused(ssl) ? "resumed" : "full");
    n += put_str(buf + n, "MQTT", 4);
    buf[n++] = 4;
    buf[n++] = (unsigned char)(0x80 | (g_pass ? 0x40 : 0) | (g_clean ? 0x02 : 0));
    buf[n++] = 0;
    buf[n++] = 60;
    n += put_str(buf + n, g_id, strlen(g_id));
    n += put_str(buf + n, g_user, strlen(g_user));
    if (g_pass) n += put_str(buf + n, g_pass, strlen(g_pass));
    send_packet(0x10, buf, n);
    unsigned char *b;
    size_t bl;
    int t = read_packet(&b, &bl, now_ms() + timeout_s * 1000LL);
    if (t < 0) fail(2, "no CONNACK");
    if ((t & 0xF0) != 0x20 || bl < 2) fail(2, "expected CONNACK");
    int rc = b[1];
    printf("CONNACK %d sp%d%s\n", rc, b[0] & 1, rc == 5 ? " (not authorised)" : "");
    fflush(stdout);
    free(b);
    return rc;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *sni = "localhost", *cafile = NULL, *cert = NULL, *key = NULL, *id = NULL,
               *user = NULL, *pass = NULL, *tls_max = NULL;
    int port = 0, clean = 1, i;
    for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (i + 1 >= argc) fail(2, "option needs a value");
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--host")) host = v;
        else if (!strcmp(o, "--sni")) sni = v;
        else if (!strcmp(o, "--port")) port = atoi(v);
        else if (!strcmp(o, "--cafile")) cafile = v;
        else if (!strcmp(o, "--cert")) cert = v;
        else if (!strcmp(o, "--key")) key = v;
        else if (!strcmp(o, "--id")) id = v;
        else if (!strcmp(o, "--user")) user = v;
        else if (!strcmp(o, "--pass")) pass = v;
        else if (!strcmp(o, "--clean")) clean = atoi(v);
        else if (!strcmp(o, "--timeout")) timeout_s = atoi(v);
        else if (!strcmp(o, "--tls-max")) tls_max = v;
        else fail(2, "unknown option");
    }
    if (!port || !cafile || !id || !user) fail(2, "need --port --cafile --id --user");
    g_host = host;
    g_sni = sni;
    g_id = id;
    g_user = user;
    g_pass = pass;
    g_port = port;
    g_clean = clean;

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (tls_max && !strcmp(tls_max, "1.2")) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) fail(2, "cannot load cafile");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); /* server verification always on */
    if (cert && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
        fail(2, "cannot load client certificate/key");
    unsigned char buf[70000];
    size_t n = 0;
    if (open_session(ctx, NULL) != 0) return 5;

    for (; i < argc; i++) {
        char act[70000];
        expand(argv[i], act, sizeof(act));
        if (!strncmp(act, "sub:", 4)) {
            unsigned short mid = next_mid++;
            n = 0;
            buf[n++] = (unsigned char)(mid >> 8);
            buf[n++] = (unsigned char)mid;
            n += put_str(buf + n, act + 4, strlen(act + 4));
            buf[n++] = 1;
            send_packet(0x82, buf, n);
            long long dl = now_ms() + timeout_s * 1000LL;
            for (;;) {
                unsigned char *sb;
                size_t sl;
                /* other packets may arrive first (queued C2D) */
                int st = read_packet(&sb, &sl, dl);
                if (st < 0) fail(3, "no SUBACK");
                if ((st & 0xF0) == 0x90) {
                    printf("SUBACK %d\n", sb[2]);
                    free(sb);
                    break;
                }
                if ((st & 0xF0) == 0x30) {
                    /* re-inject: print and ack like pump() */
                    int qos = (st >> 1) & 3, dup = (st >> 3) & 1;
                    size_t tl = (size_t)(sb[0] << 8 | sb[1]), off = 2 + tl;
                    unsigned short m2 = 0;
                    if (qos) {
                        m2 = (unsigned short)(sb[off] << 8 | sb[off + 1]);
                        off += 2;
                    }
                    snprintf(last_topic, sizeof(last_topic), "%.*s", (int)tl, sb + 2);
                    snprintf(last_payload, sizeof(last_payload), "%.*s", (int)(sl - off), sb + off);
                    printf("MSG q%d d%d %s %s\n", qos, dup, last_topic, last_payload);
                    if (qos == 1 && ack) {
                        unsigned char ab[2] = {(unsigned char)(m2 >> 8), (unsigned char)m2};
                        send_packet(0x40, ab, 2);
                    }
                }
                free(sb);
            }
        } else if (!strncmp(act, "pub:", 4) || !strncmp(act, "pub0:", 5) || !strncmp(act, "pub2:", 5) ||
                   !strncmp(act, "pubfile:", 8)) {
            int fromfile = act[3] == 'f';
            int qos = (act[3] == ':' || fromfile) ? 1 : act[3] - '0';
            char *topic = strchr(act, ':') + 1, *payload = strchr(topic, ':');
            /* the payload follows the next ':' (our topics have none) */
            if (!payload) fail(2, "pub needs TOPIC:PAYLOAD");
            *payload++ = 0;
            size_t plen = strlen(payload);
            unsigned char *pk = malloc(strlen(topic) + 4 + 300000 + plen);
            if (fromfile) {
                FILE *pf = fopen(payload, "rb");
                if (!pf) fail(2, "cannot open payload file");
                plen = fread(pk + strlen(topic) + 4, 1, 300000, pf);
                fclose(pf);
            }
            unsigned short mid = next_mid++;
            n = put_str(pk, topic, strlen(topic));
            if (qos) {
                pk[n++] = (unsigned char)(mid >> 8);
                pk[n++] = (unsigned char)mid;
            }
            if (fromfile)
                memmove(pk + n, pk + strlen(topic) + 4, plen);
            else
                memcpy(pk + n, payload, plen);
            n += plen;
            send_packet((unsigned char)(0x30 | (qos << 1)), pk, n);
            free(pk);
            if (qos == 1) {
                long long dl = now_ms() + timeout_s * 1000LL;
                int pt;
                while ((pt = pump(dl, NULL)) != 0x40)
                    if (pt < 0) fail(3, "no PUBACK");
                printf("PUBACK\n");
            }
        } else if (!strncmp(act, "expect:", 7)) {
            long long dl = now_ms() + timeout_s * 1000LL;
            for (;;) {
                char line[70000];
                int got = 0;
                if (pump(dl, &got) < 0) fail(3, "expect timed out");
                snprintf(line, sizeof(line), "%s %s", last_topic, last_payload);
                if (got && strstr(line, act + 7)) break;
            }
        } else if (!strncmp(act, "capture:", 8)) {
            char *name = act + 8, *k = strchr(name, ':');
            if (!k) fail(2, "capture:NAME:KEY");
            *k++ = 0;
            capture(name, k);
        } else if (!strcmp(act, "noack")) {
            ack = 0;
        } else if (!strncmp(act, "sleep:", 6)) {
            long long dl = now_ms() + atoi(act + 6);
            while (now_ms() < dl) pump(dl, NULL);
        } else if (!strcmp(act, "reconnect")) {
            /* DISCONNECT, then a new connection resuming this TLS session */
            SSL_SESSION *sess = SSL_get1_session(ssl);
            send_packet(0xE0, buf, 0);
            SSL_shutdown(ssl);
            SSL_free(ssl);
            close(sock);
            int rc2 = open_session(ctx, sess);
            SSL_SESSION_free(sess);
            if (rc2 != 0) return 5;
        } else if (!strcmp(act, "close")) {
            close(sock);
            return 0;
        } else {
            fail(2, "unknown action");
        }
        fflush(stdout);
    }
    send_packet(0xE0, buf, 0);
    SSL_shutdown(ssl);
    close(sock);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}
