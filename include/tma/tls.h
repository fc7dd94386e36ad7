/**
 * @file tls.h
 * @brief mbedTLS binding for a key that never leaves a secure element, an
 * mbedTLS entropy source fed by an external random generator, and a TLS
 * client transport (the project's send/recv interface) over TCP.
 *
 * Built against mbedTLS 2.28 (Debian 12). The key binding uses mbedTLS'
 * pk_info table (mbedtls/pk_internal.h); docs/tls-binding.md explains why and
 * how the same is done on mbedTLS 3.x and ESP-IDF.
 *
 * No function here allocates memory itself (mbedTLS allocates internally for
 * its big numbers and certificates). Contexts are owned by the caller.
 */
#ifndef TMA_TLS_H
#define TMA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name TLS-layer codes (TMA_ERR(TMA_LAYER_TLS, code)); names in status.c.
 * @{ */
#define TMA_TLS_E_UNTRUSTED 0x40    /**< server chain does not lead to a trust anchor */
#define TMA_TLS_E_HOSTNAME 0x41     /**< server certificate is not for the host name */
#define TMA_TLS_E_EXPIRED 0x42      /**< a certificate in the server chain has expired */
#define TMA_TLS_E_NOT_YET_VALID 0x43 /**< a certificate in the chain is not valid yet */
#define TMA_TLS_E_VERIFY 0x44       /**< server certificate rejected for another reason */
#define TMA_TLS_E_HANDSHAKE 0x45    /**< handshake failed (protocol, suites, alert) */
#define TMA_TLS_E_KEY_MISMATCH 0x46 /**< certificate public key is not the signer's key */
#define TMA_TLS_E_PEER_ALERT 0x47   /**< peer sent a fatal alert (e.g. rejected our certificate) */
#define TMA_TLS_E_SIGNER 0x48       /**< the delegated signer failed */
#define TMA_TLS_E_CONNECT 0x49      /**< TCP connection could not be made */
/** @} */

/** Largest DER ECDSA-Sig-Value the binding produces (P-384: 2 * (2 + 49) + 2 = 104). */
#define TMA_TLS_MAX_SIG_DER 104u

/**
 * @brief Private-key operation delegated to someone who holds the key.
 *
 * sign() signs @p hash (already truncated to the key size, 10..48 bytes) and
 * writes the signature in the chip's CalcSign format: DER INTEGER r followed by
 * DER INTEGER s, without the SEQUENCE header. Non-minimal integers (an extra
 * leading 0x00) are accepted; a complete DER SEQUENCE is accepted too.
 * It must write at most @p out_size bytes and set *out_len.
 * Returns TMA_OK or any negative tma_status (passed through to the caller).
 */
struct tma_tls_signer {
    void *ctx; /**< e.g. the chip context plus the key object id */
    tma_status (*sign)(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                       size_t out_size, size_t *out_len);
};

/**
 * @brief A delegated ECC key. Must stay at the same address while any
 * mbedtls_pk_context bound to it is in use. The embedded keypair holds only
 * the group and the public point; its private value is always zero.
 */
struct tma_tls_key {
    mbedtls_ecp_keypair ecp; /* first: mbedTLS treats an ECKEY context as an ecp_keypair */
    struct tma_tls_signer signer;
    size_t key_bytes;        /* 32 for P-256, 48 for P-384 */
    uint32_t sign_count;     /* signatures made through this key (observability) */
    tma_status last_signer_status;
};

/**
 * @brief Bind @p pk to a delegated key.
 *
 * @param key     caller-owned storage, initialised here; must outlive @p pk.
 * @param pk      an mbedtls_pk_context after mbedtls_pk_init(); afterwards
 *                its type is MBEDTLS_PK_ECKEY and signing calls @p signer.
 * @param group   MBEDTLS_ECP_DP_SECP256R1 or MBEDTLS_ECP_DP_SECP384R1.
 * @param pub     the public key: an uncompressed point (04 || X || Y), the
 *                chip's DER BIT STRING (03 len 00 04 ...), or a DER
 *                SubjectPublicKeyInfo.
 * @param signer  the private-key operation; copied.
 * @return TMA_OK; TMA_C_BAD_PARAM (NULL, pk already set up, unsupported
 *         curve); TMA_C_MALFORMED (public key does not parse or is not on the
 *         curve / not of @p group).
 * mbedtls_pk_free(pk) releases @p key too.
 */
tma_status tma_tls_key_bind(struct tma_tls_key *key, mbedtls_pk_context *pk,
                            mbedtls_ecp_group_id group, struct tma_span pub,
                            const struct tma_tls_signer *signer);

/**
 * @brief Check that @p crt carries the same public key as @p pk.
 * @return TMA_OK; TMA_ERR(TLS, TMA_TLS_E_KEY_MISMATCH) if it does not;
 *         TMA_C_BAD_PARAM for NULL arguments.
 */
tma_status tma_tls_key_matches_cert(const mbedtls_pk_context *pk, const mbedtls_x509_crt *crt);

/**
 * @brief Turn a chip signature (INTEGER r || INTEGER s, or a SEQUENCE of
 * them) into a minimal DER ECDSA-Sig-Value.
 *
 * @param in        signature from the signer.
 * @param key_bytes size of the curve order in bytes (32 or 48): r and s must
 *                  be in 1 .. 2^(8*key_bytes)-1.
 * @param out       output buffer; never written beyond @p out_size.
 * @param out_len   bytes written.
 * @return TMA_OK; TMA_C_BAD_PARAM; TMA_C_MALFORMED (not two positive DER
 *         integers of acceptable size, trailing bytes); TMA_C_TOO_SMALL.
 */
tma_status tma_tls_sig_to_der(struct tma_span in, size_t key_bytes, uint8_t *out,
                              size_t out_size, size_t *out_len);

/**
 * @brief Append certificates to @p chain from PEM (one or more CERTIFICATE
 * blocks; other blocks are ignored), DER (one or more concatenated), or the
 * chip's TLS-identity wrapper (0xC0 || len(2) || TLS Certificate body).
 * The buffer need not be NUL-terminated.
 * @param out_count certificates appended (optional).
 * @return TMA_OK; TMA_C_BAD_PARAM; TMA_C_MALFORMED (nothing usable or a
 *         block that does not parse; certificates before it stay appended).
 */
tma_status tma_tls_parse_certs(mbedtls_x509_crt *chain, struct tma_span in, size_t *out_count);

/**
 * @brief Random source (e.g. the chip's GetRandom). fill() writes exactly
 * @p len bytes, 8 <= len <= 64, and returns TMA_OK or a negative status.
 */
struct tma_tls_rng {
    void *ctx;
    tma_status (*fill)(void *ctx, uint8_t *out, size_t len);
};

/**
 * @brief Register @p rng as a strong source of @p entropy.
 * @p rng must outlive @p entropy.
 * @return TMA_OK; TMA_C_BAD_PARAM; TMA_C_FULL (mbedTLS has no room for
 *         another source).
 */
tma_status tma_tls_entropy_add(mbedtls_entropy_context *entropy, struct tma_tls_rng *rng);

/**
 * @brief mbedTLS entropy callback (mbedtls_entropy_f_source_ptr) reading
 * from a struct tma_tls_rng passed as @p data. Exposed for tests.
 */
int tma_tls_entropy_poll(void *data, unsigned char *output, size_t len, size_t *olen);

/** @brief Client set-up. Buffers are only read during tma_tls_client_init(). */
struct tma_tls_client_config {
    const char *host;           /**< server name: SNI and certificate check (required) */
    const char *port;           /**< TCP port as a string, e.g. "8883" (required
                                     unless lower is given) */
    const char *address;        /**< TCP address to connect to (optional; default
                                     host). The certificate is always checked
                                     against host, never against this. */
    struct tma_span ca;         /**< trust anchors: PEM (one or more) or one DER (required) */
    struct tma_span own_chain;  /**< client chain, PEM or DER; leaf first (optional) */
    mbedtls_pk_context *own_key; /**< key for own_chain (required with it) */
    struct tma_tls_rng *rng;    /**< extra entropy source (optional; the
                                     platform source is used as well) */
    uint32_t timeout_ms;        /**< receive timeout of tma_tls_client_recv(); 0 = 10000 */
    uint32_t handshake_timeout_ms; /**< longest wait for one handshake message
                                        (the server, the chip's signature), all
                                        reads of it together; also how long a
                                        send may make no progress (TCP of its
                                        own: SO_SNDTIMEO; lower: a send that
                                        keeps returning 0 in the handshake);
                                        0 = max(timeout_ms, 10000) */
    /** Optional: run TLS over this transport instead of a TCP connection of
     * its own (lwIP, a modem, a test pipe); port and address are then not
     * used. The caller connects it before tma_tls_client_connect() and closes
     * it after tma_tls_client_close(). Its recv should wait up to its own
     * short timeout and return 0 when nothing came; the client then measures
     * timeout_ms / handshake_timeout_ms of silence with @p clock. Both must
     * outlive the client. */
    const struct tma_transport *lower;
    const struct tma_clock *clock; /**< required with lower */
};

/** @brief A TLS client connection. Large; caller-owned; treat as opaque. */
struct tma_tls_client {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_context entropy;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own;
    mbedtls_net_context net;
    mbedtls_ssl_session saved;
    mbedtls_pk_context *own_key;
    const struct tma_transport *lower;
    const struct tma_clock *clock;
    char host[256];
    char address[256];
    char port[8];
    bool has_saved;
    uint8_t saved_cuts;       /* handshakes offering `saved` lost to the network in a row */
    bool connected;
    bool resumed;
    bool ssl_ready;
    uint32_t verify_flags;
    uint32_t timeout_ms;
    uint32_t handshake_timeout_ms;
    char error[256];
    /* handshake bound per message (all reads of one handshake state) */
    bool in_handshake;
    bool hs_armed;
    int hs_state;
    uint32_t hs_start;        /* clock's low 32 bits when the state began:
                               * elapsed = wrapping difference (any start value) */
};

/**
 * @brief Parse the certificates, seed the DRBG and set up the TLS config:
 * TLS 1.2 minimum, server verification required, hostname check on @p host.
 * When own_chain is given, its leaf must match own_key.
 * @return TMA_OK; TMA_C_BAD_PARAM; TMA_C_MALFORMED (a certificate does not
 *         parse); TMA_ERR(TLS, TMA_TLS_E_KEY_MISMATCH); TMA_C_CRYPTO (DRBG);
 *         TMA_ERR(TLS, TMA_C_UNSUPPORTED) when no lower transport is given
 *         and mbedTLS is built without MBEDTLS_NET_C (an MCU build:
 *         tests/qemu/tls_fw/mbedtls_config_m4.h).
 *         On error the context is released; nothing to deinit.
 */
tma_status tma_tls_client_init(struct tma_tls_client *c, const struct tma_tls_client_config *cfg);

/**
 * @brief Connect over TCP and run the handshake. Offers the session kept from
 * the previous connection, so a server that resumes it needs no signature.
 * The session is kept across a handshake the network cut (no alert: EOF,
 * reset, timeout), at most 4 in a row, and forgotten after any TLS failure.
 * Each handshake message is awaited at most handshake_timeout_ms
 * (TMA_ERR(TLS, TMA_C_TIMEOUT) after that).
 * @return TMA_OK; TMA_ERR(TLS, TMA_TLS_E_CONNECT); one of the verification
 *         codes (untrusted, hostname, expired, not yet valid, verify);
 *         TMA_ERR(TLS, TMA_TLS_E_PEER_ALERT) (the server sent an alert);
 *         TMA_ERR(TLS, TMA_C_CLOSED) (the connection ended during the
 *         handshake without an alert); TMA_ERR(TLS, TMA_TLS_E_SIGNER);
 *         TMA_ERR(TLS, TMA_TLS_E_HANDSHAKE); TMA_C_STATE if already connected.
 *         tma_tls_client_error() gives a one-line explanation.
 */
tma_status tma_tls_client_connect(struct tma_tls_client *c);

/** @brief Send (transport contract): >0 bytes, 0 try again, <0 status:
 * TMA_ERR(TLS, TMA_C_STATE) when not connected, TMA_ERR(TLS, TMA_C_CLOSED)
 * or TMA_ERR(TLS, TMA_C_IO) when the connection broke (also when the peer
 * took nothing for handshake_timeout_ms, over the client's own TCP). After any error call
 * tma_tls_client_close() before tma_tls_client_connect() again. */
int32_t tma_tls_client_send(void *c, const uint8_t *buf, size_t len);
/** @brief Receive (transport contract): >0 bytes, 0 nothing within the timeout,
 * <0 status (TMA_ERR(TLS, TMA_C_CLOSED) when the peer closed, TMA_C_STATE when
 * not connected, TMA_C_IO otherwise); same rule as send after an error. */
int32_t tma_tls_client_recv(void *c, uint8_t *buf, size_t len);

/** @brief Change the receive timeout of tma_tls_client_recv() (0 = 10000 ms);
 * the handshake keeps its own. */
void tma_tls_client_set_timeout(struct tma_tls_client *c, uint32_t timeout_ms);

/** @brief The transport view of @p c. */
struct tma_transport tma_tls_client_transport(struct tma_tls_client *c);

/** @brief Close notify and close the socket; the session is kept for
 * resumption (in the client, wiped at deinit); the connection's keys are wiped. */
void tma_tls_client_close(struct tma_tls_client *c);

/** @brief Close and release everything (the kept session is wiped). */
void tma_tls_client_deinit(struct tma_tls_client *c);

/** @brief True when the last handshake resumed a kept session. */
bool tma_tls_client_resumed(const struct tma_tls_client *c);

/** @brief One-line description of the last failure ("" if none). */
const char *tma_tls_client_error(const struct tma_tls_client *c);

#ifdef __cplusplus
}
#endif

#endif /* TMA_TLS_H */
