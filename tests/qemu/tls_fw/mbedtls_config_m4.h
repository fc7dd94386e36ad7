/*
 * mbedTLS 2.28 configuration of the bare-metal Cortex-M4 firmware
 * (tests/qemu/tls_fw, docs/qemu-m4.md "TLS on the target"): a TLS 1.2
 * client and nothing else.
 *
 *  - suites: ECDHE-ECDSA and ECDHE-RSA with AES-128-GCM and SHA-256. The
 *    client key is the chip's P-256 key (ECDSA); the server may present an
 *    ECDSA chain (openssl s_server here) or an RSA one (localhub, as IoT
 *    Hub does), so RSA *verification* (PKCS#1 v1.5) is in, RSA private
 *    operations are never used;
 *  - P-256 only; X.509 parse and verify; PK; no PEM (the chip's objects are
 *    DER), no file system, no sockets, no timing module, no platform entropy:
 *    entropy comes from the chip's GetRandom (tma_tls_entropy_add), the only
 *    source, registered as strong;
 *  - no heap of the C library: MBEDTLS_MEMORY_BUFFER_ALLOC_C on a static
 *    buffer of the firmware (mbedtls_memory_buffer_alloc_init), with
 *    MBEDTLS_MEMORY_DEBUG for the high-water mark;
 *  - no time (MBEDTLS_HAVE_TIME and MBEDTLS_HAVE_TIME_DATE off): mbedTLS then
 *    does NOT check certificate validity periods (an expired or not yet
 *    valid server certificate is accepted); see docs/qemu-m4.md.
 * mbedtls_exit and mbedtls_fprintf (used by the allocator only when its
 * headers are corrupted) go to the firmware's tls_fw_exit/tls_fw_fprintf:
 * the image has no OS services to link C's exit() or stderr output to.
 */
#ifndef TMA_MBEDTLS_CONFIG_M4_H
#define TMA_MBEDTLS_CONFIG_M4_H

#include <stdio.h>

/* system */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_PLATFORM_SNPRINTF_MACRO snprintf
#define MBEDTLS_PLATFORM_VSNPRINTF_MACRO vsnprintf
#define MBEDTLS_PLATFORM_EXIT_MACRO tls_fw_exit
#define MBEDTLS_PLATFORM_FPRINTF_MACRO tls_fw_fprintf
void tls_fw_exit(int code);
int tls_fw_fprintf(void *stream, const char *fmt, ...);
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_DEBUG
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 4
#define MBEDTLS_ERROR_STRERROR_DUMMY

/* big numbers and curves */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_MPI_MAX_SIZE 256 /* RSA-2048 server keys */
#define MBEDTLS_MPI_WINDOW_SIZE 2
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_WINDOW_SIZE 4
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15

/* symmetric, hashes, DRBG */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_ENTROPY_FORCE_SHA256
#define MBEDTLS_CTR_DRBG_C

/* ASN.1, keys, certificates */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_BASE64_C /* PEM input of src/tls/tls_certs.c */
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE

/* TLS 1.2 client */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_CIPHERSUITES                                                                   \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
/* Records: a server may send up to 16 KB of plaintext per record (IoT Hub
 * does not negotiate a smaller maximum fragment length), so the receive
 * buffer is the full 16 KB; the client's own records (MQTT packets) are cut
 * at 2 KB, which mbedtls_ssl_write reports as a partial write and the MQTT
 * client continues. docs/qemu-m4.md. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048

#include "mbedtls/check_config.h"

#endif
