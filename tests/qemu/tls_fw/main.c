/*
 * Firmware for QEMU's mps2-an386 (Cortex-M4): the whole X.509 device in one
 * image. libtrustm on UART0 (the trustm-sim daemon, tests/qemu/board.c),
 * mbedTLS 2.28 built bare-metal (tls_fw/mbedtls_config_m4.h) with the
 * project's TLS binding (src/tls: the chip key signs CertificateVerify,
 * GetRandom seeds the DRBG), TLS over UART1 (tests/qemu/hub_fw/uart.c,
 * connected by QEMU to the server's TCP port), and the MQTT + IoT Hub client
 * on top (X.509: no SAS). mbedTLS allocates from a static buffer
 * (MBEDTLS_MEMORY_BUFFER_ALLOC_C); there is no C library heap in the image.
 *
 * Command line (semihosting): fw MODE [DEVICE_ID [BINDING_FILE]]
 *   tls [ROUNDS]
 *        handshake against `openssl s_server -rev` (host name localhost),
 *        send one line, print the reversed line the server sends back, close;
 *        ROUNDS (1-9, default 1) times: the rounds after the first offer the
 *        session kept by the binding (a resumed handshake needs no CalcSign)
 *   hub  against localhub (host name localhost) as DEVICE_ID: connect,
 *        TLS_N telemetry messages with properties (the sets of
 *        tests/vectors/iothub/topics.vec, hub_fw/props.c), all acknowledged,
 *        READY, an oversized C2D message (skipped), wait for
 *        one C2D message and one direct method call, answer it, disconnect
 *   reconnect DEVICE_ID N
 *        against localhub behind tests/qemu/tls_relay.py, which the host
 *        cuts: N telemetry messages stored one every RC_PERIOD_MS whatever
 *        the connection's state, until all N are acknowledged; keep-alive
 *        RC_KEEPALIVE_S so that a dead stream is noticed in seconds, the
 *        client's own back-off (RC_RETRY_*), the TLS session kept by the
 *        binding for the reconnects; prints every connect attempt, every
 *        drop with the back-off the client chose, and the chip commands of
 *        each connect; a failed handshake is printed and retried, not fatal
 * Both: open the chip, read the trust anchor 0xE0E8 and the client
 * certificate 0xE0E1, bind 0xE0F1 to the certificate's public key. With a
 * BINDING_FILE (hub only: the 64-byte platform binding secret `trustm bind`
 * wrote) every chip command of the run, from OpenApplication to the
 * handshake's CalcSign, goes over the shielded connection (software AES-CCM
 * and TLS PRF of tests/qemu/soft_crypto.c); without it, in the clear.
 * It judges nothing itself: it prints what it did and got; the host checks
 * (tests/qemu/tls_m4.sh, tls_check.py).
 * Exit codes: 0 done, 2 setup error (chip, certificates), 3 the TLS
 * connection failed (the line before says why), 5 a wait timed out.
 * Output lines: "KEY VALUE" (decimal or text), "KEY=HEX" for bytes.
 */
#include <stdarg.h>
#include <string.h>

#include "board.h"
#include "hub_fw.h"
#include "iothub/client.h"
#include "iothub/iothub.h"
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "soft_crypto.h"
#include "stackpaint.h"
#include "tma/tls.h"
#include "tma/tls_chip.h"
#include "trustm/cmd.h"
#include "trustm/trustm.h"

#include <mbedtls/memory_buffer_alloc.h>

extern volatile uint32_t g_ms_ticks;
extern const struct trustm_port trustm_port_baremetal;

#define TLS_HOST "localhost"
#define TLS_N 6u
#define TLS_WAIT_MS 20000u
#define TLS_HEAP_SIZE (32u * 1024u)
/* reconnect mode: a keep-alive short enough that a cut is noticed within
 * about 1.5 x 2 s (the client's PINGREQ timeout is half the keep-alive);
 * the back-off of the client, narrowed from the defaults (1 s, 100 s, 5 s
 * jitter) so that the test stays under a minute; a handshake that gets no
 * answer for RC_HS_TIMEOUT_MS fails (a cut during the handshake) */
