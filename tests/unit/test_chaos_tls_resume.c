/* F2 of docs/design/network-faults.md: a TLS handshake that the network cuts
 * (no alert, RFC 5246 7.2.1) keeps the session the client offered, so the
 * next attempt resumes it instead of a full handshake (which costs the chip
 * a signature and, in a reconnect storm, its Security Monitor budget). A
 * handshake that fails in TLS (an alert) still forgets it, and so does a
 * run of cuts longer than the client's limit.
 *
 * The server is mbedTLS in the same process, behind the client's lower
 * transport (cfg.lower): when the client wants bytes, the server is stepped.
 * The pipe can cut after a number of bytes counted both ways. */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tma_test.h"
#include "tma/tls.h"

#define BUF_CAP 32768u

struct pipe {
    uint8_t c2s[BUF_CAP], s2c[BUF_CAP];
    size_t c2s_len, s2c_len;
    size_t total;     /* bytes moved both ways on this connection */
    size_t cut_after; /* 0: never */
    bool cut;
    bool alert;       /* the server refuses the handshake with a fatal alert */
    mbedtls_ssl_context srv;
    uint64_t now;
};

static struct pipe P;
static mbedtls_ssl_config srv_conf;
static mbedtls_x509_crt srv_cert;
static mbedtls_pk_context srv_key;
static mbedtls_ssl_cache_context cache;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static uint8_t *ca_pem;
static size_t ca_len;

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    long n;
    uint8_t *b;
    snprintf(path, sizeof(path), "%s/tests/vectors/tls/%s", getenv("TMA_SOURCE_DIR"), name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n + 1; /* PEM with its NUL */
    return b;
}

/* server BIO */
static int srv_send(void *ctx, const unsigned char *buf, size_t len)
{
    (void)ctx;
    if (P.cut) {
        return MBEDTLS_ERR_NET_CONN_RESET;
    }
    assert_true(P.s2c_len + len <= BUF_CAP);
    memcpy(P.s2c + P.s2c_len, buf, len);
    P.s2c_len += len;
    return (int)len;
}

static int srv_recv(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    if (P.c2s_len == 0) {
        return P.cut ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_SSL_WANT_READ;
    }
    if (len > P.c2s_len) {
        len = P.c2s_len;
    }
    memcpy(buf, P.c2s, len);
    memmove(P.c2s, P.c2s + len, P.c2s_len - len);
    P.c2s_len -= len;
    return (int)len;
}

/* How much of n may move before the cut; performs it when reached. */
static size_t budget(size_t n)
{
    if (P.cut_after != 0u && P.total + n >= P.cut_after) {
        n = P.cut_after - P.total;
        P.cut = true;
    }
    P.total += n;
    return n;
}

/* client's lower transport */
static int32_t cli_send(void *ctx, const uint8_t *buf, size_t len)
{
    size_t n;
    (void)ctx;
    if (P.cut) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    n = budget(len);
    assert_true(P.c2s_len + n <= BUF_CAP);
    memcpy(P.c2s + P.c2s_len, buf, n);
    P.c2s_len += n;
    return n > 0u ? (int32_t)n : TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
}

static int32_t cli_recv(void *ctx, uint8_t *buf, size_t len)
{
    size_t n;
    (void)ctx;
    if (P.s2c_len == 0u && !P.cut) {
        int r = mbedtls_ssl_handshake(&P.srv);
        if (r == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED || (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ &&
                                                          r != MBEDTLS_ERR_NET_CONN_RESET)) {
            fail_msg("server handshake: -0x%04X", (unsigned)-r);
        }
    }
    if (P.s2c_len == 0u) {
        return P.cut ? TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED) : 0;
    }
    if (len > P.s2c_len) {
        len = P.s2c_len;
    }
    n = budget(len);
    if (n == 0u) {
        return TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED);
    }
    memcpy(buf, P.s2c, n);
    memmove(P.s2c, P.s2c + n, P.s2c_len - n);
    P.s2c_len -= n;
    return (int32_t)n;
}

static uint64_t clock_ms(void *ctx)
{
    (void)ctx;
    return P.now++;
}

static const struct tma_transport lower = {NULL, cli_send, cli_recv};
static const struct tma_clock clk = {NULL, clock_ms};

