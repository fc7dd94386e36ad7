/**
 * @file localhub_pki.h
 * @brief Certificate and SAS helpers shared by the localhub plugin and CLI
 *        (OpenSSL 3). All functions return 0 on success, -1 on failure
 *        unless stated otherwise.
 */
#ifndef LOCALHUB_PKI_H
#define LOCALHUB_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

/** Subject CN of @p cert into @p out (NUL-terminated). */
int localhub_cert_cn(X509 *cert, char *out, size_t outsz);

/** Upper-case hex SHA-1 (40) and SHA-256 (64) thumbprints of the DER form. */
int localhub_cert_thumbprints(X509 *cert, char sha1[41], char sha256[65]);

/** 1 if @p thumb (hex, any case) equals one of the certificate's thumbprints. */
int localhub_thumb_matches(X509 *cert, const char *thumb);

/** Load the first certificate of a PEM file / PEM string; NULL on failure. */
X509 *localhub_cert_load_file(const char *path);
X509 *localhub_cert_from_pem(const char *pem);

/** PEM text of @p cert into a malloc'd string (caller frees). */
char *localhub_cert_to_pem(X509 *cert);

/** 1 if @p cert is currently within its validity period. */
int localhub_cert_time_valid(X509 *cert);

/**
 * 1 if @p cert may authenticate a TLS client: a key usage extension, when
 * present, allows digitalSignature or keyAgreement, and an extended key usage
 * extension, when present, lists clientAuth (or anyExtendedKeyUsage)
 * (RFC 5280 4.2.1.3, 4.2.1.12; OpenSSL's ssl_client purpose). A certificate
 * without these extensions passes. 0 otherwise (also for NULL).
 */
int localhub_cert_client_usage_ok(X509 *cert);

/**
 * Verify @p leaf (with the peer-supplied @p untrusted intermediates, may be
 * NULL) against the trust anchors @p anchors_pem (count @p n). Partial chains
 * are allowed so an intermediate CA can be the anchor; validity periods are
 * checked. @return index of the anchor that verified, or -1.
 */
int localhub_verify_chain(X509 *leaf, STACK_OF(X509) *untrusted, const char *const *anchors_pem, int n);

/** Proof of possession: CN of @p verif equals @p code and the CA's key signed it. */
int localhub_verify_pop(X509 *ca, X509 *verif, const char *code);

/**
 * Check a SAS token: HMAC-SHA256(base64dec(@p key_b64), sr_encoded "\n" se)
 * compared in constant time with the URL-decoded, base64-decoded @p sig_enc.
 * @return 1 if the signature matches, else 0.
 */
int localhub_sas_sig_ok(const char *sr_encoded, int64_t se, const char *sig_enc, const char *key_b64);

/** Decoded length of the base64 key @p key_b64 (0..384), or -1 when it is
 *  not base64 (or longer than 384 bytes). */
int localhub_key_b64_len(const char *key_b64);

/** Base64(HMAC-SHA256(base64dec(@p key_b64), @p msg)) into @p out (>= 45). */
int localhub_hmac_b64(const char *key_b64, const char *msg, char *out, size_t outsz);

/** New random 32-byte key, base64 (44 chars + NUL). */
int localhub_random_key_b64(char out[45]);

/** Random lower-case hex string of 2*@p nbytes chars. */
int localhub_random_hex(char *out, size_t nbytes);

/** Validity of the root CA and of the server certificates localhub makes. */
#define LOCALHUB_ROOT_DAYS 3650
#define LOCALHUB_SERVER_DAYS 825
/** `localhub start` renews the server certificate this close to its end. */
#define LOCALHUB_SERVER_RENEW_DAYS 30
/** ... and warns this close to the root's end (it does not replace the root). */
#define LOCALHUB_ROOT_WARN_DAYS 365

/**
 * Make a self-signed root CA (RSA-2048, 10 years) and a server certificate
 * for localhost / 127.0.0.1 / ::1 signed by it; write PEM files.
 */
int localhub_make_server_pki(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                             const char *extra_dns);

/**
 * New server key and certificate (LOCALHUB_SERVER_DAYS, not past the root's
 * end) signed by the existing root @p ca_cert / @p ca_key, which stays as it
 * is (the devices' trust anchor). Each file is replaced by a rename.
 */
int localhub_renew_server_cert(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                               const char *extra_dns);

/** What localhub_server_cert_renew_due() found and did. */
struct localhub_renewal {
    int64_t left_s;      /**< seconds the certificate had left (negative: expired) */
    char old_end[32];    /**< its notAfter, ISO 8601 UTC */
    char new_end[32];    /**< the new certificate's notAfter (when renewed) */
    char old_serial[80]; /**< serial numbers, upper-case hex */
    char new_serial[80];
};

/**
 * Renew the server certificate @p srv_cert / @p srv_key from the root
 * @p ca_cert / @p ca_key (localhub_renew_server_cert()) when it ends within
 * LOCALHUB_SERVER_RENEW_DAYS or has ended, or always with @p force. One
 * rule for `localhub start` and for the running broker's daily check.
 * With @p ca_key NULL it only decides (a dry run that writes nothing):
 * 1 then means "due, and a renewal would be made", as the plugin's start
 * message needs.
 * @return 1 renewed, 0 not due, -1 a file unreadable or the renewal failed,
 *         -2 due but not issued by this root (someone's own certificate:
 *         left alone). @p out is filled as far as known.
 */
int localhub_server_cert_renew_due(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                                   int force, struct localhub_renewal *out);

/** Seconds from now to @p cert's notAfter (negative once expired);
 *  INT64_MIN for NULL or an unreadable date. */
int64_t localhub_cert_seconds_left(X509 *cert);

/** @p cert's notAfter as ISO 8601 UTC ("2029-03-03T08:26:25Z"). */
int localhub_cert_not_after(X509 *cert, char out[32]);

#endif