#define RC_KEEPALIVE_S 2u
#define RC_RETRY_MIN_MS 1000u
#define RC_RETRY_MAX_MS 4000u
#define RC_RETRY_JITTER_MS 500u
#define RC_HS_TIMEOUT_MS 3000u
#define RC_PERIOD_MS 300u
#define RC_WAIT_MS 50000u
#define UART1_STATE (*(volatile uint32_t *)0x40005004u) /* bit 1: RX byte waiting */

static unsigned char heap[TLS_HEAP_SIZE];
static struct trustm chip;
static uint8_t obj[1728];
static mbedtls_x509_crt chain, anchors;
static mbedtls_pk_context pk;
static struct tma_tls_key key;
static struct tma_tls_chip_signer signer;
static struct tma_tls_chip_rng crng;
static struct tma_tls_rng rng;
static struct tma_tls_client tls;
static struct tma_transport uart;
static struct iothub_client client;
static struct iothub_outbox outbox;
static struct iothub_flash_storage fls;
static char cred[512];
static char cmdline[128];
static char device_id[64];
static char binding_path[96];
static uint8_t protect = TRUSTM_PROTECT_NONE;
static int reconnect_mode;
static uint32_t rc_n, tls_rounds = 1;

static uint32_t tls_opens, tls_failures;
static uint32_t stack_connect, handshake_ms;
/* Where the handshake's time goes (board_now_us): waiting for the server's
 * bytes, waiting for the chip (GetRandom, CalcSign); the rest is the MCU
 * computing. Under QEMU's -icount shift=0 one instruction is 1 ns, so the
 * rest in ns is the instructions executed (tls_m4.sh runs the s_server
 * pass so). */
static uint32_t net_wait_us, chip_us, random_calls, sign_calls;
static struct tma_transport uart_raw;

/* ---- what mbedtls_config_m4.h routes here ---- */
void tls_fw_exit(int code)
{
    con_str("ERROR mbedtls_exit\n");
    semi_exit(code == 0 ? 0u : 6u);
}

int tls_fw_fprintf(void *stream, const char *fmt, ...)
{
    (void)stream;
    con_str("mbedtls: ");
    con_str(fmt); /* the allocator's diagnostics: the format is enough */
    return 0;
}

/* ---- output ---- */
static __attribute__((noreturn)) void fail(const char *what, tma_status st, uint32_t code)
{
    con_str("ERROR ");
    con_str(what);
    con_str(": ");
    con_str(tma_status_str(st));
    con_str("\n");
    semi_exit(code);
}

static void heap_report(void)
{
    size_t max_used = 0, max_blocks = 0, cur_used = 0, cur_blocks = 0;
    mbedtls_memory_buffer_alloc_max_get(&max_used, &max_blocks);
    mbedtls_memory_buffer_alloc_cur_get(&cur_used, &cur_blocks);
    con_kv_u32("heap.size", TLS_HEAP_SIZE);
    con_kv_u32("heap.max_used", (uint32_t)max_used);
    con_kv_u32("heap.max_blocks", (uint32_t)max_blocks);
    con_kv_u32("heap.cur_used", (uint32_t)cur_used);
}

static uint64_t mono_ms(void *ctx)
{
    (void)ctx;
    return g_ms_ticks;
}

/* ---- TLS over UART1 ---- */

/* Time for the handshake's accounting: the CMSDK APB timer 0 of the
 * mps2-an386 (25 MHz, like the CPU clock) as a free-running 32-bit down
 * counter, read without an interrupt (171 s until it wraps; a QEMU run
 * here lasts at most 60 s). Not board_now_us(): under QEMU its SysTick
 * counter reads 0 once it ran out, then the reloaded value before the
 * handler has counted the tick, so it stands still and then goes back by
 * up to 1 ms for a moment (seen under -icount); measured with it, the
 * resumed handshake (about 1.6 ms) came out with more waiting than it
 * lasted. */
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

