/* TLS client transport over TCP (mbedtls_net). Server verification is always
 * required and the host name always checked: there is no switch to turn
 * either off. The session of the last connection is kept so the next
 * connect can resume it (session ticket or id) and skip the signature.
 *
 * The same file builds for an MCU against an mbedTLS without MBEDTLS_NET_C
 * (tests/qemu/tls_fw/mbedtls_config_m4.h): then there is no TCP of its own
 * and a caller's transport (cfg.lower) is required; nothing else changes. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime(CLOCK_MONOTONIC) */
#endif
#include "tma/tls.h"
#include "tls_internal.h"

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#define HAVE_POSIX_NET 1
#endif

#define TLS_ERR(code) TMA_ERR(TMA_LAYER_TLS, (code))
#define DEFAULT_TIMEOUT_MS 10000u

/* AEAD suites with forward secrecy only; both the ECDSA ones (chip key) and
 * the RSA ones (servers such as IoT Hub that present RSA chains). */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

/* Key exchange groups and certificate curves: 128-bit security or more
 * (review docs/decisions/tls-review.md, R1). mbedTLS 2.28's defaults offer
 * every compiled curve (secp192r1 and secp224r1 too) and let a server
 * certificate sit on any of them; the curve list is also what a server leaf's
 * key must be on. Each entry only where the build has the curve: a listed
 * curve mbedTLS does not know fails the handshake (MCU builds with P-256
 * only). */
static const mbedtls_ecp_group_id curves[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
    MBEDTLS_ECP_DP_CURVE25519,
#endif
#if defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
    MBEDTLS_ECP_DP_SECP256R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
    MBEDTLS_ECP_DP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
    MBEDTLS_ECP_DP_SECP521R1,
#endif
    MBEDTLS_ECP_DP_NONE,
};

#if defined(MBEDTLS_KEY_EXCHANGE_WITH_CERT_ENABLED)
/* Hashes for the server's ServerKeyExchange signature: SHA-2 from 256 bits
 * (the 2.28 default also takes SHA-224). Each only where the build has it,
 * as for the curves: mbedTLS writes a hash it lacks into the ClientHello's
 * signature_algorithms as "none" (0), paired with ECDSA and RSA (the M4
 * build has no SHA-512/384). */
static const int sig_hashes[] = {
#if defined(MBEDTLS_SHA512_C)
    MBEDTLS_MD_SHA512,
#if !defined(MBEDTLS_SHA512_NO_SHA384)
    MBEDTLS_MD_SHA384,
#endif
#endif
#if defined(MBEDTLS_SHA256_C)
    MBEDTLS_MD_SHA256,
#endif
    MBEDTLS_MD_NONE,
};
#endif

/* Milliseconds from the injected clock, else the monotonic clock; 0 when
 * there is neither (then the handshake bound is per read, as mbedTLS has it). */
static uint64_t now_ms(const struct tma_tls_client *c)
{
    if (c->clock != NULL && c->clock->now_ms != NULL) {
        return c->clock->now_ms(c->clock->ctx); /* (init checks it only with lower) */
    }
#if HAVE_POSIX_NET
    {
        struct timespec ts;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
            return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        }
    }
#endif
    return 0u;
}

/* During the handshake: milliseconds left for the message being awaited.
 * Each handshake state gets handshake_timeout_ms in all, not per read: a
 * server that trickles one byte a second would otherwise hold the handshake
 * open for ever (review R2). UINT32_MAX outside the handshake. */
