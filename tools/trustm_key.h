/* trustm CLI: helpers shared by trustm_cmd_key.c and trustm_cmd_flow.c. */
#ifndef TRUSTM_KEY_TOOL_H
#define TRUSTM_KEY_TOOL_H

#include "trustm.h"

#include "tma/tls_chip.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

struct curve {
    const char *name;
    uint8_t alg;
    mbedtls_ecp_group_id grp;
    size_t bytes;
};

struct rng {
    mbedtls_entropy_context e;
    mbedtls_ctr_drbg_context d;
};

struct chipkey {
    struct tma_tls_chip_signer signer;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
};

const struct curve *curve_by_name(const char *s);
int parse_usage(const char *s, uint8_t *out);
int rng_init(struct rng *r);
void rng_free(struct rng *r);
int chipkey_bind(struct chipkey *k, struct dev *d, uint16_t slot, const struct curve *cv,
                 const uint8_t *pt, size_t n);
int make_csr(struct chipkey *k, const char *subject, unsigned char *pem, size_t cap);
int obj_locked(struct dev *d, uint16_t oid, bool *locked);
int obj_change_ok(struct dev *d, uint16_t oid, bool *ok, char *words, size_t cap);
/* The same for the Execute condition (use of a key by CalcSign etc.). */
int obj_exec_ok(struct dev *d, uint16_t oid, bool *ok, char *words, size_t cap);
int build_certobj(bool der_only, const struct tma_span *certs, int n, uint8_t *out, size_t cap,
                  size_t *out_len);
int write_object(struct dev *d, uint16_t oid, const uint8_t *obj, size_t len, const char *what);
void thumbprints(const uint8_t *der, size_t n, char *sha1, char *sha256);
int do_keygen(struct dev *d, uint16_t slot, const struct curve *cv, uint8_t usage, uint8_t *pt,
              size_t *n);
int ta_prepare(const char *file, uint8_t **store, struct tma_span *cert);
int data_file(const char *name, char *path, size_t cap);
int print_pub_pem(struct outfile *out, mbedtls_ecp_group_id grp, const uint8_t *pt, size_t n);

#endif