static void timer0_start(void)
{
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u; /* enable, no interrupt */
}

static uint32_t now_us(void)
{
    return (0xFFFFFFFFu - TIMER0_VALUE) / (BOARD_CPU_HZ / 1000000u);
}

/* The TLS client's lower transport: UART1 (hub_fw/uart.c). When no byte is
 * there it waits here, up to 1 ms, for one, and counts that as waiting for
 * the network, so the client's own polling loop adds next to nothing. */
static int32_t uart_recv_timed(void *ctx, uint8_t *buf, size_t len)
{
    if ((UART1_STATE & 2u) == 0u) {
        uint32_t t0 = now_us();
        while ((UART1_STATE & 2u) == 0u && (uint32_t)(now_us() - t0) < 1000u) {
        }
        net_wait_us += now_us() - t0;
    }
    return uart_raw.recv(ctx, buf, len);
}

static tma_status sign_timed(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                             size_t out_size, size_t *out_len)
{
    uint32_t t0 = now_us();
    tma_status st = tma_tls_chip_sign(ctx, hash, hash_len, out, out_size, out_len);
    chip_us += now_us() - t0;
    sign_calls++;
    return st;
}

static tma_status random_timed(void *ctx, uint8_t *out, size_t len)
{
    uint32_t t0 = now_us();
    tma_status st = tma_tls_chip_random(ctx, out, len);
    chip_us += now_us() - t0;
    random_calls++;
    return st;
}

/* The client's recv for the MQTT loop: nothing buffered in TLS and no byte
 * at the UART means nothing to read now (0) without waiting out the TLS
 * read timeout (the Linux samples poll the socket the same way). */
static int32_t tls_recv_nowait(void *ctx, uint8_t *buf, size_t len)
{
    if (mbedtls_ssl_get_bytes_avail(&tls.ssl) == 0u && (UART1_STATE & 2u) == 0u) {
        return 0;
    }
    return tma_tls_client_recv(ctx, buf, len);
}

static tma_status tls_connect(void)
{
    uint32_t sp0 = stack_sp(), d, t0 = g_ms_ticks, t0_us, us, r0 = random_calls, s0 = sign_calls;
    tma_status st;
    net_wait_us = 0;
    chip_us = 0;
    t0_us = now_us();
    stack_paint();
    st = tma_tls_client_connect(&tls);
    d = sp0 - stack_low();
    us = now_us() - t0_us;
    if (d > stack_connect) {
        stack_connect = d;
    }
    handshake_ms = g_ms_ticks - t0;
    tls_opens++;
    con_kv_u32("tls.handshake_ms", handshake_ms);
    con_kv_u32("tls.handshake_us", us);
    con_kv_u32("tls.net_wait_us", net_wait_us);
    con_kv_u32("tls.chip_us", chip_us);
    con_kv_u32("tls.compute_us", us - net_wait_us - chip_us);
    con_kv_u32("tls.stack", d);                               /* this handshake's stack */
    con_kv_u32("tls.connect_chip_random", random_calls - r0); /* chip commands of this connect */
    con_kv_u32("tls.connect_chip_sign", sign_calls - s0);
    con_kv_u32("tls.signatures", key.sign_count);
    if (st != TMA_OK) {
        tls_failures++;
        con_str("ERROR tls_connect: ");
        con_str(tma_status_str(st));
        con_str(": ");
        con_str(tma_tls_client_error(&tls));
        con_str("\n");
        return st;
    }
    con_kv_str("tls.connected",
               tls.ssl.session != NULL ? mbedtls_ssl_get_ciphersuite(&tls.ssl) : "?");
    con_kv_u32("tls.resumed", tma_tls_client_resumed(&tls));
    return TMA_OK;
}

