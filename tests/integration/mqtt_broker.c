/* Integration: our MQTT client and TCP transport against a real mosquitto
 * started by this test on a random loopback port (plain TCP, persistence in
 * a temp dir). Part 1: connect, subscribe, QoS 0/1 publish to self, keep-alive,
 * unsubscribe, CONNACK refusal. Part 2: the broker is stopped and restarted
 * five times (SIGTERM, so it writes its persistence file) while a publisher
 * sends 10,000 QoS 1 messages with clean session 0;
 * every message must reach the subscriber, duplicates are counted. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqtt/client.h"
#include "tma/tcp.h"
#include "tma_mqtt_test.h"

#define N_MESSAGES 10000u
#define RESTARTS 5u
#define WINDOW 8u

static pid_t broker = -1;
static char dir[256];
static uint16_t port;

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mqtt_broker: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(x) \
    do { \
        if (!(x)) { \
            die("%s:%d: %s", __FILE__, __LINE__, #x); \
        } \
    } while (0)
#define CHECK_ST(st, want) \
    do { \
        tma_status s_ = (st); \
        if (s_ != (want)) { \
            die("%s:%d: %s = %d (%s), want %d", __FILE__, __LINE__, #st, (int)s_, tma_status_str(s_), (int)(want)); \
        } \
    } while (0)

static uint64_t mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------- broker */

static void stop_broker(int sig)
{
    if (broker > 0) {
        kill(broker, sig);
        waitpid(broker, NULL, 0);
        broker = -1;
    }
}

static void cleanup(void)
{
    char cmd[512];
    stop_broker(SIGKILL);
    if (dir[0] && getenv("MQTT_IT_KEEP") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cleanup of %s failed\n", dir);
        }
    }
}

static void on_signal(int sig)
{
    (void)sig;
    exit(2); /* runs cleanup via atexit */
}

/* Start mosquitto on `port`; true when it accepts connections. */
static bool start_broker(void)
{
    char conf[300];
    FILE *f;
    int i;
    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
    f = fopen(conf, "w");
    CHECK(f != NULL);
    fprintf(f, "listener %u 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"
               "log_dest file %s/mosquitto.log\nmax_queued_messages 100000\nmax_inflight_messages 20\n",
            (unsigned)port, dir, dir);
    if (getuid() == 0) {
        fprintf(f, "user root\n"); /* otherwise mosquitto drops to a user that cannot write dir */
    }
    fclose(f);
    fflush(stdout);
    fflush(stderr);
    broker = fork();
    CHECK(broker >= 0);
    if (broker == 0) {
        char log[300];
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        snprintf(log, sizeof(log), "%s/stderr.log", dir);
        if (freopen(log, "a", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL) {
            _exit(126);
        }
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 250; i++) {
        struct tma_tcp t;
        int status;
        memset(&t, 0, sizeof(t));
        if (waitpid(broker, &status, WNOHANG) == broker) {
            broker = -1;
            return false; /* exited: port taken? */
        }
        if (tma_tcp_connect(&t, "127.0.0.1", port, 200) == TMA_OK) {
            tma_tcp_close(&t);
            return true;
        }
        sleep_ms(20);
    }
    stop_broker(SIGKILL);
    return false;
}

static void first_start(void)
{
    int tries;
    srand((unsigned)getpid() ^ (unsigned)mono_ms(NULL));
    for (tries = 0; tries < 20; tries++) {
        port = (uint16_t)(20000 + rand() % 40000);
        if (start_broker()) {
            return;
        }
    }
    die("mosquitto did not start (see %s/mosquitto.log)", dir);
}

/* ---------------------------------------------------------- a client */

struct peer {
    const char *name;
    struct mqtt_client c;
    struct tma_tcp tcp;
    struct tma_transport tr;
    uint8_t tx[512];
    uint8_t rx[512];
    struct mqtt_inflight slots[WINDOW];
    struct mqtt_connect opts;
    /* received */
    unsigned received;
    unsigned duplicates;
    unsigned out_of_order;
    long max_first;
    uint8_t *seen;
    char last[128];
    /* sent */
    uint8_t *acked_tags;
    unsigned double_acks;
    unsigned acked;
    unsigned reconnects;
};

static char topic[96];

static tma_status peer_on_publish(void *user, const struct mqtt_publish *m)
{
    struct peer *p = user;
    unsigned seq = 0;
    size_t n = m->payload.len < sizeof(p->last) - 1 ? m->payload.len : sizeof(p->last) - 1;
    memcpy(p->last, m->payload.ptr, n);
    p->last[n] = 0;
    p->received++;
    if (p->seen != NULL && sscanf(p->last, "seq:%u", &seq) == 1 && seq < N_MESSAGES) {
        if (p->seen[seq]) {
            p->duplicates++;
        } else {
            p->seen[seq] = 1;
            if ((long)seq < p->max_first) {
                p->out_of_order++;
            } else {
                p->max_first = (long)seq;
            }
        }
    }
    return TMA_OK;
}

static void peer_on_puback(void *user, uint16_t id, uint32_t tag)
{
    struct peer *p = user;
    (void)id;
    p->acked++;
    if (p->acked_tags != NULL && tag < N_MESSAGES) {
        if (p->acked_tags[tag]) {
            p->double_acks++;
        }
        p->acked_tags[tag] = 1;
    }
}

static char payloads[N_MESSAGES][16];

static tma_status peer_resend(void *user, uint16_t id, uint32_t tag, struct mqtt_publish *out)
{
    (void)user;
    (void)id;
    if (tag >= N_MESSAGES) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    }
    out->topic.ptr = (const uint8_t *)topic;
    out->topic.len = strlen(topic);
    out->payload.ptr = (const uint8_t *)payloads[tag];
    out->payload.len = strlen(payloads[tag]);
    return TMA_OK;
}

