/* Test helper: a software stand-in for the chip's CalcSign. It emits the
 * chip's format (two DER INTEGERs, no SEQUENCE, each padded to the full
 * curve size with 0x00 in front when the top bit is set, so a leading zero
 * byte is not stripped), which exercises the binding's normalisation. */
#ifndef TLS_SOFT_SIGNER_H
#define TLS_SOFT_SIGNER_H

#include "tma/tls.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

struct soft_signer {
    mbedtls_pk_context priv;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    unsigned calls;
    int fail;                   /* nonzero: sign() returns an error */
    size_t last_hash_len;
    uint8_t pub[1 + 2 * 48];    /* uncompressed point */
    size_t pub_len;
    mbedtls_ecp_group_id group;
};

/* Loads a PEM/DER EC private key file. Returns 0 on success. */
int soft_signer_load(struct soft_signer *s, const char *key_path);
/* Same from a buffer (PEM must include its NUL). */
int soft_signer_load_buf(struct soft_signer *s, const unsigned char *buf, size_t len);
void soft_signer_free(struct soft_signer *s);
tma_status soft_signer_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                            size_t out_size, size_t *out_len);

#endif