/* The MQTT bytes the client hands to TLS, printed (the host parses the
 * packets: CONNECT's identity, each PUBLISH's topic byte for byte). */
static int32_t tls_send_logged(void *ctx, const uint8_t *buf, size_t len)
{
    int32_t n = tma_tls_client_send(ctx, buf, len);
    if (n > 0) {
        con_kv_hex("mqtt.tx", buf, (size_t)n);
    }
    return n;
}

static tma_status conn_open(void *ctx, struct tma_transport *out_tr, bool *out_used_key)
{
    uint32_t signs = key.sign_count;
    tma_status st;
    (void)ctx;
    con_kv_u32("open", g_ms_ticks); /* a connect attempt (the host checks the back-off) */
    st = tls_connect();
    *out_used_key = key.sign_count != signs;
    if (st != TMA_OK) {
        return st;
    }
    *out_tr = tma_tls_client_transport(&tls);
    out_tr->send = tls_send_logged;
    out_tr->recv = tls_recv_nowait;
    return TMA_OK;
}

static void conn_close(void *ctx)
{
    (void)ctx;
    tma_tls_client_close(&tls);
}

/* ---- chip and TLS set-up ---- */
static void chip_and_tls_setup(void)
{
    struct tma_tls_client_config cfg;
    struct iothub_connector uc = hub_uart_connector();
    bool unused;
    size_t n = 0;
    tma_status st;
    uint32_t sp0, d;

    mbedtls_memory_buffer_alloc_init(heap, sizeof heap);
    st = trustm_init(&chip, &trustm_port_baremetal, 0);
    if (st == TMA_OK && binding_path[0] != 0) {
        static uint8_t pbs[64];
        if (semi_read_file(binding_path, pbs, sizeof pbs) != (int)sizeof pbs) {
            con_str("ERROR cannot read a 64-byte binding secret from ");
            con_str(binding_path);
            con_str("\n");
            semi_exit(2);
        }
        st = trustm_shield_set_secret(&chip, soft_crypto_ops(), pbs, sizeof pbs);
        memset(pbs, 0, sizeof pbs);
        protect = TRUSTM_PROTECT_BOTH;
    }
    if (st == TMA_OK) {
        st = trustm_open(&chip);
    }
    if (st == TMA_OK) {
        st = trustm_open_app(&chip, protect, 0);
    }
    if (st != TMA_OK) {
        fail("chip open", st, 2);
    }
    con_kv_str("chip.protect", protect == TRUSTM_PROTECT_NONE ? "none" : "both");
    mbedtls_x509_crt_init(&anchors);
    mbedtls_x509_crt_init(&chain);
    st = tma_tls_chip_load_certs(&chip, protect, 0xE0E8, obj, sizeof obj, &anchors, &n);
    if (st != TMA_OK) {
        fail("trust anchor 0xE0E8", st, 2);
    }
    con_kv_hex("anchor", anchors.raw.p, anchors.raw.len);
    st = tma_tls_chip_load_certs(&chip, protect, 0xE0E1, obj, sizeof obj, &chain, &n);
    if (st != TMA_OK) {
        fail("client certificate 0xE0E1", st, 2);
    }
    con_kv_hex("cert", chain.raw.p, chain.raw.len);
    signer.chip = &chip;
    signer.key_oid = 0xE0F1;
    signer.protect = protect;
    mbedtls_pk_init(&pk);
    st = tma_tls_chip_key_bind(&key, &pk, &signer, &chain, false);
    if (st != TMA_OK) {
        fail("key 0xE0F1 does not fit the certificate", st, 2);
    }
    crng.chip = &chip;
    crng.protect = protect;
    rng.ctx = &crng;
    rng.fill = random_timed;
    key.signer.sign = sign_timed; /* the same chip signer, timed */

    if (uc.open(uc.ctx, &uart_raw, &unused) != TMA_OK) {
        fail("uart", TMA_C_INTERNAL, 2);
    }
    uart = uart_raw;
    uart.recv = uart_recv_timed;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = TLS_HOST;
    cfg.ca.ptr = anchors.raw.p;
    cfg.ca.len = anchors.raw.len;
    cfg.own_chain.ptr = chain.raw.p;
    cfg.own_chain.len = chain.raw.len;
    cfg.own_key = &pk;
    cfg.rng = &rng;
    cfg.timeout_ms = 200;
    cfg.handshake_timeout_ms = reconnect_mode ? RC_HS_TIMEOUT_MS : 10000u;
    cfg.lower = &uart;
    {
        static struct tma_clock clk;
        clk.now_ms = mono_ms;
        cfg.clock = &clk;
    }
    sp0 = stack_sp();
    stack_paint();
    st = tma_tls_client_init(&tls, &cfg);
    d = sp0 - stack_low();
    con_kv_u32("stack.tma_tls_client_init", d);
    if (st != TMA_OK) {
        con_str("ERROR tls_init: ");
        con_str(tma_status_str(st));
        con_str(": ");
        con_str(tma_tls_client_error(&tls));
        con_str("\n");
        semi_exit(2);
    }
    /* the client keeps its own parsed copies */
    mbedtls_x509_crt_free(&anchors);
    con_kv_u32("tls.init_chip_random", random_calls); /* the DRBG's seeding */
    heap_report();
}