static uint32_t hs_left(struct tma_tls_client *c)
{
    uint32_t now, spent;
    if (!c->in_handshake) {
        return UINT32_MAX;
    }
    /* Elapsed time as a wrapping 32-bit difference, not a deadline
     * now + timeout: that sum wraps for a clock near 2^64 (or a 32-bit
     * tick near 2^32) and every read would time out at once. A difference
     * of 2^31 or more is a read below the start (a clock stepped back):
     * no time spent, not 2^32 - 1 ms (review REV13 F2); a clock that stays
     * J behind lengthens this message's bound by J. */
    now = (uint32_t)now_ms(c);
    if (c->ssl.state != c->hs_state || !c->hs_armed) {
        c->hs_state = c->ssl.state;
        c->hs_armed = true;
        c->hs_start = now;
    }
    spent = now - c->hs_start;
    if (spent >= 0x80000000u) {
        spent = 0u;
    }
    return spent >= c->handshake_timeout_ms ? 0u : c->handshake_timeout_ms - spent;
}

/* mbedTLS reads a record in two exact reads (header, then body) and its
 * recv_timeout puts a select() before each. When the bytes are already there
 * (a stream of PUBACKs) the select is a wasted system call: try a
 * non-blocking read first and wait only when nothing has arrived. */
#if defined(MBEDTLS_NET_C)
static int net_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    struct tma_tls_client *c = ctx;
    uint32_t left = hs_left(c);
#if HAVE_POSIX_NET
    ssize_t r;
#endif
    if (left == 0u) {
        return MBEDTLS_ERR_SSL_TIMEOUT; /* this handshake message took too long */
    }
#if HAVE_POSIX_NET
    r = recv(c->net.fd, buf, len > (size_t)INT_MAX ? (size_t)INT_MAX : len, MSG_DONTWAIT);
    if (r >= 0) {
        return (int)r; /* 0: the peer closed, as mbedtls_net_recv reports it */
    }
    /* EAGAIN, EINTR or an error: the mbedTLS path waits or maps the error. */
#endif
    return mbedtls_net_recv_timeout(&c->net, buf, len, left < timeout ? left : timeout);
}

/* Both BIO callbacks get the client (the deadline above lives there). A send
 * blocked longer than SO_SNDTIMEO (a peer that stopped reading, review R3)
 * fails in mbedtls_net_send with SEND_FAILED. */
static int net_send(void *ctx, const unsigned char *buf, size_t len)
{
    return mbedtls_net_send(&((struct tma_tls_client *)ctx)->net, buf, len);
}
#endif

static void set_error(struct tma_tls_client *c, const char *msg)
{
    (void)snprintf(c->error, sizeof(c->error), "%s", msg);
}

static void release(struct tma_tls_client *c)
{
#if defined(MBEDTLS_NET_C)
    mbedtls_net_free(&c->net);
#endif
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->own);
    mbedtls_ssl_session_free(&c->saved);
}