static void peer_init(struct peer *p, const char *name, const char *client_id, bool clean, uint16_t ka)
{
    struct mqtt_client_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    p->name = name;
    p->max_first = -1;
    cfg.clock.now_ms = mono_ms;
    cfg.tx_buf = p->tx;
    cfg.tx_cap = sizeof(p->tx);
    cfg.rx_buf = p->rx;
    cfg.rx_cap = sizeof(p->rx);
    cfg.inflight = p->slots;
    cfg.inflight_count = WINDOW;
    cfg.cb.user = p;
    cfg.cb.on_publish = peer_on_publish;
    cfg.cb.on_puback = peer_on_puback;
    cfg.cb.resend = peer_resend;
    cfg.ping_timeout_ms = 3000;
    CHECK_ST(mqtt_client_init(&p->c, &cfg), TMA_OK);
    p->opts.client_id.ptr = (const uint8_t *)client_id;
    p->opts.client_id.len = strlen(client_id);
    p->opts.clean_session = clean;
    p->opts.keep_alive_s = ka;
    p->tcp.fd = -1;
}

static tma_status peer_connect(struct peer *p)
{
    tma_status st;
    tma_tcp_close(&p->tcp);
    memset(&p->tcp, 0, sizeof(p->tcp));
    p->tcp.recv_wait_ms = 1;
    st = tma_tcp_connect(&p->tcp, "127.0.0.1", port, 1000);
    if (st != TMA_OK) {
        return st;
    }
    p->tr = tma_tcp_transport(&p->tcp);
    st = mqtt_client_connect_wait(&p->c, &p->tr, &p->opts, 3000);
    if (st != TMA_OK) {
        tma_tcp_close(&p->tcp);
    }
    return st;
}

static struct mqtt_publish msg(const char *t, const char *payload, uint8_t qos)
{
    return tma_test_msg(t, payload, qos);
}

/* ---------------------------------------------------------- part 1 */