/* ---- mode tls: one exchange with openssl s_server -rev ---- */
static void run_tls_round(void)
{
    static const char hello[] = "hello from the cortex-m4 over tls\n";
    uint8_t got[128];
    size_t have = 0;
    uint32_t t0;
    int32_t n;

    if (tls_connect() != TMA_OK) {
        heap_report();
        semi_exit(3);
    }
    for (n = 0; (size_t)n < sizeof hello - 1u;) {
        int32_t k =
            tma_tls_client_send(&tls, (const uint8_t *)hello + n, sizeof hello - 1u - (size_t)n);
        if (k < 0) {
            fail("tls send", k, 3);
        }
        n += k;
    }
    con_kv_hex("tls.sent", (const uint8_t *)hello, sizeof hello - 1u);
    t0 = g_ms_ticks;
    while (have < sizeof got && (have == 0u || got[have - 1u] != '\n')) {
        n = tma_tls_client_recv(&tls, got + have, sizeof got - have);
        if (n < 0) {
            fail("tls recv", n, 3);
        }
        have += (size_t)n;
        if ((uint32_t)(g_ms_ticks - t0) > TLS_WAIT_MS) {
            con_kv_str("TIMEOUT waiting for", "the server's line");
            semi_exit(5);
        }
    }
    con_kv_hex("tls.received", got, have);
    tma_tls_client_close(&tls);
}

static void run_tls(void)
{
    uint32_t r;
    for (r = 0; r < tls_rounds; r++) {
        con_kv_u32("round", r);
        run_tls_round();
    }
    heap_report();
    con_kv_u32("stack.tma_tls_client_connect", stack_connect);
    con_kv_str("DONE", "tls");
}

/* ---- mode hub ---- */
static void on_event(void *user, enum iothub_event ev, tma_status reason)
{
    (void)user;
    switch (ev) {
    case IOTHUB_EVENT_CONNECTED:
        con_kv_u32("event connected", g_ms_ticks);
        break;
    case IOTHUB_EVENT_DISCONNECTED:
        con_kv_str("event disconnected", iothub_reason_text(reason));
        /* when and for how long the client's back-off holds off the next
         * attempt (set before this event) */
        con_str("retry ");
        con_u32(g_ms_ticks);
        con_str(" ");
        con_u32((uint32_t)iothub_client_next_attempt_in_ms(&client));
        con_str("\n");
        break;
    case IOTHUB_EVENT_AUTH_FAILED:
        con_kv_str("AUTH_FAILED", iothub_reason_text(reason));
        semi_exit(4);
        break;
    case IOTHUB_EVENT_SUBSCRIBE_REFUSED:
        con_kv_str("event subscribe_refused", tma_status_str(reason));
        break;
    }
}