tma_status tma_tls_client_init(struct tma_tls_client *c, const struct tma_tls_client_config *cfg)
{
    static const uint8_t pers[] = "tma-tls-client";
    tma_status st;
    size_t n = 0;
    size_t host_len;
    size_t port_len;

    if (c == NULL || cfg == NULL || cfg->host == NULL ||
        (cfg->port == NULL && cfg->lower == NULL) || cfg->ca.ptr == NULL || cfg->ca.len == 0u ||
        (cfg->own_chain.ptr != NULL && cfg->own_key == NULL) ||
        (cfg->lower != NULL && (cfg->lower->send == NULL || cfg->lower->recv == NULL ||
                                cfg->clock == NULL || cfg->clock->now_ms == NULL))) {
        return TLS_ERR(TMA_C_BAD_PARAM);
    }
#if !defined(MBEDTLS_NET_C)
    if (cfg->lower == NULL) {
        return TLS_ERR(TMA_C_UNSUPPORTED); /* no TCP in this mbedTLS: give cfg.lower */
    }
#endif
    host_len = strlen(cfg->host);
    port_len = cfg->port != NULL ? strlen(cfg->port) : 1u;
    if (host_len == 0u || host_len >= sizeof(c->host) || port_len == 0u ||
        port_len >= sizeof(c->port)) {
        return TLS_ERR(TMA_C_BAD_PARAM);
    }
    memset(c, 0, sizeof(*c));
    memcpy(c->host, cfg->host, host_len + 1u);
    if (cfg->port != NULL) {
        memcpy(c->port, cfg->port, port_len + 1u);
    }
    c->lower = cfg->lower;
    c->clock = cfg->clock;
    memcpy(c->address, c->host, host_len + 1u);
    if (cfg->address != NULL) {
        size_t n_addr = strlen(cfg->address);
        if (n_addr == 0u || n_addr >= sizeof(c->address)) {
            memset(c, 0, sizeof(*c));
            return TLS_ERR(TMA_C_BAD_PARAM);
        }
        memcpy(c->address, cfg->address, n_addr + 1u);
    }
    c->own_key = cfg->own_key;
#if defined(MBEDTLS_NET_C)
    mbedtls_net_init(&c->net);
#endif
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->own);
    mbedtls_ssl_session_init(&c->saved);

    st = tma_tls_parse_certs(&c->ca, cfg->ca, &n);
    if (st != TMA_OK) {
        set_error(c, "trust anchors do not parse");
        goto fail;
    }
    if (cfg->own_chain.ptr != NULL) {
        st = tma_tls_parse_certs(&c->own, cfg->own_chain, &n);
        if (st != TMA_OK) {
            set_error(c, "client certificate chain does not parse");
            goto fail;
        }
        st = tma_tls_key_matches_cert(cfg->own_key, &c->own);
        if (st != TMA_OK) {
            set_error(c, "client certificate does not carry the key's public key");
            goto fail;
        }
    }
    if (cfg->rng != NULL) {
        st = tma_tls_entropy_add(&c->entropy, cfg->rng);
        if (st != TMA_OK) {
            goto fail;
        }
    }
    st = TLS_ERR(TMA_C_CRYPTO);
    if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, pers,
                              sizeof(pers) - 1u) != 0) {
        set_error(c, "random generator could not be seeded");
        goto fail;
    }
    if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        goto fail;
    }
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&c->conf, suites);
    mbedtls_ssl_conf_curves(&c->conf, curves);
#if defined(MBEDTLS_KEY_EXCHANGE_WITH_CERT_ENABLED)
    mbedtls_ssl_conf_sig_hashes(&c->conf, sig_hashes);
#endif
    /* SHA-256 and up, curves of 128-bit security or more, RSA >= 2048. */
    mbedtls_ssl_conf_cert_profile(&c->conf, &mbedtls_x509_crt_profile_next);
    mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    c->timeout_ms = cfg->timeout_ms != 0u ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->handshake_timeout_ms = cfg->handshake_timeout_ms;
    if (c->handshake_timeout_ms == 0u) {
        c->handshake_timeout_ms =
            c->timeout_ms > DEFAULT_TIMEOUT_MS ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
    }
    mbedtls_ssl_conf_read_timeout(&c->conf, c->timeout_ms);
    if (cfg->own_chain.ptr != NULL &&
        mbedtls_ssl_conf_own_cert(&c->conf, &c->own, cfg->own_key) != 0) {
        goto fail;
    }
    if (mbedtls_ssl_setup(&c->ssl, &c->conf) != 0) {
        goto fail;
    }
    c->ssl_ready = true;
    c->error[0] = '\0';
    return TMA_OK;

fail:
    {
        char keep[sizeof(c->error)];
        memcpy(keep, c->error, sizeof(keep));
        release(c);
        mbedtls_platform_zeroize(c, sizeof(*c));
        memcpy(c->error, keep, sizeof(keep));
    }
    return st;
}

static const char *alert_name(uint8_t alert)
{
    switch (alert) {
    case 40: return "handshake failure: e.g. no client certificate or no common suite";
    case 42: return "bad certificate: the server rejected the client certificate";
    case 43: return "unsupported certificate";
    case 44: return "certificate revoked";
    case 45: return "certificate expired: the server rejected the client certificate";
    case 46: return "certificate unknown";
    case 48: return "unknown CA: the client certificate's issuer is not trusted by the server";
    case 51: return "decrypt error: the client signature did not verify (wrong key?)";
    case 70: return "protocol version";
    case 71: return "insufficient security";
    case 80: return "internal error";
    case 112: return "unrecognized name";
    default: return "see RFC 5246 section 7.2";
    }
}