static void basic(void)
{
    static struct peer a;
    struct mqtt_subscription sub;
    struct mqtt_publish m;
    uint16_t id = 0;
    uint64_t t0;
    char t[96];

    snprintf(t, sizeof(t), "it/%d/basic", (int)getpid());
    peer_init(&a, "basic", "basic-client", true, 1);
    CHECK_ST(peer_connect(&a), TMA_OK);
    CHECK(!mqtt_client_session_present(&a.c));
    sub.filter.ptr = (const uint8_t *)t;
    sub.filter.len = strlen(t);
    sub.qos = 1;
    CHECK_ST(mqtt_client_subscribe(&a.c, &sub, 1, &id), TMA_OK);
    CHECK_ST(mqtt_client_wait_ack(&a.c, id, 3000), TMA_OK);

    m = msg(t, "hello qos1", 1);
    CHECK_ST(mqtt_client_publish(&a.c, &m, 1, &id), TMA_OK);
    CHECK_ST(mqtt_client_wait_ack(&a.c, id, 3000), TMA_OK);
    CHECK(a.acked == 1);
    t0 = mono_ms(NULL);
    while (a.received < 1 && mono_ms(NULL) - t0 < 3000) {
        CHECK_ST(mqtt_client_process(&a.c), TMA_OK);
    }
    CHECK(a.received == 1 && strcmp(a.last, "hello qos1") == 0);

    m = msg(t, "hello qos0", 0);
    CHECK_ST(mqtt_client_publish(&a.c, &m, 0, NULL), TMA_OK);
    t0 = mono_ms(NULL);
    while (a.received < 2 && mono_ms(NULL) - t0 < 3000) {
        CHECK_ST(mqtt_client_process(&a.c), TMA_OK);
    }
    CHECK(a.received == 2 && strcmp(a.last, "hello qos0") == 0);

    /* keep-alive 1 s: stay idle for 3.5 s, pings keep us connected */
    t0 = mono_ms(NULL);
    while (mono_ms(NULL) - t0 < 3500) {
        CHECK_ST(mqtt_client_process(&a.c), TMA_OK);
    }
    CHECK(a.c.stat_pings >= 2);
    CHECK(mqtt_client_state(&a.c) == MQTT_STATE_CONNECTED);

    CHECK_ST(mqtt_client_unsubscribe(&a.c, &sub.filter, 1, &id), TMA_OK);
    CHECK_ST(mqtt_client_wait_ack(&a.c, id, 3000), TMA_OK);
    m = msg(t, "after unsubscribe", 1);
    CHECK_ST(mqtt_client_publish(&a.c, &m, 2, &id), TMA_OK);
    CHECK_ST(mqtt_client_wait_ack(&a.c, id, 3000), TMA_OK);
    t0 = mono_ms(NULL);
    while (mono_ms(NULL) - t0 < 300) {
        CHECK_ST(mqtt_client_process(&a.c), TMA_OK);
    }
    CHECK(a.received == 2); /* nothing after unsubscribe */
    CHECK_ST(mqtt_client_disconnect(&a.c), TMA_OK);
    tma_tcp_close(&a.tcp);

    /* a refused CONNECT: empty client id with clean session 0 cannot even be encoded */
    a.opts.client_id.len = 0;
    a.opts.clean_session = false;
    CHECK_ST(peer_connect(&a), TMA_ERR(TMA_LAYER_MQTT, TMA_C_BAD_PARAM));
    tma_tcp_close(&a.tcp);
    printf("basic: subscribe, QoS 1 and QoS 0 to self, %u keep-alive pings, unsubscribe: ok\n",
           (unsigned)a.c.stat_pings);
}

/* ---------------------------------------------------------- part 2 */