static tma_status step(void)
{
    tma_status st = hub_app_step(&client);
    if (tls_failures != 0u && !reconnect_mode) {
        con_kv_u32("stats.connect_attempts", iothub_client_stats(&client).connect_attempts);
        heap_report();
        semi_exit(3); /* tls_connect() printed why */
    }
    return st;
}

static void run_until(const uint32_t *counter, uint32_t want, const char *what)
{
    hub_app_run_until(counter, want, what, TLS_WAIT_MS, step, &client);
}

/* The outbox on the flash log and the client (X.509) over conn_open(). */
static void client_setup(void)
{
    struct iothub_client_config cfg;
    struct iothub_storage st;
    tma_status s;

    s = iothub_flash_storage_open(&fls, hub_flash(), &st);
    if (s == TMA_OK) {
        s = iothub_outbox_init(&outbox, &st, 32, IOTHUB_OUTBOX_REFUSE_NEW);
    }
    if (s != TMA_OK) {
        fail("outbox", s, 2);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.id.host = TLS_HOST;
    cfg.id.device_id = device_id;
    cfg.clock.now_ms = mono_ms;
    cfg.keep_alive_s = reconnect_mode ? RC_KEEPALIVE_S : 30u;
    cfg.subscriptions = IOTHUB_SUB_C2D | IOTHUB_SUB_METHODS;
    if (reconnect_mode) {
        iothub_retry_policy_init(&cfg.retry); /* the chip pacer's defaults */
        cfg.retry.min_ms = RC_RETRY_MIN_MS;
        cfg.retry.max_ms = RC_RETRY_MAX_MS;
        cfg.retry.jitter_max_ms = RC_RETRY_JITTER_MS;
        con_kv_u32("cfg.keep_alive_s", cfg.keep_alive_s);
        con_kv_u32("cfg.retry_min_ms", cfg.retry.min_ms);
        con_kv_u32("cfg.retry_max_ms", cfg.retry.max_ms);
        con_kv_u32("cfg.retry_jitter_max_ms", cfg.retry.jitter_max_ms);
        con_kv_u32("cfg.handshake_timeout_ms", RC_HS_TIMEOUT_MS);
        con_kv_u32("cfg.window", HUB_APP_INFLIGHT - 1u);
    }
    cfg.connector.ctx = 0;
    cfg.connector.open = conn_open;
    cfg.connector.close = conn_close;
    cfg.outbox = &outbox;
    hub_app_config(&cfg, cred, sizeof cred);
    cfg.cb.on_event = on_event;
    s = iothub_client_init(&client, &cfg);
    if (s != TMA_OK) {
        fail("client_init", s, 2);
    }
}

static void client_report(void)
{
    struct iothub_client_stats cs = iothub_client_stats(&client);
    con_kv_u32("stats.connects", cs.connects);
    con_kv_u32("stats.connect_attempts", cs.connect_attempts);
    con_kv_u32("stats.key_operations", cs.key_operations);
    con_kv_u32("stats.published", cs.published);
    con_kv_u32("stats.acked", cs.acked);
    con_kv_u32("stats.retransmitted", cs.retransmitted);
    con_kv_u32("stats.c2d_received", cs.c2d_received);
    con_kv_u32("stats.rx_too_large", cs.rx_too_large);
}

static void run_hub(void)
{
    tma_status s;
    uint32_t i, t0;
    uint8_t payload[48];

    client_setup();
    t0 = g_ms_ticks;
    while (iothub_client_state(&client) != IOTHUB_STATE_CONNECTED) {
        (void)step();
        if ((uint32_t)(g_ms_ticks - t0) > TLS_WAIT_MS) {
            con_kv_str("TIMEOUT waiting for", "connect");
            con_kv_str("last_reason", iothub_reason_text(iothub_client_last_reason(&client)));
            semi_exit(5);
        }
    }
    con_kv_u32("connected_ms", g_ms_ticks - t0);
    for (i = 0; i < TLS_N; i++) {
        uint32_t seq = 0, n;
        static const char pre[] = "{\"n\":", post[] = ",\"fw\":\"qemu-m4-tls\"}";
        memcpy(payload, pre, sizeof pre - 1u);
        n = (uint32_t)(sizeof pre - 1u);
        payload[n++] = (uint8_t)('0' + i % 10u);
        memcpy(payload + n, post, sizeof post - 1u);
        n += (uint32_t)(sizeof post - 1u);
        s = iothub_client_send_telemetry(&client, hub_prop_sets[i % HUB_PROP_SETS].p,
                                         hub_prop_sets[i % HUB_PROP_SETS].n, payload, n, &seq);
        if (s != TMA_OK) {
            fail("send_telemetry", s, 2);
        }
        hub_app_print_stored(seq, i % HUB_PROP_SETS, payload, n);
    }
    run_until(&hub_app.acked, TLS_N, "PUBACKs");
    con_kv_str("READY", device_id);
    run_until(&hub_app.c2d_count, 1, "C2D");
    run_until(&hub_app.method_count, 1, "method");
    if (hub_app.rid_len == 0u) {
        con_str("ERROR method rid too long\n");
        semi_exit(2);
    }
    s = hub_app_respond(&client, "{\"result\":\"ok\",\"fw\":\"qemu-m4-tls\"}", TLS_WAIT_MS, step);
    if (s != TMA_OK) {
        fail("method_respond", s, 2);
    }
    iothub_client_disconnect(&client);
    client_report();
    tma_tls_client_deinit(&tls);
    heap_report();
    con_kv_u32("tls.opens", tls_opens);
    con_kv_u32("uart.tx_bytes", hub_uart_tx_bytes);
    con_kv_u32("uart.rx_bytes", hub_uart_rx_bytes);
    con_kv_u32("stack.tma_tls_client_connect", stack_connect);
    con_kv_u32("stack.iothub_client_step_connecting", hub_app.stack_connecting);
    con_kv_u32("stack.iothub_client_step_connected", hub_app.stack_connected);
    con_kv_str("DONE", "hub");
}

/* ---- mode reconnect ---- */
static void run_reconnect(void)
{
    static const char pre[] = "{\"n\":", post[] = ",\"fw\":\"qemu-m4-reconnect\"}";
    uint8_t payload[48];
    uint32_t stored = 0, t0, next;
    tma_status s;

    client_setup();
    t0 = g_ms_ticks;
    next = t0;
    /* one message every RC_PERIOD_MS, connected or not: what is stored
     * while the link is down waits in the outbox */
    while (hub_app.acked < rc_n) {
        if (stored < rc_n && (int32_t)(g_ms_ticks - next) >= 0) {
            uint32_t seq = 0, n = (uint32_t)(sizeof pre - 1u);
            memcpy(payload, pre, n);
            if (stored >= 10u) {
                payload[n++] = (uint8_t)('0' + stored / 10u);
            }
            payload[n++] = (uint8_t)('0' + stored % 10u);
            memcpy(payload + n, post, sizeof post - 1u);
            n += (uint32_t)(sizeof post - 1u);
            s = iothub_client_send_telemetry(&client, 0, 0, payload, n, &seq);
            if (s != TMA_OK) {
                fail("send_telemetry", s, 2);
            }
            con_str("stored ");
            con_u32(seq);
            con_str(" t ");
            con_u32(g_ms_ticks);
            con_str(" payload=");
            con_hex(payload, n);
            con_str("\n");
            stored++;
            next += RC_PERIOD_MS;
        }
        (void)step();
        if ((uint32_t)(g_ms_ticks - t0) > RC_WAIT_MS) {
            con_kv_str("TIMEOUT waiting for", "PUBACKs");
            con_kv_u32("state", (uint32_t)iothub_client_state(&client));
            con_kv_str("last_reason", iothub_reason_text(iothub_client_last_reason(&client)));
            client_report();
            semi_exit(5);
        }
    }
    con_kv_u32("all_acked_ms", g_ms_ticks - t0);
    iothub_client_disconnect(&client);
    client_report();
    tma_tls_client_deinit(&tls);
    heap_report();
    con_kv_u32("tls.opens", tls_opens);
    con_kv_u32("tls.failures", tls_failures);
    con_kv_u32("tls.signatures", key.sign_count);
    con_kv_u32("stack.tma_tls_client_connect", stack_connect);
    con_kv_u32("stack.iothub_client_step_connecting", hub_app.stack_connecting);
    con_kv_u32("stack.iothub_client_step_connected", hub_app.stack_connected);
    con_kv_str("DONE", "reconnect");
}

static uint32_t small_number(const char *a, uint32_t lo, uint32_t hi)
{
    uint32_t v = 0;
    if (a == 0 || a[0] == 0) {
        return 0;
    }
    for (; *a != 0; a++) {
        if (*a < '0' || *a > '9' || v > 1000u) {
            return 0;
        }
        v = v * 10u + (uint32_t)(*a - '0');
    }
    return v >= lo && v <= hi ? v : 0u;
}

int main(void)
{
    char *mode, *arg;
    board_init();
    timer0_start();
    hub_uart_init();
    if (semi_cmdline(cmdline, sizeof cmdline) != 0 || (mode = strchr(cmdline, ' ')) == 0) {
        con_str("ERROR usage: fw tls | fw hub DEVICE_ID [BINDING_FILE]\n");
        semi_exit(2);
    }
    mode++;
    arg = strchr(mode, ' ');
    if (arg != 0) {
        *arg++ = 0;
    }
    if (strcmp(mode, "hub") == 0) {
        char *b = arg != 0 ? strchr(arg, ' ') : 0;
        if (b != 0) {
            *b++ = 0;
            if (b[0] == 0 || strlen(b) >= sizeof binding_path) {
                con_str("ERROR usage: fw hub DEVICE_ID [BINDING_FILE]\n");
                semi_exit(2);
            }
            strcpy(binding_path, b);
        }
        if (arg == 0 || arg[0] == 0 || strlen(arg) >= sizeof device_id) {
            con_str("ERROR usage: fw hub DEVICE_ID [BINDING_FILE]\n");
            semi_exit(2);
        }
        strcpy(device_id, arg);
    } else if (strcmp(mode, "reconnect") == 0) {
        char *n = arg != 0 ? strchr(arg, ' ') : 0;
        if (n != 0) {
            *n++ = 0;
        }
        /* at most the outbox's 32 slots: REFUSE_NEW would refuse more */
        rc_n = small_number(n, 1, 30);
        if (arg == 0 || arg[0] == 0 || strlen(arg) >= sizeof device_id || rc_n == 0u) {
            con_str("ERROR usage: fw reconnect DEVICE_ID N (1-30)\n");
            semi_exit(2);
        }
        strcpy(device_id, arg);
        reconnect_mode = 1;
    } else if (strcmp(mode, "tls") == 0) {
        if (arg != 0 && (tls_rounds = small_number(arg, 1, 9)) == 0u) {
            con_str("ERROR usage: fw tls [ROUNDS 1-9]\n");
            semi_exit(2);
        }
    } else {
        con_str("ERROR usage: fw tls [ROUNDS] | fw hub DEVICE_ID [BINDING_FILE] | fw reconnect "
                "DEVICE_ID N\n");
        semi_exit(2);
    }
    chip_and_tls_setup();
    if (strcmp(mode, "tls") == 0) {
        run_tls();
    } else if (reconnect_mode) {
        run_reconnect();
    } else {
        run_hub();
    }
    return 0;
}