/* BIO over a caller's transport (cfg.lower). */
static int lower_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tma_tls_client *c = ctx;
    int32_t n = c->lower->send(c->lower->ctx, buf, len);
    if (n > 0) {
        return (int)n;
    }
    if (n == 0) {
        /* The handshake loop retries WANT_WRITE at once: without this bound
         * a peer that never takes the bytes spins it for ever (review R2). */
        return hs_left(c) == 0u ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    return TMA_STATUS_CODE(n) == TMA_C_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET
                                              : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int lower_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    struct tma_tls_client *c = ctx;
    uint64_t start = c->clock->now_ms(c->clock->ctx);
    uint32_t left = hs_left(c);
    if (left == 0u) {
        return MBEDTLS_ERR_SSL_TIMEOUT; /* this handshake message took too long */
    }
    if (left < timeout) {
        timeout = left;
    }
    for (;;) {
        int32_t n = c->lower->recv(c->lower->ctx, buf, len);
        if (n > 0) {
            return (int)n;
        }
        if (n < 0) {
            return TMA_STATUS_CODE(n) == TMA_C_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET
                                                      : MBEDTLS_ERR_NET_RECV_FAILED;
        }
        /* a wrapping 32-bit difference: a 32-bit tick may wrap meanwhile;
         * 2^31 or more is a read below start (a clock stepped back): no
         * time, as in hs_left() */
        if (timeout != 0u) {
            uint32_t spent = (uint32_t)(c->clock->now_ms(c->clock->ctx) - start);
            if (spent < 0x80000000u && spent >= timeout) {
                return MBEDTLS_ERR_SSL_TIMEOUT;
            }
        }
    }
}

/* Verification failures, most telling reason first. */
static tma_status verify_status(struct tma_tls_client *c, uint32_t flags)
{
    char info[160];
    int n = mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
    size_t i;
    tma_status st;
    const char *what;

    /* verify_info writes one line per reason: keep the first line only. */
    for (i = 0; n > 0 && i < (size_t)n && info[i] != '\0'; i++) {
        if (info[i] == '\n') {
            info[i] = '\0';
            break;
        }
    }
    if (n <= 0) {
        info[0] = '\0';
    }
    if ((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0u) {
        st = TLS_ERR(TMA_TLS_E_UNTRUSTED);
        what = "server certificate not trusted: its chain does not end in a configured trust anchor";
    } else if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0u) {
        st = TLS_ERR(TMA_TLS_E_HOSTNAME);
        what = "server certificate is not valid for host name";
    } else if ((flags & MBEDTLS_X509_BADCERT_EXPIRED) != 0u) {
        st = TLS_ERR(TMA_TLS_E_EXPIRED);
        what = "server certificate has expired";
    } else if ((flags & MBEDTLS_X509_BADCERT_FUTURE) != 0u) {
        st = TLS_ERR(TMA_TLS_E_NOT_YET_VALID);
        what = "server certificate is not valid yet";
    } else if ((flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
                         MBEDTLS_X509_BADCERT_NS_CERT_TYPE)) != 0u) {
        st = TLS_ERR(TMA_TLS_E_VERIFY);
        what = "server certificate rejected: its key usage does not allow a TLS server";
    } else {
        st = TLS_ERR(TMA_TLS_E_VERIFY);
        what = "server certificate rejected";
    }
    if (st == TLS_ERR(TMA_TLS_E_HOSTNAME)) {
        (void)snprintf(c->error, sizeof(c->error), "%s '%.200s'", what, c->host);
    } else {
        (void)snprintf(c->error, sizeof(c->error), "%s (%s)", what, info);
    }
    return st;
}