static void restarts(void)
{
    static struct peer pub;
    static struct peer sub;
    static uint8_t seen[N_MESSAGES];
    char pid_s[32];
    char sub_id[48];
    char pub_id[48];
    struct mqtt_subscription s;
    uint16_t id = 0;
    unsigned next = 0;
    unsigned restarts_done = 0;
    uint64_t t0 = mono_ms(NULL);
    uint64_t deadline = t0 + 45000;
    unsigned i;

    snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
    snprintf(topic, sizeof(topic), "it/%s/restart", pid_s);
    snprintf(sub_id, sizeof(sub_id), "sub-%s", pid_s);
    snprintf(pub_id, sizeof(pub_id), "pub-%s", pid_s);
    for (i = 0; i < N_MESSAGES; i++) {
        snprintf(payloads[i], sizeof(payloads[i]), "seq:%u", i);
    }
    peer_init(&sub, "sub", sub_id, false, 5);
    peer_init(&pub, "pub", pub_id, false, 5);
    sub.seen = seen;
    CHECK_ST(peer_connect(&sub), TMA_OK);
    s.filter.ptr = (const uint8_t *)topic;
    s.filter.len = strlen(topic);
    s.qos = 1;
    CHECK_ST(mqtt_client_subscribe(&sub.c, &s, 1, &id), TMA_OK);
    CHECK_ST(mqtt_client_wait_ack(&sub.c, id, 3000), TMA_OK);
    CHECK_ST(peer_connect(&pub), TMA_OK);

    while (pub.acked < N_MESSAGES || sub.max_first < (long)N_MESSAGES - 1 ||
           memchr(seen, 0, N_MESSAGES) != NULL) {
        struct peer *both[2] = {&pub, &sub};
        int k;
        if (mono_ms(NULL) > deadline) {
            die("timeout: sent %u acked %u received %u distinct<=%ld restarts %u", next, pub.acked, sub.received,
                sub.max_first + 1, restarts_done);
        }
        /* stop the broker in the middle of the stream, with messages in flight */
        if (restarts_done < RESTARTS && next >= (restarts_done + 1) * N_MESSAGES / (RESTARTS + 1) &&
            mqtt_client_inflight_publishes(&pub.c) > 0) {
            stop_broker(SIGTERM);
            if (!start_broker()) {
                die("mosquitto did not restart on port %u", (unsigned)port);
            }
            restarts_done++;
        }
        for (k = 0; k < 2; k++) {
            struct peer *p = both[k];
            if (mqtt_client_state(&p->c) == MQTT_STATE_DISCONNECTED) {
                if (peer_connect(p) != TMA_OK) {
                    sleep_ms(20);
                    continue;
                }
                p->reconnects++;
                CHECK(mqtt_client_session_present(&p->c)); /* persistence kept the session */
            }
            if (mqtt_client_process(&p->c) < 0) {
                tma_tcp_close(&p->tcp);
            }
        }
        while (next < N_MESSAGES && mqtt_client_state(&pub.c) == MQTT_STATE_CONNECTED) {
            struct mqtt_publish m = msg(topic, payloads[next], 1);
            tma_status st = mqtt_client_publish(&pub.c, &m, next, NULL);
            if (st != TMA_OK) {
                CHECK(st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_FULL) || st == TMA_WANT_WRITE);
                break;
            }
            next++;
        }
    }
    for (i = 0; i < N_MESSAGES; i++) {
        CHECK(seen[i]);
    }
    CHECK(restarts_done == RESTARTS);
    CHECK(pub.reconnects >= RESTARTS && sub.reconnects >= RESTARTS);
    /* per restart at most the publisher window plus the broker's window to the subscriber */
    CHECK(sub.duplicates <= RESTARTS * (WINDOW + 20u));
    CHECK(sub.out_of_order == 0); /* retransmissions go before new messages */
    printf("restarts: %u QoS 1 messages, broker stopped and restarted %u times: all %u arrived, "
           "%u duplicates (bound %u), %u first arrivals out of order, %u retransmitted with DUP, "
           "publisher reconnects %u, subscriber reconnects %u, %.1f s\n",
           N_MESSAGES, restarts_done, N_MESSAGES, sub.duplicates, RESTARTS * (WINDOW + 20u), sub.out_of_order,
           (unsigned)mqtt_client_retransmit_count(&pub.c), pub.reconnects, sub.reconnects,
           (double)(mono_ms(NULL) - t0) / 1000.0);
    mqtt_client_disconnect(&pub.c);
    mqtt_client_disconnect(&sub.c);
    tma_tcp_close(&pub.tcp);
    tma_tcp_close(&sub.tcp);
}

/* ---------------------------------------------------------- part 3 */

/* The broker is SIGKILLed (no chance to save) three times while a publisher
 * with clean session 0 sends QoS 1: the client must still get every message
 * acknowledged exactly once, retransmitting its in-flight window after each
 * reconnect. (What the broker had acknowledged but not yet saved is the
 * broker's loss, so no subscriber is checked here.) */