/* The server: its certificate is the client's trust anchor. */
static int setup(void **state)
{
    size_t n;
    uint8_t *key;
    (void)state;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
    ca_pem = slurp("dev-cert.pem", &ca_len);
    key = slurp("dev-key.pem", &n);
    mbedtls_x509_crt_init(&srv_cert);
    mbedtls_pk_init(&srv_key);
    assert_int_equal(mbedtls_x509_crt_parse(&srv_cert, ca_pem, ca_len), 0);
    assert_int_equal(mbedtls_pk_parse_key(&srv_key, key, n, NULL, 0), 0);
    free(key);
    mbedtls_ssl_config_init(&srv_conf);
    assert_int_equal(mbedtls_ssl_config_defaults(&srv_conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT), 0);
    mbedtls_ssl_conf_rng(&srv_conf, mbedtls_ctr_drbg_random, &drbg);
    assert_int_equal(mbedtls_ssl_conf_own_cert(&srv_conf, &srv_cert, &srv_key), 0);
    mbedtls_ssl_cache_init(&cache);
    mbedtls_ssl_conf_session_cache(&srv_conf, &cache, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
    mbedtls_ssl_init(&P.srv);
    assert_int_equal(mbedtls_ssl_setup(&P.srv, &srv_conf), 0);
    mbedtls_ssl_set_bio(&P.srv, NULL, srv_send, srv_recv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_ssl_free(&P.srv);
    mbedtls_ssl_cache_free(&cache);
    mbedtls_ssl_config_free(&srv_conf);
    mbedtls_pk_free(&srv_key);
    mbedtls_x509_crt_free(&srv_cert);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    free(ca_pem);
    return 0;
}

/* A fresh TCP connection: empty pipe, server reset. */
static void new_connection(size_t cut_after)
{
    P.c2s_len = P.s2c_len = 0;
    P.total = 0;
    P.cut = false;
    P.cut_after = cut_after;
    assert_int_equal(mbedtls_ssl_session_reset(&P.srv), 0);
}

static struct tma_tls_client *client_new(void)
{
    static struct tma_tls_client c;
    struct tma_tls_client_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "tls-vector-device";
    cfg.ca.ptr = ca_pem;
    cfg.ca.len = ca_len;
    cfg.lower = &lower;
    cfg.clock = &clk;
    assert_int_equal(tma_tls_client_init(&c, &cfg), TMA_OK);
    return &c;
}

/* connect; returns the status, the client closed again on success */
static tma_status attempt(struct tma_tls_client *c, size_t cut_after, bool *out_resumed)
{
    tma_status st;
    new_connection(cut_after);
    st = tma_tls_client_connect(c);
    *out_resumed = st == TMA_OK && tma_tls_client_resumed(c);
    if (st == TMA_OK) {
        tma_tls_client_close(c);
    }
    return st;
}

/* Bytes a resumed handshake moves before the client is done with it. */
static size_t resumed_handshake_bytes(struct tma_tls_client *c)
{
    bool resumed;
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    assert_true(resumed);
    return P.total;
}

static void test_cut_handshake_keeps_session(void **state)
{
    struct tma_tls_client *c = client_new();
    bool resumed = true;
    size_t hs, cut;
    (void)state;
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    assert_false(resumed); /* first: full handshake */
    hs = resumed_handshake_bytes(c);
    /* Cut every resumed handshake at a different byte: ClientHello, the
     * server's flight, the client's Finished. Each next attempt resumes. */
    for (cut = 1; cut < hs; cut += hs / 7u + 1u) {
        assert_true(attempt(c, cut, &resumed) < 0);
        assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
        if (!resumed) {
            fail_msg("a cut after %zu of %zu handshake bytes lost the session", cut, hs);
        }
    }
    tma_tls_client_deinit(c);
}

static void test_cuts_in_a_row_limited(void **state)
{
    struct tma_tls_client *c = client_new();
    bool resumed = true;
    int i;
    (void)state;
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    /* Four cut attempts in a row keep the session... */
    for (i = 0; i < 4; i++) {
        assert_true(attempt(c, 40, &resumed) < 0);
    }
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    assert_true(resumed);
    /* ...a fifth drops it: a middlebox that kills every resumption must not
     * keep the client from a full handshake for ever. */
    for (i = 0; i < 5; i++) {
        assert_true(attempt(c, 40, &resumed) < 0);
    }
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    assert_false(resumed);
    tma_tls_client_deinit(c);
}

/* The server ends the handshake with a fatal alert: RFC 5246 7.2.2, the
 * session is forgotten (unchanged behaviour). */
static void test_alert_forgets_session(void **state)
{
    struct tma_tls_client *c = client_new();
    bool resumed = true;
    tma_status st;
    (void)state;
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    new_connection(0);
    /* the server answers the ClientHello with handshake_failure */
    (void)mbedtls_ssl_send_alert_message(&P.srv, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                         MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    P.cut = false;
    st = tma_tls_client_connect(c);
    assert_true(st < 0);
    assert_int_equal(attempt(c, 0, &resumed), TMA_OK);
    assert_false(resumed);
    tma_tls_client_deinit(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_handshake_keeps_session),
        cmocka_unit_test(test_cuts_in_a_row_limited),
        cmocka_unit_test(test_alert_forgets_session),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