static tma_status handshake_status(struct tma_tls_client *c, int ret)
{
    char msg[96];
    tma_status signer = tma_tls_key_last_status(c->own_key);
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        c->verify_flags = mbedtls_ssl_get_verify_result(&c->ssl);
        return verify_status(c, c->verify_flags);
    }
    if (ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) {
        /* A chain that verifies but whose (extended) key usage excludes a
         * TLS server ends here, not in CERT_VERIFY_FAILED: name the reason
         * from the flags instead of "processing of the Certificate message
         * failed". Flags of 0 or -1 (none recorded) keep the generic text. */
        uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        if (flags != 0u && flags != UINT32_MAX) {
            c->verify_flags = flags;
            return verify_status(c, flags);
        }
    }
    if (signer != TMA_OK) {
        (void)snprintf(c->error, sizeof(c->error), "signing with the client key failed: %s",
                       tma_status_str(signer));
        return TLS_ERR(TMA_TLS_E_SIGNER);
    }
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        (void)snprintf(c->error, sizeof(c->error), "server aborted the handshake: alert %u (%s)",
                       (unsigned)c->ssl.in_msg[1], alert_name(c->ssl.in_msg[1]));
        return TLS_ERR(TMA_TLS_E_PEER_ALERT);
    }
    if (ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_CONN_EOF ||
        ret == MBEDTLS_ERR_NET_RECV_FAILED) {
        /* No alert came: the connection itself ended (a cut, a reset, a
         * server that went away). Named as such, not as a refusal. */
        (void)snprintf(c->error, sizeof(c->error),
                       "connection lost during the handshake (no TLS alert)");
        return TLS_ERR(TMA_C_CLOSED);
    }
    /* mbedTLS' own texts for these read like a bug of ours ("bad input
     * parameters to function"); name what the server did (review R6). */
    if (ret == MBEDTLS_ERR_SSL_BAD_INPUT_DATA || ret == MBEDTLS_ERR_SSL_INVALID_RECORD) {
        (void)snprintf(msg, sizeof(msg), "the server sent a malformed or oversized record");
    } else if (ret == MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE) {
        (void)snprintf(msg, sizeof(msg),
                       "unsupported by the client (e.g. a handshake message over 16 KB)");
    } else if (ret == MBEDTLS_ERR_X509_FATAL_ERROR) {
        (void)snprintf(msg, sizeof(msg), "server chain too long (over 8 intermediates)");
    } else {
        mbedtls_strerror(ret, msg, sizeof(msg));
    }
    (void)snprintf(c->error, sizeof(c->error), "TLS handshake failed: %s (-0x%04X)", msg,
                   (unsigned)-ret);
    return ret == MBEDTLS_ERR_SSL_TIMEOUT ? TLS_ERR(TMA_C_TIMEOUT) : TLS_ERR(TMA_TLS_E_HANDSHAKE);
}

/* Handshakes in a row a saved session survives when the network drops
 * under them; after that it is dropped (a middlebox that resets every
 * resumption attempt must not keep the client from a full handshake). */
#define TLS_RESUME_CUTS_MAX 4u

/* The handshake ended because the transport did, not because of TLS. */
static bool transport_failure(int ret)
{
    return ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_CONN_EOF ||
           ret == MBEDTLS_ERR_NET_RECV_FAILED || ret == MBEDTLS_ERR_NET_SEND_FAILED ||
           ret == MBEDTLS_ERR_SSL_TIMEOUT;
}