#define CRASH_MESSAGES 3000u
#define CRASHES 3u
static void crashes(void)
{
    static struct peer pub;
    static uint8_t acked[N_MESSAGES];
    char pub_id[48];
    unsigned next = 0;
    unsigned crashes_done = 0;
    uint64_t t0 = mono_ms(NULL);
    unsigned i;

    snprintf(pub_id, sizeof(pub_id), "crash-%d", (int)getpid());
    snprintf(topic, sizeof(topic), "it/%d/crash", (int)getpid());
    peer_init(&pub, "crash", pub_id, false, 5);
    pub.acked_tags = acked;
    CHECK_ST(peer_connect(&pub), TMA_OK);
    while (pub.acked < CRASH_MESSAGES) {
        if (mono_ms(NULL) - t0 > 30000) {
            die("crash timeout: sent %u acked %u crashes %u", next, pub.acked, crashes_done);
        }
        if (crashes_done < CRASHES && next >= (crashes_done + 1) * CRASH_MESSAGES / (CRASHES + 1) &&
            mqtt_client_inflight_publishes(&pub.c) > 0) {
            stop_broker(SIGKILL);
            if (!start_broker()) {
                die("mosquitto did not restart on port %u", (unsigned)port);
            }
            crashes_done++;
        }
        if (mqtt_client_state(&pub.c) == MQTT_STATE_DISCONNECTED) {
            if (peer_connect(&pub) != TMA_OK) {
                sleep_ms(20);
                continue;
            }
            pub.reconnects++;
        }
        if (mqtt_client_process(&pub.c) < 0) {
            tma_tcp_close(&pub.tcp);
        }
        while (next < CRASH_MESSAGES && mqtt_client_state(&pub.c) == MQTT_STATE_CONNECTED) {
            struct mqtt_publish m = msg(topic, payloads[next], 1);
            tma_status st = mqtt_client_publish(&pub.c, &m, next, NULL);
            if (st != TMA_OK) {
                CHECK(st == TMA_ERR(TMA_LAYER_MQTT, TMA_C_FULL) || st == TMA_WANT_WRITE);
                break;
            }
            next++;
        }
    }
    for (i = 0; i < CRASH_MESSAGES; i++) {
        CHECK(acked[i]);
    }
    CHECK(pub.double_acks == 0);
    CHECK(crashes_done == CRASHES && pub.reconnects >= CRASHES);
    printf("crashes: broker SIGKILLed %u times during %u QoS 1 messages: every message acknowledged once, "
           "%u reconnects, %.1f s\n",
           crashes_done, CRASH_MESSAGES, pub.reconnects, (double)(mono_ms(NULL) - t0) / 1000.0);
    mqtt_client_disconnect(&pub.c);
    tma_tcp_close(&pub.tcp);
}

static void transport_errors(void)
{
    struct tma_tcp t;
    uint8_t b[16];
    int32_t r = 0;
    uint64_t t0;
    memset(&t, 0, sizeof(t));
    CHECK_ST(tma_tcp_connect(&t, NULL, port, 100), TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_BAD_PARAM));
    CHECK_ST(tma_tcp_connect(&t, "127.0.0.1", 0, 100), TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_BAD_PARAM));
    /* broker up: connect, then the broker goes away -> recv reports CLOSED */
    CHECK_ST(tma_tcp_connect(&t, "127.0.0.1", port, 1000), TMA_OK);
    CHECK(tma_tcp_recv(&t, b, sizeof(b)) == 0); /* nothing to read yet: try again */
    stop_broker(SIGTERM);
    t0 = mono_ms(NULL);
    while (r == 0 && mono_ms(NULL) - t0 < 2000) {
        r = tma_tcp_recv(&t, b, sizeof(b));
    }
    CHECK_ST(r, TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED));
    tma_tcp_close(&t);
    tma_tcp_close(&t); /* idempotent */
    CHECK(tma_tcp_send(&t, b, 1) == TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_BAD_PARAM));
    /* nobody listening */
    CHECK_ST(tma_tcp_connect(&t, "127.0.0.1", port, 1000), TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_REFUSED));
    printf("transport: bad parameters, peer closed, connection refused: ok\n");
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/mqtt_it.XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        die("mkdtemp: %s", strerror(errno));
    }
    atexit(cleanup);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    first_start();
    printf("mosquitto on 127.0.0.1:%u, data in %s\n", (unsigned)port, dir);
    basic();
    restarts();
    crashes();
    transport_errors();
    return 0;
}