tma_status tma_tls_client_connect(struct tma_tls_client *c)
{
    int ret;
    tma_status st;

    if (c == NULL || !c->ssl_ready) {
        return TLS_ERR(TMA_C_BAD_PARAM);
    }
    if (c->connected) {
        return TLS_ERR(TMA_C_STATE);
    }
    c->error[0] = '\0';
    c->resumed = false;
    c->verify_flags = 0;
    if (mbedtls_ssl_session_reset(&c->ssl) != 0 ||
        mbedtls_ssl_set_hostname(&c->ssl, c->host) != 0) {
        return TLS_ERR(TMA_C_INTERNAL);
    }
    if (c->has_saved && mbedtls_ssl_set_session(&c->ssl, &c->saved) != 0) {
        c->has_saved = false; /* unusable: do a full handshake */
    }
    if (c->lower != NULL) {
        mbedtls_ssl_set_bio(&c->ssl, c, lower_send, NULL, lower_recv_timeout);
        ret = 0;
    } else {
#if defined(MBEDTLS_NET_C)
        ret = mbedtls_net_connect(&c->net, c->address, c->port, MBEDTLS_NET_PROTO_TCP);
        if (ret == 0) {
#if HAVE_POSIX_NET
            /* MQTT writes whole packets (a burst of PUBLISHes is one record):
             * Nagle would only hold a record back until the previous one is
             * acknowledged, which with delayed ACKs stalls a QoS 1 window. */
            int one = 1;
            /* A send that makes no progress for handshake_timeout_ms (the
             * peer stopped reading) fails instead of blocking for ever. */
            struct timeval tv;
            tv.tv_sec = (time_t)(c->handshake_timeout_ms / 1000u);
            tv.tv_usec = (suseconds_t)((c->handshake_timeout_ms % 1000u) * 1000u);
            (void)setsockopt(c->net.fd, IPPROTO_TCP, TCP_NODELAY, &one, (socklen_t)sizeof(one));
            (void)setsockopt(c->net.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, (socklen_t)sizeof(tv));
#endif
            mbedtls_ssl_set_bio(&c->ssl, c, net_send, NULL, net_recv_timeout);
        }
#else
        ret = MBEDTLS_ERR_SSL_BAD_INPUT_DATA; /* unreachable: init requires lower */
#endif
    }
    if (ret != 0) {
        char msg[96];
        mbedtls_strerror(ret, msg, sizeof(msg));
        (void)snprintf(c->error, sizeof(c->error), "cannot connect to %.120s port %.7s: %.96s", c->address,
                       c->port, msg);
#if defined(MBEDTLS_NET_C)
        mbedtls_net_free(&c->net);
#endif
        return TLS_ERR(TMA_TLS_E_CONNECT);
    }
    /* Forget a previous signer failure so it is not blamed for this one. */
    tma_tls_key_reset_status(c->own_key);
    mbedtls_ssl_conf_read_timeout(&c->conf, c->handshake_timeout_ms);
    c->in_handshake = true;
    c->hs_armed = false;
    do {
        ret = mbedtls_ssl_handshake(&c->ssl);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    c->in_handshake = false;
    mbedtls_ssl_conf_read_timeout(&c->conf, c->timeout_ms);
    if (ret != 0) {
        st = handshake_status(c, ret);
#if defined(MBEDTLS_NET_C)
        mbedtls_net_free(&c->net);
#endif
        /* The failed handshake's master secret and keys are wiped now, not
         * at the next connect or deinit (review R5). */
        (void)mbedtls_ssl_session_reset(&c->ssl);
        /* A session we offered is forgotten when the handshake failed in
         * TLS (an alert either way, a verification or protocol error: RFC
         * 5246 7.2.2), but not when the network dropped under it (EOF,
         * reset, timeout: no alert, RFC 5246 7.2.1 lets such a session be
         * resumed). Forgetting it there made every cut in a handshake cost
         * the chip a signature on the next attempt (network-faults.md, F2). */
        if (c->has_saved && transport_failure(ret) && c->saved_cuts < TLS_RESUME_CUTS_MAX) {
            c->saved_cuts++;
        } else if (c->has_saved) {
            c->saved_cuts = 0u;
            mbedtls_ssl_session_free(&c->saved);
            mbedtls_ssl_session_init(&c->saved);
            c->has_saved = false;
        }
        return st;
    }
    /* A resumed session keeps the master secret of the one we offered. */
    c->resumed = c->has_saved && c->ssl.session != NULL &&
                 memcmp(c->ssl.session->master, c->saved.master,
                        sizeof(c->saved.master)) == 0;
    mbedtls_ssl_session_free(&c->saved);
    mbedtls_ssl_session_init(&c->saved);
    c->has_saved = mbedtls_ssl_get_session(&c->ssl, &c->saved) == 0;
    c->saved_cuts = 0u;
    c->connected = true;
    return TMA_OK;
}

/* Common checks of send and recv: 1 to go on (len clamped), else the value
 * to return (0 for an empty request, a status for a bad call). */
static int32_t io_check(const struct tma_tls_client *c, const uint8_t *buf, size_t *len)
{
    if (c == NULL || buf == NULL) {
        return TLS_ERR(TMA_C_BAD_PARAM);
    }
    if (!c->connected) {
        return TLS_ERR(TMA_C_STATE);
    }
    if (*len == 0u) {
        return 0;
    }
    if (*len > (size_t)INT32_MAX) {
        *len = (size_t)INT32_MAX;
    }
    return 1;
}

int32_t tma_tls_client_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct tma_tls_client *c = ctx;
    int32_t chk = io_check(c, buf, &len);
    int ret;

    if (chk != 1) {
        return chk;
    }
    ret = mbedtls_ssl_write(&c->ssl, buf, len);
    if (ret > 0) {
        return (int32_t)ret;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        return 0;
    }
    return ret == MBEDTLS_ERR_NET_CONN_RESET ? TLS_ERR(TMA_C_CLOSED) : TLS_ERR(TMA_C_IO);
}

int32_t tma_tls_client_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct tma_tls_client *c = ctx;
    int32_t chk = io_check(c, buf, &len);
    int ret;

    if (chk != 1) {
        return chk;
    }
    ret = mbedtls_ssl_read(&c->ssl, buf, len);
    if (ret > 0) {
        return (int32_t)ret;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
        ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        return 0;
    }
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
        ret == MBEDTLS_ERR_NET_CONN_RESET) {
        return TLS_ERR(TMA_C_CLOSED);
    }
    return TLS_ERR(TMA_C_IO);
}

void tma_tls_client_set_timeout(struct tma_tls_client *c, uint32_t timeout_ms)
{
    if (c == NULL || !c->ssl_ready) {
        return;
    }
    c->timeout_ms = timeout_ms != 0u ? timeout_ms : DEFAULT_TIMEOUT_MS;
    mbedtls_ssl_conf_read_timeout(&c->conf, c->timeout_ms);
}

struct tma_transport tma_tls_client_transport(struct tma_tls_client *c)
{
    struct tma_transport t;
    t.ctx = c;
    t.send = tma_tls_client_send;
    t.recv = tma_tls_client_recv;
    return t;
}

void tma_tls_client_close(struct tma_tls_client *c)
{
    if (c == NULL || !c->connected) {
        return;
    }
    (void)mbedtls_ssl_close_notify(&c->ssl);
#if defined(MBEDTLS_NET_C)
    mbedtls_net_free(&c->net);
#endif
    /* Traffic keys and the connection's copy of the session go; only the
     * kept session (for resumption) stays until deinit. */
    (void)mbedtls_ssl_session_reset(&c->ssl);
    c->connected = false;
}

void tma_tls_client_deinit(struct tma_tls_client *c)
{
    if (c == NULL) {
        return;
    }
    tma_tls_client_close(c);
    if (c->ssl_ready) {
        release(c);
    }
    mbedtls_platform_zeroize(c, sizeof(*c));
}

bool tma_tls_client_resumed(const struct tma_tls_client *c)
{
    return c != NULL && c->resumed;
}

const char *tma_tls_client_error(const struct tma_tls_client *c)
{
    return c == NULL ? "" : c->error;
}
